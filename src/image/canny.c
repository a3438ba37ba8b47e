/*
 * canny.c — Canny edge detection (J. Canny, 1986) for ControlNet preprocessing
 * (sdc_image_canny), following OpenCV 4's cv2.Canny(image, low, high) with apertureSize 3 and
 * L2gradient false in its steps: 3x3 Sobel with replicated borders, the L1 magnitude
 * |gx| + |gy|, non-maximum suppression along the gradient quantised to four directions (a
 * pixel must exceed one neighbour and be at least the other, so plateaus give one line), a
 * pixel above `high` starts an edge and 8-connected pixels above `low` continue it.
 * Deliberate differences, so not bit for bit OpenCV's: the image is first made gray (Pillow's
 * luma) where OpenCV takes the strongest channel, and an optional Gaussian blur (OpenCV's
 * GaussianBlur kernel size for the sigma, mirrored borders) runs first, kept in float.
 */
#include "image/image.h"

#include <math.h>
#include <string.h>

/* tan(22.5 degrees) and tan(67.5 degrees): the borders of the four directions. */
#define TAN_22_5 0.41421356237309503
#define TAN_67_5 2.414213562373095
#define MAX_RADIUS 32

sdc_canny_params sdc_canny_default_params(void)
{
    return (sdc_canny_params){.low_threshold = 100, .high_threshold = 200, .blur_sigma = 1.0f};
}

/* Pillow's convert("L") luma in fixed point; gray images as they are. */
static void to_gray(const sdc_image *image, float *gray)
{
    size_t n = (size_t)image->width * (size_t)image->height;
    int c = image->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = image->pixels + i * (size_t)c;
        uint32_t v = c < 3 ? p[0]
                           : ((uint32_t)p[0] * 19595u + (uint32_t)p[1] * 38470u +
                              (uint32_t)p[2] * 7471u + 0x8000u) >>
                                 16;
        gray[i] = (float)v;
    }
}

