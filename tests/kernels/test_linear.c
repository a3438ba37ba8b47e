/*
 * Tests sdc_kern_linear and the sdc_weight helpers: the reference kernel against the textbook
 * sum y[m, n] = sum_k x[m, k] w[n, k] + b[n] in double, over awkward sizes, strided and
 * unaligned views, F32/F16/BF16 weights, 1 vs 3 threads, and the wrapper's shape errors.
 *
 * Tolerance: recursive float32 summation of K products plus a bias has error at most
 * (K + 2) u sum_k |x w| + u |b| (Higham, gamma_{K+2}); the test uses that bound per element.
 */
#include "kernel_test.h"

/* Weight values stored as `dtype`, with the float each one decodes to in `exact`. */
typedef struct stored_weight {
    void *buf;    /* allocation */
    void *data;   /* first element, one element past buf so the start is unaligned */
    float *exact; /* [rows * row_len] */
} stored_weight;

static stored_weight make_weight(test_rng *rng, sdc_dtype dtype, int64_t count)
{
    stored_weight s;
    size_t esize = sdc_dtype_size(dtype);
    s.buf = calloc((size_t)count + 1, esize);
    s.exact = test_floats(count);
    s.data = (char *)s.buf + esize;
    for (int64_t i = 0; i < count; i++) {
        float v = test_uniform(rng, -1.0f, 1.0f);
        if (dtype == SDC_DTYPE_F32) {
            ((float *)s.data)[i] = v;
            s.exact[i] = v;
        } else if (dtype == SDC_DTYPE_F16) {
            uint16_t h = sdc_f32_to_f16(v);
            ((uint16_t *)s.data)[i] = h;
            s.exact[i] = sdc_f16_to_f32(h);
        } else {
            uint16_t h = sdc_f32_to_bf16(v);
            ((uint16_t *)s.data)[i] = h;
            s.exact[i] = sdc_bf16_to_f32(h);
        }
    }
    return s;
}

static void free_weight(stored_weight *s)
{
    free(s->buf);
    free(s->exact);
}

typedef struct linear_case {
    int64_t M, K, N;
    int64_t x_pad, y_pad; /* extra floats per row (strided views) */
    int64_t x_off, y_off; /* floats before the first element (unaligned starts) */
    sdc_dtype dtype;
    bool bias;
} linear_case;

/* Runs one case with ctx and checks it against the double-precision definition. */
static void run_case(sdc_context *ctx, const linear_case *c, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t M = c->M, K = c->K, N = c->N;
    int64_t xs = K + c->x_pad, ys = N + c->y_pad;
    float *xbuf = test_floats(c->x_off + M * xs);
    float *ybuf = test_floats(c->y_off + M * ys);
    float *bias = test_floats(N);
    test_fill(&rng, xbuf, c->x_off + M * xs, -1.0f, 1.0f);
    test_fill(&rng, bias, N, -1.0f, 1.0f);
    for (int64_t i = 0; i < c->y_off + M * ys; i++)
        ybuf[i] = 12345.0f; /* padding must stay untouched */
    stored_weight w = make_weight(&rng, c->dtype, N * K);

    sdc_tensor x = {.data = xbuf + c->x_off,
                    .dtype = SDC_DTYPE_F32,
                    .ndim = 2,
                    .shape = {M, K},
                    .stride = {xs, 1}};
    sdc_tensor y = {.data = ybuf + c->y_off,
                    .dtype = SDC_DTYPE_F32,
                    .ndim = 2,
                    .shape = {M, N},
                    .stride = {ys, 1}};
    int64_t wshape[2] = {N, K};
    sdc_weight wt = sdc_weight_dense(w.data, c->dtype, 2, wshape);
    sdc_status st = sdc_kern_linear(ctx, &x, &wt, c->bias ? bias : NULL, &y);
    CHECK_MSG(st == SDC_STATUS_OK, "linear: %s", sdc_context_errmsg(ctx));

    float *got = test_floats(M * N);
    double *ref = test_doubles(M * N), *tol = test_doubles(M * N);
    for (int64_t m = 0; m < M; m++) {
        const float *xr = xbuf + c->x_off + m * xs;
        for (int64_t n = 0; n < N; n++) {
            double sum = 0.0, mag = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)xr[k] * (double)w.exact[n * K + k];
                sum += p;
                mag += fabs(p);
            }
            if (c->bias) {
                sum += bias[n];
                mag += fabs((double)bias[n]);
            }
            got[m * N + n] = ybuf[c->y_off + m * ys + n];
            ref[m * N + n] = sum;
            tol[m * N + n] = (double)(K + 2) * TEST_U * mag;
        }
    }
    char what[128];
    snprintf(what, sizeof what, "linear M=%lld K=%lld N=%lld %s%s", (long long)M, (long long)K,
             (long long)N, sdc_dtype_name(c->dtype), c->x_pad || c->x_off ? " strided" : "");
    CHECK_CLOSE(what, M * N, got, ref, tol);

    bool untouched = true;
    for (int64_t i = 0; i < c->y_off; i++)
        untouched &= ybuf[i] == 12345.0f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = N; j < ys; j++)
            untouched &= ybuf[c->y_off + m * ys + j] == 12345.0f;
    CHECK_MSG(untouched, "%s: wrote outside y", what);

    free(got);
    free(ref);
    free(tol);
    free_weight(&w);
    free(bias);
    free(ybuf);
    free(xbuf);
}

