/*
 * ctrace.h — the public header of ctrace's core library (libctrace.so), a C
 * library for causal tracing (activation patching) of Hugging Face language
 * models.  ctrace_app.h, the application layer on top (experiments, reports,
 * runs: what the `ctrace` program is made of), includes it.
 *
 * Read it top to bottom: errors, safetensors files, models, the forward pass
 * with its intervention sites, the tokenizer, the noise generator and the
 * tracing engine.  Functions marked CT_API are the library's interface.
 *
 * Conventions used everywhere:
 *   - Functions that can fail return 0 on success and -1 on failure, and fill
 *     the caller's ct_err with a one-line message naming the file/row and the
 *     problem.  The library never prints and never exits.
 *   - No global mutable state: models, tokenizers and tracers are values the
 *     caller creates and frees.
 *   - Buffers are float32, row-major; the shape of every buffer is written in
 *     brackets next to it, e.g. x [T, D].  D = hidden size, T = positions,
 *     L = layers, V = vocabulary, S = noise samples.
 */
#ifndef CTRACE_H
#define CTRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTRACE_VERSION "0.2.0"

/* Marks the functions libctrace.so exports (the library is built with hidden
 * visibility; everything not marked stays internal). */
#if defined(__GNUC__)
#define CT_API __attribute__((visibility("default")))
#else
#define CT_API
#endif

/* The library's version, CTRACE_VERSION of the build ("0.2.0"): lets a binding
 * check it loaded the library it was written for. */
CT_API const char *ct_version(void);
/* What the default backend computes with, e.g. "cpu: oneDNN 2.6.3 dnnl_sgemm,
 * float32 products, one single-threaded call per 128 output columns, OpenMP 2
 * threads". */
CT_API const char *ct_backend_description(void);
/* sizeof a public struct by its name ("ct_err", "ct_config", "ct_tensor_view",
 * "ct_st_file", "ct_encoding", "ct_trace_settings", "ct_trace_input",
 * "ct_trace_target", "ct_trace_result", "ct_attribution", and the application
 * layer's "ct_run_settings" and "ct_run_progress" (ctrace_app.h); 0 for any
 * other name): a binding that
 * mirrors these structs (python/ctrace) checks its layout against the library
 * it loaded. */
CT_API size_t ct_abi_size(const char *type_name);

/* ------------------------------------------------------------------------ */
/* 1. Errors                                                                 */
/* ------------------------------------------------------------------------ */

/* What kind of failure an error is: a caller decides by it whether to go on
 * (a bad dataset row) or stop (no memory, a failing disk). */
typedef enum ct_status {
    CT_OK = 0,
    CT_ERR_INPUT = 1,           /* bad input: a file, a row, an argument (the default) */
    CT_ERR_NOMEM = 2,           /* out of memory */
    CT_ERR_IO = 3,              /* reading or writing a file failed */
    CT_ERR_UNSUPPORTED = 4,     /* valid, but not something ctrace does */
    CT_ERR_DEVICE = 5,          /* the compute device failed or is missing */
} ct_status;

typedef struct ct_err {
    char msg[1024];             /* one line, no trailing newline */
    ct_status code;             /* set with msg */
} ct_err;

/* Formats a message into err (when err is not NULL), sets its code to
 * CT_ERR_INPUT and returns -1, so that
 * `return ct_fail(err, "%s: bad header", path);` reads naturally. */
