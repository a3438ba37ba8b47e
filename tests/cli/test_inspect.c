/*
 * Tests `sdc inspect` by running the built command (SDC_CLI_PATH) on the real TAESD decoder
 * weights: every tensor's dtype and shape in --json and in the table must equal what Python's
 * safetensors library read from the same file (tests/data/taesd/taef2_decoder.tensors.txt),
 * and bad command lines and files fail with the right exit code and a message. Models (the
 * tiny SDXL base and refiner folders, the SDXL single file, a ControlNet): family and
 * components.
 */
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#define DECODER SDC_TEST_DATA_DIR "/taesd/taef2_decoder.safetensors"
#define TRUTH   SDC_TEST_DATA_DIR "/taesd/taef2_decoder.tensors.txt"
#define MODELS  SDC_BUILD_FIXTURES_DIR "/models"

typedef struct truth_tensor {
    char name[128];
    char dtype[16];
    char shape[64]; /* "64,32,3,3" */
} truth_tensor;

static int read_truth(truth_tensor *out, int max)
{
    FILE *f = fopen(TRUTH, "r");
    CHECK(f != NULL);
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (line[0] == '#' || line[0] == '@')
            continue;
        if (sscanf(line, "%127s %15s %63s", out[n].name, out[n].dtype, out[n].shape) == 3)
            n++;
    }
    fclose(f);
    return n;
}

static char *run(const char *args, int *code)
{
    char line[3072];
    snprintf(line, sizeof line, "inspect %s", args);
    return test_run_cli(line, code);
}

static void shape_to_text(const sdc_json *shape, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < shape->u.array.count && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? "," : "",
                                (long long)shape->u.array.items[i]->u.number.int_value);
    if (shape->u.array.count == 0)
        snprintf(buf, size, "-");
}

static void test_json_lists_every_tensor(void)
{
    truth_tensor truth[256];
    int n = read_truth(truth, 256);
    CHECK_EQ_INT(n, 79); /* the taef2 decoder's tensor count (shared/data/taesd/ARCHITECTURE.md) */

    int code;
    char *out = run("--json '" DECODER "'", &code);
    CHECK_EQ_INT(code, 0);
    sdc_context *ctx;
    sdc_context_create(NULL, &ctx);
    sdc_json_doc *doc = NULL;
    CHECK_EQ_INT(sdc_json_parse(ctx, out, strlen(out), "inspect --json", &doc), SDC_STATUS_OK);
    if (doc) {
        const sdc_json *tensors = sdc_json_get_type(doc->root, "tensors", SDC_JSON_TYPE_ARRAY);
        CHECK(tensors != NULL);
        CHECK_EQ_INT(tensors ? (long long)tensors->u.array.count : -1, n);
        const sdc_json *count = sdc_json_get(doc->root, "tensor_count");
        CHECK(count && count->u.number.int_value == n);
        for (int i = 0; tensors && i < n && i < (int)tensors->u.array.count; i++) {
            const sdc_json *t = tensors->u.array.items[i];
            const sdc_json *name = sdc_json_get_type(t, "name", SDC_JSON_TYPE_STRING);
            const sdc_json *dtype = sdc_json_get_type(t, "dtype", SDC_JSON_TYPE_STRING);
            const sdc_json *shape = sdc_json_get_type(t, "shape", SDC_JSON_TYPE_ARRAY);
            CHECK(name && dtype && shape);
            if (!name || !dtype || !shape)
                continue;
            char text[64];
            shape_to_text(shape, text, sizeof text);
            /* both lists are in name order */
            CHECK_EQ_STR(name->u.string.chars, truth[i].name);
            CHECK_EQ_STR(dtype->u.string.chars, truth[i].dtype);
            CHECK_EQ_STR(text, truth[i].shape);
        }
        const sdc_json *meta = sdc_json_get_type(doc->root, "metadata", SDC_JSON_TYPE_OBJECT);
        const sdc_json *format = meta ? sdc_json_get(meta, "format") : NULL;
        CHECK(format && strcmp(format->u.string.chars, "pt") == 0);
        sdc_json_free(doc);
    }
    sdc_context_destroy(ctx);
    free(out);
}

