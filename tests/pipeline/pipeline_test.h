/*
 * pipeline_test.h — running the recorded end-to-end fixtures (tests/fixtures/pipelines, see
 * tools/reference/pipeline_runs.py) through the public API: a run's arguments from the
 * manifest as sdc_generation_params, the model from the unpacked tiny models (folder,
 * .safetensors or .ckpt), every random draw recorded through the generation's rng observer,
 * and the comparisons: PSNR of the uint8 images, the final latents, the draws (count, sizes,
 * values, order). Header-only, shared by the pipeline tests.
 */
#ifndef SDC_TESTS_PIPELINE_PIPELINE_TEST_H
#define SDC_TESTS_PIPELINE_PIPELINE_TEST_H

#include "fixture_cases.h"
#include "pipeline/pipeline.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PT_MODELS       SDC_BUILD_FIXTURES_DIR "/models/"
#define PT_MAX_DRAWS    32
#define PT_MAX_CONTROLS 4

/* The final latents must match diffusers' within this, absolute (the tiny models' latents are
 * of order 1; the measured worst is 8e-4, Euler ancestral at 128 x 128, and guidance 7.0
 * instead of 7.5 moves them by far more). Headroom for the fast kernels' summation order. */
#define PT_LATENT_TOLERANCE 5e-3
/* Issue 7: the images at least 60 dB from the reference. */
#define PT_MIN_PSNR 60.0

static inline sdc_context *pt_context(void)
{
    sdc_context_params cp = sdc_context_default_params();
    cp.log_level = SDC_LOG_LEVEL_ERROR;
    sdc_context *ctx = NULL;
    if (sdc_context_create(&cp, &ctx) != SDC_STATUS_OK) {
        fprintf(stderr, "could not create a context\n");
        exit(2);
    }
    return ctx;
}

/* Every draw of a run, copied. */
typedef struct pt_draws {
    sdc_context *ctx;
    int n;
    size_t size[PT_MAX_DRAWS];
    float *values[PT_MAX_DRAWS];
    bool overflow, wrong_kind;
} pt_draws;

static inline void pt_observe(void *user, sdc_rng_call call, const void *values, size_t n)
{
    pt_draws *d = user;
    if (call != SDC_RNG_CALL_NORMAL) {
        d->wrong_kind = true;
        return;
    }
    if (d->n == PT_MAX_DRAWS) {
        d->overflow = true;
        return;
    }
    d->size[d->n] = n;
    d->values[d->n] = sdc_malloc(d->ctx, n ? n * sizeof(float) : 1);
    if (d->values[d->n])
        memcpy(d->values[d->n], values, n * sizeof(float));
    d->n++;
}

static inline void pt_draws_free(pt_draws *d)
{
    for (int i = 0; i < d->n; i++)
        sdc_free(d->ctx, d->values[i]);
    d->n = 0;
}

/* One fixture run: the manifest entry, its recorded tensors and the inputs. */
typedef struct pt_run {
    sdc_context *ctx;
    fixture fx;
    char name[64], rng[16], model[64];
    sdc_generation_params params;
    char scheduler[32];
    sdc_image init_image, mask;
    bool safety;
    /* SDXL base + refiner runs: the refiner model's folder */
    char refiner[64];
    /* ControlNet runs: the nets' folders, their images and scales */
    int n_controls;
    char controlnets[PT_MAX_CONTROLS][64];
    sdc_image control_images[PT_MAX_CONTROLS];
    sdc_control controls[PT_MAX_CONTROLS];
} pt_run;

static inline void pt_run_close(pt_run *r)
{
    sdc_image_release(r->ctx, &r->init_image);
    sdc_image_release(r->ctx, &r->mask);
    for (int k = 0; k < r->n_controls; k++)
        sdc_image_release(r->ctx, &r->control_images[k]);
    fixture_close(&r->fx);
}

