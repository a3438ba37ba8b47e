/*
 * Tests src/models/safety_checker.c (and, end to end, clip_image_processor.c) on sd1-tiny's
 * safety checker and feature extractor against tests/fixtures/model_outputs/
 * safety_checker_sd1.safetensors (tools/reference/gen_models.py: diffusers 0.30.2,
 * transformers 4.44.2, Pillow 10.4.0, float32): the preprocessed clip_input of the 4 uint8
 * images (2 flagged, one of them only through the special-care adjustment, and 2 clean) within
 * 1e-5 (exact in practice), image_embeds and both cosine tables within 1e-4 x max|ref|,
 * has_nsfw_concepts equal, and the blacked-out images equal to images_out. Then the decision
 * rule on chosen values, the configuration (vision_config_dict, defaults), load, input and
 * allocation errors, and the exact scratch size.
 */
#include "model_test.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE SDC_FIXTURES_DIR "/model_outputs/safety_checker_sd1.safetensors"
#define MODELS  SDC_BUILD_FIXTURES_DIR "/models/"
#define CHECKER MODELS "sd1-tiny/safety_checker"
#define FEATURE MODELS "sd1-tiny/feature_extractor"

static sdc_context *ctx;

/* ---------------------------------------------------------------------------------------- */
/* The fixture                                                                                */

typedef struct reference {
    int64_t n, height, width;
    uint8_t *images_u8;   /* [n, H, W, 3] */
    mt_array clip_input;  /* [n, 3, S, S] */
    mt_array embeds;      /* [n, P] */
    mt_array special_cos; /* [n, 3] */
    mt_array cos;         /* [n, 17] */
    mt_array images_out;  /* [n, 3, H, W]: images / 255 with the flagged ones zeroed */
    bool has_nsfw[8];
} reference;

static void reference_free(reference *r)
{
    free(r->images_u8);
    mt_array_free(&r->clip_input);
    mt_array_free(&r->embeds);
    mt_array_free(&r->special_cos);
    mt_array_free(&r->cos);
    mt_array_free(&r->images_out);
    memset(r, 0, sizeof *r);
}

