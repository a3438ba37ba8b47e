/*
 * Tests sdc_parallel_for: every item processed exactly once for awkward sizes and grains,
 * thread ids in range, nested calls serialised, and many back-to-back jobs.
 */
#include "core/core.h"
#include "test.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct job {
    atomic_int *hits;
    int n_threads;
    atomic_int bad_thread;
    sdc_context *ctx;
    atomic_int inner_total;
} job;

static void mark(void *arg, int64_t begin, int64_t end, int thread)
{
    job *j = arg;
    if (thread < 0 || thread >= j->n_threads)
        atomic_fetch_add(&j->bad_thread, 1);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&j->hits[i], 1);
}

static void check_sizes(int n_threads)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = n_threads;
    sdc_context *ctx;
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    const int64_t sizes[] = {0, 1, 2, 3, 7, 17, 33, 1023, 4096, 100003};
    const int64_t grains[] = {0, 1, 5, 64, 1000000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
            int64_t n = sizes[s];
            job j = {.n_threads = n_threads};
            j.hits = calloc((size_t)n + 1, sizeof(atomic_int));
            atomic_init(&j.bad_thread, 0);
            sdc_parallel_for(ctx, n, grains[g], mark, &j);
            int64_t wrong = 0;
            for (int64_t i = 0; i < n; i++)
                wrong += atomic_load(&j.hits[i]) != 1;
            CHECK_MSG(wrong == 0, "n=%lld grain=%lld threads=%d: %lld items not hit once",
                      (long long)n, (long long)grains[g], n_threads, (long long)wrong);
            CHECK_EQ_INT(atomic_load(&j.bad_thread), 0);
            free(j.hits);
        }
    }
    sdc_context_destroy(ctx);
}

static void test_sizes_1_thread(void)
{
    check_sizes(1);
}
static void test_sizes_2_threads(void)
{
    check_sizes(2);
}
static void test_sizes_5_threads(void)
{
    check_sizes(5);
}

static void inner(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    atomic_fetch_add(&((job *)arg)->inner_total, (int)(end - begin));
}

static void outer(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    job *j = arg;
    for (int64_t i = begin; i < end; i++)
        sdc_parallel_for(j->ctx, 10, 1, inner, j);
}

static void test_nested(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 3;
    sdc_context *ctx;
    sdc_context_create(&p, &ctx);
    job j = {.ctx = ctx};
    atomic_init(&j.inner_total, 0);
    sdc_parallel_for(ctx, 50, 1, outer, &j);
    CHECK_EQ_INT(atomic_load(&j.inner_total), 500);
    sdc_context_destroy(ctx);
}

static void add_one(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    atomic_fetch_add((atomic_long *)arg, (long)(end - begin));
}

static void test_many_jobs(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 4;
    sdc_context *ctx;
    sdc_context_create(&p, &ctx);
    atomic_long total;
    atomic_init(&total, 0);
    for (int i = 0; i < 20000; i++)
        sdc_parallel_for(ctx, 8, 1, add_one, &total);
    CHECK_EQ_INT(atomic_load(&total), 160000);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_sizes_1_thread);
    RUN(test_sizes_2_threads);
    RUN(test_sizes_5_threads);
    RUN(test_nested);
    RUN(test_many_jobs);
    return test_finish();
}