static inline double pt_json_number(const sdc_json *obj, const char *key, double def)
{
    const sdc_json *v = sdc_json_get_type(obj, key, SDC_JSON_TYPE_NUMBER);
    return v ? v->u.number.value : def;
}

/* The sdc scheduler name for the fixture's scheduler (NULL: the model's own). */
static inline const char *pt_scheduler(const sdc_json *entry)
{
    const sdc_json *s = sdc_json_get_type(entry, "scheduler", SDC_JSON_TYPE_OBJECT);
    const char *cls = s ? json_str(s, "class") : NULL;
    const sdc_json *cfg = s ? sdc_json_get_type(s, "config", SDC_JSON_TYPE_OBJECT) : NULL;
    if (!cls || strcmp(cls, "PNDMScheduler") == 0 || strcmp(cls, "DDIMScheduler") == 0)
        return NULL;
    if (strcmp(cls, "EulerAncestralDiscreteScheduler") == 0)
        return "euler_a";
    if (strcmp(cls, "EulerDiscreteScheduler") == 0)
        return "euler";
    if (strcmp(cls, "DPMSolverMultistepScheduler") == 0) {
        const char *alg = cfg ? json_str(cfg, "algorithm_type") : NULL;
        return alg && strcmp(alg, "sde-dpmsolver++") == 0 ? "dpm++2m-sde" : "dpm++2m";
    }
    return "unknown";
}

static inline bool pt_load_image(sdc_context *ctx, const char *rel, sdc_image *out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/../../%s", SDC_FIXTURES_DIR, rel);
    sdc_status st = sdc_image_load(ctx, path, 0, out);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: %s", path, sdc_context_errmsg(ctx));
    return st == SDC_STATUS_OK;
}

