/* test_trace_rome.c — ct_trace_run against ROME's own causal traces of the
 * hf-tiny models (tests/fixtures/traces, computed by experiments/causal_trace.py
 * with RandomState(1) noise), with both engines: hidden, mlp/attn windows 4
 * and 3, replace, reverse patching and a two-token answer. */
#include "harness.h"
#include "ctrace_app.h"

static const float TOL = 1e-5f;
static double worst;            /* the largest difference seen, printed at the end */

static void note(const float *a, const float *b, long n)
{
    if (!a || !b) return;
    double d = ct_max_abs_diff(a, b, n, NULL);
    if (d > worst) worst = d;
}

static const float *f32(ct_st_file *f, const char *name)
{
    const ct_tensor_view *t = ct_st_find(f, name);
    return t && t->dtype == CT_F32 ? (const float *)t->data : NULL;
}

static int trace(const ct_model *m, const int32_t *ids, int T, const int32_t *span, const int32_t *ans, int na,
                 ct_kind kind, int window, int replace, int reverse, ct_engine eng, ct_trace_result *r)
{
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.kind = kind; s.window = window; s.samples = 3; s.seed = 1;
    s.replace = replace; s.reverse = reverse; s.engine = eng;
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = span, .n_ranges = 1, .answer = ans, .n_answer = na};
    ct_err err = {0};
    if (ct_trace_run(m, &in, &s, r, &err)) { printf("ct_trace_run: %s\n", err.msg); return -1; }
    return 0;
}

static void one_model(const char *name)
{
    char p[256];
    ct_err err = {0};
    ct_model *m = NULL;
    snprintf(p, sizeof p, "hf-tiny/%s", name);
    if (ct_model_load(&m, ct_fixture(p), &err)) {
        CHECK(0, "%s: the model does not load (%s)", name, err.msg);
        return;
    }
    ct_st_file f;
    snprintf(p, sizeof p, "traces/%s.safetensors", name);
    CHECK_OK(ct_st_open(&f, ct_fixture(p), &err), &err);
    if (err.msg[0]) { ct_model_free(m); return; }
    const ct_tensor_view *pv = ct_st_find(&f, "prompt_ids");
    const int32_t *ids = pv->data, *span = ct_st_find(&f, "span")->data, *ans = ct_st_find(&f, "answer_id")->data;
    int T = (int)pv->numel, L = ct_model_n_layers(m);
    struct { const char *tensor; ct_kind kind; int window, replace; } tables[] = {
        {"scores_hidden", CT_KIND_HIDDEN, 0, 0}, {"scores_mlp_w4", CT_KIND_MLP, 4, 0},
        {"scores_attn_w4", CT_KIND_ATTN, 4, 0}, {"scores_mlp_w3", CT_KIND_MLP, 3, 0},
        {"scores_hidden_replace", CT_KIND_HIDDEN, 0, 1},
    };
    for (int e = 0; e < 2; e++) {
        ct_engine eng = e ? CT_ENGINE_NAIVE : CT_ENGINE_FAST;
        char label[256];
        for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++) {
            ct_trace_result r;
            if (trace(m, ids, T, span, ans, 1, tables[k].kind, tables[k].window, tables[k].replace, 0, eng, &r)) {
                CHECK(0, "%s %s", name, tables[k].tensor);
                continue;
            }
            snprintf(label, sizeof label, "%s %s (%s)", name, tables[k].tensor, ct_engine_name(eng));
            CHECK(f32(&f, tables[k].tensor) != NULL, "%s", label);
            CHECK_CLOSE(r.targets[0].scores, f32(&f, tables[k].tensor), (long)T * L, TOL, label);
            note(r.targets[0].scores, f32(&f, tables[k].tensor), (long)T * L);
            snprintf(label, sizeof label, "%s high_score (%s)", name, ct_engine_name(eng));
            CHECK_CLOSE(&r.targets[0].high_score, f32(&f, "high_score"), 1, TOL, label);
            const char *lowname = tables[k].replace ? "low_score_replace" : "low_score";
            snprintf(label, sizeof label, "%s %s (%s)", name, lowname, ct_engine_name(eng));
            CHECK_CLOSE(&r.targets[0].low_score, f32(&f, lowname), 1, TOL, label);
            if (!tables[k].replace) {
                snprintf(label, sizeof label, "%s low_p_rows (%s)", name, ct_engine_name(eng));
                CHECK_CLOSE(r.targets[0].low_samples, f32(&f, "low_p_rows") + 1, 3, TOL, label);
            }
            if (eng == CT_ENGINE_FAST) {   /* before the span: the corrupted score, bit for bit */
                int bad = 0;
                for (int t = 0; t < span[0]; t++)
                    for (int l = 0; l < L; l++) bad += r.targets[0].scores[t * L + l] != r.targets[0].low_score;
                CHECK(bad == 0, "%s %s: %d pre-span cells differ from low_score", name, tables[k].tensor, bad);
            }
            ct_trace_result_free(&r);
        }
        /* reverse patching */
        const float *rev = f32(&f, "scores_reverse_hidden");
        if (rev) {
            ct_trace_result r;
            if (!trace(m, ids, T, span, ans, 1, CT_KIND_HIDDEN, 0, 0, 1, eng, &r)) {
                snprintf(label, sizeof label, "%s scores_reverse_hidden (%s)", name, ct_engine_name(eng));
                CHECK_CLOSE(r.targets[0].scores, rev, (long)T * L, TOL, label);
                note(r.targets[0].scores, rev, (long)T * L);
                CHECK_CLOSE(&r.targets[0].scores[0], f32(&f, "reverse_clean_score"), 1, TOL, "reverse_clean_score");
                ct_trace_result_free(&r);
            } else CHECK(0, "%s reverse", name);
        }
        /* two-token answer by teacher forcing */
        const ct_tensor_view *a2 = ct_st_find(&f, "mt2_answer_ids");
        if (a2) {
            ct_trace_result r;
            if (!trace(m, ids, T, span, a2->data, 2, CT_KIND_HIDDEN, 0, 0, 0, eng, &r)) {
                snprintf(label, sizeof label, "%s mt2_scores_hidden (%s)", name, ct_engine_name(eng));
                CHECK_CLOSE(r.targets[0].scores, f32(&f, "mt2_scores_hidden"), (long)T * L, TOL, label);
                note(r.targets[0].scores, f32(&f, "mt2_scores_hidden"), (long)T * L);
                CHECK_CLOSE(&r.targets[0].high_score, f32(&f, "mt2_high_score"), 1, TOL, "mt2_high_score");
                CHECK_CLOSE(&r.targets[0].low_score, f32(&f, "mt2_low_score"), 1, TOL, "mt2_low_score");
                ct_trace_result_free(&r);
            } else CHECK(0, "%s mt2", name);
        }
    }
    printf("%s: compared\n", name);
    ct_st_close(&f);
    ct_model_free(m);
}

int main(void)
{
    TEST_BEGIN();
    const char *models[] = {"gpt2", "gptj", "gpt_neox", "llama_gqa", "qwen2", "llama3_tied"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) one_model(models[i]);
    printf("largest |ctrace - ROME| over all tables: %.3g\n", worst);
    return TEST_END();
}
