/* run_case.c — one dataset row of `ctrace run`: for each context (the row's
 * passage and/or each counterfactual passage, --contexts) and each kind,
 * trace one case (or reuse the finished case file), write its figure and its
 * summary line.  Problems of the row go to errors.jsonl; only problems of the
 * output directory stop the run. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "experiment/run_internal.h"
#include "experiment/predict.h"

double ct__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void log_error(ct_run_ctx *c, int row, int line, const char *msg)
{
    char *l = ct_error_line(row, line, c->s->data_path, msg);
    if (l) { fprintf(c->errors, "%s\n", l); free(l); }
}

static int put_summary(ct_run_ctx *c, const ct_case_info *ci, int L, const float *ie, float hi, float lo, float te,
                       ct_err *err)
{
    char *l = ct_summary_line(ci, L, ie, hi, lo, te);
    if (!l) return ct_fail(err, "line %d: out of memory for its summary line", ci->line);
    fprintf(c->summary, "%s\n", l);
    free(l);
    return 0;
}

/* A head case's summary line: the top IE cell of the [T, L, H] grid, found as
 * ct_summary_line finds it (L·H columns per token), then told as layer and head. */
static int put_head_summary(ct_run_ctx *c, const ct_case_info *ci, int L, int H, const float *ie, float hi, float lo,
                            float te, ct_err *err)
{
    char *l = ct_summary_line(ci, L * H, ie, hi, lo, te);
    cJSON *o = l ? cJSON_Parse(l) : NULL;
    free(l);
    cJSON *top = cJSON_GetObjectItemCaseSensitive(o, "top_ie");
    cJSON *col = cJSON_GetObjectItemCaseSensitive(top, "layer");
    if (cJSON_IsNumber(col)) {
        int q = col->valueint;
        cJSON_SetNumberValue(col, (q / H));   /* (the macro casts its argument before dividing) */
        cJSON_AddNumberToObject(top, "head", q % H);
    }
    char *out = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!out) return ct_fail_code(err, CT_ERR_NOMEM, "out of memory");
    fprintf(c->summary, "%s\n", out);
    cJSON_free(out);
    return 0;
}

/* A finished head case (ct_case_load reads [T, L] grids only): its kind and
 * experiment from the metadata, the case description it recorded (into got,
 * for the summary line: the top tokens are the ones traced then), ie [T, L, H]
 * and the scores.  want: this run's case; ie and got are the caller's to free.
 * 0 / -1 (err says why). */
static int load_head_case(const char *path, const ct_case_info *want, int L, int H, ct_case_info *got, float **ie, float *hi,
                          float *lo, float *te, ct_err *err)
{
    ct_st_file f;
    ct_err e2;
    *ie = NULL;
    if (ct_st_open(&f, path, &e2)) return ct_fail(err, "%s; delete it to trace it again", e2.msg);
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL;
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(md, "ctrace");
    cJSON *st = cJSON_IsString(cs) ? cJSON_Parse(cs->valuestring) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(st, "kind");
    const cJSON *cinfo = cJSON_GetObjectItemCaseSensitive(st, "case");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(cinfo, "experiment");
    char *info_json = cJSON_IsObject(cinfo) ? cJSON_PrintUnformatted(cinfo) : NULL;
    memset(got, 0, sizeof *got);
    const ct_tensor_view *g = ct_st_find(&f, "ie");
    const ct_tensor_view *v[3] = {ct_st_find(&f, "high_score"), ct_st_find(&f, "low_score"), ct_st_find(&f, "te")};
    int rc = -1;
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "head") || !cJSON_IsNumber(exp) ||
        exp->valueint != want->experiment)
        ct_fail(err, "%s: a finished case from another run (not a head trace of experiment %d): use another --output_dir or delete it",
                path, want->experiment);
    else if (!g || g->dtype != CT_F32 || g->ndim != 3 || g->shape[0] != want->T || g->shape[1] != L || g->shape[2] != H)
        ct_fail(err, "%s: \"ie\" is not [%d, %d, %d]; delete it to trace it again", path, want->T, L, H);
    else if (!v[0] || !v[1] || !v[2] || v[0]->dtype != CT_F32 || v[1]->dtype != CT_F32 || v[2]->dtype != CT_F32)
        ct_fail(err, "%s: no high_score/low_score/te; delete it to trace it again", path);
    else if (!info_json || ct_case_info_parse(got, info_json, &e2))
        ct_fail(err, "%s: no readable case description (%s); delete it to trace it again", path, info_json ? e2.msg : "none");
    else if (!(*ie = malloc(g->nbytes)))
        ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
    else {
        memcpy(*ie, g->data, g->nbytes);
        memcpy(hi, v[0]->data, sizeof *hi);
        memcpy(lo, v[1]->data, sizeof *lo);
        memcpy(te, v[2]->data, sizeof *te);
        rc = 0;
    }
    cJSON_free(info_json);
    if (rc) ct_case_info_free(got);
    cJSON_Delete(st);
    cJSON_Delete(md);
    ct_st_close(&f);
    return rc;
}

