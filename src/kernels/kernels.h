/*
 * kernels.h — the ops models are built from, behind one backend interface.
 *
 * Models call sdc_kern_* on tensor views; each call checks shapes (returning
 * SDC_STATUS_SHAPE with a message naming the op and both shapes on a mismatch) and forwards to
 * the implementation chosen for the context's CPU level: kernels/ref is the plain C
 * specification every faster version is tested against; kernels/x86 (AVX2, AVX-512) and later
 * CUDA fill the same table. A kernel never knows which model calls it, and a model never
 * contains SIMD code.
 *
 * Activations are float32. Weights of matrix ops are sdc_weight: the stored form (f32, f16,
 * bf16, k-means palettized indices or int8 with per-row scales), decoded per row chunk inside
 * the kernel — never converted whole. Vectors of norms and biases are float32 (models widen them once at load).
 * Kernels do not allocate memory proportional to their inputs: scratch is bounded per thread.
 * Unless stated, output must not overlap inputs (elementwise ops allow y == x exactly).
 */
#ifndef SDC_KERNELS_KERNELS_H
#define SDC_KERNELS_KERNELS_H

#include "core/core.h"

/* ---------------------------------------------------------------------------------------- */
/* Weights as stored                                                                          */

typedef enum sdc_weight_format {
    SDC_WEIGHT_FORMAT_DENSE,   /* dtype F32, F16 or BF16, row-major */
    SDC_WEIGHT_FORMAT_PALETTE, /* packed n-bit indices into a palette of dtype F32/F16/BF16 */
    SDC_WEIGHT_FORMAT_INT8,    /* int8 values times one float32 scale per row */
    SDC_WEIGHT_FORMAT_COUNT
} sdc_weight_format;

/* Bits per palette index: 1, 2, 4, 6 or 8 (a palette of 2^bits entries). */
#define SDC_PALETTE_MAX_BITS 8

/* PALETTE layout. Indices are packed row by row and every row starts on a byte boundary
 * (sdc_palette_row_bytes bytes per row). Within a row the bits form one little-endian stream:
 * index i occupies bits [i * bits, (i + 1) * bits), least significant bit first, so with 1, 2,
 * 4 or 8 bits index i sits in byte i * bits / 8 at bit (i * bits) % 8, and with 6 bits four
 * indices share three bytes as below. The unused high bits of a row's last byte are zero. */
typedef struct sdc_palette6_group {
    /* indices a, b, c, d (6 bits each):
     *   bytes[0] = a | (b << 6)                bits a5..a0 in 5..0, b1..b0 in 7..6
     *   bytes[1] = (b >> 2) | (c << 4)         b5..b2 in 3..0, c3..c0 in 7..4
     *   bytes[2] = (c >> 4) | (d << 2)         c5..c4 in 1..0, d5..d0 in 7..2 */
    uint8_t bytes[3];
} sdc_palette6_group;
static_assert(sizeof(sdc_palette6_group) == 3, "four 6-bit indices fill three bytes");

/* A weight tensor whose first dim is the output (row) dim: linear [N, K], conv
 * [O, C, kh, kw]. Row r holds shape[1] * ... * shape[ndim-1] values. The memory is not owned
 * (usually a read-only mmap). Immutable: safe to share between threads and generations.
 *  - DENSE: data holds the values in `dtype`.
 *  - PALETTE: data holds the packed indices (layout above); row r uses palette group
 *    r / rows_per_group, whose 2^bits entries of `dtype` start at
 *    palette + group * 2^bits. Value = palette[group][index], exactly.
 *  - INT8: data holds int8 values ([rows, row_len], dtype I8); value = (float)q * scale[r],
 *    one float32 multiplication (symmetric: no zero point). */
typedef struct sdc_weight {
    sdc_weight_format format;
    sdc_dtype dtype; /* DENSE: the values'; PALETTE: the palette entries'; INT8: I8 */
    int ndim;
    int64_t shape[SDC_TENSOR_MAX_DIMS];
    const void *data;
    int bits;               /* PALETTE: bits per index */
    int64_t rows_per_group; /* PALETTE: rows sharing one palette (the last group may be short) */
    const void *palette;    /* PALETTE: [n_groups, 2^bits] entries of dtype */
    const float *scale;     /* INT8: [rows] */
} sdc_weight;

/* A dense weight view over data of dtype F32, F16 or BF16. */
sdc_weight sdc_weight_dense(const void *data, sdc_dtype dtype, int ndim, const int64_t *shape);
/* A palettized weight view: packed indices, `bits` per index, palette entries of
 * palette_dtype (F32, F16 or BF16), one palette per rows_per_group rows. */
sdc_weight sdc_weight_palette(const void *indices, int bits, const void *palette,
                              sdc_dtype palette_dtype, int64_t rows_per_group, int ndim,
                              const int64_t *shape);
