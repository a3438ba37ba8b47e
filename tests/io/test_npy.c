/*
 * Tests src/io/npy.c: reading the .npy files numpy 1.26 wrote in tests/data/npy (every
 * supported dtype, rank 0 and 1, empty, 8 dims, format 2.0 and 3.0), writing the same arrays
 * back byte-identical to numpy's, tolerated header variations, each rejected header or size
 * with its message, and allocation failure at every point of sdc_npy_read.
 */
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

static void check_no_leak(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
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

/* Element k of arange(n).astype(dtype), as bytes. */
static void arange_bytes(sdc_dtype dtype, size_t n, unsigned char *out)
{
    for (size_t k = 0; k < n; k++) {
        unsigned char *p = out + k * sdc_dtype_size(dtype);
        switch (dtype) {
        case SDC_DTYPE_F64: {
            double v = (double)k;
            memcpy(p, &v, 8);
            break;
        }
        case SDC_DTYPE_F32: {
            float v = (float)k;
            memcpy(p, &v, 4);
            break;
        }
        case SDC_DTYPE_F16: {
            uint16_t v = sdc_f32_to_f16((float)k);
            memcpy(p, &v, 2);
            break;
        }
        case SDC_DTYPE_I64:
        case SDC_DTYPE_U64: {
            uint64_t v = k;
            memcpy(p, &v, 8);
            break;
        }
        case SDC_DTYPE_I32:
        case SDC_DTYPE_U32: {
            uint32_t v = (uint32_t)k;
            memcpy(p, &v, 4);
            break;
        }
        case SDC_DTYPE_I16:
        case SDC_DTYPE_U16: {
            uint16_t v = (uint16_t)k;
            memcpy(p, &v, 2);
            break;
        }
        case SDC_DTYPE_I8:
        case SDC_DTYPE_U8:
            p[0] = (unsigned char)k;
            break;
        case SDC_DTYPE_BOOL:
            p[0] = k != 0;
            break;
        default:
            break;
        }
    }
}

static const struct {
    const char *file;
    sdc_dtype dtype;
} numpy_2x3[] = {
    {"npy/f8_2x3.npy", SDC_DTYPE_F64},    {"npy/f4_2x3.npy", SDC_DTYPE_F32},
    {"npy/f2_2x3.npy", SDC_DTYPE_F16},    {"npy/i8_2x3.npy", SDC_DTYPE_I64},
    {"npy/i4_2x3.npy", SDC_DTYPE_I32},    {"npy/i2_2x3.npy", SDC_DTYPE_I16},
    {"npy/i1_2x3.npy", SDC_DTYPE_I8},     {"npy/u8_2x3.npy", SDC_DTYPE_U64},
    {"npy/u4_2x3.npy", SDC_DTYPE_U32},    {"npy/u2_2x3.npy", SDC_DTYPE_U16},
    {"npy/u1_2x3.npy", SDC_DTYPE_U8},     {"npy/b1_2x3.npy", SDC_DTYPE_BOOL},
    {"npy/f4_2x3_v2.npy", SDC_DTYPE_F32}, {"npy/f4_2x3_v3.npy", SDC_DTYPE_F32},
};

static void test_read_numpy_files(void)
{
    for (size_t i = 0; i < sizeof numpy_2x3 / sizeof numpy_2x3[0]; i++) {
        sdc_npy a;
        sdc_status st = sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, numpy_2x3[i].file), &a);
        CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", numpy_2x3[i].file, sdc_context_errmsg(ctx));
        if (st != SDC_STATUS_OK)
            continue;
        CHECK(a.dtype == numpy_2x3[i].dtype && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3);
        unsigned char want[48];
        arange_bytes(a.dtype, 6, want);
        CHECK_EQ_INT(a.nbytes, 6 * sdc_dtype_size(a.dtype));
        CHECK_MSG(memcmp(a.data, want, a.nbytes) == 0, "%s: values", numpy_2x3[i].file);
        CHECK((uintptr_t)a.data % SDC_ALIGN == 0);
        sdc_npy_free(ctx, &a);
        CHECK(a.data == NULL);
    }
    sdc_npy a;
    CHECK(sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/f4_scalar.npy"), &a) ==
          SDC_STATUS_OK);
    CHECK(a.dtype == SDC_DTYPE_F32 && a.ndim == 0 && a.nbytes == 4 && ((float *)a.data)[0] == 1.5f);
    sdc_npy_free(ctx, &a);
    CHECK(sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/i8_5.npy"), &a) == SDC_STATUS_OK);
    CHECK(a.dtype == SDC_DTYPE_I64 && a.ndim == 1 && a.shape[0] == 5 && a.nbytes == 40);
    CHECK(a.data && ((int64_t *)a.data)[0] == -2 && ((int64_t *)a.data)[4] == 2);
    sdc_npy_free(ctx, &a);
    CHECK(sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/f4_0x3.npy"), &a) == SDC_STATUS_OK);
    CHECK(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == 3 && a.nbytes == 0 && a.data != NULL);
    sdc_npy_free(ctx, &a);
    CHECK(sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/f4_8d.npy"), &a) == SDC_STATUS_OK);
    CHECK(a.ndim == 8 && a.shape[7] == 2 && a.shape[0] == 1 && ((float *)a.data)[1] == 1.0f);
    sdc_npy_free(ctx, &a);
    sdc_npy_free(ctx, NULL);
    CHECK_EQ_INT(sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/missing.npy"), &a),
                 SDC_STATUS_IO);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "npy/missing.npy");
    check_no_leak();
}

/* Writing what was read gives numpy's bytes exactly. */
static void test_write_matches_numpy(void)
{
    const char *files[] = {
        "npy/f8_2x3.npy",    "npy/f4_2x3.npy", "npy/f2_2x3.npy", "npy/i8_2x3.npy",
        "npy/i4_2x3.npy",    "npy/i2_2x3.npy", "npy/i1_2x3.npy", "npy/u8_2x3.npy",
        "npy/u4_2x3.npy",    "npy/u2_2x3.npy", "npy/u1_2x3.npy", "npy/b1_2x3.npy",
        "npy/f4_scalar.npy", "npy/i8_5.npy",   "npy/f4_0x3.npy", "npy/f4_8d.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *src = test_path(SDC_TEST_DATA_DIR, files[i]);
        sdc_npy a;
        if (sdc_npy_read(ctx, src, &a) != SDC_STATUS_OK) {
            CHECK_MSG(false, "read %s: %s", files[i], sdc_context_errmsg(ctx));
            continue;
        }
        const char *dst = test_tmp_path("written.npy");
        sdc_status st = sdc_npy_write(ctx, dst, a.dtype, a.ndim, a.shape, a.data);
        CHECK_MSG(st == SDC_STATUS_OK, "write %s: %s", files[i], sdc_context_errmsg(ctx));
        size_t n1 = 0, n2 = 0;
        unsigned char *b1 = read_file(src, &n1), *b2 = read_file(dst, &n2);
        CHECK_MSG(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "%s: same bytes as numpy",
                  files[i]);
        free(b1);
        free(b2);
        remove(dst);
        sdc_npy_free(ctx, &a);
    }
    check_no_leak();
}

static void test_write_for_python(void)
{
    /* kept for tests/io/check_python_compat.py: a [2, 3, 4] F32 arange and a U16 vector */
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i * 0.5f - 3.0f;
    int64_t shape[3] = {2, 3, 4};
    CHECK(sdc_npy_write(ctx, test_path(SDC_TEST_TMP_DIR, "sdc_written_f4.npy"), SDC_DTYPE_F32, 3,
                        shape, x) == SDC_STATUS_OK);
    uint16_t u[7] = {0, 1, 2, 65535, 4, 5, 6};
    int64_t n = 7;
    CHECK(sdc_npy_write(ctx, test_path(SDC_TEST_TMP_DIR, "sdc_written_u2.npy"), SDC_DTYPE_U16, 1,
                        &n, u) == SDC_STATUS_OK);
    /* and it reads back */
    sdc_npy a;
    CHECK(sdc_npy_read(ctx, test_path(SDC_TEST_TMP_DIR, "sdc_written_f4.npy"), &a) ==
          SDC_STATUS_OK);
    CHECK(a.ndim == 3 && a.shape[2] == 4 && a.nbytes == sizeof x &&
          memcmp(a.data, x, sizeof x) == 0);
    sdc_npy_free(ctx, &a);
    check_no_leak();
}

static void test_write_rejects(void)
{
    int64_t shape[2] = {2, 2};
    uint16_t d[4] = {0};
    const char *path = test_tmp_path("rejected.npy");
    CHECK_EQ_INT(sdc_npy_write(ctx, path, SDC_DTYPE_BF16, 2, shape, d), SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "numpy has no dtype for BF16");
    CHECK_EQ_INT(sdc_npy_write(ctx, path, SDC_DTYPE_F8_E4M3, 2, shape, d), SDC_STATUS_UNSUPPORTED);
    CHECK_EQ_INT(sdc_npy_write(ctx, path, SDC_DTYPE_F16, 9, shape, d), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "ndim 9");
    shape[1] = -1;
    CHECK_EQ_INT(sdc_npy_write(ctx, path, SDC_DTYPE_F16, 2, shape, d), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "shape[1] = -1");
    shape[1] = 2;
    CHECK_EQ_INT(sdc_npy_write(ctx, path, SDC_DTYPE_F16, 2, shape, NULL),
                 SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "data is NULL");
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL);
    if (fp)
        fclose(fp);
    check_no_leak();
}

