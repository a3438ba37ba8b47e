/*
 * clip_bpe.c — CLIP's byte-level BPE tokenizer, token for token what transformers 4.44.2's
 * CLIPTokenizer (slow, without ftfy) gives: the added-token split of tokenize(), BasicTokenizer
 * (strip_accents=False, do_split_on_punc=False), the pattern
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * (IGNORECASE), bytes_to_unicode() and bpe(). Deliberate differences: malformed merges.txt lines,
 * duplicate merges and merges whose result is not in vocab.json are errors (transformers skips or
 * overwrites them), and the word cache is bounded. Added tokens are matched leftmost-longest,
 * which is what transformers' Trie does for any set where no token contains another.
 */
#include "tokenizer/tokenizer.h"

#include "io/io.h"
#include "tokenizer/unicode.h"

#include <string.h>

/* A string of the vocabulary or a BPE symbol (every merge operand and result), interned:
 * equal strings have one entry, so symbols compare by index. */
typedef struct str_entry {
    const char *s; /* NUL-terminated, in tok->strings */
    uint32_t len;
    uint32_t hash;
    int32_t vocab_id; /* -1: not a key of vocab.json */
    int32_t id;       /* convert_tokens_to_ids(): added token, else vocab, else unk */
} str_entry;

/* One merge: the pair (first, second) of entry indices, its rank and the merged entry. */
typedef struct pair_slot {
    uint64_t key; /* first << 32 | second; PAIR_EMPTY when unused */
    uint32_t rank;
    uint32_t merged;
} pair_slot;
#define PAIR_EMPTY UINT64_MAX

typedef struct added_token {
    const char *content; /* in tok->strings */
    uint32_t len;
    int32_t id;
} added_token;

/* The word cache: raw UTF-8 of a pattern match -> its BPE symbols. Fixed budgets, emptied when
 * full, so encoding allocates nothing for it. */
#define CACHE_SLOTS       8192 /* power of two */
#define CACHE_MAX_ENTRIES 4096
#define CACHE_KEY_BYTES   65536
#define CACHE_MAX_SYMS    32768
#define CACHE_MAX_WORD    64 /* longer words are not cached */

typedef struct cache_entry {
    uint32_t key_off, key_len, hash, sym_off, n_syms;
} cache_entry;

typedef struct word_cache {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    cache_entry *entries;
    unsigned char *keys;
    uint32_t *syms;
    uint32_t n_entries, key_used, syms_used;
} word_cache;

struct sdc_tokenizer {
    sdc_context *ctx;
    sdc_arena strings;

    str_entry *entries; /* the string table */
    size_t n_entries, cap_entries;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t slot_mask;

    uint32_t *vocab_entry; /* [n_vocab]: entry index of each id */
    size_t n_vocab;

    pair_slot *pairs;
    size_t pair_mask;
    size_t n_merges;

    uint16_t byte_cp[256];      /* bytes_to_unicode(): byte -> code point */
    int16_t cp_byte[0x144];     /* and back, -1 for code points it does not produce */
    uint32_t byte_sym[256];     /* entry of the one-character symbol of each byte */
    uint32_t byte_eow_sym[256]; /* ... and of that character + "</w>" */

    added_token *added;
    size_t n_added;
    int32_t bos_id, eos_id, unk_id, pad_id;
    int max_length;

    word_cache cache;

    /* Scratch of one tokenisation. */
    sdc_tok_cps text, clean, nfc_scratch, lowered;
    unsigned char *word;
    size_t word_cap;
    void *bpe_mem;
    size_t bpe_cap; /* symbols the BPE arrays hold */
    sdc_tok_token *out;
    size_t n_out, cap_out;
};

static const char START_OF_TEXT[] = "<|startoftext|>";
static const char END_OF_TEXT[] = "<|endoftext|>";

/* ---------------------------------------------------------------------------------------- */
/* The string table                                                                           */

static uint32_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static int64_t str_find(const sdc_tokenizer *tok, const void *s, size_t len, uint32_t hash)
{
    for (size_t i = hash & tok->slot_mask;; i = (i + 1) & tok->slot_mask) {
        uint32_t slot = tok->slots[i];
        if (slot == 0)
            return -1;
        const str_entry *e = &tok->entries[slot - 1];
        if (e->hash == hash && e->len == len && memcmp(e->s, s, len) == 0)
            return slot - 1;
    }
}

static sdc_status str_grow(sdc_tokenizer *tok)
{
    sdc_context *ctx = tok->ctx;
    if (tok->n_entries == tok->cap_entries) {
        size_t cap = tok->cap_entries ? tok->cap_entries * 2 : 1024, bytes;
        if (cap > INT32_MAX || !sdc_size_mul(cap, sizeof(str_entry), &bytes))
            return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: too many strings");
        str_entry *e = sdc_realloc(ctx, tok->entries, bytes);
        if (!e)
            return sdc_fail_oom(ctx, "the tokenizer's string table", bytes);
        tok->entries = e;
        tok->cap_entries = cap;
    }
    if ((tok->n_entries + 1) * 2 <= tok->slot_mask + 1)
        return SDC_STATUS_OK;
    size_t n_slots = (tok->slot_mask + 1) * 2, bytes;
    if (!sdc_size_mul(n_slots, sizeof(uint32_t), &bytes))
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: too many strings");
    uint32_t *slots = sdc_calloc(ctx, n_slots, sizeof(uint32_t));
    if (!slots)
        return sdc_fail_oom(ctx, "the tokenizer's string index", bytes);
    for (size_t k = 0; k < tok->n_entries; k++) {
        size_t i = tok->entries[k].hash & (n_slots - 1);
        while (slots[i])
            i = (i + 1) & (n_slots - 1);
        slots[i] = (uint32_t)k + 1;
    }
    sdc_free(ctx, tok->slots);
    tok->slots = slots;
    tok->slot_mask = n_slots - 1;
    return SDC_STATUS_OK;
}

