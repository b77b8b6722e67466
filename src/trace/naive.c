/* naive.c — the reference engine: ROME's method.  Every cell (t, l) — (t, l, h)
 * for the head kind — is one full forward pass of all S rows from the block-0
 * input, with the restored value put in at the site(s) as the pass goes.
 * Nothing is reused between cells; only the final logits are limited to the
 * scored positions. */
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "trace/patch.h"

int tr_engine_naive(tr_ctx *c, ct_err *err)
{
    int S = c->S, T = c->T, D = c->D, KV = c->KV, L = c->L, P = c->g->n_pos, ntg = c->g->n_tg;
    size_t one = (size_t)S * T * D;
    float *x0 = tr_alloc(c, one);                           /* [S, T, D] start of every cell */
    float *x = tr_alloc(c, one);                            /* [S, T, D] the running state */
    float *ao = tr_alloc(c, one), *mo = tr_alloc(c, one);   /* [S, T, D] */
    float *kv = tr_alloc(c, 2 * (size_t)S * T * KV);        /* [2, S, T, KV] */
    float *rows = tr_alloc(c, (size_t)S * P * D);           /* [S, P, D] */
    float *p = malloc((size_t)ntg * S * sizeof *p);         /* [ntg, S] */
    float **kn = malloc(2 * (size_t)S * sizeof *kn);
    const float **none = calloc((size_t)S, sizeof *none);
    int rc = -1;
    if (!x0 || !x || !ao || !mo || !kv || !rows || !p || !kn || !none) {
        ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory (naive engine)");
        goto out;
    }
    for (int s = 0; s < S; s++) {
        kn[s] = kv + (size_t)s * T * KV;
        kn[S + s] = kv + ((size_t)S + s) * T * KV;
    }
    /* the base run's input (tr_base): corrupted, or (reverse) the clean input in every row */
    if (tr_base_clean(c)) tr_copy(c, S, (long)T * D, x0, (long)T * D, tr_resid(c, &c->clean, 0, 0), 0);
    else tr_copy(c, 1, (long)one, x0, (long)one, c->x0_noisy, (long)one);
    ct_site site = tr_kind_site(c->s->kind);
    int H = c->H;                               /* heads per layer in the grid (1: the whole site) */
    for (int t = 0; t < c->Tp; t++) {
        for (int cell = 0; cell < L * H; cell++) {
            int l = cell / H, h = c->s->kind == CT_KIND_HEAD ? cell % H : -1, lo, hi;
            tr_window(c->s->kind, c->s->window, L, l, &lo, &hi);
            tr_patch pc = {.c = c, .site = site, .t = t, .p0 = 0, .n = T, .nslot = 1, .nseq_per_slot = S,
                           .pa = &lo, .pb = &hi, .ph = &h};
            tr_copy(c, 1, (long)one, x, (long)one, x0, (long)one);
            for (int j = 0; j < L; j++)
                if (tr_block(c, j, S, T, 0, x, x, none, none, kn, kn + S, ao, mo, tr_patch_cb, &pc, err))
                    goto out;
            tr_copy(c, S, (long)P * D, rows, (long)P * D, x + (size_t)(c->Tp - 1) * D, (long)T * D);
            if (tr_score(c, S, rows, p, err)) goto out;
            for (int gi = 0; gi < ntg; gi++)
                for (int s = 0; s < S; s++) tr_put(c, gi, s, t, cell, p[(size_t)gi * S + s]);
            c->r->cells_run++;
            c->done++;
            if (c->s->progress) c->s->progress(c->s->progress_ctx, c->done, c->total);
        }
    }
    rc = 0;
out:
    tr_free(c, x0); tr_free(c, x); tr_free(c, ao); tr_free(c, mo); tr_free(c, kv); tr_free(c, rows);
    free(p); free(kn); free(none);
    return rc;
}
