/*
 * safety_checker.c — diffusers 0.30.2's StableDiffusionSafetyChecker
 * (pipelines/stable_diffusion/safety_checker.py): transformers 4.44.2's CLIPVisionModel
 * (patch embedding, class and position embeddings, pre-LayerNorm, encoder layers, post-LayerNorm
 * of the class token), visual_projection, cosine similarity to 3 special-care and 17 concept
 * embeddings, and the per-image decision with its special-care adjustment, computed as the
 * reference does with numpy 1.26. Sizes come from the CLIPConfig (real checkers are ViT-L/14 at
 * 224 pixels). Deliberate difference: the cosines are accumulated in double (torch: float32).
 */
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* transformers' CLIPVisionConfig and CLIPConfig defaults: what config.json leaves out. */
#define DEFAULT_HIDDEN_SIZE       768
#define DEFAULT_INTERMEDIATE_SIZE 3072
#define DEFAULT_LAYERS            12
#define DEFAULT_HEADS             12
#define DEFAULT_CHANNELS          3
#define DEFAULT_IMAGE_SIZE        224
#define DEFAULT_PATCH_SIZE        32
#define DEFAULT_LAYER_NORM_EPS    1e-5
#define DEFAULT_PROJECTION_DIM    512
/* StableDiffusionSafetyChecker's fixed concept counts. */
#define N_CONCEPTS 17
#define N_SPECIAL  3
/* diffusers' special-care adjustment and score rounding (3 decimals). */
#define SPECIAL_CARE_ADJUSTMENT 0.01
#define SCORE_SCALE             1000.0
/* torch.nn.functional.normalize's eps. */
#define NORMALIZE_EPS 1e-12
#define MAX_LAYERS    1024
#define MAX_DIM       ((int64_t)1 << 20)

#define VISION "vision_model.vision_model."

struct sdc_safety_checker {
    sdc_context *ctx;
    sdc_safety_checker_config config;
    sdc_store *store; /* owns the mapped weights and widened vectors */
    /* CLIPVisionModel; D = hidden, p = patch, G = image_size / p, L = G * G + 1 */
    sdc_weight patch_embedding;         /* [D, 3, p, p], no bias */
    const float *class_embedding;       /* [D] */
    const float *position_embedding;    /* [L, D] */
    const float *pre_layrnorm_weight;   /* [D] (transformers' spelling) */
    const float *pre_layrnorm_bias;     /* [D] */
    sdc_clip_layer *layers;             /* [n_layers] */
    const float *post_layernorm_weight; /* [D] */
    const float *post_layernorm_bias;   /* [D] */
    /* the checker's own; P = projection_dim */
    sdc_weight visual_projection;             /* [P, D], no bias */
    const float *special_care_embeds;         /* [3, P] */
    const float *special_care_embeds_weights; /* [3]: thresholds */
    const float *concept_embeds;              /* [17, P] */
    const float *concept_embeds_weights;      /* [17]: thresholds */
};

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                              */

static int64_t grid_of(const sdc_safety_checker_config *c)
{
    return c->image_size / c->patch_size;
}

static sdc_status check_config(sdc_context *ctx, const char *source,
                               const sdc_safety_checker_config *c)
{
    const struct {
        const char *name;
        int64_t value, min, max;
    } sizes[] = {
        {"image_size", c->image_size, 1, SDC_RESIZE_MAX_SIDE},
        {"patch_size", c->patch_size, 1, c->image_size},
        {"num_channels", c->num_channels, 3, 3},
        {"hidden_size", c->hidden_size, 1, MAX_DIM},
        {"intermediate_size", c->intermediate_size, 1, MAX_DIM},
        {"num_hidden_layers", c->n_layers, 1, MAX_LAYERS},
        {"num_attention_heads", c->n_heads, 1, MAX_DIM},
        {"projection_dim", c->projection_dim, 1, MAX_DIM},
        {"concept count", c->n_concepts, 1, MAX_DIM},
        {"special-care concept count", c->n_special, 1, MAX_DIM},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < sizes[i].min || sizes[i].value > sizes[i].max)
            return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: %s %lld is outside [%lld, %lld]", source,
                            sizes[i].name, (long long)sizes[i].value, (long long)sizes[i].min,
                            (long long)sizes[i].max);
    if (c->hidden_size % c->n_heads != 0)
        return sdc_fail(ctx, SDC_STATUS_FORMAT,
                        "%s: hidden_size %lld is not a multiple of num_attention_heads %d", source,
                        (long long)c->hidden_size, c->n_heads);
    if (grid_of(c) > 4096)
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: %lld patches per side is too many", source,
                        (long long)grid_of(c));
    if (!(c->layer_norm_eps > 0.0f))
        return sdc_fail(ctx, SDC_STATUS_FORMAT, "%s: layer_norm_eps %g must be positive", source,
                        (double)c->layer_norm_eps);
    return SDC_STATUS_OK;
}

