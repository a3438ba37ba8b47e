/*
 * generation.c — the public generation API: checks a request against the model (and its
 * refiner and ControlNets), then runs the phases of diffusers 0.30.2's
 * StableDiffusion(XL)(Img2Img|Inpaint|ControlNet)Pipeline.__call__ in order — prompts, starting
 * latents, the denoising loop (the base stage, then an SDXL refiner's stage with its own
 * scheduler on the same latents, as a base call with denoising_end followed by a refiner call
 * with denoising_start), decoding, the safety checker — each phase loading its components
 * (reduce_memory) and taking its activations from a fixed arena sized before it starts. On
 * failure nothing is kept.
 */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGE_COUNT 64
#define MAX_STEPS       1000
#define MAX_SIDE        16384
/* ControlNets of one generation. */
#define SDC_MAX_CONTROLS 8

struct sdc_generation {
    sdc_context *ctx;
    sdc_model *model;
    size_t n_images;
    sdc_image *images; /* [n_images], pixels from ctx */
    int *nsfw;         /* [n_images] */
    char **parameters; /* [n_images] */
    float *latents;    /* the final latents [N, C, h, w] */
    int64_t latent_shape[4];
    sdc_rng_observer_fn observer; /* tests */
    void *observer_user;
    char errmsg[1024];
};

sdc_generation_params sdc_generation_default_params(void)
{
    return (sdc_generation_params){
        .prompt = "",
        .rng = SDC_RNG_SOURCE_NUMPY,
        .steps = 50,
        .guidance_scale = 7.5f,
        .image_count = 1,
        .strength = 0.8f,
        .aesthetic_score = 6.0f,
        .negative_aesthetic_score = 2.5f,
        .refiner_start = 0.8f,
    };
}

sdc_control sdc_control_default(void)
{
    return (sdc_control){
        .controlnet = NULL, .image = NULL, .scale = 1.0f, .start = 0.0f, .end = 1.0f};
}

static void clear_results(sdc_generation *gen)
{
    sdc_context *ctx = gen->ctx;
    for (size_t i = 0; i < gen->n_images; i++) {
        if (gen->images)
            sdc_free(ctx, gen->images[i].pixels);
        if (gen->parameters)
            sdc_free(ctx, gen->parameters[i]);
    }
    sdc_free(ctx, gen->images);
    sdc_free(ctx, gen->nsfw);
    sdc_free(ctx, gen->parameters);
    sdc_free(ctx, gen->latents);
    gen->images = NULL;
    gen->nsfw = NULL;
    gen->parameters = NULL;
    gen->latents = NULL;
    gen->n_images = 0;
}

sdc_status sdc_generation_create(sdc_context *ctx, sdc_model *model, sdc_generation **out)
{
    *out = NULL;
    if (!model)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "generation: no model given");
    if (model->is_controlnet)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s is a ControlNet: it steers a Stable Diffusion model as one of its "
                        "controls (sdc_control, --controlnet), it does not generate alone",
                        model->path);
    sdc_generation *gen = sdc_calloc(ctx, 1, sizeof *gen);
    if (!gen)
        return sdc_fail_oom(ctx, "a generation", sizeof *gen);
    gen->ctx = ctx;
    gen->model = model;
    *out = gen;
    return SDC_STATUS_OK;
}

void sdc_generation_destroy(sdc_generation *gen)
{
    if (!gen)
        return;
    clear_results(gen);
    sdc_free(gen->ctx, gen);
}

/* ---------------------------------------------------------------------------------------- */
/* Checking a request                                                                         */

/* The double Python would hold for the number the user typed: the shortest decimal that reads
 * back as the float (0.7f -> 0.7, not 0.699999988). Used where diffusers floors a product. */
