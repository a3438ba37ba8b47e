/*
 * png.c — PNG reading from memory and writing, with libpng 1.6. Every colour type and depth
 * reads as 8-bit samples (16-bit keeps the high byte, tRNS becomes alpha, Adam7 is undone,
 * gamma is NOT applied); tEXt/zTXt (Latin-1) and iTXt text come back as UTF-8. Writing is
 * deterministic (no tIME): tEXt for Latin-1 values, uncompressed iTXt otherwise.
 */
#include "io/io.h"
#include "io/pixels.h"

#include <ctype.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* The largest single ancillary chunk libpng may allocate, decompressed zTXt/iTXt included. */
#define PNG_CHUNK_MALLOC_MAX ((png_alloc_size_t)16 << 20)
/* The most ancillary chunks (text included) libpng keeps from one file. */
#define PNG_CHUNK_CACHE_MAX 1000
/* Deflate's largest possible expansion is about 1032:1 (258-byte matches in 2-bit codes). */
#define PNG_MAX_DEFLATE_RATIO 1040
/* The most text chunks the writer accepts, and the longest value (a PNG chunk holds at most
 * 2^31 - 1 bytes; keep clear of it). */
#define PNG_WRITE_MAX_TEXT  1000
#define PNG_WRITE_MAX_VALUE ((size_t)1 << 30)

/* Chunks the reader never looks at: skipping them keeps hostile ones (iCCP, sPLT...) from
 * costing memory or time. Text chunks are added to the list when text is not wanted. */
static const png_byte ignored_chunks[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0oFFs\0pCAL\0"
                                         "pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tIME";
static const png_byte text_chunks[] = "iTXt\0tEXt\0zTXt";

/* What the libpng callbacks (memory, errors, input/output) report to. Lives in the caller of
 * the function that calls setjmp, so nothing here is a local modified after setjmp. */
typedef struct codec {
    sdc_context *ctx;
    const char *name;
    bool alloc_failed; /* an allocation for libpng or the output failed */
    char message[256]; /* libpng's error text */

    /* reading */
    const unsigned char *data;
    size_t size, pos;
    size_t idat_bytes; /* total length of the IDAT chunks */
    uint8_t *pixels;   /* owned until handed to the caller */
    png_bytep *rows;
    sdc_text_chunk *items; /* owned until handed to the caller */
    size_t n_items;
    int width, height, channels;

    /* writing */
    sdc_buf out;
    png_text *texts;
    size_t n_texts;
} codec;

/* An out-of-memory failure naming the file; bytes 0 when libpng did not say how many. */
static sdc_status oom(sdc_context *ctx, const char *name, const char *what, size_t bytes)
{
    if (bytes == 0)
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "%s: PNG: out of memory for %s", name, what);
    return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY,
                    "%s: PNG: out of memory allocating %zu bytes for %s", name, bytes, what);
}

/* ---------------------------------------------------------------------------------------- */
/* libpng callbacks: its memory comes from the context (so fault injection reaches it), its  */
/* errors and warnings go to the codec and the context's log, never to stderr.               */

static png_voidp codec_malloc(png_structp png, png_alloc_size_t size)
{
    codec *c = png_get_mem_ptr(png);
    void *p = sdc_malloc(c->ctx, size);
    if (!p)
        c->alloc_failed = true;
    return p;
}

static void codec_free(png_structp png, png_voidp ptr)
{
    codec *c = png_get_mem_ptr(png);
    sdc_free(c->ctx, ptr);
}

static void codec_error(png_structp png, png_const_charp msg)
{
    codec *c = png_get_error_ptr(png);
    snprintf(c->message, sizeof c->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void codec_warning(png_structp png, png_const_charp msg)
{
    codec *c = png_get_error_ptr(png);
    sdc_log(c->ctx, SDC_LOG_LEVEL_DEBUG, "%s: PNG: %s", c->name, msg ? msg : "");
}

static void codec_read(png_structp png, png_bytep out, size_t len)
{
    codec *c = png_get_io_ptr(png);
    if (len > c->size - c->pos)
        png_error(png, "unexpected end of file (truncated?)");
    memcpy(out, c->data + c->pos, len);
    c->pos += len;
}

static void codec_write(png_structp png, png_bytep data, size_t len)
{
    codec *c = png_get_io_ptr(png);
    sdc_buf_append(&c->out, data, len);
    if (c->out.failed) {
        c->alloc_failed = true;
        png_error(png, "out of memory for the encoded PNG");
    }
}

static void codec_flush(png_structp png)
{
    (void)png;
}

/* ---------------------------------------------------------------------------------------- */
/* Text encodings                                                                             */

/* Decodes one UTF-8 sequence from s[0..len): its length (1-4) and code point, or 0 when the
 * bytes are not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t n;
    uint32_t v, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        n = 2, v = b & 0x1fu, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3, v = b & 0x0fu, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4, v = b & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Latin-1 bytes as a new UTF-8 string. */
static char *latin1_to_utf8(sdc_context *ctx, const char *s)
{
    size_t len = strlen(s), cap;
    if (!sdc_size_mul(len, 2, &cap) || !sdc_size_add(cap, 1, &cap))
        return NULL;
    char *out = sdc_malloc(ctx, cap);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            out[o++] = (char)b;
        } else {
            out[o++] = (char)(0xc0 | (b >> 6));
            out[o++] = (char)(0x80 | (b & 0x3f));
        }
    }
    out[o] = '\0';
    return out;
}

