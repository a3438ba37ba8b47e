/*
 * image.c — sdc_image_read: maps a file and hands it to the PNG or JPEG decoder chosen by its
 * first bytes (PNG signature, or JPEG SOI FF D8 FF), never by its name; freeing images and
 * text chunks; and the channel conversions both decoders share (pixels.h).
 */
#include "io/io.h"
#include "io/pixels.h"

#include <string.h>

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const unsigned char jpeg_soi[3] = {0xff, 0xd8, 0xff};

sdc_status sdc_image_read(sdc_context *ctx, const char *path, int want_channels, sdc_image *out,
                          sdc_text_chunks *text)
{
    memset(out, 0, sizeof *out);
    if (text)
        memset(text, 0, sizeof *text);
    if (!sdc_io_want_channels_valid(want_channels))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: want_channels is %d; expected 0, 1, 3 or 4", path, want_channels);

    sdc_mapped_file file;
    sdc_status st = sdc_file_map(ctx, path, &file);
    if (st != SDC_STATUS_OK)
        return st;

    if (file.size >= sizeof png_signature &&
        memcmp(file.data, png_signature, sizeof png_signature) == 0) {
        st = sdc_png_parse(ctx, file.data, file.size, path, want_channels, out, text);
    } else if (file.size >= sizeof jpeg_soi && memcmp(file.data, jpeg_soi, sizeof jpeg_soi) == 0) {
        st = sdc_jpeg_parse(ctx, file.data, file.size, path, want_channels, out);
    } else if (file.size == 0) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: empty file; expected a PNG or JPEG image", path);
    } else {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: not a PNG or JPEG image (the first bytes are neither the PNG "
                      "signature nor a JPEG start-of-image marker)",
                      path);
    }
    sdc_file_unmap(ctx, &file);
    return st;
}

void sdc_image_free(sdc_context *ctx, sdc_image *image)
{
    if (!image)
        return;
    sdc_free(ctx, image->pixels);
    memset(image, 0, sizeof *image);
}

void sdc_text_chunks_free(sdc_context *ctx, sdc_text_chunks *text)
{
    if (!text)
        return;
    for (size_t i = 0; i < text->count && text->items; i++) {
        sdc_free(ctx, text->items[i].key);
        sdc_free(ctx, text->items[i].value);
    }
    sdc_free(ctx, text->items);
    memset(text, 0, sizeof *text);
}

/* ---------------------------------------------------------------------------------------- */
/* Channel layouts                                                                            */

bool sdc_io_want_channels_valid(int want_channels)
{
    return want_channels == 0 || want_channels == 1 || want_channels == 3 || want_channels == 4;
}

int sdc_io_out_channels(int native, int want_channels)
{
    if (want_channels != 0)
        return want_channels;
    return native == 2 ? 4 : native;
}

static inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b)
{
    uint32_t l = (uint32_t)r * 19595u + (uint32_t)g * 38470u + (uint32_t)b * 7471u + 0x8000u;
    return (uint8_t)(l >> 16);
}

/* Reads pixel i of a `from`-sample layout as RGBA. */
static inline void load_rgba(const uint8_t *p, int from, uint8_t px[4])
{
    switch (from) {
    case 1:
        px[0] = px[1] = px[2] = p[0];
        px[3] = 255;
        break;
    case 2:
        px[0] = px[1] = px[2] = p[0];
        px[3] = p[1];
        break;
    case 3:
        px[0] = p[0], px[1] = p[1], px[2] = p[2];
        px[3] = 255;
        break;
    default:
        px[0] = p[0], px[1] = p[1], px[2] = p[2];
        px[3] = p[3];
        break;
    }
}

static inline void store(uint8_t *p, int to, int from, const uint8_t px[4])
{
    switch (to) {
    case 1:
        /* Gray sources keep their value; colour is reduced to luma. */
        p[0] = from <= 2 ? px[0] : luma(px[0], px[1], px[2]);
        break;
    case 3:
        p[0] = px[0], p[1] = px[1], p[2] = px[2];
        break;
    default:
        p[0] = px[0], p[1] = px[1], p[2] = px[2], p[3] = px[3];
        break;
    }
}

void sdc_io_convert_pixels(uint8_t *pixels, size_t n_pixels, int from, int to)
{
    if (from == to || n_pixels == 0)
        return;
    size_t sf = (size_t)from, st = (size_t)to;
    uint8_t px[4];
    if (to < from) {
        /* Shrinking: pixel i lands at or before where it was read, so go forwards. */
        for (size_t i = 0; i < n_pixels; i++) {
            load_rgba(pixels + i * sf, from, px);
            store(pixels + i * st, to, from, px);
        }
    } else {
        /* Growing: go backwards so no source pixel is overwritten before it is read. */
        for (size_t i = n_pixels; i-- > 0;) {
            load_rgba(pixels + i * sf, from, px);
            store(pixels + i * st, to, from, px);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The public image functions of sdc.h                                                        */

sdc_status sdc_image_load(sdc_context *ctx, const char *path, int channels, sdc_image *out)
{
    return sdc_image_read(ctx, path, channels, out, NULL);
}

sdc_status sdc_image_save_png(sdc_context *ctx, const char *path, const sdc_image *image,
                              const char *parameters)
{
    sdc_text_chunk chunk = {.key = "parameters", .value = (char *)parameters};
    return sdc_png_write(ctx, path, image, &chunk, parameters ? 1 : 0);
}

void sdc_image_release(sdc_context *ctx, sdc_image *image)
{
    sdc_image_free(ctx, image);
}
