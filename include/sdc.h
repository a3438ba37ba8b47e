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

/* The arithmetic of matrix products (linear layers, convolutions, attention). */
typedef enum sdc_precision {
    SDC_PRECISION_F32,  /* float32 throughout: the reference path */
    /* Matrix-product inputs (activations and weights) rounded to bfloat16 with float32
     * accumulation, as torch.autocast("cpu", dtype=torch.bfloat16) does for matmuls and convs;
     * norms, softmax and elementwise ops stay float32. Used where the CPU has AVX512_BF16;
     * elsewhere it computes as F32 (sdc_context_precision says which). */
    SDC_PRECISION_BF16,
    SDC_PRECISION_COUNT
} sdc_precision;

typedef struct sdc_context_params {
    int n_threads;              /* worker threads incl. the caller; 0 = online CPUs */
    sdc_log_fn log;             /* NULL = write to stderr */
    void *log_user;             /* passed to log */
    sdc_log_level log_level;    /* messages above this level are dropped */
    const sdc_allocator *allocator; /* NULL = malloc/free; copied, must outlive nothing */
    sdc_precision precision;    /* default SDC_PRECISION_F32 */
} sdc_context_params;

/* Defaults: all CPUs, stderr logging at WARN, malloc/free, float32. */
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

/* The precision matrix products actually use: the requested one, or SDC_PRECISION_F32 when
 * BF16 was asked for on a CPU (or SDC_CPU_MAX level) without AVX512_BF16. */
sdc_precision sdc_context_precision(const sdc_context *ctx);


/* ---------------------------------------------------------------------------------------- */
/* Tensor files: look inside a weights file without loading a model                         */

/* An open weights file: safetensors, or a PyTorch checkpoint written by torch.save (.ckpt,
 * .pt, .pth; read without running any of its pickle). The file is mapped read-only; nothing is
 * copied until asked. Not thread-safe: one thread at a time. */
typedef struct sdc_tensor_file sdc_tensor_file;

#define SDC_MAX_DIMS 8

/* In a component file of an sdc bundle, a compressed weight is listed once under its own name
 * and shape, with its parts (indices + palette, or int8 values + scales) counted together. */
