/*
 * cmd_generate.c — `sdc generate PROMPT -m MODEL`: text to image, image to image and
 * inpainting, with SDXL's refiner and ControlNets (with a built-in Canny preprocessor), through
 * the public generation API. Progress goes to stderr (a bar on a terminal,
 * plain lines otherwise) or as JSON lines to stdout; Ctrl-C cancels between steps and writes no
 * image. Files are named as Apple's ml-stable-diffusion Swift CLI (StableDiffusionSample's
 * imageName) names them and carry AUTOMATIC1111's "parameters" text chunk. Differences from
 * Apple: prompt characters unsafe in file names become '_', an empty stem becomes "image",
 * str<S> rounds strength x 100 instead of truncating it, and previews end in .step<k>.png.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { CLI_EXIT_INTERRUPTED = 130 }; /* 128 + SIGINT, as a shell reports a Ctrl-C */

#define STEM_MAX_CHARS 75  /* Apple's fileCharLimit */
#define STEM_MAX_BYTES 150 /* 75 four-byte characters would not fit NAME_MAX with the suffixes */
#define NAME_SIZE      256

#define DEFAULT_STEPS    50
#define DEFAULT_GUIDANCE 7.5
#define DEMO_STEPS       20 /* the demo model's settings, used when it is the default */
#define DEMO_GUIDANCE    2.0
#define DEFAULT_STRENGTH 0.5 /* the (and Apple's CLI) default, not the library's */
#define MAX_SIDE         16384
#define MAX_STEPS        10000
#define MAX_IMAGE_COUNT  1024
#define MAX_CONTROLS     8
#define DEFAULT_REFINER_START 0.8

static const char *const rng_names[SDC_RNG_SOURCE_COUNT] = {
    [SDC_RNG_SOURCE_NUMPY] = "numpy",
    [SDC_RNG_SOURCE_TORCH] = "torch",
    [SDC_RNG_SOURCE_PHILOX] = "philox",
};

typedef struct options {
    const char *model;
    char default_model[4096]; /* where cli_default_model puts the demo model's path */
    char *prompt; /* owned: the PROMPT words joined by spaces */
    const char *negative_prompt;
    bool has_seed;
    uint64_t seed;
    int steps;
    double guidance_scale;
    bool has_steps, has_guidance;
    const char *scheduler;
    sdc_rng_source rng;
    int width, height; /* 0 = not given */
    const char *image, *mask;
    bool has_strength;
    double strength;
    int image_count;
    const char *output_dir;
    int save_every;
    bool disable_safety, reduce_memory;
    int threads;
    int clip_skip;
    const char *prediction_type;
    bool quiet, json, verbose;
    /* SDXL: another VAE, the refiner and its switch point, the micro-conditioning */
    const char *vae;
    const char *refiner;
    double refiner_start;
    double aesthetic_score, negative_aesthetic_score;
    int original_width, original_height, target_width, target_height, crop_top, crop_left;
    /* ControlNets: each --controlnet starts one; the --control-* options after it set it up */
    int n_controls;
    struct control_option {
        const char *model, *image;
        double scale, start, end;
        bool canny;
        sdc_canny_params canny_params;
    } controls[MAX_CONTROLS];
} options;

/* How this run's files are named: "<stem>[.<index>][.str<S>].<seed>.<tail>". */
typedef struct naming {
    char stem[STEM_MAX_BYTES + 1];
    int strength_pct; /* -1 without --image */
    uint64_t seed;
    int image_count;
    const char *dir;
} naming;

/* What the progress callback needs. */
typedef struct run_state {
    const options *opt;
    const naming *names;
    sdc_context *ctx;
    bool tty;      /* stderr is a terminal: draw a bar */
    bool bar_open; /* a bar line is on screen without its newline */
    int last_step;
    int last_total;
} run_state;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Help                                                                                       */

