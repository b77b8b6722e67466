/* cuda.cu — the CUDA backend of the ops table (built only with `make CUDA=1`).
 *
 * NOT YET RUN ON A GPU: this file compiles and links warning-free under nvcc
 * 13 for sm_80 and sm_90, but no op here has executed on a device yet
 * (docs/ops.md, "CUDA backend"; scripts/gpu-check.sh is the first run).
 *
 * Memory.  Every float * an op receives is device memory (cudaMalloc).  All
 * work goes on one stream, asynchronously; upload and download wait for it
 * (the host buffer of an upload may be reused at once; a download's result
 * must be there on return).
 *
 * Per-process state (like the CPU backend's oneDNN engine), created on first
 * use and never freed: the selected device, one stream, one cuBLAS handle,
 * growable device scratch buffers (weight panels, bf16 activations, ids and
 * pointer arrays), and the first CUDA/cuBLAS error seen.  Ops never fail: an
 * error is recorded and reported by ct_cuda_status (ops.h's
 * ct_backend_failed), which the model and engine layers turn into
 * CT_ERR_DEVICE.  Not thread-safe: one trace at a time per process.
 *
 * Products.  f32 compute: F32 weights go to cublasSgemm directly (default
 * math mode, no TF32); BF16/F16 weights are converted, a block of rows at a
 * time, into a float32 device panel and then cublasSgemm (the conversion is
 * exact, as on the CPU).  bf16 compute: X rounded to bf16 (nearest even),
 * BF16 weights as stored (F32/F16 rounded to a bf16 panel), then
 * cublasGemmEx bf16 x bf16 -> f32 with CUBLAS_COMPUTE_32F.
 *
 * Everything else is this file's kernels: statistics of norms, softmax
 * maxima/sums in double as ref.c; rotary angles formed in float32 and their
 * cos/sin taken in double (the numbers of ct_rope_table, computed on the
 * device rather than uploading the host table). */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
extern "C" {
#include "ops/ops.h"
#include "ops/cuda/cuda.h"
}

/* ---- per-process state ------------------------------------------------- */

typedef struct cu_scratch { void *p; size_t bytes; } cu_scratch;

static struct {
    int ready, failed_init, device;
    cudaStream_t stream;
    cublasHandle_t blas;
    char err[256];              /* first error seen, "" when none */
    cu_scratch panel;           /* weight block converted: [rows, in] f32 or bf16 */
    cu_scratch xb;              /* X rounded to bf16: [R, in] */
    cu_scratch small;           /* ids, token lists, pointer arrays */
    cu_scratch dbl;             /* softmax_mean: [R] lse */
    size_t attn_shmem;          /* opt-in dynamic shared memory granted to k_attention so far */
} cu = {0, 0, 0, 0, 0, "", {0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};

static int cu_requested_device = 0;

static void cu_note(const char *what, const char *detail)
{
    if (!cu.err[0]) snprintf(cu.err, sizeof cu.err, "CUDA: %s: %s", what, detail);
}

static int cu_check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 0;
    cu_note(what, cudaGetErrorString(e));
    return -1;
}

static int cu_blas_check(cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    char b[48];
    snprintf(b, sizeof b, "cuBLAS status %d", (int)s);
    cu_note(what, b);
    return -1;
}

