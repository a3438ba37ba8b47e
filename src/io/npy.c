/*
 * npy.c — reads and writes NumPy .npy files as numpy/lib/format.py (numpy 1.26) defines them:
 * "\x93NUMPY", a version, a u16 (1.0) or u32 (2.0, 3.0) header length and a Python dict literal
 * {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded to 64 bytes. Only little-endian
 * C-order arrays of plain numeric types; the writer gives the same bytes as numpy.save.
 */
#include "io/io.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAGIC                  "\x93NUMPY"
#define MAGIC_LEN              6
#define ARRAY_ALIGN            64
#define GROWTH_AXIS_MAX_DIGITS 21 /* numpy pads the header so shape[0] can grow this wide */

/* Type codes after the byte-order character, as numpy writes them. */
static const char *const type_codes[SDC_DTYPE_COUNT] = {
    [SDC_DTYPE_F64] = "f8", [SDC_DTYPE_F32] = "f4", [SDC_DTYPE_F16] = "f2", [SDC_DTYPE_I64] = "i8",
    [SDC_DTYPE_I32] = "i4", [SDC_DTYPE_I16] = "i2", [SDC_DTYPE_I8] = "i1",  [SDC_DTYPE_U64] = "u8",
    [SDC_DTYPE_U32] = "u4", [SDC_DTYPE_U16] = "u2", [SDC_DTYPE_U8] = "u1",  [SDC_DTYPE_BOOL] = "b1",
};
#define SUPPORTED_DESCRS "<f8 <f4 <f2 <i8 <i4 <i2 |i1 <u8 <u4 <u2 |u1 |b1"

/* ---------------------------------------------------------------------------------------- */
/* Header: a restricted Python dict literal                                                   */

typedef struct header_parser {
    sdc_context *ctx;
    const char *name;
    const char *text;
    size_t len, pos;
    size_t base; /* file offset of text, for messages */
} header_parser;

static sdc_status header_fail(header_parser *hp, sdc_status status, const char *fmt, ...)
    SDC_PRINTF(3, 4);
