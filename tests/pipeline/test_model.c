/*
 * sdc_model_open (src/pipeline/model.c): what it says about the tiny diffusers folders and
 * single files (family from the weights, inpainting, prediction type and its override,
 * default scheduler and size, safety checker), and the one-line errors for what is wrong with
 * a model: missing or unreadable paths, folders that are not pipelines, truncated checkpoints,
 * a missing tensor, a wrong shape, a missing component, mixed families; SDXL base and refiner
 * (folders and single files) and ControlNet folders: family, time ids, components.
 */
#include "models/model_test.h"
#include "pipeline_test.h"

#include <sys/stat.h>
#include <unistd.h>

static sdc_context *ctx;

/* A failed open: the status, a message of one line containing `want`, no model. */
static void check_open_fails(const char *path, const sdc_model_params *mp, sdc_status status,
                             const char *want)
{
    sdc_model *m = (sdc_model *)1;
    sdc_status st = sdc_model_open(ctx, path, mp, &m);
    const char *msg = sdc_context_errmsg(ctx);
    CHECK_MSG(st == status, "%s: status %s, expected %s (%s)", path, sdc_status_string(st),
              sdc_status_string(status), msg);
    CHECK(m == NULL);
    CHECK_CONTAINS(msg, want);
    CHECK_MSG(strchr(msg, '\n') == NULL, "message of more than one line: %s", msg);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "  %s\n", msg);
}

static void check_info(const char *path, const sdc_model_params *mp, const char *family,
                       int inpainting, const char *prediction, const char *scheduler, int size,
                       int safety, const char *name)
{
    sdc_model *m = NULL;
    sdc_status st = sdc_model_open(ctx, path, mp, &m);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    if (!m)
        return;
    sdc_model_info info;
    sdc_model_get_info(m, &info);
    CHECK_EQ_STR(info.family, family);
    CHECK_EQ_INT(info.inpainting, inpainting);
    CHECK_EQ_STR(info.prediction_type, prediction);
    CHECK_EQ_STR(info.default_scheduler, scheduler);
    CHECK_EQ_INT(info.default_width, size);
    CHECK_EQ_INT(info.default_height, size);
    CHECK_EQ_INT(info.has_safety_checker, safety);
    CHECK_EQ_STR(info.name, name);
    sdc_model_close(m);
}

static void test_info(void)
{
    /* Folders: sample_size 8 of the tiny UNets -> 64 pixels. */
    check_info(PT_MODELS "sd1-tiny", NULL, "sd1", 0, "epsilon", "pndm", 64, 1, "sd1-tiny");
    check_info(PT_MODELS "sd1-tiny/", NULL, "sd1", 0, "epsilon", "pndm", 64, 1, "sd1-tiny");
    check_info(PT_MODELS "sd2-tiny", NULL, "sd2", 0, "v_prediction", "ddim", 64, 0, "sd2-tiny");
    check_info(PT_MODELS "sd1-inpaint-tiny", NULL, "sd1", 1, "epsilon", "pndm", 64, 0,
               "sd1-inpaint-tiny");
    /* Single files: SD 1.5's PNDM at 512, SD 2.1's v-prediction DDIM at 768. */
    check_info(PT_MODELS "sd1-tiny.safetensors", NULL, "sd1", 0, "epsilon", "pndm", 512, 0,
               "sd1-tiny");
    check_info(PT_MODELS "sd1-tiny.ckpt", NULL, "sd1", 0, "epsilon", "pndm", 512, 0, "sd1-tiny");
    check_info(PT_MODELS "sd2-tiny.safetensors", NULL, "sd2", 0, "v_prediction", "ddim", 768, 0,
               "sd2-tiny");
    sdc_model_params mp = sdc_model_default_params();
    mp.prediction_type = "epsilon";
    check_info(PT_MODELS "sd2-tiny.ckpt", &mp, "sd2", 0, "epsilon", "ddim", 512, 0, "sd2-tiny");
    mp.reduce_memory = 1;
    mp.prediction_type = "v_prediction";
    check_info(PT_MODELS "sd1-tiny", &mp, "sd1", 0, "v_prediction", "pndm", 64, 1, "sd1-tiny");
    /* SDXL: the folders' sample_size 8; single files SDXL's 1024 and its Euler */
    check_info(PT_MODELS "sdxl-tiny", NULL, "sdxl", 0, "epsilon", "euler", 64, 0, "sdxl-tiny");
    check_info(PT_MODELS "sdxl-tiny.safetensors", NULL, "sdxl", 0, "epsilon", "euler", 1024, 0,
               "sdxl-tiny");
    check_info(PT_MODELS "sdxl-tiny.ckpt", NULL, "sdxl", 0, "epsilon", "euler", 1024, 0,
               "sdxl-tiny");
    check_info(PT_MODELS "sdxl-refiner-tiny", NULL, "sdxl-refiner", 0, "epsilon", "euler", 64, 0,
               "sdxl-refiner-tiny");
    mp = sdc_model_default_params();
    mp.reduce_memory = 1;
    check_info(PT_MODELS "sdxl-tiny", &mp, "sdxl", 0, "epsilon", "euler", 64, 0, "sdxl-tiny");
}

