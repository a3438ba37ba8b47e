/*
 * sd15_synthetic.h — a real-size Stable Diffusion 1.5 UNet (runwayml/stable-diffusion-v1-5
 * unet/config.json: block_out_channels 320, 640, 1280, 1280; 2 layers per block; 8 heads;
 * cross_attention_dim 768; conv projections) with random weights and no file: every tensor
 * of the diffusers layout, with its real shape, is an F16 view of one shared buffer of
 * uniform random values (so 60 MB stand in for the 1.7 GB of real weights). For measuring
 * activation memory and running the forward pass at full size.
 */
#ifndef SDC_TESTS_MODELS_SD15_SYNTHETIC_H
#define SDC_TESTS_MODELS_SD15_SYNTHETIC_H

#include "model_test.h"

#include <stdarg.h>

typedef struct sd15_synthetic {
    sdc_st_tensor *tensors;
    char (*names)[SDC_MODEL_NAME_MAX];
    size_t n, cap;
    uint16_t *values; /* F16, shared by every tensor */
    size_t n_values;
    sdc_unet_config config;
} sd15_synthetic;

static inline void sd15_add(sd15_synthetic *s, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->tensors = realloc(s->tensors, s->cap * sizeof *s->tensors);
        s->names = realloc(s->names, s->cap * sizeof *s->names);
        if (!s->tensors || !s->names) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->names[s->n], SDC_MODEL_NAME_MAX, fmt, ap);
    va_end(ap);
    sdc_st_tensor *t = &s->tensors[s->n++];
    memset(t, 0, sizeof *t);
    t->dtype = SDC_DTYPE_F16;
    t->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    if (numel > s->n_values)
        s->n_values = numel;
    t->end = 2 * numel;
}

#define SD15_SHAPE(...)                                                                            \
    (int64_t[])                                                                                    \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define SD15_NDIM(...)         ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define SD15_ADD(s, dims, ...) sd15_add((s), SD15_NDIM dims, SD15_SHAPE dims, __VA_ARGS__)

static inline void sd15_conv(sd15_synthetic *s, const char *p, const char *name, int64_t out,
                             int64_t in, int64_t k)
{
    SD15_ADD(s, (out, in, k, k), "%s%s.weight", p, name);
    SD15_ADD(s, (out), "%s%s.bias", p, name);
}

static inline void sd15_linear(sd15_synthetic *s, const char *p, const char *name, int64_t out,
                               int64_t in, bool bias)
{
    SD15_ADD(s, (out, in), "%s%s.weight", p, name);
    if (bias)
        SD15_ADD(s, (out), "%s%s.bias", p, name);
}

static inline void sd15_norm(sd15_synthetic *s, const char *p, const char *name, int64_t n)
{
    SD15_ADD(s, (n), "%s%s.weight", p, name);
    SD15_ADD(s, (n), "%s%s.bias", p, name);
}

static inline void sd15_resnet(sd15_synthetic *s, const char *p, int64_t in, int64_t out,
                               int64_t temb)
{
    sd15_norm(s, p, "norm1", in);
    sd15_conv(s, p, "conv1", out, in, 3);
    sd15_linear(s, p, "time_emb_proj", out, temb, true);
    sd15_norm(s, p, "norm2", out);
    sd15_conv(s, p, "conv2", out, out, 3);
    if (in != out)
        sd15_conv(s, p, "conv_shortcut", out, in, 1);
}

static inline void sd15_transformer(sd15_synthetic *s, const char *p, int64_t C, int64_t ctx)
{
    char b[SDC_MODEL_NAME_MAX];
    sd15_norm(s, p, "norm", C);
    sd15_conv(s, p, "proj_in", C, C, 1);
    snprintf(b, sizeof b, "%stransformer_blocks.0.", p);
    sd15_norm(s, b, "norm1", C);
    sd15_linear(s, b, "attn1.to_q", C, C, false);
    sd15_linear(s, b, "attn1.to_k", C, C, false);
    sd15_linear(s, b, "attn1.to_v", C, C, false);
    sd15_linear(s, b, "attn1.to_out.0", C, C, true);
    sd15_norm(s, b, "norm2", C);
    sd15_linear(s, b, "attn2.to_q", C, C, false);
    sd15_linear(s, b, "attn2.to_k", C, ctx, false);
    sd15_linear(s, b, "attn2.to_v", C, ctx, false);
    sd15_linear(s, b, "attn2.to_out.0", C, C, true);
    sd15_norm(s, b, "norm3", C);
    sd15_linear(s, b, "ff.net.0.proj", 8 * C, C, true);
    sd15_linear(s, b, "ff.net.2", C, 4 * C, true);
    sd15_conv(s, p, "proj_out", C, C, 1);
}