static void help(FILE *out)
{
    fprintf(
        out,
        "usage: sdc generate -m MODEL [options] PROMPT...\n\n"
        "Generates images from a text prompt; with --image, from a starting image; with --mask\n"
        "as well, repaints the white part of the mask. Several PROMPT words are joined with\n"
        "spaces. Each image is written as a PNG named after the prompt and the seed, as Apple's\n"
        "ml-stable-diffusion command-line tool names them:\n"
        "  <prompt>.<seed>.final.png              one image\n"
        "  <prompt>.<i>.<seed>.final.png          --image-count N > 1 (i = 0 .. N-1)\n"
        "  <prompt>[.<i>].str<S>.<seed>.final.png with --image (S = strength x 100)\n"
        "where <prompt> is the prompt's first 75 characters with spaces as '_' (path separators,\n"
        "control and other unsafe characters also become '_'). Each PNG carries a \"parameters\"\n"
        "text chunk in AUTOMATIC1111's format (prompt, negative prompt, steps, sampler, CFG\n"
        "scale, seed, size, model), which other Stable Diffusion tools read.\n\n");
    fprintf(
        out,
        "options:\n"
        "  -m, --model PATH         a diffusers folder (model_index.json), a single-file\n"
        "                           .safetensors or .ckpt checkpoint, or a converted model\n"
        "                           (default: $SDC_MODEL, else sdc's demo model of coloured\n"
        "                           shapes, data/demo/shapes.sdc, with 20 steps and\n"
        "                           guidance 2 unless given)\n"
        "  --negative-prompt TEXT   what the image should not show (default: none)\n"
        "  --seed N                 the noise seed (default: random, printed on stderr); numpy\n"
        "                           noise takes 0 to 4294967295, torch and philox any 64-bit N\n"
        "  --steps N                denoising steps (default %d)\n"
        "  --guidance-scale G       classifier-free guidance scale; 1 or less turns guidance\n"
        "                           off (default %.1f)\n"
        "  --scheduler NAME         the sampler, from the list below (default: the model's own)\n"
        "  --rng numpy|torch|philox where the noise comes from, so that a seed gives the same\n"
        "                           image as there: numpy (Apple's Core ML pipeline; the\n"
        "                           default), torch (diffusers on the CPU, ComfyUI) or philox\n"
        "                           (torch on a CUDA GPU, AUTOMATIC1111's default)\n"
        "  --width W, --height H    image size in pixels, multiples of 8 (default: the model's;\n"
        "                           with --image, the image's size rounded down to multiples\n"
        "                           of 8)\n"
        "  --image FILE             starting image (PNG or JPEG): image to image\n"
        "  --strength S             with --image: how much of it is replaced by noise, from 0\n"
        "                           (kept) to 1 (replaced) (default %.1f)\n"
        "  --mask FILE              with --image: inpainting mask of the image's size; white\n"
        "                           marks what is repainted\n"
        "  --image-count N          images from one batch of noise (default 1)\n"
        "  --output-dir DIR         where the images go, created if missing (default .)\n"
        "  --save-every N           also write a fast preview every N model calls as\n"
        "                           <prompt>[.str<S>].<seed>.step<k>.png: 1/8 size, the\n"
        "                           images side by side (default 0: none)\n"
        "  --disable-safety         do not run the model's safety checker (by default a flagged\n"
        "                           image is written black, with a warning)\n"
        "  --reduce-memory          load each component just before it is needed and free it\n"
        "                           after: lower peak memory, more loading time\n"
        "  --threads N              worker threads (default 0: one per CPU)\n"
        "  --clip-skip N            text encoder layer to condition on: 1 = the last (default),\n"
        "                           2 = the one before it, ...\n"
        "  --prediction-type TYPE   epsilon or v_prediction, overriding what the model says\n"
        "                           (single-file SD 2.x 768-v checkpoints cannot say)\n"
        "  --vae PATH               another VAE instead of the model's (e.g. an fp16-safe SDXL\n"
        "                           VAE): a diffusers VAE folder or one .safetensors/.ckpt file;\n"
        "                           also used by --refiner. Every VAE computes in float32\n"
        "  -q, --quiet              no progress and no seed on stderr (errors and warnings are\n"
        "                           still written)\n"
        "  --json                   write progress to stdout as one JSON object per line:\n"
        "                           "
        "{\"event\":\"step\",\"step\":..,\"total\":..,\"elapsed_s\":..}\n"
        "                           per model call, then {\"event\":\"done\",\"files\":[..],\n"
        "                           \"seed\":..,\"nsfw\":[..]}, or {\"event\":\"cancelled\"} or\n"
        "                           {\"event\":\"error\",\"message\":..}\n"
        "  -v, --verbose            also show the model's details, timings and the library's\n"
        "                           debug log\n"
        "  -h, --help               show this help\n\n",
        DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_STRENGTH);
    fprintf(out,
        "SDXL:\n"
        "  --refiner MODEL          an SDXL refiner that takes over the last part of the\n"
        "                           denoising on the same latents (diffusers' denoising_end /\n"
        "                           denoising_start); it decodes the image. A refiner given as\n"
        "                           -m works alone on --image (image to image)\n"
        "  --refiner-start F        the fraction of the schedule after which the refiner takes\n"
        "                           over, in (0, 1) (default %.1f)\n"
        "  --aesthetic-score A      the refiner's aesthetic score for the prompt (default 6.0)\n"
        "  --negative-aesthetic-score A\n"
        "                           ... and for the negative prompt (default 2.5)\n"
        "  --original-size WxH      SDXL micro-conditioning: the size the image is to look like\n"
        "                           it came from (default: the output size)\n"
        "  --crops-coords-top-left TOP,LEFT\n"
        "                           the crop it is to look cut at (default 0,0)\n"
        "  --target-size WxH        the size it is to look made for (default: the output size)\n"
        "\n"
        "ControlNet (repeat the group for several nets; their effects add up):\n"
        "  --controlnet MODEL       a ControlNet (diffusers ControlNetModel folder) for the\n"
        "                           model's family; the --control-* options after it set it up\n"
        "  --control-image FILE     its conditioning image (edges, depth, pose, ...), resized\n"
        "                           to the output size; with no --width/--height and no\n"
        "                           --image, the first one's size is the output size\n"
        "  --control-scale S        how strongly it steers (default 1.0)\n"
        "  --control-start A, --control-end B\n"
        "                           the fraction of the steps it acts on (default 0 and 1)\n"
        "  --control-preprocess canny[:LOW:HIGH]\n"
        "                           turn the control image (a photo) into Canny edges first:\n"
        "                           gray, Gaussian blur (sigma 1), Sobel, thin lines, edges\n"
        "                           above HIGH continued down to LOW (default 100 and 200, as\n"
        "                           cv2.Canny(image, 100, 200) in diffusers' examples)\n"
        "\n",
        DEFAULT_REFINER_START);
    fprintf(out, "schedulers (--scheduler NAME; the diffusers class each reproduces):\n");
    const char *name, *cls, *desc;
    size_t n = sdc_scheduler_list(0, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (sdc_scheduler_list(i, &name, &cls, &desc) == 0)
            break;
        fprintf(out, "  %-19s %s\n  %-19s diffusers: %s\n", name, desc, "", cls);
    }
    fprintf(out, "AUTOMATIC1111 and ComfyUI spellings (k_euler_a, k_dpmpp_2m_karras, ...) and\n"
                 "diffusers class names are accepted too; case, '-' and '_' do not matter.\n");
    fprintf(out,
            "\nProgress goes to stderr: a bar (steps, it/s, time left) when stderr is a\n"
            "terminal, else one line per step. The written files are listed on stdout. Ctrl-C\n"
            "stops between steps and writes no image (press it twice to stop at once). Images\n"
            "are written under a temporary name and renamed once complete, so a failed run\n"
            "leaves no .final.png behind.\n\n"
            "exit status: 0 done, 1 failed (model, image or generation), 2 bad command line,\n"
            "130 interrupted.\n");
}

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                               */

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sdc generate: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'sdc generate --help')\n");
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* Whether argv[*i] is option `name` ("--name VALUE" or "--name=VALUE"; `alias` is a short form
 * or NULL). Sets *value (NULL when the value is missing) and advances *i past it. */
static bool take(const char *name, const char *alias, int argc, char **argv, int *i,
                 const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0))
        return false;
    /* "--seed --json" lacks its value; a value that starts with "--" is given as --name=VALUE */
    bool next_is_value = *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0;
    *value = next_is_value ? argv[++*i] : NULL;
    return true;
}

static bool is_flag(const char *a, const char *name, const char *alias)
{
    return strcmp(a, name) == 0 || (alias && strcmp(a, alias) == 0);
}

