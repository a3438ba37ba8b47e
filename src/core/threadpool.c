/*
 * threadpool.c — the context's worker threads and sdc_parallel_for.
 *
 * One job at a time: the caller publishes (fn, arg, n, chunk), wakes the workers, takes chunks
 * itself from a shared atomic counter, then waits until every worker has finished. Chunks are
 * handed out dynamically so uneven work balances; each item is processed exactly once by
 * exactly one thread, so results never depend on scheduling.
 */
#include "core/context.h"

#include <pthread.h>
#include <string.h>

struct sdc_threadpool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    uint64_t generation; /* bumped for each job; guarded by mutex */
    int pending;         /* workers still running the current job */
    bool stop;
    atomic_bool busy; /* a job is running: nested calls run serially */

    /* the current job, written under the mutex before the generation bump */
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

static void *worker_main(void *p)
{
    worker_arg wa = *(worker_arg *)p;
    sdc_threadpool *pool = wa.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->mutex);
        if (pool->stop)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->mutex);

        run_chunks(pool, wa.thread);

        pthread_mutex_lock(&pool->mutex);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mutex);
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
    atomic_init(&pool->busy, false);
    atomic_init(&pool->next, 0);

    for (int i = 0; i < n_workers; i++) {
        block->args[i] = (worker_arg){pool, i + 1};
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, &block->args[i]);
        if (rc != 0) {
            pool->n_workers = i; /* join the ones that started */
            sdc_threadpool_destroy(ctx, pool);
            return sdc_fail(ctx, SDC_STATUS_INTERNAL, "could not start worker thread %d: %s",
                            i + 1, strerror(rc));
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
    pool->stop = true;
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
    int64_t chunk = (n + (int64_t)n_threads * 4 - 1) / ((int64_t)n_threads * 4);
    if (chunk < grain)
        chunk = grain;
    if (chunk < 1)
        chunk = 1;
    if (!pool || chunk >= n || atomic_exchange(&pool->busy, true)) {
        fn(arg, 0, n, 0);
        return;
    }

    pthread_mutex_lock(&pool->mutex);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store(&pool->next, 0);
    pool->pending = pool->n_workers;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    run_chunks(pool, 0);

    pthread_mutex_lock(&pool->mutex);
    while (pool->pending > 0)
        pthread_cond_wait(&pool->done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    atomic_store(&pool->busy, false);
}
