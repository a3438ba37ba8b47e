/*
 * Activation memory of src/models/unet.c at sizes where it matters (slow: run through the
 * reference kernels, so not in the sanitizer pass):
 *   - issue 5, acceptance 3: a real-size SD 1.5 UNet (random weights, the real shapes; see
 *     sd15_synthetic.h) runs one forward pass at a 64 x 64 latent with batch 2 and 77 tokens
 *     in a fixed arena of exactly its reported scratch size, with every other allocation
 *     refused while it runs: its activation memory (everything but the weights) is that
 *     size, at most 600 MB;
 *   - acceptance 4 at model level: the tiny SD 1.5 UNet at 4096 tokens runs in its scratch
 *     arena, far smaller than one score matrix, with every other allocation refused.
 */
#include "model_test.h"
#include "sd15_synthetic.h"

#define MODELS SDC_BUILD_FIXTURES_DIR "/models/"

static sdc_context *ctx;

/* 64 x 64 latents give 4096 tokens on the top level: a materialised score matrix per head
 * would be 64 MB, while the whole forward pass must fit in its scratch arena with every
 * other allocation refused. */
static void test_many_tokens_in_bounded_memory(void)
{
    sdc_unet *unet = NULL;
    sdc_status st = sdc_unet_open_diffusers(ctx, MODELS "sd1-tiny/unet", &unet);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!unet)
        return;
    mt_array sample = mt_array4(ctx, 1, 4, 64, 64), out = mt_array4(ctx, 1, 4, 64, 64);
    int64_t cs[3] = {1, 77, 64};
    mt_array context = mt_array_new(ctx, 3, cs);
    for (int64_t i = 0; i < sdc_tensor_numel(&sample.t); i++)
        sample.data[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
    float t = 500;
    sdc_unet_inputs in = {
        .sample = &sample.t, .timesteps = &t, .encoder_hidden_states = &context.t};
    size_t bytes = 0;
    st = mt_unet_run_exact(ctx, unet, &in, &out.t, &bytes);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    CHECK_MSG(bytes < (size_t)4096 * 4096 * sizeof(float), "scratch %zu bytes", bytes);
    double m = mt_max_abs(out.data, sdc_tensor_numel(&out.t));
    CHECK_MSG(m > 0 && m < 1e3, "output magnitude %g", m);
    mt_array_free(&sample);
    mt_array_free(&out);
    mt_array_free(&context);
    sdc_unet_destroy(unet);
}

static void test_sd15_forward(void)
{
    sd15_synthetic s;
    sdc_unet *unet = NULL;
    sdc_store *store = sd15_synthetic_store(ctx, &s);
    if (store) {
        sdc_status st = sdc_unet_load(ctx, store, &s.config, &unet);
        CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    }
    if (!unet)
        goto done;
    mt_array sample = mt_array4(ctx, 2, 4, 64, 64), out = mt_array4(ctx, 2, 4, 64, 64);
    int64_t cs[3] = {2, 77, 768};
    mt_array context = mt_array_new(ctx, 3, cs);
    uint64_t state = 99;
    for (int64_t i = 0; i < sdc_tensor_numel(&sample.t); i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        sample.data[i] = (float)(state >> 40) / (float)(1 << 23) - 1.0f;
    }
    for (int64_t i = 0; i < sdc_tensor_numel(&context.t); i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        context.data[i] = (float)(state >> 40) / (float)(1 << 23) - 1.0f;
    }
    float t[2] = {981, 981};
    sdc_unet_inputs in = {.sample = &sample.t, .timesteps = t, .encoder_hidden_states = &context.t};
    size_t bytes = 0;
    CHECK(sdc_unet_scratch_bytes(ctx, unet, &in, &bytes) == SDC_STATUS_OK);
    CHECK_MSG(bytes <= (size_t)600 * 1000 * 1000, "activations: %zu bytes", bytes);
    sdc_arena scratch;
    if (sdc_arena_init_fixed(&scratch, ctx, bytes) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        goto free_arrays;
    }
    sdc_alloc_stats before, after;
    sdc_alloc_get_stats(ctx, &before);
    sdc_alloc_reset_peak(ctx);
    sdc_alloc_set_limit(ctx, before.live_bytes);
    double t0 = sdc_time_s();
    sdc_status st = sdc_unet_forward(ctx, unet, &scratch, &in, &out.t);
    double t1 = sdc_time_s();
    sdc_alloc_set_limit(ctx, 0);
    sdc_alloc_get_stats(ctx, &after);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    CHECK_EQ_INT(after.n_allocs, before.n_allocs);
    CHECK_EQ_INT(after.peak_bytes, before.live_bytes);
    CHECK(scratch.high_water <= bytes);
    bool finite = true;
    for (int64_t i = 0; i < sdc_tensor_numel(&out.t); i++)
        finite = finite && isfinite(out.data[i]);
    CHECK(finite);
    CHECK(mt_max_abs(out.data, sdc_tensor_numel(&out.t)) > 0);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr,
                "  SD 1.5 UNet forward, 64x64 latent, batch 2: %.1f s on %d threads; activations "
                "%zu bytes (%.1f MB; arena high-water %zu), no other allocation\n",
                t1 - t0, sdc_context_n_threads(ctx), bytes, bytes / 1e6, scratch.high_water);
    sdc_arena_release(&scratch);
free_arrays:
    mt_array_free(&sample);
    mt_array_free(&out);
    mt_array_free(&context);
done:
    sdc_unet_destroy(unet);
    sd15_synthetic_free(&s);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_many_tokens_in_bounded_memory);
    RUN(test_sd15_forward);
    sdc_context_destroy(ctx);
    return test_finish();
}