/* Components in order, with their classes and parameter counts; SDXL's time ids. */
static void check_components(const char *path, const char *family, int controlnet, int time_ids,
                             int force_zeros, const char *const *names, const char *const *classes,
                             size_t n)
{
    sdc_model *m = NULL;
    sdc_model_params mp = sdc_model_default_params();
    mp.reduce_memory = 1;
    CHECK_MSG(sdc_model_open(ctx, path, &mp, &m) == SDC_STATUS_OK, "%s: %s", path,
              sdc_context_errmsg(ctx));
    if (!m)
        return;
    sdc_model_info info;
    sdc_model_get_info(m, &info);
    CHECK_EQ_STR(info.family, family);
    CHECK_EQ_INT(info.controlnet, controlnet);
    CHECK_EQ_INT(info.time_ids, time_ids);
    CHECK_EQ_INT(info.force_zeros_for_empty_prompt, force_zeros);
    CHECK_EQ_INT(sdc_model_component_count(m), n);
    for (size_t i = 0; i < n && i < sdc_model_component_count(m); i++) {
        sdc_model_component_info c;
        CHECK(sdc_model_component(m, i, &c) == SDC_STATUS_OK);
        CHECK_EQ_STR(c.name, names[i]);
        CHECK_EQ_STR(c.class_name, classes[i]);
        CHECK(c.parameters > 0 && c.bytes >= c.parameters * 2 && c.summary && c.summary[0]);
        CHECK(c.dtype && c.dtype[0]);
    }
    sdc_model_component_info c;
    CHECK(sdc_model_component(m, n, &c) == SDC_STATUS_INVALID_ARGUMENT);
    sdc_model_close(m);
}

static void test_sdxl_and_controlnet_info(void)
{
    static const char *const base[] = {"text_encoder", "text_encoder_2", "unet", "vae"};
    static const char *const base_cls[] = {"CLIPTextModel", "CLIPTextModelWithProjection",
                                           "UNet2DConditionModel", "AutoencoderKL"};
    check_components(PT_MODELS "sdxl-tiny", "sdxl", 0, 6, 1, base, base_cls, 4);
    check_components(PT_MODELS "sdxl-tiny.safetensors", "sdxl", 0, 6, 1, base, base_cls, 4);
    check_components(PT_MODELS "sdxl-tiny.ckpt", "sdxl", 0, 6, 1, base, base_cls, 4);
    check_components(PT_MODELS "sdxl-refiner-tiny", "sdxl-refiner", 0, 5, 0, base + 1, base_cls + 1,
                     3);
    static const char *const sd1[] = {"text_encoder", "unet", "vae", "safety_checker"};
    static const char *const sd1_cls[] = {"CLIPTextModel", "UNet2DConditionModel", "AutoencoderKL",
                                          "StableDiffusionSafetyChecker"};
    check_components(PT_MODELS "sd1-tiny", "sd1", 0, 0, 0, sd1, sd1_cls, 4);
    static const char *const cn[] = {"controlnet"};
    static const char *const cn_cls[] = {"ControlNetModel"};
    check_components(PT_MODELS "controlnet-sd1-tiny", "sd1", 1, 0, 0, cn, cn_cls, 1);
    check_components(PT_MODELS "controlnet-sdxl-tiny", "sdxl", 1, 0, 0, cn, cn_cls, 1);
}

