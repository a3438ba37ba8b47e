/*
 * Tests src/io/ckpt.c through sdc_st_open, as the rest of sdc reads weights: every tensor of
 * each PyTorch checkpoint equals the same-named tensor of its safetensors twin (names, dtypes,
 * shapes, bytes): the samples of tools/reference/make_ckpt_samples.py (zip, legacy, protocol 4,
 * ZIP64, Python zipfile, a bare module state dict), real files written by torch 1.x and 2.5+,
 * and the tiny SD/SDXL reference models; the hostile and unsupported files of
 * tests/data/pickle/NAME.ckpt, each with its own message; the public tensor-file API and
 * `sdc inspect`; content sniffing; allocation failure at every point of opening a checkpoint.
 */
#include "sdc.h"
#include "io/ckpt.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static sdc_context *ctx;

static void check_no_leak(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every tensor of `ckpt` equals the tensor of `ref` with its name, and there are no others
 * (ref's alignment padding aside). Returns the number of tensors compared. */
static size_t compare_with(const char *ckpt, const char *ref, const char *format)
{
    sdc_st_file *c = NULL, *s = NULL;
    sdc_status st = sdc_st_open(ctx, ckpt, &c);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", ckpt, sdc_context_errmsg(ctx));
    st = sdc_st_open(ctx, ref, &s);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", ref, sdc_context_errmsg(ctx));
    size_t compared = 0;
    if (c && s) {
        CHECK_EQ_STR(c->format, format);
        CHECK_EQ_STR(s->format, "safetensors");
        size_t n_ref = 0;
        for (size_t i = 0; i < s->n_tensors; i++)
            n_ref += strncmp(s->tensors[i].name, SDC_ST_PAD_PREFIX, strlen(SDC_ST_PAD_PREFIX)) != 0;
        CHECK_MSG(c->n_tensors == n_ref, "%s: %zu tensors, %s has %zu", ckpt, c->n_tensors, ref,
                  n_ref);
        for (size_t i = 0; i < c->n_tensors; i++) {
            const sdc_st_tensor *t = &c->tensors[i];
            const sdc_st_tensor *r = sdc_st_find(s, t->name);
            if (i > 0)
                CHECK(strcmp(c->tensors[i - 1].name, t->name) < 0);
            CHECK(sdc_st_find(c, t->name) == t);
            if (!r) {
                CHECK_MSG(false, "%s: tensor %s is not in %s", ckpt, t->name, ref);
                continue;
            }
            CHECK_MSG(t->dtype == r->dtype, "%s: %s is %s, expected %s", ckpt, t->name,
                      sdc_dtype_name(t->dtype), sdc_dtype_name(r->dtype));
            CHECK_EQ_INT(t->ndim, r->ndim);
            for (int d = 0; d < t->ndim && d < r->ndim; d++)
                CHECK_EQ_INT(t->shape[d], r->shape[d]);
            CHECK_EQ_INT(sdc_st_nbytes(t), sdc_st_nbytes(r));
            CHECK_EQ_INT(sdc_st_numel(t) * (int64_t)sdc_dtype_size(t->dtype), sdc_st_nbytes(t));
            /* in place in the mapped file */
            CHECK(t->data == c->map.data + t->begin && t->end <= c->map.size);
            CHECK_MSG(sdc_st_nbytes(t) == sdc_st_nbytes(r) &&
                          memcmp(t->data, r->data, (size_t)sdc_st_nbytes(t)) == 0,
                      "%s: the bytes of %s differ", ckpt, t->name);
            compared++;
        }
    }
    sdc_st_close(c);
    sdc_st_close(s);
    check_no_leak();
    return compared;
}

static const char *data_path(const char *rel)
{
    return test_path(SDC_TEST_DATA_DIR, rel);
}

static void test_samples(void)
{
    char ref[512];
    snprintf(ref, sizeof ref, "%s", data_path("ckpt/sample.safetensors"));
    static const char *const zips[] = {"ckpt/sample_zip.ckpt", "ckpt/sample_proto4.ckpt",
                                       "ckpt/sample_zip64.ckpt", "ckpt/sample_pyzip.ckpt"};
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(compare_with(data_path(zips[i]), ref, "pytorch"), 19);
    snprintf(ref, sizeof ref, "%s", data_path("ckpt/sample_legacy.safetensors"));
    CHECK_EQ_INT(compare_with(data_path("ckpt/sample_legacy.ckpt"), ref, "pytorch-legacy"), 17);
    CHECK_EQ_INT(compare_with(data_path("ckpt/sample_legacy_proto4.ckpt"), ref, "pytorch-legacy"),
                 17);
    /* a bare state dict (no "state_dict" key) whose OrderedDict carries _metadata (BUILD) */
    snprintf(ref, sizeof ref, "%s", data_path("ckpt/module.safetensors"));
    CHECK_EQ_INT(compare_with(data_path("ckpt/module.ckpt"), ref, "pytorch"), 6);
}

/* Files written elsewhere: LAION's aesthetic head (torch 1.x, no byteorder record) against
 * torch 2.4's reading of it, and TAEF2's decoder (torch 2.5+: .format_version and
 * .storage_alignment records, named folder) against its safetensors conversion. */
static void test_real_files(void)
{
    char ref[512];
    snprintf(ref, sizeof ref, "%s", data_path("ckpt/aesthetic.safetensors"));
    CHECK_EQ_INT(compare_with(data_path("ckpt/aesthetic.pth"), ref, "pytorch"), 2);
    snprintf(ref, sizeof ref, "%s", data_path("taesd/taef2_decoder.safetensors"));
    CHECK_EQ_INT(compare_with(data_path("ckpt/taef2_decoder.pth"), ref, "pytorch"), 79);
}

/* The single-file tiny models of tests/fixtures/models.tar.xz, unpacked into the build tree:
 * the .ckpt and the .safetensors gen_models.py wrote from the same state dict. */
static void test_fixture_models(void)
{
    static const char *const families[] = {"sd1", "sd2", "sdxl"};
    if (!exists(test_path(SDC_FIXTURES_DIR, "models.tar.xz"))) {
        printf("note: tests/fixtures/models.tar.xz is absent; fixture checkpoints not compared\n");
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        char ckpt[512], ref[512], rel[64];
        snprintf(rel, sizeof rel, "models/%s-tiny.ckpt", families[i]);
        snprintf(ckpt, sizeof ckpt, "%s", test_path(SDC_BUILD_FIXTURES_DIR, rel));
        snprintf(rel, sizeof rel, "models/%s-tiny.safetensors", families[i]);
        snprintf(ref, sizeof ref, "%s", test_path(SDC_BUILD_FIXTURES_DIR, rel));
        size_t n = compare_with(ckpt, ref, "pytorch");
        CHECK_MSG(n > 500, "%s: %zu tensors compared", ckpt, n);
    }
}

static void test_metadata_and_views(void)
{
    sdc_st_file *f = NULL;
    CHECK(sdc_st_open(ctx, data_path("ckpt/sample_zip.ckpt"), &f) == SDC_STATUS_OK);
    if (!f)
        return;
    /* the top level's plain values; the numpy global_step and the dicts are not */
    CHECK_EQ_INT(f->n_metadata, 4);
    CHECK_EQ_STR(sdc_st_metadata(f, "epoch"), "3");
    CHECK_EQ_STR(sdc_st_metadata(f, "lr"), "0.00015");
    CHECK_EQ_STR(sdc_st_metadata(f, "pytorch-lightning_version"), "1.4.2");
    CHECK_EQ_STR(sdc_st_metadata(f, "resumed"), "True");
    CHECK(sdc_st_metadata(f, "global_step") == NULL);
    /* views share one storage at their element offsets */
    const sdc_st_tensor *whole = sdc_st_find(f, "model.view.whole");
    const sdc_st_tensor *rows = sdc_st_find(f, "model.view.rows");
    const sdc_st_tensor *flat = sdc_st_find(f, "model.view.flat");
    const sdc_st_tensor *col = sdc_st_find(f, "model.view.column1");
    CHECK(whole && rows && flat && col);
    if (whole && rows && flat && col) {
        CHECK_EQ_INT(rows->begin, whole->begin + 8 * 4);
        CHECK_EQ_INT(flat->begin, whole->begin + 20 * 4);
        CHECK_EQ_INT(col->begin, whole->begin + 12 * 4);
        CHECK_EQ_INT(whole->begin % 64, 0);
    }
    const sdc_st_tensor *scalar = sdc_st_find(f, "model.scalar");
    CHECK(scalar && scalar->ndim == 0 && sdc_st_nbytes(scalar) == 4);
    const sdc_st_tensor *empty = sdc_st_find(f, "model.empty");
    CHECK(empty && empty->ndim == 2 && empty->shape[0] == 0 && sdc_st_nbytes(empty) == 0);
    sdc_st_close(f);
    check_no_leak();
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile and unsupported files                                                              */

typedef struct bad_file {
    const char *file;
    sdc_status status;
    const char *needle;
} bad_file;

static const bad_file bad_files[] = {
    /* what the pickle says */
    {"evil_in_zip", SDC_STATUS_UNSUPPORTED,
     "\"archive/data.pkl\": byte 2 (GLOBAL): global \"posix.system\" is not allowed"},
    {"storage_offset_past_end", SDC_STATUS_FORMAT,
     "tensor \"w\" (pickle byte 151): storage offset 10 and shape [2] of F32 need 8 bytes from "
     "element 10 of storage \"0\", which holds 16 bytes"},
    {"shape_past_storage", SDC_STATUS_FORMAT,
     "shape [3, 3] of F32 need 36 bytes from element 0 of storage \"0\", which holds 16"},
    {"storage_declares_more", SDC_STATUS_FORMAT,
     "storage \"0\" declares 100 elements of F32 (400 bytes) but entry \"archive/data/0\" holds "
     "16 bytes"},
    {"missing_storage", SDC_STATUS_FORMAT,
     "tensor \"w\": storage \"7\" has no entry \"archive/data/7\" in the archive"},
    {"int_key", SDC_STATUS_FORMAT,
     "the state dict key of the tensor built at pickle byte 130 is "
     "of type int, expected a string"},
    {"root_tensor", SDC_STATUS_UNSUPPORTED,
     "the checkpoint holds a tensor, expected a dict of named tensors"},
    {"noncontiguous", SDC_STATUS_UNSUPPORTED,
     "tensor \"t\": strides [1, 4] for shape [4, 3] are not contiguous row-major"},
    {"trailing_after_stop", SDC_STATUS_FORMAT, "1 bytes follow the STOP opcode at byte 154"},
    /* what the ZIP container says */
    {"deflated_data", SDC_STATUS_UNSUPPORTED,
     "entry \"archive/data/0\" is compressed with method 8 (deflate)"},
    {"deflated_pickle", SDC_STATUS_UNSUPPORTED,
     "entry \"archive/data.pkl\" is compressed with method 8 (deflate)"},
    {"encrypted", SDC_STATUS_UNSUPPORTED, "entry \"archive/data.pkl\" is encrypted"},
    {"local_offset_outside", SDC_STATUS_FORMAT,
     "entry 1 (\"archive/data/0\"): local header offset 1000000000 is outside the data area"},
    {"data_past_cd", SDC_STATUS_FORMAT,
     "entry \"archive/data/0\": 100000 bytes of data at byte 320 run past the data area"},
    {"name_mismatch", SDC_STATUS_FORMAT,
     "the local header names \"archive/data/9\" but the central directory \"archive/data/0\""},
    {"duplicate_entries", SDC_STATUS_FORMAT, "two entries are named \"archive/data/0\""},
    {"no_data_pkl", SDC_STATUS_FORMAT,
     "no \"<folder>/data.pkl\" entry among the 1 entries of this ZIP archive"},
    {"two_pickles", SDC_STATUS_FORMAT, "two pickles, \"archive/data.pkl\" and \"other/data.pkl\""},
    {"big_endian", SDC_STATUS_UNSUPPORTED, "saved on a big-endian machine (byteorder \"big\")"},
    {"torchscript", SDC_STATUS_UNSUPPORTED, "a TorchScript archive (torch.jit.save)"},
    {"zip64_bad_locator", SDC_STATUS_FORMAT, "byte 7: expected the ZIP64 end record signature"},
    {"truncated_half", SDC_STATUS_FORMAT, "no ZIP end-of-central-directory record"},
    {"truncated_tail", SDC_STATUS_FORMAT, "no ZIP end-of-central-directory record"},
    {"truncated_data", SDC_STATUS_FORMAT,
     "central directory of 1289 bytes at byte 5176 runs past the end records at byte 4096"},
    {"not_a_zip_or_pickle", SDC_STATUS_FORMAT, "no ZIP end-of-central-directory record"},
    /* the legacy format */
    /* (storage keys are object ids, different each time the samples are made) */
    {"legacy_truncated", SDC_STATUS_FORMAT, "elements of 4 bytes at byte"},
    {"legacy_bad_count", SDC_STATUS_FORMAT, "elements, but the tensors declare"},
};

static void test_bad_files(void)
{
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const bad_file *b = &bad_files[i];
        char rel[128], path[512];
        snprintf(rel, sizeof rel, "pickle/%s.ckpt", b->file);
        snprintf(path, sizeof path, "%s", data_path(rel));
        sdc_st_file *f = (sdc_st_file *)1;
        sdc_status st = sdc_st_open(ctx, path, &f);
        CHECK_MSG(st == b->status, "%s: status %d, expected %d (%s)", b->file, (int)st,
                  (int)b->status, sdc_context_errmsg(ctx));
        CHECK(f == NULL);
        const char *msg = sdc_context_errmsg(ctx);
        CHECK_MSG(strncmp(msg, path, strlen(path)) == 0, "the message names the file: %s", msg);
        CHECK_CONTAINS(msg, b->needle);
        check_no_leak();
    }
}

/* A key set twice keeps its last value, as in Python: the state dict, its tensors (even when
 * the first value was a bad tensor, or the last is not a tensor) and the metadata. */
static void test_repeated_keys(void)
{
    sdc_st_file *f = NULL;
    sdc_status st = sdc_st_open(ctx, data_path("pickle/_repeated_keys.ckpt"), &f);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!f)
        return;
    CHECK_EQ_INT(f->n_tensors, 1);
    CHECK_EQ_STR(f->tensors[0].name, "a");
    CHECK_EQ_INT(sdc_st_nbytes(&f->tensors[0]), 16);
    CHECK_EQ_INT(f->n_metadata, 1);
    CHECK_EQ_STR(sdc_st_metadata(f, "epoch"), "two");
    sdc_st_close(f);
    check_no_leak();
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                               */

static void test_public_api(void)
{
    sdc_tensor_file *f = NULL, *ref = NULL;
    CHECK(sdc_tensor_file_open(ctx, data_path("ckpt/sample_zip.ckpt"), &f) == SDC_STATUS_OK);
    CHECK(sdc_tensor_file_open(ctx, data_path("ckpt/sample.safetensors"), &ref) == SDC_STATUS_OK);
    if (f && ref) {
        CHECK_EQ_STR(sdc_tensor_file_format(f), "pytorch");
        CHECK_EQ_INT(sdc_tensor_file_count(f), sdc_tensor_file_count(ref));
        CHECK_EQ_INT(sdc_tensor_file_metadata_count(f), 4);
        FILE *fp = fopen(data_path("ckpt/sample_zip.ckpt"), "rb");
        FILE *rp = fopen(data_path("ckpt/sample.safetensors"), "rb");
        for (size_t i = 0; fp && rp && i < sdc_tensor_file_count(f); i++) {
            sdc_tensor_info a, b;
            CHECK(sdc_tensor_file_info(f, i, &a) == SDC_STATUS_OK);
            CHECK(sdc_tensor_file_info(ref, i, &b) == SDC_STATUS_OK);
            CHECK_EQ_STR(a.name, b.name);
            CHECK_EQ_STR(a.dtype, b.dtype);
            CHECK_EQ_INT(a.nbytes, b.nbytes);
            /* the offset is where the bytes are in the file */
            unsigned char x[128], y[128];
            CHECK(a.nbytes <= sizeof x);
            fseek(fp, (long)a.offset, SEEK_SET);
            fseek(rp, (long)b.offset, SEEK_SET);
            CHECK(fread(x, 1, (size_t)a.nbytes, fp) == a.nbytes);
            CHECK(fread(y, 1, (size_t)b.nbytes, rp) == b.nbytes);
            CHECK(memcmp(x, y, (size_t)a.nbytes) == 0);
        }
        if (fp)
            fclose(fp);
        if (rp)
            fclose(rp);
    }
    sdc_tensor_file_close(f);
    sdc_tensor_file_close(ref);
    CHECK(sdc_tensor_file_open(ctx, data_path("ckpt/sample_legacy.ckpt"), &f) == SDC_STATUS_OK);
    if (f)
        CHECK_EQ_STR(sdc_tensor_file_format(f), "pytorch-legacy");
    sdc_tensor_file_close(f);
    CHECK_EQ_INT(sdc_tensor_file_open(ctx, data_path("pickle/evil_in_zip.ckpt"), &f),
                 SDC_STATUS_UNSUPPORTED);
    CHECK(f == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "global \"posix.system\" is not allowed");
    check_no_leak();
}

static void test_sniff_and_parse(void)
{
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    CHECK(sdc_ckpt_sniff(magic, sizeof magic));
    CHECK(!sdc_ckpt_sniff(magic, 13));
    CHECK(!sdc_ckpt_sniff(NULL, 0));
    CHECK(sdc_ckpt_sniff("PK\x03\x04\x14\x00", 6));
    CHECK(sdc_ckpt_sniff("PK\x05\x06", 4));
    /* a safetensors header of 67,325,776 bytes starts with the same bytes as a ZIP */
    CHECK(!sdc_ckpt_sniff("PK\x03\x04\x00\x00\x00\x00{\"", 10));
    /* a safetensors header of 640 bytes starts with 0x80 0x02 */
    CHECK(!sdc_ckpt_sniff("\x80\x02\x00\x00\x00\x00\x00\x00{\"a\":{}}", 16));

    char *data = NULL;
    size_t size = 0;
    CHECK(sdc_file_read_all(ctx, data_path("ckpt/sample_legacy.ckpt"), &data, &size) ==
          SDC_STATUS_OK);
    CHECK(sdc_ckpt_sniff(data, size));
    sdc_st_file *f = NULL;
    CHECK(sdc_ckpt_parse(ctx, data, size, "mem.ckpt", &f) == SDC_STATUS_OK);
    if (f) {
        CHECK_EQ_INT(f->n_tensors, 17);
        CHECK(f->map.data == NULL);
        CHECK((const char *)f->tensors[0].data == data + f->tensors[0].begin);
        CHECK_EQ_STR(f->path, "mem.ckpt");
    }
    sdc_st_close(f);
    sdc_free(ctx, data);

    /* a safetensors file is no checkpoint */
    CHECK_EQ_INT(sdc_ckpt_open(ctx, data_path("ckpt/sample.safetensors"), &f), SDC_STATUS_FORMAT);
    CHECK(f == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "not a torch.save checkpoint (neither a ZIP archive");
    CHECK_EQ_INT(sdc_ckpt_parse(ctx, NULL, 0, NULL, &f), SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "checkpoint data: not a torch.save checkpoint");
    CHECK_EQ_INT(sdc_ckpt_open(ctx, data_path("ckpt/no-such.ckpt"), &f), SDC_STATUS_IO);
    CHECK(f == NULL);
    check_no_leak();
}

/* `sdc inspect` lists a checkpoint, and refuses a hostile one with one line naming the file
 * and the global, exiting non-zero. */
static void test_cli(void)
{
    char cmd[1024];
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' 2>&1", SDC_CLI_PATH,
             data_path("ckpt/sample_legacy.ckpt"));
    CHECK_EQ_INT(test_capture(cmd, &out), 0);
    CHECK_CONTAINS(out, "format:   pytorch-legacy");
    CHECK_CONTAINS(out, "model.view.rows");
    free(out);
    out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' 2>&1", SDC_CLI_PATH,
             data_path("pickle/evil_in_zip.ckpt"));
    CHECK(test_capture(cmd, &out) != 0);
    CHECK_CONTAINS(out, "evil_in_zip.ckpt: \"archive/data.pkl\": byte 2 (GLOBAL): global "
                        "\"posix.system\" is not allowed");
    CHECK(out && strchr(out, '\n') == out + strlen(out) - 1);
    free(out);
}

