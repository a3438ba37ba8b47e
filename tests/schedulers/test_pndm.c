/*
 * Tests PNDM (src/schedulers/pndm.c): the recorded diffusers trajectories, the n + 1 model
 * calls of PLMS with its repeated second timestep, and a leading schedule that would step past
 * the last training timestep.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/pndm.safetensors");
}

static void test_call_pattern(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_PNDM);
    cfg.skip_prk_steps = true;
    cfg.steps_offset = 1;
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 5, 8, &s) == SDC_STATUS_OK);
    if (s) {
        /* leading, ratio 200, offset 1: 801, 601, 601, 401, 201, 1 */
        const double want[6] = {801, 601, 601, 401, 201, 1};
        CHECK_EQ_INT(sdc_scheduler_n_calls(s), 6);
        for (size_t i = 0; i < 6; i++)
            CHECK(sdc_scheduler_timestep(s, i) == want[i]);
        CHECK(sdc_scheduler_denoised(s) == NULL);
    }
    sdc_scheduler_destroy(s);
    s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 1, 8, &s) == SDC_STATUS_OK);
    CHECK(s && sdc_scheduler_n_calls(s) == 1 && sdc_scheduler_timestep(s, 0) == 1.0);
    sdc_scheduler_destroy(s);
    /* 1000 leading steps with steps_offset 1 reach timestep 1000: refused, not indexed. */
    s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 1000, 8, &s) == SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "timestep 1000");
    CHECK(s == NULL);
    sdc_context_destroy(ctx);
}

static void test_runs(void)
{
    CHECK(traj_smoke("pndm", 50, NULL, NULL, NULL));
    CHECK(traj_smoke("pndm", 2, NULL, NULL, NULL));
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_call_pattern);
    RUN(test_runs);
    return test_finish();
}