typedef struct sdc_tensor_info {
    const char *name;  /* valid while the file is open */
    const char *dtype; /* safetensors spelling: "F32", "F16", "BF16", "I64", "U8", ...; for a
                          palettized weight the palette's, for an int8 one "I8" */
    int ndim;
    int64_t shape[SDC_MAX_DIMS];
    uint64_t nbytes;   /* bytes of data (all parts of a compressed weight) */
    uint64_t offset;   /* byte offset of the data (its first part) within the file */
    const char *storage;    /* "dense", or in sdc bundles "palette" or "int8" */
    int bits;               /* palette: bits per index; int8: 8; dense: bits of the dtype */
    int palette_size;       /* palette: entries per palette (2^bits); otherwise 0 */
    int64_t palette_groups; /* palette: how many palettes (groups of output rows); otherwise 0 */
    double bits_per_weight; /* 8 * nbytes / elements (0 for an empty tensor) */
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

/* Canny edge detection, the usual preprocessing of a photo for a Canny ControlNet. Steps as
 * OpenCV's cv2.Canny (in spirit, not bit for bit): the image made gray (ITU-R 601 luma, as
 * Pillow's convert("L")), a Gaussian blur, 3x3 Sobel gradients with the magnitude |gx| + |gy|
 * (cv2.Canny's default L1 norm, on the unscaled Sobel sums), non-maximum suppression along the
 * gradient direction (rounded to 0, 45, 90 or 135 degrees), then hysteresis: pixels above
 * high_threshold are edges, pixels above low_threshold are edges when 8-connected to one. */
typedef struct sdc_canny_params {
    int low_threshold;  /* default 100 (diffusers' examples: cv2.Canny(image, 100, 200)) */
    int high_threshold; /* default 200; >= low_threshold */
    float blur_sigma;   /* Gaussian blur before the gradients (a 5x5 kernel at the default 1.0,
                           size 2 ceil(3 sigma) + 1); 0 = none, as cv2.Canny itself does */
} sdc_canny_params;

/* low 100, high 200, blur sigma 1.0. */
sdc_canny_params sdc_canny_default_params(void);

/* *out = the edges of `image` (1, 3 or 4 channels) as an RGB image of the same size: white
 * (255) edge pixels, one pixel wide, on black, the form ControlNet canny models take. params
 * may be NULL. Pixels from the context's allocator (sdc_image_release); deterministic; on
 * failure *out is zeroed. */
sdc_status sdc_image_canny(sdc_context *ctx, const sdc_image *image,
                           const sdc_canny_params *params, sdc_image *out);

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
     * (text encoders -> VAE encoder for img2img -> UNet and ControlNets -> VAE -> safety
     * checker), lowering peak memory at the cost of load time. sdc_model_open still loads each
     * once to check it. */
    int reduce_memory;
    /* Another VAE to use instead of the model's own, for decoding and for encoding init images
     * (e.g. an fp16-safe SDXL VAE): a diffusers VAE folder (config.json + weights, or a
     * pipeline folder holding vae/) whose config gives the scaling factor, or one .safetensors
     * / .ckpt file of VAE weights (diffusers names, LDM names as Stability AI's VAE files have
     * them, or a checkpoint's first_stage_model.*), which takes the family's scaling factor
     * (0.18215 SD 1.x/2.x, 0.13025 SDXL). Its latent channels must be the model's. NULL = the
     * model's own. Every VAE computes in float32 in sdc (diffusers upcasts the SDXL VAE, which
     * overflows in float16, for the same reason); f16 weights are read as they are stored. */
    const char *vae;
} sdc_model_params;

sdc_model_params sdc_model_default_params(void);

/* Opens a diffusers folder (model_index.json: SD 1.x/2.x, SDXL base with text_encoder_2,
 * SDXL refiner with only text_encoder_2), a single-file checkpoint (.safetensors or .ckpt; the
 * family is detected from the weights, SDXL from its conditioner.embedders.*), a converted sdc
 * bundle (model.json), or a ControlNet: a diffusers ControlNetModel folder (config.json +
 * weights), used only as a control of a generation (sdc_control). Single files use the CLIP
 * vocabulary built into the library and the scheduler their family ships with (SD 1.x: SD
 * 1.5's PNDM; SD 2.x: SD 2.1's v-prediction DDIM; SDXL base and refiner: their Euler). The
 * family is decided from the weights: SDXL base (two text encoders, 6 time ids) or refiner
 * (OpenCLIP bigG only, in a single file as conditioner.embedders.0.model.*; 5 time ids with
 * the aesthetic score). Errors name the file (and the tensor or component) and what was
 * wrong, in one line. params may be NULL. On failure *out is NULL. The model's memory comes
 * from ctx; close it on a thread that may use ctx. */
sdc_status sdc_model_open(sdc_context *ctx, const char *path, const sdc_model_params *params,
                          sdc_model **out);
/* NULL is allowed. */
void sdc_model_close(sdc_model *model);

typedef struct sdc_model_info {
    const char *family;            /* "sd1", "sd2", "sdxl", "sdxl-refiner"; a ControlNet: the
                                      family of the models it steers */
    int inpainting;                /* 1 when the UNet takes 9 input channels */
    const char *prediction_type;   /* "epsilon" or "v_prediction" */
    const char *default_scheduler; /* the model's own scheduler, by sdc name ("pndm") */
    /* Folders: the UNet's sample_size x 8. Single files: 512, or 768 for SD 2.x predicting v. */
    int default_width, default_height;
    int has_safety_checker;
    const char *name;              /* file name without extension, or folder name */
    int controlnet;                /* 1: a ControlNet (only for sdc_control), not a pipeline */
    int time_ids;                  /* SDXL's micro-conditioning ids: 6 (base: original size,
                                      crop, target size), 5 (refiner: original size, crop,
                                      aesthetic score); 0 for SD 1.x/2.x */
    int force_zeros_for_empty_prompt; /* SDXL: an empty negative prompt conditions on zeros */
} sdc_model_info;

