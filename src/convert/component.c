/*
 * component.c — writes one component of a bundle: every tensor of a store under its diffusers
 * name, dense in the chosen float dtype or compressed (palette indices + palette, int8 values +
 * scales) as io.h describes, streamed through sdc_st_write_stream so only one tensor's values are
 * in memory at a time. Which weights are compressed follows coremltools' rules as Apple's
 * ml-stable-diffusion uses them: weights above a size threshold, embedding tables excluded.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef enum part_kind {
    PART_DENSE,   /* a float tensor in the policy's dtype */
    PART_RAW,     /* a non-float tensor copied as it is (e.g. an int64 position_ids) */
    PART_INDICES, /* palette: packed indices (computes the palette too) */
    PART_PALETTE,
    PART_INT8, /* int8: values (computes the scales too) */
    PART_SCALE,
    PART_KIND_COUNT
} part_kind;

typedef struct part {
    const sdc_store_entry *entry;
    part_kind kind;
    int bits;
    int64_t rows_per_group;
} part;

typedef struct writer {
    sdc_context *ctx;
    const sdc_store *store;
    const sdc_component_policy *policy;
    part *parts;
    /* The palette or scales computed with the last indices or int8 values, for the part that
     * follows them. */
    const sdc_store_entry *aux_entry;
    void *aux;
    size_t aux_bytes, aux_cap;
    float *values; /* one tensor's values */
    size_t values_cap;
} writer;

static bool is_float(const sdc_store_entry *e)
{
    sdc_dtype d = e->tensor->dtype;
    return e->storage != SDC_ST_STORAGE_DENSE || d == SDC_DTYPE_F32 || d == SDC_DTYPE_F16 ||
           d == SDC_DTYPE_BF16;
}

