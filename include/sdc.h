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

/* An open weights file: safetensors, or a PyTorch checkpoint written by torch.save (.ckpt,
 * .pt, .pth; read without running any of its pickle). The file is mapped read-only; nothing is
 * copied until asked. Not thread-safe: one thread at a time. */
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

/* "safetensors", "pytorch" (torch.save ZIP archive) or "pytorch-legacy" (before torch 1.6) */
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

/* ---------------------------------------------------------------------------------------- */
/* Images                                                                                     */

/* 8-bit interleaved pixels, rows top to bottom, no padding. */
typedef struct sdc_image {
    int width, height;
    int channels;    /* 1 (gray), 3 (RGB) or 4 (RGBA) */
    uint8_t *pixels; /* width * height * channels bytes */
} sdc_image;

/* Reads a PNG or JPEG (by content). channels: 0 keeps the file's layout, or 1, 3 or 4 to
 * convert (alpha dropped, not composited). The pixels come from the context's allocator; free
 * them with sdc_image_release. On failure *out is zeroed. */
sdc_status sdc_image_load(sdc_context *ctx, const char *path, int channels, sdc_image *out);
/* Writes a PNG; `parameters` (may be NULL) is stored as the "parameters" text chunk, the way
 * other Stable Diffusion tools record how an image was made. */
sdc_status sdc_image_save_png(sdc_context *ctx, const char *path, const sdc_image *image,
                              const char *parameters);
/* Frees pixels that sdc allocated and zeroes the struct. NULL pixels are allowed. */
void sdc_image_release(sdc_context *ctx, sdc_image *image);

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                     */

/* A loaded Stable Diffusion model: tokenizer(s), text encoder(s), UNet, VAE, and the safety
 * checker when the model has one. Immutable once open: several generations, on the same or
 * other contexts and threads, may use it at the same time (each generation has its own
 * activations, scheduler state and error text). It must outlive its generations. */
typedef struct sdc_model sdc_model;

typedef struct sdc_model_params {
    /* NULL: as the model says (its scheduler config, else detected from the weights).
     * "epsilon" or "v_prediction" overrides, e.g. for a single-file SD 2.x 768-v checkpoint,
     * which cannot say. */
    const char *prediction_type;
    /* Load each component just before its phase of a generation and release it after
     * (text encoder -> UNet -> VAE), lowering peak memory at the cost of load time. */
    int reduce_memory;
} sdc_model_params;

sdc_model_params sdc_model_default_params(void);

/* Opens a diffusers folder (model_index.json), a single-file checkpoint (.safetensors or
 * .ckpt; the family is detected from the weights) or a converted sdc bundle. Errors name the
 * file and what was wrong. params may be NULL. On failure *out is NULL. */
sdc_status sdc_model_open(sdc_context *ctx, const char *path, const sdc_model_params *params,
                          sdc_model **out);
/* NULL is allowed. */
void sdc_model_close(sdc_model *model);

typedef struct sdc_model_info {
    const char *family;            /* "sd1", "sd2", "sdxl", "sdxl-refiner" */
    int inpainting;                /* 1 when the UNet takes 9 input channels */
    const char *prediction_type;   /* "epsilon" or "v_prediction" */
    const char *default_scheduler; /* the model's own scheduler, by sdc name ("pndm") */
    int default_width, default_height;
    int has_safety_checker;
    const char *name;              /* file or folder name, for image metadata */
} sdc_model_info;

/* Strings stay valid while the model is open. */
void sdc_model_get_info(const sdc_model *model, sdc_model_info *out);

/* ---------------------------------------------------------------------------------------- */
/* Schedulers and random sources                                                              */

/* The scheduler names sdc understands (sdc_generation_params.scheduler), in a fixed order:
 * returns the count; for index < count fills the name, the diffusers class it reproduces and
 * a one-line description. */
size_t sdc_scheduler_list(size_t index, const char **name, const char **diffusers_class,
                          const char **description);

/* Where the noise comes from: the same seed gives the same image as the tool that draws its
 * noise this way. */
