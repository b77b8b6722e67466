/* cpu_attention.c — the CPU backend's attention op: scores, soft-cap,
 * causal/sliding mask, softmax, weighted sum of values.
 *
 * One way for every shape.  Work is split into tasks of one (sequence, key/
 * value head); a task copies that head's keys, cached and new, transposed
 * into a per-thread panel Kt [hd, Pp] (Pp = P rounded up to AJ, zero past P),
 * then for each query head of the group takes the query rows AR at a time:
 * the scores of AR rows against AJ keys are AR × AJ running sums, each
 * q[d] · Kt[d, j] added in order d = 0 .. hd−1, so no horizontal sums are
 * needed and the compiler keeps them in vector registers.  Softmax and the
 * weighted sum of values (in order of the key j) follow row by row.
 *
 * Sequences that share their cached keys (the fast engine's branches of one
 * noise sample) are ordered next to each other and split across threads in
 * contiguous runs, so a thread transposes those keys once per run and only
 * the new keys per task.
 *
 * Every score, softmax and output of a query row is computed by the same
 * code whatever the block shape (n, p0, nb), the thread count or the other
 * rows of its block (a short last block repeats its first row, whose results
 * are not stored): attention is batch-invariant, like the products. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ops/cpu.h"

enum { AR = 4, AJ = 16 };      /* query rows × keys of one score block (score_block names its 4 rows) */

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

/* Sixteen floats in vector registers (GCC's vector extension: one zmm with
 * AVX-512, two ymm with AVX2); this file is built with -ffp-contract=fast, so
 * a·b + c below is one fused multiply-add. */
typedef float v16 __attribute__((vector_size(AJ * sizeof(float))));
static inline v16 v16_load(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }

/* S[r][j0 .. j0+AJ) = q[r] · Kt[:, j0 .. j0+AJ) for r < AR; Kt [hd, Pp]. */
static void score_block(const float *const q[AR], const float *Kt, int Pp, int hd, int j0, float *S, int lds)
{
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};     /* AR = 4 rows, named so they stay in registers */
    const float *k = Kt + j0;
    for (int d = 0; d < hd; d++, k += Pp) {
        const v16 kd = v16_load(k);
        a0 += q[0][d] * kd; a1 += q[1][d] * kd; a2 += q[2][d] * kd; a3 += q[3][d] * kd;
    }
    memcpy(S + j0, &a0, sizeof a0);
    memcpy(S + (size_t)lds + j0, &a1, sizeof a1);
    memcpy(S + 2 * (size_t)lds + j0, &a2, sizeof a2);
    memcpy(S + 3 * (size_t)lds + j0, &a3, sizeof a3);
}

/* o [hd] = Σ_{j = lo..p} s[j] · V(j), in order of j; V(j) [hd] is key j's
 * value row.  Four vectors of o at a time stay in registers. */
static void weighted_sum(const float *s, int lo, int p, int p0, const float *vp, const float *vn, int KV, int hd,
                         float *o)
{
    int d0 = 0;
    for (; d0 + 4 * AJ <= hd; d0 += 4 * AJ) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int j = lo; j <= p; j++) {
            const float *v = (j < p0 ? vp + (size_t)j * KV : vn + (size_t)(j - p0) * KV) + d0;
            const float w = s[j];
            a0 += w * v16_load(v); a1 += w * v16_load(v + AJ); a2 += w * v16_load(v + 2 * AJ); a3 += w * v16_load(v + 3 * AJ);
        }
        memcpy(o + d0, &a0, sizeof a0); memcpy(o + d0 + AJ, &a1, sizeof a1);
        memcpy(o + d0 + 2 * AJ, &a2, sizeof a2); memcpy(o + d0 + 3 * AJ, &a3, sizeof a3);
    }
    for (; d0 + AJ <= hd; d0 += AJ) {
        v16 a0 = {0};
        for (int j = lo; j <= p; j++)
            a0 += s[j] * v16_load((j < p0 ? vp + (size_t)j * KV : vn + (size_t)(j - p0) * KV) + d0);
        memcpy(o + d0, &a0, sizeof a0);
    }
    for (int d = d0; d < hd; d++) {
        float a = 0;
        for (int j = lo; j <= p; j++) a += s[j] * (j < p0 ? vp + (size_t)j * KV : vn + (size_t)(j - p0) * KV)[d];
        o[d] = a;
    }
}

/* One task: sequence b, key/value head kvh, all n query rows of its heads.
 * Kt [hd, Pp] and S [AR, Pp] are the thread's scratch. */
