/*
 * kernel_test.h — helpers shared by the kernel tests: a seeded random source, contexts with a
 * given thread count, element-by-element comparison against a double-precision reference with
 * a per-element tolerance, and checks of the error a wrapper records. With SDC_TEST_VERBOSE set
 * in the environment each comparison also prints its worst error (for reports, not asserted).
 */
#ifndef SDC_TESTS_KERNELS_KERNEL_TEST_H
#define SDC_TESTS_KERNELS_KERNEL_TEST_H

#include "kernels/kernels.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Unit roundoff of float32: 2^-24. Tolerances below are multiples of it. */
#define TEST_U 5.9604644775390625e-8

/* splitmix64: a reproducible stream, the same on every platform. */
typedef struct test_rng {
    uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline float test_uniform(test_rng *r, float lo, float hi)
{
    double u = (double)(test_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

static inline void test_fill(test_rng *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = test_uniform(r, lo, hi);
}

/* A zeroed buffer of n floats (at least one); the test aborts if memory is short. */
static inline float *test_floats(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory for %lld floats\n", (long long)n);
        exit(2);
    }
    return p;
}

static inline double *test_doubles(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) {
        fprintf(stderr, "out of memory for %lld doubles\n", (long long)n);
        exit(2);
    }
    return p;
}

static inline sdc_context *test_context(int n_threads)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = n_threads;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK) {
        fprintf(stderr, "could not create a context with %d threads\n", n_threads);
        exit(2);
    }
    return ctx;
}

/* Checks |got[i] - ref[i]| <= tol[i] for all i, as one CHECK naming the first failure. */
static inline void test_check_close(const char *file, int line, const char *what, int64_t n,
                                    const float *got, const double *ref, const double *tol)
{
    int64_t bad = -1;
    double worst = 0.0, worst_abs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= tol[i])) { /* NaN fails too */
            if (bad < 0)
                bad = i;
            worst = INFINITY;
            continue;
        }
        if (tol[i] > 0 && err / tol[i] > worst)
            worst = err / tol[i];
        if (err > worst_abs)
            worst_abs = err;
    }
    if (bad >= 0)
        test_checkf(false, file, line, "%s: element %lld is %.9g, expected %.9g (tolerance %.3g)",
                    what, (long long)bad, (double)got[bad], ref[bad], tol[bad]);
    else
        test_checkf(true, file, line, "%s", what);
    if (getenv("SDC_TEST_VERBOSE") && bad < 0)
        fprintf(stderr, "  %-48s worst |err| %.3g, worst err/tolerance %.3g\n", what, worst_abs,
                worst);
}
#define CHECK_CLOSE(what, n, got, ref, tol)                                                        \
    test_check_close(__FILE__, __LINE__, (what), (n), (got), (ref), (tol))

/* Checks that a call failed with `status` and that the context's message names each of the
 * given strings (the op and the shapes involved). */
static inline void test_check_error(const char *file, int line, sdc_context *ctx, sdc_status got,
                                    sdc_status want, const char *s1, const char *s2, const char *s3)
{
    const char *msg = sdc_context_errmsg(ctx);
    test_checkf(got == want, file, line, "status %d, expected %d (message \"%s\")", (int)got,
                (int)want, msg);
    const char *parts[3] = {s1, s2, s3};
    for (int i = 0; i < 3; i++)
        if (parts[i])
            test_checkf(strstr(msg, parts[i]) != NULL, file, line, "message \"%s\" names \"%s\"",
                        msg, parts[i]);
    sdc_clear_error(ctx);
}
#define CHECK_ERROR(ctx, got, want, s1, s2, s3)                                                    \
    test_check_error(__FILE__, __LINE__, (ctx), (got), (want), (s1), (s2), (s3))

#endif /* SDC_TESTS_KERNELS_KERNEL_TEST_H */
