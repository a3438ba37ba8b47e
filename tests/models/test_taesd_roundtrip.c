/*
 * Tests the taef2 encoder and decoder (src/models/taesd.c) end to end: astronaut.png at
 * 512 x 512 encoded and decoded again reaches at least 30 dB PSNR after clamping to [0, 1]
 * and rounding to 8 bits (the upstream taesd.py reaches 31.19 dB on the same image,
 * shared/data/taesd/ARCHITECTURE.md section 8). A separate executable because it is slow: a
 * few hundred GFLOP through the reference kernels.
 */
#include "model_test.h"

static void test_astronaut_round_trip(void)
{
    sdc_context *ctx = mt_context();
    sdc_taesd *taesd = NULL;
    sdc_image img = {0};
    sdc_status st = sdc_taesd_open(ctx, SDC_TEST_DATA_DIR "/taesd/taef2_encoder.safetensors",
                                   SDC_TEST_DATA_DIR "/taesd/taef2_decoder.safetensors", &taesd);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    st = sdc_image_read(ctx, SDC_TEST_DATA_DIR "/images/astronaut.png", 3, &img, NULL);
    CHECK_MSG(st == SDC_STATUS_OK, "%s", sdc_context_errmsg(ctx));
    if (!taesd || !img.pixels)
        goto done;
    CHECK_EQ_INT(img.width, 512);
    CHECK_EQ_INT(img.height, 512);
    int64_t H = img.height, W = img.width, HW = H * W;
    mt_array image = mt_array4(ctx, 1, 3, H, W), out = mt_array4(ctx, 1, 3, H, W);
    mt_array latent = mt_array4(ctx, 1, 32, H / 8, W / 8);
    for (int64_t i = 0; i < HW; i++)
        for (int c = 0; c < 3; c++)
            image.data[c * HW + i] = img.pixels[3 * i + c] / 255.0f;

    size_t enc_bytes = 0, dec_bytes = 0;
    CHECK(sdc_taesd_encode_scratch_bytes(ctx, taesd, &image.t, &latent.t, &enc_bytes) ==
          SDC_STATUS_OK);
    CHECK(sdc_taesd_decode_scratch_bytes(ctx, taesd, &latent.t, &out.t, &dec_bytes) ==
          SDC_STATUS_OK);
    sdc_arena scratch;
    CHECK(sdc_arena_init_fixed(&scratch, ctx, enc_bytes > dec_bytes ? enc_bytes : dec_bytes) ==
          SDC_STATUS_OK);
    double t0 = sdc_time_s();
    st = sdc_taesd_encode(ctx, taesd, &scratch, &image.t, &latent.t);
    CHECK_MSG(st == SDC_STATUS_OK, "encode: %s", sdc_context_errmsg(ctx));
    double t1 = sdc_time_s();
    st = sdc_taesd_decode(ctx, taesd, &scratch, &latent.t, &out.t);
    CHECK_MSG(st == SDC_STATUS_OK, "decode: %s", sdc_context_errmsg(ctx));
    double t2 = sdc_time_s();
    sdc_arena_release(&scratch);

    double se = 0;
    for (int64_t i = 0; i < HW; i++)
        for (int c = 0; c < 3; c++) {
            float v = out.data[c * HW + i];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            double q = floor(255.0 * v + 0.5) - img.pixels[3 * i + c];
            se += q * q;
        }
    double psnr = 10.0 * log10(255.0 * 255.0 / (se / (double)(3 * HW)));
    CHECK_MSG(psnr >= 30.0, "round-trip PSNR %.2f dB < 30 dB", psnr);
    if (getenv("SDC_TEST_VERBOSE"))
        fprintf(stderr,
                "  taef2 512x512 round trip: PSNR %.2f dB; encode %.1f s (%.1f MB scratch), "
                "decode %.1f s (%.1f MB scratch), %d threads\n",
                psnr, t1 - t0, enc_bytes / 1e6, t2 - t1, dec_bytes / 1e6,
                sdc_context_n_threads(ctx));
    mt_array_free(&image);
    mt_array_free(&out);
    mt_array_free(&latent);
done:
    sdc_image_free(ctx, &img);
    sdc_taesd_destroy(taesd);
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_astronaut_round_trip);
    return test_finish();
}
