/*
 * schedulers.h — the samplers of the denoising loop, reproducing diffusers 0.30 in float32.
 *
 * Three concerns are kept apart, as the style guide asks:
 *   1. the noise schedule: pure functions that fill arrays (betas, alphas_cumprod, timestep
 *      spacing, sigmas and their Karras / exponential variants, the flow-matching shift);
 *   2. the prediction type: how a model output (epsilon, v, sample, flow velocity) is read
 *      as a clean-sample estimate;
 *   3. the solver step: one file per solver (pndm.c, ddim.c, dpm_solver.c, euler.c, ...).
 * The denoising loop sees one object, sdc_scheduler, used the way diffusers pipelines use a
 * scheduler: for call i in [first, n_calls) it asks for the timestep to give the model,
 * scales the model input, runs the model, then calls step(i), which updates the sample in
 * place. Random noise for ancestral and SDE solvers is drawn from the caller's sdc_rng as one
 * randn call of the whole sample, at the point where diffusers draws it.
 *
 * This layer does not run models, apply guidance, or know about images, latents' shapes or
 * batches (a sample is a flat float32 array; a batch is one larger array, as in diffusers).
 * It does not allocate in step(): every buffer is sized by sdc_scheduler_create. A scheduler
 * holds the state of one generation; it is used by one thread at a time.
 */
#ifndef SDC_SCHEDULERS_SCHEDULERS_H
#define SDC_SCHEDULERS_SCHEDULERS_H

#include "core/core.h"
#include "io/io.h"
#include "rng/rng.h"

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

typedef enum sdc_solver {
    SDC_SOLVER_PNDM,             /* PNDMScheduler (PLMS, skip_prk_steps) */
    SDC_SOLVER_DDIM,             /* DDIMScheduler */
    SDC_SOLVER_DPM_SOLVER,       /* DPMSolverMultistepScheduler (DPM-Solver++ and its SDE) */
    SDC_SOLVER_EULER,            /* EulerDiscreteScheduler */
    SDC_SOLVER_EULER_ANCESTRAL,  /* EulerAncestralDiscreteScheduler */
    SDC_SOLVER_HEUN,             /* HeunDiscreteScheduler */
    SDC_SOLVER_LMS,              /* LMSDiscreteScheduler */
    SDC_SOLVER_UNIPC,            /* UniPCMultistepScheduler */
    SDC_SOLVER_LCM,              /* LCMScheduler */
    SDC_SOLVER_FLOW_MATCH_EULER, /* FlowMatchEulerDiscreteScheduler (SD3) */
    SDC_SOLVER_COUNT
} sdc_solver;

typedef enum sdc_beta_schedule {
    SDC_BETA_SCHEDULE_LINEAR,
    SDC_BETA_SCHEDULE_SCALED_LINEAR,
    SDC_BETA_SCHEDULE_SQUAREDCOS_CAP_V2,
    SDC_BETA_SCHEDULE_COUNT
} sdc_beta_schedule;

typedef enum sdc_timestep_spacing {
    SDC_TIMESTEP_SPACING_LINSPACE,
    SDC_TIMESTEP_SPACING_LEADING,
    SDC_TIMESTEP_SPACING_TRAILING,
    SDC_TIMESTEP_SPACING_COUNT
} sdc_timestep_spacing;

typedef enum sdc_prediction_type {
    SDC_PREDICTION_TYPE_EPSILON,      /* the noise */
    SDC_PREDICTION_TYPE_V_PREDICTION, /* v = alpha * noise - sigma * x0 */
    SDC_PREDICTION_TYPE_SAMPLE,       /* x0 itself */
    SDC_PREDICTION_TYPE_FLOW,         /* flow-matching velocity noise - x0 (SD3) */
    SDC_PREDICTION_TYPE_COUNT
} sdc_prediction_type;

typedef enum sdc_sigma_schedule {
    SDC_SIGMA_SCHEDULE_DEFAULT,     /* sigmas interpolated at the spaced timesteps */
    SDC_SIGMA_SCHEDULE_KARRAS,      /* use_karras_sigmas (Karras et al. 2022, rho 7) */
    SDC_SIGMA_SCHEDULE_EXPONENTIAL, /* use_exponential_sigmas (diffusers 0.31) */
    SDC_SIGMA_SCHEDULE_COUNT
} sdc_sigma_schedule;

