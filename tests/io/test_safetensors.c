/*
 * Tests src/io/safetensors.c: one test per malformed-file case the reader must name (built in
 * memory from a header and data), valid edge cases (padding spaces, gaps, rank 0, empty
 * tensors, every dtype, metadata), the writer (64-byte alignment, padding entries, contiguous
 * spans, byte-identical reruns, input validation), the real TAEF2 files against the listing
 * Python safetensors made of them, and allocation failure at every point of sdc_st_open.
 */
#include "io/io.h"
#include "test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

/* ---------------------------------------------------------------------------------------- */
/* Building files in memory                                                                   */

typedef struct mem_file {
    unsigned char *bytes;
    size_t size;
} mem_file;

/* 8-byte length of `header` (or `len_override` when not ~0), the header, then `data_len`
 * bytes of data (a counting pattern). */
static mem_file build_len(const char *header, uint64_t len_override, size_t data_len)
{
    size_t hl = strlen(header);
    mem_file m = {malloc(8 + hl + data_len + 1), 8 + hl + data_len};
    uint64_t n = len_override != ~(uint64_t)0 ? len_override : hl;
    for (int i = 0; i < 8; i++)
        m.bytes[i] = (unsigned char)(n >> (8 * i));
    memcpy(m.bytes + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        m.bytes[8 + hl + i] = (unsigned char)i;
    return m;
}

static mem_file build(const char *header, size_t data_len)
{
    return build_len(header, ~(uint64_t)0, data_len);
}

/* Parsing must fail with `status` and a message containing each needle (NULL-terminated). */
static void expect_fail(mem_file m, sdc_status status, const char *needle, const char *needle2)
{
    sdc_st_file *f = (sdc_st_file *)1;
    sdc_status st = sdc_st_parse(ctx, m.bytes, m.size, "t.safetensors", &f);
    CHECK_EQ_INT(st, status);
    CHECK(f == NULL);
    const char *msg = sdc_context_errmsg(ctx);
    CHECK_CONTAINS(msg, "t.safetensors: ");
    CHECK_CONTAINS(msg, needle);
    if (needle2)
        CHECK_CONTAINS(msg, needle2);
    free(m.bytes);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

static sdc_st_file *expect_ok(mem_file m)
{
    sdc_st_file *f = NULL;
    sdc_status st = sdc_st_parse(ctx, m.bytes, m.size, "ok.safetensors", &f);
    CHECK_MSG(st == SDC_STATUS_OK, "parses: %s", sdc_context_errmsg(ctx));
    return f;
}

#define F32_4 "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"

/* ---------------------------------------------------------------------------------------- */
/* Malformed files: one test per case                                                         */

static void test_file_too_short(void)
{
    mem_file m = {malloc(8), 0};
    expect_fail(m, SDC_STATUS_FORMAT, "file is 0 bytes, shorter than the 8-byte header length",
                NULL);
    m = (mem_file){calloc(1, 8), 7};
    expect_fail(m, SDC_STATUS_FORMAT, "file is 7 bytes, shorter than the 8-byte header length",
                NULL);
}

static void test_header_length_zero(void)
{
    expect_fail(build_len("", 0, 16), SDC_STATUS_FORMAT, "header length is 0", NULL);
}

static void test_header_length_absurd(void)
{
    expect_fail(build_len("{}", 200000000, 0), SDC_STATUS_FORMAT,
                "header length 200000000 is above the limit of 100000000 bytes",
                "(file is 10 bytes)");
    expect_fail(build_len("{}", (uint64_t)1 << 63, 0), SDC_STATUS_FORMAT,
                "header length 9223372036854775808 is above the limit", NULL);
}

static void test_header_past_end(void)
{
    expect_fail(build_len("{}", 100, 10), SDC_STATUS_FORMAT,
                "header length 100 runs past the end of the file (20 bytes",
                "leaving 12 for the header");
}

static void test_header_not_json(void)
{
    expect_fail(build("{\"a\": ", 0), SDC_STATUS_FORMAT,
                "t.safetensors: header: line 1, column 7: expected a value (got end of input)",
                NULL);
    expect_fail(build("{\"w\":" F32_4 ",}", 16), SDC_STATUS_FORMAT,
                "t.safetensors: header: line 1, column ", "expected a string key (got '}')");
    /* zero bytes after the JSON are not whitespace */
    mem_file m = build("{}  ", 0);
    m.bytes[10] = 0;
    expect_fail(m, SDC_STATUS_FORMAT, "expected end of input after the value (got byte 0x00)",
                NULL);
}

static void test_header_not_object(void)
{
    expect_fail(build("[1, 2]", 0), SDC_STATUS_FORMAT,
                "header is a JSON array, expected a JSON object", NULL);
    expect_fail(build("7", 0), SDC_STATUS_FORMAT, "header is 7, expected a JSON object", NULL);
}

static void test_entry_not_object(void)
{
    expect_fail(build("{\"w\": [0, 16]}", 16), SDC_STATUS_FORMAT,
                "tensor \"w\": entry is a JSON array, expected an object with dtype, shape and "
                "data_offsets",
                NULL);
}

static void test_entry_missing_fields(void)
{
    expect_fail(build("{\"w\": {\"shape\": [4], \"data_offsets\": [0, 16]}}", 16),
                SDC_STATUS_FORMAT, "tensor \"w\": missing field \"dtype\"", NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 16]}}", 16),
                SDC_STATUS_FORMAT, "tensor \"w\": missing field \"shape\"", NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4]}}", 16), SDC_STATUS_FORMAT,
                "tensor \"w\": missing field \"data_offsets\"", NULL);
}

