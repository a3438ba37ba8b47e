/*
 * convert.h — turning a model into an sdc bundle (DESIGN.md section 4, docs/bundle-format.md).
 *
 * The converter reads a source (a diffusers folder, or a single .safetensors/.ckpt file through
 * the models layer's name tables) as one store per component under diffusers names, writes each
 * component's weights as a 64-byte-aligned safetensors file — dense in the chosen float dtype, or
 * compressed: k-means palettized indices (exact 1-D k-means) or int8 with a scale per output
 * channel — then model.json and the tokenizer files. It can check each converted component
 * against the float32 source and measure per-layer sensitivity for mixed-bit recipes. It does
 * not run the models' math itself (the models and kernels layers do) and never holds more than
 * one tensor's values at a time while writing.
 */
#ifndef SDC_CONVERT_CONVERT_H
#define SDC_CONVERT_CONVERT_H

#include "models/models.h"

/* ---------------------------------------------------------------------------------------- */
/* Exact 1-D k-means and palettization (palettize.c)                                          */

/* A float16 group has at most 63,487 distinct finite values; the DP's argmin tables are 16-bit. */
#define SDC_KMEANS_MAX_VALUES 65536

/* Optimal k-means of n sorted distinct values x[0] < ... < x[n-1] with positive weights (their
 * multiplicities): the partition into min(k, n) contiguous clusters that minimises the total
 * weighted squared distance to the cluster means. Writes n_clusters, each cluster's mean
 * (centroids, increasing) and the index of its first value (first), and the total squared error.
 * Scratch of 5 (n + 1) doubles and k (n + 1) 16-bit argmins comes from the context; the row minima
 * of each DP layer are found by divide and conquer, spread over the context's threads in a split
 * that does not depend on the thread count (neither does the result). */
sdc_status sdc_kmeans1d(sdc_context *ctx, const double *x, const double *weight, size_t n, int k,
                        double *centroids, size_t *first, int *n_clusters, double *sse);

/* Palettizes values [rows, row_len] (float32, rounded to float16 first) into `bits`-bit indices
 * with one palette per group of rows_per_group rows (the last group may be shorter), palette
 * entries stored as palette_dtype (F32, F16, BF16): the clusters of sdc_kmeans1d over the group's
 * distinct float16 values, or every distinct value when there are no more than 2^bits of them
 * (spare entries repeat the largest). indices receives rows * sdc_palette_row_bytes(bits,
 * row_len) bytes in the layout of kernels.h, palette ceil(rows / rows_per_group) * 2^bits entries.
 * *sse is the total squared error of the decoded values against the float16-rounded ones.
 * NaN, infinities and values beyond the float16 range are SDC_STATUS_INVALID_ARGUMENT naming
 * `name` and the element. */
sdc_status sdc_palettize(sdc_context *ctx, const char *name, const float *values, int64_t rows,
                         int64_t row_len, int bits, int64_t rows_per_group, sdc_dtype palette_dtype,
                         uint8_t *indices, void *palette, double *sse);

/* ---------------------------------------------------------------------------------------- */
/* int8 per output channel (quantize.c)                                                       */

/* Symmetric int8 quantization of values [rows, row_len]: scale[r] = max |row r| / 127 (float32),
 * q = round half to even of value / scale, in [-127, 127]; an all-zero row has scale 0. *sse is
 * the total squared error of q * scale against the values. Non-finite values are
 * SDC_STATUS_INVALID_ARGUMENT naming `name` and the element. */
sdc_status sdc_quantize_int8(sdc_context *ctx, const char *name, const float *values, int64_t rows,
                             int64_t row_len, int8_t *q, float *scale, double *sse);

/* ---------------------------------------------------------------------------------------- */
/* Mixed-bit recipes (recipe.c)                                                               */

/* Bits per layer, by diffusers module name ("down_blocks.0.resnets.0.conv1"); 16 keeps the
 * layer uncompressed. Layers a recipe does not name stay uncompressed too (as the seed project's
 * mixed_bit_compression_apply.py leaves them). */
typedef struct sdc_recipe_layer {
    char *name;
    int bits;
} sdc_recipe_layer;

typedef struct sdc_recipe {
    sdc_context *ctx;
    char *name;               /* the recipe's key in the file */
    sdc_recipe_layer *layers; /* sorted by name */
    size_t n_layers;
} sdc_recipe;

