/* cmd_average.c — `ctrace average RUN_DIR [RUN_DIR...] [--out DIR]
 * [--plot_format pdf|png|svg] [--aggregate case|pooled]`: averages the IE of
 * every case file of the run directories (shards merge) by token segment and
 * writes one figure per kind, a joint three-panel figure and a CSV; head
 * cases their own CSV and layer x head maps (average_heads.*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "args.h"

static void average_usage(FILE *o)
{
    fprintf(o, "usage: ctrace average RUN_DIR [RUN_DIR...] [--out DIR] [--plot_format pdf|png|svg]\n"
               "                      [--aggregate case|pooled] [--contexts all|original|cf]\n"
               "  Reads RUN_DIR/cases/*.bin (or RUN_DIR/*.bin, or the run dirs inside RUN_DIR)\n"
               "  of every directory (shards merge),\n"
               "  averages IE per token segment and layer, and writes into DIR (default\n"
               "  RUN_DIR/average): average_{hidden,mlp,attention}.EXT, average_all.EXT (the\n"
               "  kinds side by side, entity segments), average_rome.EXT (ROME's six rows\n"
               "  relative to the corrupted tokens), average_aie.EXT (AIE by layer of the last\n"
               "  corrupted token and the last token, 95%% bands) and average.csv (case means,\n"
               "  pooled means, 95%% half-widths, ATE).  Head cases (--kinds head) go to\n"
               "  average_heads.csv ([segment, layer, head] means, 95%% half-widths, ATE) and\n"
               "  average_heads.EXT (layer x head maps of the last token and the last corrupted\n"
               "  token).  Cases of different experiments,\n"
               "  directions, metrics, contexts or models are refused, not mixed.\n"
               "  --aggregate case (default): mean over cases of per-case segment means;\n"
               "  pooled: mean over all tokens of a segment.\n"
               "  --contexts original / cf: only the cases traced on the row's own passage /\n"
               "  on a counterfactual context (--cf_context 1); default all (one kind must be present).\n"
               "  A RUN_DIR shared by the shards of a job array (--shard K/N) also gets its\n"
               "  summary.jsonl / errors.jsonl: the shards' per-shard files joined in row order.\n");
}

int cmd_average(int argc, char **argv)
{
    static const char *const FLAGS[] = {"out", "plot_format", "aggregate", "contexts", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) { average_usage(stdout); return 0; }
    const char *const *dirs = a.pos;
    int n_dirs = a.npos, rc = 1;
    const char *out = ct_args_str(&a, "out", NULL);
    const char *fmt_name = ct_args_str(&a, "plot_format", "pdf"), *agg = ct_args_str(&a, "aggregate", "case");
    const char *ctx_name = ct_args_str(&a, "contexts", "all");
    ct_plot_format fmt;
    if (!n_dirs) { average_usage(stderr); return 2; }
    if (ct_plot_format_parse(fmt_name, &fmt)) {
        fprintf(stderr, "ctrace: average: --plot_format must be pdf, png or svg (got '%s')\n", fmt_name);
        return 2;
    }
    if (strcmp(agg, "case") && strcmp(agg, "pooled")) {
        fprintf(stderr, "ctrace: average: --aggregate must be case or pooled (got '%s')\n", agg);
        return 2;
    }
    int pooled = !strcmp(agg, "pooled");
    int contexts;
    if (ct_contexts_parse(ctx_name, &contexts)) {
        fprintf(stderr, "ctrace: average: --contexts must be all, original or cf (got '%s')\n", ctx_name);
        return 2;
    }
    char outbuf[4096];
    if (!out) { snprintf(outbuf, sizeof outbuf, "%s/average", dirs[0]); out = outbuf; }

    ct_err err, first_skip = {""};
    /* shards of a job array that shared a run directory: their summaries joined */
    for (int d = 0; d < n_dirs; d++) {
        int found, of_n;
        if (ct_run_merge_shards(dirs[d], &found, &of_n, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); return 1; }
        if (of_n && found < of_n)
            fprintf(stderr, "ctrace: warning: %s: only %d of the %d shards have written their summary so far\n", dirs[d], found, of_n);
    }
    ct_average avg[3], heads;
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    ct_average_init(&heads);
    int skipped = 0;
    if (ct_average_dirs_heads(avg, &heads, dirs, n_dirs, contexts, &skipped, &first_skip, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    if (skipped) fprintf(stderr, "ctrace: warning: skipped %d case file(s); first: %s\n", skipped, first_skip.msg);
    int total = avg[0].n_cases + avg[1].n_cases + avg[2].n_cases;
    if (!total && !heads.n_cases) { fprintf(stderr, "ctrace: %s: no usable case files to average\n", dirs[0]); goto done; }
    if (mkdir(out, 0777) && errno != EEXIST) { fprintf(stderr, "ctrace: %s: cannot create the output directory\n", out); goto done; }

    int kinds[3], nk = 0;
    char path[4300];
    const char *ext = ct_plot_format_ext(fmt);
    if (heads.n_cases) {                        /* head cases: [segment, L, H] */
        snprintf(path, sizeof path, "%s/average_heads.%s", out, ext);
        if (ct_average_heads_plot(&heads, pooled, path, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        printf("%s\n", path);
        snprintf(path, sizeof path, "%s/average_heads.csv", out);
        if (ct_average_write_heads_csv(&heads, path, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        printf("%s\n", path);
    }
    if (!total) goto summary;
    for (int k = 0; k < 3; k++) {
        if (!avg[k].n_cases) continue;
        kinds[nk++] = k;
        snprintf(path, sizeof path, "%s/average_%s.%s", out, ct_kind_name((ct_kind)k), ext);
        if (ct_average_plot(avg, &k, 1, pooled, path, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        printf("%s\n", path);
    }
    snprintf(path, sizeof path, "%s/average_all.%s", out, ext);
    if (ct_average_plot(avg, kinds, nk, pooled, path, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    printf("%s\n", path);
    snprintf(path, sizeof path, "%s/average_rome.%s", out, ext);
    if (ct_average_plot(avg, kinds, nk, pooled | CT_AVG_ROME, path, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    printf("%s\n", path);
    snprintf(path, sizeof path, "%s/average_aie.%s", out, ext);
    if (ct_average_lineplot(avg, kinds, nk, path, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    printf("%s\n", path);
    snprintf(path, sizeof path, "%s/average.csv", out);
    if (ct_average_write_csv(avg, path, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    printf("%s\n", path);
summary:
    {
        const ct_average *a = total ? &avg[kinds[0]] : &heads;
        static const char *ex[4] = {"unknown", "1 (noise on the subject)", "2 (noise on the object)", "3 (noise on the relation)"};
        printf("design: experiment %s, %s, metric %s, %s%s%s\n", ex[a->experiment >= 1 && a->experiment <= 3 ? a->experiment : 0],
               a->reverse ? "reverse patching (corrupting the clean run)" : "restoring (forward)", a->metric[0] ? a->metric : "prob",
               a->cf_context == 1 ? "counterfactual contexts" : "original passages", a->model[0] ? ", model " : "", a->model);
        for (int k = 0; k < 3; k++) {
            double ate, ci;
            if (!avg[k].n_cases) continue;
            ct_average_ate(&avg[k], &ate, &ci);
            printf("ATE %s: %.6g +- %.3g (95%%, n=%d)\n", ct_kind_name((ct_kind)k), ate, ci, avg[k].n_te);
        }
        if (heads.n_cases) {
            double ate, ci;
            ct_average_ate(&heads, &ate, &ci);
            printf("ATE head: %.6g +- %.3g (95%%, n=%d)\n", ate, ci, heads.n_te);
        }
    }
    char hbuf[32] = "";
    if (heads.n_cases) snprintf(hbuf, sizeof hbuf, ", head %d", heads.n_cases);
    printf("averaged %d cases (hidden %d, mlp %d, attention %d%s) from %d run dir(s); %d skipped; aggregation: %s\n",
           total + heads.n_cases, avg[0].n_cases, avg[1].n_cases, avg[2].n_cases, hbuf, n_dirs, skipped,
           pooled ? "pooled over tokens" : "mean over cases of per-case segment means");
    rc = 0;
done:
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    ct_average_free(&heads);
    return rc;
}
