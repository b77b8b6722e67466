/* test_device_seam.c — the device plumbing, checked without a GPU.
 *
 * A "fake device" table: the CPU backend's arithmetic, but device =
 * CT_DEVICE_CUDA and memory of its own (alloc/upload/download counted), and
 * every op first checks that each pointer it is handed lies inside memory
 * that table allocated.  A model put on it (ct_model_place_weights, as
 * ct_model_set_backend does for "cuda") must: upload each distinct weight
 * buffer once (tied embeddings shared), hand the ops only device pointers in
 * ct_forward and in three-kind traces (fast and naive engines), give the same
 * logits and scores as the CPU backend, keep its host views (embedding std),
 * and free every device buffer with the model.  What this cannot check is
 * the CUDA backend itself (tests/cuda/, on a GPU). */
#include <math.h>
#include <stdint.h>
#include "harness.h"
#include "ctrace_app.h"
#include "model/model.h"
#include "ops/ops.h"

/* ---- the fake device: allocations recorded, pointers checked ---------- */
enum { MAX_BLOCKS = 1 << 16 };
static struct { char *p; size_t n; } blocks[MAX_BLOCKS];
static int nblocks, live, uploads, downloads, bad_ptrs;
static const char *bad_op;
static const ct_backend *CPU;
static ct_backend FAKE;

