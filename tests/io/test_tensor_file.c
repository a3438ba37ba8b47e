/*
 * Tests the public "tensor files" API of sdc.h (src/io/tensor_file.c): a file written by
 * sdc_st_write lists only the real tensors (padding hidden), in name order, with file offsets
 * that point at their data; metadata in key order; index errors; the real TAEF2 decoder.
 */
#include "sdc.h"
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

static void test_written_file(void)
{
    /* odd sizes so that padding entries are needed between every pair */
    static uint8_t a[5] = {1, 2, 3, 4, 5};
    static uint16_t b[3] = {7, 8, 9};
    static float c = 2.5f;
    const sdc_st_entry e[] = {
        {.name = "zeta", .dtype = SDC_DTYPE_U8, .ndim = 1, .shape = {5}, .data = a},
        {.name = "alpha", .dtype = SDC_DTYPE_F16, .ndim = 2, .shape = {1, 3}, .data = b},
        {.name = "mid", .dtype = SDC_DTYPE_F32, .ndim = 0, .data = &c},
        {.name = "sdc.padding", .dtype = SDC_DTYPE_U8, .ndim = 1, .shape = {5}, .data = a},
    };
    const sdc_st_kv meta[] = {{"z", "1"}, {"a", "2"}};
    const char *path = test_tmp_path("public.safetensors");
    CHECK(sdc_st_write(ctx, path, e, 4, meta, 2) == SDC_STATUS_OK);

    sdc_tensor_file *f = (sdc_tensor_file *)1;
    sdc_status st = sdc_tensor_file_open(ctx, path, &f);
    CHECK_MSG(st == SDC_STATUS_OK, "open: %s", sdc_context_errmsg(ctx));
    if (st != SDC_STATUS_OK)
        return;
    CHECK_EQ_STR(sdc_tensor_file_format(f), "safetensors");
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    CHECK_EQ_INT(sdc_tensor_file_size(f), size);
    /* three padding entries were written; none is listed, a look-alike name is */
    CHECK_EQ_INT(sdc_tensor_file_count(f), 4);
    static const char *const order[] = {"alpha", "mid", "sdc.padding", "zeta"};
    static const void *const data[] = {b, &c, a, a};
    static const uint64_t nbytes[] = {6, 4, 5, 5};
    for (size_t i = 0; i < 4; i++) {
        sdc_tensor_info t;
        CHECK(sdc_tensor_file_info(f, i, &t) == SDC_STATUS_OK);
        CHECK_EQ_STR(t.name, order[i]);
        CHECK_EQ_INT(t.nbytes, nbytes[i]);
        CHECK_EQ_INT(t.offset % 64, 0);
        unsigned char buf[8];
        fseek(fp, (long)t.offset, SEEK_SET);
        CHECK(fread(buf, 1, (size_t)t.nbytes, fp) == t.nbytes);
        CHECK(memcmp(buf, data[i], (size_t)t.nbytes) == 0);
    }
    fclose(fp);
    sdc_tensor_info t;
    CHECK(sdc_tensor_file_info(f, 0, &t) == SDC_STATUS_OK);
    CHECK(t.ndim == 2 && t.shape[0] == 1 && t.shape[1] == 3);
    CHECK_EQ_STR(t.dtype, "F16");
    CHECK(sdc_tensor_file_info(f, 1, &t) == SDC_STATUS_OK);
    CHECK(t.ndim == 0);
    CHECK_EQ_STR(t.dtype, "F32");
    CHECK_EQ_INT(sdc_tensor_file_info(f, 4, &t), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "tensor index 4 is out of range (the file has 4");
    CHECK(t.name == NULL);

    CHECK_EQ_INT(sdc_tensor_file_metadata_count(f), 2);
    const char *k = NULL, *v = NULL;
    CHECK(sdc_tensor_file_metadata(f, 0, &k, &v) == SDC_STATUS_OK);
    CHECK_EQ_STR(k, "a");
    CHECK_EQ_STR(v, "2");
    CHECK(sdc_tensor_file_metadata(f, 1, &k, &v) == SDC_STATUS_OK);
    CHECK_EQ_STR(k, "z");
    CHECK_EQ_INT(sdc_tensor_file_metadata(f, 2, &k, &v), SDC_STATUS_INVALID_ARGUMENT);
    CHECK(k == NULL && v == NULL);
    sdc_tensor_file_close(f);
    sdc_tensor_file_close(NULL);
    remove(path);
}

static void test_real_file(void)
{
    sdc_tensor_file *f = NULL;
    const char *path = test_path(SDC_TEST_DATA_DIR, "taesd/taef2_decoder.safetensors");
    CHECK(sdc_tensor_file_open(ctx, path, &f) == SDC_STATUS_OK);
    if (!f)
        return;
    CHECK_EQ_INT(sdc_tensor_file_count(f), 79);
    CHECK_EQ_INT(sdc_tensor_file_size(f), 2683582);
    sdc_tensor_info t;
    CHECK(sdc_tensor_file_info(f, 0, &t) == SDC_STATUS_OK);
    CHECK_EQ_STR(t.name, "1.bias");
    CHECK_EQ_STR(t.dtype, "F16");
    CHECK(t.ndim == 1 && t.shape[0] == 64 && t.nbytes == 128);
    CHECK_EQ_INT(t.offset, 8 + 6576 + 36864);
    CHECK_EQ_INT(sdc_tensor_file_metadata_count(f), 3);
    sdc_tensor_file_close(f);
}

static void test_open_errors(void)
{
    sdc_tensor_file *f = (sdc_tensor_file *)1;
    CHECK_EQ_INT(sdc_tensor_file_open(ctx, test_tmp_path("missing.safetensors"), &f),
                 SDC_STATUS_IO);
    CHECK(f == NULL);
    const char *path = test_tmp_path("short.safetensors");
    FILE *fp = fopen(path, "wb");
    fputs("abc", fp);
    fclose(fp);
    f = (sdc_tensor_file *)1;
    CHECK_EQ_INT(sdc_tensor_file_open(ctx, path, &f), SDC_STATUS_FORMAT);
    CHECK(f == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "shorter than the 8-byte header length");
    remove(path);
    /* allocation failure anywhere: a clean error, nothing leaked */
    path = test_path(SDC_TEST_DATA_DIR, "taesd/taef2_encoder.safetensors");
    for (uint64_t n = 1; n < 100; n++) {
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_tensor_file_open(ctx, path, &f);
        sdc_alloc_fail_nth(ctx, 0);
        CHECK(st == SDC_STATUS_OK || st == SDC_STATUS_OUT_OF_MEMORY);
        CHECK((st == SDC_STATUS_OK) == (f != NULL));
        sdc_tensor_file_close(f);
        sdc_alloc_stats s;
        sdc_alloc_get_stats(ctx, &s);
        CHECK_EQ_INT(s.live_bytes, 0);
        if (st == SDC_STATUS_OK)
            break;
    }
}

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_written_file);
    RUN(test_real_file);
    RUN(test_open_errors);
    sdc_context_destroy(ctx);
    return test_finish();
}
