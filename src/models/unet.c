/*
 * unet.c — UNet2DConditionModel of diffusers 0.30, driven by its configuration: SD 1.x, 2.x,
 * SDXL base and refiner ("text_time" conditioning) and inpainting (9 input channels), with
 * optional ControlNet residuals added to the skip connections and the mid block. The
 * configuration comes from config.json or, for single-file checkpoints, from the tensors
 * (sdc_unet_config_from_store: the one place where SD 1.x / 2.x / XL layouts are told apart).
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

/* What single-file checkpoints carry no config for: diffusers' defaults for SD models. */
static const int DEFAULT_GROUPS = 32;
static const float DEFAULT_EPS = 1e-5f;
/* SD 1.x uses 8 heads on every level; SD 2.x and SDXL heads of 64 channels. */
static const int SD1_HEADS = 8;
static const int64_t SD2_HEAD_DIM = 64;
/* The layouts a single-file UNet may have. */
typedef enum unet_family {
    UNET_FAMILY_SD1,
    UNET_FAMILY_SD2,
    UNET_FAMILY_SDXL,
    UNET_FAMILY_COUNT
} unet_family;

static const char *const family_names[] = {
    [UNET_FAMILY_SD1] = "SD 1.x",
    [UNET_FAMILY_SD2] = "SD 2.x",
    [UNET_FAMILY_SDXL] = "SDXL",
};
static_assert(sizeof family_names / sizeof family_names[0] == UNET_FAMILY_COUNT,
              "one name per family");

/* Real SDXL: addition_time_embed_dim 256 with 6 time ids (base) or 5 (refiner). */
static const int64_t SDXL_TIME_DIM = 256;
static const int SDXL_BASE_IDS = 6, SDXL_REFINER_IDS = 5;

struct sdc_unet {
    sdc_context *ctx;
    sdc_unet_config config;
    sdc_store *store;
    sdc_arena parts;                               /* the transformers' block arrays */
    sdc_weight conv_in;                            /* [C0, in, 3, 3] */
    const float *conv_in_bias;                     /* [C0] */
    sdc_time_conditioning time;                    /* time (+ text_time) embedding */
    sdc_unet_down_block down[SDC_UNET_MAX_LEVELS]; /* level i: C[i-1] -> C[i] */
    sdc_unet_mid_block mid;                        /* C[last] */
    sdc_unet_up_block up[SDC_UNET_MAX_LEVELS];     /* deepest first */
    const float *norm_out_weight, *norm_out_bias;  /* [C0] */
    sdc_weight conv_out;                           /* [out, C0, 3, 3] */
    const float *conv_out_bias;                    /* [out] */
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static sdc_status check_config(sdc_context *ctx, const char *what, const sdc_unet_config *c)
{
    bool ok = c->n_levels >= 1 && c->n_levels <= SDC_UNET_MAX_LEVELS && c->layers_per_block >= 1 &&
              c->layers_per_block <= SDC_UNET_MAX_LAYERS && c->norm_num_groups >= 1 &&
              c->in_channels >= 1 && c->out_channels >= 1 && c->cross_attention_dim >= 1 &&
              c->time_embed_dim >= 1;
    for (int i = 0; ok && i < c->n_levels; i++)
        ok = c->block_out_channels[i] >= 1 && c->block_out_channels[i] % c->norm_num_groups == 0 &&
             c->n_heads[i] >= 1 && c->transformer_layers[i] >= 1 &&
             c->up_transformer_layers[i] >= 1;
    if (!ok)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: UNet with %d levels of %d layers, %d groups is outside what sdc "
                        "handles (1-%d levels, 1-%d layers, channels divisible by the groups, "
                        "at least one head and transformer layer per level)",
                        what, c->n_levels, c->layers_per_block, c->norm_num_groups,
                        SDC_UNET_MAX_LEVELS, SDC_UNET_MAX_LAYERS);
    if (c->text_time &&
        (c->addition_time_embed_dim < 1 || c->projection_class_embeddings_input_dim < 1))
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: \"text_time\" conditioning needs addition_time_embed_dim and "
                        "projection_class_embeddings_input_dim",
                        what);
    return SDC_STATUS_OK;
}