static sdc_status expect_model_type(const sdc_model_config *json, const char *supported)
{
    const char *type = NULL;
    TRY_RETURN(sdc_model_config_string(json, "model_type", supported, &type));
    if (strcmp(type, supported) != 0)
        return sdc_fail(json->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"model_type\" is \"%s\"; a safety checker's is \"%s\"", json->path,
                        type, supported);
    return SDC_STATUS_OK;
}

sdc_status sdc_safety_checker_config_from_json(const sdc_model_config *json,
                                               sdc_safety_checker_config *out)
{
    sdc_safety_checker_config c = {.n_concepts = N_CONCEPTS, .n_special = N_SPECIAL};
    int64_t layers = 0, heads = 0;
    double eps = 0;
    const char *act = NULL;
    char where[1100];
    memset(out, 0, sizeof *out);
    TRY_RETURN(expect_model_type(json, "clip"));
    TRY_RETURN(
        sdc_model_config_int(json, "projection_dim", DEFAULT_PROJECTION_DIM, &c.projection_dim));

    /* transformers' CLIPConfig: vision_config_dict, completed with the defaults, replaces every
     * value of vision_config. */
    const char *key = "vision_config_dict";
    const sdc_json *v = sdc_json_get(json->root, key);
    if (!v || v->type == SDC_JSON_TYPE_NULL) {
        key = "vision_config";
        v = sdc_json_get(json->root, key);
    }
    static const sdc_json empty = {.type = SDC_JSON_TYPE_OBJECT};
    if (!v || v->type == SDC_JSON_TYPE_NULL)
        v = &empty;
    if (v->type != SDC_JSON_TYPE_OBJECT)
        return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                        "%s: \"%s\" is of type %s, expected an object", json->path, key,
                        sdc_json_type_name(v->type));
    sdc_model_config vision = *json;
    snprintf(where, sizeof where, "%s \"%s\"", json->path, key);
    vision.path = where;
    vision.root = v;

    TRY_RETURN(expect_model_type(&vision, "clip_vision_model"));
    TRY_RETURN(sdc_model_config_int(&vision, "hidden_size", DEFAULT_HIDDEN_SIZE, &c.hidden_size));
    TRY_RETURN(sdc_model_config_int(&vision, "intermediate_size", DEFAULT_INTERMEDIATE_SIZE,
                                    &c.intermediate_size));
    TRY_RETURN(sdc_model_config_int(&vision, "num_hidden_layers", DEFAULT_LAYERS, &layers));
    TRY_RETURN(sdc_model_config_int(&vision, "num_attention_heads", DEFAULT_HEADS, &heads));
    TRY_RETURN(sdc_model_config_int(&vision, "num_channels", DEFAULT_CHANNELS, &c.num_channels));
    TRY_RETURN(sdc_model_config_int(&vision, "image_size", DEFAULT_IMAGE_SIZE, &c.image_size));
    TRY_RETURN(sdc_model_config_int(&vision, "patch_size", DEFAULT_PATCH_SIZE, &c.patch_size));
    TRY_RETURN(sdc_model_config_string(&vision, "hidden_act", "quick_gelu", &act));
    TRY_RETURN(sdc_model_config_float(&vision, "layer_norm_eps", DEFAULT_LAYER_NORM_EPS, &eps));
    if (!sdc_clip_activation_from_name(act, &c.hidden_act))
        return sdc_fail(json->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: \"hidden_act\" \"%s\" is not supported (quick_gelu, gelu, "
                        "gelu_pytorch_tanh, gelu_new are)",
                        where, act);
    if (layers < 1 || layers > MAX_LAYERS || heads < 1 || heads > MAX_DIM)
        return sdc_fail(json->ctx, SDC_STATUS_FORMAT,
                        "%s: num_hidden_layers %lld / num_attention_heads %lld out of range", where,
                        (long long)layers, (long long)heads);
    c.n_layers = (int)layers;
    c.n_heads = (int)heads;
    c.layer_norm_eps = (float)eps;
    TRY_RETURN(check_config(json->ctx, json->path, &c));
    *out = c;
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

