/*
 * tensor_file.c — the public "tensor files" API of sdc.h over the safetensors reader (which
 * also reads PyTorch checkpoints): the tensors in name order with the writer's alignment
 * padding entries hidden, and the string metadata in key order.
 */
#include "io/io.h"

#include <string.h>

struct sdc_tensor_file {
    sdc_context *ctx;
    sdc_st_file *st;
    size_t *visible; /* indices into st->tensors of the tensors that are not padding */
    size_t n_visible;
};

/* An entry sdc_st_write inserted: SDC_ST_PAD_PREFIX + decimal digits, a 1-D U8 tensor. */
static bool is_padding(const sdc_st_tensor *t)
{
    size_t n = strlen(SDC_ST_PAD_PREFIX);
    if (strncmp(t->name, SDC_ST_PAD_PREFIX, n) != 0 || t->name[n] == '\0')
        return false;
    for (const char *p = t->name + n; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return t->dtype == SDC_DTYPE_U8 && t->ndim == 1;
}

sdc_status sdc_tensor_file_open(sdc_context *ctx, const char *path, sdc_tensor_file **out)
{
    *out = NULL;
    sdc_status st;
    sdc_tensor_file *f = sdc_calloc(ctx, 1, sizeof *f);
    if (!f)
        return sdc_fail_oom(ctx, path, sizeof *f);
    f->ctx = ctx;
    if ((st = sdc_st_open(ctx, path, &f->st)) != SDC_STATUS_OK)
        goto fail;
    if (f->st->n_tensors > 0) {
        f->visible = sdc_calloc(ctx, f->st->n_tensors, sizeof *f->visible);
        if (!f->visible) {
            st = sdc_fail_oom(ctx, path, f->st->n_tensors * sizeof *f->visible);
            goto fail;
        }
    }
    for (size_t i = 0; i < f->st->n_tensors; i++)
        if (!is_padding(&f->st->tensors[i]))
            f->visible[f->n_visible++] = i;
    *out = f;
    return SDC_STATUS_OK;

fail:
    sdc_tensor_file_close(f);
    return st;
}

void sdc_tensor_file_close(sdc_tensor_file *file)
{
    if (!file)
        return;
    sdc_free(file->ctx, file->visible);
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
    return file->n_visible;
}

sdc_status sdc_tensor_file_info(const sdc_tensor_file *file, size_t index, sdc_tensor_info *out)
{
    memset(out, 0, sizeof *out);
    if (index >= file->n_visible)
        return sdc_fail(file->st->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: tensor index %zu is out of range (the file has %zu tensors)",
                        file->st->path, index, file->n_visible);
    const sdc_st_tensor *t = &file->st->tensors[file->visible[index]];
    out->name = t->name;
    out->dtype = sdc_dtype_name(t->dtype);
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        out->shape[d] = t->shape[d];
    out->nbytes = sdc_st_nbytes(t);
    /* the data section starts after the header in a safetensors file, at 0 in a checkpoint */
    out->offset = (uint64_t)(file->st->data_section - file->st->map.data) + t->begin;
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
