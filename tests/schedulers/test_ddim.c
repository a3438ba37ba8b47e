/*
 * Tests DDIM (src/schedulers/ddim.c): the recorded diffusers trajectories (eta 0 and 1;
 * leading, linspace and trailing spacing), clipping, and trailing spacing at a step count
 * where numpy's arange would add a spurious timestep.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/ddim.safetensors");
}

static void trailing(sdc_scheduler_config *cfg)
{
    cfg->timestep_spacing = SDC_TIMESTEP_SPACING_TRAILING;
}

static void clipped(sdc_scheduler_config *cfg)
{
    cfg->clip_sample = true;
    cfg->clip_sample_range = 0.5;
}

static void test_spacings_and_clipping(void)
{
    /* 61 trailing steps: diffusers would make 62 calls, the last at timestep -1. */
    CHECK(traj_smoke("ddim", 61, trailing, NULL, NULL));
    float x0_unclipped[TRAJ_NUMEL], x0_clipped[TRAJ_NUMEL];
    CHECK(traj_smoke("ddim", 5, NULL, NULL, x0_unclipped));
    CHECK(traj_smoke("ddim", 5, clipped, NULL, x0_clipped));
    float top = 0;
    for (int i = 0; i < TRAJ_NUMEL; i++)
        top = fmaxf(top, fabsf(x0_clipped[i]));
    CHECK(top <= 0.5f + 1e-6f);
    CHECK(memcmp(x0_unclipped, x0_clipped, sizeof x0_clipped) != 0);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_spacings_and_clipping);
    return test_finish();
}
