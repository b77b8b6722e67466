/* test_trace_heads.c — the head kind (CT_KIND_HEAD: cell (t, l, h) restores
 * query head h's attention context z at position t of layer l).
 *
 *   1. Against an independent implementation: tools/heads/reference.py (its
 *      own float64 forward passes of all 12 hf-tiny families — GQA and MQA
 *      (llama_gqa, qwen2, mistral, phi3, gemma, llama3_tied), parallel
 *      residuals (gpt_neox, gptj, phi), partial and interleaved rotary, norms
 *      after the sublayers and soft caps (gemma2), bf16 weights — checked
 *      against transformers' logits, with a hook on the input of the output
 *      projection) wrote traces/heads.safetensors: ROME's procedure per
 *      (t, l, h) with ctrace's noise.  Both engines must match it to 1e-5 in p
 *      and to 1e-3 of the grid's spread, forward and (llama_gqa) reverse, on
 *      all 12 families.
 *   2. Fast engine against naive on several families and edge layouts (span
 *      at position 0, span ending at the last position, multi-token answer and
 *      a counterfactual with its own token group, replace, reverse, 8 layers
 *      (passes of several layers' head cells), more heads than layers).
 *   3. The site: restoring all heads of layer l at position t equals restoring
 *      the whole attention output of (t, l) (window 1), on every hf-tiny
 *      family, through ct_block's patch callback: z is exactly what the output
 *      projection reads.
 *   4. Direct logit attribution (ct_attribute, ct_attribute_corrupted): each
 *      part against the reference (1e-4), clean and corrupted (mean over samples), and on every family the parts add up to the total and
 *      the total is the logit difference of ct_forward's logits (1e-4). */
#include "harness.h"
#include "ctrace.h"

static const char *FAMILIES[] = {"llama_gqa", "qwen2", "gpt2", "gpt_neox", "gemma2", "gemma", "gptj", "llama3_tied",
                                 "llama_bf16", "mistral", "phi", "phi3"};
static double worst_ref, worst_rel, worst_fn;

static int load(const char *name, ct_model **m)
{
    char p[256];
    ct_err err = {0};
    snprintf(p, sizeof p, "hf-tiny/%s", name);
    if (ct_model_load(m, ct_fixture(p), &err)) { CHECK(0, "%s: %s", name, err.msg); return -1; }
    return 0;
}

