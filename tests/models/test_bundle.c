/*
 * Tests src/models/bundle.c on hand-written bundles: model.json is checked (format, version,
 * components with a plain file name, files and tokenizer folders present) with errors naming the
 * file and the field; components open as stores and config views; the public sdc_bundle_info
 * reads the summary. Bundles written by the converter are tested in tests/convert.
 */
#include "model_test.h"

#include <stdio.h>
#include <sys/stat.h>

static sdc_context *ctx;
static char dir[512];

/* A bundle folder with one component file "w.safetensors" (one F16 tensor "x.weight") and the
 * given model.json. */
static void make_bundle(const char *index)
{
    static const uint16_t values[4] = {0x3C00, 0x4000, 0x4200, 0x4400};
    snprintf(dir, sizeof dir, "%s", test_tmp_path("bundle.sdc"));
    mkdir(dir, 0777);
    char path[600];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    sdc_st_entry e = {
        .name = "x.weight", .dtype = SDC_DTYPE_F16, .ndim = 2, .shape = {2, 2}, .data = values};
    CHECK(sdc_st_write(ctx, path, &e, 1, NULL, 0) == SDC_STATUS_OK);
    snprintf(path, sizeof path, "%s/model.json", dir);
    CHECK(sdc_file_write_all(ctx, path, index, strlen(index)) == SDC_STATUS_OK);
}

static sdc_status open_with(const char *index)
{
    make_bundle(index);
    sdc_bundle *b = NULL;
    sdc_status st = sdc_bundle_open(ctx, dir, &b);
    CHECK((st == SDC_STATUS_OK) == (b != NULL));
    sdc_bundle_close(b);
    return st;
}

#define HEAD "{\"format\": \"sdc-bundle\", \"version\": 1, \"family\": \"sd1\", "