/* An int8 weight view with one scale per row. */
sdc_weight sdc_weight_int8(const int8_t *values, const float *scale, int ndim,
                           const int64_t *shape);
int64_t sdc_weight_rows(const sdc_weight *w);
int64_t sdc_weight_row_len(const sdc_weight *w);
/* Bytes of one packed row of `row_len` indices of `bits` bits: ceil(row_len * bits / 8). */
size_t sdc_palette_row_bytes(int bits, int64_t row_len);
/* PALETTE: the number of palette groups, ceil(rows / rows_per_group); 1 for other formats. */
int64_t sdc_weight_groups(const sdc_weight *w);
/* True for 1, 2, 4, 6 and 8. */
bool sdc_palette_bits_valid(int bits);
/* Decodes values [begin, begin + count) of row `row` to float32, whatever the format. This
 * is the one decode hook every kernel uses: it works on any row chunk, so a kernel decodes
 * one tile at a time and never holds a whole decompressed weight. */
void sdc_weight_decode(const sdc_weight *w, int64_t row, int64_t begin, int64_t count,
                       float *dst);

/* ---------------------------------------------------------------------------------------- */
/* Ops                                                                                        */

typedef enum sdc_unary_op {
    SDC_UNARY_OP_SILU,       /* x * sigmoid(x) */
    SDC_UNARY_OP_GELU,       /* x/2 * (1 + erf(x / sqrt 2)) (torch's default) */
    SDC_UNARY_OP_GELU_TANH,  /* torch gelu(approximate="tanh") */
    SDC_UNARY_OP_QUICK_GELU, /* x * sigmoid(1.702 x) (CLIP ViT-L) */
    SDC_UNARY_OP_RELU,
    SDC_UNARY_OP_TANH,
    SDC_UNARY_OP_SOFT_CLAMP3, /* 3 * tanh(x / 3) (TAESD) */
    SDC_UNARY_OP_COUNT
} sdc_unary_op;

typedef enum sdc_binary_op {
    SDC_BINARY_OP_ADD,
    SDC_BINARY_OP_SUB,
    SDC_BINARY_OP_MUL,
    SDC_BINARY_OP_COUNT
} sdc_binary_op;

typedef struct sdc_conv2d_params {
    int stride_h, stride_w;
    int pad_h, pad_w; /* zero padding on each side */
} sdc_conv2d_params;

typedef struct sdc_attention_params {
    float scale;  /* multiplies q.k; usually 1/sqrt(head_dim) */
    bool causal;  /* query i attends to keys j <= i (CLIP text) */
} sdc_attention_params;

typedef struct sdc_timestep_embedding_params {
    bool flip_sin_to_cos;       /* output [cos, sin] instead of [sin, cos] */
    float downscale_freq_shift; /* diffusers: 1 for SD UNets' time_proj, 0 for others */
    float max_period;           /* 10000 */
    float scale;                /* 1 */
} sdc_timestep_embedding_params;

