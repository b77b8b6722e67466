/* ops.h — the compute seam: one table of operations per backend.
 *
 * The transformer block (src/forward), the logits and both tracing engines
 * (src/trace) do all their arithmetic and every move of activation memory
 * through a ct_backend.  The backends:
 *   - "ref": every op written the obvious way, no BLAS, one thread — the
 *     oracle that tests/test_ops.c checks the others against;
 *   - "cpu": oneDNN products on fixed column blocks and OpenMP loops, with
 *     results independent of the thread count (and of the batch a row is
 *     computed in); "openblas": the same with OpenBLAS products.
 * Each has a float32 table and ("cpu", "ref") a bf16-compute one.
 * A device backend (CUDA) implements the same table over device-resident
 * buffers; see docs/ops.md for its rules.
 *
 * Memory.  Activation pointers (float *) handed to an op are memory of the
 * backend that runs it: obtained from its alloc, or (host backends) any host
 * memory.  Weights are ct_tensor views in their stored dtype (F32, BF16,
 * F16): products convert weight panels to float32 as they consume them and
 * accumulate in float32, so a bf16 checkpoint gives the same numbers as the
 * same checkpoint converted to float32 first.  1-D weights (norm weights,
 * biases) are float32.
 *
 * Ops never fail except alloc (NULL); arguments are the caller's to check.
 * Row-major everywhere; "ld" is the distance in floats between rows. */
#ifndef CT_OPS_H
#define CT_OPS_H
#include "ctrace.h"

enum { CT_BACKEND_VERSION = 3 };

/* Fixed output-column blocks of the products: a product over columns
 * [c0, out) of the same W with c0 a multiple of this makes exactly the same
 * inner calls for those columns, so it is bit-identical (ct_block_kv relies
 * on this; a device backend need not, its equalities are tolerances). */
enum { CT_LINEAR_BLOCK = 128 };

/* A model's rotary frequencies, and the cos/sin table of the first n_pos
 * positions computed once at load: row p of cos_sin [n_pos, 2 · half] is
 * cos(p · inv_freq[i]) for i < half, then the sines, each angle formed in
 * float32 (as transformers) and its cos/sin taken in double then rounded.
 * A backend may use the table or compute the same numbers itself. */
typedef struct ct_rope_table {
    const float *inv_freq;      /* [half] */
    const float *cos_sin;       /* [n_pos, 2 * half], or NULL */
    int n_pos;
} ct_rope_table;
/* cos_sin [n, 2 * half] = the table's rows for positions p0 .. p0+n-1. */
void ct_rope_fill(const float *inv_freq, int half, int p0, int n, float *cos_sin);

/* The attention geometry of one layer. */
typedef struct ct_attn_shape {
    int n_heads, n_kv_heads, head_dim;      /* H, KVH (H % KVH == 0), hd */
    int window;                 /* 0: full causal; else p sees p-window+1 .. p */
    float scale;                /* multiplies q·k */
    float softcap;              /* tanh soft-capping of scaled scores; 0 = off */
} ct_attn_shape;

