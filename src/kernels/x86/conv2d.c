/*
 * conv2d.c — torch.nn.functional.conv2d (groups 1, dilation 1, zero padding) as an implicit GEMM:
 * y[n][O, P] = w[O, C kh kw] . im2col(x[n])[C kh kw, P] + bias. The weights are the broadcast
 * operand (decoded per tile through the decode hook); the im2col operand is never built whole:
 * each sliver of NR output pixels is gathered for one k block straight from x while packing.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>
#include <string.h>

typedef struct conv_src {
    const float *x;
    int64_t C, H, W, kh, kw, Ho, Wo;
    int64_t sh, sw, ph, pw;
} conv_src;

/* A run of a sliver's lanes that lie on one output row. */
typedef struct segment {
    int lane, len;
    int64_t oy, ox;
} segment;

/* d[0, n) = s[0, n) for the short runs of one sliver (a libc call costs more than the copy);
 * tails by plain stores, VMASKMOVPS stores being slow on AMD cores. */
static inline void copy_run(float *d, const float *s, int64_t n)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
    for (; j < n; j++)
        d[j] = s[j];
}

static inline void zero_run(float *d, int64_t n)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(d + j, _mm256_setzero_ps());
    for (; j < n; j++)
        d[j] = 0.0f;
}

/* Fills d[0, width) with the values of tap (c, ky, kx) for the sliver's pixels. */
static void gather_tap(const conv_src *s, const float *xn, const segment *segs, int n_segs,
                       int width, int64_t c, int64_t ky, int64_t kx, float *d)
{
    int end = 0;
    for (int si = 0; si < n_segs; si++) {
        const segment *g = &segs[si];
        float *out = d + g->lane;
        end = g->lane + g->len;
        int64_t iy = g->oy * s->sh - s->ph + ky;
        if (iy < 0 || iy >= s->H) {
            zero_run(out, g->len);
            continue;
        }
        const float *row = xn + (c * s->H + iy) * s->W;
        if (s->sw == 1) {
            /* Lane j reads ix = base + j: no division, the in-range part copied whole. */
            int64_t base = g->ox - s->pw + kx;
            int64_t lo = base < 0 ? -base : 0, hi = s->W - base;
            if (hi > g->len)
                hi = g->len;
            if (hi < 0)
                hi = 0;
            if (lo > hi)
                lo = hi;
            zero_run(out, lo);
            copy_run(out + lo, row + base + lo, hi - lo);
            zero_run(out + hi, g->len - hi);
            continue;
        }
        /* ix = (ox + j) * sw - pw + kx must lie in [0, W). */
        int64_t first = s->pw - kx - g->ox * s->sw; /* smallest j * sw allowed */
        int64_t lo = first <= 0 ? 0 : (first + s->sw - 1) / s->sw;
        int64_t last = s->W - 1 + s->pw - kx - g->ox * s->sw; /* largest j * sw allowed */
        int64_t hi = last < 0 ? 0 : last / s->sw + 1;
        if (hi > g->len)
            hi = g->len;
        if (lo > hi)
            lo = hi;
        for (int64_t j = 0; j < lo; j++)
            out[j] = 0.0f;
        const float *src = row + (g->ox + lo) * s->sw - s->pw + kx;
        for (int64_t j = lo; j < hi; j++)
            out[j] = src[(j - lo) * s->sw];
        for (int64_t j = hi; j < g->len; j++)
            out[j] = 0.0f;
    }
    for (int j = end; j < width; j++)
        d[j] = 0.0f;
}

static void pack_im2col(const void *src_, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                        int64_t k0, int64_t kc, void *dst, float *tmp)
{
    const conv_src *s = src_;
    int64_t P = s->Ho * s->Wo;
    int64_t b = i0 / P, p0 = i0 % P;
    const float *xn = s->x + b * s->C * s->H * s->W;
    /* float32 ISAs take the gathered [k][width] layout as it is; bf16 packs it after. */
    float *d = isa->kpair == 1 ? dst : tmp;

    if (s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->ph == 0 && s->pw == 0) {
        for (int64_t k = 0; k < kc; k++) {
            copy_run(d + k * width, xn + (k0 + k) * P + p0, n);
            zero_run(d + k * width + n, width - n);
        }
    } else {
        segment segs[SDC_X86_MAX_NR];
        int n_segs = 0;
        for (int64_t j = 0; j < n;) {
            int64_t p = p0 + j, oy = p / s->Wo, ox = p % s->Wo;
            int64_t len = s->Wo - ox < n - j ? s->Wo - ox : n - j;
            segs[n_segs++] = (segment){.lane = (int)j, .len = (int)len, .oy = oy, .ox = ox};
            j += len;
        }
        int64_t kk = s->kh * s->kw;
        int64_t c = k0 / kk, ky = k0 % kk / s->kw, kx = k0 % s->kw;
        for (int64_t k = 0; k < kc; k++) {
            gather_tap(s, xn, segs, n_segs, width, c, ky, kx, d + k * width);
            if (++kx == s->kw) {
                kx = 0;
                if (++ky == s->kh) {
                    ky = 0;
                    c++;
                }
            }
        }
    }
    int64_t kcp = sdc_x86_kc_padded(isa, kc);
    if (isa->kpair == 1) {
        if (kcp > kc)
            memset(d + kc * width, 0, (size_t)((kcp - kc) * width) * sizeof(float));
    } else {
        isa->pack(tmp, 1, width, width, width, kc, kcp, dst);
    }
}

void sdc_x86_conv2d(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *x,
                    const sdc_weight *w, const float *bias, const sdc_conv2d_params *p,
                    sdc_tensor *y)
{
    conv_src s = {
        .x = x->data,
        .C = x->shape[1],
        .H = x->shape[2],
        .W = x->shape[3],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .Ho = y->shape[2],
        .Wo = y->shape[3],
        .sh = p->stride_h,
        .sw = p->stride_w,
        .ph = p->pad_h,
        .pw = p->pad_w,
    };
    int64_t P = s.Ho * s.Wo, O = y->shape[1];
    sdc_x86_gemm g = {
        .isa = isa,
        .M = O,
        .N = y->shape[0] * P,
        .K = s.C * s.kh * s.kw,
        .a_src = w,
        .pack_a = sdc_x86_pack_weight,
        .b_src = &s,
        .pack_b = pack_im2col,
        .c = y->data,
        .ldc = P,
        .bias_m = bias,
        .order = SDC_X86_GEMM_ORDER_REUSE_A,
        .n_group = P,
        .group_c_offset = O * P,
    };
    sdc_x86_gemm_run(ctx, &g);
}
