/*
 * Tests src/image/resize.c: every "resize" line of tests/data/resize/pillow_resize.txt (Pillow
 * 10.4.0's Image.resize on the astronaut photos and synthetic gray and RGB patterns, five
 * filters, up and down, odd sizes, 1-pixel sides, one axis at a time) must come out
 * byte-identical; then the filter names, the input errors, and allocation failures.
 */
#include "image/image.h"
#include "image/resize_samples.h"

static sdc_context *ctx;

static sdc_context *make_ctx(int threads)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = threads;
    sdc_context *c = NULL;
    if (sdc_context_create(&p, &c) != SDC_STATUS_OK) {
        fprintf(stderr, "could not create a context\n");
        exit(2);
    }
    return c;
}

static void test_matches_pillow(void)
{
    FILE *f = fopen(RS_SAMPLES, "r");
    CHECK_MSG(f != NULL, "cannot open %s", RS_SAMPLES);
    if (!f)
        return;
    rs_sources sources = {.ctx = ctx};
    char line[512], name[64], filter_name[16];
    int n_cases = 0, n_exact = 0;
    while (rs_next_line(f, "resize", line, sizeof line)) {
        int w = 0, h = 0;
        unsigned long long want = 0;
        sdc_resize_filter filter;
        if (sscanf(line, "resize %63s %15s %d %d %llx", name, filter_name, &w, &h, &want) != 5 ||
            !sdc_resize_filter_from_name(filter_name, &filter)) {
            CHECK_MSG(false, "unreadable line \"%s\"", line);
            continue;
        }
        const sdc_image *src = rs_sources_get(&sources, name);
        if (!src)
            continue;
        sdc_image out;
        n_cases++;
        sdc_status st = sdc_resize_rgb8(ctx, src, w, h, filter, &out);
        CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", line, sdc_context_errmsg(ctx));
        if (st != SDC_STATUS_OK)
            continue;
        CHECK(out.width == w && out.height == h && out.channels == src->channels);
        uint64_t got = rs_fnv1a64(out.pixels, (size_t)w * (size_t)h * (size_t)out.channels);
        CHECK_MSG(got == want, "%s: got hash %016llx", line, (unsigned long long)got);
        n_exact += got == want;
        sdc_image_free(ctx, &out);
    }
    fclose(f);
    rs_sources_free(&sources);
    CHECK_MSG(n_cases >= 300, "only %d resize cases in %s", n_cases, RS_SAMPLES);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "  %d of %d resizes byte-identical with Pillow\n", n_exact, n_cases);
}

/* The horizontal and vertical passes split rows over threads: any thread count gives the
 * same bytes. */
static void test_threads_do_not_change_the_result(void)
{
    sdc_context *many = make_ctx(4);
    sdc_image src, a, b;
    if (!rs_source(ctx, "pattern:100x37x1", &src))
        return;
    for (int filter = 0; filter < SDC_RESIZE_FILTER_COUNT; filter++) {
        CHECK(sdc_resize_rgb8(ctx, &src, 301, 111, (sdc_resize_filter)filter, &a) == SDC_STATUS_OK);
        CHECK(sdc_resize_rgb8(many, &src, 301, 111, (sdc_resize_filter)filter, &b) ==
              SDC_STATUS_OK);
        CHECK(a.pixels && b.pixels && memcmp(a.pixels, b.pixels, 301 * 111) == 0);
        sdc_image_free(ctx, &a);
        sdc_image_free(many, &b);
    }
    sdc_image_free(ctx, &src);
    sdc_context_destroy(many);
}

