/*
 * Tests src/models/clip_text.c and clip_ldm.c on the tiny reference text encoders of
 * tools/reference/gen_models.py (transformers 4.44.2, float32): every recorded output —
 * last_hidden_state, each hidden state, pooler_output or text_embeds — within 1e-4 x max|ref|,
 * loaded from the diffusers folders and from the single-file .safetensors checkpoints (the .ckpt
 * twins need the pickle reader of a later issue and are not read here); then the exact scratch
 * size, both pooling rules, the single-file tables, and the load, input and allocation errors.
 * `models_test_clip_text --bench [L|H|G]...` instead times real-size encoders built in memory
 * from random float16 weights: a benchmark, not a test.
 */
#include "model_test.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTPUTS SDC_FIXTURES_DIR "/model_outputs/"
#define MODELS  SDC_BUILD_FIXTURES_DIR "/models/"

typedef struct te_case {
    const char *what;
    const char *outputs; /* model_outputs/<outputs>.safetensors */
    const char *folder;  /* the diffusers folder holding it (sd1-inpaint-tiny's and
                            sdxl-refiner-tiny's copies are hard links to the same files) */
    const char *single;  /* the single-file checkpoint holding it */
    sdc_clip_ldm_layout layout;
} te_case;

static const te_case cases[] = {
    {"SD 1.x CLIP ViT-L", "text_encoder_sd1", "sd1-tiny/text_encoder", "sd1-tiny.safetensors",
     SDC_CLIP_LDM_LAYOUT_SD1},
    {"SD 2.x OpenCLIP ViT-H", "text_encoder_sd2", "sd2-tiny/text_encoder", "sd2-tiny.safetensors",
     SDC_CLIP_LDM_LAYOUT_SD2},
    {"SDXL CLIP ViT-L", "text_encoder_sd1", "sdxl-tiny/text_encoder", "sdxl-tiny.safetensors",
     SDC_CLIP_LDM_LAYOUT_SDXL_L},
    {"SDXL OpenCLIP ViT-bigG", "text_encoder_2_sdxl", "sdxl-tiny/text_encoder_2",
     "sdxl-tiny.safetensors", SDC_CLIP_LDM_LAYOUT_SDXL_G},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static sdc_context *ctx;

/* ---------------------------------------------------------------------------------------- */
/* Reference outputs                                                                          */

typedef struct reference {
    int64_t batch, seq_len, hidden, n_states;
    int32_t *ids;    /* [B, L] */
    mt_array last;   /* [B, L, D] */
    mt_array states; /* [n_layers + 1, B, L, D] */
    mt_array pooled; /* [B, D] pooler_output, or [B, P] text_embeds when projection */
    bool projection;
} reference;

static void reference_free(reference *r)
{
    free(r->ids);
    mt_array_free(&r->last);
    mt_array_free(&r->states);
    mt_array_free(&r->pooled);
    memset(r, 0, sizeof *r);
}

static bool reference_read(const char *name, reference *r)
{
    char path[512];
    sdc_st_file *st = NULL;
    mt_array ids = {0};
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, OUTPUTS "%s.safetensors", name);
    if (sdc_st_open(ctx, path, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return false;
    }
    r->projection = sdc_st_find(st, "text_embeds") != NULL;
    bool ok = mt_st_array(ctx, st, "input_ids", &ids) &&
              mt_st_array(ctx, st, "last_hidden_state", &r->last) &&
              mt_st_array(ctx, st, "hidden_states", &r->states) &&
              mt_st_array(ctx, st, r->projection ? "text_embeds" : "pooler_output", &r->pooled);
    sdc_st_close(st);
    if (ok) {
        r->batch = ids.t.shape[0];
        r->seq_len = ids.t.shape[1];
        r->hidden = r->last.t.shape[2];
        r->n_states = r->states.t.shape[0];
        r->ids = malloc((size_t)(r->batch * r->seq_len) * sizeof *r->ids);
        for (int64_t i = 0; r->ids && i < r->batch * r->seq_len; i++)
            r->ids[i] = (int32_t)ids.data[i];
        ok = r->ids != NULL;
    }
    mt_array_free(&ids);
    if (!ok)
        reference_free(r);
    return ok;
}

/* hidden_states[i] of the reference as a [B, L, D] view. */
static sdc_tensor reference_state(const reference *r, int64_t i)
{
    int64_t shape[3] = {r->batch, r->seq_len, r->hidden};
    return sdc_tensor_make(r->states.data + i * r->batch * r->seq_len * r->hidden, SDC_DTYPE_F32, 3,
                           shape);
}

/* Checks got against ref within 1e-4 x max|ref| and returns max|err| / max|ref|. */
static double check_rel(const char *what, const sdc_tensor *got, const sdc_tensor *ref,
                        double *worst_abs)
{
    double err = MT_CHECK_CLOSE_REL(what, got, ref);
    double scale = mt_max_abs(ref->data, sdc_tensor_numel(ref));
    if (err > *worst_abs)
        *worst_abs = err;
    return scale > 0 ? err / scale : err;
}

/* Every recorded output of one model on the reference ids; returns the worst relative error. */
static double check_all_outputs(const sdc_clip_text *m, const reference *r, const char *label,
                                double *worst_abs)
{
    const sdc_clip_text_config *c = sdc_clip_text_get_config(m);
    int64_t B = r->batch, L = r->seq_len, D = r->hidden;
    char what[256];
    double worst = 0;
    int64_t seq_shape[3] = {B, L, D};
    mt_array last = mt_array_new(ctx, 3, seq_shape), state = mt_array_new(ctx, 3, seq_shape);
    mt_array pooled = mt_array_new(ctx, 2, r->pooled.t.shape);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);

    CHECK_EQ_INT(c->hidden_size, D);
    CHECK_EQ_INT(c->n_layers + 1, r->n_states);
    CHECK_EQ_INT(c->projection_dim > 0, r->projection);
    sdc_clip_text_outputs out = {.last_hidden_state = &last.t};
    if (r->projection)
        out.text_embeds = &pooled.t;
    else
        out.pooled = &pooled.t;
    sdc_status st = sdc_clip_text_encode(ctx, m, &scratch, r->ids, B, L, &out);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", label, sdc_context_errmsg(ctx));
    snprintf(what, sizeof what, "%s last_hidden_state", label);
    worst = fmax(worst, check_rel(what, &last.t, &r->last.t, worst_abs));
    snprintf(what, sizeof what, "%s %s", label, r->projection ? "text_embeds" : "pooler_output");
    worst = fmax(worst, check_rel(what, &pooled.t, &r->pooled.t, worst_abs));

    /* Each hidden state alone by its index from the front; the last two (what pipelines ask
     * for) also from the back. */
    for (int64_t i = 0; i < r->n_states; i++) {
        for (int from_back = 0; from_back < (i >= r->n_states - 2 ? 2 : 1); from_back++) {
            int index = (int)(from_back ? i - r->n_states : i);
            sdc_clip_text_outputs one = {.hidden_state = &state.t, .hidden_state_index = index};
            memset(state.data, 0, (size_t)(B * L * D) * sizeof(float));
            st = sdc_clip_text_encode(ctx, m, &scratch, r->ids, B, L, &one);
            CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", label, sdc_context_errmsg(ctx));
            sdc_tensor ref = reference_state(r, i);
            snprintf(what, sizeof what, "%s hidden_states[%d]", label, index);
            worst = fmax(worst, check_rel(what, &state.t, &ref, worst_abs));
        }
    }
    CHECK_EQ_INT(scratch.used, 0);
    sdc_arena_release(&scratch);
    mt_array_free(&last);
    mt_array_free(&state);
    mt_array_free(&pooled);
    return worst;
}