/* A head case's figure (ct_head_figure_write): written unless it exists. */
static int plot_heads_case(ct_run_ctx *c, const float *ie, int T, int L, int H, const ct_trace_input *in, const char *pdf,
                           ct_err *err)
{
    if (!c->s->plots || ct_figure_complete(pdf, c->s->plot_format)) return 0;
    int last = -1;                              /* the last corrupted token */
    for (int r = 0; r < in->n_ranges; r++) last = in->ranges[2 * r + 1] - 1 > last ? in->ranges[2 * r + 1] - 1 : last;
    ct_err e2;
    return ct_head_figure_write(ie, T, L, H, last, pdf, c->s->plot_format, &e2) ? ct_fail(err, "%s", e2.msg) : 0;
}

/* The figure of a case in memory or read back: written unless a whole one
 * exists (one cut short by a full disk is drawn again). */
static int plot_case(ct_run_ctx *c, const ct_case *cs, const char *pdf, ct_err *err)
{
    if (!c->s->plots || ct_figure_complete(pdf, c->s->plot_format)) return 0;
    ct_case_figure fig;
    ct_err e2;
    if (ct_case_figure_of(&fig, cs, &e2)) return ct_fail(err, "%s: %s", pdf, e2.msg);
    int rc = ct_heatmap_write(&fig.h, 1, pdf, c->s->plot_format, &e2);
    ct_case_figure_free(&fig);
    return rc ? ct_fail(err, "%s", e2.msg) : 0;
}

/* A finished case file from an earlier run must describe the same case:
 * names do not say the experiment or the settings (the seed's names). */
static int same_case(const ct_case *cs, const ct_case_info *want, const char *path, ct_err *err)
{
    const ct_case_info *got = &cs->info;
    if (!cs->has_info) return ct_fail(err, "%s: exists but holds no case description; delete it to trace it again", path);
    if (got->experiment != want->experiment || got->window != want->window || got->reverse != want->reverse ||
        strcmp(got->kind, want->kind) || !got->metric || strcmp(got->metric, want->metric) || cs->T != want->T)
        goto differ;
    if (got->model_id && want->model_id && strcmp(got->model_id, want->model_id))
        return ct_fail(err, "%s: a finished case traced with another model (%s; this run's model: %s): "
                       "use another --output_dir or delete it", path, got->model_id, want->model_id);
    return 0;
differ:
    return ct_fail(err, "%s: a finished case from another run (experiment %d, %s, window %d, metric %s, %s, %d tokens; "
                   "this run: experiment %d, %s, window %d, metric %s, %s, %d tokens): use another --output_dir or delete it",
                   path, got->experiment, got->kind, got->window, got->metric ? got->metric : "?",
                   got->reverse ? "reverse" : "forward", cs->T, want->experiment, want->kind, want->window, want->metric,
                   want->reverse ? "reverse" : "forward", want->T);
}

