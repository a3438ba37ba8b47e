/*
 * clip_image_processor.c — the safety checker's input, as transformers 4.44.2's
 * CLIPImageProcessor.preprocess makes it from uint8 images: convert_to_rgb (PIL convert), resize
 * of the shortest edge with Pillow (image_transforms.resize; sdc_resize_rgb8 is Pillow-exact),
 * center_crop (zero padding when the crop is larger), rescale (u8 * factor in float64, then
 * float32) and normalize ((x - mean) / std in float32), channels first. Configured by a diffusers
 * feature_extractor/preprocessor_config.json. No deliberate differences.
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

/* transformers' OPENAI_CLIP_MEAN and OPENAI_CLIP_STD. */
static const float openai_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float openai_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
#define DEFAULT_SIZE 224

void sdc_clip_image_config_default(sdc_clip_image_config *out)
{
    *out = (sdc_clip_image_config){
        .do_convert_rgb = true,
        .do_resize = true,
        .shortest_edge = DEFAULT_SIZE,
        .resample = SDC_RESIZE_FILTER_BICUBIC,
        .do_center_crop = true,
        .crop_height = DEFAULT_SIZE,
        .crop_width = DEFAULT_SIZE,
        .do_rescale = true,
        .rescale_factor = 1.0 / 255.0,
        .do_normalize = true,
    };
    memcpy(out->image_mean, openai_clip_mean, sizeof out->image_mean);
    memcpy(out->image_std, openai_clip_std, sizeof out->image_std);
}

/* ---------------------------------------------------------------------------------------- */
/* preprocessor_config.json                                                                   */

static sdc_status check_side(const sdc_model_config *json, const char *key, int64_t v)
{
    if (v < 1 || v > SDC_RESIZE_MAX_SIDE)
        return sdc_fail(json->ctx, SDC_STATUS_FORMAT, "%s: \"%s\" %lld is outside [1, %d]",
                        json->path, key, (long long)v, SDC_RESIZE_MAX_SIDE);
    return SDC_STATUS_OK;
}

/* A view of the object under `key` as a config of its own (messages name "<path> <key>"). */
static void sub_config(const sdc_model_config *json, const sdc_json *object, const char *key,
                       char *where, size_t size, sdc_model_config *out)
{
    snprintf(where, size, "%s \"%s\"", json->path, key);
    *out = *json;
    out->path = where;
    out->root = object;
}

/* get_size_dict: an integer n means {"shortest_edge": n} for "size" (default_to_square False)
 * and {"height": n, "width": n} for "crop_size". */
static sdc_status read_size(const sdc_model_config *json, const char *key, bool square,
                            int64_t *edge, int64_t *height, int64_t *width)
{
    const sdc_json *v = sdc_json_get(json->root, key);
    char where[1100];
    sdc_model_config sub;
    if (!v || v->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (v->type == SDC_JSON_TYPE_NUMBER) {
        int64_t n = 0;
        TRY_RETURN(sdc_model_config_int(json, key, 0, &n));
        TRY_RETURN(check_side(json, key, n));
        if (square) {
            *height = *width = n;
        } else {
            *edge = n;
        }
        return SDC_STATUS_OK;
    }
    if (v->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                        "%s: \"%s\" is of type %s, expected an integer or an object", json->path,
                        key, sdc_json_type_name(v->type));
    sub_config(json, v, key, where, sizeof where, &sub);
    int64_t shortest = 0, h = 0, w = 0;
    TRY_RETURN(sdc_model_config_int(&sub, "shortest_edge", 0, &shortest));
    TRY_RETURN(sdc_model_config_int(&sub, "height", 0, &h));
    TRY_RETURN(sdc_model_config_int(&sub, "width", 0, &w));
    if (!square && shortest != 0) {
        TRY_RETURN(check_side(&sub, "shortest_edge", shortest));
        *edge = shortest;
        return SDC_STATUS_OK;
    }
    if (h != 0 && w != 0) {
        TRY_RETURN(check_side(&sub, "height", h));
        TRY_RETURN(check_side(&sub, "width", w));
        *edge = 0;
        *height = h;
        *width = w;
        return SDC_STATUS_OK;
    }
    return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                    "%s: \"%s\" has neither %s\"height\" and \"width\"", json->path, key,
                    square ? "" : "\"shortest_edge\" nor ");
}

/* A number (the same for every channel) or a list of three. */
static sdc_status read_channels(const sdc_model_config *json, const char *key, float *vals)
{
    const sdc_json *v = sdc_json_get(json->root, key);
    if (!v || v->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (v->type == SDC_JSON_TYPE_NUMBER) {
        for (int c = 0; c < 3; c++)
            vals[c] = (float)v->u.number.value;
        return SDC_STATUS_OK;
    }
    if (v->type == SDC_JSON_TYPE_ARRAY && v->u.array.count == 3) {
        for (int c = 0; c < 3; c++) {
            const sdc_json *item = v->u.array.items[c];
            if (item->type != SDC_JSON_TYPE_NUMBER)
                return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                                "%s: \"%s\"[%d] is of type %s, expected a number", json->path, key,
                                c, sdc_json_type_name(item->type));
            vals[c] = (float)item->u.number.value;
        }
        return SDC_STATUS_OK;
    }
    return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                    "%s: \"%s\" must be a number or a list of 3 numbers (one per RGB channel)",
                    json->path, key);
}