static bool parse_int_option(const char *name, const char *v, long min, long max, int *out)
{
    long x;
    if (!cli_parse_long(v, min, max, &x)) {
        usage_error("%s takes a whole number from %ld to %ld, not '%s'", name, min, max, v);
        return false;
    }
    *out = (int)x;
    return true;
}

/* "WxH" (e.g. 1024x768) with both sides in [1, MAX_SIDE]. */
static bool parse_size(const char *v, int *w, int *h)
{
    const char *x = strchr(v, 'x');
    if (!x || x == v || strlen(v) > 32)
        return false;
    char first[33];
    memcpy(first, v, (size_t)(x - v));
    first[x - v] = '\0';
    long a, b;
    if (!cli_parse_long(first, 1, MAX_SIDE, &a) || !cli_parse_long(x + 1, 1, MAX_SIDE, &b))
        return false;
    *w = (int)a;
    *h = (int)b;
    return true;
}

/* "TOP,LEFT" with both in [0, MAX_SIDE]. */
static bool parse_pair(const char *v, int *a, int *b)
{
    const char *comma = strchr(v, ',');
    if (!comma || comma == v || strlen(v) > 32)
        return false;
    char first[33];
    memcpy(first, v, (size_t)(comma - v));
    first[comma - v] = '\0';
    long x, y;
    if (!cli_parse_long(first, 0, MAX_SIDE, &x) || !cli_parse_long(comma + 1, 0, MAX_SIDE, &y))
        return false;
    *a = (int)x;
    *b = (int)y;
    return true;
}

/* "canny" or "canny:LOW:HIGH". */
static bool parse_preprocess(const char *v, struct control_option *c)
{
    c->canny_params = sdc_canny_default_params();
    if (strcmp(v, "canny") == 0) {
        c->canny = true;
        return true;
    }
    if (strncmp(v, "canny:", 6) != 0 || strlen(v) > 32)
        return false;
    const char *second = strchr(v + 6, ':');
    if (!second)
        return false;
    char low[33];
    memcpy(low, v + 6, (size_t)(second - (v + 6)));
    low[second - (v + 6)] = '\0';
    long lo, hi;
    if (!cli_parse_long(low, 0, 100000, &lo) || !cli_parse_long(second + 1, lo, 100000, &hi))
        return false;
    c->canny = true;
    c->canny_params.low_threshold = (int)lo;
    c->canny_params.high_threshold = (int)hi;
    return true;
}

/* The --control-* options and SDXL's, once the name is known to take a value. Returns -1 when
 * `name` is not one of them, else the parse result (rc < 0 = fine). */
static int parse_sdxl_control(options *opt, const char *name, const char *v)
{
    struct control_option *c = opt->n_controls ? &opt->controls[opt->n_controls - 1] : NULL;
    if (strcmp(name, "--vae") == 0) {
        opt->vae = v;
    } else if (strcmp(name, "--refiner") == 0) {
        opt->refiner = v;
    } else if (strcmp(name, "--refiner-start") == 0) {
        if (!cli_parse_double(v, 0.0, 1.0, &opt->refiner_start) || opt->refiner_start <= 0.0 ||
            opt->refiner_start >= 1.0)
            return usage_error("--refiner-start takes a fraction between 0 and 1 such as 0.8, "
                               "not '%s'",
                               v);
    } else if (strcmp(name, "--aesthetic-score") == 0 ||
               strcmp(name, "--negative-aesthetic-score") == 0) {
        double *d = name[2] == 'a' ? &opt->aesthetic_score : &opt->negative_aesthetic_score;
        if (!cli_parse_double(v, -1000.0, 1000.0, d))
            return usage_error("%s takes a number such as 6.0, not '%s'", name, v);
    } else if (strcmp(name, "--original-size") == 0 || strcmp(name, "--target-size") == 0) {
        bool orig = name[2] == 'o';
        if (!parse_size(v, orig ? &opt->original_width : &opt->target_width,
                        orig ? &opt->original_height : &opt->target_height))
            return usage_error("%s takes WIDTHxHEIGHT in pixels such as 1024x1024, not '%s'",
                               name, v);
    } else if (strcmp(name, "--crops-coords-top-left") == 0) {
        if (!parse_pair(v, &opt->crop_top, &opt->crop_left))
            return usage_error("--crops-coords-top-left takes TOP,LEFT in pixels such as 0,0, "
                               "not '%s'",
                               v);
    } else if (strcmp(name, "--controlnet") == 0) {
        if (opt->n_controls == MAX_CONTROLS)
            return usage_error("at most %d --controlnet", MAX_CONTROLS);
        opt->controls[opt->n_controls++] =
            (struct control_option){.model = v, .scale = 1.0, .start = 0.0, .end = 1.0};
    } else if (strncmp(name, "--control-", 10) == 0) {
        if (!c)
            return usage_error("%s belongs to a ControlNet: give --controlnet MODEL before it",
                               name);
        if (strcmp(name, "--control-image") == 0) {
            c->image = v;
        } else if (strcmp(name, "--control-scale") == 0) {
            if (!cli_parse_double(v, -100.0, 100.0, &c->scale))
                return usage_error("--control-scale takes a number such as 1.0, not '%s'", v);
        } else if (strcmp(name, "--control-start") == 0 || strcmp(name, "--control-end") == 0) {
            double *d = name[10] == 's' ? &c->start : &c->end;
            if (!cli_parse_double(v, 0.0, 1.0, d))
                return usage_error("%s takes a fraction of the steps from 0 to 1, not '%s'", name,
                                   v);
        } else if (!parse_preprocess(v, c)) {
            return usage_error("--control-preprocess takes canny or canny:LOW:HIGH (gradient "
                               "thresholds, LOW <= HIGH), not '%s'",
                               v);
        }
    } else {
        return -2;
    }
    return -1;
}

