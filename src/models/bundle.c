/*
 * bundle.c — reading an sdc bundle (docs/bundle-format.md): model.json is parsed and checked
 * once, each component file becomes a store on demand (compressed weights as palettized or int8
 * sdc_weights that the kernels decode per tile), and each component's config.json object is
 * handed to the models' *_config_from_json as a view, so a bundle opens like a diffusers folder.
 * Also the public sdc_bundle_info API of sdc.h, which reads only model.json.
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char *join(sdc_context *ctx, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = sdc_malloc(ctx, n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool sdc_bundle_is(const char *path)
{
    char buf[4096];
    if (!is_dir(path) ||
        snprintf(buf, sizeof buf, "%s/%s", path, SDC_BUNDLE_INDEX) >= (int)sizeof buf)
        return false;
    return is_file(buf);
}

/* A plain file name inside the bundle: no folders, no "..", not empty. */
static bool plain_name(const sdc_json *v)
{
    return v && v->type == SDC_JSON_TYPE_STRING && v->u.string.len > 0 &&
           strlen(v->u.string.chars) == v->u.string.len && !strchr(v->u.string.chars, '/') &&
           strcmp(v->u.string.chars, ".") != 0 && strcmp(v->u.string.chars, "..") != 0;
}

void sdc_bundle_close(sdc_bundle *b)
{
    if (!b)
        return;
    sdc_context *ctx = b->ctx;
    for (size_t i = 0; i < b->n_components; i++)
        sdc_free(ctx, b->components[i].path);
    sdc_free(ctx, b->components);
    for (int i = 0; i < 2; i++)
        sdc_free(ctx, b->tokenizer_dirs[i]);
    sdc_model_config_close(&b->json);
    sdc_free(ctx, b->dir);
    sdc_free(ctx, b);
}

static sdc_status read_components(sdc_bundle *b)
{
    sdc_context *ctx = b->ctx;
    const char *where = b->json.path;
    const sdc_json *comps = sdc_json_get_type(b->json.root, "components", SDC_JSON_TYPE_OBJECT);
    if (!comps)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: no \"components\" object", where);
    size_t n = comps->u.object.count;
    b->components = sdc_calloc(ctx, n + 1, sizeof *b->components);
    if (!b->components)
        return sdc_fail_oom(ctx, where, (n + 1) * sizeof *b->components);
    for (size_t i = 0; i < n; i++) {
        const sdc_json_member *m = &comps->u.object.members[i];
        sdc_bundle_component *c = &b->components[b->n_components];
        const sdc_json *file = sdc_json_get(m->value, "file");
        const sdc_json *cls = sdc_json_get_type(m->value, "class", SDC_JSON_TYPE_STRING);
        const sdc_json *config = sdc_json_get(m->value, "config");
        if (m->value->type != SDC_JSON_TYPE_OBJECT || !plain_name(file) || !cls ||
            (config && config->type != SDC_JSON_TYPE_OBJECT && config->type != SDC_JSON_TYPE_NULL))
            return sdc_fail(ctx, SDC_STATUS_FORMAT,
                            "%s: component \"%s\" needs a \"file\" (a file name in the bundle), "
                            "a \"class\" string and a \"config\" object or null",
                            where, m->key);
        c->name = m->key;
        c->class_name = cls->u.string.chars;
        c->config = config && config->type == SDC_JSON_TYPE_OBJECT ? config : NULL;
        c->summary = sdc_json_get_type(m->value, "compression", SDC_JSON_TYPE_OBJECT);
        if (!(c->path = join(ctx, b->dir, file->u.string.chars)))
            return sdc_fail_oom(ctx, where, strlen(b->dir) + file->u.string.len + 2);
        b->n_components++;
        if (!is_file(c->path))
            return sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: component \"%s\": %s is missing", where,
                            c->name, c->path);
    }
    return SDC_STATUS_OK;
}

