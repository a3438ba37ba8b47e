/*
 * store.c — the tensors of one model component under their diffusers names: from a diffusers
 * folder as they are, or from a single-file checkpoint through a model's name table (which
 * calls sdc_store_add), or from a bundle's component file whose compressed weights become
 * palettized or int8 sdc_weights. Loaders take weights through shape-checked lookups that name
 * the tensor and the store in every error.
 */
#include "models/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------- */
/* Shared weight files                                                                        */

sdc_status sdc_weights_file_open(sdc_context *ctx, const char *path, sdc_weights_file **out)
{
    *out = NULL;
    sdc_weights_file *f = sdc_calloc(ctx, 1, sizeof *f);
    if (!f)
        return sdc_fail_oom(ctx, "a weights file", sizeof *f);
    sdc_status st = sdc_st_open(ctx, path, &f->st);
    if (st != SDC_STATUS_OK) {
        sdc_free(ctx, f);
        return st;
    }
    f->refs = 1;
    *out = f;
    return SDC_STATUS_OK;
}

void sdc_weights_file_retain(sdc_weights_file *f)
{
    f->refs++;
}

void sdc_weights_file_release(sdc_context *ctx, sdc_weights_file *f)
{
    if (!f || --f->refs > 0)
        return;
    sdc_st_close(f->st);
    sdc_free(ctx, f);
}

/* ---------------------------------------------------------------------------------------- */
/* Building a store                                                                           */

sdc_status sdc_store_create(sdc_context *ctx, const char *description, sdc_store **out)
{
    *out = NULL;
    sdc_store *s = sdc_calloc(ctx, 1, sizeof *s);
    if (!s)
        return sdc_fail_oom(ctx, "a tensor store", sizeof *s);
    s->ctx = ctx;
    s->description = sdc_strdup(ctx, description);
    if (!s->description) {
        sdc_free(ctx, s);
        return sdc_fail_oom(ctx, "a tensor store", strlen(description) + 1);
    }
    sdc_arena_init(&s->owned, ctx, (size_t)1 << 20);
    *out = s;
    return SDC_STATUS_OK;
}

void sdc_store_destroy(sdc_store *store)
{
    if (!store)
        return;
    sdc_context *ctx = store->ctx;
    for (size_t i = 0; i < store->n_entries; i++)
        sdc_free(ctx, store->entries[i].name);
    sdc_free(ctx, store->entries);
    for (size_t i = 0; i < store->n_files; i++)
        sdc_weights_file_release(ctx, store->files[i]);
    sdc_free(ctx, store->files);
    sdc_arena_release(&store->owned);
    sdc_free(ctx, store->description);
    sdc_free(ctx, store);
}

sdc_status sdc_store_add_file(sdc_store *store, sdc_weights_file *file)
{
    size_t bytes = (store->n_files + 1) * sizeof *store->files;
    sdc_weights_file **files = sdc_realloc(store->ctx, store->files, bytes);
    if (!files)
        return sdc_fail_oom(store->ctx, store->description, bytes);
    store->files = files;
    store->files[store->n_files++] = file;
    sdc_weights_file_retain(file);
    return SDC_STATUS_OK;
}

