/*
 * Tests src/convert/component.c with src/io/compressed.c and the store's compressed entries, on
 * the real TAEF2 decoder (a part of it for the round trips): a component written dense (f32, f16,
 * bf16), palettized (1 to 6 bits, one palette or groups of rows) or int8 reads back with every
 * tensor equal to the source or within its stated quantization error (nearest palette entry of
 * its group; half an int8 step);
 * which tensors are compressed; the file is byte-identical on rerun whatever the thread count;
 * sdc_tensor_file lists compressed weights once with their storage; the compressed model runs;
 * and malformed descriptors are refused naming the weight.
 */
#include "convert_test.h"

#include <stdio.h>

#define DECODER SDC_TEST_DATA_DIR "/taesd/taef2_decoder.safetensors"

static sdc_context *ctx;
static sdc_store *decoder; /* the whole TAEF2 decoder */
static sdc_store *source;  /* a part of it: conv_in, block 3 (with its GroupNorm pool branch),
                              the first upsampling conv and conv_out; the round trips run on it */

/* The part of the decoder the round trips use, so the sanitizer pass stays quick. */
static sdc_status make_source(void)
{
    static const char *const prefixes[] = {"1.", "3.", "7.", "19."};
    sdc_status st = sdc_store_create(ctx, "part of taef2_decoder", &source);
    if (st == SDC_STATUS_OK)
        st = sdc_store_add_file(source, decoder->files[0]);
    for (size_t i = 0; i < decoder->n_entries && st == SDC_STATUS_OK; i++)
        for (size_t k = 0; k < 4; k++)
            if (strncmp(decoder->entries[i].name, prefixes[k], strlen(prefixes[k])) == 0)
                st = sdc_store_add(source, decoder->entries[i].name, decoder->entries[i].tensor,
                                   SDC_STORE_TRANSFORM_NONE, 0, 0);
    return st == SDC_STATUS_OK ? sdc_store_finish(source) : st;
}

static sdc_component_policy policy(sdc_dtype dtype, sdc_compression c, int bits, int64_t groups)
{
    return (sdc_component_policy){.dtype = dtype,
                                  .compression = c,
                                  .bits = bits,
                                  .palette_groups = groups,
                                  .min_elements = 2048};
}

/* Writes the decoder with `p`, reopens it and compares every tensor with the source. */
static void round_trip(const char *file, sdc_component_policy p)
{
    const char *path = test_tmp_path(file);
    sdc_component_summary sum;
    sdc_status st = sdc_convert_component(ctx, source, "taesd_decoder", &p, path, &sum);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", file, sdc_context_errmsg(ctx));
    sdc_store *back = NULL;
    if (st != SDC_STATUS_OK || sdc_store_open_file(ctx, path, &back) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: %s", file, sdc_context_errmsg(ctx));
        return;
    }
    CHECK_EQ_INT(back->n_entries, source->n_entries);
    CHECK_EQ_INT(sum.n_tensors, source->n_entries);
    size_t compressed = 0, bad = 0;
    for (size_t i = 0; i < source->n_entries && i < back->n_entries; i++) {
        const sdc_store_entry *a = &source->entries[i], *b = &back->entries[i];
        int bits;
        compressed += sdc_convert_compressible(&p, a, &bits);
        if (!ct_entry_reads_back(source, a, back, b, &p) && bad++ == 0)
            CHECK_MSG(false, "%s: tensor '%s' does not read back as stated", file, a->name);
    }
    CHECK_MSG(bad == 0, "%s: %zu tensors differ", file, bad);
    CHECK_EQ_INT(sum.n_palettized + sum.n_int8, compressed);
    CHECK(p.compression == SDC_COMPRESSION_NONE || compressed == 7);
    sdc_store_destroy(back);
}

static void test_round_trips(void)
{
    round_trip("f32.safetensors", policy(SDC_DTYPE_F32, SDC_COMPRESSION_NONE, 0, 1));
    round_trip("f16.safetensors", policy(SDC_DTYPE_F16, SDC_COMPRESSION_NONE, 0, 1));
    round_trip("bf16.safetensors", policy(SDC_DTYPE_BF16, SDC_COMPRESSION_NONE, 0, 1));
    static const int bits[] = {1, 6}; /* 8 bits: test_bundle.c; 2 and 4: with groups below */
    for (int b = 0; b < 2; b++) {
        char name[32];
        snprintf(name, sizeof name, "p%d.safetensors", bits[b]);
        round_trip(name, policy(SDC_DTYPE_F16, SDC_COMPRESSION_PALETTE, bits[b], 1));
    }
    round_trip("p4g.safetensors", policy(SDC_DTYPE_F32, SDC_COMPRESSION_PALETTE, 4, 5));
    round_trip("p2bf.safetensors", policy(SDC_DTYPE_BF16, SDC_COMPRESSION_PALETTE, 2, 64));
    round_trip("int8.safetensors", policy(SDC_DTYPE_F16, SDC_COMPRESSION_INT8, 8, 1));
}

