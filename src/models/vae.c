/*
 * vae.c — AutoencoderKL of diffusers 0.30 (Encoder / Decoder of models/autoencoders/vae.py):
 * image [-1, 1] -> quant_conv(encoder(image)) = [mean | logvar]; latent -> decoder(
 * post_quant_conv(latent)). The latent is the unscaled one: callers multiply by
 * scaling_factor (0.18215 SD 1.x/2.x, 0.13025 SDXL) after encoding and divide before decoding.
 * Configuration from config.json, or for single-file checkpoints from the tensors.
 */
#include "models/models.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Every norm of the VAE (resnets, attention, norm_out) uses eps 1e-6. */
static const float VAE_EPS = 1e-6f;
/* DiagonalGaussianDistribution clamps the log variance to this range. */
static const float LOGVAR_MIN = -30.0f, LOGVAR_MAX = 20.0f;
/* What single-file checkpoints carry no config for. */
static const int DEFAULT_GROUPS = 32;
static const float SD_SCALING_FACTOR = 0.18215f, SDXL_SCALING_FACTOR = 0.13025f;

/* DownEncoderBlock2D: resnets, then a stride-2 conv (padding 0, padded bottom/right). */
typedef struct vae_down_block {
    sdc_resnet resnets[SDC_VAE_MAX_LAYERS];
    bool has_downsampler;
    sdc_weight downsampler;        /* [C, C, 3, 3] */
    const float *downsampler_bias; /* [C] */
} vae_down_block;

/* UpDecoderBlock2D: layers_per_block + 1 resnets, then nearest 2x and a conv. */
typedef struct vae_up_block {
    sdc_resnet resnets[SDC_VAE_MAX_LAYERS + 1];
    bool has_upsampler;
    sdc_weight upsampler;        /* [C, C, 3, 3] */
    const float *upsampler_bias; /* [C] */
} vae_up_block;

/* UNetMidBlock2D: resnet, attention (optional), resnet; no time embedding. */
typedef struct vae_mid_block {
    sdc_resnet resnets[2]; /* [C_last] -> [C_last] */
    bool has_attention;
    sdc_vae_attention attention; /* one head over C_last channels */
} vae_mid_block;

typedef struct vae_encoder {
    sdc_weight conv_in;        /* [C0, in, 3, 3] */
    const float *conv_in_bias; /* [C0] */
    vae_down_block down[SDC_VAE_MAX_LEVELS];
    vae_mid_block mid;
    const float *norm_out_weight, *norm_out_bias; /* [C_last] */
    sdc_weight conv_out;                          /* [2 latent, C_last, 3, 3] */
    const float *conv_out_bias;                   /* [2 latent] */
} vae_encoder;

typedef struct vae_decoder {
    sdc_weight conv_in;        /* [C_last, latent, 3, 3] */
    const float *conv_in_bias; /* [C_last] */
    vae_mid_block mid;
    vae_up_block up[SDC_VAE_MAX_LEVELS];          /* deepest first */
    const float *norm_out_weight, *norm_out_bias; /* [C0] */
    sdc_weight conv_out;                          /* [out, C0, 3, 3] */
    const float *conv_out_bias;                   /* [out] */
} vae_decoder;

struct sdc_vae {
    sdc_context *ctx;
    sdc_vae_config config;
    sdc_store *store;
    vae_encoder encoder;
    vae_decoder decoder;
    sdc_weight quant_conv;             /* [2 latent, 2 latent, 1, 1] */
    const float *quant_conv_bias;      /* [2 latent] */
    sdc_weight post_quant_conv;        /* [latent, latent, 1, 1] */
    const float *post_quant_conv_bias; /* [latent] */
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static sdc_status check_config(sdc_context *ctx, const char *what, const sdc_vae_config *c)
{
    bool ok = c->n_levels >= 1 && c->n_levels <= SDC_VAE_MAX_LEVELS && c->layers_per_block >= 1 &&
              c->layers_per_block <= SDC_VAE_MAX_LAYERS && c->norm_num_groups >= 1 &&
              c->latent_channels >= 1 && c->in_channels >= 1 && c->out_channels >= 1;
    for (int i = 0; ok && i < c->n_levels; i++)
        ok = c->block_out_channels[i] >= 1 && c->block_out_channels[i] % c->norm_num_groups == 0;
    if (!ok)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: AutoencoderKL with %d levels of %d layers and %d groups is outside "
                        "what sdc handles (1-%d levels, 1-%d layers, channels divisible by the "
                        "groups)",
                        what, c->n_levels, c->layers_per_block, c->norm_num_groups,
                        SDC_VAE_MAX_LEVELS, SDC_VAE_MAX_LAYERS);
    return SDC_STATUS_OK;
}

