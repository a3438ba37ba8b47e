/*
 * taesd.c — the tiny autoencoders of madebyollin/taesd (taesd.py at 5cccb12d): the 8x encoder
 * and decoder for 4-channel (SD 1.x/2.x, SDXL), 16-channel (SD3, FLUX.1) and 32-channel
 * FLUX.2 latents, the last with a GroupNorm "pool" branch in its three deepest blocks. Weights
 * use the upstream names ("0.weight", "1.conv.0.weight", ...); the variant is read from the
 * tensors. Pixels are RGB in [0, 1]; latents are the diffusion model's (already scaled).
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

enum {
    STAGES = 3,         /* 8x = three 2x steps */
    POOL_GROUPS = 4,    /* GroupNorm(4, 4C) in the pool branch */
    POOL_EXPANSION = 4, /* pool branch width: 4C */
};
static const float POOL_NORM_EPS = 1e-5f;

/* Block(C, C): x += pool(x) (FLUX.2 only); out = relu(conv(relu(conv(relu(conv(x))))) + x).
 * Every released file has i == o, so the skip is the identity. */
typedef struct taesd_block {
    bool has_pool;
    sdc_weight pool_in;            /* n.pool.0: [4C, C, 1, 1], no bias */
    const float *pool_norm_weight; /* n.pool.1: [4C] */
    const float *pool_norm_bias;   /* [4C] */
    sdc_weight pool_out;           /* n.pool.3: [C, 4C, 1, 1], no bias */
    sdc_weight conv[3];            /* n.conv.0, n.conv.2, n.conv.4: [C, C, 3, 3] */
    const float *conv_bias[3];     /* [C] each */
} taesd_block;

/* Encoder: conv, Block, then three times (stride-2 conv, 3 Blocks), conv to the latent. */
typedef struct taesd_encoder {
    sdc_weight conv_in;            /* 0: [C, 3, 3, 3] */
    const float *conv_in_bias;     /* [C] */
    taesd_block first;             /* 1 */
    sdc_weight down[STAGES];       /* 2, 6, 10: [C, C, 3, 3], stride 2, no bias */
    taesd_block blocks[STAGES][3]; /* 3-5, 7-9, 11-13 (FLUX.2: pool in 11-13) */
    sdc_weight conv_out;           /* 14: [latent, C, 3, 3] */
    const float *conv_out_bias;    /* [latent] */
} taesd_encoder;

/* Decoder: 3 tanh(x / 3), conv, ReLU, 3 Blocks, then three times (nearest 2x, conv without
 * bias, Blocks: 3, 3, 1), conv to RGB. */
typedef struct taesd_decoder {
    sdc_weight conv_in;            /* 1: [C, latent, 3, 3] */
    const float *conv_in_bias;     /* [C] */
    taesd_block blocks_in[3];      /* 3-5 (FLUX.2: with pool) */
    sdc_weight up_conv[STAGES];    /* 7, 12, 17: [C, C, 3, 3], no bias */
    taesd_block blocks[STAGES][3]; /* 8-10, 13-15, 18 */
    sdc_weight conv_out;           /* 19: [3, C, 3, 3] */
    const float *conv_out_bias;    /* [3] */
} taesd_decoder;

static const int decoder_stage_blocks[STAGES] = {3, 3, 1};

struct sdc_taesd {
    sdc_context *ctx;
    sdc_taesd_config config;
    sdc_store *encoder_store, *decoder_store; /* either may be NULL */
    taesd_encoder encoder;
    taesd_decoder decoder;
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration from the tensors                                                             */

static sdc_status derive_half(sdc_store *s, bool encoder, sdc_taesd_config *c)
{
    const char *conv_in = encoder ? "0.weight" : "1.weight";
    const char *conv_out = encoder ? "14.weight" : "19.weight";
    /* The 32x encoder ends in a biased conv at 17, the 32x decoder at 29; an 8x decoder has
     * its last conv at 19, an 8x encoder at 14. */
    if (sdc_store_has(s, encoder ? "17.bias" : "29.weight"))
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: a 32x TAESD %s (taesana, Sana DC-AE): sdc reads only the 8x "
                        "variants",
                        s->description, encoder ? "encoder" : "decoder");
    if (encoder ? sdc_store_has(s, "19.weight")
                : !sdc_store_has(s, "19.weight") && sdc_store_has(s, "14.weight"))
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT, "%s: a TAESD %s given as the %s", s->description,
                        encoder ? "decoder" : "encoder", encoder ? "encoder" : "decoder");
    const sdc_store_entry *in = sdc_store_find(s, conv_in);
    const sdc_store_entry *out = sdc_store_find(s, conv_out);
    if (!in || !out || in->ndim != 4 || out->ndim != 4)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: not a TAESD %s in the upstream layout (needs 4-D '%s' and '%s')",
                        s->description, encoder ? "encoder" : "decoder", conv_in, conv_out);
    int64_t channels = in->shape[0];
    int64_t latent = encoder ? out->shape[0] : in->shape[1];
    bool pool = sdc_store_has(s, encoder ? "11.pool.0.weight" : "3.pool.0.weight");
    if (c->channels &&
        (c->channels != channels || c->latent_channels != latent || c->group_norm_blocks != pool))
        return sdc_fail(s->ctx, SDC_STATUS_SHAPE,
                        "%s: decoder of %lld channels, %lld latent channels%s does not match the "
                        "encoder's %lld, %lld%s",
                        s->description, (long long)channels, (long long)latent,
                        pool ? " with GroupNorm blocks" : "", (long long)c->channels,
                        (long long)c->latent_channels,
                        c->group_norm_blocks ? " with GroupNorm blocks" : "");
    c->channels = channels;
    c->latent_channels = latent;
    c->group_norm_blocks = pool;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

