/*
 * alloc.c — every allocation of a context: 64-byte aligned blocks from the caller's hooks,
 * with accounting (live, peak), fault injection (fail the n-th allocation) and a limit.
 *
 * Each block carries a small header just before the aligned pointer holding the raw pointer
 * from the hook and the requested size, so sdc_free can account for it without a size.
 */
#include "core/context.h"

#include <string.h>

typedef struct block_header {
    void *raw;
    size_t size;
} block_header;
static_assert(sizeof(block_header) <= SDC_ALIGN, "header fits in the alignment slack");

/* Decides whether this allocation is refused by fault injection. The countdown reaching
 * zero on this call means "this is the n-th one". */
static bool injected_failure(sdc_context *ctx)
{
    uint_fast64_t c = atomic_load(&ctx->fail_countdown);
    while (c != 0) {
        if (atomic_compare_exchange_weak(&ctx->fail_countdown, &c, c - 1))
            return c == 1;
    }
    return false;
}

/* Adds size to live_bytes unless that passes the limit. */
static bool account_alloc(sdc_context *ctx, size_t size)
{
    size_t limit = atomic_load(&ctx->limit_bytes);
    size_t live = atomic_load(&ctx->live_bytes);
    size_t next;
    do {
        if (!sdc_size_add(live, size, &next) || (limit != 0 && next > limit))
            return false;
    } while (!atomic_compare_exchange_weak(&ctx->live_bytes, &live, next));

    size_t peak = atomic_load(&ctx->peak_bytes);
    while (next > peak && !atomic_compare_exchange_weak(&ctx->peak_bytes, &peak, next)) {
    }
    return true;
}

void *sdc_malloc(sdc_context *ctx, size_t size)
{
    size_t total;
    if (!sdc_size_add(size, SDC_ALIGN + sizeof(block_header), &total))
        goto refused;
    if (injected_failure(ctx))
        goto refused;
    if (!account_alloc(ctx, size))
        goto refused;

    unsigned char *raw = ctx->allocator.alloc(ctx->allocator.user, total);
    if (!raw) {
        atomic_fetch_sub(&ctx->live_bytes, size);
        goto refused;
    }
    uintptr_t p = (uintptr_t)raw + sizeof(block_header);
    p = (p + SDC_ALIGN - 1) & ~(uintptr_t)(SDC_ALIGN - 1);
    block_header *h = (block_header *)(p - sizeof(block_header));
    h->raw = raw;
    h->size = size;
    atomic_fetch_add(&ctx->n_allocs, 1);
    return (void *)p;

refused:
    atomic_fetch_add(&ctx->n_failed, 1);
    return NULL;
}

void *sdc_calloc(sdc_context *ctx, size_t n, size_t size)
{
    size_t bytes;
    if (!sdc_size_mul(n, size, &bytes)) {
        atomic_fetch_add(&ctx->n_failed, 1);
        return NULL;
    }
    void *p = sdc_malloc(ctx, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void sdc_free(sdc_context *ctx, void *ptr)
{
    if (!ptr)
        return;
    block_header *h = (block_header *)((unsigned char *)ptr - sizeof(block_header));
    atomic_fetch_sub(&ctx->live_bytes, h->size);
    atomic_fetch_add(&ctx->n_frees, 1);
    ctx->allocator.free(ctx->allocator.user, h->raw);
}

void *sdc_realloc(sdc_context *ctx, void *ptr, size_t size)
{
    if (!ptr)
        return sdc_malloc(ctx, size);
    block_header *h = (block_header *)((unsigned char *)ptr - sizeof(block_header));
    if (size <= h->size && size >= h->size / 2) {
        /* Shrinking a little: keep the block, account the new size. */
        atomic_fetch_sub(&ctx->live_bytes, h->size - size);
        h->size = size;
        return ptr;
    }
    void *q = sdc_malloc(ctx, size);
    if (!q)
        return NULL;
    memcpy(q, ptr, size < h->size ? size : h->size);
    sdc_free(ctx, ptr);
    return q;
}

char *sdc_strndup(sdc_context *ctx, const char *s, size_t len)
{
    size_t bytes;
    if (!sdc_size_add(len, 1, &bytes))
        return NULL;
    char *p = sdc_malloc(ctx, bytes);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *sdc_strdup(sdc_context *ctx, const char *s)
{
    return sdc_strndup(ctx, s, strlen(s));
}

void sdc_alloc_get_stats(const sdc_context *ctx, sdc_alloc_stats *out)
{
    sdc_context *c = (sdc_context *)ctx; /* atomics are read-only here */
    out->live_bytes = atomic_load(&c->live_bytes);
    out->peak_bytes = atomic_load(&c->peak_bytes);
    out->n_allocs = atomic_load(&c->n_allocs);
    out->n_frees = atomic_load(&c->n_frees);
    out->n_failed = atomic_load(&c->n_failed);
}

void sdc_alloc_reset_peak(sdc_context *ctx)
{
    atomic_store(&ctx->peak_bytes, atomic_load(&ctx->live_bytes));
}

void sdc_alloc_fail_nth(sdc_context *ctx, uint64_t n)
{
    atomic_store(&ctx->fail_countdown, n);
}

void sdc_alloc_set_limit(sdc_context *ctx, size_t bytes)
{
    atomic_store(&ctx->limit_bytes, bytes);
}
