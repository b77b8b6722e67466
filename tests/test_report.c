/* test_report.c — case metadata, case files, segment averages (against sums
 * written out by hand), summary lines, and figure files.
 * CT_KEEP_FIGS=DIR keeps the figures (for looking at them). */
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace_app.h"

static char tmpdir[256];

/* Writes a case file as `ctrace run` will: ie/scores/low_score/... and the
 * case description: with_info 1 as "ctrace_case", 2 inside the "ctrace"
 * settings JSON (ct_case_write's extra_json), 0 not at all. */
static const char *wc_model;   /* when set: the "model" metadata key */
static int write_case(const char *path, const ct_case_info *ci, int L, const float *ie, float low, float high,
                      const int32_t *targets, int n_targets, int with_info, int with_ie)
{
    int T = ci->T;
    float *scores = malloc((size_t)T * L * sizeof *scores);
    int32_t *ids = malloc((size_t)T * sizeof *ids);
    for (long i = 0; i < (long)T * L; i++) scores[i] = ie[i] + low;
    for (int t = 0; t < T; t++) ids[t] = 100 + t;
    float te = high - low;
    ct_st_out o[7];
    int n = 0;
    o[n++] = (ct_st_out){"scores", CT_F32, 2, {T, L}, scores};
    if (with_ie) o[n++] = (ct_st_out){"ie", CT_F32, 2, {T, L}, ie};
    o[n++] = (ct_st_out){"low_score", CT_F32, 0, {0}, &low};
    o[n++] = (ct_st_out){"high_score", CT_F32, 0, {0}, &high};
    o[n++] = (ct_st_out){"te", CT_F32, 0, {0}, &te};
    o[n++] = (ct_st_out){"input_ids", CT_I32, 1, {T}, ids};
    if (n_targets) o[n++] = (ct_st_out){"target_ranges", CT_I32, 2, {n_targets, 2}, targets};
    cJSON *md = cJSON_CreateObject();
    cJSON_AddStringToObject(md, "kind", ci->kind);
    if (wc_model) cJSON_AddStringToObject(md, "model", wc_model);
    if (with_info == 1) {               /* a top-level "ctrace_case" string */
        char *j = ct_case_info_json(ci);
        cJSON_AddStringToObject(md, "ctrace_case", j);
        free(j);
    } else if (with_info == 2) {        /* inside the engine's settings JSON, via ct_case_extra_json */
        char *x = ct_case_extra_json(ci);
        cJSON *settings = cJSON_Parse(x);
        cJSON_AddStringToObject(settings, "kind", ci->kind);
        cJSON_AddNumberToObject(settings, "samples", 10);
        char *st = cJSON_PrintUnformatted(settings);
        cJSON_AddStringToObject(md, "ctrace", st);
        cJSON_AddStringToObject(md, "format", "ctrace-case-1");
        free(st); free(x); cJSON_Delete(settings);
    }
    char *mds = cJSON_PrintUnformatted(md);
    ct_err e;
    int rc = ct_st_write(path, o, n, mds, &e);
    if (rc) printf("write_case: %s\n", e.msg);
    free(mds); cJSON_Delete(md); free(scores); free(ids);
    return rc;
}

static char **make_tokens(int T, const char *const *words)
{
    char **t = calloc((size_t)T, sizeof *t);
    for (int i = 0; i < T; i++) {
        char b[32];
        if (words) t[i] = strdup(words[i]);
        else { snprintf(b, sizeof b, " tok%d", i); t[i] = strdup(b); }
    }
    return t;
}

/* Case A: T=9  [BOS, "C:", s, s, rel, obj, Q, Q, last]
 *   passage [2,6) subject [2,4) object [5,6) prompt [6,8)
 * Case B: T=10 [BOS, before, obj, between, s, s, s, after, Q, last]
 *   passage [1,8) object [2,3) subject [4,7) prompt [8,9) */
static void case_a(ct_case_info *ci, const char *kind)
{
    memset(ci, 0, sizeof *ci);
    snprintf(ci->kind, sizeof ci->kind, "%s", kind);
    ci->row = 0; ci->line = 1; ci->experiment = 1; ci->window = 3;
    ci->answer = strdup("Australia"); ci->metric = strdup("prob");
    ci->T = 9; ci->tokens = make_tokens(9, NULL);
    ci->spans = (ct_token_spans){.T = 9, .passage = {2, 6}, .prompt = {6, 8}, .subject = {2, 4}, .object = {5, 6},
                                 .relation = {{4, 5}}, .n_relation = 1, .last = 8};
}