/* UTF-8 text as a new string in which every invalid byte is replaced by U+FFFD. */
static char *utf8_sanitize(sdc_context *ctx, const char *s)
{
    size_t len = strlen(s), cap;
    if (!sdc_size_mul(len, 3, &cap) || !sdc_size_add(cap, 1, &cap))
        return NULL;
    char *out = sdc_malloc(ctx, cap);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(u + i, len - i, &cp);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, u + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Checks a text chunk for writing: the keyword as PNG requires (1-79 printable Latin-1 bytes,
 * no leading, trailing or repeated spaces) and a valid UTF-8 value. *latin1 tells whether
 * every character of the value is in Latin-1 (U+0000-U+00FF). */
static sdc_status check_text(sdc_context *ctx, const char *path, size_t index,
                             const sdc_text_chunk *t, bool *latin1)
{
    if (!t->key || !t->value)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: text chunk %zu: key and value must not be NULL", path, index);
    const unsigned char *k = (const unsigned char *)t->key;
    size_t klen = strlen(t->key);
    if (klen < 1 || klen > 79)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: text chunk key '%s' is %zu bytes; PNG keywords are 1 to 79 "
                        "Latin-1 characters",
                        path, t->key, klen);
    for (size_t i = 0; i < klen; i++) {
        bool printable = (k[i] >= 32 && k[i] <= 126) || k[i] >= 161;
        if (!printable)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: text chunk key '%s': byte %zu (0x%02x) is not a printable "
                            "Latin-1 character",
                            path, t->key, i, k[i]);
        if (k[i] == ' ' && (i == 0 || i == klen - 1 || k[i + 1] == ' '))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: text chunk key '%s': PNG keywords have no leading, trailing "
                            "or consecutive spaces",
                            path, t->key);
    }
    const unsigned char *v = (const unsigned char *)t->value;
    size_t vlen = strlen(t->value);
    if (vlen > PNG_WRITE_MAX_VALUE)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: text chunk '%s': value of %zu bytes; at most %zu are written", path,
                        t->key, vlen, PNG_WRITE_MAX_VALUE);
    *latin1 = true;
    for (size_t i = 0; i < vlen;) {
        uint32_t cp;
        size_t n = utf8_decode(v + i, vlen - i, &cp);
        if (n == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: text chunk '%s': value is not valid UTF-8 at byte %zu", path,
                            t->key, i);
        if (cp > 0xff)
            *latin1 = false;
        i += n;
    }
    return SDC_STATUS_OK;
}

