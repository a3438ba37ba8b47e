/*
 * clip_builtin.c — the CLIP BPE vocabulary built into the library, for checkpoints that carry
 * no tokenizer (single-file .safetensors / .ckpt). Only merges.txt is embedded (generated at
 * build time by cmake/embed.cmake from tests/data/clip, MIT, OpenAI); vocab.json is derived
 * from it the way OpenAI's CLIP SimpleTokenizer builds its encoder: the 256 byte symbols, the
 * same with "</w>", one token per merge, then <|startoftext|> and <|endoftext|>.
 */
#include "io/io.h"
#include "tokenizer/tokenizer.h"

#include <string.h>

extern const unsigned char sdc_tok_clip_merges_txt[];
extern const size_t sdc_tok_clip_merges_txt_size;

/* UTF-8 of the code point CLIP's bytes_to_unicode gives token `id` < 256: the printable
 * bytes 33-126, 161-172 and 174-255 stand for themselves, the other 68 bytes map to 256-323
 * in byte order. */
static size_t byte_symbol(int id, char *out)
{
    static const int printable[][2] = {{33, 126}, {161, 172}, {174, 255}};
    unsigned cp = 0;
    int k = id;
    for (size_t r = 0; r < sizeof printable / sizeof printable[0]; r++) {
        int n = printable[r][1] - printable[r][0] + 1;
        if (k < n) {
            cp = (unsigned)(printable[r][0] + k);
            break;
        }
        k -= n;
        if (r + 1 == sizeof printable / sizeof printable[0])
            cp = 256u + (unsigned)k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Appends `"token": id` (with a leading comma after the first) to the JSON text. */
static void add_token(sdc_buf *json, const char *token, size_t len, int id)
{
    if (id > 0)
        sdc_buf_append(json, ",", 1);
    sdc_buf_append(json, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '"' || token[i] == '\\')
            sdc_buf_append(json, "\\", 1);
        sdc_buf_append(json, &token[i], 1);
    }
    sdc_buf_printf(json, "\":%d", id);
}

sdc_status sdc_tok_clip_builtin_vocab(sdc_context *ctx, char **vocab_json, size_t *vocab_size,
                                      const char **merges_txt, size_t *merges_size)
{
    sdc_buf json;
    sdc_buf_init(&json, ctx);
    sdc_buf_append(&json, "{", 1);
    int id = 0;
    char symbol[8];
    for (int suffix = 0; suffix < 2; suffix++) {
        for (int b = 0; b < 256; b++) {
            size_t n = byte_symbol(b, symbol);
            if (suffix) {
                memcpy(symbol + n, "</w>", 4);
                n += 4;
            }
            add_token(&json, symbol, n, id++);
        }
    }
    /* Merge lines after the "#version" line, up to the count transformers reads; each "a b"
     * adds the token "ab". */
    const char *p = (const char *)sdc_tok_clip_merges_txt;
    const char *end = p + sdc_tok_clip_merges_txt_size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
    for (int k = 0; k < SDC_TOK_CLIP_MAX_MERGES && p < end; k++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *space = memchr(p, ' ', (size_t)(line_end - p));
        if (!space) {
            sdc_buf_free(&json);
            return sdc_fail(ctx, SDC_STATUS_INTERNAL,
                            "built-in CLIP merges: merge %d has no space (the embedded "
                            "merges.txt is damaged)",
                            k + 1);
        }
        sdc_buf_append(&json, id > 0 ? ",\"" : "\"", id > 0 ? 2 : 1);
        for (const char *q = p; q < line_end; q++) {
            if (q == space)
                continue;
            if (*q == '"' || *q == '\\')
                sdc_buf_append(&json, "\\", 1);
            sdc_buf_append(&json, q, 1);
        }
        sdc_buf_printf(&json, "\":%d", id++);
        p = nl ? nl + 1 : end;
    }
    add_token(&json, "<|startoftext|>", strlen("<|startoftext|>"), id++);
    add_token(&json, "<|endoftext|>", strlen("<|endoftext|>"), id++);
    sdc_buf_append(&json, "}", 1);
    if (json.failed) {
        size_t cap = json.cap;
        sdc_buf_free(&json);
        return sdc_fail_oom(ctx, "the built-in CLIP vocabulary", cap * 2);
    }
    *vocab_json = json.data;
    *vocab_size = json.len;
    *merges_txt = (const char *)sdc_tok_clip_merges_txt;
    *merges_size = sdc_tok_clip_merges_txt_size;
    return SDC_STATUS_OK;
}

sdc_status sdc_tok_clip_builtin(sdc_context *ctx, const sdc_tokenizer_params *params,
                                sdc_tokenizer **out)
{
    char *vocab = NULL;
    size_t vocab_size = 0, merges_size = 0;
    const char *merges = NULL;
    *out = NULL;
    sdc_status st = sdc_tok_clip_builtin_vocab(ctx, &vocab, &vocab_size, &merges, &merges_size);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_tokenizer_create_from_memory(ctx, vocab, vocab_size, merges, merges_size, params, out);
    sdc_free(ctx, vocab);
    return st;
}
