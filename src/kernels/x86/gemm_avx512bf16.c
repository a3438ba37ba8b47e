/*
 * gemm_avx512bf16.c — the bfloat16 micro-kernel (12 x 32 tile, VDPBF16PS: pairs of bf16 products
 * summed into float32 accumulators), its packing, which rounds float32 to bf16 to nearest even
 * as torch's autocast casts do (the VCVTNEPS2BF16 family also turns subnormals into 0), and
 * attention's softmax step writing the probabilities as bf16 pairs (softmax_avx512.h).
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512bf16.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>
#include <string.h>

enum { MR = 12, NR = 32 };

/* c[mr, nr] (+)= the product of an A sliver of `rows` rows ([k/2][rows][2]) and a B sliver. */
static SDC_ALWAYS_INLINE void kernel(const int rows, int64_t kc, const void *a_, const void *b_,
                                     float *c, int64_t ldc, int mr, int nr, bool load_c,
                                     const float *bias_m, const float *bias_n)
{
    const uint16_t *a = a_, *b = b_;
    __m512 acc[MR][2];
    SDC_UNROLL
    for (int i = 0; i < rows; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k += 2) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b);
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(b + 32));
        _mm_prefetch((const char *)(b + 8 * 2 * NR), _MM_HINT_T0);
        SDC_UNROLL
        for (int i = 0; i < rows; i++) {
            int32_t pair;
            memcpy(&pair, a + 2 * i, sizeof pair);
            __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
        a += 2 * rows;
        b += 2 * NR;
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

static void ukernel_bf16_12x32(int64_t kc, const void *a, const void *b, float *c, int64_t ldc,
                               int mr, int nr, bool load_c, const float *bias_m,
                               const float *bias_n)
{
    kernel(MR, kc, a, b, c, ldc, mr, nr, load_c, bias_m, bias_n);
}

static void ukernel_bf16_8x32(int64_t kc, const void *a, const void *b, float *c, int64_t ldc,
                              int mr, int nr, bool load_c, const float *bias_m, const float *bias_n)
{
    kernel(8, kc, a, b, c, ldc, mr, nr, load_c, bias_m, bias_n);
}

/* Round to nearest even (the bit pattern of sdc_f32_to_bf16 for every finite value). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu))
        return 0xFFFF;
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* n floats to bf16, 16 at a time with VCVTNEPS2BF16. */
static void row_to_bf16(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
    for (; i < n; i++)
        dst[i] = to_bf16(src[i]);
}

/* n float16 values to bf16 (through float32, which holds them exactly). */
static void f16_row_to_bf16(const uint16_t *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(f));
    }
    for (; i < n; i++)
        dst[i] = to_bf16(_cvtsh_ss(src[i]));
}

/* Rows (float32 or float16, `rs` apart) to the bf16 pair layout: SDC_X86_KC values at a time,
 * each row to bf16, then the float32 transpose moves the 32-bit pairs into place. */
static SDC_ALWAYS_INLINE void pack_rows(const void *src, bool f16, int64_t rs, int count, int width,
                                        int64_t kc, int64_t kc_padded, uint16_t *dst)
{
    _Alignas(64) uint16_t rows[SDC_X86_MAX_NR][SDC_X86_KC];
    for (int64_t k0 = 0; k0 < kc_padded; k0 += SDC_X86_KC) {
        int64_t n = kc - k0 < SDC_X86_KC ? kc - k0 : SDC_X86_KC;
        int64_t np = kc_padded - k0 < SDC_X86_KC ? kc_padded - k0 : SDC_X86_KC;
        for (int r = 0; r < width; r++) {
            /* The next sliver's row, for the same reason as in gemm_avx2.c's transpose. */
            size_t esize = f16 ? sizeof(uint16_t) : sizeof(float);
            const char *next = (const char *)src + ((width + r) * rs + k0) * (int64_t)esize;
            for (int64_t b = 0; b < n * (int64_t)esize; b += 64)
                _mm_prefetch(next + b, _MM_HINT_T0);
            if (r < count && n > 0) {
                if (f16)
                    f16_row_to_bf16((const uint16_t *)src + r * rs + k0, rows[r], n);
                else
                    row_to_bf16((const float *)src + r * rs + k0, rows[r], n);
                if (np > n)
                    rows[r][n] = 0;
            } else {
                memset(rows[r], 0, (size_t)np * sizeof(uint16_t));
            }
        }
        sdc_x86_pack_f32((const float *)(const void *)rows, SDC_X86_KC / 2, 1, width, width, np / 2,
                         np / 2, dst + k0 * width);
    }
}

