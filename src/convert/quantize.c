/*
 * quantize.c — int8 weights per output channel, coremltools 7 linear_quantize_weights' default
 * (mode "linear_symmetric", int8): scale = max|row| / 127, q = round_half_even(w / scale).
 * Symmetric, not affine: weights centre on zero, so a zero point buys little range, and a dot
 * product stays one scale times an integer sum. Quantizes the source values as read (float32).
 */
#include "convert/convert.h"

#include <math.h>

sdc_status sdc_quantize_int8(sdc_context *ctx, const char *name, const float *values, int64_t rows,
                             int64_t row_len, int8_t *q, float *scale, double *sse)
{
    *sse = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *v = values + r * row_len;
        double max_abs = 0.0;
        for (int64_t i = 0; i < row_len; i++) {
            if (!isfinite(v[i]))
                return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT,
                                "int8: tensor '%s' holds %s at element %lld; only finite values "
                                "can be quantized",
                                name, isnan(v[i]) ? "NaN" : "an infinity",
                                (long long)(r * row_len + i));
            if (fabs(v[i]) > max_abs)
                max_abs = fabs(v[i]);
        }
        float s = (float)(max_abs / 127.0);
        scale[r] = s;
        for (int64_t i = 0; i < row_len; i++) {
            /* An all-zero row (or one whose scale underflows) is stored as zeros. */
            double t = s > 0.0f ? rint((double)v[i] / (double)s) : 0.0;
            t = t > 127.0 ? 127.0 : t < -127.0 ? -127.0 : t;
            q[r * row_len + i] = (int8_t)t;
            double d = (double)v[i] - (double)((float)t * s);
            *sse += d * d;
        }
    }
    return SDC_STATUS_OK;
}
