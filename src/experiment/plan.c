/* plan.c — one dataset row made ready for the tracing engine: the prompt,
 * its tokens and spans, what to corrupt, and what to score. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"

void ct_row_plan_free(ct_row_plan *p)
{
    if (!p) return;
    if (p->tokens) for (int t = 0; t < p->enc.n; t++) free(p->tokens[t]);
    free(p->tokens);
    for (int c = 0; c < p->n_cf; c++) free(p->cf ? p->cf[c] : NULL);
    free(p->cf); free(p->cf_len); free(p->cf_row_index); free(p->answer);
    ct_encoding_free(&p->enc);
    ct_prompt_free(&p->prompt);
    memset(p, 0, sizeof *p);
}

int ct_row_plan_make(ct_row_plan *p, const ct_row *row, const ct_tokenizer *tk, const char *fmt,
                     int experiment, const char *cf_context, int max_cf, ct_err *err)
{
    memset(p, 0, sizeof *p);
    int line = row->line;
    ct_err e2;
    if (experiment < CT_EXP_SUBJECT || experiment > CT_EXP_RELATION)
        return ct_fail(err, "experiment type %d: must be 1 (subject), 2 (object) or 3 (relation)", experiment);
    if (ct_prompt_build(&p->prompt, row, fmt, cf_context, err)) return -1;
    if (ct_encode(tk, p->prompt.text, (size_t)p->prompt.len, 1, &p->enc, &e2)) {
        ct_fail(err, "line %d: tokenizing the prompt: %s", line, e2.msg);
        goto fail;
    }
    if (ct_token_spans_of(&p->prompt, (const int32_t *)p->enc.offsets, p->enc.n, &p->spans, &e2)) {
        ct_fail(err, "line %d: %s", line, e2.msg);
        goto fail;
    }
    /* what to corrupt */
    const ct_token_spans *s = &p->spans;
    if (experiment == CT_EXP_SUBJECT) { p->ranges[0][0] = s->subject.b; p->ranges[0][1] = s->subject.e; p->n_ranges = 1; }
    else if (experiment == CT_EXP_OBJECT) { p->ranges[0][0] = s->object.b; p->ranges[0][1] = s->object.e; p->n_ranges = 1; }
    else for (int i = 0; i < s->n_relation; i++) {
        p->ranges[i][0] = s->relation[i].b; p->ranges[i][1] = s->relation[i].e; p->n_ranges++;
    }
    if (experiment == CT_EXP_OBJECT && p->prompt.object.e <= p->prompt.object.b) {
        ct_fail(err, "line %d: object \"%s\" not found in the %s%s", line, row->obj, p->prompt.searched,
                p->prompt.no_context ? " (the prompt format has no {context})" : "");
        goto fail;
    }
    if (p->n_ranges == 0 || p->ranges[0][1] <= p->ranges[0][0]) {
        ct_fail(err, "line %d: nothing to corrupt: the %s has no tokens", line,
                experiment == CT_EXP_RELATION ? "relation" : experiment == CT_EXP_OBJECT ? "object" : "subject");
        goto fail;
    }
    /* what to score */
    if (ct_encode_continuation(tk, p->prompt.text, row->answers[0], &p->answer, &p->n_answer, &e2)) { ct_fail(err, "line %d: answer: %s", line, e2.msg); goto fail; }
    if (p->n_answer == 0) { ct_fail(err, "line %d: the answer \"%s\" tokenizes to nothing", line, row->answers[0]); goto fail; }
    int ncf = max_cf < 0 || max_cf > row->n_obj_cf ? row->n_obj_cf : max_cf;
    if (ncf > 0) {
        p->cf = calloc((size_t)ncf, sizeof *p->cf);
        p->cf_len = calloc((size_t)ncf, sizeof *p->cf_len);
        p->cf_row_index = calloc((size_t)ncf, sizeof *p->cf_row_index);
        if (!p->cf || !p->cf_len || !p->cf_row_index) { ct_fail_code(err, CT_ERR_NOMEM, "line %d: out of memory", row->line); goto fail; }
        /* In a counterfactual context the counterfactual that passage asserts
         * is scored first, so that --metric logratio (which uses the first)
         * compares the answer with it, as the seed does; the others follow in
         * obj_cf order. */
        int first = 0;
        for (int c = 0; cf_context && c < ncf; c++) if (!strcmp(row->obj_cf[c], cf_context)) { first = c; break; }
        for (int c = 0; c < ncf; c++) {
            int src = c == 0 ? first : c <= first ? c - 1 : c;
            p->n_cf = c + 1;
            p->cf_row_index[c] = src;
            if (ct_encode_continuation(tk, p->prompt.text, row->obj_cf[src], &p->cf[c], &p->cf_len[c], &e2) || p->cf_len[c] == 0) {
                ct_fail(err, "line %d: obj_cf[%d] \"%s\": %s", line, src, row->obj_cf[src], p->cf_len[c] ? e2.msg : "tokenizes to nothing");
                goto fail;
            }
        }
    }
    /* token texts for the figures */
    p->tokens = calloc((size_t)(p->enc.n ? p->enc.n : 1), sizeof *p->tokens);
    if (!p->tokens) { ct_fail_code(err, CT_ERR_NOMEM, "line %d: out of memory", row->line); goto fail; }
    /* Each token's text is its part of the decoded prompt: the decoding of
     * ids[0..t] beyond that of ids[0..t-1].  SentencePiece decoders drop the
     * word-initial space of a token decoded alone ("\xe2\x96\x81St" -> "St"); in context
     * it stays (" St"), so labels keep word boundaries.  Where the shorter
     * decoding is not a prefix (a byte-fallback character split over tokens),
     * the token decoded alone. */
    char *prev = strdup("");
    size_t prev_len = 0;
    for (int t = 0; t < p->enc.n; t++) {
        char *txt = NULL, *cur = NULL;
        if (prev && ct_decode(tk, p->enc.ids, t + 1, 0, &cur, &e2) == 0) {
            size_t n = strlen(cur);
            if (n > prev_len && !strncmp(cur, prev, prev_len)) txt = strdup(cur + prev_len);
            free(prev);
            prev = cur;
            prev_len = n;
        }
        if (txt) { p->tokens[t] = txt; continue; }
        if (ct_decode(tk, &p->enc.ids[t], 1, 0, &txt, &e2)) {
            const char *piece = ct_id_to_token(tk, p->enc.ids[t]);
            txt = strdup(piece ? piece : "?");
        }
        if (!txt) { free(prev); ct_fail_code(err, CT_ERR_NOMEM, "line %d: out of memory", row->line); goto fail; }
        p->tokens[t] = txt;
    }
    free(prev);
    return 0;
