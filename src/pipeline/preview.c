/*
 * preview.c — cheap previews during denoising: a linear latent -> RGB projection per family,
 * the tables of data/latent_preview/latent_rgb_projections.json (from stable-diffusion.cpp,
 * MIT License, Copyright (c) 2023 leejet; see data/latent_preview/README.md).
 */
#include "pipeline/pipeline.h"

typedef struct preview_table {
    float proj[4][3]; /* [latent channel][r, g, b] */
    float bias[3];
} preview_table;

static const preview_table sd1_sd2 = {
    .proj = {{0.337366f, 0.216344f, 0.257386f},
             {0.165636f, 0.386828f, 0.046994f},
             {-0.267803f, 0.237036f, 0.223517f},
             {-0.178022f, -0.200862f, -0.678514f}},
    .bias = {-0.017478f, -0.055834f, -0.105825f},
};

static const preview_table sdxl = {
    .proj = {{0.258303f, 0.27764f, 0.329699f},
             {-0.299701f, 0.105446f, 0.014194f},
             {0.050522f, 0.186163f, -0.143257f},
             {-0.211938f, -0.149892f, -0.080036f}},
    .bias = {0.144381f, -0.033313f, 0.007061f},
};

void sdc_pipe_preview_table(sdc_family family, const float **proj, const float **bias)
{
    const preview_table *t =
        family == SDC_FAMILY_SDXL || family == SDC_FAMILY_SDXL_REFINER ? &sdxl : &sd1_sd2;
    *proj = &t->proj[0][0];
    *bias = t->bias;
}

void sdc_pipe_preview(const float *latents, int64_t n, int64_t h, int64_t w, const float *proj,
                      const float *bias, uint8_t *rgb)
{
    int64_t hw = h * w;
    for (int64_t i = 0; i < n; i++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                const float *z = latents + i * 4 * hw + y * w + x;
                uint8_t *px = rgb + (y * n * w + i * w + x) * 3;
                for (int c = 0; c < 3; c++) {
                    float v = bias[c];
                    for (int k = 0; k < 4; k++)
                        v += z[k * hw] * proj[k * 3 + c];
                    v = v * 0.5f + 0.5f;
                    v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
                    px[c] = (uint8_t)(v * 255.0f);
                }
            }
}
