/*
 * names.c — the sampler names users know (AUTOMATIC1111 / ComfyUI spellings and diffusers
 * class names) and what each stands for in diffusers 0.30.2: a class plus the overrides a
 * pipeline author passes to Class.from_config(pipe.scheduler.config, ...), e.g.
 * "dpm++2m-karras" = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
 * use_karras_sigmas=True). Lookup ignores case, spaces, '_' and '-', and reads '+' as 'p'.
 */
#include "schedulers/solver.h"

#include <ctype.h>
#include <string.h>

/* What a name changes after the model's configuration is applied. */
typedef struct name_overrides {
    sdc_solver solver;
    bool set_sigma_schedule;
    sdc_sigma_schedule sigma_schedule;
    bool set_algorithm;
    sdc_dpm_algorithm algorithm_type;
    int solver_order;    /* 0: leave */
    bool skip_prk_steps; /* PLMS as SD ships it */
    const char *aliases[6];
} name_overrides;

#define PLAIN(solver_, ...)                                                                        \
    {                                                                                              \
        .solver = (solver_), .aliases = { __VA_ARGS__ }                                            \
    }
#define DPM(sigmas, algorithm, ...)                                                                \
    {                                                                                              \
        .solver = SDC_SOLVER_DPM_SOLVER, .set_sigma_schedule = true, .sigma_schedule = (sigmas),   \
        .set_algorithm = true, .algorithm_type = (algorithm), .solver_order = 2, .aliases = {      \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const sdc_scheduler_name public_names[] = {
    {"euler_a", "EulerAncestralDiscreteScheduler",
     "Euler ancestral: Euler steps plus fresh noise each step (A1111's default)"},
    {"euler", "EulerDiscreteScheduler", "Euler: first-order steps over the sigma schedule"},
    {"heun", "HeunDiscreteScheduler",
     "Heun: second-order steps, two model calls per step (2n - 1 calls)"},
    {"lms", "LMSDiscreteScheduler", "LMS: linear multistep over the last four derivatives"},
    {"dpm++2m", "DPMSolverMultistepScheduler(algorithm_type=\"dpmsolver++\", solver_order=2)",
     "DPM-Solver++(2M): second-order multistep, good in 20-30 steps"},
    {"dpm++2m-karras",
     "DPMSolverMultistepScheduler(algorithm_type=\"dpmsolver++\", solver_order=2, "
     "use_karras_sigmas=True)",
     "DPM-Solver++(2M) over Karras sigmas"},
    {"dpm++2m-sde",
     "DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\", solver_order=2)",
     "SDE-DPM-Solver++(2M): stochastic, adds noise each step"},
    {"dpm++2m-sde-karras",
     "DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\", solver_order=2, "
     "use_karras_sigmas=True)",
     "SDE-DPM-Solver++(2M) over Karras sigmas"},
    {"unipc", "UniPCMultistepScheduler", "UniPC: predictor-corrector multistep, good in few steps"},
    {"ddim", "DDIMScheduler", "DDIM: deterministic implicit sampler (eta 0)"},
    {"pndm", "PNDMScheduler(skip_prk_steps=True)",
     "PLMS: Stable Diffusion 1.x's default (n + 1 model calls)"},
    {"lcm", "LCMScheduler", "LCM: for latent consistency models and LCM-LoRA (2-8 steps)"},
    {"flow-euler", "FlowMatchEulerDiscreteScheduler",
     "flow-matching Euler: SD3's sampler (flow-matching models only)"},
};

static const name_overrides overrides[] = {
    PLAIN(SDC_SOLVER_EULER_ANCESTRAL, "euler ancestral", "euler_ancestral", "k_euler_a",
          "k_euler_ancestral"),
    PLAIN(SDC_SOLVER_EULER, "k_euler"),
    PLAIN(SDC_SOLVER_HEUN, "k_heun"),
    PLAIN(SDC_SOLVER_LMS, "k_lms"),
    DPM(SDC_SIGMA_SCHEDULE_DEFAULT, SDC_DPM_ALGORITHM_DPMSOLVER_PP, "k_dpmpp_2m"),
    DPM(SDC_SIGMA_SCHEDULE_KARRAS, SDC_DPM_ALGORITHM_DPMSOLVER_PP, "k_dpmpp_2m_karras"),
    DPM(SDC_SIGMA_SCHEDULE_DEFAULT, SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP, "k_dpmpp_2m_sde"),
    DPM(SDC_SIGMA_SCHEDULE_KARRAS, SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP, "k_dpmpp_2m_sde_karras"),
    PLAIN(SDC_SOLVER_UNIPC, "uni_pc", "unipc_bh2"),
    PLAIN(SDC_SOLVER_DDIM, NULL),
    {.solver = SDC_SOLVER_PNDM, .skip_prk_steps = true, .aliases = {"plms"}},
    PLAIN(SDC_SOLVER_LCM, NULL),
    PLAIN(SDC_SOLVER_FLOW_MATCH_EULER, "flow_match_euler", "euler_flow"),
};
static_assert(sizeof public_names / sizeof public_names[0] ==
                  sizeof overrides / sizeof overrides[0],
              "one override entry per name");

const sdc_scheduler_name *sdc_scheduler_names(size_t *count)
{
    *count = sizeof public_names / sizeof public_names[0];
    return public_names;
}

/* Lower case without ' ', '_', '-', with '+' read as 'p': "DPM++ 2M Karras" -> "dpmpp2mkarras". */
static void normalize(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == ' ' || c == '_' || c == '-')
            continue;
        out[n++] = c == '+' ? 'p' : (char)tolower(c);
    }
    out[n] = '\0';
}