static void test_entry_unknown_field(void)
{
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16], "
                      "\"offset\": 3}}",
                      16),
                SDC_STATUS_FORMAT,
                "tensor \"w\": unexpected field \"offset\" (expected only dtype, shape and "
                "data_offsets)",
                NULL);
}

static void test_unknown_dtype(void)
{
    expect_fail(
        build("{\"w\": {\"dtype\": \"F31\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT, "tensor \"w\": unknown dtype \"F31\" (known: F64 F32 F16 BF16",
        "U8 BOOL)");
    expect_fail(
        build("{\"w\": {\"dtype\": \"f32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT, "unknown dtype \"f32\"", NULL);
    expect_fail(build("{\"w\": {\"dtype\": 4, \"shape\": [4], \"data_offsets\": [0, 16]}}", 16),
                SDC_STATUS_FORMAT, "tensor \"w\": dtype is 4, expected a string such as \"F32\"",
                NULL);
}

static void test_bad_shape(void)
{
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16),
                SDC_STATUS_FORMAT,
                "tensor \"w\": shape is 4, expected an array of non-negative integers", NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT, "tensor \"w\": shape[1] is -2, expected a non-negative integer", NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4.0], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT, "shape[0] is 4, expected a non-negative integer", NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [\"4\"], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT, "shape[0] is a JSON string, expected a non-negative integer", NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], "
                      "\"data_offsets\": [0, 16]}}",
                      16),
                SDC_STATUS_FORMAT, "shape[0] is 1e+20, expected a non-negative integer", NULL);
}

static void test_too_many_dims(void)
{
    expect_fail(build("{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                      "\"data_offsets\": [0, 1]}}",
                      1),
                SDC_STATUS_UNSUPPORTED, "tensor \"w\": shape has 9 dims; sdc supports at most 8",
                NULL);
}

static void test_bad_data_offsets(void)
{
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16]}}", 16),
                SDC_STATUS_FORMAT,
                "tensor \"w\": data_offsets is an array of 1 items, expected two integers "
                "[begin, end]",
                NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16, 32]}}", 16),
        SDC_STATUS_FORMAT, "data_offsets is an array of 3 items", NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": {}}}", 16),
                SDC_STATUS_FORMAT, "data_offsets is a JSON object, expected two integers", NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 1.6e1]}}", 16),
        SDC_STATUS_FORMAT, "tensor \"w\": data_offsets[1] is 16, expected a non-negative integer",
        NULL);
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [-16, 0]}}", 16),
        SDC_STATUS_FORMAT, "data_offsets[0] is -16, expected a non-negative integer", NULL);
}

static void test_offsets_begin_after_end(void)
{
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [16, 0]}}", 16),
        SDC_STATUS_FORMAT, "tensor \"w\": data_offsets begin 16 is after end 0", NULL);
}

static void test_offsets_past_data(void)
{
    expect_fail(build("{\"w\": " F32_4 "}", 15), SDC_STATUS_FORMAT,
                "tensor \"w\": data_offsets end 16 is past the end of the data section (15 bytes)",
                NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": "
                      "[9223372036854775806, 9223372036854775807]}}",
                      4),
                SDC_STATUS_FORMAT,
                "data_offsets end 9223372036854775807 is past the end of the data section (4 "
                "bytes)",
                NULL);
}

