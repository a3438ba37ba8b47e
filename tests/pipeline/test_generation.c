/*
 * Every SD 1.x / 2.x end-to-end fixture (tools/reference/pipeline_runs.py: diffusers 0.30.2
 * StableDiffusion, Img2Img and Inpaint pipelines on the tiny models) with both random sources,
 * from the diffusers folder and from the single-file .safetensors and .ckpt: the uint8 images
 * at least 60 dB PSNR from the reference, the final latents within PT_LATENT_TOLERANCE, and
 * exactly the recorded random draws. The 9-channel inpainting model exists only as a folder, so
 * its single file is made here: sd1-tiny.safetensors with the inpainting UNet's conv_in (the
 * only tensor in which the two UNets differ). SDC_TEST_VERBOSE=1 prints the measured values.
 */
#include "pipeline_test.h"

static sdc_context *ctx;
static char inpaint_single_file[512];

/* sd1-tiny.safetensors with model.diffusion_model.input_blocks.0.0.weight (conv_in) taken from
 * sd1-inpaint-tiny's 9-channel UNet. */
static bool make_inpaint_single_file(const char *dst)
{
    sdc_st_file *base = NULL, *unet = NULL;
    bool ok =
        sdc_st_open(ctx, PT_MODELS "sd1-tiny.safetensors", &base) == SDC_STATUS_OK &&
        sdc_st_open(ctx, PT_MODELS "sd1-inpaint-tiny/unet/diffusion_pytorch_model.safetensors",
                    &unet) == SDC_STATUS_OK;
    const sdc_st_tensor *conv_in = ok ? sdc_st_find(unet, "conv_in.weight") : NULL;
    sdc_st_entry *e = ok ? calloc(base->n_tensors, sizeof *e) : NULL;
    ok = conv_in && e;
    for (size_t i = 0; ok && i < base->n_tensors; i++) {
        const sdc_st_tensor *t = &base->tensors[i];
        if (strcmp(t->name, "model.diffusion_model.input_blocks.0.0.weight") == 0)
            t = conv_in;
        e[i] = (sdc_st_entry){
            .name = base->tensors[i].name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    ok = ok && sdc_st_write(ctx, dst, e, base->n_tensors, NULL, 0) == SDC_STATUS_OK;
    CHECK_MSG(ok, "making %s: %s", dst, sdc_context_errmsg(ctx));
    free(e);
    sdc_st_close(base);
    sdc_st_close(unet);
    return ok;
}

typedef struct run_spec {
    const char *run;
    bool single_files; /* also from <model>.safetensors and <model>.ckpt */
} run_spec;

static const run_spec runs[] = {
    {"sd1_txt2img", true},         {"sd1_txt2img_batch2", true}, {"sd1_txt2img_clip_skip", true},
    {"sd1_euler_ancestral", true}, {"sd1_dpmpp_sde", true},      {"sd1_img2img", true},
    {"sd1_inpaint_9ch", false},    {"sd1_inpaint_4ch", true},    {"sd2_txt2img", true},
    {"sd1_safety_flagged", false}, {"sd1_safety_clean", false},
};

static void run_all_sources(const run_spec *spec)
{
    static const char *const rngs[] = {"numpy", "torch"};
    static const char *const suffixes[] = {"", ".safetensors", ".ckpt"};
    bool inpaint = strcmp(spec->run, "sd1_inpaint_9ch") == 0;
    for (int r = 0; r < 2; r++) {
        pt_run run;
        if (!pt_run_open(ctx, spec->run, rngs[r], &run)) {
            pt_run_close(&run);
            continue;
        }
        for (int s = 0; s < (spec->single_files || inpaint ? 3 : 1); s++) {
            char path[512];
            snprintf(path, sizeof path, "%s%s%s", PT_MODELS, run.model, suffixes[s]);
            if (inpaint && s == 2)
                break; /* only a .safetensors is made */
            if (inpaint && s == 1)
                snprintf(path, sizeof path, "%s", inpaint_single_file);
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

#define RUN_FIXTURE(index, fn)                                                                     \
    static void fn(void)                                                                           \
    {                                                                                              \
        run_all_sources(&runs[index]);                                                             \
    }

RUN_FIXTURE(0, test_sd1_txt2img)
RUN_FIXTURE(1, test_sd1_txt2img_batch2)
RUN_FIXTURE(2, test_sd1_txt2img_clip_skip)
RUN_FIXTURE(3, test_sd1_euler_ancestral)
RUN_FIXTURE(4, test_sd1_dpmpp_sde)
RUN_FIXTURE(5, test_sd1_img2img)
RUN_FIXTURE(6, test_sd1_inpaint_9ch)
RUN_FIXTURE(7, test_sd1_inpaint_4ch)
RUN_FIXTURE(8, test_sd2_txt2img)
RUN_FIXTURE(9, test_sd1_safety_flagged)
RUN_FIXTURE(10, test_sd1_safety_clean)

int main(void)
{
    ctx = pt_context();
    snprintf(inpaint_single_file, sizeof inpaint_single_file, "%s",
             test_tmp_path("sd1-inpaint-tiny.safetensors"));
    make_inpaint_single_file(inpaint_single_file);
    RUN(test_sd1_txt2img);
    RUN(test_sd1_txt2img_batch2);
    RUN(test_sd1_txt2img_clip_skip);
    RUN(test_sd1_euler_ancestral);
    RUN(test_sd1_dpmpp_sde);
    RUN(test_sd1_img2img);
    RUN(test_sd1_inpaint_9ch);
    RUN(test_sd1_inpaint_4ch);
    RUN(test_sd2_txt2img);
    RUN(test_sd1_safety_flagged);
    RUN(test_sd1_safety_clean);
    remove(inpaint_single_file);
    sdc_context_destroy(ctx);
    return test_finish();
}
