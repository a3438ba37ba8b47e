/*
 * Tests `sdc generate` by running the built command (SDC_CLI_PATH) on the tiny fixture models:
 * with the library's defaults it reproduces the recorded diffusers images (so the CLI passes
 * its defaults and the image-to-image size right, inpainting included), it passes every option
 * through exactly as the C API run with the same parameters (pixels and "parameters" chunk), names
 * files as Apple's CLI does (long, unicode and unsafe prompts, image count 2, image to image),
 * --json lines parse, previews are written, the safety checker's verdict is reported, a progress
 * bar is drawn on a terminal, Ctrl-C leaves no image and exits 130, and every kind of bad input
 * fails with its exit code and a message naming the thing, writing no final image. SDXL with
 * its refiner and ControlNets (one, two, Canny-preprocessed) reproduce their fixtures too.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt for the terminal test */

#include "io/io.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODELS   SDC_BUILD_FIXTURES_DIR "/models"
#define SD1      MODELS "/sd1-tiny"
#define PIPES    SDC_FIXTURES_DIR "/pipelines"
#define IMAGE    SDC_TEST_DATA_DIR "/images/astronaut_96x64.png"
#define MASK     PIPES "/inputs/mask_96x64.png"
#define MASK_64  PIPES "/inputs/control_shapes_64x64.png"
#define ASTRO    "a photo of an astronaut riding a horse on mars"
#define NEGATIVE "blurry, low quality"
#define SDXL     MODELS "/sdxl-tiny"
#define REFINER  MODELS "/sdxl-refiner-tiny"
#define CN_SD1   MODELS "/controlnet-sd1-tiny"
#define CN_SDXL  MODELS "/controlnet-sdxl-tiny"
#define CASTLE   "A watercolor painting of a castle on a hill, at sunset; highly detailed (4k)"
#define SHAPES   PIPES "/inputs/control_shapes_64x64.png"
#define STRIPES  PIPES "/inputs/control_stripes_64x64.png"

static sdc_context *ctx;

typedef struct result {
    int code;
    char *out; /* stdout */
    char *err; /* stderr */
} result;

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t size = 0;
    if (sdc_file_read_all(ctx, path, &data, &size) != SDC_STATUS_OK)
        return NULL;
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    sdc_free(ctx, data);
    return s;
}

/* Runs `sdc generate <args>` through the shell (args are shell words). */
static result run(const char *args)
{
    static char cmd[16384];
    const char *err_path = test_tmp_path("stderr.txt");
    snprintf(cmd, sizeof cmd, "'%s' generate %s 2>'%s'", SDC_CLI_PATH, args, err_path);
    result r = {0};
    r.code = test_capture(cmd, &r.out);
    r.err = read_text(err_path);
    if (!r.out)
        r.out = calloc(1, 1);
    if (!r.err)
        r.err = calloc(1, 1);
    return r;
}

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* A fresh, not yet existing output folder. */
static const char *out_dir(const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s", test_tmp_path(name));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b);
    CHECK(system(cmd) == 0);
    return b;
}

