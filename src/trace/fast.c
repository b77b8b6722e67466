/* fast.c — the reuse engine (docs/design.md, "The reuse engine").
 *
 * A restoration at (t, l) changes nothing before it, so:
 *   - cells with t before the first corrupted position equal the base run
 *     (forward: corrupted; reverse: clean): copied, not run;
 *   - layers below the first restored layer are the base run's, and at the
 *     first restored layer only position t changes (its input is the base
 *     run's): one position is computed there, not T − t;
 *   - positions before t keep the base run's values at every layer: only
 *     positions [t, T) are computed, attention reading the base run's cached
 *     keys/values for positions < t.
 *   - at the last layer only the scored positions need a full block; the
 *     positions [t, Tp − 1) need only their keys/values (ct_block_kv);
 * All cells of one t run together, one ct_block call per layer, so the matrix
 * products see (branches × S × (T − t)) rows.
 *
 * Branches.  Cells with the same restored layer set are the same run (window
 * sets clip at the ends: computed once, copied).  Window sets that start at the
 * same layer a follow one trajectory until the shorter one stops restoring:
 * the longest set is a "trunk" (entered at layer a by a one-position step),
 * the others "fork" from it at their end layer, copying its state there.
 * A hidden cell (t, l) starts at layer l + 1 from the base run's block-l output
 * with row t replaced: no entry step at all.
 * A head cell (t, l, h) is a trunk of one layer: entered at layer l with head
 * h's z[t] restored, nothing restored above.  The H trunks entering at layer l
 * share one entry step (one ct_block call of H·S sequences, each slot
 * restoring its own head), then run from layer l + 1 over [t, T) like every
 * branch.  There are L·H head cells per t; they are run in passes of a few
 * layers' cells so the branch states take no more memory than the other
 * kinds' (at most max(L, H) branches at once).
 * Branches are kept in one state buffer sorted by the layer they start at, so
 * the branches active at layer j are always a prefix of it. */
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "trace/patch.h"

enum { MAXL = 512 };            /* layers the planner's fixed arrays hold */

enum { BR_HIDDEN, BR_TRUNK, BR_FORK };

typedef struct branch {
    int type;
    int start;                  /* first layer computed over positions [t, T) */
    int entry;                  /* BR_TRUNK: the layer of the one-position entry step */
    int pa, pb;                 /* restore at layers [pa, pb) during the [t, T) steps */
    int parent;                 /* BR_FORK: the trunk's slot */
    int hid_l;                  /* BR_HIDDEN: the restored block */
    int head;                   /* BR_TRUNK of the head kind: the head restored at entry; else -1 */
} branch;

/* Builds the branches of one t; cell_slot[l] = the slot whose result cell l takes. */
static int plan(const tr_ctx *c, branch *br, int *cell_slot)
{
    int L = c->L, nb = 0;
    int lo[MAXL], hi[MAXL], set_of[MAXL], nset = 0;
    int cell_set[MAXL];
    for (int l = 0; l < L; l++) {
        int a, b, k;
        tr_window(c->s->kind, c->s->window, L, l, &a, &b);
        for (k = 0; k < nset; k++) if (lo[k] == a && hi[k] == b) break;
        if (k == nset) { lo[k] = a; hi[k] = b; nset++; }
        cell_set[l] = k;
    }
    if (c->s->kind == CT_KIND_HIDDEN) {
        for (int k = 0; k < nset; k++) {
            br[nb] = (branch){.type = BR_HIDDEN, .start = lo[k] + 1, .hid_l = lo[k], .parent = -1, .head = -1};
            set_of[k] = nb++;
        }
    } else {
        for (int k = 0; k < nset; k++) set_of[k] = -1;
        for (int k = 0; k < nset; k++) {
            if (set_of[k] >= 0) continue;
            /* the trunk of start layer lo[k]: the longest set starting there */
            int tk = k;
            for (int q = 0; q < nset; q++) if (lo[q] == lo[k] && hi[q] > hi[tk]) tk = q;
            int trunk = nb++;
            br[trunk] = (branch){.type = BR_TRUNK, .entry = lo[tk], .start = lo[tk] + 1, .pa = lo[tk] + 1,
                                 .pb = hi[tk], .parent = -1, .head = -1};
            set_of[tk] = trunk;
            for (int q = 0; q < nset; q++) {
                if (lo[q] != lo[k] || q == tk) continue;
                br[nb] = (branch){.type = BR_FORK, .start = hi[q], .pa = 0, .pb = 0, .parent = trunk, .head = -1};
                set_of[q] = nb++;
            }
        }
    }
    /* stable sort by start layer (nb ≤ L: insertion sort), remembering where each went */
    int order[MAXL], where[MAXL];
    branch tmp[MAXL];
    for (int i = 0; i < nb; i++) order[i] = i;
    for (int i = 1; i < nb; i++) {
        int o = order[i], j = i - 1;
        while (j >= 0 && br[order[j]].start > br[o].start) { order[j + 1] = order[j]; j--; }
        order[j + 1] = o;
    }
    for (int i = 0; i < nb; i++) { tmp[i] = br[order[i]]; where[order[i]] = i; }
    for (int i = 0; i < nb; i++) {
        br[i] = tmp[i];
        if (br[i].type == BR_FORK) br[i].parent = where[br[i].parent];
    }
    for (int l = 0; l < L; l++) cell_slot[l] = where[set_of[cell_set[l]]];
    return nb;
}

