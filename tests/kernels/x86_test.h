/*
 * x86_test.h — what the tests of kernels/x86 share: the x86 tables this machine can run (after
 * SDC_CPU_MAX), each compared with the reference table on the same inputs; bfloat16 rounding of
 * inputs for the bf16 table's reference; and the summation-order tolerance of two float32 sums
 * of the same n products: each is within gamma_n sum |terms| of the exact sum (Higham), so they
 * differ by at most 2 gamma_n sum |terms| (the tests use (n + 2) u per sum).
 */
#ifndef SDC_TESTS_KERNELS_X86_TEST_H
#define SDC_TESTS_KERNELS_X86_TEST_H

#include "kernel_test.h"

typedef struct x86_level {
    const char *name;
    const sdc_kernels *table;
    bool bf16; /* matrix products round their inputs to bfloat16 */
} x86_level;

/* The x86 tables the context's CPU features allow, lowest first; returns the count (0 on a
 * CPU without AVX2 or with SDC_CPU_MAX=scalar). */
static inline int x86_levels(sdc_context *ctx, x86_level out[3])
{
    const sdc_cpu_features *f = sdc_context_cpu(ctx);
    sdc_cpu_level top = sdc_cpu_level_of(f);
    int n = 0;
    for (int level = SDC_CPU_LEVEL_AVX2; level <= (int)top; level++) {
        sdc_cpu_features capped = *f;
        sdc_cpu_cap(&capped, (sdc_cpu_level)level);
        bool bf16 = level == SDC_CPU_LEVEL_AVX512_BF16;
        out[n].table =
            sdc_kernels_for_precision(&capped, bf16 ? SDC_PRECISION_BF16 : SDC_PRECISION_F32);
        out[n].name = out[n].table->name;
        out[n].bf16 = bf16;
        n++;
    }
    return n;
}

static inline float x86_bf16(float v)
{
    return sdc_bf16_to_f32(sdc_f32_to_bf16(v));
}

static inline void x86_round_bf16(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = x86_bf16(x[i]);
}

/* A buffer of n floats starting one float past a 64-byte boundary (unaligned on purpose);
 * free the returned base with free(). */
static inline float *x86_unaligned(int64_t n, float **base)
{
    *base = test_floats(n + 17);
    return *base + 1;
}

#endif /* SDC_TESTS_KERNELS_X86_TEST_H */
