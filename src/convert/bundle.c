/*
 * bundle.c — sdc_convert: writes an sdc bundle (docs/bundle-format.md) from an imported source:
 * one component file per model (component.c), the tokenizer folders copied byte for byte, the
 * optional output-correctness check (check.c), then model.json. Everything is written into a
 * temporary folder beside the output and renamed into place, so a failed conversion leaves no
 * bundle and a rerun replaces the old one with identical bytes.
 */
#include "convert/import.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const double DEFAULT_MIN_PSNR = 35.0;  /* torch2coreml.ABSOLUTE_MIN_PSNR */
static const int DEFAULT_MIN_ELEMENTS = 2048; /* coremltools' weight_threshold */

sdc_convert_params sdc_convert_default_params(void)
{
    return (sdc_convert_params){.weights = "f16"};
}

/* What was written for one component. */
typedef struct written {
    const sdc_import_component *c;
    sdc_component_policy policy;
    sdc_component_summary summary;
    bool checked;
    double psnr;
} written;

typedef struct job {
    sdc_context *ctx;
    sdc_convert_params p;
    const sdc_import *imp;
    sdc_recipe *recipe;
    sdc_dtype dtype;
    char *tmp; /* the folder being written */
    written out[SDC_IMPORT_MAX_COMPONENTS];
} job;

/* ---------------------------------------------------------------------------------------- */
/* Files and folders                                                                          */

static char *join(sdc_context *ctx, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = sdc_malloc(ctx, n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Removes a folder this converter wrote (files and the tokenizer folders in it). */
static void remove_tree(const char *path, int depth)
{
    DIR *d = depth < 4 ? opendir(path) : NULL;
    if (d) {
        struct dirent *e;
        char child[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child)
                continue;
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child, depth + 1);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static sdc_status make_dir(sdc_context *ctx, const char *path)
{
    if (mkdir(path, 0777) != 0)
        return sdc_fail(ctx, SDC_STATUS_IO, "%s: cannot create the folder: %s", path,
                        strerror(errno));
    return SDC_STATUS_OK;
}

static sdc_status copy_file(sdc_context *ctx, const char *from, const char *to)
{
    char *data = NULL;
    size_t size = 0;
    sdc_status st = sdc_file_read_all(ctx, from, &data, &size);
    if (st == SDC_STATUS_OK)
        st = sdc_file_write_all(ctx, to, data, size);
    sdc_free(ctx, data);
    return st;
}

/* The tokenizer files transformers' CLIPTokenizer reads, those the source has. */
static sdc_status copy_tokenizer(job *j, const char *from, const char *name)
{
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                        "special_tokens_map.json", "added_tokens.json"};
    char *dir = join(j->ctx, j->tmp, name);
    if (!dir)
        return sdc_fail_oom(j->ctx, j->tmp, 64);
    sdc_status st = make_dir(j->ctx, dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0] && st == SDC_STATUS_OK; i++) {
        char *src = join(j->ctx, from, files[i]), *dst = join(j->ctx, dir, files[i]);
        if (!src || !dst)
            st = sdc_fail_oom(j->ctx, from, 256);
        else if (exists(src))
            st = copy_file(j->ctx, src, dst);
        sdc_free(j->ctx, src);
        sdc_free(j->ctx, dst);
    }
    sdc_free(j->ctx, dir);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Parameters                                                                                 */

static sdc_status read_params(job *j, const sdc_convert_params *params)
{
    sdc_context *ctx = j->ctx;
    j->p = params ? *params : sdc_convert_default_params();
    const char *w = j->p.weights ? j->p.weights : "f16";
    if (strcmp(w, "f32") == 0)
        j->dtype = SDC_DTYPE_F32;
    else if (strcmp(w, "f16") == 0)
        j->dtype = SDC_DTYPE_F16;
    else if (strcmp(w, "bf16") == 0)
        j->dtype = SDC_DTYPE_BF16;
    else
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "convert: weights \"%s\": expected f32, f16 or bf16", w);
    j->p.weights = w;
    if (j->p.palettize_bits && !sdc_palette_bits_valid(j->p.palettize_bits))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "convert: palettize to %d bits: expected 1, 2, 4, 6 or 8",
                        j->p.palettize_bits);
    if (j->p.int8 && (j->p.palettize_bits || j->p.recipe))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "convert: int8 and palettization (or a recipe) exclude each other");
    if (j->p.palette_groups < 0 || j->p.min_elements < 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "convert: %d palette groups, %d minimum elements: expected >= 0",
                        j->p.palette_groups, j->p.min_elements);
    if (!j->p.palette_groups)
        j->p.palette_groups = 1;
    if (!j->p.min_elements)
        j->p.min_elements = DEFAULT_MIN_ELEMENTS;
    if (!(j->p.min_psnr > 0.0))
        j->p.min_psnr = DEFAULT_MIN_PSNR;
    if (j->p.recipe && !j->p.recipe_name)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "convert: recipe %s: name the recipe to apply (--select)", j->p.recipe);
    if (j->p.recipe)
        return sdc_recipe_load(ctx, j->p.recipe, j->p.recipe_name, &j->recipe);
    return SDC_STATUS_OK;
}