/* Strings stay valid while the model is open. */
void sdc_model_get_info(const sdc_model *model, sdc_model_info *out);

/* The networks of a model, in the order a generation uses them. */
typedef struct sdc_model_component_info {
    const char *name;       /* "text_encoder", "text_encoder_2", "unet", "vae", "safety_checker",
                               "controlnet" */
    const char *class_name; /* the diffusers / transformers class it reproduces */
    const char *summary;    /* its configuration in one line (layers, widths, ...) */
    uint64_t parameters;    /* values of its weights */
    uint64_t bytes;         /* their bytes as stored (a compressed weight: all its parts) */
    const char *dtype;      /* "F32", "F16", "BF16", ... or "mixed" */
} sdc_model_component_info;

size_t sdc_model_component_count(const sdc_model *model);
/* index < count, else SDC_STATUS_INVALID_ARGUMENT. Strings stay valid while the model is open. */
sdc_status sdc_model_component(const sdc_model *model, size_t index,
                               sdc_model_component_info *out);

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
    int step;          /* model calls done so far (1 after the first) */
    int total;         /* model calls in this generation (fewer with an init image) */
    double elapsed_s;  /* since the run started */
    /* A fast preview when preview_every asked for one at this step, else NULL: a linear
     * latent -> RGB projection of the scheduler's clean-sample estimate (of the latents where
     * the scheduler forms none), the N images side by side: (N x width/8) x height/8 RGB.
     * Valid during the callback only. */
    const sdc_image *preview;
} sdc_progress;

/* Called after every model call, from the thread that runs the generation. Return 0 to go
 * on, non-zero to cancel: the run then stops and returns SDC_STATUS_CANCELLED. */
typedef int (*sdc_progress_fn)(void *user, const sdc_progress *progress);

/* One ControlNet steering a generation, as diffusers' StableDiffusion(XL)ControlNet(Img2Img)
 * pipelines run it with guess mode off: at every model call it runs on the UNet's input and
 * conditioning and its residuals, times the conditioning scale, are added to the UNet's skip
 * connections; several ControlNets' residuals are summed. */
typedef struct sdc_control {
    /* A ControlNet opened with sdc_model_open (sdc_model_info.controlnet) for the model's
     * family and architecture: an SD 1.x ControlNet steers SD 1.x models only, an SDXL one
     * SDXL base models. Must outlive the run. */
    sdc_model *controlnet;
    /* The conditioning image (edges, depth, pose, ... as the ControlNet was trained on), read
     * during the run: converted to RGB, resized to the output size with Pillow's Lanczos
     * (diffusers' control image processor) and taken as x / 255. */
    const sdc_image *image;
    float scale; /* controlnet_conditioning_scale; default 1.0 */
    /* control_guidance_start / _end: the net acts at call i of n (of the base model's calls)
     * unless i / n < start or (i + 1) / n > end. Defaults 0 and 1; 0 <= start < end <= 1. */
    float start, end;
} sdc_control;

/* controlnet NULL, image NULL, scale 1, start 0, end 1. */
sdc_control sdc_control_default(void);