static void *fk_alloc(const ct_backend *be, size_t bytes)
{
    (void)be;
    char *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);   /* as the CPU backend's */
    if (!p || nblocks == MAX_BLOCKS) { free(p); return NULL; }
    blocks[nblocks].p = p; blocks[nblocks].n = bytes ? bytes : 1; nblocks++;
    live++;
    return p;
}
static void fk_free(const ct_backend *be, void *p)
{
    (void)be;
    if (!p) return;
    for (int i = 0; i < nblocks; i++)
        if (blocks[i].p == p) { blocks[i] = blocks[--nblocks]; live--; free(p); return; }
    bad_ptrs++; bad_op = "free of a pointer it did not allocate";
}
/* 1 when [p, p + bytes) lies in one allocation (NULL is fine: absent inputs). */
static int on_device(const void *p, size_t bytes)
{
    if (!p) return 1;
    const char *c = p;
    for (int i = 0; i < nblocks; i++)
        if (c >= blocks[i].p && c + bytes <= blocks[i].p + blocks[i].n) return 1;
    return 0;
}
static void need(const void *p, size_t bytes, const char *op)
{
    if (!on_device(p, bytes)) { bad_ptrs++; bad_op = op; }
}
static void fk_upload(const ct_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be; need(dst, bytes, "upload"); uploads++; memcpy(dst, src, bytes);
}
static void fk_download(const ct_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be; need(src, bytes, "download"); downloads++; memcpy(dst, src, bytes);
}
static void fk_copy_rows(const ct_backend *be, int n, long len, float *dst, long dld, const float *src, long sld)
{
    (void)be;
    if (n > 0 && len > 0) {
        need(dst, ((size_t)(n - 1) * dld + len) * 4, "copy_rows dst");
        need(src, ((size_t)(n - 1) * sld + len) * 4, "copy_rows src");
    }
    CPU->copy_rows(CPU, n, len, dst, dld, src, sld);
}
static void fk_linear(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y,
                      int ldy)
{
    (void)be;
    size_t es = W->dtype == CT_F32 ? 4 : 2;
    need(X, ((size_t)(R - 1) * ldx + W->shape[1]) * 4, "linear X");
    need(W->data, ((size_t)(W->shape[0] - 1) * W->stride[0] + W->shape[1]) * es, "linear W");
    need(b, (size_t)W->shape[0] * 4, "linear b");
    need(Y, ((size_t)(R - 1) * ldy + W->shape[0]) * 4, "linear Y");
    if (W->device != CT_DEVICE_CUDA) { bad_ptrs++; bad_op = "linear: a host weight view"; }
    CPU->linear(CPU, R, X, ldx, W, b, Y, ldy);
}
static void fk_norm(const ct_backend *be, ct_norm_kind kind, float eps, int R, int D, const float *x, const float *w,
                    const float *b, float *y)
{
    (void)be;
    need(x, (size_t)R * D * 4, "norm x"); need(w, (size_t)D * 4, "norm w"); need(b, (size_t)D * 4, "norm b");
    need(y, (size_t)R * D * 4, "norm y");
    CPU->norm(CPU, kind, eps, R, D, x, w, b, y);
}
static void fk_rope(const ct_backend *be, int R, int n, int p0, float *x, int ld, int nh, int hd, int rd, int il,
                    const ct_rope_table *rt)
{
    (void)be;
    need(x, ((size_t)(R - 1) * ld + (size_t)nh * hd) * 4, "rope x");
    CPU->rope(CPU, R, n, p0, x, ld, nh, hd, rd, il, rt);
}
static void fk_act(const ct_backend *be, ct_act a, long n, float *x)
{
    (void)be; need(x, (size_t)n * 4, "act"); CPU->act(CPU, a, n, x);
}
static void fk_act_gated(const ct_backend *be, ct_act a, int R, int F, float *x, int ld)
{
    (void)be; need(x, ((size_t)(R - 1) * ld + 2 * (size_t)F) * 4, "act_gated"); CPU->act_gated(CPU, a, R, F, x, ld);
}
static void fk_add(const ct_backend *be, long n, const float *a, const float *b, const float *c, float *y)
{
    (void)be;
    need(a, (size_t)n * 4, "add a"); need(b, (size_t)n * 4, "add b"); need(c, (size_t)n * 4, "add c");
    need(y, (size_t)n * 4, "add y");
    CPU->add(CPU, n, a, b, c, y);
}
static void fk_scale(const ct_backend *be, long n, float *x, float s)
{
    (void)be; need(x, (size_t)n * 4, "scale"); CPU->scale(CPU, n, x, s);
}
static void fk_softcap(const ct_backend *be, long n, float *x, float cap)
{
    (void)be; need(x, (size_t)n * 4, "softcap"); CPU->softcap(CPU, n, x, cap);
}
static void fk_embed(const ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out)
{
    (void)be;
    size_t es = E->dtype == CT_F32 ? 4 : 2;
    need(E->data, (size_t)E->shape[0] * E->shape[1] * es, "embed E");
    need(out, (size_t)n * E->shape[1] * 4, "embed out");
    if (on_device(ids, 4) && n > 0) { bad_ptrs++; bad_op = "embed: ids must be host memory"; }
    CPU->embed(CPU, E, ids, n, out);
}
static void fk_attention(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0, const float *q, int q_ld,
                         const float *const *kp, const float *const *vp, const float *const *kn,
                         const float *const *vn, float *ctx)
{
    (void)be;
    size_t KV = (size_t)a->n_kv_heads * a->head_dim, HD = (size_t)a->n_heads * a->head_dim;
    need(q, ((size_t)(nb * n - 1) * q_ld + HD) * 4, "attention q");
    need(ctx, (size_t)nb * n * HD * 4, "attention ctx");
    for (int b = 0; b < nb; b++) {
        if (p0) { need(kp[b], (size_t)p0 * KV * 4, "attention k_past"); need(vp[b], (size_t)p0 * KV * 4, "attention v_past"); }
        need(kn[b], (size_t)n * KV * 4, "attention k_new"); need(vn[b], (size_t)n * KV * 4, "attention v_new");
    }
    CPU->attention(CPU, a, nb, n, p0, q, q_ld, kp, vp, kn, vn, ctx);
}
static void fk_token_probs(const ct_backend *be, int R, int V, const float *lg, int k, const int32_t *tok, float *out)
{
    (void)be;
    need(lg, (size_t)R * V * 4, "token_probs logits"); need(out, (size_t)R * k * 4, "token_probs out");
    CPU->token_probs(CPU, R, V, lg, k, tok, out);
}
static void fk_softmax_mean(const ct_backend *be, int R, int V, const float *lg, float *out)
{
    (void)be;
    need(lg, (size_t)R * V * 4, "softmax_mean logits"); need(out, (size_t)V * 4, "softmax_mean out");
    CPU->softmax_mean(CPU, R, V, lg, out);
}