/* A UTF-8 value known to be all Latin-1, as a new Latin-1 string. */
static char *utf8_to_latin1(sdc_context *ctx, const char *s)
{
    size_t len = strlen(s);
    char *out = sdc_malloc(ctx, len + 1);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = utf8_decode(u + i, len - i, &cp);
        out[o++] = (char)(unsigned char)cp;
        i += n ? n : 1;
    }
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                    */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walks the chunk list before libpng sees it: every chunk must fit in the file (libpng would
 * first allocate a chunk's declared length, up to 2 GiB, and only then find the file short),
 * and an IHDR above SDC_IMAGE_MAX_SIDE is refused with a clear message. Sums IDAT lengths. */
static sdc_status scan_chunks(sdc_context *ctx, const char *name, const unsigned char *data,
                              size_t size, size_t *idat_bytes)
{
    *idat_bytes = 0;
    size_t pos = 8;
    while (size - pos >= 8) {
        uint32_t len = be32(data + pos);
        const unsigned char *type = data + pos + 4;
        if (len > PNG_UINT_31_MAX || len > size - pos - 8 || size - pos - 8 - len < 4) {
            char shown[5];
            for (int i = 0; i < 4; i++)
                shown[i] = isalpha(type[i]) ? (char)type[i] : '?';
            shown[4] = '\0';
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s: PNG: chunk '%s' at byte %zu declares %lu bytes; only %zu "
                            "remain in the file (truncated?)",
                            name, shown, pos, (unsigned long)len, size - pos - 8);
        }
        if (memcmp(type, "IHDR", 4) == 0 && len == 13) {
            uint32_t w = be32(type + 4), h = be32(type + 8);
            if (w <= PNG_UINT_31_MAX && h <= PNG_UINT_31_MAX &&
                (w > SDC_IMAGE_MAX_SIDE || h > SDC_IMAGE_MAX_SIDE))
                return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                                "%s: PNG is %lu x %lu pixels; sdc reads images up to %d pixels "
                                "on a side",
                                name, (unsigned long)w, (unsigned long)h, SDC_IMAGE_MAX_SIDE);
        } else if (memcmp(type, "IDAT", 4) == 0) {
            *idat_bytes += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += 12 + (size_t)len;
    }
    return SDC_STATUS_OK;
}

/* Copies libpng's text chunks into c->items as UTF-8. */
static sdc_status collect_text(codec *c, png_structp png, png_infop info)
{
    png_textp texts = NULL;
    int n = png_get_text(png, info, &texts, NULL);
    if (n <= 0 || !texts)
        return SDC_STATUS_OK;
    c->items = sdc_calloc(c->ctx, (size_t)n, sizeof *c->items);
    if (!c->items)
        return oom(c->ctx, c->name, "the text chunk list", (size_t)n * sizeof *c->items);
    for (int i = 0; i < n; i++) {
        const png_text *t = &texts[i];
        bool is_itxt = t->compression == PNG_ITXT_COMPRESSION_NONE ||
                       t->compression == PNG_ITXT_COMPRESSION_zTXt;
        const char *value = t->text ? t->text : "";
        sdc_text_chunk *item = &c->items[c->n_items++];
        item->key = sdc_strdup(c->ctx, t->key ? t->key : "");
        item->value = is_itxt ? utf8_sanitize(c->ctx, value) : latin1_to_utf8(c->ctx, value);
        if (!item->key || !item->value)
            return sdc_fail(c->ctx, SDC_STATUS_OUT_OF_MEMORY,
                            "%s: PNG: out of memory copying text chunk '%s'", c->name,
                            t->key ? t->key : "");
    }
    return SDC_STATUS_OK;
}

/* All libpng reading happens here, under setjmp; results go to *c, which the caller frees. */
static sdc_status decode(codec *c, png_structp png, png_infop info, int want_channels,
                         bool want_text)
{
    if (setjmp(png_jmpbuf(png))) {
        if (c->alloc_failed)
            return sdc_fail(c->ctx, SDC_STATUS_OUT_OF_MEMORY, "%s: PNG: out of memory (%s)",
                            c->name, c->message);
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: PNG: %s", c->name, c->message);
    }
    png_set_user_limits(png, SDC_IMAGE_MAX_SIDE, SDC_IMAGE_MAX_SIDE);
    png_set_chunk_cache_max(png, PNG_CHUNK_CACHE_MAX);
    png_set_chunk_malloc_max(png, PNG_CHUNK_MALLOC_MAX);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
                                (int)(sizeof ignored_chunks / 5));
    if (!want_text)
        png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, text_chunks,
                                    (int)(sizeof text_chunks / 5));
    png_set_read_fn(png, c, codec_read);

    png_read_info(png, info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);
    if (width == 0 || height == 0 || width > SDC_IMAGE_MAX_SIDE || height > SDC_IMAGE_MAX_SIDE)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: PNG is %lu x %lu pixels; expected 1 to %d on a side", c->name,
                        (unsigned long)width, (unsigned long)height, SDC_IMAGE_MAX_SIDE);

    /* Deflate expands at most 1032:1, so IDAT chunks too small for the image they declare
     * are refused before anything is allocated for it. */
    size_t row_bits = (size_t)width * png_get_channels(png, info) * (size_t)bit_depth;
    double raw_bytes = (double)height * (double)((row_bits + 7) / 8 + 1);
    if (raw_bytes > (double)PNG_MAX_DEFLATE_RATIO * (double)c->idat_bytes)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: PNG: %lu x %lu pixels need %.0f bytes of image data; %zu bytes of "
                        "IDAT cannot hold them (truncated?)",
                        c->name, (unsigned long)width, (unsigned long)height, raw_bytes,
                        c->idat_bytes);

    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (bit_depth == 16)
        png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int native = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (native < 1 || native > 4 || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)width * (size_t)native)
        return sdc_fail(c->ctx, SDC_STATUS_INTERNAL,
                        "%s: PNG: libpng delivers %d channels of %d bits in %zu-byte rows; "
                        "expected 8-bit samples",
                        c->name, native, png_get_bit_depth(png, info), rowbytes);
    int channels = sdc_io_out_channels(native, want_channels);
    size_t n_pixels, bytes;
    if (!sdc_size_mul(width, height, &n_pixels) ||
        !sdc_size_mul(n_pixels, (size_t)(native > channels ? native : channels), &bytes))
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED, "%s: PNG: %lu x %lu pixels overflow",
                        c->name, (unsigned long)width, (unsigned long)height);
    c->pixels = sdc_malloc(c->ctx, bytes);
    if (!c->pixels)
        return oom(c->ctx, c->name, "the pixels", bytes);
    c->rows = sdc_malloc(c->ctx, (size_t)height * sizeof *c->rows);
    if (!c->rows)
        return oom(c->ctx, c->name, "row pointers", (size_t)height * sizeof *c->rows);
    for (size_t y = 0; y < height; y++)
        c->rows[y] = c->pixels + y * rowbytes;

    png_read_image(png, c->rows);
    png_read_end(png, info); /* text chunks may follow the image data */

    sdc_io_convert_pixels(c->pixels, n_pixels, native, channels);
    c->width = (int)width;
    c->height = (int)height;
    c->channels = channels;
    return want_text ? collect_text(c, png, info) : SDC_STATUS_OK;
}

