/*
 * Tests src/kernels/x86/attention.c (S^T = K Q^T per NR-query sliver, lane-parallel online
 * softmax, O^T += V^T P^T) against the reference attention on the same inputs, for every x86
 * level this machine runs: head dims 1 to 512 (40, 64, 80, 160 as in the models), key counts
 * around the key blocks and slivers (1, 3, 17, 33, 77, 300, 600), causal masks with Lq <, = and
 * > Lk, [B, L, H, D] strided views, 1 and 3 threads.
 *
 * Tolerance: each result is within 2 u (D S + R + Lk + 16) A of the exact value (see
 * test_attention.c: S the largest |scale q.k| magnitude sum, R the largest |s - max|, A the
 * probability-weighted |v|), so they differ by at most twice that. The bf16 table rounds q, k,
 * v and the probabilities to bf16: the reference gets bf16-rounded q, k, v, and 2^-8 A more is
 * allowed for the probabilities.
 */
#include "x86_test.h"

typedef struct attn_case {
    int64_t B, H, Lq, Lk, D;
    bool causal;
    bool blhd; /* q, k, v, out as [B, L, H, D] memory seen as [B, H, L, D] */
} attn_case;

static sdc_tensor view(float *data, const attn_case *c, int64_t L, bool blhd)
{
    int64_t shape[4] = {c->B, c->H, L, c->D};
    if (!blhd)
        return sdc_tensor_make(data, SDC_DTYPE_F32, 4, shape);
    int64_t mem[4] = {c->B, L, c->H, c->D};
    sdc_tensor t = sdc_tensor_make(data, SDC_DTYPE_F32, 4, mem);
    return sdc_tensor_transpose(&t, 1, 2);
}

static void run_case(sdc_context *ctx, const x86_level *level, const attn_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t nq = c->B * c->H * c->Lq * c->D, nk = c->B * c->H * c->Lk * c->D;
    float *qb, *kb, *vb, *ob, *rb;
    float *q = x86_unaligned(nq, &qb), *k = x86_unaligned(nk, &kb), *v = x86_unaligned(nk, &vb);
    float *o = x86_unaligned(nq, &ob), *orf = x86_unaligned(nq, &rb);
    /* Scores up to about +-8 so that the running max moves and rescaling happens. */
    test_fill(&rng, q, nq, -2.0f, 2.0f);
    test_fill(&rng, k, nk, -2.0f, 2.0f);
    test_fill(&rng, v, nk, -1.0f, 1.0f);
    if (level->bf16) {
        x86_round_bf16(q, nq);
        x86_round_bf16(k, nk);
        x86_round_bf16(v, nk);
    }
    sdc_tensor Q = view(q, c, c->Lq, c->blhd), K = view(k, c, c->Lk, c->blhd);
    sdc_tensor V = view(v, c, c->Lk, c->blhd), O = view(o, c, c->Lq, c->blhd);
    sdc_tensor OR = view(orf, c, c->Lq, c->blhd);
    sdc_attention_params p = {.scale = 1.0f / sqrtf((float)c->D), .causal = c->causal};
    level->table->attention(ctx, &Q, &K, &V, &p, &O);
    sdc_kernels_ref()->attention(ctx, &Q, &K, &V, &p, &OR);

    float *got = test_floats(nq);
    double *ref = test_doubles(nq), *tol = test_doubles(nq), *s = test_doubles(c->Lk);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < c->Lq; i++) {
                int64_t idx[4] = {b, h, i, 0};
                const float *qi = sdc_tensor_at(&Q, idx);
                int64_t n_keys = c->causal ? (i + 1 < c->Lk ? i + 1 : c->Lk) : c->Lk;
                double S = 0, max = -INFINITY, R = 0, sum = 0;
                for (int64_t j = 0; j < n_keys; j++) {
                    int64_t kidx[4] = {b, h, j, 0};
                    const float *kj = sdc_tensor_at(&K, kidx);
                    double dot = 0, mag = 0;
                    for (int64_t d = 0; d < c->D; d++) {
                        dot += (double)qi[d] * kj[d];
                        mag += fabs((double)qi[d] * kj[d]);
                    }
                    s[j] = p.scale * dot;
                    S = fmax(S, p.scale * mag);
                    max = fmax(max, s[j]);
                }
                for (int64_t j = 0; j < n_keys; j++) {
                    R = fmax(R, max - s[j]);
                    sum += exp(s[j] - max);
                }
                const float *oi = sdc_tensor_at(&O, idx), *ri = sdc_tensor_at(&OR, idx);
                for (int64_t d = 0; d < c->D; d++) {
                    double A = 0;
                    for (int64_t j = 0; j < n_keys; j++) {
                        int64_t vidx[4] = {b, h, j, d};
                        A += exp(s[j] - max) / sum * fabs(*(const float *)sdc_tensor_at(&V, vidx));
                    }
                    int64_t at = ((b * c->H + h) * c->Lq + i) * c->D + d;
                    got[at] = oi[d];
                    ref[at] = ri[d];
                    tol[at] = 4.0 * TEST_U * ((double)c->D * S + R + (double)c->Lk + 16) * A +
                              (level->bf16 ? A / 256.0 : 0.0) + 1e-30;
                }
            }
    char what[160];
    snprintf(what, sizeof what, "%s attention B%lld H%lld Lq%lld Lk%lld D%lld%s%s", level->name,
             (long long)c->B, (long long)c->H, (long long)c->Lq, (long long)c->Lk, (long long)c->D,
             c->causal ? " causal" : "", c->blhd ? " [B,L,H,D]" : "");
    CHECK_CLOSE(what, nq, got, ref, tol);
    free(got);
    free(ref);
    free(tol);
    free(s);
    free(qb);
    free(kb);
    free(vb);
    free(ob);
    free(rb);
}

static const attn_case cases[] = {
    {1, 1, 1, 1, 1, false, false},      {1, 2, 3, 7, 3, false, true},
    {2, 1, 17, 33, 7, false, false},    {1, 3, 33, 17, 17, true, true},
    {1, 2, 77, 77, 64, true, false},    {2, 2, 40, 77, 40, false, true},
    {1, 1, 300, 300, 40, false, false}, {1, 1, 70, 600, 80, false, true},
    {1, 1, 33, 100, 160, true, false},  {1, 1, 40, 150, 512, false, false},
    {1, 1, 100, 30, 33, true, true},    {1, 4, 260, 257, 8, false, false},
    /* query blocks of 1024 and a ragged last one (40-dim heads, 8 heads) */
    {2, 4, 1030, 45, 40, false, true},
};

static void test_attention_levels(void)
{
    sdc_context *ctxs[2] = {test_context(1), test_context(3)};
    for (int t = 0; t < 2; t++) {
        x86_level levels[3];
        int n = x86_levels(ctxs[t], levels);
        for (int l = 0; l < n; l++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                run_case(ctxs[t], &levels[l], &cases[i], 3000 + i);
        sdc_context_destroy(ctxs[t]);
    }
}

int main(void)
{
    RUN(test_attention_levels);
    return test_finish();
}
