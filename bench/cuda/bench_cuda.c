/* bench/cuda/bench_cuda.c — issue 12's benchmark: the fast (and naive)
 * engine on one GPU, on a random Llama-3.1-8B-layout model built in memory
 * from its config (no weights file), BF16 weights.
 *
 *   build-cuda/bench/cuda/bench_cuda [bf16|f32|both] [fast|naive|both] [layers N]
 *
 * Default: bf16 compute, fast engine, 32 layers.  T = 60, S = 10, window 10,
 * the three sublayer kinds, the subject at token 1 (span [1, 3): the worst
 * case for reuse) and at token 40 (span [40, 42)).  Prints seconds per kind
 * and in all, the FLOPs the engine did, TFLOP/s, and that rate against a
 * cuBLAS bf16 GEMM (8192 x 8192 x 8192, CUBLAS_COMPUTE_32F) measured in this
 * process; with "naive" also the naive engine's time and the ratio.
 *
 * Needs `make CUDA=1` and a GPU (`make CUDA=1 bench-cuda`).  NOT YET RUN ON A GPU. */
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctrace_app.h"
#include "ops/ops.h"
#include "ops/cuda/cuda.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* TFLOP/s of cublasGemmEx bf16 x bf16 -> f32 at n³ (best of 5 after a warm-up); 0 on failure. */
static double gemm_bf16_rate(int n)
{
    void *a = NULL, *b = NULL, *c = NULL;   /* [n, n] bf16, bf16, f32 */
    cublasHandle_t h = NULL;
    double best = 0;
    if (cudaMalloc(&a, (size_t)n * n * 2) || cudaMalloc(&b, (size_t)n * n * 2) || cudaMalloc(&c, (size_t)n * n * 4) ||
        cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) goto out;
    cudaMemset(a, 0x3c, (size_t)n * n * 2);   /* small bf16 values */
    cudaMemset(b, 0x3c, (size_t)n * n * 2);
    const float one = 1.0f, zero = 0.0f;
    for (int k = 0; k < 6; k++) {
        cudaDeviceSynchronize();
        double t = now_s();
        if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &zero, c,
                         CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) goto out;
        cudaDeviceSynchronize();
        t = now_s() - t;
        double r = 2.0 * n * (double)n * n / t / 1e12;
        if (k > 0 && r > best) best = r;
    }
out:
    if (h) cublasDestroy(h);
    cudaFree(a); cudaFree(b); cudaFree(c);
    return best;
}

static int make_model(int layers, ct_model **m, ct_err *err)
{
    /* meta-llama/Llama-3.1-8B's config.json (architecture fields) */
    char js[1400];
    snprintf(js, sizeof js,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
             "\"num_hidden_layers\":%d,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
             "\"intermediate_size\":14336,\"vocab_size\":128256,\"max_position_embeddings\":131072,"
             "\"rms_norm_eps\":1e-5,\"hidden_act\":\"silu\",\"rope_theta\":500000.0,\"tie_word_embeddings\":false,"
             "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
             "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"torch_dtype\":\"bfloat16\"}",
             layers);
    struct ct_config cfg;
    if (ct_config_parse(&cfg, js, "llama-3.1-8b-layout", err)) return -1;
    return ct_model_random_as(m, &cfg, 42, CT_BF16, err);
}

static void flop_rates(const ct_model *m, double *tok, double *pair, double *row, double *kvrow)
{
    const struct ct_config *c = ct_model_config(m);
    double D = c->d_model, Q = (double)c->n_heads * c->head_dim, KV = ct_model_kv_dim(m), F = c->d_ff;
    *tok = 2.0 * (D * Q + 2 * D * KV + Q * D + (c->gated_mlp ? 3 : 2) * D * F);
    *pair = 4.0 * Q;
    *row = 2.0 * D * c->vocab;
    *kvrow = 2.0 * D * 2 * KV;
}

