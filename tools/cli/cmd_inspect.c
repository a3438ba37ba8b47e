/*
 * cmd_inspect.c — `sdc inspect FILE`: what a weights file holds. For a safetensors file:
 * every tensor with dtype, shape and byte size, the parameter count per dtype, and the
 * metadata; for a compressed weight of an sdc bundle its storage (palette bits and size, int8)
 * and bits per weight. For an sdc bundle folder: its components, then each component's file.
 * For a model — a diffusers folder (SD 1.x/2.x, SDXL base or refiner, a ControlNet) or a
 * single-file checkpoint — its family and the networks sdc loads from it, with their
 * configuration, parameters and bytes (a checkpoint's tensors follow).
 * --json prints the same as one JSON object for programs.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: sdc inspect [options] FILE|BUNDLE\n\n"
            "Shows what a weights file holds: each tensor's name, dtype, shape and size, the\n"
            "total parameter count, and the file's metadata. Reads safetensors files and\n"
            ".ckpt checkpoints. For an sdc bundle (a folder from 'sdc convert'): its\n"
            "components with their compression, then every tensor's storage (dense, palette\n"
            "bits and size, int8) and bits per weight. For a model (a diffusers folder or a\n"
            "single-file checkpoint): its family (sd1, sd2, sdxl, sdxl-refiner, or a\n"
            "ControlNet's) and its components (text encoders, UNet, VAE, ...) with their\n"
            "configuration, parameters and bytes; a checkpoint's tensors follow.\n\n"
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
        printf("], \"bytes\": %llu, \"offset\": %llu, \"storage\": \"%s\", \"bits\": %d",
               (unsigned long long)t.nbytes, (unsigned long long)t.offset, t.storage, t.bits);
        if (t.palette_size)
            printf(", \"palette_size\": %d, \"palette_groups\": %lld", t.palette_size,
                   (long long)t.palette_groups);
        printf(", \"bits_per_weight\": %.4f}", t.bits_per_weight);
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
            /* a compressed weight's description: its row in the table says the same */
            if (strncmp(k, "sdc.compressed.", 15) != 0)
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
    bool compressed = false;
    for (size_t i = 0; i < n && !compressed; i++) {
        sdc_tensor_info t;
        sdc_tensor_file_info(f, i, &t);
        compressed = strcmp(t.storage, "dense") != 0;
    }
    if (compressed)
        printf("tensors:\n  %-*s  %-7s  %-22s  %13s  storage        bits/weight\n", (int)width,
               "name", "dtype", "shape", "bytes");
    else
        printf("tensors:\n  %-*s  %-7s  %-22s  %s\n", (int)width, "name", "dtype", "shape",
               "bytes");

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
        cli_group_digits(t.nbytes, b1, sizeof b1);
        if (compressed)
            printf("  %-*s  %-7s  %-22s  %13s", (int)width, t.name, t.dtype, shape, b1);
        else
            printf("  %-*s  %-7s  %-22s  %s", (int)width, t.name, t.dtype, shape, b1);
        if (compressed) {
            char storage[40];
            if (t.palette_size)
                snprintf(storage, sizeof storage, "%d-bit x%lld", t.bits,
                         (long long)t.palette_groups);
            else
                snprintf(storage, sizeof storage, "%s", t.storage);
            printf("  %-13s  %.3f", storage, t.bits_per_weight);
        }
        printf("\n");
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

/* A bundle: the components from model.json, then each component file. */
static int inspect_bundle(sdc_context *ctx, const char *path, bool json, const char *filter)
{
    sdc_bundle_info *info = NULL;
    if (sdc_bundle_info_open(ctx, path, &info) != SDC_STATUS_OK) {
        cli_report("inspect", ctx);
        return CLI_EXIT_FAILURE;
    }
    size_t n = sdc_bundle_info_component_count(info);
    char b1[32], b2[32];
    if (json) {
        printf("{\"bundle\": ");
        cli_json_string(stdout, path);
        printf(", \"family\": \"%s\", \"weights\": \"%s\", \"components\": [",
               sdc_bundle_info_family(info), sdc_bundle_info_weights(info));
    } else {
        printf("bundle:   %s\nfamily:   %s, weights %s\ncomponents:\n", path,
               sdc_bundle_info_family(info), sdc_bundle_info_weights(info));
        printf("  %-16s %-30s %-8s %5s %9s %15s %15s\n", "name", "class", "storage", "bits",
               "bits/wt", "source bytes", "file bytes");
        for (size_t i = 0; i < n; i++) {
            sdc_bundle_component_info c;
            sdc_bundle_info_component(info, i, &c);
            printf("  %-16s %-30s %-8s %5d %9.3f %15s %15s\n", c.name, c.class_name,
                   c.compression, c.bits, c.bits_per_weight,
                   cli_group_digits(c.source_bytes, b1, sizeof b1),
                   cli_group_digits(c.file_bytes, b2, sizeof b2));
        }
    }
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        sdc_bundle_component_info c;
        sdc_bundle_info_component(info, i, &c);
        size_t len = strlen(path) + strlen(c.file) + 2;
        char *file = malloc(len);
        sdc_tensor_file *f = NULL;
        if (!file) {
            fprintf(stderr, "sdc inspect: out of memory\n");
            rc = CLI_EXIT_FAILURE;
            break;
        }
        snprintf(file, len, "%s/%s", path, c.file);
        if (json)
            printf("%s\n {\"name\": \"%s\", \"class\": \"%s\", \"compression\": \"%s\", "
                   "\"bits\": %d, \"bits_per_weight\": %.4f, \"source_bytes\": %llu, "
                   "\"file_bytes\": %llu, \"file\": ",
                   i ? "," : "", c.name, c.class_name, c.compression, c.bits, c.bits_per_weight,
                   (unsigned long long)c.source_bytes, (unsigned long long)c.file_bytes);
        if (sdc_tensor_file_open(ctx, file, &f) != SDC_STATUS_OK) {
            cli_report("inspect", ctx);
            rc = CLI_EXIT_FAILURE;
        } else if (json) {
            print_json(file, f, filter);
            printf("}");
        } else {
            printf("\n");
            print_table(file, f, filter);
        }
        sdc_tensor_file_close(f);
        free(file);
    }
    if (json)
        printf("]}\n");
    sdc_bundle_info_close(info);
    return rc;
}