static sdc_status read_tokenizers(sdc_bundle *b)
{
    static const char *const names[2] = {"tokenizer", "tokenizer_2"};
    const sdc_json *toks = sdc_json_get(b->json.root, "tokenizers");
    if (!toks || toks->type == SDC_JSON_TYPE_NULL)
        return SDC_STATUS_OK;
    if (toks->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(b->ctx, SDC_STATUS_FORMAT, "%s: \"tokenizers\" must be an object",
                        b->json.path);
    for (int i = 0; i < 2; i++) {
        const sdc_json *dir = sdc_json_get(toks, names[i]);
        if (!dir)
            continue;
        if (!plain_name(dir))
            return sdc_fail(b->ctx, SDC_STATUS_FORMAT,
                            "%s: tokenizer \"%s\" must name a folder in the bundle", b->json.path,
                            names[i]);
        if (!(b->tokenizer_dirs[i] = join(b->ctx, b->dir, dir->u.string.chars)))
            return sdc_fail_oom(b->ctx, b->json.path, 256);
        if (!is_dir(b->tokenizer_dirs[i]))
            return sdc_fail(b->ctx, SDC_STATUS_NOT_FOUND, "%s: tokenizer folder %s is missing",
                            b->json.path, b->tokenizer_dirs[i]);
    }
    return SDC_STATUS_OK;
}

static const sdc_json *object_or_null(const sdc_json *root, const char *key)
{
    return sdc_json_get_type(root, key, SDC_JSON_TYPE_OBJECT);
}

sdc_status sdc_bundle_open(sdc_context *ctx, const char *dir, sdc_bundle **out)
{
    *out = NULL;
    sdc_bundle *b = sdc_calloc(ctx, 1, sizeof *b);
    if (!b)
        return sdc_fail_oom(ctx, dir, sizeof *b);
    b->ctx = ctx;
    b->json.ctx = ctx;
    sdc_status st;
    char *index = NULL;
    if (!(b->dir = sdc_strdup(ctx, dir)) || !(index = join(ctx, dir, SDC_BUNDLE_INDEX))) {
        st = sdc_fail_oom(ctx, dir, strlen(dir) + 32);
        goto fail;
    }
    if ((st = sdc_model_config_open(ctx, index, &b->json)) != SDC_STATUS_OK)
        goto fail;
    const sdc_json *format = sdc_json_get_type(b->json.root, "format", SDC_JSON_TYPE_STRING);
    const sdc_json *version = sdc_json_get_type(b->json.root, "version", SDC_JSON_TYPE_NUMBER);
    if (!format || strcmp(format->u.string.chars, SDC_BUNDLE_FORMAT) != 0 || !version) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: not an sdc bundle index (needs \"format\": \"" SDC_BUNDLE_FORMAT
                      "\" and a \"version\")",
                      index);
        goto fail;
    }
    if (!version->u.number.is_int || version->u.number.int_value != SDC_BUNDLE_VERSION) {
        st = sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                      "%s: bundle format version %g; this sdc reads version %d", index,
                      version->u.number.value, SDC_BUNDLE_VERSION);
        goto fail;
    }
    const sdc_json *family = sdc_json_get_type(b->json.root, "family", SDC_JSON_TYPE_STRING);
    const sdc_json *pipeline = sdc_json_get_type(b->json.root, "pipeline", SDC_JSON_TYPE_STRING);
    b->family = family ? family->u.string.chars : "";
    b->pipeline_class = pipeline ? pipeline->u.string.chars : "";
    b->scheduler = object_or_null(b->json.root, "scheduler");
    b->feature_extractor = object_or_null(b->json.root, "feature_extractor");
    if ((st = read_components(b)) != SDC_STATUS_OK || (st = read_tokenizers(b)) != SDC_STATUS_OK)
        goto fail;
    sdc_free(ctx, index);
    *out = b;
    return SDC_STATUS_OK;
fail:
    sdc_free(ctx, index);
    sdc_bundle_close(b);
    return st;
}

const sdc_bundle_component *sdc_bundle_find(const sdc_bundle *b, const char *name)
{
    for (size_t i = 0; i < b->n_components; i++)
        if (strcmp(b->components[i].name, name) == 0)
            return &b->components[i];
    return NULL;
}

static sdc_status find(const sdc_bundle *b, const char *name, const sdc_bundle_component **out)
{
    *out = sdc_bundle_find(b, name);
    if (!*out)
        return sdc_fail(b->ctx, SDC_STATUS_NOT_FOUND, "%s: the bundle has no component \"%s\"",
                        b->dir, name);
    return SDC_STATUS_OK;
}

