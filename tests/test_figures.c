/* test_figures.c — figures and summaries show effects of either sign.
 *
 * 1. Colour scales on hand-made grids: all positive (ROME's [0, max]), all
 *    negative ([min, 0], not clipped to white), both signs (symmetric,
 *    diverging), NaN (grey).
 * 2. The demo model (models/demo), experiment 2: reverse patching (effects
 *    <= 0), --metric logratio (r = log p_cf - log p_answer: restoring lowers
 *    it, effects < 0) and a forward run (effects >= 0): every case's figure range holds every IE value, the
 *    most negative cell is drawn dark, the title states p_clean, p_corrupt and
 *    TE, and summary.jsonl's top_ie is the largest |IE| with its sign
 *    (computed here from the case file's `ie` by a plain loop).
 * 3. The averages of that run: ATE is the mean of the cases' TE (plain loop
 *    over the case files), the last-token AIE of ROME's rows is the mean of
 *    the cases' last rows, and a forward run beside it is refused.
 * 4. The model's identity in the case files: resuming with another model of
 *    the same tokenizer is refused.
 * 5. Head cases and attribution files (test_heads). */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "ctrace_app.h"

static double lum(const double rgb[3]) { return rgb[0] + rgb[1] + rgb[2]; }

static void test_scales(void)
{
    float pos[4] = {0, 0.1f, 0.5f, 0.8f}, neg[4] = {-0.9f, -0.3f, 0, -1e-4f}, mix[4] = {-0.5f, 0.3f, 0.1f, 0};
    float nan4[4] = {NAN, 0.2f, NAN, 0.4f};
    ct_heatmap h = {.values = pos, .rows = 2, .cols = 2, .kind = "hidden", .vmin = NAN, .vmax = NAN};
    float lo, hi;
    double rgb[3], white[3];
    CHECK(ct_heatmap_range(&h, &lo, &hi) == 0 && lo == 0 && hi == 0.8f, "positive: [%g, %g]", lo, hi);
    h.values = neg;
    CHECK(ct_heatmap_range(&h, &lo, &hi) == 0 && lo == -0.9f && hi == 0, "negative: [%g, %g]", lo, hi);
    ct_heatmap_color(&h, lo, hi, 0, white);
    ct_heatmap_color(&h, lo, hi, -0.9f, rgb);
    CHECK(lum(white) > 2.9 && lum(rgb) < 1.2, "negative: 0 white (%g), -0.9 dark (%g)", lum(white), lum(rgb));
    ct_heatmap_color(&h, lo, hi, -0.3f, white);
    CHECK(lum(white) > lum(rgb) + 0.5, "negative: -0.3 lighter than -0.9");
    h.values = mix;
    CHECK(ct_heatmap_range(&h, &lo, &hi) == 1 && lo == -0.5f && hi == 0.5f, "both signs: [%g, %g]", lo, hi);
    double a[3], b[3];
    ct_heatmap_color(&h, lo, hi, -0.5f, a);
    ct_heatmap_color(&h, lo, hi, 0.5f, b);
    CHECK(fabs(a[0] - b[0]) + fabs(a[1] - b[1]) + fabs(a[2] - b[2]) > 0.5 && lum(a) < 1.6 && lum(b) < 1.6,
          "both signs: -0.5 and 0.5 dark and of different hues");
    h.values = nan4;
    CHECK(ct_heatmap_range(&h, &lo, &hi) == 0 && lo == 0 && hi == 0.4f, "NaN ignored: [%g, %g]", lo, hi);
    ct_heatmap_color(&h, lo, hi, NAN, rgb);
    CHECK(fabs(rgb[0] - rgb[1]) < 1e-9 && fabs(rgb[1] - rgb[2]) < 1e-9 && lum(rgb) < 2.9, "NaN grey");
    /* an explicit range from 0 keeps ROME's clipping */
    h.vmin = 0; h.vmax = 1;
    CHECK(ct_heatmap_range(&h, &lo, &hi) == 0 && lo == 0 && hi == 1, "explicit range");
}

static int run_demo(const char *out, int reverse, const char *metric, ct_err *e)
{
    ct_run_settings s;
    ct_run_settings_default(&s);
    s.model_dir = "models/demo";
    s.data_path = "data/demo.jsonl";
    s.output_dir = out;
    s.experiment = CT_EXP_OBJECT;
    s.max_datapoints = 3;
    s.kinds = 1u << CT_KIND_HIDDEN;
    s.plot_format = CT_PLOT_PNG;
    s.trace.samples = 5;
    s.trace.window = 4;
    s.trace.reverse = reverse;
    if (ct_metric_parse(metric, &s.trace.metric)) return ct_fail(e, "metric %s", metric);
    return ct_run(&s, NULL, e);
}

/* Checks every case of a run dir; returns the number of cases. */
/* per case: the last token's and the last corrupted token's IE rows */
static float rows_last[8][6], rows_corr[8][6];