/* 1. the reference's scores, both engines */
static void against_reference(void)
{
    ct_st_file f;
    ct_err err = {0};
    if (ct_st_open(&f, ct_fixture("traces/heads.safetensors"), &err)) { CHECK(0, "%s", err.msg); return; }
    const ct_tensor_view *iv = ct_st_find(&f, "ids"), *rv = ct_st_find(&f, "range"), *sv = ct_st_find(&f, "samples"),
                         *seedv = ct_st_find(&f, "seed");
    if (!iv || !rv || !sv || !seedv) { CHECK(0, "heads.safetensors lacks ids/range/samples/seed"); ct_st_close(&f); return; }
    const int32_t *ids = iv->data, *range = rv->data;
    int T = (int)iv->numel, S = *(const int32_t *)sv->data;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++) {
        ct_model *m;
        if (load(FAMILIES[i], &m)) continue;
        for (int rev = 0; rev < 2; rev++) {
            char key[128];
            snprintf(key, sizeof key, "%s%s_scores_samples", FAMILIES[i], rev ? "_reverse" : "");
            const ct_tensor_view *want = ct_st_find(&f, key);
            if (!want) { if (!rev) CHECK(0, "heads.safetensors lacks %s", key); continue; }
            snprintf(key, sizeof key, "%s%s_answer", FAMILIES[i], rev ? "_reverse" : "");
            const ct_tensor_view *av = ct_st_find(&f, key);
            snprintf(key, sizeof key, "%s%s_low_samples", FAMILIES[i], rev ? "_reverse" : "");
            const ct_tensor_view *lv = ct_st_find(&f, key);
            snprintf(key, sizeof key, "%s%s_high_score", FAMILIES[i], rev ? "_reverse" : "");
            const ct_tensor_view *hv = ct_st_find(&f, key);
            if (!av || !lv || !hv) { CHECK(0, "heads.safetensors lacks the answer/low/high of %s", FAMILIES[i]); continue; }
            int L = ct_model_n_layers(m), H = ct_model_config(m)->n_heads;
            CHECK(want->ndim == 4 && want->shape[0] == S && want->shape[1] == T && want->shape[2] == L && want->shape[3] == H,
                  "%s: reference grid is not [S, T, L, H] = [%d, %d, %d, %d]", FAMILIES[i], S, T, L, H);
            ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = range, .n_ranges = 1, .answer = av->data, .n_answer = 1};
            ct_trace_settings s;
            ct_trace_settings_default(&s);
            s.kind = CT_KIND_HEAD; s.samples = S; s.seed = (uint32_t)*(const int32_t *)seedv->data; s.reverse = rev;
            for (int e = 0; e < 2; e++) {
                s.engine = e ? CT_ENGINE_NAIVE : CT_ENGINE_FAST;
                ct_trace_result r;
                if (ct_trace_run(m, &in, &s, &r, &err)) { CHECK(0, "%s: %s", FAMILIES[i], err.msg); continue; }
                char label[160];
                snprintf(label, sizeof label, "%s%s %s engine vs reference", FAMILIES[i], rev ? " reverse" : "",
                         ct_engine_name(s.engine));
                CHECK(r.H == H, "%s: result H %d, model has %d heads", label, r.H, H);
                long w;
                double d = ct_max_abs_diff(r.targets[0].scores_samples, want->data, (long)S * T * L * H, &w);
                worst_ref = d > worst_ref ? d : worst_ref;
                CHECK(d <= 1e-5, "%s: max |p - p_ref| %.3g at %ld (%.9g vs %.9g)", label, d, w,
                      r.targets[0].scores_samples[w], ((const float *)want->data)[w]);
                CHECK_CLOSE(r.targets[0].low_samples, (const float *)lv->data, S, 1e-5, label);
                CHECK(fabs(r.targets[0].high_score - *(const float *)hv->data) <= 1e-5, "%s: high %.9g vs %.9g", label,
                      r.targets[0].high_score, *(const float *)hv->data);
                /* and within 1e-3 of the grid's spread, so that a near-flat grid (gemma's tiny
                 * model is saturated: p 2e-5, spread 4e-6) cannot pass by being flat */
                float lo = 1, hi = 0;
                for (long k = 0; k < (long)S * T * L * H; k++) {
                    float v = ((const float *)want->data)[k];
                    lo = v < lo ? v : lo;
                    hi = v > hi ? v : hi;
                }
                double spread = (double)hi - lo;
                worst_rel = spread > 0 && d / spread > worst_rel ? d / spread : worst_rel;
                CHECK(spread > 0 && d <= 1e-3 * spread, "%s: max |p - p_ref| %.3g is %.3g of the grid's spread %.3g", label, d,
                      spread > 0 ? d / spread : INFINITY, spread);
                ct_trace_result_free(&r);
            }
        }
        ct_model_free(m);
    }
    ct_st_close(&f);
}

/* 2. fast vs naive */
typedef struct hcase { int b, e, replace, reverse, na, ncf; } hcase;

static void fast_vs_naive(const char *name, const ct_model *m, const hcase *hc)
{
    int V = ct_model_vocab(m);
    enum { T = 10 };
    int32_t ids[T] = {1, 200, 13, 77, 511, 0, 5, 5, 42, 300}, rg[2] = {hc->b, hc->e};
    for (int i = 0; i < T; i++) ids[i] %= V;
    int32_t ans[2] = {431 % V, 17 % V}, cf0[2] = {7 % V, 11 % V};
    const int32_t *cfs[1] = {cf0};
    int cfl[1] = {2};
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = hc->na,
                         .n_cf = hc->ncf, .cf = cfs, .cf_len = cfl};
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.kind = CT_KIND_HEAD; s.samples = 2; s.replace = hc->replace; s.reverse = hc->reverse;
    ct_trace_result rf, rn;
    ct_err err = {0};
    char label[160];
    snprintf(label, sizeof label, "%s heads span %d:%d%s%s answer %d cf %d", name, hc->b, hc->e, hc->replace ? " replace" : "",
             hc->reverse ? " reverse" : "", hc->na, hc->ncf);
    s.engine = CT_ENGINE_FAST;
    if (ct_trace_run(m, &in, &s, &rf, &err)) { CHECK(0, "%s fast: %s", label, err.msg); return; }
    s.engine = CT_ENGINE_NAIVE;
    if (ct_trace_run(m, &in, &s, &rn, &err)) { CHECK(0, "%s naive: %s", label, err.msg); ct_trace_result_free(&rf); return; }
    long n = (long)rf.S * T * rf.L * rf.H;
    for (int k = 0; k < rf.n_targets; k++) {
        long w;
        double d = ct_max_abs_diff(rf.targets[k].scores_samples, rn.targets[k].scores_samples, n, &w);
        worst_fn = d > worst_fn ? d : worst_fn;
        CHECK(d <= 1e-5, "%s target %d: max |fast - naive| %.3g at %ld", label, k, d, w);
    }
    CHECK_CLOSE(rf.ie, rn.ie, n / rf.S, 1e-5, label);
    CHECK(rf.cells_run <= rn.cells_run, "%s: cells fast %ld naive %ld", label, rf.cells_run, rn.cells_run);
    ct_trace_result_free(&rf);
    ct_trace_result_free(&rn);
}

