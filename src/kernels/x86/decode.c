/*
 * decode.c — the weight decode hook of the x86 packers: blocks of stored weight rows to float32
 * with F16C (f16) and AVX2 shifts (bf16), palette indices through a float32 table, int8 values
 * widened and scaled eight at a time; one decoder per sdc_weight_format (the AVX-512
 * instruction sets read F16 palettes faster still, as float16, through decode_avx512.c). A
 * format without a fast decoder here is decoded row by row by sdc_weight_decode
 * (kernels/dispatch.c), the specification of every format; results are bit-identical to it
 * either way.
 */
#include "kernels/x86/x86.h"

#include <immintrin.h>
#include <string.h>

typedef void (*decode_fn)(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0, int64_t kc,
                          float *dst, int64_t ld);

static void f16_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = _cvtsh_ss(src[i]);
}

static void bf16_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
    }
    for (; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}

static void decode_dense(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0, int64_t kc,
                         float *dst, int64_t ld)
{
    int64_t row_len = sdc_weight_row_len(w);
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t offset = (row0 + r) * row_len + k0;
        float *d = dst + r * ld;
        switch (w->dtype) {
        case SDC_DTYPE_F32:
            memcpy(d, (const float *)w->data + offset, (size_t)kc * sizeof(float));
            break;
        case SDC_DTYPE_F16:
            f16_row((const uint16_t *)w->data + offset, d, kc);
            break;
        case SDC_DTYPE_BF16:
            bf16_row((const uint16_t *)w->data + offset, d, kc);
            break;
        default:
            sdc_weight_decode(w, row0 + r, k0, kc, d);
            break;
        }
    }
}

/* Palettized rows of 4, 6 or 8 bits (the instruction sets without a faster decoder): the row
 * group's palette widened to float32 once per group, then one table lookup per value, 6-bit
 * indices read four at a time from their three bytes (the layout of sdc_palette6_group). Other
 * bit widths, and chunks not starting on a byte boundary, go through sdc_weight_decode. */
static void decode_palette(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0,
                           int64_t kc, float *dst, int64_t ld)
{
    int bits = w->bits;
    if ((bits != 4 && bits != 6 && bits != 8) || k0 % 8 != 0 || w->rows_per_group < 1 ||
        (w->dtype != SDC_DTYPE_F16 && w->dtype != SDC_DTYPE_F32 && w->dtype != SDC_DTYPE_BF16)) {
        for (int64_t r = 0; r < n_rows; r++)
            sdc_weight_decode(w, row0 + r, k0, kc, dst + r * ld);
        return;
    }
    int64_t row_len = sdc_weight_row_len(w), entries = (int64_t)1 << bits;
    size_t row_bytes = sdc_palette_row_bytes(bits, row_len);
    size_t entry = sdc_dtype_size(w->dtype);
    _Alignas(32) float table[256];
    int64_t group = -1;
    int64_t whole = bits == 6 ? kc / 4 * 4 : bits == 4 ? kc / 2 * 2 : kc;
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t row = row0 + r;
        if (row / w->rows_per_group != group) {
            group = row / w->rows_per_group;
            const unsigned char *pal =
                (const unsigned char *)w->palette + (size_t)(group * entries) * entry;
            if (w->dtype == SDC_DTYPE_F32)
                memcpy(table, pal, (size_t)entries * sizeof(float));
            else if (w->dtype == SDC_DTYPE_F16)
                f16_row((const uint16_t *)(const void *)pal, table, entries);
            else
                bf16_row((const uint16_t *)(const void *)pal, table, entries);
        }
        const uint8_t *g = (const uint8_t *)w->data + (size_t)row * row_bytes + k0 * bits / 8;
        float *d = dst + r * ld;
        if (bits == 6) {
            for (int64_t i = 0; i < whole; i += 4, g += 3) {
                uint32_t v = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
                d[i] = table[v & 63u];
                d[i + 1] = table[(v >> 6) & 63u];
                d[i + 2] = table[(v >> 12) & 63u];
                d[i + 3] = table[v >> 18];
            }
        } else if (bits == 4) {
            for (int64_t i = 0; i < whole; i += 2, g++) {
                d[i] = table[*g & 15u];
                d[i + 1] = table[*g >> 4];
            }
        } else {
            for (int64_t i = 0; i < whole; i++)
                d[i] = table[g[i]];
        }
        if (whole < kc)
            sdc_weight_decode(w, row, k0 + whole, kc - whole, d + whole);
    }
}

/* int8 rows: eight values widened to int32, converted (exactly) and multiplied by the row's
 * scale, the one float32 rounding sdc_weight_decode makes. */
static void decode_int8(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0, int64_t kc,
                        float *dst, int64_t ld)
{
    int64_t row_len = sdc_weight_row_len(w);
    for (int64_t r = 0; r < n_rows; r++) {
        const int8_t *q = (const int8_t *)w->data + (row0 + r) * row_len + k0;
        float scale = w->scale[row0 + r];
        __m256 vs = _mm256_set1_ps(scale);
        float *d = dst + r * ld;
        int64_t i = 0;
        for (; i + 8 <= kc; i += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i)));
            _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vs));
        }
        for (; i < kc; i++)
            d[i] = (float)q[i] * scale;
    }
}

/* Formats missing here fall back to sdc_weight_decode. */
static const decode_fn decoders[SDC_WEIGHT_FORMAT_COUNT] = {
    [SDC_WEIGHT_FORMAT_DENSE] = decode_dense,
    [SDC_WEIGHT_FORMAT_PALETTE] = decode_palette,
    [SDC_WEIGHT_FORMAT_INT8] = decode_int8,
};

void sdc_x86_decode_rows(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0, int64_t kc,
                         float *dst, int64_t ld)
{
    if ((unsigned)w->format < SDC_WEIGHT_FORMAT_COUNT && decoders[w->format]) {
        decoders[w->format](w, row0, n_rows, k0, kc, dst, ld);
        return;
    }
    for (int64_t r = 0; r < n_rows; r++)
        sdc_weight_decode(w, row0 + r, k0, kc, dst + r * ld);
}