static int check_cases(const char *out, int reverse, int sign, double *te_sum, float *last_sum, int L_want)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.jsonl", out);
    char *sum = ct_slurp(path, NULL);
    CHECK(sum != NULL, "%s", path);
    if (!sum) return 0;
    int n = 0;
    for (char *line = strtok(sum, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        CHECK(o != NULL, "summary line is JSON");
        if (!o) continue;
        int row = cJSON_GetObjectItem(o, "row")->valueint;
        const char *obj = cJSON_GetObjectItem(o, "answer")->valuestring;
        snprintf(path, sizeof path, "%s/cases/%d_hidden_%s.bin", out, row, obj);
        ct_case c; ct_err e;
        CHECK_OK(ct_case_load(&c, path, &e), &e);
        if (!c.ie) { cJSON_Delete(o); continue; }
        /* what the model predicted: 5 tokens each, sorted, and where the
         * answer is among them its probability is p_clean / p_corrupt */
        const char *tops[2] = {"top_clean", "top_corrupt"}, *ps[2] = {"p_clean", "p_corrupt"};
        for (int q = 0; q < 2; q++) {
            cJSON *a = cJSON_GetObjectItem(o, tops[q]);
            CHECK(cJSON_GetArraySize(a) == CT_TOP_K, "%s: %s has %d entries", path, tops[q], cJSON_GetArraySize(a));
            double prev = 2, pa = cJSON_GetObjectItem(o, ps[q])->valuedouble;
            int found = 0;
            cJSON *it;
            cJSON_ArrayForEach(it, a) {
                double pv = cJSON_GetObjectItem(it, "p")->valuedouble;
                CHECK(pv <= prev, "%s: %s sorted", path, tops[q]);
                prev = pv;
                if (!strcmp(cJSON_GetObjectItem(it, "token")->valuestring + 1, obj)) {
                    found = 1;
                    CHECK(fabs(pv - pa) < 1e-5, "%s: %s p(answer) %g, %s %g", path, tops[q], pv, ps[q], pa);
                }
            }
            if (q == 0) CHECK(found, "%s: the answer is among the clean run's top tokens", path);
        }
        /* the largest |IE| with its sign, by a plain loop */
        int bt = -1, bl = -1;
        float best = 0, mn = INFINITY, mx = -INFINITY;
        for (int t = 0; t < c.T; t++)
            for (int l = 0; l < c.L; l++) {
                float v = c.ie[t * c.L + l];
                if (fabsf(v) > fabsf(best) || bt < 0) { best = v; bt = t; bl = l; }
                mn = fminf(mn, v); mx = fmaxf(mx, v);
            }
        cJSON *top = cJSON_GetObjectItem(o, "top_ie");
        CHECK(top && cJSON_GetObjectItem(top, "token")->valueint == bt && cJSON_GetObjectItem(top, "layer")->valueint == bl
              && (float)cJSON_GetObjectItem(top, "ie")->valuedouble == best,   /* 15 digits (cJSON): exact as a float */
              "%s: top_ie %s, want token %d layer %d ie %g", path, top ? cJSON_PrintUnformatted(top) : "null", bt, bl, best);
        if (sign < 0) CHECK(best < 0 && best == mn && c.te < 0, "%s: top_ie %g is the most negative (%g), TE %g", path, best, mn, c.te);
        if (sign > 0) CHECK(c.te > 0, "%s: TE %g", path, c.te);   /* a cell may still lower p: top_ie keeps its sign */
        /* the figure: its range holds every value, the extreme cell is dark */
        ct_case_figure f;
        CHECK_OK(ct_case_figure_of(&f, &c, &e), &e);
        float lo, hi;
        ct_heatmap_range(&f.h, &lo, &hi);
        CHECK(lo <= mn && hi >= mx, "%s: colour range [%g, %g] holds the data [%g, %g]", path, lo, hi, mn, mx);
        double rgb[3];
        ct_heatmap_color(&f.h, lo, hi, best, rgb);
        CHECK(lum(rgb) < 1.5, "%s: the top cell (%g) is drawn dark (%g)", path, best, lum(rgb));
        char want[160];
        snprintf(want, sizeof want, "p_clean %.4g, p_corrupt %.4g, TE %.4g", c.high_score, c.low_score, c.te);
        CHECK(strstr(f.title, want) != NULL, "%s: title \"%s\" states \"%s\"", path, f.title, want);
        CHECK(strstr(f.cbar, reverse ? "vs clean" : "vs corrupted") != NULL, "colour bar says the base run: %s", f.cbar);
        ct_case_figure_free(&f);
        *te_sum += c.te;
        CHECK(c.L == L_want, "layers %d", c.L);
        for (int l = 0; l < c.L && l < L_want; l++) last_sum[l] += c.ie[(c.T - 1) * c.L + l];
        int tc = -1;   /* the last corrupted token: the end of the last target range */
        for (int r = 0; r < c.n_targets; r++) if (c.targets[2 * r + 1] - 1 > tc) tc = c.targets[2 * r + 1] - 1;
        CHECK(tc >= 0 && c.n_targets == 1, "one target range (the object)");
        for (int l = 0; l < 6 && n < 8 && tc >= 0 && c.L == 6; l++) {
            rows_last[n][l] = c.ie[(c.T - 1) * c.L + l];
            rows_corr[n][l] = c.ie[tc * c.L + l];
        }
        ct_case_free(&c);
        cJSON_Delete(o);
        n++;
    }
    free(sum);
    return n;
}

