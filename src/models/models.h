/*
 * models.h — the networks of the Stable Diffusion family (text encoders, UNet, VAE,
 * ControlNet, TAESD, the safety checker and its CLIP image preprocessing) and where their
 * weights come from.
 *
 * A model is loaded from a store: the set of tensors of one component under the names
 * diffusers uses, whether they come from a diffusers folder (names as they are) or from a
 * single-file checkpoint (LDM/CompVis names translated by one table per model). Loading checks
 * every tensor's shape against the configuration and keeps weights as views into the mapped
 * files; a loaded model is immutable and may be shared by several generations. Forward passes
 * run on the kernels layer and take their activation memory from the caller's arena. This
 * layer knows nothing of prompts, schedulers or pipelines.
 */
#ifndef SDC_MODELS_MODELS_H
#define SDC_MODELS_MODELS_H

#include "core/core.h"
#include "io/io.h"
#include "kernels/kernels.h"
#include "image/image.h"

/* Error paths of the models layer: TRY stores the status in the caller's `st` and jumps to
 * its cleanup label; TRY_RETURN returns the status. */
#define TRY(label, expr)                                                                           \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != SDC_STATUS_OK)                                                                   \
            goto label;                                                                            \
    } while (0)

#define TRY_RETURN(expr)                                                                           \
    do {                                                                                           \
        sdc_status st_ = (expr);                                                                   \
        if (st_ != SDC_STATUS_OK)                                                                  \
            return st_;                                                                            \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Weight files shared between stores                                                         */

/* An open safetensors file that several stores may reference (the components of a
 * single-file checkpoint). Reference-counted; the last release closes it. */
typedef struct sdc_weights_file {
    sdc_st_file *st;
    int refs;
} sdc_weights_file;

sdc_status sdc_weights_file_open(sdc_context *ctx, const char *path, sdc_weights_file **out);
void sdc_weights_file_retain(sdc_weights_file *f);
void sdc_weights_file_release(sdc_context *ctx, sdc_weights_file *f);

/* ---------------------------------------------------------------------------------------- */
/* Stores                                                                                     */

typedef enum sdc_store_transform {
    SDC_STORE_TRANSFORM_NONE,
    SDC_STORE_TRANSFORM_ROWS,      /* rows [row_begin, row_begin + row_count) of dim 0 (fused qkv) */
    SDC_STORE_TRANSFORM_TRANSPOSE, /* 2-D, transposed (OpenCLIP text_projection) */
    SDC_STORE_TRANSFORM_COUNT
} sdc_store_transform;

typedef struct sdc_store_entry {
    char *name;                  /* the diffusers name within the component; owned */
    const sdc_st_tensor *tensor; /* the stored tensor (compressed: the indices / int8 values) */
    sdc_store_transform transform;
    int64_t row_begin, row_count; /* for ROWS */
    int ndim;                    /* shape after the transform; ndim may also differ from the */
    int64_t shape[SDC_ST_MAX_DIMS]; /* stored one (e.g. [C, C, 1, 1] read as [C, C]) */
    bool used;                   /* taken by the model loader */
    /* A bundle's compressed weight (sdc_st_logical): read as a PALETTE or INT8 sdc_weight. */
    sdc_st_storage storage;       /* DENSE for every other entry */
    int bits;                     /* PALETTE: bits per index */
    int64_t rows_per_group;       /* PALETTE */
    const sdc_st_tensor *palette; /* PALETTE: [groups, 2^bits] */
    const sdc_st_tensor *scale;   /* INT8: [rows] F32 */
} sdc_store_entry;

typedef struct sdc_store {
    sdc_context *ctx;
    char *description;       /* "unet of sd15.safetensors", for messages */
    sdc_weights_file **files;
    size_t n_files;
    sdc_store_entry *entries; /* sorted by name after sdc_store_finish */
    size_t n_entries, cap_entries;
    sdc_arena owned;          /* widened vectors and transformed copies */
} sdc_store;

sdc_status sdc_store_create(sdc_context *ctx, const char *description, sdc_store **out);
void sdc_store_destroy(sdc_store *store);
/* The store keeps a reference to the file for as long as it lives. */
sdc_status sdc_store_add_file(sdc_store *store, sdc_weights_file *file);
/* Adds `name` for `tensor` (a tensor of a file added before). For ROWS the shape becomes
 * [row_count, rest...]; for TRANSPOSE [d1, d0]. */
sdc_status sdc_store_add(sdc_store *store, const char *name, const sdc_st_tensor *tensor,
                         sdc_store_transform transform, int64_t row_begin, int64_t row_count);
/* Adds a compressed weight of a bundle component file added before, under its own name. */
sdc_status sdc_store_add_compressed(sdc_store *store, const sdc_st_logical *weight);
/* Sorts the names; a name added twice is an error naming it. */
sdc_status sdc_store_finish(sdc_store *store);

/* A diffusers component folder (unet/, vae/, text_encoder/, ...): its weights file
 * (diffusion_pytorch_model.safetensors or model.safetensors, their .fp16 variants, or a
 * sharded *.safetensors.index.json) with every tensor under its own name. */
sdc_status sdc_store_open_diffusers(sdc_context *ctx, const char *component_dir,
                                    sdc_store **out);

/* One safetensors file with every tensor under its own name (TAESD weights, a lone
 * component file, a bundle's component file with its compressed weights). */
sdc_status sdc_store_open_file(sdc_context *ctx, const char *path, sdc_store **out);

/* NULL when absent. */
const sdc_store_entry *sdc_store_find(const sdc_store *store, const char *name);
bool sdc_store_has(const sdc_store *store, const char *name);

/* Shape checks: `shape` entries of -1 match any size. Missing tensors are
 * SDC_STATUS_NOT_FOUND, wrong shapes SDC_STATUS_SHAPE, both naming the tensor and the store. */
sdc_status sdc_store_weight(sdc_store *store, const char *name, int ndim, const int64_t *shape,
                            sdc_weight *out);
/* A float32 copy of a 1-D tensor of n values (norm scales, biases), owned by the store. */
sdc_status sdc_store_vector(sdc_store *store, const char *name, int64_t n, const float **out);
/* The same for any tensor: all values widened to float32 (position embeddings, small
 * matrices). `numel` is checked when > 0 and the shape when shape != NULL. */
sdc_status sdc_store_floats(sdc_store *store, const char *name, int ndim, const int64_t *shape,
                            const float **out);

/* All values of an entry (in the entry's shape, row-major) as float32 into dst: F32/F16/BF16
 * tensors through their transform, compressed weights decoded. Other dtypes are
 * SDC_STATUS_UNSUPPORTED naming the tensor. Does not mark the entry used. */
sdc_status sdc_store_entry_floats(const sdc_store *store, const sdc_store_entry *e, float *dst);
/* The entry's element count. */
int64_t sdc_store_entry_numel(const sdc_store_entry *e);

/* What a store's weights are, for `sdc inspect`: the values of all its entries (a fused tensor
 * counted once per view), their bytes as stored (compressed weights with all their parts) and
 * the stored dtype's safetensors name, or "mixed" when the entries differ. */
typedef struct sdc_weights_summary {
    uint64_t parameters, bytes;
    const char *dtype; /* static */
} sdc_weights_summary;

void sdc_store_summary(const sdc_store *store, sdc_weights_summary *out);

/* Names of entries no loader took (for "unexpected tensor" reports); returns the count and
 * writes up to `max` names. */
size_t sdc_store_unused(const sdc_store *store, const char **names, size_t max);

/* ---------------------------------------------------------------------------------------- */
/* Reading a diffusers config.json (config.c)                                                 */

typedef struct sdc_model_config {
    sdc_context *ctx;
    char *path;           /* for messages */
    char *text;
    sdc_json_doc *doc;
    const sdc_json *root; /* the top-level object */
} sdc_model_config;

sdc_status sdc_model_config_open(sdc_context *ctx, const char *path, sdc_model_config *out);
/* <dir>/config.json, the config of a diffusers component folder. */
sdc_status sdc_model_config_open_dir(sdc_context *ctx, const char *dir, sdc_model_config *out);
/* The same over `len` bytes of JSON text (copied); `what` names it in messages. */
sdc_status sdc_model_config_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                                  sdc_model_config *out);
/* A view of an object inside a document the caller keeps alive (a bundle's model.json): only
 * `what` is copied, and closing frees only that. */
