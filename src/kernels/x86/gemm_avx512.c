/*
 * gemm_avx512.c — the AVX-512 float32 micro-kernel: a 12 x 32 tile in 24 zmm accumulators, two
 * B vectors and one broadcast per k (the shape BLIS uses on Zen 4), with masked stores for edge
 * tiles. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>

enum { MR = 12, NR = 32 };

/* c[mr, nr] (+)= the product of an A sliver of `rows` rows ([k][rows]) and a B sliver. */
static SDC_ALWAYS_INLINE void kernel(const int rows, int64_t kc, const void *a_, const void *b_,
                                     float *c, int64_t ldc, int mr, int nr, bool load_c,
                                     const float *bias_m, const float *bias_n)
{
    const float *a = a_, *b = b_;
    __m512 acc[MR][2];
    SDC_UNROLL
    for (int i = 0; i < rows; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        SDC_UNROLL
        for (int i = 0; i < rows; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += rows;
        b += NR;
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    __m512 bn0 = _mm512_setzero_ps(), bn1 = _mm512_setzero_ps();
    if (bias_n) {
        bn0 = _mm512_maskz_loadu_ps(m0, bias_n);
        bn1 = _mm512_maskz_loadu_ps(m1, bias_n + 16);
    }
    SDC_UNROLL
    for (int i = 0; i < rows; i++) {
        if (i >= mr)
            break;
        float *ci = c + i * ldc;
        __m512 v0 = _mm512_add_ps(acc[i][0], bn0), v1 = _mm512_add_ps(acc[i][1], bn1);
        if (bias_m) {
            __m512 bm = _mm512_set1_ps(bias_m[i]);
            v0 = _mm512_add_ps(v0, bm);
            v1 = _mm512_add_ps(v1, bm);
        }
        if (load_c) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

static void ukernel_12x32(int64_t kc, const void *a, const void *b, float *c, int64_t ldc, int mr,
                          int nr, bool load_c, const float *bias_m, const float *bias_n)
{
    kernel(MR, kc, a, b, c, ldc, mr, nr, load_c, bias_m, bias_n);
}

static void ukernel_8x32(int64_t kc, const void *a, const void *b, float *c, int64_t ldc, int mr,
                         int nr, bool load_c, const float *bias_m, const float *bias_n)
{
    kernel(8, kc, a, b, c, ldc, mr, nr, load_c, bias_m, bias_n);
}

static const sdc_x86_isa isa_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .kpair = 1,
    .elem = sizeof(float),
    .ukernel = ukernel_12x32,
    .ukernel8 = ukernel_8x32,
    .pack = sdc_x86_pack_f32,
    .pack_f16_rows = sdc_x86_pack_f16_rows_f32,
    .weight_to_f16 = sdc_x86_palette_to_f16_avx512,
    .softmax_step = sdc_x86_softmax_step_avx512,
};

const sdc_x86_isa *sdc_x86_isa_avx512(void)
{
    return &isa_avx512;
}