/* Creates the stream and handle on the selected device once; 0 when usable. */
static int cu_init(void)
{
    if (cu.ready) return 0;
    if (cu.failed_init) return -1;
    int n = 0;
    if (cu_check(cudaGetDeviceCount(&n), "no usable GPU") || n < 1) {
        if (n < 1) cu_note("no usable GPU", "cudaGetDeviceCount found none");
        cu.failed_init = 1;
        return -1;
    }
    if (cu_requested_device >= n) {
        char b[64];
        snprintf(b, sizeof b, "device %d asked, %d present", cu_requested_device, n);
        cu_note("no such GPU", b);
        cu.failed_init = 1;
        return -1;
    }
    if (cu_check(cudaSetDevice(cu_requested_device), "cudaSetDevice") ||
        cu_check(cudaStreamCreateWithFlags(&cu.stream, cudaStreamNonBlocking), "cudaStreamCreate") ||
        cu_blas_check(cublasCreate(&cu.blas), "cublasCreate") ||
        cu_blas_check(cublasSetStream(cu.blas, cu.stream), "cublasSetStream") ||
        cu_blas_check(cublasSetMathMode(cu.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode")) {
        cu.failed_init = 1;
        return -1;
    }
    cu.device = cu_requested_device;
    cu.ready = 1;
    return 0;
}

/* A scratch buffer of at least bytes (contents not kept); NULL on failure.
 * Growing waits for the stream, since queued work may still read the old one. */
static void *cu_grow(cu_scratch *s, size_t bytes)
{
    if (s->bytes >= bytes) return s->p;
    cudaStreamSynchronize(cu.stream);
    if (s->p) cudaFree(s->p);
    s->p = NULL; s->bytes = 0;
    size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;
    if (cu_check(cudaMalloc(&s->p, want), "scratch cudaMalloc")) { s->p = NULL; return NULL; }
    s->bytes = want;
    return s->p;
}

/* Host bytes into a small scratch, ordered on the stream (pageable source:
 * cudaMemcpyAsync has copied it out before returning). */
static void *cu_stage(cu_scratch *s, const void *host, size_t bytes)
{
    void *d = cu_grow(s, bytes);
    if (!d) return NULL;
    if (cu_check(cudaMemcpyAsync(d, host, bytes, cudaMemcpyHostToDevice, cu.stream), "staging copy")) return NULL;
    return d;
}

static unsigned cu_blocks(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    if (b > 1L << 20) b = 1L << 20;     /* grid-stride loops cover the rest */
    return (unsigned)(b < 1 ? 1 : b);
}

static void cu_launched(const char *what) { cu_check(cudaGetLastError(), what); }

/* ---- the C-side queries (cuda.h) ---------------------------------------- */

extern "C" int ct_cuda_select(int device, char *msg, size_t n)
{
    if (cu.ready && device != cu.device) {
        snprintf(msg, n, "CUDA: device %d already in use in this process (asked %d)", cu.device, device);
        return -1;
    }
    cu_requested_device = device;
    if (cu_init()) { snprintf(msg, n, "%s", cu.err); return -1; }
    return 0;
}

extern "C" int ct_cuda_status(char *msg, size_t n)
{
    if (cu.ready) cu_check(cudaStreamSynchronize(cu.stream), "stream");
    if (!cu.err[0]) return 0;
    if (msg && n) snprintf(msg, n, "%s", cu.err);
    return -1;
}

extern "C" int ct_cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    if (cu_init()) return -1;
    return cu_check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

/* ---- memory ------------------------------------------------------------ */

static void *cuda_alloc(const ct_backend *be, size_t bytes)
{
    (void)be;
    if (cu_init()) return NULL;
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) { cudaGetLastError(); return NULL; }  /* NULL says it */
    return p;
}

static void cuda_free(const ct_backend *be, void *p)
{
    (void)be;
    if (p && cu.ready) cu_check(cudaFree(p), "cudaFree");
}

static void cuda_upload(const ct_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (!bytes || cu_init()) return;
    cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu.stream), "upload");
    cu_check(cudaStreamSynchronize(cu.stream), "upload");
}

static void cuda_download(const ct_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (!bytes || cu_init()) return;
    cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu.stream), "download");
    cu_check(cudaStreamSynchronize(cu.stream), "download");
}

static void cuda_sync(const ct_backend *be)
{
    (void)be;
    if (cu.ready) cu_check(cudaStreamSynchronize(cu.stream), "sync");
}

/* ---- copy_rows ----------------------------------------------------------- */

/* dst [n, len] (rows dld apart) = the one row src [len], repeated. */
__global__ void k_repeat_row(int n, long len, float *dst, long dld, const float *src)
{
    long total = (long)n * len;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / len, c = i % len;
        dst[r * dld + c] = src[c];
    }
}

