/*
 * dispatch.c — the sdc_kern_* entry points: each checks its arguments (dims, dtypes, strides,
 * overlap) and names the op and the shapes involved when they are wrong, then calls the table
 * chosen for the context's CPU level. The sdc_weight helpers live in weight.c.
 */
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Tables                                                                                     */

#if SDC_ARCH_X86_64
/* kernels/x86/tables.c */
const sdc_kernels *sdc_kernels_x86_avx2(void);
const sdc_kernels *sdc_kernels_x86_avx512(void);
const sdc_kernels *sdc_kernels_x86_avx512_bf16(void);
#endif

const sdc_kernels *sdc_kernels_for_precision(const sdc_cpu_features *features,
                                             sdc_precision precision)
{
#if SDC_ARCH_X86_64
    switch (sdc_cpu_level_of(features)) {
    case SDC_CPU_LEVEL_AVX512_BF16:
        return precision == SDC_PRECISION_BF16 ? sdc_kernels_x86_avx512_bf16()
                                               : sdc_kernels_x86_avx512();
    case SDC_CPU_LEVEL_AVX512:
        return sdc_kernels_x86_avx512();
    case SDC_CPU_LEVEL_AVX2:
        return sdc_kernels_x86_avx2();
    case SDC_CPU_LEVEL_SCALAR:
    case SDC_CPU_LEVEL_COUNT:
        break;
    }
#else
    (void)features;
    (void)precision;
#endif
    return sdc_kernels_ref();
}

const sdc_kernels *sdc_kernels_for(const sdc_cpu_features *features)
{
    return sdc_kernels_for_precision(features, SDC_PRECISION_F32);
}

static const sdc_kernels *table(sdc_context *ctx)
{
    return sdc_kernels_for_precision(sdc_context_cpu(ctx), sdc_context_precision(ctx));
}

static const char *const op_names[] = {
    [SDC_KERN_OP_LINEAR] = "linear",
    [SDC_KERN_OP_CONV_1X1] = "conv1x1",
    [SDC_KERN_OP_CONV_KXK] = "conv",
    [SDC_KERN_OP_ATTENTION] = "attention",
    [SDC_KERN_OP_GROUP_NORM] = "group_norm",
    [SDC_KERN_OP_LAYER_NORM] = "layer_norm",
    [SDC_KERN_OP_UNARY] = "unary",
    [SDC_KERN_OP_BINARY] = "binary",
    [SDC_KERN_OP_GEGLU] = "geglu",
    [SDC_KERN_OP_SOFTMAX] = "softmax",
    [SDC_KERN_OP_UPSAMPLE] = "upsample",
    [SDC_KERN_OP_COPY] = "copy",
    [SDC_KERN_OP_TIMESTEP_EMBEDDING] = "timestep_embedding",
};
static_assert(sizeof op_names / sizeof op_names[0] == SDC_KERN_OP_COUNT, "one name per op");

const char *sdc_kern_op_name(sdc_kern_op op)
{
    return (unsigned)op < SDC_KERN_OP_COUNT ? op_names[op] : NULL;
}

/* Calls the table's op, timing it into the profile slot when the context profiles. */
#define RUN_OP(slot, flops, call)                                                                  \
    do {                                                                                           \
        if (sdc_profile_enabled(ctx)) {                                                            \
            double t0_ = sdc_time_s();                                                             \
            call;                                                                                  \
            sdc_profile_add(ctx, (slot), sdc_time_s() - t0_, (flops));                             \
        } else {                                                                                   \
            call;                                                                                  \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Argument checks: each returns OK or records the failure on ctx                             */

#define SHAPE_BUF 96

static const char *shape_of(const sdc_tensor *t, char *buf)
{
    return sdc_shape_str(t->ndim, t->shape, buf, SHAPE_BUF);
}

static const char *strides_of(const sdc_tensor *t, char *buf)
{
    return sdc_shape_str(t->ndim, t->stride, buf, SHAPE_BUF);
}

static const char *wshape_of(const sdc_weight *w, char *buf)
{
    int ndim = w->ndim < 0 ? 0 : w->ndim > SDC_TENSOR_MAX_DIMS ? SDC_TENSOR_MAX_DIMS : w->ndim;
    return sdc_shape_str(ndim, w->shape, buf, SHAPE_BUF);
}

/* Non-negative dims whose product fits in int64 (and in size_t bytes). */
static bool dims_valid(int ndim, const int64_t *shape)
{
    size_t n = sizeof(double);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !sdc_size_mul(n, (size_t)shape[i], &n) || n > (size_t)INT64_MAX)
            return false;
    }
    return true;
}

