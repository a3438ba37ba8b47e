/*
 * Tests the CLIP tokenizer (src/tokenizer/clip_bpe.c, tokenizer.c) against the fixtures of
 * tools/reference/gen_tokenizer.py (transformers 4.44.2 CLIPTokenizer, no ftfy): every corpus
 * prompt in both pad conventions — padded ids, untruncated ids and token strings. Then
 * diffusers tokenizer folders, malformed vocab.json / merges.txt, invalid UTF-8 prompts, and
 * allocation failures while loading and tokenizing (every failure clean, nothing leaked).
 */
#include "io/io.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_PATH_VOCAB  SDC_TEST_DATA_DIR "/clip/vocab.json"
#define TEST_PATH_MERGES SDC_TEST_DATA_DIR "/clip/merges.txt"

static sdc_context *new_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    p.log_level = SDC_LOG_LEVEL_ERROR;
    sdc_context *ctx = NULL;
    sdc_context_create(&p, &ctx);
    return ctx;
}

static size_t live_bytes(const sdc_context *ctx)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    return s.live_bytes;
}

static sdc_tokenizer *clip_tokenizer(sdc_context *ctx, const char *pad)
{
    sdc_tokenizer_params p = sdc_tokenizer_default_params();
    p.pad_token = pad;
    sdc_tokenizer *tok = NULL;
    sdc_status st =
        sdc_tokenizer_create_from_files(ctx, TEST_PATH_VOCAB, TEST_PATH_MERGES, &p, &tok);
    CHECK_MSG(st == SDC_STATUS_OK, "loading tests/data/clip: %s", sdc_context_errmsg(ctx));
    return tok;
}

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                   */

typedef struct fixture {
    sdc_st_file *ids;
    sdc_json_doc *prompts;
    char *json_text;
} fixture;

static bool load_fixture(sdc_context *ctx, fixture *f)
{
    memset(f, 0, sizeof *f);
    const char *ids_path = test_path(SDC_FIXTURES_DIR, "tokenizer/clip_ids.safetensors");
    const char *json_path = test_path(SDC_FIXTURES_DIR, "tokenizer/clip_prompts.json");
    size_t size = 0;
    bool ok = sdc_st_open(ctx, ids_path, &f->ids) == SDC_STATUS_OK &&
              sdc_file_read_all(ctx, json_path, &f->json_text, &size) == SDC_STATUS_OK &&
              sdc_json_parse(ctx, f->json_text, size, json_path, &f->prompts) == SDC_STATUS_OK;
    CHECK_MSG(ok, "fixtures: %s", sdc_context_errmsg(ctx));
    return ok;
}

static void free_fixture(sdc_context *ctx, fixture *f)
{
    sdc_st_close(f->ids);
    sdc_json_free(f->prompts);
    sdc_free(ctx, f->json_text);
}

static const int64_t *fixture_tensor(const fixture *f, const char *conv, const char *what,
                                     int64_t *numel)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", conv, what);
    const sdc_st_tensor *t = sdc_st_find(f->ids, name);
    CHECK_MSG(t && t->dtype == SDC_DTYPE_I64, "fixture tensor %s", name);
    if (!t)
        return NULL;
    *numel = sdc_st_numel(t);
    return t->data;
}