typedef enum sdc_dpm_algorithm {
    SDC_DPM_ALGORITHM_DPMSOLVER_PP,     /* "dpmsolver++" */
    SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP, /* "sde-dpmsolver++" */
    SDC_DPM_ALGORITHM_COUNT
} sdc_dpm_algorithm;

typedef enum sdc_solver_type {
    SDC_SOLVER_TYPE_MIDPOINT, /* DPM-Solver second order */
    SDC_SOLVER_TYPE_HEUN,     /* DPM-Solver second order, Heun form */
    SDC_SOLVER_TYPE_BH1,      /* UniPC B(h) = h */
    SDC_SOLVER_TYPE_BH2,      /* UniPC B(h) = e^h - 1 */
    SDC_SOLVER_TYPE_COUNT
} sdc_solver_type;

/* A diffusers scheduler configuration (the keys of scheduler_config.json), plus the step
 * arguments the pipelines pass (eta). Fields a solver does not use are ignored by it. */
typedef struct sdc_scheduler_config {
    sdc_solver solver;
    int num_train_timesteps;
    double beta_start, beta_end;
    sdc_beta_schedule beta_schedule;
    sdc_prediction_type prediction_type;
    sdc_timestep_spacing timestep_spacing;
    int steps_offset;
    bool set_alpha_to_one;
    bool skip_prk_steps; /* PNDM: must be true (PLMS only) */
    bool clip_sample;    /* DDIM, Heun, LCM */
    double clip_sample_range;
    sdc_sigma_schedule sigma_schedule;
    double sigma_min, sigma_max; /* Karras/exponential overrides; NAN = from the schedule */
    bool final_sigma_zero;       /* final_sigmas_type "zero" (else "sigma_min") */
    bool timestep_continuous;    /* Euler timestep_type "continuous" */
    sdc_dpm_algorithm algorithm_type;
    sdc_solver_type solver_type;
    int solver_order; /* DPM-Solver and UniPC: 1..3 */
    bool lower_order_final;
    bool euler_at_final;
    double lambda_min_clipped;    /* DPM-Solver; -INFINITY = none */
    bool predict_x0;              /* UniPC */
    uint64_t disable_corrector;   /* UniPC: bit i set = no corrector after step i (i < 64) */
    double eta;                   /* DDIM's eta (a step() argument in diffusers) */
    int original_inference_steps; /* LCM */
    double timestep_scaling;      /* LCM */
    double shift;                 /* flow matching */
} sdc_scheduler_config;

/* The defaults of the diffusers class behind `solver` (its __init__ arguments). */
void sdc_scheduler_config_defaults(sdc_scheduler_config *cfg, sdc_solver solver);

/* Builds the configuration as diffusers' `Class.from_config(model_config, **overrides)`
 * would: the solver class's defaults, then the keys of `model_config` (a parsed
 * scheduler_config.json object; may be NULL), then the overrides that `name` stands for.
 * `name` is one of sdc_scheduler_names() (also the A1111/ComfyUI spellings and diffusers
 * class names, case-insensitive); NULL means the model's own "_class_name". Unknown keys are
 * ignored as diffusers ignores them; a known key of the wrong type, an unknown value or a
 * feature sdc does not reproduce (trained_betas, thresholding, ...) is an error naming `what`
 * (the file) and the key. A model config of a flow-matching class marks the model as
 * predicting flow, so a non-flow solver on it fails in sdc_scheduler_create. */
sdc_status sdc_scheduler_config_build(sdc_context *ctx, const char *name,
                                      const sdc_json *model_config, const char *what,
                                      sdc_scheduler_config *out);

/* Checks a configuration for `n_steps` inference steps: ranges, and combinations the solver
 * does not support (a flow solver on an epsilon model, Karras sigmas on PNDM, ...). */
sdc_status sdc_scheduler_config_check(sdc_context *ctx, const sdc_scheduler_config *cfg,
                                      int n_steps);

/* ---------------------------------------------------------------------------------------- */
/* Names users know                                                                           */

typedef struct sdc_scheduler_name {
    const char *name;        /* "euler_a", "dpm++2m-karras", ... */
    const char *diffusers;   /* the diffusers class and overrides it stands for */
    const char *description; /* one line for `sdc generate --help` */
} sdc_scheduler_name;

/* The names, in the order `--help` lists them. Static storage. */
const sdc_scheduler_name *sdc_scheduler_names(size_t *count);