static void cuda_copy_rows(const ct_backend *be, int n, long len, float *dst, long dld, const float *src, long sld)
{
    (void)be;
    if (n <= 0 || len <= 0 || cu_init()) return;
    if (sld == 0 && n > 1) {
        k_repeat_row<<<cu_blocks((long)n * len, 256), 256, 0, cu.stream>>>(n, len, dst, dld, src);
        cu_launched("copy_rows");
        return;
    }
    size_t w = (size_t)len * sizeof(float);
    cu_check(cudaMemcpy2DAsync(dst, (size_t)(n == 1 ? len : dld) * sizeof(float), src,
                               (size_t)(n == 1 ? len : sld) * sizeof(float), w, (size_t)n,
                               cudaMemcpyDeviceToDevice, cu.stream), "copy_rows");
}

/* ---- products ------------------------------------------------------------ */

__device__ __forceinline__ float ld_weight(const void *W, ct_dtype dt, long i)
{
    if (dt == CT_BF16) return __bfloat162float(((const __nv_bfloat16 *)W)[i]);
    if (dt == CT_F16) return __half2float(((const __half *)W)[i]);
    return ((const float *)W)[i];
}

/* panel [rows, in] f32 = W rows [o0, o0 + rows) of a [*, in] view (rows ld apart). */
__global__ void k_weight_f32(int rows, int in, const void *W, ct_dtype dt, long ld, long o0, float *panel)
{
    long total = (long)rows * in;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / in, c = i % in;
        panel[i] = ld_weight(W, dt, (o0 + r) * ld + c);
    }
}

/* panel [rows, in] bf16 = the same rows rounded to bf16 (nearest even). */
__global__ void k_weight_bf16(int rows, int in, const void *W, ct_dtype dt, long ld, long o0, __nv_bfloat16 *panel)
{
    long total = (long)rows * in;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / in, c = i % in;
        panel[i] = __float2bfloat16_rn(ld_weight(W, dt, (o0 + r) * ld + c));
    }
}

/* xb [R, in] bf16 = X [R, in] (rows ldx apart) rounded to nearest even. */
__global__ void k_round_bf16(int R, int in, const float *X, int ldx, __nv_bfloat16 *xb)
{
    long total = (long)R * in;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / in, c = i % in;
        xb[i] = __float2bfloat16_rn(X[r * ldx + c]);
    }
}

/* Y [R, out] (rows ldy apart) += b [out]. */
__global__ void k_add_bias(int R, int out, float *Y, int ldy, const float *b)
{
    long total = (long)R * out;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / out, c = i % out;
        Y[r * ldy + c] += b[c];
    }
}

enum { CU_PANEL_ELEMS = 1 << 25 };   /* a converted weight block: at most 32 Mi elements (128 MiB f32) */

