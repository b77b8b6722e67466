/* attribution_figure.c — the figure of an attribution file (ctrace attribute,
 * ctrace run --attribute 1): a layer × head map of the heads' direct
 * contributions to logit(answer) − logit(cf) beside a bar per layer for the
 * MLPs; with a corrupted run, its map and bars beside them.  Drawn with the
 * ordinary heat-map writer (rows = layers, the bars a one-column panel). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"

void ct_attribution_file_free(ct_attribution_file *a)
{
    if (!a) return;
    free(a->heads); free(a->mlp); free(a->corrupted_heads); free(a->corrupted_mlp); free(a->targets);
    free(a->answer_text); free(a->cf_text); free(a->context);
    memset(a, 0, sizeof *a);
}

static float scalar_of(const ct_st_file *f, const char *name)
{
    const ct_tensor_view *v = ct_st_find(f, name);
    if (!v || v->numel != 1) return NAN;
    float *x = ct_tensor_to_f32(v);
    float r = x ? x[0] : NAN;
    free(x);
    return r;
}

static char *str_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? strdup(x->valuestring) : NULL;
}

int ct_attribution_load(ct_attribution_file *a, const char *path, ct_err *err)
{
    memset(a, 0, sizeof *a);
    a->embed = a->total = a->corrupted_embed = a->corrupted_total = NAN;
    a->answer = a->cf = -1;
    ct_st_file f;
    if (ct_st_open(&f, path, err)) return -1;
    int rc = -1;
    const ct_tensor_view *h = ct_st_find(&f, "heads"), *m = ct_st_find(&f, "mlp");
    const ct_tensor_view *ch = ct_st_find(&f, "corrupted_heads"), *cm = ct_st_find(&f, "corrupted_mlp");
    const ct_tensor_view *ids = ct_st_find(&f, "answer_cf_ids"), *tr = ct_st_find(&f, "target_ranges");
    if (!h || h->ndim != 2 || h->shape[0] < 1 || h->shape[1] < 1 || h->shape[0] > 100000 || h->shape[1] > 100000) {
        ct_fail(err, "%s: no \"heads\" [L, H] tensor: not an attribution file (ctrace attribute)", path);
        goto out;
    }
    a->L = (int)h->shape[0];
    a->H = (int)h->shape[1];
    if (!m || m->ndim != 1 || m->shape[0] != a->L) { ct_fail(err, "%s: \"mlp\" is not [%d] (L)", path, a->L); goto out; }
    if ((ch || cm) && (!ch || !cm || ch->ndim != 2 || ch->shape[0] != a->L || ch->shape[1] != a->H || cm->ndim != 1 ||
                       cm->shape[0] != a->L)) {
        ct_fail(err, "%s: \"corrupted_heads\" / \"corrupted_mlp\" are not [%d, %d] / [%d]", path, a->L, a->H, a->L);
        goto out;
    }
    if (!(a->heads = ct_tensor_to_f32(h)) || !(a->mlp = ct_tensor_to_f32(m)) ||
        (ch && (!(a->corrupted_heads = ct_tensor_to_f32(ch)) || !(a->corrupted_mlp = ct_tensor_to_f32(cm))))) {
        ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    a->embed = scalar_of(&f, "embed");
    a->total = scalar_of(&f, "total");
    a->corrupted_embed = scalar_of(&f, "corrupted_embed");
    a->corrupted_total = scalar_of(&f, "corrupted_total");
    if (ids && ids->dtype == CT_I32 && ids->numel == 2) {
        memcpy(&a->answer, (const int32_t *)ids->data, sizeof a->answer);
        memcpy(&a->cf, (const int32_t *)ids->data + 1, sizeof a->cf);
    }
    if (tr && tr->dtype == CT_I32 && tr->ndim == 2 && tr->shape[1] == 2 && tr->numel > 0) {
        if (!(a->targets = malloc((size_t)tr->numel * sizeof *a->targets))) {
            ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        memcpy(a->targets, tr->data, (size_t)tr->numel * sizeof *a->targets);
        a->n_targets = (int)tr->shape[0];
    }
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL;
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(md, "ctrace");
    cJSON *st = cJSON_IsString(cs) ? cJSON_Parse(cs->valuestring) : NULL;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(st, "samples");
    if (cJSON_IsNumber(x)) a->samples = x->valueint;
    x = cJSON_GetObjectItemCaseSensitive(st, "experiment");
    if (cJSON_IsNumber(x) && x->valueint >= 1 && x->valueint <= 3) a->experiment = x->valueint;
    a->answer_text = str_of(st, "answer");
    a->cf_text = str_of(st, "cf");
    a->context = str_of(st, "context");
    cJSON_Delete(st);
    cJSON_Delete(md);
    rc = 0;
out:
    ct_st_close(&f);
    if (rc) ct_attribution_file_free(a);
    return rc;
}

void ct_attribution_figure_free(ct_attribution_figure *f)
{
    if (!f) return;
    for (int i = 0; i < 4; i++) free(f->titles[i]);
    free(f->cbar); free(f->xlabel_bars);
    for (int l = 0; f->labels && l < f->L; l++) free(f->labels[l]);
    free(f->labels);
    memset(f, 0, sizeof *f);
}

/* The range ct_heatmap_range gives the values of both runs together. */
static void joint_range(const float *a, const float *b, int n, float *lo, float *hi)
{
    float *v = malloc((size_t)2 * n * sizeof *v);
    if (!v) { *lo = *hi = NAN; return; }
    memcpy(v, a, (size_t)n * sizeof *v);
    memcpy(v + n, b ? b : a, (size_t)n * sizeof *v);
    ct_heatmap t = {.values = v, .rows = 2, .cols = n, .vmin = NAN, .vmax = NAN};
    ct_heatmap_range(&t, lo, hi);
    free(v);
}

