/*
 * Tests LCM (src/schedulers/lcm.c): the recorded diffusers trajectories (epsilon and
 * v-prediction, 1 to 50 steps), and that the last step returns its denoised estimate.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/lcm.safetensors");
}

static void test_last_step_is_denoised(void)
{
    float final[TRAJ_NUMEL], denoised[TRAJ_NUMEL];
    CHECK(traj_smoke("lcm", 4, NULL, final, denoised));
    CHECK(memcmp(final, denoised, sizeof final) == 0);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_last_step_is_denoised);
    return test_finish();
}