/* Every prompt of the corpus through `tok`; returns how many agree in all three outputs. */
static size_t check_corpus(sdc_tokenizer *tok, const fixture *f, const char *conv)
{
    const sdc_json *prompts = sdc_json_get_type(f->prompts->root, "prompts", SDC_JSON_TYPE_ARRAY);
    CHECK(prompts != NULL);
    if (!prompts)
        return 0;
    size_t n = prompts->u.array.count;
    int64_t n_padded = 0, n_flat = 0, n_offsets = 0;
    const int64_t *padded = fixture_tensor(f, conv, "input_ids", &n_padded);
    const int64_t *flat = fixture_tensor(f, conv, "ids_flat", &n_flat);
    const int64_t *offsets = fixture_tensor(f, conv, "ids_offsets", &n_offsets);
    if (!padded || !flat || !offsets)
        return 0;
    CHECK_EQ_INT(n_padded, (int64_t)n * 77);
    CHECK_EQ_INT(n_offsets, (int64_t)n + 1);
    char key[32];
    snprintf(key, sizeof key, "tokens_%s", conv);
    size_t exact = 0;
    for (size_t i = 0; i < n; i++) {
        const sdc_json *rec = prompts->u.array.items[i];
        const sdc_json *text = sdc_json_get_type(rec, "text", SDC_JSON_TYPE_STRING);
        const sdc_json *want_tokens = sdc_json_get_type(rec, key, SDC_JSON_TYPE_ARRAY);
        if (!text || !want_tokens) {
            CHECK_MSG(false, "prompt %zu: no text or %s", i, key);
            continue;
        }
        sdc_tokens *t = NULL;
        sdc_status st = sdc_tokenizer_tokenize(tok, text->u.string.chars, text->u.string.len, &t);
        if (st != SDC_STATUS_OK) {
            CHECK_MSG(false, "%s prompt %zu: %s", conv, i,
                      sdc_context_errmsg(sdc_tok_clip_context(tok)));
            continue;
        }
        bool ok = true;
        size_t n_ids, n_full;
        const int32_t *ids = sdc_tokens_ids(t, &n_ids);
        const int32_t *full = sdc_tokens_untruncated_ids(t, &n_full);
        ok = ok && n_ids == 77;
        for (size_t k = 0; ok && k < 77; k++)
            ok = ids[k] == padded[i * 77 + k];
        int64_t begin = offsets[i], end = offsets[i + 1];
        ok = ok && end >= begin && end <= n_flat && (size_t)(end - begin) == n_full;
        for (size_t k = 0; ok && k < n_full; k++)
            ok = full[k] == flat[begin + (int64_t)k];
        ok = ok && want_tokens->u.array.count == sdc_tokens_count(t);
        for (size_t k = 0; ok && k < sdc_tokens_count(t); k++) {
            const sdc_json *w = want_tokens->u.array.items[k];
            ok = w->type == SDC_JSON_TYPE_STRING &&
                 strcmp(w->u.string.chars, sdc_tokens_string(t, k)) == 0;
        }
        /* sdc_tokenizer_encode gives the same ids and count */
        int32_t enc[77];
        size_t n_untruncated = 0;
        ok = ok &&
             sdc_tokenizer_encode(tok, text->u.string.chars, text->u.string.len, enc, 77,
                                  &n_untruncated) == SDC_STATUS_OK &&
             n_untruncated == n_full && memcmp(enc, ids, sizeof enc) == 0;
        CHECK_MSG(ok, "%s prompt %zu (%s) differs from transformers", conv, i,
                  text->u.string.chars);
        exact += ok;
        sdc_tokens_destroy(t);
    }
    return exact;
}

