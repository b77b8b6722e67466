/* kv_only.c — the keys and values of one layer, without the rest of the block.
 *
 * At the last layer a restored run needs full block outputs only at the
 * scored positions; the positions between t and the last prompt position
 * matter there only through their keys and values.  ctrace.h has no entry
 * point for that, so this file computes them with the forward module's own
 * kernels and weights (its internal headers): norm 1, the key/value rows of
 * the fused q/k/v matrix, rotary on the keys — what ct_block does before
 * attention.  Saves the attention and MLP of those rows (about a fifth of the
 * benchmark FLOPs).  If the forward module grows a keys/values-only call, this
 * file should become a call to it. */
#include <string.h>
#include "model/model.h"
#include "forward/ops.h"
#include "trace/trace_internal.h"

int tr_block_kv(tr_ctx *c, int layer, int nb, int n, int p0, const float *x, float *k, float *v, ct_err *err)
{
    const ct_model *m = c->m;
    const struct ct_config *cf = &m->cfg;
    float *const *w = m->w[layer];
    const int D = cf->d_model, hd = cf->head_dim, QW = cf->n_heads * hd, KV = c->KV;
    const long R = (long)nb * n;
    float *h = ct_scratch_get(&c->ws, (size_t)R * (D + 2 * KV));
    if (!h) return ct_fail(err, "trace: out of memory (keys/values)");
    float *kv = h + R * D;                                   /* [R, 2·KV] */
    ct_norm(cf->norm, cf->norm_eps, (int)R, D, x, w[S_NORM1_W], w[S_NORM1_B], h);
    ct_linear((int)R, D, 2 * KV, h, w[S_QKV] + (size_t)QW * D, w[S_QKV_B] ? w[S_QKV_B] + QW : NULL, kv);
    for (long r = 0; r < R; r++) {
        float *row = kv + r * 2 * KV;
        if (cf->rope != CT_ROPE_NONE)
            ct_rope_row(row, cf->n_kv_heads, hd, cf->rotary_dim, cf->rope_interleaved, m->inv_freq, p0 + (int)(r % n));
        memcpy(k + r * KV, row, (size_t)KV * sizeof *k);
        memcpy(v + r * KV, row + KV, (size_t)KV * sizeof *v);
    }
    c->r->kv_rows += (double)R;
    return 0;
}
