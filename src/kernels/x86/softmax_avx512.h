/*
 * softmax_avx512.h — the AVX-512 online-softmax step of attention.c (sdc_x86_softmax_step_fn),
 * the same two passes as the AVX2 step over 16 query lanes per vector, with 2^x as the Cephes
 * exp2f polynomial scaled by VSCALEFPS. Included once by attention_avx512.c (the float32 step)
 * and once by gemm_avx512bf16.c, which defines SDC_SOFTMAX_BF16_PAIRS (two float32 vectors to
 * the bf16 pairs of the packed B layout) for the step that writes P^T in bf16; the includer
 * names the function with SDC_SOFTMAX_STEP_NAME.
 */
#include "kernels/x86/x86.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>

/* 2^x within 2e-7 relative (the polynomial of sdc_v8_exp2) for finite x >= -126 (infinity
 * past 128, by VSCALEFPS); exactly 0 below -126 and for -inf or NaN, lanes masked off whole, so
 * their n and f need no clamping. */
static inline __m512 exp2_v16(__m512 x)
{
    __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_GE_OQ);
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(live, p, n);
}

void SDC_SOFTMAX_STEP_NAME(float *s, int64_t nk, int nr, int64_t D, float scale, float *run_max,
                           float *run_sum, float *ot, bool causal, int64_t q0, int64_t j0,
                           uint16_t *bf16_out)
{
#ifndef SDC_SOFTMAX_BF16_PAIRS
    assert(bf16_out == NULL); /* this step is float32 only */
    bf16_out = NULL;
#endif
    const float log2e = 1.44269504088896341f;
    const __m512 c = _mm512_set1_ps(scale * log2e);
    const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
    const __m512 ramp = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int l = 0; l < nr; l += 16) {
        __m512 mx = _mm512_loadu_ps(run_max + l);
        __m512 qidx = _mm512_add_ps(_mm512_set1_ps((float)(q0 + l)), ramp);
        __m512 tile_max;
        if (!causal) {
            /* Raw extremes first: one compare per score, the scale applied once. */
            __m512 hi = neg_inf, lo = _mm512_set1_ps(INFINITY);
            for (int64_t j = 0; j < nk; j++) {
                __m512 v = _mm512_loadu_ps(s + j * nr + l);
                hi = _mm512_max_ps(hi, v);
                lo = _mm512_min_ps(lo, v);
            }
            tile_max = _mm512_mul_ps(scale >= 0.0f ? hi : lo, c);
        } else {
            tile_max = neg_inf;
            for (int64_t j = 0; j < nk; j++) {
                __m512 v = _mm512_mul_ps(_mm512_loadu_ps(s + j * nr + l), c);
                __mmask16 keep =
                    _mm512_cmp_ps_mask(_mm512_set1_ps((float)(j0 + j)), qidx, _CMP_LE_OQ);
                tile_max = _mm512_mask_max_ps(tile_max, keep, tile_max, v);
            }
        }
        __m512 new_max = _mm512_max_ps(mx, tile_max);
        /* A lane with no key yet keeps max -inf: use 0 so 2^(-inf - 0) = 0, never NaN. */
        __mmask16 some = _mm512_cmp_ps_mask(new_max, neg_inf, _CMP_NEQ_OQ);
        __m512 safe = _mm512_maskz_mov_ps(some, new_max);
        __m512 corr = exp2_v16(_mm512_sub_ps(mx, safe));
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nk; j += 2) {
            /* Keys j and j + 1 (0 past the end), kept for the bf16 pair of each lane. */
            __m512 p[2];
            for (int h = 0; h < 2; h++) {
                if (j + h >= nk) {
                    p[h] = _mm512_setzero_ps();
                    continue;
                }
                __m512 x = _mm512_fmsub_ps(_mm512_loadu_ps(s + (j + h) * nr + l), c, safe);
                if (causal) {
                    __mmask16 keep =
                        _mm512_cmp_ps_mask(_mm512_set1_ps((float)(j0 + j + h)), qidx, _CMP_LE_OQ);
                    x = _mm512_mask_mov_ps(neg_inf, keep, x);
                }
                p[h] = exp2_v16(x);
                sum = _mm512_add_ps(sum, p[h]);
                if (!bf16_out)
                    _mm512_storeu_ps(s + (j + h) * nr + l, p[h]);
            }
#ifdef SDC_SOFTMAX_BF16_PAIRS
            if (bf16_out)
                _mm512_storeu_si512((void *)(bf16_out + j * nr + 2 * l),
                                    SDC_SOFTMAX_BF16_PAIRS(p[0], p[1]));
#endif
        }
        __m512 rs = _mm512_loadu_ps(run_sum + l);
        _mm512_storeu_ps(run_sum + l, _mm512_fmadd_ps(rs, corr, sum));
        _mm512_storeu_ps(run_max + l, new_max);
        for (int64_t d = 0; d < D; d++) {
            float *o = ot + d * nr + l;
            _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_loadu_ps(o), corr));
        }
    }
}
