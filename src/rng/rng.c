/*
 * rng.c — the sdc_rng handle: checks arguments, owns the state of one source and dispatches to
 * numpy.c, torch_cpu.c or philox.c through a table indexed by sdc_rng_kind.
 */
#include "rng/rng.h"
#include "rng/sources.h"

#include <string.h>

struct sdc_rng {
    sdc_context *ctx;
    sdc_rng_kind kind;
    uint64_t seed;
    sdc_rng_observer_fn observer; /* tests only; NULL */
    void *observer_user;
    union {
        sdc_rng_numpy numpy;
        sdc_rng_torch torch;
        sdc_rng_philox philox;
    } u;
};

typedef struct rng_ops {
    const char *name;
    uint64_t max_seed;
    void (*seed)(sdc_rng *rng, uint64_t seed);
    void (*normal)(sdc_rng *rng, float *out, size_t n);
    void (*uniform)(sdc_rng *rng, float *out, size_t n);
    void (*normal_f64)(sdc_rng *rng, double *out, size_t n);  /* NULL: unsupported */
    void (*uniform_f64)(sdc_rng *rng, double *out, size_t n); /* NULL: unsupported */
} rng_ops;

/* numpy draws float64 and the float32 result is the cast, converted chunk by chunk. */
static void numpy_seed(sdc_rng *rng, uint64_t seed)
{
    sdc_rng_numpy_seed(&rng->u.numpy, (uint32_t)seed);
}

static void numpy_normal(sdc_rng *rng, float *out, size_t n)
{
    double chunk[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t m = n - i < 256 ? n - i : 256;
        sdc_rng_numpy_normal(&rng->u.numpy, chunk, m);
        for (size_t j = 0; j < m; j++)
            out[i + j] = (float)chunk[j];
    }
}

static void numpy_uniform(sdc_rng *rng, float *out, size_t n)
{
    double chunk[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t m = n - i < 256 ? n - i : 256;
        sdc_rng_numpy_uniform(&rng->u.numpy, chunk, m);
        for (size_t j = 0; j < m; j++)
            out[i + j] = (float)chunk[j];
    }
}

static void numpy_normal_f64(sdc_rng *rng, double *out, size_t n)
{
    sdc_rng_numpy_normal(&rng->u.numpy, out, n);
}

static void numpy_uniform_f64(sdc_rng *rng, double *out, size_t n)
{
    sdc_rng_numpy_uniform(&rng->u.numpy, out, n);
}

static void torch_seed(sdc_rng *rng, uint64_t seed)
{
    sdc_rng_torch_seed(&rng->u.torch, seed);
}

static void torch_normal(sdc_rng *rng, float *out, size_t n)
{
    sdc_rng_torch_normal_f32(&rng->u.torch, out, n);
}

static void torch_uniform(sdc_rng *rng, float *out, size_t n)
{
    sdc_rng_torch_uniform_f32(&rng->u.torch, out, n);
}

static void torch_normal_f64(sdc_rng *rng, double *out, size_t n)
{
    sdc_rng_torch_normal_f64(&rng->u.torch, out, n);
}

static void torch_uniform_f64(sdc_rng *rng, double *out, size_t n)
{
    sdc_rng_torch_uniform_f64(&rng->u.torch, out, n);
}

static void philox_seed(sdc_rng *rng, uint64_t seed)
{
    sdc_rng_philox_seed(&rng->u.philox, seed);
}

static void philox_normal(sdc_rng *rng, float *out, size_t n)
{
    sdc_rng_philox_normal_f32(&rng->u.philox, out, n);
}

static void philox_uniform(sdc_rng *rng, float *out, size_t n)
{
    sdc_rng_philox_uniform_f32(&rng->u.philox, out, n);
}

static const rng_ops ops_table[] = {
    [SDC_RNG_KIND_NUMPY] = {"numpy", UINT32_MAX, numpy_seed, numpy_normal, numpy_uniform,
                            numpy_normal_f64, numpy_uniform_f64},
    [SDC_RNG_KIND_TORCH] = {"torch", UINT64_MAX, torch_seed, torch_normal, torch_uniform,
                            torch_normal_f64, torch_uniform_f64},
    [SDC_RNG_KIND_PHILOX] = {"philox", UINT64_MAX, philox_seed, philox_normal, philox_uniform, NULL,
                             NULL},
};
static_assert(sizeof ops_table / sizeof ops_table[0] == SDC_RNG_KIND_COUNT,
              "one entry per random source");

sdc_status sdc_rng_create(sdc_context *ctx, sdc_rng_kind kind, uint64_t seed, sdc_rng **out)
{
    *out = NULL;
    if ((unsigned)kind >= SDC_RNG_KIND_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng: kind %d is not a random source (expected numpy, torch or philox)",
                        (int)kind);
    const rng_ops *ops = &ops_table[kind];
    if (seed > ops->max_seed)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng %s: seed %llu is out of range: expected a seed in [0, %llu] "
                        "(numpy's RandomState refuses larger seeds)",
                        ops->name, (unsigned long long)seed, (unsigned long long)ops->max_seed);
    sdc_rng *rng = sdc_calloc(ctx, 1, sizeof *rng);
    if (!rng)
        return sdc_fail_oom(ctx, "random source", sizeof *rng);
    rng->ctx = ctx;
    rng->kind = kind;
    rng->seed = seed;
    ops->seed(rng, seed);
    *out = rng;
    return SDC_STATUS_OK;
}

