/* forward.c — benchmark (not a test): one forward pass of a random ~110M
 * parameter Llama-layout model (hidden 768, 12 layers, 12 heads, MLP 2048,
 * vocab 32000) for T = 32, 128, 512, against the machine's measured sgemm
 * peak.  Usage: build/bench/forward [threads] (default 2). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#include "ctrace_app.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best-of-3 GFLOP/s of one OpenBLAS sgemm n×n×n with its own threading. */
static double sgemm_peak(int n, int threads)
{
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = now() - t;
        if (r && t < best) best = t;   /* first run warms up */
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1) threads = 1;
    const char *json =
        "{\"model_type\": \"llama\", \"hidden_size\": 768, \"num_hidden_layers\": 12,"
        " \"num_attention_heads\": 12, \"num_key_value_heads\": 12, \"intermediate_size\": 2048,"
        " \"vocab_size\": 32000, \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-5,"
        " \"tie_word_embeddings\": false}";
    struct ct_config cfg;
    ct_err err;
    if (ct_config_parse(&cfg, json, "bench config", &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    ct_model *m;
    if (ct_model_random(&m, &cfg, 42, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const int L = cfg.n_layers, D = cfg.d_model, F = cfg.d_ff, V = cfg.vocab, H = cfg.n_heads, hd = cfg.head_dim;
    double per_layer = 4.0 * D * D + 3.0 * D * F;   /* q, k, v, o + gate, up, down (multiply-adds per token) */
    double params = L * per_layer + 2.0 * V * D;
    printf("model: llama layout, hidden %d, %d layers, %d heads, mlp %d, vocab %d: %.1fM parameters (%.0f MiB float32)\n",
           D, L, H, F, V, params / 1e6, ct_model_weight_bytes(m) / 1048576.0);
    double peak1 = sgemm_peak(2048, 1), peakn = sgemm_peak(2048, threads);
    printf("sgemm peak (OpenBLAS, 2048^3): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads\n", peak1, peakn, threads);
    ct_set_threads(threads);
    printf("%6s %10s %12s %12s %10s\n", "T", "ms", "tokens/s", "GFLOP/s", "% peak");
    const int Ts[] = {32, 128, 512};
    for (int k = 0; k < 3; k++) {
        int T = Ts[k];
        int32_t *ids = malloc(sizeof(int32_t) * T);
        for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 7919) % V);
        float *logits = malloc(sizeof(float) * T * V);
        double best = 1e30;
        for (int r = 0; r < 4; r++) {
            double t = now();
            if (ct_forward(m, ids, T, logits, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            t = now() - t;
            if (r && t < best) best = t;
        }
        /* matrix products 2·T·params(matmul) + attention 2·2·L·H·hd·T(T+1)/2 */
        double flops = 2.0 * T * (L * per_layer + (double)V * D) + 2.0 * L * H * hd * (double)T * (T + 1);
        double gf = flops / best / 1e9;
        printf("%6d %10.1f %12.0f %12.1f %9.0f%%\n", T, best * 1e3, T / best, gf, 100 * gf / peakn);
        free(ids); free(logits);
    }
    ct_model_free(m);
    return 0;
}
