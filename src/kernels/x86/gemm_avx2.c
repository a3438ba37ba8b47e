/*
 * gemm_avx2.c — the AVX2 + FMA micro-kernel (6 x 16: twelve ymm accumulators, two B vectors, one
 * broadcast) and the float32 packing primitive shared with the AVX-512 ISA. Compiled with
 * -mavx2 -mfma -mf16c; only called when the CPU has them.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>
#include <string.h>

enum { MR = 6, NR = 16 };

/* The mask of the first n (0..8) lanes. */
static __m256i lanes(int n)
{
    static const int32_t ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(ramp + 8 - n));
}

/* Stores the first n (0..8) lanes of v: plain stores of 4, 2 and 1 lanes (VMASKMOVPS stores are
 * slow on AMD cores). */
static inline void store_lanes(float *d, __m256 v, int n)
{
    if (n >= 8) {
        _mm256_storeu_ps(d, v);
        return;
    }
    __m128 x = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(d, x);
        x = _mm256_extractf128_ps(v, 1);
        d += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)(void *)d, x);
        x = _mm_movehl_ps(x, x);
        d += 2;
        n -= 2;
    }
    if (n > 0)
        _mm_store_ss(d, x);
}

static void ukernel_6x16(int64_t kc, const void *a_, const void *b_, float *c, int64_t ldc, int mr,
                         int nr, bool load_c, const float *bias_m, const float *bias_n)
{
    const float *a = a_, *b = b_;
    __m256 acc[MR][2];
    SDC_UNROLL
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        SDC_UNROLL
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    __m256 bn0 = _mm256_setzero_ps(), bn1 = _mm256_setzero_ps();
    __m256i m0 = lanes(nr >= 8 ? 8 : nr), m1 = lanes(nr > 8 ? nr - 8 : 0);
    if (bias_n) {
        bn0 = _mm256_maskload_ps(bias_n, m0);
        bn1 = _mm256_maskload_ps(bias_n + 8, m1);
    }
    SDC_UNROLL
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        float *ci = c + i * ldc;
        __m256 v0 = _mm256_add_ps(acc[i][0], bn0), v1 = _mm256_add_ps(acc[i][1], bn1);
        if (bias_m) {
            __m256 bm = _mm256_set1_ps(bias_m[i]);
            v0 = _mm256_add_ps(v0, bm);
            v1 = _mm256_add_ps(v1, bm);
        }
        if (nr == NR) {
            if (load_c) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
            }
            _mm256_storeu_ps(ci, v0);
            _mm256_storeu_ps(ci + 8, v1);
        } else {
            if (load_c) {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, m0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, m1));
            }
            _mm256_maskstore_ps(ci, m0, v0);
            _mm256_maskstore_ps(ci + 8, m1, v1);
        }
    }
}

/* dst[k][r] = value k of row r (src rows `rs` apart, float32 or float16) for k in [0, kc), r in
 * [0, width): 8 x 8 blocks transposed in registers, rows past count read as zeros. */
