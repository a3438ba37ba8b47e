/*
 * rss_generate.c — one generation through the public API, reporting the process's peak
 * resident memory (getrusage ru_maxrss) and the time: the measurement behind issue 7's
 * --reduce-memory acceptance (README "Memory"). Writes no image.
 *
 *   sdc_rss_generate MODEL [--reduce-memory] [--size PIXELS] [--steps N] [--scheduler NAME]
 */
#include "sdc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s MODEL [--reduce-memory] [--size PIXELS] [--steps N] "
                "[--scheduler NAME]\n",
                argv[0]);
        return 2;
    }
    sdc_model_params mp = sdc_model_default_params();
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a photo of an astronaut riding a horse on mars";
    p.negative_prompt = "blurry, low quality";
    p.steps = 1;
    p.scheduler = "ddim"; /* one model call per step (PNDM makes steps + 1) */
    p.width = p.height = 256;
    p.disable_safety_checker = 1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--reduce-memory") == 0)
            mp.reduce_memory = 1;
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            p.width = p.height = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            p.steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--scheduler") == 0 && i + 1 < argc)
            p.scheduler = argv[++i];
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    sdc_context *ctx = NULL;
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    int rc = 1;
    double t0 = now_s();
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 1;
    if (sdc_model_open(ctx, argv[1], &mp, &model) != SDC_STATUS_OK ||
        sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK) {
        fprintf(stderr, "%s\n", sdc_context_errmsg(ctx));
        goto done;
    }
    long rss_open = peak_rss_kib();
    double t1 = now_s();
    if (sdc_generation_run(gen, &p) != SDC_STATUS_OK) {
        fprintf(stderr, "%s\n", sdc_generation_errmsg(gen));
        goto done;
    }
    printf("%s%s: %dx%d, %d step(s) of %s, %d threads: peak RSS %.1f MiB (after open %.1f "
           "MiB), open %.1f s, generation %.1f s\n",
           argv[1], mp.reduce_memory ? " --reduce-memory" : "", p.width, p.height, p.steps,
           p.scheduler, sdc_context_n_threads(ctx), (double)peak_rss_kib() / 1024.0,
           (double)rss_open / 1024.0, t1 - t0, now_s() - t1);
    rc = 0;
done:
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_context_destroy(ctx);
    return rc;
}
