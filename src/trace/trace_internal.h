/* trace_internal.h — what the pieces of the tracing engine share.
 *
 * A trace is run per "group": one token sequence (the prompt plus a
 * teacher-forced answer prefix) and the targets scored on it.  Single-token
 * answers and counterfactuals all share the prompt's group; a multi-token
 * target whose prefix no group holds gets its own.  Within a group:
 *   clean run (1 sequence) and corrupted run (S sequences), every activation
 *   recorded (tr_run); then the restored cells, by the naive or fast engine.
 * The engines write p(target) per sample into the result's scores_samples. */
#ifndef CT_TRACE_INTERNAL_H
#define CT_TRACE_INTERNAL_H
#include "ctrace.h"
#include "ops/ops.h"

typedef struct tr_group {
    int T;                      /* sequence length: Tp + longest teacher-forced prefix */
    int32_t *ids;               /* [T] */
    int n_pos;                  /* scored positions Tp-1 .. Tp-1+n_pos-1 */
    int n_tg;
    int *tg;                    /* [n_tg] indices into the result's targets */
    int first_group;            /* the group whose runs also give the predictions */
} tr_group;

/* Every activation of one forward pass of nb sequences of length T. */
typedef struct tr_run {
    int nb, T;
    float *resid;               /* [L+1, nb, T, D]: [0] block-0 input, [l+1] block-l output */
    float *attn, *mlp;          /* [L, nb, T, D] sublayer outputs (keep_sub; else scratch) */
    float *k, *v;               /* [L, nb, T, KV] keys (rotary applied) and values */
    float *z;                   /* [L, nb, T, H·hd] per-query-head attention context, the
                                   input of o_proj (keep_z: the head kind's source run; else NULL) */
} tr_run;

typedef struct tr_ctx {
    const ct_model *m;
    const ct_backend *be;       /* the model's: every activation buffer below is its memory */
    const ct_trace_settings *s;
    ct_trace_result *r;
    const tr_group *g;
    int L, D, KV, V, S, Tp, T;
    int H, QW;                  /* grid heads (n_heads for the head kind, else 1); QW = n_heads·head_dim */
    int first;                  /* first corrupted position */
    float *x0_noisy;            /* [S, T, D] corrupted block-0 input */
    tr_run clean, corr;
    tr_run alt;                 /* CT_PATCH_CF_PASSAGE: clean runs of the S samples' counterfactual
                                   passages (the patch source); else unused */
    float *base_p;              /* [n_tg, S] per-sample score of the unpatched base run
                                   (forward: corrupted; reverse: clean) */
    ct_scratch ws;              /* handed to ct_block / ct_logits */
    long done, total;           /* progress, cells */
} tr_ctx;

/* The block-l site output of run r, sequence b: [T, D] (site HIDDEN = block output). */
static inline float *tr_site(const tr_ctx *c, const tr_run *r, ct_site site, int l, int b)
{
    size_t one = (size_t)r->T * c->D;
    switch (site) {
    case CT_SITE_ATTN: return r->attn + ((size_t)l * r->nb + b) * one;
    case CT_SITE_MLP:  return r->mlp + ((size_t)l * r->nb + b) * one;
    case CT_SITE_HIDDEN: return r->resid + ((size_t)(l + 1) * r->nb + b) * one;
    default: return r->resid + (size_t)b * one;
    }
}
/* The layer-l per-head context of run r, sequence b: [T, H·hd] (head h = columns [h·hd, (h+1)·hd)). */
static inline float *tr_z(const tr_ctx *c, const tr_run *r, int l, int b)
{ return r->z + ((size_t)l * r->nb + b) * (size_t)r->T * c->QW; }
static inline float *tr_resid(const tr_ctx *c, const tr_run *r, int l, int b)
{ return r->resid + ((size_t)l * r->nb + b) * (size_t)r->T * c->D; }
static inline float *tr_k(const tr_ctx *c, const tr_run *r, int l, int b)
{ return r->k + ((size_t)l * r->nb + b) * (size_t)r->T * c->KV; }
static inline float *tr_v(const tr_ctx *c, const tr_run *r, int l, int b)
{ return r->v + ((size_t)l * r->nb + b) * (size_t)r->T * c->KV; }

/* The run that restored cells start from and the run the restored values come from:
 *   forward                 base corrupted [S],  source clean [1]
 *   reverse                 base clean [1],      source corrupted [S]
 *   CT_PATCH_CF_PASSAGE     base corrupted [S],  source the counterfactual passages' clean runs [S]
 *                           (either direction: `reverse` only sets the metric's reference)
 * A run of one sequence is shared by all samples. */
static inline int tr_cf_passage(const tr_ctx *c) { return c->s->patch_source == CT_PATCH_CF_PASSAGE; }
static inline int tr_base_clean(const tr_ctx *c) { return c->s->reverse && !tr_cf_passage(c); }
static inline const tr_run *tr_base(const tr_ctx *c) { return tr_base_clean(c) ? &c->clean : &c->corr; }
static inline const tr_run *tr_src(const tr_ctx *c)
{ return tr_cf_passage(c) ? &c->alt : c->s->reverse ? &c->corr : &c->clean; }
static inline int tr_src_per_sample(const tr_ctx *c) { return tr_src(c) != &c->clean; }
static inline int tr_base_seq(const tr_ctx *c, int s) { return tr_base_clean(c) ? 0 : s; }
static inline int tr_src_seq(const tr_ctx *c, int s) { return tr_src_per_sample(c) ? s : 0; }

