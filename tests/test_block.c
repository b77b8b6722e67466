/* test_block.c — ct_block as the tracing engine drives it: resuming at
 * position p0 from cached keys/values gives the full pass's numbers, batched
 * sequences give each sequence's own numbers, and the patch callback sees
 * ATTN, MLP, HIDDEN in that order with each overwrite flowing into what
 * follows (sequential: the MLP sees the patched attention; parallel: the two
 * summands are independent).  Both attention paths (row loop, sgemm) are
 * exercised: resuming 12 positions uses the first, the full pass the second.  The reference is ct_forward, itself checked
 * against transformers in test_model_fixtures.  ct_block_kv must write exactly
 * (bit for bit) the keys/values ct_block writes for the same input and shape, on
 * every fixture and on random models whose query width is not a multiple of the
 * 128-column product blocks (so ct_block_kv's product starts inside the queries). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static const int32_t ids_a[19] = {1, 200, 13, 77, 511, 0, 5, 5, 42, 300, 128, 9, 77, 401, 256, 33, 2, 460, 101};
static const int32_t ids_b[19] = {7, 8, 9, 10, 11, 12, 13, 400, 300, 200, 100, 1, 2, 3, 4, 5, 6, 7, 8};
enum { T = 19 };

typedef struct {
    int log[64][2];
    int nlog;
    int mode;           /* 0 record only; 1 zero attn; 2 zero mlp; 3 hidden := 1 */
    long nelem;
} patcher;

static void patch_fn(void *ctx, const ct_site_at *at, const ct_tensor *view)
{
    patcher *p = ctx;
    ct_site site = at->kind;
    int layer = at->layer;
    float *buf = view->data;
    if (p->nlog < 64) { p->log[p->nlog][0] = site; p->log[p->nlog][1] = layer; p->nlog++; }
    if ((p->mode == 1 && site == CT_SITE_ATTN) || (p->mode == 2 && site == CT_SITE_MLP))
        memset(buf, 0, (size_t)p->nelem * sizeof(float));
    if (p->mode == 3 && site == CT_SITE_HIDDEN)
        for (long k = 0; k < p->nelem; k++) buf[k] = 1.0f;
}

static void run_dir(const char *name, const char *dir, const int p0);
static void kv_only(const char *name, const ct_model *m, const float *ra, const float *rb, int p0);

static void run(const char *name, const int p0)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s", ct_fixture("hf-tiny/"), name);
    run_dir(name, dir, p0);
}

