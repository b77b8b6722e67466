/* average.c — IE averaged by token segment over many cases (the paper
 * figures), in two ways, because they answer different questions:
 *   case-mean: every case weighs the same (mean over cases of the per-case
 *              mean over the segment's tokens) — ROME's convention;
 *   pooled:    every token weighs the same (a long subject counts more).
 * Sums are kept in double so the order of cases does not matter in practice. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ctrace_app.h"
#include "common/file.h"
#include "report/report_internal.h"

void ct_average_init(ct_average *a)
{
    memset(a, 0, sizeof *a);
    a->cf_context = -1;
}

void ct_average_free(ct_average *a)
{
    free(a->case_sum); free(a->case_sq); free(a->tok_sum);
    memset(a, 0, sizeof *a);
}

int ct_average_add(ct_average *a, const float *ie, int T, int L, const uint32_t *mask, ct_err *err)
{
    if (T < 1 || L < 1) return ct_fail(err, "empty IE grid");
    if (a->L == 0) {
        a->case_sum = calloc((size_t)CT_SEG_ALL * L, sizeof *a->case_sum);
        a->case_sq = calloc((size_t)CT_SEG_ALL * L, sizeof *a->case_sq);
        a->tok_sum = calloc((size_t)CT_SEG_ALL * L, sizeof *a->tok_sum);
        if (!a->case_sum || !a->case_sq || !a->tok_sum) {
            free(a->case_sum); free(a->case_sq); free(a->tok_sum);
            a->case_sum = a->case_sq = a->tok_sum = NULL;
            return ct_fail(err, "out of memory");
        }
        a->L = L;
    } else if (a->L != L) {
        return ct_fail(err, "case has %d layers, earlier cases %d", L, a->L);
    }
    for (int s = 0; s < CT_SEG_ALL; s++) {
        int n = 0;
        for (int t = 0; t < T; t++) if (mask[t] >> s & 1) n++;
        if (!n) continue;
        for (int l = 0; l < L; l++) {
            double sum = 0;
            for (int t = 0; t < T; t++) if (mask[t] >> s & 1) sum += ie[(long)t * L + l];
            a->tok_sum[s * L + l] += sum;
            a->case_sum[s * L + l] += sum / n;
            a->case_sq[s * L + l] += (sum / n) * (sum / n);
        }
        a->n_case[s]++;
        a->n_tok[s] += n;
    }
    a->n_cases++;
    return 0;
}

/* 1.96 * sample std / sqrt(n) from a sum and a sum of squares */
static double ci95(double sum, double sq, double n)
{
    if (n < 2) return NAN;
    double var = (sq - sum * sum / n) / (n - 1);
    return 1.96 * sqrt(var > 0 ? var : 0) / sqrt(n);
}

void ct_average_stat(const ct_average *a, int seg0, int n_seg, int stat, float *out)
{
    for (int i = 0; i < n_seg; i++) {
        int s = seg0 + i;
        for (int l = 0; l < a->L; l++) {
            float v = NAN;
            if (s >= 0 && s < CT_SEG_ALL && a->case_sum) {
                double nc = a->n_case[s], nt = (double)a->n_tok[s];
                if (stat == CT_STAT_POOLED) v = nt > 0 ? (float)(a->tok_sum[s * a->L + l] / nt) : NAN;
                else if (stat == CT_STAT_CI95) v = (float)ci95(a->case_sum[s * a->L + l], a->case_sq[s * a->L + l], nc);
                else v = nc > 0 ? (float)(a->case_sum[s * a->L + l] / nc) : NAN;
            }
            out[i * a->L + l] = v;
        }
    }
}

void ct_average_result(const ct_average *a, int pooled, float *out)
{
    ct_average_stat(a, 0, CT_SEG_COUNT, pooled ? CT_STAT_POOLED : CT_STAT_CASE_MEAN, out);
}