static double typed_value(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

static sdc_status check_size(sdc_context *ctx, const char *what, int v)
{
    if (v < 8 || v > MAX_SIDE || v % 8 != 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s %d: expected a multiple of 8 in [8, %d] (the latents are 1/8 of the "
                        "image)",
                        what, v, MAX_SIDE);
    return SDC_STATUS_OK;
}

/* "SD 1.x", ... for messages. */
static const char *family_text(sdc_family f)
{
    static const char *const names[] = {
        [SDC_FAMILY_SD1] = "an SD 1.x",
        [SDC_FAMILY_SD2] = "an SD 2.x",
        [SDC_FAMILY_SDXL] = "an SDXL",
        [SDC_FAMILY_SDXL_REFINER] = "an SDXL refiner",
    };
    static_assert(sizeof names / sizeof names[0] == SDC_FAMILY_COUNT, "one text per family");
    return (unsigned)f < SDC_FAMILY_COUNT ? names[f] : "an unknown";
}

static sdc_status check_image_arg(sdc_context *ctx, const char *what, const sdc_image *image)
{
    if (!image || !image->pixels || image->width < 1 || image->height < 1 ||
        image->width > MAX_SIDE || image->height > MAX_SIDE ||
        (image->channels != 1 && image->channels != 3 && image->channels != 4))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: %dx%d with %d channels: expected pixels, sides of 1 to %d and "
                        "1, 3 or 4 channels",
                        what, image ? image->width : 0, image ? image->height : 0,
                        image ? image->channels : 0, MAX_SIDE);
    return SDC_STATUS_OK;
}

/* A ControlNet fits the model when it is the encoder half of the model's UNet: same family,
 * widths, depth, text width and added embedding. */
static sdc_status check_control(sdc_context *ctx, const sdc_model *m, int k, const sdc_control *c)
{
    char what[48];
    snprintf(what, sizeof what, "control %d", k + 1);
    if (!c->controlnet)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: no ControlNet given", what);
    const sdc_model *cn = c->controlnet;
    if (!cn->is_controlnet)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: %s is %s model, not a ControlNet (a ControlNetModel folder)", what,
                        cn->path, family_text(cn->family));
    if (cn->family != m->family)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: %s is %s ControlNet but %s is %s model: a ControlNet steers only "
                        "the family it was trained for",
                        what, cn->path, family_text(cn->family), m->path, family_text(m->family));
    const sdc_unet_config *a = &cn->controlnet_config.unet, *u = &m->unet_config;
    bool fits =
        a->n_levels == u->n_levels && a->layers_per_block == u->layers_per_block &&
        a->cross_attention_dim == u->cross_attention_dim &&
        a->in_channels == m->vae_config.latent_channels && a->text_time == u->text_time &&
        a->projection_class_embeddings_input_dim == u->projection_class_embeddings_input_dim;
    for (int i = 0; fits && i < u->n_levels; i++)
        fits = a->block_out_channels[i] == u->block_out_channels[i];
    if (!fits)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: ControlNet %s does not fit the UNet of %s (levels %d vs %d, "
                        "layers per block %d vs %d, cross-attention %lld vs %lld, first width "
                        "%lld vs %lld)",
                        what, cn->path, m->path, a->n_levels, u->n_levels, a->layers_per_block,
                        u->layers_per_block, (long long)a->cross_attention_dim,
                        (long long)u->cross_attention_dim, (long long)a->block_out_channels[0],
                        (long long)u->block_out_channels[0]);
    char image_what[64];
    snprintf(image_what, sizeof image_what, "control %d: the control image", k + 1);
    sdc_status st = check_image_arg(ctx, image_what, c->image);
    if (st != SDC_STATUS_OK)
        return st;
    if (!isfinite(c->scale))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: scale: expected a finite number",
                        what);
    if (!(c->start >= 0.0f && c->start < c->end && c->end <= 1.0f))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: start %g and end %g: expected 0 <= start < end <= 1 (fractions of "
                        "the steps)",
                        what, (double)c->start, (double)c->end);
    return SDC_STATUS_OK;
}

/* The refiner takes over an SDXL base's latents: SDXL latents both, no inpainting. */
static sdc_status check_refiner(sdc_context *ctx, const sdc_model *m, const sdc_pipe_request *req)
{
    const sdc_generation_params *p = req->params;
    const sdc_model *r = p->refiner;
    if (r->is_controlnet)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "refiner %s is a ControlNet, not an SDXL refiner", r->path);
    if (m->family == SDC_FAMILY_SDXL_REFINER)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s is an SDXL refiner: it cannot be the base model of a refiner; give "
                        "an SDXL base model and this one as its refiner",
                        m->path);
    if (m->family != SDC_FAMILY_SDXL)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s is %s model: a refiner takes over the latents of an SDXL base model",
                        m->path, family_text(m->family));
    if (r->family != SDC_FAMILY_SDXL_REFINER && r->family != SDC_FAMILY_SDXL)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "refiner %s is %s model: expected an SDXL refiner (or an SDXL base), "
                        "whose latents are the base's",
                        r->path, family_text(r->family));
    if (r->vae_config.latent_channels != m->vae_config.latent_channels)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "refiner %s has %lld latent channels, the base %lld", r->path,
                        (long long)r->vae_config.latent_channels,
                        (long long)m->vae_config.latent_channels);
    if (!(p->refiner_start > 0.0f && p->refiner_start < 1.0f))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "refiner start %g: expected a fraction of the schedule in (0, 1)",
                        (double)p->refiner_start);
    if (req->mode == SDC_PIPE_MODE_INPAINT)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "a refiner with inpainting (a mask) is not supported");
    if (p->clip_skip > (r->has_text_encoder_2 ? r->text_config_2.n_layers : 0))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "clip skip %d: the refiner's text encoder has %d layers", p->clip_skip,
                        r->text_config_2.n_layers);
    return SDC_STATUS_OK;
}