sdc_status sdc_png_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                         int want_channels, sdc_image *out, sdc_text_chunks *text)
{
    memset(out, 0, sizeof *out);
    if (text)
        memset(text, 0, sizeof *text);
    if (!sdc_io_want_channels_valid(want_channels))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: want_channels is %d; expected 0, 1, 3 or 4", name, want_channels);
    const unsigned char *bytes = data;
    if (size < 8 || png_sig_cmp(bytes, 0, 8) != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: not a PNG file (no PNG signature)", name);
    size_t idat_bytes;
    sdc_status st = scan_chunks(ctx, name, bytes, size, &idat_bytes);
    if (st != SDC_STATUS_OK)
        return st;

    codec c = {.ctx = ctx, .name = name, .data = bytes, .size = size, .idat_bytes = idat_bytes};
    png_infop info = NULL;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &c, codec_error,
                                               codec_warning, &c, codec_malloc, codec_free);
    if (!png) {
        st = c.alloc_failed
                 ? oom(ctx, name, "the libpng decoder", 0)
                 : sdc_fail(ctx, SDC_STATUS_INTERNAL, "%s: PNG: cannot create a libpng %s decoder",
                            name, PNG_LIBPNG_VER_STRING);
        goto free_results;
    }
    info = png_create_info_struct(png);
    if (!info) {
        st = oom(ctx, name, "the libpng info struct", 0);
        goto destroy_png;
    }
    st = decode(&c, png, info, want_channels, text != NULL);
    /* libpng survives some failed allocations by dropping an ancillary chunk (text): report
     * that as the out-of-memory it is rather than return an image with text missing. */
    if (st == SDC_STATUS_OK && c.alloc_failed)
        st = sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY,
                      "%s: PNG: out of memory while reading ancillary chunks", name);
    if (st == SDC_STATUS_OK) {
        out->width = c.width;
        out->height = c.height;
        out->channels = c.channels;
        out->pixels = c.pixels;
        c.pixels = NULL;
        if (text) {
            text->items = c.items;
            text->count = c.n_items;
            c.items = NULL;
            c.n_items = 0;
        }
    }

destroy_png:
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
free_results:
    sdc_free(ctx, c.rows);
    sdc_free(ctx, c.pixels);
    sdc_text_chunks tmp = {c.items, c.n_items};
    sdc_text_chunks_free(ctx, &tmp);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                    */