int main(int argc, char **argv)
{
    const char *cds = argc > 1 ? argv[1] : "bf16", *engs = argc > 2 ? argv[2] : "fast";
    int layers = argc > 4 && !strcmp(argv[3], "layers") ? atoi(argv[4]) : 32;
    char msg[256];
    if (ct_cuda_select(0, msg, sizeof msg)) { printf("bench_cuda: SKIPPED, no GPU: %s\n", msg); return 77; }
    double peak = gemm_bf16_rate(8192);
    printf("cuBLAS bf16 GEMM 8192^3 (f32 accumulation): %.1f TFLOP/s\n", peak);
    ct_err err = {0};
    ct_model *m = NULL;
    double t0 = now_s();
    if (make_model(layers, &m, &err)) { fprintf(stderr, "bench_cuda: %s\n", err.msg); return 1; }
    printf("random Llama-3.1-8B-layout model, %d layers, BF16 weights %.2f GiB, built in %.1f s\n", layers,
           (double)ct_model_weight_bytes(m) / 1073741824.0, now_s() - t0);
    t0 = now_s();
    if (ct_model_set_device(m, "cuda", &err)) { fprintf(stderr, "bench_cuda: %s\n", err.msg); ct_model_free(m); return 1; }
    printf("uploaded in %.1f s\n", now_s() - t0);
    double ft, fp, fr, fk;
    flop_rates(m, &ft, &fp, &fr, &fk);
    enum { T = 60 };
    int32_t ids[T], ans[1] = {1234};
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 7919 + 11) % 128256);
    static const int subj[2] = {1, 40};
    int rc = 0;
    for (int ci = 0; ci < 2 && rc == 0; ci++) {
        ct_dtype cdt = ci == 0 ? CT_BF16 : CT_F32;
        if (strcmp(cds, "both") && strcmp(cds, ci == 0 ? "bf16" : "f32")) continue;
        if (ct_model_set_compute(m, cdt, &err)) { fprintf(stderr, "bench_cuda: %s\n", err.msg); rc = 1; break; }
        char desc[320];
        ct_model_backend_describe(m, desc, sizeof desc);
        printf("\ncompute %s; %s\n", ct_dtype_name(cdt), desc);
        printf("%-8s %-10s %-6s %9s %10s %9s %8s\n", "subject", "kind", "engine", "wall s", "TFLOP", "TFLOP/s", "of GEMM");
        for (int si = 0; si < 2 && rc == 0; si++) {
            int32_t rg[2] = {subj[si], subj[si] + 2};
            ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = rg, .n_ranges = 1, .answer = ans, .n_answer = 1};
            double total[2] = {0, 0};
            for (int e = 0; e < 2 && rc == 0; e++) {
                if (strcmp(engs, "both") && strcmp(engs, ct_engine_name((ct_engine)e))) continue;
                for (int k = CT_KIND_HIDDEN; k <= CT_KIND_ATTN && rc == 0; k++) {
                    ct_trace_settings s;
                    ct_trace_settings_default(&s);
                    s.kind = (ct_kind)k; s.samples = 10; s.window = 10; s.engine = (ct_engine)e;
                    ct_trace_result r;
                    double t = now_s();
                    if (ct_trace_run(m, &in, &s, &r, &err)) { fprintf(stderr, "bench_cuda: %s\n", err.msg); rc = 1; break; }
                    t = now_s() - t;
                    total[e] += t;
                    double fl = r.token_layers * ft + r.attn_pairs * fp + r.logit_rows * fr + r.kv_rows * fk;
                    printf("%-8d %-10s %-6s %9.2f %10.2f %9.1f %7.0f%%\n", subj[si], ct_kind_name((ct_kind)k),
                           ct_engine_name((ct_engine)e), t, fl / 1e12, fl / 1e12 / t, peak > 0 ? 100 * fl / 1e12 / t / peak : 0);
                    fflush(stdout);
                    ct_trace_result_free(&r);
                }
            }
            printf("subject at %d, %s: fast %.2f s", subj[si], ct_dtype_name(cdt), total[0]);
            if (total[1] > 0) printf(", naive %.2f s (naive/fast %.1fx)", total[1], total[0] > 0 ? total[1] / total[0] : 0);
            printf("\n");
        }
    }
    size_t fr_b = 0, tot_b = 0;
    if (ct_cuda_mem_info(&fr_b, &tot_b) == 0)
        printf("GPU memory in use at the end: %.2f GiB of %.2f GiB\n", (double)(tot_b - fr_b) / 1073741824.0,
               (double)tot_b / 1073741824.0);
    ct_model_free(m);
    return rc;
}
