/*
 * Tests src/convert/bundle.c (sdc_convert) with import.c, configs.c and the bundle reader on the
 * tiny fixture models: every tensor of every component reads back from the bundle as its source
 * (dense, 6-bit palettized, int8, f32) from diffusers folders and single files; configs written
 * for single files load as the same models; reruns give byte-identical folders; the summary;
 * recipes in the seed project's layout; the output-correctness check and its failure; and the
 * refusals (an output that is not a bundle, bad parameters, an unknown recipe).
 */
#include "convert/import.h"
#include "convert_test.h"

#include <stdio.h>
#include <sys/stat.h>

#define MODELS SDC_BUILD_FIXTURES_DIR "/models/"

static sdc_context *ctx;

/* The policy bundle.c gives a component under params p (mirrors policy_for, by the rules in
 * sdc.h: the UNet, text encoders and ControlNets are compressed, the VAE when asked). */
static sdc_component_policy policy_of(const char *name, const sdc_convert_params *p,
                                      const sdc_recipe *recipe)
{
    sdc_component_policy pol = {.dtype = !p->weights || strcmp(p->weights, "f16") == 0
                                             ? SDC_DTYPE_F16
                                         : strcmp(p->weights, "f32") == 0 ? SDC_DTYPE_F32
                                                                          : SDC_DTYPE_BF16,
                                .palette_groups = p->palette_groups ? p->palette_groups : 1,
                                .min_elements = p->min_elements ? p->min_elements : 2048};
    bool compressible = strcmp(name, "vae") != 0 && strcmp(name, "safety_checker") != 0;
    if (!compressible && !(p->compress_vae && strcmp(name, "vae") == 0))
        return pol;
    if (p->int8) {
        pol.compression = SDC_COMPRESSION_INT8;
    } else if (recipe && strcmp(name, "unet") == 0) {
        pol.compression = SDC_COMPRESSION_PALETTE;
        pol.recipe = recipe;
    } else if (p->palettize_bits) {
        pol.compression = SDC_COMPRESSION_PALETTE;
        pol.bits = p->palettize_bits;
    }
    return pol;
}

/* Converts `source` with p and checks every tensor of every component against the source. */
static void round_trip(const char *source, const char *out_name, sdc_convert_params p,
                       const sdc_recipe *recipe)
{
    const char *out = test_tmp_path(out_name);
    sdc_bundle_info *info = NULL;
    sdc_status st = sdc_convert(ctx, source, out, &p, &info);
    CHECK_MSG(st == SDC_STATUS_OK, "convert %s: %s", source, sdc_context_errmsg(ctx));
    sdc_import *imp = NULL;
    sdc_bundle *b = NULL;
    if (st != SDC_STATUS_OK || sdc_import_open(ctx, source, &imp) != SDC_STATUS_OK ||
        sdc_bundle_open(ctx, out, &b) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: %s", out, sdc_context_errmsg(ctx));
        goto done;
    }
    CHECK_EQ_INT(b->n_components, imp->n_components);
    CHECK_EQ_INT(sdc_bundle_info_component_count(info), imp->n_components);
    CHECK_EQ_STR(b->family, imp->family);
    for (size_t i = 0; i < imp->n_components && i < b->n_components; i++) {
        const sdc_import_component *c = &imp->components[i];
        sdc_component_policy pol = policy_of(c->name, &p, recipe);
        sdc_store *sa = NULL, *sb = NULL;
        CHECK_EQ_STR(b->components[i].name, c->name);
        if (sdc_import_store(imp, c, &sa) != SDC_STATUS_OK ||
            sdc_bundle_store(ctx, b, c->name, &sb) != SDC_STATUS_OK) {
            CHECK_MSG(false, "%s: %s", c->name, sdc_context_errmsg(ctx));
        } else {
            CHECK_EQ_INT(sb->n_entries, sa->n_entries);
            size_t bad = 0, compressed = 0;
            for (size_t k = 0; k < sa->n_entries && k < sb->n_entries; k++) {
                compressed += sb->entries[k].storage != SDC_ST_STORAGE_DENSE;
                if (!ct_entry_reads_back(sa, &sa->entries[k], sb, &sb->entries[k], &pol) &&
                    bad++ == 0)
                    CHECK_MSG(false, "%s %s: tensor '%s' does not read back as stated", out,
                              c->name, sa->entries[k].name);
            }
            CHECK_MSG(bad == 0, "%s %s: %zu of %zu tensors differ", out, c->name, bad,
                      sa->n_entries);
            sdc_bundle_component_info ci;
            CHECK(sdc_bundle_info_component(info, i, &ci) == SDC_STATUS_OK);
            CHECK_EQ_STR(ci.name, c->name);
            CHECK(pol.compression == SDC_COMPRESSION_NONE || compressed > 0);
            CHECK((compressed > 0) == (strcmp(ci.compression, "none") != 0));
        }
        sdc_store_destroy(sa);
        sdc_store_destroy(sb);
    }
done:
    sdc_bundle_close(b);
    sdc_import_close(imp);
    sdc_bundle_info_close(info);
}