void sdc_rng_destroy(sdc_rng *rng)
{
    if (!rng)
        return;
    sdc_free(rng->ctx, rng);
}

sdc_rng_kind sdc_rng_get_kind(const sdc_rng *rng)
{
    return rng->kind;
}

uint64_t sdc_rng_get_seed(const sdc_rng *rng)
{
    return rng->seed;
}

void sdc_rng_set_observer(sdc_rng *rng, sdc_rng_observer_fn fn, void *user)
{
    rng->observer = fn;
    rng->observer_user = user;
}

static void observe(sdc_rng *rng, sdc_rng_call call, const void *values, size_t n)
{
    if (rng->observer)
        rng->observer(rng->observer_user, call, values, n);
}

static sdc_status check_output(sdc_rng *rng, const void *out, size_t n, const char *what)
{
    if (n > 0 && out == NULL)
        return sdc_fail(rng->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng %s: %s: output buffer is NULL for %zu values",
                        ops_table[rng->kind].name, what, n);
    return SDC_STATUS_OK;
}

sdc_status sdc_rng_normal(sdc_rng *rng, float *out, size_t n)
{
    sdc_status st = check_output(rng, out, n, "normal");
    if (st != SDC_STATUS_OK)
        return st;
    ops_table[rng->kind].normal(rng, out, n);
    observe(rng, SDC_RNG_CALL_NORMAL, out, n);
    return SDC_STATUS_OK;
}

sdc_status sdc_rng_uniform(sdc_rng *rng, float *out, size_t n)
{
    sdc_status st = check_output(rng, out, n, "uniform");
    if (st != SDC_STATUS_OK)
        return st;
    ops_table[rng->kind].uniform(rng, out, n);
    observe(rng, SDC_RNG_CALL_UNIFORM, out, n);
    return SDC_STATUS_OK;
}

static sdc_status f64_call(sdc_rng *rng, void (*fn)(sdc_rng *, double *, size_t), double *out,
                           size_t n, sdc_rng_call call, const char *what)
{
    if (!fn)
        return sdc_fail(rng->ctx, SDC_STATUS_UNSUPPORTED,
                        "rng %s: %s: float64 values are not reproduced for this source "
                        "(use the float32 call)",
                        ops_table[rng->kind].name, what);
    sdc_status st = check_output(rng, out, n, what);
    if (st != SDC_STATUS_OK)
        return st;
    fn(rng, out, n);
    observe(rng, call, out, n);
    return SDC_STATUS_OK;
}

sdc_status sdc_rng_normal_f64(sdc_rng *rng, double *out, size_t n)
{
    return f64_call(rng, ops_table[rng->kind].normal_f64, out, n, SDC_RNG_CALL_NORMAL_F64,
                    "normal_f64");
}

sdc_status sdc_rng_uniform_f64(sdc_rng *rng, double *out, size_t n)
{
    return f64_call(rng, ops_table[rng->kind].uniform_f64, out, n, SDC_RNG_CALL_UNIFORM_F64,
                    "uniform_f64");
}

sdc_status sdc_rng_set_cuda_device(sdc_rng *rng, uint32_t multiprocessor_count,
                                   uint32_t max_threads_per_multiprocessor)
{
    if (rng->kind != SDC_RNG_KIND_PHILOX)
        return sdc_fail(rng->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng %s: a CUDA device's launch configuration applies to philox only",
                        ops_table[rng->kind].name);
    uint64_t blocks = (uint64_t)multiprocessor_count * (max_threads_per_multiprocessor / 256u);
    if (blocks == 0 || blocks > UINT32_MAX)
        return sdc_fail(rng->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "rng philox: device with %u multiprocessors and %u threads per "
                        "multiprocessor: expected at least 1 multiprocessor and 256 threads, and "
                        "fewer than 2**32 blocks",
                        multiprocessor_count, max_threads_per_multiprocessor);
    rng->u.philox.max_blocks = (uint32_t)blocks;
    return SDC_STATUS_OK;
}

const char *sdc_rng_kind_name(sdc_rng_kind kind)
{
    if ((unsigned)kind >= SDC_RNG_KIND_COUNT)
        return "?";
    return ops_table[kind].name;
}

bool sdc_rng_kind_from_name(const char *name, sdc_rng_kind *out)
{
    static const struct {
        const char *name;
        sdc_rng_kind kind;
    } aliases[] = {
        {"numpy", SDC_RNG_KIND_NUMPY}, {"torch", SDC_RNG_KIND_TORCH},
        {"cpu", SDC_RNG_KIND_TORCH},   {"philox", SDC_RNG_KIND_PHILOX},
        {"cuda", SDC_RNG_KIND_PHILOX}, {"gpu", SDC_RNG_KIND_PHILOX},
    };
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(aliases[i].name, name) == 0) {
            *out = aliases[i].kind;
            return true;
        }
    }
    return false;
}