/* The engine's progress inside one case, passed on (at most ~4 times a second:
 * the engine may call it for every cell). */
static void case_progress(void *ctx, long done, long total)
{
    ct_run_ctx *c = ctx;
    double now = ct__now();
    if (done < total && now - c->last_report < 0.25) return;
    c->last_report = now;
    c->prog->case_cells_done = done;
    c->prog->case_cells_total = total;
    c->prog->seconds = now - c->started;
    c->s->progress(c->s->progress_ctx, c->prog);
}

static int same_ints(const cJSON *a, const int32_t *v, int n)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
    int i = 0;
    for (const cJSON *x = a->child; x; x = x->next, i++)
        if (!cJSON_IsNumber(x) || x->valuedouble != (double)v[i]) return 0;
    return 1;
}

/* The engine's settings JSON in a finished case file against this run's
 * trace: the same token ids, targets, answer and counterfactuals (so the same
 * prompt format and tokenizer) and the same noise and scoring settings.  The
 * model path and the engine are not compared (same numbers either way).
 * 0 same; -1 different or unreadable (err says which key). */
static int same_trace(const char *path, const ct_trace_input *in, const ct_trace_settings *ts, ct_dtype compute,
                      ct_err *err)
{
    ct_st_file f;
    ct_err e2;
    if (ct_st_open(&f, path, &e2)) return ct_fail(err, "%s", e2.msg);
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL;
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(md, "ctrace");
    cJSON *st = cJSON_IsString(cs) ? cJSON_Parse(cs->valuestring) : NULL;
    const char *what = NULL;
    char want[96] = "", got[96] = "";
#define ITEM(k) cJSON_GetObjectItemCaseSensitive(st, k)
#define NUM(k, v) do { const cJSON *x_ = ITEM(k); if (!what && (!cJSON_IsNumber(x_) || x_->valuedouble != (double)(v))) { \
        what = k; snprintf(want, sizeof want, "%.9g", (double)(v)); \
        if (cJSON_IsNumber(x_)) snprintf(got, sizeof got, "%.9g", x_->valuedouble); } } while (0)
#define STR(k, v) do { const cJSON *x_ = ITEM(k); if (!what && (!cJSON_IsString(x_) || strcmp(x_->valuestring, v))) { \
        what = k; snprintf(want, sizeof want, "%s", v); \
        if (cJSON_IsString(x_)) snprintf(got, sizeof got, "%.80s", x_->valuestring); } } while (0)
    if (!st) what = "settings (no \"ctrace\" metadata)";
    NUM("samples", ts->samples);
    NUM("seed", ts->seed);
    NUM("replace", ts->replace);
    NUM("reverse_patching", ts->reverse);
    STR("noise_rule", ct_noise_rule_name(ts->noise_rule));
    NUM("noise_value", ts->noise_value);
    STR("metric", ct_metric_name(ts->metric));
    /* recorded since the cf sources came; a case file without them used the defaults */
    if (ITEM("noise_source") || ts->noise_source != CT_NOISE_GAUSSIAN) STR("noise_source", ct_noise_source_name(ts->noise_source));
    if (ITEM("patch_source") || ts->patch_source != CT_PATCH_OPPOSITE_RUN) STR("patch_source", ct_patch_source_name(ts->patch_source));
    if (ts->kind == CT_KIND_MLP || ts->kind == CT_KIND_ATTN) NUM("window", ts->window);
    if (!what && st) {   /* the products' dtype (files from before it was recorded: F32) */
        const cJSON *x = ITEM("compute");
        const char *g = cJSON_IsString(x) ? x->valuestring : "F32";
        if (strcmp(g, ct_dtype_name(compute))) {
            what = "compute dtype (--dtype)";
            snprintf(want, sizeof want, "%s", ct_dtype_name(compute));
            snprintf(got, sizeof got, "%.80s", g);
        }
    }
    if (!what && !same_ints(ITEM("tokens"), in->ids, in->n_ids)) what = "tokens (prompt format or tokenizer)";
    if (!what && !same_ints(ITEM("answer"), in->answer, in->n_answer)) what = "answer tokens";
    if (!what) {
        const cJSON *rg = ITEM("target_ranges"), *cf = ITEM("counterfactuals");
        int ok = cJSON_IsArray(rg) && cJSON_GetArraySize(rg) == in->n_ranges && cJSON_IsArray(cf) &&
                 cJSON_GetArraySize(cf) == in->n_cf;
        for (int i = 0; ok && i < in->n_ranges; i++) ok = same_ints(cJSON_GetArrayItem(rg, i), in->ranges + 2 * i, 2);
        for (int i = 0; ok && i < in->n_cf; i++) ok = same_ints(cJSON_GetArrayItem(cf, i), in->cf[i], in->cf_len[i]);
        if (!ok) what = "target ranges or counterfactuals";
    }