/* A single-file SDXL refiner laid out as Stability AI's sd_xl_refiner_1.0.safetensors: the
 * OpenCLIP bigG tower alone, as conditioner.embedders.0.model, and a UNet whose added embedding
 * takes the pooled output and 5 time ids and whose cross-attention reads the bigG width only.
 * Made from sdxl-tiny.safetensors: its second tower renamed, the first dropped, add_embedding's
 * input cut to the pooled 128 + 5 x 16 columns, the cross-attention keys and values to the
 * bigG's 128 columns. */
static bool write_single_file_refiner(const char *path)
{
    static const char bigg[] = "conditioner.embedders.1.", clip_l[] = "conditioner.embedders.0.";
    sdc_st_file *f = NULL;
    CHECK(sdc_st_open(ctx, PT_MODELS "sdxl-tiny.safetensors", &f) == SDC_STATUS_OK);
    if (!f)
        return false;
    sdc_st_entry *e = calloc(f->n_tensors, sizeof *e);
    char **names = calloc(f->n_tensors, sizeof *names);
    uint16_t **cut = calloc(f->n_tensors, sizeof *cut);
    size_t n = 0;
    bool ok = e && names && cut;
    for (size_t i = 0; ok && i < f->n_tensors; i++) {
        const sdc_st_tensor *t = &f->tensors[i];
        if (strncmp(t->name, clip_l, strlen(clip_l)) == 0)
            continue;
        e[n] = (sdc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        if (strncmp(t->name, bigg, strlen(bigg)) == 0) {
            names[n] = malloc(strlen(t->name) + 1);
            ok = names[n] != NULL;
            if (ok) {
                strcpy(names[n], t->name);
                names[n][strlen(clip_l) - 2] = '0'; /* embedders.1. -> embedders.0. */
                e[n].name = names[n];
            }
        }
        /* [rows, cols] F16 weights keeping columns [first, first + keep) */
        int64_t first = 0, keep = 0;
        if (strstr(t->name, "label_emb.0.0.weight")) {
            keep = 128 + 5 * 16;
        } else if (strstr(t->name, "attn2.to_k.weight") || strstr(t->name, "attn2.to_v.weight")) {
            first = 64;
            keep = 128;
        }
        if (ok && keep) {
            ok = t->dtype == SDC_DTYPE_F16 && t->ndim == 2 && t->shape[1] >= first + keep;
            int64_t rows = t->shape[0], cols = t->shape[1];
            cut[n] = ok ? malloc((size_t)(rows * keep) * sizeof(uint16_t)) : NULL;
            ok = ok && cut[n];
            for (int64_t r = 0; ok && r < rows; r++)
                memcpy(cut[n] + r * keep, (const uint16_t *)t->data + r * cols + first,
                       (size_t)keep * sizeof(uint16_t));
            e[n].shape[1] = keep;
            e[n].data = cut[n];
        }
        n++;
    }
    ok = ok && sdc_st_write(ctx, path, e, n, NULL, 0) == SDC_STATUS_OK;
    CHECK_MSG(ok, "writing %s: %s", path, sdc_context_errmsg(ctx));
    for (size_t i = 0; names && cut && i < f->n_tensors; i++) {
        free(names[i]);
        free(cut[i]);
    }
    free(names);
    free(cut);
    free(e);
    sdc_st_close(f);
    return ok;
}

/* The single-file refiner is told apart from a base by its weights: family sdxl-refiner with
 * 5 time ids and 3 components; as the model it needs an image; it refines the base's latents
 * and works alone on an image; as the base of a refiner it is refused. */
static void test_single_file_refiner(void)
{
    const char *path = test_tmp_path("sdxl-refiner-tiny.safetensors");
    if (!write_single_file_refiner(path))
        return;
    static const char *const comps[] = {"text_encoder_2", "unet", "vae"};
    static const char *const classes[] = {"CLIPTextModelWithProjection", "UNet2DConditionModel",
                                          "AutoencoderKL"};
    check_components(path, "sdxl-refiner", 0, 5, 0, comps, classes, 3);
    char name[256];
    snprintf(name, sizeof name, "%s", strrchr(path, '/') + 1);
    *strrchr(name, '.') = '\0';
    check_info(path, NULL, "sdxl-refiner", 0, "epsilon", "euler", 1024, 0, name);

    sdc_model *base = NULL, *refiner = NULL;
    sdc_generation *g_base = NULL, *g_ref = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sdxl-tiny", NULL, &base) == SDC_STATUS_OK);
    CHECK_MSG(sdc_model_open(ctx, path, NULL, &refiner) == SDC_STATUS_OK, "%s",
              sdc_context_errmsg(ctx));
    CHECK(base && sdc_generation_create(ctx, base, &g_base) == SDC_STATUS_OK);
    CHECK(refiner && sdc_generation_create(ctx, refiner, &g_ref) == SDC_STATUS_OK);
    sdc_image image = {0};
    CHECK(pt_load_image(ctx, "tests/data/images/astronaut_96x64.png", &image));
    if (g_base && g_ref && image.pixels) {
        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = "a house";
        p.steps = 3;
        p.width = p.height = 64;
        CHECK(sdc_generation_run(g_ref, &p) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_generation_errmsg(g_ref), "is an SDXL refiner: it refines an image");
        p.refiner = refiner;
        p.refiner_start = 0.5f;
        CHECK_MSG(sdc_generation_run(g_base, &p) == SDC_STATUS_OK, "base + refiner: %s",
                  sdc_generation_errmsg(g_base));
        CHECK(sdc_generation_image_count(g_base) == 1);
        p.init_image = &image;
        p.strength = 0.5f;
        p.width = p.height = 0;
        p.refiner = base;
        CHECK(sdc_generation_run(g_ref, &p) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_generation_errmsg(g_ref), "cannot be the base model of a refiner");
        p.refiner = NULL;
        CHECK_MSG(sdc_generation_run(g_ref, &p) == SDC_STATUS_OK, "refiner alone: %s",
                  sdc_generation_errmsg(g_ref));
        const sdc_image *im = sdc_generation_image(g_ref, 0);
        CHECK(im && im->width == 96 && im->height == 64);
        /* converted into a bundle (f16, as stored): the same family and the same image */
        const char *bundle = test_tmp_path("sdxl-refiner-tiny.sdc");
        sdc_model *converted = NULL;
        sdc_generation *g_conv = NULL;
        CHECK_MSG(sdc_convert(ctx, path, bundle, NULL, NULL) == SDC_STATUS_OK, "convert: %s",
                  sdc_context_errmsg(ctx));
        CHECK(sdc_model_open(ctx, bundle, NULL, &converted) == SDC_STATUS_OK);
        sdc_model_info info;
        if (converted) {
            sdc_model_get_info(converted, &info);
            CHECK_EQ_STR(info.family, "sdxl-refiner");
            CHECK_EQ_INT(info.time_ids, 5);
        }
        CHECK(converted && sdc_generation_create(ctx, converted, &g_conv) == SDC_STATUS_OK);
        CHECK(g_conv && sdc_generation_run(g_conv, &p) == SDC_STATUS_OK);
        const sdc_image *again = g_conv ? sdc_generation_image(g_conv, 0) : NULL;
        CHECK(im && again && memcmp(im->pixels, again->pixels, 96 * 64 * 3) == 0);
        sdc_generation_destroy(g_conv);
        sdc_model_close(converted);
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bundle);
        CHECK(system(cmd) == 0);
    }
    sdc_image_release(ctx, &image);
    sdc_generation_destroy(g_base);
    sdc_generation_destroy(g_ref);
    sdc_model_close(base);
    sdc_model_close(refiner);
    remove(path);
}