typedef struct sdc_generation_params {
    const char *prompt;          /* UTF-8; "" is allowed */
    const char *negative_prompt; /* NULL or "" = none */
    uint64_t seed;               /* numpy takes seeds below 2^32 only */
    sdc_rng_source rng;          /* default numpy */
    int steps;                   /* 1 to 1000; default 50 */
    float guidance_scale;        /* default 7.5; <= 1 disables classifier-free guidance */
    /* NULL = the model's own; else a name of sdc_scheduler_list (AUTOMATIC1111 and diffusers
     * class spellings are accepted too). */
    const char *scheduler;
    /* Multiples of 8, and of 8 x 2^(UNet levels - 1) (64 for SD 1.x/2.x). 0 = the init
     * image's size rounded down to a multiple of 8 when there is one (diffusers' img2img),
     * else the model's default. */
    int width, height;
    int image_count;             /* 1 to 64 images from one [N, 4, h, w] draw of noise */
    /* Image to image: the starting image (converted to RGB, resized to width x height with
     * Pillow's Lanczos when its size differs) and how much of it is replaced by noise, in
     * [0, 1]: as in diffusers only the last int(steps * strength) steps run (the strength
     * read as the decimal it was typed as, 0.7 not 0.69999999), so that must be at least 1. */
    const sdc_image *init_image; /* NULL for text to image */
    float strength;              /* default 0.8 with an init image */
    /* Inpainting: pixels whose gray value is >= 128 (diffusers binarizes at 0.5) are
     * repainted; the same size as init_image. 9-channel inpainting models need one;
     * ordinary models blend the repainted area into the noised original each step. */
    const sdc_image *mask;
    int disable_safety_checker;
    /* 0 or 1 = the last hidden layer; k >= 2 = hidden_states[-k] through the final LayerNorm
     * (AUTOMATIC1111's "Clip skip: k" = diffusers' clip_skip=k-1), applied to the prompt only
     * as diffusers does. At most the text encoder's layer count. */
    int clip_skip;
    int preview_every;           /* 0 = no previews; N = a preview every N model calls */
    sdc_progress_fn progress;
    void *progress_user;

    /* SDXL micro-conditioning (diffusers' original_size, crops_coords_top_left, target_size)
     * in pixels; 0 = diffusers' default: the output size for both sizes, (0, 0) for the crop.
     * Ignored by SD 1.x/2.x. */
    int original_width, original_height;
    int crop_left, crop_top;
    int target_width, target_height;
    /* The SDXL refiner's time ids: aesthetic_score (default 6.0) for the prompt,
     * negative_aesthetic_score (2.5) for the negative prompt. Used by "sdxl-refiner" models,
     * as the refiner stage or on their own for image to image. */
    float aesthetic_score, negative_aesthetic_score;
    /* An SDXL refiner (or another SDXL base) that takes over the last part of the schedule
     * on the same latents, as diffusers' "ensemble of expert denoisers": the model runs the
     * calls whose timestep is >= round(1000 (1 - refiner_start)) (denoising_end), the refiner,
     * with its own text encoder, scheduler of the same name and steps, and time ids, the
     * remaining ones without adding noise (denoising_start), and its VAE decodes. The model must
     * be an SDXL base; NULL = no refiner. Must outlive the run. */
    sdc_model *refiner;
    float refiner_start;         /* in (0, 1); default 0.8 */
    /* ControlNets ([n_controls], read during the run) acting on the model's calls in text to
     * image and image to image; not with a refiner's stage or inpainting. */
    const sdc_control *controls;
    int n_controls;
} sdc_generation_params;

/* steps 50, guidance 7.5, numpy noise, seed 0, one image, strength 0.8, aesthetic scores 6.0
 * and 2.5, refiner_start 0.8, the rest zero/NULL. */
sdc_generation_params sdc_generation_default_params(void);

typedef struct sdc_generation sdc_generation;

/* A generation runs on `ctx` (its threads, memory and logging) with `model`, which may have
 * been opened on another context. One thread at a time per generation. */
sdc_status sdc_generation_create(sdc_context *ctx, sdc_model *model, sdc_generation **out);
void sdc_generation_destroy(sdc_generation *gen);

