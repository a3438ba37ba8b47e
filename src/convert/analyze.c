/*
 * analyze.c — mixed-bit palettization pre-analysis, as ml-stable-diffusion's
 * mixed_bit_compression_pre_analysis.py: per-layer and cumulative sensitivity of the final latents
 * at 1-8 bits, an int8 baseline, recipes at PSNR thresholds, in its JSON layout. Deliberate: layers
 * are compressed as a bundle stores them (exact k-means, kernels decoding); int8 is sdc's --int8.
 */
#include "convert/import.h"
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const int NBITS[] = {1, 2, 4, 6, 8};
enum { N_NBITS = sizeof NBITS / sizeof NBITS[0] };

/* mixed_bit_compression_pre_analysis.RANDOM_TEST_DATA */
static const char *const SEED_PROMPTS[] = {
    "a black and brown dog standing outside a door.",
    "a person on a motorcycle makes a turn on the track.",
    "inflatable boats sit on the arizona river, and on the bank",
    "a white cat sitting under a white umbrella",
    "black bear standing in a field of grass under a tree.",
    ("a train that is parked on tracks and has graffiti writing on it, with a mountain range in "
     "the background."),
    "a cake inside of a pan sitting in an oven.",
    "a table with paper plates and flowers in a home",
};

sdc_analyze_params sdc_analyze_default_params(void)
{
    return (sdc_analyze_params){.num_recipes = 7, .min_elements = 100000, .steps = 1};
}

/* A layer under analysis and its compressed forms, made once. */
typedef struct candidate {
    const char *weight; /* "<module>.weight", in the source store */
    char *module;       /* the diffusers module name */
    int64_t size;       /* elements */
    int64_t rows;
    uint8_t *indices[N_NBITS];
    uint16_t *palette[N_NBITS];
    sdc_st_tensor index_t[N_NBITS], palette_t[N_NBITS];
} candidate;

typedef struct analysis {
    sdc_context *ctx;
    sdc_analyze_params p;
    const char *const *prompts;
    int n_prompts;
    sdc_import *imp;
    const sdc_import_component *unet;
    sdc_unet_config config;
    sdc_store *source; /* the UNet's tensors as the source has them */
    candidate *cands;
    size_t n_cands;
    int64_t total_size;
    /* int8 forms of every weight --int8 would compress (the baseline) */
    sdc_st_tensor *int8_values, *int8_scales;
    sdc_model *model;
    sdc_generation *gen;
    float **reference; /* [n_prompts] final latents of the uncompressed model */
    size_t latent_n;
} analysis;

/* ---------------------------------------------------------------------------------------- */
/* Trials                                                                                     */

static sdc_status palette_of(analysis *a, candidate *c, int b)
{
    if (c->indices[b])
        return SDC_STATUS_OK;
    const sdc_store_entry *e = sdc_store_find(a->source, c->weight);
    int64_t len = c->size / c->rows;
    size_t row_bytes = sdc_palette_row_bytes(NBITS[b], len);
    float *values = sdc_malloc(a->ctx, (size_t)c->size * sizeof(float));
    c->indices[b] = sdc_malloc(a->ctx, (size_t)c->rows * row_bytes);
    c->palette[b] = sdc_malloc(a->ctx, sizeof(uint16_t) << NBITS[b]);
    sdc_status st;
    double sse;
    if (!values || !c->indices[b] || !c->palette[b])
        st = sdc_fail_oom(a->ctx, c->weight, (size_t)c->size * sizeof(float));
    else if ((st = sdc_store_entry_floats(a->source, e, values)) == SDC_STATUS_OK)
        st = sdc_palettize(a->ctx, c->weight, values, c->rows, len, NBITS[b], c->rows,
                           SDC_DTYPE_F16, c->indices[b], c->palette[b], &sse);
    sdc_free(a->ctx, values);
    c->index_t[b] = (sdc_st_tensor){.name = c->weight,
                                    .dtype = SDC_DTYPE_U8,
                                    .ndim = 2,
                                    .shape = {c->rows, (int64_t)row_bytes},
                                    .data = c->indices[b]};
    c->palette_t[b] = (sdc_st_tensor){.name = c->weight,
                                      .dtype = SDC_DTYPE_F16,
                                      .ndim = 2,
                                      .shape = {1, (int64_t)1 << NBITS[b]},
                                      .data = c->palette[b]};
    return st;
}