static sdc_status header_fail(header_parser *hp, sdc_status status, const char *fmt, ...)
{
    char msg[400], shown[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sdc_json_quote(hp->text, hp->len, shown, sizeof shown);
    return sdc_fail(hp->ctx, status, "%s: .npy header at byte %zu: %s (header: %s)", hp->name,
                    hp->base + hp->pos, msg, shown);
}

static const char *describe(const header_parser *hp, char *buf, size_t size)
{
    if (hp->pos >= hp->len)
        return "the end of the header";
    unsigned char c = (unsigned char)hp->text[hp->pos];
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static void skip_space(header_parser *hp)
{
    while (hp->pos < hp->len && (hp->text[hp->pos] == ' ' || hp->text[hp->pos] == '\t' ||
                                 hp->text[hp->pos] == '\n' || hp->text[hp->pos] == '\r'))
        hp->pos++;
}

static bool accept(header_parser *hp, char c)
{
    skip_space(hp);
    if (hp->pos < hp->len && hp->text[hp->pos] == c) {
        hp->pos++;
        return true;
    }
    return false;
}

static sdc_status expect(header_parser *hp, char c, const char *what)
{
    if (accept(hp, c))
        return SDC_STATUS_OK;
    char got[32];
    return header_fail(hp, SDC_STATUS_FORMAT, "expected %s (got %s)", what,
                       describe(hp, got, sizeof got));
}

/* A quoted Python string without escapes: 'text' or "text". */
static sdc_status parse_pystr(header_parser *hp, const char **s, size_t *len)
{
    skip_space(hp);
    char got[32];
    if (hp->pos >= hp->len || (hp->text[hp->pos] != '\'' && hp->text[hp->pos] != '"'))
        return header_fail(hp, SDC_STATUS_FORMAT, "expected a quoted string (got %s)",
                           describe(hp, got, sizeof got));
    char q = hp->text[hp->pos++];
    size_t start = hp->pos;
    while (hp->pos < hp->len && hp->text[hp->pos] != q) {
        unsigned char c = (unsigned char)hp->text[hp->pos];
        if (c == '\\' || c < 0x20 || c >= 0x7F)
            return header_fail(hp, SDC_STATUS_FORMAT, "expected plain ASCII in a string (got %s)",
                               describe(hp, got, sizeof got));
        hp->pos++;
    }
    if (hp->pos >= hp->len)
        return header_fail(hp, SDC_STATUS_FORMAT, "expected the closing quote of a string");
    *s = hp->text + start;
    *len = hp->pos - start;
    hp->pos++;
    return SDC_STATUS_OK;
}

static bool match_word(header_parser *hp, const char *word)
{
    size_t n = strlen(word);
    if (hp->len - hp->pos < n || memcmp(hp->text + hp->pos, word, n) != 0)
        return false;
    /* not the start of a longer identifier */
    if (hp->pos + n < hp->len) {
        char c = hp->text[hp->pos + n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return false;
    }
    hp->pos += n;
    return true;
}

static sdc_status parse_descr(header_parser *hp, sdc_dtype *dtype)
{
    skip_space(hp);
    if (hp->pos < hp->len && hp->text[hp->pos] == '[')
        return header_fail(hp, SDC_STATUS_UNSUPPORTED,
                           "structured dtypes are not supported (supported descr: " SUPPORTED_DESCRS
                           ")");
    const char *s;
    size_t len;
    size_t at = hp->pos;
    sdc_status st = parse_pystr(hp, &s, &len);
    if (st != SDC_STATUS_OK)
        return st;
    for (int i = 0; i < SDC_DTYPE_COUNT; i++) {
        const char *code = type_codes[i];
        if (!code || len != 3 || memcmp(s + 1, code, 2) != 0)
            continue;
        size_t size = sdc_dtype_size((sdc_dtype)i);
        if (s[0] == '<' || (size == 1 && (s[0] == '|' || s[0] == '=' || s[0] == '>'))) {
            *dtype = (sdc_dtype)i;
            return SDC_STATUS_OK;
        }
        if (s[0] == '>') {
            hp->pos = at;
            return header_fail(hp, SDC_STATUS_UNSUPPORTED,
                               "descr '%.*s' is big-endian; only little-endian data is "
                               "supported",
                               (int)len, s);
        }
    }
    hp->pos = at;
    return header_fail(hp, SDC_STATUS_UNSUPPORTED,
                       "descr '%.*s' is not supported (supported: " SUPPORTED_DESCRS ")",
                       (int)(len > 40 ? 40 : len), s);
}

static sdc_status parse_bool(header_parser *hp, bool *out)
{
    skip_space(hp);
    if (match_word(hp, "True"))
        *out = true;
    else if (match_word(hp, "False"))
        *out = false;
    else {
        char got[32];
        return header_fail(hp, SDC_STATUS_FORMAT, "expected True or False (got %s)",
                           describe(hp, got, sizeof got));
    }
    return SDC_STATUS_OK;
}

/* A tuple of non-negative ints: (), (n,), (a, b), (a, b,). Python 2 files may add an L. */
static sdc_status parse_shape(header_parser *hp, int *ndim, int64_t *shape)
{
    char got[32];
    sdc_status st = expect(hp, '(', "'(' starting the shape tuple");
    if (st != SDC_STATUS_OK)
        return st;
    int n = 0;
    bool trailing_comma = false;
    while (!accept(hp, ')')) {
        skip_space(hp);
        if (hp->pos >= hp->len || hp->text[hp->pos] < '0' || hp->text[hp->pos] > '9')
            return header_fail(hp, SDC_STATUS_FORMAT,
                               "expected a non-negative integer or ')' in the shape (got %s)",
                               describe(hp, got, sizeof got));
        if (n == SDC_ST_MAX_DIMS)
            return header_fail(hp, SDC_STATUS_UNSUPPORTED,
                               "shape has more than %d dims, more than sdc supports",
                               SDC_ST_MAX_DIMS);
        int64_t v = 0;
        while (hp->pos < hp->len && hp->text[hp->pos] >= '0' && hp->text[hp->pos] <= '9') {
            int d = hp->text[hp->pos] - '0';
            if (v > (INT64_MAX - d) / 10)
                return header_fail(hp, SDC_STATUS_FORMAT, "shape dim does not fit in 64 bits");
            v = v * 10 + d;
            hp->pos++;
        }
        if (hp->pos < hp->len && hp->text[hp->pos] == 'L')
            hp->pos++;
        shape[n++] = v;
        trailing_comma = accept(hp, ',');
        if (!trailing_comma) {
            if ((st = expect(hp, ')', "',' or ')' in the shape")) != SDC_STATUS_OK)
                return st;
            break;
        }
    }
    if (n == 1 && !trailing_comma)
        return header_fail(hp, SDC_STATUS_FORMAT,
                           "shape (%" PRId64
                           ") is not a tuple; a one-dim shape is written (%" PRId64 ",)",
                           shape[0], shape[0]);
    *ndim = n;
    return SDC_STATUS_OK;
}

static sdc_status parse_header(header_parser *hp, sdc_npy *out)
{
    static const char *const keys[] = {"descr", "fortran_order", "shape"};
    bool seen[3] = {false, false, false};
    bool fortran_order = false;
    sdc_status st = expect(hp, '{', "'{' starting the header dict");
    if (st != SDC_STATUS_OK)
        return st;
    while (!accept(hp, '}')) {
        size_t at = hp->pos;
        const char *k;
        size_t klen;
        if ((st = parse_pystr(hp, &k, &klen)) != SDC_STATUS_OK)
            return st;
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
                which = i;
        if (which < 0 || seen[which]) {
            hp->pos = at;
            return header_fail(hp, SDC_STATUS_FORMAT,
                               "%s key '%.*s' (expected each of 'descr', 'fortran_order', "
                               "'shape' once)",
                               which < 0 ? "unexpected" : "duplicate", (int)(klen > 40 ? 40 : klen),
                               k);
        }
        seen[which] = true;
        if ((st = expect(hp, ':', "':' after the key")) != SDC_STATUS_OK)
            return st;
        if (which == 0)
            st = parse_descr(hp, &out->dtype);
        else if (which == 1)
            st = parse_bool(hp, &fortran_order);
        else
            st = parse_shape(hp, &out->ndim, out->shape);
        if (st != SDC_STATUS_OK)
            return st;
        if (!accept(hp, ',')) {
            if ((st = expect(hp, '}', "',' or '}' in the header dict")) != SDC_STATUS_OK)
                return st;
            break;
        }
    }
    skip_space(hp);
    if (hp->pos != hp->len) {
        char got[32];
        return header_fail(hp, SDC_STATUS_FORMAT, "expected only spaces after the dict (got %s)",
                           describe(hp, got, sizeof got));
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return header_fail(hp, SDC_STATUS_FORMAT, "missing key '%s'", keys[i]);
    if (fortran_order)
        return header_fail(hp, SDC_STATUS_UNSUPPORTED,
                           "fortran_order is True; only C-order arrays are supported");
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                     */

sdc_status sdc_npy_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         sdc_npy *out)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = ".npy data";
    const unsigned char *p = data;
    if (!p)
        size = 0;
    if (size < MAGIC_LEN + 4)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: file is %zu bytes, too short for the .npy magic and header length",
                        name, size);
    if (memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: not a .npy file (expected the magic \\x93NUMPY at the start)", name);
    int major = p[6], minor = p[7];
    size_t header_len, start;
    if (major == 1 && minor == 0) {
        header_len = (size_t)p[8] | (size_t)p[9] << 8;
        start = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12)
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s: file is %zu bytes, too short for a version %d.0 header length",
                            name, size, major);
        header_len = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        start = 12;
    } else {
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)",
                        name, major, minor);
    }
    if (header_len > size - start)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: header length %zu runs past the end of the file (%zu bytes)", name,
                        header_len, size);

    header_parser hp = {.ctx = ctx,
                        .name = name,
                        .text = (const char *)p + start,
                        .len = header_len,
                        .base = start};
    sdc_npy npy = {0};
    sdc_status st = parse_header(&hp, &npy);
    if (st != SDC_STATUS_OK)
        return st;

    char shape[200];
    sdc_shape_str(npy.ndim, npy.shape, shape, sizeof shape);
    size_t numel = 1;
    bool empty = false;
    for (int i = 0; i < npy.ndim; i++)
        empty = empty || npy.shape[i] == 0;
    for (int i = 0; i < npy.ndim && !empty; i++) {
        if ((uint64_t)npy.shape[i] > SIZE_MAX || !sdc_size_mul(numel, (size_t)npy.shape[i], &numel))
            return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: the element count of shape %s overflows",
                            name, shape);
    }
    if (empty)
        numel = 0;
    if (!sdc_size_mul(numel, sdc_dtype_size(npy.dtype), &npy.nbytes))
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: the byte size of shape %s of %s overflows",
                        name, shape, sdc_dtype_name(npy.dtype));
    size_t data_len = size - start - header_len;
    if (data_len != npy.nbytes)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: data is %zu bytes, expected %zu for shape %s of %s", name, data_len,
                        npy.nbytes, shape, sdc_dtype_name(npy.dtype));
    npy.data = sdc_malloc(ctx, npy.nbytes);
    if (!npy.data)
        return sdc_fail_oom(ctx, name, npy.nbytes);
    if (npy.nbytes > 0)
        memcpy(npy.data, p + start + header_len, npy.nbytes);
    *out = npy;
    return SDC_STATUS_OK;
}

