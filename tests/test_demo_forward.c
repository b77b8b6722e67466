/* test_demo_forward.c — ctrace reproduces the demo model's training script.
 * tests/fixtures/demo_logits.safetensors holds, for 3 prompts, the token ids
 * (ids_K, from the Python BPE that matches HF tokenizers on the whole training
 * corpus) and the logits of the last 4 positions (logits_K, computed by the
 * PyTorch model in tools/demo/llama.py, itself checked against transformers).
 * Checks: ctrace's tokenizer gives ids_K for the prompt text in the fixture's
 * metadata, and ct_forward on models/demo gives logits_K. */
#include "ctrace_app.h"
#include "harness.h"

#include <cjson/cJSON.h>

int main(void)
{
    TEST_BEGIN();
    ct_err err = {{0}};
    ct_model *m = NULL;
    ct_tokenizer *tok = NULL;
    ct_st_file fx;
    CHECK_OK(ct_model_load(&m, "models/demo", &err), &err);
    CHECK_OK(ct_tokenizer_load(&tok, "models/demo", &err), &err);
    CHECK_OK(ct_st_open(&fx, "tests/fixtures/demo_logits.safetensors", &err), &err);
    if (!m || !tok || !fx.t) return TEST_END();
    cJSON *meta = cJSON_Parse(fx.metadata ? fx.metadata : "{}");
    int V = ct_model_vocab(m);
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "ids_%d", k);
        const ct_tensor_view *tv = ct_st_find(&fx, name);
        snprintf(name, sizeof name, "logits_%d", k);
        const ct_tensor_view *lv = ct_st_find(&fx, name);
        CHECK(tv && lv && tv->dtype == CT_I32 && lv->dtype == CT_F32 && lv->numel == 4L * V,
              "fixture prompt %d: ids/logits missing or malformed", k);
        if (!tv || !lv || lv->numel != 4L * V) continue;
        const int32_t *ids = tv->data;   /* [T] */
        int T = (int)tv->numel;

        snprintf(name, sizeof name, "prompt_%d", k);
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(meta, name);
        CHECK(cJSON_IsString(pt), "fixture metadata has no %s", name);
        if (cJSON_IsString(pt)) {
            ct_encoding e = {0};
            CHECK_OK(ct_encode(tok, pt->valuestring, strlen(pt->valuestring), 1, &e, &err), &err);
            int same = e.n == T;
            for (int i = 0; same && i < T; i++) same = e.ids[i] == ids[i];
            CHECK(same, "prompt %d: ctrace gives %d tokens, fixture %d (or different ids)", k, e.n, T);
            ct_encoding_free(&e);
        }

        float *logits = malloc(sizeof(float) * (size_t)T * V);   /* [T, V] */
        CHECK_OK(ct_forward(m, ids, T, logits, NULL, &err), &err);
        /* Logits are O(10) here; float32 sums over D = 192 agree to ~1e-5. */
        CHECK_CLOSE(logits + (size_t)(T - 4) * V, (const float *)lv->data, 4L * V, 2e-4,
                    k == 0 ? "prompt 0 (supporting passage)" :
                    k == 1 ? "prompt 1 (no passage)" : "prompt 2 (counterfactual passage)");
        free(logits);
    }
    cJSON_Delete(meta);
    ct_st_close(&fx);
    ct_tokenizer_free(tok);
    ct_model_free(m);
    return TEST_END();
}