/* ---------------------------------------------------------------------------------------- */
/* Headers built in memory                                                                    */

/* A version 1.0 file with the given dict text (padded as numpy pads) and `data_len` bytes. */
static unsigned char *make_npy(const char *dict, size_t data_len, size_t *size)
{
    size_t dl = strlen(dict);
    size_t hlen = dl + 1;
    size_t pad = 64 - (10 + hlen) % 64;
    size_t header = hlen + pad;
    *size = 10 + header + data_len;
    unsigned char *p = malloc(*size);
    memcpy(p, "\x93NUMPY\x01\x00", 8);
    p[8] = (unsigned char)(header & 0xFF);
    p[9] = (unsigned char)(header >> 8);
    memcpy(p + 10, dict, dl);
    memset(p + 10 + dl, ' ', pad);
    p[10 + header - 1] = '\n';
    for (size_t i = 0; i < data_len; i++)
        p[10 + header + i] = (unsigned char)i;
    return p;
}

static void accept_dict(const char *dict, size_t data_len, sdc_dtype dtype, int ndim, int64_t dim0)
{
    size_t size;
    unsigned char *p = make_npy(dict, data_len, &size);
    sdc_npy a;
    sdc_status st = sdc_npy_parse(ctx, p, size, "m.npy", &a);
    CHECK_MSG(st == SDC_STATUS_OK, "accepts %s: %s", dict, sdc_context_errmsg(ctx));
    if (st == SDC_STATUS_OK) {
        CHECK_MSG(a.dtype == dtype && a.ndim == ndim && (ndim == 0 || a.shape[0] == dim0), "%s",
                  dict);
        CHECK(a.nbytes == data_len && (data_len == 0 || ((unsigned char *)a.data)[data_len - 1] ==
                                                            (unsigned char)(data_len - 1)));
    }
    sdc_npy_free(ctx, &a);
    free(p);
}

