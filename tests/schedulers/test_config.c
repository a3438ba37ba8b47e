/*
 * Tests scheduler configuration (src/schedulers/config.c, names.c): diffusers class defaults,
 * reading a scheduler_config.json the way Class.from_config does, the names users know and
 * their overrides, and the clear errors for unknown names, bad step counts, bad JSON values and
 * unsupported combinations.
 */
#include "schedulers/schedulers.h"
#include "test.h"

#include <math.h>

/* SD 1.5's scheduler_config.json. */
static const char sd15_config[] =
    "{\"_class_name\": \"PNDMScheduler\", \"_diffusers_version\": \"0.6.0\", "
    "\"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, "
    "\"clip_sample\": false, \"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, "
    "\"skip_prk_steps\": true, \"steps_offset\": 1, \"trained_betas\": null}";

/* SD3's. */
static const char sd3_config[] = "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", "
                                 "\"num_train_timesteps\": 1000, \"shift\": 3.0}";

typedef struct env {
    sdc_context *ctx;
    sdc_json_doc *doc;
} env;

static env make_env(const char *json)
{
    env e = {0};
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    CHECK(sdc_context_create(&p, &e.ctx) == SDC_STATUS_OK);
    if (e.ctx && json)
        CHECK(sdc_json_parse(e.ctx, json, strlen(json), "scheduler_config.json", &e.doc) ==
              SDC_STATUS_OK);
    return e;
}

static void free_env(env *e)
{
    sdc_json_free(e->doc);
    sdc_context_destroy(e->ctx);
}

static const sdc_json *root(const env *e)
{
    return e->doc ? e->doc->root : NULL;
}

static void test_defaults(void)
{
    sdc_scheduler_config c;
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_DDIM);
    CHECK(c.clip_sample && c.set_alpha_to_one);
    CHECK(c.timestep_spacing == SDC_TIMESTEP_SPACING_LEADING);
    CHECK(c.beta_schedule == SDC_BETA_SCHEDULE_LINEAR && c.beta_start == 0.0001);
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_HEUN);
    CHECK(c.beta_start == 0.00085 && c.beta_end == 0.012);
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_LCM);
    CHECK(c.beta_schedule == SDC_BETA_SCHEDULE_SCALED_LINEAR && c.original_inference_steps == 50);
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_UNIPC);
    CHECK(c.solver_type == SDC_SOLVER_TYPE_BH2 && c.predict_x0);
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_FLOW_MATCH_EULER);
    CHECK(c.prediction_type == SDC_PREDICTION_TYPE_FLOW && c.shift == 1.0);
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_EULER);
    CHECK(isnan(c.sigma_min) && c.final_sigma_zero);
}

/* Euler.from_config(SD 1.5 config): the model's keys, Euler's own defaults for the rest. */
static void test_from_model_config(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler_config c;
    CHECK(sdc_scheduler_config_build(e.ctx, "euler", root(&e), "sd15", &c) == SDC_STATUS_OK);
    CHECK(c.solver == SDC_SOLVER_EULER);
    CHECK(c.beta_schedule == SDC_BETA_SCHEDULE_SCALED_LINEAR && c.beta_start == 0.00085);
    CHECK(c.steps_offset == 1);
    CHECK(c.timestep_spacing == SDC_TIMESTEP_SPACING_LINSPACE);
    /* No name: the model's own class. */
    CHECK(sdc_scheduler_config_build(e.ctx, NULL, root(&e), "sd15", &c) == SDC_STATUS_OK);
    CHECK(c.solver == SDC_SOLVER_PNDM && c.skip_prk_steps && !c.set_alpha_to_one);
    CHECK(c.timestep_spacing == SDC_TIMESTEP_SPACING_LEADING);
    /* DDIM keeps clip_sample false from the model (its own default is true). */
    CHECK(sdc_scheduler_config_build(e.ctx, "ddim", root(&e), "sd15", &c) == SDC_STATUS_OK);
    CHECK(!c.clip_sample);
    CHECK(sdc_scheduler_config_check(e.ctx, &c, 50) == SDC_STATUS_OK);
    /* Without any model config: the class defaults. */
    CHECK(sdc_scheduler_config_build(e.ctx, "ddim", NULL, NULL, &c) == SDC_STATUS_OK);
    CHECK(c.clip_sample && c.beta_schedule == SDC_BETA_SCHEDULE_LINEAR);
    free_env(&e);
}