static void case_b(ct_case_info *ci, const char *kind)
{
    memset(ci, 0, sizeof *ci);
    snprintf(ci->kind, sizeof ci->kind, "%s", kind);
    ci->row = 1; ci->line = 2; ci->experiment = 2; ci->window = 3; ci->reverse = 1;
    ci->answer = strdup("Paris"); ci->metric = strdup("prob"); ci->cf = strdup("Rome");
    ci->T = 10; ci->tokens = make_tokens(10, NULL);
    ci->spans = (ct_token_spans){.T = 10, .passage = {1, 8}, .prompt = {8, 9}, .subject = {4, 7}, .object = {2, 3},
                                 .relation = {{1, 2}, {3, 4}, {7, 8}}, .n_relation = 3, .last = 9};
}

#define L_ 3
static float A[9][L_], B[10][L_];

static void test_segments(void)
{
    ct_case_info ci; ct_err e;
    uint32_t m[10];
    case_b(&ci, "hidden");
    CHECK_OK(ct_segments_of(&ci.spans, 10, m, &e), &e);
    uint32_t want[10] = {0, 1u << CT_SEG_BEFORE, (1u << CT_SEG_OBJ_FIRST) | (1u << CT_SEG_OBJ_LAST), 1u << CT_SEG_BETWEEN,
                         1u << CT_SEG_SUBJ_FIRST, 1u << CT_SEG_SUBJ_MID, 1u << CT_SEG_SUBJ_LAST, 1u << CT_SEG_AFTER,
                         1u << CT_SEG_PROMPT, 1u << CT_SEG_LAST};
    for (int t = 0; t < 10; t++) CHECK(m[t] == want[t], "B token %d: mask %#x want %#x", t, m[t], want[t]);
    ct_case_info_free(&ci);
    case_a(&ci, "hidden");
    CHECK_OK(ct_segments_of(&ci.spans, 9, m, &e), &e);
    uint32_t wa[9] = {0, 0, 1u << CT_SEG_SUBJ_FIRST, 1u << CT_SEG_SUBJ_LAST, 1u << CT_SEG_BETWEEN,
                      (1u << CT_SEG_OBJ_FIRST) | (1u << CT_SEG_OBJ_LAST), 1u << CT_SEG_PROMPT, 1u << CT_SEG_PROMPT, 1u << CT_SEG_LAST};
    for (int t = 0; t < 9; t++) CHECK(m[t] == wa[t], "A token %d: mask %#x want %#x", t, m[t], wa[t]);
    ct_case_info_free(&ci);
}

static void test_info_roundtrip(void)
{
    ct_case_info a, b; ct_err e;
    case_b(&a, "mlp");
    free(a.tokens[3]); a.tokens[3] = strdup(" \"quoted\"\n\xc3\xa9");
    char *j = ct_case_info_json(&a);
    CHECK_OK(ct_case_info_parse(&b, j, &e), &e);
    CHECK(!strcmp(b.kind, "mlp") && b.row == 1 && b.line == 2 && b.experiment == 2 && b.window == 3 && b.reverse == 1, "scalars");
    CHECK(!strcmp(b.answer, "Paris") && !strcmp(b.cf, "Rome") && !strcmp(b.metric, "prob") && b.text == NULL, "strings");
    CHECK(b.T == 10 && !strcmp(b.tokens[3], a.tokens[3]) && !strcmp(b.tokens[9], " tok9"), "tokens");
    CHECK(!memcmp(&a.spans, &b.spans, sizeof a.spans), "spans equal after the round trip");
    free(j);
    ct_case_info_free(&b);
    CHECK(ct_case_info_parse(&b, "{\"kind\":\"x\",\"tokens\":[]}", &e) == -1 && strstr(e.msg, "kind"), "%s", e.msg);
    CHECK(ct_case_info_parse(&b, "{\"kind\":\"mlp\",\"tokens\":[\"a\"],\"spans\":{\"subject\":[0,5]}}", &e) == -1
          && strstr(e.msg, "outside"), "%s", e.msg);
    CHECK(ct_case_info_parse(&b, "{\"kind\":\"mlp\",\"tokens\":[\"a\"]}", &e) == -1 && strstr(e.msg, "spans"), "%s", e.msg);

    /* summary line */
    float ie[10 * L_];
    for (int i = 0; i < 10 * L_; i++) ie[i] = (float)(i % 7) * 0.01f;
    ie[5 * L_ + 2] = 0.5f;
    char *s = ct_summary_line(&a, L_, ie, 0.8f, 0.1f, 0.7f);
    cJSON *o = cJSON_Parse(s);
    CHECK(o != NULL, "summary is JSON: %s", s);
    cJSON *top = cJSON_GetObjectItem(o, "top_ie");
    CHECK(top && cJSON_GetObjectItem(top, "token")->valueint == 5 && cJSON_GetObjectItem(top, "layer")->valueint == 2
          && fabs(cJSON_GetObjectItem(top, "ie")->valuedouble - 0.5) < 1e-6, "top cell: %s", s);
    CHECK(fabs(cJSON_GetObjectItem(o, "te")->valuedouble - 0.7) < 1e-6 && cJSON_GetArraySize(cJSON_GetObjectItem(o, "tokens")) == 10
          && !strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, "mlp"), "summary fields");
    cJSON_Delete(o); free(s);
    s = ct_error_line(4, 5, "d.jsonl", "line 5: empty answer");
    CHECK(!strcmp(s, "{\"row\":4,\"line\":5,\"file\":\"d.jsonl\",\"error\":\"line 5: empty answer\"}"), "%s", s);
    free(s);
    ct_case_info_free(&a);
}