static void test_round_trips(void)
{
    sdc_convert_params p = sdc_convert_default_params();
    p.palettize_bits = 6;
    round_trip(MODELS "sd1-tiny", "sd1_p6.sdc", p, NULL);
    p.palettize_bits = 0;
    p.int8 = 1;
    p.compress_vae = 1;
    round_trip(MODELS "sd2-tiny.ckpt", "sd2_int8.sdc", p, NULL);
    p = sdc_convert_default_params();
    p.weights = "f32";
    round_trip(MODELS "sdxl-tiny.safetensors", "sdxl_f32.sdc", p, NULL);
    p.weights = "bf16";
    p.palettize_bits = 2;
    p.palette_groups = 3;
    round_trip(MODELS "controlnet-sd1-tiny", "cn_p2.sdc", p, NULL);
}

/* A single file's written configs give the same models as the ones derived from its tensors. */
static void test_single_file_configs(void)
{
    const char *out = test_tmp_path("sdxl_single.sdc");
    sdc_bundle *b = NULL;
    sdc_weights_file *wf = NULL;
    if (sdc_convert(ctx, MODELS "sdxl-tiny.safetensors", out, NULL, NULL) != SDC_STATUS_OK ||
        sdc_bundle_open(ctx, out, &b) != SDC_STATUS_OK ||
        sdc_weights_file_open(ctx, MODELS "sdxl-tiny.safetensors", &wf) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s", sdc_context_errmsg(ctx));
        return;
    }
    sdc_unet *u1 = NULL, *u2 = NULL;
    sdc_vae *v1 = NULL, *v2 = NULL;
    sdc_clip_text *t1 = NULL, *t2 = NULL;
    CHECK(sdc_unet_open_single_file(ctx, wf, &u1) == SDC_STATUS_OK);
    CHECK(sdc_bundle_open_unet(ctx, b, &u2) == SDC_STATUS_OK);
    CHECK(sdc_vae_open_single_file(ctx, wf, &v1) == SDC_STATUS_OK);
    CHECK(sdc_bundle_open_vae(ctx, b, &v2) == SDC_STATUS_OK);
    CHECK(sdc_clip_text_open_single_file(ctx, wf, SDC_CLIP_LDM_LAYOUT_SDXL_G, &t1) ==
          SDC_STATUS_OK);
    CHECK(sdc_bundle_open_clip_text(ctx, b, "text_encoder_2", &t2) == SDC_STATUS_OK);
    if (u1 && u2) {
        const sdc_unet_config *a = sdc_unet_get_config(u1), *c = sdc_unet_get_config(u2);
        bool same =
            a->n_levels == c->n_levels && a->text_time == c->text_time &&
            a->addition_time_embed_dim == c->addition_time_embed_dim &&
            a->projection_class_embeddings_input_dim == c->projection_class_embeddings_input_dim &&
            a->cross_attention_dim == c->cross_attention_dim && a->norm_eps == c->norm_eps &&
            a->freq_shift == c->freq_shift && a->time_embed_dim == c->time_embed_dim &&
            a->use_linear_projection == c->use_linear_projection;
        for (int i = 0; i < a->n_levels; i++)
            same = same && a->block_out_channels[i] == c->block_out_channels[i] &&
                   a->n_heads[i] == c->n_heads[i] &&
                   a->transformer_layers[i] == c->transformer_layers[i] &&
                   a->down_attention[i] == c->down_attention[i] &&
                   a->up_attention[i] == c->up_attention[i];
        CHECK_MSG(same, "UNet config written for the single file reads back the same");
    }
    if (v1 && v2)
        CHECK(sdc_vae_get_config(v1)->scaling_factor == sdc_vae_get_config(v2)->scaling_factor &&
              sdc_vae_get_config(v2)->scaling_factor == 0.13025f);
    if (t1 && t2)
        CHECK(memcmp(sdc_clip_text_get_config(t1), sdc_clip_text_get_config(t2),
                     sizeof(sdc_clip_text_config)) == 0);
    sdc_unet_destroy(u1);
    sdc_unet_destroy(u2);
    sdc_vae_destroy(v1);
    sdc_vae_destroy(v2);
    sdc_clip_text_destroy(t1);
    sdc_clip_text_destroy(t2);
    sdc_weights_file_release(ctx, wf);
    sdc_bundle_close(b);
}