const char *sdc_solver_name(sdc_solver solver);            /* "euler", ... */
const char *sdc_solver_diffusers_class(sdc_solver solver); /* "EulerDiscreteScheduler" */
const char *sdc_prediction_type_name(sdc_prediction_type type);

/* ---------------------------------------------------------------------------------------- */
/* The noise schedule: pure functions (diffusers/numpy/torch arithmetic reproduced)           */

/* betas[T] as diffusers builds them in float32 (torch.linspace; betas_for_alpha_bar in double
 * then rounded), and alphas_cumprod[T] (torch.cumprod of 1 - beta, accumulated in double). */
void sdc_schedule_betas(sdc_beta_schedule schedule, double beta_start, double beta_end, int T,
                        float *betas);
void sdc_schedule_alphas_cumprod(const float *betas, int T, float *alphas_cumprod);

/* sigma_t = sqrt((1 - alphas_cumprod) / alphas_cumprod) in float32, t in [0, T). */
void sdc_schedule_sigmas_from_alphas(const float *alphas_cumprod, int T, float *sigmas);

/* numpy.linspace(start, stop, n) in double. */
void sdc_schedule_linspace(double start, double stop, int n, double *out);

/* n inference timesteps, descending, as the DDIM/Euler family spaces them over
 * [0, num_train_timesteps): linspace over [0, T-1] (not rounded), leading with step_ratio
 * T // n plus steps_offset, or trailing round(T - i*T/n) - 1. Values are exact integers except
 * for linspace. */
void sdc_schedule_timesteps(sdc_timestep_spacing spacing, int T, int n, int steps_offset,
                            double *timesteps);

/* numpy.interp(x, [0, 1, ..., n-1], fp) in double. */
double sdc_schedule_interp(double x, const float *fp, int n);

/* Karras et al. 2022 sigmas (rho = 7) from sigma_max down to sigma_min, n values, double. */
void sdc_schedule_karras(double sigma_min, double sigma_max, int n, double *out);
/* exp(linspace(log sigma_max, log sigma_min, n)), double. */
void sdc_schedule_exponential(double sigma_min, double sigma_max, int n, double *out);

/* diffusers' _sigma_to_t: the fractional timestep whose log-sigma interpolates `sigma` in
 * log_sigmas[T] (float32 logs of the training sigmas, ascending). */
double sdc_schedule_sigma_to_t(double sigma, const float *log_sigmas, int T);

/* Flow matching: shift * s / (1 + (shift - 1) * s). */
double sdc_schedule_flow_shift(double shift, double sigma);

/* ---------------------------------------------------------------------------------------- */
/* The prediction type: reading a model output as x0 (and as noise)                          */

/* DDPM form, alpha_prod = alphas_cumprod[t]: fills x0 and (if eps != NULL) the noise. */
void sdc_prediction_x0_from_alpha(sdc_prediction_type type, float alpha_prod, const float *sample,
                                  const float *model_output, size_t n, float *x0, float *eps);
/* k-diffusion form, x = x0 + sigma * noise (Euler, Heun, LMS). */
void sdc_prediction_x0_from_sigma(sdc_prediction_type type, float sigma, const float *sample,
                                  const float *model_output, size_t n, float *x0);
/* DPM-Solver/UniPC form, x = alpha_t * x0 + sigma_t * noise. */
void sdc_prediction_x0_from_alpha_sigma(sdc_prediction_type type, float alpha_t, float sigma_t,
                                        const float *sample, const float *model_output, size_t n,
                                        float *x0);

/* ---------------------------------------------------------------------------------------- */
/* The scheduler of one generation                                                           */

typedef struct sdc_scheduler sdc_scheduler;

/* Computes the schedule for `n_steps` inference steps over samples of `sample_numel` floats
 * and allocates every buffer the solver needs. Fails (INVALID_ARGUMENT or UNSUPPORTED, with a
 * message) when sdc_scheduler_config_check does. On failure *out is NULL. */
sdc_status sdc_scheduler_create(sdc_context *ctx, const sdc_scheduler_config *cfg, int n_steps,
                                size_t sample_numel, sdc_scheduler **out);
void sdc_scheduler_destroy(sdc_scheduler *sched);

const sdc_scheduler_config *sdc_scheduler_get_config(const sdc_scheduler *sched);

/* Model calls of a full generation: len(scheduler.timesteps) in diffusers (PNDM makes
 * n_steps + 1 calls, Heun 2 n_steps - 1). */
