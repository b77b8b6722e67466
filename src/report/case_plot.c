/* case_plot.c — the heat map of one case, with ROME's wording: title
 * "Impact of restoring state/MLP/Attn after corrupted input", x axis
 * "single restored layer" or "center of interval of W restored MLP layers",
 * colour bar labelled with the metric and the answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"

void ct_case_figure_free(ct_case_figure *f)
{
    if (!f) return;
    free(f->title); free(f->xlabel); free(f->cbar); free(f->star);
    for (int t = 0; f->labels && t < f->h.rows; t++) free(f->labels[t]);
    free(f->labels);
    memset(f, 0, sizeof *f);
}

static char *fmt_dup(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 64;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a ? a : "", b ? b : "");
    return s;
}

/* a byte that is part of a word: ASCII letters and digits, any non-ASCII byte */
static int wordy(unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

char *ct_token_label(const char *prev, const char *tok)
{
    size_t n = strlen(tok);
    int blank = n > 0;
    for (size_t i = 0; i < n; i++) if (tok[i] != ' ' && tok[i] != '\t') blank = 0;
    if (blank) {                          /* " " -> "\u2423" (a lone space is otherwise invisible) */
        char *s = malloc(3 * n + 1), *o = s;
        if (!s) return NULL;
        for (size_t i = 0; i < n; i++) { memcpy(o, "\xe2\x90\xa3", 3); o += 3; }
        *o = 0;
        return s;
    }
    size_t pn = prev ? strlen(prev) : 0;
    if (n && pn && wordy((unsigned char)tok[0]) && wordy((unsigned char)prev[pn - 1])) {
        char *s = malloc(n + 3);
        if (s) { memcpy(s, "\xc2\xb7", 2); memcpy(s + 2, tok, n + 1); }
        return s;
    }
    return strdup(tok);
}

int ct_case_corrupted(const ct_case *c, unsigned char *mark)
{
    memset(mark, 0, (size_t)c->T);
    if (c->n_targets > 0) {
        for (int r = 0; r < c->n_targets; r++)
            for (int t = c->targets[2 * r]; t < c->targets[2 * r + 1]; t++)
                if (t >= 0 && t < c->T) mark[t] = 1;
    } else {
        const ct_token_spans *s = &c->info.spans;
        ct_interval rs[4];
        int nr = 0;
        if (c->info.experiment == CT_EXP_SUBJECT) rs[nr++] = s->subject;
        else if (c->info.experiment == CT_EXP_OBJECT) rs[nr++] = s->object;
        else if (c->info.experiment == CT_EXP_RELATION) for (int i = 0; i < s->n_relation && i < 3; i++) rs[nr++] = s->relation[i];
        for (int i = 0; i < nr; i++)
            for (int t = rs[i].b; t < rs[i].e && t < c->T; t++) if (t >= 0) mark[t] = 1;
    }
    int n = 0;
    for (int t = 0; t < c->T; t++) n += mark[t];
    return n;
}

int ct_case_figure_of(ct_case_figure *f, const ct_case *c, ct_err *err)
{
    memset(f, 0, sizeof *f);
    const ct_case_info *ci = &c->info;
    int k = ct_kind_index(ci->kind);
    static const char *what[3] = {"state", "MLP", "Attn"};
    static const char *exps[4] = {"", "subject", "object", "relation"};
    const char *w = what[k < 0 ? 0 : k];
    const char *metric = ci->metric ? ci->metric : "prob";
    const char *ans = ci->answer ? ci->answer : "answer";

    char line2[512];
    int n = ci->answer ? snprintf(line2, sizeof line2, "answer \"%s\", metric %s", ans, metric)
                       : snprintf(line2, sizeof line2, "metric %s", metric);
    if (ci->experiment >= 1 && ci->experiment <= 3)
        n += snprintf(line2 + n, sizeof line2 - (size_t)n, ", %s on the %s",
                      ci->noise_source == CT_NOISE_CF_EMBEDDINGS ? "cf embeddings" : "noise", exps[ci->experiment]);
    if (ci->cf && n < (int)sizeof line2)
        snprintf(line2 + n, sizeof line2 - (size_t)n, ", context object \"%s\"", ci->cf);
    char line1[128];
    if (ci->patch_source == CT_PATCH_CF_PASSAGE)   /* the seed's e1: corrupted runs, states from the cf passages */
        snprintf(line1, sizeof line1, "Impact of patching %s from the counterfactual passages", w);
    else if (ci->reverse) snprintf(line1, sizeof line1, "Impact of corrupting %s in the clean run", w);
    else snprintf(line1, sizeof line1, "Impact of restoring %s after corrupted input", w);
    /* the case's scores: what the figure's effects are relative to */
    /* the case's scores (p of the answer in the clean and corrupted runs,
     * whatever the metric) and TE in the metric's unit */
    char line3[200] = "";
    if (!isnan(c->high_score) || !isnan(c->low_score) || !isnan(c->te)) {
        char unit[48] = "";
        if (strcmp(metric, "prob") || ci->reverse)
            snprintf(unit, sizeof unit, " (%s%s%s)", strcmp(metric, "prob") ? metric : "",
                     strcmp(metric, "prob") && ci->reverse ? ", " : "", ci->reverse ? "corrupted - clean" : "");
        snprintf(line3, sizeof line3, "\np_clean %.4g, p_corrupt %.4g, TE %.4g%s", c->high_score, c->low_score, c->te, unit);
    }
    f->title = fmt_dup("%s\n%s", line1, line2);
    if (f->title && line3[0]) {
        char *t = malloc(strlen(f->title) + strlen(line3) + 1);
        if (t) sprintf(t, "%s%s", f->title, line3);
        free(f->title);
        f->title = t;
    }
    const char *verb = ci->reverse || ci->patch_source == CT_PATCH_CF_PASSAGE ? "patched" : "restored";
    if (k <= 0 || ci->window <= 1) f->xlabel = fmt_dup("single %s layer%s", verb, "");
    else {
        char b[96];
        snprintf(b, sizeof b, "center of interval of %d %s %s layers", ci->window, verb, w);
        f->xlabel = strdup(b);
    }
    /* IE is the change from the base run: the corrupted run when restoring,
     * the clean run when corrupting (reverse patching) */
    const char *vs = ci->reverse ? " vs clean" : " vs corrupted";
    if (!strcmp(metric, "logprob")) f->cbar = fmt_dup("\xce\x94 log p(%s)%s", ans, vs);
    else if (!strcmp(metric, "logratio")) f->cbar = fmt_dup("\xce\x94 log-ratio%s%s", "", vs);
    else f->cbar = fmt_dup("\xce\x94p(%s)%s", ans, vs);
    f->star = calloc((size_t)c->T, 1);
    f->labels = calloc((size_t)c->T, sizeof *f->labels);
    f->h.rows = c->T;   /* for ct_case_figure_free */
    if (!f->title || !f->xlabel || !f->cbar || !f->star || !f->labels) { ct_case_figure_free(f); return ct_fail(err, "out of memory"); }
    for (int t = 0; t < c->T; t++) {
        const char *tok = ci->tokens && ci->tokens[t] ? ci->tokens[t] : "";
        const char *prev = t > 0 && ci->tokens && ci->tokens[t - 1] ? ci->tokens[t - 1] : NULL;
        if (!(f->labels[t] = ct_token_label(prev, tok))) { ct_case_figure_free(f); return ct_fail(err, "out of memory"); }
    }
    /* stars: the corrupted tokens (target_ranges, else the experiment's span) */
    ct_case_corrupted(c, f->star);
    f->h = (ct_heatmap){
        .values = c->ie, .rows = c->T, .cols = c->L,
        .labels = (const char *const *)f->labels, .star = f->star,
        .kind = ci->kind, .title = f->title, .xlabel = f->xlabel, .cbar_label = f->cbar,
        .vmin = NAN, .vmax = NAN,
    };
    return 0;
}
