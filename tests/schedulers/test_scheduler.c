/*
 * Tests the sdc_scheduler handle (src/schedulers/scheduler.c): call order, scale_model_input,
 * the img2img start and add_noise against diffusers 0.30.2, the noise a stochastic solver needs,
 * the denoised estimate, and that every allocation failure gives a clean error without leaks.
 */
#include "schedulers/schedulers.h"
#include "test.h"

#include <math.h>

static const char sd15_config[] =
    "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
    "\"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, "
    "\"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, \"skip_prk_steps\": true, "
    "\"steps_offset\": 1, \"trained_betas\": null}";
static const char sd3_config[] = "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", "
                                 "\"num_train_timesteps\": 1000, \"shift\": 3.0}";

enum { NUMEL = 16 };

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
    CHECK(sdc_json_parse(e.ctx, json, strlen(json), "config", &e.doc) == SDC_STATUS_OK);
    return e;
}

static void free_env(env *e)
{
    sdc_json_free(e->doc);
    sdc_context_destroy(e->ctx);
}

static sdc_scheduler *make(env *e, const char *name, int steps)
{
    sdc_scheduler_config cfg;
    sdc_scheduler *s = NULL;
    CHECK_MSG(sdc_scheduler_config_build(e->ctx, name, e->doc->root, "config", &cfg) ==
                  SDC_STATUS_OK,
              "%s: %s", name, sdc_context_errmsg(e->ctx));
    CHECK_MSG(sdc_scheduler_create(e->ctx, &cfg, steps, NUMEL, &s) == SDC_STATUS_OK, "%s: %s", name,
              sdc_context_errmsg(e->ctx));
    return s;
}

/* torch.linspace(a, b, 16) in float32 (the formula of torch's CPU kernel). */
static void linspace16(float a, float b, float *out)
{
    float step = (b - a) / 15.0f;
    for (int i = 0; i < NUMEL; i++)
        out[i] = i < 8 ? fmaf(step, (float)i, a) : fmaf(-step, (float)(15 - i), b);
}

/* Expected values from diffusers 0.30.2 (torch 2.4.1), per scheduler class:
 *   s = Cls.from_config(PNDMScheduler.from_config(SD15).config) (SD3 config for FlowMatch);
 *   s.set_timesteps(10); init = min(int(10 * 0.6), 10); t_start = 10 - init;
 *   ts = s.timesteps[t_start * s.order:]; s.set_begin_index(t_start * s.order)
 *   y = s.add_noise(torch.linspace(-1, 1, 16), torch.linspace(0.5, -0.5, 16), ts[:1])
 *       (FlowMatch: s.scale_noise(x, ts[:1], noise))
 * giving the first call, the number of calls, the timestep and y[0..2]. */
static void test_img2img_start_and_add_noise(void)
{
    const struct {
        const char *name;
        bool flow;
        size_t first, n_calls;
        double t;
        float y[3];
    } cases[] = {
        {"pndm", false, 4, 11, 601.0, {0.05853733420f, 0.05073234439f, 0.04292738438f}},
        {"ddim", false, 4, 10, 501.0, {-0.09866833687f, -0.08551254869f, -0.07235679030f}},
        {"dpm++2m", false, 4, 10, 599.0, {0.05559477210f, 0.04818212986f, 0.04076948762f}},
        {"euler", false, 4, 10, 555.0, {-0.02491879463f, -0.02159631252f, -0.01827377081f}},
        {"euler_a", false, 4, 10, 555.0, {-0.02491879463f, -0.02159631252f, -0.01827377081f}},
        {"heun", false, 8, 19, 555.0, {-0.02491879463f, -0.02159631252f, -0.01827377081f}},
        {"lms", false, 4, 10, 555.0, {-0.02491879463f, -0.02159631252f, -0.01827377081f}},
        {"unipc", false, 4, 10, 599.0, {0.05559477210f, 0.04818212986f, 0.04076948762f}},
        {"flow-euler",
         true,
         4,
         10,
         790.3682861328125,
         {0.1855523884f, 0.1608120650f, 0.1360717416f}},
    };
    float x[NUMEL], noise[NUMEL], y[NUMEL];
    linspace16(-1.0f, 1.0f, x);
    linspace16(0.5f, -0.5f, noise);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env e = make_env(cases[i].flow ? sd3_config : sd15_config);
        sdc_scheduler *s = make(&e, cases[i].name, 10);
        if (s) {
            CHECK_EQ_INT(sdc_scheduler_n_calls(s), cases[i].n_calls);
            CHECK(sdc_scheduler_set_strength(s, 0.6) == SDC_STATUS_OK);
            size_t first = sdc_scheduler_first_call(s);
            CHECK_MSG(first == cases[i].first, "%s: first call %zu", cases[i].name, first);
            CHECK_MSG((float)sdc_scheduler_timestep(s, first) == (float)cases[i].t,
                      "%s: timestep %g", cases[i].name, sdc_scheduler_timestep(s, first));
            CHECK(sdc_scheduler_add_noise(s, first, x, noise, y) == SDC_STATUS_OK);
            for (int k = 0; k < 3; k++)
                CHECK_MSG(fabsf(y[k] - cases[i].y[k]) <= 1e-6f * fmaxf(1.0f, fabsf(y[k])),
                          "%s: y[%d] %.9g vs %.9g", cases[i].name, k, (double)y[k],
                          (double)cases[i].y[k]);
            /* Steps must start at the first call. */
            float m[NUMEL] = {0};
            CHECK(sdc_scheduler_step(s, 0, m, y, NULL) == SDC_STATUS_INVALID_ARGUMENT);
            CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "in order");
        }
        sdc_scheduler_destroy(s);
        free_env(&e);
    }
}