/* The head cells of layers [la, lb): slot (l − la)·H + h restores head h at
 * layer l (entry step) and nothing above; already sorted by start layer.
 * cell[k] = the grid cell l·H + h that slot k computes. */
static int plan_heads(const tr_ctx *c, int la, int lb, branch *br, int *cell)
{
    int H = c->H, nb = 0;
    for (int l = la; l < lb; l++)
        for (int h = 0; h < H; h++) {
            br[nb] = (branch){.type = BR_TRUNK, .entry = l, .start = l + 1, .pa = 0, .pb = 0, .parent = -1, .head = h};
            cell[nb++] = l * H + h;
        }
    return nb;
}

/* The engine's buffers, sized for NS branch slots (rows: NS × S × T). */
typedef struct fbuf {
    float *st;                  /* [NS, S, n, D] branch states */
    float *ao, *mo;             /* [NS·S, n, D] sublayer outputs (scratch) */
    float *kv;                  /* [2, NS·S, n, KV] new keys/values (scratch) */
    float *ex;                  /* [NS·S, 1, D] entry rows */
    float *rows;                /* [NS·S, P, D] scored rows */
    float *kvx;                 /* [2, NS·S, nk, KV] last-layer keys/values */
    float *past;                /* [2, NS·S, Tp-1, KV] their assembled past */
    float **kn;                 /* [2, NS·S] */
    const float **kp;           /* [2, NS·S] */
    int *pa, *pb, *ph;          /* [NS] per-slot restored layers [pa, pb) and head */
    int *ent, *epa, *epb, *eph; /* [NS] the slots entering at one layer, and theirs */
} fbuf;

/* Runs the nslot branches br of position t through the layers and leaves
 * their scored rows in out [nslot·S, P, D] (backend memory) for scoring. */