/* Block type names: true for the cross-attention variant. */
static sdc_status block_kinds(const sdc_model_config *j, const char *key, const char *plain,
                              const char *attn, int n, bool *out)
{
    const char *types[SDC_UNET_MAX_LEVELS];
    int count = 0;
    TRY_RETURN(sdc_model_config_string_list(j, key, types, SDC_UNET_MAX_LEVELS, &count));
    if (count != n)
        return sdc_fail(j->ctx, SDC_STATUS_FORMAT, "%s: %d %s for %d block_out_channels", j->path,
                        count, key, n);
    for (int i = 0; i < n; i++) {
        if (strcmp(types[i], attn) == 0)
            out[i] = true;
        else if (strcmp(types[i], plain) == 0)
            out[i] = false;
        else
            return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: %s[%d] is \"%s\"; sdc supports \"%s\" and \"%s\"", j->path, key, i,
                            types[i], attn, plain);
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_unet_config_from_json(const sdc_model_config *j, bool controlnet,
                                     sdc_unet_config *out)
{
    sdc_unet_config c = {0};
    int64_t v, vals[SDC_UNET_MAX_LEVELS];
    double d;
    const char *s = NULL;

    /* Everything sdc implements only in its default form. */
    TRY_RETURN(sdc_model_config_expect_string(j, "act_fn", "silu"));
    TRY_RETURN(sdc_model_config_expect_string(j, "time_embedding_type", "positional"));
    TRY_RETURN(sdc_model_config_expect_string(j, "resnet_time_scale_shift", "default"));
    TRY_RETURN(sdc_model_config_expect_string(j, "mid_block_type", "UNetMidBlock2DCrossAttn"));
    TRY_RETURN(sdc_model_config_expect_string(j, "attention_type", "default"));
    TRY_RETURN(sdc_model_config_expect_bool(j, "center_input_sample", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "dual_cross_attention", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "only_cross_attention", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "mid_block_only_cross_attention", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "resnet_skip_time_act", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "class_embeddings_concat", false));
    TRY_RETURN(sdc_model_config_expect_bool(j, "global_pool_conditions", false));
    static const char *const must_be_null[] = {
        "class_embed_type",      "num_class_embeds",     "encoder_hid_dim",
        "encoder_hid_dim_type",  "time_cond_proj_dim",   "timestep_post_act",
        "time_embedding_act_fn", "cross_attention_norm", "reverse_transformer_layers_per_block",
    };
    for (size_t i = 0; i < sizeof must_be_null / sizeof must_be_null[0]; i++)
        TRY_RETURN(sdc_model_config_expect_null(j, must_be_null[i]));
    static const char *const must_be_one[] = {"mid_block_scale_factor", "resnet_out_scale_factor"};
    for (size_t i = 0; i < 2; i++) {
        TRY_RETURN(sdc_model_config_float(j, must_be_one[i], 1.0, &d));
        if (d != 1.0)
            return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED, "%s: \"%s\" is %g; sdc supports 1",
                            j->path, must_be_one[i], d);
    }
    static const char *const kernels[] = {"conv_in_kernel", "conv_out_kernel"};
    for (size_t i = 0; i < 2; i++) {
        TRY_RETURN(sdc_model_config_int(j, kernels[i], 3, &v));
        if (v != 3)
            return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED, "%s: \"%s\" is %lld; sdc supports 3",
                            j->path, kernels[i], (long long)v);
    }

    TRY_RETURN(sdc_model_config_int_list(j, "block_out_channels", c.block_out_channels,
                                         SDC_UNET_MAX_LEVELS, &c.n_levels));
    int n = c.n_levels;
    TRY_RETURN(block_kinds(j, "down_block_types", "DownBlock2D", "CrossAttnDownBlock2D", n,
                           c.down_attention));
    if (!controlnet)
        TRY_RETURN(
            block_kinds(j, "up_block_types", "UpBlock2D", "CrossAttnUpBlock2D", n, c.up_attention));
    TRY_RETURN(sdc_model_config_int(j, "in_channels", 4, &c.in_channels));
    TRY_RETURN(sdc_model_config_int(j, "out_channels", 4, &c.out_channels));
    TRY_RETURN(sdc_model_config_int(j, "layers_per_block", 2, &v));
    c.layers_per_block = (int)v;
    TRY_RETURN(sdc_model_config_int(j, "cross_attention_dim", 1280, &c.cross_attention_dim));

    /* Heads per level: num_attention_heads, or (diffusers' historical naming) the
     * attention_head_dim value. */
    TRY_RETURN(sdc_model_config_int_or_list(j, "num_attention_heads", n, 0, vals));
    if (vals[0] == 0)
        TRY_RETURN(sdc_model_config_int_or_list(j, "attention_head_dim", n, 8, vals));
    for (int i = 0; i < n; i++)
        c.n_heads[i] = (int)vals[i];
    TRY_RETURN(sdc_model_config_int_or_list(j, "transformer_layers_per_block", n, 1, vals));
    for (int i = 0; i < n; i++) {
        c.transformer_layers[i] = (int)vals[i];
        c.up_transformer_layers[n - 1 - i] = (int)vals[i];
    }
    TRY_RETURN(sdc_model_config_bool(j, "use_linear_projection", false, &c.use_linear_projection));
    TRY_RETURN(sdc_model_config_bool(j, "upcast_attention", false, &c.upcast_attention));
    TRY_RETURN(sdc_model_config_int(j, "norm_num_groups", 32, &v));
    c.norm_num_groups = (int)v;
    TRY_RETURN(sdc_model_config_float(j, "norm_eps", 1e-5, &d));
    c.norm_eps = (float)d;
    TRY_RETURN(sdc_model_config_bool(j, "flip_sin_to_cos", true, &c.flip_sin_to_cos));
    TRY_RETURN(sdc_model_config_float(j, "freq_shift", 0.0, &d));
    c.freq_shift = (float)d;
    TRY_RETURN(sdc_model_config_int(j, "downsample_padding", 1, &v));
    c.downsample_padding = (int)v;
    TRY_RETURN(sdc_model_config_int(j, "time_embedding_dim", 4 * c.block_out_channels[0],
                                    &c.time_embed_dim));

    TRY_RETURN(sdc_model_config_string(j, "addition_embed_type", NULL, &s));
    if (s && strcmp(s, "text_time") != 0)
        return sdc_fail(j->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"addition_embed_type\" is \"%s\"; sdc supports \"text_time\" and "
                        "null",
                        j->path, s);
    c.text_time = s != NULL;
    TRY_RETURN(sdc_model_config_int(j, "addition_time_embed_dim", 0, &c.addition_time_embed_dim));
    TRY_RETURN(sdc_model_config_int(j, "projection_class_embeddings_input_dim", 0,
                                    &c.projection_class_embeddings_input_dim));
    TRY_RETURN(check_config(j->ctx, j->path, &c));
    *out = c;
    return SDC_STATUS_OK;
}

