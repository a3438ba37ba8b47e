/*
 * dpm_solver.c — DPMSolverMultistepScheduler of diffusers 0.30.2 (Lu et al. 2022): DPM-Solver++
 * and SDE-DPM-Solver++ multistep updates of order 1-3 in lambda = log(alpha / sigma) over the
 * model outputs converted to x0, with warm-up, lower_order_final and a first-order last step;
 * the SDE variant draws one randn of the sample per step.
 */
#include "schedulers/solver.h"

#include <string.h>

/* Slots: 0-2 the converted model outputs (oldest first), 3 noise. Timesteps are integers:
 * linspace / leading / trailing over n + 1 points, or the rounded _sigma_to_t of Karras or
 * exponential sigmas. */
static sdc_status dpm_set_timesteps(sdc_scheduler *s)
{
    int n = s->n_steps, T = s->T;
    double *ts = s->timesteps;
    /* last_timestep = T - searchsorted(flip(lambda_t), lambda_min_clipped) */
    int clipped = 0;
    for (int j = T - 1; j >= 0; j--) {
        float a = sqrtf(s->alphas_cumprod[j]), sg = sqrtf(1.0f - s->alphas_cumprod[j]);
        if ((double)(sdc_sched_log(a) - sdc_sched_log(sg)) < s->cfg.lambda_min_clipped)
            clipped++;
    }
    int last = T - clipped;
    if (last < 1)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler dpm++: lambda_min_clipped %g clips every timestep",
                        s->cfg.lambda_min_clipped);
    double *tmp = sdc_malloc(s->ctx, ((size_t)n + 1) * sizeof *tmp);
    double *sig = sdc_malloc(s->ctx, (size_t)n * sizeof *sig);
    float *log_sigmas = sdc_malloc(s->ctx, (size_t)T * sizeof *log_sigmas);
    sdc_status st = SDC_STATUS_OK;
    if (!tmp || !sig || !log_sigmas) {
        st = sdc_fail_oom(s->ctx, "dpm++ schedule", (size_t)T * sizeof(float));
        goto free_scratch;
    }
    switch (s->cfg.timestep_spacing) {
    case SDC_TIMESTEP_SPACING_LINSPACE:
        /* np.linspace(0, last - 1, n + 1).round()[::-1][:-1] */
        sdc_schedule_linspace(0.0, last - 1, n + 1, tmp);
        for (int i = 0; i < n; i++)
            ts[i] = rint(tmp[n - i]);
        break;
    case SDC_TIMESTEP_SPACING_LEADING: {
        int ratio = last / (n + 1);
        for (int i = 0; i < n; i++)
            ts[i] = (double)(n - i) * ratio + s->cfg.steps_offset;
        break;
    }
    default: {
        /* np.arange(last, 0, -T / n).round() - 1, n values */
        double start = last, step = -(double)T / n, delta = (start + step) - start;
        for (int i = 0; i < n; i++)
            ts[i] = rint(i == 0 ? start : start + i * delta) - 1;
        break;
    }
    }
    if (s->cfg.sigma_schedule != SDC_SIGMA_SCHEDULE_DEFAULT) {
        /* The flipped training sigmas: sigma_min is the first, sigma_max the last. */
        double sigma_min = isnan(s->cfg.sigma_min) ? s->train_sigmas[0] : s->cfg.sigma_min;
        double sigma_max = isnan(s->cfg.sigma_max) ? s->train_sigmas[T - 1] : s->cfg.sigma_max;
        if (s->cfg.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS)
            sdc_schedule_karras(sigma_min, sigma_max, n, sig);
        else
            sdc_schedule_exponential(sigma_min, sigma_max, n, sig);
        for (int j = 0; j < T; j++)
            log_sigmas[j] = sdc_sched_log(s->train_sigmas[j]);
        for (int i = 0; i < n; i++)
            ts[i] = rint(sdc_schedule_sigma_to_t(sig[i], log_sigmas, T));
    } else {
        for (int i = 0; i < n; i++)
            sig[i] = sdc_schedule_interp(ts[i], s->train_sigmas, T);
    }
    for (int i = 0; i < n; i++)
        s->sigmas[i] = (float)sig[i];
    s->sigmas[n] = s->cfg.final_sigma_zero ? 0.0f : s->train_sigmas[0];
    s->n_sigmas = (size_t)n + 1;
    s->n_calls = (size_t)n;
    s->init_noise_sigma = 1.0f;
    s->counter = 0;
    s->n_history = 0;
    st = sdc_sched_check_timesteps(s);
