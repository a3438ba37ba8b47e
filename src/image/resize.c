/*
 * resize.c — Pillow 10.4's convolution resampling of 8-bit images (libImaging/Resample.c:
 * precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal/Vertical_8bpc,
 * ImagingResampleInner), reproduced bit for bit for Image.resize without box or reducing_gap.
 * The arithmetic follows Pillow's order step by step (weights in double, 22-bit fixed point,
 * a rounding bias of half, clipping per pass); accumulators are 64-bit where Pillow's are int,
 * which gives the same values wherever Pillow's do not overflow.
 */
#include "image/image.h"

#include <math.h>
#include <string.h>

/* Pillow's fixed-point precision of 8-bit resampling: 32 - 8 - 2 bits. */
#define PRECISION_BITS 22
/* M_PI as glibc defines it (C11 has no pi). */
#define PI 3.14159265358979323846

static double box_filter(double x)
{
    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x == 0.0)
        return 1.0;
    if (x >= 1.0)
        return 0.0;
    x = x * PI;
    /* Pillow writes the constants as floats: 0.54f, 0.46f. */
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    if (-3.0 <= x && x < 3.0)
        return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

typedef struct resample_filter {
    const char *name;
    int pil; /* PIL.Image.Resampling value */
    double (*fn)(double);
    double support; /* half-width at scale 1 */
} resample_filter;

static const resample_filter filters[] = {
    [SDC_RESIZE_FILTER_BOX] = {"box", 4, box_filter, 0.5},
    [SDC_RESIZE_FILTER_BILINEAR] = {"bilinear", 2, bilinear_filter, 1.0},
    [SDC_RESIZE_FILTER_HAMMING] = {"hamming", 5, hamming_filter, 1.0},
    [SDC_RESIZE_FILTER_BICUBIC] = {"bicubic", 3, bicubic_filter, 2.0},
    [SDC_RESIZE_FILTER_LANCZOS] = {"lanczos", 1, lanczos_filter, 3.0},
};
static_assert(sizeof filters / sizeof filters[0] == SDC_RESIZE_FILTER_COUNT,
              "one entry per sdc_resize_filter");

bool sdc_resize_filter_from_pil(int64_t resample, sdc_resize_filter *out)
{
    for (int f = 0; f < SDC_RESIZE_FILTER_COUNT; f++)
        if (filters[f].pil == resample) {
            *out = (sdc_resize_filter)f;
            return true;
        }
    return false;
}

bool sdc_resize_filter_from_name(const char *name, sdc_resize_filter *out)
{
    if (strcmp(name, "linear") == 0) {
        *out = SDC_RESIZE_FILTER_BILINEAR;
        return true;
    }
    for (int f = 0; f < SDC_RESIZE_FILTER_COUNT; f++)
        if (strcmp(filters[f].name, name) == 0) {
            *out = (sdc_resize_filter)f;
            return true;
        }
    return false;
}

const char *sdc_resize_filter_name(sdc_resize_filter filter)
{
    return (unsigned)filter < SDC_RESIZE_FILTER_COUNT ? filters[filter].name : "unknown";
}

/* ---------------------------------------------------------------------------------------- */
/* Coefficients (precompute_coeffs + normalize_coeffs_8bpc)                                    */

/* For each output position o of one axis: source positions [first[o], first[o] + count[o])
 * and their fixed-point weights k[o * ksize + i]. */
typedef struct axis_coeffs {
    int ksize;
    int *first;
    int *count;
    int32_t *k;
} axis_coeffs;

static void axis_coeffs_free(sdc_context *ctx, axis_coeffs *a)
{
    sdc_free(ctx, a->first);
    sdc_free(ctx, a->count);
    sdc_free(ctx, a->k);
    memset(a, 0, sizeof *a);
}