/* Parses argv into *opt; returns -1 to go on, else the exit code (0 after --help). */
static int parse_args(int argc, char **argv, options *opt)
{
    *opt = (options){
        .steps = DEFAULT_STEPS,
        .guidance_scale = DEFAULT_GUIDANCE,
        .rng = SDC_RNG_SOURCE_NUMPY,
        .image_count = 1,
        .output_dir = ".",
        .clip_skip = 1,
        .refiner_start = DEFAULT_REFINER_START,
        .aesthetic_score = 6.0,
        .negative_aesthetic_score = 2.5,
    };
    size_t prompt_len = 0;
    int n_words = 0;
    bool options_done = false;
    char **words = calloc((size_t)argc + 1, sizeof *words);
    if (!words) {
        fprintf(stderr, "sdc generate: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    int rc = -1;
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i], *v = NULL;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            words[n_words++] = argv[i];
            prompt_len += strlen(a) + 1;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (cli_is_help(a)) {
            help(stdout);
            rc = CLI_EXIT_OK;
        } else if (is_flag(a, "--disable-safety", NULL)) {
            opt->disable_safety = true;
        } else if (is_flag(a, "--reduce-memory", NULL)) {
            opt->reduce_memory = true;
        } else if (is_flag(a, "--quiet", "-q")) {
            opt->quiet = true;
        } else if (is_flag(a, "--json", NULL)) {
            opt->json = true;
        } else if (is_flag(a, "--verbose", "-v")) {
            opt->verbose = true;
        } else {
            /* every other option takes a value */
            static const char *const valued[][2] = {
                {"--model", "-m"},       {"--negative-prompt", NULL}, {"--seed", NULL},
                {"--steps", NULL},       {"--guidance-scale", NULL},  {"--scheduler", NULL},
                {"--rng", NULL},         {"--width", NULL},           {"--height", NULL},
                {"--image", NULL},       {"--strength", NULL},        {"--mask", NULL},
                {"--image-count", NULL}, {"--output-dir", NULL},      {"--save-every", NULL},
                {"--threads", NULL},     {"--clip-skip", NULL},       {"--prediction-type", NULL},
                {"--vae", NULL},         {"--refiner", NULL},         {"--refiner-start", NULL},
                {"--aesthetic-score", NULL},     {"--negative-aesthetic-score", NULL},
                {"--original-size", NULL},       {"--target-size", NULL},
                {"--crops-coords-top-left", NULL}, {"--controlnet", NULL},
                {"--control-image", NULL},       {"--control-scale", NULL},
                {"--control-start", NULL},       {"--control-end", NULL},
                {"--control-preprocess", NULL},
            };
            const char *name = NULL;
            for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !name; k++)
                if (take(valued[k][0], valued[k][1], argc, argv, &i, &v))
                    name = valued[k][0];
            if (!name) {
                rc = usage_error("unknown option '%s'", a);
                break;
            }
            if (!v) {
                rc = usage_error("missing value after %s", a);
                break;
            }
            int sub = parse_sdxl_control(opt, name, v);
            if (sub >= 0) {
                rc = sub;
            } else if (sub == -1) {
                /* taken */
            } else if (strcmp(name, "--model") == 0) {
                opt->model = v;
            } else if (strcmp(name, "--negative-prompt") == 0) {
                opt->negative_prompt = v;
            } else if (strcmp(name, "--seed") == 0) {
                if (!cli_parse_u64(v, &opt->seed))
                    rc = usage_error("--seed takes a whole number from 0 to "
                                     "18446744073709551615, not '%s'",
                                     v);
                opt->has_seed = true;
            } else if (strcmp(name, "--steps") == 0) {
                if (!parse_int_option(name, v, 1, MAX_STEPS, &opt->steps))
                    rc = CLI_EXIT_USAGE;
                opt->has_steps = true;
            } else if (strcmp(name, "--guidance-scale") == 0) {
                opt->has_guidance = true;
                if (!cli_parse_double(v, -1000.0, 1000.0, &opt->guidance_scale))
                    rc = usage_error("--guidance-scale takes a number such as 7.5 (from -1000 "
                                     "to 1000), not '%s'",
                                     v);
            } else if (strcmp(name, "--scheduler") == 0) {
                if (!*v)
                    rc = usage_error("--scheduler takes a name from 'sdc generate --help'");
                opt->scheduler = v;
            } else if (strcmp(name, "--rng") == 0) {
                int k = 0;
                while (k < SDC_RNG_SOURCE_COUNT && strcmp(v, rng_names[k]) != 0)
                    k++;
                if (k == SDC_RNG_SOURCE_COUNT)
                    rc = usage_error("--rng takes numpy, torch or philox, not '%s'", v);
                else
                    opt->rng = (sdc_rng_source)k;
            } else if (strcmp(name, "--width") == 0 || strcmp(name, "--height") == 0) {
                int *side = name[2] == 'w' ? &opt->width : &opt->height;
                long x;
                if (!cli_parse_long(v, 8, MAX_SIDE, &x) || x % 8 != 0)
                    rc = usage_error("%s takes a multiple of 8 from 8 to 16384 (pixels), not "
                                     "'%s'",
                                     name, v);
                else
                    *side = (int)x;
            } else if (strcmp(name, "--image") == 0) {
                opt->image = v;
            } else if (strcmp(name, "--strength") == 0) {
                if (!cli_parse_double(v, 0.0, 1.0, &opt->strength))
                    rc = usage_error("--strength takes a number from 0 to 1, not '%s'", v);
                opt->has_strength = true;
            } else if (strcmp(name, "--mask") == 0) {
                opt->mask = v;
            } else if (strcmp(name, "--image-count") == 0) {
                if (!parse_int_option(name, v, 1, MAX_IMAGE_COUNT, &opt->image_count))
                    rc = CLI_EXIT_USAGE;
            } else if (strcmp(name, "--output-dir") == 0) {
                if (!*v)
                    rc = usage_error("--output-dir takes a folder name, not ''");
                opt->output_dir = v;
            } else if (strcmp(name, "--save-every") == 0) {
                if (!parse_int_option(name, v, 0, MAX_STEPS, &opt->save_every))
                    rc = CLI_EXIT_USAGE;
            } else if (strcmp(name, "--threads") == 0) {
                if (!parse_int_option(name, v, 0, 4096, &opt->threads))
                    rc = CLI_EXIT_USAGE;
            } else if (strcmp(name, "--clip-skip") == 0) {
                if (!parse_int_option(name, v, 1, 64, &opt->clip_skip))
                    rc = CLI_EXIT_USAGE;
            } else if (strcmp(name, "--prediction-type") == 0) {
                if (strcmp(v, "epsilon") != 0 && strcmp(v, "v_prediction") != 0)
                    rc = usage_error("--prediction-type takes epsilon or v_prediction, not "
                                     "'%s'",
                                     v);
                opt->prediction_type = v;
            }
        }
    }
    if (rc >= 0)
        goto done;

    if (!opt->model && n_words > 0) {
        const char *source = "";
        bool demo = false;
        opt->model =
            cli_default_model(opt->default_model, sizeof opt->default_model, &source, &demo);
        if (opt->model && !opt->quiet)
            fprintf(stderr, "sdc generate: no -m given: using %s: %s\n", source, opt->model);
        /* The demo model was trained for light guidance: at 7.5 its colours break down
         * (data/demo/README.md). Its own settings apply unless the user gave others. */
        if (demo) {
            if (!opt->has_guidance)
                opt->guidance_scale = DEMO_GUIDANCE;
            if (!opt->has_steps)
                opt->steps = DEMO_STEPS;
        }
    }
    if (!opt->model)
        rc = usage_error("which model? give -m MODEL (a diffusers folder or a checkpoint "
                         "file)");
    else if (n_words == 0)
        rc = usage_error("no prompt given");
    else if (opt->has_strength && !opt->image)
        rc = usage_error("--strength goes with --image (the starting image)");
    else if (opt->mask && !opt->image)
        rc = usage_error("--mask goes with --image (the image it masks)");
    else if (opt->has_seed && opt->rng == SDC_RNG_SOURCE_NUMPY && opt->seed > UINT32_MAX)
        rc = usage_error("--seed %llu is too large for numpy noise, which takes 0 to "
                         "4294967295 (--rng torch and philox take 64-bit seeds)",
                         (unsigned long long)opt->seed);
    for (int k = 0; rc < 0 && k < opt->n_controls; k++) {
        const struct control_option *c = &opt->controls[k];
        if (!c->image)
            rc = usage_error("--controlnet %s has no --control-image after it", c->model);
        else if (c->start >= c->end)
            rc = usage_error("--control-start %g must be below --control-end %g", c->start,
                             c->end);
    }
    if (rc >= 0)
        goto done;

    opt->prompt = malloc(prompt_len + 1);
    if (!opt->prompt) {
        fprintf(stderr, "sdc generate: out of memory\n");
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    size_t len = 0;
    for (int k = 0; k < n_words; k++) {
        size_t n = strlen(words[k]);
        if (k)
            opt->prompt[len++] = ' ';
        memcpy(opt->prompt + len, words[k], n);
        len += n;
    }
    opt->prompt[len] = '\0';
    if (!opt->has_strength)
        opt->strength = DEFAULT_STRENGTH;
done:
    free(words);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* File names                                                                                 */

/* Length (1-4) of the valid UTF-8 sequence at s and its code point; 0 when s does not start
 * one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF). */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n;
    uint32_t c, min;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2, c = s[0] & 0x1f, min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3, c = s[0] & 0x0f, min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        c = (c << 6) | (s[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Characters that make a file name awkward or dangerous: path separators, characters other
 * systems forbid, control characters, invisible spaces and bidirectional overrides. */
static bool unsafe_in_name(uint32_t c)
{
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0xa0))
        return true;
    if (c < 0x80)
        return strchr(" /\\<>:\"|?*", (int)c) != NULL;
    return (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
           (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff;
}

/* The prompt part of the file names: its first 75 characters (code points) with spaces and
 * unsafe characters as '_', at most STEM_MAX_BYTES bytes, never starting with '.'. */
static void make_stem(const char *prompt, char *out)
{
    const unsigned char *p = (const unsigned char *)prompt;
    size_t len = 0;
    for (int chars = 0; *p && chars < STEM_MAX_CHARS; chars++) {
        uint32_t c = 0;
        int n = utf8_decode(p, &c);
        bool replace = n == 0 || unsafe_in_name(c);
        size_t w = replace ? 1 : (size_t)n;
        if (len + w > STEM_MAX_BYTES)
            break;
        if (replace)
            out[len] = '_';
        else
            memcpy(out + len, p, w);
        len += w;
        p += n ? n : 1;
    }
    out[len] = '\0';
    if (out[0] == '.')
        out[0] = '_'; /* no hidden files, no "." or ".." */
    if (len == 0)
        strcpy(out, "image");
}

/* "<stem>[.<index>][.str<S>].<seed>.<tail>"; index < 0 leaves it out. */
static void image_name(const naming *nm, int index, const char *tail, char *buf)
{
    int n = snprintf(buf, NAME_SIZE, "%s", nm->stem);
    if (index >= 0)
        n += snprintf(buf + n, NAME_SIZE - (size_t)n, ".%d", index);
    if (nm->strength_pct >= 0)
        n += snprintf(buf + n, NAME_SIZE - (size_t)n, ".str%d", nm->strength_pct);
    snprintf(buf + n, NAME_SIZE - (size_t)n, ".%llu.%s", (unsigned long long)nm->seed, tail);
}

/* dir/name (just name when dir is "."), malloc'd. */
static char *join_path(const char *dir, const char *prefix, const char *name, const char *suffix)
{
    bool here = strcmp(dir, ".") == 0;
    size_t dl = strlen(dir);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    size_t size = dl + strlen(prefix) + strlen(name) + strlen(suffix) + 2;
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s%s%s%s%s", here ? "" : dir, here || slash ? "" : "/", prefix, name,
                 suffix);
    return path;
}

/* Writes `image` to a temporary file beside dir/name (".<name>.<pid>.tmp"), so that the name
 * never refers to a half-written image: publish() renames it. Returns the temporary path
 * (malloc'd), or NULL after reporting. */
static char *write_temp(sdc_context *ctx, const char *dir, const char *name, const sdc_image *image,
                        const char *parameters)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, ".%ld.tmp", (long)getpid());
    char *tmp = join_path(dir, ".", name, suffix);
    if (!tmp) {
        fprintf(stderr, "sdc generate: out of memory\n");
        return NULL;
    }
    if (sdc_image_save_png(ctx, tmp, image, parameters) != SDC_STATUS_OK) {
        cli_report("generate", ctx);
        remove(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

static bool publish(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "sdc generate: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        remove(tmp);
        return false;
    }
    return true;
}

/* mkdir -p: creates dir and its missing parents. */
static bool make_dirs(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return true;
        fprintf(stderr, "sdc generate: --output-dir %s exists and is not a folder\n", dir);
        return false;
    }
    char *path = malloc(strlen(dir) + 1);
    if (!path) {
        fprintf(stderr, "sdc generate: out of memory\n");
        return false;
    }
    strcpy(path, dir);
    bool ok = true;
    for (char *p = path + 1; ok; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "sdc generate: cannot create the output folder %s: %s\n", path,
                    strerror(errno));
            ok = false;
        }
        if (end)
            break;
        *p = '/';
    }
    if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "sdc generate: cannot create the output folder %s\n", dir);
        ok = false;
    }
    free(path);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Progress                                                                                   */

