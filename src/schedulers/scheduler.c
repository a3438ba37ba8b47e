/*
 * scheduler.c — the sdc_scheduler handle the denoising loop uses: builds the training schedule,
 * asks the solver for its timesteps, enforces the call order, and does what diffusers 0.30.2
 * does the same way for every solver family: scale_model_input, add_noise and the img2img
 * start (StableDiffusionImg2ImgPipeline.get_timesteps).
 */
#include "schedulers/solver.h"

#include <string.h>

static const sdc_solver_ops *const solver_table[] = {
    [SDC_SOLVER_PNDM] = &sdc_solver_pndm_ops,
    [SDC_SOLVER_DDIM] = &sdc_solver_ddim_ops,
    [SDC_SOLVER_DPM_SOLVER] = &sdc_solver_dpm_solver_ops,
    [SDC_SOLVER_EULER] = &sdc_solver_euler_ops,
    [SDC_SOLVER_EULER_ANCESTRAL] = &sdc_solver_euler_ancestral_ops,
    [SDC_SOLVER_HEUN] = &sdc_solver_heun_ops,
    [SDC_SOLVER_LMS] = &sdc_solver_lms_ops,
    [SDC_SOLVER_UNIPC] = &sdc_solver_unipc_ops,
    [SDC_SOLVER_LCM] = &sdc_solver_lcm_ops,
    [SDC_SOLVER_FLOW_MATCH_EULER] = &sdc_solver_flow_match_euler_ops,
};
static_assert(sizeof solver_table / sizeof solver_table[0] == SDC_SOLVER_COUNT,
              "one solver table per solver");

const sdc_solver_ops *sdc_solver_ops_of(sdc_solver solver)
{
    if ((unsigned)solver >= SDC_SOLVER_COUNT)
        return NULL;
    return solver_table[solver];
}

const char *sdc_solver_name(sdc_solver solver)
{
    const sdc_solver_ops *ops = sdc_solver_ops_of(solver);
    return ops ? ops->name : "?";
}

const char *sdc_solver_diffusers_class(sdc_solver solver)
{
    const sdc_solver_ops *ops = sdc_solver_ops_of(solver);
    return ops ? ops->diffusers_class : "?";
}

/* ---------------------------------------------------------------------------------------- */

void sdc_scheduler_destroy(sdc_scheduler *s)
{
    if (!s)
        return;
    sdc_context *ctx = s->ctx;
    for (int i = 0; i < SDC_SCHED_MAX_SLOTS; i++)
        sdc_free(ctx, s->slot[i]);
    sdc_free(ctx, s->sigmas);
    sdc_free(ctx, s->timesteps);
    sdc_free(ctx, s->train_sigmas);
    sdc_free(ctx, s->alphas_cumprod);
    sdc_free(ctx, s);
}

static sdc_status build_training_schedule(sdc_scheduler *s)
{
    int T = s->T;
    float *betas = sdc_malloc(s->ctx, (size_t)T * sizeof *betas);
    s->alphas_cumprod = sdc_malloc(s->ctx, (size_t)T * sizeof(float));
    s->train_sigmas = sdc_malloc(s->ctx, (size_t)T * sizeof(float));
    sdc_status st = SDC_STATUS_OK;
    if (!betas || !s->alphas_cumprod || !s->train_sigmas) {
        st = sdc_fail_oom(s->ctx, "scheduler training schedule", (size_t)T * 3 * sizeof(float));
        goto free_betas;
    }
    sdc_schedule_betas(s->cfg.beta_schedule, s->cfg.beta_start, s->cfg.beta_end, T, betas);
    sdc_schedule_alphas_cumprod(betas, T, s->alphas_cumprod);
    sdc_schedule_sigmas_from_alphas(s->alphas_cumprod, T, s->train_sigmas);
    s->final_alpha_cumprod = s->cfg.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
free_betas:
    sdc_free(s->ctx, betas);
    return st;
}