static void test_fixture_corpus(void)
{
    sdc_context *ctx = new_ctx();
    fixture f;
    if (load_fixture(ctx, &f)) {
        static const char *const convs[2] = {"pad_eot", "pad_excl"};
        static const char *const pads[2] = {NULL, "!"};
        const sdc_json *prompts =
            sdc_json_get_type(f.prompts->root, "prompts", SDC_JSON_TYPE_ARRAY);
        size_t n = prompts ? prompts->u.array.count : 0;
        CHECK(n >= 450);
        for (int c = 0; c < 2; c++) {
            sdc_tokenizer *tok = clip_tokenizer(ctx, pads[c]);
            if (!tok)
                continue;
            CHECK_EQ_INT(sdc_tokenizer_pad_id(tok), c == 0 ? 49407 : 0);
            CHECK_EQ_INT(sdc_tokenizer_bos_id(tok), 49406);
            CHECK_EQ_INT(sdc_tokenizer_eos_id(tok), 49407);
            CHECK_EQ_INT(sdc_tokenizer_vocab_size(tok), 49408);
            CHECK_EQ_INT(sdc_tokenizer_max_length(tok), 77);
            size_t exact = check_corpus(tok, &f, convs[c]);
            CHECK_EQ_INT(exact, n);
            /* a second pass runs from the word cache and must not change anything */
            CHECK_EQ_INT(check_corpus(tok, &f, convs[c]), n);
            sdc_tokenizer_destroy(tok);
        }
        free_fixture(ctx, &f);
    }
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Truncation, encode arguments, invalid UTF-8                                                 */

static void test_truncation(void)
{
    sdc_context *ctx = new_ctx();
    sdc_tokenizer *tok = clip_tokenizer(ctx, NULL);
    if (tok) {
        char text[1024] = "";
        for (int i = 0; i < 74; i++)
            strcat(text, "cat ");
        strcat(text, "pneumonoultramicroscopicsilicovolcanoconiosis dog");
        sdc_tokens *t = NULL;
        CHECK(sdc_tokenizer_tokenize(tok, text, strlen(text), &t) == SDC_STATUS_OK);
        if (t) {
            size_t n;
            const int32_t *ids = sdc_tokens_ids(t, &n);
            CHECK_EQ_INT(n, 77);
            CHECK_EQ_INT(sdc_tokens_count(t), 89);
            CHECK_EQ_INT(sdc_tokens_kept(t), 75);
            CHECK_EQ_INT(ids[0], 49406);
            CHECK_EQ_INT(ids[76], 49407);
            CHECK_EQ_STR(sdc_tokens_string(t, 74), "pneu");
            CHECK(sdc_tokens_string(t, 89) == NULL);
            /* transformers: convert_tokens_to_string(tokens[75:]) */
            CHECK_EQ_STR(sdc_tokens_truncated_text(t),
                         "monoultramicroscopicsilicovolcanoconiosis dog");
            sdc_tokens_destroy(t);
        }
        /* exactly 75 tokens: nothing cut */
        text[0] = '\0';
        for (int i = 0; i < 75; i++)
            strcat(text, "a ");
        CHECK(sdc_tokenizer_tokenize(tok, text, strlen(text), &t) == SDC_STATUS_OK);
        if (t) {
            CHECK_EQ_INT(sdc_tokens_kept(t), 75);
            CHECK_EQ_STR(sdc_tokens_truncated_text(t), "");
            sdc_tokens_destroy(t);
        }
        /* an emoji cut in the middle of its bytes decodes to U+FFFD, as errors="replace" */
        text[0] = '\0';
        for (int i = 0; i < 74; i++)
            strcat(text, "a ");
        strcat(text, "\xC3\xA9\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80 end");
        CHECK(sdc_tokenizer_tokenize(tok, text, strlen(text), &t) == SDC_STATUS_OK);
        if (t) {
            CHECK(sdc_tokens_kept(t) == 75 && sdc_tokens_count(t) > 75);
            CHECK_CONTAINS(sdc_tokens_truncated_text(t), "end");
            sdc_tokens_destroy(t);
        }

        CHECK(sdc_tokenizer_tokenize(tok, "", 0, &t) == SDC_STATUS_OK);
        if (t) {
            CHECK(sdc_tokens_count(t) == 0 && sdc_tokens_kept(t) == 0);
            CHECK(sdc_tokens_string(t, 0) == NULL);
            CHECK_EQ_STR(sdc_tokens_truncated_text(t), "");
            sdc_tokens_destroy(t);
        }

        int32_t ids[77];
        size_t n_full = 0;
        CHECK(sdc_tokenizer_encode(tok, "", 0, ids, 77, &n_full) == SDC_STATUS_OK);
        CHECK_EQ_INT(n_full, 2);
        CHECK(ids[0] == 49406 && ids[1] == 49407 && ids[2] == 49407 && ids[76] == 49407);
        CHECK(sdc_tokenizer_encode(tok, "a", 1, ids, 76, NULL) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "76");

        /* invalid UTF-8: the message names the byte offset */
        static const struct {
            const char *text;
            size_t len;
            const char *offset;
        } bad[] = {
            {"abc\xFF", 4, "offset 3"},
            {"caf\xC3", 4, "offset 3"},
            {"\xC0\xAF", 2, "offset 0"},
            {"x\xED\xA0\x80", 4, "offset 1"},
            {"ab\xF4\x90\x80\x80", 6, "offset 2"},
            {"\xE2\x82", 2, "offset 0"},
            {"ok \x80", 4, "offset 3"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK(sdc_tokenizer_encode(tok, bad[i].text, bad[i].len, ids, 77, NULL) ==
                  SDC_STATUS_INVALID_ARGUMENT);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "UTF-8");
            CHECK_CONTAINS(sdc_context_errmsg(ctx), bad[i].offset);
        }
        /* NUL bytes are characters like any other (dropped as control characters) */
        CHECK(sdc_tokenizer_encode(tok, "a\0b", 3, ids, 77, &n_full) == SDC_STATUS_OK);
        CHECK(n_full == 3 && ids[1] == 3937); /* "ab</w>" */
        sdc_tokenizer_destroy(tok);
    }
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* A small vocabulary: the 512 byte symbols, a few merges, the special tokens                 */

static const char *const small_merges[] = {"c a", "ca t</w>", "d o",     "do g</w>",
                                           "t h", "th e</w>", "a n",     "an d</w>",
                                           "! !", "!! !</w>", "Ã ©</w>", "c Ã©</w>"};
#define N_SMALL_MERGES (sizeof small_merges / sizeof small_merges[0])

static size_t put_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* vocab.json text (n_extra tokens appended raw after the generated ones, e.g. ", \"x\": 3"). */
static char *small_vocab(sdc_context *ctx, bool with_eot, size_t *len)
{
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_json_writer w;
    sdc_json_writer_init(&w, &b, false);
    sdc_json_begin_object(&w);
    unsigned next = 256, id = 0;
    for (int eow = 0; eow < 2; eow++) {
        next = 256;
        for (unsigned c = 0; c < 256; c++) {
            bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
            unsigned cp = printable ? c : next++;
            char s[16];
            size_t n = put_utf8(cp, s);
            if (eow)
                memcpy(s + n, "</w>", 4), n += 4;
            s[n] = '\0';
            sdc_json_key(&w, s);
            sdc_json_uint(&w, id++);
        }
    }
    for (size_t i = 0; i < N_SMALL_MERGES; i++) {
        char s[32];
        const char *m = small_merges[i], *sp = strchr(m, ' ');
        snprintf(s, sizeof s, "%.*s%s", (int)(sp - m), m, sp + 1);
        sdc_json_key(&w, s);
        sdc_json_uint(&w, id++);
    }
    sdc_json_key(&w, "<|startoftext|>");
    sdc_json_uint(&w, id++);
    if (with_eot) {
        sdc_json_key(&w, "<|endoftext|>");
        sdc_json_uint(&w, id++);
    }
    sdc_json_end_object(&w);
    CHECK(!b.failed);
    *len = b.len;
    return b.data;
}

static char *small_merges_text(sdc_context *ctx, size_t *len)
{
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_buf_append_str(&b, "#version: 0.2\n");
    for (size_t i = 0; i < N_SMALL_MERGES; i++)
        sdc_buf_printf(&b, "%s\n", small_merges[i]);
    CHECK(!b.failed);
    *len = b.len;
    return b.data;
}

static void test_small_vocab(void)
{
    sdc_context *ctx = new_ctx();
    size_t vl, ml;
    char *vocab = small_vocab(ctx, true, &vl), *merges = small_merges_text(ctx, &ml);
    sdc_tokenizer *tok = NULL;
    CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, merges, ml, NULL, &tok) ==
          SDC_STATUS_OK);
    if (tok) {
        CHECK_EQ_INT(sdc_tokenizer_vocab_size(tok), 512 + N_SMALL_MERGES + 2);
        const int32_t eot = (int32_t)(512 + N_SMALL_MERGES + 1);
        CHECK_EQ_INT(sdc_tokenizer_eos_id(tok), eot);
        sdc_tokens *t = NULL;
        const char *text = "The CAT and the dog!!! cat\xC3\xA9 c\xC3\xA9 cafe";
        CHECK(sdc_tokenizer_tokenize(tok, text, strlen(text), &t) == SDC_STATUS_OK);
        if (t) {
            static const char *const want[] = {
                "the</w>", "cat</w>", "and</w>", "the</w>", "dog</w>", "!!!</w>", "ca",
                "t",       "Ã©</w>",  "cÃ©</w>", "ca",      "f",       "e</w>"};
            CHECK_EQ_INT(sdc_tokens_count(t), sizeof want / sizeof want[0]);
            for (size_t i = 0; i < sizeof want / sizeof want[0] && i < sdc_tokens_count(t); i++)
                CHECK_EQ_STR(sdc_tokens_string(t, i), want[i]);
            sdc_tokens_destroy(t);
        }
        sdc_tokenizer_destroy(tok);
    }
    /* pad "!" splits every "!" out */
    sdc_tokenizer_params p = sdc_tokenizer_default_params();
    p.pad_token = "!";
    p.max_length = 8;
    CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, merges, ml, &p, &tok) == SDC_STATUS_OK);
    if (tok) {
        int32_t ids[8];
        size_t n_full;
        CHECK(sdc_tokenizer_encode(tok, "dog!!!", 6, ids, 8, &n_full) == SDC_STATUS_OK);
        CHECK_EQ_INT(n_full, 6);
        const int32_t excl = '!'; /* the byte symbols come first, in byte order */
        CHECK_EQ_INT(sdc_tokenizer_pad_id(tok), excl);
        CHECK(ids[2] == excl && ids[3] == excl && ids[4] == excl && ids[6] == excl &&
              ids[7] == excl);
        CHECK(ids[5] == sdc_tokenizer_eos_id(tok));
        sdc_tokenizer_destroy(tok);
    }
    sdc_free(ctx, vocab);
    sdc_free(ctx, merges);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Malformed input                                                                            */

