/* cpu.c — the CPU backends' tables ("cpu": oneDNN products, "cpu" with bf16
 * compute, "openblas": OpenBLAS products) and their shared ops: OpenMP
 * loops over host memory.
 *
 * Determinism.  The products (cpu_linear.c) run one single-threaded kernel
 * call per fixed column block, whatever the thread count.  Every other op
 * computes each output element on one thread in a fixed order (the
 * vectorised sums and exp run in an order fixed by the build). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>
#include "ops/ops.h"
#include "ops/cpu.h"

void ct_set_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(1);   /* ctrace parallelises around BLAS: see above */
    omp_set_num_threads(n);
}

const char *ct_backend_description(void)
{
    /* a fixed buffer per process would be hidden state; build it per call in
     * thread-local storage instead (the value depends only on the build and
     * on omp_set_num_threads) */
    static _Thread_local char buf[320];
    ct_backend_cpu()->describe(ct_backend_cpu(), buf, sizeof buf);
    return buf;
}

static ct_cpu_gemm cpu_gemm_of(const ct_backend *be)
{
    return be->compute == CT_BF16 ? CT_GEMM_BF16 : !strcmp(be->name, "openblas") ? CT_GEMM_BLAS : CT_GEMM_DNNL;
}

static void cpu_describe(const ct_backend *be, char *buf, size_t n)
{
    ct_cpu_gemm g = cpu_gemm_of(be);
    int blas = g == CT_GEMM_BLAS;
#ifndef CT_HAVE_DNNL
    blas = 1;
#endif
    char core[160] = "";
    if (blas) snprintf(core, sizeof core, " (%s, core %s)", openblas_get_config(), openblas_get_corename());
    snprintf(buf, n, "%s: %s%s, %s products, one single-threaded call per %d output columns, OpenMP %d threads",
             be->name, ct_cpu_gemm_name(g), core, be->compute == CT_BF16 ? "bf16 (f32 accumulation)" : "float32",
             CT_LINEAR_BLOCK, omp_get_max_threads());
}

static void *cpu_alloc(const ct_backend *be, size_t bytes)
{
    (void)be;
    /* 64-byte aligned for the vector units; rounded up as aligned_alloc requires */
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}
static void cpu_free(const ct_backend *be, void *p) { (void)be; free(p); }
static void cpu_move(const ct_backend *be, void *dst, const void *src, size_t bytes)
{ (void)be; if (bytes) memmove(dst, src, bytes); }
static void cpu_sync(const ct_backend *be) { (void)be; }

static void cpu_copy_rows(const ct_backend *be, int n, long len, float *dst, long dld, const float *src, long sld)
{
    (void)be;
    if (n <= 0 || len <= 0) return;
    if (n == 1 || (dld == len && sld == len)) { memcpy(dst, src, (size_t)n * len * sizeof *dst); return; }
    #pragma omp parallel for schedule(static) if ((long)n * len > 1L << 18)
    for (int r = 0; r < n; r++) memcpy(dst + (size_t)r * dld, src + (size_t)r * sld, (size_t)len * sizeof *dst);
}

/* The products (cpu_linear.c): one entry per kernel. */
static void cpu_linear_dnnl(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                            const float *b, float *Y, int ldy)
{ (void)be; ct_cpu_linear(CT_GEMM_DNNL, R, X, ldx, W, b, Y, ldy); }
static void cpu_linear_blas(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                            const float *b, float *Y, int ldy)
{ (void)be; ct_cpu_linear(CT_GEMM_BLAS, R, X, ldx, W, b, Y, ldy); }
static void cpu_linear_bf16(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                            const float *b, float *Y, int ldy)
{ (void)be; ct_cpu_linear(CT_GEMM_BF16, R, X, ldx, W, b, Y, ldy); }
static void cpu_probs_dnnl(const ct_backend *be, int R, const float *x, const ct_tensor *W, const float *b, float cap,
                           int k, const int32_t *tok, float *out)
{ (void)be; ct_cpu_token_probs_linear(CT_GEMM_DNNL, R, x, W, b, cap, k, tok, out); }
static void cpu_probs_blas(const ct_backend *be, int R, const float *x, const ct_tensor *W, const float *b, float cap,
                           int k, const int32_t *tok, float *out)
{ (void)be; ct_cpu_token_probs_linear(CT_GEMM_BLAS, R, x, W, b, cap, k, tok, out); }
static void cpu_probs_bf16(const ct_backend *be, int R, const float *x, const ct_tensor *W, const float *b, float cap,
                           int k, const int32_t *tok, float *out)
{ (void)be; ct_cpu_token_probs_linear(CT_GEMM_BF16, R, x, W, b, cap, k, tok, out); }