CT_API int ct_fail(ct_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with another code: ct_fail_code(err, CT_ERR_NOMEM, "...") */
CT_API int ct_fail_code(ct_err *err, ct_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "bad input", "out of memory", "I/O error", "unsupported", "device error". */
CT_API const char *ct_status_name(ct_status code);
/* Whether a failure with this code should stop a whole run rather than be
 * reported against one dataset row (out of memory, I/O, device). */
CT_API int ct_status_is_fatal(ct_status code);

/* ------------------------------------------------------------------------ */
/* 2. Safetensors files (read: memory-mapped and strictly validated; write:  */
/*    to a temporary name, then renamed, so no partial file ever appears)    */
/* ------------------------------------------------------------------------ */

typedef enum ct_dtype {
    CT_F32 = 0, CT_F16 = 1, CT_BF16 = 2, CT_F64 = 3, CT_I32 = 4, CT_I64 = 5, CT_U8 = 6, CT_I8 = 7, CT_BOOL = 8, CT_DTYPE_COUNT = 9
} ct_dtype;

CT_API const char *ct_dtype_name(ct_dtype t);   /* "F32", "BF16", ... */
CT_API size_t ct_dtype_size(ct_dtype t);        /* bytes per element */

#define CT_MAX_DIMS 8

/* Where a tensor's memory lives. */
typedef enum ct_device { CT_DEVICE_CPU = 0, CT_DEVICE_CUDA = 1 } ct_device;

/* A tensor descriptor for weights and activations: dtype, device, data, and
 * up to 4 dimensions with strides in elements (row-major: stride[ndim-1] = 1).
 * Weights are views in their stored dtype; activations are float32. */
typedef struct ct_tensor {
    ct_dtype dtype;
    ct_device device;
    void *data;
    int ndim;
    int64_t shape[4];
    int64_t stride[4];
} ct_tensor;

typedef struct ct_tensor_view {
    const char *name;
    ct_dtype dtype;
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    int64_t numel;
    const void *data;           /* points into the mapping; little-endian */
    size_t nbytes;
} ct_tensor_view;

typedef struct ct_st_file {
    char *path;
    void *map;                  /* the whole file, read-only mapping */
    size_t size;
    int n;                      /* number of tensors */
    ct_tensor_view *t;          /* [n], in header order */
    char *metadata;             /* "__metadata__" as JSON text, or NULL */
} ct_st_file;

/* Opens and validates: 8-byte header length inside the file, valid JSON,
 * known dtypes, shape × dtype size = byte length, offsets inside the data
 * section, no two tensors overlapping. */
CT_API int ct_st_open(ct_st_file *f, const char *path, ct_err *err);
CT_API void ct_st_close(ct_st_file *f);
CT_API const ct_tensor_view *ct_st_find(const ct_st_file *f, const char *name);

/* Converts any float or integer tensor to a new float32 array (caller frees). */
CT_API float *ct_tensor_to_f32(const ct_tensor_view *t);
/* How many values of a float tensor (F32, F16, BF16, F64) are NaN or ±Inf;
 * 0 for integer tensors.  Reads the mapped data in place (no copy). */
CT_API int64_t ct_tensor_count_nonfinite(const ct_tensor_view *t);

/* One tensor to write. */
typedef struct ct_st_out {
    const char *name;
    ct_dtype dtype;
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    const void *data;           /* numel × dtype size bytes */
} ct_st_out;

/* Writes a safetensors file: PATH.tmp.<pid>, fsync, rename to PATH.
 * metadata_json: a JSON object of string values (safetensors' rule), or NULL. */
CT_API int ct_st_write(const char *path, const ct_st_out *tensors, int n,
                const char *metadata_json, ct_err *err);

/* Half-precision conversions (exact, round-to-nearest-even for f32→). */
CT_API float ct_bf16_to_f32(uint16_t h);
CT_API float ct_f16_to_f32(uint16_t h);
CT_API uint16_t ct_f32_to_bf16(float f);
CT_API uint16_t ct_f32_to_f16(float f);

/* ------------------------------------------------------------------------ */
/* 3. Models: a Hugging Face model directory, loaded                         */
/* ------------------------------------------------------------------------ */

/* The block layout of a family: how attention and MLP combine. */
typedef enum ct_family {
    CT_FAM_LLAMA = 0,     /* llama, mistral, qwen2: RMSNorm, rotary, SwiGLU, sequential */
    CT_FAM_GEMMA = 1,     /* gemma: llama-like, embeddings × sqrt(D), (1+w) RMSNorm, GELU-tanh gate */
    CT_FAM_GEMMA2 = 2,    /* gemma2: gemma + post-sublayer norms, soft-capping */
    CT_FAM_PHI3 = 3,      /* phi3: fused qkv and gate_up */
    CT_FAM_GPT2 = 4,      /* gpt2: learned positions, LayerNorm, Conv1D weights, gelu_new */
    CT_FAM_GPTJ = 5,      /* gptj: one LayerNorm, parallel attn+MLP, interleaved partial rotary */
    CT_FAM_NEOX = 6,      /* gpt_neox: parallel (or sequential) residual, half-split partial rotary */
    CT_FAM_PHI = 7        /* phi (Phi-2): one LayerNorm, parallel, partial rotary, biases */
} ct_family;

/* How a family normalises. */
typedef enum ct_norm_kind {
    CT_NORM_RMS = 0,        /* x / rms(x) * w                     (llama, mistral, qwen2, phi3) */
    CT_NORM_RMS_1P = 1,     /* x / rms(x) * (1 + w)               (gemma, gemma2) */
    CT_NORM_LAYER = 2       /* (x - mean) / std * w + b           (gpt2, gptj, gpt_neox, phi) */
} ct_norm_kind;

typedef enum ct_act {
    CT_ACT_SILU = 0,        /* "silu", "swish" */
    CT_ACT_GELU = 1,        /* "gelu": exact, erf */
    CT_ACT_GELU_TANH = 2,   /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast": tanh approximation */
    CT_ACT_RELU = 3         /* "relu" */
} ct_act;

typedef enum ct_rope_type {
    CT_ROPE_NONE = 0,       /* no rotary embeddings (gpt2: learned positions) */
    CT_ROPE_DEFAULT = 1,
    CT_ROPE_LINEAR = 2,     /* inv_freq / factor */
    CT_ROPE_LLAMA3 = 3      /* Llama 3.1 frequency-band rescaling */
} ct_rope_type;

/* Everything in config.json that changes the math, resolved to explicit values
 * (class defaults of transformers 4.47 applied where a key is absent).  Keys
 * that would change the math but are not implemented make loading fail. */
struct ct_config {
    char model_type[32];        /* "llama", "gpt2", ... */
    ct_family family;
    ct_dtype torch_dtype;       /* stored dtype announced by config.json (informative) */
    int n_layers;               /* L */
    int d_model;                /* D */
    int n_heads;                /* H */
    int n_kv_heads;             /* KVH (= H without GQA) */
    int head_dim;               /* hd; H × hd need not equal D */
    int d_ff;                   /* F, MLP inner size */
    int vocab;                  /* V */
    int max_positions;
    ct_norm_kind norm;
    float norm_eps;
    ct_act act;
    int gated_mlp;              /* 1: down(act(gate(x)) * up(x)); 0: down(act(up(x))) */
    int parallel;               /* 1: out = x + attn(norm1 x) + mlp(norm x); 0: sequential */
    int parallel_two_norms;     /* parallel with a second norm for the MLP (gpt_neox) */
    int post_norms;             /* gemma2: norms on the sublayer outputs too */
    int qkv_bias, o_bias, mlp_bias, lm_head_bias;   /* which projections carry biases */
    int tie_embeddings;         /* output projection = W_E */
    int learned_positions;      /* gpt2: + W_P[p] */
    int scale_embeddings;       /* gemma: × sqrt(D) */
    /* rotary */
    ct_rope_type rope;
    int rotary_dim;             /* leading dims of each head that rotate (≤ hd, even) */
    int rope_interleaved;       /* 1: adjacent pairs (gptj); 0: halves (rotate_half) */
    double rope_theta;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max;      /* llama3: original_max_position_embeddings */
    /* attention */
    float attn_scale;           /* multiplies q·k (1/sqrt(hd) unless configured) */
    float attn_softcap;         /* gemma2: tanh soft-capping of scores; 0 = off */
    float final_softcap;        /* gemma2: soft-capping of logits; 0 = off */
    int sliding_window;         /* 0 = none; else position p sees p-W+1 .. p */
    int sliding_every_other;    /* gemma2: only even layers slide */
};

/* Parses config.json text (path only names the file in messages). */
CT_API int ct_config_parse(struct ct_config *cfg, const char *json_text, const char *path, ct_err *err);

/* A model with random weights for cfg (normal(0, 0.02) matrices, unit norms,
 * zero biases), deterministic in seed: for benchmarks and engine tests.  Get
 * cfg from ct_config_parse on a config.json text, e.g.
 *   {"model_type": "llama", "hidden_size": 768, "num_hidden_layers": 12,
 *    "num_attention_heads": 12, "intermediate_size": 2048, "vocab_size": 32000} */
typedef struct ct_model ct_model;
CT_API int ct_model_random(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_err *err);
/* Bytes of weights the model uses (tied matrices counted once): its own
 * buffers plus what it reads in place from the mapped checkpoint. */
CT_API size_t ct_model_weight_bytes(const ct_model *m);
/* A human description of the architecture, one "key: value" line per aspect
 * (family, sizes, block layout, rotary, norms, biases, memory); returns the
 * number of chars that would have been written (snprintf's rule). */
CT_API int ct_model_describe(const ct_model *m, char *buf, size_t cap);
CT_API int ct_config_describe(const struct ct_config *cfg, size_t weight_bytes, char *buf, size_t cap);
/* Bytes of float32 weights a model of cfg holds once loaded. */
CT_API size_t ct_config_weight_bytes(const struct ct_config *cfg);
/* Checks DIR as ct_model_load would (config.json, every tensor's presence,
 * dtype and shape) without reading or converting any weights: fast, and
 * usable for models too large for this machine's memory.  cfg and
 * weight_bytes (either may be NULL) receive the config and the float32 size. */
CT_API int ct_model_check(const char *dir, struct ct_config *cfg, size_t *weight_bytes, ct_err *err);
/* The same, with what loading DIR as stored would hold (ct_model_memory's
 * stored / owned / mapped bytes); any output may be NULL. */
CT_API int ct_model_check_memory(const char *dir, struct ct_config *cfg, size_t *weight_bytes, size_t *stored,
                          size_t *owned, size_t *mapped, ct_err *err);

typedef struct ct_model ct_model;   /* opaque: config + weights as stored */

/* Loads DIR/config.json and DIR/model.safetensors (or the sharded index). */
CT_API int ct_model_load(ct_model **out, const char *dir, ct_err *err);
CT_API void ct_model_free(ct_model *m);
CT_API const struct ct_config *ct_model_config(const ct_model *m);
CT_API int ct_model_n_layers(const ct_model *m);      /* L */
CT_API int ct_model_d_model(const ct_model *m);       /* D */
CT_API int ct_model_vocab(const ct_model *m);         /* V */
CT_API int ct_model_kv_dim(const ct_model *m);        /* KV = n_kv_heads × head_dim */
CT_API int ct_model_max_positions(const ct_model *m);
/* The standard deviation of all entries of the token-embedding matrix W_E
 * [V, D] (as torch.std computes it on float32 data; the noise level is 3 × it). */
CT_API float ct_model_embedding_std(const ct_model *m);

/* How a checkpoint's matrices are held.  STORED (the default): in the stored
 * dtype, as views into the mapped file where the layout allows, products
 * converting weight panels to float32 as they go — the same numbers as F32,
 * in about half the memory for bf16/f16 checkpoints.  F32: every matrix
 * converted to float32 at load (twice the memory; a reference). */
typedef enum ct_weights { CT_WEIGHTS_STORED = 0, CT_WEIGHTS_F32 = 1 } ct_weights;
CT_API int ct_model_load_as(ct_model **out, const char *dir, ct_weights mode, ct_err *err);
/* ct_model_random with matrices rounded to dtype dt (F32, BF16 or F16). */
CT_API int ct_model_random_as(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_dtype dt, ct_err *err);
/* Memory of the weights: stored = bytes of the checkpoint tensors used (0 for
 * random models); owned = heap buffers (packed or converted); mapped = bytes
 * used in place from the mapped file.  Any pointer may be NULL. */
CT_API void ct_model_memory(const ct_model *m, size_t *stored, size_t *owned, size_t *mapped);
/* The dtype most of the model's matrices are held in (for `ctrace info`). */
CT_API ct_dtype ct_model_weight_dtype(const ct_model *m);
/* Chooses the compute backend: "cpu" (oneDNN products + OpenMP, the
 * default), "openblas" (OpenBLAS products + OpenMP: the products of ctrace
 * 0.2) or "ref" (the plain-C reference: slow, for checking).  Every backend
 * gives the same numbers whatever the thread count. */
CT_API int ct_model_set_backend(ct_model *m, const char *name, ct_err *err);
CT_API const char *ct_model_backend_name(const ct_model *m);
/* What the matrix products compute in: CT_F32 (the default: exact float32
 * products of the stored weights) or CT_BF16 (the speed option for 7-8B
 * models: activations and weights rounded to bf16 for the products, f32
 * accumulation; norms, attention, softmax and scores stay float32; the
 * deviation from F32 is measured in docs/ops.md).  "cpu" and "ref" have both;
 * CT_ERR_UNSUPPORTED otherwise. */
CT_API int ct_model_set_compute(ct_model *m, ct_dtype dt, ct_err *err);
/* Where the model computes: "cpu" (the "cpu" backend) or "cuda" / "cuda:N"
 * (GPU N, default 0: the "cuda" backend; every weight matrix is uploaded once
 * in its stored dtype, vectors as float32), keeping the compute dtype.
 * CT_ERR_DEVICE with a one-line message when this build has no CUDA
 * (`make CUDA=1`), when there is no such GPU, or when the weights do not fit
 * (naming the bytes needed and free); CT_ERR_INPUT for any other name.
 * NOT YET RUN ON A GPU: see docs/ops.md, "CUDA backend". */
CT_API int ct_model_set_device(ct_model *m, const char *device, ct_err *err);
/* The first half of ct_model_set_device, before any model is loaded: checks
 * the name and, for "cuda[:N]", selects GPU N (the same one-line errors). */
CT_API int ct_device_select(const char *device, ct_err *err);
/* 0 when the model's backend has seen no device error since it was chosen;
 * else CT_ERR_DEVICE with the first error's one-line message (it waits for
 * the device's queued work first).  Always 0 on CPU backends. */
CT_API int ct_model_device_check(const ct_model *m, ct_err *err);
CT_API ct_dtype ct_model_compute_dtype(const ct_model *m);
/* One line naming the backend, its library and kernels, and the threads
 * (`ctrace info`, run.json). */
CT_API void ct_model_backend_describe(const ct_model *m, char *buf, size_t n);

/* Sets the thread count of matrix products and of ctrace's own loops. */
CT_API void ct_set_threads(int n);

/* NAME as --model_name / --tokenizer give it: a path that exists is used as
 * is (returns 0, DIR = NAME); else a hub id "org/name[@revision]" is looked up
 * in the local Hugging Face cache as huggingface_hub lays it out ($HF_HUB_CACHE,
 * else $HF_HOME/hub, else ~/.cache/huggingface/hub: models--org--name/refs/
 * {revision, default main} holds the commit, a 40-hex revision is the commit)
 * and DIR = its snapshots/{commit} folder (returns 1).  Never downloads; -1
 * with a message saying where it looked when the id is not there. */
CT_API int ct_hub_resolve(const char *name, char *dir, size_t cap, ct_err *err);

/* ------------------------------------------------------------------------ */
/* 4. Forward pass, one block at a time, with intervention sites             */
/* ------------------------------------------------------------------------ */
/* The tracing engine drives the layer loop itself so it can start a run at any
 * layer and position, reuse cached keys/values, and overwrite sublayer outputs.
 * Sites: CT_SITE_EMBED is the token-embedding output (before position
 * embeddings or scaling: where noise goes); CT_SITE_ATTN / CT_SITE_MLP the
 * sublayer outputs (after the output projection and its bias, before the
 * residual add; for parallel families the two summands); CT_SITE_HIDDEN the
 * block output (the residual stream after the block). */

/* CT_SITE_HEADS is the per-query-head attention context z [.., H, hd] (the
 * input of the output projection) — the site of head-level restoration. */
typedef enum ct_site {
    CT_SITE_EMBED = 0, CT_SITE_ATTN = 1, CT_SITE_MLP = 2, CT_SITE_HIDDEN = 3, CT_SITE_HEADS = 4
} ct_site;

/* A site as data: which activation (kind), at which layer, which head (-1:
 * the whole row) and the position of the first row of the view handed over. */
typedef struct ct_site_at {
    ct_site kind;
    int layer;
    int head;
    int pos;
} ct_site_at;

/* Growable scratch memory owned by the caller, in the memory of the model's
 * backend; zero-initialise, free with ct_scratch_free. */
typedef struct ct_scratch { float *buf; size_t cap; const struct ct_backend *be; } ct_scratch;
CT_API float *ct_scratch_get(ct_scratch *s, size_t nfloats);   /* NULL when out of memory */
CT_API void ct_scratch_free(ct_scratch *s);

/* ids [n] -> out [n, D]: the token-embedding lookup (site CT_SITE_EMBED). */
CT_API void ct_embed_tokens(const ct_model *m, const int32_t *ids, int n, float *out);
/* x [n, D] for positions p0..p0+n-1, in place: token embeddings -> block-0 input
 * (adds learned position embeddings, or scales by sqrt(D), as the family does). */
CT_API void ct_embed_finish(const ct_model *m, int p0, int n, float *x);

/* Called inside ct_block when a site's activation has been computed and before
 * anything uses it, so the caller may overwrite rows (restore or patch).  view
 * is float32 in the backend's memory: [nb, n, H, hd] for CT_SITE_HEADS, else
 * [nb, n, D]; at->pos = p0, at->head = -1.  Called with CT_SITE_HEADS,
 * CT_SITE_ATTN, CT_SITE_MLP and finally CT_SITE_HIDDEN (x_out). */
typedef void (*ct_patch_fn)(void *ctx, const ct_site_at *at, const ct_tensor *view);

/* Runs block `layer` for nb sequences at the new positions [p0, p0+n).
 *   x_in  [nb, n, D]   block input;  x_out [nb, n, D] block output (may equal x_in)
 *   k_past[b], v_past[b]  [p0, KV]  sequence b's keys (rotary applied) / values of
 *                         this layer at positions < p0 (ignored when p0 = 0; rows
 *                         may share one buffer)
 *   k_new[b],  v_new[b]   [n, KV]   written: keys/values of the new positions
 *   attn_out, mlp_out [nb, n, D]    written: the sublayer outputs (after any patch)
 * Causal attention: new position p attends to positions 0..p. */
CT_API int ct_block(const ct_model *m, int layer, int nb, int n, int p0,
             const float *x_in, float *x_out,
             const float *const *k_past, const float *const *v_past,
             float *const *k_new, float *const *v_new,
             float *attn_out, float *mlp_out,
             ct_patch_fn patch, void *patch_ctx, ct_scratch *ws, ct_err *err);

/* Only the keys and values ct_block would write, for nb sequences at the new
 * positions [p0, p0+n): norm 1, the key/value part of the q/k/v projection and
 * rotary on the keys — no attention, no MLP, no sites.  x_in [nb, n, D] block
 * input; k_new[b], v_new[b] [n, KV] written.  Bit-identical to ct_block's k_new
 * and v_new for the same x_in, nb, n and p0 (and within float rounding for other
 * batchings).  For positions whose block output nobody reads but whose keys and
 * values later positions attend to (the tracing engine's last layer). */
CT_API int ct_block_kv(const ct_model *m, int layer, int nb, int n, int p0, const float *x_in,
                float *const *k_new, float *const *v_new, ct_scratch *ws, ct_err *err);

/* Final norm + output projection: x [rows, D] residual stream -> logits [rows, V]. */
CT_API int ct_logits(const ct_model *m, int rows, const float *x, float *logits, ct_scratch *ws, ct_err *err);

/* One whole forward pass of ids [T]: logits [T, V] and resid [L+1, T, D]
 * (resid[0] = block-0 input, resid[i] = output of block i-1, no final norm);
 * either output may be NULL. */
CT_API int ct_forward(const ct_model *m, const int32_t *ids, int T, float *logits, float *resid, ct_err *err);


/* ------------------------------------------------------------------------ */
/* 5. Tokenizer: Hugging Face tokenizer.json, reproduced exactly             */
/* ------------------------------------------------------------------------ */
/* Supported: BPE models (byte-level: GPT-2, GPT-NeoX/Pythia, Llama 3, Qwen2;
 * SentencePiece-style with byte_fallback: Llama 2, Mistral), added tokens,
 * normalizers NFC/NFD/NFKC/NFKD/Prepend/Replace/Lowercase/Strip/StripAccents/
 * Sequence, pre-tokenizers ByteLevel/Split/Metaspace/Digits/Whitespace/
 * WhitespaceSplit/Punctuation/BertPreTokenizer/Sequence, post-processors
 * ByteLevel/TemplateProcessing/Sequence, decoders ByteLevel/Metaspace/Replace/
 * ByteFallback/Fuse/Strip/Sequence.  Anything else makes ct_tokenizer_load
 * fail with a message naming the component.  See docs/tokenizer.md.
 * A loaded tokenizer is read-only: encode/decode may run from many threads
 * (load the first one before starting threads: Oniguruma initialises globals). */

typedef struct ct_tokenizer ct_tokenizer;   /* opaque */

/* Loads PATH = a tokenizer.json, or a directory holding one.  The
 * tokenizer_config.json beside it (when present) gives bos_token/eos_token. */
CT_API int ct_tokenizer_load(ct_tokenizer **out, const char *path_or_dir, ct_err *err);
CT_API void ct_tokenizer_free(ct_tokenizer *t);

/* A half-open range [b, e): of bytes (token offsets, mentions in a prompt) or
 * of token positions (spans).  The one spelling of a range in the API; flat
 * int32 arrays [R, 2] (target ranges, case-file tensors) hold the same pairs. */
typedef struct ct_interval { int32_t b, e; } ct_interval;

typedef struct ct_encoding {
    int32_t n;                  /* number of tokens */
    int32_t *ids;               /* [n] token ids */
    ct_interval *offsets;       /* [n] byte span of the text each token covers, as HF's
                                 * offset mapping gives it (in bytes, not chars); tokens
                                 * the post-processor adds (BOS/EOS) have [0, 0] */
    uint8_t *special;           /* [n] 1 for tokens the post-processor added, else 0 */
} ct_encoding;

/* Encodes text[0..len) (UTF-8; invalid UTF-8 is an error).  add_special: let
 * the post-processor add BOS/EOS as tokenizer.json says (HF's
 * add_special_tokens).  Added/special tokens written in the text are always
 * recognised.  Fills *out (free with ct_encoding_free). */
CT_API int ct_encode(const ct_tokenizer *t, const char *text, size_t len, int add_special,
              ct_encoding *out, ct_err *err);
CT_API void ct_encoding_free(ct_encoding *e);

/* The tokens whose offsets overlap the byte span [byte_begin, byte_end): sets
 * [*tb, *te) to the first and one-past-last such token and returns 0; returns -1
 * (and *tb = *te = 0) when no token overlaps.  Tokens with empty spans (BOS/EOS)
 * never overlap.  Use it to turn a character span of a prompt into tokens. */
CT_API int ct_encoding_token_range(const ct_encoding *e, int32_t byte_begin, int32_t byte_end,
                            int32_t *tb, int32_t *te);

/* The ids of " " + word as the tokens that follow prompt (how answers and
 * counterfactuals are scored): prompt + " " + word is encoded and the tokens
 * after the prompt's own are taken, so that SentencePiece-style tokenizers give
 * "▁Spanish", not "▁", "▁Spanish"; when the prompt's tokens are not a prefix
 * (a merge across the boundary), or prompt is NULL, " " + word alone is encoded
 * without special tokens.  *ids: caller frees; *n may be 0 for an empty word. */
CT_API int ct_encode_continuation(const ct_tokenizer *t, const char *prompt, const char *word,
                           int32_t **ids, int *n, ct_err *err);

/* Decodes ids[0..n) to text (NUL-terminated, caller frees *out) through the
 * tokenizer's decoder, as HF's decode(ids, skip_special_tokens) does.  Unknown
 * ids are an error. */
CT_API int ct_decode(const ct_tokenizer *t, const int32_t *ids, int32_t n, int skip_special,
              char **out, ct_err *err);

/* Piece <-> id, added tokens included (a normalized added token's piece is its
 * normalized form, as in HF). */
CT_API int32_t ct_token_to_id(const ct_tokenizer *t, const char *piece);   /* -1 when absent */
CT_API const char *ct_id_to_token(const ct_tokenizer *t, int32_t id);      /* NULL when absent */
/* 1 + the largest token id (added tokens included).  Not the model's embedding
 * row count: size buffers from config.json's vocab_size. */
CT_API int32_t ct_tokenizer_vocab_size(const ct_tokenizer *t);
/* BOS/EOS ids from tokenizer_config.json (bos_token/eos_token); when it does not
 * say, the token the post-processor template puts first/last, else a
 * conventional name ("<s>", "<|begin_of_text|>", "<|endoftext|>" / "</s>",
 * "<|end_of_text|>", "<|endoftext|>").  -1 when there is none (Qwen2: no BOS). */
CT_API int32_t ct_tokenizer_bos_id(const ct_tokenizer *t);
CT_API int32_t ct_tokenizer_eos_id(const ct_tokenizer *t);


/* ------------------------------------------------------------------------ */
/* 6. Noise: NumPy's legacy RandomState, and the noise-level rules           */
/* ------------------------------------------------------------------------ */
/* ROME draws its noise with numpy.random.RandomState(seed).randn(S, K, D).
 * ct_rng reproduces that stream bit for bit: MT19937 seeded with
 * init_genrand(seed), 53-bit doubles from two 32-bit words, the legacy polar
 * Gaussian that returns f·x2 and caches f·x1.  Plain value, no allocation. */
typedef struct ct_rng {
    uint32_t mt[624];
    int pos;                    /* next word; 624 = regenerate first */
    int has_gauss;              /* a cached Gaussian is waiting */
    double gauss;
} ct_rng;

CT_API void ct_rng_seed(ct_rng *r, uint32_t seed);     /* = RandomState(seed) */
CT_API uint32_t ct_rng_u32(ct_rng *r);                 /* next tempered 32-bit word */
CT_API double ct_rng_double(ct_rng *r);                /* = random_sample(): [0, 1), 53 bits */
CT_API double ct_rng_gauss(ct_rng *r);                 /* = one randn() value */
CT_API void ct_rng_randn(ct_rng *r, double *out, size_t n);   /* n successive Gaussians */

/* torch.std(x) of n float32 values as torch computes it on the CPU (unbiased;
 * float32 mean, squared deviations summed in double), rounded to float32. */
CT_API float ct_std_f32(const float *x, size_t n);

/* ------------------------------------------------------------------------ */
/* 7. Causal tracing                                                         */
/* ------------------------------------------------------------------------ */
/* One trace = a clean run, S corrupted runs (noise on the embeddings of the
 * target token ranges), and for every prompt position t and layer l a
 * restored run (the clean activation of site (t, l) put back into each
 * corrupted run).  Scores are ROME's: per sample, the product over the answer
 * tokens (teacher forcing) of softmax(logits)[token] in float32; a run's score
 * is the float32 mean over the S samples.
 *
 * Site kinds at (t, l):
 *   CT_KIND_HIDDEN  the block-l output at position t;
 *   CT_KIND_MLP / CT_KIND_ATTN  the MLP / attention sublayer outputs at
 *     position t of layers [max(0, l − ⌊w/2⌋), min(L, l + ⌈w/2⌉)), w = window;
 *   CT_KIND_HEAD  one cell per (t, l, h): query head h's slice of the attention
 *     context z (site CT_SITE_HEADS, the input of the output projection) at
 *     position t of layer l alone (no window).  Every query head is its own
 *     site, whichever key/value head it shares (GQA/MQA).  Its grids are
 *     [T, L, H] (H = n_heads) where the other kinds' are [T, L].
 * Reverse patching: start from the clean input and put sample s's corrupted
 * activation at the site(s) (the "noising" direction).
 *
 * Noise: sample s adds level·z[s] to the token-embedding output at the target
 * positions (or, with replace, writes level·z[s] there), computed in double and
 * rounded once to float32, as torch does.  z is drawn from one
 * RandomState(seed) stream, range after range in the order given, each range as
 * randn(S, e − b, D) in C order (the seed tool's order; for one range this is
 * ROME's randn(S, K, D)).  The same noise is used in every run.  With the
 * noise source CT_NOISE_CF_EMBEDDINGS (below), sample s adds (or writes) the
 * float32 token embeddings of counterfactual s mod n_cf instead. */

/* Explicit values: they index bit masks (ct_run_settings.kinds) and arrays of
 * the three sublayer kinds; CT_KIND_HEAD comes after them so that "all" (the
 * three sublayer kinds, bits 0..2) keeps its meaning. */
typedef enum ct_kind { CT_KIND_HIDDEN = 0, CT_KIND_MLP = 1, CT_KIND_ATTN = 2, CT_KIND_HEAD = 3 } ct_kind;
typedef enum ct_metric {
    CT_METRIC_PROB = 0,       /* IE = p_restored − p_corrupt, TE = p_clean − p_corrupt (ROME) */
    CT_METRIC_LOGPROB = 1,    /* the same differences of log p, per sample, then averaged */
    CT_METRIC_LOGRATIO = 2    /* the seed tool's: per sample r = log p_cf0 − log p_answer;
                             IE = mean_s r_restored − r_corrupt, TE = mean_s r_clean − r_corrupt */
} ct_metric;
typedef enum ct_engine { CT_ENGINE_FAST = 0, CT_ENGINE_NAIVE = 1 } ct_engine;
typedef enum ct_noise_rule {
    CT_NOISE_EMB_STD = 0,     /* level = noise_value × std(W_E)  (default 3: the seed tool's rule) */
    CT_NOISE_ABSOLUTE = 1,    /* level = noise_value              (--noise_level 0.5) */
    CT_NOISE_SPAN_STD = 2     /* level = noise_value × std of the target tokens' embeddings (--noise_level s3, ROME) */
} ct_noise_rule;
/* What corrupts the target tokens' embeddings. */
typedef enum ct_noise_source {
    CT_NOISE_GAUSSIAN = 0,        /* level·z, z ~ N(0, 1) from RandomState(seed) (ROME's; the level by noise_rule) */
    CT_NOISE_CF_EMBEDDINGS = 1    /* the seed tool's e1: sample s gets the token embeddings of the
                                     counterfactual in->cf[s mod n_cf] (no level, no random draw); every
                                     counterfactual used (s < S) must have as many tokens as the target
                                     ranges together, which take its rows in order */
} ct_noise_source;
/* Where patched values come from. */
typedef enum ct_patch_source {
    CT_PATCH_OPPOSITE_RUN = 0,    /* ROME's: the clean run (forward), the corrupted run (reverse) */
    CT_PATCH_CF_PASSAGE = 1       /* the seed tool's e1 with --reverse_patching 1: sample s's cells start
                                     from its corrupted run and get the value of a clean run of
                                     in->src_ids[s mod n_src] (the passage asserting cf[s mod n_cf]:
                                     n_src = n_cf, each as long as the prompt), position for position;
                                     `reverse` then only picks the metric's reference run (clean) */
} ct_patch_source;
/* With CT_NOISE_CF_EMBEDDINGS or CT_PATCH_CF_PASSAGE, sample s is scored (the
 * logratio metric) against its own counterfactual cf[s mod n_cf], not cf[0]. */
/* (CT_NOISE_EMB_STD reads all of W_E on every call; a caller tracing many
 * prompts may compute 3.0 * (double)ct_std_f32(W_E, V·D) once and pass it as
 * CT_NOISE_ABSOLUTE: the same level, bit for bit.) */

typedef void (*ct_progress_fn)(void *ctx, long done, long total);

typedef struct ct_trace_settings {
    ct_kind kind;               /* default CT_KIND_HIDDEN */
    int window;                 /* default 10 (mlp/attention only; head cells are one layer) */
    int samples;                /* S, default 10 */
    ct_noise_rule noise_rule;   /* default CT_NOISE_EMB_STD */
    double noise_value;         /* default 3.0 */
    uint32_t seed;              /* default 1 */
    int replace;                /* 1: the noise replaces the embeddings */
    int reverse;                /* 1: reverse patching */
    ct_metric metric;           /* default CT_METRIC_PROB */
    ct_engine engine;           /* default CT_ENGINE_FAST */
    ct_progress_fn progress;    /* optional, called as work completes */
    void *progress_ctx;
    ct_noise_source noise_source;   /* default CT_NOISE_GAUSSIAN */
    ct_patch_source patch_source;   /* default CT_PATCH_OPPOSITE_RUN */
} ct_trace_settings;

CT_API void ct_trace_settings_default(ct_trace_settings *s);
/* Parses a --noise_level value: "0.5" (absolute) or "s3" (3 × span std). */
CT_API int ct_noise_parse(const char *text, ct_trace_settings *s, ct_err *err);
CT_API const char *ct_kind_name(ct_kind k);        /* "hidden", "mlp", "attention", "head" */
CT_API const char *ct_metric_name(ct_metric m);    /* "prob", "logprob", "logratio" */
CT_API const char *ct_engine_name(ct_engine e);    /* "fast", "naive" */
CT_API const char *ct_noise_rule_name(ct_noise_rule r);   /* "emb_std", "absolute", "span_std" */
CT_API const char *ct_noise_source_name(ct_noise_source n);   /* "gaussian", "cf_embeddings" */
CT_API const char *ct_patch_source_name(ct_patch_source p);   /* "opposite_run", "cf_passage" */
CT_API int ct_noise_source_parse(const char *s, ct_noise_source *n);   /* 0 / -1 */
CT_API int ct_patch_source_parse(const char *s, ct_patch_source *p);
CT_API int ct_kind_parse(const char *s, ct_kind *k);   /* also accepts "attn", "heads"; 0 / -1 */
CT_API int ct_metric_parse(const char *s, ct_metric *m);
CT_API int ct_engine_parse(const char *s, ct_engine *e);

/* What to trace: token ids, not text (the tokenizer turns text into these). */
typedef struct ct_trace_input {
    const int32_t *ids; int n_ids;          /* the prompt [T] */
    const int32_t *ranges; int n_ranges;    /* target ranges [R, 2], half-open [b, e), 0-based */
    const int32_t *answer; int n_answer;    /* answer token ids [A], A ≥ 1 */
    int n_cf;                               /* counterfactual targets, scored in the same runs */
    const int32_t *const *cf;               /* cf[c] [cf_len[c]] */
    const int *cf_len;
    /* CT_PATCH_CF_PASSAGE only (else 0 / NULL): the counterfactual passages'
     * prompts, src_ids[c] [n_ids] asserting cf[c]; n_src = n_cf. */
    int n_src;
    const int32_t *const *src_ids;
} ct_trace_input;

/* The scores of one target (the answer, or one counterfactual). */
typedef struct ct_trace_target {
    int n_tokens;
    int32_t *tokens;            /* [n_tokens] */
    float high_score;           /* clean run */
    float low_score;            /* corrupted run, mean over samples (replace mode: the true replace-mode score) */
    float *low_samples;         /* [S] corrupted run per sample */
    float *scores;              /* [T, L] restored runs, mean over samples (reverse: patched clean runs);
                                   [T, L, H] for CT_KIND_HEAD */
    float *scores_samples;      /* [S, T, L] per sample ([S, T, L, H]) */
} ct_trace_target;

#define CT_TOP_K 5

typedef struct ct_trace_result {
    int T, L, S;                /* T = prompt positions (rows of the grid) */
    int n_targets;              /* 1 + n_cf; targets[0] is the answer */
    ct_trace_target *targets;   /* [n_targets] */
    double noise_level;         /* the level used (after the rule) */
    float emb_std;              /* std(W_E), or the span std for CT_NOISE_SPAN_STD */
    /* The metric (settings.metric) applied to the answer: */
    float te;                   /* total effect */
    float *ie;                  /* [T, L] indirect effects ([T, L, H] for CT_KIND_HEAD) */
    /* What the model predicts after the prompt (the seed tool prints it): the
     * n_top most probable next tokens of the clean run, and of the mean of the
     * corrupted runs' distributions, most probable first. */
    int n_top;                  /* CT_TOP_K, or V when smaller */
    int32_t top_clean_id[CT_TOP_K], top_corrupt_id[CT_TOP_K];
    float top_clean_p[CT_TOP_K], top_corrupt_p[CT_TOP_K];
    /* Work done, for benchmarks: */
    long cells_run;             /* restored cells actually computed */
    double token_layers;        /* Σ over block calls of sequences × new positions */
    double attn_pairs;          /* Σ over block calls of query·key pairs (per sequence) */
    double kv_rows;             /* rows whose keys/values alone were computed (fast engine, last layer) */
    double logit_rows;          /* rows sent through the final norm and output matrix */
    double seconds;             /* wall time of ct_trace_run */
    /* Appended (the layout above is unchanged for bindings): the grids' last
     * axis, H = n_heads for CT_KIND_HEAD, 1 for the sublayer kinds. */
    int H;
    /* What computed it (ct_model_set_backend / ct_model_set_compute): the
     * backend's name ("cpu", static storage) and the products' dtype. */
    const char *backend;
    ct_dtype compute;
} ct_trace_result;

/* Runs the whole trace.  Errors: ranges outside the prompt or empty, no
 * answer, token ids outside the vocabulary, S < 1, window < 1, logratio
 * without a counterfactual; CT_NOISE_CF_EMBEDDINGS without a counterfactual
 * or with one (used by a sample) of another token count than the ranges;
 * CT_PATCH_CF_PASSAGE without n_src = n_cf ≥ 1 passages.  Deterministic: the same inputs and settings give
 * the same result whatever ct_set_threads says. */
CT_API int ct_trace_run(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s,
                 ct_trace_result *out, ct_err *err);
CT_API void ct_trace_result_free(ct_trace_result *r);

/* Direct logit attribution at the last position of ids [T] (docs/heads.md):
 * each component's direct contribution to logit(answer) − logit(cf) through
 * the final norm with its scale (and LayerNorm's mean) frozen at this run's
 * value — gemma2's post-attention norm frozen the same way at the layer's
 * whole attention output:
 *   heads [L, H]   query head h's share of the output projection, W_O[:, h·hd:(h+1)·hd]·z[h]
 *   attn_bias [L]  the output projection's bias (0 where the family has none)
 *   mlp [L]        the MLP output (its biases included)
 *   embed          token + position embeddings (gemma: scaled by sqrt(D))
 *   norm_bias      the final LayerNorm's bias (0 for RMSNorm)
 *   lm_bias        b_U[answer] − b_U[cf] (0 without an output bias)
 *   total          logit(answer) − logit(cf) of this run before any final soft cap
 *   parts_sum      the sum of all the parts above (= total to float rounding)
 *   logit_diff     the same difference from ct_logits (= total except gemma2, whose
 *                  logits are soft-capped: the parts add up before the cap) */
typedef struct ct_attribution {
    int L, H;
    float *heads, *attn_bias, *mlp;     /* [L, H], [L], [L] */
    float embed, norm_bias, lm_bias, total, parts_sum, logit_diff;
} ct_attribution;
CT_API int ct_attribute(const ct_model *m, const int32_t *ids, int T, int32_t answer, int32_t cf, ct_attribution *out,
                        ct_err *err);
CT_API void ct_attribution_free(ct_attribution *a);
/* The same for the corrupted run: in->ids with the noise of a trace with
 * settings s on in->ranges (its samples, seed, noise rule and replace; the
 * rest of s and in is not used), attributed sample by sample; every part,
 * total and logit_diff is the mean over the S samples (so the parts still sum
 * to total). */
CT_API int ct_attribute_corrupted(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, int32_t answer,
                                  int32_t cf, ct_attribution *out, ct_err *err);
/* Writes an attribution file (safetensors): heads [L, H], mlp [L], attn_bias
 * [L], embed, norm_bias, lm_bias, total, logit_diff (f32 []), input_ids [T],
 * answer_cf_ids [2]; with corrupted (may be NULL) the same tensors prefixed
 * "corrupted_", target_ranges [R, 2] and the noise settings s in the metadata
 * ("ctrace": a JSON text, format "ctrace-attribution-1"; extra_json: NULL or a
 * JSON object whose members are added to it). */
CT_API int ct_attribution_write(const char *path, const ct_trace_input *in, int32_t answer, int32_t cf,
                                const ct_attribution *clean, const ct_attribution *corrupted, const ct_trace_settings *s,
                                const char *extra_json, ct_err *err);

/* Writes the case file (docs/case-file.md): a safetensors file with
 *   scores f32 [T, L], scores_samples f32 [S, T, L], low_score f32 [],
 *   (for CT_KIND_HEAD every [.., T, L] grid is [.., T, L, H])
 *   high_score f32 [], low_samples f32 [S], te f32 [], ie f32 [T, L],
 *   input_ids i32 [T], target_ranges i32 [R, 2], answer_ids i32 [A],
 *   and with counterfactuals (C ≥ 1): cf_ids i32 [C, Amax] (padded with −1),
 *   cf_scores f32 [C, T, L], cf_scores_samples f32 [C, S, T, L],
 *   cf_high_score f32 [C], cf_low_score f32 [C], cf_low_samples f32 [C, S];
 * and __metadata__ {"ctrace": "<JSON settings>", "kind": ..., "format": "ctrace-case-1", ...}.
 * model: the model's name or directory (recorded, not read); extra_json: NULL
 * or a JSON object whose members are added to the settings JSON (prompt text,
 * dataset row, ...). */
CT_API int ct_case_write(const char *path, const ct_trace_input *in, const ct_trace_settings *s,
                  const ct_trace_result *r, const char *model, const char *extra_json, ct_err *err);


/* ------------------------------------------------------------------------ */
/* The application layer — dataset rows, prompts and spans, row plans, case  */
/* descriptions, figures, averages, summaries and runs — is declared in      */
/* ctrace_app.h (it needs cairo; this core does not).                        */
/* ------------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif
#endif /* CTRACE_H */
