/*
 * check.c — --check-output-correctness: each converted component runs next to its source on fixed
 * random inputs, compared with ml-stable-diffusion's PSNR (torch2coreml.compute_psnr; fail under
 * 35 dB). A component with several outputs reports its worst.
 */
#include "convert/import.h"

#include <math.h>
#include <string.h>

double sdc_psnr(const float *ref, const float *x, size_t n)
{
    double max_ref = 0.0, sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)ref[i] - (double)x[i];
        sum += d * d;
        if (fabs(ref[i]) > max_ref)
            max_ref = fabs(ref[i]);
    }
    double rmse = n ? sqrt(sum / (double)n) : 0.0;
    return 20.0 * log10((max_ref + 1e-5) / (rmse + 1e-10));
}

/* ---------------------------------------------------------------------------------------- */
/* Inputs                                                                                     */

/* splitmix64: the same inputs on every machine. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal values (Box-Muller) or uniform values in [lo, hi). */
static void fill_normal(uint64_t *s, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(sqrt(-2.0 * log(uniform01(s))) * cos(6.283185307179586 * uniform01(s)));
}

static void fill_uniform(uint64_t *s, float *x, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * uniform01(s));
}

/* Activations for one check, all from one context-owned arena. */
typedef struct check_mem {
    sdc_context *ctx;
    sdc_arena arena;  /* inputs and outputs */
    sdc_arena work_a; /* scratch of the source model */
    sdc_arena work_b; /* scratch of the converted model */
    uint64_t seed;
} check_mem;

static sdc_status tensor(check_mem *m, int ndim, const int64_t *shape, sdc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    float *data = sdc_arena_alloc(&m->arena, (size_t)(n ? n : 1) * sizeof(float), 0);
    if (!data)
        return sdc_fail_oom(m->ctx, "check inputs", (size_t)n * sizeof(float));
    memset(data, 0, (size_t)n * sizeof(float));
    *t = sdc_tensor_make(data, SDC_DTYPE_F32, ndim, shape);
    return SDC_STATUS_OK;
}

static double psnr_of(const sdc_tensor *ref, const sdc_tensor *x)
{
    return sdc_psnr(ref->data, x->data, (size_t)sdc_tensor_numel(ref));
}

/* ---------------------------------------------------------------------------------------- */
/* Per component                                                                              */

typedef struct denoiser_inputs {
    sdc_tensor sample, ehs, text_embeds, time_ids, cond;
    float timestep;
} denoiser_inputs;

static sdc_status make_denoiser_inputs(check_mem *m, const sdc_unet_config *c, const char *family,
                                       bool control, denoiser_inputs *in)
{
    sdc_status st;
    int64_t side = (int64_t)2 << (c->n_levels - 1);
    int64_t s[4] = {1, c->in_channels, side, side};
    int64_t e[3] = {1, 77, c->cross_attention_dim};
    TRY(done, tensor(m, 4, s, &in->sample));
    TRY(done, tensor(m, 3, e, &in->ehs));
    fill_normal(&m->seed, in->sample.data, sdc_tensor_numel(&in->sample));
    fill_normal(&m->seed, in->ehs.data, sdc_tensor_numel(&in->ehs));
    in->timestep = 500.0f;
    if (c->text_time) {
        /* SDXL: 6 time ids (size, crop, target size); the refiner 5 (size, crop, score). */
        int n_ids = strcmp(family, "sdxl-refiner") == 0 ? 5 : 6;
        int64_t pooled =
            c->projection_class_embeddings_input_dim - n_ids * c->addition_time_embed_dim;
        int64_t ts[2] = {1, pooled}, is[2] = {1, n_ids};
        TRY(done, tensor(m, 2, ts, &in->text_embeds));
        TRY(done, tensor(m, 2, is, &in->time_ids));
        fill_normal(&m->seed, in->text_embeds.data, pooled);
        float px = (float)(8 * side), *ids = in->time_ids.data;
        float base[6] = {px, px, 0, 0, px, px}, refiner[5] = {px, px, 0, 0, 6.0f};
        memcpy(ids, n_ids == 5 ? refiner : base, (size_t)n_ids * sizeof(float));
    }
    if (control) {
        int64_t cs[4] = {1, 3, 8 * side, 8 * side};
        TRY(done, tensor(m, 4, cs, &in->cond));
        fill_uniform(&m->seed, in->cond.data, sdc_tensor_numel(&in->cond), 0.0, 1.0);
    }
done:
    return st;
}

