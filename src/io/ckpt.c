/*
 * ckpt.c — PyTorch checkpoints written by torch.save (torch 0.4 to 2.4) read as an sdc_st_file:
 * the ZIP format of torch >= 1.6 (<folder>/data.pkl plus one stored <folder>/data/<key> record
 * per storage, used in place) and the legacy format before it (five pickles, then each
 * storage's 8-byte element count and bytes). Unlike torch.load, tensors that are strided views
 * are refused rather than copied, and only the state dict's tensors are checked and kept.
 */
#include "io/ckpt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_ZIP    "pytorch"
#define FORMAT_LEGACY "pytorch-legacy"

/* 0x1950a86a20f9469cfc6c, little-endian: the first pickle of a legacy file. */
static const unsigned char legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                               0x20, 0x6a, 0xa8, 0x50, 0x19};
#define LEGACY_PROTOCOL_VERSION 1001

/* One storage of a legacy file: where its bytes are. */
typedef struct storage_slot {
    const char *key;
    size_t key_len;
    uint64_t numel; /* elements of elsize, as declared by the persistent ids */
    uint64_t elsize;
    uint64_t offset; /* of its bytes in the file */
    bool present;    /* listed in the storage key list, so offset is known */
} storage_slot;

typedef struct ckpt {
    sdc_context *ctx;
    sdc_st_file *f;
    const unsigned char *data;
    size_t size;
    const char *name;
    bool legacy;
    sdc_zip zip;
    const char *prefix; /* "archive/": the folder of data.pkl, with its slash */
    size_t prefix_len;
    char *entry;         /* scratch for "<prefix>data/<key>" */
    storage_slot *slots; /* legacy: sorted by key */
    size_t n_slots;
} ckpt;

static int compare_keys(const char *a, size_t an, const char *b, size_t bn)
{
    /* keys are decimal digits: order by length, then bytes */
    if (an != bn)
        return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

/* "<prefix><a><b>" in the scratch buffer (room for prefix + 32 bytes); returns its length. */
static size_t entry_path(ckpt *c, const char *a, const char *b, size_t b_len)
{
    size_t a_len = strlen(a);
    memcpy(c->entry, c->prefix, c->prefix_len);
    memcpy(c->entry + c->prefix_len, a, a_len);
    memcpy(c->entry + c->prefix_len + a_len, b, b_len);
    c->entry[c->prefix_len + a_len + b_len] = '\0';
    return c->prefix_len + a_len + b_len;
}

static const char *quote(const char *s, size_t len, char *buf, size_t size)
{
    return sdc_json_quote(s, len, buf, size);
}

static bool str_is(const sdc_pickle_value *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == SDC_PICKLE_TYPE_STRING && v->u.bytes.len == n &&
           memcmp(v->u.bytes.chars, s, n) == 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Storages                                                                                   */

static storage_slot *find_slot(ckpt *c, const char *key, size_t len)
{
    size_t lo = 0, hi = c->n_slots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = compare_keys(key, len, c->slots[mid].key, c->slots[mid].key_len);
        if (cmp == 0)
            return &c->slots[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Where the bytes of storage `s` are in the file and how many it declares. */
static sdc_status locate_storage(ckpt *c, const sdc_pickle_value *s, const char *tname,
                                 uint64_t *offset, uint64_t *nbytes)
{
    char key[32];
    quote(s->u.storage.key, s->u.storage.key_len, key, sizeof key);
    uint64_t elsize = sdc_dtype_size(s->u.storage.dtype);
    if (s->u.storage.numel > UINT64_MAX / elsize)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: storage %s of %" PRIu64 " elements of %s overflows 64 bits",
                        c->name, tname, key, s->u.storage.numel,
                        sdc_dtype_name(s->u.storage.dtype));
    *nbytes = s->u.storage.numel * elsize;
    if (c->legacy) {
        storage_slot *slot = find_slot(c, s->u.storage.key, s->u.storage.key_len);
        if (!slot || !slot->present)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: tensor %s: storage %s has no data in the file (it is not in the "
                            "storage key list)",
                            c->name, tname, key);
        *offset = slot->offset;
        return SDC_STATUS_OK;
    }
    size_t len = entry_path(c, "data/", s->u.storage.key, s->u.storage.key_len);
    char ename[96];
    quote(c->entry, len, ename, sizeof ename);
    const sdc_zip_entry *e = sdc_zip_find(&c->zip, c->entry, len);
    if (!e)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: storage %s has no entry %s in the archive", c->name, tname,
                        key, ename);
    const unsigned char *bytes;
    sdc_status st = sdc_zip_entry_bytes(&c->zip, e, &bytes);
    if (st != SDC_STATUS_OK)
        return st;
    if (*nbytes > e->size)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s: storage %s declares %" PRIu64 " elements of %s (%" PRIu64
                        " bytes) but entry %s holds %" PRIu64 " bytes",
                        c->name, tname, key, s->u.storage.numel, sdc_dtype_name(s->u.storage.dtype),
                        *nbytes, ename, e->size);
    *offset = e->data_offset;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                    */

/* Row-major contiguous, ignoring the strides of size-1 dims as torch does. */
static bool is_contiguous(const int64_t *shape, const int64_t *stride, int ndim, uint64_t numel)
{
    if (numel == 0)
        return true;
    int64_t expected = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] != 1 && stride[d] != expected)
            return false;
        expected *= shape[d]; /* a product of trailing dims: at most numel */
    }
    return true;
}

