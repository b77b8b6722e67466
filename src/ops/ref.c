/* ref.c — the reference backend: every op the obvious way, one thread, no
 * BLAS.  It is the oracle of tests/test_ops.c, and a whole model can run on
 * it (ct_model_set_backend) to check a faster backend end to end.  Products
 * and dot products accumulate in double here, so that the reference is
 * closer to exact than any backend under test. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"
#ifdef CT_HAVE_CUDA
#include "ops/cuda/cuda.h"
#endif

static void *ref_alloc(const ct_backend *be, size_t bytes) { (void)be; return malloc(bytes ? bytes : 1); }
static void ref_free(const ct_backend *be, void *p) { (void)be; free(p); }
static void ref_move(const ct_backend *be, void *dst, const void *src, size_t bytes)
{ (void)be; memmove(dst, src, bytes); }
static void ref_sync(const ct_backend *be) { (void)be; }

static void ref_copy_rows(const ct_backend *be, int n, long len, float *dst, long dld, const float *src, long sld)
{
    (void)be;
    for (int r = 0; r < n; r++)
        for (long i = 0; i < len; i++) dst[(size_t)r * dld + i] = src[(size_t)r * sld + i];
}

/* Products in double; with bf16 compute every X and W element is first
 * rounded to bf16, as the "cpu" backend's bf16 kernel does. */
static void ref_linear(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                       const float *b, float *Y, int ldy)
{
    const int bf16 = be->compute == CT_BF16;
    int64_t out = W->shape[0], in = W->shape[1];
    for (int r = 0; r < R; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t i = 0; i < in; i++) {
                float x = X[(size_t)r * ldx + i], w = ct_tensor_get(W, o * W->stride[0] + i);
                if (bf16) { x = ct_bf16_to_f32(ct_f32_to_bf16(x)); w = ct_bf16_to_f32(ct_f32_to_bf16(w)); }
                s += (double)x * w;
            }
            Y[(size_t)r * ldy + o] = (float)s + (b ? b[o] : 0.0f);
        }
}

static void ref_norm(const ct_backend *be, ct_norm_kind kind, float eps, int R, int D,
                     const float *x, const float *w, const float *b, float *y)
{
    (void)be;
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * D;
        float *yr = y + (size_t)r * D;
        if (kind == CT_NORM_LAYER) {
            double mean = 0, var = 0;
            for (int i = 0; i < D; i++) mean += xr[i];
            mean /= D;
            for (int i = 0; i < D; i++) var += (xr[i] - mean) * (xr[i] - mean);
            var /= D;
            double inv = 1.0 / sqrt(var + eps);
            for (int i = 0; i < D; i++) yr[i] = (float)((xr[i] - mean) * inv * w[i] + (b ? b[i] : 0.0));
        } else {
            double ss = 0;
            for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
            double inv = 1.0 / sqrt(ss / D + eps);
            for (int i = 0; i < D; i++)
                yr[i] = (float)(xr[i] * inv * (kind == CT_NORM_RMS_1P ? 1.0 + w[i] : (double)w[i]));
        }
    }
}

static void ref_rope(const ct_backend *be, int R, int n, int p0, float *x, int ld, int nheads, int hd,
                     int rotary_dim, int interleaved, const ct_rope_table *rt)
{
    (void)be;
    const float *inv_freq = rt->inv_freq;   /* the oracle computes every angle itself */
    int half = rotary_dim / 2;
    for (int r = 0; r < R; r++) {
        int pos = p0 + r % n;
        for (int h = 0; h < nheads; h++) {
            float *v = x + (size_t)r * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float ang = (float)pos * inv_freq[i];
                double c = cos((double)ang), s = sin((double)ang);
                int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
                double a = v[ia], bb = v[ib];
                v[ia] = (float)(a * c - bb * s);
                v[ib] = (float)(bb * c + a * s);
            }
        }
    }
}

static double act1(ct_act act, double v)
{
    switch (act) {
    case CT_ACT_SILU: return v / (1.0 + exp(-v));
    case CT_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case CT_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case CT_ACT_RELU: return v > 0 ? v : 0;
    }
    return v;
}

static void ref_act(const ct_backend *be, ct_act act, long n, float *x)
{
    (void)be;
    for (long i = 0; i < n; i++) x[i] = (float)act1(act, x[i]);
}

static void ref_act_gated(const ct_backend *be, ct_act act, int R, int F, float *x, int ld)
{
    (void)be;
    for (int r = 0; r < R; r++)
        for (int f = 0; f < F; f++) {
            float *g = x + (size_t)r * ld;
            g[f] = (float)(act1(act, g[f]) * g[F + f]);
        }
}

static void ref_add(const ct_backend *be, long n, const float *a, const float *b, const float *c, float *y)
{
    (void)be;
    for (long i = 0; i < n; i++) y[i] = c ? (a[i] + b[i]) + c[i] : a[i] + b[i];
}

static void ref_scale(const ct_backend *be, long n, float *x, float s)
{
    (void)be;
    for (long i = 0; i < n; i++) x[i] *= s;
}

static void ref_softcap(const ct_backend *be, long n, float *x, float cap)
{
    (void)be;
    for (long i = 0; i < n; i++) x[i] = (float)(tanh((double)x[i] / cap) * cap);
}

static void ref_embed(const ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out)
{
    (void)be;
    int64_t V = E->shape[0], D = E->shape[1];
    for (int i = 0; i < n; i++)
        for (int64_t d = 0; d < D; d++)
            out[(size_t)i * D + d] = ids[i] >= 0 && ids[i] < V ? ct_tensor_get(E, ids[i] * E->stride[0] + d) : 0.0f;
}