/* Entries of dir whose names end with `suffix` (all but . and .. for ""). */
static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (len >= sl && strcmp(e->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *path_in(const char *dir, const char *name)
{
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* The "parameters" text chunk of a PNG (malloc'd) and its pixels. */
static char *png_parameters(const char *path, sdc_image *image)
{
    sdc_image img = {0};
    sdc_text_chunks text = {0};
    char *value = NULL;
    if (sdc_image_read(ctx, path, 0, &img, &text) != SDC_STATUS_OK) {
        CHECK_MSG(false, "cannot read %s: %s", path, sdc_context_errmsg(ctx));
        return NULL;
    }
    for (size_t i = 0; i < text.count; i++) {
        if (strcmp(text.items[i].key, "parameters") == 0) {
            value = malloc(strlen(text.items[i].value) + 1);
            if (value)
                strcpy(value, text.items[i].value);
        }
    }
    sdc_text_chunks_free(ctx, &text);
    if (image)
        *image = img;
    else
        sdc_image_free(ctx, &img);
    CHECK_MSG(value != NULL, "%s has no parameters chunk", path);
    return value;
}

static double psnr(const sdc_image *a, const sdc_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return -1;
    size_t n = (size_t)a->width * a->height * a->channels;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->pixels[i] - b->pixels[i];
        se += d * d;
    }
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

/* The PSNR of a written PNG against a recorded diffusers image. */
static double psnr_against(const char *path, const char *reference)
{
    sdc_image a = {0}, b = {0};
    double v = -1;
    if (sdc_image_read(ctx, path, 3, &a, NULL) == SDC_STATUS_OK &&
        sdc_image_read(ctx, reference, 3, &b, NULL) == SDC_STATUS_OK)
        v = psnr(&a, &b);
    else
        CHECK_MSG(false, "cannot read %s or %s: %s", path, reference, sdc_context_errmsg(ctx));
    sdc_image_free(ctx, &a);
    sdc_image_free(ctx, &b);
    return v;
}

/* ---------------------------------------------------------------------------------------- */

static void test_help(void)
{
    result r = run("--help");
    CHECK_EQ_INT(r.code, 0);
    CHECK_CONTAINS(r.out, "usage: sdc generate");
    CHECK_CONTAINS(r.out, "--steps N                denoising steps (default 50)");
    CHECK_CONTAINS(r.out, "(default 7.5)");
    CHECK_CONTAINS(r.out, "(default 0.5)");
    CHECK_CONTAINS(r.out, "--rng numpy|torch|philox");
    size_t n = sdc_scheduler_list(0, NULL, NULL, NULL);
    CHECK(n >= 10);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *cls = NULL, *desc = NULL;
        sdc_scheduler_list(i, &name, &cls, &desc);
        char line[512];
        snprintf(line, sizeof line, "  %-19s %s\n", name, desc);
        CHECK_CONTAINS(r.out, line);
        CHECK_CONTAINS(r.out, cls);
    }
    result_free(&r);

    r = run("");
    CHECK_EQ_INT(r.code, 2);
    CHECK_CONTAINS(r.err, "which model?");
    result_free(&r);

    /* listed by the top-level help */
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --help", SDC_CLI_PATH);
    CHECK_EQ_INT(test_capture(cmd, &out), 0);
    CHECK_CONTAINS(out, "  generate ");
    free(out);
}

/* With nothing but prompt, negative prompt, seed, steps and size, the CLI's defaults (numpy
 * noise, guidance 7.5, the model's PNDM) give diffusers' image. */
static void test_defaults_reproduce_diffusers(void)
{
    const char *dir = out_dir("defaults");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '%s' '" ASTRO "' --negative-prompt '" NEGATIVE "' --seed 1 --steps 4 "
             "--width 64 --height 64 --disable-safety --output-dir '%s'",
             SD1, dir);
    result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    const char *file = path_in(dir, "a_photo_of_an_astronaut_riding_a_horse_on_mars.1.final.png");
    CHECK(exists(file));
    char line[8300];
    snprintf(line, sizeof line, "%s\n", file);
    CHECK_EQ_STR(r.out, line);
    CHECK_EQ_INT(count_files(dir, ""), 1); /* no temporary file left behind */
    double db = psnr_against(file, PIPES "/sd1_txt2img/numpy_0.png");
    CHECK_MSG(db >= 60, "sd1_txt2img numpy through the CLI: PSNR %.2f dB", db);

    char *params = png_parameters(file, NULL);
    if (params) {
        CHECK(strncmp(params, ASTRO "\n", strlen(ASTRO) + 1) == 0);
        CHECK_CONTAINS(params, "Negative prompt: " NEGATIVE);
        CHECK_CONTAINS(params, "Steps: 4");
        CHECK_CONTAINS(params, "Seed: 1");
        CHECK_CONTAINS(params, "CFG scale: 7.5");
        CHECK_CONTAINS(params, "Size: 64x64");
    }
    free(params);
    result_free(&r);
}

/* Image count 2: Apple's <prompt>.<i>.<seed>.final.png, both images of diffusers' batch. */
static void test_image_count_two(void)
{
    const char *dir = out_dir("batch2");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '%s' 'a cat sitting on a red sofa' --seed 2 --steps 3 --guidance-scale 5 "
             "--width 96 --height 64 --image-count 2 --disable-safety --output-dir '%s'",
             SD1, dir);
    result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    for (int i = 0; i < 2; i++) {
        char name[256], ref[4096];
        snprintf(name, sizeof name, "a_cat_sitting_on_a_red_sofa.%d.2.final.png", i);
        snprintf(ref, sizeof ref, PIPES "/sd1_txt2img_batch2/numpy_%d.png", i);
        const char *file = path_in(dir, name);
        CHECK_MSG(exists(file), "%s written", file);
        CHECK_CONTAINS(r.out, file);
        double db = psnr_against(file, ref);
        CHECK_MSG(db >= 60, "sd1_txt2img_batch2 image %d through the CLI: PSNR %.2f dB", i, db);
    }
    CHECK_EQ_INT(count_files(dir, ""), 2);
    result_free(&r);
}

/* Image to image: strength 0.6 in the name, the image's own 96x64 size as diffusers uses it. */
static void test_img2img(void)
{
    const char *dir = out_dir("img2img");
    const char *prompt = "A watercolor painting of a castle on a hill, at sunset; highly "
                         "detailed (4k)";
    char args[8192];
    snprintf(args, sizeof args,
             "-m '%s' '%s' --negative-prompt '" NEGATIVE "' --seed 6 --steps 5 --image '%s' "
             "--strength 0.6 --disable-safety --output-dir '%s'",
             SD1, prompt, IMAGE, dir);
    result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    /* 76 characters: Apple's 75-character cut drops the ")" */
    const char *file = path_in(dir, "A_watercolor_painting_of_a_castle_on_a_hill,_at_sunset;"
                                    "_highly_detailed_(4k.str60.6.final.png");
    CHECK_MSG(exists(file), "%s written (stdout: %s)", file, r.out);
    double db = psnr_against(file, PIPES "/sd1_img2img/numpy_0.png");
    CHECK_MSG(db >= 60, "sd1_img2img numpy through the CLI: PSNR %.2f dB", db);
    result_free(&r);
}

/* Inpainting with a 9-channel inpainting UNet and with an ordinary model: --image and --mask
 * reach the library (the mask's white repainted), strength 1.0 and 0.75 in the names. */
static void test_inpainting(void)
{
    static const struct {
        const char *model, *extra, *name, *reference;
    } cases[] = {
        {MODELS "/sd1-inpaint-tiny", "--seed 7 --strength 1 --negative-prompt '" NEGATIVE "'",
         "a_cat_sitting_on_a_red_sofa.str100.7.final.png", PIPES "/sd1_inpaint_9ch/numpy_0.png"},
        {SD1, "--seed 8 --strength 0.75 --rng torch",
         "a_cat_sitting_on_a_red_sofa.str75.8.final.png", PIPES "/sd1_inpaint_4ch/torch_0.png"},
    };
    for (size_t k = 0; k < 2; k++) {
        const char *dir = out_dir("inpaint");
        char args[8192];
        snprintf(args, sizeof args,
                 "-m '%s' 'a cat sitting on a red sofa' %s --steps 4 --image '%s' --mask '%s' "
                 "--disable-safety --output-dir '%s'",
                 cases[k].model, cases[k].extra, IMAGE, MASK, dir);
        result r = run(args);
        CHECK_EQ_INT(r.code, 0);
        const char *file = path_in(dir, cases[k].name);
        CHECK_MSG(exists(file), "%s written (stdout: %s, stderr: %s)", file, r.out, r.err);
        double db = psnr_against(file, cases[k].reference);
        CHECK_MSG(db >= 60, "%s through the CLI: PSNR %.2f dB", cases[k].reference, db);
        result_free(&r);
    }
}

/* Every option reaches the library: the CLI's files equal an API run with the same
 * parameters, pixels and "parameters" chunk alike. */
static void test_options_match_the_api(void)
{
    const char *dir = out_dir("options");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '%s' 'a red fox in the snow' --negative-prompt 'dark' --seed 7 --rng torch "
             "--steps 3 --guidance-scale 5.5 --scheduler euler_a --width 96 --height 64 "
             "--clip-skip 2 --image-count 2 --threads 2 --reduce-memory --disable-safety "
             "--quiet --output-dir '%s/nested/folder'",
             SD1, dir);
    result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_STR(r.err, "");

    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    CHECK(sdc_model_open(ctx, SD1, NULL, &model) == SDC_STATUS_OK);
    CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a red fox in the snow";
    p.negative_prompt = "dark";
    p.seed = 7;
    p.rng = SDC_RNG_SOURCE_TORCH;
    p.steps = 3;
    p.guidance_scale = 5.5f;
    p.scheduler = "euler_a";
    p.width = 96;
    p.height = 64;
    p.clip_skip = 2;
    p.image_count = 2;
    p.disable_safety_checker = 1;
    if (gen && sdc_generation_run(gen, &p) == SDC_STATUS_OK) {
        CHECK_EQ_INT(sdc_generation_image_count(gen), 2);
        for (size_t i = 0; i < 2; i++) {
            char name[256], sub[4096];
            snprintf(sub, sizeof sub, "%s/nested/folder", dir);
            snprintf(name, sizeof name, "a_red_fox_in_the_snow.%zu.7.final.png", i);
            sdc_image img = {0};
            char *params = png_parameters(path_in(sub, name), &img);
            CHECK_EQ_STR(params, sdc_generation_parameters_text(gen, i));
            double db = psnr(&img, sdc_generation_image(gen, i));
            CHECK_MSG(isinf(db), "CLI image %zu equals the API's (PSNR %.2f dB)", i, db);
            free(params);
            sdc_image_free(ctx, &img);
        }
    } else {
        CHECK_MSG(false, "API run: %s", gen ? sdc_generation_errmsg(gen) : "no generation");
    }
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    result_free(&r);
}