/* The policy for one component: compression only where the parameters ask for it. */
static sdc_component_policy policy_for(const job *j, const char *component)
{
    sdc_component_policy p = {.dtype = j->dtype,
                              .palette_groups = j->p.palette_groups,
                              .min_elements = j->p.min_elements};
    bool compressible = strcmp(component, "unet") == 0 ||
                        strncmp(component, "text_encoder", 12) == 0 ||
                        strcmp(component, "controlnet") == 0 ||
                        (strcmp(component, "vae") == 0 && j->p.compress_vae);
    if (!compressible)
        return p;
    if (j->p.int8) {
        p.compression = SDC_COMPRESSION_INT8;
        p.bits = 8;
    } else if (j->recipe && strcmp(component, "unet") == 0) {
        p.compression = SDC_COMPRESSION_PALETTE;
        p.recipe = j->recipe;
    } else if (j->p.palettize_bits) {
        p.compression = SDC_COMPRESSION_PALETTE;
        p.bits = j->p.palettize_bits;
    }
    return p;
}

static const char *method_of(const sdc_component_policy *p, const sdc_component_summary *s)
{
    if (p->compression == SDC_COMPRESSION_NONE || (s->n_palettized == 0 && s->n_int8 == 0))
        return "none";
    if (p->compression == SDC_COMPRESSION_INT8)
        return "int8";
    return p->recipe ? "mixed" : "palette";
}

/* ---------------------------------------------------------------------------------------- */
/* model.json                                                                                 */

static void key_uint(sdc_json_writer *w, const char *key, uint64_t v)
{
    sdc_json_key(w, key);
    sdc_json_uint(w, v);
}

/* A ratio rounded to 4 decimals, so the text stays short and stable. */
static void key_ratio(sdc_json_writer *w, const char *key, double v)
{
    sdc_json_key(w, key);
    sdc_json_double(w, round(v * 1e4) / 1e4);
}

static void write_summary(sdc_json_writer *w, const written *o)
{
    const sdc_component_summary *s = &o->summary;
    const char *method = method_of(&o->policy, s);
    sdc_json_key(w, "compression");
    sdc_json_begin_object(w);
    sdc_json_key(w, "method");
    sdc_json_string(w, method);
    if (strcmp(method, "palette") == 0 || strcmp(method, "int8") == 0)
        key_uint(w, "bits", (uint64_t)o->policy.bits);
    if (strcmp(method, "palette") == 0 || strcmp(method, "mixed") == 0)
        key_uint(w, "palette_groups", (uint64_t)o->policy.palette_groups);
    key_uint(w, "parameters", (uint64_t)s->parameters);
    key_uint(w, "source_bytes", s->source_bytes);
    key_uint(w, "bytes", s->bytes);
    key_uint(w, "file_bytes", s->file_bytes);
    key_ratio(w, "bits_per_weight",
              s->parameters ? 8.0 * (double)s->bytes / (double)s->parameters : 0.0);
    key_uint(w, "tensors", s->n_tensors);
    key_uint(w, "compressed_tensors", s->n_palettized + s->n_int8);
    key_uint(w, "compressed_parameters", (uint64_t)s->compressed_parameters);
    key_uint(w, "compressed_bytes", s->compressed_bytes);
    key_ratio(w, "compressed_bits_per_weight",
              s->compressed_parameters
                  ? 8.0 * (double)s->compressed_bytes / (double)s->compressed_parameters
                  : 0.0);
    if (o->checked) {
        sdc_json_key(w, "psnr");
        sdc_json_double(w, round(o->psnr * 100.0) / 100.0);
    }
    sdc_json_end_object(w);
}

