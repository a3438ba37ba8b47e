/*
 * Tests sdc_kern_conv2d against the seven-nested-loop definition of torch's conv2d in double:
 * paddings, strides 1/2/3, 1x1 and non-square kernels, kernels larger than the input, channel
 * counts up to 320, F16/BF16 weights, 1 vs 3 threads, and the wrapper's shape errors.
 *
 * Tolerance: each output is a float32 sum of C kh kw products plus a bias, so its error is at
 * most (C kh kw + 2) u sum |w x| + u |b| (Higham's gamma bound), used per element.
 */
#include "kernel_test.h"

typedef struct conv_case {
    int64_t N, C, H, W, O, kh, kw;
    int sh, sw, ph, pw;
    sdc_dtype dtype;
    bool bias;
} conv_case;

static int64_t out_size(int64_t in, int64_t k, int s, int p)
{
    return (in + 2 * p - k) / s + 1;
}

static void run_case(sdc_context *ctx, const conv_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t Ho = out_size(c->H, c->kh, c->sh, c->ph), Wo = out_size(c->W, c->kw, c->sw, c->pw);
    int64_t nx = c->N * c->C * c->H * c->W, ny = c->N * c->O * Ho * Wo;
    int64_t nw = c->O * c->C * c->kh * c->kw;
    float *x = test_floats(nx), *y = test_floats(ny), *bias = test_floats(c->O);
    float *wexact = test_floats(nw);
    uint16_t *wh = calloc((size_t)nw + 1, sizeof(uint16_t));
    float *wf = test_floats(nw);
    test_fill(&rng, x, nx, -1.0f, 1.0f);
    test_fill(&rng, bias, c->O, -1.0f, 1.0f);
    test_fill(&rng, wf, nw, -1.0f, 1.0f);
    const void *wdata = wf;
    for (int64_t i = 0; i < nw; i++) {
        if (c->dtype == SDC_DTYPE_F16) {
            wh[i] = sdc_f32_to_f16(wf[i]);
            wexact[i] = sdc_f16_to_f32(wh[i]);
            wdata = wh;
        } else if (c->dtype == SDC_DTYPE_BF16) {
            wh[i] = sdc_f32_to_bf16(wf[i]);
            wexact[i] = sdc_bf16_to_f32(wh[i]);
            wdata = wh;
        } else {
            wexact[i] = wf[i];
        }
    }
    int64_t xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->O, c->C, c->kh, c->kw};
    int64_t ys[4] = {c->N, c->O, Ho, Wo};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 4, xs);
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 4, ys);
    sdc_weight tw = sdc_weight_dense(wdata, c->dtype, 4, ws);
    sdc_conv2d_params p = {.stride_h = c->sh, .stride_w = c->sw, .pad_h = c->ph, .pad_w = c->pw};
    sdc_status st = sdc_kern_conv2d(ctx, &tx, &tw, c->bias ? bias : NULL, &p, &ty);
    CHECK_MSG(st == SDC_STATUS_OK, "conv2d: %s", sdc_context_errmsg(ctx));

    double *ref = test_doubles(ny), *tol = test_doubles(ny);
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double sum = c->bias ? bias[o] : 0.0;
                    double mag = fabs(sum);
                    for (int64_t ci = 0; ci < c->C; ci++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t iy = oy * c->sh - c->ph + ky;
                                int64_t ix = ox * c->sw - c->pw + kx;
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W)
                                    continue;
                                double v = (double)x[((n * c->C + ci) * c->H + iy) * c->W + ix];
                                double wv = wexact[((o * c->C + ci) * c->kh + ky) * c->kw + kx];
                                sum += v * wv;
                                mag += fabs(v * wv);
                            }
                    int64_t at = ((n * c->O + o) * Ho + oy) * Wo + ox;
                    ref[at] = sum;
                    tol[at] = (double)(c->C * c->kh * c->kw + 2) * TEST_U * mag;
                }
    char what[160];
    snprintf(what, sizeof what,
             "conv2d x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] s%d,%d p%d,%d %s",
             (long long)c->N, (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->O,
             (long long)c->C, (long long)c->kh, (long long)c->kw, c->sh, c->sw, c->ph, c->pw,
             sdc_dtype_name(c->dtype));
    CHECK_CLOSE(what, ny, y, ref, tol);
    free(ref);
    free(tol);
    free(wf);
    free(wh);
    free(wexact);
    free(bias);
    free(y);
    free(x);
}

