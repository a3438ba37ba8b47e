/*
 * prediction.c — reading a model output as a clean-sample estimate x0, in the three forms the
 * diffusers 0.30.2 schedulers use (DDIM.step, EulerDiscrete.step, DPMSolverMultistep
 * .convert_model_output), with their float32 operation order so results match bit for bit.
 * The flow-matching velocity is read by its own solver (flow_match_euler.c).
 */
#include "schedulers/schedulers.h"

#include <math.h>

void sdc_prediction_x0_from_alpha(sdc_prediction_type type, float alpha_prod, const float *sample,
                                  const float *model_output, size_t n, float *x0, float *eps)
{
    float beta_prod = 1.0f - alpha_prod;
    float sqrt_alpha = sqrtf(alpha_prod), sqrt_beta = sqrtf(beta_prod);
    for (size_t i = 0; i < n; i++) {
        float s = sample[i], m = model_output[i], x, e;
        switch (type) {
        case SDC_PREDICTION_TYPE_V_PREDICTION:
            x = sqrt_alpha * s - sqrt_beta * m;
            e = sqrt_alpha * m + sqrt_beta * s;
            break;
        case SDC_PREDICTION_TYPE_SAMPLE:
            x = m;
            e = (s - sqrt_alpha * x) / sqrt_beta;
            break;
        default: /* epsilon */
            x = (s - sqrt_beta * m) / sqrt_alpha;
            e = m;
            break;
        }
        x0[i] = x;
        if (eps)
            eps[i] = e;
    }
}

void sdc_prediction_x0_from_sigma(sdc_prediction_type type, float sigma, const float *sample,
                                  const float *model_output, size_t n, float *x0)
{
    float sigma2_1 = sigma * sigma + 1.0f;
    float c_out = -sigma / sqrtf(sigma2_1);
    for (size_t i = 0; i < n; i++) {
        switch (type) {
        case SDC_PREDICTION_TYPE_V_PREDICTION:
            x0[i] = model_output[i] * c_out + sample[i] / sigma2_1;
            break;
        case SDC_PREDICTION_TYPE_SAMPLE:
            x0[i] = model_output[i];
            break;
        default: /* epsilon */
            x0[i] = sample[i] - sigma * model_output[i];
            break;
        }
    }
}

void sdc_prediction_x0_from_alpha_sigma(sdc_prediction_type type, float alpha_t, float sigma_t,
                                        const float *sample, const float *model_output, size_t n,
                                        float *x0)
{
    for (size_t i = 0; i < n; i++) {
        switch (type) {
        case SDC_PREDICTION_TYPE_V_PREDICTION:
            x0[i] = alpha_t * sample[i] - sigma_t * model_output[i];
            break;
        case SDC_PREDICTION_TYPE_SAMPLE:
            x0[i] = model_output[i];
            break;
        default: /* epsilon */
            x0[i] = (sample[i] - sigma_t * model_output[i]) / alpha_t;
            break;
        }
    }
}