static int run_branches(tr_ctx *c, int t, const branch *br, int nslot, fbuf *f, float *out, ct_err *err)
{
    int S = c->S, T = c->T, D = c->D, KV = c->KV, L = c->L, P = c->g->n_pos;
    const tr_run *base = tr_base(c), *src = tr_src(c);
    ct_site site = tr_kind_site(c->s->kind);
    /* restoring after the entry step: only the window kinds (hidden cells are
     * placed in the state, head cells are one layer) */
    ct_patch_fn sweep_cb = site == CT_SITE_HIDDEN || site == CT_SITE_HEADS ? NULL : tr_patch_cb;
    float *st = f->st, *ao = f->ao, *mo = f->mo, *kv = f->kv, *ex = f->ex, *rows = f->rows;
    float **kn = f->kn;
    const float **kp = f->kp;
    int n = T - t;
    size_t sz = (size_t)S * n * D;           /* one branch's state */
    for (int k = 0; k < nslot; k++) { f->pa[k] = br[k].pa; f->pb[k] = br[k].pb; f->ph[k] = br[k].head; }
    for (int j = 0; j <= L; j++) {
        /* 1. trunks entering at layer j, all in one call: one position (t), the
         *    base run's input, each slot restored at j (its own head, for heads) */
        int ne = 0;
        for (int k = 0; k < nslot; k++) {
            if (br[k].type != BR_TRUNK || br[k].entry != j) continue;
            f->ent[ne] = k; f->epa[ne] = j; f->epb[ne] = j + 1; f->eph[ne] = br[k].head;
            ne++;
        }
        if (ne > 0) {
            int eb = ne * S;
            if (tr_entry_by_adds(c)) {
                /* MLP kind: the entry row is the block's own sum, resid + attn
                 * (base run) + the source's MLP output, no block run (see
                 * tr_entry_by_adds) */
                for (int b = 0; b < eb; b++) {
                    int s = b % S, bs = tr_base_seq(c, s);
                    c->be->add(c->be, D, tr_resid(c, base, j, bs) + (size_t)t * D,
                               tr_site(c, base, CT_SITE_ATTN, j, bs) + (size_t)t * D,
                               tr_site(c, src, CT_SITE_MLP, j, tr_src_seq(c, s)) + (size_t)t * D, ex + (size_t)b * D);
                }
            } else {
                for (int b = 0; b < eb; b++) {
                    int bs = tr_base_seq(c, b % S);
                    tr_copy(c, 1, D, ex + (size_t)b * D, D, tr_resid(c, base, j, bs) + (size_t)t * D, D);
                    kp[b] = tr_k(c, base, j, bs);
                    kp[eb + b] = tr_v(c, base, j, bs);
                    kn[b] = kv + (size_t)b * KV;
                    kn[eb + b] = kv + ((size_t)eb + b) * KV;
                }
                tr_patch pc = {.c = c, .site = site, .t = t, .p0 = t, .n = 1, .nslot = ne, .nseq_per_slot = S,
                               .pa = f->epa, .pb = f->epb, .ph = f->eph};
                if (tr_block(c, j, eb, 1, t, ex, ex, kp, kp + eb, kn, kn + eb, ao, mo, tr_patch_cb, &pc, err))
                    return -1;
            }
            /* the entered state: row t from the entry, positions after it the base run's block-j output */
            for (int i = 0; i < ne; i++) {
                float *b0 = st + (size_t)f->ent[i] * sz;
                for (int s = 0; s < S; s++) {
                    float *dst = b0 + (size_t)s * n * D;
                    tr_copy(c, 1, D, dst, D, ex + ((size_t)i * S + s) * D, D);
                    if (n > 1)
                        tr_copy(c, 1, (long)(n - 1) * D, dst + D, 0,
                                tr_resid(c, base, j + 1, tr_base_seq(c, s)) + (size_t)(t + 1) * D, 0);
                }
            }
        }
        /* 2. branches starting at layer j: forks copy their trunk (its state
         *    after layer j − 1); hidden cells take the base run's block
         *    j − 1 output with row t restored */
        for (int k = 0; k < nslot; k++) {
            if (br[k].start != j) continue;
            float *b0 = st + (size_t)k * sz;
            if (br[k].type == BR_FORK) {
                tr_copy(c, 1, (long)sz, b0, 0, st + (size_t)br[k].parent * sz, 0);
            } else if (br[k].type == BR_HIDDEN) {
                for (int s = 0; s < S; s++) {
                    float *dst = b0 + (size_t)s * n * D;
                    tr_copy(c, 1, (long)n * D, dst, 0, tr_resid(c, base, j, tr_base_seq(c, s)) + (size_t)t * D, 0);
                    tr_copy(c, 1, D, dst, 0,
                            tr_site(c, src, CT_SITE_HIDDEN, br[k].hid_l, tr_src_seq(c, s)) + (size_t)t * D, 0);
                }
            }
        }
        if (j == L) break;
        /* 3. layer j for every active branch: positions [t, T), in place */
        int act = 0;
        while (act < nslot && br[act].start <= j) act++;
        if (act == 0) continue;
        int nb = act * S;
        if (j == L - 1 && t < c->Tp - 1) {
            /* last layer: full outputs only at the scored positions; the
             * positions [t, Tp-1) contribute their keys/values alone */
            int nk = c->Tp - 1 - t, np = n - nk, pl = c->Tp - 1;
            tr_copy(c, nb, (long)nk * D, ao, (long)nk * D, st, (long)n * D);
            float *kx = f->kvx, *vx = f->kvx + (size_t)nb * nk * KV;          /* [nb, nk, KV] each */
            if (tr_block_kv(c, j, nb, nk, t, ao, kx, vx, err)) return -1;
            for (int b = 0; b < nb; b++) {
                int bs = tr_base_seq(c, b % S);
                float *pk = f->past + (size_t)b * pl * KV, *pv = f->past + ((size_t)nb + b) * pl * KV;   /* [pl, KV] */
                tr_copy(c, 1, (long)t * KV, pk, 0, tr_k(c, base, j, bs), 0);
                tr_copy(c, 1, (long)nk * KV, pk + (size_t)t * KV, 0, kx + (size_t)b * nk * KV, 0);
                tr_copy(c, 1, (long)t * KV, pv, 0, tr_v(c, base, j, bs), 0);
                tr_copy(c, 1, (long)nk * KV, pv + (size_t)t * KV, 0, vx + (size_t)b * nk * KV, 0);
                kp[b] = pk;
                kp[nb + b] = pv;
                kn[b] = kv + (size_t)b * np * KV;
                kn[nb + b] = kv + ((size_t)nb + b) * np * KV;
            }
            tr_copy(c, nb, (long)np * D, rows, (long)np * D, st + (size_t)nk * D, (long)n * D);
            tr_patch pl_pc = {.c = c, .site = site, .t = t, .p0 = pl, .n = np, .nslot = act, .nseq_per_slot = S,
                              .pa = f->pa, .pb = f->pb, .ph = f->ph};
            if (tr_block(c, j, nb, np, pl, rows, rows, kp, kp + nb, kn, kn + nb, ao, mo, sweep_cb, &pl_pc, err))
                return -1;
            tr_copy(c, nb, (long)np * D, st + (size_t)nk * D, (long)n * D, rows, (long)np * D);
            continue;
        }
        for (int b = 0; b < nb; b++) {
            int bs = tr_base_seq(c, b % S);
            kp[b] = tr_k(c, base, j, bs);
            kp[nb + b] = tr_v(c, base, j, bs);
            kn[b] = kv + (size_t)b * n * KV;
            kn[nb + b] = kv + ((size_t)nb + b) * n * KV;
        }
        tr_patch pc = {.c = c, .site = site, .t = t, .p0 = t, .n = n, .nslot = act, .nseq_per_slot = S,
                       .pa = f->pa, .pb = f->pb, .ph = f->ph};
        if (tr_block(c, j, nb, n, t, st, st, kp, kp + nb, kn, kn + nb, ao, mo, sweep_cb, &pc, err)) return -1;
    }
    /* every branch's rows at the scored positions */
    tr_copy(c, nslot * S, (long)P * D, out, (long)P * D, st + (size_t)(c->Tp - 1 - t) * D, (long)n * D);
    c->r->cells_run += nslot;
    return 0;
}

