/*
 * conditioning.c — prompts to the UNet's conditioning. SD 1.x and 2.x as diffusers 0.30.2's
 * StableDiffusionPipeline.encode_prompt: both prompts tokenized to 77 ids, encoded here as one
 * batch (diffusers makes two calls; the rows do not interact), clip_skip on the prompt only,
 * each prompt repeated for the N images, negative rows first. SDXL (base and refiner) as
 * StableDiffusionXL(Img2Img)Pipeline.encode_prompt and _get_add_time_ids: penultimate hidden
 * states of each text encoder concatenated, the second encoder's projected pooled output, the
 * zeroed negative of force_zeros_for_empty_prompt, and the micro-conditioning time ids.
 */
#include "pipeline/pipeline.h"

#include <string.h>

/* Where the first invalid UTF-8 sequence starts, or len when the text is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (n == 0 || i + n > len || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
            return i;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        if ((n == 3 && c == 0xE0 && s[i + 1] < 0xA0) || (n == 3 && c == 0xED && s[i + 1] >= 0xA0) ||
            (n == 4 && c == 0xF0 && s[i + 1] < 0x90) || (n == 4 && c == 0xF4 && s[i + 1] >= 0x90))
            return i;
        i += n;
    }
    return len;
}

/* ids[max_length] for `text`; `what` names it in messages. The tokenizer is the model's,
 * shared by its generations, so it is used under the model's lock; the text is checked first
 * so that the tokenizer's only failure left is running out of memory. */
static sdc_status tokenize(sdc_context *ctx, const sdc_model *model, sdc_tokenizer *tokenizer,
                           const char *what, const char *text, int32_t *ids, size_t max_length)
{
    size_t len = strlen(text);
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: invalid UTF-8 at byte %zu; expected UTF-8 text", what, bad);
    if (len > SDC_TOK_MAX_TEXT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: %zu bytes; prompts are limited to %zu bytes", what, len,
                        (size_t)SDC_TOK_MAX_TEXT);
    size_t untruncated = 0;
    pthread_mutex_t *lock = (pthread_mutex_t *)&model->tokenizer_lock;
    pthread_mutex_lock(lock);
    sdc_status st = sdc_tokenizer_encode(tokenizer, text, len, ids, max_length, &untruncated);
    pthread_mutex_unlock(lock);
    if (st != SDC_STATUS_OK)
        return sdc_fail(ctx, st, "%s: the tokenizer failed (%s)", what, sdc_status_string(st));
    if (untruncated > max_length)
        sdc_log(ctx, SDC_LOG_LEVEL_WARN,
                "%s has %zu tokens; CLIP reads %zu, so the last %zu were dropped", what,
                untruncated - 2, max_length - 2, untruncated - max_length);
    return SDC_STATUS_OK;
}

void sdc_pipe_conditioning_free(sdc_context *ctx, sdc_pipe_conditioning *c)
{
    sdc_free(ctx, c->storage);
    memset(c, 0, sizeof *c);
}

static sdc_status encode_sdxl(sdc_context *ctx, const sdc_model *model,
                              const sdc_clip_text *text_encoder,
                              const sdc_clip_text *text_encoder_2, const sdc_pipe_request *req,
                              sdc_pipe_conditioning *out);

