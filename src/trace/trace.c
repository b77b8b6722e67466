/* trace.c — ct_trace_run: checks the input, picks the noise level, draws the
 * noise, runs each token group (clean, corrupted, engine) and applies the
 * metric.  See ctrace.h section 7 for the semantics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "trace/trace_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ct_trace_result_free(ct_trace_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_targets && r->targets; i++) {
        ct_trace_target *t = &r->targets[i];
        free(t->tokens); free(t->low_samples); free(t->scores); free(t->scores_samples);
    }
    free(r->targets);
    free(r->ie);
    memset(r, 0, sizeof *r);
}

static int check_input(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, ct_err *err)
{
    int V = ct_model_vocab(m);
    if (!in->ids || in->n_ids < 1) return ct_fail(err, "trace: empty prompt");
    for (int i = 0; i < in->n_ids; i++)
        if (in->ids[i] < 0 || in->ids[i] >= V)
            return ct_fail(err, "trace: prompt token %d at position %d is outside the vocabulary [0, %d)", in->ids[i], i, V);
    if (!in->ranges || in->n_ranges < 1) return ct_fail(err, "trace: no target range to corrupt");
    for (int r = 0; r < in->n_ranges; r++) {
        int b = in->ranges[2 * r], e = in->ranges[2 * r + 1];
        if (b < 0 || e > in->n_ids || b >= e)
            return ct_fail(err, "trace: target range %d:%d is empty or outside the prompt [0, %d)", b, e, in->n_ids);
        for (int q = 0; q < r; q++)
            if (b < in->ranges[2 * q + 1] && in->ranges[2 * q] < e)
                return ct_fail(err, "trace: target ranges %d:%d and %d:%d overlap", in->ranges[2 * q],
                               in->ranges[2 * q + 1], b, e);
    }
    if (!in->answer || in->n_answer < 1) return ct_fail(err, "trace: no answer token");
    for (int c = -1; c < in->n_cf; c++) {
        const int32_t *t = c < 0 ? in->answer : in->cf[c];
        int n = c < 0 ? in->n_answer : in->cf_len[c];
        if (n < 1 || !t) return ct_fail(err, "trace: counterfactual %d has no tokens", c);
        for (int i = 0; i < n; i++)
            if (t[i] < 0 || t[i] >= V)
                return ct_fail(err, "trace: %s token %d is outside the vocabulary [0, %d)", c < 0 ? "answer" : "counterfactual",
                               t[i], V);
        int mp = ct_model_max_positions(m);
        if (mp > 0 && in->n_ids + n - 1 > mp)
            return ct_fail(err, "trace: prompt + answer is %d tokens, the model takes at most %d", in->n_ids + n - 1, mp);
    }
    if (s->samples < 1) return ct_fail(err, "trace: --samples must be at least 1 (got %d)", s->samples);
    if ((s->kind == CT_KIND_MLP || s->kind == CT_KIND_ATTN) && s->window < 1) return ct_fail(err, "trace: --window must be at least 1 (got %d)", s->window);
    if (s->metric == CT_METRIC_LOGRATIO && in->n_cf < 1)
        return ct_fail(err, "trace: --metric logratio needs a counterfactual (--cf_ids)");
    if (!(s->noise_value >= 0) || isinf(s->noise_value)) return ct_fail(err, "trace: bad noise level %g", s->noise_value);
    if (s->noise_source != CT_NOISE_GAUSSIAN && s->noise_source != CT_NOISE_CF_EMBEDDINGS)
        return ct_fail(err, "trace: unknown noise source %d", (int)s->noise_source);
    if (s->patch_source == CT_PATCH_CF_PASSAGE) {
        if (in->n_cf < 1 || in->n_src != in->n_cf || !in->src_ids)
            return ct_fail(err, "trace: --patch_source cf_passage needs one counterfactual passage per counterfactual "
                           "(%d passages, %d counterfactuals)", in->n_src, in->n_cf);
        for (int c = 0; c < in->n_src; c++) {
            if (!in->src_ids[c]) return ct_fail(err, "trace: counterfactual passage %d has no tokens", c);
            for (int i = 0; i < in->n_ids; i++)
                if (in->src_ids[c][i] < 0 || in->src_ids[c][i] >= V)
                    return ct_fail(err, "trace: counterfactual passage %d: token %d at position %d is outside the vocabulary [0, %d)",
                                   c, in->src_ids[c][i], i, V);
        }
    } else if (s->patch_source != CT_PATCH_OPPOSITE_RUN)
        return ct_fail(err, "trace: unknown patch source %d", (int)s->patch_source);
    return 0;
}

/* Sample s's counterfactual: its own (s mod n_cf) when the samples differ by
 * counterfactual (cf embeddings, cf passages), else the first. */
