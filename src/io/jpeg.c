/*
 * jpeg.c — JPEG decoding from memory with libjpeg-turbo (6.2 API defaults: ISLOW IDCT, fancy
 * upsampling, as Pillow decodes). CMYK/YCCK become RGB by Pillow's formula, read as inverted
 * when an Adobe APP14 marker is present (Pillow always assumes inverted). EXIF orientation is
 * NOT applied. Truncated or corrupt entropy-coded data is an error, not libjpeg's gray fill.
 */
#include "io/io.h"
#include "io/pixels.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* Cap on libjpeg's whole-image buffers (progressive and multi-scan coefficients). libjpeg's
 * working memory comes from malloc, not the context: fault injection does not reach it. */
#define JPEG_MAX_MEMORY (1024L * 1024L * 1024L)
/* Real progressive files have about ten scans; thousands are a decoding-time bomb. */
#define JPEG_MAX_SCANS 1000
/* Corrupt-data warnings tolerated before the file is refused. */
#define JPEG_MAX_WARNINGS 100

/* Everything the libjpeg callbacks touch. Lives in the caller of the function that calls
 * setjmp, so nothing here is a local modified after setjmp. */
typedef struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    sdc_context *ctx;
    const char *name;
    char message[JMSG_LENGTH_MAX + 64];
    int msg_code; /* libjpeg's code of the error that stopped decoding */
    int n_warnings;
    bool too_many_scans;
    uint8_t *pixels; /* owned until handed to the caller */
    uint8_t *cmyk_row;
    int width, height, channels;
} jpeg_state;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_state *s = cinfo->client_data;
    s->msg_code = cinfo->err->msg_code;
    cinfo->err->format_message(cinfo, s->message);
    longjmp(s->jump, 1);
}

/* Whether a libjpeg warning stops decoding: truncation and corrupt entropy-coded data do
 * (libjpeg would go on and fill the rest of the image with gray), marker-level oddities such
 * as junk bytes between markers do not. */
static bool warning_is_fatal(int msg_code)
{
    return msg_code == JWRN_JPEG_EOF || msg_code == JWRN_HIT_MARKER ||
           msg_code == JWRN_HUFF_BAD_CODE || msg_code == JWRN_ARITH_BAD_CODE;
}

/* Warnings (level < 0) are corrupt-data reports; fatal ones, or too many, stop decoding.
 * Trace messages (level >= 0) are dropped. */
static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    if (msg_level >= 0)
        return;
    jpeg_state *s = cinfo->client_data;
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    s->n_warnings++;
    int code = cinfo->err->msg_code;
    if (warning_is_fatal(code) || s->n_warnings > JPEG_MAX_WARNINGS) {
        s->msg_code = code;
        snprintf(s->message, sizeof s->message, "%s%s", text,
                 !warning_is_fatal(code) ? " (too many corrupt-data warnings)"
                 : code == JWRN_JPEG_EOF ? " (truncated file?)"
                                         : "");
        longjmp(s->jump, 1);
    }
    sdc_log(s->ctx, SDC_LOG_LEVEL_DEBUG, "%s: JPEG: %s", s->name, text);
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor)
        return;
    int scans = ((j_decompress_ptr)cinfo)->input_scan_number;
    if (scans > JPEG_MAX_SCANS) {
        jpeg_state *s = cinfo->client_data;
        s->too_many_scans = true;
        snprintf(s->message, sizeof s->message, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(s->jump, 1);
    }
}

static sdc_status error_status(const jpeg_state *s)
{
    if (s->too_many_scans)
        return SDC_STATUS_UNSUPPORTED;
    switch (s->msg_code) {
    case JERR_OUT_OF_MEMORY:
        return SDC_STATUS_OUT_OF_MEMORY;
    case JERR_NO_BACKING_STORE: /* whole-image buffers above JPEG_MAX_MEMORY */
    case JERR_BAD_PRECISION:    /* 12-bit samples */
    case JERR_NOT_COMPILED:
    case JERR_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
        return SDC_STATUS_UNSUPPORTED;
    default:
        return SDC_STATUS_FORMAT;
    }
}

static inline uint8_t muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* One row of CMYK (inverted when `inverted`) as RGB, as Pillow's cmyk2rgb does. */
static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t width, bool inverted)
{
    unsigned flip = inverted ? 255 : 0;
    for (size_t x = 0; x < width; x++) {
        unsigned k = cmyk[4 * x + 3] ^ flip, nk = 255 - k;
        for (int i = 0; i < 3; i++)
            rgb[3 * x + (size_t)i] = (uint8_t)(nk - muldiv255(cmyk[4 * x + (size_t)i] ^ flip, nk));
    }
}