static void report(const char *what, const char *source, double rel, double abs_err)
{
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "%-24s %-44s worst max|err|/max|ref| %.3g (max|err| %.3g)\n", what, source,
                rel, abs_err);
}

/* ---------------------------------------------------------------------------------------- */
/* Against the fixtures                                                                       */

static void test_diffusers_folders_match_transformers(void)
{
    for (int i = 0; i < N_CASES; i++) {
        reference r;
        char dir[512];
        sdc_clip_text *m = NULL;
        if (!reference_read(cases[i].outputs, &r))
            continue;
        snprintf(dir, sizeof dir, MODELS "%s", cases[i].folder);
        sdc_status st = sdc_clip_text_open_diffusers(ctx, dir, &m);
        CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", dir, sdc_context_errmsg(ctx));
        if (st == SDC_STATUS_OK) {
            double worst_abs = 0;
            double rel = check_all_outputs(m, &r, cases[i].folder, &worst_abs);
            report(cases[i].what, cases[i].folder, rel, worst_abs);
            sdc_clip_text_destroy(m);
        }
        reference_free(&r);
    }
}

static void test_single_files_match_transformers(void)
{
    for (int i = 0; i < N_CASES; i++) {
        reference r;
        if (!reference_read(cases[i].outputs, &r))
            continue;
        sdc_weights_file *file = NULL;
        sdc_clip_text *m = NULL;
        char path[512], label[600];
        snprintf(path, sizeof path, MODELS "%s", cases[i].single);
        sdc_status st = sdc_weights_file_open(ctx, path, &file);
        CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
        if (st == SDC_STATUS_OK) {
            CHECK(sdc_clip_ldm_present(file, cases[i].layout));
            st = sdc_clip_text_open_single_file(ctx, file, cases[i].layout, &m);
            CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
            sdc_weights_file_release(ctx, file); /* the model's store keeps it open */
        }
        if (m) {
            const sdc_clip_text_config *c = sdc_clip_text_get_config(m);
            bool openclip = cases[i].layout == SDC_CLIP_LDM_LAYOUT_SD2 ||
                            cases[i].layout == SDC_CLIP_LDM_LAYOUT_SDXL_G;
            CHECK(c->hidden_act == (openclip ? SDC_UNARY_OP_GELU : SDC_UNARY_OP_QUICK_GELU));
            CHECK_EQ_INT(c->n_heads, c->hidden_size / 64);
            CHECK_EQ_INT(c->eos_token_id, 2);
            double worst_abs = 0;
            snprintf(label, sizeof label, "%s %s*", cases[i].single,
                     sdc_clip_ldm_prefix(cases[i].layout));
            double rel = check_all_outputs(m, &r, label, &worst_abs);
            report(cases[i].what, label, rel, worst_abs);
            sdc_clip_text_destroy(m);
        }
        reference_free(&r);
    }
}

