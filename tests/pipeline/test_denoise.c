/*
 * The denoising loop (src/pipeline/denoise.c) end to end on the tiny SD 1.x models, small
 * enough for the sanitizer pass: txt2img, img2img and both inpainting kinds against their
 * diffusers fixtures (numpy noise, diffusers folder); no allocation between the first and the
 * last model call; cancellation from the progress callback; previews; --reduce-memory giving
 * the same images; a run without guidance. SDXL: the ControlNet fixture and the base + refiner
 * fixture (two stages, each with its own scheduler); ControlNets acting only where their scale
 * and [start, end) window say, in text to image and image to image.
 */
#include "pipeline_test.h"

static sdc_context *ctx;

static void check_fixture(const char *name)
{
    pt_run run;
    if (pt_run_open(ctx, name, "numpy", &run)) {
        char path[512];
        snprintf(path, sizeof path, "%s%s", PT_MODELS, run.model);
        pt_result res = pt_check_run(ctx, &run, path, NULL);
        CHECK_MSG(res.ran, "%s did not run", name);
    }
    pt_run_close(&run);
}

static void test_txt2img_fixture(void)
{
    check_fixture("sd1_txt2img");
}

static void test_img2img_fixture(void)
{
    check_fixture("sd1_img2img");
}

static void test_inpaint_fixtures(void)
{
    check_fixture("sd1_inpaint_9ch");
    check_fixture("sd1_inpaint_4ch");
}

/* What the progress callback saw. */
typedef struct watch {
    sdc_context *ctx;
    int calls, total, cancel_at, previews;
    uint64_t allocs_first, allocs_last;
    bool steps_in_order, preview_ok;
    int preview_w, preview_h;
} watch;

static int on_progress(void *user, const sdc_progress *p)
{
    watch *w = user;
    sdc_alloc_stats s;
    sdc_alloc_get_stats(w->ctx, &s);
    w->calls++;
    if (p->step != w->calls)
        w->steps_in_order = false;
    w->total = p->total;
    if (w->calls == 1)
        w->allocs_first = s.n_allocs;
    w->allocs_last = s.n_allocs;
    if (p->preview) {
        w->previews++;
        w->preview_ok = w->preview_ok && p->preview->channels == 3 &&
                        p->preview->width == w->preview_w && p->preview->height == w->preview_h &&
                        p->preview->pixels != NULL;
    }
    return w->cancel_at && p->step == w->cancel_at;
}

static sdc_generation_params small_params(void)
{
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a cat sitting on a red sofa";
    p.negative_prompt = "blurry";
    p.steps = 4;
    p.width = 64;
    p.height = 32;
    p.seed = 11;
    return p;
}

static void test_no_allocation_in_loop_and_previews(void)
{
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", NULL, &model) == SDC_STATUS_OK);
    CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    if (!gen) {
        sdc_model_close(model);
        return;
    }
    watch w = {.ctx = ctx,
               .steps_in_order = true,
               .preview_ok = true,
               .preview_w = 2 * 64 / 8,
               .preview_h = 32 / 8};
    sdc_generation_params p = small_params();
    p.image_count = 2;
    p.scheduler = "euler_a"; /* draws noise inside the loop too */
    p.progress = on_progress;
    p.progress_user = &w;
    p.preview_every = 2;
    CHECK(sdc_generation_run(gen, &p) == SDC_STATUS_OK);
    CHECK_EQ_INT(w.calls, 4);
    CHECK_EQ_INT(w.total, 4);
    CHECK(w.steps_in_order);
    CHECK_MSG(w.allocs_last == w.allocs_first,
              "%llu allocations between the first and the last model call",
              (unsigned long long)(w.allocs_last - w.allocs_first));
    CHECK_EQ_INT(w.previews, 2);
    CHECK(w.preview_ok);
    CHECK_EQ_INT(sdc_generation_image_count(gen), 2);
    sdc_generation_destroy(gen);
    sdc_model_close(model);
}

