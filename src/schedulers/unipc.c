/*
 * unipc.c — UniPCMultistepScheduler of diffusers 0.30.2 (Zhao et al. 2023): predictor UniP and,
 * from the second step, corrector UniC; B(h) = h or e^h - 1, data or noise prediction, orders
 * up to 3 with warm-up and lower_order_final, and torch.linalg.solve reproduced in float32.
 */
#include "schedulers/solver.h"

#include <string.h>

/* Slots: 0-2 the converted model outputs (oldest first), 3 the newest before it is stored,
 * 4 the last sample (before prediction). */
#define UNIPC_MAX_ORDER 3
#define SLOT_NEW        3
#define SLOT_LAST       4

static sdc_status unipc_set_timesteps(sdc_scheduler *s)
{
    int n = s->n_steps, T = s->T;
    double *ts = s->timesteps;
    double *tmp = sdc_malloc(s->ctx, ((size_t)n + 1) * sizeof *tmp);
    float *log_sigmas = sdc_malloc(s->ctx, (size_t)T * sizeof *log_sigmas);
    sdc_status st = SDC_STATUS_OK;
    if (!tmp || !log_sigmas) {
        st = sdc_fail_oom(s->ctx, "unipc schedule", (size_t)T * sizeof(float));
        goto free_scratch;
    }
    switch (s->cfg.timestep_spacing) {
    case SDC_TIMESTEP_SPACING_LINSPACE:
        sdc_schedule_linspace(0.0, T - 1, n + 1, tmp);
        for (int i = 0; i < n; i++)
            ts[i] = rint(tmp[n - i]);
        break;
    case SDC_TIMESTEP_SPACING_LEADING: {
        int ratio = T / (n + 1);
        for (int i = 0; i < n; i++)
            ts[i] = (double)(n - i) * ratio + s->cfg.steps_offset;
        break;
    }
    default:
        sdc_schedule_timesteps(SDC_TIMESTEP_SPACING_TRAILING, T, n, 0, ts);
        break;
    }
    if (s->cfg.sigma_schedule != SDC_SIGMA_SCHEDULE_DEFAULT) {
        double sigma_min = isnan(s->cfg.sigma_min) ? s->train_sigmas[0] : s->cfg.sigma_min;
        double sigma_max = isnan(s->cfg.sigma_max) ? s->train_sigmas[T - 1] : s->cfg.sigma_max;
        double *sig = tmp;
        if (s->cfg.sigma_schedule == SDC_SIGMA_SCHEDULE_KARRAS)
            sdc_schedule_karras(sigma_min, sigma_max, n, sig);
        else
            sdc_schedule_exponential(sigma_min, sigma_max, n, sig);
        for (int j = 0; j < T; j++)
            log_sigmas[j] = sdc_sched_log(s->train_sigmas[j]);
        for (int i = 0; i < n; i++) {
            ts[i] = rint(sdc_schedule_sigma_to_t(sig[i], log_sigmas, T));
            s->sigmas[i] = (float)sig[i];
        }
        s->sigmas[n] = s->cfg.final_sigma_zero ? 0.0f : s->sigmas[n - 1];
    } else {
        for (int i = 0; i < n; i++)
            s->sigmas[i] = (float)sdc_schedule_interp(ts[i], s->train_sigmas, T);
        s->sigmas[n] = s->cfg.final_sigma_zero ? 0.0f : s->train_sigmas[0];
    }
    s->n_sigmas = (size_t)n + 1;
    s->n_calls = (size_t)n;
    s->init_noise_sigma = 1.0f;
    s->counter = 0;
    s->n_history = 0;
    s->have_last = false;
    s->this_order = 0;
    st = sdc_sched_check_timesteps(s);
free_scratch:
    sdc_free(s->ctx, log_sigmas);
    sdc_free(s->ctx, tmp);
    return st;
}

/* torch.linalg.solve(A, b) for k <= 3 in float32, as torch 2.4 gets it from LAPACK: torch's
 * row-major A is LAPACK's column-major A^T, so sgetrf factors M = A^T with partial pivoting
 * (the column below each pivot scaled by the pivot's reciprocal) and sgetrs solves
 * M^T x = b: U^T y = b forward, L^T x = y backward (unit), then the row interchanges in
 * reverse. The result replaces b. (Checked against torch.linalg.solve on 1000 random 2x2 and
 * 3x3 systems of this form: identical.) */
