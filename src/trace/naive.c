/* naive.c — the reference engine: ROME's method.  Every cell (t, l) is one
 * full forward pass of all S rows from the block-0 input, with the restored
 * value put in at the site(s) as the pass goes.  Nothing is reused between
 * cells; only the final logits are limited to the scored positions. */
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "trace/patch.h"

int tr_engine_naive(tr_ctx *c, ct_err *err)
{
    int S = c->S, T = c->T, D = c->D, KV = c->KV, L = c->L, P = c->g->n_pos, ntg = c->g->n_tg;
    size_t one = (size_t)S * T * D;
    float *x0 = malloc(one * sizeof *x0);                   /* [S, T, D] start of every cell */
    float *x = malloc(one * sizeof *x);                     /* [S, T, D] the running state */
    float *ao = malloc(one * sizeof *ao), *mo = malloc(one * sizeof *mo);   /* [S, T, D] */
    float *kv = malloc(2 * (size_t)S * T * KV * sizeof *kv);               /* [2, S, T, KV] */
    float *rows = malloc((size_t)S * P * D * sizeof *rows);  /* [S, P, D] */
    float *p = malloc((size_t)ntg * S * sizeof *p);         /* [ntg, S] */
    float **kn = malloc(2 * (size_t)S * sizeof *kn);
    const float **none = calloc((size_t)S, sizeof *none);
    int rc = -1;
    if (!x0 || !x || !ao || !mo || !kv || !rows || !p || !kn || !none) {
        ct_fail(err, "trace: out of memory (naive engine)");
        goto out;
    }
    for (int s = 0; s < S; s++) {
        kn[s] = kv + (size_t)s * T * KV;
        kn[S + s] = kv + ((size_t)S + s) * T * KV;
        /* forward: the corrupted input; reverse: the clean input in every row */
        memcpy(x0 + (size_t)s * T * D, c->s->reverse ? tr_resid(c, &c->clean, 0, 0) : c->x0_noisy + (size_t)s * T * D,
               (size_t)T * D * sizeof *x0);
    }
    ct_site site = tr_kind_site(c->s->kind);
    for (int t = 0; t < c->Tp; t++) {
        for (int l = 0; l < L; l++) {
            int lo, hi;
            tr_window(c->s->kind, c->s->window, L, l, &lo, &hi);
            tr_patch pc = {.c = c, .site = site, .t = t, .p0 = 0, .n = T, .nslot = 1, .nseq_per_slot = S,
                           .pa = &lo, .pb = &hi};
            memcpy(x, x0, one * sizeof *x);
            for (int j = 0; j < L; j++)
                if (tr_block(c, j, S, T, 0, x, x, none, none, kn, kn + S, ao, mo, tr_patch_cb, &pc, err))
                    goto out;
            for (int s = 0; s < S; s++)
                memcpy(rows + (size_t)s * P * D, x + ((size_t)s * T + c->Tp - 1) * D, (size_t)P * D * sizeof *x);
            if (tr_score(c, S, rows, p, err)) goto out;
            for (int gi = 0; gi < ntg; gi++)
                for (int s = 0; s < S; s++) tr_put(c, gi, s, t, l, p[(size_t)gi * S + s]);
            c->r->cells_run++;
            c->done++;
            if (c->s->progress) c->s->progress(c->s->progress_ctx, c->done, c->total);
        }
    }
    rc = 0;
out:
    free(x0); free(x); free(ao); free(mo); free(kv); free(rows); free(p); free(kn); free(none);
    return rc;
}