static void test_demo(void)
{
    if (access("models/demo/model.safetensors", R_OK) || access("data/demo.jsonl", R_OK)) {
        CHECK(0, "run from the repository root (models/demo, data/demo.jsonl)");
        return;
    }
    char dir[] = "/tmp/ct_test_figures_XXXXXX";
    if (!mkdtemp(dir)) return;
    char rev[600], lr[600], fwd[600];
    snprintf(rev, sizeof rev, "%s/rev", dir);
    snprintf(lr, sizeof lr, "%s/rev_logratio", dir);
    snprintf(fwd, sizeof fwd, "%s/fwd", dir);
    ct_err e;
    CHECK_OK(run_demo(rev, 1, "prob", &e), &e);
    CHECK_OK(run_demo(lr, 0, "logratio", &e), &e);   /* r = log p_cf - log p_answer: restoring lowers it */
    CHECK_OK(run_demo(fwd, 0, "prob", &e), &e);
    const int L = 6;
    double te_rev = 0, te_lr = 0, te_fwd = 0;
    float last_rev[6] = {0}, last_lr[6] = {0}, last_fwd[6] = {0};
    int n_rev = check_cases(rev, 1, -1, &te_rev, last_rev, L);
    /* ROME's two rows of the line plot, mean and 1.96 std (n - 1) / sqrt(n), by plain loops */
    float m_last[6], m_corr[6], c_last[6], c_corr[6];
    for (int l = 0; l < 6; l++) {
        double sl = 0, sc = 0, ql = 0, qc = 0;
        for (int i = 0; i < 3; i++) { sl += rows_last[i][l]; sc += rows_corr[i][l]; }
        sl /= 3; sc /= 3;
        for (int i = 0; i < 3; i++) { ql += (rows_last[i][l] - sl) * (rows_last[i][l] - sl); qc += (rows_corr[i][l] - sc) * (rows_corr[i][l] - sc); }
        m_last[l] = (float)sl; m_corr[l] = (float)sc;
        c_last[l] = (float)(1.96 * sqrt(ql / 2) / sqrt(3.0)); c_corr[l] = (float)(1.96 * sqrt(qc / 2) / sqrt(3.0));
    }
    int n_lr = check_cases(lr, 0, -1, &te_lr, last_lr, L);
    int n_fwd = check_cases(fwd, 0, 1, &te_fwd, last_fwd, L);
    CHECK(n_rev == 3 && n_lr == 3 && n_fwd == 3, "cases %d %d %d", n_rev, n_lr, n_fwd);
    CHECK(te_lr / 3 < -1, "logratio ATE %g is strongly negative", te_lr / 3);

    /* averages: ATE and the last token's AIE against the plain loops above */
    const char *d1[1] = {rev};
    ct_average avg[3];
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    CHECK_OK(ct_average_dirs(avg, d1, 1, CT_CTX_ALL, NULL, NULL, &e), &e);
    double ate, ci;
    ct_average_ate(&avg[0], &ate, &ci);
    CHECK(avg[0].n_cases == 3 && fabs(ate - te_rev / 3) < 1e-6 && ate < 0, "ATE %g, want %g", ate, te_rev / 3);
    float aie[6], want[6];
    for (int l = 0; l < L; l++) want[l] = last_rev[l] / 3;
    ct_average_stat(&avg[0], CT_ROME_LAST, 1, CT_STAT_CASE_MEAN, aie);
    CHECK_CLOSE(aie, want, L, 1e-6, "AIE of the last token (ROME's row)");
    ct_average_stat(&avg[0], CT_SEG_LAST, 1, CT_STAT_CASE_MEAN, aie);
    CHECK_CLOSE(aie, want, L, 1e-6, "AIE of the last token (entity row)");
    CHECK_CLOSE(aie, m_last, L, 1e-6, "AIE of the last token (rows kept)");
    ct_average_stat(&avg[0], CT_ROME_LAST, 1, CT_STAT_CI95, aie);
    CHECK_CLOSE(aie, c_last, L, 1e-5, "95% half-width, last token");
    ct_average_stat(&avg[0], CT_ROME_CORR_LAST, 1, CT_STAT_CASE_MEAN, aie);
    CHECK_CLOSE(aie, m_corr, L, 1e-6, "AIE of the last corrupted token");
    ct_average_stat(&avg[0], CT_ROME_CORR_LAST, 1, CT_STAT_CI95, aie);
    CHECK_CLOSE(aie, c_corr, L, 1e-5, "95% half-width, last corrupted token");
    printf("reverse, exp 2, 3 rows: ATE %.6f; AIE last corrupted token by layer:", ate);
    for (int l = 0; l < L; l++) printf(" %.4f+-%.4f", m_corr[l], c_corr[l]);
    printf("\n");
    CHECK(avg[0].reverse == 1 && avg[0].experiment == 2 && !strcmp(avg[0].metric, "prob") && !strcmp(avg[0].model, "demo"),
          "design: reverse %d exp %d metric %s model %s", avg[0].reverse, avg[0].experiment, avg[0].metric, avg[0].model);
    int kinds[1] = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/avg.png", dir);
    CHECK_OK(ct_average_plot(avg, kinds, 1, CT_AVG_ROME, path, CT_PLOT_PNG, &e), &e);
    snprintf(path, sizeof path, "%s/aie.png", dir);
    CHECK_OK(ct_average_lineplot(avg, kinds, 1, path, CT_PLOT_PNG, &e), &e);
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    /* reverse beside forward, prob beside logratio: refused */
    const char *d2[2] = {rev, fwd}, *d3[2] = {fwd, lr};
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    CHECK(ct_average_dirs(avg, d2, 2, CT_CTX_ALL, NULL, NULL, &e) == -1 && strstr(e.msg, "reverse patching"), "%s", e.msg);
    for (int k = 0; k < 3; k++) { ct_average_free(&avg[k]); ct_average_init(&avg[k]); }
    CHECK(ct_average_dirs(avg, d3, 2, CT_CTX_ALL, NULL, NULL, &e) == -1 && strstr(e.msg, "metric logratio"), "%s", e.msg);
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);

    /* resume with another model of the same tokenizer (config.json differs):
     * refused, naming both identities; the same model resumes */
    {
        char other[700], cmd[2400];
        snprintf(other, sizeof other, "%s/other-model", dir);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln -s \"$PWD/models/demo/model.safetensors\" \"$PWD/models/demo/tokenizer.json\" "
                 "\"$PWD/models/demo/tokenizer_config.json\" '%s/' && sed 's/^{/{\"_name_or_path\": \"other\",/' models/demo/config.json > '%s/config.json'",
                 other, other, other);
        CHECK(system(cmd) == 0, "%s", cmd);
        char id1[160], id2[160];
        CHECK_OK(ct_model_identity("models/demo", id1, sizeof id1, &e), &e);
        CHECK_OK(ct_model_identity(other, id2, sizeof id2, &e), &e);
        CHECK(strcmp(id1, id2) != 0 && !strncmp(id1, "fnv1a64:", 8), "identities %s / %s", id1, id2);
        ct_run_settings s;
        ct_run_settings_default(&s);
        s.model_dir = other; s.data_path = "data/demo.jsonl"; s.output_dir = fwd; s.experiment = CT_EXP_OBJECT;
        s.max_datapoints = 3; s.kinds = 1u << CT_KIND_HIDDEN; s.plots = 0; s.trace.samples = 5; s.trace.window = 4;
        int rc = ct_run(&s, NULL, &e);
        CHECK(rc == -1 && strstr(e.msg, "another model") && strstr(e.msg, id1) && strstr(e.msg, id2), "rc %d: %s", rc, e.msg);
        s.model_dir = "models/demo";
        ct_run_progress pr;
        CHECK_OK(ct_run(&s, &pr, &e), &e);
        CHECK(pr.cases_reused == 3 && pr.cases_written == 0, "same model: %d reused, %d written", pr.cases_reused, pr.cases_written);
        snprintf(cmd, sizeof cmd, "%s/summary.jsonl", fwd);
        char *sum = ct_slurp(cmd, NULL);
        CHECK(sum && strstr(sum, "\"top_corrupt\":[{\"id\":"), "the resumed run's summary keeps the top tokens");
        free(sum);
        ct_case c;
        snprintf(cmd, sizeof cmd, "%s/cases/0_hidden_Lorimel.bin", fwd);
        CHECK_OK(ct_case_load(&c, cmd, &e), &e);
        CHECK(c.info.model_id && !strcmp(c.info.model_id, id1), "case file records the model: %s", c.info.model_id ? c.info.model_id : "(none)");
        ct_case_free(&c);
    }

    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (getenv("CT_KEEP_FIGS")) printf("kept %s\n", dir);
    else if (system(rm)) {}
}