static bool same_bytes(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = sdc_file_read_all(ctx, a, &x, &nx) == SDC_STATUS_OK &&
                sdc_file_read_all(ctx, b, &y, &ny) == SDC_STATUS_OK && nx == ny &&
                memcmp(x, y, nx) == 0;
    sdc_free(ctx, x);
    sdc_free(ctx, y);
    return same;
}

static void test_byte_identical_reruns(void)
{
    sdc_context_params cp = sdc_context_default_params();
    cp.n_threads = 1;
    sdc_context *one = NULL;
    if (sdc_context_create(&cp, &one) != SDC_STATUS_OK)
        return;
    sdc_component_policy p = policy(SDC_DTYPE_F16, SDC_COMPRESSION_PALETTE, 6, 2);
    sdc_component_summary s1, s2;
    const char *a = test_tmp_path("rerun_a.safetensors"), *b = test_tmp_path("rerun_b.safetensors");
    CHECK(sdc_convert_component(ctx, source, "x", &p, a, &s1) == SDC_STATUS_OK);
    CHECK(sdc_convert_component(one, source, "x", &p, b, &s2) == SDC_STATUS_OK);
    CHECK(same_bytes(a, b));
    CHECK(s1.file_bytes == s2.file_bytes && s1.bytes == s2.bytes);
    sdc_context_destroy(one);
}

