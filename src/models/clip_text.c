/*
 * clip_text.c — the CLIP text encoders of Stable Diffusion, as transformers 4.44.2's
 * CLIPTextModel and CLIPTextModelWithProjection (modeling_clip.py) compute them: CLIP ViT-L/14
 * (SD 1.x, SDXL), OpenCLIP ViT-H/14 (SD 2.x) and ViT-bigG/14 (SDXL), from a diffusers folder
 * (config.json) or a single-file checkpoint (clip_ldm.c; configuration from the tensor shapes).
 * The transformer layers, shared with the safety checker's vision tower, are clip_layer.c's.
 */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every released CLIP and OpenCLIP text tower has 64-wide heads; single files carry no
 * head count. */
#define SINGLE_FILE_HEAD_DIM 64
/* transformers' CLIPTextConfig defaults: what config.json leaves out means these. */
#define DEFAULT_VOCAB_SIZE        49408
#define DEFAULT_HIDDEN_SIZE       512
#define DEFAULT_INTERMEDIATE_SIZE 2048
#define DEFAULT_LAYERS            12
#define DEFAULT_HEADS             8
#define DEFAULT_POSITIONS         77
#define DEFAULT_EOS_TOKEN_ID      49407
#define DEFAULT_PROJECTION_DIM    512
#define DEFAULT_LAYER_NORM_EPS    1e-5
/* The value of eos_token_id in every SD text encoder config (openai's CLIP configs had it
 * wrong): transformers then pools at argmax(input_ids), the first <|endoftext|>. */
#define LEGACY_EOS_TOKEN_ID 2
/* Sanity bounds on configured sizes, checked before anything is sized from them (the tensors
 * then have to match exactly). */
#define MAX_LAYERS 1024
#define MAX_DIM    ((int64_t)1 << 20)

struct sdc_clip_text {
    sdc_context *ctx;
    sdc_clip_text_config config;
    sdc_store *store;                     /* owns the mapped weights and widened vectors */
    sdc_weight token_embedding;           /* [V, D] */
    const float *position_embedding;      /* [P, D] */
    sdc_clip_layer *layers;               /* [n_layers] (clip_layer.c) */
    const float *final_layer_norm_weight; /* [D] */
    const float *final_layer_norm_bias;   /* [D] */
    sdc_weight text_projection;           /* [projection_dim, D], no bias; projection only */
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static sdc_status check_config(sdc_context *ctx, const char *source, const sdc_clip_text_config *c)
{
    const struct {
        const char *name;
        int64_t value, min, max;
    } sizes[] = {
        {"vocab_size", c->vocab_size, 1, MAX_DIM * 16},
        {"max_position_embeddings", c->max_positions, 1, MAX_DIM},
        {"hidden_size", c->hidden_size, 1, MAX_DIM},
        {"intermediate_size", c->intermediate_size, 1, MAX_DIM},
        {"num_hidden_layers", c->n_layers, 1, MAX_LAYERS},
        {"num_attention_heads", c->n_heads, 1, MAX_DIM},
        {"projection_dim", c->projection_dim, 0, MAX_DIM},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < sizes[i].min || sizes[i].value > sizes[i].max)
            return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: %s %lld is outside [%lld, %lld]", source,
                            sizes[i].name, (long long)sizes[i].value, (long long)sizes[i].min,
                            (long long)sizes[i].max);
    if (c->hidden_size % c->n_heads != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: hidden_size %lld is not a multiple of num_attention_heads %d", source,
                        (long long)c->hidden_size, c->n_heads);
    if (!(c->layer_norm_eps > 0.0f))
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: layer_norm_eps %g must be positive", source,
                        (double)c->layer_norm_eps);
    if (c->hidden_act != SDC_UNARY_OP_QUICK_GELU && c->hidden_act != SDC_UNARY_OP_GELU &&
        c->hidden_act != SDC_UNARY_OP_GELU_TANH)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED, "%s: hidden_act %d is not a CLIP activation",
                        source, (int)c->hidden_act);
    return SDC_STATUS_OK;
}

