/* predict.c — what the model actually predicts after the prompt, in the clean
 * run and in the corrupted runs (the seed tool prints both): the top tokens
 * and their probabilities at the last prompt position.  The corrupted runs
 * are made here again, the way the tracing engine makes them (one
 * RandomState(seed) stream, randn(S, e - b, D) per target range in order,
 * noise x level added to, or with replace put in place of, the token
 * embeddings, in double and rounded once), and their probabilities are
 * averaged over the samples, as the engine averages p(answer); run_case.c
 * checks the answer's probability against the engine's high/low scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace.h"
#include "experiment/predict.h"

/* logits of the last of T positions for input rows x0 [T, D] (block-0 input). */
static int last_logits(const ct_model *m, float *x, int T, float *logits, ct_scratch *ws, ct_err *err)
{
    int L = ct_model_n_layers(m), D = ct_model_d_model(m), KV = ct_model_kv_dim(m);
    float *k = malloc((size_t)T * KV * sizeof *k), *v = malloc((size_t)T * KV * sizeof *v);
    float *att = malloc((size_t)T * D * sizeof *att), *mlp = malloc((size_t)T * D * sizeof *mlp);
    int rc = -1;
    if (!k || !v || !att || !mlp) { ct_fail(err, "out of memory"); goto out; }
    for (int l = 0; l < L; l++) {
        float *kn[1] = {k}, *vn[1] = {v};
        if (ct_block(m, l, 1, T, 0, x, x, NULL, NULL, kn, vn, att, mlp, NULL, NULL, ws, err)) goto out;
    }
    rc = ct_logits(m, 1, x + (size_t)(T - 1) * D, logits, ws, err);
out:
    free(k); free(v); free(att); free(mlp);
    return rc;
}

static void softmax_add(const float *logits, int V, double *acc, double w)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    for (int i = 0; i < V; i++) acc[i] += w * exp((double)logits[i] - mx) / sum;
}

static void top_of(const double *p, int V, const ct_tokenizer *tk, ct_top_tokens *out)
{
    memset(out, 0, sizeof *out);
    for (int j = 0; j < CT_TOP_K && j < V; j++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int q = 0; q < j; q++) taken |= out->id[q] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        out->id[j] = best;
        out->p[j] = (float)p[best];
        char *txt = NULL;
        ct_err e;
        int32_t id = best;
        if (!tk || ct_decode(tk, &id, 1, 0, &txt, &e)) {
            const char *piece = tk ? ct_id_to_token(tk, id) : NULL;
            txt = strdup(piece ? piece : "?");
        }
        out->text[j] = txt;
        out->n = j + 1;
    }
}

int ct__predictions(const ct_model *m, const ct_tokenizer *tk, const ct_trace_input *in, const ct_trace_settings *s,
                    double level, ct_top_tokens *clean, ct_top_tokens *corrupt, double *p_answer_clean,
                    double *p_answer_corrupt, ct_err *err)
{
    int T = in->n_ids, D = ct_model_d_model(m), V = ct_model_vocab(m), S = s->samples;
    float *emb = malloc((size_t)T * D * sizeof *emb), *x = malloc((size_t)T * D * sizeof *x);
    float *logits = malloc((size_t)V * sizeof *logits);
    double *pc = calloc((size_t)V, sizeof *pc), *pn = calloc((size_t)V, sizeof *pn);
    double **z = calloc((size_t)(in->n_ranges > 0 ? in->n_ranges : 1), sizeof *z);
    ct_scratch ws = {0};
    int rc = -1;
    memset(clean, 0, sizeof *clean);
    memset(corrupt, 0, sizeof *corrupt);
    if (!emb || !x || !logits || !pc || !pn || !z || S < 1) { ct_fail(err, "out of memory"); goto out; }
    ct_embed_tokens(m, in->ids, T, emb);
    memcpy(x, emb, (size_t)T * D * sizeof *x);
    ct_embed_finish(m, 0, T, x);
    if (last_logits(m, x, T, logits, &ws, err)) goto out;
    softmax_add(logits, V, pc, 1.0);
    ct_rng rng;
    ct_rng_seed(&rng, s->seed);
    for (int q = 0; q < in->n_ranges; q++) {
        size_t n = (size_t)S * (in->ranges[2 * q + 1] - in->ranges[2 * q]) * D;
        if (!(z[q] = malloc(n * sizeof **z))) { ct_fail(err, "out of memory"); goto out; }
        ct_rng_randn(&rng, z[q], n);
    }
    for (int smp = 0; smp < S; smp++) {
        memcpy(x, emb, (size_t)T * D * sizeof *x);
        for (int q = 0; q < in->n_ranges; q++) {
            int b = in->ranges[2 * q], len = in->ranges[2 * q + 1] - b;
            const double *zr = z[q] + (size_t)smp * len * D;
            for (int i = 0; i < len * D; i++) {
                double nz = level * zr[i];
                float *dst = x + (size_t)b * D + i;
                *dst = s->replace ? (float)nz : (float)((double)*dst + nz);
            }
        }
        ct_embed_finish(m, 0, T, x);
        if (last_logits(m, x, T, logits, &ws, err)) goto out;
        softmax_add(logits, V, pn, 1.0 / S);
    }
    top_of(pc, V, tk, clean);
    top_of(pn, V, tk, corrupt);
    if (p_answer_clean) *p_answer_clean = in->n_answer > 0 ? pc[in->answer[0]] : NAN;
    if (p_answer_corrupt) *p_answer_corrupt = in->n_answer > 0 ? pn[in->answer[0]] : NAN;
    rc = 0;
out:
    for (int q = 0; z && q < in->n_ranges; q++) free(z[q]);
    free(z); free(emb); free(x); free(logits); free(pc); free(pn);
    ct_scratch_free(&ws);
    return rc;
}