/* File names: the first 75 characters (not bytes), unsafe characters as '_', at most 150
 * bytes, no hidden files, "image" for an empty prompt; a random seed is printed and used. */
static void test_file_names(void)
{
    static const struct {
        const char *prompt; /* shell-quoted */
        const char *stem;
    } cases[] = {
        {"'Crème brûlée/日本の猫: \"q\" *s*? <t>|p\\b\tz "
         "01234567890123456789012345678901234567890123456789012345678901234567890123456789'",
         "Crème_brûlée_日本の猫___q___s____t__p_b_z_"
         "0123456789012345678901234567890123456"},
        {"'.hidden  file'", "_hidden__file"},
        {"''", "image"},
        /* 40 four-byte characters: 37 fit in 150 bytes */
        {"'🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂"
         "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂'",
         "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂"
         "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *dir = out_dir("names");
        char args[8192];
        snprintf(args, sizeof args,
                 "-m '%s' --steps 1 --width 64 --height 64 --disable-safety --output-dir '%s' "
                 "-- %s",
                 SD1, dir, cases[k].prompt);
        result r = run(args);
        CHECK_EQ_INT(r.code, 0);
        unsigned long long seed = 0;
        const char *s = strstr(r.err, "sdc generate: seed ");
        CHECK_MSG(s && sscanf(s, "sdc generate: seed %llu", &seed) == 1,
                  "the random seed is printed: %s", r.err);
        CHECK(seed <= 0xffffffffull);
        char name[512];
        snprintf(name, sizeof name, "%s.%llu.final.png", cases[k].stem, seed);
        CHECK_MSG(exists(path_in(dir, name)), "%s written (stdout: %s)", name, r.out);
        CHECK_EQ_INT(count_files(dir, ""), 1);
        result_free(&r);
    }
}

static const sdc_json *json_line(const char *line, size_t len, sdc_json_doc **doc)
{
    *doc = NULL;
    if (sdc_json_parse(ctx, line, len, "sdc generate --json line", doc) != SDC_STATUS_OK) {
        CHECK_MSG(false, "not JSON: %.*s (%s)", (int)len, line, sdc_context_errmsg(ctx));
        return NULL;
    }
    return (*doc)->root;
}

/* --json: one object per line, a step event per model call with rising steps, previews with
 * --save-every, and a done event naming the files and the seed. */
static void test_json_and_previews(void)
{
    const char *dir = out_dir("json");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '%s' 'a cat' --seed 11 --steps 3 --width 64 --height 64 --disable-safety "
             "--save-every 1 --json --output-dir '%s'",
             SD1, dir);
    result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    int steps = 0, total = -1, previews = 0;
    bool done = false;
    for (const char *line = r.out; *line;) {
        const char *end = strchr(line, '\n');
        CHECK_MSG(end != NULL, "every JSON line ends with a newline");
        if (!end)
            break;
        sdc_json_doc *doc;
        const sdc_json *o = json_line(line, (size_t)(end - line), &doc);
        const sdc_json *ev = o ? sdc_json_get_type(o, "event", SDC_JSON_TYPE_STRING) : NULL;
        CHECK(ev != NULL);
        if (ev && strcmp(ev->u.string.chars, "step") == 0) {
            const sdc_json *st = sdc_json_get_type(o, "step", SDC_JSON_TYPE_NUMBER);
            const sdc_json *tot = sdc_json_get_type(o, "total", SDC_JSON_TYPE_NUMBER);
            const sdc_json *el = sdc_json_get_type(o, "elapsed_s", SDC_JSON_TYPE_NUMBER);
            const sdc_json *pv = sdc_json_get_type(o, "preview", SDC_JSON_TYPE_STRING);
            CHECK(st && tot && el && !done);
            if (st && tot && el) {
                CHECK_EQ_INT(st->u.number.int_value, steps + 1);
                CHECK(total < 0 || tot->u.number.int_value == total);
                CHECK(el->u.number.value >= 0);
                steps = (int)st->u.number.int_value;
                total = (int)tot->u.number.int_value;
            }
            CHECK_MSG(pv != NULL, "step %d has a preview", steps);
            if (pv) {
                char name[64];
                snprintf(name, sizeof name, "a_cat.11.step%d.png", steps);
                CHECK_EQ_STR(pv->u.string.chars, path_in(dir, name));
                sdc_image img = {0};
                CHECK(sdc_image_read(ctx, pv->u.string.chars, 0, &img, NULL) == SDC_STATUS_OK);
                CHECK(img.width == 8 && img.height == 8);
                sdc_image_free(ctx, &img);
                previews++;
            }
        } else if (ev && strcmp(ev->u.string.chars, "done") == 0) {
            const sdc_json *files = sdc_json_get_type(o, "files", SDC_JSON_TYPE_ARRAY);
            const sdc_json *seed = sdc_json_get_type(o, "seed", SDC_JSON_TYPE_NUMBER);
            const sdc_json *nsfw = sdc_json_get_type(o, "nsfw", SDC_JSON_TYPE_ARRAY);
            CHECK(files && seed && nsfw);
            if (files && seed && nsfw) {
                CHECK_EQ_INT(files->u.array.count, 1);
                CHECK_EQ_INT(seed->u.number.int_value, 11);
                CHECK_EQ_INT(nsfw->u.array.count, 1);
                if (files->u.array.count == 1)
                    CHECK_EQ_STR(files->u.array.items[0]->u.string.chars,
                                 path_in(dir, "a_cat.11.final.png"));
            }
            done = true;
        } else {
            CHECK_MSG(false, "unexpected event in: %.*s", (int)(end - line), line);
        }
        sdc_json_free(doc);
        line = end + 1;
    }
    CHECK(done);
    CHECK(steps >= 3 && steps == total);
    CHECK_EQ_INT(previews, steps);
    CHECK_EQ_INT(count_files(dir, ".final.png"), 1);
    CHECK_EQ_INT(count_files(dir, ".png"), 1 + steps);
    result_free(&r);

    /* a failure is an "error" event too */
    dir = out_dir("json-error");
    snprintf(args, sizeof args,
             "-m '%s' 'a cat' --seed 11 --steps 1 --scheduler no-such-sampler --json "
             "--output-dir '%s'",
             SD1, dir);
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    sdc_json_doc *doc = NULL;
    const sdc_json *o = json_line(r.out, strlen(r.out), &doc);
    const sdc_json *ev = o ? sdc_json_get_type(o, "event", SDC_JSON_TYPE_STRING) : NULL;
    const sdc_json *msg = o ? sdc_json_get_type(o, "message", SDC_JSON_TYPE_STRING) : NULL;
    CHECK(ev && strcmp(ev->u.string.chars, "error") == 0);
    CHECK(msg && strstr(msg->u.string.chars, "no-such-sampler"));
    sdc_json_free(doc);
    CHECK_EQ_INT(count_files(dir, ".png"), 0);
    result_free(&r);
}

