/*
 * Tests src/io/png.c, jpeg.c and image.c: PNG write/read round trips with tEXt and iTXt
 * text, want_channels conversions, the real photos and the small format files against
 * Pillow's decode (tests/data/images/formats/make_formats.py), malformed and hostile inputs,
 * and fault injection (every failing allocation gives OUT_OF_MEMORY and leaks nothing).
 */
#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static sdc_context *make_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    sdc_context_create(&p, &ctx);
    return ctx;
}

static size_t live_bytes(const sdc_context *ctx)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.live_bytes;
}

static uint64_t failed_allocs(const sdc_context *ctx)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.n_failed;
}

static const char *image_path(const char *rel)
{
    return test_path(SDC_TEST_DATA_DIR "/images", rel);
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static size_t image_bytes(const sdc_image *im)
{
    return (size_t)im->width * (size_t)im->height * (size_t)im->channels;
}

/* Where `needle` occurs in `hay`, or NULL. */
static const char *find_bytes(const char *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* The PNG CRC (ISO 3309), for crafting chunks. */
static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Appends a chunk of `len` data bytes to buf at *pos (buf must have room). */
static void put_chunk(unsigned char *buf, size_t *pos, const char *type, const void *data,
                      size_t len)
{
    put_be32(buf + *pos, (uint32_t)len);
    memcpy(buf + *pos + 4, type, 4);
    if (len)
        memcpy(buf + *pos + 8, data, len);
    put_be32(buf + *pos + 8 + len, crc32_png(buf + *pos + 4, len + 4));
    *pos += 12 + len;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing and reading back                                                                   */

static const sdc_text_chunk round_trip_text[] = {
    {"parameters", "a 猫 on a mat\nSteps: 20, Sampler: Euler a, Seed: 42"},
    {"Title", "café"},
    {"Software", "sdc"},
};
#define N_ROUND_TRIP_TEXT (sizeof round_trip_text / sizeof round_trip_text[0])

static uint8_t *pattern(int width, int height, int channels)
{
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 37u + (i / 7u) * 11u);
    return p;
}

static void check_round_trip(sdc_context *ctx, int channels)
{
    char name[32];
    snprintf(name, sizeof name, "round_trip_%d.png", channels);
    const char *path = test_tmp_path(name);
    sdc_image im = {.width = 13, .height = 6, .channels = channels};
    im.pixels = pattern(im.width, im.height, channels);
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, round_trip_text, N_ROUND_TRIP_TEXT), SDC_STATUS_OK);

    sdc_image got;
    sdc_text_chunks text;
    CHECK_EQ_INT(sdc_image_read(ctx, path, 0, &got, &text), SDC_STATUS_OK);
    CHECK_EQ_INT(got.width, 13);
    CHECK_EQ_INT(got.height, 6);
    CHECK_EQ_INT(got.channels, channels);
    CHECK(got.pixels && memcmp(got.pixels, im.pixels, image_bytes(&im)) == 0);
    CHECK_EQ_INT(text.count, N_ROUND_TRIP_TEXT);
    for (size_t i = 0; i < text.count && i < N_ROUND_TRIP_TEXT; i++) {
        CHECK_EQ_STR(text.items[i].key, round_trip_text[i].key);
        CHECK_EQ_STR(text.items[i].value, round_trip_text[i].value);
    }
    sdc_image_free(ctx, &got);
    sdc_text_chunks_free(ctx, &text);
    CHECK(got.pixels == NULL && text.items == NULL && text.count == 0);

    /* The file itself: Latin-1 values as tEXt in Latin-1, others as uncompressed iTXt, no
     * tIME; and writing again gives the same bytes. */
    char *bytes = NULL, *again = NULL;
    size_t n = 0, n_again = 0;
    CHECK_EQ_INT(sdc_file_read_all(ctx, path, &bytes, &n), SDC_STATUS_OK);
    CHECK(find_bytes(bytes, n, "tEXtTitle\0caf\xe9", 14) != NULL);
    CHECK(find_bytes(bytes, n, "tEXtSoftware\0sdc", 16) != NULL);
    CHECK(find_bytes(bytes, n, "iTXtparameters\0\0\0\0\0a \xe7\x8c\xab on", 26) != NULL);
    CHECK(find_bytes(bytes, n, "tIME", 4) == NULL);
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, round_trip_text, N_ROUND_TRIP_TEXT), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_file_read_all(ctx, path, &again, &n_again), SDC_STATUS_OK);
    CHECK(n == n_again && again && memcmp(bytes, again, n) == 0);
    sdc_free(ctx, bytes);
    sdc_free(ctx, again);
    free(im.pixels);
    unlink(path);
}

static void test_round_trip(void)
{
    sdc_context *ctx = make_ctx();
    check_round_trip(ctx, 1);
    check_round_trip(ctx, 3);
    check_round_trip(ctx, 4);

    /* No text at all, and text not asked for. */
    const char *path = test_tmp_path("no_text.png");
    uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    sdc_image im = {.width = 2, .height = 1, .channels = 3, .pixels = px};
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, NULL, 0), SDC_STATUS_OK);
    sdc_image got;
    sdc_text_chunks text;
    CHECK_EQ_INT(sdc_image_read(ctx, path, 0, &got, &text), SDC_STATUS_OK);
    CHECK_EQ_INT(text.count, 0);
    CHECK(got.pixels && memcmp(got.pixels, px, 6) == 0);
    sdc_image_free(ctx, &got);
    sdc_text_chunks_free(ctx, &text);
    unlink(path);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* want_channels: gray <-> RGB(A), alpha dropped or set to 255, luma with Pillow's weights. */
