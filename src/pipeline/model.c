/*
 * model.c — sdc_model_open: a diffusers folder (model_index.json says which components exist),
 * a single-file LDM checkpoint (.safetensors / .ckpt, components found by their name
 * prefixes: SD 1.x/2.x cond_stage_model.*, SDXL conditioner.embedders.*), or a diffusers
 * ControlNetModel folder, with the family decided from the weights in one place (family_of:
 * SD 1.x, SD 2.x, SDXL base, SDXL refiner), the components' consistency checked, a VAE
 * replacing the model's own, and --reduce-memory's per-phase loading. Single files get the
 * built-in CLIP vocabulary and the scheduler SD 1.5 / SD 2.1 / SDXL ship with.
 */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const family_names[] = {
    [SDC_FAMILY_SD1] = "sd1",
    [SDC_FAMILY_SD2] = "sd2",
    [SDC_FAMILY_SDXL] = "sdxl",
    [SDC_FAMILY_SDXL_REFINER] = "sdxl-refiner",
};
static_assert(sizeof family_names / sizeof family_names[0] == SDC_FAMILY_COUNT,
              "one name per family");

static const char *const component_names[] = {
    [SDC_COMPONENT_TEXT_ENCODER] = "text_encoder",
    [SDC_COMPONENT_TEXT_ENCODER_2] = "text_encoder_2",
    [SDC_COMPONENT_UNET] = "unet",
    [SDC_COMPONENT_VAE] = "vae",
    [SDC_COMPONENT_SAFETY_CHECKER] = "safety_checker",
    [SDC_COMPONENT_CONTROLNET] = "controlnet",
};
static_assert(sizeof component_names / sizeof component_names[0] == SDC_COMPONENT_COUNT,
              "one name per component");

const char *sdc_family_name(sdc_family family)
{
    return (unsigned)family < SDC_FAMILY_COUNT ? family_names[family] : "?";
}

const char *sdc_component_name(sdc_component component)
{
    return (unsigned)component < SDC_COMPONENT_COUNT ? component_names[component] : "?";
}

/* The scheduler_config.json of runwayml/stable-diffusion-v1-5 (PNDM, PLMS steps) and of
 * stabilityai/stable-diffusion-2-1 (DDIM, v-prediction): what a single file that cannot say
 * gets. */
static const char SD1_SCHEDULER_JSON[] =
    "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
    "\"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, "
    "\"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, \"skip_prk_steps\": true, "
    "\"steps_offset\": 1, \"trained_betas\": null}";
static const char SD2_SCHEDULER_JSON[] =
    "{\"_class_name\": \"DDIMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
    "\"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, "
    "\"num_train_timesteps\": 1000, \"prediction_type\": \"v_prediction\", "
    "\"set_alpha_to_one\": false, \"skip_prk_steps\": true, \"steps_offset\": 1, "
    "\"trained_betas\": null}";
/* stabilityai/stable-diffusion-xl-base-1.0's (and the refiner's) scheduler_config.json. */
static const char SDXL_SCHEDULER_JSON[] =
    "{\"_class_name\": \"EulerDiscreteScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
    "\"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, "
    "\"interpolation_type\": \"linear\", \"num_train_timesteps\": 1000, \"prediction_type\": "
    "\"epsilon\", \"sample_max_value\": 1.0, \"set_alpha_to_one\": false, \"skip_prk_steps\": "
    "true, \"steps_offset\": 1, \"timestep_spacing\": \"leading\", \"trained_betas\": null, "
    "\"use_karras_sigmas\": false}";
/* SDXL's VAE scaling factor, for a VAE file without a configuration (sdc_model_params.vae). */
#define SDXL_SCALING_FACTOR 0.13025f
#define SD_SCALING_FACTOR   0.18215f
/* SDXL's UNet sample_size: 1024-pixel images. */
#define SDXL_SAMPLE_SIZE 128

/* SD latents are 1/8 of the image on each side; the VAE must agree. */
#define VAE_SCALE 8
/* diffusers' UNet2DConditionModel default sample_size when config.json has none. */
#define DEFAULT_SAMPLE_SIZE 64

sdc_model_params sdc_model_default_params(void)
{
    return (sdc_model_params){.prediction_type = NULL, .reduce_memory = 0, .vae = NULL};
}

/* "<a>/<b>" from ctx; NULL when out of memory. */
static char *join(sdc_context *ctx, const char *a, const char *b)
{
    size_t len = strlen(a) + strlen(b) + 2;
    char *s = sdc_malloc(ctx, len);
    if (s)
        snprintf(s, len, "%s/%s", a, b);
    return s;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The display name: the last path component without a trailing slash or the extension. */
static char *model_name(sdc_context *ctx, const char *path, bool strip_extension)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t begin = end;
    while (begin > 0 && path[begin - 1] != '/')
        begin--;
    size_t stop = end;
    if (strip_extension)
        for (size_t i = end; i > begin + 1; i--)
            if (path[i - 1] == '.') {
                stop = i - 1;
                break;
            }
    return sdc_strndup(ctx, path + begin, stop - begin);
}

/* ---------------------------------------------------------------------------------------- */
/* The family, from the weights                                                               */

/* The one place a model's family is decided: from its UNet's (or ControlNet's) configuration
 * (itself derived from the tensors for single files) and the text encoders present. The
 * text_time embedding makes it SDXL: with both text encoders the base, with only the second
 * (OpenCLIP bigG) the refiner; the pooled width of the second encoder and the embedding's input
 * width give the number of time ids, 6 for the base and 5 (the aesthetic score) for the
 * refiner. Else SD 2.x's linear attention projections, else SD 1.x. */
