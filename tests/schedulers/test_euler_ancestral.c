/*
 * Tests Euler ancestral (src/schedulers/euler_ancestral.c): the recorded diffusers trajectories
 * (noise from torch.Generator("cpu").manual_seed(1)), and that the noise comes from the random
 * source it is given: the same seed repeats, another source or seed does not.
 */
#include "trajectory.h"

static void test_fixture(void)
{
    traj_run_file("schedulers/euler_ancestral.safetensors");
}

static void test_noise_source(void)
{
    float a[TRAJ_NUMEL], b[TRAJ_NUMEL];
    CHECK(traj_smoke("euler_a", 10, NULL, a, NULL));
    CHECK(traj_smoke("euler_a", 10, NULL, b, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(traj_smoke("euler_a", 11, NULL, b, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);
}

int main(void)
{
    RUN(test_fixture);
    RUN(test_noise_source);
    return test_finish();
}
