/*
 * bench.c — sdc_bench_run: times one component of a diffusers folder or an sdc bundle (text
 * encoder, a guided UNet step, VAE decode or encode) on deterministic random inputs at the
 * model's native size, weights as stored (a bundle's palettized or int8 weights decoded in the
 * kernels, as in a generation),
 * with the work counted by the kernels (sdc_flops_*). Loading is not timed; each run gets the
 * same fixed activation arena, sized once before the first run as the pipeline sizes it.
 */
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RUNS = 1000 };

static const char *const component_names[] = {
    [SDC_BENCH_COMPONENT_TEXT_ENCODER] = "text_encoder",
    [SDC_BENCH_COMPONENT_UNET_STEP] = "unet_step",
    [SDC_BENCH_COMPONENT_VAE_DECODE] = "vae_decode",
    [SDC_BENCH_COMPONENT_VAE_ENCODE] = "vae_encode",
};
static_assert(sizeof component_names / sizeof component_names[0] == SDC_BENCH_COMPONENT_COUNT,
              "one name per component");

sdc_bench_params sdc_bench_default_params(void)
{
    return (sdc_bench_params){.warmup = 1, .runs = 3, .width = 0, .height = 0};
}

const char *sdc_bench_component_name(sdc_bench_component component)
{
    if ((unsigned)component >= SDC_BENCH_COMPONENT_COUNT)
        return NULL;
    return component_names[component];
}

/* One component ready to run: run() does one pass in `scratch`. */
typedef struct bench_state {
    sdc_context *ctx;
    sdc_arena scratch;
    sdc_unet *unet;
    sdc_vae *vae;
    sdc_clip_text *clip;
    float *buffers[6];
    sdc_tensor t[6]; /* inputs and outputs, by component */
    int32_t *ids;
    sdc_unet_inputs unet_in;
    float timesteps[2];
    sdc_clip_text_outputs clip_out;
    size_t scratch_bytes;
} bench_state;

/* A tensor of the shape in context memory, filled with uniform values in [-1, 1). */
static sdc_status random_tensor(bench_state *b, int slot, int ndim, const int64_t *shape,
                                uint64_t seed)
{
    b->t[slot] = sdc_tensor_make(NULL, SDC_DTYPE_F32, ndim, shape);
    size_t bytes = sdc_tensor_nbytes(&b->t[slot]);
    b->buffers[slot] = sdc_malloc(b->ctx, bytes ? bytes : sizeof(float));
    if (!b->buffers[slot])
        return sdc_fail_oom(b->ctx, "benchmark inputs", bytes);
    b->t[slot].data = b->buffers[slot];
    uint64_t state = seed;
    for (int64_t i = 0; i < sdc_tensor_numel(&b->t[slot]); i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        b->buffers[slot][i] = (float)(state >> 40) / (float)(1 << 23) - 1.0f;
    }
    return SDC_STATUS_OK;
}

static sdc_status run_once(bench_state *b, sdc_bench_component component)
{
    sdc_arena_reset(&b->scratch);
    switch (component) {
    case SDC_BENCH_COMPONENT_TEXT_ENCODER:
        return sdc_clip_text_encode(b->ctx, b->clip, &b->scratch, b->ids, 2, b->t[0].shape[1],
                                    &b->clip_out);
    case SDC_BENCH_COMPONENT_UNET_STEP:
        return sdc_unet_forward(b->ctx, b->unet, &b->scratch, &b->unet_in, &b->t[5]);
    case SDC_BENCH_COMPONENT_VAE_DECODE:
        return sdc_vae_decode(b->ctx, b->vae, &b->scratch, &b->t[0], &b->t[1]);
    case SDC_BENCH_COMPONENT_VAE_ENCODE:
        return sdc_vae_encode(b->ctx, b->vae, &b->scratch, &b->t[0], &b->t[1], &b->t[2]);
    case SDC_BENCH_COMPONENT_COUNT:
        break;
    }
    return sdc_fail(b->ctx, SDC_STATUS_INVALID_ARGUMENT, "benchmark: unknown component %d",
                    (int)component);
}

/* Where the components come from: a diffusers folder, or an sdc bundle when `bundle` is set. */
typedef struct bench_source {
    const char *dir;
    sdc_bundle *bundle;
} bench_source;

static sdc_status component_dir(sdc_context *ctx, const char *model_dir, const char *sub, char *buf,
                                size_t size)
{
    int n = snprintf(buf, size, "%s/%s", model_dir, sub);
    if (n < 0 || (size_t)n >= size)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "benchmark: path '%s/%s' is too long",
                        model_dir, sub);
    return SDC_STATUS_OK;
}

