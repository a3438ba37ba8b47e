/*
 * norm.c — reference torch.nn.GroupNorm (optionally followed by SiLU, as diffusers' ResnetBlock2D
 * does) and torch.nn.LayerNorm over the last dim (torch 2.4), biased variance.
 *
 * Statistics are two-pass sums in double (torch uses float Welford/cascade sums; results agree
 * within float rounding). Normalisation is in float: (x - mean) * (rstd * gamma) + beta, which
 * keeps precision when |mean| >> std better than torch's x * scale + shift.
 */
#include "kernels/ref/ref.h"

#include <math.h>

/* Sum of x[0 .. n) in double, in four interleaved partial sums then combined: a fixed order
 * the compiler can vectorise. */
static double sum_f64(const float *x, int64_t n)
{
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++)
            s[l] += (double)x[i + l];
    double t = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < n; i++)
        t += (double)x[i];
    return t;
}

/* Sum of (x[i] - mean)^2 in double, same order as sum_f64. */
static double sum_sq_dev_f64(const float *x, int64_t n, double mean)
{
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) {
            double d = (double)x[i + l] - mean;
            s[l] += d * d;
        }
    double t = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        t += d * d;
    }
    return t;
}

static float silu(float v)
{
    return v / (1.0f + expf(-v));
}

/* y[i] = (x[i] - mean) * scale + shift, then SiLU when asked. x may equal y. */
static void normalise(const float *x, float *y, int64_t n, float mean, float scale, float shift,
                      bool apply_silu)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] - mean) * scale + shift;
    if (apply_silu)
        for (int64_t i = 0; i < n; i++)
            y[i] = silu(y[i]);
}

typedef struct group_norm_job {
    const float *x;
    float *y;
    int64_t C, spatial;
    int groups;
    const float *gamma, *beta;
    float eps;
    bool silu;
} group_norm_job;

/* Items are (sample, group); a group is C / groups consecutive channels. */
static void group_norm_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const group_norm_job *job = arg;
    int64_t cpg = job->C / job->groups;
    int64_t count = cpg * job->spatial;
    for (int64_t item = begin; item < end; item++) {
        int64_t n = item / job->groups, g = item % job->groups;
        int64_t offset = (n * job->C + g * cpg) * job->spatial;
        const float *x = job->x + offset;
        float *y = job->y + offset;
        double mean = count > 0 ? sum_f64(x, count) / (double)count : 0.0;
        double var = count > 0 ? sum_sq_dev_f64(x, count, mean) / (double)count : 0.0;
        double rstd = 1.0 / sqrt(var + (double)job->eps);
        for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
            double gamma = job->gamma ? (double)job->gamma[c] : 1.0;
            float shift = job->beta ? job->beta[c] : 0.0f;
            int64_t at = (c - g * cpg) * job->spatial;
            normalise(x + at, y + at, job->spatial, (float)mean, (float)(rstd * gamma), shift,
                      job->silu);
        }
    }
}

void sdc_ref_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups, const float *gamma,
                        const float *beta, float eps, bool silu, sdc_tensor *y)
{
    int64_t spatial = x->shape[2] * (x->ndim == 4 ? x->shape[3] : 1);
    group_norm_job job = {
        .x = x->data,
        .y = y->data,
        .C = x->shape[1],
        .spatial = spatial,
        .groups = groups,
        .gamma = gamma,
        .beta = beta,
        .eps = eps,
        .silu = silu,
    };
    sdc_parallel_for(ctx, x->shape[0] * groups, 1, group_norm_range, &job);
}

typedef struct layer_norm_job {
    const sdc_tensor *x;
    sdc_tensor *y;
    const float *gamma, *beta;
    float eps;
} layer_norm_job;

static void layer_norm_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const layer_norm_job *job = arg;
    int64_t C = job->x->shape[1];
    for (int64_t m = begin; m < end; m++) {
        const float *x = (const float *)job->x->data + m * job->x->stride[0];
        float *y = (float *)job->y->data + m * job->y->stride[0];
        double mean = C > 0 ? sum_f64(x, C) / (double)C : 0.0;
        double var = C > 0 ? sum_sq_dev_f64(x, C, mean) / (double)C : 0.0;
        float rstd = (float)(1.0 / sqrt(var + (double)job->eps));
        float mean_f = (float)mean;
        for (int64_t c = 0; c < C; c++) {
            float v = (x[c] - mean_f) * rstd;
            if (job->gamma)
                v *= job->gamma[c];
            if (job->beta)
                v += job->beta[c];
            y[c] = v;
        }
    }
}

void sdc_ref_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                        const float *beta, float eps, sdc_tensor *y)
{
    layer_norm_job job = {.x = x, .y = y, .gamma = gamma, .beta = beta, .eps = eps};
    sdc_parallel_for(ctx, x->shape[0], 1, layer_norm_range, &job);
}