/* OpenCV's BORDER_REFLECT_101 index (…, 2, 1 | 0, 1, 2, … | n-2, n-3, …). */
static int reflect101(int i, int n)
{
    if (n == 1)
        return 0;
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

/* Separable Gaussian blur of src [h, w] into dst, using tmp [h, w]. The kernel has
 * 2 * radius + 1 taps, radius = (cvRound(sigma * 6 + 1) | 1) / 2 as OpenCV picks it for
 * 8-bit images, normalised to sum 1. */
static void blur(const float *src, float *tmp, float *dst, int w, int h, float sigma)
{
    int radius = ((int)lround((double)sigma * 6.0 + 1.0) | 1) / 2;
    if (radius > MAX_RADIUS)
        radius = MAX_RADIUS;
    double k[2 * MAX_RADIUS + 1], sum = 0.0;
    for (int i = -radius; i <= radius; i++) {
        k[i + radius] = exp(-(double)(i * i) / (2.0 * (double)sigma * (double)sigma));
        sum += k[i + radius];
    }
    float kf[2 * MAX_RADIUS + 1];
    for (int i = 0; i <= 2 * radius; i++)
        kf[i] = (float)(k[i] / sum);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float acc = 0.0f;
            for (int i = -radius; i <= radius; i++)
                acc += kf[i + radius] * src[(size_t)y * (size_t)w + (size_t)reflect101(x + i, w)];
            tmp[(size_t)y * (size_t)w + (size_t)x] = acc;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float acc = 0.0f;
            for (int i = -radius; i <= radius; i++)
                acc += kf[i + radius] * tmp[(size_t)reflect101(y + i, h) * (size_t)w + (size_t)x];
            dst[(size_t)y * (size_t)w + (size_t)x] = acc;
        }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Sobel gradients with replicated borders, their L1 magnitude into mag, and the direction
 * class of each pixel into dir: 0 horizontal gradient (compare left and right), 1 vertical
 * (up and down), 2 the diagonal where gx and gy agree in sign, 3 the other diagonal. */
static void gradients(const float *g, int w, int h, float *mag, uint8_t *dir)
{
    for (int y = 0; y < h; y++) {
        int ym = clampi(y - 1, 0, h - 1), yp = clampi(y + 1, 0, h - 1);
        for (int x = 0; x < w; x++) {
            int xm = clampi(x - 1, 0, w - 1), xp = clampi(x + 1, 0, w - 1);
#define G(yy, xx) g[(size_t)(yy) * (size_t)w + (size_t)(xx)]
            float gx = (G(ym, xp) + 2.0f * G(y, xp) + G(yp, xp)) -
                       (G(ym, xm) + 2.0f * G(y, xm) + G(yp, xm));
            float gy = (G(yp, xm) + 2.0f * G(yp, x) + G(yp, xp)) -
                       (G(ym, xm) + 2.0f * G(ym, x) + G(ym, xp));
#undef G
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            float ax = fabsf(gx), ay = fabsf(gy);
            mag[i] = ax + ay;
            dir[i] = (double)ay < (double)ax * TAN_22_5   ? 0
                     : (double)ay > (double)ax * TAN_67_5 ? 1
                     : (gx < 0.0f) == (gy < 0.0f)         ? 2
                                                          : 3;
        }
    }
}

sdc_status sdc_image_canny(sdc_context *ctx, const sdc_image *image,
                           const sdc_canny_params *params, sdc_image *out)
{
    memset(out, 0, sizeof *out);
    sdc_canny_params p = params ? *params : sdc_canny_default_params();
    if (!image || !image->pixels || image->width < 1 || image->height < 1 ||
        (image->channels != 1 && image->channels != 3 && image->channels != 4))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "canny: expected an image with pixels, a positive size and 1, 3 or 4 "
                        "channels");
    if (p.low_threshold < 0 || p.high_threshold < p.low_threshold)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "canny: thresholds %d and %d: expected 0 <= low <= high",
                        p.low_threshold, p.high_threshold);
    if (!(p.blur_sigma >= 0.0f && p.blur_sigma <= 10.0f))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "canny: blur sigma %g: expected 0 (none) to 10", (double)p.blur_sigma);
    const int w = image->width, h = image->height;
    size_t n, floats, rgb;
    if (!sdc_size_mul((size_t)w, (size_t)h, &n) || !sdc_size_mul(n, 3 * sizeof(float), &floats) ||
        !sdc_size_mul(n, 3, &rgb))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "canny: a %dx%d image is too large", w,
                        h);
    /* gray | temporary | blurred, then magnitude reuses the first; direction and marks */
    float *buf = sdc_malloc(ctx, floats);
    uint8_t *dir = sdc_malloc(ctx, n);
    size_t *stack = sdc_malloc(ctx, n * sizeof *stack);
    uint8_t *pixels = sdc_calloc(ctx, rgb, 1);
    sdc_status st = SDC_STATUS_OK;
    if (!buf || !dir || !stack || !pixels) {
        st = sdc_fail_oom(ctx, "canny edge detection", floats + n * (1 + sizeof *stack) + rgb);
        goto done;
    }
    float *gray = buf, *tmp = buf + n, *smooth = buf + 2 * n, *mag = buf;
    to_gray(image, gray);
    if (p.blur_sigma > 0.0f)
        blur(gray, tmp, smooth, w, h, p.blur_sigma);
    else
        memcpy(smooth, gray, n * sizeof *smooth);
    gradients(smooth, w, h, mag, dir);

    /* Non-maximum suppression and the two thresholds: dir becomes the mark (0 none, 1 weak,
     * 2 strong); the one-pixel frame is never an edge, as in OpenCV. */
    size_t top = 0;
    const float low = (float)p.low_threshold, high = (float)p.high_threshold;
    uint8_t *mark = dir;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            float m = mag[i];
            uint8_t d = dir[i];
            uint8_t out_mark = 0;
            if (x > 0 && y > 0 && x < w - 1 && y < h - 1 && m > low) {
                /* the two neighbours across the edge: "before" must be beaten, "after" matched */
                size_t before, after;
                switch (d) {
                case 0: before = i - 1, after = i + 1; break;
                case 1: before = i - (size_t)w, after = i + (size_t)w; break;
                case 2: before = i - (size_t)w - 1, after = i + (size_t)w + 1; break;
                default: before = i - (size_t)w + 1, after = i + (size_t)w - 1; break;
                }
                if (m > mag[before] && m >= mag[after])
                    out_mark = m > high ? 2 : 1;
            }
            /* dir[i] is read above before being overwritten; later pixels read only mag */
            mark[i] = out_mark;
            if (out_mark == 2)
                stack[top++] = i;
        }
    /* Hysteresis: from every strong pixel through 8-connected weak ones. */
    while (top > 0) {
        size_t i = stack[--top];
        pixels[i * 3] = pixels[i * 3 + 1] = pixels[i * 3 + 2] = 255;
        int y = (int)(i / (size_t)w), x = (int)(i % (size_t)w);
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int yy = y + dy, xx = x + dx;
                if ((dx == 0 && dy == 0) || yy < 0 || xx < 0 || yy >= h || xx >= w)
                    continue;
                size_t j = (size_t)yy * (size_t)w + (size_t)xx;
                if (mark[j] == 1) {
                    mark[j] = 2;
                    stack[top++] = j;
                }
            }
    }
    *out = (sdc_image){.width = w, .height = h, .channels = 3, .pixels = pixels};
    pixels = NULL;
done:
    sdc_free(ctx, pixels);
    sdc_free(ctx, stack);
    sdc_free(ctx, dir);
    sdc_free(ctx, buf);
    return st;
}