/* Checks the tensor of `item` against its storage and fills *out (which may be NULL when the
 * key is known to be refused). */
static sdc_status add_tensor(ckpt *c, const sdc_pickle_item *item, sdc_st_tensor *out)
{
    const sdc_pickle_value *k = item->key, *v = item->value;
    char tname[160];
    if (k->type != SDC_PICKLE_TYPE_STRING || memchr(k->u.bytes.chars, '\0', k->u.bytes.len))
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: the state dict key of the tensor built at pickle byte %zu is %s%s, "
                        "expected a string without NUL characters",
                        c->name, v->offset, k->type == SDC_PICKLE_TYPE_STRING ? "" : "of type ",
                        k->type == SDC_PICKLE_TYPE_STRING ? "a string with a NUL character"
                                                          : sdc_pickle_type_name(k->type));
    quote(k->u.bytes.chars, k->u.bytes.len, tname, sizeof tname);
    sdc_dtype dtype = v->u.tensor.dtype;
    int ndim = v->u.tensor.ndim;
    const int64_t *shape = v->u.tensor.shape;
    uint64_t numel = 1, nbytes;
    bool empty = false;
    for (int d = 0; d < ndim; d++)
        empty = empty || shape[d] == 0;
    for (int d = 0; d < ndim && !empty; d++) {
        if (numel > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: tensor %s: the element count of its shape overflows", c->name,
                            tname);
        numel *= (uint64_t)shape[d];
    }
    if (empty)
        numel = 0;
    uint64_t elsize = sdc_dtype_size(dtype);
    if (numel > UINT64_MAX / elsize)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: tensor %s: its byte size overflows",
                        c->name, tname);
    nbytes = numel * elsize;

    char shape_s[160], stride_s[160];
    sdc_shape_str(ndim, shape, shape_s, sizeof shape_s);
    sdc_shape_str(ndim, v->u.tensor.stride, stride_s, sizeof stride_s);
    uint64_t base = 0, storage_bytes = 0;
    sdc_status st = locate_storage(c, v->u.tensor.storage, tname, &base, &storage_bytes);
    if (st != SDC_STATUS_OK)
        return st;
    uint64_t offset = (uint64_t)v->u.tensor.storage_offset;
    if (offset > UINT64_MAX / elsize || offset * elsize > storage_bytes ||
        nbytes > storage_bytes - offset * elsize) {
        char key[32];
        quote(v->u.tensor.storage->u.storage.key, v->u.tensor.storage->u.storage.key_len, key,
              sizeof key);
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: tensor %s (pickle byte %zu): storage offset %" PRIu64
                        " and shape %s of %s need %" PRIu64 " bytes from element %" PRIu64
                        " of storage %s, which holds %" PRIu64 " bytes",
                        c->name, tname, v->offset, offset, shape_s, sdc_dtype_name(dtype), nbytes,
                        offset, key, storage_bytes);
    }
    if (!is_contiguous(shape, v->u.tensor.stride, ndim, numel))
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: tensor %s: strides %s for shape %s are not contiguous row-major; sdc "
                        "uses tensors in place and does not copy strided views (save "
                        "tensor.contiguous() instead, or convert to safetensors)",
                        c->name, tname, stride_s, shape_s);
    char *name = sdc_arena_alloc(&c->f->strings, k->u.bytes.len + 1, 1);
    if (!name)
        return sdc_fail_oom(c->ctx, c->name, k->u.bytes.len + 1);
    memcpy(name, k->u.bytes.chars, k->u.bytes.len);
    name[k->u.bytes.len] = '\0';
    memset(out, 0, sizeof *out);
    out->name = name;
    out->dtype = dtype;
    out->ndim = ndim;
    memcpy(out->shape, shape, (size_t)ndim * sizeof *shape);
    out->begin = base + offset * elsize;
    out->end = out->begin + nbytes;
    out->data = c->data + out->begin;
    return SDC_STATUS_OK;
}