/* A float32 activation view with ndim in [min_dims, max_dims]. */
static sdc_status check_act(sdc_context *ctx, const char *op, const char *name, const sdc_tensor *t,
                            int min_dims, int max_dims)
{
    char s[SHAPE_BUF];
    if (!t)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    if (t->ndim < 0 || t->ndim > SDC_TENSOR_MAX_DIMS)
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s has %d dims", op, name, t->ndim);
    if (t->ndim < min_dims || t->ndim > max_dims) {
        if (min_dims == max_dims)
            return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s has %d dims, expected %d", op, name,
                            shape_of(t, s), t->ndim, min_dims);
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s has %d dims, expected %d to %d", op, name,
                        shape_of(t, s), t->ndim, min_dims, max_dims);
    }
    if (t->dtype != SDC_DTYPE_F32)
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s is %s; activations must be F32", op, name,
                        shape_of(t, s), sdc_dtype_name(t->dtype));
    if (!dims_valid(t->ndim, t->shape))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s has a negative or oversized dim", op,
                        name, shape_of(t, s));
    if (!t->data && sdc_tensor_numel(t) > 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %s %s has no data", op, name,
                        shape_of(t, s));
    return SDC_STATUS_OK;
}

/* A weight of ndim dims in a format and dtype the kernels decode. */
static sdc_status check_weight(sdc_context *ctx, const char *op, const sdc_weight *w, int ndim)
{
    char s[SHAPE_BUF];
    if (!w)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: weight is NULL", op);
    if ((unsigned)w->format >= SDC_WEIGHT_FORMAT_COUNT)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED, "%s: weight format %d is not supported", op,
                        (int)w->format);
    if (w->ndim != ndim)
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: weight %s has %d dims, expected %d", op,
                        wshape_of(w, s), w->ndim, ndim);
    bool float_dtype =
        w->dtype == SDC_DTYPE_F32 || w->dtype == SDC_DTYPE_F16 || w->dtype == SDC_DTYPE_BF16;
    if (w->format == SDC_WEIGHT_FORMAT_DENSE && !float_dtype)
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: weight %s is %s; dense weights must be F32, F16 or BF16", op,
                        wshape_of(w, s), sdc_dtype_name(w->dtype));
    if (w->format == SDC_WEIGHT_FORMAT_PALETTE &&
        (!float_dtype || !sdc_palette_bits_valid(w->bits) || w->rows_per_group < 1 || !w->palette))
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: palettized weight %s: %d-bit indices, %s palette of %lld rows per "
                        "group at %p: needs 1, 2, 4, 6 or 8 bits, an F32/F16/BF16 palette and "
                        ">= 1 row per group",
                        op, wshape_of(w, s), w->bits, sdc_dtype_name(w->dtype),
                        (long long)w->rows_per_group, w->palette);
    if (w->format == SDC_WEIGHT_FORMAT_INT8 && (w->dtype != SDC_DTYPE_I8 || !w->scale))
        return sdc_fail(ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: int8 weight %s is %s with scales at %p: needs I8 values and a scale "
                        "per row",
                        op, wshape_of(w, s), sdc_dtype_name(w->dtype), (const void *)w->scale);
    if (!dims_valid(w->ndim, w->shape))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: weight %s has a negative or oversized dim", op,
                        wshape_of(w, s));
    if (!w->data && sdc_weight_rows(w) * sdc_weight_row_len(w) > 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: weight %s has no data", op,
                        wshape_of(w, s));
    return SDC_STATUS_OK;
}

