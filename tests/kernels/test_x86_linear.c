/*
 * Tests the x86 GEMM (src/kernels/x86/gemm*.c) through linear.c against the reference linear on
 * the same inputs, for every x86 level this machine runs: awkward M, K, N (1, 3, 7, 17, 33,
 * 1023, k blocks and packed blocks split several ways), strided and unaligned rows, F32/F16/BF16
 * weights and the compressed formats (read through the decode hook), bias or none, 1 and 3
 * threads. The bf16 table is compared with the reference on bf16-rounded inputs.
 */
#include "x86_test.h"

typedef struct linear_case {
    int64_t M, K, N;
    int64_t x_pad, y_pad;
    sdc_weight_format format;
    sdc_dtype dtype;
    bool bias;
} linear_case;

/* A weight of the case's format over n_rows x row_len random values; `dense` receives the
 * float32 value of every element (what the decode hook must give). */
typedef struct made_weight {
    sdc_weight w;
    void *data, *palette;
    float *scale;
    float *dense;
} made_weight;

static made_weight make_weight(test_rng *rng, const linear_case *c)
{
    made_weight m = {0};
    int64_t n = c->N * c->K, shape[2] = {c->N, c->K};
    m.dense = test_floats(n);
    if (c->format == SDC_WEIGHT_FORMAT_DENSE) {
        size_t es = sdc_dtype_size(c->dtype);
        m.data = calloc((size_t)n + 1, es);
        unsigned char *d = (unsigned char *)m.data + es; /* unaligned start */
        for (int64_t i = 0; i < n; i++) {
            float v = test_uniform(rng, -1.0f, 1.0f);
            if (c->dtype == SDC_DTYPE_F32) {
                ((float *)d)[i] = v;
                m.dense[i] = v;
            } else if (c->dtype == SDC_DTYPE_F16) {
                ((uint16_t *)d)[i] = sdc_f32_to_f16(v);
                m.dense[i] = sdc_f16_to_f32(((uint16_t *)d)[i]);
            } else {
                ((uint16_t *)d)[i] = sdc_f32_to_bf16(v);
                m.dense[i] = sdc_bf16_to_f32(((uint16_t *)d)[i]);
            }
        }
        m.w = sdc_weight_dense(d, c->dtype, 2, shape);
    } else if (c->format == SDC_WEIGHT_FORMAT_PALETTE) {
        /* 6-bit indices, one palette of 64 F16 entries per 5 rows. */
        int bits = 6;
        int64_t groups = (c->N + 4) / 5;
        size_t row_bytes = sdc_palette_row_bytes(bits, c->K);
        uint8_t *idx = calloc((size_t)c->N * row_bytes + 1, 1);
        uint16_t *pal = calloc((size_t)groups * 64, sizeof(uint16_t));
        for (int64_t i = 0; i < groups * 64; i++)
            pal[i] = sdc_f32_to_f16(test_uniform(rng, -1.0f, 1.0f));
        for (int64_t r = 0; r < c->N; r++)
            for (int64_t k = 0; k < c->K; k++) {
                unsigned v = (unsigned)(test_rng_next(rng) % 64);
                int64_t bit = k * bits;
                uint8_t *row = idx + r * row_bytes;
                row[bit / 8] |= (uint8_t)(v << (bit % 8));
                if (bit % 8 > 2)
                    row[bit / 8 + 1] |= (uint8_t)(v >> (8 - bit % 8));
                m.dense[r * c->K + k] = sdc_f16_to_f32(pal[(r / 5) * 64 + v]);
            }
        m.data = idx;
        m.palette = pal;
        m.w = sdc_weight_palette(idx, bits, pal, SDC_DTYPE_F16, 5, 2, shape);
    } else {
        int8_t *q = calloc((size_t)n, 1);
        m.scale = test_floats(c->N);
        for (int64_t r = 0; r < c->N; r++)
            m.scale[r] = test_uniform(rng, 0.001f, 0.01f);
        for (int64_t i = 0; i < n; i++) {
            q[i] = (int8_t)((int)(test_rng_next(rng) % 255) - 127);
            m.dense[i] = (float)q[i] * m.scale[i / c->K];
        }
        m.data = q;
        m.w = sdc_weight_int8(q, m.scale, 2, shape);
    }
    return m;
}

static void free_weight(made_weight *m)
{
    free(m->data);
    free(m->palette);
    free(m->scale);
    free(m->dense);
}

