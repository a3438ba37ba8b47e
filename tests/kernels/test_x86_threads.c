/*
 * Tests that the x86 GEMM (through linear and conv2d) gives the same bits on 1, 2 and 3
 * threads, for every x86 level this machine runs. More threads split the work into more items
 * and, where several items would pack the same weight block, pack the weights once into the
 * op scratch (src/kernels/x86/gemm.c, run_items) — here in several groups of k blocks, as the
 * packed weights exceed SDC_OP_SCRATCH_BYTES. Each output element must sum the same k blocks
 * in the same order either way, so the comparison is exact (the single-thread results are
 * checked against the reference kernels in test_x86_linear.c and test_x86_conv2d.c).
 */
#include "x86_test.h"

enum { N_CTX = 3 };

static uint16_t *random_f16(test_rng *rng, int64_t n)
{
    uint16_t *h = calloc((size_t)n, sizeof(uint16_t));
    if (!h) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < n; i++)
        h[i] = sdc_f32_to_f16(test_uniform(rng, -1.0f, 1.0f));
    return h;
}

/* Runs `op` on a context of each thread count and compares the outputs with the first. */
typedef void (*op_fn)(sdc_context *ctx, const sdc_kernels *table, void *arg, float *y);

static void compare_threads(const char *what, op_fn op, void *arg, int64_t ny)
{
    sdc_context *ctxs[N_CTX] = {test_context(1), test_context(2), test_context(3)};
    x86_level levels[N_CTX][3];
    int n = x86_levels(ctxs[0], levels[0]);
    for (int t = 1; t < N_CTX; t++)
        x86_levels(ctxs[t], levels[t]);
    float *y[N_CTX];
    for (int t = 0; t < N_CTX; t++)
        y[t] = test_floats(ny);
    for (int l = 0; l < n; l++) {
        for (int t = 0; t < N_CTX; t++)
            op(ctxs[t], levels[t][l].table, arg, y[t]);
        for (int t = 1; t < N_CTX; t++) {
            int64_t first = -1;
            for (int64_t i = 0; i < ny && first < 0; i++)
                if (memcmp(&y[t][i], &y[0][i], sizeof(float)) != 0)
                    first = i;
            CHECK_MSG(first < 0, "%s %s: %d threads differ from 1 at %lld (%.9g vs %.9g)", what,
                      levels[0][l].name, t + 1, (long long)first,
                      first < 0 ? 0.0 : (double)y[t][first], first < 0 ? 0.0 : (double)y[0][first]);
        }
    }
    for (int t = 0; t < N_CTX; t++) {
        free(y[t]);
        sdc_context_destroy(ctxs[t]);
    }
}

typedef struct linear_arg {
    int64_t M, K, N;
    float *x, *bias;
    uint16_t *w;
} linear_arg;

static void run_linear(sdc_context *ctx, const sdc_kernels *table, void *arg_, float *y)
{
    linear_arg *a = arg_;
    int64_t xs[2] = {a->M, a->K}, ys[2] = {a->M, a->N}, ws[2] = {a->N, a->K};
    sdc_tensor X = sdc_tensor_make(a->x, SDC_DTYPE_F32, 2, xs);
    sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 2, ys);
    sdc_weight W = sdc_weight_dense(a->w, SDC_DTYPE_F16, 2, ws);
    table->linear(ctx, &X, &W, a->bias, &Y);
}

/* Weights as the packed operand B, reused over row chunks: 2400 rows of K 1600 in float32
 * take about 2.2 MB per k block, so the shared packing runs in several groups. */
static void test_linear(void)
{
    test_rng rng = {11};
    linear_arg a = {.M = 200, .K = 1600, .N = 2400};
    a.x = test_floats(a.M * a.K);
    a.bias = test_floats(a.N);
    test_fill(&rng, a.x, a.M * a.K, -1.0f, 1.0f);
    test_fill(&rng, a.bias, a.N, -1.0f, 1.0f);
    a.w = random_f16(&rng, a.N * a.K);
    compare_threads("linear 200x1600 -> 2400", run_linear, &a, a.M * a.N);
    free(a.x);
    free(a.bias);
    free(a.w);
}

typedef struct conv_arg {
    int64_t N, C, H, W, O, k;
    float *x, *bias;
    uint16_t *w;
} conv_arg;

static void run_conv(sdc_context *ctx, const sdc_kernels *table, void *arg_, float *y)
{
    conv_arg *a = arg_;
    int64_t xs[4] = {a->N, a->C, a->H, a->W}, ys[4] = {a->N, a->O, a->H, a->W};
    int64_t ws[4] = {a->O, a->C, a->k, a->k};
    sdc_tensor X = sdc_tensor_make(a->x, SDC_DTYPE_F32, 4, xs);
    sdc_tensor Y = sdc_tensor_make(y, SDC_DTYPE_F32, 4, ys);
    sdc_weight W = sdc_weight_dense(a->w, SDC_DTYPE_F16, 4, ws);
    int pad = (int)(a->k / 2);
    sdc_conv2d_params p = {1, 1, pad, pad};
    table->conv2d(ctx, &X, &W, a->bias, &p, &Y);
}

/* Weights as the packed operand A, reused over pixel chunks: a 1x1 conv of 2401 output
 * channels (a narrow last sliver) over K 1600 (several groups), and a 3x3 one over two
 * images whose weights fit one group. */
static void test_conv(void)
{
    static const conv_arg shapes[] = {
        {.N = 1, .C = 1600, .H = 12, .W = 12, .O = 2401, .k = 1},
        {.N = 2, .C = 70, .H = 15, .W = 17, .O = 45, .k = 3},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        test_rng rng = {21 + i};
        conv_arg a = shapes[i];
        int64_t nx = a.N * a.C * a.H * a.W, ny = a.N * a.O * a.H * a.W;
        a.x = test_floats(nx);
        a.bias = test_floats(a.O);
        test_fill(&rng, a.x, nx, -1.0f, 1.0f);
        test_fill(&rng, a.bias, a.O, -1.0f, 1.0f);
        a.w = random_f16(&rng, a.O * a.C * a.k * a.k);
        char what[96];
        snprintf(what, sizeof what, "conv2d N%lld C%lld %lldx%lld -> O%lld k%lld", (long long)a.N,
                 (long long)a.C, (long long)a.H, (long long)a.W, (long long)a.O, (long long)a.k);
        compare_threads(what, run_conv, &a, ny);
        free(a.x);
        free(a.bias);
        free(a.w);
    }
}

int main(void)
{
    RUN(test_linear);
    RUN(test_conv);
    return test_finish();
}
