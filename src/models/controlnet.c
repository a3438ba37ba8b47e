/*
 * controlnet.c — ControlNetModel of diffusers 0.30: the UNet's encoder half (conv_in, time
 * conditioning, down blocks, mid block; the same names and blocks as unet.c) plus the
 * conditioning embedding of the control image, which is added after conv_in, and a zero
 * convolution per skip connection and for the mid block. Its outputs, multiplied by the
 * conditioning scale, are the residuals sdc_unet_forward adds (guess mode and global pooling
 * are not implemented).
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

/* ControlNetConditioningEmbedding: conv_in, SiLU; per step a conv and a stride-2 conv, each
 * followed by SiLU; conv_out to the UNet's first width. */
typedef struct cond_embedding {
    sdc_weight conv_in;                              /* [c0, cond, 3, 3] */
    const float *conv_in_bias;                       /* [c0] */
    sdc_weight conv[SDC_UNET_MAX_LEVELS - 1];        /* blocks.2k: [ck, ck, 3, 3] */
    const float *conv_bias[SDC_UNET_MAX_LEVELS - 1]; /* [ck] */
    sdc_weight down[SDC_UNET_MAX_LEVELS - 1];        /* blocks.2k+1: [ck+1, ck, 3, 3], stride 2 */
    const float *down_bias[SDC_UNET_MAX_LEVELS - 1]; /* [ck+1] */
    sdc_weight conv_out;                             /* [C0, c_last, 3, 3] */
    const float *conv_out_bias;                      /* [C0] */
} cond_embedding;

struct sdc_controlnet {
    sdc_context *ctx;
    sdc_controlnet_config config;
    sdc_store *store;
    sdc_arena parts;           /* the transformers' block arrays */
    sdc_weight conv_in;        /* [C0, in, 3, 3] */
    const float *conv_in_bias; /* [C0] */
    sdc_time_conditioning time;
    cond_embedding cond;
    sdc_unet_down_block down[SDC_UNET_MAX_LEVELS];
    sdc_unet_mid_block mid;
    sdc_weight zero_convs[SDC_UNET_MAX_SKIPS];       /* controlnet_down_blocks.i: [C, C, 1, 1] */
    const float *zero_conv_bias[SDC_UNET_MAX_SKIPS]; /* [C] */
    sdc_weight mid_zero_conv;        /* controlnet_mid_block: [C_last, C_last, 1, 1] */
    const float *mid_zero_conv_bias; /* [C_last] */
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration and loading                                                                  */

sdc_status sdc_controlnet_config_from_json(const sdc_model_config *j, sdc_controlnet_config *out)
{
    sdc_controlnet_config c = {0};
    TRY_RETURN(sdc_unet_config_from_json(j, true, &c.unet));
    TRY_RETURN(sdc_model_config_expect_string(j, "controlnet_conditioning_channel_order", "rgb"));
    TRY_RETURN(sdc_model_config_int(j, "conditioning_channels", 3, &c.conditioning_channels));
    TRY_RETURN(sdc_model_config_int_list(j, "conditioning_embedding_out_channels",
                                         c.conditioning_embedding_out_channels, SDC_UNET_MAX_LEVELS,
                                         &c.n_conditioning_levels));
    *out = c;
    return SDC_STATUS_OK;
}

static sdc_status load_cond_embedding(sdc_store *s, const sdc_controlnet_config *c,
                                      cond_embedding *e)
{
    const char *p = "controlnet_cond_embedding.";
    const int64_t *ch = c->conditioning_embedding_out_channels;
    int n = c->n_conditioning_levels;
    TRY_RETURN(sdc_load_conv(s, p, "conv_in", ch[0], c->conditioning_channels, 3, &e->conv_in,
                             &e->conv_in_bias));
    for (int k = 0; k + 1 < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "blocks.%d", 2 * k);
        TRY_RETURN(sdc_load_conv(s, p, name, ch[k], ch[k], 3, &e->conv[k], &e->conv_bias[k]));
        snprintf(name, sizeof name, "blocks.%d", 2 * k + 1);
        TRY_RETURN(sdc_load_conv(s, p, name, ch[k + 1], ch[k], 3, &e->down[k], &e->down_bias[k]));
    }
    return sdc_load_conv(s, p, "conv_out", c->unet.block_out_channels[0], ch[n - 1], 3,
                         &e->conv_out, &e->conv_out_bias);
}

/* The width of skip i, in the order the down path produces them. */
static int64_t skip_channels(const sdc_unet_config *c, int i)
{
    if (i == 0)
        return c->block_out_channels[0];
    int per_level = c->layers_per_block + 1;
    return c->block_out_channels[(i - 1) / per_level];
}