static void test_cancel(void)
{
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", NULL, &model) == SDC_STATUS_OK);
    CHECK(model && sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    if (!gen) {
        sdc_model_close(model);
        return;
    }
    sdc_generation_params p = small_params();
    watch w = {.ctx = ctx, .cancel_at = 2, .steps_in_order = true, .preview_ok = true};
    p.progress = on_progress;
    p.progress_user = &w;
    /* A successful run first: cancelling must not keep its images either. */
    CHECK(sdc_generation_run(gen, &(sdc_generation_params){.prompt = "x",
                                                           .steps = 2,
                                                           .guidance_scale = 7.5f,
                                                           .width = 32,
                                                           .height = 32,
                                                           .image_count = 1}) == SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_generation_image_count(gen), 1);
    sdc_status st = sdc_generation_run(gen, &p);
    CHECK_EQ_INT(st, SDC_STATUS_CANCELLED);
    CHECK_EQ_INT(w.calls, 2);
    CHECK_CONTAINS(sdc_generation_errmsg(gen), "cancelled");
    CHECK_EQ_INT(sdc_generation_image_count(gen), 0);
    CHECK(sdc_generation_image(gen, 0) == NULL);
    sdc_generation_destroy(gen);
    sdc_model_close(model);
}

/* The images of one run on a model opened with these parameters (caller frees). */
static uint8_t *run_images(const char *path, const sdc_model_params *mp,
                           const sdc_generation_params *p, size_t *bytes)
{
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    uint8_t *out = NULL;
    *bytes = 0;
    if (sdc_model_open(ctx, path, mp, &model) != SDC_STATUS_OK ||
        sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK ||
        sdc_generation_run(gen, p) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: %s", path, sdc_context_errmsg(ctx));
    } else {
        size_t n = sdc_generation_image_count(gen);
        const sdc_image *im = sdc_generation_image(gen, 0);
        size_t per = (size_t)im->width * (size_t)im->height * 3;
        out = malloc(per * n);
        for (size_t i = 0; out && i < n; i++)
            memcpy(out + i * per, sdc_generation_image(gen, i)->pixels, per);
        *bytes = per * n;
    }
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    return out;
}

static void test_reduce_memory_same_images(void)
{
    sdc_generation_params p = small_params();
    sdc_model_params reduce = sdc_model_default_params();
    reduce.reduce_memory = 1;
    static const char *const paths[] = {PT_MODELS "sd1-tiny", PT_MODELS "sd1-tiny.safetensors"};
    for (int i = 0; i < 2; i++) {
        size_t n1 = 0, n2 = 0;
        uint8_t *a = run_images(paths[i], NULL, &p, &n1);
        uint8_t *b = run_images(paths[i], &reduce, &p, &n2);
        CHECK_MSG(a && b && n1 == n2 && memcmp(a, b, n1) == 0,
                  "%s: --reduce-memory changed the image", paths[i]);
        free(a);
        free(b);
    }
}

static void test_without_guidance(void)
{
    sdc_generation_params p = small_params();
    p.guidance_scale = 1.0f; /* diffusers: no classifier-free guidance, a batch of N */
    size_t n = 0;
    uint8_t *a = run_images(PT_MODELS "sd1-tiny", NULL, &p, &n);
    p.guidance_scale = 7.5f;
    size_t m = 0;
    uint8_t *b = run_images(PT_MODELS "sd1-tiny", NULL, &p, &m);
    CHECK(a && b && n == m && n == 64 * 32 * 3);
    CHECK_MSG(a && b && n == m && memcmp(a, b, n) != 0, "guidance made no difference");
    free(a);
    free(b);
}

static void test_sdxl_fixtures(void)
{
    check_fixture("sdxl_controlnet");
    check_fixture("sdxl_base_refiner");
}

/* A run on sd1-tiny with the SD 1.x ControlNet and the control image of the fixtures. */
typedef struct control_run {
    sdc_model *model, *net;
    sdc_image image;
} control_run;

static bool control_open(control_run *cr, const sdc_model_params *mp)
{
    memset(cr, 0, sizeof *cr);
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", mp, &cr->model) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "controlnet-sd1-tiny", mp, &cr->net) == SDC_STATUS_OK);
    CHECK(pt_load_image(ctx, "tests/fixtures/pipelines/inputs/control_shapes_64x64.png",
                        &cr->image));
    return cr->model && cr->net && cr->image.pixels;
}

static void control_close(control_run *cr)
{
    sdc_model_close(cr->net);
    sdc_model_close(cr->model);
    sdc_image_release(ctx, &cr->image);
}

/* The image of one run with one control (scale, start, end), or none when scale is NAN. */
static bool control_image(control_run *cr, const sdc_generation_params *base, float scale,
                          float start, float end, watch *w, uint8_t *out, size_t n)
{
    sdc_generation *gen = NULL;
    sdc_generation_params p = *base;
    sdc_control c = sdc_control_default();
    c.controlnet = cr->net;
    c.image = &cr->image;
    c.scale = scale;
    c.start = start;
    c.end = end;
    if (!isnan(scale)) {
        p.controls = &c;
        p.n_controls = 1;
    }
    if (w) {
        p.progress = on_progress;
        p.progress_user = w;
    }
    bool ok = sdc_generation_create(ctx, cr->model, &gen) == SDC_STATUS_OK &&
              sdc_generation_run(gen, &p) == SDC_STATUS_OK;
    CHECK_MSG(ok, "%s", gen ? sdc_generation_errmsg(gen) : sdc_context_errmsg(ctx));
    const sdc_image *im = ok ? sdc_generation_image(gen, 0) : NULL;
    ok = im && (size_t)im->width * (size_t)im->height * 3 == n;
    if (ok)
        memcpy(out, im->pixels, n);
    sdc_generation_destroy(gen);
    return ok;
}

static void test_control_scale_and_window(void)
{
    control_run cr;
    if (!control_open(&cr, NULL)) {
        control_close(&cr);
        return;
    }
    sdc_generation_params p = small_params();
    p.width = p.height = 64;
    enum { N = 64 * 64 * 3 };
    static uint8_t none[N], zero[N], full[N], late[N], other[N];
    watch w = {.ctx = ctx, .steps_in_order = true, .preview_ok = true};
    bool ok = control_image(&cr, &p, NAN, 0, 1, NULL, none, N) &&
              control_image(&cr, &p, 0.0f, 0, 1, NULL, zero, N) &&
              control_image(&cr, &p, 1.0f, 0, 1, &w, full, N) &&
              control_image(&cr, &p, 1.0f, 0.5f, 1, NULL, late, N);
    CHECK(ok);
    /* scale 0 adds nothing; a net acting on every step changes the image; one acting on the
     * second half only gives a third image */
    CHECK_MSG(memcmp(none, zero, N) == 0, "a ControlNet with scale 0 changed the image");
    CHECK_MSG(memcmp(none, full, N) != 0, "the ControlNet made no difference");
    CHECK_MSG(memcmp(full, late, N) != 0 && memcmp(none, late, N) != 0,
              "control start 0.5 gave the image of another window");
    CHECK_EQ_INT(w.calls, 5); /* PNDM: steps + 1 calls */
    CHECK(w.steps_in_order);
    CHECK_MSG(w.allocs_last == w.allocs_first,
              "%llu allocations between the first and the last model call with a ControlNet",
              (unsigned long long)(w.allocs_last - w.allocs_first));
    /* a window that ends within the first of the 5 calls: (0 + 1) / 5 > 0.1, none acts */
    ok = control_image(&cr, &p, 1.0f, 0.0f, 0.1f, NULL, other, N);
    CHECK_MSG(ok && memcmp(none, other, N) == 0, "control end 0.1 of 5 calls acted");
    /* image to image with the same ControlNet */
    sdc_image astronaut = {0};
    CHECK(pt_load_image(ctx, "tests/data/images/astronaut_96x64.png", &astronaut));
    p.init_image = &astronaut;
    p.strength = 0.6f;
    ok = control_image(&cr, &p, 1.0f, 0, 1, NULL, other, N);
    CHECK_MSG(ok && memcmp(other, full, N) != 0, "img2img with a ControlNet");
    sdc_image_release(ctx, &astronaut);
    control_close(&cr);

    /* --reduce-memory: the ControlNet loaded for the loop, the same image */
    sdc_model_params mp = sdc_model_default_params();
    mp.reduce_memory = 1;
    if (control_open(&cr, &mp)) {
        p = small_params();
        p.width = p.height = 64;
        ok = control_image(&cr, &p, 1.0f, 0, 1, NULL, other, N);
        CHECK_MSG(ok && memcmp(other, full, N) == 0, "--reduce-memory changed the image");
    }
    control_close(&cr);
}

/* Base + refiner report their calls as one run: 1..total in order. */
static void test_refiner_progress(void)
{
    sdc_model *base = NULL, *refiner = NULL;
    sdc_generation *gen = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sdxl-tiny", NULL, &base) == SDC_STATUS_OK);
    CHECK(sdc_model_open(ctx, PT_MODELS "sdxl-refiner-tiny", NULL, &refiner) == SDC_STATUS_OK);
    CHECK(base && sdc_generation_create(ctx, base, &gen) == SDC_STATUS_OK);
    if (gen && refiner) {
        watch w = {.ctx = ctx, .steps_in_order = true, .preview_ok = true};
        sdc_generation_params p = small_params();
        p.steps = 10;
        p.refiner = refiner;
        p.refiner_start = 0.8f; /* Euler, 10 leading steps: 901 ... 201 base, 101 and 1 refiner */
        p.progress = on_progress;
        p.progress_user = &w;
        CHECK_MSG(sdc_generation_run(gen, &p) == SDC_STATUS_OK, "%s", sdc_generation_errmsg(gen));
        CHECK_EQ_INT(w.calls, 10);
        CHECK_EQ_INT(w.total, 10);
        CHECK(w.steps_in_order);
    }
    sdc_generation_destroy(gen);
    sdc_model_close(refiner);
    sdc_model_close(base);
}

int main(void)
{
    ctx = pt_context();
    RUN(test_txt2img_fixture);
    RUN(test_img2img_fixture);
    RUN(test_inpaint_fixtures);
    RUN(test_no_allocation_in_loop_and_previews);
    RUN(test_cancel);
    RUN(test_reduce_memory_same_images);
    RUN(test_without_guidance);
    RUN(test_sdxl_fixtures);
    RUN(test_control_scale_and_window);
    RUN(test_refiner_progress);
    sdc_context_destroy(ctx);
    return test_finish();
}