static void expect_bad(sdc_context *ctx, const char *vocab, const char *merges, sdc_status want,
                       const char *needle1, const char *needle2)
{
    sdc_tokenizer *tok = (sdc_tokenizer *)1;
    sdc_status st = sdc_tokenizer_create_from_memory(ctx, vocab, strlen(vocab), merges,
                                                     strlen(merges), NULL, &tok);
    CHECK_MSG(st == want, "status %s (want %s) for vocab %.60s / merges %.60s: %s",
              sdc_status_string(st), sdc_status_string(want), vocab, merges,
              sdc_context_errmsg(ctx));
    CHECK(tok == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), needle1);
    if (needle2)
        CHECK_CONTAINS(sdc_context_errmsg(ctx), needle2);
    sdc_tokenizer_destroy(tok);
}

static void test_malformed(void)
{
    sdc_context *ctx = new_ctx();
    static const char ok_vocab[] = "{\"a\": 0, \"b\": 1, \"ab</w>\": 2, \"b</w>\": 3, "
                                   "\"<|startoftext|>\": 4, \"<|endoftext|>\": 5}";
    static const char ok_merges[] = "#version: 0.2\na b</w>\n";
    /* the baseline loads */
    sdc_tokenizer *tok = NULL;
    CHECK(sdc_tokenizer_create_from_memory(ctx, ok_vocab, strlen(ok_vocab), ok_merges,
                                           strlen(ok_merges), NULL, &tok) == SDC_STATUS_OK);
    sdc_tokenizer_destroy(tok);

    /* vocab.json */
    expect_bad(ctx, "[\"a\", \"b\"]", ok_merges, SDC_STATUS_FORMAT, "vocab.json", "object");
    expect_bad(ctx, "{}", ok_merges, SDC_STATUS_FORMAT, "vocab.json", "0 tokens");
    expect_bad(ctx, "{\"a\": 0, \"b\": 1.5}", ok_merges, SDC_STATUS_FORMAT,
               "vocab.json (in memory):1:", "\"b\"");
    expect_bad(ctx, "{\"a\": 0,\n \"b\": \"1\"}", ok_merges, SDC_STATUS_FORMAT,
               "vocab.json (in memory):2:", "integer id");
    expect_bad(ctx, "{\"a\": 0, \"b\": -1}", ok_merges, SDC_STATUS_FORMAT, "\"b\"", "0 to 1");
    expect_bad(ctx, "{\"a\": 0, \"b\": 2}", ok_merges, SDC_STATUS_FORMAT, "\"b\"", "0 to 1");
    expect_bad(ctx, "{\"a\": 0, \"b\": 0}", ok_merges, SDC_STATUS_FORMAT, "\"b\" has id 0",
               "\"a\"");
    expect_bad(ctx, "{\"a\": 0, \"a\": 1}", ok_merges, SDC_STATUS_FORMAT, "vocab.json",
               "duplicate");
    expect_bad(ctx, "{\"a\": 0, ", ok_merges, SDC_STATUS_FORMAT, "vocab.json", NULL);
    expect_bad(ctx, "", ok_merges, SDC_STATUS_FORMAT, "vocab.json", NULL);
    expect_bad(ctx, "{\"a\": 0, \"b\": 1, \"ab</w>\": 2, \"b</w>\": 3, \"<|startoftext|>\": 4}",
               ok_merges, SDC_STATUS_NOT_FOUND, "<|endoftext|>", "vocab.json");
    expect_bad(ctx, "{\"a\": 0, \"b\": 1, \"ab</w>\": 2, \"b</w>\": 3, \"<|endoftext|>\": 4}",
               ok_merges, SDC_STATUS_NOT_FOUND, "<|startoftext|>", "bos");

    /* merges.txt */
    expect_bad(ctx, ok_vocab, "", SDC_STATUS_FORMAT, "merges.txt", "#version");
    expect_bad(ctx, ok_vocab, "a b</w>\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):1:", "#version");
    expect_bad(ctx, ok_vocab, "#version: 0.2\nab\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):2:", "two symbols");
    expect_bad(ctx, ok_vocab, "#version: 0.2\na b</w>\na b c\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):3:", "\"a b c\"");
    expect_bad(ctx, ok_vocab, "#version: 0.2\n\na b</w>\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):2:", "two symbols");
    expect_bad(ctx, ok_vocab, "#version: 0.2\na b\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):2:", "\"ab\", which is not in the vocabulary");
    expect_bad(ctx, ok_vocab, "#version: 0.2\na b</w>\na  b</w>\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):3:", "twice");
    expect_bad(ctx, ok_vocab, "#version: 0.2\na \xE2\x82\xAC\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):2:", "U+20AC");
    expect_bad(ctx, ok_vocab, "#version: 0.2\na b</w>\n\xFF b\n", SDC_STATUS_FORMAT,
               "merges.txt (in memory):3:", "UTF-8");

    CHECK(sdc_tokenizer_create_from_memory(ctx, ok_vocab, strlen(ok_vocab), NULL, 0, NULL,
                                           &tok) == SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "#version");
    CHECK(sdc_tokenizer_create_from_memory(ctx, NULL, 0, ok_merges, strlen(ok_merges), NULL,
                                           &tok) == SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "vocab.json");

    /* What transformers tolerates is accepted: CRLF line ends, leading blank lines, a
     * byte-order mark before the header, and lines past the 48894 it reads. */
    static const char *const tolerated[] = {
        "#version: 0.2\r\na b</w>\r\n", "\n\n#version: 0.2\na b</w>",
        "\xEF\xBB\xBF#version: 0.2\na b</w>\n", "#version: 0.2\n", "#version: 0.2"};
    for (size_t i = 0; i < sizeof tolerated / sizeof tolerated[0]; i++) {
        tok = NULL;
        CHECK_MSG(sdc_tokenizer_create_from_memory(ctx, ok_vocab, strlen(ok_vocab), tolerated[i],
                                                   strlen(tolerated[i]), NULL,
                                                   &tok) == SDC_STATUS_OK,
                  "merges case %zu: %s", i, sdc_context_errmsg(ctx));
        sdc_tokenizer_destroy(tok);
    }

    /* parameters */
    sdc_tokenizer_params p = sdc_tokenizer_default_params();
    p.pad_token = "<pad>";
    CHECK(sdc_tokenizer_create_from_memory(ctx, ok_vocab, strlen(ok_vocab), ok_merges,
                                           strlen(ok_merges), &p, &tok) == SDC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "pad token \"<pad>\"");
    p.pad_token = NULL;
    p.max_length = 1;
    CHECK(sdc_tokenizer_create_from_memory(ctx, ok_vocab, strlen(ok_vocab), ok_merges,
                                           strlen(ok_merges), &p,
                                           &tok) == SDC_STATUS_INVALID_ARGUMENT);
    CHECK(sdc_tokenizer_create_from_files(ctx, "/nonexistent/vocab.json", TEST_PATH_MERGES, NULL,
                                          &tok) == SDC_STATUS_IO);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "/nonexistent/vocab.json");
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* transformers reads 48894 merges: a bad line after them is ignored, in their place an error. */
static void test_merge_limit(void)
{
    sdc_context *ctx = new_ctx();
    char *merges = NULL, *vocab = NULL;
    size_t ml = 0, vl = 0;
    CHECK(sdc_file_read_all(ctx, TEST_PATH_MERGES, &merges, &ml) == SDC_STATUS_OK);
    CHECK(sdc_file_read_all(ctx, TEST_PATH_VOCAB, &vocab, &vl) == SDC_STATUS_OK);
    static const char bad_line[] = "not a merge line\n";
    const size_t bad_len = sizeof bad_line - 1;
    char *text = merges && vocab ? sdc_malloc(ctx, ml + bad_len + 1) : NULL;
    if (text) {
        while (ml > 0 && merges[ml - 1] == '\n')
            ml--;
        memcpy(text, merges, ml);
        text[ml] = '\n';
        memcpy(text + ml + 1, bad_line, bad_len);
        sdc_tokenizer *tok = NULL;
        CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, text, ml + 1 + bad_len, NULL,
                                               &tok) == SDC_STATUS_OK);
        sdc_tokenizer_destroy(tok);
        size_t last = ml; /* the start of the last merge line */
        while (last > 0 && text[last - 1] != '\n')
            last--;
        memcpy(text + last, bad_line, bad_len);
        CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, text, last + bad_len, NULL, &tok) ==
              SDC_STATUS_FORMAT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "merges.txt (in memory):48895:");
        sdc_free(ctx, text);
    }
    sdc_free(ctx, merges);
    sdc_free(ctx, vocab);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Tokenizer folders                                                                          */