/* Byte order of the keys, then insertion order (items of one dict are contiguous). */
static int compare_items(const void *pa, const void *pb)
{
    const sdc_pickle_item *a = *(const sdc_pickle_item *const *)pa;
    const sdc_pickle_item *b = *(const sdc_pickle_item *const *)pb;
    size_t an = a->key->u.bytes.len, bn = b->key->u.bytes.len;
    int cmp = memcmp(a->key->u.bytes.chars, b->key->u.bytes.chars, an < bn ? an : bn);
    if (cmp != 0)
        return cmp;
    if (an != bn)
        return an < bn ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The string-keyed items of `dict` as Python sees them once every SETITEM has run: the last
 * value of each key, sorted by key (strcmp order for keys without NUL). *out is owned by the
 * caller; NULL when there are none. */
static sdc_status final_items(ckpt *c, const sdc_pickle_value *dict, const sdc_pickle_item ***out,
                              size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n = 0;
    for (size_t i = 0; i < dict->u.dict.count; i++)
        n += dict->u.dict.items[i].key->type == SDC_PICKLE_TYPE_STRING;
    if (n == 0)
        return SDC_STATUS_OK;
    const sdc_pickle_item **items = sdc_calloc(c->ctx, n, sizeof *items);
    if (!items)
        return sdc_fail_oom(c->ctx, c->name, n * sizeof *items);
    n = 0;
    for (size_t i = 0; i < dict->u.dict.count; i++)
        if (dict->u.dict.items[i].key->type == SDC_PICKLE_TYPE_STRING)
            items[n++] = &dict->u.dict.items[i];
    qsort(items, n, sizeof *items, compare_items);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const sdc_pickle_value *k = items[i]->key, *next = i + 1 < n ? items[i + 1]->key : NULL;
        if (next && next->u.bytes.len == k->u.bytes.len &&
            memcmp(next->u.bytes.chars, k->u.bytes.chars, k->u.bytes.len) == 0)
            continue;
        items[m++] = items[i];
    }
    *out = items;
    *n_out = m;
    return SDC_STATUS_OK;
}

/* The state dict's tensors, sorted by name. A key given several times keeps its last value,
 * as in Python; other values are skipped, but a tensor under a key that is not a string is an
 * error. */
