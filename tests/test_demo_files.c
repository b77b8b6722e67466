/* test_demo_files.c — the bundled demo model's files are what ctrace expects:
 * models/demo/model.safetensors passes the strict safetensors reader and holds
 * exactly the HF Llama tensors that models/demo/config.json implies (names,
 * F32, shapes), and the expected-logits fixture of the forward-pass test is
 * readable and consistent (ids in the vocabulary, logits [4, V], finite).
 * The reference is the HF Llama naming scheme, not anything ctrace produced. */
#include "ctrace_app.h"
#include "harness.h"

#include <cjson/cJSON.h>

static int cfg_int(const cJSON *c, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* The tensor NAME exists, is F32 and has shape [d0] or [d0, d1] (d1 < 0: 1-D). */
static void check_tensor(const ct_st_file *f, const char *name, int64_t d0, int64_t d1)
{
    const ct_tensor_view *t = ct_st_find(f, name);
    CHECK(t != NULL, "missing tensor %s", name);
    if (!t) return;
    CHECK(t->dtype == CT_F32, "%s: dtype %s, want F32", name, ct_dtype_name(t->dtype));
    int nd = d1 < 0 ? 1 : 2;
    CHECK(t->ndim == nd && t->shape[0] == d0 && (nd == 1 || t->shape[1] == d1),
          "%s: ndim %d shape [%lld, %lld], want [%lld, %lld]", name, t->ndim,
          (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : -1),
          (long long)d0, (long long)d1);
}

int main(void)
{
    TEST_BEGIN();
    ct_err err = {{0}};
    char *cfg_text = ct_slurp("models/demo/config.json", NULL);
    CHECK(cfg_text != NULL, "cannot read models/demo/config.json");
    cJSON *cfg = cJSON_Parse(cfg_text ? cfg_text : "");
    CHECK(cfg != NULL, "models/demo/config.json is not JSON");
    if (!cfg) return TEST_END();
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    CHECK(cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") == 0, "model_type is not llama");
    int L = cfg_int(cfg, "num_hidden_layers"), D = cfg_int(cfg, "hidden_size");
    int I = cfg_int(cfg, "intermediate_size"), V = cfg_int(cfg, "vocab_size");
    int H = cfg_int(cfg, "num_attention_heads"), KVH = cfg_int(cfg, "num_key_value_heads");
    int tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings"));
    CHECK(L > 0 && D > 0 && I > 0 && V > 0 && H > 0 && KVH > 0 && D % H == 0, "bad sizes in config");
    int KV = KVH * (D / H);

    ct_st_file f;
    CHECK_OK(ct_st_open(&f, "models/demo/model.safetensors", &err), &err);
    if (f.t) {
        char name[128];
        check_tensor(&f, "model.embed_tokens.weight", V, D);
        check_tensor(&f, "model.norm.weight", D, -1);
        for (int l = 0; l < L; l++) {
            static const char *proj[4] = {"q", "k", "v", "o"};
            for (int p = 0; p < 4; p++) {
                snprintf(name, sizeof name, "model.layers.%d.self_attn.%s_proj.weight", l, proj[p]);
                check_tensor(&f, name, (p == 1 || p == 2) ? KV : D, D);
            }
            snprintf(name, sizeof name, "model.layers.%d.mlp.gate_proj.weight", l);
            check_tensor(&f, name, I, D);
            snprintf(name, sizeof name, "model.layers.%d.mlp.up_proj.weight", l);
            check_tensor(&f, name, I, D);
            snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", l);
            check_tensor(&f, name, D, I);
            snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
            check_tensor(&f, name, D, -1);
            snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
            check_tensor(&f, name, D, -1);
        }
        if (!tied) check_tensor(&f, "lm_head.weight", V, D);
        int want = 2 + 9 * L + !tied;
        CHECK(f.n == want, "%d tensors, want %d (no extras)", f.n, want);
        ct_st_close(&f);
    }

    ct_st_file x;
    CHECK_OK(ct_st_open(&x, "tests/fixtures/demo_logits.safetensors", &err), &err);
    if (x.t) {
        int prompts = 0;
        for (int k = 0; k < 8; k++) {
            char in[32], lo[32];
            snprintf(in, sizeof in, "ids_%d", k);
            snprintf(lo, sizeof lo, "logits_%d", k);
            const ct_tensor_view *ids = ct_st_find(&x, in), *lg = ct_st_find(&x, lo);
            if (!ids) break;
            prompts++;
            CHECK(ids->dtype == CT_I32 && ids->ndim == 1 && ids->numel >= 4, "%s: want I32 [T >= 4]", in);
            const int32_t *p = ids->data;
            int ok = 1;
            for (int64_t i = 0; i < ids->numel; i++) ok &= p[i] >= 0 && p[i] < V;
            CHECK(ok, "%s: token id outside [0, %d)", in, V);
            CHECK(lg && lg->dtype == CT_F32 && lg->ndim == 2 && lg->shape[0] == 4 && lg->shape[1] == V,
                  "%s: want F32 [4, %d]", lo, V);
            if (lg) {
                const float *v = lg->data;
                int finite = 1;
                for (int64_t i = 0; i < lg->numel; i++) finite &= isfinite(v[i]);
                CHECK(finite, "%s: non-finite logits", lo);
            }
        }
        CHECK(prompts == 3, "%d prompts in the fixture, want 3", prompts);
        ct_st_close(&x);
    }
    cJSON_Delete(cfg);
    free(cfg_text);
    return TEST_END();
}