/* Checks the parameters against the model (sizes, strength, mask size, scheduler name, that
 * the refiner and ControlNets fit the model) and runs the whole generation. Strings and
 * images in params are read during the call only. On failure (including
 * SDC_STATUS_CANCELLED) no images are kept, not even an earlier run's, and
 * sdc_generation_errmsg says what failed in one line. A mismatch is SDC_STATUS_INVALID_ARGUMENT
 * naming both pieces: a ControlNet of another family ("... is an SD 1.x ControlNet but ... is
 * an SDXL model"), a refiner as the model without an init image, a model other than an SDXL
 * refiner or base as the refiner; an unreadable control image fails before, in
 * sdc_image_load. */
sdc_status sdc_generation_run(sdc_generation *gen, const sdc_generation_params *params);

/* After a successful run: the images (width x height RGB, owned by the generation), in
 * noise-batch order. Valid until the next run or destroy; NULL for an index out of range. */
size_t sdc_generation_image_count(const sdc_generation *gen);
const sdc_image *sdc_generation_image(const sdc_generation *gen, size_t index);
/* 1 when the safety checker flagged image `index` (its pixels are then black). */
int sdc_generation_nsfw(const sdc_generation *gen, size_t index);
/* The text other tools read from a PNG's "parameters" chunk, as AUTOMATIC1111's webui writes
 * it: "<prompt>\nNegative prompt: <negative>\nSteps: 20, Sampler: Euler a, CFG scale: 7.5,
 * Seed: 42, Size: 512x512, Model hash: <10 hex digits of the file's SHA-256>, Model: <name>"
 * then, where they apply, "Schedule type", "Denoising strength", "Clip skip", "RNG" (CPU for
 * torch, numpy; none for philox, the webui's default) and "Batch size"/"Batch pos". The hash
 * is for single files only (computed once per model, on the first run). NULL when out of
 * range. */
const char *sdc_generation_parameters_text(const sdc_generation *gen, size_t index);
/* The last failure of this generation ("" if none). */
const char *sdc_generation_errmsg(const sdc_generation *gen);

/* ---------------------------------------------------------------------------------------- */
/* Benchmarks                                                                                 */

/* What sdc_bench_run times: one component of a diffusers folder or an sdc bundle on
 * deterministic random inputs at the model's native size (UNet sample_size x 8 pixels; 512 for
 * SD 1.x). */
typedef enum sdc_bench_component {
    SDC_BENCH_COMPONENT_TEXT_ENCODER, /* text_encoder/: 2 x 77 tokens (prompt and negative) */
    SDC_BENCH_COMPONENT_UNET_STEP,    /* unet/: one guided step, batch 2 (both halves at once) */
    SDC_BENCH_COMPONENT_VAE_DECODE,   /* vae/: one latent to one image */
    SDC_BENCH_COMPONENT_VAE_ENCODE,   /* vae/: one image to its latent distribution */
    SDC_BENCH_COMPONENT_COUNT
} sdc_bench_component;

typedef struct sdc_bench_params {
    int warmup;        /* untimed runs first; default 1 */
    int runs;          /* timed runs; default 3 */
    int width, height; /* image size in pixels (multiples of 8); 0 = the model's native size */
} sdc_bench_params;

typedef struct sdc_bench_result {
    double seconds;      /* median of the timed runs */
    double seconds_min;  /* fastest run */
    double flops;        /* work of one run: FLOPs of its matrix products (2 per multiply-add of
                            linear layers, convolutions and attention), as the kernels count
                            them; norms, activations and softmax are not counted */
    double gflops;       /* flops / seconds / 1e9 */
    size_t scratch_bytes; /* activation memory of one run */
    int width, height;   /* the image size used */
    /* When the context computes in another precision than F32: the output against one float32
     * run on the same inputs, 20 log10(max |f32| / rms(difference)) (the PSNR Apple's Core ML
     * conversion checks use); 0 otherwise. */
    double psnr_db;
} sdc_bench_result;