static sdc_status family_of(sdc_context *ctx, sdc_model *m)
{
    const sdc_unet_config *u = m->is_controlnet ? &m->controlnet_config.unet : &m->unet_config;
    if (!u->text_time) {
        if (m->has_text_encoder_2 && !m->is_controlnet)
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s: the model has SDXL's second text encoder (text_encoder_2) but "
                            "its UNet has no text_time embedding: the components belong to "
                            "different models",
                            m->path);
        m->family = u->use_linear_projection ? SDC_FAMILY_SD2 : SDC_FAMILY_SD1;
        return SDC_STATUS_OK;
    }
    if (m->is_controlnet) {
        m->family = SDC_FAMILY_SDXL;
        return SDC_STATUS_OK;
    }
    if (!m->has_text_encoder_2)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: an SDXL UNet (text_time embedding) needs SDXL's second text encoder "
                        "(OpenCLIP bigG, text_encoder_2), which the model lacks",
                        m->path);
    int64_t pooled = m->text_config_2.projection_dim;
    int64_t rest = u->projection_class_embeddings_input_dim - pooled;
    int64_t per_id = u->addition_time_embed_dim;
    if (pooled <= 0 || per_id <= 0 || rest <= 0 || rest % per_id != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: the UNet's added embedding takes %lld values, which is not the "
                        "second text encoder's pooled %lld plus whole time ids of %lld",
                        m->path, (long long)u->projection_class_embeddings_input_dim,
                        (long long)pooled, (long long)per_id);
    m->n_time_ids = (int)(rest / per_id);
    int want = m->has_text_encoder ? 6 : 5;
    if (m->n_time_ids != want)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: %s, but its UNet takes %d time ids (expected %d: %s)", m->path,
                        m->has_text_encoder ? "an SDXL base model (two text encoders)"
                                            : "an SDXL refiner (one text encoder)",
                        m->n_time_ids, want,
                        m->has_text_encoder ? "original size, crop, target size"
                                            : "original size, crop, aesthetic score");
    m->family = m->has_text_encoder ? SDC_FAMILY_SDXL : SDC_FAMILY_SDXL_REFINER;
    return SDC_STATUS_OK;
}

/* The components fit together: the text width is the UNet's context width, the UNet reads
 * and writes the VAE's latents (9 inputs: latents, mask, masked-image latents). */
static sdc_status check_components(sdc_context *ctx, sdc_model *m)
{
    if (m->is_controlnet)
        return SDC_STATUS_OK;
    const sdc_unet_config *u = &m->unet_config;
    const sdc_vae_config *v = &m->vae_config;
    /* SDXL's text is both encoders' hidden states side by side */
    int64_t text = (m->has_text_encoder ? m->text_config.hidden_size : 0) +
                   (m->has_text_encoder_2 ? m->text_config_2.hidden_size : 0);
    if (text != u->cross_attention_dim)
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: the text encoder%s %lld wide but the UNet's cross-attention "
                        "expects %lld: the components belong to different models",
                        m->path,
                        m->has_text_encoder && m->has_text_encoder_2 ? "s are together" : " is",
                        (long long)text, (long long)u->cross_attention_dim);
    if (v->n_levels < 1 || (1 << (v->n_levels - 1)) != VAE_SCALE)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: the VAE has %d levels (a scale of %d); sdc expects Stable "
                        "Diffusion's 1/%d latents (4 levels)",
                        m->path, v->n_levels, 1 << (v->n_levels > 0 ? v->n_levels - 1 : 0),
                        VAE_SCALE);
    int64_t lc = v->latent_channels;
    if (u->out_channels != lc || (u->in_channels != lc && u->in_channels != 2 * lc + 1))
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: the UNet takes %lld and gives %lld channels, but the VAE's latents "
                        "have %lld: expected %lld in (%lld for inpainting) and %lld out",
                        m->path, (long long)u->in_channels, (long long)u->out_channels,
                        (long long)lc, (long long)lc, (long long)(2 * lc + 1), (long long)lc);
    m->inpainting = u->in_channels == 2 * lc + 1;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading components                                                                         */

/* The text encoders of a single file, from the tensors present: SD 1.x or SD 2.x's one, or
 * SDXL's conditioner.embedders.0 (CLIP ViT-L) and .1 (OpenCLIP bigG; the refiner has only
 * this one, as its embedders.0). */
typedef struct text_layouts {
    bool has[2];
    sdc_clip_ldm_layout layout[2];
} text_layouts;

static sdc_status single_file_text_layouts(sdc_context *ctx, const char *path,
                                           const sdc_weights_file *wf, text_layouts *out)
{
    memset(out, 0, sizeof *out);
    bool l = sdc_clip_ldm_present(wf, SDC_CLIP_LDM_LAYOUT_SDXL_L);
    bool g = sdc_clip_ldm_present(wf, SDC_CLIP_LDM_LAYOUT_SDXL_G);
    if (!l && !g && sdc_clip_ldm_present(wf, SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G)) {
        *out = (text_layouts){
            .has = {false, true},
            .layout = {SDC_CLIP_LDM_LAYOUT_SDXL_L, SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G}};
        return SDC_STATUS_OK;
    }
    if (l || g) {
        if (!g)
            return sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                            "%s: an SDXL checkpoint without its OpenCLIP bigG text encoder: "
                            "expected %stoken_embedding",
                            path, sdc_clip_ldm_prefix(SDC_CLIP_LDM_LAYOUT_SDXL_G));
        *out = (text_layouts){.has = {l, true},
                              .layout = {SDC_CLIP_LDM_LAYOUT_SDXL_L, SDC_CLIP_LDM_LAYOUT_SDXL_G}};
        return SDC_STATUS_OK;
    }
    if (sdc_clip_ldm_present(wf, SDC_CLIP_LDM_LAYOUT_SD1)) {
        *out = (text_layouts){.has = {true, false}, .layout = {SDC_CLIP_LDM_LAYOUT_SD1}};
        return SDC_STATUS_OK;
    }
    if (sdc_clip_ldm_present(wf, SDC_CLIP_LDM_LAYOUT_SD2)) {
        *out = (text_layouts){.has = {true, false}, .layout = {SDC_CLIP_LDM_LAYOUT_SD2}};
        return SDC_STATUS_OK;
    }
    return sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                    "%s: no text encoder: expected %stoken_embedding (SD 1.x), %stoken_embedding "
                    "(SD 2.x), %stoken_embedding (SDXL) or %stoken_embedding (SDXL refiner)",
                    path, sdc_clip_ldm_prefix(SDC_CLIP_LDM_LAYOUT_SD1),
                    sdc_clip_ldm_prefix(SDC_CLIP_LDM_LAYOUT_SD2),
                    sdc_clip_ldm_prefix(SDC_CLIP_LDM_LAYOUT_SDXL_G),
                    sdc_clip_ldm_prefix(SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G));
}

