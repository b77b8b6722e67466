/* case_file.c — ct_case_write: one trace as a safetensors file (the layout is
 * documented in docs/case-file.md).  Safetensors metadata values must be
 * strings, so the settings travel as one JSON text under "ctrace", with a few
 * plain copies (kind, metric, ...) for tools that only look at strings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace.h"
#include "trace/settings_json.h"

static cJSON *ints(const int32_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static char *settings_json(const ct_trace_input *in, const ct_trace_settings *s, const ct_trace_result *r,
                           const char *model, const char *extra_json, ct_err *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "ctrace-case-1");
    cJSON_AddStringToObject(o, "ctrace_version", CTRACE_VERSION);
    cJSON_AddStringToObject(o, "model", model ? model : "");
    cJSON_AddStringToObject(o, "kind", ct_kind_name(s->kind));
    tr_settings_add_json(o, s);
    num(o, "noise_level", r->noise_level);
    num(o, "emb_std", r->emb_std);
    cJSON_AddItemToObject(o, "tokens", ints(in->ids, in->n_ids));
    cJSON *rg = cJSON_CreateArray();
    for (int i = 0; i < in->n_ranges; i++) cJSON_AddItemToArray(rg, ints(in->ranges + 2 * i, 2));
    cJSON_AddItemToObject(o, "target_ranges", rg);
    cJSON_AddItemToObject(o, "answer", ints(in->answer, in->n_answer));
    cJSON *cf = cJSON_CreateArray();
    for (int i = 0; i < in->n_cf; i++) cJSON_AddItemToArray(cf, ints(in->cf[i], in->cf_len[i]));
    cJSON_AddItemToObject(o, "counterfactuals", cf);
    cJSON_AddNumberToObject(o, "T", r->T);
    cJSON_AddNumberToObject(o, "L", r->L);
    cJSON_AddNumberToObject(o, "S", r->S);
    if (s->kind == CT_KIND_HEAD) cJSON_AddNumberToObject(o, "H", r->H);
    num(o, "high_score", r->targets[0].high_score);
    num(o, "low_score", r->targets[0].low_score);
    num(o, "te", r->te);
    num(o, "seconds", r->seconds);
    /* bf16 compute gives other numbers than float32: resume compares it */
    if (r->backend) cJSON_AddStringToObject(o, "backend", r->backend);
    cJSON_AddStringToObject(o, "compute", ct_dtype_name(r->compute));
    if (extra_json) {
        cJSON *x = cJSON_Parse(extra_json);
        if (!cJSON_IsObject(x)) {
            cJSON_Delete(x);
            cJSON_Delete(o);
            ct_fail(err, "case file: extra settings are not a JSON object");
            return NULL;
        }
        for (cJSON *it = x->child; it; it = it->next) {
            cJSON_DeleteItemFromObject(o, it->string);
            cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
        }
        cJSON_Delete(x);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) ct_fail(err, "case file: out of memory");
    return txt;
}

int ct_case_write(const char *path, const ct_trace_input *in, const ct_trace_settings *s, const ct_trace_result *r,
                  const char *model, const char *extra_json, ct_err *err)
{
    int T = r->T, L = r->L, S = r->S, C = r->n_targets - 1, rc = -1;
    /* the head kind's grids have a last axis of H heads; the others' are [T, L] */
    int heads = s->kind == CT_KIND_HEAD, H = heads ? r->H : 1;
    if (heads && H < 1) return ct_fail(err, "%s: a head trace without heads (H = %d)", path, r->H);
    size_t TL = (size_t)T * L * H;      /* cells of one grid */
    const ct_trace_target *a = &r->targets[0];
    int amax = 1;
    for (int c = 0; c < C; c++) amax = r->targets[1 + c].n_tokens > amax ? r->targets[1 + c].n_tokens : amax;
    int32_t *cf_ids = malloc((size_t)(C ? C : 1) * amax * sizeof *cf_ids);           /* [C, Amax] */
    float *cfs = malloc((size_t)(C ? C : 1) * TL * sizeof *cfs);                     /* [C, T, L(, H)] */
    float *cfss = malloc((size_t)(C ? C : 1) * S * TL * sizeof *cfss);               /* [C, S, T, L(, H)] */
    float *cfh = malloc((size_t)(C ? C : 1) * sizeof *cfh), *cfl = malloc((size_t)(C ? C : 1) * sizeof *cfl);
    float *cfls = malloc((size_t)(C ? C : 1) * S * sizeof *cfls);                    /* [C, S] */
    char *js = NULL, *meta = NULL;
    if (!cf_ids || !cfs || !cfss || !cfh || !cfl || !cfls) { ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); goto out; }
    for (int c = 0; c < C; c++) {
        const ct_trace_target *t = &r->targets[1 + c];
        for (int i = 0; i < amax; i++) cf_ids[(size_t)c * amax + i] = i < t->n_tokens ? t->tokens[i] : -1;
        memcpy(cfs + (size_t)c * TL, t->scores, TL * sizeof *cfs);
        memcpy(cfss + (size_t)c * S * TL, t->scores_samples, (size_t)S * TL * sizeof *cfss);
        cfh[c] = t->high_score;
        cfl[c] = t->low_score;
        memcpy(cfls + (size_t)c * S, t->low_samples, (size_t)S * sizeof *cfls);
    }
    ct_st_out o[20];
    int n = 0;
