/*
 * core.h — the runtime every other layer stands on: errors, logging, memory, threads, tensor
 * views, half-precision conversion, CPU features and timers.
 *
 * Everything here is owned by a context (sdc_context): there is no mutable global state, so
 * several contexts can live in one process with different threads, allocators and loggers.
 * This layer knows nothing about files, models or kernels. It deliberately offers no general
 * container library: arrays are sized up front and grown explicitly where needed.
 */
#ifndef SDC_CORE_CORE_H
#define SDC_CORE_CORE_H

#include "sdc.h"
#include "core/compat.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------- */
/* Errors and logging                                                                         */

/* Records a failure on the context and returns `status`, so call sites read
 * `return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: tensor '%s': ...", path, name);`.
 * The message should name the file, tensor or parameter and say what was expected. */
sdc_status sdc_fail(sdc_context *ctx, sdc_status status, const char *fmt, ...)
    SDC_PRINTF(3, 4);
sdc_status sdc_failv(sdc_context *ctx, sdc_status status, const char *fmt, va_list ap);

/* Records an allocation failure of `bytes` bytes for `what`. */
sdc_status sdc_fail_oom(sdc_context *ctx, const char *what, size_t bytes);

/* Forgets the last error (used when a failure was expected and handled). */
void sdc_clear_error(sdc_context *ctx);

void sdc_log(sdc_context *ctx, sdc_log_level level, const char *fmt, ...) SDC_PRINTF(3, 4);
bool sdc_log_enabled(const sdc_context *ctx, sdc_log_level level);

/* ---------------------------------------------------------------------------------------- */
/* Memory                                                                                     */

/* Every block is aligned to SDC_ALIGN bytes and accounted for on the context. */
#define SDC_ALIGN 64

/* Returns NULL on failure (does not set the error: the caller names what it was for). */
void *sdc_malloc(sdc_context *ctx, size_t size);
/* Zeroed; n * size is overflow-checked. */
void *sdc_calloc(sdc_context *ctx, size_t n, size_t size);
/* Like realloc; on failure the old block is untouched and NULL is returned. */
void *sdc_realloc(sdc_context *ctx, void *ptr, size_t size);
void sdc_free(sdc_context *ctx, void *ptr);
/* Copies `len` bytes and appends a NUL; NULL on failure. */
char *sdc_strndup(sdc_context *ctx, const char *s, size_t len);
char *sdc_strdup(sdc_context *ctx, const char *s);

typedef struct sdc_alloc_stats {
    size_t live_bytes;  /* requested bytes currently allocated */
    size_t peak_bytes;  /* high-water mark of live_bytes */
    uint64_t n_allocs;  /* successful allocations */
    uint64_t n_frees;
    uint64_t n_failed;  /* allocations refused (hook, injection or limit) */
} sdc_alloc_stats;

void sdc_alloc_get_stats(const sdc_context *ctx, sdc_alloc_stats *out);
/* Resets the peak to the current live size. */
void sdc_alloc_reset_peak(sdc_context *ctx);

/* Fault injection for tests: the n-th allocation from now (1-based) fails, and every one
 * after it succeeds again. 0 turns it off. */
void sdc_alloc_fail_nth(sdc_context *ctx, uint64_t n);
/* Allocations that would raise live_bytes above `bytes` fail; 0 = no limit. */
void sdc_alloc_set_limit(sdc_context *ctx, size_t bytes);

/* Overflow-checked size arithmetic: false when the result does not fit. */
static inline bool sdc_size_mul(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return false;
    *out = a * b;
    return true;
}
static inline bool sdc_size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return false;
    *out = a + b;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Arena: bump allocation, released all at once                                               */

typedef struct sdc_arena_block sdc_arena_block;

typedef struct sdc_arena {
    sdc_context *ctx;
    sdc_arena_block *head; /* newest block first */
    size_t block_size;     /* default size of a new block */
    size_t used;           /* bytes handed out, incl. alignment padding */
    size_t high_water;     /* largest `used` seen */
    bool fixed;            /* true: never allocate beyond the reserved block */
} sdc_arena;

typedef struct sdc_arena_mark {
    sdc_arena_block *block;
    size_t offset;
    size_t used;
} sdc_arena_mark;

/* A growable arena whose blocks are at least block_size bytes. Allocates nothing yet. */
void sdc_arena_init(sdc_arena *arena, sdc_context *ctx, size_t block_size);
/* One block of exactly `capacity` bytes, never grown: allocation beyond it fails. This is how
 * per-generation activation memory is sized before the first step. */