/* warmup 1, runs 3, native size. */
sdc_bench_params sdc_bench_default_params(void);
/* "text_encoder", "unet_step", "vae_decode", "vae_encode"; NULL when out of range. */
const char *sdc_bench_component_name(sdc_bench_component component);

/* Loads the component from `model_dir` (a diffusers folder, or an sdc bundle whose weights stay
 * as stored: palettized and int8 weights are decoded in the kernels), runs it params->warmup + runs
 * times on the context's threads and precision, and fills *out. Timing excludes loading. The
 * component is released before returning. params may be NULL. Errors name the folder and what
 * was wrong; on failure *out is zeroed. */
sdc_status sdc_bench_run(sdc_context *ctx, const char *model_dir, sdc_bench_component component,
                         const sdc_bench_params *params, sdc_bench_result *out);

/* ---------------------------------------------------------------------------------------- */
/* Conversion: compact sdc bundles                                                            */

/* `sdc convert` as a call. A diffusers folder (model_index.json), a ControlNetModel folder or a
 * single-file checkpoint (.safetensors / .ckpt) becomes an sdc bundle: a folder holding
 * model.json, one safetensors file per component with every tensor 64-byte aligned, and the
 * tokenizer files (docs/bundle-format.md). sdc_model_open loads a bundle by mmap; compressed
 * weights stay compressed in memory and are decoded tile by tile inside the kernels.
 *
 * Compression applies to the weights of the UNet, the text encoders and ControlNets (the VAE
 * only when asked) that have at least min_elements values; embedding tables, biases and norms
 * stay uncompressed. Palettization is an exact 1-D k-means over each weight's float16-rounded
 * values; int8 is symmetric with one float32 scale per output channel (coremltools'
 * linear_quantize_weights default). Converting the same source with the same parameters gives
 * byte-identical files. */
typedef struct sdc_convert_params {
    const char *weights;     /* "f32", "f16" or "bf16": uncompressed tensors and palettes;
                                NULL = "f16" */
    int palettize_bits;      /* 0 = none, or 1, 2, 4, 6, 8 bits per weight */
    int palette_groups;      /* palettes per weight, each for a group of output channels;
                                0 = 1 */
    int int8;                /* non-zero: int8 weights instead (not with palettize_bits) */
    int compress_vae;        /* non-zero: the VAE's weights are compressed too */
    int min_elements;        /* smaller weights stay uncompressed; 0 = 2048 */
    const char *recipe;      /* a mixed-bit recipe file (sdc_analyze, or Apple's
                                ml-stable-diffusion pre-analysis JSON): per-layer palette bits
                                for the UNet; NULL = none */
    const char *recipe_name; /* the recipe to apply (a key of its "recipes"); required with
                                recipe */
    /* Run every converted component next to its float32 source on fixed random inputs and
     * record the PSNR (20 log10((max |ref| + 1e-5) / (rmse + 1e-10))); a component under
     * min_psnr fails the conversion (SDC_STATUS_INVALID_ARGUMENT, no bundle written) unless
     * force is set. */
    int check_output_correctness;
    double min_psnr;         /* 0 = 35 dB */
    int force;
} sdc_convert_params;

/* f16, no compression, no check. */
sdc_convert_params sdc_convert_default_params(void);

/* What a bundle holds: its model.json, without loading any model. */
typedef struct sdc_bundle_info sdc_bundle_info;