static void fk_token_probs_linear(const ct_backend *be, int R, const float *x, const ct_tensor *W, const float *b,
                                  float cap, int k, const int32_t *tok, float *out)
{
    (void)be;
    size_t es = W->dtype == CT_F32 ? 4 : 2;
    need(x, (size_t)R * W->shape[1] * 4, "token_probs_linear x"); need(out, (size_t)R * k * 4, "token_probs_linear out");
    need(W->data, ((size_t)(W->shape[0] - 1) * W->stride[0] + W->shape[1]) * es, "token_probs_linear W");
    if (b) need(b, (size_t)W->shape[0] * 4, "token_probs_linear b");
    if (on_device(tok, 4) && R * k > 0) { bad_ptrs++; bad_op = "token_probs_linear: tok must be host memory"; }
    CPU->token_probs_linear(CPU, R, x, W, b, cap, k, tok, out);
}

static void make_fake(void)
{
    CPU = ct_backend_cpu();
    FAKE = *CPU;
    FAKE.name = "fake-device";
    FAKE.device = CT_DEVICE_CUDA;
    FAKE.alloc = fk_alloc; FAKE.free = fk_free; FAKE.upload = fk_upload; FAKE.download = fk_download;
    FAKE.copy_rows = fk_copy_rows; FAKE.linear = fk_linear; FAKE.norm = fk_norm; FAKE.rope = fk_rope;
    FAKE.act = fk_act; FAKE.act_gated = fk_act_gated; FAKE.add = fk_add; FAKE.scale = fk_scale;
    FAKE.softcap = fk_softcap; FAKE.embed = fk_embed; FAKE.attention = fk_attention;
    FAKE.token_probs = fk_token_probs; FAKE.softmax_mean = fk_softmax_mean;
    FAKE.token_probs_linear = fk_token_probs_linear;
}

static double maxdiff(const float *a, const float *b, long n)
{
    double d = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e != e) return INFINITY;
        if (e > d) d = e;
    }
    return d;
}

static void one_fixture(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "hf-tiny/%s", name);
    const char *dir = ct_fixture(rel);
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    if (!m) return;
    const int V = ct_model_vocab(m), L = ct_model_n_layers(m), D = ct_model_d_model(m);
    enum { T = 9 };
    int32_t ids[T] = {1, 200, 13, 77, 211, 0, 5, 5, 42};
    float *lc = malloc(sizeof(float) * T * V), *lg = malloc(sizeof(float) * T * V);
    float *rc = malloc(sizeof(float) * (L + 1) * T * D), *rg = malloc(sizeof(float) * (L + 1) * T * D);
    float std_cpu = ct_model_embedding_std(m);
    CHECK_OK(ct_forward(m, ids, T, lc, rc, &err), &err);
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = (const int32_t[]){2, 5}, .n_ranges = 1,
                         .answer = (const int32_t[]){42, 7}, .n_answer = 2};
    ct_trace_result cpu_r[2][3], dev_r[2][3];
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 3; k++) {
            ct_trace_settings s;
            ct_trace_settings_default(&s);
            s.kind = (ct_kind)k; s.samples = 3; s.engine = (ct_engine)e;
            CHECK_OK(ct_trace_run(m, &in, &s, &cpu_r[e][k], &err), &err);
        }

    /* onto the fake device */
    int live0 = live, up0 = uploads;
    CHECK_OK(ct_model_place_weights(m, &FAKE, &err), &err);
    ct_model_use_backend(m, &FAKE);
    int distinct = 0;
    for (int i = 0; i < m->n_dev; i++) distinct += m->dev[i] != NULL;
    CHECK(live - live0 == distinct && uploads - up0 == distinct && distinct > 0,
          "%s: %d device buffers, %d uploads, %d distinct weights", name, live - live0, uploads - up0, distinct);
    if (m->cfg.tie_embeddings)
        CHECK(m->g[G_LM_HEAD].data == m->g[G_EMB].data, "%s: tied embeddings uploaded once and shared", name);
    CHECK(m->g[G_EMB].device == CT_DEVICE_CUDA && m->host_g[G_EMB].device == CT_DEVICE_CPU, "%s: views swapped", name);
    CHECK(ct_model_embedding_std(m) == std_cpu, "%s: embedding std from the host copy", name);
    bad_ptrs = 0; bad_op = NULL;
    CHECK_OK(ct_forward(m, ids, T, lg, rg, &err), &err);
    CHECK(bad_ptrs == 0, "%s forward: %d host pointers handed to ops (%s)", name, bad_ptrs, bad_op ? bad_op : "");
    double dl = maxdiff(lg, lc, (long)T * V), dr = maxdiff(rg, rc, (long)(L + 1) * T * D);
    CHECK(dl == 0 && dr == 0, "%s forward on the fake device: logits differ by %.3g, resid by %.3g", name, dl, dr);
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 3; k++) {
            ct_trace_settings s;
            ct_trace_settings_default(&s);
            s.kind = (ct_kind)k; s.samples = 3; s.engine = (ct_engine)e;
            bad_ptrs = 0; bad_op = NULL;
            CHECK_OK(ct_trace_run(m, &in, &s, &dev_r[e][k], &err), &err);
            CHECK(bad_ptrs == 0, "%s %s %s trace: %d host pointers handed to ops (%s)", name, ct_engine_name((ct_engine)e),
                  ct_kind_name((ct_kind)k), bad_ptrs, bad_op ? bad_op : "");
            const ct_trace_target *a = &cpu_r[e][k].targets[0], *b = &dev_r[e][k].targets[0];
            long n = (long)cpu_r[e][k].S * cpu_r[e][k].T * cpu_r[e][k].L;
            double d = maxdiff(a->scores_samples, b->scores_samples, n);
            CHECK(d == 0 && a->high_score == b->high_score && a->low_score == b->low_score,
                  "%s %s %s: fake-device scores differ from the CPU's by %.3g", name, ct_engine_name((ct_engine)e),
                  ct_kind_name((ct_kind)k), d);
            ct_trace_result_free(&cpu_r[e][k]);
            ct_trace_result_free(&dev_r[e][k]);
        }
    /* back to the CPU: device copies freed, host views back */
    CHECK_OK(ct_model_set_backend(m, "cpu", &err), &err);
    CHECK(live == live0 && m->dev_be == NULL && m->g[G_EMB].device == CT_DEVICE_CPU, "%s: device buffers freed (%d left)",
          name, live - live0);
    CHECK_OK(ct_forward(m, ids, T, lg, NULL, &err), &err);
    CHECK(maxdiff(lg, lc, (long)T * V) == 0, "%s: back on the CPU, the same logits", name);
    /* and freed with the model */
    CHECK_OK(ct_model_place_weights(m, &FAKE, &err), &err);
    ct_model_free(m);
    CHECK(live == live0, "%s: ct_model_free freed the device copies (%d left)", name, live - live0);
    free(lc); free(lg); free(rc); free(rg);
}