static void attention_task(const ct_attn_shape *c, int b, int kvh, int n, int p0, const float *q, int q_ld,
                           const float *const *k_past, const float *const *v_past, const float *const *k_new,
                           const float *const *v_new, float *ctx, float *Kt, float *S, int past_ready)
{
    const int H = c->n_heads, hd = c->head_dim, KV = c->n_kv_heads * hd, group = H / c->n_kv_heads;
    const int P = p0 + n, Pp = (P + AJ - 1) / AJ * AJ, QW = H * hd, window = c->window;
    for (int j = past_ready ? p0 : 0; j < P; j++) {
        const float *k = (j < p0 ? k_past[b] + (size_t)j * KV : k_new[b] + (size_t)(j - p0) * KV) + (size_t)kvh * hd;
        for (int d = 0; d < hd; d++) Kt[(size_t)d * Pp + j] = k[d];
    }
    for (int d = 0; d < hd; d++)
        for (int j = P; j < Pp; j++) Kt[(size_t)d * Pp + j] = 0;
    const float *vpb = p0 > 0 ? v_past[b] + (size_t)kvh * hd : NULL;     /* this head's cached values */
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int i0 = 0; i0 < n; i0 += AR) {
            const int rows = n - i0 < AR ? n - i0 : AR;
            const float *qr[AR];
            for (int r = 0; r < AR; r++)
                qr[r] = q + ((size_t)b * n + i0 + (r < rows ? r : 0)) * q_ld + (size_t)h * hd;
            /* keys any row of the block sees: lo of the first row .. p of the last */
            const int plast = p0 + i0 + rows - 1, pfirst = p0 + i0;
            const int lo0 = window && pfirst - window + 1 > 0 ? pfirst - window + 1 : 0;
            for (int j0 = lo0 / AJ * AJ; j0 <= plast; j0 += AJ) score_block(qr, Kt, Pp, hd, j0, S, Pp);
            for (int r = 0; r < rows; r++) {
                const int p = p0 + i0 + r, lo = window && p - window + 1 > 0 ? p - window + 1 : 0;
                float *s = S + (size_t)r * Pp;
                softmax_row(s, P, lo, p, c->scale, c->softcap);
                weighted_sum(s, lo, p, p0, vpb, v_new[b] + (size_t)kvh * hd, KV, hd,
                             ctx + ((size_t)b * n + i0 + r) * QW + (size_t)h * hd);
            }
        }
    }
}

void ct_cpu_attention(const ct_backend *be, const ct_attn_shape *c, int nb, int n, int p0,
                      const float *q, int q_ld, const float *const *k_past, const float *const *v_past,
                      const float *const *k_new, const float *const *v_new, float *ctx)
{
    (void)be;
    const int KVH = c->n_kv_heads, hd = c->head_dim, P = p0 + n, Pp = (P + AJ - 1) / AJ * AJ;
    const long tasks = (long)nb * KVH;
    const int nthreads = tasks > 1 && (long)nb * c->n_heads * n * P * hd > 20000 ? omp_get_max_threads() : 1;
    const size_t per = (size_t)hd * Pp + (size_t)AR * Pp;       /* Kt [hd, Pp] and S [AR, Pp] */
    float *scratch = malloc((size_t)nthreads * per * sizeof *scratch);
    int *ord = malloc((size_t)nb * sizeof *ord);                /* [nb] sequences by cache */
    if (!scratch || !ord) { free(scratch); free(ord); return; }   /* see docs/ops.md: an op cannot fail */
    /* Sequences sharing a cache (the fast engine's branches of one noise
     * sample) are taken one after another, so a thread transposes the cached
     * keys once per run of them (stable insertion sort by the cache's address). */
    for (int b = 0; b < nb; b++) {
        int i = b;
        while (i > 0 && (uintptr_t)k_past[ord[i - 1]] > (uintptr_t)k_past[b]) { ord[i] = ord[i - 1]; i--; }
        ord[i] = b;
    }
    #pragma omp parallel num_threads(nthreads)
    {
        float *Kt = scratch + (size_t)omp_get_thread_num() * per;
        long last = -1;                 /* the task whose cached keys Kt holds */
        #pragma omp for schedule(static)
        for (long t = 0; t < tasks; t++) {
            const int kvh = (int)(t / nb), b = ord[t % nb];
            const int ready = p0 > 0 && last >= 0 && last / nb == kvh && k_past[ord[last % nb]] == k_past[b];
            attention_task(c, b, kvh, n, p0, q, q_ld, k_past, v_past, k_new, v_new, ctx, Kt, Kt + (size_t)hd * Pp,
                           ready);
            last = t;
        }
    }
    free(scratch);
    free(ord);
}
