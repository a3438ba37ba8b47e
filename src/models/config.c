/*
 * config.c — reading a diffusers config.json (UNet2DConditionModel, AutoencoderKL,
 * ControlNetModel): typed getters where an absent key or null gives the class default and a
 * value of the wrong type is an error naming the file and the key.
 */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

sdc_status sdc_model_config_open(sdc_context *ctx, const char *path, sdc_model_config *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = ctx;
    size_t len = 0;
    sdc_status st = sdc_file_read_all(ctx, path, &out->text, &len);
    if (st != SDC_STATUS_OK)
        return st;
    st = sdc_json_parse(ctx, out->text, len, path, &out->doc);
    if (st != SDC_STATUS_OK)
        goto fail;
    if (out->doc->root->type != SDC_JSON_TYPE_OBJECT) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object, found %s", path,
                      sdc_json_type_name(out->doc->root->type));
        goto fail;
    }
    out->path = sdc_strdup(ctx, path);
    if (!out->path) {
        st = sdc_fail_oom(ctx, path, strlen(path) + 1);
        goto fail;
    }
    out->root = out->doc->root;
    return SDC_STATUS_OK;
fail:
    sdc_model_config_close(out);
    return st;
}

sdc_status sdc_model_config_open_dir(sdc_context *ctx, const char *dir, sdc_model_config *out)
{
    size_t len = strlen(dir) + sizeof "/config.json";
    char *path = sdc_malloc(ctx, len);
    if (!path) {
        memset(out, 0, sizeof *out);
        return sdc_fail_oom(ctx, dir, len);
    }
    snprintf(path, len, "%s/config.json", dir);
    sdc_status st = sdc_model_config_open(ctx, path, out);
    sdc_free(ctx, path);
    return st;
}

sdc_status sdc_model_config_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                                  sdc_model_config *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = ctx;
    sdc_status st;
    if (!(out->text = sdc_strndup(ctx, text, len)) || !(out->path = sdc_strdup(ctx, what))) {
        st = sdc_fail_oom(ctx, what, len + strlen(what) + 2);
        goto fail;
    }
    if ((st = sdc_json_parse(ctx, out->text, len, what, &out->doc)) != SDC_STATUS_OK)
        goto fail;
    if (out->doc->root->type != SDC_JSON_TYPE_OBJECT) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object, found %s", what,
                      sdc_json_type_name(out->doc->root->type));
        goto fail;
    }
    out->root = out->doc->root;
    return SDC_STATUS_OK;
fail:
    sdc_model_config_close(out);
    return st;
}

sdc_status sdc_model_config_view(sdc_context *ctx, const sdc_json *object, const char *what,
                                 sdc_model_config *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = ctx;
    if (!object || object->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: expected a JSON object, found %s", what,
                        object ? sdc_json_type_name(object->type) : "nothing");
    if (!(out->path = sdc_strdup(ctx, what)))
        return sdc_fail_oom(ctx, what, strlen(what) + 1);
    out->root = object;
    return SDC_STATUS_OK;
}

void sdc_model_config_close(sdc_model_config *c)
{
    sdc_json_free(c->doc);
    sdc_free(c->ctx, c->text);
    sdc_free(c->ctx, c->path);
    c->doc = NULL;
    c->text = NULL;
    c->path = NULL;
    c->root = NULL;
}

/* The value of key, or NULL when absent or null. */
static const sdc_json *value_of(const sdc_model_config *c, const char *key)
{
    const sdc_json *v = sdc_json_get(c->root, key);
    return v && v->type != SDC_JSON_TYPE_NULL ? v : NULL;
}

static sdc_status wrong_type(const sdc_model_config *c, const char *key, const sdc_json *v,
                             const char *expected)
{
    return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: \"%s\" is of type %s, expected %s", c->path,
                    key, sdc_json_type_name(v->type), expected);
}

static bool as_int(const sdc_json *v, int64_t *out)
{
    if (v->type != SDC_JSON_TYPE_NUMBER)
        return false;
    if (v->u.number.is_int) {
        *out = v->u.number.int_value;
        return true;
    }
    /* 1.0 written for an integer: accept exact whole numbers. */
    double d = v->u.number.value;
    if (d != (double)(int64_t)d || d > 9e15 || d < -9e15)
        return false;
    *out = (int64_t)d;
    return true;
}

