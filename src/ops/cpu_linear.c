/* cpu_linear.c — the CPU backends' matrix products.
 *
 *   Y [R, out] (rows ldy apart) = X [R, in] (rows ldx apart) · Wᵀ (+ b [out])
 *
 * with W a [out, in] view in its stored dtype.  One driver, three kernels for
 * one block of output columns:
 *   CT_GEMM_DNNL  oneDNN's dnnl_sgemm, float32 (oneDNN picks AVX-512 or AVX2
 *                 kernels from the CPU itself): the "cpu" backend;
 *   CT_GEMM_BLAS  OpenBLAS's cblas_sgemm, float32: the "openblas" backend;
 *   CT_GEMM_BF16  oneDNN's matmul primitive with bf16 source and weights and a
 *                 float32 destination (f32 accumulation): the "cpu" backend
 *                 with bf16 compute.  X is rounded to bf16 (to nearest even)
 *                 once per call; bf16 weights are used as stored, F32/F16
 *                 weight blocks are rounded into a per-thread bf16 panel.
 *
 * Determinism.  The output columns are cut into fixed blocks of
 * CT_LINEAR_BLOCK, each computed by one single-threaded kernel call, and
 * OpenMP spreads the blocks: every element is computed by the same call
 * whatever the thread count.  oneDNN sizes its work by omp_get_max_threads();
 * each thread of the region sets its own nthreads-var to 1 (which changes only
 * that implicit task's copy), so oneDNN runs every call on one thread with the
 * same decomposition.  OpenBLAS is kept at one thread (ct_set_threads).
 *
 * Stored dtypes on the float32 kernels.  A BF16/F16 weight block is converted
 * to float32 into a per-thread panel just before its call; the conversion is
 * exact, so the call sees the same numbers as with a float32 copy of the
 * weights and gives the same bits.
 *
 * Without oneDNN (a build with DNNL=0) CT_GEMM_DNNL falls back to OpenBLAS,
 * and CT_GEMM_BF16 to the same arithmetic done by sgemm on bf16-rounded
 * values held in float32 (products of two bf16 numbers are exact in float32,
 * so only the summation order differs); the same fallback is taken if oneDNN
 * cannot create the primitive. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>
#include "ops/ops.h"
#include "ops/cpu.h"
#ifdef CT_HAVE_DNNL
#include <pthread.h>
#include <oneapi/dnnl/dnnl.h>
#endif

/* The float32 call of one block: Yb [R, w] (ldy) = X [R, in] · Wbᵀ, Wb [w, in]
 * rows ldw apart. */
static void sgemm_block(ct_cpu_gemm g, int R, int w, int in, const float *X, int ldx, const float *Wb, int ldw,
                        float *Yb, int ldy)
{
#ifdef CT_HAVE_DNNL
    if (g == CT_GEMM_DNNL &&
        dnnl_sgemm('N', 'T', R, w, in, 1.0f, X, ldx, Wb, ldw, 0.0f, Yb, ldy) == dnnl_success)
        return;
#endif
    (void)g;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, w, in, 1.0f, X, ldx, Wb, ldw, 0.0f, Yb, ldy);
}

static void add_bias(int R, int o0, int w, const float *b, float *Y, int ldy)
{
    if (!b) return;
    for (int r = 0; r < R; r++) {
        float *y = Y + (size_t)r * ldy + o0;
        #pragma omp simd
        for (int o = 0; o < w; o++) y[o] += b[o0 + o];
    }
}

/* No memory for panels: still the right product, one element at a time (slow,
 * and not bit-identical to the blocked path).  bf16 rounds as the kernel does. */
static void linear_slow(int bf16, int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y, int ldy)
{
    const int out = (int)W->shape[0], in = (int)W->shape[1];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < out; o++) {
            float s = 0;
            for (int i = 0; i < in; i++) {
                float x = X[(size_t)r * ldx + i], v = ct_tensor_get(W, (int64_t)o * W->stride[0] + i);
                if (bf16) { x = ct_bf16_to_f32(ct_f32_to_bf16(x)); v = ct_bf16_to_f32(ct_f32_to_bf16(v)); }
                s += x * v;
            }
            Y[(size_t)r * ldy + o] = s + (b ? b[o] : 0.0f);
        }
}