static sdc_status expect_type(const sdc_model_config *json, const char *key, const char *supported)
{
    const char *type = NULL;
    TRY_RETURN(sdc_model_config_string(json, key, supported, &type));
    if (strcmp(type, supported) != 0)
        return sdc_fail(json->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"%s\" is \"%s\"; sdc reads \"%s\" files", json->path, key, type,
                        supported);
    return SDC_STATUS_OK;
}

sdc_status sdc_clip_image_config_from_json(const sdc_model_config *json, sdc_clip_image_config *out)
{
    sdc_clip_image_config c;
    int64_t resample = 0;
    sdc_clip_image_config_default(&c);
    sdc_clip_image_config_default(out);
    TRY_RETURN(expect_type(json, "image_processor_type", "CLIPImageProcessor"));
    TRY_RETURN(expect_type(json, "feature_extractor_type", "CLIPFeatureExtractor"));
    TRY_RETURN(sdc_model_config_bool(json, "do_convert_rgb", c.do_convert_rgb, &c.do_convert_rgb));
    TRY_RETURN(sdc_model_config_bool(json, "do_resize", c.do_resize, &c.do_resize));
    TRY_RETURN(read_size(json, "size", false, &c.shortest_edge, &c.resize_height, &c.resize_width));
    TRY_RETURN(sdc_model_config_int(json, "resample", 3, &resample));
    if (!sdc_resize_filter_from_pil(resample, &c.resample))
        return sdc_fail(json->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"resample\" %lld is not a Pillow filter sdc has (1 lanczos, "
                        "2 bilinear, 3 bicubic, 4 box, 5 hamming)",
                        json->path, (long long)resample);
    TRY_RETURN(sdc_model_config_bool(json, "do_center_crop", c.do_center_crop, &c.do_center_crop));
    int64_t unused_edge = 0;
    TRY_RETURN(read_size(json, "crop_size", true, &unused_edge, &c.crop_height, &c.crop_width));
    TRY_RETURN(sdc_model_config_bool(json, "do_rescale", c.do_rescale, &c.do_rescale));
    TRY_RETURN(sdc_model_config_float(json, "rescale_factor", c.rescale_factor, &c.rescale_factor));
    TRY_RETURN(sdc_model_config_bool(json, "do_normalize", c.do_normalize, &c.do_normalize));
    TRY_RETURN(read_channels(json, "image_mean", c.image_mean));
    TRY_RETURN(read_channels(json, "image_std", c.image_std));
    *out = c;
    return SDC_STATUS_OK;
}

sdc_status sdc_clip_image_config_open(sdc_context *ctx, const char *component_dir,
                                      sdc_clip_image_config *out)
{
    sdc_model_config json;
    sdc_clip_image_config_default(out);
    size_t len = strlen(component_dir) + sizeof "/preprocessor_config.json";
    char *path = sdc_malloc(ctx, len);
    if (!path)
        return sdc_fail_oom(ctx, component_dir, len);
    snprintf(path, len, "%s/preprocessor_config.json", component_dir);
    sdc_status st = sdc_model_config_open(ctx, path, &json);
    if (st == SDC_STATUS_OK) {
        st = sdc_clip_image_config_from_json(&json, out);
        sdc_model_config_close(&json);
    }
    sdc_free(ctx, path);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Preprocessing                                                                              */

/* get_resize_output_image_size(default_to_square=False): the short side becomes `edge`, the
 * long one int(edge * long / short) (Python's true division, then truncation). */
static void resized_size(const sdc_clip_image_config *c, int width, int height, int64_t *h,
                         int64_t *w)
{
    if (!c->do_resize) {
        *h = height;
        *w = width;
    } else if (c->shortest_edge > 0) {
        int64_t shorter = width <= height ? width : height,
                longer = width <= height ? height : width;
        int64_t new_long = (int64_t)((double)(c->shortest_edge * longer) / (double)shorter);
        *h = width <= height ? new_long : c->shortest_edge;
        *w = width <= height ? c->shortest_edge : new_long;
    } else {
        *h = c->resize_height;
        *w = c->resize_width;
    }
}

sdc_status sdc_clip_image_output_size(sdc_context *ctx, const sdc_clip_image_config *c, int width,
                                      int height, int64_t *out_height, int64_t *out_width)
{
    int64_t h = 0, w = 0;
    *out_height = *out_width = 0;
    if (width < 1 || height < 1 || width > SDC_RESIZE_MAX_SIDE || height > SDC_RESIZE_MAX_SIDE)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP image processor: a %d x %d image; sides must be in [1, %d]", width,
                        height, SDC_RESIZE_MAX_SIDE);
    resized_size(c, width, height, &h, &w);
    if (h < 1 || w < 1 || h > SDC_RESIZE_MAX_SIDE || w > SDC_RESIZE_MAX_SIDE)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP image processor: a %d x %d image would be resized to %lld x %lld; "
                        "sides must be in [1, %d]",
                        width, height, (long long)w, (long long)h, SDC_RESIZE_MAX_SIDE);
    *out_height = c->do_center_crop ? c->crop_height : h;
    *out_width = c->do_center_crop ? c->crop_width : w;
    return SDC_STATUS_OK;
}

