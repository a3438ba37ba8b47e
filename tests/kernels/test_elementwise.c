/*
 * Tests the elementwise kernels — unary activations, broadcasting add/sub/mul, GEGLU, softmax,
 * copy and nearest 2x upsampling — against their formulas in double, over contiguous,
 * permuted, strided and in-place views, against a few values recorded from torch 2.4.1, for
 * 1 vs 3 threads, and the wrappers' shape errors.
 *
 * Tolerances (u = 2^-24): activations 8 u |ref| + 4 u |x| — a handful of float roundings plus
 * libm's ~1 ulp, and the absolute error of 1 + erf / 1 + tanh near -1 scaled by |x| / 2.
 * Softmax 8 u (1 + |x_i - max| + sum_j p_j |x_j - max|) p_i: the rounding of x - max moves
 * each exp by u |x - max| relatively; plus FLT_MIN, below which float32 results are
 * subnormal or zero. Binary ops, copies and upsampling are exact.
 */
#include "kernel_test.h"

#include <float.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                    */

/* A view of `shape` whose dims are laid out in reverse order (every dim strided). */
static sdc_tensor reversed_view(float *data, int ndim, const int64_t *shape)
{
    sdc_tensor t = {.data = data, .dtype = SDC_DTYPE_F32, .ndim = ndim};
    int64_t stride = 1;
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.stride[i] = stride;
        stride *= shape[i];
    }
    return t;
}

/* The element at row-major flat index `flat` of t's shape. */
static float *elem(const sdc_tensor *t, int64_t flat)
{
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += flat % t->shape[i] * t->stride[i];
        flat /= t->shape[i];
    }
    return (float *)t->data + off;
}

/* The element of a (which broadcasts to y) at y's flat index. */
static float bcast_elem(const sdc_tensor *a, const sdc_tensor *y, int64_t flat)
{
    int64_t off = 0;
    for (int i = y->ndim - 1; i >= 0; i--) {
        int64_t idx = flat % y->shape[i];
        flat /= y->shape[i];
        if (a->shape[i] != 1)
            off += idx * a->stride[i];
    }
    return ((float *)a->data)[off];
}

static const double PI = 3.14159265358979323846;

static double gelu_d(double v)
{
    return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
}

static double unary_d(sdc_unary_op op, double v)
{
    switch (op) {
    case SDC_UNARY_OP_SILU:
        return v / (1.0 + exp(-v));
    case SDC_UNARY_OP_GELU:
        return gelu_d(v);
    case SDC_UNARY_OP_GELU_TANH:
        return 0.5 * v * (1.0 + tanh(sqrt(2.0 / PI) * (v + 0.044715 * v * v * v)));
    case SDC_UNARY_OP_QUICK_GELU:
        return v / (1.0 + exp(-1.702 * v));
    case SDC_UNARY_OP_RELU:
        return v > 0 ? v : 0;
    case SDC_UNARY_OP_TANH:
        return tanh(v);
    case SDC_UNARY_OP_SOFT_CLAMP3:
        return 3.0 * tanh(v / 3.0);
    case SDC_UNARY_OP_COUNT:
        break;
    }
    return NAN;
}

static const char *const unary_names[] = {"silu", "gelu", "gelu_tanh",  "quick_gelu",
                                          "relu", "tanh", "soft_clamp3"};

/* ---------------------------------------------------------------------------------------- */
/* Unary                                                                                      */

