/* case_file.c — reads a case file (safetensors, written by `ctrace run` /
 * `ctrace trace`) for plotting and averaging: the IE grid, the scalars, the
 * target ranges and the "ctrace_case" metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"
#include "report/report_internal.h"

void ct_case_free(ct_case *c)
{
    if (!c) return;
    free(c->path); free(c->ie); free(c->targets); free(c->model);
    ct_case_info_free(&c->info);
    memset(c, 0, sizeof *c);
}

/* A scalar tensor (any shape: its mean), NaN when absent. */
static float scalar(const ct_st_file *f, const char *name)
{
    const ct_tensor_view *v = ct_st_find(f, name);
    if (!v || v->numel < 1) return NAN;
    float *x = ct_tensor_to_f32(v);
    if (!x) return NAN;
    double s = 0;
    for (int64_t i = 0; i < v->numel; i++) s += x[i];
    free(x);
    return (float)(s / (double)v->numel);
}

/* Far above any prompt or model (tokens, layers); keeps T and L, and the
 * loops over them, in int range. */
#define CASE_MAX_DIM (1 << 20)

/* dims of tensor `name`, when present, must be want[0..n) (-1: any size). */
static int shape_is(const ct_st_file *f, const char *name, int n, const int64_t *want, const char *what,
                    const char *path, ct_err *err)
{
    const ct_tensor_view *v = ct_st_find(f, name);
    if (!v) return 0;
    int ok = v->ndim == n;
    for (int i = 0; ok && i < n; i++) ok = want[i] < 0 || v->shape[i] == want[i];
    if (ok) return 0;
    char got[128] = "";
    for (int i = 0, o = 0; i < v->ndim && o < (int)sizeof got - 24; i++)
        o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", i ? ", " : "", (long long)v->shape[i]);
    return ct_fail(err, "%s: \"%s\" is [%s] but must be %s", path, name, got, what);
}

/* The tensors of a case file against each other: T rows and L layers in the
 * grid, so every tensor the report reads can be indexed by them. */
static int check_shapes(const ct_st_file *f, int T, int L, const char *path, ct_err *err)
{
    char tl[64], stl[64], cstl[64], t1[64];
    snprintf(tl, sizeof tl, "[%d, %d] (T, L)", T, L);
    snprintf(stl, sizeof stl, "[S, %d, %d] (S, T, L)", T, L);
    snprintf(cstl, sizeof cstl, "[C, S, %d, %d]", T, L);
    snprintf(t1, sizeof t1, "[%d] (T)", T);
    const int64_t w_tl[] = {T, L}, w_stl[] = {-1, T, L}, w_cstl[] = {-1, -1, T, L}, w_t[] = {T}, w_r[] = {-1, 2};
    if (shape_is(f, "ie", 2, w_tl, tl, path, err) || shape_is(f, "scores", 2, w_tl, tl, path, err) ||
        shape_is(f, "scores_samples", 3, w_stl, stl, path, err) ||
        shape_is(f, "cf_scores", 3, w_stl, "[C, T, L]", path, err) ||
        shape_is(f, "cf_scores_samples", 4, w_cstl, cstl, path, err) ||
        shape_is(f, "input_ids", 1, w_t, t1, path, err) ||
        shape_is(f, "target_ranges", 2, w_r, "[n, 2]", path, err))
        return -1;
    const ct_tensor_view *tr = ct_st_find(f, "target_ranges");
    if (tr && tr->dtype != CT_I32)
        return ct_fail(err, "%s: \"target_ranges\" is %s but must be I32", path, ct_dtype_name(tr->dtype));
    return 0;
}

/* H == NULL: [T, L] grids only (ct_case_load).  Else a head trace's [T, L, H]
 * grid is read too, flattened to [T, L·H] (c->L = L·H, *H = H; 0 for a
 * sublayer case): ct__case_load_heads. */
static int case_load(ct_case *c, const char *path, int *H, ct_err *err);

int ct_case_load(ct_case *c, const char *path, ct_err *err) { return case_load(c, path, NULL, err); }

int ct__case_load_heads(ct_case *c, const char *path, int *H, ct_err *err) { return case_load(c, path, H, err); }

