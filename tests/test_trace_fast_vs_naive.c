/* test_trace_fast_vs_naive.c — the reuse engine against the reference engine
 * (one full forward pass per cell, ROME's method) on Llama-family and GPT
 * families: every kind, odd and even windows (edge clipping, duplicate window
 * sets, trunk/fork sharing on 8 layers), add and replace, reverse patching,
 * multi-token answers and counterfactuals (teacher forcing, a second token
 * group), several target ranges, every metric, the counterfactual-embeddings
 * noise and the counterfactual-passage patch source (a passage that differs
 * before the corrupted span, too).  Also: cells before the first
 * corrupted position equal the base run bit for bit, and the fast engine gives
 * the same bits with 1 and 2 threads. */
#include "harness.h"
#include "ctrace_app.h"

static const double TOL = 1e-5;
static double worst, worst_rel;

/* fast vs naive: absolute 1e-5, and 1e-3 of the table's spread, so that a
 * near-uniform table cannot pass by being flat */
static void compare(const char *what, const float *f, const float *n, long cnt)
{
    long w;
    double d = ct_max_abs_diff(f, n, cnt, &w);
    float lo = n[0], hi = n[0];
    for (long i = 1; i < cnt; i++) { lo = n[i] < lo ? n[i] : lo; hi = n[i] > hi ? n[i] : hi; }
    double spread = (double)hi - lo;
    if (d > worst) worst = d;
    if (spread > 0 && d / spread > worst_rel) worst_rel = d / spread;
    CHECK(d <= TOL && (spread == 0 || d <= 1e-3 * spread), "%s: max |fast - naive| %.3g (spread %.3g) at %ld: %.9g vs %.9g",
          what, d, spread, w, f[w], n[w]);
}

typedef struct tcase {
    ct_kind kind; int window, replace, reverse; ct_metric metric;
    int nr; int32_t ranges[4];
    int na; int32_t ans[3];
    int ncf;
    ct_noise_source noise_src;  /* with either cf source: the two-token counterfactuals cfA, cfB */
    ct_patch_source patch_src;
} tcase;

static void run_case(const char *mname, const ct_model *m, const int32_t *ids, int T, const tcase *tc)
{
    int V = ct_model_vocab(m);
    int32_t cf0[1] = {(int32_t)(7 % V)}, cf1[2] = {(int32_t)(11 % V), (int32_t)(13 % V)};
    const int32_t *cfs[2] = {cf0, cf1};
    int cfl[2] = {1, 2};
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = tc->ranges, .n_ranges = tc->nr, .answer = tc->ans,
                         .n_answer = tc->na, .n_cf = tc->ncf, .cf = cfs, .cf_len = cfl};
    /* the cf sources: two two-token counterfactuals; their passages differ from ids at
     * positions 1 and 4 (A: before the span) and at 4 (B) */
    int32_t cfA[2] = {(int32_t)(7 % V), (int32_t)(8 % V)}, cfB[2] = {(int32_t)(11 % V), (int32_t)(13 % V)};
    const int32_t *cfs2[2] = {cfA, cfB};
    int cfl2[2] = {2, 2};
    int32_t srcA[64], srcB[64];
    const int32_t *srcs[2] = {srcA, srcB};
    int cf_src = tc->noise_src != CT_NOISE_GAUSSIAN || tc->patch_src != CT_PATCH_OPPOSITE_RUN;
    if (cf_src) {
        in.cf = cfs2; in.cf_len = cfl2; in.n_cf = 2;
        memcpy(srcA, ids, (size_t)T * sizeof *ids);
        memcpy(srcB, ids, (size_t)T * sizeof *ids);
        srcA[1] = (int32_t)(17 % V); srcA[4] = (int32_t)(19 % V); srcB[4] = (int32_t)(23 % V);
        if (tc->patch_src == CT_PATCH_CF_PASSAGE) { in.n_src = 2; in.src_ids = srcs; }
    }
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.kind = tc->kind; s.window = tc->window; s.samples = 3; s.replace = tc->replace; s.reverse = tc->reverse;
    s.metric = tc->metric; s.noise_source = tc->noise_src; s.patch_source = tc->patch_src;
    char label[256];
    snprintf(label, sizeof label, "%s %s w%d %s%s%s ranges=%d answer=%d cf=%d%s%s", mname, ct_kind_name(tc->kind), tc->window,
             tc->replace ? "replace" : "add", tc->reverse ? " reverse" : "", tc->metric ? ct_metric_name(tc->metric) : "",
             tc->nr, tc->na, in.n_cf, tc->noise_src ? " cf_embeddings" : "", tc->patch_src ? " cf_passage" : "");
    ct_trace_result rf, rn;
    ct_err err = {0};
    s.engine = CT_ENGINE_FAST;
    if (ct_trace_run(m, &in, &s, &rf, &err)) { CHECK(0, "%s fast: %s", label, err.msg); return; }
    s.engine = CT_ENGINE_NAIVE;
    if (ct_trace_run(m, &in, &s, &rn, &err)) { CHECK(0, "%s naive: %s", label, err.msg); ct_trace_result_free(&rf); return; }
    int L = rf.L, S = rf.S;
    if (getenv("CT_VERBOSE")) printf("%-70s fast %.3f s naive %.3f s\n", label, rf.seconds, rn.seconds);
    long TL = (long)T * L;
    for (int k = 0; k < rf.n_targets; k++) {
        const ct_trace_target *a = &rf.targets[k], *b = &rn.targets[k];
        char l2[320];
        snprintf(l2, sizeof l2, "%s target %d scores_samples", label, k);
        compare(l2, a->scores_samples, b->scores_samples, S * TL);
        CHECK(a->high_score == b->high_score && !memcmp(a->low_samples, b->low_samples, S * sizeof(float)),
              "%s target %d: clean/corrupted runs differ between engines", label, k);
        /* before the first corrupted position: the base run's per-sample score, exactly */
        int first = T;
        for (int r = 0; r < tc->nr; r++) first = tc->ranges[2 * r] < first ? tc->ranges[2 * r] : first;
        if (tc->patch_src == CT_PATCH_CF_PASSAGE && first > 1) first = 1;   /* srcA differs at 1 */
        int bad = 0;
        for (int q = 0; q < S; q++)
            for (int t = 0; t < first; t++)
                for (int l = 0; l < L; l++) {
                    /* the base run: clean in ROME's reverse, else corrupted */
                    float want = tc->reverse && tc->patch_src == CT_PATCH_OPPOSITE_RUN ? a->high_score : a->low_samples[q];
                    bad += a->scores_samples[(size_t)q * TL + t * L + l] != want;
                }
        CHECK(bad == 0, "%s target %d: %d pre-span cells differ from the base run", label, k, bad);
    }
    snprintf(label + strlen(label), sizeof label - strlen(label), " ie");
    compare(label, rf.ie, rn.ie, TL);
    CHECK(fabsf(rf.te - rn.te) <= 1e-6f, "%s te %.9g vs %.9g", label, rf.te, rn.te);
    CHECK(rf.cells_run <= rn.cells_run, "%s: fast ran %ld cells, naive %ld", label, rf.cells_run, rn.cells_run);
    ct_trace_result_free(&rf);
    ct_trace_result_free(&rn);
}

