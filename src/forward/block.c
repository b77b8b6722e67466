/* block.c — one transformer block for every family, the embeddings, the
 * output head, and a whole forward pass built from exactly these pieces.
 *
 * Family differences are config data (src/model): which norm, sequential or
 * parallel residual, post-sublayer norms, rotary style, gated MLP, biases.
 * The intervention sites are called in the order the tracing engine relies
 * on: ATTN before the attention output is used, MLP before the MLP output is
 * used, HIDDEN on the block output. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "model/model.h"
#include "ops.h"
#include "attention.h"

void ct_set_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(1);   /* ctrace parallelises around BLAS: see ops.c */
    omp_set_num_threads(n);
}

float *ct_scratch_get(ct_scratch *s, size_t nfloats)
{
    if (nfloats == 0) nfloats = 1;
    if (s->cap < nfloats) {
        free(s->buf);
        s->buf = malloc(nfloats * sizeof(float));
        s->cap = s->buf ? nfloats : 0;
    }
    return s->buf;
}

void ct_scratch_free(ct_scratch *s)
{
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

void ct_embed_tokens(const ct_model *m, const int32_t *ids, int n, float *out)
{
    const int D = m->cfg.d_model, V = m->cfg.vocab;
    for (int i = 0; i < n; i++) {
        if (ids[i] >= 0 && ids[i] < V) memcpy(out + (long)i * D, m->g[G_EMB] + (long)ids[i] * D, (size_t)D * sizeof(float));
        else memset(out + (long)i * D, 0, (size_t)D * sizeof(float));   /* ct_forward rejects these */
    }
}

void ct_embed_finish(const ct_model *m, int p0, int n, float *x)
{
    const int D = m->cfg.d_model;
    if (m->cfg.learned_positions)
        for (int i = 0; i < n && p0 + i < m->cfg.max_positions; i++) {
            const float *pe = m->g[G_POS] + (long)(p0 + i) * D;
            float *xr = x + (long)i * D;
            for (int d = 0; d < D; d++) xr[d] += pe[d];
        }
    if (m->cfg.scale_embeddings) {
        /* gemma: the normaliser sqrt(D) is rounded to the activations' dtype first */
        float s = (float)sqrt((double)D);
        for (long k = 0; k < (long)n * D; k++) x[k] *= s;
    }
}

/* The MLP: out [R, D] = down(act(gate(h)) * up(h)) or down(act(up(h))). */
static void mlp(const ct_model *m, int layer, int R, const float *h, float *up, float *out)
{
    const struct ct_config *c = &m->cfg;
    float *const *w = m->w[layer];
    const int D = c->d_model, F = c->d_ff, UW = c->gated_mlp ? 2 * F : F;
    ct_linear(R, D, UW, h, w[S_UP], w[S_UP_B], up);
    if (c->gated_mlp) {
        /* act(gate) * up, packed into the first F columns of each row */
        #pragma omp parallel for schedule(static) if ((long)R * F > 65536)
        for (int r = 0; r < R; r++) {
            float *g = up + (long)r * UW;
            ct_activate(c->act, g, F);
            for (int f = 0; f < F; f++) g[f] *= g[F + f];
        }
        ct_linear_ld(R, F, D, up, UW, w[S_DOWN], w[S_DOWN_B], out);
    } else {
        ct_activate(c->act, up, (long)R * F);
        ct_linear(R, F, D, up, w[S_DOWN], w[S_DOWN_B], out);
    }
    if (c->post_norms) ct_norm(c->norm, c->norm_eps, R, D, out, w[S_POST_MLP_W], NULL, out);
}

/* The attention inputs, the part of a block ct_block and ct_block_kv share,
 * for the R = nb·n rows of x_in [nb, n, D]:
 *   h    [R, D]          written: norm 1 of x_in
 *   qkv  [R, QKVW - c0]  written: columns [c0, QKVW) of h · S_QKVᵀ (+ bias), rotary
 *                        applied to the key heads, and to the query heads if queries
 *   rope [2, n, rotary_dim/2]  scratch for the rotary tables of positions p0..p0+n-1
 *   k_new[b], v_new[b] [n, KV] written: the key/value columns of sequence b's rows
 * c0 is 0 (the whole block) or the start of the product column block holding the
 * first key column (keys/values only): every column block is then the same sgemm
 * call either way, so the keys and values are bit-identical to ct_block's. */
static void attn_inputs(const ct_model *m, int layer, int nb, int n, int p0, const float *x_in, int c0,
                        int queries, float *h, float *qkv, float *rope, float *const *k_new, float *const *v_new)
{
    const struct ct_config *c = &m->cfg;
    float *const *w = m->w[layer];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads * hd;
    const int QW = H * hd, QKVW = QW + 2 * KV, ld = QKVW - c0, half = c->rotary_dim / 2;
    const long R = (long)nb * n;
    float *cs = rope, *sn = rope + (long)n * half;   /* [n, half] each */
    ct_norm(c->norm, c->norm_eps, (int)R, D, x_in, w[S_NORM1_W], w[S_NORM1_B], h);
    ct_linear((int)R, D, ld, h, w[S_QKV] + (size_t)c0 * D, w[S_QKV_B] ? w[S_QKV_B] + c0 : NULL, qkv);
    if (c->rope != CT_ROPE_NONE) ct_rope_table(m->inv_freq, half, p0, n, cs, sn);
    #pragma omp parallel for schedule(static) if (R > 8)
    for (long r = 0; r < R; r++) {
        int b = (int)(r / n), i = (int)(r % n);
        float *row = qkv + r * ld, *krow = row + QW - c0;
        if (c->rope != CT_ROPE_NONE) {
            const float *ci = cs + (long)i * half, *si = sn + (long)i * half;
            if (queries) ct_rope_row(row, H, hd, c->rotary_dim, c->rope_interleaved, ci, si);
            ct_rope_row(krow, c->n_kv_heads, hd, c->rotary_dim, c->rope_interleaved, ci, si);
        }
        memcpy(k_new[b] + (long)i * KV, krow, (size_t)KV * sizeof(float));
        memcpy(v_new[b] + (long)i * KV, krow + KV, (size_t)KV * sizeof(float));
    }
}

static size_t rope_scratch(const struct ct_config *c, int n)
{
    return c->rope != CT_ROPE_NONE ? 2 * (size_t)n * (c->rotary_dim / 2) : 0;
}

int ct_block(const ct_model *m, int layer, int nb, int n, int p0,
             const float *x_in, float *x_out,
             const float *const *k_past, const float *const *v_past,
             float *const *k_new, float *const *v_new,
             float *attn_out, float *mlp_out,
             ct_patch_fn patch, void *patch_ctx, ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    if (layer < 0 || layer >= c->n_layers || nb < 1 || n < 1 || p0 < 0)
        return ct_fail(err, "ct_block: bad arguments (layer %d of %d, nb %d, n %d, p0 %d)", layer, c->n_layers, nb, n, p0);
    float *const *w = m->w[layer];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads * hd;
    const int QW = H * hd, QKVW = QW + 2 * KV, F = c->d_ff, UW = c->gated_mlp ? 2 * F : F;
    const long R = (long)nb * n;
    const int nthreads = omp_get_max_threads();
    const int own_kv = !k_new || !v_new;

    /* workspace: h [R, D] | qkv [R, QKVW] | ctx [R, QW] | up [R, UW] | attention scores
     *            | rotary tables [2, n, rotary_dim/2] | (own k/v [R, KV] ×2) */
    size_t nscore = ct_attention_scratch(n, p0, nthreads), nrope = rope_scratch(c, n);
    size_t need = (size_t)R * (D + QKVW + QW + UW) + nscore + nrope + (own_kv ? 2 * (size_t)R * KV : 0);
    float *buf = ct_scratch_get(ws, need);
    if (!buf) return ct_fail(err, "ct_block: out of memory for %zu MiB of workspace", need * 4 >> 20);
    float *h = buf, *qkv = h + R * D, *ctx = qkv + R * QKVW, *up = ctx + R * QW, *scores = up + R * UW;
    float *rope = scores + nscore, *kbuf = rope + nrope, *vbuf = kbuf + R * KV;
    float **kn = NULL, **vn = NULL;
    if (own_kv) {
        kn = malloc(2 * (size_t)nb * sizeof *kn);
        if (!kn) return ct_fail(err, "ct_block: out of memory");
        vn = kn + nb;
        for (int b = 0; b < nb; b++) { kn[b] = kbuf + (long)b * n * KV; vn[b] = vbuf + (long)b * n * KV; }
        k_new = kn;
        v_new = vn;
    }

    /* attention */
    attn_inputs(m, layer, nb, n, p0, x_in, 0, 1, h, qkv, rope, k_new, v_new);
    ct_attention(c, layer, nb, n, p0, qkv, QKVW, k_past, v_past,
                 (const float *const *)k_new, (const float *const *)v_new, ctx, scores, nthreads);
    ct_linear((int)R, QW, D, ctx, w[S_O], w[S_O_B], attn_out);
    if (c->post_norms) ct_norm(c->norm, c->norm_eps, (int)R, D, attn_out, w[S_POST_ATTN_W], NULL, attn_out);
    if (patch) patch(patch_ctx, CT_SITE_ATTN, layer, attn_out);

    if (!c->parallel) {
        /* sequential: x_mid = x + attn; out = x_mid + mlp(norm2(x_mid)) */
        for (long k = 0; k < R * D; k++) x_out[k] = x_in[k] + attn_out[k];
        ct_norm(c->norm, c->norm_eps, (int)R, D, x_out, w[S_NORM2_W], w[S_NORM2_B], h);
        mlp(m, layer, (int)R, h, up, mlp_out);
        if (patch) patch(patch_ctx, CT_SITE_MLP, layer, mlp_out);
        for (long k = 0; k < R * D; k++) x_out[k] += mlp_out[k];
    } else {
        /* parallel: both sublayers read x (through one or two norms) */
        if (c->parallel_two_norms) ct_norm(c->norm, c->norm_eps, (int)R, D, x_in, w[S_NORM2_W], w[S_NORM2_B], h);
        mlp(m, layer, (int)R, h, up, mlp_out);
        if (patch) patch(patch_ctx, CT_SITE_MLP, layer, mlp_out);
        for (long k = 0; k < R * D; k++) x_out[k] = x_in[k] + attn_out[k] + mlp_out[k];
    }
    if (patch) patch(patch_ctx, CT_SITE_HIDDEN, layer, x_out);
    free(kn);
    return 0;
}

int ct_block_kv(const ct_model *m, int layer, int nb, int n, int p0, const float *x_in,
                float *const *k_new, float *const *v_new, ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    if (layer < 0 || layer >= c->n_layers || nb < 1 || n < 1 || p0 < 0 || !k_new || !v_new)
        return ct_fail(err, "ct_block_kv: bad arguments (layer %d of %d, nb %d, n %d, p0 %d)", layer, c->n_layers, nb, n, p0);
    const int D = c->d_model, KV = c->n_kv_heads * c->head_dim, QW = c->n_heads * c->head_dim;
    const int c0 = QW / CT_LINEAR_BLOCK * CT_LINEAR_BLOCK, ld = QW + 2 * KV - c0;
    const long R = (long)nb * n;
    /* workspace: h [R, D] | qkv columns [c0, QKVW) [R, ld] | rotary tables [2, n, rotary_dim/2] */
    size_t nrope = rope_scratch(c, n), need = (size_t)R * (D + ld) + nrope;
    float *h = ct_scratch_get(ws, need);
    if (!h) return ct_fail(err, "ct_block_kv: out of memory for %zu MiB of workspace", need * 4 >> 20);
    float *qkv = h + R * D, *rope = qkv + R * ld;
    attn_inputs(m, layer, nb, n, p0, x_in, c0, 0, h, qkv, rope, k_new, v_new);
    return 0;
}

int ct_logits(const ct_model *m, int rows, const float *x, float *logits, ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const int D = c->d_model, V = c->vocab;
    if (rows <= 0) return 0;
    float *h = ct_scratch_get(ws, (size_t)rows * D);   /* [rows, D] */
    if (!h) return ct_fail(err, "ct_logits: out of memory");
    ct_norm(c->norm, c->norm_eps, rows, D, x, m->g[G_FNORM_W], m->g[G_FNORM_B], h);
    ct_linear(rows, D, V, h, m->g[G_LM_HEAD], m->g[G_LM_HEAD_B], logits);
    if (c->final_softcap > 0) {
        float cap = c->final_softcap;
        for (long k = 0; k < (long)rows * V; k++) logits[k] = tanhf(logits[k] / cap) * cap;
    }
    return 0;
}

int ct_forward(const ct_model *m, const int32_t *ids, int T, float *logits, float *resid, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const int D = c->d_model, L = c->n_layers, KV = c->n_kv_heads * c->head_dim;
    if (T < 1) return ct_fail(err, "forward: no tokens");
    for (int i = 0; i < T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return ct_fail(err, "forward: token id %d at position %d is outside the vocabulary (%d)", ids[i], i, c->vocab);
    if (c->learned_positions && T > c->max_positions)
        return ct_fail(err, "forward: %d tokens exceed the %d learned positions of this model", T, c->max_positions);
    /* residual stream [L+1, T, D] (the caller's, or two alternating rows), attn/mlp [T, D], k/v [T, KV] */
    size_t own = resid ? 0 : 2 * (size_t)T * D;
    float *mem = malloc(((size_t)2 * T * D + 2 * (size_t)T * KV + own) * sizeof(float));
    if (!mem) return ct_fail(err, "forward: out of memory for %d tokens", T);
    float *attn = mem, *mlpo = attn + (size_t)T * D, *k = mlpo + (size_t)T * D, *v = k + (size_t)T * KV;
    float *ping = v + (size_t)T * KV;
    ct_scratch ws = {0};
    int rc = 0;
    float *x0 = resid ? resid : ping;
    ct_embed_tokens(m, ids, T, x0);
    ct_embed_finish(m, 0, T, x0);
    for (int l = 0; l < L && rc == 0; l++) {
        float *xin = resid ? resid + (size_t)l * T * D : ping + (size_t)(l % 2) * T * D;
        float *xout = resid ? resid + (size_t)(l + 1) * T * D : ping + (size_t)((l + 1) % 2) * T * D;
        rc = ct_block(m, l, 1, T, 0, xin, xout, NULL, NULL, &k, &v, attn, mlpo, NULL, NULL, &ws, err);
    }
    if (rc == 0 && logits) {
        const float *xl = resid ? resid + (size_t)L * T * D : ping + (size_t)(L % 2) * T * D;
        rc = ct_logits(m, T, xl, logits, &ws, err);
    }
    ct_scratch_free(&ws);
    free(mem);
    return rc;
}
