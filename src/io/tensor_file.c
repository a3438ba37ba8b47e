/*
 * tensor_file.c — the public "tensor files" API of sdc.h over the safetensors reader (which
 * also reads PyTorch checkpoints): the weights in name order with the writer's alignment
 * padding entries hidden and an sdc bundle's compressed weights listed once with their parts
 * counted together (compressed.c), and the string metadata in key order.
 */
#include "io/io.h"

#include <string.h>

struct sdc_tensor_file {
    sdc_context *ctx;
    sdc_st_file *st;
    sdc_st_logical *weights; /* the file's weights, padding left out */
    size_t n_weights;
};

sdc_status sdc_tensor_file_open(sdc_context *ctx, const char *path, sdc_tensor_file **out)
{
    *out = NULL;
    sdc_status st;
    sdc_tensor_file *f = sdc_calloc(ctx, 1, sizeof *f);
    if (!f)
        return sdc_fail_oom(ctx, path, sizeof *f);
    f->ctx = ctx;
    if ((st = sdc_st_open(ctx, path, &f->st)) != SDC_STATUS_OK ||
        (st = sdc_st_logical_list(f->st, &f->weights, &f->n_weights)) != SDC_STATUS_OK) {
        sdc_tensor_file_close(f);
        return st;
    }
    *out = f;
    return SDC_STATUS_OK;
}

void sdc_tensor_file_close(sdc_tensor_file *file)
{
    if (!file)
        return;
    sdc_free(file->ctx, file->weights);
    sdc_st_close(file->st);
    sdc_free(file->ctx, file);
}

const char *sdc_tensor_file_format(const sdc_tensor_file *file)
{
    return file->st->format;
}

uint64_t sdc_tensor_file_size(const sdc_tensor_file *file)
{
    return file->st->map.size;
}

size_t sdc_tensor_file_count(const sdc_tensor_file *file)
{
    return file->n_weights;
}

sdc_status sdc_tensor_file_info(const sdc_tensor_file *file, size_t index, sdc_tensor_info *out)
{
    memset(out, 0, sizeof *out);
    if (index >= file->n_weights)
        return sdc_fail(file->st->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: tensor index %zu is out of range (the file has %zu tensors)",
                        file->st->path, index, file->n_weights);
    const sdc_st_logical *w = &file->weights[index];
    const sdc_st_tensor *t = w->data;
    out->name = w->name;
    out->ndim = w->ndim;
    for (int d = 0; d < w->ndim; d++)
        out->shape[d] = w->shape[d];
    out->nbytes = w->nbytes;
    /* the data section starts after the header in a safetensors file, at 0 in a checkpoint */
    out->offset = (uint64_t)(file->st->data_section - file->st->map.data) + t->begin;
    out->storage = sdc_st_storage_name(w->storage);
    switch (w->storage) {
    case SDC_ST_STORAGE_PALETTE:
        out->dtype = sdc_dtype_name(w->palette->dtype);
        out->bits = w->bits;
        out->palette_size = 1 << w->bits;
        out->palette_groups = w->palette->shape[0];
        break;
    case SDC_ST_STORAGE_INT8:
        out->dtype = sdc_dtype_name(t->dtype);
        out->bits = 8;
        break;
    default:
        out->dtype = sdc_dtype_name(t->dtype);
        out->bits = (int)(8 * sdc_dtype_size(t->dtype));
        break;
    }
    uint64_t numel = 1;
    for (int d = 0; d < w->ndim; d++)
        numel *= (uint64_t)w->shape[d];
    out->bits_per_weight = numel > 0 ? 8.0 * (double)w->nbytes / (double)numel : 0.0;
    return SDC_STATUS_OK;
}

size_t sdc_tensor_file_metadata_count(const sdc_tensor_file *file)
{
    return file->st->n_metadata;
}

sdc_status sdc_tensor_file_metadata(const sdc_tensor_file *file, size_t index, const char **key,
                                    const char **value)
{
    if (index >= file->st->n_metadata) {
        *key = *value = NULL;
        return sdc_fail(file->st->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: metadata index %zu is out of range (the file has %zu entries)",
                        file->st->path, index, file->st->n_metadata);
    }
    *key = file->st->metadata[index].key;
    *value = file->st->metadata[index].value;
    return SDC_STATUS_OK;
}
