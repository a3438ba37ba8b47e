/*
 * cmd_bench.c — `sdc bench MODEL`: times each component of a diffusers folder or sdc bundle with
 * sdc_bench_run and, in the same run, the machine's float32 matrix-multiply rate (OpenBLAS
 * cblas_sgemm at 2048^3 on the same threads), printing each component's rate as a fraction of
 * it. Every measurement runs in a child process of its own, so that each reports its own peak
 * resident memory and no measurement disturbs the next (OpenBLAS's threads included).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if SDC_HAVE_OPENBLAS
#include <cblas.h>
/* OpenBLAS's own call (its cblas.h variants do not all declare it). */
void openblas_set_num_threads(int n_threads);
#endif

enum { SGEMM_N = 2048, SGEMM_RUNS = 3 };

static void help(FILE *out)
{
    fprintf(out,
            "usage: sdc bench MODEL_DIR [options]\n\n"
            "Times the components of a diffusers model folder or an sdc bundle (weights as\n"
            "stored: palettized and int8 weights are decoded inside the kernels) on random\n"
            "inputs at the model's native size: the text encoder (2 x 77 tokens), one UNet\n"
            "step with classifier-free guidance (batch 2), VAE decode and VAE encode. For\n"
            "each: the median time of the timed runs after the warm-up, the achieved GFLOP/s\n"
            "(matrix-product FLOPs counted by the kernels), the peak resident memory of a\n"
            "process doing only that, and the rate as a fraction of OpenBLAS cblas_sgemm\n"
            "(2048^3, float32, same threads) measured just before and just after it (the mean\n"
            "of the two).\n\n"
            "options:\n"
            "  --component NAME   text_encoder, unet_step, vae_decode or vae_encode; repeat\n"
            "                     for several (default: all four)\n"
            "  --runs N           timed runs per component (default 3)\n"
            "  --warmup N         untimed runs first (default 1)\n"
            "  --threads N        threads (default: all CPUs)\n"
            "  --precision P      f32 (default) or bf16 (bfloat16 matrix products where the\n"
            "                     CPU has AVX512_BF16)\n"
            "  --width W, --height H   image size (default: the model's native size)\n"
            "  --no-sgemm         skip the OpenBLAS measurement\n"
            "  --profile          also print the time per op type of the last run (stderr)\n"
            "  --full             also (or, without --component, only) time a whole image:\n"
            "                     model open plus a 20-step DPM++ 2M generation at the\n"
            "                     native size, with its peak resident memory\n"
            "  --json FILE        also write the figures as one JSON object (- = stdout)\n"
            "  -h, --help         show this help\n");
}

/* What a child sends back through its pipe. */
typedef struct child_result {
    int ok;
    sdc_bench_result bench;
    double sgemm_gflops;
    double load_seconds, run_seconds; /* --full */
    long peak_rss_bytes;
    char error[512];
} child_result;

/* The component index of the --full measurement. */
enum { FULL = SDC_BENCH_COMPONENT_COUNT, FULL_STEPS = 20 };

static long peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ru.ru_maxrss * 1024L; /* kilobytes on Linux */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_options {
    const char *model;
    int threads;
    sdc_precision precision;
    bool profile;
    sdc_bench_params params;
} bench_options;

/* The median of SGEMM_RUNS timed products after one untimed. */
static void child_sgemm(const bench_options *o, child_result *r)
{
#if SDC_HAVE_OPENBLAS
    size_t n = SGEMM_N, bytes = n * n * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
    if (!a || !b || !c) {
        snprintf(r->error, sizeof r->error, "out of memory for the sgemm matrices");
        goto done;
    }
    for (size_t i = 0; i < n * n; i++) {
        a[i] = (float)(i % 17) * 0.01f - 0.08f;
        b[i] = (float)(i % 13) * 0.01f - 0.06f;
    }
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(threads < 1 ? 1 : threads);
    double t[SGEMM_RUNS];
    for (int i = -1; i < SGEMM_RUNS; i++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a,
                    (int)n, b, (int)n, 0.0f, c, (int)n);
        if (i >= 0)
            t[i] = now_s() - t0;
    }
    for (int i = 0; i < SGEMM_RUNS; i++)
        for (int j = i + 1; j < SGEMM_RUNS; j++)
            if (t[j] < t[i]) {
                double x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    r->sgemm_gflops = 2.0 * (double)n * (double)n * (double)n / t[SGEMM_RUNS / 2] * 1e-9;
    r->ok = 1;
done:
    free(a);
    free(b);
    free(c);
#else
    (void)o;
    snprintf(r->error, sizeof r->error, "sdc was built without OpenBLAS");
#endif
}