static void test_unary(void)
{
    sdc_context *ctx = test_context(2);
    test_rng rng = {1};
    int64_t shape[4] = {3, 5, 7, 11}, n = 3 * 5 * 7 * 11;
    float *x = test_floats(n), *y = test_floats(n), *xr = test_floats(n), *yr = test_floats(n);
    double *ref = test_doubles(n), *tol = test_doubles(n);
    float *got = test_floats(n);
    test_fill(&rng, x, n, -8.0f, 8.0f);
    static const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 90.0f, -90.0f};
    memcpy(x, specials, sizeof specials);
    for (int op = 0; op < SDC_UNARY_OP_COUNT; op++) {
        for (int layout = 0; layout < 3; layout++) {
            /* 0: contiguous; 1: every dim strided (reversed); 2: in place */
            sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 4, shape);
            sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 4, shape);
            if (layout == 1) {
                tx = reversed_view(xr, 4, shape);
                ty = reversed_view(yr, 4, shape);
                for (int64_t i = 0; i < n; i++)
                    *elem(&tx, i) = x[i];
            } else if (layout == 2) {
                memcpy(y, x, (size_t)n * sizeof(float));
                tx = ty;
            }
            sdc_status st = sdc_kern_unary(ctx, (sdc_unary_op)op, &tx, &ty);
            CHECK_MSG(st == SDC_STATUS_OK, "unary: %s", sdc_context_errmsg(ctx));
            for (int64_t i = 0; i < n; i++) {
                got[i] = *elem(&ty, i);
                ref[i] = unary_d((sdc_unary_op)op, x[i]);
                tol[i] = 8 * TEST_U * fabs(ref[i]) + 4 * TEST_U * fabs((double)x[i]);
            }
            char what[96];
            snprintf(what, sizeof what, "unary %s %s", unary_names[op],
                     layout == 0   ? "contiguous"
                     : layout == 1 ? "strided"
                                   : "in place");
            CHECK_CLOSE(what, n, got, ref, tol);
        }
    }
    free(x);
    free(y);
    free(xr);
    free(yr);
    free(ref);
    free(tol);
    free(got);
    sdc_context_destroy(ctx);
}

/* Values recorded with torch 2.4.1 / transformers (float32, CPU):
 *   x = torch.tensor([-5.0, -2.5, -1.0, -0.5, -1e-3, 0.0, 0.3, 1.0, 2.0, 4.75])
 *   torch.nn.functional.silu(x); torch.nn.functional.gelu(x);
 *   torch.nn.functional.gelu(x, approximate="tanh");
 *   transformers.activations.QuickGELUActivation()(x)
 * printed with "%.9g". */
static void test_unary_vs_torch(void)
{
    enum { N = 10 };
    static const float x[N] = {-5.0f, -2.5f,        -1.0f, -0.5f, -0.00100000005f,
                               0.0f,  0.300000012f, 1.0f,  2.0f,  4.75f};
    static const struct {
        sdc_unary_op op;
        float want[N];
    } rows[] = {
        {SDC_UNARY_OP_SILU,
         {-0.0334642529f, -0.189645454f, -0.268941432f, -0.188770339f, -0.000499750022f, 0.0f,
          0.172332764f, 0.731058598f, 1.76159406f, 4.70925665f}},
        {SDC_UNARY_OP_GELU,
         {-1.1920929e-06f, -0.0155241787f, -0.158655256f, -0.154268771f, -0.000499601068f, 0.0f,
          0.18537344f, 0.841344714f, 1.95449972f, 4.74999523f}},
        {SDC_UNARY_OP_GELU_TANH,
         {-2.98023224e-07f, -0.0150842965f, -0.158807993f, -0.154285997f, -0.000499601068f, 0.0f,
          0.185370937f, 0.841192007f, 1.95459771f, 4.74999905f}},
        {SDC_UNARY_OP_QUICK_GELU,
         {-0.00100701605f, -0.0349861607f, -0.154204234f, -0.149611562f, -0.000499574526f, 0.0f,
          0.187484145f, 0.845795751f, 1.93565857f, 4.74853611f}},
    };
    sdc_context *ctx = test_context(1);
    int64_t shape[1] = {N};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        float y[N];
        double ref[N], tol[N];
        sdc_tensor tx = sdc_tensor_make((void *)x, SDC_DTYPE_F32, 1, shape);
        sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 1, shape);
        CHECK_EQ_INT(sdc_kern_unary(ctx, rows[r].op, &tx, &ty), SDC_STATUS_OK);
        for (int i = 0; i < N; i++) {
            ref[i] = rows[r].want[i];
            /* torch's own float error at x = -5 (1 + erf cancels) is ~2.4e-7: same bound */
            tol[i] = 8 * TEST_U * fabs(ref[i]) + 4 * TEST_U * fabs((double)x[i]);
        }
        char what[64];
        snprintf(what, sizeof what, "%s vs torch", unary_names[rows[r].op]);
        CHECK_CLOSE(what, N, y, ref, tol);
    }
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Binary                                                                                     */

