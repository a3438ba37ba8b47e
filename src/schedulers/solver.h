/*
 * solver.h — what scheduler.c and the solver files share, and nothing outside this folder
 * uses: the layout of sdc_scheduler and the table each solver fills in. A solver file provides
 * set_timesteps (fill timesteps, sigmas, init_noise_sigma for n_steps) and step; scheduler.c
 * does the checking, allocation, call ordering, input scaling, add_noise and img2img start.
 */
#ifndef SDC_SCHEDULERS_SOLVER_H
#define SDC_SCHEDULERS_SOLVER_H

#include "schedulers/schedulers.h"

#include <math.h>

#define SDC_SCHED_MAX_SLOTS 8

/* How add_noise mixes a clean sample with noise. */
typedef enum sdc_noise_form {
    SDC_NOISE_FORM_ALPHA_BAR,   /* sqrt(abar) x + sqrt(1 - abar) n (PNDM, DDIM, LCM) */
    SDC_NOISE_FORM_SIGMA,       /* x + sigma n (Euler, Heun, LMS) */
    SDC_NOISE_FORM_ALPHA_SIGMA, /* alpha_t x + sigma_t n (DPM-Solver, UniPC) */
    SDC_NOISE_FORM_FLOW,        /* sigma n + (1 - sigma) x (flow matching) */
    SDC_NOISE_FORM_COUNT
} sdc_noise_form;

typedef struct sdc_solver_ops {
    const char *name; /* sdc's canonical name */
    const char *diffusers_class;
    int order;            /* diffusers' scheduler.order (img2img start) */
    int n_slots;          /* sample-sized buffers the solver keeps */
    unsigned predictions; /* bit (1 << sdc_prediction_type) per supported type */
    bool sigma_schedules; /* Karras / exponential sigmas allowed */
    bool scale_input;     /* scale_model_input divides by sqrt(sigma^2 + 1) */
    sdc_noise_form noise_form;
    /* Fills timesteps[n_calls], sigmas[n_sigmas] (or none) and init_noise_sigma. */
    sdc_status (*set_timesteps)(sdc_scheduler *s);
    sdc_status (*step)(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                       sdc_rng *rng);
} sdc_solver_ops;

struct sdc_scheduler {
    sdc_context *ctx;
    sdc_scheduler_config cfg;
    const sdc_solver_ops *ops;
    int n_steps;  /* num_inference_steps asked for */
    int T;        /* num_train_timesteps */
    size_t numel; /* floats per sample */

    float *alphas_cumprod; /* [T]; NULL for flow matching */
    float *train_sigmas;   /* [T] sqrt((1 - abar) / abar); NULL for flow matching */
    float final_alpha_cumprod;

    size_t n_calls, cap_calls;
    double *timesteps; /* [n_calls] given to the model */
    size_t n_sigmas, cap_sigmas;
    float *sigmas; /* [n_sigmas] diffusers' scheduler.sigmas, or none */
    float init_noise_sigma;

    size_t first_call; /* img2img start */
    size_t next_call;  /* the call step() expects */
    bool started;      /* a step has run */

    float *slot[SDC_SCHED_MAX_SLOTS]; /* [numel] each; meaning per solver */
    const float *denoised;            /* the last step's x0 estimate (points into a slot) or NULL */

    /* Solver state between steps (each solver documents its use). */
    int counter;    /* PNDM: steps taken; multistep: lower_order_nums */
    int n_history;  /* entries in the history slots */
    int this_order; /* UniPC: order of the last predictor */
    bool have_last; /* Heun: in its second stage; UniPC: last_sample is set */
    float heun_dt;
};

/* The solver tables (one per file). */
extern const sdc_solver_ops sdc_solver_pndm_ops;
extern const sdc_solver_ops sdc_solver_ddim_ops;
extern const sdc_solver_ops sdc_solver_dpm_solver_ops;
extern const sdc_solver_ops sdc_solver_euler_ops;
extern const sdc_solver_ops sdc_solver_euler_ancestral_ops;
extern const sdc_solver_ops sdc_solver_heun_ops;
extern const sdc_solver_ops sdc_solver_lms_ops;
extern const sdc_solver_ops sdc_solver_unipc_ops;
extern const sdc_solver_ops sdc_solver_lcm_ops;
extern const sdc_solver_ops sdc_solver_flow_match_euler_ops;

const sdc_solver_ops *sdc_solver_ops_of(sdc_solver solver);

/* One randn call of the sample's size into slot `slot`; fails naming the solver when rng is
 * NULL. */
sdc_status sdc_sched_draw_noise(sdc_scheduler *s, sdc_rng *rng, int slot, float **noise);

/* The sigma-based schedule of Euler, Euler ancestral, Heun and LMS (their set_timesteps):
 * n_steps timesteps (float32, or float64 after a Karras/exponential conversion when
 * `timesteps_f64`), sigmas interpolated (or converted) plus `final_sigma`, written to
 * s->timesteps / s->sigmas with n_calls = n_steps and n_sigmas = n_steps + 1. */
sdc_status sdc_sched_sigma_schedule(sdc_scheduler *s, bool timesteps_f64, float final_sigma);

/* Applies the keys of a scheduler_config.json object that cfg->solver's diffusers class takes
 * (config.c). */
sdc_status sdc_sched_config_apply_json(sdc_context *ctx, const sdc_json *obj, const char *what,
                                       sdc_scheduler_config *cfg);

/* LCM img2img: re-spaces LCM's timesteps over the first int(original_inference_steps *
 * strength) training steps (lcm.c). */
sdc_status sdc_sched_lcm_respace(sdc_scheduler *s, double strength);

/* Fails unless every timestep is a training step in [0, T), naming the solver. */
sdc_status sdc_sched_check_timesteps(sdc_scheduler *s);

/* init_noise_sigma of the sigma-based solvers: max sigma, or sqrt(max^2 + 1) for leading. */
float sdc_sched_init_noise_sigma_from_sigmas(const sdc_scheduler *s);

/* diffusers' _sigma_to_alpha_sigma_t: alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t. */
static inline void sdc_sched_alpha_sigma(float sigma, float *alpha_t, float *sigma_t)
{
    float a = 1.0f / sqrtf(sigma * sigma + 1.0f);
    *alpha_t = a;
    *sigma_t = sigma * a;
}

/* torch's float32 log / exp / expm1 of a 0-d tensor, taken in double and rounded once. */
static inline float sdc_sched_log(float x)
{
    return (float)log((double)x);
}

static inline float sdc_sched_exp(float x)
{
    return (float)exp((double)x);
}

static inline float sdc_sched_expm1(float x)
{
    return (float)expm1((double)x);
}

/* lambda = log(alpha_t) - log(sigma_t) of a sigma. */
static inline float sdc_sched_lambda(float sigma)
{
    float alpha_t, sigma_t;
    sdc_sched_alpha_sigma(sigma, &alpha_t, &sigma_t);
    return sdc_sched_log(alpha_t) - sdc_sched_log(sigma_t);
}

static inline float sdc_sched_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* SDC_SCHEDULERS_SOLVER_H */
