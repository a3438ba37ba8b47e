/*
 * tables.c — the sdc_kernels tables of the x86 backend: AVX2, AVX-512, and AVX-512 with bfloat16
 * dot products (chosen for SDC_PRECISION_BF16), each binding the matrix ops to the GEMM ISA of
 * its level through small wrappers. Ops without a faster version use the reference's.
 */
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

#define ISA_OPS(level)                                                                             \
    static void level##_linear(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,         \
                               const float *bias, sdc_tensor *y)                                   \
    {                                                                                              \
        sdc_x86_linear(ctx, sdc_x86_isa_##level(), x, w, bias, y);                                 \
    }                                                                                              \
    static void level##_conv2d(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,         \
                               const float *bias, const sdc_conv2d_params *p, sdc_tensor *y)       \
    {                                                                                              \
        sdc_x86_conv2d(ctx, sdc_x86_isa_##level(), x, w, bias, p, y);                              \
    }                                                                                              \
    static void level##_attention(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,      \
                                  const sdc_tensor *v, const sdc_attention_params *p,              \
                                  sdc_tensor *out)                                                 \
    {                                                                                              \
        sdc_x86_attention(ctx, sdc_x86_isa_##level(), q, k, v, p, out);                            \
    }

ISA_OPS(avx2)
ISA_OPS(avx512)
ISA_OPS(avx512_bf16)

#define TABLE(level, label)                                                                        \
    {                                                                                              \
        .name = label, .linear = level##_linear, .conv2d = level##_conv2d,                         \
        .group_norm = sdc_x86_group_norm, .layer_norm = sdc_x86_layer_norm,                        \
        .unary = sdc_x86_unary, .binary = sdc_x86_binary, .geglu = sdc_x86_geglu,                  \
        .softmax = sdc_x86_softmax, .attention = level##_attention,                                \
        .upsample_nearest2x = sdc_ref_upsample_nearest2x, .copy = sdc_x86_copy,                    \
        .timestep_embedding = sdc_ref_timestep_embedding,                                          \
    }

static const sdc_kernels avx2_kernels = TABLE(avx2, "avx2");
static const sdc_kernels avx512_kernels = TABLE(avx512, "avx512");
static const sdc_kernels avx512_bf16_kernels = TABLE(avx512_bf16, "avx512-bf16");

const sdc_kernels *sdc_kernels_x86_avx2(void)
{
    return &avx2_kernels;
}

const sdc_kernels *sdc_kernels_x86_avx512(void)
{
    return &avx512_kernels;
}

const sdc_kernels *sdc_kernels_x86_avx512_bf16(void)
{
    return &avx512_bf16_kernels;
}