static sdc_status axis_coeffs_make(sdc_context *ctx, const resample_filter *filter, int in_size,
                                   int out_size, axis_coeffs *a)
{
    memset(a, 0, sizeof *a);
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter->support * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    size_t n_k = 0;
    double *w = NULL;
    if (!sdc_size_mul((size_t)out_size, (size_t)a->ksize, &n_k))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "resize: %d -> %d pixels needs too many filter weights", in_size, out_size);
    a->first = sdc_calloc(ctx, (size_t)out_size, sizeof *a->first);
    a->count = sdc_calloc(ctx, (size_t)out_size, sizeof *a->count);
    a->k = sdc_calloc(ctx, n_k, sizeof *a->k);
    w = sdc_calloc(ctx, (size_t)a->ksize, sizeof *w);
    if (!a->first || !a->count || !a->k || !w) {
        sdc_free(ctx, w);
        axis_coeffs_free(ctx, a);
        return sdc_fail_oom(ctx, "resize filter weights", n_k * (sizeof(int32_t) + 8));
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter->fn((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = a->k + (size_t)o * (size_t)a->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            /* Round half away from zero into fixed point. */
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        a->first[o] = xmin;
        a->count[o] = xmax;
    }
    sdc_free(ctx, w);
    return SDC_STATUS_OK;
}

/* Pillow's clip8: the accumulator's integer part, clipped to [0, 255]. */
static inline uint8_t clip8(int64_t acc)
{
    if (acc < 0)
        return 0;
    acc >>= PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* ---------------------------------------------------------------------------------------- */
/* The two passes                                                                              */

typedef struct pass_job {
    const uint8_t *src;
    int src_w;
    uint8_t *dst;
    int dst_w;
    int channels;
    int row_offset; /* horizontal pass: source row of output row 0 */
    const axis_coeffs *a;
} pass_job;

/* Output rows [begin, end): each pixel from `count` neighbours on its source row. */
static void horizontal_rows(void *arg, int64_t begin, int64_t end, int thread)
{
    const pass_job *j = arg;
    const int C = j->channels, ksize = j->a->ksize;
    (void)thread;
    for (int64_t y = begin; y < end; y++) {
        const uint8_t *in = j->src + (size_t)(y + j->row_offset) * (size_t)j->src_w * (size_t)C;
        uint8_t *out = j->dst + (size_t)y * (size_t)j->dst_w * (size_t)C;
        for (int xx = 0; xx < j->dst_w; xx++) {
            const int32_t *k = j->a->k + (size_t)xx * (size_t)ksize;
            const uint8_t *p = in + (size_t)j->a->first[xx] * (size_t)C;
            for (int c = 0; c < C; c++) {
                int64_t acc = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < j->a->count[xx]; x++)
                    acc += (int64_t)p[x * C + c] * k[x];
                out[xx * C + c] = clip8(acc);
            }
        }
    }
}

/* Output rows [begin, end): each pixel from `count` neighbours on its source column. */
static void vertical_rows(void *arg, int64_t begin, int64_t end, int thread)
{
    const pass_job *j = arg;
    const size_t row = (size_t)j->src_w * (size_t)j->channels;
    (void)thread;
    for (int64_t yy = begin; yy < end; yy++) {
        const int32_t *k = j->a->k + (size_t)yy * (size_t)j->a->ksize;
        const uint8_t *in = j->src + (size_t)j->a->first[yy] * row;
        uint8_t *out = j->dst + (size_t)yy * row;
        for (size_t i = 0; i < row; i++) {
            int64_t acc = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < j->a->count[yy]; y++)
                acc += (int64_t)in[(size_t)y * row + i] * k[y];
            out[i] = clip8(acc);
        }
    }
}

static uint8_t *alloc_pixels(sdc_context *ctx, int w, int h, int channels, size_t *bytes)
{
    size_t n = 0;
    if (!sdc_size_mul((size_t)w, (size_t)h, &n) || !sdc_size_mul(n, (size_t)channels, &n))
        return NULL;
    *bytes = n;
    return sdc_malloc(ctx, n);
}

