/*
 * safetensors.c — reads and writes safetensors files (huggingface/safetensors format spec, 0.4):
 * an 8-byte little-endian header length N, N bytes of JSON header, the data section. The reader
 * checks every field against the file and, unlike the reference, allows gaps between spans; the
 * writer streams to a temporary file and pads with U8 entries so every tensor is 64-byte aligned.
 * sdc_st_open hands files that sniff as PyTorch checkpoints to ckpt.c.
 */
#include "io/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METADATA_KEY "__metadata__"
#define DATA_ALIGN   64

static_assert(SDC_ST_MAX_DIMS == SDC_MAX_DIMS, "the public tensor info holds every dim");

static const char *quote(const char *s, char *buf, size_t size)
{
    return sdc_json_quote(s, strlen(s), buf, size);
}

/* "a number 2.5", "a string", ... for "shape[1] is ...". */
static const char *describe_json(const sdc_json *v, char *buf, size_t size)
{
    if (v->type == SDC_JSON_TYPE_NUMBER) {
        if (v->u.number.is_int)
            snprintf(buf, size, "%" PRId64, v->u.number.int_value);
        else
            snprintf(buf, size, "%.17g", v->u.number.value);
    } else {
        snprintf(buf, size, "a JSON %s", sdc_json_type_name(v->type));
    }
    return buf;
}

static bool non_negative_int(const sdc_json *v)
{
    return v->type == SDC_JSON_TYPE_NUMBER && v->u.number.is_int && v->u.number.int_value >= 0;
}

/* Element count and byte size of a shape; false on 64-bit overflow (element count first:
 * *which says which one overflowed). A zero dim makes the tensor empty whatever the rest. */
static bool shape_bytes(sdc_dtype dtype, int ndim, const int64_t *shape, uint64_t *numel,
                        uint64_t *nbytes, const char **which)
{
    uint64_t n = 1;
    bool empty = false;
    for (int i = 0; i < ndim; i++)
        empty = empty || shape[i] == 0;
    if (!empty) {
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (n > UINT64_MAX / d) {
                *which = "element count";
                return false;
            }
            n *= d;
        }
    } else {
        n = 0;
    }
    uint64_t size = sdc_dtype_size(dtype);
    if (n > UINT64_MAX / size) {
        *which = "byte size";
        return false;
    }
    *numel = n;
    *nbytes = n * size;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                     */

static sdc_status read_dtype(sdc_st_file *f, const char *tname, const sdc_json *v, sdc_dtype *out)
{
    char got[64];
    if (v->type != SDC_JSON_TYPE_STRING)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: dtype is %s, expected a string such as \"F32\"", f->path,
                        tname, describe_json(v, got, sizeof got));
    if (!sdc_dtype_from_name(v->u.string.chars, v->u.string.len, out)) {
        char known[160] = "";
        size_t used = 0;
        for (int i = 0; i < SDC_DTYPE_COUNT && used < sizeof known; i++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? " " : "",
                                     sdc_dtype_name((sdc_dtype)i));
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT, "%s: tensor %s: unknown dtype %s (known: %s)",
                        f->path, tname,
                        sdc_json_quote(v->u.string.chars, v->u.string.len, got, sizeof got), known);
    }
    return SDC_STATUS_OK;
}

static sdc_status read_shape(sdc_st_file *f, const char *tname, const sdc_json *v, sdc_st_tensor *t)
{
    char got[64];
    if (v->type != SDC_JSON_TYPE_ARRAY)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: shape is %s, expected an array of non-negative integers",
                        f->path, tname, describe_json(v, got, sizeof got));
    if (v->u.array.count > SDC_ST_MAX_DIMS)
        return sdc_fail(f->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: tensor %s: shape has %zu dims; sdc supports at most %d", f->path,
                        tname, v->u.array.count, SDC_ST_MAX_DIMS);
    for (size_t i = 0; i < v->u.array.count; i++) {
        const sdc_json *d = v->u.array.items[i];
        if (!non_negative_int(d))
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                            "%s: tensor %s: shape[%zu] is %s, expected a non-negative integer",
                            f->path, tname, i, describe_json(d, got, sizeof got));
        t->shape[i] = d->u.number.int_value;
    }
    t->ndim = (int)v->u.array.count;
    return SDC_STATUS_OK;
}