typedef enum sdc_rng_source {
    SDC_RNG_SOURCE_NUMPY,  /* numpy RandomState(seed).randn: Apple's Core ML pipeline */
    SDC_RNG_SOURCE_TORCH,  /* torch.Generator("cpu").manual_seed(seed): diffusers, ComfyUI */
    SDC_RNG_SOURCE_PHILOX, /* torch.randn on a CUDA device: AUTOMATIC1111's GPU seeds */
    SDC_RNG_SOURCE_COUNT
} sdc_rng_source;

/* ---------------------------------------------------------------------------------------- */
/* Generations                                                                                */

typedef struct sdc_progress {
    int step;          /* model calls done so far */
    int total;         /* model calls in this generation */
    double elapsed_s;  /* since the run started */
    /* A fast preview of the current latents (RGB, 1/8 size) when preview_every asked for one
     * at this step, else NULL. Valid during the callback only. */
    const sdc_image *preview;
} sdc_progress;

/* Called after every model call, from the thread that runs the generation. Return 0 to go
 * on, non-zero to cancel: the run then stops and returns SDC_STATUS_CANCELLED. */
typedef int (*sdc_progress_fn)(void *user, const sdc_progress *progress);

typedef struct sdc_generation_params {
    const char *prompt;          /* UTF-8; "" is allowed */
    const char *negative_prompt; /* NULL or "" = none */
    uint64_t seed;
    sdc_rng_source rng;          /* default numpy */
    int steps;                   /* default 50 */
    float guidance_scale;        /* default 7.5; <= 1 disables classifier-free guidance */
    const char *scheduler;       /* NULL = the model's own */
    int width, height;           /* multiples of 8; 0 = the model's default */
    int image_count;             /* images from one batch of noise; default 1 */
    /* Image to image: the starting image (resized to width x height) and how much of it is
     * replaced by noise (0 keeps it, 1 replaces it). */
    const sdc_image *init_image; /* NULL for text to image */
    float strength;              /* default 0.8 with an init image */
    /* Inpainting: white (255) marks pixels to repaint; the same size as init_image. */
    const sdc_image *mask;
    int disable_safety_checker;
    int clip_skip;               /* 0 or 1 = the last hidden layer; 2 = the one before, ... */
    int preview_every;           /* 0 = no previews; N = a preview every N steps */
    sdc_progress_fn progress;
    void *progress_user;
} sdc_generation_params;

/* steps 50, guidance 7.5, numpy noise, seed 0, one image, strength 0.8, the rest zero/NULL. */
sdc_generation_params sdc_generation_default_params(void);

typedef struct sdc_generation sdc_generation;

/* A generation runs on `ctx` (its threads, memory and logging) with `model`, which may have
 * been opened on another context. One thread at a time per generation. */
sdc_status sdc_generation_create(sdc_context *ctx, sdc_model *model, sdc_generation **out);
void sdc_generation_destroy(sdc_generation *gen);

/* Checks the parameters against the model (sizes, strength, mask size, scheduler name) and
 * runs the whole generation. Strings and images in params are read during the call only. On
 * failure no images are kept. */
sdc_status sdc_generation_run(sdc_generation *gen, const sdc_generation_params *params);

/* After a successful run: the images (width x height RGB), in noise-batch order. Valid until
 * the next run or destroy. */
size_t sdc_generation_image_count(const sdc_generation *gen);
const sdc_image *sdc_generation_image(const sdc_generation *gen, size_t index);
/* 1 when the safety checker flagged image `index` (its pixels are then black). */
int sdc_generation_nsfw(const sdc_generation *gen, size_t index);
/* The text other tools read from a PNG's "parameters" chunk (AUTOMATIC1111's format): prompt,
 * negative prompt, steps, sampler, CFG scale, seed, size, model. */
const char *sdc_generation_parameters_text(const sdc_generation *gen, size_t index);
/* The last failure of this generation ("" if none). */
const char *sdc_generation_errmsg(const sdc_generation *gen);

#ifdef __cplusplus
}
#endif

#endif /* SDC_SDC_H */