/* ---------------------------------------------------------------------------------------- */
/* Allocation failures                                                                        */

static void fail_each_allocation(const char *path)
{
    uint64_t n;
    for (n = 1; n < 100000; n++) {
        sdc_alloc_fail_nth(ctx, n);
        sdc_st_file *f = NULL;
        sdc_status st = sdc_st_open(ctx, path, &f);
        sdc_alloc_fail_nth(ctx, 0);
        CHECK((st == SDC_STATUS_OK) == (f != NULL));
        sdc_st_close(f);
        sdc_alloc_stats s;
        sdc_alloc_get_stats(ctx, &s);
        CHECK_MSG(s.live_bytes == 0, "%s, allocation %llu failed: %zu bytes leaked", path,
                  (unsigned long long)n, s.live_bytes);
        if (st == SDC_STATUS_OK)
            break;
        CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "%s, allocation %llu failed: %s", path,
                  (unsigned long long)n, sdc_context_errmsg(ctx));
    }
    CHECK_MSG(n > 5 && n < 100000, "%s: %llu allocations", path, (unsigned long long)n);
}

static void test_fault_injection(void)
{
    fail_each_allocation(data_path("ckpt/sample_zip.ckpt"));
    fail_each_allocation(data_path("ckpt/sample_legacy.ckpt"));
    fail_each_allocation(data_path("ckpt/taef2_decoder.pth"));
    const char *sd1 = test_path(SDC_BUILD_FIXTURES_DIR, "models/sd1-tiny.ckpt");
    if (exists(sd1))
        fail_each_allocation(sd1);
}

int main(void)
{
    sdc_context_params params = sdc_context_default_params();
    params.n_threads = 1;
    if (sdc_context_create(&params, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_samples);
    RUN(test_real_files);
    RUN(test_fixture_models);
    RUN(test_metadata_and_views);
    RUN(test_bad_files);
    RUN(test_repeated_keys);
    RUN(test_public_api);
    RUN(test_sniff_and_parse);
    RUN(test_cli);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
