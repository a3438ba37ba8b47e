/*
 * tokenizer.c — the public tokenizer API of sdc.h: loading a diffusers tokenizer folder the way
 * transformers' from_pretrained reads it (tokenizer_config.json, then special_tokens_map.json
 * unless the config lists added_tokens_decoder), truncation and padding as
 * tokenizer(prompt, padding="max_length", max_length=77, truncation=True) does, and the
 * sdc_tokens report.
 */
#include "tokenizer/tokenizer.h"

#include "io/io.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct sdc_tokens {
    sdc_context *ctx;
    int32_t *ids; /* [max_length] */
    size_t n_ids;
    int32_t *untruncated; /* [count + 2] */
    size_t n_untruncated;
    char **strings; /* [count], into string_block */
    char *string_block;
    size_t count, kept;
    char *truncated_text;
};

sdc_tokenizer_params sdc_tokenizer_default_params(void)
{
    return (sdc_tokenizer_params){.pad_token = NULL, .max_length = 0};
}

/* ---------------------------------------------------------------------------------------- */
/* Tokenizer folders                                                                          */

#define MAX_CONFIG_ADDED 4096

typedef struct folder_config {
    sdc_tok_clip_config cfg;
    sdc_tok_added *added; /* cfg.added */
    sdc_json_doc *config_doc, *map_doc;
    char source[64];
} folder_config;

/* A special token value: "text" or {"content": "text", ...}; null leaves *out alone. */
static sdc_status token_value(sdc_context *ctx, const sdc_json *v, const char *path,
                              const char *key, const char **out)
{
    if (v->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (v->type == SDC_JSON_TYPE_OBJECT)
        v = sdc_json_get(v, "content") ? sdc_json_get(v, "content") : v;
    if (v->type != SDC_JSON_TYPE_STRING || strlen(v->u.string.chars) != v->u.string.len)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s:%u:%u: %s: expected a token string or an object with a \"content\" "
                        "string",
                        path, v->line, v->column, key);
    *out = v->u.string.chars;
    return SDC_STATUS_OK;
}

static sdc_status read_specials(sdc_context *ctx, const sdc_json *root, const char *path,
                                folder_config *fc)
{
    static const char *const keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    const char **slots[4] = {&fc->cfg.bos, &fc->cfg.eos, &fc->cfg.unk, &fc->cfg.pad};
    for (int k = 0; k < 4; k++) {
        const sdc_json *v = sdc_json_get(root, keys[k]);
        if (v) {
            sdc_status st = token_value(ctx, v, path, keys[k], slots[k]);
            if (st != SDC_STATUS_OK)
                return st;
        }
    }
    return SDC_STATUS_OK;
}

static sdc_status add_config_token(sdc_context *ctx, folder_config *fc, const char *content,
                                   size_t len, int64_t id, const char *path, const sdc_json *at)
{
    if (fc->cfg.n_added == MAX_CONFIG_ADDED)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED, "%s:%u:%u: more than %d added tokens", path,
                        at->line, at->column, MAX_CONFIG_ADDED);
    fc->added[fc->cfg.n_added++] = (sdc_tok_added){content, len, id};
    return SDC_STATUS_OK;
}

/* added_tokens_decoder: {"49406": {"content": "<|startoftext|>", ...}, ...} */
static sdc_status read_added_decoder(sdc_context *ctx, const sdc_json *dec, const char *path,
                                     folder_config *fc)
{
    if (dec->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s:%u:%u: added_tokens_decoder: expected an object of id -> token", path,
                        dec->line, dec->column);
    for (size_t i = 0; i < dec->u.object.count; i++) {
        const sdc_json_member *m = &dec->u.object.members[i];
        int64_t id = 0;
        bool ok = m->key_len > 0 && m->key_len <= 10;
        for (size_t k = 0; ok && k < m->key_len; k++) {
            ok = m->key[k] >= '0' && m->key[k] <= '9';
            id = id * 10 + (m->key[k] - '0');
        }
        const sdc_json *content = sdc_json_get_type(m->value, "content", SDC_JSON_TYPE_STRING);
        if (!ok || id > INT32_MAX || !content)
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s:%u:%u: added_tokens_decoder: expected \"<id>\": {\"content\": "
                            "\"<token>\", ...} with an id from 0 to %d",
                            path, m->value->line, m->value->column, INT32_MAX);
        sdc_status st = add_config_token(ctx, fc, content->u.string.chars, content->u.string.len,
                                         id, path, m->value);
        if (st != SDC_STATUS_OK)
            return st;
    }
    return SDC_STATUS_OK;
}

