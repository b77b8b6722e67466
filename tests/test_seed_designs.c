/* test_seed_designs.c — the seed tool's designs (docs/seed-designs.md)
 * through ct_run on the demo model, against an independent PyTorch
 * computation of the same designs (tools/demo/seed_designs.py, which wrote
 * tests/fixtures/seed_designs.json), all with --metric logratio:
 *   cf_embeddings  experiment 2, --noise_source cf_embeddings (hidden, mlp)
 *   cf_passage     the same with --patch_source cf_passage --reverse_patching 1 (the seed's e1)
 *   e21            experiment 1, --contexts cf (hidden)
 *   e22            experiment 3, --contexts cf --relation_span from_prompt_start (hidden)
 * for each fixture row (and counterfactual passage): the prompt's token ids,
 * the corrupted ranges (e21, e22), p_clean, p_corrupt, TE and the whole IE
 * grid [T, L].  Regenerate with
 *   /usr/bin/python3 tools/demo/seed_designs.py --out tests/fixtures/seed_designs.json */
#include "ctrace_app.h"
#include "harness.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <unistd.h>

#define P_TOL 1e-4      /* probabilities */
#define LOG_TOL 5e-4    /* log-ratios (TE, IE): log p of p ~ 1e-5 amplifies float32 rounding */

/* The case file DIR/cases/{k}_{kind}_{obj}.bin (obj NULL: any). */
static int find_case(const char *dir, int k, const char *kind, const char *obj, char *out, size_t cap)
{
    char d[4300], pre[192];
    snprintf(d, sizeof d, "%s/cases", dir);
    snprintf(pre, sizeof pre, "%d_%s_%s%s", k, kind, obj ? obj : "", obj ? ".bin" : "");
    DIR *dd = opendir(d);
    if (!dd) return -1;
    struct dirent *de;
    int found = -1;
    while ((de = readdir(dd)))
        if (!strncmp(de->d_name, pre, strlen(pre)) && strstr(de->d_name, ".bin")) {
            snprintf(out, cap, "%s/%s", d, de->d_name);
            found = 0;
        }
    closedir(dd);
    return found;
}

/* ct_trace_run refuses what the cf sources cannot serve, with one clear line. */
static void engine_refusals(void)
{
    ct_model *m = NULL;
    ct_err err = {0};
    CHECK_OK(ct_model_load(&m, "models/demo", &err), &err);
    if (!m) return;
    int32_t ids[8] = {10, 20, 30, 40, 50, 60, 70, 80}, rg[2] = {2, 3}, ans[1] = {5};
    int32_t cf1[1] = {7}, cf2[2] = {8, 9};
    const int32_t *cfs[2] = {cf1, cf2};
    int cfl[2] = {1, 2};
    ct_trace_input in = {.ids = ids, .n_ids = 8, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = 1,
                         .n_cf = 2, .cf = cfs, .cf_len = cfl};
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.samples = 2;
    s.noise_source = CT_NOISE_CF_EMBEDDINGS;
    ct_trace_result r;
    int rc = ct_trace_run(m, &in, &s, &r, &err);
    CHECK(rc != 0 && strstr(err.msg, "counterfactual 1 is 2 tokens, the corrupted span 1"),
          "cf_embeddings, a two-token cf on a one-token span: rc %d, %s", rc, rc ? err.msg : "(ran)");
    if (!rc) ct_trace_result_free(&r);
    s.samples = 1;                          /* only cf[0] is used: runs */
    rc = ct_trace_run(m, &in, &s, &r, &err);
    CHECK(rc == 0 && isnan(r.noise_level), "cf_embeddings, one sample: rc %d %s, noise_level %g", rc, rc ? err.msg : "",
          rc ? 0.0 : r.noise_level);
    if (!rc) ct_trace_result_free(&r);
    s.noise_source = CT_NOISE_GAUSSIAN;
    s.patch_source = CT_PATCH_CF_PASSAGE;   /* no passages given */
    rc = ct_trace_run(m, &in, &s, &r, &err);
    CHECK(rc != 0 && strstr(err.msg, "cf_passage needs one counterfactual passage per counterfactual"),
          "cf_passage without passages: rc %d, %s", rc, rc ? err.msg : "(ran)");
    if (!rc) ct_trace_result_free(&r);
    ct_model_free(m);
}

