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

#ifdef __cplusplus
}
#endif

#endif /* SDC_SDC_H */