sdc_status sdc_clip_text_config_from_json(const sdc_model_config *json, sdc_clip_text_config *out)
{
    sdc_context *ctx = json->ctx;
    sdc_clip_text_config c = {0};
    int64_t layers = 0, heads = 0;
    double eps = 0;
    const char *act = NULL, *model_type = NULL;
    memset(out, 0, sizeof *out);
    TRY_RETURN(sdc_model_config_string(json, "model_type", "clip_text_model", &model_type));
    if (strcmp(model_type, "clip_text_model") != 0)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"model_type\" is \"%s\"; sdc reads CLIPTextConfig files "
                        "(\"clip_text_model\")",
                        json->path, model_type);
    TRY_RETURN(sdc_model_config_int(json, "vocab_size", DEFAULT_VOCAB_SIZE, &c.vocab_size));
    TRY_RETURN(
        sdc_model_config_int(json, "max_position_embeddings", DEFAULT_POSITIONS, &c.max_positions));
    TRY_RETURN(sdc_model_config_int(json, "hidden_size", DEFAULT_HIDDEN_SIZE, &c.hidden_size));
    TRY_RETURN(sdc_model_config_int(json, "intermediate_size", DEFAULT_INTERMEDIATE_SIZE,
                                    &c.intermediate_size));
    TRY_RETURN(sdc_model_config_int(json, "num_hidden_layers", DEFAULT_LAYERS, &layers));
    TRY_RETURN(sdc_model_config_int(json, "num_attention_heads", DEFAULT_HEADS, &heads));
    TRY_RETURN(sdc_model_config_string(json, "hidden_act", "quick_gelu", &act));
    TRY_RETURN(sdc_model_config_float(json, "layer_norm_eps", DEFAULT_LAYER_NORM_EPS, &eps));
    TRY_RETURN(sdc_model_config_int(json, "eos_token_id", DEFAULT_EOS_TOKEN_ID, &c.eos_token_id));
    TRY_RETURN(
        sdc_model_config_int(json, "projection_dim", DEFAULT_PROJECTION_DIM, &c.projection_dim));
    if (!sdc_clip_activation_from_name(act, &c.hidden_act))
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"hidden_act\" \"%s\" is not supported (quick_gelu, gelu, "
                        "gelu_pytorch_tanh, gelu_new are)",
                        json->path, act);
    if (layers < 1 || layers > MAX_LAYERS || heads < 1 || heads > MAX_DIM)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: num_hidden_layers %lld / num_attention_heads %lld out of range",
                        json->path, (long long)layers, (long long)heads);
    c.n_layers = (int)layers;
    c.n_heads = (int)heads;
    c.layer_norm_eps = (float)eps;
    TRY_RETURN(check_config(ctx, json->path, &c));
    *out = c;
    return SDC_STATUS_OK;
}

/* Entry `name` when it is present and 2-D, else NULL. */
static const sdc_store_entry *entry_2d(const sdc_store *s, const char *name)
{
    const sdc_store_entry *e = sdc_store_find(s, name);
    return e && e->ndim == 2 ? e : NULL;
}

sdc_status sdc_clip_text_config_from_store(const sdc_store *s, sdc_unary_op hidden_act,
                                           sdc_clip_text_config *out)
{
    static const char layer_prefix[] = "text_model.encoder.layers.";
    memset(out, 0, sizeof *out);
    const sdc_store_entry *tok = entry_2d(s, "text_model.embeddings.token_embedding.weight");
    const sdc_store_entry *pos = entry_2d(s, "text_model.embeddings.position_embedding.weight");
    const sdc_store_entry *fc1 = entry_2d(s, "text_model.encoder.layers.0.mlp.fc1.weight");
    const sdc_store_entry *proj = entry_2d(s, "text_projection.weight");
    if (!tok || !pos || !fc1)
        return sdc_fail(s->ctx, SDC_STATUS_NOT_FOUND,
                        "%s: not a CLIP text encoder (needs 2-D '%s')", s->description,
                        !tok   ? "text_model.embeddings.token_embedding.weight"
                        : !pos ? "text_model.embeddings.position_embedding.weight"
                               : "text_model.encoder.layers.0.mlp.fc1.weight");
    long n_layers = 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        const char *name = s->entries[i].name;
        if (strncmp(name, layer_prefix, sizeof layer_prefix - 1) != 0)
            continue;
        const char *digits = name + sizeof layer_prefix - 1;
        char *end = NULL;
        long v = strtol(digits, &end, 10);
        if (end != digits && *end == '.' && v >= 0 && v < MAX_LAYERS && v + 1 > n_layers)
            n_layers = v + 1;
    }
    sdc_clip_text_config c = {
        .vocab_size = tok->shape[0],
        .max_positions = pos->shape[0],
        .hidden_size = tok->shape[1],
        .intermediate_size = fc1->shape[0],
        .n_layers = (int)n_layers,
        .n_heads = (int)(tok->shape[1] / SINGLE_FILE_HEAD_DIM),
        .hidden_act = hidden_act,
        .layer_norm_eps = (float)DEFAULT_LAYER_NORM_EPS,
        .eos_token_id = LEGACY_EOS_TOKEN_ID,
        .projection_dim = proj ? proj->shape[0] : 0,
    };
    if (c.hidden_size % SINGLE_FILE_HEAD_DIM != 0)
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: hidden size %lld is not a multiple of %d, the head width assumed "
                        "for a checkpoint without config.json",
                        s->description, (long long)c.hidden_size, SINGLE_FILE_HEAD_DIM);
    TRY_RETURN(check_config(s->ctx, s->description, &c));
    *out = c;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