static void format_duration(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);
    if (s < 59.95)
        snprintf(buf, size, "%.1fs", s);
    else if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void format_rate(int step, double elapsed, char *buf, size_t size)
{
    if (step <= 0 || elapsed <= 0)
        snprintf(buf, size, "-- it/s");
    else if (step >= elapsed)
        snprintf(buf, size, "%.2f it/s", step / elapsed);
    else
        snprintf(buf, size, "%.2f s/it", elapsed / step);
}

static void end_bar(run_state *rs)
{
    if (rs->bar_open) {
        fputc('\n', stderr);
        rs->bar_open = false;
    }
}

static void show_progress(run_state *rs, const sdc_progress *p)
{
    char rate[32], eta[32], spent[32];
    double per_step = p->step > 0 ? p->elapsed_s / p->step : 0;
    format_rate(p->step, p->elapsed_s, rate, sizeof rate);
    format_duration(per_step * (p->total - p->step), eta, sizeof eta);
    format_duration(p->elapsed_s, spent, sizeof spent);
    if (rs->tty) {
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        int filled = p->total > 0 ? (int)((long)WIDTH * p->step / p->total) : WIDTH;
        for (int k = 0; k < WIDTH; k++)
            bar[k] = k < filled ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\rstep %*d/%d [%s] %3d%%  %s  %s elapsed  ETA %s\033[K",
                snprintf(NULL, 0, "%d", p->total), p->step, p->total, bar,
                p->total > 0 ? 100 * p->step / p->total : 100, rate, spent, eta);
        rs->bar_open = true;
        if (p->step >= p->total)
            end_bar(rs);
    } else {
        fprintf(stderr, "step %d/%d, %s, %s elapsed, ETA %s\n", p->step, p->total, rate, spent,
                eta);
    }
    fflush(stderr);
}