sdc_status sdc_model_config_view(sdc_context *ctx, const sdc_json *object, const char *what,
                                 sdc_model_config *out);
void sdc_model_config_close(sdc_model_config *c);

/* Getters: an absent key or null gives `def`; a value of another type is SDC_STATUS_FORMAT
 * naming the file and the key. */
sdc_status sdc_model_config_int(const sdc_model_config *c, const char *key, int64_t def,
                                int64_t *out);
sdc_status sdc_model_config_float(const sdc_model_config *c, const char *key, double def,
                                  double *out);
sdc_status sdc_model_config_bool(const sdc_model_config *c, const char *key, bool def, bool *out);
/* *out points into the document (or is def). */
sdc_status sdc_model_config_string(const sdc_model_config *c, const char *key, const char *def,
                                   const char **out);
/* A required list of 1 to max integers / strings. */
sdc_status sdc_model_config_int_list(const sdc_model_config *c, const char *key, int64_t *vals,
                                     int max, int *n);
sdc_status sdc_model_config_string_list(const sdc_model_config *c, const char *key,
                                        const char **vals, int max, int *n);
/* An integer for every block or a list of exactly n (attention_head_dim,
 * transformer_layers_per_block); absent or null fills def. */
sdc_status sdc_model_config_int_or_list(const sdc_model_config *c, const char *key, int n,
                                        int64_t def, int64_t *vals);
/* SDC_STATUS_UNSUPPORTED naming the key unless the value is the one sdc supports (an absent
 * key or null counts as `supported`; for strings, supported NULL means "only null"). */
sdc_status sdc_model_config_expect_string(const sdc_model_config *c, const char *key,
                                          const char *supported);
sdc_status sdc_model_config_expect_bool(const sdc_model_config *c, const char *key,
                                        bool supported);
sdc_status sdc_model_config_expect_null(const sdc_model_config *c, const char *key);

/* ---------------------------------------------------------------------------------------- */
/* Activation memory of a forward pass (forward.c)                                            */

/* A forward pass either computes, taking its tensors from the caller's arena and running the
 * kernels, or measures (arena NULL): no kernel runs and every allocation is only counted as a
 * fresh fixed arena would hand it out. A model's *_scratch_bytes function is its forward pass
 * in measuring mode, so the number is exact by construction. Tensors made while measuring
 * point at a dummy address: code that touches data directly checks sdc_fwd_computing. */
typedef struct sdc_fwd {
    sdc_context *ctx;
    sdc_arena *arena; /* NULL: measuring */
    size_t used;      /* measuring: bytes handed out so far, alignment included */
    size_t peak;      /* measuring: the largest `used` */
} sdc_fwd;

typedef struct sdc_fwd_mark {
    sdc_arena_mark arena;
    size_t used;
} sdc_fwd_mark;

void sdc_fwd_init(sdc_fwd *f, sdc_context *ctx, sdc_arena *arena);
bool sdc_fwd_computing(const sdc_fwd *f);
/* Measuring: the bytes a fresh fixed arena must hold for everything allocated so far,
 * rounded up to SDC_ALIGN (so the sizes of passes run one after another add up). */
size_t sdc_fwd_bytes(const sdc_fwd *f);
/* A contiguous float32 activation; an arena that cannot hold it is SDC_STATUS_OUT_OF_MEMORY
 * naming the shape. */
sdc_status sdc_fwd_tensor(sdc_fwd *f, int ndim, const int64_t *shape, sdc_tensor *out);
sdc_status sdc_fwd_tensor2(sdc_fwd *f, int64_t rows, int64_t cols, sdc_tensor *out);
sdc_status sdc_fwd_tensor4(sdc_fwd *f, int64_t n, int64_t c, int64_t h, int64_t w,
                           sdc_tensor *out);
sdc_fwd_mark sdc_fwd_get_mark(const sdc_fwd *f);
void sdc_fwd_reset_to(sdc_fwd *f, sdc_fwd_mark m);
/* Releases everything allocated after m except the given tensors (allocated after m, listed
 * in allocation order), which move down to m; their data pointers are updated. */
sdc_status sdc_fwd_keep_n(sdc_fwd *f, sdc_fwd_mark m, sdc_tensor *const *tensors, int n);
sdc_status sdc_fwd_keep(sdc_fwd *f, sdc_fwd_mark m, sdc_tensor *t);

/* The kernels of kernels.h, skipped while measuring. */
sdc_status sdc_fwd_conv2d(sdc_fwd *f, const sdc_tensor *x, const sdc_weight *w,
                          const float *bias, int stride, int pad, sdc_tensor *y);
sdc_status sdc_fwd_linear(sdc_fwd *f, const sdc_tensor *x, const sdc_weight *w,
                          const float *bias, sdc_tensor *y);
sdc_status sdc_fwd_group_norm(sdc_fwd *f, const sdc_tensor *x, int groups, const float *gamma,
                              const float *beta, float eps, bool silu, sdc_tensor *y);
sdc_status sdc_fwd_layer_norm(sdc_fwd *f, const sdc_tensor *x, const float *gamma,
                              const float *beta, float eps, sdc_tensor *y);
sdc_status sdc_fwd_unary(sdc_fwd *f, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y);
sdc_status sdc_fwd_binary(sdc_fwd *f, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                          sdc_tensor *y);
sdc_status sdc_fwd_add(sdc_fwd *f, const sdc_tensor *a, const sdc_tensor *b, sdc_tensor *y);
sdc_status sdc_fwd_copy(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y);
sdc_status sdc_fwd_upsample2x(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y);
sdc_status sdc_fwd_attention(sdc_fwd *f, const sdc_tensor *q, const sdc_tensor *k,
                             const sdc_tensor *v, float scale, sdc_tensor *out);
sdc_status sdc_fwd_geglu(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y);
sdc_status sdc_fwd_timestep_embedding(sdc_fwd *f, const float *timesteps, int64_t n, int64_t dim,
                                      const sdc_timestep_embedding_params *p, sdc_tensor *y);

/* ---------------------------------------------------------------------------------------- */
/* Building blocks shared by the UNet, VAE and ControlNet (blocks.c)                          */

/* Longest tensor name the loaders build. */
#define SDC_MODEL_NAME_MAX 256

/* Shape-checked lookups of "<prefix><name>" (and ".weight" / ".bias" for the conv, linear and
 * norm forms); conv weights are [out, in, k, k], linear [out, in]. bias may be NULL when the
 * layer has none. */
bool sdc_load_has(const sdc_store *s, const char *fmt, ...) SDC_PRINTF(2, 3);
sdc_status sdc_load_weight(sdc_store *s, const char *prefix, const char *name, int ndim,
                           const int64_t *shape, sdc_weight *w);
sdc_status sdc_load_vector(sdc_store *s, const char *prefix, const char *name, int64_t n,
                           const float **v);
sdc_status sdc_load_conv(sdc_store *s, const char *prefix, const char *name, int64_t out,
                         int64_t in, int64_t k, sdc_weight *w, const float **bias);
sdc_status sdc_load_linear(sdc_store *s, const char *prefix, const char *name, int64_t out,
                           int64_t in, sdc_weight *w, const float **bias);
sdc_status sdc_load_norm(sdc_store *s, const char *prefix, const char *name, int64_t n,
                         const float **gamma, const float **beta);
/* SDC_STATUS_FORMAT naming a tensor of the store no loader took (a configuration that does not
 * fit the weights). */
sdc_status sdc_load_check_unused(const sdc_store *s);

/* SDC_STATUS_SHAPE (or INVALID_ARGUMENT when t is NULL) unless t is a contiguous F32 tensor of
 * the shape (-1 matches any size); `what` names it in the message. */
sdc_status sdc_check_input(sdc_context *ctx, const char *what, const sdc_tensor *t, int ndim,
                           const int64_t *shape);

/* diffusers ResnetBlock2D (resnet_time_scale_shift "default", output_scale_factor 1):
 * out = conv2(silu(norm2(conv1(silu(norm1(x))) + time_emb_proj(temb)))) + shortcut(x). */