static void write_config(sdc_json_writer *w, const char *key, const sdc_model_config *c)
{
    sdc_json_key(w, key);
    if (c->root)
        sdc_json_value(w, c->root);
    else
        sdc_json_null(w);
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

static void write_index(const job *j, sdc_buf *b)
{
    const sdc_import *imp = j->imp;
    sdc_json_writer w;
    sdc_json_writer_init(&w, b, true);
    sdc_json_begin_object(&w);
    sdc_json_key(&w, "format");
    sdc_json_string(&w, SDC_BUNDLE_FORMAT);
    sdc_json_key(&w, "version");
    sdc_json_int(&w, SDC_BUNDLE_VERSION);
    sdc_json_key(&w, "family");
    sdc_json_string(&w, imp->family);
    sdc_json_key(&w, "pipeline");
    sdc_json_string(&w, imp->pipeline_class);
    /* The source's name only: the same conversion from another folder gives the same bytes. */
    char name[256];
    size_t len = strlen(base_name(imp->path));
    snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), base_name(imp->path));
    for (size_t n = strlen(name); n > 0 && name[n - 1] == '/'; n--)
        name[n - 1] = '\0';
    sdc_json_key(&w, "source");
    sdc_json_string(&w, name);
    sdc_json_key(&w, "weights");
    sdc_json_string(&w, j->p.weights);
    sdc_json_key(&w, "compression");
    sdc_json_begin_object(&w);
    sdc_json_key(&w, "palettize_bits");
    sdc_json_int(&w, j->p.palettize_bits);
    sdc_json_key(&w, "palette_groups");
    sdc_json_int(&w, j->p.palette_groups);
    sdc_json_key(&w, "int8");
    sdc_json_bool(&w, j->p.int8 != 0);
    sdc_json_key(&w, "recipe");
    if (j->recipe)
        sdc_json_string(&w, j->recipe->name);
    else
        sdc_json_null(&w);
    sdc_json_key(&w, "compress_vae");
    sdc_json_bool(&w, j->p.compress_vae != 0);
    sdc_json_key(&w, "min_elements");
    sdc_json_int(&w, j->p.min_elements);
    sdc_json_end_object(&w);

    sdc_json_key(&w, "components");
    sdc_json_begin_object(&w);
    for (size_t i = 0; i < imp->n_components; i++) {
        const written *o = &j->out[i];
        char file[64];
        snprintf(file, sizeof file, "%s.safetensors", o->c->name);
        sdc_json_key(&w, o->c->name);
        sdc_json_begin_object(&w);
        sdc_json_key(&w, "file");
        sdc_json_string(&w, file);
        sdc_json_key(&w, "class");
        sdc_json_string(&w, o->c->class_name);
        write_config(&w, "config", &o->c->config);
        write_summary(&w, o);
        sdc_json_end_object(&w);
    }
    sdc_json_end_object(&w);

    sdc_json_key(&w, "tokenizers");
    sdc_json_begin_object(&w);
    static const char *const toks[2] = {"tokenizer", "tokenizer_2"};
    for (int i = 0; i < 2; i++)
        if (imp->tokenizer_dirs[i]) {
            sdc_json_key(&w, toks[i]);
            sdc_json_string(&w, toks[i]);
        }
    sdc_json_end_object(&w);
    write_config(&w, "scheduler", &imp->scheduler);
    if (imp->feature_extractor.root)
        write_config(&w, "feature_extractor", &imp->feature_extractor);
    if (imp->model_index.root)
        write_config(&w, "model_index", &imp->model_index);
    sdc_json_end_object(&w);
    sdc_buf_append(b, "\n", 1);
}

/* ---------------------------------------------------------------------------------------- */

static sdc_status write_components(job *j)
{
    const sdc_import *imp = j->imp;
    sdc_status st = SDC_STATUS_OK;
    for (size_t i = 0; i < imp->n_components && st == SDC_STATUS_OK; i++) {
        const sdc_import_component *c = &imp->components[i];
        written *o = &j->out[i];
        o->c = c;
        o->policy = policy_for(j, c->name);
        char file[64];
        snprintf(file, sizeof file, "%s.safetensors", c->name);
        char *path = join(j->ctx, j->tmp, file);
        sdc_store *store = NULL;
        if (!path)
            return sdc_fail_oom(j->ctx, j->tmp, 64);
        sdc_log(j->ctx, SDC_LOG_LEVEL_INFO, "convert: writing %s", file);
        st = sdc_import_store(imp, c, &store);
        if (st == SDC_STATUS_OK)
            st = sdc_convert_component(j->ctx, store, c->name, &o->policy, path, &o->summary);
        sdc_store_destroy(store);
        if (st == SDC_STATUS_OK && j->p.check_output_correctness) {
            st = sdc_convert_check(j->ctx, imp, c, path, &o->checked, &o->psnr);
            if (o->checked)
                sdc_log(j->ctx, SDC_LOG_LEVEL_INFO, "convert: %s: %.2f dB against the source",
                        c->name, o->psnr);
        }
        sdc_free(j->ctx, path);
    }
    for (int i = 0; i < 2 && st == SDC_STATUS_OK; i++)
        if (imp->tokenizer_dirs[i])
            st = copy_tokenizer(j, imp->tokenizer_dirs[i], i ? "tokenizer_2" : "tokenizer");
    return st;
}