sdc_status sdc_vae_config_from_json(const sdc_model_config *j, sdc_vae_config *out)
{
    sdc_vae_config c = {0};
    int64_t v;
    double d;
    const char *types[SDC_VAE_MAX_LEVELS];
    int n_down = 0, n_up = 0;
    TRY_RETURN(sdc_model_config_expect_string(j, "act_fn", "silu"));
    TRY_RETURN(sdc_model_config_int_list(j, "block_out_channels", c.block_out_channels,
                                         SDC_VAE_MAX_LEVELS, &c.n_levels));
    TRY_RETURN(
        sdc_model_config_string_list(j, "down_block_types", types, SDC_VAE_MAX_LEVELS, &n_down));
    for (int i = 0; i < n_down; i++)
        if (strcmp(types[i], "DownEncoderBlock2D") != 0)
            return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: down block %d is \"%s\"; sdc supports \"DownEncoderBlock2D\"",
                            j->path, i, types[i]);
    TRY_RETURN(sdc_model_config_string_list(j, "up_block_types", types, SDC_VAE_MAX_LEVELS, &n_up));
    for (int i = 0; i < n_up; i++)
        if (strcmp(types[i], "UpDecoderBlock2D") != 0)
            return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: up block %d is \"%s\"; sdc supports \"UpDecoderBlock2D\"", j->path,
                            i, types[i]);
    if (n_down != c.n_levels || n_up != c.n_levels)
        return sdc_fail(j->ctx, SDC_STATUS_FORMAT,
                        "%s: %d block_out_channels but %d down and %d up blocks", j->path,
                        c.n_levels, n_down, n_up);
    TRY_RETURN(sdc_model_config_int(j, "in_channels", 3, &c.in_channels));
    TRY_RETURN(sdc_model_config_int(j, "out_channels", 3, &c.out_channels));
    TRY_RETURN(sdc_model_config_int(j, "latent_channels", 4, &c.latent_channels));
    TRY_RETURN(sdc_model_config_int(j, "layers_per_block", 1, &v));
    c.layers_per_block = (int)v;
    TRY_RETURN(sdc_model_config_int(j, "norm_num_groups", 32, &v));
    c.norm_num_groups = (int)v;
    TRY_RETURN(sdc_model_config_bool(j, "mid_block_add_attention", true, &c.mid_attention));
    TRY_RETURN(sdc_model_config_bool(j, "use_quant_conv", true, &c.use_quant_conv));
    TRY_RETURN(sdc_model_config_bool(j, "use_post_quant_conv", true, &c.use_post_quant_conv));
    TRY_RETURN(sdc_model_config_float(j, "scaling_factor", SD_SCALING_FACTOR, &d));
    c.scaling_factor = (float)d;
    TRY_RETURN(sdc_model_config_float(j, "shift_factor", 0.0, &d));
    c.shift_factor = (float)d;
    TRY_RETURN(check_config(j->ctx, j->path, &c));
    *out = c;
    return SDC_STATUS_OK;
}

static int64_t dim_of(const sdc_store *s, const char *name, int dim)
{
    const sdc_store_entry *e = sdc_store_find(s, name);
    return e && dim < e->ndim ? e->shape[dim] : -1;
}

