/*
 * euler_ancestral.c — EulerAncestralDiscreteScheduler of diffusers 0.30.2 ("euler_a"): an Euler
 * step down to sigma_down, then fresh noise of size sigma_up (one randn of the sample per step),
 * sigma_up = sqrt(sigma_to^2 (sigma_from^2 - sigma_to^2) / sigma_from^2).
 */
#include "schedulers/solver.h"

/* Slots: 0 x0, 1 noise. The noise is drawn before the arithmetic: the same stream as
 * diffusers, and a missing rng fails before the sample is touched. */
static sdc_status euler_a_set_timesteps(sdc_scheduler *s)
{
    sdc_status st = sdc_sched_sigma_schedule(s, false, 0.0f);
    if (st != SDC_STATUS_OK)
        return st;
    s->init_noise_sigma = sdc_sched_init_noise_sigma_from_sigmas(s);
    return SDC_STATUS_OK;
}

static sdc_status euler_a_step(sdc_scheduler *s, size_t call, const float *model_output,
                               float *sample, sdc_rng *rng)
{
    size_t n = s->numel;
    float *noise = NULL;
    sdc_status st = sdc_sched_draw_noise(s, rng, 1, &noise);
    if (st != SDC_STATUS_OK)
        return st;
    float sigma = s->sigmas[call];
    float *x0 = s->slot[0];
    sdc_prediction_x0_from_sigma(s->cfg.prediction_type, sigma, sample, model_output, n, x0);
    float sigma_from = sigma, sigma_to = s->sigmas[call + 1];
    float to2 = sigma_to * sigma_to, from2 = sigma_from * sigma_from;
    float sigma_up = sqrtf(to2 * (from2 - to2) / from2);
    float sigma_down = sqrtf(to2 - sigma_up * sigma_up);
    float dt = sigma_down - sigma;
    for (size_t i = 0; i < n; i++) {
        float derivative = (sample[i] - x0[i]) / sigma;
        float prev = sample[i] + derivative * dt;
        sample[i] = prev + noise[i] * sigma_up;
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_euler_ancestral_ops = {
    .name = "euler_a",
    .diffusers_class = "EulerAncestralDiscreteScheduler",
    .order = 1,
    .n_slots = 2,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION,
    .sigma_schedules = false,
    .scale_input = true,
    .noise_form = SDC_NOISE_FORM_SIGMA,
    .set_timesteps = euler_a_set_timesteps,
    .step = euler_a_step,
};