static SDC_ALWAYS_INLINE void transpose_rows(const void *src, bool f16, int64_t rs, int count,
                                             int width, int64_t kc, float *dst)
{
    const float *s32 = src;
    const uint16_t *s16 = src;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int r0 = 0; r0 < width; r0 += 8) {
            __m256 t[8], u[8];
            /* The rows after this sliver's are usually the next sliver's: fetch their line of
             * these k values now (a prefetch past the data is harmless), as short strided rows
             * give the hardware prefetcher too little to go on. */
            if (k % (f16 ? 32 : 16) == 0)
                for (int i = 0; i < 8; i++)
                    _mm_prefetch(f16 ? (const char *)(s16 + (width + r0 + i) * rs + k)
                                     : (const char *)(s32 + (width + r0 + i) * rs + k),
                                 _MM_HINT_T0);
            for (int i = 0; i < 8; i++) {
                if (r0 + i >= count)
                    t[i] = _mm256_setzero_ps();
                else if (f16)
                    t[i] = _mm256_cvtph_ps(
                        _mm_loadu_si128((const __m128i *)(s16 + (r0 + i) * rs + k)));
                else
                    t[i] = _mm256_loadu_ps(s32 + (r0 + i) * rs + k);
            }
            for (int i = 0; i < 4; i++) {
                u[2 * i] = _mm256_unpacklo_ps(t[2 * i], t[2 * i + 1]);
                u[2 * i + 1] = _mm256_unpackhi_ps(t[2 * i], t[2 * i + 1]);
            }
            for (int i = 0; i < 2; i++) {
                int j = 4 * i;
                t[j] = _mm256_shuffle_ps(u[j], u[j + 2], 0x44);
                t[j + 1] = _mm256_shuffle_ps(u[j], u[j + 2], 0xEE);
                t[j + 2] = _mm256_shuffle_ps(u[j + 1], u[j + 3], 0x44);
                t[j + 3] = _mm256_shuffle_ps(u[j + 1], u[j + 3], 0xEE);
            }
            for (int i = 0; i < 4; i++) {
                u[i] = _mm256_permute2f128_ps(t[i], t[i + 4], 0x20);
                u[i + 4] = _mm256_permute2f128_ps(t[i], t[i + 4], 0x31);
            }
            int room = width - r0;
            for (int i = 0; i < 8; i++)
                store_lanes(dst + (k + i) * width + r0, u[i], room);
        }
    }
    for (; k < kc; k++)
        for (int r = 0; r < width; r++)
            dst[k * width + r] = r >= count ? 0.0f
                                 : f16      ? _cvtsh_ss(s16[r * rs + k])
                                            : s32[r * rs + k];
}

/* dst[k][r] = src[r * rs + k * ks] over `width` lanes, zero-padded. */
static void pack_f32(const float *src, int64_t rs, int64_t ks, int count, int width, int64_t kc,
                     int64_t kc_padded, void *dst_)
{
    float *dst = dst_;
    if (rs == 1) {
        /* Contiguous lanes: a (masked) copy per k. */
        for (int64_t k = 0; k < kc; k++) {
            const float *s = src + k * ks;
            float *d = dst + k * width;
            for (int r = 0; r < width; r += 8) {
                int valid = count - r < 0 ? 0 : count - r > 8 ? 8 : count - r;
                int room = width - r > 8 ? 8 : width - r;
                __m256 v =
                    valid == 8 ? _mm256_loadu_ps(s + r) : _mm256_maskload_ps(s + r, lanes(valid));
                store_lanes(d + r, v, room);
            }
        }
    } else if (ks == 1) {
        transpose_rows(src, false, rs, count, width, kc, dst);
    } else {
        for (int64_t k = 0; k < kc; k++) {
            float *d = dst + k * width;
            for (int r = 0; r < count; r++)
                d[r] = src[r * rs + k * ks];
            for (int r = count; r < width; r++)
                d[r] = 0.0f;
        }
    }
    if (kc_padded > kc)
        memset(dst + kc * width, 0, (size_t)(kc_padded - kc) * (size_t)width * sizeof(float));
}

void sdc_x86_pack_f32(const float *src, int64_t rs, int64_t ks, int count, int width, int64_t kc,
                      int64_t kc_padded, void *dst)
{
    pack_f32(src, rs, ks, count, width, kc, kc_padded, dst);
}

void sdc_x86_pack_f16_rows_f32(const uint16_t *src, int64_t rs, int count, int width, int64_t kc,
                               int64_t kc_padded, void *dst_)
{
    float *dst = dst_;
    transpose_rows(src, true, rs, count, width, kc, dst);
    if (kc_padded > kc)
        memset(dst + kc * width, 0, (size_t)(kc_padded - kc) * (size_t)width * sizeof(float));
}

static const sdc_x86_isa isa_avx2 = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .kpair = 1,
    .elem = sizeof(float),
    .ukernel = ukernel_6x16,
    .pack = pack_f32,
    .pack_f16_rows = sdc_x86_pack_f16_rows_f32,
    .softmax_step = sdc_x86_softmax_step_avx2,
};

const sdc_x86_isa *sdc_x86_isa_avx2(void)
{
    return &isa_avx2;
}
