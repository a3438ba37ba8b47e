/*
 * Tests src/kernels/weight.c: palettized (1, 2, 4, 6, 8 bits; F32/F16/BF16 palettes; one or
 * several palette groups) and int8 weights decode exactly to palette[group][index] and
 * (float)q * scale over awkward row chunks, packed here bit by bit from the layout kernels.h
 * documents; linear and conv2d on a compressed weight equal the same ops on its dense float32
 * decode bit for bit; and the wrappers refuse malformed compressed weights.
 */
#include "kernel_test.h"

static const int all_bits[] = {1, 2, 4, 6, 8};

/* Sets index i of a packed row bit by bit: bit j of the index is bit i*bits + j of the row's
 * little-endian bit stream (the definition in kernels.h). */
static void put_index(uint8_t *row, int bits, int64_t i, unsigned v)
{
    for (int j = 0; j < bits; j++) {
        int64_t bit = i * bits + j;
        if (v >> j & 1u)
            row[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

static uint16_t to_half(sdc_dtype dtype, float v)
{
    return dtype == SDC_DTYPE_F16 ? sdc_f32_to_f16(v) : sdc_f32_to_bf16(v);
}

static float from_half(sdc_dtype dtype, uint16_t h)
{
    return dtype == SDC_DTYPE_F16 ? sdc_f16_to_f32(h) : sdc_bf16_to_f32(h);
}

/* A palettized weight [rows, row_len] with random palettes and indices; *exact receives the
 * value each element must decode to. Buffers are freed by free_palettized. */
typedef struct palettized {
    sdc_weight w;
    uint8_t *packed;
    void *palette;
    float *exact;
} palettized;

static palettized make_palettized(test_rng *rng, int bits, sdc_dtype dtype, int64_t rows,
                                  int64_t row_len, int64_t rows_per_group)
{
    palettized p;
    int64_t entries = (int64_t)1 << bits;
    int64_t groups = (rows + rows_per_group - 1) / rows_per_group;
    size_t row_bytes = sdc_palette_row_bytes(bits, row_len);
    CHECK_EQ_INT(row_bytes, (row_len * bits + 7) / 8);
    p.packed = calloc((size_t)rows * row_bytes + 1, 1);
    p.palette = calloc((size_t)(groups * entries), sdc_dtype_size(dtype));
    p.exact = test_floats(rows * row_len);
    float *pal_exact = test_floats(groups * entries);
    for (int64_t e = 0; e < groups * entries; e++) {
        float v = test_uniform(rng, -2.0f, 2.0f);
        if (dtype == SDC_DTYPE_F32) {
            ((float *)p.palette)[e] = v;
            pal_exact[e] = v;
        } else {
            uint16_t h = to_half(dtype, v);
            ((uint16_t *)p.palette)[e] = h;
            pal_exact[e] = from_half(dtype, h);
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < row_len; i++) {
            unsigned idx = (unsigned)(test_rng_next(rng) % (uint64_t)entries);
            put_index(p.packed + r * row_bytes, bits, i, idx);
            p.exact[r * row_len + i] = pal_exact[r / rows_per_group * entries + idx];
        }
    }
    free(pal_exact);
    int64_t shape[2] = {rows, row_len};
    p.w = sdc_weight_palette(p.packed, bits, p.palette, dtype, rows_per_group, 2, shape);
    return p;
}

static void free_palettized(palettized *p)
{
    free(p->packed);
    free(p->palette);
    free(p->exact);
}

/* Decodes every row in chunks of `chunk` values starting at `first` and compares exactly. */
static bool decodes_exactly(const sdc_weight *w, const float *exact, int64_t first, int64_t chunk)
{
    int64_t rows = sdc_weight_rows(w), len = sdc_weight_row_len(w);
    float *got = test_floats(len);
    bool ok = true;
    for (int64_t r = 0; r < rows && ok; r++) {
        for (int64_t b = first; b < len; b += chunk) {
            int64_t n = len - b < chunk ? len - b : chunk;
            sdc_weight_decode(w, r, b, n, got);
            if (memcmp(got, exact + r * len + b, (size_t)n * sizeof(float)) != 0)
                ok = false;
        }
    }
    free(got);
    return ok;
}

static void test_palette_decode_is_exact(void)
{
    static const sdc_dtype dtypes[] = {SDC_DTYPE_F32, SDC_DTYPE_F16, SDC_DTYPE_BF16};
    static const int64_t lens[] = {1, 3, 7, 17, 33, 300, 1023};
    static const int64_t chunks[] = {1, 3, 5, 256, 2000};
    test_rng rng = {1};
    for (size_t b = 0; b < sizeof all_bits / sizeof all_bits[0]; b++)
        for (size_t d = 0; d < 3; d++)
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                int64_t rows = 5, rpg = l % 3 == 0 ? 5 : l % 3 == 1 ? 1 : 2;
                palettized p = make_palettized(&rng, all_bits[b], dtypes[d], rows, lens[l], rpg);
                CHECK_EQ_INT(sdc_weight_groups(&p.w), (rows + rpg - 1) / rpg);
                for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
                    for (int64_t first = 0; first < 3 && first < lens[l]; first++)
                        CHECK_MSG(decodes_exactly(&p.w, p.exact, first, chunks[c]),
                                  "%d-bit %s palette, rows of %lld, %lld rows per group, chunks "
                                  "of %lld from %lld",
                                  all_bits[b], sdc_dtype_name(dtypes[d]), (long long)lens[l],
                                  (long long)rpg, (long long)chunks[c], (long long)first);
                free_palettized(&p);
            }
}

/* The 6-bit group layout as kernels.h spells it out for four known indices. */
static void test_six_bit_layout(void)
{
    uint8_t row[3] = {0};
    put_index(row, 6, 0, 0x15);
    put_index(row, 6, 1, 0x2A);
    put_index(row, 6, 2, 0x33);
    put_index(row, 6, 3, 0x0F);
    CHECK_EQ_INT(row[0], (0x15 | (0x2A << 6)) & 0xFF);
    CHECK_EQ_INT(row[1], ((0x2A >> 2) | (0x33 << 4)) & 0xFF);
    CHECK_EQ_INT(row[2], ((0x33 >> 4) | (0x0F << 2)) & 0xFF);
    float pal[64];
    for (int i = 0; i < 64; i++)
        pal[i] = (float)i;
    int64_t shape[2] = {1, 4};
    sdc_weight w = sdc_weight_palette(row, 6, pal, SDC_DTYPE_F32, 1, 2, shape);
    float got[4];
    sdc_weight_decode(&w, 0, 0, 4, got);
    CHECK(got[0] == 0x15 && got[1] == 0x2A && got[2] == 0x33 && got[3] == 0x0F);
    sdc_weight_decode(&w, 0, 3, 1, got);
    CHECK(got[0] == 0x0F);
}

static void test_int8_decode_is_exact(void)
{
    test_rng rng = {2};
    int64_t rows = 7, len = 333;
    int8_t *q = malloc((size_t)(rows * len));
    float scale[7], *exact = test_floats(rows * len);
    for (int64_t r = 0; r < rows; r++) {
        scale[r] = test_uniform(&rng, 1e-4f, 0.1f);
        for (int64_t i = 0; i < len; i++) {
            q[r * len + i] = (int8_t)((int)(test_rng_next(&rng) % 255) - 127);
            exact[r * len + i] = (float)q[r * len + i] * scale[r];
        }
    }
    int64_t shape[2] = {rows, len};
    sdc_weight w = sdc_weight_int8(q, scale, 2, shape);
    CHECK(decodes_exactly(&w, exact, 0, 256));
    CHECK(decodes_exactly(&w, exact, 1, 7));
    free(q);
    free(exact);
}

/* Ops on a compressed weight give exactly what they give on the dense float32 decode. */
static void test_ops_match_dense_decode(void)
{
    sdc_context *ctx = test_context(2);
    test_rng rng = {3};
    int64_t M = 9, K = 37, N = 11;
    palettized p = make_palettized(&rng, 6, SDC_DTYPE_F16, N, K, 4);
    int64_t xs[2] = {M, K}, ys[2] = {M, N}, ws[2] = {N, K};
    float *x = test_floats(M * K), *y1 = test_floats(M * N), *y2 = test_floats(M * N);
    test_fill(&rng, x, M * K, -1.0f, 1.0f);
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs);
    sdc_tensor ty1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 2, ys);
    sdc_tensor ty2 = sdc_tensor_make(y2, SDC_DTYPE_F32, 2, ys);
    sdc_weight dense = sdc_weight_dense(p.exact, SDC_DTYPE_F32, 2, ws);
    CHECK(sdc_kern_linear(ctx, &tx, &p.w, NULL, &ty1) == SDC_STATUS_OK);
    CHECK(sdc_kern_linear(ctx, &tx, &dense, NULL, &ty2) == SDC_STATUS_OK);
    CHECK(memcmp(y1, y2, (size_t)(M * N) * sizeof(float)) == 0);
    free_palettized(&p);
    free(y1);
    free(y2);

    /* conv2d: int8 weight [O, C, 3, 3] */
    int64_t O = 5, C = 3, H = 6, W = 7;
    int8_t *q = malloc((size_t)(O * C * 9));
    float scale[5], *wexact = test_floats(O * C * 9);
    for (int64_t o = 0; o < O; o++) {
        scale[o] = test_uniform(&rng, 0.001f, 0.02f);
        for (int64_t i = 0; i < C * 9; i++) {
            q[o * C * 9 + i] = (int8_t)((int)(test_rng_next(&rng) % 255) - 127);
            wexact[o * C * 9 + i] = (float)q[o * C * 9 + i] * scale[o];
        }
    }
    int64_t wshape[4] = {O, C, 3, 3}, xshape[4] = {1, C, H, W}, yshape[4] = {1, O, H, W};
    float *cx = test_floats(C * H * W), *cy1 = test_floats(O * H * W),
          *cy2 = test_floats(O * H * W);
    test_fill(&rng, cx, C * H * W, -1.0f, 1.0f);
    sdc_tensor ctx_in = sdc_tensor_make(cx, SDC_DTYPE_F32, 4, xshape);
    sdc_tensor cty1 = sdc_tensor_make(cy1, SDC_DTYPE_F32, 4, yshape);
    sdc_tensor cty2 = sdc_tensor_make(cy2, SDC_DTYPE_F32, 4, yshape);
    sdc_weight wq = sdc_weight_int8(q, scale, 4, wshape);
    sdc_weight wd = sdc_weight_dense(wexact, SDC_DTYPE_F32, 4, wshape);
    sdc_conv2d_params cp = {.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    CHECK(sdc_kern_conv2d(ctx, &ctx_in, &wq, NULL, &cp, &cty1) == SDC_STATUS_OK);
    CHECK(sdc_kern_conv2d(ctx, &ctx_in, &wd, NULL, &cp, &cty2) == SDC_STATUS_OK);
    CHECK(memcmp(cy1, cy2, (size_t)(O * H * W) * sizeof(float)) == 0);
    free(q);
    free(wexact);
    free(cx);
    free(cy1);
    free(cy2);
    free(x);
    sdc_context_destroy(ctx);
}

static void test_wrappers_refuse_malformed_weights(void)
{
    sdc_context *ctx = test_context(1);
    float x[4] = {0}, y[4] = {0}, pal[2] = {0, 1}, scale[2] = {1, 1};
    uint8_t idx[2] = {0};
    int64_t xs[2] = {2, 2}, ws[2] = {2, 2};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs);
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, xs);
    sdc_weight w = sdc_weight_palette(idx, 3, pal, SDC_DTYPE_F32, 1, 2, ws);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED, "linear",
                "3-bit", NULL);
    w = sdc_weight_palette(idx, 1, pal, SDC_DTYPE_I8, 1, 2, ws);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED, "palettized",
                "I8 palette", NULL);
    w = sdc_weight_palette(idx, 1, NULL, SDC_DTYPE_F32, 1, 2, ws);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED, "[2, 2]",
                NULL, NULL);
    w = sdc_weight_palette(idx, 1, pal, SDC_DTYPE_F32, 0, 2, ws);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED,
                "0 rows per group", NULL, NULL);
    w = sdc_weight_int8((const int8_t *)idx, NULL, 2, ws);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED,
                "int8 weight", NULL, NULL);
    w = sdc_weight_int8((const int8_t *)idx, scale, 2, ws);
    w.format = SDC_WEIGHT_FORMAT_COUNT;
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &tx, &w, NULL, &ty), SDC_STATUS_UNSUPPORTED, "format",
                NULL, NULL);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_palette_decode_is_exact);
    RUN(test_six_bit_layout);
    RUN(test_int8_decode_is_exact);
    RUN(test_ops_match_dense_decode);
    RUN(test_wrappers_refuse_malformed_weights);
    return test_finish();
}