/* From the tensors alone (single-file checkpoints): everything but the norm groups (32) and
 * the scaling factor (from the checkpoint's family, see sdc_vae_open_single_file). */
sdc_status sdc_vae_config_from_store(const sdc_store *s, float scaling_factor, sdc_vae_config *out)
{
    sdc_vae_config c = {0};
    c.in_channels = dim_of(s, "encoder.conv_in.weight", 1);
    c.out_channels = dim_of(s, "decoder.conv_out.weight", 0);
    c.latent_channels = dim_of(s, "decoder.conv_in.weight", 1);
    if (c.in_channels < 1 || c.out_channels < 1 || c.latent_channels < 1)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: not an AutoencoderKL layout (encoder.conv_in, decoder.conv_in and "
                        "decoder.conv_out weights needed)",
                        s->description);
    while (c.n_levels < SDC_VAE_MAX_LEVELS &&
           sdc_load_has(s, "encoder.down_blocks.%d.resnets.0.conv1.weight", c.n_levels)) {
        char name[SDC_MODEL_NAME_MAX];
        snprintf(name, sizeof name, "encoder.down_blocks.%d.resnets.0.conv1.weight", c.n_levels);
        c.block_out_channels[c.n_levels++] = dim_of(s, name, 0);
    }
    while (c.layers_per_block < SDC_VAE_MAX_LAYERS &&
           sdc_load_has(s, "encoder.down_blocks.0.resnets.%d.conv1.weight", c.layers_per_block))
        c.layers_per_block++;
    c.norm_num_groups = DEFAULT_GROUPS;
    c.mid_attention = sdc_store_has(s, "encoder.mid_block.attentions.0.to_q.weight");
    c.use_quant_conv = sdc_store_has(s, "quant_conv.weight");
    c.use_post_quant_conv = sdc_store_has(s, "post_quant_conv.weight");
    c.scaling_factor = scaling_factor;
    TRY_RETURN(check_config(s->ctx, s->description, &c));
    *out = c;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

static sdc_status load_mid(sdc_store *s, const char *part, const sdc_vae_config *c,
                           vae_mid_block *m)
{
    int64_t ch = c->block_out_channels[c->n_levels - 1];
    char p[SDC_MODEL_NAME_MAX];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s.mid_block.resnets.%d.", part, i);
        TRY_RETURN(sdc_resnet_load(s, p, ch, ch, 0, c->norm_num_groups, VAE_EPS, &m->resnets[i]));
    }
    m->has_attention = c->mid_attention;
    if (!m->has_attention)
        return SDC_STATUS_OK;
    snprintf(p, sizeof p, "%s.mid_block.attentions.0.", part);
    return sdc_vae_attention_load(s, p, ch, c->norm_num_groups, VAE_EPS, &m->attention);
}

static sdc_status load_encoder(sdc_store *s, const sdc_vae_config *c, vae_encoder *e)
{
    const int64_t *boc = c->block_out_channels;
    int last = c->n_levels - 1;
    char p[SDC_MODEL_NAME_MAX];
    TRY_RETURN(sdc_load_conv(s, "encoder.", "conv_in", boc[0], c->in_channels, 3, &e->conv_in,
                             &e->conv_in_bias));
    for (int i = 0; i < c->n_levels; i++) {
        int64_t in = i == 0 ? boc[0] : boc[i - 1];
        for (int j = 0; j < c->layers_per_block; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d.", i, j);
            TRY_RETURN(sdc_resnet_load(s, p, j == 0 ? in : boc[i], boc[i], 0, c->norm_num_groups,
                                       VAE_EPS, &e->down[i].resnets[j]));
        }
        e->down[i].has_downsampler = i < last;
        if (i < last) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.", i);
            TRY_RETURN(sdc_load_conv(s, p, "conv", boc[i], boc[i], 3, &e->down[i].downsampler,
                                     &e->down[i].downsampler_bias));
        }
    }
    TRY_RETURN(load_mid(s, "encoder", c, &e->mid));
    TRY_RETURN(sdc_load_norm(s, "encoder.", "conv_norm_out", boc[last], &e->norm_out_weight,
                             &e->norm_out_bias));
    return sdc_load_conv(s, "encoder.", "conv_out", 2 * c->latent_channels, boc[last], 3,
                         &e->conv_out, &e->conv_out_bias);
}

