/* cpu.h — what the CPU backend's files share (internal to src/ops). */
#ifndef CT_OPS_CPU_H
#define CT_OPS_CPU_H
#include "ops/ops.h"

/* Dot product with a fixed summation order. */
float ct_cpu_dot(const float *a, const float *b, int n);

/* The attention op (cpu_attention.c). */
void ct_cpu_attention(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0,
                      const float *q, int q_ld, const float *const *k_past, const float *const *v_past,
                      const float *const *k_new, const float *const *v_new, float *ctx);
#endif
