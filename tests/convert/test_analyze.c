/*
 * Acceptance of issue 8, point 5: `sdc analyze` then `sdc convert --recipe --select` end to end on
 * sd1-tiny (src/convert/analyze.c and recipe.c): the recipe file has the seed project's layout
 * (model_version, single_layer and cumulative per bit width with a PSNR per prompt, baselines
 * original and linear_8bit, recipes of {diffusers module: bits}), the numbers hang together,
 * every recipe converts, the bundle's UNet carries the recipe's bits, and it generates.
 * Slow: 17 layers x (5 x 2 + recipes) one-step generations.
 */
#include "convert_test.h"

#include <stdio.h>

#define SD1 SDC_BUILD_FIXTURES_DIR "/models/sd1-tiny"

static sdc_context *ctx;

static bool valid_bits(int64_t b)
{
    return b == 1 || b == 2 || b == 4 || b == 6 || b == 8 || b == 16;
}

static void test_analyze_then_convert(void)
{
    const char *path = test_tmp_path("sd1-tiny_recipe.json");
    static const char *const prompts[] = {"a photo of an astronaut riding a horse"};
    sdc_analyze_params p = sdc_analyze_default_params();
    p.prompts = prompts;
    p.n_prompts = 1;
    p.width = p.height = 64;
    p.min_elements = 40000; /* the tiny UNet's 17 largest layers */
    p.num_recipes = 4;
    p.model_version = "sd1-tiny";
    sdc_status st = sdc_analyze(ctx, SD1, path, &p);
    CHECK_MSG(st == SDC_STATUS_OK, "analyze: %s", sdc_context_errmsg(ctx));
    sdc_model_config json;
    if (st != SDC_STATUS_OK || sdc_model_config_open(ctx, path, &json) != SDC_STATUS_OK)
        return;
    const sdc_json *root = json.root;
    const sdc_json *version = sdc_json_get_type(root, "model_version", SDC_JSON_TYPE_STRING);
    CHECK(version && strcmp(version->u.string.chars, "sd1-tiny") == 0);
    const sdc_json *single = sdc_json_get_type(root, "single_layer", SDC_JSON_TYPE_OBJECT);
    const sdc_json *cumul = sdc_json_get_type(root, "cumulative", SDC_JSON_TYPE_OBJECT);
    const sdc_json *base = sdc_json_get_type(root, "baselines", SDC_JSON_TYPE_OBJECT);
    const sdc_json *recipes = sdc_json_get_type(root, "recipes", SDC_JSON_TYPE_OBJECT);
    if (!single || !cumul || !base || !recipes) {
        CHECK_MSG(false, "the seed project's keys are present");
        sdc_model_config_close(&json);
        return;
    }
    static const char *const bits[] = {"1", "2", "4", "6", "8"};
    for (int b = 0; b < 5; b++) {
        const sdc_json *s = sdc_json_get_type(single, bits[b], SDC_JSON_TYPE_OBJECT);
        const sdc_json *c = sdc_json_get_type(cumul, bits[b], SDC_JSON_TYPE_OBJECT);
        CHECK(s && s->u.object.count == 17);
        CHECK(c && c->u.object.count == 18); /* + metadata */
        const sdc_json *meta = c ? sdc_json_get_type(c, "metadata", SDC_JSON_TYPE_OBJECT) : NULL;
        const sdc_json *cands =
            meta ? sdc_json_get_type(meta, "candidates", SDC_JSON_TYPE_ARRAY) : NULL;
        const sdc_json *sizes = meta ? sdc_json_get_type(meta, "sizes", SDC_JSON_TYPE_ARRAY) : NULL;
        CHECK(cands && cands->u.array.count == 17 && sizes && sizes->u.array.count == 17);
        /* Cumulative palettization never beats a single layer's (here: the first). */
        if (s && c && cands) {
            const char *first = cands->u.array.items[0]->u.string.chars;
            const sdc_json *one = sdc_json_get_type(s, first, SDC_JSON_TYPE_ARRAY);
            const sdc_json *cum = sdc_json_get_type(c, first, SDC_JSON_TYPE_ARRAY);
            CHECK(one && cum && one->u.array.count == 1 &&
                  one->u.array.items[0]->u.number.value == cum->u.array.items[0]->u.number.value);
        }
    }
    const sdc_json *original = sdc_json_get_type(base, "original", SDC_JSON_TYPE_NUMBER);
    const sdc_json *linear = sdc_json_get_type(base, "linear_8bit", SDC_JSON_TYPE_NUMBER);
    CHECK(original && linear && original->u.number.value > 150.0 &&
          linear->u.number.value < original->u.number.value && linear->u.number.value > 20.0);
    CHECK(recipes->u.object.count >= 2);
    for (size_t i = 0; i < recipes->u.object.count; i++) {
        const sdc_json_member *m = &recipes->u.object.members[i];
        CHECK(sdc_json_get_type(base, m->key, SDC_JSON_TYPE_NUMBER) != NULL);
        CHECK(strncmp(m->key, "recipe_", 7) == 0 && strstr(m->key, "_bit_mixedpalette"));
        bool ok = m->value->type == SDC_JSON_TYPE_OBJECT && m->value->u.object.count == 17;
        for (size_t k = 0; ok && k < m->value->u.object.count; k++)
            ok = valid_bits(m->value->u.object.members[k].value->u.number.int_value);
        CHECK_MSG(ok, "recipe %s maps the 17 layers to valid bits", m->key);
    }

    /* The smallest recipe, applied. */
    const sdc_json_member *last = &recipes->u.object.members[recipes->u.object.count - 1];
    sdc_convert_params cp = sdc_convert_default_params();
    cp.recipe = path;
    cp.recipe_name = last->key;
    const char *out = test_tmp_path("sd1-tiny_recipe.sdc");
    sdc_bundle_info *info = NULL;
    st = sdc_convert(ctx, SD1, out, &cp, &info);
    CHECK_MSG(st == SDC_STATUS_OK, "convert --recipe: %s", sdc_context_errmsg(ctx));
    sdc_bundle *b = NULL;
    sdc_store *s = NULL;
    if (st == SDC_STATUS_OK && sdc_bundle_open(ctx, out, &b) == SDC_STATUS_OK &&
        sdc_bundle_store(ctx, b, "unet", &s) == SDC_STATUS_OK) {
        bool ok = true;
        for (size_t k = 0; k < last->value->u.object.count; k++) {
            const sdc_json_member *l = &last->value->u.object.members[k];
            char name[300];
            snprintf(name, sizeof name, "%s.weight", l->key);
            const sdc_store_entry *e = sdc_store_find(s, name);
            int64_t want = l->value->u.number.int_value;
            ok = ok && e &&
                 (want == 16 ? e->storage == SDC_ST_STORAGE_DENSE
                             : e->storage == SDC_ST_STORAGE_PALETTE && e->bits == want);
        }
        CHECK_MSG(ok, "the bundle's UNet layers have the recipe's bits");
        sdc_bundle_component_info c;
        for (size_t i = 0; info && i < sdc_bundle_info_component_count(info); i++)
            if (sdc_bundle_info_component(info, i, &c) == SDC_STATUS_OK &&
                strcmp(c.name, "unet") == 0)
                CHECK_EQ_STR(c.compression, "mixed");
    }
    sdc_store_destroy(s);
    sdc_bundle_close(b);
    sdc_bundle_info_close(info);
    /* and it generates */
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    sdc_generation_params gp = sdc_generation_default_params();
    gp.prompt = "a cat";
    gp.steps = 2;
    gp.width = gp.height = 64;
    gp.disable_safety_checker = 1;
    CHECK(sdc_model_open(ctx, out, NULL, &model) == SDC_STATUS_OK &&
          sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK &&
          sdc_generation_run(gen, &gp) == SDC_STATUS_OK && sdc_generation_image_count(gen) == 1);
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_model_config_close(&json);
}

static void test_refusals(void)
{
    sdc_analyze_params p = sdc_analyze_default_params();
    const char *out = test_tmp_path("none.json");
    p.min_elements = 100000000;
    MT_CHECK_ERROR(ctx, sdc_analyze(ctx, SD1, out, &p), SDC_STATUS_INVALID_ARGUMENT,
                   "no UNet layer", "100000000");
    MT_CHECK_ERROR(ctx, sdc_analyze(ctx, SD1 "-missing", out, &p), SDC_STATUS_NOT_FOUND, "missing",
                   NULL);
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_analyze_then_convert);
    RUN(test_refusals);
    sdc_context_destroy(ctx);
    return test_finish();
}