static sdc_status collect_tensors(ckpt *c, const sdc_pickle_value *sd)
{
    for (size_t i = 0; i < sd->u.dict.count; i++)
        if (sd->u.dict.items[i].key->type != SDC_PICKLE_TYPE_STRING &&
            sd->u.dict.items[i].value->type == SDC_PICKLE_TYPE_TENSOR)
            return add_tensor(c, &sd->u.dict.items[i], NULL);
    const sdc_pickle_item **items = NULL;
    size_t n = 0, n_tensors = 0;
    sdc_status st = final_items(c, sd, &items, &n);
    if (st != SDC_STATUS_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        n_tensors += items[i]->value->type == SDC_PICKLE_TYPE_TENSOR;
    if (n_tensors > 0) {
        c->f->tensors = sdc_calloc(c->ctx, n_tensors, sizeof *c->f->tensors);
        if (!c->f->tensors)
            st = sdc_fail_oom(c->ctx, c->name, n_tensors * sizeof *c->f->tensors);
    }
    for (size_t i = 0; i < n && st == SDC_STATUS_OK; i++)
        if (items[i]->value->type == SDC_PICKLE_TYPE_TENSOR &&
            (st = add_tensor(c, items[i], &c->f->tensors[c->f->n_tensors])) == SDC_STATUS_OK)
            c->f->n_tensors++;
    sdc_free(c->ctx, items);
    return st;
}

static char *arena_text(ckpt *c, const char *s, size_t len)
{
    char *p = sdc_arena_alloc(&c->f->strings, len + 1, 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* The shortest %g text that reads back as the same double (Python's repr gives the same
 * digits). */
static size_t format_float(double x, char *buf, size_t size)
{
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, x);
        if (isnan(x) || strtod(buf, NULL) == x)
            break;
    }
    return (size_t)n;
}

/* The top level's plain values ("global_step", "epoch", ...) as string metadata, each key
 * with its last value. */
static sdc_status collect_metadata(ckpt *c, const sdc_pickle_value *root)
{
    const sdc_pickle_item **items = NULL;
    size_t n = 0;
    sdc_status st = final_items(c, root, &items, &n);
    if (st != SDC_STATUS_OK || n == 0)
        return st;
    sdc_st_kv *kv = sdc_calloc(c->ctx, n, sizeof *kv);
    if (!kv) {
        st = sdc_fail_oom(c->ctx, c->name, n * sizeof *kv);
        goto done;
    }
    c->f->metadata = kv;
    for (size_t i = 0; i < n; i++) {
        const sdc_pickle_value *k = items[i]->key, *v = items[i]->value;
        char buf[64];
        const char *text = buf;
        size_t len;
        if (memchr(k->u.bytes.chars, '\0', k->u.bytes.len))
            continue;
        if (v->type == SDC_PICKLE_TYPE_INT)
            len = (size_t)snprintf(buf, sizeof buf, "%" PRId64, v->u.integer);
        else if (v->type == SDC_PICKLE_TYPE_FLOAT)
            len = format_float(v->u.real, buf, sizeof buf);
        else if (v->type == SDC_PICKLE_TYPE_BOOL)
            len = (size_t)snprintf(buf, sizeof buf, "%s", v->u.boolean ? "True" : "False");
        else if (v->type == SDC_PICKLE_TYPE_STRING &&
                 !memchr(v->u.bytes.chars, '\0', v->u.bytes.len))
            text = v->u.bytes.chars, len = v->u.bytes.len;
        else
            continue;
        sdc_st_kv *e = &kv[c->f->n_metadata];
        e->key = arena_text(c, k->u.bytes.chars, k->u.bytes.len);
        e->value = arena_text(c, text, len);
        if (!e->key || !e->value) {
            st = sdc_fail_oom(c->ctx, c->name, k->u.bytes.len + len + 2);
            goto done;
        }
        c->f->n_metadata++;
    }
done:
    sdc_free(c->ctx, items);
    return st;
}

/* The state dict is the top-level dict's "state_dict" entry when that is a dict (Lightning and
 * LDM checkpoints), else the top-level dict itself (a bare torch.save(model.state_dict())). */
static sdc_status collect(ckpt *c, const sdc_pickle *p, const char *what)
{
    const sdc_pickle_value *root = p->root;
    if (root->type != SDC_PICKLE_TYPE_DICT)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: the checkpoint holds a %s, expected a dict of named tensors (a state "
                        "dict)",
                        what, sdc_pickle_type_name(root->type));
    const sdc_pickle_value *sd = root, *last = NULL;
    for (size_t i = 0; i < root->u.dict.count; i++)
        if (str_is(root->u.dict.items[i].key, "state_dict"))
            last = root->u.dict.items[i].value;
    if (last && last->type == SDC_PICKLE_TYPE_DICT)
        sd = last;
    sdc_status st = collect_tensors(c, sd);
    if (st != SDC_STATUS_OK)
        return st;
    return collect_metadata(c, root);
}

/* ---------------------------------------------------------------------------------------- */
/* The ZIP format (torch >= 1.6)                                                              */

/* "<folder>/data.pkl" with no other slash; exactly one. */
static sdc_status find_pickle(ckpt *c, const sdc_zip_entry **out)
{
    static const char suffix[] = "/data.pkl";
    const size_t sl = sizeof suffix - 1;
    const sdc_zip_entry *found = NULL;
    char a[96], b[96];
    for (size_t i = 0; i < c->zip.n_entries; i++) {
        const sdc_zip_entry *e = &c->zip.entries[i];
        if (e->name_len <= sl || memcmp(e->name + e->name_len - sl, suffix, sl) != 0 ||
            memchr(e->name, '/', e->name_len - sl))
            continue;
        if (found)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: two pickles, %s and %s: expected one torch.save archive", c->name,
                            quote(found->name, found->name_len, a, sizeof a),
                            quote(e->name, e->name_len, b, sizeof b));
        found = e;
    }
    if (!found)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: no \"<folder>/data.pkl\" entry among the %zu entries of this ZIP "
                        "archive: not a torch.save checkpoint",
                        c->name, c->zip.n_entries);
    *out = found;
    return SDC_STATUS_OK;
}