void ct_average_ate(const ct_average *a, double *ate, double *ci)
{
    *ate = a->n_te > 0 ? a->te_sum / a->n_te : NAN;
    *ci = ci95(a->te_sum, a->te_sq, a->n_te);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The design every averaged case must share, and the file that set it. */
typedef struct design {
    int set;
    int experiment, reverse, cf_context, noise_source, patch_source;
    char metric[16], model[512], id[160], path[1024];
} design;

static const char *model_name(const char *m)
{
    /* a path: its last component (the same model run from another folder) */
    const char *e = m + strlen(m);
    while (e > m && e[-1] == '/') e--;
    const char *b = e;
    while (b > m && b[-1] != '/') b--;
    return b;
}

/* 0 when c fits d (and d is set from c when empty), else -1 with why. */
static int same_design(design *d, const ct_case *c, ct_err *why)
{
    static const char *exps[4] = {"unknown", "1 (noise on the subject)", "2 (noise on the object)", "3 (noise on the relation)"};
    int exp = c->info.experiment >= 1 && c->info.experiment <= 3 ? c->info.experiment : 0;
    const char *metric = c->info.metric ? c->info.metric : "prob";
    int cf = c->info.cf != NULL;
    char model[512] = "";
    if (c->model) snprintf(model, sizeof model, "%s", model_name(c->model));
    const char *id = c->info.model_id ? c->info.model_id : "";
    if (!d->set) {
        d->set = 1;
        d->experiment = exp; d->reverse = c->info.reverse; d->cf_context = cf;
        d->noise_source = c->info.noise_source; d->patch_source = c->info.patch_source;
        snprintf(d->metric, sizeof d->metric, "%s", metric);
        snprintf(d->model, sizeof d->model, "%s", model);
        snprintf(d->id, sizeof d->id, "%s", id);
        snprintf(d->path, sizeof d->path, "%s", c->path);
        return 0;
    }
    const char *tail = "ctrace average does not mix them: average each on its own";
    if (exp != d->experiment)
        return ct_fail(why, "%s is experiment %s but %s is experiment %s; %s", c->path, exps[exp], d->path, exps[d->experiment], tail);
    if (c->info.reverse != d->reverse)
        return ct_fail(why, "%s is %s but %s is %s; %s", c->path, c->info.reverse ? "reverse patching (corrupting the clean run)" : "restoring (forward)",
                       d->path, d->reverse ? "reverse patching (corrupting the clean run)" : "restoring (forward)", tail);
    if (c->info.noise_source != d->noise_source)
        return ct_fail(why, "%s is corrupted with %s but %s with %s; %s", c->path,
                       ct_noise_source_name((ct_noise_source)c->info.noise_source), d->path,
                       ct_noise_source_name((ct_noise_source)d->noise_source), tail);
    if (c->info.patch_source != d->patch_source)
        return ct_fail(why, "%s is patched from the %s but %s from the %s; %s", c->path,
                       c->info.patch_source == CT_PATCH_CF_PASSAGE ? "counterfactual passages" : "opposite run", d->path,
                       d->patch_source == CT_PATCH_CF_PASSAGE ? "counterfactual passages" : "opposite run", tail);
    if (strcmp(metric, d->metric))
        return ct_fail(why, "%s has metric %s but %s has %s; %s", c->path, metric, d->path, d->metric, tail);
    if (cf != d->cf_context)
        return ct_fail(why, "%s is traced on %s but %s on %s; %s (--contexts original or cf)", c->path,
                       cf ? "a counterfactual context" : "the row's own passage", d->path,
                       d->cf_context ? "a counterfactual context" : "the row's own passage", tail);
    /* the recorded identities decide when both cases have one, else the model folders' names */
    if (id[0] && d->id[0] ? strcmp(id, d->id) != 0 : model[0] && d->model[0] && strcmp(model, d->model) != 0)
        return ct_fail(why, "%s was traced with model %s%s%s but %s with %s%s%s; %s", c->path, model, id[0] ? " " : "", id,
                       d->path, d->model, d->id[0] ? " " : "", d->id, tail);
    if (!d->model[0] && model[0]) snprintf(d->model, sizeof d->model, "%s", model);
    if (!d->id[0] && id[0]) snprintf(d->id, sizeof d->id, "%s", id);
    return 0;
}

/* A head trace (kind "head" in the metadata): its grids are [T, L, H], which
 * the sublayer averages do not take; such files are left out, not skipped. */
static int is_head_case(const char *path)
{
    ct_st_file f;
    ct_err e;
    if (ct_st_open(&f, path, &e)) return 0;
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(md, "kind");
    int head = cJSON_IsString(k) && !strcmp(k->valuestring, "head");
    cJSON_Delete(md);
    ct_st_close(&f);
    return head;
}

/* One case file into avg; -1 = skipped (reason in why), -2 = a case of
 * another design (why says which; the caller stops), 1 = left out (a head trace). */
static int add_file(ct_average avg[3], ct_average *heads, design *d, const char *path, int contexts, ct_err *why)
{
    ct_case c;
    int H = 0;
    if (heads ? ct__case_load_heads(&c, path, &H, why) : ct_case_load(&c, path, why)) return !heads && is_head_case(path) ? 1 : -1;
    int rc = -1;
    uint32_t *mask = NULL;
    unsigned char *corr = NULL;
    int k = H ? 3 : ct_kind_index(c.info.kind);
    ct_average *a = H ? heads : k >= 0 ? &avg[k] : NULL;
    if (!c.has_info) { ct_fail(why, "%s: no case description in the metadata (\"case\" in \"ctrace\", or \"ctrace_case\"): token spans unknown", path); goto out; }
    if (k < 0) { ct_fail(why, "%s: unknown kind \"%s\"", path, c.info.kind); goto out; }
    if (H && a->n_cases && (a->H != H || a->L != c.L)) {
        ct_fail(why, "%s: a head trace of %d layers x %d heads, earlier head cases %d x %d", path, c.L / H, H, a->L / a->H, a->H);
        goto out;
    }
    if ((contexts == CT_CTX_ORIGINAL && c.info.cf) || (contexts == CT_CTX_CF && !c.info.cf)) { rc = 1; goto out; }
    if (same_design(d, &c, why)) { rc = -2; goto out; }
    mask = malloc((size_t)c.T * sizeof *mask);
    corr = malloc((size_t)c.T);
    if (!mask || !corr) { ct_fail(why, "%s: out of memory", path); goto out; }
    ct_err e2;
    if (ct_segments_of(&c.info.spans, c.T, mask, &e2)) { ct_fail(why, "%s: %s", path, e2.msg); goto out; }
    if (ct_case_corrupted(&c, corr) > 0) ct_rome_segments_of(corr, c.T, mask, &e2);
    if (ct_average_add(a, c.ie, c.T, c.L, mask, &e2)) { ct_fail(why, "%s: %s", path, e2.msg); goto out; }
    if (!isnan(c.te)) { a->te_sum += c.te; a->te_sq += (double)c.te * c.te; a->n_te++; }
    a->H = H;
    int w = k == 0 || H ? 1 : c.info.window;
    if (a->n_cases == 1) a->window = w;
    else if (a->window != w) a->window = -1;
    a->experiment = d->experiment; a->reverse = d->reverse; a->cf_context = d->cf_context;
    snprintf(a->metric, sizeof a->metric, "%s", d->metric);
    snprintf(a->model, sizeof a->model, "%s", d->model);
    rc = 0;
out:
    free(mask); free(corr);
    ct_case_free(&c);
    return rc;
}

/* Every *.bin of one folder, in sorted order (results must not depend on
 * readdir order).  Returns the number of .bin files seen, -1 when unreadable. */
static int scan_cases(ct_average avg[3], ct_average *heads, design *d, const char *dir, int contexts, int *skipped, ct_err *first_skip, ct_err *err)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), seen = 0;
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (has_suffix(names[i]->d_name, ".bin")) {
            char path[4096 + 256];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            ct_err why;
            seen++;
            int r = add_file(avg, heads, d, path, contexts, &why);
            if (r == -2) {
                *err = why;
                for (; i < n; i++) free(names[i]);
                free(names);
                return -2;
            }
            if (r < 0 && skipped && (*skipped)++ == 0 && first_skip) *first_skip = why;
        }
        free(names[i]);
    }
    free(names);
    return seen;
}

