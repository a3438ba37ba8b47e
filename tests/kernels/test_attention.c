/*
 * Tests sdc_kern_attention against softmax(scale q k^T) v computed in double with the whole
 * score matrix materialised: key counts below, at and past the 64-key tile, causal masks
 * (Lq = Lk, Lq < Lk, Lq > Lk), head dims 1 to 160, [B, L, H, D] and fused-qkv strided views,
 * scores large enough to force rescaling, 1 vs 3 threads, and the wrapper's shape errors.
 * (Bounded memory at Lq = Lk = 4096 is test_attention_memory.c.)
 *
 * Tolerance per output element (u = 2^-24): 2 u (D S + R + Lk + 16) A, where S is the largest
 * |scale| sum_d |q_d k_d| of the row (a float dot product is off by at most D u S), R the
 * largest |s_j - max| (the rounding of s - max moves exp by u R relatively), Lk for the float
 * sums, and A = sum_j p_j |v_j[d]|, the size of what is being averaged.
 */
#include "kernel_test.h"

typedef struct attn_shape {
    int64_t B, H, Lq, Lk, D;
} attn_shape;

/* Checks out against the definition for the given views (all [B, H, L, D]). */
static void check_against_definition(const char *what, const sdc_tensor *q, const sdc_tensor *k,
                                     const sdc_tensor *v, const sdc_tensor *out,
                                     const sdc_attention_params *p, int64_t only_query)
{
    int64_t B = q->shape[0], H = q->shape[1], Lq = q->shape[2], Lk = k->shape[2];
    int64_t D = q->shape[3];
    int64_t n = B * H * Lq * D;
    float *got = test_floats(n);
    double *ref = test_doubles(n), *tol = test_doubles(n);
    double *s = test_doubles(Lk), *pr = test_doubles(Lk);
    for (int64_t i = 0; i < n; i++) {
        ref[i] = 0;
        tol[i] = INFINITY; /* rows not checked */
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                if (only_query >= 0 && i != only_query && i != Lq - 1 && i != 0)
                    continue;
                int64_t idx[4] = {b, h, i, 0};
                const float *qi = sdc_tensor_at(q, idx);
                int64_t nk = p->causal ? (i + 1 < Lk ? i + 1 : Lk) : Lk;
                double max = -INFINITY, S = 0;
                for (int64_t j = 0; j < nk; j++) {
                    int64_t kidx[4] = {b, h, j, 0};
                    const float *kj = sdc_tensor_at(k, kidx);
                    double dot = 0, mag = 0;
                    for (int64_t d = 0; d < D; d++) {
                        dot += (double)qi[d] * kj[d];
                        mag += fabs((double)qi[d] * kj[d]);
                    }
                    s[j] = (double)p->scale * dot;
                    S = fmax(S, fabs((double)p->scale) * mag);
                    max = fmax(max, s[j]);
                }
                double sum = 0, R = 0;
                for (int64_t j = 0; j < nk; j++) {
                    pr[j] = exp(s[j] - max);
                    sum += pr[j];
                    R = fmax(R, max - s[j]);
                }
                float *oi = sdc_tensor_at(out, idx);
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0, A = 0;
                    for (int64_t j = 0; j < nk; j++) {
                        int64_t vidx[4] = {b, h, j, d};
                        double vv = *(const float *)sdc_tensor_at(v, vidx);
                        acc += pr[j] / sum * vv;
                        A += pr[j] / sum * fabs(vv);
                    }
                    int64_t at = ((b * H + h) * Lq + i) * D + d;
                    ref[at] = acc;
                    tol[at] = 2 * TEST_U * ((double)D * S + R + (double)Lk + 16) * A;
                }
                for (int64_t d = 0; d < D; d++)
                    got[((b * H + h) * Lq + i) * D + d] = oi[d];
            }
    CHECK_CLOSE(what, n, got, ref, tol);
    free(got);
    free(ref);
    free(tol);
    free(s);
    free(pr);
}