/* Does the single file hold any tensor under `prefix`? */
static bool has_prefix(const sdc_weights_file *wf, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < wf->st->n_tensors; i++)
        if (strncmp(wf->st->tensors[i].name, prefix, n) == 0)
            return true;
    return false;
}

static sdc_status load_single_file(sdc_context *ctx, const sdc_model *m, sdc_component which,
                                   sdc_pipe_component *c)
{
    sdc_weights_file *wf = NULL;
    sdc_status st = sdc_weights_file_open(ctx, m->path, &wf);
    if (st != SDC_STATUS_OK)
        return st;
    text_layouts tl;
    switch (which) {
    case SDC_COMPONENT_TEXT_ENCODER:
    case SDC_COMPONENT_TEXT_ENCODER_2: {
        int k = which == SDC_COMPONENT_TEXT_ENCODER_2;
        st = single_file_text_layouts(ctx, m->path, wf, &tl);
        if (st == SDC_STATUS_OK && !tl.has[k])
            st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: no %s in this checkpoint", m->path,
                          sdc_component_name(which));
        if (st == SDC_STATUS_OK)
            st = sdc_clip_text_open_single_file(ctx, wf, tl.layout[k], &c->text_encoder);
        break;
    }
    case SDC_COMPONENT_UNET:
        st = has_prefix(wf, "model.diffusion_model.")
                 ? sdc_unet_open_single_file(ctx, wf, &c->unet)
                 : sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                            "%s: no UNet: expected model.diffusion_model.* tensors", m->path);
        break;
    case SDC_COMPONENT_VAE:
        st = has_prefix(wf, "first_stage_model.")
                 ? sdc_vae_open_single_file(ctx, wf, &c->vae)
                 : sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                            "%s: no VAE: expected first_stage_model.* tensors", m->path);
        break;
    default:
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: single-file checkpoints have no %s", m->path,
                      sdc_component_name(which));
        break;
    }
    sdc_weights_file_release(ctx, wf); /* the component's store keeps its own reference */
    return st;
}

static sdc_status load_diffusers(sdc_context *ctx, const sdc_model *m, sdc_component which,
                                 sdc_pipe_component *c)
{
    /* a ControlNetModel folder is the component itself */
    char *dir = which == SDC_COMPONENT_CONTROLNET ? sdc_strdup(ctx, m->path)
                                                  : join(ctx, m->path, sdc_component_name(which));
    if (!dir)
        return sdc_fail_oom(ctx, m->path, strlen(m->path) + 32);
    sdc_status st;
    if (!is_dir(dir)) {
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                      "%s: the %s folder is missing (model_index.json lists it)", m->path,
                      sdc_component_name(which));
    } else {
        switch (which) {
        case SDC_COMPONENT_TEXT_ENCODER:
        case SDC_COMPONENT_TEXT_ENCODER_2:
            st = sdc_clip_text_open_diffusers(ctx, dir, &c->text_encoder);
            break;
        case SDC_COMPONENT_CONTROLNET:
            st = sdc_controlnet_open_diffusers(ctx, dir, &c->controlnet);
            break;
        case SDC_COMPONENT_UNET:
            st = sdc_unet_open_diffusers(ctx, dir, &c->unet);
            break;
        case SDC_COMPONENT_VAE:
            st = sdc_vae_open_diffusers(ctx, dir, &c->vae);
            break;
        default:
            st = sdc_safety_checker_open_diffusers(ctx, dir, &c->safety_checker);
            break;
        }
    }
    sdc_free(ctx, dir);
    return st;
}

static sdc_status load_bundle(sdc_context *ctx, const sdc_model *m, sdc_component which,
                              sdc_pipe_component *c)
{
    switch (which) {
    case SDC_COMPONENT_TEXT_ENCODER:
    case SDC_COMPONENT_TEXT_ENCODER_2:
        return sdc_bundle_open_clip_text(ctx, m->bundle, sdc_component_name(which),
                                         &c->text_encoder);
    case SDC_COMPONENT_CONTROLNET:
        return sdc_bundle_open_controlnet(ctx, m->bundle, &c->controlnet);
    case SDC_COMPONENT_UNET:
        return sdc_bundle_open_unet(ctx, m->bundle, &c->unet);
    case SDC_COMPONENT_VAE:
        return sdc_bundle_open_vae(ctx, m->bundle, &c->vae);
    default:
        return sdc_bundle_open_safety_checker(ctx, m->bundle, &c->safety_checker);
    }
}

static sdc_status load_component(sdc_context *ctx, const sdc_model *m, sdc_component which,
                                 sdc_pipe_component *c)
{
    if (which == SDC_COMPONENT_VAE && m->vae_path)
        return sdc_vae_open_path(ctx, m->vae_path,
                                 m->has_text_encoder_2 ? SDXL_SCALING_FACTOR : SD_SCALING_FACTOR,
                                 &c->vae);
    if (m->source == SDC_MODEL_SOURCE_BUNDLE)
        return load_bundle(ctx, m, which, c);
    return m->source == SDC_MODEL_SOURCE_DIFFUSERS ? load_diffusers(ctx, m, which, c)
                                                   : load_single_file(ctx, m, which, c);
}

