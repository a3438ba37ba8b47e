/*
 * Tests `sdc convert`, `sdc inspect` on a bundle and `sdc analyze`'s command line by running the
 * built command (SDC_CLI_PATH) on the tiny sd1 fixture: a 6-bit conversion with the correctness
 * check prints every component; the bundle's inspection shows components, per-tensor storage and
 * bits per weight (and --json parses); bad command lines and a failed check give the right exit
 * codes and messages.
 */
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define SD1 SDC_BUILD_FIXTURES_DIR "/models/sd1-tiny"

static void test_convert_and_inspect(void)
{
    const char *bundle = test_tmp_path("cli.sdc");
    char args[2048];
    int code;
    snprintf(args, sizeof args,
             "convert '%s' -o '%s' --palettize 6 --check-output-correctness "
             "--force -t 2",
             SD1, bundle);
    char *out = test_run_cli(args, &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "unet             6-bit");
    CHECK_CONTAINS(out, "vae              none");
    CHECK_CONTAINS(out, "dB");
    CHECK_CONTAINS(out, "total:");
    free(out);

    snprintf(args, sizeof args, "inspect '%s'", bundle);
    out = test_run_cli(args, &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "family:   sd1, weights f16");
    CHECK_CONTAINS(out, "UNet2DConditionModel");
    CHECK_CONTAINS(out, "unet.safetensors");
    CHECK_CONTAINS(out, "storage        bits/weight");
    CHECK_CONTAINS(out, "6-bit x1");
    CHECK(strstr(out, "sdc.compressed.") == NULL);
    free(out);

    snprintf(args, sizeof args, "inspect --json --filter conv_in '%s'", bundle);
    out = test_run_cli(args, &code);
    CHECK_EQ_INT(code, 0);
    sdc_context *ctx = NULL;
    sdc_json_doc *doc = NULL;
    if (sdc_context_create(NULL, &ctx) == SDC_STATUS_OK &&
        sdc_json_parse(ctx, out, strlen(out), "inspect --json", &doc) == SDC_STATUS_OK) {
        const sdc_json *comps = sdc_json_get_type(doc->root, "components", SDC_JSON_TYPE_ARRAY);
        CHECK(comps && comps->u.array.count == 4);
        const sdc_json *unet = comps ? comps->u.array.items[1] : NULL;
        const sdc_json *file = unet ? sdc_json_get_type(unet, "file", SDC_JSON_TYPE_OBJECT) : NULL;
        const sdc_json *tensors = file ? sdc_json_get(file, "tensors") : NULL;
        CHECK(tensors && tensors->type == SDC_JSON_TYPE_ARRAY && tensors->u.array.count == 2);
        const sdc_json *w = tensors ? tensors->u.array.items[1] : NULL;
        const sdc_json *storage = w ? sdc_json_get(w, "storage") : NULL;
        CHECK(storage && strcmp(storage->u.string.chars, "palette") == 0);
    } else {
        CHECK_MSG(false, "inspect --json: %s", ctx ? sdc_context_errmsg(ctx) : "no context");
    }
    sdc_json_free(doc);
    sdc_context_destroy(ctx);
    free(out);
}

static void test_errors(void)
{
    int code;
    char args[2048];
    char *out = test_run_cli("convert --help", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "usage: sdc convert");
    free(out);
    out = test_run_cli("convert '" SD1 "'", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "no -o OUT.sdc given");
    free(out);
    out = test_run_cli("convert '" SD1 "' -o x.sdc --palettize 9", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "--palettize '9'");
    free(out);
    out = test_run_cli("convert '" SD1 "' -o x.sdc --select r", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "--select needs --recipe");
    free(out);
    out = test_run_cli("convert '" SD1 "' -o x.sdc --bogus", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "unknown option '--bogus'");
    free(out);
    /* a failed correctness check: exit 1, the table still printed, no bundle */
    const char *bundle = test_tmp_path("failed.sdc");
    snprintf(args, sizeof args, "convert '%s' -o '%s' --palettize 1 --check-output-correctness",
             SD1, bundle);
    out = test_run_cli(args, &code);
    CHECK_EQ_INT(code, 1);
    CHECK_CONTAINS(out, "output correctness check failed");
    CHECK_CONTAINS(out, "unet             1-bit");
    free(out);
    struct stat sb;
    CHECK(stat(bundle, &sb) != 0);
    snprintf(args, sizeof args, "convert '%s' -o x.sdc --recipe /nonexistent.json --select r", SD1);
    out = test_run_cli(args, &code);
    CHECK_EQ_INT(code, 1);
    CHECK_CONTAINS(out, "/nonexistent.json");
    free(out);
    out = test_run_cli("analyze", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "no source given");
    free(out);
    out = test_run_cli("analyze '" SD1 "' -o r.json --num-recipes 0", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "--num-recipes '0'");
    free(out);
    out = test_run_cli("analyze --help", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "--select NAME");
    free(out);
}

int main(void)
{
    RUN(test_convert_and_inspect);
    RUN(test_errors);
    return test_finish();
}
