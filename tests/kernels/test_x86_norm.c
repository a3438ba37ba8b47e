/*
 * Tests src/kernels/x86/norm.c (GroupNorm fused with SiLU, LayerNorm) against the reference on
 * the same inputs for every x86 level this machine runs: groups of 1 to 32, odd spatial sizes
 * (1, 3, 7, 17, 33, 1023), 3- and 4-dim inputs, no affine, in place, strided LayerNorm rows.
 * Both compute the same double statistics; only the vector SiLU (Cephes exp, IEEE division)
 * differs, so 16 u relative plus 8 u of the input's size covers them.
 */
#include "x86_test.h"

static void compare(const char *what, int64_t n, const float *got, const float *want,
                    const float *x)
{
    double *ref = test_doubles(n), *tol = test_doubles(n);
    for (int64_t i = 0; i < n; i++) {
        ref[i] = want[i];
        tol[i] = 16 * TEST_U * fabs((double)want[i]) + 8 * TEST_U * (1.0 + fabs((double)x[i]));
    }
    CHECK_CLOSE(what, n, got, ref, tol);
    free(ref);
    free(tol);
}

static void test_group_norm(void)
{
    static const int64_t cases[][5] = {
        /* N, C, H, W (0: 3-dim), groups */
        {1, 1, 1, 1, 1},    {2, 6, 3, 7, 3},    {1, 32, 17, 0, 32},
        {3, 64, 33, 3, 32}, {1, 8, 1023, 0, 2}, {2, 12, 5, 5, 4},
    };
    sdc_context *ctx = test_context(3);
    x86_level levels[3];
    int nl = x86_levels(ctx, levels);
    test_rng rng = {41};
    for (int l = 0; l < nl; l++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int variant = 0; variant < 4; variant++) {
                const int64_t *k = cases[c];
                bool silu = variant & 1, affine = variant < 2, in_place = variant == 3;
                int ndim = k[3] ? 4 : 3;
                int64_t shape[4] = {k[0], k[1], k[2], k[3]};
                sdc_tensor probe = sdc_tensor_make(NULL, SDC_DTYPE_F32, ndim, shape);
                int64_t n = sdc_tensor_numel(&probe);
                float *xb, *yb, *rb;
                float *x = x86_unaligned(n, &xb), *y = x86_unaligned(n, &yb);
                float *r = x86_unaligned(n, &rb), *x0 = test_floats(n);
                float *gamma = test_floats(k[1]), *beta = test_floats(k[1]);
                test_fill(&rng, x, n, -3.0f, 5.0f);
                test_fill(&rng, gamma, k[1], 0.5f, 1.5f);
                test_fill(&rng, beta, k[1], -1.0f, 1.0f);
                memcpy(x0, x, (size_t)n * sizeof(float));
                sdc_tensor X = sdc_tensor_make(x, SDC_DTYPE_F32, ndim, shape);
                sdc_tensor Y = sdc_tensor_make(in_place ? x : y, SDC_DTYPE_F32, ndim, shape);
                sdc_tensor R = sdc_tensor_make(r, SDC_DTYPE_F32, ndim, shape);
                sdc_kernels_ref()->group_norm(ctx, &X, (int)k[4], affine ? gamma : NULL,
                                              affine ? beta : NULL, 1e-5f, silu, &R);
                levels[l].table->group_norm(ctx, &X, (int)k[4], affine ? gamma : NULL,
                                            affine ? beta : NULL, 1e-5f, silu, &Y);
                char what[128];
                snprintf(what, sizeof what, "%s group_norm case %zu variant %d", levels[l].name, c,
                         variant);
                compare(what, n, Y.data, r, x0);
                free(xb);
                free(yb);
                free(rb);
                free(x0);
                free(gamma);
                free(beta);
            }
    sdc_context_destroy(ctx);
}

static void test_layer_norm(void)
{
    static const int64_t cases[][3] = {
        {1, 1, 0}, {3, 7, 2}, {17, 33, 0}, {5, 1023, 9}, {77, 768, 3}};
    sdc_context *ctx = test_context(3);
    x86_level levels[3];
    int nl = x86_levels(ctx, levels);
    test_rng rng = {43};
    for (int l = 0; l < nl; l++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int affine = 0; affine < 2; affine++) {
                int64_t M = cases[c][0], C = cases[c][1], ld = C + cases[c][2];
                float *xb, *yb, *rb;
                float *x = x86_unaligned(M * ld, &xb), *y = x86_unaligned(M * ld, &yb);
                float *r = x86_unaligned(M * ld, &rb);
                float *gamma = test_floats(C), *beta = test_floats(C);
                test_fill(&rng, x, M * ld, -2.0f, 3.0f);
                test_fill(&rng, gamma, C, 0.5f, 1.5f);
                test_fill(&rng, beta, C, -1.0f, 1.0f);
                sdc_tensor X = {.data = x,
                                .dtype = SDC_DTYPE_F32,
                                .ndim = 2,
                                .shape = {M, C},
                                .stride = {ld, 1}};
                sdc_tensor Y = X, R = X;
                Y.data = y;
                R.data = r;
                sdc_kernels_ref()->layer_norm(ctx, &X, affine ? gamma : NULL, affine ? beta : NULL,
                                              1e-5f, &R);
                levels[l].table->layer_norm(ctx, &X, affine ? gamma : NULL, affine ? beta : NULL,
                                            1e-5f, &Y);
                char what[128];
                snprintf(what, sizeof what, "%s layer_norm %lldx%lld affine %d", levels[l].name,
                         (long long)M, (long long)C, affine);
                for (int64_t m = 0; m < M; m++)
                    compare(what, C, y + m * ld, r + m * ld, x + m * ld);
                free(xb);
                free(yb);
                free(rb);
                free(gamma);
                free(beta);
            }
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_group_norm);
    RUN(test_layer_norm);
    return test_finish();
}