sdc_status sdc_bundle_config(const sdc_bundle *b, const char *name, sdc_model_config *out)
{
    const sdc_bundle_component *c;
    memset(out, 0, sizeof *out);
    TRY_RETURN(find(b, name, &c));
    char what[600];
    snprintf(what, sizeof what, "%s: config of \"%s\"", b->json.path, name);
    if (!c->config)
        return sdc_fail(b->ctx, SDC_STATUS_NOT_FOUND, "%s is null", what);
    return sdc_model_config_view(b->ctx, c->config, what, out);
}

sdc_status sdc_bundle_store(sdc_context *ctx, const sdc_bundle *b, const char *name,
                            sdc_store **out)
{
    const sdc_bundle_component *c;
    *out = NULL;
    TRY_RETURN(find(b, name, &c));
    return sdc_store_open_file(ctx, c->path, out);
}

const char *sdc_bundle_tokenizer_dir(const sdc_bundle *b, const char *name)
{
    if (strcmp(name, "tokenizer") == 0)
        return b->tokenizer_dirs[0];
    if (strcmp(name, "tokenizer_2") == 0)
        return b->tokenizer_dirs[1];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Models from a bundle                                                                       */

sdc_status sdc_bundle_open_unet(sdc_context *ctx, const sdc_bundle *b, sdc_unet **out)
{
    sdc_model_config json;
    sdc_unet_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_bundle_config(b, "unet", &json));
    sdc_status st = sdc_unet_config_from_json(&json, false, &config);
    sdc_model_config_close(&json);
    TRY_RETURN(st);
    TRY_RETURN(sdc_bundle_store(ctx, b, "unet", &store));
    return sdc_unet_load(ctx, store, &config, out);
}

sdc_status sdc_bundle_open_vae(sdc_context *ctx, const sdc_bundle *b, sdc_vae **out)
{
    sdc_model_config json;
    sdc_vae_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_bundle_config(b, "vae", &json));
    sdc_status st = sdc_vae_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    TRY_RETURN(st);
    TRY_RETURN(sdc_bundle_store(ctx, b, "vae", &store));
    return sdc_vae_load(ctx, store, &config, out);
}

sdc_status sdc_bundle_open_clip_text(sdc_context *ctx, const sdc_bundle *b, const char *name,
                                     sdc_clip_text **out)
{
    sdc_model_config json;
    sdc_clip_text_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_bundle_config(b, name, &json));
    sdc_status st = sdc_clip_text_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    TRY_RETURN(st);
    TRY_RETURN(sdc_bundle_store(ctx, b, name, &store));
    /* As sdc_clip_text_open_diffusers: the weights say whether the model projects. */
    if (!sdc_store_has(store, "text_projection.weight"))
        config.projection_dim = 0;
    return sdc_clip_text_load(ctx, store, &config, out);
}

sdc_status sdc_bundle_open_controlnet(sdc_context *ctx, const sdc_bundle *b, sdc_controlnet **out)
{
    sdc_model_config json;
    sdc_controlnet_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_bundle_config(b, "controlnet", &json));
    sdc_status st = sdc_controlnet_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    TRY_RETURN(st);
    TRY_RETURN(sdc_bundle_store(ctx, b, "controlnet", &store));
    return sdc_controlnet_load(ctx, store, &config, out);
}

sdc_status sdc_bundle_open_safety_checker(sdc_context *ctx, const sdc_bundle *b,
                                          sdc_safety_checker **out)
{
    sdc_model_config json;
    sdc_safety_checker_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_bundle_config(b, "safety_checker", &json));
    sdc_status st = sdc_safety_checker_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    TRY_RETURN(st);
    TRY_RETURN(sdc_bundle_store(ctx, b, "safety_checker", &store));
    return sdc_safety_checker_load(ctx, store, &config, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Public summary (sdc.h)                                                                     */

struct sdc_bundle_info {
    sdc_context *ctx;
    sdc_bundle *bundle;    /* when opened from a folder */
    sdc_model_config json; /* when made from model.json text (a conversion's result) */
    const sdc_json *root;
    const sdc_json *components;
};

static sdc_status info_from(sdc_context *ctx, sdc_bundle_info *info, const sdc_json *root,
                            const char *what)
{
    info->root = root;
    info->components = sdc_json_get_type(root, "components", SDC_JSON_TYPE_OBJECT);
    if (!info->components)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: no \"components\" object", what);
    return SDC_STATUS_OK;
}

