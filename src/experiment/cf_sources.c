/* cf_sources.c — what one row needs for the seed tool's e1 design: the
 * counterfactual objects' embeddings as the noise (--noise_source
 * cf_embeddings) and the counterfactual passages as the patch source
 * (--patch_source cf_passage).  Both are checked per row, before any kind is
 * traced, so that a row they cannot serve is skipped with one clear line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "experiment/run_internal.h"

static const char *span_name(int experiment)
{
    return experiment == CT_EXP_SUBJECT ? "subject" : experiment == CT_EXP_OBJECT ? "object" : "relation";
}

int ct__check_cf_embeddings(const ct_row *row, const ct_row_plan *p, int experiment, int samples, char *msg, size_t cap)
{
    int K = 0;
    for (int q = 0; q < p->n_ranges; q++) K += p->ranges[q][1] - p->ranges[q][0];
    if (p->n_cf < 1) {
        snprintf(msg, cap, "line %d: --noise_source cf_embeddings: the row has no counterfactual object (obj_cf)", row->line);
        return 1;
    }
    int used = samples < p->n_cf ? samples : p->n_cf;   /* sample s takes cf[s mod n_cf] */
    for (int c = 0; c < used; c++) {
        if (p->cf_len[c] == K) continue;
        int k = p->cf_row_index[c];
        snprintf(msg, cap, "line %d: --noise_source cf_embeddings: obj_cf[%d] \"%s\" is %d token%s, the corrupted %s %d: "
                 "its embeddings must cover the span token for token", row->line, k, row->obj_cf[k], p->cf_len[c],
                 p->cf_len[c] == 1 ? "" : "s", span_name(experiment), K);
        return 1;
    }
    return 0;
}

void ct__cf_passages_free(int32_t **ids, int n)
{
    for (int c = 0; ids && c < n; c++) free(ids[c]);
    free(ids);
}

int ct__cf_passages(const ct_row *row, const ct_row_plan *p, const ct_tokenizer *tk, const char *fmt, int32_t ***out,
                    char *msg, size_t cap)
{
    *out = NULL;
    if (p->n_cf < 1) {
        snprintf(msg, cap, "line %d: --patch_source cf_passage: the row has no counterfactual object (obj_cf)", row->line);
        return 1;
    }
    int32_t **ids = calloc((size_t)p->n_cf, sizeof *ids);     /* [n_cf][enc.n] */
    if (!ids) return -1;
    for (int c = 0; c < p->n_cf; c++) {
        int k = p->cf_row_index[c];
        ct_prompt pr;
        ct_encoding enc = {0};
        ct_err e2;
        if (ct_prompt_build(&pr, row, fmt, row->obj_cf[k], &e2)) {
            snprintf(msg, cap, "line %d: --patch_source cf_passage: the passage with obj_cf[%d] \"%s\": %s", row->line, k,
                     row->obj_cf[k], e2.msg);
            ct__cf_passages_free(ids, p->n_cf);
            return 1;
        }
        int bad = ct_encode(tk, pr.text, (size_t)pr.len, 1, &enc, &e2);
        ct_prompt_free(&pr);
        if (bad || enc.n != p->enc.n) {
            if (bad) snprintf(msg, cap, "line %d: --patch_source cf_passage: tokenizing the passage with obj_cf[%d] \"%s\": %s",
                              row->line, k, row->obj_cf[k], e2.msg);
            else snprintf(msg, cap, "line %d: --patch_source cf_passage: the prompt with obj_cf[%d] \"%s\" in the passage is %d tokens, "
                          "the traced one %d: states are patched position for position, so the counts must agree",
                          row->line, k, row->obj_cf[k], enc.n, p->enc.n);
            ct_encoding_free(&enc);
            ct__cf_passages_free(ids, p->n_cf);
            return 1;
        }
        ids[c] = malloc((size_t)enc.n * sizeof **ids);
        if (!ids[c]) { ct_encoding_free(&enc); ct__cf_passages_free(ids, p->n_cf); return -1; }
        memcpy(ids[c], enc.ids, (size_t)enc.n * sizeof **ids);
        ct_encoding_free(&enc);
    }
    *out = ids;
    return 0;
}