static int64_t dim_of(const sdc_store *s, const char *name, int dim)
{
    const sdc_store_entry *e = sdc_store_find(s, name);
    return e && dim < e->ndim ? e->shape[dim] : -1;
}

static int count_layers(const sdc_store *s, const char *fmt_prefix, int index)
{
    int n = 0;
    while (n < 1000 && sdc_load_has(s, "%s%d.attentions.0.transformer_blocks.%d.norm1.weight",
                                    fmt_prefix, index, n))
        n++;
    return n;
}

/* The pooled text width and the number of time ids of an SDXL checkpoint: its OpenCLIP
 * tower's text_projection [width, pooled] is embedder 1 in the base model (6 ids: size, crop,
 * target size) and embedder 0 in the refiner (5 ids: size, crop, aesthetic score). */
static bool sdxl_pooled(const sdc_st_file *checkpoint, int64_t *pooled, int *n_ids)
{
    static const struct {
        const char *name;
        int n_ids;
    } towers[] = {
        {"conditioner.embedders.1.model.text_projection", SDXL_BASE_IDS},
        {"conditioner.embedders.0.model.text_projection", SDXL_REFINER_IDS},
    };
    for (size_t i = 0; checkpoint && i < sizeof towers / sizeof towers[0]; i++) {
        const sdc_st_tensor *t = sdc_st_find(checkpoint, towers[i].name);
        if (t && t->ndim == 2) {
            *pooled = t->shape[1];
            *n_ids = towers[i].n_ids;
            return true;
        }
    }
    return false;
}

