/*
 * conv2d.c — reference 2-D convolution, torch.nn.functional.conv2d (torch 2.4; groups = 1,
 * dilation 1, zero padding) in float32, computed directly: no im2col buffer.
 *
 * Each output is acc = 0; acc += w[o, c, ky, kx] * x[n, c, iy, ix] over the taps (c, ky, kx)
 * in increasing order, skipping taps that fall in the padding; y = acc + bias[o]. The order
 * does not depend on the tiling or the thread count.
 */
#include "kernels/ref/ref.h"

enum {
    TILE_O = 8,      /* output channels of one work item */
    TILE_ROWS = 8,   /* output rows of one work item */
    TILE_TAPS = 512, /* taps (c, ky, kx) of weights decoded at once */
};

typedef struct conv_job {
    const float *x;
    const sdc_weight *w;
    const float *bias;
    float *y;
    int64_t N, C, H, W, O, kh, kw, Ho, Wo;
    int64_t sh, sw, ph, pw;
    int64_t n_o_tiles, n_row_tiles;
} conv_job;

/* y[i] += wv * x[i * stride] for i in [0, n). */
static void axpy_strided(float *restrict y, float wv, const float *restrict x, int64_t n,
                         int64_t stride)
{
    if (stride == 1) {
        for (int64_t i = 0; i < n; i++)
            y[i] += wv * x[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] += wv * x[i * stride];
    }
}

/* Adds tap (c, ky, kx) of output channels o0 .. o0 + no to output row oy of sample n. */
static void add_tap(const conv_job *job, int64_t n, int64_t o0, int64_t no, int64_t oy, int64_t c,
                    int64_t ky, int64_t kx, const float *wv, int64_t w_stride)
{
    int64_t iy = oy * job->sh - job->ph + ky;
    if (iy < 0 || iy >= job->H)
        return;
    /* Output columns ox whose input column ox * sw - pw + kx lies inside [0, W). */
    int64_t first = job->pw - kx;
    int64_t lo = first <= 0 ? 0 : (first + job->sw - 1) / job->sw;
    int64_t last = job->W - 1 + job->pw - kx; /* largest ox * sw allowed */
    int64_t hi = last < 0 ? 0 : last / job->sw + 1;
    if (hi > job->Wo)
        hi = job->Wo;
    if (lo >= hi)
        return;
    const float *xrow = job->x + ((n * job->C + c) * job->H + iy) * job->W;
    const float *xs = xrow + lo * job->sw - job->pw + kx;
    for (int64_t j = 0; j < no; j++) {
        float *yrow = job->y + ((n * job->O + o0 + j) * job->Ho + oy) * job->Wo;
        axpy_strided(yrow + lo, wv[j * w_stride], xs, hi - lo, job->sw);
    }
}

static void conv_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const conv_job *job = arg;
    int64_t taps = job->C * job->kh * job->kw;
    int64_t kk = job->kh * job->kw;
    float wbuf[TILE_O][TILE_TAPS];

    for (int64_t item = begin; item < end; item++) {
        int64_t rt = item % job->n_row_tiles;
        int64_t ot = item / job->n_row_tiles % job->n_o_tiles;
        int64_t n = item / job->n_row_tiles / job->n_o_tiles;
        int64_t o0 = ot * TILE_O, no = job->O - o0 < TILE_O ? job->O - o0 : TILE_O;
        int64_t oy0 = rt * TILE_ROWS, oy1 = oy0 + TILE_ROWS < job->Ho ? oy0 + TILE_ROWS : job->Ho;

        for (int64_t j = 0; j < no; j++)
            for (int64_t oy = oy0; oy < oy1; oy++) {
                float *yrow = job->y + ((n * job->O + o0 + j) * job->Ho + oy) * job->Wo;
                for (int64_t ox = 0; ox < job->Wo; ox++)
                    yrow[ox] = 0.0f;
            }

        for (int64_t t0 = 0; t0 < taps; t0 += TILE_TAPS) {
            int64_t nt = taps - t0 < TILE_TAPS ? taps - t0 : TILE_TAPS;
            for (int64_t j = 0; j < no; j++)
                sdc_weight_decode(job->w, o0 + j, t0, nt, wbuf[j]);
            for (int64_t oy = oy0; oy < oy1; oy++) {
                for (int64_t t = t0; t < t0 + nt; t++) {
                    int64_t c = t / kk, ky = t % kk / job->kw, kx = t % job->kw;
                    add_tap(job, n, o0, no, oy, c, ky, kx, &wbuf[0][t - t0], TILE_TAPS);
                }
            }
        }

        if (job->bias) {
            for (int64_t j = 0; j < no; j++) {
                float b = job->bias[o0 + j];
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    float *yrow = job->y + ((n * job->O + o0 + j) * job->Ho + oy) * job->Wo;
                    for (int64_t ox = 0; ox < job->Wo; ox++)
                        yrow[ox] += b;
                }
            }
        }
    }
}

void sdc_ref_conv2d(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                    const sdc_conv2d_params *p, sdc_tensor *y)
{
    conv_job job = {
        .x = x->data,
        .w = w,
        .bias = bias,
        .y = y->data,
        .N = x->shape[0],
        .C = x->shape[1],
        .H = x->shape[2],
        .W = x->shape[3],
        .O = y->shape[1],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .Ho = y->shape[2],
        .Wo = y->shape[3],
        .sh = p->stride_h,
        .sw = p->stride_w,
        .ph = p->pad_h,
        .pw = p->pad_w,
    };
    job.n_o_tiles = (job.O + TILE_O - 1) / TILE_O;
    job.n_row_tiles = (job.Ho + TILE_ROWS - 1) / TILE_ROWS;
    sdc_parallel_for(ctx, job.N * job.n_o_tiles * job.n_row_tiles, 1, conv_range, &job);
}