/* Contiguous [B, H, L, D] tensors filled with uniform values in [-range, range). */
static void run_contiguous(sdc_context *ctx, attn_shape sh, bool causal, float range, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t nq = sh.B * sh.H * sh.Lq * sh.D, nk = sh.B * sh.H * sh.Lk * sh.D;
    float *q = test_floats(nq), *k = test_floats(nk), *v = test_floats(nk);
    float *o = test_floats(nq);
    test_fill(&rng, q, nq, -range, range);
    test_fill(&rng, k, nk, -range, range);
    test_fill(&rng, v, nk, -1, 1);
    int64_t qs[4] = {sh.B, sh.H, sh.Lq, sh.D}, ks[4] = {sh.B, sh.H, sh.Lk, sh.D};
    sdc_tensor tq = sdc_tensor_make(q, SDC_DTYPE_F32, 4, qs);
    sdc_tensor tk = sdc_tensor_make(k, SDC_DTYPE_F32, 4, ks);
    sdc_tensor tv = sdc_tensor_make(v, SDC_DTYPE_F32, 4, ks);
    sdc_tensor to = sdc_tensor_make(o, SDC_DTYPE_F32, 4, qs);
    sdc_attention_params p = {.scale = 1.0f / sqrtf((float)sh.D), .causal = causal};
    sdc_status st = sdc_kern_attention(ctx, &tq, &tk, &tv, &p, &to);
    CHECK_MSG(st == SDC_STATUS_OK, "attention: %s", sdc_context_errmsg(ctx));
    char what[128];
    snprintf(what, sizeof what, "attention B%lld H%lld Lq%lld Lk%lld D%lld%s range %g",
             (long long)sh.B, (long long)sh.H, (long long)sh.Lq, (long long)sh.Lk, (long long)sh.D,
             causal ? " causal" : "", (double)range);
    check_against_definition(what, &tq, &tk, &tv, &to, &p, -1);
    free(q);
    free(k);
    free(v);
    free(o);
}

