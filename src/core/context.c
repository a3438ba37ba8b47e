/*
 * context.c — the context object: status strings, the last-error message, logging, and
 * creation (thread pool, CPU features capped by SDC_CPU_MAX).
 */
#include "core/context.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *sdc_version(void)
{
#define SDC_STR2(x) #x
#define SDC_STR(x) SDC_STR2(x)
    return SDC_STR(SDC_VERSION_MAJOR) "." SDC_STR(SDC_VERSION_MINOR) "." SDC_STR(
        SDC_VERSION_PATCH);
#undef SDC_STR
#undef SDC_STR2
}

static const char *const status_strings[] = {
    [SDC_STATUS_OK] = "ok",
    [SDC_STATUS_INVALID_ARGUMENT] = "invalid argument",
    [SDC_STATUS_OUT_OF_MEMORY] = "out of memory",
    [SDC_STATUS_IO] = "input/output error",
    [SDC_STATUS_FORMAT] = "malformed data",
    [SDC_STATUS_UNSUPPORTED] = "unsupported",
    [SDC_STATUS_NOT_FOUND] = "not found",
    [SDC_STATUS_SHAPE] = "wrong dtype or shape",
    [SDC_STATUS_CANCELLED] = "cancelled",
    [SDC_STATUS_INTERNAL] = "internal error",
};
static_assert(sizeof status_strings / sizeof status_strings[0] == SDC_STATUS_COUNT,
              "one string per status");

const char *sdc_status_string(sdc_status status)
{
    if ((unsigned)status >= SDC_STATUS_COUNT)
        return "unknown status";
    return status_strings[status];
}

/* ---------------------------------------------------------------------------------------- */

sdc_status sdc_failv(sdc_context *ctx, sdc_status status, const char *fmt, va_list ap)
{
    if (ctx) {
        ctx->err_status = status;
        vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
    }
    return status;
}