static bool reference_read(reference *r)
{
    sdc_st_file *st = NULL;
    memset(r, 0, sizeof *r);
    if (sdc_st_open(ctx, FIXTURE, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return false;
    }
    const sdc_st_tensor *u8 = sdc_st_find(st, "images_u8");
    const sdc_st_tensor *flags = sdc_st_find(st, "has_nsfw_concepts");
    bool ok = u8 && u8->dtype == SDC_DTYPE_U8 && u8->ndim == 4 && u8->shape[3] == 3 && flags &&
              flags->dtype == SDC_DTYPE_BOOL && flags->ndim == 1 &&
              flags->shape[0] == u8->shape[0] && u8->shape[0] <= 8;
    CHECK_MSG(ok, "%s: images_u8 [n, H, W, 3] U8 and has_nsfw_concepts [n] BOOL", FIXTURE);
    if (ok) {
        r->n = u8->shape[0];
        r->height = u8->shape[1];
        r->width = u8->shape[2];
        r->images_u8 = malloc((size_t)sdc_st_nbytes(u8));
        ok = r->images_u8 != NULL;
    }
    if (ok) {
        memcpy(r->images_u8, u8->data, (size_t)sdc_st_nbytes(u8));
        for (int64_t i = 0; i < r->n; i++)
            r->has_nsfw[i] = ((const uint8_t *)flags->data)[i] != 0;
        ok = mt_st_array(ctx, st, "clip_input", &r->clip_input) &&
             mt_st_array(ctx, st, "image_embeds", &r->embeds) &&
             mt_st_array(ctx, st, "special_cos_dist", &r->special_cos) &&
             mt_st_array(ctx, st, "cos_dist", &r->cos) &&
             mt_st_array(ctx, st, "images_out", &r->images_out);
    }
    sdc_st_close(st);
    if (!ok)
        reference_free(r);
    return ok;
}

/* Image i of the fixture as an sdc_image (pixels from ctx). */
static sdc_image reference_image(const reference *r, int64_t i)
{
    size_t bytes = (size_t)(r->height * r->width * 3);
    sdc_image img = {.width = (int)r->width, .height = (int)r->height, .channels = 3};
    img.pixels = sdc_malloc(ctx, bytes);
    if (img.pixels)
        memcpy(img.pixels, r->images_u8 + (size_t)i * bytes, bytes);
    return img;
}

static sdc_safety_checker *open_checker(void)
{
    sdc_safety_checker *sc = NULL;
    sdc_status st = sdc_safety_checker_open_diffusers(ctx, CHECKER, &sc);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    return sc;
}

/* Runs the checker in a fixed arena of exactly its scratch size, with every other allocation
 * refused while it runs. */
static sdc_status run_exact(const sdc_safety_checker *sc, const sdc_tensor *clip_input,
                            const sdc_safety_outputs *out)
{
    size_t bytes = 0;
    sdc_status st = sdc_safety_checker_scratch_bytes(ctx, sc, clip_input, &bytes);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_arena scratch;
    if ((st = sdc_arena_init_fixed(&scratch, ctx, bytes)) != SDC_STATUS_OK)
        return st;
    sdc_alloc_stats before, after;
    sdc_alloc_get_stats(ctx, &before);
    sdc_alloc_set_limit(ctx, before.live_bytes);
    st = sdc_safety_checker_forward(ctx, sc, &scratch, clip_input, out);
    sdc_alloc_set_limit(ctx, 0);
    sdc_alloc_get_stats(ctx, &after);
    CHECK_EQ_INT(after.n_allocs, before.n_allocs);
    CHECK_EQ_INT(scratch.used, 0);
    CHECK(scratch.high_water == bytes);
    sdc_arena_release(&scratch);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Against diffusers                                                                          */

static void test_feature_extractor_matches_transformers(void)
{
    reference r;
    sdc_clip_image_config fe;
    if (!reference_read(&r))
        return;
    sdc_status st = sdc_clip_image_config_open(ctx, FEATURE, &fe);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    sdc_image images[8];
    for (int64_t i = 0; i < r.n; i++)
        images[i] = reference_image(&r, i);
    mt_array clip_input = mt_array_new(ctx, 4, r.clip_input.t.shape);
    st = sdc_clip_image_preprocess(ctx, &fe, images, r.n, &clip_input.t);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    double err = MT_CHECK_CLOSE("clip_input", &clip_input.t, &r.clip_input.t, 1e-5);
    CHECK_MSG(err == 0.0,
              "clip_input differs from transformers' by up to %g (Pillow-exact "
              "resampling should make it identical)",
              err);
    for (int64_t i = 0; i < r.n; i++)
        sdc_image_free(ctx, &images[i]);
    mt_array_free(&clip_input);
    reference_free(&r);
}

static void test_checker_matches_diffusers(void)
{
    reference r;
    sdc_safety_checker *sc = open_checker();
    if (!sc || !reference_read(&r)) {
        sdc_safety_checker_destroy(sc);
        return;
    }
    const sdc_safety_checker_config *c = sdc_safety_checker_get_config(sc);
    mt_array embeds = mt_array_new(ctx, 2, r.embeds.t.shape);
    mt_array special = mt_array_new(ctx, 2, r.special_cos.t.shape);
    mt_array cos = mt_array_new(ctx, 2, r.cos.t.shape);
    CHECK_EQ_INT(r.embeds.t.shape[1], c->projection_dim);
    CHECK_EQ_INT(r.special_cos.t.shape[1], c->n_special);
    CHECK_EQ_INT(r.cos.t.shape[1], c->n_concepts);
    bool flags[8] = {0};
    sdc_safety_outputs out = {.image_embeds = &embeds.t,
                              .special_cos_dist = &special.t,
                              .cos_dist = &cos.t,
                              .has_nsfw_concepts = flags};
    sdc_status st = run_exact(sc, &r.clip_input.t, &out);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    MT_CHECK_CLOSE_REL("image_embeds", &embeds.t, &r.embeds.t);
    MT_CHECK_CLOSE_REL("special_cos_dist", &special.t, &r.special_cos.t);
    MT_CHECK_CLOSE_REL("cos_dist", &cos.t, &r.cos.t);
    int n_flagged = 0;
    for (int64_t i = 0; i < r.n; i++) {
        CHECK_MSG(flags[i] == r.has_nsfw[i], "image %lld: has_nsfw_concept %d, expected %d",
                  (long long)i, flags[i], r.has_nsfw[i]);
        n_flagged += r.has_nsfw[i];
    }
    CHECK_EQ_INT(n_flagged, 2);

    /* Batch rows are independent: each image alone gives the same. */
    for (int64_t i = 0; i < r.n; i++) {
        sdc_tensor one = sdc_tensor_slice(&r.clip_input.t, 0, i, i + 1);
        int64_t shape[2] = {1, c->projection_dim};
        mt_array e1 = mt_array_new(ctx, 2, shape);
        bool flag = !r.has_nsfw[i];
        sdc_safety_outputs o1 = {.image_embeds = &e1.t, .has_nsfw_concepts = &flag};
        CHECK(run_exact(sc, &one, &o1) == SDC_STATUS_OK);
        CHECK(flag == r.has_nsfw[i]);
        sdc_tensor row = sdc_tensor_slice(&embeds.t, 0, i, i + 1);
        CHECK(mt_max_abs_diff(e1.data, row.data, c->projection_dim) <= 1e-6);
        mt_array_free(&e1);
    }
    mt_array_free(&embeds);
    mt_array_free(&special);
    mt_array_free(&cos);
    reference_free(&r);
    sdc_safety_checker_destroy(sc);
}

/* What the pipeline calls: preprocess, check, black out. */
static void test_check_images_blacks_out_the_flagged(void)
{
    reference r;
    sdc_clip_image_config fe;
    sdc_safety_checker *sc = open_checker();
    if (!sc || !reference_read(&r)) {
        sdc_safety_checker_destroy(sc);
        return;
    }
    CHECK(sdc_clip_image_config_open(ctx, FEATURE, &fe) == SDC_STATUS_OK);
    sdc_image images[8];
    bool flags[8] = {0};
    for (int64_t i = 0; i < r.n; i++)
        images[i] = reference_image(&r, i);
    sdc_status st = sdc_safety_checker_check_images(ctx, sc, &fe, images, r.n, flags);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    int64_t H = r.height, W = r.width;
    for (int64_t i = 0; i < r.n; i++) {
        CHECK(flags[i] == r.has_nsfw[i]);
        int64_t bad = 0;
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                for (int64_t ch = 0; ch < 3; ch++) {
                    float ref = r.images_out.data[((i * 3 + ch) * H + y) * W + x];
                    uint8_t got = images[i].pixels[(y * W + x) * 3 + ch];
                    bad += got != (uint8_t)lrintf(ref * 255.0f);
                }
        CHECK_MSG(bad == 0, "image %lld: %lld values differ from images_out", (long long)i,
                  (long long)bad);
        sdc_image_free(ctx, &images[i]);
    }
    reference_free(&r);
    sdc_safety_checker_destroy(sc);
}

/* ---------------------------------------------------------------------------------------- */
/* The decision rule                                                                          */

static void test_decision_rule(void)
{
    const float w_special[2] = {0.3f, 0.3f}, w_concept[2] = {0.3f, 0.3f};
    /* No special care: a concept 0.005 below its threshold is clean ... */
    float sp[2] = {0.2f, 0.2f}, co[2] = {0.295f, 0.1f};
    CHECK(!sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    /* ... but flagged once a special-care concept fires (+0.01). */
    sp[1] = 0.31f;
    CHECK(sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    /* The adjustment is added to the special-care scores after the one that fired: the second
     * fires through it and changes nothing more. */
    sp[0] = 0.31f;
    sp[1] = 0.295f;
    CHECK(sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    /* Scores round to 3 decimals as numpy does: 0.0004 is 0 and not > 0, 0.0006 is 0.001. */
    sp[0] = sp[1] = 0.2f;
    co[0] = 0.3004f;
    CHECK(!sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    co[0] = 0.3006f;
    CHECK(sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    /* A special-care score that rounds to 0 adds nothing. */
    co[0] = 0.295f;
    sp[0] = 0.3004f;
    CHECK(!sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    sp[0] = 0.3006f;
    CHECK(sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
    /* Exactly at the threshold: 0 is not > 0. */
    co[0] = 0.3f;
    sp[0] = 0.2f;
    CHECK(!sdc_safety_checker_decide(sp, w_special, 2, co, w_concept, 2));
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    CHECK(sdc_file_write_all(ctx, path, text, strlen(text)) == SDC_STATUS_OK);
    return path;
}

static sdc_status config_of(const char *text, sdc_safety_checker_config *c)
{
    sdc_model_config json;
    sdc_status st = sdc_model_config_open(ctx, write_tmp("safety_config.json", text), &json);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_safety_checker_config_from_json(&json, c);
    sdc_model_config_close(&json);
    return st;
}

static void test_config(void)
{
    sdc_safety_checker *sc = open_checker();
    if (sc) {
        const sdc_safety_checker_config *c = sdc_safety_checker_get_config(sc);
        CHECK_EQ_INT(c->image_size, 32);
        CHECK_EQ_INT(c->patch_size, 8);
        CHECK_EQ_INT(c->num_channels, 3);
        CHECK_EQ_INT(c->hidden_size, 64);
        CHECK_EQ_INT(c->intermediate_size, 256);
        CHECK_EQ_INT(c->n_layers, 2);
        CHECK_EQ_INT(c->n_heads, 4);
        CHECK_EQ_INT(c->hidden_act, SDC_UNARY_OP_QUICK_GELU);
        CHECK(c->layer_norm_eps == 1e-5f);
        CHECK_EQ_INT(c->projection_dim, 32);
        CHECK_EQ_INT(c->n_concepts, 17);
        CHECK_EQ_INT(c->n_special, 3);
        sdc_safety_checker_destroy(sc);
    }

    /* CLIPConfig defaults: ViT-B/32 at 224, projection 512. */
    sdc_safety_checker_config c;
    CHECK(config_of("{\"model_type\": \"clip\"}", &c) == SDC_STATUS_OK);
    CHECK(c.image_size == 224 && c.patch_size == 32 && c.hidden_size == 768 &&
          c.intermediate_size == 3072 && c.n_layers == 12 && c.n_heads == 12 &&
          c.projection_dim == 512 && c.hidden_act == SDC_UNARY_OP_QUICK_GELU);

    /* The SD 1.x checker's file: vision_config_dict (completed with the defaults) replaces
     * vision_config wholesale, as transformers' CLIPConfig does. */
    static const char sd1_like[] =
        "{\"model_type\": \"clip\", \"projection_dim\": 768,"
        " \"vision_config\": {\"hidden_size\": 1024, \"image_size\": 224, \"patch_size\": 14,"
        "   \"num_hidden_layers\": 24, \"num_attention_heads\": 16, \"intermediate_size\": 4096,"
        "   \"hidden_act\": \"quick_gelu\", \"model_type\": \"clip_vision_model\"},"
        " \"vision_config_dict\": {\"hidden_size\": 1024, \"intermediate_size\": 4096,"
        "   \"num_attention_heads\": 16, \"num_hidden_layers\": 24, \"patch_size\": 14}}";
    CHECK(config_of(sd1_like, &c) == SDC_STATUS_OK);
    CHECK(c.image_size == 224 && c.patch_size == 14 && c.hidden_size == 1024 &&
          c.intermediate_size == 4096 && c.n_layers == 24 && c.n_heads == 16 &&
          c.projection_dim == 768);
    CHECK(config_of("{\"vision_config\": {\"image_size\": 336, \"patch_size\": 14},"
                    " \"vision_config_dict\": {\"patch_size\": 16}}",
                    &c) == SDC_STATUS_OK);
    CHECK(c.image_size == 224 && c.patch_size == 16);

    MT_CHECK_ERROR(ctx, config_of("{\"model_type\": \"clip_text_model\"}", &c),
                   SDC_STATUS_UNSUPPORTED, "\"model_type\" is \"clip_text_model\"", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"vision_config\": {\"hidden_act\": \"relu\"}}", &c),
                   SDC_STATUS_UNSUPPORTED, "\"hidden_act\" \"relu\"", "\"vision_config\"");
    MT_CHECK_ERROR(ctx, config_of("{\"vision_config\": [1]}", &c), SDC_STATUS_FORMAT,
                   "\"vision_config\" is of type array", NULL);
    MT_CHECK_ERROR(ctx,
                   config_of("{\"vision_config\": {\"hidden_size\": 66, "
                             "\"num_attention_heads\": 4}}",
                             &c),
                   SDC_STATUS_FORMAT, "not a multiple of num_attention_heads 4", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"vision_config\": {\"patch_size\": 300}}", &c),
                   SDC_STATUS_FORMAT, "patch_size 300 is outside [1, 224]", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"vision_config\": {\"image_size\": \"224\"}}", &c),
                   SDC_STATUS_FORMAT, "\"image_size\" is of type string", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"vision_config\": {\"num_channels\": 4}}", &c),
                   SDC_STATUS_FORMAT, "num_channels 4", NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Load errors                                                                                */

/* A copy of sd1-tiny's safety_checker folder with config.json edited (from -> to) and the
 * weights modified as mt_write_modified does. */
static const char *make_component(const char *name, const char *from, const char *to,
                                  const char *drop, const char *reshape, int new_ndim,
                                  const int64_t *new_shape, const char *add)
{
    static char dir[512];
    char path[600];
    char *text = NULL;
    size_t len = 0;
    snprintf(dir, sizeof dir, "%s", test_tmp_path(name));
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    if (sdc_file_read_all(ctx, CHECKER "/config.json", &text, &len) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return NULL;
    }
    char *edited = malloc(len + (to ? strlen(to) : 0) + 1);
    const char *at = from ? strstr(text, from) : NULL;
    CHECK(edited && (!from || at));
    if (edited && at) {
        size_t head = (size_t)(at - text);
        memcpy(edited, text, head);
        snprintf(edited + head, len + strlen(to) + 1 - head, "%s%s", to, at + strlen(from));
    } else if (edited) {
        memcpy(edited, text, len + 1);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    bool ok = edited && sdc_file_write_all(ctx, path, edited, strlen(edited)) == SDC_STATUS_OK;
    free(edited);
    sdc_free(ctx, text);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ok = ok && mt_write_modified(ctx, CHECKER "/model.safetensors", path, drop, reshape, new_ndim,
                                 new_shape, add);
    return ok ? dir : NULL;
}

static void remove_component(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
}

static sdc_status open_folder(const char *dir)
{
    sdc_safety_checker *sc = NULL;
    sdc_status st = sdc_safety_checker_open_diffusers(ctx, dir, &sc);
    CHECK((st == SDC_STATUS_OK) == (sc != NULL));
    sdc_safety_checker_destroy(sc);
    return st;
}

static void test_load_errors(void)
{
    const char *dir;
    if ((dir = make_component("sc_missing", NULL, NULL, "concept_embeds_weights", NULL, 0, NULL,
                              NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_NOT_FOUND, "'concept_embeds_weights'",
                       NULL);
        remove_component(dir);
    }
    int64_t wrong[2] = {16, 34};
    if ((dir = make_component("sc_shape", NULL, NULL, NULL, "concept_embeds", 2, wrong, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_SHAPE,
                       "'concept_embeds' has shape [16, 34]", "expected [17, 32]");
        remove_component(dir);
    }
    if ((dir = make_component("sc_extra", NULL, NULL, NULL, NULL, 0, NULL, "text_projection"))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_FORMAT, "'text_projection'", NULL);
        remove_component(dir);
    }
    /* The position_ids buffer of older files is ignored. */
    if ((dir = make_component("sc_ids", NULL, NULL, NULL, NULL, 0, NULL,
                              "vision_model.vision_model.embeddings.position_ids"))) {
        CHECK_MSG(open_folder(dir) == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
        remove_component(dir);
    }
    /* A config that does not fit the weights. */
    if ((dir = make_component("sc_patch", "\"patch_size\": 8", "\"patch_size\": 16", NULL, NULL, 0,
                              NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_SHAPE,
                       "'vision_model.vision_model.embeddings.patch_embedding.weight'",
                       "expected [64, 3, 16, 16]");
        remove_component(dir);
    }
    if ((dir = make_component("sc_layers", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1",
                              NULL, NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_FORMAT, "no place for",
                       "vision_model.vision_model.encoder.layers.1.");
        remove_component(dir);
    }
    if ((dir = make_component("sc_proj", "\"projection_dim\": 32", "\"projection_dim\": 48", NULL,
                              NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_SHAPE,
                       "'visual_projection.weight' has shape [32, 64]", "expected [48, 64]");
        remove_component(dir);
    }
    MT_CHECK_ERROR(ctx, open_folder(FEATURE), SDC_STATUS_IO, "config.json", NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Inputs, scratch and allocation                                                             */

static void test_input_errors(void)
{
    sdc_safety_checker *sc = open_checker();
    if (!sc)
        return;
    bool flags[2];
    sdc_safety_outputs out = {.has_nsfw_concepts = flags};
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 1 << 20);

    mt_array small = mt_array4(ctx, 2, 3, 24, 32);
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, &scratch, &small.t, &out),
                   SDC_STATUS_SHAPE, "clip_input [2, 3, 24, 32]", "expected [B >= 1, 3, 32, 32]");
    mt_array_free(&small);
    mt_array gray = mt_array4(ctx, 2, 1, 32, 32);
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, &scratch, &gray.t, &out),
                   SDC_STATUS_SHAPE, "clip_input", NULL);
    mt_array_free(&gray);

    /* Any size giving the same 4 x 4 grid of patches is accepted, as torch's conv accepts it. */
    mt_array odd = mt_array4(ctx, 2, 3, 39, 33);
    CHECK_MSG(sdc_safety_checker_forward(ctx, sc, &scratch, &odd.t, &out) == SDC_STATUS_OK, "%s",
              sdc_context_errmsg(ctx));
    mt_array_free(&odd);

    mt_array x = mt_array4(ctx, 2, 3, 32, 32);
    sdc_safety_outputs no_flags = {0};
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, &scratch, &x.t, &no_flags),
                   SDC_STATUS_INVALID_ARGUMENT, "has_nsfw_concepts", NULL);
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, NULL, &x.t, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "no scratch arena", NULL);
    int64_t wrong[2] = {2, 31};
    mt_array embeds = mt_array_new(ctx, 2, wrong);
    sdc_safety_outputs bad = {.image_embeds = &embeds.t, .has_nsfw_concepts = flags};
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, &scratch, &x.t, &bad), SDC_STATUS_SHAPE,
                   "image_embeds", NULL);
    mt_array_free(&embeds);

    /* A fixed arena one byte short of the scratch size fails cleanly. */
    size_t bytes = 0;
    CHECK(sdc_safety_checker_scratch_bytes(ctx, sc, &x.t, &bytes) == SDC_STATUS_OK);
    sdc_arena tight;
    CHECK(sdc_arena_init_fixed(&tight, ctx, bytes - SDC_ALIGN) == SDC_STATUS_OK);
    MT_CHECK_ERROR(ctx, sdc_safety_checker_forward(ctx, sc, &tight, &x.t, &out),
                   SDC_STATUS_OUT_OF_MEMORY, NULL, NULL);
    sdc_arena_release(&tight);

    /* check_images: images the feature extractor cannot take. */
    sdc_clip_image_config fe;
    sdc_clip_image_config_default(&fe);
    fe.do_convert_rgb = false;
    uint8_t px[4 * 4 * 4];
    memset(px, 7, sizeof px);
    sdc_image rgba = {.width = 4, .height = 4, .channels = 4, .pixels = px};
    MT_CHECK_ERROR(ctx, sdc_safety_checker_check_images(ctx, sc, &fe, &rgba, 1, flags),
                   SDC_STATUS_INVALID_ARGUMENT, "4 channels", NULL);
    MT_CHECK_ERROR(ctx, sdc_safety_checker_check_images(ctx, sc, &fe, NULL, 1, flags),
                   SDC_STATUS_INVALID_ARGUMENT, "no images", NULL);
    /* The processor's 224 x 224 output does not fit this checker's 32 x 32 input. */
    fe.do_convert_rgb = true;
    MT_CHECK_ERROR(ctx, sdc_safety_checker_check_images(ctx, sc, &fe, &rgba, 1, flags),
                   SDC_STATUS_SHAPE, "clip_input [1, 3, 224, 224]", NULL);
    CHECK(px[0] == 7 && px[sizeof px - 1] == 7);

    mt_array_free(&x);
    sdc_arena_release(&scratch);
    sdc_safety_checker_destroy(sc);
}

static sdc_status open_any(sdc_context *c, const char *path, void **out)
{
    return sdc_safety_checker_open_diffusers(c, path, (sdc_safety_checker **)out);
}

static void close_any(void *obj)
{
    sdc_safety_checker_destroy(obj);
}

static void test_allocation_failures(void)
{
    MT_CHECK_FAULT_INJECTION(ctx, CHECKER, open_any, close_any);

    reference r;
    sdc_clip_image_config fe;
    sdc_safety_checker *sc = open_checker();
    if (!sc || !reference_read(&r)) {
        sdc_safety_checker_destroy(sc);
        return;
    }
    CHECK(sdc_clip_image_config_open(ctx, FEATURE, &fe) == SDC_STATUS_OK);
    sdc_alloc_stats base, now;
    sdc_alloc_get_stats(ctx, &base);
    bool done = false;
    for (uint64_t n = 1; n < 1000 && !done; n++) {
        sdc_image images[8];
        bool flags[8] = {0};
        for (int64_t i = 0; i < r.n; i++)
            images[i] = reference_image(&r, i);
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_safety_checker_check_images(ctx, sc, &fe, images, r.n, flags);
        sdc_alloc_fail_nth(ctx, 0);
        if (st == SDC_STATUS_OK) {
            done = true;
            for (int64_t i = 0; i < r.n; i++)
                CHECK(flags[i] == r.has_nsfw[i]);
        } else {
            CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "allocation %llu: %s", (unsigned long long)n,
                      sdc_context_errmsg(ctx));
            /* Nothing is blacked out when the check fails. */
            for (int64_t i = 0; i < r.n; i++)
                CHECK(memcmp(images[i].pixels, r.images_u8 + i * r.height * r.width * 3,
                             (size_t)(r.height * r.width * 3)) == 0);
            sdc_clear_error(ctx);
        }
        for (int64_t i = 0; i < r.n; i++)
            sdc_image_free(ctx, &images[i]);
        sdc_alloc_get_stats(ctx, &now);
        CHECK_EQ_INT(now.live_bytes, base.live_bytes);
    }
    CHECK(done);
    reference_free(&r);
    sdc_safety_checker_destroy(sc);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_feature_extractor_matches_transformers);
    RUN(test_checker_matches_diffusers);
    RUN(test_check_images_blacks_out_the_flagged);
    RUN(test_decision_rule);
    RUN(test_config);
    RUN(test_load_errors);
    RUN(test_input_errors);
    RUN(test_allocation_failures);
    sdc_context_destroy(ctx);
    return test_finish();
}
