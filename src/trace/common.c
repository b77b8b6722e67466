/* common.c — pieces both engines use: windows, block calls with work
 * counting, recorded runs, scoring (softmax at the answer tokens), patching. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "trace/patch.h"

ct_site tr_kind_site(ct_kind k)
{
    return k == CT_KIND_MLP ? CT_SITE_MLP : k == CT_KIND_ATTN ? CT_SITE_ATTN : CT_SITE_HIDDEN;
}

void tr_window(int kind, int window, int L, int l, int *lo, int *hi)
{
    if (kind == CT_KIND_HIDDEN) { *lo = l; *hi = l + 1; return; }
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

void tr_patch_cb(void *ctx, ct_site site, int layer, float *buf)
{
    const tr_patch *p = ctx;
    if (site != p->site) return;
    const tr_ctx *c = p->c;
    int D = c->D, row = p->t - p->p0;
    if (row < 0 || row >= p->n) return;     /* position t is not among this call's rows */
    const tr_run *src = tr_src(c);
    for (int k = 0; k < p->nslot; k++) {
        if (layer < p->pa[k] || layer >= p->pb[k]) continue;
        for (int s = 0; s < p->nseq_per_slot; s++) {
            const float *v = tr_site(c, src, site, layer, tr_src_seq(c, s))
                             + (size_t)p->t * D;
            memcpy(buf + ((size_t)(k * p->nseq_per_slot + s) * p->n + row) * D, v, (size_t)D * sizeof *v);
        }
    }
}

void tr_run_free(tr_run *r)
{
    free(r->resid); free(r->attn); free(r->mlp); free(r->k); free(r->v);
    memset(r, 0, sizeof *r);
}

int tr_run_record(tr_ctx *c, tr_run *r, int nb, const float *x0, int keep_sub, ct_err *err)
{
    int L = c->L, T = c->T, D = c->D, KV = c->KV;
    size_t one = (size_t)nb * T * D, onekv = (size_t)nb * T * KV;
    memset(r, 0, sizeof *r);
    r->nb = nb;
    r->T = T;
    r->resid = malloc((L + 1) * one * sizeof(float));
    /* sublayer outputs are kept only where they are restored from; otherwise
     * one layer's worth of scratch is reused */
    int ls = keep_sub ? L : 1;
    r->attn = malloc(ls * one * sizeof(float));
    r->mlp = malloc(ls * one * sizeof(float));
    r->k = malloc(L * onekv * sizeof(float));
    r->v = malloc(L * onekv * sizeof(float));
    float **kn = malloc(2 * (size_t)nb * sizeof *kn);
    const float **none = calloc((size_t)nb, sizeof *none);
    if (!r->resid || !r->attn || !r->mlp || !r->k || !r->v || !kn || !none) {
        free(kn); free(none); tr_run_free(r);
        return ct_fail(err, "trace: out of memory recording a run of %d sequences", nb);
    }
    memcpy(r->resid, x0, one * sizeof(float));
    for (int l = 0; l < L; l++) {
        for (int b = 0; b < nb; b++) {
            kn[b] = tr_k(c, r, l, b);
            kn[nb + b] = tr_v(c, r, l, b);
        }
        if (tr_block(c, l, nb, T, 0, r->resid + l * one, r->resid + (l + 1) * one, none, none, kn, kn + nb,
                     r->attn + (keep_sub ? l : 0) * one, r->mlp + (keep_sub ? l : 0) * one, NULL, NULL, err)) {
            free(kn); free(none); tr_run_free(r);
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
        for (int j = 0; j < P; j++)
            memcpy(out + ((size_t)b * P + j) * D, tr_resid(c, r, c->L, b) + (size_t)(c->Tp - 1 + j) * D,
                   (size_t)D * sizeof(float));
}

int tr_score(tr_ctx *c, int nseq, const float *x, float *out, ct_err *err)
{
    const tr_group *g = c->g;
    int P = g->n_pos, V = c->V, D = c->D;
    long rows = (long)nseq * P;
    long chunk = (1L << 22) / V;                /* ~16 MB of logits at a time */
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    float *lg = malloc((size_t)chunk * V * sizeof *lg);
    double *sum = malloc((size_t)chunk * sizeof *sum);
    float *mx = malloc((size_t)chunk * sizeof *mx);
    if (!lg || !sum || !mx) { free(lg); free(sum); free(mx); return ct_fail(err, "trace: out of memory scoring"); }
    for (int k = 0; k < g->n_tg * nseq; k++) out[k] = 1.0f;
    for (long r0 = 0; r0 < rows; r0 += chunk) {
        long nr = rows - r0 < chunk ? rows - r0 : chunk;
        c->r->logit_rows += (double)nr;
        if (ct_logits(c->m, (int)nr, x + (size_t)r0 * D, lg, &c->ws, err)) {
            free(lg); free(sum); free(mx);
            return -1;
        }
        /* Each row on its own, in a fixed order: the same bits whatever the threads. */
        #pragma omp parallel for schedule(static)
        for (long i = 0; i < nr; i++) {
            const float *z = lg + (size_t)i * V;
            float m = z[0];
            for (int v = 1; v < V; v++) m = z[v] > m ? z[v] : m;
            double s = 0;
            for (int v = 0; v < V; v++) s += (double)expf(z[v] - m);
            mx[i] = m;
            sum[i] = s;
        }
        for (long i = 0; i < nr; i++) {
            long row = r0 + i;
            int seq = (int)(row / P), j = (int)(row % P);
            for (int gi = 0; gi < g->n_tg; gi++) {
                const ct_trace_target *tg = &c->r->targets[g->tg[gi]];
                if (j >= tg->n_tokens) continue;
                float e = expf(lg[(size_t)i * V + tg->tokens[j]] - mx[i]);
                out[(size_t)gi * nseq + seq] *= e / (float)sum[i];   /* float32 product, token after token */
            }
        }
    }
    free(lg); free(sum); free(mx);
    return 0;
}