static void test_sizes(void)
{
    sdc_context *ctx = test_context(2);
    static const linear_case cases[] = {
        {1, 1, 1, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {3, 7, 5, 0, 0, 0, 0, SDC_DTYPE_F32, false},
        {7, 17, 3, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {17, 33, 9, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {33, 255, 17, 0, 0, 0, 0, SDC_DTYPE_F32, false},
        {65, 257, 31, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {2, 1000, 7, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {77, 768, 40, 0, 0, 0, 0, SDC_DTYPE_F32, true},
        {300, 320, 320, 0, 0, 0, 0, SDC_DTYPE_F32, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 100 + i);
    sdc_context_destroy(ctx);
}

static void test_strided_views(void)
{
    sdc_context *ctx = test_context(2);
    static const linear_case cases[] = {
        {5, 9, 6, 3, 2, 1, 3, SDC_DTYPE_F32, true},
        {66, 300, 13, 5, 1, 7, 1, SDC_DTYPE_F32, false},
        {1, 3, 1, 1, 1, 1, 1, SDC_DTYPE_F32, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 200 + i);
    sdc_context_destroy(ctx);
}

static void test_half_weights(void)
{
    sdc_context *ctx = test_context(2);
    static const linear_case cases[] = {
        {3, 7, 5, 0, 0, 0, 0, SDC_DTYPE_F16, true},
        {67, 513, 19, 2, 3, 1, 1, SDC_DTYPE_F16, true},
        {3, 7, 5, 0, 0, 0, 0, SDC_DTYPE_BF16, false},
        {67, 513, 19, 2, 3, 1, 1, SDC_DTYPE_BF16, true},
        {77, 320, 64, 0, 0, 0, 0, SDC_DTYPE_F16, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 300 + i);
    sdc_context_destroy(ctx);
}

/* Decoding gives exactly core's conversions, for any row and sub-range, special values
 * included. */
static void test_weight_decode(void)
{
    enum { ROWS = 3, LEN = 2 * 5 * 7 };
    static const float specials[] = {0.0f,   -0.0f,    1.0f,      -2.5f, 65504.0f, 1e-7f,
                                     3e-41f, INFINITY, -INFINITY, NAN,   1e30f,    -1e-30f};
    uint16_t h[ROWS * LEN], b[ROWS * LEN];
    float f[ROWS * LEN];
    test_rng rng = {7};
    for (int i = 0; i < ROWS * LEN; i++) {
        float v = i < (int)(sizeof specials / sizeof specials[0]) ? specials[i]
                                                                  : test_uniform(&rng, -4, 4);
        f[i] = v;
        h[i] = sdc_f32_to_f16(v);
        b[i] = sdc_f32_to_bf16(v);
    }
    int64_t shape[4] = {ROWS, 2, 5, 7};
    sdc_weight wf = sdc_weight_dense(f, SDC_DTYPE_F32, 4, shape);
    sdc_weight wh = sdc_weight_dense(h, SDC_DTYPE_F16, 4, shape);
    sdc_weight wb = sdc_weight_dense(b, SDC_DTYPE_BF16, 4, shape);
    CHECK_EQ_INT(sdc_weight_rows(&wh), ROWS);
    CHECK_EQ_INT(sdc_weight_row_len(&wh), LEN);
    CHECK(wh.format == SDC_WEIGHT_FORMAT_DENSE && wh.ndim == 4 && wh.shape[3] == 7);

    float out[LEN];
    bool same = true;
    for (int64_t row = 0; row < ROWS; row++) {
        for (int64_t begin = 0; begin < LEN; begin += 13) {
            int64_t count = LEN - begin < 17 ? LEN - begin : 17;
            const sdc_weight *ws[3] = {&wf, &wh, &wb};
            for (int k = 0; k < 3; k++) {
                sdc_weight_decode(ws[k], row, begin, count, out);
                for (int64_t i = 0; i < count; i++) {
                    int64_t at = row * LEN + begin + i;
                    float want = k == 0   ? f[at]
                                 : k == 1 ? sdc_f16_to_f32(h[at])
                                          : sdc_bf16_to_f32(b[at]);
                    same &= memcmp(&want, &out[i], sizeof want) == 0;
                }
            }
        }
    }
    CHECK_MSG(same, "decoded weights equal core's conversions bit for bit");
}

/* Every output is computed by the same float operations whatever the thread count. */
static void test_thread_invariance(void)
{
    sdc_context *c1 = test_context(1), *c3 = test_context(3);
    test_rng rng = {11};
    int64_t M = 133, K = 300, N = 45;
    float *x = test_floats(M * K), *w = test_floats(N * K), *b = test_floats(N);
    float *y1 = test_floats(M * N), *y3 = test_floats(M * N);
    test_fill(&rng, x, M * K, -1, 1);
    test_fill(&rng, w, N * K, -1, 1);
    test_fill(&rng, b, N, -1, 1);
    int64_t xs[2] = {M, K}, ws[2] = {N, K}, ys[2] = {M, N};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs);
    sdc_tensor t1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 2, ys);
    sdc_tensor t3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 2, ys);
    sdc_weight tw = sdc_weight_dense(w, SDC_DTYPE_F32, 2, ws);
    CHECK_EQ_INT(sdc_kern_linear(c1, &tx, &tw, b, &t1), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_linear(c3, &tx, &tw, b, &t3), SDC_STATUS_OK);
    CHECK(memcmp(y1, y3, (size_t)(M * N) * sizeof(float)) == 0);
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y3);
    sdc_context_destroy(c1);
    sdc_context_destroy(c3);
}

/* M = 0 writes nothing; K = 0 gives y = bias. */
static void test_empty(void)
{
    sdc_context *ctx = test_context(2);
    float x[1] = {0}, w[1] = {0}, b[3] = {1, 2, 3}, y[6];
    int64_t xs0[2] = {0, 4}, ws0[2] = {3, 4}, ys0[2] = {0, 3};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs0);
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, ys0);
    sdc_weight tw = sdc_weight_dense(w, SDC_DTYPE_F32, 2, ws0);
    CHECK_EQ_INT(sdc_kern_linear(ctx, &tx, &tw, b, &ty), SDC_STATUS_OK);

    int64_t xs1[2] = {2, 0}, ws1[2] = {3, 0}, ys1[2] = {2, 3};
    tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, xs1);
    ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, ys1);
    tw = sdc_weight_dense(w, SDC_DTYPE_F32, 2, ws1);
    CHECK_EQ_INT(sdc_kern_linear(ctx, &tx, &tw, b, &ty), SDC_STATUS_OK);
    CHECK(y[0] == 1 && y[1] == 2 && y[2] == 3 && y[3] == 1 && y[5] == 3);
    sdc_context_destroy(ctx);
}