static void test_table_lists_every_tensor(void)
{
    truth_tensor truth[256];
    int n = read_truth(truth, 256);
    int code;
    char *out = run("'" DECODER "'", &code);
    CHECK_EQ_INT(code, 0);
    int found = 0;
    for (int i = 0; i < n; i++) {
        /* the table prints "name  dtype  [d0, d1, ...]  bytes" on one line */
        char shape[96] = "[";
        size_t pos = 1;
        for (const char *p = truth[i].shape; *p && pos + 3 < sizeof shape; p++) {
            if (*p == ',') {
                shape[pos++] = ',';
                shape[pos++] = ' ';
            } else {
                shape[pos++] = *p;
            }
        }
        shape[pos++] = ']';
        shape[pos] = '\0';
        for (const char *line = out; line && *line;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            char buf[512];
            snprintf(buf, sizeof buf, "%.*s", (int)len, line);
            char nm[256], dt[32];
            if (sscanf(buf, "%255s %31s", nm, dt) == 2 && strcmp(nm, truth[i].name) == 0 &&
                strcmp(dt, truth[i].dtype) == 0 && strstr(buf, shape)) {
                found++;
                break;
            }
            line = end ? end + 1 : NULL;
        }
    }
    CHECK_EQ_INT(found, n);
    CHECK_CONTAINS(out, "total:    79 tensors, 1,338,499 parameters");
    CHECK_CONTAINS(out, "format = pt");
    free(out);

    out = run("--filter pool '" DECODER "'", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "total:    12 tensors"); /* 3 GroupNorm branches x 4 tensors */
    free(out);
}

static void test_errors(void)
{
    int code;
    char *out = run("", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "usage: sdc inspect");
    free(out);

    out = run("--bogus '" DECODER "'", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "unknown option '--bogus'");
    free(out);

    out = run("/nonexistent/model.safetensors", &code);
    CHECK_EQ_INT(code, 1);
    CHECK_CONTAINS(out, "/nonexistent/model.safetensors: cannot open");
    free(out);

    /* a text file is not a safetensors file */
    out = run("'" TRUTH "'", &code);
    CHECK_EQ_INT(code, 1);
    CHECK_CONTAINS(out, "taef2_decoder.tensors.txt");
    free(out);

    out = run("--help", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "--json");
    free(out);
}

static void test_models(void)
{
    int code;
    char *out = run("'" MODELS "/sdxl-tiny'", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "family:   sdxl, 6 time ids");
    CHECK_CONTAINS(out, "  text_encoder    CLIPTextModel");
    CHECK_CONTAINS(out, "  text_encoder_2  CLIPTextModelWithProjection");
    CHECK_CONTAINS(out, "  unet            UNet2DConditionModel");
    CHECK_CONTAINS(out, "scaling 0.13025");
    free(out);
    out = run("'" MODELS "/sdxl-refiner-tiny'", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "family:   sdxl-refiner, 5 time ids (original size, crop, aesthetic score)");
    CHECK(strstr(out, "CLIPTextModel ") == NULL);
    free(out);
    out = run("'" MODELS "/controlnet-sd1-tiny'", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "family:   sd1 ControlNet");
    CHECK_CONTAINS(out, "  controlnet      ControlNetModel");
    free(out);
    /* a single file: the model, then its tensors; in JSON both */
    out = run("--json '" MODELS "/sdxl-tiny.safetensors'", &code);
    CHECK_EQ_INT(code, 0);
    sdc_context *ctx = NULL;
    sdc_json_doc *doc = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    CHECK(sdc_json_parse(ctx, out, strlen(out), "inspect --json", &doc) == SDC_STATUS_OK);
    const sdc_json *model = doc ? sdc_json_get_type(doc->root, "model", SDC_JSON_TYPE_OBJECT) : NULL;
    const sdc_json *file = doc ? sdc_json_get_type(doc->root, "file", SDC_JSON_TYPE_OBJECT) : NULL;
    const sdc_json *family = model ? sdc_json_get_type(model, "family", SDC_JSON_TYPE_STRING) : NULL;
    const sdc_json *comps =
        model ? sdc_json_get_type(model, "components", SDC_JSON_TYPE_ARRAY) : NULL;
    CHECK(family && strcmp(family->u.string.chars, "sdxl") == 0);
    CHECK(comps && comps->u.array.count == 4);
    CHECK(file && sdc_json_get_type(file, "tensors", SDC_JSON_TYPE_ARRAY));
    sdc_json_free(doc);
    sdc_context_destroy(ctx);
    free(out);
}

int main(void)
{
    RUN(test_json_lists_every_tensor);
    RUN(test_table_lists_every_tensor);
    RUN(test_errors);
    RUN(test_models);
    return test_finish();
}
