/*
 * sdc_image_canny (src/image/canny.c): edges where the image has them and nowhere else, one
 * pixel wide, white on black RGB, deterministic, monotonic in the thresholds, gray and RGB
 * alike, and the parameter errors. Not compared with OpenCV bit for bit (canny.c blurs and
 * makes the image gray first); the assertions are about what an edge map must look like.
 */
#include "test.h"

#include <sdc.h>
#include <stdlib.h>
#include <string.h>

static sdc_context *ctx;

static bool edge(const sdc_image *e, int x, int y)
{
    return e->pixels[((size_t)y * (size_t)e->width + (size_t)x) * 3] == 255;
}

static size_t count_edges(const sdc_image *e)
{
    size_t n = 0;
    for (int y = 0; y < e->height; y++)
        for (int x = 0; x < e->width; x++)
            n += edge(e, x, y);
    return n;
}

/* Every pixel is 0 or 255 in all three channels. */
static bool binary_rgb(const sdc_image *e)
{
    size_t n = (size_t)e->width * (size_t)e->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = e->pixels + i * 3;
        if ((p[0] != 0 && p[0] != 255) || p[1] != p[0] || p[2] != p[0])
            return false;
    }
    return e->channels == 3;
}

/* A gray image, 0 outside and 200 inside the rectangle [x0, x1) x [y0, y1). */
static sdc_image rectangle(int w, int h, int x0, int y0, int x1, int y1, int channels)
{
    sdc_image im = {.width = w, .height = h, .channels = channels};
    im.pixels = calloc((size_t)w * (size_t)h * (size_t)channels, 1);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            memset(im.pixels + ((size_t)y * (size_t)w + (size_t)x) * (size_t)channels, 200,
                   (size_t)channels);
    return im;
}

static void test_rectangle(void)
{
    sdc_image im = rectangle(64, 48, 16, 12, 48, 36, 3), e;
    CHECK(sdc_image_canny(ctx, &im, NULL, &e) == SDC_STATUS_OK);
    CHECK_EQ_INT(e.width, 64);
    CHECK_EQ_INT(e.height, 48);
    CHECK(binary_rgb(&e));
    /* each side of the rectangle is found: along the middle of every side, within a pixel of
     * the boundary, and nothing far from it */
    int left = 0, right = 0, top = 0, bottom = 0;
    for (int d = -1; d <= 0; d++) {
        left += edge(&e, 16 + d, 24);
        right += edge(&e, 48 + d, 24);
        top += edge(&e, 32, 12 + d);
        bottom += edge(&e, 32, 36 + d);
    }
    CHECK_EQ_INT(left, 1);
    CHECK_EQ_INT(right, 1);
    CHECK_EQ_INT(top, 1);
    CHECK_EQ_INT(bottom, 1);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            bool near = (x >= 13 && x <= 50 && y >= 9 && y <= 38) &&
                        !(x >= 19 && x <= 44 && y >= 15 && y <= 32);
            if (!near && edge(&e, x, y)) {
                CHECK_MSG(false, "an edge at (%d, %d), far from the rectangle's sides", x, y);
                y = 48;
                break;
            }
        }
    /* thin: along the row through the middle, exactly one edge pixel per side */
    int in_row = 0;
    for (int x = 0; x < 64; x++)
        in_row += edge(&e, x, 24);
    CHECK_EQ_INT(in_row, 2);
    /* the gray version of the same image gives the same edges */
    sdc_image g1 = rectangle(64, 48, 16, 12, 48, 36, 1), e1;
    CHECK(sdc_image_canny(ctx, &g1, NULL, &e1) == SDC_STATUS_OK);
    CHECK(e1.pixels && memcmp(e.pixels, e1.pixels, 64 * 48 * 3) == 0);
    sdc_image_release(ctx, &e1);
    free(g1.pixels);
    /* without blur, too */
    sdc_canny_params p = sdc_canny_default_params();
    p.blur_sigma = 0.0f;
    CHECK(sdc_image_canny(ctx, &im, &p, &e1) == SDC_STATUS_OK);
    in_row = 0;
    for (int x = 0; x < 64; x++)
        in_row += edge(&e1, x, 24);
    CHECK_EQ_INT(in_row, 2);
    sdc_image_release(ctx, &e1);
    sdc_image_release(ctx, &e);
    free(im.pixels);
}

