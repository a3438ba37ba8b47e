/*
 * Tests `sdc bench` and sdc_bench_run on the tiny sd1 fixture: every component runs from the
 * diffusers folder and from bundles converted from it (f16 and 6-bit palettized), at the native
 * size (sample_size 8: 64 x 64 pixels), counting the same work from each source; --json writes
 * one object with the documented fields; bad command lines and missing models fail with a
 * message naming the problem.
 */
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#define SD1 SDC_BUILD_FIXTURES_DIR "/models/sd1-tiny"

static const char *convert(const char *name, const char *options)
{
    const char *bundle = test_tmp_path(name);
    char args[2048];
    int code;
    snprintf(args, sizeof args, "convert '%s' -o '%s' --force -t 2 %s", SD1, bundle, options);
    char *out = test_run_cli(args, &code);
    CHECK_MSG(code == 0, "sdc %s: %s", args, out);
    free(out);
    return bundle;
}

/* Each component from the folder and from the bundles: same size, same counted work. */
static void test_sources_agree(void)
{
    const char *bundles[2] = {convert("bench_f16.sdc", ""),
                              convert("bench_p6.sdc", "--palettize 6")};
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(NULL, &ctx) == SDC_STATUS_OK);
    if (!ctx)
        return;
    sdc_bench_params p = sdc_bench_default_params();
    p.warmup = 0;
    p.runs = 1;
    for (int c = 0; c < SDC_BENCH_COMPONENT_COUNT; c++) {
        const char *name = sdc_bench_component_name((sdc_bench_component)c);
        sdc_bench_result folder, bundle;
        sdc_status st = sdc_bench_run(ctx, SD1, (sdc_bench_component)c, &p, &folder);
        CHECK_MSG(st == SDC_STATUS_OK, "%s from the folder: %s", name, sdc_context_errmsg(ctx));
        CHECK_MSG(folder.flops > 0 && folder.seconds > 0 && folder.scratch_bytes > 0,
                  "%s: %g FLOP in %g s", name, folder.flops, folder.seconds);
        CHECK_EQ_INT(folder.width, 64);
        CHECK_EQ_INT(folder.height, 64);
        for (int b = 0; b < 2; b++) {
            st = sdc_bench_run(ctx, bundles[b], (sdc_bench_component)c, &p, &bundle);
            CHECK_MSG(st == SDC_STATUS_OK, "%s from %s: %s", name, bundles[b],
                      sdc_context_errmsg(ctx));
            CHECK_MSG(bundle.flops == folder.flops, "%s from %s: %g FLOP, folder %g", name,
                      bundles[b], bundle.flops, folder.flops);
            CHECK_EQ_INT(bundle.width, 64);
            CHECK_EQ_INT(bundle.scratch_bytes, folder.scratch_bytes);
        }
    }
    /* Another size, multiples of 8. */
    p.width = 48;
    p.height = 80;
    sdc_bench_result r;
    CHECK(sdc_bench_run(ctx, bundles[1], SDC_BENCH_COMPONENT_UNET_STEP, &p, &r) == SDC_STATUS_OK);
    CHECK_EQ_INT(r.width, 48);
    CHECK_EQ_INT(r.height, 80);
    p.width = 50;
    CHECK(sdc_bench_run(ctx, bundles[1], SDC_BENCH_COMPONENT_UNET_STEP, &p, &r) ==
          SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "multiples of 8");
    sdc_context_destroy(ctx);
}

static void test_json(void)
{
    const char *bundle = test_tmp_path("bench_p6.sdc");
    char args[2048];
    int code;
    snprintf(args, sizeof args, "bench '%s' --no-sgemm --runs 1 --warmup 0 --threads 2 --json -",
             bundle);
    char *out = test_run_cli(args, &code);
    CHECK_MSG(code == 0, "sdc %s: %s", args, out);
    /* The table, then the JSON object on its own line. */
    CHECK_CONTAINS(out, "unet_step");
    const char *json = strstr(out, "{\"model\"");
    CHECK(json != NULL);
    sdc_context *ctx = NULL;
    sdc_json_doc *doc = NULL;
    if (json && sdc_context_create(NULL, &ctx) == SDC_STATUS_OK &&
        sdc_json_parse(ctx, json, strlen(json), "bench --json", &doc) == SDC_STATUS_OK) {
        const sdc_json *comps = sdc_json_get_type(doc->root, "components", SDC_JSON_TYPE_ARRAY);
        CHECK(comps && comps->u.array.count == SDC_BENCH_COMPONENT_COUNT);
        const sdc_json *threads = sdc_json_get_type(doc->root, "threads", SDC_JSON_TYPE_NUMBER);
        CHECK(threads && threads->u.number.value == 2);
        for (size_t i = 0; comps && i < comps->u.array.count; i++) {
            const sdc_json *c = comps->u.array.items[i];
            const sdc_json *name = sdc_json_get_type(c, "component", SDC_JSON_TYPE_STRING);
            CHECK(name && strcmp(name->u.string.chars,
                                 sdc_bench_component_name((sdc_bench_component)i)) == 0);
            static const char *const fields[] = {
                "seconds",        "gflop", "gflops", "fraction_of_sgemm",
                "peak_rss_bytes", "width", "height"};
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
                CHECK_MSG(sdc_json_get_type(c, fields[f], SDC_JSON_TYPE_NUMBER) != NULL,
                          "component %zu has a number '%s'", i, fields[f]);
            const sdc_json *rss = sdc_json_get_type(c, "peak_rss_bytes", SDC_JSON_TYPE_NUMBER);
            CHECK(rss && rss->u.number.value > 1e6);
        }
    } else {
        CHECK_MSG(false, "bench --json: %s", ctx ? sdc_context_errmsg(ctx) : "no JSON");
    }
    sdc_json_free(doc);
    sdc_context_destroy(ctx);
    free(out);
}

static void test_errors(void)
{
    int code;
    char *out =
        test_run_cli("bench /nonexistent/bench-model --no-sgemm --component unet_step", &code);
    CHECK(code != 0);
    CHECK_CONTAINS(out, "/nonexistent/bench-model");
    free(out);
    out = test_run_cli("bench '" SD1 "' --component bogus", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "unknown component 'bogus'");
    free(out);
    out = test_run_cli("bench '" SD1 "' --precision f8", &code);
    CHECK_EQ_INT(code, 2);
    CHECK_CONTAINS(out, "--precision is f32 or bf16, not 'f8'");
    free(out);
    out = test_run_cli("bench --help", &code);
    CHECK_EQ_INT(code, 0);
    CHECK_CONTAINS(out, "sdc bundle");
    free(out);
}

int main(void)
{
    RUN(test_sources_agree);
    RUN(test_json);
    RUN(test_errors);
    return test_finish();
}
