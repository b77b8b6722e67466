/* common.c — pieces both engines use: windows, block calls with work
 * counting, recorded runs, scoring (softmax at the answer tokens), patching. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "trace/patch.h"

ct_site tr_kind_site(ct_kind k)
{
    return k == CT_KIND_MLP ? CT_SITE_MLP : k == CT_KIND_ATTN ? CT_SITE_ATTN : k == CT_KIND_HEAD ? CT_SITE_HEADS
                                                                                                 : CT_SITE_HIDDEN;
}

void tr_window(int kind, int window, int L, int l, int *lo, int *hi)
{
    if (kind == CT_KIND_HIDDEN || kind == CT_KIND_HEAD) { *lo = l; *hi = l + 1; return; }
    /* ROME: [max(0, l - floor(w/2)), min(L, l + ceil(w/2))) */
    int a = l - window / 2, b = l + (window + 1) / 2;
    *lo = a < 0 ? 0 : a;
    *hi = b > L ? L : b;
}

int tr_block(tr_ctx *c, int layer, int nb, int n, int p0, const float *x_in, float *x_out,
             const float *const *k_past, const float *const *v_past, float *const *k_new,
             float *const *v_new, float *attn_out, float *mlp_out, ct_patch_fn patch, void *pctx,
             ct_err *err)
{
    c->r->token_layers += (double)nb * n;
    c->r->attn_pairs += (double)nb * ((double)n * p0 + (double)n * (n + 1) / 2);
    return ct_block(c->m, layer, nb, n, p0, x_in, x_out, k_past, v_past, k_new, v_new, attn_out, mlp_out,
                    patch, pctx, &c->ws, err);
}

/* The last layer's keys/values-only rows go through ct_block_kv; k, v are
 * contiguous [nb, n, KV] here, ct_block_kv takes one pointer per sequence. */
int tr_block_kv(tr_ctx *c, int layer, int nb, int n, int p0, const float *x, float *k, float *v, ct_err *err)
{
    float **kv = malloc(2 * (size_t)nb * sizeof *kv);   /* [2, nb] sequence rows of k, then v */
    if (!kv) return ct_fail(err, "trace: out of memory (keys/values)");
    for (int b = 0; b < nb; b++) {
        kv[b] = k + (size_t)b * n * c->KV;
        kv[nb + b] = v + (size_t)b * n * c->KV;
    }
    int rc = ct_block_kv(c->m, layer, nb, n, p0, x, kv, kv + nb, &c->ws, err);
    free(kv);
    if (rc == 0) c->r->kv_rows += (double)nb * n;
    return rc;
}

/* Site CT_SITE_HEADS: the view is [nb, n, H, hd]; slot k's rows get the
 * source's z[t] in head ph[k]'s hd columns (or the whole H·hd row). */
static void patch_heads(const tr_patch *p, const ct_site_at *at, float *buf, int row)
{
    const tr_ctx *c = p->c;
    int QW = c->QW, hd = ct_model_config(c->m)->head_dim, layer = at->layer;
    const tr_run *src = tr_src(c);
    const float *v = tr_z(c, src, layer, tr_src_seq(c, 0)) + (size_t)p->t * QW;
    long sld = tr_src_per_sample(c) ? (long)src->T * QW : 0;
    for (int k = 0; k < p->nslot; k++) {
        if (layer < p->pa[k] || layer >= p->pb[k]) continue;
        int h = p->ph ? p->ph[k] : -1;
        size_t off = h < 0 ? 0 : (size_t)h * hd;
        tr_copy(c, p->nseq_per_slot, h < 0 ? QW : hd, buf + ((size_t)k * p->nseq_per_slot * p->n + row) * QW + off,
                (long)p->n * QW, v + off, sld);
    }
}

void tr_patch_cb(void *ctx, const ct_site_at *at, const ct_tensor *view)
{
    const tr_patch *p = ctx;
    if (at->kind != p->site) return;
    const tr_ctx *c = p->c;
    int D = c->D, row = p->t - at->pos, layer = at->layer;
    if (row < 0 || row >= p->n) return;     /* position t is not among this call's rows */
    float *buf = view->data;
    if (p->site == CT_SITE_HEADS) { patch_heads(p, at, buf, row); return; }
    const tr_run *src = tr_src(c);
    /* the source rows of the samples: one row for all (clean) or one per sample */
    const float *v = tr_site(c, src, p->site, layer, tr_src_seq(c, 0)) + (size_t)p->t * D;
    long sld = tr_src_per_sample(c) ? (long)src->T * D : 0;
    for (int k = 0; k < p->nslot; k++) {
        if (layer < p->pa[k] || layer >= p->pb[k]) continue;
        tr_copy(c, p->nseq_per_slot, D, buf + ((size_t)k * p->nseq_per_slot * p->n + row) * D, (long)p->n * D, v, sld);
    }
}

void tr_run_free(const tr_ctx *c, tr_run *r)
{
    tr_free(c, r->resid); tr_free(c, r->attn); tr_free(c, r->mlp); tr_free(c, r->k); tr_free(c, r->v);
    tr_free(c, r->z);
    memset(r, 0, sizeof *r);
}

/* Recording z: ct_block has no z output (it is scratch inside the block), so
 * the run keeps it from the CT_SITE_HEADS callback, layer by layer. */
typedef struct z_rec { const tr_ctx *c; tr_run *r; } z_rec;