/* The int8 form of every weight sdc's --int8 compresses, for the linear 8-bit baseline (the
 * seed's baseline quantizes every module's weight per tensor; sdc measures what it would write). */
static sdc_status make_int8(analysis *a)
{
    size_t n = a->source->n_entries;
    a->int8_values = sdc_calloc(a->ctx, n, sizeof *a->int8_values);
    a->int8_scales = sdc_calloc(a->ctx, n, sizeof *a->int8_scales);
    if (!a->int8_values || !a->int8_scales)
        return sdc_fail_oom(a->ctx, "int8 baseline", 2 * n * sizeof *a->int8_values);
    sdc_component_policy pol = {.compression = SDC_COMPRESSION_INT8, .min_elements = 2048};
    sdc_status st = SDC_STATUS_OK;
    for (size_t i = 0; i < n && st == SDC_STATUS_OK; i++) {
        const sdc_store_entry *e = &a->source->entries[i];
        int bits;
        if (!sdc_convert_compressible(&pol, e, &bits))
            continue;
        int64_t numel = sdc_store_entry_numel(e), rows = e->shape[0];
        float *values = sdc_malloc(a->ctx, (size_t)numel * sizeof(float));
        int8_t *q = sdc_malloc(a->ctx, (size_t)numel);
        float *scale = sdc_malloc(a->ctx, (size_t)rows * sizeof(float));
        double sse;
        if (!values || !q || !scale)
            st = sdc_fail_oom(a->ctx, e->name, (size_t)numel * 5);
        else if ((st = sdc_store_entry_floats(a->source, e, values)) == SDC_STATUS_OK)
            st = sdc_quantize_int8(a->ctx, e->name, values, rows, numel / rows, q, scale, &sse);
        sdc_free(a->ctx, values);
        a->int8_values[i] =
            (sdc_st_tensor){.name = e->name, .dtype = SDC_DTYPE_I8, .ndim = e->ndim, .data = q};
        memcpy(a->int8_values[i].shape, e->shape, sizeof e->shape);
        a->int8_scales[i] = (sdc_st_tensor){
            .name = e->name, .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {rows}, .data = scale};
    }
    return st;
}

/* Runs every prompt with a UNet whose candidate i is palettized to bits[i] (0 or 16: as it is),
 * or with every weight int8 (int8_all); psnr[k] for prompt k against the reference (which is
 * recorded instead when a->reference[0] is NULL). */