sdc_status sdc_model_config_int(const sdc_model_config *c, const char *key, int64_t def,
                                int64_t *out)
{
    const sdc_json *v = value_of(c, key);
    *out = def;
    if (v && !as_int(v, out))
        return wrong_type(c, key, v, "an integer");
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_float(const sdc_model_config *c, const char *key, double def,
                                  double *out)
{
    const sdc_json *v = value_of(c, key);
    *out = def;
    if (!v)
        return SDC_STATUS_OK;
    if (v->type != SDC_JSON_TYPE_NUMBER)
        return wrong_type(c, key, v, "a number");
    *out = v->u.number.value;
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_bool(const sdc_model_config *c, const char *key, bool def, bool *out)
{
    const sdc_json *v = value_of(c, key);
    *out = def;
    if (!v)
        return SDC_STATUS_OK;
    if (v->type != SDC_JSON_TYPE_BOOL)
        return wrong_type(c, key, v, "true or false");
    *out = v->u.boolean;
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_string(const sdc_model_config *c, const char *key, const char *def,
                                   const char **out)
{
    const sdc_json *v = value_of(c, key);
    *out = def;
    if (!v)
        return SDC_STATUS_OK;
    if (v->type != SDC_JSON_TYPE_STRING)
        return wrong_type(c, key, v, "a string");
    *out = v->u.string.chars;
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_int_list(const sdc_model_config *c, const char *key, int64_t *vals,
                                     int max, int *n)
{
    const sdc_json *v = value_of(c, key);
    *n = 0;
    if (!v)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: \"%s\" is missing", c->path, key);
    if (v->type != SDC_JSON_TYPE_ARRAY)
        return wrong_type(c, key, v, "a list of integers");
    if (v->u.array.count == 0 || v->u.array.count > (size_t)max)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"%s\" has %zu entries; sdc handles 1 to %d", c->path, key,
                        v->u.array.count, max);
    for (size_t i = 0; i < v->u.array.count; i++)
        if (!as_int(v->u.array.items[i], &vals[i]))
            return wrong_type(c, key, v->u.array.items[i], "an integer in the list");
    *n = (int)v->u.array.count;
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_int_or_list(const sdc_model_config *c, const char *key, int n,
                                        int64_t def, int64_t *vals)
{
    const sdc_json *v = value_of(c, key);
    for (int i = 0; i < n; i++)
        vals[i] = def;
    if (!v)
        return SDC_STATUS_OK;
    int64_t one;
    if (as_int(v, &one)) {
        for (int i = 0; i < n; i++)
            vals[i] = one;
        return SDC_STATUS_OK;
    }
    if (v->type != SDC_JSON_TYPE_ARRAY)
        return wrong_type(c, key, v, "an integer or a list of integers");
    if (v->u.array.count != (size_t)n)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT,
                        "%s: \"%s\" has %zu entries, expected %d (one per block)", c->path, key,
                        v->u.array.count, n);
    for (int i = 0; i < n; i++)
        if (!as_int(v->u.array.items[i], &vals[i]))
            return wrong_type(c, key, v->u.array.items[i], "an integer in the list");
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_string_list(const sdc_model_config *c, const char *key,
                                        const char **vals, int max, int *n)
{
    const sdc_json *v = value_of(c, key);
    *n = 0;
    if (!v)
        return sdc_fail(c->ctx, SDC_STATUS_FORMAT, "%s: \"%s\" is missing", c->path, key);
    if (v->type != SDC_JSON_TYPE_ARRAY)
        return wrong_type(c, key, v, "a list of strings");
    if (v->u.array.count == 0 || v->u.array.count > (size_t)max)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"%s\" has %zu entries; sdc handles 1 to %d", c->path, key,
                        v->u.array.count, max);
    for (size_t i = 0; i < v->u.array.count; i++) {
        if (v->u.array.items[i]->type != SDC_JSON_TYPE_STRING)
            return wrong_type(c, key, v->u.array.items[i], "a string in the list");
        vals[i] = v->u.array.items[i]->u.string.chars;
    }
    *n = (int)v->u.array.count;
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_expect_string(const sdc_model_config *c, const char *key,
                                          const char *supported)
{
    const char *s = NULL;
    sdc_status st = sdc_model_config_string(c, key, supported, &s);
    if (st != SDC_STATUS_OK)
        return st;
    if ((s == NULL) != (supported == NULL) || (s && strcmp(s, supported) != 0))
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED, "%s: \"%s\" is \"%s\"; sdc supports %s%s%s",
                        c->path, key, s ? s : "null", supported ? "\"" : "",
                        supported ? supported : "only null", supported ? "\"" : "");
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_expect_bool(const sdc_model_config *c, const char *key, bool supported)
{
    const sdc_json *v = value_of(c, key);
    if (!v)
        return SDC_STATUS_OK;
    /* only_cross_attention may be a list of booleans, one per block. */
    if (v->type == SDC_JSON_TYPE_ARRAY) {
        for (size_t i = 0; i < v->u.array.count; i++) {
            const sdc_json *e = v->u.array.items[i];
            if (e->type != SDC_JSON_TYPE_BOOL)
                return wrong_type(c, key, e, "true or false in the list");
            if (e->u.boolean != supported)
                return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                                "%s: \"%s\"[%zu] is %s; sdc supports only %s", c->path, key, i,
                                e->u.boolean ? "true" : "false", supported ? "true" : "false");
        }
        return SDC_STATUS_OK;
    }
    bool b;
    sdc_status st = sdc_model_config_bool(c, key, supported, &b);
    if (st != SDC_STATUS_OK)
        return st;
    if (b != supported)
        return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED, "%s: \"%s\" is %s; sdc supports only %s",
                        c->path, key, b ? "true" : "false", supported ? "true" : "false");
    return SDC_STATUS_OK;
}

sdc_status sdc_model_config_expect_null(const sdc_model_config *c, const char *key)
{
    const sdc_json *v = value_of(c, key);
    if (!v)
        return SDC_STATUS_OK;
    return sdc_fail(c->ctx, SDC_STATUS_UNSUPPORTED,
                    "%s: \"%s\" is set (of type %s); sdc supports only null here", c->path, key,
                    sdc_json_type_name(v->type));
}