#undef ITEM
#undef NUM
#undef STR
    cJSON_Delete(st);
    cJSON_Delete(md);
    ct_st_close(&f);
    if (!what) return 0;
    if (*want)
        return ct_fail(err, "%s: a finished case from another run (%s %s; this run: %s): use another --output_dir or delete it",
                       path, what, *got ? got : "absent", want);
    return ct_fail(err, "%s: a finished case from another run (its %s differ from this run's): use another --output_dir or delete it",
                   path, what);
}

/* A case whose numbers are not all finite (NaN/Inf weights, or logits that
 * overflow) is not a result: it would read as "succeeded" with p_clean null.
 * 0 when finite; else 1 with msg saying what is not. */
static int nonfinite(const ct_trace_result *r, const char *kname, int line, char *msg, size_t cap)
{
    const char *what = NULL;
    double v = 0;
    for (int c = 0; !what && c < r->n_targets; c++) {
        const ct_trace_target *t = &r->targets[c];
        if (!isfinite(t->high_score)) { what = c ? "the clean score of a counterfactual" : "p_clean"; v = t->high_score; }
        else if (!isfinite(t->low_score)) { what = c ? "the corrupted score of a counterfactual" : "p_corrupt"; v = t->low_score; }
    }
    if (!what && !isfinite(r->te)) { what = "te"; v = r->te; }
    long bad = 0, n = (long)r->T * r->L * (r->H > 0 ? r->H : 1);   /* ie [T, L] or [T, L, H] */
    for (long i = 0; r->ie && i < n; i++) if (!isfinite(r->ie[i])) { if (!bad) v = r->ie[i]; bad++; }
    if (!what && !bad) return 0;
    if (what)
        snprintf(msg, cap, "line %d: %s: %s is %g: the model gives non-finite logits (NaN or Inf weights?)", line, kname, what, v);
    else
        snprintf(msg, cap, "line %d: %s: %ld of the %ld restored cells are %g: the model gives non-finite logits (NaN or Inf weights?)",
                 line, kname, bad, n, v);
    return 1;
}

/* One case (src_ids: the counterfactual passages for --patch_source
 * cf_passage, else NULL).  0 done, 1 a row problem (logged), -1 fatal. */
