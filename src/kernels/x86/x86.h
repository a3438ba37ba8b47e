/*
 * x86.h — the AVX2 / AVX-512 backend's internal interface: one packed, cache-blocked GEMM
 * driver (gemm.c) parameterised by an instruction-set description (micro-kernel and packing
 * primitives from gemm_avx2.c, gemm_avx512.c, gemm_avx512bf16.c), and the ops built on it
 * (linear.c, conv2d.c, attention.c) or written directly with vectors (norm.c, elementwise.c).
 *
 * GEMM shape: C[M, N] (+)= A[M, K] . B[K, N]. A is the broadcast operand, packed in slivers of
 * MR rows ([k][MR] floats, or [k/2][MR][2] bfloat16 pairs for the bf16 ISA); B is the vector
 * operand, packed in slivers of NR columns ([k][NR] or [k/2][NR][2]). Only functions of this
 * backend's tables call in here, so the CPU is known to have what each file was compiled for.
 */
#ifndef SDC_KERNELS_X86_X86_H
#define SDC_KERNELS_X86_X86_H

#include "kernels/kernels.h"

/* ---------------------------------------------------------------------------------------- */
/* Instruction sets                                                                           */

enum {
    SDC_X86_KC = 256, /* k values per packed block */
    SDC_X86_MAX_MR = 12,
    SDC_X86_MAX_NR = 32,
};

/* Micro-kernel: c[mr, nr] (+)= A sliver . B sliver over kc values (kc already rounded up to
 * kpair). Rows >= mr and columns >= nr of the tile are computed but not stored. With load_c the
 * tile is added to what c holds; bias_m (per row, mr values) and bias_n (per column) are added
 * when not NULL. c may be unaligned; ldc is in floats. */
typedef void (*sdc_x86_ukernel_fn)(int64_t kc, const void *a, const void *b, float *c, int64_t ldc,
                                   int mr, int nr, bool load_c, const float *bias_m,
                                   const float *bias_n);

/* Packs `count` (<= width) float32 vectors into one sliver of `width` lanes over kc values:
 * lane r, value k comes from src[r * r_stride + k * k_stride]. Lanes >= count and values past
 * kc up to kc_padded are zero. Either stride may be 1 (the fast cases: rows of a matrix, or
 * contiguous lanes). */
typedef void (*sdc_x86_pack_fn)(const float *src, int64_t r_stride, int64_t k_stride, int count,
                                int width, int64_t kc, int64_t kc_padded, void *dst);

/* Packs `count` rows of float16 values (row r, value k at src[r * r_stride + k]) as
 * sdc_x86_pack_fn packs float32 rows. */
typedef void (*sdc_x86_pack_f16_fn)(const uint16_t *src, int64_t r_stride, int count, int width,
                                    int64_t kc, int64_t kc_padded, void *dst);

/* Attention's online-softmax step over one score tile (see attention.c): s[nk][nr] holds raw
 * q.k scores of nr query lanes (nr a multiple of 16), turned into unnormalised probabilities in
 * place, or, when bf16_out is not NULL (AVX-512 only), written there as the bf16 B sliver
 * [nk/2 rounded up][nr][2] (rounded to nearest even, an odd last key paired with 0) and s left
 * as it was; run_max / run_sum (per lane) are updated and the accumulators ot[D][nr] rescaled.
 * Causal: key j0 + j is masked for query q0 + lane when j0 + j > q0 + lane. */
typedef void (*sdc_x86_softmax_step_fn)(float *s, int64_t nk, int nr, int64_t D, float scale,
                                        float *run_max, float *run_sum, float *ot, bool causal,
                                        int64_t q0, int64_t j0, uint16_t *bf16_out);

