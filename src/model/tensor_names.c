/* tensor_names.c — per family, which checkpoint tensor fills which weight slot.
 *
 * The families differ in names and packing, not in the block's arithmetic, so
 * each is a table here; src/forward has one block function for all of them.
 * A rule only applies when its slot is present for the config (e.g. biases). */
#include "model.h"

#define LAYER(slot, part, x, name) {1, slot, part, x, name}
#define MODEL(slot, name) {0, slot, P_WHOLE, X_NONE, name}

/* llama, mistral, qwen2, gemma (same names; biases only when configured) */
static const ct_tensor_rule llama_rules[] = {
    MODEL(G_EMB, "model.embed_tokens.weight"),
    MODEL(G_FNORM_W, "model.norm.weight"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "model.layers.%d.input_layernorm.weight"),
    LAYER(S_NORM2_W, P_WHOLE, X_NONE, "model.layers.%d.post_attention_layernorm.weight"),
    LAYER(S_QKV, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.weight"),
    LAYER(S_QKV, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.weight"),
    LAYER(S_QKV, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.weight"),
    LAYER(S_QKV_B, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.bias"),
    LAYER(S_QKV_B, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.bias"),
    LAYER(S_QKV_B, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.bias"),
    LAYER(S_O, P_WHOLE, X_NONE, "model.layers.%d.self_attn.o_proj.weight"),
    LAYER(S_O_B, P_WHOLE, X_NONE, "model.layers.%d.self_attn.o_proj.bias"),
    LAYER(S_UP, P_GATE, X_NONE, "model.layers.%d.mlp.gate_proj.weight"),
    LAYER(S_UP, P_UPH, X_NONE, "model.layers.%d.mlp.up_proj.weight"),
    LAYER(S_UP_B, P_GATE, X_NONE, "model.layers.%d.mlp.gate_proj.bias"),
    LAYER(S_UP_B, P_UPH, X_NONE, "model.layers.%d.mlp.up_proj.bias"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "model.layers.%d.mlp.down_proj.weight"),
    LAYER(S_DOWN_B, P_WHOLE, X_NONE, "model.layers.%d.mlp.down_proj.bias"),
};

/* gemma2: four norms per layer; post_attention_layernorm normalises the attention output */
static const ct_tensor_rule gemma2_rules[] = {
    MODEL(G_EMB, "model.embed_tokens.weight"),
    MODEL(G_FNORM_W, "model.norm.weight"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "model.layers.%d.input_layernorm.weight"),
    LAYER(S_POST_ATTN_W, P_WHOLE, X_NONE, "model.layers.%d.post_attention_layernorm.weight"),
    LAYER(S_NORM2_W, P_WHOLE, X_NONE, "model.layers.%d.pre_feedforward_layernorm.weight"),
    LAYER(S_POST_MLP_W, P_WHOLE, X_NONE, "model.layers.%d.post_feedforward_layernorm.weight"),
    LAYER(S_QKV, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.weight"),
    LAYER(S_QKV, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.weight"),
    LAYER(S_QKV, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.weight"),
    LAYER(S_QKV_B, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.bias"),
    LAYER(S_QKV_B, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.bias"),
    LAYER(S_QKV_B, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.bias"),
    LAYER(S_O, P_WHOLE, X_NONE, "model.layers.%d.self_attn.o_proj.weight"),
    LAYER(S_O_B, P_WHOLE, X_NONE, "model.layers.%d.self_attn.o_proj.bias"),
    LAYER(S_UP, P_GATE, X_NONE, "model.layers.%d.mlp.gate_proj.weight"),
    LAYER(S_UP, P_UPH, X_NONE, "model.layers.%d.mlp.up_proj.weight"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "model.layers.%d.mlp.down_proj.weight"),
};

/* phi3: q/k/v and gate/up already fused in the order ctrace packs them */
static const ct_tensor_rule phi3_rules[] = {
    MODEL(G_EMB, "model.embed_tokens.weight"),
    MODEL(G_FNORM_W, "model.norm.weight"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "model.layers.%d.input_layernorm.weight"),
    LAYER(S_NORM2_W, P_WHOLE, X_NONE, "model.layers.%d.post_attention_layernorm.weight"),
    LAYER(S_QKV, P_WHOLE, X_NONE, "model.layers.%d.self_attn.qkv_proj.weight"),
    LAYER(S_O, P_WHOLE, X_NONE, "model.layers.%d.self_attn.o_proj.weight"),
    LAYER(S_UP, P_WHOLE, X_NONE, "model.layers.%d.mlp.gate_up_proj.weight"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "model.layers.%d.mlp.down_proj.weight"),
};

/* gpt2: Conv1D weights [in, out]; c_attn packs q, k, v column blocks */
static const ct_tensor_rule gpt2_rules[] = {
    MODEL(G_EMB, "transformer.wte.weight"),
    MODEL(G_POS, "transformer.wpe.weight"),
    MODEL(G_FNORM_W, "transformer.ln_f.weight"),
    MODEL(G_FNORM_B, "transformer.ln_f.bias"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "transformer.h.%d.ln_1.weight"),
    LAYER(S_NORM1_B, P_WHOLE, X_NONE, "transformer.h.%d.ln_1.bias"),
    LAYER(S_NORM2_W, P_WHOLE, X_NONE, "transformer.h.%d.ln_2.weight"),
    LAYER(S_NORM2_B, P_WHOLE, X_NONE, "transformer.h.%d.ln_2.bias"),
    LAYER(S_QKV, P_WHOLE, X_TRANSPOSE, "transformer.h.%d.attn.c_attn.weight"),
    LAYER(S_QKV_B, P_WHOLE, X_NONE, "transformer.h.%d.attn.c_attn.bias"),
    LAYER(S_O, P_WHOLE, X_TRANSPOSE, "transformer.h.%d.attn.c_proj.weight"),
    LAYER(S_O_B, P_WHOLE, X_NONE, "transformer.h.%d.attn.c_proj.bias"),
    LAYER(S_UP, P_WHOLE, X_TRANSPOSE, "transformer.h.%d.mlp.c_fc.weight"),
    LAYER(S_UP_B, P_WHOLE, X_NONE, "transformer.h.%d.mlp.c_fc.bias"),
    LAYER(S_DOWN, P_WHOLE, X_TRANSPOSE, "transformer.h.%d.mlp.c_proj.weight"),
    LAYER(S_DOWN_B, P_WHOLE, X_NONE, "transformer.h.%d.mlp.c_proj.bias"),
};

static const ct_tensor_rule gptj_rules[] = {
    MODEL(G_EMB, "transformer.wte.weight"),
    MODEL(G_FNORM_W, "transformer.ln_f.weight"),
    MODEL(G_FNORM_B, "transformer.ln_f.bias"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    MODEL(G_LM_HEAD_B, "lm_head.bias"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "transformer.h.%d.ln_1.weight"),
    LAYER(S_NORM1_B, P_WHOLE, X_NONE, "transformer.h.%d.ln_1.bias"),
    LAYER(S_QKV, P_Q, X_NONE, "transformer.h.%d.attn.q_proj.weight"),
    LAYER(S_QKV, P_K, X_NONE, "transformer.h.%d.attn.k_proj.weight"),
    LAYER(S_QKV, P_V, X_NONE, "transformer.h.%d.attn.v_proj.weight"),
    LAYER(S_O, P_WHOLE, X_NONE, "transformer.h.%d.attn.out_proj.weight"),
    LAYER(S_UP, P_WHOLE, X_NONE, "transformer.h.%d.mlp.fc_in.weight"),
    LAYER(S_UP_B, P_WHOLE, X_NONE, "transformer.h.%d.mlp.fc_in.bias"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "transformer.h.%d.mlp.fc_out.weight"),
    LAYER(S_DOWN_B, P_WHOLE, X_NONE, "transformer.h.%d.mlp.fc_out.bias"),
};

/* gpt_neox: query_key_value rows are per head (q, k, v) x head_dim */
static const ct_tensor_rule neox_rules[] = {
    MODEL(G_EMB, "gpt_neox.embed_in.weight"),
    MODEL(G_FNORM_W, "gpt_neox.final_layer_norm.weight"),
    MODEL(G_FNORM_B, "gpt_neox.final_layer_norm.bias"),
    MODEL(G_LM_HEAD, "embed_out.weight"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "gpt_neox.layers.%d.input_layernorm.weight"),
    LAYER(S_NORM1_B, P_WHOLE, X_NONE, "gpt_neox.layers.%d.input_layernorm.bias"),
    LAYER(S_NORM2_W, P_WHOLE, X_NONE, "gpt_neox.layers.%d.post_attention_layernorm.weight"),
    LAYER(S_NORM2_B, P_WHOLE, X_NONE, "gpt_neox.layers.%d.post_attention_layernorm.bias"),
    LAYER(S_QKV, P_WHOLE, X_NEOX_QKV, "gpt_neox.layers.%d.attention.query_key_value.weight"),
    LAYER(S_QKV_B, P_WHOLE, X_NEOX_QKV, "gpt_neox.layers.%d.attention.query_key_value.bias"),
    LAYER(S_O, P_WHOLE, X_NONE, "gpt_neox.layers.%d.attention.dense.weight"),
    LAYER(S_O_B, P_WHOLE, X_NONE, "gpt_neox.layers.%d.attention.dense.bias"),
    LAYER(S_UP, P_WHOLE, X_NONE, "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight"),
    LAYER(S_UP_B, P_WHOLE, X_NONE, "gpt_neox.layers.%d.mlp.dense_h_to_4h.bias"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight"),
    LAYER(S_DOWN_B, P_WHOLE, X_NONE, "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias"),
};

static const ct_tensor_rule phi_rules[] = {
    MODEL(G_EMB, "model.embed_tokens.weight"),
    MODEL(G_FNORM_W, "model.final_layernorm.weight"),
    MODEL(G_FNORM_B, "model.final_layernorm.bias"),
    MODEL(G_LM_HEAD, "lm_head.weight"),
    MODEL(G_LM_HEAD_B, "lm_head.bias"),
    LAYER(S_NORM1_W, P_WHOLE, X_NONE, "model.layers.%d.input_layernorm.weight"),
    LAYER(S_NORM1_B, P_WHOLE, X_NONE, "model.layers.%d.input_layernorm.bias"),
    LAYER(S_QKV, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.weight"),
    LAYER(S_QKV, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.weight"),
    LAYER(S_QKV, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.weight"),
    LAYER(S_QKV_B, P_Q, X_NONE, "model.layers.%d.self_attn.q_proj.bias"),
    LAYER(S_QKV_B, P_K, X_NONE, "model.layers.%d.self_attn.k_proj.bias"),
    LAYER(S_QKV_B, P_V, X_NONE, "model.layers.%d.self_attn.v_proj.bias"),
    LAYER(S_O, P_WHOLE, X_NONE, "model.layers.%d.self_attn.dense.weight"),
    LAYER(S_O_B, P_WHOLE, X_NONE, "model.layers.%d.self_attn.dense.bias"),
    LAYER(S_UP, P_WHOLE, X_NONE, "model.layers.%d.mlp.fc1.weight"),
    LAYER(S_UP_B, P_WHOLE, X_NONE, "model.layers.%d.mlp.fc1.bias"),
    LAYER(S_DOWN, P_WHOLE, X_NONE, "model.layers.%d.mlp.fc2.weight"),
    LAYER(S_DOWN_B, P_WHOLE, X_NONE, "model.layers.%d.mlp.fc2.bias"),
};

#define RULES(r) (*n = (int)(sizeof r / sizeof r[0]), r)

const ct_tensor_rule *ct_family_rules(ct_family f, int *n)
{
    switch (f) {
    case CT_FAM_LLAMA: case CT_FAM_GEMMA: return RULES(llama_rules);
    case CT_FAM_GEMMA2: return RULES(gemma2_rules);
    case CT_FAM_PHI3: return RULES(phi3_rules);
    case CT_FAM_GPT2: return RULES(gpt2_rules);
    case CT_FAM_GPTJ: return RULES(gptj_rules);
    case CT_FAM_NEOX: return RULES(neox_rules);
    case CT_FAM_PHI: return RULES(phi_rules);
    }
    *n = 0;
    return NULL;
}

const char *ct_family_name(ct_family f)
{
    static const char *const names[] = {"llama", "gemma", "gemma2", "phi3", "gpt2", "gptj", "gpt_neox", "phi"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

int ct_slot_present(const struct ct_config *c, ct_slot s)
{
    int layer_norm = c->norm == CT_NORM_LAYER;
    int norm2 = !c->parallel || c->parallel_two_norms;
    switch (s) {
    case S_NORM1_W: case S_QKV: case S_O: case S_UP: case S_DOWN: return 1;
    case S_NORM1_B: return layer_norm;
    case S_NORM2_W: return norm2;
    case S_NORM2_B: return norm2 && layer_norm;
    case S_POST_ATTN_W: case S_POST_MLP_W: return c->post_norms;
    case S_QKV_B: return c->qkv_bias;
    case S_O_B: return c->o_bias;
    case S_UP_B: case S_DOWN_B: return c->mlp_bias;
    default: return 0;
    }
}

int ct_gslot_present(const struct ct_config *c, ct_gslot s)
{
    switch (s) {
    case G_EMB: case G_FNORM_W: case G_LM_HEAD: return 1;
    case G_POS: return c->learned_positions;
    case G_FNORM_B: return c->norm == CT_NORM_LAYER;
    case G_LM_HEAD_B: return c->lm_head_bias;
    default: return 0;
    }
}

static int64_t qkv_rows(const struct ct_config *c)
{
    return ((int64_t)c->n_heads + 2 * (int64_t)c->n_kv_heads) * c->head_dim;   /* int64 before adding */
}

int64_t ct_slot_rows(const struct ct_config *c, ct_slot s)
{
    switch (s) {
    case S_QKV: case S_QKV_B: return qkv_rows(c);
    case S_UP: case S_UP_B: return (int64_t)c->d_ff * (c->gated_mlp ? 2 : 1);
    default: return c->d_model;   /* norms, O, down and their biases */
    }
}

int64_t ct_slot_cols(const struct ct_config *c, ct_slot s)
{
    switch (s) {
    case S_QKV: case S_UP: return c->d_model;
    case S_O: return (int64_t)c->n_heads * c->head_dim;
    case S_DOWN: return c->d_ff;
    default: return 0;
    }
}

int64_t ct_gslot_rows(const struct ct_config *c, ct_gslot s)
{
    switch (s) {
    case G_EMB: case G_LM_HEAD: case G_LM_HEAD_B: return c->vocab;
    case G_POS: return c->max_positions;
    default: return c->d_model;
    }
}

int64_t ct_gslot_cols(const struct ct_config *c, ct_gslot s)
{
    return (s == G_EMB || s == G_LM_HEAD || s == G_POS) ? c->d_model : 0;
}

void ct_part_rows(const struct ct_config *c, ct_part p, int64_t slot_rows, int64_t *off, int64_t *rows)
{
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    switch (p) {
    case P_Q: *off = 0; *rows = q; break;
    case P_K: *off = q; *rows = kv; break;
    case P_V: *off = q + kv; *rows = kv; break;
    case P_GATE: *off = 0; *rows = c->d_ff; break;
    case P_UPH: *off = c->d_ff; *rows = c->d_ff; break;
    default: *off = 0; *rows = slot_rows; break;
    }
}
