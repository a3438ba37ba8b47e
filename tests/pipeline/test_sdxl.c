/*
 * The SDXL and ControlNet end-to-end fixtures (tools/reference/pipeline_runs.py: diffusers
 * 0.30.2 StableDiffusionXLPipeline, base + StableDiffusionXLImg2ImgPipeline refiner with
 * denoising_end / denoising_start, StableDiffusionControlNetPipeline with one and two nets,
 * StableDiffusionXLControlNetPipeline) with both random sources: the uint8 images at least
 * 60 dB PSNR from the reference, the final latents within PT_LATENT_TOLERANCE, exactly the
 * recorded draws. SDXL runs also from the single-file sdxl-tiny.safetensors and .ckpt (the
 * refiner and the ControlNets exist as folders only). SDC_TEST_VERBOSE=1 prints the values.
 */
#include "pipeline_test.h"

static sdc_context *ctx;

typedef struct run_spec {
    const char *run;
    bool single_files; /* the base model also from <model>.safetensors and <model>.ckpt */
} run_spec;

static void run_all_sources(const run_spec *spec)
{
    static const char *const rngs[] = {"numpy", "torch"};
    static const char *const suffixes[] = {"", ".safetensors", ".ckpt"};
    for (int r = 0; r < 2; r++) {
        pt_run run;
        if (!pt_run_open(ctx, spec->run, rngs[r], &run)) {
            CHECK_MSG(false, "%s/%s: could not read the fixture", spec->run, rngs[r]);
            pt_run_close(&run);
            continue;
        }
        for (int s = 0; s < (spec->single_files ? 3 : 1); s++) {
            char path[512];
            snprintf(path, sizeof path, "%s%s%s", PT_MODELS, run.model, suffixes[s]);
            pt_result res = pt_check_run(ctx, &run, path, NULL);
            if (getenv("SDC_TEST_VERBOSE"))
                fprintf(stderr,
                        "  %-22s %-5s %-12s PSNR %6.2f dB  latents max|err| %.2e  %d draws %s\n",
                        spec->run, rngs[r], s == 0 ? "folder" : suffixes[s] + 1, res.psnr,
                        res.latent_err, res.n_draws, res.draws_match ? "match" : "DIFFER");
        }
        pt_run_close(&run);
    }
}

static void test_sdxl_txt2img(void)
{
    run_all_sources(&(run_spec){"sdxl_txt2img", true});
}

static void test_sdxl_base_refiner(void)
{
    run_all_sources(&(run_spec){"sdxl_base_refiner", true});
}

static void test_sd1_controlnet(void)
{
    run_all_sources(&(run_spec){"sd1_controlnet", true});
}

static void test_sd1_controlnet_multi(void)
{
    run_all_sources(&(run_spec){"sd1_controlnet_multi", true});
}

static void test_sdxl_controlnet(void)
{
    run_all_sources(&(run_spec){"sdxl_controlnet", true});
}

int main(void)
{
    ctx = pt_context();
    RUN(test_sdxl_txt2img);
    RUN(test_sdxl_base_refiner);
    RUN(test_sd1_controlnet);
    RUN(test_sd1_controlnet_multi);
    RUN(test_sdxl_controlnet);
    sdc_context_destroy(ctx);
    return test_finish();
}