sdc_status sdc_arena_init_fixed(sdc_arena *arena, sdc_context *ctx, size_t capacity);
/* `align` is a power of two <= SDC_ALIGN (0 means SDC_ALIGN). NULL on failure. */
void *sdc_arena_alloc(sdc_arena *arena, size_t size, size_t align);
sdc_arena_mark sdc_arena_get_mark(const sdc_arena *arena);
/* Frees everything allocated after the mark (blocks are kept for reuse). */
void sdc_arena_reset_to(sdc_arena *arena, sdc_arena_mark mark);
void sdc_arena_reset(sdc_arena *arena);
/* Returns all blocks to the context. The arena may be initialised again afterwards. */
void sdc_arena_release(sdc_arena *arena);

/* ---------------------------------------------------------------------------------------- */
/* Threads                                                                                    */

/* fn processes items [begin, end); thread is in [0, n_threads). */
typedef void (*sdc_range_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* Runs fn over [0, n) split into chunks of at least `grain` items (grain 0 = automatic: one
 * item at a time for up to 16 items per thread, else about a quarter of a thread's share) on
 * the context's threads, the caller included, and returns when all chunks are done. A
 * parallel_for issued from inside a worker runs serially on that worker. */
void sdc_parallel_for(sdc_context *ctx, int64_t n, int64_t grain, sdc_range_fn fn, void *arg);

/* Bytes of scratch each thread of a context owns (kernels' packed tiles). */
#define SDC_THREAD_SCRATCH_BYTES ((size_t)3 << 19)

/* The SDC_THREAD_SCRATCH_BYTES bytes (SDC_ALIGN-aligned) private to `thread` of the context
 * (the thread argument of an sdc_range_fn), allocated with the context: a kernel uses it inside
 * its range function and keeps nothing there between calls. */
void *sdc_thread_scratch(sdc_context *ctx, int thread);

/* Bytes of scratch one op of a context may share among its threads. */
#define SDC_OP_SCRATCH_BYTES ((size_t)8 << 20)

/* The SDC_OP_SCRATCH_BYTES bytes (SDC_ALIGN-aligned) an op called on the context's own thread
 * may fill and have its range functions read (the GEMM's operand packed once for all threads),
 * allocated with the context; nothing is kept there between ops. */
void *sdc_op_scratch(sdc_context *ctx);

/* Work counted by the kernels for benchmarks: FLOPs of matrix products (2 per multiply-add of
 * linear layers, convolutions and attention's scores and values) since the last reset. Norms,
 * activations and softmax are not counted. Only the thread using the context adds to it. */
void sdc_flops_add(sdc_context *ctx, double flops);
double sdc_flops_get(const sdc_context *ctx);
void sdc_flops_reset(sdc_context *ctx);

/* Per-op profile for benchmarks: while enabled, the kernels' entry points add each call's wall
 * time and FLOPs to the slot of its op (kernels.h numbers the slots). sdc_flops_reset clears it
 * too. Off by default; only the thread using the context adds to it. */
enum { SDC_PROFILE_SLOTS = 16 };
typedef struct sdc_profile_slot {
    double seconds, flops;
    int64_t calls;
} sdc_profile_slot;
void sdc_profile_enable(sdc_context *ctx, bool on);
bool sdc_profile_enabled(const sdc_context *ctx);
void sdc_profile_add(sdc_context *ctx, int slot, double seconds, double flops);
/* The SDC_PROFILE_SLOTS slots. */
const sdc_profile_slot *sdc_profile_get(const sdc_context *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Element types and tensor views                                                             */

typedef enum sdc_dtype {
    SDC_DTYPE_F64,
    SDC_DTYPE_F32,
    SDC_DTYPE_F16,
    SDC_DTYPE_BF16,
    SDC_DTYPE_F8_E4M3,
    SDC_DTYPE_F8_E5M2,
    SDC_DTYPE_I64,
    SDC_DTYPE_I32,
    SDC_DTYPE_I16,
    SDC_DTYPE_I8,
    SDC_DTYPE_U64,
    SDC_DTYPE_U32,
    SDC_DTYPE_U16,
    SDC_DTYPE_U8,
    SDC_DTYPE_BOOL,
    SDC_DTYPE_COUNT
} sdc_dtype;

/* Bytes per element. */
size_t sdc_dtype_size(sdc_dtype dtype);
/* The safetensors spelling ("F32", "BF16", ...). */
const char *sdc_dtype_name(sdc_dtype dtype);
/* Parses a safetensors dtype name of `len` bytes; false when unknown. */
bool sdc_dtype_from_name(const char *name, size_t len, sdc_dtype *out);

#define SDC_TENSOR_MAX_DIMS 4

/* A view of memory owned elsewhere. Strides are in elements; shape[i] >= 0. */
typedef struct sdc_tensor {
    void *data;
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_TENSOR_MAX_DIMS];
    int64_t stride[SDC_TENSOR_MAX_DIMS];
} sdc_tensor;

/* A contiguous (row-major) view. ndim in [0, SDC_TENSOR_MAX_DIMS]. */
sdc_tensor sdc_tensor_make(void *data, sdc_dtype dtype, int ndim, const int64_t *shape);
int64_t sdc_tensor_numel(const sdc_tensor *t);
size_t sdc_tensor_nbytes(const sdc_tensor *t); /* numel * element size; contiguous views */
bool sdc_tensor_is_contiguous(const sdc_tensor *t);
bool sdc_tensor_same_shape(const sdc_tensor *a, const sdc_tensor *b);
/* Pointer to the element at the given indices (ndim of them). */
void *sdc_tensor_at(const sdc_tensor *t, const int64_t *index);
/* The view restricted to [begin, end) along dim. */
sdc_tensor sdc_tensor_slice(const sdc_tensor *t, int dim, int64_t begin, int64_t end);
/* The view with dims d0 and d1 swapped (no copy). */
sdc_tensor sdc_tensor_transpose(const sdc_tensor *t, int d0, int d1);
/* A contiguous view with another shape of the same numel; false if t is not contiguous or the
 * sizes differ. */
bool sdc_tensor_reshape(const sdc_tensor *t, int ndim, const int64_t *shape, sdc_tensor *out);
/* Writes "[2, 4, 64, 64]" into buf (always NUL-terminated); returns buf. */
char *sdc_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------- */
/* Half precision (bit-exact with numpy's float16 and torch's bfloat16 conversions)           */

/* Round to nearest even, overflow to inf, gradual underflow to subnormals. NaN keeps its sign
 * and its top payload bits and stays NaN, as numpy does. */
uint16_t sdc_f32_to_f16(float f);
float sdc_f16_to_f32(uint16_t h);
/* Round to nearest even; every NaN becomes 0xFFFF, as torch's CPU tensor cast gives. */
uint16_t sdc_f32_to_bf16(float f);
float sdc_bf16_to_f32(uint16_t h);

void sdc_f16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void sdc_f32_to_f16_row(const float *src, uint16_t *dst, size_t n);
void sdc_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void sdc_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n);

/* ---------------------------------------------------------------------------------------- */
/* CPU features                                                                               */

typedef enum sdc_cpu_level {
    SDC_CPU_LEVEL_SCALAR,
    SDC_CPU_LEVEL_AVX2,        /* AVX2 + FMA + F16C */
    SDC_CPU_LEVEL_AVX512,      /* + AVX-512 F, BW, VL */
    SDC_CPU_LEVEL_AVX512_BF16, /* + AVX512_BF16 (and VNNI when present) */
    SDC_CPU_LEVEL_COUNT
} sdc_cpu_level;

typedef struct sdc_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl;
    bool avx512_bf16, avx512_vnni;
} sdc_cpu_features;

/* What the processor and the operating system support (CPUID + XGETBV). */
void sdc_cpu_detect(sdc_cpu_features *out);
/* The highest level the features allow. */
sdc_cpu_level sdc_cpu_level_of(const sdc_cpu_features *f);
/* Clears every feature above `cap`. */
void sdc_cpu_cap(sdc_cpu_features *f, sdc_cpu_level cap);
const char *sdc_cpu_level_name(sdc_cpu_level level);
/* Parses a level name ("scalar", "avx2", "avx512", "avx512-bf16"); false when unknown. */
bool sdc_cpu_level_from_name(const char *name, sdc_cpu_level *out);
/* The features the context's kernels may use (after SDC_CPU_MAX). */
const sdc_cpu_features *sdc_context_cpu(const sdc_context *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Timers                                                                                     */

/* Monotonic nanoseconds since an arbitrary start. */
uint64_t sdc_time_ns(void);
static inline double sdc_time_s(void)
{
    return (double)sdc_time_ns() * 1e-9;
}

#endif /* SDC_CORE_CORE_H */