/* The safety checker: the CLI reports exactly what the library flags (the recorded flagged
 * and clean runs), with a warning naming the file, the image written black, and "nsfw" in the
 * JSON; whether the library's verdict is right is the pipeline tests' business. */
static void test_safety_checker(void)
{
    static const struct {
        const char *prompt;
        uint64_t seed;
    } cases[] = {{ASTRO, 15}, {"a cat sitting on a red sofa", 16}};
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    CHECK(sdc_model_open(ctx, SD1, NULL, &model) == SDC_STATUS_OK);
    CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    for (size_t k = 0; k < 2 && gen; k++) {
        const char *dir = out_dir("safety");
        char args[8192];
        snprintf(args, sizeof args,
                 "-m '%s' '%s' --negative-prompt '" NEGATIVE "' --seed %llu --steps 3 "
                 "--width 64 --height 64 --json --output-dir '%s'",
                 SD1, cases[k].prompt, (unsigned long long)cases[k].seed, dir);
        result r = run(args);
        CHECK_EQ_INT(r.code, 0);

        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = cases[k].prompt;
        p.negative_prompt = NEGATIVE;
        p.seed = cases[k].seed;
        p.steps = 3;
        p.width = p.height = 64;
        CHECK(sdc_generation_run(gen, &p) == SDC_STATUS_OK);
        bool flagged = sdc_generation_nsfw(gen, 0) != 0;

        char name[256], warning[8300];
        snprintf(name, sizeof name, "%s.%llu.final.png", cases[k].prompt,
                 (unsigned long long)cases[k].seed);
        for (char *c = name; *c; c++)
            *c = *c == ' ' ? '_' : *c;
        const char *file = path_in(dir, name);
        snprintf(warning, sizeof warning, "sdc generate: warning: the safety checker flagged %s",
                 file);
        CHECK_MSG((strstr(r.err, warning) != NULL) == flagged,
                  "seed %llu: library flagged %d, CLI stderr: %s",
                  (unsigned long long)cases[k].seed, flagged, r.err);
        CHECK_CONTAINS(r.out, flagged ? "\"nsfw\":[true]" : "\"nsfw\":[false]");
        sdc_image img = {0};
        if (sdc_image_read(ctx, file, 3, &img, NULL) == SDC_STATUS_OK) {
            double db = psnr(&img, sdc_generation_image(gen, 0));
            CHECK_MSG(isinf(db), "the CLI's image is the API's (PSNR %.2f dB)", db);
            size_t n = (size_t)img.width * img.height * 3, lit = 0;
            for (size_t i = 0; i < n; i++)
                lit += img.pixels[i] != 0;
            CHECK(flagged ? lit == 0 : lit > 0);
        } else {
            CHECK_MSG(false, "%s written: %s", file, sdc_context_errmsg(ctx));
        }
        sdc_image_free(ctx, &img);
        result_free(&r);
    }
    sdc_generation_destroy(gen);
    sdc_model_close(model);
}

/* Starts `sdc generate` with argv (NULL-terminated, after "generate"), stdout to a pipe whose
 * read end is returned in *out_fd and stderr to err_fd. */
