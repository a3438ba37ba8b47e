/*
 * Tests dtype traits and tensor views: contiguous strides, slicing, transposing, reshaping.
 */
#include "core/core.h"
#include "test.h"

static void test_dtypes(void)
{
    for (int i = 0; i < SDC_DTYPE_COUNT; i++) {
        const char *name = sdc_dtype_name((sdc_dtype)i);
        sdc_dtype back;
        CHECK(sdc_dtype_from_name(name, strlen(name), &back));
        CHECK_EQ_INT(back, i);
        CHECK(sdc_dtype_size((sdc_dtype)i) >= 1);
    }
    sdc_dtype d;
    CHECK(!sdc_dtype_from_name("F3", 2, &d));
    CHECK(!sdc_dtype_from_name("f32", 3, &d));
    CHECK(!sdc_dtype_from_name("F32 ", 4, &d));
    CHECK(sdc_dtype_from_name("F32xyz", 3, &d) && d == SDC_DTYPE_F32);
    CHECK_EQ_INT(sdc_dtype_size(SDC_DTYPE_BF16), 2);
    CHECK_EQ_INT(sdc_dtype_size(SDC_DTYPE_I64), 8);
}

static void test_views(void)
{
    float data[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    int64_t shape[3] = {2, 3, 4};
    sdc_tensor t = sdc_tensor_make(data, SDC_DTYPE_F32, 3, shape);
    CHECK_EQ_INT(sdc_tensor_numel(&t), 24);
    CHECK_EQ_INT(sdc_tensor_nbytes(&t), 96);
    CHECK_EQ_INT(t.stride[0], 12);
    CHECK_EQ_INT(t.stride[2], 1);
    CHECK(sdc_tensor_is_contiguous(&t));
    int64_t idx[3] = {1, 2, 3};
    CHECK(*(float *)sdc_tensor_at(&t, idx) == 23.0f);

    sdc_tensor s = sdc_tensor_slice(&t, 1, 1, 3);
    CHECK_EQ_INT(s.shape[1], 2);
    CHECK(!sdc_tensor_is_contiguous(&s));
    int64_t i0[3] = {0, 0, 0};
    CHECK(*(float *)sdc_tensor_at(&s, i0) == 4.0f);

    sdc_tensor tr = sdc_tensor_transpose(&t, 1, 2);
    CHECK_EQ_INT(tr.shape[1], 4);
    int64_t i1[3] = {1, 3, 2};
    CHECK(*(float *)sdc_tensor_at(&tr, i1) == 23.0f);
    CHECK(!sdc_tensor_is_contiguous(&tr));

    sdc_tensor r;
    int64_t flat[2] = {6, 4};
    CHECK(sdc_tensor_reshape(&t, 2, flat, &r));
    CHECK_EQ_INT(r.shape[0], 6);
    int64_t bad[2] = {5, 4};
    CHECK(!sdc_tensor_reshape(&t, 2, bad, &r));
    CHECK(!sdc_tensor_reshape(&tr, 2, flat, &r));
    CHECK(sdc_tensor_same_shape(&t, &t));
    CHECK(!sdc_tensor_same_shape(&t, &tr));

    char buf[64];
    CHECK_EQ_STR(sdc_shape_str(3, shape, buf, sizeof buf), "[2, 3, 4]");
    CHECK_EQ_STR(sdc_shape_str(0, shape, buf, sizeof buf), "[]");
    char small[5];
    sdc_shape_str(3, shape, small, sizeof small);
    CHECK_EQ_INT(strlen(small), 4);

    /* size-1 dims may have any stride and still be contiguous */
    int64_t one[2] = {1, 5};
    sdc_tensor o = sdc_tensor_make(data, SDC_DTYPE_F32, 2, one);
    o.stride[0] = 999;
    CHECK(sdc_tensor_is_contiguous(&o));
}

int main(void)
{
    RUN(test_dtypes);
    RUN(test_views);
    return test_finish();
}