static sdc_status read_offsets(sdc_st_file *f, const char *tname, const sdc_json *v,
                               sdc_st_tensor *t)
{
    char got[64];
    if (v->type != SDC_JSON_TYPE_ARRAY || v->u.array.count != 2) {
        if (v->type == SDC_JSON_TYPE_ARRAY)
            snprintf(got, sizeof got, "an array of %zu items", v->u.array.count);
        else
            describe_json(v, got, sizeof got);
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: data_offsets is %s, expected two integers [begin, end]",
                        f->path, tname, got);
    }
    for (size_t i = 0; i < 2; i++) {
        const sdc_json *d = v->u.array.items[i];
        if (!non_negative_int(d))
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                            "%s: tensor %s: data_offsets[%zu] is %s, expected a non-negative "
                            "integer",
                            f->path, tname, i, describe_json(d, got, sizeof got));
    }
    t->begin = (uint64_t)v->u.array.items[0]->u.number.int_value;
    t->end = (uint64_t)v->u.array.items[1]->u.number.int_value;
    if (t->begin > t->end)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: data_offsets begin %" PRIu64 " is after end %" PRIu64,
                        f->path, tname, t->begin, t->end);
    return SDC_STATUS_OK;
}

static sdc_status read_tensor(sdc_st_file *f, const sdc_json_member *m, sdc_st_tensor *t)
{
    char tname[160], got[64];
    sdc_json_quote(m->key, m->key_len, tname, sizeof tname);
    if (strlen(m->key) != m->key_len)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT, "%s: tensor name %s contains a NUL character",
                        f->path, tname);
    const sdc_json *e = m->value;
    if (e->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: entry is %s, expected an object with dtype, shape and "
                        "data_offsets",
                        f->path, tname, describe_json(e, got, sizeof got));
    for (size_t i = 0; i < e->u.object.count; i++) {
        const char *k = e->u.object.members[i].key;
        if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0)
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                            "%s: tensor %s: unexpected field %s (expected only dtype, shape and "
                            "data_offsets)",
                            f->path, tname,
                            sdc_json_quote(k, e->u.object.members[i].key_len, got, sizeof got));
    }
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    const sdc_json *v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = sdc_json_get(e, fields[i]);
        if (!v[i])
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT, "%s: tensor %s: missing field \"%s\"",
                            f->path, tname, fields[i]);
    }
    sdc_status st;
    if ((st = read_dtype(f, tname, v[0], &t->dtype)) != SDC_STATUS_OK ||
        (st = read_shape(f, tname, v[1], t)) != SDC_STATUS_OK ||
        (st = read_offsets(f, tname, v[2], t)) != SDC_STATUS_OK)
        return st;

    char shape[160];
    sdc_shape_str(t->ndim, t->shape, shape, sizeof shape);
    uint64_t numel, nbytes;
    const char *which;
    if (!shape_bytes(t->dtype, t->ndim, t->shape, &numel, &nbytes, &which))
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: the %s of shape %s of %s overflows 64 bits", f->path, tname,
                        which, shape, sdc_dtype_name(t->dtype));
    if (t->end - t->begin != nbytes)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                        " bytes but shape %s of %s needs %" PRIu64 " bytes",
                        f->path, tname, t->begin, t->end, t->end - t->begin, shape,
                        sdc_dtype_name(t->dtype), nbytes);
    if (t->end > f->data_size)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: data_offsets end %" PRIu64
                        " is past the end of the data section (%" PRIu64 " bytes)",
                        f->path, tname, t->end, f->data_size);
    t->name = m->key;
    t->data = f->data_section + t->begin;
    return SDC_STATUS_OK;
}