typedef struct binary_case {
    int ndim;
    int64_t a[4], b[4], y[4];
    bool a_strided;
    int in_place; /* 0: no; 1: y is a; 2: y is b */
} binary_case;

static void test_binary(void)
{
    static const binary_case cases[] = {
        {4, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, false, 0},
        {4, {2, 3, 4, 5}, {1, 3, 1, 1}, {2, 3, 4, 5}, false, 0}, /* per-channel bias */
        {4, {2, 1, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, false, 0},
        {4, {1, 1, 1, 5}, {2, 3, 4, 1}, {2, 3, 4, 5}, false, 0},
        {4, {2, 1, 4, 1}, {1, 3, 1, 5}, {2, 3, 4, 5}, true, 0},
        {4, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, true, 0},
        {3, {7, 1, 33}, {1, 17, 33}, {7, 17, 33}, false, 0},
        {2, {77, 320}, {1, 320}, {77, 320}, false, 1}, /* in place, y is a */
        {2, {1, 320}, {77, 320}, {77, 320}, false, 2}, /* in place, y is b */
        {1, {7}, {1}, {7}, false, 0},
        {0, {0}, {0}, {0}, false, 0},
    };
    sdc_context *ctx = test_context(2);
    test_rng rng = {2};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const binary_case *c = &cases[ci];
        for (int op = 0; op < SDC_BINARY_OP_COUNT; op++) {
            /* a0, b0: the values in row-major order; a, b: the views the kernel reads */
            sdc_tensor a_vals = sdc_tensor_make(NULL, SDC_DTYPE_F32, c->ndim, c->a);
            sdc_tensor b_vals = sdc_tensor_make(NULL, SDC_DTYPE_F32, c->ndim, c->b);
            sdc_tensor ty = sdc_tensor_make(NULL, SDC_DTYPE_F32, c->ndim, c->y);
            int64_t na = sdc_tensor_numel(&a_vals), nb = sdc_tensor_numel(&b_vals);
            int64_t ny = sdc_tensor_numel(&ty);
            float *a = test_floats(na), *b = test_floats(nb), *y = test_floats(ny);
            float *a0 = test_floats(na), *b0 = test_floats(nb);
            test_fill(&rng, a0, na, -4, 4);
            test_fill(&rng, b0, nb, -4, 4);
            a_vals.data = a0;
            b_vals.data = b0;
            sdc_tensor ta = c->a_strided ? reversed_view(a, c->ndim, c->a)
                                         : sdc_tensor_make(a, SDC_DTYPE_F32, c->ndim, c->a);
            sdc_tensor tb = sdc_tensor_make(b, SDC_DTYPE_F32, c->ndim, c->b);
            for (int64_t i = 0; i < na; i++)
                *elem(&ta, i) = a0[i];
            memcpy(b, b0, (size_t)nb * sizeof(float));
            ty.data = y;
            if (c->in_place == 1)
                ty = ta;
            else if (c->in_place == 2)
                ty = tb;
            sdc_status st = sdc_kern_binary(ctx, (sdc_binary_op)op, &ta, &tb, &ty);
            CHECK_MSG(st == SDC_STATUS_OK, "binary: %s", sdc_context_errmsg(ctx));
            bool exact = true;
            for (int64_t i = 0; i < ny; i++) {
                double va = bcast_elem(&a_vals, &ty, i), vb = bcast_elem(&b_vals, &ty, i);
                double r = op == SDC_BINARY_OP_ADD   ? va + vb
                           : op == SDC_BINARY_OP_SUB ? va - vb
                                                     : va * vb;
                exact &= *elem(&ty, i) == (float)r;
            }
            CHECK_MSG(exact, "binary op %d case %zu: every element exact", op, ci);
            free(a);
            free(b);
            free(y);
            free(a0);
            free(b0);
        }
    }
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* GEGLU and softmax                                                                          */

static void test_geglu(void)
{
    static const int64_t sizes[][3] = {{1, 1, 0}, {3, 5, 2}, {77, 320, 0}, {5, 1280, 3}};
    sdc_context *ctx = test_context(2);
    test_rng rng = {3};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t M = sizes[s][0], N = sizes[s][1], pad = sizes[s][2], xs = 2 * N + pad;
        float *x = test_floats(M * xs + 1), *y = test_floats(M * N);
        double *ref = test_doubles(M * N), *tol = test_doubles(M * N);
        test_fill(&rng, x, M * xs + 1, -5, 5);
        sdc_tensor tx = {.data = x + 1,
                         .dtype = SDC_DTYPE_F32,
                         .ndim = 2,
                         .shape = {M, 2 * N},
                         .stride = {xs, 1}};
        int64_t ys[2] = {M, N};
        sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, ys);
        CHECK_EQ_INT(sdc_kern_geglu(ctx, &tx, &ty), SDC_STATUS_OK);
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = 0; j < N; j++) {
                double h = x[1 + m * xs + j], g = x[1 + m * xs + N + j];
                ref[m * N + j] = h * gelu_d(g);
                tol[m * N + j] = 10 * TEST_U * fabs(ref[m * N + j]) + 4 * TEST_U * fabs(g * h);
            }
        char what[64];
        snprintf(what, sizeof what, "geglu [%lld, %lld]%s", (long long)M, (long long)(2 * N),
                 pad ? " strided" : "");
        CHECK_CLOSE(what, M * N, y, ref, tol);
        free(x);
        free(y);
        free(ref);
        free(tol);
    }
    sdc_context_destroy(ctx);
}