sdc_status sdc_pipe_component_acquire(sdc_context *ctx, const sdc_model *model, sdc_component which,
                                      sdc_pipe_component *out)
{
    memset(out, 0, sizeof *out);
    out->which = which;
    if (!model->reduce_memory) {
        out->text_encoder = which == SDC_COMPONENT_TEXT_ENCODER     ? model->text_encoder
                            : which == SDC_COMPONENT_TEXT_ENCODER_2 ? model->text_encoder_2
                                                                    : NULL;
        out->controlnet = which == SDC_COMPONENT_CONTROLNET ? model->controlnet : NULL;
        out->unet = which == SDC_COMPONENT_UNET ? model->unet : NULL;
        out->vae = which == SDC_COMPONENT_VAE ? model->vae : NULL;
        out->safety_checker = which == SDC_COMPONENT_SAFETY_CHECKER ? model->safety_checker : NULL;
        return SDC_STATUS_OK;
    }
    out->owned = true;
    sdc_log(ctx, SDC_LOG_LEVEL_DEBUG, "%s: loading %s", model->path, sdc_component_name(which));
    return load_component(ctx, model, which, out);
}

void sdc_pipe_component_release(sdc_pipe_component *c)
{
    if (c->owned) {
        sdc_clip_text_destroy(c->text_encoder);
        sdc_controlnet_destroy(c->controlnet);
        sdc_unet_destroy(c->unet);
        sdc_vae_destroy(c->vae);
        sdc_safety_checker_destroy(c->safety_checker);
    }
    memset(c, 0, sizeof *c);
}

/* What inspect shows of a loaded component: class, configuration, weights. */
static void summarize(sdc_model *m, const sdc_pipe_component *c)
{
    sdc_pipe_component_summary *o = &m->components[m->n_components++];
    memset(o, 0, sizeof *o);
    o->which = c->which;
    const sdc_store *store = NULL;
    if (c->text_encoder) {
        const sdc_clip_text_config *t = sdc_clip_text_get_config(c->text_encoder);
        o->class_name = t->projection_dim ? "CLIPTextModelWithProjection" : "CLIPTextModel";
        snprintf(o->summary, sizeof o->summary, "%d layers, %lld wide, %d heads%s%.0lld",
                 t->n_layers, (long long)t->hidden_size, t->n_heads,
                 t->projection_dim ? ", projection " : "", (long long)t->projection_dim);
        store = sdc_clip_text_get_store(c->text_encoder);
    } else if (c->unet || c->controlnet) {
        const sdc_unet_config *u = c->unet ? sdc_unet_get_config(c->unet)
                                           : &sdc_controlnet_get_config(c->controlnet)->unet;
        o->class_name = c->unet ? "UNet2DConditionModel" : "ControlNetModel";
        int pos =
            snprintf(o->summary, sizeof o->summary, "%lld in, widths", (long long)u->in_channels);
        for (int i = 0; i < u->n_levels && pos > 0 && (size_t)pos < sizeof o->summary; i++)
            pos += snprintf(o->summary + pos, sizeof o->summary - (size_t)pos, "%s%lld",
                            i ? "/" : " ", (long long)u->block_out_channels[i]);
        if (pos > 0 && (size_t)pos < sizeof o->summary)
            snprintf(o->summary + pos, sizeof o->summary - (size_t)pos, ", cross-attention %lld%s",
                     (long long)u->cross_attention_dim, u->text_time ? ", text_time" : "");
        store = c->unet ? sdc_unet_get_store(c->unet) : sdc_controlnet_get_store(c->controlnet);
    } else if (c->vae) {
        const sdc_vae_config *v = sdc_vae_get_config(c->vae);
        o->class_name = "AutoencoderKL";
        snprintf(o->summary, sizeof o->summary, "%lld latent channels, %d levels, scaling %g",
                 (long long)v->latent_channels, v->n_levels, (double)v->scaling_factor);
        store = sdc_vae_get_store(c->vae);
    } else if (c->safety_checker) {
        const sdc_safety_checker_config *sc = sdc_safety_checker_get_config(c->safety_checker);
        o->class_name = "StableDiffusionSafetyChecker";
        snprintf(o->summary, sizeof o->summary, "CLIP vision %d layers, %lld wide", sc->n_layers,
                 (long long)sc->hidden_size);
        store = sdc_safety_checker_get_store(c->safety_checker);
    }
    if (store) {
        sdc_weights_summary w;
        sdc_store_summary(store, &w);
        o->parameters = w.parameters;
        o->bytes = w.bytes;
        o->dtype = w.dtype;
    }
}

/* Loads the networks once: kept in the model, or (reduce_memory) only checked and their
 * configurations noted. */
static sdc_status load_networks(sdc_model *m)
{
    static const sdc_component order[] = {
        SDC_COMPONENT_TEXT_ENCODER, SDC_COMPONENT_TEXT_ENCODER_2, SDC_COMPONENT_UNET,
        SDC_COMPONENT_VAE,          SDC_COMPONENT_SAFETY_CHECKER, SDC_COMPONENT_CONTROLNET};
    sdc_context *ctx = m->ctx;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        sdc_component which = order[i];
        bool wanted = m->is_controlnet                        ? which == SDC_COMPONENT_CONTROLNET
                      : which == SDC_COMPONENT_TEXT_ENCODER   ? m->has_text_encoder
                      : which == SDC_COMPONENT_TEXT_ENCODER_2 ? m->has_text_encoder_2
                      : which == SDC_COMPONENT_SAFETY_CHECKER ? m->has_safety_checker
                                                              : which != SDC_COMPONENT_CONTROLNET;
        if (!wanted)
            continue;
        sdc_pipe_component c = {.which = which, .owned = true};
        sdc_status st = load_component(ctx, m, which, &c);
        if (st != SDC_STATUS_OK)
            return st;
        summarize(m, &c);
        if (c.text_encoder && which == SDC_COMPONENT_TEXT_ENCODER)
            m->text_config = *sdc_clip_text_get_config(c.text_encoder);
        if (c.text_encoder && which == SDC_COMPONENT_TEXT_ENCODER_2)
            m->text_config_2 = *sdc_clip_text_get_config(c.text_encoder);
        if (c.unet)
            m->unet_config = *sdc_unet_get_config(c.unet);
        if (c.vae)
            m->vae_config = *sdc_vae_get_config(c.vae);
        if (c.controlnet)
            m->controlnet_config = *sdc_controlnet_get_config(c.controlnet);
        if (m->reduce_memory) {
            sdc_pipe_component_release(&c);
        } else {
            if (which == SDC_COMPONENT_TEXT_ENCODER)
                m->text_encoder = c.text_encoder;
            else if (which == SDC_COMPONENT_TEXT_ENCODER_2)
                m->text_encoder_2 = c.text_encoder;
            m->unet = m->unet ? m->unet : c.unet;
            m->vae = m->vae ? m->vae : c.vae;
            m->safety_checker = m->safety_checker ? m->safety_checker : c.safety_checker;
            m->controlnet = m->controlnet ? m->controlnet : c.controlnet;
        }
    }
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Schedulers                                                                                 */