/* The entry of s, created if new. */
static sdc_status str_intern(sdc_tokenizer *tok, const void *s, size_t len, uint32_t *index)
{
    uint32_t hash = hash_bytes(s, len);
    int64_t found = str_find(tok, s, len, hash);
    if (found >= 0) {
        *index = (uint32_t)found;
        return SDC_STATUS_OK;
    }
    if (len > UINT32_MAX - 1)
        return sdc_fail(tok->ctx, SDC_STATUS_FORMAT, "tokenizer: a token of %zu bytes", len);
    sdc_status st = str_grow(tok);
    if (st != SDC_STATUS_OK)
        return st;
    char *copy = sdc_arena_alloc(&tok->strings, len + 1, 1);
    if (!copy)
        return sdc_fail_oom(tok->ctx, "the tokenizer's strings", len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    size_t k = tok->n_entries++;
    tok->entries[k] = (str_entry){copy, (uint32_t)len, hash, -1, -1};
    size_t i = hash & tok->slot_mask;
    while (tok->slots[i])
        i = (i + 1) & tok->slot_mask;
    tok->slots[i] = (uint32_t)k + 1;
    *index = (uint32_t)k;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Merges                                                                                     */

static size_t pair_hash(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static const pair_slot *pair_find(const sdc_tokenizer *tok, uint32_t a, uint32_t b)
{
    if (!tok->pairs)
        return NULL;
    uint64_t key = (uint64_t)a << 32 | b;
    for (size_t i = pair_hash(key, tok->pair_mask);; i = (i + 1) & tok->pair_mask) {
        if (tok->pairs[i].key == key)
            return &tok->pairs[i];
        if (tok->pairs[i].key == PAIR_EMPTY)
            return NULL;
    }
}

/* Python's str.split() fields of one merges.txt line (ASCII whitespace; the symbols are
 * byte-level unicode, which holds no other whitespace). */
static size_t split_fields(const char *line, size_t len, const char **field, size_t *field_len,
                           size_t max)
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || (line[i] >= '\t' && line[i] <= '\r')))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !(line[i] == ' ' || (line[i] >= '\t' && line[i] <= '\r')))
            i++;
        if (n < max) {
            field[n] = line + start;
            field_len[n] = i - start;
        }
        n++;
    }
    return n;
}

/* True when every code point of s is one bytes_to_unicode() produces; else *bad is the first
 * that is not. */
static bool in_alphabet(const sdc_tokenizer *tok, const char *s, size_t len, uint32_t *bad)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        uint32_t cp = sdc_tok_utf8_next(&p);
        if (cp >= 0x144 || tok->cp_byte[cp] < 0) {
            *bad = cp;
            return false;
        }
    }
    return true;
}

static sdc_status parse_merges(sdc_tokenizer *tok, const char *text, size_t len, const char *name)
{
    sdc_context *ctx = tok->ctx;
    char quoted[96];
    size_t bad;
    if (!text)
        text = ""; /* an empty file maps to NULL */
    if (!sdc_tok_utf8_valid((const unsigned char *)text, len, &bad)) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += text[i] == '\n';
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s:%zu: not UTF-8 (byte 0x%02x at offset %zu); merges.txt is UTF-8 text",
                        name, line, (unsigned char)text[bad], bad);
    }
    /* transformers: read().strip().split("\n")[1:48895]. */
    size_t pos = 0, line_no = 1;
    while (pos < len && (text[pos] == ' ' || (text[pos] >= '\t' && text[pos] <= '\r'))) {
        line_no += text[pos] == '\n';
        pos++;
    }
    while (len > pos && (text[len - 1] == ' ' || (text[len - 1] >= '\t' && text[len - 1] <= '\r')))
        len--;
    size_t header_end = pos;
    while (header_end < len && text[header_end] != '\n')
        header_end++;
    const char *header = text + pos;
    size_t header_len = header_end - pos;
    if (header_len >= 3 && memcmp(header, "\xEF\xBB\xBF", 3) == 0) {
        header += 3;
        header_len -= 3;
    }
    if (header_len < 8 || memcmp(header, "#version", 8) != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s:%zu: expected the header line \"#version: 0.2\" (got %s); is this "
                        "a CLIP merges.txt?",
                        name, line_no, sdc_json_quote(header, header_len, quoted, sizeof quoted));

    /* Count the merges that count, to size the pair table. */
    size_t n_lines = 0;
    for (size_t i = header_end; i < len && n_lines < SDC_TOK_CLIP_MAX_MERGES; i++)
        n_lines += text[i] == '\n';
    size_t n_slots = 16;
    while (n_slots < n_lines * 2)
        n_slots *= 2;
    tok->pairs = sdc_malloc(ctx, n_slots * sizeof(pair_slot));
    if (!tok->pairs)
        return sdc_fail_oom(ctx, "the tokenizer's merge table", n_slots * sizeof(pair_slot));
    for (size_t i = 0; i < n_slots; i++)
        tok->pairs[i].key = PAIR_EMPTY;
    tok->pair_mask = n_slots - 1;

    pos = header_end;
    uint32_t rank = 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    sdc_status st = SDC_STATUS_OK;
    while (pos < len && rank < SDC_TOK_CLIP_MAX_MERGES) {
        pos++; /* the '\n' */
        line_no++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        const char *line = text + pos;
        size_t line_len = end - pos;
        pos = end;

        const char *field[2];
        size_t field_len[2];
        size_t n_fields = split_fields(line, line_len, field, field_len, 2);
        if (n_fields != 2) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s:%zu: expected two symbols separated by a space (got %s)", name,
                          line_no, sdc_json_quote(line, line_len, quoted, sizeof quoted));
            goto done;
        }
        uint32_t sym[2];
        for (int k = 0; k < 2; k++) {
            uint32_t cp;
            if (!in_alphabet(tok, field[k], field_len[k], &cp)) {
                st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                              "%s:%zu: symbol %s holds U+%04X, which is not one of the 256 "
                              "byte-level characters BPE symbols are made of",
                              name, line_no,
                              sdc_json_quote(field[k], field_len[k], quoted, sizeof quoted),
                              (unsigned)cp);
                goto done;
            }
            if ((st = str_intern(tok, field[k], field_len[k], &sym[k])) != SDC_STATUS_OK)
                goto done;
        }
        size_t jl = field_len[0] + field_len[1];
        if (jl > joined_cap) {
            char *p = sdc_realloc(ctx, joined, jl);
            if (!p) {
                st = sdc_fail_oom(ctx, "a merged symbol", jl);
                goto done;
            }
            joined = p;
            joined_cap = jl;
        }
        memcpy(joined, field[0], field_len[0]);
        memcpy(joined + field_len[0], field[1], field_len[1]);
        int64_t merged = str_find(tok, joined, jl, hash_bytes(joined, jl));
        if (merged < 0 || tok->entries[merged].vocab_id < 0) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s:%zu: the merge gives %s, which is not in the vocabulary; do "
                          "vocab.json and merges.txt belong together?",
                          name, line_no, sdc_json_quote(joined, jl, quoted, sizeof quoted));
            goto done;
        }
        uint64_t key = (uint64_t)sym[0] << 32 | sym[1];
        size_t i = pair_hash(key, tok->pair_mask);
        while (tok->pairs[i].key != PAIR_EMPTY && tok->pairs[i].key != key)
            i = (i + 1) & tok->pair_mask;
        if (tok->pairs[i].key == key) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s:%zu: the merge %s appears twice (first as merge %u)", name, line_no,
                          sdc_json_quote(line, line_len, quoted, sizeof quoted),
                          (unsigned)(tok->pairs[i].rank + 1));
            goto done;
        }
        tok->pairs[i] = (pair_slot){key, rank, (uint32_t)merged};
        rank++;
    }
    tok->n_merges = rank;