static bool last_dim_contiguous(const sdc_tensor *t)
{
    return t->ndim == 0 || t->shape[t->ndim - 1] <= 1 || t->stride[t->ndim - 1] == 1;
}

static sdc_status check_last_contiguous(sdc_context *ctx, const char *op, const char *name,
                                        const sdc_tensor *t)
{
    char s[SHAPE_BUF], st[SHAPE_BUF];
    if (last_dim_contiguous(t))
        return SDC_STATUS_OK;
    return sdc_fail(ctx, SDC_STATUS_SHAPE,
                    "%s: %s %s has strides %s; its last dim must be contiguous", op, name,
                    shape_of(t, s), strides_of(t, st));
}

static sdc_status check_contiguous(sdc_context *ctx, const char *op, const char *name,
                                   const sdc_tensor *t)
{
    char s[SHAPE_BUF], st[SHAPE_BUF];
    if (sdc_tensor_is_contiguous(t))
        return SDC_STATUS_OK;
    return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s has strides %s; it must be contiguous", op,
                    name, shape_of(t, s), strides_of(t, st));
}

/* An output writes each element once: no dim of size > 1 with stride 0. */
static sdc_status check_output(sdc_context *ctx, const char *op, const char *name,
                               const sdc_tensor *t)
{
    char s[SHAPE_BUF], st[SHAPE_BUF];
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] > 1 && t->stride[i] == 0)
            return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                            "%s: output %s %s has strides %s: several elements share an address",
                            op, name, shape_of(t, s), strides_of(t, st));
    }
    return SDC_STATUS_OK;
}

static bool same_view(const sdc_tensor *a, const sdc_tensor *b)
{
    if (a->data != b->data || !sdc_tensor_same_shape(a, b))
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && a->stride[i] != b->stride[i])
            return false;
    return true;
}

/* The byte range [lo, hi) a view touches. */
static void extent(const sdc_tensor *t, uintptr_t *lo, uintptr_t *hi)
{
    int64_t first = 0, last = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t span = (t->shape[i] - 1) * t->stride[i];
        if (span < 0)
            first += span;
        else
            last += span;
    }
    int64_t size = (int64_t)sdc_dtype_size(t->dtype);
    *lo = (uintptr_t)t->data + (uintptr_t)(first * size);
    *hi = (uintptr_t)t->data + (uintptr_t)((last + 1) * size);
}

/* Overlap that can be seen cheaply: the same first element, or intersecting byte ranges of
 * two contiguous views. Strided views whose ranges interleave (slices of one buffer) are
 * allowed, since telling them apart would take a walk over both. */
static bool views_overlap(const sdc_tensor *a, const sdc_tensor *b)
{
    if (sdc_tensor_numel(a) == 0 || sdc_tensor_numel(b) == 0)
        return false;
    if (a->data == b->data)
        return true;
    if (!sdc_tensor_is_contiguous(a) || !sdc_tensor_is_contiguous(b))
        return false;
    uintptr_t alo, ahi, blo, bhi;
    extent(a, &alo, &ahi);
    extent(b, &blo, &bhi);
    return alo < bhi && blo < ahi;
}

/* y must not overlap x, except that it may be exactly x when `in_place_ok`. */
static sdc_status check_no_overlap(sdc_context *ctx, const char *op, const char *xname,
                                   const sdc_tensor *x, const char *yname, const sdc_tensor *y,
                                   bool in_place_ok)
{
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (in_place_ok && same_view(x, y))
        return SDC_STATUS_OK;
    if (!views_overlap(x, y))
        return SDC_STATUS_OK;
    return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %s %s and %s %s overlap in memory%s", op,
                    yname, shape_of(y, sy), xname, shape_of(x, sx),
                    in_place_ok ? " (only the very same view is allowed)" : "");
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        sdc_status st_ = (expr);                                                                   \
        if (st_ != SDC_STATUS_OK)                                                                  \
            return st_;                                                                            \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Ops                                                                                        */

