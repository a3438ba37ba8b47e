/*
 * pixels.h — internal to io: the channel-layout rules and conversions shared by the PNG and
 * JPEG readers (image.c), so both follow io.h's want_channels contract the same way.
 */
#ifndef SDC_IO_PIXELS_H
#define SDC_IO_PIXELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True for the want_channels values io.h accepts: 0, 1, 3, 4. */
bool sdc_io_want_channels_valid(int want_channels);

/* The channel count delivered for a decoded layout of `native` samples per pixel (1 gray,
 * 2 gray+alpha, 3 RGB, 4 RGBA): want_channels when non-zero, else 1 for gray, 4 for
 * gray+alpha, 3 for RGB and 4 for RGBA. */
int sdc_io_out_channels(int native, int want_channels);

/* Rewrites n_pixels pixels of `from` samples (1 G, 2 GA, 3 RGB, 4 RGBA) as `to` samples
 * (1, 3 or 4) in place; the buffer holds n_pixels * max(from, to) bytes. Alpha is dropped
 * (not composited) or set to 255; gray from colour is ITU-R 601-2 luma with Pillow's integer
 * weights (convert("L"): (19595 R + 38470 G + 7471 B + 32768) >> 16). */
void sdc_io_convert_pixels(uint8_t *pixels, size_t n_pixels, int from, int to);

#endif /* SDC_IO_PIXELS_H */