sdc_status sdc_unet_config_from_store(const sdc_store *s, const sdc_st_file *checkpoint,
                                      sdc_unet_config *out)
{
    sdc_unet_config c = {0};
    c.in_channels = dim_of(s, "conv_in.weight", 1);
    c.out_channels = dim_of(s, "conv_out.weight", 0);
    c.time_embed_dim = dim_of(s, "time_embedding.linear_1.weight", 0);
    c.cross_attention_dim =
        dim_of(s, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", 1);
    int proj_in_dims = 0;
    const sdc_store_entry *proj_in = sdc_store_find(s, "mid_block.attentions.0.proj_in.weight");
    if (proj_in)
        proj_in_dims = proj_in->ndim;
    if (c.in_channels < 1 || c.out_channels < 1 || c.time_embed_dim < 1 ||
        c.cross_attention_dim < 1 || proj_in_dims < 2)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: unknown UNet layout (conv_in, conv_out, time_embedding and a "
                        "cross-attention mid block are needed)",
                        s->description);

    while (c.n_levels < SDC_UNET_MAX_LEVELS &&
           sdc_load_has(s, "down_blocks.%d.resnets.0.conv1.weight", c.n_levels)) {
        char name[SDC_MODEL_NAME_MAX];
        snprintf(name, sizeof name, "down_blocks.%d.resnets.0.conv1.weight", c.n_levels);
        c.block_out_channels[c.n_levels++] = dim_of(s, name, 0);
    }
    while (c.layers_per_block < SDC_UNET_MAX_LAYERS &&
           sdc_load_has(s, "down_blocks.0.resnets.%d.conv1.weight", c.layers_per_block))
        c.layers_per_block++;
    int n = c.n_levels, last = n - 1;
    for (int i = 0; i < n; i++) {
        c.down_attention[i] = sdc_load_has(s, "down_blocks.%d.attentions.0.proj_in.weight", i);
        c.up_attention[i] = sdc_load_has(s, "up_blocks.%d.attentions.0.proj_in.weight", i);
        c.transformer_layers[i] = c.down_attention[i] ? count_layers(s, "down_blocks.", i) : 1;
        c.up_transformer_layers[i] = c.up_attention[i] ? count_layers(s, "up_blocks.", i) : 1;
    }
    /* The mid block has the deepest level's transformer depth. */
    int mid_layers = 0;
    while (sdc_load_has(s, "mid_block.attentions.0.transformer_blocks.%d.norm1.weight", mid_layers))
        mid_layers++;
    if (c.down_attention[last] && c.transformer_layers[last] != mid_layers)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: unknown UNet layout: the deepest level has %d transformer layers, "
                        "the mid block %d",
                        s->description, c.transformer_layers[last], mid_layers);
    c.transformer_layers[last] = mid_layers;

    c.use_linear_projection = proj_in_dims == 2;
    c.text_time = sdc_store_has(s, "add_embedding.linear_1.weight");
    c.norm_num_groups = DEFAULT_GROUPS;
    c.norm_eps = DEFAULT_EPS;
    c.flip_sin_to_cos = true;
    c.freq_shift = 0.0f;
    c.downsample_padding = 1;

    /* The family decides the heads: SD 1.x has conv projections and a 768-wide context, SD
     * 2.x linear ones and a 1024-wide context, SDXL the text_time embedding. */
    unet_family family;
    if (c.text_time)
        family = UNET_FAMILY_SDXL;
    else if (c.use_linear_projection && c.cross_attention_dim != 768)
        family = UNET_FAMILY_SD2;
    else if (!c.use_linear_projection && c.cross_attention_dim != 1024)
        family = UNET_FAMILY_SD1;
    else
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: unknown UNet layout: %s proj_in with a %lld-wide context is neither "
                        "SD 1.x (conv, 768) nor SD 2.x (linear, 1024)",
                        s->description, c.use_linear_projection ? "linear" : "conv",
                        (long long)c.cross_attention_dim);
    for (int i = 0; i < n; i++) {
        int64_t ch = c.block_out_channels[i];
        if (family == UNET_FAMILY_SD1) {
            c.n_heads[i] = SD1_HEADS;
        } else if (ch % SD2_HEAD_DIM == 0) {
            c.n_heads[i] = (int)(ch / SD2_HEAD_DIM);
        } else {
            return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                            "%s: unknown UNet layout: %s has heads of %lld channels, but level "
                            "%d has %lld",
                            s->description, family_names[family], (long long)SD2_HEAD_DIM, i,
                            (long long)ch);
        }
    }

    if (c.text_time) {
        int64_t in = dim_of(s, "add_embedding.linear_1.weight", 1), pooled = 0;
        int n_ids = 0;
        c.projection_class_embeddings_input_dim = in;
        if (!sdxl_pooled(checkpoint, &pooled, &n_ids)) {
            /* No text encoder to ask: the real SDXL sizes. */
            n_ids = in == 1280 + SDXL_BASE_IDS * SDXL_TIME_DIM ? SDXL_BASE_IDS : SDXL_REFINER_IDS;
            pooled = in - n_ids * SDXL_TIME_DIM;
        }
        if (pooled < 1 || in <= pooled || (in - pooled) % n_ids != 0)
            return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                            "%s: unknown SDXL layout: add_embedding takes %lld values, which is "
                            "not a %lld-wide pooled embedding plus %d time ids",
                            s->description, (long long)in, (long long)pooled, n_ids);
        c.addition_time_embed_dim = (in - pooled) / n_ids;
    }
    TRY_RETURN(check_config(s->ctx, s->description, &c));
    *out = c;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