/* The module a weight belongs to: its name without ".weight" (NULL for other names). */
static bool module_of(const char *name, char *module, size_t size)
{
    size_t len = strlen(name), suffix = strlen(".weight");
    if (len <= suffix || strcmp(name + len - suffix, ".weight") != 0 || len - suffix >= size)
        return false;
    memcpy(module, name, len - suffix);
    module[len - suffix] = '\0';
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool sdc_convert_compressible(const sdc_component_policy *policy, const sdc_store_entry *e,
                              int *bits)
{
    char module[SDC_MODEL_NAME_MAX];
    *bits = policy->bits;
    if (policy->compression == SDC_COMPRESSION_NONE || !is_float(e) || e->ndim < 2 ||
        sdc_store_entry_numel(e) < policy->min_elements || e->shape[0] < 1 ||
        !module_of(e->name, module, sizeof module))
        return false;
    /* Embedding tables are looked up row by row, not multiplied: coremltools leaves "gather"
     * ops alone. */
    const char *last = strrchr(module, '.');
    if (ends_with(last ? last + 1 : module, "embedding"))
        return false;
    if (policy->compression == SDC_COMPRESSION_PALETTE && policy->recipe) {
        int b = sdc_recipe_bits(policy->recipe, module);
        if (b == 0 || b >= 16)
            return false;
        *bits = b;
    }
    return true;
}

static int64_t rows_of(const sdc_store_entry *e)
{
    return e->shape[0];
}

static int64_t row_len_of(const sdc_store_entry *e)
{
    return rows_of(e) > 0 ? sdc_store_entry_numel(e) / rows_of(e) : 0;
}

static uint64_t source_bytes(const sdc_store_entry *e)
{
    if (e->storage == SDC_ST_STORAGE_DENSE)
        return (uint64_t)sdc_store_entry_numel(e) * sdc_dtype_size(e->tensor->dtype);
    const sdc_st_tensor *aux = e->palette ? e->palette : e->scale;
    return sdc_st_nbytes(e->tensor) + sdc_st_nbytes(aux);
}

/* Reads an entry's values into the writer's buffer. */
static sdc_status read_values(writer *w, const sdc_store_entry *e)
{
    size_t n = (size_t)sdc_store_entry_numel(e);
    if (n > w->values_cap) {
        float *grown = sdc_realloc(w->ctx, w->values, n * sizeof(float));
        if (!grown)
            return sdc_fail_oom(w->ctx, e->name, n * sizeof(float));
        w->values = grown;
        w->values_cap = n;
    }
    return sdc_store_entry_floats(w->store, e, w->values);
}

static sdc_status reserve_aux(writer *w, size_t bytes)
{
    if (bytes > w->aux_cap) {
        void *grown = sdc_realloc(w->ctx, w->aux, bytes);
        if (!grown)
            return sdc_fail_oom(w->ctx, "a palette or scales", bytes);
        w->aux = grown;
        w->aux_cap = bytes;
    }
    w->aux_bytes = bytes;
    return SDC_STATUS_OK;
}

static sdc_status fill(void *user, size_t index, void *dst, size_t nbytes)
{
    writer *w = user;
    const part *p = &w->parts[index];
    const sdc_store_entry *e = p->entry;
    sdc_status st = SDC_STATUS_OK;
    double sse;
    switch (p->kind) {
    case PART_DENSE:
        if ((st = read_values(w, e)) != SDC_STATUS_OK)
            return st;
        if (w->policy->dtype == SDC_DTYPE_F32)
            memcpy(dst, w->values, nbytes);
        else if (w->policy->dtype == SDC_DTYPE_F16)
            sdc_f32_to_f16_row(w->values, dst, nbytes / 2);
        else
            sdc_f32_to_bf16_row(w->values, dst, nbytes / 2);
        return SDC_STATUS_OK;
    case PART_RAW:
        if (e->transform != SDC_STORE_TRANSFORM_NONE || nbytes != sdc_st_nbytes(e->tensor))
            return sdc_fail(w->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: tensor '%s' (%s) is a view of '%s'; only float tensors are "
                            "converted through views",
                            w->store->description, e->name, sdc_dtype_name(e->tensor->dtype),
                            e->tensor->name);
        memcpy(dst, e->tensor->data, nbytes);
        return SDC_STATUS_OK;
    case PART_INDICES: {
        int64_t rows = rows_of(e), groups = (rows - 1) / p->rows_per_group + 1;
        size_t pal_bytes = (size_t)(groups << p->bits) * sdc_dtype_size(w->policy->dtype);
        if ((st = read_values(w, e)) != SDC_STATUS_OK ||
            (st = reserve_aux(w, pal_bytes)) != SDC_STATUS_OK)
            return st;
        st = sdc_palettize(w->ctx, e->name, w->values, rows, row_len_of(e), p->bits,
                           p->rows_per_group, w->policy->dtype, dst, w->aux, &sse);
        w->aux_entry = st == SDC_STATUS_OK ? e : NULL;
        return st;
    }
    case PART_INT8:
        if ((st = read_values(w, e)) != SDC_STATUS_OK ||
            (st = reserve_aux(w, (size_t)rows_of(e) * sizeof(float))) != SDC_STATUS_OK)
            return st;
        st = sdc_quantize_int8(w->ctx, e->name, w->values, rows_of(e), row_len_of(e), dst, w->aux,
                               &sse);
        w->aux_entry = st == SDC_STATUS_OK ? e : NULL;
        return st;
    case PART_PALETTE:
    case PART_SCALE:
        /* Always written right after the part that computed it. */
        if (w->aux_entry != e || w->aux_bytes != nbytes)
            return sdc_fail(w->ctx, SDC_STATUS_INTERNAL, "%s: '%s': palette/scales out of order",
                            w->store->description, e->name);
        memcpy(dst, w->aux, nbytes);
        return SDC_STATUS_OK;
    default:
        return sdc_fail(w->ctx, SDC_STATUS_INTERNAL, "component writer: part kind %d",
                        (int)p->kind);
    }
}

/* The metadata that describes a compressed weight (io.h). */
static void describe(sdc_buf *b, const sdc_store_entry *e, const part *p)
{
    sdc_json_writer j;
    sdc_json_writer_init(&j, b, false);
    sdc_json_begin_object(&j);
    sdc_json_key(&j, "storage");
    sdc_json_string(&j, p->kind == PART_INDICES ? "palette" : "int8");
    if (p->kind == PART_INDICES) {
        sdc_json_key(&j, "bits");
        sdc_json_int(&j, p->bits);
        sdc_json_key(&j, "rows_per_group");
        sdc_json_int(&j, p->rows_per_group);
    }
    sdc_json_key(&j, "shape");
    sdc_json_begin_array(&j);
    for (int d = 0; d < e->ndim; d++)
        sdc_json_int(&j, e->shape[d]);
    sdc_json_end_array(&j);
    sdc_json_end_object(&j);
}

static void add_part(writer *w, sdc_st_entry *entries, size_t *n, const sdc_store_entry *e,
                     part_kind kind, const char *name, sdc_dtype dtype, int ndim,
                     const int64_t *shape, int bits, int64_t rows_per_group)
{
    sdc_st_entry *se = &entries[*n];
    se->name = name;
    se->dtype = dtype;
    se->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        se->shape[d] = shape[d];
    se->data = NULL;
    w->parts[*n] = (part){.entry = e, .kind = kind, .bits = bits, .rows_per_group = rows_per_group};
    (*n)++;
}

sdc_status sdc_convert_component(sdc_context *ctx, const sdc_store *store, const char *component,
                                 const sdc_component_policy *policy, const char *path,
                                 sdc_component_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    size_t cap = 2 * store->n_entries + 1;
    writer w = {.ctx = ctx, .store = store, .policy = policy};
    sdc_st_entry *entries = sdc_calloc(ctx, cap, sizeof *entries);
    sdc_st_kv *meta = sdc_calloc(ctx, store->n_entries + 1, sizeof *meta);
    w.parts = sdc_calloc(ctx, cap, sizeof *w.parts);
    /* Part names and metadata text live in one arena for the length of the write. */
    sdc_arena strings;
    sdc_arena_init(&strings, ctx, (size_t)1 << 16);
    sdc_buf text;
    sdc_buf_init(&text, ctx);
    sdc_status st = SDC_STATUS_OK;
    if (!entries || !meta || !w.parts) {
        st = sdc_fail_oom(ctx, path, cap * (sizeof *entries + sizeof *w.parts));
        goto done;
    }
    size_t n = 0, n_meta = 0;
    meta[n_meta++] = (sdc_st_kv){.key = "sdc.component", .value = component};
    for (size_t i = 0; i < store->n_entries; i++) {
        const sdc_store_entry *e = &store->entries[i];
        int bits = 0;
        bool compress = sdc_convert_compressible(policy, e, &bits);
        if (!is_float(e)) {
            add_part(&w, entries, &n, e, PART_RAW, e->name, e->tensor->dtype, e->ndim, e->shape, 0,
                     0);
            continue;
        }
        int64_t numel = sdc_store_entry_numel(e);
        summary->n_tensors++;
        summary->parameters += numel;
        summary->source_bytes += source_bytes(e);
        uint64_t out_bytes = (uint64_t)numel * sdc_dtype_size(policy->dtype);
        if (!compress) {
            add_part(&w, entries, &n, e, PART_DENSE, e->name, policy->dtype, e->ndim, e->shape, 0,
                     0);
            summary->bytes += out_bytes;
            continue;
        }
        int64_t rows = rows_of(e), row_len = row_len_of(e);
        size_t len = strlen(e->name) + 16;
        char *main_name = sdc_arena_alloc(&strings, len, 1);
        char *aux_name = sdc_arena_alloc(&strings, len, 1);
        char *key = sdc_arena_alloc(&strings, len + strlen(SDC_ST_COMPRESSED_PREFIX), 1);
        if (!main_name || !aux_name || !key) {
            st = sdc_fail_oom(ctx, e->name, 3 * len);
            goto done;
        }
        snprintf(key, len + strlen(SDC_ST_COMPRESSED_PREFIX), "%s%s", SDC_ST_COMPRESSED_PREFIX,
                 e->name);
        if (policy->compression == SDC_COMPRESSION_PALETTE) {
            int64_t groups = policy->palette_groups < rows ? policy->palette_groups : rows;
            int64_t rpg = (rows + groups - 1) / groups;
            groups = (rows + rpg - 1) / rpg;
            int64_t ishape[2] = {rows, (int64_t)sdc_palette_row_bytes(bits, row_len)};
            int64_t pshape[2] = {groups, (int64_t)1 << bits};
            snprintf(main_name, len, "%s.indices", e->name);
            snprintf(aux_name, len, "%s.palette", e->name);
            add_part(&w, entries, &n, e, PART_INDICES, main_name, SDC_DTYPE_U8, 2, ishape, bits,
                     rpg);
            add_part(&w, entries, &n, e, PART_PALETTE, aux_name, policy->dtype, 2, pshape, bits,
                     rpg);
            out_bytes = (uint64_t)(ishape[0] * ishape[1]) +
                        (uint64_t)(pshape[0] * pshape[1]) * sdc_dtype_size(policy->dtype);
            summary->n_palettized++;
        } else {
            int64_t sshape[1] = {rows};
            snprintf(main_name, len, "%s.int8", e->name);
            snprintf(aux_name, len, "%s.scale", e->name);
            add_part(&w, entries, &n, e, PART_INT8, main_name, SDC_DTYPE_I8, e->ndim, e->shape, 8,
                     0);
            add_part(&w, entries, &n, e, PART_SCALE, aux_name, SDC_DTYPE_F32, 1, sshape, 8, 0);
            out_bytes = (uint64_t)numel + (uint64_t)rows * sizeof(float);
            summary->n_int8++;
        }
        text.len = 0;
        describe(&text, e, &w.parts[n - 2]);
        char *value = sdc_arena_alloc(&strings, text.len + 1, 1);
        if (text.failed || !value) {
            st = sdc_fail_oom(ctx, e->name, text.len + 1);
            goto done;
        }
        memcpy(value, text.data, text.len);
        value[text.len] = '\0';
        meta[n_meta++] = (sdc_st_kv){.key = key, .value = value};
        summary->bytes += out_bytes;
        summary->compressed_parameters += numel;
        summary->compressed_bytes += out_bytes;
    }
    st = sdc_st_write_stream(ctx, path, entries, n, meta, n_meta, fill, &w);
    struct stat sb;
    if (st == SDC_STATUS_OK && stat(path, &sb) == 0)
        summary->file_bytes = (uint64_t)sb.st_size;
done:
    sdc_buf_free(&text);
    sdc_arena_release(&strings);
    sdc_free(ctx, w.values);
    sdc_free(ctx, w.aux);
    sdc_free(ctx, w.parts);
    sdc_free(ctx, meta);
    sdc_free(ctx, entries);
    return st;
}
