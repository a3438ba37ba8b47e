/*
 * Bad generation requests through the public API (src/pipeline/generation.c): sizes that are
 * not multiples of 8 (or of what the UNet needs), strength outside [0, 1], a mask of another
 * size, an unknown scheduler, an image that cannot be decoded, and the other parameter checks;
 * pieces that do not fit together: a ControlNet of another family, an SDXL refiner given as the
 * model, a model of another family given as the refiner, a ControlNet as the model.
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

static void test_mismatched_pieces(void)
{
    sdc_model *xl = NULL, *refiner = NULL, *cn1 = NULL, *cnxl = NULL;
    sdc_generation *g_xl = NULL, *g_ref = NULL, *g_cn = (sdc_generation *)1;
    CHECK(sdc_model_open(ctx, PT_MODELS "sdxl-tiny", NULL, &xl) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "sdxl-refiner-tiny", NULL, &refiner) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "controlnet-sd1-tiny", NULL, &cn1) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "controlnet-sdxl-tiny", NULL, &cnxl) == SDC_STATUS_OK);
    CHECK(xl && sdc_generation_create(ctx, xl, &g_xl) == SDC_STATUS_OK);
    CHECK(refiner && sdc_generation_create(ctx, refiner, &g_ref) == SDC_STATUS_OK);
    if (!g_xl || !g_ref || !cn1 || !cnxl)
        goto done;
    /* a ControlNet is not a model to generate with */
    CHECK_EQ_INT(sdc_generation_create(ctx, cn1, &g_cn), SDC_STATUS_INVALID_ARGUMENT);
    CHECK(g_cn == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "is a ControlNet");

    sdc_control c = sdc_control_default();
    c.image = &astronaut;
    sdc_generation_params p = base();
    p.controls = &c;
    p.n_controls = 1;
    /* an SD 1.x ControlNet with an SDXL model, and the other way round */
    c.controlnet = cn1;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT,
                "is an SD 1.x ControlNet but " PT_MODELS "sdxl-tiny is an SDXL model");
    c.controlnet = cnxl;
    succeed();
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "is an SDXL ControlNet but");
    /* a model given as ControlNet, a ControlNet without image, a bad window */
    c.controlnet = xl;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "not a ControlNet");
    c.controlnet = cnxl;
    c.image = NULL;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "control 1: the control image");
    c.image = &astronaut;
    c.start = 0.6f;
    c.end = 0.4f;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "start 0.6 and end 0.4");
    c = sdc_control_default();
    c.controlnet = cn1;
    c.image = &astronaut;
    p.init_image = &astronaut;
    p.mask = &small;
    p.width = p.height = 0;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT, "mask is 32x32");

    /* the refiner given as the model: without an image, and with a refiner of its own */
    p = base();
    check_fails(g_ref, &p, SDC_STATUS_INVALID_ARGUMENT, "is an SDXL refiner: it refines an image");
    p.init_image = &astronaut;
    p.refiner = xl;
    check_fails(g_ref, &p, SDC_STATUS_INVALID_ARGUMENT, "cannot be the base model of a refiner");
    /* a refiner after an SD 1.x model; an SD 1.x model or a ControlNet as the refiner */
    p = base();
    p.refiner = refiner;
    check_fails(gen, &p, SDC_STATUS_INVALID_ARGUMENT,
                "a refiner takes over the latents of an SDXL base model");
    p.refiner = model;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "is an SD 1.x model: expected an SDXL");
    p.refiner = cnxl;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "is a ControlNet, not an SDXL refiner");
    p.refiner = refiner;
    p.refiner_start = 1.0f;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "refiner start 1");
    /* a start that leaves the refiner no step: no timestep of 501, 1 is below round(0.1) */
    p.refiner_start = 0.9999f;
    check_fails(g_xl, &p, SDC_STATUS_INVALID_ARGUMENT, "leaves no step");
    /* the refiner alone refines an image; an SDXL base may also refine */
    p = base();
    p.init_image = &astronaut;
    p.width = p.height = 0;
    CHECK_MSG(sdc_generation_run(g_ref, &p) == SDC_STATUS_OK, "%s", sdc_generation_errmsg(g_ref));
    p = base();
    p.refiner = xl;
    CHECK_MSG(sdc_generation_run(g_xl, &p) == SDC_STATUS_OK, "%s", sdc_generation_errmsg(g_xl));
done:
    sdc_generation_destroy(g_ref);
    sdc_generation_destroy(g_xl);
    sdc_model_close(cnxl);
    sdc_model_close(cn1);
    sdc_model_close(refiner);
    sdc_model_close(xl);
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
        RUN(test_mismatched_pieces);
    }
    sdc_image_release(ctx, &astronaut);
    sdc_generation_destroy(gen);
    sdc_model_close(inpaint_model);
    sdc_model_close(model);
    sdc_context_destroy(ctx);
    return test_finish();
}