static sdc_status read_metadata(sdc_st_file *f, const sdc_json *meta)
{
    char got[64], key[160];
    if (meta->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                        "%s: " METADATA_KEY " is %s, expected an object of string values", f->path,
                        describe_json(meta, got, sizeof got));
    size_t n = meta->u.object.count;
    if (n == 0)
        return SDC_STATUS_OK;
    f->metadata = sdc_calloc(f->ctx, n, sizeof *f->metadata);
    if (!f->metadata)
        return sdc_fail_oom(f->ctx, "safetensors metadata", n * sizeof *f->metadata);
    for (size_t i = 0; i < n; i++) {
        const sdc_json_member *m = &meta->u.object.members[i];
        sdc_json_quote(m->key, m->key_len, key, sizeof key);
        if (m->value->type != SDC_JSON_TYPE_STRING)
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                            "%s: " METADATA_KEY " value of %s is %s, expected a string", f->path,
                            key, describe_json(m->value, got, sizeof got));
        if (strlen(m->key) != m->key_len ||
            strlen(m->value->u.string.chars) != m->value->u.string.len)
            return sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                            "%s: " METADATA_KEY " entry %s contains a NUL character", f->path, key);
        f->metadata[i].key = m->key;
        f->metadata[i].value = m->value->u.string.chars;
    }
    f->n_metadata = n;
    return SDC_STATUS_OK;
}

static int compare_tensor_names(const void *a, const void *b)
{
    return strcmp(((const sdc_st_tensor *)a)->name, ((const sdc_st_tensor *)b)->name);
}

static int compare_kv_keys(const void *a, const void *b)
{
    return strcmp(((const sdc_st_kv *)a)->key, ((const sdc_st_kv *)b)->key);
}