static sdc_status load_layer(sdc_store *s, const sdc_clip_text_config *c, int index,
                             sdc_clip_layer *l)
{
    char p[64];
    snprintf(p, sizeof p, "text_model.encoder.layers.%d.", index);
    return sdc_clip_layer_load(s, p, c->hidden_size, c->intermediate_size, c->n_heads,
                               c->hidden_act, c->layer_norm_eps, l);
}

/* transformers saved the position_ids buffer in older files; 4.44 ignores it on load. */
static void ignore_tensor(sdc_store *s, const char *name)
{
    sdc_store_entry *e = (sdc_store_entry *)sdc_store_find(s, name);
    if (e)
        e->used = true;
}

static sdc_status load_weights(sdc_clip_text *m)
{
    sdc_store *s = m->store;
    const sdc_clip_text_config *c = &m->config;
    int64_t D = c->hidden_size;
    int64_t tok_shape[2] = {c->vocab_size, D}, pos_shape[2] = {c->max_positions, D};
    TRY_RETURN(sdc_store_weight(s, "text_model.embeddings.token_embedding.weight", 2, tok_shape,
                                &m->token_embedding));
    TRY_RETURN(sdc_store_floats(s, "text_model.embeddings.position_embedding.weight", 2, pos_shape,
                                &m->position_embedding));
    ignore_tensor(s, "text_model.embeddings.position_ids");
    for (int i = 0; i < c->n_layers; i++)
        TRY_RETURN(load_layer(s, c, i, &m->layers[i]));
    TRY_RETURN(sdc_load_norm(s, "text_model.", "final_layer_norm", D, &m->final_layer_norm_weight,
                             &m->final_layer_norm_bias));
    if (c->projection_dim > 0)
        TRY_RETURN(sdc_load_linear(s, "", "text_projection", c->projection_dim, D,
                                   &m->text_projection, NULL));
    return sdc_load_check_unused(s);
}

sdc_status sdc_clip_text_load(sdc_context *ctx, sdc_store *store,
                              const sdc_clip_text_config *config, sdc_clip_text **out)
{
    sdc_status st;
    *out = NULL;
    sdc_clip_text *m = sdc_calloc(ctx, 1, sizeof *m);
    if (!m) {
        st = sdc_fail_oom(ctx, "a CLIP text encoder", sizeof *m);
        goto free_store;
    }
    m->ctx = ctx;
    m->store = store;
    store = NULL;
    TRY(destroy, check_config(ctx, m->store->description, config));
    m->config = *config;
    m->layers = sdc_calloc(ctx, (size_t)config->n_layers, sizeof *m->layers);
    if (!m->layers) {
        st = sdc_fail_oom(ctx, "CLIP text encoder layers",
                          (size_t)config->n_layers * sizeof *m->layers);
        goto destroy;
    }
    TRY(destroy, load_weights(m));
    *out = m;
    return SDC_STATUS_OK;
destroy:
    sdc_clip_text_destroy(m);
free_store:
    sdc_store_destroy(store);
    return st;
}

sdc_status sdc_clip_text_open_diffusers(sdc_context *ctx, const char *component_dir,
                                        sdc_clip_text **out)
{
    sdc_status st;
    sdc_model_config json;
    sdc_clip_text_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_model_config_open_dir(ctx, component_dir, &json));
    st = sdc_clip_text_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    if (st != SDC_STATUS_OK)
        return st;
    TRY_RETURN(sdc_store_open_diffusers(ctx, component_dir, &store));
    /* CLIPTextModelWithProjection is told apart by its weights: projection_dim is in every
     * CLIPTextConfig, text_projection.weight only in the projecting model's files. */
    if (!sdc_store_has(store, "text_projection.weight"))
        config.projection_dim = 0;
    return sdc_clip_text_load(ctx, store, &config, out);
}