static int sample_cf(const ct_trace_settings *s, int n_cf, int sample)
{
    int own = s->noise_source == CT_NOISE_CF_EMBEDDINGS || s->patch_source == CT_PATCH_CF_PASSAGE;
    return own && n_cf > 0 ? sample % n_cf : 0;
}

static int noise_level(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, double *level, float *emb_std,
                       ct_err *err)
{
    int D = ct_model_d_model(m), Tp = in->n_ids, K = 0;
    for (int q = 0; q < in->n_ranges; q++) K += in->ranges[2 * q + 1] - in->ranges[2 * q];
    if (s->noise_rule == CT_NOISE_ABSOLUTE) {
        *level = s->noise_value;
        *emb_std = NAN;
    } else if (s->noise_rule == CT_NOISE_EMB_STD) {
        *emb_std = ct_model_embedding_std(m);
        *level = s->noise_value * (double)*emb_std;
    } else {
        /* ROME's rule: the std of the embeddings of the tokens being corrupted */
        float *e = malloc((size_t)Tp * D * sizeof *e), *sel = malloc((size_t)K * D * sizeof *sel);
        if (!e || !sel) { free(e); free(sel); return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory"); }
        ct_embed_tokens_host(m, in->ids, Tp, e);
        int k = 0;
        for (int q = 0; q < in->n_ranges; q++)
            for (int p = in->ranges[2 * q]; p < in->ranges[2 * q + 1]; p++)
                memcpy(sel + (size_t)k++ * D, e + (size_t)p * D, (size_t)D * sizeof *e);
        *emb_std = ct_std_f32(sel, (size_t)K * D);
        *level = s->noise_value * (double)*emb_std;
        free(e); free(sel);
        if (K * D < 2) return ct_fail(err, "trace: --noise_level sN needs at least two embedding entries");
    }
    return 0;
}

static int noise_draw(const ct_trace_input *in, const ct_trace_settings *s, int D, double **z, ct_err *err)
{
    /* one RandomState(seed) stream, randn(S, e − b, D) per range in order */
    ct_rng rng;
    ct_rng_seed(&rng, s->seed);
    for (int q = 0; q < in->n_ranges; q++) {
        size_t n = (size_t)s->samples * (in->ranges[2 * q + 1] - in->ranges[2 * q]) * D;
        if (!(z[q] = malloc(n * sizeof **z))) return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory");
        ct_rng_randn(&rng, z[q], n);
    }
    return 0;
}

/* The counterfactual embeddings: e [n_cf, K, D] (only the counterfactuals the
 * S samples use need K tokens; the others are left zero, never read). */
static int noise_cf_embeddings(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, tr_noise *n, ct_err *err)
{
    int K = 0, D = n->D;
    for (int q = 0; q < in->n_ranges; q++) K += in->ranges[2 * q + 1] - in->ranges[2 * q];
    if (in->n_cf < 1) return ct_fail(err, "trace: the cf_embeddings noise needs a counterfactual (--cf_ids)");
    int used = s->samples < in->n_cf ? s->samples : in->n_cf;
    for (int c = 0; c < used; c++)
        if (in->cf_len[c] != K)
            return ct_fail(err, "trace: the cf_embeddings noise: counterfactual %d is %d token%s, the corrupted span %d: "
                           "they must have the same token count", c, in->cf_len[c], in->cf_len[c] == 1 ? "" : "s", K);
    n->n_cf = in->n_cf;
    n->K = K;
    if (!(n->cf_emb = calloc((size_t)in->n_cf * K * D, sizeof *n->cf_emb)))
        return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory");
    for (int c = 0; c < used; c++)
        if (ct_embed_tokens_host(m, in->cf[c], K, n->cf_emb + (size_t)c * K * D))
            return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory");
    return 0;
}

int tr_noise_make(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, tr_noise *n, ct_err *err)
{
    memset(n, 0, sizeof *n);
    n->source = s->noise_source;
    n->n_ranges = in->n_ranges;
    n->D = ct_model_d_model(m);
    if (s->noise_source == CT_NOISE_CF_EMBEDDINGS) {
        n->level = NAN;
        n->emb_std = NAN;
        return noise_cf_embeddings(m, in, s, n, err);
    }
    if (!(n->z = calloc((size_t)in->n_ranges, sizeof *n->z))) return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory");
    return noise_level(m, in, s, &n->level, &n->emb_std, err) || noise_draw(in, s, n->D, n->z, err) ? -1 : 0;
}

void tr_noise_free(tr_noise *n)
{
    for (int q = 0; n->z && q < n->n_ranges; q++) free(n->z[q]);
    free(n->z);
    free(n->cf_emb);
    memset(n, 0, sizeof *n);
}

void tr_noise_apply(const ct_trace_input *in, const ct_trace_settings *s, const tr_noise *n, int sample, float *x)
{
    int D = n->D;
    if (n->source == CT_NOISE_CF_EMBEDDINGS) {
        /* the counterfactual's K rows over the target ranges, in order; the sum
         * in double rounded once (torch adds the seed's float64 copy of them) */
        const float *e = n->cf_emb + (size_t)(sample % n->n_cf) * n->K * D;    /* [K, D] */
        for (int r = 0; r < in->n_ranges; r++) {
            int b = in->ranges[2 * r], len = in->ranges[2 * r + 1] - b;
            float *dst = x + (size_t)b * D;
            for (int i = 0; i < len * D; i++) dst[i] = s->replace ? e[i] : (float)((double)dst[i] + (double)e[i]);
            e += (size_t)len * D;
        }
        return;
    }
    for (int r = 0; r < in->n_ranges; r++) {
        int b = in->ranges[2 * r], len = in->ranges[2 * r + 1] - b;
        const double *zr = n->z[r] + (size_t)sample * len * D;  /* z[r] [S, len, D] */
        for (int i = 0; i < len * D; i++) {
            double nz = n->level * zr[i];                       /* numpy: float × float64 array */
            float *dst = x + (size_t)b * D + i;
            /* torch: float32 tensor += float64 tensor computes in double, rounds once */
            *dst = s->replace ? (float)nz : (float)((double)*dst + nz);
        }
    }
}

/* Groups: a target of n tokens is scored on prompt + target[:n-1]; any group
 * whose sequence starts with that serves (causal attention ignores the rest). */
static int make_groups(const ct_trace_input *in, ct_trace_result *r, tr_group *g, int *ng_out, ct_err *err)
{
    int Tp = in->n_ids, ng = 0;
    for (int k = 0; k < r->n_targets; k++) {
        const ct_trace_target *t = &r->targets[k];
        int need = Tp + t->n_tokens - 1, found = -1;
        for (int q = 0; q < ng && found < 0; q++) {
            if (g[q].T < need) continue;
            if (!memcmp(g[q].ids + Tp, t->tokens, (size_t)(t->n_tokens - 1) * sizeof(int32_t))) found = q;
        }
        if (found < 0) {
            found = ng++;
            g[found].T = need;
            g[found].ids = malloc((size_t)need * sizeof(int32_t));
            g[found].tg = malloc((size_t)r->n_targets * sizeof(int));
            if (!g[found].ids || !g[found].tg) return ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory");
            memcpy(g[found].ids, in->ids, (size_t)Tp * sizeof(int32_t));
            memcpy(g[found].ids + Tp, t->tokens, (size_t)(t->n_tokens - 1) * sizeof(int32_t));
            g[found].n_tg = 0;
            g[found].n_pos = 0;
        }
        g[found].tg[g[found].n_tg++] = k;
        if (t->n_tokens > g[found].n_pos) g[found].n_pos = t->n_tokens;
    }
    *ng_out = ng;
    return 0;
}

/* The n_top most probable entries of p [V], most probable first. */
static void top_of(const float *p, int V, int n, int32_t *id, float *pr)
{
    for (int j = 0; j < n; j++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int q = 0; q < j && !taken; q++) taken = id[q] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        id[j] = best;
        pr[j] = p[best];
    }
}