/* Fills diffusers' defaults of SDXL's micro-conditioning: the output size. */
static sdc_status check_sdxl_sizes(sdc_context *ctx, const sdc_generation_params *p,
                                   sdc_pipe_request *req)
{
    const int v[6] = {p->original_width, p->original_height, p->crop_left,
                      p->crop_top,       p->target_width,    p->target_height};
    static const char *const names[6] = {"original width", "original height", "crop left",
                                         "crop top",       "target width",    "target height"};
    for (int i = 0; i < 6; i++)
        if (v[i] < 0 || v[i] > MAX_SIDE)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s %d: expected 0 to %d pixels",
                            names[i], v[i], MAX_SIDE);
    if (!isfinite(p->aesthetic_score) || !isfinite(p->negative_aesthetic_score))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "aesthetic scores: expected finite numbers");
    req->original_width = p->original_width ? p->original_width : req->width;
    req->original_height = p->original_height ? p->original_height : req->height;
    req->target_width = p->target_width ? p->target_width : req->width;
    req->target_height = p->target_height ? p->target_height : req->height;
    req->crop_left = p->crop_left;
    req->crop_top = p->crop_top;
    return SDC_STATUS_OK;
}

static sdc_status check_request(sdc_generation *gen, const sdc_generation_params *p,
                                sdc_pipe_request *req)
{
    sdc_context *ctx = gen->ctx;
    const sdc_model *m = gen->model;
    memset(req, 0, sizeof *req);
    req->params = p;
    if (p->steps < 1 || p->steps > MAX_STEPS)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "steps %d: expected 1 to %d", p->steps,
                        MAX_STEPS);
    if (!isfinite(p->guidance_scale))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "guidance scale: expected a finite number");
    if (p->image_count < 1 || p->image_count > MAX_IMAGE_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "image count %d: expected 1 to %d",
                        p->image_count, MAX_IMAGE_COUNT);
    if ((unsigned)p->rng >= SDC_RNG_SOURCE_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng source %d: expected numpy, torch or philox", (int)p->rng);
    /* every encoder takes the skip (SDXL's both): the shallowest bounds it */
    int layers = m->has_text_encoder ? m->text_config.n_layers : m->text_config_2.n_layers;
    if (m->has_text_encoder_2 && m->text_config_2.n_layers < layers)
        layers = m->text_config_2.n_layers;
    if (p->clip_skip < 0 || p->clip_skip > layers)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "clip skip %d: expected 0 to %d (the text encoder has %d layers)",
                        p->clip_skip, layers, layers);
    if (p->preview_every < 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "preview_every %d: expected 0 (none) or a positive step count",
                        p->preview_every);
    if (p->mask && !p->init_image)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "a mask was given without an init image: inpainting needs both");
    const sdc_image *images[2] = {p->init_image, p->mask};
    const char *names[2] = {"init image", "mask"};
    for (int i = 0; i < 2; i++)
        if (images[i]) {
            sdc_status st = check_image_arg(ctx, names[i], images[i]);
            if (st != SDC_STATUS_OK)
                return st;
        }
    if (p->mask &&
        (p->mask->width != p->init_image->width || p->mask->height != p->init_image->height))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "mask is %dx%d but the init image is %dx%d: they must be the same size",
                        p->mask->width, p->mask->height, p->init_image->width,
                        p->init_image->height);
    if (m->inpainting && !p->mask)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s is an inpainting model (its UNet takes 9 channels): give an init "
                        "image and a mask",
                        m->name);
    req->mode = p->mask         ? SDC_PIPE_MODE_INPAINT
                : p->init_image ? SDC_PIPE_MODE_IMG2IMG
                                : SDC_PIPE_MODE_TXT2IMG;
    if (p->init_image && !(p->strength >= 0.0f && p->strength <= 1.0f))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "strength %g: expected a value in [0, 1] (0 keeps the init image, 1 "
                        "replaces it)",
                        (double)p->strength);
    req->strength = p->init_image ? typed_value(p->strength) : 1.0;
    if (m->family == SDC_FAMILY_SDXL_REFINER && !p->init_image)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s is an SDXL refiner: it refines an image, so give it an init image, "
                        "or make it the refiner of an SDXL base model",
                        m->path);
    if (p->n_controls < 0 || p->n_controls > SDC_MAX_CONTROLS ||
        (p->n_controls > 0 && !p->controls))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "controls: %d given with %s array; expected 0 to %d ControlNets",
                        p->n_controls, p->controls ? "an" : "no", SDC_MAX_CONTROLS);
    for (int k = 0; k < p->n_controls; k++) {
        sdc_status st = check_control(ctx, m, k, &p->controls[k]);
        if (st != SDC_STATUS_OK)
            return st;
    }
    if (p->n_controls > 0 && req->mode == SDC_PIPE_MODE_INPAINT)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "ControlNets with inpainting (a mask) are not supported; ControlNets "
                        "work in text to image and image to image");

    /* 0 = the init image's size rounded down to a multiple of 8 (diffusers' img2img default),
     * else the first control image's (diffusers' ControlNet pipelines), else the model's. */
    const sdc_image *sized = p->init_image       ? p->init_image
                             : p->n_controls > 0 ? p->controls[0].image
                                                 : NULL;
    req->width = p->width ? p->width : sized ? sized->width / 8 * 8 : m->default_width;
    req->height = p->height ? p->height : sized ? sized->height / 8 * 8 : m->default_height;
    sdc_status st = check_size(ctx, "width", req->width);
    if (st == SDC_STATUS_OK)
        st = check_size(ctx, "height", req->height);
    if (st == SDC_STATUS_OK)
        st = check_sdxl_sizes(ctx, p, req);
    if (st == SDC_STATUS_OK && p->refiner)
        st = check_refiner(ctx, m, req);
    if (st != SDC_STATUS_OK)
        return st;
    req->refiner_start = p->refiner ? typed_value(p->refiner_start) : 1.0;
    req->n_images = p->image_count;
    req->latent_h = req->height / 8;
    req->latent_w = req->width / 8;
    req->guidance = p->guidance_scale > 1.0f;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Phases                                                                                     */

