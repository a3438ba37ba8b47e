/*
 * test_semantic.c — the demo model (data/demo/shapes.sdc, tools/demo_model) draws what its
 * prompts say. Thirty prompts (colour x shape x position, each on a contrasting background)
 * are generated through the public API with fixed seeds, and each image is scored by an
 * analyser written for this test: the background is the median of the border pixels (an
 * image whose border is not mostly that one colour is not read at all), the shape the largest
 * 4-connected blob of pixels far from it; its colour is the palette colour
 * most of its pixels are nearest to, its position comes from the blob's centroid and its shape
 * from how much of its bounding box it fills (circle pi/4, square 1, triangle 1/2).
 * The same analyser must score a random-weight model of the same structure (every weight
 * tensor of the bundle with its values shuffled by a fixed PRNG) far lower, which shows the
 * test can fail. SDC_TEST_VERBOSE=1 prints each prompt's reading and the rates;
 * SDC_DEMO_TEST_MODEL=BUNDLE scores another bundle instead of the committed one.
 */
#include "core/core.h"
#include "io/io.h"
#include "sdc.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The bundle scored: the committed one, or $SDC_DEMO_TEST_MODEL (a bundle regenerated from the
 * recipe, to compare its rates with the published ones; tools/demo_model/README.md). */
static const char *demo_model(void)
{
    const char *env = getenv("SDC_DEMO_TEST_MODEL");
    return env && *env ? env : SDC_DEMO_MODEL_DIR "/shapes.sdc";
}
#define SIDE       64

/* The thresholds (issue 10), and the random model's ceiling on the mean of the three. */
#define MIN_COLOUR_RATE   0.85
#define MIN_POSITION_RATE 0.75
#define MIN_SHAPE_RATE    0.60
#define MAX_RANDOM_MEAN   0.30

/* Generation settings of the test: the model's own scheduler (PNDM, as SD 1.5) and the
 * guidance its model card recommends. The model draws clean scenes at guidance 1-2; from 3 up
 * guidance pushes colours off the palette and roughens the background (data/demo/README.md). */
#define STEPS    20
#define GUIDANCE 2.0f

/* ---------------------------------------------------------------------------------------- */
/* The synthetic world of tools/demo_model/data.py                                           */

typedef enum colour {
    COLOUR_RED,
    COLOUR_GREEN,
    COLOUR_BLUE,
    COLOUR_YELLOW,
    COLOUR_PURPLE,
    COLOUR_ORANGE,
    COLOUR_WHITE,
    COLOUR_BLACK,
    COLOUR_COUNT
} colour;

static const char *const colour_names[] = {
    [COLOUR_RED] = "red",       [COLOUR_GREEN] = "green",   [COLOUR_BLUE] = "blue",
    [COLOUR_YELLOW] = "yellow", [COLOUR_PURPLE] = "purple", [COLOUR_ORANGE] = "orange",
    [COLOUR_WHITE] = "white",   [COLOUR_BLACK] = "black",
};
static_assert(sizeof colour_names / sizeof colour_names[0] == COLOUR_COUNT, "colour names");

/* data.py's PALETTE (sRGB). */
static const int palette[][3] = {
    [COLOUR_RED] = {220, 30, 30},     [COLOUR_GREEN] = {30, 170, 50},
    [COLOUR_BLUE] = {30, 70, 220},    [COLOUR_YELLOW] = {245, 215, 30},
    [COLOUR_PURPLE] = {140, 50, 190}, [COLOUR_ORANGE] = {245, 130, 20},
    [COLOUR_WHITE] = {245, 245, 245}, [COLOUR_BLACK] = {15, 15, 15},
};
static_assert(sizeof palette / sizeof palette[0] == COLOUR_COUNT, "palette");

typedef enum shape { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_COUNT } shape;

static const char *const shape_names[] = {
    [SHAPE_CIRCLE] = "circle", [SHAPE_SQUARE] = "square", [SHAPE_TRIANGLE] = "triangle"};
static_assert(sizeof shape_names / sizeof shape_names[0] == SHAPE_COUNT, "shape names");

typedef enum position {
    POSITION_LEFT,
    POSITION_RIGHT,
    POSITION_TOP,
    POSITION_BOTTOM,
    POSITION_CENTRE,
    POSITION_COUNT
} position;

