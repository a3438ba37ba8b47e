/*
 * unet_ldm.c — the UNet of a single-file (LDM/CompVis openaimodel) checkpoint under its
 * diffusers names: "model.diffusion_model.*" as diffusers' convert_ldm_unet_checkpoint (0.30)
 * maps it, for any number of levels and layers per block (SD 1.x, 2.x, SDXL). The level
 * structure is read from the names themselves: input_blocks.<N>.0.op marks the downsamplers.
 * Spatial transformers keep their diffusers names inside input/middle/output blocks.
 */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LDM_PREFIX "model.diffusion_model."

static bool format(char *buf, size_t size, const char *fmt, ...) SDC_PRINTF(3, 4);
static bool format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

static bool take(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

/* "<digits>." at *p: the number, with *p moved past the dot; -1 when absent. */
static int take_index(const char **p)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '.' || v > 100000)
        return -1;
    *p = end + 1;
    return (int)v;
}

/* openaimodel ResBlock sub-module -> diffusers ResnetBlock2D sub-module. */
static bool resnet_rest(const char *rest, char *buf, size_t size)
{
    static const char *const names[][2] = {
        {"in_layers.0.", "norm1."},          {"in_layers.2.", "conv1."},
        {"emb_layers.1.", "time_emb_proj."}, {"out_layers.0.", "norm2."},
        {"out_layers.3.", "conv2."},         {"skip_connection.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (take(&rest, names[i][0]))
            return format(buf, size, "%s%s", names[i][1], rest);
    return false;
}

typedef struct layout {
    int layers_per_block; /* resnets per down level */
    int n_levels;
} layout;

/* The diffusers name of LDM name `p` (after the prefix), or false when unknown. */
static bool map_name(const char *p, const layout *l, char *buf, size_t size)
{
    static const char *const top[][2] = {
        {"time_embed.0.", "time_embedding.linear_1."},
        {"time_embed.2.", "time_embedding.linear_2."},
        {"label_emb.0.0.", "add_embedding.linear_1."},
        {"label_emb.0.2.", "add_embedding.linear_2."},
        {"input_blocks.0.0.", "conv_in."},
        {"out.0.", "conv_norm_out."},
        {"out.2.", "conv_out."},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (take(&p, top[i][0]))
            return format(buf, size, "%s%s", top[i][1], p);

    char rest[SDC_MODEL_NAME_MAX];
    int per_level = l->layers_per_block + 1;
    if (take(&p, "input_blocks.")) {
        int n = take_index(&p), sub = n > 0 ? take_index(&p) : -1;
        if (n < 1 || sub < 0)
            return false;
        int level = (n - 1) / per_level, j = (n - 1) % per_level;
        if (level >= l->n_levels)
            return false;
        if (j == l->layers_per_block) /* the level's downsampler */
            return sub == 0 && take(&p, "op.") &&
                   format(buf, size, "down_blocks.%d.downsamplers.0.conv.%s", level, p);
        if (sub == 0)
            return resnet_rest(p, rest, sizeof rest) &&
                   format(buf, size, "down_blocks.%d.resnets.%d.%s", level, j, rest);
        return sub == 1 && format(buf, size, "down_blocks.%d.attentions.%d.%s", level, j, p);
    }
    if (take(&p, "middle_block.")) {
        int sub = take_index(&p);
        if (sub == 0 || sub == 2)
            return resnet_rest(p, rest, sizeof rest) &&
                   format(buf, size, "mid_block.resnets.%d.%s", sub / 2, rest);
        return sub == 1 && format(buf, size, "mid_block.attentions.0.%s", p);
    }
    if (take(&p, "output_blocks.")) {
        int k = take_index(&p), sub = k >= 0 ? take_index(&p) : -1;
        if (k < 0 || sub < 0)
            return false;
        int index = k / per_level, j = k % per_level;
        if (index >= l->n_levels)
            return false;
        if (sub == 0)
            return resnet_rest(p, rest, sizeof rest) &&
                   format(buf, size, "up_blocks.%d.resnets.%d.%s", index, j, rest);
        /* The upsampler closes the level's last block: module 1 after a plain ResBlock,
         * module 2 after ResBlock + SpatialTransformer. */
        if (j == l->layers_per_block && (sub == 1 || sub == 2) && take(&p, "conv."))
            return format(buf, size, "up_blocks.%d.upsamplers.0.conv.%s", index, p);
        return sub == 1 && format(buf, size, "up_blocks.%d.attentions.%d.%s", index, j, p);
    }
    return false;
}

/* Levels and layers per block from the names: input_blocks.<N>.0.op.weight is the downsampler
 * closing level N / (layers + 1) - 1; input_blocks run from 1 to levels * (layers + 1) - 1. */
static sdc_status read_layout(sdc_context *ctx, const sdc_st_file *sf, layout *l)
{
    size_t plen = strlen(LDM_PREFIX);
    int max_input = 0, first_down = 0, n_down = 0;
    for (size_t i = 0; i < sf->n_tensors; i++) {
        const char *p = sf->tensors[i].name;
        if (strncmp(p, LDM_PREFIX, plen) != 0)
            continue;
        p += plen;
        if (!take(&p, "input_blocks."))
            continue;
        int n = take_index(&p);
        if (n > max_input)
            max_input = n;
        if (n > 0 && strcmp(p, "0.op.weight") == 0) {
            n_down++;
            if (first_down == 0 || n < first_down)
                first_down = n;
        }
    }
    l->n_levels = n_down + 1;
    l->layers_per_block = n_down > 0 ? first_down - 1 : max_input;
    if (max_input < 1 || l->layers_per_block < 1 ||
        max_input + 1 != l->n_levels * (l->layers_per_block + 1))
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: unknown UNet layout: input_blocks 1 to %d with %d downsamplers (the "
                        "first at %d) do not form levels of equal depth",
                        sf->path, max_input, n_down, first_down);
    return SDC_STATUS_OK;
}

sdc_status sdc_unet_ldm_store(sdc_context *ctx, sdc_weights_file *file, sdc_store **out)
{
    sdc_status st;
    const sdc_st_file *sf = file->st;
    size_t plen = strlen(LDM_PREFIX);
    *out = NULL;
    bool found = false;
    for (size_t i = 0; i < sf->n_tensors && !found; i++)
        found = strncmp(sf->tensors[i].name, LDM_PREFIX, plen) == 0;
    if (!found)
        return sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                        "%s: no UNet in this checkpoint (no '" LDM_PREFIX "*' tensors)", sf->path);
    layout l;
    if ((st = read_layout(ctx, sf, &l)) != SDC_STATUS_OK)
        return st;

    size_t dlen = strlen(sf->path) + 32;
    char *description = sdc_malloc(ctx, dlen);
    if (!description)
        return sdc_fail_oom(ctx, sf->path, dlen);
    snprintf(description, dlen, "unet of %s", sf->path);
    sdc_store *store = NULL;
    st = sdc_store_create(ctx, description, &store);
    sdc_free(ctx, description);
    if (st != SDC_STATUS_OK)
        return st;
    if ((st = sdc_store_add_file(store, file)) != SDC_STATUS_OK)
        goto destroy;
    for (size_t i = 0; i < sf->n_tensors; i++) {
        const sdc_st_tensor *t = &sf->tensors[i];
        if (strncmp(t->name, LDM_PREFIX, plen) != 0)
            continue;
        char name[SDC_MODEL_NAME_MAX];
        if (!map_name(t->name + plen, &l, name, sizeof name)) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: tensor '%s' is not part of a known UNet layout (%d levels of %d "
                          "layers)",
                          sf->path, t->name, l.n_levels, l.layers_per_block);
            goto destroy;
        }
        if ((st = sdc_store_add(store, name, t, SDC_STORE_TRANSFORM_NONE, 0, 0)) != SDC_STATUS_OK)
            goto destroy;
    }
    if ((st = sdc_store_finish(store)) != SDC_STATUS_OK)
        goto destroy;
    *out = store;
    return SDC_STATUS_OK;
destroy:
    sdc_store_destroy(store);
    return st;
}