static int random_like(const char *name, int layers, int heads, ct_model **out)
{
    /* the fixture's architecture with other layer / head counts, random weights */
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", ct_fixture(name));
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
    if (heads) {
        cfg.n_heads = heads; cfg.head_dim = cfg.d_model / heads; cfg.n_kv_heads = heads / 4 > 0 ? heads / 4 : 1;
        cfg.rotary_dim = cfg.head_dim;
        cfg.attn_scale = 1.0f / sqrtf((float)cfg.head_dim);
    }
    int rc = ct_model_random(out, &cfg, 99, &err);
    if (rc) printf("%s\n", err.msg);
    return rc;
}

/* 3. all heads of (t, l) = the attention output of (t, l), through ct_block */
typedef struct rec { int layer, t, D, QW, mode; float *z, *attn; } rec;   /* z [L, T, QW], attn [L, T, D] */

static void rec_cb(void *ctx, const ct_site_at *at, const ct_tensor *v)
{
    rec *r = ctx;
    float *buf = v->data;
    int T = (int)v->shape[1];
    if (r->mode == 0) {                 /* record the clean run */
        if (at->kind == CT_SITE_HEADS) memcpy(r->z + (size_t)at->layer * T * r->QW, buf, (size_t)T * r->QW * sizeof *buf);
        if (at->kind == CT_SITE_ATTN) memcpy(r->attn + (size_t)at->layer * T * r->D, buf, (size_t)T * r->D * sizeof *buf);
        return;
    }
    if (at->layer != r->layer) return;
    if (r->mode == 1 && at->kind == CT_SITE_HEADS)
        memcpy(buf + (size_t)r->t * r->QW, r->z + ((size_t)at->layer * T + r->t) * r->QW, (size_t)r->QW * sizeof *buf);
    if (r->mode == 2 && at->kind == CT_SITE_ATTN)
        memcpy(buf + (size_t)r->t * r->D, r->attn + ((size_t)at->layer * T + r->t) * r->D, (size_t)r->D * sizeof *buf);
}

/* One forward pass of ids [T] (noise on positions [3, 6) when noisy), patched
 * as r says: p(answer) at the last position. */
