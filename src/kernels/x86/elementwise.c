/*
 * elementwise.c — vectorised activations (SiLU, GELU), broadcasting add/sub/mul, diffusers'
 * GEGLU, and strided copies, with the layouts the models use on fast paths (contiguous rows,
 * a per-row scalar, the last two dims transposed as between [B, C, HW] and [B, HW, C]) done as
 * eight-lane vectors and 8 x 8 tile transposes; any other layout goes to the reference kernel.
 */
#include "kernels/ref/ref.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86.h"

/* ---------------------------------------------------------------------------------------- */
/* Views as up to four dims                                                                   */

typedef struct view4 {
    float *data;
    int64_t shape[4];
    int64_t stride[4];
} view4;

static view4 as_view4(const sdc_tensor *t, const int64_t *bshape)
{
    view4 v = {.data = t->data, .shape = {1, 1, 1, 1}, .stride = {0, 0, 0, 0}};
    int pad = 4 - t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        v.shape[pad + i] = t->shape[i];
        v.stride[pad + i] = t->stride[i];
    }
    if (bshape) {
        for (int i = 0; i < 4; i++) {
            if (v.shape[i] == 1 && bshape[i] != 1)
                v.stride[i] = 0;
            v.shape[i] = bshape[i];
        }
    }
    return v;
}

/* Offset of row r (rows run over dims 0..2). */
static int64_t row_offset(const view4 *v, int64_t r)
{
    int64_t i2 = r % v->shape[2];
    int64_t i1 = r / v->shape[2] % v->shape[1];
    int64_t i0 = r / v->shape[2] / v->shape[1];
    return i0 * v->stride[0] + i1 * v->stride[1] + i2 * v->stride[2];
}

static int64_t n_rows(const view4 *v)
{
    return v->shape[0] * v->shape[1] * v->shape[2];
}

/* ---------------------------------------------------------------------------------------- */
/* Unary                                                                                      */

typedef struct unary_job {
    sdc_unary_op op;
    const float *x;
    float *y;
    int64_t n;
} unary_job;

enum { PIECE = 4096 };

static void unary_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const unary_job *job = arg;
    int64_t i = begin * PIECE, stop = end * PIECE < job->n ? end * PIECE : job->n;
    for (; i < stop; i += 8) {
        int count = stop - i < 8 ? (int)(stop - i) : 8;
        __m256 v = sdc_v8_load(job->x + i, count);
        v = job->op == SDC_UNARY_OP_SILU ? sdc_v8_silu(v) : sdc_v8_gelu(v);
        sdc_v8_store(job->y + i, v, count);
    }
}

void sdc_x86_unary(sdc_context *ctx, sdc_unary_op op, const sdc_tensor *x, sdc_tensor *y)
{
    if ((op != SDC_UNARY_OP_SILU && op != SDC_UNARY_OP_GELU) || !sdc_tensor_is_contiguous(x) ||
        !sdc_tensor_is_contiguous(y)) {
        sdc_ref_unary(ctx, op, x, y);
        return;
    }
    unary_job job = {.op = op, .x = x->data, .y = y->data, .n = sdc_tensor_numel(y)};
    sdc_parallel_for(ctx, (job.n + PIECE - 1) / PIECE, 1, unary_range, &job);
}

/* ---------------------------------------------------------------------------------------- */
/* Binary                                                                                     */

typedef struct binary_job {
    sdc_binary_op op;
    view4 a, b, y;
    bool b_transposed; /* b's dims 2 and 3 swapped: tile transposes */
} binary_job;

static __m256 apply(sdc_binary_op op, __m256 a, __m256 b)
{
    return op == SDC_BINARY_OP_ADD   ? _mm256_add_ps(a, b)
           : op == SDC_BINARY_OP_SUB ? _mm256_sub_ps(a, b)
                                     : _mm256_mul_ps(a, b);
}

