/*
 * Fault injection over the converter and the bundle reader (core's sdc_alloc_fail_nth): a
 * palettized conversion of the tiny ControlNet with its correctness check, and opening the bundle
 * and loading its model, each made to fail at allocation 1, 2, ... (every allocation, or an even
 * sample of about 60 when there are more). Every failure must come back as SDC_STATUS_OUT_OF_MEMORY
 * with a message, leave no half-written bundle, and leak nothing.
 */
#include "convert_test.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTROLNET SDC_BUILD_FIXTURES_DIR "/models/controlnet-sd1-tiny"

static sdc_context *ctx;

static size_t live_bytes(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.live_bytes;
}

static uint64_t allocs(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.n_allocs;
}

static sdc_status convert(const char *out)
{
    sdc_convert_params p = sdc_convert_default_params();
    p.palettize_bits = 4;
    p.check_output_correctness = 1;
    p.force = 1;
    sdc_bundle_info *info = NULL;
    sdc_status st = sdc_convert(ctx, CONTROLNET, out, &p, &info);
    sdc_bundle_info_close(info);
    return st;
}

static sdc_status open_and_load(const char *bundle)
{
    sdc_bundle *b = NULL;
    sdc_controlnet *cn = NULL;
    sdc_status st = sdc_bundle_open(ctx, bundle, &b);
    if (st == SDC_STATUS_OK)
        st = sdc_bundle_open_controlnet(ctx, b, &cn);
    sdc_controlnet_destroy(cn);
    sdc_bundle_close(b);
    return st;
}

/* Runs `fn` once to count its allocations, then fails each (or a sample of ~60) in turn. */
static void inject(const char *what, sdc_status (*fn)(const char *), const char *arg,
                   const char *must_not_exist)
{
    size_t base = live_bytes();
    uint64_t before = allocs();
    CHECK_MSG(fn(arg) == SDC_STATUS_OK, "%s: %s", what, sdc_context_errmsg(ctx));
    uint64_t total = allocs() - before;
    CHECK(live_bytes() == base);
    uint64_t step = total > 60 ? total / 60 : 1;
    size_t bad = 0;
    for (uint64_t n = 1; n <= total; n += step) {
        sdc_clear_error(ctx);
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = fn(arg);
        sdc_alloc_fail_nth(ctx, 0);
        bool ok = st == SDC_STATUS_OUT_OF_MEMORY && sdc_context_errmsg(ctx)[0] != '\0' &&
                  live_bytes() == base;
        struct stat sb;
        ok = ok && (!must_not_exist || stat(must_not_exist, &sb) != 0);
        if (!ok && bad++ < 3)
            CHECK_MSG(false,
                      "%s failing allocation %llu of %llu: status %d, \"%s\", %zu bytes "
                      "still live",
                      what, (unsigned long long)n, (unsigned long long)total, (int)st,
                      sdc_context_errmsg(ctx), live_bytes() - base);
    }
    CHECK_MSG(bad == 0, "%s: %zu injected failures handled badly", what, bad);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %llu allocations, every %llu-th failed in turn\n", what,
                (unsigned long long)total, (unsigned long long)step);
}

static void test_convert_faults(void)
{
    char out[512], tmp[600];
    snprintf(out, sizeof out, "%s", test_tmp_path("faults.sdc"));
    /* the folder a conversion writes before renaming it into place (bundle.c) */
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    inject("convert", convert, out, tmp);
}

static void test_open_faults(void)
{
    const char *out = test_tmp_path("faults_open.sdc");
    CHECK(convert(out) == SDC_STATUS_OK);
    inject("open", open_and_load, out, NULL);
}

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_convert_faults);
    RUN(test_open_faults);
    sdc_context_destroy(ctx);
    return test_finish();
}
