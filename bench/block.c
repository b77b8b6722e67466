/* block.c — benchmark (not a test): ct_block on the shapes the tracing
 * engine uses (nb sequences × n new positions after p0 cached ones), 12
 * layers of the random ~110M Llama-layout model of bench/forward.c.
 * Usage: build/bench/block [threads] (default 2). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ctrace_app.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *json =
        "{\"model_type\": \"llama\", \"hidden_size\": 768, \"num_hidden_layers\": 12,"
        " \"num_attention_heads\": 12, \"intermediate_size\": 2048, \"vocab_size\": 32000,"
        " \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-5}";
    struct ct_config cfg;
    ct_err err;
    ct_model *m;
    if (ct_config_parse(&cfg, json, "bench config", &err) || ct_model_random(&m, &cfg, 7, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ct_set_threads(threads < 1 ? 1 : threads);
    const int D = cfg.d_model, KV = ct_model_kv_dim(m), L = cfg.n_layers;
    const double macs = 4.0 * D * D + 3.0 * D * cfg.d_ff;   /* per token-layer */
    static const int shapes[][3] = {{1, 1, 20}, {12, 1, 20}, {12, 8, 20}, {48, 4, 30}, {12, 20, 0}, {4, 32, 100}, {1, 128, 0}};
    printf("%d threads; 12 layers of hidden 768 / mlp 2048\n%4s %4s %4s %10s %16s %10s\n", threads,
           "nb", "n", "p0", "ms", "token-layers/s", "GFLOP/s");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int nb = shapes[s][0], n = shapes[s][1], p0 = shapes[s][2];
        float *x = malloc(sizeof(float) * nb * n * D), *ao = malloc(sizeof(float) * nb * n * D);   /* [nb, n, D] */
        float *mo = malloc(sizeof(float) * nb * n * D);
        float *kp = malloc(sizeof(float) * (p0 + 1) * KV), *vp = malloc(sizeof(float) * (p0 + 1) * KV);   /* [p0, KV] shared */
        float *kn = malloc(sizeof(float) * nb * n * KV), *vn = malloc(sizeof(float) * nb * n * KV);      /* [nb, n, KV] */
        const float **kps = malloc(sizeof *kps * nb), **vps = malloc(sizeof *vps * nb);
        float **kns = malloc(sizeof *kns * nb), **vns = malloc(sizeof *vns * nb);
        for (long i = 0; i < (long)nb * n * D; i++) x[i] = 0.01f * (float)(i % 17);
        for (long i = 0; i < (long)(p0 + 1) * KV; i++) { kp[i] = 0.01f * (float)(i % 7); vp[i] = 0.01f * (float)(i % 5); }
        for (int b = 0; b < nb; b++) { kps[b] = kp; vps[b] = vp; kns[b] = kn + (long)b * n * KV; vns[b] = vn + (long)b * n * KV; }
        ct_scratch ws = {0};
        double best = 1e30;
        for (int r = 0; r < 4; r++) {
            double t = now();
            for (int l = 0; l < L; l++)
                if (ct_block(m, l, nb, n, p0, x, x, kps, vps, kns, vns, ao, mo, NULL, NULL, &ws, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
            t = now() - t;
            if (r && t < best) best = t;
        }
        double tl = (double)nb * n * L;
        printf("%4d %4d %4d %10.1f %16.0f %10.1f\n", nb, n, p0, best * 1e3, tl / best, 2 * tl * macs / best / 1e9);
        ct_scratch_free(&ws);
        free(x); free(ao); free(mo); free(kp); free(vp); free(kn); free(vn); free(kps); free(vps); free(kns); free(vns);
    }
    ct_model_free(m);
    return 0;
}