done:
    sdc_free(ctx, joined);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Vocabulary and special tokens                                                              */

static sdc_status parse_vocab(sdc_tokenizer *tok, const char *text, size_t len, const char *name)
{
    sdc_context *ctx = tok->ctx;
    char quoted[96], quoted2[96];
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_json_parse_keyed(ctx, text, len, name, "token", &doc);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_json *root = doc->root;
    if (root->type != SDC_JSON_TYPE_OBJECT) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: expected an object mapping token strings to ids (got %s)", name,
                      sdc_json_type_name(root->type));
        goto done;
    }
    size_t n = root->u.object.count;
    if (n == 0 || n > INT32_MAX) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: %zu tokens; expected 1 to %d", name, n,
                      INT32_MAX);
        goto done;
    }
    /* Room for the vocabulary and as many merge symbols again without rehashing. */
    while (tok->slot_mask + 1 < 4 * n && tok->slot_mask < ((size_t)1 << 30)) {
        uint32_t *slots = sdc_calloc(ctx, (tok->slot_mask + 1) * 2, sizeof(uint32_t));
        if (!slots) {
            st = sdc_fail_oom(ctx, "the tokenizer's string index", (tok->slot_mask + 1) * 8);
            goto done;
        }
        sdc_free(ctx, tok->slots);
        tok->slots = slots;
        tok->slot_mask = tok->slot_mask * 2 + 1;
    }
    tok->vocab_entry = sdc_malloc(ctx, n * sizeof(uint32_t));
    if (!tok->vocab_entry) {
        st = sdc_fail_oom(ctx, "the vocabulary", n * sizeof(uint32_t));
        goto done;
    }
    memset(tok->vocab_entry, 0xFF, n * sizeof(uint32_t));
    tok->n_vocab = n;
    for (size_t k = 0; k < n; k++) {
        const sdc_json_member *m = &root->u.object.members[k];
        const sdc_json *v = m->value;
        if (v->type != SDC_JSON_TYPE_NUMBER || !v->u.number.is_int || v->u.number.int_value < 0 ||
            (uint64_t)v->u.number.int_value >= n) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s:%u:%u: token %s: expected an integer id from 0 to %zu (the "
                          "vocabulary has %zu tokens)",
                          name, v->line, v->column,
                          sdc_json_quote(m->key, m->key_len, quoted, sizeof quoted), n - 1, n);
            goto done;
        }
        size_t id = (size_t)v->u.number.int_value;
        uint32_t e;
        if ((st = str_intern(tok, m->key, m->key_len, &e)) != SDC_STATUS_OK)
            goto done;
        if (tok->entries[e].vocab_id >= 0) { /* the JSON reader refuses this already */
            st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s:%u:%u: duplicate token %s", name, v->line,
                          v->column, sdc_json_quote(m->key, m->key_len, quoted, sizeof quoted));
            goto done;
        }
        if (tok->vocab_entry[id] != UINT32_MAX) {
            const str_entry *other = &tok->entries[tok->vocab_entry[id]];
            st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s:%u:%u: token %s has id %zu, as token %s",
                          name, v->line, v->column,
                          sdc_json_quote(m->key, m->key_len, quoted, sizeof quoted), id,
                          sdc_json_quote(other->s, other->len, quoted2, sizeof quoted2));
            goto done;
        }
        tok->entries[e].vocab_id = (int32_t)id;
        tok->vocab_entry[id] = e;
    }
done:
    sdc_json_free(doc);
    return st;
}