static void check_softmax(sdc_context *ctx, int64_t M, int64_t N, int64_t pad, float range,
                          bool in_place, uint64_t seed)
{
    test_rng rng = {seed};
    int64_t xs = N + pad;
    float *x = test_floats(M * xs), *y = test_floats(M * xs), *x0 = test_floats(M * xs);
    float *got = test_floats(M * N);
    double *ref = test_doubles(M * N), *tol = test_doubles(M * N);
    test_fill(&rng, x, M * xs, -range, range);
    memcpy(x0, x, (size_t)(M * xs) * sizeof(float));
    sdc_tensor tx = {
        .data = x, .dtype = SDC_DTYPE_F32, .ndim = 2, .shape = {M, N}, .stride = {xs, 1}};
    sdc_tensor ty = tx;
    if (!in_place)
        ty.data = y;
    CHECK_EQ_INT(sdc_kern_softmax(ctx, &tx, &ty), SDC_STATUS_OK);
    for (int64_t m = 0; m < M; m++) {
        const float *r = x0 + m * xs;
        double max = -INFINITY, sum = 0, spread = 0;
        for (int64_t i = 0; i < N; i++)
            max = r[i] > max ? r[i] : max;
        for (int64_t i = 0; i < N; i++)
            sum += exp(r[i] - max);
        for (int64_t i = 0; i < N; i++)
            spread += exp(r[i] - max) / sum * fabs(r[i] - max);
        for (int64_t i = 0; i < N; i++) {
            double p = exp(r[i] - max) / sum;
            ref[m * N + i] = p;
            tol[m * N + i] = 8 * TEST_U * (1 + fabs(r[i] - max) + spread) * p + FLT_MIN;
            got[m * N + i] = ((float *)ty.data)[m * xs + i];
        }
    }
    char what[80];
    snprintf(what, sizeof what, "softmax [%lld, %lld] range %g%s%s", (long long)M, (long long)N,
             (double)range, pad ? " strided" : "", in_place ? " in place" : "");
    CHECK_CLOSE(what, M * N, got, ref, tol);
    free(x);
    free(y);
    free(x0);
    free(got);
    free(ref);
    free(tol);
}

