/*
 * Acceptance test of real trained weights under compression (issue 8, point 2): the TAEF2
 * decoder of tests/data/taesd, written by sdc_convert_component 6-bit palettized, 4-bit
 * palettized and int8, decodes the astronaut latent (shared/data/golden, copied to
 * tests/data/taesd) through the compressed weights directly; 6-bit and int8 must stay at or
 * above 40 dB PSNR (the seed project's formula) against the float32 decoder of the source
 * weights. Set SDC_TEST_VERBOSE to print the measured values. Slow: five 512 x 512 decodes.
 */
#include "convert/convert.h"
#include "models/model_test.h"

#include <stdio.h>
#include <stdlib.h>

#define TAESD_DIR SDC_TEST_DATA_DIR "/taesd/"
#define DECODER   TAESD_DIR "taef2_decoder.safetensors"
#define LATENT    TAESD_DIR "taef2_astronaut_latent_1x32x64x64.npy"

static sdc_context *ctx;
static mt_array latent, reference;

static bool decode_with(sdc_taesd *t, mt_array *image)
{
    *image = mt_array4(ctx, 1, 3, 512, 512);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    sdc_status st = sdc_taesd_decode(ctx, t, &scratch, &latent.t, &image->t);
    sdc_arena_release(&scratch);
    CHECK_MSG(st == SDC_STATUS_OK, "decode: %s", sdc_context_errmsg(ctx));
    return st == SDC_STATUS_OK;
}

/* Converts the decoder with `policy`, decodes with it, returns the PSNR against the source. */
static double psnr_of(const char *what, const sdc_component_policy *policy, double *bits_per_weight)
{
    sdc_store *src = NULL;
    double psnr = -1.0;
    const char *path = test_tmp_path(what);
    sdc_component_summary sum;
    if (sdc_store_open_file(ctx, DECODER, &src) != SDC_STATUS_OK ||
        sdc_convert_component(ctx, src, "taesd_decoder", policy, path, &sum) != SDC_STATUS_OK) {
        CHECK_MSG(false, "%s: %s", what, sdc_context_errmsg(ctx));
        sdc_store_destroy(src);
        return psnr;
    }
    sdc_store_destroy(src);
    *bits_per_weight = 8.0 * (double)sum.compressed_bytes / (double)sum.compressed_parameters;
    sdc_store *store = NULL;
    sdc_taesd *t = NULL;
    mt_array image;
    if (sdc_store_open_file(ctx, path, &store) == SDC_STATUS_OK &&
        sdc_taesd_load(ctx, NULL, store, &t) == SDC_STATUS_OK && decode_with(t, &image)) {
        psnr = sdc_psnr(reference.data, image.data, (size_t)(3 * 512 * 512));
        mt_array_free(&image);
    } else {
        CHECK_MSG(false, "%s: %s", what, sdc_context_errmsg(ctx));
    }
    sdc_taesd_destroy(t);
    return psnr;
}

static void test_compressed_decoders_keep_40_db(void)
{
    sdc_component_policy palette6 = {.dtype = SDC_DTYPE_F16,
                                     .compression = SDC_COMPRESSION_PALETTE,
                                     .bits = 6,
                                     .palette_groups = 1,
                                     .min_elements = 2048};
    sdc_component_policy palette4 = palette6, int8 = palette6;
    palette4.bits = 4;
    int8.compression = SDC_COMPRESSION_INT8;
    double bpw6 = 0, bpw4 = 0, bpw8 = 0;
    double p6 = psnr_of("taesd6.safetensors", &palette6, &bpw6);
    double p8 = psnr_of("taesd_int8.safetensors", &int8, &bpw8);
    double p4 = psnr_of("taesd4.safetensors", &palette4, &bpw4);
    CHECK_MSG(p6 >= 40.0, "6-bit palettized TAEF2 decoder: %.2f dB", p6);
    CHECK_MSG(p8 >= 40.0, "int8 TAEF2 decoder: %.2f dB", p8);
    CHECK_MSG(p4 > 20.0 && p4 < p6, "4-bit palettized TAEF2 decoder: %.2f dB", p4);
    CHECK(bpw6 < 6.1 && bpw4 < 4.1 && bpw8 < 8.2);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr,
                "  TAEF2 decoder vs float32: 6-bit %.2f dB (%.3f bits/weight), int8 %.2f dB "
                "(%.3f), 4-bit %.2f dB (%.3f)\n",
                p6, bpw6, p8, bpw8, p4, bpw4);
}

/* An f32 conversion of the f16 source is the same decoder, bit for bit. */
static void test_f32_conversion_is_exact(void)
{
    sdc_component_policy f32 = {.dtype = SDC_DTYPE_F32, .min_elements = 2048};
    double bpw = 0;
    double p = psnr_of("taesd_f32.safetensors", &f32, &bpw);
    CHECK_MSG(p > 190.0, "f32 copy: %.2f dB (identical outputs give 200 dB)", p);
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    sdc_taesd *source = NULL;
    if (!mt_read_npy(ctx, LATENT, &latent) ||
        sdc_taesd_open(ctx, NULL, DECODER, &source) != SDC_STATUS_OK ||
        !decode_with(source, &reference)) {
        CHECK_MSG(false, "reference decode: %s", sdc_context_errmsg(ctx));
        return test_finish();
    }
    sdc_taesd_destroy(source);
    RUN(test_compressed_decoders_keep_40_db);
    RUN(test_f32_conversion_is_exact);
    mt_array_free(&reference);
    mt_array_free(&latent);
    sdc_context_destroy(ctx);
    return test_finish();
}