static void reject_bytes(const unsigned char *p, size_t size, sdc_status status, const char *needle)
{
    sdc_npy a;
    sdc_status st = sdc_npy_parse(ctx, p, size, "m.npy", &a);
    CHECK_EQ_INT(st, status);
    CHECK(a.data == NULL && a.nbytes == 0);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "m.npy: ");
    CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
    check_no_leak();
}

static void reject_dict(const char *dict, size_t data_len, sdc_status status, const char *needle)
{
    size_t size;
    unsigned char *p = make_npy(dict, data_len, &size);
    reject_bytes(p, size, status, needle);
    free(p);
}

static void test_header_variations(void)
{
    accept_dict("{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}", 12, SDC_DTYPE_F32, 1, 3);
    accept_dict("{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (2, 3,)}", 12,
                SDC_DTYPE_I16, 2, 2);
    accept_dict("{ 'descr' : '|u1' ,\n 'fortran_order':False,'shape':( 4 , ) , }", 4, SDC_DTYPE_U8,
                1, 4);
    accept_dict("{'descr': '<u1', 'fortran_order': False, 'shape': (4,), }", 4, SDC_DTYPE_U8, 1, 4);
    accept_dict("{'descr': '=i1', 'fortran_order': False, 'shape': (4,), }", 4, SDC_DTYPE_I8, 1, 4);
    accept_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (), }", 1, SDC_DTYPE_BOOL, 0, 0);
    accept_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 1L), }", 16, SDC_DTYPE_F64,
                2, 2);
    accept_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 99999999999), }", 0,
                SDC_DTYPE_F16, 2, 0);
    accept_dict("{'descr': '<u8', 'fortran_order': False, 'shape': (1,)}", 8, SDC_DTYPE_U64, 1, 1);
}

