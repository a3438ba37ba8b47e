/*
 * Tests sdc_kern_group_norm and sdc_kern_layer_norm against torch's definitions written out
 * in double (biased variance; GroupNorm statistics per sample and group of channels), with
 * and without SiLU and affine parameters, in place, over 3-D and 4-D inputs, group counts
 * 1/4/32, strided layer-norm rows, inputs whose mean is large next to their spread, 1 vs 3
 * threads, and the wrappers' shape errors.
 *
 * Tolerance: |y - ref| <= 16 u (1 + |ref|) + 4 u |mean| rstd |gamma| (u = 2^-24). The first
 * term covers the float32 steps after the double statistics (subtract, scale, shift, and
 * SiLU's exp, add and divide: about eight roundings, doubled); the second is the float32
 * rounding of the mean itself, amplified by 1/std. torch's float statistics agree to 1e-5.
 */
#include "kernel_test.h"

static double silu_d(double v)
{
    return v / (1.0 + exp(-v));
}

typedef struct gn_case {
    int64_t N, C, H, W; /* W = 0: a 3-D input [N, C, H] */
    int groups;
    bool silu, affine, in_place;
    float offset; /* added to every input value */
} gn_case;

static void run_group_norm(sdc_context *ctx, const gn_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t S = c->H * (c->W ? c->W : 1), n = c->N * c->C * S;
    float eps = 1e-5f;
    float *x = test_floats(n), *y = test_floats(n), *gamma = test_floats(c->C);
    float *beta = test_floats(c->C), *x0 = test_floats(n);
    test_fill(&rng, x, n, -2.0f, 2.0f);
    for (int64_t i = 0; i < n; i++)
        x[i] += c->offset;
    memcpy(x0, x, (size_t)n * sizeof(float));
    test_fill(&rng, gamma, c->C, 0.5f, 1.5f);
    test_fill(&rng, beta, c->C, -0.5f, 0.5f);
    int64_t shape[4] = {c->N, c->C, c->H, c->W};
    int ndim = c->W ? 4 : 3;
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, ndim, shape);
    sdc_tensor ty = sdc_tensor_make(c->in_place ? x : y, SDC_DTYPE_F32, ndim, shape);
    sdc_status st = sdc_kern_group_norm(ctx, &tx, c->groups, c->affine ? gamma : NULL,
                                        c->affine ? beta : NULL, eps, c->silu, &ty);
    CHECK_MSG(st == SDC_STATUS_OK, "group_norm: %s", sdc_context_errmsg(ctx));

    double *ref = test_doubles(n), *tol = test_doubles(n);
    int64_t cpg = c->C / c->groups, count = cpg * S;
    for (int64_t b = 0; b < c->N; b++)
        for (int g = 0; g < c->groups; g++) {
            const float *xs = x0 + (b * c->C + g * cpg) * S;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < count; i++)
                mean += xs[i];
            mean /= (double)count;
            for (int64_t i = 0; i < count; i++)
                var += (xs[i] - mean) * (xs[i] - mean);
            var /= (double)count;
            double rstd = 1.0 / sqrt(var + (double)eps);
            for (int64_t i = 0; i < count; i++) {
                int64_t ch = g * cpg + i / S;
                double gm = c->affine ? gamma[ch] : 1.0, bt = c->affine ? beta[ch] : 0.0;
                double v = (xs[i] - mean) * rstd * gm + bt;
                if (c->silu)
                    v = silu_d(v);
                int64_t at = (b * c->C + g * cpg) * S + i;
                ref[at] = v;
                tol[at] =
                    16.0 * TEST_U * (1.0 + fabs(v)) + 4.0 * TEST_U * fabs(mean) * rstd * fabs(gm);
            }
        }
    char what[128];
    snprintf(what, sizeof what, "group_norm [%lld,%lld,%lld,%lld] g%d%s%s%s%s", (long long)c->N,
             (long long)c->C, (long long)c->H, (long long)c->W, c->groups, c->silu ? " silu" : "",
             c->affine ? "" : " no-affine", c->in_place ? " in-place" : "",
             c->offset != 0 ? " offset" : "");
    CHECK_CLOSE(what, n, c->in_place ? x : y, ref, tol);
    free(ref);
    free(tol);
    free(x0);
    free(beta);
    free(gamma);
    free(y);
    free(x);
}