static const conv_case cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, SDC_DTYPE_F32, true},
    {2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, SDC_DTYPE_F32, true},   /* same-size 3x3 */
    {1, 4, 8, 8, 3, 3, 3, 2, 2, 1, 1, SDC_DTYPE_F32, false},  /* downsampler */
    {1, 5, 7, 7, 6, 3, 3, 2, 2, 1, 1, SDC_DTYPE_F32, true},   /* odd size, stride 2 */
    {2, 7, 5, 6, 4, 1, 1, 1, 1, 0, 0, SDC_DTYPE_F32, true},   /* 1x1 */
    {1, 3, 9, 11, 2, 3, 3, 1, 1, 0, 0, SDC_DTYPE_F32, true},  /* no padding */
    {1, 2, 6, 5, 3, 1, 3, 1, 1, 0, 1, SDC_DTYPE_F32, true},   /* 1x3 kernel */
    {1, 3, 8, 8, 2, 4, 4, 2, 2, 1, 1, SDC_DTYPE_F32, true},   /* even kernel */
    {1, 2, 5, 5, 2, 3, 3, 1, 2, 2, 0, SDC_DTYPE_F32, false},  /* mixed stride, pad 2 */
    {1, 3, 10, 10, 4, 3, 3, 3, 3, 1, 1, SDC_DTYPE_F32, true}, /* stride 3 */
    {1, 8, 3, 3, 4, 5, 5, 1, 1, 2, 2, SDC_DTYPE_F32, true},   /* kernel > input */
    {1, 17, 13, 13, 33, 3, 3, 1, 1, 1, 1, SDC_DTYPE_F32, true},
    {1, 3, 70, 37, 9, 3, 3, 1, 1, 1, 1, SDC_DTYPE_F32, true},    /* many row tiles */
    {1, 320, 12, 12, 40, 3, 3, 1, 1, 1, 1, SDC_DTYPE_F32, true}, /* taps span chunks */
    {1, 320, 9, 9, 17, 1, 1, 1, 1, 0, 0, SDC_DTYPE_F32, false},
    {2, 6, 9, 7, 11, 3, 3, 1, 1, 1, 1, SDC_DTYPE_F16, true},
    {1, 64, 8, 8, 9, 3, 3, 2, 2, 1, 1, SDC_DTYPE_F16, true},
    {2, 6, 9, 7, 11, 3, 3, 1, 1, 1, 1, SDC_DTYPE_BF16, true},
    {1, 5, 6, 6, 3, 1, 1, 1, 1, 0, 0, SDC_DTYPE_BF16, false},
};

static void test_cases(void)
{
    sdc_context *ctx = test_context(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 1000 + i);
    sdc_context_destroy(ctx);
}