static int compare_spans(const void *pa, const void *pb)
{
    const sdc_st_tensor *a = *(const sdc_st_tensor *const *)pa;
    const sdc_st_tensor *b = *(const sdc_st_tensor *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Non-empty spans must not share a byte. */
static sdc_status check_overlaps(sdc_st_file *f)
{
    if (f->n_tensors < 2)
        return SDC_STATUS_OK;
    sdc_status st = SDC_STATUS_OK;
    const sdc_st_tensor **order = sdc_malloc(f->ctx, f->n_tensors * sizeof *order);
    if (!order)
        return sdc_fail_oom(f->ctx, "the safetensors span check", f->n_tensors * sizeof *order);
    for (size_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, compare_spans);
    const sdc_st_tensor *reach = NULL; /* the span ending furthest so far */
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sdc_st_tensor *t = order[i];
        if (t->begin == t->end)
            continue;
        if (reach && t->begin < reach->end) {
            char a[160], b[160];
            st = sdc_fail(f->ctx, SDC_STATUS_FORMAT,
                          "%s: tensors %s [%" PRIu64 ", %" PRIu64 ") and %s [%" PRIu64 ", %" PRIu64
                          ") overlap in the data section",
                          f->path, quote(reach->name, a, sizeof a), reach->begin, reach->end,
                          quote(t->name, b, sizeof b), t->begin, t->end);
            break;
        }
        if (!reach || t->end > reach->end)
            reach = t;
    }
    sdc_free(f->ctx, order);
    return st;
}

static sdc_status read_header(sdc_st_file *f, const unsigned char *data, size_t size)
{
    sdc_context *ctx = f->ctx;
    if (size < 8)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: file is %zu bytes, shorter than the 8-byte header length", f->path,
                        size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | data[i];
    if (n == 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: header length is 0, expected the length of a JSON object", f->path);
    if (n > SDC_ST_MAX_HEADER)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: header length %" PRIu64 " is above the limit of %" PRIu64
                        " bytes (file is %zu bytes)",
                        f->path, n, SDC_ST_MAX_HEADER, size);
    if (n > size - 8)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: header length %" PRIu64 " runs past the end of the file (%zu "
                        "bytes, leaving %zu for the header)",
                        f->path, n, size, size - 8);
    f->header_len = n;
    f->data_section = data + 8 + n;
    f->data_size = size - 8 - n;

    char what[600];
    snprintf(what, sizeof what, "%s: header", f->path);
    sdc_status st = sdc_json_parse_keyed(ctx, (const char *)data + 8, (size_t)n, what,
                                         "tensor name", &f->header);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_json *root = f->header->root;
    char got[64];
    if (root->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: header is %s, expected a JSON object mapping tensor names to "
                        "{dtype, shape, data_offsets}",
                        f->path, describe_json(root, got, sizeof got));

    size_t n_tensors = root->u.object.count;
    const sdc_json *meta = sdc_json_get(root, METADATA_KEY);
    if (meta)
        n_tensors--;
    if (n_tensors > 0) {
        f->tensors = sdc_calloc(ctx, n_tensors, sizeof *f->tensors);
        if (!f->tensors)
            return sdc_fail_oom(ctx, "safetensors tensor entries", n_tensors * sizeof *f->tensors);
    }
    for (size_t i = 0; i < root->u.object.count; i++) {
        const sdc_json_member *m = &root->u.object.members[i];
        if (m->value == meta)
            continue;
        if ((st = read_tensor(f, m, &f->tensors[f->n_tensors])) != SDC_STATUS_OK)
            return st;
        f->n_tensors++;
    }
    if (meta && (st = read_metadata(f, meta)) != SDC_STATUS_OK)
        return st;
    if ((st = check_overlaps(f)) != SDC_STATUS_OK)
        return st;
    if (f->n_tensors > 1)
        qsort(f->tensors, f->n_tensors, sizeof *f->tensors, compare_tensor_names);
    if (f->n_metadata > 1)
        qsort(f->metadata, f->n_metadata, sizeof *f->metadata, compare_kv_keys);
    return SDC_STATUS_OK;
}

/* Builds the file object over data; takes ownership of *map (may be NULL) in all cases. */
static sdc_status create(sdc_context *ctx, const unsigned char *data, size_t size, const char *name,
                         sdc_mapped_file *map, sdc_st_file **out)
{
    *out = NULL;
    sdc_status st;
    sdc_st_file *f = sdc_calloc(ctx, 1, sizeof *f);
    if (!f) {
        st = sdc_fail_oom(ctx, name, sizeof *f);
        if (map)
            sdc_file_unmap(ctx, map);
        return st;
    }
    f->ctx = ctx;
    f->format = "safetensors";
    if (map)
        f->map = *map;
    f->path = sdc_strdup(ctx, name);
    if (!f->path) {
        st = sdc_fail_oom(ctx, "a file name", strlen(name) + 1);
        goto fail;
    }
    if ((st = read_header(f, data, size)) != SDC_STATUS_OK)
        goto fail;
    *out = f;
    return SDC_STATUS_OK;

fail:
    sdc_st_close(f);
    return st;
}

sdc_status sdc_st_open(sdc_context *ctx, const char *path, sdc_st_file **out)
{
    *out = NULL;
    sdc_mapped_file map;
    sdc_status st = sdc_file_map(ctx, path, &map);
    if (st != SDC_STATUS_OK)
        return st;
    if (sdc_ckpt_sniff(map.data, map.size))
        return sdc_ckpt_create(ctx, map.data, map.size, path, &map, out);
    return create(ctx, map.data, map.size, path, &map, out);
}

sdc_status sdc_st_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                        sdc_st_file **out)
{
    return create(ctx, data, data ? size : 0, name ? name : "safetensors data", NULL, out);
}

void sdc_st_close(sdc_st_file *file)
{
    if (!file)
        return;
    sdc_context *ctx = file->ctx;
    sdc_json_free(file->header);
    sdc_free(ctx, file->tensors);
    sdc_free(ctx, file->metadata);
    sdc_free(ctx, file->path);
    sdc_arena_release(&file->strings);
    sdc_file_unmap(ctx, &file->map);
    sdc_free(ctx, file);
}

const sdc_st_tensor *sdc_st_find(const sdc_st_file *file, const char *name)
{
    size_t lo = 0, hi = file->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, file->tensors[mid].name);
        if (c == 0)
            return &file->tensors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *sdc_st_metadata(const sdc_st_file *file, const char *key)
{
    size_t lo = 0, hi = file->n_metadata;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, file->metadata[mid].key);
        if (c == 0)
            return file->metadata[mid].value;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

uint64_t sdc_st_nbytes(const sdc_st_tensor *t)
{
    return t->end - t->begin;
}

int64_t sdc_st_numel(const sdc_st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0)
            return 0;
    }
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