static const char *make_folder(sdc_context *ctx, const char *name, const char *config,
                               const char *special_map)
{
    const char *dir = test_tmp_path(name);
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    CHECK(symlink(TEST_PATH_VOCAB, path) == 0);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    unlink(path);
    CHECK(symlink(TEST_PATH_MERGES, path) == 0);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    if (config)
        CHECK(sdc_file_write_all(ctx, path, config, strlen(config)) == SDC_STATUS_OK);
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    unlink(path);
    if (special_map)
        CHECK(sdc_file_write_all(ctx, path, special_map, strlen(special_map)) == SDC_STATUS_OK);
    return dir;
}

#define ADDED(s)                                                                                   \
    "{\"__type\": \"AddedToken\", \"content\": \"" s "\", \"lstrip\": false, "                     \
    "\"normalized\": true, \"rstrip\": false, \"single_word\": false}"

/* tokenizer_config.json as the SD model folders ship it, with the given pad_token value. */
static const char *sd_config(const char *pad_json)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"add_prefix_space\": false, \"bos_token\": %s, \"do_lower_case\": true, "
             "\"eos_token\": %s, \"errors\": \"replace\", \"model_max_length\": 77, "
             "\"pad_token\": %s, \"tokenizer_class\": \"CLIPTokenizer\", \"unk_token\": %s}",
             ADDED("<|startoftext|>"), ADDED("<|endoftext|>"), pad_json, ADDED("<|endoftext|>"));
    return buf;
}