static sdc_status load_weights(sdc_safety_checker *sc)
{
    sdc_store *s = sc->store;
    const sdc_safety_checker_config *c = &sc->config;
    int64_t D = c->hidden_size, P = c->projection_dim, G = grid_of(c);
    int64_t patch_shape[4] = {D, c->num_channels, c->patch_size, c->patch_size};
    int64_t pos_shape[2] = {G * G + 1, D};
    int64_t special_shape[2] = {c->n_special, P}, concept_shape[2] = {c->n_concepts, P};
    char prefix[64];

    TRY_RETURN(sdc_store_weight(s, VISION "embeddings.patch_embedding.weight", 4, patch_shape,
                                &sc->patch_embedding));
    TRY_RETURN(sdc_store_vector(s, VISION "embeddings.class_embedding", D, &sc->class_embedding));
    TRY_RETURN(sdc_store_floats(s, VISION "embeddings.position_embedding.weight", 2, pos_shape,
                                &sc->position_embedding));
    /* Older files carry the position_ids buffer; transformers 4.44 ignores it on load. */
    sdc_store_entry *ids = (sdc_store_entry *)sdc_store_find(s, VISION "embeddings.position_ids");
    if (ids)
        ids->used = true;
    TRY_RETURN(sdc_load_norm(s, VISION, "pre_layrnorm", D, &sc->pre_layrnorm_weight,
                             &sc->pre_layrnorm_bias));
    for (int i = 0; i < c->n_layers; i++) {
        snprintf(prefix, sizeof prefix, VISION "encoder.layers.%d.", i);
        TRY_RETURN(sdc_clip_layer_load(s, prefix, D, c->intermediate_size, c->n_heads,
                                       c->hidden_act, c->layer_norm_eps, &sc->layers[i]));
    }
    TRY_RETURN(sdc_load_norm(s, VISION, "post_layernorm", D, &sc->post_layernorm_weight,
                             &sc->post_layernorm_bias));
    TRY_RETURN(sdc_load_linear(s, "", "visual_projection", P, D, &sc->visual_projection, NULL));
    TRY_RETURN(
        sdc_store_floats(s, "special_care_embeds", 2, special_shape, &sc->special_care_embeds));
    TRY_RETURN(sdc_store_vector(s, "special_care_embeds_weights", c->n_special,
                                &sc->special_care_embeds_weights));
    TRY_RETURN(sdc_store_floats(s, "concept_embeds", 2, concept_shape, &sc->concept_embeds));
    TRY_RETURN(
        sdc_store_vector(s, "concept_embeds_weights", c->n_concepts, &sc->concept_embeds_weights));
    return sdc_load_check_unused(s);
}

sdc_status sdc_safety_checker_load(sdc_context *ctx, sdc_store *store,
                                   const sdc_safety_checker_config *config,
                                   sdc_safety_checker **out)
{
    sdc_status st;
    *out = NULL;
    sdc_safety_checker *sc = sdc_calloc(ctx, 1, sizeof *sc);
    if (!sc) {
        st = sdc_fail_oom(ctx, "a safety checker", sizeof *sc);
        goto free_store;
    }
    sc->ctx = ctx;
    sc->store = store;
    store = NULL;
    TRY(destroy, check_config(ctx, sc->store->description, config));
    sc->config = *config;
    sc->layers = sdc_calloc(ctx, (size_t)config->n_layers, sizeof *sc->layers);
    if (!sc->layers) {
        st = sdc_fail_oom(ctx, "safety checker layers",
                          (size_t)config->n_layers * sizeof *sc->layers);
        goto destroy;
    }
    TRY(destroy, load_weights(sc));
    *out = sc;
    return SDC_STATUS_OK;
destroy:
    sdc_safety_checker_destroy(sc);
free_store:
    sdc_store_destroy(store);
    return st;
}

