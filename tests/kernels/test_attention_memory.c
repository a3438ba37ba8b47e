/*
 * Tests that sdc_kern_attention (kernels/ref/attention.c) runs in bounded memory: Lq = Lk =
 * 4096, H = 1, D = 64 under a 1 MB allocation limit, where a materialised score matrix would
 * need 64 MB. A separate executable from test_attention.c because it is the one slow kernel
 * test (4 GFLOP; seconds at -O0 with sanitizers).
 *
 * Spot-checked rows use the tolerance of test_attention.c: 2 u (D S + R + Lk + 16) A.
 */
#include "kernel_test.h"

/* Row i of softmax(scale q k^T) v in double, and its tolerance, for [L, D] q, k, v. */
static void reference_row(const float *q, const float *k, const float *v, int64_t L, int64_t D,
                          float scale, int64_t i, double *ref, double *tol)
{
    double *s = test_doubles(L);
    double max = -INFINITY, S = 0, sum = 0, R = 0;
    for (int64_t j = 0; j < L; j++) {
        double dot = 0, mag = 0;
        for (int64_t d = 0; d < D; d++) {
            dot += (double)q[i * D + d] * k[j * D + d];
            mag += fabs((double)q[i * D + d] * k[j * D + d]);
        }
        s[j] = scale * dot;
        S = fmax(S, fabs((double)scale) * mag);
        max = fmax(max, s[j]);
    }
    for (int64_t j = 0; j < L; j++) {
        R = fmax(R, max - s[j]);
        s[j] = exp(s[j] - max);
        sum += s[j];
    }
    for (int64_t d = 0; d < D; d++) {
        double acc = 0, A = 0;
        for (int64_t j = 0; j < L; j++) {
            acc += s[j] / sum * v[j * D + d];
            A += s[j] / sum * fabs((double)v[j * D + d]);
        }
        ref[d] = acc;
        tol[d] = 2 * TEST_U * ((double)D * S + R + (double)L + 16) * A;
    }
    free(s);
}

/* The reference kernel allocates nothing at all (its scratch is one 16 x 64 tile of scores
 * on the stack); the allocation counters confirm it. */
static void test_bounded_memory(void)
{
    sdc_context *ctx = test_context(0);
    test_rng rng = {123};
    int64_t L = 4096, D = 64, n = L * D;
    float *q = test_floats(n), *k = test_floats(n), *v = test_floats(n), *o = test_floats(n);
    test_fill(&rng, q, n, -1, 1);
    test_fill(&rng, k, n, -1, 1);
    test_fill(&rng, v, n, -1, 1);
    int64_t s[4] = {1, 1, L, D};
    sdc_tensor tq = sdc_tensor_make(q, SDC_DTYPE_F32, 4, s);
    sdc_tensor tk = sdc_tensor_make(k, SDC_DTYPE_F32, 4, s);
    sdc_tensor tv = sdc_tensor_make(v, SDC_DTYPE_F32, 4, s);
    sdc_tensor to = sdc_tensor_make(o, SDC_DTYPE_F32, 4, s);
    sdc_attention_params p = {.scale = 0.125f, .causal = false};

    sdc_alloc_set_limit(ctx, (size_t)1 << 20);
    sdc_alloc_stats before, after;
    sdc_alloc_get_stats(ctx, &before);
    sdc_status st = sdc_kern_attention(ctx, &tq, &tk, &tv, &p, &to);
    sdc_alloc_get_stats(ctx, &after);
    CHECK_MSG(st == SDC_STATUS_OK, "attention under a 1 MB limit: %s", sdc_context_errmsg(ctx));
    CHECK_EQ_INT(after.n_failed, before.n_failed);
    CHECK_EQ_INT(after.n_allocs, before.n_allocs);
    CHECK(after.peak_bytes <= ((size_t)1 << 20));

    static const int64_t rows[] = {0, 1, 2047, 4095};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        double ref[64], tol[64];
        reference_row(q, k, v, L, D, p.scale, rows[r], ref, tol);
        char what[64];
        snprintf(what, sizeof what, "attention 4096 x 4096, row %lld", (long long)rows[r]);
        CHECK_CLOSE(what, D, o + rows[r] * D, ref, tol);
    }
    free(q);
    free(k);
    free(v);
    free(o);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_bounded_memory);
    return test_finish();
}
