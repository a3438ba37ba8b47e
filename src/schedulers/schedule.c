/*
 * schedule.c — the noise schedule as pure functions, reproducing diffusers 0.30.2 with
 * torch 2.4 / numpy 1.26 arithmetic: torch.linspace in float32 (fused multiply-adds, as torch's
 * x86 build computes it), torch.cumprod accumulating in double, numpy linspace / arange / interp
 * in double. Deliberate difference: trailing spacing takes exactly n timesteps, where numpy's
 * arange(T, 0, -T/n) yields a spurious extra timestep -1 for some n (61, 103, 121, ...).
 */
#include "schedulers/schedulers.h"

#include <math.h>

/* torch.linspace(start, end, n, dtype=float32): the first half counts up from start, the
 * second down from end, each element one fused multiply-add. */
static void torch_linspace_f32(float start, float end, int n, float *out)
{
    if (n == 1) {
        out[0] = start;
        return;
    }
    float step = (end - start) / (float)(n - 1);
    int halfway = n / 2;
    for (int i = 0; i < n; i++) {
        if (i < halfway)
            out[i] = fmaf(step, (float)i, start);
        else
            out[i] = fmaf(-step, (float)(n - i - 1), end);
    }
}

static double alpha_bar_cosine(double t)
{
    double c = cos((t + 0.008) / 1.008 * 3.14159265358979323846 / 2);
    return c * c;
}

void sdc_schedule_betas(sdc_beta_schedule schedule, double beta_start, double beta_end, int T,
                        float *betas)
{
    switch (schedule) {
    case SDC_BETA_SCHEDULE_LINEAR:
        torch_linspace_f32((float)beta_start, (float)beta_end, T, betas);
        break;
    case SDC_BETA_SCHEDULE_SCALED_LINEAR:
        torch_linspace_f32((float)sqrt(beta_start), (float)sqrt(beta_end), T, betas);
        for (int i = 0; i < T; i++)
            betas[i] = betas[i] * betas[i];
        break;
    case SDC_BETA_SCHEDULE_SQUAREDCOS_CAP_V2:
        /* betas_for_alpha_bar(T), max_beta 0.999, in Python doubles. */
        for (int i = 0; i < T; i++) {
            double t1 = (double)i / T, t2 = (double)(i + 1) / T;
            double beta = 1 - alpha_bar_cosine(t2) / alpha_bar_cosine(t1);
            betas[i] = (float)(beta < 0.999 ? beta : 0.999);
        }
        break;
    case SDC_BETA_SCHEDULE_COUNT:
        break;
    }
}

void sdc_schedule_alphas_cumprod(const float *betas, int T, float *alphas_cumprod)
{
    double acc = 1.0;
    for (int i = 0; i < T; i++) {
        float alpha = 1.0f - betas[i];
        acc *= alpha;
        alphas_cumprod[i] = (float)acc;
    }
}

void sdc_schedule_sigmas_from_alphas(const float *alphas_cumprod, int T, float *sigmas)
{
    for (int i = 0; i < T; i++)
        sigmas[i] = sqrtf((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
}

void sdc_schedule_linspace(double start, double stop, int n, double *out)
{
    if (n <= 0)
        return;
    if (n == 1) {
        out[0] = start;
        return;
    }
    double step = (stop - start) / (n - 1);
    for (int i = 0; i < n - 1; i++)
        out[i] = i * step + start;
    out[n - 1] = stop;
}

void sdc_schedule_timesteps(sdc_timestep_spacing spacing, int T, int n, int steps_offset,
                            double *timesteps)
{
    switch (spacing) {
    case SDC_TIMESTEP_SPACING_LINSPACE: {
        /* np.linspace(0, T - 1, n)[::-1] */
        double step = n > 1 ? (double)(T - 1) / (n - 1) : 0.0;
        for (int i = 0; i < n; i++) {
            int k = n - 1 - i;
            timesteps[i] = (n > 1 && k == n - 1) ? (double)(T - 1) : k * step + 0.0;
        }
        break;
    }
    case SDC_TIMESTEP_SPACING_LEADING: {
        int ratio = T / n;
        for (int i = 0; i < n; i++)
            timesteps[i] = (double)(n - 1 - i) * ratio + steps_offset;
        break;
    }
    case SDC_TIMESTEP_SPACING_TRAILING: {
        /* np.round(np.arange(T, 0, -T / n)) - 1: numpy fills element i as
         * start + i * ((start + step) - start). */
        double start = T, step = -(double)T / n;
        double delta = (start + step) - start;
        for (int i = 0; i < n; i++)
            timesteps[i] = rint(i == 0 ? start : start + i * delta) - 1;
        break;
    }
    case SDC_TIMESTEP_SPACING_COUNT:
        break;
    }
}

double sdc_schedule_interp(double x, const float *fp, int n)
{
    /* numpy arr_interp with xp = 0..n-1: clamp outside, exact at nodes, else
     * slope * (x - xp[j]) + fp[j]. */
    if (x <= 0.0)
        return fp[0];
    if (x >= (double)(n - 1))
        return fp[n - 1];
    int j = (int)floor(x);
    if ((double)j == x)
        return fp[j];
    double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
    return slope * (x - (double)j) + (double)fp[j];
}

void sdc_schedule_karras(double sigma_min, double sigma_max, int n, double *out)
{
    const double rho = 7.0;
    double min_inv_rho = pow(sigma_min, 1 / rho);
    double max_inv_rho = pow(sigma_max, 1 / rho);
    sdc_schedule_linspace(0.0, 1.0, n, out);
    for (int i = 0; i < n; i++)
        out[i] = pow(max_inv_rho + out[i] * (min_inv_rho - max_inv_rho), rho);
}

void sdc_schedule_exponential(double sigma_min, double sigma_max, int n, double *out)
{
    sdc_schedule_linspace(log(sigma_max), log(sigma_min), n, out);
    for (int i = 0; i < n; i++)
        out[i] = exp(out[i]);
}

double sdc_schedule_sigma_to_t(double sigma, const float *log_sigmas, int T)
{
    double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
    /* cumsum(dists >= 0).argmax(): the first index of the running count's maximum. */
    int count = 0, best = 0, low = 0;
    for (int j = 0; j < T; j++) {
        if (log_sigma - (double)log_sigmas[j] >= 0)
            count++;
        if (count > best) {
            best = count;
            low = j;
        }
    }
    if (low > T - 2)
        low = T - 2;
    double lo = log_sigmas[low], hi = log_sigmas[low + 1];
    double w = (lo - log_sigma) / (lo - hi);
    w = w < 0 ? 0 : (w > 1 ? 1 : w);
    return (1 - w) * low + w * (low + 1);
}

double sdc_schedule_flow_shift(double shift, double sigma)
{
    return shift * sigma / (1 + (shift - 1) * sigma);
}