/* Whether the product is worth a parallel region. */
static int threads_for(int nblk, int R, int out, int in)
{
    return nblk > 1 && (long)R * out * in > 262144 ? omp_get_max_threads() : 1;
}

/* The float32 kernels (and the bf16 fallback, bf16 = 1: X and every weight
 * block rounded to bf16 values held in float32). */
static void linear_f32(ct_cpu_gemm g, int bf16, int R, const float *X, int ldx, const ct_tensor *W, const float *b,
                       float *Y, int ldy)
{
    const int out = (int)W->shape[0], in = (int)W->shape[1];
    const int nblk = (out + CT_LINEAR_BLOCK - 1) / CT_LINEAR_BLOCK, nth = threads_for(nblk, R, out, in);
    float *panels = NULL;   /* [nth, CT_LINEAR_BLOCK, in] converted weight blocks */
    float *Xr = NULL;       /* [R, in] X rounded to bf16 values (bf16 only) */
    if (W->dtype != CT_F32 || bf16) panels = malloc((size_t)nth * CT_LINEAR_BLOCK * in * sizeof *panels);
    if (bf16) Xr = malloc((size_t)R * in * sizeof *Xr);
    if ((!panels && (W->dtype != CT_F32 || bf16)) || (bf16 && !Xr)) {
        free(panels); free(Xr);
        linear_slow(bf16, R, X, ldx, W, b, Y, ldy);
        return;
    }
    if (bf16) {
        for (int r = 0; r < R; r++) ct_round_bf16_f32(X + (size_t)r * ldx, Xr + (size_t)r * in, in);
        X = Xr; ldx = in;
    }
    if (g == CT_GEMM_BLAS && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    #pragma omp parallel num_threads(nth)
    {
        omp_set_num_threads(1);   /* this task's nthreads-var: oneDNN runs on one thread */
        #pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nblk; k++) {
            int o0 = k * CT_LINEAR_BLOCK, w = out - o0 < CT_LINEAR_BLOCK ? out - o0 : CT_LINEAR_BLOCK;
            const float *Wb = (const float *)W->data + (size_t)o0 * W->stride[0];
            int ldw = (int)W->stride[0];
            if (panels) {
                float *p = panels + (size_t)omp_get_thread_num() * CT_LINEAR_BLOCK * in;
                for (int o = 0; o < w; o++) ct_tensor_read_f32(W, (int64_t)(o0 + o) * W->stride[0], in, p + (size_t)o * in);
                if (bf16) ct_round_bf16_f32(p, p, (long)w * in);
                Wb = p; ldw = in;
            }
            sgemm_block(g, R, w, in, X, ldx, Wb, ldw, Y + o0, ldy);
            add_bias(R, o0, w, b, Y, ldy);
        }
    }
    free(panels);
    free(Xr);
}

#ifdef CT_HAVE_DNNL
/* The process's one oneDNN CPU engine: a handle to the CPU, created on first
 * use and never changed (oneDNN's primitive cache is keyed by it). */
static dnnl_engine_t dnnl_cpu_engine;
static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
static void dnnl_engine_init(void)
{
    if (dnnl_engine_create(&dnnl_cpu_engine, dnnl_cpu, 0) != dnnl_success) dnnl_cpu_engine = NULL;
}

/* A matmul primitive: dst [R, w] f32 (rows ldy apart) = src [R, in] bf16 (rows
 * in apart) · wei, wei [in, w] bf16 read as the transpose of weight rows ldw
 * apart.  oneDNN's cache makes a repeated shape cost a lookup.  NULL on
 * failure. */