/* A copy of a fixture with one config.json string replaced (same length). */
static const char *variant(const char *fixture, const char *from, const char *to)
{
    static char dir[256];
    char p[512], src[4200], cfg[8192];
    snprintf(dir, sizeof dir, "/tmp/ctrace-test-variant-%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(src, sizeof src, "%s%s/config.json", ct_fixture("hf-tiny/"), fixture);
    FILE *f = fopen(src, "rb");
    size_t len = f ? fread(cfg, 1, sizeof cfg - 1, f) : 0;
    if (f) fclose(f);
    cfg[len] = 0;
    char *at = strstr(cfg, from);
    CHECK(at && strlen(from) == strlen(to), "%s: cannot replace '%s'", fixture, from);
    if (at) memcpy(at, to, strlen(to));
    snprintf(p, sizeof p, "%s/config.json", dir);
    f = fopen(p, "wb");
    fputs(cfg, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(src, sizeof src, "%s%s/model.safetensors", ct_fixture("hf-tiny/"), fixture);
    unlink(p);
    CHECK(symlink(src, p) == 0, "symlink %s", p);
    return dir;
}

static void remove_variant(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    rmdir(dir);
}

static void run_dir(const char *name, const char *dir, const int p0)
{
    ct_err err;
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    if (!m) return;
    const struct ct_config *c = ct_model_config(m);
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m), KV = ct_model_kv_dim(m), V = ct_model_vocab(m);
    float *ra = malloc(sizeof(float) * (L + 1) * T * D), *rb = malloc(sizeof(float) * (L + 1) * T * D);
    float *la = malloc(sizeof(float) * T * V);
    CHECK_OK(ct_forward(m, ids_a, T, la, ra, &err), &err);
    CHECK_OK(ct_forward(m, ids_b, T, NULL, rb, &err), &err);

    /* 1. resume at p0 = 7 from cached k/v, both sequences batched (nb = 2) */
    const int n = T - p0;
    float *kc = malloc(sizeof(float) * 2 * T * KV), *vc = malloc(sizeof(float) * 2 * T * KV);   /* [2][T, KV] */
    float *x = malloc(sizeof(float) * 2 * T * D), *x1 = malloc(sizeof(float) * 2 * n * D);       /* [2, T, D], [2, n, D] */
    float *ao = malloc(sizeof(float) * 2 * T * D), *mo = malloc(sizeof(float) * 2 * T * D);
    ct_scratch ws = {0};
    ct_embed_tokens(m, ids_a, T, x);
    ct_embed_tokens(m, ids_b, T, x + T * D);
    ct_embed_finish(m, 0, T, x);
    ct_embed_finish(m, 0, T, x + T * D);
    double worst = 0;
    for (int l = 0; l < L; l++) {
        /* prefix of each sequence alone (p0 = 0), then both suffixes in one call */
        for (int b = 0; b < 2; b++) {
            float *kn = kc + b * T * KV, *vn = vc + b * T * KV;
            CHECK_OK(ct_block(m, l, 1, p0, 0, x + b * T * D, x + b * T * D, NULL, NULL, &kn, &vn,
                              ao, mo, NULL, NULL, &ws, &err), &err);
        }
        for (int b = 0; b < 2; b++) memcpy(x1 + b * n * D, x + (b * T + p0) * D, sizeof(float) * n * D);
        const float *kp[2] = {kc, kc + T * KV}, *vp[2] = {vc, vc + T * KV};
        float *kn[2] = {kc + p0 * KV, kc + T * KV + p0 * KV}, *vn[2] = {vc + p0 * KV, vc + T * KV + p0 * KV};
        CHECK_OK(ct_block(m, l, 2, n, p0, x1, x1, kp, vp, kn, vn, ao, mo, NULL, NULL, &ws, &err), &err);
        for (int b = 0; b < 2; b++) memcpy(x + (b * T + p0) * D, x1 + b * n * D, sizeof(float) * n * D);
        double da = ct_max_abs_diff(x, ra + (l + 1) * T * D, T * D, NULL);
        double db = ct_max_abs_diff(x + T * D, rb + (l + 1) * T * D, T * D, NULL);
        if (da > worst) worst = da;
        if (db > worst) worst = db;
    }
    CHECK(worst <= 1e-5, "%s: cached/batched blocks differ from the full pass by %.3g", name, worst);
    float *lx = malloc(sizeof(float) * T * V);
    CHECK_OK(ct_logits(m, T, x, lx, &ws, &err), &err);
    CHECK_CLOSE(lx, la, (long)T * V, 1e-5, "logits after cached blocks");
    printf("  %-10s resume at %d (+batch) max |diff| %.2e\n", name, p0, worst);

    /* 2. patch sites: order, and what each overwrite changes */
    float *xin = ra + 1 * T * D, *out = malloc(sizeof(float) * T * D);
    float *a0 = malloc(sizeof(float) * T * D), *m0 = malloc(sizeof(float) * T * D);
    patcher p = {.mode = 0, .nelem = (long)T * D};
    CHECK_OK(ct_block(m, 1, 1, T, 0, xin, out, NULL, NULL, NULL, NULL, a0, m0, patch_fn, &p, &ws, &err), &err);
    CHECK(p.nlog == 4 && p.log[0][0] == CT_SITE_HEADS && p.log[1][0] == CT_SITE_ATTN && p.log[2][0] == CT_SITE_MLP &&
          p.log[3][0] == CT_SITE_HIDDEN && p.log[0][1] == 1 && p.log[3][1] == 1,
          "%s: sites called %d times, first %d", name, p.nlog, p.log[0][0]);
    CHECK_CLOSE(out, ra + 2 * T * D, (long)T * D, 1e-5, "block output with a recording patch");

    p = (patcher){.mode = 1, .nelem = (long)T * D};   /* attention output := 0 */
    CHECK_OK(ct_block(m, 1, 1, T, 0, xin, out, NULL, NULL, NULL, NULL, ao, mo, patch_fn, &p, &ws, &err), &err);
    int exact = 1, mlp_same = memcmp(mo, m0, sizeof(float) * T * D) == 0;
    for (long k = 0; k < (long)T * D; k++) exact &= out[k] == (xin[k] + 0.0f) + mo[k] || out[k] == xin[k] + 0.0f + mo[k];
    CHECK(exact, "%s: with attention zeroed, out != x + mlp", name);
    if (c->parallel) CHECK(mlp_same, "%s: parallel MLP changed when the attention summand was patched", name);
    else CHECK(!mlp_same, "%s: sequential MLP did not see the patched attention output", name);

    p = (patcher){.mode = 2, .nelem = (long)T * D};   /* MLP output := 0 */
    CHECK_OK(ct_block(m, 1, 1, T, 0, xin, out, NULL, NULL, NULL, NULL, ao, mo, patch_fn, &p, &ws, &err), &err);
    CHECK(memcmp(ao, a0, sizeof(float) * T * D) == 0, "%s: attention output changed by an MLP patch", name);
    exact = 1;
    for (long k = 0; k < (long)T * D; k++) exact &= out[k] == xin[k] + ao[k] + 0.0f;
    CHECK(exact, "%s: with the MLP zeroed, out != x + attn", name);

    p = (patcher){.mode = 3, .nelem = (long)T * D};   /* block output := 1 */
    CHECK_OK(ct_block(m, 1, 1, T, 0, xin, out, NULL, NULL, NULL, NULL, ao, mo, patch_fn, &p, &ws, &err), &err);
    exact = 1;
    for (long k = 0; k < (long)T * D; k++) exact &= out[k] == 1.0f;
    CHECK(exact, "%s: hidden patch not kept in x_out", name);

    kv_only(name, m, ra, rb, p0);

    ct_scratch_free(&ws);
    free(ra); free(rb); free(la); free(lx); free(kc); free(vc); free(x); free(x1); free(ao); free(mo);
    free(out); free(a0); free(m0);
    ct_model_free(m);
}

/* ct_block_kv vs ct_block's k_new/v_new, every layer, 2 sequences resumed at p0
 * (x_in: rows p0.. of each layer's input of the passes ra, rb [L+1, T, D]). */
static void kv_only(const char *name, const ct_model *m, const float *ra, const float *rb, int p0)
{
    ct_err err;
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m), KV = ct_model_kv_dim(m), n = T - p0;
    float *x = malloc(sizeof(float) * 2 * n * D), *out = malloc(sizeof(float) * 2 * n * D);  /* [2, n, D] */
    float *ao = malloc(sizeof(float) * 2 * n * D), *mo = malloc(sizeof(float) * 2 * n * D);
    float *past = calloc((size_t)(p0 ? p0 : 1) * KV, sizeof(float));                         /* [p0, KV] */
    float *kb = malloc(sizeof(float) * 4 * n * KV), *kk = malloc(sizeof(float) * 4 * n * KV); /* k [2, n, KV] | v */
    ct_scratch ws = {0};
    int same = 1, bad_layer = -1;
    for (int l = 0; l < L; l++) {
        memcpy(x, ra + ((size_t)l * T + p0) * D, sizeof(float) * n * D);
        memcpy(x + n * D, rb + ((size_t)l * T + p0) * D, sizeof(float) * n * D);
        const float *pp[2] = {past, past};
        float *bk[2] = {kb, kb + n * KV}, *bv[2] = {kb + 2 * n * KV, kb + 3 * n * KV};
        float *ok[2] = {kk, kk + n * KV}, *ov[2] = {kk + 2 * n * KV, kk + 3 * n * KV};
        memset(kk, 0xff, sizeof(float) * 4 * n * KV);   /* NaNs: every element must be written */
        CHECK_OK(ct_block(m, l, 2, n, p0, x, out, pp, pp, bk, bv, ao, mo, NULL, NULL, &ws, &err), &err);
        CHECK_OK(ct_block_kv(m, l, 2, n, p0, x, ok, ov, &ws, &err), &err);
        if (memcmp(kb, kk, sizeof(float) * 4 * n * KV) != 0 && same) { same = 0; bad_layer = l; }
    }
    CHECK(same, "%s: ct_block_kv's keys/values differ from ct_block's at layer %d (p0 %d)", name, bad_layer, p0);
    float *k1[1] = {kk}, *v1[1] = {kk};
    CHECK(ct_block_kv(m, L, 1, 1, 0, x, k1, v1, &ws, &err) == -1, "%s: ct_block_kv accepted layer %d", name, L);
    printf("  %-10s ct_block_kv = ct_block keys/values at p0 %d: %s\n", name, p0, same ? "bit-identical" : "DIFFERENT");
    ct_scratch_free(&ws);
    free(x); free(out); free(ao); free(mo); free(past); free(kb); free(kk);
}

