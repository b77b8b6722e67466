/* test_weights_stored.c — weights kept in their stored dtype change no number,
 * and the whole forward pass and tracing engine run on any backend of the
 * ops table:
 *   1. bf16 / f16 checkpoints (the llama_bf16 fixture, and gpt2 / gpt_neox /
 *      phi3 rewritten in bf16 and f16 here: transposed Conv1D, regrouped NeoX
 *      q/k/v, pre-fused q/k/v) held as stored give the same logits bit for bit
 *      as the same checkpoint converted to float32 at load, in less memory;
 *   2. the same for a three-kind trace (scores bit for bit);
 *   3. the reference backend (plain C, no BLAS) runs the fixtures end to end:
 *      logits within 1e-4 of transformers' and a fast-engine trace within
 *      1e-5 of the CPU backend's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ctrace_app.h"
#include "harness.h"

static int32_t *fixture_ids(const char *dir, int *T)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/refs.safetensors", dir);
    ct_st_file rf;
    ct_err err = {{0}};
    if (ct_st_open(&rf, p, &err)) { CHECK(0, "%s", err.msg); return NULL; }
    const ct_tensor_view *iv = ct_st_find(&rf, "seq2_ids");
    int32_t *ids = NULL;
    CHECK(iv != NULL, "%s: no seq2_ids", p);
    if (iv) {
        *T = (int)iv->numel;
        ids = malloc(iv->nbytes);
        memcpy(ids, iv->data, iv->nbytes);
    }
    ct_st_close(&rf);
    return ids;
}

/* A copy of fixture dir with every floating tensor of model.safetensors in dt. */
static const char *rewrite(const char *name, ct_dtype dt)
{
    static char out[256];
    char src[600], cfg[2000], dst[512];
    snprintf(out, sizeof out, "/tmp/ctrace-test-stored-%ld-%s-%s", (long)getpid(), name, ct_dtype_name(dt));
    mkdir(out, 0700);
    snprintf(src, sizeof src, "%.500s%s", ct_fixture("hf-tiny/"), name);
    snprintf(cfg, sizeof cfg, "cp %s/config.json %s/refs.safetensors %s/", src, src, out);
    CHECK(system(cfg) == 0, "copying %s", src);
    snprintf(cfg, sizeof cfg, "%s/model.safetensors", src);
    ct_st_file f;
    ct_err err = {{0}};
    if (ct_st_open(&f, cfg, &err)) { CHECK(0, "%s", err.msg); return out; }
    ct_st_out *o = calloc((size_t)f.n, sizeof *o);
    void **bufs = calloc((size_t)f.n, sizeof *bufs);
    for (int i = 0; i < f.n; i++) {
        const ct_tensor_view *t = &f.t[i];
        o[i].name = t->name;
        o[i].ndim = t->ndim;
        memcpy(o[i].shape, t->shape, sizeof o[i].shape);
        o[i].dtype = t->dtype;
        o[i].data = t->data;
        if (t->dtype == CT_F32 || t->dtype == CT_BF16 || t->dtype == CT_F16) {
            float *x = ct_tensor_to_f32(t);
            uint16_t *h = malloc((size_t)(t->numel ? t->numel : 1) * 2);
            for (int64_t k = 0; k < t->numel; k++) h[k] = dt == CT_BF16 ? ct_f32_to_bf16(x[k]) : ct_f32_to_f16(x[k]);
            free(x);
            o[i].dtype = dt;
            o[i].data = bufs[i] = h;
        }
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", out);
    CHECK_OK(ct_st_write(dst, o, f.n, NULL, &err), &err);
    for (int i = 0; i < f.n; i++) free(bufs[i]);
    free(bufs); free(o);
    ct_st_close(&f);
    return out;
}

static void trace3(const ct_model *m, const int32_t *ids, int T, ct_trace_result r[3], ct_err *err)
{
    /* short prompts: the reference backend is slow */
    if (T > 8) T = 8;
    int32_t rg[2] = {1, 3}, ans[1] = {(int32_t)(5 % ct_model_vocab(m))};
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = 1};
    for (int k = 0; k < 3; k++) {
        ct_trace_settings s;
        ct_trace_settings_default(&s);
        s.samples = 2;
        s.window = 3;
        s.kind = (ct_kind)k;
        CHECK_OK(ct_trace_run(m, &in, &s, &r[k], err), err);
    }
}