/* Statistics in double: the result is then within float rounding of
 * transformers' float32 reductions, whatever order torch sums in.  The sums
 * run in the vector lanes' order, fixed by the build (not by the threads). */
static void cpu_norm(const ct_backend *be, ct_norm_kind kind, float eps, int R, int D,
                     const float *x, const float *w, const float *b, float *y)
{
    (void)be;
    #pragma omp parallel for schedule(static) if ((long)R * D > 32768)
    for (int r = 0; r < R; r++) {
        const float *xr = x + (long)r * D;
        float *yr = y + (long)r * D;
        if (kind == CT_NORM_LAYER) {
            double mean = 0, var = 0;
            #pragma omp simd reduction(+: mean)
            for (int i = 0; i < D; i++) mean += xr[i];
            mean /= D;
            #pragma omp simd reduction(+: var)
            for (int i = 0; i < D; i++) { double d = xr[i] - mean; var += d * d; }
            var /= D;
            float inv = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
            for (int i = 0; i < D; i++) {
                float v = (xr[i] - mf) * inv * w[i];
                yr[i] = b ? v + b[i] : v;
            }
        } else {
            double ss = 0;
            #pragma omp simd reduction(+: ss)
            for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
            float inv = (float)(1.0 / sqrt(ss / D + eps));
            if (kind == CT_NORM_RMS_1P)
                for (int i = 0; i < D; i++) yr[i] = (xr[i] * inv) * (1.0f + w[i]);
            else
                for (int i = 0; i < D; i++) yr[i] = w[i] * (xr[i] * inv);
        }
    }
}

static inline float act1(ct_act act, float v)
{
    switch (act) {
    case CT_ACT_SILU: return v / (1.0f + ct_cpu_expf(-v));
    case CT_ACT_GELU: return 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
    case CT_ACT_GELU_TANH: return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    case CT_ACT_RELU: return v > 0 ? v : 0;
    }
    return v;
}

static void cpu_act(const ct_backend *be, ct_act act, long n, float *x)
{
    (void)be;
    if (act == CT_ACT_SILU) {   /* the common case, vectorised */
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) x[i] = act1(CT_ACT_SILU, x[i]);
        return;
    }
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) x[i] = act1(act, x[i]);
}

static void cpu_act_gated(const ct_backend *be, ct_act act, int R, int F, float *x, int ld)
{
    (void)be;
    #pragma omp parallel for schedule(static) if ((long)R * F > 65536)
    for (int r = 0; r < R; r++) {
        float *g = x + (size_t)r * ld;
        if (act == CT_ACT_SILU) {   /* the common case (Llama, Mistral, Qwen...), vectorised */
            #pragma omp simd
            for (int f = 0; f < F; f++) g[f] = act1(CT_ACT_SILU, g[f]) * g[F + f];
            continue;
        }
        for (int f = 0; f < F; f++) g[f] = act1(act, g[f]);
        for (int f = 0; f < F; f++) g[f] *= g[F + f];
    }
}

static void cpu_add(const ct_backend *be, long n, const float *a, const float *b, const float *c, float *y)
{
    (void)be;
    if (c) {
        #pragma omp parallel for schedule(static) if (n > 1L << 18)
        for (long i = 0; i < n; i++) y[i] = a[i] + b[i] + c[i];
    } else {
        #pragma omp parallel for schedule(static) if (n > 1L << 18)
        for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
    }
}

static void cpu_scale(const ct_backend *be, long n, float *x, float s)
{
    (void)be;
    for (long i = 0; i < n; i++) x[i] *= s;
}

static void cpu_softcap(const ct_backend *be, long n, float *x, float cap)
{
    (void)be;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) x[i] = ct_cpu_softcap1(x[i], cap);
}

static void cpu_embed(const ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out)
{
    (void)be;
    const int64_t V = E->shape[0], D = E->shape[1];
    for (int i = 0; i < n; i++) {
        if (ids[i] >= 0 && ids[i] < V) ct_tensor_read_f32(E, ids[i] * E->stride[0], D, out + (size_t)i * D);
        else memset(out + (size_t)i * D, 0, (size_t)D * sizeof *out);
    }
}

/* Rotary embedding with the model's cos/sin table (positions past it: a
 * table of positions p0..p0+n-1 computed for this call), shared by every
 * sequence and head at a position. */
