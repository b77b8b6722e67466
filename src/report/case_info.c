/* case_info.c — the "ctrace_case" metadata value of a case file: what plots,
 * averages and summaries need (tokens, token spans, kind, answer, metric),
 * as one JSON object stored as a string (safetensors metadata values must be
 * strings).  Format: docs/run-output.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"
#include "report/report_internal.h"

void ct_case_info_free(ct_case_info *ci)
{
    if (!ci) return;
    free(ci->answer); free(ci->metric); free(ci->cf); free(ci->text); free(ci->model_id);
    if (ci->tokens) for (int t = 0; t < ci->T; t++) free(ci->tokens[t]);
    free(ci->tokens);
    for (int i = 0; i < CT_TOP_K; i++) { free(ci->top_clean.text[i]); free(ci->top_corrupt.text[i]); }
    memset(ci, 0, sizeof *ci);
}

/* [{"id":585,"token":" Lorimel","p":0.99},...] */
cJSON *ct__top_json(const ct_top_tokens *t)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < t->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", t->id[i]);
        cJSON_AddStringToObject(o, "token", t->text[i] ? t->text[i] : "");
        cJSON_AddNumberToObject(o, "p", t->p[i]);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void top_parse(const cJSON *a, ct_top_tokens *t)
{
    memset(t, 0, sizeof *t);
    const cJSON *o;
    cJSON_ArrayForEach(o, a) {
        if (t->n == CT_TOP_K) break;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id"), *tok = cJSON_GetObjectItemCaseSensitive(o, "token"),
                    *p = cJSON_GetObjectItemCaseSensitive(o, "p");
        if (!cJSON_IsNumber(id) || !cJSON_IsNumber(p)) continue;
        t->id[t->n] = id->valueint;
        t->p[t->n] = (float)p->valuedouble;
        t->text[t->n] = strdup(cJSON_IsString(tok) ? tok->valuestring : "");
        t->n++;
    }
}

static cJSON *pair(ct_interval s) { int v[2] = {s.b, s.e}; return cJSON_CreateIntArray(v, 2); }

cJSON *ct__spans_json(const ct_token_spans *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "passage", pair(s->passage));
    cJSON_AddItemToObject(o, "prompt", pair(s->prompt));
    cJSON_AddItemToObject(o, "subject", pair(s->subject));
    cJSON_AddItemToObject(o, "object", pair(s->object));
    cJSON *rel = cJSON_AddArrayToObject(o, "relation");
    for (int i = 0; i < s->n_relation; i++) cJSON_AddItemToArray(rel, pair(s->relation[i]));
    cJSON_AddNumberToObject(o, "last", s->last);
    return o;
}

cJSON *ct__tokens_json(char *const *tokens, int T)
{
    cJSON *a = cJSON_CreateArray();
    for (int t = 0; t < T; t++) {
        char *v = ct__utf8_escaped(tokens && tokens[t] ? tokens[t] : "");
        cJSON_AddItemToArray(a, cJSON_CreateString(v ? v : ""));
        free(v);
    }
    return a;
}

/* Dataset text may hold invalid UTF-8: JSON readers (Python's safetensors
 * and json) refuse it, so it is written escaped. */
static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    char *e = ct__utf8_escaped(v);
    if (e) cJSON_AddStringToObject(o, k, e); else cJSON_AddNullToObject(o, k);
    free(e);
}

char *ct_case_info_json(const ct_case_info *ci)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddNumberToObject(o, "row", ci->row);
    cJSON_AddNumberToObject(o, "line", ci->line);
    cJSON_AddStringToObject(o, "kind", ci->kind);
    cJSON_AddNumberToObject(o, "experiment", ci->experiment);
    cJSON_AddNumberToObject(o, "window", ci->window);
    cJSON_AddBoolToObject(o, "reverse", ci->reverse != 0);
    add_str_or_null(o, "answer", ci->answer);
    add_str_or_null(o, "metric", ci->metric);
    add_str_or_null(o, "cf", ci->cf);
    add_str_or_null(o, "text", ci->text);
    cJSON_AddNumberToObject(o, "T", ci->T);
    cJSON_AddItemToObject(o, "tokens", ct__tokens_json(ci->tokens, ci->T));
    cJSON_AddItemToObject(o, "spans", ct__spans_json(&ci->spans));
    if (ci->model_id) cJSON_AddStringToObject(o, "model_id", ci->model_id);
    if (ci->top_clean.n) cJSON_AddItemToObject(o, "top_clean", ct__top_json(&ci->top_clean));
    if (ci->top_corrupt.n) cJSON_AddItemToObject(o, "top_corrupt", ct__top_json(&ci->top_corrupt));
    if (ci->noise_source) cJSON_AddStringToObject(o, "noise_source", ct_noise_source_name((ct_noise_source)ci->noise_source));
    if (ci->patch_source) cJSON_AddStringToObject(o, "patch_source", ct_patch_source_name((ct_patch_source)ci->patch_source));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int get_int(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static char *dup_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* v = [b, e] -> interval within [0, T]. */
static int pair_of(const cJSON *v, const char *k, int T, ct_interval *out, ct_err *err)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0))
        || !cJSON_IsNumber(cJSON_GetArrayItem(v, 1)))
        return ct_fail(err, "span \"%s\" is not [b, e]", k);
    int b = cJSON_GetArrayItem(v, 0)->valueint, e = cJSON_GetArrayItem(v, 1)->valueint;
    if (b < 0 || e < b || e > T) return ct_fail(err, "span \"%s\" [%d, %d) outside [0, %d)", k, b, e, T);
    *out = (ct_interval){b, e};
    return 0;
}

