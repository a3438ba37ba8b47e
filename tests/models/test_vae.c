/*
 * Tests src/models/vae.c (+ vae_ldm.c) against diffusers 0.30 AutoencoderKL outputs
 * (tests/fixtures/model_outputs/vae_{sd,sdxl}.safetensors, made by
 * tools/reference/gen_models.py): the posterior mean and logvar of astronaut_96x64.png and the
 * decoded image of a stored latent, within 1e-4 x max |ref|, each in a fixed arena of exactly
 * its scratch size. The single-file checkpoints (.safetensors, and .ckpt through
 * src/io/ckpt.c) must give the folder's tensors and configuration; their forward passes are in
 * test_single_file.c (slow). Also input and load errors and fault injection.
 */
#include "model_test.h"

#define MODELS  SDC_BUILD_FIXTURES_DIR "/models/"
#define OUTPUTS SDC_FIXTURES_DIR "/model_outputs/"

static sdc_context *ctx;

static sdc_vae *open_folder(const char *dir)
{
    sdc_vae *vae = NULL;
    sdc_status st = sdc_vae_open_diffusers(ctx, dir, &vae);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", dir, sdc_context_errmsg(ctx));
    return vae;
}

static void test_sd_vae(void)
{
    sdc_vae *vae = open_folder(MODELS "sd1-tiny/vae");
    mt_check_vae_outputs(ctx, "sd1-tiny/vae", vae, OUTPUTS "vae_sd.safetensors", 0.18215f);
    sdc_vae_destroy(vae);
}

static void test_sdxl_vae(void)
{
    sdc_vae *vae = open_folder(MODELS "sdxl-tiny/vae");
    mt_check_vae_outputs(ctx, "sdxl-tiny/vae", vae, OUTPUTS "vae_sdxl.safetensors", 0.13025f);
    sdc_vae_destroy(vae);
}

/* The name table gives every tensor of the diffusers folder, bit for bit, and the
 * configuration derived from the tensors is the folder's config.json (test_single_file.c runs
 * the forward passes of these single-file VAEs). */
