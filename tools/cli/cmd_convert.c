/*
 * cmd_convert.c — `sdc convert SOURCE -o OUT.sdc`: a diffusers folder or a single-file checkpoint
 * to an sdc bundle (sdc_convert), optionally palettized, int8 or mixed-bit from a recipe, with the
 * seed project's output-correctness check. Prints what each component became.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: sdc convert SOURCE -o OUT.sdc [options]\n\n"
            "Converts a diffusers folder, a ControlNet folder or a single-file checkpoint\n"
            "(.safetensors, .ckpt) into an sdc bundle: model.json, one 64-byte-aligned\n"
            "safetensors file per component and the tokenizer files. Rerunning the same\n"
            "conversion gives byte-identical files.\n\n"
            "options:\n"
            "  -o, --output DIR              the bundle folder to write (replaced if a bundle)\n"
            "  --weights f32|f16|bf16        uncompressed tensors and palettes (default f16)\n"
            "  --palettize N                 k-means palettes of N bits (1, 2, 4, 6, 8) for the\n"
            "                                UNet, text encoders and ControlNets\n"
            "  --palette-groups G            one palette per group of output channels (G groups)\n"
            "  --int8                        int8 weights, one scale per output channel\n"
            "  --compress-vae                compress the VAE too\n"
            "  --min-elements N              smaller weights stay uncompressed (default 2048)\n"
            "  --recipe FILE --select NAME   per-layer UNet bits from a mixed-bit recipe\n"
            "                                (sdc analyze, or ml-stable-diffusion's JSON)\n"
            "  --check-output-correctness    run every component against the source; fail\n"
            "                                under --min-psnr dB (default 35) unless --force\n"
            "  --min-psnr DB, --force\n"
            "  -t, --threads N               worker threads (default: all CPUs)\n"
            "  -v, --verbose                 report progress\n"
            "  -h, --help                    show this help\n");
}

static const char *megabytes(uint64_t bytes, char *buf, size_t size)
{
    snprintf(buf, size, "%.2f MB", (double)bytes / 1e6);
    return buf;
}

static void print_summary(const char *output, const sdc_bundle_info *info)
{
    char a[32], b[32];
    uint64_t source = 0, bundle = 0;
    printf("bundle:   %s (%s, weights %s)\n", output, sdc_bundle_info_family(info),
           sdc_bundle_info_weights(info));
    printf("  %-16s %-8s %10s %14s %14s %10s\n", "component", "storage", "bits/wt", "source",
           "bundle", "PSNR");
    for (size_t i = 0; i < sdc_bundle_info_component_count(info); i++) {
        sdc_bundle_component_info c;
        if (sdc_bundle_info_component(info, i, &c) != SDC_STATUS_OK)
            continue;
        char psnr[32] = "-";
        if (c.checked)
            snprintf(psnr, sizeof psnr, "%.2f dB", c.psnr);
        char storage[16];
        if (c.bits && strcmp(c.compression, "palette") == 0)
            snprintf(storage, sizeof storage, "%d-bit", c.bits);
        else
            snprintf(storage, sizeof storage, "%s", c.compression);
        printf("  %-16s %-8s %10.3f %14s %14s %10s\n", c.name, storage, c.bits_per_weight,
               megabytes(c.source_bytes, a, sizeof a), megabytes(c.file_bytes, b, sizeof b), psnr);
        source += c.source_bytes;
        bundle += c.file_bytes;
    }
    printf("total:    %s of weights -> %s of files\n", megabytes(source, a, sizeof a),
           megabytes(bundle, b, sizeof b));
}

/* The value after option argv[*i]; NULL (with a message) when it is missing. */
static const char *value_of(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "sdc convert: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* A whole number in [1, max] after option argv[*i]. */
static bool number(int argc, char **argv, int *i, long max, long *out)
{
    const char *opt = argv[*i], *val = value_of(argc, argv, i);
    if (!val)
        return false;
    if (!cli_parse_long(val, 1, max, out)) {
        fprintf(stderr, "sdc convert: %s '%s': expected a whole number from 1 to %ld\n", opt, val,
                max);
        return false;
    }
    return true;
}

int cmd_convert(int argc, char **argv)
{
    sdc_convert_params p = sdc_convert_default_params();
    const char *source = NULL, *output = NULL;
    long threads = 0, v = 0;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        if (cli_is_help(a)) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!(output = value_of(argc, argv, &i)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--weights") == 0) {
            if (!(p.weights = value_of(argc, argv, &i)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--palettize") == 0) {
            if (!number(argc, argv, &i, 8, &v))
                return CLI_EXIT_USAGE;
            p.palettize_bits = (int)v;
        } else if (strcmp(a, "--palette-groups") == 0) {
            if (!number(argc, argv, &i, 1L << 20, &v))
                return CLI_EXIT_USAGE;
            p.palette_groups = (int)v;
        } else if (strcmp(a, "--min-elements") == 0) {
            if (!number(argc, argv, &i, 1L << 30, &v))
                return CLI_EXIT_USAGE;
            p.min_elements = (int)v;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (!number(argc, argv, &i, 4096, &threads))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--int8") == 0) {
            p.int8 = 1;
        } else if (strcmp(a, "--compress-vae") == 0) {
            p.compress_vae = 1;
        } else if (strcmp(a, "--recipe") == 0) {
            if (!(p.recipe = value_of(argc, argv, &i)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--select") == 0) {
            if (!(p.recipe_name = value_of(argc, argv, &i)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--check-output-correctness") == 0) {
            p.check_output_correctness = 1;
        } else if (strcmp(a, "--min-psnr") == 0) {
            if (!(val = value_of(argc, argv, &i)))
                return CLI_EXIT_USAGE;
            if (!cli_parse_double(val, 0.0, 1000.0, &p.min_psnr)) {
                fprintf(stderr, "sdc convert: --min-psnr '%s': expected decibels\n", val);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--force") == 0) {
            p.force = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "sdc convert: unknown option '%s' (see 'sdc convert --help')\n", a);
            return CLI_EXIT_USAGE;
        } else if (source) {
            fprintf(stderr, "sdc convert: one source at a time ('%s' and '%s' given)\n", source, a);
            return CLI_EXIT_USAGE;
        } else {
            source = a;
        }
    }
    if (!source || !output) {
        fprintf(stderr, "sdc convert: %s\n", !source ? "no source given" : "no -o OUT.sdc given");
        help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (p.recipe_name && !p.recipe) {
        fprintf(stderr, "sdc convert: --select needs --recipe FILE\n");
        return CLI_EXIT_USAGE;
    }

    sdc_context *ctx = cli_context((int)threads, verbose);
    if (!ctx)
        return CLI_EXIT_FAILURE;
    int rc = CLI_EXIT_OK;
    sdc_bundle_info *info = NULL;
    sdc_status st = sdc_convert(ctx, source, output, &p, &info);
    if (info)
        print_summary(output, info);
    if (st != SDC_STATUS_OK) {
        cli_report("convert", ctx);
        rc = CLI_EXIT_FAILURE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sdc convert: cannot write the output\n");
        rc = CLI_EXIT_FAILURE;
    }
    sdc_bundle_info_close(info);
    sdc_context_destroy(ctx);
    return rc;
}