typedef struct sdc_resnet {
    int64_t in_channels, out_channels;
    int64_t temb_channels;              /* 0: no time embedding (VAE) */
    int groups;
    float eps;
    const float *norm1_weight;          /* [in] */
    const float *norm1_bias;            /* [in] */
    sdc_weight conv1;                   /* [out, in, 3, 3] */
    const float *conv1_bias;            /* [out] */
    sdc_weight time_emb_proj;           /* [out, temb] */
    const float *time_emb_proj_bias;    /* [out] */
    const float *norm2_weight;          /* [out] */
    const float *norm2_bias;            /* [out] */
    sdc_weight conv2;                   /* [out, out, 3, 3] */
    const float *conv2_bias;            /* [out] */
    bool has_shortcut;                  /* in != out */
    sdc_weight conv_shortcut;           /* [out, in, 1, 1] */
    const float *conv_shortcut_bias;    /* [out] */
} sdc_resnet;

sdc_status sdc_resnet_load(sdc_store *s, const char *prefix, int64_t in, int64_t out,
                           int64_t temb, int groups, float eps, sdc_resnet *r);
/* x [B, in, H, W]; temb [B, temb] is the time embedding already through SiLU (NULL without
 * one); *out [B, out, H, W] is allocated from f. */
sdc_status sdc_resnet_forward(sdc_fwd *f, const sdc_resnet *r, const sdc_tensor *x,
                              const sdc_tensor *temb, sdc_tensor *out);

/* Downsample2D: 3x3 conv w [O, C, 3, 3] with stride 2 and padding `pad`; pad -1 is the VAE's
 * padding=0 form (one zero row and column at the bottom and right). *out from f. */
sdc_status sdc_downsample_forward(sdc_fwd *f, const sdc_weight *w, const float *bias, int pad,
                                  const sdc_tensor *x, sdc_tensor *out);
/* Upsample2D: nearest 2x, then 3x3 conv w [O, C, 3, 3] with padding 1. *out from f. */
sdc_status sdc_upsample_forward(sdc_fwd *f, const sdc_weight *w, const float *bias,
                                const sdc_tensor *x, sdc_tensor *out);
/* The same to an explicit size out_h x out_w, each 2n or 2n - 1 for an input side n: the
 * UNet's upsample_size when a latent side is not a multiple of 2^levels (torch's nearest
 * interpolation to 2n - 1 picks exactly the rows of the 2x upsample minus the last). */
sdc_status sdc_upsample_to_forward(sdc_fwd *f, const sdc_weight *w, const float *bias,
                                   const sdc_tensor *x, int64_t out_h, int64_t out_w,
                                   sdc_tensor *out);

/* diffusers Attention: q = to_q(x), k = to_k(c), v = to_v(c) split into heads, scaled
 * dot-product attention (scale head_dim^-0.5), to_out.0. */
typedef struct sdc_attention {
    int64_t query_dim, context_dim;
    int n_heads;
    int64_t head_dim;
    sdc_weight to_q;          /* [heads * head_dim, query_dim] */
    const float *to_q_bias;   /* [heads * head_dim] or NULL */
    sdc_weight to_k;          /* [heads * head_dim, context_dim] */
    const float *to_k_bias;   /* or NULL */
    sdc_weight to_v;          /* [heads * head_dim, context_dim] */
    const float *to_v_bias;   /* or NULL */
    sdc_weight to_out;        /* [query_dim, heads * head_dim] */
    const float *to_out_bias; /* [query_dim] */
} sdc_attention;

sdc_status sdc_attention_load(sdc_store *s, const char *prefix, int64_t query_dim,
                              int64_t context_dim, int n_heads, int64_t head_dim, bool qkv_bias,
                              sdc_attention *a);
/* x [B * Lq, query_dim] and context [B * Lk, context_dim] (x itself for self-attention) as
 * rows of `batch` sequences; *out [B * Lq, query_dim] from f. */
sdc_status sdc_attention_forward(sdc_fwd *f, const sdc_attention *a, const sdc_tensor *x,
                                 int64_t batch, const sdc_tensor *context, sdc_tensor *out);

/* BasicTransformerBlock (norm_type "layer_norm", GEGLU feed-forward of 4 x dim). */
typedef struct sdc_transformer_block {
    int64_t dim, ff_inner;
    const float *norm1_weight, *norm1_bias; /* [dim] each */
    sdc_attention attn1;                    /* self-attention */
    const float *norm2_weight, *norm2_bias; /* [dim] each */
    sdc_attention attn2;                    /* cross-attention on the text */
    const float *norm3_weight, *norm3_bias; /* [dim] each */
    sdc_weight ff_proj;                     /* [2 ff_inner, dim]: GEGLU value | gate */
    const float *ff_proj_bias;              /* [2 ff_inner] */
    sdc_weight ff_out;                      /* [dim, ff_inner] */
    const float *ff_out_bias;               /* [dim] */
} sdc_transformer_block;

/* Transformer2DModel: GroupNorm (eps 1e-6), proj_in, transformer blocks, proj_out, residual. */
typedef struct sdc_transformer2d {
    int64_t channels, context_dim;
    int n_heads, n_layers, groups;
    const float *norm_weight, *norm_bias; /* [C] each */
    sdc_weight proj_in;                   /* [C, C] (stored [C, C, 1, 1] as a 1x1 conv) */
    const float *proj_in_bias;            /* [C] */
    sdc_transformer_block *blocks;        /* [n_layers], in the loader's arena */
    sdc_weight proj_out;                  /* [C, C] (or [C, C, 1, 1]) */
    const float *proj_out_bias;           /* [C] */
} sdc_transformer2d;

/* The blocks array comes from `owner` (the model's arena). upcast_attention needs nothing:
 * attention is computed in float32 throughout. */
sdc_status sdc_transformer2d_load(sdc_store *s, sdc_arena *owner, const char *prefix,
                                  int64_t channels, int n_heads, int n_layers,
                                  int64_t context_dim, int groups, sdc_transformer2d *t);
/* x [B, C, H, W] += transformer(x, context [B, L, context_dim]), in place. */
sdc_status sdc_transformer2d_forward(sdc_fwd *f, const sdc_transformer2d *t, sdc_tensor *x,
                                     const sdc_tensor *context);

/* The VAE mid block's Attention: group norm, one head over all channels, q/k/v/out with
 * biases, residual (rescale_output_factor 1). */
typedef struct sdc_vae_attention {
    int64_t channels;
    int groups;
    float eps;
    const float *group_norm_weight, *group_norm_bias; /* [C] each */
    sdc_attention attn;                                /* to_q/to_k/to_v [C, C], to_out.0 [C, C] */
} sdc_vae_attention;

sdc_status sdc_vae_attention_load(sdc_store *s, const char *prefix, int64_t channels, int groups,
                                  float eps, sdc_vae_attention *a);
/* x [B, C, H, W] += attention(group_norm(x)), in place. */
sdc_status sdc_vae_attention_forward(sdc_fwd *f, const sdc_vae_attention *a, sdc_tensor *x);

/* TimestepEmbedding: linear_1, SiLU, linear_2. */
typedef struct sdc_timestep_mlp {
    int64_t in_dim, dim;
    sdc_weight linear_1;        /* [dim, in_dim] */
    const float *linear_1_bias; /* [dim] */
    sdc_weight linear_2;        /* [dim, dim] */
    const float *linear_2_bias; /* [dim] */
} sdc_timestep_mlp;

sdc_status sdc_timestep_mlp_load(sdc_store *s, const char *prefix, int64_t in_dim, int64_t dim,
                                 sdc_timestep_mlp *m);
/* x [B, in_dim] -> *out [B, dim] from f. */
sdc_status sdc_timestep_mlp_forward(sdc_fwd *f, const sdc_timestep_mlp *m, const sdc_tensor *x,
                                    sdc_tensor *out);

/* ---------------------------------------------------------------------------------------- */
/* UNet2DConditionModel configuration and blocks (shared with ControlNetModel)                */

#define SDC_UNET_MAX_LEVELS 6
#define SDC_UNET_MAX_LAYERS 4 /* resnets per down block; up blocks have one more */
#define SDC_UNET_MAX_SKIPS (1 + SDC_UNET_MAX_LEVELS * (SDC_UNET_MAX_LAYERS + 1))

