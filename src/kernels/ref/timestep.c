/*
 * timestep.c — reference sinusoidal timestep embedding, diffusers.models.embeddings.
 * get_timestep_embedding (diffusers 0.30.2), in float32 step by step as torch evaluates it:
 * exponent = float(-ln(max_period)) * k / float(half - shift); freq = exp(exponent);
 * arg = scale * (t * freq); [sin(arg), cos(arg)] (or [cos, sin] flipped), zero-padded when
 * dim is odd.
 */
#include "kernels/ref/ref.h"

#include <math.h>

void sdc_ref_timestep_embedding(sdc_context *ctx, const float *timesteps, int64_t n, int64_t dim,
                                const sdc_timestep_embedding_params *p, sdc_tensor *y)
{
    (void)ctx; /* a few thousand values: not worth the threads */
    int64_t half = dim / 2;
    /* torch casts the Python-double scalars to the tensor's float32 before the op. */
    float neg_log_period = (float)-log((double)p->max_period);
    float denominator = (float)((double)half - (double)p->downscale_freq_shift);
    for (int64_t i = 0; i < n; i++) {
        float *row = (float *)y->data + i * dim;
        float *first = row, *second = row + half;
        if (p->flip_sin_to_cos) {
            first = row + half;
            second = row;
        }
        for (int64_t k = 0; k < half; k++) {
            float exponent = neg_log_period * (float)k / denominator;
            float freq = expf(exponent);
            float arg = p->scale * (timesteps[i] * freq);
            first[k] = sinf(arg);
            second[k] = cosf(arg);
        }
        if (dim % 2 == 1)
            row[dim - 1] = 0.0f;
    }
}