sdc_status sdc_unet_load(sdc_context *ctx, sdc_store *store, const sdc_unet_config *config,
                         sdc_unet **out)
{
    sdc_status st;
    *out = NULL;
    sdc_unet *u = sdc_calloc(ctx, 1, sizeof *u);
    if (!u) {
        sdc_store_destroy(store);
        return sdc_fail_oom(ctx, "a UNet", sizeof *u);
    }
    u->ctx = ctx;
    u->store = store;
    u->config = *config;
    sdc_arena_init(&u->parts, ctx, 0);
    const sdc_unet_config *c = &u->config;
    int64_t C0 = c->block_out_channels[0];
    TRY(destroy, check_config(ctx, store->description, c));
    TRY(destroy,
        sdc_load_conv(store, "", "conv_in", C0, c->in_channels, 3, &u->conv_in, &u->conv_in_bias));
    TRY(destroy, sdc_time_conditioning_load(store, c, &u->time));
    for (int i = 0; i < c->n_levels; i++)
        TRY(destroy, sdc_unet_down_block_load(store, &u->parts, c, i, &u->down[i]));
    TRY(destroy, sdc_unet_mid_block_load(store, &u->parts, c, &u->mid));
    for (int i = 0; i < c->n_levels; i++)
        TRY(destroy, sdc_unet_up_block_load(store, &u->parts, c, i, &u->up[i]));
    TRY(destroy,
        sdc_load_norm(store, "", "conv_norm_out", C0, &u->norm_out_weight, &u->norm_out_bias));
    TRY(destroy, sdc_load_conv(store, "", "conv_out", c->out_channels, C0, 3, &u->conv_out,
                               &u->conv_out_bias));
    TRY(destroy, sdc_load_check_unused(store));
    *out = u;
    return SDC_STATUS_OK;
destroy:
    sdc_unet_destroy(u);
    return st;
}