static void test_names_and_overrides(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler_config c;
    CHECK(sdc_scheduler_config_build(e.ctx, "dpm++2m-karras", root(&e), "sd15", &c) ==
          SDC_STATUS_OK);
    CHECK(c.solver == SDC_SOLVER_DPM_SOLVER && c.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS);
    CHECK(c.algorithm_type == SDC_DPM_ALGORITHM_DPMSOLVER_PP && c.solver_order == 2);
    /* A1111 and ComfyUI spellings, and diffusers class names, reach the same solver. */
    const struct {
        const char *name;
        sdc_solver solver;
        int karras, sde;
    } spellings[] = {
        {"DPM++ 2M Karras", SDC_SOLVER_DPM_SOLVER, 1, 0},
        {"dpmpp_2m_sde_karras", SDC_SOLVER_DPM_SOLVER, 1, 1},
        {"dpm++2m-sde", SDC_SOLVER_DPM_SOLVER, 0, 1},
        {"Euler a", SDC_SOLVER_EULER_ANCESTRAL, 0, 0},
        {"euler_ancestral", SDC_SOLVER_EULER_ANCESTRAL, 0, 0},
        {"k_euler", SDC_SOLVER_EULER, 0, 0},
        {"uni_pc", SDC_SOLVER_UNIPC, 0, 0},
        {"PLMS", SDC_SOLVER_PNDM, 0, 0},
        {"LMSDiscreteScheduler", SDC_SOLVER_LMS, 0, 0},
        {"heun", SDC_SOLVER_HEUN, 0, 0},
        {"LCM", SDC_SOLVER_LCM, 0, 0},
    };
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        CHECK_MSG(sdc_scheduler_config_build(e.ctx, spellings[i].name, root(&e), "sd15", &c) ==
                      SDC_STATUS_OK,
                  "%s: %s", spellings[i].name, sdc_context_errmsg(e.ctx));
        CHECK_MSG(c.solver == spellings[i].solver, "%s", spellings[i].name);
        if (c.solver == SDC_SOLVER_DPM_SOLVER) {
            CHECK((c.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS) == (spellings[i].karras != 0));
            CHECK((c.algorithm_type == SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP) ==
                  (spellings[i].sde != 0));
        }
    }
    /* Every listed name resolves to its own solver and passes the check on SD 1.5 (except
     * the flow solver, which needs a flow model). */
    size_t count = 0;
    const sdc_scheduler_name *names = sdc_scheduler_names(&count);
    CHECK(count >= 13);
    for (size_t i = 0; i < count; i++) {
        CHECK(names[i].name && names[i].diffusers && names[i].description);
        CHECK(strlen(names[i].description) < 80);
        sdc_status st = sdc_scheduler_config_build(e.ctx, names[i].name, root(&e), "sd15", &c);
        CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", names[i].name, sdc_context_errmsg(e.ctx));
        CHECK(strncmp(names[i].diffusers, sdc_solver_diffusers_class(c.solver),
                      strlen(sdc_solver_diffusers_class(c.solver))) == 0);
        st = sdc_scheduler_config_check(e.ctx, &c, 20);
        if (c.solver == SDC_SOLVER_FLOW_MATCH_EULER)
            CHECK(st == SDC_STATUS_UNSUPPORTED);
        else
            CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", names[i].name, sdc_context_errmsg(e.ctx));
    }
    CHECK_EQ_STR(sdc_solver_name(SDC_SOLVER_EULER_ANCESTRAL), "euler_a");
    CHECK_EQ_STR(sdc_solver_diffusers_class(SDC_SOLVER_COUNT), "?");
    CHECK_EQ_STR(sdc_prediction_type_name(SDC_PREDICTION_TYPE_V_PREDICTION), "v_prediction");
    free_env(&e);
}

/* A key reaches only the classes whose __init__ takes it: use_karras_sigmas from a DPM config
 * turns Karras on for Euler but is dropped for DDIM, as from_config does. */
