/* attribute.c — direct logit attribution of the corrupted run
 * (ct_attribute_corrupted): the trace's own noise (the same level, stream and
 * rounding as ct_trace_run), then ct_attribute's decomposition sample by
 * sample, each part averaged over the samples.  A mean of sums is the sum of
 * the means, so the averaged parts still add up to the averaged total. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "trace/trace_internal.h"
#include "forward/attribute.h"

int ct_attribute_corrupted(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, int32_t answer,
                           int32_t cf, ct_attribution *out, ct_err *err)
{
    memset(out, 0, sizeof *out);
    int T = in->n_ids, D = ct_model_d_model(m), S = s->samples;
    if (ct__attribute_check(m, in->ids, T, answer, cf, err)) return -1;
    if (!in->ranges || in->n_ranges < 1) return ct_fail(err, "attribute: no target range to corrupt");
    for (int r = 0; r < in->n_ranges; r++) {
        int b = in->ranges[2 * r], e = in->ranges[2 * r + 1];
        if (b < 0 || e > T || b >= e)
            return ct_fail(err, "attribute: target range %d:%d is empty or outside the prompt [0, %d)", b, e, T);
    }
    if (S < 1) return ct_fail(err, "attribute: --samples must be at least 1 (got %d)", S);
    const ct_backend *be = ct_model_backend(m);
    tr_noise nz;
    memset(&nz, 0, sizeof nz);
    float *eh = malloc(2 * (size_t)T * D * sizeof *eh);        /* [T, D] clean token embeddings, then [T, D] noisy */
    float *x0 = ct_be_floats(be, (size_t)T * D);               /* [T, D] block-0 input (backend) */
    ct_attribution one = {0};
    int rc = -1;
    if (!eh || !x0) { ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory"); goto done; }
    if (tr_noise_make(m, in, s, &nz, err)) goto done;
    if (ct_embed_tokens_host(m, in->ids, T, eh)) { ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory"); goto done; }
    float *xh = eh + (size_t)T * D;
    for (int k = 0; k < S; k++) {
        memcpy(xh, eh, (size_t)T * D * sizeof *xh);
        tr_noise_apply(in, s, &nz, k, xh);
        be->upload(be, x0, xh, (size_t)T * D * sizeof *xh);
        ct_embed_finish(m, 0, T, x0);
        if (ct__attribute_x0(m, x0, T, answer, cf, &one, err)) goto done;
        if (k == 0) {
            /* the first sample's arrays become the accumulators */
            *out = one;
            memset(&one, 0, sizeof one);
        } else {
            for (int q = 0; q < out->L * out->H; q++) out->heads[q] += one.heads[q];
            for (int l = 0; l < out->L; l++) { out->attn_bias[l] += one.attn_bias[l]; out->mlp[l] += one.mlp[l]; }
            out->embed += one.embed; out->norm_bias += one.norm_bias; out->lm_bias += one.lm_bias;
            out->total += one.total; out->parts_sum += one.parts_sum; out->logit_diff += one.logit_diff;
            ct_attribution_free(&one);
        }
    }
    /* means over the samples */
    float inv = 1.0f / (float)S;
    for (int q = 0; q < out->L * out->H; q++) out->heads[q] *= inv;
    for (int l = 0; l < out->L; l++) { out->attn_bias[l] *= inv; out->mlp[l] *= inv; }
    out->embed *= inv; out->norm_bias *= inv; out->lm_bias *= inv;
    out->total *= inv; out->parts_sum *= inv; out->logit_diff *= inv;
    rc = 0;
done:
    tr_noise_free(&nz);
    free(eh);
    if (x0) be->free(be, x0);
    ct_attribution_free(&one);
    if (rc) ct_attribution_free(out);
    return rc;
}

int ct_attribution_write(const char *path, const ct_trace_input *in, int32_t answer, int32_t cf, const ct_attribution *clean,
                         const ct_attribution *corrupted, const ct_trace_settings *s, const char *extra_json, ct_err *err)
{
    int32_t tokens[2] = {answer, cf};
    ct_st_out t[24];
    int n = 0;
    const ct_attribution *runs[2] = {clean, corrupted};
    for (int k = 0; k < 2; k++) {
        const ct_attribution *r = runs[k];
        if (!r) continue;
        const char *pre = k ? "corrupted_" : "";
        static char names[2][8][32];            /* the tensor names, alive until ct_st_write returns */
        const char *base[8] = {"heads", "mlp", "attn_bias", "embed", "norm_bias", "lm_bias", "total", "logit_diff"};
        for (int i = 0; i < 8; i++) snprintf(names[k][i], sizeof names[k][i], "%s%s", pre, base[i]);
        t[n++] = (ct_st_out){names[k][0], CT_F32, 2, {r->L, r->H}, r->heads};
        t[n++] = (ct_st_out){names[k][1], CT_F32, 1, {r->L}, r->mlp};
        t[n++] = (ct_st_out){names[k][2], CT_F32, 1, {r->L}, r->attn_bias};
        t[n++] = (ct_st_out){names[k][3], CT_F32, 0, {0}, &r->embed};
        t[n++] = (ct_st_out){names[k][4], CT_F32, 0, {0}, &r->norm_bias};
        t[n++] = (ct_st_out){names[k][5], CT_F32, 0, {0}, &r->lm_bias};
        t[n++] = (ct_st_out){names[k][6], CT_F32, 0, {0}, &r->total};
        t[n++] = (ct_st_out){names[k][7], CT_F32, 0, {0}, &r->logit_diff};
    }
    t[n++] = (ct_st_out){"input_ids", CT_I32, 1, {in->n_ids}, in->ids};
    t[n++] = (ct_st_out){"answer_cf_ids", CT_I32, 1, {2}, tokens};
    if (corrupted) t[n++] = (ct_st_out){"target_ranges", CT_I32, 2, {in->n_ranges, 2}, in->ranges};
    /* metadata values are strings (safetensors' rule): the settings as one JSON text */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "ctrace-attribution-1");
    cJSON_AddStringToObject(o, "ctrace_version", CTRACE_VERSION);
    if (corrupted && s) {                       /* the noise of the corrupted run (the rest of s is not used) */
        cJSON_AddNumberToObject(o, "samples", s->samples);
        cJSON_AddNumberToObject(o, "seed", s->seed);
        cJSON_AddStringToObject(o, "noise_rule", ct_noise_rule_name(s->noise_rule));
        cJSON_AddNumberToObject(o, "noise_value", s->noise_value);
        cJSON_AddNumberToObject(o, "replace", s->replace);
    }
    if (extra_json) {
        cJSON *x = cJSON_Parse(extra_json);
        for (cJSON *it = cJSON_IsObject(x) ? x->child : NULL; it; it = it->next)
            cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
        cJSON_Delete(x);
    }
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "ctrace-attribution-1");
    if (js) cJSON_AddStringToObject(m, "ctrace", js);
    char *meta = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    cJSON_free(js);
    if (!meta) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
    int rc = ct_st_write(path, t, n, meta, err);
    cJSON_free(meta);
    return rc;
}