static int on_progress(void *user, const sdc_progress *p)
{
    run_state *rs = user;
    const options *opt = rs->opt;
    rs->last_step = p->step;
    rs->last_total = p->total;
    char *preview = NULL;
    if (p->preview && opt->save_every > 0) {
        char name[NAME_SIZE], tail[32];
        snprintf(tail, sizeof tail, "step%d.png", p->step);
        image_name(rs->names, -1, tail, name);
        char *tmp = write_temp(rs->ctx, rs->names->dir, name, p->preview, NULL);
        char *path = tmp ? join_path(rs->names->dir, "", name, "") : NULL;
        if (path && publish(tmp, path))
            preview = path;
        else if (tmp && !path)
            remove(tmp);
        if (!preview)
            free(path);
        free(tmp);
        if (!preview)
            fprintf(stderr, "sdc generate: warning: the preview of step %d was not written\n",
                    p->step);
    }
    if (opt->json) {
        printf("{\"event\":\"step\",\"step\":%d,\"total\":%d,\"elapsed_s\":%.3f", p->step, p->total,
               p->elapsed_s);
        if (preview) {
            printf(",\"preview\":");
            cli_json_string(stdout, preview);
        }
        printf("}\n");
        fflush(stdout);
    } else if (!opt->quiet) {
        show_progress(rs, p);
    }
    free(preview);
    return interrupted ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The run                                                                                    */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A seed from /dev/urandom in [0, 2^32): every noise source takes it, as does numpy. */
static uint64_t random_seed(void)
{
    uint32_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    bool ok = fd >= 0 && read(fd, &seed, sizeof seed) == (ssize_t)sizeof seed;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        /* no /dev/urandom (a chroot): the clock and the process id still differ per run */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid();
    }
    return seed;
}

/* Prints a runtime failure: on stderr, and as an "error" event with --json. `what` names the
 * file or thing when the message does not already. */
static void fail(const options *opt, const char *what, const char *msg)
{
    bool named = !what || strstr(msg, what) != NULL;
    fprintf(stderr, "sdc generate: %s%s%s\n", named ? "" : what, named ? "" : ": ", msg);
    if (opt->json) {
        printf("{\"event\":\"error\",\"message\":");
        if (named) {
            cli_json_string(stdout, msg);
        } else {
            size_t n = strlen(what) + strlen(msg) + 3;
            char *full = malloc(n);
            if (full)
                snprintf(full, n, "%s: %s", what, msg);
            cli_json_string(stdout, full ? full : msg);
            free(full);
        }
        printf("}\n");
        fflush(stdout);
    }
}

static const char *ctx_message(sdc_context *ctx)
{
    const char *msg = sdc_context_errmsg(ctx);
    return msg && *msg ? msg : sdc_status_string(sdc_context_errcode(ctx));
}

