/*
 * Tests src/kernels/x86/elementwise.c against the reference on the same inputs for every x86
 * level this machine runs: SiLU and GELU (vector Cephes exp and A&S 7.1.26 erf: within 8 u
 * relative plus 4 u |x|, the bounds test_elementwise.c holds the reference to), GEGLU, add /
 * sub / mul with contiguous rows, per-row scalars and a transposed operand, and copies between
 * contiguous and transposed views, at sizes 1, 3, 7, 17, 33, 1023; copies and adds exactly.
 */
#include "x86_test.h"

static void check_exact(const char *what, int64_t n, const float *got, const float *want)
{
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (got[i] != want[i])
            bad = i;
    CHECK_MSG(bad < 0, "%s: element %lld is %.9g, expected %.9g", what, (long long)bad,
              bad < 0 ? 0.0 : (double)got[bad], bad < 0 ? 0.0 : (double)want[bad]);
}

static void test_activations(void)
{
    static const int64_t sizes[] = {1, 3, 7, 17, 33, 1023, 5000};
    sdc_context *ctx = test_context(3);
    x86_level levels[3];
    int nl = x86_levels(ctx, levels);
    test_rng rng = {51};
    for (int l = 0; l < nl; l++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int op = 0; op < SDC_UNARY_OP_COUNT; op++) {
                int64_t n = sizes[s];
                float *xb, *yb, *rb;
                float *x = x86_unaligned(n, &xb), *y = x86_unaligned(n, &yb);
                float *r = x86_unaligned(n, &rb);
                test_fill(&rng, x, n, -12.0f, 12.0f);
                sdc_tensor X = sdc_tensor_make(x, SDC_DTYPE_F32, 1, &n);
                sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 1, &n);
                sdc_tensor R = sdc_tensor_make(r, SDC_DTYPE_F32, 1, &n);
                sdc_kernels_ref()->unary(ctx, (sdc_unary_op)op, &X, &R);
                levels[l].table->unary(ctx, (sdc_unary_op)op, &X, &Y);
                double *ref = test_doubles(n), *tol = test_doubles(n);
                for (int64_t i = 0; i < n; i++) {
                    ref[i] = r[i];
                    tol[i] = 16 * TEST_U * fabs((double)r[i]) + 8 * TEST_U * fabs((double)x[i]);
                }
                char what[96];
                snprintf(what, sizeof what, "%s unary op %d n=%lld", levels[l].name, op,
                         (long long)n);
                CHECK_CLOSE(what, n, y, ref, tol);
                free(ref);
                free(tol);
                free(xb);
                free(yb);
                free(rb);
            }
    sdc_context_destroy(ctx);
}

static void test_geglu(void)
{
    static const int64_t sizes[][2] = {{1, 1}, {3, 7}, {17, 33}, {5, 1023}};
    sdc_context *ctx = test_context(3);
    x86_level levels[3];
    int nl = x86_levels(ctx, levels);
    test_rng rng = {53};
    for (int l = 0; l < nl; l++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t M = sizes[s][0], N = sizes[s][1];
            int64_t xs[2] = {M, 2 * N}, ys[2] = {M, N};
            float *x = test_floats(2 * M * N), *y = test_floats(M * N), *r = test_floats(M * N);
            test_fill(&rng, x, 2 * M * N, -6.0f, 6.0f);
            sdc_tensor X = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs);
            sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 2, ys);
            sdc_tensor R = sdc_tensor_make(r, SDC_DTYPE_F32, 2, ys);
            sdc_kernels_ref()->geglu(ctx, &X, &R);
            levels[l].table->geglu(ctx, &X, &Y);
            double *ref = test_doubles(M * N), *tol = test_doubles(M * N);
            for (int64_t m = 0; m < M; m++)
                for (int64_t j = 0; j < N; j++) {
                    int64_t i = m * N + j;
                    ref[i] = r[i];
                    tol[i] = 16 * TEST_U * fabs((double)r[i]) +
                             8 * TEST_U * fabs((double)x[m * 2 * N + j] * x[m * 2 * N + N + j]);
                }
            char what[96];
            snprintf(what, sizeof what, "%s geglu %lldx%lld", levels[l].name, (long long)M,
                     (long long)N);
            CHECK_CLOSE(what, M * N, y, ref, tol);
            free(ref);
            free(tol);
            free(x);
            free(y);
            free(r);
        }
    sdc_context_destroy(ctx);
}

/* [B, R, C] views: a contiguous; b contiguous, a per-row scalar, or stored as [B, C, R]. */
static void test_binary_and_copy(void)
{
    static const int64_t sizes[][3] = {{1, 1, 1},   {2, 3, 7},    {1, 17, 33},
                                       {2, 33, 17}, {1, 9, 1023}, {3, 64, 40}};
    sdc_context *ctx = test_context(3);
    x86_level levels[3];
    int nl = x86_levels(ctx, levels);
    test_rng rng = {57};
    for (int l = 0; l < nl; l++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int layout = 0; layout < 3; layout++) {
                int64_t B = sizes[s][0], R = sizes[s][1], C = sizes[s][2], n = B * R * C;
                int64_t shape[3] = {B, R, C}, col[3] = {B, R, 1}, tshape[3] = {B, C, R};
                float *a = test_floats(n), *b = test_floats(n), *y = test_floats(n);
                float *r = test_floats(n);
                test_fill(&rng, a, n, -4.0f, 4.0f);
                test_fill(&rng, b, n, -4.0f, 4.0f);
                sdc_tensor A = sdc_tensor_make(a, SDC_DTYPE_F32, 3, shape), Bt;
                if (layout == 0) {
                    Bt = sdc_tensor_make(b, SDC_DTYPE_F32, 3, shape);
                } else if (layout == 1) {
                    Bt = sdc_tensor_make(b, SDC_DTYPE_F32, 3, col);
                } else {
                    sdc_tensor t = sdc_tensor_make(b, SDC_DTYPE_F32, 3, tshape);
                    Bt = sdc_tensor_transpose(&t, 1, 2);
                }
                sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 3, shape);
                sdc_tensor RR = sdc_tensor_make(r, SDC_DTYPE_F32, 3, shape);
                char what[96];
                for (int op = 0; op < SDC_BINARY_OP_COUNT; op++) {
                    sdc_kernels_ref()->binary(ctx, (sdc_binary_op)op, &A, &Bt, &RR);
                    levels[l].table->binary(ctx, (sdc_binary_op)op, &A, &Bt, &Y);
                    snprintf(what, sizeof what, "%s binary %d layout %d %lldx%lldx%lld",
                             levels[l].name, op, layout, (long long)B, (long long)R, (long long)C);
                    check_exact(what, n, y, r);
                }
                if (layout != 1) {
                    sdc_kernels_ref()->copy(ctx, &Bt, &RR);
                    levels[l].table->copy(ctx, &Bt, &Y);
                    snprintf(what, sizeof what, "%s copy layout %d %lldx%lldx%lld", levels[l].name,
                             layout, (long long)B, (long long)R, (long long)C);
                    check_exact(what, n, y, r);
                }
                free(a);
                free(b);
                free(y);
                free(r);
            }
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_activations);
    RUN(test_geglu);
    RUN(test_binary_and_copy);
    return test_finish();
}
