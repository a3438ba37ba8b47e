/*
 * Tests the numpy source against tests/fixtures/rng/numpy.safetensors (gen_rng.py): every case
 * of the manifest, bit for bit — randn float64 and its float32 cast, random_sample, and the
 * successive-call sequences that carry the cached Box-Muller value from call to call.
 */
#include "rng/rng.h"
#include "fixture_cases.h"

#include <stdlib.h>

static sdc_context *make_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(&p, &ctx) == SDC_STATUS_OK);
    return ctx;
}

static size_t shape_numel(const sdc_json *c)
{
    const sdc_json *shape = sdc_json_get_type(c, "shape", SDC_JSON_TYPE_ARRAY);
    size_t n = 1;
    for (size_t i = 0; shape && i < shape->u.array.count; i++)
        n *= (size_t)shape->u.array.items[i]->u.number.int_value;
    return n;
}

/* Compares one call's output with the recorded tensor; counts mismatching elements. */
static void compare(fixture *f, const char *name, const char *dtype, const void *got, size_t n)
{
    size_t numel = 0;
    bool is_f64 = strcmp(dtype, "F64") == 0;
    const void *want = fixture_tensor(f, name, is_f64 ? SDC_DTYPE_F64 : SDC_DTYPE_F32, &numel);
    if (!want)
        return;
    CHECK_EQ_INT(numel, n);
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n && i < numel; i++) {
        bool same = is_f64
                        ? f64_bits(((const double *)got)[i]) == f64_bits(((const double *)want)[i])
                        : f32_bits(((const float *)got)[i]) == f32_bits(((const float *)want)[i]);
        if (!same) {
            if (first == n)
                first = i;
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu values differ, first at %zu", name, bad, n, first);
}

static void test_fixture_cases(void)
{
    sdc_context *ctx = make_ctx();
    fixture f;
    if (!fixture_open(&f, ctx, "rng/numpy.safetensors"))
        goto done;
    const sdc_json *cases = fixture_cases(&f);
    CHECK(cases && cases->u.array.count > 0);
    sdc_rng *seq = NULL; /* the RandomState of the current sequence */
    size_t n_checked = 0;
    for (size_t ci = 0; cases && ci < cases->u.array.count; ci++) {
        const sdc_json *c = cases->u.array.items[ci];
        const char *name = json_str(c, "tensor");
        const char *dtype = json_str(c, "dtype");
        int64_t seed = 0, seq_index = -1;
        CHECK(name && dtype && json_int(c, "seed", &seed));
        if (!name || !dtype)
            continue;
        json_int(c, "sequence_index", &seq_index);
        bool uniform = strstr(name, "random_sample") != NULL;
        size_t n = shape_numel(c);
        sdc_rng *rng = NULL;
        if (seq_index <= 0) {
            if (seq_index == 0) {
                sdc_rng_destroy(seq);
                seq = NULL;
            }
            CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_NUMPY, (uint64_t)seed, &rng) == SDC_STATUS_OK);
            if (seq_index == 0)
                seq = rng;
        } else {
            rng = seq;
        }
        if (!rng)
            continue;
        void *got = malloc(n * sizeof(double));
        if (strcmp(dtype, "F64") == 0) {
            sdc_status st =
                uniform ? sdc_rng_uniform_f64(rng, got, n) : sdc_rng_normal_f64(rng, got, n);
            CHECK(st == SDC_STATUS_OK);
        } else {
            CHECK(!uniform);
            CHECK(sdc_rng_normal(rng, got, n) == SDC_STATUS_OK);
        }
        compare(&f, name, dtype, got, n);
        n_checked++;
        free(got);
        if (seq_index < 0)
            sdc_rng_destroy(rng);
        fixture_release_copies(&f);
    }
    sdc_rng_destroy(seq);
    CHECK_EQ_INT(n_checked, cases ? cases->u.array.count : 0);
    fixture_close(&f);
done:
    sdc_context_destroy(ctx);
}

/* randn(3) leaves a cached value: a float32 call of 1 returns it without touching MT19937. */
static void test_cache_crosses_calls(void)
{
    sdc_context *ctx = make_ctx();
    sdc_rng *a = NULL, *b = NULL;
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_NUMPY, 5, &a) == SDC_STATUS_OK);
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_NUMPY, 5, &b) == SDC_STATUS_OK);
    if (a && b) {
        float x[4], y[4];
        CHECK(sdc_rng_normal(a, x, 4) == SDC_STATUS_OK);
        CHECK(sdc_rng_normal(b, y, 3) == SDC_STATUS_OK);
        CHECK(sdc_rng_normal(b, y + 3, 1) == SDC_STATUS_OK);
        CHECK(memcmp(x, y, sizeof x) == 0);
    }
    sdc_rng_destroy(a);
    sdc_rng_destroy(b);
    sdc_context_destroy(ctx);
}

static void test_errors(void)
{
    sdc_context *ctx = make_ctx();
    sdc_rng *rng = (sdc_rng *)&rng;
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_NUMPY, UINT64_C(1) << 32, &rng) ==
          SDC_STATUS_INVALID_ARGUMENT);
    CHECK(rng == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "seed 4294967296");
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "[0, 4294967295]");
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_COUNT, 0, &rng) == SDC_STATUS_INVALID_ARGUMENT);
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_NUMPY, UINT32_MAX, &rng) == SDC_STATUS_OK);
    if (rng) {
        CHECK(sdc_rng_normal(rng, NULL, 3) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "NULL");
        CHECK(sdc_rng_normal(rng, NULL, 0) == SDC_STATUS_OK);
        CHECK(sdc_rng_set_cuda_device(rng, 82, 1536) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "philox only");
        CHECK(sdc_rng_get_kind(rng) == SDC_RNG_KIND_NUMPY);
        CHECK(sdc_rng_get_seed(rng) == UINT32_MAX);
    }
    sdc_rng_destroy(rng);
    sdc_rng_destroy(NULL);

    sdc_rng_kind kind;
    CHECK(sdc_rng_kind_from_name("numpy", &kind) && kind == SDC_RNG_KIND_NUMPY);
    CHECK(sdc_rng_kind_from_name("cpu", &kind) && kind == SDC_RNG_KIND_TORCH);
    CHECK(sdc_rng_kind_from_name("gpu", &kind) && kind == SDC_RNG_KIND_PHILOX);
    CHECK(!sdc_rng_kind_from_name("mersenne", &kind));
    CHECK(!sdc_rng_kind_from_name(NULL, &kind));
    CHECK_EQ_STR(sdc_rng_kind_name(SDC_RNG_KIND_PHILOX), "philox");
    CHECK_EQ_STR(sdc_rng_kind_name(SDC_RNG_KIND_COUNT), "?");

    /* Allocation failure leaves nothing behind. */
    sdc_alloc_stats before, stats;
    sdc_alloc_get_stats(ctx, &before);
    sdc_alloc_fail_nth(ctx, 1);
    rng = (sdc_rng *)&rng;
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_TORCH, 1, &rng) == SDC_STATUS_OUT_OF_MEMORY);
    CHECK(rng == NULL);
    sdc_alloc_get_stats(ctx, &stats);
    CHECK_EQ_INT(stats.live_bytes, before.live_bytes);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture_cases);
    RUN(test_cache_crosses_calls);
    RUN(test_errors);
    return test_finish();
}
