/*
 * context.h — the layout of sdc_context, shared by the files of the core layer only. Other
 * layers use the functions of core.h and never reach into the struct.
 */
#ifndef SDC_CORE_CONTEXT_H
#define SDC_CORE_CONTEXT_H

#include "core/core.h"

#include <stdatomic.h>

typedef struct sdc_threadpool sdc_threadpool;

struct sdc_context {
    /* memory */
    sdc_allocator allocator;
    atomic_size_t live_bytes;
    atomic_size_t peak_bytes;
    atomic_uint_fast64_t n_allocs;
    atomic_uint_fast64_t n_frees;
    atomic_uint_fast64_t n_failed;
    atomic_uint_fast64_t fail_countdown; /* 0 = off; the allocation that brings it to 0 fails */
    atomic_size_t limit_bytes;           /* 0 = none */

    /* logging */
    sdc_log_fn log;
    void *log_user;
    sdc_log_level log_level;

    /* threads and CPU */
    int n_threads;
    sdc_threadpool *pool; /* NULL when n_threads == 1 */
    sdc_cpu_features cpu;
    sdc_cpu_level cpu_level;
    sdc_precision precision; /* effective: BF16 only where the CPU has AVX512_BF16 */
    /* SDC_THREAD_SCRATCH_BYTES per thread, then SDC_OP_SCRATCH_BYTES, 64-byte aligned,
     * allocated with the context */
    void *scratch_block;
    unsigned char *scratch;
    double flops; /* see sdc_flops_add */
    bool profile; /* see sdc_profile_add */
    sdc_profile_slot profile_slots[SDC_PROFILE_SLOTS];

    /* last error */
    sdc_status err_status;
    char err_msg[1024];
};

sdc_status sdc_threadpool_create(sdc_context *ctx, int n_threads, sdc_threadpool **out);
void sdc_threadpool_destroy(sdc_context *ctx, sdc_threadpool *pool);

#endif /* SDC_CORE_CONTEXT_H */