static const added_token *find_added(const sdc_tokenizer *tok, const char *s, size_t len)
{
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].len == len && memcmp(tok->added[i].content, s, len) == 0)
            return &tok->added[i];
    return NULL;
}

/* Adds an added token unless its content is one already (the first one wins, as in
 * transformers, where specials are added after added_tokens_decoder). */
static sdc_status add_token(sdc_tokenizer *tok, const char *content, size_t len, int64_t id,
                            const char *role, const char *source, const char *vocab_name)
{
    char quoted[96];
    if (len == 0 || find_added(tok, content, len))
        return SDC_STATUS_OK;
    if (id < 0) {
        int64_t e = str_find(tok, content, len, hash_bytes(content, len));
        if (e < 0 || tok->entries[e].vocab_id < 0)
            return sdc_fail(tok->ctx, SDC_STATUS_NOT_FOUND, "%s: the %s %s is not in %s", source,
                            role, sdc_json_quote(content, len, quoted, sizeof quoted), vocab_name);
        id = tok->entries[e].vocab_id;
    }
    if (id > INT32_MAX)
        return sdc_fail(tok->ctx, SDC_STATUS_FORMAT, "%s: the %s %s has id %lld, above %d", source,
                        role, sdc_json_quote(content, len, quoted, sizeof quoted), (long long)id,
                        INT32_MAX);
    char *copy = sdc_arena_alloc(&tok->strings, len + 1, 1);
    if (!copy)
        return sdc_fail_oom(tok->ctx, "an added token", len + 1);
    memcpy(copy, content, len);
    copy[len] = '\0';
    tok->added[tok->n_added++] = (added_token){copy, (uint32_t)len, (int32_t)id};
    return SDC_STATUS_OK;
}

static sdc_status setup_specials(sdc_tokenizer *tok, const sdc_tok_clip_config *cfg,
                                 const char *vocab_name)
{
    sdc_context *ctx = tok->ctx;
    const char *source = cfg->source ? cfg->source : "tokenizer parameters";
    const char *names[4] = {cfg->bos ? cfg->bos : START_OF_TEXT, cfg->eos ? cfg->eos : END_OF_TEXT,
                            cfg->unk ? cfg->unk : END_OF_TEXT, cfg->pad ? cfg->pad : END_OF_TEXT};
    static const char *const roles[4] = {"bos token", "eos token", "unk token", "pad token"};
    size_t n;
    if (!sdc_size_add(cfg->n_added, 4, &n) || n > SIZE_MAX / sizeof(added_token))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: too many added tokens", source);
    tok->added = sdc_malloc(ctx, n * sizeof(added_token));
    if (!tok->added)
        return sdc_fail_oom(ctx, "the added tokens", n * sizeof(added_token));
    sdc_status st;
    for (size_t i = 0; i < cfg->n_added; i++) {
        st = add_token(tok, cfg->added[i].content, cfg->added[i].len, cfg->added[i].id,
                       "added token", source, vocab_name);
        if (st != SDC_STATUS_OK)
            return st;
    }
    int32_t ids[4];
    for (int k = 0; k < 4; k++) {
        size_t len = strlen(names[k]);
        if (len == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: the %s is empty", source,
                            roles[k]);
        st = add_token(tok, names[k], len, -1, roles[k], source, vocab_name);
        if (st != SDC_STATUS_OK)
            return st;
        ids[k] = find_added(tok, names[k], len)->id;
    }
    tok->bos_id = ids[0];
    tok->eos_id = ids[1];
    tok->unk_id = ids[2];
    tok->pad_id = ids[3];
    return SDC_STATUS_OK;
}

/* bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes for
 * U+0100.. in byte order. */
static void setup_byte_map(sdc_tokenizer *tok)
{
    uint32_t next = 256;
    for (int i = 0; i < 0x144; i++)
        tok->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : next++;
        tok->byte_cp[b] = (uint16_t)cp;
        tok->cp_byte[cp] = (int16_t)b;
    }
}

static sdc_status setup_symbols(sdc_tokenizer *tok)
{
    for (int b = 0; b < 256; b++) {
        unsigned char s[8];
        size_t n = sdc_tok_utf8_put(tok->byte_cp[b], s);
        sdc_status st = str_intern(tok, s, n, &tok->byte_sym[b]);
        if (st != SDC_STATUS_OK)
            return st;
        memcpy(s + n, "</w>", 4);
        if ((st = str_intern(tok, s, n + 4, &tok->byte_eow_sym[b])) != SDC_STATUS_OK)
            return st;
    }
    for (size_t k = 0; k < tok->n_entries; k++) {
        str_entry *e = &tok->entries[k];
        const added_token *a = find_added(tok, e->s, e->len);
        e->id = a ? a->id : e->vocab_id >= 0 ? e->vocab_id : tok->unk_id;
    }
    return SDC_STATUS_OK;
}

static sdc_status setup_cache(sdc_tokenizer *tok)
{
    word_cache *c = &tok->cache;
    c->slots = sdc_calloc(tok->ctx, CACHE_SLOTS, sizeof(uint32_t));
    c->entries = sdc_malloc(tok->ctx, CACHE_MAX_ENTRIES * sizeof(cache_entry));
    c->keys = sdc_malloc(tok->ctx, CACHE_KEY_BYTES);
    c->syms = sdc_malloc(tok->ctx, CACHE_MAX_SYMS * sizeof(uint32_t));
    if (!c->slots || !c->entries || !c->keys || !c->syms)
        return sdc_fail_oom(tok->ctx, "the tokenizer's word cache",
                            CACHE_SLOTS * sizeof(uint32_t) +
                                CACHE_MAX_ENTRIES * sizeof(cache_entry) + CACHE_KEY_BYTES +
                                CACHE_MAX_SYMS * sizeof(uint32_t));
    return SDC_STATUS_OK;
}

