/*
 * model_memory.c — how long sdc_model_open takes and what a loaded model keeps resident: the
 * process's resident memory split into file-backed pages (mapped weights) and anonymous memory
 * (copies, activations) from /proc/self/status, after opening and after one small generation
 * that touches every weight. The measurement behind issue 8's load-time and resident-size
 * acceptance (docs/bundle-format.md). Writes no image.
 *
 *   sdc_model_memory MODEL [--size PIXELS] [--threads N]
 */
#include "sdc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* VmRSS, RssAnon and RssFile in MiB (-1 when /proc says nothing). */
static void resident(double *total, double *anon, double *file)
{
    *total = *anon = *file = -1.0;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long kib;
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            *total = (double)kib / 1024.0;
        else if (sscanf(line, "RssAnon: %ld", &kib) == 1)
            *anon = (double)kib / 1024.0;
        else if (sscanf(line, "RssFile: %ld", &kib) == 1)
            *file = (double)kib / 1024.0;
    }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [--size PIXELS] [--threads N]\n", argv[0]);
        return 2;
    }
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a photo of an astronaut riding a horse on mars";
    p.steps = 1;
    p.scheduler = "ddim";
    p.width = p.height = 128;
    p.disable_safety_checker = 1;
    sdc_context_params cp = sdc_context_default_params();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            p.width = p.height = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            cp.n_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    sdc_context *ctx = NULL;
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    int rc = 1;
    double total, anon, file;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK)
        return 1;
    resident(&total, &anon, &file);
    printf("before open:      RSS %8.1f MiB (anonymous %8.1f, file-backed %8.1f)\n", total, anon,
           file);
    double t0 = now_s();
    if (sdc_model_open(ctx, argv[1], NULL, &model) != SDC_STATUS_OK ||
        sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK) {
        fprintf(stderr, "%s\n", sdc_context_errmsg(ctx));
        goto done;
    }
    double t1 = now_s();
    resident(&total, &anon, &file);
    printf("after open:       RSS %8.1f MiB (anonymous %8.1f, file-backed %8.1f), open %.3f s\n",
           total, anon, file, t1 - t0);
    if (sdc_generation_run(gen, &p) != SDC_STATUS_OK) {
        fprintf(stderr, "%s\n", sdc_generation_errmsg(gen));
        goto done;
    }
    double t2 = now_s();
    sdc_generation_destroy(gen);
    gen = NULL;
    resident(&total, &anon, &file);
    printf("after generation: RSS %8.1f MiB (anonymous %8.1f, file-backed %8.1f), %dx%d, %d "
           "step, %.1f s\n",
           total, anon, file, p.width, p.height, p.steps, t2 - t1);
    rc = 0;
done:
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_context_destroy(ctx);
    return rc;
}