/* Random models with query width H·hd = 192 or 320 (the keys start inside a
 * 128-column product block), rotary half-split / interleaved / partial. */
static void kv_only_random(const char *name, const char *json)
{
    ct_err err;
    struct ct_config cfg;
    ct_model *m = NULL;
    CHECK_OK(ct_config_parse(&cfg, json, name, &err), &err);
    CHECK_OK(ct_model_random(&m, &cfg, 11, &err), &err);
    if (!m) return;
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m);
    float *ra = malloc(sizeof(float) * (L + 1) * T * D), *rb = malloc(sizeof(float) * (L + 1) * T * D);
    CHECK_OK(ct_forward(m, ids_a, T, NULL, ra, &err), &err);
    CHECK_OK(ct_forward(m, ids_b, T, NULL, rb, &err), &err);
    kv_only(name, m, ra, rb, 5);
    free(ra); free(rb);
    ct_model_free(m);
}

/* Sliding window: in a one-layer mistral with window 3, position p's output
 * equals the last position's output of the 3 tokens ending at p on their own
 * (rotary attention only sees relative positions). */
static void sliding_window(void)
{
    char dir[256], p[512], cfgp[4200];
    snprintf(dir, sizeof dir, "/tmp/ctrace-test-window-%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", ct_fixture("hf-tiny/mistral"));
    FILE *f = fopen(cfgp, "rb");
    char cfg[8192];
    size_t len = f ? fread(cfg, 1, sizeof cfg - 1, f) : 0;
    if (f) fclose(f);
    cfg[len] = 0;
    char *w = strstr(cfg, "\"sliding_window\": 4096"), *l = strstr(cfg, "\"num_hidden_layers\": 4");
    CHECK(w && l, "mistral fixture config changed");
    if (!w || !l) return;
    memcpy(w, "\"sliding_window\":    3", 22);
    memcpy(l, "\"num_hidden_layers\": 1", 22);
    snprintf(p, sizeof p, "%s/config.json", dir);
    f = fopen(p, "wb");
    fputs(cfg, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(cfgp, sizeof cfgp, "%s/model.safetensors", ct_fixture("hf-tiny/mistral"));
    CHECK(symlink(cfgp, p) == 0, "symlink %s", p);
    ct_err err;
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    if (m) {
        const int D = ct_model_d_model(m);
        float full[2 * T * 64], part[2 * 3 * 64];
        CHECK(D == 64, "mistral fixture hidden size %d", D);
        CHECK_OK(ct_forward(m, ids_a, T, NULL, full, &err), &err);
        double worst = 0;
        for (int q = 2; q < T; q++) {
            CHECK_OK(ct_forward(m, ids_a + q - 2, 3, NULL, part, &err), &err);
            double d = ct_max_abs_diff(full + (T + q) * D, part + (3 + 2) * D, D, NULL);
            if (d > worst) worst = d;
        }
        CHECK(worst < 1e-4, "sliding window: position outputs differ from windowed sub-sequences by %.3g", worst);
        printf("  sliding window 3: max |diff| vs. sub-sequences %.2e\n", worst);
        ct_model_free(m);
    }
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    rmdir(dir);
}

int main(void)
{
    TEST_BEGIN();
    const char *names[] = {"llama_gqa", "gpt2", "gptj", "gpt_neox", "phi", "gemma2", "phi3"};
    /* p0 = 7 resumes 12 positions (row-at-a-time attention), p0 = 2 resumes 17 (sgemm attention) */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) { run(names[i], 7); run(names[i], 2); }
    sliding_window();
    kv_only_random("rand-llama", "{\"model_type\": \"llama\", \"hidden_size\": 192, \"num_hidden_layers\": 2, "
                   "\"num_attention_heads\": 3, \"num_key_value_heads\": 1, \"intermediate_size\": 256, "
                   "\"vocab_size\": 512}");
    kv_only_random("rand-gptj", "{\"model_type\": \"gptj\", \"n_embd\": 320, \"n_layer\": 2, \"n_head\": 5, "
                   "\"rotary_dim\": 32, \"vocab_size\": 512}");
    kv_only_random("rand-phi", "{\"model_type\": \"phi\", \"hidden_size\": 320, \"num_hidden_layers\": 2, "
                   "\"num_attention_heads\": 5, \"intermediate_size\": 256, \"partial_rotary_factor\": 0.5, "
                   "\"vocab_size\": 512}");
    /* gpt_neox with use_parallel_residual: false runs the sequential layout */
    const char *seq = variant("gpt_neox", "\"use_parallel_residual\": true", "\"use_parallel_residual\":false");
    run_dir("neox-seq", seq, 7);
    run_dir("neox-seq", seq, 2);
    remove_variant(seq);
    return TEST_END();
}