/* The sdc name of a scheduler configuration's class (what `--scheduler` would give it). */
static const char *scheduler_name_of(const sdc_json *config)
{
    const sdc_json *cls = sdc_json_get_type(config, "_class_name", SDC_JSON_TYPE_STRING);
    if (!cls)
        return NULL;
    const char *c = cls->u.string.chars;
    if (strcmp(c, "DPMSolverMultistepScheduler") == 0) {
        const sdc_json *alg = sdc_json_get_type(config, "algorithm_type", SDC_JSON_TYPE_STRING);
        const sdc_json *karras = sdc_json_get_type(config, "use_karras_sigmas", SDC_JSON_TYPE_BOOL);
        bool sde = alg && strcmp(alg->u.string.chars, "sde-dpmsolver++") == 0;
        bool k = karras && karras->u.boolean;
        return sde ? (k ? "dpm++2m-sde-karras" : "dpm++2m-sde")
                   : (k ? "dpm++2m-karras" : "dpm++2m");
    }
    static const struct {
        const char *cls, *name;
    } map[] = {
        {"PNDMScheduler", "pndm"},
        {"DDIMScheduler", "ddim"},
        {"EulerDiscreteScheduler", "euler"},
        {"EulerAncestralDiscreteScheduler", "euler_a"},
        {"HeunDiscreteScheduler", "heun"},
        {"LMSDiscreteScheduler", "lms"},
        {"UniPCMultistepScheduler", "unipc"},
        {"LCMScheduler", "lcm"},
        {"FlowMatchEulerDiscreteScheduler", "flow-euler"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(c, map[i].cls) == 0)
            return map[i].name;
    return NULL;
}

sdc_status sdc_pipe_scheduler_config(sdc_context *ctx, const sdc_model *model, const char *name,
                                     sdc_scheduler_config *out)
{
    sdc_status st = sdc_scheduler_config_build(ctx, name, model->scheduler_doc->root,
                                               model->scheduler_what, out);
    if (st == SDC_STATUS_OK && model->prediction_override &&
        out->prediction_type != SDC_PREDICTION_TYPE_FLOW)
        out->prediction_type = model->prediction_type;
    return st;
}

static sdc_status set_scheduler(sdc_model *m, const char *text, size_t len, const char *what)
{
    sdc_context *ctx = m->ctx;
    m->scheduler_what = sdc_strdup(ctx, what);
    if (!m->scheduler_what)
        return sdc_fail_oom(ctx, what, strlen(what) + 1);
    sdc_status st = sdc_json_parse(ctx, text, len, what, &m->scheduler_doc);
    if (st != SDC_STATUS_OK)
        return st;
    if (m->scheduler_doc->root->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object", what);
    m->default_scheduler = scheduler_name_of(m->scheduler_doc->root);
    if (!m->default_scheduler)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"_class_name\" is missing or names a scheduler sdc does not have",
                        what);
    /* The model's own scheduler must build; its prediction type is the model's. */
    sdc_scheduler_config cfg;
    st = sdc_scheduler_config_build(ctx, NULL, m->scheduler_doc->root, what, &cfg);
    if (st != SDC_STATUS_OK)
        return st;
    if (!m->prediction_override)
        m->prediction_type = cfg.prediction_type;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Opening                                                                                    */

/* model_index.json entry: present and not [null, null]. */
static bool index_has(const sdc_json *index, const char *key)
{
    const sdc_json *v = sdc_json_get_type(index, key, SDC_JSON_TYPE_ARRAY);
    return v && v->u.array.count >= 1 && v->u.array.items[0]->type != SDC_JSON_TYPE_NULL;
}

static sdc_status open_diffusers(sdc_model *m)
{
    sdc_context *ctx = m->ctx;
    sdc_status st;
    sdc_model_config index = {0}, unet_json = {0};
    char *path = join(ctx, m->path, "model_index.json");
    char *sched_path = join(ctx, m->path, "scheduler/scheduler_config.json");
    char *tok_dir = join(ctx, m->path, "tokenizer");
    char *tok2_dir = join(ctx, m->path, "tokenizer_2");
    char *unet_path = join(ctx, m->path, "unet/config.json");
    char *sched_text = NULL;
    if (!path || !sched_path || !tok_dir || !tok2_dir || !unet_path) {
        st = sdc_fail_oom(ctx, m->path, strlen(m->path) + 64);
        goto done;
    }
    st = sdc_model_config_open(ctx, path, &index);
    if (st != SDC_STATUS_OK)
        goto done;
    /* SDXL: text_encoder_2 (the base also has text_encoder, the refiner not) */
    bool sdxl = index_has(index.root, "text_encoder_2") || index_has(index.root, "tokenizer_2");
    m->has_text_encoder = index_has(index.root, "text_encoder");
    m->has_text_encoder_2 = sdxl;
    static const char *const required[] = {"unet", "vae", "text_encoder", "tokenizer", "scheduler"};
    static const char *const required_xl[] = {"unet", "vae", "text_encoder_2", "tokenizer_2",
                                              "scheduler"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const char *need = sdxl ? required_xl[i] : required[i];
        if (!index_has(index.root, need)) {
            st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                          "%s: no \"%s\" component: a Stable Diffusion%s pipeline needs unet, "
                          "vae, %s and scheduler",
                          path, need, sdxl ? " XL" : "",
                          sdxl ? "text_encoder_2, tokenizer_2" : "text_encoder, tokenizer");
            goto done;
        }
    }
    if (sdxl && m->has_text_encoder != index_has(index.root, "tokenizer")) {
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                      "%s: \"text_encoder\" and \"tokenizer\" come together (the SDXL base has "
                      "both, the refiner neither)",
                      path);
        goto done;
    }
    bool force_zeros = true; /* StableDiffusionXL(Img2Img)Pipeline.__init__'s default */
    st = sdc_model_config_bool(&index, "force_zeros_for_empty_prompt", true, &force_zeros);
    if (st != SDC_STATUS_OK)
        goto done;
    m->force_zeros_for_empty_prompt = sdxl && force_zeros;
    /* The safety checker when model_index.json lists it and its folders are there (diffusers
     * loads it the same way; requires_safety_checker only decides a warning). */
    char *sc_dir = join(ctx, m->path, "safety_checker");
    char *fe_dir = join(ctx, m->path, "feature_extractor");
    st = SDC_STATUS_OK;
    if (!sc_dir || !fe_dir)
        st = sdc_fail_oom(ctx, m->path, strlen(m->path) + 32);
    else if (index_has(index.root, "safety_checker") && is_dir(sc_dir) && is_dir(fe_dir))
        m->has_safety_checker = true;
    else if (index_has(index.root, "safety_checker"))
        sdc_log(ctx, SDC_LOG_LEVEL_WARN,
                "%s lists a safety checker but its safety_checker/ or feature_extractor/ folder "
                "is missing: images will not be checked",
                path);
    if (m->has_safety_checker)
        st = sdc_clip_image_config_open(ctx, fe_dir, &m->feature_extractor);
    sdc_free(ctx, sc_dir);
    sdc_free(ctx, fe_dir);
    if (st != SDC_STATUS_OK)
        goto done;

    if (m->has_text_encoder)
        st = sdc_tokenizer_create_from_dir(ctx, tok_dir, &m->tokenizer);
    if (st == SDC_STATUS_OK && m->has_text_encoder_2)
        st = sdc_tokenizer_create_from_dir(ctx, tok2_dir, &m->tokenizer_2);
    if (st != SDC_STATUS_OK)
        goto done;
    size_t len = 0;
    st = sdc_file_read_all(ctx, sched_path, &sched_text, &len);
    if (st == SDC_STATUS_OK)
        st = set_scheduler(m, sched_text, len, sched_path);
    if (st != SDC_STATUS_OK)
        goto done;
    st = load_networks(m);
    if (st != SDC_STATUS_OK)
        goto done;
    st = sdc_model_config_open(ctx, unet_path, &unet_json);
    int64_t sample_size = DEFAULT_SAMPLE_SIZE;
    if (st == SDC_STATUS_OK)
        st = sdc_model_config_int(&unet_json, "sample_size", DEFAULT_SAMPLE_SIZE, &sample_size);
    if (st == SDC_STATUS_OK && (sample_size < 1 || sample_size > 4096))
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: sample_size %lld is outside [1, 4096]",
                      unet_path, (long long)sample_size);
    m->default_width = m->default_height = (int)sample_size * VAE_SCALE;