static sdc_status read_json_file(sdc_context *ctx, const char *path, sdc_json_doc **doc)
{
    char *text = NULL;
    size_t size = 0;
    sdc_status st = sdc_file_read_all(ctx, path, &text, &size);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_json_parse(ctx, text, size, path, doc);
    sdc_free(ctx, text);
    if (st == SDC_STATUS_OK && (*doc)->root->type != SDC_JSON_TYPE_OBJECT) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object (got %s)", path,
                      sdc_json_type_name((*doc)->root->type));
        sdc_json_free(*doc);
        *doc = NULL;
    }
    return st;
}

static sdc_status read_folder_config(sdc_context *ctx, const char *config_path,
                                     const char *map_path, folder_config *fc)
{
    sdc_status st = SDC_STATUS_OK;
    fc->added = sdc_malloc(ctx, MAX_CONFIG_ADDED * sizeof(sdc_tok_added));
    if (!fc->added)
        return sdc_fail_oom(ctx, "the added tokens", MAX_CONFIG_ADDED * sizeof(sdc_tok_added));
    fc->cfg.added = fc->added;
    snprintf(fc->source, sizeof fc->source, "the tokenizer folder's defaults");
    fc->cfg.source = fc->source;

    bool have_decoder = false;
    if (access(config_path, F_OK) == 0) {
        if ((st = read_json_file(ctx, config_path, &fc->config_doc)) != SDC_STATUS_OK)
            return st;
        const sdc_json *root = fc->config_doc->root;
        snprintf(fc->source, sizeof fc->source, "tokenizer_config.json");
        const sdc_json *cls = sdc_json_get_type(root, "tokenizer_class", SDC_JSON_TYPE_STRING);
        if (cls && strcmp(cls->u.string.chars, "CLIPTokenizer") != 0 &&
            strcmp(cls->u.string.chars, "CLIPTokenizerFast") != 0)
            return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                            "%s:%u:%u: tokenizer_class \"%s\" is not supported (CLIPTokenizer "
                            "expected)",
                            config_path, cls->line, cls->column, cls->u.string.chars);
        const sdc_json *mml = sdc_json_get(root, "model_max_length");
        if (mml) {
            /* transformers writes 1e30 for "no known limit"; the CLIP encoders take 77. */
            if (mml->type != SDC_JSON_TYPE_NUMBER || mml->u.number.value < 2)
                return sdc_fail(ctx, SDC_STATUS_FORMAT,
                                "%s:%u:%u: model_max_length: expected a number of tokens "
                                "(77 for CLIP)",
                                config_path, mml->line, mml->column);
            if (mml->u.number.is_int && mml->u.number.int_value <= (1 << 20))
                fc->cfg.max_length = (int)mml->u.number.int_value;
        }
        if ((st = read_specials(ctx, root, config_path, fc)) != SDC_STATUS_OK)
            return st;
        const sdc_json *dec = sdc_json_get(root, "added_tokens_decoder");
        if (dec) {
            have_decoder = true;
            if ((st = read_added_decoder(ctx, dec, config_path, fc)) != SDC_STATUS_OK)
                return st;
        }
    }
    /* Without added_tokens_decoder, transformers lets special_tokens_map.json override. */
    if (!have_decoder && access(map_path, F_OK) == 0) {
        if ((st = read_json_file(ctx, map_path, &fc->map_doc)) != SDC_STATUS_OK)
            return st;
        const sdc_json *root = fc->map_doc->root;
        snprintf(fc->source, sizeof fc->source, "%s",
                 fc->config_doc ? "tokenizer_config.json and special_tokens_map.json"
                                : "special_tokens_map.json");
        if ((st = read_specials(ctx, root, map_path, fc)) != SDC_STATUS_OK)
            return st;
        const sdc_json *extra = sdc_json_get(root, "additional_special_tokens");
        if (extra && extra->type != SDC_JSON_TYPE_ARRAY)
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s:%u:%u: additional_special_tokens: expected an array", map_path,
                            extra->line, extra->column);
        for (size_t i = 0; extra && i < extra->u.array.count; i++) {
            const char *content = NULL;
            const sdc_json *v = extra->u.array.items[i];
            if ((st = token_value(ctx, v, map_path, "additional_special_tokens", &content)) !=
                SDC_STATUS_OK)
                return st;
            if (content && (st = add_config_token(ctx, fc, content, strlen(content), -1, map_path,
                                                  v)) != SDC_STATUS_OK)
                return st;
        }
    }
    return SDC_STATUS_OK;
}