static dnnl_primitive_t bf16_matmul(int R, int w, int in, int ldw, int ldy, dnnl_memory_desc_t *md)
{
    dnnl_dims_t sd = {R, in}, ss = {in, 1}, wd = {in, w}, ws = {1, ldw}, dd = {R, w}, ds = {ldy, 1};
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    if (dnnl_memory_desc_init_by_strides(&md[0], 2, sd, dnnl_bf16, ss) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&md[1], 2, wd, dnnl_bf16, ws) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&md[2], 2, dd, dnnl_f32, ds) != dnnl_success ||
        dnnl_matmul_desc_init(&desc, &md[0], &md[1], NULL, &md[2]) != dnnl_success ||
        dnnl_primitive_attr_create(&attr) != dnnl_success)
        return NULL;
    /* user scratchpad: each thread passes its own, so one primitive may run on
     * several threads at once */
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &desc, attr, dnnl_cpu_engine, NULL) == dnnl_success) {
        const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        md[3] = *sp;
        if (dnnl_primitive_create(&p, pd) != dnnl_success) p = NULL;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return p;
}

/* The bf16 kernel; returns 0 when done, -1 to fall back (nothing written). */
static int linear_bf16_dnnl(int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y, int ldy)
{
    pthread_once(&dnnl_once, dnnl_engine_init);
    if (!dnnl_cpu_engine) return -1;
    const int out = (int)W->shape[0], in = (int)W->shape[1];
    const int nblk = (out + CT_LINEAR_BLOCK - 1) / CT_LINEAR_BLOCK, nth = threads_for(nblk, R, out, in);
    const int wlast = out - (nblk - 1) * CT_LINEAR_BLOCK;
    const int direct = W->dtype == CT_BF16;     /* weights used as stored */
    const int ldw = direct ? (int)W->stride[0] : in;
    /* md[kernel][0..3]: src, weights, dst, scratchpad of the full-width and the last block */
    dnnl_memory_desc_t md[2][4];
    dnnl_primitive_t p[2] = {bf16_matmul(R, nblk > 1 ? CT_LINEAR_BLOCK : wlast, in, ldw, ldy, md[0]), NULL};
    p[1] = nblk > 1 && wlast != CT_LINEAR_BLOCK ? bf16_matmul(R, wlast, in, ldw, ldy, md[1]) : NULL;
    if (nblk > 1 && wlast == CT_LINEAR_BLOCK) memcpy(md[1], md[0], sizeof md[0]);
    uint16_t *Xb = malloc((size_t)R * in * sizeof *Xb);                       /* [R, in] X in bf16 */
    uint16_t *panels = direct ? NULL : malloc((size_t)nth * CT_LINEAR_BLOCK * in * sizeof *panels); /* [nth, 128, in] */
    int ok = p[0] && (nblk == 1 || wlast == CT_LINEAR_BLOCK || p[1]) && Xb && (direct || panels);
    if (ok) {
        #pragma omp parallel for schedule(static) if (nth > 1)
        for (int r = 0; r < R; r++) ct_round_bf16(X + (size_t)r * ldx, Xb + (size_t)r * in, in);
        int failed = 0;
        #pragma omp parallel num_threads(nth) reduction(|: failed)
        {
            omp_set_num_threads(1);   /* this task's nthreads-var: oneDNN runs on one thread */
            dnnl_stream_t st = NULL;
            dnnl_memory_t mem[2][4] = {{NULL}};
            void *scratch[2] = {NULL, NULL};
            int kinds = p[1] ? 2 : 1;
            failed = dnnl_stream_create(&st, dnnl_cpu_engine, dnnl_stream_default_flags) != dnnl_success;
            for (int q = 0; q < kinds && !failed; q++) {
                size_t sb = dnnl_memory_desc_get_size(&md[q][3]);
                scratch[q] = sb ? malloc(sb) : NULL;
                failed = (sb && !scratch[q]) ||
                         dnnl_memory_create(&mem[q][0], &md[q][0], dnnl_cpu_engine, Xb) != dnnl_success ||
                         dnnl_memory_create(&mem[q][1], &md[q][1], dnnl_cpu_engine, DNNL_MEMORY_NONE) != dnnl_success ||
                         dnnl_memory_create(&mem[q][2], &md[q][2], dnnl_cpu_engine, DNNL_MEMORY_NONE) != dnnl_success ||
                         (sb && dnnl_memory_create(&mem[q][3], &md[q][3], dnnl_cpu_engine, scratch[q]) != dnnl_success);
            }
            #pragma omp for schedule(dynamic, 1)
            for (int k = 0; k < nblk; k++) {
                if (failed) continue;
                int o0 = k * CT_LINEAR_BLOCK, w = out - o0 < CT_LINEAR_BLOCK ? out - o0 : CT_LINEAR_BLOCK;
                int q = p[1] && w != CT_LINEAR_BLOCK;
                const uint16_t *Wb = (const uint16_t *)W->data + (size_t)o0 * W->stride[0];
                if (!direct) {
                    uint16_t *pn = panels + (size_t)omp_get_thread_num() * CT_LINEAR_BLOCK * in;
                    for (int o = 0; o < w; o++) ct_tensor_read_bf16(W, (int64_t)(o0 + o) * W->stride[0], in, pn + (size_t)o * in);
                    Wb = pn;
                }
                dnnl_memory_set_data_handle(mem[q][1], (void *)Wb);
                dnnl_memory_set_data_handle(mem[q][2], Y + o0);
                dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem[q][0]}, {DNNL_ARG_WEIGHTS, mem[q][1]},
                                           {DNNL_ARG_DST, mem[q][2]}, {DNNL_ARG_SCRATCHPAD, mem[q][3]}};
                failed = dnnl_primitive_execute(p[q], st, mem[q][3] ? 4 : 3, args) != dnnl_success;
                add_bias(R, o0, w, b, Y, ldy);
            }
            if (st) { dnnl_stream_wait(st); dnnl_stream_destroy(st); }
            for (int q = 0; q < 2; q++) {
                for (int j = 0; j < 4; j++) if (mem[q][j]) dnnl_memory_destroy(mem[q][j]);
                free(scratch[q]);
            }
        }
        ok = !failed;
    }
    for (int q = 0; q < 2; q++) if (p[q]) dnnl_primitive_destroy(p[q]);
    free(Xb);
    free(panels);
    return ok ? 0 : -1;
}
#endif