/* All libpng writing happens here, under setjmp; output goes to c->out. */
static sdc_status encode(codec *c, png_structp png, png_infop info, const sdc_image *image)
{
    if (setjmp(png_jmpbuf(png))) {
        if (c->alloc_failed)
            return sdc_fail(c->ctx, SDC_STATUS_OUT_OF_MEMORY, "%s: PNG: out of memory (%s)",
                            c->name, c->message);
        return sdc_fail(c->ctx, SDC_STATUS_INTERNAL, "%s: PNG: libpng refused to write: %s",
                        c->name, c->message);
    }
    static const int color_types[5] = {
        [1] = PNG_COLOR_TYPE_GRAY, [3] = PNG_COLOR_TYPE_RGB, [4] = PNG_COLOR_TYPE_RGBA};
    png_set_write_fn(png, c, codec_write, codec_flush);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
                 color_types[image->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (c->n_texts > 0)
        png_set_text(png, info, c->texts, (int)c->n_texts);
    png_write_info(png, info);
    size_t stride = (size_t)image->width * (size_t)image->channels;
    for (size_t y = 0; y < (size_t)image->height; y++)
        png_write_row(png, image->pixels + y * stride);
    png_write_end(png, NULL);
    return SDC_STATUS_OK;
}

sdc_status sdc_png_write(sdc_context *ctx, const char *path, const sdc_image *image,
                         const sdc_text_chunk *text, size_t n_text)
{
    if (!image || !image->pixels || image->width < 1 || image->height < 1 ||
        image->width > SDC_IMAGE_MAX_SIDE || image->height > SDC_IMAGE_MAX_SIDE ||
        (image->channels != 1 && image->channels != 3 && image->channels != 4))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: cannot write a %d x %d image of %d channels; expected 1 to %d "
                        "pixels on a side and 1, 3 or 4 channels",
                        path, image ? image->width : 0, image ? image->height : 0,
                        image ? image->channels : 0, SDC_IMAGE_MAX_SIDE);
    if (n_text > 0 && !text)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %zu text chunks but no array", path,
                        n_text);
    if (n_text > PNG_WRITE_MAX_TEXT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: %zu text chunks; at most %d are written", path, n_text,
                        PNG_WRITE_MAX_TEXT);

    codec c = {.ctx = ctx, .name = path};
    sdc_buf_init(&c.out, ctx);
    sdc_status st = SDC_STATUS_OK;
    png_structp png = NULL;
    png_infop info = NULL;
    if (n_text > 0) {
        c.texts = sdc_calloc(ctx, n_text, sizeof *c.texts);
        if (!c.texts) {
            st = oom(ctx, path, "the text chunk list", n_text * sizeof *c.texts);
            goto free_texts;
        }
    }
    for (size_t i = 0; i < n_text; i++) {
        bool latin1 = true;
        st = check_text(ctx, path, i, &text[i], &latin1);
        if (st != SDC_STATUS_OK)
            goto free_texts;
        png_text *t = &c.texts[c.n_texts];
        t->key = text[i].key;
        if (latin1) {
            t->compression = PNG_TEXT_COMPRESSION_NONE;
            t->text = utf8_to_latin1(ctx, text[i].value);
            if (!t->text) {
                st = oom(ctx, path, "a text chunk", strlen(text[i].value) + 1);
                goto free_texts;
            }
            t->text_length = strlen(t->text);
        } else {
            /* libpng copies the value; it does not write through the pointer. */
            t->compression = PNG_ITXT_COMPRESSION_NONE;
            t->text = (png_charp)(uintptr_t)text[i].value;
            t->itxt_length = strlen(text[i].value);
            t->lang = (png_charp)(uintptr_t) "";
            t->lang_key = (png_charp)(uintptr_t) "";
        }
        c.n_texts++;
    }

    png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &c, codec_error, codec_warning, &c,
                                    codec_malloc, codec_free);
    if (!png) {
        st = c.alloc_failed
                 ? oom(ctx, path, "the libpng encoder", 0)
                 : sdc_fail(ctx, SDC_STATUS_INTERNAL, "%s: PNG: cannot create a libpng %s encoder",
                            path, PNG_LIBPNG_VER_STRING);
        goto free_texts;
    }
    info = png_create_info_struct(png);
    if (!info) {
        st = oom(ctx, path, "the libpng info struct", 0);
        goto destroy_png;
    }
    st = encode(&c, png, info, image);
    if (st == SDC_STATUS_OK && c.alloc_failed)
        st = sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "%s: PNG: out of memory while encoding", path);
    if (st == SDC_STATUS_OK)
        st = sdc_file_write_all(ctx, path, c.out.data, c.out.len);

destroy_png:
    png_destroy_write_struct(&png, info ? &info : NULL);
free_texts:
    for (size_t i = 0; i < c.n_texts; i++)
        if (c.texts[i].compression == PNG_TEXT_COMPRESSION_NONE)
            sdc_free(ctx, c.texts[i].text);
    sdc_free(ctx, c.texts);
    sdc_buf_free(&c.out);
    return st;
}
