/* config.c — config.json → struct ct_config.
 *
 * Each family reads its own key names (gpt2's n_embd, neox's rotary_pct, ...)
 * and applies the class defaults of transformers 4.47 where a key is absent.
 * Keys whose values would change the math in ways ctrace does not implement
 * are refused here, so a model never loads and then computes something else. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace.h"
#include "common/json.h"

/* Any model width or count above this is refused (the largest models of
 * 2024 stay below 2^18): widths derived from them fit an int. */
#define CT_CONFIG_MAX_DIM (1 << 24)

typedef struct jctx {
    const cJSON *root;
    const char *path;
    ct_err *err;
} jctx;

static const cJSON *key(const jctx *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->root, k);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

/* Reads an integer key (first of the names present); -1 on a wrong type. */
static int get_int(const jctx *j, const char *k, int def, int *out)
{
    const cJSON *v = key(j, k);
    if (!v) { *out = def; return 0; }
    /* the range first: casting 1e20 to an integer type is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e9) ||
        v->valuedouble != floor(v->valuedouble)) {
        if (cJSON_IsNumber(v) && v->valuedouble > 1e9)
            return ct_fail(j->err, "%s: \"%s\" is %g: larger than ctrace supports (10^9)", j->path, k, v->valuedouble);
        return ct_fail(j->err, "%s: \"%s\" must be a non-negative integer", j->path, k);
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int get_num(const jctx *j, const char *k, double def, double *out)
{
    const cJSON *v = key(j, k);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsNumber(v)) return ct_fail(j->err, "%s: \"%s\" must be a number", j->path, k);
    *out = v->valuedouble;
    return 0;
}

/* A fraction in [0, 1] (rotary_pct, partial_rotary_factor): it scales
 * head_dim into an int, so a value out of range must not reach the cast. */
static int get_fraction(const jctx *j, const char *k, double def, double *out)
{
    if (get_num(j, k, def, out)) return -1;
    if (!(*out >= 0 && *out <= 1)) return ct_fail(j->err, "%s: \"%s\" is %g: must be within [0, 1]", j->path, k, *out);
    return 0;
}

/* The default MLP width 4 * n_embd (gpt2, gptj), without int overflow. */
static int default_ff(const jctx *j, const char *k, int d_model, int inner, int *out)
{
    if (inner) { *out = inner; return 0; }
    if (d_model > CT_CONFIG_MAX_DIM / 4)
        return ct_fail(j->err, "%s: \"%s\" is %d: 4 × %s (the default n_inner) is larger than ctrace supports (%d)",
                       j->path, k, d_model, k, CT_CONFIG_MAX_DIM);
    *out = 4 * d_model;
    return 0;
}

static int get_bool(const jctx *j, const char *k, int def, int *out)
{
    const cJSON *v = key(j, k);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return ct_fail(j->err, "%s: \"%s\" must be true or false", j->path, k);
    *out = cJSON_IsTrue(v);
    return 0;
}

static const char *get_str(const jctx *j, const char *k, const char *def)
{
    const cJSON *v = key(j, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int parse_act(const jctx *j, const char *k, const char *name, ct_act *out)
{
    static const struct { const char *name; ct_act act; } acts[] = {
        {"silu", CT_ACT_SILU}, {"swish", CT_ACT_SILU}, {"gelu", CT_ACT_GELU},
        {"gelu_new", CT_ACT_GELU_TANH}, {"gelu_pytorch_tanh", CT_ACT_GELU_TANH},
        {"gelu_fast", CT_ACT_GELU_TANH}, {"relu", CT_ACT_RELU},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(name, acts[i].name)) { *out = acts[i].act; return 0; }
    return ct_fail(j->err, "%s: unsupported %s \"%s\" (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)",
                   j->path, k, name);
}

/* rope_scaling: null, {"type"|"rope_type": "default"|"linear"|"llama3", ...}. */
static int parse_rope_scaling(const jctx *j, struct ct_config *c)
{
    c->rope_factor = 1;
    const cJSON *rs = key(j, "rope_scaling");
    if (!rs) return 0;
    if (!cJSON_IsObject(rs)) return ct_fail(j->err, "%s: \"rope_scaling\" must be an object or null", j->path);
    jctx s = {rs, j->path, j->err};
    const char *type = get_str(&s, "rope_type", get_str(&s, "type", "default"));
    if (!strcmp(type, "default")) return 0;
    if (get_num(&s, "factor", 1, &c->rope_factor)) return -1;
    if (!(c->rope_factor > 0)) return ct_fail(j->err, "%s: rope_scaling.factor must be positive", j->path);
    if (!strcmp(type, "linear")) { c->rope = CT_ROPE_LINEAR; return 0; }
    if (!strcmp(type, "llama3")) {
        c->rope = CT_ROPE_LLAMA3;
        if (get_num(&s, "low_freq_factor", 1, &c->rope_low_freq_factor) ||
            get_num(&s, "high_freq_factor", 4, &c->rope_high_freq_factor) ||
            get_int(&s, "original_max_position_embeddings", 8192, &c->rope_original_max))
            return -1;
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) || c->rope_original_max <= 0)
            return ct_fail(j->err, "%s: rope_scaling (llama3) needs high_freq_factor > low_freq_factor and original_max_position_embeddings > 0", j->path);
        return 0;
    }
    return ct_fail(j->err, "%s: unsupported rope_scaling type \"%s\" (supported: default, linear, llama3)", j->path, type);
}

static ct_dtype parse_dtype(const char *s)
{
    if (!s) return CT_F32;
    if (!strcmp(s, "bfloat16")) return CT_BF16;
    if (!strcmp(s, "float16")) return CT_F16;
    return CT_F32;
}

/* The families with Llama-style key names: llama, mistral, qwen2, gemma, gemma2, phi3. */
static int parse_llama_like(const jctx *j, struct ct_config *c)
{
    const char *mt = c->model_type;
    int is_gemma = !strncmp(mt, "gemma", 5);
    if (get_int(j, "hidden_size", 4096, &c->d_model) ||
        get_int(j, "intermediate_size", 11008, &c->d_ff) ||
        get_int(j, "num_hidden_layers", 32, &c->n_layers) ||
        get_int(j, "num_attention_heads", 32, &c->n_heads) ||
        get_int(j, "vocab_size", 32000, &c->vocab) ||
        get_int(j, "max_position_embeddings", 2048, &c->max_positions))
        return -1;
    if (get_int(j, "num_key_value_heads", c->n_heads, &c->n_kv_heads)) return -1;
    int hd_def = is_gemma ? 256 : (c->n_heads ? c->d_model / c->n_heads : 0);
    if (get_int(j, "head_dim", hd_def, &c->head_dim)) return -1;
    double eps;
    if (get_num(j, "rms_norm_eps", is_gemma ? 1e-6 : 1e-6, &eps) ||
        get_num(j, "rope_theta", 10000, &c->rope_theta) ||
        get_bool(j, "tie_word_embeddings", is_gemma, &c->tie_embeddings))
        return -1;
    c->norm_eps = (float)eps;
    c->norm = is_gemma ? CT_NORM_RMS_1P : CT_NORM_RMS;
    c->gated_mlp = 1;
    c->rope = CT_ROPE_DEFAULT;
    c->rotary_dim = c->head_dim;
    if (parse_rope_scaling(j, c)) return -1;

    /* gemma: transformers versions differ on whether hidden_act or hidden_activation
     * applies, so they must agree when both are given */
    const char *act = get_str(j, "hidden_act", is_gemma ? "gelu_pytorch_tanh" : "silu");
    if (is_gemma) {
        const char *ha = get_str(j, "hidden_activation", NULL);
        if (ha && key(j, "hidden_act") && strcmp(ha, act))
            return ct_fail(j->err, "%s: hidden_act \"%s\" and hidden_activation \"%s\" disagree (transformers versions differ on which applies; make them equal)",
                           j->path, act, ha);
        if (ha) act = ha;
    }
    if (parse_act(j, "hidden_act", act, &c->act)) return -1;

    if (!strcmp(mt, "llama") || !strcmp(mt, "gemma") || !strcmp(mt, "gemma2")) {
        if (get_bool(j, "attention_bias", 0, &c->qkv_bias)) return -1;
        c->o_bias = c->qkv_bias;
    }
    if (!strcmp(mt, "llama") && get_bool(j, "mlp_bias", 0, &c->mlp_bias)) return -1;
    if (!strcmp(mt, "qwen2")) {
        c->qkv_bias = 1;
        int sw;
        if (get_bool(j, "use_sliding_window", 0, &sw)) return -1;
        if (sw) return ct_fail(j->err, "%s: qwen2 with use_sliding_window: true is not supported", j->path);
    }
    if (!strcmp(mt, "mistral") || !strcmp(mt, "phi3") || !strcmp(mt, "gemma2")) {
        if (get_int(j, "sliding_window", !strcmp(mt, "gemma2") ? 4096 : 0, &c->sliding_window)) return -1;
    }
    if (!strcmp(mt, "phi3")) {
        double prf;
        if (get_num(j, "partial_rotary_factor", 1, &prf)) return -1;
        if (prf != 1) return ct_fail(j->err, "%s: phi3 with partial_rotary_factor %g is not supported", j->path, prf);
    }
    c->family = !strcmp(mt, "gemma") ? CT_FAM_GEMMA : !strcmp(mt, "gemma2") ? CT_FAM_GEMMA2
              : !strcmp(mt, "phi3") ? CT_FAM_PHI3 : CT_FAM_LLAMA;
    c->scale_embeddings = is_gemma;
    c->attn_scale = c->head_dim ? (float)(1.0 / sqrt((double)c->head_dim)) : 1;
    if (c->family == CT_FAM_GEMMA2) {
        double qs, asc, fsc;
        if (get_num(j, "query_pre_attn_scalar", 256, &qs) ||
            get_num(j, "attn_logit_softcapping", 50, &asc) ||
            get_num(j, "final_logit_softcapping", 30, &fsc))
            return -1;
        if (!key(j, "attn_logit_softcapping") && cJSON_GetObjectItemCaseSensitive(j->root, "attn_logit_softcapping")) asc = 0;
        if (!key(j, "final_logit_softcapping") && cJSON_GetObjectItemCaseSensitive(j->root, "final_logit_softcapping")) fsc = 0;
        if (!(qs > 0)) return ct_fail(j->err, "%s: query_pre_attn_scalar must be positive", j->path);
        c->attn_scale = (float)pow(qs, -0.5);
        c->attn_softcap = (float)asc;
        c->final_softcap = (float)fsc;
        c->post_norms = 1;
        c->sliding_every_other = 1;
    }
    return 0;
}

static int parse_gpt2(const jctx *j, struct ct_config *c)
{
    double eps;
    int inner, scale, by_layer;
    if (get_int(j, "n_embd", 768, &c->d_model) || get_int(j, "n_layer", 12, &c->n_layers) ||
        get_int(j, "n_head", 12, &c->n_heads) || get_int(j, "vocab_size", 50257, &c->vocab) ||
        get_int(j, "n_positions", 1024, &c->max_positions) || get_int(j, "n_inner", 0, &inner) ||
        get_num(j, "layer_norm_epsilon", 1e-5, &eps) ||
        get_bool(j, "scale_attn_weights", 1, &scale) ||
        get_bool(j, "scale_attn_by_inverse_layer_idx", 0, &by_layer) ||
        get_bool(j, "tie_word_embeddings", 1, &c->tie_embeddings) ||
        parse_act(j, "activation_function", get_str(j, "activation_function", "gelu_new"), &c->act))
        return -1;
    if (by_layer) return ct_fail(j->err, "%s: gpt2 with scale_attn_by_inverse_layer_idx: true is not supported", j->path);
    c->family = CT_FAM_GPT2;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_heads ? c->d_model / c->n_heads : 0;
    if (default_ff(j, "n_embd", c->d_model, inner, &c->d_ff)) return -1;
    c->norm = CT_NORM_LAYER;
    c->norm_eps = (float)eps;
    c->qkv_bias = c->o_bias = c->mlp_bias = 1;
    c->learned_positions = 1;
    c->rope = CT_ROPE_NONE;
    c->attn_scale = scale && c->head_dim ? (float)(1.0 / sqrt((double)c->head_dim)) : 1;
    return 0;
}

static int parse_gptj(const jctx *j, struct ct_config *c)
{
    double eps;
    int inner;
    if (get_int(j, "n_embd", 4096, &c->d_model) || get_int(j, "n_layer", 28, &c->n_layers) ||
        get_int(j, "n_head", 16, &c->n_heads) || get_int(j, "vocab_size", 50400, &c->vocab) ||
        get_int(j, "n_positions", 2048, &c->max_positions) || get_int(j, "n_inner", 0, &inner) ||
        get_num(j, "layer_norm_epsilon", 1e-5, &eps) ||
        get_bool(j, "tie_word_embeddings", 0, &c->tie_embeddings) ||
        parse_act(j, "activation_function", get_str(j, "activation_function", "gelu_new"), &c->act))
        return -1;
    c->family = CT_FAM_GPTJ;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_heads ? c->d_model / c->n_heads : 0;
    if (get_int(j, "rotary_dim", 64, &c->rotary_dim)) return -1;
    if (!key(j, "rotary_dim") && cJSON_GetObjectItemCaseSensitive(j->root, "rotary_dim")) c->rotary_dim = c->head_dim;
    if (default_ff(j, "n_embd", c->d_model, inner, &c->d_ff)) return -1;
    c->norm = CT_NORM_LAYER;
    c->norm_eps = (float)eps;
    c->mlp_bias = c->lm_head_bias = 1;
    c->parallel = 1;
    c->rope = CT_ROPE_DEFAULT;
    c->rope_interleaved = 1;
    c->rope_theta = 10000;
    c->rope_factor = 1;
    c->attn_scale = c->head_dim ? (float)(1.0 / sqrt((double)c->head_dim)) : 1;
    return 0;
}

static int parse_neox(const jctx *j, struct ct_config *c)
{
    double eps, pct, base;
    if (get_int(j, "hidden_size", 6144, &c->d_model) || get_int(j, "num_hidden_layers", 44, &c->n_layers) ||
        get_int(j, "num_attention_heads", 64, &c->n_heads) || get_int(j, "vocab_size", 50432, &c->vocab) ||
        get_int(j, "intermediate_size", 24576, &c->d_ff) ||
        get_int(j, "max_position_embeddings", 2048, &c->max_positions) ||
        get_num(j, "layer_norm_eps", 1e-5, &eps) ||
        get_fraction(j, "rotary_pct", 0.25, &pct) ||
        get_num(j, "rotary_emb_base", 10000, &base) ||
        get_bool(j, "use_parallel_residual", 1, &c->parallel) ||
        get_bool(j, "attention_bias", 1, &c->qkv_bias) ||
        get_bool(j, "tie_word_embeddings", 0, &c->tie_embeddings) ||
        parse_act(j, "hidden_act", get_str(j, "hidden_act", "gelu"), &c->act))
        return -1;
    if (get_num(j, "rope_theta", base, &c->rope_theta)) return -1;
    c->family = CT_FAM_NEOX;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_heads ? c->d_model / c->n_heads : 0;
    c->rotary_dim = (int)(c->head_dim * pct);
    c->norm = CT_NORM_LAYER;
    c->norm_eps = (float)eps;
    c->o_bias = c->qkv_bias;
    c->mlp_bias = 1;
    c->parallel_two_norms = c->parallel;
    c->rope = CT_ROPE_DEFAULT;
    if (parse_rope_scaling(j, c)) return -1;
    c->attn_scale = c->head_dim ? (float)(1.0 / sqrt((double)c->head_dim)) : 1;
    return 0;
}

static int parse_phi(const jctx *j, struct ct_config *c)
{
    double eps, prf;
    int qkln;
    if (get_int(j, "hidden_size", 2048, &c->d_model) || get_int(j, "num_hidden_layers", 24, &c->n_layers) ||
        get_int(j, "num_attention_heads", 32, &c->n_heads) || get_int(j, "vocab_size", 51200, &c->vocab) ||
        get_int(j, "intermediate_size", 8192, &c->d_ff) ||
        get_int(j, "max_position_embeddings", 2048, &c->max_positions) ||
        get_num(j, "layer_norm_eps", 1e-5, &eps) ||
        get_fraction(j, "partial_rotary_factor", 0.5, &prf) ||
        get_num(j, "rope_theta", 10000, &c->rope_theta) ||
        get_bool(j, "qk_layernorm", 0, &qkln) ||
        get_bool(j, "tie_word_embeddings", 0, &c->tie_embeddings) ||
        parse_act(j, "hidden_act", get_str(j, "hidden_act", "gelu_new"), &c->act))
        return -1;
    if (qkln) return ct_fail(j->err, "%s: phi with qk_layernorm: true is not supported", j->path);
    if (get_int(j, "num_key_value_heads", c->n_heads, &c->n_kv_heads)) return -1;
    c->family = CT_FAM_PHI;
    c->head_dim = c->n_heads ? c->d_model / c->n_heads : 0;
    c->rotary_dim = (int)(c->head_dim * prf);
    c->norm = CT_NORM_LAYER;
    c->norm_eps = (float)eps;
    c->qkv_bias = c->o_bias = c->mlp_bias = c->lm_head_bias = 1;
    c->parallel = 1;
    c->rope = CT_ROPE_DEFAULT;
    if (parse_rope_scaling(j, c)) return -1;
    c->attn_scale = c->head_dim ? (float)(1.0 / sqrt((double)c->head_dim)) : 1;
    return 0;
}

/* Sanity of the resolved sizes, whatever the family. */
static int check_sizes(const struct ct_config *c, const char *path, ct_err *err)
{
    if (c->n_layers < 1 || c->d_model < 1 || c->n_heads < 1 || c->n_kv_heads < 1 ||
        c->head_dim < 1 || c->d_ff < 1 || c->vocab < 1 || c->max_positions < 1)
        return ct_fail(err, "%s: sizes must be positive (layers %d, hidden %d, heads %d, kv heads %d, head_dim %d, ff %d, vocab %d, positions %d)",
                       path, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim, c->d_ff,
                       c->vocab, c->max_positions);
    if (c->head_dim > 2048)
        return ct_fail(err, "%s: head dimension %d is larger than ctrace supports (2048)", path, c->head_dim);
    /* the forward pass computes widths such as (heads + 2 kv heads) × head_dim
     * and 2 × ff in int: bound every size so that none of them overflows */
    const struct { const char *what; int64_t v; } big[] = {
        {"hidden size", c->d_model}, {"MLP width (intermediate size)", (int64_t)c->d_ff * 2},
        {"layer count", c->n_layers}, {"vocabulary size", c->vocab},
        {"query width (heads × head_dim)", (int64_t)c->n_heads * c->head_dim},
        {"fused QKV width ((heads + 2 kv heads) × head_dim)", ((int64_t)c->n_heads + 2 * (int64_t)c->n_kv_heads) * c->head_dim},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        if (big[i].v > CT_CONFIG_MAX_DIM)
            return ct_fail(err, "%s: %s %lld is larger than ctrace supports (%d)", path, big[i].what,
                           (long long)big[i].v, CT_CONFIG_MAX_DIM);
    if (c->n_heads % c->n_kv_heads)
        return ct_fail(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                       path, c->n_heads, c->n_kv_heads);
    if ((c->family == CT_FAM_GPT2 || c->family == CT_FAM_GPTJ || c->family == CT_FAM_NEOX ||
         c->family == CT_FAM_PHI) && (int64_t)c->head_dim * c->n_heads != c->d_model)
        return ct_fail(err, "%s: hidden size %d is not divisible by the %d heads", path, c->d_model, c->n_heads);
    if (c->rope != CT_ROPE_NONE && (c->rotary_dim < 2 || c->rotary_dim > c->head_dim || c->rotary_dim % 2))
        return ct_fail(err, "%s: rotary dimension %d must be even and within the head dimension %d",
                       path, c->rotary_dim, c->head_dim);
    if (!(c->norm_eps >= 0)) return ct_fail(err, "%s: negative norm epsilon", path);
    if (c->rope != CT_ROPE_NONE && !(c->rope_theta > 0)) return ct_fail(err, "%s: rope_theta must be positive", path);
    return 0;
}

int ct_config_parse(struct ct_config *cfg, const char *json_text, const char *path, ct_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = ct_json_parse(json_text, strlen(json_text));   /* duplicate keys: the last, as transformers */
    if (!root) return ct_fail(err, "%s: malformed JSON", path);
    int rc = -1;
    jctx j = {root, path, err};
    if (!cJSON_IsObject(root)) { ct_fail(err, "%s: not a JSON object", path); goto out; }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) { ct_fail(err, "%s: no \"model_type\" string", path); goto out; }
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt->valuestring);
    cfg->torch_dtype = parse_dtype(get_str(&j, "torch_dtype", NULL));
    cfg->rope_factor = 1;
    const char *t = cfg->model_type;
    if (!strcmp(t, "llama") || !strcmp(t, "mistral") || !strcmp(t, "qwen2") || !strcmp(t, "gemma") ||
        !strcmp(t, "gemma2") || !strcmp(t, "phi3"))
        rc = parse_llama_like(&j, cfg);
    else if (!strcmp(t, "gpt2")) rc = parse_gpt2(&j, cfg);
    else if (!strcmp(t, "gptj")) rc = parse_gptj(&j, cfg);
    else if (!strcmp(t, "gpt_neox")) rc = parse_neox(&j, cfg);
    else if (!strcmp(t, "phi")) rc = parse_phi(&j, cfg);
    else {
        ct_fail(err, "%s: unknown model_type \"%s\" (supported: llama, mistral, qwen2, gemma, gemma2, phi3, gpt2, gptj, gpt_neox, phi)",
                path, t);
        goto out;
    }
    if (rc == 0) rc = check_sizes(cfg, path, err);
out:
    cJSON_Delete(root);
    return rc;
}
