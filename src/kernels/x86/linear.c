/*
 * linear.c — y = x . w^T + bias (torch.nn.functional.linear) on the packed GEMM: x's rows are
 * the broadcast operand, the weight rows (decoded per tile through the decode hook) the vector
 * operand, so each packed weight block is reused over a whole range of token rows.
 */
#include "kernels/x86/x86.h"

void sdc_x86_linear(sdc_context *ctx, const sdc_x86_isa *isa, const sdc_tensor *x,
                    const sdc_weight *w, const float *bias, sdc_tensor *y)
{
    sdc_x86_rows a = {.data = x->data, .ld = x->stride[0]};
    sdc_x86_gemm g = {
        .isa = isa,
        .M = y->shape[0],
        .N = y->shape[1],
        .K = x->shape[1],
        .a_src = &a,
        .pack_a = sdc_x86_pack_rows,
        .b_src = w,
        .pack_b = sdc_x86_pack_weight,
        .c = y->data,
        .ldc = y->stride[0],
        .bias_n = bias,
        .order = SDC_X86_GEMM_ORDER_REUSE_B,
    };
    sdc_x86_gemm_run(ctx, &g);
}
