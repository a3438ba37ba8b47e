/*
 * lcm.c — LCMScheduler of diffusers 0.30.2 (Luo et al. 2023): timesteps from the skipping
 * schedule, denoised = c_out x0 + c_skip x, re-noised to the next timestep (one randn of the
 * sample) but for the last step; img2img re-spaces the timesteps as set_timesteps(strength=).
 */
#include "schedulers/solver.h"

/* Slots: 0 x0, 1 denoised (what the pipeline decodes), 2 noise. */
static sdc_status lcm_space(sdc_scheduler *s, double strength)
{
    int n = s->n_steps;
    int original = s->cfg.original_inference_steps;
    int k = s->T / original;
    int count = (int)(original * strength); /* lcm_origin_timesteps = [1..count] * k - 1 */
    if (count / n < 1)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler lcm: %d steps over %d original inference steps (strength "
                        "%g): at most %d steps",
                        n, original, strength, count);
    /* inference_indices = floor(linspace(0, count, n, endpoint=False)) over the reversed
     * origin timesteps. */
    double step = (double)count / n;
    for (int i = 0; i < n; i++) {
        int index = (int)floor(i * step + 0.0);
        int origin = count - 1 - index; /* reversed */
        s->timesteps[i] = (double)((origin + 1) * k - 1);
    }
    s->n_calls = (size_t)n;
    s->n_sigmas = 0;
    s->init_noise_sigma = 1.0f;
    return sdc_sched_check_timesteps(s);
}

static sdc_status lcm_set_timesteps(sdc_scheduler *s)
{
    return lcm_space(s, 1.0);
}

sdc_status sdc_sched_lcm_respace(sdc_scheduler *s, double strength)
{
    return lcm_space(s, strength);
}

static sdc_status lcm_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                           sdc_rng *rng)
{
    size_t n = s->numel;
    bool last = call == s->n_calls - 1;
    float *noise = NULL;
    if (!last) { /* drawn first: the same stream, and a missing rng fails early */
        sdc_status st = sdc_sched_draw_noise(s, rng, 2, &noise);
        if (st != SDC_STATUS_OK)
            return st;
    }
    int t = (int)s->timesteps[call];
    int prev_t = last ? t : (int)s->timesteps[call + 1];
    float a_t = s->alphas_cumprod[t];
    float a_prev = prev_t >= 0 ? s->alphas_cumprod[prev_t] : s->final_alpha_cumprod;
    float b_prev = 1.0f - a_prev;

    /* get_scalings_for_boundary_condition_discrete, sigma_data 0.5 */
    float scaled = (float)t * (float)s->cfg.timestep_scaling;
    float scaled2 = scaled * scaled + 0.25f;
    float c_skip = (1.0f / scaled2) * 0.25f;
    float c_out = scaled / sqrtf(scaled2);

    float *x0 = s->slot[0], *denoised = s->slot[1];
    sdc_prediction_x0_from_alpha(s->cfg.prediction_type, a_t, sample, model_output, n, x0, NULL);
    if (s->cfg.clip_sample) {
        float r = (float)s->cfg.clip_sample_range;
        for (size_t i = 0; i < n; i++)
            x0[i] = sdc_sched_clampf(x0[i], -r, r);
    }
    for (size_t i = 0; i < n; i++)
        denoised[i] = c_out * x0[i] + c_skip * sample[i];
    if (last) {
        for (size_t i = 0; i < n; i++)
            sample[i] = denoised[i];
    } else {
        float sa = sqrtf(a_prev), sb = sqrtf(b_prev);
        for (size_t i = 0; i < n; i++)
            sample[i] = sa * denoised[i] + sb * noise[i];
    }
    s->denoised = denoised;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_lcm_ops = {
    .name = "lcm",
    .diffusers_class = "LCMScheduler",
    .order = 1,
    .n_slots = 3,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = false,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_ALPHA_BAR,
    .set_timesteps = lcm_set_timesteps,
    .step = lcm_step,
};