free_scratch:
    sdc_free(s->ctx, log_sigmas);
    sdc_free(s->ctx, sig);
    sdc_free(s->ctx, tmp);
    return st;
}

typedef struct dpm_point {
    float alpha, sigma, lambda;
} dpm_point;

static dpm_point point_at(const sdc_scheduler *s, size_t index)
{
    dpm_point p;
    sdc_sched_alpha_sigma(s->sigmas[index], &p.alpha, &p.sigma);
    p.lambda = sdc_sched_log(p.alpha) - sdc_sched_log(p.sigma);
    return p;
}

static void first_order(const sdc_scheduler *s, size_t i, const float *m, const float *noise,
                        float *x)
{
    dpm_point t = point_at(s, i + 1), s0 = point_at(s, i);
    float h = t.lambda - s0.lambda;
    size_t n = s->numel;
    if (s->cfg.algorithm_type == SDC_DPM_ALGORITHM_DPMSOLVER_PP) {
        float a = t.sigma / s0.sigma;
        float b = t.alpha * (sdc_sched_exp(-h) - 1.0f);
        for (size_t k = 0; k < n; k++)
            x[k] = a * x[k] - b * m[k];
    } else {
        float a = t.sigma / s0.sigma * sdc_sched_exp(-h);
        float b = t.alpha * (1.0f - sdc_sched_exp(-2.0f * h));
        float c = t.sigma * sqrtf(1.0f - sdc_sched_exp(-2.0f * h));
        for (size_t k = 0; k < n; k++)
            x[k] = a * x[k] + b * m[k] + c * noise[k];
    }
}

static void second_order(const sdc_scheduler *s, size_t i, const float *m0, const float *m1,
                         const float *noise, float *x)
{
    dpm_point t = point_at(s, i + 1), s0 = point_at(s, i), s1 = point_at(s, i - 1);
    float h = t.lambda - s0.lambda, h_0 = s0.lambda - s1.lambda;
    float r0 = h_0 / h;
    float inv_r0 = 1.0f / r0;
    bool midpoint = s->cfg.solver_type != SDC_SOLVER_TYPE_HEUN;
    size_t n = s->numel;
    if (s->cfg.algorithm_type == SDC_DPM_ALGORITHM_DPMSOLVER_PP) {
        float a = t.sigma / s0.sigma;
        float b = t.alpha * (sdc_sched_exp(-h) - 1.0f);
        float c = midpoint ? 0.5f * b : t.alpha * ((sdc_sched_exp(-h) - 1.0f) / h + 1.0f);
        for (size_t k = 0; k < n; k++) {
            float d1 = inv_r0 * (m0[k] - m1[k]);
            x[k] = midpoint ? a * x[k] - b * m0[k] - c * d1 : a * x[k] - b * m0[k] + c * d1;
        }
    } else {
        float e2h = sdc_sched_exp(-2.0f * h);
        float a = t.sigma / s0.sigma * sdc_sched_exp(-h);
        float b = t.alpha * (1.0f - e2h);
        float c = midpoint ? 0.5f * b : t.alpha * ((1.0f - e2h) / (-2.0f * h) + 1.0f);
        float d = t.sigma * sqrtf(1.0f - e2h);
        for (size_t k = 0; k < n; k++) {
            float d1 = inv_r0 * (m0[k] - m1[k]);
            x[k] = a * x[k] + b * m0[k] + c * d1 + d * noise[k];
        }
    }
}