/* Transposes an 8 x 8 tile held in t (rows in, rows out). */
static void transpose8(__m256 t[8])
{
    __m256 u[8];
    for (int i = 0; i < 4; i++) {
        u[2 * i] = _mm256_unpacklo_ps(t[2 * i], t[2 * i + 1]);
        u[2 * i + 1] = _mm256_unpackhi_ps(t[2 * i], t[2 * i + 1]);
    }
    __m256 w[8];
    for (int i = 0; i < 2; i++) {
        int j = 4 * i;
        w[j] = _mm256_shuffle_ps(u[j], u[j + 2], 0x44);
        w[j + 1] = _mm256_shuffle_ps(u[j], u[j + 2], 0xEE);
        w[j + 2] = _mm256_shuffle_ps(u[j + 1], u[j + 3], 0x44);
        w[j + 3] = _mm256_shuffle_ps(u[j + 1], u[j + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(w[i], w[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(w[i], w[i + 4], 0x31);
    }
}

static void binary_rows(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const binary_job *job = arg;
    int64_t n = job->y.shape[3];
    for (int64_t r = begin; r < end; r++) {
        const float *a = job->a.data + row_offset(&job->a, r);
        const float *b = job->b.data + row_offset(&job->b, r);
        float *y = job->y.data + row_offset(&job->y, r);
        bool b_scalar = job->b.stride[3] == 0;
        for (int64_t i = 0; i < n; i += 8) {
            int count = n - i < 8 ? (int)(n - i) : 8;
            __m256 vb = b_scalar ? _mm256_set1_ps(*b) : sdc_v8_load(b + i, count);
            sdc_v8_store(y + i, apply(job->op, sdc_v8_load(a + i, count), vb), count);
        }
    }
}

/* Items are 8-row strips of one [rows, cols] plane (dims 2 and 3) of dims 0 and 1. */
static void binary_transposed(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const binary_job *job = arg;
    int64_t R = job->y.shape[2], Cn = job->y.shape[3];
    int64_t strips = (R + 7) / 8;
    for (int64_t item = begin; item < end; item++) {
        int64_t plane = item / strips, r0 = item % strips * 8;
        int64_t i1 = plane % job->y.shape[1], i0 = plane / job->y.shape[1];
        const float *a = job->a.data + i0 * job->a.stride[0] + i1 * job->a.stride[1];
        const float *b = job->b.data + i0 * job->b.stride[0] + i1 * job->b.stride[1];
        float *y = job->y.data + i0 * job->y.stride[0] + i1 * job->y.stride[1];
        int64_t as = job->a.stride[2], bs = job->b.stride[3], ys = job->y.stride[2];
        int64_t c0 = 0;
        if (r0 + 8 <= R) {
            for (; c0 + 8 <= Cn; c0 += 8) {
                /* b[r, c] = b + r + c * bs: load 8 columns' runs of 8 rows, transpose. */
                __m256 t[8];
                for (int i = 0; i < 8; i++)
                    t[i] = _mm256_loadu_ps(b + r0 + (c0 + i) * bs);
                transpose8(t);
                for (int i = 0; i < 8; i++) {
                    const float *ar = a + (r0 + i) * as + c0;
                    float *yr = y + (r0 + i) * ys + c0;
                    _mm256_storeu_ps(yr, apply(job->op, _mm256_loadu_ps(ar), t[i]));
                }
            }
        }
        int64_t r1 = r0 + 8 < R ? r0 + 8 : R;
        for (int64_t r = r0; r < r1; r++) {
            for (int64_t c = (r0 + 8 <= R ? c0 : 0); c < Cn; c++) {
                float va = a[r * as + c], vb = b[r + c * bs];
                y[r * ys + c] = job->op == SDC_BINARY_OP_ADD   ? va + vb
                                : job->op == SDC_BINARY_OP_SUB ? va - vb
                                                               : va * vb;
            }
        }
    }
}

void sdc_x86_binary(sdc_context *ctx, sdc_binary_op op, const sdc_tensor *a, const sdc_tensor *b,
                    sdc_tensor *y)
{
    binary_job job = {.op = op};
    job.y = as_view4(y, NULL);
    job.a = as_view4(a, job.y.shape);
    job.b = as_view4(b, job.y.shape);
    bool a_rows = job.a.stride[3] == 1 || job.a.shape[3] == 1;
    bool y_rows = job.y.stride[3] == 1 || job.y.shape[3] == 1;
    if (a_rows && y_rows && job.y.shape[3] >= 8 && (job.b.stride[3] == 1 || job.b.stride[3] == 0)) {
        sdc_parallel_for(ctx, n_rows(&job.y), 1, binary_rows, &job);
        return;
    }
    if (a_rows && y_rows && job.b.stride[2] == 1 && job.a.stride[3] == 1 && job.y.stride[3] == 1 &&
        job.y.shape[2] >= 8 && job.y.shape[3] >= 8) {
        int64_t planes = job.y.shape[0] * job.y.shape[1];
        sdc_parallel_for(ctx, planes * ((job.y.shape[2] + 7) / 8), 1, binary_transposed, &job);
        return;
    }
    sdc_ref_binary(ctx, op, a, b, y);
}

/* ---------------------------------------------------------------------------------------- */
/* GEGLU                                                                                      */

typedef struct geglu_job {
    const sdc_tensor *x;
    sdc_tensor *y;
} geglu_job;

static void geglu_range(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const geglu_job *job = arg;
    int64_t n = job->y->shape[1];
    for (int64_t m = begin; m < end; m++) {
        const float *x = (const float *)job->x->data + m * job->x->stride[0];
        float *y = (float *)job->y->data + m * job->y->stride[0];
        for (int64_t j = 0; j < n; j += 8) {
            int count = n - j < 8 ? (int)(n - j) : 8;
            __m256 g = sdc_v8_gelu(sdc_v8_load(x + n + j, count));
            sdc_v8_store(y + j, _mm256_mul_ps(sdc_v8_load(x + j, count), g), count);
        }
    }
}

void sdc_x86_geglu(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    geglu_job job = {.x = x, .y = y};
    sdc_parallel_for(ctx, y->shape[0], 1, geglu_range, &job);
}

void sdc_x86_softmax(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    sdc_ref_softmax(ctx, x, y);
}

/* ---------------------------------------------------------------------------------------- */
/* Copy                                                                                       */

typedef struct copy_job {
    view4 x, y;
} copy_job;

static void copy_rows(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const copy_job *job = arg;
    int64_t n = job->y.shape[3];
    for (int64_t r = begin; r < end; r++) {
        const float *x = job->x.data + row_offset(&job->x, r);
        float *y = job->y.data + row_offset(&job->y, r);
        for (int64_t i = 0; i < n; i += 8) {
            int count = n - i < 8 ? (int)(n - i) : 8;
            sdc_v8_store(y + i, sdc_v8_load(x + i, count), count);
        }
    }
}

/* y[r, c] = x[r, c] with x's dims 2 and 3 swapped in memory (x + r + c * xs): 8 x 8 tiles. */
static void copy_transposed(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const copy_job *job = arg;
    int64_t R = job->y.shape[2], Cn = job->y.shape[3];
    int64_t strips = (R + 7) / 8;
    for (int64_t item = begin; item < end; item++) {
        int64_t plane = item / strips, r0 = item % strips * 8;
        int64_t i1 = plane % job->y.shape[1], i0 = plane / job->y.shape[1];
        const float *x = job->x.data + i0 * job->x.stride[0] + i1 * job->x.stride[1];
        float *y = job->y.data + i0 * job->y.stride[0] + i1 * job->y.stride[1];
        int64_t xs = job->x.stride[3], ys = job->y.stride[2];
        int64_t c0 = 0;
        if (r0 + 8 <= R) {
            for (; c0 + 8 <= Cn; c0 += 8) {
                __m256 t[8];
                for (int i = 0; i < 8; i++)
                    t[i] = _mm256_loadu_ps(x + r0 + (c0 + i) * xs);
                transpose8(t);
                for (int i = 0; i < 8; i++)
                    _mm256_storeu_ps(y + (r0 + i) * ys + c0, t[i]);
            }
        }
        int64_t r1 = r0 + 8 < R ? r0 + 8 : R;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = (r0 + 8 <= R ? c0 : 0); c < Cn; c++)
                y[r * ys + c] = x[r + c * xs];
    }
}

void sdc_x86_copy(sdc_context *ctx, const sdc_tensor *x, sdc_tensor *y)
{
    copy_job job = {.y = as_view4(y, NULL)};
    job.x = as_view4(x, NULL);
    if (job.y.stride[3] == 1 && job.x.stride[3] == 1 && job.y.shape[3] >= 8) {
        sdc_parallel_for(ctx, n_rows(&job.y), 1, copy_rows, &job);
        return;
    }
    if (job.y.stride[3] == 1 && job.x.stride[2] == 1 && job.y.shape[2] >= 8 &&
        job.y.shape[3] >= 8) {
        int64_t planes = job.y.shape[0] * job.y.shape[1];
        sdc_parallel_for(ctx, planes * ((job.y.shape[2] + 7) / 8), 1, copy_transposed, &job);
        return;
    }
    sdc_ref_copy(ctx, x, y);
}