/* The prompts through `model`'s text encoders (both for SDXL, loaded together). */
static sdc_status encode_phase(sdc_generation *gen, const sdc_model *model,
                               const sdc_pipe_request *req, sdc_pipe_conditioning *cond)
{
    sdc_pipe_component te = {0}, te2 = {0};
    sdc_status st = SDC_STATUS_OK;
    if (model->has_text_encoder)
        st = sdc_pipe_component_acquire(gen->ctx, model, SDC_COMPONENT_TEXT_ENCODER, &te);
    if (st == SDC_STATUS_OK && model->has_text_encoder_2)
        st = sdc_pipe_component_acquire(gen->ctx, model, SDC_COMPONENT_TEXT_ENCODER_2, &te2);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_encode_prompts(gen->ctx, model, te.text_encoder, te2.text_encoder, req, cond);
    sdc_pipe_component_release(&te2);
    sdc_pipe_component_release(&te);
    return st;
}

static sdc_status init_phase(sdc_generation *gen, const sdc_pipe_request *req, sdc_scheduler *sched,
                             sdc_rng *rng, float *latents, sdc_pipe_inpaint *inpaint)
{
    sdc_pipe_component vae = {0};
    sdc_status st = SDC_STATUS_OK;
    if (req->mode != SDC_PIPE_MODE_TXT2IMG)
        st = sdc_pipe_component_acquire(gen->ctx, gen->model, SDC_COMPONENT_VAE, &vae);
    if (st == SDC_STATUS_OK)
        st =
            sdc_pipe_init_latents(gen->ctx, gen->model, vae.vae, req, sched, rng, latents, inpaint);
    sdc_pipe_component_release(&vae);
    return st;
}

/* One stage of the run: whose UNet, on which conditioning, over which calls of which
 * scheduler, with the request's ControlNets or not. */
