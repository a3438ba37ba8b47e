/*
 * tokenizer.h — turning prompt text into the token ids a text encoder reads.
 *
 * The CLIP tokenizer here reproduces transformers 4.44.2's slow CLIPTokenizer as the diffusers
 * pipelines call it, without ftfy installed: added-token splitting, BasicTokenizer's clean-up
 * (control characters dropped, CJK ideographs spaced, NFC, lower-casing), the CLIP
 * pre-tokenisation pattern, the byte-to-unicode map and byte-pair merges by rank. Vocabulary and
 * merges are parsed from memory (the fuzz targets and the model bundle use that) or from a
 * diffusers tokenizer folder. It deliberately does not: fix text the way ftfy does (no HTML
 * unescaping, no mojibake repair), read the fast tokenizer's tokenizer.json, decode ids back
 * into text beyond the truncated-text report, or batch. T5's SentencePiece comes later.
 * This layer needs core and io (the JSON reader, file access).
 */
#ifndef SDC_TOKENIZER_TOKENIZER_H
#define SDC_TOKENIZER_TOKENIZER_H

#include "core/core.h"

/* transformers reads only the first 49152 - 256 - 2 merges of merges.txt. */
#define SDC_TOK_CLIP_MAX_MERGES 48894
/* The CLIP text encoders' position count, the max length every SD tokenizer config gives. */
#define SDC_TOK_CLIP_MAX_LENGTH 77
/* Prompts longer than this many bytes are refused rather than tokenized. */
#define SDC_TOK_MAX_TEXT ((size_t)1 << 24)

/* A token split out of the text before anything else, matched exactly as written. */
typedef struct sdc_tok_added {
    const char *content; /* UTF-8, not necessarily NUL-terminated */
    size_t len;
    int64_t id; /* -1: the vocabulary's id of `content` */
} sdc_tok_added;

typedef struct sdc_tok_clip_config {
    /* Special tokens (NUL-terminated); NULL gives CLIPTokenizer's defaults: bos
     * "<|startoftext|>", eos, unk and pad "<|endoftext|>". Each must be in the vocabulary or
     * in `added` with an id. All four are also added tokens. */
    const char *bos, *eos, *unk, *pad;
    int max_length;             /* 0: SDC_TOK_CLIP_MAX_LENGTH; otherwise >= 2 */
    const sdc_tok_added *added; /* further added tokens, e.g. added_tokens_decoder entries */
    size_t n_added;
    const char *source; /* names where the above came from, for messages; may be NULL */
} sdc_tok_clip_config;

/* Builds a CLIP tokenizer from the bytes of vocab.json and merges.txt (read during the call
 * only). vocab_name and merges_name name them in error messages (paths, or "vocab.json in
 * model.sdc"). Malformed input is SDC_STATUS_FORMAT with the file, line and what was expected;
 * special tokens missing from the vocabulary are SDC_STATUS_NOT_FOUND. */
sdc_status sdc_tok_clip_create(sdc_context *ctx, const char *vocab, size_t vocab_len,
                               const char *vocab_name, const char *merges, size_t merges_len,
                               const char *merges_name, const sdc_tok_clip_config *config,
                               sdc_tokenizer **out);
void sdc_tok_clip_destroy(sdc_tokenizer *tok);

/* One token of a tokenisation. */
typedef struct sdc_tok_token {
    const char *str; /* NUL-terminated, owned by the tokenizer: the BPE string in byte-level
                        unicode ("</w>" ends a word) or an added token's text */
    uint32_t len;
    int32_t id;
    bool added; /* an added or special token (its text is not byte-level unicode) */
} sdc_tok_token;

/* Tokenizes len bytes of UTF-8 (NUL bytes allowed), as transformers' tokenize() followed by
 * convert_tokens_to_ids(): no start/end tokens, no truncation. *tokens stays valid until the
 * next call on tok. Invalid UTF-8 is SDC_STATUS_INVALID_ARGUMENT naming the byte offset.
 * Not thread-safe: the tokenizer keeps a cache and scratch buffers. */
sdc_status sdc_tok_clip_tokenize(sdc_tokenizer *tok, const char *text, size_t len,
                                 const sdc_tok_token **tokens, size_t *count);

/* The text of tokens as convert_tokens_to_string() gives it ("</w>" -> space, bytes decoded
 * as UTF-8 with U+FFFD for broken sequences, outer spaces stripped), appended to *text
 * (realloc'd from the context, NUL-terminated, *len updated). */
sdc_status sdc_tok_clip_decode(sdc_tokenizer *tok, const sdc_tok_token *tokens, size_t n,
                               char **text, size_t *len);

int sdc_tok_clip_max_length(const sdc_tokenizer *tok);
int32_t sdc_tok_clip_bos_id(const sdc_tokenizer *tok);
int32_t sdc_tok_clip_eos_id(const sdc_tokenizer *tok);
int32_t sdc_tok_clip_pad_id(const sdc_tokenizer *tok);
size_t sdc_tok_clip_vocab_size(const sdc_tokenizer *tok);
sdc_context *sdc_tok_clip_context(const sdc_tokenizer *tok);

/* The CLIP BPE vocabulary every SD 1.x / 2.x / XL tokenizer uses (49408 tokens), built into
 * the library for checkpoints that carry no tokenizer (clip_builtin.c). params as for
 * sdc_tokenizer_create_from_memory ("!" as the pad token for SD 2.x). */
sdc_status sdc_tok_clip_builtin(sdc_context *ctx, const sdc_tokenizer_params *params,
                                sdc_tokenizer **out);
/* The files behind it: vocab.json derived from the embedded merges.txt (*vocab_json from the
 * context's allocator, the caller frees it) and the embedded merges.txt itself (static). */
sdc_status sdc_tok_clip_builtin_vocab(sdc_context *ctx, char **vocab_json, size_t *vocab_size,
                                      const char **merges_txt, size_t *merges_size);

#endif /* SDC_TOKENIZER_TOKENIZER_H */