static void folder_ids(sdc_context *ctx, const char *dir, const char *text, int32_t *ids,
                       size_t *n_full, sdc_status want)
{
    sdc_tokenizer *tok = NULL;
    sdc_status st = sdc_tokenizer_create_from_dir(ctx, dir, &tok);
    CHECK_MSG(st == want, "%s: %s", dir, sdc_context_errmsg(ctx));
    if (tok)
        CHECK(sdc_tokenizer_encode(tok, text, strlen(text), ids, 77, n_full) == SDC_STATUS_OK);
    sdc_tokenizer_destroy(tok);
}

static void test_folders(void)
{
    sdc_context *ctx = new_ctx();
    int32_t ids[77];
    size_t n;
    const char *text = "hello! <|endoftext|>";

    /* SD 1.x: pad <|endoftext|>; "!" merged by BPE */
    const char *sd1 = make_folder(ctx, "tok_sd1", sd_config(ADDED("<|endoftext|>")), NULL);
    folder_ids(ctx, sd1, text, ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[1] == 3306 && ids[2] == 256 && ids[3] == 49407 && ids[4] == 49407 &&
          ids[5] == 49407);
    /* SD 2.x: pad "!" as a plain string */
    const char *sd2 = make_folder(ctx, "tok_sd2", sd_config("\"!\""), NULL);
    folder_ids(ctx, sd2, text, ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[1] == 3306 && ids[2] == 0 && ids[3] == 49407 && ids[4] == 49407 &&
          ids[5] == 0 && ids[76] == 0);
    /* special_tokens_map.json overrides the config (no added_tokens_decoder) */
    const char *map = make_folder(ctx, "tok_map", sd_config("\"<|endoftext|>\""),
                                  "{\"pad_token\": {\"content\": \"!\", \"lstrip\": false}}");
    folder_ids(ctx, map, text, ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[2] == 0 && ids[76] == 0);
    /* ... but not when the config lists added_tokens_decoder, which also adds tokens */
    const char *dec = make_folder(
        ctx, "tok_dec",
        "{\"added_tokens_decoder\": {\"49406\": " ADDED("<|startoftext|>") ", \"49407\": " ADDED(
            "<|endoftext|>") ", \"320\": " ADDED("zebra") "}, \"pad_token\": \"<|endoftext|>\"}",
        "{\"pad_token\": \"!\"}");
    folder_ids(ctx, dec, "hello! zebra", ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[2] == 256 && ids[3] == 320 && ids[76] == 49407); /* BPE: 22548 */
    /* no config files: CLIPTokenizer's defaults */
    const char *bare = make_folder(ctx, "tok_bare", NULL, NULL);
    folder_ids(ctx, bare, text, ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[76] == 49407);
    /* "no limit" max length (transformers' 1e30) means 77 */
    const char *big = make_folder(ctx, "tok_big",
                                  "{\"model_max_length\": 1000000000000000019884624838656}", NULL);
    folder_ids(ctx, big, text, ids, &n, SDC_STATUS_OK);
    CHECK(n == 5 && ids[76] == 49407);

    /* errors */
    const char *t5 = make_folder(ctx, "tok_t5", "{\"tokenizer_class\": \"T5Tokenizer\"}", NULL);
    folder_ids(ctx, t5, text, ids, &n, SDC_STATUS_UNSUPPORTED);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "T5Tokenizer");
    const char *badpad = make_folder(ctx, "tok_badpad", "{\n\"pad_token\": 7}", NULL);
    folder_ids(ctx, badpad, text, ids, &n, SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "tokenizer_config.json:2:");
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "pad_token");
    const char *missing = make_folder(ctx, "tok_missing", "{\"pad_token\": \"<pad>\"}", NULL);
    folder_ids(ctx, missing, text, ids, &n, SDC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "<pad>");
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "tokenizer_config.json");
    const char *notjson = make_folder(ctx, "tok_notjson", "{\"pad_token\": ", NULL);
    folder_ids(ctx, notjson, text, ids, &n, SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "tokenizer_config.json");
    folder_ids(ctx, "/nonexistent/tokenizer", text, ids, &n, SDC_STATUS_NOT_FOUND);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "vocab.json");
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Allocation failures                                                                        */

