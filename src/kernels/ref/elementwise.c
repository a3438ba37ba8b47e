/*
 * elementwise.c — reference activations (torch.nn.functional silu, gelu, gelu(approximate=
 * "tanh"), relu, tanh; transformers' quick_gelu; TAESD's 3 * tanh(x / 3)), broadcasting
 * add/sub/mul, diffusers' GEGLU, softmax over the last dim, strided copy and nearest 2x
 * upsampling (torch 2.4, diffusers 0.30), in float32 with each formula written as torch's CPU
 * kernels write it.
 */
#include "kernels/ref/ref.h"

#include <math.h>

/* ---------------------------------------------------------------------------------------- */
/* Strided views as four dims                                                                 */

/* A view padded to four dims with leading dims of size 1; the last dim is the row. */
typedef struct view4 {
    float *data;
    int64_t shape[4];
    int64_t stride[4];
} view4;

static view4 as_view4(const sdc_tensor *t)
{
    view4 v = {.data = t->data, .shape = {1, 1, 1, 1}, .stride = {0, 0, 0, 0}};
    int pad = 4 - t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        v.shape[pad + i] = t->shape[i];
        v.stride[pad + i] = t->stride[i];
    }
    return v;
}

/* The same view read with `shape` (broadcast dims get stride 0). */
static view4 broadcast_view4(const sdc_tensor *t, const int64_t shape[4])
{
    view4 v = as_view4(t);
    for (int i = 0; i < 4; i++) {
        if (v.shape[i] == 1 && shape[i] != 1)
            v.stride[i] = 0;
        v.shape[i] = shape[i];
    }
    return v;
}

static int64_t n_rows(const view4 *v)
{
    return v->shape[0] * v->shape[1] * v->shape[2];
}

/* Element offset of the first element of row r (rows run over dims 0..2). */
static int64_t row_offset(const view4 *v, int64_t r)
{
    int64_t i2 = r % v->shape[2];
    int64_t i1 = r / v->shape[2] % v->shape[1];
    int64_t i0 = r / v->shape[2] / v->shape[1];
    return i0 * v->stride[0] + i1 * v->stride[1] + i2 * v->stride[2];
}

/* Work items are pieces of at most ROW_PIECE elements of a row, so that a few long rows
 * (a flattened tensor) still spread over the threads. */
enum { ROW_PIECE = 4096 };

static int64_t pieces_per_row(const view4 *v)
{
    return v->shape[3] > ROW_PIECE ? (v->shape[3] + ROW_PIECE - 1) / ROW_PIECE : 1;
}

/* Row, first element and element count of work item `item`. */
static void piece_of(const view4 *v, int64_t item, int64_t *row, int64_t *begin, int64_t *count)
{
    int64_t per_row = pieces_per_row(v);
    *row = item / per_row;
    *begin = item % per_row * ROW_PIECE;
    *count = v->shape[3] - *begin < ROW_PIECE ? v->shape[3] - *begin : ROW_PIECE;
}

static int64_t n_pieces(const view4 *v)
{
    return n_rows(v) * pieces_per_row(v);
}

/* ---------------------------------------------------------------------------------------- */
/* Activations                                                                                */

static float sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

static float silu(float v)
{
    return v / (1.0f + expf(-v));
}

static float gelu(float v)
{
    const float sqrt1_2 = 0.70710678118654752440f;
    return v * 0.5f * (1.0f + erff(v * sqrt1_2));
}

static float gelu_tanh(float v)
{
    const float beta = 0.79788456080286535588f; /* sqrt(2 / pi) */
    const float kappa = 0.044715f;
    float inner = beta * (v + kappa * (v * v * v));
    return 0.5f * v * (1.0f + tanhf(inner));
}

static float apply_unary(sdc_unary_op op, float v)
{
    switch (op) {
    case SDC_UNARY_OP_SILU:
        return silu(v);
    case SDC_UNARY_OP_GELU:
        return gelu(v);
    case SDC_UNARY_OP_GELU_TANH:
        return gelu_tanh(v);
    case SDC_UNARY_OP_QUICK_GELU:
        return v * sigmoid(1.702f * v);
    case SDC_UNARY_OP_RELU:
        return v < 0.0f ? 0.0f : v;
    case SDC_UNARY_OP_TANH:
        return tanhf(v);
    case SDC_UNARY_OP_SOFT_CLAMP3:
        return tanhf(v / 3.0f) * 3.0f;
    case SDC_UNARY_OP_COUNT:
        break;
    }
    return NAN;
}

typedef struct unary_job {
    sdc_unary_op op;
    view4 x, y;
} unary_job;

static void unary_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const unary_job *job = arg;
    int64_t xs = job->x.stride[3], ys = job->y.stride[3];
    for (int64_t item = begin; item < end; item++) {
        int64_t r, i0, n;
        piece_of(&job->y, item, &r, &i0, &n);
        const float *x = job->x.data + row_offset(&job->x, r) + i0 * xs;
        float *y = job->y.data + row_offset(&job->y, r) + i0 * ys;
        for (int64_t i = 0; i < n; i++)
            y[i * ys] = apply_unary(job->op, x[i * xs]);
    }
}