static sdc_status check_byteorder(ckpt *c)
{
    size_t len = entry_path(c, "byteorder", "", 0);
    const sdc_zip_entry *e = sdc_zip_find(&c->zip, c->entry, len);
    if (!e) /* written since torch 2.1; older files are little-endian */
        return SDC_STATUS_OK;
    const unsigned char *b;
    sdc_status st = sdc_zip_entry_bytes(&c->zip, e, &b);
    if (st != SDC_STATUS_OK)
        return st;
    char got[32];
    if (e->size == 6 && memcmp(b, "little", 6) == 0)
        return SDC_STATUS_OK;
    if (e->size == 3 && memcmp(b, "big", 3) == 0)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: the checkpoint was saved on a big-endian machine (byteorder \"big\"); "
                        "sdc reads little-endian data only",
                        c->name);
    return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                    "%s: byteorder record holds %s, expected \"little\" or \"big\"", c->name,
                    quote((const char *)b, e->size < 64 ? (size_t)e->size : 64, got, sizeof got));
}

static sdc_status load_zip(ckpt *c)
{
    sdc_status st = sdc_zip_parse(c->ctx, c->data, c->size, c->name, &c->zip);
    if (st != SDC_STATUS_OK)
        return st;
    const sdc_zip_entry *pkl = NULL;
    if ((st = find_pickle(c, &pkl)) != SDC_STATUS_OK)
        return st;
    c->prefix = pkl->name;
    c->prefix_len = pkl->name_len - strlen("data.pkl");
    c->entry = sdc_malloc(c->ctx, c->prefix_len + 32);
    if (!c->entry)
        return sdc_fail_oom(c->ctx, c->name, c->prefix_len + 32);
    size_t len = entry_path(c, "constants.pkl", "", 0);
    if (sdc_zip_find(&c->zip, c->entry, len))
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: a TorchScript archive (torch.jit.save), not a torch.save checkpoint "
                        "of tensors",
                        c->name);
    if ((st = check_byteorder(c)) != SDC_STATUS_OK)
        return st;
    const unsigned char *bytes;
    if ((st = sdc_zip_entry_bytes(&c->zip, pkl, &bytes)) != SDC_STATUS_OK)
        return st;
    char what[600], ename[160];
    snprintf(what, sizeof what, "%s: %s", c->name,
             quote(pkl->name, pkl->name_len, ename, sizeof ename));
    sdc_pickle *p = NULL;
    if ((st = sdc_pickle_load(c->ctx, bytes, (size_t)pkl->size, what, &p)) != SDC_STATUS_OK)
        return st;
    if (p->consumed != pkl->size)
        st = sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                      "%s: %" PRIu64 " bytes follow the STOP opcode at byte %zu", what,
                      pkl->size - p->consumed, p->consumed - 1);
    else
        st = collect(c, p, what);
    sdc_pickle_free(c->ctx, p);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* The legacy format (torch < 1.6, or _use_new_zipfile_serialization=False)                   */

static int compare_slots(const void *pa, const void *pb)
{
    const storage_slot *a = pa, *b = pb;
    return compare_keys(a->key, a->key_len, b->key, b->key_len);
}

/* One slot per storage key the object's persistent ids name; they must agree on its size. */
static sdc_status make_slots(ckpt *c, const sdc_pickle *obj, const char *what)
{
    if (obj->n_storages == 0)
        return SDC_STATUS_OK;
    c->slots = sdc_calloc(c->ctx, obj->n_storages, sizeof *c->slots);
    if (!c->slots)
        return sdc_fail_oom(c->ctx, c->name, obj->n_storages * sizeof *c->slots);
    for (size_t i = 0; i < obj->n_storages; i++) {
        const sdc_pickle_value *s = obj->storages[i];
        c->slots[i] = (storage_slot){.key = s->u.storage.key,
                                     .key_len = s->u.storage.key_len,
                                     .numel = s->u.storage.numel,
                                     .elsize = sdc_dtype_size(s->u.storage.dtype)};
    }
    qsort(c->slots, obj->n_storages, sizeof *c->slots, compare_slots);
    size_t n = 0;
    for (size_t i = 0; i < obj->n_storages; i++) {
        storage_slot *s = &c->slots[i];
        if (n > 0 && compare_slots(&c->slots[n - 1], s) == 0) {
            if (c->slots[n - 1].numel != s->numel || c->slots[n - 1].elsize != s->elsize) {
                char key[32];
                return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                                "%s: storage %s is declared with two sizes (%" PRIu64
                                " elements of %" PRIu64 " bytes and %" PRIu64 " of %" PRIu64 ")",
                                what, quote(s->key, s->key_len, key, sizeof key),
                                c->slots[n - 1].numel, c->slots[n - 1].elsize, s->numel, s->elsize);
            }
            continue;
        }
        c->slots[n++] = *s;
    }
    c->n_slots = n;
    return SDC_STATUS_OK;
}