static void test_group_norm(void)
{
    static const gn_case cases[] = {
        {1, 32, 4, 4, 32, false, true, false, 0},
        {2, 64, 7, 9, 4, true, true, false, 0},
        {1, 320, 8, 8, 32, true, true, false, 0},
        {3, 6, 5, 0, 1, false, true, false, 0},     /* 3-D, one group */
        {2, 12, 1, 1, 4, false, true, false, 0},    /* one spatial position */
        {1, 4, 1, 1, 4, true, true, false, 0},      /* one value per group: var 0 */
        {2, 8, 3, 5, 4, true, false, false, 0},     /* no affine */
        {1, 32, 9, 7, 32, true, true, true, 0},     /* in place */
        {1, 16, 33, 17, 4, false, true, false, 10}, /* mean 10, std ~1.15 */
        {1, 128, 64, 64, 32, true, true, false, 0}, /* a VAE-sized group: 16384 values */
    };
    sdc_context *ctx = test_context(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_group_norm(ctx, &cases[i], 40 + i);
    sdc_context_destroy(ctx);
}

typedef struct ln_case {
    int64_t M, C, pad; /* pad: extra floats per row */
    bool affine, in_place;
    float offset;
} ln_case;

static void run_layer_norm(sdc_context *ctx, const ln_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t rs = c->C + c->pad, n = c->M * rs;
    float eps = 1e-5f;
    float *x = test_floats(n + 1), *y = test_floats(n + 1), *x0 = test_floats(n + 1);
    float *gamma = test_floats(c->C), *beta = test_floats(c->C);
    test_fill(&rng, x, n + 1, -3.0f, 3.0f);
    for (int64_t i = 0; i < n + 1; i++)
        x[i] += c->offset;
    memcpy(x0, x, (size_t)(n + 1) * sizeof(float));
    test_fill(&rng, gamma, c->C, 0.5f, 1.5f);
    test_fill(&rng, beta, c->C, -0.5f, 0.5f);
    /* Views start one float in: unaligned. */
    sdc_tensor tx = {
        .data = x + 1, .dtype = SDC_DTYPE_F32, .ndim = 2, .shape = {c->M, c->C}, .stride = {rs, 1}};
    sdc_tensor ty = tx;
    if (!c->in_place)
        ty.data = y + 1;
    sdc_status st =
        sdc_kern_layer_norm(ctx, &tx, c->affine ? gamma : NULL, c->affine ? beta : NULL, eps, &ty);
    CHECK_MSG(st == SDC_STATUS_OK, "layer_norm: %s", sdc_context_errmsg(ctx));

    float *got = test_floats(c->M * c->C);
    double *ref = test_doubles(c->M * c->C), *tol = test_doubles(c->M * c->C);
    for (int64_t m = 0; m < c->M; m++) {
        const float *xr = x0 + 1 + m * rs;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < c->C; i++)
            mean += xr[i];
        mean /= (double)c->C;
        for (int64_t i = 0; i < c->C; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)c->C;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t i = 0; i < c->C; i++) {
            double gm = c->affine ? gamma[i] : 1.0;
            double v = (xr[i] - mean) * rstd * gm + (c->affine ? beta[i] : 0.0);
            int64_t at = m * c->C + i;
            got[at] = ((float *)ty.data)[m * rs + i];
            ref[at] = v;
            tol[at] = 16.0 * TEST_U * (1.0 + fabs(v)) + 4.0 * TEST_U * fabs(mean) * rstd * fabs(gm);
        }
    }
    char what[128];
    snprintf(what, sizeof what, "layer_norm [%lld,%lld]%s%s%s%s", (long long)c->M, (long long)c->C,
             c->pad ? " strided" : "", c->affine ? "" : " no-affine",
             c->in_place ? " in-place" : "", c->offset != 0 ? " offset" : "");
    CHECK_CLOSE(what, c->M * c->C, got, ref, tol);
    free(got);
    free(ref);
    free(tol);
    free(gamma);
    free(beta);
    free(x0);
    free(y);
    free(x);
}

static void test_layer_norm(void)
{
    static const ln_case cases[] = {
        {1, 1, 0, true, false, 0},    {3, 7, 0, true, false, 0},      {77, 768, 0, true, false, 0},
        {5, 320, 3, true, false, 0},  {17, 1280, 0, false, false, 0}, {9, 33, 2, true, true, 0},
        {4, 640, 0, true, false, 20},
    };
    sdc_context *ctx = test_context(2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_layer_norm(ctx, &cases[i], 60 + i);
    sdc_context_destroy(ctx);
}

static void test_thread_invariance(void)
{
    sdc_context *c1 = test_context(1), *c3 = test_context(3);
    test_rng rng = {3};
    int64_t shape[4] = {2, 64, 13, 11}, n = 2 * 64 * 13 * 11;
    float *x = test_floats(n), *y1 = test_floats(n), *y3 = test_floats(n);
    float *g = test_floats(64), *b = test_floats(64);
    test_fill(&rng, x, n, -1, 1);
    test_fill(&rng, g, 64, -1, 1);
    test_fill(&rng, b, 64, -1, 1);
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 4, shape);
    sdc_tensor t1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 4, shape);
    sdc_tensor t3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 4, shape);
    CHECK_EQ_INT(sdc_kern_group_norm(c1, &tx, 32, g, b, 1e-6f, true, &t1), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_group_norm(c3, &tx, 32, g, b, 1e-6f, true, &t3), SDC_STATUS_OK);
    CHECK(memcmp(y1, y3, (size_t)n * sizeof(float)) == 0);

    int64_t s2[2] = {2 * 64 * 13, 11};
    sdc_tensor lx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, s2);
    sdc_tensor l1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 2, s2);
    sdc_tensor l3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 2, s2);
    CHECK_EQ_INT(sdc_kern_layer_norm(c1, &lx, NULL, NULL, 1e-5f, &l1), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_layer_norm(c3, &lx, NULL, NULL, 1e-5f, &l3), SDC_STATUS_OK);
    CHECK(memcmp(y1, y3, (size_t)n * sizeof(float)) == 0);
    free(x);
    free(y1);
    free(y3);
    free(g);
    free(b);
    sdc_context_destroy(c1);
    sdc_context_destroy(c3);
}