static void one_model(const char *mname, const ct_model *m)
{
    enum { T = 12 };
    int32_t ids[T] = {1, 200, 13, 77, 511, 0, 5, 5, 42, 300, 128, 9};
    int V = ct_model_vocab(m), L = ct_model_n_layers(m);
    for (int i = 0; i < T; i++) ids[i] %= V;
    const tcase base = {.kind = CT_KIND_HIDDEN, .window = 1, .nr = 1, .ranges = {3, 6}, .na = 1, .ans = {431 % V}};
    /* hidden: add/replace × forward/reverse */
    for (int rep = 0; rep < 2; rep++)
        for (int rev = 0; rev < 2; rev++) {
            tcase tc = base;
            tc.replace = rep; tc.reverse = rev;
            run_case(mname, m, ids, T, &tc);
        }
    /* windows: odd and even, clipped at both ends; on 8 layers w = 10 makes
     * duplicate sets and trunk/fork sharing */
    int w4[] = {2, 3, 10}, w8[] = {1, 4, 5, 10};
    int *ws = L > 4 ? w8 : w4, nw = L > 4 ? 4 : 3;
    for (int kind = CT_KIND_MLP; kind <= CT_KIND_ATTN; kind++)
        for (int wi = 0; wi < nw; wi++) {
            tcase tc = base;
            tc.kind = (ct_kind)kind; tc.window = ws[wi];
            tc.replace = wi == 1; tc.reverse = wi == 2;
            run_case(mname, m, ids, T, &tc);
        }
    /* several ranges, three-token answer, single- and two-token counterfactuals, every metric */
    for (int kind = 0; kind < 3; kind++) {
        tcase tc = {.kind = (ct_kind)kind, .window = 3, .metric = (ct_metric)kind, .nr = 2, .ranges = {7, 9, 1, 3},
                    .na = 3, .ans = {431 % V, 384 % V, 5}, .ncf = 2, .reverse = kind == 2};
        run_case(mname, m, ids, T, &tc);
    }
    /* a span that starts at position 0 and one that ends at the last position */
    tcase e1 = base; e1.ranges[0] = 0; e1.ranges[1] = 2; e1.kind = CT_KIND_MLP; e1.window = 2;
    run_case(mname, m, ids, T, &e1);
    tcase e2 = base; e2.ranges[0] = 10; e2.ranges[1] = 12; e2.kind = CT_KIND_ATTN; e2.window = 4; e2.na = 2; e2.ans[1] = 3;
    run_case(mname, m, ids, T, &e2);
    /* the cf sources (the seed's e1): span [3, 5) of two tokens, the counterfactuals' length */
    const tcase cfb = {.kind = CT_KIND_HIDDEN, .window = 1, .nr = 1, .ranges = {3, 5}, .na = 1, .ans = {431 % V},
                       .metric = CT_METRIC_LOGRATIO};
    tcase c1 = cfb; c1.noise_src = CT_NOISE_CF_EMBEDDINGS;
    run_case(mname, m, ids, T, &c1);
    tcase c2 = cfb; c2.noise_src = CT_NOISE_CF_EMBEDDINGS; c2.kind = CT_KIND_MLP; c2.window = 3; c2.replace = 1; c2.reverse = 1;
    run_case(mname, m, ids, T, &c2);
    tcase c3 = cfb; c3.noise_src = CT_NOISE_CF_EMBEDDINGS; c3.patch_src = CT_PATCH_CF_PASSAGE; c3.reverse = 1;
    run_case(mname, m, ids, T, &c3);
    tcase c4 = cfb; c4.patch_src = CT_PATCH_CF_PASSAGE; c4.kind = CT_KIND_ATTN; c4.window = 2; c4.na = 2; c4.ans[1] = 3;
    c4.metric = CT_METRIC_PROB;
    run_case(mname, m, ids, T, &c4);
    tcase c5 = cfb; c5.patch_src = CT_PATCH_CF_PASSAGE; c5.kind = CT_KIND_MLP; c5.window = 4; c5.reverse = 1;
    c5.ranges[0] = 8; c5.ranges[1] = 10;
    run_case(mname, m, ids, T, &c5);
}