/* `path` as a model (sdc_model_open with reduce_memory: each component is loaded once and
 * released), or NULL. */
static sdc_model *open_model(sdc_context *ctx, const char *path)
{
    sdc_model_params mp = sdc_model_default_params();
    mp.reduce_memory = 1;
    sdc_model *m = NULL;
    return sdc_model_open(ctx, path, &mp, &m) == SDC_STATUS_OK ? m : NULL;
}

/* A model's family and components; closes it. */
static void print_model(sdc_model *m, const char *path, bool json)
{
    sdc_model_info info;
    sdc_model_get_info(m, &info);
    size_t n = sdc_model_component_count(m);
    uint64_t params = 0, bytes = 0;
    char b1[32], b2[32];
    if (json) {
        printf("{\"path\": ");
        cli_json_string(stdout, path);
        printf(", \"family\": \"%s\", \"controlnet\": %s, \"time_ids\": %d, "
               "\"default_width\": %d, \"default_height\": %d, \"default_scheduler\": ",
               info.family, info.controlnet ? "true" : "false", info.time_ids,
               info.default_width, info.default_height);
        if (info.default_scheduler)
            cli_json_string(stdout, info.default_scheduler);
        else
            printf("null");
        printf(", \"components\": [");
    } else {
        printf("model:    %s\nfamily:   %s%s", path, info.family,
               info.controlnet ? " ControlNet" : "");
        if (info.time_ids)
            printf(", %d time ids%s", info.time_ids,
                   info.time_ids == 5 ? " (original size, crop, aesthetic score)"
                                      : " (original size, crop, target size)");
        printf("\n");
        if (!info.controlnet)
            printf("defaults: %dx%d, scheduler %s, %s\n", info.default_width,
                   info.default_height, info.default_scheduler, info.prediction_type);
        printf("components:\n  %-15s %-28s %15s %15s  %-6s %s\n", "name", "class",
               "parameters", "bytes", "dtype", "configuration");
    }
    for (size_t i = 0; i < n; i++) {
        sdc_model_component_info c;
        sdc_model_component(m, i, &c);
        params += c.parameters;
        bytes += c.bytes;
        if (json) {
            printf("%s\n  {\"name\": \"%s\", \"class\": \"%s\", \"parameters\": %llu, "
                   "\"bytes\": %llu, \"dtype\": \"%s\", \"configuration\": ",
                   i ? "," : "", c.name, c.class_name, (unsigned long long)c.parameters,
                   (unsigned long long)c.bytes, c.dtype);
            cli_json_string(stdout, c.summary);
            printf("}");
        } else {
            printf("  %-15s %-28s %15s %15s  %-6s %s\n", c.name, c.class_name,
                   cli_group_digits(c.parameters, b1, sizeof b1),
                   cli_group_digits(c.bytes, b2, sizeof b2), c.dtype, c.summary);
        }
    }
    if (json)
        printf("\n], \"parameters\": %llu, \"bytes\": %llu}", (unsigned long long)params,
               (unsigned long long)bytes);
    else
        printf("total:    %s parameters, %s bytes\n", cli_group_digits(params, b1, sizeof b1),
               cli_group_digits(bytes, b2, sizeof b2));
    sdc_model_close(m);
}

/* A folder with model.json. */
static bool is_bundle(const char *path)
{
    size_t len = strlen(path) + sizeof "/model.json";
    char *index = malloc(len);
    struct stat sb;
    bool yes = false;
    if (index) {
        snprintf(index, len, "%s/model.json", path);
        yes = stat(index, &sb) == 0;
    }
    free(index);
    return yes;
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
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && !is_bundle(path)) {
        /* a diffusers pipeline or ControlNet folder */
        sdc_model *m = open_model(ctx, path);
        if (m) {
            print_model(m, path, json);
            printf(json ? "\n" : "");
        } else {
            cli_report("inspect", ctx);
            rc = CLI_EXIT_FAILURE;
        }
        goto flush;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        rc = inspect_bundle(ctx, path, json, filter);
        goto flush;
    }
    sdc_tensor_file *f = NULL;
    if (sdc_tensor_file_open(ctx, path, &f) != SDC_STATUS_OK) {
        cli_report("inspect", ctx);
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    /* a single-file checkpoint: the model first, its tensors after; in JSON
     * {"model": {...}, "file": {...}} */
    sdc_model *m = open_model(ctx, path);
    if (m) {
        printf(json ? "{\"model\": " : "");
        print_model(m, path, json);
        printf(json ? ", \"file\": " : "\n");
    }
    if (json)
        print_json(path, f, filter);
    else
        print_table(path, f, filter);
    if (m && json)
        printf("}\n");
    sdc_tensor_file_close(f);
flush:
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sdc inspect: cannot write the output\n");
        rc = CLI_EXIT_FAILURE;
    }
done:
    sdc_context_destroy(ctx);
    return rc;
}