static int file_starts(const char *path, const char *magic, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char b[16] = {0};
    size_t n = fread(b, 1, strlen(magic), f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fclose(f);
    return n == strlen(magic) && !memcmp(b, magic, n);
}

static void test_average(void)
{
    char cases[300], path[400];
    snprintf(cases, sizeof cases, "%s/run1/cases", tmpdir);
    char d1[300]; snprintf(d1, sizeof d1, "%s/run1", tmpdir);
    mkdir(d1, 0777); mkdir(cases, 0777);
    char d2[300]; snprintf(d2, sizeof d2, "%s/run2", tmpdir); mkdir(d2, 0777);   /* a shard holding .bin files directly */
    for (int t = 0; t < 9; t++) for (int l = 0; l < L_; l++) A[t][l] = (float)((t + 1) * (l + 1)) * 0.01f;
    for (int t = 0; t < 10; t++) for (int l = 0; l < L_; l++) B[t][l] = (float)((t + 2) * (3 - l)) * 0.02f - 0.05f;
    ct_case_info a, b;
    case_a(&a, "hidden"); case_b(&b, "hidden");
    /* the same design as A (experiment 1, restoring, prob, original passage);
     * B as case_b has it (experiment 2, reverse, a counterfactual context) is
     * used below for the refusals */
    b.experiment = 1; b.reverse = 0; free(b.cf); b.cf = NULL;
    int32_t tr[2] = {2, 4};
    snprintf(path, sizeof path, "%s/0_hidden_Australia.bin", cases);
    CHECK(write_case(path, &a, L_, &A[0][0], 0.1f, 0.9f, tr, 1, 1, 1) == 0, "write A");
    snprintf(path, sizeof path, "%s/1_hidden_Paris.bin", d2);
    CHECK(write_case(path, &b, L_, &B[0][0], 0.2f, 0.7f, NULL, 0, 2, 0) == 0, "write B (scores only, engine-style metadata)");
    /* an mlp case (A again) and a file with no ctrace_case: averaged / skipped */
    snprintf(a.kind, sizeof a.kind, "mlp");
    snprintf(path, sizeof path, "%s/0_mlp_Australia.bin", cases);
    CHECK(write_case(path, &a, L_, &A[0][0], 0.1f, 0.9f, tr, 1, 1, 1) == 0, "write A mlp");
    snprintf(path, sizeof path, "%s/0_attention_Australia.bin", cases);
    CHECK(write_case(path, &a, L_, &A[0][0], 0.1f, 0.9f, tr, 1, 0, 1) == 0, "write no-info");

    /* ct_case_load: ie from "scores" - "low_score" when "ie" is absent */
    ct_case c; ct_err e;
    snprintf(path, sizeof path, "%s/1_hidden_Paris.bin", d2);
    CHECK_OK(ct_case_load(&c, path, &e), &e);
    if (c.ie) {
        CHECK(c.T == 10 && c.L == L_ && c.has_info && c.info.cf == NULL, "loaded B");
        CHECK_CLOSE(c.ie, &B[0][0], 10 * L_, 1e-6, "B ie from scores - low_score");
        CHECK(fabsf(c.te - 0.5f) < 1e-6, "te %g", c.te);
    }
    ct_case_free(&c);

    const char *dirs[2] = {d1, d2};
    ct_average avg[3];
    for (int k = 0; k < 3; k++) ct_average_init(&avg[k]);
    int skipped = 0; ct_err first;
    CHECK_OK(ct_average_dirs(avg, dirs, 2, CT_CTX_ALL, &skipped, &first, &e), &e);
    CHECK(skipped == 1 && strstr(first.msg, "no case description"), "skipped %d: %s", skipped, first.msg);
    CHECK(avg[0].n_cases == 2 && avg[1].n_cases == 1 && avg[2].n_cases == 0, "cases per kind %d %d %d",
          avg[0].n_cases, avg[1].n_cases, avg[2].n_cases);
    CHECK(avg[0].window == 1 && avg[1].window == 3, "window %d %d", avg[0].window, avg[1].window);

    /* The reference, written out segment by segment from the layouts above. */
    float want_case[CT_SEG_COUNT][L_], want_pool[CT_SEG_COUNT][L_];
    int want_nc[CT_SEG_COUNT] = {1, 2, 1, 2, 2, 2, 0, 2, 1, 2, 2};
    long want_nt[CT_SEG_COUNT] = {1, 2, 1, 2, 2, 2, 0, 2, 1, 3, 2};
    for (int l = 0; l < L_; l++) {
        want_case[CT_SEG_BEFORE][l] = B[1][l];
        want_case[CT_SEG_SUBJ_FIRST][l] = (A[2][l] + B[4][l]) / 2;
        want_case[CT_SEG_SUBJ_MID][l] = B[5][l];
        want_case[CT_SEG_SUBJ_LAST][l] = (A[3][l] + B[6][l]) / 2;
        want_case[CT_SEG_BETWEEN][l] = (A[4][l] + B[3][l]) / 2;
        want_case[CT_SEG_OBJ_FIRST][l] = (A[5][l] + B[2][l]) / 2;
        want_case[CT_SEG_OBJ_MID][l] = NAN;
        want_case[CT_SEG_OBJ_LAST][l] = (A[5][l] + B[2][l]) / 2;
        want_case[CT_SEG_AFTER][l] = B[7][l];
        want_case[CT_SEG_PROMPT][l] = ((A[6][l] + A[7][l]) / 2 + B[8][l]) / 2;
        want_case[CT_SEG_LAST][l] = (A[8][l] + B[9][l]) / 2;
        for (int s = 0; s < CT_SEG_COUNT; s++) want_pool[s][l] = want_case[s][l];
        want_pool[CT_SEG_PROMPT][l] = (A[6][l] + A[7][l] + B[8][l]) / 3;
    }
    float got[CT_SEG_COUNT * L_];
    ct_average_result(&avg[0], 0, got);
    CHECK(isnan(got[CT_SEG_OBJ_MID * L_]), "empty segment is NaN");
    got[CT_SEG_OBJ_MID * L_] = got[CT_SEG_OBJ_MID * L_ + 1] = got[CT_SEG_OBJ_MID * L_ + 2] = 0;
    for (int l = 0; l < L_; l++) want_case[CT_SEG_OBJ_MID][l] = want_pool[CT_SEG_OBJ_MID][l] = 0;
    CHECK_CLOSE(got, &want_case[0][0], CT_SEG_COUNT * L_, 1e-6, "case-mean averages");
    ct_average_result(&avg[0], 1, got);
    got[CT_SEG_OBJ_MID * L_] = got[CT_SEG_OBJ_MID * L_ + 1] = got[CT_SEG_OBJ_MID * L_ + 2] = 0;
    CHECK_CLOSE(got, &want_pool[0][0], CT_SEG_COUNT * L_, 1e-6, "pooled averages");
    for (int s = 0; s < CT_SEG_COUNT; s++)
        CHECK(avg[0].n_case[s] == want_nc[s] && avg[0].n_tok[s] == want_nt[s], "segment %s: n_case %d n_tok %ld",
              ct_segment_key(s), avg[0].n_case[s], avg[0].n_tok[s]);

    /* ROME's six rows relative to the corrupted tokens, by hand:
     *   A: corrupted [2,4) (target_ranges): first 2, last 3, no middle,
     *      first subsequent 4, further 5..7, last 8;
     *   B: no target_ranges, experiment 1: the subject [4,7): first 4,
     *      middle 5, last 6, first subsequent 7, further 8, last 9. */
    {
        float want[CT_ROME_COUNT][L_], wci[CT_ROME_COUNT][L_], got6[CT_ROME_COUNT * L_];
        for (int l = 0; l < L_; l++) {
            want[0][l] = (A[2][l] + B[4][l]) / 2;
            want[1][l] = B[5][l];
            want[2][l] = (A[3][l] + B[6][l]) / 2;
            want[3][l] = (A[4][l] + B[7][l]) / 2;
            want[4][l] = ((A[5][l] + A[6][l] + A[7][l]) / 3 + B[8][l]) / 2;
            want[5][l] = (A[8][l] + B[9][l]) / 2;
            /* two cases x1, x2: std (n - 1) = |x1 - x2| / sqrt 2, so 1.96 std / sqrt 2 = 0.98 |x1 - x2| */
            wci[0][l] = 0.98f * fabsf(A[2][l] - B[4][l]);
            wci[1][l] = 0;   /* n = 1: NaN, compared as 0 below */
            wci[2][l] = 0.98f * fabsf(A[3][l] - B[6][l]);
            wci[3][l] = 0.98f * fabsf(A[4][l] - B[7][l]);
            wci[4][l] = 0.98f * fabsf((A[5][l] + A[6][l] + A[7][l]) / 3 - B[8][l]);
            wci[5][l] = 0.98f * fabsf(A[8][l] - B[9][l]);
        }
        ct_average_stat(&avg[0], CT_ROME_CORR_FIRST, CT_ROME_COUNT, CT_STAT_CASE_MEAN, got6);
        CHECK_CLOSE(got6, &want[0][0], CT_ROME_COUNT * L_, 1e-6, "ROME rows: case means");
        ct_average_stat(&avg[0], CT_ROME_CORR_FIRST, CT_ROME_COUNT, CT_STAT_CI95, got6);
        CHECK(isnan(got6[L_]), "one case in the middle row: no interval (%g)", got6[L_]);
        for (int l = 0; l < L_; l++) got6[L_ + l] = 0;
        CHECK_CLOSE(got6, &wci[0][0], CT_ROME_COUNT * L_, 1e-6, "ROME rows: 95% half-widths");
        int wn[CT_ROME_COUNT] = {2, 1, 2, 2, 2, 2};
        for (int j = 0; j < CT_ROME_COUNT; j++)
            CHECK(avg[0].n_case[CT_SEG_COUNT + j] == wn[j], "%s: n %d want %d", ct_segment_key(CT_SEG_COUNT + j),
                  avg[0].n_case[CT_SEG_COUNT + j], wn[j]);
        double ate, aci;
        ct_average_ate(&avg[0], &ate, &aci);
        /* TE: A 0.9 - 0.1, B 0.7 - 0.2 */
        CHECK(fabs(ate - 0.65) < 1e-6 && fabs(aci - 0.98 * 0.3) < 1e-6 && avg[0].n_te == 2, "ATE %g +- %g (n %d)", ate, aci, avg[0].n_te);
        CHECK(avg[0].experiment == 1 && avg[0].reverse == 0 && avg[0].cf_context == 0 && !strcmp(avg[0].metric, "prob"), "design recorded");
    }

    /* refusals: B with another experiment, direction, metric, context, model
     * beside A; the message names both files and what differs */
    {
        char d3[300]; snprintf(d3, sizeof d3, "%s/run3", tmpdir); mkdir(d3, 0777);
        const char *mixed[2] = {d1, d3};
        const char *want_msg[5] = {"experiment 2", "reverse patching", "metric logprob", "counterfactual context", "model other-model but"};
        for (int v = 0; v < 5; v++) {
            ct_case_info x;
            case_b(&x, "hidden");
            x.experiment = v == 0 ? 2 : 1; x.reverse = v == 1;
            if (v == 2) { free(x.metric); x.metric = strdup("logprob"); }
            if (v != 3) { free(x.cf); x.cf = NULL; }
            wc_model = v == 4 ? "/models/other-model" : NULL;
            snprintf(path, sizeof path, "%s/1_hidden_Paris.bin", d3);
            CHECK(write_case(path, &x, L_, &B[0][0], 0.2f, 0.7f, NULL, 0, 2, 0) == 0, "write variant %d", v);
            wc_model = NULL;
            if (v == 4) {   /* a case of model "demo" beside one of "other-model", in the one dir */
                wc_model = "models/demo/";
                snprintf(path, sizeof path, "%s/0_hidden_Australia.bin", d3);
                CHECK(write_case(path, &a, L_, &A[0][0], 0.1f, 0.9f, tr, 1, 1, 1) == 0, "write A with a model");
                wc_model = NULL;
            }
            ct_average m3[3];
            for (int k = 0; k < 3; k++) ct_average_init(&m3[k]);
            int rc = ct_average_dirs(m3, v == 4 ? mixed + 1 : mixed, v == 4 ? 1 : 2, CT_CTX_ALL, NULL, NULL, &e);
            CHECK(rc == -1 && strstr(e.msg, want_msg[v]) && strstr(e.msg, "1_hidden_Paris.bin") && strstr(e.msg, "does not mix"),
                  "variant %d: rc %d: %s", v, rc, e.msg);
            for (int k = 0; k < 3; k++) ct_average_free(&m3[k]);
            /* a counterfactual-context case is taken alone with --contexts cf, left out with original */
            if (v == 3) {
                for (int which = CT_CTX_ORIGINAL; which <= CT_CTX_CF; which++) {
                    ct_average sub[3];
                    for (int k = 0; k < 3; k++) ct_average_init(&sub[k]);
                    int sk = 0;
                    CHECK_OK(ct_average_dirs(sub, mixed, 2, which, &sk, NULL, &e), &e);
                    int want_h = 1, want_m = which == CT_CTX_ORIGINAL;
                    CHECK(sub[0].n_cases == want_h && sub[1].n_cases == want_m && sk == 1 && sub[0].contexts == which
                          && sub[0].cf_context == (which == CT_CTX_CF),
                          "contexts %d: hidden %d mlp %d skipped %d", which, sub[0].n_cases, sub[1].n_cases, sk);
                    float r1[CT_SEG_COUNT * L_];
                    ct_average_result(&sub[0], 0, r1);
                    const float *want_last = which == CT_CTX_CF ? B[9] : A[8];
                    CHECK_CLOSE(r1 + CT_SEG_LAST * L_, want_last, L_, 1e-7, "last token of the one case");
                    for (int k = 0; k < 3; k++) ct_average_free(&sub[k]);
                }
            }
            ct_case_info_free(&x);
        }
    }

    /* a case with another layer count is refused */
    uint32_t m[9] = {0};
    CHECK(ct_average_add(&avg[0], &A[0][0], 9, 2, m, &e) == -1 && strstr(e.msg, "layers"), "%s", e.msg);

    /* files: CSV, per-kind and joint figures, in three formats */
    const char *keep = getenv("CT_KEEP_FIGS");
    const char *fd = keep ? keep : tmpdir;
    snprintf(path, sizeof path, "%s/average.csv", fd);
    CHECK_OK(ct_average_write_csv(avg, path, &e), &e);
    FILE *f = fopen(path, "r");
    char line[4096]; int lines = 0, found = 0;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        if (!strncmp(line, "hidden,pooled,prompt,2,3,3,", 27)) found++;
        double x;
        if (sscanf(line, "hidden,ate,te,2,0,2,%lf", &x) == 1 && fabs(x - 0.65) < 1e-6) found++;
        if (sscanf(line, "hidden,ate_ci95,te,2,0,2,%lf", &x) == 1 && fabs(x - 0.294) < 1e-6) found++;
        if (!strncmp(line, "hidden,ci95,rome_corr_mid,1,1,1,,,", 34)) found++;
    }
    if (f) fclose(f);
    CHECK(lines == 1 + 2 * (3 * CT_SEG_ALL + 2) && found == 4, "csv: %d lines, pooled prompt row %s", lines, found == 4 ? "found" : "missing");
    int kinds[2] = {0, 1};
    ct_plot_format fmts[3] = {CT_PLOT_PDF, CT_PLOT_PNG, CT_PLOT_SVG};
    const char *magic[3] = {"%PDF-", "\x89PNG", "<?xml"};
    for (int i = 0; i < 3; i++) {
        long sz = 0;
        snprintf(path, sizeof path, "%s/average_all.%s", fd, ct_plot_format_ext(fmts[i]));
        CHECK_OK(ct_average_plot(avg, kinds, 2, 0, path, fmts[i], &e), &e);
        CHECK(file_starts(path, magic[i], &sz) && sz > 1000, "%s: header/size %ld", path, sz);
    }
    long sz = 0;
    snprintf(path, sizeof path, "%s/average_hidden_pooled.pdf", fd);
    CHECK_OK(ct_average_plot(avg, kinds, 1, 1, path, CT_PLOT_PDF, &e), &e);
    CHECK(file_starts(path, "%PDF-", &sz) && sz > 1000, "pooled pdf %ld", sz);
    CHECK(ct_average_plot(avg, (int[]){2}, 1, 0, path, CT_PLOT_PDF, &e) == -1 && strstr(e.msg, "no attention cases"), "%s", e.msg);
    snprintf(path, sizeof path, "/nonexistent-dir/x.pdf");
    CHECK(ct_average_plot(avg, kinds, 1, 0, path, CT_PLOT_PDF, &e) == -1, "unwritable path fails");
    for (int k = 0; k < 3; k++) ct_average_free(&avg[k]);
    ct_case_info_free(&a); ct_case_info_free(&b);
}