static sdc_status load_block(sdc_store *s, int index, int64_t C, taesd_block *b)
{
    char p[32];
    snprintf(p, sizeof p, "%d.", index);
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "conv.%d", 2 * i);
        TRY_RETURN(sdc_load_conv(s, p, name, C, C, 3, &b->conv[i], &b->conv_bias[i]));
    }
    b->has_pool = sdc_load_has(s, "%d.pool.0.weight", index);
    if (!b->has_pool)
        return SDC_STATUS_OK;
    TRY_RETURN(sdc_load_conv(s, p, "pool.0", POOL_EXPANSION * C, C, 1, &b->pool_in, NULL));
    TRY_RETURN(sdc_load_norm(s, p, "pool.1", POOL_EXPANSION * C, &b->pool_norm_weight,
                             &b->pool_norm_bias));
    return sdc_load_conv(s, p, "pool.3", C, POOL_EXPANSION * C, 1, &b->pool_out, NULL);
}

static sdc_status load_encoder(sdc_store *s, const sdc_taesd_config *c, taesd_encoder *e)
{
    int64_t C = c->channels;
    TRY_RETURN(sdc_load_conv(s, "", "0", C, 3, 3, &e->conv_in, &e->conv_in_bias));
    TRY_RETURN(load_block(s, 1, C, &e->first));
    for (int stage = 0; stage < STAGES; stage++) {
        char name[8];
        int base = 2 + 4 * stage;
        snprintf(name, sizeof name, "%d", base);
        TRY_RETURN(sdc_load_conv(s, "", name, C, C, 3, &e->down[stage], NULL));
        for (int i = 0; i < 3; i++)
            TRY_RETURN(load_block(s, base + 1 + i, C, &e->blocks[stage][i]));
    }
    TRY_RETURN(
        sdc_load_conv(s, "", "14", c->latent_channels, C, 3, &e->conv_out, &e->conv_out_bias));
    return sdc_load_check_unused(s);
}

static sdc_status load_decoder(sdc_store *s, const sdc_taesd_config *c, taesd_decoder *d)
{
    int64_t C = c->channels;
    TRY_RETURN(sdc_load_conv(s, "", "1", C, c->latent_channels, 3, &d->conv_in, &d->conv_in_bias));
    for (int i = 0; i < 3; i++)
        TRY_RETURN(load_block(s, 3 + i, C, &d->blocks_in[i]));
    for (int stage = 0; stage < STAGES; stage++) {
        char name[8];
        int base = 7 + 5 * stage;
        snprintf(name, sizeof name, "%d", base);
        TRY_RETURN(sdc_load_conv(s, "", name, C, C, 3, &d->up_conv[stage], NULL));
        for (int i = 0; i < decoder_stage_blocks[stage]; i++)
            TRY_RETURN(load_block(s, base + 1 + i, C, &d->blocks[stage][i]));
    }
    TRY_RETURN(sdc_load_conv(s, "", "19", 3, C, 3, &d->conv_out, &d->conv_out_bias));
    return sdc_load_check_unused(s);
}

