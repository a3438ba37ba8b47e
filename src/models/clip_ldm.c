/*
 * clip_ldm.c — the text encoders of single-file (LDM/CompVis, A1111/Civitai) checkpoints under
 * transformers' CLIPTextModel names, one table per layout. SD 1.x and SDXL's first encoder are
 * transformers' names under a prefix; SD 2.x, SDXL's second encoder and the SDXL refiner's only
 * one are OpenCLIP text towers
 * (fused q/k/v read as row ranges, text_projection stored transposed), mapped as diffusers
 * 0.30's single_file_utils (convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) does.
 * SD 2.x conditions on the penultimate layer: as diffusers, its last resblock and its unused
 * text_projection are left out, so the loaded encoder's last_hidden_state is what SD 2 uses.
 */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layout_info {
    const char *prefix;
    const char *what;        /* for messages */
    bool openclip;           /* OpenCLIP names, else transformers' under the prefix */
    bool drop_last_layer;    /* SD 2.x: the last resblock is not used */
    bool keep_projection;    /* OpenCLIP: text_projection becomes text_projection.weight */
    sdc_unary_op hidden_act; /* what the layout's text tower was trained with */
} layout_info;

static const layout_info layouts[] = {
    [SDC_CLIP_LDM_LAYOUT_SD1] = {"cond_stage_model.transformer.", "SD 1.x CLIP ViT-L", false, false,
                                 false, SDC_UNARY_OP_QUICK_GELU},
    [SDC_CLIP_LDM_LAYOUT_SD2] = {"cond_stage_model.model.", "SD 2.x OpenCLIP ViT-H", true, true,
                                 false, SDC_UNARY_OP_GELU},
    [SDC_CLIP_LDM_LAYOUT_SDXL_L] = {"conditioner.embedders.0.transformer.", "SDXL CLIP ViT-L",
                                    false, false, false, SDC_UNARY_OP_QUICK_GELU},
    [SDC_CLIP_LDM_LAYOUT_SDXL_G] = {"conditioner.embedders.1.model.", "SDXL OpenCLIP ViT-bigG",
                                    true, false, true, SDC_UNARY_OP_GELU},
    [SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G] = {"conditioner.embedders.0.model.",
                                            "SDXL refiner OpenCLIP ViT-bigG", true, false, true,
                                            SDC_UNARY_OP_GELU},
};
static_assert(sizeof layouts / sizeof layouts[0] == SDC_CLIP_LDM_LAYOUT_COUNT,
              "one entry per layout");

/* OpenCLIP names outside the resblocks -> transformers names. */
static const struct {
    const char *ldm, *hf;
} openclip_top[] = {
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    {"ln_final.weight", "text_model.final_layer_norm.weight"},
    {"ln_final.bias", "text_model.final_layer_norm.bias"},
};

/* transformer.resblocks.N.<ldm> -> text_model.encoder.layers.N.<hf>. */
static const struct {
    const char *ldm, *hf;
} openclip_layer[] = {
    {"ln_1.weight", "layer_norm1.weight"},
    {"ln_1.bias", "layer_norm1.bias"},
    {"attn.out_proj.weight", "self_attn.out_proj.weight"},
    {"attn.out_proj.bias", "self_attn.out_proj.bias"},
    {"ln_2.weight", "layer_norm2.weight"},
    {"ln_2.bias", "layer_norm2.bias"},
    {"mlp.c_fc.weight", "mlp.fc1.weight"},
    {"mlp.c_fc.bias", "mlp.fc1.bias"},
    {"mlp.c_proj.weight", "mlp.fc2.weight"},
    {"mlp.c_proj.bias", "mlp.fc2.bias"},
};

/* attn.in_proj_<part> [3W, ...] = rows of q_proj, k_proj, v_proj, in that order. */
static const char *const fused_parts[] = {"weight", "bias"};
static const char *const fused_projections[] = {"q_proj", "k_proj", "v_proj"};

#define RESBLOCKS     "transformer.resblocks."
#define MAX_RESBLOCKS 100000

sdc_unary_op sdc_clip_ldm_hidden_act(sdc_clip_ldm_layout layout)
{
    return layouts[layout].hidden_act;
}

const char *sdc_clip_ldm_prefix(sdc_clip_ldm_layout layout)
{
    return layouts[layout].prefix;
}

