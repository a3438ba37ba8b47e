/*
 * Tests the x86 weight packer (sdc_x86_pack_weight in src/kernels/x86/gemm.c) on compressed
 * weights: for every GEMM instruction set this machine runs, packing a palettized (1, 2, 4, 6,
 * 8 bits; F16, BF16 and F32 palettes; one palette per row or per several rows) or int8 weight
 * gives exactly the bytes of packing its sdc_weight_decode output as float32 rows — so the fast
 * decoders (decode.c, decode_avx512.c) are bit-identical to the specification — over awkward row
 * ranges, k blocks (starting at 0, 8, 256), chunk lengths (1, 13, 31, 32, 33, up to 512) and
 * sliver widths (NR, MR, the narrow 8). With SDC_TEST_VERBOSE set, also prints how many values
 * per second the packer reads from an F16 weight, 4-, 6- and 8-bit palettized and int8 ones.
 */
#include "kernels/x86/x86.h"
#include "x86_test.h"

#include <time.h>

typedef struct isa_entry {
    const char *name;
    const sdc_x86_isa *isa;
    sdc_cpu_level level;
} isa_entry;

static int runnable_isas(sdc_context *ctx, isa_entry out[3])
{
    sdc_cpu_level top = sdc_cpu_level_of(sdc_context_cpu(ctx));
    const isa_entry all[3] = {
        {"avx2", sdc_x86_isa_avx2(), SDC_CPU_LEVEL_AVX2},
        {"avx512", sdc_x86_isa_avx512(), SDC_CPU_LEVEL_AVX512},
        {"avx512-bf16", sdc_x86_isa_avx512_bf16(), SDC_CPU_LEVEL_AVX512_BF16},
    };
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (all[i].level <= top)
            out[n++] = all[i];
    return n;
}