static void test_shape_errors(void)
{
    sdc_context *ctx = test_context(1);
    static float buf[4096];
    int64_t s[4] = {1, 30, 4, 4}, s2[4] = {1, 30, 4, 5};
    sdc_tensor x = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, s);
    sdc_tensor y = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, s);
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x, 32, NULL, NULL, 1e-5f, false, &y),
                SDC_STATUS_SHAPE, "group_norm", "[1, 30, 4, 4]", "32 groups");
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x, 0, NULL, NULL, 1e-5f, false, &y),
                SDC_STATUS_INVALID_ARGUMENT, "group_norm", "[1, 30, 4, 4]", NULL);
    sdc_tensor y2 = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, s2);
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x, 3, NULL, NULL, 1e-5f, false, &y2),
                SDC_STATUS_SHAPE, "group_norm", "[1, 30, 4, 4]", "[1, 30, 4, 5]");
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x, 3, NULL, NULL, -1.0f, false, &y),
                SDC_STATUS_INVALID_ARGUMENT, "group_norm", "eps", NULL);
    int64_t s2d[2] = {30, 16};
    sdc_tensor x2d = sdc_tensor_make(buf, SDC_DTYPE_F32, 2, s2d);
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x2d, 3, NULL, NULL, 1e-5f, false, &x2d),
                SDC_STATUS_SHAPE, "group_norm", "[30, 16]", NULL);
    sdc_tensor xt = sdc_tensor_transpose(&x, 2, 3);
    sdc_tensor yt = sdc_tensor_transpose(&y, 2, 3);
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &xt, 3, NULL, NULL, 1e-5f, false, &yt),
                SDC_STATUS_SHAPE, "group_norm", "[1, 30, 4, 4]", "contiguous");
    sdc_tensor y_over = sdc_tensor_make(buf + 7, SDC_DTYPE_F32, 4, s);
    CHECK_ERROR(ctx, sdc_kern_group_norm(ctx, &x, 3, NULL, NULL, 1e-5f, false, &y_over),
                SDC_STATUS_INVALID_ARGUMENT, "group_norm", "[1, 30, 4, 4]", "overlap");
    CHECK_EQ_INT(sdc_kern_group_norm(ctx, &x, 3, NULL, NULL, 1e-5f, false, &x), SDC_STATUS_OK);

    int64_t a[2] = {3, 8}, b[2] = {3, 9};
    sdc_tensor lx = sdc_tensor_make(buf, SDC_DTYPE_F32, 2, a);
    sdc_tensor ly = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 2, b);
    CHECK_ERROR(ctx, sdc_kern_layer_norm(ctx, &lx, NULL, NULL, 1e-5f, &ly), SDC_STATUS_SHAPE,
                "layer_norm", "[3, 8]", "[3, 9]");
    sdc_tensor l3 = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, s);
    CHECK_ERROR(ctx, sdc_kern_layer_norm(ctx, &l3, NULL, NULL, 1e-5f, &l3), SDC_STATUS_SHAPE,
                "layer_norm", "[1, 30, 4, 4]", NULL);
    sdc_tensor lt = sdc_tensor_transpose(&lx, 0, 1);
    sdc_tensor lyt = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 2, (int64_t[]){8, 3});
    CHECK_ERROR(ctx, sdc_kern_layer_norm(ctx, &lt, NULL, NULL, 1e-5f, &lyt), SDC_STATUS_SHAPE,
                "layer_norm", "[8, 3]", "contiguous");
    sdc_tensor l_over = sdc_tensor_make(buf + 1, SDC_DTYPE_F32, 2, a);
    CHECK_ERROR(ctx, sdc_kern_layer_norm(ctx, &lx, NULL, NULL, 1e-5f, &l_over),
                SDC_STATUS_INVALID_ARGUMENT, "layer_norm", "[3, 8]", "overlap");
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_group_norm);
    RUN(test_layer_norm);
    RUN(test_thread_invariance);
    RUN(test_shape_errors);
    return test_finish();
}
