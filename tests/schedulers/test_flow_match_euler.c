/*
 * Tests flow-matching Euler (src/schedulers/flow_match_euler.c): the recorded diffusers
 * trajectories over SD3's configuration, timesteps = sigma * 1000, and scale_noise.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/flow_match_euler.safetensors");
}

static void test_schedule(void)
{
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    sdc_scheduler_config cfg;
    sdc_scheduler_config_defaults(&cfg, SDC_SOLVER_FLOW_MATCH_EULER);
    cfg.shift = 3.0;
    sdc_scheduler *s = NULL;
    CHECK(sdc_scheduler_create(ctx, &cfg, 28, 4, &s) == SDC_STATUS_OK);
    if (s) {
        size_t n = 0;
        const float *sig = sdc_scheduler_sigmas(s, &n);
        CHECK(n == 29 && sig[0] == 1.0f && sig[28] == 0.0f);
        CHECK(sdc_scheduler_alphas_cumprod(s) == NULL);
        CHECK(sdc_scheduler_init_noise_sigma(s) == 1.0f);
        for (size_t i = 0; i < 28; i++)
            CHECK((float)sdc_scheduler_timestep(s, i) == sig[i] * 1000.0f);
        /* scale_noise: sigma * noise + (1 - sigma) * x */
        float x[4] = {1, 2, 3, 4}, noise[4] = {0, 0, 1, 1}, y[4];
        CHECK(sdc_scheduler_add_noise(s, 0, x, noise, y) == SDC_STATUS_OK);
        CHECK(y[0] == 0.0f && y[3] == 1.0f);
        float in[4] = {1, 2, 3, 4}, out[4];
        CHECK(sdc_scheduler_scale_model_input(s, 3, in, out) == SDC_STATUS_OK);
        CHECK(memcmp(in, out, sizeof in) == 0);
    }
    sdc_scheduler_destroy(s);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_schedule);
    return test_finish();
}
