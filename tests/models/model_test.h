/*
 * model_test.h — helpers shared by the model tests: contexts, reference arrays from .npy and
 * safetensors fixtures (as aligned float32 copies), comparisons with a worst-error report
 * (printed when SDC_TEST_VERBOSE is set), checks of the error a call recorded, writing a
 * modified copy of a safetensors file for the error tests, fault injection while loading, and
 * the comparisons of UNet and VAE outputs with the recorded fixtures.
 */
#ifndef SDC_TESTS_MODELS_MODEL_TEST_H
#define SDC_TESTS_MODELS_MODEL_TEST_H

#include "models/models.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline sdc_context *mt_context(void)
{
    sdc_context *ctx = NULL;
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK) {
        fprintf(stderr, "could not create a context\n");
        exit(2);
    }
    return ctx;
}

/* An owned float32 array with its tensor view. */
typedef struct mt_array {
    sdc_context *ctx;
    float *data;
    sdc_tensor t;
} mt_array;

static inline void mt_array_free(mt_array *a)
{
    if (a->ctx)
        sdc_free(a->ctx, a->data);
    memset(a, 0, sizeof *a);
}

/* A zeroed array of the given shape. */
static inline mt_array mt_array_new(sdc_context *ctx, int ndim, const int64_t *shape)
{
    mt_array a = {.ctx = ctx};
    a.t = sdc_tensor_make(NULL, SDC_DTYPE_F32, ndim, shape);
    size_t n = (size_t)sdc_tensor_numel(&a.t);
    a.data = sdc_calloc(ctx, n ? n : 1, sizeof(float));
    if (!a.data) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(2);
    }
    a.t.data = a.data;
    return a;
}

static inline mt_array mt_array4(sdc_context *ctx, int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t shape[4] = {n, c, h, w};
    return mt_array_new(ctx, 4, shape);
}

/* A float32 .npy file; false (and a failed check) when it cannot be read. */
static inline bool mt_read_npy(sdc_context *ctx, const char *path, mt_array *out)
{
    sdc_npy npy;
    memset(out, 0, sizeof *out);
    if (sdc_npy_read(ctx, path, &npy) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return false;
    }
    if (npy.dtype != SDC_DTYPE_F32 || npy.ndim > SDC_TENSOR_MAX_DIMS) {
        CHECK_MSG(false, "%s: expected float32 with at most 4 dims", path);
        sdc_npy_free(ctx, &npy);
        return false;
    }
    *out = mt_array_new(ctx, npy.ndim, npy.shape);
    memcpy(out->data, npy.data, npy.nbytes);
    sdc_npy_free(ctx, &npy);
    return true;
}

/* Tensor `name` of an open safetensors fixture as float32 (F32 copied, I64 converted). */
static inline bool mt_st_array(sdc_context *ctx, const sdc_st_file *st, const char *name,
                               mt_array *out)
{
    memset(out, 0, sizeof *out);
    const sdc_st_tensor *t = sdc_st_find(st, name);
    if (!t || t->ndim > SDC_TENSOR_MAX_DIMS ||
        (t->dtype != SDC_DTYPE_F32 && t->dtype != SDC_DTYPE_I64)) {
        CHECK_MSG(false, "%s: no float32/int64 tensor '%s' of at most 4 dims", st->path, name);
        return false;
    }
    *out = mt_array_new(ctx, t->ndim, t->shape);
    int64_t n = sdc_st_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == SDC_DTYPE_F32) {
            memcpy(&out->data[i], (const unsigned char *)t->data + 4 * i, 4);
        } else {
            int64_t v;
            memcpy(&v, (const unsigned char *)t->data + 8 * i, 8);
            out->data[i] = (float)v;
        }
    }
    return true;
}

static inline double mt_max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* The largest |got - ref| (infinity when any value is NaN). */
static inline double mt_max_abs_diff(const float *got, const float *ref, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d == d))
            return INFINITY;
        m = fmax(m, d);
    }
    return m;
}

