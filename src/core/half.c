/*
 * half.c — float16 and bfloat16 conversion, bit-exact with numpy's float16 casts
 * (npy_floatbits_to_halfbits / npy_halfbits_to_floatbits, numpy 1.26) and torch's bfloat16
 * tensor cast (Tensor.to(torch.bfloat16) on the CPU, torch 2.4).
 *
 * float16: round to nearest, ties to even, in both the normal and the subnormal range;
 * magnitudes that round to 65520 or more become inf; NaN keeps its sign and the top ten
 * payload bits (forced non-zero so it stays NaN), as numpy does. torch instead returns the
 * canonical 0x7E00 for any NaN; sdc follows numpy there.
 */
#include "core/core.h"

#include <string.h>

static uint32_t float_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static float bits_float(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* Shifts m right by s (s >= 1) rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t m, unsigned s)
{
    if (s >= 32)
        return 0;
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return q;
}

uint16_t sdc_f32_to_f16(float f)
{
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    uint32_t exp = ax >> 23;      /* biased float exponent */
    uint32_t mant = ax & 0x7fffff;

    if (exp == 0xff) {
        if (mant == 0)
            return sign | 0x7c00;
        uint16_t payload = (uint16_t)(mant >> 13);
        return sign | 0x7c00 | (payload ? payload : 1);
    }
    if (ax >= 0x47800000u) /* >= 2^16: far past the largest half */
        return sign | 0x7c00;
    if (exp <= 112) {
        /* Below 2^-14: a subnormal half in units of 2^-24. The float is
         * (mant | implicit bit) * 2^(exp - 150), i.e. shifted right by 126 - exp units. */
        if (exp < 101)
            return sign;
        uint32_t m = mant | 0x800000;
        return sign | (uint16_t)shift_round_even(m, 126 - exp);
    }
    /* Normal half: exponent rebias 127 -> 15, ten mantissa bits, carry may reach inf. */
    uint32_t h = ((exp - 112) << 10) + shift_round_even(mant, 13);
    return sign | (uint16_t)h;
}

float sdc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f)
        return bits_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return bits_float(sign);
        /* Subnormal: normalise so the leading one becomes the implicit bit. */
        uint32_t e = 113;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        return bits_float(sign | (e << 23) | ((mant & 0x3ff) << 13));
    }
    return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t sdc_f32_to_bf16(float f)
{
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return 0xffff; /* what torch's Tensor.to(torch.bfloat16) gives for every NaN */
    uint32_t bias = 0x7fff + ((x >> 16) & 1);
    return (uint16_t)((x + bias) >> 16);
}

float sdc_bf16_to_f32(uint16_t h)
{
    return bits_float((uint32_t)h << 16);
}

void sdc_f16_to_f32_row(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = sdc_f16_to_f32(src[i]);
}

void sdc_f32_to_f16_row(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = sdc_f32_to_f16(src[i]);
}

void sdc_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = sdc_bf16_to_f32(src[i]);
}

void sdc_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = sdc_f32_to_bf16(src[i]);
}