typedef struct sdc_unet_config {
    int64_t in_channels;      /* 4; 9 for inpainting (latents, mask, masked-image latents) */
    int64_t out_channels;     /* 4 (unused by ControlNet) */
    int n_levels;
    int64_t block_out_channels[SDC_UNET_MAX_LEVELS];
    bool down_attention[SDC_UNET_MAX_LEVELS]; /* CrossAttnDownBlock2D, else DownBlock2D */
    bool up_attention[SDC_UNET_MAX_LEVELS];   /* per up block, deepest first */
    int layers_per_block;
    int n_heads[SDC_UNET_MAX_LEVELS];            /* per level, down order */
    int transformer_layers[SDC_UNET_MAX_LEVELS]; /* per level, down order (mid: the last) */
    int up_transformer_layers[SDC_UNET_MAX_LEVELS]; /* per up block, deepest first */
    int64_t cross_attention_dim;
    bool use_linear_projection; /* proj_in/proj_out linear, else 1x1 conv (same math) */
    bool upcast_attention;      /* no effect: sdc's attention is float32 already */
    int norm_num_groups;
    float norm_eps;
    bool flip_sin_to_cos;
    float freq_shift;
    int downsample_padding;
    int64_t time_embed_dim;     /* 4 x block_out_channels[0] */
    bool text_time;             /* addition_embed_type "text_time" (SDXL) */
    int64_t addition_time_embed_dim;              /* text_time: per time id */
    int64_t projection_class_embeddings_input_dim; /* text_time: pooled + n_ids x the above */
} sdc_unet_config;

/* Reads a UNet2DConditionModel config.json (controlnet: a ControlNetModel one, which has no
 * up blocks). Values sdc does not implement are SDC_STATUS_UNSUPPORTED naming the key. */
sdc_status sdc_unet_config_from_json(const sdc_model_config *json, bool controlnet,
                                     sdc_unet_config *out);

/* time_proj + time_embedding, plus add_time_proj + add_embedding for "text_time". */
typedef struct sdc_time_conditioning {
    int64_t proj_dim, embed_dim;
    sdc_timestep_embedding_params params; /* flip_sin_to_cos, freq_shift */
    sdc_timestep_mlp time_embedding;      /* [proj_dim] -> [embed_dim] */
    bool text_time;
    int64_t add_time_dim, add_in_dim;
    sdc_timestep_mlp add_embedding;       /* [add_in_dim] -> [embed_dim] */
} sdc_time_conditioning;

sdc_status sdc_time_conditioning_load(sdc_store *s, const sdc_unet_config *c,
                                      sdc_time_conditioning *tc);
/* *temb [B, embed_dim] = silu(emb) from f: what every resnet takes. timesteps [B];
 * text_embeds [B, P] and time_ids [B, n] (contiguous) for text_time, else ignored. */
sdc_status sdc_time_conditioning_forward(sdc_fwd *f, const sdc_time_conditioning *tc,
                                         int64_t batch, const float *timesteps,
                                         const sdc_tensor *text_embeds,
                                         const sdc_tensor *time_ids, sdc_tensor *temb);

typedef struct sdc_unet_down_block {
    int n_layers;
    bool has_attention, has_downsampler;
    int downsample_padding;
    sdc_resnet resnets[SDC_UNET_MAX_LAYERS];
    sdc_transformer2d attentions[SDC_UNET_MAX_LAYERS];
    sdc_weight downsampler;        /* [C, C, 3, 3], stride 2 */
    const float *downsampler_bias; /* [C] */
} sdc_unet_down_block;

typedef struct sdc_unet_mid_block {
    sdc_resnet resnets[2];
    sdc_transformer2d attention;
} sdc_unet_mid_block;

typedef struct sdc_unet_up_block {
    int n_layers; /* layers_per_block + 1 */
    bool has_attention, has_upsampler;
    sdc_resnet resnets[SDC_UNET_MAX_LAYERS + 1];
    sdc_transformer2d attentions[SDC_UNET_MAX_LAYERS + 1];
    sdc_weight upsampler;        /* [C, C, 3, 3] after nearest 2x */
    const float *upsampler_bias; /* [C] */
} sdc_unet_up_block;

/* down_blocks.<level>, mid_block, up_blocks.<index> (index 0 is the deepest). */
sdc_status sdc_unet_down_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                    int level, sdc_unet_down_block *b);
sdc_status sdc_unet_mid_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                   sdc_unet_mid_block *b);
sdc_status sdc_unet_up_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                  int index, sdc_unet_up_block *b);

/* *h is the input and becomes the block's output. Every layer's output and the downsampler's
 * are appended to skips (they stay allocated in f: they are the skip connections). */
sdc_status sdc_unet_down_block_forward(sdc_fwd *f, const sdc_unet_down_block *b, sdc_tensor *h,
                                       const sdc_tensor *temb, const sdc_tensor *context,
                                       sdc_tensor *skips, int *n_skips);
/* *out from f; x (the last skip) is left as it is. */
sdc_status sdc_unet_mid_block_forward(sdc_fwd *f, const sdc_unet_mid_block *b,
                                      const sdc_tensor *x, const sdc_tensor *temb,
                                      const sdc_tensor *context, sdc_tensor *out);
/* *h lives at h_mark with nothing live above it; each layer consumes the last skip (plus
 * residuals[i] when residuals is not NULL) and the new h replaces the old one at h_mark. */
sdc_status sdc_unet_up_block_forward(sdc_fwd *f, const sdc_unet_up_block *b, sdc_fwd_mark h_mark,
                                     sdc_tensor *h, const sdc_tensor *skips,
                                     const sdc_tensor *residuals, int *n_skips,
                                     const sdc_tensor *temb, const sdc_tensor *context);

/* ---------------------------------------------------------------------------------------- */
/* TAESD, the tiny autoencoders (taesd.c)                                                     */

typedef struct sdc_taesd_config {
    int64_t latent_channels;  /* 4 (SD 1.x/2.x, SDXL), 16 (SD3, FLUX.1), 32 (FLUX.2) */
    int64_t channels;         /* width of every layer: 64 */
    bool group_norm_blocks;   /* FLUX.2: GroupNorm pool branch in the deepest blocks */
    bool has_encoder, has_decoder;
} sdc_taesd_config;

typedef struct sdc_taesd sdc_taesd;

/* Loads from the upstream taesd.py tensor names; either store may be NULL (that half is then
 * absent). Takes ownership of both stores, also on failure. The variant comes from the
 * tensors (latent channels from "14.weight" / "1.weight", GroupNorm blocks from
 * "11.pool.0.weight" / "3.pool.0.weight"); the 32x taesana files are SDC_STATUS_UNSUPPORTED. */
sdc_status sdc_taesd_load(sdc_context *ctx, sdc_store *encoder, sdc_store *decoder,
                          sdc_taesd **out);
/* The same from safetensors files (taef2_encoder.safetensors, ...); either path may be NULL. */
sdc_status sdc_taesd_open(sdc_context *ctx, const char *encoder_path, const char *decoder_path,
                          sdc_taesd **out);
void sdc_taesd_destroy(sdc_taesd *t);
const sdc_taesd_config *sdc_taesd_get_config(const sdc_taesd *t);

/* image [B, 3, H, W] RGB in [0, 1] (H, W multiples of 8) -> latent [B, C, H/8, W/8], both
 * caller memory; temporaries come from scratch and are released on return. */
sdc_status sdc_taesd_encode(sdc_context *ctx, const sdc_taesd *t, sdc_arena *scratch,
                            const sdc_tensor *image, sdc_tensor *latent);
/* latent [B, C, h, w] -> image [B, 3, 8h, 8w], roughly [0, 1] and not clamped. */
sdc_status sdc_taesd_decode(sdc_context *ctx, const sdc_taesd *t, sdc_arena *scratch,
                            const sdc_tensor *latent, sdc_tensor *image);
/* The exact scratch bytes (a fresh fixed arena of this size suffices) for tensors of these
 * shapes; their data is not read. */
sdc_status sdc_taesd_encode_scratch_bytes(sdc_context *ctx, const sdc_taesd *t,
                                          const sdc_tensor *image, const sdc_tensor *latent,
                                          size_t *bytes);
sdc_status sdc_taesd_decode_scratch_bytes(sdc_context *ctx, const sdc_taesd *t,
                                          const sdc_tensor *latent, const sdc_tensor *image,
                                          size_t *bytes);

/* ---------------------------------------------------------------------------------------- */
/* AutoencoderKL (vae.c; single-file names in vae_ldm.c)                                     */

