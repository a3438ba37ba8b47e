/*
 * Tests src/models/clip_image_processor.c: every "clip" line of
 * tests/data/resize/pillow_resize.txt (transformers 4.44.2's CLIPImageProcessor on the
 * astronaut photos and synthetic patterns: the real 224 configuration, sd1-tiny's 32, landscape
 * and portrait crops, a crop larger than the image, gray input, no resampling needed) must give
 * byte-identical float32 pixel values; then reading preprocessor_config.json files (sd1-tiny's,
 * the older integer "size"/"crop_size" form, exact sizes) and their errors, and the input
 * errors. The safety checker's fixture (tests/models/test_safety_checker.c) checks it again on
 * the pipeline's own images.
 */
#include "image/resize_samples.h"
#include "model_test.h"

#define FEATURE SDC_BUILD_FIXTURES_DIR "/models/sd1-tiny/feature_extractor"

static sdc_context *ctx;

static void test_matches_transformers(void)
{
    FILE *f = fopen(RS_SAMPLES, "r");
    CHECK_MSG(f != NULL, "cannot open %s", RS_SAMPLES);
    if (!f)
        return;
    rs_sources sources = {.ctx = ctx};
    char line[512], name[64];
    int n_cases = 0;
    while (rs_next_line(f, "clip", line, sizeof line)) {
        long long edge = 0, crop_h = 0, crop_w = 0;
        unsigned long long want = 0;
        if (sscanf(line, "clip %63s %lld %lld %lld %llx", name, &edge, &crop_h, &crop_w, &want) !=
            5) {
            CHECK_MSG(false, "unreadable line \"%s\"", line);
            continue;
        }
        const sdc_image *src = rs_sources_get(&sources, name);
        if (!src)
            continue;
        sdc_clip_image_config c;
        sdc_clip_image_config_default(&c);
        c.shortest_edge = edge;
        c.crop_height = crop_h;
        c.crop_width = crop_w;
        int64_t h = 0, w = 0;
        CHECK(sdc_clip_image_output_size(ctx, &c, src->width, src->height, &h, &w) ==
              SDC_STATUS_OK);
        CHECK(h == crop_h && w == crop_w);
        mt_array out = mt_array4(ctx, 1, 3, crop_h, crop_w);
        sdc_status st = sdc_clip_image_preprocess(ctx, &c, src, 1, &out.t);
        CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", line, sdc_context_errmsg(ctx));
        uint64_t got = rs_fnv1a64(out.data, (size_t)(3 * crop_h * crop_w) * sizeof(float));
        CHECK_MSG(got == want, "%s: got hash %016llx", line, (unsigned long long)got);
        mt_array_free(&out);
        n_cases++;
    }
    fclose(f);
    rs_sources_free(&sources);
    CHECK_MSG(n_cases >= 8, "only %d CLIP preprocessing cases in %s", n_cases, RS_SAMPLES);
}

/* A batch is each image on its own, stacked. */
static void test_batch(void)
{
    sdc_image imgs[2];
    if (!rs_source(ctx, "pattern:64x48x3", &imgs[0]) ||
        !rs_source(ctx, "pattern:17x33x3", &imgs[1]))
        return;
    sdc_clip_image_config c;
    sdc_clip_image_config_default(&c);
    c.shortest_edge = 20;
    c.crop_height = c.crop_width = 16;
    mt_array both = mt_array4(ctx, 2, 3, 16, 16), one = mt_array4(ctx, 1, 3, 16, 16);
    CHECK(sdc_clip_image_preprocess(ctx, &c, imgs, 2, &both.t) == SDC_STATUS_OK);
    for (int i = 0; i < 2; i++) {
        CHECK(sdc_clip_image_preprocess(ctx, &c, &imgs[i], 1, &one.t) == SDC_STATUS_OK);
        CHECK(memcmp(one.data, both.data + i * 3 * 16 * 16, 3 * 16 * 16 * sizeof(float)) == 0);
    }
    mt_array_free(&both);
    mt_array_free(&one);
    sdc_image_free(ctx, &imgs[0]);
    sdc_image_free(ctx, &imgs[1]);
}

