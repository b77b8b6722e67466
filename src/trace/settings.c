/* settings.c — defaults, names and parsing of the trace settings. */
#include <stdlib.h>
#include <string.h>
#include "ctrace.h"
#include "trace/settings_json.h"

void ct_trace_settings_default(ct_trace_settings *s)
{
    memset(s, 0, sizeof *s);
    s->kind = CT_KIND_HIDDEN;
    s->window = 10;
    s->samples = 10;
    s->noise_rule = CT_NOISE_EMB_STD;
    s->noise_value = 3.0;
    s->seed = 1;
    s->metric = CT_METRIC_PROB;
    s->engine = CT_ENGINE_FAST;
}

int ct_noise_parse(const char *text, ct_trace_settings *s, ct_err *err)
{
    const char *p = text;
    int span = 0;
    if (*p == 's' || *p == 'S') { span = 1; p++; }
    char *end;
    double v = strtod(p, &end);
    if (!*p || *end || !(v >= 0) || v > 1e30)
        return ct_fail(err, "--noise_level '%s': expected a number (e.g. 0.5) or sN (e.g. s3)", text);
    s->noise_rule = span ? CT_NOISE_SPAN_STD : CT_NOISE_ABSOLUTE;
    s->noise_value = v;
    return 0;
}

const char *ct_kind_name(ct_kind k)
{
    return k == CT_KIND_MLP ? "mlp" : k == CT_KIND_ATTN ? "attention" : k == CT_KIND_HEAD ? "head" : "hidden";
}
const char *ct_metric_name(ct_metric m)
{
    return m == CT_METRIC_LOGPROB ? "logprob" : m == CT_METRIC_LOGRATIO ? "logratio" : "prob";
}
const char *ct_engine_name(ct_engine e) { return e == CT_ENGINE_NAIVE ? "naive" : "fast"; }
const char *ct_noise_rule_name(ct_noise_rule r)
{
    return r == CT_NOISE_ABSOLUTE ? "absolute" : r == CT_NOISE_SPAN_STD ? "span_std" : "emb_std";
}

const char *ct_noise_source_name(ct_noise_source n) { return n == CT_NOISE_CF_EMBEDDINGS ? "cf_embeddings" : "gaussian"; }
const char *ct_patch_source_name(ct_patch_source p) { return p == CT_PATCH_CF_PASSAGE ? "cf_passage" : "opposite_run"; }
int ct_noise_source_parse(const char *s, ct_noise_source *n)
{
    if (!strcmp(s, "gaussian")) *n = CT_NOISE_GAUSSIAN;
    else if (!strcmp(s, "cf_embeddings")) *n = CT_NOISE_CF_EMBEDDINGS;
    else return -1;
    return 0;
}
int ct_patch_source_parse(const char *s, ct_patch_source *p)
{
    if (!strcmp(s, "opposite_run")) *p = CT_PATCH_OPPOSITE_RUN;
    else if (!strcmp(s, "cf_passage")) *p = CT_PATCH_CF_PASSAGE;
    else return -1;
    return 0;
}

void tr_settings_add_json(cJSON *o, const ct_trace_settings *s)
{
    cJSON_AddNumberToObject(o, "window", s->window);
    cJSON_AddNumberToObject(o, "samples", s->samples);
    cJSON_AddStringToObject(o, "noise_rule", ct_noise_rule_name(s->noise_rule));
    cJSON_AddNumberToObject(o, "noise_value", s->noise_value);
    cJSON_AddStringToObject(o, "noise_source", ct_noise_source_name(s->noise_source));
    cJSON_AddStringToObject(o, "patch_source", ct_patch_source_name(s->patch_source));
    cJSON_AddNumberToObject(o, "seed", s->seed);
    cJSON_AddNumberToObject(o, "replace", s->replace);
    cJSON_AddNumberToObject(o, "reverse_patching", s->reverse);
    cJSON_AddStringToObject(o, "metric", ct_metric_name(s->metric));
    cJSON_AddStringToObject(o, "engine", ct_engine_name(s->engine));
}

int ct_kind_parse(const char *s, ct_kind *k)
{
    if (!strcmp(s, "hidden")) *k = CT_KIND_HIDDEN;
    else if (!strcmp(s, "mlp")) *k = CT_KIND_MLP;
    else if (!strcmp(s, "attention") || !strcmp(s, "attn")) *k = CT_KIND_ATTN;
    else if (!strcmp(s, "head") || !strcmp(s, "heads")) *k = CT_KIND_HEAD;
    else return -1;
    return 0;
}
int ct_metric_parse(const char *s, ct_metric *m)
{
    if (!strcmp(s, "prob")) *m = CT_METRIC_PROB;
    else if (!strcmp(s, "logprob")) *m = CT_METRIC_LOGPROB;
    else if (!strcmp(s, "logratio")) *m = CT_METRIC_LOGRATIO;
    else return -1;
    return 0;
}
int ct_engine_parse(const char *s, ct_engine *e)
{
    if (!strcmp(s, "fast")) *e = CT_ENGINE_FAST;
    else if (!strcmp(s, "naive")) *e = CT_ENGINE_NAIVE;
    else return -1;
    return 0;
}