static pid_t spawn(const char *const *args, int *out_fd, int err_fd)
{
    const char *argv[64] = {SDC_CLI_PATH, "generate"};
    int n = 2;
    for (; args[n - 2] && n < 63; n++)
        argv[n] = args[n - 2];
    argv[n] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(SDC_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Reads fd to its end, keeping at most size - 1 bytes; returns the byte count kept. */
static size_t drain(int fd, char *buf, size_t size)
{
    size_t n = 0;
    char scratch[4096];
    for (;;) {
        ssize_t got = read(fd, scratch, sizeof scratch);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) /* EOF, or EIO from a terminal whose other end is closed */
            break;
        size_t keep = (size_t)got < size - 1 - n ? (size_t)got : size - 1 - n;
        memcpy(buf + n, scratch, keep);
        n += keep;
    }
    buf[n] = '\0';
    return n;
}

/* Ctrl-C after the first step: the run stops, no final image, exit status 130. */
static void test_ctrl_c(void)
{
    const char *dir = out_dir("ctrl-c");
    const char *err_path = test_tmp_path("ctrl-c-stderr.txt");
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(err_fd >= 0);
    const char *args[] = {
        "-m",      SD1,  "a cat",    "--seed", "3",      "--steps",          "200",
        "--width", "64", "--height", "64",     "--json", "--disable-safety", "--output-dir",
        dir,       NULL};
    int out_fd = -1;
    pid_t pid = spawn(args, &out_fd, err_fd);
    close(err_fd);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    char first[256];
    size_t n = 0;
    while (n + 1 < sizeof first && read(out_fd, first + n, 1) == 1 && first[n] != '\n')
        n++;
    first[n] = '\0';
    CHECK_CONTAINS(first, "{\"event\":\"step\",\"step\":1,");
    kill(pid, SIGINT);
    char rest[65536];
    drain(out_fd, rest, sizeof rest);
    close(out_fd);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 130, "exit status %d (signal %d)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK_CONTAINS(rest, "{\"event\":\"cancelled\"");
    CHECK(strstr(rest, "\"done\"") == NULL);
    char *err = read_text(err_path);
    CHECK_CONTAINS(err, "interrupted after step");
    CHECK_CONTAINS(err, "no image written");
    free(err);
    CHECK_EQ_INT(count_files(dir, ".png"), 0);
    CHECK_EQ_INT(count_files(dir, ".tmp"), 0);
}

/* On a terminal stderr gets a bar redrawn in place: step/total, rate and time left. */
static void test_progress_bar_on_a_terminal(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    const char *slave_name = master >= 0 ? ptsname(master) : NULL;
    int slave = slave_name ? open(slave_name, O_RDWR | O_NOCTTY) : -1;
    CHECK(slave >= 0);
    if (slave < 0) {
        if (master >= 0)
            close(master);
        return;
    }
    const char *dir = out_dir("tty");
    const char *args[] = {"-m",
                          SD1,
                          "a cat",
                          "--seed",
                          "4",
                          "--steps",
                          "3",
                          "--width",
                          "64",
                          "--height",
                          "64",
                          "--disable-safety",
                          "--output-dir",
                          dir,
                          NULL};
    int out_fd = -1;
    pid_t pid = spawn(args, &out_fd, slave);
    close(slave);
    char out[4096];
    drain(out_fd, out, sizeof out);
    close(out_fd);
    int status = 0;
    waitpid(pid, &status, 0);
    char screen[65536];
    drain(master, screen, sizeof screen);
    close(master);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_CONTAINS(screen, "\rstep 1/");
    CHECK_CONTAINS(screen, "] 100%");
    CHECK_CONTAINS(screen, "ETA ");
    CHECK(strstr(screen, "it/s") || strstr(screen, "s/it"));
    CHECK_CONTAINS(screen, "\033[K");
    CHECK_CONTAINS(out, "a_cat.4.final.png\n");
}

/* SDXL base + refiner and ControlNets through the CLI give the fixtures' images. */
static void test_sdxl_and_controlnets(void)
{
    static const struct {
        const char *args, *file, *reference;
    } runs[] = {
        {"-m '" SDXL "' --refiner '" REFINER "' --refiner-start 0.6 '" ASTRO "' --seed 11 "
         "--steps 5 --guidance-scale 5 --width 64 --height 64",
         ASTRO, PIPES "/sdxl_base_refiner/numpy_0.png"},
        {"-m '" SD1 "' --controlnet '" CN_SD1 "' --control-image '" SHAPES "' "
         "'a cat sitting on a red sofa' --negative-prompt '" NEGATIVE "' --seed 12 --steps 3",
         "a cat sitting on a red sofa", PIPES "/sd1_controlnet/numpy_0.png"},
        {"-m '" SD1 "' --controlnet '" CN_SD1 "' --control-image '" SHAPES "' --controlnet '" CN_SD1
         "' --control-image '" STRIPES "' --control-scale 0.5 'a cat sitting on a red sofa' "
         "--negative-prompt '" NEGATIVE "' --seed 13 --steps 3",
         "a cat sitting on a red sofa", PIPES "/sd1_controlnet_multi/numpy_0.png"},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        const char *dir = out_dir("sdxl");
        char args[8192], name[512];
        snprintf(args, sizeof args, "%s --disable-safety -q --output-dir '%s'", runs[k].args, dir);
        result r = run(args);
        CHECK_MSG(r.code == 0, "sdc generate %s: %s", args, r.err);
        snprintf(name, sizeof name, "%s.%d.final.png", runs[k].file, k == 0 ? 11 : 12 + (int)k - 1);
        for (char *c = name; *c; c++)
            *c = *c == ' ' ? '_' : *c;
        const char *file = path_in(dir, name);
        CHECK_MSG(exists(file), "%s not written", file);
        if (exists(file)) {
            double db = psnr_against(file, runs[k].reference);
            CHECK_MSG(db >= 60, "%s: PSNR %.2f dB", runs[k].reference, db);
        }
        if (k == 0 && exists(file)) {
            char *params = png_parameters(file, NULL);
            if (params)
                CHECK_CONTAINS(params, "Refiner: sdxl-refiner-tiny, Refiner switch at: 0.6");
            free(params);
        }
        result_free(&r);
    }
    /* a photo made into Canny edges first: an image, unlike the photo given as it is */
    const char *dir = out_dir("canny");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '" SD1 "' --controlnet '" CN_SD1 "' --control-image '" IMAGE "' "
             "--control-preprocess canny:50:150 --control-start 0 --control-end 0.5 'a cat' "
             "--seed 5 --steps 2 --disable-safety -q --output-dir '%s'",
             dir);
    result r = run(args);
    CHECK_MSG(r.code == 0, "canny: %s", r.err);
    CHECK_EQ_INT(count_files(dir, ".final.png"), 1);
    const char *canny_file = path_in(dir, "a_cat.5.final.png");
    sdc_image a = {0};
    CHECK(sdc_image_read(ctx, canny_file, 3, &a, NULL) == SDC_STATUS_OK);
    CHECK_EQ_INT(a.width, 96); /* the control image's size */
    CHECK_EQ_INT(a.height, 64);
    result_free(&r);
    dir = out_dir("canny-not");
    snprintf(args, sizeof args,
             "-m '" SD1 "' --controlnet '" CN_SD1 "' --control-image '" IMAGE "' "
             "--control-start 0 --control-end 0.5 'a cat' --seed 5 --steps 2 --disable-safety -q "
             "--output-dir '%s'",
             dir);
    r = run(args);
    sdc_image b = {0};
    CHECK(r.code == 0 &&
          sdc_image_read(ctx, path_in(dir, "a_cat.5.final.png"), 3, &b, NULL) == SDC_STATUS_OK);
    CHECK_MSG(a.pixels && b.pixels && psnr(&a, &b) < 60, "the Canny preprocessing did nothing");
    sdc_image_free(ctx, &a);
    sdc_image_free(ctx, &b);
    result_free(&r);
}