sdc_status sdc_tok_clip_create(sdc_context *ctx, const char *vocab, size_t vocab_len,
                               const char *vocab_name, const char *merges, size_t merges_len,
                               const char *merges_name, const sdc_tok_clip_config *config,
                               sdc_tokenizer **out)
{
    *out = NULL;
    static const sdc_tok_clip_config defaults = {0};
    const sdc_tok_clip_config *cfg = config ? config : &defaults;
    if (!vocab_name)
        vocab_name = "vocab.json";
    if (!merges_name)
        merges_name = "merges.txt";
    if (cfg->max_length != 0 && (cfg->max_length < 2 || cfg->max_length > (1 << 20)))
        return sdc_fail(
            ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: max length %d; expected 2 to %d (77 for CLIP)",
            cfg->source ? cfg->source : "tokenizer parameters", cfg->max_length, 1 << 20);
    sdc_tokenizer *tok = sdc_calloc(ctx, 1, sizeof *tok);
    if (!tok)
        return sdc_fail_oom(ctx, "a tokenizer", sizeof *tok);
    tok->ctx = ctx;
    tok->max_length = cfg->max_length ? cfg->max_length : SDC_TOK_CLIP_MAX_LENGTH;
    sdc_arena_init(&tok->strings, ctx, (size_t)1 << 18);
    setup_byte_map(tok);

    sdc_status st;
    tok->slots = sdc_calloc(ctx, 1024, sizeof(uint32_t));
    if (!tok->slots) {
        st = sdc_fail_oom(ctx, "the tokenizer's string index", 1024 * sizeof(uint32_t));
        goto fail;
    }
    tok->slot_mask = 1023;
    if ((st = parse_vocab(tok, vocab, vocab_len, vocab_name)) != SDC_STATUS_OK)
        goto fail;
    if ((st = parse_merges(tok, merges, merges_len, merges_name)) != SDC_STATUS_OK)
        goto fail;
    if ((st = setup_specials(tok, cfg, vocab_name)) != SDC_STATUS_OK)
        goto fail;
    if ((st = setup_symbols(tok)) != SDC_STATUS_OK)
        goto fail;
    if ((st = setup_cache(tok)) != SDC_STATUS_OK)
        goto fail;
    *out = tok;
    return SDC_STATUS_OK;

fail:
    sdc_tok_clip_destroy(tok);
    return st;
}

void sdc_tok_clip_destroy(sdc_tokenizer *tok)
{
    if (!tok)
        return;
    sdc_context *ctx = tok->ctx;
    sdc_free(ctx, tok->cache.slots);
    sdc_free(ctx, tok->cache.entries);
    sdc_free(ctx, tok->cache.keys);
    sdc_free(ctx, tok->cache.syms);
    sdc_tok_cps_free(ctx, &tok->text);
    sdc_tok_cps_free(ctx, &tok->clean);
    sdc_tok_cps_free(ctx, &tok->nfc_scratch);
    sdc_tok_cps_free(ctx, &tok->lowered);
    sdc_free(ctx, tok->word);
    sdc_free(ctx, tok->bpe_mem);
    sdc_free(ctx, tok->out);
    sdc_free(ctx, tok->added);
    sdc_free(ctx, tok->pairs);
    sdc_free(ctx, tok->vocab_entry);
    sdc_free(ctx, tok->slots);
    sdc_free(ctx, tok->entries);
    sdc_arena_release(&tok->strings);
    sdc_free(ctx, tok);
}