static sdc_status check_unet(check_mem *m, const sdc_import *imp, const sdc_import_component *c,
                             sdc_store *src, sdc_store *dst, double *psnr)
{
    sdc_status st;
    sdc_unet_config config;
    sdc_unet *a = NULL, *b = NULL;
    denoiser_inputs in = {0};
    sdc_tensor out_a = {0}, out_b = {0};
    st = sdc_unet_config_from_json(&c->config, false, &config);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(src);
        sdc_store_destroy(dst);
        return st;
    }
    st = sdc_unet_load(m->ctx, src, &config, &a);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(dst);
        return st;
    }
    TRY(done, sdc_unet_load(m->ctx, dst, &config, &b));
    TRY(done, make_denoiser_inputs(m, &config, imp->family, false, &in));
    int64_t os[4] = {1, config.out_channels, in.sample.shape[2], in.sample.shape[3]};
    TRY(done, tensor(m, 4, os, &out_a));
    TRY(done, tensor(m, 4, os, &out_b));
    sdc_unet_inputs ui = {.sample = &in.sample,
                          .timesteps = &in.timestep,
                          .encoder_hidden_states = &in.ehs,
                          .text_embeds = config.text_time ? &in.text_embeds : NULL,
                          .time_ids = config.text_time ? &in.time_ids : NULL};
    TRY(done, sdc_unet_forward(m->ctx, a, &m->work_a, &ui, &out_a));
    TRY(done, sdc_unet_forward(m->ctx, b, &m->work_b, &ui, &out_b));
    *psnr = psnr_of(&out_a, &out_b);
done:
    sdc_unet_destroy(a);
    sdc_unet_destroy(b);
    return st;
}

static sdc_status check_controlnet(check_mem *m, const sdc_import *imp,
                                   const sdc_import_component *c, sdc_store *src, sdc_store *dst,
                                   double *psnr)
{
    sdc_status st;
    sdc_controlnet_config config;
    sdc_controlnet *a = NULL, *b = NULL;
    denoiser_inputs in = {0};
    st = sdc_controlnet_config_from_json(&c->config, &config);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(src);
        sdc_store_destroy(dst);
        return st;
    }
    st = sdc_controlnet_load(m->ctx, src, &config, &a);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(dst);
        return st;
    }
    TRY(done, sdc_controlnet_load(m->ctx, dst, &config, &b));
    TRY(done, make_denoiser_inputs(m, &config.unet, imp->family, true, &in));
    sdc_controlnet_inputs ci = {.sample = &in.sample,
                                .timesteps = &in.timestep,
                                .encoder_hidden_states = &in.ehs,
                                .text_embeds = config.unet.text_time ? &in.text_embeds : NULL,
                                .time_ids = config.unet.text_time ? &in.time_ids : NULL,
                                .controlnet_cond = &in.cond,
                                .conditioning_scale = 1.0f};
    sdc_control_residuals ra, rb;
    TRY(done, sdc_controlnet_forward(m->ctx, a, &m->work_a, &ci, &ra));
    TRY(done, sdc_controlnet_forward(m->ctx, b, &m->work_b, &ci, &rb));
    /* Every residual together, as one output. */
    int64_t total = sdc_tensor_numel(&ra.mid);
    for (int i = 0; i < ra.n_down; i++)
        total += sdc_tensor_numel(&ra.down[i]);
    sdc_tensor all_a = {0}, all_b = {0};
    TRY(done, tensor(m, 1, &total, &all_a));
    TRY(done, tensor(m, 1, &total, &all_b));
    int64_t at = 0;
    for (int i = 0; i <= ra.n_down; i++) {
        const sdc_tensor *x = i < ra.n_down ? &ra.down[i] : &ra.mid;
        const sdc_tensor *y = i < ra.n_down ? &rb.down[i] : &rb.mid;
        size_t n = (size_t)sdc_tensor_numel(x);
        memcpy((float *)all_a.data + at, x->data, n * sizeof(float));
        memcpy((float *)all_b.data + at, y->data, n * sizeof(float));
        at += (int64_t)n;
    }
    *psnr = psnr_of(&all_a, &all_b);
done:
    sdc_controlnet_destroy(a);
    sdc_controlnet_destroy(b);
    return st;
}

static sdc_status check_vae(check_mem *m, const sdc_import_component *c, sdc_store *src,
                            sdc_store *dst, double *psnr)
{
    sdc_status st;
    sdc_vae_config config;
    sdc_vae *a = NULL, *b = NULL;
    st = sdc_vae_config_from_json(&c->config, &config);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(src);
        sdc_store_destroy(dst);
        return st;
    }
    st = sdc_vae_load(m->ctx, src, &config, &a);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(dst);
        return st;
    }
    TRY(done, sdc_vae_load(m->ctx, dst, &config, &b));
    int64_t ls[4] = {1, config.latent_channels, 8, 8}, is[4] = {1, config.in_channels, 64, 64};
    int64_t os[4] = {1, config.out_channels, 64, 64};
    sdc_tensor latent = {0}, image_a = {0}, image_b = {0}, image = {0}, mean_a = {0}, mean_b = {0},
               logvar = {0};
    TRY(done, tensor(m, 4, ls, &latent));
    TRY(done, tensor(m, 4, os, &image_a));
    TRY(done, tensor(m, 4, os, &image_b));
    TRY(done, tensor(m, 4, is, &image));
    TRY(done, tensor(m, 4, ls, &mean_a));
    TRY(done, tensor(m, 4, ls, &mean_b));
    TRY(done, tensor(m, 4, ls, &logvar));
    fill_normal(&m->seed, latent.data, sdc_tensor_numel(&latent));
    fill_uniform(&m->seed, image.data, sdc_tensor_numel(&image), -1.0, 1.0);
    TRY(done, sdc_vae_decode(m->ctx, a, &m->work_a, &latent, &image_a));
    TRY(done, sdc_vae_decode(m->ctx, b, &m->work_b, &latent, &image_b));
    TRY(done, sdc_vae_encode(m->ctx, a, &m->work_a, &image, &mean_a, &logvar));
    TRY(done, sdc_vae_encode(m->ctx, b, &m->work_b, &image, &mean_b, &logvar));
    double pd = psnr_of(&image_a, &image_b), pe = psnr_of(&mean_a, &mean_b);
    *psnr = pd < pe ? pd : pe;