size_t sdc_scheduler_n_calls(const sdc_scheduler *sched);
/* The first call of this generation: 0, or the img2img start (sdc_scheduler_set_strength). */
size_t sdc_scheduler_first_call(const sdc_scheduler *sched);
/* The timestep given to the model at call i (scheduler.timesteps[i]: an integer for the DDPM
 * family, fractional for linspace or Karras schedules, sigma * 1000 for flow matching). */
double sdc_scheduler_timestep(const sdc_scheduler *sched, size_t call);
/* diffusers' scheduler.sigmas (with the final sigma), or NULL with *n = 0 for the solvers that
 * have none (PNDM, DDIM, LCM). Valid while the scheduler lives. */
const float *sdc_scheduler_sigmas(const sdc_scheduler *sched, size_t *n);
/* alphas_cumprod[num_train_timesteps], or NULL for flow matching. */
const float *sdc_scheduler_alphas_cumprod(const sdc_scheduler *sched);
/* The factor the initial noise is multiplied by (scheduler.init_noise_sigma; 1 for flow
 * matching, which has none: SD3 uses the noise as is). */
float sdc_scheduler_init_noise_sigma(const sdc_scheduler *sched);

/* scale_model_input for call i: out[j] = sample[j] / sqrt(sigma^2 + 1) for the sigma-based
 * solvers, a copy otherwise. out may be sample. */
sdc_status sdc_scheduler_scale_model_input(sdc_scheduler *sched, size_t call, const float *sample,
                                           float *out);

/* step() for call i, which must be the next call (first_call, then one after the other).
 * Updates sample[sample_numel] in place from model_output. `rng` feeds the noise of DDIM with
 * eta > 0, Euler ancestral, SDE-DPM-Solver++ and LCM (one sdc_rng_normal call of sample_numel
 * values per step, where diffusers draws it); Euler also draws one that it does not use, as
 * diffusers does. rng may be NULL for the others; a solver that needs noise fails without. */
sdc_status sdc_scheduler_step(sdc_scheduler *sched, size_t call, const float *model_output,
                              float *sample, sdc_rng *rng);

/* The clean-sample estimate of the last step (diffusers' pred_original_sample, LCM's
 * `denoised`, DPM-Solver/UniPC's converted model output), or NULL when the solver forms none
 * (PNDM) or no step has run. Valid until the next step. */
const float *sdc_scheduler_denoised(const sdc_scheduler *sched);

/* img2img: starts the generation part way, as the diffusers img2img pipelines do:
 * t_start = n_steps - min(int(n_steps * strength), n_steps); the first call is
 * t_start * order (scheduler.timesteps[t_start * order:], set_begin_index). LCM instead
 * re-spaces its timesteps over the first int(original_inference_steps * strength) training
 * steps (LCMScheduler.set_timesteps(strength=)). strength in (0, 1]; an error when no step
 * would be left. Must come before the first step. */
sdc_status sdc_scheduler_set_strength(sdc_scheduler *sched, double strength);

/* diffusers' denoising_end (StableDiffusionXLPipeline, "Mixture of Denoisers"): the schedule stops
 * at `fraction` (in (0, 1)) of the training timesteps. With cutoff = int(round(T - fraction * T))
 * (Python's round, half to even), the calls from the first on whose timestep is >= cutoff run;
 * returns the call after the last of them (first_call when none does). Reads only. */
size_t sdc_scheduler_denoising_end_call(const sdc_scheduler *sched, double fraction);

/* diffusers' denoising_start (StableDiffusionXLImg2ImgPipeline.get_timesteps): the schedule
 * starts where a denoising_end of the same fraction stops: the last k calls run, k = the number
 * of timesteps below the cutoff, plus one for a second-order solver when k is even (so that a
 * Heun pair is not split). An error when k is 0 (diffusers would then run every step), when
 * fraction is outside (0, 1) or after the first step. Takes the place of set_strength. */
sdc_status sdc_scheduler_set_denoising_start(sdc_scheduler *sched, double fraction);

/* add_noise(original, noise, timesteps[call]) (FlowMatch: scale_noise): the noised start of
 * img2img at the first call. out may alias either input. */
sdc_status sdc_scheduler_add_noise(sdc_scheduler *sched, size_t call, const float *original,
                                   const float *noise, float *out);

#endif /* SDC_SCHEDULERS_SCHEDULERS_H */