static void child_component(const bench_options *o, sdc_bench_component component, child_result *r)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = o->threads;
    p.precision = o->precision;
    if (o->profile)
        p.log_level = SDC_LOG_LEVEL_INFO; /* the benchmark logs its per-op times */
    sdc_context *ctx = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK) {
        snprintf(r->error, sizeof r->error, "cannot create a context");
        return;
    }
    if (sdc_bench_run(ctx, o->model, component, &o->params, &r->bench) == SDC_STATUS_OK)
        r->ok = 1;
    else
        snprintf(r->error, sizeof r->error, "%s", sdc_context_errmsg(ctx));
    sdc_context_destroy(ctx);
}

/* A whole text-to-image generation: model open, then 20 DPM++ 2M steps at the native size. */
static void child_full(const bench_options *o, child_result *r)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = o->threads;
    p.precision = o->precision;
    sdc_context *ctx = NULL;
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK) {
        snprintf(r->error, sizeof r->error, "cannot create a context");
        return;
    }
    double t0 = now_s();
    if (sdc_model_open(ctx, o->model, NULL, &model) != SDC_STATUS_OK ||
        sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK) {
        snprintf(r->error, sizeof r->error, "%s", sdc_context_errmsg(ctx));
        goto done;
    }
    double t1 = now_s();
    sdc_generation_params g = sdc_generation_default_params();
    g.prompt = "a photo of an astronaut riding a horse on mars";
    g.steps = FULL_STEPS;
    g.scheduler = "dpm++2m";
    g.width = o->params.width;
    g.height = o->params.height;
    g.disable_safety_checker = 1;
    if (sdc_generation_run(gen, &g) != SDC_STATUS_OK) {
        snprintf(r->error, sizeof r->error, "%s", sdc_generation_errmsg(gen));
        goto done;
    }
    r->load_seconds = t1 - t0;
    r->run_seconds = now_s() - t1;
    r->ok = 1;
done:
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_context_destroy(ctx);
}