/* What the model predicts after the prompt (position Tp − 1) in the recorded
 * clean and corrupted runs: mean next-token distributions, their top tokens. */
static int predictions(tr_ctx *c, ct_err *err)
{
    const ct_backend *be = c->be;
    int S = c->S, D = c->D, V = c->V, n = V < CT_TOP_K ? V : CT_TOP_K;
    float *x = tr_alloc(c, (size_t)(S + 1) * D);          /* [1 + S, D] final rows at Tp − 1 */
    float *lg = tr_alloc(c, (size_t)(S + 1) * V);         /* [1 + S, V] their logits */
    float *pd = tr_alloc(c, 2 * (size_t)V);               /* [2, V] clean, mean corrupted */
    float *ph = malloc(2 * (size_t)V * sizeof *ph);
    int rc = -1;
    if (!x || !lg || !pd || !ph) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory (predictions)"); goto out; }
    tr_copy(c, 1, D, x, D, tr_resid(c, &c->clean, c->L, 0) + (size_t)(c->Tp - 1) * D, D);
    tr_copy(c, S, D, x + D, D, tr_resid(c, &c->corr, c->L, 0) + (size_t)(c->Tp - 1) * D, (long)c->T * D);
    if (ct_logits(c->m, S + 1, x, lg, &c->ws, err)) goto out;
    be->softmax_mean(be, 1, V, lg, pd);
    be->softmax_mean(be, S, V, lg + V, pd + V);
    be->download(be, ph, pd, 2 * (size_t)V * sizeof *ph);
    c->r->n_top = n;
    top_of(ph, V, n, c->r->top_clean_id, c->r->top_clean_p);
    top_of(ph + V, V, n, c->r->top_corrupt_id, c->r->top_corrupt_p);
    rc = 0;
out:
    tr_free(c, x); tr_free(c, lg); tr_free(c, pd); free(ph);
    return rc;
}

