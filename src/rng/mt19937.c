/*
 * mt19937.c — the 32-bit Mersenne Twister (Matsumoto & Nishimura 1998) with the init_genrand
 * seeding of the reference code; numpy's legacy RandomState (mt19937_seed) and torch's
 * at::mt19937 both produce this exact stream for a 32-bit seed.
 */
#include "rng/sources.h"

#define MT_M        397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER    0x80000000u
#define MT_LOWER    0x7fffffffu

void sdc_mt19937_seed(sdc_mt19937 *mt, uint32_t seed)
{
    mt->state[0] = seed;
    for (int i = 1; i < SDC_MT19937_N; i++) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    mt->index = SDC_MT19937_N;
}

static void regenerate(sdc_mt19937 *mt)
{
    uint32_t *s = mt->state;
    for (int i = 0; i < SDC_MT19937_N; i++) {
        uint32_t y = (s[i] & MT_UPPER) | (s[(i + 1) % SDC_MT19937_N] & MT_LOWER);
        uint32_t v = s[(i + MT_M) % SDC_MT19937_N] ^ (y >> 1);
        if (y & 1u)
            v ^= MT_MATRIX_A;
        s[i] = v;
    }
    mt->index = 0;
}

uint32_t sdc_mt19937_next(sdc_mt19937 *mt)
{
    if (mt->index >= SDC_MT19937_N)
        regenerate(mt);
    uint32_t y = mt->state[mt->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}