static int case_load(ct_case *c, const char *path, int *H, ct_err *err)
{
    memset(c, 0, sizeof *c);
    if (H) *H = 0;
    ct_st_file f;
    if (ct_st_open(&f, path, err)) return -1;
    int rc = -1;
    c->path = strdup(path);
    c->low_score = scalar(&f, "low_score");
    c->high_score = scalar(&f, "high_score");
    c->te = scalar(&f, "te");
    const ct_tensor_view *ie = ct_st_find(&f, "ie"), *sc = ct_st_find(&f, "scores");
    const ct_tensor_view *g = ie ? ie : sc;
    if (!g) { ct_fail(err, "%s: no \"ie\" or \"scores\" tensor", path); goto out; }
    int heads = H && ie && g->ndim == 3 && g->shape[0] >= 1 && g->shape[1] >= 1 && g->shape[2] >= 1 && g->shape[2] <= 4096 &&
                g->shape[1] <= 4096;
    if (!heads && (g->ndim != 2 || g->shape[0] < 1 || g->shape[1] < 1)) { ct_fail(err, "%s: \"%s\" is not [T, L]", path, g->name); goto out; }
    /* T and L become ints indexing [T, L] grids: bound them before the cast */
    if (g->shape[0] > CASE_MAX_DIM || g->shape[1] > CASE_MAX_DIM) {
        ct_fail(err, "%s: \"%s\" is [%lld, %lld]: more tokens or layers than a case can have (%d)", path, g->name,
                (long long)g->shape[0], (long long)g->shape[1], CASE_MAX_DIM);
        goto out;
    }
    if (!ie && isnan(c->low_score)) { ct_fail(err, "%s: \"scores\" without \"low_score\"", path); goto out; }
    c->T = (int)g->shape[0];
    c->L = (int)g->shape[1];
    if (heads) {                                /* [T, L, H] as [T, L·H]; only the ids and ranges to check */
        *H = (int)g->shape[2];
        c->L *= *H;
        const int64_t w_t[] = {c->T}, w_r[] = {-1, 2};
        if (shape_is(&f, "input_ids", 1, w_t, "[T]", path, err) || shape_is(&f, "target_ranges", 2, w_r, "[n, 2]", path, err))
            goto out;
        const ct_tensor_view *tr0 = ct_st_find(&f, "target_ranges");
        if (tr0 && tr0->dtype != CT_I32) { ct_fail(err, "%s: \"target_ranges\" is not I32", path); goto out; }
    } else if (check_shapes(&f, c->T, c->L, path, err)) goto out;
    if (!(c->ie = ct_tensor_to_f32(g))) { ct_fail(err, "%s: cannot convert \"%s\"", path, g->name); goto out; }
    if (!ie) for (long i = 0; i < (long)c->T * c->L; i++) c->ie[i] -= c->low_score;
    if (isnan(c->te) && !isnan(c->high_score) && !isnan(c->low_score)) c->te = c->high_score - c->low_score;

    const ct_tensor_view *tr = ct_st_find(&f, "target_ranges");
    if (tr && tr->numel > 0) {
        /* read as I32 (check_shapes made sure): through float, values near
         * 2^31 would round out of int range */
        c->targets = malloc((size_t)tr->numel * sizeof *c->targets);
        if (!c->targets) { ct_fail(err, "%s: out of memory reading \"target_ranges\"", path); goto out; }
        memcpy(c->targets, tr->data, (size_t)tr->numel * sizeof *c->targets);
        c->n_targets = (int)tr->shape[0];
        for (int i = 0; i < c->n_targets; i++)
            if (c->targets[2 * i] < 0 || c->targets[2 * i + 1] < c->targets[2 * i] || c->targets[2 * i + 1] > c->T) {
                ct_fail(err, "%s: \"target_ranges\"[%d] = [%d, %d) is not within the %d tokens of \"%s\"", path, i,
                        (int)c->targets[2 * i], (int)c->targets[2 * i + 1], c->T, g->name);
                goto out;
            }
    }

    /* The metadata: the case description `ctrace run` records, either as the
     * "case" member of the engine's "ctrace" settings JSON (ct_case_write's
     * extra_json) or as a top-level "ctrace_case" string; otherwise what the
     * settings give (kind, window, metric) and token ids as labels. */
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(md, "ctrace");
    cJSON *settings = cJSON_IsString(st) ? cJSON_Parse(st->valuestring) : NULL;
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(md, "ctrace_case");
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(settings, "case");
    const cJSON *mdl = cJSON_GetObjectItemCaseSensitive(settings, "model");
    if (!cJSON_IsString(mdl)) mdl = cJSON_GetObjectItemCaseSensitive(md, "model");
    if (cJSON_IsString(mdl)) c->model = strdup(mdl->valuestring);
    char *info_json = cJSON_IsString(cc) ? strdup(cc->valuestring) : cJSON_IsObject(inner) ? cJSON_PrintUnformatted(inner) : NULL;
    if (info_json) {
        ct_err e2;
        int bad = ct_case_info_parse(&c->info, info_json, &e2);
        free(info_json);
        if (bad) { cJSON_Delete(md); cJSON_Delete(settings); ct_fail(err, "%s: %s", path, e2.msg); goto out; }
        if (c->info.T != c->T) {
            cJSON_Delete(md); cJSON_Delete(settings);
            ct_fail(err, "%s: the case metadata has %d tokens but \"%s\" has %d rows", path, c->info.T, g->name, c->T);
            goto out;
        }
        c->has_info = 1;
    } else {
        const cJSON *src = settings ? settings : md;
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(src, "kind");
        if (!cJSON_IsString(k)) k = cJSON_GetObjectItemCaseSensitive(md, "kind");
        snprintf(c->info.kind, sizeof c->info.kind, "%s", cJSON_IsString(k) && ct_kind_index(k->valuestring) >= 0 ? k->valuestring : "hidden");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(src, "window");
        c->info.window = cJSON_IsString(w) ? atoi(w->valuestring) : cJSON_IsNumber(w) ? w->valueint : 1;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(src, "metric");
        c->info.metric = cJSON_IsString(m) ? strdup(m->valuestring) : NULL;
        c->info.row = -1;
        c->info.T = c->T;
        c->info.tokens = calloc((size_t)c->T, sizeof *c->info.tokens);
        const ct_tensor_view *ids = ct_st_find(&f, "input_ids");
        float *x = ids && ids->numel == c->T ? ct_tensor_to_f32(ids) : NULL;
        for (int t = 0; c->info.tokens && t < c->T; t++) {
            char b[32];
            if (x) snprintf(b, sizeof b, "#%ld", (long)x[t]); else snprintf(b, sizeof b, "%d", t);
            c->info.tokens[t] = strdup(b);
        }
        free(x);
        c->info.spans.T = c->T;
        c->info.spans.last = c->T - 1;
    }
    cJSON_Delete(md);
    cJSON_Delete(settings);
    rc = 0;
out:
    ct_st_close(&f);
    if (rc) ct_case_free(c);
    return rc;
}
