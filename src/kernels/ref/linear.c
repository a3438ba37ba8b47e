/*
 * linear.c — reference y = x . w^T + bias, torch.nn.functional.linear (torch 2.4) in float32.
 *
 * Each output is acc = 0; acc += x[m, k] * w[n, k] for k = 0, 1, ... K-1; y = acc + bias[n]:
 * one fixed order, whatever the tiling or thread count (torch's BLAS sums in another order,
 * so results agree within float rounding, not bit for bit).
 */
#include "kernels/ref/ref.h"

#include <string.h>

enum {
    TILE_N = 8,   /* weight rows decoded together: the output columns of one work item */
    TILE_K = 256, /* k values decoded at once */
    TILE_M = 64,  /* x rows of one work item */
    ROWS = 4,     /* x rows computed together, so each decoded weight value is loaded once */
};

static_assert(ROWS == 4, "accumulate() is written out for four rows");

typedef struct linear_job {
    const sdc_tensor *x;
    const sdc_weight *w;
    const float *bias;
    sdc_tensor *y;
    int64_t n_col_tiles;
} linear_job;

/* Decodes w[n0 .. n0 + TILE_N, k0 .. k0 + kc] transposed into wt[k][j]; rows past the end of
 * w are zero (their sums are computed and dropped). */
static void decode_tile(const sdc_weight *w, int64_t n0, int64_t nn, int64_t k0, int64_t kc,
                        float wt[TILE_K][TILE_N])
{
    float row[TILE_K];
    for (int64_t j = 0; j < TILE_N; j++) {
        if (j < nn)
            sdc_weight_decode(w, n0 + j, k0, kc, row);
        else
            memset(row, 0, sizeof row);
        for (int64_t k = 0; k < kc; k++)
            wt[k][j] = row[k];
    }
}

/* acc[r][j] += sum over k of xr[r][k] * wt[k][j], k in increasing order (wt is only read; it
 * is not const because C11 forbids passing float[][] as const float[][]). The accumulators
 * vectorise across j and stay in registers. The second exit at the bottom of the loop is
 * deliberate: with a single exit GCC -O3 vectorises the loop across k as an in-order
 * reduction, which gives the same result at half the speed. */
static void accumulate(const float *xr[ROWS], float wt[TILE_K][TILE_N], int64_t kc,
                       float acc[ROWS][TILE_N])
{
    float a0[TILE_N], a1[TILE_N], a2[TILE_N], a3[TILE_N];
    memcpy(a0, acc[0], sizeof a0);
    memcpy(a1, acc[1], sizeof a1);
    memcpy(a2, acc[2], sizeof a2);
    memcpy(a3, acc[3], sizeof a3);
    for (int64_t k = 0; k < kc; k++) {
        float x0 = xr[0][k], x1 = xr[1][k], x2 = xr[2][k], x3 = xr[3][k];
        for (int j = 0; j < TILE_N; j++) {
            float w = wt[k][j];
            a0[j] += x0 * w;
            a1[j] += x1 * w;
            a2[j] += x2 * w;
            a3[j] += x3 * w;
        }
        if (k + 1 == kc)
            break;
    }
    memcpy(acc[0], a0, sizeof a0);
    memcpy(acc[1], a1, sizeof a1);
    memcpy(acc[2], a2, sizeof a2);
    memcpy(acc[3], a3, sizeof a3);
}

static void linear_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const linear_job *job = arg;
    const sdc_tensor *x = job->x;
    sdc_tensor *y = job->y;
    int64_t M = x->shape[0], K = x->shape[1], N = y->shape[1];
    const float *xd = x->data;
    float *yd = y->data;
    float wt[TILE_K][TILE_N];
    float acc[TILE_M][TILE_N];

    for (int64_t item = begin; item < end; item++) {
        int64_t m0 = item / job->n_col_tiles * TILE_M;
        int64_t n0 = item % job->n_col_tiles * TILE_N;
        int64_t mm = M - m0 < TILE_M ? M - m0 : TILE_M;
        int64_t nn = N - n0 < TILE_N ? N - n0 : TILE_N;
        memset(acc, 0, sizeof acc);
        for (int64_t k0 = 0; k0 < K; k0 += TILE_K) {
            int64_t kc = K - k0 < TILE_K ? K - k0 : TILE_K;
            decode_tile(job->w, n0, nn, k0, kc, wt);
            for (int64_t m = 0; m < mm; m += ROWS) {
                /* Past the last row, repeat it: computed, never stored. */
                const float *xr[ROWS];
                for (int r = 0; r < ROWS; r++) {
                    int64_t row = m0 + (m + r < mm ? m + r : mm - 1);
                    xr[r] = xd + row * x->stride[0] + k0;
                }
                float(*a)[TILE_N] = &acc[m];
                if (m + ROWS <= mm) {
                    accumulate(xr, wt, kc, a);
                } else {
                    float tail[ROWS][TILE_N] = {{0}};
                    memcpy(tail, a, (size_t)(mm - m) * sizeof tail[0]);
                    accumulate(xr, wt, kc, tail);
                    memcpy(a, tail, (size_t)(mm - m) * sizeof tail[0]);
                }
            }
        }
        for (int64_t m = 0; m < mm; m++) {
            float *yr = yd + (m0 + m) * y->stride[0] + n0;
            for (int64_t j = 0; j < nn; j++)
                yr[j] = job->bias ? acc[m][j] + job->bias[n0 + j] : acc[m][j];
        }
    }
}

void sdc_ref_linear(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                    sdc_tensor *y)
{
    int64_t M = y->shape[0], N = y->shape[1];
    linear_job job = {
        .x = x, .w = w, .bias = bias, .y = y, .n_col_tiles = (N + TILE_N - 1) / TILE_N};
    int64_t n_row_tiles = (M + TILE_M - 1) / TILE_M;
    sdc_parallel_for(ctx, n_row_tiles * job.n_col_tiles, 1, linear_range, &job);
}