bool sdc_clip_ldm_present(const sdc_weights_file *file, sdc_clip_ldm_layout layout)
{
    const layout_info *info = &layouts[layout];
    const char *names[2] = {"token_embedding.weight", NULL};
    if (!info->openclip) {
        names[0] = "text_model.embeddings.token_embedding.weight";
        names[1] = "embeddings.token_embedding.weight"; /* before transformers 4.x's text_model */
    }
    for (int i = 0; i < 2 && names[i]; i++) {
        char full[SDC_MODEL_NAME_MAX];
        snprintf(full, sizeof full, "%s%s", info->prefix, names[i]);
        if (sdc_st_find(file->st, full))
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* transformers names under a prefix (SD 1.x, SDXL's first encoder)                           */

static sdc_status add_transformers(sdc_store *s, const sdc_st_file *st, const layout_info *info)
{
    size_t plen = strlen(info->prefix);
    for (size_t i = 0; i < st->n_tensors; i++) {
        const sdc_st_tensor *t = &st->tensors[i];
        if (strncmp(t->name, info->prefix, plen) != 0)
            continue;
        const char *rest = t->name + plen;
        /* A buffer older transformers saved; 4.44 does not load it (it is always arange). */
        if (strcmp(rest, "text_model.embeddings.position_ids") == 0 ||
            strcmp(rest, "embeddings.position_ids") == 0)
            continue;
        /* Files saved with transformers 3.x lack "text_model." (A1111 renames them the same
         * way, sd_models.py checkpoint_dict_replacements). */
        char name[SDC_MODEL_NAME_MAX];
        bool legacy = strncmp(rest, "embeddings.", 11) == 0 || strncmp(rest, "encoder.", 8) == 0 ||
                      strncmp(rest, "final_layer_norm.", 17) == 0;
        int n = snprintf(name, sizeof name, "%s%s", legacy ? "text_model." : "", rest);
        if (n < 0 || (size_t)n >= sizeof name)
            return sdc_fail(s->ctx, SDC_STATUS_FORMAT, "%s: tensor name '%s' is too long",
                            s->description, t->name);
        sdc_status st_ = sdc_store_add(s, name, t, SDC_STORE_TRANSFORM_NONE, 0, 0);
        if (st_ != SDC_STATUS_OK)
            return st_;
    }
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* OpenCLIP (SD 2.x, SDXL's second encoder)                                                   */

/* The N of "transformer.resblocks.N.<sub>" and *sub; false for other names. */
static bool parse_resblock(const char *rest, long *index, const char **sub)
{
    size_t n = strlen(RESBLOCKS);
    if (strncmp(rest, RESBLOCKS, n) != 0 || rest[n] < '0' || rest[n] > '9')
        return false;
    char *end = NULL;
    long v = strtol(rest + n, &end, 10);
    if (*end != '.' || v < 0 || v >= MAX_RESBLOCKS || (rest[n] == '0' && end != rest + n + 1))
        return false;
    *index = v;
    *sub = end + 1;
    return true;
}

static sdc_status add_openclip_resblock(sdc_store *s, const sdc_st_tensor *t, long index,
                                        const char *sub, bool *mapped)
{
    char name[SDC_MODEL_NAME_MAX];
    *mapped = false;
    for (size_t i = 0; i < sizeof openclip_layer / sizeof openclip_layer[0]; i++) {
        if (strcmp(sub, openclip_layer[i].ldm) != 0)
            continue;
        snprintf(name, sizeof name, "text_model.encoder.layers.%ld.%s", index,
                 openclip_layer[i].hf);
        *mapped = true;
        return sdc_store_add(s, name, t, SDC_STORE_TRANSFORM_NONE, 0, 0);
    }
    for (size_t p = 0; p < 2; p++) {
        char ldm[32];
        snprintf(ldm, sizeof ldm, "attn.in_proj_%s", fused_parts[p]);
        if (strcmp(sub, ldm) != 0)
            continue;
        if (t->ndim < 1 || t->shape[0] % 3 != 0)
            return sdc_fail(s->ctx, SDC_STATUS_SHAPE,
                            "%s: tensor '%s' must have 3 x width rows (fused q, k, v)",
                            s->description, t->name);
        int64_t rows = t->shape[0] / 3;
        for (int64_t j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "text_model.encoder.layers.%ld.self_attn.%s.%s", index,
                     fused_projections[j], fused_parts[p]);
            sdc_status st = sdc_store_add(s, name, t, SDC_STORE_TRANSFORM_ROWS, j * rows, rows);
            if (st != SDC_STATUS_OK)
                return st;
        }
        *mapped = true;
        return SDC_STATUS_OK;
    }
    return SDC_STATUS_OK;
}

/* Every tensor of a used resblock and the top-level ones must be there (the store is sorted);
 * the message names the checkpoint's own tensor. */
static sdc_status check_openclip_complete(sdc_store *s, const layout_info *info, long n_layers)
{
    char hf[SDC_MODEL_NAME_MAX];
    for (size_t i = 0; i < sizeof openclip_top / sizeof openclip_top[0]; i++)
        if (!sdc_store_has(s, openclip_top[i].hf))
            return sdc_fail(s->ctx, SDC_STATUS_NOT_FOUND, "%s: missing tensor '%s%s'",
                            s->description, info->prefix, openclip_top[i].ldm);
    if (info->keep_projection && !sdc_store_has(s, "text_projection.weight"))
        return sdc_fail(s->ctx, SDC_STATUS_NOT_FOUND, "%s: missing tensor '%stext_projection'",
                        s->description, info->prefix);
    for (long n = 0; n < n_layers; n++) {
        for (size_t i = 0; i < sizeof openclip_layer / sizeof openclip_layer[0]; i++) {
            snprintf(hf, sizeof hf, "text_model.encoder.layers.%ld.%s", n, openclip_layer[i].hf);
            if (!sdc_store_has(s, hf))
                return sdc_fail(s->ctx, SDC_STATUS_NOT_FOUND,
                                "%s: missing tensor '%s" RESBLOCKS "%ld.%s'", s->description,
                                info->prefix, n, openclip_layer[i].ldm);
        }
        for (size_t p = 0; p < 2; p++) {
            snprintf(hf, sizeof hf, "text_model.encoder.layers.%ld.self_attn.q_proj.%s", n,
                     fused_parts[p]);
            if (!sdc_store_has(s, hf))
                return sdc_fail(s->ctx, SDC_STATUS_NOT_FOUND,
                                "%s: missing tensor '%s" RESBLOCKS "%ld.attn.in_proj_%s'",
                                s->description, info->prefix, n, fused_parts[p]);
        }
    }
    return SDC_STATUS_OK;
}

static sdc_status add_openclip(sdc_store *s, const sdc_st_file *st, const layout_info *info)
{
    size_t plen = strlen(info->prefix);
    long n_blocks = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        long index;
        const char *sub;
        if (strncmp(st->tensors[i].name, info->prefix, plen) == 0 &&
            parse_resblock(st->tensors[i].name + plen, &index, &sub) && index + 1 > n_blocks)
            n_blocks = index + 1;
    }
    long n_layers = n_blocks - (info->drop_last_layer ? 1 : 0);
    if (n_layers < 1)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: %ld OpenCLIP resblocks (%s" RESBLOCKS "N); the %s needs at least %d",
                        s->description, n_blocks, info->prefix, info->what,
                        info->drop_last_layer ? 2 : 1);

    for (size_t i = 0; i < st->n_tensors; i++) {
        const sdc_st_tensor *t = &st->tensors[i];
        if (strncmp(t->name, info->prefix, plen) != 0)
            continue;
        const char *rest = t->name + plen;
        const char *hf = NULL;
        sdc_store_transform transform = SDC_STORE_TRANSFORM_NONE;
        long index;
        const char *sub;
        bool mapped = false;
        sdc_status status;
        if (parse_resblock(rest, &index, &sub)) {
            if (index >= n_layers)
                continue; /* SD 2.x: the layer after the penultimate one */
            status = add_openclip_resblock(s, t, index, sub, &mapped);
            if (status != SDC_STATUS_OK)
                return status;
            if (mapped)
                continue;
        } else if (strcmp(rest, "logit_scale") == 0) {
            continue; /* CLIP's contrastive temperature: not part of the text tower */
        } else if (strcmp(rest, "text_projection") == 0) {
            if (!info->keep_projection)
                continue;
            hf = "text_projection.weight";
            transform = SDC_STORE_TRANSFORM_TRANSPOSE; /* stored [width, proj]: x @ P */
        } else {
            for (size_t j = 0; j < sizeof openclip_top / sizeof openclip_top[0] && !hf; j++)
                if (strcmp(rest, openclip_top[j].ldm) == 0)
                    hf = openclip_top[j].hf;
        }
        /* Unknown tensors keep their own name, so the loader reports them as unexpected. */
        status = sdc_store_add(s, hf ? hf : t->name, t, transform, 0, 0);
        if (status != SDC_STATUS_OK)
            return status;
    }
    TRY_RETURN(sdc_store_finish(s));
    return check_openclip_complete(s, info, n_layers);
}

/* ---------------------------------------------------------------------------------------- */

sdc_status sdc_clip_ldm_store(sdc_context *ctx, sdc_weights_file *file, sdc_clip_ldm_layout layout,
                              sdc_store **out)
{
    sdc_status st;
    *out = NULL;
    if ((int)layout < 0 || layout >= SDC_CLIP_LDM_LAYOUT_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "text encoder layout %d is unknown",
                        (int)layout);
    const layout_info *info = &layouts[layout];
    char description[512];
    snprintf(description, sizeof description, "%s (%s text encoder, %s*)", file->st->path,
             info->what, info->prefix);
    if (!sdc_clip_ldm_present(file, layout))
        return sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: no tensor '%s%s'", description,
                        info->prefix,
                        info->openclip ? "token_embedding.weight"
                                       : "text_model.embeddings.token_embedding.weight");
    sdc_store *s = NULL;
    TRY(fail, sdc_store_create(ctx, description, &s));
    TRY(fail, sdc_store_add_file(s, file));
    if (info->openclip) {
        TRY(fail, add_openclip(s, file->st, info));
    } else {
        TRY(fail, add_transformers(s, file->st, info));
        TRY(fail, sdc_store_finish(s));
    }
    *out = s;
    return SDC_STATUS_OK;
fail:
    sdc_store_destroy(s);
    return st;
}