static uint64_t pad_to_align(uint64_t offset)
{
    return (DATA_ALIGN - offset % DATA_ALIGN) % DATA_ALIGN;
}

static int compare_entry_names(const void *pa, const void *pb)
{
    const sdc_st_entry *a = *(const sdc_st_entry *const *)pa;
    const sdc_st_entry *b = *(const sdc_st_entry *const *)pb;
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : (a < b ? -1 : a > b);
}

static int compare_kv_ptrs(const void *pa, const void *pb)
{
    const sdc_st_kv *a = *(const sdc_st_kv *const *)pa;
    const sdc_st_kv *b = *(const sdc_st_kv *const *)pb;
    int c = strcmp(a->key, b->key);
    return c != 0 ? c : (a < b ? -1 : a > b);
}

static sdc_status check_entries(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                                size_t n, bool filled, uint64_t *nbytes)
{
    char name[160];
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const sdc_st_entry *e = &entries[i];
        if (!e->name)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: entry %zu has no name", path, i);
        quote(e->name, name, sizeof name);
        if (strncmp(e->name, SDC_ST_PAD_PREFIX, strlen(SDC_ST_PAD_PREFIX)) == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: tensor %s: names starting with \"" SDC_ST_PAD_PREFIX
                            "\" are reserved for alignment padding",
                            path, name);
        if (strcmp(e->name, METADATA_KEY) == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: tensor %s: that name is reserved for the metadata", path, name);
        if ((unsigned)e->dtype >= SDC_DTYPE_COUNT)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: tensor %s: dtype %d unknown",
                            path, name, (int)e->dtype);
        if (e->ndim < 0 || e->ndim > SDC_ST_MAX_DIMS)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: tensor %s: ndim %d, expected 0 to %d", path, name, e->ndim,
                            SDC_ST_MAX_DIMS);
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0)
                return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                                "%s: tensor %s: shape[%d] is %" PRId64 ", expected >= 0", path,
                                name, d, e->shape[d]);
        uint64_t numel;
        const char *which;
        if (!shape_bytes(e->dtype, e->ndim, e->shape, &numel, &nbytes[i], &which) ||
            nbytes[i] > (uint64_t)INT64_MAX)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: tensor %s: the byte size of its shape overflows", path, name);
        uint64_t span = pad_to_align(total) + nbytes[i];
        if (span > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX - span)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: tensor %s: the data section would exceed 2^63 bytes", path, name);
        total += span;
        if (nbytes[i] > 0 && !e->data && !filled)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: tensor %s: data is NULL", path,
                            name);
    }
    return SDC_STATUS_OK;
}

/* Finds the first repeated tensor name or metadata key; sorts pointers in `scratch`. */
static sdc_status check_unique(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                               size_t n, const sdc_st_kv *metadata, size_t n_metadata,
                               const void **scratch)
{
    char name[160];
    for (size_t i = 0; i < n; i++)
        scratch[i] = &entries[i];
    qsort(scratch, n, sizeof *scratch, compare_entry_names);
    for (size_t i = 1; i < n; i++) {
        const sdc_st_entry *a = scratch[i - 1], *b = scratch[i];
        if (strcmp(a->name, b->name) == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: duplicate tensor name %s (entries %zu and %zu)", path,
                            quote(a->name, name, sizeof name), (size_t)(a - entries),
                            (size_t)(b - entries));
    }
    for (size_t i = 0; i < n_metadata; i++) {
        if (!metadata[i].key || !metadata[i].value)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: metadata entry %zu has a NULL key or value", path, i);
        scratch[i] = &metadata[i];
    }
    qsort(scratch, n_metadata, sizeof *scratch, compare_kv_ptrs);
    for (size_t i = 1; i < n_metadata; i++) {
        const sdc_st_kv *a = scratch[i - 1], *b = scratch[i];
        if (strcmp(a->key, b->key) == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: duplicate metadata key %s", path,
                            quote(a->key, name, sizeof name));
    }
    return SDC_STATUS_OK;
}