/* Encoding the prompts one at a time gives the rows of the batched encode. */
static void test_batch_rows_are_independent(void)
{
    reference r;
    sdc_clip_text *m = NULL;
    if (!reference_read("text_encoder_2_sdxl", &r))
        return;
    if (sdc_clip_text_open_diffusers(ctx, MODELS "sdxl-tiny/text_encoder_2", &m) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        reference_free(&r);
        return;
    }
    int64_t L = r.seq_len, D = r.hidden, P = r.pooled.t.shape[1];
    int64_t seq_shape[3] = {1, L, D}, embeds_shape[2] = {1, P};
    mt_array state = mt_array_new(ctx, 3, seq_shape), embeds = mt_array_new(ctx, 2, embeds_shape);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    for (int64_t b = 0; b < r.batch; b++) {
        sdc_clip_text_outputs out = {
            .hidden_state = &state.t, .hidden_state_index = -2, .text_embeds = &embeds.t};
        sdc_status st = sdc_clip_text_encode(ctx, m, &scratch, r.ids + b * L, 1, L, &out);
        CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
        sdc_tensor all = reference_state(&r, r.n_states - 2);
        sdc_tensor ref_state = sdc_tensor_slice(&all, 0, b, b + 1);
        sdc_tensor ref_embeds = sdc_tensor_slice(&r.pooled.t, 0, b, b + 1);
        MT_CHECK_CLOSE_REL("batch row hidden_states[-2]", &state.t, &ref_state);
        MT_CHECK_CLOSE_REL("batch row text_embeds", &embeds.t, &ref_embeds);
    }
    sdc_arena_release(&scratch);
    mt_array_free(&state);
    mt_array_free(&embeds);
    sdc_clip_text_destroy(m);
    reference_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Scratch memory                                                                             */

/* A fixed arena of exactly the reported size runs the encode; one byte less does not. */
static void test_scratch_bytes_are_exact(void)
{
    sdc_clip_text *m = NULL;
    if (sdc_clip_text_open_diffusers(ctx, MODELS "sdxl-tiny/text_encoder_2", &m) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    const sdc_clip_text_config *c = sdc_clip_text_get_config(m);
    int64_t B = 2, L = 16, D = c->hidden_size; /* exactness does not depend on the length */
    int64_t seq_shape[3] = {B, L, D}, pooled_shape[2] = {B, D};
    int64_t embeds_shape[2] = {B, c->projection_dim};
    mt_array last = mt_array_new(ctx, 3, seq_shape), state = mt_array_new(ctx, 3, seq_shape);
    mt_array pooled = mt_array_new(ctx, 2, pooled_shape);
    mt_array embeds = mt_array_new(ctx, 2, embeds_shape);
    int32_t ids[2 * 16];
    for (int i = 0; i < 2 * 16; i++)
        ids[i] = i % 16 == 0 ? 49406 : i % 16 < 9 ? 320 + i : 49407;
    const sdc_clip_text_outputs requests[] = {
        {.last_hidden_state = &last.t, .pooled = &pooled.t},
        {.hidden_state = &state.t, .hidden_state_index = -2, .text_embeds = &embeds.t},
        {.text_embeds = &embeds.t},
        {.hidden_state = &state.t, .hidden_state_index = 0},
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        size_t bytes = 0;
        sdc_status st = sdc_clip_text_scratch_bytes(ctx, m, B, L, &requests[i], &bytes);
        CHECK_MSG(st == SDC_STATUS_OK && bytes > 0, "request %zu: %s", i, sdc_context_errmsg(ctx));
        for (int tight = 0; tight < 2; tight++) {
            sdc_arena arena;
            if (sdc_arena_init_fixed(&arena, ctx, bytes - (size_t)tight) != SDC_STATUS_OK) {
                CHECK_MSG(false, "fixed arena of %zu bytes", bytes);
                break;
            }
            st = sdc_clip_text_encode(ctx, m, &arena, ids, B, L, &requests[i]);
            if (tight == 0)
                CHECK_MSG(st == SDC_STATUS_OK, "request %zu in %zu bytes: %s", i, bytes,
                          sdc_context_errmsg(ctx));
            else
                MT_CHECK_ERROR(ctx, st, SDC_STATUS_OUT_OF_MEMORY, "fixed arena", NULL);
            CHECK_EQ_INT(arena.used, 0);
            sdc_arena_release(&arena);
        }
    }
    /* The residual stream and the largest layer temporaries: 5 [B L, D] rows at most. */
    size_t bytes = 0;
    CHECK(sdc_clip_text_scratch_bytes(ctx, m, B, L, &requests[0], &bytes) == SDC_STATUS_OK);
    CHECK(bytes <= (size_t)(B * L) * (size_t)(4 * D + c->intermediate_size) * sizeof(float) +
                       (size_t)(8 * SDC_ALIGN));
    mt_array_free(&last);
    mt_array_free(&state);
    mt_array_free(&pooled);
    mt_array_free(&embeds);
    sdc_clip_text_destroy(m);
}

/* ---------------------------------------------------------------------------------------- */
/* Pooling                                                                                    */

/* Row `pos` of sequence b of a [B, L, D] array as a [1, D] view. */
static sdc_tensor row_of(const mt_array *a, int64_t b, int64_t pos)
{
    int64_t L = a->t.shape[1], D = a->t.shape[2], shape[2] = {1, D};
    return sdc_tensor_make(a->data + (b * L + pos) * D, SDC_DTYPE_F32, 2, shape);
}

/* eos_token_id 2 pools at argmax(ids) (first maximum); any other id at its first occurrence,
 * or at position 0 when it does not occur — transformers 4.44.2's two rules. */
static void test_pooling_rules(void)
{
    sdc_model_config json;
    sdc_clip_text_config config;
    if (sdc_model_config_open(ctx, MODELS "sd1-tiny/text_encoder/config.json", &json) !=
        SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    CHECK(sdc_clip_text_config_from_json(&json, &config) == SDC_STATUS_OK);
    sdc_model_config_close(&json);
    CHECK_EQ_INT(config.eos_token_id, 2);
    config.projection_dim = 0; /* a CLIPTextModel: its files have no text_projection */

    enum { B = 3, L = 9 };
    const int32_t ids[B * L] = {
        49406, 1000,  320,   7,     320,
        49407, 49407, 49407, 49407, /* argmax 5; first 320 at 2 */
        49406, 500,   49407, 600,   49407,
        0,     0,     0,     0, /* argmax 2; no 320: 0 */
        12,    49406, 49406, 320,   5,
        5,     5,     5,     5, /* argmax 1 (first max); 320 at 3 */
    };
    const int64_t legacy_pos[B] = {5, 2, 1}, custom_pos[B] = {2, 0, 3};
    int64_t seq_shape[3] = {B, L, 64}, pooled_shape[2] = {B, 64};
    mt_array last = mt_array_new(ctx, 3, seq_shape), pooled = mt_array_new(ctx, 2, pooled_shape);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    for (int rule = 0; rule < 2; rule++) {
        sdc_store *store = NULL;
        sdc_clip_text *m = NULL;
        config.eos_token_id = rule == 0 ? 2 : 320;
        if (sdc_store_open_diffusers(ctx, MODELS "sd1-tiny/text_encoder", &store) !=
                SDC_STATUS_OK ||
            sdc_clip_text_load(ctx, store, &config, &m) != SDC_STATUS_OK) {
            CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
            break;
        }
        sdc_clip_text_outputs out = {.last_hidden_state = &last.t, .pooled = &pooled.t};
        CHECK(sdc_clip_text_encode(ctx, m, &scratch, ids, B, L, &out) == SDC_STATUS_OK);
        for (int64_t b = 0; b < B; b++) {
            sdc_tensor want = row_of(&last, b, rule == 0 ? legacy_pos[b] : custom_pos[b]);
            sdc_tensor got = sdc_tensor_slice(&pooled.t, 0, b, b + 1);
            MT_CHECK_CLOSE(rule == 0 ? "pooled at argmax(ids)" : "pooled at the first eos id", &got,
                           &want, 0.0);
        }
        sdc_clip_text_destroy(m);
    }
    sdc_arena_release(&scratch);
    mt_array_free(&last);
    mt_array_free(&pooled);
}

/* ---------------------------------------------------------------------------------------- */
/* Single-file tables                                                                         */

/* OpenCLIP's fused in_proj is read in place: q, k and v are consecutive row ranges of the
 * mapped tensor; text_projection is the transpose of the stored [width, proj]. */
static void test_openclip_table_reads_in_place(void)
{
    sdc_weights_file *file = NULL;
    sdc_store *s = NULL;
    if (sdc_weights_file_open(ctx, MODELS "sdxl-tiny.safetensors", &file) != SDC_STATUS_OK ||
        sdc_clip_ldm_store(ctx, file, SDC_CLIP_LDM_LAYOUT_SDXL_G, &s) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        sdc_weights_file_release(ctx, file);
        return;
    }
    const sdc_st_tensor *fused =
        sdc_st_find(file->st, "conditioner.embedders.1.model.transformer.resblocks.1.attn."
                              "in_proj_weight");
    const sdc_st_tensor *bias =
        sdc_st_find(file->st, "conditioner.embedders.1.model.transformer.resblocks.1.attn."
                              "in_proj_bias");
    const sdc_st_tensor *proj = sdc_st_find(file->st, "conditioner.embedders.1.model."
                                                      "text_projection");
    CHECK(fused && bias && proj);
    if (fused && bias && proj) {
        const char *names[3] = {"q_proj", "k_proj", "v_proj"};
        int64_t W = fused->shape[1], shape[2] = {W, W};
        for (int j = 0; j < 3; j++) {
            char name[128];
            sdc_weight w;
            const float *b = NULL;
            snprintf(name, sizeof name, "text_model.encoder.layers.1.self_attn.%s.weight",
                     names[j]);
            CHECK(sdc_store_weight(s, name, 2, shape, &w) == SDC_STATUS_OK);
            CHECK(w.data == (const unsigned char *)fused->data + (size_t)(j * W * W) * 2);
            snprintf(name, sizeof name, "text_model.encoder.layers.1.self_attn.%s.bias", names[j]);
            CHECK(sdc_store_vector(s, name, W, &b) == SDC_STATUS_OK);
            uint16_t h;
            memcpy(&h, (const unsigned char *)bias->data + (size_t)(j * W + 5) * 2, 2);
            CHECK(b && b[5] == sdc_f16_to_f32(h));
        }
        sdc_weight p;
        int64_t pshape[2] = {proj->shape[1], proj->shape[0]};
        CHECK(sdc_store_weight(s, "text_projection.weight", 2, pshape, &p) == SDC_STATUS_OK);
        float got[4];
        sdc_weight_decode(&p, 3, 0, 4, got); /* row 3 of [proj, width] = column 3 stored */
        for (int k = 0; k < 4; k++) {
            uint16_t h;
            memcpy(&h, (const unsigned char *)proj->data + (size_t)(k * proj->shape[1] + 3) * 2, 2);
            CHECK(got[k] == sdc_f16_to_f32(h));
        }
    }
    /* Neither logit_scale nor another encoder's tensors are in the store. */
    for (size_t i = 0; i < s->n_entries; i++)
        CHECK_MSG(strncmp(s->entries[i].name, "text_model.", 11) == 0 ||
                      strcmp(s->entries[i].name, "text_projection.weight") == 0,
                  "unexpected store entry '%s'", s->entries[i].name);
    sdc_store_destroy(s);

    /* SD 2.x: the last of the 4 resblocks and text_projection are left out. */
    sdc_weights_file_release(ctx, file);
    file = NULL;
    if (sdc_weights_file_open(ctx, MODELS "sd2-tiny.safetensors", &file) != SDC_STATUS_OK ||
        sdc_clip_ldm_store(ctx, file, SDC_CLIP_LDM_LAYOUT_SD2, &s) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        sdc_weights_file_release(ctx, file);
        return;
    }
    CHECK(sdc_st_find(file->st, "cond_stage_model.model.transformer.resblocks.3.ln_1.weight"));
    CHECK(sdc_store_has(s, "text_model.encoder.layers.2.layer_norm1.weight"));
    CHECK(!sdc_store_has(s, "text_model.encoder.layers.3.layer_norm1.weight"));
    CHECK(!sdc_store_has(s, "text_projection.weight"));
    CHECK(!sdc_clip_ldm_present(file, SDC_CLIP_LDM_LAYOUT_SD1));
    CHECK(!sdc_clip_ldm_present(file, SDC_CLIP_LDM_LAYOUT_SDXL_G));
    sdc_store_destroy(s);
    sdc_weights_file_release(ctx, file);
}

/* SD 1.x files saved with transformers 3.x name the tower without "text_model."; they load
 * to the same encoder. */
static void test_sd1_names_without_text_model(void)
{
    static const char prefix[] = "cond_stage_model.transformer.text_model.";
    const char *path = test_tmp_path("te_legacy.safetensors");
    sdc_st_file *st = NULL;
    reference r;
    if (!reference_read("text_encoder_sd1", &r))
        return;
    if (sdc_st_open(ctx, MODELS "sd1-tiny.safetensors", &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        reference_free(&r);
        return;
    }
    sdc_st_entry *e = calloc(st->n_tensors, sizeof *e);
    char(*names)[SDC_MODEL_NAME_MAX] = calloc(st->n_tensors, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; e && names && i < st->n_tensors; i++) {
        const sdc_st_tensor *t = &st->tensors[i];
        if (strncmp(t->name, "cond_stage_model.", 17) != 0)
            continue;
        if (strncmp(t->name, prefix, sizeof prefix - 1) == 0)
            snprintf(names[n], sizeof names[0], "cond_stage_model.transformer.%s",
                     t->name + sizeof prefix - 1);
        else
            snprintf(names[n], sizeof names[0], "%s", t->name);
        e[n] =
            (sdc_st_entry){.name = names[n], .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        n++;
    }
    bool ok = e && names && sdc_st_write(ctx, path, e, n, NULL, 0) == SDC_STATUS_OK;
    CHECK_MSG(ok, "writing %s: %s", path, sdc_context_errmsg(ctx));
    free(e);
    free(names);
    sdc_st_close(st);
    sdc_weights_file *file = NULL;
    sdc_clip_text *m = NULL;
    if (ok && sdc_weights_file_open(ctx, path, &file) == SDC_STATUS_OK) {
        CHECK(sdc_st_find(file->st, "cond_stage_model.transformer.embeddings.position_ids"));
        CHECK(sdc_clip_ldm_present(file, SDC_CLIP_LDM_LAYOUT_SD1));
        sdc_status status = sdc_clip_text_open_single_file(ctx, file, SDC_CLIP_LDM_LAYOUT_SD1, &m);
        CHECK_MSG(status == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
        sdc_weights_file_release(ctx, file);
    }
    if (m) {
        int64_t seq_shape[3] = {r.batch, r.seq_len, r.hidden};
        mt_array last = mt_array_new(ctx, 3, seq_shape);
        mt_array pooled = mt_array_new(ctx, 2, r.pooled.t.shape);
        sdc_arena scratch;
        sdc_arena_init(&scratch, ctx, 0);
        sdc_clip_text_outputs out = {.last_hidden_state = &last.t, .pooled = &pooled.t};
        CHECK(sdc_clip_text_encode(ctx, m, &scratch, r.ids, r.batch, r.seq_len, &out) ==
              SDC_STATUS_OK);
        MT_CHECK_CLOSE_REL("without text_model.: last_hidden_state", &last.t, &r.last.t);
        MT_CHECK_CLOSE_REL("without text_model.: pooler_output", &pooled.t, &r.pooled.t);
        sdc_arena_release(&scratch);
        mt_array_free(&last);
        mt_array_free(&pooled);
        sdc_clip_text_destroy(m);
    }
    remove(path);
    reference_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                     */

/* A diffusers component folder in the scratch space: config.json is the source folder's with
 * `from` replaced by `to` (both may be NULL), model.safetensors the source weights modified as
 * mt_write_modified does. Returns the folder, or NULL. */
static const char *make_component(const char *name, const char *src_dir, const char *from,
                                  const char *to, const char *drop, const char *reshape,
                                  int new_ndim, const int64_t *new_shape, const char *add)
{
    static char dir[512];
    char path[600];
    char *text = NULL;
    size_t len = 0;
    snprintf(dir, sizeof dir, "%s", test_tmp_path(name));
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/config.json", src_dir);
    if (sdc_file_read_all(ctx, path, &text, &len) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return NULL;
    }
    char *edited = malloc(len + (to ? strlen(to) : 0) + 1);
    const char *at = from ? strstr(text, from) : NULL;
    CHECK(edited && (!from || at));
    if (edited && at) {
        size_t head = (size_t)(at - text);
        memcpy(edited, text, head);
        snprintf(edited + head, len + strlen(to) + 1 - head, "%s%s", to, at + strlen(from));
    } else if (edited) {
        memcpy(edited, text, len + 1);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    bool ok = edited && sdc_file_write_all(ctx, path, edited, strlen(edited)) == SDC_STATUS_OK;
    free(edited);
    sdc_free(ctx, text);
    char src[600];
    snprintf(src, sizeof src, "%s/model.safetensors", src_dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ok = ok && mt_write_modified(ctx, src, path, drop, reshape, new_ndim, new_shape, add);
    return ok ? dir : NULL;
}

static void remove_component(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
}

static sdc_status open_folder(const char *dir)
{
    sdc_clip_text *m = NULL;
    sdc_status st = sdc_clip_text_open_diffusers(ctx, dir, &m);
    CHECK((st == SDC_STATUS_OK) == (m != NULL));
    sdc_clip_text_destroy(m);
    return st;
}

static void test_diffusers_load_errors(void)
{
    const char *src = MODELS "sd1-tiny/text_encoder";
    const char *dir;
    if ((dir = make_component("te_missing", src, NULL, NULL,
                              "text_model.encoder.layers.1.mlp.fc2.bias", NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_NOT_FOUND, "missing tensor",
                       "'text_model.encoder.layers.1.mlp.fc2.bias'");
        remove_component(dir);
    }
    int64_t transposed[2] = {256, 64};
    if ((dir = make_component("te_shape", src, NULL, NULL, NULL,
                              "text_model.encoder.layers.2.mlp.fc2.weight", 2, transposed, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_SHAPE,
                       "'text_model.encoder.layers.2.mlp.fc2.weight' has shape [256, 64]",
                       "expected [64, 256]");
        remove_component(dir);
    }
    if ((dir = make_component("te_extra", src, NULL, NULL, NULL, NULL, 0, NULL,
                              "text_model.encoder.layers.0.extra"))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_FORMAT,
                       "'text_model.encoder.layers.0.extra'", NULL);
        remove_component(dir);
    }
    /* A config that does not fit the weights. */
    if ((dir = make_component("te_fewer", src, "\"num_hidden_layers\": 3",
                              "\"num_hidden_layers\": 2", NULL, NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_FORMAT, "no place for",
                       "text_model.encoder.layers.2.");
        remove_component(dir);
    }
    if ((dir = make_component("te_more", src, "\"num_hidden_layers\": 3",
                              "\"num_hidden_layers\": 4", NULL, NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_NOT_FOUND,
                       "'text_model.encoder.layers.3.layer_norm1.weight'", NULL);
        remove_component(dir);
    }
    if ((dir = make_component("te_wide", src, "\"hidden_size\": 64", "\"hidden_size\": 128", NULL,
                              NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_SHAPE,
                       "'text_model.embeddings.token_embedding.weight' has shape [49408, 64]",
                       "expected [49408, 128]");
        remove_component(dir);
    }
    if ((dir = make_component("te_act", src, "\"hidden_act\": \"quick_gelu\"",
                              "\"hidden_act\": \"relu\"", NULL, NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_UNSUPPORTED, "\"hidden_act\" \"relu\"",
                       "config.json");
        remove_component(dir);
    }
    if ((dir = make_component("te_heads", src, "\"num_attention_heads\": 1",
                              "\"num_attention_heads\": 3", NULL, NULL, 0, NULL, NULL))) {
        MT_CHECK_ERROR(ctx, open_folder(dir), SDC_STATUS_FORMAT,
                       "not a multiple of num_attention_heads 3", NULL);
        remove_component(dir);
    }
    MT_CHECK_ERROR(ctx, open_folder(MODELS "sd1-tiny/tokenizer"), SDC_STATUS_IO, "config.json",
                   NULL);
}

static sdc_status open_single(const char *path, sdc_clip_ldm_layout layout)
{
    sdc_weights_file *file = NULL;
    sdc_clip_text *m = NULL;
    sdc_status st = sdc_weights_file_open(ctx, path, &file);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_clip_text_open_single_file(ctx, file, layout, &m);
    CHECK((st == SDC_STATUS_OK) == (m != NULL));
    sdc_clip_text_destroy(m);
    sdc_weights_file_release(ctx, file);
    return st;
}

static void test_single_file_load_errors(void)
{
    const char *path = test_tmp_path("te_single.safetensors");
    const char *sd1 = MODELS "sd1-tiny.safetensors", *sd2 = MODELS "sd2-tiny.safetensors";
    if (mt_write_modified(ctx, sd2, path,
                          "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight",
                          NULL, 0, NULL, NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_NOT_FOUND,
                       "missing tensor",
                       "'cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight'");
    if (mt_write_modified(ctx, sd2, path, "cond_stage_model.model.ln_final.bias", NULL, 0, NULL,
                          NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_NOT_FOUND,
                       "'cond_stage_model.model.ln_final.bias'", NULL);
    /* The dropped last layer of SD 2.x may be incomplete: it is not read. */
    if (mt_write_modified(ctx, sd2, path,
                          "cond_stage_model.model.transformer.resblocks.3.ln_2.bias", NULL, 0, NULL,
                          NULL))
        CHECK_EQ_INT(open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_OK);
    int64_t fused[2] = {64, 192};
    if (mt_write_modified(ctx, sd2, path, NULL,
                          "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", 2,
                          fused, NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_SHAPE,
                       "in_proj_weight' must have 3 x width rows", NULL);
    int64_t wide[2] = {96, 128};
    if (mt_write_modified(ctx, sd2, path, NULL,
                          "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_weight", 2,
                          wide, NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_SHAPE,
                       "'text_model.encoder.layers.2.self_attn.q_proj.weight' has shape "
                       "[32, 128]",
                       "expected [64, 64]");
    if (mt_write_modified(ctx, sd2, path, NULL, NULL, 0, NULL,
                          "cond_stage_model.model.transformer.resblocks.0.attn.extra"))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_FORMAT,
                       "'cond_stage_model.model.transformer.resblocks.0.attn.extra'", NULL);
    if (mt_write_modified(ctx, sd1, path,
                          "cond_stage_model.transformer.text_model.encoder.layers.2.self_attn."
                          "k_proj.weight",
                          NULL, 0, NULL, NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD1), SDC_STATUS_NOT_FOUND,
                       "cond_stage_model.transformer.*",
                       "'text_model.encoder.layers.2.self_attn.k_proj.weight'");
    int64_t short_positions[2] = {7, 704};
    if (mt_write_modified(ctx, sd1, path, NULL,
                          "cond_stage_model.transformer.text_model.embeddings.position_embedding."
                          "weight",
                          2, short_positions, NULL))
        MT_CHECK_ERROR(ctx, open_single(path, SDC_CLIP_LDM_LAYOUT_SD1), SDC_STATUS_SHAPE,
                       "'text_model.embeddings.position_embedding.weight' has shape [7, 704]",
                       "expected [7, 64]");
    remove(path);
    MT_CHECK_ERROR(ctx, open_single(sd1, SDC_CLIP_LDM_LAYOUT_SD2), SDC_STATUS_NOT_FOUND,
                   "no tensor 'cond_stage_model.model.token_embedding.weight'", NULL);
    MT_CHECK_ERROR(ctx, open_single(sd2, SDC_CLIP_LDM_LAYOUT_SDXL_L), SDC_STATUS_NOT_FOUND,
                   "conditioner.embedders.0.transformer.", NULL);
}

static void test_encode_errors(void)
{
    sdc_clip_text *m = NULL;
    if (sdc_clip_text_open_diffusers(ctx, MODELS "sd1-tiny/text_encoder", &m) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    int64_t seq_shape[3] = {1, 78, 64}, short_shape[3] = {1, 77, 64}, pooled_shape[2] = {1, 64};
    mt_array longer = mt_array_new(ctx, 3, seq_shape), last = mt_array_new(ctx, 3, short_shape);
    mt_array pooled = mt_array_new(ctx, 2, pooled_shape);
    int32_t ids[78];
    for (int i = 0; i < 78; i++)
        ids[i] = i == 0 ? 49406 : 49407;
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    sdc_clip_text_outputs out = {.last_hidden_state = &longer.t};
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 78, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "78 tokens", "77 positions");
    size_t bytes = 1;
    MT_CHECK_ERROR(ctx, sdc_clip_text_scratch_bytes(ctx, m, 1, 78, &out, &bytes),
                   SDC_STATUS_INVALID_ARGUMENT, "78 tokens", NULL);
    CHECK_EQ_INT(bytes, 0);

    out.last_hidden_state = &last.t;
    ids[5] = 49408;
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 77, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "token id 49408 (sequence 0, position 5)",
                   "[0, 49408)");
    ids[5] = -1;
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 77, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "token id -1", NULL);
    ids[5] = 320;
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, NULL, 1, 77, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "no token ids", NULL);
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 0, &out),
                   SDC_STATUS_INVALID_ARGUMENT, "sequence length 0", NULL);
    MT_CHECK_ERROR(ctx, sdc_clip_text_scratch_bytes(ctx, m, INT64_MAX / 2, 77, &out, &bytes),
                   SDC_STATUS_INVALID_ARGUMENT, "too large", NULL);
    /* Outputs of the wrong shape, a projection the model lacks, hidden states out of range. */
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 76, &out), SDC_STATUS_SHAPE,
                   "[1, 77, 64]", "expected [1, 76, 64]");
    sdc_clip_text_outputs proj = {.text_embeds = &pooled.t};
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 77, &proj),
                   SDC_STATUS_INVALID_ARGUMENT, "without text_projection", NULL);
    for (int k = 0; k < 2; k++) {
        sdc_clip_text_outputs hs = {.hidden_state = &last.t, .hidden_state_index = k ? -5 : 4};
        MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 77, &hs),
                       SDC_STATUS_INVALID_ARGUMENT, k ? "hidden_states[-5]" : "hidden_states[4]",
                       "-4 to 3");
    }
    sdc_clip_text_outputs none = {0};
    MT_CHECK_ERROR(ctx, sdc_clip_text_encode(ctx, m, &scratch, ids, 1, 77, &none),
                   SDC_STATUS_INVALID_ARGUMENT, "no output", NULL);
    CHECK_EQ_INT(scratch.used, 0);
    sdc_arena_release(&scratch);
    mt_array_free(&longer);
    mt_array_free(&last);
    mt_array_free(&pooled);
    sdc_clip_text_destroy(m);
}

/* Failing each allocation of a load in turn gives a clean error and leaks nothing. */
static void test_allocation_failures(void)
{
    sdc_weights_file *file = NULL;
    if (sdc_weights_file_open(ctx, MODELS "sdxl-tiny.safetensors", &file) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    for (int source = 0; source < 2; source++) {
        sdc_alloc_stats before, after;
        sdc_alloc_get_stats(ctx, &before);
        uint64_t n = 1;
        for (; n < 100000; n++) {
            sdc_clip_text *m = NULL;
            sdc_alloc_fail_nth(ctx, n);
            sdc_status st =
                source == 0
                    ? sdc_clip_text_open_diffusers(ctx, MODELS "sdxl-tiny/text_encoder_2", &m)
                    : sdc_clip_text_open_single_file(ctx, file, SDC_CLIP_LDM_LAYOUT_SDXL_G, &m);
            sdc_alloc_fail_nth(ctx, 0);
            if (st == SDC_STATUS_OK) {
                sdc_clip_text_destroy(m);
                break;
            }
            CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY && m == NULL,
                      "allocation %llu: status %d (%s)", (unsigned long long)n, (int)st,
                      sdc_context_errmsg(ctx));
            sdc_clear_error(ctx);
            sdc_alloc_get_stats(ctx, &after);
            CHECK_MSG(after.live_bytes == before.live_bytes,
                      "allocation %llu failed: %zu bytes leaked", (unsigned long long)n,
                      after.live_bytes - before.live_bytes);
        }
        CHECK_MSG(n > 3, "source %d loaded with only %llu allocations", source,
                  (unsigned long long)n);
        sdc_alloc_get_stats(ctx, &after);
        CHECK_EQ_INT(after.live_bytes, before.live_bytes);
    }
    sdc_weights_file_release(ctx, file);
}

/* ---------------------------------------------------------------------------------------- */
/* Benchmark: real-size encoders from random float16 weights (not run by ctest)              */

typedef struct bench_size {
    const char *key, *what;
    int64_t hidden, intermediate, projection;
    int n_layers;
    sdc_unary_op act;
} bench_size;

static const bench_size bench_sizes[] = {
    {"L", "CLIP ViT-L/14 (SD 1.x)", 768, 3072, 0, 12, SDC_UNARY_OP_QUICK_GELU},
    {"H", "OpenCLIP ViT-H/14 (SD 2.x, 23 of 24 layers)", 1024, 4096, 0, 23, SDC_UNARY_OP_GELU},
    {"G", "OpenCLIP ViT-bigG/14 (SDXL)", 1280, 5120, 1280, 32, SDC_UNARY_OP_GELU},
};

typedef struct bench_tensors {
    sdc_st_tensor *t;
    char (*names)[96];
    uint16_t **data;
    size_t n, cap;
    uint64_t rng;
} bench_tensors;

static float bench_uniform(bench_tensors *b) /* in [-sqrt 3, sqrt 3): variance 1 */
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return ((float)(b->rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * 1.7320508f;
}

static bool bench_add(bench_tensors *b, const char *name, int64_t rows, int64_t cols, float offset,
                      float scale)
{
    if (b->n == b->cap)
        return false;
    size_t n = (size_t)(rows * (cols ? cols : 1));
    uint16_t *data = malloc(n * sizeof *data);
    if (!data)
        return false;
    for (size_t i = 0; i < n; i++)
        data[i] = sdc_f32_to_f16(offset + scale * bench_uniform(b));
    sdc_st_tensor *t = &b->t[b->n];
    snprintf(b->names[b->n], sizeof b->names[0], "%s", name);
    *t = (sdc_st_tensor){
        .name = b->names[b->n], .dtype = SDC_DTYPE_F16, .ndim = cols ? 2 : 1, .data = data};
    t->shape[0] = rows;
    t->shape[1] = cols;
    b->data[b->n++] = data;
    return true;
}

static void bench_free(bench_tensors *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->data[i]);
    free(b->t);
    free(b->names);
    free(b->data);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void load_average(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (!fgets(buf, (int)size, f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
}

static int bench_one(const bench_size *z, int runs)
{
    int64_t D = z->hidden, I = z->intermediate;
    bench_tensors b = {.cap = (size_t)(16 * z->n_layers + 8), .rng = 0x9E3779B97F4A7C15ull};
    b.t = calloc(b.cap, sizeof *b.t);
    b.names = calloc(b.cap, sizeof *b.names);
    b.data = calloc(b.cap, sizeof *b.data);
    bool ok = b.t && b.names && b.data;
    double t0 = sdc_time_s();
    ok = ok && bench_add(&b, "text_model.embeddings.token_embedding.weight", 49408, D, 0, 0.02f);
    ok = ok && bench_add(&b, "text_model.embeddings.position_embedding.weight", 77, D, 0, 0.01f);
    for (int l = 0; l < z->n_layers && ok; l++) {
        static const struct {
            const char *name;
            int rows, cols; /* 0: D, 1: I, -1: none */
            bool norm;
        } parts[] = {
            {"layer_norm1", 0, -1, true},
            {"self_attn.q_proj", 0, 0, false},
            {"self_attn.k_proj", 0, 0, false},
            {"self_attn.v_proj", 0, 0, false},
            {"self_attn.out_proj", 0, 0, false},
            {"layer_norm2", 0, -1, true},
            {"mlp.fc1", 1, 0, false},
            {"mlp.fc2", 0, 1, false},
        };
        for (size_t p = 0; p < sizeof parts / sizeof parts[0] && ok; p++) {
            char name[96];
            int64_t rows = parts[p].rows ? I : D, cols = parts[p].cols ? I : D;
            snprintf(name, sizeof name, "text_model.encoder.layers.%d.%s.weight", l, parts[p].name);
            ok = parts[p].norm ? bench_add(&b, name, rows, 0, 1.0f, 0.05f)
                               : bench_add(&b, name, rows, cols, 0, 1.0f / sqrtf((float)cols));
            snprintf(name, sizeof name, "text_model.encoder.layers.%d.%s.bias", l, parts[p].name);
            ok = ok && bench_add(&b, name, rows, 0, 0, 0.02f);
        }
    }
    ok = ok && bench_add(&b, "text_model.final_layer_norm.weight", D, 0, 1.0f, 0.05f);
    ok = ok && bench_add(&b, "text_model.final_layer_norm.bias", D, 0, 0, 0.02f);
    if (z->projection)
        ok = ok &&
             bench_add(&b, "text_projection.weight", z->projection, D, 0, 1.0f / sqrtf((float)D));
    double t_build = sdc_time_s() - t0;

    sdc_store *s = NULL;
    sdc_clip_text *m = NULL;
    sdc_clip_text_config config;
    ok = ok && sdc_store_create(ctx, z->what, &s) == SDC_STATUS_OK;
    for (size_t i = 0; ok && i < b.n; i++)
        ok =
            sdc_store_add(s, b.t[i].name, &b.t[i], SDC_STORE_TRANSFORM_NONE, 0, 0) == SDC_STATUS_OK;
    ok = ok && sdc_store_finish(s) == SDC_STATUS_OK;
    ok = ok && sdc_clip_text_config_from_store(s, z->act, &config) == SDC_STATUS_OK;
    if (ok) {
        ok = sdc_clip_text_load(ctx, s, &config, &m) == SDC_STATUS_OK;
        s = NULL;
    }
    sdc_store_destroy(s);
    if (!ok) {
        fprintf(stderr, "%s: could not build the model: %s\n", z->what, sdc_context_errmsg(ctx));
        sdc_clip_text_destroy(m);
        bench_free(&b);
        return 1;
    }

    /* One prompt as the tokenizer gives it: start, 20 words, end, padding. */
    enum { L = 77 };
    int32_t ids[L];
    for (int i = 0; i < L; i++)
        ids[i] = i == 0 ? 49406 : i <= 20 ? 320 + 37 * i : 49407;
    int64_t seq_shape[3] = {1, L, D}, pooled_shape[2] = {1, z->projection ? z->projection : D};
    mt_array last = mt_array_new(ctx, 3, seq_shape), pooled = mt_array_new(ctx, 2, pooled_shape);
    sdc_clip_text_outputs out = {.last_hidden_state = &last.t};
    if (z->projection)
        out.text_embeds = &pooled.t;
    else
        out.pooled = &pooled.t;
    size_t bytes = 0;
    sdc_arena scratch;
    sdc_status st = sdc_clip_text_scratch_bytes(ctx, m, 1, L, &out, &bytes);
    st = st == SDC_STATUS_OK ? sdc_arena_init_fixed(&scratch, ctx, bytes) : st;
    char load_before[128], load_after[128];
    load_average(load_before, sizeof load_before);
    double times[16];
    int n_times = 0;
    for (int r = 0; r <= runs && st == SDC_STATUS_OK; r++) { /* run 0 warms up */
        double t = sdc_time_s();
        st = sdc_clip_text_encode(ctx, m, &scratch, ids, 1, L, &out);
        if (r > 0 && n_times < 16)
            times[n_times++] = sdc_time_s() - t;
    }
    load_average(load_after, sizeof load_after);
    if (st != SDC_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", z->what, sdc_context_errmsg(ctx));
    } else {
        qsort(times, (size_t)n_times, sizeof times[0], compare_doubles);
        double linear = 2.0 * L * (double)z->n_layers * (4.0 * D * D + 2.0 * D * I);
        double attn = 2.0 * 2.0 * (double)z->n_layers * D * (L * (L + 1) / 2.0); /* causal */
        double gflop = (linear + attn) * 1e-9;
        printf("%s: %d layers x %lld wide, MLP %lld, batch 1 x %d tokens, float16 weights\n"
               "  encode: median %.1f ms of %d runs (min %.1f, max %.1f); %.2f GFLOP -> "
               "%.1f GFLOP/s\n"
               "  %d threads, kernels '%s' (cpu level %s); scratch %zu bytes; weights built in "
               "%.1f s\n"
               "  load average before: %s / after: %s\n",
               z->what, z->n_layers, (long long)D, (long long)I, L, times[n_times / 2] * 1e3,
               n_times, times[0] * 1e3, times[n_times - 1] * 1e3, gflop, gflop / times[n_times / 2],
               sdc_context_n_threads(ctx), sdc_kernels_for(sdc_context_cpu(ctx))->name,
               sdc_context_cpu_level(ctx), bytes, t_build, load_before, load_after);
    }
    sdc_arena_release(&scratch);
    mt_array_free(&last);
    mt_array_free(&pooled);
    sdc_clip_text_destroy(m);
    bench_free(&b);
    return st == SDC_STATUS_OK ? 0 : 1;
}

static int bench(int argc, char **argv)
{
    int rc = 0;
    const char *runs_env = getenv("SDC_BENCH_RUNS");
    int runs = runs_env ? atoi(runs_env) : 5;
    runs = runs < 1 ? 1 : runs > 15 ? 15 : runs;
    for (int a = 0; a < (argc > 0 ? argc : 1); a++) {
        const char *key = argc > 0 ? argv[a] : "L";
        bool found = false;
        for (size_t i = 0; i < sizeof bench_sizes / sizeof bench_sizes[0]; i++)
            if (strcmp(key, bench_sizes[i].key) == 0) {
                found = true;
                rc |= bench_one(&bench_sizes[i], runs);
            }
        if (!found) {
            fprintf(stderr, "unknown size '%s' (L, H or G)\n", key);
            rc = 2;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    ctx = mt_context();
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        int rc = bench(argc - 2, argv + 2);
        sdc_context_destroy(ctx);
        return rc;
    }
    RUN(test_diffusers_folders_match_transformers);
    RUN(test_single_files_match_transformers);
    RUN(test_batch_rows_are_independent);
    RUN(test_scratch_bytes_are_exact);
    RUN(test_pooling_rules);
    RUN(test_openclip_table_reads_in_place);
    RUN(test_sd1_names_without_text_model);
    RUN(test_diffusers_load_errors);
    RUN(test_single_file_load_errors);
    RUN(test_encode_errors);
    RUN(test_allocation_failures);
    sdc_context_destroy(ctx);
    return test_finish();
}