static void cuda_linear(const ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                        const float *b, float *Y, int ldy)
{
    if (R <= 0 || cu_init()) return;
    const int out = (int)W->shape[0], in = (int)W->shape[1];
    const long ldw = (long)W->stride[0];
    const float one = 1.0f, zero = 0.0f;
    int block = (int)(CU_PANEL_ELEMS / (in > 0 ? in : 1));
    if (block < 1) block = 1;
    if (block > out) block = out;
    if (be->compute == CT_BF16) {
        /* xb [R, in] bf16 */
        __nv_bfloat16 *xb = (__nv_bfloat16 *)cu_grow(&cu.xb, (size_t)R * in * sizeof(__nv_bfloat16));
        if (!xb) return;
        k_round_bf16<<<cu_blocks((long)R * in, 256), 256, 0, cu.stream>>>(R, in, X, ldx, xb);
        cu_launched("linear: round X");
        if (W->dtype == CT_BF16) {
            cu_blas_check(cublasGemmEx(cu.blas, CUBLAS_OP_T, CUBLAS_OP_N, out, R, in, &one, W->data, CUDA_R_16BF,
                                       (int)ldw, xb, CUDA_R_16BF, in, &zero, Y, CUDA_R_32F, ldy,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "linear bf16");
        } else {
            /* panel [block, in] bf16 */
            __nv_bfloat16 *pn = (__nv_bfloat16 *)cu_grow(&cu.panel, (size_t)block * in * sizeof(__nv_bfloat16));
            if (!pn) return;
            for (int o0 = 0; o0 < out; o0 += block) {
                int nr = out - o0 < block ? out - o0 : block;
                k_weight_bf16<<<cu_blocks((long)nr * in, 256), 256, 0, cu.stream>>>(nr, in, W->data, W->dtype, ldw, o0, pn);
                cu_launched("linear: bf16 panel");
                cu_blas_check(cublasGemmEx(cu.blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, R, in, &one, pn, CUDA_R_16BF, in,
                                           xb, CUDA_R_16BF, in, &zero, Y + o0, CUDA_R_32F, ldy,
                                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "linear bf16 panel");
            }
        }
    } else if (W->dtype == CT_F32) {
        cu_blas_check(cublasSgemm(cu.blas, CUBLAS_OP_T, CUBLAS_OP_N, out, R, in, &one, (const float *)W->data,
                                  (int)ldw, X, ldx, &zero, Y, ldy), "linear f32");
    } else {
        /* panel [block, in] f32 */
        float *pn = (float *)cu_grow(&cu.panel, (size_t)block * in * sizeof(float));
        if (!pn) return;
        for (int o0 = 0; o0 < out; o0 += block) {
            int nr = out - o0 < block ? out - o0 : block;
            k_weight_f32<<<cu_blocks((long)nr * in, 256), 256, 0, cu.stream>>>(nr, in, W->data, W->dtype, ldw, o0, pn);
            cu_launched("linear: f32 panel");
            cu_blas_check(cublasSgemm(cu.blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, R, in, &one, pn, in, X, ldx, &zero,
                                      Y + o0, ldy), "linear f32 panel");
        }
    }
    if (b) {
        k_add_bias<<<cu_blocks((long)R * out, 256), 256, 0, cu.stream>>>(R, out, Y, ldy, b);
        cu_launched("linear: bias");
    }
}

/* ---- reductions ---------------------------------------------------------- */

enum { CU_RED = 256 };   /* threads of the one-block-per-row kernels (a power of two) */

/* The sum over the block of v (every thread gets it); sh [CU_RED] doubles. */
__device__ double block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = CU_RED / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

__device__ double block_max(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = CU_RED / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] = fmax(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* One block per row r: y [r, D] = norm(x [r, D]); statistics in double. */
__global__ void k_norm(ct_norm_kind kind, float eps, int D, const float *x, const float *w, const float *b, float *y)
{
    __shared__ double sh[CU_RED];
    const float *xr = x + (size_t)blockIdx.x * D;
    float *yr = y + (size_t)blockIdx.x * D;
    if (kind == CT_NORM_LAYER) {
        double s = 0;
        for (int i = threadIdx.x; i < D; i += CU_RED) s += xr[i];
        double mean = block_sum(s, sh) / D;
        double v = 0;
        for (int i = threadIdx.x; i < D; i += CU_RED) { double d = xr[i] - mean; v += d * d; }
        double inv = 1.0 / sqrt(block_sum(v, sh) / D + eps);
        for (int i = threadIdx.x; i < D; i += CU_RED)
            yr[i] = (float)((xr[i] - mean) * inv * w[i] + (b ? b[i] : 0.0));
    } else {
        double ss = 0;
        for (int i = threadIdx.x; i < D; i += CU_RED) ss += (double)xr[i] * xr[i];
        double inv = 1.0 / sqrt(block_sum(ss, sh) / D + eps);
        for (int i = threadIdx.x; i < D; i += CU_RED)
            yr[i] = (float)(xr[i] * inv * (kind == CT_NORM_RMS_1P ? 1.0 + w[i] : (double)w[i]));
    }
}

static void cuda_norm(const ct_backend *be, ct_norm_kind kind, float eps, int R, int D, const float *x,
                      const float *w, const float *b, float *y)
{
    (void)be;
    if (R <= 0 || cu_init()) return;
    k_norm<<<(unsigned)R, CU_RED, 0, cu.stream>>>(kind, eps, D, x, w, b, y);
    cu_launched("norm");
}

/* ---- rotary -------------------------------------------------------------- */

enum { CU_ROPE_MAX_HALF = 512 };
typedef struct cu_freqs { float f[CU_ROPE_MAX_HALF]; } cu_freqs;   /* inv_freq [half], by value */

/* Rows r < R of x (ld apart), position p0 + r % n; one thread per (r, head, i). */
__global__ void k_rope(int R, int n, int p0, float *x, int ld, int nheads, int hd, int half, int interleaved,
                       cu_freqs fq)
{
    long total = (long)R * nheads * half;
    for (long t = blockIdx.x * (long)blockDim.x + threadIdx.x; t < total; t += (long)gridDim.x * blockDim.x) {
        int i = (int)(t % half);
        long rh = t / half;
        int h = (int)(rh % nheads), r = (int)(rh / nheads);
        int pos = p0 + r % n;
        float ang = (float)pos * fq.f[i];            /* formed in float32, as transformers */
        double c = cos((double)ang), s = sin((double)ang);
        float *v = x + (size_t)r * ld + (size_t)h * hd;
        int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
        double a = v[ia], bb = v[ib];
        v[ia] = (float)(a * c - bb * s);
        v[ib] = (float)(bb * c + a * s);
    }
}

static void cuda_rope(const ct_backend *be, int R, int n, int p0, float *x, int ld, int nheads, int hd,
                      int rotary_dim, int interleaved, const ct_rope_table *rt)
{
    (void)be;
    int half = rotary_dim / 2;
    if (R <= 0 || half <= 0 || cu_init()) return;
    if (half > CU_ROPE_MAX_HALF) { cu_note("rope", "rotary_dim above 1024 is not supported"); return; }
    cu_freqs fq;
    memset(&fq, 0, sizeof fq);
    memcpy(fq.f, rt->inv_freq, (size_t)half * sizeof(float));   /* host array: passed by value */
    k_rope<<<cu_blocks((long)R * nheads * half, 256), 256, 0, cu.stream>>>(R, n, p0, x, ld, nheads, hd, half,
                                                                        interleaved, fq);
    cu_launched("rope");
}

/* ---- elementwise --------------------------------------------------------- */

__device__ double act1(ct_act act, double v)
{
    switch (act) {
    case CT_ACT_SILU: return v / (1.0 + exp(-v));
    case CT_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case CT_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case CT_ACT_RELU: return v > 0 ? v : 0;
    }
    return v;
}

__global__ void k_act(ct_act act, long n, float *x)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        x[i] = (float)act1(act, x[i]);
}

/* x [R, 2F] (ld apart): x[r, f] = act(x[r, f]) * x[r, F + f]. */
__global__ void k_act_gated(ct_act act, int R, int F, float *x, int ld)
{
    long total = (long)R * F;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        float *g = x + (size_t)(i / F) * ld;
        long f = i % F;
        g[f] = (float)(act1(act, g[f]) * g[F + f]);
    }
}

__global__ void k_add(long n, const float *a, const float *b, const float *c, float *y)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = c ? (a[i] + b[i]) + c[i] : a[i] + b[i];
}

