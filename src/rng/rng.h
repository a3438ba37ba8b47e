/*
 * rng.h — random sources that reproduce, value for value, the streams other Stable Diffusion
 * tools draw their noise from, so that a seed means the same image as it does there:
 *
 *   numpy   numpy's legacy RandomState (Apple's pipeline, numpy-seeded scripts)
 *   torch   torch's CPU generator, torch.Generator("cpu") (diffusers, ComfyUI)
 *   philox  torch's CUDA generator, Philox4x32-10 through curand (AUTOMATIC1111 "GPU" seeds)
 *
 * A source is a small stateful handle: seeded once, then each sdc_rng_normal call is exactly
 * ONE randn call of the reference tool over n elements. The count matters: torch switches to a
 * 16-wide path from 16 elements up, numpy carries a cached Box-Muller value from one call into
 * the next, and the Philox offset advances per call. So a latent of [1, 4, 64, 64] must be
 * drawn with one call of n = 16384, not in pieces.
 *
 * This layer does not shape, scale or place noise (that is the scheduler's and the pipeline's
 * business), offers no other distributions, and is not cryptographic. A handle is used by one
 * thread at a time; different handles are independent.
 */
#ifndef SDC_RNG_RNG_H
#define SDC_RNG_RNG_H

#include "core/core.h"

typedef enum sdc_rng_kind {
    SDC_RNG_KIND_NUMPY,  /* np.random.RandomState(seed) */
    SDC_RNG_KIND_TORCH,  /* torch.Generator("cpu").manual_seed(seed) */
    SDC_RNG_KIND_PHILOX, /* torch.Generator("cuda").manual_seed(seed) */
    SDC_RNG_KIND_COUNT
} sdc_rng_kind;

typedef struct sdc_rng sdc_rng;

/* Creates a source seeded with `seed`. numpy accepts seeds in [0, 2**32 - 1] only (as
 * RandomState does) and fails with SDC_STATUS_INVALID_ARGUMENT above; torch and philox accept
 * every 64-bit seed (torch's negative seeds are these values modulo 2**64). On failure *out is
 * NULL and the context holds the message. */
sdc_status sdc_rng_create(sdc_context *ctx, sdc_rng_kind kind, uint64_t seed, sdc_rng **out);
void sdc_rng_destroy(sdc_rng *rng);

sdc_rng_kind sdc_rng_get_kind(const sdc_rng *rng);
uint64_t sdc_rng_get_seed(const sdc_rng *rng);

/* One randn call of n standard normal float32 values, as the reference draws them for a
 * float32 tensor of n elements:
 *   numpy   RandomState.randn(n) (float64) cast to float32;
 *   torch   torch.randn(n, generator=g, dtype=torch.float32) with the AVX2/AVX-512 kernels;
 *   philox  torch.randn(n, generator=g, device="cuda", dtype=torch.float32).
 * n == 0 draws nothing. */
sdc_status sdc_rng_normal(sdc_rng *rng, float *out, size_t n);

/* One call of n uniform float32 values in [0, 1):
 *   numpy   RandomState.random_sample(n) cast to float32;
 *   torch   torch.rand(n, generator=g, dtype=torch.float32);
 *   philox  torch.rand(n, generator=g, device="cuda", dtype=torch.float32). */
sdc_status sdc_rng_uniform(sdc_rng *rng, float *out, size_t n);

/* The same calls for float64 tensors (numpy's native randn and random_sample; torch's float64
 * randn and rand, which draw 53-bit uniforms). Philox fails with SDC_STATUS_UNSUPPORTED: its
 * float64 paths (curand_normal2_double, curand_uniform2_double) are not reproduced. */
sdc_status sdc_rng_normal_f64(sdc_rng *rng, double *out, size_t n);
sdc_status sdc_rng_uniform_f64(sdc_rng *rng, double *out, size_t n);

/* Philox only: the CUDA device whose launch configuration to reproduce. torch launches
 * min(ceil(n / 256), multiprocessor_count * (max_threads_per_multiprocessor / 256)) blocks of
 * 256 threads, so tensors larger than 256 * that many blocks depend on the device. The
 * default is an unlimited grid, which equals every device for tensors below its limit (e.g.
 * 125952 elements on an RTX 3090: 82 SMs x 1536 threads). Fails for other kinds or zero. */
sdc_status sdc_rng_set_cuda_device(sdc_rng *rng, uint32_t multiprocessor_count,
                                   uint32_t max_threads_per_multiprocessor);

/* Test instrumentation: `fn` is called after every draw of `rng` (sdc_rng_normal and the
 * other three calls) with the values just drawn, so a test can check the count, sizes, order
 * and values of the draws a pipeline makes without reading its code. NULL removes it. The
 * observer must not use `rng`. */
typedef enum sdc_rng_call {
    SDC_RNG_CALL_NORMAL,      /* values are float */
    SDC_RNG_CALL_UNIFORM,     /* float */
    SDC_RNG_CALL_NORMAL_F64,  /* double */
    SDC_RNG_CALL_UNIFORM_F64, /* double */
    SDC_RNG_CALL_COUNT
} sdc_rng_call;

typedef void (*sdc_rng_observer_fn)(void *user, sdc_rng_call call, const void *values, size_t n);

void sdc_rng_set_observer(sdc_rng *rng, sdc_rng_observer_fn fn, void *user);

/* "numpy", "torch", "philox". */
const char *sdc_rng_kind_name(sdc_rng_kind kind);
/* Also accepts "cpu" for torch and "cuda"/"gpu" for philox; false when unknown. */
bool sdc_rng_kind_from_name(const char *name, sdc_rng_kind *out);

#endif /* SDC_RNG_RNG_H */