/* Python's a // 2 (floor, also for negative a). */
static int64_t floor_half(int64_t a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

/* convert("RGB") of a gray (replicated) or RGBA (alpha dropped) image into a new buffer. */
static sdc_status to_rgb(sdc_context *ctx, const sdc_image *in, sdc_image *out)
{
    size_t n = (size_t)in->width * (size_t)in->height;
    *out = (sdc_image){.width = in->width, .height = in->height, .channels = 3};
    out->pixels = sdc_malloc(ctx, n * 3);
    if (!out->pixels)
        return sdc_fail_oom(ctx, "CLIP image processor: RGB copy", n * 3);
    for (size_t i = 0; i < n; i++)
        for (int ch = 0; ch < 3; ch++)
            out->pixels[i * 3 + (size_t)ch] =
                in->pixels[i * (size_t)in->channels + (size_t)(in->channels == 1 ? 0 : ch)];
    return SDC_STATUS_OK;
}

/* center_crop + rescale + normalize of one resized RGB image into dst [3, H, W]. */
static void crop_and_normalize(const sdc_clip_image_config *c, const sdc_image *img, int64_t H,
                               int64_t W, float *dst)
{
    int64_t top = c->do_center_crop ? floor_half(img->height - H) : 0;
    int64_t left = c->do_center_crop ? floor_half(img->width - W) : 0;
    for (int ch = 0; ch < 3; ch++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                int64_t y = top + i, x = left + j;
                uint8_t v = 0; /* the padding of a crop larger than the image */
                if (y >= 0 && y < img->height && x >= 0 && x < img->width)
                    v = img->pixels[((size_t)y * (size_t)img->width + (size_t)x) * 3 + (size_t)ch];
                float f = c->do_rescale ? (float)((double)v * c->rescale_factor) : (float)v;
                if (c->do_normalize)
                    f = (f - c->image_mean[ch]) / c->image_std[ch];
                dst[((size_t)ch * (size_t)H + (size_t)i) * (size_t)W + (size_t)j] = f;
            }
}

sdc_status sdc_clip_image_preprocess(sdc_context *ctx, const sdc_clip_image_config *c,
                                     const sdc_image *images, int64_t n, sdc_tensor *pixel_values)
{
    sdc_status st = SDC_STATUS_OK;
    int64_t H = 0, W = 0;
    if (!images || n < 1)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "CLIP image processor: no images");
    for (int64_t i = 0; i < n; i++) {
        const sdc_image *img = &images[i];
        int64_t h = 0, w = 0;
        if (!img->pixels)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "CLIP image processor: image %lld has no pixels", (long long)i);
        if (img->channels != 3 &&
            (!c->do_convert_rgb || (img->channels != 1 && img->channels != 4)))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "CLIP image processor: image %lld has %d channels; expected 3 (RGB)%s",
                            (long long)i, img->channels,
                            c->do_convert_rgb ? ", 1 (gray) or 4 (RGBA)"
                                              : " (do_convert_rgb is off)");
        TRY_RETURN(sdc_clip_image_output_size(ctx, c, img->width, img->height, &h, &w));
        if (i > 0 && (h != H || w != W))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "CLIP image processor: image %lld gives %lld x %lld pixel values, "
                            "image 0 %lld x %lld; a batch must agree",
                            (long long)i, (long long)w, (long long)h, (long long)W, (long long)H);
        H = h;
        W = w;
    }
    int64_t shape[4] = {n, 3, H, W};
    TRY_RETURN(sdc_check_input(ctx, "CLIP image processor pixel_values", pixel_values, 4, shape));

    for (int64_t i = 0; i < n && st == SDC_STATUS_OK; i++) {
        sdc_image rgb = {0}, resized = {0};
        const sdc_image *img = &images[i];
        if (img->channels != 3) {
            st = to_rgb(ctx, img, &rgb);
            img = &rgb;
        }
        int64_t rh = 0, rw = 0;
        resized_size(c, img->width, img->height, &rh, &rw);
        if (st == SDC_STATUS_OK && (rh != img->height || rw != img->width)) {
            st = sdc_resize_rgb8(ctx, img, (int)rw, (int)rh, c->resample, &resized);
            img = &resized;
        }
        if (st == SDC_STATUS_OK)
            crop_and_normalize(c, img, H, W, (float *)pixel_values->data + i * 3 * H * W);
        sdc_free(ctx, resized.pixels);
        sdc_free(ctx, rgb.pixels);
    }
    return st;
}