typedef struct stage_plan {
    const sdc_model *model;
    const sdc_pipe_conditioning *cond;
    sdc_scheduler *sched;
    size_t first, end;
    bool controls;
} stage_plan;

/* The ControlNets of the request: their control images as [B, 3, H, W] tensors (B = the UNet's
 * batch), made before the loop. */
typedef struct control_set {
    sdc_pipe_controlnet *nets; /* [n] */
    int n;
    float *storage;
} control_set;

static void control_set_free(sdc_context *ctx, control_set *cs)
{
    sdc_free(ctx, cs->nets);
    sdc_free(ctx, cs->storage);
    memset(cs, 0, sizeof *cs);
}

static sdc_status control_phase(sdc_generation *gen, const sdc_pipe_request *req, control_set *cs)
{
    sdc_context *ctx = gen->ctx;
    const sdc_generation_params *p = req->params;
    memset(cs, 0, sizeof *cs);
    if (p->n_controls == 0)
        return SDC_STATUS_OK;
    const int64_t B = req->guidance ? 2 * req->n_images : req->n_images;
    const size_t plane = (size_t)req->width * (size_t)req->height, per = 3 * plane;
    cs->nets = sdc_calloc(ctx, (size_t)p->n_controls, sizeof *cs->nets);
    cs->storage = sdc_malloc(ctx, (size_t)p->n_controls * (size_t)B * per * sizeof(float));
    if (!cs->nets || !cs->storage) {
        control_set_free(ctx, cs);
        return sdc_fail_oom(ctx, "control images", (size_t)p->n_controls * (size_t)B * per * 4);
    }
    cs->n = p->n_controls;
    int64_t shape[4] = {B, 3, req->height, req->width};
    for (int k = 0; k < p->n_controls; k++) {
        const sdc_control *c = &p->controls[k];
        float *cond = cs->storage + (size_t)k * (size_t)B * per;
        sdc_status st =
            sdc_pipe_control_image_to_tensor(ctx, c->image, req->width, req->height, cond);
        if (st != SDC_STATUS_OK) {
            control_set_free(ctx, cs);
            return st;
        }
        /* prepare_image: repeat_interleave for the N images, torch.cat([image] * 2) for
         * guidance: every batch entry gets the same image */
        for (int64_t b = 1; b < B; b++)
            memcpy(cond + (size_t)b * per, cond, per * sizeof(float));
        cs->nets[k] = (sdc_pipe_controlnet){
            .cond = sdc_tensor_make(cond, SDC_DTYPE_F32, 4, shape),
            .scale = c->scale,
            .start = typed_value(c->start),
            .end = typed_value(c->end),
        };
    }
    return SDC_STATUS_OK;
}