static sdc_status load_decoder(sdc_store *s, const sdc_vae_config *c, vae_decoder *d)
{
    const int64_t *boc = c->block_out_channels;
    int n = c->n_levels;
    char p[SDC_MODEL_NAME_MAX];
    TRY_RETURN(sdc_load_conv(s, "decoder.", "conv_in", boc[n - 1], c->latent_channels, 3,
                             &d->conv_in, &d->conv_in_bias));
    TRY_RETURN(load_mid(s, "decoder", c, &d->mid));
    for (int i = 0; i < n; i++) {
        int64_t out = boc[n - 1 - i], prev = boc[n - 1 - (i == 0 ? 0 : i - 1)];
        for (int j = 0; j < c->layers_per_block + 1; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d.", i, j);
            TRY_RETURN(sdc_resnet_load(s, p, j == 0 ? prev : out, out, 0, c->norm_num_groups,
                                       VAE_EPS, &d->up[i].resnets[j]));
        }
        d->up[i].has_upsampler = i < n - 1;
        if (i < n - 1) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.", i);
            TRY_RETURN(sdc_load_conv(s, p, "conv", out, out, 3, &d->up[i].upsampler,
                                     &d->up[i].upsampler_bias));
        }
    }
    TRY_RETURN(sdc_load_norm(s, "decoder.", "conv_norm_out", boc[0], &d->norm_out_weight,
                             &d->norm_out_bias));
    return sdc_load_conv(s, "decoder.", "conv_out", c->out_channels, boc[0], 3, &d->conv_out,
                         &d->conv_out_bias);
}

sdc_status sdc_vae_load(sdc_context *ctx, sdc_store *store, const sdc_vae_config *config,
                        sdc_vae **out)
{
    sdc_status st;
    *out = NULL;
    sdc_vae *v = sdc_calloc(ctx, 1, sizeof *v);
    if (!v) {
        sdc_store_destroy(store);
        return sdc_fail_oom(ctx, "an AutoencoderKL", sizeof *v);
    }
    v->ctx = ctx;
    v->store = store;
    v->config = *config;
    int64_t L = config->latent_channels;
    TRY(destroy, check_config(ctx, store->description, config));
    TRY(destroy, load_encoder(store, config, &v->encoder));
    TRY(destroy, load_decoder(store, config, &v->decoder));
    if (config->use_quant_conv)
        TRY(destroy, sdc_load_conv(store, "", "quant_conv", 2 * L, 2 * L, 1, &v->quant_conv,
                                   &v->quant_conv_bias));
    if (config->use_post_quant_conv)
        TRY(destroy, sdc_load_conv(store, "", "post_quant_conv", L, L, 1, &v->post_quant_conv,
                                   &v->post_quant_conv_bias));
    TRY(destroy, sdc_load_check_unused(store));
    *out = v;
    return SDC_STATUS_OK;
destroy:
    sdc_vae_destroy(v);
    return st;
}

sdc_status sdc_vae_open_diffusers(sdc_context *ctx, const char *dir, sdc_vae **out)
{
    sdc_status st;
    sdc_model_config json;
    sdc_vae_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_model_config_open_dir(ctx, dir, &json));
    TRY(close_json, sdc_vae_config_from_json(&json, &config));
    TRY(close_json, sdc_store_open_diffusers(ctx, dir, &store));
    st = sdc_vae_load(ctx, store, &config, out);
close_json:
    sdc_model_config_close(&json);
    return st;
}

