/*
 * Tests src/convert/quantize.c: int8 per output channel is symmetric (scale = max |row| / 127,
 * values in [-127, 127], the row's largest magnitude exact up to float rounding), rounds half to
 * even like numpy, decodes exactly to q * scale through the kernels, stays within half a step of
 * every value, stores an all-zero row as zeros, and refuses NaN and infinities naming the tensor.
 */
#include "convert/convert.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static sdc_context *ctx;

static void test_symmetric_per_row(void)
{
    enum { ROWS = 5, LEN = 257 };
    static float v[ROWS * LEN], out[ROWS * LEN], scale[ROWS];
    static int8_t q[ROWS * LEN];
    uint64_t s = 7;
    for (int i = 0; i < ROWS * LEN; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * (float)(1 + i / LEN);
    }
    for (int i = 0; i < LEN; i++)
        v[3 * LEN + i] = 0.0f; /* an all-zero row */
    double sse = -1;
    CHECK(sdc_quantize_int8(ctx, "w", v, ROWS, LEN, q, scale, &sse) == SDC_STATUS_OK);
    int64_t shape[2] = {ROWS, LEN};
    sdc_weight w = sdc_weight_int8(q, scale, 2, shape);
    double err = 0;
    for (int r = 0; r < ROWS; r++) {
        sdc_weight_decode(&w, r, 0, LEN, out + r * LEN);
        float max_abs = 0;
        for (int i = 0; i < LEN; i++)
            max_abs = fabsf(v[r * LEN + i]) > max_abs ? fabsf(v[r * LEN + i]) : max_abs;
        CHECK(scale[r] == (float)(max_abs / 127.0));
        bool ok = true, hit_max = false;
        for (int i = 0; i < LEN; i++) {
            int qi = q[r * LEN + i];
            ok = ok && qi >= -127 && qi <= 127 && out[r * LEN + i] == (float)qi * scale[r];
            /* half a step, plus the float rounding of the scale and of q * scale */
            ok = ok && fabs((double)v[r * LEN + i] - out[r * LEN + i]) <=
                           0.5 * scale[r] + 0x1p-22 * fabs(v[r * LEN + i]);
            hit_max = hit_max || qi == 127 || qi == -127;
            err += ((double)v[r * LEN + i] - out[r * LEN + i]) *
                   ((double)v[r * LEN + i] - out[r * LEN + i]);
        }
        CHECK_MSG(ok, "row %d: values in range, decoded exactly, within half a step", r);
        CHECK_MSG(r == 3 ? scale[r] == 0.0f : hit_max, "row %d uses the full range", r);
    }
    CHECK(fabs(err - sse) <= 1e-9 * (1 + err));
}

static void test_rounds_half_to_even(void)
{
    /* scale 1: values 2.5 and -0.5 and 1.5 round to 2, -0, 2 (numpy.round). */
    float v[4] = {127.0f, 2.5f, -0.5f, 1.5f}, scale[1];
    int8_t q[4];
    double sse;
    CHECK(sdc_quantize_int8(ctx, "w", v, 1, 4, q, scale, &sse) == SDC_STATUS_OK);
    CHECK(scale[0] == 1.0f);
    CHECK(q[0] == 127 && q[1] == 2 && q[2] == 0 && q[3] == 2);
}

static void test_non_finite_refused(void)
{
    float v[6] = {0, 1, 2, 3, 4, 5}, scale[2];
    int8_t q[6];
    double sse;
    v[4] = NAN;
    CHECK_EQ_INT(sdc_quantize_int8(ctx, "mid_block.proj.weight", v, 2, 3, q, scale, &sse),
                 SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "mid_block.proj.weight");
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "NaN at element 4");
    v[4] = -INFINITY;
    CHECK_EQ_INT(sdc_quantize_int8(ctx, "w", v, 2, 3, q, scale, &sse), SDC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "infinity");
}

int main(void)
{
    if (sdc_context_create(NULL, &ctx) != SDC_STATUS_OK)
        return 2;
    RUN(test_symmetric_per_row);
    RUN(test_rounds_half_to_even);
    RUN(test_non_finite_refused);
    sdc_context_destroy(ctx);
    return test_finish();
}