/* Scoring is deferred: the scored rows of several t wait in one buffer and
 * are scored together (tr_score: CT_SCORE_ROWS rows per pass over the
 * vocabulary matrix, where one t has only branches × S rows).  A row's
 * probabilities do not depend on the rows scored with it (the products are
 * batch-invariant), so this changes no bit. */
typedef struct pending {
    int n;                      /* entries waiting */
    int rows;                   /* sequences waiting: Σ nslot · S */
    int cap;                    /* sequences the buffer holds */
    float *x;                   /* [cap, P, D] their scored rows (backend memory) */
    float *p;                   /* [ntg, cap] their scores (host) */
    struct pend_t {
        int t, off, ncell;
        int *cell;              /* [ncell] grid cell of each result */
        int *slot;              /* [ncell] the branch slot it takes */
    } *e;                       /* [cap] (an entry has at least one sequence) */
    int *ints;                  /* [cap, 2, NS] storage of cell and slot */
} pending;

/* Scores everything waiting and files the results in the grid (progress has
 * counted them when they ran). */
static int flush(tr_ctx *c, pending *pd, ct_err *err)
{
    if (pd->n == 0) return 0;
    const int S = c->S, ntg = c->g->n_tg;
    if (tr_score(c, pd->rows, pd->x, pd->p, err)) return -1;
    for (int i = 0; i < pd->n; i++) {
        const struct pend_t *e = &pd->e[i];
        for (int q = 0; q < e->ncell; q++)
            for (int gi = 0; gi < ntg; gi++)
                for (int s = 0; s < S; s++)
                    tr_put(c, gi, s, e->t, e->cell[q],
                           pd->p[(size_t)gi * pd->rows + e->off + (size_t)e->slot[q] * S + s]);
    }
    pd->n = pd->rows = 0;
    return 0;
}

