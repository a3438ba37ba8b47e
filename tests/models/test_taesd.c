/*
 * Tests src/models/taesd.c on the real taef2 (FLUX.2) weights in tests/data/taesd: encoder
 * and decoder against the upstream taesd.py outputs (shared/data/golden, copied here) within
 * 1e-3 abs, the exact scratch size, and the errors for missing, misshapen, unknown and
 * unexpected tensors. The 512 x 512 round trip is test_taesd_roundtrip.c (slow).
 */
#include "model_test.h"

#define TAESD_DIR SDC_TEST_DATA_DIR "/taesd/"
#define ENCODER   TAESD_DIR "taef2_encoder.safetensors"
#define DECODER   TAESD_DIR "taef2_decoder.safetensors"

static sdc_context *ctx;
static sdc_taesd *taesd;

static void test_config_from_tensors(void)
{
    const sdc_taesd_config *c = sdc_taesd_get_config(taesd);
    CHECK_EQ_INT(c->latent_channels, 32);
    CHECK_EQ_INT(c->channels, 64);
    CHECK(c->group_norm_blocks);
    CHECK(c->has_encoder && c->has_decoder);
}

static void test_encoder_matches_golden(void)
{
    mt_array in, ref;
    if (!mt_read_npy(ctx, TAESD_DIR "taef2_enc_in_1x3x64x64.npy", &in) ||
        !mt_read_npy(ctx, TAESD_DIR "taef2_enc_out_1x32x8x8.npy", &ref))
        return;
    mt_array got = mt_array4(ctx, 1, 32, 8, 8);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    sdc_status st = sdc_taesd_encode(ctx, taesd, &scratch, &in.t, &got.t);
    CHECK_MSG(st == SDC_STATUS_OK, "encode: %s", sdc_context_errmsg(ctx));
    MT_CHECK_CLOSE("taef2 encoder vs golden", &got.t, &ref.t, 1e-3);
    sdc_arena_release(&scratch);
    mt_array_free(&got);
    mt_array_free(&ref);
    mt_array_free(&in);
}

static void test_decoder_matches_golden(void)
{
    mt_array latent, ref;
    if (!mt_read_npy(ctx, TAESD_DIR "taef2_enc_out_1x32x8x8.npy", &latent) ||
        !mt_read_npy(ctx, TAESD_DIR "taef2_dec_out_1x3x64x64.npy", &ref))
        return;
    mt_array got = mt_array4(ctx, 1, 3, 64, 64);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    sdc_status st = sdc_taesd_decode(ctx, taesd, &scratch, &latent.t, &got.t);
    CHECK_MSG(st == SDC_STATUS_OK, "decode: %s", sdc_context_errmsg(ctx));
    MT_CHECK_CLOSE("taef2 decoder vs golden", &got.t, &ref.t, 1e-3);
    sdc_arena_release(&scratch);
    mt_array_free(&got);
    mt_array_free(&ref);
    mt_array_free(&latent);
}

/* A fixed arena of exactly the reported size runs both halves; one alignment unit
 * (SDC_ALIGN bytes) less does not. */
static void test_scratch_bytes_are_exact(void)
{
    mt_array image = mt_array4(ctx, 1, 3, 16, 24), latent = mt_array4(ctx, 1, 32, 2, 3);
    size_t enc_bytes = 0, dec_bytes = 0;
    CHECK(sdc_taesd_encode_scratch_bytes(ctx, taesd, &image.t, &latent.t, &enc_bytes) ==
          SDC_STATUS_OK);
    CHECK(sdc_taesd_decode_scratch_bytes(ctx, taesd, &latent.t, &image.t, &dec_bytes) ==
          SDC_STATUS_OK);
    CHECK(enc_bytes > 0 && dec_bytes > 0);
    CHECK(enc_bytes % SDC_ALIGN == 0 && dec_bytes % SDC_ALIGN == 0);
    for (int half = 0; half < 2; half++) {
        size_t bytes = half == 0 ? enc_bytes : dec_bytes;
        for (int tight = 0; tight < 2; tight++) {
            sdc_arena arena;
            if (sdc_arena_init_fixed(&arena, ctx, bytes - (size_t)tight * SDC_ALIGN) !=
                SDC_STATUS_OK) {
                CHECK_MSG(false, "fixed arena of %zu bytes", bytes);
                return;
            }
            sdc_status st = half == 0 ? sdc_taesd_encode(ctx, taesd, &arena, &image.t, &latent.t)
                                      : sdc_taesd_decode(ctx, taesd, &arena, &latent.t, &image.t);
            if (tight == 0)
                CHECK_MSG(st == SDC_STATUS_OK, "%s in %zu bytes: %s", half ? "decode" : "encode",
                          bytes, sdc_context_errmsg(ctx));
            else
                MT_CHECK_ERROR(ctx, st, SDC_STATUS_OUT_OF_MEMORY, "fixed arena", NULL);
            CHECK_EQ_INT(arena.used, 0); /* everything was released */
            sdc_arena_release(&arena);
        }
    }
    mt_array_free(&image);
    mt_array_free(&latent);
}