sdc_status sdc_taesd_load(sdc_context *ctx, sdc_store *encoder, sdc_store *decoder, sdc_taesd **out)
{
    sdc_status st;
    *out = NULL;
    sdc_taesd *t = sdc_calloc(ctx, 1, sizeof *t);
    if (!t) {
        st = sdc_fail_oom(ctx, "a TAESD model", sizeof *t);
        goto free_stores;
    }
    t->ctx = ctx;
    t->encoder_store = encoder;
    t->decoder_store = decoder;
    encoder = decoder = NULL;
    if (!t->encoder_store && !t->decoder_store) {
        st = sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "TAESD: neither encoder nor decoder given");
        goto destroy;
    }
    if (t->encoder_store)
        TRY(destroy, derive_half(t->encoder_store, true, &t->config));
    if (t->decoder_store)
        TRY(destroy, derive_half(t->decoder_store, false, &t->config));
    t->config.has_encoder = t->encoder_store != NULL;
    t->config.has_decoder = t->decoder_store != NULL;
    if (t->encoder_store)
        TRY(destroy, load_encoder(t->encoder_store, &t->config, &t->encoder));
    if (t->decoder_store)
        TRY(destroy, load_decoder(t->decoder_store, &t->config, &t->decoder));
    *out = t;
    return SDC_STATUS_OK;
destroy:
    sdc_taesd_destroy(t);
free_stores:
    sdc_store_destroy(encoder);
    sdc_store_destroy(decoder);
    return st;
}

sdc_status sdc_taesd_open(sdc_context *ctx, const char *encoder_path, const char *decoder_path,
                          sdc_taesd **out)
{
    sdc_status st = SDC_STATUS_OK;
    sdc_store *enc = NULL, *dec = NULL;
    *out = NULL;
    if (encoder_path)
        TRY(fail, sdc_store_open_file(ctx, encoder_path, &enc));
    if (decoder_path)
        TRY(fail, sdc_store_open_file(ctx, decoder_path, &dec));
    return sdc_taesd_load(ctx, enc, dec, out);
fail:
    sdc_store_destroy(enc);
    return st;
}

void sdc_taesd_destroy(sdc_taesd *t)
{
    if (!t)
        return;
    sdc_store_destroy(t->encoder_store);
    sdc_store_destroy(t->decoder_store);
    sdc_free(t->ctx, t);
}

const sdc_taesd_config *sdc_taesd_get_config(const sdc_taesd *t)
{
    return &t->config;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* x [B, C, H, W] = Block(x), in place. */
static sdc_status block_forward(sdc_fwd *f, const taesd_block *b, sdc_tensor *x)
{
    sdc_status st;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor t1, t2;

    /* x += pool_out(relu(group_norm(pool_in(x)))) */
    if (b->has_pool) {
        sdc_tensor wide, narrow;
        TRY(release, sdc_fwd_tensor4(f, B, POOL_EXPANSION * C, H, W, &wide));
        TRY(release, sdc_fwd_tensor4(f, B, C, H, W, &narrow));
        TRY(release, sdc_fwd_conv2d(f, x, &b->pool_in, NULL, 1, 0, &wide));
        TRY(release, sdc_fwd_group_norm(f, &wide, POOL_GROUPS, b->pool_norm_weight,
                                        b->pool_norm_bias, POOL_NORM_EPS, false, &wide));
        TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_RELU, &wide, &wide));
        TRY(release, sdc_fwd_conv2d(f, &wide, &b->pool_out, NULL, 1, 0, &narrow));
        TRY(release, sdc_fwd_add(f, x, &narrow, x));
        sdc_fwd_reset_to(f, m);
    }

    /* x = relu(conv4(relu(conv2(relu(conv0(x))))) + x) */
    TRY(release, sdc_fwd_tensor4(f, B, C, H, W, &t1));
    TRY(release, sdc_fwd_tensor4(f, B, C, H, W, &t2));
    TRY(release, sdc_fwd_conv2d(f, x, &b->conv[0], b->conv_bias[0], 1, 1, &t1));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_RELU, &t1, &t1));
    TRY(release, sdc_fwd_conv2d(f, &t1, &b->conv[1], b->conv_bias[1], 1, 1, &t2));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_RELU, &t2, &t2));
    TRY(release, sdc_fwd_conv2d(f, &t2, &b->conv[2], b->conv_bias[2], 1, 1, &t1));
    TRY(release, sdc_fwd_add(f, x, &t1, x));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_RELU, x, x));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