static void write_entry_json(sdc_json_writer *w, const char *name, sdc_dtype dtype, int ndim,
                             const int64_t *shape, uint64_t begin, uint64_t end)
{
    sdc_json_key(w, name);
    sdc_json_begin_object(w);
    sdc_json_key(w, "dtype");
    sdc_json_string(w, sdc_dtype_name(dtype));
    sdc_json_key(w, "shape");
    sdc_json_begin_array(w);
    for (int d = 0; d < ndim; d++)
        sdc_json_int(w, shape[d]);
    sdc_json_end_array(w);
    sdc_json_key(w, "data_offsets");
    sdc_json_begin_array(w);
    sdc_json_uint(w, begin);
    sdc_json_uint(w, end);
    sdc_json_end_array(w);
    sdc_json_end_object(w);
}

/* The header: metadata first, then each tensor preceded by a padding entry when its data
 * would not start on a 64-byte boundary. Padded with spaces to a 64-byte file offset. */
static sdc_status build_header(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                               size_t n, const uint64_t *nbytes, const sdc_st_kv *metadata,
                               size_t n_metadata, sdc_buf *header)
{
    sdc_buf_init(header, ctx);
    sdc_buf_append(header, "\0\0\0\0\0\0\0\0", 8); /* the length, filled in below */
    sdc_json_writer w;
    sdc_json_writer_init(&w, header, false);
    sdc_json_begin_object(&w);
    if (n_metadata > 0) {
        sdc_json_key(&w, METADATA_KEY);
        sdc_json_begin_object(&w);
        for (size_t i = 0; i < n_metadata; i++) {
            sdc_json_key(&w, metadata[i].key);
            sdc_json_string(&w, metadata[i].value);
        }
        sdc_json_end_object(&w);
    }
    uint64_t offset = 0, n_pad = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t pad = pad_to_align(offset);
        if (pad > 0) {
            char pad_name[48];
            snprintf(pad_name, sizeof pad_name, SDC_ST_PAD_PREFIX "%" PRIu64, n_pad++);
            int64_t pad_shape[1] = {(int64_t)pad};
            write_entry_json(&w, pad_name, SDC_DTYPE_U8, 1, pad_shape, offset, offset + pad);
            offset += pad;
        }
        write_entry_json(&w, entries[i].name, entries[i].dtype, entries[i].ndim, entries[i].shape,
                         offset, offset + nbytes[i]);
        offset += nbytes[i];
    }
    sdc_json_end_object(&w);
    if (header->failed)
        return sdc_fail_oom(ctx, path, header->len);

    /* Names and metadata are written as given: a string that is not UTF-8 would make a file
     * no reader accepts, so the header is read back before anything is written. */
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_json_parse(ctx, header->data + 8, header->len - 8, path, &doc);
    sdc_json_free(doc);
    if (st == SDC_STATUS_FORMAT) {
        char why[600];
        snprintf(why, sizeof why, "%s", sdc_context_errmsg(ctx));
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: a tensor name or metadata string is not valid UTF-8 (%s)", path, why);
    }
    if (st != SDC_STATUS_OK)
        return st;
    while (!header->failed && header->len % DATA_ALIGN != 0)
        sdc_buf_append(header, " ", 1);
    if (header->failed)
        return sdc_fail_oom(ctx, path, header->len);
    uint64_t len = header->len - 8;
    for (int i = 0; i < 8; i++)
        header->data[i] = (char)(len >> (8 * i) & 0xFF);
    return SDC_STATUS_OK;
}

static sdc_status write_bytes(sdc_context *ctx, FILE *fp, const char *tmp, const void *data,
                              size_t size)
{
    if (size > 0 && fwrite(data, 1, size, fp) != size)
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: write failed: %s", tmp, strerror(errno));
    return SDC_STATUS_OK;
}