static void test_span_mismatch(void)
{
    expect_fail(
        build("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", 16),
        SDC_STATUS_FORMAT,
        "tensor \"w\": data_offsets [0, 16] span 16 bytes but shape [3] of F32 needs 12 "
        "bytes",
        NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [0, 4]}}", 4),
                SDC_STATUS_FORMAT, "span 4 bytes but shape [] of BF16 needs 2 bytes", NULL);
}

static void test_numel_overflow(void)
{
    expect_fail(build("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 2], "
                      "\"data_offsets\": [0, 16]}}",
                      16),
                SDC_STATUS_FORMAT,
                "tensor \"w\": the element count of shape [4294967296, 4294967296, 2] of F32 "
                "overflows 64 bits",
                NULL);
    expect_fail(build("{\"w\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904, 2], "
                      "\"data_offsets\": [0, 16]}}",
                      16),
                SDC_STATUS_FORMAT, "tensor \"w\": the byte size of shape", "overflows 64 bits");
}

static void test_overlapping_spans(void)
{
    expect_fail(build("{\"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]}, "
                      "\"b\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [4, 12]}}",
                      16),
                SDC_STATUS_FORMAT,
                "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap in the data section", NULL);
    /* an inner span, found after a longer one */
    expect_fail(build("{\"big\": {\"dtype\": \"U8\", \"shape\": [16], \"data_offsets\": [0, 16]}, "
                      "\"mid\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [8, 10]}, "
                      "\"z\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [2, 3]}}",
                      16),
                SDC_STATUS_FORMAT, "tensors \"big\" [0, 16) and \"z\" [2, 3) overlap", NULL);
}

static void test_duplicate_tensor_names(void)
{
    expect_fail(build("{\"w\": " F32_4 ",\n\"w\": " F32_4 "}", 16), SDC_STATUS_FORMAT,
                "t.safetensors: header: line 2, column 1: duplicate tensor name \"w\"",
                "(first at line 1, column 2)");
}

static void test_bad_metadata(void)
{
    expect_fail(build("{\"__metadata__\": [\"a\"], \"w\": " F32_4 "}", 16), SDC_STATUS_FORMAT,
                "__metadata__ is a JSON array, expected an object of string values", NULL);
    expect_fail(build("{\"__metadata__\": {\"ok\": \"x\", \"n\": 1}, \"w\": " F32_4 "}", 16),
                SDC_STATUS_FORMAT, "__metadata__ value of \"n\" is 1, expected a string", NULL);
    expect_fail(build("{\"__metadata__\": {\"o\": {}}}", 0), SDC_STATUS_FORMAT,
                "__metadata__ value of \"o\" is a JSON object, expected a string", NULL);
}

