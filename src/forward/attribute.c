/* attribute.c — direct logit attribution (ctrace.h, ct_attribute).
 *
 * The residual stream at the last position is a sum of parts: the embeddings,
 * and every layer's attention and MLP outputs (sequential and parallel
 * families alike).  The attention output is W_O·z + b_O, and W_O·z is the sum
 * over query heads h of W_O[:, h·hd:(h+1)·hd]·z[h].  With the final norm's
 * scale frozen at this run's value (its mean too, for LayerNorm), the norm is
 * linear in each part, and so is the logit difference (W_U[a] − W_U[cf])·
 * norm(x): each part gets its direct contribution, and the parts sum to the
 * logit difference.  Gemma2's post-attention norm is frozen the same way, at
 * the layer's whole attention output.
 *
 * Activations stay in the backend: one forward pass (recording z, the MLP
 * output and the residual at the last position through the patch callback),
 * per layer one product of the head-masked z rows with W_O, one product of the
 * normed parts with the two unembedding rows.  The host sees the parts' norm
 * statistics (D floats a part) and the final numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "ops/ops.h"
#include "forward/attribute.h"

typedef struct att_rec {
    const ct_backend *be;
    int last, QW, D;
    float *z, *mlp;             /* [L, QW], [L, D]: the last position's z and MLP output (backend) */
} att_rec;

static void att_cb(void *ctx, const ct_site_at *at, const ct_tensor *v)
{
    att_rec *r = ctx;
    int row = r->last - at->pos;
    if (row < 0 || row >= v->shape[1]) return;
    const float *buf = v->data;
    if (at->kind == CT_SITE_HEADS)
        r->be->copy_rows(r->be, 1, r->QW, r->z + (size_t)at->layer * r->QW, r->QW, buf + (size_t)row * r->QW, r->QW);
    else if (at->kind == CT_SITE_MLP)
        r->be->copy_rows(r->be, 1, r->D, r->mlp + (size_t)at->layer * r->D, r->D, buf + (size_t)row * r->D, r->D);
}

void ct_attribution_free(ct_attribution *a)
{
    if (!a) return;
    free(a->heads); free(a->attn_bias); free(a->mlp);
    memset(a, 0, sizeof *a);
}

/* A float32 vector slot on the host (NULL when absent): host [n]. */
static int vec_host(const ct_backend *be, const ct_tensor *t, int n, float *host)
{
    if (!t->data) return 0;
    be->download(be, host, t->data, (size_t)n * sizeof *host);
    return 1;
}

