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
#include "ctrace.h"
#include "report/report_internal.h"

void ct_average_init(ct_average *a)
{
    memset(a, 0, sizeof *a);
}

void ct_average_free(ct_average *a)
{
    free(a->case_sum); free(a->tok_sum);
    memset(a, 0, sizeof *a);
}

int ct_average_add(ct_average *a, const float *ie, int T, int L, const uint32_t *mask, ct_err *err)
{
    if (T < 1 || L < 1) return ct_fail(err, "empty IE grid");
    if (a->L == 0) {
        a->case_sum = calloc((size_t)CT_SEG_COUNT * L, sizeof *a->case_sum);
        a->tok_sum = calloc((size_t)CT_SEG_COUNT * L, sizeof *a->tok_sum);
        if (!a->case_sum || !a->tok_sum) { ct_average_free(a); return ct_fail(err, "out of memory"); }
        a->L = L;
    } else if (a->L != L) {
        return ct_fail(err, "case has %d layers, earlier cases %d", L, a->L);
    }
    for (int s = 0; s < CT_SEG_COUNT; s++) {
        int n = 0;
        for (int t = 0; t < T; t++) if (mask[t] >> s & 1) n++;
        if (!n) continue;
        for (int l = 0; l < L; l++) {
            double sum = 0;
            for (int t = 0; t < T; t++) if (mask[t] >> s & 1) sum += ie[(long)t * L + l];
            a->tok_sum[s * L + l] += sum;
            a->case_sum[s * L + l] += sum / n;
        }
        a->n_case[s]++;
        a->n_tok[s] += n;
    }
    a->n_cases++;
    return 0;
}

void ct_average_result(const ct_average *a, int pooled, float *out)
{
    for (int s = 0; s < CT_SEG_COUNT; s++)
        for (int l = 0; l < a->L; l++) {
            double n = pooled ? (double)a->n_tok[s] : (double)a->n_case[s];
            out[s * a->L + l] = n > 0 ? (float)((pooled ? a->tok_sum : a->case_sum)[s * a->L + l] / n) : NAN;
        }
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

/* One case file into avg; -1 = skipped (reason in why), 1 = left out. */
static int add_file(ct_average avg[3], const char *path, int contexts, ct_err *why)
{
    ct_case c;
    if (ct_case_load(&c, path, why)) return is_head_case(path) ? 1 : -1;
    int rc = -1;
    uint32_t *mask = NULL;
    int k = ct_kind_index(c.info.kind);
    if (!c.has_info) { ct_fail(why, "%s: no case description in the metadata (\"case\" in \"ctrace\", or \"ctrace_case\"): token spans unknown", path); goto out; }
    if (k < 0) { ct_fail(why, "%s: unknown kind \"%s\"", path, c.info.kind); goto out; }
    if ((contexts == CT_CTX_ORIGINAL && c.info.cf) || (contexts == CT_CTX_CF && !c.info.cf)) { rc = 1; goto out; }
    mask = malloc((size_t)c.T * sizeof *mask);
    if (!mask) { ct_fail(why, "%s: out of memory", path); goto out; }
    ct_err e2;
    if (ct_segments_of(&c.info.spans, c.T, mask, &e2) || ct_average_add(&avg[k], c.ie, c.T, c.L, mask, &e2)) {
        ct_fail(why, "%s: %s", path, e2.msg);
        goto out;
    }
    int w = k == 0 ? 1 : c.info.window;
    if (avg[k].n_cases == 1) avg[k].window = w;
    else if (avg[k].window != w) avg[k].window = -1;
    rc = 0;
out:
    free(mask);
    ct_case_free(&c);
    return rc;
}

/* Every *.bin of one folder, in sorted order (results must not depend on
 * readdir order).  Returns the number of .bin files seen, -1 when unreadable. */
static int scan_cases(ct_average avg[3], const char *dir, int contexts, int *skipped, ct_err *first_skip)
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
            if (add_file(avg, path, contexts, &why) < 0 && skipped && (*skipped)++ == 0 && first_skip) *first_skip = why;
        }
        free(names[i]);
    }
    free(names);
    return seen;
}