static void test_nul_in_names(void)
{
    expect_fail(build("{\"a\\u0000b\": " F32_4 "}", 16), SDC_STATUS_FORMAT,
                "tensor name \"a\\x00b\" contains a NUL character", NULL);
    expect_fail(build("{\"__metadata__\": {\"k\": \"v\\u0000\"}}", 0), SDC_STATUS_FORMAT,
                "__metadata__ entry \"k\" contains a NUL character", NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Valid files                                                                                */

static void test_valid_edge_cases(void)
{
    /* trailing spaces (the reference writer pads to 8), gaps, rank 0, empty tensors, metadata,
     * tensors in no particular order */
    mem_file m = build("{\"__metadata__\": {\"z\": \"last\", \"a\": \"first\", \"\\u00e9\": \"\"}, "
                       "\"scalar\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [4, 8]},"
                       "\"empty\": {\"dtype\": \"F16\", \"shape\": [3, 0, 2], "
                       "\"data_offsets\": [8, 8]},"
                       "\"huge_empty\": {\"dtype\": \"F64\", \"shape\": [4294967296, "
                       "4294967296, 0], \"data_offsets\": [0, 0]},"
                       "\"b\": {\"dtype\": \"I16\", \"shape\": [2, 2], \"data_offsets\": [16, 24]},"
                       "\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [31, 32]}}"
                       "       ",
                       32);
    sdc_st_file *f = expect_ok(m);
    if (f) {
        CHECK_EQ_INT(f->n_tensors, 5);
        static const char *const order[] = {"a", "b", "empty", "huge_empty", "scalar"};
        for (size_t i = 0; i < 5 && i < f->n_tensors; i++)
            CHECK_EQ_STR(f->tensors[i].name, order[i]);
        const sdc_st_tensor *t = sdc_st_find(f, "scalar");
        CHECK(t && t->ndim == 0 && t->dtype == SDC_DTYPE_F32 && sdc_st_numel(t) == 1);
        CHECK(t && sdc_st_nbytes(t) == 4 && t->data == f->data_section + 4);
        t = sdc_st_find(f, "empty");
        CHECK(t && t->ndim == 3 && sdc_st_numel(t) == 0 && sdc_st_nbytes(t) == 0);
        t = sdc_st_find(f, "huge_empty");
        CHECK(t && sdc_st_numel(t) == 0);
        t = sdc_st_find(f, "a");
        CHECK(t && ((const unsigned char *)t->data)[0] == 31);
        t = sdc_st_find(f, "b");
        CHECK(t && t->shape[0] == 2 && t->shape[1] == 2 && t->begin == 16 && t->end == 24);
        CHECK(sdc_st_find(f, "c") == NULL && sdc_st_find(f, "") == NULL);
        CHECK_EQ_INT(f->n_metadata, 3);
        CHECK_EQ_STR(f->metadata[0].key, "a");
        CHECK_EQ_STR(f->metadata[1].key, "z");
        CHECK_EQ_STR(sdc_st_metadata(f, "z"), "last");
        CHECK_EQ_STR(sdc_st_metadata(f, "\xc3\xa9"), "");
        CHECK(sdc_st_metadata(f, "b") == NULL);
        CHECK_EQ_INT(f->data_size, 32);
        CHECK_EQ_STR(f->path, "ok.safetensors");
        CHECK(f->map.data == NULL);
    }
    sdc_st_close(f);
    sdc_st_close(NULL);
    free(m.bytes);

    /* no tensors at all */
    m = build("{}", 0);
    f = expect_ok(m);
    CHECK(f && f->n_tensors == 0 && f->n_metadata == 0 && sdc_st_find(f, "x") == NULL);
    sdc_st_close(f);
    free(m.bytes);
    m = build(" {\"__metadata__\": {}} ", 0);
    f = expect_ok(m);
    CHECK(f && f->n_tensors == 0 && f->n_metadata == 0);
    sdc_st_close(f);
    free(m.bytes);
}

static void test_all_dtypes(void)
{
    char header[4096];
    size_t n = (size_t)snprintf(header, sizeof header, "{");
    uint64_t off = 0;
    for (int d = 0; d < SDC_DTYPE_COUNT; d++) {
        size_t bytes = sdc_dtype_size((sdc_dtype)d) * 3;
        n += (size_t)snprintf(header + n, sizeof header - n,
                              "%s\"t%d\": {\"dtype\": \"%s\", \"shape\": [3], "
                              "\"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}",
                              d ? ", " : "", d, sdc_dtype_name((sdc_dtype)d), off, off + bytes);
        off += bytes;
    }
    snprintf(header + n, sizeof header - n, "}");
    mem_file m = build(header, (size_t)off);
    sdc_st_file *f = expect_ok(m);
    for (int d = 0; f && d < SDC_DTYPE_COUNT; d++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", d);
        const sdc_st_tensor *t = sdc_st_find(f, name);
        CHECK(t && t->dtype == (sdc_dtype)d && sdc_st_nbytes(t) == 3 * sdc_dtype_size(t->dtype));
    }
    sdc_st_close(f);
    free(m.bytes);
}

/* ---------------------------------------------------------------------------------------- */
/* The real TAEF2 files against Python's listing                                              */

static uint64_t fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void check_against_listing(const char *base)
{
    char rel[256];
    snprintf(rel, sizeof rel, "taesd/%s.safetensors", base);
    sdc_st_file *f = NULL;
    sdc_status st = sdc_st_open(ctx, test_path(SDC_TEST_DATA_DIR, rel), &f);
    CHECK_MSG(st == SDC_STATUS_OK, "open %s: %s", rel, sdc_context_errmsg(ctx));
    snprintf(rel, sizeof rel, "taesd/%s.tensors.txt", base);
    FILE *fp = fopen(test_path(SDC_TEST_DATA_DIR, rel), "r");
    CHECK(fp != NULL);
    if (!f || !fp)
        goto done;
    CHECK(f->map.data != NULL && f->data_section == f->map.data + 8 + f->header_len);
    char line[1024];
    size_t n_tensors = 0, n_meta = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (line[0] == '@') {
            char *tab = strchr(line, '\t');
            CHECK(tab != NULL);
            if (!tab)
                continue;
            *tab = '\0';
            CHECK_EQ_STR(sdc_st_metadata(f, line + 2), tab + 1);
            n_meta++;
            continue;
        }
        char name[256], dtype[16], shape[128];
        unsigned long long hash;
        if (sscanf(line, "%255s %15s %127s %llx", name, dtype, shape, &hash) != 4) {
            CHECK_MSG(false, "listing line: %s", line);
            continue;
        }
        const sdc_st_tensor *t = sdc_st_find(f, name);
        CHECK_MSG(t != NULL, "%s: tensor %s present", base, name);
        if (!t)
            continue;
        /* the file's order is the listing's (sorted by name) */
        CHECK_MSG(t == &f->tensors[n_tensors], "%s: %s in sorted position", base, name);
        n_tensors++;
        CHECK_EQ_STR(sdc_dtype_name(t->dtype), dtype);
        char got[128];
        size_t used = 0;
        for (int d = 0; d < t->ndim; d++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%" PRId64, d ? "," : "",
                                     t->shape[d]);
        CHECK_EQ_STR(t->ndim ? got : "-", shape);
        CHECK_MSG(fnv1a64(t->data, (size_t)sdc_st_nbytes(t)) == hash, "%s: %s data checksum", base,
                  name);
    }
    CHECK_EQ_INT(n_tensors, f->n_tensors);
    CHECK_EQ_INT(n_tensors, 79);
    CHECK_EQ_INT(n_meta, f->n_metadata);
    CHECK(n_meta == 3);
done:
    if (fp)
        fclose(fp);
    sdc_st_close(f);
}

static void test_real_files(void)
{
    check_against_listing("taef2_decoder");
    check_against_listing("taef2_encoder");
    /* a few by name, as the models layer will look them up */
    sdc_st_file *f = NULL;
    CHECK(sdc_st_open(ctx, test_path(SDC_TEST_DATA_DIR, "taesd/taef2_decoder.safetensors"), &f) ==
          SDC_STATUS_OK);
    const sdc_st_tensor *t = f ? sdc_st_find(f, "1.weight") : NULL;
    CHECK(t && t->dtype == SDC_DTYPE_F16 && t->ndim == 4 && t->shape[0] == 64 &&
          t->shape[1] == 32 && t->shape[2] == 3 && t->shape[3] == 3);
    CHECK(t && t->begin == 0 && t->end == 36864);
    CHECK_EQ_STR(f ? sdc_st_metadata(f, "format") : NULL, "pt");
    sdc_st_close(f);
}

static void test_open_errors(void)
{
    sdc_st_file *f = (sdc_st_file *)1;
    CHECK_EQ_INT(sdc_st_open(ctx, test_path(SDC_TEST_DATA_DIR, "no/such.safetensors"), &f),
                 SDC_STATUS_IO);
    CHECK(f == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "no/such.safetensors");
    /* a malformed file on disk names its path */
    const char *path = test_tmp_path("bad.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x05\0\0\0\0\0\0\0{\"a\":", 1, 13, fp);
    fclose(fp);
    CHECK_EQ_INT(sdc_st_open(ctx, path, &f), SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), path);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "expected a value (got end of input)");
    remove(path);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

