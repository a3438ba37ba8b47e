/*
 * Tests Euler (src/schedulers/euler.c): the recorded diffusers trajectories (linspace, leading
 * and trailing spacing; epsilon and v-prediction), then Karras and exponential sigmas, the
 * sigma_min final sigma, EDM-style continuous timesteps, and that its unused noise draw keeps
 * the generator in step with diffusers without changing the result.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/euler.safetensors");
}

static void karras(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
}

static void exponential(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_EXPONENTIAL;
    cfg->final_sigma_zero = false;
}

static void continuous_v(sdc_scheduler_config *cfg)
{
    cfg->prediction_type = SDC_PREDICTION_TYPE_V_PREDICTION;
    cfg->timestep_continuous = true;
}

static void test_options(void)
{
    CHECK(traj_smoke("euler", 20, karras, NULL, NULL));
    CHECK(traj_smoke("euler", 20, exponential, NULL, NULL));
    CHECK(traj_smoke("euler", 20, continuous_v, NULL, NULL));
}

static void test_sigma_schedules(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_EULER);
    cfg.sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
    cfg.sigma_min = 0.1;
    cfg.sigma_max = 10.0;
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 8, 4, &s) == SDC_STATUS_OK);
    if (s) {
        size_t n = 0;
        const float *sig = sdc_scheduler_sigmas(s, &n);
        CHECK(n == 9 && sig[0] == 10.0f && sig[7] == 0.1f && sig[8] == 0.0f);
        /* Fractional timesteps from _sigma_to_t, descending. */
        for (size_t i = 1; i < 8; i++)
            CHECK(sdc_scheduler_timestep(s, i) < sdc_scheduler_timestep(s, i - 1));
    }
    sdc_scheduler_destroy(s);
    /* Continuous timesteps: 0.25 log(sigma). */
    cfg.sigma_schedule = SDC_SIGMA_SCHEDULE_DEFAULT;
    cfg.prediction_type = SDC_PREDICTION_TYPE_V_PREDICTION;
    cfg.timestep_continuous = true;
    s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 4, 4, &s) == SDC_STATUS_OK);
    if (s) {
        size_t n = 0;
        const float *sig = sdc_scheduler_sigmas(s, &n);
        for (size_t i = 0; i < 4; i++)
            CHECK(fabs(sdc_scheduler_timestep(s, i) - 0.25 * log(sig[i])) < 1e-6);
    }
    sdc_scheduler_destroy(s);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_options);
    RUN(test_sigma_schedules);
    return test_finish();
}