/* Runs one measurement in a child; component < 0 is the sgemm. */
static bool measure(const bench_options *o, int component, child_result *r)
{
    memset(r, 0, sizeof *r);
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(r->error, sizeof r->error, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->error, sizeof r->error, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        child_result cr;
        memset(&cr, 0, sizeof cr);
        if (component < 0)
            child_sgemm(o, &cr);
        else if (component == FULL)
            child_full(o, &cr);
        else
            child_component(o, (sdc_bench_component)component, &cr);
        cr.peak_rss_bytes = peak_rss();
        ssize_t w = write(fds[1], &cr, sizeof cr);
        _exit(w == (ssize_t)sizeof cr ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fds[0], (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof *r) {
        memset(r, 0, sizeof *r);
        snprintf(r->error, sizeof r->error, "the measuring process died (status %d)", status);
        return false;
    }
    return r->ok != 0;
}

static bool parse_int(const char *opt, const char *v, long min, long max, int *out)
{
    long x;
    if (!v || !cli_parse_long(v, min, max, &x)) {
        fprintf(stderr, "sdc bench: %s needs a number from %ld to %ld\n", opt, min, max);
        return false;
    }
    *out = (int)x;
    return true;
}

int cmd_bench(int argc, char **argv)
{
    bench_options o = {.params = sdc_bench_default_params(), .precision = SDC_PRECISION_F32};
    bool want[SDC_BENCH_COMPONENT_COUNT] = {false};
    bool any = false, sgemm = true, full = false;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--component") == 0 && v) {
            int c = 0;
            while (c < SDC_BENCH_COMPONENT_COUNT &&
                   strcmp(v, sdc_bench_component_name((sdc_bench_component)c)) != 0)
                c++;
            if (c == SDC_BENCH_COMPONENT_COUNT) {
                fprintf(stderr, "sdc bench: unknown component '%s'\n", v);
                return CLI_EXIT_USAGE;
            }
            want[c] = any = true;
            i++;
        } else if (strcmp(a, "--runs") == 0) {
            if (!parse_int(a, v, 1, 1000, &o.params.runs))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--warmup") == 0) {
            if (!parse_int(a, v, 0, 100, &o.params.warmup))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(a, v, 1, 1024, &o.threads))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--width") == 0) {
            if (!parse_int(a, v, 8, 16384, &o.params.width))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--height") == 0) {
            if (!parse_int(a, v, 8, 16384, &o.params.height))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--precision") == 0 && v) {
            if (strcmp(v, "f32") == 0)
                o.precision = SDC_PRECISION_F32;
            else if (strcmp(v, "bf16") == 0)
                o.precision = SDC_PRECISION_BF16;
            else {
                fprintf(stderr, "sdc bench: --precision is f32 or bf16, not '%s'\n", v);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--json") == 0 && v) {
            json_path = v;
            i++;
        } else if (strcmp(a, "--full") == 0) {
            full = true;
        } else if (strcmp(a, "--profile") == 0) {
            o.profile = true;
        } else if (strcmp(a, "--no-sgemm") == 0) {
            sgemm = false;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sdc bench: unknown option '%s' (see sdc bench --help)\n", a);
            return CLI_EXIT_USAGE;
        } else if (!o.model) {
            o.model = a;
        } else {
            fprintf(stderr, "sdc bench: one model folder, not '%s' too\n", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!o.model) {
        help(stderr);
        return CLI_EXIT_USAGE;
    }
    if ((o.params.width == 0) != (o.params.height == 0) || o.params.width % 8 ||
        o.params.height % 8) {
        fprintf(stderr, "sdc bench: --width and --height go together, multiples of 8\n");
        return CLI_EXIT_USAGE;
    }
    if (!any && !full)
        for (int c = 0; c < SDC_BENCH_COMPONENT_COUNT; c++)
            want[c] = true;

    /* The precision the kernels will actually use, as a context reports it. */
    sdc_context_params cp = sdc_context_default_params();
    cp.n_threads = o.threads;
    cp.precision = o.precision;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK) {
        fprintf(stderr, "sdc bench: cannot create a context\n");
        return CLI_EXIT_FAILURE;
    }
    int threads = sdc_context_n_threads(ctx);
    const char *level = sdc_context_cpu_level(ctx);
    const char *precision = sdc_context_precision(ctx) == SDC_PRECISION_BF16 ? "bf16" : "f32";
    sdc_context_destroy(ctx);

    printf("sdc bench: %s, %d threads, kernels %s, precision %s\n", o.model, threads, level,
           precision);
    printf("%-13s %9s %10s %9s %9s %9s %11s\n", "component", "seconds", "GFLOP", "GFLOP/s", "sgemm",
           "fraction", "peak RSS");
    child_result results[SDC_BENCH_COMPONENT_COUNT], sg[SDC_BENCH_COMPONENT_COUNT];
    double sg_before[SDC_BENCH_COMPONENT_COUNT] = {0}, sg_after[SDC_BENCH_COMPONENT_COUNT] = {0};
    bool ok[SDC_BENCH_COMPONENT_COUNT] = {false}, failed = false;
    for (int c = 0; c < SDC_BENCH_COMPONENT_COUNT; c++) {
        if (!want[c])
            continue;
        memset(&sg[c], 0, sizeof sg[c]);
        if (sgemm && !measure(&o, -1, &sg[c]))
            fprintf(stderr, "sdc bench: sgemm: %s\n", sg[c].error);
        ok[c] = measure(&o, c, &results[c]);
        /* Again after the component: on a shared machine the load changes while it runs, so
         * its rate is compared with the mean of the two. */
        child_result after;
        memset(&after, 0, sizeof after);
        if (sgemm && ok[c] && measure(&o, -1, &after) && sg[c].ok) {
            sg_before[c] = sg[c].sgemm_gflops;
            sg_after[c] = after.sgemm_gflops;
            sg[c].sgemm_gflops = 0.5 * (sg_before[c] + sg_after[c]);
        }
        const char *name = sdc_bench_component_name((sdc_bench_component)c);
        if (!ok[c]) {
            fprintf(stderr, "sdc bench: %s: %s\n", name, results[c].error);
            failed = true;
            continue;
        }
        const sdc_bench_result *b = &results[c].bench;
        double fraction = sg[c].ok ? b->gflops / sg[c].sgemm_gflops : 0.0;
        printf("%-13s %9.3f %10.1f %9.1f %9.1f %9.3f %8.0f MB", name, b->seconds, b->flops * 1e-9,
               b->gflops, sg[c].sgemm_gflops, fraction, (double)results[c].peak_rss_bytes / 1e6);
        if (b->psnr_db != 0.0)
            printf("  %.1f dB vs f32", b->psnr_db);
        printf("\n");
        fflush(stdout);
    }

    child_result full_result;
    bool full_ok = false;
    if (full) {
        full_ok = measure(&o, FULL, &full_result);
        if (full_ok)
            printf("full image: %d DPM++ 2M steps: %.1f s (model open %.1f s, generation %.1f "
                   "s), peak RSS %.0f MB\n",
                   FULL_STEPS, full_result.load_seconds + full_result.run_seconds,
                   full_result.load_seconds, full_result.run_seconds,
                   (double)full_result.peak_rss_bytes / 1e6);
        else {
            fprintf(stderr, "sdc bench: full image: %s\n", full_result.error);
            failed = true;
        }
    }

    if (json_path) {
        FILE *out = strcmp(json_path, "-") == 0 ? stdout : fopen(json_path, "w");
        if (!out) {
            fprintf(stderr, "sdc bench: cannot write %s: %s\n", json_path, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        fprintf(out, "{\"model\": ");
        cli_json_string(out, o.model);
        fprintf(out,
                ", \"threads\": %d, \"kernels\": \"%s\", \"precision\": \"%s\", "
                "\"components\": [",
                threads, level, precision);
        bool first = true;
        for (int c = 0; c < SDC_BENCH_COMPONENT_COUNT; c++) {
            if (!ok[c])
                continue;
            const sdc_bench_result *b = &results[c].bench;
            fprintf(out,
                    "%s{\"component\": \"%s\", \"seconds\": %.6f, \"seconds_min\": %.6f, "
                    "\"gflop\": %.3f, \"gflops\": %.3f, \"sgemm_gflops\": %.3f, "
                    "\"sgemm_gflops_before\": %.3f, \"sgemm_gflops_after\": %.3f, "
                    "\"fraction_of_sgemm\": %.4f, \"peak_rss_bytes\": %ld, \"width\": %d, "
                    "\"height\": %d, \"psnr_db_vs_f32\": %.2f}",
                    first ? "" : ", ", sdc_bench_component_name((sdc_bench_component)c), b->seconds,
                    b->seconds_min, b->flops * 1e-9, b->gflops, sg[c].sgemm_gflops, sg_before[c],
                    sg_after[c], sg[c].ok ? b->gflops / sg[c].sgemm_gflops : 0.0,
                    results[c].peak_rss_bytes, b->width, b->height, b->psnr_db);
            first = false;
        }
        fprintf(out, "]");
        if (full_ok)
            fprintf(out,
                    ", \"full\": {\"steps\": %d, \"scheduler\": \"dpm++2m\", \"seconds\": %.3f, "
                    "\"load_seconds\": %.3f, \"generation_seconds\": %.3f, "
                    "\"peak_rss_bytes\": %ld}",
                    FULL_STEPS, full_result.load_seconds + full_result.run_seconds,
                    full_result.load_seconds, full_result.run_seconds, full_result.peak_rss_bytes);
        fprintf(out, "}\n");
        if (out != stdout)
            fclose(out);
    }
    return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
