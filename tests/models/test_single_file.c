/*
 * Tests the UNets and VAEs of the single-file checkpoints (src/models/unet_ldm.c,
 * vae_ldm.c, configured from their tensors) against the same diffusers 0.30 outputs as
 * test_unet.c and test_vae.c, within 1e-4 x max |ref|: sd1-tiny, sd2-tiny and sdxl-tiny as
 * .safetensors and as torch.save .ckpt (read by src/io/ckpt.c). A separate, slow
 * executable: the same forward passes as the folder tests, repeated for the other source, are
 * too slow for the sanitizer pass; the unit tests check instead that the name tables give the
 * folders' tensors bit for bit.
 */
#include "model_test.h"

#define MODELS  SDC_BUILD_FIXTURES_DIR "/models/"
#define OUTPUTS SDC_FIXTURES_DIR "/model_outputs/"

static sdc_context *ctx;

static void check_checkpoint(const char *name, const char *unet_fixture, const char *vae_fixture,
                             float scaling)
{
    char path[512], label[128];
    snprintf(path, sizeof path, "%s%s", MODELS, name);
    sdc_unet *unet = mt_open_unet_single(ctx, path);
    snprintf(label, sizeof label, "%s unet", name);
    mt_check_unet_outputs(ctx, label, unet, unet_fixture);
    sdc_unet_destroy(unet);
    sdc_vae *vae = mt_open_vae_single(ctx, path);
    snprintf(label, sizeof label, "%s vae", name);
    mt_check_vae_outputs(ctx, label, vae, vae_fixture, scaling);
    sdc_vae_destroy(vae);
}

static void test_sd1(void)
{
    check_checkpoint("sd1-tiny.safetensors", OUTPUTS "unet_sd1.safetensors",
                     OUTPUTS "vae_sd.safetensors", 0.18215f);
    check_checkpoint("sd1-tiny.ckpt", OUTPUTS "unet_sd1.safetensors", OUTPUTS "vae_sd.safetensors",
                     0.18215f);
}

static void test_sd2(void)
{
    check_checkpoint("sd2-tiny.safetensors", OUTPUTS "unet_sd2.safetensors",
                     OUTPUTS "vae_sd.safetensors", 0.18215f);
    check_checkpoint("sd2-tiny.ckpt", OUTPUTS "unet_sd2.safetensors", OUTPUTS "vae_sd.safetensors",
                     0.18215f);
}

static void test_sdxl(void)
{
    check_checkpoint("sdxl-tiny.safetensors", OUTPUTS "unet_sdxl.safetensors",
                     OUTPUTS "vae_sdxl.safetensors", 0.13025f);
    check_checkpoint("sdxl-tiny.ckpt", OUTPUTS "unet_sdxl.safetensors",
                     OUTPUTS "vae_sdxl.safetensors", 0.13025f);
}

int main(void)
{
    ctx = mt_context();
    RUN(test_sd1);
    RUN(test_sd2);
    RUN(test_sdxl);
    sdc_context_destroy(ctx);
    return test_finish();
}
