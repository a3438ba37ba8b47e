/*
 * flow_match_euler.c — FlowMatchEulerDiscreteScheduler of diffusers 0.30.2 (SD3): shifted
 * sigmas shift * s / (1 + (shift - 1) s), timesteps sigma * T, and Euler steps on the predicted
 * velocity; no input scaling or initial noise factor. Dynamic shifting (Flux) is refused.
 */
#include "schedulers/solver.h"

/* Slots: 0 x0 = x - sigma v, for previews. */
static sdc_status flow_set_timesteps(sdc_scheduler *s)
{
    int n = s->n_steps, T = s->T;
    float shift = (float)s->cfg.shift, shift_m1 = (float)(s->cfg.shift - 1.0);
    /* __init__: sigmas = shift(linspace(1, T, T)[::-1] / T) in float32; sigma_max is the
     * first (t = T), sigma_min the last (t = 1). */
    float s_max = (float)T / (float)T, s_min = 1.0f / (float)T;
    s_max = shift * s_max / (1.0f + shift_m1 * s_max);
    s_min = shift * s_min / (1.0f + shift_m1 * s_min);
    /* set_timesteps: linspace(sigma_max * T, sigma_min * T, n) / T, shifted, in double. */
    sdc_schedule_linspace((double)s_max * T, (double)s_min * T, n, s->timesteps);
    for (int i = 0; i < n; i++) {
        double sigma = s->timesteps[i] / T;
        float shifted = (float)sdc_schedule_flow_shift(s->cfg.shift, sigma);
        s->sigmas[i] = shifted;
        s->timesteps[i] = shifted * (float)T;
    }
    s->sigmas[n] = 0.0f;
    s->n_sigmas = (size_t)n + 1;
    s->n_calls = (size_t)n;
    s->init_noise_sigma = 1.0f;
    return SDC_STATUS_OK;
}

static sdc_status flow_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                            sdc_rng *rng)
{
    (void)rng;
    float sigma = s->sigmas[call];
    float dt = s->sigmas[call + 1] - sigma;
    float *x0 = s->slot[0];
    for (size_t i = 0; i < s->numel; i++) {
        x0[i] = sample[i] - sigma * model_output[i];
        sample[i] = sample[i] + dt * model_output[i];
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_flow_match_euler_ops = {
    .name = "flow-euler",
    .diffusers_class = "FlowMatchEulerDiscreteScheduler",
    .order = 1,
    .n_slots = 1,
    .predictions = 1u << SDC_PREDICTION_TYPE_FLOW,
    .sigma_schedules = false,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_FLOW,
    .set_timesteps = flow_set_timesteps,
    .step = flow_step,
};