/* After the pickles: for each key of the list, an 8-byte element count and the bytes. */
static sdc_status place_storages(ckpt *c, const sdc_pickle *keys, size_t pos, const char *what)
{
    const sdc_pickle_value *list = keys->root;
    char key[32];
    if (list->type != SDC_PICKLE_TYPE_LIST)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: holds a %s, expected the list of storage keys", what,
                        sdc_pickle_type_name(list->type));
    for (size_t i = 0; i < list->u.seq.count; i++) {
        const sdc_pickle_value *k = list->u.seq.items[i];
        if (k->type != SDC_PICKLE_TYPE_STRING)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: storage key %zu is a %s, expected a "
                            "string",
                            what, i, sdc_pickle_type_name(k->type));
        quote(k->u.bytes.chars, k->u.bytes.len, key, sizeof key);
        storage_slot *s = find_slot(c, k->u.bytes.chars, k->u.bytes.len);
        if (!s)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: storage key %s is listed but no tensor uses it, so its size is "
                            "unknown",
                            what, key);
        if (s->present)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: storage key %s is listed twice", what,
                            key);
        if (c->size - pos < 8)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: the file ends at byte %zu, before the size of storage %s", c->name,
                            c->size, key);
        uint64_t numel = 0;
        for (int b = 7; b >= 0; b--)
            numel = numel << 8 | c->data[pos + (size_t)b];
        if (numel != s->numel)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: byte %zu: storage %s holds %" PRIu64 " elements, but the tensors "
                            "declare %" PRIu64,
                            c->name, pos, key, numel, s->numel);
        pos += 8;
        if (s->numel > UINT64_MAX / s->elsize || s->numel * s->elsize > c->size - pos)
            return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                            "%s: storage %s: %" PRIu64 " elements of %" PRIu64
                            " bytes at byte %zu run past the end of the file (%zu bytes)",
                            c->name, key, s->numel, s->elsize, pos, c->size);
        s->offset = pos;
        s->present = true;
        pos += (size_t)(s->numel * s->elsize);
    }
    return SDC_STATUS_OK;
}

static sdc_status check_header(ckpt *c, int i, const sdc_pickle_value *v, const char *what)
{
    if (i == 0 && !(v->type == SDC_PICKLE_TYPE_BIGINT && v->u.bytes.len == sizeof legacy_magic &&
                    memcmp(v->u.bytes.chars, legacy_magic, sizeof legacy_magic) == 0))
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: holds a %s, expected torch's magic number 0x1950a86a20f9469cfc6c: "
                        "not a torch.save file",
                        what, sdc_pickle_type_name(v->type));
    if (i == 1 && !(v->type == SDC_PICKLE_TYPE_INT && v->u.integer == LEGACY_PROTOCOL_VERSION))
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: legacy protocol version is not %d; re-save with torch >= 1.6 or "
                        "convert to safetensors",
                        what, LEGACY_PROTOCOL_VERSION);
    if (i == 2) {
        bool little = false;
        for (size_t k = 0; v->type == SDC_PICKLE_TYPE_DICT && k < v->u.dict.count; k++)
            if (str_is(v->u.dict.items[k].key, "little_endian"))
                little = v->u.dict.items[k].value->type == SDC_PICKLE_TYPE_BOOL &&
                         v->u.dict.items[k].value->u.boolean;
        if (!little)
            return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                            "%s: the file does not say little_endian=True; sdc reads "
                            "little-endian data only",
                            what);
    }
    return SDC_STATUS_OK;
}

