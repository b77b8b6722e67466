/* block.c — one transformer block for every family, the embeddings, the
 * output head, and a whole forward pass built from exactly these pieces.
 *
 * Family differences are config data (src/model): which norm, sequential or
 * parallel residual, post-sublayer norms, rotary style, gated MLP, biases.
 * The intervention sites are called in the order the tracing engine relies
 * on: ATTN before the attention output is used, MLP before the MLP output is
 * used, HIDDEN on the block output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "ops/ops.h"

float *ct_scratch_get(ct_scratch *s, size_t nfloats)
{
    if (nfloats == 0) nfloats = 1;
    if (!s->be) s->be = ct_backend_cpu();
    if (s->cap < nfloats) {
        if (s->buf) s->be->free(s->be, s->buf);
        s->buf = ct_be_floats(s->be, nfloats);
        s->cap = s->buf ? nfloats : 0;
    }
    return s->buf;
}

void ct_scratch_free(ct_scratch *s)
{
    if (s->buf) s->be->free(s->be, s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* Scratch in the model's backend memory. */
static float *scratch(const ct_model *m, ct_scratch *ws, size_t nfloats)
{
    if (ws->be != m->be) { ct_scratch_free(ws); ws->be = m->be; }
    return ct_scratch_get(ws, nfloats);
}

void ct_embed_tokens(const ct_model *m, const int32_t *ids, int n, float *out)
{
    m->be->embed(m->be, &m->g[G_EMB], ids, n, out);   /* ct_forward rejects ids outside [0, V) */
}

const ct_backend *ct_model_backend(const ct_model *m) { return m->be; }
void ct_model_use_backend(ct_model *m, const ct_backend *be) { m->be = be; }

int ct_embed_tokens_host(const ct_model *m, const int32_t *ids, int n, float *out)
{
    const ct_backend *be = m->be;
    size_t bytes = (size_t)n * m->cfg.d_model * sizeof(float);
    if (be->device == CT_DEVICE_CPU) { ct_embed_tokens(m, ids, n, out); return 0; }
    float *d = be->alloc(be, bytes);
    if (!d) return -1;
    ct_embed_tokens(m, ids, n, d);
    be->download(be, out, d, bytes);
    be->free(be, d);
    return 0;
}

void ct_embed_finish(const ct_model *m, int p0, int n, float *x)
{
    const ct_backend *be = m->be;
    const int D = m->cfg.d_model;
    if (m->cfg.learned_positions) {
        int np = p0 + n <= m->cfg.max_positions ? n : m->cfg.max_positions - p0;
        if (np > 0) {
            int32_t *pos = malloc((size_t)np * sizeof *pos);
            float *pe = ct_be_floats(be, (size_t)np * D);   /* [np, D] */
            if (pos && pe) {
                for (int i = 0; i < np; i++) pos[i] = p0 + i;
                be->embed(be, &m->g[G_POS], pos, np, pe);
                be->add(be, (long)np * D, x, pe, NULL, x);
            }
            free(pos);
            if (pe) be->free(be, pe);
        }
    }
    /* gemma: the normaliser sqrt(D) is rounded to the activations' dtype first */
    if (m->cfg.scale_embeddings) be->scale(be, (long)n * D, x, (float)sqrt((double)D));
}

static void call_patch(ct_patch_fn patch, void *ctx, ct_site kind, int layer, int p0, float *buf,
                       int nb, int n, int d1, int d2)
{
    if (!patch) return;
    ct_site_at at = {.kind = kind, .layer = layer, .head = -1, .pos = p0};
    ct_tensor v = {.dtype = CT_F32, .device = CT_DEVICE_CPU, .data = buf};
    v.ndim = d2 ? 4 : 3;
    v.shape[0] = nb; v.shape[1] = n; v.shape[2] = d1; v.shape[3] = d2;
    v.stride[v.ndim - 1] = 1;
    if (d2) { v.stride[2] = d2; v.stride[1] = (int64_t)d1 * d2; v.stride[0] = (int64_t)n * d1 * d2; }
    else { v.stride[1] = d1; v.stride[0] = (int64_t)n * d1; }
    patch(ctx, &at, &v);
}

