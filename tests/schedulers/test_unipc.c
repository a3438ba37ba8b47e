/*
 * Tests UniPC (src/schedulers/unipc.c): the recorded diffusers trajectories (bh2, order 2,
 * data prediction), then order 3 (2x2 and 3x3 solves), B(h) = h and noise prediction against
 * values from diffusers, Karras sigmas, a disabled corrector, and the refusal of the
 * combinations diffusers turns into NaN.
 */
#include "trajectory.h"

static void order3(sdc_scheduler_config *cfg)
{
    cfg->solver_order = 3;
}

static void bh1(sdc_scheduler_config *cfg)
{
    cfg->solver_type = SDC_SOLVER_TYPE_BH1;
    cfg->final_sigma_zero = false;
}

static void noise_prediction(sdc_scheduler_config *cfg)
{
    cfg->predict_x0 = false;
    cfg->final_sigma_zero = false;
}

static void karras(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
}

static void no_corrector(sdc_scheduler_config *cfg)
{
    cfg->disable_corrector = ~UINT64_C(0);
}

static void test_fixture(void)
{
    traj_run_file("schedulers/unipc.safetensors");
}

/* Final samples' first values from diffusers 0.30.2, gen_schedulers.run_case(
 * UniPCMultistepScheduler.from_config(SD15, **overrides), 20, None) with the overrides named. */
static void check_start(const float *got, const float *want, const char *what)
{
    for (int i = 0; i < 3; i++)
        CHECK_MSG(fabsf(got[i] - want[i]) <= 5e-6f * fabsf(want[i]), "%s: %.9g vs %.9g", what,
                  (double)got[i], (double)want[i]);
}

static void test_options(void)
{
    float a[TRAJ_NUMEL], b[TRAJ_NUMEL];
    CHECK(traj_smoke("unipc", 20, NULL, a, NULL));
    CHECK(traj_smoke("unipc", 20, order3, b, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* solver_order=3 */
    check_start(b, (const float[]){-12.092458725f, -12.430348396f, -1.807228088f}, "order 3");
    /* solver_type="bh1", final_sigmas_type="sigma_min" */
    CHECK(traj_smoke("unipc", 20, bh1, b, NULL));
    check_start(b, (const float[]){-12.241743088f, -12.583430290f, -1.838858128f}, "bh1");
    /* predict_x0=False, final_sigmas_type="sigma_min" */
    CHECK(traj_smoke("unipc", 20, noise_prediction, b, NULL));
    check_start(b, (const float[]){-12.502182007f, -12.850782394f, -1.881354690f}, "eps");
    CHECK(traj_smoke("unipc", 20, karras, NULL, NULL));
    CHECK(traj_smoke("unipc", 20, no_corrector, b, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
}

static void test_nan_combinations_refused(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_UNIPC);
    cfg.solver_type = SDC_SOLVER_TYPE_BH1;
    CHECK(sdc_scheduler_config_check(ctx, &cfg, 20) == SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "sigma_min");
    cfg.solver_type = SDC_SOLVER_TYPE_BH2;
    cfg.predict_x0 = false;
    CHECK(sdc_scheduler_config_check(ctx, &cfg, 20) == SDC_STATUS_UNSUPPORTED);
    cfg.final_sigma_zero = false;
    CHECK(sdc_scheduler_config_check(ctx, &cfg, 20) == SDC_STATUS_OK);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_options);
    RUN(test_nan_combinations_refused);
    return test_finish();
}