static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = sdc_file_read_all(ctx, a, &x, &nx) == SDC_STATUS_OK &&
                sdc_file_read_all(ctx, b, &y, &ny) == SDC_STATUS_OK && nx == ny &&
                memcmp(x, y, nx) == 0;
    sdc_free(ctx, x);
    sdc_free(ctx, y);
    return same;
}

static bool same_bundles(const char *a, const char *b)
{
    static const char *const files[] = {
        "model.json",           "text_encoder.safetensors",       "unet.safetensors",
        "vae.safetensors",      "safety_checker.safetensors",     "tokenizer/vocab.json",
        "tokenizer/merges.txt", "tokenizer/tokenizer_config.json"};
    bool same = true;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        bool s = same_file(pa, pb);
        CHECK_MSG(s, "%s is the same in both", files[i]);
        same = same && s;
    }
    return same;
}

static void test_reruns_are_byte_identical(void)
{
    sdc_convert_params p = sdc_convert_default_params();
    p.palettize_bits = 4;
    p.palette_groups = 2;
    p.check_output_correctness = 1;
    p.force = 1;
    const char *a = test_tmp_path("rerun_a.sdc"), *b = test_tmp_path("rerun_b.sdc");
    CHECK(sdc_convert(ctx, MODELS "sd1-tiny", a, &p, NULL) == SDC_STATUS_OK);
    CHECK(sdc_convert(ctx, MODELS "sd1-tiny/", b, &p, NULL) == SDC_STATUS_OK);
    CHECK(same_bundles(a, b));
    /* Converting again into an existing bundle replaces it with the same bytes. */
    CHECK(sdc_convert(ctx, MODELS "sd1-tiny", a, &p, NULL) == SDC_STATUS_OK);
    CHECK(same_bundles(a, b));
}