sdc_status sdc_safety_checker_open_diffusers(sdc_context *ctx, const char *component_dir,
                                             sdc_safety_checker **out)
{
    sdc_status st;
    sdc_model_config json;
    sdc_safety_checker_config config;
    sdc_store *store = NULL;
    *out = NULL;
    TRY_RETURN(sdc_model_config_open_dir(ctx, component_dir, &json));
    st = sdc_safety_checker_config_from_json(&json, &config);
    sdc_model_config_close(&json);
    if (st != SDC_STATUS_OK)
        return st;
    TRY_RETURN(sdc_store_open_diffusers(ctx, component_dir, &store));
    return sdc_safety_checker_load(ctx, store, &config, out);
}

void sdc_safety_checker_destroy(sdc_safety_checker *sc)
{
    if (!sc)
        return;
    sdc_free(sc->ctx, sc->layers);
    sdc_store_destroy(sc->store);
    sdc_free(sc->ctx, sc);
}

const sdc_safety_checker_config *sdc_safety_checker_get_config(const sdc_safety_checker *sc)
{
    return &sc->config;
}

const sdc_store *sdc_safety_checker_get_store(const sdc_safety_checker *sc)
{
    return sc->store;
}

/* ---------------------------------------------------------------------------------------- */
/* The decision                                                                               */

/* numpy 1.26's round(np.float64(x), 3): rint(x * 1000) / 1000. */
static double round3(double x)
{
    return rint(x * SCORE_SCALE) / SCORE_SCALE;
}

bool sdc_safety_checker_decide(const float *special_cos, const float *special_weights,
                               int64_t n_special, const float *cos, const float *weights,
                               int64_t n_concepts)
{
    double adjustment = 0.0;
    bool flagged = false;
    for (int64_t i = 0; i < n_special; i++)
        if (round3((double)special_cos[i] - (double)special_weights[i] + adjustment) > 0)
            adjustment = SPECIAL_CARE_ADJUSTMENT;
    for (int64_t i = 0; i < n_concepts; i++)
        if (round3((double)cos[i] - (double)weights[i] + adjustment) > 0)
            flagged = true;
    return flagged;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                    */

/* x [B * L, D] = [class_embedding, patches[b, :, g] for each patch g] + position_embedding. */
static void embed(const sdc_safety_checker *sc, const sdc_tensor *patches, int64_t B, sdc_tensor *x)
{
    int64_t D = sc->config.hidden_size, G2 = patches->shape[2] * patches->shape[3], L = G2 + 1;
    const float *p = patches->data;
    float *out = x->data;
    for (int64_t b = 0; b < B; b++) {
        float *rows = out + b * L * D;
        for (int64_t d = 0; d < D; d++)
            rows[d] = sc->class_embedding[d] + sc->position_embedding[d];
        for (int64_t g = 0; g < G2; g++)
            for (int64_t d = 0; d < D; d++)
                rows[(1 + g) * D + d] =
                    p[(b * D + d) * G2 + g] + sc->position_embedding[(1 + g) * D + d];
    }
}

/* out[b, i] = normalize(embeds[b]) . normalize(concepts[i]), as float32. */
static void cosine(const float *embeds, int64_t B, const float *concepts, int64_t n, int64_t P,
                   float *out)
{
    for (int64_t b = 0; b < B; b++) {
        const float *e = embeds + b * P;
        double ee = 0;
        for (int64_t k = 0; k < P; k++)
            ee += (double)e[k] * e[k];
        for (int64_t i = 0; i < n; i++) {
            const float *c = concepts + i * P;
            double cc = 0, ec = 0;
            for (int64_t k = 0; k < P; k++) {
                cc += (double)c[k] * c[k];
                ec += (double)e[k] * c[k];
            }
            out[b * n + i] =
                (float)(ec / (fmax(sqrt(ee), NORMALIZE_EPS) * fmax(sqrt(cc), NORMALIZE_EPS)));
        }
    }
}

static sdc_status check_request(sdc_fwd *f, const sdc_safety_checker *sc, const sdc_tensor *x,
                                const sdc_safety_outputs *out)
{
    const sdc_safety_checker_config *c = &sc->config;
    int64_t S = c->image_size, p = c->patch_size, G = grid_of(c);
    int64_t in_shape[4] = {-1, c->num_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "safety checker clip_input", x, 4, in_shape));
    int64_t B = x->shape[0];
    if (B < 1 || x->shape[2] / p != G || x->shape[3] / p != G)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                        "safety checker: clip_input [%lld, %lld, %lld, %lld]; expected "
                        "[B >= 1, %lld, %lld, %lld] (a %lld x %lld grid of %lld-pixel patches)",
                        (long long)B, (long long)x->shape[1], (long long)x->shape[2],
                        (long long)x->shape[3], (long long)c->num_channels, (long long)S,
                        (long long)S, (long long)G, (long long)G, (long long)p);
    int64_t widest = c->intermediate_size > c->hidden_size ? c->intermediate_size : c->hidden_size;
    if (B > INT64_MAX / 8 / (G * G + 1) / widest)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "safety checker: a batch of %lld images is too large", (long long)B);
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    if (!out || !out->has_nsfw_concepts)
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "safety checker: no has_nsfw_concepts array for the results");
    int64_t embeds_shape[2] = {B, c->projection_dim};
    int64_t special_shape[2] = {B, c->n_special}, concept_shape[2] = {B, c->n_concepts};
    if (out->image_embeds)
        TRY_RETURN(sdc_check_input(f->ctx, "safety checker image_embeds", out->image_embeds, 2,
                                   embeds_shape));
    if (out->special_cos_dist)
        TRY_RETURN(sdc_check_input(f->ctx, "safety checker special_cos_dist", out->special_cos_dist,
                                   2, special_shape));
    if (out->cos_dist)
        TRY_RETURN(
            sdc_check_input(f->ctx, "safety checker cos_dist", out->cos_dist, 2, concept_shape));
    return SDC_STATUS_OK;
}