sdc_status sdc_resize_rgb8(sdc_context *ctx, const sdc_image *src, int dst_w, int dst_h,
                           sdc_resize_filter filter, sdc_image *out)
{
    sdc_status st = SDC_STATUS_OK;
    axis_coeffs horiz = {0}, vert = {0};
    uint8_t *temp = NULL, *pixels = NULL;
    size_t bytes = 0;
    memset(out, 0, sizeof *out);
    if (!src || !src->pixels)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "resize: no source image");
    if ((unsigned)filter >= SDC_RESIZE_FILTER_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "resize: unknown filter %d", (int)filter);
    if (src->channels == 4 || src->channels == 2)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "resize: a %d-channel image (with alpha); Pillow resamples those "
                        "premultiplied, which sdc does not: convert to RGB first",
                        src->channels);
    if (src->channels != 1 && src->channels != 3)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "resize: an image of %d channels; expected 1 (gray) or 3 (RGB)",
                        src->channels);
    if (src->width < 1 || src->height < 1 || src->width > SDC_RESIZE_MAX_SIDE ||
        src->height > SDC_RESIZE_MAX_SIDE || dst_w < 1 || dst_h < 1 ||
        dst_w > SDC_RESIZE_MAX_SIDE || dst_h > SDC_RESIZE_MAX_SIDE)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "resize: %d x %d -> %d x %d; every side must be in [1, %d]", src->width,
                        src->height, dst_w, dst_h, SDC_RESIZE_MAX_SIDE);

    const resample_filter *f = &filters[filter];
    const int C = src->channels;
    bool need_horizontal = dst_w != src->width, need_vertical = dst_h != src->height;

    pixels = alloc_pixels(ctx, dst_w, dst_h, C, &bytes);
    if (!pixels) {
        st = sdc_fail_oom(ctx, "resized image", (size_t)dst_w * (size_t)dst_h * (size_t)C);
        goto cleanup;
    }
    if (!need_horizontal && !need_vertical) {
        memcpy(pixels, src->pixels, bytes);
        goto done;
    }

    /* The vertical weights first: they say which source rows the horizontal pass needs. */
    const uint8_t *rows = src->pixels;
    int rows_w = src->width;
    if (need_vertical) {
        st = axis_coeffs_make(ctx, f, src->height, dst_h, &vert);
        if (st != SDC_STATUS_OK)
            goto cleanup;
    }
    if (need_horizontal) {
        int first_row = 0, last_row = src->height;
        if (need_vertical) {
            first_row = vert.first[0];
            last_row = vert.first[dst_h - 1] + vert.count[dst_h - 1];
            for (int i = 0; i < dst_h; i++)
                vert.first[i] -= first_row;
        }
        st = axis_coeffs_make(ctx, f, src->width, dst_w, &horiz);
        if (st != SDC_STATUS_OK)
            goto cleanup;
        uint8_t *h_out = pixels;
        if (need_vertical) {
            temp = alloc_pixels(ctx, dst_w, last_row - first_row, C, &bytes);
            if (!temp) {
                st = sdc_fail_oom(ctx, "resize: horizontally resampled rows",
                                  (size_t)dst_w * (size_t)(last_row - first_row) * (size_t)C);
                goto cleanup;
            }
            h_out = temp;
        }
        pass_job job = {.src = src->pixels,
                        .src_w = src->width,
                        .dst = h_out,
                        .dst_w = dst_w,
                        .channels = C,
                        .row_offset = first_row,
                        .a = &horiz};
        sdc_parallel_for(ctx, last_row - first_row, 0, horizontal_rows, &job);
        rows = h_out;
        rows_w = dst_w;
    }
    if (need_vertical) {
        pass_job job = {.src = rows,
                        .src_w = rows_w,
                        .dst = pixels,
                        .dst_w = rows_w,
                        .channels = C,
                        .a = &vert};
        sdc_parallel_for(ctx, dst_h, 0, vertical_rows, &job);
    }

done:
    out->width = dst_w;
    out->height = dst_h;
    out->channels = C;
    out->pixels = pixels;
    pixels = NULL;
cleanup:
    sdc_free(ctx, pixels);
    sdc_free(ctx, temp);
    axis_coeffs_free(ctx, &horiz);
    axis_coeffs_free(ctx, &vert);
    return st;
}
