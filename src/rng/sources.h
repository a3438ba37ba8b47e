/*
 * sources.h — the state and entry points of each random source, shared by the files of the
 * rng layer only (rng.c dispatches to them). Nothing here allocates or fails: the handle in
 * rng.c validates arguments before calling in.
 */
#ifndef SDC_RNG_SOURCES_H
#define SDC_RNG_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MT19937 (Matsumoto & Nishimura 1998), the 32-bit Mersenne Twister both numpy and torch
 * use, seeded with init_genrand. */
#define SDC_MT19937_N 624

typedef struct sdc_mt19937 {
    uint32_t state[SDC_MT19937_N];
    int index; /* next word of state to temper; N means regenerate */
} sdc_mt19937;

void sdc_mt19937_seed(sdc_mt19937 *mt, uint32_t seed);
uint32_t sdc_mt19937_next(sdc_mt19937 *mt);

/* numpy legacy RandomState. */
typedef struct sdc_rng_numpy {
    sdc_mt19937 mt;
    bool has_gauss; /* the second value of the last polar Box-Muller pair is waiting */
    double gauss;
} sdc_rng_numpy;

void sdc_rng_numpy_seed(sdc_rng_numpy *s, uint32_t seed);
void sdc_rng_numpy_normal(sdc_rng_numpy *s, double *out, size_t n);
void sdc_rng_numpy_uniform(sdc_rng_numpy *s, double *out, size_t n);

/* torch CPU generator. */
typedef struct sdc_rng_torch {
    sdc_mt19937 mt;
    bool has_next_double_normal; /* the generator's cached normal (scalar path) */
    double next_double_normal;
} sdc_rng_torch;

void sdc_rng_torch_seed(sdc_rng_torch *s, uint64_t seed);
void sdc_rng_torch_normal_f32(sdc_rng_torch *s, float *out, size_t n);
void sdc_rng_torch_normal_f64(sdc_rng_torch *s, double *out, size_t n);
void sdc_rng_torch_uniform_f32(sdc_rng_torch *s, float *out, size_t n);
void sdc_rng_torch_uniform_f64(sdc_rng_torch *s, double *out, size_t n);

/* torch CUDA generator (Philox4x32-10 through curand). */
typedef struct sdc_rng_philox {
    uint64_t seed;
    uint64_t offset;     /* philox_offset_per_thread, a multiple of 4 */
    uint32_t max_blocks; /* grid limit of the emulated device; 0 = unlimited */
} sdc_rng_philox;

void sdc_rng_philox_seed(sdc_rng_philox *s, uint64_t seed);
void sdc_rng_philox_normal_f32(sdc_rng_philox *s, float *out, size_t n);
void sdc_rng_philox_uniform_f32(sdc_rng_philox *s, float *out, size_t n);

#endif /* SDC_RNG_SOURCES_H */