/* The UNet's sample_size from its config (64 when absent). */
static sdc_status native_latent_size(sdc_context *ctx, const bench_source *src, int64_t *out)
{
    char path[4096];
    sdc_model_config c;
    sdc_status st;
    if (src->bundle) {
        st = sdc_bundle_config(src->bundle, "unet", &c);
    } else {
        if ((st = component_dir(ctx, src->dir, "unet/config.json", path, sizeof path)) !=
            SDC_STATUS_OK)
            return st;
        st = sdc_model_config_open(ctx, path, &c);
    }
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_model_config_int(&c, "sample_size", 64, out);
    sdc_model_config_close(&c);
    return st;
}

static sdc_status open_unet(sdc_context *ctx, const bench_source *src, sdc_unet **out)
{
    char dir[4096];
    if (src->bundle)
        return sdc_bundle_open_unet(ctx, src->bundle, out);
    TRY_RETURN(component_dir(ctx, src->dir, "unet", dir, sizeof dir));
    return sdc_unet_open_diffusers(ctx, dir, out);
}

static sdc_status open_vae(sdc_context *ctx, const bench_source *src, sdc_vae **out)
{
    char dir[4096];
    if (src->bundle)
        return sdc_bundle_open_vae(ctx, src->bundle, out);
    TRY_RETURN(component_dir(ctx, src->dir, "vae", dir, sizeof dir));
    return sdc_vae_open_diffusers(ctx, dir, out);
}

static sdc_status open_text_encoder(sdc_context *ctx, const bench_source *src,
                                    sdc_clip_text **out)
{
    char dir[4096];
    if (src->bundle)
        return sdc_bundle_open_clip_text(ctx, src->bundle, "text_encoder", out);
    TRY_RETURN(component_dir(ctx, src->dir, "text_encoder", dir, sizeof dir));
    return sdc_clip_text_open_diffusers(ctx, dir, out);
}

/* Loads the component and its inputs; the arena is sized for one run. */
static sdc_status prepare(bench_state *b, const bench_source *src, sdc_bench_component component,
                          int64_t width, int64_t height)
{
    sdc_context *ctx = b->ctx;
    sdc_status st;
    size_t bytes = 0;
    int64_t h = height / 8, w = width / 8;
    switch (component) {
    case SDC_BENCH_COMPONENT_TEXT_ENCODER: {
        TRY(fail, open_text_encoder(ctx, src, &b->clip));
        const sdc_clip_text_config *c = sdc_clip_text_get_config(b->clip);
        int64_t L = c->max_positions < 77 ? c->max_positions : 77;
        int64_t ids_shape[2] = {2, L}, hidden[3] = {2, L, c->hidden_size};
        b->t[0] = sdc_tensor_make(NULL, SDC_DTYPE_F32, 2, ids_shape);
        b->ids = sdc_malloc(ctx, (size_t)(2 * L) * sizeof(int32_t));
        if (!b->ids)
            return sdc_fail_oom(ctx, "benchmark token ids", (size_t)(2 * L) * sizeof(int32_t));
        uint64_t state = 7;
        for (int64_t i = 0; i < 2 * L; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            b->ids[i] = (int32_t)((state >> 33) % (uint64_t)c->vocab_size);
        }
        TRY(fail, random_tensor(b, 1, 3, hidden, 1));
        b->clip_out = (sdc_clip_text_outputs){.last_hidden_state = &b->t[1]};
        TRY(fail, sdc_clip_text_scratch_bytes(ctx, b->clip, 2, L, &b->clip_out, &bytes));
        break;
    }
    case SDC_BENCH_COMPONENT_UNET_STEP: {
        TRY(fail, open_unet(ctx, src, &b->unet));
        const sdc_unet_config *c = sdc_unet_get_config(b->unet);
        int64_t sample[4] = {2, c->in_channels, h, w}, out[4] = {2, c->out_channels, h, w};
        int64_t text[3] = {2, 77, c->cross_attention_dim};
        TRY(fail, random_tensor(b, 0, 4, sample, 2));
        TRY(fail, random_tensor(b, 1, 3, text, 3));
        TRY(fail, random_tensor(b, 5, 4, out, 4));
        b->timesteps[0] = b->timesteps[1] = 981.0f;
        b->unet_in = (sdc_unet_inputs){
            .sample = &b->t[0], .timesteps = b->timesteps, .encoder_hidden_states = &b->t[1]};
        if (c->text_time) {
            /* SDXL: pooled text embeddings and the six size/crop time ids. */
            int64_t ids[2] = {2, 6};
            int64_t pooled[2] = {2, c->projection_class_embeddings_input_dim -
                                        6 * c->addition_time_embed_dim};
            TRY(fail, random_tensor(b, 2, 2, pooled, 5));
            TRY(fail, random_tensor(b, 3, 2, ids, 6));
            for (int i = 0; i < 12; i++)
                b->buffers[3][i] = (float)(i % 6 < 4 ? 8 * h : 0);
            b->unet_in.text_embeds = &b->t[2];
            b->unet_in.time_ids = &b->t[3];
        }
        TRY(fail, sdc_unet_scratch_bytes(ctx, b->unet, &b->unet_in, &bytes));
        break;
    }
    case SDC_BENCH_COMPONENT_VAE_DECODE:
    case SDC_BENCH_COMPONENT_VAE_ENCODE: {
        TRY(fail, open_vae(ctx, src, &b->vae));
        const sdc_vae_config *c = sdc_vae_get_config(b->vae);
        int64_t latent[4] = {1, c->latent_channels, h, w}, image[4] = {1, 3, 8 * h, 8 * w};
        if (component == SDC_BENCH_COMPONENT_VAE_DECODE) {
            TRY(fail, random_tensor(b, 0, 4, latent, 7));
            TRY(fail, random_tensor(b, 1, 4, image, 8));
            TRY(fail, sdc_vae_decode_scratch_bytes(ctx, b->vae, &b->t[0], &b->t[1], &bytes));
        } else {
            TRY(fail, random_tensor(b, 0, 4, image, 9));
            TRY(fail, random_tensor(b, 1, 4, latent, 10));
            TRY(fail, random_tensor(b, 2, 4, latent, 11));
            TRY(fail, sdc_vae_encode_scratch_bytes(ctx, b->vae, &b->t[0], &b->t[1], &bytes));
        }
        break;
    }
    case SDC_BENCH_COMPONENT_COUNT:
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "benchmark: unknown component %d",
                        (int)component);
    }
    b->scratch_bytes = bytes;
    st = sdc_arena_init_fixed(&b->scratch, ctx, bytes);