__global__ void k_scale(long n, float *x, float s)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) x[i] *= s;
}

__global__ void k_softcap(long n, float *x, float cap)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        x[i] = (float)(tanh((double)x[i] / cap) * cap);
}

static void cuda_act(const ct_backend *be, ct_act act, long n, float *x)
{
    (void)be;
    if (n <= 0 || cu_init()) return;
    k_act<<<cu_blocks(n, 256), 256, 0, cu.stream>>>(act, n, x);
    cu_launched("act");
}

static void cuda_act_gated(const ct_backend *be, ct_act act, int R, int F, float *x, int ld)
{
    (void)be;
    if (R <= 0 || F <= 0 || cu_init()) return;
    k_act_gated<<<cu_blocks((long)R * F, 256), 256, 0, cu.stream>>>(act, R, F, x, ld);
    cu_launched("act_gated");
}

static void cuda_add(const ct_backend *be, long n, const float *a, const float *b, const float *c, float *y)
{
    (void)be;
    if (n <= 0 || cu_init()) return;
    k_add<<<cu_blocks(n, 256), 256, 0, cu.stream>>>(n, a, b, c, y);
    cu_launched("add");
}

static void cuda_scale(const ct_backend *be, long n, float *x, float s)
{
    (void)be;
    if (n <= 0 || cu_init()) return;
    k_scale<<<cu_blocks(n, 256), 256, 0, cu.stream>>>(n, x, s);
    cu_launched("scale");
}