static void test_softmax(void)
{
    sdc_context *ctx = test_context(2);
    check_softmax(ctx, 1, 1, 0, 1, false, 1);
    check_softmax(ctx, 3, 3, 0, 1, false, 2);
    check_softmax(ctx, 7, 7, 2, 3, false, 3);
    check_softmax(ctx, 77, 77, 0, 5, false, 4);
    check_softmax(ctx, 5, 4096, 1, 10, false, 5);
    check_softmax(ctx, 9, 33, 0, 1000, false, 6); /* exp would overflow without the max */
    check_softmax(ctx, 9, 33, 3, 20, true, 7);
    sdc_context_destroy(ctx);
}

/* torch.softmax(torch.tensor([[1.0, 2.0, 3.0, -4.0, 0.5],
 *                             [100.0, 101.0, -50.0, 99.5, 100.0]]), dim=-1), torch 2.4.1 */
static void test_softmax_vs_torch(void)
{
    float x[10] = {1.0f, 2.0f, 3.0f, -4.0f, 0.5f, 100.0f, 101.0f, -50.0f, 99.5f, 100.0f};
    static const double want[10] = {0.0853198171, 0.231923312, 0.630432904, 0.000574880396,
                                    0.0517490841, 0.18780005,  0.510493457, 0.0,
                                    0.113906488,  0.18780005};
    double tol[10];
    for (int i = 0; i < 10; i++)
        tol[i] = 8 * TEST_U * want[i] + 1e-30;
    sdc_context *ctx = test_context(1);
    int64_t shape[2] = {2, 5};
    sdc_tensor t = sdc_tensor_make(x, SDC_DTYPE_F32, 2, shape);
    CHECK_EQ_INT(sdc_kern_softmax(ctx, &t, &t), SDC_STATUS_OK);
    CHECK_CLOSE("softmax vs torch", 10, x, want, tol);
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Copy and upsampling                                                                        */

static void test_copy(void)
{
    sdc_context *ctx = test_context(2);
    test_rng rng = {4};
    /* A permutation: x laid out reversed, y contiguous, and back. */
    int64_t shape[4] = {3, 4, 5, 6}, n = 360;
    float *src = test_floats(n), *xr = test_floats(n), *y = test_floats(n), *back = test_floats(n);
    test_fill(&rng, src, n, -1, 1);
    sdc_tensor tsrc = sdc_tensor_make(src, SDC_DTYPE_F32, 4, shape);
    sdc_tensor txr = reversed_view(xr, 4, shape);
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 4, shape);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &tsrc, &txr), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &txr, &ty), SDC_STATUS_OK);
    CHECK(memcmp(src, y, (size_t)n * sizeof(float)) == 0);
    bool same = true;
    for (int64_t i = 0; i < n; i++)
        same &= *elem(&txr, i) == src[i];
    CHECK(same);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &ty, &ty), SDC_STATUS_OK); /* the same view: nothing */
    sdc_tensor tt = sdc_tensor_transpose(&tsrc, 1, 3);
    int64_t tshape[4] = {3, 6, 5, 4};
    sdc_tensor tcont = sdc_tensor_make(back, SDC_DTYPE_F32, 4, tshape);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &tt, &tcont), SDC_STATUS_OK);
    int64_t idx[4] = {2, 5, 1, 3}, sidx[4] = {2, 3, 1, 5};
    CHECK(*(float *)sdc_tensor_at(&tcont, idx) == *(float *)sdc_tensor_at(&tsrc, sidx));

    /* Concatenation along dim 1: [2, 3, 5] and [2, 4, 5] into slices of [2, 7, 5]. */
    int64_t s1[3] = {2, 3, 5}, s2[3] = {2, 4, 5}, sc[3] = {2, 7, 5};
    float p1[30], p2[40], cat[70];
    test_fill(&rng, p1, 30, -1, 1);
    test_fill(&rng, p2, 40, -1, 1);
    sdc_tensor t1 = sdc_tensor_make(p1, SDC_DTYPE_F32, 3, s1);
    sdc_tensor t2 = sdc_tensor_make(p2, SDC_DTYPE_F32, 3, s2);
    sdc_tensor tc = sdc_tensor_make(cat, SDC_DTYPE_F32, 3, sc);
    sdc_tensor c1 = sdc_tensor_slice(&tc, 1, 0, 3), c2 = sdc_tensor_slice(&tc, 1, 3, 7);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &t1, &c1), SDC_STATUS_OK);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &t2, &c2), SDC_STATUS_OK);
    same = true;
    for (int b = 0; b < 2; b++)
        for (int ch = 0; ch < 7; ch++)
            for (int i = 0; i < 5; i++)
                same &= cat[(b * 7 + ch) * 5 + i] ==
                        (ch < 3 ? p1[(b * 3 + ch) * 5 + i] : p2[(b * 4 + ch - 3) * 5 + i]);
    CHECK_MSG(same, "concatenation by copies into slices");

    /* One long row (split into pieces across threads), copied into every other float. */
    int64_t nl = 10007;
    float *lx = test_floats(nl), *ly = test_floats(2 * nl);
    test_fill(&rng, lx, nl, -1, 1);
    sdc_tensor tlx = sdc_tensor_make(lx, SDC_DTYPE_F32, 1, &nl);
    sdc_tensor tly = {.data = ly, .dtype = SDC_DTYPE_F32, .ndim = 1, .shape = {nl}, .stride = {2}};
    CHECK_EQ_INT(sdc_kern_copy(ctx, &tlx, &tly), SDC_STATUS_OK);
    same = true;
    for (int64_t i = 0; i < nl; i++)
        same &= ly[2 * i] == lx[i] && ly[2 * i + 1] == 0.0f;
    CHECK_MSG(same, "long strided row");
    free(lx);
    free(ly);

    float s = 3.5f, d = 0.0f;
    sdc_tensor ts = sdc_tensor_make(&s, SDC_DTYPE_F32, 0, NULL);
    sdc_tensor td = sdc_tensor_make(&d, SDC_DTYPE_F32, 0, NULL);
    CHECK_EQ_INT(sdc_kern_copy(ctx, &ts, &td), SDC_STATUS_OK);
    CHECK(d == 3.5f);
    free(src);
    free(xr);
    free(y);
    free(back);
    sdc_context_destroy(ctx);
}