int ct_average_dirs(ct_average avg[3], const char *const *dirs, int n_dirs, int contexts,
                    int *skipped, ct_err *first_skip, ct_err *err)
{
    return ct_average_dirs_heads(avg, NULL, dirs, n_dirs, contexts, skipped, first_skip, err);
}

int ct_average_dirs_heads(ct_average avg[3], ct_average *heads, const char *const *dirs, int n_dirs, int contexts,
                          int *skipped, ct_err *first_skip, ct_err *err)
{
    for (int k = 0; k < 3; k++) avg[k].contexts = contexts;
    if (heads) heads->contexts = contexts;
    int dummy = 0;
    if (!skipped) skipped = &dummy;
    *skipped = 0;
    design des = {0};
    for (int d = 0; d < n_dirs; d++) {
        char sub[4096];
        if (!is_dir(dirs[d])) return ct_fail(err, "%s: not a run directory", dirs[d]);
        snprintf(sub, sizeof sub, "%s/cases", dirs[d]);
        int seen = scan_cases(avg, heads, &des, is_dir(sub) ? sub : dirs[d], contexts, skipped, first_skip, err);
        if (seen == -2) return -1;
        if (seen < 0) return ct_fail(err, "%s: cannot read the directory", is_dir(sub) ? sub : dirs[d]);
        if (seen > 0 || is_dir(sub)) continue;
        /* a folder of run directories (e.g. one per shard of a job array) */
        struct dirent **names;
        int n = scandir(dirs[d], &names, NULL, alphasort);
        if (n < 0) return ct_fail(err, "%s: cannot read the directory", dirs[d]);
        for (int i = 0; i < n; i++) {
            char cases[4096 + 512];
            if (names[i]->d_name[0] != '.') {
                snprintf(cases, sizeof cases, "%s/%s/cases", dirs[d], names[i]->d_name);
                int r = is_dir(cases) ? scan_cases(avg, heads, &des, cases, contexts, skipped, first_skip, err) : 0;
                if (r < 0) {
                    if (r != -2) ct_fail(err, "%s: cannot read the directory", cases);
                    for (; i < n; i++) free(names[i]);
                    free(names);
                    return -1;
                }
            }
            free(names[i]);
        }
        free(names);
    }
    return 0;
}

