/*
 * convert_test.h — checks shared by the converter's tests: a converted tensor reads back as its
 * source rounded to the bundle's dtype, as the nearest entry of its group's palette (to the
 * source rounded to float16), or within half an int8 step.
 */
#ifndef SDC_TESTS_CONVERT_CONVERT_TEST_H
#define SDC_TESTS_CONVERT_CONVERT_TEST_H

#include "convert/convert.h"
#include "models/model_test.h"

#include <math.h>
#include <stdlib.h>

static inline float *values_of(const sdc_store *s, const sdc_store_entry *e)
{
    float *v = malloc(sizeof(float) * (size_t)sdc_store_entry_numel(e));
    CHECK(sdc_store_entry_floats(s, e, v) == SDC_STATUS_OK);
    return v;
}

static inline float round_dtype(sdc_dtype dtype, float v)
{
    if (dtype == SDC_DTYPE_F16)
        return sdc_f16_to_f32(sdc_f32_to_f16(v));
    if (dtype == SDC_DTYPE_BF16)
        return sdc_bf16_to_f32(sdc_f32_to_bf16(v));
    return v;
}

/* Every value of a palettized weight is the palette entry of its group nearest to the source
 * value rounded to float16. */
static inline bool nearest_entries(const sdc_store_entry *e, const float *src, const float *got)
{
    int64_t rows = e->shape[0], len = sdc_store_entry_numel(e) / rows, K = (int64_t)1 << e->bits;
    float pal[256];
    for (int64_t r = 0; r < rows; r++) {
        int64_t g = r / e->rows_per_group;
        int64_t pshape[2] = {e->palette->shape[0], K};
        sdc_weight p = sdc_weight_dense(e->palette->data, e->palette->dtype, 2, pshape);
        sdc_weight_decode(&p, g, 0, K, pal);
        for (int64_t i = 0; i < len; i++) {
            /* The palette is sorted: the nearest entry is next to where h would go. */
            double h = sdc_f16_to_f32(sdc_f32_to_f16(src[r * len + i]));
            int64_t lo = 0, hi = K;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (pal[mid] < h)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            double best = INFINITY;
            for (int64_t c = lo - 1; c <= lo; c++)
                if (c >= 0 && c < K && fabs(h - pal[c]) < best)
                    best = fabs(h - pal[c]);
            if (fabs(h - got[r * len + i]) != best)
                return false;
        }
    }
    return true;
}

static inline bool within_int8_step(const sdc_store_entry *e, const float *src, const float *got)
{
    int64_t rows = e->shape[0], len = sdc_store_entry_numel(e) / rows;
    const float *scale = e->scale->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < len; i++)
            /* half a step, plus the float rounding of the scale and of q * scale */
            if (fabs((double)src[r * len + i] - got[r * len + i]) >
                0.5 * scale[r] + 0x1p-22 * fabs(src[r * len + i]))
                return false;
    return true;
}

/* Whether converted entry b reads back as source entry a (of store sa) should under policy p:
 * the same name and shape, compressed exactly when the policy says, and values as stated. */
static inline bool ct_entry_reads_back(const sdc_store *sa, const sdc_store_entry *a,
                                       const sdc_store *sb, const sdc_store_entry *b,
                                       const sdc_component_policy *p)
{
    int bits;
    bool expect = sdc_convert_compressible(p, a, &bits);
    bool ok = strcmp(a->name, b->name) == 0 && a->ndim == b->ndim &&
              memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
              (b->storage != SDC_ST_STORAGE_DENSE) == expect;
    sdc_dtype d = a->tensor->dtype;
    if (ok && a->storage == SDC_ST_STORAGE_DENSE && d != SDC_DTYPE_F32 && d != SDC_DTYPE_F16 &&
        d != SDC_DTYPE_BF16)
        return b->tensor->dtype == d &&
               memcmp(a->tensor->data, b->tensor->data, sdc_st_nbytes(a->tensor)) == 0;
    if (!ok)
        return false;
    float *va = values_of(sa, a), *vb = values_of(sb, b);
    int64_t n = sdc_store_entry_numel(a);
    if (b->storage == SDC_ST_STORAGE_PALETTE)
        ok = b->bits == bits && nearest_entries(b, va, vb);
    else if (b->storage == SDC_ST_STORAGE_INT8)
        ok = within_int8_step(b, va, vb);
    else
        for (int64_t j = 0; ok && j < n; j++)
            ok = vb[j] == round_dtype(p->dtype, va[j]);
    free(va);
    free(vb);
    return ok;
}

#endif /* SDC_TESTS_CONVERT_CONVERT_TEST_H */
