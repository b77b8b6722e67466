/* summary.c — the one-line JSON records of a run directory: summary.jsonl
 * (one line per case) and errors.jsonl (one line per skipped row). */
#include <math.h>
#include <stdlib.h>
#include "ctrace_app.h"
#include "report/report_internal.h"

/* JSON has no NaN/Inf: write null for them. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v); else cJSON_AddNullToObject(o, k);
}

/* k: s as valid UTF-8 (dataset strings may hold invalid bytes), or null. */
static void add_text(cJSON *o, const char *k, const char *s)
{
    char *v = ct__utf8_escaped(s);
    if (v) cJSON_AddStringToObject(o, k, v); else cJSON_AddNullToObject(o, k);
    free(v);
}

char *ct_summary_line(const ct_case_info *ci, int L, const float *ie, float p_clean, float p_corrupt, float te)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "row", ci->row);
    cJSON_AddNumberToObject(o, "line", ci->line);
    cJSON_AddStringToObject(o, "kind", ci->kind);
    cJSON_AddNumberToObject(o, "experiment", ci->experiment);
    add_text(o, "answer", ci->answer);
    add_text(o, "cf", ci->cf);
    cJSON_AddItemToObject(o, "tokens", ct__tokens_json(ci->tokens, ci->T));
    cJSON_AddItemToObject(o, "spans", ct__spans_json(&ci->spans));
    add_num(o, "p_clean", p_clean);
    add_num(o, "p_corrupt", p_corrupt);
    add_num(o, "te", te);
    /* what the model predicts after the prompt (the seed prints it) */
    if (ci->top_clean.n) cJSON_AddItemToObject(o, "top_clean", ct__top_json(&ci->top_clean));
    if (ci->top_corrupt.n) cJSON_AddItemToObject(o, "top_corrupt", ct__top_json(&ci->top_corrupt));
    /* the top IE cell: the largest |IE| (with its sign: reverse patching and
     * some metrics give negative effects), the first in row-major order on
     * ties, NaN cells ignored */
    int bt = -1, bl = -1;
    float best = 0;
    for (int t = 0; ie && t < ci->T; t++)
        for (int l = 0; l < L; l++) {
            float v = ie[(long)t * L + l];
            if (!isnan(v) && (bt < 0 || fabsf(v) > fabsf(best))) { best = v; bt = t; bl = l; }
        }
    if (bt >= 0) {
        cJSON *top = cJSON_AddObjectToObject(o, "top_ie");
        cJSON_AddNumberToObject(top, "token", bt);
        cJSON_AddNumberToObject(top, "layer", bl);
        add_num(top, "ie", best);
        if (ci->tokens && ci->tokens[bt]) add_text(top, "text", ci->tokens[bt]);
    } else {
        cJSON_AddNullToObject(o, "top_ie");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *ct_error_line(int row, int line, const char *file, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "row", row);
    cJSON_AddNumberToObject(o, "line", line);
    add_text(o, "file", file);
    add_text(o, "error", msg ? msg : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
