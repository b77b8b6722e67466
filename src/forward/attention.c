/* attention.c — one query row at a time: scores, soft-cap, causal/sliding
 * mask, softmax, weighted sum of values.  Rows are independent, so the loop
 * over (sequence, head, position) is split across threads without changing
 * any result. */
#include <math.h>
#include <omp.h>
#include "attention.h"
#include "ops.h"

void ct_attention(const struct ct_config *c, int layer, int nb, int n, int p0,
                  const float *q, int q_stride,
                  const float *const *k_past, const float *const *v_past,
                  const float *const *k_new, const float *const *v_new,
                  float *ctx, float *scores, int nthreads)
{
    const int H = c->n_heads, hd = c->head_dim, KV = c->n_kv_heads * hd, group = H / c->n_kv_heads;
    const int P = p0 + n;
    const int window = (c->sliding_window > 0 && (!c->sliding_every_other || layer % 2 == 0)) ? c->sliding_window : 0;
    const float scale = c->attn_scale, cap = c->attn_softcap;
    const long total = (long)nb * H * n;

    #pragma omp parallel for schedule(static) num_threads(nthreads) if (total > 1 && (long)total * P * hd > 20000)
    for (long idx = 0; idx < total; idx++) {
        int i = (int)(idx % n), h = (int)((idx / n) % H), b = (int)(idx / ((long)n * H));
        int p = p0 + i;                                   /* absolute position of the query */
        int lo = window ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
        int kvh = h / group;
        const float *qr = q + ((long)b * n + i) * q_stride + (long)h * hd;
        float *s = scores + (long)omp_get_thread_num() * P;
        float mx = -INFINITY;
        for (int j = lo; j <= p; j++) {
            const float *k = (j < p0 ? k_past[b] + (long)j * KV : k_new[b] + (long)(j - p0) * KV) + (long)kvh * hd;
            float v = ct_dot(qr, k, hd) * scale;
            if (cap > 0) v = tanhf(v / cap) * cap;
            s[j] = v;
            if (v > mx) mx = v;
        }
        float sum = 0;
        for (int j = lo; j <= p; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
        float inv = 1.0f / sum;
        float *o = ctx + ((long)b * n + i) * ((long)H * hd) + (long)h * hd;
        for (int d = 0; d < hd; d++) o[d] = 0;
        for (int j = lo; j <= p; j++) {
            const float *v = (j < p0 ? v_past[b] + (long)j * KV : v_new[b] + (long)(j - p0) * KV) + (long)kvh * hd;
            float w = s[j] * inv;
            for (int d = 0; d < hd; d++) o[d] += w * v[d];
        }
    }
}
