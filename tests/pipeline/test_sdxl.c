/*
 * The SDXL and ControlNet end-to-end fixtures (tools/reference/pipeline_runs.py: diffusers
 * 0.30.2 StableDiffusionXLPipeline, also with two images and micro-conditioning other than the
 * defaults, base + StableDiffusionXLImg2ImgPipeline refiner with denoising_end /
 * denoising_start, the refiner alone for image to image with other aesthetic scores,
 * StableDiffusionControlNetPipeline with one and two nets, StableDiffusionControlNetImg2Img-
 * Pipeline with a control window, StableDiffusionXLControlNetPipeline)
 * with both random sources: the uint8 images at least 60 dB PSNR from the reference, the final
 * latents within PT_LATENT_TOLERANCE, exactly the recorded draws. SDXL runs also from the
 * single-file sdxl-tiny.safetensors and .ckpt (the refiner and the ControlNets exist as folders
 * only). SDC_TEST_VERBOSE=1 prints the values.
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

/* The PSNR of `r` run with `p` (a changed copy of its parameters) against its recorded
 * images, on the model folder; -1 when it did not run. */
static double psnr_with(pt_run *r, const sdc_generation_params *p)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", PT_MODELS, r->model);
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    double db = -1;
    if (sdc_model_open(ctx, path, NULL, &model) == SDC_STATUS_OK &&
        sdc_generation_create(ctx, model, &gen) == SDC_STATUS_OK &&
        sdc_generation_run(gen, p) == SDC_STATUS_OK) {
        size_t n_ref = 0, count = sdc_generation_image_count(gen);
        const uint8_t *ref = fixture_tensor(&r->fx, "images_u8", SDC_DTYPE_U8, &n_ref);
        size_t per = n_ref / (count ? count : 1);
        uint8_t *all = malloc(n_ref ? n_ref : 1);
        for (size_t i = 0; all && i < count; i++) {
            const sdc_image *im = sdc_generation_image(gen, i);
            if (im && (size_t)im->width * (size_t)im->height * 3 == per)
                memcpy(all + i * per, im->pixels, per);
        }
        db = ref && all ? pt_psnr(all, ref, n_ref) : -1;
        free(all);
        fixture_release_copies(&r->fx);
    }
    CHECK_MSG(db >= 0, "%s: %s", r->name,
              gen ? sdc_generation_errmsg(gen) : sdc_context_errmsg(ctx));
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    return db;
}

/* Two images of one batch, with original size, crop and target size all set. */
static void test_sdxl_txt2img_batch2(void)
{
    run_all_sources(&(run_spec){"sdxl_txt2img_batch2", true});
    /* Each micro-conditioning value is used: left at its default, the image is another one. */
    pt_run run;
    if (!pt_run_open(ctx, "sdxl_txt2img_batch2", "numpy", &run)) {
        CHECK(false);
        pt_run_close(&run);
        return;
    }
    CHECK(run.params.image_count == 2 && run.params.original_width == 128 &&
          run.params.original_height == 96 && run.params.crop_top == 8 &&
          run.params.crop_left == 16 && run.params.target_width == 96 &&
          run.params.target_height == 64);
    for (int k = 0; k < 3; k++) {
        sdc_generation_params p = run.params;
        if (k == 0)
            p.original_width = p.original_height = 0;
        else if (k == 1)
            p.crop_top = p.crop_left = 0;
        else
            p.target_width = p.target_height = 0;
        double db = psnr_with(&run, &p);
        if (getenv("SDC_TEST_VERBOSE"))
            fprintf(stderr, "  %s at its default: PSNR %.2f dB\n",
                    k == 0   ? "original size"
                    : k == 1 ? "crop"
                             : "target size",
                    db);
        CHECK_MSG(db < 40, "micro-conditioning value %d at its default: still %.2f dB", k, db);
    }
    pt_run_close(&run);
}

/* The refiner on its own, image to image, aesthetic scores 7.5 and 1.5. */
static void test_sdxl_refiner_img2img(void)
{
    run_all_sources(&(run_spec){"sdxl_refiner_img2img", false});
    pt_run run;
    if (!pt_run_open(ctx, "sdxl_refiner_img2img", "torch", &run)) {
        CHECK(false);
        pt_run_close(&run);
        return;
    }
    CHECK(run.params.aesthetic_score == 7.5f && run.params.negative_aesthetic_score == 1.5f &&
          run.params.init_image != NULL);
    for (int k = 0; k < 2; k++) {
        sdc_generation_params p = run.params;
        sdc_generation_params d = sdc_generation_default_params();
        if (k == 0)
            p.aesthetic_score = d.aesthetic_score;
        else
            p.negative_aesthetic_score = d.negative_aesthetic_score;
        double db = psnr_with(&run, &p);
        if (getenv("SDC_TEST_VERBOSE"))
            fprintf(stderr, "  %s at its default: PSNR %.2f dB\n",
                    k == 0 ? "aesthetic score" : "negative aesthetic score", db);
        CHECK_MSG(db < 40, "aesthetic score %d at its default: still %.2f dB", k, db);
    }
    pt_run_close(&run);
}

static void test_sd1_controlnet(void)
{
    run_all_sources(&(run_spec){"sd1_controlnet", true});
}

static void test_sd1_controlnet_multi(void)
{
    run_all_sources(&(run_spec){"sd1_controlnet_multi", true});
}

/* Image to image with a ControlNet acting on the first 3/4 of the calls, its 64x64 image
 * resized to the 96x64 output: also from the single files. */
static void test_sd1_controlnet_img2img(void)
{
    run_all_sources(&(run_spec){"sd1_controlnet_img2img", true});
    /* the window is used: with start 0 (the first call too) or end 1 (the last), the net gives
     * another image */
    pt_run run;
    sdc_model *net = NULL;
    if (pt_run_open(ctx, "sd1_controlnet_img2img", "numpy", &run) && run.n_controls == 1 &&
        run.controls[0].start == 0.3f && run.controls[0].end == 0.75f &&
        sdc_model_open(ctx, PT_MODELS "controlnet-sd1-tiny", NULL, &net) == SDC_STATUS_OK) {
        for (int k = 0; k < 2; k++) {
            sdc_control c = run.controls[0];
            c.controlnet = net;
            if (k == 0)
                c.start = 0.0f;
            else
                c.end = 1.0f;
            sdc_generation_params p = run.params;
            p.controls = &c;
            double db = psnr_with(&run, &p);
            if (getenv("SDC_TEST_VERBOSE"))
                fprintf(stderr, "  control %s: PSNR %.2f dB\n", k ? "end 1" : "start 0", db);
            CHECK_MSG(db >= 0 && db < 60, "control %s: still %.2f dB", k ? "end 1" : "start 0",
                      db);
        }
    } else {
        CHECK(false);
    }
    sdc_model_close(net);
    pt_run_close(&run);
}

static void test_sdxl_controlnet(void)
{
    run_all_sources(&(run_spec){"sdxl_controlnet", true});
}

int main(void)
{
    ctx = pt_context();
    RUN(test_sdxl_txt2img);
    RUN(test_sdxl_txt2img_batch2);
    RUN(test_sdxl_base_refiner);
    RUN(test_sdxl_refiner_img2img);
    RUN(test_sd1_controlnet);
    RUN(test_sd1_controlnet_multi);
    RUN(test_sd1_controlnet_img2img);
    RUN(test_sdxl_controlnet);
    sdc_context_destroy(ctx);
    return test_finish();
}
