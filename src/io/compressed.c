/*
 * compressed.c — the weights of an sdc bundle's component file: a compressed weight is stored as
 * plain safetensors tensors (packed palette indices + palette, or int8 values + per-row scales)
 * described by one "sdc.compressed.<name>" metadata entry (docs/bundle-format.md). This file
 * reads the descriptors, checks every part against them and lists the file's weights with the
 * parts grouped under the weight's name. Nothing is decoded here: that is the kernels' job.
 */
#include "io/io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const storage_names[] = {
    [SDC_ST_STORAGE_DENSE] = "dense",
    [SDC_ST_STORAGE_PALETTE] = "palette",
    [SDC_ST_STORAGE_INT8] = "int8",
};
static_assert(sizeof storage_names / sizeof storage_names[0] == SDC_ST_STORAGE_COUNT,
              "one name per storage");

const char *sdc_st_storage_name(sdc_st_storage storage)
{
    return (unsigned)storage < SDC_ST_STORAGE_COUNT ? storage_names[storage] : "unknown";
}

bool sdc_st_is_padding(const sdc_st_tensor *t)
{
    size_t n = strlen(SDC_ST_PAD_PREFIX);
    if (strncmp(t->name, SDC_ST_PAD_PREFIX, n) != 0 || t->name[n] == '\0')
        return false;
    for (const char *p = t->name + n; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return t->dtype == SDC_DTYPE_U8 && t->ndim == 1;
}

/* The part "<name><suffix>", which must exist. */
static sdc_status find_part(const sdc_st_file *f, const char *name, const char *suffix,
                            const sdc_st_tensor **out)
{
    char part[512];
    if (snprintf(part, sizeof part, "%s%s", name, suffix) >= (int)sizeof part)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: compressed weight '%.200s...': name too long", f->path, name);
    *out = sdc_st_find(f, part);
    if (!*out)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: compressed weight '%s': its part '%s' is missing", f->path, name,
                        part);
    return SDC_STATUS_OK;
}

static bool same_shape(const sdc_st_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return false;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d])
            return false;
    return true;
}

static sdc_status wrong_part(const sdc_st_file *f, const char *name, const sdc_st_tensor *t,
                             int ndim, const int64_t *shape, const char *dtypes)
{
    char have[160], want[160];
    sdc_shape_str(t->ndim, t->shape, have, sizeof have);
    sdc_shape_str(ndim, shape, want, sizeof want);
    return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                    "%s: compressed weight '%s': part '%s' is %s %s, expected %s %s", f->path, name,
                    t->name, sdc_dtype_name(t->dtype), have, dtypes, want);
}

/* Float parts are read in place, so they must be aligned for their element type. */
static sdc_status check_aligned(const sdc_st_file *f, const char *name, const sdc_st_tensor *t)
{
    size_t align = sdc_dtype_size(t->dtype);
    if (t->data && (uintptr_t)t->data % align != 0)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: compressed weight '%s': part '%s' is not %zu-byte aligned", f->path,
                        name, t->name, align);
    return SDC_STATUS_OK;
}

static sdc_status read_int(const sdc_st_file *f, const char *name, const sdc_json *desc,
                           const char *key, int64_t min, int64_t max, int64_t *out)
{
    const sdc_json *v = sdc_json_get(desc, key);
    if (!v || v->type != SDC_JSON_TYPE_NUMBER || !v->u.number.is_int ||
        v->u.number.int_value < min || v->u.number.int_value > max)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: compressed weight '%s': \"%s\" must be an integer in [%" PRId64
                        ", %" PRId64 "]",
                        f->path, name, key, min, max);
    *out = v->u.number.int_value;
    return SDC_STATUS_OK;
}

