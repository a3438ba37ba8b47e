/*
 * Tests DPM-Solver++ (src/schedulers/dpm_solver.c): the recorded diffusers trajectories
 * (2M, 2M Karras, 2M SDE; epsilon and v-prediction), then the options without fixtures: third
 * order, the Heun-form second order, exponential sigmas, final sigma_min, lambda clipping.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/dpm_solver_multistep.safetensors");
}

static void third_order(sdc_scheduler_config *cfg)
{
    cfg->solver_order = 3;
}

static void heun_form(sdc_scheduler_config *cfg)
{
    cfg->solver_type = SDC_SOLVER_TYPE_HEUN;
}

static void exponential(sdc_scheduler_config *cfg)
{
    cfg->sigma_schedule = SDC_SIGMA_SCHEDULE_EXPONENTIAL;
}

static void sigma_min_final(sdc_scheduler_config *cfg)
{
    cfg->final_sigma_zero = false;
    cfg->lower_order_final = false;
}

static void clipped_lambda(sdc_scheduler_config *cfg)
{
    cfg->lambda_min_clipped = -5.1;
}

static void test_options(void)
{
    float a[TRAJ_NUMEL], b[TRAJ_NUMEL];
    CHECK(traj_smoke("dpm++2m", 20, NULL, a, NULL));
    CHECK(traj_smoke("dpm++2m", 20, third_order, b, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(traj_smoke("dpm++2m", 20, heun_form, b, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(traj_smoke("dpm++2m-sde-karras", 25, heun_form, NULL, NULL));
    CHECK(traj_smoke("dpm++2m", 20, exponential, NULL, NULL));
    CHECK(traj_smoke("dpm++2m", 20, sigma_min_final, NULL, NULL));
    CHECK(traj_smoke("dpm++2m-karras", 1, NULL, NULL, NULL));
    CHECK(traj_smoke("dpm++2m", 12, clipped_lambda, NULL, NULL));
}

/* Karras timesteps are rounded training timesteps, descending. */
static void test_karras_timesteps(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_DPM_SOLVER);
    cfg.sigma_schedule = SDC_SIGMA_SCHEDULE_KARRAS;
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 30, 4, &s) == SDC_STATUS_OK);
    for (size_t i = 0; s && i < 30; i++) {
        double t = sdc_scheduler_timestep(s, i);
        CHECK(t == floor(t) && t >= 0 && t <= 999);
        if (i > 0)
            CHECK(t <= sdc_scheduler_timestep(s, i - 1));
    }
    sdc_scheduler_destroy(s);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_options);
    RUN(test_karras_timesteps);
    return test_finish();
}