sdc_status sdc_controlnet_load(sdc_context *ctx, sdc_store *store,
                               const sdc_controlnet_config *config, sdc_controlnet **out)
{
    sdc_status st;
    *out = NULL;
    sdc_controlnet *cn = sdc_calloc(ctx, 1, sizeof *cn);
    if (!cn) {
        sdc_store_destroy(store);
        return sdc_fail_oom(ctx, "a ControlNet", sizeof *cn);
    }
    cn->ctx = ctx;
    cn->store = store;
    cn->config = *config;
    sdc_arena_init(&cn->parts, ctx, 0);
    const sdc_unet_config *c = &cn->config.unet;
    int64_t C0 = c->block_out_channels[0], C_last = c->block_out_channels[c->n_levels - 1];
    if (config->n_conditioning_levels < 1 || config->conditioning_channels < 1) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: no conditioning embedding channels",
                      store->description);
        goto destroy;
    }
    TRY(destroy, sdc_load_conv(store, "", "conv_in", C0, c->in_channels, 3, &cn->conv_in,
                               &cn->conv_in_bias));
    TRY(destroy, sdc_time_conditioning_load(store, c, &cn->time));
    TRY(destroy, load_cond_embedding(store, &cn->config, &cn->cond));
    for (int i = 0; i < c->n_levels; i++)
        TRY(destroy, sdc_unet_down_block_load(store, &cn->parts, c, i, &cn->down[i]));
    TRY(destroy, sdc_unet_mid_block_load(store, &cn->parts, c, &cn->mid));
    for (int i = 0; i < sdc_unet_n_skips(c); i++) {
        char name[48];
        snprintf(name, sizeof name, "controlnet_down_blocks.%d", i);
        int64_t ch = skip_channels(c, i);
        TRY(destroy,
            sdc_load_conv(store, "", name, ch, ch, 1, &cn->zero_convs[i], &cn->zero_conv_bias[i]));
    }
    TRY(destroy, sdc_load_conv(store, "", "controlnet_mid_block", C_last, C_last, 1,
                               &cn->mid_zero_conv, &cn->mid_zero_conv_bias));
    TRY(destroy, sdc_load_check_unused(store));
    *out = cn;
    return SDC_STATUS_OK;
destroy:
    sdc_controlnet_destroy(cn);
    return st;
}

sdc_status sdc_controlnet_open_diffusers(sdc_context *ctx, const char *dir, sdc_controlnet **out)
{
    sdc_status st;
    sdc_model_config json;
    sdc_controlnet_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_model_config_open_dir(ctx, dir, &json));
    TRY(close_json, sdc_controlnet_config_from_json(&json, &config));
    TRY(close_json, sdc_store_open_diffusers(ctx, dir, &store));
    st = sdc_controlnet_load(ctx, store, &config, out);
close_json:
    sdc_model_config_close(&json);
    return st;
}

void sdc_controlnet_destroy(sdc_controlnet *cn)
{
    if (!cn)
        return;
    sdc_store_destroy(cn->store);
    sdc_arena_release(&cn->parts);
    sdc_free(cn->ctx, cn);
}

const sdc_controlnet_config *sdc_controlnet_get_config(const sdc_controlnet *cn)
{
    return &cn->config;
}

const sdc_store *sdc_controlnet_get_store(const sdc_controlnet *cn)
{
    return cn->store;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* *out [B, C0, H, W] = the embedding of the control image cond [B, 3, fH, fW] (from f). */
static sdc_status cond_embedding_forward(sdc_fwd *f, const sdc_controlnet *cn,
                                         const sdc_tensor *cond, sdc_tensor *out)
{
    sdc_status st;
    const cond_embedding *e = &cn->cond;
    const sdc_controlnet_config *c = &cn->config;
    const int64_t *ch = c->conditioning_embedding_out_channels;
    int64_t B = cond->shape[0], H = cond->shape[2], W = cond->shape[3];
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor h, t;

    TRY(release, sdc_fwd_tensor4(f, B, ch[0], H, W, &h));
    TRY(release, sdc_fwd_conv2d(f, cond, &e->conv_in, e->conv_in_bias, 1, 1, &h));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SILU, &h, &h));
    for (int k = 0; k + 1 < c->n_conditioning_levels; k++) {
        TRY(release, sdc_fwd_tensor4(f, B, ch[k], H, W, &t));
        TRY(release, sdc_fwd_conv2d(f, &h, &e->conv[k], e->conv_bias[k], 1, 1, &t));
        TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SILU, &t, &t));
        TRY(release, sdc_downsample_forward(f, &e->down[k], e->down_bias[k], 1, &t, &h));
        TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SILU, &h, &h));
        TRY(release, sdc_fwd_keep(f, m, &h));
        H = h.shape[2];
        W = h.shape[3];
    }
    TRY(release, sdc_fwd_tensor4(f, B, c->unet.block_out_channels[0], H, W, out));
    TRY(release, sdc_fwd_conv2d(f, &h, &e->conv_out, e->conv_out_bias, 1, 1, out));
    TRY(release, sdc_fwd_keep(f, m, out));
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