static void third_order(const sdc_scheduler *s, size_t i, const float *m0, const float *m1,
                        const float *m2, float *x)
{
    dpm_point t = point_at(s, i + 1), s0 = point_at(s, i), s1 = point_at(s, i - 1),
              s2 = point_at(s, i - 2);
    float h = t.lambda - s0.lambda, h_0 = s0.lambda - s1.lambda, h_1 = s1.lambda - s2.lambda;
    float r0 = h_0 / h, r1 = h_1 / h;
    float inv_r0 = 1.0f / r0, inv_r1 = 1.0f / r1;
    float w1 = r0 / (r0 + r1), w2 = 1.0f / (r0 + r1);
    float em1 = sdc_sched_exp(-h) - 1.0f;
    float a = t.sigma / s0.sigma;
    float b = t.alpha * em1;
    float c = t.alpha * (em1 / h + 1.0f);
    float d = t.alpha * ((sdc_sched_exp(-h) - 1.0f + h) / (h * h) - 0.5f);
    for (size_t k = 0; k < s->numel; k++) {
        float d1_0 = inv_r0 * (m0[k] - m1[k]), d1_1 = inv_r1 * (m1[k] - m2[k]);
        float d1 = d1_0 + w1 * (d1_0 - d1_1);
        float d2 = w2 * (d1_0 - d1_1);
        x[k] = a * x[k] - b * m0[k] + c * d1 - d * d2;
    }
}

static sdc_status dpm_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                           sdc_rng *rng)
{
    size_t n = s->numel, steps = s->n_calls;
    bool sde = s->cfg.algorithm_type == SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP;
    bool lower_order_final =
        call == steps - 1 && (s->cfg.euler_at_final || (s->cfg.lower_order_final && steps < 15) ||
                              s->cfg.final_sigma_zero);
    bool lower_order_second = call == steps - 2 && s->cfg.lower_order_final && steps < 15;
    /* The SDE noise: drawn first here (diffusers draws it after converting the model output,
     * which uses no randomness: the same stream), so a missing rng fails before any state
     * changes. */
    float *noise = NULL;
    if (sde) {
        sdc_status st = sdc_sched_draw_noise(s, rng, 3, &noise);
        if (st != SDC_STATUS_OK)
            return st;
    }

    /* model_outputs shift left; the newest goes last. */
    int order = s->cfg.solver_order;
    if (s->n_history == order) {
        float *oldest = s->slot[0];
        memmove(&s->slot[0], &s->slot[1], (size_t)(order - 1) * sizeof s->slot[0]);
        s->slot[order - 1] = oldest;
        s->n_history--;
    }
    float *x0 = s->slot[s->n_history++];
    float alpha_t, sigma_t;
    sdc_sched_alpha_sigma(s->sigmas[call], &alpha_t, &sigma_t);
    sdc_prediction_x0_from_alpha_sigma(s->cfg.prediction_type, alpha_t, sigma_t, sample,
                                       model_output, n, x0);
    int h = s->n_history;
    if (order == 1 || s->counter < 1 || lower_order_final)
        first_order(s, call, x0, noise, sample);
    else if (order == 2 || s->counter < 2 || lower_order_second)
        second_order(s, call, x0, s->slot[h - 2], noise, sample);
    else
        third_order(s, call, x0, s->slot[h - 2], s->slot[h - 3], sample);
    if (s->counter < order)
        s->counter++;
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_dpm_solver_ops = {
    .name = "dpm++",
    .diffusers_class = "DPMSolverMultistepScheduler",
    .order = 1,
    .n_slots = 4,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = true,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_ALPHA_SIGMA,
    .set_timesteps = dpm_set_timesteps,
    .step = dpm_step,
};