static void test_rejects(void)
{
    reject_bytes((const unsigned char *)"\x93NUMPY\x01", 7, SDC_STATUS_FORMAT,
                 "file is 7 bytes, too short");
    reject_bytes((const unsigned char *)"\x93NUMPX\x01\x00\x10\x00{}", 12, SDC_STATUS_FORMAT,
                 "not a .npy file");
    reject_bytes((const unsigned char *)"\x93NUMPY\x04\x00\x10\x00{}", 12, SDC_STATUS_UNSUPPORTED,
                 "version 4.0 is not supported");
    reject_bytes((const unsigned char *)"\x93NUMPY\x01\x01\x10\x00{}", 12, SDC_STATUS_UNSUPPORTED,
                 "version 1.1");
    reject_bytes((const unsigned char *)"\x93NUMPY\x02\x00\x10\x00", 10, SDC_STATUS_FORMAT,
                 "too short for a version 2.0 header length");
    reject_bytes((const unsigned char *)"\x93NUMPY\x01\x00\x10\x00{}", 12, SDC_STATUS_FORMAT,
                 "header length 16 runs past the end of the file (12 bytes)");
    reject_bytes((const unsigned char *)"\x93NUMPY\x02\x00\x00\x00\x00\x80{}", 14,
                 SDC_STATUS_FORMAT, "header length 2147483648 runs past the end");

    const char *ok_tail = ", 'fortran_order': False, 'shape': (3,), }";
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '>f4'%s", ok_tail);
    reject_dict(dict, 12, SDC_STATUS_UNSUPPORTED,
                "descr '>f4' is big-endian; only little-endian data is supported");
    snprintf(dict, sizeof dict, "{'descr': '<c8'%s", ok_tail);
    reject_dict(dict, 24, SDC_STATUS_UNSUPPORTED, "descr '<c8' is not supported (supported: <f8");
    snprintf(dict, sizeof dict, "{'descr': '|f4'%s", ok_tail);
    reject_dict(dict, 12, SDC_STATUS_UNSUPPORTED, "descr '|f4' is not supported");
    snprintf(dict, sizeof dict, "{'descr': '<U3'%s", ok_tail);
    reject_dict(dict, 36, SDC_STATUS_UNSUPPORTED, "descr '<U3' is not supported");
    snprintf(dict, sizeof dict, "{'descr': [('a', '<f4')]%s", ok_tail);
    reject_dict(dict, 12, SDC_STATUS_UNSUPPORTED, "structured dtypes are not supported");
    reject_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", 24,
                SDC_STATUS_UNSUPPORTED, "fortran_order is True; only C-order arrays");
    reject_dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", 12, SDC_STATUS_FORMAT,
                "expected True or False (got '0')");
    reject_dict("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (3,), }", 12, SDC_STATUS_FORMAT,
                "expected True or False");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12, SDC_STATUS_FORMAT,
                "shape (3) is not a tuple; a one-dim shape is written (3,)");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", 12, SDC_STATUS_FORMAT,
                "expected '(' starting the shape tuple (got '3')");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 12, SDC_STATUS_FORMAT,
                "expected a non-negative integer or ')' in the shape (got '-')");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }", 12, SDC_STATUS_FORMAT,
                "expected a non-negative integer or ')' in the shape (got ',')");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }", 12, SDC_STATUS_FORMAT,
                "expected ',' or ')' in the shape (got '4')");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
                SDC_STATUS_UNSUPPORTED, "shape has more than 8 dims");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4,
                SDC_STATUS_FORMAT, "shape dim does not fit in 64 bits");
    reject_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 4,
                SDC_STATUS_FORMAT, "overflows");
    reject_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3074457345618258603,), }", 4,
                SDC_STATUS_FORMAT, "the byte size of shape [3074457345618258603] of F64 overflows");
    reject_dict("{'descr': '<f4', 'fortran_order': False}", 4, SDC_STATUS_FORMAT,
                "missing key 'shape'");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4,
                SDC_STATUS_FORMAT, "unexpected key 'extra'");
    reject_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
                SDC_STATUS_FORMAT, "duplicate key 'descr'");
    reject_dict("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", 4, SDC_STATUS_FORMAT,
                "expected ',' or '}' in the header dict (got ''')");
    reject_dict("['descr', '<f4']", 4, SDC_STATUS_FORMAT,
                ".npy header at byte 10: expected '{' starting the header dict (got '[')");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4, SDC_STATUS_FORMAT,
                "expected only spaces after the dict (got 'x')");
    reject_dict("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", 4, SDC_STATUS_FORMAT,
                "expected plain ASCII in a string (got '\\')");
    reject_dict("{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}", 4, SDC_STATUS_FORMAT,
                "unexpected key 'descr: '");
    reject_dict("{'descr': '<f4", 4, SDC_STATUS_FORMAT, "in a string (got byte 0x0a)");
    reject_bytes((const unsigned char *)"\x93NUMPY\x01\x00\x05\x00{'abc", 15, SDC_STATUS_FORMAT,
                 "expected the closing quote of a string");
    reject_dict("{descr: '<f4'}", 4, SDC_STATUS_FORMAT, "expected a quoted string (got 'd')");
    /* data size against the shape, both ways */
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
                SDC_STATUS_FORMAT, "data is 20 bytes, expected 24 for shape [2, 3] of F32");
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28,
                SDC_STATUS_FORMAT, "data is 28 bytes, expected 24");
    /* the header text is quoted in the message */
    reject_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
                SDC_STATUS_FORMAT, "(header: \"{'descr': '<f4'");
}

