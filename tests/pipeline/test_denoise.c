/*
 * The denoising loop (src/pipeline/denoise.c) end to end on the tiny SD 1.x models, small
 * enough for the sanitizer pass: txt2img, img2img and both inpainting kinds against their
 * diffusers fixtures (numpy noise, diffusers folder); no allocation between the first and the
 * last model call; cancellation from the progress callback; previews; --reduce-memory giving
 * the same images; a run without guidance.
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
    sdc_context_destroy(ctx);
    return test_finish();
}