/* The MLP: out [R, D] = down(act(gate(h)) * up(h)) or down(act(up(h))). */
static void mlp(const ct_model *m, int layer, int R, const float *h, float *up, float *out)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const ct_tensor *w = m->w[layer];
    const int D = c->d_model, F = c->d_ff, UW = c->gated_mlp ? 2 * F : F;
    be->linear(be, R, h, D, &w[S_UP], ct_vec(&w[S_UP_B]), up, UW);
    if (c->gated_mlp) {
        /* act(gate) * up, packed into the first F columns of each row */
        be->act_gated(be, c->act, R, F, up, UW);
    } else {
        be->act(be, c->act, (long)R * F, up);
    }
    be->linear(be, R, up, UW, &w[S_DOWN], ct_vec(&w[S_DOWN_B]), out, D);
    if (c->post_norms) be->norm(be, c->norm, c->norm_eps, R, D, out, ct_vec(&w[S_POST_MLP_W]), NULL, out);
}

/* The attention inputs, the part of a block ct_block and ct_block_kv share,
 * for the R = nb·n rows of x_in [nb, n, D]:
 *   h    [R, D]          written: norm 1 of x_in
 *   qkv  [R, QKVW - c0]  written: columns [c0, QKVW) of h · S_QKVᵀ (+ bias), rotary
 *                        applied to the key heads, and to the query heads if queries
 *   k_new[b], v_new[b] [n, KV] written: the key/value columns of sequence b's rows
 * c0 is 0 (the whole block) or the start of the product column block holding the
 * first key column (keys/values only): every column block is then the same
 * product call either way, so the keys and values are bit-identical to ct_block's. */
static void attn_inputs(const ct_model *m, int layer, int nb, int n, int p0, const float *x_in, int c0,
                        int queries, float *h, float *qkv, float *const *k_new, float *const *v_new)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const ct_tensor *w = m->w[layer];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads * hd;
    const int QW = H * hd, QKVW = QW + 2 * KV, ld = QKVW - c0;
    const int R = nb * n;
    be->norm(be, c->norm, c->norm_eps, R, D, x_in, ct_vec(&w[S_NORM1_W]), ct_vec(&w[S_NORM1_B]), h);
    ct_tensor wq = ct_tensor_rows(&w[S_QKV], c0, ld);
    be->linear(be, R, h, D, &wq, w[S_QKV_B].data ? ct_vec(&w[S_QKV_B]) + c0 : NULL, qkv, ld);
    if (c->rope != CT_ROPE_NONE) {
        /* the key heads follow the query heads hd apart: one call rotates both
         * (one rotary table for the two) */
        const ct_rope_table rt = {m->inv_freq, m->rope_cs, m->rope_npos};
        if (queries) be->rope(be, R, n, p0, qkv, ld, H + c->n_kv_heads, hd, c->rotary_dim, c->rope_interleaved, &rt);
        else be->rope(be, R, n, p0, qkv + QW - c0, ld, c->n_kv_heads, hd, c->rotary_dim, c->rope_interleaved, &rt);
    }
    for (int b = 0; b < nb; b++) {
        const float *rows = qkv + (size_t)b * n * ld + (QW - c0);
        be->copy_rows(be, n, KV, k_new[b], KV, rows, ld);
        be->copy_rows(be, n, KV, v_new[b], KV, rows + KV, ld);
    }
}

static ct_attn_shape attn_shape(const struct ct_config *c, int layer)
{
    ct_attn_shape a = {.n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
                       .scale = c->attn_scale, .softcap = c->attn_softcap};
    a.window = (c->sliding_window > 0 && (!c->sliding_every_other || layer % 2 == 0)) ? c->sliding_window : 0;
    return a;
}

