/*
 * threadpool.c — the context's worker threads and sdc_parallel_for: one job at a time, chunks
 * handed out dynamically from an atomic counter (each item runs exactly once, so results never
 * depend on scheduling). Between jobs threads spin briefly (yielding their core) before
 * sleeping, so back-to-back kernel calls do not each pay a futex wake-up.
 */
#include "core/context.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/* How long a thread spins before sleeping: longer than the gap between two kernel calls of a
 * forward pass, short enough not to burn a shared core when the model is idle. */
#define SPIN_NS 200000u

struct sdc_threadpool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint_fast64_t generation; /* bumped for each job, under the mutex */
    atomic_int pending;              /* workers still running the current job */
    atomic_bool stop;
    atomic_bool busy; /* a job is running: nested calls run serially */

    /* the current job, written before the generation bump */
    sdc_range_fn fn;
    void *arg;
    int64_t n;
    int64_t chunk;
    atomic_int_fast64_t next;
};

typedef struct worker_arg {
    sdc_threadpool *pool;
    int thread;
} worker_arg;

static void run_chunks(sdc_threadpool *pool, int thread)
{
    for (;;) {
        int64_t begin = atomic_fetch_add(&pool->next, pool->chunk);
        if (begin >= pool->n)
            break;
        int64_t end = begin + pool->chunk < pool->n ? begin + pool->chunk : pool->n;
        pool->fn(pool->arg, begin, end, thread);
    }
}

/* Spins until `done` says so or SPIN_NS pass; true when done. After the first few hundred
 * rounds the spinning thread yields its core on each round, so that when there are more
 * threads than free cores (a loaded machine) the threads with work still get to run. */
static bool spin_until(bool (*done)(sdc_threadpool *, uint64_t), sdc_threadpool *pool,
                       uint64_t value)
{
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        if (done(pool, value))
            return true;
        if (i < 256) {
            SDC_CPU_RELAX();
            continue;
        }
        uint64_t now = sdc_time_ns();
        if (start == 0)
            start = now;
        else if (now - start > SPIN_NS)
            return false;
        sched_yield();
    }
}

static bool new_job(sdc_threadpool *pool, uint64_t seen)
{
    return atomic_load_explicit(&pool->stop, memory_order_acquire) ||
           atomic_load_explicit(&pool->generation, memory_order_acquire) != seen;
}

static bool all_done(sdc_threadpool *pool, uint64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&pool->pending, memory_order_acquire) == 0;
}

static void *worker_main(void *p)
{
    worker_arg wa = *(worker_arg *)p;
    sdc_threadpool *pool = wa.pool;
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(new_job, pool, seen)) {
            pthread_mutex_lock(&pool->mutex);
            while (!new_job(pool, seen))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop))
            break;
        seen = atomic_load(&pool->generation);

        run_chunks(pool, wa.thread);

        if (atomic_fetch_sub(&pool->pending, 1) == 1) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
    return NULL;
}

/* Thread start arguments live here until the pool is destroyed. */
typedef struct pool_block {
    sdc_threadpool pool;
    worker_arg args[];
} pool_block;

sdc_status sdc_threadpool_create(sdc_context *ctx, int n_threads, sdc_threadpool **out)
{
    *out = NULL;
    int n_workers = n_threads - 1;
    size_t bytes = sizeof(pool_block) + (size_t)n_workers * sizeof(worker_arg);
    pool_block *block = sdc_calloc(ctx, 1, bytes);
    if (!block)
        return sdc_fail_oom(ctx, "the thread pool", bytes);
    sdc_threadpool *pool = &block->pool;
    pool->threads = sdc_calloc(ctx, (size_t)n_workers, sizeof(pthread_t));
    if (!pool->threads) {
        sdc_free(ctx, block);
        return sdc_fail_oom(ctx, "the thread pool", (size_t)n_workers * sizeof(pthread_t));
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->busy, false);
    atomic_init(&pool->next, 0);

    for (int i = 0; i < n_workers; i++) {
        block->args[i] = (worker_arg){pool, i + 1};
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, &block->args[i]);
        if (rc != 0) {
            pool->n_workers = i; /* join the ones that started */
            sdc_threadpool_destroy(ctx, pool);
            return sdc_fail(ctx, SDC_STATUS_INTERNAL, "could not start worker thread %d: %s", i + 1,
                            strerror(rc));
        }
    }
    pool->n_workers = n_workers;
    *out = pool;
    return SDC_STATUS_OK;
}

void sdc_threadpool_destroy(sdc_context *ctx, sdc_threadpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    sdc_free(ctx, pool->threads);
    sdc_free(ctx, (pool_block *)pool); /* pool is the first member of its block */
}

void sdc_parallel_for(sdc_context *ctx, int64_t n, int64_t grain, sdc_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    sdc_threadpool *pool = ctx->pool;
    int n_threads = ctx->n_threads;
    /* Many items go out in chunks of about a quarter of a thread's share; a few (at most 16 per
     * thread, each then worth an atomic step: GEMM blocks, attention tiles) one at a time, so
     * that equal items end up evenly spread however the chunks would have fallen. */
    int64_t chunk = n <= (int64_t)n_threads * 16
                        ? 1
                        : (n + (int64_t)n_threads * 4 - 1) / ((int64_t)n_threads * 4);
    if (chunk < grain)
        chunk = grain;
    if (chunk < 1)
        chunk = 1;
    if (!pool || chunk >= n || atomic_exchange(&pool->busy, true)) {
        fn(arg, 0, n, 0);
        return;
    }

    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store(&pool->next, 0);
    atomic_store(&pool->pending, pool->n_workers);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    run_chunks(pool, 0);

    if (!spin_until(all_done, pool, 0)) {
        pthread_mutex_lock(&pool->mutex);
        while (atomic_load(&pool->pending) > 0)
            pthread_cond_wait(&pool->done, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
    }
    atomic_store(&pool->busy, false);
}