static sdc_status config_of(const char *text, sdc_clip_image_config *c)
{
    const char *path = test_tmp_path("preprocessor_config.json");
    sdc_model_config json;
    CHECK(sdc_file_write_all(ctx, path, text, strlen(text)) == SDC_STATUS_OK);
    sdc_status st = sdc_model_config_open(ctx, path, &json);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_clip_image_config_from_json(&json, c);
    sdc_model_config_close(&json);
    return st;
}

static void test_config_files(void)
{
    sdc_clip_image_config c;
    sdc_status st = sdc_clip_image_config_open(ctx, FEATURE, &c);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    CHECK(c.do_convert_rgb && c.do_resize && c.do_center_crop && c.do_rescale && c.do_normalize);
    CHECK_EQ_INT(c.shortest_edge, 32);
    CHECK_EQ_INT(c.crop_height, 32);
    CHECK_EQ_INT(c.crop_width, 32);
    CHECK_EQ_INT(c.resample, SDC_RESIZE_FILTER_BICUBIC);
    CHECK(c.rescale_factor == 1.0 / 255.0);
    CHECK(c.image_mean[0] == 0.48145466f && c.image_mean[2] == 0.40821073f);
    CHECK(c.image_std[1] == 0.26130258f);

    /* SD 1.x's feature_extractor file: integer sizes, the older type key, no rescale keys. */
    CHECK(config_of("{\"crop_size\": 224, \"do_center_crop\": true, \"do_convert_rgb\": true,"
                    " \"do_normalize\": true, \"do_resize\": true, \"feature_extractor_type\":"
                    " \"CLIPFeatureExtractor\", \"image_mean\": [0.48145466, 0.4578275,"
                    " 0.40821073], \"image_std\": [0.26862954, 0.26130258, 0.27577711],"
                    " \"resample\": 3, \"size\": 224}",
                    &c) == SDC_STATUS_OK);
    CHECK(c.shortest_edge == 224 && c.crop_height == 224 && c.crop_width == 224);
    CHECK(c.do_rescale && c.rescale_factor == 1.0 / 255.0);
    int64_t h = 0, w = 0;
    CHECK(sdc_clip_image_output_size(ctx, &c, 768, 512, &h, &w) == SDC_STATUS_OK);
    CHECK(h == 224 && w == 224);

    /* An exact size, no crop, lanczos, one mean for all channels. */
    CHECK(config_of("{\"size\": {\"height\": 30, \"width\": 40}, \"do_center_crop\": false,"
                    " \"resample\": 1, \"image_mean\": 0.5}",
                    &c) == SDC_STATUS_OK);
    CHECK(c.shortest_edge == 0 && c.resize_height == 30 && c.resize_width == 40);
    CHECK(c.resample == SDC_RESIZE_FILTER_LANCZOS && c.image_mean[1] == 0.5f);
    CHECK(sdc_clip_image_output_size(ctx, &c, 7, 9, &h, &w) == SDC_STATUS_OK);
    CHECK(h == 30 && w == 40);
    /* The shortest edge: int(edge * long / short). */
    CHECK(config_of("{\"size\": {\"shortest_edge\": 20}, \"do_center_crop\": false}", &c) ==
          SDC_STATUS_OK);
    CHECK(sdc_clip_image_output_size(ctx, &c, 17, 33, &h, &w) == SDC_STATUS_OK);
    CHECK(h == 38 && w == 20);
    CHECK(sdc_clip_image_output_size(ctx, &c, 33, 17, &h, &w) == SDC_STATUS_OK);
    CHECK(h == 20 && w == 38);

    MT_CHECK_ERROR(ctx, config_of("{\"resample\": 0}", &c), SDC_STATUS_UNSUPPORTED,
                   "\"resample\" 0", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"image_processor_type\": \"ViTImageProcessor\"}", &c),
                   SDC_STATUS_UNSUPPORTED, "\"ViTImageProcessor\"", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"size\": \"224\"}", &c), SDC_STATUS_FORMAT,
                   "\"size\" is of type string", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"size\": {\"longest_edge\": 224}}", &c), SDC_STATUS_FORMAT,
                   "\"size\" has neither", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"crop_size\": {\"shortest_edge\": 224}}", &c),
                   SDC_STATUS_FORMAT, "\"crop_size\" has neither", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"crop_size\": 0}", &c), SDC_STATUS_FORMAT,
                   "\"crop_size\" 0 is outside", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"image_std\": [0.5, 0.5]}", &c), SDC_STATUS_FORMAT,
                   "\"image_std\" must be", NULL);
    MT_CHECK_ERROR(ctx, config_of("{\"do_resize\": 1}", &c), SDC_STATUS_FORMAT, "\"do_resize\"",
                   NULL);
    MT_CHECK_ERROR(ctx, sdc_clip_image_config_open(ctx, SDC_TEST_DATA_DIR, &c), SDC_STATUS_IO,
                   "preprocessor_config.json", NULL);
}