done:
    sdc_model_config_close(&unet_json);
    sdc_model_config_close(&index);
    sdc_free(ctx, sched_text);
    sdc_free(ctx, unet_path);
    sdc_free(ctx, tok2_dir);
    sdc_free(ctx, tok_dir);
    sdc_free(ctx, sched_path);
    sdc_free(ctx, path);
    return st;
}

static sdc_status open_single_file(sdc_model *m)
{
    sdc_context *ctx = m->ctx;
    sdc_weights_file *wf = NULL;
    text_layouts tl;
    sdc_status st = sdc_weights_file_open(ctx, m->path, &wf);
    if (st != SDC_STATUS_OK)
        return st;
    st = single_file_text_layouts(ctx, m->path, wf, &tl);
    sdc_weights_file_release(ctx, wf);
    if (st != SDC_STATUS_OK)
        return st;
    bool sdxl = tl.has[1];
    bool sd2 = !sdxl && tl.layout[0] == SDC_CLIP_LDM_LAYOUT_SD2;
    m->has_text_encoder = tl.has[0];
    m->has_text_encoder_2 = tl.has[1];
    /* the diffusers folders of SDXL base (true) and refiner (false) */
    m->force_zeros_for_empty_prompt = sdxl && tl.has[0];

    sdc_tokenizer_params tp = sdc_tokenizer_default_params();
    tp.pad_token = sd2 ? "!" : NULL; /* SD 2.x's tokenizer pads with "!" (id 0) */
    if (m->has_text_encoder)
        st = sdc_tok_clip_builtin(ctx, &tp, &m->tokenizer);
    tp.pad_token = "!"; /* SDXL's tokenizer_2 too */
    if (st == SDC_STATUS_OK && m->has_text_encoder_2)
        st = sdc_tok_clip_builtin(ctx, &tp, &m->tokenizer_2);
    if (st != SDC_STATUS_OK)
        return st;
    const char *json = sdxl ? SDXL_SCHEDULER_JSON : sd2 ? SD2_SCHEDULER_JSON : SD1_SCHEDULER_JSON;
    st = set_scheduler(m, json, strlen(json),
                       sdxl  ? "built-in SDXL scheduler config"
                       : sd2 ? "built-in SD 2.x scheduler config"
                             : "built-in SD 1.x scheduler config");
    if (st != SDC_STATUS_OK)
        return st;
    st = load_networks(m);
    if (st != SDC_STATUS_OK)
        return st;
    if (sdxl) {
        m->default_width = m->default_height = SDXL_SAMPLE_SIZE * VAE_SCALE;
        return SDC_STATUS_OK;
    }
    bool unet_sd2 = m->unet_config.use_linear_projection;
    if (unet_sd2 != sd2)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: the text encoder is %s's (%s*) but the UNet is %s's: the file mixes "
                        "two model families",
                        m->path, sd2 ? "SD 2.x" : "SD 1.x", sdc_clip_ldm_prefix(tl.layout[0]),
                        unet_sd2 ? "SD 2.x" : "SD 1.x");
    /* SD 2.x's v-prediction models are the 768-pixel ones. */
    m->default_width = m->default_height =
        sd2 && m->prediction_type == SDC_PREDICTION_TYPE_V_PREDICTION ? 768 : 512;
    return SDC_STATUS_OK;
}

