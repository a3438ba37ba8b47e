/*
 * weight.c — the stored forms of weights (sdc_weight) and their one decode hook: dense F32/F16/
 * BF16 through core's bit-exact converters, palettized indices looked up in their group's
 * palette, int8 values times their row's scale. Decoding works on any chunk of a row, so
 * kernels hold one decoded tile at a time and never a whole decompressed weight.
 */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

sdc_weight sdc_weight_dense(const void *data, sdc_dtype dtype, int ndim, const int64_t *shape)
{
    sdc_weight w = {.format = SDC_WEIGHT_FORMAT_DENSE, .dtype = dtype, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim && i < SDC_TENSOR_MAX_DIMS; i++)
        w.shape[i] = shape[i];
    return w;
}

sdc_weight sdc_weight_palette(const void *indices, int bits, const void *palette,
                              sdc_dtype palette_dtype, int64_t rows_per_group, int ndim,
                              const int64_t *shape)
{
    sdc_weight w = sdc_weight_dense(indices, palette_dtype, ndim, shape);
    w.format = SDC_WEIGHT_FORMAT_PALETTE;
    w.bits = bits;
    w.palette = palette;
    w.rows_per_group = rows_per_group;
    return w;
}

sdc_weight sdc_weight_int8(const int8_t *values, const float *scale, int ndim, const int64_t *shape)
{
    sdc_weight w = sdc_weight_dense(values, SDC_DTYPE_I8, ndim, shape);
    w.format = SDC_WEIGHT_FORMAT_INT8;
    w.scale = scale;
    return w;
}

int64_t sdc_weight_rows(const sdc_weight *w)
{
    return w->ndim >= 1 ? w->shape[0] : 1;
}

int64_t sdc_weight_row_len(const sdc_weight *w)
{
    int64_t n = 1;
    for (int i = 1; i < w->ndim && i < SDC_TENSOR_MAX_DIMS; i++)
        n *= w->shape[i];
    return n;
}

bool sdc_palette_bits_valid(int bits)
{
    return bits == 1 || bits == 2 || bits == 4 || bits == 6 || bits == 8;
}

size_t sdc_palette_row_bytes(int bits, int64_t row_len)
{
    return (size_t)((row_len * bits + 7) / 8);
}

int64_t sdc_weight_groups(const sdc_weight *w)
{
    if (w->format != SDC_WEIGHT_FORMAT_PALETTE || w->rows_per_group < 1)
        return 1;
    return (sdc_weight_rows(w) + w->rows_per_group - 1) / w->rows_per_group;
}

/* Widens n values of a float dtype to float32. */
static void widen(sdc_dtype dtype, const void *src, float *dst, size_t n)
{
    switch (dtype) {
    case SDC_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case SDC_DTYPE_F16:
        sdc_f16_to_f32_row(src, dst, n);
        break;
    case SDC_DTYPE_BF16:
        sdc_bf16_to_f32_row(src, dst, n);
        break;
    default:
        /* The wrappers refuse other dtypes; a NaN makes a missed check visible. */
        assert(!"sdc_weight_decode: unsupported dtype");
        for (size_t i = 0; i < n; i++)
            dst[i] = NAN;
        break;
    }
}

