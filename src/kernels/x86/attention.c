/*
 * attention.c — torch scaled_dot_product_attention (torch 2.4) flash-style on the GEMM
 * micro-kernels, transposed so the softmax runs across vector lanes: for a sliver of NR queries
 * and a block of keys, S^T[keys, queries] = K . Q^T, an online softmax down each lane (running
 * max and sum per query), then O^T[D, queries] += V^T . P^T with P^T already in the packed
 * B layout. Scores exist one [keys x NR] tile at a time; all buffers are per-thread scratch.
 */
#include "kernels/ref/ref.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86.h"

#include <assert.h>
#include <math.h>
#include <string.h>

enum { MAX_Q_BLOCK = 1024 }; /* queries per item at most */

typedef struct attn_job {
    const sdc_tensor *q, *k, *v;
    sdc_tensor *out;
    const sdc_x86_isa *isa;
    float scale;
    bool causal;
    int64_t q_block, k_block, n_q_blocks;
    size_t qt_bytes, ot_bytes, s_bytes, p_bytes, kp_bytes; /* scratch layout */
    sdc_context *ctx;
} attn_job;

static const float *row_of(const sdc_tensor *t, int64_t b, int64_t h, int64_t i)
{
    return (const float *)t->data + b * t->stride[0] + h * t->stride[1] + i * t->stride[2];
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* One lane-parallel online-softmax update over nk score rows of s[j][nr] (raw q.k, turned into
 * unnormalised probabilities in place); scales the accumulators ot[d][nr] by the correction.
 * Scores are kept in log2 units (scale log2 e folded in), so each probability is one FMA and
 * one exp2: p = 2^(s c - max c). The first pass only reads, finding each lane's extreme raw
 * score (the max for scale >= 0, else the min). */
void sdc_x86_softmax_step_avx2(float *s, int64_t nk, int nr, int64_t D, float scale, float *run_max,
                               float *run_sum, float *ot, bool causal, int64_t q0, int64_t j0,
                               uint16_t *bf16_out)
{
    assert(bf16_out == NULL); /* the AVX2 ISA is float32 only */
    (void)bf16_out;
    const float log2e = 1.44269504088896341f;
    __m256 c = _mm256_set1_ps(scale * log2e);
    for (int l = 0; l < nr; l += 8) {
        __m256 mx = _mm256_loadu_ps(run_max + l);
        __m256 qidx =
            _mm256_add_ps(_mm256_set1_ps((float)(q0 + l)), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 tile_max;
        if (!causal) {
            __m256 hi = _mm256_set1_ps(-INFINITY), lo = _mm256_set1_ps(INFINITY);
            for (int64_t j = 0; j < nk; j++) {
                __m256 v = _mm256_loadu_ps(s + j * nr + l);
                hi = _mm256_max_ps(hi, v);
                lo = _mm256_min_ps(lo, v);
            }
            tile_max = _mm256_mul_ps(scale >= 0.0f ? hi : lo, c);
        } else {
            tile_max = _mm256_set1_ps(-INFINITY);
            for (int64_t j = 0; j < nk; j++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + j * nr + l), c);
                __m256 masked = _mm256_cmp_ps(_mm256_set1_ps((float)(j0 + j)), qidx, _CMP_GT_OQ);
                tile_max =
                    _mm256_max_ps(tile_max, _mm256_blendv_ps(v, _mm256_set1_ps(-INFINITY), masked));
            }
        }
        __m256 new_max = _mm256_max_ps(mx, tile_max);
        /* A lane with no key yet keeps max -inf: use 0 so 2^(-inf - 0) = 0, never NaN. */
        __m256 none = _mm256_cmp_ps(new_max, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
        __m256 safe = _mm256_andnot_ps(none, new_max);
        __m256 corr = sdc_v8_exp2(_mm256_sub_ps(mx, safe));
        __m256 sum = _mm256_setzero_ps();
        for (int64_t j = 0; j < nk; j++) {
            __m256 x = _mm256_fmsub_ps(_mm256_loadu_ps(s + j * nr + l), c, safe);
            if (causal) {
                __m256 masked = _mm256_cmp_ps(_mm256_set1_ps((float)(j0 + j)), qidx, _CMP_GT_OQ);
                x = _mm256_blendv_ps(x, _mm256_set1_ps(-INFINITY), masked);
            }
            __m256 p = sdc_v8_exp2(x);
            _mm256_storeu_ps(s + j * nr + l, p);
            sum = _mm256_add_ps(sum, p);
        }
        __m256 rs = _mm256_loadu_ps(run_sum + l);
        _mm256_storeu_ps(run_sum + l, _mm256_fmadd_ps(rs, corr, sum));
        _mm256_storeu_ps(run_max + l, new_max);
        for (int64_t d = 0; d < D; d++) {
            float *o = ot + d * nr + l;
            _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_loadu_ps(o), corr));
        }
    }
}

