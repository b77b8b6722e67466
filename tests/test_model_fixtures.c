/* test_model_fixtures.c — ct_forward against transformers 4.47.1 on every
 * tiny fixture in tests/fixtures/hf-tiny: logits [T, V] and the residual stream
 * [L+1, T, D] (hidden states 0..L-1 plus the pre-final-norm last layer
 * output) on the three reference sequences, max |diff| <= 1e-4; also the
 * rotary frequencies, and that the thread count changes no bit. */
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"
#include "harness.h"
#include "model/model.h"

static const struct { const char *name; double tol; } fixtures[] = {
    {"llama_gqa", 1e-4}, {"llama3_tied", 1e-4}, {"mistral", 1e-4}, {"qwen2", 1e-4},
    {"llama_bf16", 1e-4}, {"gpt2", 1e-4}, {"gptj", 1e-4}, {"gpt_neox", 1e-4}, {"phi", 1e-4},
    {"gemma", 1e-4}, {"gemma2", 1e-4}, {"phi3", 1e-4},
};

static float *ref(const ct_st_file *f, const char *name, int64_t want_numel)
{
    const ct_tensor_view *t = ct_st_find(f, name);
    if (!t || t->numel != want_numel) {
        printf("FAIL reference tensor %s missing or of unexpected size\n", name);
        return NULL;
    }
    return ct_tensor_to_f32(t);
}

static void check_fixture(const char *name, double tol, double *worst_logit, double *worst_resid)
{
    char dir[4096], refs_path[4200];
    snprintf(dir, sizeof dir, "%s", ct_fixture("hf-tiny/"));
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    snprintf(refs_path, sizeof refs_path, "%s/refs.safetensors", dir);
    ct_err err = {{0}};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    if (!m) return;
    ct_st_file rf;
    CHECK_OK(ct_st_open(&rf, refs_path, &err), &err);
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m), V = ct_model_vocab(m);
    *worst_logit = *worst_resid = 0;

    const ct_tensor_view *ifr = ct_st_find(&rf, "rope_inv_freq");
    if (ifr) {
        /* recompute through the public config: same float32 recipe as transformers */
        const struct ct_config *c = ct_model_config(m);
        float *want = ct_tensor_to_f32(ifr);
        CHECK(ifr->numel == c->rotary_dim / 2, "%s: %lld rotary frequencies, config gives %d", name,
              (long long)ifr->numel, c->rotary_dim / 2);
        if (ifr->numel == c->rotary_dim / 2) {
            char label[128];
            snprintf(label, sizeof label, "%s rope inv_freq", name);
            CHECK_CLOSE(m->inv_freq, want, (long)ifr->numel, 1e-6 * want[0], label);
        }
        free(want);
    }

    for (int s = 0; s < 3; s++) {
        char key[64];
        snprintf(key, sizeof key, "seq%d_ids", s);
        const ct_tensor_view *iv = ct_st_find(&rf, key);
        CHECK(iv != NULL, "%s: no %s", name, key);
        if (!iv) continue;
        int T = (int)iv->numel;
        int32_t *ids = malloc((size_t)T * sizeof *ids);
        memcpy(ids, iv->data, (size_t)T * sizeof *ids);
        float *logits = malloc((size_t)T * V * sizeof(float));
        float *resid = malloc((size_t)(L + 1) * T * D * sizeof(float));
        ct_set_threads(2);
        CHECK_OK(ct_forward(m, ids, T, logits, resid, &err), &err);

        snprintf(key, sizeof key, "seq%d_logits", s);
        float *wl = ref(&rf, key, (int64_t)T * V);
        snprintf(key, sizeof key, "seq%d_hidden", s);
        float *wh = ref(&rf, key, (int64_t)(L + 1) * T * D);
        snprintf(key, sizeof key, "seq%d_last_layer_out", s);
        float *wlast = ref(&rf, key, (int64_t)T * D);
        char label[128];
        if (wl) {
            snprintf(label, sizeof label, "%s seq%d logits", name, s);
            double d = ct_max_abs_diff(logits, wl, (long)T * V, NULL);
            if (d > *worst_logit) *worst_logit = d;
            CHECK_CLOSE(logits, wl, (long)T * V, tol, label);
        }
        if (wh && wlast) {
            /* hidden[0..L-1] are resid[0..L-1]; hidden[L] is after the final norm, so
             * resid[L] is compared with last_layer_out */
            memcpy(wh + (size_t)L * T * D, wlast, (size_t)T * D * sizeof(float));
            snprintf(label, sizeof label, "%s seq%d resid", name, s);
            double d = ct_max_abs_diff(resid, wh, (long)(L + 1) * T * D, NULL);
            if (d > *worst_resid) *worst_resid = d;
            CHECK_CLOSE(resid, wh, (long)(L + 1) * T * D, tol, label);
        }
        if (s == 2) {
            /* one thread must give the same bits as two */
            float *l1 = malloc((size_t)T * V * sizeof(float));
            ct_set_threads(1);
            CHECK_OK(ct_forward(m, ids, T, l1, NULL, &err), &err);
            ct_set_threads(2);
            CHECK(memcmp(l1, logits, (size_t)T * V * sizeof(float)) == 0, "%s: logits differ between 1 and 2 threads", name);
            free(l1);
        }
        free(wl); free(wh); free(wlast); free(ids); free(logits); free(resid);
    }
    ct_st_close(&rf);
    ct_model_free(m);
}

int main(int argc, char **argv)
{
    TEST_BEGIN();
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        if (argc > 1 && strcmp(argv[1], fixtures[i].name)) continue;
        double dl, dr;
        check_fixture(fixtures[i].name, fixtures[i].tol, &dl, &dr);
        printf("  %-12s max |dlogit| %.2e  max |dresid| %.2e\n", fixtures[i].name, dl, dr);
    }
    return TEST_END();
}