sdc_status sdc_scheduler_create(sdc_context *ctx, const sdc_scheduler_config *cfg, int n_steps,
                                size_t sample_numel, sdc_scheduler **out)
{
    *out = NULL;
    sdc_status st = sdc_scheduler_config_check(ctx, cfg, n_steps);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_solver_ops *ops = sdc_solver_ops_of(cfg->solver);
    size_t slot_bytes;
    if (sample_numel == 0 || !sdc_size_mul(sample_numel, sizeof(float), &slot_bytes))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: sample of %zu floats: expected at least 1 element and a "
                        "byte size that fits in size_t",
                        ops->name, sample_numel);

    sdc_scheduler *s = sdc_calloc(ctx, 1, sizeof *s);
    if (!s)
        return sdc_fail_oom(ctx, "scheduler", sizeof *s);
    s->ctx = ctx;
    s->cfg = *cfg;
    s->ops = ops;
    s->n_steps = n_steps;
    s->T = cfg->num_train_timesteps;
    s->numel = sample_numel;
    s->cap_calls = 2 * (size_t)n_steps + 2;
    s->cap_sigmas = 2 * (size_t)n_steps + 2;
    s->timesteps = sdc_calloc(ctx, s->cap_calls, sizeof *s->timesteps);
    s->sigmas = sdc_calloc(ctx, s->cap_sigmas, sizeof *s->sigmas);
    if (!s->timesteps || !s->sigmas) {
        st = sdc_fail_oom(ctx, "scheduler timesteps", s->cap_calls * sizeof(double));
        goto destroy_scheduler;
    }
    for (int i = 0; i < ops->n_slots; i++) {
        s->slot[i] = sdc_malloc(ctx, slot_bytes);
        if (!s->slot[i]) {
            st = sdc_fail_oom(ctx, "scheduler sample buffers", slot_bytes);
            goto destroy_scheduler;
        }
    }
    if (cfg->solver != SDC_SOLVER_FLOW_MATCH_EULER) {
        st = build_training_schedule(s);
        if (st != SDC_STATUS_OK)
            goto destroy_scheduler;
    }
    st = ops->set_timesteps(s);
    if (st != SDC_STATUS_OK)
        goto destroy_scheduler;
    *out = s;
    return SDC_STATUS_OK;
destroy_scheduler:
    sdc_scheduler_destroy(s);
    return st;
}

const sdc_scheduler_config *sdc_scheduler_get_config(const sdc_scheduler *s)
{
    return &s->cfg;
}

size_t sdc_scheduler_n_calls(const sdc_scheduler *s)
{
    return s->n_calls;
}

size_t sdc_scheduler_first_call(const sdc_scheduler *s)
{
    return s->first_call;
}

double sdc_scheduler_timestep(const sdc_scheduler *s, size_t call)
{
    return call < s->n_calls ? s->timesteps[call] : NAN;
}

const float *sdc_scheduler_sigmas(const sdc_scheduler *s, size_t *n)
{
    *n = s->n_sigmas;
    return s->n_sigmas ? s->sigmas : NULL;
}

const float *sdc_scheduler_alphas_cumprod(const sdc_scheduler *s)
{
    return s->alphas_cumprod;
}

float sdc_scheduler_init_noise_sigma(const sdc_scheduler *s)
{
    return s->init_noise_sigma;
}

const float *sdc_scheduler_denoised(const sdc_scheduler *s)
{
    return s->started ? s->denoised : NULL;
}

static sdc_status check_call(sdc_scheduler *s, size_t call, const char *what)
{
    if (call >= s->n_calls)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: %s: call %zu is out of range (this schedule makes %zu "
                        "model calls)",
                        s->ops->name, what, call, s->n_calls);
    return SDC_STATUS_OK;
}

sdc_status sdc_scheduler_scale_model_input(sdc_scheduler *s, size_t call, const float *sample,
                                           float *out)
{
    sdc_status st = check_call(s, call, "scale_model_input");
    if (st != SDC_STATUS_OK)
        return st;
    if (s->ops->scale_input) {
        float sigma = s->sigmas[call];
        float scale = sqrtf(sigma * sigma + 1.0f);
        for (size_t i = 0; i < s->numel; i++)
            out[i] = sample[i] / scale;
    } else if (out != sample) {
        memcpy(out, sample, s->numel * sizeof *out);
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_scheduler_step(sdc_scheduler *s, size_t call, const float *model_output,
                              float *sample, sdc_rng *rng)
{
    sdc_status st = check_call(s, call, "step");
    if (st != SDC_STATUS_OK)
        return st;
    if (call != s->next_call)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: step for call %zu, but call %zu is next: steps are taken "
                        "in order, once each",
                        s->ops->name, call, s->next_call);
    if (!model_output || !sample)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: step %zu: model_output and sample must not be NULL",
                        s->ops->name, call);
    st = s->ops->step(s, call, model_output, sample, rng);
    if (st != SDC_STATUS_OK)
        return st;
    s->started = true;
    s->next_call++;
    return SDC_STATUS_OK;
}

