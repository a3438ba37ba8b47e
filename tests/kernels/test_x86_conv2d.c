/*
 * Tests src/kernels/x86/conv2d.c (implicit GEMM: im2col gathered per sliver while packing)
 * against the reference conv2d on the same inputs, for every x86 level this machine runs:
 * channels and sizes 1, 3, 7, 17, 33, 1x1 and 3x3 kernels (and a 4x2 one), strides 1 and 2,
 * paddings 0 to 2, batches 1 to 3 (slivers never cross an image), F16 and palettized weights,
 * bias or none, 1 and 3 threads; the bf16 table against the reference on bf16-rounded inputs.
 * Tolerance: two float32 sums of the same C kh kw products (see x86_test.h).
 */
#include "x86_test.h"

typedef struct conv_case {
    int64_t N, C, H, W, O, kh, kw;
    int stride, pad;
    bool bias;
} conv_case;

static void run_case(sdc_context *ctx, const x86_level *level, const conv_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t Ho = (c->H + 2 * c->pad - c->kh) / c->stride + 1;
    int64_t Wo = (c->W + 2 * c->pad - c->kw) / c->stride + 1;
    int64_t nx = c->N * c->C * c->H * c->W, ny = c->N * c->O * Ho * Wo;
    int64_t taps = c->C * c->kh * c->kw, nw = c->O * taps;
    float *xb, *yb, *rb;
    float *x = x86_unaligned(nx, &xb), *y = x86_unaligned(ny, &yb), *yr = x86_unaligned(ny, &rb);
    float *bias = test_floats(c->O), *wv = test_floats(nw);
    uint16_t *wh = calloc((size_t)nw + 1, sizeof(uint16_t));
    test_fill(&rng, x, nx, -1.0f, 1.0f);
    test_fill(&rng, bias, c->O, -1.0f, 1.0f);
    for (int64_t i = 0; i < nw; i++) {
        wh[i + 1] = sdc_f32_to_f16(test_uniform(&rng, -1.0f, 1.0f));
        wv[i] = sdc_f16_to_f32(wh[i + 1]);
    }
    int64_t xs[4] = {c->N, c->C, c->H, c->W}, ys[4] = {c->N, c->O, Ho, Wo};
    int64_t ws[4] = {c->O, c->C, c->kh, c->kw};
    sdc_tensor X = sdc_tensor_make(x, SDC_DTYPE_F32, 4, xs);
    sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 4, ys);
    sdc_tensor YR = sdc_tensor_make(yr, SDC_DTYPE_F32, 4, ys);
    sdc_weight W = sdc_weight_dense(wh + 1, SDC_DTYPE_F16, 4, ws);
    sdc_conv2d_params p = {c->stride, c->stride, c->pad, c->pad};
    level->table->conv2d(ctx, &X, &W, c->bias ? bias : NULL, &p, &Y);

    float *xr = test_floats(nx);
    memcpy(xr, x, (size_t)nx * sizeof(float));
    if (level->bf16) {
        x86_round_bf16(xr, nx);
        x86_round_bf16(wv, nw);
    }
    sdc_tensor XR = sdc_tensor_make(xr, SDC_DTYPE_F32, 4, xs);
    sdc_weight WR = sdc_weight_dense(wv, SDC_DTYPE_F32, 4, ws);
    sdc_kernels_ref()->conv2d(ctx, &XR, &WR, c->bias ? bias : NULL, &p, &YR);

    double *ref = test_doubles(ny), *tol = test_doubles(ny);
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double mag = 0;
                    for (int64_t ci = 0; ci < c->C; ci++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t iy = oy * c->stride - c->pad + ky;
                                int64_t ix = ox * c->stride - c->pad + kx;
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W)
                                    continue;
                                mag += fabs((double)xr[((n * c->C + ci) * c->H + iy) * c->W + ix] *
                                            wv[((o * c->C + ci) * c->kh + ky) * c->kw + kx]);
                            }
                    int64_t at = ((n * c->O + o) * Ho + oy) * Wo + ox;
                    ref[at] = yr[at];
                    tol[at] = 2.0 * (double)(taps + 2) * TEST_U * mag +
                              4.0 * TEST_U * (c->bias ? fabs((double)bias[o]) : 0.0);
                }
    char what[160];
    snprintf(what, sizeof what, "%s conv2d N%lld C%lld %lldx%lld -> O%lld k%lldx%lld s%d p%d",
             level->name, (long long)c->N, (long long)c->C, (long long)c->H, (long long)c->W,
             (long long)c->O, (long long)c->kh, (long long)c->kw, c->stride, c->pad);
    CHECK_CLOSE(what, ny, y, ref, tol);
    free(ref);
    free(tol);
    free(xr);
    free(xb);
    free(yb);
    free(rb);
    free(bias);
    free(wv);
    free(wh);
}

static const conv_case cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0, true},      {1, 3, 7, 7, 17, 3, 3, 1, 1, true},
    {2, 7, 17, 3, 5, 3, 3, 1, 1, false},    {3, 17, 9, 33, 7, 3, 3, 2, 1, true},
    {2, 33, 8, 8, 40, 3, 3, 1, 1, true},    {1, 5, 33, 17, 3, 1, 1, 1, 0, true},
    {2, 13, 16, 16, 35, 1, 1, 1, 0, false}, {1, 6, 11, 13, 9, 4, 2, 1, 2, true},
    {1, 4, 12, 12, 13, 3, 3, 2, 0, true},   {2, 40, 20, 20, 27, 3, 3, 1, 1, true},
    {1, 300, 5, 7, 30, 3, 3, 1, 1, true},   {1, 3, 64, 64, 5, 3, 3, 1, 1, true},
};

static void test_conv2d_levels(void)
{
    sdc_context *ctxs[2] = {test_context(1), test_context(3)};
    for (int t = 0; t < 2; t++) {
        x86_level levels[3];
        int n = x86_levels(ctxs[t], levels);
        for (int l = 0; l < n; l++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                run_case(ctxs[t], &levels[l], &cases[i], 2000 + i);
        sdc_context_destroy(ctxs[t]);
    }
}

int main(void)
{
    RUN(test_conv2d_levels);
    return test_finish();
}
