/*
 * recipe.c — mixed-bit palettization recipes in the layout of Apple's ml-stable-diffusion
 * (mixed_bit_compression_pre_analysis.py writes it, mixed_bit_compression_apply.py reads it):
 * {"model_version": ..., "baselines": {...}, "recipes": {name: {module: bits}}, ...}, module
 * names as diffusers' named_modules() gives them for the UNet.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_layers(const void *a, const void *b)
{
    return strcmp(((const sdc_recipe_layer *)a)->name, ((const sdc_recipe_layer *)b)->name);
}

void sdc_recipe_destroy(sdc_recipe *recipe)
{
    if (!recipe)
        return;
    for (size_t i = 0; i < recipe->n_layers; i++)
        sdc_free(recipe->ctx, recipe->layers[i].name);
    sdc_free(recipe->ctx, recipe->layers);
    sdc_free(recipe->ctx, recipe->name);
    sdc_free(recipe->ctx, recipe);
}

/* "a", "b", "c" into buf, shortened with "..." when long. */
static void list_names(const sdc_json *recipes, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < recipes->u.object.count && pos + 8 < size; i++) {
        const char *k = recipes->u.object.members[i].key;
        int w = snprintf(buf + pos, size - pos, "%s\"%s\"", i ? ", " : "", k);
        if (w < 0 || (size_t)w >= size - pos) {
            snprintf(buf + (size - 8 > pos ? pos : size - 8), 8, ", ...");
            return;
        }
        pos += (size_t)w;
    }
}

sdc_status sdc_recipe_load(sdc_context *ctx, const char *path, const char *name, sdc_recipe **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    sdc_json_doc *doc = NULL;
    sdc_recipe *r = NULL;
    sdc_status st = sdc_file_read_all(ctx, path, &text, &len);
    if (st != SDC_STATUS_OK)
        return st;
    if ((st = sdc_json_parse(ctx, text, len, path, &doc)) != SDC_STATUS_OK)
        goto done;
    const sdc_json *recipes = sdc_json_get_type(doc->root, "recipes", SDC_JSON_TYPE_OBJECT);
    if (!recipes) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                      "%s: no \"recipes\" object (a mixed-bit recipe file maps recipe names to "
                      "{layer: bits} under \"recipes\")",
                      path);
        goto done;
    }
    const sdc_json *layers = sdc_json_get(recipes, name);
    if (!layers) {
        char names[400];
        list_names(recipes, names, sizeof names);
        st = sdc_fail(ctx, SDC_STATUS_NOT_FOUND, "%s: no recipe \"%s\"; the file has %s", path,
                      name, recipes->u.object.count ? names : "none");
        goto done;
    }
    if (layers->type != SDC_JSON_TYPE_OBJECT) {
        st = sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: recipe \"%s\" is a %s, expected an object", path,
                      name, sdc_json_type_name(layers->type));
        goto done;
    }
    r = sdc_calloc(ctx, 1, sizeof *r);
    size_t n = layers->u.object.count;
    if (!r || !(r->layers = sdc_calloc(ctx, n + 1, sizeof *r->layers)) ||
        !(r->name = sdc_strdup(ctx, name))) {
        st = sdc_fail_oom(ctx, path, (n + 1) * sizeof *r->layers);
        goto done;
    }
    r->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        const sdc_json_member *m = &layers->u.object.members[i];
        const sdc_json *v = m->value;
        int64_t bits =
            v->type == SDC_JSON_TYPE_NUMBER && v->u.number.is_int ? v->u.number.int_value : -1;
        if (bits != 1 && bits != 2 && bits != 4 && bits != 6 && bits != 8 && bits != 16) {
            st = sdc_fail(ctx, SDC_STATUS_FORMAT,
                          "%s: recipe \"%s\": layer \"%s\" has bits that are not 1, 2, 4, 6, 8 "
                          "or 16",
                          path, name, m->key);
            goto done;
        }
        if (!(r->layers[i].name = sdc_strdup(ctx, m->key))) {
            st = sdc_fail_oom(ctx, path, strlen(m->key) + 1);
            goto done;
        }
        r->layers[i].bits = (int)bits;
        r->n_layers = i + 1;
    }
    if (r->n_layers > 1)
        qsort(r->layers, r->n_layers, sizeof *r->layers, compare_layers);
    *out = r;
    r = NULL;
done:
    sdc_recipe_destroy(r);
    sdc_json_free(doc);
    sdc_free(ctx, text);
    return st;
}

int sdc_recipe_bits(const sdc_recipe *recipe, const char *module)
{
    sdc_recipe_layer key = {.name = (char *)module};
    const sdc_recipe_layer *l =
        bsearch(&key, recipe->layers, recipe->n_layers, sizeof key, compare_layers);
    return l ? l->bits : 0;
}
