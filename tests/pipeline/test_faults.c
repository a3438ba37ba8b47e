/*
 * Allocation failures in the pipeline (src/pipeline/): the n-th allocation of a generation run
 * (txt2img and 4-channel inpainting) and of sdc_model_open (folder, single file, with and
 * without reduce_memory) fails; every call must return a clean status with a message, keep no
 * images, and leave the context's live bytes where they were once everything is destroyed.
 */
#include "pipeline_test.h"

static sdc_context *ctx;
static sdc_image astronaut, mask;
static uint8_t mask_pixels[96 * 64];

static size_t live_bytes(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.live_bytes;
}

static uint64_t n_allocs(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.n_allocs;
}

static sdc_generation_params params(bool inpaint)
{
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a cat";
    p.steps = 2;
    p.width = p.height = 32;
    if (inpaint) {
        p.init_image = &astronaut;
        p.mask = &mask;
        p.width = 96;
        p.height = 64;
        p.strength = 0.75f;
    }
    return p;
}

static void check_run_faults(const char *model_path, bool inpaint)
{
    sdc_model *model = NULL;
    CHECK(sdc_model_open(ctx, model_path, NULL, &model) == SDC_STATUS_OK);
    if (!model)
        return;
    sdc_generation_params p = params(inpaint);
    /* A warm-up run fills the tokenizer's cache, then one run to count. */
    sdc_generation *gen = NULL;
    CHECK(sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    CHECK(gen && sdc_generation_run(gen, &p) == SDC_STATUS_OK);
    sdc_generation_destroy(gen);
    size_t before = live_bytes();
    uint64_t a0 = n_allocs();
    CHECK(sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK);
    CHECK(gen && sdc_generation_run(gen, &p) == SDC_STATUS_OK);
    sdc_generation_destroy(gen);
    uint64_t total = n_allocs() - a0;
    CHECK(live_bytes() == before);
    int failures = 0;
    for (uint64_t n = 1; n <= total + 2; n++) {
        gen = NULL;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_generation_create(ctx, model, &gen);
        if (st == SDC_STATUS_OK) {
            st = sdc_generation_run(gen, &p);
            if (st != SDC_STATUS_OK) {
                failures++;
                CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "%s: failing allocation %llu: %s (%s)",
                          model_path, (unsigned long long)n, sdc_status_string(st),
                          sdc_generation_errmsg(gen));
                CHECK(sdc_generation_errmsg(gen)[0] != '\0');
                CHECK_EQ_INT(sdc_generation_image_count(gen), 0);
            }
        } else {
            failures++;
            CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
            CHECK(gen == NULL);
        }
        sdc_alloc_fail_nth(ctx, 0);
        sdc_generation_destroy(gen);
        CHECK_MSG(live_bytes() == before, "%s: failing allocation %llu leaks %lld bytes",
                  model_path, (unsigned long long)n, (long long)(live_bytes() - before));
    }
    CHECK_MSG(failures >= (int)total, "%d of %llu injected failures were noticed", failures,
              (unsigned long long)total);
    sdc_model_close(model);
}

static void test_run_txt2img(void)
{
    check_run_faults(PT_MODELS "sd1-tiny", false);
}

static void test_run_inpaint(void)
{
    check_run_faults(PT_MODELS "sd1-tiny", true);
}

/* Opening: every allocation after the tokenizer's (the model's own work) and a sample of the
 * tokenizer's, which tests/tokenizer covers one by one. */
static void check_open_faults(const char *path, int reduce_memory)
{
    sdc_model_params mp = sdc_model_default_params();
    mp.reduce_memory = reduce_memory;
    size_t before = live_bytes();
    uint64_t a0 = n_allocs();
    sdc_model *model = NULL;
    CHECK(sdc_model_open(ctx, path, &mp, &model) == SDC_STATUS_OK);
    sdc_model_close(model);
    uint64_t total = n_allocs() - a0;
    CHECK(live_bytes() == before);
    for (uint64_t n = 1; n <= total + 1; n += n < 20 || n + 150 > total ? 1 : 211) {
        model = NULL;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_model_open(ctx, path, &mp, &model);
        sdc_alloc_fail_nth(ctx, 0);
        if (st != SDC_STATUS_OK) {
            CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "%s: failing allocation %llu: %s (%s)", path,
                      (unsigned long long)n, sdc_status_string(st), sdc_context_errmsg(ctx));
            CHECK(model == NULL);
        }
        sdc_model_close(model);
        CHECK_MSG(live_bytes() == before, "%s: failing allocation %llu leaks %lld bytes", path,
                  (unsigned long long)n, (long long)(live_bytes() - before));
    }
}

static void test_open(void)
{
    check_open_faults(PT_MODELS "sd1-tiny", 0);
    check_open_faults(PT_MODELS "sd1-tiny.safetensors", 1);
}

int main(void)
{
    ctx = pt_context();
    CHECK(sdc_image_load(ctx, SDC_TEST_DATA_DIR "/images/astronaut_96x64.png", 3, &astronaut) ==
          SDC_STATUS_OK);
    for (int i = 0; i < 96 * 64; i++)
        mask_pixels[i] = (i % 96) >= 40 ? 255 : 0;
    mask = (sdc_image){.width = 96, .height = 64, .channels = 1, .pixels = mask_pixels};
    RUN(test_run_txt2img);
    RUN(test_run_inpaint);
    RUN(test_open);
    sdc_image_release(ctx, &astronaut);
    sdc_context_destroy(ctx);
    return test_finish();
}