#define SDC_VAE_MAX_LEVELS 6
#define SDC_VAE_MAX_LAYERS 4

typedef struct sdc_vae_config {
    int64_t in_channels, out_channels; /* 3 */
    int64_t latent_channels;           /* 4 */
    int n_levels;
    int64_t block_out_channels[SDC_VAE_MAX_LEVELS]; /* SD: 128, 256, 512, 512 */
    int layers_per_block;              /* encoder resnets per level; the decoder has one more */
    int norm_num_groups;
    bool mid_attention;                /* mid_block_add_attention */
    bool use_quant_conv, use_post_quant_conv;
    float scaling_factor;              /* 0.18215 SD 1.x/2.x, 0.13025 SDXL */
    float shift_factor;                /* 0 unless the config sets one */
} sdc_vae_config;

typedef struct sdc_vae sdc_vae;

/* Reads an AutoencoderKL config.json; values sdc does not implement are
 * SDC_STATUS_UNSUPPORTED naming the key. */
sdc_status sdc_vae_config_from_json(const sdc_model_config *json, sdc_vae_config *out);
/* Derives the configuration from the tensors (diffusers names): levels, widths, layers,
 * latent channels, attention and quant convs; 32 norm groups; the given scaling factor. */
sdc_status sdc_vae_config_from_store(const sdc_store *store, float scaling_factor,
                                     sdc_vae_config *out);
/* The "first_stage_model.*" tensors of a single-file checkpoint under their diffusers names
 * (an unknown name under that prefix is SDC_STATUS_FORMAT naming it). */
sdc_status sdc_vae_ldm_store(sdc_context *ctx, sdc_weights_file *file, sdc_store **out);
/* The same for the tensors under `prefix` ("" for a lone LDM VAE file). */
sdc_status sdc_vae_ldm_store_prefixed(sdc_context *ctx, sdc_weights_file *file,
                                      const char *prefix, sdc_store **out);

/* Takes ownership of the store, also on failure; every tensor must be used. */
sdc_status sdc_vae_load(sdc_context *ctx, sdc_store *store, const sdc_vae_config *config,
                        sdc_vae **out);
/* A diffusers vae/ folder (config.json + weights). */
sdc_status sdc_vae_open_diffusers(sdc_context *ctx, const char *dir, sdc_vae **out);
/* The VAE of a single-file checkpoint: configuration from the tensors, scaling factor 0.13025
 * when the file is an SDXL one ("conditioner.*" tensors), else 0.18215. */
sdc_status sdc_vae_open_single_file(sdc_context *ctx, sdc_weights_file *file, sdc_vae **out);
/* A VAE on its own, for using another VAE than a model's (e.g. an fp16-safe one): a diffusers
 * vae/ folder (config.json + weights), or one weights file (.safetensors / .ckpt) under diffusers
 * names ("encoder.down_blocks.*"), LDM names ("encoder.down.*", the VAE files Stability AI
 * publishes) or a whole checkpoint's "first_stage_model.*". A file has no configuration: it is
 * derived from the tensors with `scaling_factor`. */
sdc_status sdc_vae_open_path(sdc_context *ctx, const char *path, float scaling_factor,
                             sdc_vae **out);
void sdc_vae_destroy(sdc_vae *v);
const sdc_vae_config *sdc_vae_get_config(const sdc_vae *v);
const sdc_store *sdc_vae_get_store(const sdc_vae *v);

/* image [B, 3, H, W] in [-1, 1] (H, W multiples of 2^(levels-1)) -> the posterior's mean and
 * logvar (clamped to [-30, 20]), each [B, latent, H/8, W/8] in caller memory. */
sdc_status sdc_vae_encode(sdc_context *ctx, const sdc_vae *v, sdc_arena *scratch,
                          const sdc_tensor *image, sdc_tensor *mean, sdc_tensor *logvar);
/* latent [B, latent, h, w] (unscaled) -> image [B, 3, 8h, 8w], roughly [-1, 1], not clamped. */
sdc_status sdc_vae_decode(sdc_context *ctx, const sdc_vae *v, sdc_arena *scratch,
                          const sdc_tensor *latent, sdc_tensor *image);
/* Exact scratch bytes for tensors of these shapes (latent: the shape of mean / logvar). */
sdc_status sdc_vae_encode_scratch_bytes(sdc_context *ctx, const sdc_vae *v,
                                        const sdc_tensor *image, const sdc_tensor *latent,
                                        size_t *bytes);
sdc_status sdc_vae_decode_scratch_bytes(sdc_context *ctx, const sdc_vae *v,
                                        const sdc_tensor *latent, const sdc_tensor *image,
                                        size_t *bytes);

/* ---------------------------------------------------------------------------------------- */
/* UNet2DConditionModel (unet.c; single-file names in unet_ldm.c)                             */

typedef struct sdc_unet sdc_unet;

/* What a ControlNet adds to the UNet: one residual per skip connection, in the order the down
 * path produces them (conv_in output first), and one for the mid block; already multiplied
 * by the conditioning scale. Several ControlNets add up their residuals. */
typedef struct sdc_control_residuals {
    int n_down;
    sdc_tensor down[SDC_UNET_MAX_SKIPS]; /* [B, C_skip, H_skip, W_skip] each */
    sdc_tensor mid;                      /* [B, C_last, H / 2^(levels-1), W / 2^(levels-1)] */
} sdc_control_residuals;

typedef struct sdc_unet_inputs {
    const sdc_tensor *sample;                /* [B, in_channels, H, W] */
    const float *timesteps;                  /* [B] */
    const sdc_tensor *encoder_hidden_states; /* [B, L, cross_attention_dim] */
    const sdc_tensor *text_embeds;           /* text_time: [B, pooled] */
    const sdc_tensor *time_ids;              /* text_time: [B, n_ids] (6 base, 5 refiner) */
    const sdc_control_residuals *control;    /* NULL, or ControlNet residuals */
} sdc_unet_inputs;

/* Derives the configuration from the tensors (diffusers names) in one place: levels, widths,
 * layers, block types, transformer depths, context width, projection kind, text_time; then
 * the family: SDXL (text_time; heads of 64), SD 2.x (linear proj_in, context not 768; heads
 * of 64) or SD 1.x (conv proj_in, context not 1024; 8 heads); anything else is an unknown
 * layout (SDC_STATUS_FORMAT). For text_time the size of a time id's embedding needs the pooled
 * text width, read from the checkpoint's OpenCLIP text_projection when `checkpoint` has one
 * (else the real SDXL sizes). Norm groups 32, eps 1e-5. */
sdc_status sdc_unet_config_from_store(const sdc_store *store, const sdc_st_file *checkpoint,
                                      sdc_unet_config *out);
/* The "model.diffusion_model.*" tensors of a single-file checkpoint under their diffusers
 * names; a name outside the layout the input blocks describe is SDC_STATUS_FORMAT. */
sdc_status sdc_unet_ldm_store(sdc_context *ctx, sdc_weights_file *file, sdc_store **out);

/* Takes ownership of the store, also on failure; every tensor must be used. */
sdc_status sdc_unet_load(sdc_context *ctx, sdc_store *store, const sdc_unet_config *config,
                         sdc_unet **out);
/* A diffusers unet/ folder (config.json + weights). */
sdc_status sdc_unet_open_diffusers(sdc_context *ctx, const char *dir, sdc_unet **out);
/* The UNet of a single-file checkpoint, configured from its tensors. */
sdc_status sdc_unet_open_single_file(sdc_context *ctx, sdc_weights_file *file, sdc_unet **out);
void sdc_unet_destroy(sdc_unet *u);
const sdc_unet_config *sdc_unet_get_config(const sdc_unet *u);
const sdc_store *sdc_unet_get_store(const sdc_unet *u);
/* The number of skip connections (and so of ControlNet down residuals). */
int sdc_unet_n_skips(const sdc_unet_config *c);

/* out [B, out_channels, H, W] (caller memory) = the noise (or v) prediction; H and W multiples
 * of 2^(levels-1). Temporaries come from scratch and are released on return. Thread safety:
 * the model is only read, so several threads may run it with their own contexts and arenas. */
sdc_status sdc_unet_forward(sdc_context *ctx, const sdc_unet *u, sdc_arena *scratch,
                            const sdc_unet_inputs *in, sdc_tensor *out);
