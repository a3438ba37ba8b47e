/*
 * config.c — scheduler configurations: the diffusers 0.30.2 class defaults, reading a
 * scheduler_config.json as `Class.from_config(config, **overrides)` does (a key counts only
 * for the classes whose __init__ takes it; the names users know are in names.c), and the checks
 * that turn unsupported combinations into clear errors.
 */
#include "schedulers/solver.h"

#include <ctype.h>
#include <string.h>

#define ALL_SOLVERS  ((1u << SDC_SOLVER_COUNT) - 1)
#define BIT(solver)  (1u << (solver))
#define DDPM_SOLVERS (ALL_SOLVERS & ~BIT(SDC_SOLVER_FLOW_MATCH_EULER))
#define SIGMA_SOLVERS                                                                              \
    (BIT(SDC_SOLVER_DPM_SOLVER) | BIT(SDC_SOLVER_EULER) | BIT(SDC_SOLVER_HEUN) |                   \
     BIT(SDC_SOLVER_LMS) | BIT(SDC_SOLVER_UNIPC))

void sdc_scheduler_config_defaults(sdc_scheduler_config *cfg, sdc_solver solver)
{
    *cfg = (sdc_scheduler_config){
        .solver = solver,
        .num_train_timesteps = 1000,
        .beta_start = 0.0001,
        .beta_end = 0.02,
        .beta_schedule = SDC_BETA_SCHEDULE_LINEAR,
        .prediction_type = SDC_PREDICTION_TYPE_EPSILON,
        .timestep_spacing = SDC_TIMESTEP_SPACING_LINSPACE,
        .clip_sample_range = 1.0,
        .sigma_schedule = SDC_SIGMA_SCHEDULE_DEFAULT,
        .sigma_min = NAN,
        .sigma_max = NAN,
        .final_sigma_zero = true,
        .algorithm_type = SDC_DPM_ALGORITHM_DPMSOLVER_PP,
        .solver_type = SDC_SOLVER_TYPE_MIDPOINT,
        .solver_order = 2,
        .lower_order_final = true,
        .lambda_min_clipped = -INFINITY,
        .predict_x0 = true,
        .original_inference_steps = 50,
        .timestep_scaling = 10.0,
        .shift = 1.0,
    };
    switch (solver) {
    case SDC_SOLVER_PNDM:
        cfg->timestep_spacing = SDC_TIMESTEP_SPACING_LEADING;
        break;
    case SDC_SOLVER_DDIM:
        cfg->timestep_spacing = SDC_TIMESTEP_SPACING_LEADING;
        cfg->clip_sample = true;
        cfg->set_alpha_to_one = true;
        break;
    case SDC_SOLVER_HEUN:
        cfg->beta_start = 0.00085;
        cfg->beta_end = 0.012;
        break;
    case SDC_SOLVER_UNIPC:
        cfg->solver_type = SDC_SOLVER_TYPE_BH2;
        break;
    case SDC_SOLVER_LCM:
        cfg->beta_start = 0.00085;
        cfg->beta_end = 0.012;
        cfg->beta_schedule = SDC_BETA_SCHEDULE_SCALED_LINEAR;
        cfg->timestep_spacing = SDC_TIMESTEP_SPACING_LEADING;
        cfg->set_alpha_to_one = true;
        break;
    case SDC_SOLVER_FLOW_MATCH_EULER:
        cfg->prediction_type = SDC_PREDICTION_TYPE_FLOW;
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* scheduler_config.json keys                                                                 */

typedef enum config_key {
    CONFIG_KEY_NUM_TRAIN_TIMESTEPS,
    CONFIG_KEY_BETA_START,
    CONFIG_KEY_BETA_END,
    CONFIG_KEY_BETA_SCHEDULE,
    CONFIG_KEY_TRAINED_BETAS,
    CONFIG_KEY_PREDICTION_TYPE,
    CONFIG_KEY_TIMESTEP_SPACING,
    CONFIG_KEY_STEPS_OFFSET,
    CONFIG_KEY_SET_ALPHA_TO_ONE,
    CONFIG_KEY_SKIP_PRK_STEPS,
    CONFIG_KEY_CLIP_SAMPLE,
    CONFIG_KEY_CLIP_SAMPLE_RANGE,
    CONFIG_KEY_USE_KARRAS_SIGMAS,
    CONFIG_KEY_USE_EXPONENTIAL_SIGMAS,
    CONFIG_KEY_USE_BETA_SIGMAS,
    CONFIG_KEY_USE_LU_LAMBDAS,
    CONFIG_KEY_SIGMA_MIN,
    CONFIG_KEY_SIGMA_MAX,
    CONFIG_KEY_FINAL_SIGMAS_TYPE,
    CONFIG_KEY_TIMESTEP_TYPE,
    CONFIG_KEY_INTERPOLATION_TYPE,
    CONFIG_KEY_ALGORITHM_TYPE,
    CONFIG_KEY_SOLVER_TYPE,
    CONFIG_KEY_SOLVER_ORDER,
    CONFIG_KEY_LOWER_ORDER_FINAL,
    CONFIG_KEY_EULER_AT_FINAL,
    CONFIG_KEY_LAMBDA_MIN_CLIPPED,
    CONFIG_KEY_VARIANCE_TYPE,
    CONFIG_KEY_THRESHOLDING,
    CONFIG_KEY_RESCALE_BETAS_ZERO_SNR,
    CONFIG_KEY_PREDICT_X0,
    CONFIG_KEY_DISABLE_CORRECTOR,
    CONFIG_KEY_ORIGINAL_INFERENCE_STEPS,
    CONFIG_KEY_TIMESTEP_SCALING,
    CONFIG_KEY_SHIFT,
    CONFIG_KEY_USE_DYNAMIC_SHIFTING,
    CONFIG_KEY_COUNT
} config_key;

/* Each key and the classes whose __init__ takes it (from_config passes it to no other). */
static const struct {
    const char *name;
    unsigned solvers;
} config_keys[] = {
    [CONFIG_KEY_NUM_TRAIN_TIMESTEPS] = {"num_train_timesteps", ALL_SOLVERS},
    [CONFIG_KEY_BETA_START] = {"beta_start", DDPM_SOLVERS},
    [CONFIG_KEY_BETA_END] = {"beta_end", DDPM_SOLVERS},
    [CONFIG_KEY_BETA_SCHEDULE] = {"beta_schedule", DDPM_SOLVERS},
    [CONFIG_KEY_TRAINED_BETAS] = {"trained_betas", DDPM_SOLVERS},
    [CONFIG_KEY_PREDICTION_TYPE] = {"prediction_type", DDPM_SOLVERS},
    [CONFIG_KEY_TIMESTEP_SPACING] = {"timestep_spacing", DDPM_SOLVERS},
    [CONFIG_KEY_STEPS_OFFSET] = {"steps_offset", DDPM_SOLVERS},
    [CONFIG_KEY_SET_ALPHA_TO_ONE] = {"set_alpha_to_one", BIT(SDC_SOLVER_PNDM) |
                                                             BIT(SDC_SOLVER_DDIM) |
                                                             BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_SKIP_PRK_STEPS] = {"skip_prk_steps", BIT(SDC_SOLVER_PNDM)},
    [CONFIG_KEY_CLIP_SAMPLE] = {"clip_sample",
                                BIT(SDC_SOLVER_DDIM) | BIT(SDC_SOLVER_HEUN) | BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_CLIP_SAMPLE_RANGE] = {"clip_sample_range", BIT(SDC_SOLVER_DDIM) |
                                                               BIT(SDC_SOLVER_HEUN) |
                                                               BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_USE_KARRAS_SIGMAS] = {"use_karras_sigmas", SIGMA_SOLVERS},
    [CONFIG_KEY_USE_EXPONENTIAL_SIGMAS] = {"use_exponential_sigmas", SIGMA_SOLVERS},
    [CONFIG_KEY_USE_BETA_SIGMAS] = {"use_beta_sigmas", SIGMA_SOLVERS},
    [CONFIG_KEY_USE_LU_LAMBDAS] = {"use_lu_lambdas", BIT(SDC_SOLVER_DPM_SOLVER)},
    [CONFIG_KEY_SIGMA_MIN] = {"sigma_min", BIT(SDC_SOLVER_EULER)},
    [CONFIG_KEY_SIGMA_MAX] = {"sigma_max", BIT(SDC_SOLVER_EULER)},
    [CONFIG_KEY_FINAL_SIGMAS_TYPE] = {"final_sigmas_type", BIT(SDC_SOLVER_EULER) |
                                                               BIT(SDC_SOLVER_DPM_SOLVER) |
                                                               BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_TIMESTEP_TYPE] = {"timestep_type", BIT(SDC_SOLVER_EULER)},
    [CONFIG_KEY_INTERPOLATION_TYPE] = {"interpolation_type", BIT(SDC_SOLVER_EULER)},
    [CONFIG_KEY_ALGORITHM_TYPE] = {"algorithm_type", BIT(SDC_SOLVER_DPM_SOLVER)},
    [CONFIG_KEY_SOLVER_TYPE] = {"solver_type", BIT(SDC_SOLVER_DPM_SOLVER) | BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_SOLVER_ORDER] = {"solver_order",
                                 BIT(SDC_SOLVER_DPM_SOLVER) | BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_LOWER_ORDER_FINAL] = {"lower_order_final",
                                      BIT(SDC_SOLVER_DPM_SOLVER) | BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_EULER_AT_FINAL] = {"euler_at_final", BIT(SDC_SOLVER_DPM_SOLVER)},
    [CONFIG_KEY_LAMBDA_MIN_CLIPPED] = {"lambda_min_clipped", BIT(SDC_SOLVER_DPM_SOLVER)},
    [CONFIG_KEY_VARIANCE_TYPE] = {"variance_type", BIT(SDC_SOLVER_DPM_SOLVER)},
    [CONFIG_KEY_THRESHOLDING] = {"thresholding", BIT(SDC_SOLVER_DDIM) | BIT(SDC_SOLVER_DPM_SOLVER) |
                                                     BIT(SDC_SOLVER_UNIPC) | BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_RESCALE_BETAS_ZERO_SNR] = {"rescale_betas_zero_snr",
                                           DDPM_SOLVERS & ~BIT(SDC_SOLVER_PNDM) &
                                               ~BIT(SDC_SOLVER_HEUN) & ~BIT(SDC_SOLVER_LMS)},
    [CONFIG_KEY_PREDICT_X0] = {"predict_x0", BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_DISABLE_CORRECTOR] = {"disable_corrector", BIT(SDC_SOLVER_UNIPC)},
    [CONFIG_KEY_ORIGINAL_INFERENCE_STEPS] = {"original_inference_steps", BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_TIMESTEP_SCALING] = {"timestep_scaling", BIT(SDC_SOLVER_LCM)},
    [CONFIG_KEY_SHIFT] = {"shift", BIT(SDC_SOLVER_FLOW_MATCH_EULER)},
    [CONFIG_KEY_USE_DYNAMIC_SHIFTING] = {"use_dynamic_shifting", BIT(SDC_SOLVER_FLOW_MATCH_EULER)},
};
static_assert(sizeof config_keys / sizeof config_keys[0] == CONFIG_KEY_COUNT,
              "one entry per configuration key");

typedef struct key_reader {
    sdc_context *ctx;
    const char *what;
    const char *key;
    const sdc_json *value;
} key_reader;

static sdc_status wrong_type(const key_reader *r, const char *expected)
{
    return sdc_fail(r->ctx, SDC_STATUS_FORMAT, "%s: key \"%s\" (line %u): expected %s, got %s",
                    r->what, r->key, (unsigned)r->value->line, expected,
                    sdc_json_type_name(r->value->type));
}

static sdc_status unsupported(const key_reader *r, const char *why)
{
    return sdc_fail(r->ctx, SDC_STATUS_UNSUPPORTED, "%s: key \"%s\": %s", r->what, r->key, why);
}

static sdc_status read_number(const key_reader *r, double *out)
{
    if (r->value->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK; /* None: the class default */
    if (r->value->type != SDC_JSON_TYPE_NUMBER)
        return wrong_type(r, "a number");
    *out = r->value->u.number.value;
    return SDC_STATUS_OK;
}

static sdc_status read_int(const key_reader *r, int64_t lo, int64_t hi, int *out)
{
    if (r->value->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (r->value->type != SDC_JSON_TYPE_NUMBER || !r->value->u.number.is_int)
        return wrong_type(r, "an integer");
    int64_t v = r->value->u.number.int_value;
    if (v < lo || v > hi)
        return sdc_fail(r->ctx, SDC_STATUS_FORMAT, "%s: key \"%s\": %lld is outside [%lld, %lld]",
                        r->what, r->key, (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return SDC_STATUS_OK;
}

static sdc_status read_bool(const key_reader *r, bool *out)
{
    if (r->value->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (r->value->type != SDC_JSON_TYPE_BOOL)
        return wrong_type(r, "true or false");
    *out = r->value->u.boolean;
    return SDC_STATUS_OK;
}

/* A string among `names` (NULL-terminated); *index is its position. */
static sdc_status read_choice(const key_reader *r, const char *const *names, int *index)
{
    if (r->value->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (r->value->type != SDC_JSON_TYPE_STRING)
        return wrong_type(r, "a string");
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], r->value->u.string.chars) == 0) {
            *index = i;
            return SDC_STATUS_OK;
        }
    }
    char expected[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(expected, i ? ", " : "", sizeof expected - strlen(expected) - 1);
        strncat(expected, names[i], sizeof expected - strlen(expected) - 1);
    }
    return sdc_fail(r->ctx, SDC_STATUS_UNSUPPORTED, "%s: key \"%s\": \"%s\" is not one of %s",
                    r->what, r->key, r->value->u.string.chars, expected);
}

/* A flag that sdc does not reproduce when true. */
static sdc_status refuse_true(const key_reader *r, const char *why)
{
    bool on = false;
    sdc_status st = read_bool(r, &on);
    if (st != SDC_STATUS_OK)
        return st;
    return on ? unsupported(r, why) : SDC_STATUS_OK;
}

static sdc_status apply_key(const key_reader *r, config_key key, sdc_scheduler_config *cfg)
{
    static const char *const beta_schedules[] = {"linear", "scaled_linear", "squaredcos_cap_v2",
                                                 NULL};
    static const char *const predictions[] = {"epsilon", "v_prediction", "sample", NULL};
    static const char *const spacings[] = {"linspace", "leading", "trailing", NULL};
    static const char *const final_types[] = {"zero", "sigma_min", NULL};
    static const char *const timestep_types[] = {"discrete", "continuous", NULL};
    static const char *const interpolations[] = {"linear", NULL};
    static const char *const algorithms[] = {"dpmsolver++", "sde-dpmsolver++", "deis", NULL};
    static const char *const solver_types[] = {"midpoint", "heun", "bh1", "bh2", "logrho", NULL};
    sdc_status st = SDC_STATUS_OK;
    int choice = -1;
    bool flag;
    switch (key) {
    case CONFIG_KEY_NUM_TRAIN_TIMESTEPS:
        return read_int(r, 2, 1000000, &cfg->num_train_timesteps);
    case CONFIG_KEY_BETA_START:
        return read_number(r, &cfg->beta_start);
    case CONFIG_KEY_BETA_END:
        return read_number(r, &cfg->beta_end);
    case CONFIG_KEY_BETA_SCHEDULE:
        st = read_choice(r, beta_schedules, &choice);
        if (choice >= 0)
            cfg->beta_schedule = (sdc_beta_schedule)choice;
        return st;
    case CONFIG_KEY_TRAINED_BETAS:
        if (r->value->type == SDC_JSON_TYPE_NULL)
            return SDC_STATUS_OK;
        return unsupported(r, "explicit trained betas are not supported; expected null (betas "
                              "from beta_start, beta_end and beta_schedule)");
    case CONFIG_KEY_PREDICTION_TYPE:
        st = read_choice(r, predictions, &choice);
        if (choice >= 0)
            cfg->prediction_type = (sdc_prediction_type)choice;
        return st;
    case CONFIG_KEY_TIMESTEP_SPACING:
        st = read_choice(r, spacings, &choice);
        if (choice >= 0)
            cfg->timestep_spacing = (sdc_timestep_spacing)choice;
        return st;
    case CONFIG_KEY_STEPS_OFFSET:
        return read_int(r, 0, 1000000, &cfg->steps_offset);
    case CONFIG_KEY_SET_ALPHA_TO_ONE:
        return read_bool(r, &cfg->set_alpha_to_one);
    case CONFIG_KEY_SKIP_PRK_STEPS:
        return read_bool(r, &cfg->skip_prk_steps);
    case CONFIG_KEY_CLIP_SAMPLE:
        return read_bool(r, &cfg->clip_sample);
    case CONFIG_KEY_CLIP_SAMPLE_RANGE:
        return read_number(r, &cfg->clip_sample_range);
    case CONFIG_KEY_USE_KARRAS_SIGMAS:
    case CONFIG_KEY_USE_EXPONENTIAL_SIGMAS:
        flag = false;
        st = read_bool(r, &flag);
        if (flag)
            cfg->sigma_schedule = key == CONFIG_KEY_USE_KARRAS_SIGMAS
                                      ? SDC_SIGMA_SCHEDULE_KARRAS
                                      : SDC_SIGMA_SCHEDULE_EXPONENTIAL;
        return st;
    case CONFIG_KEY_USE_BETA_SIGMAS:
        return refuse_true(r, "beta-distributed sigmas are not supported");
    case CONFIG_KEY_USE_LU_LAMBDAS:
        return refuse_true(r, "Lu's uniform-lambda schedule is not supported");
    case CONFIG_KEY_SIGMA_MIN:
        return read_number(r, &cfg->sigma_min);
    case CONFIG_KEY_SIGMA_MAX:
        return read_number(r, &cfg->sigma_max);
    case CONFIG_KEY_FINAL_SIGMAS_TYPE:
        st = read_choice(r, final_types, &choice);
        if (choice >= 0)
            cfg->final_sigma_zero = choice == 0;
        return st;
    case CONFIG_KEY_TIMESTEP_TYPE:
        st = read_choice(r, timestep_types, &choice);
        if (choice >= 0)
            cfg->timestep_continuous = choice == 1;
        return st;
    case CONFIG_KEY_INTERPOLATION_TYPE:
        return read_choice(r, interpolations, &choice);
    case CONFIG_KEY_ALGORITHM_TYPE:
        st = read_choice(r, algorithms, &choice);
        if (choice >= 0) /* diffusers registers "deis" as dpmsolver++ */
            cfg->algorithm_type =
                choice == 1 ? SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP : SDC_DPM_ALGORITHM_DPMSOLVER_PP;
        return st;
    case CONFIG_KEY_SOLVER_TYPE:
        st = read_choice(r, solver_types, &choice);
        if (choice < 0)
            return st;
        /* Each class maps the other's names as diffusers does. */
        if (cfg->solver == SDC_SOLVER_UNIPC)
            cfg->solver_type = choice == 2 ? SDC_SOLVER_TYPE_BH1 : SDC_SOLVER_TYPE_BH2;
        else
            cfg->solver_type = choice == 1 ? SDC_SOLVER_TYPE_HEUN : SDC_SOLVER_TYPE_MIDPOINT;
        return st;
    case CONFIG_KEY_SOLVER_ORDER:
        return read_int(r, 1, 1000, &cfg->solver_order);
    case CONFIG_KEY_LOWER_ORDER_FINAL:
        return read_bool(r, &cfg->lower_order_final);
    case CONFIG_KEY_EULER_AT_FINAL:
        return read_bool(r, &cfg->euler_at_final);
    case CONFIG_KEY_LAMBDA_MIN_CLIPPED:
        if (r->value->type == SDC_JSON_TYPE_STRING &&
            strcmp(r->value->u.string.chars, "-inf") == 0) {
            cfg->lambda_min_clipped = -INFINITY;
            return SDC_STATUS_OK;
        }
        return read_number(r, &cfg->lambda_min_clipped);
    case CONFIG_KEY_VARIANCE_TYPE:
        if (r->value->type == SDC_JSON_TYPE_NULL)
            return SDC_STATUS_OK;
        return unsupported(r, "learned variance (model outputs with extra channels) is not "
                              "supported; expected null");
    case CONFIG_KEY_THRESHOLDING:
        return refuse_true(r, "dynamic thresholding is not supported");
    case CONFIG_KEY_RESCALE_BETAS_ZERO_SNR:
        return refuse_true(r, "zero-terminal-SNR rescaling is not supported");
    case CONFIG_KEY_PREDICT_X0:
        return read_bool(r, &cfg->predict_x0);
    case CONFIG_KEY_DISABLE_CORRECTOR:
        if (r->value->type == SDC_JSON_TYPE_NULL)
            return SDC_STATUS_OK;
        if (r->value->type != SDC_JSON_TYPE_ARRAY)
            return wrong_type(r, "a list of step indices");
        cfg->disable_corrector = 0;
        for (size_t i = 0; i < r->value->u.array.count; i++) {
            const sdc_json *v = r->value->u.array.items[i];
            if (v->type != SDC_JSON_TYPE_NUMBER || !v->u.number.is_int ||
                v->u.number.int_value < 0 || v->u.number.int_value >= 64)
                return unsupported(r, "expected step indices in [0, 63]");
            cfg->disable_corrector |= UINT64_C(1) << v->u.number.int_value;
        }
        return SDC_STATUS_OK;
    case CONFIG_KEY_ORIGINAL_INFERENCE_STEPS:
        return read_int(r, 1, 1000000, &cfg->original_inference_steps);
    case CONFIG_KEY_TIMESTEP_SCALING:
        return read_number(r, &cfg->timestep_scaling);
    case CONFIG_KEY_SHIFT:
        return read_number(r, &cfg->shift);
    case CONFIG_KEY_USE_DYNAMIC_SHIFTING:
        return refuse_true(r, "resolution-dependent shifting (Flux) is not supported");
    case CONFIG_KEY_COUNT:
        break;
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_sched_config_apply_json(sdc_context *ctx, const sdc_json *obj, const char *what,
                                       sdc_scheduler_config *cfg)
{
    for (size_t i = 0; i < obj->u.object.count; i++) {
        const sdc_json_member *m = &obj->u.object.members[i];
        for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
            if (strcmp(config_keys[k].name, m->key) != 0)
                continue;
            if (!(config_keys[k].solvers & BIT(cfg->solver)))
                break; /* not an argument of this class: from_config drops it */
            key_reader r = {ctx, what, m->key, m->value};
            sdc_status st = apply_key(&r, (config_key)k, cfg);
            if (st != SDC_STATUS_OK)
                return st;
            break;
        }
    }
    return SDC_STATUS_OK;
}

static const char *const prediction_names[] = {
    [SDC_PREDICTION_TYPE_EPSILON] = "epsilon",
    [SDC_PREDICTION_TYPE_V_PREDICTION] = "v_prediction",
    [SDC_PREDICTION_TYPE_SAMPLE] = "sample",
    [SDC_PREDICTION_TYPE_FLOW] = "flow",
};
static_assert(sizeof prediction_names / sizeof prediction_names[0] == SDC_PREDICTION_TYPE_COUNT,
              "one name per prediction type");

const char *sdc_prediction_type_name(sdc_prediction_type type)
{
    if ((unsigned)type >= SDC_PREDICTION_TYPE_COUNT)
        return "?";
    return prediction_names[type];
}

static sdc_status check_prediction(sdc_context *ctx, const sdc_scheduler_config *cfg,
                                   const sdc_solver_ops *ops)
{
    sdc_prediction_type p = cfg->prediction_type;
    if ((unsigned)p >= SDC_PREDICTION_TYPE_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: prediction type %d is not a prediction type", ops->name,
                        (int)p);
    if (ops->predictions & (1u << p))
        return SDC_STATUS_OK;
    if (cfg->solver == SDC_SOLVER_FLOW_MATCH_EULER)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "scheduler flow-euler needs a flow-matching model (prediction type "
                        "flow), but this model predicts %s: choose a solver such as euler or "
                        "dpm++2m",
                        prediction_names[p]);
    if (p == SDC_PREDICTION_TYPE_FLOW)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "scheduler %s does not work on a flow-matching model (prediction type "
                        "flow): use flow-euler",
                        ops->name);
    char supported[128] = "";
    for (int t = 0; t < SDC_PREDICTION_TYPE_COUNT; t++) {
        if (!(ops->predictions & (1u << t)))
            continue;
        strncat(supported, supported[0] ? ", " : "", sizeof supported - strlen(supported) - 1);
        strncat(supported, prediction_names[t], sizeof supported - strlen(supported) - 1);
    }
    return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                    "scheduler %s does not support prediction type %s (it supports %s)", ops->name,
                    prediction_names[p], supported);
}

sdc_status sdc_scheduler_config_check(sdc_context *ctx, const sdc_scheduler_config *cfg,
                                      int n_steps)
{
    const sdc_solver_ops *ops = sdc_solver_ops_of(cfg->solver);
    if (!ops)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "scheduler: solver %d is not a solver",
                        (int)cfg->solver);
    int T = cfg->num_train_timesteps;
    if (T < 2 || T > 1000000)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: num_train_timesteps %d: expected 2 to 1000000", ops->name,
                        T);
    if (n_steps < 1)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: %d inference steps: expected at least 1", ops->name,
                        n_steps);
    if (n_steps > T)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: %d inference steps: more than the model's %d training "
                        "timesteps",
                        ops->name, n_steps, T);
    sdc_status st = check_prediction(ctx, cfg, ops);
    if (st != SDC_STATUS_OK)
        return st;
    if (cfg->solver != SDC_SOLVER_FLOW_MATCH_EULER) {
        if ((unsigned)cfg->beta_schedule >= SDC_BETA_SCHEDULE_COUNT ||
            (unsigned)cfg->timestep_spacing >= SDC_TIMESTEP_SPACING_COUNT)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler %s: beta schedule %d or timestep spacing %d is unknown",
                            ops->name, (int)cfg->beta_schedule, (int)cfg->timestep_spacing);
        if (cfg->beta_schedule != SDC_BETA_SCHEDULE_SQUAREDCOS_CAP_V2 &&
            !(cfg->beta_start > 0 && cfg->beta_start <= cfg->beta_end && cfg->beta_end < 1))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler %s: beta_start %g, beta_end %g: expected 0 < beta_start "
                            "<= beta_end < 1",
                            ops->name, cfg->beta_start, cfg->beta_end);
        if (cfg->steps_offset < 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler %s: steps_offset %d: expected >= 0", ops->name,
                            cfg->steps_offset);
    }
    if ((unsigned)cfg->sigma_schedule >= SDC_SIGMA_SCHEDULE_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "scheduler %s: sigma schedule %d",
                        ops->name, (int)cfg->sigma_schedule);
    if (cfg->sigma_schedule != SDC_SIGMA_SCHEDULE_DEFAULT && !ops->sigma_schedules)
        return sdc_fail(
            ctx, SDC_STATUS_UNSUPPORTED,
            "scheduler %s does not take %s sigmas (only euler, heun, lms, dpm++ and "
            "unipc do)",
            ops->name, cfg->sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS ? "Karras" : "exponential");
    if (cfg->clip_sample && !(cfg->clip_sample_range > 0))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "scheduler %s: clip_sample_range %g: expected > 0", ops->name,
                        cfg->clip_sample_range);
    switch (cfg->solver) {
    case SDC_SOLVER_PNDM:
        if (!cfg->skip_prk_steps)
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "scheduler pndm: skip_prk_steps is false: the Runge-Kutta warm-up "
                            "is not supported, only PLMS as Stable Diffusion ships it "
                            "(skip_prk_steps true; the name \"pndm\" sets it)");
        break;
    case SDC_SOLVER_DDIM:
        if (!(cfg->eta >= 0))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler ddim: eta %g: expected >= 0", cfg->eta);
        break;
    case SDC_SOLVER_DPM_SOLVER:
    case SDC_SOLVER_UNIPC:
        if (cfg->solver_order < 1 || cfg->solver_order > 3)
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "scheduler %s: solver_order %d: expected 1, 2 or 3", ops->name,
                            cfg->solver_order);
        if (cfg->solver == SDC_SOLVER_DPM_SOLVER &&
            cfg->algorithm_type == SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP && cfg->solver_order == 3)
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "scheduler dpm++: sde-dpmsolver++ has no third-order update "
                            "(diffusers fails on it too): use solver_order 2");
        if (cfg->solver == SDC_SOLVER_UNIPC && cfg->final_sigma_zero &&
            (cfg->solver_type == SDC_SOLVER_TYPE_BH1 || !cfg->predict_x0))
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "scheduler unipc: %s with final sigma 0 divides by an infinite step "
                            "at the end (diffusers 0.30 returns NaN): use final_sigmas_type "
                            "\"sigma_min\"",
                            cfg->predict_x0 ? "solver_type bh1" : "predict_x0 false");
        if ((unsigned)cfg->algorithm_type >= SDC_DPM_ALGORITHM_COUNT ||
            (unsigned)cfg->solver_type >= SDC_SOLVER_TYPE_COUNT)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler %s: algorithm %d or solver type %d is unknown", ops->name,
                            (int)cfg->algorithm_type, (int)cfg->solver_type);
        break;
    case SDC_SOLVER_LCM:
        if (cfg->original_inference_steps < 1 || cfg->original_inference_steps > T)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler lcm: original_inference_steps %d: expected 1 to %d",
                            cfg->original_inference_steps, T);
        if (n_steps > cfg->original_inference_steps)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler lcm: %d inference steps: more than the %d original "
                            "inference steps the model was distilled with",
                            n_steps, cfg->original_inference_steps);
        break;
    case SDC_SOLVER_FLOW_MATCH_EULER:
        if (!(cfg->shift > 0))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "scheduler flow-euler: shift %g: expected > 0", cfg->shift);
        break;
    default:
        break;
    }
    return SDC_STATUS_OK;
}