int sdc_tok_clip_max_length(const sdc_tokenizer *tok)
{
    return tok->max_length;
}
int32_t sdc_tok_clip_bos_id(const sdc_tokenizer *tok)
{
    return tok->bos_id;
}
int32_t sdc_tok_clip_eos_id(const sdc_tokenizer *tok)
{
    return tok->eos_id;
}
int32_t sdc_tok_clip_pad_id(const sdc_tokenizer *tok)
{
    return tok->pad_id;
}
size_t sdc_tok_clip_vocab_size(const sdc_tokenizer *tok)
{
    return tok->n_vocab;
}
sdc_context *sdc_tok_clip_context(const sdc_tokenizer *tok)
{
    return tok->ctx;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                   */

static sdc_status emit(sdc_tokenizer *tok, const char *str, uint32_t len, int32_t id, bool added)
{
    if (tok->n_out == tok->cap_out) {
        size_t cap = tok->cap_out ? tok->cap_out * 2 : 128, bytes;
        if (!sdc_size_mul(cap, sizeof(sdc_tok_token), &bytes))
            return sdc_fail(tok->ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: too many tokens");
        sdc_tok_token *p = sdc_realloc(tok->ctx, tok->out, bytes);
        if (!p)
            return sdc_fail_oom(tok->ctx, "the token list", bytes);
        tok->out = p;
        tok->cap_out = cap;
    }
    tok->out[tok->n_out++] = (sdc_tok_token){str, len, id, added};
    return SDC_STATUS_OK;
}

static sdc_status emit_symbol(sdc_tokenizer *tok, uint32_t sym)
{
    const str_entry *e = &tok->entries[sym];
    return emit(tok, e->s, e->len, e->id, false);
}

static const cache_entry *cache_find(const word_cache *c, const unsigned char *w, size_t n,
                                     uint32_t hash)
{
    for (size_t i = hash & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        if (c->slots[i] == 0)
            return NULL;
        const cache_entry *e = &c->entries[c->slots[i] - 1];
        if (e->hash == hash && e->key_len == n && memcmp(c->keys + e->key_off, w, n) == 0)
            return e;
    }
}

static void cache_put(word_cache *c, const unsigned char *w, size_t n, uint32_t hash,
                      const uint32_t *syms, size_t n_syms)
{
    if (c->n_entries == CACHE_MAX_ENTRIES || c->key_used + n > CACHE_KEY_BYTES ||
        c->syms_used + n_syms > CACHE_MAX_SYMS) {
        memset(c->slots, 0, CACHE_SLOTS * sizeof(uint32_t));
        c->n_entries = c->key_used = c->syms_used = 0;
    }
    cache_entry *e = &c->entries[c->n_entries];
    *e = (cache_entry){c->key_used, (uint32_t)n, hash, c->syms_used, (uint32_t)n_syms};
    memcpy(c->keys + c->key_used, w, n);
    memcpy(c->syms + c->syms_used, syms, n_syms * sizeof(uint32_t));
    c->key_used += (uint32_t)n;
    c->syms_used += (uint32_t)n_syms;
    size_t i = hash & (CACHE_SLOTS - 1);
    while (c->slots[i])
        i = (i + 1) & (CACHE_SLOTS - 1);
    c->slots[i] = ++c->n_entries;
}

/* A binary min-heap of (rank << 32 | position) keys. */
static void heap_push(uint64_t *heap, size_t *n, uint64_t key)
{
    size_t i = (*n)++;
    while (i > 0 && heap[(i - 1) / 2] > key) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = key;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n)
{
    uint64_t top = heap[0], last = heap[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && heap[c + 1] < heap[c])
            c++;
        if (heap[c] >= last)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (m > 0)
        heap[i] = last;
    return top;
}

/* bpe(): the word's bytes as symbols, then, while any adjacent pair has a rank, every
 * occurrence of the lowest-ranked pair merged left to right. A heap of candidate pairs keeps this
 * O(n log n); all entries of one rank are taken before the pairs their merges create, which
 * is what makes it equal to transformers' one-rank-per-pass loop. */
static sdc_status bpe_word(sdc_tokenizer *tok, const unsigned char *w, size_t n)
{
    uint32_t hash = hash_bytes(w, n);
    const cache_entry *hit = cache_find(&tok->cache, w, n, hash);
    if (hit) {
        for (uint32_t i = 0; i < hit->n_syms; i++) {
            sdc_status st = emit_symbol(tok, tok->cache.syms[hit->sym_off + i]);
            if (st != SDC_STATUS_OK)
                return st;
        }
        return SDC_STATUS_OK;
    }
    if (n > tok->bpe_cap) {
        /* per symbol: sym, next, prev, batch (4 x 4 bytes) and 3 heap keys (8 bytes each) */
        size_t cap = n < 64 ? 64 : n, bytes;
        if (!sdc_size_mul(cap, 4 * sizeof(uint32_t) + 3 * sizeof(uint64_t), &bytes))
            return sdc_fail(tok->ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: word too long");
        void *p = sdc_malloc(tok->ctx, bytes);
        if (!p)
            return sdc_fail_oom(tok->ctx, "the BPE work arrays", bytes);
        sdc_free(tok->ctx, tok->bpe_mem);
        tok->bpe_mem = p;
        tok->bpe_cap = cap;
    }
    uint64_t *heap = tok->bpe_mem;
    uint32_t *sym = (uint32_t *)(heap + 3 * tok->bpe_cap);
    uint32_t *next = sym + tok->bpe_cap, *prev = next + tok->bpe_cap;
    uint32_t *batch = prev + tok->bpe_cap;
    const uint32_t NONE = UINT32_MAX;

    for (size_t i = 0; i < n; i++) {
        sym[i] = i + 1 < n ? tok->byte_sym[w[i]] : tok->byte_eow_sym[w[i]];
        next[i] = i + 1 < n ? (uint32_t)(i + 1) : NONE;
        prev[i] = i > 0 ? (uint32_t)(i - 1) : NONE;
    }
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const pair_slot *p = pair_find(tok, sym[i], sym[i + 1]);
        if (p)
            heap_push(heap, &n_heap, (uint64_t)p->rank << 32 | i);
    }
    while (n_heap > 0) {
        uint32_t rank = (uint32_t)(heap[0] >> 32);
        size_t n_batch = 0;
        while (n_heap > 0 && (uint32_t)(heap[0] >> 32) == rank)
            batch[n_batch++] = (uint32_t)heap_pop(heap, &n_heap);
        /* Merge the occurrences that are still there, left to right; a position may appear
         * twice (pushed again after a merge next to it). */
        size_t n_merged = 0;
        for (size_t k = 0; k < n_batch; k++) {
            uint32_t i = batch[k];
            if (k > 0 && batch[k - 1] == i)
                continue;
            if (sym[i] == NONE || next[i] == NONE)
                continue;
            uint32_t j = next[i];
            const pair_slot *p = pair_find(tok, sym[i], sym[j]);
            if (!p || p->rank != rank)
                continue;
            sym[i] = p->merged;
            sym[j] = NONE;
            next[i] = next[j];
            if (next[j] != NONE)
                prev[next[j]] = i;
            batch[n_merged++] = i; /* n_merged <= k: reuses the slots already read */
        }
        for (size_t k = 0; k < n_merged; k++) {
            uint32_t i = batch[k];
            if (sym[i] == NONE)
                continue;
            const pair_slot *p;
            if (prev[i] != NONE && (p = pair_find(tok, sym[prev[i]], sym[i])))
                heap_push(heap, &n_heap, (uint64_t)p->rank << 32 | prev[i]);
            if (next[i] != NONE && (p = pair_find(tok, sym[i], sym[next[i]])))
                heap_push(heap, &n_heap, (uint64_t)p->rank << 32 | i);
        }
    }
    /* The surviving symbols, compacted into sym[] for the cache. */
    size_t n_syms = 0;
    for (uint32_t i = 0; i != NONE; i = next[i])
        sym[n_syms++] = sym[i];
    for (size_t i = 0; i < n_syms; i++) {
        sdc_status st = emit_symbol(tok, sym[i]);
        if (st != SDC_STATUS_OK)
            return st;
    }
    if (n <= CACHE_MAX_WORD)
        cache_put(&tok->cache, w, n, hash, sym, n_syms);
    return SDC_STATUS_OK;
}

/* The length of the literal (lower-case ASCII) at w if it matches there under IGNORECASE. */
static size_t match_literal(const uint32_t *w, size_t n, const char *lit)
{
    size_t k = 0;
    for (; lit[k]; k++) {
        if (k >= n)
            return 0;
        char c = lit[k];
        if (c >= 'a' && c <= 'z') {
            if (sdc_tok_fold_ascii(w[k]) != c)
                return 0;
        } else if (w[k] != (uint32_t)(unsigned char)c) {
            return 0;
        }
    }
    return k;
}

/* One match of the pattern: UTF-8, then the special strings or BPE. */
static sdc_status emit_match(sdc_tokenizer *tok, const uint32_t *cps, size_t n)
{
    size_t need;
    if (!sdc_size_mul(n, 4, &need))
        return sdc_fail(tok->ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: word too long");
    if (need > tok->word_cap) {
        unsigned char *p = sdc_realloc(tok->ctx, tok->word, need);
        if (!p)
            return sdc_fail_oom(tok->ctx, "a word buffer", need);
        tok->word = p;
        tok->word_cap = need;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += sdc_tok_utf8_put(cps[i], tok->word + len);
    /* bpe()'s cache starts with the two special strings: they are one token each. */
    static const char *const specials[2] = {START_OF_TEXT, END_OF_TEXT};
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(specials[k]);
        if (len == sl && memcmp(tok->word, specials[k], sl) == 0) {
            int64_t e = str_find(tok, specials[k], sl, hash_bytes(specials[k], sl));
            if (e >= 0)
                return emit_symbol(tok, (uint32_t)e);
            const added_token *a = find_added(tok, specials[k], sl);
            return emit(tok, specials[k], (uint32_t)sl, a ? a->id : tok->unk_id, false);
        }
    }
    return bpe_word(tok, tok->word, len);
}

/* re.findall(pattern, word) over one lower-cased, space-free word. */
static sdc_status split_word(sdc_tokenizer *tok, const uint32_t *w, size_t n)
{
    static const char *const literals[] = {
        "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        for (size_t k = 0; k < sizeof literals / sizeof literals[0] && j == i; k++)
            j = i + match_literal(w + i, n - i, literals[k]);
        if (j == i) {
            unsigned p = sdc_tok_props(w[i]);
            if (p & SDC_TOK_PROP_LETTER) {
                for (j = i + 1; j < n && (sdc_tok_props(w[j]) & SDC_TOK_PROP_LETTER); j++)
                    ;
            } else if (p & SDC_TOK_PROP_NUMBER) {
                j = i + 1;
            } else if (p & SDC_TOK_PROP_OTHER) {
                for (j = i + 1; j < n && (sdc_tok_props(w[j]) & SDC_TOK_PROP_OTHER); j++)
                    ;
            } else {
                i++; /* matched by no alternative (U+0345): findall skips it */
                continue;
            }
        }
        sdc_status st = emit_match(tok, w + i, j - i);
        if (st != SDC_STATUS_OK)
            return st;
        i = j;
    }
    return SDC_STATUS_OK;
}

/* _tokenize() of the text between added tokens: BasicTokenizer, then the pattern and BPE. */
static sdc_status tokenize_piece(sdc_tokenizer *tok, const unsigned char *s, size_t len)
{
    sdc_context *ctx = tok->ctx;
    sdc_status st;
    tok->text.len = 0;
    if ((st = sdc_tok_cps_reserve(ctx, &tok->text, len)) != SDC_STATUS_OK)
        return st;
    for (const unsigned char *p = s, *end = s + len; p < end;)
        tok->text.data[tok->text.len++] = sdc_tok_utf8_next(&p);

    /* _clean_text and _tokenize_chinese_chars */
    size_t room;
    if (!sdc_size_mul(tok->text.len, 3, &room))
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: text too long");
    tok->clean.len = 0;
    if ((st = sdc_tok_cps_reserve(ctx, &tok->clean, room)) != SDC_STATUS_OK)
        return st;
    uint32_t *o = tok->clean.data;
    for (size_t i = 0; i < tok->text.len; i++) {
        uint32_t c = tok->text.data[i];
        unsigned p = sdc_tok_props(c);
        if (p & SDC_TOK_PROP_DROP)
            continue;
        if (p & SDC_TOK_PROP_WS) {
            *o++ = ' ';
        } else if (sdc_tok_is_cjk(c)) {
            *o++ = ' ';
            *o++ = c;
            *o++ = ' ';
        } else {
            *o++ = c;
        }
    }
    tok->clean.len = (size_t)(o - tok->clean.data);
    if ((st = sdc_tok_nfc(ctx, &tok->clean, &tok->nfc_scratch)) != SDC_STATUS_OK)
        return st;

    /* whitespace_tokenize, lower() per word, the pattern per word */
    const uint32_t *t = tok->clean.data;
    size_t n = tok->clean.len, i = 0;
    while (i < n) {
        if (sdc_tok_props(t[i]) & SDC_TOK_PROP_SPACE) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !(sdc_tok_props(t[j]) & SDC_TOK_PROP_SPACE))
            j++;
        tok->lowered.len = 0;
        if ((st = sdc_tok_lower(ctx, t + i, j - i, &tok->lowered)) != SDC_STATUS_OK)
            return st;
        if ((st = split_word(tok, tok->lowered.data, tok->lowered.len)) != SDC_STATUS_OK)
            return st;
        i = j;
    }
    return SDC_STATUS_OK;
}

/* The longest added token at s, or NULL. */
static const added_token *added_at(const sdc_tokenizer *tok, const char *s, size_t left)
{
    const added_token *best = NULL;
    for (size_t k = 0; k < tok->n_added; k++) {
        const added_token *a = &tok->added[k];
        if (a->len <= left && a->content[0] == s[0] && (!best || a->len > best->len) &&
            memcmp(a->content, s, a->len) == 0)
            best = a;
    }
    return best;
}

sdc_status sdc_tok_clip_tokenize(sdc_tokenizer *tok, const char *text, size_t len,
                                 const sdc_tok_token **tokens, size_t *count)
{
    sdc_context *ctx = tok->ctx;
    *tokens = NULL;
    *count = 0;
    tok->n_out = 0;
    if (len > 0 && !text)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "tokenizer: text is NULL");
    if (len > SDC_TOK_MAX_TEXT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "tokenizer: the prompt has %zu bytes; at most %zu are accepted", len,
                        SDC_TOK_MAX_TEXT);
    size_t bad;
    if (!sdc_tok_utf8_valid((const unsigned char *)text, len, &bad))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "tokenizer: the prompt is not valid UTF-8: byte 0x%02x at offset %zu",
                        (unsigned char)text[bad], bad);
    sdc_status st;
    size_t piece = 0, pos = 0;
    while (pos < len) {
        const added_token *a = added_at(tok, text + pos, len - pos);
        if (!a) {
            pos++;
            continue;
        }
        if (pos > piece && (st = tokenize_piece(tok, (const unsigned char *)text + piece,
                                                pos - piece)) != SDC_STATUS_OK)
            return st;
        if ((st = emit(tok, a->content, a->len, a->id, true)) != SDC_STATUS_OK)
            return st;
        pos += a->len;
        piece = pos;
    }
    if (len > piece && (st = tokenize_piece(tok, (const unsigned char *)text + piece,
                                            len - piece)) != SDC_STATUS_OK)
        return st;
    *tokens = tok->out;
    *count = tok->n_out;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                   */

static bool append(sdc_context *ctx, char **text, size_t *len, size_t *cap, const void *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1)
            c *= 2;
        char *p = sdc_realloc(ctx, *text, c);
        if (!p)
            return false;
        *text = p;
        *cap = c;
    }
    memcpy(*text + *len, s, n);
    *len += n;
    (*text)[*len] = '\0';
    return true;
}

