/*
 * cmd_analyze.c — `sdc analyze SOURCE -o recipe.json`: mixed-bit palettization pre-analysis
 * (sdc_analyze): per-layer sensitivity of the final latents, cumulative curves and recipes in
 * the JSON layout of Apple's ml-stable-diffusion, for `sdc convert --recipe --select`.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: sdc analyze SOURCE -o RECIPE.json [options]\n\n"
            "Measures how much palettizing each large UNet layer (alone, then cumulatively,\n"
            "at 1, 2, 4, 6 and 8 bits) changes the final latents of fixed prompts after one\n"
            "step (PSNR against the uncompressed model), compares an int8 baseline, and writes\n"
            "mixed-bit recipes at a range of average bit widths, in the layout of Apple's\n"
            "ml-stable-diffusion (mixed_bit_compression_pre_analysis.py). Apply one with\n"
            "'sdc convert SOURCE --recipe RECIPE.json --select NAME'. Slow: many generations.\n\n"
            "options:\n"
            "  -o, --output FILE        the recipe file to write\n"
            "  --model-version NAME     the file's \"model_version\" (default: SOURCE)\n"
            "  --num-recipes N          recipes to build (default 7)\n"
            "  --min-elements N         layers above this size are analysed (default 100000)\n"
            "  --prompt TEXT            a test prompt (repeatable; default: the seed's eight)\n"
            "  --width W, --height H    image size (default: the model's)\n"
            "  --seed N                 the noise seed (default 0)\n"
            "  -t, --threads N          worker threads (default: all CPUs)\n"
            "  -v, --verbose            report progress\n"
            "  -h, --help               show this help\n");
}

int cmd_analyze(int argc, char **argv)
{
    sdc_analyze_params p = sdc_analyze_default_params();
    const char *source = NULL, *output = NULL;
    const char **prompts = calloc((size_t)argc, sizeof *prompts);
    long threads = 0, v = 0;
    bool verbose = false;
    int rc = CLI_EXIT_USAGE;
    if (!prompts) {
        fprintf(stderr, "sdc analyze: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
                           strcmp(a, "--model-version") == 0 || strcmp(a, "--num-recipes") == 0 ||
                           strcmp(a, "--min-elements") == 0 || strcmp(a, "--prompt") == 0 ||
                           strcmp(a, "--width") == 0 || strcmp(a, "--height") == 0 ||
                           strcmp(a, "--seed") == 0 || strcmp(a, "-t") == 0 ||
                           strcmp(a, "--threads") == 0;
        if (cli_is_help(a)) {
            help(stdout);
            rc = CLI_EXIT_OK;
            goto done;
        }
        if (takes_value && i + 1 >= argc) {
            fprintf(stderr, "sdc analyze: %s needs a value\n", a);
            goto done;
        }
        const char *val = takes_value ? argv[++i] : NULL;
        bool bad = false;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            output = val;
        else if (strcmp(a, "--model-version") == 0)
            p.model_version = val;
        else if (strcmp(a, "--prompt") == 0)
            prompts[p.n_prompts++] = val;
        else if (strcmp(a, "--seed") == 0)
            bad = !cli_parse_u64(val, &p.seed);
        else if (takes_value) {
            bad = !cli_parse_long(val, 1, 1L << 30, &v);
            if (strcmp(a, "--num-recipes") == 0)
                p.num_recipes = (int)v;
            else if (strcmp(a, "--min-elements") == 0)
                p.min_elements = (int)v;
            else if (strcmp(a, "--width") == 0)
                p.width = (int)v;
            else if (strcmp(a, "--height") == 0)
                p.height = (int)v;
            else
                threads = v;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sdc analyze: unknown option '%s' (see 'sdc analyze --help')\n", a);
            goto done;
        } else if (source) {
            fprintf(stderr, "sdc analyze: one source at a time ('%s' and '%s' given)\n", source, a);
            goto done;
        } else {
            source = a;
        }
        if (bad) {
            fprintf(stderr, "sdc analyze: %s '%s': expected a positive whole number\n", a, val);
            goto done;
        }
    }
    if (!source || !output) {
        fprintf(stderr, "sdc analyze: %s\n", !source ? "no source given" : "no -o FILE given");
        help(stderr);
        goto done;
    }
    if (p.n_prompts)
        p.prompts = prompts;
    sdc_context *ctx = cli_context((int)threads, verbose);
    if (!ctx) {
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    rc = CLI_EXIT_OK;
    if (sdc_analyze(ctx, source, output, &p) != SDC_STATUS_OK) {
        cli_report("analyze", ctx);
        rc = CLI_EXIT_FAILURE;
    } else {
        printf("wrote %s\n", output);
    }
    sdc_context_destroy(ctx);
done:
    free(prompts);
    return rc;
}