/* CT_PATCH_CF_PASSAGE: the clean runs of the S samples' counterfactual
 * passages, each followed by the group's teacher-forced tokens, recorded as
 * the patch source (with what its kind restores). */
static int record_cf_passages(tr_ctx *c, const ct_trace_input *in, int keep_sub, int keep_z, ct_err *err)
{
    int S = c->S, T = c->T, Tp = c->Tp, D = c->D;
    int32_t *ids = malloc((size_t)S * T * sizeof *ids);        /* [S, T] */
    float *x = tr_alloc(c, (size_t)S * T * D);                 /* [S, T, D] block-0 inputs (backend) */
    int rc = -1;
    if (!ids || !x) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory (counterfactual passages)"); goto out; }
    for (int s = 0; s < S; s++) {
        memcpy(ids + (size_t)s * T, in->src_ids[sample_cf(c->s, in->n_src, s)], (size_t)Tp * sizeof *ids);
        memcpy(ids + (size_t)s * T + Tp, c->g->ids + Tp, (size_t)(T - Tp) * sizeof *ids);
    }
    ct_embed_tokens(c->m, ids, S * T, x);
    for (int s = 0; s < S; s++) ct_embed_finish(c->m, 0, T, x + (size_t)s * T * D);
    rc = tr_run_record(c, &c->alt, S, x, keep_sub, keep_z, err);
out:
    free(ids);
    tr_free(c, x);
    return rc;
}