static void record_z(void *ctx, const ct_site_at *at, const ct_tensor *view)
{
    const z_rec *zr = ctx;
    if (at->kind != CT_SITE_HEADS) return;
    const tr_ctx *c = zr->c;
    long n = (long)zr->r->nb * zr->r->T * c->QW;       /* the view [nb, T, H, hd], p0 = 0 */
    tr_copy(c, 1, n, tr_z(c, zr->r, at->layer, 0), n, view->data, n);
}

int tr_run_record(tr_ctx *c, tr_run *r, int nb, const float *x0, int keep_sub, int keep_z, ct_err *err)
{
    int L = c->L, T = c->T, D = c->D, KV = c->KV;
    size_t one = (size_t)nb * T * D, onekv = (size_t)nb * T * KV;
    memset(r, 0, sizeof *r);
    r->nb = nb;
    r->T = T;
    r->resid = tr_alloc(c, (L + 1) * one);
    /* sublayer outputs are kept only where they are restored from; otherwise
     * one layer's worth of scratch is reused */
    int ls = keep_sub ? L : 1;
    r->attn = tr_alloc(c, ls * one);
    r->mlp = tr_alloc(c, ls * one);
    r->k = tr_alloc(c, L * onekv);
    r->v = tr_alloc(c, L * onekv);
    if (keep_z) r->z = tr_alloc(c, (size_t)L * nb * T * c->QW);
    float **kn = malloc(2 * (size_t)nb * sizeof *kn);
    const float **none = calloc((size_t)nb, sizeof *none);
    z_rec zr = {.c = c, .r = r};
    if (!r->resid || !r->attn || !r->mlp || !r->k || !r->v || (keep_z && !r->z) || !kn || !none) {
        free(kn); free(none); tr_run_free(c, r);
        return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory recording a run of %d sequences", nb);
    }
    tr_copy(c, 1, (long)one, r->resid, (long)one, x0, (long)one);
    for (int l = 0; l < L; l++) {
        for (int b = 0; b < nb; b++) {
            kn[b] = tr_k(c, r, l, b);
            kn[nb + b] = tr_v(c, r, l, b);
        }
        if (tr_block(c, l, nb, T, 0, r->resid + l * one, r->resid + (l + 1) * one, none, none, kn, kn + nb,
                     r->attn + (keep_sub ? l : 0) * one, r->mlp + (keep_sub ? l : 0) * one,
                     keep_z ? record_z : NULL, &zr, err)) {
            free(kn); free(none); tr_run_free(c, r);
            return -1;
        }
    }
    free(kn);
    free(none);
    return 0;
}

void tr_run_score_rows(const tr_ctx *c, const tr_run *r, float *out)
{
    int P = c->g->n_pos, D = c->D;
    for (int b = 0; b < r->nb; b++)
        tr_copy(c, 1, (long)P * D, out + (size_t)b * P * D, (long)P * D, tr_resid(c, r, c->L, b) + (size_t)(c->Tp - 1) * D,
                (long)P * D);
}

int tr_score(tr_ctx *c, int nseq, const float *x, float *out, ct_err *err)
{
    const tr_group *g = c->g;
    const ct_backend *be = c->be;
    int P = g->n_pos, V = c->V, D = c->D, K = g->n_tg;
    long rows = (long)nseq * P;
    /* With token_probs_linear the logits are never stored: CT_SCORE_ROWS rows
     * at a time.  Without it, 16 MB of logits at a time. */
    const int fused = ct_model_scores_rows(c->m);
    long chunk = fused ? CT_SCORE_ROWS : (1L << 22) / V;
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    float *lg = fused ? NULL : tr_alloc(c, (size_t)chunk * V);   /* [chunk, V] logits */
    float *pd = tr_alloc(c, (size_t)chunk * K);             /* [chunk, K] p(token), backend memory */
    float *ph = malloc((size_t)chunk * K * sizeof *ph);     /* [chunk, K] the same on the host */
    int32_t *tok = malloc((size_t)chunk * K * sizeof *tok); /* [chunk, K] token of target gi at the row */
    int rc = -1;
    if ((!fused && !lg) || !pd || !ph || !tok) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory scoring"); goto out; }
    for (int k = 0; k < K * nseq; k++) out[k] = 1.0f;
    for (long r0 = 0; r0 < rows; r0 += chunk) {
        long nr = rows - r0 < chunk ? rows - r0 : chunk;
        c->r->logit_rows += (double)nr;
        for (long i = 0; i < nr; i++) {
            int j = (int)((r0 + i) % P);
            for (int gi = 0; gi < K; gi++) {
                const ct_trace_target *tg = &c->r->targets[g->tg[gi]];
                tok[(size_t)i * K + gi] = j < tg->n_tokens ? tg->tokens[j] : -1;
            }
        }
        if (fused) {
            if (ct_token_probs_rows(c->m, (int)nr, x + (size_t)r0 * D, K, tok, pd, &c->ws, err)) goto out;
        } else {
            if (ct_logits(c->m, (int)nr, x + (size_t)r0 * D, lg, &c->ws, err)) goto out;
            be->token_probs(be, (int)nr, V, lg, K, tok, pd);
        }
        be->download(be, ph, pd, (size_t)nr * K * sizeof *ph);
        if (ct_model_device_check(c->m, err)) goto out;   /* a device error: CT_ERR_DEVICE (CPU: never) */
        for (long i = 0; i < nr; i++) {
            int seq = (int)((r0 + i) / P);
            for (int gi = 0; gi < K; gi++)
                out[(size_t)gi * nseq + seq] *= ph[(size_t)i * K + gi];   /* float32 product, token after token */
        }
    }
    rc = 0;
out:
    tr_free(c, lg); tr_free(c, pd); free(ph); free(tok);
    return rc;
}
