/*
 * Tests sdc_kern_timestep_embedding against diffusers' get_timestep_embedding: the formula in
 * double for many (dim, flip, shift, scale, max_period) settings, values recorded from
 * diffusers 0.30.2 / torch 2.4.1, and the wrapper's errors.
 *
 * Tolerance against the exact formula (u = 2^-24): 4 u ((|e| + 1) |arg| + 1), e the exponent
 * -ln(max_period) k / (half - shift). Computed in float32 as torch does, e is off by ~3 u |e|
 * (the rounded constant, multiply, divide), which exp turns into a relative error of freq and
 * so of arg, plus ~3 u |arg| from exp and the two multiplies; sin and cos move by as much
 * absolutely, and sinf/cosf add under an ulp of 1. Against diffusers, which rounds the same
 * steps the same way, 4 u (|arg| + 1): its Sleef exp/sin/cos differ from libm by an ulp.
 */
#include "kernel_test.h"

static void check_formula(sdc_context *ctx, const float *t, int64_t n, int64_t dim,
                          sdc_timestep_embedding_params p)
{
    float *y = test_floats(n * dim);
    double *ref = test_doubles(n * dim), *tol = test_doubles(n * dim);
    int64_t shape[2] = {n, dim};
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, shape);
    for (int64_t i = 0; i < n * dim; i++)
        y[i] = NAN; /* the odd-dim padding must be written */
    sdc_status st = sdc_kern_timestep_embedding(ctx, t, n, dim, &p, &ty);
    CHECK_MSG(st == SDC_STATUS_OK, "timestep_embedding: %s", sdc_context_errmsg(ctx));
    int64_t half = dim / 2;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < half; k++) {
            double e = -log((double)p.max_period) * (double)k /
                       ((double)half - (double)p.downscale_freq_shift);
            double arg = (double)p.scale * (double)t[i] * exp(e);
            int64_t at_sin = i * dim + (p.flip_sin_to_cos ? half + k : k);
            int64_t at_cos = i * dim + (p.flip_sin_to_cos ? k : half + k);
            ref[at_sin] = sin(arg);
            ref[at_cos] = cos(arg);
            tol[at_sin] = tol[at_cos] = 4 * TEST_U * ((fabs(e) + 1) * fabs(arg) + 1);
        }
        if (dim % 2) {
            ref[i * dim + dim - 1] = 0;
            tol[i * dim + dim - 1] = 0;
        }
    }
    char what[128];
    snprintf(what, sizeof what, "timestep dim %lld flip %d shift %g scale %g period %g",
             (long long)dim, p.flip_sin_to_cos, (double)p.downscale_freq_shift, (double)p.scale,
             (double)p.max_period);
    CHECK_CLOSE(what, n * dim, y, ref, tol);
    free(y);
    free(ref);
    free(tol);
}

static void test_formula(void)
{
    sdc_context *ctx = test_context(1);
    static const float t[] = {0.0f, 1.0f, 2.5f, 261.0f, 500.5f, 999.0f};
    static const int64_t dims[] = {1, 3, 4, 7, 8, 256, 320, 1280};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int flip = 0; flip < 2; flip++)
            for (int shift = 0; shift < 2; shift++) {
                if (dims[d] / 2 == 1 && shift == 1)
                    continue; /* divides by zero: an error, tested below */
                sdc_timestep_embedding_params p = {.flip_sin_to_cos = flip,
                                                   .downscale_freq_shift = (float)shift,
                                                   .max_period = 10000.0f,
                                                   .scale = 1.0f};
                check_formula(ctx, t, 6, dims[d], p);
            }
    sdc_timestep_embedding_params p = {.flip_sin_to_cos = true,
                                       .downscale_freq_shift = 0.5f,
                                       .max_period = 1000.0f,
                                       .scale = 3.0f};
    check_formula(ctx, t, 6, 64, p);
    sdc_context_destroy(ctx);
}