static void test_upsample(void)
{
    sdc_context *ctx = test_context(2);
    test_rng rng = {5};
    static const int64_t shapes[][4] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 4, 16, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t *sh = shapes[s];
        int64_t ys[4] = {sh[0], sh[1], 2 * sh[2], 2 * sh[3]};
        int64_t n = sh[0] * sh[1] * sh[2] * sh[3];
        float *x = test_floats(n), *y = test_floats(4 * n);
        test_fill(&rng, x, n, -1, 1);
        sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 4, sh);
        sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 4, ys);
        CHECK_EQ_INT(sdc_kern_upsample_nearest2x(ctx, &tx, &ty), SDC_STATUS_OK);
        bool same = true;
        for (int64_t nc = 0; nc < sh[0] * sh[1]; nc++)
            for (int64_t i = 0; i < ys[2]; i++)
                for (int64_t j = 0; j < ys[3]; j++)
                    same &=
                        y[(nc * ys[2] + i) * ys[3] + j] == x[(nc * sh[2] + i / 2) * sh[3] + j / 2];
        CHECK_MSG(same, "upsample case %zu", s);
        free(x);
        free(y);
    }
    sdc_context_destroy(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Threads and errors                                                                         */

static void test_thread_invariance(void)
{
    sdc_context *c1 = test_context(1), *c3 = test_context(3);
    test_rng rng = {6};
    int64_t M = 301, N = 130, n = M * N;
    float *x = test_floats(n), *b = test_floats(N), *y1 = test_floats(n), *y3 = test_floats(n);
    test_fill(&rng, x, n, -6, 6);
    test_fill(&rng, b, N, -1, 1);
    int64_t s[2] = {M, N}, sb[2] = {1, N}, sg[2] = {M, N / 2};
    sdc_tensor tx = sdc_tensor_make(x, SDC_DTYPE_F32, 2, s);
    sdc_tensor tb = sdc_tensor_make(b, SDC_DTYPE_F32, 2, sb);
    sdc_tensor t1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 2, s);
    sdc_tensor t3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 2, s);
    sdc_tensor g1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 2, sg);
    sdc_tensor g3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 2, sg);
    size_t bytes = (size_t)n * sizeof(float);
    for (int op = 0; op < SDC_UNARY_OP_COUNT; op++) {
        sdc_kern_unary(c1, (sdc_unary_op)op, &tx, &t1);
        sdc_kern_unary(c3, (sdc_unary_op)op, &tx, &t3);
        CHECK_MSG(memcmp(y1, y3, bytes) == 0, "unary %s", unary_names[op]);
    }
    sdc_kern_binary(c1, SDC_BINARY_OP_MUL, &tx, &tb, &t1);
    sdc_kern_binary(c3, SDC_BINARY_OP_MUL, &tx, &tb, &t3);
    CHECK(memcmp(y1, y3, bytes) == 0);
    /* The same tensors as one long row each: split into pieces. */
    int64_t flat[1] = {n}, flat_b[1] = {1};
    sdc_tensor fx = sdc_tensor_make(x, SDC_DTYPE_F32, 1, flat);
    sdc_tensor fb = sdc_tensor_make(b, SDC_DTYPE_F32, 1, flat_b);
    sdc_tensor f1 = sdc_tensor_make(y1, SDC_DTYPE_F32, 1, flat);
    sdc_tensor f3 = sdc_tensor_make(y3, SDC_DTYPE_F32, 1, flat);
    float *rows_result = test_floats(n);
    sdc_kern_unary(c1, SDC_UNARY_OP_GELU, &tx, &t1);
    memcpy(rows_result, y1, bytes);
    sdc_kern_unary(c1, SDC_UNARY_OP_GELU, &fx, &f1);
    sdc_kern_unary(c3, SDC_UNARY_OP_GELU, &fx, &f3);
    CHECK(memcmp(y1, y3, bytes) == 0);
    CHECK_MSG(memcmp(y1, rows_result, bytes) == 0, "gelu over one long row equals over rows");
    free(rows_result);
    bool exact;
    sdc_kern_binary(c1, SDC_BINARY_OP_SUB, &fx, &fb, &f1);
    sdc_kern_binary(c3, SDC_BINARY_OP_SUB, &fx, &fb, &f3);
    CHECK(memcmp(y1, y3, bytes) == 0);
    exact = true;
    for (int64_t i = 0; i < n; i++)
        exact &= y1[i] == x[i] - b[0];
    CHECK(exact);
    sdc_kern_softmax(c1, &tx, &t1);
    sdc_kern_softmax(c3, &tx, &t3);
    CHECK(memcmp(y1, y3, bytes) == 0);
    sdc_kern_geglu(c1, &tx, &g1);
    sdc_kern_geglu(c3, &tx, &g3);
    CHECK(memcmp(y1, y3, bytes / 2) == 0);
    free(x);
    free(b);
    free(y1);
    free(y3);
    sdc_context_destroy(c1);
    sdc_context_destroy(c3);
}