static void solve_small(float a[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], float *b, int k)
{
    float m[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER];
    int piv[UNIPC_MAX_ORDER];
    for (int r = 0; r < k; r++)
        for (int c = 0; c < k; c++)
            m[r][c] = a[c][r];
    for (int j = 0; j < k; j++) {
        int p = j;
        for (int r = j + 1; r < k; r++)
            if (fabsf(m[r][j]) > fabsf(m[p][j]))
                p = r;
        piv[j] = p;
        if (p != j)
            for (int c = 0; c < k; c++) {
                float t = m[j][c];
                m[j][c] = m[p][c];
                m[p][c] = t;
            }
        float inv = 1.0f / m[j][j];
        for (int r = j + 1; r < k; r++)
            m[r][j] = m[r][j] * inv;
        for (int r = j + 1; r < k; r++)
            for (int c = j + 1; c < k; c++)
                m[r][c] = m[r][c] - m[r][j] * m[j][c];
    }
    for (int i = 0; i < k; i++) {
        float t = b[i];
        for (int q = 0; q < i; q++)
            t = t - m[q][i] * b[q];
        b[i] = t / m[i][i];
    }
    for (int i = k - 1; i >= 0; i--) {
        float t = b[i];
        for (int q = i + 1; q < k; q++)
            t = t - m[q][i] * b[q];
        b[i] = t;
    }
    for (int j = k - 1; j >= 0; j--) {
        float t = b[j];
        b[j] = b[piv[j]];
        b[piv[j]] = t;
    }
}

typedef struct unipc_coeffs {
    float rks[UNIPC_MAX_ORDER]; /* rk for k = 1 .. order - 1, then 1 */
    float rhos[UNIPC_MAX_ORDER];
    float h_phi_1, b_h;
    float a_x, a_m0; /* x_t_ = a_x * x - a_m0 * m0 */
    float a_res;     /* x_t = x_t_ - a_res * res */
} unipc_coeffs;

/* The coefficients of one predictor (corrector = false: from sigma[i] to sigma[i + 1], history
 * offsets 1..order-1) or corrector (from sigma[i - 1] to sigma[i], offsets 2..order) update. */
static unipc_coeffs coefficients(const sdc_scheduler *s, size_t i, int order, bool corrector)
{
    unipc_coeffs c;
    size_t to = corrector ? i : i + 1, from = corrector ? i - 1 : i;
    float alpha_t, sigma_t, alpha_s0, sigma_s0;
    sdc_sched_alpha_sigma(s->sigmas[to], &alpha_t, &sigma_t);
    sdc_sched_alpha_sigma(s->sigmas[from], &alpha_s0, &sigma_s0);
    float lambda_t = sdc_sched_log(alpha_t) - sdc_sched_log(sigma_t);
    float lambda_s0 = sdc_sched_log(alpha_s0) - sdc_sched_log(sigma_s0);
    float h = lambda_t - lambda_s0;
    for (int k = 1; k < order; k++) {
        size_t si = corrector ? i - (size_t)(k + 1) : i - (size_t)k;
        c.rks[k - 1] = (sdc_sched_lambda(s->sigmas[si]) - lambda_s0) / h;
    }
    c.rks[order - 1] = 1.0f;
    bool x0 = s->cfg.predict_x0;
    float hh = x0 ? -h : h;
    c.h_phi_1 = sdc_sched_expm1(hh);
    float h_phi_k = c.h_phi_1 / hh - 1.0f;
    int factorial = 1;
    c.b_h = s->cfg.solver_type == SDC_SOLVER_TYPE_BH1 ? hh : sdc_sched_expm1(hh);
    float r[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], b[UNIPC_MAX_ORDER];
    for (int k = 1; k <= order; k++) {
        for (int col = 0; col < order; col++) {
            float v = c.rks[col];
            r[k - 1][col] = k == 1 ? 1.0f : (k == 2 ? v : v * v);
        }
        b[k - 1] = h_phi_k * (float)factorial / c.b_h;
        factorial *= k + 1;
        h_phi_k = h_phi_k / hh - (float)(1.0 / factorial);
    }
    if (corrector) {
        if (order == 1) {
            c.rhos[0] = 0.5f;
        } else {
            solve_small(r, b, order);
            memcpy(c.rhos, b, (size_t)order * sizeof b[0]);
        }
    } else if (order == 2) {
        c.rhos[0] = 0.5f;
    } else if (order > 2) {
        solve_small(r, b, order - 1);
        memcpy(c.rhos, b, (size_t)(order - 1) * sizeof b[0]);
    }
    if (x0) {
        c.a_x = sigma_t / sigma_s0;
        c.a_m0 = alpha_t * c.h_phi_1;
        c.a_res = alpha_t * c.b_h;
    } else {
        c.a_x = alpha_t / alpha_s0;
        c.a_m0 = sigma_t * c.h_phi_1;
        c.a_res = sigma_t * c.b_h;
    }
    return c;
}

/* multistep_uni_c_bh_update: corrects sample (this_sample) from last_sample, the previous
 * outputs and the new converted output. */
