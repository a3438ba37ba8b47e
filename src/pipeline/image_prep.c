/*
 * image_prep.c — 8-bit images to VAE tensors and back, as diffusers 0.30.2's VaeImageProcessor
 * does for PIL images: Pillow's Lanczos (src/image) only when the size differs, masks to gray
 * (convert("L")) after resizing and binarized, [-1, 1] images, ControlNet images in [0, 1],
 * numpy_to_pil's rounding.
 * Difference: RGBA and gray images are made RGB first (diffusers would pass 4 or 1 channels).
 */
#include "image/image.h"
#include "pipeline/pipeline.h"

#include <math.h>
#include <string.h>

/* A copy of `image` as `channels` (1 or 3) interleaved channels: RGB from gray replicates,
 * from RGBA drops alpha (PIL's convert("RGB")); gray from RGB is ITU-R 601-2 luma in
 * Pillow's fixed point, (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
static sdc_status convert(sdc_context *ctx, const sdc_image *image, int channels, sdc_image *out)
{
    size_t n = (size_t)image->width * (size_t)image->height;
    memset(out, 0, sizeof *out);
    out->pixels = sdc_malloc(ctx, n * (size_t)channels);
    if (!out->pixels)
        return sdc_fail_oom(ctx, "an image copy", n * (size_t)channels);
    out->width = image->width;
    out->height = image->height;
    out->channels = channels;
    int c_in = image->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = image->pixels + i * (size_t)c_in;
        uint8_t *d = out->pixels + i * (size_t)channels;
        uint8_t r = s[0], g = c_in >= 3 ? s[1] : s[0], b = c_in >= 3 ? s[2] : s[0];
        if (channels == 3) {
            d[0] = r;
            d[1] = g;
            d[2] = b;
        } else {
            d[0] = c_in == 1 ? r
                             : (uint8_t)(((uint32_t)r * 19595u + (uint32_t)g * 38470u +
                                          (uint32_t)b * 7471u + 0x8000u) >>
                                         16);
        }
    }
    return SDC_STATUS_OK;
}

static sdc_status check_image(sdc_context *ctx, const char *what, const sdc_image *image)
{
    if (!image || !image->pixels || image->width < 1 || image->height < 1 ||
        (image->channels != 1 && image->channels != 3 && image->channels != 4))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: expected an image with pixels, a positive size and 1, 3 or 4 "
                        "channels",
                        what);
    return SDC_STATUS_OK;
}

/* `image` as `channels` channels at width x height: converted first (to RGB, or to gray for
 * a gray source), resized when needed, and for a gray result from colour converted after
 * resizing, in diffusers' order. */
static sdc_status prepare(sdc_context *ctx, const sdc_image *image, int channels, int width,
                          int height, sdc_image *out)
{
    sdc_image rgb = {0}, resized = {0};
    /* Resize in the source's own layout where Pillow would (L or RGB), else as RGB. */
    int resample_channels = image->channels == 1 ? 1 : 3;
    sdc_status st = convert(ctx, image, resample_channels, &rgb);
    if (st != SDC_STATUS_OK)
        return st;
    if (rgb.width != width || rgb.height != height) {
        st = sdc_resize_rgb8(ctx, &rgb, width, height, SDC_RESIZE_FILTER_LANCZOS, &resized);
        sdc_image_free(ctx, &rgb);
        if (st != SDC_STATUS_OK)
            return st;
        rgb = resized;
    }
    if (rgb.channels == channels) {
        *out = rgb;
        return SDC_STATUS_OK;
    }
    st = convert(ctx, &rgb, channels, out);
    sdc_image_free(ctx, &rgb);
    return st;
}

sdc_status sdc_pipe_image_to_tensor(sdc_context *ctx, const sdc_image *image, int width, int height,
                                    float *out)
{
    sdc_status st = check_image(ctx, "init image", image);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_image rgb;
    st = prepare(ctx, image, 3, width, height, &rgb);
    if (st != SDC_STATUS_OK)
        return st;
    /* np.array(image).astype(float32) / 255.0, then torch's 2.0 * x - 1.0, in float32 */
    size_t plane = (size_t)width * (size_t)height;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = (float)rgb.pixels[i * 3 + (size_t)c] / 255.0f;
            out[(size_t)c * plane + i] = 2.0f * x - 1.0f;
        }
    sdc_image_free(ctx, &rgb);
    return SDC_STATUS_OK;
}

sdc_status sdc_pipe_control_image_to_tensor(sdc_context *ctx, const sdc_image *image, int width,
                                            int height, float *out)
{
    sdc_status st = check_image(ctx, "control image", image);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_image rgb;
    st = prepare(ctx, image, 3, width, height, &rgb);
    if (st != SDC_STATUS_OK)
        return st;
    /* pil_to_numpy: np.array(image).astype(np.float32) / 255.0; no normalisation */
    size_t plane = (size_t)width * (size_t)height;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            out[(size_t)c * plane + i] = (float)rgb.pixels[i * 3 + (size_t)c] / 255.0f;
    sdc_image_free(ctx, &rgb);
    return SDC_STATUS_OK;
}

sdc_status sdc_pipe_mask_to_tensor(sdc_context *ctx, const sdc_image *mask, int width, int height,
                                   float *out)
{
    sdc_status st = check_image(ctx, "mask", mask);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_image gray;
    st = prepare(ctx, mask, 1, width, height, &gray);
    if (st != SDC_STATUS_OK)
        return st;
    size_t plane = (size_t)width * (size_t)height;
    for (size_t i = 0; i < plane; i++)
        out[i] = (float)gray.pixels[i] / 255.0f < 0.5f ? 0.0f : 1.0f;
    sdc_image_free(ctx, &gray);
    return SDC_STATUS_OK;
}

void sdc_pipe_tensor_to_rgb8(const float *chw, int64_t height, int64_t width, uint8_t *rgb)
{
    int64_t plane = height * width;
    for (int64_t i = 0; i < plane; i++)
        for (int64_t c = 0; c < 3; c++) {
            /* (image / 2 + 0.5).clamp(0, 1), then numpy's (x * 255).round() (half to even) */
            float v = chw[c * plane + i] / 2.0f + 0.5f;
            v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN becomes 0 */
            rgb[i * 3 + c] = (uint8_t)nearbyintf(v * 255.0f);
        }
}