/* Opens pipelines/<run>/<rng>.safetensors and turns its manifest entry into parameters. */
static inline bool pt_run_open(sdc_context *ctx, const char *run, const char *rng, pt_run *r)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    char rel[256];
    snprintf(rel, sizeof rel, "pipelines/%s/%s.safetensors", run, rng);
    if (!fixture_open(&r->fx, ctx, rel))
        return false;
    const sdc_json *e = r->fx.entry;
    const sdc_json *args = sdc_json_get_type(e, "args", SDC_JSON_TYPE_OBJECT);
    snprintf(r->name, sizeof r->name, "%s", run);
    snprintf(r->rng, sizeof r->rng, "%s", rng);
    snprintf(r->model, sizeof r->model, "%s", json_str(e, "model"));
    const sdc_json *safety = sdc_json_get_type(e, "safety_checker", SDC_JSON_TYPE_BOOL);
    r->safety = safety && safety->u.boolean;
    sdc_generation_params *p = &r->params;
    *p = sdc_generation_default_params();
    p->prompt = json_str(args, "prompt");
    p->negative_prompt = json_str(args, "negative_prompt");
    int64_t v = 0;
    p->seed = json_int(e, "seed", &v) ? (uint64_t)v : 0;
    p->rng = strcmp(rng, "torch") == 0 ? SDC_RNG_SOURCE_TORCH : SDC_RNG_SOURCE_NUMPY;
    p->steps = (int)pt_json_number(args, "num_inference_steps", 50);
    p->guidance_scale = (float)pt_json_number(args, "guidance_scale", 7.5);
    p->width = (int)pt_json_number(args, "width", 0);
    p->height = (int)pt_json_number(args, "height", 0);
    p->image_count = (int)pt_json_number(args, "num_images_per_prompt", 1);
    p->strength = (float)pt_json_number(args, "strength", 0.8);
    /* diffusers' clip_skip k takes hidden_states[-(k + 1)]: sdc's (and the webui's) k + 1 */
    double skip = pt_json_number(args, "clip_skip", -1);
    p->clip_skip = skip >= 0 ? (int)skip + 1 : 0;
    p->scheduler = pt_scheduler(e);
    p->disable_safety_checker = !r->safety;
    /* SDXL micro-conditioning, (height, width) and (top, left) in diffusers */
    const sdc_json *pair = sdc_json_get_type(args, "original_size", SDC_JSON_TYPE_ARRAY);
    if (pair && pair->u.array.count == 2) {
        p->original_height = (int)pair->u.array.items[0]->u.number.value;
        p->original_width = (int)pair->u.array.items[1]->u.number.value;
    }
    pair = sdc_json_get_type(args, "target_size", SDC_JSON_TYPE_ARRAY);
    if (pair && pair->u.array.count == 2) {
        p->target_height = (int)pair->u.array.items[0]->u.number.value;
        p->target_width = (int)pair->u.array.items[1]->u.number.value;
    }
    pair = sdc_json_get_type(args, "crops_coords_top_left", SDC_JSON_TYPE_ARRAY);
    if (pair && pair->u.array.count == 2) {
        p->crop_top = (int)pair->u.array.items[0]->u.number.value;
        p->crop_left = (int)pair->u.array.items[1]->u.number.value;
    }
    p->aesthetic_score = (float)pt_json_number(args, "aesthetic_score", p->aesthetic_score);
    p->negative_aesthetic_score =
        (float)pt_json_number(args, "negative_aesthetic_score", p->negative_aesthetic_score);
    const sdc_json *inputs = sdc_json_get_type(e, "input_files", SDC_JSON_TYPE_OBJECT);
    /* ControlNet pipelines: "image" is the control image (or a list of them), one per net;
     * the image-to-image ones take it as "control_image" and "image" is the init image */
    const sdc_json *nets = sdc_json_get_type(e, "controlnets", SDC_JSON_TYPE_ARRAY);
    if (nets) {
        const sdc_json *control = inputs ? sdc_json_get(inputs, "control_image") : NULL;
        const sdc_json *imgs = control ? control : inputs ? sdc_json_get(inputs, "image") : NULL;
        const sdc_json *scale = sdc_json_get(args, "controlnet_conditioning_scale");
        const sdc_json *start = sdc_json_get(args, "control_guidance_start");
        const sdc_json *end = sdc_json_get(args, "control_guidance_end");
        r->n_controls = (int)nets->u.array.count;
        if (r->n_controls > PT_MAX_CONTROLS || !imgs)
            return false;
        for (int k = 0; k < r->n_controls; k++) {
            snprintf(r->controlnets[k], sizeof r->controlnets[k], "%s",
                     nets->u.array.items[k]->u.string.chars);
            const sdc_json *im = imgs->type == SDC_JSON_TYPE_ARRAY ? imgs->u.array.items[k] : imgs;
            if (!pt_load_image(ctx, im->u.string.chars, &r->control_images[k]))
                return false;
            r->controls[k] = sdc_control_default();
            r->controls[k].image = &r->control_images[k];
            if (scale && scale->type == SDC_JSON_TYPE_NUMBER)
                r->controls[k].scale = (float)scale->u.number.value;
            else if (scale && scale->type == SDC_JSON_TYPE_ARRAY)
                r->controls[k].scale = (float)scale->u.array.items[k]->u.number.value;
            if (start && start->type == SDC_JSON_TYPE_NUMBER)
                r->controls[k].start = (float)start->u.number.value;
            if (end && end->type == SDC_JSON_TYPE_NUMBER)
                r->controls[k].end = (float)end->u.number.value;
        }
        p->controls = r->controls;
        p->n_controls = r->n_controls;
        if (!control)
            inputs = NULL;
    }
    /* Base + refiner: the refiner call repeats the base's prompt, steps and guidance and
     * starts where the base stopped (denoising_start = denoising_end) */
    const sdc_json *refiner = sdc_json_get_type(e, "refiner", SDC_JSON_TYPE_OBJECT);
    if (refiner) {
        const sdc_json *rargs = sdc_json_get_type(refiner, "args", SDC_JSON_TYPE_OBJECT);
        snprintf(r->refiner, sizeof r->refiner, "%s", json_str(refiner, "model"));
        double end = pt_json_number(args, "denoising_end", -1);
        CHECK(rargs && pt_json_number(rargs, "denoising_start", -2) == end);
        CHECK(rargs && strcmp(json_str(rargs, "prompt"), p->prompt) == 0);
        CHECK(rargs && pt_json_number(rargs, "num_inference_steps", 0) == p->steps);
        CHECK(rargs && pt_json_number(rargs, "guidance_scale", 0) == p->guidance_scale);
        p->refiner_start = (float)end;
    }
    const char *image = inputs ? json_str(inputs, "image") : NULL;
    const char *mask = inputs ? json_str(inputs, "mask_image") : NULL;
    if (image && !pt_load_image(ctx, image, &r->init_image))
        return false;
    if (mask && !pt_load_image(ctx, mask, &r->mask))
        return false;
    p->init_image = image ? &r->init_image : NULL;
    p->mask = mask ? &r->mask : NULL;
    return true;
}