static double run_once(const ct_model *m, const int32_t *ids, int T, int noisy, rec *r, int *answer, ct_err *err)
{
    int D = ct_model_d_model(m), L = ct_model_n_layers(m), KV = ct_model_kv_dim(m), V = ct_model_vocab(m);
    float *x = malloc(sizeof(float) * ((size_t)T * D * 3 + 2 * (size_t)T * KV + V));
    float *ao = x + (size_t)T * D, *mo = ao + (size_t)T * D, *k = mo + (size_t)T * D, *v = k + (size_t)T * KV, *lg = v + (size_t)T * KV;
    ct_scratch ws = {0};
    double p = -1;
    ct_embed_tokens(m, ids, T, x);
    if (noisy)
        for (int i = 3 * D; i < 6 * D; i++) x[i] += 2.0f * sinf((float)i * 0.37f);
    ct_embed_finish(m, 0, T, x);
    for (int l = 0; l < L; l++)
        if (ct_block(m, l, 1, T, 0, x, x, NULL, NULL, &k, &v, ao, mo, rec_cb, r, &ws, err)) goto out;
    if (ct_logits(m, 1, x + (size_t)(T - 1) * D, lg, &ws, err)) goto out;
    double mx = lg[0], sum = 0;
    for (int i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    for (int i = 0; i < V; i++) sum += exp(lg[i] - mx);
    if (*answer < 0)                    /* the clean run picks the answer: its top token */
        for (int i = 0; i < V; i++) if (lg[i] == mx) { *answer = i; break; }
    p = exp(lg[*answer] - mx) / sum;
out:
    ct_scratch_free(&ws);
    free(x);
    return p;
}

static void all_heads_equal_attention(const char *name, const ct_model *m)
{
    enum { T = 9 };
    int32_t ids[T] = {1, 200, 13, 77, 511, 0, 5, 5, 42};
    int V = ct_model_vocab(m), L = ct_model_n_layers(m), D = ct_model_d_model(m);
    const struct ct_config *cfg = ct_model_config(m);
    int QW = cfg->n_heads * cfg->head_dim;
    for (int i = 0; i < T; i++) ids[i] %= V;
    rec r = {.D = D, .QW = QW, .mode = 0};
    r.z = malloc(sizeof(float) * (size_t)L * T * QW);
    r.attn = malloc(sizeof(float) * (size_t)L * T * D);
    ct_err err = {0};
    int ans = -1;
    double pc = run_once(m, ids, T, 0, &r, &ans, &err), worst = 0, moved = 0;
    double p0 = run_once(m, ids, T, 1, &(rec){.layer = -1, .mode = 1}, &ans, &err);
    CHECK(pc >= 0 && p0 >= 0, "%s: %s", name, err.msg);
    for (int l = 0; l < L; l++)
        for (int t = 3; t < T; t += 2) {
            r.layer = l; r.t = t;
            r.mode = 1;
            double ph = run_once(m, ids, T, 1, &r, &ans, &err);
            r.mode = 2;
            double pa = run_once(m, ids, T, 1, &r, &ans, &err);
            worst = fabs(ph - pa) > worst ? fabs(ph - pa) : worst;
            moved = fabs(pa - p0) > moved ? fabs(pa - p0) : moved;
        }
    CHECK(worst <= 1e-6 * (pc > p0 ? pc : p0) + 1e-9, "%s: all heads vs attention output: max |Δp| %.3g", name, worst);
    CHECK(moved > 0, "%s: restoring the attention output never changed p", name);
    printf("%-12s all heads = attention output: max |Δp| %.3g (restorations move p by up to %.3g)\n", name, worst, moved);
    free(r.z);
    free(r.attn);
}

/* 4. direct logit attribution: against the reference's parts, and on every
 * family the parts add up to the logit difference ct_forward's logits give */
static void attribution(void)
{
    ct_st_file f;
    ct_err err = {0};
    if (ct_st_open(&f, ct_fixture("traces/heads.safetensors"), &err)) { CHECK(0, "%s", err.msg); return; }
    const ct_tensor_view *iv = ct_st_find(&f, "ids");
    const int32_t *ids = iv->data;
    int T = (int)iv->numel;
    double worst = 0;
    const int32_t *range = ct_st_find(&f, "range")->data;
    int S = *(const int32_t *)ct_st_find(&f, "samples")->data;
    uint32_t seed = (uint32_t)*(const int32_t *)ct_st_find(&f, "seed")->data;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++) {
        ct_model *m;
        if (load(FAMILIES[i], &m)) continue;
        for (int corr = 0; corr < 2; corr++) {
            char key[128];
            const ct_tensor_view *v[7];
            const char *names[7] = {"answer_cf", "heads", "attn_bias", "mlp", "embed", "norm_bias", "total"};
            int ok = 1;
            for (int k = 0; k < 7; k++) {
                snprintf(key, sizeof key, "%s_dla_%s%s", FAMILIES[i], corr ? "corrupted_" : "", names[k]);
                ok &= (v[k] = ct_st_find(&f, key)) != NULL;
            }
            if (!ok) { CHECK(0, "heads.safetensors lacks the attribution of %s", FAMILIES[i]); continue; }
            const int32_t *ac = v[0]->data;
            ct_attribution a;
            ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = range, .n_ranges = 1};
            ct_trace_settings s;
            ct_trace_settings_default(&s);
            s.samples = S; s.seed = seed;
            int bad = corr ? ct_attribute_corrupted(m, &in, &s, ac[0], ac[1], &a, &err) : ct_attribute(m, ids, T, ac[0], ac[1], &a, &err);
            if (bad) { CHECK(0, "%s: %s", FAMILIES[i], err.msg); continue; }
            int LH = a.L * a.H;
            const float *got[6] = {a.heads, a.attn_bias, a.mlp, &a.embed, &a.norm_bias, &a.total};
            long cnt[6] = {LH, a.L, a.L, 1, 1, 1};
            for (int k = 0; k < 6; k++) {
                long w;
                double d = ct_max_abs_diff(got[k], v[k + 1]->data, cnt[k], &w);
                worst = d > worst ? d : worst;
                CHECK(d <= 1e-4 && v[k + 1]->numel == cnt[k], "%s%s attribution %s: max |ctrace - reference| %.3g at %ld",
                      FAMILIES[i], corr ? " corrupted" : "", names[k + 1], d, w);
            }
            CHECK(fabs(a.parts_sum - a.total) <= 1e-4, "%s%s: parts sum %.7g, total %.7g", FAMILIES[i], corr ? " corrupted" : "",
                  a.parts_sum, a.total);
            ct_attribution_free(&a);
        }
        ct_model_free(m);
    }
    ct_st_close(&f);
    printf("largest |attribution - reference|: %.3g\n", worst);

    const char *all[] = {"gemma", "gemma2", "gpt2", "gpt_neox", "gptj", "llama3_tied", "llama_bf16", "llama_gqa",
                         "mistral", "phi", "phi3", "qwen2"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        ct_model *m;
        if (load(all[i], &m)) continue;
        int V = ct_model_vocab(m), Tn = 9;
        int32_t pid[9] = {1, 200, 13, 77, 511, 0, 5, 5, 42};
        for (int k = 0; k < Tn; k++) pid[k] %= V;
        float *lg = malloc(sizeof(float) * (size_t)Tn * V);
        ct_attribution a;
        int32_t ans = 431 % V, cf = 7 % V;
        if (ct_forward(m, pid, Tn, lg, NULL, &err) || ct_attribute(m, pid, Tn, ans, cf, &a, &err)) {
            CHECK(0, "%s: %s", all[i], err.msg);
            free(lg);
            ct_model_free(m);
            continue;
        }
        double want = (double)lg[(size_t)(Tn - 1) * V + ans] - lg[(size_t)(Tn - 1) * V + cf];
        double sum = a.embed + a.norm_bias + a.lm_bias;
        for (int q = 0; q < a.L * a.H; q++) sum += a.heads[q];
        for (int l = 0; l < a.L; l++) sum += a.attn_bias[l] + a.mlp[l];
        CHECK(fabs(sum - a.total) <= 1e-4 && fabs(a.parts_sum - a.total) <= 1e-4, "%s: parts sum to %.7g, total %.7g", all[i],
              sum, a.total);
        CHECK(fabs(a.logit_diff - want) <= 1e-4, "%s: attribution's logit difference %.7g, ct_forward's %.7g", all[i],
              a.logit_diff, want);
        /* without a final soft cap the total is the logit difference itself */
        if (!ct_model_config(m)->final_softcap)
            CHECK(fabs(a.total - want) <= 1e-4, "%s: total %.7g, ct_forward's difference %.7g", all[i], a.total, want);
        printf("%-12s attribution: total %.6f, parts sum %.6f, ct_forward %.6f\n", all[i], a.total, sum, want);
        ct_attribution_free(&a);
        free(lg);
        ct_model_free(m);
    }
}