#ifdef CT_HAVE_DNNL
/* oneDNN's products take another path below 16 rows, whose sums differ in the
 * last bits from those of the same rows inside a larger product.  Products of
 * fewer rows are padded with zero rows to 16, so a row's result never depends
 * on how many rows were computed with it (tests/test_ops.c checks this "batch
 * invariance": a corrupted run with noise 0 equals the clean run bit for bit). */
enum { DNNL_MIN_ROWS = 16 };

static int linear_padded(ct_cpu_gemm g, int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y,
                         int ldy)
{
    const int out = (int)W->shape[0], in = (int)W->shape[1];
    float *Xp = calloc((size_t)DNNL_MIN_ROWS * in, sizeof *Xp);    /* [16, in] X and zero rows */
    float *Yp = malloc((size_t)DNNL_MIN_ROWS * out * sizeof *Yp);  /* [16, out] */
    if (!Xp || !Yp) { free(Xp); free(Yp); return -1; }
    for (int r = 0; r < R; r++) memcpy(Xp + (size_t)r * in, X + (size_t)r * ldx, (size_t)in * sizeof *Xp);
    ct_cpu_linear(g, DNNL_MIN_ROWS, Xp, in, W, b, Yp, out);
    for (int r = 0; r < R; r++) memcpy(Y + (size_t)r * ldy, Yp + (size_t)r * out, (size_t)out * sizeof *Yp);
    free(Xp);
    free(Yp);
    return 0;
}
#endif

