/*
 * numpy.c — numpy's legacy RandomState (numpy 1.26 random/src/legacy/legacy-distributions.c
 * and mt19937.c): random_sample as 53-bit doubles from two 32-bit words, and randn through
 * legacy_gauss, the polar Box-Muller method that keeps the second value of each pair for the
 * next draw, across calls. Bit-exact; float32 output is the cast of the float64 value.
 */
#include "rng/sources.h"

#include <math.h>

void sdc_rng_numpy_seed(sdc_rng_numpy *s, uint32_t seed)
{
    sdc_mt19937_seed(&s->mt, seed);
    s->has_gauss = false;
    s->gauss = 0.0;
}

/* legacy_double: a = 27 bits, b = 26 bits. */
static double next_double(sdc_rng_numpy *s)
{
    int32_t a = (int32_t)(sdc_mt19937_next(&s->mt) >> 5);
    int32_t b = (int32_t)(sdc_mt19937_next(&s->mt) >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

static double next_gauss(sdc_rng_numpy *s)
{
    if (s->has_gauss) {
        double cached = s->gauss;
        s->has_gauss = false;
        s->gauss = 0.0;
        return cached;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * next_double(s) - 1.0;
        x2 = 2.0 * next_double(s) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    s->gauss = f * x1;
    s->has_gauss = true;
    return f * x2;
}

void sdc_rng_numpy_normal(sdc_rng_numpy *s, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = next_gauss(s);
}

void sdc_rng_numpy_uniform(sdc_rng_numpy *s, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = next_double(s);
}