fail:
    return st;
}

static void release(bench_state *b)
{
    sdc_arena_release(&b->scratch);
    for (int i = 0; i < 6; i++)
        sdc_free(b->ctx, b->buffers[i]);
    sdc_free(b->ctx, b->ids);
    sdc_unet_destroy(b->unet);
    sdc_vae_destroy(b->vae);
    sdc_clip_text_destroy(b->clip);
}

/* The output of the last run. */
static const sdc_tensor *output_of(bench_state *b, sdc_bench_component component)
{
    return component == SDC_BENCH_COMPONENT_UNET_STEP ? &b->t[5] : &b->t[1];
}

/* Runs once more on a float32 context and compares the outputs (see sdc_bench_result). */
static sdc_status psnr_vs_f32(bench_state *b, sdc_bench_component component, double *psnr)
{
    sdc_status st;
    const sdc_tensor *out = output_of(b, component);
    int64_t n = sdc_tensor_numel(out);
    float *low = sdc_malloc(b->ctx, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!low)
        return sdc_fail_oom(b->ctx, "the benchmark's output copy", (size_t)n * sizeof(float));
    memcpy(low, out->data, (size_t)n * sizeof(float));
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = sdc_context_n_threads(b->ctx);
    sdc_context *f32 = NULL;
    if ((st = sdc_context_create(&p, &f32)) != SDC_STATUS_OK) {
        st = sdc_fail(b->ctx, st, "benchmark: cannot create the float32 context");
        goto done;
    }
    sdc_context *own = b->ctx;
    b->ctx = f32;
    st = run_once(b, component);
    b->ctx = own;
    if (st != SDC_STATUS_OK) {
        st = sdc_fail(own, st, "benchmark: the float32 run failed: %s", sdc_context_errmsg(f32));
        goto done;
    }
    double peak = 0, sq = 0;
    const float *ref = out->data;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)low[i] - ref[i];
        sq += d * d;
        peak = fabs((double)ref[i]) > peak ? fabs((double)ref[i]) : peak;
    }
    double rms = n > 0 ? sqrt(sq / (double)n) : 0.0;
    *psnr = rms > 0 ? 20.0 * log10(peak / rms) : INFINITY;
done:
    sdc_context_destroy(f32);
    sdc_free(b->ctx, low);
    return st;
}

