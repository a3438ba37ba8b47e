/*
 * Tests LMS (src/schedulers/lms.c): the recorded diffusers trajectories (coefficients from
 * scipy's quad, reproduced with QUADPACK's 21-point Gauss-Kronrod rule), Karras sigmas, and an
 * img2img start, where fewer derivatives than the order exist.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/lms.safetensors");
}

static void karras(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
}

static void test_options(void)
{
    CHECK(traj_smoke("lms", 20, karras, NULL, NULL));
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_LMS);
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 10, 4, &s) == SDC_STATUS_OK);
    if (s) {
        CHECK(sdc_scheduler_set_strength(s, 0.5) == SDC_STATUS_OK);
        float x[4] = {0.5f, -0.5f, 1.0f, 0.0f}, m[4] = {0.1f, 0.2f, -0.3f, 0.0f};
        for (size_t call = sdc_scheduler_first_call(s); call < 10; call++)
            CHECK(sdc_scheduler_step(s, call, m, x, NULL) == SDC_STATUS_OK);
        for (int i = 0; i < 4; i++)
            CHECK(isfinite(x[i]));
    }
    sdc_scheduler_destroy(s);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_options);
    return test_finish();
}