sdc_status sdc_kern_linear(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                           const float *bias, sdc_tensor *y)
{
    static const char op[] = "linear";
    char sx[SHAPE_BUF], sw[SHAPE_BUF], sy[SHAPE_BUF];
    TRY(check_act(ctx, op, "x", x, 2, 2));
    TRY(check_act(ctx, op, "y", y, 2, 2));
    TRY(check_weight(ctx, op, w, 2));
    if (x->shape[1] != w->shape[1])
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: x %s and weight %s: inner dims differ", op,
                        shape_of(x, sx), wshape_of(w, sw));
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0])
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: y %s should be [%lld, %lld] for x %s and weight %s", op,
                        shape_of(y, sy), (long long)x->shape[0], (long long)w->shape[0],
                        shape_of(x, sx), wshape_of(w, sw));
    TRY(check_last_contiguous(ctx, op, "x", x));
    TRY(check_last_contiguous(ctx, op, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, false));
    double flops = 2.0 * (double)x->shape[0] * (double)x->shape[1] * (double)w->shape[0];
    sdc_flops_add(ctx, flops);
    RUN_OP(SDC_KERN_OP_LINEAR, flops, table(ctx)->linear(ctx, x, w, bias, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_conv2d(sdc_context *ctx, const sdc_tensor *x, const sdc_weight *w,
                           const float *bias, const sdc_conv2d_params *p, sdc_tensor *y)
{
    static const char op[] = "conv2d";
    char sx[SHAPE_BUF], sw[SHAPE_BUF], sy[SHAPE_BUF];
    if (!p)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: params are NULL", op);
    if (p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: stride (%d, %d) and padding (%d, %d): strides must be >= 1 and "
                        "padding >= 0",
                        op, p->stride_h, p->stride_w, p->pad_h, p->pad_w);
    TRY(check_act(ctx, op, "x", x, 4, 4));
    TRY(check_act(ctx, op, "y", y, 4, 4));
    TRY(check_weight(ctx, op, w, 4));
    if (x->shape[1] != w->shape[1])
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: x %s and weight %s: input channels differ", op,
                        shape_of(x, sx), wshape_of(w, sw));
    int64_t kh = w->shape[2], kw = w->shape[3];
    int64_t padded_h = x->shape[2] + 2 * (int64_t)p->pad_h;
    int64_t padded_w = x->shape[3] + 2 * (int64_t)p->pad_w;
    if (kh < 1 || kw < 1 || kh > padded_h || kw > padded_w)
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: x %s and weight %s: the kernel is empty or larger than the input "
                        "padded by (%d, %d)",
                        op, shape_of(x, sx), wshape_of(w, sw), p->pad_h, p->pad_w);
    int64_t ho = (padded_h - kh) / p->stride_h + 1;
    int64_t wo = (padded_w - kw) / p->stride_w + 1;
    if (y->shape[0] != x->shape[0] || y->shape[1] != w->shape[0] || y->shape[2] != ho ||
        y->shape[3] != wo)
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: y %s should be [%lld, %lld, %lld, %lld] for x %s and weight %s "
                        "with stride (%d, %d) and padding (%d, %d)",
                        op, shape_of(y, sy), (long long)x->shape[0], (long long)w->shape[0],
                        (long long)ho, (long long)wo, shape_of(x, sx), wshape_of(w, sw),
                        p->stride_h, p->stride_w, p->pad_h, p->pad_w);
    TRY(check_contiguous(ctx, op, "x", x));
    TRY(check_contiguous(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, false));
    double flops = 2.0 * (double)sdc_tensor_numel(y) * (double)(x->shape[1] * kh * kw);
    sdc_flops_add(ctx, flops);
    RUN_OP(kh * kw == 1 ? SDC_KERN_OP_CONV_1X1 : SDC_KERN_OP_CONV_KXK, flops,
           table(ctx)->conv2d(ctx, x, w, bias, p, y));
    return SDC_STATUS_OK;
}

