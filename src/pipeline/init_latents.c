/*
 * init_latents.c — the starting latents and inpainting inputs with exactly diffusers 0.30.2's
 * draws in their order (prepare_latents of StableDiffusionPipeline, Img2Img: posterior sample,
 * noise; Inpaint: the image's posterior sample if needed, noise, the masked image's). Difference:
 * a 4-channel UNet never reads the masked image's latents, so only its draw is made.
 */
#include "pipeline/pipeline.h"

#include <math.h>
#include <string.h>

/* scaling_factor * latent_dist.sample() of image [1, 3, H, W]: mean + exp(0.5 logvar) * randn,
 * one draw of [1, C, h, w] (DiagonalGaussianDistribution.sample, then _encode_vae_image /
 * prepare_latents' scaling). out [1, C, h, w]. */
static sdc_status encode_sample(sdc_context *ctx, const sdc_vae *vae, const float *image,
                                int64_t height, int64_t width, sdc_rng *rng, float *out)
{
    const sdc_vae_config *vc = sdc_vae_get_config(vae);
    int64_t C = vc->latent_channels, h = height / 8, w = width / 8;
    size_t n = (size_t)(C * h * w);
    int64_t image_shape[4] = {1, 3, height, width}, latent_shape[4] = {1, C, h, w};
    sdc_tensor image_t = sdc_tensor_make((void *)image, SDC_DTYPE_F32, 4, image_shape);
    sdc_arena scratch = {0};
    float *buf = sdc_malloc(ctx, 3 * n * sizeof(float)); /* mean | logvar | noise */
    if (!buf)
        return sdc_fail_oom(ctx, "VAE posterior", 3 * n * sizeof(float));
    float *mean = buf, *logvar = buf + n, *noise = buf + 2 * n;
    sdc_tensor mean_t = sdc_tensor_make(mean, SDC_DTYPE_F32, 4, latent_shape);
    sdc_tensor logvar_t = sdc_tensor_make(logvar, SDC_DTYPE_F32, 4, latent_shape);
    size_t bytes = 0;
    sdc_status st = sdc_vae_encode_scratch_bytes(ctx, vae, &image_t, &mean_t, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes ? bytes : SDC_ALIGN);
    if (st == SDC_STATUS_OK)
        st = sdc_vae_encode(ctx, vae, &scratch, &image_t, &mean_t, &logvar_t);
    sdc_arena_release(&scratch);
    if (st == SDC_STATUS_OK)
        st = sdc_rng_normal(rng, noise, n);
    if (st == SDC_STATUS_OK) {
        float scaling = vc->scaling_factor;
        for (size_t i = 0; i < n; i++) {
            float std = expf(0.5f * logvar[i]);
            float x = mean[i] + std * noise[i];
            out[i] = scaling * x;
        }
    }
    sdc_free(ctx, buf);
    return st;
}

/* dst[N, ...] = N copies of src[1, ...] of `per_image` floats (tensor.repeat). */
static void repeat(float *dst, const float *src, size_t per_image, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + (size_t)i * per_image, src, per_image * sizeof *dst);
}

void sdc_pipe_inpaint_free(sdc_context *ctx, sdc_pipe_inpaint *inpaint)
{
    sdc_free(ctx, inpaint->storage);
    memset(inpaint, 0, sizeof *inpaint);
}

static sdc_status txt2img(sdc_context *ctx, const sdc_pipe_request *req, sdc_scheduler *sched,
                          sdc_rng *rng, float *latents, size_t numel)
{
    (void)ctx;
    (void)req;
    sdc_status st = sdc_rng_normal(rng, latents, numel);
    if (st != SDC_STATUS_OK)
        return st;
    float sigma = sdc_scheduler_init_noise_sigma(sched);
    for (size_t i = 0; i < numel; i++)
        latents[i] = latents[i] * sigma;
    return SDC_STATUS_OK;
}

static sdc_status img2img(sdc_context *ctx, const sdc_vae *vae, const sdc_pipe_request *req,
                          sdc_scheduler *sched, sdc_rng *rng, float *latents, size_t numel)
{
    size_t per_image = numel / (size_t)req->n_images;
    size_t pixels = 3 * (size_t)req->width * (size_t)req->height;
    float *image = sdc_malloc(ctx, (pixels + per_image + numel) * sizeof(float));
    if (!image)
        return sdc_fail_oom(ctx, "img2img inputs", (pixels + per_image + numel) * sizeof(float));
    float *init = image + pixels, *noise = init + per_image;
    sdc_status st =
        sdc_pipe_image_to_tensor(ctx, req->params->init_image, req->width, req->height, image);
    if (st == SDC_STATUS_OK)
        st = encode_sample(ctx, vae, image, req->height, req->width, rng, init);
    if (st == SDC_STATUS_OK)
        st = sdc_rng_normal(rng, noise, numel);
    if (st == SDC_STATUS_OK) {
        repeat(latents, init, per_image, req->n_images);
        st = sdc_scheduler_add_noise(sched, sdc_scheduler_first_call(sched), latents, noise,
                                     latents);
    }
    sdc_free(ctx, image);
    return st;
}