#define ADD(nm, dt, p, ...) do { o[n] = (ct_st_out){.name = nm, .dtype = dt, .data = p}; \
        int64_t sh_[] = {__VA_ARGS__}; o[n].ndim = (int)(sizeof sh_ / sizeof sh_[0]); \
        memcpy(o[n].shape, sh_, sizeof sh_); n++; } while (0)
#define ADD0(nm, p) do { o[n] = (ct_st_out){.name = nm, .dtype = CT_F32, .ndim = 0, .data = p}; n++; } while (0)
    if (heads) {
        ADD("scores", CT_F32, a->scores, T, L, H);
        ADD("scores_samples", CT_F32, a->scores_samples, S, T, L, H);
    } else {
        ADD("scores", CT_F32, a->scores, T, L);
        ADD("scores_samples", CT_F32, a->scores_samples, S, T, L);
    }
    ADD0("low_score", &a->low_score);
    ADD0("high_score", &a->high_score);
    ADD("low_samples", CT_F32, a->low_samples, S);
    ADD0("te", &r->te);
    if (heads) ADD("ie", CT_F32, r->ie, T, L, H);
    else ADD("ie", CT_F32, r->ie, T, L);
    ADD("input_ids", CT_I32, in->ids, T);
    ADD("target_ranges", CT_I32, in->ranges, in->n_ranges, 2);
    ADD("answer_ids", CT_I32, a->tokens, a->n_tokens);
    if (C > 0) {
        ADD("cf_ids", CT_I32, cf_ids, C, amax);
        if (heads) {
            ADD("cf_scores", CT_F32, cfs, C, T, L, H);
            ADD("cf_scores_samples", CT_F32, cfss, C, S, T, L, H);
        } else {
            ADD("cf_scores", CT_F32, cfs, C, T, L);
            ADD("cf_scores_samples", CT_F32, cfss, C, S, T, L);
        }
        ADD("cf_high_score", CT_F32, cfh, C);
        ADD("cf_low_score", CT_F32, cfl, C);
        ADD("cf_low_samples", CT_F32, cfls, C, S);
    }
#undef ADD
#undef ADD0
    if (!(js = settings_json(in, s, r, model, extra_json, err))) goto out;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "ctrace-case-1");
    cJSON_AddStringToObject(m, "ctrace", js);
    cJSON_AddStringToObject(m, "kind", ct_kind_name(s->kind));
    cJSON_AddStringToObject(m, "metric", ct_metric_name(s->metric));
    cJSON_AddStringToObject(m, "engine", ct_engine_name(s->engine));
    cJSON_AddStringToObject(m, "model", model ? model : "");
    meta = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (!meta) { ct_fail(err, "%s: out of memory", path); goto out; }
    rc = ct_st_write(path, o, n, meta, err);
out:
    free(cf_ids); free(cfs); free(cfss); free(cfh); free(cfl); free(cfls);
    cJSON_free(js);
    cJSON_free(meta);
    return rc;
}
