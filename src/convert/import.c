/*
 * import.c — what the converter reads: a diffusers pipeline folder (model_index.json), a lone
 * ControlNetModel folder, or a single-file checkpoint (.safetensors / .ckpt, LDM/CompVis names
 * mapped by the models layer's tables). Each component is opened as a store under diffusers
 * names on demand, with its config.json (for a single file, one written from the configuration
 * the models layer derives from the tensors), plus the tokenizer folders, the scheduler and
 * feature-extractor configs and model_index.json as they are.
 */
#include "convert/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* diffusers' VAE scaling factors (vae.c uses the same for single files). */
static const float SD_SCALING = 0.18215f, SDXL_SCALING = 0.13025f;

/* The component folders a bundle carries weights for, in bundle order. */
static const char *const weight_components[] = {
    "text_encoder", "text_encoder_2", "unet", "vae", "safety_checker", "controlnet",
};
enum { N_WEIGHT_COMPONENTS = sizeof weight_components / sizeof weight_components[0] };
static_assert(N_WEIGHT_COMPONENTS <= SDC_IMPORT_MAX_COMPONENTS, "room for every component");

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(sdc_context *ctx, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = sdc_malloc(ctx, n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

void sdc_import_close(sdc_import *imp)
{
    if (!imp)
        return;
    sdc_context *ctx = imp->ctx;
    for (size_t i = 0; i < imp->n_components; i++) {
        sdc_model_config_close(&imp->components[i].config);
        sdc_free(ctx, imp->components[i].dir);
        sdc_free(ctx, imp->components[i].class_name);
    }
    for (int i = 0; i < 2; i++)
        sdc_free(ctx, imp->tokenizer_dirs[i]);
    sdc_model_config_close(&imp->scheduler);
    sdc_model_config_close(&imp->feature_extractor);
    sdc_model_config_close(&imp->model_index);
    sdc_weights_file_release(ctx, imp->file);
    sdc_free(ctx, imp->pipeline_class);
    sdc_free(ctx, imp->path);
    sdc_free(ctx, imp);
}

static sdc_import_component *add_component(sdc_import *imp, const char *name,
                                           const char *class_name)
{
    sdc_import_component *c = &imp->components[imp->n_components];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->class_name = sdc_strdup(imp->ctx, class_name);
    if (!c->class_name)
        return NULL;
    imp->n_components++;
    return c;
}

/* The family from the denoiser's configuration (the rules of sdc_unet_config_from_store). */
static const char *family_of(const sdc_unet_config *c, bool has_text_encoder)
{
    if (c->text_time)
        return has_text_encoder ? "sdxl" : "sdxl-refiner";
    return c->use_linear_projection ? "sd2" : "sd1";
}

const sdc_import_component *sdc_import_find(const sdc_import *imp, const char *name)
{
    for (size_t i = 0; i < imp->n_components; i++)
        if (strcmp(imp->components[i].name, name) == 0)
            return &imp->components[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Diffusers folders                                                                          */

static sdc_status open_config_in(sdc_import *imp, const char *dir, const char *file,
                                 sdc_model_config *out)
{
    char *path = join(imp->ctx, dir, file);
    if (!path)
        return sdc_fail_oom(imp->ctx, dir, strlen(dir) + strlen(file) + 2);
    sdc_status st = sdc_model_config_open(imp->ctx, path, out);
    sdc_free(imp->ctx, path);
    return st;
}

static sdc_status family_from_configs(sdc_import *imp)
{
    const sdc_import_component *unet = sdc_import_find(imp, "unet");
    const sdc_import_component *cn = sdc_import_find(imp, "controlnet");
    if (!unet && !cn)
        return sdc_fail(imp->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: neither a UNet nor a ControlNet: nothing sdc can generate with",
                        imp->path);
    sdc_unet_config uc;
    sdc_status st = sdc_unet_config_from_json(unet ? &unet->config : &cn->config, !unet, &uc);
    if (st == SDC_STATUS_OK)
        imp->family = family_of(&uc, sdc_import_find(imp, "text_encoder") != NULL || !unet);
    return st;
}

static sdc_status open_pipeline_folder(sdc_import *imp)
{
    sdc_context *ctx = imp->ctx;
    sdc_status st = open_config_in(imp, imp->path, "model_index.json", &imp->model_index);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_json *cls =
        sdc_json_get_type(imp->model_index.root, "_class_name", SDC_JSON_TYPE_STRING);
    if (!(imp->pipeline_class = sdc_strdup(ctx, cls ? cls->u.string.chars : "")))
        return sdc_fail_oom(ctx, imp->path, 64);
    for (size_t i = 0; i < N_WEIGHT_COMPONENTS; i++) {
        const char *name = weight_components[i];
        const sdc_json *v = sdc_json_get_type(imp->model_index.root, name, SDC_JSON_TYPE_ARRAY);
        if (!v || v->u.array.count != 2 || v->u.array.items[1]->type != SDC_JSON_TYPE_STRING)
            continue; /* absent, or [null, null] */
        sdc_import_component *c = add_component(imp, name, v->u.array.items[1]->u.string.chars);
        if (!c || !(c->dir = join(ctx, imp->path, name)))
            return sdc_fail_oom(ctx, imp->path, 256);
        if ((st = open_config_in(imp, c->dir, "config.json", &c->config)) != SDC_STATUS_OK)
            return st;
    }
    static const char *const tokenizers[2] = {"tokenizer", "tokenizer_2"};
    for (int i = 0; i < 2; i++) {
        char *dir = join(ctx, imp->path, tokenizers[i]);
        if (!dir)
            return sdc_fail_oom(ctx, imp->path, 256);
        if (sdc_json_get_type(imp->model_index.root, tokenizers[i], SDC_JSON_TYPE_ARRAY) &&
            is_dir(dir))
            imp->tokenizer_dirs[i] = dir;
        else
            sdc_free(ctx, dir);
    }
    char *p = join(ctx, imp->path, "scheduler/scheduler_config.json");
    if (p && is_file(p))
        st = sdc_model_config_open(ctx, p, &imp->scheduler);
    sdc_free(ctx, p);
    p = join(ctx, imp->path, "feature_extractor/preprocessor_config.json");
    if (st == SDC_STATUS_OK && p && is_file(p))
        st = sdc_model_config_open(ctx, p, &imp->feature_extractor);
    sdc_free(ctx, p);
    if (st != SDC_STATUS_OK)
        return st;
    return family_from_configs(imp);
}

/* A ControlNetModel saved on its own: config.json and its weights at the top. */
static sdc_status open_model_folder(sdc_import *imp)
{
    sdc_model_config cfg;
    sdc_status st = open_config_in(imp, imp->path, "config.json", &cfg);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_json *cls = sdc_json_get_type(cfg.root, "_class_name", SDC_JSON_TYPE_STRING);
    if (!cls || strcmp(cls->u.string.chars, "ControlNetModel") != 0) {
        st = sdc_fail(imp->ctx, SDC_STATUS_UNSUPPORTED,
                      "%s: a folder without model_index.json must hold a ControlNetModel "
                      "(config.json \"_class_name\" is %s)",
                      imp->path, cls ? cls->u.string.chars : "missing");
        sdc_model_config_close(&cfg);
        return st;
    }
    sdc_import_component *c = add_component(imp, "controlnet", "ControlNetModel");
    if (!c || !(c->dir = sdc_strdup(imp->ctx, imp->path)) ||
        !(imp->pipeline_class = sdc_strdup(imp->ctx, "ControlNetModel"))) {
        sdc_model_config_close(&cfg);
        return sdc_fail_oom(imp->ctx, imp->path, 64);
    }
    c->config = cfg;
    return family_from_configs(imp);
}

/* ---------------------------------------------------------------------------------------- */
/* Single-file checkpoints                                                                    */

static const struct {
    sdc_clip_ldm_layout layout;
    const char *component;
} clip_layouts[] = {
    {SDC_CLIP_LDM_LAYOUT_SD1, "text_encoder"},
    {SDC_CLIP_LDM_LAYOUT_SD2, "text_encoder"},
    {SDC_CLIP_LDM_LAYOUT_SDXL_L, "text_encoder"},
    {SDC_CLIP_LDM_LAYOUT_SDXL_G, "text_encoder_2"},
    {SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G, "text_encoder_2"},
};

/* Parses the JSON the writer produced into the component's config. */
static sdc_status set_config(sdc_import *imp, sdc_import_component *c, sdc_buf *b)
{
    char what[300];
    snprintf(what, sizeof what, "%s config derived from %s", c->name, imp->path);
    if (b->failed)
        return sdc_fail_oom(imp->ctx, what, b->len);
    return sdc_model_config_parse(imp->ctx, b->data, b->len, what, &c->config);
}

static sdc_status open_single_file(sdc_import *imp)
{
    sdc_context *ctx = imp->ctx;
    sdc_status st = sdc_weights_file_open(ctx, imp->path, &imp->file);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_buf b;
    sdc_json_writer w;
    sdc_store *store = NULL;
    sdc_unet_config uc;
    bool sdxl = false;
    if ((st = sdc_unet_ldm_store(ctx, imp->file, &store)) != SDC_STATUS_OK ||
        (st = sdc_unet_config_from_store(store, imp->file->st, &uc)) != SDC_STATUS_OK)
        goto done;
    sdc_store_destroy(store);
    store = NULL;
    for (size_t i = 0; i < sizeof clip_layouts / sizeof clip_layouts[0]; i++) {
        if (!sdc_clip_ldm_present(imp->file, clip_layouts[i].layout))
            continue;
        sdxl = sdxl || clip_layouts[i].layout == SDC_CLIP_LDM_LAYOUT_SDXL_L ||
               clip_layouts[i].layout == SDC_CLIP_LDM_LAYOUT_SDXL_G ||
               clip_layouts[i].layout == SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G;
        sdc_clip_text_config cc;
        if ((st = sdc_clip_ldm_store(ctx, imp->file, clip_layouts[i].layout, &store)) !=
                SDC_STATUS_OK ||
            (st = sdc_clip_text_config_from_store(
                 store, sdc_clip_ldm_hidden_act(clip_layouts[i].layout), &cc)) != SDC_STATUS_OK)
            goto done;
        sdc_store_destroy(store);
        store = NULL;
        sdc_import_component *c =
            add_component(imp, clip_layouts[i].component,
                          cc.projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel");
        if (!c) {
            st = sdc_fail_oom(ctx, imp->path, 64);
            goto done;
        }
        c->layout = clip_layouts[i].layout;
        sdc_buf_init(&b, ctx);
        sdc_json_writer_init(&w, &b, false);
        sdc_convert_clip_config_json(&cc, &w);
        st = set_config(imp, c, &b);
        sdc_buf_free(&b);
        if (st != SDC_STATUS_OK)
            goto done;
    }
    sdc_import_component *c = add_component(imp, "unet", "UNet2DConditionModel");
    if (!c) {
        st = sdc_fail_oom(ctx, imp->path, 64);
        goto done;
    }
    sdc_buf_init(&b, ctx);
    sdc_json_writer_init(&w, &b, false);
    st = sdc_convert_unet_config_json(ctx, &uc, &w);
    if (st == SDC_STATUS_OK)
        st = set_config(imp, c, &b);
    sdc_buf_free(&b);
    if (st != SDC_STATUS_OK)
        goto done;

    sdc_vae_config vc;
    if ((st = sdc_vae_ldm_store(ctx, imp->file, &store)) != SDC_STATUS_OK ||
        (st = sdc_vae_config_from_store(store, sdxl ? SDXL_SCALING : SD_SCALING, &vc)) !=
            SDC_STATUS_OK)
        goto done;
    if (!(c = add_component(imp, "vae", "AutoencoderKL"))) {
        st = sdc_fail_oom(ctx, imp->path, 64);
        goto done;
    }
    sdc_buf_init(&b, ctx);
    sdc_json_writer_init(&w, &b, false);
    sdc_convert_vae_config_json(&vc, &w);
    st = set_config(imp, c, &b);
    sdc_buf_free(&b);
    if (st != SDC_STATUS_OK)
        goto done;
    imp->family = family_of(&uc, sdc_import_find(imp, "text_encoder") != NULL);
    imp->pipeline_class =
        sdc_strdup(ctx, uc.text_time ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline");
    if (!imp->pipeline_class)
        st = sdc_fail_oom(ctx, imp->path, 32);
done:
    sdc_store_destroy(store);
    return st;
}

/* ---------------------------------------------------------------------------------------- */

sdc_status sdc_import_open(sdc_context *ctx, const char *path, sdc_import **out)
{
    *out = NULL;
    sdc_import *imp = sdc_calloc(ctx, 1, sizeof *imp);
    if (!imp)
        return sdc_fail_oom(ctx, path, sizeof *imp);
    imp->ctx = ctx;
    sdc_status st;
    if (!(imp->path = sdc_strdup(ctx, path))) {
        st = sdc_fail_oom(ctx, path, strlen(path) + 1);
        goto fail;
    }
    /* Trailing slashes would end up in the component paths. */
    for (size_t n = strlen(imp->path); n > 1 && imp->path[n - 1] == '/'; n--)
        imp->path[n - 1] = '\0';
    if (is_dir(path)) {
        char *index = join(ctx, imp->path, "model_index.json");
        if (!index) {
            st = sdc_fail_oom(ctx, path, strlen(path) + 32);
            goto fail;
        }
        bool pipeline = is_file(index);
        sdc_free(ctx, index);
        st = pipeline ? open_pipeline_folder(imp) : open_model_folder(imp);
    } else if (is_file(path)) {
        st = open_single_file(imp);
    } else {
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                      "%s: no such file or folder (a diffusers folder or a .safetensors / .ckpt "
                      "file is converted)",
                      path);
    }
    if (st != SDC_STATUS_OK)
        goto fail;
    *out = imp;
    return SDC_STATUS_OK;
fail:
    sdc_import_close(imp);
    return st;
}

sdc_status sdc_import_store(const sdc_import *imp, const sdc_import_component *c, sdc_store **out)
{
    if (!imp->file)
        return sdc_store_open_diffusers(imp->ctx, c->dir, out);
    if (strcmp(c->name, "unet") == 0)
        return sdc_unet_ldm_store(imp->ctx, imp->file, out);
    if (strcmp(c->name, "vae") == 0)
        return sdc_vae_ldm_store(imp->ctx, imp->file, out);
    return sdc_clip_ldm_store(imp->ctx, imp->file, c->layout, out);
}