static void test_shape_errors(void)
{
    sdc_context *ctx = test_context(1);
    float buf[256] = {0};
    uint16_t hbuf[64] = {0};
    int64_t s27[2] = {2, 7}, s58[2] = {5, 8}, s25[2] = {2, 5}, s26[2] = {2, 6}, s57[2] = {5, 7};
    sdc_tensor x = sdc_tensor_make(buf, SDC_DTYPE_F32, 2, s27);
    sdc_tensor y = sdc_tensor_make(buf + 100, SDC_DTYPE_F32, 2, s25);
    sdc_weight w = sdc_weight_dense(buf + 150, SDC_DTYPE_F32, 2, s58);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &w, NULL, &y), SDC_STATUS_SHAPE, "linear", "[2, 7]",
                "[5, 8]");

    w = sdc_weight_dense(buf + 150, SDC_DTYPE_F32, 2, s57);
    sdc_tensor y_bad = sdc_tensor_make(buf + 100, SDC_DTYPE_F32, 2, s26);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &w, NULL, &y_bad), SDC_STATUS_SHAPE, "linear",
                "[2, 6]", "[5, 7]");

    int64_t s3[3] = {1, 2, 7};
    sdc_tensor x3 = sdc_tensor_make(buf, SDC_DTYPE_F32, 3, s3);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x3, &w, NULL, &y), SDC_STATUS_SHAPE, "linear",
                "[1, 2, 7]", NULL);

    sdc_tensor xh = sdc_tensor_make(hbuf, SDC_DTYPE_F16, 2, s27);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &xh, &w, NULL, &y), SDC_STATUS_SHAPE, "linear", "[2, 7]",
                "F16");

    sdc_weight wi = sdc_weight_dense(hbuf, SDC_DTYPE_I16, 2, s57);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &wi, NULL, &y), SDC_STATUS_UNSUPPORTED, "linear",
                "[5, 7]", "I16");

    int64_t s4[4] = {5, 7, 1, 1};
    sdc_weight w4 = sdc_weight_dense(buf + 150, SDC_DTYPE_F32, 4, s4);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &w4, NULL, &y), SDC_STATUS_SHAPE, "linear",
                "[5, 7, 1, 1]", NULL);

    sdc_tensor xt = x;
    xt.stride[0] = 1;
    xt.stride[1] = 2; /* last dim not contiguous */
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &xt, &w, NULL, &y), SDC_STATUS_SHAPE, "linear", "[2, 7]",
                "contiguous");

    sdc_tensor y_over = sdc_tensor_make(buf + 3, SDC_DTYPE_F32, 2, s25);
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &w, NULL, &y_over), SDC_STATUS_INVALID_ARGUMENT,
                "linear", "[2, 7]", "overlap");

    sdc_tensor y_zero = y;
    y_zero.stride[0] = 0;
    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, &w, NULL, &y_zero), SDC_STATUS_INVALID_ARGUMENT,
                "linear", "[2, 5]", NULL);

    CHECK_ERROR(ctx, sdc_kern_linear(ctx, &x, NULL, NULL, &y), SDC_STATUS_INVALID_ARGUMENT,
                "linear", "weight", NULL);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_strided_views);
    RUN(test_half_weights);
    RUN(test_weight_decode);
    RUN(test_thread_invariance);
    RUN(test_empty);
    RUN(test_shape_errors);
    return test_finish();
}