static void ref_attention(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0,
                          const float *q, int q_ld, const float *const *k_past, const float *const *v_past,
                          const float *const *k_new, const float *const *v_new, float *ctx)
{
    (void)be;
    const int H = a->n_heads, hd = a->head_dim, KV = a->n_kv_heads * hd, group = H / a->n_kv_heads;
    double *s = malloc((size_t)(p0 + n) * sizeof *s);
    if (!s) return;   /* the reference is for tests: they would see the garbage */
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < n; i++)
            for (int h = 0; h < H; h++) {
                int p = p0 + i, lo = a->window ? (p - a->window + 1 > 0 ? p - a->window + 1 : 0) : 0;
                const float *qr = q + ((size_t)b * n + i) * q_ld + (size_t)h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = lo; j <= p; j++) {
                    const float *k = (j < p0 ? k_past[b] + (size_t)j * KV : k_new[b] + (size_t)(j - p0) * KV)
                                     + (size_t)(h / group) * hd;
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double)qr[e] * k[e];
                    d *= a->scale;
                    if (a->softcap > 0) d = tanh(d / a->softcap) * a->softcap;
                    s[j] = d;
                    if (d > mx) mx = d;
                }
                for (int j = lo; j <= p; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
                float *o = ctx + ((size_t)b * n + i) * ((size_t)H * hd) + (size_t)h * hd;
                for (int e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int j = lo; j <= p; j++) {
                        const float *v = (j < p0 ? v_past[b] + (size_t)j * KV : v_new[b] + (size_t)(j - p0) * KV)
                                         + (size_t)(h / group) * hd;
                        acc += s[j] / sum * v[e];
                    }
                    o[e] = (float)acc;
                }
            }
    free(s);
}

static void ref_token_probs(const ct_backend *be, int R, int V, const float *logits, int k,
                            const int32_t *tok, float *out)
{
    (void)be;
    for (int r = 0; r < R; r++) {
        const float *z = logits + (size_t)r * V;
        double mx = z[0], sum = 0;
        for (int v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
        for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
        for (int j = 0; j < k; j++) {
            int32_t t = tok[(size_t)r * k + j];
            out[(size_t)r * k + j] = t < 0 ? 1.0f : (float)(exp(z[t] - mx) / sum);
        }
    }
}

static void ref_softmax_mean(const ct_backend *be, int R, int V, const float *logits, float *out)
{
    (void)be;
    double *acc = calloc((size_t)V, sizeof *acc);
    if (!acc) return;
    for (int r = 0; r < R; r++) {
        /* through log-sum-exp, unlike the CPU backend, so the two do not share a formula */
        const float *z = logits + (size_t)r * V;
        double mx = z[0], sum = 0;
        for (int v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
        for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
        double lse = mx + log(sum);
        for (int v = 0; v < V; v++) acc[v] += exp(z[v] - lse);
    }
    for (int v = 0; v < V; v++) out[v] = (float)(acc[v] / R);
    free(acc);
}

static void ref_describe(const ct_backend *be, char *buf, size_t n)
{
    snprintf(buf, n, "ref: plain C, one thread, double accumulators, %s products",
             be->compute == CT_BF16 ? "bf16-rounded" : "float32");
}

#define REF_OPS                                                                                             \
    .version = CT_BACKEND_VERSION, .name = "ref", .device = CT_DEVICE_CPU,                                  \
    .alloc = ref_alloc, .free = ref_free, .upload = ref_move, .download = ref_move, .sync = ref_sync,       \
    .copy_rows = ref_copy_rows, .linear = ref_linear, .norm = ref_norm, .rope = ref_rope,                   \
    .act = ref_act, .act_gated = ref_act_gated, .add = ref_add, .scale = ref_scale, .softcap = ref_softcap, \
    .embed = ref_embed, .attention = ref_attention, .token_probs = ref_token_probs,                         \
    .softmax_mean = ref_softmax_mean, .describe = ref_describe

static const ct_backend ref_backend = {REF_OPS, .compute = CT_F32};
static const ct_backend ref_bf16_backend = {REF_OPS, .compute = CT_BF16};

const ct_backend *ct_backend_ref(void) { return &ref_backend; }
const ct_backend *ct_backend_ref_bf16(void) { return &ref_bf16_backend; }

const ct_backend *ct_backend_find(const char *name, ct_dtype compute)
{
    int bf16 = compute == CT_BF16;
    if (compute != CT_F32 && !bf16) return NULL;
    if (!name || !strcmp(name, "cpu")) return bf16 ? ct_backend_cpu_bf16() : ct_backend_cpu();
    if (!strcmp(name, "ref")) return bf16 ? ct_backend_ref_bf16() : ct_backend_ref();
    if (!strcmp(name, "openblas")) return bf16 ? NULL : ct_backend_openblas();
#ifdef CT_HAVE_CUDA
    if (!strcmp(name, "cuda")) return bf16 ? ct_backend_cuda_bf16() : ct_backend_cuda();   /* NOT YET RUN ON A GPU */
#endif
    return NULL;
}

const ct_backend *ct_backend_named(const char *name) { return ct_backend_find(name, CT_F32); }

const char *ct_backend_names(void)
{
#ifdef CT_HAVE_CUDA
    return "cpu, openblas, ref, cuda";
#else
    return "cpu, openblas, ref";
#endif
}