/* 1 and 2: stored vs converted-at-load. */
static void stored_vs_f32(const char *label, const char *dir)
{
    ct_err err = {{0}};
    ct_model *ms = NULL, *mf = NULL;
    CHECK_OK(ct_model_load(&ms, dir, &err), &err);
    CHECK_OK(ct_model_load_as(&mf, dir, CT_WEIGHTS_F32, &err), &err);
    int T = 0;
    int32_t *ids = fixture_ids(dir, &T);
    if (!ms || !mf || !ids) { ct_model_free(ms); ct_model_free(mf); free(ids); return; }
    int V = ct_model_vocab(ms);
    float *ls = malloc(sizeof(float) * T * V), *lf = malloc(sizeof(float) * T * V);
    CHECK_OK(ct_forward(ms, ids, T, ls, NULL, &err), &err);
    CHECK_OK(ct_forward(mf, ids, T, lf, NULL, &err), &err);
    long w;
    double d = ct_max_abs_diff(ls, lf, (long)T * V, &w);
    CHECK(memcmp(ls, lf, sizeof(float) * T * V) == 0, "%s: logits as stored differ from float32-at-load: max |diff| %.3g at %ld",
          label, d, w);
    size_t so, sm, fo, fm;
    ct_model_memory(ms, NULL, &so, &sm);
    ct_model_memory(mf, NULL, &fo, &fm);
    CHECK(ct_model_weight_dtype(ms) != CT_F32 && ct_model_weight_dtype(mf) == CT_F32, "%s: weight dtypes %s / %s", label,
          ct_dtype_name(ct_model_weight_dtype(ms)), ct_dtype_name(ct_model_weight_dtype(mf)));
    CHECK(so + sm < fo && fm == 0, "%s: stored model holds %zu + %zu bytes, float32 one %zu + %zu", label, so, sm, fo, fm);
    ct_trace_result rs[3], rf[3];
    trace3(ms, ids, T, rs, &err);
    trace3(mf, ids, T, rf, &err);
    for (int k = 0; k < 3; k++) {
        long n = (long)rs[k].T * rs[k].L;
        CHECK(rs[k].T == rf[k].T && memcmp(rs[k].targets[0].scores, rf[k].targets[0].scores, sizeof(float) * n) == 0 &&
              rs[k].targets[0].low_score == rf[k].targets[0].low_score,
              "%s %s trace: as stored differs from float32-at-load (max |diff| %.3g)", label, ct_kind_name((ct_kind)k),
              ct_max_abs_diff(rs[k].targets[0].scores, rf[k].targets[0].scores, n, NULL));
        ct_trace_result_free(&rs[k]);
        ct_trace_result_free(&rf[k]);
    }
    printf("  %-22s logits and 3 traces bit-identical; weights %.2f MiB (%.2f own + %.2f mapped) vs %.2f MiB float32\n",
           label, (so + sm) / 1048576.0, so / 1048576.0, sm / 1048576.0, fo / 1048576.0);
    free(ls); free(lf); free(ids);
    ct_model_free(ms); ct_model_free(mf);
}

/* 3: the reference backend end to end. */
static void reference_backend(const char *name)
{
    char dir[4200], rp[4300];
    snprintf(dir, sizeof dir, "%s%s", ct_fixture("hf-tiny/"), name);
    snprintf(rp, sizeof rp, "%s/refs.safetensors", dir);
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    int T = 0;
    int32_t *ids = fixture_ids(dir, &T);
    ct_st_file rf;
    int have = ct_st_open(&rf, rp, &err) == 0;
    CHECK(have, "%s", err.msg);
    if (!m || !ids || !have) { ct_model_free(m); free(ids); if (have) ct_st_close(&rf); return; }
    CHECK(strcmp(ct_model_backend_name(m), "cpu") == 0, "%s: default backend %s", name, ct_model_backend_name(m));
    CHECK(ct_model_set_backend(m, "gpu9", &err) == -1 && err.code == CT_ERR_UNSUPPORTED, "unknown backend accepted");
    CHECK_OK(ct_model_set_backend(m, "ref", &err), &err);
    int V = ct_model_vocab(m);
    float *lg = malloc(sizeof(float) * T * V);
    CHECK_OK(ct_forward(m, ids, T, lg, NULL, &err), &err);
    const ct_tensor_view *wl = ct_st_find(&rf, "seq2_logits");
    double dl = -1;
    if (wl && wl->numel == (int64_t)T * V) {
        float *want = ct_tensor_to_f32(wl);
        char label[128];
        snprintf(label, sizeof label, "%s logits on the reference backend", name);
        dl = ct_max_abs_diff(lg, want, (long)T * V, NULL);
        CHECK_CLOSE(lg, want, (long)T * V, 1e-4, label);
        free(want);
    } else CHECK(0, "%s: no seq2_logits of %d x %d", name, T, V);
    ct_trace_result rr[3], rc[3];
    trace3(m, ids, T, rr, &err);
    CHECK_OK(ct_model_set_backend(m, "cpu", &err), &err);
    trace3(m, ids, T, rc, &err);
    double dt = 0;
    for (int k = 0; k < 3; k++) {
        long n = (long)rr[k].T * rr[k].L;
        char label[128];
        snprintf(label, sizeof label, "%s %s trace, reference vs cpu backend", name, ct_kind_name((ct_kind)k));
        double d = ct_max_abs_diff(rr[k].targets[0].scores, rc[k].targets[0].scores, n, NULL);
        if (d > dt) dt = d;
        CHECK_CLOSE(rr[k].targets[0].scores, rc[k].targets[0].scores, n, 1e-5, label);
        ct_trace_result_free(&rr[k]);
        ct_trace_result_free(&rc[k]);
    }
    printf("  %-12s reference backend: max |dlogit| vs transformers %.2e, traces vs cpu %.2e\n", name, dl, dt);
    free(lg); free(ids);
    ct_st_close(&rf);
    ct_model_free(m);
}