/* Clean and corrupted runs of one group (and the counterfactual passages'
 * runs for CT_PATCH_CF_PASSAGE), then the engine.  The noise is drawn and
 * added on the host (it must match NumPy's stream bit for bit); the
 * corrupted embeddings then go to the backend once. */
static int run_group(tr_ctx *c, const ct_trace_input *in, const tr_noise *nz, ct_err *err)
{
    int S = c->S, T = c->T, D = c->D, P = c->g->n_pos, ntg = c->g->n_tg;
    const ct_backend *be = c->be;
    size_t one = (size_t)T * D;
    float *emb = tr_alloc(c, one);                          /* [T, D] token embeddings (backend) */
    float *xn = tr_alloc(c, (size_t)S * one);               /* [S, T, D] corrupted (backend) */
    float *rows = tr_alloc(c, (size_t)S * P * D);           /* [S, P, D] (backend) */
    float *xh = malloc((size_t)(S + 1) * one * sizeof *xh);  /* [S, T, D] host copy to add the noise, */
    float *eh = xh ? xh + (size_t)S * one : NULL;               /* then [T, D] the clean embeddings */
    float *p = malloc((size_t)ntg * S * sizeof *p);         /* [ntg, S] */
    c->base_p = malloc((size_t)ntg * S * sizeof *c->base_p);
    int rc = -1;
    if (!emb || !xn || !rows || !xh || !p || !c->base_p) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory"); goto out; }
    ct_embed_tokens(c->m, c->g->ids, T, emb);
    be->download(be, eh, emb, one * sizeof *eh);
    for (int s = 0; s < S; s++) {
        float *x = xh + (size_t)s * one;
        memcpy(x, eh, one * sizeof *x);
        tr_noise_apply(in, c->s, nz, s, x);
    }
    be->upload(be, xn, xh, (size_t)S * one * sizeof *xh);
    for (int s = 0; s < S; s++) ct_embed_finish(c->m, 0, T, xn + (size_t)s * one);
    ct_embed_finish(c->m, 0, T, emb);
    c->x0_noisy = xn;
    /* the source run (tr_src) keeps what its kind restores: sublayer outputs, or z */
    int heads = c->s->kind == CT_KIND_HEAD, sub = !heads && c->s->kind != CT_KIND_HIDDEN;
    int src_clean = tr_src(c) == &c->clean, src_corr = tr_src(c) == &c->corr;
    /* ... and the base run its sublayer outputs when the entry steps are sums */
    int base_sub_clean = tr_entry_by_adds(c) && tr_base(c) == &c->clean;
    int base_sub_corr = tr_entry_by_adds(c) && tr_base(c) == &c->corr;
    if (tr_run_record(c, &c->clean, 1, emb, (sub && src_clean) || base_sub_clean, heads && src_clean, err)) goto out;
    if (tr_run_record(c, &c->corr, S, xn, (sub && src_corr) || base_sub_corr, heads && src_corr, err)) goto out;
    if (tr_cf_passage(c) && record_cf_passages(c, in, sub, heads, err)) goto out;
    if (c->g->first_group && predictions(c, err)) goto out;
    tr_run_score_rows(c, &c->clean, rows);
    if (tr_score(c, 1, rows, p, err)) goto out;
    for (int gi = 0; gi < ntg; gi++) {
        c->r->targets[c->g->tg[gi]].high_score = p[gi];
        if (tr_base_clean(c))
            for (int s = 0; s < S; s++) c->base_p[(size_t)gi * S + s] = p[gi];
    }
    tr_run_score_rows(c, &c->corr, rows);
    if (tr_score(c, S, rows, p, err)) goto out;
    for (int gi = 0; gi < ntg; gi++)
        for (int s = 0; s < S; s++) {
            c->r->targets[c->g->tg[gi]].low_samples[s] = p[(size_t)gi * S + s];
            if (!tr_base_clean(c)) c->base_p[(size_t)gi * S + s] = p[(size_t)gi * S + s];
        }
    rc = c->s->engine == CT_ENGINE_NAIVE ? tr_engine_naive(c, err) : tr_engine_fast(c, err);
out:
    tr_run_free(c, &c->clean);
    tr_run_free(c, &c->corr);
    tr_run_free(c, &c->alt);
    tr_free(c, emb); tr_free(c, xn); tr_free(c, rows); free(xh); free(p); free(c->base_p);
    c->base_p = NULL;
    c->x0_noisy = NULL;
    return rc;
}