static sdc_status inpaint(sdc_context *ctx, const sdc_model *model, const sdc_vae *vae,
                          const sdc_pipe_request *req, sdc_scheduler *sched, sdc_rng *rng,
                          float *latents, size_t numel, sdc_pipe_inpaint *out)
{
    const int64_t N = req->n_images, H = req->height, W = req->width;
    const int64_t h = req->latent_h, w = req->latent_w;
    const size_t per_image = numel / (size_t)N, plane = (size_t)(H * W);
    const int unet_channels = (int)model->unet_config.in_channels;
    const bool strength_max = req->strength == 1.0;
    const bool blend = unet_channels != 9;

    /* Kept for the loop: mask [N, 1, h, w] and, for 9 channels, masked-image latents, for 4
     * channels the image latents and the noise (all [N, C, h, w]). */
    size_t kept = (size_t)N * (size_t)(h * w) + 2 * numel;
    /* Temporaries: the image and the masked image [3, H, W], the mask [H, W], one latent. */
    size_t temp = 2 * 3 * plane + plane + per_image;
    out->storage = sdc_malloc(ctx, (kept + temp) * sizeof(float));
    if (!out->storage)
        return sdc_fail_oom(ctx, "inpainting inputs", (kept + temp) * sizeof(float));
    out->unet_channels = unet_channels;
    out->mask = out->storage;
    float *latents_a = out->mask + (size_t)N * (size_t)(h * w); /* [N, C, h, w] */
    float *latents_b = latents_a + numel;                       /* [N, C, h, w] */
    float *image = latents_b + numel, *masked = image + 3 * plane, *mask = masked + 3 * plane;
    float *one = mask + plane;
    if (blend) {
        out->image_latents = latents_a;
        out->noise = latents_b;
    } else {
        out->masked_image_latents = latents_a;
    }
    float *noise = latents_b; /* for 9 channels only needed here */

    sdc_status st = sdc_pipe_image_to_tensor(ctx, req->params->init_image, (int)W, (int)H, image);
    if (st == SDC_STATUS_OK)
        st = sdc_pipe_mask_to_tensor(ctx, req->params->mask, (int)W, (int)H, mask);
    if (st != SDC_STATUS_OK)
        return st;

    /* prepare_latents: the image's latents when the loop blends with them or strength < 1 */
    float *image_latents = latents_a;
    if (blend || !strength_max) {
        st = encode_sample(ctx, vae, image, H, W, rng, one);
        if (st != SDC_STATUS_OK)
            return st;
        repeat(image_latents, one, per_image, N);
    }
    st = sdc_rng_normal(rng, noise, numel);
    if (st != SDC_STATUS_OK)
        return st;
    if (strength_max) {
        float sigma = sdc_scheduler_init_noise_sigma(sched);
        for (size_t i = 0; i < numel; i++)
            latents[i] = noise[i] * sigma;
    } else {
        st = sdc_scheduler_add_noise(sched, sdc_scheduler_first_call(sched), image_latents, noise,
                                     latents);
        if (st != SDC_STATUS_OK)
            return st;
    }

    /* prepare_mask_latents: the mask at latent size (interpolate, mode "nearest": pixel
     * 8y, 8x), and the masked image init_image * (mask < 0.5) through the VAE. */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            out->mask[y * w + x] = mask[(y * 8) * W + x * 8];
    repeat(out->mask + h * w, out->mask, (size_t)(h * w), N - 1);
    if (blend) {
        /* The masked image's latents go unused with 4 channels: make its draw only. */
        return sdc_rng_normal(rng, one, per_image);
    }
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            masked[c * plane + i] = image[c * plane + i] * (mask[i] < 0.5f ? 1.0f : 0.0f);
    st = encode_sample(ctx, vae, masked, H, W, rng, one);
    if (st == SDC_STATUS_OK)
        repeat(out->masked_image_latents, one, per_image, N);
    return st;
}

sdc_status sdc_pipe_init_latents(sdc_context *ctx, const sdc_model *model, const sdc_vae *vae,
                                 const sdc_pipe_request *req, sdc_scheduler *sched, sdc_rng *rng,
                                 float *latents, sdc_pipe_inpaint *inpaint_out)
{
    size_t numel =
        (size_t)(req->n_images * model->vae_config.latent_channels * req->latent_h * req->latent_w);
    memset(inpaint_out, 0, sizeof *inpaint_out);
    sdc_status st;
    switch (req->mode) {
    case SDC_PIPE_MODE_IMG2IMG:
        st = img2img(ctx, vae, req, sched, rng, latents, numel);
        break;
    case SDC_PIPE_MODE_INPAINT:
        st = inpaint(ctx, model, vae, req, sched, rng, latents, numel, inpaint_out);
        if (st != SDC_STATUS_OK)
            sdc_pipe_inpaint_free(ctx, inpaint_out);
        break;
    default:
        st = txt2img(ctx, req, sched, rng, latents, numel);
        break;
    }
    return st;
}
