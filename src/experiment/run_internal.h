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

double ct__now(void);   /* Unix time, seconds (run_case.c) */
#endif
