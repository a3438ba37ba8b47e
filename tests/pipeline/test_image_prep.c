/*
 * Images to tensors and back (src/pipeline/image_prep.c) as diffusers' VaeImageProcessor:
 * [-1, 1] scaling, gray and RGBA made RGB, masks to gray with Pillow's luma, binarized at 0.5,
 * a resize when the size differs, and numpy_to_pil's rounding (half to even, clamped, NaN 0).
 */
#include "pipeline_test.h"

static sdc_context *ctx;

static void test_image_to_tensor(void)
{
    /* 2x1 RGBA: alpha dropped */
    uint8_t px[8] = {0, 128, 255, 7, 255, 0, 51, 200};
    sdc_image im = {.width = 2, .height = 1, .channels = 4, .pixels = px};
    float t[6];
    CHECK(sdc_pipe_image_to_tensor(ctx, &im, 2, 1, t) == SDC_STATUS_OK);
    /* [3, 1, 2] planes: R = (0, 255), G = (128, 0), B = (255, 51) */
    CHECK(t[0] == -1.0f && t[1] == 1.0f);
    CHECK(t[2] == 2.0f * (128.0f / 255.0f) - 1.0f && t[3] == -1.0f);
    CHECK(t[4] == 1.0f && t[5] == 2.0f * (51.0f / 255.0f) - 1.0f);
    /* gray replicated */
    uint8_t g[2] = {0, 255};
    sdc_image gray = {.width = 2, .height = 1, .channels = 1, .pixels = g};
    CHECK(sdc_pipe_image_to_tensor(ctx, &gray, 2, 1, t) == SDC_STATUS_OK);
    CHECK(t[0] == -1.0f && t[1] == 1.0f && t[2] == -1.0f && t[3] == 1.0f && t[4] == -1.0f &&
          t[5] == 1.0f);
    /* another size: resized (a flat image stays flat) */
    uint8_t flat[16 * 12 * 3];
    memset(flat, 255, sizeof flat);
    sdc_image big = {.width = 16, .height = 12, .channels = 3, .pixels = flat};
    float r[3 * 8 * 8];
    CHECK(sdc_pipe_image_to_tensor(ctx, &big, 8, 8, r) == SDC_STATUS_OK);
    bool all_one = true;
    for (int i = 0; i < 3 * 64; i++)
        all_one = all_one && r[i] == 1.0f;
    CHECK(all_one);
}

static void test_mask_to_tensor(void)
{
    /* Pillow's L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16; 127 -> 0.498 -> 0, 128 -> 1 */
    uint8_t px[4 * 3] = {127, 127, 127, 128, 128, 128, 255, 0, 0, 0, 255, 0};
    sdc_image im = {.width = 4, .height = 1, .channels = 3, .pixels = px};
    float t[4];
    CHECK(sdc_pipe_mask_to_tensor(ctx, &im, 4, 1, t) == SDC_STATUS_OK);
    /* red: L 76 -> 0; green: L 150 -> 1 */
    CHECK(t[0] == 0.0f && t[1] == 1.0f && t[2] == 0.0f && t[3] == 1.0f);
    uint8_t l[2] = {127, 128};
    sdc_image gray = {.width = 2, .height = 1, .channels = 1, .pixels = l};
    CHECK(sdc_pipe_mask_to_tensor(ctx, &gray, 2, 1, t) == SDC_STATUS_OK);
    CHECK(t[0] == 0.0f && t[1] == 1.0f);
    sdc_image bad = {.width = 2, .height = 1, .channels = 2, .pixels = l};
    CHECK_EQ_INT(sdc_pipe_mask_to_tensor(ctx, &bad, 2, 1, t), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "mask");
}

static void test_tensor_to_rgb8(void)
{
    /* [3, 1, 4] planes: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128 (half to even), beyond [-1, 1]
     * clamped, NaN -> 0 */
    float chw[12] = {-1.0f, 1.0f, 0.0f, 3.0f, -5.0f, NAN, 0.0f, 0.0f, 1.0f, 1.0f, -1.0f, -1.0f};
    uint8_t rgb[12];
    sdc_pipe_tensor_to_rgb8(chw, 1, 4, rgb);
    const uint8_t want[12] = {0, 0, 255, 255, 0, 255, 128, 128, 0, 255, 128, 0};
    CHECK(memcmp(rgb, want, sizeof want) == 0);
    /* 2.5 / 255 -> 2.5 rounds to 2 (even); 3.5 -> 4 */
    float v[6] = {2.0f * (2.5f / 255.0f) - 1.0f, 2.0f * (3.5f / 255.0f) - 1.0f, 0, 0, 0, 0};
    uint8_t o[6];
    sdc_pipe_tensor_to_rgb8(v, 1, 2, o);
    CHECK(o[0] == 2 || o[0] == 3); /* v*255 lands within an ulp of x.5 */
    CHECK(o[3] == 4 || o[3] == 3);
}

static void test_preview(void)
{
    const float *proj, *bias;
    sdc_pipe_preview_table(SDC_FAMILY_SD1, &proj, &bias);
    CHECK(proj[0] == 0.337366f && bias[2] == -0.105825f);
    /* Two 1x1 latents side by side: zero gives the bias; a large value saturates. */
    float lat[8] = {0, 0, 0, 0, 10, 10, 10, 10};
    uint8_t rgb[6];
    sdc_pipe_preview(lat, 2, 1, 1, proj, bias, rgb);
    for (int c = 0; c < 3; c++) {
        float v = bias[c] * 0.5f + 0.5f;
        CHECK_EQ_INT(rgb[c], (uint8_t)(v * 255.0f));
    }
    /* image 1: sums of the columns times 10 */
    for (int c = 0; c < 3; c++) {
        float s = bias[c];
        for (int k = 0; k < 4; k++)
            s += 10.0f * proj[k * 3 + c];
        float v = s * 0.5f + 0.5f;
        v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
        CHECK_EQ_INT(rgb[3 + c], (uint8_t)(v * 255.0f));
    }
    sdc_pipe_preview_table(SDC_FAMILY_SDXL, &proj, &bias);
    CHECK(proj[0] == 0.258303f);
}

int main(void)
{
    ctx = pt_context();
    RUN(test_image_to_tensor);
    RUN(test_mask_to_tensor);
    RUN(test_tensor_to_rgb8);
    RUN(test_preview);
    sdc_context_destroy(ctx);
    return test_finish();
}