static void test_key_applicability(void)
{
    env e = make_env("{\"_class_name\": \"DPMSolverMultistepScheduler\", \"use_karras_sigmas\": "
                     "true, \"algorithm_type\": \"sde-dpmsolver++\", \"solver_order\": 3, "
                     "\"lambda_min_clipped\": \"-inf\", \"solver_type\": \"bh2\"}");
    sdc_scheduler_config c;
    CHECK(sdc_scheduler_config_build(e.ctx, "euler", root(&e), "dpm", &c) == SDC_STATUS_OK);
    CHECK(c.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS);
    CHECK(sdc_scheduler_config_build(e.ctx, "ddim", root(&e), "dpm", &c) == SDC_STATUS_OK);
    CHECK(c.sigma_schedule == SDC_SIGMA_SCHEDULE_DEFAULT);
    /* The model's own class keeps its keys; bh2 maps to midpoint for DPM as in diffusers. */
    CHECK(sdc_scheduler_config_build(e.ctx, NULL, root(&e), "dpm", &c) == SDC_STATUS_OK);
    CHECK(c.algorithm_type == SDC_DPM_ALGORITHM_SDE_DPMSOLVER_PP && c.solver_order == 3);
    CHECK(c.solver_type == SDC_SOLVER_TYPE_MIDPOINT && isinf(c.lambda_min_clipped));
    /* ... and sde with order 3 is refused: diffusers has no such update either. */
    CHECK(sdc_scheduler_config_check(e.ctx, &c, 20) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "third-order");
    /* The name's overrides win over the model's keys. */
    CHECK(sdc_scheduler_config_build(e.ctx, "dpm++2m", root(&e), "dpm", &c) == SDC_STATUS_OK);
    CHECK(c.algorithm_type == SDC_DPM_ALGORITHM_DPMSOLVER_PP && c.solver_order == 2);
    CHECK(c.sigma_schedule == SDC_SIGMA_SCHEDULE_DEFAULT);
    free_env(&e);
}

static void test_unknown_names(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler_config c;
    CHECK(sdc_scheduler_config_build(e.ctx, "dpm_fast", root(&e), "sd15", &c) ==
          SDC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "\"dpm_fast\"");
    CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "euler_a");
    CHECK(sdc_scheduler_config_build(e.ctx, "", root(&e), "sd15", &c) == SDC_STATUS_NOT_FOUND);
    env k = make_env("{\"_class_name\": \"KDPM2DiscreteScheduler\"}");
    CHECK(sdc_scheduler_config_build(k.ctx, NULL, root(&k), "kdpm2.json", &c) ==
          SDC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(sdc_context_errmsg(k.ctx), "KDPM2DiscreteScheduler");
    CHECK_CONTAINS(sdc_context_errmsg(k.ctx), "default");
    CHECK(sdc_scheduler_config_build(k.ctx, NULL, NULL, NULL, &c) == SDC_STATUS_INVALID_ARGUMENT);
    free_env(&k);
    free_env(&e);
}

static void test_step_counts(void)
{
    sdc_scheduler_config c;
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    for (int s = 0; s < SDC_SOLVER_COUNT; s++) {
        sdc_scheduler_config_defaults(&c, (sdc_solver)s);
        c.skip_prk_steps = true;
        CHECK(sdc_scheduler_config_check(ctx, &c, 0) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "0 inference steps");
        CHECK(sdc_scheduler_config_check(ctx, &c, -3) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sdc_scheduler_config_check(ctx, &c, 1001) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "1000 training timesteps");
        CHECK(sdc_scheduler_config_check(ctx, &c, 20) == SDC_STATUS_OK);
        sdc_scheduler *sched = (sdc_scheduler *)&c;
        CHECK(sdc_scheduler_create(ctx, &c, 0, 16, &sched) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sched == NULL);
        CHECK(sdc_scheduler_create(ctx, &c, 10, 0, &sched) == SDC_STATUS_INVALID_ARGUMENT);
    }
    sdc_scheduler_config_defaults(&c, SDC_SOLVER_LCM);
    CHECK(sdc_scheduler_config_check(ctx, &c, 51) == SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "original inference steps");
    sdc_context_destroy(ctx);
}

