/*
 * ddim.c — DDIMScheduler.step of diffusers 0.30.2 (Song et al. 2020): x0 and epsilon from the
 * model output, optional clipping, x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - std^2) eps
 * + std * noise with std = eta * sqrt(variance), the noise one randn of the sample per step.
 */
#include "schedulers/solver.h"

static sdc_status ddim_set_timesteps(sdc_scheduler *s)
{
    int n = s->n_steps;
    sdc_schedule_timesteps(s->cfg.timestep_spacing, s->T, n, s->cfg.steps_offset, s->timesteps);
    if (s->cfg.timestep_spacing == SDC_TIMESTEP_SPACING_LINSPACE)
        for (int i = 0; i < n; i++)
            s->timesteps[i] = rint(s->timesteps[i]);
    s->n_calls = (size_t)n;
    s->n_sigmas = 0;
    s->init_noise_sigma = 1.0f;
    return sdc_sched_check_timesteps(s);
}

/* Slots: 0 x0 (the denoised estimate), 1 epsilon, 2 noise. The noise (eta > 0) is taken before
 * the arithmetic: the same stream as diffusers, and a missing rng fails before the sample is
 * touched. */
static sdc_status ddim_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                            sdc_rng *rng)
{
    size_t n = s->numel;
    float *noise = NULL;
    if (s->cfg.eta > 0) {
        sdc_status st = sdc_sched_draw_noise(s, rng, 2, &noise);
        if (st != SDC_STATUS_OK)
            return st;
    }
    int t = (int)s->timesteps[call];
    int prev_t = t - s->T / s->n_steps;
    float a_t = s->alphas_cumprod[t];
    float a_prev = prev_t >= 0 ? s->alphas_cumprod[prev_t] : s->final_alpha_cumprod;
    float b_t = 1.0f - a_t;
    float b_prev = 1.0f - a_prev;
    float *x0 = s->slot[0], *eps = s->slot[1];
    sdc_prediction_x0_from_alpha(s->cfg.prediction_type, a_t, sample, model_output, n, x0, eps);
    if (s->cfg.clip_sample) {
        float r = (float)s->cfg.clip_sample_range;
        for (size_t i = 0; i < n; i++)
            x0[i] = sdc_sched_clampf(x0[i], -r, r);
    }
    float variance = (b_prev / b_t) * (1.0f - a_t / a_prev);
    float std_dev = (float)s->cfg.eta * sqrtf(variance);
    float dir_coeff = sqrtf(1.0f - a_prev - std_dev * std_dev);
    float sqrt_a_prev = sqrtf(a_prev);
    for (size_t i = 0; i < n; i++) {
        float direction = dir_coeff * eps[i];
        sample[i] = sqrt_a_prev * x0[i] + direction;
    }
    if (noise) {
        for (size_t i = 0; i < n; i++)
            sample[i] = sample[i] + std_dev * noise[i];
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_ddim_ops = {
    .name = "ddim",
    .diffusers_class = "DDIMScheduler",
    .order = 1,
    .n_slots = 3,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = false,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_ALPHA_BAR,
    .set_timesteps = ddim_set_timesteps,
    .step = ddim_step,
};