void ct_cpu_linear(ct_cpu_gemm g, int R, const float *X, int ldx, const ct_tensor *W, const float *b, float *Y, int ldy)
{
    if (R <= 0) return;
#ifdef CT_HAVE_DNNL
    if (g != CT_GEMM_BLAS && R < DNNL_MIN_ROWS && !linear_padded(g, R, X, ldx, W, b, Y, ldy)) return;
#endif
    if (g == CT_GEMM_BF16) {
#ifdef CT_HAVE_DNNL
        if (!linear_bf16_dnnl(R, X, ldx, W, b, Y, ldy)) return;
#endif
        linear_f32(CT_GEMM_DNNL, 1, R, X, ldx, W, b, Y, ldy);
        return;
    }
    linear_f32(g, 0, R, X, ldx, W, b, Y, ldy);
}

/* token_probs_linear (ops.h): the vocabulary in chunks of CT_PROBS_CHUNK
 * columns, each a product into Y [R, C] (rows C apart; the same inner calls
 * as one product over all columns, since chunks start at multiples of
 * CT_LINEAR_BLOCK), then per row the chunk's max and Σ exp in double folded
 * into the row's running pair, chunk after chunk. */
void ct_cpu_token_probs_linear(ct_cpu_gemm g, int R, const float *X, const ct_tensor *W, const float *b, float cap,
                               int k, const int32_t *tok, float *out)
{
    if (R <= 0) return;
    const int V = (int)W->shape[0], D = (int)W->shape[1], C = V < CT_PROBS_CHUNK ? V : CT_PROBS_CHUNK;
    float *Y = malloc((size_t)R * C * sizeof *Y);        /* [R, C] one chunk's logits */
    float *M = malloc((size_t)R * sizeof *M);            /* [R] running max */
    double *S = malloc((size_t)R * sizeof *S);           /* [R] running Σ exp(z − M) */
    float *zt = malloc((size_t)R * (k > 0 ? k : 1) * sizeof *zt);   /* [R, k] the tokens' logits */
    if (!Y || !M || !S || !zt) {
        /* an op cannot fail (docs/ops.md): no memory gives NaN scores */
        for (long i = 0; i < (long)R * k; i++) out[i] = NAN;
        free(Y); free(M); free(S); free(zt);
        return;
    }
    for (int c0 = 0; c0 < V; c0 += C) {
        const int w = V - c0 < C ? V - c0 : C;
        const ct_tensor Wc = ct_tensor_rows(W, c0, w);
        ct_cpu_linear(g, R, X, D, &Wc, b ? b + c0 : NULL, Y, w);
        #pragma omp parallel for schedule(static) if ((long)R * w > 65536)
        for (int r = 0; r < R; r++) {
            float *z = Y + (size_t)r * w;
            if (cap > 0)
                for (int v = 0; v < w; v++) z[v] = ct_cpu_softcap1(z[v], cap);
            double sc;
            const float mc = ct_cpu_row_max_sumexp(z, w, &sc);
            if (c0 == 0) { M[r] = mc; S[r] = sc; }
            else if (mc > M[r]) { S[r] = S[r] * exp((double)M[r] - mc) + sc; M[r] = mc; }
            else S[r] += sc * exp((double)mc - M[r]);
            for (int j = 0; j < k; j++) {
                const int32_t t = tok[(size_t)r * k + j];
                if (t >= c0 && t < c0 + w) zt[(size_t)r * k + j] = z[t - c0];
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < k; j++) {
            const int32_t t = tok[(size_t)r * k + j];
            out[(size_t)r * k + j] = t < 0 || t >= V ? 1.0f : ct_cpu_expf(zt[(size_t)r * k + j] - M[r]) / (float)S[r];
        }
    free(Y); free(M); free(S); free(zt);
}

const char *ct_cpu_gemm_name(ct_cpu_gemm g)
{
#ifdef CT_HAVE_DNNL
    static _Thread_local char buf[96];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d %s", v->major, v->minor, v->patch,
             g == CT_GEMM_BF16 ? "matmul (bf16 x bf16 -> f32)" : "dnnl_sgemm");
    if (g != CT_GEMM_BLAS) return buf;
#else
    if (g == CT_GEMM_BF16) return "OpenBLAS sgemm on bf16-rounded values (built without oneDNN)";
#endif
    return "OpenBLAS cblas_sgemm";
}
