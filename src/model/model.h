/* model.h — the inside of a loaded ct_model (internal to src/model and src/forward).
 *
 * Every matrix is a ct_tensor view in nn.Linear layout [out, in] in the
 * checkpoint's stored dtype (F32, BF16 or F16): a view straight into the
 * memory-mapped safetensors file where the stored layout is already that,
 * else a buffer packed once at load, still in the stored dtype — Conv1D
 * matrices (gpt2) transposed, separate or differently fused q/k/v and gate/up
 * matrices packed into one matrix each — so that one block function serves
 * every family with one matrix product per projection.  Vectors (norm
 * weights, biases) are converted to float32: they are tiny.  With
 * CT_WEIGHTS_F32 every matrix is converted to float32 at load instead (the
 * old behaviour, kept as a reference and for speed comparisons). */
#ifndef CT_MODEL_H
#define CT_MODEL_H
#include "ctrace.h"

/* Per-layer weight slots. */
typedef enum ct_slot {
    S_NORM1_W, S_NORM1_B,       /* [D] norm before attention (and MLP in 1-norm parallel families) */
    S_NORM2_W, S_NORM2_B,       /* [D] norm before the MLP */
    S_POST_ATTN_W,              /* [D] gemma2: norm of the attention output */
    S_POST_MLP_W,               /* [D] gemma2: norm of the MLP output */
    S_QKV, S_QKV_B,             /* [H*hd + 2*KVH*hd, D]: rows q, then k, then v */
    S_O, S_O_B,                 /* [D, H*hd] */
    S_UP, S_UP_B,               /* [2F, D] gate rows then up rows (gated), or [F, D] */
    S_DOWN, S_DOWN_B,           /* [D, F] */
    S_LAYER_COUNT
} ct_slot;

/* Model-level weights. */
typedef enum ct_gslot {
    G_EMB,          /* [V, D] */
    G_POS,          /* [P, D] learned positions */
    G_FNORM_W, G_FNORM_B,       /* [D] */
    G_LM_HEAD,      /* [V, D] (points at G_EMB when tied) */
    G_LM_HEAD_B,    /* [V] */
    G_COUNT
} ct_gslot;

struct ct_model {
    struct ct_config cfg;
    char *dir;                  /* where it was loaded from, or NULL (random) */
    const struct ct_backend *be;    /* runs every op of the forward pass and the engines */
    ct_tensor g[G_COUNT];       /* .data NULL when absent */
    ct_tensor (*w)[S_LAYER_COUNT];  /* [L][S_LAYER_COUNT], .data NULL when absent */
    float *inv_freq;            /* [rotary_dim / 2] rotary frequencies, scaling applied */
    float *rope_cs;             /* [rope_npos, rotary_dim]: per position cos then sin (ct_rope_table), or NULL */
    int rope_npos;
    void **owned;               /* [n_owned] buffers the model allocated (packed or converted) */
    int n_owned, cap_owned;
    struct ct_ckpt *ckpt;       /* the mapped checkpoint views point into, or NULL */
    size_t weight_bytes;        /* bytes of the weights as held: owned buffers + mapped views */
    size_t stored_bytes;        /* bytes of the checkpoint's tensors that the model uses */
    size_t owned_bytes;         /* bytes of owned buffers (heap) */
    size_t mapped_bytes;        /* bytes used in place from the mapped file */
    /* On a device backend (CUDA): g / w hold device views, these the host ones. */
    const struct ct_backend *dev_be;    /* the device backend holding the copies, or NULL */
    ct_tensor host_g[G_COUNT];
    ct_tensor (*host_w)[S_LAYER_COUNT]; /* [L][S_LAYER_COUNT] */
    void **dev;                 /* [n_dev] device buffers of the weights */
    int n_dev;
    size_t dev_bytes;           /* their total */
};

/* The host view of a weight slot (the same as m->g / m->w on host backends). */
static inline const ct_tensor *ct_host_g(const ct_model *m, int g) { return m->dev_be ? &m->host_g[g] : &m->g[g]; }
/* Moves the weights to backend be's memory (device be) or back (host be). */
int ct_model_place_weights(ct_model *m, const struct ct_backend *be, ct_err *err);
/* Frees the device copies and restores the host views. */
void ct_model_drop_device(ct_model *m);

/* A float32 pointer to a vector slot (or NULL when absent). */
static inline const float *ct_vec(const ct_tensor *t) { return (const float *)t->data; }

/* Rows of a per-layer slot (its columns are D, H*hd or F; 1-D slots have rows = length). */
int64_t ct_slot_rows(const struct ct_config *c, ct_slot s);
int64_t ct_slot_cols(const struct ct_config *c, ct_slot s);   /* 0 for vectors */
int64_t ct_gslot_rows(const struct ct_config *c, ct_gslot s);
int64_t ct_gslot_cols(const struct ct_config *c, ct_gslot s); /* 0 for vectors */
/* Whether the family/config has the slot at all. */
int ct_slot_present(const struct ct_config *c, ct_slot s);
int ct_gslot_present(const struct ct_config *c, ct_gslot s);

/* Allocates every present slot as an owned buffer of dtype dt (vectors:
 * float32), uninitialised, and computes inv_freq. */
int ct_model_alloc(ct_model *m, ct_dtype dt, const char *what, ct_err *err);
/* An owned buffer of bytes, freed with the model; NULL when out of memory. */
void *ct_model_own(ct_model *m, size_t bytes);
void ct_model_compute_inv_freq(const struct ct_config *c, float *inv_freq);
/* m->inv_freq, and the cos/sin table of the first min(max_positions, 8192)
 * positions (m->rope_cs; left NULL when it cannot be had: the backend then
 * computes the angles itself).  Nothing for models without rotary. */
void ct_model_rope_init(ct_model *m);

/* How a family's checkpoint names and packs its tensors. */
typedef enum ct_part {
    P_WHOLE,        /* the tensor fills the slot */
    P_Q, P_K, P_V,  /* a row block of S_QKV / S_QKV_B */
    P_GATE, P_UPH   /* a row block of S_UP / S_UP_B (gated MLP) */
} ct_part;

typedef enum ct_xform {
    X_NONE,         /* stored [out, in] */
    X_TRANSPOSE,    /* Conv1D: stored [in, out] */
    X_NEOX_QKV      /* rows per head as (q, k, v) x hd: regroup into q, k, v blocks */
} ct_xform;

typedef struct ct_tensor_rule {
    int layer;              /* 1: per-layer name with %d; 0: model-level */
    int slot;               /* ct_slot or ct_gslot */
    ct_part part;
    ct_xform xform;
    const char *name;       /* printf format with one %d for per-layer names */
} ct_tensor_rule;

/* The table for a family: n rules. */
const ct_tensor_rule *ct_family_rules(ct_family f, int *n);
const char *ct_family_name(ct_family f);
/* Row offset and row count of a part within its slot. */
void ct_part_rows(const struct ct_config *c, ct_part p, int64_t slot_rows, int64_t *off, int64_t *rows);
#endif
