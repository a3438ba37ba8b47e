/*
 * lms.c — LMSDiscreteScheduler of diffusers 0.30.2: linear multistep (order <= 4) over
 * (x - x0) / sigma, coefficients integrating Lagrange polynomials that diffusers evaluates in
 * float32 and integrates with scipy's quad; sdc applies QUADPACK's 21-point Gauss-Kronrod rule,
 * qags' first pass. Deliberate difference: qags' bisection (never reached here) is not copied.
 */
#include "schedulers/solver.h"

#include <string.h>

/* Slots: 0 x0, 1-4 the derivatives (oldest first). */
#define LMS_MAX_ORDER 4

static sdc_status lms_set_timesteps(sdc_scheduler *s)
{
    sdc_status st = sdc_sched_sigma_schedule(s, true, 0.0f);
    if (st != SDC_STATUS_OK)
        return st;
    s->n_history = 0;
    s->init_noise_sigma = sdc_sched_init_noise_sigma_from_sigmas(s);
    return SDC_STATUS_OK;
}

/* lms_derivative(tau): the Lagrange basis polynomial of node t - current at tau, evaluated as
 * diffusers does with 0-d float32 tensors (tau is rounded to float first). */
static double lms_basis(const float *sigmas, int order, int t, int current, double tau)
{
    bool first = true;
    float prod = 1.0f;
    float tau_f = (float)tau;
    for (int k = 0; k < order; k++) {
        if (k == current)
            continue;
        float term = (tau_f - sigmas[t - k]) / (sigmas[t - current] - sigmas[t - k]);
        prod = first ? term : prod * term;
        first = false;
    }
    return (double)prod;
}

/* QUADPACK dqk21: 21-point Kronrod abscissae and weights, and the 10-point Gauss weights. */
static const double xgk[11] = {
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
    0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
    0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
    0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
    0.000000000000000000000000000000000,
};
static const double wgk[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821,
};

static double lms_coefficient(const float *sigmas, int order, int t, int current)
{
    double a = sigmas[t], b = sigmas[t + 1];
    double centr = 0.5 * (a + b), hlgth = 0.5 * (b - a);
    double resk = wgk[10] * lms_basis(sigmas, order, t, current, centr);
    /* Gauss nodes (even Fortran indices) first, then the Kronrod-only ones, as dqk21 sums. */
    for (int j = 1; j <= 5; j++) {
        int jtw = 2 * j - 1;
        double absc = hlgth * xgk[jtw];
        double fsum = lms_basis(sigmas, order, t, current, centr - absc) +
                      lms_basis(sigmas, order, t, current, centr + absc);
        resk += wgk[jtw] * fsum;
    }
    for (int j = 1; j <= 5; j++) {
        int jtwm1 = 2 * j - 2;
        double absc = hlgth * xgk[jtwm1];
        double fsum = lms_basis(sigmas, order, t, current, centr - absc) +
                      lms_basis(sigmas, order, t, current, centr + absc);
        resk += wgk[jtwm1] * fsum;
    }
    return resk * hlgth;
}

static sdc_status lms_step(sdc_scheduler *s, size_t call, const float *model_output, float *sample,
                           sdc_rng *rng)
{
    (void)rng;
    size_t n = s->numel;
    int t = (int)call;
    float sigma = s->sigmas[t];
    float *x0 = s->slot[0];
    sdc_prediction_x0_from_sigma(s->cfg.prediction_type, sigma, sample, model_output, n, x0);
    if (s->n_history == LMS_MAX_ORDER) { /* derivatives.pop(0) */
        float *oldest = s->slot[1];
        memmove(&s->slot[1], &s->slot[2], (LMS_MAX_ORDER - 1) * sizeof s->slot[0]);
        s->slot[LMS_MAX_ORDER] = oldest;
        s->n_history--;
    }
    float *derivative = s->slot[1 + s->n_history++];
    for (size_t i = 0; i < n; i++)
        derivative[i] = (sample[i] - x0[i]) / sigma;

    int order = t + 1 < LMS_MAX_ORDER ? t + 1 : LMS_MAX_ORDER;
    float coeff[LMS_MAX_ORDER];
    for (int k = 0; k < order; k++)
        coeff[k] = (float)lms_coefficient(s->sigmas, order, t, k);
    /* zip(coeffs, reversed(derivatives)): the newest derivative takes coeff[0]; an img2img
     * start has fewer derivatives than the order, and zip stops at the shorter. */
    int terms = order < s->n_history ? order : s->n_history;
    for (size_t i = 0; i < n; i++) {
        float acc = 0.0f + coeff[0] * s->slot[s->n_history][i];
        for (int k = 1; k < terms; k++)
            acc = acc + coeff[k] * s->slot[s->n_history - k][i];
        sample[i] = sample[i] + acc;
    }
    s->denoised = x0;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_lms_ops = {
    .name = "lms",
    .diffusers_class = "LMSDiscreteScheduler",
    .order = 1,
    .n_slots = 1 + LMS_MAX_ORDER,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = true,
    .scale_input = true,
    .noise_form = SDC_NOISE_FORM_SIGMA,
    .set_timesteps = lms_set_timesteps,
    .step = lms_step,
};