/* Rows of the V^T sliver holding the `left` last dims: MR, or 8 where that wastes less
 * (D = 40 is 12 + 12 + 8 + 8 rather than 4 x 12). */
static int v_rows(const sdc_x86_isa *isa, int64_t left)
{
    if (!isa->ukernel8 || isa->mr <= 8)
        return isa->mr;
    return left <= 8 || (left > isa->mr && left <= 16) ? 8 : isa->mr;
}

static void attn_item(const attn_job *job, int64_t item, int thread)
{
    const sdc_x86_isa *isa = job->isa;
    const int mr = isa->mr, nr = isa->nr;
    int64_t H = job->q->shape[1], Lq = job->q->shape[2], Lk = job->k->shape[2];
    int64_t D = job->q->shape[3];
    int64_t qb = item % job->n_q_blocks, h = item / job->n_q_blocks % H;
    int64_t b = item / job->n_q_blocks / H;
    int64_t q0 = qb * job->q_block, nq = Lq - q0 < job->q_block ? Lq - q0 : job->q_block;
    int64_t Dp = sdc_x86_kc_padded(isa, D);
    int64_t n_slivers = (nq + nr - 1) / nr;

    unsigned char *at = sdc_thread_scratch(job->ctx, thread);
    unsigned char *qt = at;
    float *ot = (float *)(at += job->qt_bytes);
    float *s = (float *)(at += job->ot_bytes);
    void *pp = at += job->s_bytes;
    unsigned char *kp = at += job->p_bytes;
    unsigned char *vp = at += job->kp_bytes;
    float run_max[MAX_Q_BLOCK], run_sum[MAX_Q_BLOCK];

    size_t q_sliver = sdc_x86_sliver_bytes(isa, nr, D);
    size_t k_sliver = sdc_x86_sliver_bytes(isa, mr, D);
    int64_t q_ld = job->q->stride[2], k_ld = job->k->stride[2], v_ld = job->v->stride[2];
    for (int64_t t = 0; t < n_slivers; t++) {
        int64_t i = q0 + t * nr;
        int count = (int)(nq - t * nr < nr ? nq - t * nr : nr);
        isa->pack(row_of(job->q, b, h, i), q_ld, 1, count, nr, D, Dp, qt + t * q_sliver);
    }
    memset(ot, 0, (size_t)(n_slivers * nr * D) * sizeof(float));
    for (int64_t i = 0; i < n_slivers * nr; i++) {
        run_max[i] = -INFINITY;
        run_sum[i] = 0.0f;
    }

    for (int64_t j0 = 0; j0 < Lk; j0 += job->k_block) {
        if (job->causal && j0 > q0 + nq - 1)
            break;
        int64_t nk = Lk - j0 < job->k_block ? Lk - j0 : job->k_block;
        int64_t nkp = sdc_x86_kc_padded(isa, nk);
        for (int64_t j = 0; j < nk; j += mr) {
            int count = (int)(nk - j < mr ? nk - j : mr);
            isa->pack(row_of(job->k, b, h, j0 + j), k_ld, 1, count, mr, D, Dp,
                      kp + j / mr * k_sliver);
        }
        unsigned char *vs = vp;
        for (int64_t d = 0; d < D;) {
            int w = v_rows(isa, D - d);
            int count = (int)(D - d < w ? D - d : w);
            isa->pack(row_of(job->v, b, h, j0) + d, 1, v_ld, count, w, nk, nkp, vs);
            vs += sdc_x86_sliver_bytes(isa, w, nk);
            d += w;
        }
        for (int64_t t = 0; t < n_slivers; t++) {
            float *ot_t = ot + t * nr * D;
            for (int64_t j = 0; j < nk; j += mr) {
                int rows = (int)(nk - j < mr ? nk - j : mr);
                isa->ukernel(Dp, kp + j / mr * k_sliver, qt + t * q_sliver, s + j * nr, nr, rows,
                             nr, false, NULL, NULL);
            }
            /* bf16: the step writes P^T packed, as isa->pack would. */
            uint16_t *p_bf16 = isa->kpair != 1 ? pp : NULL;
            isa->softmax_step(s, nk, nr, D, job->scale, run_max + t * nr, run_sum + t * nr, ot_t,
                              job->causal, q0 + t * nr, j0, p_bf16);
            const void *pt = p_bf16 ? (const void *)p_bf16 : (const void *)s;
            vs = vp;
            for (int64_t d = 0; d < D;) {
                int w = v_rows(isa, D - d);
                int rows = (int)(D - d < w ? D - d : w);
                sdc_x86_ukernel_fn uk = w == mr ? isa->ukernel : isa->ukernel8;
                uk(nkp, vs, pt, ot_t + d * nr, nr, rows, nr, true, NULL, NULL);
                vs += sdc_x86_sliver_bytes(isa, w, nk);
                d += w;
            }
        }
    }

    for (int64_t t = 0; t < n_slivers; t++) {
        const float *ot_t = ot + t * nr * D;
        int count = (int)(nq - t * nr < nr ? nq - t * nr : nr);
        for (int l = 0; l < count; l++) {
            float *o = (float *)job->out->data + b * job->out->stride[0] + h * job->out->stride[1] +
                       (q0 + t * nr + l) * job->out->stride[2];
            float inv = 1.0f / run_sum[t * nr + l];
            for (int64_t d = 0; d < D; d++)
                o[d] = ot_t[d * nr + l] * inv;
        }
    }
}