/* Tensor i's bytes are (i * 37 + k * 11 + 5) & 0xFF; tests/io/check_python_compat.py knows it. */
static void fill_pattern(unsigned char *p, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (unsigned char)((i * 37 + k * 11 + 5) & 0xFF);
}

typedef struct entries {
    sdc_st_entry e[SDC_DTYPE_COUNT + 3];
    unsigned char *data[SDC_DTYPE_COUNT + 3];
    size_t n;
} entries;

/* One odd-sized tensor per dtype, a rank-0 one and two empty ones. */
static void make_entries(entries *es)
{
    memset(es, 0, sizeof *es);
    static char names[SDC_DTYPE_COUNT + 3][32];
    for (int d = 0; d < SDC_DTYPE_COUNT; d++) {
        snprintf(names[d], sizeof names[d], "layer.%d.%s", d, sdc_dtype_name((sdc_dtype)d));
        es->e[d] =
            (sdc_st_entry){.name = names[d], .dtype = (sdc_dtype)d, .ndim = 2, .shape = {3, d + 2}};
    }
    es->n = SDC_DTYPE_COUNT;
    es->e[es->n++] = (sdc_st_entry){.name = "scalar", .dtype = SDC_DTYPE_F32, .ndim = 0};
    es->e[es->n++] =
        (sdc_st_entry){.name = "empty", .dtype = SDC_DTYPE_F16, .ndim = 2, .shape = {0, 5}};
    es->e[es->n++] =
        (sdc_st_entry){.name = "emp\"ty\n2", .dtype = SDC_DTYPE_I64, .ndim = 1, .shape = {0}};
    for (size_t i = 0; i < es->n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < es->e[i].ndim; d++)
            numel *= es->e[i].shape[d];
        size_t bytes = (size_t)numel * sdc_dtype_size(es->e[i].dtype);
        es->data[i] = malloc(bytes + 1);
        fill_pattern(es->data[i], bytes, i);
        es->e[i].data = es->data[i];
    }
}

