/*
 * fuzz_ckpt.c — libFuzzer target for whole PyTorch checkpoints (src/io/ckpt.c over zip.c and
 * pickle.c), ZIP or legacy, parsed from memory. A file that opens must have every tensor's
 * bytes inside the input (each is read, so ASan sees any overrun), consistent sizes, names in
 * order and findable, and metadata findable. Nothing may be left allocated afterwards.
 */
#include "io/ckpt.h"

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
    (void)sdc_ckpt_sniff(data, size);
    sdc_st_file *f = NULL;
    if (sdc_ckpt_parse(ctx, data, size, "fuzz.ckpt", &f) == SDC_STATUS_OK) {
        unsigned sum = 0;
        for (size_t i = 0; i < f->n_tensors; i++) {
            const sdc_st_tensor *t = &f->tensors[i];
            uint64_t n = sdc_st_nbytes(t);
            const unsigned char *b = t->data;
            if (b < data || t->end > size || b + n != data + t->end)
                abort();
            if (n > 0)
                sum += b[0] + b[n - 1];
            if ((uint64_t)sdc_st_numel(t) * sdc_dtype_size(t->dtype) != n)
                abort();
            if (sdc_st_find(f, t->name) != t)
                abort();
            if (i > 0 && strcmp(f->tensors[i - 1].name, t->name) >= 0)
                abort();
        }
        for (size_t i = 0; i < f->n_metadata; i++)
            if (sdc_st_metadata(f, f->metadata[i].key) != f->metadata[i].value)
                abort();
        (void)sum;
        sdc_st_close(f);
    } else if (f != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
        abort();
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        abort();
    return 0;
}