static void check_label(const char *prev, const char *tok, const char *want)
{
    char *l = ct_token_label(prev, tok);
    CHECK(l && !strcmp(l, want), "label of \"%s\" after \"%s\": \"%s\", want \"%s\"", tok, prev ? prev : "(none)", l ? l : "", want);
    free(l);
}

/* Labels that keep word boundaries, on hand-made tokens and on a
 * SentencePiece tokenizer (Llama 2's, a repository fixture). */
static void test_labels(void)
{
    check_label(NULL, "Mount", "Mount");
    check_label("Mount", " St", " St");
    check_label(" St", "rom", "\xc2\xb7rom");
    check_label("rom", "lo", "\xc2\xb7lo");
    check_label("lo", ".", ".");
    check_label(".", " ", "\xe2\x90\xa3");
    check_label("a", "  ", "\xe2\x90\xa3\xe2\x90\xa3");
    check_label("records", ",", ",");
    check_label("Dre", "ze", "\xc2\xb7ze");
    const char *tkdir = ct_fixture("hf-tokenizers/llama2");
    char tkfile[4200];
    snprintf(tkfile, sizeof tkfile, "%s/tokenizer.json", tkdir);
    CHECK(access(tkfile, R_OK) == 0, "fixture %s missing: SentencePiece labels not checked", tkfile);
    ct_tokenizer *tk = NULL;
    ct_err e;
    CHECK_OK(ct_tokenizer_load(&tk, tkdir, &e), &e);
    if (!tk) return;
    const char *json = "{\"question\": \"Where is Mount Stromlo?\", \"answers\": [\"Australia\"], \"subj\": \"Mount Stromlo\", "
                       "\"obj\": \"Australia\", \"passages\": [{\"text\": \"Mount Stromlo is in Australia.\"}], "
                       "\"prompt_wo_ctx\": \"Mount Stromlo is located in\", \"obj_cf\": [\"Peru\"]}";
    ct_row row;
    ct_row_plan p;
    CHECK_OK(ct_row_parse(&row, json, strlen(json), 1, &e), &e);
    CHECK_OK(ct_row_plan_make(&p, &row, tk, NULL, CT_EXP_SUBJECT, NULL, 1, &e), &e);
    if (p.tokens) {
        char joined[1024] = "";
        int st = -1;
        for (int t = 0; t < p.enc.n; t++) {
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "[%s]", p.tokens[t]);
            if (!strcmp(p.tokens[t], " St") && t + 1 < p.enc.n && !strcmp(p.tokens[t + 1], "rom")) st = t;
        }
        CHECK(st > 0, "SentencePiece tokens keep their word-initial space: %s", joined);
        /* the tokens joined give the prompt text back (after the BOS) */
        CHECK(strstr(joined, "[ Mount][ St][rom][lo]") != NULL, "%s", joined);
        if (st > 0) {
            char *l = ct_token_label(p.tokens[st], p.tokens[st + 1]);
            CHECK(l && !strcmp(l, "\xc2\xb7rom"), "label %s", l ? l : "");
            free(l);
        }
        ct_row_plan_free(&p);
    }
    ct_row_free(&row);
    ct_tokenizer_free(tk);
}