static sdc_status forward(sdc_fwd *f, const sdc_safety_checker *sc, const sdc_tensor *clip_input,
                          const sdc_safety_outputs *out)
{
    sdc_status st;
    const sdc_safety_checker_config *c = &sc->config;
    TRY_RETURN(check_request(f, sc, clip_input, out));
    int64_t B = clip_input->shape[0], G = grid_of(c), L = G * G + 1;
    int64_t D = c->hidden_size, P = c->projection_dim;
    int64_t NS = c->n_special, NC = c->n_concepts;
    sdc_fwd_mark mark = sdc_fwd_get_mark(f);
    sdc_tensor x, patches, pooled, embeds, special, concept;

    /* embeddings: the class token, then patch_embedding(clip_input) flattened, plus positions */
    TRY(release, sdc_fwd_tensor2(f, B * L, D, &x));
    sdc_fwd_mark patches_mark = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, D, G, G, &patches));
    TRY(release,
        sdc_fwd_conv2d(f, clip_input, &sc->patch_embedding, NULL, (int)c->patch_size, 0, &patches));
    if (sdc_fwd_computing(f))
        embed(sc, &patches, B, &x);
    sdc_fwd_reset_to(f, patches_mark);

    /* pre_layrnorm, then the encoder (no mask) */
    TRY(release, sdc_fwd_layer_norm(f, &x, sc->pre_layrnorm_weight, sc->pre_layrnorm_bias,
                                    c->layer_norm_eps, &x));
    for (int i = 0; i < c->n_layers; i++)
        TRY(release, sdc_clip_layer_forward(f, &sc->layers[i], &x, B, L, false));

    /* pooler_output = post_layernorm(last_hidden_state[:, 0]) */
    TRY(release, sdc_fwd_tensor2(f, B, D, &pooled));
    if (sdc_fwd_computing(f))
        for (int64_t b = 0; b < B; b++)
            memcpy((float *)pooled.data + b * D, (const float *)x.data + b * L * D,
                   (size_t)D * sizeof(float));
    TRY(release, sdc_fwd_layer_norm(f, &pooled, sc->post_layernorm_weight, sc->post_layernorm_bias,
                                    c->layer_norm_eps, &pooled));

    /* image_embeds = visual_projection(pooler_output) */
    TRY(release, sdc_fwd_tensor2(f, B, P, &embeds));
    TRY(release, sdc_fwd_linear(f, &pooled, &sc->visual_projection, NULL, &embeds));

    /* cosine similarities to the special-care and the concept embeddings, then the decision */
    TRY(release, sdc_fwd_tensor2(f, B, NS, &special));
    TRY(release, sdc_fwd_tensor2(f, B, NC, &concept));
    if (sdc_fwd_computing(f)) {
        const float *e = embeds.data;
        float *sp = special.data, *co = concept.data;
        cosine(e, B, sc->special_care_embeds, NS, P, sp);
        cosine(e, B, sc->concept_embeds, NC, P, co);
        for (int64_t b = 0; b < B; b++)
            out->has_nsfw_concepts[b] =
                sdc_safety_checker_decide(sp + b * NS, sc->special_care_embeds_weights, NS,
                                          co + b * NC, sc->concept_embeds_weights, NC);
        if (out->image_embeds)
            memcpy(out->image_embeds->data, e, (size_t)(B * P) * sizeof(float));
        if (out->special_cos_dist)
            memcpy(out->special_cos_dist->data, sp, (size_t)(B * NS) * sizeof(float));
        if (out->cos_dist)
            memcpy(out->cos_dist->data, co, (size_t)(B * NC) * sizeof(float));
    }
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, mark);
    return st;
}