fail:
    ct_row_plan_free(p);
    return -1;
}

int ct_row_plan_case_info(const ct_row_plan *p, const ct_row *row, int row_index, int experiment,
                          const char *kind, int window, const char *metric, ct_case_info *ci, ct_err *err)
{
    memset(ci, 0, sizeof *ci);
    ct_kind kk;
    if (ct_kind_parse(kind, &kk)) return ct_fail(err, "kind \"%s\": must be hidden, mlp, attention or head", kind);
    snprintf(ci->kind, sizeof ci->kind, "%s", kind);
    ci->row = row_index;
    ci->line = row->line;
    ci->experiment = experiment;
    ci->window = kk == CT_KIND_MLP || kk == CT_KIND_ATTN ? window : 1;   /* hidden and head cells are one layer */
    ci->answer = strdup(row->answers[0]);
    ci->metric = strdup(metric ? metric : "prob");
    ci->cf = p->prompt.cf ? strdup(p->prompt.cf) : NULL;
    ci->text = strdup(p->prompt.text);
    ci->T = p->enc.n;
    ci->tokens = calloc((size_t)(ci->T ? ci->T : 1), sizeof *ci->tokens);
    if (!ci->answer || !ci->metric || !ci->text || !ci->tokens || (p->prompt.cf && !ci->cf)) {
        ct_case_info_free(ci);
        return ct_fail(err, "line %d: out of memory", row->line);
    }
    for (int t = 0; t < ci->T; t++)
        if (!(ci->tokens[t] = strdup(p->tokens[t]))) { ct_case_info_free(ci); return ct_fail(err, "line %d: out of memory", row->line); }
    ci->spans = p->spans;
    return 0;
}

const char *ct_relation_span_name(int span) { return span == CT_RELATION_FROM_PROMPT_START ? "from_prompt_start" : "passage"; }

int ct_relation_span_parse(const char *s, int *span)
{
    if (!strcmp(s, "passage")) *span = CT_RELATION_PASSAGE;
    else if (!strcmp(s, "from_prompt_start")) *span = CT_RELATION_FROM_PROMPT_START;
    else return -1;
    return 0;
}

int ct_row_plan_relation_from_prompt_start(ct_row_plan *p, int experiment, ct_err *err)
{
    if (experiment != CT_EXP_RELATION) return ct_fail(err, "--relation_span: only experiment 3 corrupts the relation");
    int t0 = 0, pb = p->spans.passage.b;
    while (t0 < p->enc.n && p->enc.special && p->enc.special[t0]) t0++;   /* the tokenizer's BOS */
    if (t0 >= pb) return 0;                     /* nothing before the passage */
    if (p->n_ranges > 0 && p->ranges[0][0] == pb) { p->ranges[0][0] = t0; return 0; }
    /* the passage starts with the subject or the object: at most two relation runs follow */
    if (p->n_ranges >= 3) return ct_fail(err, "--relation_span from_prompt_start: no room for a fourth range");
    memmove(p->ranges[1], p->ranges[0], (size_t)p->n_ranges * sizeof p->ranges[0]);
    p->ranges[0][0] = t0;
    p->ranges[0][1] = pb;
    p->n_ranges++;
    return 0;
}