/* A VAE from elsewhere: the refiner's VAE folder, and the single file's VAE tensors in a file
 * of their own under LDM names without the prefix: same weights, same image. */
static void test_vae_override(void)
{
    const char *lone = test_tmp_path("sdxl-vae.safetensors");
    sdc_st_file *f = NULL;
    CHECK(sdc_st_open(ctx, PT_MODELS "sdxl-tiny.safetensors", &f) == SDC_STATUS_OK);
    sdc_st_entry *e = f ? calloc(f->n_tensors, sizeof *e) : NULL;
    size_t n = 0;
    for (size_t i = 0; e && i < f->n_tensors; i++) {
        const sdc_st_tensor *t = &f->tensors[i];
        if (strncmp(t->name, "first_stage_model.", 18) != 0)
            continue;
        e[n] = (sdc_st_entry){
            .name = t->name + 18, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        n++;
    }
    CHECK(e && n > 0 && sdc_st_write(ctx, lone, e, n, NULL, 0) == SDC_STATUS_OK);
    free(e);
    sdc_st_close(f);
    const char *vaes[3] = {NULL, lone, PT_MODELS "sdxl-tiny/vae"};
    uint8_t first[64 * 64 * 3];
    for (int i = 0; i < 3; i++) {
        sdc_model_params mp = sdc_model_default_params();
        mp.vae = vaes[i];
        sdc_model *m = NULL;
        sdc_generation *g = NULL;
        CHECK_MSG(sdc_model_open(ctx, PT_MODELS "sdxl-tiny.safetensors", &mp, &m) == SDC_STATUS_OK,
                  "vae %s: %s", vaes[i] ? vaes[i] : "own", sdc_context_errmsg(ctx));
        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = "a house";
        p.steps = 2;
        p.width = p.height = 64;
        CHECK(m && sdc_generation_create(ctx, m, &g) == SDC_STATUS_OK);
        CHECK(g && sdc_generation_run(g, &p) == SDC_STATUS_OK);
        const sdc_image *im = g ? sdc_generation_image(g, 0) : NULL;
        if (im && i == 0)
            memcpy(first, im->pixels, sizeof first);
        if (im && i > 0)
            CHECK_MSG(memcmp(first, im->pixels, sizeof first) == 0, "vae %s: another image",
                      vaes[i]);
        sdc_generation_destroy(g);
        sdc_model_close(m);
    }
    sdc_model_params mp = sdc_model_default_params();
    mp.vae = SDC_TEST_DATA_DIR "/ckpt/sample.safetensors";
    check_open_fails(PT_MODELS "sdxl-tiny", &mp, SDC_STATUS_FORMAT, "not a VAE");
    mp.vae = PT_MODELS "no-such-vae";
    check_open_fails(PT_MODELS "sdxl-tiny", &mp, SDC_STATUS_IO, "no-such-vae");
    remove(lone);
}

/* The prediction override reaches the scheduler: epsilon on the v-prediction SD 2.x model
 * changes the image. */
static void test_prediction_override_used(void)
{
    sdc_model_params mp = sdc_model_default_params();
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a house";
    p.steps = 2;
    p.width = p.height = 64;
    uint8_t first[64 * 64 * 3];
    for (int i = 0; i < 2; i++) {
        mp.prediction_type = i ? "epsilon" : NULL;
        sdc_model *m = NULL;
        sdc_generation *g = NULL;
        CHECK(sdc_model_open(ctx, PT_MODELS "sd2-tiny", &mp, &m) == SDC_STATUS_OK);
        CHECK(m && sdc_generation_create(ctx, m, &g) == SDC_STATUS_OK);
        CHECK(g && sdc_generation_run(g, &p) == SDC_STATUS_OK);
        const sdc_image *im = g ? sdc_generation_image(g, 0) : NULL;
        if (im && i == 0)
            memcpy(first, im->pixels, sizeof first);
        if (im && i == 1)
            CHECK_MSG(memcmp(first, im->pixels, sizeof first) != 0,
                      "prediction_type \"epsilon\" made no difference");
        sdc_generation_destroy(g);
        sdc_model_close(m);
    }
}

static bool copy_prefix(const char *src, const char *dst, double fraction)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    bool ok = in && out;
    if (ok) {
        fseek(in, 0, SEEK_END);
        long size = ftell(in);
        fseek(in, 0, SEEK_SET);
        long keep = (long)((double)size * fraction);
        char buf[65536];
        while (ok && keep > 0) {
            size_t n = fread(buf, 1, keep < (long)sizeof buf ? (size_t)keep : sizeof buf, in);
            ok = n > 0 && fwrite(buf, 1, n, out) == n;
            keep -= (long)n;
        }
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    CHECK_MSG(ok, "copying %s", src);
    return ok;
}

static void test_bad_paths(void)
{
    check_open_fails(PT_MODELS "no-such-model", NULL, SDC_STATUS_IO, "no-such-model");
    check_open_fails(PT_MODELS "sd1-tiny/unet", NULL, SDC_STATUS_NOT_FOUND, "model_index.json");
    check_open_fails(SDC_TEST_DATA_DIR "/clip/LICENSE", NULL, SDC_STATUS_FORMAT, "LICENSE");
    sdc_model_params mp = sdc_model_default_params();
    mp.prediction_type = "sample";
    check_open_fails(PT_MODELS "sd1-tiny", &mp, SDC_STATUS_INVALID_ARGUMENT, "\"sample\"");
}

static void test_truncated(void)
{
    static const char *const names[] = {"sd1-tiny.safetensors", "sd1-tiny.ckpt"};
    for (int i = 0; i < 2; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s%s", PT_MODELS, names[i]);
        snprintf(dst, sizeof dst, "%s", test_tmp_path(names[i]));
        if (copy_prefix(src, dst, 0.6)) {
            sdc_model *m = (sdc_model *)1;
            sdc_status st = sdc_model_open(ctx, dst, NULL, &m);
            const char *msg = sdc_context_errmsg(ctx);
            CHECK_MSG(st == SDC_STATUS_FORMAT || st == SDC_STATUS_IO, "%s: %s", dst, msg);
            CHECK(m == NULL);
            CHECK_CONTAINS(msg, dst);
            CHECK(strchr(msg, '\n') == NULL);
            if (getenv("SDC_TEST_VERBOSE"))
                fprintf(stderr, "  %s\n", msg);
        }
        remove(dst);
    }
}

static void test_missing_tensor_and_wrong_shape(void)
{
    const char *src = PT_MODELS "sd1-tiny.safetensors";
    const char *dst = test_tmp_path("modified.safetensors");
    if (mt_write_modified(ctx, src, dst, "model.diffusion_model.out.0.weight", NULL, 0, NULL, NULL))
        check_open_fails(dst, NULL, SDC_STATUS_NOT_FOUND, "norm_out");
    int64_t shape[1] = {32};
    if (mt_write_modified(ctx, src, dst, NULL,
                          "cond_stage_model.transformer.text_model.final_layer_norm.weight", 1,
                          shape, NULL))
        check_open_fails(dst, NULL, SDC_STATUS_SHAPE, "final_layer_norm.weight");
    remove(dst);
}

/* A copy of sd1-tiny as symbolic links, without `skip`. */
static const char *link_folder(const char *name, const char *skip)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp_path(name));
    mkdir(dir, 0755);
    static const char *const parts[] = {
        "model_index.json", "scheduler",        "text_encoder", "tokenizer", "unet", "vae",
        "safety_checker",   "feature_extractor"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (skip && strcmp(parts[i], skip) == 0)
            continue;
        char target[512], link[1024];
        snprintf(target, sizeof target, "%ssd1-tiny/%s", PT_MODELS, parts[i]);
        snprintf(link, sizeof link, "%s/%s", dir, parts[i]);
        unlink(link);
        CHECK(symlink(target, link) == 0);
    }
    return dir;
}