static void corrector(sdc_scheduler *s, size_t i, int order, const float *model_t, float *x_t)
{
    unipc_coeffs c = coefficients(s, i, order, true);
    int h = s->n_history;
    const float *m0 = s->slot[h - 1], *x = s->slot[SLOT_LAST];
    for (size_t e = 0; e < s->numel; e++) {
        float base = c.a_x * x[e] - c.a_m0 * m0[e];
        float corr = 0.0f;
        for (int k = 1; k < order; k++) {
            float d1 = (s->slot[h - 1 - k][e] - m0[e]) / c.rks[k - 1];
            corr = k == 1 ? c.rhos[0] * d1 : corr + c.rhos[k - 1] * d1;
        }
        float d1_t = model_t[e] - m0[e];
        x_t[e] = base - c.a_res * (corr + c.rhos[order - 1] * d1_t);
    }
}

/* multistep_uni_p_bh_update: predicts the next sample in place. */
static void predictor(sdc_scheduler *s, size_t i, int order, float *x)
{
    unipc_coeffs c = coefficients(s, i, order, false);
    int h = s->n_history;
    const float *m0 = s->slot[h - 1];
    for (size_t e = 0; e < s->numel; e++) {
        float base = c.a_x * x[e] - c.a_m0 * m0[e];
        if (order == 1) {
            x[e] = base - c.a_res * 0.0f;
            continue;
        }
        float pred = 0.0f;
        for (int k = 1; k < order; k++) {
            float d1 = (s->slot[h - 1 - k][e] - m0[e]) / c.rks[k - 1];
            pred = k == 1 ? c.rhos[0] * d1 : pred + c.rhos[k - 1] * d1;
        }
        x[e] = base - c.a_res * pred;
    }
}

static sdc_status unipc_step(sdc_scheduler *s, size_t call, const float *model_output,
                             float *sample, sdc_rng *rng)
{
    (void)rng;
    size_t n = s->numel;
    int order = s->cfg.solver_order;
    bool disabled = call > 0 && call - 1 < 64 && (s->cfg.disable_corrector >> (call - 1)) & 1u;
    bool use_corrector = call > 0 && !disabled && s->have_last;

    float *converted = s->slot[SLOT_NEW];
    float alpha_t, sigma_t;
    sdc_sched_alpha_sigma(s->sigmas[call], &alpha_t, &sigma_t);
    if (s->cfg.predict_x0) {
        sdc_prediction_x0_from_alpha_sigma(s->cfg.prediction_type, alpha_t, sigma_t, sample,
                                           model_output, n, converted);
    } else {
        for (size_t e = 0; e < n; e++) {
            switch (s->cfg.prediction_type) {
            case SDC_PREDICTION_TYPE_SAMPLE:
                converted[e] = (sample[e] - alpha_t * model_output[e]) / sigma_t;
                break;
            case SDC_PREDICTION_TYPE_V_PREDICTION:
                converted[e] = alpha_t * model_output[e] + sigma_t * sample[e];
                break;
            default:
                converted[e] = model_output[e];
                break;
            }
        }
    }
    if (use_corrector)
        corrector(s, call, s->this_order, converted, sample);

    /* model_outputs shift left and take the new output (pointer swaps, no copies). */
    if (s->n_history == order) {
        float *oldest = s->slot[0];
        memmove(&s->slot[0], &s->slot[1], (size_t)(order - 1) * sizeof s->slot[0]);
        s->slot[order - 1] = converted;
        s->slot[SLOT_NEW] = oldest;
    } else {
        s->slot[SLOT_NEW] = s->slot[s->n_history];
        s->slot[s->n_history++] = converted;
    }

    int this_order = order;
    if (s->cfg.lower_order_final && (int)(s->n_calls - call) < this_order)
        this_order = (int)(s->n_calls - call);
    if (this_order > s->counter + 1)
        this_order = s->counter + 1;
    s->this_order = this_order;
    memcpy(s->slot[SLOT_LAST], sample, n * sizeof *sample);
    s->have_last = true;
    predictor(s, call, this_order, sample);
    if (s->counter < order)
        s->counter++;
    s->denoised = s->cfg.predict_x0 ? converted : NULL;
    return SDC_STATUS_OK;
}

const sdc_solver_ops sdc_solver_unipc_ops = {
    .name = "unipc",
    .diffusers_class = "UniPCMultistepScheduler",
    .order = 1,
    .n_slots = 5,
    .predictions = 1u << SDC_PREDICTION_TYPE_EPSILON | 1u << SDC_PREDICTION_TYPE_V_PREDICTION |
                   1u << SDC_PREDICTION_TYPE_SAMPLE,
    .sigma_schedules = true,
    .scale_input = false,
    .noise_form = SDC_NOISE_FORM_ALPHA_SIGMA,
    .set_timesteps = unipc_set_timesteps,
    .step = unipc_step,
};
