/* test_compute_bf16.c — bf16 compute (--dtype bf16) on whole models:
 *   1. on every fixture family, a three-kind trace with bf16 products against
 *      the same trace with float32 products: it differs (bf16 is really used)
 *      and by little (max |Δp| printed per family, bounded here);
 *   2. against the reference backend's bf16 compute (the same rounding, sums
 *      in double) on three families: far closer than to float32;
 *   3. one thread and two give the same bits;
 *   4. logits against transformers' float32 logits stay close (printed);
 *   5. the demo model (trained, so its effects mean something): the same
 *      cell has the largest |IE| with both dtypes, per kind.
 * The deviation figures are the ones docs/ops.md and docs/benchmarks.md quote. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"
#include "harness.h"

static int32_t *fixture_ids(const char *dir, int *T, float **logits, int *V)
{
    char p[4200];
    snprintf(p, sizeof p, "%.4096s/refs.safetensors", dir);
    ct_st_file rf;
    ct_err err = {{0}};
    if (ct_st_open(&rf, p, &err)) { CHECK(0, "%s", err.msg); return NULL; }
    const ct_tensor_view *iv = ct_st_find(&rf, "seq2_ids"), *lv = ct_st_find(&rf, "seq2_logits");
    int32_t *ids = NULL;
    CHECK(iv != NULL && lv != NULL, "%s: no seq2_ids / seq2_logits", p);
    if (iv && lv) {
        *T = (int)iv->numel;
        ids = malloc(iv->nbytes);
        memcpy(ids, iv->data, iv->nbytes);
        *logits = ct_tensor_to_f32(lv);
        *V = (int)(lv->numel / iv->numel);
    }
    ct_st_close(&rf);
    return ids;
}

static void trace3(const ct_model *m, const int32_t *ids, int T, int32_t b, int32_t e, int32_t ans,
                   ct_trace_result r[3], ct_err *err)
{
    int32_t rg[2] = {b, e}, an[1] = {ans};
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = rg, .n_ranges = 1, .answer = an, .n_answer = 1};
    for (int k = 0; k < 3; k++) {
        ct_trace_settings s;
        ct_trace_settings_default(&s);
        s.samples = 3;
        s.window = 3;
        s.kind = (ct_kind)k;
        CHECK_OK(ct_trace_run(m, &in, &s, &r[k], err), err);
    }
}

/* max |a - b| over the three kinds' score grids */
static double grid_diff(const ct_trace_result *a, const ct_trace_result *b)
{
    double d = 0;
    for (int k = 0; k < 3; k++) {
        long n = (long)a[k].T * a[k].L;
        double x = ct_max_abs_diff(a[k].targets[0].scores, b[k].targets[0].scores, n, NULL);
        if (x > d) d = x;
    }
    return d;
}

static int same_bits(const ct_trace_result *a, const ct_trace_result *b)
{
    for (int k = 0; k < 3; k++)
        if (memcmp(a[k].targets[0].scores_samples, b[k].targets[0].scores_samples,
                   sizeof(float) * a[k].S * a[k].T * a[k].L))
            return 0;
    return 1;
}

static void free3(ct_trace_result r[3])
{
    for (int k = 0; k < 3; k++) ct_trace_result_free(&r[k]);
}

static double worst_f32 = 0, worst_ref = 0;

static void family(const char *name, int with_ref)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%.4000s%s", ct_fixture("hf-tiny/"), name);
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    int T = 0, V = 0;
    float *want = NULL;
    int32_t *ids = fixture_ids(dir, &T, &want, &V);
    if (!m || !ids) { ct_model_free(m); free(ids); free(want); return; }
    if (T > 8) T = 8;   /* the reference backend is slow */
    int32_t ans = (int32_t)(5 % ct_model_vocab(m));
    ct_trace_result f32[3], b16[3], b16t[3], ref[3];
    trace3(m, ids, T, 1, 3, ans, f32, &err);
    CHECK_OK(ct_model_set_compute(m, CT_BF16, &err), &err);
    CHECK(ct_model_compute_dtype(m) == CT_BF16, "%s: compute dtype", name);
    ct_set_threads(2);
    trace3(m, ids, T, 1, 3, ans, b16, &err);
    ct_set_threads(1);
    trace3(m, ids, T, 1, 3, ans, b16t, &err);
    ct_set_threads(2);
    CHECK(same_bits(b16, b16t), "%s: bf16 compute: 1 and 2 threads give different bits", name);
    CHECK(b16[0].compute == CT_BF16 && f32[0].compute == CT_F32 && !strcmp(b16[0].backend, "cpu"),
          "%s: the result records what computed it", name);
    /* logits of the full fixture sequence against transformers' float32 */
    float *lg = malloc(sizeof(float) * (size_t)T * V);
    double dl = -1;
    int Tl = T;
    if (ct_forward(m, ids, Tl, lg, NULL, &err) == 0) dl = ct_max_abs_diff(lg, want, (long)Tl * V, NULL);
    else CHECK(0, "%s: forward: %s", name, err.msg);
    double dp = grid_diff(f32, b16);
    CHECK(dp > 0, "%s: bf16 compute gave float32's numbers exactly: is it used?", name);
    CHECK(dp < 0.05, "%s: bf16 compute moves p by %.3g from float32 (bound 0.05)", name, dp);
    if (dp > worst_f32) worst_f32 = dp;
    double dr = -1;
    if (with_ref) {
        CHECK_OK(ct_model_set_backend(m, "ref", &err), &err);
        CHECK(ct_model_compute_dtype(m) == CT_BF16, "%s: ref keeps bf16 compute", name);
        trace3(m, ids, T, 1, 3, ans, ref, &err);
        dr = grid_diff(ref, b16);
        /* the same rounding with other sums: a float32-level difference in an
         * activation can still move its bf16 rounding by one step, so the
         * bound is a fraction of the bf16-vs-f32 deviation (plus 1e-5 for the
         * tiny random models whose p hardly moves), not float32's 1e-6 */
        CHECK(dr <= 0.25 * dp + 1e-5, "%s: cpu bf16 vs ref bf16 %.3g, not well below bf16 vs f32 %.3g", name, dr, dp);
        if (dr > worst_ref) worst_ref = dr;
        free3(ref);
    }
    char rs[32] = "not run";
    if (with_ref) snprintf(rs, sizeof rs, "%.2e", dr);
    printf("  %-12s bf16 vs f32: max |dp| %.2e; cpu vs ref bf16: %s; max |dlogit| vs transformers' f32 %.2e\n", name, dp,
           rs, dl);
    free3(f32); free3(b16); free3(b16t);
    free(lg); free(ids); free(want);
    ct_model_free(m);
}