/* Exact scratch bytes of sdc_unet_forward for inputs of these shapes (data not read; the
 * timesteps pointer may be NULL). */
sdc_status sdc_unet_scratch_bytes(sdc_context *ctx, const sdc_unet *u, const sdc_unet_inputs *in,
                                  size_t *bytes);

/* ---------------------------------------------------------------------------------------- */
/* CLIP text encoders (clip_text.c; single-file names in clip_ldm.c)                          */

/* transformers' CLIPTextConfig as sdc uses it. */
typedef struct sdc_clip_text_config {
    int64_t vocab_size;        /* 49408 */
    int64_t max_positions;     /* max_position_embeddings: 77 */
    int64_t hidden_size;       /* 768 (ViT-L), 1024 (ViT-H), 1280 (bigG) */
    int64_t intermediate_size; /* 4 x hidden_size */
    int n_layers;              /* 12, 23 (SD 2.x uses 23 of ViT-H's 24), 32 */
    int n_heads;               /* hidden_size / 64 in every released tower */
    sdc_unary_op hidden_act;   /* QUICK_GELU (CLIP ViT-L) or GELU (OpenCLIP) */
    float layer_norm_eps;      /* 1e-5 */
    int64_t eos_token_id;      /* 2 (every SD config): pool at argmax(ids); else at the first
                                  position holding this id */
    int64_t projection_dim;    /* 0: CLIPTextModel; else text_projection [proj, hidden] */
} sdc_clip_text_config;

/* The text encoders a single-file checkpoint can hold. */
typedef enum sdc_clip_ldm_layout {
    SDC_CLIP_LDM_LAYOUT_SD1,    /* cond_stage_model.transformer.*: transformers names */
    SDC_CLIP_LDM_LAYOUT_SD2,    /* cond_stage_model.model.*: OpenCLIP ViT-H, last layer dropped */
    SDC_CLIP_LDM_LAYOUT_SDXL_L, /* conditioner.embedders.0.transformer.*: transformers names */
    SDC_CLIP_LDM_LAYOUT_SDXL_G, /* conditioner.embedders.1.model.*: OpenCLIP bigG + projection */
    /* conditioner.embedders.0.model.*: the SDXL refiner's only encoder, OpenCLIP bigG +
     * projection (sd_xl_refiner_1.0.safetensors) */
    SDC_CLIP_LDM_LAYOUT_SDXL_REFINER_G,
    SDC_CLIP_LDM_LAYOUT_COUNT
} sdc_clip_ldm_layout;

/* Whether the file holds that layout's token embedding. */
bool sdc_clip_ldm_present(const sdc_weights_file *file, sdc_clip_ldm_layout layout);
/* The layout's tensors under transformers' names (OpenCLIP's fused in_proj as ROWS views, its
 * text_projection TRANSPOSEd). SD 2.x leaves out the last resblock and text_projection, as
 * diffusers does; logit_scale and position_ids are never taken. A missing tensor of a used
 * layer is SDC_STATUS_NOT_FOUND naming the checkpoint's name; unknown tensors under the prefix
 * are kept under their own names so the loader reports them. */
sdc_status sdc_clip_ldm_store(sdc_context *ctx, sdc_weights_file *file,
                              sdc_clip_ldm_layout layout, sdc_store **out);
/* quick_gelu for the CLIP ViT-L layouts, gelu for OpenCLIP. */
sdc_unary_op sdc_clip_ldm_hidden_act(sdc_clip_ldm_layout layout);
const char *sdc_clip_ldm_prefix(sdc_clip_ldm_layout layout);

typedef struct sdc_clip_text sdc_clip_text;

/* A diffusers text_encoder/config.json (CLIPTextConfig; absent keys take transformers'
 * defaults). Unknown activations and other model types are SDC_STATUS_UNSUPPORTED. */
sdc_status sdc_clip_text_config_from_json(const sdc_model_config *json,
                                          sdc_clip_text_config *out);
/* The configuration of a store without config.json, from the tensor shapes: vocabulary,
 * width (token_embedding), positions, layers (the highest layer index), MLP width (layer 0's
 * fc1), projection (text_projection.weight, if any); heads = width / 64, eps 1e-5,
 * eos_token_id 2. The activation comes from the layout. */
sdc_status sdc_clip_text_config_from_store(const sdc_store *store, sdc_unary_op hidden_act,
                                           sdc_clip_text_config *out);

/* Takes ownership of the store, also on failure; every tensor must be used (except the
 * position_ids buffer older files carry). Weights stay views into the store's files. */
sdc_status sdc_clip_text_load(sdc_context *ctx, sdc_store *store,
                              const sdc_clip_text_config *config, sdc_clip_text **out);
/* A diffusers text_encoder/ or text_encoder_2/ folder. The projection is loaded when the
 * weights hold text_projection.weight (CLIPTextModelWithProjection). */
sdc_status sdc_clip_text_open_diffusers(sdc_context *ctx, const char *component_dir,
                                        sdc_clip_text **out);
/* One text encoder of a single-file checkpoint, configured from its tensors. */
sdc_status sdc_clip_text_open_single_file(sdc_context *ctx, sdc_weights_file *file,
                                          sdc_clip_ldm_layout layout, sdc_clip_text **out);
void sdc_clip_text_destroy(sdc_clip_text *m);
const sdc_clip_text_config *sdc_clip_text_get_config(const sdc_clip_text *m);
const sdc_store *sdc_clip_text_get_store(const sdc_clip_text *m);

/* What one encode writes; every tensor is caller memory (contiguous F32) or NULL when not
 * wanted. Only the layers an output needs are run (hidden_states[-2] alone skips the last). */
typedef struct sdc_clip_text_outputs {
    sdc_tensor *last_hidden_state; /* [B, L, hidden]: final LayerNorm of the last layer */
    sdc_tensor *hidden_state;      /* [B, L, hidden]: hidden_states[hidden_state_index] */
    int hidden_state_index;        /* as Python indexes the n_layers + 1 hidden states: 0 the
                                      embeddings, i the output of layer i (no final LayerNorm),
                                      -1 the last layer, -2 the penultimate (SDXL, clip skip) */
    bool hidden_state_final_norm;  /* apply the final LayerNorm to hidden_state as well (the
                                      clip skip of diffusers' StableDiffusionPipeline) */
    sdc_tensor *pooled;            /* [B, hidden]: pooler_output */
    sdc_tensor *text_embeds;       /* [B, projection_dim]: text_projection(pooler_output) */
} sdc_clip_text_outputs;

/* Encodes `batch` sequences of seq_len token ids each (row-major; seq_len <= max_positions,
 * ids in [0, vocab_size), else SDC_STATUS_INVALID_ARGUMENT naming the value). Temporaries come
 * from scratch and are released on return. The model is only read: several threads may encode
 * with it, each with its own context and arena. */
sdc_status sdc_clip_text_encode(sdc_context *ctx, const sdc_clip_text *m, sdc_arena *scratch,
                                const int32_t *input_ids, int64_t batch, int64_t seq_len,
                                const sdc_clip_text_outputs *out);
/* Exact scratch bytes of sdc_clip_text_encode with these sizes and outputs (a fresh fixed
 * arena of this size suffices; the outputs' data is not touched). */
sdc_status sdc_clip_text_scratch_bytes(sdc_context *ctx, const sdc_clip_text *m, int64_t batch,
                                       int64_t seq_len, const sdc_clip_text_outputs *out,
                                       size_t *bytes);

/* ---------------------------------------------------------------------------------------- */
/* ControlNetModel (controlnet.c)                                                             */

typedef struct sdc_controlnet_config {
    sdc_unet_config unet;          /* the encoder half: up-block fields unused */
    int64_t conditioning_channels; /* 3 (RGB control image) */
    int n_conditioning_levels;
    int64_t conditioning_embedding_out_channels[SDC_UNET_MAX_LEVELS]; /* (16, 32, 96, 256) */
} sdc_controlnet_config;

typedef struct sdc_controlnet sdc_controlnet;