int ct__attribute_check(const ct_model *m, const int32_t *ids, int T, int32_t answer, int32_t cf, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const int V = c->vocab;
    if (T < 1) return ct_fail(err, "attribute: no tokens");
    for (int i = 0; i < T; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return ct_fail(err, "attribute: token id %d at position %d is outside the vocabulary (%d)", ids[i], i, V);
    if (answer < 0 || answer >= V || cf < 0 || cf >= V)
        return ct_fail(err, "attribute: answer %d / counterfactual %d outside the vocabulary (%d)", answer, cf, V);
    if (c->learned_positions && T > c->max_positions)
        return ct_fail(err, "attribute: %d tokens exceed the %d learned positions of this model", T, c->max_positions);
    return 0;
}

int ct_attribute(const ct_model *m, const int32_t *ids, int T, int32_t answer, int32_t cf, ct_attribution *out,
                 ct_err *err)
{
    memset(out, 0, sizeof *out);
    if (ct__attribute_check(m, ids, T, answer, cf, err)) return -1;
    const ct_backend *be = m->be;
    float *x0 = ct_be_floats(be, (size_t)T * m->cfg.d_model);   /* [T, D] block-0 input */
    if (!x0) return ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory");
    ct_embed_tokens(m, ids, T, x0);
    ct_embed_finish(m, 0, T, x0);
    int rc = ct__attribute_x0(m, x0, T, answer, cf, out, err);
    be->free(be, x0);
    return rc;
}

int ct__attribute_x0(const ct_model *m, const float *x0, int T, int32_t answer, int32_t cf, ct_attribution *out,
                     ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    const ct_backend *be = m->be;
    const int D = c->d_model, L = c->n_layers, H = c->n_heads, hd = c->head_dim, QW = H * hd;
    const int KV = c->n_kv_heads * hd, V = c->vocab;
    memset(out, 0, sizeof *out);

    /* Parts, in this order: embed, L·H heads, L attention biases, L MLPs, final-norm bias. */
    const int P = 1 + L * H + 2 * L + 1;
    const int p_head = 1, p_bias = 1 + L * H, p_mlp = p_bias + L, p_nb = p_mlp + L;
    float *x = ct_be_floats(be, (size_t)T * D);                /* [T, D] residual stream */
    float *ao = ct_be_floats(be, (size_t)T * D), *mo = ct_be_floats(be, (size_t)T * D);   /* [T, D] */
    float *k = ct_be_floats(be, (size_t)T * KV), *v = ct_be_floats(be, (size_t)T * KV);  /* [T, KV] */
    float *z = ct_be_floats(be, (size_t)L * QW);               /* [L, QW] last position's z per layer */
    float *mlp = ct_be_floats(be, (size_t)L * D);              /* [L, D] last position's MLP output */
    float *zm = ct_be_floats(be, (size_t)(H + 1) * QW);        /* [H + 1, QW] z masked to one head; row H all */
    float *y = ct_be_floats(be, (size_t)(H + 1) * D);          /* [H + 1, D] W_O · zm */
    float *pd = ct_be_floats(be, (size_t)(P + 1) * D);         /* [P + 1, D] normed parts; row P the normed x */
    float *lo = ct_be_floats(be, (size_t)(P + 1) * 2);         /* [2, P + 1] their logits (answer, cf) */
    float *lg = ct_be_floats(be, (size_t)V);                   /* [V] logits of the last position */
    double *parts = calloc((size_t)P * D, sizeof *parts);      /* [P, D] host, unnormed */
    float *hb = malloc(((size_t)(H + 1) * D + 6 * (size_t)D + (size_t)P * D + 2 * (size_t)(P + 1) + 2) * sizeof *hb);
    ct_scratch ws = {0};
    int rc = -1;
    out->heads = calloc((size_t)L * H, sizeof *out->heads);
    out->attn_bias = calloc((size_t)L, sizeof *out->attn_bias);
    out->mlp = calloc((size_t)L, sizeof *out->mlp);
    if (!x || !ao || !mo || !k || !v || !z || !mlp || !zm || !y || !pd || !lo || !lg || !parts || !hb || !out->heads ||
        !out->attn_bias || !out->mlp) {
        ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory");
        goto done;
    }
    out->L = L;
    out->H = H;
    float *yh = hb;                                  /* [H + 1, D] host copy of y */
    float *wpost = yh + (size_t)(H + 1) * D;         /* [D] gemma2 post-attention norm weight */
    float *bo = wpost + D;                           /* [D] output-projection bias */
    float *gw = bo + D, *gb = gw + D;                /* [D] final norm weight, bias */
    float *xh = gb + D;                              /* [D] the last residual row */
    float *row = xh + D;                             /* [D] one part's MLP or embedding row */
    float *ph = row + D;                             /* [P, D] normed parts, host */
    float *loh = ph + (size_t)P * D;                 /* [2, P + 1] */
    float *lgh = loh + 2 * (size_t)(P + 1);          /* [2] logits of answer, cf */

    /* the forward pass, recording the last position */
    att_rec rec = {.be = be, .last = T - 1, .QW = QW, .D = D, .z = z, .mlp = mlp};
    be->copy_rows(be, 1, (long)T * D, x, (long)T * D, x0, (long)T * D);
    be->download(be, row, x + (size_t)(T - 1) * D, (size_t)D * sizeof *row);
    for (int i = 0; i < D; i++) parts[i] = row[i];
    for (int l = 0; l < L; l++)
        if (ct_block(m, l, 1, T, 0, x, x, NULL, NULL, &k, &v, ao, mo, att_cb, &rec, &ws, err)) goto done;
    be->download(be, xh, x + (size_t)(T - 1) * D, (size_t)D * sizeof *xh);

    /* per layer: the heads' shares of W_O·z (row H: the whole product, for gemma2's frozen post-norm) */
    float *zero = calloc((size_t)QW, sizeof *zero);
    float *zd = ct_be_floats(be, (size_t)QW);        /* [QW] zeros in the backend */
    if (!zero || !zd) { free(zero); if (zd) be->free(be, zd); ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory"); goto done; }
    be->upload(be, zd, zero, (size_t)QW * sizeof *zero);
    free(zero);
    for (int l = 0; l < L; l++) {
        const ct_tensor *w = m->w[l];
        const float *zl = z + (size_t)l * QW;
        be->copy_rows(be, H, QW, zm, QW, zd, 0);
        for (int h = 0; h < H; h++) be->copy_rows(be, 1, hd, zm + (size_t)h * QW + (size_t)h * hd, hd, zl + (size_t)h * hd, hd);
        be->copy_rows(be, 1, QW, zm + (size_t)H * QW, QW, zl, QW);
        be->linear(be, H + 1, zm, QW, &w[S_O], NULL, y, D);
        be->download(be, yh, y, (size_t)(H + 1) * D * sizeof *yh);
        int has_b = vec_host(be, &w[S_O_B], D, bo);
        double post = 1;                             /* gemma2: the post-attention norm's scale, frozen */
        if (c->post_norms) {
            double ss = 0;
            for (int i = 0; i < D; i++) {
                double t = (double)yh[(size_t)H * D + i] + (has_b ? bo[i] : 0);
                ss += t * t;
            }
            post = 1.0 / sqrt(ss / D + c->norm_eps);
            vec_host(be, &w[S_POST_ATTN_W], D, wpost);
        }
        for (int h = 0; h <= H; h++) {
            double *dst = parts + (size_t)(h < H ? p_head + l * H + h : p_bias + l) * D;
            for (int i = 0; i < D; i++) {
                double t = h < H ? (double)yh[(size_t)h * D + i] : (has_b ? (double)bo[i] : 0.0);
                if (c->post_norms) t *= post * (c->norm == CT_NORM_RMS_1P ? 1.0 + wpost[i] : (double)wpost[i]);
                dst[i] = t;
            }
        }
        be->download(be, row, mlp + (size_t)l * D, (size_t)D * sizeof *row);
        for (int i = 0; i < D; i++) parts[(size_t)(p_mlp + l) * D + i] = row[i];
    }
    be->free(be, zd);

    /* the final norm, frozen at the last residual row */
    vec_host(be, &m->g[G_FNORM_W], D, gw);
    int has_gb = vec_host(be, &m->g[G_FNORM_B], D, gb);
    double mean = 0, inv;
    if (c->norm == CT_NORM_LAYER) {
        double var = 0;
        for (int i = 0; i < D; i++) mean += xh[i];
        mean /= D;
        for (int i = 0; i < D; i++) var += (xh[i] - mean) * (xh[i] - mean);
        inv = 1.0 / sqrt(var / D + c->norm_eps);
    } else {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)xh[i] * xh[i];
        inv = 1.0 / sqrt(ss / D + c->norm_eps);
    }
    for (int p = 0; p < P; p++) {
        double *src = parts + (size_t)p * D, pm = 0;
        float *dst = ph + (size_t)p * D;
        if (p == p_nb) {                             /* the norm's own bias is a part of its own */
            for (int i = 0; i < D; i++) dst[i] = has_gb ? gb[i] : 0.0f;
            continue;
        }
        if (c->norm == CT_NORM_LAYER) {              /* LayerNorm centres: each part loses its own mean */
            for (int i = 0; i < D; i++) pm += src[i];
            pm /= D;
        }
        for (int i = 0; i < D; i++) {
            double g = c->norm == CT_NORM_RMS_1P ? 1.0 + gw[i] : (double)gw[i];
            dst[i] = (float)((src[i] - pm) * inv * g);
        }
    }
    be->upload(be, pd, ph, (size_t)P * D * sizeof *ph);
    /* row P: the backend's own norm of the residual, for the run's logit difference before any soft cap */
    be->norm(be, c->norm, c->norm_eps, 1, D, x + (size_t)(T - 1) * D, ct_vec(&m->g[G_FNORM_W]), ct_vec(&m->g[G_FNORM_B]),
             pd + (size_t)P * D);
    int32_t tok[2] = {answer, cf};
    for (int j = 0; j < 2; j++) {
        ct_tensor wr = ct_tensor_rows(&m->g[G_LM_HEAD], tok[j], 1);   /* [1, D] the unembedding row */
        be->linear(be, P + 1, pd, D, &wr, NULL, lo + (size_t)j * (P + 1), 1);
    }
    be->download(be, loh, lo, 2 * (size_t)(P + 1) * sizeof *loh);
    if (ct_logits(m, 1, x + (size_t)(T - 1) * D, lg, &ws, err)) goto done;
    be->download(be, lgh, lg + answer, sizeof *lgh);
    be->download(be, lgh + 1, lg + cf, sizeof *lgh);

#define DIFF(p) ((double)loh[(p)] - (double)loh[(size_t)(P + 1) + (p)])
    double sum = 0, lmb = 0;
    if (m->g[G_LM_HEAD_B].data) {
        float b2[2];
        be->download(be, b2, ct_vec(&m->g[G_LM_HEAD_B]) + answer, sizeof *b2);
        be->download(be, b2 + 1, ct_vec(&m->g[G_LM_HEAD_B]) + cf, sizeof *b2);
        lmb = (double)b2[0] - b2[1];
    }
    out->embed = (float)DIFF(0);
    for (int q = 0; q < L * H; q++) out->heads[q] = (float)DIFF(p_head + q);
    for (int l = 0; l < L; l++) {
        out->attn_bias[l] = (float)DIFF(p_bias + l);
        out->mlp[l] = (float)DIFF(p_mlp + l);
    }
    out->norm_bias = (float)DIFF(p_nb);
    out->lm_bias = (float)lmb;
    for (int p = 0; p < P; p++) sum += DIFF(p);
    out->parts_sum = (float)(sum + lmb);
    out->total = (float)(DIFF(P) + lmb);
    out->logit_diff = lgh[0] - lgh[1];
#undef DIFF
    rc = 0;
done:
    ct_scratch_free(&ws);
    float *bufs[] = {x, ao, mo, k, v, z, mlp, zm, y, pd, lo, lg};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) if (bufs[i]) be->free(be, bufs[i]);
    free(parts);
    free(hb);
    if (rc) ct_attribution_free(out);
    return rc;
}