/* One stage: its UNet (and ControlNets) loaded for it, a fixed arena sized for it, the loop. */
static sdc_status run_stage(sdc_generation *gen, const sdc_pipe_request *req,
                            const stage_plan *plan, control_set *cs, sdc_rng *rng, float *latents,
                            const sdc_pipe_inpaint *inpaint, int step_offset, int step_total,
                            double start_s)
{
    sdc_context *ctx = gen->ctx;
    const sdc_generation_params *p = req->params;
    sdc_pipe_component unet = {0};
    sdc_pipe_component nets[SDC_MAX_CONTROLS];
    int n_nets = plan->controls ? cs->n : 0;
    sdc_arena scratch = {0};
    memset(nets, 0, sizeof nets);
    sdc_status st = sdc_pipe_component_acquire(ctx, plan->model, SDC_COMPONENT_UNET, &unet);
    for (int k = 0; st == SDC_STATUS_OK && k < n_nets; k++) {
        st = sdc_pipe_component_acquire(ctx, p->controls[k].controlnet, SDC_COMPONENT_CONTROLNET,
                                        &nets[k]);
        if (st == SDC_STATUS_OK)
            cs->nets[k].net = nets[k].controlnet;
    }
    if (st != SDC_STATUS_OK)
        goto release;
    sdc_pipe_control control = {.nets = n_nets ? cs->nets : NULL, .n_nets = n_nets};
    sdc_pipe_stage stage = {
        .unet = unet.unet,
        .cond = plan->cond,
        .control = n_nets ? &control : NULL,
        .sched = plan->sched,
        .first_call = plan->first,
        .end_call = plan->end,
    };
    sdc_pipe_loop d = {
        .sched = plan->sched,
        .rng = rng,
        .latents = latents,
        .n = req->n_images,
        .channels = gen->model->vae_config.latent_channels,
        .h = req->latent_h,
        .w = req->latent_w,
        .guidance = req->guidance,
        .guidance_scale = p->guidance_scale,
        .stages = &stage,
        .n_stages = 1,
        .inpaint = req->mode == SDC_PIPE_MODE_INPAINT ? inpaint : NULL,
        .progress = {.fn = p->progress,
                     .user = p->progress_user,
                     .preview_every = p->preview_every,
                     .start_s = start_s,
                     .step_offset = step_offset,
                     .step_total = step_total},
    };
    sdc_pipe_preview_table(gen->model->family, &d.progress.preview_proj, &d.progress.preview_bias);
    size_t bytes = 0;
    st = sdc_pipe_denoise_scratch_bytes(ctx, &d, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_denoise(ctx, &d, &scratch);
release:
    sdc_arena_release(&scratch);
    for (int k = n_nets - 1; k >= 0; k--) {
        cs->nets[k].net = NULL;
        sdc_pipe_component_release(&nets[k]);
    }
    sdc_pipe_component_release(&unet);
    return st;
}

/* The stages one after another (the refiner's UNet is loaded after the base's is released). */
static sdc_status denoise_phase(sdc_generation *gen, const sdc_pipe_request *req,
                                const stage_plan *plans, int n_plans, control_set *cs, sdc_rng *rng,
                                float *latents, const sdc_pipe_inpaint *inpaint, double start_s)
{
    int total = 0, done = 0;
    for (int s = 0; s < n_plans; s++)
        total += (int)(plans[s].end - plans[s].first);
    for (int s = 0; s < n_plans; s++) {
        if (plans[s].end == plans[s].first)
            continue;
        sdc_status st =
            run_stage(gen, req, &plans[s], cs, rng, latents, inpaint, done, total, start_s);
        if (st != SDC_STATUS_OK)
            return st;
        done += (int)(plans[s].end - plans[s].first);
    }
    return SDC_STATUS_OK;
}

/* VAE decoder, one image at a time (GroupNorm is per image: the same numbers as diffusers'
 * batched call, with a batch-1 arena): latents / scaling_factor -> RGB8. */
static sdc_status decode_phase(sdc_generation *gen, const sdc_model *model,
                               const sdc_pipe_request *req, const float *latents)
{
    sdc_context *ctx = gen->ctx;
    const int64_t C = gen->model->vae_config.latent_channels, h = req->latent_h, w = req->latent_w,
                  H = req->height, W = req->width;
    const size_t per_latent = (size_t)(C * h * w), per_image = (size_t)(3 * H * W);
    sdc_pipe_component vae;
    sdc_arena scratch = {0};
    float *buf = NULL;
    sdc_status st = sdc_pipe_component_acquire(ctx, model, SDC_COMPONENT_VAE, &vae);
    if (st != SDC_STATUS_OK)
        return st;
    buf = sdc_malloc(ctx, (per_latent + per_image) * sizeof(float));
    if (!buf) {
        st = sdc_fail_oom(ctx, "VAE decoder input and output", (per_latent + per_image) * 4);
        goto done;
    }
    int64_t lshape[4] = {1, C, h, w}, ishape[4] = {1, 3, H, W};
    sdc_tensor z = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, lshape);
    sdc_tensor image = sdc_tensor_make(buf + per_latent, SDC_DTYPE_F32, 4, ishape);
    size_t bytes = 0;
    st = sdc_vae_decode_scratch_bytes(ctx, vae.vae, &z, &image, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes ? bytes : SDC_ALIGN);
    float scaling = sdc_vae_get_config(vae.vae)->scaling_factor;
    for (size_t i = 0; st == SDC_STATUS_OK && i < gen->n_images; i++) {
        for (size_t k = 0; k < per_latent; k++)
            buf[k] = latents[i * per_latent + k] / scaling;
        st = sdc_vae_decode(ctx, vae.vae, &scratch, &z, &image);
        if (st == SDC_STATUS_OK)
            sdc_pipe_tensor_to_rgb8(buf + per_latent, H, W, gen->images[i].pixels);
    }
done:
    sdc_arena_release(&scratch);
    sdc_free(ctx, buf);
    sdc_pipe_component_release(&vae);
    return st;
}