static void pack_f16_rows_bf16(const uint16_t *src, int64_t rs, int count, int width, int64_t kc,
                               int64_t kc_padded, void *dst)
{
    pack_rows(src, true, rs, count, width, kc, kc_padded, dst);
}

/* Lane l of the result: the bf16 pair (p0[l], p1[l]), each rounded to nearest even by
 * VCVTNE2PS2BF16 (which also turns subnormals, below 2^-126, into 0). */
static inline __m512i bf16_pairs(__m512 p0, __m512 p1)
{
    /* VCVTNE2PS2BF16 puts p0 in the low 16 words, p1 in the high 16: interleave them. */
    const __m512i interleave =
        _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(p1, p0));
}

/* dst[k / 2][r][k % 2] = bf16(src[r * rs + k * ks]) over `width` lanes, zero-padded. */
static void pack_bf16(const float *src, int64_t rs, int64_t ks, int count, int width, int64_t kc,
                      int64_t kc_padded, void *dst_)
{
    uint16_t *dst = dst_;
    if (ks == 1 && width <= SDC_X86_MAX_NR) {
        pack_rows(src, false, rs, count, width, kc, kc_padded, dst);
        return;
    }
    if (rs == 1) {
        /* Contiguous lanes: rows k and k + 1 to bf16 together, interleaved into pairs. */
        for (int64_t k = 0; k < kc_padded; k += 2) {
            for (int r0 = 0; r0 < width; r0 += 16) {
                int valid = count - r0 < 0 ? 0 : count - r0 > 16 ? 16 : count - r0;
                __mmask16 m = (__mmask16)((1u << valid) - 1u);
                __m512 a =
                    k < kc ? _mm512_maskz_loadu_ps(m, src + k * ks + r0) : _mm512_setzero_ps();
                __m512 b = k + 1 < kc ? _mm512_maskz_loadu_ps(m, src + (k + 1) * ks + r0)
                                      : _mm512_setzero_ps();
                __m512i ab = bf16_pairs(a, b);
                int room = width - r0 > 16 ? 16 : width - r0;
                __mmask32 store = room == 16 ? 0xFFFFFFFFu : (__mmask32)((1u << (2 * room)) - 1u);
                _mm512_mask_storeu_epi16(dst + k * width + 2 * r0, store, ab);
            }
        }
        return;
    }
    for (int64_t k = 0; k < kc_padded; k++) {
        for (int r = 0; r < width; r++) {
            float v = r < count && k < kc ? src[r * rs + k * ks] : 0.0f;
            dst[(k / 2) * 2 * width + 2 * r + (k & 1)] = to_bf16(v);
        }
    }
}

#define SDC_SOFTMAX_STEP_NAME  sdc_x86_softmax_step_avx512_bf16
#define SDC_SOFTMAX_BF16_PAIRS bf16_pairs
#include "kernels/x86/softmax_avx512.h"

static const sdc_x86_isa isa_avx512_bf16 = {
    .name = "avx512-bf16",
    .mr = MR,
    .nr = NR,
    .kpair = 2,
    .elem = sizeof(uint16_t),
    .ukernel = ukernel_bf16_12x32,
    .ukernel8 = ukernel_bf16_8x32,
    .pack = pack_bf16,
    .pack_f16_rows = pack_f16_rows_bf16,
    .weight_to_f16 = sdc_x86_palette_to_f16_avx512,
    .softmax_step = sdc_x86_softmax_step_avx512_bf16,
};

const sdc_x86_isa *sdc_x86_isa_avx512_bf16(void)
{
    return &isa_avx512_bf16;
}