static void cuda_softcap(const ct_backend *be, long n, float *x, float cap)
{
    (void)be;
    if (n <= 0 || cu_init()) return;
    k_softcap<<<cu_blocks(n, 256), 256, 0, cu.stream>>>(n, x, cap);
    cu_launched("softcap");
}

/* out [n, D] = rows ids[i] of E [V, D] (rows ld apart, stored dtype), 0 outside [0, V). */
__global__ void k_embed(const void *E, ct_dtype dt, long ld, long V, long D, const int32_t *ids, int n, float *out)
{
    long total = (long)n * D;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long r = i / D, d = i % D;
        int32_t id = ids[r];
        out[i] = id >= 0 && id < V ? ld_weight(E, dt, (long)id * ld + d) : 0.0f;
    }
}

static void cuda_embed(const ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out)
{
    (void)be;
    if (n <= 0 || cu_init()) return;
    const int32_t *d_ids = (const int32_t *)cu_stage(&cu.small, ids, (size_t)n * sizeof *ids);   /* [n] */
    if (!d_ids) return;
    k_embed<<<cu_blocks((long)n * E->shape[1], 256), 256, 0, cu.stream>>>(E->data, E->dtype, (long)E->stride[0],
                                                                         (long)E->shape[0], (long)E->shape[1],
                                                                         d_ids, n, out);
    cu_launched("embed");
}

/* ---- attention ----------------------------------------------------------- */

/* One block per (sequence b, new position i, head h): grid (H, n, nb).
 * Dynamic shared memory: q [hd] floats, then the scores s [p + 1] doubles. */
__global__ void k_attention(int H, int KVH, int hd, int window, float scale, float softcap, int n, int p0,
                            const float *q, int q_ld, const float *const *ptrs, int nb, float *ctx)
{
    extern __shared__ double dyn[];
    __shared__ double red[CU_RED];
    const int h = blockIdx.x, i = blockIdx.y, b = blockIdx.z;
    const int KV = KVH * hd, group = H / KVH, p = p0 + i;
    const int lo = window ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0;
    const float *k_past = ptrs[b], *v_past = ptrs[nb + b], *k_new = ptrs[2 * nb + b], *v_new = ptrs[3 * nb + b];
    double *s = dyn;                                /* [p + 1] */
    float *qs = (float *)(dyn + (p0 + n));          /* [hd] */
    const float *qr = q + ((size_t)b * n + i) * q_ld + (size_t)h * hd;
    for (int e = threadIdx.x; e < hd; e += CU_RED) qs[e] = qr[e];
    __syncthreads();
    const size_t ho = (size_t)(h / group) * hd;
    double mx = -INFINITY;
    for (int j = lo + threadIdx.x; j <= p; j += CU_RED) {
        const float *k = (j < p0 ? k_past + (size_t)j * KV : k_new + (size_t)(j - p0) * KV) + ho;
        double d = 0;
        for (int e = 0; e < hd; e++) d += (double)qs[e] * k[e];
        d *= scale;
        if (softcap > 0) d = tanh(d / softcap) * softcap;
        s[j] = d;
        mx = fmax(mx, d);
    }
    mx = block_max(mx, red);
    double sum = 0;
    for (int j = lo + threadIdx.x; j <= p; j += CU_RED) { s[j] = exp(s[j] - mx); sum += s[j]; }
    sum = block_sum(sum, red);   /* (its barriers also publish s) */
    float *o = ctx + ((size_t)b * n + i) * ((size_t)H * hd) + (size_t)h * hd;
    for (int e = threadIdx.x; e < hd; e += CU_RED) {
        double acc = 0;
        for (int j = lo; j <= p; j++) {
            const float *v = (j < p0 ? v_past + (size_t)j * KV : v_new + (size_t)(j - p0) * KV) + ho;
            acc += s[j] * v[e];
        }
        o[e] = (float)(acc / sum);
    }
}