sdc_status sdc_clip_text_open_single_file(sdc_context *ctx, sdc_weights_file *file,
                                          sdc_clip_ldm_layout layout, sdc_clip_text **out)
{
    sdc_store *store = NULL;
    sdc_clip_text_config config;
    *out = NULL;
    sdc_status st = sdc_clip_ldm_store(ctx, file, layout, &store);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_clip_text_config_from_store(store, sdc_clip_ldm_hidden_act(layout), &config);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(store);
        return st;
    }
    return sdc_clip_text_load(ctx, store, &config, out);
}

void sdc_clip_text_destroy(sdc_clip_text *m)
{
    if (!m)
        return;
    sdc_free(m->ctx, m->layers);
    sdc_store_destroy(m->store);
    sdc_free(m->ctx, m);
}

const sdc_clip_text_config *sdc_clip_text_get_config(const sdc_clip_text *m)
{
    return &m->config;
}

const sdc_store *sdc_clip_text_get_store(const sdc_clip_text *m)
{
    return m->store;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* x [B * L, D] = token_embedding[ids] + position_embedding[0 .. L). */
static void embed(const sdc_clip_text *m, const int32_t *ids, int64_t N, int64_t L, sdc_tensor *x)
{
    int64_t D = m->config.hidden_size;
    for (int64_t r = 0; r < N; r++) {
        float *row = (float *)x->data + r * D;
        const float *pos = m->position_embedding + (r % L) * D;
        sdc_weight_decode(&m->token_embedding, ids[r], 0, D, row);
        for (int64_t d = 0; d < D; d++)
            row[d] += pos[d];
    }
}

/* The position transformers pools at: with the legacy eos_token_id 2, argmax(input_ids) (the
 * first <|endoftext|>, the largest id); otherwise the first eos_token_id (0 when absent, as
 * argmax over all-false gives). */
static int64_t pool_position(const int32_t *ids, int64_t L, int64_t eos_token_id)
{
    int64_t best = 0;
    if (eos_token_id == LEGACY_EOS_TOKEN_ID) {
        for (int64_t i = 1; i < L; i++)
            if (ids[i] > ids[best])
                best = i;
        return best;
    }
    for (int64_t i = 0; i < L; i++)
        if (ids[i] == eos_token_id)
            return i;
    return 0;
}

/* A [rows, cols] view of a contiguous caller tensor of the same size. */
static sdc_tensor rows_view(const sdc_tensor *t, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return sdc_tensor_make(t->data, SDC_DTYPE_F32, 2, shape);
}

static sdc_status check_request(sdc_fwd *f, const sdc_clip_text *m, const int32_t *ids, int64_t B,
                                int64_t L, const sdc_clip_text_outputs *out, int *n_run,
                                int *hidden_layer)
{
    const sdc_clip_text_config *c = &m->config;
    int64_t D = c->hidden_size;
    if (!out ||
        (!out->last_hidden_state && !out->hidden_state && !out->pooled && !out->text_embeds))
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP text encoder: no output requested");
    if (B < 1 || L < 1)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP text encoder: batch %lld and sequence length %lld must be >= 1",
                        (long long)B, (long long)L);
    if (L > c->max_positions)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP text encoder: a sequence of %lld tokens is longer than the "
                        "model's %lld positions",
                        (long long)L, (long long)c->max_positions);
    if (B > INT64_MAX / 8 / L / (c->intermediate_size > D ? c->intermediate_size : D))
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP text encoder: a batch of %lld sequences is too large", (long long)B);
    int64_t seq_shape[3] = {B, L, D}, pooled_shape[2] = {B, D};
    int64_t embeds_shape[2] = {B, c->projection_dim};
    if (out->last_hidden_state)
        TRY_RETURN(sdc_check_input(f->ctx, "CLIP last_hidden_state", out->last_hidden_state, 3,
                                   seq_shape));
    if (out->hidden_state)
        TRY_RETURN(sdc_check_input(f->ctx, "CLIP hidden state", out->hidden_state, 3, seq_shape));
    if (out->pooled)
        TRY_RETURN(sdc_check_input(f->ctx, "CLIP pooled output", out->pooled, 2, pooled_shape));
    if (out->text_embeds && c->projection_dim == 0)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "CLIP text encoder: text_embeds asked of a model without "
                        "text_projection (a CLIPTextModel)");
    if (out->text_embeds)
        TRY_RETURN(sdc_check_input(f->ctx, "CLIP text_embeds", out->text_embeds, 2, embeds_shape));

    *hidden_layer = -1;
    *n_run = 0;
    if (out->hidden_state) {
        int k = out->hidden_state_index;
        int resolved = k < 0 ? c->n_layers + 1 + k : k;
        if (resolved < 0 || resolved > c->n_layers)
            return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "CLIP text encoder: hidden_states[%d] does not exist (%d layers: "
                            "indices %d to %d)",
                            k, c->n_layers, -(c->n_layers + 1), c->n_layers);
        *hidden_layer = resolved;
        *n_run = resolved;
    }
    if (out->last_hidden_state || out->pooled || out->text_embeds)
        *n_run = c->n_layers;

    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    if (!ids)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT, "CLIP text encoder: no token ids");
    for (int64_t i = 0; i < B * L; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "CLIP text encoder: token id %lld (sequence %lld, position %lld) is "
                            "outside the vocabulary [0, %lld)",
                            (long long)ids[i], (long long)(i / L), (long long)(i % L),
                            (long long)c->vocab_size);
    return SDC_STATUS_OK;
}