static void test_summary(void)
{
    sdc_convert_params p = sdc_convert_default_params();
    p.palettize_bits = 8;
    p.check_output_correctness = 1;
    sdc_bundle_info *info = NULL, *back = NULL;
    const char *out = test_tmp_path("summary.sdc");
    CHECK(sdc_convert(ctx, MODELS "sd1-tiny", out, &p, &info) == SDC_STATUS_OK);
    CHECK(sdc_bundle_info_open(ctx, out, &back) == SDC_STATUS_OK);
    if (!info || !back)
        return;
    CHECK_EQ_STR(sdc_bundle_info_family(back), "sd1");
    CHECK_EQ_STR(sdc_bundle_info_weights(back), "f16");
    CHECK_EQ_INT(sdc_bundle_info_component_count(back), 4);
    for (size_t i = 0; i < 4; i++) {
        sdc_bundle_component_info a, c;
        CHECK(sdc_bundle_info_component(info, i, &a) == SDC_STATUS_OK);
        CHECK(sdc_bundle_info_component(back, i, &c) == SDC_STATUS_OK);
        CHECK_EQ_STR(a.name, c.name);
        CHECK(a.file_bytes == c.file_bytes && a.bytes == c.bytes && a.psnr == c.psnr);
        struct stat sb;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", out, c.file);
        CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == c.file_bytes);
        CHECK(c.bytes <= c.file_bytes && c.parameters > 0);
        if (strcmp(c.name, "unet") == 0) {
            CHECK_EQ_STR(c.compression, "palette");
            CHECK_EQ_INT(c.bits, 8);
            CHECK(c.compressed_bits_per_weight > 8.0 && c.compressed_bits_per_weight < 8.5);
            CHECK(c.bits_per_weight < 9.0 && c.source_bytes > 2 * c.bytes - c.bytes / 4);
            CHECK(c.checked && c.psnr > 30.0);
        } else if (strcmp(c.name, "vae") == 0) {
            CHECK_EQ_STR(c.compression, "none");
            CHECK(c.checked && c.psnr > 150.0);
        } else if (strcmp(c.name, "safety_checker") == 0) {
            CHECK(!c.checked);
        }
    }
    CHECK(sdc_bundle_info_component(back, 4, &(sdc_bundle_component_info){0}) ==
          SDC_STATUS_INVALID_ARGUMENT);
    sdc_bundle_info_close(info);
    sdc_bundle_info_close(back);
}