static sdc_status check_eps(sdc_context *ctx, const char *op, float eps)
{
    if (!(eps >= 0.0f) || !isfinite(eps))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: eps %g must be finite and >= 0", op,
                        (double)eps);
    return SDC_STATUS_OK;
}

static sdc_status check_same_shape(sdc_context *ctx, const char *op, const char *xname,
                                   const sdc_tensor *x, const char *yname, const sdc_tensor *y)
{
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    if (sdc_tensor_same_shape(x, y))
        return SDC_STATUS_OK;
    return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: %s %s and %s %s: shapes differ", op, xname,
                    shape_of(x, sx), yname, shape_of(y, sy));
}

sdc_status sdc_kern_group_norm(sdc_context *ctx, const sdc_tensor *x, int groups,
                               const float *gamma, const float *beta, float eps, bool silu,
                               sdc_tensor *y)
{
    static const char op[] = "group_norm";
    char sx[SHAPE_BUF];
    TRY(check_act(ctx, op, "x", x, 3, 4));
    TRY(check_act(ctx, op, "y", y, 3, 4));
    TRY(check_same_shape(ctx, op, "x", x, "y", y));
    if (groups < 1)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %d groups for x %s", op, groups,
                        shape_of(x, sx));
    if (x->shape[1] % groups != 0)
        return sdc_fail(ctx, SDC_STATUS_SHAPE,
                        "%s: x %s: %lld channels do not divide into %d groups", op, shape_of(x, sx),
                        (long long)x->shape[1], groups);
    TRY(check_eps(ctx, op, eps));
    TRY(check_contiguous(ctx, op, "x", x));
    TRY(check_contiguous(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, true));
    RUN_OP(SDC_KERN_OP_GROUP_NORM, 0.0,
           table(ctx)->group_norm(ctx, x, groups, gamma, beta, eps, silu, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_layer_norm(sdc_context *ctx, const sdc_tensor *x, const float *gamma,
                               const float *beta, float eps, sdc_tensor *y)
{
    static const char op[] = "layer_norm";
    TRY(check_act(ctx, op, "x", x, 2, 2));
    TRY(check_act(ctx, op, "y", y, 2, 2));
    TRY(check_same_shape(ctx, op, "x", x, "y", y));
    TRY(check_eps(ctx, op, eps));
    TRY(check_last_contiguous(ctx, op, "x", x));
    TRY(check_last_contiguous(ctx, op, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, true));
    RUN_OP(SDC_KERN_OP_LAYER_NORM, 0.0, table(ctx)->layer_norm(ctx, x, gamma, beta, eps, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_unary(sdc_context *ctx, sdc_unary_op op_code, const sdc_tensor *x,
                          sdc_tensor *y)
{
    static const char op[] = "unary";
    if ((unsigned)op_code >= SDC_UNARY_OP_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: unknown op %d", op, (int)op_code);
    TRY(check_act(ctx, op, "x", x, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_act(ctx, op, "y", y, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_same_shape(ctx, op, "x", x, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, true));
    RUN_OP(SDC_KERN_OP_UNARY, 0.0, table(ctx)->unary(ctx, op_code, x, y));
    return SDC_STATUS_OK;
}

static const char *const binary_names[] = {
    [SDC_BINARY_OP_ADD] = "binary add",
    [SDC_BINARY_OP_SUB] = "binary sub",
    [SDC_BINARY_OP_MUL] = "binary mul",
};
static_assert(sizeof binary_names / sizeof binary_names[0] == SDC_BINARY_OP_COUNT,
              "one name per binary op");

static bool broadcasts_to(const sdc_tensor *a, const sdc_tensor *y)
{
    if (a->ndim != y->ndim)
        return false;
    for (int i = 0; i < y->ndim; i++)
        if (a->shape[i] != y->shape[i] && a->shape[i] != 1)
            return false;
    return true;
}

sdc_status sdc_kern_binary(sdc_context *ctx, sdc_binary_op op_code, const sdc_tensor *a,
                           const sdc_tensor *b, sdc_tensor *y)
{
    if ((unsigned)op_code >= SDC_BINARY_OP_COUNT)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "binary: unknown op %d", (int)op_code);
    const char *op = binary_names[op_code];
    char sa[SHAPE_BUF], sb[SHAPE_BUF], sy[SHAPE_BUF];
    TRY(check_act(ctx, op, "a", a, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_act(ctx, op, "b", b, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_act(ctx, op, "y", y, 0, SDC_TENSOR_MAX_DIMS));
    if (!broadcasts_to(a, y) || !broadcasts_to(b, y))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: a %s and b %s do not broadcast to y %s", op,
                        shape_of(a, sa), shape_of(b, sb), shape_of(y, sy));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "a", a, "y", y, true));
    TRY(check_no_overlap(ctx, op, "b", b, "y", y, true));
    RUN_OP(SDC_KERN_OP_BINARY, 0.0, table(ctx)->binary(ctx, op_code, a, b, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    static const char op[] = "geglu";
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    TRY(check_act(ctx, op, "x", x, 2, 2));
    TRY(check_act(ctx, op, "y", y, 2, 2));
    if (x->shape[1] % 2 != 0 || y->shape[0] != x->shape[0] || y->shape[1] * 2 != x->shape[1])
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: x %s and y %s: x must be [M, 2N] and y [M, N]",
                        op, shape_of(x, sx), shape_of(y, sy));
    TRY(check_last_contiguous(ctx, op, "x", x));
    TRY(check_last_contiguous(ctx, op, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, false));
    RUN_OP(SDC_KERN_OP_GEGLU, 0.0, table(ctx)->geglu(ctx, x, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    static const char op[] = "softmax";
    TRY(check_act(ctx, op, "x", x, 2, 2));
    TRY(check_act(ctx, op, "y", y, 2, 2));
    TRY(check_same_shape(ctx, op, "x", x, "y", y));
    TRY(check_last_contiguous(ctx, op, "x", x));
    TRY(check_last_contiguous(ctx, op, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, true));
    RUN_OP(SDC_KERN_OP_SOFTMAX, 0.0, table(ctx)->softmax(ctx, x, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_attention(sdc_context *ctx, const sdc_tensor *q, const sdc_tensor *k,
                              const sdc_tensor *v, const sdc_attention_params *p, sdc_tensor *out)
{
    static const char op[] = "attention";
    char sq[SHAPE_BUF], sk[SHAPE_BUF], sv[SHAPE_BUF], so[SHAPE_BUF];
    if (!p)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: params are NULL", op);
    if (!isfinite(p->scale))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: scale %g is not finite", op,
                        (double)p->scale);
    TRY(check_act(ctx, op, "q", q, 4, 4));
    TRY(check_act(ctx, op, "k", k, 4, 4));
    TRY(check_act(ctx, op, "v", v, 4, 4));
    TRY(check_act(ctx, op, "out", out, 4, 4));
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3])
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: q %s and k %s: batch, heads or head dim differ",
                        op, shape_of(q, sq), shape_of(k, sk));
    if (!sdc_tensor_same_shape(k, v))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: k %s and v %s: shapes differ", op,
                        shape_of(k, sk), shape_of(v, sv));
    if (!sdc_tensor_same_shape(q, out))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: q %s and out %s: shapes differ", op,
                        shape_of(q, sq), shape_of(out, so));
    if (k->shape[2] == 0 && sdc_tensor_numel(q) > 0)
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: q %s and k %s: there are no keys", op,
                        shape_of(q, sq), shape_of(k, sk));
    TRY(check_last_contiguous(ctx, op, "q", q));
    TRY(check_last_contiguous(ctx, op, "k", k));
    TRY(check_last_contiguous(ctx, op, "v", v));
    TRY(check_last_contiguous(ctx, op, "out", out));
    TRY(check_output(ctx, op, "out", out));
    TRY(check_no_overlap(ctx, op, "q", q, "out", out, false));
    TRY(check_no_overlap(ctx, op, "k", k, "out", out, false));
    TRY(check_no_overlap(ctx, op, "v", v, "out", out, false));
    /* Scores and values: 2 Lq Lk D each (all keys, also when causal, as torch counts). */
    double flops = 4.0 * (double)sdc_tensor_numel(q) * (double)k->shape[2];
    sdc_flops_add(ctx, flops);
    RUN_OP(SDC_KERN_OP_ATTENTION, flops, table(ctx)->attention(ctx, q, k, v, p, out));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_upsample_nearest2x(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    static const char op[] = "upsample_nearest2x";
    char sx[SHAPE_BUF], sy[SHAPE_BUF];
    TRY(check_act(ctx, op, "x", x, 4, 4));
    TRY(check_act(ctx, op, "y", y, 4, 4));
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] ||
        y->shape[2] != 2 * x->shape[2] || y->shape[3] != 2 * x->shape[3])
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: x %s and y %s: y must be [N, C, 2H, 2W]", op,
                        shape_of(x, sx), shape_of(y, sy));
    TRY(check_contiguous(ctx, op, "x", x));
    TRY(check_contiguous(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, false));
    RUN_OP(SDC_KERN_OP_UPSAMPLE, 0.0, table(ctx)->upsample_nearest2x(ctx, x, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    static const char op[] = "copy";
    TRY(check_act(ctx, op, "x", x, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_act(ctx, op, "y", y, 0, SDC_TENSOR_MAX_DIMS));
    TRY(check_same_shape(ctx, op, "x", x, "y", y));
    TRY(check_output(ctx, op, "y", y));
    TRY(check_no_overlap(ctx, op, "x", x, "y", y, true));
    RUN_OP(SDC_KERN_OP_COPY, 0.0, table(ctx)->copy(ctx, x, y));
    return SDC_STATUS_OK;
}

sdc_status sdc_kern_timestep_embedding(sdc_context *ctx, const float *timesteps, int64_t n,
                                       int64_t dim, const sdc_timestep_embedding_params *p,
                                       sdc_tensor *y)
{
    static const char op[] = "timestep_embedding";
    char sy[SHAPE_BUF];
    if (!p)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: params are NULL", op);
    if (n < 0 || dim < 0 || (n > 0 && !timesteps))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s: %lld timesteps at %p, dim %lld", op,
                        (long long)n, (const void *)timesteps, (long long)dim);
    if (!(p->max_period > 0.0f) || !isfinite(p->max_period) || !isfinite(p->scale) ||
        !isfinite(p->downscale_freq_shift))
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: max_period %g, scale %g, downscale_freq_shift %g: max_period must "
                        "be > 0 and all finite",
                        op, (double)p->max_period, (double)p->scale,
                        (double)p->downscale_freq_shift);
    if (dim / 2 > 0 && (float)(dim / 2) - p->downscale_freq_shift == 0.0f)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                        "%s: dim %lld with downscale_freq_shift %g divides by zero", op,
                        (long long)dim, (double)p->downscale_freq_shift);
    TRY(check_act(ctx, op, "y", y, 2, 2));
    if (y->shape[0] != n || y->shape[1] != dim)
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s: y %s should be [%lld, %lld]", op,
                        shape_of(y, sy), (long long)n, (long long)dim);
    TRY(check_contiguous(ctx, op, "y", y));
    if (n > 0 && dim > 0) {
        sdc_tensor t = sdc_tensor_make((void *)timesteps, SDC_DTYPE_F32, 1, &n);
        TRY(check_no_overlap(ctx, op, "timesteps", &t, "y", y, false));
    }
    RUN_OP(SDC_KERN_OP_TIMESTEP_EMBEDDING, 0.0,
           table(ctx)->timestep_embedding(ctx, timesteps, n, dim, p, y));
    return SDC_STATUS_OK;
}
