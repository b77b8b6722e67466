/* test_trace_settings.c — noise-level rules (--noise_level X and sN against a
 * textbook double-precision std of the span's embedding rows), --noise_level
 * parsing, input errors, and the logprob/logratio metrics recomputed from the
 * per-sample scores. */
#include <math.h>
#include "harness.h"
#include "ctrace_app.h"

int main(void)
{
    TEST_BEGIN();
    ct_trace_settings s;
    ct_err err = {0};
    ct_trace_settings_default(&s);
    CHECK(ct_noise_parse("s3", &s, &err) == 0 && s.noise_rule == CT_NOISE_SPAN_STD && s.noise_value == 3, "s3");
    CHECK(ct_noise_parse("0.25", &s, &err) == 0 && s.noise_rule == CT_NOISE_ABSOLUTE && s.noise_value == 0.25, "0.25");
    CHECK(ct_noise_parse("x", &s, &err) == -1, "x rejected");
    CHECK(ct_noise_parse("s", &s, &err) == -1, "bare s rejected");
    CHECK(ct_noise_parse("-1", &s, &err) == -1, "negative rejected");
    CHECK(ct_noise_parse("", &s, &err) == -1, "empty rejected");

    ct_model *m = NULL;
    if (ct_model_load(&m, ct_fixture("hf-tiny/llama_gqa"), &err)) {
        CHECK(0, "the hf-tiny llama_gqa fixture does not load: %s", err.msg);
        return TEST_END();
    }
    ct_set_threads(1);
    int32_t ids[12] = {1, 200, 13, 77, 511, 0, 5, 5, 42, 300, 128, 9}, rg[2] = {5, 9}, an[1] = {431}, cf0[1] = {7};
    const int32_t *cfs[1] = {cf0};
    int cfl[1] = {1};
    ct_trace_input in = {.ids = ids, .n_ids = 12, .ranges = rg, .n_ranges = 1, .answer = an, .n_answer = 1,
                         .n_cf = 1, .cf = cfs, .cf_len = cfl};
    ct_trace_result r, r2;

    /* sN: N × std of the target tokens' embeddings (ROME's rule) */
    ct_trace_settings_default(&s);
    s.samples = 2;
    CHECK_OK(ct_noise_parse("s3", &s, &err), &err);
    CHECK_OK(ct_trace_run(m, &in, &s, &r, &err), &err);
    int D = ct_model_d_model(m);
    float *we = malloc(sizeof(float) * 4 * D);   /* [4, D] embeddings of ids[5..9) */
    ct_embed_tokens(m, ids + 5, 4, we);
    double sum = 0, ss = 0;
    for (int k = 0; k < 4 * D; k++) sum += we[k];
    double mean = sum / (4.0 * D);
    for (int k = 0; k < 4 * D; k++) { double x = we[k] - mean; ss += x * x; }
    free(we);
    double want = 3 * sqrt(ss / (4.0 * D - 1));
    CHECK(fabs(r.noise_level - want) <= 1e-6 * want, "s3 level %.9g want %.9g", r.noise_level, want);
    ct_trace_result_free(&r);

    /* absolute level, and a level of 0 leaves the corrupted run clean */
    s.noise_rule = CT_NOISE_ABSOLUTE;
    s.noise_value = 0;
    CHECK_OK(ct_trace_run(m, &in, &s, &r, &err), &err);
    CHECK(r.noise_level == 0 && r.targets[0].low_score == r.targets[0].high_score, "level 0: low %.9g high %.9g",
          r.targets[0].low_score, r.targets[0].high_score);
    ct_trace_result_free(&r);

    /* metrics: recomputed from the per-sample scores */
    ct_trace_settings_default(&s);
    s.samples = 3;
    s.metric = CT_METRIC_LOGPROB;
    CHECK_OK(ct_trace_run(m, &in, &s, &r, &err), &err);
    s.metric = CT_METRIC_LOGRATIO;
    CHECK_OK(ct_trace_run(m, &in, &s, &r2, &err), &err);
    int TL = r.T * r.L, bad = 0;
    for (int i = 0; i < TL; i++) {
        double lp = 0, lr = 0;
        for (int k = 0; k < 3; k++) {
            double pa = r.targets[0].scores_samples[k * TL + i], pc = r.targets[1].scores_samples[k * TL + i];
            double la = r.targets[0].low_samples[k], lc = r.targets[1].low_samples[k];
            lp += log(pa) - log(la);
            lr += (log(pc) - log(pa)) - (log(lc) - log(la));
        }
        bad += fabs(lp / 3 - r.ie[i]) > 1e-5 || fabs(lr / 3 - r2.ie[i]) > 1e-5;
    }
    CHECK(bad == 0, "%d logprob/logratio ie cells differ", bad);
    double te = 0;
    for (int k = 0; k < 3; k++) te += log(r.targets[0].high_score) - log(r.targets[0].low_samples[k]);
    CHECK(fabs(te / 3 - r.te) < 1e-5, "logprob te %.9g want %.9g", r.te, te / 3);
    ct_trace_result_free(&r);
    ct_trace_result_free(&r2);

    /* input errors: one clear message each, no crash */
    ct_trace_settings_default(&s);
    s.samples = 2;
    struct { int32_t rg[4]; int nr; const char *why; } badr[] = {
        {{5, 5}, 1, "empty"}, {{9, 5}, 1, "empty"}, {{5, 13}, 1, "outside"}, {{2, 6, 5, 8}, 2, "overlap"}, {{-1, 3}, 1, "outside"},
    };
    for (size_t i = 0; i < sizeof badr / sizeof badr[0]; i++) {
        ct_trace_input b = in;
        b.ranges = badr[i].rg;
        b.n_ranges = badr[i].nr;
        err.msg[0] = 0;
        CHECK(ct_trace_run(m, &b, &s, &r, &err) == -1 && strstr(err.msg, badr[i].why), "range case %zu: '%s'", i, err.msg);
    }
    ct_trace_input b = in;
    int32_t big[1] = {100000};
    b.answer = big;
    CHECK(ct_trace_run(m, &b, &s, &r, &err) == -1 && strstr(err.msg, "vocabulary"), "answer outside vocab: '%s'", err.msg);
    b = in;
    b.n_cf = 0;
    s.metric = CT_METRIC_LOGRATIO;
    CHECK(ct_trace_run(m, &b, &s, &r, &err) == -1 && strstr(err.msg, "counterfactual"), "logratio without cf: '%s'", err.msg);
    ct_model_free(m);
    return TEST_END();
}
