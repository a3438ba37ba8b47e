/*
 * sdc.h — the public interface of sdc, Stable Diffusion in C.
 *
 * This is the only header a program using sdc includes. It declares opaque handles, status
 * codes and parameter structs; every object is created and destroyed through functions here,
 * and nothing in it depends on how the library is built (CPU features, backends).
 *
 * Conventions:
 *   - Functions that can fail return sdc_status; SDC_STATUS_OK is 0. The handle they were
 *     called on keeps a human-readable message about the last failure (sdc_context_errmsg).
 *   - Every object has a _create/_destroy (or _open/_close) pair; _destroy(NULL) does nothing.
 *     A constructor either returns a complete object or an error and NULL, never half an object.
 *   - The library never writes to stdout, never calls exit() and never aborts on bad input.
 *   - A context is used by one thread at a time (like a database connection); several
 *     contexts may be used concurrently from different threads.
 */
#ifndef SDC_SDC_H
#define SDC_SDC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SDC_VERSION_MAJOR 0
#define SDC_VERSION_MINOR 1
#define SDC_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; a static string. */
const char *sdc_version(void);

/* ---------------------------------------------------------------------------------------- */
/* Status codes                                                                               */

typedef enum sdc_status {
    SDC_STATUS_OK = 0,
    SDC_STATUS_INVALID_ARGUMENT, /* a parameter passed by the caller is out of range */
    SDC_STATUS_OUT_OF_MEMORY,    /* an allocation failed (or hit the configured limit) */
    SDC_STATUS_IO,               /* a file could not be opened, read, mapped or written */
    SDC_STATUS_FORMAT,           /* a file's content is malformed or inconsistent */
    SDC_STATUS_UNSUPPORTED,      /* well-formed input that sdc does not handle (yet) */
    SDC_STATUS_NOT_FOUND,        /* a named item (tensor, key, component) is missing */
    SDC_STATUS_SHAPE,            /* a tensor has the wrong dtype or shape */
    SDC_STATUS_CANCELLED,        /* the caller's progress callback asked to stop */
    SDC_STATUS_INTERNAL,         /* a broken internal invariant: a bug in sdc */
    SDC_STATUS_COUNT
} sdc_status;

/* A short constant description of a status code ("out of memory"); never NULL. */
const char *sdc_status_string(sdc_status status);

/* ---------------------------------------------------------------------------------------- */
/* Logging                                                                                    */

typedef enum sdc_log_level {
    SDC_LOG_LEVEL_ERROR = 0,
    SDC_LOG_LEVEL_WARN,
    SDC_LOG_LEVEL_INFO,
    SDC_LOG_LEVEL_DEBUG,
    SDC_LOG_LEVEL_COUNT
} sdc_log_level;

/* Receives one complete message (no trailing newline). Called from the thread that uses the
 * context. The default writes "sdc: <level>: <message>\n" to stderr. */
typedef void (*sdc_log_fn)(void *user, sdc_log_level level, const char *message);

/* ---------------------------------------------------------------------------------------- */
/* Memory                                                                                     */

/* All memory the library allocates for a context goes through these hooks. alloc behaves like
 * malloc (returns NULL on failure; the library aligns blocks itself); free like free. Both may
 * be called from the context's worker threads, so they must be thread-safe. */
typedef struct sdc_allocator {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} sdc_allocator;

/* ---------------------------------------------------------------------------------------- */
/* Context: threads, logging, memory and the last error                                      */

typedef struct sdc_context sdc_context;

typedef struct sdc_context_params {
    int n_threads;              /* worker threads incl. the caller; 0 = online CPUs */
    sdc_log_fn log;             /* NULL = write to stderr */
    void *log_user;             /* passed to log */
    sdc_log_level log_level;    /* messages above this level are dropped */
    const sdc_allocator *allocator; /* NULL = malloc/free; copied, must outlive nothing */
} sdc_context_params;

/* Defaults: all CPUs, stderr logging at WARN, malloc/free. */
sdc_context_params sdc_context_default_params(void);

/* Creates a context. params may be NULL for the defaults. The environment variable
 * SDC_CPU_MAX (scalar, avx2, avx512, avx512-bf16) caps the instruction set the kernels use;
 * an unknown value is an error. On failure *out is NULL. */