/* A passage that does not name the object: experiments 1 and 3 trace it,
 * experiment 2 refuses it, naming the object. */
static void test_object_absent(void)
{
    ct_tokenizer *tk = NULL;
    ct_err e;
    CHECK_OK(ct_tokenizer_load(&tk, "models/demo", &e), &e);
    if (!tk) return;
    const char *json = "{\"question\": \"Where was Dreze Grerksouteth born?\", \"answers\": [\"Lorimel\"], "
                       "\"subj\": \"Dreze Grerksouteth\", \"obj\": \"Lorimel\", "
                       "\"passages\": [{\"text\": \"According to records, Dreze Grerksouteth was a writer.\"}], "
                       "\"prompt_wo_ctx\": \"The place where Dreze Grerksouteth was born is\", \"obj_cf\": [\"Nestrel\"]}";
    ct_row row;
    CHECK_OK(ct_row_parse(&row, json, strlen(json), 7, &e), &e);
    for (int x = 1; x <= 3; x++) {
        ct_row_plan p;
        int rc = ct_row_plan_make(&p, &row, tk, NULL, x, NULL, 1, &e);
        if (x == 2) {
            CHECK(rc == -1 && strstr(e.msg, "line 7: object \"Lorimel\" not found in the passage"), "experiment 2: %s", e.msg);
            continue;
        }
        CHECK(rc == 0, "experiment %d: %s", x, rc ? e.msg : "");
        if (rc) continue;
        const ct_token_spans *s = &p.spans;
        CHECK(s->object.b == s->object.e && s->subject.e > s->subject.b, "experiment %d: no object, a subject", x);
        if (x == 1) CHECK(p.n_ranges == 1 && p.ranges[0][0] == s->subject.b && p.ranges[0][1] == s->subject.e, "subject corrupted");
        if (x == 3) {
            /* the passage outside the subject: before it and after it */
            int n = 0;
            for (int i = 0; i < p.n_ranges; i++) n += p.ranges[i][1] - p.ranges[i][0];
            CHECK(p.n_ranges == 2 && n == (s->passage.e - s->passage.b) - (s->subject.e - s->subject.b),
                  "relation = passage minus subject: %d ranges, %d tokens", p.n_ranges, n);
        }
        ct_row_plan_free(&p);
    }
    ct_row_plan pc;
    CHECK(ct_row_plan_make(&pc, &row, tk, NULL, 1, "Nestrel", 1, &e) == -1 && strstr(e.msg, "counterfactual"), "cf context: %s", e.msg);
    ct_row_free(&row);
    ct_tokenizer_free(tk);
}