int ct_average_dirs(ct_average avg[3], const char *const *dirs, int n_dirs, int contexts,
                    int *skipped, ct_err *first_skip, ct_err *err)
{
    for (int k = 0; k < 3; k++) avg[k].contexts = contexts;
    int dummy = 0;
    if (!skipped) skipped = &dummy;
    *skipped = 0;
    for (int d = 0; d < n_dirs; d++) {
        char sub[4096];
        if (!is_dir(dirs[d])) return ct_fail(err, "%s: not a run directory", dirs[d]);
        snprintf(sub, sizeof sub, "%s/cases", dirs[d]);
        int seen = scan_cases(avg, is_dir(sub) ? sub : dirs[d], contexts, skipped, first_skip);
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
                if (is_dir(cases) && scan_cases(avg, cases, contexts, skipped, first_skip) < 0) {
                    ct_fail(err, "%s: cannot read the directory", cases);
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
    char tmp[4096];
    if (ct__tmp_path(tmp, sizeof tmp, path)) return ct_fail(err, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return ct_fail(err, "%s: cannot write", path);
    int L = 0;
    for (int k = 0; k < 3; k++) if (avg[k].L > L) L = avg[k].L;
    fprintf(f, "kind,aggregation,segment,n_cases,n_tokens,n");
    for (int l = 0; l < L; l++) fprintf(f, ",layer_%d", l);
    fprintf(f, "\n");
    for (int k = 0; k < 3; k++) {
        if (!avg[k].n_cases) continue;
        float *v = malloc((size_t)CT_SEG_COUNT * avg[k].L * sizeof *v);
        if (!v) { fclose(f); remove(tmp); return ct_fail(err, "out of memory"); }
        for (int pooled = 0; pooled < 2; pooled++) {
            ct_average_result(&avg[k], pooled, v);
            for (int s = 0; s < CT_SEG_COUNT; s++) {
                fprintf(f, "%s,%s,%s,%d,%ld,%ld", ct_kind_name((ct_kind)k), pooled ? "pooled" : "case_mean", ct_segment_key(s),
                        avg[k].n_case[s], avg[k].n_tok[s], pooled ? avg[k].n_tok[s] : (long)avg[k].n_case[s]);
                for (int l = 0; l < L; l++) {
                    if (l < avg[k].L && !isnan(v[s * avg[k].L + l])) fprintf(f, ",%.9g", v[s * avg[k].L + l]);
                    else fprintf(f, ",");
                }
                fprintf(f, "\n");
            }
        }
        free(v);
    }
    if (fclose(f) != 0) { remove(tmp); return ct_fail(err, "%s: write failed", path); }
    if (rename(tmp, path)) { remove(tmp); return ct_fail(err, "%s: cannot rename into place", path); }
    return 0;
}

int ct_average_plot(const ct_average avg[3], const int *kinds, int n_kinds, int pooled,
                    const char *path, ct_plot_format fmt, ct_err *err)
{
    static const char *what[3] = {"state", "MLP", "Attn"};
    ct_heatmap h[3];
    float *vals[3] = {0};
    char *labels[3][CT_SEG_COUNT];
    char titles[3][256], xlabels[3][128];
    int rc = -1;
    memset(labels, 0, sizeof labels);
    if (n_kinds < 1 || n_kinds > 3) return ct_fail(err, "%s: 1 to 3 kinds per figure", path);
    for (int i = 0; i < n_kinds; i++) {
        int k = kinds[i];
        const ct_average *a = &avg[k];
        if (!a->n_cases) { ct_fail(err, "%s: no %s cases to average", path, ct_kind_name((ct_kind)k)); goto out; }
        vals[i] = malloc((size_t)CT_SEG_COUNT * a->L * sizeof *vals[i]);
        if (!vals[i]) { ct_fail(err, "out of memory"); goto out; }
        ct_average_result(a, pooled, vals[i]);
        for (int s = 0; s < CT_SEG_COUNT; s++) {
            char b[160];
            snprintf(b, sizeof b, "%s (n=%ld)", ct_segment_name(s), pooled ? a->n_tok[s] : (long)a->n_case[s]);
            labels[i][s] = strdup(b);
        }
        long ntok = 0;
        for (int s = 0; s < CT_SEG_COUNT; s++) ntok += a->n_tok[s];
        const char *ctx = a->contexts == CT_CTX_ORIGINAL ? ", original passages only"
                        : a->contexts == CT_CTX_CF ? ", counterfactual contexts only" : "";
        if (pooled)
            snprintf(titles[i], sizeof titles[i], "Average impact of restoring %s (%s)\npooled over the tokens of %d case(s)%s (n = tokens)",
                     what[k], ct_kind_name((ct_kind)k), a->n_cases, ctx);
        else
            snprintf(titles[i], sizeof titles[i], "Average impact of restoring %s (%s)\nmean over %d case(s)%s of per-case segment means (n = cases)",
                     what[k], ct_kind_name((ct_kind)k), a->n_cases, ctx);
        if (k == 0 || a->window == 1) snprintf(xlabels[i], sizeof xlabels[i], "single restored layer");
        else if (a->window > 1) snprintf(xlabels[i], sizeof xlabels[i], "center of interval of %d restored %s layers", a->window, what[k]);
        else snprintf(xlabels[i], sizeof xlabels[i], "center of interval of restored %s layers", what[k]);
        h[i] = (ct_heatmap){
            .values = vals[i], .rows = CT_SEG_COUNT, .cols = a->L, .labels = (const char *const *)labels[i],
            .kind = ct_kind_name((ct_kind)k), .title = titles[i], .xlabel = xlabels[i],
            .cbar_label = "mean IE", .vmin = NAN, .vmax = NAN,
        };
    }
    /* like ROME's joint figure: row labels once, when the panels' labels agree */
    for (int i = 1; i < n_kinds; i++) {
        int same = 1;
        for (int s = 0; s < CT_SEG_COUNT; s++) same = same && !strcmp(labels[i][s], labels[0][s]);
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
