/* bench/trace.c — the tracing engines on random Llama-layout models.
 *
 *   build/bench/trace [small|medium|all] [fast|naive|both] [hidden|mlp|attention|head|all|every]
 *                     [weights f32|bf16|f16] [compute f32|bf16] [backend cpu|openblas|ref]
 *
 * Default: "small" with both engines and all three sublayer kinds, then
 * "medium" with the fast engine on all kinds (the naive engine on medium takes
 * minutes per kind: ask for it with `medium naive`).  The head kind (cells
 * (t, l, h): H times as many) is asked for by name ("head", or "every" for the
 * four kinds); its naive engine runs only when asked for (`small naive head`:
 * minutes).  32-token prompt, span [4, 8), S = 10, window 10.
 *
 * Prints the machine's matrix-product peaks measured in this process (2048³,
 * 2 threads: OpenBLAS sgemm, oneDNN sgemm — AVX-512 kernels where the CPU has
 * them — and oneDNN's bf16 matmul), then per run: wall time, cells/s, the
 * FLOPs the engine performed (block matrix products, attention, output
 * projection), GFLOP/s, and the products alone: their time (timed around
 * every linear and token_probs_linear call of the backend) and rate against the peak of the same
 * kernel; the rest of the wall time is attention, norms, copies and scoring.
 * "weights" holds the matrices in that dtype (the numbers are those of the
 * same weights in float32); "compute" is the products' dtype (--dtype). */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef CT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#include "ctrace_app.h"
#include "ops/ops.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of 3: one 2048³ product on 2 threads, f32 through OpenBLAS's or
 * oneDNN's own threading, or bf16 through the backend's own blocked kernel
 * (the only bf16 product at hand). */