/* One case figure: a real-looking prompt, and a 150-token one. */
static void test_case_figures(void)
{
    static const char *words[] = {"<s>", "C", ":", " Mount", " Strom", "lo", " is", " located", " in", " the", " country",
        " of", " Australia", ".", " Q", ":", " The", " country", " where", " Mount", " Strom", "lo", " is", " located", " is", " A", ":"};
    int T = (int)(sizeof words / sizeof words[0]), L = 22;
    const char *fd = getenv("CT_KEEP_FIGS") ? getenv("CT_KEEP_FIGS") : tmpdir;
    ct_case_info ci; ct_err e;
    memset(&ci, 0, sizeof ci);
    ci.T = T; ci.tokens = make_tokens(T, words);
    ci.answer = strdup("Australia"); ci.metric = strdup("prob"); ci.experiment = 1; ci.window = 10;
    ci.spans = (ct_token_spans){.T = T, .passage = {3, 14}, .prompt = {16, 25}, .subject = {3, 6}, .object = {12, 13},
                                .relation = {{6, 12}, {13, 14}}, .n_relation = 2, .last = T - 1};
    float *ie = calloc((size_t)T * L, sizeof *ie);
    /* ROME-like picture: early site at the last subject token, late site at the last token */
    for (int t = 3; t < T; t++)
        for (int l = 0; l < L; l++) {
            double v = 0.02 * (t >= 3);
            if (t == 5) v += 0.55 * exp(-(l - 6) * (l - 6) / 18.0);
            if (t == T - 1) v += 0.6 / (1 + exp(-(l - 12) / 1.5));
            if (t == 12) v += 0.2 * exp(-(l - 3) * (l - 3) / 8.0);
            ie[t * L + l] = (float)v;
        }
    const char *kinds[3] = {"hidden", "mlp", "attention"};
    int32_t tr[2] = {3, 6};
    for (int k = 0; k < 3; k++) {
        char path[400];
        snprintf(ci.kind, sizeof ci.kind, "%s", kinds[k]);
        snprintf(path, sizeof path, "%s/case_%s.bin", fd, kinds[k]);
        CHECK(write_case(path, &ci, L, ie, 0.05f, 0.75f, tr, 1, 1, 1) == 0, "write");
        ct_case c; ct_case_figure fig;
        CHECK_OK(ct_case_load(&c, path, &e), &e);
        CHECK_OK(ct_case_figure_of(&fig, &c, &e), &e);
        CHECK(fig.star[3] && fig.star[5] && !fig.star[6] && !fig.star[2], "stars from target_ranges");
        snprintf(path, sizeof path, "%s/case_%s.pdf", fd, kinds[k]);
        CHECK_OK(ct_heatmap_write(&fig.h, 1, path, CT_PLOT_PDF, &e), &e);
        long sz = 0;
        CHECK(file_starts(path, "%PDF-", &sz) && sz > 1000, "case pdf %ld", sz);
        if (k == 0) {
            CHECK(strstr(fig.title, "Impact of restoring state after corrupted input") && !strcmp(fig.xlabel, "single restored layer"),
                  "hidden texts: %s / %s", fig.title, fig.xlabel);
        } else if (k == 1) {
            CHECK(!strcmp(fig.xlabel, "center of interval of 10 restored MLP layers"), "mlp xlabel: %s", fig.xlabel);
        }
        ct_case_figure_free(&fig);
        ct_case_free(&c);
    }
    free(ie);
    ct_case_info_free(&ci);

    /* 150 tokens, 32 layers, with invalid UTF-8 and newlines in the labels */
    T = 150; L = 32;
    memset(&ci, 0, sizeof ci);
    snprintf(ci.kind, sizeof ci.kind, "attention");
    ci.T = T; ci.tokens = make_tokens(T, NULL);
    free(ci.tokens[7]); ci.tokens[7] = strdup("\xe2\x96");    /* a byte-fallback half character */
    free(ci.tokens[8]); ci.tokens[8] = strdup("\n");
    ci.answer = strdup("Sweden national team"); ci.metric = strdup("logprob"); ci.experiment = 3; ci.window = 10;
    ci.spans = (ct_token_spans){.T = T, .passage = {3, 120}, .prompt = {122, 148}, .subject = {10, 13}, .object = {60, 62},
                                .relation = {{3, 10}, {13, 60}, {62, 120}}, .n_relation = 3, .last = T - 1};
    ie = calloc((size_t)T * L, sizeof *ie);
    for (int t = 0; t < T; t++) for (int l = 0; l < L; l++) ie[t * L + l] = (float)(0.001 * ((t * 7 + l * 3) % 50)) - 0.01f;
    char path[400];
    snprintf(path, sizeof path, "%s/case_long.bin", fd);
    CHECK(write_case(path, &ci, L, ie, -3.0f, -0.5f, NULL, 0, 1, 1) == 0, "write long");
    ct_case c; ct_case_figure fig;
    CHECK_OK(ct_case_load(&c, path, &e), &e);
    CHECK_OK(ct_case_figure_of(&fig, &c, &e), &e);
    CHECK(fig.star[3] && fig.star[13] && !fig.star[10] && !fig.star[60] && fig.star[119] && !fig.star[120], "relation stars");
    ct_plot_format fmts[3] = {CT_PLOT_PDF, CT_PLOT_PNG, CT_PLOT_SVG};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/case_long.%s", fd, ct_plot_format_ext(fmts[i]));
        CHECK_OK(ct_heatmap_write(&fig.h, 1, path, fmts[i], &e), &e);
        long sz = 0;
        FILE *f = fopen(path, "rb");
        if (f) { fseek(f, 0, SEEK_END); sz = ftell(f); fclose(f); }
        CHECK(sz > 2000, "%s size %ld", path, sz);
    }
    ct_case_figure_free(&fig);
    ct_case_free(&c);
    free(ie);
    ct_case_info_free(&ci);

    /* a file with neither ie nor scores is refused with its name */
    snprintf(path, sizeof path, "%s/bad.bin", tmpdir);
    float x = 1;
    ct_st_out o = {"low_score", CT_F32, 0, {0}, &x};
    CHECK_OK(ct_st_write(path, &o, 1, NULL, &e), &e);
    CHECK(ct_case_load(&c, path, &e) == -1 && strstr(e.msg, "bad.bin: no \"ie\" or \"scores\""), "%s", e.msg);
}

