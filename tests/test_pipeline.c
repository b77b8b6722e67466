/* test_pipeline.c — the pieces of `ctrace run` put together on one real row:
 * peq-both P17:1 -> ct_row_plan (the real GPT-2 tokenizer) -> ct_trace_run on
 * a small random GPT-2-layout model with GPT-2's vocabulary (written here)
 * -> a case file with the case description -> ct_case_load, the heat map,
 * the segment averages and the summary line.  What is checked is that every
 * stage hands the next one the same numbers and spans (the engine's own
 * numbers are checked against ROME in test_trace_rome). */
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace_app.h"
#include "tiny_gpt2.h"

enum { NL = TG_L };

/* The case file as `ctrace run` will write it, until ct_case_write lands:
 * the engine's tensors and the description in the "ctrace" settings JSON. */
static int write_case(const char *path, const ct_row_plan *p, const ct_trace_result *r, const ct_case_info *ci)
{
    const ct_trace_target *a = &r->targets[0];
    ct_st_out t[] = {
        {"scores", CT_F32, 2, {r->T, r->L}, a->scores},
        {"ie", CT_F32, 2, {r->T, r->L}, r->ie},
        {"low_score", CT_F32, 0, {0}, &a->low_score},
        {"high_score", CT_F32, 0, {0}, &a->high_score},
        {"te", CT_F32, 0, {0}, &r->te},
        {"input_ids", CT_I32, 1, {p->enc.n}, p->enc.ids},
        {"target_ranges", CT_I32, 2, {p->n_ranges, 2}, p->ranges},
    };
    char *extra = ct_case_extra_json(ci);
    cJSON *settings = cJSON_Parse(extra);
    cJSON_AddStringToObject(settings, "kind", ci->kind);
    char *st = cJSON_PrintUnformatted(settings);
    cJSON *md = cJSON_CreateObject();
    cJSON_AddStringToObject(md, "ctrace", st);
    cJSON_AddStringToObject(md, "kind", ci->kind);
    cJSON_AddStringToObject(md, "format", "ctrace-case-1");
    char *mds = cJSON_PrintUnformatted(md);
    ct_err e;
    int rc = ct_st_write(path, t, (int)(sizeof t / sizeof t[0]), mds, &e);
    if (rc) printf("write_case: %s\n", e.msg);
    free(extra); free(st); free(mds); cJSON_Delete(settings); cJSON_Delete(md);
    return rc;
}

