/*
 * fuzz_npy.c — libFuzzer target for the .npy reader (src/io/npy.c), parsing from memory. An
 * accepted file's data must be exactly its shape's size, in an aligned buffer of its own.
 * Nothing may be left allocated afterwards.
 */
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sdc_context *fuzz_context(void)
{
    static sdc_context *ctx;
    if (!ctx) {
        sdc_context_params p = sdc_context_default_params();
        p.n_threads = 1;
        if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
            abort();
    }
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdc_context *ctx = fuzz_context();
    sdc_npy a;
    if (sdc_npy_parse(ctx, data, size, "fuzz.npy", &a) == SDC_STATUS_OK) {
        uint64_t numel = 1;
        for (int i = 0; i < a.ndim; i++)
            numel *= (uint64_t)a.shape[i];
        if (a.ndim < 0 || a.ndim > SDC_ST_MAX_DIMS || !a.data ||
            (uintptr_t)a.data % SDC_ALIGN != 0 || numel * sdc_dtype_size(a.dtype) != a.nbytes ||
            a.nbytes > size || memcmp(a.data, data + size - a.nbytes, a.nbytes) != 0)
            abort();
        sdc_npy_free(ctx, &a);
    } else if (a.data != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
        abort();
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        abort();
    return 0;
}