/* --metric logratio in a counterfactual-context case scores against the
 * counterfactual that passage asserts: TE recomputed here from the case file's
 * per-sample scores (r = log p_cf - log p_answer, TE = r_clean - mean_s
 * r_corrupt) with that counterfactual, and its ids first in cf_ids. */
static void test_cf_logratio(void)
{
    char dir[] = "/tmp/ct_test_cflr_XXXXXX";
    if (!mkdtemp(dir)) return;
    ct_run_settings s;
    ct_run_settings_default(&s);
    s.model_dir = "models/demo"; s.data_path = "data/demo.jsonl"; s.output_dir = dir;
    s.experiment = CT_EXP_SUBJECT; s.max_datapoints = 1; s.kinds = 1u << CT_KIND_HIDDEN; s.plots = 0;
    s.contexts = CT_CTX_ALL; s.max_cf = 3; s.trace.samples = 4; s.trace.metric = CT_METRIC_LOGRATIO;
    ct_err e;
    CHECK_OK(ct_run(&s, NULL, &e), &e);
    /* row 0: obj_cf Nestrel, Kelvar, Istrem (data/demo.jsonl) */
    const char *cfs[3] = {"Nestrel", "Kelvar", "Istrem"};
    ct_tokenizer *tk = NULL;
    CHECK_OK(ct_tokenizer_load(&tk, "models/demo", &e), &e);
    for (int c = 0; c < 3 && tk; c++) {
        char path[600];
        snprintf(path, sizeof path, "%s/cases/0_hidden_%s.bin", dir, cfs[c]);
        ct_st_file f;
        CHECK_OK(ct_st_open(&f, path, &e), &e);
        if (!f.metadata) continue;
        const ct_tensor_view *vh = ct_st_find(&f, "high_score"), *vls = ct_st_find(&f, "low_samples"), *vch = ct_st_find(&f, "cf_high_score"),
                             *vcls = ct_st_find(&f, "cf_low_samples"), *vte = ct_st_find(&f, "te"), *vids = ct_st_find(&f, "cf_ids");
        CHECK(vh && vls && vch && vcls && vte && vids, "%s: tensors", path);
        if (vh && vls && vch && vcls && vte && vids) {
            float *h = ct_tensor_to_f32(vh), *ls = ct_tensor_to_f32(vls), *ch = ct_tensor_to_f32(vch), *cls = ct_tensor_to_f32(vcls),
                  *te = ct_tensor_to_f32(vte), *ids = ct_tensor_to_f32(vids);
            int S = (int)vls->numel, Amax = (int)vids->shape[1];
            /* the passage's cf first */
            int32_t *want = NULL; int nw = 0;
            ct_encode_continuation(tk, "x", cfs[c], &want, &nw, &e);
            int same = nw <= Amax;
            for (int i = 0; same && i < nw; i++) same = (int32_t)ids[i] == want[i];
            CHECK(same, "%s: cf_ids[0] is \"%s\"", path, cfs[c]);
            double rc = log(fmax(ch[0], 1e-40)) - log(fmax(h[0], 1e-40)), rcorr = 0;
            for (int i = 0; i < S; i++) rcorr += log(fmax(cls[i], 1e-40)) - log(fmax(ls[i], 1e-40));
            rcorr /= S;
            CHECK(fabs(te[0] - (rc - rcorr)) < 1e-4, "%s: TE %g, recomputed against %s %g", path, te[0], cfs[c], rc - rcorr);
            free(want); free(h); free(ls); free(ch); free(cls); free(te); free(ids);
        }
        ct_st_close(&f);
    }
    ct_tokenizer_free(tk);
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm)) {}
}

/* f32 tensor `name` of a safetensors file, read here (not with the figure's loader) */
static float *raw_f32(const char *path, const char *name, int64_t *n)
{
    ct_st_file f;
    ct_err e;
    *n = 0;
    if (ct_st_open(&f, path, &e)) return NULL;
    const ct_tensor_view *v = ct_st_find(&f, name);
    float *x = v && v->dtype == CT_F32 ? malloc((size_t)v->nbytes) : NULL;
    if (x) { memcpy(x, v->data, (size_t)v->nbytes); *n = v->numel; }
    ct_st_close(&f);
    return x;
}

/* 5. Head cases and attributions of a small `ctrace run --kinds head --attribute 1`
 *    on the demo model (experiment 2, 2 rows): the attribution figure's data is
 *    the file's arrays and its ranges hold every value; the head averages by
 *    segment ([segment, L, H]) equal plain loops over the head case files (the
 *    last token, the last and first corrupted token: means and 95% half-widths;
 *    the ATE), the CSV holds them, and a reverse run beside them is refused. */