sdc_status sdc_pipe_encode_prompts(sdc_context *ctx, const sdc_model *model,
                                   const sdc_clip_text *text_encoder,
                                   const sdc_clip_text *text_encoder_2, const sdc_pipe_request *req,
                                   sdc_pipe_conditioning *out)
{
    if (model->family == SDC_FAMILY_SDXL || model->family == SDC_FAMILY_SDXL_REFINER)
        return encode_sdxl(ctx, model, text_encoder, text_encoder_2, req, out);
    const sdc_generation_params *p = req->params;
    memset(out, 0, sizeof *out);
    const int64_t L = sdc_tokenizer_max_length(model->tokenizer);
    const int64_t D = sdc_clip_text_get_config(text_encoder)->hidden_size;
    const int64_t N = req->n_images;
    /* Sequences encoded: [negative,] prompt. */
    const int64_t rows = req->guidance ? 2 : 1;
    const int64_t prompt_row = rows - 1;
    const bool skip = p->clip_skip >= 2;
    sdc_status st;
    int32_t *ids = NULL;
    float *encoded = NULL;
    sdc_arena scratch = {0};
    size_t seq_bytes = (size_t)(L * D) * sizeof(float);

    ids = sdc_malloc(ctx, (size_t)(rows * L) * sizeof *ids);
    /* [rows, L, D] last hidden states, then [rows, L, D] clip-skipped ones */
    encoded = sdc_malloc(ctx, 2 * (size_t)rows * seq_bytes);
    out->storage = sdc_malloc(ctx, (size_t)(rows * N) * seq_bytes);
    if (!ids || !encoded || !out->storage) {
        st = sdc_fail_oom(ctx, "prompt embeddings", (size_t)(rows * (N + 2)) * seq_bytes);
        goto done;
    }
    if (req->guidance) {
        const char *neg = p->negative_prompt ? p->negative_prompt : "";
        st = tokenize(ctx, model, model->tokenizer, "negative prompt", neg, ids, (size_t)L);
        if (st != SDC_STATUS_OK)
            goto done;
    }
    st = tokenize(ctx, model, model->tokenizer, "prompt", p->prompt ? p->prompt : "",
                  ids + prompt_row * L, (size_t)L);
    if (st != SDC_STATUS_OK)
        goto done;

    int64_t seq_shape[3] = {rows, L, D};
    sdc_tensor last = sdc_tensor_make(encoded, SDC_DTYPE_F32, 3, seq_shape);
    sdc_tensor skipped = sdc_tensor_make(encoded + rows * L * D, SDC_DTYPE_F32, 3, seq_shape);
    /* The negative prompt always takes the last layer (diffusers applies clip_skip to the
     * prompt only); without guidance and with a skip, the last layer is not needed at all. */
    bool need_last = !skip || req->guidance;
    sdc_clip_text_outputs outputs = {
        .last_hidden_state = need_last ? &last : NULL,
        .hidden_state = skip ? &skipped : NULL,
        .hidden_state_index = -p->clip_skip,
        .hidden_state_final_norm = true,
    };
    size_t bytes = 0;
    st = sdc_clip_text_scratch_bytes(ctx, text_encoder, rows, L, &outputs, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes ? bytes : SDC_ALIGN);
    if (st == SDC_STATUS_OK)
        st = sdc_clip_text_encode(ctx, text_encoder, &scratch, ids, rows, L, &outputs);
    if (st != SDC_STATUS_OK)
        goto done;

    /* diffusers: prompt_embeds.repeat(1, N, 1).view(N, L, D), the same for the negative, then
     * torch.cat([negative, prompt]). */
    for (int64_t r = 0; r < rows; r++) {
        const float *src = (r == prompt_row && skip) ? (const float *)skipped.data + r * L * D
                                                     : (const float *)last.data + r * L * D;
        for (int64_t i = 0; i < N; i++)
            memcpy(out->storage + (r * N + i) * L * D, src, seq_bytes);
    }
    int64_t cond_shape[3] = {rows * N, L, D};
    out->batch = rows * N;
    out->hidden_states = sdc_tensor_make(out->storage, SDC_DTYPE_F32, 3, cond_shape);
done:
    sdc_arena_release(&scratch);
    sdc_free(ctx, encoded);
    sdc_free(ctx, ids);
    if (st != SDC_STATUS_OK)
        sdc_pipe_conditioning_free(ctx, out);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* SDXL                                                                                       */

/* One sequence through one encoder: hidden[L, D] = hidden_states[index] (no final LayerNorm),
 * and pooled[P] = text_embeds when pooled is not NULL. */
static sdc_status encode_one(sdc_context *ctx, const sdc_clip_text *encoder, const int32_t *ids,
                             int64_t L, int index, float *hidden, float *pooled)
{
    const sdc_clip_text_config *c = sdc_clip_text_get_config(encoder);
    int64_t hshape[3] = {1, L, c->hidden_size}, pshape[2] = {1, c->projection_dim};
    sdc_tensor h = sdc_tensor_make(hidden, SDC_DTYPE_F32, 3, hshape);
    sdc_tensor pt = sdc_tensor_make(pooled, SDC_DTYPE_F32, 2, pshape);
    sdc_clip_text_outputs outputs = {
        .hidden_state = &h,
        .hidden_state_index = index,
        .hidden_state_final_norm = false,
        .text_embeds = pooled ? &pt : NULL,
    };
    sdc_arena scratch = {0};
    size_t bytes = 0;
    sdc_status st = sdc_clip_text_scratch_bytes(ctx, encoder, 1, L, &outputs, &bytes);
    if (st == SDC_STATUS_OK)
        st = sdc_arena_init_fixed(&scratch, ctx, bytes ? bytes : SDC_ALIGN);
    if (st == SDC_STATUS_OK)
        st = sdc_clip_text_encode(ctx, encoder, &scratch, ids, 1, L, &outputs);
    sdc_arena_release(&scratch);
    return st;
}

/* The time ids of one row (diffusers' _get_add_time_ids): 6 = original size, crop, target
 * size; 5 = original size, crop, aesthetic score, the negative row with the negative score and
 * negative_crops_coords_top_left's default (0, 0), as StableDiffusionXLImg2ImgPipeline does.
 * (height, width) and (top, left) order. */
static void time_ids_row(const sdc_model *model, const sdc_pipe_request *req, bool negative,
                         float *ids)
{
    const sdc_generation_params *p = req->params;
    ids[0] = (float)req->original_height;
    ids[1] = (float)req->original_width;
    bool zero_crop = negative && model->n_time_ids == 5;
    ids[2] = zero_crop ? 0.0f : (float)req->crop_top;
    ids[3] = zero_crop ? 0.0f : (float)req->crop_left;
    if (model->n_time_ids == 5) {
        ids[4] = negative ? p->negative_aesthetic_score : p->aesthetic_score;
    } else {
        ids[4] = (float)req->target_height;
        ids[5] = (float)req->target_width;
    }
}

static sdc_status encode_sdxl(sdc_context *ctx, const sdc_model *model,
                              const sdc_clip_text *text_encoder,
                              const sdc_clip_text *text_encoder_2, const sdc_pipe_request *req,
                              sdc_pipe_conditioning *out)
{
    const sdc_generation_params *p = req->params;
    memset(out, 0, sizeof *out);
    /* The encoders in diffusers' order: [text_encoder, text_encoder_2], or the refiner's one. */
    const sdc_clip_text *encoders[2] = {text_encoder, text_encoder_2};
    sdc_tokenizer *tokenizers[2] = {model->tokenizer, model->tokenizer_2};
    int first = text_encoder ? 0 : 1;
    if (!text_encoder_2)
        return sdc_fail(ctx, SDC_STATUS_INTERNAL, "SDXL conditioning without text_encoder_2");
    const int64_t L = sdc_tokenizer_max_length(tokenizers[1]);
    int64_t D = 0;
    int64_t width[2] = {0, 0};
    for (int e = first; e < 2; e++) {
        width[e] = sdc_clip_text_get_config(encoders[e])->hidden_size;
        D += width[e];
    }
    const int64_t P = sdc_clip_text_get_config(text_encoder_2)->projection_dim;
    const int64_t N = req->n_images, rows = req->guidance ? 2 : 1, prompt_row = rows - 1;
    const int64_t n_ids = model->n_time_ids;
    const char *neg = p->negative_prompt ? p->negative_prompt : "";
    /* diffusers zeroes the negative when negative_prompt is None; sdc has no None apart from
     * "", so "" (and NULL) count as none */
    const bool zero_negative = req->guidance && !*neg && model->force_zeros_for_empty_prompt;
    /* diffusers: hidden_states[-(clip_skip + 2)] for the prompt; sdc's k is its clip_skip + 1 */
    const int prompt_index = p->clip_skip >= 2 ? -(p->clip_skip + 1) : -2;
    sdc_status st = SDC_STATUS_OK;
    const size_t per_row = (size_t)(L * D + P + n_ids);
    int32_t *ids = sdc_malloc(ctx, (size_t)L * sizeof *ids);
    /* rows x ([L, D] hidden | [P] pooled), then one encoder's [L, width] */
    float *encoded = sdc_calloc(ctx, (size_t)rows * (size_t)(L * D + P), sizeof(float));
    float *one =
        sdc_malloc(ctx, (size_t)(L * (width[0] > width[1] ? width[0] : width[1])) * sizeof(float));
    out->storage = sdc_malloc(ctx, (size_t)(rows * N) * per_row * sizeof(float));
    if (!ids || !encoded || !one || !out->storage) {
        st = sdc_fail_oom(ctx, "SDXL prompt embeddings", (size_t)(rows * N) * per_row * 4);
        goto done;
    }
    for (int64_t r = 0; r < rows; r++) {
        bool negative = r != prompt_row;
        if (negative && zero_negative)
            continue; /* torch.zeros_like: calloc'd */
        float *hidden = encoded + r * (L * D + P);
        int64_t offset = 0;
        for (int e = first; e < 2; e++) {
            st = tokenize(ctx, model, tokenizers[e], negative ? "negative prompt" : "prompt",
                          negative ? neg : (p->prompt ? p->prompt : ""), ids, (size_t)L);
            if (st == SDC_STATUS_OK)
                st = encode_one(ctx, encoders[e], ids, L, negative ? -2 : prompt_index, one,
                                e == 1 ? hidden + L * D : NULL);
            if (st != SDC_STATUS_OK)
                goto done;
            /* torch.concat(prompt_embeds_list, dim=-1) */
            for (int64_t t = 0; t < L; t++)
                memcpy(hidden + t * D + offset, one + t * width[e],
                       (size_t)width[e] * sizeof(float));
            offset += width[e];
        }
    }

    /* [rows * N] hidden states, then pooled, then time ids; each row repeated N times */
    float *hs = out->storage, *pooled = hs + rows * N * L * D, *tid = pooled + rows * N * P;
    for (int64_t r = 0; r < rows; r++) {
        const float *src = encoded + r * (L * D + P);
        float row_ids[6];
        time_ids_row(model, req, r != prompt_row, row_ids);
        for (int64_t i = 0; i < N; i++) {
            int64_t b = r * N + i;
            memcpy(hs + b * L * D, src, (size_t)(L * D) * sizeof(float));
            memcpy(pooled + b * P, src + L * D, (size_t)P * sizeof(float));
            memcpy(tid + b * n_ids, row_ids, (size_t)n_ids * sizeof(float));
        }
    }
    int64_t hshape[3] = {rows * N, L, D}, pshape[2] = {rows * N, P}, tshape[2] = {rows * N, n_ids};
    out->batch = rows * N;
    out->hidden_states = sdc_tensor_make(hs, SDC_DTYPE_F32, 3, hshape);
    out->text_embeds = sdc_tensor_make(pooled, SDC_DTYPE_F32, 2, pshape);
    out->time_ids = sdc_tensor_make(tid, SDC_DTYPE_F32, 2, tshape);
done:
    sdc_free(ctx, one);
    sdc_free(ctx, encoded);
    sdc_free(ctx, ids);
    if (st != SDC_STATUS_OK)
        sdc_pipe_conditioning_free(ctx, out);
    return st;
}
