/*
 * decode_avx512.c — palettized weights with a float16 palette read as float16 rows, 32 indices
 * per step: the indices are cut out of their bit stream with a dword permute, a byte shuffle and
 * per-lane shifts, and looked up in the palette held in registers with VPERMW / VPERMT2W (a
 * 16-, 64- or 256-entry table: 4, 6 or 8 bits). The packers then convert the float16 rows with
 * F16C as they do for weights stored as F16, so a palettized weight costs about what an F16
 * one does. The values are the palette entries themselves, so the result is bit-identical to
 * sdc_weight_decode. Compiled with -mavx512f -mavx512bw -mavx512vl.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>

/* Index lanes for 6-bit indices: lane L (128 bits) of the dword permute holds the bytes from
 * 4 * {0, 1, 3, 4}[L] on, so that the eight indices 8L..8L+7 (bytes 6L..6L+5) lie at byte
 * offset {0, 2, 0, 2}[L] of it; index j of the lane sits at bit 6j from there. */
static const int32_t six_dwords[16] = {0, 1, 2, 3, 1, 2, 3, 4, 3, 4, 5, 6, 4, 5, 6, 7};

/* Per 16-bit lane j (of each 128-bit lane with byte offset o): bytes o + 6j/8 and the next. */
#define SIX_BYTES(o)                                                                               \
    (o) + 0, (o) + 1, (o) + 0, (o) + 1, (o) + 1, (o) + 2, (o) + 2, (o) + 3, (o) + 3, (o) + 4,      \
        (o) + 3, (o) + 4, (o) + 4, (o) + 5, (o) + 5, (o) + 6
static const int8_t six_bytes[64] = {SIX_BYTES(0), SIX_BYTES(2), SIX_BYTES(0), SIX_BYTES(2)};
#undef SIX_BYTES
/* ... and the shift 6j % 8 that brings index j to bit 0. */
static const int16_t six_shifts[32] = {0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2,
                                       0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2};

/* The 2^bits float16 entries of one palette group in registers. */
typedef struct palette_regs {
    __m512i t[8];
} palette_regs;

static void load_palette(const uint16_t *pal, int bits, palette_regs *p)
{
    if (bits == 4) {
        p->t[0] = _mm512_maskz_loadu_epi16(0xFFFF, pal);
        return;
    }
    for (int i = 0; i < (1 << bits) / 32; i++)
        p->t[i] = _mm512_loadu_si512((const void *)(pal + 32 * i));
}

/* The 32 indices starting at index i0 of a packed row (i0 a multiple of 8, so that they start on
 * a byte boundary), as 16-bit lanes. Only the bytes of `count` indices are read. */
static SDC_ALWAYS_INLINE __m512i indices(const uint8_t *row, int bits, int64_t i0, int count)
{
    const uint8_t *src = row + i0 * bits / 8;
    int bytes = (count * bits + 7) / 8;
    __mmask64 m = bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
    __m512i raw = _mm512_maskz_loadu_epi8(m, src);
    if (bits == 8)
        return _mm512_cvtepu8_epi16(_mm512_castsi512_si256(raw));
    if (bits == 4) {
        /* byte b holds indices 2b (low nibble) and 2b + 1: one dword per byte, the two
         * nibbles moved to its 16-bit halves. */
        __m512i b = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(raw));
        __m512i lo = _mm512_and_si512(b, _mm512_set1_epi32(0xF));
        __m512i hi = _mm512_slli_epi32(_mm512_srli_epi32(b, 4), 16);
        return _mm512_or_si512(lo, hi);
    }
    /* 6 bits */
    __m512i d = _mm512_permutexvar_epi32(_mm512_loadu_si512((const void *)six_dwords), raw);
    __m512i w = _mm512_shuffle_epi8(d, _mm512_loadu_si512((const void *)six_bytes));
    w = _mm512_srlv_epi16(w, _mm512_loadu_si512((const void *)six_shifts));
    return _mm512_and_si512(w, _mm512_set1_epi16(63));
}

/* The palette entries of 32 indices. */
static SDC_ALWAYS_INLINE __m512i lookup(const palette_regs *p, int bits, __m512i idx)
{
    if (bits == 4)
        return _mm512_permutexvar_epi16(idx, p->t[0]);
    if (bits == 6)
        return _mm512_permutex2var_epi16(p->t[0], idx, p->t[1]);
    /* 8 bits: four 64-entry lookups, chosen by bits 6 and 7. */
    __mmask32 b6 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(64));
    __mmask32 b7 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(128));
    __m512i r0 = _mm512_permutex2var_epi16(p->t[0], idx, p->t[1]);
    __m512i r1 = _mm512_permutex2var_epi16(p->t[2], idx, p->t[3]);
    __m512i r2 = _mm512_permutex2var_epi16(p->t[4], idx, p->t[5]);
    __m512i r3 = _mm512_permutex2var_epi16(p->t[6], idx, p->t[7]);
    __m512i lo = _mm512_mask_blend_epi16(b6, r0, r1);
    __m512i hi = _mm512_mask_blend_epi16(b6, r2, r3);
    return _mm512_mask_blend_epi16(b7, lo, hi);
}

static SDC_ALWAYS_INLINE void decode(const sdc_weight *w, const int bits, int64_t row0,
                                     int64_t n_rows, int64_t k0, int64_t kc, uint16_t *dst,
                                     int64_t ld)
{
    int64_t row_len = sdc_weight_row_len(w);
    size_t row_bytes = sdc_palette_row_bytes(bits, row_len);
    int64_t entries = (int64_t)1 << bits;
    palette_regs p;
    int64_t group = row0 / w->rows_per_group;
    load_palette((const uint16_t *)w->palette + group * entries, bits, &p);
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t row = row0 + r;
        if (row / w->rows_per_group != group) {
            group = row / w->rows_per_group;
            load_palette((const uint16_t *)w->palette + group * entries, bits, &p);
        }
        const uint8_t *src = (const uint8_t *)w->data + (size_t)row * row_bytes;
        uint16_t *d = dst + r * ld;
        for (int64_t k = 0; k < kc; k += 32) {
            int count = kc - k < 32 ? (int)(kc - k) : 32;
            __m512i v = lookup(&p, bits, indices(src, bits, k0 + k, count));
            __mmask32 m = count == 32 ? ~(__mmask32)0 : (((__mmask32)1 << count) - 1);
            _mm512_mask_storeu_epi16(d + k, m, v);
        }
    }
}

bool sdc_x86_palette_to_f16_avx512(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0,
                                   int64_t kc, uint16_t *dst, int64_t ld)
{
    if (w->format != SDC_WEIGHT_FORMAT_PALETTE || w->dtype != SDC_DTYPE_F16 ||
        w->rows_per_group < 1 || k0 % 8 != 0)
        return false;
    switch (w->bits) {
    case 4:
        decode(w, 4, row0, n_rows, k0, kc, dst, ld);
        return true;
    case 6:
        decode(w, 6, row0, n_rows, k0, kc, dst, ld);
        return true;
    case 8:
        decode(w, 8, row0, n_rows, k0, kc, dst, ld);
        return true;
    default:
        return false;
    }
}