sdc_status sdc_store_add(sdc_store *store, const char *name, const sdc_st_tensor *tensor,
                         sdc_store_transform transform, int64_t row_begin, int64_t row_count)
{
    sdc_context *ctx = store->ctx;
    sdc_store_entry e = {.tensor = tensor, .transform = transform, .ndim = tensor->ndim};
    memcpy(e.shape, tensor->shape, sizeof e.shape);
    switch (transform) {
    case SDC_STORE_TRANSFORM_NONE:
        break;
    case SDC_STORE_TRANSFORM_ROWS:
        if (tensor->ndim < 1 || row_begin < 0 || row_count < 0 ||
            row_begin > tensor->shape[0] - row_count)
            return sdc_fail(ctx, SDC_STATUS_SHAPE,
                            "%s: tensor '%s' has no rows [%lld, %lld) to take for '%s'",
                            store->description, tensor->name, (long long)row_begin,
                            (long long)(row_begin + row_count), name);
        e.row_begin = row_begin;
        e.row_count = row_count;
        e.shape[0] = row_count;
        break;
    case SDC_STORE_TRANSFORM_TRANSPOSE:
        if (tensor->ndim != 2)
            return sdc_fail(ctx, SDC_STATUS_SHAPE,
                            "%s: tensor '%s' must be 2-D to be transposed for '%s'",
                            store->description, tensor->name, name);
        e.shape[0] = tensor->shape[1];
        e.shape[1] = tensor->shape[0];
        break;
    default:
        return sdc_fail(ctx, SDC_STATUS_INTERNAL, "store: unknown transform %d", (int)transform);
    }
    if (store->n_entries == store->cap_entries) {
        size_t cap = store->cap_entries ? store->cap_entries * 2 : 64;
        sdc_store_entry *entries = sdc_realloc(ctx, store->entries, cap * sizeof *entries);
        if (!entries)
            return sdc_fail_oom(ctx, store->description, cap * sizeof *entries);
        store->entries = entries;
        store->cap_entries = cap;
    }
    e.name = sdc_strdup(ctx, name);
    if (!e.name)
        return sdc_fail_oom(ctx, store->description, strlen(name) + 1);
    store->entries[store->n_entries++] = e;
    return SDC_STATUS_OK;
}

sdc_status sdc_store_add_compressed(sdc_store *store, const sdc_st_logical *weight)
{
    sdc_status st =
        sdc_store_add(store, weight->name, weight->data, SDC_STORE_TRANSFORM_NONE, 0, 0);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_store_entry *e = &store->entries[store->n_entries - 1];
    e->storage = weight->storage;
    e->ndim = weight->ndim;
    memcpy(e->shape, weight->shape, sizeof e->shape);
    e->bits = weight->bits;
    e->rows_per_group = weight->rows_per_group;
    e->palette = weight->palette;
    e->scale = weight->scale;
    return SDC_STATUS_OK;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const sdc_store_entry *)a)->name, ((const sdc_store_entry *)b)->name);
}

sdc_status sdc_store_finish(sdc_store *store)
{
    if (store->n_entries > 1)
        qsort(store->entries, store->n_entries, sizeof *store->entries, compare_entries);
    for (size_t i = 1; i < store->n_entries; i++)
        if (strcmp(store->entries[i - 1].name, store->entries[i].name) == 0)
            return sdc_fail(store->ctx, SDC_STATUS_FORMAT,
                            "%s: two tensors ('%s' and '%s') both give '%s'", store->description,
                            store->entries[i - 1].tensor->name, store->entries[i].tensor->name,
                            store->entries[i].name);
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Diffusers folders                                                                          */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Every weight of the file under its own name; a bundle component's compressed weights as
 * compressed entries. */
static sdc_status add_whole_file(sdc_store *store, const char *path)
{
    sdc_weights_file *f = NULL;
    sdc_status st = sdc_weights_file_open(store->ctx, path, &f);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_store_add_file(store, f);
    sdc_weights_file_release(store->ctx, f); /* the store holds it now (or failed) */
    if (st != SDC_STATUS_OK)
        return st;
    sdc_st_logical *weights = NULL;
    size_t n = 0;
    st = sdc_st_logical_list(f->st, &weights, &n);
    for (size_t i = 0; i < n && st == SDC_STATUS_OK; i++)
        st = weights[i].storage == SDC_ST_STORAGE_DENSE
                 ? sdc_store_add(store, weights[i].name, weights[i].data, SDC_STORE_TRANSFORM_NONE,
                                 0, 0)
                 : sdc_store_add_compressed(store, &weights[i]);
    sdc_free(store->ctx, weights);
    return st;
}

/* A sharded checkpoint: the index's "weight_map" names each tensor's shard file. Every shard
 * named there is loaded whole; each tensor must come from the shard the index says. */
static sdc_status add_sharded(sdc_store *store, const char *dir, const char *index_path)
{
    sdc_context *ctx = store->ctx;
    char *text = NULL;
    size_t len = 0;
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_file_read_all(ctx, index_path, &text, &len);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_json_parse(ctx, text, len, index_path, &doc);
    if (st != SDC_STATUS_OK)
        goto free_text;
    const sdc_json *map = sdc_json_get_type(doc->root, "weight_map", SDC_JSON_TYPE_OBJECT);
    if (!map) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto free_doc;
    }
    for (size_t i = 0; i < map->u.object.count && st == SDC_STATUS_OK; i++) {
        const sdc_json *v = map->u.object.members[i].value;
        if (v->type != SDC_JSON_TYPE_STRING || strchr(v->u.string.chars, '/') ||
            v->u.string.len == 0 || strlen(v->u.string.chars) != v->u.string.len) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: weight_map entry '%s' must name a file in the same folder",
                          index_path, map->u.object.members[i].key);
            break;
        }
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(map->u.object.members[j].value->u.string.chars, v->u.string.chars) == 0;
        if (seen)
            continue;
        size_t plen = strlen(dir) + v->u.string.len + 2;
        char *path = sdc_malloc(ctx, plen);
        if (!path) {
            st = sdc_fail_oom(ctx, index_path, plen);
            break;
        }
        snprintf(path, plen, "%s/%s", dir, v->u.string.chars);
        st = add_whole_file(store, path);
        sdc_free(ctx, path);
    }
