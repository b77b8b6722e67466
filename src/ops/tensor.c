/* tensor.c — weight views and element access in the stored dtype. */
#include <math.h>
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif
#include "ops/ops.h"
#include "ops/cpu.h"

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

/* The hot loop of products with bf16/f16 weights (cpu.c converts each weight
 * block just before its sgemm call): written to vectorise. */
static void bf16_to_f32_n(const uint16_t *restrict h, uint32_t *restrict u, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) u[i] = (uint32_t)h[i] << 16;
}

static void f16_to_f32_n(const uint16_t *restrict h, float *restrict f, int64_t n)
{
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
#endif
    for (; i < n; i++) f[i] = ct_f16_to_f32(h[i]);
}

void ct_tensor_read_f32(const ct_tensor *t, int64_t i0, int64_t n, float *dst)
{
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case CT_BF16: bf16_to_f32_n((const uint16_t *)(d + 2 * i0), (uint32_t *)dst, n); break;
    case CT_F16: f16_to_f32_n((const uint16_t *)(d + 2 * i0), dst, n); break;
    default: memcpy(dst, d + 4 * i0, (size_t)n * 4); break;
    }
}

/* Round to nearest even on the bits, NaN made quiet: the same as
 * ct_f32_to_bf16, branch-free so that the loops vectorise. */
static inline uint32_t bf16_bits(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r;
}

void ct_round_bf16(const float *restrict src, uint16_t *restrict dst, long n)
{
    const uint32_t *u = (const uint32_t *)src;
    #pragma omp simd
    for (long i = 0; i < n; i++) dst[i] = (uint16_t)bf16_bits(u[i]);
}

void ct_round_bf16_f32(const float *src, float *dst, long n)
{
    const uint32_t *u = (const uint32_t *)src;
    uint32_t *d = (uint32_t *)dst;
    #pragma omp simd
    for (long i = 0; i < n; i++) d[i] = bf16_bits(u[i]) << 16;
}

void ct_tensor_read_bf16(const ct_tensor *t, int64_t i0, int64_t n, uint16_t *dst)
{
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case CT_BF16: memcpy(dst, d + 2 * i0, (size_t)n * 2); break;
    case CT_F32: ct_round_bf16((const float *)(d + 4 * i0), dst, n); break;
    default:
        for (int64_t i = 0; i < n; i++) dst[i] = ct_f32_to_bf16(ct_f16_to_f32(((const uint16_t *)(d + 2 * i0))[i]));
        break;
    }
}

void ct_rope_fill(const float *inv_freq, int half, int p0, int n, float *cos_sin)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < half; i++) {
            float a = (float)(p0 + j) * inv_freq[i];   /* float32 product, as transformers */
            cos_sin[(size_t)j * 2 * half + i] = (float)cos((double)a);
            cos_sin[(size_t)j * 2 * half + half + i] = (float)sin((double)a);
        }
}
