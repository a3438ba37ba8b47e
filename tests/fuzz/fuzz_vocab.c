/*
 * fuzz_vocab.c — libFuzzer target: the vocab.json and merges.txt readers of the CLIP tokenizer,
 * then tokenizing with whatever they accepted.
 *
 * Input layout: VOCAB '\0' MERGES '\0' PROMPT. Without a second NUL there is no prompt (a
 * fixed one is used); without any NUL the whole input is the vocabulary and merges.txt is just
 * its header. An odd input length selects the pad token "!" (else "<|endoftext|>"). Stops on
 * crashes, sanitizer reports, leaks (live bytes must return to zero after each input),
 * failures without an error message, and statuses a malformed file should not produce.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sdc_context *ctx;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_vocab: %s (%s)\n", what, sdc_context_errmsg(ctx));
    abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!ctx) {
        sdc_context_params p = sdc_context_default_params();
        p.n_threads = 1;
        p.log_level = SDC_LOG_LEVEL_ERROR;
        if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
            abort();
    }
    static const char header_only[] = "#version: 0.2\n";
    static const char default_prompt[] = "a photo of the cat's hat!!! <|endoftext|> caf\xC3\xA9";
    const char *text = (const char *)data;
    const unsigned char *nul1 = size ? memchr(data, 0, size) : NULL;
    size_t vocab_len = nul1 ? (size_t)(nul1 - data) : size;
    const char *merges = header_only, *prompt = default_prompt;
    size_t merges_len = sizeof header_only - 1, prompt_len = sizeof default_prompt - 1;
    if (nul1) {
        merges = text + vocab_len + 1;
        merges_len = size - vocab_len - 1;
        const char *nul2 = memchr(merges, 0, merges_len);
        if (nul2) {
            prompt = nul2 + 1;
            prompt_len = merges_len - (size_t)(nul2 - merges) - 1;
            merges_len = (size_t)(nul2 - merges);
        }
    }

    sdc_tokenizer_params params = sdc_tokenizer_default_params();
    params.pad_token = (size & 1) ? "!" : NULL;
    sdc_tokenizer *tok = NULL;
    sdc_status st =
        sdc_tokenizer_create_from_memory(ctx, text, vocab_len, merges, merges_len, &params, &tok);
    if (st != SDC_STATUS_OK) {
        if (tok)
            fail("a failed load returned a tokenizer");
        if (st != SDC_STATUS_FORMAT && st != SDC_STATUS_NOT_FOUND)
            fail("unexpected status for malformed input");
        if (sdc_context_errmsg(ctx)[0] == '\0')
            fail("a failure without a message");
    } else {
        sdc_tokens *t = NULL;
        st = sdc_tokenizer_tokenize(tok, prompt, prompt_len, &t);
        if (st != SDC_STATUS_OK && st != SDC_STATUS_INVALID_ARGUMENT)
            fail("tokenize failed");
        if (t) {
            size_t n_full;
            const int32_t *full = sdc_tokens_untruncated_ids(t, &n_full);
            size_t n_vocab = sdc_tokenizer_vocab_size(tok);
            for (size_t i = 0; i < n_full; i++)
                if (full[i] < 0 || (size_t)full[i] >= n_vocab)
                    fail("id out of range");
            for (size_t i = 0; i < sdc_tokens_count(t); i++)
                if (!sdc_tokens_string(t, i))
                    fail("missing token string");
        }
        sdc_tokens_destroy(t);
        sdc_tokenizer_destroy(tok);
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        fail("memory leaked");
    return 0;
}