typedef struct sdc_x86_isa {
    const char *name;
    int mr, nr;
    int kpair;   /* 1: float32 panels; 2: bfloat16 pairs */
    size_t elem; /* bytes per packed value: 4 or 2 */
    sdc_x86_ukernel_fn ukernel;
    sdc_x86_ukernel_fn ukernel8; /* the same for A slivers of 8 rows; NULL when MR <= 8 */
    sdc_x86_pack_fn pack;
    /* The same for rows of float16 values (ks == 1): weights stored as F16 are converted
     * while packing, with no float32 copy in between. */
    sdc_x86_pack_f16_fn pack_f16_rows;
    /* Optional: decodes weight rows to float16 at dst + r * ld when that is exact and fast
     * for w's format (then packed with pack_f16_rows), as sdc_x86_palette_to_f16_avx512 does;
     * false when it does not handle w (nothing written). */
    bool (*weight_to_f16)(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0,
                          int64_t kc, uint16_t *dst, int64_t ld);
    sdc_x86_softmax_step_fn softmax_step; /* 8 lanes per vector (AVX2) or 16 (AVX-512) */
} sdc_x86_isa;

/* The softmax steps: attention.c (AVX2), attention_avx512.c (float32) and gemm_avx512bf16.c
 * (writing bf16 probabilities); the AVX-512 ones share softmax_avx512.h. */
void sdc_x86_softmax_step_avx2(float *s, int64_t nk, int nr, int64_t D, float scale, float *run_max,
                               float *run_sum, float *ot, bool causal, int64_t q0, int64_t j0,
                               uint16_t *bf16_out);
void sdc_x86_softmax_step_avx512(float *s, int64_t nk, int nr, int64_t D, float scale,
                                 float *run_max, float *run_sum, float *ot, bool causal, int64_t q0,
                                 int64_t j0, uint16_t *bf16_out);
void sdc_x86_softmax_step_avx512_bf16(float *s, int64_t nk, int nr, int64_t D, float scale,
                                      float *run_max, float *run_sum, float *ot, bool causal,
                                      int64_t q0, int64_t j0, uint16_t *bf16_out);

/* The float32 sdc_x86_pack_fn and sdc_x86_pack_f16_fn (AVX2; the AVX-512 ISA uses them too). */
void sdc_x86_pack_f32(const float *src, int64_t rs, int64_t ks, int count, int width, int64_t kc,
                      int64_t kc_padded, void *dst);
void sdc_x86_pack_f16_rows_f32(const uint16_t *src, int64_t rs, int count, int width, int64_t kc,
                               int64_t kc_padded, void *dst);

const sdc_x86_isa *sdc_x86_isa_avx2(void);
const sdc_x86_isa *sdc_x86_isa_avx512(void);
const sdc_x86_isa *sdc_x86_isa_avx512_bf16(void);

/* kc rounded up to the ISA's pairing. */
static inline int64_t sdc_x86_kc_padded(const sdc_x86_isa *isa, int64_t kc)
{
    return (kc + isa->kpair - 1) / isa->kpair * isa->kpair;
}

/* Bytes of one packed sliver of `width` lanes over kc values. */
static inline size_t sdc_x86_sliver_bytes(const sdc_x86_isa *isa, int width, int64_t kc)
{
    return (size_t)width * (size_t)sdc_x86_kc_padded(isa, kc) * isa->elem;
}

/* ---------------------------------------------------------------------------------------- */
/* Weights: the per-format decode hook packing reads weights through                          */

/* Decodes rows [row0, row0 + n_rows) of w, values [k0, k0 + kc) of each, to float32 at
 * dst + r * ld. Dense F32/F16/BF16 use F16C / AVX2 conversions; any other format goes through
 * sdc_weight_decode, its specification (a compressed format plugs in by adding its decoder
 * there, and optionally a fast one to this hook's table in decode.c). */
void sdc_x86_decode_rows(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0, int64_t kc,
                         float *dst, int64_t ld);

/* AVX-512 (decode_avx512.c): rows of a PALETTE weight with 4-, 6- or 8-bit indices into F16
 * palettes, as float16 (the palette entries themselves, bit-identical to sdc_weight_decode);
 * k0 a multiple of 8. False for any other weight. */
bool sdc_x86_palette_to_f16_avx512(const sdc_weight *w, int64_t row0, int64_t n_rows, int64_t k0,
                                   int64_t kc, uint16_t *dst, int64_t ld);

/* ---------------------------------------------------------------------------------------- */
/* The GEMM driver                                                                            */

