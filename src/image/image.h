/*
 * image.h — operations on decoded 8-bit images: resampling that reproduces Pillow bit for bit,
 * so that what sdc feeds a model from an image (the safety checker's CLIP input, an img2img
 * init image of another size) is what diffusers and transformers feed it; and Canny edge
 * detection (canny.c, the public sdc_image_canny of sdc.h) for ControlNet control images.
 *
 * This layer needs only core. It does not read or write files (io does) and knows nothing of
 * models or tensors: it takes sdc_image pixels and gives sdc_image pixels.
 */
#ifndef SDC_IMAGE_IMAGE_H
#define SDC_IMAGE_IMAGE_H

#include "core/core.h"

/* Pillow's resampling filters (PIL.Image.Resampling; the number is Pillow's). */
typedef enum sdc_resize_filter {
    SDC_RESIZE_FILTER_BOX,      /* BOX (4) */
    SDC_RESIZE_FILTER_BILINEAR, /* BILINEAR (2); diffusers' "linear" and "bilinear" */
    SDC_RESIZE_FILTER_HAMMING,  /* HAMMING (5) */
    SDC_RESIZE_FILTER_BICUBIC,  /* BICUBIC (3): Keys' cubic with a = -0.5 */
    SDC_RESIZE_FILTER_LANCZOS,  /* LANCZOS (1): 3-lobed; diffusers' VaeImageProcessor default */
    SDC_RESIZE_FILTER_COUNT
} sdc_resize_filter;

/* Pillow's number for a filter (`resample` in a preprocessor_config.json); false for NEAREST
 * (0) and anything else sdc does not resample with. */
bool sdc_resize_filter_from_pil(int64_t resample, sdc_resize_filter *out);
/* A lower-case name: "box", "bilinear" (also "linear"), "hamming", "bicubic", "lanczos" — the
 * spellings of diffusers' PIL_INTERPOLATION. False when unknown ("nearest" included). */
bool sdc_resize_filter_from_name(const char *name, sdc_resize_filter *out);
const char *sdc_resize_filter_name(sdc_resize_filter filter);

/* Pillow 10.4's Image.resize((dst_w, dst_h), resample=filter) with no box and no
 * reducing_gap, bit for bit: for each axis that changes size, filter weights whose support
 * widens with the downscale factor, normalised in double and rounded to 22-bit fixed point,
 * applied horizontally first, then vertically, each pass rounding and clipping to 8 bits as
 * Pillow's ImagingResample does. An unchanged size is a copy.
 *
 * src has 1 (L) or 3 (RGB) channels; RGBA is SDC_STATUS_UNSUPPORTED (Pillow resamples it
 * premultiplied). Sides must be in [1, SDC_RESIZE_MAX_SIDE], else SDC_STATUS_INVALID_ARGUMENT.
 * *out receives a new image with src's channels whose pixels come from the context's
 * allocator (free them with sdc_image_release / sdc_image_free); on failure *out is zeroed.
 * Thread safety: reads src only; rows run on the context's threads. */
#define SDC_RESIZE_MAX_SIDE 65536
sdc_status sdc_resize_rgb8(sdc_context *ctx, const sdc_image *src, int dst_w, int dst_h,
                           sdc_resize_filter filter, sdc_image *out);

#endif /* SDC_IMAGE_IMAGE_H */
