/* model.c — accessors, the random-weight constructor and the text summary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

const struct ct_config *ct_model_config(const ct_model *m) { return &m->cfg; }
int ct_model_n_layers(const ct_model *m) { return m->cfg.n_layers; }
int ct_model_d_model(const ct_model *m) { return m->cfg.d_model; }
int ct_model_vocab(const ct_model *m) { return m->cfg.vocab; }
int ct_model_kv_dim(const ct_model *m) { return m->cfg.n_kv_heads * m->cfg.head_dim; }
int ct_model_max_positions(const ct_model *m) { return m->cfg.max_positions; }
const float *ct_model_token_embeddings(const ct_model *m) { return m->g[G_EMB]; }
size_t ct_model_weight_bytes(const ct_model *m) { return m->weight_bytes; }

/* splitmix64 → uniform → Box-Muller: reproducible everywhere, no global state. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_normal(float *x, int64_t n, float std, uint64_t *s)
{
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((next_u64(s) >> 11) + 1.0) / 9007199254740993.0;   /* (0, 1] */
        double u2 = (next_u64(s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2 * log(u1));
        x[i] = (float)(std * r * cos(2 * M_PI * u2));
        if (i + 1 < n) x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
    }
}

static void fill_const(float *x, int64_t n, float v)
{
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

/* Matrices normal(0, 0.02); norm weights 1 (0 for the (1 + w) norms); biases 0. */
static void fill_slot(float *x, int64_t rows, int64_t cols, int is_norm_w, const struct ct_config *c, uint64_t *s)
{
    if (cols) fill_normal(x, rows * cols, 0.02f, s);
    else if (is_norm_w) fill_const(x, rows, c->norm == CT_NORM_RMS_1P ? 0.0f : 1.0f);
    else fill_const(x, rows, 0.0f);
}

int ct_model_random(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_err *err)
{
    *out = NULL;
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail(err, "random model: out of memory");
    m->cfg = *cfg;
    if (m->cfg.rope_factor == 0) m->cfg.rope_factor = 1;
    if (m->cfg.n_layers < 1 || m->cfg.d_model < 1 || m->cfg.n_heads < 1 || m->cfg.n_kv_heads < 1 ||
        m->cfg.head_dim < 1 || m->cfg.d_ff < 1 || m->cfg.vocab < 1 || m->cfg.max_positions < 1 ||
        m->cfg.n_heads % m->cfg.n_kv_heads ||
        (m->cfg.rope != CT_ROPE_NONE && (m->cfg.rotary_dim < 2 || m->cfg.rotary_dim % 2 ||
                                         m->cfg.rotary_dim > m->cfg.head_dim))) {
        free(m);
        return ct_fail(err, "random model: inconsistent config sizes");
    }
    if (ct_model_alloc(m, "random model", err)) { ct_model_free(m); return -1; }
    uint64_t s = seed;
    const struct ct_config *c = &m->cfg;
    for (int g = 0; g < G_COUNT; g++) {
        if (!m->g[g] || (g == G_LM_HEAD && c->tie_embeddings)) continue;
        fill_slot(m->g[g], ct_gslot_rows(c, (ct_gslot)g), ct_gslot_cols(c, (ct_gslot)g), g == G_FNORM_W, c, &s);
    }
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < S_LAYER_COUNT; k++) {
            if (!m->w[l][k]) continue;
            int is_norm = k == S_NORM1_W || k == S_NORM2_W || k == S_POST_ATTN_W || k == S_POST_MLP_W;
            fill_slot(m->w[l][k], ct_slot_rows(c, (ct_slot)k), ct_slot_cols(c, (ct_slot)k), is_norm, c, &s);
        }
    *out = m;
    return 0;
}

static const char *act_name(ct_act a)
{
    switch (a) {
    case CT_ACT_SILU: return "silu";
    case CT_ACT_GELU: return "gelu (erf)";
    case CT_ACT_GELU_TANH: return "gelu (tanh approximation)";
    case CT_ACT_RELU: return "relu";
    }
    return "?";
}