/* A diffusers ControlNetModel folder: config.json names the class. */
static bool is_controlnet_folder(sdc_context *ctx, const char *path)
{
    char *config = join(ctx, path, "config.json");
    sdc_model_config c = {0};
    const char *cls = NULL;
    bool yes = config && sdc_model_config_open(ctx, config, &c) == SDC_STATUS_OK &&
               sdc_model_config_string(&c, "_class_name", NULL, &cls) == SDC_STATUS_OK && cls &&
               strcmp(cls, "ControlNetModel") == 0;
    sdc_model_config_close(&c);
    sdc_free(ctx, config);
    return yes;
}

static sdc_status open_controlnet(sdc_model *m)
{
    m->is_controlnet = true;
    return load_networks(m);
}

/* A converted bundle: opened like the folder or file it came from, with the configs, scheduler
 * and tokenizer model.json carries (a bundle of a single file has none of the last two: the
 * built-in ones, as for the file). */
static sdc_status open_bundle(sdc_model *m)
{
    sdc_context *ctx = m->ctx;
    sdc_status st = sdc_bundle_open(ctx, m->path, &m->bundle);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_bundle *b = m->bundle;
    if (sdc_bundle_find(b, "controlnet") && !sdc_bundle_find(b, "unet"))
        return open_controlnet(m);
    bool sd2 = strcmp(b->family, "sd2") == 0;
    bool sdxl = sdc_bundle_find(b, "text_encoder_2") != NULL;
    m->has_text_encoder = sdc_bundle_find(b, "text_encoder") != NULL;
    m->has_text_encoder_2 = sdxl;
    m->force_zeros_for_empty_prompt = sdxl && m->has_text_encoder;
    const char *tok = sdc_bundle_tokenizer_dir(b, "tokenizer");
    const char *tok2 = sdc_bundle_tokenizer_dir(b, "tokenizer_2");
    sdc_tokenizer_params tp = sdc_tokenizer_default_params();
    tp.pad_token = sd2 ? "!" : NULL;
    st = SDC_STATUS_OK;
    if (m->has_text_encoder)
        st = tok ? sdc_tokenizer_create_from_dir(ctx, tok, &m->tokenizer)
                 : sdc_tok_clip_builtin(ctx, &tp, &m->tokenizer);
    tp.pad_token = "!";
    if (st == SDC_STATUS_OK && sdxl)
        st = tok2 ? sdc_tokenizer_create_from_dir(ctx, tok2, &m->tokenizer_2)
                  : sdc_tok_clip_builtin(ctx, &tp, &m->tokenizer_2);
    sdc_buf text;
    sdc_buf_init(&text, ctx);
    if (st == SDC_STATUS_OK && b->scheduler) {
        sdc_json_writer w;
        sdc_json_writer_init(&w, &text, false);
        sdc_json_value(&w, b->scheduler);
        st = text.failed ? sdc_fail_oom(ctx, b->json.path, text.len)
                         : set_scheduler(m, text.data, text.len, b->json.path);
    } else if (st == SDC_STATUS_OK) {
        const char *json = sdxl  ? SDXL_SCHEDULER_JSON
                           : sd2 ? SD2_SCHEDULER_JSON
                                 : SD1_SCHEDULER_JSON;
        st = set_scheduler(m, json, strlen(json), "built-in scheduler config");
    }
    sdc_buf_free(&text);
    sdc_model_config cfg = {0};
    if (st == SDC_STATUS_OK && sdc_bundle_find(b, "safety_checker") && b->feature_extractor) {
        st = sdc_model_config_view(ctx, b->feature_extractor, b->json.path, &cfg);
        if (st == SDC_STATUS_OK)
            st = sdc_clip_image_config_from_json(&cfg, &m->feature_extractor);
        sdc_model_config_close(&cfg);
        m->has_safety_checker = st == SDC_STATUS_OK;
    }
    if (st == SDC_STATUS_OK)
        st = load_networks(m);
    /* A bundle of a single file has no sample_size: the single file's default. */
    int64_t sample_size = sdxl ? SDXL_SAMPLE_SIZE
                          : sd2 && m->prediction_type == SDC_PREDICTION_TYPE_V_PREDICTION
                              ? 768 / VAE_SCALE
                              : 64;
    if (st == SDC_STATUS_OK)
        st = sdc_bundle_config(b, "unet", &cfg);
    if (st == SDC_STATUS_OK)
        st = sdc_model_config_int(&cfg, "sample_size", sample_size, &sample_size);
    sdc_model_config_close(&cfg);
    if (st == SDC_STATUS_OK && (sample_size < 1 || sample_size > 4096))
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: sample_size %lld is outside [1, 4096]",
                      b->json.path, (long long)sample_size);
    m->default_width = m->default_height = (int)sample_size * VAE_SCALE;
    return st;
}