sdc_status sdc_fail(sdc_context *ctx, sdc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sdc_failv(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

sdc_status sdc_fail_oom(sdc_context *ctx, const char *what, size_t bytes)
{
    return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s",
                    bytes, what);
}

void sdc_clear_error(sdc_context *ctx)
{
    ctx->err_status = SDC_STATUS_OK;
    ctx->err_msg[0] = '\0';
}

const char *sdc_context_errmsg(const sdc_context *ctx)
{
    return ctx ? ctx->err_msg : "no context";
}

sdc_status sdc_context_errcode(const sdc_context *ctx)
{
    return ctx ? ctx->err_status : SDC_STATUS_INVALID_ARGUMENT;
}

/* ---------------------------------------------------------------------------------------- */

static const char *const level_names[] = {
    [SDC_LOG_LEVEL_ERROR] = "error",
    [SDC_LOG_LEVEL_WARN] = "warning",
    [SDC_LOG_LEVEL_INFO] = "info",
    [SDC_LOG_LEVEL_DEBUG] = "debug",
};
static_assert(sizeof level_names / sizeof level_names[0] == SDC_LOG_LEVEL_COUNT,
              "one name per log level");

static void log_to_stderr(void *user, sdc_log_level level, const char *message)
{
    (void)user;
    fprintf(stderr, "sdc: %s: %s\n", level_names[level], message);
}

bool sdc_log_enabled(const sdc_context *ctx, sdc_log_level level)
{
    return ctx && level <= ctx->log_level;
}

void sdc_log(sdc_context *ctx, sdc_log_level level, const char *fmt, ...)
{
    if (!sdc_log_enabled(ctx, level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, msg);
}

/* ---------------------------------------------------------------------------------------- */

static void *default_alloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

sdc_context_params sdc_context_default_params(void)
{
    return (sdc_context_params){
        .n_threads = 0,
        .log = NULL,
        .log_user = NULL,
        .log_level = SDC_LOG_LEVEL_WARN,
        .allocator = NULL,
        .precision = SDC_PRECISION_F32,
    };
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > 1024 ? 1024 : (int)n;
}

/* Applies SDC_CPU_MAX. A misspelt value is an error rather than silently ignored: a test run
 * that means to cover the AVX2 path must not quietly use AVX-512. */
static sdc_status apply_cpu_cap(sdc_context *ctx)
{
    sdc_cpu_detect(&ctx->cpu);
    const char *cap = getenv("SDC_CPU_MAX");
    if (cap && *cap) {
        sdc_cpu_level level;
        if (!sdc_cpu_level_from_name(cap, &level))
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "SDC_CPU_MAX='%s' is not one of scalar, avx2, avx512, avx512-bf16",
                            cap);
        sdc_cpu_cap(&ctx->cpu, level);
    }
    ctx->cpu_level = sdc_cpu_level_of(&ctx->cpu);
    return SDC_STATUS_OK;
}

sdc_status sdc_context_create(const sdc_context_params *params, sdc_context **out)
{
    sdc_status st = SDC_STATUS_OK;
    sdc_context_params p = params ? *params : sdc_context_default_params();
    *out = NULL;

    if (p.n_threads < 0 || (unsigned)p.log_level >= SDC_LOG_LEVEL_COUNT ||
        (unsigned)p.precision >= SDC_PRECISION_COUNT)
        return SDC_STATUS_INVALID_ARGUMENT;
    if (p.allocator && (!p.allocator->alloc || !p.allocator->free))
        return SDC_STATUS_INVALID_ARGUMENT;

    sdc_allocator allocator = p.allocator ? *p.allocator
                                          : (sdc_allocator){default_alloc, default_free, NULL};
    /* The context itself comes from the caller's allocator but is not accounted: it exists
     * before the accounting does. */
    sdc_context *ctx = allocator.alloc(allocator.user, sizeof *ctx);
    if (!ctx)
        return SDC_STATUS_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->allocator = allocator;
    atomic_init(&ctx->live_bytes, 0);
    atomic_init(&ctx->peak_bytes, 0);
    atomic_init(&ctx->n_allocs, 0);
    atomic_init(&ctx->n_frees, 0);
    atomic_init(&ctx->n_failed, 0);
    atomic_init(&ctx->fail_countdown, 0);
    atomic_init(&ctx->limit_bytes, 0);
    ctx->log = p.log ? p.log : log_to_stderr;
    ctx->log_user = p.log ? p.log_user : NULL;
    ctx->log_level = p.log_level;
    ctx->n_threads = p.n_threads > 0 ? p.n_threads : online_cpus();

    st = apply_cpu_cap(ctx);
    if (st != SDC_STATUS_OK) {
        sdc_log(ctx, SDC_LOG_LEVEL_ERROR, "%s", ctx->err_msg);
        goto fail_ctx;
    }
    ctx->precision = p.precision == SDC_PRECISION_BF16 && ctx->cpu_level >= SDC_CPU_LEVEL_AVX512_BF16
                         ? SDC_PRECISION_BF16
                         : SDC_PRECISION_F32;
    /* Like the context itself, the kernels' fixed per-thread and per-op scratch is not
     * accounted: it is part of the context, not of any computation (pages are touched only
     * when used). */
    size_t scratch_bytes =
        (size_t)ctx->n_threads * SDC_THREAD_SCRATCH_BYTES + SDC_OP_SCRATCH_BYTES + SDC_ALIGN;
    ctx->scratch_block = allocator.alloc(allocator.user, scratch_bytes);
    if (!ctx->scratch_block) {
        st = SDC_STATUS_OUT_OF_MEMORY;
        goto fail_ctx;
    }
    ctx->scratch = (unsigned char *)(((uintptr_t)ctx->scratch_block + SDC_ALIGN - 1) &
                                     ~(uintptr_t)(SDC_ALIGN - 1));
    if (ctx->n_threads > 1) {
        st = sdc_threadpool_create(ctx, ctx->n_threads, &ctx->pool);
        if (st != SDC_STATUS_OK)
            goto fail_scratch;
    }
    *out = ctx;
    return SDC_STATUS_OK;

fail_scratch:
    allocator.free(allocator.user, ctx->scratch_block);
fail_ctx:
    allocator.free(allocator.user, ctx);
    return st;
}

void sdc_context_destroy(sdc_context *ctx)
{
    if (!ctx)
        return;
    sdc_threadpool_destroy(ctx, ctx->pool);
    size_t live = atomic_load(&ctx->live_bytes);
    if (live != 0)
        sdc_log(ctx, SDC_LOG_LEVEL_WARN, "context destroyed with %zu bytes still allocated",
                live);
    sdc_allocator a = ctx->allocator;
    a.free(a.user, ctx->scratch_block);
    a.free(a.user, ctx);
}

int sdc_context_n_threads(const sdc_context *ctx)
{
    return ctx->n_threads;
}

const char *sdc_context_cpu_level(const sdc_context *ctx)
{
    return sdc_cpu_level_name(ctx->cpu_level);
}

const sdc_cpu_features *sdc_context_cpu(const sdc_context *ctx)
{
    return &ctx->cpu;
}

sdc_precision sdc_context_precision(const sdc_context *ctx)
{
    return ctx->precision;
}

void *sdc_thread_scratch(sdc_context *ctx, int thread)
{
    assert(thread >= 0 && thread < ctx->n_threads);
    return ctx->scratch + (size_t)thread * SDC_THREAD_SCRATCH_BYTES;
}

void *sdc_op_scratch(sdc_context *ctx)
{
    return ctx->scratch + (size_t)ctx->n_threads * SDC_THREAD_SCRATCH_BYTES;
}

void sdc_flops_add(sdc_context *ctx, double flops)
{
    ctx->flops += flops;
}

double sdc_flops_get(const sdc_context *ctx)
{
    return ctx->flops;
}

void sdc_flops_reset(sdc_context *ctx)
{
    ctx->flops = 0.0;
    memset(ctx->profile_slots, 0, sizeof ctx->profile_slots);
}

void sdc_profile_enable(sdc_context *ctx, bool on)
{
    ctx->profile = on;
}

bool sdc_profile_enabled(const sdc_context *ctx)
{
    return ctx->profile;
}

void sdc_profile_add(sdc_context *ctx, int slot, double seconds, double flops)
{
    if (slot < 0 || slot >= SDC_PROFILE_SLOTS)
        return;
    ctx->profile_slots[slot].seconds += seconds;
    ctx->profile_slots[slot].flops += flops;
    ctx->profile_slots[slot].calls++;
}

const sdc_profile_slot *sdc_profile_get(const sdc_context *ctx)
{
    return ctx->profile_slots;
}