sdc_status sdc_bundle_info_open(sdc_context *ctx, const char *path, sdc_bundle_info **out)
{
    *out = NULL;
    sdc_bundle_info *info = sdc_calloc(ctx, 1, sizeof *info);
    if (!info)
        return sdc_fail_oom(ctx, path, sizeof *info);
    info->ctx = ctx;
    sdc_status st = sdc_bundle_open(ctx, path, &info->bundle);
    if (st == SDC_STATUS_OK)
        st = info_from(ctx, info, info->bundle->json.root, info->bundle->json.path);
    if (st != SDC_STATUS_OK) {
        sdc_bundle_info_close(info);
        return st;
    }
    *out = info;
    return SDC_STATUS_OK;
}

sdc_status sdc_bundle_info_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                                 sdc_bundle_info **out)
{
    *out = NULL;
    sdc_bundle_info *info = sdc_calloc(ctx, 1, sizeof *info);
    if (!info)
        return sdc_fail_oom(ctx, what, sizeof *info);
    info->ctx = ctx;
    sdc_status st = sdc_model_config_parse(ctx, text, len, what, &info->json);
    if (st == SDC_STATUS_OK)
        st = info_from(ctx, info, info->json.root, what);
    if (st != SDC_STATUS_OK) {
        sdc_bundle_info_close(info);
        return st;
    }
    *out = info;
    return SDC_STATUS_OK;
}

void sdc_bundle_info_close(sdc_bundle_info *info)
{
    if (!info)
        return;
    sdc_bundle_close(info->bundle);
    sdc_model_config_close(&info->json);
    sdc_free(info->ctx, info);
}

/* Fields of a summary object that may be absent (o may be NULL). */
static const char *string_of(const sdc_json *o, const char *key)
{
    const sdc_json *v = o ? sdc_json_get_type(o, key, SDC_JSON_TYPE_STRING) : NULL;
    return v ? v->u.string.chars : "";
}

static double number_of(const sdc_json *o, const char *key)
{
    const sdc_json *v = o ? sdc_json_get_type(o, key, SDC_JSON_TYPE_NUMBER) : NULL;
    return v ? v->u.number.value : 0.0;
}

static uint64_t count_of(const sdc_json *o, const char *key)
{
    const sdc_json *v = o ? sdc_json_get_type(o, key, SDC_JSON_TYPE_NUMBER) : NULL;
    return v && v->u.number.is_int && v->u.number.int_value > 0 ? (uint64_t)v->u.number.int_value
                                                                : 0;
}

const char *sdc_bundle_info_family(const sdc_bundle_info *info)
{
    return string_of(info->root, "family");
}

const char *sdc_bundle_info_weights(const sdc_bundle_info *info)
{
    return string_of(info->root, "weights");
}

size_t sdc_bundle_info_component_count(const sdc_bundle_info *info)
{
    return info->components->u.object.count;
}

sdc_status sdc_bundle_info_component(const sdc_bundle_info *info, size_t index,
                                     sdc_bundle_component_info *out)
{
    memset(out, 0, sizeof *out);
    if (index >= info->components->u.object.count)
        return sdc_fail(info->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "component index %zu is out of range (the bundle has %zu)", index,
                        info->components->u.object.count);
    const sdc_json_member *m = &info->components->u.object.members[index];
    const sdc_json *s = sdc_json_get_type(m->value, "compression", SDC_JSON_TYPE_OBJECT);
    out->name = m->key;
    out->file = string_of(m->value, "file");
    out->class_name = string_of(m->value, "class");
    out->compression = s ? string_of(s, "method") : "";
    out->bits = (int)count_of(s, "bits");
    out->parameters = count_of(s, "parameters");
    out->source_bytes = count_of(s, "source_bytes");
    out->bytes = count_of(s, "bytes");
    out->file_bytes = count_of(s, "file_bytes");
    out->bits_per_weight = number_of(s, "bits_per_weight");
    out->compressed_parameters = count_of(s, "compressed_parameters");
    out->compressed_bits_per_weight = number_of(s, "compressed_bits_per_weight");
    const sdc_json *psnr = s ? sdc_json_get_type(s, "psnr", SDC_JSON_TYPE_NUMBER) : NULL;
    out->checked = psnr != NULL;
    out->psnr = psnr ? psnr->u.number.value : 0.0;
    return SDC_STATUS_OK;
}