int main(void)
{
    TEST_BEGIN();
    char dir[] = "/tmp/ct_test_pipeline_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    ct_set_threads(1);   /* tiny matrices: threads would only spin */
    char cases[600];
    snprintf(cases, sizeof cases, "%s/run/cases", dir);
    char run[600]; snprintf(run, sizeof run, "%s/run", dir);
    mkdir(run, 0777); mkdir(cases, 0777);
    CHECK(tiny_gpt2_write(dir, 128, 12345) == 0, "model written");
    ct_model *m = NULL; ct_tokenizer *tk = NULL; ct_err e;
    CHECK_OK(ct_model_load(&m, dir, &e), &e);
    CHECK_OK(ct_tokenizer_load(&tk, ct_fixture("hf-tokenizers/gpt2"), &e), &e);
    ct_dataset *d = NULL; ct_row row;
    CHECK_OK(ct_dataset_open(&d, ct_fixture("datasets/peq-both/P17.jsonl"), &e), &e);
    if (!m || !tk || !d || ct_dataset_next(d, &row, &e) != 1) { printf("setup failed\n"); return TEST_END() | 1; }

    ct_row_plan p;
    CHECK_OK(ct_row_plan_make(&p, &row, tk, NULL, CT_EXP_SUBJECT, NULL, 3, &e), &e);
    float last_ie[3][NL];
    for (int k = 0; k < 3; k++) {
        ct_trace_settings s;
        ct_trace_settings_default(&s);
        s.kind = (ct_kind)k; s.samples = 2; s.window = 2;
        ct_trace_input in = {.ids = p.enc.ids, .n_ids = p.enc.n, .ranges = &p.ranges[0][0], .n_ranges = p.n_ranges,
                             .answer = p.answer, .n_answer = p.n_answer, .n_cf = p.n_cf,
                             .cf = (const int32_t *const *)p.cf, .cf_len = p.cf_len};
        ct_trace_result r;
        memset(&r, 0, sizeof r);
        CHECK_OK(ct_trace_run(m, &in, &s, &r, &e), &e);
        if (!r.ie) continue;
        CHECK(r.T == p.enc.n && r.L == NL, "trace grid %d x %d", r.T, r.L);
        const char *kind = ct_kind_name(s.kind);
        CHECK(ct_kind_index(kind) == k, "kind names agree: %s", kind);
        ct_case_info ci;
        CHECK_OK(ct_row_plan_case_info(&p, &row, 0, CT_EXP_SUBJECT, kind, s.window, ct_metric_name(s.metric), &ci, &e), &e);
        char name[256], path[900];
        CHECK(ct_case_name(name, sizeof name, 0, kind, row.obj) == 0, "name");
        snprintf(path, sizeof path, "%s/%s", cases, name);
        CHECK(write_case(path, &p, &r, &ci) == 0, "case written");
        for (int l = 0; l < NL; l++) last_ie[k][l] = r.ie[(r.T - 1) * NL + l];

        /* read back: the same grid, spans and tokens */
        ct_case c;
        CHECK_OK(ct_case_load(&c, path, &e), &e);
        if (c.ie) {
            CHECK(c.has_info && c.T == r.T && c.L == NL && !strcmp(c.info.kind, kind), "loaded %s", kind);
            CHECK_CLOSE(c.ie, r.ie, (long)r.T * NL, 0, "ie read back");
            CHECK(!memcmp(&c.info.spans, &p.spans, sizeof p.spans) && !strcmp(c.info.tokens[4], p.tokens[4]), "spans/tokens read back");
            CHECK(c.n_targets == 1 && c.targets[0] == p.spans.subject.b && c.targets[1] == p.spans.subject.e, "target ranges");
            /* the engine's exact zeros before the first corrupted token */
            float mx = 0;
            for (int t = 0; t < p.spans.subject.b; t++) for (int l = 0; l < NL; l++) mx = fmaxf(mx, fabsf(c.ie[t * NL + l]));
            CHECK(mx == 0, "IE before the subject is exactly 0 (max %g)", mx);
            ct_case_figure fig;
            CHECK_OK(ct_case_figure_of(&fig, &c, &e), &e);
            snprintf(path, sizeof path, "%s/%s.pdf", dir, kind);
            CHECK_OK(ct_heatmap_write(&fig.h, 1, path, CT_PLOT_PDF, &e), &e);
            ct_case_figure_free(&fig);
            char *line = ct_summary_line(&c.info, c.L, c.ie, r.targets[0].high_score, r.targets[0].low_score, r.te);
            cJSON *o = cJSON_Parse(line);
            CHECK(o && fabs(cJSON_GetObjectItem(o, "te")->valuedouble - r.te) < 1e-6, "summary te: %s", line);
            cJSON_Delete(o); free(line);
        }
        ct_case_free(&c);
        ct_case_info_free(&ci);
        ct_trace_result_free(&r);
    }
    /* the average of one case per kind: the last-token row is that case's last row */
    ct_average avg[3];
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    const char *dirs[1] = {run};
    int skipped = -1;
    CHECK_OK(ct_average_dirs(avg, dirs, 1, CT_CTX_ALL, &skipped, NULL, &e), &e);
    CHECK(skipped == 0 && avg[0].n_cases == 1 && avg[1].n_cases == 1 && avg[2].n_cases == 1, "one case per kind");
    for (int k = 0; k < 3; k++) {
        if (avg[k].L != NL) continue;
        float res[CT_SEG_COUNT * NL];
        ct_average_result(&avg[k], 0, res);
        CHECK_CLOSE(res + CT_SEG_LAST * NL, last_ie[k], NL, 0, "last-token segment");
        { int ns = p.spans.subject.e - p.spans.subject.b; CHECK(avg[k].n_tok[CT_SEG_SUBJ_MID] == (ns > 2 ? ns - 2 : 0), "subject middle tokens"); }
    }
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    ct_row_plan_free(&p);
    ct_row_free(&row);
    ct_dataset_close(d);
    ct_tokenizer_free(tk);
    ct_model_free(m);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!getenv("CT_KEEP_FIGS") && system(cmd)) {}
    if (getenv("CT_KEEP_FIGS")) printf("kept %s\n", dir);
    return TEST_END();
}
