/*
 * fuzz_tokenizer.c — libFuzzer target: arbitrary bytes as a prompt for the CLIP tokenizer with
 * the real vocabulary, in both pad conventions ("<|endoftext|>" and "!").
 *
 * The vocabulary is read from $SDC_FUZZ_CLIP_DIR (a folder with vocab.json and merges.txt) or,
 * without it, from tests/data/clip found relative to this source file (__FILE__, absolute in
 * CMake builds), so tests/fuzz/run.sh needs no set-up.
 *
 * Besides crashes, leaks (LeakSanitizer) and sanitizer reports it stops on: any failure other than
 * INVALID_ARGUMENT for invalid UTF-8, ids outside the vocabulary, padded ids that are not start
 * token + the first kept ids + end token + padding, and a second run (served from the word
 * cache) that differs from the first.
 */
#include "sdc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sdc_context *ctx;
static sdc_tokenizer *toks[2];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_tokenizer: %s (%s)\n", what, ctx ? sdc_context_errmsg(ctx) : "");
    abort();
}

static void load(void)
{
    char dir[4096];
    const char *env = getenv("SDC_FUZZ_CLIP_DIR");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[1] = '\0';
        else
            dir[0] = '\0';
        strncat(dir, slash ? "../data/clip" : "tests/data/clip", sizeof dir - strlen(dir) - 1);
    }
    char vocab[4200], merges[4200];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        fail("cannot create a context");
    sdc_tokenizer_params tp = sdc_tokenizer_default_params();
    for (int k = 0; k < 2; k++) {
        tp.pad_token = k ? "!" : NULL;
        if (sdc_tokenizer_create_from_files(ctx, vocab, merges, &tp, &toks[k]) != SDC_STATUS_OK)
            fail("cannot load the vocabulary; set SDC_FUZZ_CLIP_DIR to tests/data/clip");
    }
}

static void check(sdc_tokenizer *tok, const char *text, size_t len)
{
    sdc_tokens *t = NULL;
    sdc_status st = sdc_tokenizer_tokenize(tok, text, len, &t);
    if (st == SDC_STATUS_INVALID_ARGUMENT && strstr(sdc_context_errmsg(ctx), "UTF-8"))
        return;
    if (st != SDC_STATUS_OK)
        fail("tokenize failed");
    size_t n_ids, n_full, count = sdc_tokens_count(t), kept = sdc_tokens_kept(t);
    const int32_t *ids = sdc_tokens_ids(t, &n_ids);
    const int32_t *full = sdc_tokens_untruncated_ids(t, &n_full);
    int32_t vocab = (int32_t)sdc_tokenizer_vocab_size(tok);
    if (n_ids != 77 || n_full != count + 2 || kept != (count < 75 ? count : 75))
        fail("inconsistent counts");
    if (ids[0] != sdc_tokenizer_bos_id(tok) || ids[kept + 1] != sdc_tokenizer_eos_id(tok) ||
        full[0] != ids[0] || full[n_full - 1] != sdc_tokenizer_eos_id(tok))
        fail("start/end tokens misplaced");
    for (size_t i = 0; i < n_full; i++)
        if (full[i] < 0 || full[i] >= vocab)
            fail("id out of range");
    for (size_t i = 1; i <= kept; i++)
        if (ids[i] != full[i])
            fail("padded ids differ from the untruncated ones");
    for (size_t i = kept + 2; i < 77; i++)
        if (ids[i] != sdc_tokenizer_pad_id(tok))
            fail("padding");
    if (kept == count && sdc_tokens_truncated_text(t)[0] != '\0')
        fail("truncated text without truncation");
    int32_t again[77];
    size_t n_again = 0;
    if (sdc_tokenizer_encode(tok, text, len, again, 77, &n_again) != SDC_STATUS_OK ||
        n_again != n_full || memcmp(again, ids, sizeof again) != 0)
        fail("a second run differs");
    sdc_tokens_destroy(t);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!ctx)
        load();
    for (int k = 0; k < 2; k++)
        check(toks[k], (const char *)data, size);
    return 0;
}