sdc_status sdc_context_create(const sdc_context_params *params, sdc_context **out);

/* Joins the worker threads and frees the context. NULL is allowed. */
void sdc_context_destroy(sdc_context *ctx);

/* The message of the last failure on this context ("" if none). Valid until the next call
 * that fails on the same context. */
const char *sdc_context_errmsg(const sdc_context *ctx);

/* The status of the last failure on this context (SDC_STATUS_OK if none). */
sdc_status sdc_context_errcode(const sdc_context *ctx);

/* Number of threads the context computes with (>= 1). */
int sdc_context_n_threads(const sdc_context *ctx);

/* The instruction-set level the kernels use after SDC_CPU_MAX is applied, as a name such as
 * "avx512-bf16", "avx512", "avx2" or "scalar". A static string. */
const char *sdc_context_cpu_level(const sdc_context *ctx);


/* ---------------------------------------------------------------------------------------- */
/* Tensor files: look inside a weights file without loading a model                         */

/* An open weights file (safetensors now; other formats as they are supported). The file is
 * mapped read-only; nothing is copied until asked. Not thread-safe: one thread at a time. */
typedef struct sdc_tensor_file sdc_tensor_file;

#define SDC_MAX_DIMS 8

typedef struct sdc_tensor_info {
    const char *name;  /* valid while the file is open */
    const char *dtype; /* safetensors spelling: "F32", "F16", "BF16", "I64", "U8", ... */
    int ndim;
    int64_t shape[SDC_MAX_DIMS];
    uint64_t nbytes;   /* bytes of data */
    uint64_t offset;   /* byte offset of the data within the file */
} sdc_tensor_info;

/* Opens and validates a weights file; a malformed file is an error naming the tensor or
 * field at fault (see sdc_context_errmsg). On failure *out is NULL. */
sdc_status sdc_tensor_file_open(sdc_context *ctx, const char *path, sdc_tensor_file **out);
void sdc_tensor_file_close(sdc_tensor_file *file);

/* "safetensors" */
const char *sdc_tensor_file_format(const sdc_tensor_file *file);
uint64_t sdc_tensor_file_size(const sdc_tensor_file *file);
/* Tensors in name order. Padding entries written for alignment are not listed. */
size_t sdc_tensor_file_count(const sdc_tensor_file *file);
/* index < count; returns SDC_STATUS_INVALID_ARGUMENT otherwise. */
sdc_status sdc_tensor_file_info(const sdc_tensor_file *file, size_t index, sdc_tensor_info *out);
/* Free-form string metadata (safetensors "__metadata__"), in key order. */
size_t sdc_tensor_file_metadata_count(const sdc_tensor_file *file);
sdc_status sdc_tensor_file_metadata(const sdc_tensor_file *file, size_t index, const char **key,
                                    const char **value);

/* ---------------------------------------------------------------------------------------- */
/* Tokenizer: prompt text to CLIP token ids                                                   */

/* A CLIP byte-level BPE tokenizer giving the ids of transformers' CLIPTokenizer (as diffusers
 * pipelines call it, without ftfy): text clean-up, lower-casing, the CLIP pattern, BPE, start
 * and end tokens, truncation to max_length keeping the end token, padding with the pad token.
 * A tokenizer belongs to its context: one thread at a time (it keeps a word cache), and it
 * must be destroyed before the context. Its memory comes from the context's allocator. */
typedef struct sdc_tokenizer sdc_tokenizer;

typedef struct sdc_tokenizer_params {
    /* The pad token. NULL = "<|endoftext|>" (SD 1.x, id 49407); "!" (id 0) for SD 2.x and
     * SDXL's tokenizer_2. The pad token is also an added token: with "!", every "!" in a
     * prompt becomes its own token, as in transformers. */
    const char *pad_token;
    /* Ids per prompt after truncation and padding; 0 = 77. At least 2. */
    int max_length;
} sdc_tokenizer_params;

/* pad_token NULL, max_length 0. */
sdc_tokenizer_params sdc_tokenizer_default_params(void);

