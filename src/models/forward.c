/*
 * forward.c — the activation memory of one forward pass. Computing, a pass takes its tensors
 * from the caller's arena and runs the kernels; measuring, it runs no kernel and only counts
 * the bytes a fresh fixed arena would hand out, so every model's *_activation_bytes function
 * is its own forward pass in measuring mode and is exact by construction.
 */
#include "models/models.h"

#include <string.h>

/* Tensors made while measuring all point here; nothing reads or writes through them. */
static unsigned char measuring_base[SDC_ALIGN];

static size_t align_up(size_t n)
{
    return (n + SDC_ALIGN - 1) & ~(size_t)(SDC_ALIGN - 1);
}

void sdc_fwd_init(sdc_fwd *f, sdc_context *ctx, sdc_arena *arena)
{
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->arena = arena;
}

bool sdc_fwd_computing(const sdc_fwd *f)
{
    return f->arena != NULL;
}

sdc_status sdc_fwd_tensor(sdc_fwd *f, int ndim, const int64_t *shape, sdc_tensor *out)
{
    char s[96];
    size_t bytes = sizeof(float);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !sdc_size_mul(bytes, (size_t)shape[i], &bytes) ||
            bytes > (size_t)INT64_MAX)
            return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "activation %s: negative or oversized dims",
                            sdc_shape_str(ndim, shape, s, sizeof s));
    }
    if (!sdc_fwd_computing(f)) {
        size_t end;
        if (!sdc_size_add(align_up(f->used), bytes, &end))
            return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "activation %s: the pass needs more than SIZE_MAX bytes",
                            sdc_shape_str(ndim, shape, s, sizeof s));
        f->used = end;
        if (end > f->peak)
            f->peak = end;
        *out = sdc_tensor_make(measuring_base, SDC_DTYPE_F32, ndim, shape);
        return SDC_STATUS_OK;
    }
    void *data = sdc_arena_alloc(f->arena, bytes, 0);
    if (!data) {
        if (f->arena->fixed)
            return sdc_fail(f->ctx, SDC_STATUS_OUT_OF_MEMORY,
                            "activation %s (%zu bytes) does not fit in the fixed arena (%zu of "
                            "%zu bytes used)",
                            sdc_shape_str(ndim, shape, s, sizeof s), bytes, f->arena->used,
                            f->arena->head ? f->arena->block_size : (size_t)0);
        return sdc_fail_oom(f->ctx, "an activation tensor", bytes);
    }
    *out = sdc_tensor_make(data, SDC_DTYPE_F32, ndim, shape);
    return SDC_STATUS_OK;
}

sdc_status sdc_fwd_tensor2(sdc_fwd *f, int64_t rows, int64_t cols, sdc_tensor *out)
{
    int64_t shape[2] = {rows, cols};
    return sdc_fwd_tensor(f, 2, shape, out);
}

sdc_status sdc_fwd_tensor4(sdc_fwd *f, int64_t n, int64_t c, int64_t h, int64_t w, sdc_tensor *out)
{
    int64_t shape[4] = {n, c, h, w};
    return sdc_fwd_tensor(f, 4, shape, out);
}

sdc_fwd_mark sdc_fwd_get_mark(const sdc_fwd *f)
{
    sdc_fwd_mark m = {.used = f->used};
    if (f->arena)
        m.arena = sdc_arena_get_mark(f->arena);
    return m;
}

void sdc_fwd_reset_to(sdc_fwd *f, sdc_fwd_mark m)
{
    if (f->arena)
        sdc_arena_reset_to(f->arena, m.arena);
    else
        f->used = m.used;
}

/* Tensors allocated after m in increasing address order move down to m, packed as the arena
 * would have allocated them there; everything else after m is released. In a growable arena
 * whose newest block is not the mark's, nothing moves (the memory stays in use until the
 * caller resets the arena). */