/* The fast engine's MLP-kind entry steps need no block: at the entry layer j
 * only the MLP output at t is replaced, and the attention output there is the
 * base run's (its inputs are the base run's, and attention is
 * batch-invariant), so the entry's output row is resid + attn (base run) +
 * mlp (source), the block's own sum (fast.c).  The base run then keeps its
 * sublayer outputs. */
static inline int tr_entry_by_adds(const tr_ctx *c)
{
    return c->s->kind == CT_KIND_MLP && c->s->engine == CT_ENGINE_FAST;
}

/* The site a kind restores, and the layer window [lo, hi) of cell layer l
 * (hidden and head: [l, l + 1)). */
ct_site tr_kind_site(ct_kind k);
void tr_window(int kind, int window, int L, int l, int *lo, int *hi);

/* dst [n, len] (rows dld apart) = src [n, len] (rows sld apart; 0: one row
 * repeated), in the backend's memory. */
static inline void tr_copy(const tr_ctx *c, int n, long len, float *dst, long dld, const float *src, long sld)
{
    c->be->copy_rows(c->be, n, len, dst, dld, src, sld);
}
static inline float *tr_alloc(const tr_ctx *c, size_t nfloats) { return ct_be_floats(c->be, nfloats); }
static inline void tr_free(const tr_ctx *c, void *p) { if (p) c->be->free(c->be, p); }

/* Bookkeeping around ct_block: counts the work for the benchmarks. */
int tr_block(tr_ctx *c, int layer, int nb, int n, int p0, const float *x_in, float *x_out,
             const float *const *k_past, const float *const *v_past, float *const *k_new,
             float *const *v_new, float *attn_out, float *mlp_out, ct_patch_fn patch, void *pctx,
             ct_err *err);

/* Keys/values only of layer `layer` for nb sequences at positions [p0, p0+n):
 * x [nb, n, D] block inputs -> k, v [nb, n, KV] (ct_block_kv, with work counting). */
int tr_block_kv(tr_ctx *c, int layer, int nb, int n, int p0, const float *x, float *k, float *v, ct_err *err);

/* Scores nseq sequences from their final residual rows x [nseq, n_pos, D] (the
 * group's scored positions): out [n_tg, nseq] = Π_j softmax(logits)[tok_j].
 * On a backend with token_probs_linear (ops.h) the rows go through the output
 * projection CT_SCORE_ROWS at a time, so the vocabulary matrix is read once
 * per that many rows; the fast engine gathers about as many before scoring. */
enum { CT_SCORE_ROWS = 512 };
int tr_score(tr_ctx *c, int nseq, const float *x, float *out, ct_err *err);

/* Runs all layers over nb sequences of block-0 input x0 [nb, T, D], recording
 * the residual stream and keys/values, the sublayer outputs if keep_sub and the
 * per-head context z if keep_z (only the run restored values come from needs
 * them, and only for the kinds that restore them). */
int tr_run_record(tr_ctx *c, tr_run *r, int nb, const float *x0, int keep_sub, int keep_z, ct_err *err);
void tr_run_free(const tr_ctx *c, tr_run *r);
/* Final residual rows of a recorded run at the scored positions: out [nb, n_pos, D]. */
void tr_run_score_rows(const tr_ctx *c, const tr_run *r, float *out);

/* The noise (ctrace.h section 7), made once per trace and put into each
 * sample's host token embeddings x [T, D]. */
typedef struct tr_noise {
    ct_noise_source source;
    double level;               /* CT_NOISE_GAUSSIAN: by the settings' rule; NaN for the cf embeddings */
    float emb_std;              /* the std the level came from; NaN for an absolute level or the cf embeddings */
    int n_ranges, D;
    double **z;                 /* CT_NOISE_GAUSSIAN: z[r] [S, e − b, D] per target range r, one
                                   RandomState(seed) stream */
    int n_cf, K;                /* CT_NOISE_CF_EMBEDDINGS: K = the target ranges' tokens */
    float *cf_emb;              /* [n_cf, K, D] token embeddings of the counterfactuals */
} tr_noise;
/* Errors: out of memory; with CT_NOISE_CF_EMBEDDINGS no counterfactual, or a
 * counterfactual used by a sample whose token count is not K. */
int tr_noise_make(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, tr_noise *n, ct_err *err);
void tr_noise_apply(const ct_trace_input *in, const ct_trace_settings *s, const tr_noise *n, int sample, float *x);
void tr_noise_free(tr_noise *n);

/* The engines: fill scores_samples [S, Tp, L, H] of every target of the group. */
int tr_engine_naive(tr_ctx *c, ct_err *err);
int tr_engine_fast(tr_ctx *c, ct_err *err);

/* Writes p into scores_samples[s][t][cell] of target g's slot gi (index into
 * c->g->tg); cell = l·H + h, which is l for the sublayer kinds (H = 1). */
static inline void tr_put(tr_ctx *c, int gi, int s, int t, int cell, float p)
{
    ct_trace_target *tg = &c->r->targets[c->g->tg[gi]];
    tg->scores_samples[((size_t)s * c->Tp + t) * c->L * c->H + cell] = p;
}
#endif