typedef struct torch_case {
    int64_t dim;
    bool flip;
    float shift, scale, max_period;
    int n_cols;
    int cols[12];
    float want[4][12]; /* for t = 0, 1, 500.5, 999 */
} torch_case;

/* Recorded with diffusers 0.30.2, torch 2.4.1 (CPU, float32), printed with "%.9g":
 *   from diffusers.models.embeddings import get_timestep_embedding
 *   t = torch.tensor([0.0, 1.0, 500.5, 999.0])
 *   get_timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift,
 *                          scale=scale, max_period=max_period)[:, cols]
 * with (dim, flip, shift, scale, max_period) as in each row below. */
static const torch_case torch_cases[] = {
    {8,
     false,
     1.0f,
     1.0f,
     10000.0f,
     8,
     {0, 1, 2, 3, 4, 5, 6, 7},
     {{0, 0, 0, 0, 1, 1, 1, 1},
      {0.841470957f, 0.0463992283f, 0.00215443317f, 9.99999902e-05f, 0.540302336f, 0.998922944f,
       0.999997675f, 1},
      {-0.834248304f, -0.945785582f, 0.881152749f, 0.0500291027f, -0.551388979f, -0.32479164f,
       0.472831726f, 0.998747766f},
      {-0.0264607519f, 0.684861422f, 0.835648477f, 0.0997339115f, 0.999649823f, -0.728673339f,
       -0.549264669f, 0.995014131f}}},
    {8,
     true,
     0.0f,
     1.0f,
     10000.0f,
     8,
     {0, 1, 2, 3, 4, 5, 6, 7},
     {{1, 1, 1, 1, 0, 0, 0, 0},
      {0.540302336f, 0.995004177f, 0.999949992f, 0.999999523f, 0.841470957f, 0.099833414f,
       0.00999983307f, 0.000999999815f},
      {-0.551388979f, 0.976872385f, 0.288453341f, 0.877342761f, -0.834248304f, -0.213823229f,
       -0.957493961f, 0.47986424f},
      {0.999649823f, 0.807455063f, -0.844469786f, 0.541143537f, -0.0264607519f, -0.589929104f,
       -0.535603166f, 0.840930223f}}},
    {7,
     false,
     1.0f,
     2.0f,
     1000.0f,
     7,
     {0, 1, 2, 3, 4, 5, 6},
     {{0, 0, 0, 1, 1, 1, 0},
      {0.909297407f, 0.0632033944f, 0.00199999847f, -0.416146845f, 0.998000681f, 0.999998033f, 0},
      {0.919990599f, 0.236217588f, 0.842010796f, -0.391940445f, 0.971700191f, 0.539460599f, 0},
      {-0.0529029742f, 0.343321711f, 0.910127938f, 0.998599648f, 0.939217865f, -0.414327323f, 0}}},
    {320,
     true,
     0.0f,
     1.0f,
     10000.0f,
     12,
     {0, 1, 2, 80, 158, 159, 160, 161, 162, 240, 318, 319},
     {{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {0.540302336f, 0.586503804f, 0.628439426f, 0.999949992f, 1, 1, 0.841470957f, 0.809946477f,
       0.777858496f, 0.00999983307f, 0.000112201858f, 0.00010592537f},
      {-0.551388979f, 0.302412301f, 0.999385774f, 0.288453341f, 0.998423576f, 0.998594999f,
       -0.834248304f, 0.953177214f, -0.0350436755f, -0.957493961f, 0.0561275184f, 0.0529908165f},
      {0.999649823f, 0.802677512f, -0.278062135f, -0.844469786f, 0.993724525f, 0.994406343f,
       -0.0264607519f, 0.596413314f, -0.960563123f, -0.535603166f, 0.11185509f, 0.105622061f}}},
};

static void test_vs_diffusers(void)
{
    static const float t[4] = {0.0f, 1.0f, 500.5f, 999.0f};
    sdc_context *ctx = test_context(1);
    for (size_t c = 0; c < sizeof torch_cases / sizeof torch_cases[0]; c++) {
        const torch_case *tc = &torch_cases[c];
        sdc_timestep_embedding_params p = {.flip_sin_to_cos = tc->flip,
                                           .downscale_freq_shift = tc->shift,
                                           .max_period = tc->max_period,
                                           .scale = tc->scale};
        float *y = test_floats(4 * tc->dim);
        int64_t shape[2] = {4, tc->dim};
        sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, shape);
        CHECK_EQ_INT(sdc_kern_timestep_embedding(ctx, t, 4, tc->dim, &p, &ty), SDC_STATUS_OK);
        float got[48];
        double ref[48], tol[48];
        int64_t half = tc->dim / 2;
        int m = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < tc->n_cols; j++, m++) {
                int col = tc->cols[j];
                int64_t k = col < half ? col : col - half;
                double freq = exp(-log((double)tc->max_period) * (double)k /
                                  ((double)half - (double)tc->shift));
                double arg = col >= 2 * half ? 0 : (double)tc->scale * t[i] * freq;
                got[m] = y[i * tc->dim + col];
                ref[m] = tc->want[i][j];
                tol[m] = 4 * TEST_U * (fabs(arg) + 1);
            }
        char what[64];
        snprintf(what, sizeof what, "timestep dim %lld vs diffusers", (long long)tc->dim);
        CHECK_CLOSE(what, m, got, ref, tol);
        free(y);
    }
    sdc_context_destroy(ctx);
}