static void test_names_and_run_json(void)
{
    char b[256];
    CHECK(ct_case_name(b, sizeof b, 12, "mlp", "United States_of America") == 0 && !strcmp(b, "12_mlp_United-States-of-America.bin"), "%s", b);
    CHECK(ct_case_name(b, sizeof b, 3, "hidden", "AC/DC") == 0 && !strcmp(b, "3_hidden_AC-DC.bin"), "%s", b);
    CHECK(ct_pdf_name(b, sizeof b, " Australia ", 0, "hidden", NULL, "pdf") == 0 && !strcmp(b, "Australia_0_hidden.pdf"), "%s", b);
    CHECK(ct_pdf_name(b, sizeof b, "New York", 7, "attention", "Los Angeles", "png") == 0
          && !strcmp(b, "New York_7_attention_Los-Angeles.png"), "%s", b);
    CHECK(ct_case_name(b, 8, 12, "mlp", "Sweden") == -1, "too small");
    char *argv[] = {"ctrace", "run", "--samples", "3"};
    ct_run_record r = {.argc = 4, .argv = argv, .settings_json = "{\"samples\":3}", .model = "m", .data_path = "d.jsonl",
                       .started = 1700000000, .finished = 1700000012.5, .rows_total = 5, .rows_ok = 4, .rows_skipped = 1,
                       .cases_written = 12};
    char *j = ct_run_json(&r);
    cJSON *o = cJSON_Parse(j);
    CHECK(o && !strcmp(cJSON_GetObjectItem(o, "ctrace_version")->valuestring, CTRACE_VERSION)
          && cJSON_GetArraySize(cJSON_GetObjectItem(o, "argv")) == 4
          && cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "samples")->valueint == 3
          && fabs(cJSON_GetObjectItem(o, "seconds")->valuedouble - 12.5) < 1e-9
          && !strcmp(cJSON_GetObjectItem(o, "started")->valuestring, "2023-11-14T22:13:20Z")
          && cJSON_GetObjectItem(cJSON_GetObjectItem(o, "rows"), "skipped")->valueint == 1
          && cJSON_IsNull(cJSON_GetObjectItem(o, "tokenizer")), "run.json: %s", j);
    cJSON_Delete(o); free(j);
}

static void rm_rf(const char *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd)) {}
}

int main(void)
{
    TEST_BEGIN();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ct_test_report_XXXXXX");
    if (!mkdtemp(tmpdir)) { printf("mkdtemp failed\n"); return 1; }
    test_segments();
    test_info_roundtrip();
    test_average();
    test_case_figures();
    test_names_and_run_json();
    rm_rf(tmpdir);
    return TEST_END();
}