sdc_status sdc_fwd_keep_n(sdc_fwd *f, sdc_fwd_mark m, sdc_tensor *const *tensors, int n)
{
    if (!sdc_fwd_computing(f)) {
        f->used = m.used;
        for (int i = 0; i < n; i++)
            f->used = align_up(f->used) + sdc_tensor_nbytes(tensors[i]);
        return SDC_STATUS_OK;
    }
    if (sdc_arena_get_mark(f->arena).block != m.arena.block)
        return SDC_STATUS_OK;
    sdc_arena_reset_to(f->arena, m.arena);
    for (int i = 0; i < n; i++) {
        size_t bytes = sdc_tensor_nbytes(tensors[i]);
        void *dst = sdc_arena_alloc(f->arena, bytes, 0);
        /* dst is at or below the tensor's old place, which lay inside this block. */
        if (!dst || (unsigned char *)dst > (unsigned char *)tensors[i]->data)
            return sdc_fail(f->ctx, SDC_STATUS_INTERNAL,
                            "activation memory: tensor %d of %d kept out of allocation order", i,
                            n);
        memmove(dst, tensors[i]->data, bytes);
        tensors[i]->data = dst;
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_fwd_keep(sdc_fwd *f, sdc_fwd_mark m, sdc_tensor *t)
{
    return sdc_fwd_keep_n(f, m, &t, 1);
}

size_t sdc_fwd_bytes(const sdc_fwd *f)
{
    /* Whole alignment units, so that the sizes of passes run one after another in one arena
     * (ControlNet residuals, then the UNet) simply add up. */
    return align_up(f->peak);
}

/* ---------------------------------------------------------------------------------------- */
/* Kernels, skipped while measuring                                                          */

sdc_status sdc_fwd_conv2d(sdc_fwd *f, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                          int stride, int pad, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    sdc_conv2d_params p = {.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
    return sdc_kern_conv2d(f->ctx, x, w, bias, &p, y);
}

sdc_status sdc_fwd_linear(sdc_fwd *f, const sdc_tensor *x, const sdc_weight *w, const float *bias,
                          sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_linear(f->ctx, x, w, bias, y);
}

sdc_status sdc_fwd_group_norm(sdc_fwd *f, const sdc_tensor *x, int groups, const float *gamma,
                              const float *beta, float eps, bool silu, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_group_norm(f->ctx, x, groups, gamma, beta, eps, silu, y);
}

sdc_status sdc_fwd_layer_norm(sdc_fwd *f, const sdc_tensor *x, const float *gamma,
                              const float *beta, float eps, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_layer_norm(f->ctx, x, gamma, beta, eps, y);
}

sdc_status sdc_fwd_unary(sdc_fwd *f, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_unary(f->ctx, op, x, y);
}

sdc_status sdc_fwd_binary(sdc_fwd *f, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                          sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_binary(f->ctx, op, a, b, y);
}

sdc_status sdc_fwd_add(sdc_fwd *f, const sdc_tensor *a, const sdc_tensor *b, sdc_tensor *y)
{
    return sdc_fwd_binary(f, SDC_BINARY_OP_ADD, a, b, y);
}

sdc_status sdc_fwd_copy(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_copy(f->ctx, x, y);
}

sdc_status sdc_fwd_upsample2x(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_upsample_nearest2x(f->ctx, x, y);
}

sdc_status sdc_fwd_attention(sdc_fwd *f, const sdc_tensor *q, const sdc_tensor *k,
                             const sdc_tensor *v, float scale, sdc_tensor *out)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    sdc_attention_params p = {.scale = scale, .causal = false};
    return sdc_kern_attention(f->ctx, q, k, v, &p, out);
}

sdc_status sdc_fwd_geglu(sdc_fwd *f, const sdc_tensor *x, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_geglu(f->ctx, x, y);
}

sdc_status sdc_fwd_timestep_embedding(sdc_fwd *f, const float *timesteps, int64_t n, int64_t dim,
                                      const sdc_timestep_embedding_params *p, sdc_tensor *y)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    return sdc_kern_timestep_embedding(f->ctx, timesteps, n, dim, p, y);
}