/* The first line of a run's stdout (the first image written), or "". */
static const char *first_line(const result *r)
{
    static char line[4096];
    size_t n = strcspn(r->out, "\n");
    snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), r->out);
    return line;
}

/* The SDXL and ControlNet options reach the library as diffusers reads them: --original-size
 * and --target-size WxH and --crops-coords-top-left TOP,LEFT (diffusers' (height, width) and
 * (top, left)) with two images and the VAE read from a single file's first_stage_model, the
 * refiner alone on an image with --aesthetic-score / --negative-aesthetic-score, an SDXL
 * ControlNet with --control-scale and torch noise, and image to image with a ControlNet
 * acting from --control-start to --control-end reproduce their fixtures. */
static void test_sdxl_options(void)
{
    static const struct {
        const char *args, *reference[2];
    } runs[] = {
        {"-m '" SDXL "' 'a cat sitting on a red sofa' --negative-prompt '" NEGATIVE "' --seed 17 "
         "--steps 3 --guidance-scale 6 --width 64 --height 64 --image-count 2 "
         "--original-size 128x96 --crops-coords-top-left 8,16 --target-size 96x64 "
         "--vae '" MODELS "/sdxl-tiny.safetensors'",
         {PIPES "/sdxl_txt2img_batch2/numpy_0.png", PIPES "/sdxl_txt2img_batch2/numpy_1.png"}},
        {"-m '" REFINER "' '" CASTLE "' --negative-prompt '" NEGATIVE "' --image '" IMAGE "' "
         "--strength 0.6 --seed 18 --steps 5 --guidance-scale 5 --aesthetic-score 7.5 "
         "--negative-aesthetic-score 1.5",
         {PIPES "/sdxl_refiner_img2img/numpy_0.png", NULL}},
        {"-m '" SDXL "' '" ASTRO "' --negative-prompt '" NEGATIVE "' --controlnet '" CN_SDXL
         "' --control-image '" SHAPES "' --control-scale 0.8 --seed 14 --steps 3 "
         "--guidance-scale 5 --width 64 --height 64 --rng torch",
         {PIPES "/sdxl_controlnet/torch_0.png", NULL}},
        {"-m '" SD1 "' '" CASTLE "' --negative-prompt '" NEGATIVE "' --image '" IMAGE "' "
         "--strength 0.75 --controlnet '" CN_SD1 "' --control-image '" SHAPES "' "
         "--control-scale 0.9 --control-start 0.3 --control-end 0.75 --seed 19 --steps 4",
         {PIPES "/sd1_controlnet_img2img/numpy_0.png", NULL}},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        const char *dir = out_dir("sdxl-options");
        char args[8192];
        snprintf(args, sizeof args, "%s --disable-safety -q --output-dir '%s'", runs[k].args, dir);
        result r = run(args);
        CHECK_MSG(r.code == 0, "sdc generate %s: %s", args, r.err);
        int n = runs[k].reference[1] ? 2 : 1;
        CHECK_EQ_INT(count_files(dir, ".final.png"), n);
        const char *out = r.out;
        for (int i = 0; i < n && r.code == 0; i++) {
            char file[4096];
            size_t len = strcspn(out, "\n");
            snprintf(file, sizeof file, "%.*s", (int)len, out);
            out += len + (out[len] == '\n');
            double db = psnr_against(file, runs[k].reference[i]);
            CHECK_MSG(db >= 60, "%s through the CLI: PSNR %.2f dB", runs[k].reference[i], db);
        }
        result_free(&r);
    }

    /* --vae (another VAE folder, with its own scaling factor) and the ControlNet's scale and
     * steps reach the library: the CLI's image equals the API's with the same parameters, and
     * differs from the one with the model's own VAE. */
    const char *dir = out_dir("sdxl-vae");
    char args[8192];
    snprintf(args, sizeof args,
             "-m '" SDXL "' 'a cat' --seed 3 --steps 3 --width 64 --height 64 --vae '" SD1
             "/vae' --controlnet '" CN_SDXL "' --control-image '" STRIPES "' --control-scale 0.7 "
             "--control-start 0.3 --control-end 0.9 --disable-safety -q --output-dir '%s'",
             dir);
    result r = run(args);
    CHECK_MSG(r.code == 0, "sdc generate %s: %s", args, r.err);
    sdc_image cli = {0}, stripes = {0};
    CHECK(sdc_image_read(ctx, first_line(&r), 3, &cli, NULL) == SDC_STATUS_OK);
    CHECK(sdc_image_read(ctx, STRIPES, 3, &stripes, NULL) == SDC_STATUS_OK);
    sdc_model *net = NULL;
    CHECK(sdc_model_open(ctx, CN_SDXL, NULL, &net) == SDC_STATUS_OK);
    for (int own_vae = 0; own_vae < 2; own_vae++) {
        sdc_model_params mp = sdc_model_default_params();
        mp.vae = own_vae ? NULL : SD1 "/vae";
        sdc_model *model = NULL;
        sdc_generation *gen = NULL;
        CHECK(sdc_model_open(ctx, SDXL, &mp, &model) == SDC_STATUS_OK);
        CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
        sdc_control c = sdc_control_default();
        c.controlnet = net;
        c.image = &stripes;
        c.scale = 0.7f;
        c.start = 0.3f;
        c.end = 0.9f;
        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = "a cat";
        p.seed = 3;
        p.steps = 3;
        p.width = p.height = 64;
        p.controls = &c;
        p.n_controls = 1;
        p.disable_safety_checker = 1;
        if (gen && net && cli.pixels && sdc_generation_run(gen, &p) == SDC_STATUS_OK) {
            double db = psnr(&cli, sdc_generation_image(gen, 0));
            if (own_vae)
                CHECK_MSG(db < 30, "--vae made no difference (PSNR %.2f dB)", db);
            else
                CHECK_MSG(isinf(db), "the CLI's image equals the API's (PSNR %.2f dB)", db);
        } else {
            CHECK_MSG(false, "API run: %s", gen ? sdc_generation_errmsg(gen) : "no generation");
        }
        sdc_generation_destroy(gen);
        sdc_model_close(model);
    }
    sdc_model_close(net);
    sdc_image_free(ctx, &cli);
    sdc_image_free(ctx, &stripes);
    result_free(&r);
}

