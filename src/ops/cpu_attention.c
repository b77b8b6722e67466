/* cpu_attention.c — the CPU backend's attention op: scores, soft-cap, causal/sliding mask, softmax, weighted sum
 * of values.  Two ways, chosen by the block shape only (never by the thread
 * count, so results do not depend on it):
 *   - few new positions (n < ATTN_GEMM_MIN): one query row at a time, dot
 *     products in a fixed order; the loop over (sequence, head, position) is
 *     split across threads;
 *   - many: per (sequence, head) two single-threaded sgemm calls (oneDNN's,
 *     or OpenBLAS's in a build without it) give the scores against the cached
 *     and the new keys, then the masked softmax, then two more give the
 *     weighted values; (sequence, head) pairs are split across threads. */
#include <math.h>
#include <omp.h>
#include <cblas.h>
#include <stdlib.h>
#include "ops/cpu.h"
#ifdef CT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

/* C [M, N] (ldc) = A [M, K] (lda) · op(B) + beta C, row-major, one thread;
 * op(B) = Bᵀ (B [N, K]) when tb, else B [K, N]. */
static void gemm1(int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta, float *C,
                  int ldc)
{
#ifdef CT_HAVE_DNNL
    if (dnnl_sgemm('N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) == dnnl_success) return;
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

enum { ATTN_GEMM_MIN = 16 };   /* from this many new positions on, attention uses sgemm */

/* Softmax of row s[0..P) over the visible keys lo..p (others set to 0). */
static void softmax_row(float *s, int P, int lo, int p, float scale, float cap)
{
    float mx = -INFINITY;
    for (int j = lo; j <= p; j++) {
        float v = s[j] * scale;
        if (cap > 0) v = tanhf(v / cap) * cap;
        s[j] = v;
        if (v > mx) mx = v;
    }
    float sum = 0;
    #pragma omp simd
    for (int j = lo; j <= p; j++) s[j] = ct_cpu_expf(s[j] - mx);
    for (int j = lo; j <= p; j++) sum += s[j];
    float inv = 1.0f / sum;
    for (int j = 0; j < lo; j++) s[j] = 0;
    for (int j = lo; j <= p; j++) s[j] *= inv;
    for (int j = p + 1; j < P; j++) s[j] = 0;
}

static void attention_gemm(const ct_attn_shape *c, int window, int nb, int n, int p0,
                           const float *q, int q_stride,
                           const float *const *k_past, const float *const *v_past,
                           const float *const *k_new, const float *const *v_new,
                           float *ctx, float *scores, int nthreads)
{
    const int H = c->n_heads, hd = c->head_dim, KV = c->n_kv_heads * hd, group = H / c->n_kv_heads;
    const int P = p0 + n, QW = H * hd;
    #pragma omp parallel num_threads(nthreads)
    {
    omp_set_num_threads(1);   /* this task's nthreads-var: oneDNN runs each call on one thread */
    #pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < nb * H; bh++) {
        int b = bh / H, h = bh % H, kvh = h / group;
        float *S = scores + (size_t)omp_get_thread_num() * n * P;   /* [n, P] */
        const float *Q = q + (size_t)b * n * q_stride + (size_t)h * hd;
        if (p0 > 0) gemm1(1, n, p0, hd, Q, q_stride, k_past[b] + (size_t)kvh * hd, KV, 0.0f, S, P);
        gemm1(1, n, n, hd, Q, q_stride, k_new[b] + (size_t)kvh * hd, KV, 0.0f, S + p0, P);
        for (int i = 0; i < n; i++) {
            int p = p0 + i, lo = window ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
            softmax_row(S + (size_t)i * P, P, lo, p, c->scale, c->softcap);
        }
        float *O = ctx + (size_t)b * n * QW + (size_t)h * hd;
        if (p0 > 0) gemm1(0, n, hd, p0, S, P, v_past[b] + (size_t)kvh * hd, KV, 0.0f, O, QW);
        gemm1(0, n, hd, n, S + p0, P, v_new[b] + (size_t)kvh * hd, KV, p0 > 0 ? 1.0f : 0.0f, O, QW);
    }
    }
}

void ct_cpu_attention(const ct_backend *be, const ct_attn_shape *c, int nb, int n, int p0,
                      const float *q, int q_stride, const float *const *k_past, const float *const *v_past,
                      const float *const *k_new, const float *const *v_new, float *ctx)
{
    (void)be;
    const int H = c->n_heads, hd = c->head_dim, KV = c->n_kv_heads * hd, group = H / c->n_kv_heads;
    const int P = p0 + n, window = c->window, nthreads = omp_get_max_threads();
    const float scale = c->scale, cap = c->softcap;
    /* per-thread score rows: [nthreads, n, P] (gemm) or [nthreads, P] */
    float *scores = malloc((size_t)nthreads * (size_t)(n >= ATTN_GEMM_MIN ? n : 1) * (size_t)P * sizeof *scores);
    if (!scores) return;   /* see docs/ops.md: an op cannot fail; tests catch this */
    const long total = (long)nb * H * n;
    if (n >= ATTN_GEMM_MIN) {
        attention_gemm(c, window, nb, n, p0, q, q_stride, k_past, v_past, k_new, v_new, ctx, scores, nthreads);
        free(scores);
        return;
    }

    #pragma omp parallel for schedule(static) num_threads(nthreads) if (total > 1 && (long)total * P * hd > 20000)
    for (long idx = 0; idx < total; idx++) {
        int i = (int)(idx % n), h = (int)((idx / n) % H), b = (int)(idx / ((long)n * H));
        int p = p0 + i;                                   /* absolute position of the query */
        int lo = window ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
        int kvh = h / group;
        const float *qr = q + ((long)b * n + i) * q_stride + (long)h * hd;
        float *s = scores + (long)omp_get_thread_num() * P;
        for (int j = lo; j <= p; j++) {
            const float *k = (j < p0 ? k_past[b] + (long)j * KV : k_new[b] + (long)(j - p0) * KV) + (long)kvh * hd;
            s[j] = ct_cpu_dot(qr, k, hd);
        }
        softmax_row(s, P, lo, p, scale, cap);
        float *o = ctx + ((long)b * n + i) * ((long)H * hd) + (long)h * hd;
        for (int d = 0; d < hd; d++) o[d] = 0;
        for (int j = lo; j <= p; j++) {
            const float *v = (j < p0 ? v_past[b] + (long)j * KV : v_new[b] + (long)(j - p0) * KV) + (long)kvh * hd;
            float w = s[j];
            for (int d = 0; d < hd; d++) o[d] += w * v[d];
        }
    }
    free(scores);
}