/* 10 log10(255^2 / MSE) over every pixel of every image; 99 when identical. */
static inline double pt_psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        se += d * d;
    }
    if (se == 0)
        return 99.0;
    return 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

typedef struct pt_result {
    bool ran;
    double psnr;       /* over all images */
    double latent_err; /* max |sdc - diffusers| of the final latents */
    int n_draws;
    bool draws_match; /* count, sizes and values */
} pt_result;

/* Runs `r` on the model at `model_path` and checks images, latents and draws. */
static inline pt_result pt_check_run(sdc_context *ctx, pt_run *r, const char *model_path,
                                     const sdc_model_params *mp)
{
    pt_result res = {0};
    sdc_model *model = NULL;
    sdc_generation *gen = NULL;
    pt_draws draws = {.ctx = ctx};
    char label[1024];
    snprintf(label, sizeof label, "%s/%s on %s", r->name, r->rng, model_path);
    if (sdc_model_open(ctx, model_path, mp, &model) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: open: %s", label, sdc_context_errmsg(ctx));
        return res;
    }
    /* the refiner and the ControlNets: their folders */
    sdc_model *refiner = NULL, *nets[PT_MAX_CONTROLS] = {0};
    char other[512];
    if (r->refiner[0]) {
        snprintf(other, sizeof other, "%s%s", PT_MODELS, r->refiner);
        CHECK_MSG(sdc_model_open(ctx, other, mp, &refiner) == SDC_STATUS_OK, "%s: %s", other,
                  sdc_context_errmsg(ctx));
        r->params.refiner = refiner;
    }
    for (int k = 0; k < r->n_controls; k++) {
        snprintf(other, sizeof other, "%s%s", PT_MODELS, r->controlnets[k]);
        CHECK_MSG(sdc_model_open(ctx, other, mp, &nets[k]) == SDC_STATUS_OK, "%s: %s", other,
                  sdc_context_errmsg(ctx));
        r->controls[k].controlnet = nets[k];
    }
    if (sdc_generation_create(ctx, model, &gen) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: create: %s", label, sdc_context_errmsg(ctx));
        sdc_model_close(model);
        sdc_model_close(refiner);
        for (int k = 0; k < r->n_controls; k++)
            sdc_model_close(nets[k]);
        return res;
    }
    sdc_generation_set_rng_observer(gen, pt_observe, &draws);
    sdc_status st = sdc_generation_run(gen, &r->params);
    CHECK_MSG(st == SDC_STATUS_OK, "%s: run: %s", label, sdc_generation_errmsg(gen));
    if (st == SDC_STATUS_OK) {
        res.ran = true;
        size_t n_ref = 0, n_lat = 0;
        const uint8_t *ref = fixture_tensor(&r->fx, "images_u8", SDC_DTYPE_U8, &n_ref);
        const float *lat = fixture_tensor(&r->fx, "latents_final", SDC_DTYPE_F32, &n_lat);
        size_t count = sdc_generation_image_count(gen);
        CHECK_MSG(count == (size_t)r->params.image_count, "%s: %zu images", label, count);
        size_t per = n_ref / (count ? count : 1);
        uint8_t *all = malloc(n_ref ? n_ref : 1);
        for (size_t i = 0; all && i < count; i++) {
            const sdc_image *im = sdc_generation_image(gen, i);
            CHECK(im && (size_t)im->width * (size_t)im->height * 3 == per);
            if (im && (size_t)im->width * (size_t)im->height * 3 == per)
                memcpy(all + i * per, im->pixels, per);
        }
        res.psnr = ref && all ? pt_psnr(all, ref, n_ref) : 0;
        free(all);
        int64_t shape[4];
        const float *got = sdc_generation_latents(gen, shape);
        res.latent_err = INFINITY;
        if (got && lat && (size_t)(shape[0] * shape[1] * shape[2] * shape[3]) == n_lat) {
            res.latent_err = 0;
            for (size_t i = 0; i < n_lat; i++) {
                double d = fabs((double)got[i] - (double)lat[i]);
                res.latent_err = d > res.latent_err || d != d ? d : res.latent_err;
            }
        }
        /* The draws: as many, as large, equal values, in the recorded order. */
        const sdc_json *rec = sdc_json_get_type(r->fx.entry, "draws", SDC_JSON_TYPE_ARRAY);
        res.n_draws = draws.n;
        res.draws_match =
            rec && !draws.overflow && !draws.wrong_kind && (size_t)draws.n == rec->u.array.count;
        for (int i = 0; res.draws_match && i < draws.n; i++) {
            const sdc_json *shp =
                sdc_json_get_type(rec->u.array.items[i], "shape", SDC_JSON_TYPE_ARRAY);
            size_t numel = 1;
            for (size_t k = 0; shp && k < shp->u.array.count; k++)
                numel *= (size_t)shp->u.array.items[k]->u.number.int_value;
            char name[16];
            snprintf(name, sizeof name, "draw_%02d", i);
            size_t n_rec = 0;
            const float *want = fixture_tensor(&r->fx, name, SDC_DTYPE_F32, &n_rec);
            res.draws_match = shp && numel == draws.size[i] && want && n_rec == numel &&
                              draws.values[i] &&
                              memcmp(want, draws.values[i], numel * sizeof(float)) == 0;
        }
        fixture_release_copies(&r->fx);
        if (r->safety && fixture_has(&r->fx, "has_nsfw_concepts")) {
            size_t n_flags = 0;
            const uint8_t *flags =
                fixture_tensor(&r->fx, "has_nsfw_concepts", SDC_DTYPE_BOOL, &n_flags);
            for (size_t i = 0; flags && i < n_flags && i < count; i++)
                CHECK_MSG(sdc_generation_nsfw(gen, i) == (flags[i] != 0),
                          "%s: image %zu nsfw %d, expected %d", label, i,
                          sdc_generation_nsfw(gen, i), flags[i]);
            fixture_release_copies(&r->fx);
        }
        CHECK_MSG(res.psnr >= PT_MIN_PSNR, "%s: PSNR %.2f dB < %.0f", label, res.psnr, PT_MIN_PSNR);
        CHECK_MSG(res.latent_err <= PT_LATENT_TOLERANCE, "%s: final latents off by %.3g", label,
                  res.latent_err);
        CHECK_MSG(res.draws_match, "%s: the draws differ from the recorded ones (%d made)", label,
                  draws.n);
    }
    pt_draws_free(&draws);
    sdc_generation_destroy(gen);
    sdc_model_close(model);
    sdc_model_close(refiner);
    for (int k = 0; k < r->n_controls; k++)
        sdc_model_close(nets[k]);
    r->params.refiner = NULL;
    return res;
}

#endif /* SDC_TESTS_PIPELINE_PIPELINE_TEST_H */