sdc_status sdc_vae_open_single_file(sdc_context *ctx, sdc_weights_file *file, sdc_vae **out)
{
    sdc_status st;
    sdc_store *store = NULL;
    sdc_vae_config config;
    *out = NULL;
    /* The VAEs of SD 1.x/2.x and SDXL have the same layout; the checkpoint's family decides
     * the scaling factor: SDXL files condition through "conditioner.embedders". */
    bool sdxl = false;
    for (size_t i = 0; i < file->st->n_tensors && !sdxl; i++)
        sdxl = strncmp(file->st->tensors[i].name, "conditioner.", 12) == 0;
    TRY(fail, sdc_vae_ldm_store(ctx, file, &store));
    TRY(fail,
        sdc_vae_config_from_store(store, sdxl ? SDXL_SCALING_FACTOR : SD_SCALING_FACTOR, &config));
    return sdc_vae_load(ctx, store, &config, out);
fail:
    sdc_store_destroy(store);
    return st;
}

/* Whether any tensor of the file starts with `prefix`. */
static bool file_has_prefix(const sdc_weights_file *file, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < file->st->n_tensors; i++)
        if (strncmp(file->st->tensors[i].name, prefix, n) == 0)
            return true;
    return false;
}

sdc_status sdc_vae_open_path(sdc_context *ctx, const char *path, float scaling_factor,
                             sdc_vae **out)
{
    sdc_status st;
    sdc_store *store = NULL;
    sdc_vae_config config;
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sdc_fail(ctx, SDC_STATUS_IO, "VAE %s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        /* the vae/ folder itself, or a pipeline folder holding one */
        size_t len = strlen(path) + sizeof "/config.json";
        char *sub = sdc_malloc(ctx, len);
        if (!sub)
            return sdc_fail_oom(ctx, path, len);
        snprintf(sub, len, "%s/config.json", path);
        bool own = stat(sub, &sb) == 0;
        snprintf(sub, len, "%s/vae", path);
        st = sdc_vae_open_diffusers(ctx, own ? path : sub, out);
        sdc_free(ctx, sub);
        return st;
    }
    sdc_weights_file *file = NULL;
    TRY_RETURN(sdc_weights_file_open(ctx, path, &file));
    if (file_has_prefix(file, "first_stage_model.")) {
        st = sdc_vae_ldm_store_prefixed(ctx, file, "first_stage_model.", &store);
    } else if (file_has_prefix(file, "encoder.down.")) {
        st = sdc_vae_ldm_store_prefixed(ctx, file, "", &store);
    } else if (file_has_prefix(file, "encoder.down_blocks.")) {
        st = sdc_store_open_file(ctx, path, &store);
    } else {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: not a VAE: expected encoder.down_blocks.* (diffusers), encoder.down.* "
                      "(LDM) or first_stage_model.* tensors",
                      path);
    }
    sdc_weights_file_release(ctx, file); /* the store keeps its own reference */
    if (st != SDC_STATUS_OK)
        return st;
    TRY(fail, sdc_vae_config_from_store(store, scaling_factor, &config));
    return sdc_vae_load(ctx, store, &config, out);
fail:
    sdc_store_destroy(store);
    return st;
}

void sdc_vae_destroy(sdc_vae *v)
{
    if (!v)
        return;
    sdc_store_destroy(v->store);
    sdc_free(v->ctx, v);
}

const sdc_vae_config *sdc_vae_get_config(const sdc_vae *v)
{
    return &v->config;
}