/* Loads a diffusers tokenizer folder (e.g. MODEL/tokenizer or MODEL/tokenizer_2): vocab.json
 * and merges.txt, and tokenizer_config.json / special_tokens_map.json when present for the
 * special tokens, the pad token and model_max_length (as transformers' from_pretrained reads
 * them). Malformed files are errors naming the file and line. On failure *out is NULL. */
sdc_status sdc_tokenizer_create_from_dir(sdc_context *ctx, const char *dir, sdc_tokenizer **out);
/* From explicit vocab.json and merges.txt paths; params may be NULL for the defaults. */
sdc_status sdc_tokenizer_create_from_files(sdc_context *ctx, const char *vocab_path,
                                           const char *merges_path,
                                           const sdc_tokenizer_params *params,
                                           sdc_tokenizer **out);
/* From the files' bytes in memory (read during the call only, not kept). */
sdc_status sdc_tokenizer_create_from_memory(sdc_context *ctx, const void *vocab_json,
                                            size_t vocab_size, const void *merges_txt,
                                            size_t merges_size, const sdc_tokenizer_params *params,
                                            sdc_tokenizer **out);
/* NULL is allowed. */
void sdc_tokenizer_destroy(sdc_tokenizer *tok);

/* Ids per prompt (77 for every SD tokenizer). */
int sdc_tokenizer_max_length(const sdc_tokenizer *tok);
int32_t sdc_tokenizer_bos_id(const sdc_tokenizer *tok); /* <|startoftext|>: 49406 */
int32_t sdc_tokenizer_eos_id(const sdc_tokenizer *tok); /* <|endoftext|>: 49407 */
int32_t sdc_tokenizer_pad_id(const sdc_tokenizer *tok);
/* Entries of vocab.json. */
size_t sdc_tokenizer_vocab_size(const sdc_tokenizer *tok);

/* The ids a text encoder takes for `text` (text_len bytes of UTF-8; need not be NUL-terminated
 * and may contain NUL bytes): the start token, the first max_length - 2 tokens of the text, the
 * end token, then the pad id up to max_length. ids has room for n_ids >= max_length entries
 * (exactly max_length are written). n_untruncated may be NULL; it receives the id count
 * without truncation or padding, start and end tokens included (more than max_length means
 * the text was cut). Invalid UTF-8 is SDC_STATUS_INVALID_ARGUMENT naming the byte offset. */
sdc_status sdc_tokenizer_encode(sdc_tokenizer *tok, const char *text, size_t text_len,
                                int32_t *ids, size_t n_ids, size_t *n_untruncated);

/* Everything about one tokenisation, for tools that show it. Owns its memory (allocated from
 * the tokenizer's context) and may outlive the tokenizer, not the context. */
typedef struct sdc_tokens sdc_tokens;

sdc_status sdc_tokenizer_tokenize(sdc_tokenizer *tok, const char *text, size_t text_len,
                                  sdc_tokens **out);
void sdc_tokens_destroy(sdc_tokens *tokens);

/* The max_length ids, as sdc_tokenizer_encode writes them. */
const int32_t *sdc_tokens_ids(const sdc_tokens *tokens, size_t *count);
/* All ids without truncation or padding: start token, the text's tokens, end token. */
const int32_t *sdc_tokens_untruncated_ids(const sdc_tokens *tokens, size_t *count);
/* Tokens of the text without start/end tokens, untruncated (untruncated count - 2). */
size_t sdc_tokens_count(const sdc_tokens *tokens);
/* Token i (< count) as a string: the BPE token in CLIP's byte-level unicode ("</w>" ends a
 * word, "Ã©" is the two bytes of "é") or an added token's text ("!", "<|endoftext|>").
 * NULL when i is out of range. Valid while `tokens` lives. */
const char *sdc_tokens_string(const sdc_tokens *tokens, size_t i);
/* How many of the text's tokens are kept after truncation (min(count, max_length - 2)). */
size_t sdc_tokens_kept(const sdc_tokens *tokens);
/* The text of the tokens truncation dropped, decoded back (lower-cased and normalised, as the
 * tokenizer saw it); "" when nothing was dropped. */
const char *sdc_tokens_truncated_text(const sdc_tokens *tokens);

#ifdef __cplusplus
}
#endif

#endif /* SDC_SDC_H */