/* The public tensor-file listing shows a compressed weight once, with its storage. */
static void test_tensor_file_listing(void)
{
    const char *path = test_tmp_path("p6.safetensors");
    sdc_component_policy p = policy(SDC_DTYPE_F16, SDC_COMPRESSION_PALETTE, 6, 1);
    sdc_component_summary sum;
    CHECK(sdc_convert_component(ctx, source, "taesd_decoder", &p, path, &sum) == SDC_STATUS_OK);
    sdc_tensor_file *f = NULL;
    if (sdc_tensor_file_open(ctx, path, &f) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    CHECK_EQ_INT(sdc_tensor_file_count(f), source->n_entries);
    bool found_palette = false, found_dense = false;
    for (size_t i = 0; i < sdc_tensor_file_count(f); i++) {
        sdc_tensor_info t;
        CHECK(sdc_tensor_file_info(f, i, &t) == SDC_STATUS_OK);
        if (strcmp(t.name, "3.conv.0.weight") == 0) {
            found_palette = true;
            CHECK_EQ_STR(t.storage, "palette");
            CHECK_EQ_INT(t.bits, 6);
            CHECK_EQ_INT(t.palette_size, 64);
            CHECK_EQ_INT(t.palette_groups, 1);
            CHECK_EQ_STR(t.dtype, "F16");
            CHECK(t.ndim == 4 && t.shape[0] == 64 && t.shape[1] == 64 && t.shape[3] == 3);
            CHECK_EQ_INT(t.nbytes, 64 * 64 * 9 * 6 / 8 + 64 * 2);
            CHECK(fabs(t.bits_per_weight - 8.0 * (double)t.nbytes / 36864.0) < 1e-12);
            CHECK_EQ_INT(t.offset % 64, 0);
        }
        if (strcmp(t.name, "3.conv.0.bias") == 0) {
            found_dense = true;
            CHECK_EQ_STR(t.storage, "dense");
            CHECK_EQ_INT(t.bits, 16);
        }
    }
    CHECK(found_palette && found_dense);
    const char *k, *v;
    CHECK(sdc_tensor_file_metadata(f, sdc_tensor_file_metadata_count(f) - 1, &k, &v) ==
          SDC_STATUS_OK);
    sdc_tensor_file_close(f);
}

/* The 6-bit decoder runs on its compressed weights: close to the golden output. */
static void test_compressed_model_runs(void)
{
    const char *path = test_tmp_path("p6_run.safetensors");
    sdc_component_policy p = policy(SDC_DTYPE_F16, SDC_COMPRESSION_PALETTE, 6, 1);
    sdc_component_summary sum;
    CHECK(sdc_convert_component(ctx, decoder, "taesd_decoder", &p, path, &sum) == SDC_STATUS_OK);
    mt_array latent, ref;
    sdc_store *store = NULL;
    sdc_taesd *t = NULL;
    if (!mt_read_npy(ctx, SDC_TEST_DATA_DIR "/taesd/taef2_enc_out_1x32x8x8.npy", &latent) ||
        !mt_read_npy(ctx, SDC_TEST_DATA_DIR "/taesd/taef2_dec_out_1x3x64x64.npy", &ref) ||
        sdc_store_open_file(ctx, path, &store) != SDC_STATUS_OK ||
        sdc_taesd_load(ctx, NULL, store, &t) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    mt_array got = mt_array4(ctx, 1, 3, 64, 64);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    CHECK(sdc_taesd_decode(ctx, t, &scratch, &latent.t, &got.t) == SDC_STATUS_OK);
    double psnr = sdc_psnr(ref.data, got.data, 3 * 64 * 64);
    CHECK_MSG(psnr > 35.0, "6-bit decoder on the 8 x 8 golden latent: %.2f dB", psnr);
    sdc_arena_release(&scratch);
    sdc_taesd_destroy(t);
    mt_array_free(&got);
    mt_array_free(&ref);
    mt_array_free(&latent);
}

/* A file with one compressed weight "w" [4, 8] whose descriptor and parts are given. */
static sdc_status open_crafted(const char *desc, sdc_dtype idx_dtype, int64_t idx_cols,
                               int64_t pal_rows)
{
    static uint8_t idx[4 * 8];
    static uint16_t pal[4 * 256];
    sdc_st_entry e[2] = {
        {.name = "w.indices", .dtype = idx_dtype, .ndim = 2, .shape = {4, idx_cols}, .data = idx},
        {.name = "w.palette",
         .dtype = SDC_DTYPE_F16,
         .ndim = 2,
         .shape = {pal_rows, 4},
         .data = pal},
    };
    sdc_st_kv meta[1] = {{.key = SDC_ST_COMPRESSED_PREFIX "w", .value = desc}};
    const char *path = test_tmp_path("crafted.safetensors");
    sdc_status st = sdc_st_write(ctx, path, e, 2, meta, 1);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_store *s = NULL;
    st = sdc_store_open_file(ctx, path, &s);
    if (st == SDC_STATUS_OK) {
        const sdc_store_entry *w = sdc_store_find(s, "w");
        CHECK(w && w->storage == SDC_ST_STORAGE_PALETTE && s->n_entries == 1);
    }
    sdc_store_destroy(s);
    return st;
}

static void test_malformed_descriptors(void)
{
    const char *good = "{\"storage\": \"palette\", \"bits\": 2, \"shape\": [4, 8], "
                       "\"rows_per_group\": 2}";
    CHECK(open_crafted(good, SDC_DTYPE_U8, 2, 2) == SDC_STATUS_OK);
    MT_CHECK_ERROR(ctx, open_crafted(good, SDC_DTYPE_U8, 3, 2), SDC_STATUS_FORMAT, "'w'",
                   "w.indices");
    MT_CHECK_ERROR(ctx, open_crafted(good, SDC_DTYPE_I8, 2, 2), SDC_STATUS_FORMAT, "expected U8",
                   NULL);
    MT_CHECK_ERROR(ctx, open_crafted(good, SDC_DTYPE_U8, 2, 1), SDC_STATUS_FORMAT, "w.palette",
                   "[2, 4]");
    MT_CHECK_ERROR(ctx,
                   open_crafted("{\"storage\": \"palette\", \"bits\": 3, \"shape\": [4, 8], "
                                "\"rows_per_group\": 2}",
                                SDC_DTYPE_U8, 2, 2),
                   SDC_STATUS_FORMAT, "3-bit", NULL);
    MT_CHECK_ERROR(ctx,
                   open_crafted("{\"storage\": \"lut\", \"shape\": [4, 8]}", SDC_DTYPE_U8, 2, 2),
                   SDC_STATUS_UNSUPPORTED, "\"lut\"", NULL);
    MT_CHECK_ERROR(ctx, open_crafted("{\"storage\": \"palette\", \"bits\": 2}", SDC_DTYPE_U8, 2, 2),
                   SDC_STATUS_FORMAT, "\"shape\"", NULL);
    MT_CHECK_ERROR(ctx,
                   open_crafted("{\"storage\": \"palette\", \"bits\": 2, \"shape\": [4, "
                                "1152921504606846977], \"rows_per_group\": 2}",
                                SDC_DTYPE_U8, 2, 2),
                   SDC_STATUS_FORMAT, "shape[1]", NULL);
    MT_CHECK_ERROR(ctx,
                   open_crafted("{\"storage\": \"int8\", \"shape\": [4, 8]}", SDC_DTYPE_U8, 2, 2),
                   SDC_STATUS_FORMAT, "w.int8", "missing");
    MT_CHECK_ERROR(ctx, open_crafted("[1, 2", SDC_DTYPE_U8, 2, 2), SDC_STATUS_FORMAT,
                   "sdc.compressed.w", NULL);
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK ||
        sdc_store_open_file(ctx, DECODER, &decoder) != SDC_STATUS_OK ||
        make_source() != SDC_STATUS_OK)
        return 2;
    RUN(test_round_trips);
    RUN(test_byte_identical_reruns);
    RUN(test_tensor_file_listing);
    RUN(test_compressed_model_runs);
    RUN(test_malformed_descriptors);
    sdc_store_destroy(source);
    sdc_store_destroy(decoder);
    sdc_context_destroy(ctx);
    return test_finish();
}