/* Index i of a packed row: bits [i * bits, (i + 1) * bits) of its little-endian bit stream. */
static void put_index(uint8_t *row, int bits, int64_t i, unsigned v)
{
    for (int j = 0; j < bits; j++) {
        int64_t bit = i * bits + j;
        if (v >> j & 1u)
            row[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

typedef struct made {
    sdc_weight w;
    void *data, *palette;
    float *scale;
} made;

static made make_palette(test_rng *rng, int bits, sdc_dtype dtype, int64_t rows, int64_t row_len,
                         int64_t rows_per_group)
{
    made m = {0};
    int64_t entries = (int64_t)1 << bits, groups = (rows + rows_per_group - 1) / rows_per_group;
    size_t row_bytes = sdc_palette_row_bytes(bits, row_len);
    /* Exactly the bytes the layout needs: reading past them is an error ASan reports. */
    m.data = calloc((size_t)rows * row_bytes, 1);
    m.palette = calloc((size_t)(groups * entries), sdc_dtype_size(dtype));
    for (int64_t e = 0; e < groups * entries; e++) {
        float v = test_uniform(rng, -2.0f, 2.0f);
        if (dtype == SDC_DTYPE_F32)
            ((float *)m.palette)[e] = v;
        else if (dtype == SDC_DTYPE_F16)
            ((uint16_t *)m.palette)[e] = sdc_f32_to_f16(v);
        else
            ((uint16_t *)m.palette)[e] = sdc_f32_to_bf16(v);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < row_len; i++)
            put_index((uint8_t *)m.data + r * row_bytes, bits, i,
                      (unsigned)(test_rng_next(rng) % (uint64_t)entries));
    int64_t shape[2] = {rows, row_len};
    m.w = sdc_weight_palette(m.data, bits, m.palette, dtype, rows_per_group, 2, shape);
    return m;
}

static made make_int8(test_rng *rng, int64_t rows, int64_t row_len)
{
    made m = {0};
    m.data = calloc((size_t)(rows * row_len), 1);
    m.scale = test_floats(rows);
    for (int64_t r = 0; r < rows; r++)
        m.scale[r] = test_uniform(rng, 0.001f, 0.1f);
    for (int64_t i = 0; i < rows * row_len; i++)
        ((int8_t *)m.data)[i] = (int8_t)((int)(test_rng_next(rng) % 255) - 127);
    int64_t shape[2] = {rows, row_len};
    m.w = sdc_weight_int8(m.data, m.scale, 2, shape);
    return m;
}

static void free_made(made *m)
{
    free(m->data);
    free(m->palette);
    free(m->scale);
}

static void *aligned(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
        exit(2);
    return p;
}

/* Packs rows [i0, i0 + n) x [k0, k0 + kc) of w both ways and compares the bytes. */
static bool same_packing(const isa_entry *e, const sdc_weight *w, int width, int64_t i0, int64_t n,
                         int64_t k0, int64_t kc)
{
    const sdc_x86_isa *isa = e->isa;
    size_t bytes = sdc_x86_sliver_bytes(isa, width, kc);
    unsigned char *got = aligned(bytes), *want = aligned(bytes);
    float *tmp = aligned(SDC_X86_PACK_TMP_BYTES), *rows = test_floats(n * kc);
    memset(got, 0xA5, bytes);
    memset(want, 0x5A, bytes);
    sdc_x86_pack_weight(w, isa, width, i0, n, k0, kc, got, tmp);
    for (int64_t r = 0; r < n; r++)
        sdc_weight_decode(w, i0 + r, k0, kc, rows + r * kc);
    isa->pack(rows, kc, 1, (int)n, width, kc, sdc_x86_kc_padded(isa, kc), want);
    bool same = memcmp(got, want, bytes) == 0;
    free(got);
    free(want);
    free(tmp);
    free(rows);
    return same;
}

/* Every chunk shape of one weight, for one instruction set. */
static void check_weight(const isa_entry *e, const sdc_weight *w, const char *what)
{
    const sdc_x86_isa *isa = e->isa;
    int64_t rows = sdc_weight_rows(w), len = sdc_weight_row_len(w);
    const int widths[3] = {isa->nr, isa->mr, 8};
    static const int64_t k0s[] = {0, 8, 256};
    for (int wi = 0; wi < 3; wi++) {
        int width = widths[wi];
        for (size_t ki = 0; ki < sizeof k0s / sizeof k0s[0]; ki++) {
            int64_t k0 = k0s[ki];
            if (k0 > 0 && k0 >= len)
                continue;
            const int64_t kcs[] = {len - k0, 1, 13, 31, 32, 33, 512};
            for (size_t ci = 0; ci < sizeof kcs / sizeof kcs[0]; ci++) {
                int64_t kc = kcs[ci];
                if (kc > len - k0 || kc > 2 * SDC_X86_KC)
                    continue;
                /* A full sliver from row 0, and a short one ending at the last row. */
                for (int s = 0; s < 2; s++) {
                    int64_t n = s == 0 ? width : width - 2, i0 = s == 0 ? 0 : rows - n;
                    CHECK_MSG(same_packing(e, w, width, i0, n, k0, kc),
                              "%s: %s: rows %lld+%lld, k %lld+%lld, width %d", e->name, what,
                              (long long)i0, (long long)n, (long long)k0, (long long)kc, width);
                }
            }
        }
    }
}

static void test_packing_matches_decode(void)
{
    sdc_context *ctx = test_context(1);
    isa_entry isas[3];
    int n_isas = runnable_isas(ctx, isas);
    if (n_isas == 0)
        fprintf(stderr, "no x86 GEMM instruction set on this CPU (or SDC_CPU_MAX): skipped\n");
    static const int bits[] = {1, 2, 4, 6, 8};
    static const sdc_dtype dtypes[] = {SDC_DTYPE_F16, SDC_DTYPE_BF16, SDC_DTYPE_F32};
    static const int64_t row_lens[] = {1, 13, 32, 33, 300, 600};
    static const int64_t groups[] = {1, 3, 1000};
    const int64_t rows = 45;
    test_rng rng = {77};
    for (int e = 0; e < n_isas; e++) {
        for (size_t li = 0; li < sizeof row_lens / sizeof row_lens[0]; li++) {
            int64_t len = row_lens[li];
            char what[160];
            for (size_t bi = 0; bi < sizeof bits / sizeof bits[0]; bi++)
                for (size_t di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++)
                    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                        made m = make_palette(&rng, bits[bi], dtypes[di], rows, len, groups[gi]);
                        snprintf(what, sizeof what,
                                 "%d-bit indices, %s palette per %lld rows, row length %lld",
                                 bits[bi], sdc_dtype_name(dtypes[di]), (long long)groups[gi],
                                 (long long)len);
                        check_weight(&isas[e], &m.w, what);
                        free_made(&m);
                    }
            made m = make_int8(&rng, rows, len);
            snprintf(what, sizeof what, "int8, row length %lld", (long long)len);
            check_weight(&isas[e], &m.w, what);
            free_made(&m);
        }
    }
    sdc_context_destroy(ctx);
}

/* Million values packed per second, for reports only (not asserted). */
static double pack_rate(const sdc_x86_isa *isa, const sdc_weight *w)
{
    int64_t rows = sdc_weight_rows(w), len = sdc_weight_row_len(w);
    size_t bytes = sdc_x86_sliver_bytes(isa, isa->nr, SDC_X86_KC);
    unsigned char *dst = aligned(bytes);
    float *tmp = aligned(SDC_X86_PACK_TMP_BYTES);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t values = 0;
    for (int rep = 0; rep < 20; rep++)
        for (int64_t i0 = 0; i0 + isa->nr <= rows; i0 += isa->nr)
            for (int64_t k0 = 0; k0 + SDC_X86_KC <= len; k0 += SDC_X86_KC) {
                sdc_x86_pack_weight(w, isa, isa->nr, i0, isa->nr, k0, SDC_X86_KC, dst, tmp);
                values += (int64_t)isa->nr * SDC_X86_KC;
            }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(dst);
    free(tmp);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return (double)values / s * 1e-6;
}

static void test_report_rates(void)
{
    if (!getenv("SDC_TEST_VERBOSE"))
        return;
    sdc_context *ctx = test_context(1);
    isa_entry isas[3];
    int n_isas = runnable_isas(ctx, isas);
    test_rng rng = {5};
    int64_t rows = 640, len = 1280, shape[2] = {rows, len};
    uint16_t *half = calloc((size_t)(rows * len), sizeof(uint16_t));
    for (int64_t i = 0; i < rows * len; i++)
        half[i] = sdc_f32_to_f16(test_uniform(&rng, -1.0f, 1.0f));
    sdc_weight dense = sdc_weight_dense(half, SDC_DTYPE_F16, 2, shape);
    made p4 = make_palette(&rng, 4, SDC_DTYPE_F16, rows, len, rows);
    made p6 = make_palette(&rng, 6, SDC_DTYPE_F16, rows, len, rows);
    made p8 = make_palette(&rng, 8, SDC_DTYPE_F16, rows, len, rows);
    made q8 = make_int8(&rng, rows, len);
    for (int e = 0; e < n_isas; e++)
        printf("%-12s packing, million values/s: f16 %.0f, 4-bit %.0f, 6-bit %.0f, 8-bit %.0f, "
               "int8 %.0f\n",
               isas[e].name, pack_rate(isas[e].isa, &dense), pack_rate(isas[e].isa, &p4.w),
               pack_rate(isas[e].isa, &p6.w), pack_rate(isas[e].isa, &p8.w),
               pack_rate(isas[e].isa, &q8.w));
    fflush(stdout);
    free(half);
    free_made(&p4);
    free_made(&p6);
    free_made(&p8);
    free_made(&q8);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_packing_matches_decode);
    RUN(test_report_rates);
    return test_finish();
}