static void cuda_attention(const ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0, const float *q,
                           int q_ld, const float *const *k_past, const float *const *v_past,
                           const float *const *k_new, const float *const *v_new, float *ctx)
{
    (void)be;
    if (nb <= 0 || n <= 0 || cu_init()) return;
    /* host [4, nb] pointer table: k_past, v_past, k_new, v_new */
    const float *host[4 * 64];
    const float **tab = nb <= 64 ? host : (const float **)malloc((size_t)4 * nb * sizeof *tab);
    if (!tab) { cu_note("attention", "host out of memory"); return; }
    for (int b = 0; b < nb; b++) {
        tab[b] = p0 ? k_past[b] : NULL; tab[nb + b] = p0 ? v_past[b] : NULL;
        tab[2 * nb + b] = k_new[b]; tab[3 * nb + b] = v_new[b];
    }
    const float *const *d_tab = (const float *const *)cu_stage(&cu.small, tab, (size_t)4 * nb * sizeof *tab);
    if (tab != host) free(tab);
    if (!d_tab) return;
    size_t shmem = (size_t)(p0 + n) * sizeof(double) + (size_t)a->head_dim * sizeof(float);
    if (shmem > 48 * 1024 && shmem > cu.attn_shmem) {
        if (cu_check(cudaFuncSetAttribute(k_attention, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shmem),
                     "attention: context too long for shared memory")) return;
        cu.attn_shmem = shmem;
    }
    dim3 grid((unsigned)a->n_heads, (unsigned)n, (unsigned)nb);
    k_attention<<<grid, CU_RED, shmem, cu.stream>>>(a->n_heads, a->n_kv_heads, a->head_dim, a->window, a->scale,
                                                     a->softcap, n, p0, q, q_ld, d_tab, nb, ctx);
    cu_launched("attention");
}

/* ---- softmaxes ----------------------------------------------------------- */

/* One block per row r of logits [R, V]: out[r, j] = softmax(row)[tok[r, j]]. */
__global__ void k_token_probs(int V, const float *logits, int k, const int32_t *tok, float *out)
{
    __shared__ double red[CU_RED];
    const float *z = logits + (size_t)blockIdx.x * V;
    double mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += CU_RED) mx = fmax(mx, (double)z[v]);
    mx = block_max(mx, red);
    double sum = 0;
    for (int v = threadIdx.x; v < V; v += CU_RED) sum += exp(z[v] - mx);
    sum = block_sum(sum, red);
    for (int j = threadIdx.x; j < k; j += CU_RED) {
        int32_t t = tok[(size_t)blockIdx.x * k + j];
        out[(size_t)blockIdx.x * k + j] = t < 0 ? 1.0f : (float)(exp(z[t] - mx) / sum);
    }
}

static void cuda_token_probs(const ct_backend *be, int R, int V, const float *logits, int k, const int32_t *tok,
                             float *out)
{
    (void)be;
    if (R <= 0 || k <= 0 || cu_init()) return;
    const int32_t *d_tok = (const int32_t *)cu_stage(&cu.small, tok, (size_t)R * k * sizeof *tok);   /* [R, k] */
    if (!d_tok) return;
    k_token_probs<<<(unsigned)R, CU_RED, 0, cu.stream>>>(V, logits, k, d_tok, out);
    cu_launched("token_probs");
}

