/*
 * fixture_cases.h — reading the recorded reference fixtures from tests: finds a file's entry in
 * tests/fixtures/manifest.json (its `cases` list says what each tensor holds), opens the
 * safetensors file and hands out aligned copies of its tensors. Header-only so any test
 * executable can use it; every copy is freed by fixture_close.
 */
#ifndef SDC_TESTS_FIXTURE_CASES_H
#define SDC_TESTS_FIXTURE_CASES_H

#include "io/io.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

#define FIXTURE_MAX_COPIES 64

typedef struct fixture {
    sdc_context *ctx;
    char *manifest_text;
    sdc_json_doc *manifest;
    const sdc_json *entry; /* the manifest entry whose "path" was asked for */
    sdc_st_file *st;       /* NULL when the entry says the file was not written */
    void *copies[FIXTURE_MAX_COPIES];
    int n_copies;
} fixture;

static inline void fixture_close(fixture *f)
{
    for (int i = 0; i < f->n_copies; i++)
        sdc_free(f->ctx, f->copies[i]);
    f->n_copies = 0;
    sdc_st_close(f->st);
    sdc_json_free(f->manifest);
    sdc_free(f->ctx, f->manifest_text);
    f->st = NULL;
    f->manifest = NULL;
    f->manifest_text = NULL;
    f->entry = NULL;
}

/* Frees the copies made so far (to keep memory flat over many cases). */
static inline void fixture_release_copies(fixture *f)
{
    for (int i = 0; i < f->n_copies; i++)
        sdc_free(f->ctx, f->copies[i]);
    f->n_copies = 0;
}

/* Opens the fixture whose manifest path is `rel` (e.g. "rng/numpy.safetensors"). */
static inline bool fixture_open(fixture *f, sdc_context *ctx, const char *rel)
{
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    size_t size = 0;
    const char *manifest_path = test_path(SDC_FIXTURES_DIR, "manifest.json");
    if (sdc_file_read_all(ctx, manifest_path, &f->manifest_text, &size) != SDC_STATUS_OK ||
        sdc_json_parse(ctx, f->manifest_text, size, manifest_path, &f->manifest) != SDC_STATUS_OK) {
        CHECK_MSG(false, "manifest: %s", sdc_context_errmsg(ctx));
        fixture_close(f);
        return false;
    }
    const sdc_json *gens = sdc_json_get_type(f->manifest->root, "generators", SDC_JSON_TYPE_OBJECT);
    for (size_t g = 0; gens && g < gens->u.object.count && !f->entry; g++) {
        const sdc_json *fixtures =
            sdc_json_get_type(gens->u.object.members[g].value, "fixtures", SDC_JSON_TYPE_ARRAY);
        for (size_t i = 0; fixtures && i < fixtures->u.array.count; i++) {
            const sdc_json *p =
                sdc_json_get_type(fixtures->u.array.items[i], "path", SDC_JSON_TYPE_STRING);
            if (p && strcmp(p->u.string.chars, rel) == 0) {
                f->entry = fixtures->u.array.items[i];
                break;
            }
        }
    }
    if (!f->entry) {
        CHECK_MSG(false, "manifest has no entry for %s", rel);
        fixture_close(f);
        return false;
    }
    const sdc_json *written = sdc_json_get_type(f->entry, "written", SDC_JSON_TYPE_BOOL);
    if (written && !written->u.boolean)
        return true;
    if (sdc_st_open(ctx, test_path(SDC_FIXTURES_DIR, rel), &f->st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: %s", rel, sdc_context_errmsg(ctx));
        fixture_close(f);
        return false;
    }
    return true;
}

static inline const sdc_json *fixture_cases(const fixture *f)
{
    return sdc_json_get_type(f->entry, "cases", SDC_JSON_TYPE_ARRAY);
}

static inline const char *json_str(const sdc_json *obj, const char *key)
{
    const sdc_json *v = sdc_json_get_type(obj, key, SDC_JSON_TYPE_STRING);
    return v ? v->u.string.chars : NULL;
}

static inline bool json_int(const sdc_json *obj, const char *key, int64_t *out)
{
    const sdc_json *v = sdc_json_get_type(obj, key, SDC_JSON_TYPE_NUMBER);
    if (!v || !v->u.number.is_int)
        return false;
    *out = v->u.number.int_value;
    return true;
}

/* An aligned copy of tensor `name` with the expected dtype, or NULL (a failed check). */
static inline void *fixture_tensor(fixture *f, const char *name, sdc_dtype dtype, size_t *numel)
{
    const sdc_st_tensor *t = f->st ? sdc_st_find(f->st, name) : NULL;
    if (!t) {
        CHECK_MSG(false, "fixture tensor %s is missing", name);
        return NULL;
    }
    if (t->dtype != dtype) {
        CHECK_MSG(false, "fixture tensor %s is %s, expected %s", name, sdc_dtype_name(t->dtype),
                  sdc_dtype_name(dtype));
        return NULL;
    }
    if (f->n_copies == FIXTURE_MAX_COPIES) {
        CHECK_MSG(false, "fixture_tensor: more than %d live copies (release them per case)",
                  FIXTURE_MAX_COPIES);
        return NULL;
    }
    size_t nbytes = (size_t)sdc_st_nbytes(t);
    void *copy = sdc_malloc(f->ctx, nbytes ? nbytes : 1);
    if (!copy) {
        CHECK_MSG(false, "out of memory copying %s", name);
        return NULL;
    }
    memcpy(copy, t->data, nbytes);
    f->copies[f->n_copies++] = copy;
    *numel = (size_t)sdc_st_numel(t);
    return copy;
}

static inline bool fixture_has(const fixture *f, const char *name)
{
    return f->st && sdc_st_find(f->st, name) != NULL;
}

static inline uint32_t f32_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Distance in units in the last place between two finite floats of the same sign class. */
static inline int64_t ulp_distance_f32(float a, float b)
{
    int64_t ia = (int32_t)f32_bits(a), ib = (int32_t)f32_bits(b);
    if (ia < 0)
        ia = INT32_MIN - ia;
    if (ib < 0)
        ib = INT32_MIN - ib;
    return ia > ib ? ia - ib : ib - ia;
}

#endif /* SDC_TESTS_FIXTURE_CASES_H */
