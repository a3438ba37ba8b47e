/*
 * heun.c — HeunDiscreteScheduler of diffusers 0.30.2 (Karras et al. 2022, Algorithm 1 without
 * churn): an Euler step and a correction averaging the two derivatives per interval, so n steps
 * make 2n - 1 model calls; the last call is a plain Euler step to sigma 0, as in diffusers.
 */
#include "schedulers/solver.h"

#include <string.h>

/* Slots: 0 x0, 1 the first stage's derivative, 2 the first stage's sample. */
static sdc_status heun_set_timesteps(sdc_scheduler *s)
{
    sdc_status st = sdc_sched_sigma_schedule(s, true, 0.0f);
    if (st != SDC_STATUS_OK)
        return st;
    size_t n = (size_t)s->n_steps;
    /* In place from the back: sigmas [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0] (2n values),
     * timesteps [t0, t1, t1, ..., t_{n-1}, t_{n-1}] (2n - 1 values). */
    s->sigmas[2 * n - 1] = s->sigmas[n];
    for (size_t k = n - 1; k >= 1; k--) {
        s->sigmas[2 * k] = s->sigmas[k];
        s->sigmas[2 * k - 1] = s->sigmas[k];
        s->timesteps[2 * k] = s->timesteps[k];
        s->timesteps[2 * k - 1] = s->timesteps[k];
    }
    s->n_sigmas = 2 * n;
    s->n_calls = 2 * n - 1;
    s->have_last = false;
    s->init_noise_sigma = sdc_sched_init_noise_sigma_from_sigmas(s);
    return SDC_STATUS_OK;
}

static sdc_status heun_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                            sdc_rng *rng)
{
    (void)rng;
    size_t n = s->numel;
    bool first_order = !s->have_last;
    if (!first_order && call == 0)
        return sdc_fail(s->ctx, SDC_STATUS_INTERNAL, "scheduler heun: second stage at call 0");
    float sigma = first_order ? s->sigmas[call] : s->sigmas[call - 1];
    float sigma_next = first_order ? s->sigmas[call + 1] : s->sigmas[call];
    float sigma_hat = sigma * 1.0f;
    float sigma_input = first_order ? sigma_hat : sigma_next;
    float *x0 = s->slot[0], *prev_derivative = s->slot[1], *first_sample = s->slot[2];
    sdc_prediction_x0_from_sigma(s->cfg.prediction_type, sigma_input, sample, model_output, n, x0);
    if (s->cfg.clip_sample) {
        float r = (float)s->cfg.clip_sample_range;
        for (size_t i = 0; i < n; i++)
            x0[i] = sdc_sched_clampf(x0[i], -r, r);
    }
    if (first_order) {
        float dt = sigma_next - sigma_hat;
        for (size_t i = 0; i < n; i++) {
            float derivative = (sample[i] - x0[i]) / sigma_hat;
            prev_derivative[i] = derivative;
            first_sample[i] = sample[i];
            sample[i] = sample[i] + derivative * dt;
        }
        s->heun_dt = dt;
        s->have_last = true;
    } else {
        float dt = s->heun_dt;
        for (size_t i = 0; i < n; i++) {
            float derivative = (sample[i] - x0[i]) / sigma_next;
            derivative = (prev_derivative[i] + derivative) / 2.0f;
            sample[i] = first_sample[i] + derivative * dt;
        }
        s->have_last = false;
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_heun_ops = {
    .name = "heun",
    .diffusers_class = "HeunDiscreteScheduler",
    .order = 2,
    .n_slots = 3,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = true,
    .scale_input = true,
    .noise_form = SDC_NOISE_FORM_SIGMA,
    .set_timesteps = heun_set_timesteps,
    .step = heun_step,
};