/* Reads recipe `name` from a recipe file in the seed project's layout (an object whose
 * "recipes" maps recipe names to {layer: bits}; "model_version" and "baselines" are read when
 * present but not needed). Bits must be 1, 2, 4, 6, 8 or 16. An unknown name is
 * SDC_STATUS_NOT_FOUND listing the recipes the file has. */
sdc_status sdc_recipe_load(sdc_context *ctx, const char *path, const char *name, sdc_recipe **out);
void sdc_recipe_destroy(sdc_recipe *recipe);
/* The bits for a module, or 0 when the recipe does not name it. */
int sdc_recipe_bits(const sdc_recipe *recipe, const char *module);

/* ---------------------------------------------------------------------------------------- */
/* Writing one component (component.c)                                                        */

typedef enum sdc_compression {
    SDC_COMPRESSION_NONE,
    SDC_COMPRESSION_PALETTE,
    SDC_COMPRESSION_INT8,
    SDC_COMPRESSION_COUNT
} sdc_compression;

/* How a component's tensors are written. */
typedef struct sdc_component_policy {
    sdc_dtype dtype;             /* F32, F16 or BF16: uncompressed tensors and palettes */
    sdc_compression compression; /* for the weights that qualify (sdc_convert_compressible) */
    int bits;                    /* PALETTE: 1, 2, 4, 6 or 8 */
    int64_t palette_groups;      /* PALETTE: palettes per weight (groups of output rows), >= 1 */
    int64_t min_elements;        /* weights with fewer elements stay uncompressed */
    const sdc_recipe *recipe;    /* PALETTE: NULL, or bits per layer instead of `bits` */
} sdc_component_policy;

/* What writing a component did, over its float tensors. */
typedef struct sdc_component_summary {
    int64_t parameters;            /* elements */
    uint64_t source_bytes;         /* bytes as the source stores them */
    uint64_t bytes;                /* bytes in the bundle, all parts of compressed weights */
    int64_t compressed_parameters; /* elements of the palettized or int8 weights */
    uint64_t compressed_bytes;     /* their bytes in the bundle */
    size_t n_tensors, n_palettized, n_int8;
    uint64_t file_bytes; /* the whole file */
} sdc_component_summary;

/* Whether the policy compresses entry `e` (named `name`): a float weight ("*.weight") of 2 or
 * more dims and at least min_elements elements that is not an embedding table (a module whose
 * name ends in "embedding", e.g. token_embedding, position_embedding); with a recipe, only the
 * layers it names with fewer than 16 bits. *bits receives the palette bits. */
bool sdc_convert_compressible(const sdc_component_policy *policy, const sdc_store_entry *e,
                              int *bits);

/* Writes every tensor of `store` to a safetensors file at `path` under the same names
 * (compressed weights as described in io.h), with metadata "sdc.component" = component.
 * Tensors are produced one at a time while the file is written; the output depends only on
 * the inputs (byte-identical on rerun, whatever the thread count). */
sdc_status sdc_convert_component(sdc_context *ctx, const sdc_store *store, const char *component,
                                 const sdc_component_policy *policy, const char *path,
                                 sdc_component_summary *summary);

/* ---------------------------------------------------------------------------------------- */
/* config.json for components configured from their tensors (configs.c)                       */

/* Each writes one JSON object that the matching *_config_from_json reads back as the same
 * configuration (and diffusers / transformers as the same model). A UNet whose up blocks do not
 * mirror its down blocks' transformer depths is SDC_STATUS_UNSUPPORTED. */
sdc_status sdc_convert_unet_config_json(sdc_context *ctx, const sdc_unet_config *c,
                                        sdc_json_writer *w);
void sdc_convert_vae_config_json(const sdc_vae_config *c, sdc_json_writer *w);
/* projection_dim is written as it is, 0 for a CLIPTextModel. */
void sdc_convert_clip_config_json(const sdc_clip_text_config *c, sdc_json_writer *w);

/* ---------------------------------------------------------------------------------------- */
/* Output correctness (check.c)                                                               */

/* The seed project's PSNR (torch2coreml.compute_psnr) of x against the reference:
 * 20 log10((max |ref| + 1e-5) / (rmse + 1e-10)), computed in double. (The seed takes the
 * maximum over its second argument, the converted output; sdc takes the reference's, as the
 * issue states it. The two differ by far less than the reported 0.1 dB.) */
double sdc_psnr(const float *ref, const float *x, size_t n);

#endif /* SDC_CONVERT_CONVERT_H */
