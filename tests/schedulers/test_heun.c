/*
 * Tests Heun (src/schedulers/heun.c): the recorded diffusers trajectories, the 2n - 1 model
 * calls over interleaved timesteps and sigmas, and Karras sigmas with float64 timesteps.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/heun.safetensors");
}

static void karras(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
}

static void test_interleaving(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_HEUN);
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 4, 4, &s) == SDC_STATUS_OK);
    if (s) {
        size_t n = 0;
        const float *sig = sdc_scheduler_sigmas(s, &n);
        CHECK_EQ_INT(sdc_scheduler_n_calls(s), 7);
        CHECK_EQ_INT(n, 8);
        CHECK(sig[1] == sig[2] && sig[3] == sig[4] && sig[5] == sig[6] && sig[7] == 0.0f);
        CHECK(sdc_scheduler_timestep(s, 1) == sdc_scheduler_timestep(s, 2));
        CHECK(sdc_scheduler_timestep(s, 5) == sdc_scheduler_timestep(s, 6));
        CHECK(sdc_scheduler_timestep(s, 0) == 999.0);
    }
    sdc_scheduler_destroy(s);
    sdc_context_destroy(ctx);
    CHECK(traj_smoke("heun", 10, karras, NULL, NULL));
    CHECK(traj_smoke("heun", 1, NULL, NULL, NULL));
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_interleaving);
    return test_finish();
}