/* The demo model: where the largest |IE| is, per kind, with both dtypes. */
static void demo(void)
{
    ct_err err = {{0}};
    ct_model *m = NULL;
    ct_tokenizer *tk = NULL;
    CHECK_OK(ct_model_load(&m, "models/demo", &err), &err);
    CHECK_OK(ct_tokenizer_load(&tk, "models/demo", &err), &err);
    if (!m || !tk) { ct_model_free(m); ct_tokenizer_free(tk); return; }
    /* data/demo.jsonl row 0, the subject's tokens corrupted */
    const char *prompt = "According to records, Dreze Grerksouteth was born in Lorimel. "
                         "The place where Dreze Grerksouteth was born is";
    ct_encoding e, a;
    int32_t b = 0, en = 0, sb = (int32_t)(strstr(prompt, "Dreze") - prompt);
    CHECK_OK(ct_encode(tk, prompt, strlen(prompt), 1, &e, &err), &err);
    CHECK_OK(ct_encode(tk, " Lorimel", 8, 0, &a, &err), &err);
    CHECK(ct_encoding_token_range(&e, sb, sb + 18, &b, &en) == 0, "demo: the subject's tokens");
    ct_trace_result f32[3], b16[3];
    trace3(m, e.ids, e.n, b, en, a.ids[0], f32, &err);
    CHECK_OK(ct_model_set_compute(m, CT_BF16, &err), &err);
    trace3(m, e.ids, e.n, b, en, a.ids[0], b16, &err);
    double dp = grid_diff(f32, b16);
    int agree = 0;
    for (int k = 0; k < 3; k++) {
        long n = (long)f32[k].T * f32[k].L, bf = 0, bb = 0;
        for (long i = 1; i < n; i++) {
            if (fabsf(f32[k].ie[i]) > fabsf(f32[k].ie[bf])) bf = i;
            if (fabsf(b16[k].ie[i]) > fabsf(b16[k].ie[bb])) bb = i;
        }
        agree += bf == bb;
        CHECK(bf == bb, "demo %s: the top cell moves with bf16 compute (f32 (%ld, %ld) IE %.4g; bf16 (%ld, %ld) IE %.4g)",
              ct_kind_name((ct_kind)k), bf / f32[k].L, bf % f32[k].L, f32[k].ie[bf], bb / f32[k].L, bb % f32[k].L,
              b16[k].ie[bb]);
    }
    printf("  demo         bf16 vs f32: max |dp| %.2e over %d tokens x %d layers x 3 kinds; top |IE| cell the same in %d of 3 kinds\n",
           dp, f32[0].T, f32[0].L, agree);
    CHECK(dp > 0 && dp < 0.05, "demo: bf16 vs f32 max |dp| %.3g", dp);
    free3(f32); free3(b16);
    ct_encoding_free(&e);
    ct_encoding_free(&a);
    ct_tokenizer_free(tk);
    ct_model_free(m);
}

int main(void)
{
    TEST_BEGIN();
    static const char *const fams[] = {"gemma", "gemma2", "gpt2", "gpt_neox", "gptj", "llama3_tied", "llama_bf16",
                                       "llama_gqa", "mistral", "phi", "phi3", "qwen2"};
    for (int i = 0; i < 12; i++) {
        const char *n = fams[i];
        family(n, !strcmp(n, "llama_gqa") || !strcmp(n, "gpt2") || !strcmp(n, "gemma2"));
    }
    printf("  worst over the families: bf16 vs f32 %.2e, cpu bf16 vs ref bf16 %.2e\n", worst_f32, worst_ref);
    demo();
    /* an unknown or unsupported choice is refused with its code */
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, "models/demo", &err), &err);
    if (m) {
        CHECK(ct_model_set_compute(m, CT_F16, &err) == -1 && err.code == CT_ERR_UNSUPPORTED, "F16 compute accepted");
        CHECK_OK(ct_model_set_backend(m, "openblas", &err), &err);
        CHECK(ct_model_set_compute(m, CT_BF16, &err) == -1 && strstr(err.msg, "openblas"), "openblas bf16: %s", err.msg);
        char d[320];
        ct_model_backend_describe(m, d, sizeof d);
        CHECK(strstr(d, "OpenBLAS") != NULL, "openblas describes itself: %s", d);
        ct_model_free(m);
    }
    return TEST_END();
}
