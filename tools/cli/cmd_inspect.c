/*
 * cmd_inspect.c — `sdc inspect FILE`: what a weights file holds. For a safetensors file:
 * every tensor with dtype, shape and byte size, the parameter count per dtype, and the
 * metadata. --json prints the same as one JSON object for programs.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: sdc inspect [options] FILE\n\n"
            "Shows what a weights file holds: each tensor's name, dtype, shape and size, the\n"
            "total parameter count, and the file's metadata. Reads safetensors files.\n\n"
            "options:\n"
            "  --json          print one JSON object instead of a table\n"
            "  --filter TEXT   list only tensors whose name contains TEXT\n"
            "  -h, --help      show this help\n");
}

typedef struct dtype_total {
    const char *dtype;
    uint64_t params;
    uint64_t bytes;
    size_t count;
} dtype_total;

static uint64_t numel(const sdc_tensor_info *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->shape[d];
    return n;
}

static void shape_text(const sdc_tensor_info *t, char *buf, size_t size)
{
    size_t pos = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && pos < size; d++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", d ? ", " : "",
                                (long long)t->shape[d]);
    if (pos < size)
        snprintf(buf + pos, size - pos, "]");
}

static void print_json(const char *path, sdc_tensor_file *f, const char *filter)
{
    printf("{\"file\": ");
    cli_json_string(stdout, path);
    printf(", \"format\": \"%s\", \"bytes\": %llu, \"metadata\": {", sdc_tensor_file_format(f),
           (unsigned long long)sdc_tensor_file_size(f));
    size_t nm = sdc_tensor_file_metadata_count(f);
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        sdc_tensor_file_metadata(f, i, &k, &v);
        printf("%s", i ? ", " : "");
        cli_json_string(stdout, k);
        printf(": ");
        cli_json_string(stdout, v);
    }
    printf("}, \"tensors\": [");
    size_t n = sdc_tensor_file_count(f), shown = 0;
    uint64_t params = 0;
    for (size_t i = 0; i < n; i++) {
        sdc_tensor_info t;
        sdc_tensor_file_info(f, i, &t);
        if (filter && !strstr(t.name, filter))
            continue;
        params += numel(&t);
        printf("%s\n  {\"name\": ", shown++ ? "," : "");
        cli_json_string(stdout, t.name);
        printf(", \"dtype\": \"%s\", \"shape\": [", t.dtype);
        for (int d = 0; d < t.ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)t.shape[d]);
        printf("], \"bytes\": %llu, \"offset\": %llu}", (unsigned long long)t.nbytes,
               (unsigned long long)t.offset);
    }
    printf("\n], \"tensor_count\": %zu, \"parameters\": %llu}\n", shown,
           (unsigned long long)params);
}

static void print_table(const char *path, sdc_tensor_file *f, const char *filter)
{
    char b1[32], b2[32], shape[160];
    size_t n = sdc_tensor_file_count(f);
    printf("file:     %s\n", path);
    printf("format:   %s, %s bytes\n", sdc_tensor_file_format(f),
           cli_group_digits(sdc_tensor_file_size(f), b1, sizeof b1));

    size_t nm = sdc_tensor_file_metadata_count(f);
    if (nm) {
        printf("metadata:\n");
        for (size_t i = 0; i < nm; i++) {
            const char *k, *v;
            sdc_tensor_file_metadata(f, i, &k, &v);
            printf("  %s = %s\n", k, v);
        }
    }

    size_t width = 4;
    for (size_t i = 0; i < n; i++) {
        sdc_tensor_info t;
        sdc_tensor_file_info(f, i, &t);
        if ((!filter || strstr(t.name, filter)) && strlen(t.name) > width)
            width = strlen(t.name);
    }
    printf("tensors:\n  %-*s  %-7s  %-22s  %s\n", (int)width, "name", "dtype", "shape", "bytes");

    dtype_total totals[16];
    size_t n_totals = 0, shown = 0;
    uint64_t params = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        sdc_tensor_info t;
        sdc_tensor_file_info(f, i, &t);
        if (filter && !strstr(t.name, filter))
            continue;
        shown++;
        shape_text(&t, shape, sizeof shape);
        printf("  %-*s  %-7s  %-22s  %s\n", (int)width, t.name, t.dtype, shape,
               cli_group_digits(t.nbytes, b1, sizeof b1));
        uint64_t ne = numel(&t);
        params += ne;
        bytes += t.nbytes;
        size_t k = 0;
        while (k < n_totals && strcmp(totals[k].dtype, t.dtype) != 0)
            k++;
        if (k == n_totals && n_totals < 16)
            totals[n_totals++] = (dtype_total){t.dtype, 0, 0, 0};
        if (k < n_totals) {
            totals[k].params += ne;
            totals[k].bytes += t.nbytes;
            totals[k].count++;
        }
    }
    printf("total:    %zu tensors, %s parameters, %s bytes of data\n", shown,
           cli_group_digits(params, b1, sizeof b1), cli_group_digits(bytes, b2, sizeof b2));
    for (size_t k = 0; k < n_totals; k++)
        printf("  %-5s %zu tensors, %s parameters\n", totals[k].dtype, totals[k].count,
               cli_group_digits(totals[k].params, b1, sizeof b1));
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *filter = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--filter") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "sdc inspect: --filter needs a value\n");
                return CLI_EXIT_USAGE;
            }
            filter = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sdc inspect: unknown option '%s' (see 'sdc inspect --help')\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "sdc inspect: one file at a time ('%s' and '%s' given)\n", path,
                    argv[i]);
            return CLI_EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        help(stderr);
        return CLI_EXIT_USAGE;
    }

    sdc_context *ctx = cli_context(1, false);
    if (!ctx)
        return CLI_EXIT_FAILURE;
    int rc = CLI_EXIT_OK;
    sdc_tensor_file *f = NULL;
    if (sdc_tensor_file_open(ctx, path, &f) != SDC_STATUS_OK) {
        cli_report("inspect", ctx);
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    if (json)
        print_json(path, f, filter);
    else
        print_table(path, f, filter);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sdc inspect: cannot write the output\n");
        rc = CLI_EXIT_FAILURE;
    }
    sdc_tensor_file_close(f);
done:
    sdc_context_destroy(ctx);
    return rc;
}
