/* test_config.c — config.json resolution: transformers' class defaults when
 * keys are absent, family-specific key names, and refusal (with the key named)
 * of variants that would change the math but are not implemented. */
#include <string.h>
#include "ctrace_app.h"
#include "harness.h"

static struct ct_config cfg;
static ct_err err;

static int parse(const char *json) { memset(&err, 0, sizeof err); return ct_config_parse(&cfg, json, "config.json", &err); }

static void refused(const char *json, const char *needle)
{
    int rc = parse(json);
    CHECK(rc == -1, "accepted: %s", json);
    CHECK(strstr(err.msg, needle) && strstr(err.msg, "config.json"), "message '%s' lacks '%s'", err.msg, needle);
}

int main(void)
{
    TEST_BEGIN();
    /* llama: untied by default, head_dim = D / H, KV heads = H, silu gated, rms eps 1e-6 */
    CHECK_OK(parse("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_hidden_layers\": 2,"
                   " \"intermediate_size\": 96, \"vocab_size\": 100}"), &err);
    CHECK(!cfg.tie_embeddings && cfg.head_dim == 16 && cfg.n_kv_heads == 4 && cfg.gated_mlp && cfg.act == CT_ACT_SILU &&
          cfg.norm == CT_NORM_RMS && cfg.norm_eps == 1e-6f && cfg.rotary_dim == 16 && !cfg.rope_interleaved &&
          cfg.rope_theta == 10000 && cfg.max_positions == 2048 && !cfg.qkv_bias, "llama defaults");
    CHECK(cfg.attn_scale == 0.25f, "llama scale %g", cfg.attn_scale);
    /* llama attention_bias gives q, k, v and o biases; mlp_bias the MLP's */
    CHECK_OK(parse("{\"model_type\": \"llama\", \"attention_bias\": true, \"mlp_bias\": true}"), &err);
    CHECK(cfg.qkv_bias && cfg.o_bias && cfg.mlp_bias, "llama biases");
    /* rope scaling */
    CHECK_OK(parse("{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}"), &err);
    CHECK(cfg.rope == CT_ROPE_LINEAR && cfg.rope_factor == 2, "linear rope");
    CHECK_OK(parse("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0,"
                   " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}"), &err);
    CHECK(cfg.rope == CT_ROPE_LLAMA3 && cfg.rope_original_max == 8192, "llama3 rope");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}", "yarn");
    refused("{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 4.0}}", "dynamic");
    refused("{\"model_type\": \"llama\", \"hidden_act\": \"swiglu_x\"}", "hidden_act");
    refused("{\"model_type\": \"llama\", \"num_attention_heads\": 6, \"num_key_value_heads\": 4}", "num_key_value_heads");
    refused("{\"model_type\": \"llama\", \"hidden_size\": -3}", "hidden_size");
    /* qwen2: q/k/v biases always, o none; the sliding window only with use_sliding_window */
    CHECK_OK(parse("{\"model_type\": \"qwen2\", \"sliding_window\": 4096, \"use_sliding_window\": false}"), &err);
    CHECK(cfg.qkv_bias && !cfg.o_bias && !cfg.sliding_window, "qwen2");
    refused("{\"model_type\": \"qwen2\", \"use_sliding_window\": true}", "use_sliding_window");
    /* mistral: sliding window from config */
    CHECK_OK(parse("{\"model_type\": \"mistral\", \"sliding_window\": 4096}"), &err);
    CHECK(cfg.sliding_window == 4096 && !cfg.sliding_every_other, "mistral window");
    /* gemma: tied by default, (1 + w) norm, sqrt(D) embeddings, head_dim 256 default */
    CHECK_OK(parse("{\"model_type\": \"gemma\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 1}"), &err);
    CHECK(cfg.tie_embeddings && cfg.norm == CT_NORM_RMS_1P && cfg.scale_embeddings && cfg.head_dim == 256 &&
          cfg.act == CT_ACT_GELU_TANH, "gemma defaults");
    refused("{\"model_type\": \"gemma\", \"hidden_act\": \"gelu\", \"hidden_activation\": \"gelu_pytorch_tanh\"}", "disagree");
    CHECK_OK(parse("{\"model_type\": \"gemma\", \"hidden_act\": \"gelu\"}"), &err);
    CHECK(cfg.act == CT_ACT_GELU, "gemma hidden_act alone");
    /* gemma2: soft-caps default on, null turns them off; scale from query_pre_attn_scalar */
    CHECK_OK(parse("{\"model_type\": \"gemma2\", \"head_dim\": 16, \"query_pre_attn_scalar\": 16}"), &err);
    CHECK(cfg.attn_softcap == 50 && cfg.final_softcap == 30 && cfg.attn_scale == 0.25f && cfg.post_norms &&
          cfg.sliding_window == 4096 && cfg.sliding_every_other, "gemma2 defaults");
    CHECK_OK(parse("{\"model_type\": \"gemma2\", \"attn_logit_softcapping\": null, \"final_logit_softcapping\": null}"), &err);
    CHECK(cfg.attn_softcap == 0 && cfg.final_softcap == 0, "gemma2 caps off");
    /* gpt2: tied, n_inner null = 4D, learned positions, gelu_new, scale_attn_weights */
    CHECK_OK(parse("{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_head\": 4, \"n_inner\": null}"), &err);
    CHECK(cfg.tie_embeddings && cfg.d_ff == 256 && cfg.learned_positions && cfg.rope == CT_ROPE_NONE &&
          cfg.act == CT_ACT_GELU_TANH && cfg.norm == CT_NORM_LAYER && cfg.norm_eps == 1e-5f && cfg.attn_scale == 0.25f &&
          cfg.qkv_bias && cfg.o_bias && cfg.mlp_bias && !cfg.parallel, "gpt2 defaults");
    CHECK_OK(parse("{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_head\": 4, \"scale_attn_weights\": false, \"layer_norm_epsilon\": 1e-3}"), &err);
    CHECK(cfg.attn_scale == 1 && cfg.norm_eps == 1e-3f, "gpt2 unscaled attention, eps");
    refused("{\"model_type\": \"gpt2\", \"scale_attn_by_inverse_layer_idx\": true}", "scale_attn_by_inverse_layer_idx");
    refused("{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_head\": 5}", "not divisible");
    /* gptj: parallel one norm, interleaved rotary on rotary_dim, lm_head bias, untied */
    CHECK_OK(parse("{\"model_type\": \"gptj\", \"n_embd\": 64, \"n_head\": 4, \"rotary_dim\": 8}"), &err);
    CHECK(cfg.parallel && !cfg.parallel_two_norms && cfg.rope_interleaved && cfg.rotary_dim == 8 && cfg.lm_head_bias &&
          !cfg.tie_embeddings && !cfg.qkv_bias && !cfg.o_bias && cfg.mlp_bias, "gptj");
    CHECK_OK(parse("{\"model_type\": \"gptj\", \"n_embd\": 64, \"n_head\": 4, \"rotary_dim\": null}"), &err);
    CHECK(cfg.rotary_dim == 16, "gptj rotary_dim null = head_dim (%d)", cfg.rotary_dim);
    refused("{\"model_type\": \"gptj\", \"n_embd\": 64, \"n_head\": 4, \"rotary_dim\": 7}", "rotary dimension 7");
    /* gpt_neox: parallel two norms by default, sequential when asked; rotary_pct; erf gelu */
    CHECK_OK(parse("{\"model_type\": \"gpt_neox\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rotary_pct\": 0.25}"), &err);
    CHECK(cfg.parallel && cfg.parallel_two_norms && cfg.rotary_dim == 4 && cfg.act == CT_ACT_GELU && !cfg.tie_embeddings &&
          cfg.qkv_bias && cfg.o_bias, "neox");
    CHECK_OK(parse("{\"model_type\": \"gpt_neox\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rotary_pct\": 0.5,"
                   " \"use_parallel_residual\": false, \"layer_norm_eps\": 1e-6}"), &err);
    CHECK(!cfg.parallel && !cfg.parallel_two_norms && cfg.rotary_dim == 8 && cfg.norm_eps == 1e-6f, "neox sequential");
    /* phi: parallel one norm, partial rotary, biases everywhere */
    CHECK_OK(parse("{\"model_type\": \"phi\", \"hidden_size\": 64, \"num_attention_heads\": 4, \"partial_rotary_factor\": 0.5}"), &err);
    CHECK(cfg.parallel && !cfg.parallel_two_norms && cfg.rotary_dim == 8 && !cfg.rope_interleaved && cfg.lm_head_bias &&
          cfg.qkv_bias && cfg.o_bias && cfg.mlp_bias, "phi");
    refused("{\"model_type\": \"phi\", \"qk_layernorm\": true}", "qk_layernorm");
    refused("{\"model_type\": \"phi3\", \"partial_rotary_factor\": 0.5}", "partial_rotary_factor");
    refused("{\"model_type\": \"bert\"}", "unknown model_type");
    refused("[1, 2]", "not a JSON object");
    refused("{\"model_type\": ", "malformed JSON");
    return TEST_END();
}