sdc_status sdc_safety_checker_forward(sdc_context *ctx, const sdc_safety_checker *sc,
                                      sdc_arena *scratch, const sdc_tensor *clip_input,
                                      const sdc_safety_outputs *out)
{
    sdc_fwd f;
    if (!scratch)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "safety checker: no scratch arena");
    sdc_fwd_init(&f, ctx, scratch);
    return forward(&f, sc, clip_input, out);
}

sdc_status sdc_safety_checker_scratch_bytes(sdc_context *ctx, const sdc_safety_checker *sc,
                                            const sdc_tensor *clip_input, size_t *bytes)
{
    sdc_fwd f;
    sdc_fwd_init(&f, ctx, NULL);
    sdc_status st = forward(&f, sc, clip_input, NULL);
    *bytes = st == SDC_STATUS_OK ? sdc_fwd_bytes(&f) : 0;
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* The pipeline's step                                                                        */

sdc_status sdc_safety_checker_check_images(sdc_context *ctx, const sdc_safety_checker *sc,
                                           const sdc_clip_image_config *feature_extractor,
                                           sdc_image *images, int64_t n, bool *has_nsfw_concepts)
{
    sdc_status st;
    int64_t H = 0, W = 0;
    size_t count = 0, bytes = 0;
    sdc_arena scratch;
    if (!images || n < 1 || !has_nsfw_concepts || !feature_extractor)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "safety checker: no images, feature extractor or result array");
    TRY_RETURN(sdc_clip_image_output_size(ctx, feature_extractor, images[0].width, images[0].height,
                                          &H, &W));
    if (!sdc_size_mul((size_t)n, (size_t)(3 * H * W), &count) ||
        !sdc_size_mul(count, sizeof(float), &bytes))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "safety checker: %lld images of %lld x %lld pixel values are too many",
                        (long long)n, (long long)W, (long long)H);
    int64_t shape[4] = {n, 3, H, W};
    sdc_tensor clip_input = sdc_tensor_make(sdc_malloc(ctx, bytes), SDC_DTYPE_F32, 4, shape);
    if (!clip_input.data)
        return sdc_fail_oom(ctx, "safety checker clip_input", bytes);
    TRY(free_input, sdc_clip_image_preprocess(ctx, feature_extractor, images, n, &clip_input));
    TRY(free_input, sdc_safety_checker_scratch_bytes(ctx, sc, &clip_input, &bytes));
    TRY(free_input, sdc_arena_init_fixed(&scratch, ctx, bytes));
    sdc_safety_outputs out = {.has_nsfw_concepts = has_nsfw_concepts};
    st = sdc_safety_checker_forward(ctx, sc, &scratch, &clip_input, &out);
    sdc_arena_release(&scratch);
    if (st != SDC_STATUS_OK)
        goto free_input;
    /* A flagged image is replaced by black, as diffusers zeroes it. */
    for (int64_t i = 0; i < n; i++)
        if (has_nsfw_concepts[i])
            memset(images[i].pixels, 0,
                   (size_t)images[i].width * (size_t)images[i].height * (size_t)images[i].channels);
free_input:
    sdc_free(ctx, clip_input.data);
    return st;
}