static const char *layout_of(const struct ct_config *c)
{
    if (c->post_norms) return "sequential with sublayer post-norms: h = x + norm(attn(norm(x))); out = h + norm(mlp(norm(h)))";
    if (!c->parallel) return "sequential: h = x + attn(norm1(x)); out = h + mlp(norm2(h))";
    if (c->parallel_two_norms) return "parallel: out = x + attn(norm1(x)) + mlp(norm2(x))";
    return "parallel, one norm: out = x + attn(norm(x)) + mlp(norm(x))";
}

int ct_model_describe(const ct_model *m, char *buf, size_t cap)
{
    return ct_config_describe(&m->cfg, m->weight_bytes, buf, cap);
}

int ct_config_describe(const struct ct_config *c, size_t weight_bytes, char *buf, size_t cap)
{
    char rope[256], scaling[160] = "", attn[160];
    if (c->rope == CT_ROPE_LINEAR) snprintf(scaling, sizeof scaling, ", linear scaling factor %g", c->rope_factor);
    if (c->rope == CT_ROPE_LLAMA3)
        snprintf(scaling, sizeof scaling, ", llama3 scaling (factor %g, low %g, high %g, original %d positions)",
                 c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max);
    if (c->rope == CT_ROPE_NONE) snprintf(rope, sizeof rope, "none (learned position embeddings, %d positions)", c->max_positions);
    else
        snprintf(rope, sizeof rope, "on %d of %d head dims (%s pairs), theta %g%s",
                 c->rotary_dim, c->head_dim, c->rope_interleaved ? "interleaved adjacent" : "half-split",
                 c->rope_theta, scaling);
    int n = snprintf(attn, sizeof attn, "causal, scale %g", c->attn_scale);
    if (c->attn_softcap > 0) n += snprintf(attn + n, sizeof attn - (size_t)n, ", score soft-cap %g", c->attn_softcap);
    if (c->sliding_window)
        snprintf(attn + n, sizeof attn - (size_t)n, ", sliding window %d%s", c->sliding_window,
                 c->sliding_every_other ? " on even layers" : "");
    char biases[64];
    snprintf(biases, sizeof biases, "%s%s%s%s", c->qkv_bias ? " qkv" : "", c->o_bias ? " out" : "",
             c->mlp_bias ? " mlp" : "", c->lm_head_bias ? " lm_head" : "");
    return snprintf(buf, cap,
        "model_type:   %s (family %s)\n"
        "layers:       %d\n"
        "hidden:       %d\n"
        "heads:        %d query, %d key/value (head_dim %d)%s\n"
        "mlp:          %d inner, %s%s\n"
        "vocab:        %d\n"
        "positions:    %d\n"
        "norm:         %s, eps %g\n"
        "block:        %s\n"
        "rotary:       %s\n"
        "attention:    %s\n"
        "logits:       %s%s\n"
        "biases:      %s\n"
        "embeddings:   %s%s\n"
        "weights:      %.1f MiB float32 in memory (stored %s)\n",
        c->model_type, ct_family_name(c->family), c->n_layers, c->d_model,
        c->n_heads, c->n_kv_heads, c->head_dim, c->n_kv_heads < c->n_heads ? (c->n_kv_heads == 1 ? ", MQA" : ", GQA") : "",
        c->d_ff, act_name(c->act), c->gated_mlp ? " gated (down(act(gate) * up))" : "",
        c->vocab, c->max_positions,
        c->norm == CT_NORM_LAYER ? "LayerNorm" : c->norm == CT_NORM_RMS_1P ? "RMSNorm (1 + w)" : "RMSNorm", c->norm_eps,
        layout_of(c), rope, attn,
        c->lm_head_bias ? "final norm, output projection with bias" : "final norm, output projection",
        c->final_softcap > 0 ? ", soft-capped" : "",
        biases[0] ? biases : " none",
        c->tie_embeddings ? "tied input/output" : "untied input/output",
        c->scale_embeddings ? ", input x sqrt(hidden)" : "",
        (double)weight_bytes / 1048576.0, ct_dtype_name(c->torch_dtype));
}