static void free_folder_config(sdc_context *ctx, folder_config *fc)
{
    sdc_free(ctx, fc->added);
    sdc_json_free(fc->config_doc);
    sdc_json_free(fc->map_doc);
}

static sdc_status create_from_paths(sdc_context *ctx, const char *vocab_path,
                                    const char *merges_path, const sdc_tok_clip_config *cfg,
                                    sdc_tokenizer **out)
{
    sdc_mapped_file vocab = {0}, merges = {0};
    sdc_status st = sdc_file_map(ctx, vocab_path, &vocab);
    if (st != SDC_STATUS_OK)
        return st;
    if ((st = sdc_file_map(ctx, merges_path, &merges)) != SDC_STATUS_OK)
        goto unmap_vocab;
    st = sdc_tok_clip_create(ctx, (const char *)vocab.data, vocab.size, vocab_path,
                             (const char *)merges.data, merges.size, merges_path, cfg, out);
    sdc_file_unmap(ctx, &merges);
unmap_vocab:
    sdc_file_unmap(ctx, &vocab);
    return st;
}

sdc_status sdc_tokenizer_create_from_dir(sdc_context *ctx, const char *dir, sdc_tokenizer **out)
{
    *out = NULL;
    if (!dir)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "tokenizer: no folder given");
    static const char *const names[4] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                         "special_tokens_map.json"};
    char *paths[4] = {NULL, NULL, NULL, NULL};
    folder_config fc = {0};
    sdc_status st = SDC_STATUS_OK;
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(dir) + strlen(names[k]) + 2;
        paths[k] = sdc_malloc(ctx, n);
        if (!paths[k]) {
            st = sdc_fail_oom(ctx, "a file name", n);
            goto done;
        }
        snprintf(paths[k], n, "%s/%s", dir, names[k]);
    }
    if (access(paths[0], F_OK) != 0) {
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND,
                      "%s: no vocab.json; expected a diffusers tokenizer folder (vocab.json, "
                      "merges.txt, tokenizer_config.json)",
                      dir);
        goto done;
    }
    if ((st = read_folder_config(ctx, paths[2], paths[3], &fc)) != SDC_STATUS_OK)
        goto done;
    st = create_from_paths(ctx, paths[0], paths[1], &fc.cfg, out);
done:
    free_folder_config(ctx, &fc);
    for (int k = 0; k < 4; k++)
        sdc_free(ctx, paths[k]);
    return st;
}

