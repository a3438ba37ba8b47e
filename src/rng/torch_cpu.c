/*
 * torch_cpu.c — torch 2.4's CPU generator: MT19937 from the seed's low 32 bits, randn float32
 * (per-element Box-Muller below 16 values, 16-wide blocks from 16 up), rand, and float64.
 * Bit-exact with torch's AVX2/AVX-512 kernels. Deliberate difference: torch's DEFAULT (no-AVX)
 * kernel uses libm in the 16-wide blocks and differs by a few ulp; sdc follows the AVX kernels.
 */
#include "rng/sources.h"

#include <math.h>
#include <string.h>

void sdc_rng_torch_seed(sdc_rng_torch *s, uint64_t seed)
{
    /* CPUGeneratorImpl::set_current_seed: at::mt19937(seed) keeps the low 32 bits only. */
    sdc_mt19937_seed(&s->mt, (uint32_t)(seed & 0xffffffffu));
    s->has_next_double_normal = false;
    s->next_double_normal = 0.0;
}

/* uniform_real_distribution<float>: 24 bits of one word. */
static float uniform_f32(sdc_rng_torch *s)
{
    uint32_t v = sdc_mt19937_next(&s->mt) & ((1u << 24) - 1);
    return (float)v * (1.0f / 16777216.0f);
}

/* uniform_real_distribution<double>: 53 bits of random64(), whose high word is drawn first. */
static double uniform_f64(sdc_rng_torch *s)
{
    uint64_t hi = sdc_mt19937_next(&s->mt);
    uint64_t lo = sdc_mt19937_next(&s->mt);
    uint64_t v = ((hi << 32) | lo) & ((UINT64_C(1) << 53) - 1);
    return (double)v * (1.0 / 9007199254740992.0);
}

/* at::normal_distribution<double>: the scalar path. */
static double normal_scalar(sdc_rng_torch *s)
{
    if (s->has_next_double_normal) {
        s->has_next_double_normal = false;
        return s->next_double_normal;
    }
    double u1 = uniform_f64(s);
    double u2 = uniform_f64(s);
    double r = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * 3.14159265358979323846 * u1;
    s->next_double_normal = r * sin(theta);
    s->has_next_double_normal = true;
    return r * cos(theta);
}

/* ---- avx_mathfun.h (Garberoglio 2012, after Pommier's sse_mathfun), one lane at a time ----
 * torch's AVX2 kernel is built by GCC with -mfma and contracts many of the header's separate
 * multiplies and adds into fused multiply-adds; the fmaf calls below are exactly the ones in
 * the shipped binary (torch 2.4.1 libtorch_cpu.so, normal_kernel<CPUGeneratorImpl*> in the AVX2
 * namespace), so the results are bit-identical. */

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The constants are double literals converted to float, as the _PS256_CONST tables do. */
static const float cephes_sqrthf = (float)0.707106781186547524;
static const float log_p[9] = {
    (float)7.0376836292E-2,  (float)-1.1514610310E-1, (float)1.1676998740E-1,
    (float)-1.2420140846E-1, (float)+1.4249322787E-1, (float)-1.6668057665E-1,
    (float)+2.0000714765E-1, (float)-2.4999993993E-1, (float)+3.3333331174E-1,
};
static const float cephes_log_q1 = (float)-2.12194440e-4;
static const float cephes_log_q2 = (float)0.693359375;