done:
    sdc_vae_destroy(a);
    sdc_vae_destroy(b);
    return st;
}

static sdc_status check_clip(check_mem *m, const sdc_import_component *c, sdc_store *src,
                             sdc_store *dst, double *psnr)
{
    sdc_status st;
    sdc_clip_text_config config;
    sdc_clip_text *a = NULL, *b = NULL;
    st = sdc_clip_text_config_from_json(&c->config, &config);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(src);
        sdc_store_destroy(dst);
        return st;
    }
    /* As sdc_clip_text_open_diffusers: the weights say whether the model projects. */
    if (!sdc_store_has(src, "text_projection.weight"))
        config.projection_dim = 0;
    st = sdc_clip_text_load(m->ctx, src, &config, &a);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(dst);
        return st;
    }
    TRY(done, sdc_clip_text_load(m->ctx, dst, &config, &b));
    int64_t L = config.max_positions < 77 ? config.max_positions : 77;
    int32_t ids[77];
    for (int64_t i = 0; i < L; i++)
        ids[i] = (int32_t)(next_u64(&m->seed) % (uint64_t)config.vocab_size);
    int64_t hs[3] = {1, L, config.hidden_size}, ps[2] = {1, config.hidden_size};
    int64_t es[2] = {1, config.projection_dim};
    sdc_tensor h[2] = {{0}}, p[2] = {{0}}, e[2] = {{0}};
    for (int k = 0; k < 2; k++) {
        TRY(done, tensor(m, 3, hs, &h[k]));
        TRY(done, tensor(m, 2, ps, &p[k]));
        if (config.projection_dim)
            TRY(done, tensor(m, 2, es, &e[k]));
    }
    for (int k = 0; k < 2; k++) {
        sdc_clip_text_outputs out = {.last_hidden_state = &h[k],
                                     .pooled = &p[k],
                                     .text_embeds = config.projection_dim ? &e[k] : NULL};
        TRY(done,
            sdc_clip_text_encode(m->ctx, k ? b : a, k ? &m->work_b : &m->work_a, ids, 1, L, &out));
    }
    double worst = psnr_of(&h[0], &h[1]), pp = psnr_of(&p[0], &p[1]);
    worst = pp < worst ? pp : worst;
    if (config.projection_dim) {
        double pe = psnr_of(&e[0], &e[1]);
        worst = pe < worst ? pe : worst;
    }
    *psnr = worst;
done:
    sdc_clip_text_destroy(a);
    sdc_clip_text_destroy(b);
    return st;
}

/* The inputs: UNet and ControlNet a latent of 2 x 2^(levels-1) squared, 77 context tokens, t = 500
 * (SDXL: pooled embeddings and time ids too); the VAE decodes an 8 x 8 latent and encodes a
 * 64 x 64 image; a text encoder reads 77 random ids. */
sdc_status sdc_convert_check(sdc_context *ctx, const sdc_import *imp, const sdc_import_component *c,
                             const char *converted, bool *checked, double *psnr)
{
    *checked = false;
    *psnr = 0.0;
    bool unet = strcmp(c->name, "unet") == 0, vae = strcmp(c->name, "vae") == 0;
    bool controlnet = strcmp(c->name, "controlnet") == 0;
    bool clip = strncmp(c->name, "text_encoder", 12) == 0;
    if (!unet && !vae && !controlnet && !clip)
        return SDC_STATUS_OK; /* the safety checker is copied, not compressed */
    check_mem m = {.ctx = ctx, .seed = 20240601};
    sdc_arena_init(&m.arena, ctx, (size_t)1 << 20);
    sdc_arena_init(&m.work_a, ctx, (size_t)1 << 24);
    sdc_arena_init(&m.work_b, ctx, (size_t)1 << 24);
    sdc_store *src = NULL, *dst = NULL;
    sdc_status st = sdc_import_store(imp, c, &src);
    if (st == SDC_STATUS_OK)
        st = sdc_store_open_file(ctx, converted, &dst);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(src);
    } else {
        /* Each check takes ownership of both stores. */
        if (unet)
            st = check_unet(&m, imp, c, src, dst, psnr);
        else if (controlnet)
            st = check_controlnet(&m, imp, c, src, dst, psnr);
        else if (vae)
            st = check_vae(&m, c, src, dst, psnr);
        else
            st = check_clip(&m, c, src, dst, psnr);
        *checked = st == SDC_STATUS_OK;
    }
    sdc_arena_release(&m.work_b);
    sdc_arena_release(&m.work_a);
    sdc_arena_release(&m.arena);
    return st;
}
