/*
 * ctrace.h — the one public header of ctrace, a C library and tool for causal
 * tracing (activation patching) of Hugging Face language models.
 *
 * Read it top to bottom: errors, safetensors files, models, the forward pass
 * with its intervention sites, the tokenizer, the noise generator, the tracing
 * engine, and the experiments/reports built on it.
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

#define CTRACE_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* 1. Errors                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ct_err {
    char msg[1024];             /* one line, no trailing newline */
} ct_err;

/* Formats a message into err (when err is not NULL) and returns -1, so that
 * `return ct_fail(err, "%s: bad header", path);` reads naturally. */
int ct_fail(ct_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* 2. Safetensors files (read: memory-mapped and strictly validated; write:  */
/*    to a temporary name, then renamed, so no partial file ever appears)    */
/* ------------------------------------------------------------------------ */

typedef enum ct_dtype {
    CT_F32, CT_F16, CT_BF16, CT_F64, CT_I32, CT_I64, CT_U8, CT_I8, CT_BOOL, CT_DTYPE_COUNT
} ct_dtype;

const char *ct_dtype_name(ct_dtype t);   /* "F32", "BF16", ... */
size_t ct_dtype_size(ct_dtype t);        /* bytes per element */

#define CT_MAX_DIMS 8

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
int ct_st_open(ct_st_file *f, const char *path, ct_err *err);
void ct_st_close(ct_st_file *f);
const ct_tensor_view *ct_st_find(const ct_st_file *f, const char *name);

/* Converts any float or integer tensor to a new float32 array (caller frees). */
float *ct_tensor_to_f32(const ct_tensor_view *t);
/* How many values of a float tensor (F32, F16, BF16, F64) are NaN or ±Inf;
 * 0 for integer tensors.  Reads the mapped data in place (no copy). */
int64_t ct_tensor_count_nonfinite(const ct_tensor_view *t);

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
int ct_st_write(const char *path, const ct_st_out *tensors, int n,
                const char *metadata_json, ct_err *err);

/* Half-precision conversions (exact, round-to-nearest-even for f32→). */
float ct_bf16_to_f32(uint16_t h);
float ct_f16_to_f32(uint16_t h);
uint16_t ct_f32_to_bf16(float f);
uint16_t ct_f32_to_f16(float f);

/* ------------------------------------------------------------------------ */
/* 3. Models: a Hugging Face model directory, loaded                         */
/* ------------------------------------------------------------------------ */

/* The block layout of a family: how attention and MLP combine. */
typedef enum ct_family {
    CT_FAM_LLAMA,     /* llama, mistral, qwen2: RMSNorm, rotary, SwiGLU, sequential */
    CT_FAM_GEMMA,     /* gemma: llama-like, embeddings × sqrt(D), (1+w) RMSNorm, GELU-tanh gate */
    CT_FAM_GEMMA2,    /* gemma2: gemma + post-sublayer norms, soft-capping */
    CT_FAM_PHI3,      /* phi3: fused qkv and gate_up */
    CT_FAM_GPT2,      /* gpt2: learned positions, LayerNorm, Conv1D weights, gelu_new */
    CT_FAM_GPTJ,      /* gptj: one LayerNorm, parallel attn+MLP, interleaved partial rotary */
    CT_FAM_NEOX,      /* gpt_neox: parallel (or sequential) residual, half-split partial rotary */
    CT_FAM_PHI        /* phi (Phi-2): one LayerNorm, parallel, partial rotary, biases */
} ct_family;

/* How a family normalises. */
typedef enum ct_norm_kind {
    CT_NORM_RMS,        /* x / rms(x) * w                     (llama, mistral, qwen2, phi3) */
    CT_NORM_RMS_1P,     /* x / rms(x) * (1 + w)               (gemma, gemma2) */
    CT_NORM_LAYER       /* (x - mean) / std * w + b           (gpt2, gptj, gpt_neox, phi) */
} ct_norm_kind;

typedef enum ct_act {
    CT_ACT_SILU,        /* "silu", "swish" */
    CT_ACT_GELU,        /* "gelu": exact, erf */
    CT_ACT_GELU_TANH,   /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast": tanh approximation */
    CT_ACT_RELU         /* "relu" */
} ct_act;

typedef enum ct_rope_type {
    CT_ROPE_NONE,       /* no rotary embeddings (gpt2: learned positions) */
    CT_ROPE_DEFAULT,
    CT_ROPE_LINEAR,     /* inv_freq / factor */
    CT_ROPE_LLAMA3      /* Llama 3.1 frequency-band rescaling */
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
int ct_config_parse(struct ct_config *cfg, const char *json_text, const char *path, ct_err *err);

/* A model with random weights for cfg (normal(0, 0.02) matrices, unit norms,
 * zero biases), deterministic in seed: for benchmarks and engine tests.  Get
 * cfg from ct_config_parse on a config.json text, e.g.
 *   {"model_type": "llama", "hidden_size": 768, "num_hidden_layers": 12,
 *    "num_attention_heads": 12, "intermediate_size": 2048, "vocab_size": 32000} */
typedef struct ct_model ct_model;
int ct_model_random(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_err *err);
/* Bytes of float32 weights the model holds (tied matrices counted once). */
size_t ct_model_weight_bytes(const ct_model *m);
/* A human description of the architecture, one "key: value" line per aspect
 * (family, sizes, block layout, rotary, norms, biases, memory); returns the
 * number of chars that would have been written (snprintf's rule). */
int ct_model_describe(const ct_model *m, char *buf, size_t cap);
int ct_config_describe(const struct ct_config *cfg, size_t weight_bytes, char *buf, size_t cap);
/* Bytes of float32 weights a model of cfg holds once loaded. */
size_t ct_config_weight_bytes(const struct ct_config *cfg);
/* Checks DIR as ct_model_load would (config.json, every tensor's presence,
 * dtype and shape) without reading or converting any weights: fast, and
 * usable for models too large for this machine's memory.  cfg and
 * weight_bytes (either may be NULL) receive the config and the float32 size. */
int ct_model_check(const char *dir, struct ct_config *cfg, size_t *weight_bytes, ct_err *err);

typedef struct ct_model ct_model;   /* opaque: config + float32 weights */

/* Loads DIR/config.json and DIR/model.safetensors (or the sharded index). */
int ct_model_load(ct_model **out, const char *dir, ct_err *err);
void ct_model_free(ct_model *m);
const struct ct_config *ct_model_config(const ct_model *m);
int ct_model_n_layers(const ct_model *m);      /* L */
int ct_model_d_model(const ct_model *m);       /* D */
int ct_model_vocab(const ct_model *m);         /* V */
int ct_model_kv_dim(const ct_model *m);        /* KV = n_kv_heads × head_dim */
int ct_model_max_positions(const ct_model *m);
/* The token-embedding matrix W_E [V, D] as float32 (the noise level is 3 × its std). */
const float *ct_model_token_embeddings(const ct_model *m);

/* Sets the thread count of matrix products and of ctrace's own loops. */
void ct_set_threads(int n);

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

typedef enum ct_site { CT_SITE_EMBED, CT_SITE_ATTN, CT_SITE_MLP, CT_SITE_HIDDEN } ct_site;

/* Growable scratch memory owned by the caller; zero-initialise, free with ct_scratch_free. */
typedef struct ct_scratch { float *buf; size_t cap; } ct_scratch;
float *ct_scratch_get(ct_scratch *s, size_t nfloats);   /* NULL when out of memory */
void ct_scratch_free(ct_scratch *s);

/* ids [n] -> out [n, D]: the token-embedding lookup (site CT_SITE_EMBED). */
void ct_embed_tokens(const ct_model *m, const int32_t *ids, int n, float *out);
/* x [n, D] for positions p0..p0+n-1, in place: token embeddings -> block-0 input
 * (adds learned position embeddings, or scales by sqrt(D), as the family does). */
void ct_embed_finish(const ct_model *m, int p0, int n, float *x);

/* Called inside ct_block when a sublayer output buf [nb, n, D] has been computed
 * and before anything uses it, so the caller may overwrite rows (restore or patch).
 * Called with CT_SITE_ATTN, CT_SITE_MLP and finally CT_SITE_HIDDEN (x_out). */
typedef void (*ct_patch_fn)(void *ctx, ct_site site, int layer, float *buf);

/* Runs block `layer` for nb sequences at the new positions [p0, p0+n).
 *   x_in  [nb, n, D]   block input;  x_out [nb, n, D] block output (may equal x_in)
 *   k_past[b], v_past[b]  [p0, KV]  sequence b's keys (rotary applied) / values of
 *                         this layer at positions < p0 (ignored when p0 = 0; rows
 *                         may share one buffer)
 *   k_new[b],  v_new[b]   [n, KV]   written: keys/values of the new positions
 *   attn_out, mlp_out [nb, n, D]    written: the sublayer outputs (after any patch)
 * Causal attention: new position p attends to positions 0..p. */
int ct_block(const ct_model *m, int layer, int nb, int n, int p0,
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
int ct_block_kv(const ct_model *m, int layer, int nb, int n, int p0, const float *x_in,
                float *const *k_new, float *const *v_new, ct_scratch *ws, ct_err *err);

/* Final norm + output projection: x [rows, D] residual stream -> logits [rows, V]. */
int ct_logits(const ct_model *m, int rows, const float *x, float *logits, ct_scratch *ws, ct_err *err);

/* One whole forward pass of ids [T]: logits [T, V] and resid [L+1, T, D]
 * (resid[0] = block-0 input, resid[i] = output of block i-1, no final norm);
 * either output may be NULL. */
int ct_forward(const ct_model *m, const int32_t *ids, int T, float *logits, float *resid, ct_err *err);


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
int ct_tokenizer_load(ct_tokenizer **out, const char *path_or_dir, ct_err *err);
void ct_tokenizer_free(ct_tokenizer *t);

/* [start, end) byte offsets into the encoded text. */
typedef struct ct_offset { int32_t start, end; } ct_offset;

typedef struct ct_encoding {
    int32_t n;                  /* number of tokens */
    int32_t *ids;               /* [n] token ids */
    ct_offset *offsets;         /* [n] byte span of the text each token covers, as HF's
                                 * offset mapping gives it (in bytes, not chars); tokens
                                 * the post-processor adds (BOS/EOS) have [0, 0] */
    uint8_t *special;           /* [n] 1 for tokens the post-processor added, else 0 */
} ct_encoding;

/* Encodes text[0..len) (UTF-8; invalid UTF-8 is an error).  add_special: let
 * the post-processor add BOS/EOS as tokenizer.json says (HF's
 * add_special_tokens).  Added/special tokens written in the text are always
 * recognised.  Fills *out (free with ct_encoding_free). */
int ct_encode(const ct_tokenizer *t, const char *text, size_t len, int add_special,
              ct_encoding *out, ct_err *err);
void ct_encoding_free(ct_encoding *e);

/* The tokens whose offsets overlap the byte span [byte_begin, byte_end): sets
 * [*tb, *te) to the first and one-past-last such token and returns 0; returns -1
 * (and *tb = *te = 0) when no token overlaps.  Tokens with empty spans (BOS/EOS)
 * never overlap.  Use it to turn a character span of a prompt into tokens. */
int ct_encoding_token_range(const ct_encoding *e, int32_t byte_begin, int32_t byte_end,
                            int32_t *tb, int32_t *te);

/* The ids of " " + word as the tokens that follow prompt (how answers and
 * counterfactuals are scored): prompt + " " + word is encoded and the tokens
 * after the prompt's own are taken, so that SentencePiece-style tokenizers give
 * "▁Spanish", not "▁", "▁Spanish"; when the prompt's tokens are not a prefix
 * (a merge across the boundary), or prompt is NULL, " " + word alone is encoded
 * without special tokens.  *ids: caller frees; *n may be 0 for an empty word. */
int ct_encode_continuation(const ct_tokenizer *t, const char *prompt, const char *word,
                           int32_t **ids, int *n, ct_err *err);

/* Decodes ids[0..n) to text (NUL-terminated, caller frees *out) through the
 * tokenizer's decoder, as HF's decode(ids, skip_special_tokens) does.  Unknown
 * ids are an error. */
int ct_decode(const ct_tokenizer *t, const int32_t *ids, int32_t n, int skip_special,
              char **out, ct_err *err);

/* Piece <-> id, added tokens included (a normalized added token's piece is its
 * normalized form, as in HF). */
int32_t ct_token_to_id(const ct_tokenizer *t, const char *piece);   /* -1 when absent */
const char *ct_id_to_token(const ct_tokenizer *t, int32_t id);      /* NULL when absent */
/* 1 + the largest token id (added tokens included).  Not the model's embedding
 * row count: size buffers from config.json's vocab_size. */
int32_t ct_tokenizer_vocab_size(const ct_tokenizer *t);
/* BOS/EOS ids from tokenizer_config.json (bos_token/eos_token); when it does not
 * say, the token the post-processor template puts first/last, else a
 * conventional name ("<s>", "<|begin_of_text|>", "<|endoftext|>" / "</s>",
 * "<|end_of_text|>", "<|endoftext|>").  -1 when there is none (Qwen2: no BOS). */
int32_t ct_tokenizer_bos_id(const ct_tokenizer *t);
int32_t ct_tokenizer_eos_id(const ct_tokenizer *t);


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

void ct_rng_seed(ct_rng *r, uint32_t seed);     /* = RandomState(seed) */
uint32_t ct_rng_u32(ct_rng *r);                 /* next tempered 32-bit word */
double ct_rng_double(ct_rng *r);                /* = random_sample(): [0, 1), 53 bits */
double ct_rng_gauss(ct_rng *r);                 /* = one randn() value */
void ct_rng_randn(ct_rng *r, double *out, size_t n);   /* n successive Gaussians */

/* torch.std(x) of n float32 values as torch computes it on the CPU (unbiased;
 * float32 mean, squared deviations summed in double), rounded to float32. */
float ct_std_f32(const float *x, size_t n);

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
 *     position t of layers [max(0, l − ⌊w/2⌋), min(L, l + ⌈w/2⌉)), w = window.
 * Reverse patching: start from the clean input and put sample s's corrupted
 * activation at the site(s) (the "noising" direction).
 *
 * Noise: sample s adds level·z[s] to the token-embedding output at the target
 * positions (or, with replace, writes level·z[s] there), computed in double and
 * rounded once to float32, as torch does.  z is drawn from one
 * RandomState(seed) stream, range after range in the order given, each range as
 * randn(S, e − b, D) in C order (the seed tool's order; for one range this is
 * ROME's randn(S, K, D)).  The same noise is used in every run. */

typedef enum ct_kind { CT_KIND_HIDDEN, CT_KIND_MLP, CT_KIND_ATTN } ct_kind;
typedef enum ct_metric {
    CT_METRIC_PROB,       /* IE = p_restored − p_corrupt, TE = p_clean − p_corrupt (ROME) */
    CT_METRIC_LOGPROB,    /* the same differences of log p, per sample, then averaged */
    CT_METRIC_LOGRATIO    /* the seed tool's: per sample r = log p_cf0 − log p_answer;
                             IE = mean_s r_restored − r_corrupt, TE = mean_s r_clean − r_corrupt */
} ct_metric;
typedef enum ct_engine { CT_ENGINE_FAST, CT_ENGINE_NAIVE } ct_engine;
typedef enum ct_noise_rule {
    CT_NOISE_EMB_STD,     /* level = noise_value × std(W_E)  (default 3: the seed tool's rule) */
    CT_NOISE_ABSOLUTE,    /* level = noise_value              (--noise_level 0.5) */
    CT_NOISE_SPAN_STD     /* level = noise_value × std of the target tokens' embeddings (--noise_level s3, ROME) */
} ct_noise_rule;
/* (CT_NOISE_EMB_STD reads all of W_E on every call; a caller tracing many
 * prompts may compute 3.0 * (double)ct_std_f32(W_E, V·D) once and pass it as
 * CT_NOISE_ABSOLUTE: the same level, bit for bit.) */

typedef void (*ct_progress_fn)(void *ctx, long done, long total);

typedef struct ct_trace_settings {
    ct_kind kind;               /* default CT_KIND_HIDDEN */
    int window;                 /* default 10 (mlp/attention only) */
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
} ct_trace_settings;

void ct_trace_settings_default(ct_trace_settings *s);
/* Parses a --noise_level value: "0.5" (absolute) or "s3" (3 × span std). */
int ct_noise_parse(const char *text, ct_trace_settings *s, ct_err *err);
const char *ct_kind_name(ct_kind k);        /* "hidden", "mlp", "attention" */
const char *ct_metric_name(ct_metric m);    /* "prob", "logprob", "logratio" */
const char *ct_engine_name(ct_engine e);    /* "fast", "naive" */
const char *ct_noise_rule_name(ct_noise_rule r);   /* "emb_std", "absolute", "span_std" */
int ct_kind_parse(const char *s, ct_kind *k);   /* also accepts "attn"; 0 / -1 */
int ct_metric_parse(const char *s, ct_metric *m);
int ct_engine_parse(const char *s, ct_engine *e);

/* What to trace: token ids, not text (the tokenizer turns text into these). */
typedef struct ct_trace_input {
    const int32_t *ids; int n_ids;          /* the prompt [T] */
    const int32_t *ranges; int n_ranges;    /* target ranges [R, 2], half-open [b, e), 0-based */
    const int32_t *answer; int n_answer;    /* answer token ids [A], A ≥ 1 */
    int n_cf;                               /* counterfactual targets, scored in the same runs */
    const int32_t *const *cf;               /* cf[c] [cf_len[c]] */
    const int *cf_len;
} ct_trace_input;

/* The scores of one target (the answer, or one counterfactual). */
typedef struct ct_trace_target {
    int n_tokens;
    int32_t *tokens;            /* [n_tokens] */
    float high_score;           /* clean run */
    float low_score;            /* corrupted run, mean over samples (replace mode: the true replace-mode score) */
    float *low_samples;         /* [S] corrupted run per sample */
    float *scores;              /* [T, L] restored runs, mean over samples (reverse: patched clean runs) */
    float *scores_samples;      /* [S, T, L] per sample */
} ct_trace_target;

typedef struct ct_trace_result {
    int T, L, S;                /* T = prompt positions (rows of the grid) */
    int n_targets;              /* 1 + n_cf; targets[0] is the answer */
    ct_trace_target *targets;   /* [n_targets] */
    double noise_level;         /* the level used (after the rule) */
    float emb_std;              /* std(W_E), or the span std for CT_NOISE_SPAN_STD */
    /* The metric (settings.metric) applied to the answer: */
    float te;                   /* total effect */
    float *ie;                  /* [T, L] indirect effects */
    /* Work done, for benchmarks: */
    long cells_run;             /* restored cells actually computed */
    double token_layers;        /* Σ over block calls of sequences × new positions */
    double attn_pairs;          /* Σ over block calls of query·key pairs (per sequence) */
    double kv_rows;             /* rows whose keys/values alone were computed (fast engine, last layer) */
    double logit_rows;          /* rows sent through the final norm and output matrix */
    double seconds;             /* wall time of ct_trace_run */
} ct_trace_result;

/* Runs the whole trace.  Errors: ranges outside the prompt or empty, no
 * answer, token ids outside the vocabulary, S < 1, window < 1, logratio
 * without a counterfactual.  Deterministic: the same inputs and settings give
 * the same result whatever ct_set_threads says. */
int ct_trace_run(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s,
                 ct_trace_result *out, ct_err *err);
void ct_trace_result_free(ct_trace_result *r);

/* Writes the case file (docs/case-file.md): a safetensors file with
 *   scores f32 [T, L], scores_samples f32 [S, T, L], low_score f32 [],
 *   high_score f32 [], low_samples f32 [S], te f32 [], ie f32 [T, L],
 *   input_ids i32 [T], target_ranges i32 [R, 2], answer_ids i32 [A],
 *   and with counterfactuals (C ≥ 1): cf_ids i32 [C, Amax] (padded with −1),
 *   cf_scores f32 [C, T, L], cf_scores_samples f32 [C, S, T, L],
 *   cf_high_score f32 [C], cf_low_score f32 [C], cf_low_samples f32 [C, S];
 * and __metadata__ {"ctrace": "<JSON settings>", "kind": ..., "format": "ctrace-case-1", ...}.
 * model: the model's name or directory (recorded, not read); extra_json: NULL
 * or a JSON object whose members are added to the settings JSON (prompt text,
 * dataset row, ...). */
int ct_case_write(const char *path, const ct_trace_input *in, const ct_trace_settings *s,
                  const ct_trace_result *r, const char *model, const char *extra_json, ct_err *err);


/* ------------------------------------------------------------------------ */
/* 8. Experiments: dataset rows, prompts, spans; reports: case files,       */
/*    heat maps, segment averages, summary lines                             */
/* ------------------------------------------------------------------------ */
/* The path of one dataset row to a case and its figures:
 *
 *   ct_dataset_next      JSONL line -> ct_row (per-row errors name file:line)
 *   ct_prompt_build      ct_row + --prompt_format -> prompt text + byte spans
 *                        (passage, prompt/question, subject, object, relation)
 *   ct_token_spans       byte spans + per-token byte offsets -> token ranges
 *   (tokenizer + tracing engine run here, in `ctrace run`)
 *   ct_case_info_json    the "ctrace_case" metadata value of the case file
 *   ct_summary_line      one summary.jsonl line per case
 *   ct_case_load         case file -> IE grid + ct_case_info (for plot/average)
 *   ct_heatmap_write     one heat map (PDF/PNG/SVG, cairo)
 *   ct_average_*         IE averaged by token segment over many cases
 *
 * All offsets are bytes of UTF-8 text; every range is half-open [b, e). */

/* A half-open range [b, e): bytes of a text or token positions, as stated
 * where it is used.  b == e == 0 means "none". */
typedef struct ct_interval { int b, e; } ct_interval;

/* One dataset row in the seed tool's shape (see DESIGN.md).  Strings are
 * owned by the row; optional fields are NULL / 0 when absent. */
typedef struct ct_row {
    int line;                   /* 1-based line number in the JSONL file */
    char *question;             /* optional ({question}) */
    char **answers;             /* [n_answers] answers[0] is scored; non-empty */
    int n_answers;
    char *subj, *obj;           /* required, non-empty */
    char *prop;                 /* optional, e.g. "P17" */
    char *context;              /* passages[0].text, required, non-empty */
    char *prompt_wo_ctx;        /* optional ({prompt}) */
    char *prompt_with_ctx;      /* optional (informative only) */
    char **obj_cf;              /* [n_obj_cf] counterfactual objects */
    int n_obj_cf;
} ct_row;

/* Parses one JSON line into row (zeroed on failure).  Errors: "line N:
 * malformed JSON", "line N: missing field \"subj\"", "line N: empty answer"...
 * Unknown fields are ignored. */
int ct_row_parse(ct_row *row, const char *text, size_t len, int line, ct_err *err);
void ct_row_free(ct_row *row);

/* Reads a JSONL dataset line by line (blank lines are skipped). */
typedef struct ct_dataset ct_dataset;
int ct_dataset_open(ct_dataset **out, const char *path, ct_err *err);
/* 1: a row was read into row;  0: end of file;  -1: this line is bad (err says
 * "PATH:LINE: reason"; row is zeroed) and reading may go on with the next call. */
int ct_dataset_next(ct_dataset *d, ct_row *row, ct_err *err);
void ct_dataset_close(ct_dataset *d);

/* The prompt formats.  CT_PROMPT_FORMAT_DEFAULT is the seed project's
 * context-first QA format (utils/constants.py QA_T1_PROMPT_FORMAT); the seed's
 * argparse default has no {context}: then the question is traced in instead
 * of a passage (see ct_prompt_build). */
#define CT_PROMPT_FORMAT_DEFAULT "C: {context} Q: {prompt} A:"
#define CT_PROMPT_FORMAT_SEED_ARGPARSE "question: {question} answer: <extra_id_0>"

/* A formatted prompt and the byte spans inside its text. */
typedef struct ct_prompt {
    char *text;                 /* the formatted prompt, NUL-terminated */
    int len;                    /* strlen(text) */
    char *context;              /* the passage as placed in text (owned) */
    ct_interval passage;        /* the (first) {context} substitution; without
                                   {context}: the same as prompt */
    ct_interval prompt;         /* the first {prompt} or {question} substitution */
    ct_interval subject;        /* the subject's mention inside the passage */
    ct_interval object;         /* the object's mention, not overlapping the subject */
    ct_interval relation[3];    /* passage bytes outside both mentions */
    int n_relation;
    int subject_nocase, object_nocase;   /* 1 = found by the ASCII case-insensitive fallback */
    const char *cf;             /* the counterfactual object placed in the passage, or NULL */
    int no_context;             /* 1: fmt has no {context}; the mentions are in the question */
    const char *searched;       /* what the mentions were searched in: "passage", "question"
                                   or "prompt" (static string) */
} ct_prompt;

/* Formats row with fmt ({context}, {prompt}, {question}; "{{" and "}}" are
 * literal braces; fmt NULL = CT_PROMPT_FORMAT_DEFAULT) and finds the spans.
 * Mentions: every occurrence of subj and obj in the passage is a candidate
 * (case-sensitive; when a string has none, ASCII case-insensitive); the
 * non-overlapping (subject, object) pair with the most whole-word matches wins,
 * ties going to the earliest subject, then the earliest object.  So obj
 * "Sweden" inside subj "Sweden national team" takes the other occurrence, and
 * subj "Louis I" is not matched inside obj "Louis II of Naples".
 * cf (NULL = none): the counterfactual context: every occurrence of the object
 * string in the passage that does not overlap the chosen subject mention is
 * replaced by cf (the seed replaces all of them), and prompt->object is the
 * mention that replaced the chosen one.
 * Without {context} in fmt (the seed's argparse default), the first {prompt} or
 * {question} substitution stands in for the passage (p->passage == p->prompt,
 * p->no_context = 1): the subject must be found there, the object is optional
 * (a question rarely names its answer): when it has no mention apart from the
 * subject, p->object is empty (b == e, right after the subject) and the
 * relation is the question outside the subject; cf must be NULL.
 * Errors (per row): a placeholder the row lacks, none of the three
 * placeholders in fmt, subject (or, with {context}, object) not found, no
 * non-overlapping pair, cf without {context}. */
int ct_prompt_build(ct_prompt *p, const ct_row *row, const char *fmt, const char *cf, ct_err *err);
void ct_prompt_free(ct_prompt *p);

/* Token ranges of one prompt (token positions, half-open). */
typedef struct ct_token_spans {
    int T;                      /* tokens in the prompt */
    ct_interval passage, prompt, subject, object;
    ct_interval relation[3];    /* passage tokens that are neither subject nor object */
    int n_relation;
    int last;                   /* T - 1 */
} ct_token_spans;

/* The tokens [b, e) whose byte offsets overlap bytes = every token with
 * start < bytes.e and end > bytes.b; empty tokens (start == end, e.g. BOS) never
 * overlap.  offsets [T, 2]: per token [start, end) in the prompt text.
 * Returns {0,0} for an empty span; -1 with an error when no token overlaps. */
int ct_token_range(const int32_t *offsets, int T, ct_interval bytes, ct_interval *out, ct_err *err);

/* All token ranges of p from offsets [T, 2]. */
int ct_token_spans_of(const ct_prompt *p, const int32_t *offsets, int T, ct_token_spans *out, ct_err *err);

/* Experiment types of the seed tool: what the noise goes on. */
enum { CT_EXP_SUBJECT = 1, CT_EXP_OBJECT = 2, CT_EXP_RELATION = 3 };

/* Everything one row needs before tracing, for one experiment and one
 * context (the row's passage, or a counterfactual context): the prompt, its
 * tokens and spans, the target ranges to corrupt, the answer and
 * counterfactual token ids, and the token texts for the case description. */
typedef struct ct_row_plan {
    ct_prompt prompt;
    ct_encoding enc;            /* the prompt's tokens, specials as the tokenizer adds them */
    ct_token_spans spans;
    int32_t ranges[3][2];       /* [n_ranges, 2] target token ranges: the subject (1), */
    int n_ranges;               /* the object (2) or the relation runs (3) */
    int32_t *answer;            /* [n_answer] " " + answers[0], no specials */
    int n_answer;
    int n_cf;                   /* min(max_cf, n_obj_cf) */
    int32_t **cf;               /* [n_cf][cf_len[c]] " " + obj_cf[c] */
    int *cf_len;                /* [n_cf] */
    char **tokens;              /* [enc.n] each token decoded on its own (specials kept) */
} ct_row_plan;

/* experiment: CT_EXP_*; cf_context: NULL, or the counterfactual object to put
 * in the passage (see ct_prompt_build); max_cf < 0 = all of obj_cf.  Errors are
 * per row ("line N: ..."): spans not found, an empty target (experiment 2
 * without {context}: "object \"X\" not found in the question ..."), an answer that
 * tokenizes to nothing. */
int ct_row_plan_make(ct_row_plan *p, const ct_row *row, const ct_tokenizer *tk, const char *fmt,
                     int experiment, const char *cf_context, int max_cf, ct_err *err);
void ct_row_plan_free(ct_row_plan *p);

/* --- case files: the metadata `ctrace run` records, read back ----------- */


/* What plots, averages and summaries need to know about one case, recorded in
 * the case file's metadata (docs/run-output.md): as the "case" member of the
 * "ctrace" settings JSON (see ct_case_extra_json) or as a top-level
 * "ctrace_case" JSON string.  Spans are TOKEN ranges. */
typedef struct ct_case_info {
    int row;                    /* 0-based row index in the dataset (the seed's i) */
    int line;                   /* 1-based JSONL line, 0 = unknown */
    char kind[16];              /* "hidden", "mlp" or "attention" */
    int experiment;             /* CT_EXP_*, 0 = unknown */
    int window;                 /* restored layers per cell (1 for hidden) */
    int reverse;                /* 1: reverse patching (corrupted states put into the clean run) */
    char *answer;               /* answers[0], no leading space */
    char *metric;               /* "prob", "logprob", "logratio" */
    char *cf;                   /* counterfactual object in the passage, or NULL */
    char *text;                 /* the formatted prompt, or NULL */
    int T;
    char **tokens;              /* [T] token texts (as decoded one by one) */
    ct_token_spans spans;
} ct_case_info;

/* The case description as compact JSON text (caller frees). */
char *ct_case_info_json(const ct_case_info *ci);
/* {"case": <ct_case_info_json>}: pass it as ct_case_write's extra_json, so the
 * description lands in the "ctrace" settings JSON of the case file, where
 * ct_case_load finds it (a top-level "ctrace_case" string is read too). */
char *ct_case_extra_json(const ct_case_info *ci);
int ct_case_info_parse(ct_case_info *ci, const char *json, ct_err *err);
void ct_case_info_free(ct_case_info *ci);

/* A case description from a plan (strings copied; free with ct_case_info_free). */
int ct_row_plan_case_info(const ct_row_plan *p, const ct_row *row, int row_index, int experiment,
                          const char *kind, int window, const char *metric, ct_case_info *ci, ct_err *err);

/* A case file, read for plotting and averaging.  May also be filled by hand
 * from a trace still in memory (info, T, L, ie, targets, n_targets) to draw
 * its figure with ct_case_figure_of without reading the file back. */
typedef struct ct_case {
    char *path;
    ct_case_info info;          /* the recorded description; else kind/window/metric
                                   from the settings and "#id" token labels */
    int has_info;               /* 1 when the description was present */
    int T, L;
    float *ie;                  /* [T, L] `ie`, or `scores` - `low_score` */
    float low_score, high_score, te;   /* NaN when absent */
    int32_t *targets;           /* [n_targets, 2] `target_ranges` (may be NULL) */
    int n_targets;
} ct_case;

int ct_case_load(ct_case *c, const char *path, ct_err *err);
void ct_case_free(ct_case *c);

/* --- heat maps (cairo; looks like ROME's / the seed's matplotlib figures) -- */

typedef enum ct_plot_format { CT_PLOT_PDF, CT_PLOT_PNG, CT_PLOT_SVG } ct_plot_format;
/* "pdf", "png", "svg" -> format; -1 on an unknown name. */
int ct_plot_format_parse(const char *name, ct_plot_format *out);
const char *ct_plot_format_ext(ct_plot_format f);   /* "pdf", ... */

/* One heat-map panel: row r is drawn at the top for r = 0. */
typedef struct ct_heatmap {
    const float *values;        /* [rows, cols]; NaN cells are left blank */
    int rows, cols;
    const char *const *labels;  /* [rows] row labels (any bytes; invalid UTF-8 is shown as U+FFFD) */
    const unsigned char *star;  /* [rows] 1 = append "*" (a corrupted token), or NULL */
    const char *kind;           /* "hidden" (Purples), "mlp" (Greens), "attention" (Reds) */
    const char *title;          /* may contain one '\n' */
    const char *xlabel;
    const char *cbar_label;     /* under the colour bar */
    float vmin, vmax;           /* colour range; NaN = from the data: vmin 0 (lower values
                                   show as the lightest colour, like ROME), vmax the max */
    int hide_labels;            /* 1: ticks only (a panel beside one with the same labels) */
} ct_heatmap;

/* Draws n panels side by side (row labels on each panel) into path, written
 * to a temporary name, flushed, fsynced and closed with every step checked
 * (a full disk fails the call), then renamed.  Height grows with rows (0.15 in a row,
 * like the seed's ratio), so 150-token prompts stay readable. */
int ct_heatmap_write(const ct_heatmap *panels, int n, const char *path, ct_plot_format fmt, ct_err *err);

/* 1 when path holds a whole figure of that format (PDF: "%PDF-" ... "%%EOF";
 * PNG: signature ... IEND; SVG: ... "</svg>"), 0 when absent or cut short
 * (a disk that filled up under an older ctrace): `ctrace run` redraws it. */
int ct_figure_complete(const char *path, ct_plot_format fmt);

/* The seed's/ROME's text for a case: title "Impact of restoring state after
 * corrupted input", xlabel "single restored layer" or "center of interval of
 * W restored MLP layers", colour-bar label naming the metric and answer.
 * Fills h from c (values = c->ie, labels = tokens, stars = target ranges);
 * bufs own the strings and the star array; free with ct_case_figure_free. */
typedef struct ct_case_figure { ct_heatmap h; char *title, *xlabel, *cbar; unsigned char *star; } ct_case_figure;
int ct_case_figure_of(ct_case_figure *out, const ct_case *c, ct_err *err);
void ct_case_figure_free(ct_case_figure *out);

/* --- segment averages (`ctrace average`) -------------------------------- */

/* Token segments, in figure order.  A subject of one token is both its first
 * and last token (ROME's convention); "middle" = tokens strictly inside.
 * BEFORE = passage tokens before the first entity; BETWEEN = passage tokens
 * between the two entities; AFTER = passage tokens after the second;
 * PROMPT = tokens of {prompt}/{question} except the last token; LAST = T-1.
 * Template tokens outside passage and prompt (BOS, "C:", " Q:") belong to no
 * segment (IE there is 0 or template noise). */
enum {
    CT_SEG_BEFORE, CT_SEG_SUBJ_FIRST, CT_SEG_SUBJ_MID, CT_SEG_SUBJ_LAST, CT_SEG_BETWEEN,
    CT_SEG_OBJ_FIRST, CT_SEG_OBJ_MID, CT_SEG_OBJ_LAST, CT_SEG_AFTER, CT_SEG_PROMPT,
    CT_SEG_LAST, CT_SEG_COUNT
};
const char *ct_segment_name(int seg);        /* "first subject token", ... */
const char *ct_segment_key(int seg);         /* "subj_first", ... (CSV) */

/* mask [T]: bit s set when token t belongs to segment s. */
int ct_segments_of(const ct_token_spans *s, int T, uint32_t *mask, ct_err *err);

/* Running averages of IE [T, L] grids by segment, for one kind. */
typedef struct ct_average {
    int L;                      /* 0 until the first case fixes it */
    int n_cases;
    int window;                 /* the cases' window (-1 when they differ; set by ct_average_dirs) */
    int contexts;               /* CT_CTX_*: which cases were taken (set by ct_average_dirs) */
    /* case-mean: mean over cases of the per-case segment mean */
    double *case_sum;           /* [SEG, L] sum of per-case segment means */
    int n_case[CT_SEG_COUNT];   /* cases having a token in the segment */
    /* pooled: mean over all tokens of the segment, all cases together */
    double *tok_sum;            /* [SEG, L] */
    long n_tok[CT_SEG_COUNT];
} ct_average;

void ct_average_init(ct_average *a);
int ct_average_add(ct_average *a, const float *ie, int T, int L, const uint32_t *mask, ct_err *err);
/* out [SEG, L]: the averages (NaN where a segment has no data). pooled 0/1. */
void ct_average_result(const ct_average *a, int pooled, float *out);
void ct_average_free(ct_average *a);

/* Kinds in figure order (the ct_kind order): 0 hidden, 1 mlp, 2 attention;
 * -1 when unknown.  Names: ct_kind_name((ct_kind)k). */
int ct_kind_index(const char *kind);

/* Reads every case file of every dir into avg[3] (by kind): DIR/cases/ *.bin,
 * else DIR/ *.bin, else DIR/ * /cases/ *.bin (a folder of run dirs, e.g. one
 * per shard).  Files are read in sorted order.  contexts: CT_CTX_ALL, or only
 * the cases traced on the row's own passage (CT_CTX_ORIGINAL, "cf" null) or on
 * a counterfactual context (CT_CTX_CF); the others are left out, not skipped.  Files that cannot be used (no "ctrace_case", no IE,
 * unreadable) are skipped; skipped (may be NULL) gets their count and
 * first_skip their first reason.  -1 when a dir cannot be read. */
enum { CT_CTX_ALL, CT_CTX_ORIGINAL, CT_CTX_CF };   /* which contexts to average */
int ct_average_dirs(ct_average avg[3], const char *const *dirs, int n_dirs, int contexts,
                    int *skipped, ct_err *first_skip, ct_err *err);

/* CSV: kind,aggregation,segment,n,layer_0..layer_{L-1} (both aggregations). */
int ct_average_write_csv(const ct_average avg[3], const char *path, ct_err *err);
/* One figure of kinds[] (indexes into avg), one panel each; pooled 0/1. */
int ct_average_plot(const ct_average avg[3], const int *kinds, int n_kinds, int pooled,
                    const char *path, ct_plot_format fmt, ct_err *err);

/* --- run output lines (summary.jsonl, errors.jsonl) --------------------- */

/* One summary.jsonl line (no newline; caller frees): row, line, kind,
 * experiment, answer, cf, tokens, spans, p_clean, p_corrupt, te, and the top
 * IE cell {"token","layer","ie"}; ie [T, L] with T = ci->T. */
char *ct_summary_line(const ct_case_info *ci, int L, const float *ie,
                      float p_clean, float p_corrupt, float te);
/* One errors.jsonl line: {"row":i,"line":n,"file":...,"error":msg}. */
char *ct_error_line(int row, int line, const char *file, const char *msg);

/* run.json: what was run, on what, and how long it took. */
typedef struct ct_run_record {
    int argc; char *const *argv;    /* the command line, verbatim */
    const char *settings_json;      /* the resolved settings, a JSON object (NULL = none) */
    const char *model, *tokenizer, *data_path, *output_dir;
    double started, finished;       /* Unix time in seconds */
    int rows_total, rows_ok, rows_skipped;
    int cases_written, cases_reused; /* reused = found finished from an earlier run */
} ct_run_record;
/* Pretty-printed JSON object (caller frees), with "ctrace_version". */
char *ct_run_json(const ct_run_record *r);

/* Output names, as the seed names them, made safe for file systems:
 * ct_case_name -> "{row}_{kind}_{obj}.bin" and ct_pdf_name ->
 * "{answer}_{row}_{kind}.{ext}" (with cf != NULL: "{answer}_{row}_{kind}_{cf}.{ext}"),
 * where spaces and '_' in obj/cf become '-' (the seed's rule), answers are
 * trimmed, and '/', NUL-unsafe and control bytes become '-'.  A name past 200 bytes has its
 * obj/answer/cf cut to a prefix + "~" + 16 hex digits of their hash (docs/run-output.md).
 * 0, or -1 when cap is too small. */
int ct_case_name(char *buf, size_t cap, int row, const char *kind, const char *obj);
int ct_pdf_name(char *buf, size_t cap, const char *answer, int row, const char *kind, const char *cf, const char *ext);


/* ------------------------------------------------------------------------ */
/* 9. Runs: a JSONL dataset traced into an output directory (`ctrace run`)   */
/* ------------------------------------------------------------------------ */
/* ct_run walks a dataset row by row and, for each selected row, context and
 * kind, traces one case and writes (docs/run.md, docs/run-output.md):
 *   OUT/cases/{i}_{kind}_{obj}.bin   the case file (ct_case_write, with the
 *                                    case description as extra metadata)
 *   OUT/pdfs/{answer}_{i}_{kind}.pdf its heat map (plot_format: .png / .svg)
 *   OUT/summary.jsonl, OUT/errors.jsonl, OUT/run.json
 * Rows that cannot be traced (malformed JSON, missing fields, empty answer,
 * span not found, prompt too long for the model, ...) go to errors.jsonl and
 * the run goes on.  A case file already present under its final name counts
 * as done and is not traced again (files are written to a temporary name and
 * renamed, so a killed run leaves none half-written); summary.jsonl and
 * errors.jsonl are rebuilt on every run from all the selected rows' cases.
 * Before any work (before OUT is created), ct_run checks the model directory
 * (config.json and every tensor), loads the tokenizer and opens the dataset:
 * a bad path fails at once. */

/* Where a run stands; passed to the progress callback and returned. */
typedef struct ct_run_progress {
    int rows_total;             /* rows this run selects (shard, max_datapoints) */
    int rows_done;              /* selected rows handled so far */
    int rows_ok, rows_skipped;  /* skipped: at least one error line in errors.jsonl */
    int cases_written;          /* traced by this run */
    int cases_reused;           /* found finished from an earlier run */
    double seconds;             /* since ct_run started */
    double trace_seconds;       /* of which tracing and writing new cases */
    long case_cells_done;       /* the case being traced: restored cells done / in all */
    long case_cells_total;      /* (0 / 0 between cases; large models take minutes a case) */
} ct_run_progress;

typedef void (*ct_run_progress_fn)(void *ctx, const ct_run_progress *p);

typedef struct ct_run_settings {
    const char *model_dir;      /* required: config.json, *.safetensors, tokenizer.json */
    const char *tokenizer;      /* tokenizer.json or its directory; NULL = model_dir */
    const char *data_path;      /* required: JSONL rows (DESIGN.md) */
    const char *output_dir;     /* required; created (with cases/, pdfs/) when missing */
    const char *prompt_format;  /* NULL = CT_PROMPT_FORMAT_DEFAULT */
    int experiment;             /* CT_EXP_SUBJECT (default), CT_EXP_OBJECT, CT_EXP_RELATION */
    unsigned kinds;             /* bit (1 << CT_KIND_*) per kind to trace; default all three */
    int max_cf;                 /* counterfactuals scored (and with cf_context traced); default 3 */
    int cf_context;             /* 1: also trace each counterfactual context as its own case */
    int max_datapoints;         /* 0 = all rows; else rows 0 .. max_datapoints - 1 */
    int shard_k, shard_n;       /* rows i with i % shard_n == shard_k; default 0 / 1 */
    int plots;                  /* 1 (default): a figure per case */
    ct_plot_format plot_format; /* default CT_PLOT_PDF */
    ct_trace_settings trace;    /* samples, window, noise, seed, replace, reverse, metric,
                                   engine (kind is set per case) */
    int threads;                /* recorded in run.json only (the caller sets ct_set_threads) */
    int argc; char *const *argv;    /* the command line, recorded in run.json */
    ct_run_progress_fn progress;    /* optional: during every case, after every case and row */
    void *progress_ctx;
} ct_run_settings;

void ct_run_settings_default(ct_run_settings *s);

/* Runs everything; fills *out (may be NULL) with the final counts.  Returns
 * -1 on errors that stop the run: a bad model/tokenizer/data path or
 * setting, an output directory that cannot be written, a finished case file
 * traced otherwise than this run would (experiment, kind, window, metric,
 * direction, samples, seed, noise, replace, token ids, targets, answer or
 * counterfactual ids differ).  Per-row problems are not errors (they go to
 * errors.jsonl). */
int ct_run(const ct_run_settings *s, ct_run_progress *out, ct_err *err);

/* A sharded run (shard_n > 1) writes summary.shard-K-of-N.jsonl,
 * errors.shard-K-of-N.jsonl and run.shard-K-of-N.json, so that the shards of
 * a job array may share one output directory (each shard holds a lock, so a
 * second process on the same shard is refused).  This joins the shards'
 * files of DIR into DIR/summary.jsonl and DIR/errors.jsonl in row order,
 * unless summary.jsonl is newer than all of them (an unsharded run, which
 * writes both from every case, or an earlier merge).  *found: shards with a
 * summary file, *of_n: N (0 when DIR has none).  0, or -1 with err set. */
int ct_run_merge_shards(const char *dir, int *found, int *of_n, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif /* CTRACE_H */