static void remove_folder(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    char *out = NULL;
    test_capture(cmd, &out);
    free(out);
}

static void test_missing_component(void)
{
    const char *dir = link_folder("no-unet", "unet");
    check_open_fails(dir, NULL, SDC_STATUS_NOT_FOUND, "unet");
    sdc_model_params mp = sdc_model_default_params();
    mp.reduce_memory = 1;
    check_open_fails(dir, &mp, SDC_STATUS_NOT_FOUND, "unet");
    remove_folder(dir);
    dir = link_folder("no-tokenizer", "tokenizer");
    check_open_fails(dir, NULL, SDC_STATUS_NOT_FOUND, "tokenizer");
    remove_folder(dir);
}

/* A single file with SD 2.x's text encoder and SD 1.x's UNet and VAE. */
static void test_mixed_families(void)
{
    sdc_st_file *a = NULL, *b = NULL;
    CHECK(sdc_st_open(ctx, PT_MODELS "sd1-tiny.safetensors", &a) == SDC_STATUS_OK);
    CHECK(sdc_st_open(ctx, PT_MODELS "sd2-tiny.safetensors", &b) == SDC_STATUS_OK);
    if (!a || !b) {
        sdc_st_close(a);
        sdc_st_close(b);
        return;
    }
    sdc_st_entry *e = calloc(a->n_tensors + b->n_tensors, sizeof *e);
    size_t n = 0;
    for (int f = 0; e && f < 2; f++) {
        const sdc_st_file *src = f ? b : a;
        for (size_t i = 0; i < src->n_tensors; i++) {
            const sdc_st_tensor *t = &src->tensors[i];
            bool text = strncmp(t->name, "cond_stage_model.", 17) == 0;
            if (text != (f == 1))
                continue;
            e[n] = (sdc_st_entry){
                .name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
            memcpy(e[n].shape, t->shape, sizeof e[n].shape);
            n++;
        }
    }
    const char *dst = test_tmp_path("mixed.safetensors");
    CHECK(e && sdc_st_write(ctx, dst, e, n, NULL, 0) == SDC_STATUS_OK);
    free(e);
    sdc_st_close(a);
    sdc_st_close(b);
    check_open_fails(dst, NULL, SDC_STATUS_FORMAT, "mixes two model families");
    remove(dst);
}

static void test_scheduler_list(void)
{
    const char *name = NULL, *cls = NULL, *desc = NULL;
    size_t n = sdc_scheduler_list(0, &name, &cls, &desc);
    CHECK(n >= 10);
    CHECK_EQ_STR(name, "euler_a");
    CHECK(cls && desc);
    CHECK_EQ_INT(sdc_scheduler_list(n, NULL, NULL, NULL), n);
    bool has_pndm = false;
    for (size_t i = 0; i < n; i++) {
        sdc_scheduler_list(i, &name, NULL, NULL);
        has_pndm = has_pndm || strcmp(name, "pndm") == 0;
    }
    CHECK(has_pndm);
}

int main(void)
{
    ctx = pt_context();
    RUN(test_info);
    RUN(test_sdxl_and_controlnet_info);
    RUN(test_single_file_refiner);
    RUN(test_vae_override);
    RUN(test_prediction_override_used);
    RUN(test_bad_paths);
    RUN(test_truncated);
    RUN(test_missing_tensor_and_wrong_shape);
    RUN(test_missing_component);
    RUN(test_mixed_families);
    RUN(test_scheduler_list);
    sdc_context_destroy(ctx);
    return test_finish();
}
