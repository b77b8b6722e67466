/* ops.h — the few numeric kernels a transformer block needs (CPU, float32).
 * Every kernel computes each output element on one thread in a fixed order,
 * so results do not depend on the thread count. */
#ifndef CT_OPS_H
#define CT_OPS_H
#include "ctrace.h"

/* Y [R, out] = X [R, in] · W [out, in]ᵀ (+ b [out] when not NULL), via sgemm. */
void ct_linear(int R, int in, int out, const float *X, const float *W, const float *b, float *Y);
/* The same with X's rows ldx floats apart. */
void ct_linear_ld(int R, int in, int out, const float *X, int ldx, const float *W, const float *b, float *Y);

/* y [R, D] = norm(x [R, D]) with weight w [D] and bias b [D] (LayerNorm only;
 * b may be NULL); y may equal x. */
void ct_norm(ct_norm_kind kind, float eps, int R, int D, const float *x, const float *w, const float *b, float *y);

/* In place on x [n]. */
void ct_activate(ct_act act, float *x, long n);

/* Rotary embedding of nheads heads of one row at position pos, in place.
 * x points at head 0; heads are hd apart; the first rotary_dim dims of each
 * head rotate, as adjacent pairs (interleaved) or as halves. */
void ct_rope_row(float *x, int nheads, int hd, int rotary_dim, int interleaved,
                 const float *inv_freq, int pos);

/* Dot product with a fixed summation order. */
float ct_dot(const float *a, const float *b, int n);
#endif
