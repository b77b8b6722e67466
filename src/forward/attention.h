/* attention.h — causal multi-head attention over cached and new keys/values. */
#ifndef CT_ATTENTION_H
#define CT_ATTENTION_H
#include "ctrace.h"

/* For nb sequences of n new positions starting at p0:
 *   q       [nb*n, q_stride]  queries (rotary applied), head h at column h*hd
 *   k_past[b], v_past[b] [p0, KV];  k_new[b], v_new[b] [n, KV]
 *   ctx     [nb*n, H*hd]      written: softmax(scale q·k) v per head
 *   scores  scratch of ct_attention_scratch(n, p0, nthreads) floats
 * layer selects the sliding window on families that alternate it. */
enum { ATTN_GEMM_MIN = 16 };   /* from this many new positions on, attention uses sgemm */
size_t ct_attention_scratch(int n, int p0, int nthreads);
void ct_attention(const struct ct_config *c, int layer, int nb, int n, int p0,
                  const float *q, int q_stride,
                  const float *const *k_past, const float *const *v_past,
                  const float *const *k_new, const float *const *v_new,
                  float *ctx, float *scores, int nthreads);
#endif