static void attn_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const attn_job *job = arg;
    for (int64_t item = begin; item < end; item++)
        attn_item(job, item, thread);
}

void sdc_x86_attention(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *q,
                       const sdc_tensor *k, const sdc_tensor *v, const sdc_attention_params *p,
                       sdc_tensor *out)
{
    int64_t D = q->shape[3], Lq = q->shape[2];
    attn_job job = {.q = q,
                    .k = k,
                    .v = v,
                    .out = out,
                    .isa = isa,
                    .scale = p->scale,
                    .causal = p->causal,
                    .ctx = ctx};
    /* Many queries per item, so that each packed K and V block serves many query slivers
     * (packing costs as much as a tenth of the products with 40-dim heads otherwise); the
     * queries' packed copy and accumulators (8 D bytes each) stay within about 384 KiB. */
    job.q_block = MAX_Q_BLOCK;
    while (job.q_block > 128 && job.q_block * D > 48 * 1024)
        job.q_block /= 2;
    job.k_block = D <= 160 ? 256 : 64;
    /* Fewer queries per item when there are few items, so every thread gets work. */
    int64_t heads = q->shape[0] * q->shape[1];
    int64_t want = 4 * (int64_t)sdc_context_n_threads(ctx);
    while (job.q_block > isa->nr && heads * ((Lq + job.q_block - 1) / job.q_block) < want)
        job.q_block /= 2;
    job.q_block = (job.q_block + isa->nr - 1) / isa->nr * isa->nr;
    job.n_q_blocks = (Lq + job.q_block - 1) / job.q_block;
    int64_t Dp = sdc_x86_kc_padded(isa, D);
    int64_t Dr = (D + isa->mr - 1) / isa->mr * isa->mr;
    job.qt_bytes = align64((size_t)(job.q_block * Dp) * isa->elem);
    job.ot_bytes = align64((size_t)(job.q_block * D) * sizeof(float));
    job.s_bytes = align64((size_t)(job.k_block * isa->nr) * sizeof(float));
    job.p_bytes = align64((size_t)(job.k_block * isa->nr) * isa->elem);
    job.kp_bytes = align64((size_t)((job.k_block + isa->mr) * Dp) * isa->elem);
    size_t vp_bytes = align64((size_t)(Dr * (job.k_block + 1)) * isa->elem);
    size_t total =
        job.qt_bytes + job.ot_bytes + job.s_bytes + job.p_bytes + job.kp_bytes + vp_bytes;
    if (total > SDC_THREAD_SCRATCH_BYTES || job.q_block > MAX_Q_BLOCK) {
        /* Head dims far beyond any model's: the reference's bounded tiles. */
        sdc_ref_attention(ctx, q, k, v, p, out);
        return;
    }
    sdc_parallel_for(ctx, heads * job.n_q_blocks, 1, attn_range, &job);
}