static void test_want_channels(void)
{
    sdc_context *ctx = make_ctx();
    const char *path = test_tmp_path("want.png");
    /* RGBA pixels: red half-transparent, and a colour whose luma rounds. */
    uint8_t px[8] = {255, 0, 0, 128, 10, 200, 30, 255};
    sdc_image im = {.width = 2, .height = 1, .channels = 4, .pixels = px};
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, NULL, 0), SDC_STATUS_OK);

    static const struct {
        int want, channels;
        uint8_t expect[8];
    } cases[] = {
        {0, 4, {255, 0, 0, 128, 10, 200, 30, 255}},
        {4, 4, {255, 0, 0, 128, 10, 200, 30, 255}},
        {3, 3, {255, 0, 0, 10, 200, 30}},
        /* (19595 R + 38470 G + 7471 B + 32768) >> 16: Pillow 10.4 convert("L") gives 76, 124. */
        {1, 1, {76, 124}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sdc_image got;
        CHECK_EQ_INT(sdc_image_read(ctx, path, cases[i].want, &got, NULL), SDC_STATUS_OK);
        CHECK_EQ_INT(got.channels, cases[i].channels);
        CHECK(got.pixels && memcmp(got.pixels, cases[i].expect, image_bytes(&got)) == 0);
        sdc_image_free(ctx, &got);
    }

    /* Gray to RGB and RGBA replicates the value; alpha is opaque. */
    uint8_t g[2] = {7, 250};
    sdc_image gray = {.width = 2, .height = 1, .channels = 1, .pixels = g};
    CHECK_EQ_INT(sdc_png_write(ctx, path, &gray, NULL, 0), SDC_STATUS_OK);
    sdc_image got;
    CHECK_EQ_INT(sdc_image_read(ctx, path, 4, &got, NULL), SDC_STATUS_OK);
    static const uint8_t g4[8] = {7, 7, 7, 255, 250, 250, 250, 255};
    CHECK(got.channels == 4 && memcmp(got.pixels, g4, 8) == 0);
    sdc_image_free(ctx, &got);
    CHECK_EQ_INT(sdc_image_read(ctx, path, 3, &got, NULL), SDC_STATUS_OK);
    CHECK(got.channels == 3 && memcmp(got.pixels, g4, 3) == 0 && got.pixels[3] == 250);
    sdc_image_free(ctx, &got);

    /* Invalid values. */
    CHECK_EQ_INT(sdc_image_read(ctx, path, 2, &got, NULL), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "want_channels");
    CHECK_EQ_INT(sdc_png_parse(ctx, px, 8, "x.png", 5, &got, NULL), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_EQ_INT(sdc_jpeg_parse(ctx, px, 8, "x.jpg", -1, &got), SDC_STATUS_INVALID_ARGUMENT);
    unlink(path);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

static void test_write_errors(void)
{
    sdc_context *ctx = make_ctx();
    const char *path = test_tmp_path("bad_write.png");
    uint8_t px[4] = {0};
    sdc_image im = {.width = 1, .height = 1, .channels = 3, .pixels = px};
    static const struct {
        const char *key, *value, *message;
    } bad[] = {
        {"", "v", "1 to 79"},
        {"a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789", "v",
         "1 to 79"},
        {" lead", "v", "leading"},
        {"trail ", "v", "trailing"},
        {"two  spaces", "v", "consecutive"},
        {"tab\there", "v", "printable"},
        {"nbsp\xa0", "v", "printable"},
        {"ok", "bad \xff utf-8", "not valid UTF-8"},
        {"ok", "overlong \xc0\xaf", "not valid UTF-8"},
        {"ok", "cut \xe7\x8c", "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sdc_text_chunk t[2] = {{"fine", "first"}, {(char *)bad[i].key, (char *)bad[i].value}};
        CHECK_EQ_INT(sdc_png_write(ctx, path, &im, t, 2), SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), bad[i].message);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), path);
        CHECK(!file_exists(path));
    }
    /* Latin-1 keys beyond ASCII are valid. */
    sdc_text_chunk ok = {"Kl\xe9", "v"};
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, &ok, 1), SDC_STATUS_OK);
    unlink(path);

    sdc_image bad_images[] = {
        {.width = 1, .height = 1, .channels = 2, .pixels = px},
        {.width = 0, .height = 1, .channels = 3, .pixels = px},
        {.width = 1, .height = SDC_IMAGE_MAX_SIDE + 1, .channels = 1, .pixels = px},
        {.width = 1, .height = 1, .channels = 3, .pixels = NULL},
    };
    for (size_t i = 0; i < sizeof bad_images / sizeof bad_images[0]; i++) {
        CHECK_EQ_INT(sdc_png_write(ctx, path, &bad_images[i], NULL, 0),
                     SDC_STATUS_INVALID_ARGUMENT);
        CHECK(!file_exists(path));
    }
    CHECK_EQ_INT(sdc_png_write(ctx, path, &im, NULL, 1), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_EQ_INT(sdc_png_write(ctx, "/nonexistent-dir/x.png", &im, NULL, 0), SDC_STATUS_IO);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Real photographs, checked against Pillow 10.4.0 (numpy 1.26.4):                           */
/*   a = np.asarray(Image.open(p).convert(mode)); values below are a[y, x] etc.              */

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void test_astronaut_png(void)
{
    sdc_context *ctx = make_ctx();
    sdc_image im;
    sdc_text_chunks text;
    CHECK_EQ_INT(sdc_image_read(ctx, image_path("astronaut.png"), 0, &im, &text), SDC_STATUS_OK);
    CHECK_EQ_INT(im.width, 512);
    CHECK_EQ_INT(im.height, 512);
    CHECK_EQ_INT(im.channels, 3);
    static const struct {
        int y, x;
        uint8_t rgb[3];
    } px[] = {{0, 0, {154, 147, 151}},
              {100, 200, {81, 57, 17}},
              {511, 511, {0, 0, 0}},
              {256, 300, {53, 21, 7}}};
    for (size_t i = 0; im.pixels && i < sizeof px / sizeof px[0]; i++) {
        const uint8_t *p = im.pixels + ((size_t)px[i].y * 512 + (size_t)px[i].x) * 3;
        CHECK_MSG(memcmp(p, px[i].rgb, 3) == 0, "astronaut (%d, %d)", px[i].y, px[i].x);
    }
    /* FNV-1a 32 of all bytes of Pillow's decode: exact equality with Pillow. */
    CHECK_EQ_INT(fnv1a(im.pixels, image_bytes(&im)), 0x3b2d33bbu);
    /* The file carries one tEXt chunk. */
    CHECK_EQ_INT(text.count, 1);
    if (text.count == 1) {
        CHECK_EQ_STR(text.items[0].key, "Comment");
        CHECK_EQ_STR(text.items[0].value, "File written by Adobe Photoshop? 5.0");
    }
    sdc_image_free(ctx, &im);
    sdc_text_chunks_free(ctx, &text);

    /* Gray: the same as Pillow's convert("L") on every pixel. */
    CHECK_EQ_INT(sdc_image_read(ctx, image_path("astronaut.png"), 1, &im, NULL), SDC_STATUS_OK);
    CHECK_EQ_INT(im.channels, 1);
    CHECK_EQ_INT(fnv1a(im.pixels, image_bytes(&im)), 0x49ed77a6u);
    sdc_image_free(ctx, &im);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* rocket.jpg against Pillow 10.4.0 (its libjpeg-turbo 3.0.3), which decodes with the same
 * ISLOW IDCT and fancy upsampling: the measured max abs difference over the whole image is 0
 * with Debian's libjpeg-turbo 2.1.5; JPEG_TOLERANCE leaves 1 for other builds.
 * Every 32nd pixel: np.asarray(Image.open("rocket.jpg").convert("RGB"))[::32, ::32]. */
#define JPEG_TOLERANCE 1
static const uint8_t rocket_grid[14 * 20 * 3] = {
    17,  33,  58,  19,  35,  61,  0,   0,   2,   19,  35,  61,  19,  35,  61,  21,  37,  63,  22,
    38,  64,  22,  38,  64,  23,  37,  64,  24,  35,  63,  21,  37,  63,  19,  33,  60,  18,  32,
    58,  18,  30,  56,  17,  29,  51,  18,  29,  51,  16,  27,  47,  12,  25,  44,  22,  16,  2,
    9,   20,  38,  22,  37,  68,  23,  38,  67,  33,  30,  25,  24,  39,  70,  26,  41,  72,  25,
    40,  71,  28,  43,  74,  30,  45,  74,  30,  43,  77,  28,  43,  74,  26,  41,  72,  25,  41,
    67,  25,  39,  66,  23,  37,  64,  23,  35,  61,  20,  32,  58,  19,  30,  52,  15,  28,  47,
    18,  30,  56,  13,  24,  42,  28,  43,  72,  28,  43,  74,  36,  49,  83,  33,  48,  79,  32,
    48,  81,  35,  51,  84,  35,  50,  83,  36,  51,  84,  34,  49,  82,  34,  49,  80,  32,  47,
    78,  30,  45,  76,  30,  45,  76,  28,  43,  72,  27,  41,  67,  25,  39,  66,  20,  34,  60,
    19,  31,  55,  54,  43,  47,  0,   9,   19,  32,  47,  78,  33,  50,  80,  37,  53,  86,  39,
    53,  88,  40,  54,  89,  40,  56,  90,  42,  57,  90,  42,  57,  90,  41,  56,  89,  36,  52,
    85,  37,  52,  85,  35,  50,  83,  34,  48,  77,  31,  46,  77,  31,  46,  77,  27,  42,  73,
    24,  40,  66,  20,  36,  62,  14,  35,  56,  18,  20,  32,  38,  54,  87,  39,  61,  85,  43,
    59,  92,  42,  60,  96,  44,  63,  96,  44,  64,  101, 46,  62,  98,  45,  61,  97,  44,  63,
    96,  43,  59,  93,  54,  59,  79,  39,  55,  88,  38,  53,  86,  36,  51,  84,  68,  58,  59,
    30,  45,  76,  29,  44,  75,  25,  40,  69,  27,  28,  23,  39,  32,  40,  42,  61,  94,  56,
    52,  53,  35,  40,  44,  47,  69,  108, 45,  69,  107, 46,  68,  105, 45,  67,  104, 46,  64,
    102, 49,  63,  100, 48,  64,  98,  58,  56,  61,  43,  59,  93,  41,  57,  90,  38,  54,  87,
    101, 92,  87,  33,  50,  80,  30,  45,  76,  28,  43,  72,  29,  40,  62,  36,  42,  28,  49,
    69,  104, 63,  80,  132, 39,  20,  6,   54,  76,  115, 53,  77,  115, 52,  73,  116, 34,  45,
    75,  49,  72,  106, 50,  68,  106, 50,  65,  104, 131, 121, 109, 47,  63,  97,  43,  59,  92,
    40,  56,  89,  42,  35,  25,  36,  53,  83,  35,  50,  81,  30,  45,  78,  24,  38,  64,  26,
    37,  65,  51,  74,  108, 43,  54,  84,  48,  39,  40,  58,  81,  122, 59,  82,  123, 57,  80,
    121, 60,  37,  29,  58,  77,  117, 56,  76,  113, 54,  74,  109, 150, 139, 119, 53,  69,  103,
    49,  65,  98,  45,  61,  94,  55,  42,  26,  40,  55,  86,  37,  52,  83,  32,  47,  76,  47,
    37,  28,  46,  46,  44,  57,  80,  114, 63,  86,  120, 62,  90,  127, 66,  89,  130, 67,  90,
    131, 64,  90,  127, 64,  90,  139, 65,  85,  122, 62,  82,  117, 65,  81,  115, 181, 165, 140,
    59,  74,  107, 56,  71,  102, 54,  69,  100, 51,  62,  94,  44,  58,  87,  41,  55,  84,  37,
    51,  78,  40,  46,  70,  32,  49,  69,  66,  87,  118, 68,  91,  123, 86,  93,  121, 78,  98,
    135, 78,  98,  133, 80,  96,  132, 79,  92,  136, 75,  91,  124, 75,  90,  123, 71,  86,  117,
    199, 184, 151, 66,  80,  109, 61,  75,  104, 57,  71,  98,  56,  65,  98,  50,  64,  91,  47,
    59,  85,  40,  52,  78,  85,  68,  42,  31,  45,  58,  77,  91,  118, 68,  73,  102, 86,  102,
    127, 89,  104, 133, 89,  105, 131, 89,  104, 135, 93,  106, 123, 83,  98,  127, 81,  95,  122,
    77,  91,  118, 217, 203, 164, 73,  83,  108, 70,  77,  103, 61,  73,  99,  67,  69,  82,  53,
    64,  84,  47,  58,  80,  41,  52,  72,  59,  55,  72,  30,  35,  65,  40,  24,  11,  88,  101,
    118, 98,  101, 116, 109, 111, 123, 98,  105, 124, 103, 109, 125, 98,  104, 120, 91,  98,  117,
    86,  94,  115, 80,  90,  102, 231, 209, 172, 73,  77,  106, 73,  78,  97,  70,  75,  94,  63,
    65,  86,  53,  60,  79,  47,  54,  73,  38,  45,  64,  72,  58,  29,  44,  39,  62,  27,  10,
    3,   35,  38,  53,  49,  40,  61,  57,  61,  72,  60,  59,  65,  88,  74,  71,  99,  81,  69,
    54,  50,  65,  50,  53,  70,  147, 105, 67,  234, 200, 162, 175, 124, 69,  133, 100, 83,  59,
    49,  58,  84,  65,  67,  40,  43,  62,  35,  38,  53,  31,  34,  49,  49,  44,  40,  22,  13,
    4,   30,  32,  44,  27,  26,  34,  31,  39,  52,  76,  80,  79,  58,  62,  65,  62,  52,  60,
    133, 102, 58,  65,  59,  63,  57,  49,  60,  179, 125, 51,  183, 135, 71,  183, 132, 77,  70,
    58,  60,  68,  59,  62,  222, 221, 191, 47,  47,  59,  35,  37,  49,  30,  32,  44,  33,  31,
    42,  29,  30,  22,
};

static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void test_rocket_jpeg(void)
{
    sdc_context *ctx = make_ctx();
    sdc_image im;
    sdc_text_chunks text = {(sdc_text_chunk *)1, 99};
    CHECK_EQ_INT(sdc_image_read(ctx, image_path("rocket.jpg"), 0, &im, &text), SDC_STATUS_OK);
    CHECK_EQ_INT(im.width, 640);
    CHECK_EQ_INT(im.height, 427);
    CHECK_EQ_INT(im.channels, 3);
    CHECK(text.items == NULL && text.count == 0); /* no text for JPEG */
    int worst = 0;
    for (int gy = 0; im.pixels && gy < 14; gy++)
        for (int gx = 0; gx < 20; gx++) {
            const uint8_t *p = im.pixels + ((size_t)gy * 32 * 640 + (size_t)gx * 32) * 3;
            int d = max_abs_diff(p, rocket_grid + (gy * 20 + gx) * 3, 3);
            worst = d > worst ? d : worst;
        }
    CHECK_MSG(worst <= JPEG_TOLERANCE, "rocket.jpg differs from Pillow by %d", worst);
    /* Per-channel sums of Pillow's decode: a.reshape(-1, 3).sum(0). */
    static const uint64_t sums[3] = {14283182, 16750506, 22483056};
    uint64_t s[3] = {0, 0, 0};
    for (size_t i = 0; im.pixels && i < (size_t)640 * 427; i++)
        for (int c = 0; c < 3; c++)
            s[c] += im.pixels[i * 3 + (size_t)c];
    for (int c = 0; c < 3; c++)
        CHECK_MSG(llabs((long long)s[c] - (long long)sums[c]) <= 640 * 427 / 100,
                  "rocket.jpg channel %d sum %llu vs %llu", c, (unsigned long long)s[c],
                  (unsigned long long)sums[c]);
    sdc_image_free(ctx, &im);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Small files of every PNG layout and three JPEG kinds. Made and decoded with Pillow by      */
/* tests/data/images/formats/make_formats.py (run with --expect for these arrays).            */

static const uint8_t palette_trns_rgba[] = {
    10,  20,  30,  0,   10,  20,  30, 0,   0,   0,   200, 255, 0,   200, 0,   128, 200, 0,
    0,   64,  200, 0,   0,   64,  0,  0,   200, 255, 200, 0,   0,   64,  90,  91,  92,  200,
    10,  20,  30,  0,   90,  91,  92, 200, 0,   0,   200, 255, 200, 0,   0,   64,  0,   0,
    200, 255, 90,  91,  92,  200, 90, 91,  92,  200, 10,  20,  30,  0,   0,   200, 0,   128,
    10,  20,  30,  0,   200, 0,   0,  64,  0,   0,   200, 255, 0,   200, 0,   128, 200, 0,
    0,   64,  0,   0,   200, 255, 10, 20,  30,  0,   90,  91,  92,  200, 90,  91,  92,  200,
    90,  91,  92,  200, 90,  91,  92, 200, 10,  20,  30,  0,   255, 255, 255, 255, 255, 255,
    255, 255, 200, 0,   0,   64,  0,  200, 0,   128, 0,   200, 0,   128};
static const uint8_t palette4_rgb[] = {
    32,  128, 236, 148, 165, 60,  91,  164, 69,  200, 82,  73,  148, 165, 60,  32,  128, 236,
    32,  128, 236, 75,  229, 67,  91,  164, 69,  100, 152, 143, 32,  128, 236, 50,  193, 130,
    238, 173, 215, 88,  82,  226, 88,  82,  226, 32,  128, 236, 107, 202, 216, 88,  82,  226,
    238, 173, 215, 32,  128, 236, 148, 165, 60,  91,  164, 69,  32,  128, 236, 50,  193, 130,
    50,  193, 130, 88,  82,  226, 50,  193, 130, 100, 152, 143, 107, 202, 216, 148, 165, 60,
    91,  164, 69,  91,  164, 69,  238, 173, 215, 91,  164, 69,  148, 165, 60};
static const uint8_t gray16_gray[] = {191, 118, 227, 71, 242, 225, 215, 177, 144, 116, 119, 13,
                                      100, 208, 228, 82, 79,  186, 198, 75,  210, 255, 135, 236,
                                      172, 114, 118, 37, 154, 63,  198, 56,  47,  217, 253};
static const uint8_t rgba16_rgba[] = {
    148, 237, 72,  253, 217, 55,  71,  139, 239, 220, 65,  15,  167, 104, 136, 128, 219, 147,
    165, 125, 65,  83,  125, 18,  111, 45,  71,  110, 231, 195, 56,  135, 73,  120, 84,  93,
    227, 174, 166, 80,  61,  96,  215, 199, 189, 105, 88,  162, 237, 124, 72,  176, 13,  204,
    75,  224, 73,  66,  220, 172, 206, 245, 183, 124, 169, 63,  249, 95,  49,  240, 40,  78,
    252, 40,  118, 8,   187, 159, 67,  11,  15,  6,   103, 179, 54,  209, 241, 169, 53,  33,
    64,  84,  90,  133, 153, 119, 87,  143, 71,  242, 107, 46,  226, 241, 27,  179, 64,  41,
    2,   129, 169, 193, 59,  230, 156, 23,  187, 122, 237, 199, 97,  17,  165, 128, 253, 138,
    50,  97,  212, 74,  123, 185, 178, 185, 117, 142, 56,  156, 59,  204};
static const uint8_t gray_alpha_rgba[] = {
    117, 117, 117, 118, 210, 210, 210, 195, 146, 146, 146, 192, 0,   0,   0,   212, 245, 245,
    245, 50,  124, 124, 124, 56,  10,  10,  10,  99,  134, 134, 134, 74,  126, 126, 126, 157,
    33,  33,  33,  153, 13,  13,  13,  184, 82,  82,  82,  183, 247, 247, 247, 2,   166, 166,
    166, 245, 4,   4,   4,   177, 212, 212, 212, 55,  230, 230, 230, 131, 84,  84,  84,  25,
    140, 140, 140, 188, 160, 160, 160, 128, 57,  57,  57,  219, 220, 220, 220, 255, 142, 142,
    142, 241, 151, 151, 151, 82,  74,  74,  74,  130, 34,  34,  34,  177, 18,  18,  18,  25,
    110, 110, 110, 112, 225, 225, 225, 45,  228, 228, 228, 168, 43,  43,  43,  14,  124, 124,
    124, 198, 127, 127, 127, 162, 247, 247, 247, 32,  214, 214, 214, 25};
static const uint8_t gray_trns_rgba[] = {
    76, 76, 76, 255, 83, 83, 83, 255, 71, 71, 71, 255, 76, 76, 76, 255, 80, 80, 80, 255,
    71, 71, 71, 255, 78, 78, 78, 255, 84, 84, 84, 255, 77, 77, 77, 0,   80, 80, 80, 255,
    84, 84, 84, 255, 77, 77, 77, 0,   72, 72, 72, 255, 80, 80, 80, 255, 73, 73, 73, 255,
    72, 72, 72, 255, 77, 77, 77, 0,   83, 83, 83, 255, 73, 73, 73, 255, 80, 80, 80, 255,
    74, 74, 74, 255, 71, 71, 71, 255, 83, 83, 83, 255, 75, 75, 75, 255, 70, 70, 70, 255,
    83, 83, 83, 255, 84, 84, 84, 255, 84, 84, 84, 255, 83, 83, 83, 255, 82, 82, 82, 255,
    83, 83, 83, 255, 71, 71, 71, 255, 79, 79, 79, 255, 75, 75, 75, 255, 77, 77, 77, 0};
static const uint8_t rgb_trns_rgba[] = {
    100, 0,   200, 0,   0,   100, 100, 255, 100, 0,   200, 0,   0,   100, 100, 255, 0,   100,
    200, 255, 200, 200, 0,   255, 0,   100, 0,   255, 200, 0,   200, 255, 100, 0,   100, 255,
    100, 200, 100, 255, 200, 0,   100, 255, 200, 100, 0,   255, 200, 0,   100, 255, 100, 100,
    100, 255, 0,   0,   200, 255, 200, 0,   0,   255, 0,   100, 200, 255, 100, 0,   200, 0,
    0,   200, 0,   255, 100, 200, 100, 255, 100, 200, 200, 255, 100, 200, 200, 255, 200, 0,
    0,   255, 0,   100, 0,   255, 0,   0,   200, 255, 0,   200, 0,   255, 200, 0,   200, 255,
    100, 200, 200, 255, 0,   100, 100, 255, 100, 100, 100, 255, 0,   100, 200, 255, 0,   0,
    100, 255, 0,   100, 0,   255, 100, 100, 200, 255, 100, 200, 200, 255};
static const uint8_t gray1_gray[] = {255, 0, 0,   0,   255, 0,   0,   255, 0,   0,   0,  0,
                                     255, 0, 0,   0,   255, 255, 255, 0,   255, 255, 0,  255,
                                     255, 0, 255, 255, 0,   0,   255, 255, 0,   0,   255};
static const uint8_t gray2_gray[] = {85, 255, 255, 85,  170, 170, 85,  85, 0,   0,   170, 85,
                                     85, 85,  170, 0,   170, 85,  0,   85, 0,   170, 170, 0,
                                     85, 255, 0,   170, 170, 170, 255, 85, 170, 85,  255};
static const uint8_t rgb_interlaced_rgb[] = {
    106, 40,  163, 113, 101, 255, 154, 102, 127, 245, 115, 223, 128, 89,  135, 154, 236, 44,
    91,  83,  45,  32,  116, 173, 109, 88,  75,  95,  48,  94,  88,  35,  148, 198, 201, 12,
    227, 45,  129, 175, 90,  206, 210, 24,  40,  94,  17,  196, 123, 36,  75,  77,  201, 229,
    99,  218, 187, 165, 37,  32,  86,  245, 95,  71,  164, 150, 93,  29,  72,  237, 228, 96,
    193, 60,  203, 20,  203, 0,   4,   54,  208, 203, 5,   86,  64,  63,  101, 242, 5,   132,
    67,  211, 29,  246, 21,  79,  142, 236, 176, 14,  122, 153, 32,  211, 128};
static const uint8_t gray_jpg[] = {1,   30,  61,  90,  121, 150, 181, 210, 3,   32,  64,  92,  123,
                                   152, 183, 213, 7,   36,  67,  96,  127, 156, 187, 216, 10,  39,
                                   70,  99,  130, 159, 190, 219, 12,  41,  73,  101, 132, 161, 192,
                                   222, 15,  44,  76,  104, 135, 164, 195, 224, 19,  48,  79,  108,
                                   139, 168, 199, 228, 21,  50,  82,  110, 141, 170, 201, 230};
static const uint8_t cmyk_jpg_rgb[] = {
    215, 215, 215, 189, 215, 202, 161, 215, 188, 135, 215, 175, 106, 215, 161, 80,  215, 148,
    52,  215, 134, 26,  215, 121, 215, 188, 202, 189, 188, 189, 161, 188, 175, 135, 188, 161,
    106, 188, 148, 80,  188, 134, 52,  188, 121, 26,  188, 107, 215, 161, 188, 189, 161, 175,
    161, 161, 161, 135, 161, 148, 106, 161, 134, 80,  161, 121, 52,  161, 106, 26,  161, 94,
    215, 135, 175, 189, 135, 162, 161, 135, 148, 135, 135, 135, 106, 135, 121, 80,  135, 108,
    52,  135, 94,  26,  135, 81,  215, 106, 160, 189, 106, 148, 161, 106, 133, 135, 106, 121,
    106, 106, 106, 80,  106, 94,  52,  106, 79,  26,  106, 67,  215, 80,  148, 189, 80,  135,
    161, 80,  121, 135, 80,  107, 106, 80,  94,  80,  80,  80,  52,  80,  67,  26,  80,  53,
    215, 53,  134, 189, 53,  121, 161, 53,  107, 135, 53,  94,  106, 53,  80,  80,  53,  67,
    52,  53,  52,  26,  53,  40,  215, 26,  121, 189, 26,  107, 161, 26,  94,  135, 26,  80,
    106, 26,  67,  80,  26,  53,  52,  26,  39,  26,  26,  26};
static const uint8_t progressive_jpg[] = {
    3,   0,   239, 11,  3,   238, 27,  4,   234, 42,  4,   225, 58,  4,   214, 75,  4,   204, 94,
    4,   198, 108, 4,   189, 122, 3,   183, 137, 3,   175, 156, 3,   169, 172, 3,   158, 188, 2,
    148, 203, 2,   140, 219, 4,   134, 227, 7,   133, 8,   12,  241, 17,  15,  239, 32,  16,  236,
    47,  17,  227, 64,  16,  216, 81,  16,  206, 97,  16,  197, 113, 16,  191, 127, 15,  185, 144,
    15,  177, 161, 16,  169, 177, 15,  160, 194, 14,  150, 209, 14,  142, 224, 16,  136, 232, 19,
    135, 10,  28,  236, 17,  30,  233, 32,  32,  228, 47,  32,  219, 64,  31,  208, 80,  31,  200,
    98,  32,  192, 115, 32,  186, 128, 30,  177, 143, 30,  170, 161, 31,  163, 177, 31,  155, 194,
    30,  143, 210, 31,  135, 223, 32,  128, 233, 34,  127, 9,   43,  226, 16,  45,  224, 31,  47,
    218, 46,  48,  210, 63,  46,  200, 80,  47,  190, 98,  47,  184, 112, 47,  175, 126, 46,  167,
    143, 46,  161, 160, 47,  155, 177, 47,  145, 194, 46,  134, 208, 45,  124, 223, 47,  120, 231,
    50,  117, 8,   61,  215, 17,  64,  214, 30,  67,  208, 45,  68,  200, 62,  66,  191, 79,  66,
    180, 95,  66,  172, 112, 66,  165, 126, 65,  158, 143, 65,  151, 160, 66,  144, 176, 65,  134,
    193, 63,  123, 208, 64,  115, 222, 67,  111, 231, 69,  108, 7,   78,  206, 15,  81,  204, 30,
    83,  199, 45,  83,  190, 60,  83,  179, 77,  81,  170, 95,  82,  162, 110, 82,  156, 126, 81,
    148, 141, 81,  141, 159, 81,  133, 176, 81,  125, 191, 80,  113, 207, 81,  105, 221, 83,  99,
    230, 85,  98,  7,   94,  199, 14,  96,  196, 29,  98,  191, 44,  99,  182, 61,  97,  171, 78,
    98,  161, 96,  98,  155, 110, 98,  148, 125, 96,  140, 141, 97,  132, 160, 97,  126, 176, 97,
    118, 192, 96,  107, 206, 96,  97,  221, 98,  91,  229, 101, 90,  9,   110, 192, 16,  112, 189,
    30,  114, 184, 46,  114, 175, 63,  113, 164, 80,  113, 156, 96,  114, 150, 112, 113, 141, 126,
    113, 133, 143, 112, 127, 160, 113, 121, 177, 113, 111, 194, 112, 100, 208, 112, 90,  222, 114,
    85,  231, 117, 83,  10,  124, 187, 16,  125, 184, 31,  127, 178, 46,  127, 170, 64,  127, 160,
    81,  127, 150, 98,  127, 143, 112, 126, 135, 128, 128, 130, 144, 127, 120, 160, 126, 114, 177,
    126, 105, 195, 126, 95,  210, 127, 87,  224, 128, 80,  231, 130, 78,  11,  140, 180, 17,  141,
    177, 33,  142, 171, 48,  143, 163, 65,  143, 153, 82,  143, 144, 100, 142, 138, 114, 142, 128,
    130, 143, 123, 144, 143, 115, 162, 142, 109, 179, 142, 98,  195, 142, 88,  211, 143, 80,  226,
    143, 73,  233, 145, 71,  10,  155, 172, 17,  157, 170, 33,  158, 164, 48,  158, 155, 65,  159,
    145, 81,  159, 137, 100, 159, 129, 113, 157, 121, 131, 160, 116, 144, 158, 107, 162, 157, 99,
    178, 157, 90,  195, 158, 80,  210, 158, 72,  225, 159, 65,  233, 161, 63,  10,  171, 163, 17,
    173, 159, 31,  174, 154, 46,  175, 145, 64,  174, 135, 81,  174, 127, 97,  174, 118, 112, 174,
    111, 129, 176, 106, 143, 174, 98,  160, 174, 89,  177, 174, 79,  195, 173, 71,  210, 174, 62,
    224, 175, 56,  231, 177, 53,  10,  190, 153, 16,  191, 148, 30,  194, 144, 45,  194, 136, 63,
    194, 126, 79,  194, 116, 96,  194, 109, 112, 193, 101, 128, 194, 96,  142, 194, 86,  159, 193,
    80,  177, 193, 69,  195, 192, 61,  210, 193, 53,  222, 195, 46,  231, 196, 44,  7,   205, 143,
    14,  207, 140, 28,  208, 134, 44,  210, 126, 62,  210, 116, 79,  210, 108, 96,  210, 99,  110,
    209, 92,  126, 210, 86,  142, 209, 78,  158, 209, 70,  175, 209, 62,  193, 209, 51,  208, 209,
    43,  222, 210, 36,  229, 212, 34,  9,   221, 136, 16,  223, 133, 30,  224, 127, 44,  225, 118,
    62,  225, 110, 79,  225, 101, 95,  225, 93,  111, 224, 84,  128, 226, 81,  143, 223, 72,  159,
    223, 64,  176, 224, 54,  194, 223, 43,  209, 224, 35,  223, 225, 30,  230, 227, 28,  14,  234,
    138, 21,  236, 135, 35,  237, 129, 50,  237, 120, 67,  237, 112, 83,  238, 102, 101, 237, 95,
    116, 236, 86,  134, 238, 83,  148, 236, 72,  166, 235, 66,  182, 235, 55,  199, 236, 45,  214,
    236, 37,  228, 237, 32,  235, 239, 30};

static void check_format(sdc_context *ctx, const char *file, int want, int width, int height,
                         int channels, const uint8_t *expect, int tolerance)
{
    char rel[64];
    snprintf(rel, sizeof rel, "formats/%s", file);
    sdc_image im;
    sdc_status st = sdc_image_read(ctx, image_path(rel), want, &im, NULL);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", file, sdc_context_errmsg(ctx));
    if (st != SDC_STATUS_OK)
        return;
    CHECK_MSG(im.width == width && im.height == height && im.channels == channels,
              "%s: %d x %d x %d, expected %d x %d x %d", file, im.width, im.height, im.channels,
              width, height, channels);
    if (im.width == width && im.height == height && im.channels == channels) {
        int d = max_abs_diff(im.pixels, expect, image_bytes(&im));
        CHECK_MSG(d <= tolerance, "%s: max abs difference %d from Pillow", file, d);
    }
    sdc_image_free(ctx, &im);
}

static void test_png_formats(void)
{
    sdc_context *ctx = make_ctx();
    check_format(ctx, "palette_trns.png", 0, 7, 5, 4, palette_trns_rgba, 0);
    check_format(ctx, "palette4.png", 0, 7, 5, 3, palette4_rgb, 0);
    check_format(ctx, "gray16.png", 0, 7, 5, 1, gray16_gray, 0);
    check_format(ctx, "rgba16.png", 0, 7, 5, 4, rgba16_rgba, 0);
    check_format(ctx, "gray_alpha.png", 0, 7, 5, 4, gray_alpha_rgba, 0);
    check_format(ctx, "gray_trns.png", 0, 7, 5, 4, gray_trns_rgba, 0);
    check_format(ctx, "rgb_trns.png", 0, 7, 5, 4, rgb_trns_rgba, 0);
    check_format(ctx, "gray1.png", 0, 7, 5, 1, gray1_gray, 0);
    check_format(ctx, "gray2.png", 0, 7, 5, 1, gray2_gray, 0);
    check_format(ctx, "gray2_interlaced.png", 0, 7, 5, 1, gray2_gray, 0);
    check_format(ctx, "rgb_interlaced.png", 0, 7, 5, 3, rgb_interlaced_rgb, 0);

    /* want_channels 3 of a palette+tRNS file drops the alpha of the RGBA layout. */
    sdc_image im;
    CHECK_EQ_INT(sdc_image_read(ctx, image_path("formats/palette_trns.png"), 3, &im, NULL),
                 SDC_STATUS_OK);
    bool same = im.channels == 3;
    for (size_t i = 0; same && i < 35; i++)
        same = memcmp(im.pixels + i * 3, palette_trns_rgba + i * 4, 3) == 0;
    CHECK(same);
    sdc_image_free(ctx, &im);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

static void test_jpeg_formats(void)
{
    sdc_context *ctx = make_ctx();
    /* Measured: all three equal Pillow's decode exactly (max abs difference 0). */
    check_format(ctx, "gray.jpg", 0, 8, 8, 1, gray_jpg, JPEG_TOLERANCE);
    check_format(ctx, "cmyk.jpg", 0, 8, 8, 3, cmyk_jpg_rgb, JPEG_TOLERANCE);
    check_format(ctx, "progressive.jpg", 0, 16, 16, 3, progressive_jpg, JPEG_TOLERANCE);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* text.png: tEXt Title (Latin-1 "caf\xe9") and uncompressed iTXt before IDAT; zTXt and
 * compressed iTXt (language "ja") after it. Pillow reads the same four. */
static void check_text_png(const sdc_text_chunks *text)
{
    static const char *const keys[4] = {"Title", "prompt", "Comment", "Long"};
    static const char *const values[3] = {"café", "a 猫 on a mat", "naïve zipped text"};
    CHECK_EQ_INT(text->count, 4);
    for (size_t i = 0; i < text->count && i < 4; i++) {
        CHECK_EQ_STR(text->items[i].key, keys[i]);
        if (i < 3) {
            CHECK_EQ_STR(text->items[i].value, values[i]);
        } else {
            const char *v = text->items[i].value;
            bool ok = strlen(v) == 40 * 3;
            for (size_t k = 0; ok && k < 40; k++)
                ok = memcmp(v + 3 * k, "猫", 3) == 0;
            CHECK_MSG(ok, "compressed iTXt value");
        }
    }
}

static void test_text_chunks(void)
{
    sdc_context *ctx = make_ctx();
    sdc_image im;
    sdc_text_chunks text;
    CHECK_EQ_INT(sdc_image_read(ctx, image_path("formats/text.png"), 0, &im, &text), SDC_STATUS_OK);
    check_text_png(&text);
    static const uint8_t px[4] = {0x00, 0x40, 0x80, 0xff};
    CHECK(im.pixels && im.channels == 1 && memcmp(im.pixels, px, 4) == 0);
    sdc_image_free(ctx, &im);
    sdc_text_chunks_free(ctx, &text);
    sdc_text_chunks_free(ctx, NULL);
    sdc_image_free(ctx, NULL);

    /* iTXt that is not valid UTF-8 reads with U+FFFD in place of each bad byte. */
    unsigned char buf[256];
    size_t pos = 0;
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
    pos = 8;
    unsigned char ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0};
    put_chunk(buf, &pos, "IHDR", ihdr, 13);
    put_chunk(buf, &pos, "iTXt",
              "k\0\0\0\0\0a\xff"
              "b",
              9);
    /* zlib stream of one filter byte and one sample: 78 9c 63 60 00 00 00 02 00 01 */
    put_chunk(buf, &pos, "IDAT", "\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10);
    put_chunk(buf, &pos, "IEND", "", 0);
    CHECK_EQ_INT(sdc_png_parse(ctx, buf, pos, "bad_itxt.png", 0, &im, &text), SDC_STATUS_OK);
    CHECK_EQ_INT(text.count, 1);
    if (text.count == 1)
        CHECK_EQ_STR(text.items[0].value, "a\xef\xbf\xbd"
                                          "b");
    sdc_image_free(ctx, &im);
    sdc_text_chunks_free(ctx, &text);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Malformed and hostile input                                                                */

/* Reads `data` from a file named `name` and expects a clean refusal naming the file. */
static void expect_refused(sdc_context *ctx, const char *name, const void *data, size_t size,
                           sdc_status expect)
{
    size_t base = live_bytes(ctx);
    const char *path = test_tmp_path(name);
    CHECK_EQ_INT(sdc_file_write_all(ctx, path, data, size), SDC_STATUS_OK);
    sdc_image im = {.width = 5, .pixels = (uint8_t *)1};
    sdc_text_chunks text = {(sdc_text_chunk *)1, 3};
    sdc_status st = sdc_image_read(ctx, path, 0, &im, &text);
    CHECK_MSG(st == expect, "%s: status %d (%s), expected %d", name, (int)st,
              sdc_context_errmsg(ctx), (int)expect);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), path);
    CHECK(im.pixels == NULL && im.width == 0 && text.items == NULL && text.count == 0);
    CHECK_EQ_INT(live_bytes(ctx), base);
    unlink(path);
}

static void test_malformed(void)
{
    sdc_context *ctx = make_ctx();
    char *png = NULL, *jpg = NULL;
    size_t png_size = 0, jpg_size = 0;
    CHECK_EQ_INT(sdc_file_read_all(ctx, image_path("formats/text.png"), &png, &png_size),
                 SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_file_read_all(ctx, image_path("formats/gray.jpg"), &jpg, &jpg_size),
                 SDC_STATUS_OK);
    unsigned char *copy = malloc(png_size + jpg_size + 64);

    expect_refused(ctx, "empty.png", "", 0, SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "empty");
    expect_refused(ctx, "garbage.png", "GIF89a garbage, not an image", 28, SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "not a PNG or JPEG image");
    expect_refused(ctx, "sig_only.png", png, 8, SDC_STATUS_FORMAT);
    /* Truncated anywhere: in IHDR, in the text, in IDAT, before IEND. */
    static const size_t cuts[] = {20, 40, 100, 150};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t cut = cuts[i] < png_size ? cuts[i] : png_size - 1;
        expect_refused(ctx, "truncated.png", png, cut, SDC_STATUS_FORMAT);
    }
    expect_refused(ctx, "truncated_end.png", png, png_size - 1, SDC_STATUS_FORMAT);

    /* A flipped bit in IDAT's CRC: a critical chunk's CRC does not match. */
    const char *idat = find_bytes(png, png_size, "IDAT", 4);
    CHECK(idat != NULL);
    if (idat) {
        const unsigned char *len = (const unsigned char *)idat - 4;
        size_t idat_len =
            (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
        memcpy(copy, png, png_size);
        copy[(size_t)(idat - png) + 4 + idat_len + 3] ^= 0x01;
        expect_refused(ctx, "bad_crc.png", copy, png_size, SDC_STATUS_FORMAT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "CRC");
    }

    /* A text chunk declaring 2 GiB - 1 in a 213-byte file: refused before libpng would
     * allocate its declared length. */
    const char *text_chunk = find_bytes(png, png_size, "tEXt", 4);
    CHECK(text_chunk != NULL);
    if (text_chunk) {
        memcpy(copy, png, png_size);
        put_be32(copy + (text_chunk - png) - 4, 0x7fffffffu);
        expect_refused(ctx, "huge_chunk.png", copy, png_size, SDC_STATUS_FORMAT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "chunk 'tEXt' at byte 33 declares 2147483647");
    }

    /* Declared sizes: 100000 x 100000 and 16385 x 1 are refused before decoding; 16384 x
     * 16384 is allowed, and then the missing image data is the error. */
    static const uint32_t dims[][3] = {
        {100000, 100000, SDC_STATUS_UNSUPPORTED},
        {SDC_IMAGE_MAX_SIDE + 1, 1, SDC_STATUS_UNSUPPORTED},
        {SDC_IMAGE_MAX_SIDE, SDC_IMAGE_MAX_SIDE, SDC_STATUS_FORMAT},
        {0, 5, SDC_STATUS_FORMAT},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        unsigned char buf[128];
        size_t pos = 8;
        memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
        unsigned char ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0};
        put_be32(ihdr, dims[i][0]);
        put_be32(ihdr + 4, dims[i][1]);
        put_chunk(buf, &pos, "IHDR", ihdr, 13);
        put_chunk(buf, &pos, "IDAT", "\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10);
        put_chunk(buf, &pos, "IEND", "", 0);
        expect_refused(ctx, "huge.png", buf, pos, (sdc_status)dims[i][2]);
    }
    CHECK_EQ_INT(sdc_png_parse(ctx, png, 7, "short.png", 0, &(sdc_image){0}, NULL),
                 SDC_STATUS_FORMAT);

    /* JPEG: only SOI; truncated; SOF declaring 65000 x 65000. */
    expect_refused(ctx, "soi.jpg", "\xff\xd8\xff", 3, SDC_STATUS_FORMAT);
    expect_refused(ctx, "truncated.jpg", jpg, jpg_size / 2, SDC_STATUS_FORMAT);
    expect_refused(ctx, "no_scan.jpg", jpg, jpg_size - 40, SDC_STATUS_FORMAT);
    const char *sof = find_bytes(jpg, jpg_size, "\xff\xc0", 2);
    CHECK(sof != NULL);
    if (sof) {
        size_t at = (size_t)(sof - jpg);
        memcpy(copy, jpg, jpg_size);
        /* FF C0, length (2), precision (1), height (2), width (2). */
        copy[at + 5] = 0xfd, copy[at + 6] = 0xe8;
        copy[at + 7] = 0xfd, copy[at + 8] = 0xe8;
        expect_refused(ctx, "huge.jpg", copy, jpg_size, SDC_STATUS_UNSUPPORTED);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "65000 x 65000");
        /* 4096 x 4096 declared with 8 x 8 of data: the data runs out at once. */
        copy[at + 5] = 0x10, copy[at + 6] = 0x00;
        copy[at + 7] = 0x10, copy[at + 8] = 0x00;
        expect_refused(ctx, "short_data.jpg", copy, jpg_size, SDC_STATUS_FORMAT);
    }
    /* Scan bombs: an 8 x 8 gray progressive JPEG whose DC scan (Ss = Se = Ah = Al = 0; one
     * block, DC difference 0 coded as the single 1-bit code "0", padded: 0x7f) repeats. 3
     * scans decode to mid-gray; 1001 are refused by the scan limit. */
    /* clang-format off */
    static const unsigned char head[] = {
        0xff, 0xd8,                                           /* SOI */
        0xff, 0xc2, 0x00, 0x0b, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, /* SOF2: 8-bit, 8 x 8, 1 component */
        0xff, 0xc4, 0x00, 0x14, 0x00,                         /* DHT: DC table 0 */
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,       /*   one code of length 1 */
        0x00,                                                 /*   for category 0 */
    };
    /* clang-format on */
    static const unsigned char scan[] = {0xff, 0xda, 0x00, 0x08, 1, 1, 0x00, 0, 0, 0x00, 0x7f};
    size_t dqt_len = 4 + 65, max_scans = 1001;
    size_t bomb_size = sizeof head + dqt_len + max_scans * sizeof scan + 2;
    unsigned char *bomb = malloc(bomb_size);
    for (int pass = 0; pass < 2; pass++) {
        size_t n_scans = pass == 0 ? 3 : max_scans, pos = sizeof head;
        memcpy(bomb, head, sizeof head);
        memcpy(bomb + pos, "\xff\xdb\x00\x43\x00", 5); /* DQT 0, all ones */
        memset(bomb + pos + 5, 1, 64);
        pos += dqt_len;
        for (size_t i = 0; i < n_scans; i++, pos += sizeof scan)
            memcpy(bomb + pos, scan, sizeof scan);
        memcpy(bomb + pos, "\xff\xd9", 2);
        pos += 2;
        sdc_image im;
        sdc_status st = sdc_jpeg_parse(ctx, bomb, pos, "scans.jpg", 0, &im);
        if (pass == 0) {
            CHECK_MSG(st == SDC_STATUS_OK, "3 scans: %s", sdc_context_errmsg(ctx));
            bool gray = st == SDC_STATUS_OK && im.width == 8 && im.height == 8 && im.channels == 1;
            for (int i = 0; gray && i < 64; i++)
                gray = im.pixels[i] == 128;
            CHECK(gray);
            sdc_image_free(ctx, &im);
        } else {
            CHECK_EQ_INT(st, SDC_STATUS_UNSUPPORTED);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "scans.jpg: JPEG: more than 1000 scans");
        }
    }

    /* The same header declaring 16384 x 16384 with three full-resolution components: the
     * whole-image coefficient buffers (1.5 GiB) exceed libjpeg's memory cap. */
    memcpy(bomb, head, 2); /* SOI */
    static const unsigned char sof3[] = {0xff, 0xc2, 0x00, 0x11, 8,    0x40, 0, 0x40, 0, 3,
                                         1,    0x11, 0,    2,    0x11, 0,    3, 0x11, 0};
    memcpy(bomb + 2, sof3, sizeof sof3);
    size_t pos = 2 + sizeof sof3;
    memcpy(bomb + pos, head + 15, sizeof head - 15); /* DHT */
    pos += sizeof head - 15;
    memcpy(bomb + pos, "\xff\xdb\x00\x43\x00", 5);
    memset(bomb + pos + 5, 1, 64);
    pos += dqt_len;
    static const unsigned char scan3[] = {0xff, 0xda, 0x00, 0x0c, 3, 1, 0x00, 2,
                                          0x00, 3,    0x00, 0,    0, 0, 0x7f};
    memcpy(bomb + pos, scan3, sizeof scan3);
    pos += sizeof scan3;
    memcpy(bomb + pos, "\xff\xd9", 2);
    pos += 2;
    sdc_image big;
    CHECK_EQ_INT(sdc_jpeg_parse(ctx, bomb, pos, "big.jpg", 0, &big), SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "big.jpg: JPEG: decoding this 16384 x 16384");
    free(bomb);

    /* Garbage after a JPEG SOI. */
    memcpy(copy, "\xff\xd8\xff\xe0", 4);
    memset(copy + 4, 0x5a, 60);
    expect_refused(ctx, "garbage.jpg", copy, 64, SDC_STATUS_FORMAT);

    sdc_image im;
    CHECK_EQ_INT(sdc_image_read(ctx, "/nonexistent/file.png", 0, &im, NULL), SDC_STATUS_IO);
    free(copy);
    sdc_free(ctx, png);
    sdc_free(ctx, jpg);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Fault injection: fail the 1st, 2nd, ... allocation until a run sees no failure.            */

static void fault_loop_read(const char *path, int want, bool with_text)
{
    sdc_context *ctx = make_ctx();
    sdc_image ref;
    sdc_text_chunks ref_text;
    CHECK_EQ_INT(sdc_image_read(ctx, path, want, &ref, &ref_text), SDC_STATUS_OK);
    size_t base = live_bytes(ctx);
    int n_oom = 0;
    for (uint64_t n = 1; n < 100000; n++) {
        uint64_t failed_before = failed_allocs(ctx);
        sdc_alloc_fail_nth(ctx, n);
        sdc_image im;
        sdc_text_chunks text;
        sdc_status st = sdc_image_read(ctx, path, want, &im, with_text ? &text : NULL);
        sdc_alloc_fail_nth(ctx, 0);
        bool injected = failed_allocs(ctx) > failed_before;
        CHECK_MSG(st == SDC_STATUS_OK || st == SDC_STATUS_OUT_OF_MEMORY,
                  "%s: allocation %llu failed: status %d (%s)", path, (unsigned long long)n,
                  (int)st, sdc_context_errmsg(ctx));
        if (st == SDC_STATUS_OK) {
            /* Success means the whole result, text included. */
            CHECK(im.width == ref.width && im.height == ref.height && im.channels == ref.channels &&
                  memcmp(im.pixels, ref.pixels, image_bytes(&ref)) == 0);
            if (with_text) {
                CHECK_EQ_INT(text.count, ref_text.count);
                for (size_t i = 0; i < text.count && i < ref_text.count; i++)
                    CHECK_EQ_STR(text.items[i].value, ref_text.items[i].value);
                sdc_text_chunks_free(ctx, &text);
            }
            sdc_image_free(ctx, &im);
        } else {
            n_oom++;
            CHECK(im.pixels == NULL);
            /* Allocation 1 is file.c's copy of the path; every later failure is ours. */
            if (n > 1)
                CHECK_CONTAINS(sdc_context_errmsg(ctx), path);
        }
        CHECK_EQ_INT(live_bytes(ctx), base);
        if (!injected) {
            CHECK_EQ_INT(st, SDC_STATUS_OK);
            break;
        }
    }
    CHECK_MSG(n_oom > 0, "%s: no allocation was failed", path);
    sdc_image_free(ctx, &ref);
    sdc_text_chunks_free(ctx, &ref_text);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

static void test_fault_injection_read(void)
{
    fault_loop_read(image_path("formats/text.png"), 0, true);
    fault_loop_read(image_path("formats/rgb_interlaced.png"), 1, true);
    fault_loop_read(image_path("formats/palette_trns.png"), 4, false);
    fault_loop_read(image_path("formats/cmyk.jpg"), 0, true);
    fault_loop_read(image_path("formats/progressive.jpg"), 4, false);
}

static void test_fault_injection_write(void)
{
    sdc_context *ctx = make_ctx();
    const char *path = test_tmp_path("fault.png");
    sdc_image im = {.width = 40, .height = 9, .channels = 4};
    im.pixels = pattern(im.width, im.height, im.channels);
    int n_oom = 0;
    for (uint64_t n = 1; n < 100000; n++) {
        uint64_t failed_before = failed_allocs(ctx);
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_png_write(ctx, path, &im, round_trip_text, N_ROUND_TRIP_TEXT);
        sdc_alloc_fail_nth(ctx, 0);
        bool injected = failed_allocs(ctx) > failed_before;
        CHECK_MSG(st == SDC_STATUS_OK || st == SDC_STATUS_OUT_OF_MEMORY,
                  "write, allocation %llu failed: status %d (%s)", (unsigned long long)n, (int)st,
                  sdc_context_errmsg(ctx));
        CHECK_EQ_INT(live_bytes(ctx), 0);
        if (st != SDC_STATUS_OK) {
            n_oom++;
            CHECK(!file_exists(path));
        }
        unlink(path);
        if (!injected)
            break;
    }
    CHECK(n_oom > 0);
    free(im.pixels);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_want_channels);
    RUN(test_write_errors);
    RUN(test_astronaut_png);
    RUN(test_rocket_jpeg);
    RUN(test_png_formats);
    RUN(test_jpeg_formats);
    RUN(test_text_chunks);
    RUN(test_malformed);
    RUN(test_fault_injection_read);
    RUN(test_fault_injection_write);
    return test_finish();
}