static int run_case(ct_run_ctx *c, const ct_row *row, int row_index, const ct_row_plan *p, int32_t *const *src_ids,
                    ct_kind kind, ct_err *err)
{
    const ct_run_settings *s = c->s;
    const char *kname = ct_kind_name(kind);
    char name[1024], path[4200], pdfname[1024], pdf[4200];
    if (ct_case_name(name, sizeof name, row_index, kname, p->prompt.cf ? p->prompt.cf : row->obj) ||
        ct_pdf_name(pdfname, sizeof pdfname, row->answers[0], row_index, kname, p->prompt.cf,
                    ct_plot_format_ext(s->plot_format))) {
        log_error(c, row_index, row->line, "object or answer too long for a file name");
        return 1;
    }
    snprintf(path, sizeof path, "%s/cases/%s", s->output_dir, name);
    snprintf(pdf, sizeof pdf, "%s/pdfs/%s", s->output_dir, pdfname);

    ct_case_info ci;
    ct_err e2;
    if (ct_row_plan_case_info(p, row, row_index, s->experiment, kname, s->trace.window, ct_metric_name(s->trace.metric),
                              &ci, &e2))
        return ct_fail(err, "%s", e2.msg);
    ci.reverse = s->trace.reverse;
    ci.noise_source = s->trace.noise_source;
    ci.patch_source = s->trace.patch_source;
    int rc = -1;
    if (!c->model_id[0] && ct_model_identity(s->model_dir, c->model_id, sizeof c->model_id, &e2)) {
        ct_fail(err, "model: %s", e2.msg);
        goto out;
    }
    if (!(ci.model_id = strdup(c->model_id))) { ct_fail(err, "out of memory"); goto out; }
    ct_trace_settings ts = s->trace;
    ts.kind = kind;
    ts.progress = s->progress ? case_progress : NULL;
    ts.progress_ctx = c;
    ct_trace_input in = {.ids = p->enc.ids, .n_ids = p->enc.n, .ranges = &p->ranges[0][0], .n_ranges = p->n_ranges,
                         .answer = p->answer, .n_answer = p->n_answer, .n_cf = p->n_cf,
                         .cf = (const int32_t *const *)p->cf, .cf_len = p->cf_len,
                         .n_src = src_ids ? p->n_cf : 0, .src_ids = (const int32_t *const *)src_ids};

    int heads = kind == CT_KIND_HEAD, L = ct_model_n_layers(c->m), H = ct_model_config(c->m)->n_heads;
    if (heads && access(path, F_OK) == 0) {     /* a finished head case: the summary line, the figure if missing */
        float *ie = NULL, hi, lo, te;
        ct_case_info got = {0};
        if (same_trace(path, &in, &ts, ct_model_compute_dtype(c->m), err) || load_head_case(path, &ci, L, H, &got, &ie, &hi, &lo, &te, err) ||
            put_head_summary(c, &got, L, H, ie, hi, lo, te, err) || plot_heads_case(c, ie, ci.T, L, H, &in, pdf, err)) {
            free(ie);
            ct_case_info_free(&got);
            goto out;
        }
        free(ie);
        ct_case_info_free(&got);
        c->prog->cases_reused++;
        rc = 0;
        goto out;
    }
    if (access(path, F_OK) == 0) {              /* finished by an earlier run */
        ct_case cs;
        if (ct_case_load(&cs, path, &e2)) { ct_fail(err, "%s; delete it to trace it again", e2.msg); goto out; }
        if (same_case(&cs, &ci, path, err) || same_trace(path, &in, &ts, ct_model_compute_dtype(c->m), err)) { ct_case_free(&cs); goto out; }
        if (!isfinite(cs.high_score) || !isfinite(cs.low_score) || !isfinite(cs.te)) {
            /* written before non-finite results were refused: not a result either */
            char msg[4600];
            snprintf(msg, sizeof msg, "line %d: %s: %s holds non-finite scores (p_clean %g, p_corrupt %g): delete it to trace it again",
                     row->line, kname, path, cs.high_score, cs.low_score);
            log_error(c, row_index, row->line, msg);
            ct_case_free(&cs);
            rc = 1;
            goto out;
        }
        if (put_summary(c, &cs.info, cs.L, cs.ie, cs.high_score, cs.low_score, cs.te, err) ||
            plot_case(c, &cs, pdf, err)) { ct_case_free(&cs); goto out; }
        ct_case_free(&cs);
        c->prog->cases_reused++;
        rc = 0;
        goto out;
    }

    double t0 = ct__now();
    ct_trace_result r;
    memset(&r, 0, sizeof r);
    if (ct_trace_run(c->m, &in, &ts, &r, &e2)) {
        /* out of memory or a device failure is not the row's fault: stop the
         * run (finished cases stay; a rerun resumes) instead of logging every
         * remaining row as bad */
        if (ct_status_is_fatal(e2.code)) {
            ct_fail_code(err, e2.code, "line %d: %s: %s", row->line, kname, e2.msg);
            goto out;
        }
        char msg[1200];
        snprintf(msg, sizeof msg, "line %d: %s: %s", row->line, kname, e2.msg);
        log_error(c, row_index, row->line, msg);
        rc = 1;
        goto out;
    }
    char bad[400];
    if (nonfinite(&r, kname, row->line, bad, sizeof bad)) {
        log_error(c, row_index, row->line, bad);
        ct_trace_result_free(&r);
        rc = 1;
        goto out;
    }
    /* the top tokens of the clean and corrupted runs, from the engine's runs */
    ct__predictions(&r, c->tk, &ci.top_clean, &ci.top_corrupt);
    char *extra = ct_case_extra_json(&ci);
    if (extra && s->model_id) {   /* the case's "model" is the snapshot folder; the hub id beside it */
        cJSON *x = cJSON_Parse(extra);
        free(extra);
        extra = NULL;
        if (x && cJSON_AddStringToObject(x, "model_id", s->model_id)) {
            char *t = cJSON_PrintUnformatted(x);
            extra = t ? strdup(t) : NULL;
            cJSON_free(t);
        }
        cJSON_Delete(x);
    }
    if (!extra) { ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); ct_trace_result_free(&r); goto out; }
    int werr = ct_case_write(path, &in, &ts, &r, s->model_dir, extra, &e2);
    free(extra);
    if (werr) { ct_fail(err, "%s", e2.msg); ct_trace_result_free(&r); goto out; }
    if (heads) {                                /* [T, L, H]: the summary line and the layer × head figure */
        int bad = put_head_summary(c, &ci, L, H, r.ie, r.targets[0].high_score, r.targets[0].low_score, r.te, err) ||
                  plot_heads_case(c, r.ie, r.T, L, H, &in, pdf, err);
        ct_trace_result_free(&r);
        if (bad) goto out;
        c->prog->cases_written++;
        c->prog->trace_seconds += ct__now() - t0;
        rc = 0;
        goto out;
    }
    /* the figure from the numbers in memory, as ct_case_load would give them */
    ct_case cs = {.info = ci, .has_info = 1, .T = r.T, .L = r.L, .ie = r.ie,
                  .low_score = r.targets[0].low_score, .high_score = r.targets[0].high_score, .te = r.te,
                  .targets = (int32_t *)in.ranges, .n_targets = in.n_ranges};
    if (put_summary(c, &ci, r.L, r.ie, r.targets[0].high_score, r.targets[0].low_score, r.te, err) ||
        plot_case(c, &cs, pdf, err)) { ct_trace_result_free(&r); goto out; }
    ct_trace_result_free(&r);
    c->prog->cases_written++;
    c->prog->trace_seconds += ct__now() - t0;
    rc = 0;