int ct_average_write_csv(const ct_average avg[3], const char *path, ct_err *err)
{
    ct_atomic a;
    if (ct_atomic_open(&a, path, err)) return -1;
    FILE *f = a.f;
    int L = 0;
    for (int k = 0; k < 3; k++) if (avg[k].L > L) L = avg[k].L;
    fprintf(f, "kind,aggregation,segment,n_cases,n_tokens,n");
    for (int l = 0; l < L; l++) fprintf(f, ",layer_%d", l);
    fprintf(f, "\n");
    static const char *aggs[3] = {"case_mean", "pooled", "ci95"};
    static const int stats[3] = {CT_STAT_CASE_MEAN, CT_STAT_POOLED, CT_STAT_CI95};
    for (int k = 0; k < 3; k++) {
        if (!avg[k].n_cases) continue;
        float *v = malloc((size_t)CT_SEG_ALL * avg[k].L * sizeof *v);
        if (!v) { ct_atomic_abort(&a); return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); }
        for (int g = 0; g < 3; g++) {
            ct_average_stat(&avg[k], 0, CT_SEG_ALL, stats[g], v);
            for (int s = 0; s < CT_SEG_ALL; s++) {
                fprintf(f, "%s,%s,%s,%d,%ld,%ld", ct_kind_name((ct_kind)k), aggs[g], ct_segment_key(s),
                        avg[k].n_case[s], avg[k].n_tok[s], g == 1 ? avg[k].n_tok[s] : (long)avg[k].n_case[s]);
                for (int l = 0; l < L; l++) {
                    if (l < avg[k].L && !isnan(v[s * avg[k].L + l])) fprintf(f, ",%.9g", v[s * avg[k].L + l]);
                    else fprintf(f, ",");
                }
                fprintf(f, "\n");
            }
        }
        double ate, ci;
        ct_average_ate(&avg[k], &ate, &ci);
        for (int g = 0; g < 2; g++) {
            double x = g ? ci : ate;
            fprintf(f, "%s,%s,te,%d,0,%d", ct_kind_name((ct_kind)k), g ? "ate_ci95" : "ate", avg[k].n_te, avg[k].n_te);
            if (isnan(x)) fprintf(f, ","); else fprintf(f, ",%.9g", x);
            for (int l = 1; l < L; l++) fprintf(f, ",");
            fprintf(f, "\n");
        }
        free(v);
    }
    return ct_atomic_commit(&a, err);
}