static void test_unsupported_combinations(void)
{
    env sd15 = make_env(sd15_config), sd3 = make_env(sd3_config);
    sdc_scheduler_config c;
    /* A flow solver on an epsilon model. */
    CHECK(sdc_scheduler_config_build(sd15.ctx, "flow-euler", root(&sd15), "sd15", &c) ==
          SDC_STATUS_OK);
    CHECK(sdc_scheduler_config_check(sd15.ctx, &c, 28) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(sd15.ctx), "flow-matching model");
    CHECK_CONTAINS(sdc_context_errmsg(sd15.ctx), "epsilon");
    /* An epsilon solver on a flow model. */
    CHECK(sdc_scheduler_config_build(sd3.ctx, "euler", root(&sd3), "sd3", &c) == SDC_STATUS_OK);
    CHECK(sdc_scheduler_config_check(sd3.ctx, &c, 28) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(sd3.ctx), "flow-euler");
    /* The flow model with its own solver is fine. */
    CHECK(sdc_scheduler_config_build(sd3.ctx, NULL, root(&sd3), "sd3", &c) == SDC_STATUS_OK);
    CHECK(c.solver == SDC_SOLVER_FLOW_MATCH_EULER && c.shift == 3.0);
    CHECK(sdc_scheduler_config_check(sd3.ctx, &c, 28) == SDC_STATUS_OK);
    /* v-prediction on the flow solver. */
    c.prediction_type = SDC_PREDICTION_TYPE_V_PREDICTION;
    CHECK(sdc_scheduler_config_check(sd3.ctx, &c, 28) == SDC_STATUS_UNSUPPORTED);
    /* Karras on PNDM. */
    CHECK(sdc_scheduler_config_build(sd15.ctx, "pndm", root(&sd15), "sd15", &c) == SDC_STATUS_OK);
    c.sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
    CHECK(sdc_scheduler_config_check(sd15.ctx, &c, 20) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(sd15.ctx), "Karras");
    /* Sample prediction on PNDM and Euler ancestral (diffusers raises too). */
    CHECK(sdc_scheduler_config_build(sd15.ctx, "euler_a", root(&sd15), "sd15", &c) ==
          SDC_STATUS_OK);
    c.prediction_type = SDC_PREDICTION_TYPE_SAMPLE;
    CHECK(sdc_scheduler_config_check(sd15.ctx, &c, 20) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(sd15.ctx), "epsilon, v_prediction");
    /* PNDM with the Runge-Kutta warm-up. */
    CHECK(sdc_scheduler_config_build(sd15.ctx, "PNDMScheduler", NULL, NULL, &c) == SDC_STATUS_OK);
    CHECK(!c.skip_prk_steps);
    CHECK(sdc_scheduler_config_check(sd15.ctx, &c, 20) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(sd15.ctx), "skip_prk_steps");
    free_env(&sd15);
    free_env(&sd3);
}

/* Keys sdc refuses or cannot read say which key, in which file, and why. */
static void test_bad_json_values(void)
{
    const struct {
        const char *json;
        sdc_status status;
        const char *message;
    } cases[] = {
        {"{\"trained_betas\": [0.1, 0.2]}", SDC_STATUS_UNSUPPORTED, "trained_betas"},
        {"{\"thresholding\": true}", SDC_STATUS_UNSUPPORTED, "thresholding"},
        {"{\"rescale_betas_zero_snr\": true}", SDC_STATUS_UNSUPPORTED, "zero-terminal-SNR"},
        {"{\"beta_schedule\": \"exp\"}", SDC_STATUS_UNSUPPORTED, "\"exp\" is not one of linear"},
        {"{\"prediction_type\": \"eps\"}", SDC_STATUS_UNSUPPORTED, "prediction_type"},
        {"{\"beta_start\": \"0.1\"}", SDC_STATUS_FORMAT, "expected a number, got string"},
        {"{\"num_train_timesteps\": 1.5}", SDC_STATUS_FORMAT, "expected an integer"},
        {"{\"steps_offset\": -1}", SDC_STATUS_FORMAT, "outside"},
        {"{\"clip_sample\": 1}", SDC_STATUS_FORMAT, "expected true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env e = make_env(cases[i].json);
        sdc_scheduler_config c;
        sdc_status st = sdc_scheduler_config_build(e.ctx, "ddim", root(&e), "model/x.json", &c);
        CHECK_MSG(st == cases[i].status, "%s: status %d", cases[i].json, (int)st);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), cases[i].message);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "model/x.json");
        free_env(&e);
    }
    /* Keys of other classes are ignored without looking at them (from_config drops them). */
    env e = make_env("{\"use_karras_sigmas\": \"yes\", \"shift\": \"big\", \"unknown\": {}}");
    sdc_scheduler_config c;
    CHECK(sdc_scheduler_config_build(e.ctx, "ddim", root(&e), "x.json", &c) == SDC_STATUS_OK);
    CHECK(sdc_scheduler_config_build(e.ctx, "euler", root(&e), "x.json", &c) == SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "use_karras_sigmas");
    free_env(&e);
    env arr = make_env("[1, 2]");
    CHECK(sdc_scheduler_config_build(arr.ctx, "ddim", root(&arr), "x.json", &c) ==
          SDC_STATUS_FORMAT);
    free_env(&arr);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_from_model_config);
    RUN(test_names_and_overrides);
    RUN(test_key_applicability);
    RUN(test_unknown_names);
    RUN(test_step_counts);
    RUN(test_unsupported_combinations);
    RUN(test_bad_json_values);
    return test_finish();
}