enum { PEAK_BLAS, PEAK_DNNL, PEAK_BF16 };
static double product_peak(int which)
{
    int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    uint16_t *bh = NULL;
    ct_tensor W = ct_tensor_2d(CT_F32, b, n, n);
    if (which == PEAK_BF16) {
        bh = malloc(sizeof *bh * n * n);
        for (long i = 0; i < (long)n * n; i++) bh[i] = ct_f32_to_bf16(b[i]);
        W = ct_tensor_2d(CT_BF16, bh, n, n);
    }
    ct_set_threads(2);              /* (keeps OpenBLAS at one thread: its own threads next) */
    openblas_set_num_threads(2);
    double best = 1e9;
    for (int k = 0; k < 3; k++) {
        double t = now_s();
        if (which == PEAK_BLAS) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
#ifdef CT_HAVE_DNNL
        else if (which == PEAK_DNNL) dnnl_sgemm('N', 'T', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
#endif
        else if (which == PEAK_BF16) ct_backend_cpu_bf16()->linear(ct_backend_cpu_bf16(), n, a, n, &W, NULL, c, n);
        else break;
        t = now_s() - t;
        if (t < best) best = t;
    }
    openblas_set_num_threads(1);
    free(a); free(b); free(c); free(bh);
    return best < 1e9 ? 2.0 * n * n * (double)n / best / 1e9 : 0;
}

/* The backend under test, wrapped so that every product is timed: a copy of
 * its table whose linear calls the real one (bench-local state). */
static const ct_backend *inner;
static ct_backend timed;
static double lin_seconds, lin_flops;
static void timed_linear(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W, const float *b,
                         float *Y, int ldy)
{
    (void)be;
    double t = now_s();
    inner->linear(inner, R, X, ldx, W, b, Y, ldy);
    lin_seconds += now_s() - t;
    lin_flops += 2.0 * R * (double)W->shape[0] * (double)W->shape[1];
}

/* The other ops, timed the same way: seconds per op over one trace. */
enum { OP_COPY, OP_NORM, OP_ROPE, OP_ACT, OP_GATED, OP_ADD, OP_ATTN, OP_PROBS, OP_OTHER, N_OPS };
static const char *const op_names[N_OPS] = {"copy", "norm", "rope", "act", "gated", "add", "attention", "probs", "other"};
static double op_seconds[N_OPS];
#define TIMED(op, call) do { double t_ = now_s(); call; op_seconds[op] += now_s() - t_; } while (0)
static void t_copy(const ct_backend *be, int n, long len, float *dst, long dld, const float *src, long sld)
{ (void)be; TIMED(OP_COPY, inner->copy_rows(inner, n, len, dst, dld, src, sld)); }
static void t_norm(const ct_backend *be, ct_norm_kind kind, float eps, int R, int D, const float *x, const float *w,
                   const float *b, float *y)
{ (void)be; TIMED(OP_NORM, inner->norm(inner, kind, eps, R, D, x, w, b, y)); }
static void t_rope(const ct_backend *be, int R, int n, int p0, float *x, int ld, int nheads, int hd, int rd, int il,
                   const ct_rope_table *rt)
{ (void)be; TIMED(OP_ROPE, inner->rope(inner, R, n, p0, x, ld, nheads, hd, rd, il, rt)); }
static void t_act(const ct_backend *be, ct_act a, long n, float *x) { (void)be; TIMED(OP_ACT, inner->act(inner, a, n, x)); }
static void t_gated(const ct_backend *be, ct_act a, int R, int F, float *x, int ld)
{ (void)be; TIMED(OP_GATED, inner->act_gated(inner, a, R, F, x, ld)); }
static void t_add(const ct_backend *be, long n, const float *a, const float *b, const float *c, float *y)
{ (void)be; TIMED(OP_ADD, inner->add(inner, n, a, b, c, y)); }
static void t_attn(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0, const float *q, int q_ld,
                   const float *const *kp, const float *const *vp, const float *const *kn, const float *const *vn,
                   float *ctx)
{ (void)be; TIMED(OP_ATTN, inner->attention(inner, a, nb, n, p0, q, q_ld, kp, vp, kn, vn, ctx)); }
static void t_probs(const ct_backend *be, int R, int V, const float *logits, int k, const int32_t *tok, float *out)
{ (void)be; TIMED(OP_PROBS, inner->token_probs(inner, R, V, logits, k, tok, out)); }
static void t_scale(const ct_backend *be, long n, float *x, float s) { (void)be; TIMED(OP_OTHER, inner->scale(inner, n, x, s)); }
static void t_embed(const ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out)
{ (void)be; TIMED(OP_OTHER, inner->embed(inner, E, ids, n, out)); }

/* Scoring straight from rows: the output projection is a product (timed and
 * counted with them), its softmax folded in. */
static void t_probs_linear(const ct_backend *be, int R, const float *x, const ct_tensor *W, const float *b, float cap,
                           int k, const int32_t *tok, float *out)
{
    (void)be;
    double t = now_s();
    inner->token_probs_linear(inner, R, x, W, b, cap, k, tok, out);
    lin_seconds += now_s() - t;
    lin_flops += 2.0 * R * (double)W->shape[0] * (double)W->shape[1];
}

static void wrap_ops(void)
{
    timed = *inner;
    timed.linear = timed_linear;
    timed.copy_rows = t_copy; timed.norm = t_norm; timed.rope = t_rope; timed.act = t_act;
    timed.act_gated = t_gated; timed.add = t_add; timed.attention = t_attn; timed.token_probs = t_probs;
    timed.scale = t_scale; timed.embed = t_embed;
    if (inner->token_probs_linear) timed.token_probs_linear = t_probs_linear;
}

static int make_model(const char *name, ct_dtype dt, ct_model **m, ct_err *err)
{
    int D, L, H, F;
    if (!strcmp(name, "small")) { D = 512; L = 8; H = 8; F = 1376; }
    else { D = 768; L = 12; H = 12; F = 2048; }
    char js[1024];
    snprintf(js, sizeof js,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":%d,"
             "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"num_key_value_heads\":%d,"
             "\"intermediate_size\":%d,\"vocab_size\":32000,\"max_position_embeddings\":2048,"
             "\"rms_norm_eps\":1e-5,\"hidden_act\":\"silu\",\"rope_theta\":10000.0,\"tie_word_embeddings\":false}",
             D, L, H, H, F);
    struct ct_config cfg;
    if (ct_config_parse(&cfg, js, name, err)) return -1;
    return ct_model_random_as(m, &cfg, 42, dt, err);
}

/* FLOPs per token-layer (all block matrix products), per attention pair, per logit row. */
static void flop_rates(const ct_model *m, double *tok, double *pair, double *row, double *kvrow)
{
    const struct ct_config *c = ct_model_config(m);
    double D = c->d_model, Q = (double)c->n_heads * c->head_dim, KV = ct_model_kv_dim(m), F = c->d_ff;
    *tok = 2.0 * (D * Q + 2 * D * KV + Q * D + (c->gated_mlp ? 3 : 2) * D * F);
    *pair = 4.0 * Q;                       /* q·k and the weighted sum of v, per head dim */
    *row = 2.0 * D * c->vocab;
    *kvrow = 2.0 * D * 2 * KV;             /* keys/values-only rows (fast engine, last layer) */
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "default", *eng = argc > 2 ? argv[2] : NULL,
               *kinds = argc > 3 ? argv[3] : "all", *dts = argc > 4 ? argv[4] : "f32",
               *cds = argc > 5 ? argv[5] : "f32", *bname = argc > 6 ? argv[6] : "cpu";
    ct_dtype dt = !strcmp(dts, "bf16") ? CT_BF16 : !strcmp(dts, "f16") ? CT_F16 : CT_F32;
    ct_dtype cdt = !strcmp(cds, "bf16") ? CT_BF16 : CT_F32;
    inner = ct_backend_find(bname, cdt);
    if (!inner) { fprintf(stderr, "bench: no backend %s with %s compute\n", bname, ct_dtype_name(cdt)); return 2; }
    wrap_ops();
    double pk[3] = {product_peak(PEAK_BLAS), product_peak(PEAK_DNNL), product_peak(PEAK_BF16)};
    printf("product peaks (2048^3, 2 threads, best of 3): OpenBLAS sgemm %.1f, oneDNN sgemm %.1f, oneDNN bf16 %.1f GFLOP/s\n",
           pk[0], pk[1], pk[2]);
    /* the products' own peak: the kernel they run on */
    int pki = cdt == CT_BF16 ? PEAK_BF16 : !strcmp(bname, "openblas") || pk[1] == 0 ? PEAK_BLAS : PEAK_DNNL;
    double peak = pk[pki];
    char desc[320];
    inner->describe(inner, desc, sizeof desc);
    printf("weights %s; %s\n", ct_dtype_name(dt), desc);
    printf("%-7s %-9s %-6s %9s %9s %10s %10s %8s %10s %10s %9s %9s\n", "model", "kind", "engine", "wall s", "cells",
           "cells/s", "GFLOP", "GFLOP/s", "products s", "prod GF/s", "of peak", "speedup");
    const char *models[] = {"small", "medium"};
    for (int mi = 0; mi < 2; mi++) {
        if (strcmp(which, "default") && strcmp(which, "all") && strcmp(which, models[mi])) continue;
        ct_model *m = NULL;
        ct_err err = {0};
        if (make_model(models[mi], dt, &m, &err)) { fprintf(stderr, "bench: %s\n", err.msg); return 1; }
        ct_model_use_backend(m, &timed);
        double ft, fp, fr, fk;
        flop_rates(m, &ft, &fp, &fr, &fk);
        int32_t ids[32], rg[2] = {4, 8}, ans[1] = {1234};
        for (int i = 0; i < 32; i++) ids[i] = (int32_t)((i * 7919 + 11) % 32000);
        ct_trace_input in = {.ids = ids, .n_ids = 32, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = 1};
        double total[2] = {0, 0}, ptotal[2] = {0, 0};   /* wall, products, per engine */
        for (int k = 0; k <= CT_KIND_HEAD; k++) {
            int named = !strcmp(kinds, ct_kind_name((ct_kind)k)) || !strcmp(kinds, "every");
            if (!named && (k == CT_KIND_HEAD || strcmp(kinds, "all"))) continue;
            double wall[2] = {0, 0};
            ct_trace_result res[2];
            int have[2] = {0, 0};
            for (int e = 0; e < 2; e++) {
                int want = eng ? (!strcmp(eng, "both") || !strcmp(eng, ct_engine_name((ct_engine)e)))
                               : (e == CT_ENGINE_FAST || (mi == 0 && k != CT_KIND_HEAD));
                if (!want) continue;
                ct_trace_settings s;
                ct_trace_settings_default(&s);
                s.kind = (ct_kind)k; s.samples = 10; s.window = 10; s.engine = (ct_engine)e;
                lin_seconds = lin_flops = 0;
                memset(op_seconds, 0, sizeof op_seconds);
                double t0 = now_s();
                if (ct_trace_run(m, &in, &s, &res[e], &err)) { fprintf(stderr, "bench: %s\n", err.msg); return 1; }
                wall[e] = now_s() - t0;
                total[e] += wall[e];
                ptotal[e] += lin_seconds;
                have[e] = 1;
                const ct_trace_result *r = &res[e];
                double flops = r->token_layers * ft + r->attn_pairs * fp + r->logit_rows * fr + r->kv_rows * fk;
                char sp[32] = "";
                if (e == CT_ENGINE_NAIVE && have[0]) snprintf(sp, sizeof sp, "%.1fx", wall[1] / wall[0]);
                long cells = (long)r->T * r->L * r->H;     /* grid cells: [T, L] or [T, L, H] */
                double prate = lin_seconds > 0 ? lin_flops / 1e9 / lin_seconds : 0;
                printf("%-7s %-9s %-6s %9.2f %9ld %10.1f %10.1f %8.1f %10.2f %10.1f %8.0f%% %9s\n", models[mi],
                       ct_kind_name((ct_kind)k), ct_engine_name((ct_engine)e), wall[e], cells, cells / wall[e], flops / 1e9,
                       flops / 1e9 / wall[e], lin_seconds, prate, peak > 0 ? 100.0 * prate / peak : 0, sp);
                double ops = lin_seconds;
                printf("        %-9s rest:", "");
                for (int o = 0; o < N_OPS; o++) { printf(" %s %.3f", op_names[o], op_seconds[o]); ops += op_seconds[o]; }
                printf(", outside the ops %.3f s\n", wall[e] - ops);
                fflush(stdout);
            }
            if (have[0] && have[1]) {
                double d = 0;
                for (long i = 0; i < (long)res[0].S * res[0].T * res[0].L * res[0].H; i++) {
                    double x = res[0].targets[0].scores_samples[i] - res[1].targets[0].scores_samples[i];
                    d = x > d ? x : -x > d ? -x : d;
                }
                printf("        %-9s max |fast - naive| over S x T x L%s scores: %.3g\n", ct_kind_name((ct_kind)k),
                       k == CT_KIND_HEAD ? " x H" : "", d);
            }
            for (int e = 0; e < 2; e++) if (have[e]) ct_trace_result_free(&res[e]);
        }
        printf("%-7s total:", models[mi]);
        if (total[0] > 0) printf(" fast %.2f s (products %.2f s)", total[0], ptotal[0]);
        if (total[1] > 0) printf(" naive %.2f s (products %.2f s)", total[1], ptotal[1]);
        if (total[0] > 0 && total[1] > 0) printf(" (naive/fast %.1fx)", total[1] / total[0]);
        printf("\n");
        ct_model_free(m);
    }
    return 0;
}