static int deeper(const char *dir, int layers, ct_model **out)
{
    /* the fixture's architecture with more layers and random weights: windows
     * of 10 on 8 layers give duplicate sets and trunk/fork sharing */
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    struct ct_config cfg;
    ct_err err = {0};
    if (ct_config_parse(&cfg, text, p, &err)) { printf("%s\n", err.msg); return -1; }
    cfg.n_layers = layers;
    return ct_model_random(out, &cfg, 1234, &err);
}

int main(void)
{
    TEST_BEGIN();
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* tiny models: threads only add barrier waits on a busy machine; one
     * check below runs 1 against 2 threads */
    ct_set_threads(1);
    const char *models[] = {"llama_gqa", "gpt2", "gptj", "gpt_neox", "qwen2"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char p[256];
        ct_model *m = NULL;
        ct_err err = {0};
        snprintf(p, sizeof p, "hf-tiny/%s", models[i]);
        if (ct_model_load(&m, ct_fixture(p), &err)) { CHECK(0, "%s: %s", models[i], err.msg); continue; }
        one_model(models[i], m);
        printf("%s done\n", models[i]);
        if (!strcmp(models[i], "llama_gqa") || !strcmp(models[i], "gpt_neox")) {
            ct_model *d = NULL;
            if (deeper(ct_fixture(p), 8, &d) == 0) {
                char name[64];
                snprintf(name, sizeof name, "%s-8-layers", models[i]);
                one_model(name, d);
                ct_model_free(d);
            } else CHECK(0, "random 8-layer %s", models[i]);
        }
        if (!strcmp(models[i], "llama_gqa")) {
            /* thread count must not change a bit */
            int32_t ids[12] = {1, 200, 13, 77, 511, 0, 5, 5, 42, 300, 128, 9}, rg[2] = {3, 6}, an[1] = {431};
            ct_trace_input in = {.ids = ids, .n_ids = 12, .ranges = rg, .n_ranges = 1, .answer = an, .n_answer = 1};
            ct_trace_settings s;
            ct_trace_settings_default(&s);
            s.kind = CT_KIND_MLP; s.window = 2; s.samples = 4;
            ct_trace_result a, b;
            ct_set_threads(1);
            CHECK_OK(ct_trace_run(m, &in, &s, &a, &err), &err);
            ct_set_threads(2);
            CHECK_OK(ct_trace_run(m, &in, &s, &b, &err), &err);
            ct_set_threads(1);
            CHECK(!memcmp(a.targets[0].scores_samples, b.targets[0].scores_samples, sizeof(float) * 4 * 12 * a.L),
                  "1 and 2 threads give different bits");
            ct_trace_result_free(&a);
            ct_trace_result_free(&b);
        }
        ct_model_free(m);
    }
    printf("largest |fast - naive|: %.3g (%.3g of a table's spread)\n", worst, worst_rel);
    return TEST_END();
}