int ct_block(const ct_model *m, int layer, int nb, int n, int p0,
             const float *x_in, float *x_out,
             const float *const *k_past, const float *const *v_past,
             float *const *k_new, float *const *v_new,
             float *attn_out, float *mlp_out,
             ct_patch_fn patch, void *patch_ctx, ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    if (layer < 0 || layer >= c->n_layers || nb < 1 || n < 1 || p0 < 0)
        return ct_fail(err, "ct_block: bad arguments (layer %d of %d, nb %d, n %d, p0 %d)", layer, c->n_layers, nb, n, p0);
    const ct_tensor *w = m->w[layer];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads * hd;
    const int QW = H * hd, QKVW = QW + 2 * KV, F = c->d_ff, UW = c->gated_mlp ? 2 * F : F;
    const long R = (long)nb * n;
    const int own_kv = !k_new || !v_new;

    /* workspace: h [R, D] | qkv [R, QKVW] | ctx [R, QW] | up [R, UW] | (own k/v [R, KV] ×2) */
    size_t need = (size_t)R * (D + QKVW + QW + UW) + (own_kv ? 2 * (size_t)R * KV : 0);
    float *buf = scratch(m, ws, need);
    if (!buf) return ct_fail_code(err, CT_ERR_NOMEM, "ct_block: out of memory for %zu MiB of workspace", need * 4 >> 20);
    float *h = buf, *qkv = h + R * D, *ctx = qkv + R * QKVW, *up = ctx + R * QW;
    float *kbuf = up + R * UW, *vbuf = kbuf + R * KV;
    float **kn = NULL, **vn = NULL;
    if (own_kv) {
        kn = malloc(2 * (size_t)nb * sizeof *kn);
        if (!kn) return ct_fail_code(err, CT_ERR_NOMEM, "ct_block: out of memory");
        vn = kn + nb;
        for (int b = 0; b < nb; b++) { kn[b] = kbuf + (long)b * n * KV; vn[b] = vbuf + (long)b * n * KV; }
        k_new = kn;
        v_new = vn;
    }

    /* attention */
    attn_inputs(m, layer, nb, n, p0, x_in, 0, 1, h, qkv, k_new, v_new);
    ct_attn_shape as = attn_shape(c, layer);
    be->attention(be, &as, nb, n, p0, qkv, QKVW, k_past, v_past,
                  (const float *const *)k_new, (const float *const *)v_new, ctx);
    call_patch(patch, patch_ctx, CT_SITE_HEADS, layer, p0, ctx, nb, n, H, hd);
    be->linear(be, (int)R, ctx, QW, &w[S_O], ct_vec(&w[S_O_B]), attn_out, D);
    if (c->post_norms) be->norm(be, c->norm, c->norm_eps, (int)R, D, attn_out, ct_vec(&w[S_POST_ATTN_W]), NULL, attn_out);
    call_patch(patch, patch_ctx, CT_SITE_ATTN, layer, p0, attn_out, nb, n, D, 0);

    if (!c->parallel) {
        /* sequential: x_mid = x + attn; out = x_mid + mlp(norm2(x_mid)) */
        be->add(be, R * D, x_in, attn_out, NULL, x_out);
        be->norm(be, c->norm, c->norm_eps, (int)R, D, x_out, ct_vec(&w[S_NORM2_W]), ct_vec(&w[S_NORM2_B]), h);
        mlp(m, layer, (int)R, h, up, mlp_out);
        call_patch(patch, patch_ctx, CT_SITE_MLP, layer, p0, mlp_out, nb, n, D, 0);
        be->add(be, R * D, x_out, mlp_out, NULL, x_out);
    } else {
        /* parallel: both sublayers read x (through one or two norms) */
        if (c->parallel_two_norms)
            be->norm(be, c->norm, c->norm_eps, (int)R, D, x_in, ct_vec(&w[S_NORM2_W]), ct_vec(&w[S_NORM2_B]), h);
        mlp(m, layer, (int)R, h, up, mlp_out);
        call_patch(patch, patch_ctx, CT_SITE_MLP, layer, p0, mlp_out, nb, n, D, 0);
        be->add(be, R * D, x_in, attn_out, mlp_out, x_out);
    }
    call_patch(patch, patch_ctx, CT_SITE_HIDDEN, layer, p0, x_out, nb, n, D, 0);
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
    /* workspace: h [R, D] | qkv columns [c0, QKVW) [R, ld] */
    size_t need = (size_t)R * (D + ld);
    float *h = scratch(m, ws, need);
    if (!h) return ct_fail_code(err, CT_ERR_NOMEM, "ct_block_kv: out of memory for %zu MiB of workspace", need * 4 >> 20);
    float *qkv = h + R * D;
    attn_inputs(m, layer, nb, n, p0, x_in, c0, 0, h, qkv, k_new, v_new);
    return 0;
}