/* Checks max |got - ref| <= tol over same-shape tensors; returns the worst error. */
static inline double mt_check_close(const char *file, int line, const char *what,
                                    const sdc_tensor *got, const sdc_tensor *ref, double tol)
{
    char sg[96], sr[96];
    if (!sdc_tensor_same_shape(got, ref)) {
        test_checkf(false, file, line, "%s: shape %s, expected %s", what,
                    sdc_shape_str(got->ndim, got->shape, sg, sizeof sg),
                    sdc_shape_str(ref->ndim, ref->shape, sr, sizeof sr));
        return INFINITY;
    }
    int64_t n = sdc_tensor_numel(ref);
    double err = mt_max_abs_diff(got->data, ref->data, n);
    test_checkf(err <= tol, file, line, "%s: max |err| %.3g > tolerance %.3g", what, err, tol);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr, "  %-56s max |err| %.3g (tolerance %.3g, max |ref| %.3g)\n", what, err, tol,
                mt_max_abs(ref->data, n));
    return err;
}
#define MT_CHECK_CLOSE(what, got, ref, tol)                                                        \
    mt_check_close(__FILE__, __LINE__, (what), (got), (ref), (tol))

/* The tolerance for the tiny models: 1e-4 x max |ref|. */
#define MT_CHECK_CLOSE_REL(what, got, ref)                                                         \
    mt_check_close(__FILE__, __LINE__, (what), (got), (ref),                                       \
                   1e-4 * mt_max_abs((ref)->data, sdc_tensor_numel(ref)))

/* A call failed with `want` and the context's message names each given string. */
static inline void mt_check_error(const char *file, int line, sdc_context *ctx, sdc_status got,
                                  sdc_status want, const char *s1, const char *s2)
{
    const char *msg = sdc_context_errmsg(ctx);
    test_checkf(got == want, file, line, "status %d, expected %d (message \"%s\")", (int)got,
                (int)want, msg);
    const char *parts[2] = {s1, s2};
    for (int i = 0; i < 2; i++)
        if (parts[i])
            test_checkf(strstr(msg, parts[i]) != NULL, file, line, "message \"%s\" names \"%s\"",
                        msg, parts[i]);
    sdc_clear_error(ctx);
}
#define MT_CHECK_ERROR(ctx, got, want, s1, s2)                                                     \
    mt_check_error(__FILE__, __LINE__, (ctx), (got), (want), (s1), (s2))

/* Writes `src` to `dst` without the tensor named `drop` (may be NULL), with tensor `reshape`
 * (may be NULL) given the shape new_shape of the same byte size, and with one extra F16
 * tensor `add` of 4 zero values when add is not NULL. */