static void cpu_rope(const ct_backend *be, int R, int n, int p0, float *x, int ld, int nheads, int hd,
                     int rotary_dim, int interleaved, const ct_rope_table *rt)
{
    (void)be;
    const int half = rotary_dim / 2;
    const float *tab = rt->cos_sin;   /* [positions, 2 * half]: cos, then sin */
    int t0 = 0;                       /* tab's row of position p0 */
    float *own = NULL;
    if (!tab || p0 + n > rt->n_pos) {
        own = malloc((size_t)2 * n * half * sizeof *own);
        if (!own) return;   /* cannot happen for sane sizes; the op has no error path */
        ct_rope_fill(rt->inv_freq, half, p0, n, own);
        tab = own;
    } else {
        t0 = p0;
    }
    #pragma omp parallel for schedule(static) if (R > 8)
    for (int r = 0; r < R; r++) {
        const float *c = tab + (size_t)(t0 + r % n) * 2 * half, *s = c + half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + (size_t)r * ld + (size_t)h * hd;
            if (interleaved)
                for (int i = 0; i < half; i++) {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * c[i] - b * s[i];
                    v[2 * i + 1] = b * c[i] + a * s[i];
                }
            else
                #pragma omp simd
                for (int i = 0; i < half; i++) {
                    float a = v[i], b = v[i + half];
                    v[i] = a * c[i] - b * s[i];
                    v[i + half] = b * c[i] + a * s[i];
                }
        }
    }
    free(own);
}

/* Each row on its own, in a fixed order: the same bits whatever the threads. */
static void cpu_token_probs(const ct_backend *be, int R, int V, const float *logits, int k,
                            const int32_t *tok, float *out)
{
    (void)be;
    #pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *z = logits + (size_t)r * V;
        double s;
        const float m = ct_cpu_row_max_sumexp(z, V, &s);
        for (int j = 0; j < k; j++) {
            int32_t t = tok[(size_t)r * k + j];
            out[(size_t)r * k + j] = t < 0 ? 1.0f : ct_cpu_expf(z[t] - m) / (float)s;
        }
    }
}

/* Rows in order, each with the vocabulary split over threads only for the
 * element-wise part: the sums are per row and sequential (thread-count free). */
static void cpu_softmax_mean(const ct_backend *be, int R, int V, const float *logits, float *out)
{
    (void)be;
    double *acc = calloc((size_t)V, sizeof *acc);
    if (!acc) return;
    for (int r = 0; r < R; r++) {
        const float *z = logits + (size_t)r * V;
        double mx = z[0], sum = 0;
        for (int v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
        for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
        #pragma omp parallel for schedule(static) if (V > 65536)
        for (int v = 0; v < V; v++) acc[v] += exp((double)z[v] - mx) / sum;
    }
    for (int v = 0; v < V; v++) out[v] = (float)(acc[v] / R);
    free(acc);
}

/* Every CPU table has the same ops but the products. */
#define CPU_OPS                                                                                             \
    .version = CT_BACKEND_VERSION, .device = CT_DEVICE_CPU,                                                 \
    .alloc = cpu_alloc, .free = cpu_free, .upload = cpu_move, .download = cpu_move, .sync = cpu_sync,       \
    .copy_rows = cpu_copy_rows, .norm = cpu_norm, .rope = cpu_rope,                                         \
    .act = cpu_act, .act_gated = cpu_act_gated, .add = cpu_add, .scale = cpu_scale, .softcap = cpu_softcap, \
    .embed = cpu_embed, .attention = ct_cpu_attention, .token_probs = cpu_token_probs,                      \
    .softmax_mean = cpu_softmax_mean, .describe = cpu_describe

/* "cpu": oneDNN products in float32 (bf16 compute: oneDNN bf16 matmul);
 * "openblas": OpenBLAS products, float32 only. */
static const ct_backend cpu_backend = {CPU_OPS, .name = "cpu", .linear = cpu_linear_dnnl, .compute = CT_F32,
                                       .token_probs_linear = cpu_probs_dnnl};
static const ct_backend cpu_bf16_backend = {CPU_OPS, .name = "cpu", .linear = cpu_linear_bf16, .compute = CT_BF16,
                                            .token_probs_linear = cpu_probs_bf16};
static const ct_backend openblas_backend = {CPU_OPS, .name = "openblas", .linear = cpu_linear_blas, .compute = CT_F32,
                                            .token_probs_linear = cpu_probs_blas};

const ct_backend *ct_backend_cpu(void) { return &cpu_backend; }
const ct_backend *ct_backend_cpu_bf16(void) { return &cpu_bf16_backend; }
const ct_backend *ct_backend_openblas(void) { return &openblas_backend; }