/* Bad input: each fails with its exit status and a one-line message naming the thing, and
 * leaves no image behind. */
static void test_bad_input(void)
{
    const char *junk_dir = out_dir("junk");
    CHECK(mkdir(junk_dir, 0777) == 0);
    char garbage[4096], empty_dir[4096], not_dir[4096];
    snprintf(garbage, sizeof garbage, "%s/garbage.safetensors", junk_dir);
    snprintf(empty_dir, sizeof empty_dir, "%s/empty-model", junk_dir);
    snprintf(not_dir, sizeof not_dir, "%s/a-file", junk_dir);
    FILE *f = fopen(garbage, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", f);
        fclose(f);
    }
    f = fopen(not_dir, "wb");
    if (f)
        fclose(f);
    CHECK(mkdir(empty_dir, 0777) == 0);

    const struct {
        const char *args;
        int code;
        const char *message;
    } cases[] = {
        {"-m /nonexistent/model 'a cat'", 1, "/nonexistent/model"},
        {"-m '%G' 'a cat'", 1, "garbage.safetensors"},
        {"-m '%E' 'a cat'", 1, "empty-model"},
        {"-m '%M' 'a cat' --width 65", 2, "--width takes a multiple of 8"},
        {"-m '%M' 'a cat' --height 0", 2, "--height takes a multiple of 8"},
        {"-m '%M' 'a cat' --image '" IMAGE "' --strength 1.5", 2,
         "--strength takes a number from 0 to 1, not '1.5'"},
        {"-m '%M' 'a cat' --image '" IMAGE "' --strength -0.1", 2, "--strength"},
        {"-m '%M' 'a cat' --strength 0.5", 2, "--strength goes with --image"},
        {"-m '%M' 'a cat' --mask '" MASK "'", 2, "--mask goes with --image"},
        {"-m '%M' 'a cat' --image '" IMAGE "' --mask '" MASK_64 "'", 1,
         "the mask is 64x64 but the image"},
        {"-m '%M' 'a cat' --scheduler no-such-sampler --steps 1", 1, "no-such-sampler"},
        {"-m '%M' 'a cat' --image '%G'", 1, "garbage.safetensors"},
        {"-m '%M' 'a cat' --image /nonexistent/image.png", 1, "/nonexistent/image.png"},
        {"-m '%M' 'a cat' --bogus", 2, "unknown option '--bogus'"},
        {"-m '%M' 'a cat' --steps", 2, "missing value after --steps"},
        {"-m '%M' 'a cat' --seed --json", 2, "missing value after --seed"},
        {"-m '%M' 'a cat' --steps 12abc", 2,
         "--steps takes a whole number from 1 to 10000, "
         "not '12abc'"},
        {"-m '%M' 'a cat' --steps 0", 2, "--steps"},
        {"-m '%M' 'a cat' --guidance-scale 7.5x", 2, "--guidance-scale"},
        {"-m '%M' 'a cat' --guidance-scale nan", 2, "--guidance-scale"},
        {"-m '%M' 'a cat' --seed 0x10", 2, "--seed"},
        {"-m '%M' 'a cat' --seed 4294967296", 2, "too large for numpy noise"},
        {"-m '%M' 'a cat' --rng mt19937", 2, "--rng takes numpy, torch or philox"},
        {"-m '%M' 'a cat' --image-count two", 2, "--image-count"},
        {"-m '%M' 'a cat' --prediction-type x0", 2, "--prediction-type"},
        {"-m '%M' 'a cat' --threads -1", 2, "--threads"},
        {"-m '%M'", 2, "no prompt given"},
        /* no -m: $SDC_MODEL (set below for every case) names the model */
        {"'a cat'", 1, "/nonexistent/sdc-model-env"},
        {"-m '%M' 'a cat' --steps 1 --output-dir '%F/sub'", 1, "a-file"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "' --control-image /nonexistent/control.png", 1,
         "/nonexistent/control.png"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "' --control-image '%G'", 1,
         "garbage.safetensors"},
        {"-m '%M' 'a cat' --control-image '" SHAPES "'", 2, "give --controlnet MODEL before it"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "'", 2, "has no --control-image"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "' --control-image '" SHAPES "' "
         "--control-preprocess sobel",
         2, "--control-preprocess takes canny"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "' --control-image '" SHAPES "' "
         "--control-start 0.7 --control-end 0.2",
         2, "--control-start 0.7 must be below"},
        {"-m '%M' 'a cat' --controlnet '%M' --control-image '" SHAPES "'", 1, "not a ControlNet"},
        {"-m '" SDXL "' 'a cat' --steps 1 --controlnet '" CN_SD1 "' --control-image '" SHAPES "'",
         1, "is an SD 1.x ControlNet but"},
        {"-m '%M' 'a cat' --steps 1 --controlnet '" CN_SDXL "' --control-image '" SHAPES "'", 1,
         "is an SDXL ControlNet but"},
        {"-m '%M' 'a cat' --controlnet '" CN_SD1 "' --control-image '" SHAPES "' "
         "--control-scale strong",
         2, "--control-scale takes a number"},
        {"-m '" REFINER "' 'a cat' --steps 1", 1, "is an SDXL refiner"},
        {"-m '" SDXL "' 'a cat' --steps 1 --refiner '%M'", 1,
         "is an SD 1.x model: expected an SDXL refiner"},
        {"-m '%M' 'a cat' --refiner-start 1.5", 2, "--refiner-start takes a fraction"},
        {"-m '%M' 'a cat' --original-size 1024", 2, "--original-size takes WIDTHxHEIGHT"},
        {"-m '%M' 'a cat' --crops-coords-top-left 5", 2, "--crops-coords-top-left takes TOP,LEFT"},
        {"-m '%M' 'a cat' --target-size 64x", 2, "--target-size takes WIDTHxHEIGHT"},
        {"-m '%M' 'a cat' --aesthetic-score high", 2, "--aesthetic-score takes a number"},
        {"-m '" SDXL "' 'a cat' --steps 1 --vae /nonexistent/vae", 1, "/nonexistent/vae"},
    };
    /* Without -m, generate takes $SDC_MODEL before the bundled demo model: a missing one is
     * named in the error, whether or not the demo model is present. */
    setenv("SDC_MODEL", "/nonexistent/sdc-model-env", 1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* %M model, %G garbage file, %E empty folder, %F a plain file */
        char a[4096];
        size_t n = 0;
        for (const char *p = cases[k].args; *p && n + 1024 < sizeof a; p++) {
            const char *sub = NULL;
            if (p[0] == '%' && p[1] == 'M')
                sub = SD1;
            else if (p[0] == '%' && p[1] == 'G')
                sub = garbage;
            else if (p[0] == '%' && p[1] == 'E')
                sub = empty_dir;
            else if (p[0] == '%' && p[1] == 'F')
                sub = not_dir;
            if (sub) {
                n += (size_t)snprintf(a + n, sizeof a - n, "%s", sub);
                p++;
            } else {
                a[n++] = *p;
            }
        }
        a[n] = '\0';
        const char *dir = out_dir("bad");
        char args[8192];
        snprintf(args, sizeof args, "%s --disable-safety --output-dir '%s'", a, dir);
        if (strstr(a, "--output-dir"))
            snprintf(args, sizeof args, "%s", a);
        result r = run(args);
        CHECK_MSG(r.code == cases[k].code, "sdc generate %s: exit status %d, expected %d", a,
                  r.code, cases[k].code);
        CHECK_MSG(strstr(r.err, cases[k].message) != NULL,
                  "sdc generate %s: the message names \"%s\": %s", a, cases[k].message, r.err);
        /* one line: the error, after at most the lines naming the default model and the
         * random seed */
        const char *msg = r.err;
        if (strncmp(msg, "sdc generate: no -m given: ", 27) == 0 && strchr(msg, '\n'))
            msg = strchr(msg, '\n') + 1;
        if (strncmp(msg, "sdc generate: seed ", 19) == 0 && strchr(msg, '\n'))
            msg = strchr(msg, '\n') + 1;
        CHECK_MSG(strncmp(msg, "sdc generate: ", 14) == 0 && strchr(msg, '\n') &&
                      strchr(msg, '\n')[1] == '\0',
                  "sdc generate %s: one line of error: %s", a, r.err);
        CHECK_EQ_STR(r.out, "");
        CHECK_EQ_INT(count_files(dir, ".png"), 0);
        result_free(&r);
    }
    unsetenv("SDC_MODEL");
}