int main(void)
{
    TEST_BEGIN();
    ct_set_threads(1);      /* the numbers do not depend on it; one thread is fastest on a shared machine */
    engine_refusals();
    char *fx_text = ct_slurp("tests/fixtures/seed_designs.json", NULL);
    cJSON *fx = fx_text ? cJSON_Parse(fx_text) : NULL;
    CHECK(fx != NULL, "tests/fixtures/seed_designs.json missing or not JSON");
    if (!fx) { free(fx_text); return TEST_END(); }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(fx, "rows");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(fx, "cases");
    int S = cJSON_GetObjectItemCaseSensitive(fx, "samples")->valueint;
    int W = cJSON_GetObjectItemCaseSensitive(fx, "window")->valueint;
    int max_cf = cJSON_GetObjectItemCaseSensitive(fx, "max_cf")->valueint;
    int cf_rows = cJSON_GetObjectItemCaseSensitive(fx, "cf_rows")->valueint;   /* e21, e22: the first rows only */
    const char *fmt = cJSON_GetObjectItemCaseSensitive(fx, "prompt_format")->valuestring;

    /* the fixture's rows of data/demo.jsonl (blank lines not counted), in order */
    char tmp[] = "/tmp/ctrace-seed-designs.XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char data[4200];
    snprintf(data, sizeof data, "%s/rows.jsonl", tmp);
    FILE *in = fopen("data/demo.jsonl", "r"), *out = fopen(data, "w");
    CHECK(in && out, "data/demo.jsonl or %s", data);
    if (!in || !out) { cJSON_Delete(fx); free(fx_text); return TEST_END(); }
    char line[8192];
    int k = 0, nrows = cJSON_GetArraySize(rows);
    while (fgets(line, sizeof line, in)) {
        if (line[0] == '\n') continue;
        for (int q = 0; q < nrows; q++)
            if (cJSON_GetArrayItem(rows, q)->valueint == k) fputs(line, out);
        k++;
    }
    fclose(in);
    fclose(out);

    const char *designs[4] = {"cf_embeddings", "cf_passage", "e21", "e22"};
    for (int d = 0; d < 4; d++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", tmp, designs[d]);
        ct_run_settings s;
        ct_run_settings_default(&s);
        s.model_dir = "models/demo";
        s.data_path = data;
        s.output_dir = dir;
        s.prompt_format = fmt;
        s.experiment = d == 2 ? CT_EXP_SUBJECT : d == 3 ? CT_EXP_RELATION : CT_EXP_OBJECT;
        s.kinds = (1u << CT_KIND_HIDDEN) | (d < 2 ? 1u << CT_KIND_MLP : 0);
        s.max_cf = max_cf;
        s.plots = 0;
        s.trace.samples = S;
        s.trace.window = W;
        s.trace.metric = CT_METRIC_LOGRATIO;
        if (d < 2) s.trace.noise_source = CT_NOISE_CF_EMBEDDINGS;
        if (d == 1) { s.trace.patch_source = CT_PATCH_CF_PASSAGE; s.trace.reverse = 1; }
        if (d >= 2) s.contexts = CT_CTX_CF;
        if (d == 3) s.relation_span = CT_RELATION_FROM_PROMPT_START;
        if (d >= 2) s.max_datapoints = cf_rows;
        int nr = d >= 2 ? cf_rows : nrows;
        ct_run_progress p;
        ct_err err = {0};
        CHECK_OK(ct_run(&s, &p, &err), &err);
        CHECK(p.rows_ok == nr && p.rows_skipped == 0, "%s: %d of %d rows traced, %d skipped", designs[d], p.rows_ok,
              nr, p.rows_skipped);

        double m_pc = 0, m_pk = 0, m_te = 0, m_ie = 0;
        int n = 0;
        for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) {
            if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "design")->valuestring, designs[d])) continue;
            const char *kind = cJSON_GetObjectItemCaseSensitive(c, "kind")->valuestring;
            int row = cJSON_GetObjectItemCaseSensitive(c, "row")->valueint, kr = -1;
            for (int q = 0; q < nrows; q++) if (cJSON_GetArrayItem(rows, q)->valueint == row) kr = q;
            const cJSON *cfj = cJSON_GetObjectItemCaseSensitive(c, "cf");
            const char *cf = cJSON_IsString(cfj) ? cfj->valuestring : NULL;
            char path[4600];
            if (find_case(dir, kr, kind, cf, path, sizeof path)) {
                CHECK(0, "%s row %d %s %s: no case file", designs[d], row, kind, cf ? cf : "");
                continue;
            }
            ct_case cs;
            ct_st_file f;
            CHECK_OK(ct_case_load(&cs, path, &err), &err);
            CHECK_OK(ct_st_open(&f, path, &err), &err);
            const ct_tensor_view *ids = ct_st_find(&f, "input_ids");
            const cJSON *want_ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
            int T = cJSON_GetArraySize(want_ids), same = ids && ids->numel == T;
            for (int t = 0; same && t < T; t++) same = ((const int32_t *)ids->data)[t] == cJSON_GetArrayItem(want_ids, t)->valueint;
            CHECK(same, "%s row %d %s: prompt tokens differ from seed_designs.py's", designs[d], row, kind);
            const cJSON *rg = cJSON_GetObjectItemCaseSensitive(c, "ranges");
            if (rg) {                           /* the corrupted ranges, as seed_designs.py made them */
                int ok = cs.n_targets == cJSON_GetArraySize(rg);
                for (int q = 0; ok && q < cs.n_targets; q++)
                    ok = cs.targets[2 * q] == cJSON_GetArrayItem(cJSON_GetArrayItem(rg, q), 0)->valueint &&
                         cs.targets[2 * q + 1] == cJSON_GetArrayItem(cJSON_GetArrayItem(rg, q), 1)->valueint;
                char *want = cJSON_PrintUnformatted(rg);
                CHECK(ok, "%s row %d %s: %d target ranges, first [%d, %d); seed_designs.py %s", designs[d], row, cf,
                      cs.n_targets, cs.n_targets ? cs.targets[0] : -1, cs.n_targets ? cs.targets[1] : -1, want);
                cJSON_free(want);
            }
            const cJSON *ie = cJSON_GetObjectItemCaseSensitive(c, "ie");
            int L = cJSON_GetArraySize(cJSON_GetArrayItem(ie, 0));
            CHECK(cs.T == T && cs.L == L, "%s row %d %s: grid [%d, %d], seed_designs.py [%d, %d]", designs[d], row, kind,
                  cs.T, cs.L, T, L);
            if (cs.T == T && cs.L == L) {
                float *want = malloc(sizeof(float) * (size_t)T * L);   /* [T, L] */
                for (int t = 0; t < T; t++)
                    for (int l = 0; l < L; l++)
                        want[(size_t)t * L + l] = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(ie, t), l)->valuedouble;
                char label[128];
                snprintf(label, sizeof label, "%s row %d %s: IE grid", designs[d], row, kind);
                CHECK_CLOSE(cs.ie, want, (long)T * L, LOG_TOL, label);
                double md = ct_max_abs_diff(cs.ie, want, (long)T * L, NULL);
                if (md > m_ie) m_ie = md;
                free(want);
            }
            double pc = cJSON_GetObjectItemCaseSensitive(c, "p_clean")->valuedouble;
            double pk = cJSON_GetObjectItemCaseSensitive(c, "p_corrupt")->valuedouble;
            double te = cJSON_GetObjectItemCaseSensitive(c, "te")->valuedouble;
            CHECK(fabs(cs.high_score - pc) <= P_TOL, "%s row %d %s: p_clean %.9g, seed_designs.py %.9g", designs[d], row, kind,
                  cs.high_score, pc);
            CHECK(fabs(cs.low_score - pk) <= P_TOL, "%s row %d %s: p_corrupt %.9g, seed_designs.py %.9g", designs[d], row,
                  kind, cs.low_score, pk);
            CHECK(fabs(cs.te - te) <= LOG_TOL, "%s row %d %s: TE %.9g, seed_designs.py %.9g", designs[d], row, kind, cs.te, te);
            if (fabs(cs.high_score - pc) > m_pc) m_pc = fabs(cs.high_score - pc);
            if (fabs(cs.low_score - pk) > m_pk) m_pk = fabs(cs.low_score - pk);
            if (fabs(cs.te - te) > m_te) m_te = fabs(cs.te - te);
            if (d == 1 && !strcmp(kind, "hidden")) {   /* the figure says what was patched, and against what */
                ct_case_figure fig;
                CHECK_OK(ct_case_figure_of(&fig, &cs, &err), &err);
                CHECK(fig.title && strstr(fig.title, "patching") && strstr(fig.title, "from the counterfactual passages") &&
                      strstr(fig.title, "cf embeddings on the object") && fig.cbar && strstr(fig.cbar, "vs clean"),
                      "cf_passage figure: title \"%s\", colour bar \"%s\"", fig.title ? fig.title : "", fig.cbar ? fig.cbar : "");
                CHECK(cs.info.noise_source == CT_NOISE_CF_EMBEDDINGS && cs.info.patch_source == CT_PATCH_CF_PASSAGE,
                      "cf_passage case description: noise_source %d, patch_source %d", cs.info.noise_source,
                      cs.info.patch_source);
                ct_case_figure_free(&fig);
            }
            n++;
            ct_st_close(&f);
            ct_case_free(&cs);
        }
        int want_n = d < 2 ? 2 * nrows : max_cf * cf_rows;   /* two kinds; or one per counterfactual passage */
        CHECK(n == want_n, "%s: %d fixture cases compared, want %d", designs[d], n, want_n);
        printf("%s: %d cases, max |diff| p_clean %.2g, p_corrupt %.2g, TE %.2g, IE %.2g\n", designs[d], n, m_pc, m_pk, m_te,
               m_ie);
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmp);
    cJSON_Delete(fx);
    free(fx_text);
    return TEST_END();
}