static sdc_status load_legacy(ckpt *c)
{
    static const char *const roles[5] = {"magic number", "protocol version", "system info",
                                         "object", "storage keys"};
    sdc_pickle *p[5] = {NULL, NULL, NULL, NULL, NULL};
    char what[5][600];
    sdc_status st = SDC_STATUS_OK;
    size_t pos = 0;
    for (int i = 0; i < 5 && st == SDC_STATUS_OK; i++) {
        snprintf(what[i], sizeof what[i], "%s: legacy pickle %d of 5 (%s, from file byte %zu)",
                 c->name, i + 1, roles[i], pos);
        st = sdc_pickle_load(c->ctx, c->data + pos, c->size - pos, what[i], &p[i]);
        if (st != SDC_STATUS_OK)
            break;
        pos += p[i]->consumed;
        if (i < 3) {
            st = check_header(c, i, p[i]->root, what[i]);
            sdc_pickle_free(c->ctx, p[i]);
            p[i] = NULL;
        }
    }
    if (st == SDC_STATUS_OK && (st = make_slots(c, p[3], what[3])) == SDC_STATUS_OK &&
        (st = place_storages(c, p[4], pos, what[4])) == SDC_STATUS_OK)
        st = collect(c, p[3], what[3]);
    for (int i = 0; i < 5; i++)
        sdc_pickle_free(c->ctx, p[i]);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                               */

static bool is_zip(const unsigned char *p, size_t size)
{
    if (size < 4 || p[0] != 'P' || p[1] != 'K' ||
        !((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6)))
        return false;
    /* A safetensors file whose header is 67,325,776 bytes long starts with the same 4 bytes;
     * its next four are zero and its JSON starts at byte 8. */
    return !(size > 8 && p[4] == 0 && p[5] == 0 && p[6] == 0 && p[7] == 0 && p[8] == '{');
}

static bool is_legacy(const unsigned char *p, size_t size)
{
    if (size < 14 || p[0] != 0x80 || p[1] < 2 || p[1] > 5)
        return false;
    /* the magic number pickle, LONG1 of 10 bytes, after a FRAME from protocol 4 on */
    size_t at = p[2] == 0x95 ? 11 : 2;
    return size >= at + 12 && p[at] == 0x8a && p[at + 1] == 10 &&
           memcmp(p + at + 2, legacy_magic, sizeof legacy_magic) == 0;
}

bool sdc_ckpt_sniff(const void *data, size_t size)
{
    return data && (is_zip(data, size) || is_legacy(data, size));
}

sdc_status sdc_ckpt_create(sdc_context *ctx, const unsigned char *data, size_t size,
                           const char *name, sdc_mapped_file *map, sdc_st_file **out)
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
    if (map)
        f->map = *map;
    sdc_arena_init(&f->strings, ctx, (size_t)1 << 16);
    f->data_section = data;
    f->data_size = data ? size : 0;
    ckpt c = {.ctx = ctx, .f = f, .data = data, .size = f->data_size, .name = name};
    if (!(f->path = sdc_strdup(ctx, name))) {
        st = sdc_fail_oom(ctx, "a file name", strlen(name) + 1);
        goto done;
    }
    c.legacy = is_legacy(data, c.size);
    f->format = c.legacy ? FORMAT_LEGACY : FORMAT_ZIP;
    if (!c.legacy && !is_zip(data, c.size)) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: not a torch.save checkpoint (neither a ZIP archive nor a legacy "
                      "pickle stream starting with torch's magic number)",
                      name);
        goto done;
    }
    st = c.legacy ? load_legacy(&c) : load_zip(&c);
done:
    sdc_zip_free(&c.zip);
    sdc_free(ctx, c.entry);
    sdc_free(ctx, c.slots);
    if (st != SDC_STATUS_OK) {
        sdc_st_close(f);
        return st;
    }
    *out = f;
    return SDC_STATUS_OK;
}

sdc_status sdc_ckpt_open(sdc_context *ctx, const char *path, sdc_st_file **out)
{
    *out = NULL;
    sdc_mapped_file map;
    sdc_status st = sdc_file_map(ctx, path, &map);
    if (st != SDC_STATUS_OK)
        return st;
    return sdc_ckpt_create(ctx, map.data, map.size, path, &map, out);
}

sdc_status sdc_ckpt_parse(sdc_context *ctx, const void *data, size_t size, const char *name,
                          sdc_st_file **out)
{
    return sdc_ckpt_create(ctx, data, size, name ? name : "checkpoint data", NULL, out);
}
