/*
 * norm.c — torch.nn.GroupNorm fused with the SiLU that follows it in diffusers' ResnetBlock2D,
 * and torch.nn.LayerNorm over the last dim (torch 2.4), vectorised: the same two-pass double
 * statistics and (x - mean) * (rstd * gamma) + beta formula as kernels/ref/norm.c, with the
 * normalisation, affine and SiLU done in one pass over the data.
 */
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86.h"

#include <math.h>

/* Sum of x[0, n) in double (four-wide partial sums). */
static double sum_f64(const float *x, int64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++)
        sum += (double)x[i];
    return sum;
}

/* Sum of (x[i] - mean)^2 in double. */
static double sum_sq_dev_f64(const float *x, int64_t n, double mean)
{
    __m256d m = _mm256_set1_pd(mean);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), m);
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        sum += d * d;
    }
    return sum;
}

/* y = (x - mean) * scale + shift, then SiLU when asked; x may equal y. */
static void normalise(const float *x, float *y, int64_t n, float mean, float scale, float shift,
                      bool silu)
{
    __m256 vm = _mm256_set1_ps(mean), vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(shift);
    int64_t i = 0;
    for (; i < n; i += 8) {
        int count = n - i < 8 ? (int)(n - i) : 8;
        __m256 v = sdc_v8_load(x + i, count);
        v = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v, vm), vs), vb);
        if (silu)
            v = sdc_v8_silu(v);
        sdc_v8_store(y + i, v, count);
    }
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

void sdc_x86_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups, const float *gamma,
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
        __m256 rstd = _mm256_set1_ps((float)(1.0 / sqrt(var + (double)job->eps)));
        __m256 vm = _mm256_set1_ps((float)mean);
        for (int64_t c = 0; c < C; c += 8) {
            int count = C - c < 8 ? (int)(C - c) : 8;
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(sdc_v8_load(x + c, count), vm), rstd);
            if (job->gamma)
                v = _mm256_mul_ps(v, sdc_v8_load(job->gamma + c, count));
            if (job->beta)
                v = _mm256_add_ps(v, sdc_v8_load(job->beta + c, count));
            sdc_v8_store(y + c, v, count);
        }
    }
}

void sdc_x86_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                        const float *beta, float eps, sdc_tensor *y)
{
    layer_norm_job job = {.x = x, .y = y, .gamma = gamma, .beta = beta, .eps = eps};
    sdc_parallel_for(ctx, x->shape[0], 1, layer_norm_range, &job);
}