static sdc_status encode(sdc_fwd *f, const sdc_taesd *t, const sdc_tensor *image,
                         sdc_tensor *latent)
{
    sdc_status st;
    const taesd_encoder *e = &t->encoder;
    int64_t C = t->config.channels;
    if (!t->config.has_encoder)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT, "TAESD: no encoder was loaded");
    int64_t want[4] = {-1, 3, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "TAESD encoder input", image, 4, want));
    int64_t B = image->shape[0], H = image->shape[2], W = image->shape[3];
    if (H % 8 != 0 || W % 8 != 0 || H == 0 || W == 0)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                        "TAESD encoder: image %lldx%lld must be a non-empty multiple of 8",
                        (long long)W, (long long)H);
    int64_t want_latent[4] = {B, t->config.latent_channels, H / 8, W / 8};
    TRY_RETURN(sdc_check_input(f->ctx, "TAESD latent", latent, 4, want_latent));
    sdc_fwd_mark h_mark = sdc_fwd_get_mark(f);
    sdc_tensor h, down;

    TRY(release, sdc_fwd_tensor4(f, B, C, H, W, &h));
    TRY(release, sdc_fwd_conv2d(f, image, &e->conv_in, e->conv_in_bias, 1, 1, &h));
    TRY(release, block_forward(f, &e->first, &h));
    for (int stage = 0; stage < STAGES; stage++) {
        TRY(release, sdc_downsample_forward(f, &e->down[stage], NULL, 1, &h, &down));
        TRY(release, sdc_fwd_keep(f, h_mark, &down));
        h = down;
        for (int i = 0; i < 3; i++)
            TRY(release, block_forward(f, &e->blocks[stage][i], &h));
    }
    TRY(release, sdc_fwd_conv2d(f, &h, &e->conv_out, e->conv_out_bias, 1, 1, latent));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, h_mark);
    return st;
}

static sdc_status decode(sdc_fwd *f, const sdc_taesd *t, const sdc_tensor *latent,
                         sdc_tensor *image)
{
    sdc_status st;
    const taesd_decoder *d = &t->decoder;
    int64_t C = t->config.channels;
    if (!t->config.has_decoder)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT, "TAESD: no decoder was loaded");
    int64_t want[4] = {-1, t->config.latent_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "TAESD decoder input", latent, 4, want));
    int64_t B = latent->shape[0], h0 = latent->shape[2], w0 = latent->shape[3];
    int64_t want_image[4] = {B, 3, 8 * h0, 8 * w0};
    TRY_RETURN(sdc_check_input(f->ctx, "TAESD decoder output", image, 4, want_image));
    sdc_fwd_mark h_mark = sdc_fwd_get_mark(f);
    sdc_tensor h, clamped, up;

    /* h = relu(conv_in(3 tanh(latent / 3))) */
    TRY(release, sdc_fwd_tensor4(f, B, C, h0, w0, &h));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, t->config.latent_channels, h0, w0, &clamped));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SOFT_CLAMP3, latent, &clamped));
    TRY(release, sdc_fwd_conv2d(f, &clamped, &d->conv_in, d->conv_in_bias, 1, 1, &h));
    sdc_fwd_reset_to(f, temps);
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_RELU, &h, &h));
    for (int i = 0; i < 3; i++)
        TRY(release, block_forward(f, &d->blocks_in[i], &h));
    for (int stage = 0; stage < STAGES; stage++) {
        TRY(release, sdc_upsample_forward(f, &d->up_conv[stage], NULL, &h, &up));
        TRY(release, sdc_fwd_keep(f, h_mark, &up));
        h = up;
        for (int i = 0; i < decoder_stage_blocks[stage]; i++)
            TRY(release, block_forward(f, &d->blocks[stage][i], &h));
    }
    TRY(release, sdc_fwd_conv2d(f, &h, &d->conv_out, d->conv_out_bias, 1, 1, image));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, h_mark);
    return st;
}

sdc_status sdc_taesd_encode(sdc_context *ctx, const sdc_taesd *t, sdc_arena *scratch,
                            const sdc_tensor *image, sdc_tensor *latent)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return encode(&f, t, image, latent);
}

sdc_status sdc_taesd_decode(sdc_context *ctx, const sdc_taesd *t, sdc_arena *scratch,
                            const sdc_tensor *latent, sdc_tensor *image)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return decode(&f, t, latent, image);
}

sdc_status sdc_taesd_encode_scratch_bytes(sdc_context *ctx, const sdc_taesd *t,
                                          const sdc_tensor *image, const sdc_tensor *latent,
                                          size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_tensor shape_only = *latent; /* not written while measuring */
    sdc_status st = encode(&f, t, image, &shape_only);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}

sdc_status sdc_taesd_decode_scratch_bytes(sdc_context *ctx, const sdc_taesd *t,
                                          const sdc_tensor *latent, const sdc_tensor *image,
                                          size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_tensor shape_only = *image; /* not written while measuring */
    sdc_status st = decode(&f, t, latent, &shape_only);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}