sdc_status sdc_scheduler_set_strength(sdc_scheduler *s, double strength)
{
    if (s->started)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: set_strength after the first step: the img2img start "
                        "must be chosen before denoising begins",
                        s->ops->name);
    if (!(strength > 0.0 && strength <= 1.0))
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: strength %g: expected a value in (0, 1]", s->ops->name,
                        strength);
    if (s->cfg.solver == SDC_SOLVER_LCM) {
        int keep = (int)(s->cfg.original_inference_steps * strength);
        if (keep / s->n_steps < 1)
            return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler lcm: strength %g keeps %d of the %d original inference "
                            "steps, fewer than the %d steps asked for",
                            strength, keep, s->cfg.original_inference_steps, s->n_steps);
        s->first_call = s->next_call = 0;
        return sdc_sched_lcm_respace(s, strength);
    }
    int n = s->n_steps;
    int init_timestep = (int)((double)n * strength);
    if (init_timestep > n)
        init_timestep = n;
    int t_start = n - init_timestep;
    size_t first = (size_t)t_start * (size_t)s->ops->order;
    if (init_timestep < 1 || first >= s->n_calls)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: strength %g leaves no denoising step of %d (expected "
                        "strength * steps >= 1)",
                        s->ops->name, strength, n);
    s->first_call = s->next_call = first;
    return SDC_STATUS_OK;
}

/* diffusers' discrete_timestep_cutoff: int(round(T - fraction * T)), round half to even. */
static double timestep_cutoff(const sdc_scheduler *s, double fraction)
{
    double T = (double)s->cfg.num_train_timesteps;
    return nearbyint(T - fraction * T);
}

size_t sdc_scheduler_denoising_end_call(const sdc_scheduler *s, double fraction)
{
    double cutoff = timestep_cutoff(s, fraction);
    size_t end = s->first_call;
    /* len(filter(ts >= cutoff)) of the timesteps from the first call: they descend, so the
     * calls that pass are the leading ones */
    for (size_t i = s->first_call; i < s->n_calls; i++)
        if (s->timesteps[i] >= cutoff)
            end++;
    return end;
}

sdc_status sdc_scheduler_set_denoising_start(sdc_scheduler *s, double fraction)
{
    if (s->started)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: denoising_start after the first step: the start must be "
                        "chosen before denoising begins",
                        s->ops->name);
    if (!(fraction > 0.0 && fraction < 1.0))
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: denoising start %g: expected a fraction in (0, 1)",
                        s->ops->name, fraction);
    double cutoff = timestep_cutoff(s, fraction);
    size_t k = 0;
    for (size_t i = 0; i < s->n_calls; i++)
        if (s->timesteps[i] < cutoff)
            k++;
    if (s->ops->order == 2 && k % 2 == 0 && k > 0)
        k++;
    if (k == 0 || k > s->n_calls)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: denoising start %g leaves no step of %d: no timestep is "
                        "below %g",
                        s->ops->name, fraction, s->n_steps, cutoff);
    s->first_call = s->next_call = s->n_calls - k;
    return SDC_STATUS_OK;
}

sdc_status sdc_scheduler_add_noise(sdc_scheduler *s, size_t call, const float *original,
                                   const float *noise, float *out)
{
    sdc_status st = check_call(s, call, "add_noise");
    if (st != SDC_STATUS_OK)
        return st;
    size_t n = s->numel;
    switch (s->ops->noise_form) {
    case SDC_NOISE_FORM_ALPHA_BAR: {
        int t = (int)s->timesteps[call];
        float abar = s->alphas_cumprod[t];
        float sqrt_alpha = sqrtf(abar), sqrt_one_minus = sqrtf(1.0f - abar);
        for (size_t i = 0; i < n; i++)
            out[i] = sqrt_alpha * original[i] + sqrt_one_minus * noise[i];
        break;
    }
    case SDC_NOISE_FORM_SIGMA: {
        float sigma = s->sigmas[call];
        for (size_t i = 0; i < n; i++)
            out[i] = original[i] + noise[i] * sigma;
        break;
    }
    case SDC_NOISE_FORM_ALPHA_SIGMA: {
        float alpha_t, sigma_t;
        sdc_sched_alpha_sigma(s->sigmas[call], &alpha_t, &sigma_t);
        for (size_t i = 0; i < n; i++)
            out[i] = alpha_t * original[i] + sigma_t * noise[i];
        break;
    }
    case SDC_NOISE_FORM_FLOW: {
        float sigma = s->sigmas[call];
        float keep = 1.0f - sigma;
        for (size_t i = 0; i < n; i++)
            out[i] = sigma * noise[i] + keep * original[i];
        break;
    }
    case SDC_NOISE_FORM_COUNT:
        return sdc_fail(s->ctx, SDC_STATUS_INTERNAL, "scheduler %s: no add_noise form",
                        s->ops->name);
    }
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Shared by the solvers                                                                     */

sdc_status sdc_sched_draw_noise(sdc_scheduler *s, sdc_rng *rng, int slot, float **noise)
{
    if (!rng)
        return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: step %zu draws noise but no random source was given "
                        "(rng is NULL)",
                        s->ops->name, s->next_call);
    *noise = s->slot[slot];
    return sdc_rng_normal(rng, s->slot[slot], s->numel);
}