static void test_filter_names(void)
{
    static const struct {
        const char *name;
        int pil;
        sdc_resize_filter filter;
    } table[] = {
        {"box", 4, SDC_RESIZE_FILTER_BOX},         {"bilinear", 2, SDC_RESIZE_FILTER_BILINEAR},
        {"hamming", 5, SDC_RESIZE_FILTER_HAMMING}, {"bicubic", 3, SDC_RESIZE_FILTER_BICUBIC},
        {"lanczos", 1, SDC_RESIZE_FILTER_LANCZOS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        sdc_resize_filter f = SDC_RESIZE_FILTER_COUNT;
        CHECK(sdc_resize_filter_from_name(table[i].name, &f) && f == table[i].filter);
        f = SDC_RESIZE_FILTER_COUNT;
        CHECK(sdc_resize_filter_from_pil(table[i].pil, &f) && f == table[i].filter);
        CHECK_EQ_STR(sdc_resize_filter_name(table[i].filter), table[i].name);
    }
    sdc_resize_filter f;
    CHECK(sdc_resize_filter_from_name("linear", &f) && f == SDC_RESIZE_FILTER_BILINEAR);
    CHECK(!sdc_resize_filter_from_name("nearest", &f));
    CHECK(!sdc_resize_filter_from_name("Bicubic", &f));
    CHECK(!sdc_resize_filter_from_pil(0, &f)); /* NEAREST */
    CHECK(!sdc_resize_filter_from_pil(6, &f));
    CHECK_EQ_STR(sdc_resize_filter_name(SDC_RESIZE_FILTER_COUNT), "unknown");
}

static void check_error(sdc_status got, sdc_status want, const char *needle, const sdc_image *out)
{
    CHECK_EQ_INT(got, want);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
    CHECK(out->pixels == NULL && out->width == 0);
    sdc_clear_error(ctx);
}

static void test_input_errors(void)
{
    uint8_t px[4 * 2 * 2] = {0};
    sdc_image out, rgba = {.width = 2, .height = 2, .channels = 4, .pixels = px};
    sdc_image rgb = {.width = 2, .height = 2, .channels = 3, .pixels = px};
    sdc_image two = {.width = 2, .height = 2, .channels = 5, .pixels = px};
    check_error(sdc_resize_rgb8(ctx, &rgba, 4, 4, SDC_RESIZE_FILTER_BICUBIC, &out),
                SDC_STATUS_UNSUPPORTED, "premultiplied", &out);
    check_error(sdc_resize_rgb8(ctx, &two, 4, 4, SDC_RESIZE_FILTER_BICUBIC, &out),
                SDC_STATUS_INVALID_ARGUMENT, "5 channels", &out);
    check_error(sdc_resize_rgb8(ctx, &rgb, 0, 4, SDC_RESIZE_FILTER_BICUBIC, &out),
                SDC_STATUS_INVALID_ARGUMENT, "2 x 2 -> 0 x 4", &out);
    check_error(
        sdc_resize_rgb8(ctx, &rgb, 4, SDC_RESIZE_MAX_SIDE + 1, SDC_RESIZE_FILTER_BICUBIC, &out),
        SDC_STATUS_INVALID_ARGUMENT, "[1, 65536]", &out);
    check_error(sdc_resize_rgb8(ctx, &rgb, 4, 4, SDC_RESIZE_FILTER_COUNT, &out),
                SDC_STATUS_INVALID_ARGUMENT, "unknown filter", &out);
    check_error(sdc_resize_rgb8(ctx, NULL, 4, 4, SDC_RESIZE_FILTER_BICUBIC, &out),
                SDC_STATUS_INVALID_ARGUMENT, "no source image", &out);
}

/* Every allocation failing in turn: OUT_OF_MEMORY, nothing returned, nothing leaked. */
static void test_allocation_failures(void)
{
    sdc_image src;
    if (!rs_source(ctx, "pattern:17x33x3", &src))
        return;
    static const int sizes[][2] = {{8, 16}, {8, 33}, {17, 16}, {17, 33}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        sdc_alloc_stats base, now;
        sdc_alloc_get_stats(ctx, &base);
        bool done = false;
        for (uint64_t n = 1; n < 100 && !done; n++) {
            sdc_image out;
            sdc_alloc_fail_nth(ctx, n);
            sdc_status st = sdc_resize_rgb8(ctx, &src, sizes[s][0], sizes[s][1],
                                            SDC_RESIZE_FILTER_LANCZOS, &out);
            sdc_alloc_fail_nth(ctx, 0);
            if (st == SDC_STATUS_OK) {
                sdc_image_free(ctx, &out);
                done = true;
            } else {
                CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
                CHECK(out.pixels == NULL);
                sdc_clear_error(ctx);
            }
            sdc_alloc_get_stats(ctx, &now);
            CHECK_EQ_INT(now.live_bytes, base.live_bytes);
        }
        CHECK(done);
    }
    sdc_image_free(ctx, &src);
}

int main(void)
{
    ctx = make_ctx(1);
    RUN(test_matches_pillow);
    RUN(test_threads_do_not_change_the_result);
    RUN(test_filter_names);
    RUN(test_input_errors);
    RUN(test_allocation_failures);
    sdc_context_destroy(ctx);
    return test_finish();
}
