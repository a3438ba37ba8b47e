/*
 * vae_ldm.c — the AutoencoderKL of a single-file (LDM/CompVis) checkpoint under its diffusers
 * names: "first_stage_model.*" as diffusers' convert_ldm_vae_checkpoint (0.30) maps it.
 * Decoder levels are numbered from the bottom in LDM (up.0 is the last up block); the
 * mid-block attention's q/k/v/proj_out are 1x1 convs there ([C, C, 1, 1], read as [C, C]).
 */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LDM_PREFIX "first_stage_model."

/* snprintf that reports truncation (a name too long for the buffer is unknown). */
static bool format(char *buf, size_t size, const char *fmt, ...) SDC_PRINTF(3, 4);
static bool format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

/* "<digits>." at *p: the number, with *p moved past the dot; -1 when absent. */
static int take_index(const char **p)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '.' || v > 1000)
        return -1;
    *p = end + 1;
    return (int)v;
}

static bool take(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Resnet tensors keep their names but for the 1x1 shortcut. */
static bool resnet_rest(const char *rest, char *buf, size_t size)
{
    if (strncmp(rest, "nin_shortcut.", 13) == 0)
        return format(buf, size, "conv_shortcut.%s", rest + 13);
    return format(buf, size, "%s", rest);
}

/* The diffusers name of LDM name `p` (after the prefix) in buf, or false when unknown. Names
 * that stay the same are handled by unchanged(). */
static bool map_name(const char *p, int n_levels, char *buf, size_t size)
{
    char rest[SDC_MODEL_NAME_MAX];
    const char *part = NULL;
    if (take(&p, "encoder."))
        part = "encoder";
    else if (take(&p, "decoder."))
        part = "decoder";
    else
        return false;
    if (take(&p, "norm_out.")) {
        return format(buf, size, "%s.conv_norm_out.%s", part, p);
    }
    if (take(&p, "down.") || take(&p, "up.")) {
        bool down = part[0] == 'e';
        int level = take_index(&p);
        if (level < 0 || level >= n_levels)
            return false;
        int index = down ? level : n_levels - 1 - level;
        const char *blocks = down ? "down_blocks" : "up_blocks";
        if (take(&p, "block.")) {
            int j = take_index(&p);
            if (j < 0)
                return false;
            return resnet_rest(p, rest, sizeof rest) &&
                   format(buf, size, "%s.%s.%d.resnets.%d.%s", part, blocks, index, j, rest);
        }
        if (take(&p, down ? "downsample.conv." : "upsample.conv.")) {
            return format(buf, size, "%s.%s.%d.%s.0.conv.%s", part, blocks, index,
                          down ? "downsamplers" : "upsamplers", p);
        }
        return false;
    }
    if (take(&p, "mid.block_")) {
        int k = take_index(&p);
        if (k != 1 && k != 2)
            return false;
        return resnet_rest(p, rest, sizeof rest) &&
               format(buf, size, "%s.mid_block.resnets.%d.%s", part, k - 1, rest);
    }
    if (take(&p, "mid.attn_1.")) {
        static const char *const names[][2] = {
            {"norm.", "group_norm."},   {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."},
            {"proj_out.", "to_out.0."},
        };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (take(&p, names[i][0]))
                return format(buf, size, "%s.mid_block.attentions.0.%s%s", part, names[i][1], p);
    }
    return false;
}

/* Names that need no mapping. */
static bool unchanged(const char *p)
{
    static const char *const same[] = {
        "quant_conv.",       "post_quant_conv.", "encoder.conv_in.",
        "encoder.conv_out.", "decoder.conv_in.", "decoder.conv_out.",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (strncmp(p, same[i], strlen(same[i])) == 0)
            return true;
    return false;
}

sdc_status sdc_vae_ldm_store(sdc_context *ctx, sdc_weights_file *file, sdc_store **out)
{
    return sdc_vae_ldm_store_prefixed(ctx, file, LDM_PREFIX, out);
}

sdc_status sdc_vae_ldm_store_prefixed(sdc_context *ctx, sdc_weights_file *file,
                                      const char *prefix, sdc_store **out)
{
    sdc_status st;
    const sdc_st_file *sf = file->st;
    size_t plen = strlen(prefix);
    *out = NULL;

    /* The number of levels, needed to renumber the decoder's: encoder.down.<N>. */
    int n_levels = 0;
    size_t n_found = 0;
    for (size_t i = 0; i < sf->n_tensors; i++) {
        const char *p = sf->tensors[i].name;
        if (strncmp(p, prefix, plen) != 0 || sdc_st_is_padding(&sf->tensors[i]))
            continue;
        n_found++;
        p += plen;
        if (take(&p, "encoder.down.")) {
            int level = take_index(&p);
            if (level >= n_levels)
                n_levels = level + 1;
        }
    }
    if (n_found == 0)
        return sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: no VAE in this checkpoint (no '%s*' tensors)",
                        sf->path, prefix);

    size_t dlen = strlen(sf->path) + 32;
    char *description = sdc_malloc(ctx, dlen);
    if (!description)
        return sdc_fail_oom(ctx, sf->path, dlen);
    snprintf(description, dlen, "vae of %s", sf->path);
    sdc_store *store = NULL;
    st = sdc_store_create(ctx, description, &store);
    sdc_free(ctx, description);
    if (st != SDC_STATUS_OK)
        return st;
    if ((st = sdc_store_add_file(store, file)) != SDC_STATUS_OK)
        goto destroy;
    for (size_t i = 0; i < sf->n_tensors; i++) {
        const sdc_st_tensor *t = &sf->tensors[i];
        if (strncmp(t->name, prefix, plen) != 0 || sdc_st_is_padding(t))
            continue;
        const char *p = t->name + plen;
        char name[SDC_MODEL_NAME_MAX];
        /* Training leftovers (the discriminator of the VAE's loss) are not part of the model. */
        if (strncmp(p, "loss.", 5) == 0)
            continue;
        if (!(unchanged(p) ? format(name, sizeof name, "%s", p)
                           : map_name(p, n_levels, name, sizeof name))) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: tensor '%s' is not part of a known VAE layout", sf->path, t->name);
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