static int seg_corrupted(int experiment, int s)
{
    if (s >= CT_SEG_COUNT) return s <= CT_ROME_CORR_LAST;
    if (experiment == CT_EXP_SUBJECT) return s >= CT_SEG_SUBJ_FIRST && s <= CT_SEG_SUBJ_LAST;
    if (experiment == CT_EXP_OBJECT) return s >= CT_SEG_OBJ_FIRST && s <= CT_SEG_OBJ_LAST;
    if (experiment == CT_EXP_RELATION) return s == CT_SEG_BEFORE || s == CT_SEG_BETWEEN || s == CT_SEG_AFTER;
    return 0;
}

/* "mean Δp vs corrupted run" etc.: what the numbers are, in the metric's unit */
void ct__avg_unit(const ct_average *a, char *b, size_t n)
{
    const char *m = a->metric[0] ? a->metric : "prob";
    const char *q = !strcmp(m, "logprob") ? "\xce\x94 log p" : !strcmp(m, "logratio") ? "\xce\x94 log-ratio" : "\xce\x94p";
    snprintf(b, n, "AIE: %s vs %s", q, a->reverse ? "clean" : "corrupted");
}

int ct_average_plot(const ct_average avg[3], const int *kinds, int n_kinds, int flags,
                    const char *path, ct_plot_format fmt, ct_err *err)
{
    static const char *what[3] = {"state", "MLP", "Attn"};
    int pooled = flags & CT_AVG_POOLED, rome = (flags & CT_AVG_ROME) != 0;
    int seg0 = rome ? CT_SEG_COUNT : 0, nseg = rome ? CT_ROME_COUNT : CT_SEG_COUNT;
    ct_heatmap h[3];
    float *vals[3] = {0};
    char *labels[3][CT_SEG_COUNT];
    unsigned char stars[3][CT_SEG_COUNT];
    char titles[3][512], xlabels[3][128], cbars[3][128];
    int rc = -1;
    memset(labels, 0, sizeof labels);
    if (n_kinds < 1 || n_kinds > 3) return ct_fail(err, "%s: 1 to 3 kinds per figure", path);
    for (int i = 0; i < n_kinds; i++) {
        int k = kinds[i];
        const ct_average *a = &avg[k];
        if (!a->n_cases) { ct_fail(err, "%s: no %s cases to average", path, ct_kind_name((ct_kind)k)); goto out; }
        vals[i] = malloc((size_t)nseg * a->L * sizeof *vals[i]);
        if (!vals[i]) { ct_fail(err, "out of memory"); goto out; }
        ct_average_stat(a, seg0, nseg, pooled ? CT_STAT_POOLED : CT_STAT_CASE_MEAN, vals[i]);
        for (int j = 0; j < nseg; j++) {
            int s = seg0 + j;
            char b[160];
            snprintf(b, sizeof b, "%s (n=%ld)", ct_segment_name(s), pooled ? a->n_tok[s] : (long)a->n_case[s]);
            labels[i][j] = strdup(b);
            stars[i][j] = (unsigned char)seg_corrupted(a->experiment, s);
        }
        const char *ctx = a->contexts == CT_CTX_ORIGINAL || a->cf_context == 0 ? "original passages"
                        : "counterfactual contexts";
        double ate, ci;
        ct_average_ate(a, &ate, &ci);
        char atebuf[96] = "";
        if (!isnan(ate)) {
            if (isnan(ci)) snprintf(atebuf, sizeof atebuf, ", ATE %.3g", ate);
            else snprintf(atebuf, sizeof atebuf, ", ATE %.3g \xc2\xb1 %.2g", ate, ci);
        }
        snprintf(titles[i], sizeof titles[i],
                 "Average impact of %s %s (%s)\nexp. %d: noise on the %s, %s\nmetric %s%s, %d case(s)\n%s, %s layout",
                 a->reverse ? "corrupting" : "restoring", what[k], ct_kind_name((ct_kind)k),
                 a->experiment, a->experiment >= 1 && a->experiment <= 3 ? (const char *[]){"", "subject", "object", "relation"}[a->experiment] : "?",
                 ctx, a->metric[0] ? a->metric : "prob", atebuf, a->n_cases,
                 pooled ? "pooled over tokens (n = tokens)" : "mean of case means (n = cases)", rome ? "ROME's" : "entity");
        const char *verb = a->reverse ? "patched" : "restored";
        if (k == 0 || a->window == 1) snprintf(xlabels[i], sizeof xlabels[i], "single %s layer", verb);
        else if (a->window > 1) snprintf(xlabels[i], sizeof xlabels[i], "center of interval of %d %s %s layers", a->window, verb, what[k]);
        else snprintf(xlabels[i], sizeof xlabels[i], "center of interval of %s %s layers", verb, what[k]);
        ct__avg_unit(a, cbars[i], sizeof cbars[i]);
        h[i] = (ct_heatmap){
            .values = vals[i], .rows = nseg, .cols = a->L, .labels = (const char *const *)labels[i],
            .star = stars[i], .kind = ct_kind_name((ct_kind)k), .title = titles[i], .xlabel = xlabels[i],
            .cbar_label = cbars[i], .vmin = NAN, .vmax = NAN,
        };
    }
    /* like ROME's joint figure: row labels once, when the panels' labels agree */
    for (int i = 1; i < n_kinds; i++) {
        int same = 1;
        for (int s = 0; s < nseg; s++) same = same && !strcmp(labels[i][s], labels[0][s]);
        h[i].hide_labels = same;
    }
    rc = ct_heatmap_write(h, n_kinds, path, fmt, err);
out:
    for (int i = 0; i < 3; i++) {
        free(vals[i]);
        for (int s = 0; s < CT_SEG_COUNT; s++) free(labels[i][s]);
    }
    return rc;
}

