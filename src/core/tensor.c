/*
 * tensor.c — element types (the safetensors set) and strided views of up to four dims.
 * A view never owns memory; whoever made the memory frees it.
 */
#include "core/core.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_traits[] = {
    [SDC_DTYPE_F64] = {"F64", 8},   [SDC_DTYPE_F32] = {"F32", 4},
    [SDC_DTYPE_F16] = {"F16", 2},   [SDC_DTYPE_BF16] = {"BF16", 2},
    [SDC_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [SDC_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [SDC_DTYPE_I64] = {"I64", 8},   [SDC_DTYPE_I32] = {"I32", 4},
    [SDC_DTYPE_I16] = {"I16", 2},   [SDC_DTYPE_I8] = {"I8", 1},
    [SDC_DTYPE_U64] = {"U64", 8},   [SDC_DTYPE_U32] = {"U32", 4},
    [SDC_DTYPE_U16] = {"U16", 2},   [SDC_DTYPE_U8] = {"U8", 1},
    [SDC_DTYPE_BOOL] = {"BOOL", 1},
};
static_assert(sizeof dtype_traits / sizeof dtype_traits[0] == SDC_DTYPE_COUNT,
              "one entry per dtype");

size_t sdc_dtype_size(sdc_dtype dtype)
{
    assert((unsigned)dtype < SDC_DTYPE_COUNT);
    return dtype_traits[dtype].size;
}

const char *sdc_dtype_name(sdc_dtype dtype)
{
    if ((unsigned)dtype >= SDC_DTYPE_COUNT)
        return "?";
    return dtype_traits[dtype].name;
}

bool sdc_dtype_from_name(const char *name, size_t len, sdc_dtype *out)
{
    for (int i = 0; i < SDC_DTYPE_COUNT; i++) {
        const char *n = dtype_traits[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            *out = (sdc_dtype)i;
            return true;
        }
    }
    return false;
}

sdc_tensor sdc_tensor_make(void *data, sdc_dtype dtype, int ndim, const int64_t *shape)
{
    assert(ndim >= 0 && ndim <= SDC_TENSOR_MAX_DIMS);
    sdc_tensor t = {.data = data, .dtype = dtype, .ndim = ndim};
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = stride;
        stride *= shape[i];
    }
    return t;
}

int64_t sdc_tensor_numel(const sdc_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t sdc_tensor_nbytes(const sdc_tensor *t)
{
    return (size_t)sdc_tensor_numel(t) * sdc_dtype_size(t->dtype);
}

bool sdc_tensor_is_contiguous(const sdc_tensor *t)
{
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != stride)
            return false;
        stride *= t->shape[i];
    }
    return true;
}

bool sdc_tensor_same_shape(const sdc_tensor *a, const sdc_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

void *sdc_tensor_at(const sdc_tensor *t, const int64_t *index)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        assert(index[i] >= 0 && index[i] < t->shape[i]);
        off += index[i] * t->stride[i];
    }
    return (unsigned char *)t->data + off * (int64_t)sdc_dtype_size(t->dtype);
}

sdc_tensor sdc_tensor_slice(const sdc_tensor *t, int dim, int64_t begin, int64_t end)
{
    assert(dim >= 0 && dim < t->ndim);
    assert(0 <= begin && begin <= end && end <= t->shape[dim]);
    sdc_tensor s = *t;
    s.data = (unsigned char *)t->data +
             begin * t->stride[dim] * (int64_t)sdc_dtype_size(t->dtype);
    s.shape[dim] = end - begin;
    return s;
}

sdc_tensor sdc_tensor_transpose(const sdc_tensor *t, int d0, int d1)
{
    assert(d0 >= 0 && d0 < t->ndim && d1 >= 0 && d1 < t->ndim);
    sdc_tensor s = *t;
    s.shape[d0] = t->shape[d1];
    s.shape[d1] = t->shape[d0];
    s.stride[d0] = t->stride[d1];
    s.stride[d1] = t->stride[d0];
    return s;
}

bool sdc_tensor_reshape(const sdc_tensor *t, int ndim, const int64_t *shape, sdc_tensor *out)
{
    if (ndim < 0 || ndim > SDC_TENSOR_MAX_DIMS || !sdc_tensor_is_contiguous(t))
        return false;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        n *= shape[i];
    }
    if (n != sdc_tensor_numel(t))
        return false;
    *out = sdc_tensor_make(t->data, t->dtype, ndim, shape);
    return true;
}

char *sdc_shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t pos = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    int n = snprintf(buf, size, "[");
    pos = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && pos < size; i++) {
        n = snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    if (pos < size)
        snprintf(buf + pos, size - pos, "]");
    return buf;
}