void sdc_ref_unary(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y)
{
    unary_job job = {.op = op, .x = as_view4(x), .y = as_view4(y)};
    sdc_parallel_for(ctx, n_pieces(&job.y), 1, unary_range, &job);
}

/* ---------------------------------------------------------------------------------------- */
/* Binary ops with broadcasting                                                               */

typedef struct binary_job {
    sdc_binary_op op;
    view4 a, b, y;
} binary_job;

static void binary_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const binary_job *job = arg;
    int64_t as = job->a.stride[3], bs = job->b.stride[3], ys = job->y.stride[3];
    for (int64_t item = begin; item < end; item++) {
        int64_t r, i0, n;
        piece_of(&job->y, item, &r, &i0, &n);
        const float *a = job->a.data + row_offset(&job->a, r) + i0 * as;
        const float *b = job->b.data + row_offset(&job->b, r) + i0 * bs;
        float *y = job->y.data + row_offset(&job->y, r) + i0 * ys;
        switch (job->op) {
        case SDC_BINARY_OP_ADD:
            for (int64_t i = 0; i < n; i++)
                y[i * ys] = a[i * as] + b[i * bs];
            break;
        case SDC_BINARY_OP_SUB:
            for (int64_t i = 0; i < n; i++)
                y[i * ys] = a[i * as] - b[i * bs];
            break;
        case SDC_BINARY_OP_MUL:
            for (int64_t i = 0; i < n; i++)
                y[i * ys] = a[i * as] * b[i * bs];
            break;
        case SDC_BINARY_OP_COUNT:
            break;
        }
    }
}

void sdc_ref_binary(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                    sdc_tensor *y)
{
    binary_job job = {.op = op, .y = as_view4(y)};
    job.a = broadcast_view4(a, job.y.shape);
    job.b = broadcast_view4(b, job.y.shape);
    sdc_parallel_for(ctx, n_pieces(&job.y), 1, binary_range, &job);
}

/* ---------------------------------------------------------------------------------------- */
/* GEGLU and softmax: one row of a 2-D view per item                                          */

typedef struct rows_job {
    const sdc_tensor *x;
    sdc_tensor *y;
} rows_job;

/* diffusers GEGLU.forward: hidden_states, gate = proj(x).chunk(2, dim=-1);
 * return hidden_states * F.gelu(gate). */
static void geglu_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rows_job *job = arg;
    int64_t n = job->y->shape[1];
    for (int64_t m = begin; m < end; m++) {
        const float *x = (const float *)job->x->data + m * job->x->stride[0];
        float *y = (float *)job->y->data + m * job->y->stride[0];
        for (int64_t j = 0; j < n; j++)
            y[j] = x[j] * gelu(x[n + j]);
    }
}

void sdc_ref_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    rows_job job = {.x = x, .y = y};
    sdc_parallel_for(ctx, y->shape[0], 1, geglu_range, &job);
}

/* torch softmax: exp(x - max) times 1 / sum (the sum here in double). y may equal x. */
static void softmax_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rows_job *job = arg;
    int64_t n = job->x->shape[1];
    for (int64_t m = begin; m < end; m++) {
        const float *x = (const float *)job->x->data + m * job->x->stride[0];
        float *y = (float *)job->y->data + m * job->y->stride[0];
        float max = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            max = x[i] > max ? x[i] : max;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            y[i] = expf(x[i] - max);
            sum += (double)y[i];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < n; i++)
            y[i] *= inv;
    }
}

void sdc_ref_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    rows_job job = {.x = x, .y = y};
    sdc_parallel_for(ctx, x->shape[0], 1, softmax_range, &job);
}

/* ---------------------------------------------------------------------------------------- */
/* Copy and upsampling                                                                        */

typedef struct copy_job {
    view4 x, y;
} copy_job;

static void copy_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const copy_job *job = arg;
    int64_t xs = job->x.stride[3], ys = job->y.stride[3];
    for (int64_t item = begin; item < end; item++) {
        int64_t r, i0, n;
        piece_of(&job->y, item, &r, &i0, &n);
        const float *x = job->x.data + row_offset(&job->x, r) + i0 * xs;
        float *y = job->y.data + row_offset(&job->y, r) + i0 * ys;
        for (int64_t i = 0; i < n; i++)
            y[i * ys] = x[i * xs];
    }
}

void sdc_ref_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    copy_job job = {.x = as_view4(x), .y = as_view4(y)};
    sdc_parallel_for(ctx, n_pieces(&job.y), 1, copy_range, &job);
}

/* torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"): y[.., i, j] =
 * x[.., i / 2, j / 2]. One input row (two output rows) per item. */
static void upsample_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rows_job *job = arg;
    int64_t W = job->x->shape[3];
    for (int64_t r = begin; r < end; r++) {
        const float *x = (const float *)job->x->data + r * W;
        float *y0 = (float *)job->y->data + r * 4 * W;
        float *y1 = y0 + 2 * W;
        for (int64_t j = 0; j < 2 * W; j++) {
            y0[j] = x[j / 2];
            y1[j] = x[j / 2];
        }
    }
}

void sdc_ref_upsample_nearest2x(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    rows_job job = {.x = x, .y = y};
    sdc_parallel_for(ctx, x->shape[0] * x->shape[1] * x->shape[2], 1, upsample_range, &job);
}
