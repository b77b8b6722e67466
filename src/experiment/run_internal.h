/* run_internal.h — shared by run.c (the walk over the rows) and run_case.c
 * (one row: plans, traces, case files, figures, summary lines). */
#ifndef CT_RUN_INTERNAL_H
#define CT_RUN_INTERNAL_H
#include <stdio.h>
#include "ctrace_app.h"

typedef struct ct_run_ctx {
    const ct_run_settings *s;
    const ct_model *m;
    const ct_tokenizer *tk;
    FILE *summary;              /* summary[.shard-K-of-N].jsonl.tmp.<pid>: one line per case of the selected rows */
    FILE *errors;               /* errors[.shard-K-of-N].jsonl.tmp.<pid>: one line per problem */
    ct_run_progress *prog;
    double started;
    double last_report;         /* when the progress callback last ran inside a case */
    char model_id[160];         /* ct_model_identity of s->model_dir (set by the first case) */
} ct_run_ctx;

/* One dataset row (text[0..len), JSONL line line_no): every context and kind.
 * 0: all its cases are done; 1: at least one problem went to errors.jsonl;
 * -1: the run must stop (err says why). */
int ct__run_row(ct_run_ctx *c, int row_index, int line_no, const char *text, size_t len, ct_err *err);

/* cf_sources.c.  --noise_source cf_embeddings: every counterfactual a sample
 * uses has the corrupted span's token count (0), else 1 with msg naming the
 * row and the counterfactual.  --patch_source cf_passage: *ids [p->n_cf]
 * [p->enc.n] the prompt with cf[c] in the passage in place of the object
 * (free with ct__cf_passages_free); 0, 1 a row problem (msg), -1 out of memory. */
int ct__check_cf_embeddings(const ct_row *row, const ct_row_plan *p, int experiment, int samples, char *msg, size_t cap);
int ct__cf_passages(const ct_row *row, const ct_row_plan *p, const ct_tokenizer *tk, const char *fmt, int32_t ***ids,
                    char *msg, size_t cap);
void ct__cf_passages_free(int32_t **ids, int n);

double ct__now(void);   /* Unix time, seconds (run_case.c) */
#endif