/* All libjpeg work happens here, under setjmp; results go to *s, which the caller frees. */
static sdc_status decode(jpeg_state *s, const unsigned char *data, size_t size, int want_channels)
{
    if (setjmp(s->jump)) {
        if (s->msg_code == JERR_NO_BACKING_STORE && !s->too_many_scans)
            return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: JPEG: decoding this %lu x %lu multi-scan image needs more than "
                            "the %ld MiB libjpeg may use",
                            s->name, (unsigned long)s->cinfo.image_width,
                            (unsigned long)s->cinfo.image_height, JPEG_MAX_MEMORY >> 20);
        return sdc_fail(s->ctx, error_status(s), "%s: JPEG: %s", s->name, s->message);
    }
    jpeg_create_decompress(&s->cinfo);
    s->cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    s->cinfo.progress = &s->progress;
    jpeg_mem_src(&s->cinfo, data, (unsigned long)size);
    jpeg_read_header(&s->cinfo, TRUE);

    JDIMENSION width = s->cinfo.image_width, height = s->cinfo.image_height;
    if (width == 0 || height == 0 || width > SDC_IMAGE_MAX_SIDE || height > SDC_IMAGE_MAX_SIDE)
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: JPEG is %lu x %lu pixels; sdc reads images up to %d pixels on a "
                        "side",
                        s->name, (unsigned long)width, (unsigned long)height, SDC_IMAGE_MAX_SIDE);
    int native;
    bool cmyk = false;
    switch (s->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        s->cinfo.out_color_space = JCS_GRAYSCALE;
        native = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        s->cinfo.out_color_space = JCS_RGB;
        native = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        s->cinfo.out_color_space = JCS_CMYK;
        native = 3; /* after cmyk_to_rgb */
        cmyk = true;
        break;
    default:
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: JPEG with %d components in an unknown colour space; expected "
                        "grayscale, YCbCr, RGB, CMYK or YCCK",
                        s->name, s->cinfo.num_components);
    }
    int channels = sdc_io_out_channels(native, want_channels);
    size_t n_pixels, bytes;
    if (!sdc_size_mul(width, height, &n_pixels) ||
        !sdc_size_mul(n_pixels, (size_t)(native > channels ? native : channels), &bytes))
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED, "%s: JPEG: %lu x %lu pixels overflow",
                        s->name, (unsigned long)width, (unsigned long)height);

    /* Reads every scan of a progressive file, under the scan limit. */
    jpeg_start_decompress(&s->cinfo);
    int out_components = cmyk ? 4 : native;
    if (s->cinfo.output_width != width || s->cinfo.output_height != height ||
        s->cinfo.output_components != out_components)
        return sdc_fail(s->ctx, SDC_STATUS_INTERNAL,
                        "%s: JPEG: libjpeg delivers %lu x %lu x %d; expected %lu x %lu x %d",
                        s->name, (unsigned long)s->cinfo.output_width,
                        (unsigned long)s->cinfo.output_height, s->cinfo.output_components,
                        (unsigned long)width, (unsigned long)height, out_components);
    s->pixels = sdc_malloc(s->ctx, bytes);
    if (!s->pixels)
        return sdc_fail(s->ctx, SDC_STATUS_OUT_OF_MEMORY,
                        "%s: JPEG: out of memory allocating %zu bytes for the pixels", s->name,
                        bytes);
    if (cmyk) {
        s->cmyk_row = sdc_malloc(s->ctx, (size_t)width * 4);
        if (!s->cmyk_row)
            return sdc_fail(s->ctx, SDC_STATUS_OUT_OF_MEMORY,
                            "%s: JPEG: out of memory allocating %zu bytes for a CMYK row", s->name,
                            (size_t)width * 4);
    }
    size_t stride = (size_t)width * (size_t)native;
    while (s->cinfo.output_scanline < height) {
        size_t y = s->cinfo.output_scanline;
        JSAMPROW row = cmyk ? s->cmyk_row : s->pixels + y * stride;
        if (jpeg_read_scanlines(&s->cinfo, &row, 1) != 1)
            return sdc_fail(s->ctx, SDC_STATUS_FORMAT, "%s: JPEG: no data for row %zu", s->name, y);
        if (cmyk)
            cmyk_to_rgb(s->cmyk_row, s->pixels + y * stride, width, s->cinfo.saw_Adobe_marker != 0);
    }
    /* Not jpeg_finish_decompress: every row is in, and a missing EOI marker is harmless. */
    sdc_io_convert_pixels(s->pixels, n_pixels, native, channels);
    s->width = (int)width;
    s->height = (int)height;
    s->channels = channels;
    return SDC_STATUS_OK;
}

sdc_status sdc_jpeg_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                          int want_channels, sdc_image *out)
{
    memset(out, 0, sizeof *out);
    if (!sdc_io_want_channels_valid(want_channels))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: want_channels is %d; expected 0, 1, 3 or 4", name, want_channels);
    const unsigned char *bytes = data;
    if (size < 3 || bytes[0] != 0xff || bytes[1] != 0xd8 || bytes[2] != 0xff)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: not a JPEG file (no start-of-image marker FF D8 FF)", name);
#if SIZE_MAX > ULONG_MAX
    if (size > ULONG_MAX)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED, "%s: JPEG of %zu bytes is too large", name,
                        size);
#endif

    jpeg_state state;
    memset(&state, 0, sizeof state);
    jpeg_state *s = &state;
    s->ctx = ctx;
    s->name = name;
    s->cinfo.err = jpeg_std_error(&s->err);
    s->err.error_exit = on_error_exit;
    s->err.emit_message = on_emit_message;
    s->err.output_message = on_output_message;
    s->progress.progress_monitor = on_progress;
    s->cinfo.client_data = s;

    sdc_status st = decode(s, bytes, size, want_channels);
    if (st == SDC_STATUS_OK) {
        out->width = s->width;
        out->height = s->height;
        out->channels = s->channels;
        out->pixels = s->pixels;
        s->pixels = NULL;
    }
    /* Safe after any longjmp, and when jpeg_create_decompress itself failed. */
    jpeg_destroy_decompress(&s->cinfo);
    sdc_free(ctx, s->cmyk_row);
    sdc_free(ctx, s->pixels);
    return st;
}
