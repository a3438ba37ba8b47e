/*
 * generation.c — the public generation API: checks a request against the model, then runs the
 * phases of diffusers 0.30.2's StableDiffusion(Img2Img|Inpaint)Pipeline.__call__ in order —
 * prompts, starting latents, the denoising loop, decoding, the safety checker — each phase
 * loading its component (reduce_memory) and taking its activations from a fixed arena sized
 * before it starts. On failure nothing is kept.
 */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGE_COUNT 64
#define MAX_STEPS       1000
#define MAX_SIDE        16384

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
    };
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
    if (p->clip_skip < 0 || p->clip_skip > m->text_config.n_layers)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "clip skip %d: expected 0 to %d (the text encoder has %d layers)",
                        p->clip_skip, m->text_config.n_layers, m->text_config.n_layers);
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
        if (images[i] &&
            (!images[i]->pixels || images[i]->width < 1 || images[i]->height < 1 ||
             images[i]->width > MAX_SIDE || images[i]->height > MAX_SIDE ||
             (images[i]->channels != 1 && images[i]->channels != 3 && images[i]->channels != 4)))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: %dx%d with %d channels: expected pixels, sides of 1 to %d and "
                            "1, 3 or 4 channels",
                            names[i], images[i]->width, images[i]->height, images[i]->channels,
                            MAX_SIDE);
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

    /* 0 = the init image's size rounded down to a multiple of 8 (diffusers' img2img default),
     * else the model's. */
    req->width = p->width        ? p->width
                 : p->init_image ? p->init_image->width / 8 * 8
                                 : m->default_width;
    req->height = p->height       ? p->height
                  : p->init_image ? p->init_image->height / 8 * 8
                                  : m->default_height;
    sdc_status st = check_size(ctx, "width", req->width);
    if (st == SDC_STATUS_OK)
        st = check_size(ctx, "height", req->height);
    if (st != SDC_STATUS_OK)
        return st;
    req->n_images = p->image_count;
    req->latent_h = req->height / 8;
    req->latent_w = req->width / 8;
    req->guidance = p->guidance_scale > 1.0f;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Phases                                                                                     */

static sdc_status encode_phase(sdc_generation *gen, const sdc_pipe_request *req,
                               sdc_pipe_conditioning *cond)
{
    sdc_pipe_component te;
    sdc_status st =
        sdc_pipe_component_acquire(gen->ctx, gen->model, SDC_COMPONENT_TEXT_ENCODER, &te);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_encode_prompts(gen->ctx, gen->model, te.text_encoder, req, cond);
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

static sdc_status denoise_phase(sdc_generation *gen, const sdc_pipe_request *req,
                                const sdc_pipe_conditioning *cond, sdc_scheduler *sched,
                                sdc_rng *rng, float *latents, const sdc_pipe_inpaint *inpaint,
                                double start_s)
{
    sdc_context *ctx = gen->ctx;
    const sdc_generation_params *p = req->params;
    sdc_pipe_component unet;
    sdc_arena scratch = {0};
    sdc_status st = sdc_pipe_component_acquire(ctx, gen->model, SDC_COMPONENT_UNET, &unet);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_pipe_stage stage = {
        .unet = unet.unet, .cond = cond, .control = NULL, .end_call = sdc_scheduler_n_calls(sched)};
    sdc_pipe_loop d = {
        .sched = sched,
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
                     .start_s = start_s},
    };
    sdc_pipe_preview_table(gen->model->family, &d.progress.preview_proj, &d.progress.preview_bias);
    size_t bytes = 0;
    st = sdc_pipe_denoise_scratch_bytes(ctx, &d, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_denoise(ctx, &d, &scratch);
    sdc_arena_release(&scratch);
    sdc_pipe_component_release(&unet);
    return st;
}

/* VAE decoder, one image at a time (GroupNorm is per image: the same numbers as diffusers'
 * batched call, with a batch-1 arena): latents / scaling_factor -> RGB8. */
static sdc_status decode_phase(sdc_generation *gen, const sdc_pipe_request *req,
                               const float *latents)
{
    sdc_context *ctx = gen->ctx;
    const int64_t C = gen->model->vae_config.latent_channels, h = req->latent_h, w = req->latent_w,
                  H = req->height, W = req->width;
    const size_t per_latent = (size_t)(C * h * w), per_image = (size_t)(3 * H * W);
    sdc_pipe_component vae;
    sdc_arena scratch = {0};
    float *buf = NULL;
    sdc_status st = sdc_pipe_component_acquire(ctx, gen->model, SDC_COMPONENT_VAE, &vae);
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
    sdc_scheduler *sched = NULL;
    sdc_rng *rng = NULL;
    sdc_pipe_conditioning cond = {0};
    sdc_pipe_inpaint inpaint = {0};
    float *latents = NULL;
    double start_s = sdc_time_s();
    sdc_status st;

    clear_results(gen);
    gen->errmsg[0] = '\0';
    if (!params) {
        st = sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "generation: no parameters given");
        goto fail;
    }
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

    st = encode_phase(gen, &req, &cond);
    if (st == SDC_STATUS_OK)
        st = init_phase(gen, &req, sched, rng, latents, &inpaint);
    if (st == SDC_STATUS_OK)
        st = denoise_phase(gen, &req, &cond, sched, rng, latents, &inpaint, start_s);
    sdc_pipe_conditioning_free(ctx, &cond);
    sdc_pipe_inpaint_free(ctx, &inpaint);
    if (st == SDC_STATUS_OK)
        st = decode_phase(gen, &req, latents);
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
    sdc_scheduler_destroy(sched);
    return SDC_STATUS_OK;
fail:
    snprintf(gen->errmsg, sizeof gen->errmsg, "%s", sdc_context_errmsg(ctx));
    sdc_pipe_conditioning_free(ctx, &cond);
    sdc_pipe_inpaint_free(ctx, &inpaint);
    clear_results(gen);
    sdc_rng_destroy(rng);
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