static sdc_tok_clip_config params_config(const sdc_tokenizer_params *params)
{
    sdc_tok_clip_config cfg = {0};
    if (params) {
        cfg.pad = params->pad_token;
        cfg.max_length = params->max_length;
    }
    cfg.source = "tokenizer parameters";
    return cfg;
}

sdc_status sdc_tokenizer_create_from_files(sdc_context *ctx, const char *vocab_path,
                                           const char *merges_path,
                                           const sdc_tokenizer_params *params, sdc_tokenizer **out)
{
    *out = NULL;
    if (!vocab_path || !merges_path)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "tokenizer: both a vocab.json and a merges.txt path are needed");
    sdc_tok_clip_config cfg = params_config(params);
    return create_from_paths(ctx, vocab_path, merges_path, &cfg, out);
}

sdc_status sdc_tokenizer_create_from_memory(sdc_context *ctx, const void *vocab_json,
                                            size_t vocab_size, const void *merges_txt,
                                            size_t merges_size, const sdc_tokenizer_params *params,
                                            sdc_tokenizer **out)
{
    *out = NULL;
    if ((!vocab_json && vocab_size) || (!merges_txt && merges_size))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "tokenizer: NULL data with a size");
    sdc_tok_clip_config cfg = params_config(params);
    return sdc_tok_clip_create(ctx, vocab_json, vocab_size, "vocab.json (in memory)", merges_txt,
                               merges_size, "merges.txt (in memory)", &cfg, out);
}

void sdc_tokenizer_destroy(sdc_tokenizer *tok)
{
    sdc_tok_clip_destroy(tok);
}

int sdc_tokenizer_max_length(const sdc_tokenizer *tok)
{
    return sdc_tok_clip_max_length(tok);
}
int32_t sdc_tokenizer_bos_id(const sdc_tokenizer *tok)
{
    return sdc_tok_clip_bos_id(tok);
}
int32_t sdc_tokenizer_eos_id(const sdc_tokenizer *tok)
{
    return sdc_tok_clip_eos_id(tok);
}
int32_t sdc_tokenizer_pad_id(const sdc_tokenizer *tok)
{
    return sdc_tok_clip_pad_id(tok);
}
size_t sdc_tokenizer_vocab_size(const sdc_tokenizer *tok)
{
    return sdc_tok_clip_vocab_size(tok);
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                   */

/* bos + the first max_length - 2 tokens + eos, padded: prepare_for_model's truncation and
 * padding. Returns how many of the tokens were kept. */
static size_t fill_ids(const sdc_tokenizer *tok, const sdc_tok_token *tokens, size_t count,
                       int32_t *ids)
{
    size_t max = (size_t)sdc_tok_clip_max_length(tok);
    size_t kept = count < max - 2 ? count : max - 2, n = 0;
    ids[n++] = sdc_tok_clip_bos_id(tok);
    for (size_t i = 0; i < kept; i++)
        ids[n++] = tokens[i].id;
    ids[n++] = sdc_tok_clip_eos_id(tok);
    while (n < max)
        ids[n++] = sdc_tok_clip_pad_id(tok);
    return kept;
}

sdc_status sdc_tokenizer_encode(sdc_tokenizer *tok, const char *text, size_t text_len, int32_t *ids,
                                size_t n_ids, size_t *n_untruncated)
{
    sdc_context *ctx = sdc_tok_clip_context(tok);
    size_t max = (size_t)sdc_tok_clip_max_length(tok);
    if (!ids || n_ids < max)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "tokenizer: room for %zu ids given; the tokenizer writes %zu", n_ids, max);
    const sdc_tok_token *tokens;
    size_t count;
    sdc_status st = sdc_tok_clip_tokenize(tok, text, text_len, &tokens, &count);
    if (st != SDC_STATUS_OK)
        return st;
    fill_ids(tok, tokens, count, ids);
    if (n_untruncated)
        *n_untruncated = count + 2;
    return SDC_STATUS_OK;
}