static void test_thread_invariance(void)
{
    sdc_context *c1 = test_context(1), *c3 = test_context(3);
    test_rng rng = {5};
    int64_t N = 2, C = 19, H = 21, W = 23, O = 13;
    int64_t nx = N * C * H * W, nw = O * C * 9, ny = N * O * 11 * 12;
    float *x = test_floats(nx), *w = test_floats(nw), *b = test_floats(O);
    float *y1 = test_floats(ny), *y3 = test_floats(ny);
    test_fill(&rng, x, nx, -1, 1);
    test_fill(&rng, w, nw, -1, 1);
    test_fill(&rng, b, O, -1, 1);
    int64_t xs[4] = {N, C, H, W}, ws[4] = {O, C, 3, 3}, ys[4] = {N, O, 11, 12};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 4, xs);
    sdc_tensor t1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 4, ys);
    sdc_tensor t3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 4, ys);
    sdc_weight tw = sdc_weight_dense(w, SDC_DTYPE_F32, 4, ws);
    sdc_conv2d_params p = {2, 2, 1, 1};
    CHECK_EQ_INT(sdc_kern_conv2d(c1, &tx, &tw, b, &p, &t1), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_conv2d(c3, &tx, &tw, b, &p, &t3), SDC_STATUS_OK);
    CHECK(memcmp(y1, y3, (size_t)ny * sizeof(float)) == 0);
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y3);
    sdc_context_destroy(c1);
    sdc_context_destroy(c3);
}

static void test_shape_errors(void)
{
    sdc_context *ctx = test_context(1);
    static float buf[4096];
    int64_t xs[4] = {1, 4, 8, 8}, ws[4] = {5, 3, 3, 3}, ys[4] = {1, 5, 8, 8};
    sdc_tensor x = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, xs);
    sdc_tensor y = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, ys);
    sdc_weight w = sdc_weight_dense(buf + 2048, SDC_DTYPE_F32, 4, ws);
    sdc_conv2d_params p = {1, 1, 1, 1};
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, &p, &y), SDC_STATUS_SHAPE, "conv2d",
                "[1, 4, 8, 8]", "[5, 3, 3, 3]");

    int64_t ws4[4] = {5, 4, 3, 3};
    w = sdc_weight_dense(buf + 2048, SDC_DTYPE_F32, 4, ws4);
    sdc_conv2d_params p2 = {2, 2, 1, 1}; /* y should be 4x4 */
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, &p2, &y), SDC_STATUS_SHAPE, "conv2d",
                "[1, 5, 8, 8]", "[1, 5, 4, 4]");

    sdc_conv2d_params p0 = {0, 1, 1, 1};
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, &p0, &y), SDC_STATUS_INVALID_ARGUMENT,
                "conv2d", "stride", NULL);
    sdc_conv2d_params pn = {1, 1, -1, 0};
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, &pn, &y), SDC_STATUS_INVALID_ARGUMENT,
                "conv2d", "padding", NULL);

    int64_t wbig[4] = {5, 4, 11, 3};
    sdc_weight wb = sdc_weight_dense(buf + 2048, SDC_DTYPE_F32, 4, wbig);
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &wb, NULL, &p, &y), SDC_STATUS_SHAPE, "conv2d",
                "[1, 4, 8, 8]", "[5, 4, 11, 3]");

    sdc_tensor xt = sdc_tensor_transpose(&x, 2, 3);
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &xt, &w, NULL, &p, &y), SDC_STATUS_SHAPE, "conv2d",
                "[1, 4, 8, 8]", "contiguous");

    int64_t w2[2] = {5, 36};
    sdc_weight w2d = sdc_weight_dense(buf + 2048, SDC_DTYPE_F32, 2, w2);
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w2d, NULL, &p, &y), SDC_STATUS_SHAPE, "conv2d",
                "[5, 36]", NULL);

    sdc_tensor y_over = sdc_tensor_make(buf + 100, SDC_DTYPE_F32, 4, ys);
    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, &p, &y_over), SDC_STATUS_INVALID_ARGUMENT,
                "conv2d", "[1, 5, 8, 8]", "overlap");

    CHECK_ERROR(ctx, sdc_kern_conv2d(ctx, &x, &w, NULL, NULL, &y), SDC_STATUS_INVALID_ARGUMENT,
                "conv2d", "params", NULL);
    CHECK_EQ_INT(sdc_kern_conv2d(ctx, &x, &w, NULL, &p, &y), SDC_STATUS_OK);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_cases);
    RUN(test_thread_invariance);
    RUN(test_shape_errors);
    return test_finish();
}
