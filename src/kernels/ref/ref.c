/*
 * ref.c — the table of plain C reference kernels: the specification every faster backend is
 * tested against (see kernels.h and ref.h).
 */
#include "kernels/ref/ref.h"

static const sdc_kernels ref_kernels = {
    .name = "ref",
    .linear = sdc_ref_linear,
    .conv2d = sdc_ref_conv2d,
    .group_norm = sdc_ref_group_norm,
    .layer_norm = sdc_ref_layer_norm,
    .unary = sdc_ref_unary,
    .binary = sdc_ref_binary,
    .geglu = sdc_ref_geglu,
    .softmax = sdc_ref_softmax,
    .attention = sdc_ref_attention,
    .upsample_nearest2x = sdc_ref_upsample_nearest2x,
    .copy = sdc_ref_copy,
    .timestep_embedding = sdc_ref_timestep_embedding,
};

const sdc_kernels *sdc_kernels_ref(void)
{
    return &ref_kernels;
}