/* --- head cases: [segment, L, H] ---------------------------------------- */

int ct_average_write_heads_csv(const ct_average *a, const char *path, ct_err *err)
{
    if (!a->n_cases || a->H < 1) return ct_fail(err, "%s: no head cases to average", path);
    int H = a->H, L = a->L / a->H;
    float *v = malloc((size_t)CT_SEG_ALL * a->L * sizeof *v);
    if (!v) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
    ct_atomic at;
    if (ct_atomic_open(&at, path, err)) { free(v); return -1; }
    FILE *f = at.f;
    fprintf(f, "kind,aggregation,segment,n_cases,n_tokens,n,layer");
    for (int h = 0; h < H; h++) fprintf(f, ",head_%d", h);
    fprintf(f, "\n");
    static const char *aggs[3] = {"case_mean", "pooled", "ci95"};
    static const int stats[3] = {CT_STAT_CASE_MEAN, CT_STAT_POOLED, CT_STAT_CI95};
    for (int g = 0; g < 3; g++) {
        ct_average_stat(a, 0, CT_SEG_ALL, stats[g], v);
        for (int s = 0; s < CT_SEG_ALL; s++)
            for (int l = 0; l < L; l++) {
                fprintf(f, "head,%s,%s,%d,%ld,%ld,%d", aggs[g], ct_segment_key(s), a->n_case[s], a->n_tok[s],
                        g == 1 ? a->n_tok[s] : (long)a->n_case[s], l);
                for (int h = 0; h < H; h++) {
                    float x = v[(size_t)s * a->L + (size_t)l * H + h];
                    if (isnan(x)) fprintf(f, ","); else fprintf(f, ",%.9g", x);
                }
                fprintf(f, "\n");
            }
    }
    double ate, ci;
    ct_average_ate(a, &ate, &ci);
    for (int g = 0; g < 2; g++) {
        double x = g ? ci : ate;
        fprintf(f, "head,%s,te,%d,0,%d,", g ? "ate_ci95" : "ate", a->n_te, a->n_te);
        if (isnan(x)) fprintf(f, ","); else fprintf(f, ",%.9g", x);
        for (int h = 1; h < H; h++) fprintf(f, ",");
        fprintf(f, "\n");
    }
    free(v);
    return ct_atomic_commit(&at, err);
}