out:
    ct_case_info_free(&ci);
    c->prog->case_cells_done = c->prog->case_cells_total = 0;
    if (rc >= 0 && s->progress) {
        c->prog->seconds = ct__now() - c->started;
        s->progress(s->progress_ctx, c->prog);
    }
    return rc;
}

/* The direct logit attribution of one context (--attribute): answer against
 * the counterfactual the passage holds (its own passage: the first one), on
 * the clean prompt and on the corrupted one (the experiment's target ranges,
 * the trace's noise).  0 done or already there, 1 a row problem (logged), -1 fatal. */
static int attribute_context(ct_run_ctx *c, const ct_row *row, int row_index, const ct_row_plan *p, ct_err *err)
{
    const ct_run_settings *s = c->s;
    char name[1024], path[4200];
    if (p->n_cf < 1) {
        log_error(c, row_index, row->line, "attribute: the row has no counterfactual object (obj_cf) to attribute against");
        return 1;
    }
    if (ct_case_name(name, sizeof name, row_index, "attribution", p->prompt.cf ? p->prompt.cf : row->obj)) {
        log_error(c, row_index, row->line, "object too long for a file name");
        return 1;
    }
    snprintf(path, sizeof path, "%s/attributions/%s", s->output_dir, name);
    char pdfname[1024], pdf[4200];              /* its figure: pdfs/{answer}_{row}_attribution[_{cf}].pdf */
    if (ct_pdf_name(pdfname, sizeof pdfname, row->answers[0], row_index, "attribution", p->prompt.cf,
                    ct_plot_format_ext(s->plot_format))) {
        log_error(c, row_index, row->line, "object or answer too long for a file name");
        return 1;
    }
    snprintf(pdf, sizeof pdf, "%s/pdfs/%s", s->output_dir, pdfname);
    if (access(path, F_OK) == 0) {              /* finished by an earlier run: the figure if missing */
        ct_err e3;
        if (s->plots && !ct_figure_complete(pdf, s->plot_format) && ct_attribution_plot(path, pdf, s->plot_format, &e3))
            return ct_fail(err, "%s", e3.msg);
        return 0;
    }
    int k = 0;                                  /* the counterfactual in the passage, else the first */
    for (int q = 0; p->prompt.cf && q < p->n_cf; q++)
        if (!strcmp(row->obj_cf[q], p->prompt.cf)) k = q;
    int32_t answer = p->answer[0], cf = p->cf[k][0];
    ct_trace_input in = {.ids = p->enc.ids, .n_ids = p->enc.n, .ranges = &p->ranges[0][0], .n_ranges = p->n_ranges};
    ct_attribution clean = {0}, corr = {0};
    ct_err e2;
    int rc = 1;
    if (ct_attribute(c->m, in.ids, in.n_ids, answer, cf, &clean, &e2) ||
        ct_attribute_corrupted(c->m, &in, &s->trace, answer, cf, &corr, &e2)) {
        if (ct_status_is_fatal(e2.code)) { ct_fail_code(err, e2.code, "line %d: attribute: %s", row->line, e2.msg); rc = -1; }
        else {
            char msg[1200];
            snprintf(msg, sizeof msg, "line %d: attribute: %s", row->line, e2.msg);
            log_error(c, row_index, row->line, msg);
        }
        goto out;
    }
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "row", row_index);
    cJSON_AddNumberToObject(x, "line", row->line);
    cJSON_AddNumberToObject(x, "experiment", s->experiment);
    cJSON_AddStringToObject(x, "answer", row->answers[0]);
    cJSON_AddStringToObject(x, "cf", row->obj_cf[k]);
    cJSON_AddStringToObject(x, "context", p->prompt.cf ? "counterfactual" : "passage");
    char *extra = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    if (!extra || ct_attribution_write(path, &in, answer, cf, &clean, &corr, &s->trace, extra, &e2)) {
        ct_fail_code(err, extra ? e2.code : CT_ERR_NOMEM, "%s", extra ? e2.msg : "out of memory");
        rc = -1;
    } else if (s->plots && ct_attribution_plot(path, pdf, s->plot_format, &e2)) {
        ct_fail_code(err, e2.code, "%s", e2.msg);
        rc = -1;
    } else rc = 0;
    cJSON_free(extra);