static const char *const position_names[] = {
    [POSITION_LEFT] = "left",     [POSITION_RIGHT] = "right",   [POSITION_TOP] = "top",
    [POSITION_BOTTOM] = "bottom", [POSITION_CENTRE] = "centre",
};
static const char *const position_phrases[] = {
    [POSITION_LEFT] = "on the left",     [POSITION_RIGHT] = "on the right",
    [POSITION_TOP] = "at the top",       [POSITION_BOTTOM] = "at the bottom",
    [POSITION_CENTRE] = "in the centre",
};
static_assert(sizeof position_names / sizeof position_names[0] == POSITION_COUNT, "positions");
static_assert(sizeof position_phrases / sizeof position_phrases[0] == POSITION_COUNT, "phrases");

/* data.py's MIN_CONTRAST: closer foreground/background pairs are never drawn. */
#define MIN_CONTRAST 120.0

static double colour_distance(const double a[3], const int b[3])
{
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

static double palette_distance(colour a, colour b)
{
    double pa[3] = {palette[a][0], palette[a][1], palette[a][2]};
    return colour_distance(pa, palette[b]);
}

static colour nearest_colour(const double rgb[3], int exclude)
{
    colour best = COLOUR_RED;
    double best_d = INFINITY;
    for (int c = 0; c < COLOUR_COUNT; c++) {
        double d = colour_distance(rgb, palette[c]);
        if (c != exclude && d < best_d) {
            best_d = d;
            best = (colour)c;
        }
    }
    return best;
}

/* ---------------------------------------------------------------------------------------- */
/* The prompts                                                                                */

#define N_PROMPTS 30

typedef struct scene {
    colour colour, background;
    shape shape;
    position position;
    char prompt[128];
} scene;

/* Prompt i draws colour i mod 8, shape i mod 3 and position i mod 5: 8, 3 and 5 are coprime,
 * so the 30 prompts are 30 different combinations and every value appears evenly. The
 * background is the k-th contrasting colour after the foreground, k = i / 8. */
static scene scene_of(int i)
{
    scene s = {.colour = (colour)(i % COLOUR_COUNT),
               .shape = (shape)(i % SHAPE_COUNT),
               .position = (position)(i % POSITION_COUNT)};
    int k = i / COLOUR_COUNT;
    for (int step = 1, found = 0; step < COLOUR_COUNT; step++) {
        colour b = (colour)((s.colour + step * 3) % COLOUR_COUNT);
        if (b == s.colour || palette_distance(s.colour, b) < MIN_CONTRAST)
            continue;
        s.background = b;
        if (found++ == k)
            break;
    }
    snprintf(s.prompt, sizeof s.prompt, "%s %s %s %s, %s background",
             colour_names[s.colour][0] == 'o' ? "an" : "a", colour_names[s.colour],
             shape_names[s.shape], position_phrases[s.position], colour_names[s.background]);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* The analyser                                                                               */

/* Pixels further than this from the background colour belong to the foreground: half the
 * smallest contrast the world draws. */
#define FOREGROUND_DISTANCE (MIN_CONTRAST / 2)
/* A centroid within this many pixels of the middle in both axes is "centre" (the world puts
 * the other positions 16 +- 2 pixels out). */
#define CENTRE_RADIUS 8.0
/* Fill of the bounding box: triangle 0.5, circle 0.785, square 1. */
#define TRIANGLE_MAX_FILL 0.64
#define CIRCLE_MAX_FILL   0.89
/* Share of the border pixels that must be the background colour for the image to be read. */
#define MIN_PLAIN_BORDER 0.8
/* A blob smaller than this is no shape at all (the smallest drawn one covers ~85 pixels). */
#define MIN_BLOB_PIXELS 24

typedef struct reading {
    bool found;          /* a plain background and a blob of at least MIN_BLOB_PIXELS on it */
    double plain_border; /* share of the border pixels of the background colour */
    colour colour, background;
    shape shape;
    position position;
    int pixels;
    double fill, cx, cy;
} reading;

static int cmp_u8(const void *a, const void *b)
{
    return *(const uint8_t *)a - *(const uint8_t *)b;
}

static reading analyse(const sdc_image *img)
{
    reading r = {0};
    const uint8_t *px = img->pixels;

    /* Background: per-channel median of the outermost two rings of pixels. */
    static uint8_t border[3][4 * 2 * SIDE], border_rgb[4 * 2 * SIDE][3];
    int nb = 0;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            if (x >= 2 && x < SIDE - 2 && y >= 2 && y < SIDE - 2)
                continue;
            for (int c = 0; c < 3; c++)
                border[c][nb] = border_rgb[nb][c] = px[(y * SIDE + x) * 3 + c];
            nb++;
        }
    double bg[3];
    for (int c = 0; c < 3; c++) {
        qsort(border[c], (size_t)nb, 1, cmp_u8);
        bg[c] = border[c][nb / 2];
    }
    r.background = nearest_colour(bg, -1);

    /* The world's backgrounds are plain: an image whose border is not mostly one colour shows
     * no scene, and nothing in it is read. (A large shape at the edge covers at most ~11% of
     * the border.) */
    int plain = 0;
    for (int i = 0; i < nb; i++) {
        double d0 = border_rgb[i][0] - bg[0], d1 = border_rgb[i][1] - bg[1],
               d2 = border_rgb[i][2] - bg[2];
        plain += sqrt(d0 * d0 + d1 * d1 + d2 * d2) <= FOREGROUND_DISTANCE;
    }
    r.plain_border = (double)plain / nb;
    if (r.plain_border < MIN_PLAIN_BORDER)
        return r;

    /* Foreground mask and its largest 4-connected blob. */
    static uint8_t mask[SIDE * SIDE];
    static int label[SIDE * SIDE], stack[SIDE * SIDE];
    for (int i = 0; i < SIDE * SIDE; i++) {
        double p[3] = {px[i * 3], px[i * 3 + 1], px[i * 3 + 2]};
        double d0 = p[0] - bg[0], d1 = p[1] - bg[1], d2 = p[2] - bg[2];
        mask[i] = sqrt(d0 * d0 + d1 * d1 + d2 * d2) > FOREGROUND_DISTANCE;
        label[i] = 0;
    }
    int best_label = 0, best_size = 0, n_labels = 0;
    for (int seed = 0; seed < SIDE * SIDE; seed++) {
        if (!mask[seed] || label[seed])
            continue;
        int id = ++n_labels, size = 0, top = 0;
        label[seed] = id;
        stack[top++] = seed;
        while (top) {
            int i = stack[--top], x = i % SIDE, y = i / SIDE;
            size++;
            const int nbr[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
            for (int k = 0; k < 4; k++) {
                int nx = nbr[k][0], ny = nbr[k][1];
                if (nx < 0 || ny < 0 || nx >= SIDE || ny >= SIDE)
                    continue;
                int j = ny * SIDE + nx;
                if (mask[j] && !label[j]) {
                    label[j] = id;
                    stack[top++] = j;
                }
            }
        }
        if (size > best_size) {
            best_size = size;
            best_label = id;
        }
    }
    r.pixels = best_size;
    if (best_size < MIN_BLOB_PIXELS)
        return r;
    r.found = true;

    /* Colour by majority of the blob's pixels (nearest palette colour other than the
     * background's); centroid; bounding box. */
    int votes[COLOUR_COUNT] = {0};
    int x0 = SIDE, y0 = SIDE, x1 = -1, y1 = -1;
    double sx = 0, sy = 0;
    for (int i = 0; i < SIDE * SIDE; i++) {
        if (label[i] != best_label)
            continue;
        int x = i % SIDE, y = i / SIDE;
        double p[3] = {px[i * 3], px[i * 3 + 1], px[i * 3 + 2]};
        votes[nearest_colour(p, (int)r.background)]++;
        sx += x + 0.5;
        sy += y + 0.5;
        x0 = x < x0 ? x : x0;
        x1 = x > x1 ? x : x1;
        y0 = y < y0 ? y : y0;
        y1 = y > y1 ? y : y1;
    }
    for (int c = 1; c < COLOUR_COUNT; c++)
        if (votes[c] > votes[r.colour])
            r.colour = (colour)c;

    r.cx = sx / best_size;
    r.cy = sy / best_size;
    double dx = r.cx - SIDE / 2.0, dy = r.cy - SIDE / 2.0;
    if (fabs(dx) < CENTRE_RADIUS && fabs(dy) < CENTRE_RADIUS)
        r.position = POSITION_CENTRE;
    else if (fabs(dx) >= fabs(dy))
        r.position = dx < 0 ? POSITION_LEFT : POSITION_RIGHT;
    else
        r.position = dy < 0 ? POSITION_TOP : POSITION_BOTTOM;

    r.fill = (double)best_size / ((double)(x1 - x0 + 1) * (y1 - y0 + 1));
    r.shape = r.fill < TRIANGLE_MAX_FILL ? SHAPE_TRIANGLE
              : r.fill < CIRCLE_MAX_FILL ? SHAPE_CIRCLE
                                         : SHAPE_SQUARE;
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Scoring a model                                                                            */

typedef struct rates {
    double colour, position, shape;
} rates;

static double mean_rate(rates r)
{
    return (r.colour + r.position + r.shape) / 3;
}

static bool verbose(void)
{
    return getenv("SDC_TEST_VERBOSE") != NULL;
}

/* Generates every prompt with `model_path` and scores the images. False when the model could
 * not be opened or a generation failed (a failed check says which). */
static bool score_model(sdc_context *ctx, const char *model_path, rates *out)
{
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    int ok_colour = 0, ok_position = 0, ok_shape = 0;
    bool ok = sdc_model_open(ctx, model_path, NULL, &model) == SDC_STATUS_OK;
    CHECK_MSG(ok, "open %s: %s", model_path, sdc_context_errmsg(ctx));
    ok = ok && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK;
    for (int i = 0; ok && i < N_PROMPTS; i++) {
        scene s = scene_of(i);
        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = s.prompt;
        p.seed = 1000 + (uint64_t)i;
        p.steps = STEPS;
        p.guidance_scale = GUIDANCE;
        ok = sdc_generation_run(gen, &p) == SDC_STATUS_OK;
        CHECK_MSG(ok, "%s: \"%s\": %s", model_path, s.prompt, sdc_generation_errmsg(gen));
        if (!ok)
            break;
        const sdc_image *img = sdc_generation_image(gen, 0);
        CHECK(img && img->width == SIDE && img->height == SIDE && img->channels == 3);
        if (!img || img->width != SIDE || img->height != SIDE || img->channels != 3) {
            ok = false;
            break;
        }
        reading r = analyse(img);
        bool c = r.found && r.colour == s.colour;
        bool pos = r.found && r.position == s.position;
        bool sh = r.found && r.shape == s.shape;
        ok_colour += c;
        ok_position += pos;
        ok_shape += sh;
        if (verbose())
            fprintf(stderr,
                    "  %-52s -> %s %-6s %-8s %-6s on %-6s (%4d px, fill %.2f, centroid %4.1f "
                    "%4.1f)%s%s%s\n",
                    s.prompt, r.found ? "" : "(no blob)", colour_names[r.colour],
                    shape_names[r.shape], position_names[r.position], colour_names[r.background],
                    r.pixels, r.fill, r.cx, r.cy, c ? "" : " COLOUR", pos ? "" : " POSITION",
                    sh ? "" : " SHAPE");
    }
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    *out = (rates){(double)ok_colour / N_PROMPTS, (double)ok_position / N_PROMPTS,
                   (double)ok_shape / N_PROMPTS};
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* The random-weight model: the bundle with every float tensor's values shuffled             */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    bool ok = in && out;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (out)
        ok = fclose(out) == 0 && ok;
    if (in)
        fclose(in);
    CHECK_MSG(ok, "copy %s -> %s", src, dst);
    return ok;
}

/* mkdir that accepts an existing folder (from an earlier run). */
static bool make_dir(const char *path)
{
    struct stat st;
    return mkdir(path, 0755) == 0 ||
           (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

static bool is_float(sdc_dtype t)
{
    return t == SDC_DTYPE_F32 || t == SDC_DTYPE_F16 || t == SDC_DTYPE_BF16;
}

/* src/<name> -> dst/<name> with each float tensor's elements in a random order (Fisher-Yates
 * over whole elements, so every tensor keeps its exact values and scale and loses all
 * structure); other tensors and the metadata stay as they are. */
static bool shuffle_component(sdc_context *ctx, const char *src, const char *dst, uint64_t *rng)
{
    sdc_st_file *f = NULL;
    sdc_st_entry *entries = NULL;
    unsigned char **copies = NULL;
    size_t n = 0;
    bool ok = sdc_st_open(ctx, src, &f) == SDC_STATUS_OK;
    CHECK_MSG(ok, "open %s: %s", src, sdc_context_errmsg(ctx));
    if (ok) {
        entries = calloc(f->n_tensors, sizeof *entries);
        copies = calloc(f->n_tensors, sizeof *copies);
        ok = entries && copies;
    }
    for (size_t i = 0; ok && i < f->n_tensors; i++) {
        const sdc_st_tensor *t = &f->tensors[i];
        if (sdc_st_is_padding(t))
            continue;
        sdc_st_entry *e = &entries[n++];
        *e = (sdc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e->shape, t->shape, sizeof e->shape);
        if (!is_float(t->dtype))
            continue;
        size_t bytes = (size_t)sdc_st_nbytes(t), es = sdc_dtype_size(t->dtype);
        size_t count = bytes / es;
        unsigned char *c = copies[i] = malloc(bytes ? bytes : 1);
        if (!(ok = c != NULL))
            break;
        memcpy(c, t->data, bytes);
        for (size_t k = count; k > 1; k--) {
            size_t j = (size_t)(splitmix64(rng) % k);
            unsigned char tmp[8];
            memcpy(tmp, c + (k - 1) * es, es);
            memcpy(c + (k - 1) * es, c + j * es, es);
            memcpy(c + j * es, tmp, es);
        }
        e->data = c;
    }
    if (ok) {
        ok = sdc_st_write(ctx, dst, entries, n, f->metadata, f->n_metadata) == SDC_STATUS_OK;
        CHECK_MSG(ok, "write %s: %s", dst, sdc_context_errmsg(ctx));
    }
    for (size_t i = 0; copies && i < f->n_tensors; i++)
        free(copies[i]);
    free(copies);
    free(entries);
    sdc_st_close(f);
    return ok;
}

static bool make_random_model(sdc_context *ctx, const char *dst)
{
    static const char *const components[] = {"text_encoder", "unet", "vae"};
    static const char *const tokenizer_files[] = {
        "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    char a[1024], b[1024];
    uint64_t rng = 20240610;
    snprintf(a, sizeof a, "%s/tokenizer", dst);
    bool ok = make_dir(dst) && make_dir(a);
    CHECK_MSG(ok, "mkdir %s", a);
    snprintf(a, sizeof a, "%s/model.json", demo_model());
    snprintf(b, sizeof b, "%s/model.json", dst);
    ok = ok && copy_file(a, b);
    for (size_t i = 0; ok && i < sizeof tokenizer_files / sizeof tokenizer_files[0]; i++) {
        snprintf(a, sizeof a, "%s/tokenizer/%s", demo_model(), tokenizer_files[i]);
        snprintf(b, sizeof b, "%s/tokenizer/%s", dst, tokenizer_files[i]);
        ok = copy_file(a, b);
    }
    for (size_t i = 0; ok && i < sizeof components / sizeof components[0]; i++) {
        snprintf(a, sizeof a, "%s/%s.safetensors", demo_model(), components[i]);
        snprintf(b, sizeof b, "%s/%s.safetensors", dst, components[i]);
        ok = shuffle_component(ctx, a, b, &rng);
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static sdc_context *ctx;
static rates trained;

static void test_analyser_reads_the_world(void)
{
    /* The analyser on data.py-like drawings: a hard-edged disc, box and triangle. */
    static const struct {
        shape shape;
        double cx, cy, r;
        position position;
    } cases[] = {
        {SHAPE_CIRCLE, 16, 32, 12, POSITION_LEFT},    {SHAPE_SQUARE, 48, 32, 7, POSITION_RIGHT},
        {SHAPE_TRIANGLE, 32, 16, 12, POSITION_TOP},   {SHAPE_CIRCLE, 32, 48, 7, POSITION_BOTTOM},
        {SHAPE_TRIANGLE, 32, 32, 8, POSITION_CENTRE}, {SHAPE_SQUARE, 31, 33, 13, POSITION_CENTRE},
    };
    static uint8_t pixels[SIDE * SIDE * 3];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        colour fg = (colour)(k % COLOUR_COUNT), bg = COLOUR_WHITE;
        if (fg == bg)
            bg = COLOUR_BLACK;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                double px = x + 0.5 - cases[k].cx, py = y + 0.5 - cases[k].cy, r = cases[k].r;
                bool in;
                if (cases[k].shape == SHAPE_CIRCLE)
                    in = px * px + py * py < r * r;
                else if (cases[k].shape == SHAPE_SQUARE)
                    in = fabs(px) < 0.9 * r && fabs(py) < 0.9 * r;
                else /* data.py's upright equilateral triangle, side 2r, box centred */
                    in = py < r * sqrt(3.0) / 2 &&
                         sqrt(3.0) / 2 * fabs(px) - 0.5 * (py + r * sqrt(3.0) / 2) < 0;
                const int *c = palette[in ? fg : bg];
                for (int ch = 0; ch < 3; ch++)
                    pixels[(y * SIDE + x) * 3 + ch] = (uint8_t)c[ch];
            }
        sdc_image img = {.width = SIDE, .height = SIDE, .channels = 3, .pixels = pixels};
        reading r = analyse(&img);
        CHECK_MSG(r.found && r.colour == fg && r.background == bg && r.shape == cases[k].shape &&
                      r.position == cases[k].position,
                  "case %zu: read %s %s %s on %s (fill %.2f), drew %s %s %s on %s", k,
                  colour_names[r.colour], shape_names[r.shape], position_names[r.position],
                  colour_names[r.background], r.fill, colour_names[fg], shape_names[cases[k].shape],
                  position_names[cases[k].position], colour_names[bg]);
    }
}

static void test_prompts_are_distinct(void)
{
    for (int i = 0; i < N_PROMPTS; i++) {
        scene a = scene_of(i);
        CHECK(palette_distance(a.colour, a.background) >= MIN_CONTRAST);
        for (int j = 0; j < i; j++) {
            scene b = scene_of(j);
            CHECK(a.colour != b.colour || a.shape != b.shape || a.position != b.position);
        }
    }
}

static void test_trained_model_draws_the_prompts(void)
{
    if (!score_model(ctx, demo_model(), &trained))
        return;
    if (verbose())
        fprintf(stderr, "  trained model: colour %.0f%%, position %.0f%%, shape %.0f%%\n",
                100 * trained.colour, 100 * trained.position, 100 * trained.shape);
    CHECK_MSG(trained.colour >= MIN_COLOUR_RATE, "colour %.2f >= %.2f", trained.colour,
              MIN_COLOUR_RATE);
    CHECK_MSG(trained.position >= MIN_POSITION_RATE, "position %.2f >= %.2f", trained.position,
              MIN_POSITION_RATE);
    CHECK_MSG(trained.shape >= MIN_SHAPE_RATE, "shape %.2f >= %.2f", trained.shape, MIN_SHAPE_RATE);
}

static void test_random_model_fails_the_analyser(void)
{
    const char *dir = test_tmp_path("random-shapes.sdc");
    if (!make_random_model(ctx, dir))
        return;
    rates random;
    if (!score_model(ctx, dir, &random))
        return;
    if (verbose())
        fprintf(stderr,
                "  random model: colour %.0f%%, position %.0f%%, shape %.0f%% (mean %.0f%%)\n",
                100 * random.colour, 100 * random.position, 100 * random.shape,
                100 * mean_rate(random));
    CHECK_MSG(mean_rate(random) < MAX_RANDOM_MEAN, "random model mean rate %.2f < %.2f",
              mean_rate(random), MAX_RANDOM_MEAN);
}

int main(void)
{
    sdc_context_params cp = sdc_context_default_params();
    cp.log_level = SDC_LOG_LEVEL_ERROR;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_analyser_reads_the_world);
    RUN(test_prompts_are_distinct);
    RUN(test_trained_model_draws_the_prompts);
    RUN(test_random_model_fails_the_analyser);
    sdc_context_destroy(ctx);
    return test_finish();
}