static bool same_name(const char *a, const char *b)
{
    char na[96], nb[96];
    normalize(a, na, sizeof na);
    normalize(b, nb, sizeof nb);
    return strcmp(na, nb) == 0;
}

/* A name users know: its index in the table, or -1. */
static int find_name(const char *name)
{
    size_t count = sizeof public_names / sizeof public_names[0];
    for (size_t i = 0; i < count; i++) {
        if (same_name(name, public_names[i].name))
            return (int)i;
        for (int a = 0; a < 6 && overrides[i].aliases[a]; a++)
            if (same_name(name, overrides[i].aliases[a]))
                return (int)i;
    }
    return -1;
}

/* A diffusers class name: the solver, or false. */
static bool find_class(const char *name, sdc_solver *out)
{
    for (int s = 0; s < SDC_SOLVER_COUNT; s++) {
        if (same_name(name, sdc_solver_diffusers_class((sdc_solver)s))) {
            *out = (sdc_solver)s;
            return true;
        }
    }
    return false;
}

static sdc_status unknown_name(sdc_context *ctx, const char *name, const char *where)
{
    char known[512] = "";
    size_t count = sizeof public_names / sizeof public_names[0];
    for (size_t i = 0; i < count; i++) {
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, public_names[i].name, sizeof known - strlen(known) - 1);
    }
    return sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "scheduler \"%s\"%s is not known; choose one of %s",
                    name, where, known);
}

sdc_status sdc_scheduler_config_build(sdc_context *ctx, const char *name,
                                      const sdc_json *model_config, const char *what,
                                      sdc_scheduler_config *out)
{
    const char *source = what ? what : "scheduler config";
    if (model_config && model_config->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object, got %s", source,
                        sdc_json_type_name(model_config->type));
    const sdc_json *class_name =
        model_config ? sdc_json_get_type(model_config, "_class_name", SDC_JSON_TYPE_STRING) : NULL;
    /* A flow-matching model: its class says so, or (a config without "_class_name") it has a
     * flow shift and none of the DDPM keys. */
    bool flow_model =
        class_name ? strncmp(class_name->u.string.chars, "FlowMatch", strlen("FlowMatch")) == 0
                   : model_config && sdc_json_get(model_config, "shift") &&
                         !sdc_json_get(model_config, "beta_schedule") &&
                         !sdc_json_get(model_config, "prediction_type");

    int index = -1;
    sdc_solver solver;
    if (name) {
        index = find_name(name);
        if (index >= 0)
            solver = overrides[index].solver;
        else if (!find_class(name, &solver))
            return unknown_name(ctx, name, "");
    } else {
        if (!class_name)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: no scheduler name was given and the model's configuration "
                            "names no \"_class_name\" to default to",
                            source);
        if (!find_class(class_name->u.string.chars, &solver))
            return unknown_name(ctx, class_name->u.string.chars,
                                " (the model's default scheduler)");
    }

    sdc_scheduler_config_defaults(out, solver);
    if (model_config) {
        sdc_status st = sdc_sched_config_apply_json(ctx, model_config, source, out);
        if (st != SDC_STATUS_OK)
            return st;
    }
    if (index >= 0) {
        const name_overrides *o = &overrides[index];
        if (o->set_sigma_schedule)
            out->sigma_schedule = o->sigma_schedule;
        if (o->set_algorithm)
            out->algorithm_type = o->algorithm_type;
        if (o->solver_order > 0)
            out->solver_order = o->solver_order;
        if (o->skip_prk_steps)
            out->skip_prk_steps = true;
    }
    /* The model's configuration says what the model predicts, whatever solver is asked for:
     * a flow-matching class means flow, any other class its prediction_type (epsilon when
     * absent). The check then refuses a solver that cannot read it. */
    if (flow_model) {
        out->prediction_type = SDC_PREDICTION_TYPE_FLOW;
    } else if (model_config && solver == SDC_SOLVER_FLOW_MATCH_EULER) {
        const sdc_json *p =
            sdc_json_get_type(model_config, "prediction_type", SDC_JSON_TYPE_STRING);
        out->prediction_type = SDC_PREDICTION_TYPE_EPSILON;
        for (int t = 0; p && t < SDC_PREDICTION_TYPE_COUNT; t++)
            if (strcmp(p->u.string.chars, sdc_prediction_type_name((sdc_prediction_type)t)) == 0)
                out->prediction_type = (sdc_prediction_type)t;
    }
    return SDC_STATUS_OK;
}