static void test_fault_injection(void)
{
    sdc_context *ctx = new_ctx();
    size_t vl, ml;
    char *vocab = small_vocab(ctx, true, &vl), *merges = small_merges_text(ctx, &ml);
    size_t base = live_bytes(ctx);
    const char *text = "The CAT and the dog!!! cat\xC3\xA9 <|endoftext|> \xE6\x97\xA5\xE6\x9C\xAC "
                       "caf\xC3\xA9 cafe\xCC\x81 \xCE\xA3\xCE\xA3";
    sdc_tokenizer_params p = sdc_tokenizer_default_params();
    p.pad_token = "!";

    /* loading */
    uint64_t n = 1;
    for (;; n++) {
        sdc_tokenizer *tok = (sdc_tokenizer *)1;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = sdc_tokenizer_create_from_memory(ctx, vocab, vl, merges, ml, &p, &tok);
        sdc_alloc_fail_nth(ctx, 0);
        if (st == SDC_STATUS_OK) {
            sdc_tokenizer_destroy(tok);
            break;
        }
        CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "allocation %llu: %s", (unsigned long long)n,
                  sdc_context_errmsg(ctx));
        CHECK(tok == NULL);
        CHECK(sdc_context_errmsg(ctx)[0] != '\0');
        CHECK_EQ_INT(live_bytes(ctx), base);
        if (n > 10000)
            break;
    }
    CHECK(n > 5 && n < 10000);

    /* tokenizing: each failure is clean and the tokenizer still works afterwards */
    sdc_tokenizer *tok = NULL;
    CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, merges, ml, &p, &tok) == SDC_STATUS_OK);
    sdc_tokens *ref = NULL;
    if (tok && sdc_tokenizer_tokenize(tok, text, strlen(text), &ref) == SDC_STATUS_OK) {
        sdc_tokenizer_destroy(tok);
        base = live_bytes(ctx); /* with ref */
        size_t ref_n;
        const int32_t *ref_ids = sdc_tokens_untruncated_ids(ref, &ref_n);
        for (n = 1; n < 10000; n++) {
            CHECK(sdc_tokenizer_create_from_memory(ctx, vocab, vl, merges, ml, &p, &tok) ==
                  SDC_STATUS_OK);
            sdc_tokens *t = (sdc_tokens *)1;
            sdc_alloc_fail_nth(ctx, n);
            sdc_status st = sdc_tokenizer_tokenize(tok, text, strlen(text), &t);
            sdc_alloc_fail_nth(ctx, 0);
            bool done = st == SDC_STATUS_OK;
            if (!done) {
                CHECK_MSG(st == SDC_STATUS_OUT_OF_MEMORY, "allocation %llu: %s",
                          (unsigned long long)n, sdc_context_errmsg(ctx));
                CHECK(t == NULL);
                CHECK(sdc_tokenizer_tokenize(tok, text, strlen(text), &t) == SDC_STATUS_OK);
            }
            if (t) {
                size_t got_n;
                const int32_t *got = sdc_tokens_untruncated_ids(t, &got_n);
                CHECK(got_n == ref_n && memcmp(got, ref_ids, got_n * sizeof(int32_t)) == 0);
                sdc_tokens_destroy(t);
            }
            sdc_tokenizer_destroy(tok);
            CHECK_EQ_INT(live_bytes(ctx), base);
            if (done)
                break;
        }
        CHECK(n > 3 && n < 10000);
    } else {
        sdc_tokenizer_destroy(tok);
    }
    sdc_tokens_destroy(ref);
    sdc_free(ctx, vocab);
    sdc_free(ctx, merges);
    CHECK_EQ_INT(live_bytes(ctx), 0);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture_corpus);
    RUN(test_truncation);
    RUN(test_small_vocab);
    RUN(test_malformed);
    RUN(test_merge_limit);
    RUN(test_folders);
    RUN(test_fault_injection);
    return test_finish();
}
