/* tensor.c — weight views and element access in the stored dtype. */
#include <string.h>
#include "ops/ops.h"

ct_tensor ct_tensor_2d(ct_dtype dt, void *data, int64_t rows, int64_t cols)
{
    ct_tensor t = {.dtype = dt, .device = CT_DEVICE_CPU, .data = data};
    if (cols) {
        t.ndim = 2;
        t.shape[0] = rows; t.shape[1] = cols;
        t.stride[0] = cols; t.stride[1] = 1;
    } else {
        t.ndim = 1;
        t.shape[0] = rows;
        t.stride[0] = 1;
    }
    return t;
}

ct_tensor ct_tensor_rows(const ct_tensor *t, int64_t r0, int64_t n)
{
    ct_tensor v = *t;
    v.data = (char *)t->data + (size_t)(r0 * t->stride[0]) * ct_dtype_size(t->dtype);
    v.shape[0] = n;
    return v;
}

float ct_tensor_get(const ct_tensor *t, int64_t i)
{
    const unsigned char *d = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case CT_BF16: memcpy(&h, d + 2 * i, 2); return ct_bf16_to_f32(h);
    case CT_F16: memcpy(&h, d + 2 * i, 2); return ct_f16_to_f32(h);
    default: memcpy(&f, d + 4 * i, 4); return f;
    }
}

void ct_tensor_read_f32(const ct_tensor *t, int64_t i0, int64_t n, float *dst)
{
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case CT_BF16: {
        /* a shift per element: written so the compiler vectorises it */
        const uint16_t *h = (const uint16_t *)(d + 2 * i0);
        uint32_t *u = (uint32_t *)dst;
        for (int64_t i = 0; i < n; i++) u[i] = (uint32_t)h[i] << 16;
        break;
    }
    case CT_F16: {
        const uint16_t *h = (const uint16_t *)(d + 2 * i0);
        for (int64_t i = 0; i < n; i++) dst[i] = ct_f16_to_f32(h[i]);
        break;
    }
    default: memcpy(dst, d + 4 * i0, (size_t)n * 4); break;
    }
}