typedef struct sdc_controlnet_inputs {
    const sdc_tensor *sample;                /* [B, in_channels, H, W], as for the UNet */
    const float *timesteps;                  /* [B] */
    const sdc_tensor *encoder_hidden_states; /* [B, L, cross_attention_dim] */
    const sdc_tensor *text_embeds;           /* text_time: [B, pooled] */
    const sdc_tensor *time_ids;              /* text_time: [B, n_ids] */
    const sdc_tensor *controlnet_cond;       /* [B, 3, 8H, 8W] RGB in [0, 1] */
    float conditioning_scale;
} sdc_controlnet_inputs;

/* Reads a ControlNetModel config.json ("rgb" channel order only). */
sdc_status sdc_controlnet_config_from_json(const sdc_model_config *json,
                                           sdc_controlnet_config *out);
/* Takes ownership of the store, also on failure; every tensor must be used. */
sdc_status sdc_controlnet_load(sdc_context *ctx, sdc_store *store,
                               const sdc_controlnet_config *config, sdc_controlnet **out);
/* A diffusers ControlNetModel folder (config.json + weights). */
sdc_status sdc_controlnet_open_diffusers(sdc_context *ctx, const char *dir, sdc_controlnet **out);
void sdc_controlnet_destroy(sdc_controlnet *cn);
const sdc_controlnet_config *sdc_controlnet_get_config(const sdc_controlnet *cn);
const sdc_store *sdc_controlnet_get_store(const sdc_controlnet *cn);

/* The residuals for sdc_unet_forward, already multiplied by the conditioning scale. They are
 * allocated from scratch (at the arena's position when called) and stay valid until the
 * caller resets it; everything else is released. On failure *out is zeroed. */
sdc_status sdc_controlnet_forward(sdc_context *ctx, const sdc_controlnet *cn, sdc_arena *scratch,
                                  const sdc_controlnet_inputs *in, sdc_control_residuals *out);
/* Exact scratch bytes of sdc_controlnet_forward (the residuals included). */
sdc_status sdc_controlnet_scratch_bytes(sdc_context *ctx, const sdc_controlnet *cn,
                                        const sdc_controlnet_inputs *in, size_t *bytes);
/* The part of that the residuals keep once sdc_controlnet_forward returns (what stays
 * allocated in the arena until the caller resets it). */
sdc_status sdc_controlnet_residual_bytes(sdc_context *ctx, const sdc_controlnet *cn,
                                         const sdc_controlnet_inputs *in, size_t *bytes);

/* ---------------------------------------------------------------------------------------- */
/* CLIP encoder layer (clip_layer.c): shared by the text encoders and the vision tower       */

/* transformers' CLIPEncoderLayer: pre-LayerNorm multi-head self-attention and MLP, each added
 * back to its input. D = hidden_size, I = intermediate_size. */
typedef struct sdc_clip_layer {
    int64_t hidden_size;             /* D */
    int64_t intermediate_size;       /* I */
    int n_heads;                     /* D / n_heads wide each */
    sdc_unary_op hidden_act;         /* of the MLP: QUICK_GELU, GELU or GELU_TANH */
    float layer_norm_eps;
    const float *layer_norm1_weight; /* [D] */
    const float *layer_norm1_bias;   /* [D] */
    sdc_weight q_proj;               /* [D, D] */
    const float *q_proj_bias;        /* [D] */
    sdc_weight k_proj;               /* [D, D] */
    const float *k_proj_bias;        /* [D] */
    sdc_weight v_proj;               /* [D, D] */
    const float *v_proj_bias;        /* [D] */
    sdc_weight out_proj;             /* [D, D] */
    const float *out_proj_bias;      /* [D] */
    const float *layer_norm2_weight; /* [D] */
    const float *layer_norm2_bias;   /* [D] */
    sdc_weight fc1;                  /* [I, D] */
    const float *fc1_bias;           /* [I] */
    sdc_weight fc2;                  /* [D, I] */
    const float *fc2_bias;           /* [D] */
} sdc_clip_layer;

/* transformers' ACT2FN names CLIP configs use: quick_gelu, gelu, gelu_pytorch_tanh, gelu_new.
 * False when unknown. */
bool sdc_clip_activation_from_name(const char *name, sdc_unary_op *op);
/* "<prefix>layer_norm1", "<prefix>self_attn.{q,k,v,out}_proj", "<prefix>layer_norm2",
 * "<prefix>mlp.fc1", "<prefix>mlp.fc2" (weights and biases), shape-checked. */
sdc_status sdc_clip_layer_load(sdc_store *s, const char *prefix, int64_t hidden,
                               int64_t intermediate, int n_heads, sdc_unary_op hidden_act,
                               float layer_norm_eps, sdc_clip_layer *l);
/* x [batch * seq_len, D] = layer(x), in place. causal: position i attends to positions <= i
 * (text); else to all (vision). Temporaries come from f and are released on return. */
sdc_status sdc_clip_layer_forward(sdc_fwd *f, const sdc_clip_layer *l, sdc_tensor *x,
                                  int64_t batch, int64_t seq_len, bool causal);

/* ---------------------------------------------------------------------------------------- */
/* Safety checker (safety_checker.c; its input from clip_image_processor.c)                   */

/* transformers 4.44.2's CLIPImageProcessor as a diffusers feature_extractor/
 * preprocessor_config.json configures it. What the pipeline hands it are the uint8 images
 * (diffusers' numpy_to_pil), so with Pillow-exact resampling the result is the reference's
 * clip_input bit for bit. */
typedef struct sdc_clip_image_config {
    bool do_convert_rgb;        /* PIL convert("RGB"): gray replicated, alpha dropped */
    bool do_resize;
    int64_t shortest_edge;      /* > 0: the shorter side becomes this, the longer
                                   int(shortest_edge * long / short) */
    int64_t resize_height;      /* shortest_edge 0: resize to exactly this ... */
    int64_t resize_width;       /* ... and this */
    sdc_resize_filter resample; /* Pillow filter; BICUBIC (3) */
    bool do_center_crop;
    int64_t crop_height;        /* a crop larger than the image pads with zeros */
    int64_t crop_width;
    bool do_rescale;
    double rescale_factor;      /* 1/255: u8 * factor in double, then float32 */
    bool do_normalize;
    float image_mean[3];        /* (x - mean) / std in float32 */
    float image_std[3];
} sdc_clip_image_config;

/* CLIPImageProcessor()'s defaults: 224 shortest edge, bicubic, 224 x 224 crop, 1/255, OpenAI
 * CLIP mean and std, RGB. */
void sdc_clip_image_config_default(sdc_clip_image_config *out);
/* A preprocessor_config.json: "size" as {"shortest_edge": n}, {"height", "width"} or a bare
 * integer (the older CLIPFeatureExtractor files of SD 1.x), "crop_size" as {"height",
 * "width"} or an integer; absent keys take the defaults. Another image_processor_type /
 * feature_extractor_type, a resample sdc does not have, or sizes outside [1, 65536] are errors
 * naming the key. */
sdc_status sdc_clip_image_config_from_json(const sdc_model_config *json,
                                           sdc_clip_image_config *out);
/* <component_dir>/preprocessor_config.json (a diffusers feature_extractor/ folder). */
sdc_status sdc_clip_image_config_open(sdc_context *ctx, const char *component_dir,
                                      sdc_clip_image_config *out);
/* The [height, width] of the pixel values made from a width x height image. */
sdc_status sdc_clip_image_output_size(sdc_context *ctx, const sdc_clip_image_config *c,
                                      int width, int height, int64_t *out_height,
                                      int64_t *out_width);
/* pixel_values [n, 3, H, W] (caller memory, contiguous F32; H and W as sdc_clip_image_output_size
 * gives for every image) = the processor's output for n uint8 images of 1, 3 or 4 channels.
 * Temporaries come from the context's allocator and are released on return. */
sdc_status sdc_clip_image_preprocess(sdc_context *ctx, const sdc_clip_image_config *c,
                                     const sdc_image *images, int64_t n,
                                     sdc_tensor *pixel_values);

/* diffusers 0.30.2 StableDiffusionSafetyChecker: CLIPConfig with a nested vision_config. */
typedef struct sdc_safety_checker_config {
    int64_t image_size;        /* vision_config.image_size: 224 */
    int64_t patch_size;        /* 14 (ViT-L/14) */
    int64_t num_channels;      /* 3 */
    int64_t hidden_size;       /* 1024 */
    int64_t intermediate_size; /* 4096 */
    int n_layers;              /* 24 */
    int n_heads;               /* 16 */
    sdc_unary_op hidden_act;   /* QUICK_GELU */
    float layer_norm_eps;      /* 1e-5 */
    int64_t projection_dim;    /* the CLIPConfig's (not the vision config's): 768 */
    int64_t n_concepts;        /* concept_embeds rows: 17 */
    int64_t n_special;         /* special_care_embeds rows: 3 */
} sdc_safety_checker_config;

