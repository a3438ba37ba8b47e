/*
 * The AUTOMATIC1111 "parameters" text (src/pipeline/infotext.c): field names, order and
 * spellings as webui 1.9+'s create_infotext writes them, the sampler names, Python's float
 * repr, quoting, the model hash against `sha256sum` of the checkpoint, and the text a real run
 * leaves on its images.
 */
#include "pipeline_test.h"

#include <unistd.h>

static sdc_context *ctx;

static char *text_for(sdc_model *m, const sdc_generation_params *p, sdc_pipe_mode mode,
                      const char *scheduler, int64_t n, int64_t index)
{
    sdc_pipe_request req = {.params = p, .mode = mode, .width = 512, .height = 768, .n_images = n};
    char *out = NULL;
    sdc_status st = sdc_pipe_parameters_text(ctx, m, &req, scheduler, index, &out);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    return out;
}

static void test_folder_txt2img(void)
{
    sdc_model *m = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", NULL, &m) == SDC_STATUS_OK);
    if (!m)
        return;
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a photo of an astronaut";
    p.negative_prompt = "blurry";
    p.steps = 20;
    p.seed = 42;
    p.rng = SDC_RNG_SOURCE_PHILOX;
    char *t = text_for(m, &p, SDC_PIPE_MODE_TXT2IMG, "euler_a", 1, 0);
    CHECK_EQ_STR(t, "a photo of an astronaut\nNegative prompt: blurry\nSteps: 20, Sampler: Euler "
                    "a, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: sd1-tiny");
    sdc_free(ctx, t);

    /* No negative prompt line; 7 written as Python writes 7.0; Karras as the schedule type;
     * torch's CPU generator as RNG: CPU; clip skip; batch position. */
    p.negative_prompt = "";
    p.guidance_scale = 7.0f;
    p.rng = SDC_RNG_SOURCE_TORCH;
    p.clip_skip = 2;
    t = text_for(m, &p, SDC_PIPE_MODE_TXT2IMG, "dpm++2m-karras", 2, 1);
    CHECK_EQ_STR(t, "a photo of an astronaut\nSteps: 20, Sampler: DPM++ 2M, Schedule type: "
                    "Karras, CFG scale: 7.0, Seed: 42, Size: 512x768, Model: sd1-tiny, Clip "
                    "skip: 2, RNG: CPU, Batch size: 2, Batch pos: 1");
    sdc_free(ctx, t);

    /* img2img: the denoising strength; numpy noise named as such; outer spaces stripped. */
    p.prompt = "  castle ";
    p.negative_prompt = NULL;
    p.guidance_scale = 5.5f;
    p.strength = 0.6f;
    p.rng = SDC_RNG_SOURCE_NUMPY;
    p.clip_skip = 0;
    t = text_for(m, &p, SDC_PIPE_MODE_IMG2IMG, "pndm", 1, 0);
    CHECK_EQ_STR(t, "castle \nSteps: 20, Sampler: PLMS, CFG scale: 5.5, Seed: 42, Size: 512x768, "
                    "Model: sd1-tiny, Denoising strength: 0.6, RNG: numpy");
    sdc_free(ctx, t);
    sdc_model_close(m);
}

