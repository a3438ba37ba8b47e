/*
 * Tests the noise schedule's pure functions (src/schedulers/schedule.c) and the prediction
 * types (prediction.c): betas/alphas_cumprod bit for bit against the fixtures' recorded
 * alphas_cumprod, numpy's linspace/interp/arange semantics, Karras and exponential sigmas,
 * _sigma_to_t, the flow shift, and x0 from epsilon, v and sample predictions.
 */
#include "schedulers/schedulers.h"
#include "fixture_cases.h"

#include <math.h>

static sdc_context *make_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    CHECK(sdc_context_create(&p, &ctx) == SDC_STATUS_OK);
    return ctx;
}

/* SD 1.5's scaled_linear schedule equals diffusers' alphas_cumprod, recorded in every DDPM
 * scheduler fixture. */
static void test_alphas_cumprod_bit_exact(void)
{
    sdc_context *ctx = make_ctx();
    fixture f;
    if (fixture_open(&f, ctx, "schedulers/ddim.safetensors")) {
        size_t n = 0;
        const float *want = fixture_tensor(&f, "alphas_cumprod", SDC_DTYPE_F32, &n);
        CHECK_EQ_INT(n, 1000);
        float betas[1000], ac[1000];
        sdc_schedule_betas(SDC_BETA_SCHEDULE_SCALED_LINEAR, 0.00085, 0.012, 1000, betas);
        sdc_schedule_alphas_cumprod(betas, 1000, ac);
        CHECK(want && memcmp(ac, want, sizeof ac) == 0);
        fixture_close(&f);
    }
    sdc_context_destroy(ctx);
}

static void test_betas(void)
{
    float b[1000];
    sdc_schedule_betas(SDC_BETA_SCHEDULE_LINEAR, 0.0001, 0.02, 1000, b);
    CHECK(b[0] == 0.0001f && b[999] == 0.02f);
    for (int i = 1; i < 1000; i++)
        CHECK(b[i] > b[i - 1]);
    sdc_schedule_betas(SDC_BETA_SCHEDULE_SCALED_LINEAR, 0.00085, 0.012, 1000, b);
    CHECK(fabsf(b[0] - 0.00085f) < 1e-9f && fabsf(b[999] - 0.012f) < 1e-8f);
    /* squaredcos_cap_v2: the last beta is capped at 0.999, all lie in (0, 0.999]. */
    sdc_schedule_betas(SDC_BETA_SCHEDULE_SQUAREDCOS_CAP_V2, 0, 0, 1000, b);
    CHECK(b[999] == 0.999f);
    for (int i = 0; i < 1000; i++)
        CHECK(b[i] > 0 && b[i] <= 0.999f);
    /* One timestep: linspace gives the start. */
    sdc_schedule_betas(SDC_BETA_SCHEDULE_LINEAR, 0.1, 0.2, 1, b);
    CHECK(b[0] == 0.1f);
}

static void test_timestep_spacing(void)
{
    double ts[64];
    /* linspace over [0, 999], descending, not rounded */
    sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_LINSPACE, 1000, 4, 0, ts);
    CHECK(ts[0] == 999.0 && ts[1] == 666.0 && ts[2] == 333.0 && ts[3] == 0.0);
    sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_LINSPACE, 1000, 1, 0, ts);
    CHECK(ts[0] == 0.0);
    /* leading: step ratio 1000 // 3 = 333, plus steps_offset */
    sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_LEADING, 1000, 3, 1, ts);
    CHECK(ts[0] == 667.0 && ts[1] == 334.0 && ts[2] == 1.0);
    /* trailing: round(1000 - i * 1000 / n) - 1 */
    sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_TRAILING, 1000, 3, 0, ts);
    CHECK(ts[0] == 999.0 && ts[1] == 666.0 && ts[2] == 332.0);
    /* n = 61: numpy's arange would add a 62nd timestep -1; sdc keeps exactly n, all >= 0. */
    sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_TRAILING, 1000, 61, 0, ts);
    CHECK(ts[0] == 999.0 && ts[60] >= 0.0 && ts[60] < 20.0);
}

static void test_linspace_interp(void)
{
    double v[5];
    sdc_schedule_linspace(0.0, 1.0, 5, v);
    CHECK(v[0] == 0.0 && v[1] == 0.25 && v[4] == 1.0);
    sdc_schedule_linspace(2.0, 7.0, 1, v);
    CHECK(v[0] == 2.0);
    const float fp[4] = {1.0f, 3.0f, 4.0f, 10.0f};
    CHECK(sdc_schedule_interp(-1.0, fp, 4) == 1.0);
    CHECK(sdc_schedule_interp(0.5, fp, 4) == 2.0);
    CHECK(sdc_schedule_interp(2.0, fp, 4) == 4.0);
    CHECK(sdc_schedule_interp(2.25, fp, 4) == 5.5);
    CHECK(sdc_schedule_interp(3.0, fp, 4) == 10.0);
    CHECK(sdc_schedule_interp(9.0, fp, 4) == 10.0);
}