static void free_entries(entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        free(es->data[i]);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    *size = fread(p, 1, (size_t)n, fp);
    fclose(fp);
    return p;
}

static void test_writer_round_trip(void)
{
    entries es;
    make_entries(&es);
    const sdc_st_kv meta[] = {{"format", "pt"}, {"b", "two\nlines \"quoted\""}, {"a", ""}};
    /* the file is kept for tests/io/check_python_compat.py */
    const char *path = test_path(SDC_TEST_TMP_DIR, "sdc_written.safetensors");
    sdc_status st = sdc_st_write(ctx, path, es.e, es.n, meta, 3);
    CHECK_MSG(st == SDC_STATUS_OK, "write: %s", sdc_context_errmsg(ctx));

    sdc_st_file *f = NULL;
    st = sdc_st_open(ctx, path, &f);
    CHECK_MSG(st == SDC_STATUS_OK, "reopen: %s", sdc_context_errmsg(ctx));
    if (!f)
        goto done;
    CHECK_EQ_INT((8 + f->header_len) % 64, 0);
    CHECK(f->map.data[8] == '{' && f->map.data[8 + f->header_len - 1] == ' ');
    /* the header starts with the metadata, in the given order */
    CHECK(memcmp(f->map.data + 8, "{\"__metadata__\":{\"format\":\"pt\",\"b\":", 35) == 0);
    CHECK_EQ_INT(f->n_metadata, 3);
    CHECK_EQ_STR(sdc_st_metadata(f, "b"), "two\nlines \"quoted\"");
    CHECK_EQ_STR(sdc_st_metadata(f, "a"), "");
    for (size_t i = 0; i < es.n; i++) {
        const sdc_st_tensor *t = sdc_st_find(f, es.e[i].name);
        CHECK_MSG(t != NULL, "tensor %s", es.e[i].name);
        if (!t)
            continue;
        CHECK(t->dtype == es.e[i].dtype && t->ndim == es.e[i].ndim);
        for (int d = 0; d < t->ndim; d++)
            CHECK(t->shape[d] == es.e[i].shape[d]);
        CHECK_MSG((uintptr_t)t->data % 64 == 0, "%s: data aligned to 64 in the mapped file",
                  t->name);
        CHECK(memcmp(t->data, es.data[i], (size_t)sdc_st_nbytes(t)) == 0);
    }
    /* spans are contiguous from 0 to the end of the data (what the reference reader wants),
     * and the padding entries are zero-filled U8 vectors */
    size_t n_pad = 0;
    uint64_t covered = 0;
    for (size_t i = 0; i < f->n_tensors; i++)
        covered += sdc_st_nbytes(&f->tensors[i]);
    CHECK_EQ_INT(covered, f->data_size);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sdc_st_tensor *t = &f->tensors[i];
        if (strncmp(t->name, SDC_ST_PAD_PREFIX, strlen(SDC_ST_PAD_PREFIX)) != 0)
            continue;
        n_pad++;
        CHECK(t->dtype == SDC_DTYPE_U8 && t->ndim == 1 && t->shape[0] > 0 && t->shape[0] < 64);
        CHECK(t->end % 64 == 0);
        for (uint64_t k = 0; k < sdc_st_nbytes(t); k++)
            CHECK(((const unsigned char *)t->data)[k] == 0);
    }
    CHECK(n_pad > 5);
    CHECK_EQ_INT(f->n_tensors, es.n + n_pad);
    sdc_st_close(f);

    /* without the dtypes numpy lacks, for safetensors.numpy.load_file */
    sdc_st_entry numpy_ok[SDC_DTYPE_COUNT + 3];
    size_t n_numpy_ok = 0;
    for (size_t i = 0; i < es.n; i++)
        if (es.e[i].dtype != SDC_DTYPE_BF16 && es.e[i].dtype != SDC_DTYPE_F8_E4M3 &&
            es.e[i].dtype != SDC_DTYPE_F8_E5M2)
            numpy_ok[n_numpy_ok++] = es.e[i];
    CHECK(sdc_st_write(ctx, test_path(SDC_TEST_TMP_DIR, "sdc_written_numpy.safetensors"), numpy_ok,
                       n_numpy_ok, NULL, 0) == SDC_STATUS_OK);

    /* the same inputs give the same bytes */
    const char *again = test_tmp_path("again.safetensors");
    CHECK(sdc_st_write(ctx, again, es.e, es.n, meta, 3) == SDC_STATUS_OK);
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = read_file(path, &n1), *b2 = read_file(again, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    remove(again);
done:
    free_entries(&es);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

static void test_writer_no_tensors(void)
{
    const char *path = test_tmp_path("empty.safetensors");
    CHECK(sdc_st_write(ctx, path, NULL, 0, NULL, 0) == SDC_STATUS_OK);
    size_t n = 0;
    unsigned char *b = read_file(path, &n);
    CHECK(b && n == 64 && b[0] == 56 && memcmp(b + 8, "{}  ", 4) == 0);
    free(b);
    sdc_st_file *f = NULL;
    CHECK(sdc_st_open(ctx, path, &f) == SDC_STATUS_OK);
    CHECK(f && f->n_tensors == 0 && f->data_size == 0);
    sdc_st_close(f);
    remove(path);
}

static void expect_write_fail(const sdc_st_entry *e, size_t n, const sdc_st_kv *meta, size_t nm,
                              const char *needle)
{
    const char *path = test_tmp_path("rejected.safetensors");
    CHECK_EQ_INT(sdc_st_write(ctx, path, e, n, meta, nm), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), path);
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL); /* nothing was written */
    if (fp)
        fclose(fp);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