sdc_status sdc_tok_clip_decode(sdc_tokenizer *tok, const sdc_tok_token *tokens, size_t n,
                               char **text, size_t *len)
{
    sdc_context *ctx = tok->ctx;
    /* The bytes: added tokens as written, BPE tokens through the inverse byte map. */
    char *bytes = NULL;
    size_t n_bytes = 0, cap = 0, out_cap = *text ? *len + 1 : 0;
    sdc_status st = SDC_STATUS_OK;
    for (size_t k = 0; k < n; k++) {
        const sdc_tok_token *t = &tokens[k];
        if (t->added) {
            if (!append(ctx, &bytes, &n_bytes, &cap, t->str, t->len))
                goto oom;
            continue;
        }
        const unsigned char *p = (const unsigned char *)t->str, *end = p + t->len;
        while (p < end) {
            uint32_t cp = sdc_tok_utf8_next(&p);
            unsigned char b =
                (cp < 0x144 && tok->cp_byte[cp] >= 0) ? (unsigned char)tok->cp_byte[cp] : '?';
            if (!append(ctx, &bytes, &n_bytes, &cap, &b, 1))
                goto oom;
        }
    }
    /* UTF-8 with errors="replace" (one U+FFFD per maximal invalid subpart), "</w>" -> " ",
     * then strip. */
    size_t start = *len, i = 0;
    while (i < n_bytes) {
        if (n_bytes - i >= 4 && memcmp(bytes + i, "</w>", 4) == 0) {
            if (!append(ctx, text, len, &out_cap, " ", 1))
                goto oom;
            i += 4;
            continue;
        }
        size_t bad, ok = 0;
        const unsigned char *u = (const unsigned char *)bytes + i;
        size_t left = n_bytes - i;
        unsigned c = u[0];
        size_t want = c < 0x80                 ? 1
                      : c >= 0xC2 && c <= 0xDF ? 2
                      : c >= 0xE0 && c <= 0xEF ? 3
                      : c >= 0xF0 && c <= 0xF4 ? 4
                                               : 0;
        if (want && left >= want && sdc_tok_utf8_valid(u, want, &bad))
            ok = want;
        if (ok) {
            if (!append(ctx, text, len, &out_cap, u, ok))
                goto oom;
            i += ok;
            continue;
        }
        /* the maximal subpart: the lead byte and the continuation bytes valid so far */
        size_t sub = 1;
        if (want > 1) {
            unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
            unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            if (sub < left && u[sub] >= lo && u[sub] <= hi) {
                sub++;
                while (sub < want && sub < left && (u[sub] & 0xC0) == 0x80)
                    sub++;
            }
        }
        if (!append(ctx, text, len, &out_cap, "\xEF\xBF\xBD", 3))
            goto oom;
        i += sub;
    }
    /* strip the spaces this call added at both ends */
    size_t a = start;
    while (a < *len && (*text)[a] == ' ')
        a++;
    size_t b = *len;
    while (b > a && (*text)[b - 1] == ' ')
        b--;
    if (*text) {
        memmove(*text + start, *text + a, b - a);
        *len = start + (b - a);
        (*text)[*len] = '\0';
    }
    goto done;
oom:
    st = sdc_fail_oom(ctx, "the decoded text", n_bytes + 1);
done:
    sdc_free(ctx, bytes);
    return st;
}