static void test_karras_exponential(void)
{
    double k[10], e[10];
    sdc_schedule_karras(0.03, 14.6, 10, k);
    sdc_schedule_exponential(0.03, 14.6, 10, e);
    CHECK(fabs(k[0] - 14.6) < 1e-12 && fabs(k[9] - 0.03) < 1e-12);
    CHECK(fabs(e[0] - 14.6) < 1e-12 && fabs(e[9] - 0.03) < 1e-12);
    for (int i = 1; i < 10; i++) {
        CHECK(k[i] < k[i - 1] && e[i] < e[i - 1]);
        /* exponential: a constant ratio between neighbours */
        CHECK(fabs(e[i] / e[i - 1] - e[1] / e[0]) < 1e-12);
        /* rho = 7: sigma^(1/7) is linear in i */
        CHECK(fabs(pow(k[i], 1 / 7.0) - pow(k[i - 1], 1 / 7.0) -
                   (pow(k[1], 1 / 7.0) - pow(k[0], 1 / 7.0))) < 1e-12);
    }
    sdc_schedule_karras(0.03, 14.6, 1, k);
    CHECK(fabs(k[0] - 14.6) < 1e-12);
}

static void test_sigma_to_t(void)
{
    float betas[1000], ac[1000], sig[1000], log_sig[1000];
    sdc_schedule_betas(SDC_BETA_SCHEDULE_SCALED_LINEAR, 0.00085, 0.012, 1000, betas);
    sdc_schedule_alphas_cumprod(betas, 1000, ac);
    sdc_schedule_sigmas_from_alphas(ac, 1000, sig);
    for (int i = 0; i < 1000; i++)
        log_sig[i] = (float)log((double)sig[i]);
    /* Training sigmas map back to their own timesteps (up to the float32 logs' rounding);
     * beyond the ends it clamps. */
    for (int t = 0; t < 1000; t += 111)
        CHECK(fabs(sdc_schedule_sigma_to_t(sig[t], log_sig, 1000) - t) < 1e-3);
    CHECK(fabs(sdc_schedule_sigma_to_t(sig[999], log_sig, 1000) - 999.0) < 1e-3);
    CHECK(sdc_schedule_sigma_to_t(1e6, log_sig, 1000) == 999.0);
    CHECK(sdc_schedule_sigma_to_t(1e-12, log_sig, 1000) == 0.0);
    double mid = sdc_schedule_sigma_to_t(sqrt((double)sig[500] * sig[501]), log_sig, 1000);
    CHECK(mid > 500.4 && mid < 500.6);
}

static void test_flow_shift(void)
{
    CHECK(sdc_schedule_flow_shift(3.0, 1.0) == 1.0);
    CHECK(sdc_schedule_flow_shift(3.0, 0.0) == 0.0);
    CHECK(fabs(sdc_schedule_flow_shift(3.0, 0.5) - 0.75) < 1e-15);
    CHECK(sdc_schedule_flow_shift(1.0, 0.3) == 0.3);
}

/* x = sqrt(abar) x0 + sqrt(1 - abar) eps; v = sqrt(abar) eps - sqrt(1 - abar) x0. */
static void test_prediction_types(void)
{
    enum { N = 5 };
    const float x0[N] = {0.5f, -1.0f, 0.0f, 2.0f, 0.25f};
    const float eps[N] = {1.0f, 0.5f, -0.75f, 0.0f, -2.0f};
    float abar = 0.36f, sa = 0.6f, sb = 0.8f;
    float x[N], v[N], out[N], out_eps[N];
    for (int i = 0; i < N; i++) {
        x[i] = sa * x0[i] + sb * eps[i];
        v[i] = sa * eps[i] - sb * x0[i];
    }
    sdc_prediction_x0_from_alpha(SDC_PREDICTION_TYPE_EPSILON, abar, x, eps, N, out, out_eps);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-6f && out_eps[i] == eps[i]);
    sdc_prediction_x0_from_alpha(SDC_PREDICTION_TYPE_V_PREDICTION, abar, x, v, N, out, out_eps);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-6f && fabsf(out_eps[i] - eps[i]) < 1e-6f);
    sdc_prediction_x0_from_alpha(SDC_PREDICTION_TYPE_SAMPLE, abar, x, x0, N, out, out_eps);
    for (int i = 0; i < N; i++)
        CHECK(out[i] == x0[i] && fabsf(out_eps[i] - eps[i]) < 1e-6f);

    /* The same in the sigma form (x = x0 + sigma eps) and alpha/sigma form. */
    float sigma = sb / sa, xs[N];
    for (int i = 0; i < N; i++)
        xs[i] = x0[i] + sigma * eps[i];
    sdc_prediction_x0_from_sigma(SDC_PREDICTION_TYPE_EPSILON, sigma, xs, eps, N, out);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-6f);
    /* v-prediction in the sigma form reads the model input scaled by 1/sqrt(sigma^2 + 1). */
    sdc_prediction_x0_from_sigma(SDC_PREDICTION_TYPE_V_PREDICTION, sigma, xs, v, N, out);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-5f);
    sdc_prediction_x0_from_alpha_sigma(SDC_PREDICTION_TYPE_EPSILON, sa, sb, x, eps, N, out);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-6f);
    sdc_prediction_x0_from_alpha_sigma(SDC_PREDICTION_TYPE_V_PREDICTION, sa, sb, x, v, N, out);
    for (int i = 0; i < N; i++)
        CHECK(fabsf(out[i] - x0[i]) < 1e-6f);
    sdc_prediction_x0_from_alpha_sigma(SDC_PREDICTION_TYPE_SAMPLE, sa, sb, x, x0, N, out);
    CHECK(memcmp(out, x0, sizeof out) == 0);
}

int main(void)
{
    RUN(test_alphas_cumprod_bit_exact);
    RUN(test_betas);
    RUN(test_timestep_spacing);
    RUN(test_linspace_interp);
    RUN(test_karras_exponential);
    RUN(test_sigma_to_t);
    RUN(test_flow_shift);
    RUN(test_prediction_types);
    return test_finish();
}