static void test_opens_a_bundle(void)
{
    make_bundle(HEAD "\"pipeline\": \"P\", \"components\": {\"unet\": {\"file\": "
                     "\"w.safetensors\", \"class\": \"UNet2DConditionModel\", \"config\": "
                     "{\"in_channels\": 9}, \"compression\": {\"method\": \"palette\", \"bits\": "
                     "6, \"parameters\": 4, \"bytes\": 3, \"bits_per_weight\": 6.0, \"psnr\": "
                     "41.5}}, \"vae\": {\"file\": \"w.safetensors\", \"class\": \"AutoencoderKL\", "
                     "\"config\": null}}, \"scheduler\": {\"_class_name\": \"PNDMScheduler\"}}");
    CHECK(sdc_bundle_is(dir));
    CHECK(!sdc_bundle_is(SDC_TEST_DATA_DIR));
    sdc_bundle *b = NULL;
    if (sdc_bundle_open(ctx, dir, &b) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    CHECK_EQ_STR(b->family, "sd1");
    CHECK_EQ_STR(b->pipeline_class, "P");
    CHECK_EQ_INT(b->n_components, 2);
    CHECK(b->scheduler && !b->feature_extractor);
    CHECK(sdc_bundle_tokenizer_dir(b, "tokenizer") == NULL);
    const sdc_bundle_component *u = sdc_bundle_find(b, "unet");
    CHECK(u && strcmp(u->class_name, "UNet2DConditionModel") == 0 && u->config && u->summary);
    CHECK(sdc_bundle_find(b, "text_encoder") == NULL);
    sdc_model_config cfg;
    int64_t v = 0;
    CHECK(sdc_bundle_config(b, "unet", &cfg) == SDC_STATUS_OK);
    CHECK(sdc_model_config_int(&cfg, "in_channels", 4, &v) == SDC_STATUS_OK && v == 9);
    sdc_model_config_close(&cfg);
    MT_CHECK_ERROR(ctx, sdc_bundle_config(b, "vae", &cfg), SDC_STATUS_NOT_FOUND, "\"vae\"", "null");
    MT_CHECK_ERROR(ctx, sdc_bundle_config(b, "controlnet", &cfg), SDC_STATUS_NOT_FOUND,
                   "no component \"controlnet\"", NULL);
    sdc_store *s = NULL;
    CHECK(sdc_bundle_store(ctx, b, "unet", &s) == SDC_STATUS_OK);
    sdc_bundle_close(b); /* the store keeps its file */
    const float *x = NULL;
    int64_t shape[2] = {2, 2};
    CHECK(s && sdc_store_floats(s, "x.weight", 2, shape, &x) == SDC_STATUS_OK && x[3] == 4.0f);
    sdc_store_destroy(s);

    sdc_bundle_info *info = NULL;
    CHECK(sdc_bundle_info_open(ctx, dir, &info) == SDC_STATUS_OK);
    sdc_bundle_component_info c;
    if (info && sdc_bundle_info_component(info, 0, &c) == SDC_STATUS_OK) {
        CHECK_EQ_STR(c.name, "unet");
        CHECK_EQ_STR(c.file, "w.safetensors");
        CHECK_EQ_STR(c.compression, "palette");
        CHECK(c.bits == 6 && c.parameters == 4 && c.bytes == 3 && c.bits_per_weight == 6.0);
        CHECK(c.checked && c.psnr == 41.5);
    }
    if (info && sdc_bundle_info_component(info, 1, &c) == SDC_STATUS_OK)
        CHECK(strcmp(c.compression, "") == 0 && c.bits == 0 && !c.checked);
    sdc_bundle_info_close(info);
}

static void test_refuses_malformed_indexes(void)
{
    MT_CHECK_ERROR(ctx, open_with("{\"format\": \"other\", \"version\": 1}"), SDC_STATUS_FORMAT,
                   "model.json", "not an sdc bundle");
    MT_CHECK_ERROR(ctx, open_with("{\"format\": \"sdc-bundle\", \"version\": 2}"),
                   SDC_STATUS_UNSUPPORTED, "version 2", NULL);
    MT_CHECK_ERROR(ctx, open_with(HEAD "\"components\": []}"), SDC_STATUS_FORMAT, "\"components\"",
                   NULL);
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {\"unet\": {\"file\": \"../w.safetensors\", "
                                  "\"class\": \"U\"}}}"),
                   SDC_STATUS_FORMAT, "\"unet\"", "\"file\"");
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {\"unet\": {\"file\": \"w.safetensors\"}}}"),
                   SDC_STATUS_FORMAT, "\"class\"", NULL);
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {\"unet\": {\"file\": \"w.safetensors\", "
                                  "\"class\": \"U\", \"config\": 3}}}"),
                   SDC_STATUS_FORMAT, "\"config\"", NULL);
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {\"unet\": {\"file\": \"gone.safetensors\", "
                                  "\"class\": \"U\"}}}"),
                   SDC_STATUS_NOT_FOUND, "gone.safetensors", "missing");
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {}, \"tokenizers\": {\"tokenizer\": "
                                  "\"tokenizer\"}}"),
                   SDC_STATUS_NOT_FOUND, "tokenizer", "missing");
    MT_CHECK_ERROR(ctx,
                   open_with(HEAD "\"components\": {}, \"tokenizers\": {\"tokenizer\": \"a/b\"}}"),
                   SDC_STATUS_FORMAT, "tokenizer", NULL);
    MT_CHECK_ERROR(ctx, open_with("[1, 2]"), SDC_STATUS_FORMAT, "model.json", NULL);
    sdc_bundle *b = NULL;
    MT_CHECK_ERROR(ctx, sdc_bundle_open(ctx, SDC_TEST_DATA_DIR, &b), SDC_STATUS_IO, "model.json",
                   NULL);
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_opens_a_bundle);
    RUN(test_refuses_malformed_indexes);
    sdc_context_destroy(ctx);
    return test_finish();
}