/* A recipe file in the layout of ml-stable-diffusion's mixed_bit_compression_pre_analysis.py. */
static void test_recipe_in_seed_layout(void)
{
    const char *recipe = test_tmp_path("recipe.json");
    static const char text[] =
        "{\"model_version\": \"sd1-tiny\", \"single_layer\": {}, \"cumulative\": {},\n"
        " \"baselines\": {\"original\": 120.5, \"linear_8bit\": 40.1,\n"
        "               \"recipe_3.20_bit_mixedpalette\": 30.0},\n"
        " \"recipes\": {\"recipe_3.20_bit_mixedpalette\": {\n"
        "     \"down_blocks.0.resnets.0.conv1\": 2, \"mid_block.resnets.0.conv2\": 4,\n"
        "     \"up_blocks.0.resnets.0.conv1\": 8, \"conv_in\": 16}}}\n";
    CHECK(sdc_file_write_all(ctx, recipe, text, sizeof text - 1) == SDC_STATUS_OK);
    sdc_recipe *r = NULL;
    CHECK(sdc_recipe_load(ctx, recipe, "recipe_3.20_bit_mixedpalette", &r) == SDC_STATUS_OK);
    if (!r)
        return;
    CHECK_EQ_INT(r->n_layers, 4);
    CHECK_EQ_INT(sdc_recipe_bits(r, "mid_block.resnets.0.conv2"), 4);
    CHECK_EQ_INT(sdc_recipe_bits(r, "mid_block.resnets.0.conv1"), 0);
    sdc_convert_params p = sdc_convert_default_params();
    p.recipe = recipe;
    p.recipe_name = "recipe_3.20_bit_mixedpalette";
    round_trip(MODELS "sd1-tiny", "recipe.sdc", p, r);
    sdc_bundle *b = NULL;
    sdc_store *s = NULL;
    if (sdc_bundle_open(ctx, test_tmp_path("recipe.sdc"), &b) == SDC_STATUS_OK &&
        sdc_bundle_store(ctx, b, "unet", &s) == SDC_STATUS_OK) {
        size_t compressed = 0;
        for (size_t i = 0; i < s->n_entries; i++)
            compressed += s->entries[i].storage != SDC_ST_STORAGE_DENSE;
        CHECK_EQ_INT(compressed, 3);
        const sdc_store_entry *e = sdc_store_find(s, "down_blocks.0.resnets.0.conv1.weight");
        CHECK(e && e->storage == SDC_ST_STORAGE_PALETTE && e->bits == 2);
    }
    sdc_store_destroy(s);
    sdc_bundle_close(b);
    sdc_recipe_destroy(r);
    /* An unknown recipe names the ones there are. */
    MT_CHECK_ERROR(ctx, sdc_recipe_load(ctx, recipe, "recipe_9", &r), SDC_STATUS_NOT_FOUND,
                   "\"recipe_9\"", "\"recipe_3.20_bit_mixedpalette\"");
    CHECK(r == NULL);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_failed_check_leaves_no_bundle(void)
{
    sdc_convert_params p = sdc_convert_default_params();
    p.palettize_bits = 1;
    p.check_output_correctness = 1;
    p.min_psnr = 100.0;
    sdc_bundle_info *info = NULL;
    const char *out = test_tmp_path("failed.sdc");
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "controlnet-sd1-tiny", out, &p, &info),
                   SDC_STATUS_INVALID_ARGUMENT, "controlnet", "100.0 dB");
    CHECK(!exists(out));
    CHECK(info != NULL);
    sdc_bundle_component_info c;
    if (info && sdc_bundle_info_component(info, 0, &c) == SDC_STATUS_OK)
        CHECK(c.checked && c.psnr < 100.0);
    sdc_bundle_info_close(info);
    p.force = 1;
    CHECK(sdc_convert(ctx, MODELS "controlnet-sd1-tiny", out, &p, NULL) == SDC_STATUS_OK);
    CHECK(exists(out));
}

static void test_refusals(void)
{
    sdc_convert_params p = sdc_convert_default_params();
    const char *out = test_tmp_path("refused.sdc");
    p.palettize_bits = 3;
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny", out, &p, NULL),
                   SDC_STATUS_INVALID_ARGUMENT, "3 bits", NULL);
    p.palettize_bits = 4;
    p.int8 = 1;
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny", out, &p, NULL),
                   SDC_STATUS_INVALID_ARGUMENT, "int8", NULL);
    p = sdc_convert_default_params();
    p.weights = "f8";
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny", out, &p, NULL),
                   SDC_STATUS_INVALID_ARGUMENT, "\"f8\"", NULL);
    p = sdc_convert_default_params();
    p.recipe = "x.json";
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny", out, &p, NULL),
                   SDC_STATUS_INVALID_ARGUMENT, "--select", NULL);
    /* An output that is not a bundle is left alone. */
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny", MODELS "sd2-tiny", NULL, NULL),
                   SDC_STATUS_INVALID_ARGUMENT, "not an sdc bundle", NULL);
    CHECK(exists(MODELS "sd2-tiny/model_index.json"));
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "nonexistent", out, NULL, NULL),
                   SDC_STATUS_NOT_FOUND, "nonexistent", NULL);
    MT_CHECK_ERROR(ctx, sdc_convert(ctx, MODELS "sd1-tiny/unet", out, NULL, NULL),
                   SDC_STATUS_UNSUPPORTED, "ControlNetModel", NULL);
    CHECK(!exists(out));
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_round_trips);
    RUN(test_single_file_configs);
    RUN(test_reruns_are_byte_identical);
    RUN(test_summary);
    RUN(test_recipe_in_seed_layout);
    RUN(test_failed_check_leaves_no_bundle);
    RUN(test_refusals);
    sdc_context_destroy(ctx);
    return test_finish();
}
