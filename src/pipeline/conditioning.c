/*
 * conditioning.c — prompts to the UNet's conditioning for SD 1.x and 2.x, as diffusers 0.30.2's
 * StableDiffusionPipeline.encode_prompt: both prompts tokenized to 77 ids, encoded here as one
 * batch (diffusers makes two calls; the rows do not interact), clip_skip on the prompt only,
 * each prompt repeated for the N images, negative rows first. SDXL adds its own function
 * (issue 11) filling the pooled text_embeds and time_ids of sdc_pipe_conditioning.
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
static sdc_status tokenize(sdc_context *ctx, const sdc_model *model, const char *what,
                           const char *text, int32_t *ids, size_t max_length)
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
    sdc_status st =
        sdc_tokenizer_encode(model->tokenizer, text, len, ids, max_length, &untruncated);
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

sdc_status sdc_pipe_encode_prompts(sdc_context *ctx, const sdc_model *model,
                                   const sdc_clip_text *text_encoder, const sdc_pipe_request *req,
                                   sdc_pipe_conditioning *out)
{
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
        st = tokenize(ctx, model, "negative prompt", neg, ids, (size_t)L);
        if (st != SDC_STATUS_OK)
            goto done;
    }
    st =
        tokenize(ctx, model, "prompt", p->prompt ? p->prompt : "", ids + prompt_row * L, (size_t)L);
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