/* Packs rows [i0, i0 + n) (M rows for A, N columns for B) over k in [k0, k0 + kc) into
 * consecutive slivers of `width` lanes at dst. `tmp` is SDC_X86_PACK_TMP_BYTES of scratch. */
typedef void (*sdc_x86_gemm_pack_fn)(const void *src, const sdc_x86_isa *isa, int width, int64_t i0,
                                     int64_t n, int64_t k0, int64_t kc, void *dst, float *tmp);
#define SDC_X86_PACK_TMP_BYTES ((size_t)SDC_X86_MAX_NR * 2 * SDC_X86_KC * sizeof(float))

typedef enum sdc_x86_gemm_order {
    SDC_X86_GEMM_ORDER_REUSE_B, /* B's packed block is reused over the whole m-range of an item */
    SDC_X86_GEMM_ORDER_REUSE_A, /* A's packed block is reused over the whole n-range */
    SDC_X86_GEMM_ORDER_COUNT
} sdc_x86_gemm_order;

typedef struct sdc_x86_gemm {
    const sdc_x86_isa *isa;
    int64_t M, N, K;
    const void *a_src;
    sdc_x86_gemm_pack_fn pack_a;
    const void *b_src;
    sdc_x86_gemm_pack_fn pack_b;
    float *c;
    int64_t ldc;
    bool accumulate;     /* C += A.B instead of C = A.B */
    const float *bias_m; /* [M] or NULL */
    const float *bias_n; /* [N] or NULL */
    sdc_x86_gemm_order order;
    /* Optional: C's columns come in groups of n_group, group g stored at c + g *
     * group_c_offset (conv over several images: the pixels of each image are one group; the
     * packers see global column numbers, and no sliver crosses a group). 0 = one group.
     * Groups imply SDC_X86_GEMM_ORDER_REUSE_A. */
    int64_t n_group;
    int64_t group_c_offset;
} sdc_x86_gemm;

/* Runs the product over the context's threads (packing in per-thread scratch). */
void sdc_x86_gemm_run(sdc_context *ctx, const sdc_x86_gemm *g);

/* Standard packers. */
/* src: const sdc_x86_rows* — element (i, k) at data[i * ld + k]. */
typedef struct sdc_x86_rows {
    const float *data;
    int64_t ld;
} sdc_x86_rows;
void sdc_x86_pack_rows(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                       int64_t k0, int64_t kc, void *dst, float *tmp);
/* src: const sdc_x86_rows* read transposed — element (i, k) at data[k * ld + i]. */
void sdc_x86_pack_cols(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                       int64_t k0, int64_t kc, void *dst, float *tmp);
/* src: const sdc_weight* — element (i, k) is value k of row i. */
void sdc_x86_pack_weight(const void *src, const sdc_x86_isa *isa, int width, int64_t i0, int64_t n,
                         int64_t k0, int64_t kc, void *dst, float *tmp);

/* ---------------------------------------------------------------------------------------- */
/* Ops (one entry of the sdc_kernels table each; isa is the table's GEMM ISA)                 */

void sdc_x86_linear(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *x,
                    const sdc_weight *w, const float *bias, sdc_tensor *y);
void sdc_x86_conv2d(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *x,
                    const sdc_weight *w, const float *bias, const sdc_conv2d_params *p,
                    sdc_tensor *y);
void sdc_x86_attention(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *q,
                       const sdc_tensor *k, const sdc_tensor *v, const sdc_attention_params *p,
                       sdc_tensor *out);

void sdc_x86_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups, const float *gamma,
                        const float *beta, float eps, bool silu, sdc_tensor *y);
void sdc_x86_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                        const float *beta, float eps, sdc_tensor *y);
void sdc_x86_unary(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y);
void sdc_x86_binary(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                    sdc_tensor *y);
void sdc_x86_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_x86_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_x86_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);

/* Vector math shared by the files compiled for AVX2 (elementwise.c, norm.c, attention.c):
 * exp over n floats in place (|relative error| < 4e-7 over the float range; -inf gives 0). */
void sdc_x86_exp_inplace(float *x, int64_t n);

#endif /* SDC_KERNELS_X86_X86_H */