static void test_sizes(void)
{
    sdc_context *ctx = test_context(2);
    static const attn_shape shapes[] = {
        {1, 1, 1, 1, 1},    {2, 3, 7, 17, 8},    {1, 2, 5, 64, 16},  {1, 1, 3, 65, 7},
        {2, 1, 33, 129, 3}, {1, 1, 17, 33, 160}, {1, 8, 20, 77, 40}, {1, 1, 4096, 77, 64},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_contiguous(ctx, shapes[i], false, 1.0f, 10 + i);
    /* Scores spread over ~+-50: later tiles raise the running max and rescale. */
    run_contiguous(ctx, (attn_shape){1, 2, 9, 300, 64}, false, 2.5f, 30);
    sdc_context_destroy(ctx);
}

static void test_causal(void)
{
    sdc_context *ctx = test_context(2);
    static const attn_shape shapes[] = {
        {1, 1, 1, 1, 4},  {1, 1, 70, 70, 64}, {2, 2, 77, 77, 16},
        {1, 2, 20, 9, 8}, {1, 1, 9, 20, 5},   {1, 1, 130, 130, 3},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_contiguous(ctx, shapes[i], true, 1.0f, 50 + i);
    sdc_context_destroy(ctx);
}

/* Projections laid out [B, L, H, D] (used in place), a fused [B, L, 3, H, D] qkv buffer read
 * through views, and an output written into a [B, L, H, D] buffer; all starting one float
 * past an aligned address. */
static void test_strided_views(void)
{
    sdc_context *ctx = test_context(2);
    test_rng rng = {77};
    int64_t B = 2, L = 37, H = 3, D = 24;
    int64_t n = B * L * 3 * H * D;
    float *qkv = test_floats(n + 1), *obuf = test_floats(B * L * H * D + 1);
    test_fill(&rng, qkv, n + 1, -1, 1);
    sdc_tensor views[3];
    for (int part = 0; part < 3; part++)
        views[part] = (sdc_tensor){.data = qkv + 1 + part * H * D,
                                   .dtype = SDC_DTYPE_F32,
                                   .ndim = 4,
                                   .shape = {B, H, L, D},
                                   .stride = {L * 3 * H * D, D, 3 * H * D, 1}};
    int64_t bl[4] = {B, L, H, D};
    sdc_tensor ob = sdc_tensor_make(obuf + 1, SDC_DTYPE_F32, 4, bl);
    sdc_tensor to = sdc_tensor_transpose(&ob, 1, 2);
    for (int causal = 0; causal < 2; causal++) {
        sdc_attention_params p = {.scale = 0.3f, .causal = causal};
        sdc_status st = sdc_kern_attention(ctx, &views[0], &views[1], &views[2], &p, &to);
        CHECK_MSG(st == SDC_STATUS_OK, "attention: %s", sdc_context_errmsg(ctx));
        check_against_definition(causal ? "attention fused qkv views causal"
                                        : "attention fused qkv views",
                                 &views[0], &views[1], &views[2], &to, &p, -1);
    }
    free(qkv);
    free(obuf);
    sdc_context_destroy(ctx);
}

static void test_thread_invariance(void)
{
    sdc_context *c1 = test_context(1), *c3 = test_context(3);
    test_rng rng = {9};
    int64_t B = 2, H = 3, Lq = 50, Lk = 130, D = 24;
    int64_t nq = B * H * Lq * D, nk = B * H * Lk * D;
    float *q = test_floats(nq), *k = test_floats(nk), *v = test_floats(nk);
    float *o1 = test_floats(nq), *o3 = test_floats(nq);
    test_fill(&rng, q, nq, -2, 2);
    test_fill(&rng, k, nk, -2, 2);
    test_fill(&rng, v, nk, -1, 1);
    int64_t qs[4] = {B, H, Lq, D}, ks[4] = {B, H, Lk, D};
    sdc_tensor tq = sdc_tensor_make(q, SDC_DTYPE_F32, 4, qs);
    sdc_tensor tk = sdc_tensor_make(k, SDC_DTYPE_F32, 4, ks);
    sdc_tensor tv = sdc_tensor_make(v, SDC_DTYPE_F32, 4, ks);
    sdc_tensor t1 = sdc_tensor_make(o1, SDC_DTYPE_F32, 4, qs);
    sdc_tensor t3 = sdc_tensor_make(o3, SDC_DTYPE_F32, 4, qs);
    for (int causal = 0; causal < 2; causal++) {
        sdc_attention_params p = {.scale = 0.2f, .causal = causal};
        CHECK_EQ_INT(sdc_kern_attention(c1, &tq, &tk, &tv, &p, &t1), SDC_STATUS_OK);
        CHECK_EQ_INT(sdc_kern_attention(c3, &tq, &tk, &tv, &p, &t3), SDC_STATUS_OK);
        CHECK(memcmp(o1, o3, (size_t)nq * sizeof(float)) == 0);
    }
    free(q);
    free(k);
    free(v);
    free(o1);
    free(o3);
    sdc_context_destroy(c1);
    sdc_context_destroy(c3);
}

static void test_shape_errors(void)
{
    sdc_context *ctx = test_context(1);
    static float buf[8192];
    int64_t qs[4] = {1, 2, 5, 8}, ks[4] = {1, 2, 7, 8}, kbad[4] = {1, 2, 7, 4};
    int64_t vbad[4] = {1, 2, 6, 8}, obad[4] = {1, 2, 5, 4};
    sdc_tensor q = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, qs);
    sdc_tensor k = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, ks);
    sdc_tensor v = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 4, ks);
    sdc_tensor o = sdc_tensor_make(buf + 3072, SDC_DTYPE_F32, 4, qs);
    sdc_attention_params p = {.scale = 0.5f, .causal = false};
    CHECK_EQ_INT(sdc_kern_attention(ctx, &q, &k, &v, &p, &o), SDC_STATUS_OK);

    sdc_tensor kb = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, kbad);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &kb, &v, &p, &o), SDC_STATUS_SHAPE, "attention",
                "[1, 2, 5, 8]", "[1, 2, 7, 4]");
    sdc_tensor vb = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 4, vbad);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &k, &vb, &p, &o), SDC_STATUS_SHAPE, "attention",
                "[1, 2, 7, 8]", "[1, 2, 6, 8]");
    sdc_tensor ob = sdc_tensor_make(buf + 3072, SDC_DTYPE_F32, 4, obad);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &k, &v, &p, &ob), SDC_STATUS_SHAPE, "attention",
                "[1, 2, 5, 8]", "[1, 2, 5, 4]");
    int64_t s3[3] = {2, 5, 8};
    sdc_tensor q3 = sdc_tensor_make(buf, SDC_DTYPE_F32, 3, s3);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q3, &k, &v, &p, &o), SDC_STATUS_SHAPE, "attention",
                "[2, 5, 8]", NULL);
    sdc_tensor qt = sdc_tensor_transpose(&q, 2, 3); /* [1, 2, 8, 5], last dim strided */
    int64_t ks2[4] = {1, 2, 7, 5}, os2[4] = {1, 2, 8, 5};
    sdc_tensor k2 = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, ks2);
    sdc_tensor v2 = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 4, ks2);
    sdc_tensor o2 = sdc_tensor_make(buf + 3072, SDC_DTYPE_F32, 4, os2);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &qt, &k2, &v2, &p, &o2), SDC_STATUS_SHAPE, "attention",
                "[1, 2, 8, 5]", "contiguous");
    sdc_tensor o_over = sdc_tensor_make(buf + 8, SDC_DTYPE_F32, 4, qs);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &k, &v, &p, &o_over), SDC_STATUS_INVALID_ARGUMENT,
                "attention", "[1, 2, 5, 8]", "overlap");
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &k, &v, NULL, &o), SDC_STATUS_INVALID_ARGUMENT,
                "attention", "params", NULL);
    sdc_attention_params pn = {.scale = NAN, .causal = false};
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &k, &v, &pn, &o), SDC_STATUS_INVALID_ARGUMENT,
                "attention", "scale", NULL);
    int64_t k0[4] = {1, 2, 0, 8};
    sdc_tensor kz = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, k0);
    CHECK_ERROR(ctx, sdc_kern_attention(ctx, &q, &kz, &kz, &p, &o), SDC_STATUS_SHAPE, "attention",
                "[1, 2, 5, 8]", "[1, 2, 0, 8]");
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_causal);
    RUN(test_strided_views);
    RUN(test_thread_invariance);
    RUN(test_shape_errors);
    return test_finish();
}