/* Parses one descriptor and checks its parts. */
static sdc_status read_descriptor(const sdc_st_file *f, const char *name, const char *text,
                                  sdc_st_logical *out)
{
    sdc_context *ctx = f->ctx;
    char what[600];
    snprintf(what, sizeof what, "%s: metadata %s%.200s", f->path, SDC_ST_COMPRESSED_PREFIX, name);
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_json_parse(ctx, text, strlen(text), what, &doc);
    if (st != SDC_STATUS_OK)
        return st;
    memset(out, 0, sizeof *out);
    out->name = name;
    const sdc_json *root = doc->root;
    const sdc_json *storage = sdc_json_get_type(root, "storage", SDC_JSON_TYPE_STRING);
    const sdc_json *shape = sdc_json_get_type(root, "shape", SDC_JSON_TYPE_ARRAY);
    if (!storage || !shape || shape->u.array.count < 1 || shape->u.array.count > SDC_ST_MAX_DIMS) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: compressed weight '%s': needs a \"storage\" string and a \"shape\" of "
                      "1 to %d dims",
                      f->path, name, SDC_ST_MAX_DIMS);
        goto done;
    }
    /* Every dim non-negative, and the row length and element count at most 2^60, so byte and
     * bit counts fit in 64 bits. */
    const int64_t limit = (int64_t)1 << 60;
    int64_t row_len = 1;
    out->ndim = (int)shape->u.array.count;
    for (int d = 0; d < out->ndim; d++) {
        const sdc_json *v = shape->u.array.items[d];
        int64_t dim =
            v->type == SDC_JSON_TYPE_NUMBER && v->u.number.is_int ? v->u.number.int_value : -1;
        bool fits = dim >= 0 && dim <= limit && (d == 0 || row_len == 0 || dim <= limit / row_len);
        if (fits && d > 0)
            row_len *= dim;
        if (fits)
            out->shape[d] = dim;
        if (fits && d == out->ndim - 1)
            fits = row_len == 0 || out->shape[0] <= limit / row_len;
        if (!fits) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: compressed weight '%s': shape[%d] is not a size that fits", f->path,
                          name, d);
            goto done;
        }
    }
    int64_t rows = out->shape[0];

    if (strcmp(storage->u.string.chars, "palette") == 0) {
        out->storage = SDC_ST_STORAGE_PALETTE;
        int64_t bits = 0, rpg = 1;
        if ((st = read_int(f, name, root, "bits", 1, 8, &bits)) != SDC_STATUS_OK ||
            (st = read_int(f, name, root, "rows_per_group", 1, INT64_MAX, &rpg)) != SDC_STATUS_OK)
            goto done;
        if (bits != 1 && bits != 2 && bits != 4 && bits != 6 && bits != 8) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: compressed weight '%s': %" PRId64 "-bit indices; sdc reads 1, 2, "
                          "4, 6 or 8",
                          f->path, name, bits);
            goto done;
        }
        out->bits = (int)bits;
        out->rows_per_group = rpg;
        if ((st = find_part(f, name, ".indices", &out->data)) != SDC_STATUS_OK ||
            (st = find_part(f, name, ".palette", &out->palette)) != SDC_STATUS_OK)
            goto done;
        int64_t ishape[2] = {rows, (row_len * bits + 7) / 8};
        int64_t groups = rows > 0 ? (rows - 1) / rpg + 1 : 0;
        int64_t pshape[2] = {groups, (int64_t)1 << bits};
        sdc_dtype pd = out->palette->dtype;
        if (out->data->dtype != SDC_DTYPE_U8 || !same_shape(out->data, 2, ishape))
            st = wrong_part(f, name, out->data, 2, ishape, "U8");
        else if ((pd != SDC_DTYPE_F32 && pd != SDC_DTYPE_F16 && pd != SDC_DTYPE_BF16) ||
                 !same_shape(out->palette, 2, pshape))
            st = wrong_part(f, name, out->palette, 2, pshape, "F32/F16/BF16");
        else
            st = check_aligned(f, name, out->palette);
        if (st != SDC_STATUS_OK)
            goto done;
        out->nbytes = sdc_st_nbytes(out->data) + sdc_st_nbytes(out->palette);
    } else if (strcmp(storage->u.string.chars, "int8") == 0) {
        out->storage = SDC_ST_STORAGE_INT8;
        if ((st = find_part(f, name, ".int8", &out->data)) != SDC_STATUS_OK ||
            (st = find_part(f, name, ".scale", &out->scale)) != SDC_STATUS_OK)
            goto done;
        int64_t sshape[1] = {rows};
        if (out->data->dtype != SDC_DTYPE_I8 || !same_shape(out->data, out->ndim, out->shape))
            st = wrong_part(f, name, out->data, out->ndim, out->shape, "I8");
        else if (out->scale->dtype != SDC_DTYPE_F32 || !same_shape(out->scale, 1, sshape))
            st = wrong_part(f, name, out->scale, 1, sshape, "F32");
        else
            st = check_aligned(f, name, out->scale);
        if (st != SDC_STATUS_OK)
            goto done;
        out->nbytes = sdc_st_nbytes(out->data) + sdc_st_nbytes(out->scale);
    } else {
        char q[80];
        st = sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                      "%s: compressed weight '%s': storage %s is not one sdc reads (palette, "
                      "int8)",
                      f->path, name,
                      sdc_json_quote(storage->u.string.chars, storage->u.string.len, q, sizeof q));
    }
