/*
 * Tests the philox source against tests/fixtures/rng/philox.safetensors, which
 * tools/reference/gen_philox.py made with the independent Python model philox_reference.py:
 * every case bit for bit, including successive calls (the per-call offset increment) and an
 * emulated small device whose grid the larger tensors outgrow. Plus Random123's first
 * known-answer vector, seen through torch.rand's first value.
 */
#include "rng/rng.h"
#include "fixture_cases.h"

#include <math.h>
#include <stdlib.h>

static sdc_context *make_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(&p, &ctx) == SDC_STATUS_OK);
    return ctx;
}

static void test_fixture_cases(void)
{
    sdc_context *ctx = make_ctx();
    fixture f;
    if (!fixture_open(&f, ctx, "rng/philox.safetensors"))
        goto done;
    const sdc_json *cases = fixture_cases(&f);
    CHECK(cases && cases->u.array.count > 0);
    sdc_rng *rng = NULL;
    size_t n_checked = 0, n_sequences = 0, n_device = 0;
    for (size_t ci = 0; cases && ci < cases->u.array.count; ci++) {
        const sdc_json *c = cases->u.array.items[ci];
        const char *name = json_str(c, "tensor");
        const char *seed_hex = json_str(c, "seed_hex");
        const char *call = json_str(c, "call");
        int64_t n = 0, seq_index = -1;
        CHECK(name && seed_hex && call && json_int(c, "n", &n) &&
              json_int(c, "sequence_index", &seq_index));
        if (!name || !seed_hex || !call || n <= 0)
            continue;
        if (seq_index == 0) {
            sdc_rng_destroy(rng);
            rng = NULL;
            uint64_t seed = strtoull(seed_hex, NULL, 16);
            CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_PHILOX, seed, &rng) == SDC_STATUS_OK);
            const sdc_json *device = sdc_json_get_type(c, "device", SDC_JSON_TYPE_OBJECT);
            if (rng && device) {
                int64_t sms = 0, threads = 0;
                CHECK(json_int(device, "multiprocessor_count", &sms) &&
                      json_int(device, "max_threads_per_multiprocessor", &threads));
                CHECK(sdc_rng_set_cuda_device(rng, (uint32_t)sms, (uint32_t)threads) ==
                      SDC_STATUS_OK);
                n_device++;
            }
        } else {
            n_sequences++;
        }
        if (!rng)
            continue;
        float *got = malloc((size_t)n * sizeof *got);
        bool uniform = strcmp(call, "rand") == 0;
        CHECK((uniform ? sdc_rng_uniform(rng, got, (size_t)n)
                       : sdc_rng_normal(rng, got, (size_t)n)) == SDC_STATUS_OK);
        size_t numel = 0;
        const float *want = fixture_tensor(&f, name, SDC_DTYPE_F32, &numel);
        if (want && numel == (size_t)n) {
            size_t bad = 0, first = numel;
            for (size_t i = 0; i < numel; i++) {
                if (f32_bits(got[i]) != f32_bits(want[i])) {
                    bad++;
                    if (first == numel)
                        first = i;
                }
            }
            CHECK_MSG(bad == 0, "%s: %zu of %zu values differ, first at %zu", name, bad, numel,
                      first);
        }
        free(got);
        n_checked++;
        fixture_release_copies(&f);
    }
    sdc_rng_destroy(rng);
    CHECK_EQ_INT(n_checked, cases ? cases->u.array.count : 0);
    CHECK(n_sequences > 0);
    CHECK(n_device > 0);
    fixture_close(&f);
done:
    sdc_context_destroy(ctx);
}

/* Random123: Philox4x32-10 of counter 0 and key 0 starts with 0x6627e8d5; torch.rand's first
 * value for seed 0 is curand's uniform of that word. */
static void test_known_answer(void)
{
    sdc_context *ctx = make_ctx();
    sdc_rng *rng = NULL;
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_PHILOX, 0, &rng) == SDC_STATUS_OK);
    if (rng) {
        float u[1];
        CHECK(sdc_rng_uniform(rng, u, 1) == SDC_STATUS_OK);
        float want = fmaf((float)0x6627e8d5u, 2.3283064e-10f, 2.3283064e-10f / 2.0f);
        CHECK(f32_bits(u[0]) == f32_bits(want));
    }
    sdc_rng_destroy(rng);
    sdc_context_destroy(ctx);
}

/* Each call advances the offset by 4 for small tensors: a second call of 1 value equals the
 * first value of a generator whose first call was made, i.e. draws differ per call. */
static void test_calls_do_not_repeat(void)
{
    sdc_context *ctx = make_ctx();
    sdc_rng *rng = NULL;
    CHECK(sdc_rng_create(ctx, SDC_RNG_KIND_PHILOX, 99, &rng) == SDC_STATUS_OK);
    if (rng) {
        float a[8], b[8];
        CHECK(sdc_rng_normal(rng, a, 8) == SDC_STATUS_OK);
        CHECK(sdc_rng_normal(rng, b, 8) == SDC_STATUS_OK);
        CHECK(memcmp(a, b, sizeof a) != 0);
        double f64[2];
        CHECK(sdc_rng_normal_f64(rng, f64, 2) == SDC_STATUS_UNSUPPORTED);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "float64");
        CHECK(sdc_rng_set_cuda_device(rng, 0, 1536) == SDC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(sdc_context_errmsg(ctx), "multiprocessors");
        CHECK(sdc_rng_set_cuda_device(rng, 82, 255) == SDC_STATUS_INVALID_ARGUMENT);
    }
    sdc_rng_destroy(rng);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_fixture_cases);
    RUN(test_known_answer);
    RUN(test_calls_do_not_repeat);
    return test_finish();
}