sdc_status sdc_sched_sigma_schedule(sdc_scheduler *s, bool timesteps_f64, float final_sigma)
{
    int n = s->n_steps, T = s->T;
    double *ts = s->timesteps;
    double *sig = sdc_malloc(s->ctx, (size_t)n * sizeof *sig);
    float *log_sigmas = sdc_malloc(s->ctx, (size_t)T * sizeof *log_sigmas);
    sdc_status st = SDC_STATUS_OK;
    if (!sig || !log_sigmas) {
        st = sdc_fail_oom(s->ctx, "sigma schedule", (size_t)T * sizeof(float));
        goto free_scratch;
    }
    sdc_schedule_timesteps(s->cfg.timestep_spacing, T, n, s->cfg.steps_offset, ts);
    for (int i = 0; i < n; i++) {
        ts[i] = (float)ts[i]; /* np.float32 timesteps */
        sig[i] = sdc_schedule_interp(ts[i], s->train_sigmas, T);
    }
    if (s->cfg.sigma_schedule != SDC_SIGMA_SCHEDULE_DEFAULT) {
        double sigma_min = isnan(s->cfg.sigma_min) ? sig[n - 1] : s->cfg.sigma_min;
        double sigma_max = isnan(s->cfg.sigma_max) ? sig[0] : s->cfg.sigma_max;
        if (s->cfg.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS)
            sdc_schedule_karras(sigma_min, sigma_max, n, sig);
        else
            sdc_schedule_exponential(sigma_min, sigma_max, n, sig);
        for (int j = 0; j < T; j++)
            log_sigmas[j] = sdc_sched_log(s->train_sigmas[j]);
        for (int i = 0; i < n; i++) {
            double t = sdc_schedule_sigma_to_t(sig[i], log_sigmas, T);
            ts[i] = timesteps_f64 ? t : (double)(float)t;
        }
    }
    for (int i = 0; i < n; i++)
        s->sigmas[i] = (float)sig[i];
    s->sigmas[n] = final_sigma;
    s->n_calls = (size_t)n;
    s->n_sigmas = (size_t)n + 1;
free_scratch:
    sdc_free(s->ctx, log_sigmas);
    sdc_free(s->ctx, sig);
    return st;
}

float sdc_sched_init_noise_sigma_from_sigmas(const sdc_scheduler *s)
{
    float max_sigma = s->sigmas[0];
    for (size_t i = 1; i < s->n_sigmas; i++)
        max_sigma = s->sigmas[i] > max_sigma ? s->sigmas[i] : max_sigma;
    if (s->cfg.timestep_spacing == SDC_TIMESTEP_SPACING_LEADING)
        return sqrtf(max_sigma * max_sigma + 1.0f);
    return max_sigma;
}

sdc_status sdc_sched_check_timesteps(sdc_scheduler *s)
{
    for (size_t i = 0; i < s->n_calls; i++) {
        double t = s->timesteps[i];
        if (!(t >= 0 && t <= s->T - 1))
            return sdc_fail(s->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler %s: %d steps with %s spacing and steps_offset %d give "
                            "timestep %g, outside the %d training timesteps [0, %d]",
                            s->ops->name, s->n_steps,
                            s->cfg.timestep_spacing == SDC_TIMESTEP_SPACING_LEADING    ? "leading"
                            : s->cfg.timestep_spacing == SDC_TIMESTEP_SPACING_TRAILING ? "trailing"
                                                                                       : "linspace",
                            s->cfg.steps_offset, t, s->T, s->T - 1);
    }
    return SDC_STATUS_OK;
}