static sdc_status trial(analysis *a, const int *bits, bool int8_all, double *psnr)
{
    sdc_context *ctx = a->ctx;
    sdc_store *store = NULL;
    sdc_unet *unet = NULL;
    sdc_status st = sdc_import_store(a->imp, a->unet, &store);
    for (size_t i = 0; st == SDC_STATUS_OK && bits && i < a->n_cands; i++) {
        int b = 0;
        while (b < N_NBITS && NBITS[b] != bits[i])
            b++;
        if (b == N_NBITS)
            continue;
        candidate *c = &a->cands[i];
        sdc_store_entry *e = (sdc_store_entry *)sdc_store_find(store, c->weight);
        if ((st = palette_of(a, c, b)) != SDC_STATUS_OK)
            break;
        e->storage = SDC_ST_STORAGE_PALETTE;
        e->transform = SDC_STORE_TRANSFORM_NONE;
        e->tensor = &c->index_t[b];
        e->palette = &c->palette_t[b];
        e->bits = NBITS[b];
        e->rows_per_group = c->rows;
    }
    for (size_t i = 0; st == SDC_STATUS_OK && int8_all && i < store->n_entries; i++) {
        if (!a->int8_values[i].data)
            continue;
        sdc_store_entry *e = &store->entries[i];
        e->storage = SDC_ST_STORAGE_INT8;
        e->transform = SDC_STORE_TRANSFORM_NONE;
        e->tensor = &a->int8_values[i];
        e->scale = &a->int8_scales[i];
    }
    if (st != SDC_STATUS_OK) {
        sdc_store_destroy(store);
        return st;
    }
    if ((st = sdc_unet_load(ctx, store, &a->config, &unet)) != SDC_STATUS_OK)
        return st;
    /* The model is this analysis's own: no generation runs while its UNet is swapped. */
    sdc_unet *kept = a->model->unet;
    a->model->unet = unet;
    for (int k = 0; k < a->n_prompts && st == SDC_STATUS_OK; k++) {
        sdc_generation_params gp = sdc_generation_default_params();
        gp.prompt = a->prompts[k];
        gp.negative_prompt = "";
        gp.seed = a->p.seed;
        gp.steps = a->p.steps;
        gp.width = a->p.width;
        gp.height = a->p.height;
        gp.disable_safety_checker = 1;
        if ((st = sdc_generation_run(a->gen, &gp)) != SDC_STATUS_OK) {
            st = sdc_fail(ctx, st, "analyze: %s", sdc_generation_errmsg(a->gen));
            break;
        }
        int64_t shape[4];
        const float *latents = sdc_generation_latents(a->gen, shape);
        size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        if (!a->reference[k]) {
            a->latent_n = n;
            if (!(a->reference[k] = sdc_malloc(ctx, n * sizeof(float))))
                st = sdc_fail_oom(ctx, "reference latents", n * sizeof(float));
            else
                memcpy(a->reference[k], latents, n * sizeof(float));
        }
        if (st == SDC_STATUS_OK)
            psnr[k] = round(sdc_psnr(a->reference[k], latents, n) * 10.0) / 10.0;
    }
    a->model->unet = kept;
    sdc_unet_destroy(unet);
    return st;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

/* ---------------------------------------------------------------------------------------- */
/* The report                                                                                 */

static void psnr_list(sdc_json_writer *w, const char *key, const double *v, int n)
{
    sdc_json_key(w, key);
    sdc_json_begin_array(w);
    for (int i = 0; i < n; i++)
        sdc_json_double(w, v[i]);
    sdc_json_end_array(w);
}

static void metadata(sdc_json_writer *w, int nbits, bool cumulative)
{
    sdc_json_key(w, "metadata");
    sdc_json_begin_object(w);
    sdc_json_key(w, "nbits");
    sdc_json_int(w, nbits);
    sdc_json_key(w, "out_ngroups");
    sdc_json_int(w, 1);
    sdc_json_key(w, "in_ngroups");
    sdc_json_int(w, 1);
    sdc_json_key(w, "cumulative");
    sdc_json_bool(w, cumulative);
}

typedef struct results {
    double *single; /* [N_NBITS][n_cands][n_prompts] */
    double *cumul;  /* [N_NBITS][k][n_prompts], k-th layer in order[b] */
    size_t *order;  /* [N_NBITS][n_cands] candidates by decreasing single-layer PSNR */
} results;

#define SINGLE(r, a, b, i) ((r)->single + (((size_t)(b) * (a)->n_cands + (i)) * (a)->n_prompts))
#define CUMUL(r, a, b, k)  ((r)->cumul + (((size_t)(b) * (a)->n_cands + (k)) * (a)->n_prompts))
#define ORDER(r, a, b)     ((r)->order + (size_t)(b) * (a)->n_cands)

/* Stable sort of candidates by decreasing sum of single-layer PSNRs (Python's sorted). */
static void sort_order(const analysis *a, const results *r, int b)
{
    size_t *o = ORDER(r, a, b);
    for (size_t i = 0; i < a->n_cands; i++)
        o[i] = i;
    for (size_t i = 1; i < a->n_cands; i++) {
        size_t v = o[i], j = i;
        double key = mean(SINGLE(r, a, b, v), a->n_prompts);
        while (j > 0 && mean(SINGLE(r, a, b, o[j - 1]), a->n_prompts) < key) {
            o[j] = o[j - 1];
            j--;
        }
        o[j] = v;
    }
}

/* build_recipe: per layer (in the 1-bit cumulative order), the fewest bits whose cumulative
 * PSNR stays above the threshold, else 16. */
static double build_recipe(const analysis *a, const results *r, double threshold, int *bits)
{
    double total = 0;
    const size_t *o1 = ORDER(r, a, 0);
    for (size_t k = 0; k < a->n_cands; k++) {
        size_t i = o1[k];
        bits[i] = 16;
        for (int b = 0; b < N_NBITS; b++) {
            size_t kb = 0;
            while (ORDER(r, a, b)[kb] != i)
                kb++;
            if (mean(CUMUL(r, a, b, kb), a->n_prompts) > threshold) {
                bits[i] = NBITS[b];
                break;
            }
        }
        total += (double)bits[i] * (double)a->cands[i].size;
    }
    return total / (double)a->total_size;
}

/* ---------------------------------------------------------------------------------------- */

static sdc_status setup(analysis *a, const char *source)
{
    sdc_context *ctx = a->ctx;
    sdc_status st = sdc_import_open(ctx, source, &a->imp);
    if (st != SDC_STATUS_OK)
        return st;
    if (!(a->unet = sdc_import_find(a->imp, "unet")))
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED, "analyze: %s has no UNet", source);
    if ((st = sdc_unet_config_from_json(&a->unet->config, false, &a->config)) != SDC_STATUS_OK ||
        (st = sdc_import_store(a->imp, a->unet, &a->source)) != SDC_STATUS_OK)
        return st;
    a->cands = sdc_calloc(ctx, a->source->n_entries + 1, sizeof *a->cands);
    if (!a->cands)
        return sdc_fail_oom(ctx, "analysis", a->source->n_entries * sizeof *a->cands);
    /* get_palettizable_modules: Linear and Conv2d weights above the size threshold. */
    for (size_t i = 0; i < a->source->n_entries; i++) {
        const sdc_store_entry *e = &a->source->entries[i];
        size_t len = strlen(e->name);
        int64_t numel = sdc_store_entry_numel(e);
        if (e->ndim != 2 && e->ndim != 4)
            continue;
        if (len <= 7 || strcmp(e->name + len - 7, ".weight") != 0 || numel <= a->p.min_elements)
            continue;
        candidate *c = &a->cands[a->n_cands++];
        c->weight = e->name;
        c->size = numel;
        c->rows = e->shape[0];
        if (!(c->module = sdc_strndup(ctx, e->name, len - 7)))
            return sdc_fail_oom(ctx, e->name, len);
        a->total_size += numel;
    }
    if (a->n_cands == 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "analyze: no UNet layer of %s has more than %d elements", source,
                        a->p.min_elements);
    if (!(a->reference = sdc_calloc(ctx, (size_t)a->n_prompts, sizeof *a->reference)))
        return sdc_fail_oom(ctx, "analysis", sizeof *a->reference);
    if ((st = sdc_model_open(ctx, source, NULL, &a->model)) != SDC_STATUS_OK ||
        (st = sdc_generation_create(ctx, a->model, &a->gen)) != SDC_STATUS_OK)
        return st;
    return make_int8(a);
}