/* The engine's top tokens of the clean run against softmax(ct_forward's last
 * logits) computed here, and the answer's entry against the trace's scores. */
static void predictions(const char *name)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s%s", ct_fixture("hf-tiny/"), name);
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    int T = 0;
    int32_t *ids = fixture_ids(dir, &T);
    if (!m || !ids) { ct_model_free(m); free(ids); return; }
    int V = ct_model_vocab(m);
    float *lg = malloc(sizeof(float) * T * V);
    CHECK_OK(ct_forward(m, ids, T, lg, NULL, &err), &err);
    const float *z = lg + (size_t)(T - 1) * V;
    double mx = z[0], sum = 0;
    int best = 0;
    for (int v = 1; v < V; v++) if (z[v] > mx) { mx = z[v]; best = v; }
    for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
    int32_t rg[2] = {1, 3}, ans[1] = {best};
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = 1};
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.samples = 3;
    ct_trace_result r;
    CHECK_OK(ct_trace_run(m, &in, &s, &r, &err), &err);
    CHECK(r.n_top == 5 && r.top_clean_id[0] == best && fabs(r.top_clean_p[0] - 1.0 / sum) <= 1e-6,
          "%s: top clean token %d p %.7g, want %d p %.7g", name, r.top_clean_id[0], r.top_clean_p[0], best, 1.0 / sum);
    CHECK(fabs(r.top_clean_p[0] - r.targets[0].high_score) <= 1e-6, "%s: top p %.7g vs high_score %.7g", name,
          r.top_clean_p[0], r.targets[0].high_score);
    int sorted = 1, found = 0;
    for (int j = 1; j < r.n_top; j++) sorted &= r.top_clean_p[j] <= r.top_clean_p[j - 1] && r.top_corrupt_p[j] <= r.top_corrupt_p[j - 1];
    for (int j = 0; j < r.n_top; j++)
        if (r.top_corrupt_id[j] == best) {
            found = 1;
            CHECK(fabs(r.top_corrupt_p[j] - r.targets[0].low_score) <= 1e-6, "%s: corrupted p(answer) %.7g vs low_score %.7g",
                  name, r.top_corrupt_p[j], r.targets[0].low_score);
        }
    CHECK(sorted, "%s: top tokens not in order", name);
    printf("  %-12s predictions: clean top %d (p %.4f), answer in corrupted top %d: %s\n", name, best, r.top_clean_p[0],
           r.n_top, found ? "yes" : "no");
    ct_trace_result_free(&r);
    free(lg); free(ids);
    ct_model_free(m);
}

int main(void)
{
    TEST_BEGIN();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s%s", ct_fixture("hf-tiny/"), "llama_bf16");
    stored_vs_f32("llama_bf16", dir);
    static const char *const others[] = {"gpt2", "gpt_neox", "phi3"};
    for (int i = 0; i < 3; i++)
        for (int h = 0; h < 2; h++) {
            ct_dtype dt = h ? CT_F16 : CT_BF16;
            char label[64], cmd[600];
            snprintf(label, sizeof label, "%s as %s", others[i], ct_dtype_name(dt));
            const char *d = rewrite(others[i], dt);
            stored_vs_f32(label, d);
            snprintf(cmd, sizeof cmd, "rm -rf %s", d);
            if (system(cmd)) {}
        }
    static const char *const fams[] = {"llama_gqa", "gpt2", "gemma2", "phi", "gpt_neox"};
    for (int i = 0; i < 5; i++) reference_backend(fams[i]);
    predictions("llama_gqa");
    predictions("gpt2");
    return TEST_END();
}