static void test_sampler_names(void)
{
    static const struct {
        const char *sdc, *sampler, *schedule;
    } cases[] = {
        {"euler_a", "Euler a", NULL},
        {"euler", "Euler", NULL},
        {"heun", "Heun", NULL},
        {"lms", "LMS", NULL},
        {"dpm++2m", "DPM++ 2M", NULL},
        {"dpm++2m-karras", "DPM++ 2M", "Karras"},
        {"dpm++2m-sde", "DPM++ 2M SDE", NULL},
        {"dpm++2m-sde-karras", "DPM++ 2M SDE", "Karras"},
        {"unipc", "UniPC", NULL},
        {"ddim", "DDIM", NULL},
        {"pndm", "PLMS", NULL},
        {"lcm", "LCM", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = NULL, *k = NULL;
        sdc_pipe_a1111_sampler(cases[i].sdc, &s, &k);
        CHECK_EQ_STR(s, cases[i].sampler);
        CHECK_MSG((k == NULL) == (cases[i].schedule == NULL) &&
                      (!k || strcmp(k, cases[i].schedule) == 0),
                  "%s: schedule %s", cases[i].sdc, k ? k : "(none)");
    }
    /* Every name sdc knows has a webui spelling. */
    size_t n = sdc_scheduler_list(0, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *s = NULL, *k = NULL;
        sdc_scheduler_list(i, &name, NULL, NULL);
        sdc_pipe_a1111_sampler(name, &s, &k);
        CHECK_MSG(s && strcmp(s, name) != 0, "%s has no webui name", name);
    }
}

/* The model hash is the first 10 hex digits of the file's SHA-256, as `sha256sum` says. */
static void test_single_file_hash(void)
{
    char *out = NULL;
    int rc = test_capture("sha256sum '" PT_MODELS "sd1-tiny.safetensors'", &out);
    CHECK_EQ_INT(rc, 0);
    char want[11] = "";
    if (out && strlen(out) >= 10)
        memcpy(want, out, 10);
    free(out);
    sdc_model *m = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny.safetensors", NULL, &m) == SDC_STATUS_OK);
    if (!m)
        return;
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "x";
    p.rng = SDC_RNG_SOURCE_PHILOX;
    char *t = text_for(m, &p, SDC_PIPE_MODE_TXT2IMG, "pndm", 1, 0);
    char expect[256];
    snprintf(expect, sizeof expect,
             "x\nSteps: 50, Sampler: PLMS, CFG scale: 7.5, Seed: 0, Size: 512x768, Model hash: "
             "%s, Model: sd1-tiny",
             want);
    CHECK_EQ_STR(t, expect);
    sdc_free(ctx, t);
    /* The empty file's SHA-256, for the hash itself. */
    const char *empty = test_tmp_path("empty");
    FILE *f = fopen(empty, "wb");
    if (f)
        fclose(f);
    char hex[65];
    CHECK(sdc_pipe_sha256_file(ctx, empty, hex) == SDC_STATUS_OK);
    CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    remove(empty);
    sdc_model_close(m);
}

/* A model name with a comma is written as a JSON string, as the webui quotes values. */
static void test_quoting(void)
{
    const char *link = test_tmp_path("tiny, v1.safetensors");
    remove(link);
    CHECK(symlink(PT_MODELS "sd1-tiny.safetensors", link) == 0);
    sdc_model *m = NULL;
    CHECK(sdc_model_open(ctx, link, NULL, &m) == SDC_STATUS_OK);
    if (m) {
        sdc_generation_params p = sdc_generation_default_params();
        p.prompt = "y";
        p.rng = SDC_RNG_SOURCE_PHILOX;
        char *t = text_for(m, &p, SDC_PIPE_MODE_TXT2IMG, "ddim", 1, 0);
        char name[256];
        const char *slash = strrchr(link, '/');
        snprintf(name, sizeof name, ", Model: \"%.*s\"", (int)(strlen(slash + 1) - 12), slash + 1);
        CHECK_CONTAINS(t, name);
        sdc_free(ctx, t);
    }
    sdc_model_close(m);
    remove(link);
}

/* What a run leaves on its images. */
static void test_run_text(void)
{
    sdc_model *m = NULL;
    sdc_generation *g = NULL;
    CHECK(sdc_model_open(ctx, PT_MODELS "sd1-tiny", NULL, &m) == SDC_STATUS_OK);
    CHECK(m && sdc_generation_create(ctx, m, &g) == SDC_STATUS_OK);
    if (!g) {
        sdc_model_close(m);
        return;
    }
    sdc_generation_params p = sdc_generation_default_params();
    p.prompt = "a dog";
    p.steps = 2;
    p.seed = 7;
    p.image_count = 2;
    CHECK(sdc_generation_run(g, &p) == SDC_STATUS_OK);
    CHECK_EQ_STR(sdc_generation_parameters_text(g, 1),
                 "a dog\nSteps: 2, Sampler: PLMS, CFG scale: 7.5, Seed: 7, Size: 64x64, Model: "
                 "sd1-tiny, RNG: numpy, Batch size: 2, Batch pos: 1");
    CHECK(sdc_generation_parameters_text(g, 2) == NULL);
    sdc_generation_destroy(g);
    sdc_model_close(m);
}

int main(void)
{
    ctx = pt_context();
    RUN(test_folder_txt2img);
    RUN(test_sampler_names);
    RUN(test_single_file_hash);
    RUN(test_quoting);
    RUN(test_run_text);
    sdc_context_destroy(ctx);
    return test_finish();
}