/* The table a backend fills. Shapes are already checked when these are called. */
typedef struct sdc_kernels {
    const char *name;
    void (*linear)(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                   const float *bias, sdc_tensor *y);
    void (*conv2d)(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                   const float *bias, const sdc_conv2d_params *p, sdc_tensor *y);
    void (*group_norm)(sdc_context *ctx, const sdc_tensor *x, int groups, const float *gamma,
                       const float *beta, float eps, bool silu, sdc_tensor *y);
    void (*layer_norm)(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                       const float *beta, float eps, sdc_tensor *y);
    void (*unary)(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y);
    void (*binary)(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                   sdc_tensor *y);
    void (*geglu)(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
    void (*softmax)(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
    void (*attention)(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,
                      const sdc_tensor *v, const sdc_attention_params *p, sdc_tensor *out);
    void (*upsample_nearest2x)(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
    void (*copy)(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
    void (*timestep_embedding)(sdc_context *ctx, const float *timesteps, int64_t n, int64_t dim,
                               const sdc_timestep_embedding_params *p, sdc_tensor *y);
} sdc_kernels;

/* The profile slots (sdc_profile_add) of the ops, for benchmarks. */
typedef enum sdc_kern_op {
    SDC_KERN_OP_LINEAR,
    SDC_KERN_OP_CONV_1X1,
    SDC_KERN_OP_CONV_KXK, /* any kernel larger than 1x1 */
    SDC_KERN_OP_ATTENTION,
    SDC_KERN_OP_GROUP_NORM,
    SDC_KERN_OP_LAYER_NORM,
    SDC_KERN_OP_UNARY,
    SDC_KERN_OP_BINARY,
    SDC_KERN_OP_GEGLU,
    SDC_KERN_OP_SOFTMAX,
    SDC_KERN_OP_UPSAMPLE,
    SDC_KERN_OP_COPY,
    SDC_KERN_OP_TIMESTEP_EMBEDDING,
    SDC_KERN_OP_COUNT
} sdc_kern_op;
static_assert((int)SDC_KERN_OP_COUNT <= (int)SDC_PROFILE_SLOTS, "one profile slot per op");

/* "linear", "conv1x1", ...; NULL for an unknown op. */
const char *sdc_kern_op_name(sdc_kern_op op);

/* The plain C reference table. */
const sdc_kernels *sdc_kernels_ref(void);
/* The fastest float32 table the features allow: x86 AVX-512 or AVX2 (kernels/x86), else the
 * reference. */
const sdc_kernels *sdc_kernels_for(const sdc_cpu_features *features);
/* The table for features and a precision: SDC_PRECISION_BF16 on a CPU with AVX512_BF16 gives
 * the table whose matrix ops round their inputs to bfloat16 (float32 accumulation); otherwise
 * as sdc_kernels_for. The sdc_kern_* entry points use it with the context's settings. */
const sdc_kernels *sdc_kernels_for_precision(const sdc_cpu_features *features,
                                             sdc_precision precision);

/* y[M, N] = x[M, K] . w[N, K]^T + bias[N] (bias may be NULL). x and y are 2-D views whose
 * rows may be strided (last dim contiguous). */
sdc_status sdc_kern_linear(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                           const float *bias, sdc_tensor *y);

/* y[N, O, Ho, Wo] = conv(x[N, C, H, W], w[O, C, kh, kw]) + bias[O], zero padding,
 * Ho = (H + 2 pad_h - kh) / stride_h + 1. x and y contiguous. */
sdc_status sdc_kern_conv2d(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                           const float *bias, const sdc_conv2d_params *p, sdc_tensor *y);

/* torch.nn.GroupNorm over x[N, C, ...] (3 or 4 dims, contiguous): statistics per sample and
 * group of C/groups channels over all spatial positions (biased variance), then
 * gamma[c] * xhat + beta[c], then SiLU when `silu`. gamma and beta may be NULL (no affine:
 * 1 and 0). y may equal x. */
sdc_status sdc_kern_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups,
                               const float *gamma, const float *beta, float eps, bool silu,
                               sdc_tensor *y);

/* torch.nn.LayerNorm over the last dim of x[M, C] (rows may be strided). gamma and beta may be
 * NULL (elementwise_affine=False). y may equal x. */
sdc_status sdc_kern_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                               const float *beta, float eps, sdc_tensor *y);

/* Elementwise on same-shape views (any strides); y may equal x. */
sdc_status sdc_kern_unary(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y);

/* y = a op b, elementwise over y's shape. a and b have y's ndim; a dim of size 1 in a or b
 * broadcasts (numpy rules). y may equal a. */
sdc_status sdc_kern_binary(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a,
                           const sdc_tensor *b, sdc_tensor *y);

/* diffusers GEGLU after its projection: x[M, 2N] -> y[M, N] = x[:, :N] * gelu(x[:, N:]). */
sdc_status sdc_kern_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);

/* Softmax over the last dim of x[M, N]; y may equal x. */
sdc_status sdc_kern_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);

/* Scaled dot-product attention, per batch and head:
 *   out[b, h, i, :] = sum_j softmax_j(scale * q[b, h, i, :] . k[b, h, j, :]) v[b, h, j, :]
 * q[B, H, Lq, D], k and v [B, H, Lk, D], out [B, H, Lq, D]: any strides with the last dim
 * contiguous (so [B, L, H, D] projections are used in place). The Lq x Lk score matrix is
 * never materialised: keys are processed in tiles with an online softmax. */
sdc_status sdc_kern_attention(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,
                              const sdc_tensor *v, const sdc_attention_params *p,
                              sdc_tensor *out);

/* y[N, C, 2H, 2W] = x[N, C, H, W] repeated (torch nearest, scale 2). Contiguous. */
sdc_status sdc_kern_upsample_nearest2x(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);

/* y = x for same-shape views of any strides: concatenation (copy into a slice of y),
 * permutation, making contiguous. */
sdc_status sdc_kern_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);

/* diffusers get_timestep_embedding: for each of n timesteps t, with half = dim / 2 and
 * freq_k = exp(-ln(max_period) * k / (half - downscale_freq_shift)):
 * [sin(scale t freq), cos(scale t freq)] (or [cos, sin] when flipped), zero-padded when dim
 * is odd. y is [n, dim], contiguous. Computed as torch does in float32. */
sdc_status sdc_kern_timestep_embedding(sdc_context *ctx, const float *timesteps, int64_t n,
                                       int64_t dim, const sdc_timestep_embedding_params *p,
                                       sdc_tensor *y);

#endif /* SDC_KERNELS_KERNELS_H */
