/*
 * Tests float16/bfloat16 conversion against the IEEE rules numpy and torch implement:
 * exhaustive over all 65536 half values (exact widening, exact round trip, ties to even at
 * every midpoint between neighbours), plus the special cases by name.
 */
#include "core/core.h"
#include "test.h"

#include <math.h>

static uint32_t fbits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static float bitsf(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* The value of a finite half computed independently of half.c: (-1)^s * m * 2^e. */
static double half_value(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_f16_widening_is_exact(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31;
        float f = sdc_f16_to_f32((uint16_t)h);
        if (e == 31) {
            bool nan = (h & 1023) != 0;
            if (nan ? !isnan(f) : !isinf(f) || (signbit(f) != 0) != ((h >> 15) != 0))
                bad++;
            if (nan && (fbits(f) & 0x7fffff) != ((h & 1023u) << 13)) /* payload kept */
                bad++;
            continue;
        }
        if ((double)f != half_value((uint16_t)h) || (signbit(f) != 0) != ((h >> 15) != 0))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_f16_round_trip(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (sdc_f32_to_f16(sdc_f16_to_f32((uint16_t)h)) != h)
            bad++;
    CHECK_EQ_INT(bad, 0); /* NaNs included: numpy keeps the payload bits */
}

/* Between two neighbouring finite halves a < b (same sign), the midpoint must round to the one
 * with an even mantissa, and one float ulp either side of it to the nearer one. */
static void test_f16_ties_to_even(void)
{
    int bad = 0, n = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int sign = 0; sign < 2; sign++) {
            uint16_t lo = (uint16_t)(h | (sign << 15)), hi = (uint16_t)((h + 1) | (sign << 15));
            double a = half_value(lo), b = half_value(hi);
            float mid = (float)((a + b) / 2); /* exact: needs at most 12 significant bits */
            if ((double)mid != (a + b) / 2)
                bad++;
            uint16_t even = (lo & 1) ? hi : lo;
            if (sdc_f32_to_f16(mid) != even)
                bad++;
            float below = bitsf(fbits(mid) - 1), above = bitsf(fbits(mid) + 1);
            /* |below| < |mid| < |above| in magnitude, whatever the sign */
            if (sdc_f32_to_f16(below) != lo || sdc_f32_to_f16(above) != hi)
                bad++;
            n++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(n > 60000);
}

static void test_f16_special_values(void)
{
    CHECK_EQ_INT(sdc_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(sdc_f32_to_f16(65519.996f), 0x7bff);
    CHECK_EQ_INT(sdc_f32_to_f16(65520.0f), 0x7c00); /* ties to even: overflows to inf */
    CHECK_EQ_INT(sdc_f32_to_f16(1e10f), 0x7c00);
    CHECK_EQ_INT(sdc_f32_to_f16(-1e10f), 0xfc00);
    CHECK_EQ_INT(sdc_f32_to_f16(INFINITY), 0x7c00);
    CHECK_EQ_INT(sdc_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(sdc_f32_to_f16(0.0f), 0x0000);
    CHECK_EQ_INT(sdc_f32_to_f16(-0.0f), 0x8000);
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(1, -24)), 0x0001);   /* smallest subnormal */
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(1, -25)), 0x0000);   /* tie -> even (zero) */
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(3, -26)), 0x0001);   /* 0.75 ulp -> 1 ulp */
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(3, -25)), 0x0002);   /* 1.5 ulp tie -> 2 */
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(1, -26)), 0x0000);
    CHECK_EQ_INT(sdc_f32_to_f16(-ldexpf(1, -26)), 0x8000);
    CHECK_EQ_INT(sdc_f32_to_f16(1e-45f), 0x0000);           /* float subnormal */
    CHECK_EQ_INT(sdc_f32_to_f16(ldexpf(1, -14)), 0x0400);   /* smallest normal */
    CHECK_EQ_INT(sdc_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(sdc_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(sdc_f32_to_f16(0.1f), 0x2e66);             /* numpy: np.float16(0.1) */
    CHECK_EQ_INT(sdc_f32_to_f16(3.14159274f), 0x4248);
    /* NaN: numpy keeps sign and top payload bits; a payload only in the low 13 bits becomes 1 */
    CHECK_EQ_INT(sdc_f32_to_f16(bitsf(0x7fc00000)), 0x7e00);
    CHECK_EQ_INT(sdc_f32_to_f16(bitsf(0xffc00000)), 0xfe00);
    CHECK_EQ_INT(sdc_f32_to_f16(bitsf(0x7f800001)), 0x7c01);
    CHECK_EQ_INT(sdc_f32_to_f16(bitsf(0x7fa00000)), 0x7d00);
}

static void test_bf16(void)
{
    CHECK_EQ_INT(sdc_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x3f808000)), 0x3f80); /* tie, even stays */
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x3f818000)), 0x3f82); /* tie, odd rounds up */
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x3f808001)), 0x3f81);
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(sdc_f32_to_bf16(-INFINITY), 0xff80);
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0xffc12345)), 0xffff); /* torch 2.4 tensor cast */
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x7fc00000)), 0xffff);
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x00000001)), 0x0000); /* float subnormal */
    CHECK_EQ_INT(sdc_f32_to_bf16(bitsf(0x00018000)), 0x0002);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sdc_bf16_to_f32((uint16_t)h);
        if (fbits(f) != h << 16)
            bad++;
        bool nan = ((h >> 7) & 0xff) == 0xff && (h & 0x7f);
        if (!nan && sdc_f32_to_bf16(f) != h)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_rows(void)
{
    float src[7] = {1.0f, -0.5f, 65504.0f, 1e-8f, 0.333333f, -0.0f, 2.5f};
    uint16_t h[7], b[7];
    float back[7];
    sdc_f32_to_f16_row(src, h, 7);
    sdc_f32_to_bf16_row(src, b, 7);
    for (int i = 0; i < 7; i++) {
        CHECK_EQ_INT(h[i], sdc_f32_to_f16(src[i]));
        CHECK_EQ_INT(b[i], sdc_f32_to_bf16(src[i]));
    }
    sdc_f16_to_f32_row(h, back, 7);
    for (int i = 0; i < 7; i++)
        CHECK(fbits(back[i]) == fbits(sdc_f16_to_f32(h[i])));
    sdc_bf16_to_f32_row(b, back, 7);
    for (int i = 0; i < 7; i++)
        CHECK(fbits(back[i]) == fbits(sdc_bf16_to_f32(b[i])));
}

int main(void)
{
    RUN(test_f16_widening_is_exact);
    RUN(test_f16_round_trip);
    RUN(test_f16_ties_to_even);
    RUN(test_f16_special_values);
    RUN(test_bf16);
    RUN(test_rows);
    return test_finish();
}