static sdc_status read_one(void)
{
    sdc_npy a;
    sdc_status st = sdc_npy_read(ctx, test_path(SDC_TEST_DATA_DIR, "npy/f4_8d.npy"), &a);
    sdc_npy_free(ctx, &a);
    return st;
}

static void test_fault_injection(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    uint64_t before = s.n_allocs;
    CHECK(read_one() == SDC_STATUS_OK);
    sdc_alloc_get_stats(ctx, &s);
    uint64_t allocs = s.n_allocs - before, n;
    CHECK(allocs >= 2);
    for (n = 1; n <= allocs + 1; n++) {
        sdc_alloc_get_stats(ctx, &s);
        uint64_t failed_before = s.n_failed;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = read_one();
        sdc_alloc_fail_nth(ctx, 0);
        sdc_alloc_get_stats(ctx, &s);
        bool injected = s.n_failed > failed_before;
        CHECK(injected == (n <= allocs));
        CHECK(st == (injected ? SDC_STATUS_OUT_OF_MEMORY : SDC_STATUS_OK));
        if (injected)
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "out of memory");
        CHECK_EQ_INT(s.live_bytes, 0);
        if (st == SDC_STATUS_OK)
            break;
    }
    CHECK_EQ_INT(n, allocs + 1);
    /* the writer too */
    float x[6] = {0};
    int64_t shape[2] = {2, 3};
    const char *path = test_tmp_path("fi.npy");
    sdc_alloc_get_stats(ctx, &s);
    before = s.n_allocs;
    CHECK(sdc_npy_write(ctx, path, SDC_DTYPE_F32, 2, shape, x) == SDC_STATUS_OK);
    sdc_alloc_get_stats(ctx, &s);
    allocs = s.n_allocs - before;
    for (n = 1; n <= allocs; n++) {
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_npy_write(ctx, path, SDC_DTYPE_F32, 2, shape, x);
        sdc_alloc_fail_nth(ctx, 0);
        CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
        check_no_leak();
    }
    remove(path);
}

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_read_numpy_files);
    RUN(test_write_matches_numpy);
    RUN(test_write_for_python);
    RUN(test_write_rejects);
    RUN(test_header_variations);
    RUN(test_rejects);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