/* Builds the tensors and the configuration; returns the store (NULL after a failed check).
 * The store points into s, which must outlive it. */
static inline sdc_store *sd15_synthetic_store(sdc_context *ctx, sd15_synthetic *s)
{
    static const int64_t ch[4] = {320, 640, 1280, 1280};
    const int64_t temb = 1280, cross = 768;
    char p[SDC_MODEL_NAME_MAX];
    memset(s, 0, sizeof *s);
    sdc_unet_config *c = &s->config;
    *c = (sdc_unet_config){
        .in_channels = 4,
        .out_channels = 4,
        .n_levels = 4,
        .layers_per_block = 2,
        .cross_attention_dim = cross,
        .use_linear_projection = false,
        .norm_num_groups = 32,
        .norm_eps = 1e-5f,
        .flip_sin_to_cos = true,
        .freq_shift = 0,
        .downsample_padding = 1,
        .time_embed_dim = temb,
    };
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = ch[i];
        c->down_attention[i] = i < 3;
        c->up_attention[i] = i > 0;
        c->n_heads[i] = 8;
        c->transformer_layers[i] = 1;
        c->up_transformer_layers[i] = 1;
    }

    sd15_conv(s, "", "conv_in", 320, 4, 3);
    sd15_linear(s, "time_embedding.", "linear_1", temb, 320, true);
    sd15_linear(s, "time_embedding.", "linear_2", temb, temb, true);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d.", i, j);
            sd15_resnet(s, p, j == 0 ? ch[i == 0 ? 0 : i - 1] : ch[i], ch[i], temb);
            if (!c->down_attention[i])
                continue;
            snprintf(p, sizeof p, "down_blocks.%d.attentions.%d.", i, j);
            sd15_transformer(s, p, ch[i], cross);
        }
        if (i < 3) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.", i);
            sd15_conv(s, p, "conv", ch[i], ch[i], 3);
        }
    }
    sd15_resnet(s, "mid_block.resnets.0.", 1280, 1280, temb);
    sd15_transformer(s, "mid_block.attentions.0.", 1280, cross);
    sd15_resnet(s, "mid_block.resnets.1.", 1280, 1280, temb);
    for (int i = 0; i < 4; i++) {
        int64_t out = ch[3 - i], prev = ch[3 - (i == 0 ? 0 : i - 1)];
        int64_t in = ch[3 - (i + 1 < 4 ? i + 1 : 3)];
        for (int j = 0; j < 3; j++) {
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d.", i, j);
            sd15_resnet(s, p, (j == 0 ? prev : out) + (j == 2 ? in : out), out, temb);
            if (!c->up_attention[i])
                continue;
            snprintf(p, sizeof p, "up_blocks.%d.attentions.%d.", i, j);
            sd15_transformer(s, p, out, cross);
        }
        if (i < 3) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.", i);
            sd15_conv(s, p, "conv", out, out, 3);
        }
    }
    sd15_norm(s, "", "conv_norm_out", 320);
    sd15_conv(s, "", "conv_out", 4, 320, 3);

    /* Uniform in [-1/64, 1/64]: small enough that activations stay finite at any depth. */
    s->values = malloc(s->n_values * sizeof *s->values);
    if (!s->values) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    uint64_t state = 12345;
    for (size_t i = 0; i < s->n_values; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)(state >> 40) / (float)(1 << 24);
        s->values[i] = sdc_f32_to_f16((u - 0.5f) / 32.0f);
    }
    sdc_store *store = NULL;
    if (sdc_store_create(ctx, "synthetic SD 1.5 UNet", &store) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->tensors[i].name = s->names[i];
        s->tensors[i].data = s->values;
        if (sdc_store_add(store, s->names[i], &s->tensors[i], SDC_STORE_TRANSFORM_NONE, 0, 0) !=
            SDC_STATUS_OK) {
            CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
            sdc_store_destroy(store);
            return NULL;
        }
    }
    if (sdc_store_finish(store) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        sdc_store_destroy(store);
        return NULL;
    }
    return store;
}

static inline void sd15_synthetic_free(sd15_synthetic *s)
{
    free(s->tensors);
    free(s->names);
    free(s->values);
    memset(s, 0, sizeof *s);
}

#endif /* SDC_TESTS_MODELS_SD15_SYNTHETIC_H */