sdc_status sdc_unet_open_diffusers(sdc_context *ctx, const char *dir, sdc_unet **out)
{
    sdc_status st;
    sdc_model_config json;
    sdc_unet_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_model_config_open_dir(ctx, dir, &json));
    TRY(close_json, sdc_unet_config_from_json(&json, false, &config));
    TRY(close_json, sdc_store_open_diffusers(ctx, dir, &store));
    st = sdc_unet_load(ctx, store, &config, out);
close_json:
    sdc_model_config_close(&json);
    return st;
}

sdc_status sdc_unet_open_single_file(sdc_context *ctx, sdc_weights_file *file, sdc_unet **out)
{
    sdc_status st;
    sdc_store *store = NULL;
    sdc_unet_config config;
    *out = NULL;
    TRY(fail, sdc_unet_ldm_store(ctx, file, &store));
    TRY(fail, sdc_unet_config_from_store(store, file->st, &config));
    return sdc_unet_load(ctx, store, &config, out);
fail:
    sdc_store_destroy(store);
    return st;
}

void sdc_unet_destroy(sdc_unet *u)
{
    if (!u)
        return;
    sdc_store_destroy(u->store);
    sdc_arena_release(&u->parts);
    sdc_free(u->ctx, u);
}

const sdc_unet_config *sdc_unet_get_config(const sdc_unet *u)
{
    return &u->config;
}

const sdc_store *sdc_unet_get_store(const sdc_unet *u)
{
    return u->store;
}