done:
    sdc_json_free(doc);
    return st;
}

static int compare_logical(const void *a, const void *b)
{
    return strcmp(((const sdc_st_logical *)a)->name, ((const sdc_st_logical *)b)->name);
}

sdc_status sdc_st_logical_list(const sdc_st_file *file, sdc_st_logical **out, size_t *n)
{
    sdc_context *ctx = file->ctx;
    size_t plen = strlen(SDC_ST_COMPRESSED_PREFIX);
    *out = NULL;
    *n = 0;
    /* Parts are marked as they are claimed; a tensor claimed twice is an error. */
    size_t n_alloc = file->n_tensors + 1;
    bool *claimed = sdc_calloc(ctx, n_alloc, sizeof *claimed);
    sdc_st_logical *list = sdc_calloc(ctx, n_alloc, sizeof *list);
    sdc_status st = SDC_STATUS_OK;
    if (!claimed || !list) {
        st = sdc_fail_oom(ctx, file->path, n_alloc * (sizeof *list + 1));
        goto fail;
    }
    size_t count = 0;
    for (size_t i = 0; i < file->n_metadata; i++) {
        const sdc_st_kv *kv = &file->metadata[i];
        if (strncmp(kv->key, SDC_ST_COMPRESSED_PREFIX, plen) != 0)
            continue;
        if (count == file->n_tensors) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: more compressed weights are described than the file has tensors",
                          file->path);
            goto fail;
        }
        sdc_st_logical *l = &list[count++];
        if ((st = read_descriptor(file, kv->key + plen, kv->value, l)) != SDC_STATUS_OK)
            goto fail;
        const sdc_st_tensor *parts[2] = {l->data, l->palette ? l->palette : l->scale};
        for (int p = 0; p < 2; p++) {
            size_t idx = (size_t)(parts[p] - file->tensors);
            if (claimed[idx]) {
                st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                              "%s: tensor '%s' is a part of two compressed weights", file->path,
                              parts[p]->name);
                goto fail;
            }
            claimed[idx] = true;
        }
    }
    for (size_t i = 0; i < file->n_tensors; i++) {
        const sdc_st_tensor *t = &file->tensors[i];
        if (claimed[i] || sdc_st_is_padding(t))
            continue;
        sdc_st_logical *l = &list[count++];
        memset(l, 0, sizeof *l);
        l->name = t->name;
        l->storage = SDC_ST_STORAGE_DENSE;
        l->ndim = t->ndim;
        memcpy(l->shape, t->shape, sizeof l->shape);
        l->data = t;
        l->nbytes = sdc_st_nbytes(t);
    }
    if (count > 1)
        qsort(list, count, sizeof *list, compare_logical);
    for (size_t i = 1; i < count; i++)
        if (strcmp(list[i - 1].name, list[i].name) == 0) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: weight '%s' is both a tensor and a compressed weight", file->path,
                          list[i].name);
            goto fail;
        }
    sdc_free(ctx, claimed);
    *out = list;
    *n = count;
    return SDC_STATUS_OK;
fail:
    sdc_free(ctx, claimed);
    sdc_free(ctx, list);
    return st;
}
