/* cpu.h — what the CPU backend's files share (internal to src/ops). */
#ifndef CT_OPS_CPU_H
#define CT_OPS_CPU_H
#include <math.h>
#include <stdint.h>
#include "ops/ops.h"

/* The kernels of the products (cpu_linear.c). */
typedef enum ct_cpu_gemm {
    CT_GEMM_DNNL,   /* oneDNN dnnl_sgemm, float32 (OpenBLAS in a build without oneDNN) */
    CT_GEMM_BLAS,   /* OpenBLAS cblas_sgemm, float32 */
    CT_GEMM_BF16    /* oneDNN matmul, bf16 x bf16 -> f32 */
} ct_cpu_gemm;
/* Y [R, out] (ldy) = X [R, in] (ldx) · Wᵀ (+ b), in fixed column blocks. */
void ct_cpu_linear(ct_cpu_gemm g, int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y, int ldy);
/* "oneDNN 2.6.3 dnnl_sgemm", "OpenBLAS cblas_sgemm", ... */
const char *ct_cpu_gemm_name(ct_cpu_gemm g);
/* The token_probs_linear op (ops.h) on kernel g. */
void ct_cpu_token_probs_linear(ct_cpu_gemm g, int R, const float *X, const ct_tensor *W, const float *b, float cap,
                               int k, const int32_t *tok, float *out);

/* Rounding to bf16 (to nearest even, NaN kept), written to vectorise:
 * dst [n] = bf16(src), and the same values held in float32 (dst may be src). */
void ct_round_bf16(const float *src, uint16_t *dst, long n);
void ct_round_bf16_f32(const float *src, float *dst, long n);
/* dst [n] = elements [i0, i0 + n) of a host tensor, rounded to bf16 (exact for BF16). */
void ct_tensor_read_bf16(const ct_tensor *t, int64_t i0, int64_t n, uint16_t *dst);

/* e^x in float32 for loops that should vectorise (glibc's expf has no vector
 * form without -ffast-math): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two
 * parts of ln2), e^r by its Taylor series to r^7 (truncation below 6e-9
 * relative, under half an ulp), times 2^n built in the exponent bits.
 * Within 2 ulp of the exact value over the normal range (tests/test_ops.c
 * measures it against exp in double); below -87.3 it gives 0 (expf: a
 * denormal under 1.2e-38), above 88.7 +inf; NaN stays NaN. */
static inline float ct_cpu_expf(float x)
{
    const float hi = 88.7228f, lo = -87.3365f;
    float xc = x > hi ? hi : x < lo ? lo : x;
    xc = xc == xc ? xc : 0.0f;   /* NaN: any finite stand-in (the result is x below) */
    /* round to nearest (even) by adding and removing 1.5 · 2^23: vectorises,
     * unlike roundevenf (the default rounding mode; no -ffast-math here) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n for n in [-126, 128]: n = 128 (only at the top of the range) as 2 · 2^127 */
    int ni = (int)n, top = ni > 127;
    uint32_t su = (uint32_t)((ni - top) + 127) << 23;
    float sc;
    __builtin_memcpy(&sc, &su, sizeof sc);
    float y = p * sc * (top ? 2.0f : 1.0f);
    y = x < lo ? 0.0f : y;
    y = x > hi ? __builtin_inff() : y;
    return x != x ? x : y;
}

/* The softmax statistics of one row z [n] (token_probs, token_probs_linear):
 * returns its max m and sets *sum = Σ exp(z − m) in double, summed in the
 * vector lanes' fixed order (set by the build, not by the threads). */
static inline float ct_cpu_row_max_sumexp(const float *z, int n, double *sum)
{
    float m = z[0];
    #pragma omp simd reduction(max: m)
    for (int v = 1; v < n; v++) m = z[v] > m ? z[v] : m;
    double s = 0;
    #pragma omp simd reduction(+: s)
    for (int v = 0; v < n; v++) s += (double)ct_cpu_expf(z[v] - m);
    *sum = s;
    return m;
}

/* Soft-capping of one value: tanh(v / cap) · cap (softcap, token_probs_linear). */
static inline float ct_cpu_softcap1(float v, float cap) { return tanhf(v / cap) * cap; }

/* The attention op (cpu_attention.c). */
void ct_cpu_attention(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0,
                      const float *q, int q_ld, const float *const *k_past, const float *const *v_past,
                      const float *const *k_new, const float *const *v_new, float *ctx);
#endif