int sdc_unet_n_skips(const sdc_unet_config *c)
{
    return 1 + c->n_levels * c->layers_per_block + (c->n_levels - 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* The residuals match the skips one for one (count and shape), and the mid block. */
static sdc_status check_control(sdc_context *ctx, const sdc_control_residuals *r,
                                const sdc_tensor *skips, int n_skips, const sdc_tensor *mid)
{
    if (r->n_down != n_skips)
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "UNet: %d ControlNet down residuals for %d skip connections", r->n_down,
                        n_skips);
    char what[64];
    for (int i = 0; i < n_skips; i++) {
        snprintf(what, sizeof what, "ControlNet down residual %d", i);
        TRY_RETURN(sdc_check_input(ctx, what, &r->down[i], 4, skips[i].shape));
    }
    return sdc_check_input(ctx, "ControlNet mid residual", &r->mid, 4, mid->shape);
}

static sdc_status forward(sdc_fwd *f, const sdc_unet *u, const sdc_unet_inputs *in, sdc_tensor *out)
{
    sdc_status st;
    const sdc_unet_config *c = &u->config;
    int64_t want_sample[4] = {-1, c->in_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "UNet sample", in->sample, 4, want_sample));
    int64_t B = in->sample->shape[0], H = in->sample->shape[2], W = in->sample->shape[3];
    /* Any size: sides that are not multiples of 2^levels shrink by ceil(n / 2) on the way
     * down and the up blocks grow back to their skips' sizes (diffusers' upsample_size). */
    if (H == 0 || W == 0)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE, "UNet: sample %lldx%lld is empty", (long long)W,
                        (long long)H);
    int64_t want_ctx[3] = {B, -1, c->cross_attention_dim};
    TRY_RETURN(
        sdc_check_input(f->ctx, "encoder_hidden_states", in->encoder_hidden_states, 3, want_ctx));
    int64_t want_out[4] = {B, c->out_channels, H, W};
    TRY_RETURN(sdc_check_input(f->ctx, "UNet output", out, 4, want_out));
    const sdc_tensor *context = in->encoder_hidden_states;
    sdc_fwd_mark start = sdc_fwd_get_mark(f);
    sdc_tensor temb, h, n;
    sdc_tensor skips[SDC_UNET_MAX_SKIPS];
    int n_skips = 0;

    /* temb = silu(time_embedding(time_proj(t)) [+ add_embedding(text_embeds, time_ids)]) */
    TRY(release, sdc_time_conditioning_forward(f, &u->time, B, in->timesteps, in->text_embeds,
                                               in->time_ids, &temb));

    /* h = conv_in(sample): the first skip connection */
    TRY(release, sdc_fwd_tensor4(f, B, c->block_out_channels[0], H, W, &h));
    TRY(release, sdc_fwd_conv2d(f, in->sample, &u->conv_in, u->conv_in_bias, 1, 1, &h));
    skips[n_skips++] = h;

    /* down blocks: every resnet(+transformer) output and downsampler output is a skip */
    for (int i = 0; i < c->n_levels; i++)
        TRY(release,
            sdc_unet_down_block_forward(f, &u->down[i], &h, &temb, context, skips, &n_skips));

    /* mid block (+ ControlNet mid residual) */
    sdc_fwd_mark h_mark = sdc_fwd_get_mark(f);
    sdc_tensor mid;
    TRY(release, sdc_unet_mid_block_forward(f, &u->mid, &h, &temb, context, &mid));
    h = mid;
    const sdc_tensor *residuals = NULL;
    if (in->control) {
        TRY(release, check_control(f->ctx, in->control, skips, n_skips, &h));
        TRY(release, sdc_fwd_add(f, &h, &in->control->mid, &h));
        residuals = in->control->down;
    }

    /* up blocks: each layer takes [h, last skip (+ ControlNet residual)] */
    for (int i = 0; i < c->n_levels; i++)
        TRY(release, sdc_unet_up_block_forward(f, &u->up[i], h_mark, &h, skips, residuals, &n_skips,
                                               &temb, context));

    /* out = conv_out(silu(conv_norm_out(h))) */
    TRY(release, sdc_fwd_tensor4(f, B, h.shape[1], H, W, &n));
    TRY(release, sdc_fwd_group_norm(f, &h, c->norm_num_groups, u->norm_out_weight, u->norm_out_bias,
                                    c->norm_eps, true, &n));
    TRY(release, sdc_fwd_conv2d(f, &n, &u->conv_out, u->conv_out_bias, 1, 1, out));
release:
    sdc_fwd_reset_to(f, start);
    return st;
}

sdc_status sdc_unet_forward(sdc_context *ctx, const sdc_unet *u, sdc_arena *scratch,
                            const sdc_unet_inputs *in, sdc_tensor *out)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, scratch);
    return forward(&f, u, in, out);
}

sdc_status sdc_unet_scratch_bytes(sdc_context *ctx, const sdc_unet *u, const sdc_unet_inputs *in,
                                  size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    *bytes = 0;
    if (!in->sample || in->sample->ndim != 4)
        return sdc_check_input(ctx, "UNet sample", in->sample, 4,
                               (int64_t[4]){-1, u->config.in_channels, -1, -1});
    int64_t shape[4] = {in->sample->shape[0], u->config.out_channels, in->sample->shape[2],
                        in->sample->shape[3]};
    sdc_tensor out = sdc_tensor_make(NULL, SDC_DTYPE_F32, 4, shape); /* not written */
    sdc_status st = forward(&f, u, in, &out);
    *bytes = sdc_fwd_bytes(&f);
    return st;
}