/* LCM's img2img re-spaces: LCMScheduler.set_timesteps(4, strength=0.5) gives [499, 379, 259,
 * 139]; set_timesteps(4) gives [999, 759, 499, 259]. */
static void test_lcm_strength(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler *s = make(&e, "lcm", 4);
    if (s) {
        const double full[4] = {999, 759, 499, 259}, half[4] = {499, 379, 259, 139};
        for (size_t i = 0; i < 4; i++)
            CHECK(sdc_scheduler_timestep(s, i) == full[i]);
        CHECK(sdc_scheduler_set_strength(s, 0.5) == SDC_STATUS_OK);
        CHECK_EQ_INT(sdc_scheduler_first_call(s), 0);
        for (size_t i = 0; i < 4; i++)
            CHECK(sdc_scheduler_timestep(s, i) == half[i]);
        CHECK(sdc_scheduler_set_strength(s, 0.05) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "original inference steps");
    }
    sdc_scheduler_destroy(s);
    free_env(&e);
}

static void test_strength_errors(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler *s = make(&e, "euler", 10);
    if (s) {
        CHECK(sdc_scheduler_set_strength(s, 0.0) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sdc_scheduler_set_strength(s, 1.5) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sdc_scheduler_set_strength(s, NAN) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sdc_scheduler_set_strength(s, 0.05) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "no denoising step");
        CHECK(sdc_scheduler_set_strength(s, 1.0) == SDC_STATUS_OK);
        CHECK_EQ_INT(sdc_scheduler_first_call(s), 0);
        float sample[NUMEL] = {0}, m[NUMEL] = {0};
        CHECK(sdc_scheduler_step(s, 0, m, sample, NULL) == SDC_STATUS_OK);
        CHECK(sdc_scheduler_set_strength(s, 0.5) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "after the first step");
    }
    sdc_scheduler_destroy(s);
    free_env(&e);
}