out:
    ct_attribution_free(&clean);
    ct_attribution_free(&corr);
    return rc;
}

/* The prompt plus the longest scored continuation must fit the model's
 * positions (teacher forcing feeds all but the last answer token). */
static int fits(const ct_run_ctx *c, const ct_row_plan *p, int line_no, char *msg, size_t cap)
{
    int maxp = ct_model_max_positions(c->m);
    int longest = p->n_answer;
    for (int k = 0; k < p->n_cf; k++) if (p->cf_len[k] > longest) longest = p->cf_len[k];
    int need = p->enc.n + longest - 1;
    if (maxp <= 0 || need <= maxp) return 1;
    snprintf(msg, cap, "line %d: the prompt (%d tokens) and the answer need %d positions; the model has %d (max positions)",
             line_no, p->enc.n, need, maxp);
    return 0;
}

int ct__run_row(ct_run_ctx *c, int row_index, int line_no, const char *text, size_t len, ct_err *err)
{
    const ct_run_settings *s = c->s;
    ct_row row;
    ct_err e2;
    /* strip the line end: ct_row_parse takes exactly the JSON text */
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
    if (ct_row_parse(&row, text, len, line_no, &e2)) {
        log_error(c, row_index, line_no, e2.msg);
        return 1;
    }
    int problems = 0, ncf = s->max_cf < 0 || s->max_cf > row.n_obj_cf ? row.n_obj_cf : s->max_cf;
    /* context x: 0 the row's own passage, x ≥ 1 the one with obj_cf[x - 1] */
    int x0 = s->contexts == CT_CTX_CF ? 1 : 0, n_ctx = 1 + (s->contexts != CT_CTX_ORIGINAL ? ncf : 0);
    for (int x = x0; x < n_ctx; x++) {
        const char *cf = x ? row.obj_cf[x - 1] : NULL;
        ct_row_plan p;
        char msg[1400];
        if (ct_row_plan_make(&p, &row, c->tk, s->prompt_format, s->experiment, cf, s->max_cf, &e2)) {
            if (cf) snprintf(msg, sizeof msg, "counterfactual context \"%s\": %s", cf, e2.msg);
            else snprintf(msg, sizeof msg, "%s", e2.msg);
            log_error(c, row_index, line_no, msg);
            problems = 1;
            continue;
        }
        if (s->experiment == CT_EXP_RELATION && s->relation_span == CT_RELATION_FROM_PROMPT_START &&
            ct_row_plan_relation_from_prompt_start(&p, s->experiment, &e2)) {
            snprintf(msg, sizeof msg, "line %d: %s", line_no, e2.msg);
            log_error(c, row_index, line_no, msg);
            ct_row_plan_free(&p);
            problems = 1;
            continue;
        }
        if (!fits(c, &p, line_no, msg, sizeof msg)) {
            log_error(c, row_index, line_no, msg);
            ct_row_plan_free(&p);
            problems = 1;
            continue;
        }
        int32_t **src = NULL;
        int sr = 0;
        if (s->trace.noise_source == CT_NOISE_CF_EMBEDDINGS)
            sr = ct__check_cf_embeddings(&row, &p, s->experiment, s->trace.samples, msg, sizeof msg);
        if (!sr && s->trace.patch_source == CT_PATCH_CF_PASSAGE)
            sr = ct__cf_passages(&row, &p, c->tk, s->prompt_format, &src, msg, sizeof msg);
        if (sr < 0) { ct_fail_code(err, CT_ERR_NOMEM, "line %d: out of memory", line_no); ct_row_plan_free(&p); ct_row_free(&row); return -1; }
        if (sr) {
            if (cf) {
                char m2[1500];
                snprintf(m2, sizeof m2, "counterfactual context \"%s\": %s", cf, msg);
                log_error(c, row_index, line_no, m2);
            } else log_error(c, row_index, line_no, msg);
            ct_row_plan_free(&p);
            problems = 1;
            continue;
        }
        for (int k = 0; k <= CT_KIND_HEAD; k++) {
            if (!(s->kinds & (1u << k))) continue;
            int r = run_case(c, &row, row_index, &p, src, (ct_kind)k, err);
            if (r < 0) { ct__cf_passages_free(src, p.n_cf); ct_row_plan_free(&p); ct_row_free(&row); return -1; }
            if (r) problems = 1;
        }
        ct__cf_passages_free(src, p.n_cf);
        if (s->attribute) {
            int r = attribute_context(c, &row, row_index, &p, err);
            if (r < 0) { ct_row_plan_free(&p); ct_row_free(&row); return -1; }
            if (r) problems = 1;
        }
        ct_row_plan_free(&p);
    }
    ct_row_free(&row);
    return problems;
}