sdc_status sdc_npy_read(sdc_context *ctx, const char *path, sdc_npy *out)
{
    memset(out, 0, sizeof *out);
    sdc_mapped_file map;
    sdc_status st = sdc_file_map(ctx, path, &map);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_npy_parse(ctx, map.data, map.size, path, out);
    sdc_file_unmap(ctx, &map);
    return st;
}

void sdc_npy_free(sdc_context *ctx, sdc_npy *npy)
{
    if (!npy)
        return;
    sdc_free(ctx, npy->data);
    memset(npy, 0, sizeof *npy);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

/* The whole file is assembled in memory and written atomically: the arrays sdc writes as .npy
 * are reference data, small next to weights. */
sdc_status sdc_npy_write(sdc_context *ctx, const char *path, sdc_dtype dtype, int ndim,
                         const int64_t *shape, const void *data)
{
    if ((unsigned)dtype >= SDC_DTYPE_COUNT || !type_codes[dtype])
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: numpy has no dtype for %s (supported: F64 F32 F16 I64 I32 I16 I8 "
                        "U64 U32 U16 U8 BOOL)",
                        path, sdc_dtype_name(dtype));
    if (ndim < 0 || ndim > SDC_ST_MAX_DIMS)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: ndim %d, expected 0 to %d", path,
                        ndim, SDC_ST_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
            !sdc_size_mul(numel, (size_t)shape[i], &numel))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: shape[%d] = %" PRId64 " is negative or too large", path, i,
                            shape[i]);
    }
    size_t nbytes;
    if (!sdc_size_mul(numel, sdc_dtype_size(dtype), &nbytes))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: the byte size overflows", path);
    if (nbytes > 0 && !data)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: data is NULL", path);

    /* The dict exactly as numpy's _write_array_header writes it (keys sorted, repr values). */
    sdc_buf dict;
    sdc_buf_init(&dict, ctx);
    sdc_buf_printf(&dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                   sdc_dtype_size(dtype) == 1 ? '|' : '<', type_codes[dtype]);
    for (int i = 0; i < ndim; i++)
        sdc_buf_printf(&dict, "%s%" PRId64, i ? ", " : "", shape[i]);
    sdc_buf_append_str(&dict, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0) {
        char first[32];
        int digits = snprintf(first, sizeof first, "%" PRId64, shape[0]);
        for (int i = digits; i < GROWTH_AXIS_MAX_DIGITS; i++)
            sdc_buf_append(&dict, " ", 1);
    }

    /* numpy's _wrap_header: spaces and a newline so the data starts on a 64-byte boundary
     * (a full 64 spaces when it already would). Version 2.0 only past a u16 length. */
    size_t hlen = dict.len + 1;
    int major = 1;
    size_t width = 2; /* bytes of the header length field */
    size_t prefix = MAGIC_LEN + 2 + width;
    size_t pad = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
    if (hlen + pad > 0xFFFF) {
        major = 2;
        width = 4;
        prefix = MAGIC_LEN + 2 + width;
        pad = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
    }
    size_t field = hlen + pad;
    sdc_buf file;
    sdc_buf_init(&file, ctx);
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    for (size_t i = 0; i < width; i++)
        head[8 + i] = (unsigned char)(field >> (8 * i) & 0xFF);
    sdc_buf_append(&file, head, prefix);
    sdc_buf_append(&file, dict.data, dict.len);
    for (size_t i = 0; i < pad; i++)
        sdc_buf_append(&file, " ", 1);
    sdc_buf_append(&file, "\n", 1);
    sdc_buf_append(&file, data, nbytes);

    sdc_status st;
    if (dict.failed || file.failed)
        st = sdc_fail_oom(ctx, path, file.len + nbytes);
    else
        st = sdc_file_write_all(ctx, path, file.data, file.len);
    sdc_buf_free(&file);
    sdc_buf_free(&dict);
    return st;
}