free_doc:
    sdc_json_free(doc);
free_text:
    sdc_free(ctx, text);
    return st;
}

sdc_status sdc_store_open_diffusers(sdc_context *ctx, const char *component_dir,
                                    sdc_store **out)
{
    static const char *const names[] = {
        "diffusion_pytorch_model.safetensors", "model.safetensors",
        "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
    };
    static const char *const index_names[] = {
        "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
    };
    *out = NULL;
    size_t len = strlen(component_dir) + 64;
    char *path = sdc_malloc(ctx, len);
    if (!path)
        return sdc_fail_oom(ctx, component_dir, len);
    sdc_store *store = NULL;
    sdc_status st = sdc_store_create(ctx, component_dir, &store);
    if (st != SDC_STATUS_OK)
        goto free_path;

    bool found = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !found; i++) {
        snprintf(path, len, "%s/%s", component_dir, names[i]);
        if (is_file(path)) {
            found = true;
            st = add_whole_file(store, path);
        }
    }
    for (size_t i = 0; i < sizeof index_names / sizeof index_names[0] && !found; i++) {
        snprintf(path, len, "%s/%s", component_dir, index_names[i]);
        if (is_file(path)) {
            found = true;
            st = add_sharded(store, component_dir, path);
        }
    }
    if (!found) {
        snprintf(path, len, "%s/diffusion_pytorch_model.bin", component_dir);
        bool pickle = is_file(path);
        snprintf(path, len, "%s/pytorch_model.bin", component_dir);
        pickle = pickle || is_file(path);
        st = sdc_fail(ctx, pickle ? SDC_STATUS_UNSUPPORTED : SDC_STATUS_NOT_FOUND,
                      "%s: no safetensors weights (looked for %s, %s and their .fp16 and "
                      "sharded forms)%s",
                      component_dir, names[0], names[1],
                      pickle ? "; .bin pickles in diffusers folders are not read" : "");
    }
    if (st == SDC_STATUS_OK)
        st = sdc_store_finish(store);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(store);
        store = NULL;
    }
    *out = store;
free_path:
    sdc_free(ctx, path);
    return st;
}

sdc_status sdc_store_open_file(sdc_context *ctx, const char *path, sdc_store **out)
{
    *out = NULL;
    sdc_store *store = NULL;
    sdc_status st = sdc_store_create(ctx, path, &store);
    if (st != SDC_STATUS_OK)
        return st;
    st = add_whole_file(store, path);
    if (st == SDC_STATUS_OK)
        st = sdc_store_finish(store);
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(store);
        return st;
    }
    *out = store;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Lookups                                                                                    */