/* One block per row: lse [r] = max + log(sum exp(z - max)), in double. */
__global__ void k_row_lse(int V, const float *logits, double *lse)
{
    __shared__ double red[CU_RED];
    const float *z = logits + (size_t)blockIdx.x * V;
    double mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += CU_RED) mx = fmax(mx, (double)z[v]);
    mx = block_max(mx, red);
    double sum = 0;
    for (int v = threadIdx.x; v < V; v += CU_RED) sum += exp(z[v] - mx);
    sum = block_sum(sum, red);
    if (threadIdx.x == 0) lse[blockIdx.x] = mx + log(sum);
}

/* out [V] = mean over r < R of exp(z[r, v] - lse[r]), summed in double over r in order. */
__global__ void k_softmax_mean(int R, int V, const float *logits, const double *lse, float *out)
{
    for (long v = blockIdx.x * (long)blockDim.x + threadIdx.x; v < V; v += (long)gridDim.x * blockDim.x) {
        double acc = 0;
        for (int r = 0; r < R; r++) acc += exp(logits[(size_t)r * V + v] - lse[r]);
        out[v] = (float)(acc / R);
    }
}

static void cuda_softmax_mean(const ct_backend *be, int R, int V, const float *logits, float *out)
{
    (void)be;
    if (R <= 0 || cu_init()) return;
    double *lse = (double *)cu_grow(&cu.dbl, (size_t)R * sizeof(double));   /* [R] */
    if (!lse) return;
    k_row_lse<<<(unsigned)R, CU_RED, 0, cu.stream>>>(V, logits, lse);
    cu_launched("softmax_mean: lse");
    k_softmax_mean<<<cu_blocks(V, 256), 256, 0, cu.stream>>>(R, V, logits, lse, out);
    cu_launched("softmax_mean");
}

/* ---- the tables ---------------------------------------------------------- */

static void cuda_describe(const ct_backend *be, char *buf, size_t n)
{
    char gpu[320] = "GPU not initialised";
    cudaDeviceProp p;
    if (cu.ready && cudaGetDeviceProperties(&p, cu.device) == cudaSuccess)
        snprintf(gpu, sizeof gpu, "GPU %d %s (sm_%d%d)", cu.device, p.name, p.major, p.minor);
    int rt = 0;
    cudaRuntimeGetVersion(&rt);
    snprintf(buf, n, "cuda: cuBLAS %s, own kernels, one stream, CUDA runtime %d.%d, %s",
             be->compute == CT_BF16 ? "GemmEx bf16 x bf16 -> f32 (CUBLAS_COMPUTE_32F)" : "Sgemm float32 (no TF32)",
             rt / 1000, rt % 1000 / 10, gpu);
}

static ct_backend cuda_table(ct_dtype compute)
{
    ct_backend t;
    memset(&t, 0, sizeof t);
    t.version = CT_BACKEND_VERSION;
    t.name = "cuda";
    t.device = CT_DEVICE_CUDA;
    t.alloc = cuda_alloc; t.free = cuda_free; t.upload = cuda_upload; t.download = cuda_download; t.sync = cuda_sync;
    t.copy_rows = cuda_copy_rows; t.linear = cuda_linear; t.norm = cuda_norm; t.rope = cuda_rope;
    t.act = cuda_act; t.act_gated = cuda_act_gated; t.add = cuda_add; t.scale = cuda_scale; t.softcap = cuda_softcap;
    t.embed = cuda_embed; t.attention = cuda_attention; t.token_probs = cuda_token_probs;
    t.softmax_mean = cuda_softmax_mean;
    t.compute = compute;
    t.describe = cuda_describe;
    return t;
}

static const ct_backend cuda_f32_backend = cuda_table(CT_F32);
static const ct_backend cuda_bf16_backend = cuda_table(CT_BF16);

extern "C" const ct_backend *ct_backend_cuda(void) { return &cuda_f32_backend; }
extern "C" const ct_backend *ct_backend_cuda_bf16(void) { return &cuda_bf16_backend; }