static void test_writer_rejects(void)
{
    float x[4] = {0};
    sdc_st_entry e[3] = {
        {.name = "a", .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {4}, .data = x},
        {.name = "b", .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {4}, .data = x},
        {.name = "a", .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {4}, .data = x},
    };
    expect_write_fail(e, 3, NULL, 0, "duplicate tensor name \"a\" (entries 0 and 2)");
    e[2].name = SDC_ST_PAD_PREFIX "0";
    expect_write_fail(e, 3, NULL, 0, "names starting with \"sdc.pad.\" are reserved");
    e[2].name = "__metadata__";
    expect_write_fail(e, 3, NULL, 0, "reserved for the metadata");
    e[2].name = NULL;
    expect_write_fail(e, 3, NULL, 0, "entry 2 has no name");
    e[2].name = "c";
    e[2].ndim = 9;
    expect_write_fail(e, 3, NULL, 0, "tensor \"c\": ndim 9, expected 0 to 8");
    e[2].ndim = -1;
    expect_write_fail(e, 3, NULL, 0, "ndim -1");
    e[2].ndim = 1;
    e[2].shape[0] = -4;
    expect_write_fail(e, 3, NULL, 0, "shape[0] is -4");
    e[2].shape[0] = 4;
    e[2].data = NULL;
    expect_write_fail(e, 3, NULL, 0, "tensor \"c\": data is NULL");
    e[2].data = x;
    e[2].dtype = SDC_DTYPE_COUNT;
    expect_write_fail(e, 3, NULL, 0, "dtype 15 unknown");
    e[2].dtype = SDC_DTYPE_F32;
    e[2].ndim = 4;
    e[2].shape[0] = e[2].shape[1] = e[2].shape[2] = e[2].shape[3] = INT64_MAX / 2;
    expect_write_fail(e, 3, NULL, 0, "byte size of its shape overflows");
    e[2].ndim = 1;
    e[2].shape[0] = 4;
    const sdc_st_kv meta[] = {{"k", "1"}, {"j", "2"}, {"k", "3"}};
    expect_write_fail(e, 3, meta, 3, "duplicate metadata key \"k\"");
    const sdc_st_kv meta_null[] = {{"k", NULL}};
    expect_write_fail(e, 3, meta_null, 1, "metadata entry 0 has a NULL key or value");
    e[2].name = "bad\xff";
    expect_write_fail(e, 3, NULL, 0, "a tensor name or metadata string is not valid UTF-8");
    e[2].name = "c";
    const sdc_st_kv meta_utf8[] = {{"k", "\xc0\x80"}};
    expect_write_fail(e, 3, meta_utf8, 1, "expected valid UTF-8 (got byte 0xc0");
    /* an unwritable place is an IO error */
    CHECK_EQ_INT(sdc_st_write(ctx, "/nonexistent-dir/x.safetensors", e, 2, NULL, 0), SDC_STATUS_IO);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "/nonexistent-dir/x.safetensors");
}

