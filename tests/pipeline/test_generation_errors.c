/*
 * Bad generation requests through the public API (src/pipeline/generation.c): sizes that are
 * not multiples of 8 (or of what the UNet needs), strength outside [0, 1], a mask of another
 * size, an unknown scheduler, an image that cannot be decoded, and the other parameter checks.
 * Each is one line naming the parameter and what was expected, and no image is kept — not even
 * those of an earlier successful run.
 */
#include "pipeline_test.h"

static sdc_context *ctx;
static sdc_model *model, *inpaint_model;
static sdc_generation *gen;
static sdc_image astronaut, small;

static sdc_generation_params base(void)
{
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a red bicycle";
    p.steps = 2;
    p.width = p.height = 64;
    return p;
}

/* A run that succeeds, so that the failure after it has images to drop. */
static void succeed(void)
{
    sdc_generation_params p = base();
    CHECK_MSG(sdc_generation_run(gen, &p) == SDC_STATUS_OK, "%s", sdc_generation_errmsg(gen));
    CHECK_EQ_INT(sdc_generation_image_count(gen), 1);
}

static void check_fails(sdc_generation *g, const sdc_generation_params *p, sdc_status status,
                        const char *want)
{
    sdc_status st = sdc_generation_run(g, p);
    const char *msg = sdc_generation_errmsg(g);
    CHECK_MSG(st == status, "status %s, expected %s (%s)", sdc_status_string(st),
              sdc_status_string(status), msg);
    CHECK_CONTAINS(msg, want);
    CHECK_EQ_STR(msg, sdc_context_errmsg(ctx));
    CHECK_MSG(strchr(msg, '\n') == NULL, "message of more than one line: %s", msg);
    CHECK_EQ_INT(sdc_generation_image_count(g), 0);
    CHECK(sdc_generation_image(g, 0) == NULL);
    CHECK(sdc_generation_parameters_text(g, 0) == NULL);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "  %s\n", msg);
}

static void test_sizes(void)
{
    sdc_generation_params p = base();
    succeed();
    p.width = 100;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "width 100");
    succeed();
    p = base();
    p.height = 60;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "height 60");
    p = base();
    p.width = 72; /* any multiple of 8 works, also when the UNet's levels do not divide it */
    p.height = 88;
    CHECK_MSG(sdc_generation_run(gen, &p) == SDC_STATUS_OK, "%s", sdc_generation_errmsg(gen));
    CHECK_EQ_INT(sdc_generation_image_count(gen), 1);
    if (sdc_generation_image_count(gen) == 1) {
        CHECK_EQ_INT(sdc_generation_image(gen, 0)->width, 72);
        CHECK_EQ_INT(sdc_generation_image(gen, 0)->height, 88);
    }
    p = base();
    p.width = -8;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "width -8");
}

static void test_strength(void)
{
    static const float bad[] = {1.5f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        sdc_generation_params p = base();
        p.init_image = &astronaut;
        p.width = p.height = 0;
        p.strength = bad[i];
        succeed();
        check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "strength");
    }
    sdc_generation_params p = base();
    p.init_image = &astronaut;
    p.width = p.height = 0;
    p.strength = 0.1f; /* int(2 * 0.1) = 0 steps left */
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "strength");
}

static void test_mask(void)
{
    sdc_generation_params p = base();
    p.init_image = &astronaut;
    p.mask = &small;
    p.width = p.height = 0;
    succeed();
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "mask is 32x32 but the init image is 96x64");
    p.init_image = NULL;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "without an init image");
    /* An inpainting model needs a mask. */
    sdc_generation *g = NULL;
    CHECK(sdc_generation_create(ctx, inpaint_model, &g) == SDC_STATUS_OK);
    p = base();
    if (g)
        check_fails(g, &p, SDC_STATUS_UNSUPPORTED, "inpainting model");
    sdc_generation_destroy(g);
}

static void test_scheduler(void)
{
    sdc_generation_params p = base();
    p.scheduler = "euler-b";
    succeed();
    check_fails(gen, &p, SDC_STATUS_NOT_FOUND, "scheduler \"euler-b\"");
    p.scheduler = "flow-euler"; /* an epsilon model cannot be sampled as flow */
    check_fails(gen, &p, SDC_STATUS_UNSUPPORTED, "flow");
}

static void test_undecodable_image(void)
{
    sdc_image im;
    sdc_status st = sdc_image_load(ctx, SDC_TEST_DATA_DIR "/clip/merges.txt", 3, &im);
    CHECK_EQ_INT(st, SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "merges.txt");
    CHECK(im.pixels == NULL);
    st = sdc_image_load(ctx, SDC_TEST_DATA_DIR "/no-such-image.png", 3, &im);
    CHECK_EQ_INT(st, SDC_STATUS_IO);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "no-such-image.png");
    /* An image handed over without pixels. */
    sdc_image empty = {.width = 64, .height = 64, .channels = 3, .pixels = NULL};
    sdc_generation_params p = base();
    p.init_image = &empty;
    succeed();
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "init image");
}

static void test_other_parameters(void)
{
    sdc_generation_params p = base();
    p.steps = 0;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "steps 0");
    p = base();
    p.image_count = 0;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "image count 0");
    p = base();
    p.guidance_scale = INFINITY;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "guidance scale");
    p = base();
    p.clip_skip = 9;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "clip skip 9");
    p = base();
    p.seed = (uint64_t)1 << 32; /* numpy's RandomState takes 32-bit seeds */
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "seed 4294967296");
    p.rng = SDC_RNG_SOURCE_TORCH;
    succeed();
    CHECK(sdc_generation_run(gen, &p) == SDC_STATUS_OK);
    p = base();
    p.prompt = "caf\xc3";
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "prompt: invalid UTF-8 at byte 3");
    p = base();
    p.negative_prompt = "\xff";
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "negative prompt");
    p = base();
    p.preview_every = -1;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "preview_every");
    check_fails(gen, NULL, SDC_STATUS_INVALID_ARGUMENT, "no parameters");
}

int main(void)
{
    ctx = pt_context();
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", NULL, &model) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-inpaint-tiny", NULL, &inpaint_model) == SDC_STATUS_OK);
    CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    CHECK(sdc_image_load(ctx, SDC_TEST_DATA_DIR "/images/astronaut_96x64.png", 3, &astronaut) ==
          SDC_STATUS_OK);
    uint8_t pixels[32 * 32];
    memset(pixels, 255, sizeof pixels);
    small = (sdc_image){.width = 32, .height = 32, .channels = 1, .pixels = pixels};
    if (gen && inpaint_model && astronaut.pixels) {
        RUN(test_sizes);
        RUN(test_strength);
        RUN(test_mask);
        RUN(test_scheduler);
        RUN(test_undecodable_image);
        RUN(test_other_parameters);
    }
    sdc_image_release(ctx, &astronaut);
    sdc_generation_destroy(gen);
    sdc_model_close(inpaint_model);
    sdc_model_close(model);
    sdc_context_destroy(ctx);
    return test_finish();
}