typedef struct ct_backend {
    int version;                /* CT_BACKEND_VERSION: calls are only ever appended */
    const char *name;           /* "ref", "cpu", "cuda" */
    ct_device device;

    /* -- memory ------------------------------------------------------------ */
    void *(*alloc)(const struct ct_backend *be, size_t bytes);    /* NULL: out of memory */
    void (*free)(const struct ct_backend *be, void *p);
    void (*upload)(const struct ct_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(const struct ct_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*sync)(const struct ct_backend *be);   /* waits for every op issued so far */

    /* -- moving rows (restore, patch, fork, entry rows, gathers) ----------- */
    /* dst [n, len] (rows dld apart) = src [n, len] (rows sld apart), floats;
     * regions do not overlap. */
    void (*copy_rows)(const struct ct_backend *be, int n, long len, float *dst, long dld,
                      const float *src, long sld);

    /* -- arithmetic -------------------------------------------------------- */
    /* Y [R, out] (rows ldy apart) = X [R, in] (rows ldx apart) · Wᵀ (+ b [out]);
     * W is a [out, in] view in its stored dtype; b float32 or NULL. */
    void (*linear)(const struct ct_backend *be, int R, const float *X, int ldx, const ct_tensor *W,
                   const float *b, float *Y, int ldy);
    /* y [R, D] = norm(x [R, D]) with w [D] (and b [D] for LayerNorm, may be NULL);
     * y may equal x.  Statistics in double. */
    void (*norm)(const struct ct_backend *be, ct_norm_kind kind, float eps, int R, int D,
                 const float *x, const float *w, const float *b, float *y);
    /* In place on rows r < R of x (ld apart) whose position is p0 + r % n:
     * rotary embedding of nheads heads hd apart (first rotary_dim dims of each,
     * adjacent pairs if interleaved, else halves), angles pos · inv_freq[i]
     * formed in float32 (rt->cos_sin holds them for pos < rt->n_pos). */
    void (*rope)(const struct ct_backend *be, int R, int n, int p0, float *x, int ld, int nheads, int hd,
                 int rotary_dim, int interleaved, const ct_rope_table *rt);
    /* x [n] = act(x), in place. */
    void (*act)(const struct ct_backend *be, ct_act act, long n, float *x);
    /* Gated activation, rows r < R of x [R, 2F] (ld apart): x[r, :F] = act(x[r, :F]) · x[r, F:2F]. */
    void (*act_gated)(const struct ct_backend *be, ct_act act, int R, int F, float *x, int ld);
    /* y [n] = a + b (+ c when not NULL), summed left to right; y may alias a. */
    void (*add)(const struct ct_backend *be, long n, const float *a, const float *b, const float *c, float *y);
    /* x [n] *= s. */
    void (*scale)(const struct ct_backend *be, long n, float *x, float s);
    /* x [n] = tanh(x / cap) · cap. */
    void (*softcap)(const struct ct_backend *be, long n, float *x, float cap);
    /* out [n, D] = rows ids[i] of E [V, D] (stored dtype) as float32; rows of
     * ids outside [0, V) are zero.  ids is host memory. */
    void (*embed)(const struct ct_backend *be, const ct_tensor *E, const int32_t *ids, int n, float *out);
    /* Attention of nb sequences of n new positions p0 .. p0+n-1:
     *   q      [nb*n, q_ld]  queries (rotary applied), head h at column h*hd
     *   k_past[b], v_past[b] [p0, KVH*hd]; k_new[b], v_new[b] [n, KVH*hd]
     *   ctx    [nb*n, H*hd]  written: softmax(scale q·k) v per head
     * k_past / v_past / k_new / v_new are host arrays of nb backend pointers. */
    void (*attention)(const struct ct_backend *be, const ct_attn_shape *a, int nb, int n, int p0,
                      const float *q, int q_ld, const float *const *k_past, const float *const *v_past,
                      const float *const *k_new, const float *const *v_new, float *ctx);
    /* p(token) at chosen rows: for rows r < R of logits [R, V],
     * out[r, j] = softmax(logits[r])[tok[r, j]] for j < k (tok [R, k] host
     * memory; -1 = none, out 1).  max and the sum of exp in double, as today. */
    void (*token_probs)(const struct ct_backend *be, int R, int V, const float *logits, int k,
                        const int32_t *tok, float *out);
    /* out [V] = the mean over rows r < R of softmax(logits[r]) (max and sums
     * in double): what the model predicts, averaged over noise samples. */
    void (*softmax_mean)(const struct ct_backend *be, int R, int V, const float *logits, float *out);

    /* -- version 2 --------------------------------------------------------- */
    /* What the products compute in: F32, or BF16 (X and W rounded to bf16,
     * products accumulated in float32; everything else stays float32). */
    ct_dtype compute;
    /* One line for `ctrace info` and run.json: the library and kernels used. */
    void (*describe)(const struct ct_backend *be, char *buf, size_t n);

    /* -- version 3 --------------------------------------------------------- */
    /* p(token) straight from rows, the logits never stored whole: for rows
     * r < R of x [R, in] (rows in apart), logits = x · Wᵀ (+ b) (W [V, in] in
     * its stored dtype: the same products as linear, so the same logits),
     * soft-capped when cap > 0 (tanh(z / cap) · cap), and
     *   out[r, j] = exp(z[tok[r, j]] − m) / s   (tok [R, k] host; −1: out 1)
     * with m the row's max and s = Σ exp(z − m) in double, each vocabulary
     * chunk of CT_PROBS_CHUNK columns summed from its own max and the chunks
     * folded in order (s = s · exp(m_old − m_new) + …).  Thread-count and
     * batch independent, like linear.  NULL: not provided (the engine then
     * runs linear and token_probs on stored logits). */
    void (*token_probs_linear)(const struct ct_backend *be, int R, const float *x, const ct_tensor *W,
                               const float *b, float cap, int k, const int32_t *tok, float *out);
} ct_backend;

/* The vocabulary chunk of token_probs_linear (a multiple of CT_LINEAR_BLOCK). */
enum { CT_PROBS_CHUNK = 16 * CT_LINEAR_BLOCK };

/* The backends built into this library. */
const ct_backend *ct_backend_ref(void);        /* plain C, float32 */
const ct_backend *ct_backend_ref_bf16(void);   /* plain C, products on bf16-rounded values */
const ct_backend *ct_backend_cpu(void);        /* oneDNN products, float32 */
const ct_backend *ct_backend_cpu_bf16(void);   /* oneDNN bf16 products */
const ct_backend *ct_backend_openblas(void);   /* OpenBLAS products, float32 */
/* The backend of a name ("cpu", "openblas", "ref"; NULL = "cpu") computing
 * products in dtype compute (F32 or BF16); NULL when there is none. */
const ct_backend *ct_backend_find(const char *name, ct_dtype compute);
/* ct_backend_find(name, CT_F32). */
const ct_backend *ct_backend_named(const char *name);
/* The names ct_backend_find knows, for messages: "cpu, openblas, ref". */
const char *ct_backend_names(void);

/* A weight view [rows, cols] (cols = 0: a vector [rows]) over data in dtype. */
ct_tensor ct_tensor_2d(ct_dtype dt, void *data, int64_t rows, int64_t cols);
/* Rows [r0, r0 + n) of a 2-D view. */
ct_tensor ct_tensor_rows(const ct_tensor *t, int64_t r0, int64_t n);
/* Element i of a host tensor's data as float32 (F32/BF16/F16). */
float ct_tensor_get(const ct_tensor *t, int64_t i);
/* dst [n] = elements [i0, i0 + n) of a host tensor, as float32. */
void ct_tensor_read_f32(const ct_tensor *t, int64_t i0, int64_t n, float *dst);

/* The backend a model computes on (src/forward). */
const ct_backend *ct_model_backend(const ct_model *m);
/* Puts a model on any backend table (tests, benchmarks: a table wrapping
 * another's ops); ct_model_set_backend is the public way. */
void ct_model_use_backend(ct_model *m, const ct_backend *be);
/* Whether the model's backend scores rows without storing logits
 * (token_probs_linear), and the scoring itself: out [rows, k] (backend
 * memory) = p(tok) of rows x [rows, D] (backend memory; final norm applied
 * here, then the output projection and soft-cap in the op); tok [rows, k]
 * host.  Only when ct_model_scores_rows(m). */
int ct_model_scores_rows(const ct_model *m);
int ct_token_probs_rows(const ct_model *m, int rows, const float *x, int k, const int32_t *tok, float *out,
                        ct_scratch *ws, ct_err *err);
/* ct_embed_tokens into host memory, whatever the backend. */
int ct_embed_tokens_host(const ct_model *m, const int32_t *ids, int n, float *out);

/* Convenience for engine code: n floats of backend memory; NULL on failure. */
static inline float *ct_be_floats(const ct_backend *be, size_t n)
{
    return (float *)be->alloc(be, (n ? n : 1) * sizeof(float));
}
static inline void ct_be_copy(const ct_backend *be, float *dst, const float *src, long n)
{
    be->copy_rows(be, 1, n, dst, n, src, n);
}
#endif