static float mean_f32(const float *x, int n, size_t stride)
{
    float s = 0;                    /* float32, in order: torch's mean over the rows */
    for (int i = 0; i < n; i++) s += x[(size_t)i * stride];
    return s / (float)n;
}

static double lg(float p) { return log(p > 1e-40f ? (double)p : 1e-40); }

/* ie/te of the answer under the metric (ctrace.h, ct_metric). */
static void apply_metric(const ct_trace_settings *s, ct_trace_result *r)
{
    const ct_trace_target *a = &r->targets[0];
    int n_cf = r->n_targets - 1;
#define CF(k) (n_cf > 0 ? &r->targets[1 + sample_cf(s, n_cf, (k))] : NULL)   /* sample k's counterfactual */
    int S = r->S, TL = r->T * r->L * r->H, rev = s->reverse;   /* cells: [T, L, H] */
    if (s->metric == CT_METRIC_PROB) {
        float ref = rev ? a->high_score : a->low_score;
        if (rev) {                  /* the clean score averaged as the cells are: S equal rows */
            float acc = 0;
            for (int i = 0; i < S; i++) acc += a->high_score;
            ref = acc / (float)S;
        }
        r->te = rev ? a->low_score - a->high_score : a->high_score - a->low_score;
        for (int i = 0; i < TL; i++) r->ie[i] = a->scores[i] - ref;
        return;
    }
    /* per sample, value v = log p (logprob) or log p_cf − log p (logratio) */
#define VAL(pa, pc) (s->metric == CT_METRIC_LOGPROB ? lg(pa) : lg(pc) - lg(pa))
    double te = 0;
    for (int k = 0; k < S; k++) {
        const ct_trace_target *cf = CF(k);
        double vc = VAL(a->high_score, cf ? cf->high_score : 0), vl = VAL(a->low_samples[k], cf ? cf->low_samples[k] : 0);
        te += rev ? vl - vc : vc - vl;
    }
    r->te = (float)(te / S);
    for (int i = 0; i < TL; i++) {
        double ie = 0;
        for (int k = 0; k < S; k++) {
            const ct_trace_target *cf = CF(k);
            double vr = VAL(a->scores_samples[(size_t)k * TL + i], cf ? cf->scores_samples[(size_t)k * TL + i] : 0);
            double vb = rev ? VAL(a->high_score, cf ? cf->high_score : 0) : VAL(a->low_samples[k], cf ? cf->low_samples[k] : 0);
            ie += vr - vb;
        }
        r->ie[i] = (float)(ie / S);
    }
#undef VAL
#undef CF
}

