/*
 * ref.h — the plain C reference kernels, shared by the files of kernels/ref and the table in
 * ref.c. Each function is the specification of one table entry of kernels.h: arguments are
 * already checked by the sdc_kern_* wrappers, nothing allocates, and every output element is
 * computed by the same sequence of float operations whatever the thread count.
 */
#ifndef SDC_KERNELS_REF_REF_H
#define SDC_KERNELS_REF_REF_H

#include "kernels/kernels.h"

void sdc_ref_linear(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                    sdc_tensor *y);
void sdc_ref_conv2d(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                    const sdc_conv2d_params *p, sdc_tensor *y);
void sdc_ref_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups, const float *gamma,
                        const float *beta, float eps, bool silu, sdc_tensor *y);
void sdc_ref_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                        const float *beta, float eps, sdc_tensor *y);
void sdc_ref_unary(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y);
void sdc_ref_binary(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                    sdc_tensor *y);
void sdc_ref_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_ref_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_ref_attention(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,
                       const sdc_tensor *v, const sdc_attention_params *p, sdc_tensor *out);
void sdc_ref_upsample_nearest2x(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_ref_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y);
void sdc_ref_timestep_embedding(sdc_context *ctx, const float *timesteps, int64_t n, int64_t dim,
                                const sdc_timestep_embedding_params *p, sdc_tensor *y);

#endif /* SDC_KERNELS_REF_REF_H */
