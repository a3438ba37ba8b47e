/*
 * Tests the context: status strings, last-error text, the logging callback and levels,
 * thread count, and SDC_CPU_MAX parsing.
 */
#include "core/core.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static void test_status_strings(void)
{
    for (int i = 0; i < SDC_STATUS_COUNT; i++) {
        const char *s = sdc_status_string((sdc_status)i);
        CHECK(s && *s);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(s, sdc_status_string((sdc_status)j)) != 0);
    }
    CHECK_EQ_STR(sdc_status_string(SDC_STATUS_COUNT), "unknown status");
    CHECK_EQ_STR(sdc_status_string((sdc_status)-1), "unknown status");
}

static void test_errors(void)
{
    sdc_context *ctx;
    CHECK_EQ_INT(sdc_context_create(NULL, &ctx), SDC_STATUS_OK);
    CHECK_EQ_STR(sdc_context_errmsg(ctx), "");
    CHECK_EQ_INT(sdc_context_errcode(ctx), SDC_STATUS_OK);
    sdc_status st = sdc_fail(ctx, SDC_STATUS_SHAPE, "tensor '%s': expected %d", "w", 3);
    CHECK_EQ_INT(st, SDC_STATUS_SHAPE);
    CHECK_EQ_STR(sdc_context_errmsg(ctx), "tensor 'w': expected 3");
    CHECK_EQ_INT(sdc_context_errcode(ctx), SDC_STATUS_SHAPE);
    sdc_fail_oom(ctx, "the test", 12);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "12 bytes for the test");
    sdc_clear_error(ctx);
    CHECK_EQ_STR(sdc_context_errmsg(ctx), "");
    sdc_context_destroy(ctx);
    sdc_context_destroy(NULL);
}

typedef struct log_capture {
    int count;
    sdc_log_level last_level;
    char last[256];
} log_capture;

static void capture(void *user, sdc_log_level level, const char *message)
{
    log_capture *c = user;
    c->count++;
    c->last_level = level;
    snprintf(c->last, sizeof c->last, "%s", message);
}

static void test_logging(void)
{
    log_capture cap = {0};
    sdc_context_params p = sdc_context_default_params();
    p.log = capture;
    p.log_user = &cap;
    p.log_level = SDC_LOG_LEVEL_INFO;
    p.n_threads = 1;
    sdc_context *ctx;
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    sdc_log(ctx, SDC_LOG_LEVEL_INFO, "loaded %d tensors", 7);
    CHECK_EQ_INT(cap.count, 1);
    CHECK_EQ_STR(cap.last, "loaded 7 tensors");
    CHECK_EQ_INT(cap.last_level, SDC_LOG_LEVEL_INFO);
    sdc_log(ctx, SDC_LOG_LEVEL_DEBUG, "dropped");
    CHECK_EQ_INT(cap.count, 1);
    CHECK(sdc_log_enabled(ctx, SDC_LOG_LEVEL_WARN));
    CHECK(!sdc_log_enabled(ctx, SDC_LOG_LEVEL_DEBUG));
    sdc_context_destroy(ctx);
}

static void test_params(void)
{
    sdc_context *ctx = (sdc_context *)1;
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = -1;
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_INVALID_ARGUMENT);
    CHECK(ctx == NULL);
    p = sdc_context_default_params();
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    CHECK(sdc_context_n_threads(ctx) >= 1);
    sdc_context_destroy(ctx);
    p.n_threads = 3;
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_context_n_threads(ctx), 3);
    sdc_context_destroy(ctx);
}

static void test_cpu_cap(void)
{
    const char *old = getenv("SDC_CPU_MAX");
    char saved[64] = "";
    if (old)
        snprintf(saved, sizeof saved, "%s", old);

    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    p.log_level = SDC_LOG_LEVEL_ERROR;
    sdc_context *ctx;
    setenv("SDC_CPU_MAX", "scalar", 1);
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    CHECK_EQ_STR(sdc_context_cpu_level(ctx), "scalar");
    const sdc_cpu_features *f = sdc_context_cpu(ctx);
    CHECK(!f->avx2 && !f->fma && !f->avx512f && !f->avx512_bf16);
    sdc_context_destroy(ctx);

    sdc_cpu_features det;
    sdc_cpu_detect(&det);
    setenv("SDC_CPU_MAX", "avx2", 1);
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_OK);
    CHECK(!sdc_context_cpu(ctx)->avx512f);
    CHECK_EQ_STR(sdc_context_cpu_level(ctx),
                 sdc_cpu_level_of(&det) >= SDC_CPU_LEVEL_AVX2 ? "avx2" : "scalar");
    sdc_context_destroy(ctx);

    /* A misspelt cap is refused, not ignored (the message goes to the log). */
    setenv("SDC_CPU_MAX", "avx-512", 1);
    p.log_level = SDC_LOG_LEVEL_ERROR;
    log_capture cap = {0};
    p.log = capture;
    p.log_user = &cap;
    CHECK_EQ_INT(sdc_context_create(&p, &ctx), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(cap.last, "SDC_CPU_MAX='avx-512'");

    if (old)
        setenv("SDC_CPU_MAX", saved, 1);
    else
        unsetenv("SDC_CPU_MAX");
}

static void test_cpu_levels(void)
{
    sdc_cpu_features f = {.avx2 = true, .fma = true, .f16c = true, .avx512f = true,
                          .avx512bw = true, .avx512vl = true, .avx512_bf16 = true,
                          .avx512_vnni = true};
    CHECK_EQ_INT(sdc_cpu_level_of(&f), SDC_CPU_LEVEL_AVX512_BF16);
    sdc_cpu_cap(&f, SDC_CPU_LEVEL_AVX512);
    CHECK_EQ_INT(sdc_cpu_level_of(&f), SDC_CPU_LEVEL_AVX512);
    CHECK(f.avx512_vnni && !f.avx512_bf16);
    sdc_cpu_cap(&f, SDC_CPU_LEVEL_AVX2);
    CHECK_EQ_INT(sdc_cpu_level_of(&f), SDC_CPU_LEVEL_AVX2);
    f.fma = false; /* AVX2 without FMA is not the AVX2 level */
    CHECK_EQ_INT(sdc_cpu_level_of(&f), SDC_CPU_LEVEL_SCALAR);
    for (int i = 0; i < SDC_CPU_LEVEL_COUNT; i++) {
        sdc_cpu_level l;
        CHECK(sdc_cpu_level_from_name(sdc_cpu_level_name((sdc_cpu_level)i), &l));
        CHECK_EQ_INT(l, i);
    }
    sdc_cpu_level l;
    CHECK(!sdc_cpu_level_from_name("AVX2", &l));
    /* Whatever this machine has is consistent: AVX-512 implies the AVX2 level. */
    sdc_cpu_detect(&f);
    if (f.avx512f && f.avx512bw && f.avx512vl)
        CHECK(f.avx2 && f.fma && f.f16c);
}

static void test_timer(void)
{
    uint64_t a = sdc_time_ns(), b = sdc_time_ns();
    CHECK(b >= a);
    CHECK(sdc_time_s() > 0);
}

int main(void)
{
    RUN(test_status_strings);
    RUN(test_errors);
    RUN(test_logging);
    RUN(test_params);
    RUN(test_cpu_cap);
    RUN(test_cpu_levels);
    RUN(test_timer);
    return test_finish();
}