static void test_call_order_and_scaling(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler *s = make(&e, "euler", 5);
    if (s) {
        float sample[NUMEL], scaled[NUMEL], m[NUMEL] = {0};
        for (int i = 0; i < NUMEL; i++)
            sample[i] = (float)i - 8.0f;
        CHECK(sdc_scheduler_denoised(s) == NULL);
        size_t n_sig = 0;
        const float *sig = sdc_scheduler_sigmas(s, &n_sig);
        CHECK(sig && n_sig == 6 && sig[5] == 0.0f);
        CHECK(sdc_scheduler_init_noise_sigma(s) == sig[0]);
        CHECK(sdc_scheduler_scale_model_input(s, 0, sample, scaled) == SDC_STATUS_OK);
        float scale = sqrtf(sig[0] * sig[0] + 1.0f);
        for (int i = 0; i < NUMEL; i++)
            CHECK(scaled[i] == sample[i] / scale);
        CHECK(sdc_scheduler_scale_model_input(s, 5, sample, scaled) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "out of range");
        CHECK(sdc_scheduler_step(s, 1, m, sample, NULL) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(sdc_scheduler_step(s, 0, NULL, sample, NULL) == SDC_STATUS_INVALID_ARGUMENT);
        for (size_t call = 0; call < 5; call++)
            CHECK(sdc_scheduler_step(s, call, m, sample, NULL) == SDC_STATUS_OK);
        CHECK(sdc_scheduler_denoised(s) != NULL);
        CHECK(sdc_scheduler_step(s, 5, m, sample, NULL) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK(isnan(sdc_scheduler_timestep(s, 5)));
        CHECK(sdc_scheduler_get_config(s)->solver == SDC_SOLVER_EULER);
        CHECK(sdc_scheduler_alphas_cumprod(s) != NULL);
    }
    sdc_scheduler_destroy(s);
    sdc_scheduler_destroy(NULL);

    /* Solvers without sigmas copy the input through. */
    s = make(&e, "ddim", 5);
    if (s) {
        float in[NUMEL] = {1, 2, 3}, out[NUMEL];
        size_t n_sig = 7;
        CHECK(sdc_scheduler_sigmas(s, &n_sig) == NULL && n_sig == 0);
        CHECK(sdc_scheduler_scale_model_input(s, 0, in, out) == SDC_STATUS_OK);
        CHECK(memcmp(in, out, sizeof in) == 0);
        CHECK(sdc_scheduler_init_noise_sigma(s) == 1.0f);
    }
    sdc_scheduler_destroy(s);
    free_env(&e);
}

/* Stochastic solvers need a random source; the failure leaves the sample untouched. */
static void test_noise_needs_rng(void)
{
    const char *stochastic[] = {"euler_a", "dpm++2m-sde", "lcm"};
    for (size_t i = 0; i < sizeof stochastic / sizeof stochastic[0]; i++) {
        env e = make_env(sd15_config);
        sdc_scheduler *s = make(&e, stochastic[i], 4);
        if (s) {
            float sample[NUMEL], before[NUMEL], m[NUMEL] = {0};
            for (int k = 0; k < NUMEL; k++)
                sample[k] = before[k] = (float)k;
            CHECK(sdc_scheduler_step(s, 0, m, sample, NULL) == SDC_STATUS_INVALID_ARGUMENT);
            CHECK_CONTAINS(sdc_context_errmsg(e.ctx), "random source");
            CHECK(memcmp(sample, before, sizeof sample) == 0);
            sdc_rng *rng = NULL;
            CHECK(sdc_rng_create(e.ctx, SDC_RNG_KIND_PHILOX, 3, &rng) == SDC_STATUS_OK);
            CHECK(sdc_scheduler_step(s, 0, m, sample, rng) == SDC_STATUS_OK);
            sdc_rng_destroy(rng);
        }
        sdc_scheduler_destroy(s);
        free_env(&e);
    }
}

/* DDIM with eta 1 draws noise; with the same seed two runs agree, and differ from eta 0. */
static void test_ddim_eta(void)
{
    env e = make_env(sd15_config);
    sdc_scheduler_config cfg;
    CHECK(sdc_scheduler_config_build(e.ctx, "ddim", e.doc->root, "config", &cfg) == SDC_STATUS_OK);
    float runs[3][NUMEL];
    for (int r = 0; r < 3; r++) {
        cfg.eta = r < 2 ? 1.0 : 0.0;
        sdc_scheduler *s = NULL;
        sdc_rng *rng = NULL;
        CHECK(sdc_scheduler_create(e.ctx, &cfg, 3, NUMEL, &s) == SDC_STATUS_OK);
        CHECK(sdc_rng_create(e.ctx, SDC_RNG_KIND_TORCH, 7, &rng) == SDC_STATUS_OK);
        for (int k = 0; k < NUMEL; k++)
            runs[r][k] = (float)k / 8.0f;
        float m[NUMEL] = {0.5f};
        for (size_t call = 0; s && call < 3; call++)
            CHECK(sdc_scheduler_step(s, call, m, runs[r], rng) == SDC_STATUS_OK);
        sdc_rng_destroy(rng);
        sdc_scheduler_destroy(s);
    }
    CHECK(memcmp(runs[0], runs[1], sizeof runs[0]) == 0);
    CHECK(memcmp(runs[0], runs[2], sizeof runs[0]) != 0);
    cfg.eta = -1;
    CHECK(sdc_scheduler_config_check(e.ctx, &cfg, 3) == SDC_STATUS_INVALID_ARGUMENT);
    free_env(&e);
}

/* Every allocation of create can fail: a clean error each time and nothing leaked. */
static void test_allocation_failures(void)
{
    const char *names[] = {"pndm", "ddim", "dpm++2m-karras", "euler", "euler_a",
                           "heun", "lms",  "unipc",          "lcm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        env e = make_env(sd15_config);
        sdc_scheduler_config cfg;
        CHECK(sdc_scheduler_config_build(e.ctx, names[i], e.doc->root, "config", &cfg) ==
              SDC_STATUS_OK);
        sdc_alloc_stats before, after;
        sdc_alloc_get_stats(e.ctx, &before);
        bool succeeded = false;
        for (uint64_t nth = 1; nth < 64 && !succeeded; nth++) {
            sdc_scheduler *s = NULL;
            sdc_alloc_fail_nth(e.ctx, nth);
            sdc_status st = sdc_scheduler_create(e.ctx, &cfg, 20, NUMEL, &s);
            sdc_alloc_fail_nth(e.ctx, 0);
            if (st == SDC_STATUS_OK) {
                succeeded = true;
            } else {
                CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY && s == NULL, "%s: nth %llu: %d", names[i],
                          (unsigned long long)nth, (int)st);
            }
            sdc_scheduler_destroy(s);
            sdc_alloc_get_stats(e.ctx, &after);
            CHECK_EQ_INT(after.live_bytes, before.live_bytes);
        }
        CHECK(succeeded);
        free_env(&e);
    }
}

int main(void)
{
    RUN(test_img2img_start_and_add_noise);
    RUN(test_lcm_strength);
    RUN(test_strength_errors);
    RUN(test_call_order_and_scaling);
    RUN(test_noise_needs_rng);
    RUN(test_ddim_eta);
    RUN(test_allocation_failures);
    return test_finish();
}