typedef struct sdc_safety_checker sdc_safety_checker;

/* A safety_checker/config.json (CLIPConfig, model_type "clip"): the vision tower from
 * "vision_config" — or, as transformers does, wholly from "vision_config_dict" when the file has
 * one — with CLIPVisionConfig's defaults for absent keys; projection_dim from the top level
 * (default 512). Concept counts are diffusers' 17 and 3. */
sdc_status sdc_safety_checker_config_from_json(const sdc_model_config *json,
                                               sdc_safety_checker_config *out);
/* Takes ownership of the store, also on failure; every tensor must be used (except the
 * position_ids buffer older files carry). */
sdc_status sdc_safety_checker_load(sdc_context *ctx, sdc_store *store,
                                   const sdc_safety_checker_config *config,
                                   sdc_safety_checker **out);
/* A diffusers safety_checker/ folder (config.json + model.safetensors). */
sdc_status sdc_safety_checker_open_diffusers(sdc_context *ctx, const char *component_dir,
                                             sdc_safety_checker **out);
void sdc_safety_checker_destroy(sdc_safety_checker *sc);
const sdc_safety_checker_config *sdc_safety_checker_get_config(const sdc_safety_checker *sc);
const sdc_store *sdc_safety_checker_get_store(const sdc_safety_checker *sc);

/* What one check writes; caller memory, NULL when not wanted (has_nsfw_concepts is required). */
typedef struct sdc_safety_outputs {
    sdc_tensor *image_embeds;     /* [B, projection_dim]: visual_projection(pooler_output) */
    sdc_tensor *special_cos_dist; /* [B, n_special]: cosine to special_care_embeds */
    sdc_tensor *cos_dist;         /* [B, n_concepts]: cosine to concept_embeds */
    bool *has_nsfw_concepts;      /* [B] */
} sdc_safety_outputs;

/* clip_input [B, 3, S, S] (contiguous F32; S = image_size, or any size giving the same patch
 * grid, as the reference's convolution allows) -> the outputs. Temporaries come from scratch
 * and are released on return. The model is only read: several threads may run it, each with
 * its own context and arena. */
sdc_status sdc_safety_checker_forward(sdc_context *ctx, const sdc_safety_checker *sc,
                                      sdc_arena *scratch, const sdc_tensor *clip_input,
                                      const sdc_safety_outputs *out);
/* Exact scratch bytes of sdc_safety_checker_forward for a clip_input of this shape. */
sdc_status sdc_safety_checker_scratch_bytes(sdc_context *ctx, const sdc_safety_checker *sc,
                                            const sdc_tensor *clip_input, size_t *bytes);

/* The reference's decision for one image from its cosine similarities (float32, as it has
 * them) and the thresholds (special_care_embeds_weights, concept_embeds_weights): each score is
 * cos - threshold + adjustment in double (numpy 1.26: float32 minus a Python float), rounded to
 * 3 decimals as numpy's round does (rint(x * 1000) / 1000); a special-care score > 0 sets the
 * adjustment to 0.01 for every score after it (the remaining special-care ones included); the
 * image is flagged when a concept score is > 0. */
bool sdc_safety_checker_decide(const float *special_cos, const float *special_weights,
                               int64_t n_special, const float *cos, const float *weights,
                               int64_t n_concepts);

/* diffusers' StableDiffusionPipeline.run_safety_checker on n uint8 images (the decoded images
 * as numpy_to_pil makes them): the feature extractor, the checker, and every flagged image's
 * pixels set to 0 (black) in place; has_nsfw_concepts[i] (caller memory, n entries) says
 * which. Temporaries come from the context's allocator and are released on return. */
sdc_status sdc_safety_checker_check_images(sdc_context *ctx, const sdc_safety_checker *sc,
                                           const sdc_clip_image_config *feature_extractor,
                                           sdc_image *images, int64_t n,
                                           bool *has_nsfw_concepts);

/* ---------------------------------------------------------------------------------------- */
/* sdc bundles (bundle.c; docs/bundle-format.md)                                              */

/* A converted model: a folder holding model.json (family, components with their config.json
 * objects and compression summaries, tokenizer folders, scheduler and feature-extractor
 * configs) and one safetensors file per component, written by src/convert. */
#define SDC_BUNDLE_INDEX   "model.json"
#define SDC_BUNDLE_FORMAT  "sdc-bundle"
#define SDC_BUNDLE_VERSION 1

typedef struct sdc_bundle_component {
    const char *name;        /* "unet", "vae", "text_encoder", "text_encoder_2",
                                "safety_checker", "controlnet" (points into model.json) */
    const char *class_name;  /* the diffusers / transformers class */
    char *path;              /* the component's safetensors file */
    const sdc_json *config;  /* its config.json contents, NULL when none */
    const sdc_json *summary; /* its "compression" summary object, NULL when none */
} sdc_bundle_component;

typedef struct sdc_bundle {
    sdc_context *ctx;
    char *dir;
    sdc_model_config json;               /* model.json */
    const char *family;                  /* "sd1", "sd2", "sdxl", "sdxl-refiner" */
    const char *pipeline_class;          /* model_index.json's _class_name, or the model's */
    sdc_bundle_component *components;    /* in model.json order */
    size_t n_components;
    const sdc_json *scheduler;           /* scheduler_config.json contents, or NULL */
    const sdc_json *feature_extractor;   /* preprocessor_config.json contents, or NULL */
    char *tokenizer_dirs[2];             /* the "tokenizer" / "tokenizer_2" folders, or NULL */
} sdc_bundle;

/* True when path is a folder holding model.json. */
bool sdc_bundle_is(const char *path);
/* Reads and checks model.json: format and version, every component's file present, tokenizer
 * folders present. No weights are opened. Errors name the file and the field. */
sdc_status sdc_bundle_open(sdc_context *ctx, const char *dir, sdc_bundle **out);
void sdc_bundle_close(sdc_bundle *b);
/* NULL when absent. */
const sdc_bundle_component *sdc_bundle_find(const sdc_bundle *b, const char *name);
/* A view of the component's config.json object for the *_config_from_json readers (close it
 * before the bundle). SDC_STATUS_NOT_FOUND when the component or its config is missing. */
sdc_status sdc_bundle_config(const sdc_bundle *b, const char *name, sdc_model_config *out);
/* A fresh store over the component's file, compressed weights included (the caller owns it,
 * or hands it to a *_load). The bundle may be closed while the store lives. */
sdc_status sdc_bundle_store(sdc_context *ctx, const sdc_bundle *b, const char *name,
                            sdc_store **out);
/* The folder of "tokenizer" or "tokenizer_2" inside the bundle, or NULL when it has none (a
 * bundle converted from a single-file checkpoint: use the built-in CLIP vocabulary). */
const char *sdc_bundle_tokenizer_dir(const sdc_bundle *b, const char *name);

/* Each component loaded as a diffusers folder would be: config from its config object,
 * weights from its file (the text encoder's projection decided by its weights, as
 * sdc_clip_text_open_diffusers does). */
sdc_status sdc_bundle_open_unet(sdc_context *ctx, const sdc_bundle *b, sdc_unet **out);
sdc_status sdc_bundle_open_vae(sdc_context *ctx, const sdc_bundle *b, sdc_vae **out);
sdc_status sdc_bundle_open_clip_text(sdc_context *ctx, const sdc_bundle *b, const char *name,
                                     sdc_clip_text **out);
sdc_status sdc_bundle_open_controlnet(sdc_context *ctx, const sdc_bundle *b,
                                      sdc_controlnet **out);
sdc_status sdc_bundle_open_safety_checker(sdc_context *ctx, const sdc_bundle *b,
                                          sdc_safety_checker **out);

/* The public summary (sdc_bundle_info of sdc.h) over model.json text in memory: what
 * sdc_convert returns, also when the bundle was not kept. */
sdc_status sdc_bundle_info_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                                 sdc_bundle_info **out);

#endif /* SDC_MODELS_MODELS_H */
