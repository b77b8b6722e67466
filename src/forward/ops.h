/* ops.h — the few numeric kernels a transformer block needs (CPU, float32).
 * Every kernel computes each output element on one thread in a fixed order,
 * so results do not depend on the thread count. */
#ifndef CT_OPS_H
#define CT_OPS_H
#include "ctrace.h"

/* Y [R, out] = X [R, in] · W [out, in]ᵀ (+ b [out] when not NULL), via sgemm
 * on fixed blocks of CT_LINEAR_BLOCK output columns, one single-threaded sgemm
 * call each.  A product over columns [c0, out) of the same W with c0 a multiple
 * of CT_LINEAR_BLOCK therefore makes exactly the same calls for those columns,
 * and gives bit-identical values (ct_block_kv relies on this). */
enum { CT_LINEAR_BLOCK = 128 };
void ct_linear(int R, int in, int out, const float *X, const float *W, const float *b, float *Y);
/* The same with X's rows ldx floats apart. */
void ct_linear_ld(int R, int in, int out, const float *X, int ldx, const float *W, const float *b, float *Y);

/* y [R, D] = norm(x [R, D]) with weight w [D] and bias b [D] (LayerNorm only;
 * b may be NULL); y may equal x. */
void ct_norm(ct_norm_kind kind, float eps, int R, int D, const float *x, const float *w, const float *b, float *y);

/* In place on x [n]. */
void ct_activate(ct_act act, float *x, long n);

/* Rotary tables for positions p0..p0+n-1: cs, sn [n, half] = cos, sin of
 * pos · inv_freq[i] (half = rotary_dim / 2).  Computed once per block call and
 * shared by every sequence and head at a position. */
void ct_rope_table(const float *inv_freq, int half, int p0, int n, float *cs, float *sn);

/* Rotary embedding of nheads heads of one row, in place, with one position's
 * table rows cs, sn [rotary_dim / 2] from ct_rope_table.  x points at head 0;
 * heads are hd apart; the first rotary_dim dims of each head rotate, as
 * adjacent pairs (interleaved) or as halves. */
void ct_rope_row(float *x, int nheads, int hd, int rotary_dim, int interleaved,
                 const float *cs, const float *sn);

/* Dot product with a fixed summation order. */
float ct_dot(const float *a, const float *b, int n);
#endif
