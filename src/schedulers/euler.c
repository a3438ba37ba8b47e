/*
 * euler.c — EulerDiscreteScheduler of diffusers 0.30.2 (Karras et al. 2022, Algorithm 2 with
 * s_churn 0 as the pipelines call it), with Karras / exponential sigmas, final_sigmas_type and
 * EDM continuous timesteps (0.25 log sigma). Like diffusers it draws one randn of the sample
 * per step that s_churn 0 leaves unused, so the generator stays in step with diffusers.
 */
#include "schedulers/solver.h"

/* Slots: 0 x0, 1 the unused noise. */
static sdc_status euler_set_timesteps(sdc_scheduler *s)
{
    float final_sigma = s->cfg.final_sigma_zero ? 0.0f : s->train_sigmas[0];
    sdc_status st = sdc_sched_sigma_schedule(s, false, final_sigma);
    if (st != SDC_STATUS_OK)
        return st;
    if (s->cfg.timestep_continuous && s->cfg.prediction_type == SDC_PREDICTION_TYPE_V_PREDICTION)
        for (size_t i = 0; i < s->n_calls; i++)
            s->timesteps[i] = 0.25f * sdc_sched_log(s->sigmas[i]);
    s->init_noise_sigma = sdc_sched_init_noise_sigma_from_sigmas(s);
    return SDC_STATUS_OK;
}

static sdc_status euler_step(sdc_scheduler *s, size_t call, const float *model_output,
                             float *sample, sdc_rng *rng)
{
    size_t n = s->numel;
    if (rng) {
        float *unused = NULL;
        sdc_status st = sdc_sched_draw_noise(s, rng, 1, &unused);
        if (st != SDC_STATUS_OK)
            return st;
    }
    float sigma = s->sigmas[call];
    float sigma_hat = sigma * 1.0f; /* sigma * (gamma + 1) with gamma 0 */
    float *x0 = s->slot[0];
    sdc_prediction_x0_from_sigma(s->cfg.prediction_type, sigma_hat, sample, model_output, n, x0);
    float dt = s->sigmas[call + 1] - sigma_hat;
    for (size_t i = 0; i < n; i++) {
        float derivative = (sample[i] - x0[i]) / sigma_hat;
        sample[i] = sample[i] + derivative * dt;
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_euler_ops = {
    .name = "euler",
    .diffusers_class = "EulerDiscreteScheduler",
    .order = 1,
    .n_slots = 2,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = true,
    .scale_input = true,
    .noise_form = SDC_NOISE_FORM_SIGMA,
    .set_timesteps = euler_set_timesteps,
    .step = euler_step,
};
