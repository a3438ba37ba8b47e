/*
 * fuzz_json.c — libFuzzer target for the JSON parser (src/io/json.c). Every input is parsed
 * from memory; a document that parses is written back (compact and pretty) and must parse to
 * an equal document. Nothing may be left allocated afterwards.
 */
#include "io/io.h"

#include <math.h>
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

/* Writes v back; false when a key holds a NUL (the writer takes C-string keys). */
static bool write_value(sdc_json_writer *w, const sdc_json *v)
{
    bool exact = true;
    switch (v->type) {
    case SDC_JSON_TYPE_NULL:
        sdc_json_null(w);
        break;
    case SDC_JSON_TYPE_BOOL:
        sdc_json_bool(w, v->u.boolean);
        break;
    case SDC_JSON_TYPE_NUMBER:
        /* an integer, except "-0", which only a double keeps */
        if (v->u.number.is_int && (v->u.number.int_value != 0 || !signbit(v->u.number.value)))
            sdc_json_int(w, v->u.number.int_value);
        else
            sdc_json_double(w, v->u.number.value);
        break;
    case SDC_JSON_TYPE_STRING:
        sdc_json_string_n(w, v->u.string.chars, v->u.string.len);
        break;
    case SDC_JSON_TYPE_ARRAY:
        sdc_json_begin_array(w);
        for (size_t i = 0; i < v->u.array.count; i++)
            exact = write_value(w, v->u.array.items[i]) && exact;
        sdc_json_end_array(w);
        break;
    case SDC_JSON_TYPE_OBJECT:
        sdc_json_begin_object(w);
        for (size_t i = 0; i < v->u.object.count; i++) {
            const sdc_json_member *m = &v->u.object.members[i];
            exact = exact && strlen(m->key) == m->key_len;
            sdc_json_key(w, m->key);
            exact = write_value(w, m->value) && exact;
        }
        sdc_json_end_object(w);
        break;
    default:
        abort();
    }
    return exact;
}

static bool equal(const sdc_json *a, const sdc_json *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SDC_JSON_TYPE_NULL:
        return true;
    case SDC_JSON_TYPE_BOOL:
        return a->u.boolean == b->u.boolean;
    case SDC_JSON_TYPE_NUMBER:
        return memcmp(&a->u.number.value, &b->u.number.value, sizeof(double)) == 0 &&
               (!a->u.number.is_int || !b->u.number.is_int ||
                a->u.number.int_value == b->u.number.int_value);
    case SDC_JSON_TYPE_STRING:
        return a->u.string.len == b->u.string.len &&
               memcmp(a->u.string.chars, b->u.string.chars, a->u.string.len) == 0;
    case SDC_JSON_TYPE_ARRAY:
        if (a->u.array.count != b->u.array.count)
            return false;
        for (size_t i = 0; i < a->u.array.count; i++)
            if (!equal(a->u.array.items[i], b->u.array.items[i]))
                return false;
        return true;
    case SDC_JSON_TYPE_OBJECT:
        if (a->u.object.count != b->u.object.count)
            return false;
        for (size_t i = 0; i < a->u.object.count; i++) {
            const sdc_json_member *x = &a->u.object.members[i], *y = &b->u.object.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !equal(x->value, y->value))
                return false;
        }
        return true;
    default:
        return false;
    }
}

static void round_trip(sdc_context *ctx, const sdc_json_doc *doc, bool pretty)
{
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_json_writer w;
    sdc_json_writer_init(&w, &b, pretty);
    bool exact = write_value(&w, doc->root);
    if (b.failed)
        abort();
    sdc_json_doc *again = NULL;
    sdc_status st = sdc_json_parse(ctx, b.data, b.len, "written", &again);
    if (exact && (st != SDC_STATUS_OK || !equal(doc->root, again->root)))
        abort();
    sdc_json_free(again);
    sdc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdc_context *ctx = fuzz_context();
    sdc_json_doc *doc = NULL;
    if (sdc_json_parse(ctx, (const char *)data, size, "fuzz", &doc) == SDC_STATUS_OK) {
        round_trip(ctx, doc, false);
        round_trip(ctx, doc, true);
        sdc_json_free(doc);
    } else if (doc != NULL || sdc_context_errmsg(ctx)[0] == '\0') {
        abort();
    }
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    if (s.live_bytes != 0)
        abort();
    return 0;
}