static void test_input_shapes(void)
{
    mt_array image = mt_array4(ctx, 1, 3, 20, 16), latent = mt_array4(ctx, 1, 32, 2, 2);
    mt_array rgba = mt_array4(ctx, 1, 4, 16, 16);
    sdc_arena scratch;
    sdc_arena_init(&scratch, ctx, 0);
    MT_CHECK_ERROR(ctx, sdc_taesd_encode(ctx, taesd, &scratch, &image.t, &latent.t),
                   SDC_STATUS_SHAPE, "multiple of 8", NULL);
    MT_CHECK_ERROR(ctx, sdc_taesd_encode(ctx, taesd, &scratch, &rgba.t, &latent.t),
                   SDC_STATUS_SHAPE, "[1, 4, 16, 16]", "[*, 3, *, *]");
    MT_CHECK_ERROR(ctx, sdc_taesd_decode(ctx, taesd, &scratch, &latent.t, &rgba.t),
                   SDC_STATUS_SHAPE, "[1, 4, 16, 16]", "[1, 3, 16, 16]");
    sdc_arena_release(&scratch);
    mt_array_free(&image);
    mt_array_free(&latent);
    mt_array_free(&rgba);
}

static sdc_status open_encoder(const char *path)
{
    sdc_taesd *t = NULL;
    sdc_status st = sdc_taesd_open(ctx, path, NULL, &t);
    CHECK((st == SDC_STATUS_OK) == (t != NULL));
    sdc_taesd_destroy(t);
    return st;
}

static void test_load_errors(void)
{
    const char *path = test_tmp_path("taesd_modified.safetensors");
    if (mt_write_modified(ctx, ENCODER, path, "12.conv.2.weight", NULL, 0, NULL, NULL))
        MT_CHECK_ERROR(ctx, open_encoder(path), SDC_STATUS_NOT_FOUND, "missing tensor",
                       "'12.conv.2.weight'");
    int64_t shape[2] = {2, 16};
    if (mt_write_modified(ctx, ENCODER, path, NULL, "14.bias", 2, shape, NULL))
        MT_CHECK_ERROR(ctx, open_encoder(path), SDC_STATUS_SHAPE, "'14.bias' has shape [2, 16]",
                       "expected [32]");
    if (mt_write_modified(ctx, ENCODER, path, NULL, NULL, 0, NULL, "17.bias"))
        MT_CHECK_ERROR(ctx, open_encoder(path), SDC_STATUS_UNSUPPORTED, "32x TAESD encoder", NULL);
    if (mt_write_modified(ctx, ENCODER, path, NULL, NULL, 0, NULL, "3.extra"))
        MT_CHECK_ERROR(ctx, open_encoder(path), SDC_STATUS_FORMAT, "'3.extra'", NULL);
    if (mt_write_modified(ctx, ENCODER, path, "14.weight", NULL, 0, NULL, NULL))
        MT_CHECK_ERROR(ctx, open_encoder(path), SDC_STATUS_FORMAT, "not a TAESD encoder", NULL);
    remove(path);

    sdc_taesd *t = NULL;
    MT_CHECK_ERROR(ctx, sdc_taesd_open(ctx, DECODER, DECODER, &t), SDC_STATUS_FORMAT,
                   "a TAESD decoder given as the encoder", NULL);
    CHECK(t == NULL);
    MT_CHECK_ERROR(ctx, sdc_taesd_open(ctx, ENCODER, ENCODER, &t), SDC_STATUS_FORMAT,
                   "a TAESD encoder given as the decoder", NULL);
    CHECK(t == NULL);
    MT_CHECK_ERROR(ctx, sdc_taesd_open(ctx, NULL, NULL, &t), SDC_STATUS_INVALID_ARGUMENT, "neither",
                   NULL);
}

static sdc_status open_any(sdc_context *c, const char *path, void **out)
{
    sdc_taesd *t = NULL;
    sdc_status st = sdc_taesd_open(c, path, DECODER, &t);
    *out = t;
    return st;
}

static void close_any(void *t)
{
    sdc_taesd_destroy(t);
}

/* Every allocation failure while loading is a clean error that leaks nothing. */
static void test_load_fault_injection(void)
{
    MT_CHECK_FAULT_INJECTION(ctx, ENCODER, open_any, close_any);
}

int main(void)
{
    ctx = mt_context();
    if (sdc_taesd_open(ctx, ENCODER, DECODER, &taesd) != SDC_STATUS_OK) {
        fprintf(stderr, "loading taef2: %s\n", sdc_context_errmsg(ctx));
        return 1;
    }
    RUN(test_config_from_tensors);
    RUN(test_encoder_matches_golden);
    RUN(test_decoder_matches_golden);
    RUN(test_scratch_bytes_are_exact);
    RUN(test_input_shapes);
    RUN(test_load_errors);
    RUN(test_load_fault_injection);
    sdc_taesd_destroy(taesd);
    sdc_context_destroy(ctx);
    return test_finish();
}