/* Logs the time per op type of the last run (of `seconds` in all). */
static void log_profile(sdc_context *ctx, sdc_bench_component component, double seconds)
{
    const sdc_profile_slot *slots = sdc_profile_get(ctx);
    double listed = 0.0;
    sdc_log(ctx, SDC_LOG_LEVEL_INFO, "%s: %.3f s, by op:", component_names[component], seconds);
    for (int op = 0; op < SDC_KERN_OP_COUNT; op++) {
        const sdc_profile_slot *s = &slots[op];
        if (s->calls == 0)
            continue;
        listed += s->seconds;
        if (s->flops > 0)
            sdc_log(ctx, SDC_LOG_LEVEL_INFO, "  %-20s %6lld calls %8.3f s %5.1f%% %8.1f GFLOP/s",
                    sdc_kern_op_name((sdc_kern_op)op), (long long)s->calls, s->seconds,
                    100.0 * s->seconds / seconds, s->flops / s->seconds * 1e-9);
        else
            sdc_log(ctx, SDC_LOG_LEVEL_INFO, "  %-20s %6lld calls %8.3f s %5.1f%%",
                    sdc_kern_op_name((sdc_kern_op)op), (long long)s->calls, s->seconds,
                    100.0 * s->seconds / seconds);
    }
    sdc_log(ctx, SDC_LOG_LEVEL_INFO, "  %-20s %8.3f s %5.1f%%", "outside the ops", seconds - listed,
            100.0 * (seconds - listed) / seconds);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

sdc_status sdc_bench_run(sdc_context *ctx, const char *model_dir, sdc_bench_component component,
                         const sdc_bench_params *params, sdc_bench_result *out)
{
    sdc_status st;
    sdc_bench_params p = params ? *params : sdc_bench_default_params();
    memset(out, 0, sizeof *out);
    if (!model_dir || (unsigned)component >= SDC_BENCH_COMPONENT_COUNT || p.warmup < 0 ||
        p.runs < 1 || p.runs > MAX_RUNS || p.width < 0 || p.height < 0 || p.width % 8 != 0 ||
        p.height % 8 != 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "benchmark: component %d, %d warm-up and %d timed runs (1 to %d), size "
                        "%dx%d (multiples of 8; 0 = native)",
                        (int)component, p.warmup, p.runs, MAX_RUNS, p.width, p.height);
    bench_source src = {.dir = model_dir};
    if (sdc_bundle_is(model_dir) &&
        (st = sdc_bundle_open(ctx, model_dir, &src.bundle)) != SDC_STATUS_OK)
        return st;
    int64_t latent = 0;
    if (p.width == 0 || p.height == 0) {
        if ((st = native_latent_size(ctx, &src, &latent)) != SDC_STATUS_OK) {
            sdc_bundle_close(src.bundle);
            return st;
        }
    }
    int64_t width = p.width ? p.width : 8 * latent, height = p.height ? p.height : 8 * latent;

    bench_state b;
    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    sdc_arena_init(&b.scratch, ctx, 1);
    double times[MAX_RUNS];
    TRY(done, prepare(&b, &src, component, width, height));
    /* At log level INFO, the time of each op type over the last run is logged. */
    bool profile = sdc_log_enabled(ctx, SDC_LOG_LEVEL_INFO);
    sdc_profile_enable(ctx, profile);
    for (int i = 0; i < p.warmup + p.runs; i++) {
        sdc_flops_reset(ctx);
        double t0 = sdc_time_s();
        TRY(done, run_once(&b, component));
        double t = sdc_time_s() - t0;
        if (i >= p.warmup)
            times[i - p.warmup] = t;
    }
    out->flops = sdc_flops_get(ctx);
    if (profile) {
        log_profile(ctx, component, times[p.runs - 1]);
        sdc_profile_enable(ctx, false);
    }
    qsort(times, (size_t)p.runs, sizeof times[0], compare_doubles);
    out->seconds =
        p.runs % 2 ? times[p.runs / 2] : 0.5 * (times[p.runs / 2 - 1] + times[p.runs / 2]);
    out->seconds_min = times[0];
    out->gflops = out->seconds > 0 ? out->flops / out->seconds * 1e-9 : 0.0;
    out->scratch_bytes = b.scratch_bytes;
    out->width = (int)width;
    out->height = (int)height;
    if (sdc_context_precision(ctx) != SDC_PRECISION_F32)
        TRY(done, psnr_vs_f32(&b, component, &out->psnr_db));
done:
    release(&b);
    sdc_bundle_close(src.bundle);
    return st;
}
