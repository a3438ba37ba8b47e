/*
 * Tests the allocator hooks: alignment, accounting, fault injection, limits, realloc, and
 * the arena (growable and fixed).
 */
#include "core/core.h"
#include "test.h"

#include <stdlib.h>

typedef struct hook_counts {
    int allocs, frees;
} hook_counts;

static void *counting_alloc(void *user, size_t size)
{
    ((hook_counts *)user)->allocs++;
    return malloc(size);
}

static void counting_free(void *user, void *p)
{
    ((hook_counts *)user)->frees++;
    free(p);
}

static sdc_context *make_ctx(hook_counts *hc)
{
    static sdc_allocator a;
    a = (sdc_allocator){counting_alloc, counting_free, hc};
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    p.allocator = &a;
    sdc_context *ctx = NULL;
    sdc_context_create(&p, &ctx);
    return ctx;
}

static void test_alignment_and_accounting(void)
{
    hook_counts hc = {0};
    sdc_context *ctx = make_ctx(&hc);
    CHECK(ctx != NULL);
    int base_allocs = hc.allocs; /* the context itself */
    void *p[17];
    size_t total = 0;
    for (int i = 0; i < 17; i++) {
        p[i] = sdc_malloc(ctx, (size_t)i * 7 + 1);
        total += (size_t)i * 7 + 1;
        CHECK(p[i] != NULL);
        CHECK(((uintptr_t)p[i] % SDC_ALIGN) == 0);
        memset(p[i], 0xab, (size_t)i * 7 + 1);
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, total);
    CHECK_EQ_INT(s.peak_bytes, total);
    CHECK_EQ_INT(s.n_allocs, 17);
    CHECK_EQ_INT(hc.allocs - base_allocs, 17);
    for (int i = 0; i < 17; i++)
        sdc_free(ctx, p[i]);
    sdc_free(ctx, NULL);
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
    CHECK_EQ_INT(s.peak_bytes, total);
    CHECK_EQ_INT(s.n_frees, 17);
    sdc_context_destroy(ctx);
    CHECK_EQ_INT(hc.allocs, hc.frees);
}

static void test_fault_injection(void)
{
    hook_counts hc = {0};
    sdc_context *ctx = make_ctx(&hc);
    sdc_alloc_fail_nth(ctx, 3);
    void *a = sdc_malloc(ctx, 10), *b = sdc_malloc(ctx, 10), *c = sdc_malloc(ctx, 10);
    void *d = sdc_malloc(ctx, 10);
    CHECK(a && b && !c && d);
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.n_failed, 1);
    CHECK_EQ_INT(s.live_bytes, 30);
    sdc_free(ctx, a);
    sdc_free(ctx, b);
    sdc_free(ctx, d);
    /* calloc overflow is refused without calling the hook */
    int before = hc.allocs;
    CHECK(sdc_calloc(ctx, SIZE_MAX / 2, 3) == NULL);
    CHECK(sdc_malloc(ctx, SIZE_MAX - 8) == NULL);
    CHECK_EQ_INT(hc.allocs, before);
    sdc_context_destroy(ctx);
    CHECK_EQ_INT(hc.allocs, hc.frees);
}

static void test_limit(void)
{
    hook_counts hc = {0};
    sdc_context *ctx = make_ctx(&hc);
    sdc_alloc_set_limit(ctx, 1000);
    void *a = sdc_malloc(ctx, 600);
    void *b = sdc_malloc(ctx, 600);
    CHECK(a != NULL && b == NULL);
    void *c = sdc_malloc(ctx, 400);
    CHECK(c != NULL);
    sdc_free(ctx, a);
    sdc_free(ctx, c);
    sdc_alloc_set_limit(ctx, 0);
    a = sdc_malloc(ctx, 5000);
    CHECK(a != NULL);
    sdc_free(ctx, a);
    sdc_context_destroy(ctx);
}

static void test_realloc_and_strings(void)
{
    sdc_context *ctx;
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context_create(&p, &ctx);
    char *s = sdc_realloc(ctx, NULL, 4);
    memcpy(s, "abc", 4);
    s = sdc_realloc(ctx, s, 1 << 20);
    CHECK_EQ_STR(s, "abc");
    s = sdc_realloc(ctx, s, 3);
    CHECK(memcmp(s, "abc", 3) == 0);
    sdc_alloc_stats st;
    sdc_alloc_get_stats(ctx, &st);
    CHECK_EQ_INT(st.live_bytes, 3);
    sdc_free(ctx, s);
    char *d = sdc_strndup(ctx, "hello world", 5);
    CHECK_EQ_STR(d, "hello");
    sdc_free(ctx, d);
    d = sdc_strdup(ctx, "x");
    CHECK_EQ_STR(d, "x");
    sdc_free(ctx, d);
    sdc_alloc_get_stats(ctx, &st);
    CHECK_EQ_INT(st.live_bytes, 0);
    sdc_context_destroy(ctx);
}

static void test_arena(void)
{
    sdc_context *ctx;
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context_create(&p, &ctx);

    sdc_arena a;
    sdc_arena_init(&a, ctx, 256);
    char *x = sdc_arena_alloc(&a, 100, 1);
    char *y = sdc_arena_alloc(&a, 100, 8);
    CHECK(x && y && ((uintptr_t)y % 8) == 0);
    sdc_arena_mark m = sdc_arena_get_mark(&a);
    char *z = sdc_arena_alloc(&a, 1000, 0); /* bigger than a block: its own block */
    CHECK(z && ((uintptr_t)z % SDC_ALIGN) == 0);
    memset(z, 1, 1000);
    sdc_arena_reset_to(&a, m);
    char *w = sdc_arena_alloc(&a, 16, 16);
    CHECK(w != NULL);
    CHECK(a.high_water >= 1200);
    CHECK(sdc_arena_alloc(&a, 8, 3) == NULL); /* not a power of two */
    CHECK(sdc_arena_alloc(&a, 1000, 0) != NULL); /* a second block again */
    sdc_arena_reset(&a);
    CHECK_EQ_INT(a.used, 0);
    /* after a reset the next block holds everything seen before */
    CHECK(a.block_size >= 1200);
    sdc_arena_release(&a);
    sdc_alloc_stats st;
    sdc_alloc_get_stats(ctx, &st);
    CHECK_EQ_INT(st.live_bytes, 0);

    CHECK_EQ_INT(sdc_arena_init_fixed(&a, ctx, 1024), SDC_STATUS_OK);
    CHECK(sdc_arena_alloc(&a, 1000, 0) != NULL);
    CHECK(sdc_arena_alloc(&a, 64, 0) == NULL); /* fixed: never grows */
    sdc_arena_reset(&a);
    CHECK(sdc_arena_alloc(&a, 1024, 0) != NULL);
    sdc_arena_release(&a);

    sdc_alloc_fail_nth(ctx, 1);
    CHECK_EQ_INT(sdc_arena_init_fixed(&a, ctx, 1024), SDC_STATUS_OUT_OF_MEMORY);
    sdc_arena_release(&a);
    sdc_alloc_get_stats(ctx, &st);
    CHECK_EQ_INT(st.live_bytes, 0);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_alignment_and_accounting);
    RUN(test_fault_injection);
    RUN(test_limit);
    RUN(test_realloc_and_strings);
    RUN(test_arena);
    return test_finish();
}