int main(void)
{
    TEST_BEGIN();
    make_fake();
    static const char *const fixtures[] = {"gpt2", "llama_gqa", "llama_bf16", "gemma2", "phi", "gptj"};
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) one_fixture(fixtures[i]);
    /* the checker itself: a model on the table without its weights placed hands host views to the ops */
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, ct_fixture("hf-tiny/gpt2"), &err), &err);
    if (m) {
        int32_t ids[3] = {1, 2, 3};
        float *lg = malloc(sizeof(float) * 3 * ct_model_vocab(m));
        ct_model_use_backend(m, &FAKE);
        bad_ptrs = 0;
        CHECK_OK(ct_forward(m, ids, 3, lg, NULL, &err), &err);
        CHECK(bad_ptrs > 0, "the pointer check sees host weights (%d)", bad_ptrs);
        ct_model_use_backend(m, CPU);
        ct_model_free(m);
        free(lg);
    }
    /* names */
    CHECK(ct_device_select("cpu", &err) == 0 && ct_device_select(NULL, &err) == 0, "cpu is always there");
#ifndef CT_HAVE_CUDA
    CHECK(ct_backend_find("cuda", CT_F32) == NULL && ct_backend_find("cuda", CT_BF16) == NULL, "no cuda table without CUDA");
    CHECK(ct_device_select("cuda", &err) != 0 && err.code == CT_ERR_DEVICE && strstr(err.msg, "without CUDA"),
          "cuda without a CUDA build: %s", err.msg);
#endif
    CHECK(ct_device_select("cuda:x", &err) != 0 && err.code == CT_ERR_INPUT, "cuda:x rejected");
    CHECK(ct_device_select("gpu", &err) != 0 && err.code == CT_ERR_INPUT, "gpu rejected");
    return TEST_END();
}
