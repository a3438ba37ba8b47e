/*
 * pndm.c — PNDMScheduler of diffusers 0.30.2 with skip_prk_steps, PLMS as Stable Diffusion 1.x
 * ships it: n + 1 model calls (the second timestep twice), combinations of up to four past model
 * outputs, and _get_prev_sample (Liu et al. 2022, eq. 9). The Runge-Kutta warm-up is refused.
 */
#include "schedulers/solver.h"

#include <string.h>

/* Slots: 0-3 the past model outputs (ets, oldest first), 4 the sample kept by the first step,
 * 5 the combined model output. */
static sdc_status pndm_set_timesteps(sdc_scheduler *s)
{
    int n = s->n_steps;
    double *desc = s->timesteps;
    sdc_schedule_timesteps(s->cfg.timestep_spacing, s->T, n, s->cfg.steps_offset, desc);
    if (s->cfg.timestep_spacing == SDC_TIMESTEP_SPACING_LINSPACE)
        for (int i = 0; i < n; i++)
            desc[i] = rint(desc[i]);
    /* plms_timesteps: _timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:], reversed, i.e. the
     * descending list with its second entry repeated. */
    if (n >= 2) {
        for (int i = n; i >= 2; i--)
            desc[i] = desc[i - 1];
        s->n_calls = (size_t)n + 1;
    } else {
        s->n_calls = 1;
    }
    s->n_sigmas = 0;
    s->init_noise_sigma = 1.0f;
    s->counter = 0;
    s->n_history = 0;
    return sdc_sched_check_timesteps(s);
}

/* _get_prev_sample: x_{t-1} from x_t and the (combined) model output; may write over sample
 * when out == sample. */
static void prev_sample(const sdc_scheduler *s, const float *sample, int t, int prev_t, float *mo,
                        float *out)
{
    float a_t = s->alphas_cumprod[t];
    float a_prev = prev_t >= 0 ? s->alphas_cumprod[prev_t] : s->final_alpha_cumprod;
    float b_t = 1.0f - a_t;
    float b_prev = 1.0f - a_prev;
    if (s->cfg.prediction_type == SDC_PREDICTION_TYPE_V_PREDICTION) {
        float sa = sqrtf(a_t), sb = sqrtf(b_t);
        for (size_t i = 0; i < s->numel; i++)
            mo[i] = sa * mo[i] + sb * sample[i];
    }
    float sample_coeff = sqrtf(a_prev / a_t);
    float denom = a_t * sqrtf(b_prev) + sqrtf(a_t * b_t * a_prev);
    float diff = a_prev - a_t;
    for (size_t i = 0; i < s->numel; i++)
        out[i] = sample_coeff * sample[i] - diff * mo[i] / denom;
}

static sdc_status pndm_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                            sdc_rng *rng)
{
    (void)rng;
    size_t n = s->numel;
    int ratio = s->T / s->n_steps;
    int t = (int)s->timesteps[call];
    int prev_t = t - ratio;
    if (s->counter != 1) {
        if (s->n_history == 4) { /* ets = ets[-3:] */
            float *oldest = s->slot[0];
            memmove(&s->slot[0], &s->slot[1], 3 * sizeof s->slot[0]);
            s->slot[3] = oldest;
            s->n_history = 3;
        }
        memcpy(s->slot[s->n_history++], model_output, n * sizeof *model_output);
    } else {
        prev_t = t;
        t = t + ratio;
    }
    float *mo = s->slot[5];
    const float *from = sample;
    int k = s->n_history;
    const float *e1 = s->slot[k - 1];
    if (k == 1 && s->counter == 0) {
        memcpy(mo, model_output, n * sizeof *mo);
        memcpy(s->slot[4], sample, n * sizeof *sample);
    } else if (k == 1 && s->counter == 1) {
        for (size_t i = 0; i < n; i++)
            mo[i] = (model_output[i] + e1[i]) / 2.0f;
        from = s->slot[4];
    } else if (k == 2) {
        const float *e2 = s->slot[0];
        for (size_t i = 0; i < n; i++)
            mo[i] = (3.0f * e1[i] - e2[i]) / 2.0f;
    } else if (k == 3) {
        const float *e2 = s->slot[1], *e3 = s->slot[0];
        for (size_t i = 0; i < n; i++)
            mo[i] = (23.0f * e1[i] - 16.0f * e2[i] + 5.0f * e3[i]) / 12.0f;
    } else {
        const float *e2 = s->slot[2], *e3 = s->slot[1], *e4 = s->slot[0];
        const float one_24th = (float)(1.0 / 24.0);
        for (size_t i = 0; i < n; i++)
            mo[i] = one_24th * (55.0f * e1[i] - 59.0f * e2[i] + 37.0f * e3[i] - 9.0f * e4[i]);
    }
    prev_sample(s, from, t, prev_t, mo, sample);
    s->counter++;
    s->denoised = NULL;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_pndm_ops = {
    .name = "pndm",
    .diffusers_class = "PNDMScheduler",
    .order = 1,
    .n_slots = 6,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION,
    .sigma_schedules = false,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_ALPHA_BAR,
    .set_timesteps = pndm_set_timesteps,
    .step = pndm_step,
};