sdc_status sdc_tokenizer_tokenize(sdc_tokenizer *tok, const char *text, size_t text_len,
                                  sdc_tokens **out)
{
    sdc_context *ctx = sdc_tok_clip_context(tok);
    *out = NULL;
    const sdc_tok_token *tokens;
    size_t count;
    sdc_status st = sdc_tok_clip_tokenize(tok, text, text_len, &tokens, &count);
    if (st != SDC_STATUS_OK)
        return st;
    size_t max = (size_t)sdc_tok_clip_max_length(tok), chars = 0, len = 0;
    for (size_t i = 0; i < count; i++)
        chars += tokens[i].len + 1;
    sdc_tokens *t = sdc_calloc(ctx, 1, sizeof *t);
    if (!t)
        return sdc_fail_oom(ctx, "a token list", sizeof *t);
    t->ctx = ctx;
    t->ids = sdc_malloc(ctx, max * sizeof(int32_t));
    t->untruncated = sdc_malloc(ctx, (count + 2) * sizeof(int32_t));
    t->strings = sdc_malloc(ctx, (count ? count : 1) * sizeof(char *));
    t->string_block = sdc_malloc(ctx, chars ? chars : 1);
    if (!t->ids || !t->untruncated || !t->strings || !t->string_block) {
        st = sdc_fail_oom(ctx, "a token list",
                          max * sizeof(int32_t) + (count + 2) * (sizeof(int32_t) + sizeof(char *)) +
                              chars);
        goto fail;
    }
    t->n_ids = max;
    t->count = count;
    t->kept = fill_ids(tok, tokens, count, t->ids);
    t->n_untruncated = count + 2;
    t->untruncated[0] = sdc_tok_clip_bos_id(tok);
    char *s = t->string_block;
    for (size_t i = 0; i < count; i++) {
        t->untruncated[i + 1] = tokens[i].id;
        memcpy(s, tokens[i].str, tokens[i].len);
        s[tokens[i].len] = '\0';
        t->strings[i] = s;
        s += tokens[i].len + 1;
    }
    t->untruncated[count + 1] = sdc_tok_clip_eos_id(tok);
    /* Decoding reuses nothing of the tokenizer's last result, so `tokens` stays valid. */
    if (t->kept < count && (st = sdc_tok_clip_decode(tok, tokens + t->kept, count - t->kept,
                                                     &t->truncated_text, &len)) != SDC_STATUS_OK)
        goto fail;
    if (!t->truncated_text) {
        t->truncated_text = sdc_strdup(ctx, "");
        if (!t->truncated_text) {
            st = sdc_fail_oom(ctx, "a token list", 1);
            goto fail;
        }
    }
    *out = t;
    return SDC_STATUS_OK;

fail:
    sdc_tokens_destroy(t);
    return st;
}

void sdc_tokens_destroy(sdc_tokens *t)
{
    if (!t)
        return;
    sdc_context *ctx = t->ctx;
    sdc_free(ctx, t->ids);
    sdc_free(ctx, t->untruncated);
    sdc_free(ctx, t->strings);
    sdc_free(ctx, t->string_block);
    sdc_free(ctx, t->truncated_text);
    sdc_free(ctx, t);
}

const int32_t *sdc_tokens_ids(const sdc_tokens *t, size_t *count)
{
    if (count)
        *count = t->n_ids;
    return t->ids;
}

const int32_t *sdc_tokens_untruncated_ids(const sdc_tokens *t, size_t *count)
{
    if (count)
        *count = t->n_untruncated;
    return t->untruncated;
}

size_t sdc_tokens_count(const sdc_tokens *t)
{
    return t->count;
}

const char *sdc_tokens_string(const sdc_tokens *t, size_t i)
{
    return i < t->count ? t->strings[i] : NULL;
}

size_t sdc_tokens_kept(const sdc_tokens *t)
{
    return t->kept;
}

const char *sdc_tokens_truncated_text(const sdc_tokens *t)
{
    return t->truncated_text;
}