static char *dupf(const char *fmt, const char *a, const char *b, const char *c)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b, c);
    return s;
}

int ct_attribution_figure_of(ct_attribution_figure *f, const ct_attribution_file *a, ct_err *err)
{
    memset(f, 0, sizeof *f);
    if (a->L < 1 || a->H < 1 || !a->heads || !a->mlp) return ct_fail(err, "attribution figure: no heads/mlp");
    char ans[160], cf[160];
    if (a->answer_text) snprintf(ans, sizeof ans, "%s", a->answer_text); else snprintf(ans, sizeof ans, "#%d", (int)a->answer);
    if (a->cf_text) snprintf(cf, sizeof cf, "%s", a->cf_text); else snprintf(cf, sizeof cf, "#%d", (int)a->cf);
    /* what the corrupted run corrupted */
    static const char *exps[4] = {"", "the subject", "the object", "the relation"};
    char corr[256] = "", span[160] = "";
    for (int r = 0, o = 0; r < a->n_targets && o < (int)sizeof span - 24; r++)
        o += a->targets[2 * r + 1] - 1 > a->targets[2 * r]
           ? snprintf(span + o, sizeof span - (size_t)o, "%s%d-%d", r ? ", " : "", a->targets[2 * r], a->targets[2 * r + 1] - 1)
           : snprintf(span + o, sizeof span - (size_t)o, "%s%d", r ? ", " : "", a->targets[2 * r]);
    int one = a->n_targets == 1 && a->targets[1] - a->targets[0] == 1;
    if (a->corrupted_heads)
        snprintf(corr, sizeof corr, "corrupted run: noise on %s%stoken%s %s, %d sample(s)",
                 a->experiment ? exps[a->experiment] : "", a->experiment ? ", " : "", one ? "" : "s", span[0] ? span : "?",
                 a->samples);
    const char *ctx = !a->context ? "" : !strcmp(a->context, "counterfactual") ? ", counterfactual passage" : ", the row's passage";
    int n = a->corrupted_heads ? 4 : 2, L = a->L;
    f->L = L;
    f->n = n;
    f->labels = calloc((size_t)L, sizeof *f->labels);
    f->cbar = dupf("direct effect (logits)%s%s%s", "", "", "");
    f->xlabel_bars = dupf("direct effect (logits)%s%s%s", "", "", "");
    if (!f->labels || !f->cbar || !f->xlabel_bars) goto nomem;
    for (int l = 0; l < L; l++) {
        if (!(f->labels[l] = malloc(24))) goto nomem;
        snprintf(f->labels[l], 24, "layer %d", l);
    }
    float hlo, hhi, mlo, mhi;                   /* one range for both maps, one axis for both bar panels */
    joint_range(a->heads, a->corrupted_heads, L * a->H, &hlo, &hhi);
    joint_range(a->mlp, a->corrupted_mlp, L, &mlo, &mhi);
    for (int k = 0; k < n / 2; k++) {
        char run[400], tot[64];
        float total = k ? a->corrupted_total : a->total, embed = k ? a->corrupted_embed : a->embed;
        snprintf(tot, sizeof tot, "total %+.4g (embeddings %+.3g)", total, embed);
        if (k) snprintf(run, sizeof run, "%s", corr);
        else snprintf(run, sizeof run, "clean run%s", ctx);
        char what[400];
        snprintf(what, sizeof what, "direct effect on logit(%s) \xe2\x88\x92 logit(%s)", ans, cf);
        f->titles[2 * k] = dupf("Heads at the last token: %s\n%s\n%s", what, run, tot);
        f->titles[2 * k + 1] = dupf("MLPs\n%s%s%s", k ? "corrupted run" : "clean run", "", "");
        if (!f->titles[2 * k] || !f->titles[2 * k + 1]) goto nomem;
        f->h[2 * k] = (ct_heatmap){.values = k ? a->corrupted_heads : a->heads, .rows = L, .cols = a->H,
                                   .labels = (const char *const *)f->labels, .kind = "attention", .title = f->titles[2 * k],
                                   .xlabel = "head", .cbar_label = f->cbar, .vmin = hlo, .vmax = hhi, .hide_labels = k == 1};
        f->h[2 * k + 1] = (ct_heatmap){.values = k ? a->corrupted_mlp : a->mlp, .rows = L, .cols = 1,
                                       .labels = (const char *const *)f->labels, .kind = "mlp", .title = f->titles[2 * k + 1],
                                       .xlabel = f->xlabel_bars, .cbar_label = "", .vmin = mlo, .vmax = mhi,
                                       .hide_labels = 1, .bars = 1};
    }
    return 0;
nomem:
    ct_attribution_figure_free(f);
    return ct_fail_code(err, CT_ERR_NOMEM, "attribution figure: out of memory");
}

int ct_attribution_plot(const char *in_path, const char *out, ct_plot_format fmt, ct_err *err)
{
    ct_attribution_file a;
    ct_attribution_figure f;
    if (ct_attribution_load(&a, in_path, err)) return -1;
    int rc = ct_attribution_figure_of(&f, &a, err);
    if (!rc) rc = ct_heatmap_write(f.h, f.n, out, fmt, err);
    ct_attribution_figure_free(&f);
    ct_attribution_file_free(&a);
    return rc;
}