const sdc_store_entry *sdc_store_find(const sdc_store *store, const char *name)
{
    size_t lo = 0, hi = store->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(store->entries[mid].name, name);
        if (c == 0)
            return &store->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool sdc_store_has(const sdc_store *store, const char *name)
{
    return sdc_store_find(store, name) != NULL;
}

/* Shapes match when the dims agree one for one (-1 in `want` matches anything), allowing
 * extra trailing 1s on either side ([C, C, 1, 1] reads as [C, C]). */
static bool shape_matches(int ndim, const int64_t *have, int want_ndim, const int64_t *want)
{
    int n = ndim > want_ndim ? ndim : want_ndim;
    for (int i = 0; i < n; i++) {
        int64_t h = i < ndim ? have[i] : 1;
        int64_t w = i < want_ndim ? want[i] : 1;
        if (w != -1 && h != w)
            return false;
    }
    return true;
}

static sdc_status lookup(sdc_store *store, const char *name, int ndim, const int64_t *shape,
                         sdc_store_entry **out)
{
    sdc_store_entry *e = (sdc_store_entry *)sdc_store_find(store, name);
    if (!e)
        return sdc_fail(store->ctx, SDC_STATUS_NOT_FOUND, "%s: missing tensor '%s'",
                        store->description, name);
    if (shape && !shape_matches(e->ndim, e->shape, ndim, shape)) {
        char have[160], want[160];
        sdc_shape_str(e->ndim, e->shape, have, sizeof have);
        sdc_shape_str(ndim, shape, want, sizeof want);
        for (char *p = strstr(want, "-1"); p; p = strstr(p, "-1"))
            memcpy(p, " *", 2);
        return sdc_fail(store->ctx, SDC_STATUS_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                        store->description, name, have, want);
    }
    if (e->storage == SDC_ST_STORAGE_DENSE && e->tensor->dtype != SDC_DTYPE_F32 &&
        e->tensor->dtype != SDC_DTYPE_F16 && e->tensor->dtype != SDC_DTYPE_BF16)
        return sdc_fail(store->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: tensor '%s' is %s; weights must be F32, F16 or BF16",
                        store->description, name, sdc_dtype_name(e->tensor->dtype));
    e->used = true;
    *out = e;
    return SDC_STATUS_OK;
}

/* Value i (row-major over the entry's shape) of a 2-D transposed entry, as stored bytes. */
static const void *element_ptr(const sdc_store_entry *e, int64_t i)
{
    size_t es = sdc_dtype_size(e->tensor->dtype);
    const unsigned char *base = e->tensor->data;
    if (e->transform == SDC_STORE_TRANSFORM_TRANSPOSE) {
        int64_t r = i / e->shape[1], c = i % e->shape[1];
        return base + (size_t)(c * e->tensor->shape[1] + r) * es;
    }
    int64_t row_len = 1;
    for (int d = 1; d < e->tensor->ndim; d++)
        row_len *= e->tensor->shape[d];
    return base + (size_t)(e->row_begin * row_len + i) * es;
}

static float element_f32(sdc_dtype dtype, const void *p)
{
    uint16_t h;
    float f;
    switch (dtype) {
    case SDC_DTYPE_F16:
        memcpy(&h, p, 2);
        return sdc_f16_to_f32(h);
    case SDC_DTYPE_BF16:
        memcpy(&h, p, 2);
        return sdc_bf16_to_f32(h);
    default:
        memcpy(&f, p, 4);
        return f;
    }
}

int64_t sdc_store_entry_numel(const sdc_store_entry *e)
{
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= e->shape[d];
    return n;
}

/* The sdc_weight view of a compressed entry (bundles have no transforms). */
static sdc_weight compressed_weight(const sdc_store_entry *e, int ndim, const int64_t *shape)
{
    if (e->storage == SDC_ST_STORAGE_PALETTE)
        return sdc_weight_palette(e->tensor->data, e->bits, e->palette->data, e->palette->dtype,
                                  e->rows_per_group, ndim, shape);
    return sdc_weight_int8(e->tensor->data, e->scale->data, ndim, shape);
}

sdc_status sdc_store_entry_floats(const sdc_store *store, const sdc_store_entry *e, float *dst)
{
    int64_t n = sdc_store_entry_numel(e);
    if (e->storage != SDC_ST_STORAGE_DENSE) {
        int64_t rows = e->ndim > 0 ? e->shape[0] : 1;
        int64_t shape[2] = {rows, rows > 0 ? n / rows : 0};
        sdc_weight w = compressed_weight(e, 2, shape);
        for (int64_t r = 0; r < rows; r++)
            sdc_weight_decode(&w, r, 0, shape[1], dst + r * shape[1]);
        return SDC_STATUS_OK;
    }
    sdc_dtype dtype = e->tensor->dtype;
    if (dtype != SDC_DTYPE_F32 && dtype != SDC_DTYPE_F16 && dtype != SDC_DTYPE_BF16)
        return sdc_fail(store->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: tensor '%s' is %s; only F32, F16 and BF16 values are read as floats",
                        store->description, e->name, sdc_dtype_name(dtype));
    for (int64_t i = 0; i < n; i++)
        dst[i] = element_f32(dtype, element_ptr(e, i));
    return SDC_STATUS_OK;
}

sdc_status sdc_store_weight(sdc_store *store, const char *name, int ndim, const int64_t *shape,
                            sdc_weight *out)
{
    sdc_store_entry *e = NULL;
    sdc_status st = lookup(store, name, ndim, shape, &e);
    if (st != SDC_STATUS_OK)
        return st;
    int64_t want[SDC_TENSOR_MAX_DIMS];
    if (ndim < 1 || ndim > SDC_TENSOR_MAX_DIMS)
        return sdc_fail(store->ctx, SDC_STATUS_INTERNAL, "%s: weight '%s' requested with %d dims",
                        store->description, name, ndim);
    for (int d = 0; d < ndim; d++)
        want[d] = shape[d] != -1 ? shape[d] : (d < e->ndim ? e->shape[d] : 1);

    if (e->storage != SDC_ST_STORAGE_DENSE) {
        *out = compressed_weight(e, ndim, want);
        return SDC_STATUS_OK;
    }
    const void *data;
    if (e->transform == SDC_STORE_TRANSFORM_TRANSPOSE) {
        size_t es = sdc_dtype_size(e->tensor->dtype);
        int64_t n = sdc_store_entry_numel(e);
        unsigned char *copy = sdc_arena_alloc(&store->owned, (size_t)n * es, 0);
        if (!copy)
            return sdc_fail_oom(store->ctx, name, (size_t)n * es);
        for (int64_t i = 0; i < n; i++)
            memcpy(copy + (size_t)i * es, element_ptr(e, i), es);
        data = copy;
    } else {
        data = element_ptr(e, 0);
    }
    *out = sdc_weight_dense(data, e->tensor->dtype, ndim, want);
    return SDC_STATUS_OK;
}

sdc_status sdc_store_floats(sdc_store *store, const char *name, int ndim, const int64_t *shape,
                            const float **out)
{
    sdc_store_entry *e = NULL;
    sdc_status st = lookup(store, name, ndim, shape, &e);
    if (st != SDC_STATUS_OK)
        return st;
    int64_t n = sdc_store_entry_numel(e);
    float *v = sdc_arena_alloc(&store->owned, (size_t)(n ? n : 1) * sizeof(float), 0);
    if (!v)
        return sdc_fail_oom(store->ctx, name, (size_t)n * sizeof(float));
    st = sdc_store_entry_floats(store, e, v);
    if (st == SDC_STATUS_OK)
        *out = v;
    return st;
}

sdc_status sdc_store_vector(sdc_store *store, const char *name, int64_t n, const float **out)
{
    int64_t shape[1] = {n};
    return sdc_store_floats(store, name, 1, shape, out);
}

void sdc_store_summary(const sdc_store *store, sdc_weights_summary *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < store->n_entries; i++) {
        const sdc_store_entry *e = &store->entries[i];
        uint64_t numel = (uint64_t)sdc_store_entry_numel(e);
        uint64_t bytes = numel * sdc_dtype_size(e->tensor->dtype);
        const char *dtype = sdc_dtype_name(e->tensor->dtype);
        if (e->storage != SDC_ST_STORAGE_DENSE) {
            /* indices or int8 values, plus the palette or the scales */
            bytes = e->tensor->end - e->tensor->begin;
            if (e->palette)
                bytes += e->palette->end - e->palette->begin;
            if (e->scale)
                bytes += e->scale->end - e->scale->begin;
            dtype = sdc_st_storage_name(e->storage);
        }
        out->parameters += numel;
        out->bytes += bytes;
        out->dtype = !out->dtype || strcmp(out->dtype, dtype) == 0 ? dtype : "mixed";
    }
    if (!out->dtype)
        out->dtype = "";
}

size_t sdc_store_unused(const sdc_store *store, const char **names, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < store->n_entries; i++) {
        if (store->entries[i].used)
            continue;
        if (count < max)
            names[count] = store->entries[i].name;
        count++;
    }
    return count;
}