/* Loads --image and --mask and checks they go together. */
static int load_inputs(const options *opt, sdc_context *ctx, sdc_image *image, sdc_image *mask)
{
    if (sdc_image_load(ctx, opt->image, 0, image) != SDC_STATUS_OK) {
        fail(opt, opt->image, ctx_message(ctx));
        return CLI_EXIT_FAILURE;
    }
    if (image->width < 8 || image->height < 8) {
        char msg[128];
        snprintf(msg, sizeof msg, "the image is %dx%d; it must be at least 8x8", image->width,
                 image->height);
        fail(opt, opt->image, msg);
        return CLI_EXIT_FAILURE;
    }
    if (!opt->mask)
        return CLI_EXIT_OK;
    if (sdc_image_load(ctx, opt->mask, 0, mask) != SDC_STATUS_OK) {
        fail(opt, opt->mask, ctx_message(ctx));
        return CLI_EXIT_FAILURE;
    }
    if (mask->width != image->width || mask->height != image->height) {
        size_t n = strlen(opt->image) + 160;
        char *msg = malloc(n);
        if (msg)
            snprintf(msg, n,
                     "the mask is %dx%d but the image %s is %dx%d; they must be the same size",
                     mask->width, mask->height, opt->image, image->width, image->height);
        fail(opt, opt->mask, msg ? msg : "the mask and the image differ in size");
        free(msg);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* Loads every --control-image (and makes Canny edges of it when asked). */
static int load_control_images(const options *opt, sdc_context *ctx, sdc_image *images)
{
    for (int k = 0; k < opt->n_controls; k++) {
        const struct control_option *c = &opt->controls[k];
        if (sdc_image_load(ctx, c->image, 0, &images[k]) != SDC_STATUS_OK) {
            fail(opt, c->image, ctx_message(ctx));
            return CLI_EXIT_FAILURE;
        }
        if (!c->canny)
            continue;
        sdc_image edges;
        if (sdc_image_canny(ctx, &images[k], &c->canny_params, &edges) != SDC_STATUS_OK) {
            fail(opt, c->image, ctx_message(ctx));
            return CLI_EXIT_FAILURE;
        }
        sdc_image_release(ctx, &images[k]);
        images[k] = edges;
    }
    return CLI_EXIT_OK;
}

/* Opens the --refiner and every --controlnet with the model's parameters (no --vae for
 * ControlNets, which have none). */
static int open_helpers(const options *opt, sdc_context *ctx, const sdc_model_params *mp,
                        sdc_model **refiner, sdc_model **nets)
{
    if (opt->refiner && sdc_model_open(ctx, opt->refiner, mp, refiner) != SDC_STATUS_OK) {
        fail(opt, opt->refiner, ctx_message(ctx));
        return CLI_EXIT_FAILURE;
    }
    sdc_model_params cp = *mp;
    cp.vae = NULL;
    for (int k = 0; k < opt->n_controls; k++) {
        if (sdc_model_open(ctx, opt->controls[k].model, &cp, &nets[k]) != SDC_STATUS_OK) {
            fail(opt, opt->controls[k].model, ctx_message(ctx));
            return CLI_EXIT_FAILURE;
        }
        sdc_model_info info;
        sdc_model_get_info(nets[k], &info);
        if (!info.controlnet) {
            size_t n = strlen(opt->controls[k].model) + 128;
            char *msg = malloc(n);
            if (msg)
                snprintf(msg, n,
                         "%s is a Stable Diffusion model (%s), not a ControlNet (a "
                         "ControlNetModel folder)",
                         opt->controls[k].model, info.family);
            fail(opt, opt->controls[k].model, msg ? msg : "not a ControlNet");
            free(msg);
            return CLI_EXIT_FAILURE;
        }
    }
    return CLI_EXIT_OK;
}

static void print_model_info(const sdc_model_info *info, double load_s)
{
    fprintf(stderr,
            "sdc generate: model %s: %s%s, %s, scheduler %s, %dx%d, safety checker %s "
            "(loaded in %.2f s)\n",
            info->name ? info->name : "?", info->family ? info->family : "?",
            info->inpainting ? " inpainting" : "",
            info->prediction_type ? info->prediction_type : "?",
            info->default_scheduler ? info->default_scheduler : "?", info->default_width,
            info->default_height, info->has_safety_checker ? "yes" : "no", load_s);
}

/* Writes every image of a successful run under temporary names, then renames them all;
 * on any failure no final name is left behind. */
static int write_images(const options *opt, const naming *nm, sdc_context *ctx,
                        const sdc_generation *gen, double run_s)
{
    size_t n = sdc_generation_image_count(gen);
    char **tmp = calloc(n ? n : 1, sizeof *tmp);
    char **path = calloc(n ? n : 1, sizeof *path);
    int rc = CLI_EXIT_OK;
    if (!tmp || !path) {
        fail(opt, NULL, "out of memory");
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        char name[NAME_SIZE];
        image_name(nm, nm->image_count > 1 ? (int)i : -1, "final.png", name);
        path[i] = join_path(nm->dir, "", name, "");
        const sdc_image *img = sdc_generation_image(gen, i);
        if (!path[i] || !img) {
            fail(opt, NULL, path[i] ? "the library returned no image" : "out of memory");
            rc = CLI_EXIT_FAILURE;
            break;
        }
        tmp[i] = write_temp(ctx, nm->dir, name, img, sdc_generation_parameters_text(gen, i));
        if (!tmp[i])
            rc = CLI_EXIT_FAILURE;
    }
    if (rc == CLI_EXIT_OK && interrupted)
        rc = CLI_EXIT_INTERRUPTED; /* Ctrl-C after the last step: still no image */
    if (rc != CLI_EXIT_OK) {
        for (size_t i = 0; i < n; i++)
            if (tmp[i])
                remove(tmp[i]);
        goto done;
    }
    size_t published = 0;
    for (size_t i = 0; i < n; i++) {
        if (publish(tmp[i], path[i]))
            published++;
        else
            rc = CLI_EXIT_FAILURE;
    }
    if (published < n)
        goto done;

    for (size_t i = 0; i < n; i++)
        if (sdc_generation_nsfw(gen, i))
            fprintf(stderr,
                    "sdc generate: warning: the safety checker flagged %s; it was written "
                    "black\n",
                    path[i]);
    if (opt->json) {
        printf("{\"event\":\"done\",\"files\":[");
        for (size_t i = 0; i < n; i++) {
            printf("%s", i ? "," : "");
            cli_json_string(stdout, path[i]);
        }
        printf("],\"seed\":%llu,\"nsfw\":[", (unsigned long long)nm->seed);
        for (size_t i = 0; i < n; i++)
            printf("%s%s", i ? "," : "", sdc_generation_nsfw(gen, i) ? "true" : "false");
        printf("],\"elapsed_s\":%.3f}\n", run_s);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", path[i]);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sdc generate: cannot write to standard output\n");
        rc = CLI_EXIT_FAILURE;
    }
done:
    for (size_t i = 0; tmp && path && i < n; i++) {
        free(tmp[i]);
        free(path[i]);
    }
    free(tmp);
    free(path);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    options opt;
    int rc = parse_args(argc, argv, &opt);
    if (rc >= 0) {
        free(opt.prompt);
        return rc;
    }
    rc = CLI_EXIT_OK;

    sdc_image image = {0}, mask = {0};
    sdc_image control_images[MAX_CONTROLS];
    sdc_model *model = NULL, *refiner = NULL, *nets[MAX_CONTROLS] = {0};
    sdc_generation *gen = NULL;
    memset(control_images, 0, sizeof control_images);
    sdc_context *ctx = cli_context(opt.threads, opt.verbose);
    if (!ctx) {
        rc = CLI_EXIT_FAILURE;
        goto free_prompt;
    }
    if (opt.image) {
        rc = load_inputs(&opt, ctx, &image, &mask);
        if (rc != CLI_EXIT_OK)
            goto release;
    }
    rc = load_control_images(&opt, ctx, control_images);
    if (rc != CLI_EXIT_OK)
        goto release;

    double t0 = now_s();
    sdc_model_params mp = sdc_model_default_params();
    mp.prediction_type = opt.prediction_type;
    mp.reduce_memory = opt.reduce_memory;
    mp.vae = opt.vae;
    if (sdc_model_open(ctx, opt.model, &mp, &model) != SDC_STATUS_OK) {
        fail(&opt, opt.model, ctx_message(ctx));
        rc = CLI_EXIT_FAILURE;
        goto release;
    }
    rc = open_helpers(&opt, ctx, &mp, &refiner, nets);
    if (rc != CLI_EXIT_OK)
        goto release;
    sdc_model_info info;
    sdc_model_get_info(model, &info);
    if (opt.verbose)
        print_model_info(&info, now_s() - t0);

    naming nm = {
        .strength_pct = opt.image ? (int)lround(opt.strength * 100) : -1,
        .seed = opt.has_seed ? opt.seed : random_seed(),
        .image_count = opt.image_count,
        .dir = opt.output_dir,
    };
    make_stem(opt.prompt, nm.stem);
    if (!opt.has_seed && !opt.quiet)
        fprintf(stderr, "sdc generate: seed %llu\n", (unsigned long long)nm.seed);
    if (!make_dirs(opt.output_dir)) {
        rc = CLI_EXIT_FAILURE;
        goto release;
    }

    if (sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK) {
        fail(&opt, NULL, ctx_message(ctx));
        rc = CLI_EXIT_FAILURE;
        goto release;
    }
    run_state rs = {.opt = &opt, .names = &nm, .ctx = ctx, .tty = isatty(STDERR_FILENO) == 1};
    sdc_generation_params gp = sdc_generation_default_params();
    gp.prompt = opt.prompt;
    gp.negative_prompt = opt.negative_prompt;
    gp.seed = nm.seed;
    gp.rng = opt.rng;
    gp.steps = opt.steps;
    gp.guidance_scale = (float)opt.guidance_scale;
    gp.scheduler = opt.scheduler;
    /* diffusers' image-to-image works at the image's own size, rounded down to multiples of 8 */
    gp.width = opt.width ? opt.width : opt.image ? image.width / 8 * 8 : 0;
    gp.height = opt.height ? opt.height : opt.image ? image.height / 8 * 8 : 0;
    gp.image_count = opt.image_count;
    gp.init_image = opt.image ? &image : NULL;
    gp.strength = (float)opt.strength;
    gp.mask = opt.mask ? &mask : NULL;
    gp.disable_safety_checker = opt.disable_safety;
    gp.clip_skip = opt.clip_skip;
    gp.preview_every = opt.save_every;
    gp.progress = on_progress;
    gp.progress_user = &rs;
    gp.refiner = refiner;
    gp.refiner_start = (float)opt.refiner_start;
    gp.aesthetic_score = (float)opt.aesthetic_score;
    gp.negative_aesthetic_score = (float)opt.negative_aesthetic_score;
    gp.original_width = opt.original_width;
    gp.original_height = opt.original_height;
    gp.target_width = opt.target_width;
    gp.target_height = opt.target_height;
    gp.crop_top = opt.crop_top;
    gp.crop_left = opt.crop_left;
    sdc_control controls[MAX_CONTROLS];
    for (int k = 0; k < opt.n_controls; k++) {
        controls[k] = sdc_control_default();
        controls[k].controlnet = nets[k];
        controls[k].image = &control_images[k];
        controls[k].scale = (float)opt.controls[k].scale;
        controls[k].start = (float)opt.controls[k].start;
        controls[k].end = (float)opt.controls[k].end;
    }
    gp.controls = opt.n_controls ? controls : NULL;
    gp.n_controls = opt.n_controls;

    /* Ctrl-C sets a flag the progress callback hands back as "cancel"; SA_RESETHAND lets a
     * second Ctrl-C stop the process at once. */
    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);

    double t1 = now_s();
    sdc_status st = sdc_generation_run(gen, &gp);
    double run_s = now_s() - t1;
    end_bar(&rs);
    if (st == SDC_STATUS_CANCELLED || (st == SDC_STATUS_OK && interrupted)) {
        rc = CLI_EXIT_INTERRUPTED;
    } else if (st != SDC_STATUS_OK) {
        const char *msg = sdc_generation_errmsg(gen);
        fail(&opt, NULL, msg && *msg ? msg : sdc_status_string(st));
        rc = CLI_EXIT_FAILURE;
    } else {
        if (opt.verbose)
            fprintf(stderr, "sdc generate: %d model calls in %.2f s\n", rs.last_step, run_s);
        rc = write_images(&opt, &nm, ctx, gen, run_s);
    }
    if (rc == CLI_EXIT_INTERRUPTED) {
        fprintf(stderr, "sdc generate: interrupted after step %d of %d; no image written\n",
                rs.last_step, rs.last_total);
        if (opt.json) {
            printf("{\"event\":\"cancelled\",\"step\":%d,\"total\":%d}\n", rs.last_step,
                   rs.last_total);
            fflush(stdout);
        }
    }
    sigaction(SIGINT, &old_sa, NULL);

release:
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_model_close(refiner);
    for (int k = 0; k < opt.n_controls; k++) {
        sdc_model_close(nets[k]);
        sdc_image_release(ctx, &control_images[k]);
    }
    sdc_image_release(ctx, &image);
    sdc_image_release(ctx, &mask);
    sdc_context_destroy(ctx);
free_prompt:
    free(opt.prompt);
    return rc;
}