static void test_input_errors(void)
{
    sdc_clip_image_config c;
    sdc_clip_image_config_default(&c);
    c.shortest_edge = c.crop_height = c.crop_width = 8;
    uint8_t px[6 * 4 * 4] = {0};
    sdc_image imgs[2] = {{.width = 6, .height = 4, .channels = 3, .pixels = px},
                         {.width = 4, .height = 6, .channels = 2, .pixels = px}};
    mt_array out = mt_array4(ctx, 2, 3, 8, 8);
    MT_CHECK_ERROR(ctx, sdc_clip_image_preprocess(ctx, &c, imgs, 2, &out.t),
                   SDC_STATUS_INVALID_ARGUMENT, "image 1 has 2 channels", NULL);
    imgs[1].channels = 3;
    c.do_center_crop = false;
    MT_CHECK_ERROR(ctx, sdc_clip_image_preprocess(ctx, &c, imgs, 2, &out.t),
                   SDC_STATUS_INVALID_ARGUMENT, "a batch must agree", NULL);
    c.do_center_crop = true;
    mt_array wrong = mt_array4(ctx, 2, 3, 8, 9);
    MT_CHECK_ERROR(ctx, sdc_clip_image_preprocess(ctx, &c, imgs, 2, &wrong.t), SDC_STATUS_SHAPE,
                   "pixel_values", NULL);
    CHECK(sdc_clip_image_preprocess(ctx, &c, imgs, 2, &out.t) == SDC_STATUS_OK);
    MT_CHECK_ERROR(ctx, sdc_clip_image_preprocess(ctx, &c, imgs, 0, &out.t),
                   SDC_STATUS_INVALID_ARGUMENT, "no images", NULL);
    imgs[0].pixels = NULL;
    MT_CHECK_ERROR(ctx, sdc_clip_image_preprocess(ctx, &c, imgs, 2, &out.t),
                   SDC_STATUS_INVALID_ARGUMENT, "image 0 has no pixels", NULL);
    int64_t h, w;
    MT_CHECK_ERROR(ctx, sdc_clip_image_output_size(ctx, &c, 0, 5, &h, &w),
                   SDC_STATUS_INVALID_ARGUMENT, "a 0 x 5 image", NULL);
    c.shortest_edge = 60000;
    MT_CHECK_ERROR(ctx, sdc_clip_image_output_size(ctx, &c, 1, 5, &h, &w),
                   SDC_STATUS_INVALID_ARGUMENT, "would be resized to", NULL);
    mt_array_free(&out);
    mt_array_free(&wrong);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_matches_transformers);
    RUN(test_batch);
    RUN(test_config_files);
    RUN(test_input_errors);
    sdc_context_destroy(ctx);
    return test_finish();
}