int main(void)
{
    TEST_BEGIN();
    setvbuf(stdout, NULL, _IOLBF, 0);
    ct_set_threads(1);
    against_reference();
    printf("largest |ctrace - reference| (p): %.3g (%.3g of a grid's spread)\n", worst_ref, worst_rel);

    const char *fams[] = {"llama_gqa", "gpt2", "gpt_neox", "gemma2", "phi3", "gptj"};
    const hcase cases[] = {
        {.b = 3, .e = 6, .na = 1},
        {.b = 0, .e = 2, .na = 2, .ncf = 1, .reverse = 1},
        {.b = 8, .e = 10, .na = 1, .replace = 1},
    };
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        ct_model *m;
        if (load(fams[i], &m)) continue;
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) fast_vs_naive(fams[i], m, &cases[c]);
        ct_model_free(m);
    }
    /* 8 layers, 4 heads: passes of two layers' head cells; 2 layers, 8 heads: more heads than layers */
    const int shapes[][2] = {{8, 0}, {2, 8}};
    for (int k = 0; k < 2; k++) {
        ct_model *m = NULL;
        char name[64];
        snprintf(name, sizeof name, "llama_gqa-%dL-%dH", shapes[k][0], shapes[k][1] ? shapes[k][1] : 4);
        if (random_like("hf-tiny/llama_gqa", shapes[k][0], shapes[k][1], &m)) { CHECK(0, "random %s", name); continue; }
        fast_vs_naive(name, m, &cases[0]);
        fast_vs_naive(name, m, &cases[1]);
        ct_model_free(m);
    }
    printf("largest |fast - naive| (heads): %.3g\n", worst_fn);

    const char *all[] = {"gemma", "gemma2", "gpt2", "gpt_neox", "gptj", "llama3_tied", "llama_bf16", "llama_gqa",
                         "mistral", "phi", "phi3", "qwen2"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        ct_model *m;
        if (load(all[i], &m)) continue;
        all_heads_equal_attention(all[i], m);
        ct_model_free(m);
    }
    attribution();
    return TEST_END();
}