static void test_shape_errors(void)
{
    sdc_context *ctx = test_context(1);
    static float buf[4096];
    uint16_t hbuf[64];
    int64_t s23[2] = {2, 3}, s24[2] = {2, 4}, s43[2] = {4, 3}, s35[2] = {3, 5};
    sdc_tensor a = sdc_tensor_make(buf, SDC_DTYPE_F32, 2, s23);
    sdc_tensor b = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 2, s24);
    sdc_tensor y = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 2, s23);
    CHECK_ERROR(ctx, sdc_kern_unary(ctx, SDC_UNARY_OP_GELU, &a, &b), SDC_STATUS_SHAPE, "unary",
                "[2, 3]", "[2, 4]");
    CHECK_ERROR(ctx, sdc_kern_unary(ctx, SDC_UNARY_OP_COUNT, &a, &y), SDC_STATUS_INVALID_ARGUMENT,
                "unary", "op", NULL);
    sdc_tensor h = sdc_tensor_make(hbuf, SDC_DTYPE_F16, 2, s23);
    CHECK_ERROR(ctx, sdc_kern_unary(ctx, SDC_UNARY_OP_GELU, &h, &y), SDC_STATUS_SHAPE, "unary",
                "[2, 3]", "F16");
    sdc_tensor y_zero = y;
    y_zero.stride[0] = 0;
    CHECK_ERROR(ctx, sdc_kern_unary(ctx, SDC_UNARY_OP_GELU, &a, &y_zero),
                SDC_STATUS_INVALID_ARGUMENT, "unary", "[2, 3]", "share");
    sdc_tensor y_over = sdc_tensor_make(buf + 1, SDC_DTYPE_F32, 2, s23);
    CHECK_ERROR(ctx, sdc_kern_unary(ctx, SDC_UNARY_OP_GELU, &a, &y_over),
                SDC_STATUS_INVALID_ARGUMENT, "unary", "[2, 3]", "overlap");

    sdc_tensor c = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 2, s43);
    CHECK_ERROR(ctx, sdc_kern_binary(ctx, SDC_BINARY_OP_ADD, &a, &c, &y), SDC_STATUS_SHAPE,
                "binary add", "[2, 3]", "[4, 3]");
    int64_t s3[3] = {1, 2, 3};
    sdc_tensor a3 = sdc_tensor_make(buf, SDC_DTYPE_F32, 3, s3);
    CHECK_ERROR(ctx, sdc_kern_binary(ctx, SDC_BINARY_OP_MUL, &a3, &a3, &y), SDC_STATUS_SHAPE,
                "binary mul", "[1, 2, 3]", "[2, 3]");
    CHECK_ERROR(ctx, sdc_kern_binary(ctx, SDC_BINARY_OP_COUNT, &a, &a, &y),
                SDC_STATUS_INVALID_ARGUMENT, "binary", "op", NULL);

    CHECK_ERROR(ctx, sdc_kern_geglu(ctx, &a, &y), SDC_STATUS_SHAPE, "geglu", "[2, 3]", NULL);
    sdc_tensor g = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 2, s35);
    CHECK_ERROR(ctx, sdc_kern_geglu(ctx, &b, &g), SDC_STATUS_SHAPE, "geglu", "[2, 4]", "[3, 5]");

    CHECK_ERROR(ctx, sdc_kern_softmax(ctx, &a, &b), SDC_STATUS_SHAPE, "softmax", "[2, 3]",
                "[2, 4]");
    sdc_tensor at = sdc_tensor_transpose(&a, 0, 1);
    sdc_tensor yt = sdc_tensor_make(buf + 2048, SDC_DTYPE_F32, 2, (int64_t[]){3, 2});
    CHECK_ERROR(ctx, sdc_kern_softmax(ctx, &at, &yt), SDC_STATUS_SHAPE, "softmax", "[3, 2]",
                "contiguous");

    int64_t u1[4] = {1, 2, 3, 4}, u2[4] = {1, 2, 6, 9};
    sdc_tensor ux = sdc_tensor_make(buf, SDC_DTYPE_F32, 4, u1);
    sdc_tensor uy = sdc_tensor_make(buf + 1024, SDC_DTYPE_F32, 4, u2);
    CHECK_ERROR(ctx, sdc_kern_upsample_nearest2x(ctx, &ux, &uy), SDC_STATUS_SHAPE,
                "upsample_nearest2x", "[1, 2, 3, 4]", "[1, 2, 6, 9]");

    CHECK_ERROR(ctx, sdc_kern_copy(ctx, &a, &b), SDC_STATUS_SHAPE, "copy", "[2, 3]", "[2, 4]");
    sdc_tensor c_over = sdc_tensor_make(buf + 2, SDC_DTYPE_F32, 2, s23);
    CHECK_ERROR(ctx, sdc_kern_copy(ctx, &a, &c_over), SDC_STATUS_INVALID_ARGUMENT, "copy", "[2, 3]",
                "overlap");
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_unary);
    RUN(test_unary_vs_torch);
    RUN(test_binary);
    RUN(test_geglu);
    RUN(test_softmax);
    RUN(test_softmax_vs_torch);
    RUN(test_copy);
    RUN(test_upsample);
    RUN(test_thread_invariance);
    RUN(test_shape_errors);
    return test_finish();
}