const sdc_store *sdc_vae_get_store(const sdc_vae *v)
{
    return v->store;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* h lives at h_mark with nothing above it: *h = resnet(h), the new h in the old one's place. */
static sdc_status resnet_step(sdc_fwd *f, const sdc_resnet *r, sdc_fwd_mark h_mark, sdc_tensor *h)
{
    sdc_tensor out;
    TRY_RETURN(sdc_resnet_forward(f, r, h, NULL, &out));
    TRY_RETURN(sdc_fwd_keep(f, h_mark, &out));
    *h = out;
    return SDC_STATUS_OK;
}

static sdc_status mid_forward(sdc_fwd *f, const vae_mid_block *m, sdc_fwd_mark h_mark,
                              sdc_tensor *h)
{
    TRY_RETURN(resnet_step(f, &m->resnets[0], h_mark, h));
    if (m->has_attention)
        TRY_RETURN(sdc_vae_attention_forward(f, &m->attention, h));
    return resnet_step(f, &m->resnets[1], h_mark, h);
}

/* out = conv_out(silu(norm_out(h))) into caller memory. */
static sdc_status head_forward(sdc_fwd *f, const sdc_vae_config *c, const float *gamma,
                               const float *beta, const sdc_weight *w, const float *bias,
                               const sdc_tensor *h, sdc_tensor *out)
{
    sdc_status st;
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor n;
    TRY(release, sdc_fwd_tensor4(f, h->shape[0], h->shape[1], h->shape[2], h->shape[3], &n));
    TRY(release, sdc_fwd_group_norm(f, h, c->norm_num_groups, gamma, beta, VAE_EPS, true, &n));
    TRY(release, sdc_fwd_conv2d(f, &n, w, bias, 1, 1, out));
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

static sdc_status encode(sdc_fwd *f, const sdc_vae *v, const sdc_tensor *image, sdc_tensor *mean,
                         sdc_tensor *logvar)
{
    sdc_status st;
    const sdc_vae_config *c = &v->config;
    const vae_encoder *e = &v->encoder;
    int64_t want[4] = {-1, c->in_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "VAE encoder input", image, 4, want));
    int64_t B = image->shape[0], H = image->shape[2], W = image->shape[3];
    int64_t factor = (int64_t)1 << (c->n_levels - 1);
    if (H == 0 || W == 0 || H % factor != 0 || W % factor != 0)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                        "VAE encoder: image %lldx%lld must be a non-empty multiple of %lld",
                        (long long)W, (long long)H, (long long)factor);
    int64_t L = c->latent_channels, h = H / factor, w = W / factor;
    int64_t want_latent[4] = {B, L, h, w};
    TRY_RETURN(sdc_check_input(f->ctx, "VAE mean", mean, 4, want_latent));
    TRY_RETURN(sdc_check_input(f->ctx, "VAE logvar", logvar, 4, want_latent));
    sdc_fwd_mark h_mark = sdc_fwd_get_mark(f);
    sdc_tensor x, down, moments, quant;

    TRY(release, sdc_fwd_tensor4(f, B, c->block_out_channels[0], H, W, &x));
    TRY(release, sdc_fwd_conv2d(f, image, &e->conv_in, e->conv_in_bias, 1, 1, &x));
    for (int i = 0; i < c->n_levels; i++) {
        for (int j = 0; j < c->layers_per_block; j++)
            TRY(release, resnet_step(f, &e->down[i].resnets[j], h_mark, &x));
        if (!e->down[i].has_downsampler)
            continue;
        TRY(release, sdc_downsample_forward(f, &e->down[i].downsampler, e->down[i].downsampler_bias,
                                            -1, &x, &down));
        TRY(release, sdc_fwd_keep(f, h_mark, &down));
        x = down;
    }
    TRY(release, mid_forward(f, &e->mid, h_mark, &x));

    /* moments = quant_conv(conv_out(silu(norm_out(x)))) = [mean | logvar] */
    TRY(release, sdc_fwd_tensor4(f, B, 2 * L, h, w, &moments));
    TRY(release, head_forward(f, c, e->norm_out_weight, e->norm_out_bias, &e->conv_out,
                              e->conv_out_bias, &x, &moments));
    if (c->use_quant_conv) {
        TRY(release, sdc_fwd_tensor4(f, B, 2 * L, h, w, &quant));
        TRY(release, sdc_fwd_conv2d(f, &moments, &v->quant_conv, v->quant_conv_bias, 1, 0, &quant));
        moments = quant;
    }
    sdc_tensor mean_part = sdc_tensor_slice(&moments, 1, 0, L);
    sdc_tensor logvar_part = sdc_tensor_slice(&moments, 1, L, 2 * L);
    TRY(release, sdc_fwd_copy(f, &mean_part, mean));
    TRY(release, sdc_fwd_copy(f, &logvar_part, logvar));
    if (sdc_fwd_computing(f)) {
        float *lv = logvar->data;
        for (int64_t i = 0, n = sdc_tensor_numel(logvar); i < n; i++)
            lv[i] = lv[i] < LOGVAR_MIN ? LOGVAR_MIN : lv[i] > LOGVAR_MAX ? LOGVAR_MAX : lv[i];
    }
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, h_mark);
    return st;
}