/* ---------------------------------------------------------------------------------------- */
/* Allocation failures                                                                        */

/* Fails each allocation of `run` in turn: each run must succeed or report OUT_OF_MEMORY, leak
 * nothing, and the loop must end with the first run that had no allocation left to fail. */
static void fail_each_allocation(sdc_status (*run)(void), const char *needle)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    uint64_t before = s.n_allocs;
    CHECK(run() == SDC_STATUS_OK);
    sdc_alloc_get_stats(ctx, &s);
    uint64_t allocs = s.n_allocs - before;
    CHECK(allocs >= 3);
    uint64_t n;
    for (n = 1; n <= allocs + 1; n++) {
        sdc_alloc_get_stats(ctx, &s);
        uint64_t failed_before = s.n_failed;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = run();
        sdc_alloc_fail_nth(ctx, 0);
        sdc_alloc_get_stats(ctx, &s);
        bool injected = s.n_failed > failed_before;
        CHECK_MSG(injected == (n <= allocs), "run %llu: injected %d", (unsigned long long)n,
                  injected);
        if (st != SDC_STATUS_OK) {
            CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "out of memory");
            if (needle)
                CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
        } else {
            CHECK(!injected);
        }
        CHECK_EQ_INT(s.live_bytes, 0);
        if (st == SDC_STATUS_OK)
            break;
    }
    CHECK_EQ_INT(n, allocs + 1);
}

static sdc_status open_real_file(void)
{
    sdc_st_file *f = NULL;
    sdc_status st =
        sdc_st_open(ctx, test_path(SDC_TEST_DATA_DIR, "taesd/taef2_decoder.safetensors"), &f);
    CHECK((st == SDC_STATUS_OK) == (f != NULL));
    sdc_st_close(f);
    return st;
}

static sdc_status write_small_file(void)
{
    float x[3] = {1, 2, 3};
    sdc_st_entry e[2] = {
        {.name = "x", .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {3}, .data = x},
        {.name = "y", .dtype = SDC_DTYPE_U8, .ndim = 1, .shape = {3}, .data = x},
    };
    sdc_st_kv meta[1] = {{"k", "v"}};
    return sdc_st_write(ctx, test_tmp_path("fi.safetensors"), e, 2, meta, 1);
}

static void test_fault_injection(void)
{
    fail_each_allocation(open_real_file, NULL);
    fail_each_allocation(write_small_file, NULL);
    remove(test_tmp_path("fi.safetensors"));
}

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_file_too_short);
    RUN(test_header_length_zero);
    RUN(test_header_length_absurd);
    RUN(test_header_past_end);
    RUN(test_header_not_json);
    RUN(test_header_not_object);
    RUN(test_entry_not_object);
    RUN(test_entry_missing_fields);
    RUN(test_entry_unknown_field);
    RUN(test_unknown_dtype);
    RUN(test_bad_shape);
    RUN(test_too_many_dims);
    RUN(test_bad_data_offsets);
    RUN(test_offsets_begin_after_end);
    RUN(test_offsets_past_data);
    RUN(test_span_mismatch);
    RUN(test_numel_overflow);
    RUN(test_overlapping_spans);
    RUN(test_duplicate_tensor_names);
    RUN(test_bad_metadata);
    RUN(test_nul_in_names);
    RUN(test_valid_edge_cases);
    RUN(test_all_dtypes);
    RUN(test_real_files);
    RUN(test_open_errors);
    RUN(test_writer_round_trip);
    RUN(test_writer_no_tensors);
    RUN(test_writer_rejects);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