static void test_single_file_names(void)
{
    static const char *const cases[][2] = {
        {"sd1-tiny.safetensors", "sd1-tiny/vae"},   {"sd2-tiny.safetensors", "sd2-tiny/vae"},
        {"sdxl-tiny.safetensors", "sdxl-tiny/vae"}, {"sd1-tiny.ckpt", "sd1-tiny/vae"},
        {"sd2-tiny.ckpt", "sd2-tiny/vae"},          {"sdxl-tiny.ckpt", "sdxl-tiny/vae"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char single[512], folder[512];
        snprintf(single, sizeof single, "%s%s", MODELS, cases[i][0]);
        snprintf(folder, sizeof folder, "%s%s", MODELS, cases[i][1]);
        sdc_weights_file *file = NULL;
        sdc_store *a = NULL, *b = NULL;
        CHECK(sdc_weights_file_open(ctx, single, &file) == SDC_STATUS_OK);
        if (file)
            CHECK_MSG(sdc_vae_ldm_store(ctx, file, &a) == SDC_STATUS_OK, "%s",
                      sdc_context_errmsg(ctx));
        CHECK(sdc_store_open_diffusers(ctx, folder, &b) == SDC_STATUS_OK);
        MT_CHECK_SAME_STORE(cases[i][0], a, b);
        sdc_store_destroy(a);
        sdc_store_destroy(b);
        sdc_weights_file_release(ctx, file);

        sdc_vae *x = mt_open_vae_single(ctx, single), *y = open_folder(folder);
        if (x && y) {
            sdc_vae_config cx = *sdc_vae_get_config(x), cy = *sdc_vae_get_config(y);
            CHECK_MSG(memcmp(&cx, &cy, sizeof cx) == 0, "%s: configuration differs from %s",
                      cases[i][0], cases[i][1]);
        }
        sdc_vae_destroy(x);
        sdc_vae_destroy(y);
    }
}

static void test_config_from_tensors(void)
{
    sdc_vae *vae = mt_open_vae_single(ctx, MODELS "sdxl-tiny.safetensors");
    if (!vae)
        return;
    const sdc_vae_config *c = sdc_vae_get_config(vae);
    CHECK_EQ_INT(c->n_levels, 4);
    CHECK_EQ_INT(c->block_out_channels[0], 64);
    CHECK_EQ_INT(c->block_out_channels[3], 96);
    CHECK_EQ_INT(c->layers_per_block, 1);
    CHECK_EQ_INT(c->latent_channels, 4);
    CHECK(c->mid_attention && c->use_quant_conv && c->use_post_quant_conv);
    sdc_vae_destroy(vae);
}

static void test_input_shapes(void)
{
    sdc_vae *vae = open_folder(MODELS "sd1-tiny/vae");
    if (!vae)
        return;
    mt_array image = mt_array4(ctx, 1, 3, 60, 64), latent = mt_array4(ctx, 1, 4, 8, 8);
    mt_array wrong = mt_array4(ctx, 1, 3, 32, 32);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    MT_CHECK_ERROR(ctx, sdc_vae_encode(ctx, vae, &scratch, &image.t, &latent.t, &latent.t),
                   SDC_STATUS_SHAPE, "multiple of 8", NULL);
    MT_CHECK_ERROR(ctx, sdc_vae_decode(ctx, vae, &scratch, &latent.t, &wrong.t), SDC_STATUS_SHAPE,
                   "[1, 3, 32, 32]", "[1, 3, 64, 64]");
    sdc_arena_release(&scratch);
    mt_array_free(&image);
    mt_array_free(&latent);
    mt_array_free(&wrong);
    sdc_vae_destroy(vae);
}

static sdc_status open_single_status(const char *path)
{
    sdc_weights_file *file = NULL;
    sdc_vae *vae = NULL;
    sdc_status st = sdc_weights_file_open(ctx, path, &file);
    if (st == SDC_STATUS_OK) {
        st = sdc_vae_open_single_file(ctx, file, &vae);
        CHECK((st == SDC_STATUS_OK) == (vae != NULL));
        sdc_weights_file_release(ctx, file);
    }
    sdc_vae_destroy(vae);
    return st;
}

static void test_load_errors(void)
{
    const char *src = MODELS "sd1-tiny.safetensors";
    const char *path = test_tmp_path("vae_modified.safetensors");
    if (mt_write_modified(ctx, src, path, "first_stage_model.decoder.up.1.block.2.conv2.weight",
                          NULL, 0, NULL, NULL))
        MT_CHECK_ERROR(ctx, open_single_status(path), SDC_STATUS_NOT_FOUND,
                       "missing tensor 'decoder.up_blocks.2.resnets.2.conv2.weight'", NULL);
    int64_t shape[4] = {8, 4, 1, 1};
    if (mt_write_modified(ctx, src, path, NULL, "first_stage_model.quant_conv.weight", 4, shape,
                          NULL))
        MT_CHECK_ERROR(ctx, open_single_status(path), SDC_STATUS_SHAPE,
                       "'quant_conv.weight' has shape [8, 4, 1, 1]", "expected [8, 8, 1, 1]");
    if (mt_write_modified(ctx, src, path, NULL, NULL, 0, NULL,
                          "first_stage_model.encoder.mid.attn_2.q.bias"))
        MT_CHECK_ERROR(ctx, open_single_status(path), SDC_STATUS_FORMAT,
                       "'first_stage_model.encoder.mid.attn_2.q.bias'", "not part of a known VAE");
    remove(path);
    MT_CHECK_ERROR(ctx, open_single_status(SDC_TEST_DATA_DIR "/taesd/taef2_encoder.safetensors"),
                   SDC_STATUS_NOT_FOUND, "no VAE in this checkpoint", NULL);
    sdc_vae *vae = NULL;
    MT_CHECK_ERROR(ctx, sdc_vae_open_diffusers(ctx, MODELS "sd1-tiny/unet", &vae),
                   SDC_STATUS_UNSUPPORTED, "\"CrossAttnDownBlock2D\"", "DownEncoderBlock2D");
    CHECK(vae == NULL);
}

static sdc_status open_folder_any(sdc_context *c, const char *path, void **out)
{
    sdc_vae *v = NULL;
    sdc_status st = sdc_vae_open_diffusers(c, path, &v);
    *out = v;
    return st;
}

static sdc_status open_single_any(sdc_context *c, const char *path, void **out)
{
    sdc_weights_file *file = NULL;
    sdc_vae *v = NULL;
    sdc_status st = sdc_weights_file_open(c, path, &file);
    if (st == SDC_STATUS_OK) {
        st = sdc_vae_open_single_file(c, file, &v);
        sdc_weights_file_release(c, file);
    }
    *out = v;
    return st;
}

static void close_any(void *v)
{
    sdc_vae_destroy(v);
}

/* Every allocation failure while loading is a clean error that leaks nothing. */
static void test_load_fault_injection(void)
{
    MT_CHECK_FAULT_INJECTION(ctx, MODELS "sdxl-tiny/vae", open_folder_any, close_any);
    MT_CHECK_FAULT_INJECTION(ctx, MODELS "sd1-tiny.safetensors", open_single_any, close_any);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_sd_vae);
    RUN(test_sdxl_vae);
    RUN(test_single_file_names);
    RUN(test_config_from_tensors);
    RUN(test_input_shapes);
    RUN(test_load_errors);
    RUN(test_load_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