static float log256_lane(float x)
{
    bool invalid = x <= 0.0f;
    float min_norm = float_of(0x00800000u);
    x = x > min_norm ? x : min_norm; /* _mm256_max_ps(x, min_norm) */
    int32_t imm0 = (int32_t)(bits_of(x) >> 23);
    x = float_of((bits_of(x) & ~0x7f800000u) | bits_of(0.5f));
    imm0 -= 0x7f;
    float e = (float)imm0;
    e = e + 1.0f;
    bool below = x < cephes_sqrthf;
    float tmp = below ? x : 0.0f;
    x = x - 1.0f;
    e = e - (below ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    float y = log_p[0];
    for (int i = 1; i < 9; i++)
        y = fmaf(y, x, log_p[i]);
    y = y * x;
    y = fmaf(y, z, e * cephes_log_q1);
    y = fmaf(-0.5f, z, y);
    x = x + y;
    x = fmaf(e, cephes_log_q2, x);
    return invalid ? float_of(0xffffffffu) : x;
}

static const float minus_cephes_dp1 = (float)-0.78515625;
static const float minus_cephes_dp2 = (float)-2.4187564849853515625e-4;
static const float minus_cephes_dp3 = (float)-3.77489497744594108e-8;
static const float sincof_p0 = (float)-1.9515295891E-4;
static const float sincof_p1 = (float)8.3321608736E-3;
static const float sincof_p2 = (float)-1.6666654611E-1;
static const float coscof_p0 = (float)2.443315711809948E-005;
static const float coscof_p1 = (float)-1.388731625493765E-003;
static const float coscof_p2 = (float)4.166664568298827E-002;
static const float cephes_fopi = (float)1.27323954473516;

static void sincos256_lane(float xin, float *s, float *c)
{
    uint32_t sign_bit_sin = bits_of(xin) & 0x80000000u;
    float x = float_of(bits_of(xin) & 0x7fffffffu);
    float y = x * cephes_fopi;
    int32_t imm2 = (int32_t)y; /* _mm256_cvttps_epi32 truncates */
    imm2 = (int32_t)((uint32_t)(imm2 + 1) & ~1u);
    y = (float)imm2;
    int32_t imm4 = imm2 - 2;
    uint32_t swap_sign_bit_sin = ((uint32_t)imm2 & 4u) << 29;
    bool poly_mask = ((uint32_t)imm2 & 2u) == 0;
    /* "Extended precision modular arithmetic", each step fused. */
    x = fmaf(y, minus_cephes_dp1, x);
    x = fmaf(y, minus_cephes_dp2, x);
    x = fmaf(y, minus_cephes_dp3, x);
    uint32_t sign_bit_cos = (~(uint32_t)imm4 & 4u) << 29;
    sign_bit_sin ^= swap_sign_bit_sin;

    float z = x * x;
    float yc = fmaf(z, coscof_p0, coscof_p1);
    yc = fmaf(z, yc, coscof_p2);
    yc = z * yc;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = 1.0f + yc;

    float ys = fmaf(z, sincof_p0, sincof_p1);
    ys = fmaf(z, ys, sincof_p2);
    ys = fmaf(x, z * ys, x);

    /* Select the polynomial per lane with the header's and/andnot/sub/add sequence. */
    float ysin2 = poly_mask ? ys : 0.0f;
    float ysin1 = poly_mask ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    float xmm1 = ysin2 + ysin1;
    float xmm2 = ys + yc;
    *s = float_of(bits_of(xmm1) ^ sign_bit_sin);
    *c = float_of(bits_of(xmm2) ^ sign_bit_cos);
}

/* normal_fill_16_AVX2 with mean 0 and std 1 (the final multiply-add is fused too). */
static void normal_fill_16(float *data)
{
    const float two_pi = (float)(2.0f * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float theta = data[j + 8] * two_pi;
        float radius = sqrtf(log256_lane(u1) * -2.0f);
        float sintheta, costheta;
        sincos256_lane(theta, &sintheta, &costheta);
        data[j] = fmaf(radius * costheta, 1.0f, 0.0f);
        data[j + 8] = fmaf(radius * sintheta, 1.0f, 0.0f);
    }
}

/* randn float32 (ATen DistributionsHelper.h and native/cpu/DistributionTemplates.h) takes one
 * of two paths per call:
 *   n < 16   at::normal_distribution<double> per element (Box-Muller on 53-bit uniforms, the
 *            second value of each pair cached in the generator across calls), cast to float;
 *   n >= 16  all n 24-bit uniforms first, then 16-wide Box-Muller blocks (normal_fill_AVX2);
 *            when n % 16 != 0 the last 16 values are redrawn from 16 fresh uniforms and redone. */
void sdc_rng_torch_normal_f32(sdc_rng_torch *s, float *out, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)normal_scalar(s);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = uniform_f32(s);
    for (size_t i = 0; i + 16 <= n; i += 16)
        normal_fill_16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++)
            tail[i] = uniform_f32(s);
        normal_fill_16(tail);
    }
}

/* normal_fill_16<double>: the same blocks in double with libm. */
static void normal_fill_16_f64(double *data)
{
    for (int j = 0; j < 8; j++) {
        double u1 = 1.0 - data[j];
        double u2 = data[j + 8];
        double radius = sqrt(-2.0 * log(u1));
        double theta = 2.0 * 3.14159265358979323846 * u2;
        data[j] = radius * cos(theta);
        data[j + 8] = radius * sin(theta);
    }
}

void sdc_rng_torch_normal_f64(sdc_rng_torch *s, double *out, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            out[i] = normal_scalar(s);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = uniform_f64(s);
    for (size_t i = 0; i + 16 <= n; i += 16)
        normal_fill_16_f64(out + i);
    if (n % 16 != 0) {
        double *tail = out + n - 16;
        for (int i = 0; i < 16; i++)
            tail[i] = uniform_f64(s);
        normal_fill_16_f64(tail);
    }
}

void sdc_rng_torch_uniform_f32(sdc_rng_torch *s, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = uniform_f32(s);
}

void sdc_rng_torch_uniform_f64(sdc_rng_torch *s, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = uniform_f64(s);
}
