/*
 * fuzz_compressed.c — libFuzzer target for the compressed weights of bundle component files
 * (src/io/compressed.c) and their decoding (src/kernels/weight.c): a safetensors file from
 * memory whose "sdc.compressed.*" descriptors validate must decode every row of every weight
 * inside the input (ASan sees any overrun). Nothing may be left allocated afterwards.
 */
#include "io/io.h"
#include "kernels/kernels.h"

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

/* Decodes every row of a compressed weight in two chunks. */
static void decode_all(const sdc_st_logical *l)
{
    int64_t shape[2] = {l->shape[0], 1};
    for (int d = 1; d < l->ndim; d++)
        shape[1] *= l->shape[d];
    if (shape[0] == 0 || shape[1] == 0 || shape[1] > (1 << 16))
        return;
    sdc_weight w = l->storage == SDC_ST_STORAGE_PALETTE
                       ? sdc_weight_palette(l->data->data, l->bits, l->palette->data,
                                            l->palette->dtype, l->rows_per_group, 2, shape)
                       : sdc_weight_int8(l->data->data, l->scale->data, 2, shape);
    float *row = malloc((size_t)shape[1] * sizeof(float));
    if (!row)
        abort();
    for (int64_t r = 0; r < shape[0] && r < 256; r++) {
        int64_t half = shape[1] / 2;
        sdc_weight_decode(&w, r, 0, half, row);
        sdc_weight_decode(&w, r, half, shape[1] - half, row + half);
    }
    free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdc_context *ctx = fuzz_context();
    sdc_st_file *f = NULL;
    if (sdc_st_parse(ctx, data, size, "fuzz.safetensors", &f) == SDC_STATUS_OK) {
        sdc_st_logical *list = NULL;
        size_t n = 0;
        if (sdc_st_logical_list(f, &list, &n) == SDC_STATUS_OK) {
            for (size_t i = 0; i < n; i++)
                if (list[i].storage != SDC_ST_STORAGE_DENSE)
                    decode_all(&list[i]);
            sdc_free(ctx, list);
        } else if (list != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
            abort();
        }
        sdc_st_close(f);
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        abort();
    return 0;
}