static void teardown(analysis *a)
{
    sdc_context *ctx = a->ctx;
    for (size_t i = 0; a->cands && i < a->n_cands; i++) {
        sdc_free(ctx, a->cands[i].module);
        for (int b = 0; b < N_NBITS; b++) {
            sdc_free(ctx, a->cands[i].indices[b]);
            sdc_free(ctx, a->cands[i].palette[b]);
        }
    }
    for (size_t i = 0; a->source && a->int8_values && i < a->source->n_entries; i++) {
        sdc_free(ctx, (void *)a->int8_values[i].data);
        sdc_free(ctx, (void *)a->int8_scales[i].data);
    }
    sdc_free(ctx, a->int8_values);
    sdc_free(ctx, a->int8_scales);
    for (int k = 0; a->reference && k < a->n_prompts; k++)
        sdc_free(ctx, a->reference[k]);
    sdc_free(ctx, a->reference);
    sdc_free(ctx, a->cands);
    sdc_generation_destroy(a->gen);
    sdc_model_close(a->model);
    sdc_store_destroy(a->source);
    sdc_import_close(a->imp);
}

sdc_status sdc_analyze(sdc_context *ctx, const char *source, const char *output,
                       const sdc_analyze_params *params)
{
    analysis a = {.ctx = ctx, .p = params ? *params : sdc_analyze_default_params()};
    if (a.p.num_recipes < 1)
        a.p.num_recipes = 7;
    if (a.p.min_elements < 1)
        a.p.min_elements = 100000;
    if (a.p.steps < 1)
        a.p.steps = 1;
    a.prompts = a.p.prompts ? a.p.prompts : SEED_PROMPTS;
    a.n_prompts = a.p.prompts ? a.p.n_prompts : (int)(sizeof SEED_PROMPTS / sizeof *SEED_PROMPTS);
    if (a.n_prompts < 1)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "analyze: no prompts");
    results r = {0};
    int *bits = NULL;
    double *psnr = NULL;
    sdc_buf out;
    sdc_buf_init(&out, ctx);
    sdc_status st = setup(&a, source);
    size_t n = a.n_cands, np = (size_t)a.n_prompts;
    if (st == SDC_STATUS_OK &&
        (!(r.single = sdc_calloc(ctx, N_NBITS * n * np, sizeof(double))) ||
         !(r.cumul = sdc_calloc(ctx, N_NBITS * n * np, sizeof(double))) ||
         !(r.order = sdc_calloc(ctx, N_NBITS * n, sizeof(size_t))) ||
         !(bits = sdc_calloc(ctx, n, sizeof *bits)) || !(psnr = sdc_calloc(ctx, np, sizeof *psnr))))
        st = sdc_fail_oom(ctx, "analysis results", N_NBITS * n * np * sizeof(double));
    /* The reference, then each layer alone, then cumulatively. */
    double original = 0, linear8 = 0;
    if (st == SDC_STATUS_OK && (st = trial(&a, NULL, false, psnr)) == SDC_STATUS_OK)
        original = mean(psnr, a.n_prompts);
    for (int b = 0; b < N_NBITS && st == SDC_STATUS_OK; b++) {
        sdc_log(ctx, SDC_LOG_LEVEL_INFO, "analyze: %d-bit, %zu layers alone", NBITS[b], n);
        for (size_t i = 0; i < n && st == SDC_STATUS_OK; i++) {
            memset(bits, 0, n * sizeof *bits);
            bits[i] = NBITS[b];
            st = trial(&a, bits, false, SINGLE(&r, &a, b, i));
        }
        sort_order(&a, &r, b);
        sdc_log(ctx, SDC_LOG_LEVEL_INFO, "analyze: %d-bit, cumulatively", NBITS[b]);
        memset(bits, 0, n * sizeof *bits);
        for (size_t k = 0; k < n && st == SDC_STATUS_OK; k++) {
            bits[ORDER(&r, &a, b)[k]] = NBITS[b];
            st = trial(&a, bits, false, CUMUL(&r, &a, b, k));
        }
    }
    if (st == SDC_STATUS_OK && (st = trial(&a, NULL, true, psnr)) == SDC_STATUS_OK)
        linear8 = mean(psnr, a.n_prompts);

    sdc_json_writer w;
    sdc_json_writer_init(&w, &out, true);
    sdc_json_begin_object(&w);
    for (int cum = 0; cum < 2 && st == SDC_STATUS_OK; cum++) {
        sdc_json_key(&w, cum ? "cumulative" : "single_layer");
        sdc_json_begin_object(&w);
        for (int b = 0; b < N_NBITS; b++) {
            char key[8];
            snprintf(key, sizeof key, "%d", NBITS[b]);
            sdc_json_key(&w, key);
            sdc_json_begin_object(&w);
            if (cum) {
                metadata(&w, NBITS[b], true);
                sdc_json_key(&w, "candidates");
                sdc_json_begin_array(&w);
                for (size_t k = 0; k < n; k++)
                    sdc_json_string(&w, a.cands[ORDER(&r, &a, b)[k]].module);
                sdc_json_end_array(&w);
                sdc_json_key(&w, "sizes");
                sdc_json_begin_array(&w);
                for (size_t k = 0; k < n; k++)
                    sdc_json_int(&w, a.cands[ORDER(&r, &a, b)[k]].size);
                sdc_json_end_array(&w);
                sdc_json_end_object(&w);
            }
            for (size_t k = 0; k < n; k++) {
                size_t i = cum ? ORDER(&r, &a, b)[k] : k;
                psnr_list(&w, a.cands[i].module, cum ? CUMUL(&r, &a, b, k) : SINGLE(&r, &a, b, i),
                          a.n_prompts);
            }
            sdc_json_end_object(&w);
        }
        sdc_json_end_object(&w);
    }
    sdc_json_key(&w, "model_version");
    sdc_json_string(&w, a.p.model_version ? a.p.model_version : source);

    /* Recipes at thresholds from original - 1 down to the int8 baseline + 5 dB, each measured
     * end to end (a later recipe with the same average bits replaces an earlier one). */
    int nr = a.p.num_recipes;
    char(*keys)[64] = st == SDC_STATUS_OK ? sdc_calloc(ctx, (size_t)nr, sizeof *keys) : NULL;
    double *achieved = st == SDC_STATUS_OK ? sdc_calloc(ctx, (size_t)nr, sizeof *achieved) : NULL;
    int *recipe_bits = st == SDC_STATUS_OK ? sdc_calloc(ctx, (size_t)nr * n, sizeof(int)) : NULL;
    if (st == SDC_STATUS_OK && (!keys || !achieved || !recipe_bits))
        st = sdc_fail_oom(ctx, "recipes", (size_t)nr * n * sizeof(int));
    int n_keys = 0;
    for (int i = 0; i < nr && st == SDC_STATUS_OK; i++) {
        double hi = original - 1.0, lo = linear8 + 5.0;
        double threshold = nr == 1 ? hi : hi + (lo - hi) * i / (nr - 1);
        double avg = build_recipe(&a, &r, threshold, bits);
        char key[64];
        snprintf(key, sizeof key, "recipe_%.2f_bit_mixedpalette", avg);
        int slot = 0;
        while (slot < n_keys && strcmp(keys[slot], key) != 0)
            slot++;
        if ((st = trial(&a, bits, false, psnr)) != SDC_STATUS_OK)
            break;
        snprintf(keys[slot], sizeof keys[slot], "%s", key);
        achieved[slot] = round(mean(psnr, a.n_prompts) * 10.0) / 10.0;
        memcpy(recipe_bits + (size_t)slot * n, bits, n * sizeof(int));
        n_keys += slot == n_keys;
        sdc_log(ctx, SDC_LOG_LEVEL_INFO, "analyze: %s at %.1f dB per layer: %.1f dB end to end",
                key, threshold, achieved[slot]);
    }
    sdc_json_key(&w, "baselines");
    sdc_json_begin_object(&w);
    sdc_json_key(&w, "original");
    sdc_json_double(&w, original);
    sdc_json_key(&w, "linear_8bit");
    sdc_json_double(&w, linear8);
    for (int i = 0; i < n_keys; i++) {
        sdc_json_key(&w, keys[i]);
        sdc_json_double(&w, achieved[i]);
    }
    sdc_json_end_object(&w);
    sdc_json_key(&w, "recipes");
    sdc_json_begin_object(&w);
    const size_t *o1 = r.order;
    for (int i = 0; i < n_keys; i++) {
        sdc_json_key(&w, keys[i]);
        sdc_json_begin_object(&w);
        for (size_t k = 0; k < n; k++) {
            sdc_json_key(&w, a.cands[o1[k]].module);
            sdc_json_int(&w, recipe_bits[(size_t)i * n + o1[k]]);
        }
        sdc_json_end_object(&w);
    }
    sdc_json_end_object(&w);
    sdc_json_end_object(&w);
    sdc_buf_append(&out, "\n", 1);
    if (st == SDC_STATUS_OK)
        st = out.failed ? sdc_fail_oom(ctx, output, out.len)
                        : sdc_file_write_all(ctx, output, out.data, out.len);
    sdc_free(ctx, keys);
    sdc_free(ctx, achieved);
    sdc_free(ctx, recipe_bits);
    sdc_buf_free(&out);
    sdc_free(ctx, psnr);
    sdc_free(ctx, bits);
    sdc_free(ctx, r.single);
    sdc_free(ctx, r.cumul);
    sdc_free(ctx, r.order);
    teardown(&a);
    return st;
}