int ct_average_heads_plot(const ct_average *a, int flags, const char *path, ct_plot_format fmt, ct_err *err)
{
    if (!a->n_cases || a->H < 1) return ct_fail(err, "%s: no head cases to average", path);
    int pooled = flags & CT_AVG_POOLED, H = a->H, L = a->L / a->H;
    static const int segs[2] = {CT_ROME_LAST, CT_ROME_CORR_LAST};
    float *vals = malloc((size_t)2 * a->L * sizeof *vals);
    char **labels = calloc((size_t)L, sizeof *labels);
    int rc = -1;
    if (!vals || !labels) { ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); goto out; }
    for (int l = 0; l < L; l++) {
        if (!(labels[l] = malloc(24))) { ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); goto out; }
        snprintf(labels[l], 24, "layer %d", l);
    }
    for (int i = 0; i < 2; i++) ct_average_stat(a, segs[i], 1, pooled ? CT_STAT_POOLED : CT_STAT_CASE_MEAN, vals + (size_t)i * a->L);
    /* one colour range for both maps, from all their values */
    ct_heatmap both = {.values = vals, .rows = 2, .cols = a->L, .vmin = NAN, .vmax = NAN};
    float lo, hi;
    ct_heatmap_range(&both, &lo, &hi);
    const char *ctx = a->contexts == CT_CTX_ORIGINAL || a->cf_context == 0 ? "original passages" : "counterfactual contexts";
    static const char *exps[4] = {"?", "subject", "object", "relation"};
    double ate, ci;
    ct_average_ate(a, &ate, &ci);
    char atebuf[96] = "", titles[2][512], cbar[128];
    if (!isnan(ate)) {
        if (isnan(ci)) snprintf(atebuf, sizeof atebuf, ", ATE %.3g", ate);
        else snprintf(atebuf, sizeof atebuf, ", ATE %.3g \xc2\xb1 %.2g", ate, ci);
    }
    ct__avg_unit(a, cbar, sizeof cbar);
    ct_heatmap h[2];
    for (int i = 0; i < 2; i++) {
        int s = segs[i];
        long n = pooled ? a->n_tok[s] : (long)a->n_case[s];
        snprintf(titles[i], sizeof titles[i],
                 "Average impact of %s one head: %s (n=%ld)\nexp. %d: noise on the %s, %s\nmetric %s%s, %d case(s), %s",
                 a->reverse ? "corrupting" : "restoring", ct_segment_name(s), n, a->experiment,
                 exps[a->experiment >= 1 && a->experiment <= 3 ? a->experiment : 0], ctx, a->metric[0] ? a->metric : "prob",
                 atebuf, a->n_cases, pooled ? "pooled over tokens" : "mean of case means");
        h[i] = (ct_heatmap){.values = vals + (size_t)i * a->L, .rows = L, .cols = H, .labels = (const char *const *)labels,
                            .kind = "attention", .title = titles[i], .xlabel = "head", .cbar_label = cbar, .vmin = lo,
                            .vmax = hi, .hide_labels = i == 1};
    }
    rc = ct_heatmap_write(h, 2, path, fmt, err);
out:
    for (int l = 0; labels && l < L; l++) free(labels[l]);
    free(labels);
    free(vals);
    return rc;
}
