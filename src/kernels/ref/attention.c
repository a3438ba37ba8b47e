/*
 * attention.c — reference scaled dot-product attention, torch.nn.functional.
 * scaled_dot_product_attention(q, k, v, is_causal=..., scale=...) (torch 2.4) in float32,
 * computed flash-style: keys in tiles with an online softmax (running max and sum, rescaling
 * the accumulated output), so the Lq x Lk score matrix never exists. The output row itself is
 * the accumulator; the only scratch is one tile of scores per query, on the stack.
 */
#include "kernels/ref/ref.h"

#include <math.h>

enum {
    TILE_Q = 16, /* queries of one work item: they share each key/value tile in cache */
    TILE_K = 64, /* keys per tile */
};

typedef struct attention_job {
    const sdc_tensor *q, *k, *v;
    sdc_tensor *out;
    float scale;
    bool causal;
    int64_t n_q_tiles;
} attention_job;

/* a . b in eight interleaved partial sums combined pairwise: a fixed order the compiler can
 * vectorise. */
static float dot(const float *a, const float *b, int64_t n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            s[l] += a[i + l] * b[i + l];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

static const float *row4(const sdc_tensor *t, int64_t b, int64_t h, int64_t i)
{
    return (const float *)t->data + b * t->stride[0] + h * t->stride[1] + i * t->stride[2];
}

static float *out_row(const sdc_tensor *t, int64_t b, int64_t h, int64_t i)
{
    return (float *)t->data + b * t->stride[0] + h * t->stride[1] + i * t->stride[2];
}

static void attention_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const attention_job *job = arg;
    const int64_t H = job->q->shape[1], Lq = job->q->shape[2], Lk = job->k->shape[2];
    const int64_t D = job->q->shape[3];
    float scores[TILE_Q][TILE_K];
    float run_max[TILE_Q], run_sum[TILE_Q];

    for (int64_t item = begin; item < end; item++) {
        int64_t i0 = item % job->n_q_tiles * TILE_Q;
        int64_t h = item / job->n_q_tiles % H;
        int64_t b = item / job->n_q_tiles / H;
        int64_t nq = Lq - i0 < TILE_Q ? Lq - i0 : TILE_Q;
        for (int64_t i = 0; i < nq; i++) {
            float *o = out_row(job->out, b, h, i0 + i);
            for (int64_t d = 0; d < D; d++)
                o[d] = 0.0f;
            run_max[i] = -INFINITY;
            run_sum[i] = 0.0f;
        }

        for (int64_t j0 = 0; j0 < Lk; j0 += TILE_K) {
            int64_t nk = Lk - j0 < TILE_K ? Lk - j0 : TILE_K;
            for (int64_t i = 0; i < nq; i++) {
                /* Causal: query i0 + i sees keys j <= i0 + i. */
                int64_t nk_i = nk;
                if (job->causal && i0 + i + 1 - j0 < nk_i)
                    nk_i = i0 + i + 1 - j0;
                if (nk_i <= 0)
                    continue;
                const float *qi = row4(job->q, b, h, i0 + i);
                float *s = scores[i];
                float tile_max = -INFINITY;
                for (int64_t j = 0; j < nk_i; j++) {
                    s[j] = job->scale * dot(qi, row4(job->k, b, h, j0 + j), D);
                    tile_max = s[j] > tile_max ? s[j] : tile_max;
                }
                float new_max = run_max[i] > tile_max ? run_max[i] : tile_max;
                float correction = expf(run_max[i] - new_max); /* 0 on the first tile */
                float tile_sum = 0.0f;
                for (int64_t j = 0; j < nk_i; j++) {
                    s[j] = expf(s[j] - new_max);
                    tile_sum += s[j];
                }
                run_sum[i] = run_sum[i] * correction + tile_sum;
                run_max[i] = new_max;

                float *o = out_row(job->out, b, h, i0 + i);
                for (int64_t d = 0; d < D; d++)
                    o[d] *= correction;
                for (int64_t j = 0; j < nk_i; j++) {
                    const float *vj = row4(job->v, b, h, j0 + j);
                    float p = s[j];
                    for (int64_t d = 0; d < D; d++)
                        o[d] += p * vj[d];
                }
            }
        }

        for (int64_t i = 0; i < nq; i++) {
            float *o = out_row(job->out, b, h, i0 + i);
            float inv = 1.0f / run_sum[i];
            for (int64_t d = 0; d < D; d++)
                o[d] *= inv;
        }
    }
}

void sdc_ref_attention(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,
                       const sdc_tensor *v, const sdc_attention_params *p, sdc_tensor *out)
{
    attention_job job = {
        .q = q,
        .k = k,
        .v = v,
        .out = out,
        .scale = p->scale,
        .causal = p->causal,
        .n_q_tiles = (q->shape[2] + TILE_Q - 1) / TILE_Q,
    };
    sdc_parallel_for(ctx, q->shape[0] * q->shape[1] * job.n_q_tiles, 1, attention_range, &job);
}