static void test_flat_and_tiny(void)
{
    sdc_image flat = rectangle(32, 32, 0, 0, 32, 32, 3), e;
    CHECK(sdc_image_canny(ctx, &flat, NULL, &e) == SDC_STATUS_OK);
    CHECK_EQ_INT(count_edges(&e), 0);
    sdc_image_release(ctx, &e);
    free(flat.pixels);
    uint8_t one[4] = {9, 9, 9, 255};
    sdc_image px = {.width = 1, .height = 1, .channels = 4, .pixels = one};
    CHECK(sdc_image_canny(ctx, &px, NULL, &e) == SDC_STATUS_OK);
    CHECK_EQ_INT(e.width, 1);
    CHECK_EQ_INT(count_edges(&e), 0);
    sdc_image_release(ctx, &e);
}

/* An 8-connected edge map has no 2x2 block of edges (it would be two pixels thick). */
static int thick_blocks(const sdc_image *e)
{
    int n = 0;
    for (int y = 0; y + 1 < e->height; y++)
        for (int x = 0; x + 1 < e->width; x++)
            n += edge(e, x, y) && edge(e, x + 1, y) && edge(e, x, y + 1) && edge(e, x + 1, y + 1);
    return n;
}

static void test_photo(void)
{
    sdc_image photo;
    CHECK(sdc_image_load(ctx, SDC_TEST_DATA_DIR "/images/astronaut.png", 3, &photo) ==
          SDC_STATUS_OK);
    if (!photo.pixels)
        return;
    sdc_image a, b, strict;
    CHECK(sdc_image_canny(ctx, &photo, NULL, &a) == SDC_STATUS_OK);
    CHECK(sdc_image_canny(ctx, &photo, NULL, &b) == SDC_STATUS_OK);
    /* deterministic */
    CHECK(a.pixels && b.pixels &&
          memcmp(a.pixels, b.pixels, (size_t)a.width * (size_t)a.height * 3) == 0);
    CHECK(binary_rgb(&a));
    size_t n = (size_t)a.width * (size_t)a.height, edges = count_edges(&a);
    /* a photo has edges, but they are lines, not areas */
    CHECK_MSG(edges > n / 100 && edges < n / 4, "%zu edge pixels of %zu", edges, n);
    CHECK_MSG(thick_blocks(&a) < (int)(edges / 50), "%d 2x2 blocks of edges", thick_blocks(&a));
    /* the frame is never an edge */
    for (int x = 0; x < a.width; x++)
        CHECK(!edge(&a, x, 0) && !edge(&a, x, a.height - 1));
    /* higher thresholds keep a subset of the edges */
    sdc_canny_params p = {.low_threshold = 150, .high_threshold = 300, .blur_sigma = 1.0f};
    CHECK(sdc_image_canny(ctx, &photo, &p, &strict) == SDC_STATUS_OK);
    size_t kept = count_edges(&strict), outside = 0;
    for (int y = 0; y < a.height; y++)
        for (int x = 0; x < a.width; x++)
            outside += edge(&strict, x, y) && !edge(&a, x, y);
    CHECK_MSG(kept < edges && outside == 0, "%zu of %zu kept, %zu outside", kept, edges, outside);
    sdc_image_release(ctx, &strict);
    sdc_image_release(ctx, &b);
    sdc_image_release(ctx, &a);
    sdc_image_release(ctx, &photo);
}

static void test_errors(void)
{
    uint8_t px[12] = {0};
    sdc_image im = {.width = 2, .height = 2, .channels = 3, .pixels = px}, e;
    sdc_canny_params p = sdc_canny_default_params();
    p.low_threshold = 300;
    CHECK_EQ_INT(sdc_image_canny(ctx, &im, &p, &e), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "thresholds 300 and 200");
    CHECK(e.pixels == NULL);
    p = sdc_canny_default_params();
    p.blur_sigma = -1.0f;
    CHECK_EQ_INT(sdc_image_canny(ctx, &im, &p, &e), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "blur sigma");
    im.channels = 2;
    CHECK_EQ_INT(sdc_image_canny(ctx, &im, NULL, &e), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_EQ_INT(sdc_image_canny(ctx, NULL, NULL, &e), SDC_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    sdc_context_params cp = sdc_context_default_params();
    cp.log_level = SDC_LOG_LEVEL_ERROR;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_rectangle);
    RUN(test_flat_and_tiny);
    RUN(test_photo);
    RUN(test_errors);
    sdc_context_destroy(ctx);
    return test_finish();
}