int ct_trace_run(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, ct_trace_result *out,
                 ct_err *err)
{
    double t0 = now_s();
    memset(out, 0, sizeof *out);
    if (check_input(m, in, s, err)) return -1;
    int L = ct_model_n_layers(m), D = ct_model_d_model(m), S = s->samples, Tp = in->n_ids;
    const struct ct_config *cfg = ct_model_config(m);
    int H = s->kind == CT_KIND_HEAD ? cfg->n_heads : 1;
    size_t TLH = (size_t)Tp * L * H;            /* cells of the grid [T, L, H] */
    ct_trace_result *r = out;
    r->T = Tp; r->L = L; r->S = S; r->H = H;
    r->n_targets = 1 + in->n_cf;
    r->targets = calloc((size_t)r->n_targets, sizeof *r->targets);
    r->ie = calloc(TLH, sizeof *r->ie);
    tr_group g[64 + 1];
    memset(g, 0, sizeof g);
    int ng = 0, rc = -1;
    tr_noise nz;
    memset(&nz, 0, sizeof nz);
    if (!r->targets || !r->ie) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory"); goto out; }
    if (r->n_targets > 64) { ct_fail(err, "trace: at most 63 counterfactuals (got %d)", in->n_cf); goto out; }
    for (int k = 0; k < r->n_targets; k++) {
        ct_trace_target *t = &r->targets[k];
        t->n_tokens = k ? in->cf_len[k - 1] : in->n_answer;
        t->tokens = malloc((size_t)t->n_tokens * sizeof *t->tokens);
        t->low_samples = calloc((size_t)S, sizeof(float));
        t->scores = calloc(TLH, sizeof(float));
        t->scores_samples = calloc((size_t)S * TLH, sizeof(float));
        if (!t->tokens || !t->low_samples || !t->scores || !t->scores_samples) { ct_fail_code(err, CT_ERR_NOMEM, "trace: out of memory"); goto out; }
        memcpy(t->tokens, k ? in->cf[k - 1] : in->answer, (size_t)t->n_tokens * sizeof *t->tokens);
    }
    if (make_groups(in, r, g, &ng, err)) goto out;

    /* the noise level and the noise */
    int first = Tp;
    for (int q = 0; q < in->n_ranges; q++)
        if (in->ranges[2 * q] < first) first = in->ranges[2 * q];
    /* counterfactual passages: states differ from the first differing token on */
    for (int c = 0; s->patch_source == CT_PATCH_CF_PASSAGE && c < in->n_src; c++)
        for (int t = 0; t < first; t++)
            if (in->src_ids[c][t] != in->ids[t]) { first = t; break; }
    if (tr_noise_make(m, in, s, &nz, err)) goto out;
    r->noise_level = nz.level;
    r->emb_std = nz.emb_std;

    tr_ctx c = {.m = m, .be = ct_model_backend(m), .s = s, .r = r, .L = L, .D = D, .KV = ct_model_kv_dim(m), .V = ct_model_vocab(m), .S = S,
                .Tp = Tp, .first = first, .total = (long)ng * (long)TLH, .H = H,
                .QW = cfg->n_heads * cfg->head_dim};
    for (int q = 0; q < ng; q++) {
        c.g = &g[q];
        c.T = g[q].T;
        g[q].first_group = q == 0;
        if (run_group(&c, in, &nz, err)) { ct_scratch_free(&c.ws); goto out; }
    }
    ct_scratch_free(&c.ws);

    for (int k = 0; k < r->n_targets; k++) {
        ct_trace_target *t = &r->targets[k];
        t->low_score = mean_f32(t->low_samples, S, 1);
        for (size_t i = 0; i < TLH; i++) t->scores[i] = mean_f32(t->scores_samples + i, S, TLH);
    }
    apply_metric(s, r);
    r->seconds = now_s() - t0;
    r->backend = c.be->name;
    r->compute = c.be->compute;
    rc = 0;
out:
    for (int q = 0; q < ng; q++) { free(g[q].ids); free(g[q].tg); }
    tr_noise_free(&nz);
    if (rc) ct_trace_result_free(r);
    return rc;
}
