/*
 * philox.c — torch.randn / torch.rand on a CUDA device: Philox4x32-10 (Salmon et al. 2011)
 * via curand's state and transforms, with torch 2.4's launch and offset rule (launch_for).
 * Deliberate difference: log, sin and cos are rounded from double where curand uses logf and
 * __sincosf, so values may differ from a GPU by a few ulp; counters and offsets are exact.
 */
#include "rng/sources.h"

#include <math.h>

#define PHILOX_W32_0   0x9E3779B9u
#define PHILOX_W32_1   0xBB67AE85u
#define PHILOX_M4X32_0 0xD2511F53u
#define PHILOX_M4X32_1 0xCD9E8D57u
#define PHILOX_BLOCK   256u /* threads per block (block_size_bound) */
#define PHILOX_UNROLL  4u   /* values per curand_normal4 / curand_uniform4 */

/* curand's float constants, as written in curand_globals.h / curand_normal.h. */
static const float two_pow32_inv = 2.3283064e-10f;
static const float two_pow32_inv_2pi = 2.3283064e-10f * 6.2831855f;

typedef struct philox_words {
    uint32_t v[4];
} philox_words;

static philox_words philox4x32_10(philox_words ctr, uint32_t key0, uint32_t key1)
{
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            key0 += PHILOX_W32_0;
            key1 += PHILOX_W32_1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M4X32_0 * ctr.v[0];
        uint64_t p1 = (uint64_t)PHILOX_M4X32_1 * ctr.v[2];
        philox_words next = {{
            (uint32_t)(p1 >> 32) ^ ctr.v[1] ^ key0,
            (uint32_t)p1,
            (uint32_t)(p0 >> 32) ^ ctr.v[3] ^ key1,
            (uint32_t)p0,
        }};
        ctr = next;
    }
    return ctr;
}

/* The four words curand4() returns for a thread (subsequence) at its `step`-th call after
 * curand_init(seed, subsequence, offset): torch's offsets are multiples of 4, so the state's
 * position within a block of four is always 0 and the counter is offset / 4 + step in its low
 * 64 bits, the subsequence in its high 64 bits (with the carry curand's increment makes). */
static philox_words curand4_at(uint64_t seed, uint64_t subsequence, uint64_t offset, uint64_t step)
{
    uint64_t lo = offset / 4;
    uint64_t counter_lo = lo + step;
    uint64_t counter_hi = subsequence + (counter_lo < lo ? 1u : 0u);
    philox_words ctr = {{(uint32_t)counter_lo, (uint32_t)(counter_lo >> 32), (uint32_t)counter_hi,
                         (uint32_t)(counter_hi >> 32)}};
    return philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* _curand_box_muller: x -> radius, y -> angle; returns (sin, cos) times the radius. */
static void box_muller(uint32_t x, uint32_t y, float *first, float *second)
{
    float u = fmaf((float)x, two_pow32_inv, two_pow32_inv / 2.0f);
    float v = fmaf((float)y, two_pow32_inv_2pi, two_pow32_inv_2pi / 2.0f);
    float s = sqrtf(-2.0f * (float)log((double)u));
    *first = (float)sin((double)v) * s;
    *second = (float)cos((double)v) * s;
}

static float uniform_value(uint32_t x)
{
    /* _curand_uniform gives (0, 1]; torch's uniform kernel maps 1 back to 0. */
    float r = fmaf((float)x, two_pow32_inv, two_pow32_inv / 2.0f);
    return r == 1.0f ? 0.0f : r;
}

/* torch 2.4 (aten/src/ATen/native/cuda/DistributionTemplates.h; the rule is the same from
 * torch 1.x to the current main branch read for this file): blocks of 256 threads, grid
 * min(ceil(n / 256), SMs * (max threads per SM / 256)); every thread runs curand_init(seed,
 * subsequence = global thread index, offset = philox_offset_per_thread) and, in a grid-stride
 * loop unrolled 4 ways over curand_normal4 / curand_uniform4, writes component k of its i-th
 * float4 to element t + (4 i + k) * stride. The call then advances the generator's offset by
 * ((n - 1) / (stride * 4) + 1) * 4, rounded up to a multiple of 4 (philox_cuda_state). nvcc
 * fuses curand's x * 2^-32 + 2^-33 into one multiply-add; so does box_muller / uniform_value. */
typedef struct launch {
    uint64_t stride; /* threads in the grid */
    uint64_t increment;
} launch;

static launch launch_for(const sdc_rng_philox *s, size_t n)
{
    uint64_t blocks = ((uint64_t)n + PHILOX_BLOCK - 1) / PHILOX_BLOCK;
    if (s->max_blocks != 0 && blocks > s->max_blocks)
        blocks = s->max_blocks;
    launch l;
    l.stride = blocks * PHILOX_BLOCK;
    l.increment = (((uint64_t)n - 1) / (l.stride * PHILOX_UNROLL) + 1) * PHILOX_UNROLL;
    l.increment = (l.increment + 3) / 4 * 4;
    return l;
}

void sdc_rng_philox_seed(sdc_rng_philox *s, uint64_t seed)
{
    s->seed = seed;
    s->offset = 0;
}

/* Element i is written by thread i % stride in grid-stride iteration (i / stride) / 4, from
 * component (i / stride) % 4 of that iteration's float4. Threads are independent, so each
 * thread's float4s are computed once and spread over its elements. */
void sdc_rng_philox_normal_f32(sdc_rng_philox *s, float *out, size_t n)
{
    if (n == 0)
        return;
    launch l = launch_for(s, n);
    uint64_t n64 = n;
    uint64_t threads = l.stride < n64 ? l.stride : n64;
    for (uint64_t t = 0; t < threads; t++) {
        for (uint64_t step = 0; t + step * l.stride * PHILOX_UNROLL < n64; step++) {
            philox_words w = curand4_at(s->seed, t, s->offset, step);
            float r[4];
            box_muller(w.v[0], w.v[1], &r[0], &r[1]);
            box_muller(w.v[2], w.v[3], &r[2], &r[3]);
            for (uint64_t k = 0; k < PHILOX_UNROLL; k++) {
                uint64_t i = t + (step * PHILOX_UNROLL + k) * l.stride;
                if (i < n64)
                    out[i] = r[k];
            }
        }
    }
    s->offset += l.increment;
}

void sdc_rng_philox_uniform_f32(sdc_rng_philox *s, float *out, size_t n)
{
    if (n == 0)
        return;
    launch l = launch_for(s, n);
    uint64_t n64 = n;
    uint64_t threads = l.stride < n64 ? l.stride : n64;
    for (uint64_t t = 0; t < threads; t++) {
        for (uint64_t step = 0; t + step * l.stride * PHILOX_UNROLL < n64; step++) {
            philox_words w = curand4_at(s->seed, t, s->offset, step);
            for (uint64_t k = 0; k < PHILOX_UNROLL; k++) {
                uint64_t i = t + (step * PHILOX_UNROLL + k) * l.stride;
                if (i < n64)
                    out[i] = uniform_value(w.v[k]);
            }
        }
    }
    s->offset += l.increment;
}