static void run_case(sdc_context *ctx, const x86_level *level, const linear_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t M = c->M, K = c->K, N = c->N, xs = K + c->x_pad, ys = N + c->y_pad;
    float *xb, *yb, *rb;
    float *x = x86_unaligned(M * xs, &xb), *y = x86_unaligned(M * ys, &yb);
    float *yr = x86_unaligned(M * ys, &rb);
    float *bias = test_floats(N);
    test_fill(&rng, x, M * xs, -1.0f, 1.0f);
    test_fill(&rng, bias, N, -1.0f, 1.0f);
    for (int64_t i = 0; i < M * ys; i++)
        y[i] = yr[i] = 777.0f; /* padding must stay untouched */
    made_weight mw = make_weight(&rng, c);

    sdc_tensor X = {
        .data = x, .dtype = SDC_DTYPE_F32, .ndim = 2, .shape = {M, K}, .stride = {xs, 1}};
    sdc_tensor Y = {
        .data = y, .dtype = SDC_DTYPE_F32, .ndim = 2, .shape = {M, N}, .stride = {ys, 1}};
    sdc_tensor YR = Y;
    YR.data = yr;
    level->table->linear(ctx, &X, &mw.w, c->bias ? bias : NULL, &Y);

    /* The reference on the values the level multiplies (bf16-rounded for the bf16 table). */
    float *xr = test_floats(M * xs), *wr = test_floats(N * K);
    memcpy(xr, x, (size_t)(M * xs) * sizeof(float));
    memcpy(wr, mw.dense, (size_t)(N * K) * sizeof(float));
    if (level->bf16) {
        x86_round_bf16(xr, M * xs);
        x86_round_bf16(wr, N * K);
    }
    int64_t wshape[2] = {N, K};
    sdc_weight WR = sdc_weight_dense(wr, SDC_DTYPE_F32, 2, wshape);
    sdc_tensor XR = X;
    XR.data = xr;
    sdc_kernels_ref()->linear(ctx, &XR, &WR, c->bias ? bias : NULL, &YR);

    float *got = test_floats(M * N);
    double *ref = test_doubles(M * N), *tol = test_doubles(M * N);
    bool pad_ok = true;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double mag = 0;
            for (int64_t k = 0; k < K; k++)
                mag += fabs((double)xr[m * xs + k] * wr[n * K + k]);
            got[m * N + n] = y[m * ys + n];
            ref[m * N + n] = yr[m * ys + n];
            tol[m * N + n] = 2.0 * (double)(K + 2) * TEST_U * mag +
                             4.0 * TEST_U * (c->bias ? fabs((double)bias[n]) : 0.0);
        }
        for (int64_t n = N; n < ys; n++)
            pad_ok = pad_ok && y[m * ys + n] == 777.0f;
    }
    char what[160];
    snprintf(what, sizeof what, "%s linear M=%lld K=%lld N=%lld format %d dtype %s%s", level->name,
             (long long)M, (long long)K, (long long)N, (int)c->format, sdc_dtype_name(c->dtype),
             c->bias ? " +bias" : "");
    CHECK_CLOSE(what, M * N, got, ref, tol);
    CHECK_MSG(pad_ok, "%s: row padding untouched", what);
    free(got);
    free(ref);
    free(tol);
    free(xr);
    free(wr);
    free_weight(&mw);
    free(xb);
    free(yb);
    free(rb);
    free(bias);
}

static const linear_case cases[] = {
    {1, 1, 1, 0, 0, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F32, true},
    {3, 7, 17, 1, 3, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F16, true},
    {7, 3, 33, 0, 1, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_BF16, false},
    {17, 33, 7, 5, 0, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F32, true},
    {33, 17, 1, 0, 2, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F16, false},
    {13, 1023, 35, 3, 0, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F16, true},
    {1023, 17, 33, 0, 5, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F32, true},
    {5, 40, 1023, 0, 0, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_BF16, true},
    {200, 600, 100, 7, 1, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F16, true},
    {77, 257, 65, 0, 0, SDC_WEIGHT_FORMAT_DENSE, SDC_DTYPE_F32, false},
    {19, 301, 29, 1, 1, SDC_WEIGHT_FORMAT_PALETTE, SDC_DTYPE_F16, true},
    {40, 64, 70, 0, 0, SDC_WEIGHT_FORMAT_PALETTE, SDC_DTYPE_F16, false},
    {23, 129, 31, 2, 0, SDC_WEIGHT_FORMAT_INT8, SDC_DTYPE_I8, true},
};

static void test_linear_levels(void)
{
    sdc_context *ctxs[2] = {test_context(1), test_context(3)};
    for (int t = 0; t < 2; t++) {
        x86_level levels[3];
        int n = x86_levels(ctxs[t], levels);
        for (int l = 0; l < n; l++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                run_case(ctxs[t], &levels[l], &cases[i], 1000 + i);
        sdc_context_destroy(ctxs[t]);
    }
}

int main(void)
{
    RUN(test_linear_levels);
    return test_finish();
}