static sdc_status forward(sdc_fwd *f, const sdc_controlnet *cn, const sdc_controlnet_inputs *in,
                          sdc_control_residuals *out)
{
    sdc_status st;
    const sdc_unet_config *c = &cn->config.unet;
    memset(out, 0, sizeof *out);
    int64_t want_sample[4] = {-1, c->in_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "ControlNet sample", in->sample, 4, want_sample));
    int64_t B = in->sample->shape[0], H = in->sample->shape[2], W = in->sample->shape[3];
    int64_t cond_factor = (int64_t)1 << (cn->config.n_conditioning_levels - 1);
    if (H == 0 || W == 0)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE, "ControlNet: sample %lldx%lld is empty",
                        (long long)W, (long long)H);
    int64_t want_ctx[3] = {B, -1, c->cross_attention_dim};
    TRY_RETURN(
        sdc_check_input(f->ctx, "encoder_hidden_states", in->encoder_hidden_states, 3, want_ctx));
    int64_t want_cond[4] = {B, cn->config.conditioning_channels, H * cond_factor, W * cond_factor};
    TRY_RETURN(sdc_check_input(f->ctx, "controlnet_cond", in->controlnet_cond, 4, want_cond));
    const sdc_tensor *context = in->encoder_hidden_states;
    sdc_fwd_mark start = sdc_fwd_get_mark(f);
    sdc_tensor temb, h, cond, mid;
    sdc_tensor skips[SDC_UNET_MAX_SKIPS];
    int n_skips = 0;

    /* temb as in the UNet */
    TRY(release, sdc_time_conditioning_forward(f, &cn->time, B, in->timesteps, in->text_embeds,
                                               in->time_ids, &temb));

    /* h = conv_in(sample) + cond_embedding(controlnet_cond) */
    TRY(release, sdc_fwd_tensor4(f, B, c->block_out_channels[0], H, W, &h));
    TRY(release, sdc_fwd_conv2d(f, in->sample, &cn->conv_in, cn->conv_in_bias, 1, 1, &h));
    sdc_fwd_mark after_h = sdc_fwd_get_mark(f);
    TRY(release, cond_embedding_forward(f, cn, in->controlnet_cond, &cond));
    TRY(release, sdc_fwd_add(f, &h, &cond, &h));
    sdc_fwd_reset_to(f, after_h);
    skips[n_skips++] = h;

    /* down blocks and mid block, as in the UNet */
    for (int i = 0; i < c->n_levels; i++)
        TRY(release,
            sdc_unet_down_block_forward(f, &cn->down[i], &h, &temb, context, skips, &n_skips));
    TRY(release, sdc_unet_mid_block_forward(f, &cn->mid, &h, &temb, context, &mid));

    /* residual_i = zero_conv_i(skip_i) * scale; mid likewise */
    float scale = in->conditioning_scale;
    int64_t one[4] = {1, 1, 1, 1};
    sdc_tensor scale_t = sdc_tensor_make(&scale, SDC_DTYPE_F32, 4, one);
    sdc_tensor *kept[SDC_UNET_MAX_SKIPS + 1];
    out->n_down = n_skips;
    for (int i = 0; i <= n_skips; i++) {
        bool is_mid = i == n_skips;
        const sdc_tensor *x = is_mid ? &mid : &skips[i];
        sdc_tensor *r = is_mid ? &out->mid : &out->down[i];
        TRY(release, sdc_fwd_tensor4(f, B, x->shape[1], x->shape[2], x->shape[3], r));
        TRY(release,
            sdc_fwd_conv2d(f, x, is_mid ? &cn->mid_zero_conv : &cn->zero_convs[i],
                           is_mid ? cn->mid_zero_conv_bias : cn->zero_conv_bias[i], 1, 0, r));
        TRY(release, sdc_fwd_binary(f, SDC_BINARY_OP_MUL, r, &scale_t, r));
        kept[i] = r;
    }
    /* Only the residuals stay, moved down to where the pass started. */
    TRY(release, sdc_fwd_keep_n(f, start, kept, n_skips + 1));
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, start);
    memset(out, 0, sizeof *out);
    return st;
}

sdc_status sdc_controlnet_forward(sdc_context *ctx, const sdc_controlnet *cn, sdc_arena *scratch,
                                  const sdc_controlnet_inputs *in, sdc_control_residuals *out)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return forward(&f, cn, in, out);
}

sdc_status sdc_controlnet_scratch_bytes(sdc_context *ctx, const sdc_controlnet *cn,
                                        const sdc_controlnet_inputs *in, size_t *bytes)
{
    sdc_fwd f;
    sdc_control_residuals shapes_only;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_status st = forward(&f, cn, in, &shapes_only);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}

sdc_status sdc_controlnet_residual_bytes(sdc_context *ctx, const sdc_controlnet *cn,
                                         const sdc_controlnet_inputs *in, size_t *bytes)
{
    sdc_fwd f;
    sdc_control_residuals shapes_only;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_status st = forward(&f, cn, in, &shapes_only);
    /* after the pass only the residuals are counted as used */
    *bytes = st == SDC_STATUS_OK ? (f.used + SDC_ALIGN - 1) / SDC_ALIGN * SDC_ALIGN : 0;
    return st;
}