/* o[k] = [b, e]; absent -> {0,0}. */
static int get_pair(const cJSON *o, const char *k, int T, ct_interval *out, ct_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = (ct_interval){0, 0};
    return v ? pair_of(v, k, T, out, err) : 0;
}

int ct__spans_parse(const cJSON *s, int T, ct_token_spans *out, ct_err *err)
{
    memset(out, 0, sizeof *out);
    out->T = T;
    out->last = T - 1;
    if (!cJSON_IsObject(s)) return ct_fail(err, "\"spans\" is not an object");
    if (get_pair(s, "passage", T, &out->passage, err) || get_pair(s, "prompt", T, &out->prompt, err)
        || get_pair(s, "subject", T, &out->subject, err) || get_pair(s, "object", T, &out->object, err))
        return -1;
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(s, "relation"), *it;
    if (rel && !cJSON_IsArray(rel)) return ct_fail(err, "span \"relation\" is not a list");
    cJSON_ArrayForEach(it, rel) {
        if (out->n_relation == 3) return ct_fail(err, "span \"relation\" has more than 3 ranges");
        if (pair_of(it, "relation", T, &out->relation[out->n_relation], err)) return -1;
        out->n_relation++;
    }
    return 0;
}

int ct_case_info_parse(ct_case_info *ci, const char *json, ct_err *err)
{
    memset(ci, 0, sizeof *ci);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return ct_fail(err, "ctrace_case is not a JSON object"); }
    int rc = -1;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    ct_kind kk;
    if (!cJSON_IsString(kind) || ct_kind_parse(kind->valuestring, &kk)) { ct_fail(err, "ctrace_case: \"kind\" is not hidden/mlp/attention/head"); goto out; }
    snprintf(ci->kind, sizeof ci->kind, "%s", kind->valuestring);
    ci->row = get_int(o, "row", -1);
    ci->line = get_int(o, "line", 0);
    ci->experiment = get_int(o, "experiment", 0);
    ci->window = get_int(o, "window", 1);
    ci->reverse = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "reverse"));
    ci->answer = dup_str(o, "answer");
    ci->metric = dup_str(o, "metric");
    ci->cf = dup_str(o, "cf");
    ci->text = dup_str(o, "text");
    ci->model_id = dup_str(o, "model_id");
    top_parse(cJSON_GetObjectItemCaseSensitive(o, "top_clean"), &ci->top_clean);
    top_parse(cJSON_GetObjectItemCaseSensitive(o, "top_corrupt"), &ci->top_corrupt);
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(o, "noise_source"), *ps = cJSON_GetObjectItemCaseSensitive(o, "patch_source");
    ct_noise_source nsv = CT_NOISE_GAUSSIAN;
    ct_patch_source psv = CT_PATCH_OPPOSITE_RUN;
    if (ns && (!cJSON_IsString(ns) || ct_noise_source_parse(ns->valuestring, &nsv))) {
        ct_fail(err, "ctrace_case: \"noise_source\" is not gaussian or cf_embeddings"); goto out;
    }
    if (ps && (!cJSON_IsString(ps) || ct_patch_source_parse(ps->valuestring, &psv))) {
        ct_fail(err, "ctrace_case: \"patch_source\" is not opposite_run or cf_passage"); goto out;
    }
    ci->noise_source = nsv;
    ci->patch_source = psv;
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(o, "tokens");
    if (!cJSON_IsArray(toks)) { ct_fail(err, "ctrace_case: no \"tokens\" list"); goto out; }
    ci->T = cJSON_GetArraySize(toks);
    ci->tokens = calloc((size_t)(ci->T ? ci->T : 1), sizeof *ci->tokens);
    if (!ci->tokens) { ct_fail(err, "out of memory"); goto out; }
    int t = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, toks) {
        if (!cJSON_IsString(it)) { ct_fail(err, "ctrace_case: tokens[%d] is not a string", t); goto out; }
        ci->tokens[t++] = strdup(it->valuestring);
    }
    if (get_int(o, "T", ci->T) != ci->T) { ct_fail(err, "ctrace_case: T != number of tokens"); goto out; }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "spans");
    if (!sp) { ct_fail(err, "ctrace_case: no \"spans\""); goto out; }
    ct_err e2;
    if (ct__spans_parse(sp, ci->T, &ci->spans, &e2)) { ct_fail(err, "ctrace_case: %s", e2.msg); goto out; }
    rc = 0;
out:
    cJSON_Delete(o);
    if (rc) ct_case_info_free(ci);
    return rc;
}

char *ct_case_extra_json(const ct_case_info *ci)
{
    char *inner = ct_case_info_json(ci);
    if (!inner) return NULL;
    size_t n = strlen(inner) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "{\"case\":%s}", inner);
    free(inner);
    return s;
}