typedef struct sdc_bundle_component_info {
    const char *name;        /* "unet", "vae", "text_encoder", "text_encoder_2",
                                "safety_checker", "controlnet" */
    const char *file;        /* its file in the bundle ("unet.safetensors") */
    const char *class_name;  /* "UNet2DConditionModel", ... */
    const char *compression; /* "none", "palette", "int8" or "mixed" (a recipe) */
    int bits;                /* palette: bits per weight; int8: 8; otherwise 0 */
    uint64_t parameters;     /* float values of all its tensors */
    uint64_t source_bytes;   /* their bytes in the source */
    uint64_t bytes;          /* their bytes in the bundle */
    uint64_t file_bytes;     /* the component file's size */
    double bits_per_weight;  /* 8 * bytes / parameters */
    uint64_t compressed_parameters;    /* values of the compressed weights */
    double compressed_bits_per_weight; /* their bits per value, palettes and scales included */
    int checked;             /* 1 when the conversion measured psnr */
    double psnr;             /* dB against the float32 source (200 when identical) */
} sdc_bundle_component_info;

/* Converts `source` into the bundle folder `output` (created, or replaced when it is a bundle
 * already; anything else there is refused). The bundle is written beside it and renamed into
 * place, so a failed conversion leaves no bundle. params may be NULL for the defaults. When
 * info is not NULL it receives the summary of what was written (also when the correctness
 * check failed); close it with sdc_bundle_info_close. Errors name the file, component or
 * tensor at fault (a NaN in a weight to be compressed, an unknown recipe, a PSNR under the
 * threshold). */
sdc_status sdc_convert(sdc_context *ctx, const char *source, const char *output,
                       const sdc_convert_params *params, sdc_bundle_info **info);

/* Reads a bundle's model.json. On failure *out is NULL. */
sdc_status sdc_bundle_info_open(sdc_context *ctx, const char *path, sdc_bundle_info **out);
void sdc_bundle_info_close(sdc_bundle_info *info);
/* "sd1", "sd2", "sdxl", "sdxl-refiner" (the base model's family for a ControlNet bundle). */
const char *sdc_bundle_info_family(const sdc_bundle_info *info);
/* "f32", "f16" or "bf16". */
const char *sdc_bundle_info_weights(const sdc_bundle_info *info);
size_t sdc_bundle_info_component_count(const sdc_bundle_info *info);
/* Strings stay valid while info is open. index < count, else SDC_STATUS_INVALID_ARGUMENT. */
sdc_status sdc_bundle_info_component(const sdc_bundle_info *info, size_t index,
                                     sdc_bundle_component_info *out);

/* Mixed-bit palettization pre-analysis (`sdc analyze`), as Apple's ml-stable-diffusion
 * mixed_bit_compression_pre_analysis.py does it: each UNet layer above min_elements is
 * palettized alone at 1, 2, 4, 6 and 8 bits and the final latents of fixed prompts (one step,
 * fixed seed) are compared with the uncompressed model's (PSNR per prompt); then cumulatively,
 * least sensitive layers first; recipes are built at PSNR thresholds between the original and the
 * int8 baseline + 5 dB and measured end to end. The JSON written to `output` has the seed's
 * layout ("model_version", "single_layer", "cumulative", "baselines" with "original" and
 * "linear_8bit", "recipes" mapping a name to {diffusers module: bits}) and is read back by
 * sdc_convert_params.recipe. Runs (5 bit widths x 2 + recipes) x layers x prompts generations:
 * minutes on small models, hours on real ones. */
typedef struct sdc_analyze_params {
    const char *model_version;  /* written as "model_version"; NULL = the source path */
    int num_recipes;            /* 7 */
    int min_elements;           /* 100000 (the seed's PALETTIZE_MIN_SIZE) */
    const char *const *prompts; /* NULL = the seed project's eight prompts */
    int n_prompts;
    int width, height;          /* 0 = the model's default size */
    uint64_t seed;              /* 0 */
    int steps;                  /* 1 */
} sdc_analyze_params;

sdc_analyze_params sdc_analyze_default_params(void);
/* source: a diffusers folder or a single-file checkpoint. Errors name what failed; nothing is
 * written on failure. */
sdc_status sdc_analyze(sdc_context *ctx, const char *source, const char *output,
                       const sdc_analyze_params *params);

#ifdef __cplusplus
}
#endif

#endif /* SDC_SDC_H */