static void test_errors(void)
{
    sdc_context *ctx = test_context(1);
    float t[2] = {1, 2}, y[64];
    sdc_timestep_embedding_params p = {.flip_sin_to_cos = false,
                                       .downscale_freq_shift = 1.0f,
                                       .max_period = 10000.0f,
                                       .scale = 1.0f};
    int64_t s[2] = {2, 8}, sbad[2] = {2, 9};
    sdc_tensor ty = sdc_tensor_make(y, SDC_DTYPE_F32, 2, s);
    CHECK_EQ_INT(sdc_kern_timestep_embedding(ctx, t, 2, 8, &p, &ty), SDC_STATUS_OK);
    sdc_tensor tb = sdc_tensor_make(y, SDC_DTYPE_F32, 2, sbad);
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, t, 2, 8, &p, &tb), SDC_STATUS_SHAPE,
                "timestep_embedding", "[2, 9]", "[2, 8]");
    int64_t s2[2] = {2, 2};
    sdc_tensor t2 = sdc_tensor_make(y, SDC_DTYPE_F32, 2, s2);
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, t, 2, 2, &p, &t2),
                SDC_STATUS_INVALID_ARGUMENT, "timestep_embedding", "divides by zero", NULL);
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, t, 2, 8, NULL, &ty),
                SDC_STATUS_INVALID_ARGUMENT, "timestep_embedding", "params", NULL);
    sdc_timestep_embedding_params p0 = p;
    p0.max_period = 0.0f;
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, t, 2, 8, &p0, &ty),
                SDC_STATUS_INVALID_ARGUMENT, "timestep_embedding", "max_period", NULL);
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, NULL, 2, 8, &p, &ty),
                SDC_STATUS_INVALID_ARGUMENT, "timestep_embedding", NULL, NULL);
    sdc_tensor over = sdc_tensor_make(t, SDC_DTYPE_F32, 2, (int64_t[]){2, 1});
    CHECK_ERROR(ctx, sdc_kern_timestep_embedding(ctx, t, 2, 1, &p, &over),
                SDC_STATUS_INVALID_ARGUMENT, "timestep_embedding", "overlap", NULL);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_formula);
    RUN(test_vs_diffusers);
    RUN(test_errors);
    return test_finish();
}