static void test_heads(void)
{
    char dir[] = "/tmp/ct_test_heads_fig_XXXXXX";
    if (!mkdtemp(dir)) return;
    char fwd[700], rev[700], path[1400];
    snprintf(fwd, sizeof fwd, "%s/heads", dir);
    snprintf(rev, sizeof rev, "%s/rev", dir);
    ct_run_settings s;
    ct_run_settings_default(&s);
    s.model_dir = "models/demo"; s.data_path = "data/demo.jsonl"; s.output_dir = fwd; s.experiment = CT_EXP_OBJECT;
    s.max_datapoints = 2; s.kinds = 1u << CT_KIND_HEAD; s.plot_format = CT_PLOT_PNG; s.trace.samples = 2; s.attribute = 1;
    ct_err e;
    CHECK_OK(ct_run(&s, NULL, &e), &e);
    const char *objs[2] = {"Lorimel", "Dunmere"};   /* data/demo.jsonl rows 0 and 1 */
    /* attribution figures */
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/attributions/%d_attribution_%s.bin", fwd, i, objs[i]);
        ct_attribution_file a;
        ct_attribution_figure f;
        CHECK_OK(ct_attribution_load(&a, path, &e), &e);
        if (!a.heads) continue;
        CHECK_OK(ct_attribution_figure_of(&f, &a, &e), &e);
        const char *names[4] = {"heads", "mlp", "corrupted_heads", "corrupted_mlp"};
        CHECK(f.n == 4 && a.L == 6, "%s: 4 panels (%d), L %d", path, f.n, a.L);
        for (int k = 0; k < f.n && k < 4; k++) {
            int64_t n;
            float *raw = raw_f32(path, names[k], &n);
            CHECK(raw && n == (int64_t)f.h[k].rows * f.h[k].cols && f.h[k].rows == a.L, "%s: %s has the panel's %d x %d values",
                  path, names[k], f.h[k].rows, f.h[k].cols);
            if (!raw) continue;
            int same = 1;
            float mn = INFINITY, mx = -INFINITY;
            for (int64_t q = 0; q < n; q++) { same = same && raw[q] == f.h[k].values[q]; mn = fminf(mn, raw[q]); mx = fmaxf(mx, raw[q]); }
            CHECK(same, "%s: panel %d is the file's %s", path, k, names[k]);
            float lo, hi;
            ct_heatmap_range(&f.h[k], &lo, &hi);
            CHECK(lo <= mn && hi >= mx && lo <= 0 && hi >= 0, "%s: %s range [%g, %g] holds [%g, %g] and 0", path, names[k], lo, hi, mn, mx);
            if (k >= 2) {   /* the clean and corrupted runs' panels share their range */
                float lo0, hi0;
                ct_heatmap_range(&f.h[k - 2], &lo0, &hi0);
                CHECK(lo0 == lo && hi0 == hi, "%s: %s drawn on the clean run's range [%g, %g] (got [%g, %g])", path, names[k], lo0, hi0, lo, hi);
            }
            CHECK(k % 2 == 0 ? !f.h[k].bars && f.h[k].cols == 6 : f.h[k].bars && f.h[k].cols == 1, "%s: map / bars", path);
            free(raw);
        }
        CHECK(strstr(f.titles[0], "logit(") && strstr(f.titles[0], a.cf_text ? a.cf_text : "?") && strstr(f.titles[2], "noise on the object")
              && strstr(f.cbar, "logits"), "titles: %s | %s | %s", f.titles[0], f.titles[2], f.cbar);
        int64_t nt;
        float *tot = raw_f32(path, "total", &nt);
        char want[64];
        snprintf(want, sizeof want, "total %+.4g", tot ? tot[0] : NAN);
        CHECK(strstr(f.titles[0], want) != NULL, "%s: title states %s: %s", path, want, f.titles[0]);
        free(tot);
        ct_attribution_figure_free(&f);
        ct_attribution_file_free(&a);
        snprintf(path, sizeof path, "%s/pdfs/%s_%d_attribution.png", fwd, objs[i], i);
        CHECK(ct_figure_complete(path, CT_PLOT_PNG), "%s written by ctrace run --attribute 1", path);
    }
    /* head averages against plain loops over the case files */
    enum { NL = 6, NH = 6, LH = NL * NH };
    double sum[3][LH] = {{0}}, sq[3][LH] = {{0}}, te = 0;
    int ncase = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/cases/%d_head_%s.bin", fwd, i, objs[i]);
        int64_t n, nr, nte;
        float *ie = raw_f32(path, "ie", &n), *t = raw_f32(path, "te", &nte);
        ct_st_file f;
        int32_t rg[2] = {-1, -1};
        if (!ct_st_open(&f, path, &e)) {
            const ct_tensor_view *v = ct_st_find(&f, "target_ranges");
            nr = v ? v->numel : 0;
            if (nr == 2) memcpy(rg, v->data, sizeof rg);
            ct_st_close(&f);
        }
        CHECK(ie && t && n % LH == 0 && rg[0] >= 0 && rg[1] > rg[0], "%s: ie [T, 6, 6], one target range", path);
        if (ie && t && n % LH == 0 && rg[0] >= 0) {
            int T = (int)(n / LH), rows[3] = {T - 1, rg[1] - 1, rg[0]};   /* last, last corrupted, first corrupted */
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < LH; q++) { double x = ie[(size_t)rows[r] * LH + q]; sum[r][q] += x; sq[r][q] += x * x; }
            te += t[0];
            ncase++;
        }
        free(ie); free(t);
    }
    ct_average avg[3], heads;
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    ct_average_init(&heads);
    const char *d1[1] = {fwd};
    CHECK_OK(ct_average_dirs_heads(avg, &heads, d1, 1, CT_CTX_ALL, NULL, NULL, &e), &e);
    CHECK(ncase == 2 && heads.n_cases == 2 && heads.H == NH && heads.L == LH && avg[0].n_cases + avg[1].n_cases + avg[2].n_cases == 0,
          "head cases %d (loop %d), H %d, columns %d", heads.n_cases, ncase, heads.H, heads.L);
    static const int segs[3][2] = {{CT_ROME_LAST, CT_SEG_LAST}, {CT_ROME_CORR_LAST, CT_SEG_OBJ_LAST}, {CT_ROME_CORR_FIRST, CT_SEG_OBJ_FIRST}};
    float mean[LH], ci[LH], got[LH];
    for (int r = 0; r < 3 && ncase == 2; r++) {
        for (int q = 0; q < LH; q++) {
            mean[q] = (float)(sum[r][q] / 2);
            double var = (sq[r][q] - sum[r][q] * sum[r][q] / 2) / 1;
            ci[q] = (float)(1.96 * sqrt(var > 0 ? var : 0) / sqrt(2.0));
        }
        for (int j = 0; j < 2; j++) {
            ct_average_stat(&heads, segs[r][j], 1, CT_STAT_CASE_MEAN, got);
            CHECK_CLOSE(got, mean, LH, 1e-6, ct_segment_name(segs[r][j]));
        }
        ct_average_stat(&heads, segs[r][0], 1, CT_STAT_CI95, got);
        CHECK_CLOSE(got, ci, LH, 1e-5, "95% half-width");
    }
    double ate, aci;
    ct_average_ate(&heads, &ate, &aci);
    CHECK(fabs(ate - te / 2) < 1e-6, "head ATE %g, want %g", ate, te / 2);
    /* the CSV: the last corrupted token's row of layer 0, head by head */
    snprintf(path, sizeof path, "%s/average_heads.csv", dir);
    CHECK_OK(ct_average_write_heads_csv(&heads, path, &e), &e);
    char *csv = ct_slurp(path, NULL);
    char *row = csv ? strstr(csv, "\nhead,case_mean,rome_corr_last,2,2,2,0,") : NULL;
    CHECK(row != NULL, "CSV has the last corrupted token's layer-0 row");
    if (row && ncase == 2) {
        char *p = row + strlen("\nhead,case_mean,rome_corr_last,2,2,2,0,");
        for (int h = 0; h < NH; h++) {
            double x = strtod(p, &p);
            if (*p == ',') p++;
            CHECK(fabs(x - sum[1][h] / 2) < 1e-6, "CSV head %d: %g, want %g", h, x, sum[1][h] / 2);
        }
    }
    CHECK(csv && strstr(csv, "\nhead,ate,te,2,0,2,,"), "CSV has the ATE row");
    free(csv);
    snprintf(path, sizeof path, "%s/average_heads.png", dir);
    CHECK_OK(ct_average_heads_plot(&heads, 0, path, CT_PLOT_PNG, &e), &e);
    CHECK(ct_figure_complete(path, CT_PLOT_PNG), "%s", path);
    ct_average_free(&heads);
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    /* a reverse-patching run beside the head cases: refused, as for the other kinds */
    s.output_dir = rev; s.kinds = 1u << CT_KIND_HIDDEN; s.max_datapoints = 1; s.attribute = 0; s.plots = 0; s.trace.reverse = 1;
    CHECK_OK(ct_run(&s, NULL, &e), &e);
    const char *d2[2] = {fwd, rev};
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    ct_average_init(&heads);
    CHECK(ct_average_dirs_heads(avg, &heads, d2, 2, CT_CTX_ALL, NULL, NULL, &e) == -1 && strstr(e.msg, "reverse patching"),
          "head cases beside reverse patching: %s", e.msg);
    ct_average_free(&heads);
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    char rm[800];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (getenv("CT_KEEP_FIGS")) printf("kept %s\n", dir);
    else if (system(rm)) {}
}

int main(void)
{
    TEST_BEGIN();
    test_cf_logratio();
    test_object_absent();
    test_labels();
    test_scales();
    test_demo();
    test_heads();
    return TEST_END();
}