/* Indices [begin, begin + count) of one packed row, as bytes. */
static void unpack_indices(const uint8_t *row, int bits, int64_t begin, int64_t count, uint8_t *idx)
{
    int64_t i = 0;
    if (bits == 8) {
        memcpy(idx, row + begin, (size_t)count);
        return;
    }
    if (bits == 6) {
        /* Whole groups of four through the group layout, the ragged ends bit by bit. */
        for (; i < count && (begin + i) % 4 != 0; i++) {
            int64_t bit = (begin + i) * 6;
            unsigned v = row[bit / 8] >> (bit % 8);
            if (bit % 8 > 2)
                v |= (unsigned)row[bit / 8 + 1] << (8 - bit % 8);
            idx[i] = (uint8_t)(v & 63u);
        }
        const sdc_palette6_group *g = (const sdc_palette6_group *)(row + (begin + i) / 4 * 3);
        for (; i + 4 <= count; i += 4, g++) {
            idx[i + 0] = (uint8_t)(g->bytes[0] & 63u);
            idx[i + 1] = (uint8_t)((g->bytes[0] >> 6) | ((g->bytes[1] & 15u) << 2));
            idx[i + 2] = (uint8_t)((g->bytes[1] >> 4) | ((g->bytes[2] & 3u) << 4));
            idx[i + 3] = (uint8_t)(g->bytes[2] >> 2);
        }
    }
    /* 1, 2 and 4 bits never straddle a byte; 6-bit tails do. */
    unsigned mask = (1u << bits) - 1u;
    for (; i < count; i++) {
        int64_t bit = (begin + i) * bits;
        unsigned v = row[bit / 8] >> (bit % 8);
        if (bit % 8 + bits > 8)
            v |= (unsigned)row[bit / 8 + 1] << (8 - bit % 8);
        idx[i] = (uint8_t)(v & mask);
    }
}

enum { DECODE_CHUNK = 256 };

static void decode_palette(const sdc_weight *w, int64_t row, int64_t begin, int64_t count,
                           float *dst)
{
    int64_t entries = (int64_t)1 << w->bits;
    int64_t group = row / w->rows_per_group;
    size_t row_bytes = sdc_palette_row_bytes(w->bits, sdc_weight_row_len(w));
    const uint8_t *packed = (const uint8_t *)w->data + (size_t)row * row_bytes;
    size_t entry_size = sdc_dtype_size(w->dtype);
    const unsigned char *pal =
        (const unsigned char *)w->palette + (size_t)(group * entries) * entry_size;
    /* A float32 palette is read in place; a 16-bit one is widened once per call when the
     * chunk is at least as long as the palette, else entry by entry. */
    float widened[1 << SDC_PALETTE_MAX_BITS];
    const float *table = NULL;
    if (w->dtype == SDC_DTYPE_F32) {
        table = (const float *)pal;
    } else if (count >= entries) {
        widen(w->dtype, pal, widened, (size_t)entries);
        table = widened;
    }
    uint8_t idx[DECODE_CHUNK];
    for (int64_t done = 0; done < count; done += DECODE_CHUNK) {
        int64_t n = count - done < DECODE_CHUNK ? count - done : DECODE_CHUNK;
        unpack_indices(packed, w->bits, begin + done, n, idx);
        if (table) {
            for (int64_t i = 0; i < n; i++)
                dst[done + i] = table[idx[i]];
        } else {
            for (int64_t i = 0; i < n; i++)
                widen(w->dtype, pal + idx[i] * entry_size, &dst[done + i], 1);
        }
    }
}

void sdc_weight_decode(const sdc_weight *w, int64_t row, int64_t begin, int64_t count, float *dst)
{
    assert(row >= 0 && row < sdc_weight_rows(w));
    assert(begin >= 0 && count >= 0 && begin + count <= sdc_weight_row_len(w));
    int64_t row_len = sdc_weight_row_len(w);
    switch (w->format) {
    case SDC_WEIGHT_FORMAT_DENSE: {
        size_t offset = (size_t)(row * row_len + begin) * sdc_dtype_size(w->dtype);
        widen(w->dtype, (const unsigned char *)w->data + offset, dst, (size_t)count);
        break;
    }
    case SDC_WEIGHT_FORMAT_PALETTE:
        decode_palette(w, row, begin, count, dst);
        break;
    case SDC_WEIGHT_FORMAT_INT8: {
        const int8_t *q = (const int8_t *)w->data + row * row_len + begin;
        float scale = w->scale[row];
        for (int64_t i = 0; i < count; i++)
            dst[i] = (float)q[i] * scale;
        break;
    }
    default:
        assert(!"sdc_weight_decode: unknown format");
        for (int64_t i = 0; i < count; i++)
            dst[i] = NAN;
        break;
    }
}