sdc_status sdc_model_open(sdc_context *ctx, const char *path, const sdc_model_params *params,
                          sdc_model **out)
{
    *out = NULL;
    sdc_model_params p = params ? *params : sdc_model_default_params();
    if (!path || !*path)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "model: no path given");
    sdc_prediction_type prediction = SDC_PREDICTION_TYPE_EPSILON;
    if (p.prediction_type) {
        if (strcmp(p.prediction_type, "epsilon") == 0)
            prediction = SDC_PREDICTION_TYPE_EPSILON;
        else if (strcmp(p.prediction_type, "v_prediction") == 0 ||
                 strcmp(p.prediction_type, "v") == 0)
            prediction = SDC_PREDICTION_TYPE_V_PREDICTION;
        else
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "model %s: prediction type \"%s\": expected \"epsilon\" or "
                            "\"v_prediction\"",
                            path, p.prediction_type);
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sdc_fail(ctx, SDC_STATUS_IO, "model %s: %s", path, strerror(errno));

    sdc_status st;
    sdc_model *m = sdc_calloc(ctx, 1, sizeof *m);
    if (!m)
        return sdc_fail_oom(ctx, "a model", sizeof *m);
    m->ctx = ctx;
    m->reduce_memory = p.reduce_memory != 0;
    m->has_text_encoder = true; /* SD 1.x/2.x; the openers say otherwise */
    m->prediction_override = p.prediction_type != NULL;
    m->prediction_type = prediction;
    if (pthread_mutex_init(&m->hash_lock, NULL) != 0) {
        sdc_free(ctx, m);
        return sdc_fail(ctx, SDC_STATUS_INTERNAL, "model %s: could not create a mutex", path);
    }
    if (pthread_mutex_init(&m->tokenizer_lock, NULL) != 0) {
        pthread_mutex_destroy(&m->hash_lock);
        sdc_free(ctx, m);
        return sdc_fail(ctx, SDC_STATUS_INTERNAL, "model %s: could not create a mutex", path);
    }
    bool folder = S_ISDIR(sb.st_mode);
    m->source = folder ? SDC_MODEL_SOURCE_DIFFUSERS : SDC_MODEL_SOURCE_SINGLE_FILE;
    m->path = sdc_strdup(ctx, path);
    m->name = model_name(ctx, path, !folder);
    m->vae_path = p.vae ? sdc_strdup(ctx, p.vae) : NULL;
    if (!m->path || !m->name || (p.vae && !m->vae_path)) {
        st = sdc_fail_oom(ctx, path, strlen(path) + 1);
        goto fail;
    }
    if (folder) {
        char *bundle = join(ctx, path, "model.json");
        char *index = join(ctx, path, "model_index.json");
        if (!bundle || !index) {
            sdc_free(ctx, bundle);
            sdc_free(ctx, index);
            st = sdc_fail_oom(ctx, path, strlen(path) + 32);
            goto fail;
        }
        struct stat ib;
        bool has_index = stat(index, &ib) == 0;
        bool has_bundle = stat(bundle, &ib) == 0;
        sdc_free(ctx, bundle);
        sdc_free(ctx, index);
        if (has_bundle) {
            m->source = SDC_MODEL_SOURCE_BUNDLE;
            st = open_bundle(m);
        } else if (!has_index && is_controlnet_folder(ctx, path)) {
            st = open_controlnet(m);
        } else if (!has_index) {
            st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                          "model %s: a folder without model_index.json (a diffusers pipeline), "
                          "model.json (an sdc bundle) or a ControlNetModel config.json",
                          path);
            goto fail;
        } else {
            st = open_diffusers(m);
        }
    } else {
        st = open_single_file(m);
    }
    if (st == SDC_STATUS_OK)
        st = family_of(ctx, m);
    if (st == SDC_STATUS_OK)
        st = check_components(ctx, m);
    if (st != SDC_STATUS_OK)
        goto fail;
    *out = m;
    return SDC_STATUS_OK;
fail:
    sdc_model_close(m);
    return st;
}

void sdc_model_close(sdc_model *model)
{
    if (!model)
        return;
    sdc_context *ctx = model->ctx;
    sdc_clip_text_destroy(model->text_encoder);
    sdc_clip_text_destroy(model->text_encoder_2);
    sdc_controlnet_destroy(model->controlnet);
    sdc_unet_destroy(model->unet);
    sdc_vae_destroy(model->vae);
    sdc_safety_checker_destroy(model->safety_checker);
    sdc_bundle_close(model->bundle);
    sdc_tokenizer_destroy(model->tokenizer);
    sdc_tokenizer_destroy(model->tokenizer_2);
    sdc_free(ctx, model->vae_path);
    sdc_json_free(model->scheduler_doc);
    sdc_free(ctx, model->scheduler_what);
    sdc_free(ctx, model->name);
    sdc_free(ctx, model->path);
    pthread_mutex_destroy(&model->hash_lock);
    pthread_mutex_destroy(&model->tokenizer_lock);
    sdc_free(ctx, model);
}

void sdc_model_get_info(const sdc_model *model, sdc_model_info *out)
{
    *out = (sdc_model_info){
        .family = sdc_family_name(model->family),
        .inpainting = model->inpainting,
        .prediction_type = sdc_prediction_type_name(model->prediction_type),
        .default_scheduler = model->default_scheduler,
        .default_width = model->default_width,
        .default_height = model->default_height,
        .has_safety_checker = model->has_safety_checker,
        .name = model->name,
        .controlnet = model->is_controlnet,
        .time_ids = model->n_time_ids,
        .force_zeros_for_empty_prompt = model->force_zeros_for_empty_prompt,
    };
}

size_t sdc_model_component_count(const sdc_model *model)
{
    return (size_t)model->n_components;
}

sdc_status sdc_model_component(const sdc_model *model, size_t index, sdc_model_component_info *out)
{
    memset(out, 0, sizeof *out);
    if (index >= (size_t)model->n_components)
        return sdc_fail(model->ctx, SDC_STATUS_INVALID_ARGUMENT, "model %s: component %zu of %d",
                        model->path, index, model->n_components);
    const sdc_pipe_component_summary *c = &model->components[index];
    *out = (sdc_model_component_info){
        .name = sdc_component_name(c->which),
        .class_name = c->class_name ? c->class_name : "",
        .summary = c->summary,
        .parameters = c->parameters,
        .bytes = c->bytes,
        .dtype = c->dtype ? c->dtype : "",
    };
    return SDC_STATUS_OK;
}

size_t sdc_scheduler_list(size_t index, const char **name, const char **diffusers_class,
                          const char **description)
{
    size_t count = 0;
    const sdc_scheduler_name *names = sdc_scheduler_names(&count);
    if (index < count) {
        if (name)
            *name = names[index].name;
        if (diffusers_class)
            *diffusers_class = names[index].diffusers;
        if (description)
            *description = names[index].description;
    }
    return count;
}