static sdc_status write_file(sdc_context *ctx, const char *path, const sdc_buf *header,
                             const sdc_st_entry *entries, size_t n, const uint64_t *nbytes,
                             sdc_st_fill_fn fill, void *user)
{
    static const unsigned char zeros[DATA_ALIGN];
    void *buf = NULL;
    size_t buf_size = 0;
    size_t len = strlen(path);
    char *tmp = sdc_malloc(ctx, len + 32);
    if (!tmp)
        return sdc_fail_oom(ctx, "a file name", len + 32);
    snprintf(tmp, len + 32, "%s.tmp%ld", path, (long)getpid());
    sdc_status st = SDC_STATUS_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto free_tmp;
    }
    if ((st = write_bytes(ctx, fp, tmp, header->data, header->len)) != SDC_STATUS_OK)
        goto close_fp;
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t pad = pad_to_align(offset);
        const void *data = entries[i].data;
        if (!data && nbytes[i] > 0) {
            /* A streamed entry: produced into one reused buffer just before it is written. */
            if (nbytes[i] > buf_size) {
                void *grown = sdc_realloc(ctx, buf, (size_t)nbytes[i]);
                if (!grown) {
                    st = sdc_fail_oom(ctx, entries[i].name, (size_t)nbytes[i]);
                    goto close_fp;
                }
                buf = grown;
                buf_size = (size_t)nbytes[i];
            }
            if ((st = fill(user, i, buf, (size_t)nbytes[i])) != SDC_STATUS_OK)
                goto close_fp;
            data = buf;
        }
        if ((st = write_bytes(ctx, fp, tmp, zeros, (size_t)pad)) != SDC_STATUS_OK ||
            (st = write_bytes(ctx, fp, tmp, data, (size_t)nbytes[i])) != SDC_STATUS_OK)
            goto close_fp;
        offset += pad + nbytes[i];
    }
    int closed = fclose(fp);
    fp = NULL;
    if (closed != 0) {
        st = sdc_fail(ctx, SDC_STATUS_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto remove_tmp;
    }
    if (rename(tmp, path) != 0) {
        st =
            sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        goto remove_tmp;
    }
    goto free_tmp;

close_fp:
    fclose(fp);
remove_tmp:
    unlink(tmp);
free_tmp:
    sdc_free(ctx, tmp);
    sdc_free(ctx, buf);
    return st;
}

sdc_status sdc_st_write(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                        size_t n_entries, const sdc_st_kv *metadata, size_t n_metadata)
{
    return sdc_st_write_stream(ctx, path, entries, n_entries, metadata, n_metadata, NULL, NULL);
}

sdc_status sdc_st_write_stream(sdc_context *ctx, const char *path, const sdc_st_entry *entries,
                               size_t n_entries, const sdc_st_kv *metadata, size_t n_metadata,
                               sdc_st_fill_fn fill, void *user)
{
    if ((n_entries > 0 && !entries) || (n_metadata > 0 && !metadata))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: NULL entries or metadata", path);
    sdc_status st = SDC_STATUS_OK;
    size_t n_scratch = n_entries > n_metadata ? n_entries : n_metadata;
    size_t bytes;
    uint64_t *nbytes = NULL;
    const void **scratch = NULL;
    sdc_buf header;
    sdc_buf_init(&header, ctx);

    if (!sdc_size_mul(n_entries + 1, sizeof *nbytes, &bytes) ||
        !(nbytes = sdc_malloc(ctx, bytes))) {
        st = sdc_fail_oom(ctx, "the safetensors writer", n_entries * sizeof *nbytes);
        goto done;
    }
    if (!sdc_size_mul(n_scratch + 1, sizeof *scratch, &bytes) ||
        !(scratch = sdc_malloc(ctx, bytes))) {
        st = sdc_fail_oom(ctx, "the safetensors writer", n_scratch * sizeof *scratch);
        goto done;
    }
    if ((st = check_entries(ctx, path, entries, n_entries, fill != NULL, nbytes)) !=
            SDC_STATUS_OK ||
        (st = check_unique(ctx, path, entries, n_entries, metadata, n_metadata, scratch)) !=
            SDC_STATUS_OK ||
        (st = build_header(ctx, path, entries, n_entries, nbytes, metadata, n_metadata, &header)) !=
            SDC_STATUS_OK)
        goto done;
    st = write_file(ctx, path, &header, entries, n_entries, nbytes, fill, user);

done:
    sdc_buf_free(&header);
    sdc_free(ctx, scratch);
    sdc_free(ctx, nbytes);
    return st;
}