int tr_engine_fast(tr_ctx *c, ct_err *err)
{
    int S = c->S, T = c->T, D = c->D, KV = c->KV, L = c->L, H = c->H, P = c->g->n_pos, ntg = c->g->n_tg;
    if (L > MAXL) return ct_fail(err, "trace: the fast engine handles at most %d layers (model has %d)", MAXL, L);
    int heads = c->s->kind == CT_KIND_HEAD;
    int NS = L > H ? L : H;                      /* branch slots at once */
    int lpp = heads ? (NS / H > 0 ? NS / H : 1) : L;   /* head kind: layers of cells per pass */
    size_t cap = (size_t)NS * S * T;             /* rows: branches × samples × positions */
    fbuf f = {0};
    f.st = tr_alloc(c, cap * D);
    f.ao = tr_alloc(c, cap * D);
    f.mo = tr_alloc(c, cap * D);
    f.kv = tr_alloc(c, 2 * cap * KV);
    f.ex = tr_alloc(c, (size_t)NS * S * D);
    f.rows = tr_alloc(c, (size_t)NS * S * P * D);
    f.kvx = tr_alloc(c, 2 * cap * KV);
    f.past = tr_alloc(c, 2 * cap * KV);
    pending pd = {0};
    pd.cap = NS * S > CT_SCORE_ROWS ? NS * S : CT_SCORE_ROWS;      /* sequences: at least one t's */
    pd.x = tr_alloc(c, (size_t)pd.cap * P * D);
    pd.p = malloc((size_t)ntg * pd.cap * sizeof *pd.p);
    pd.e = malloc((size_t)pd.cap * sizeof *pd.e);
    pd.ints = malloc((size_t)pd.cap * 2 * NS * sizeof *pd.ints);
    f.kn = malloc(2 * (size_t)NS * S * sizeof *f.kn);
    f.kp = malloc(2 * (size_t)NS * S * sizeof *f.kp);
    int *ints = malloc(9 * (size_t)NS * sizeof *ints);   /* pa, pb, ph, ent, epa, epb, eph, cell, slot_of */
    branch *br = malloc((size_t)NS * sizeof *br);
    int rc = -1;
    if (!f.st || !f.ao || !f.mo || !f.kv || !f.ex || !f.rows || !f.kvx || !f.past || !f.kn || !f.kp || !ints || !br ||
        !pd.x || !pd.p || !pd.e || !pd.ints) {
        ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory (fast engine)");
        goto out;
    }
    f.pa = ints; f.pb = ints + NS; f.ph = ints + 2 * NS;
    f.ent = ints + 3 * NS; f.epa = ints + 4 * NS; f.epb = ints + 5 * NS; f.eph = ints + 6 * NS;
    int *cell = ints + 7 * NS;                   /* [NS] head kind: the grid cell of slot k */
    int *cell_slot = ints + 8 * NS;              /* [L] sublayer kinds: the slot of cell l */
    int LH = L * H;
    /* Cells before the first corrupted position: the base run, bit for bit. */
    for (int t = 0; t < c->first && t < c->Tp; t++)
        for (int q = 0; q < LH; q++)
            for (int gi = 0; gi < ntg; gi++)
                for (int s = 0; s < S; s++) tr_put(c, gi, s, t, q, c->base_p[(size_t)gi * S + s]);
    c->done += (long)(c->first < c->Tp ? c->first : c->Tp) * LH;

    for (int t = c->first; t < c->Tp; t++) {
        for (int la = 0; la < L; la += lpp) {
            int lb = la + lpp < L ? la + lpp : L;
            int nslot = heads ? plan_heads(c, la, lb, br, cell) : plan(c, br, cell_slot);
            if (pd.rows + nslot * S > pd.cap && flush(c, &pd, err)) goto out;
            struct pend_t *e = &pd.e[pd.n];
            int *ci = pd.ints + (size_t)pd.n * 2 * NS;
            *e = (struct pend_t){.t = t, .off = pd.rows, .ncell = heads ? nslot : L, .cell = ci, .slot = ci + NS};
            for (int i = 0; i < e->ncell; i++) {
                e->cell[i] = heads ? cell[i] : i;
                e->slot[i] = heads ? i : cell_slot[i];
            }
            if (run_branches(c, t, br, nslot, &f, pd.x + (size_t)pd.rows * P * D, err)) goto out;
            pd.n++;
            pd.rows += nslot * S;
            /* progress counts the cells run (their scores follow at the next flush) */
            c->done += e->ncell;
            if (c->s->progress) c->s->progress(c->s->progress_ctx, c->done, c->total);
        }
    }
    if (flush(c, &pd, err)) goto out;
    rc = 0;
out:
    tr_free(c, f.st); tr_free(c, f.ao); tr_free(c, f.mo); tr_free(c, f.kv); tr_free(c, f.ex); tr_free(c, f.rows);
    tr_free(c, f.kvx); tr_free(c, f.past);
    tr_free(c, pd.x); free(pd.p); free(pd.e); free(pd.ints);
    free(f.kn); free(f.kp); free(ints); free(br);
    return rc;
}