static sdc_status safety_phase(sdc_generation *gen)
{
    sdc_pipe_component sc;
    sdc_status st =
        sdc_pipe_component_acquire(gen->ctx, gen->model, SDC_COMPONENT_SAFETY_CHECKER, &sc);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_safety_check(gen->ctx, gen->model, sc.safety_checker, gen->images,
                                   (int64_t)gen->n_images, gen->nsfw);
    sdc_pipe_component_release(&sc);
    return st;
}

/* The results' memory: N images and their texts, and the final latents. */
static sdc_status alloc_results(sdc_generation *gen, const sdc_pipe_request *req, size_t numel)
{
    sdc_context *ctx = gen->ctx;
    size_t N = (size_t)req->n_images, pixels = (size_t)req->width * (size_t)req->height * 3;
    gen->images = sdc_calloc(ctx, N, sizeof *gen->images);
    gen->nsfw = sdc_calloc(ctx, N, sizeof *gen->nsfw);
    gen->parameters = sdc_calloc(ctx, N, sizeof *gen->parameters);
    gen->latents = sdc_malloc(ctx, numel * sizeof(float));
    if (!gen->images || !gen->nsfw || !gen->parameters || !gen->latents)
        return sdc_fail_oom(ctx, "generation results", numel * sizeof(float));
    gen->n_images = N;
    for (size_t i = 0; i < N; i++) {
        gen->images[i] = (sdc_image){.width = req->width,
                                     .height = req->height,
                                     .channels = 3,
                                     .pixels = sdc_malloc(ctx, pixels)};
        if (!gen->images[i].pixels)
            return sdc_fail_oom(ctx, "an image", pixels);
    }
    return SDC_STATUS_OK;
}

static sdc_rng_kind rng_kind(sdc_rng_source source)
{
    static const sdc_rng_kind kinds[] = {
        [SDC_RNG_SOURCE_NUMPY] = SDC_RNG_KIND_NUMPY,
        [SDC_RNG_SOURCE_TORCH] = SDC_RNG_KIND_TORCH,
        [SDC_RNG_SOURCE_PHILOX] = SDC_RNG_KIND_PHILOX,
    };
    static_assert(sizeof kinds / sizeof kinds[0] == SDC_RNG_SOURCE_COUNT, "one kind per source");
    return kinds[source];
}