int ct_logits(const ct_model *m, int rows, const float *x, float *logits, ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const int D = c->d_model, V = c->vocab;
    if (rows <= 0) return 0;
    float *h = scratch(m, ws, (size_t)rows * D);   /* [rows, D] */
    if (!h) return ct_fail_code(err, CT_ERR_NOMEM, "ct_logits: out of memory");
    be->norm(be, c->norm, c->norm_eps, rows, D, x, ct_vec(&m->g[G_FNORM_W]), ct_vec(&m->g[G_FNORM_B]), h);
    be->linear(be, rows, h, D, &m->g[G_LM_HEAD], ct_vec(&m->g[G_LM_HEAD_B]), logits, V);
    if (c->final_softcap > 0) be->softcap(be, (long)rows * V, logits, c->final_softcap);
    return 0;
}
int ct_model_scores_rows(const ct_model *m)
{
    return m->be->version >= 3 && m->be->token_probs_linear != NULL;
}

int ct_token_probs_rows(const ct_model *m, int rows, const float *x, int k, const int32_t *tok, float *out,
                        ct_scratch *ws, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const int D = c->d_model;
    if (rows <= 0) return 0;
    float *h = scratch(m, ws, (size_t)rows * D);   /* [rows, D] */
    if (!h) return ct_fail_code(err, CT_ERR_NOMEM, "scoring: out of memory");
    be->norm(be, c->norm, c->norm_eps, rows, D, x, ct_vec(&m->g[G_FNORM_W]), ct_vec(&m->g[G_FNORM_B]), h);
    be->token_probs_linear(be, rows, h, &m->g[G_LM_HEAD], ct_vec(&m->g[G_LM_HEAD_B]), c->final_softcap, k, tok, out);
    return 0;
}

/* ct_forward on a device backend: the same steps in device memory, then
 * logits [T, V] and resid [L+1, T, D] (host, when not NULL) downloaded. */
static int forward_device(const ct_model *m, const int32_t *ids, int T, float *logits, float *resid, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const int D = c->d_model, L = c->n_layers, KV = c->n_kv_heads * c->head_dim, V = c->vocab;
    const size_t TD = (size_t)T * D;
    float *x = ct_be_floats(be, (size_t)(resid ? L + 1 : 2) * TD);   /* [L+1 or 2, T, D] residual stream */
    float *attn = ct_be_floats(be, 2 * TD);                        /* [2, T, D] attention and MLP outputs */
    float *kv = ct_be_floats(be, 2 * (size_t)T * KV);              /* [2, T, KV] keys, values */
    float *lg = logits ? ct_be_floats(be, (size_t)T * V) : NULL;   /* [T, V] */
    int rc = 0;
    if (!x || !attn || !kv || (logits && !lg)) { rc = ct_fail_code(err, CT_ERR_DEVICE, "forward: out of device memory for %d tokens", T); goto out; }
    float *k = kv, *v = kv + (size_t)T * KV;
    ct_scratch ws = {0};
    ct_embed_tokens(m, ids, T, x);
    ct_embed_finish(m, 0, T, x);
    for (int l = 0; l < L && rc == 0; l++) {
        float *xin = x + (size_t)(resid ? l : l % 2) * TD, *xout = x + (size_t)(resid ? l + 1 : (l + 1) % 2) * TD;
        rc = ct_block(m, l, 1, T, 0, xin, xout, NULL, NULL, &k, &v, attn, attn + TD, NULL, NULL, &ws, err);
    }
    if (rc == 0 && logits) rc = ct_logits(m, T, x + (size_t)(resid ? L : L % 2) * TD, lg, &ws, err);
    ct_scratch_free(&ws);
    if (rc == 0 && logits) be->download(be, logits, lg, (size_t)T * V * sizeof *logits);
    if (rc == 0 && resid) be->download(be, resid, x, (size_t)(L + 1) * TD * sizeof *resid);
    if (rc == 0) rc = ct_model_device_check(m, err);
out:
    if (x) be->free(be, x);
    if (attn) be->free(be, attn);
    if (kv) be->free(be, kv);
    if (lg) be->free(be, lg);
    return rc;
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
    if (m->be->device != CT_DEVICE_CPU) return forward_device(m, ids, T, logits, resid, err);
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