static sdc_status decode(sdc_fwd *f, const sdc_vae *v, const sdc_tensor *latent, sdc_tensor *image)
{
    sdc_status st;
    const sdc_vae_config *c = &v->config;
    const vae_decoder *d = &v->decoder;
    int64_t want[4] = {-1, c->latent_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "VAE decoder input", latent, 4, want));
    int64_t B = latent->shape[0], h = latent->shape[2], w = latent->shape[3];
    int64_t factor = (int64_t)1 << (c->n_levels - 1);
    int64_t want_image[4] = {B, c->out_channels, h * factor, w * factor};
    TRY_RETURN(sdc_check_input(f->ctx, "VAE decoder output", image, 4, want_image));
    sdc_fwd_mark h_mark = sdc_fwd_get_mark(f);
    sdc_tensor x, z, up;

    /* x = conv_in(post_quant_conv(latent)) */
    TRY(release, sdc_fwd_tensor4(f, B, c->block_out_channels[c->n_levels - 1], h, w, &x));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    z = *latent;
    if (c->use_post_quant_conv) {
        TRY(release, sdc_fwd_tensor4(f, B, c->latent_channels, h, w, &z));
        TRY(release,
            sdc_fwd_conv2d(f, latent, &v->post_quant_conv, v->post_quant_conv_bias, 1, 0, &z));
    }
    TRY(release, sdc_fwd_conv2d(f, &z, &d->conv_in, d->conv_in_bias, 1, 1, &x));
    sdc_fwd_reset_to(f, temps);

    TRY(release, mid_forward(f, &d->mid, h_mark, &x));
    for (int i = 0; i < c->n_levels; i++) {
        for (int j = 0; j < c->layers_per_block + 1; j++)
            TRY(release, resnet_step(f, &d->up[i].resnets[j], h_mark, &x));
        if (!d->up[i].has_upsampler)
            continue;
        TRY(release,
            sdc_upsample_forward(f, &d->up[i].upsampler, d->up[i].upsampler_bias, &x, &up));
        TRY(release, sdc_fwd_keep(f, h_mark, &up));
        x = up;
    }
    TRY(release, head_forward(f, c, d->norm_out_weight, d->norm_out_bias, &d->conv_out,
                              d->conv_out_bias, &x, image));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, h_mark);
    return st;
}

sdc_status sdc_vae_encode(sdc_context *ctx, const sdc_vae *v, sdc_arena *scratch,
                          const sdc_tensor *image, sdc_tensor *mean, sdc_tensor *logvar)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return encode(&f, v, image, mean, logvar);
}

sdc_status sdc_vae_decode(sdc_context *ctx, const sdc_vae *v, sdc_arena *scratch,
                          const sdc_tensor *latent, sdc_tensor *image)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return decode(&f, v, latent, image);
}

sdc_status sdc_vae_encode_scratch_bytes(sdc_context *ctx, const sdc_vae *v, const sdc_tensor *image,
                                        const sdc_tensor *latent, size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_tensor mean = *latent, logvar = *latent; /* not written while measuring */
    sdc_status st = encode(&f, v, image, &mean, &logvar);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}

sdc_status sdc_vae_decode_scratch_bytes(sdc_context *ctx, const sdc_vae *v,
                                        const sdc_tensor *latent, const sdc_tensor *image,
                                        size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_tensor shape_only = *image; /* not written while measuring */
    sdc_status st = decode(&f, v, latent, &shape_only);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}