sdc_status sdc_generation_run(sdc_generation *gen, const sdc_generation_params *params)
{
    sdc_context *ctx = gen->ctx;
    sdc_model *model = gen->model;
    sdc_pipe_request req;
    sdc_scheduler_config cfg;
    sdc_scheduler *sched = NULL, *refiner_sched = NULL;
    sdc_rng *rng = NULL;
    sdc_pipe_conditioning cond = {0}, refiner_cond = {0};
    sdc_pipe_inpaint inpaint = {0};
    control_set controls = {0};
    float *latents = NULL;
    double start_s = sdc_time_s();
    sdc_status st;

    clear_results(gen);
    gen->errmsg[0] = '\0';
    if (!params) {
        st = sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "generation: no parameters given");
        goto fail;
    }
    const sdc_model *refiner = params->refiner;
    st = check_request(gen, params, &req);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_scheduler_config(ctx, model, params->scheduler, &cfg);
    const char *scheduler_name = params->scheduler ? params->scheduler : model->default_scheduler;
    size_t numel =
        (size_t)(req.n_images * model->vae_config.latent_channels * req.latent_h * req.latent_w);
    if (st == SDC_STATUS_OK)
        st = sdc_scheduler_create(ctx, &cfg, params->steps, numel, &sched);
    if (st == SDC_STATUS_OK && req.mode != SDC_PIPE_MODE_TXT2IMG)
        st = sdc_scheduler_set_strength(sched, req.strength);
    /* The refiner's pipeline has its own scheduler: the same name from its own configuration,
     * the same steps, started where the base stops. */
    if (st == SDC_STATUS_OK && refiner)
        st = sdc_pipe_scheduler_config(ctx, refiner, params->scheduler, &cfg);
    if (st == SDC_STATUS_OK && refiner)
        st = sdc_scheduler_create(ctx, &cfg, params->steps, numel, &refiner_sched);
    if (st == SDC_STATUS_OK && refiner)
        st = sdc_scheduler_set_denoising_start(refiner_sched, req.refiner_start);
    if (st == SDC_STATUS_OK)
        st = sdc_rng_create(ctx, rng_kind(params->rng), params->seed, &rng);
    if (st != SDC_STATUS_OK)
        goto fail;
    if (gen->observer)
        sdc_rng_set_observer(rng, gen->observer, gen->observer_user);
    st = alloc_results(gen, &req, numel);
    if (st != SDC_STATUS_OK)
        goto fail;
    latents = gen->latents;

    stage_plan plans[2] = {
        {.model = model,
         .cond = &cond,
         .sched = sched,
         .first = sdc_scheduler_first_call(sched),
         .end = refiner ? sdc_scheduler_denoising_end_call(sched, req.refiner_start)
                        : sdc_scheduler_n_calls(sched),
         .controls = params->n_controls > 0},
        {.model = refiner,
         .cond = &refiner_cond,
         .sched = refiner_sched,
         .first = refiner ? sdc_scheduler_first_call(refiner_sched) : 0,
         .end = refiner ? sdc_scheduler_n_calls(refiner_sched) : 0},
    };
    st = encode_phase(gen, model, &req, &cond);
    if (st == SDC_STATUS_OK && refiner)
        st = encode_phase(gen, refiner, &req, &refiner_cond);
    if (st == SDC_STATUS_OK)
        st = init_phase(gen, &req, sched, rng, latents, &inpaint);
    if (st == SDC_STATUS_OK)
        st = control_phase(gen, &req, &controls);
    if (st == SDC_STATUS_OK)
        st = denoise_phase(gen, &req, plans, refiner ? 2 : 1, &controls, rng, latents, &inpaint,
                           start_s);
    sdc_pipe_conditioning_free(ctx, &cond);
    sdc_pipe_conditioning_free(ctx, &refiner_cond);
    sdc_pipe_inpaint_free(ctx, &inpaint);
    control_set_free(ctx, &controls);
    /* the refiner's pipeline decodes with its VAE */
    if (st == SDC_STATUS_OK)
        st = decode_phase(gen, refiner ? refiner : model, &req, latents);
    if (st == SDC_STATUS_OK && model->has_safety_checker && !params->disable_safety_checker)
        st = safety_phase(gen);
    for (size_t i = 0; st == SDC_STATUS_OK && i < gen->n_images; i++)
        st = sdc_pipe_parameters_text(ctx, model, &req, scheduler_name, (int64_t)i,
                                      &gen->parameters[i]);
    if (st != SDC_STATUS_OK)
        goto fail;
    gen->latent_shape[0] = req.n_images;
    gen->latent_shape[1] = model->vae_config.latent_channels;
    gen->latent_shape[2] = req.latent_h;
    gen->latent_shape[3] = req.latent_w;
    sdc_rng_destroy(rng);
    sdc_scheduler_destroy(refiner_sched);
    sdc_scheduler_destroy(sched);
    return SDC_STATUS_OK;
fail:
    snprintf(gen->errmsg, sizeof gen->errmsg, "%s", sdc_context_errmsg(ctx));
    sdc_pipe_conditioning_free(ctx, &cond);
    sdc_pipe_conditioning_free(ctx, &refiner_cond);
    sdc_pipe_inpaint_free(ctx, &inpaint);
    control_set_free(ctx, &controls);
    clear_results(gen);
    sdc_rng_destroy(rng);
    sdc_scheduler_destroy(refiner_sched);
    sdc_scheduler_destroy(sched);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Results                                                                                    */

size_t sdc_generation_image_count(const sdc_generation *gen)
{
    return gen->n_images;
}

const sdc_image *sdc_generation_image(const sdc_generation *gen, size_t index)
{
    return index < gen->n_images ? &gen->images[index] : NULL;
}

int sdc_generation_nsfw(const sdc_generation *gen, size_t index)
{
    return index < gen->n_images ? gen->nsfw[index] : 0;
}

const char *sdc_generation_parameters_text(const sdc_generation *gen, size_t index)
{
    return index < gen->n_images ? gen->parameters[index] : NULL;
}

const char *sdc_generation_errmsg(const sdc_generation *gen)
{
    return gen->errmsg;
}

void sdc_generation_set_rng_observer(sdc_generation *gen, sdc_rng_observer_fn fn, void *user)
{
    gen->observer = fn;
    gen->observer_user = user;
}

const float *sdc_generation_latents(const sdc_generation *gen, int64_t shape[4])
{
    if (!gen->latents)
        return NULL;
    memcpy(shape, gen->latent_shape, sizeof gen->latent_shape);
    return gen->latents;
}