static sdc_status encode(sdc_fwd *f, const sdc_clip_text *m, const int32_t *ids, int64_t B,
                         int64_t L, const sdc_clip_text_outputs *out)
{
    sdc_status st;
    const sdc_clip_text_config *c = &m->config;
    int n_run = 0, hidden_layer = -1;
    TRY_RETURN(check_request(f, m, ids, B, L, out, &n_run, &hidden_layer));
    int64_t N = B * L, D = c->hidden_size; /* N fits: checked above */
    sdc_fwd_mark mark = sdc_fwd_get_mark(f);
    sdc_tensor x, pooled, hidden_rows = {0};

    /* hidden_states[0]: the embeddings */
    TRY(release, sdc_fwd_tensor2(f, N, D, &x));
    if (sdc_fwd_computing(f))
        embed(m, ids, N, L, &x);
    if (out->hidden_state)
        hidden_rows = rows_view(out->hidden_state, N, D);
    if (hidden_layer == 0)
        TRY(release, sdc_fwd_copy(f, &x, &hidden_rows));

    /* hidden_states[i]: the output of layer i */
    for (int i = 0; i < n_run; i++) {
        TRY(release, sdc_clip_layer_forward(f, &m->layers[i], &x, B, L, true));
        if (i + 1 == hidden_layer)
            TRY(release, sdc_fwd_copy(f, &x, &hidden_rows));
    }

    if (out->hidden_state && out->hidden_state_final_norm)
        TRY(release, sdc_fwd_layer_norm(f, &hidden_rows, m->final_layer_norm_weight,
                                        m->final_layer_norm_bias, c->layer_norm_eps,
                                        &hidden_rows));

    /* last_hidden_state = final_layer_norm(hidden_states[-1]) */
    if (out->last_hidden_state) {
        sdc_tensor last = rows_view(out->last_hidden_state, N, D);
        TRY(release, sdc_fwd_layer_norm(f, &x, m->final_layer_norm_weight, m->final_layer_norm_bias,
                                        c->layer_norm_eps, &last));
    }

    /* pooler_output = final_layer_norm at one position per sequence; text_embeds projects it */
    if (out->pooled || out->text_embeds) {
        if (out->pooled)
            pooled = *out->pooled;
        else
            TRY(release, sdc_fwd_tensor2(f, B, D, &pooled));
        if (sdc_fwd_computing(f))
            for (int64_t b = 0; b < B; b++)
                memcpy((float *)pooled.data + b * D,
                       (const float *)x.data +
                           (b * L + pool_position(ids + b * L, L, c->eos_token_id)) * D,
                       (size_t)D * sizeof(float));
        TRY(release, sdc_fwd_layer_norm(f, &pooled, m->final_layer_norm_weight,
                                        m->final_layer_norm_bias, c->layer_norm_eps, &pooled));
        if (out->text_embeds)
            TRY(release, sdc_fwd_linear(f, &pooled, &m->text_projection, NULL, out->text_embeds));
    }
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, mark);
    return st;
}

sdc_status sdc_clip_text_encode(sdc_context *ctx, const sdc_clip_text *m, sdc_arena *scratch,
                                const int32_t *input_ids, int64_t batch, int64_t seq_len,
                                const sdc_clip_text_outputs *out)
{
    sdc_fwd f;
    if (!scratch)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "CLIP text encoder: no scratch arena");
    sdc_fwd_init(&f, ctx, scratch);
    return encode(&f, m, input_ids, batch, seq_len, out);
}

sdc_status sdc_clip_text_scratch_bytes(sdc_context *ctx, const sdc_clip_text *m, int64_t batch,
                                       int64_t seq_len, const sdc_clip_text_outputs *out,
                                       size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_status st = encode(&f, m, NULL, batch, seq_len, out);
    *bytes = st == SDC_STATUS_OK ? sdc_fwd_bytes(&f) : 0;
    return st;
}