static inline bool mt_write_modified(sdc_context *ctx, const char *src, const char *dst,
                                     const char *drop, const char *reshape, int new_ndim,
                                     const int64_t *new_shape, const char *add)
{
    sdc_st_file *st = NULL;
    if (sdc_st_open(ctx, src, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return false;
    }
    sdc_st_entry *e = calloc(st->n_tensors + 1, sizeof *e);
    static const uint16_t zeros[4];
    size_t n = 0;
    for (size_t i = 0; e && i < st->n_tensors; i++) {
        const sdc_st_tensor *t = &st->tensors[i];
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        e[n] = (sdc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        if (reshape && strcmp(t->name, reshape) == 0) {
            e[n].ndim = new_ndim;
            for (int d = 0; d < new_ndim; d++)
                e[n].shape[d] = new_shape[d];
        }
        n++;
    }
    if (e && add)
        e[n++] = (sdc_st_entry){
            .name = add, .dtype = SDC_DTYPE_F16, .ndim = 1, .shape = {4}, .data = zeros};
    bool ok = e && sdc_st_write(ctx, dst, e, n, NULL, 0) == SDC_STATUS_OK;
    CHECK_MSG(ok, "writing %s: %s", dst, sdc_context_errmsg(ctx));
    free(e);
    sdc_st_close(st);
    return ok;
}

/* Opening with the n-th allocation failing, for n = 1, 2, ... until it succeeds: every failure
 * is SDC_STATUS_OUT_OF_MEMORY with nothing returned and nothing left allocated. */
typedef sdc_status (*mt_open_fn)(sdc_context *ctx, const char *path, void **out);
typedef void (*mt_close_fn)(void *obj);

static inline void mt_check_fault_injection(const char *file, int line, sdc_context *ctx,
                                            const char *path, mt_open_fn open, mt_close_fn close)
{
    sdc_alloc_stats base, now;
    sdc_alloc_get_stats(ctx, &base);
    for (uint64_t n = 1; n < 100000; n++) {
        void *obj = NULL;
        sdc_alloc_fail_nth(ctx, n);
        sdc_status st = open(ctx, path, &obj);
        sdc_alloc_fail_nth(ctx, 0);
        if (st == SDC_STATUS_OK) {
            close(obj);
            sdc_alloc_get_stats(ctx, &now);
            test_checkf(now.live_bytes == base.live_bytes, file, line,
                        "%s: %zu bytes left after closing", path, now.live_bytes - base.live_bytes);
            test_checkf(n > 1, file, line, "%s: opening allocates nothing?", path);
            return;
        }
        sdc_alloc_get_stats(ctx, &now);
        if (st != SDC_STATUS_OUT_OF_MEMORY || obj != NULL || now.live_bytes != base.live_bytes) {
            test_checkf(false, file, line,
                        "%s with allocation %llu failing: status %d, object %p, %zu bytes left "
                        "(%s)",
                        path, (unsigned long long)n, (int)st, obj, now.live_bytes - base.live_bytes,
                        sdc_context_errmsg(ctx));
            close(obj);
            return;
        }
        sdc_clear_error(ctx);
    }
    test_checkf(false, file, line, "%s: never opened", path);
}
#define MT_CHECK_FAULT_INJECTION(ctx, path, open, close)                                           \
    mt_check_fault_injection(__FILE__, __LINE__, (ctx), (path), (open), (close))

/* Two stores hold the same tensors: the same names, dtypes and values, shapes equal up to
 * trailing 1s ([C, C, 1, 1] vs [C, C]). For checking a single-file name table against the
 * diffusers folder of the same model. */
static inline void mt_check_same_store(const char *file, int line, const char *label,
                                       const sdc_store *a, const sdc_store *b)
{
    if (!a || !b)
        return;
    test_checkf(a->n_entries == b->n_entries, file, line, "%s: %zu tensors vs %zu", label,
                a->n_entries, b->n_entries);
    for (size_t i = 0; i < a->n_entries && i < b->n_entries; i++) {
        const sdc_store_entry *x = &a->entries[i], *y = &b->entries[i];
        bool same = strcmp(x->name, y->name) == 0 && x->tensor->dtype == y->tensor->dtype &&
                    x->transform == SDC_STORE_TRANSFORM_NONE &&
                    y->transform == SDC_STORE_TRANSFORM_NONE;
        int n = x->ndim > y->ndim ? x->ndim : y->ndim;
        for (int d = 0; same && d < n; d++)
            same = (d < x->ndim ? x->shape[d] : 1) == (d < y->ndim ? y->shape[d] : 1);
        same = same && sdc_st_nbytes(x->tensor) == sdc_st_nbytes(y->tensor) &&
               memcmp(x->tensor->data, y->tensor->data, (size_t)sdc_st_nbytes(x->tensor)) == 0;
        if (!same) {
            test_checkf(false, file, line,
                        "%s: tensor %zu is '%s' vs '%s' (or differs in shape, "
                        "dtype or values)",
                        label, i, x->name, y->name);
            return;
        }
    }
    test_checkf(true, file, line, "%s", label);
}
#define MT_CHECK_SAME_STORE(label, a, b) mt_check_same_store(__FILE__, __LINE__, (label), (a), (b))

/* Runs the UNet in a fixed arena of exactly its scratch size, with every other allocation
 * refused while it runs. */
static inline sdc_status mt_unet_run_exact(sdc_context *ctx, const sdc_unet *unet,
                                           const sdc_unet_inputs *in, sdc_tensor *out,
                                           size_t *bytes_out)
{
    size_t bytes = 0;
    sdc_status st = sdc_unet_scratch_bytes(ctx, unet, in, &bytes);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_arena scratch;
    if ((st = sdc_arena_init_fixed(&scratch, ctx, bytes)) != SDC_STATUS_OK)
        return st;
    sdc_alloc_stats before, after;
    sdc_alloc_get_stats(ctx, &before);
    sdc_alloc_set_limit(ctx, before.live_bytes);
    st = sdc_unet_forward(ctx, unet, &scratch, in, out);
    sdc_alloc_set_limit(ctx, 0);
    sdc_alloc_get_stats(ctx, &after);
    CHECK_EQ_INT(after.n_allocs, before.n_allocs);
    CHECK_EQ_INT(after.n_failed, before.n_failed);
    CHECK_EQ_INT(scratch.used, 0);
    sdc_arena_release(&scratch);
    if (bytes_out)
        *bytes_out = bytes;
    return st;
}

/* The UNet against the outputs recorded in `fixture` (unet_*.safetensors) at both of its
 * timesteps; `label` names the case in messages and reports. */
static inline void mt_check_unet_outputs(sdc_context *ctx, const char *label, const sdc_unet *unet,
                                         const char *fixture)
{
    sdc_st_file *st = NULL;
    if (!unet)
        return;
    if (sdc_st_open(ctx, fixture, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    bool text_time = sdc_unet_get_config(unet)->text_time;
    mt_array sample = {0}, context = {0}, text_embeds = {0}, time_ids = {0}, ref = {0};
    if (mt_st_array(ctx, st, "sample", &sample) &&
        mt_st_array(ctx, st, "encoder_hidden_states", &context) &&
        (!text_time || (mt_st_array(ctx, st, "text_embeds", &text_embeds) &&
                        mt_st_array(ctx, st, "time_ids", &time_ids)))) {
        static const int timesteps[] = {801, 13};
        for (int k = 0; k < 2; k++) {
            char name[32], what[128];
            snprintf(name, sizeof name, "out_t%d", timesteps[k]);
            if (!mt_st_array(ctx, st, name, &ref))
                break;
            mt_array out = mt_array_new(ctx, 4, ref.t.shape);
            float t[2] = {(float)timesteps[k], (float)timesteps[k]};
            sdc_unet_inputs in = {
                .sample = &sample.t,
                .timesteps = t,
                .encoder_hidden_states = &context.t,
                .text_embeds = text_time ? &text_embeds.t : NULL,
                .time_ids = text_time ? &time_ids.t : NULL,
            };
            sdc_status s = mt_unet_run_exact(ctx, unet, &in, &out.t, NULL);
            CHECK_MSG(s == SDC_STATUS_OK, "%s: %s", label, sdc_context_errmsg(ctx));
            snprintf(what, sizeof what, "%.100s t=%d", label, timesteps[k]);
            MT_CHECK_CLOSE_REL(what, &out.t, &ref.t);
            mt_array_free(&out);
            mt_array_free(&ref);
        }
    }
    mt_array_free(&sample);
    mt_array_free(&context);
    mt_array_free(&text_embeds);
    mt_array_free(&time_ids);
    sdc_st_close(st);
}

/* The VAE's encoder and decoder against the outputs in `fixture` (vae_*.safetensors), each in
 * a fixed arena of exactly its scratch size, and its scaling factor. */
static inline void mt_check_vae_outputs(sdc_context *ctx, const char *label, const sdc_vae *vae,
                                        const char *fixture, float scaling)
{
    sdc_st_file *st = NULL;
    if (!vae)
        return;
    CHECK_MSG(fabsf(sdc_vae_get_config(vae)->scaling_factor - scaling) < 1e-7f,
              "%s: scaling factor %g, expected %g", label,
              (double)sdc_vae_get_config(vae)->scaling_factor, (double)scaling);
    if (sdc_st_open(ctx, fixture, &st) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    mt_array image = {0}, mean_ref = {0}, logvar_ref = {0}, z = {0}, decoded_ref = {0};
    if (mt_st_array(ctx, st, "image", &image) && mt_st_array(ctx, st, "mean", &mean_ref) &&
        mt_st_array(ctx, st, "logvar", &logvar_ref) && mt_st_array(ctx, st, "z", &z) &&
        mt_st_array(ctx, st, "decoded", &decoded_ref)) {
        mt_array mean = mt_array_new(ctx, 4, mean_ref.t.shape);
        mt_array logvar = mt_array_new(ctx, 4, mean_ref.t.shape);
        mt_array decoded = mt_array_new(ctx, 4, decoded_ref.t.shape);
        char what[128];
        size_t bytes = 0;
        sdc_arena scratch;
        CHECK(sdc_vae_encode_scratch_bytes(ctx, vae, &image.t, &mean.t, &bytes) == SDC_STATUS_OK);
        CHECK(sdc_arena_init_fixed(&scratch, ctx, bytes) == SDC_STATUS_OK);
        sdc_status s = sdc_vae_encode(ctx, vae, &scratch, &image.t, &mean.t, &logvar.t);
        CHECK_MSG(s == SDC_STATUS_OK, "%s encode: %s", label, sdc_context_errmsg(ctx));
        sdc_arena_release(&scratch);
        snprintf(what, sizeof what, "%.100s encoder mean", label);
        MT_CHECK_CLOSE_REL(what, &mean.t, &mean_ref.t);
        snprintf(what, sizeof what, "%.100s encoder logvar", label);
        MT_CHECK_CLOSE_REL(what, &logvar.t, &logvar_ref.t);

        CHECK(sdc_vae_decode_scratch_bytes(ctx, vae, &z.t, &decoded.t, &bytes) == SDC_STATUS_OK);
        CHECK(sdc_arena_init_fixed(&scratch, ctx, bytes) == SDC_STATUS_OK);
        s = sdc_vae_decode(ctx, vae, &scratch, &z.t, &decoded.t);
        CHECK_MSG(s == SDC_STATUS_OK, "%s decode: %s", label, sdc_context_errmsg(ctx));
        sdc_arena_release(&scratch);
        snprintf(what, sizeof what, "%.100s decoder", label);
        MT_CHECK_CLOSE_REL(what, &decoded.t, &decoded_ref.t);
        mt_array_free(&mean);
        mt_array_free(&logvar);
        mt_array_free(&decoded);
    }
    mt_array_free(&image);
    mt_array_free(&mean_ref);
    mt_array_free(&logvar_ref);
    mt_array_free(&z);
    mt_array_free(&decoded_ref);
    sdc_st_close(st);
}

/* A single-file checkpoint's UNet / VAE (NULL after a failed check). */
static inline sdc_unet *mt_open_unet_single(sdc_context *ctx, const char *path)
{
    sdc_weights_file *file = NULL;
    sdc_unet *unet = NULL;
    sdc_status st = sdc_weights_file_open(ctx, path, &file);
    if (st == SDC_STATUS_OK) {
        st = sdc_unet_open_single_file(ctx, file, &unet);
        sdc_weights_file_release(ctx, file);
    }
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    return unet;
}

static inline sdc_vae *mt_open_vae_single(sdc_context *ctx, const char *path)
{
    sdc_weights_file *file = NULL;
    sdc_vae *vae = NULL;
    sdc_status st = sdc_weights_file_open(ctx, path, &file);
    if (st == SDC_STATUS_OK) {
        st = sdc_vae_open_single_file(ctx, file, &vae);
        sdc_weights_file_release(ctx, file);
    }
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    return vae;
}

#endif /* SDC_TESTS_MODELS_MODEL_TEST_H */