/* The components whose check failed, as "unet 31.20 dB, ..." (empty when none). */
static void failed_checks(const job *j, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < j->imp->n_components; i++) {
        const written *o = &j->out[i];
        if (!o->checked || o->psnr >= j->p.min_psnr || pos >= size)
            continue;
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s %.2f dB", pos ? ", " : "", o->c->name,
                                o->psnr);
    }
}

/* Puts the finished folder at `output`, replacing a bundle that is there. */
static sdc_status move_into_place(job *j, const char *output)
{
    char old[4096];
    bool replace = exists(output);
    if (replace) {
        snprintf(old, sizeof old, "%s.old%ld", output, (long)getpid());
        remove_tree(old, 0);
        if (rename(output, old) != 0)
            return sdc_fail(j->ctx, SDC_STATUS_IO, "%s: cannot move the old bundle aside: %s",
                            output, strerror(errno));
    }
    if (rename(j->tmp, output) != 0) {
        sdc_status st = sdc_fail(j->ctx, SDC_STATUS_IO, "%s: cannot rename %s into place: %s",
                                 output, j->tmp, strerror(errno));
        if (replace)
            rename(old, output);
        return st;
    }
    if (replace)
        remove_tree(old, 0);
    return SDC_STATUS_OK;
}

sdc_status sdc_convert(sdc_context *ctx, const char *source, const char *output,
                       const sdc_convert_params *params, sdc_bundle_info **info)
{
    if (info)
        *info = NULL;
    job j = {.ctx = ctx};
    sdc_import *imp = NULL;
    sdc_buf index;
    sdc_buf_init(&index, ctx);
    bool made_tmp = false, check_failed = false;
    sdc_status st = read_params(&j, params);
    if (st != SDC_STATUS_OK)
        goto done;
    /* An empty folder is taken (rmdir removes only that); anything else is left alone. */
    if (exists(output) && !sdc_bundle_is(output) && rmdir(output) != 0) {
        st = sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                      "%s exists and is not an sdc bundle (no model.json): not replacing it",
                      output);
        goto done;
    }
    if ((st = sdc_import_open(ctx, source, &imp)) != SDC_STATUS_OK)
        goto done;
    j.imp = imp;
    size_t n = strlen(output) + 32;
    if (!(j.tmp = sdc_malloc(ctx, n))) {
        st = sdc_fail_oom(ctx, output, n);
        goto done;
    }
    snprintf(j.tmp, n, "%s.tmp%ld", output, (long)getpid());
    remove_tree(j.tmp, 0);
    if ((st = make_dir(ctx, j.tmp)) != SDC_STATUS_OK)
        goto done;
    made_tmp = true;
    if ((st = write_components(&j)) != SDC_STATUS_OK)
        goto done;
    write_index(&j, &index);
    char *path = join(ctx, j.tmp, SDC_BUNDLE_INDEX);
    if (index.failed || !path) {
        sdc_free(ctx, path);
        st = sdc_fail_oom(ctx, output, index.len);
        goto done;
    }
    st = sdc_file_write_all(ctx, path, index.data, index.len);
    sdc_free(ctx, path);
    if (st != SDC_STATUS_OK)
        goto done;
    if (info &&
        (st = sdc_bundle_info_parse(ctx, index.data, index.len, output, info)) != SDC_STATUS_OK)
        goto done;
    char failed[512];
    failed_checks(&j, failed, sizeof failed);
    if (failed[0] && !j.p.force) {
        check_failed = true;
        st = sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                      "%s: output correctness check failed: %s under the %.1f dB minimum (no "
                      "bundle written; fewer compressed bits or force keep it)",
                      output, failed, j.p.min_psnr);
        goto done;
    }
    if ((st = move_into_place(&j, output)) == SDC_STATUS_OK)
        made_tmp = false;
done:
    if (st != SDC_STATUS_OK && !check_failed && info) {
        sdc_bundle_info_close(*info);
        *info = NULL;
    }
    if (made_tmp)
        remove_tree(j.tmp, 0);
    sdc_buf_free(&index);
    sdc_free(ctx, j.tmp);
    sdc_import_close(imp);
    sdc_recipe_destroy(j.recipe);
    return st;
}