/* Without -m and without $SDC_MODEL, generate uses the demo bundle of the source tree with its
 * own settings (20 steps, guidance 2): the same image as naming them; a --guidance-scale given
 * by the user still wins. */
static void test_demo_model_default(void)
{
    unsetenv("SDC_MODEL");
    static const char prompt[] = "'a blue square on a yellow background' --seed 7 --quiet";
    static const char file[] = "a_blue_square_on_a_yellow_background.7.final.png";
    const char *dirs[3] = {out_dir("demo_default"), out_dir("demo_named"), out_dir("demo_g75")};
    const char *extra[3] = {"", "-m '" SDC_DEMO_MODEL_DIR "/shapes.sdc' --steps 20 "
                                "--guidance-scale 2",
                            "--guidance-scale 7.5"};
    for (int i = 0; i < 3; i++) {
        char args[8192];
        snprintf(args, sizeof args, "%s %s --output-dir '%s'", extra[i], prompt, dirs[i]);
        result r = run(args);
        CHECK_MSG(r.code == 0, "sdc generate %s: exit %d: %s", args, r.code, r.err);
        CHECK_EQ_INT(count_files(dirs[i], ".final.png"), 1);
        result_free(&r);
    }
    /* --quiet hides the note; without it the demo model is named on stderr */
    result r = run("'a red circle' --steps 1 --seed 1 --output-dir '" SDC_TEST_TMP_DIR
                   "/demo_note'");
    CHECK_EQ_INT(r.code, 0);
    CHECK_CONTAINS(r.err, "no -m given: using the demo model");
    CHECK_CONTAINS(r.err, "shapes.sdc");
    result_free(&r);

    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cmp -s '%s/%s' '%s/%s'", dirs[0], file, dirs[1], file);
    CHECK_MSG(system(cmd) == 0, "the default run differs from -m demo --steps 20 --guidance 2");
    snprintf(cmd, sizeof cmd, "cmp -s '%s/%s' '%s/%s'", dirs[0], file, dirs[2], file);
    CHECK_MSG(system(cmd) != 0, "--guidance-scale 7.5 was ignored with the demo model");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    sdc_context_params cp = sdc_context_default_params();
    cp.n_threads = 2;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_help);
    RUN(test_defaults_reproduce_diffusers);
    RUN(test_image_count_two);
    RUN(test_img2img);
    RUN(test_inpainting);
    RUN(test_options_match_the_api);
    RUN(test_file_names);
    RUN(test_json_and_previews);
    RUN(test_safety_checker);
    RUN(test_ctrl_c);
    RUN(test_progress_bar_on_a_terminal);
    RUN(test_sdxl_and_controlnets);
    RUN(test_sdxl_options);
    RUN(test_bad_input);
    RUN(test_demo_model_default);
    sdc_context_destroy(ctx);
    int rc = test_finish();
    if (rc == 0) { /* keep the images of a failed run for a look */
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'*", test_tmp_path(""));
        rc = system(cmd) == 0 ? 0 : 1;
    }
    return rc;
}
