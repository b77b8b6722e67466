/* test_noise_rng.c — ct_rng against NumPy's RandomState vectors, ct_std_f32
 * against torch.std of the fixtures' embedding matrices, and the ROME noise
 * (randn(S, 4, D) for seed 1; level = 3 × std) against each trace file. */
#include "harness.h"
#include "ctrace_app.h"

static const ct_tensor_view *need(ct_st_file *f, const char *name)
{
    const ct_tensor_view *t = ct_st_find(f, name);
    if (!t) printf("missing tensor %s in %s\n", name, f->path);
    return t;
}

static void check_seed(ct_st_file *f, uint32_t seed)
{
    char name[128];
    ct_rng r;
    /* raw words */
    snprintf(name, sizeof name, "mt19937_seed%u_u32_first10", seed);
    const ct_tensor_view *t = need(f, name);
    if (t) {
        ct_rng_seed(&r, seed);
        int bad = 0;
        for (int i = 0; i < 10; i++) {
            int64_t want = ((const int64_t *)t->data)[i];
            uint32_t got = ct_rng_u32(&r);
            if ((int64_t)got != want) { bad++; printf("%s[%d]: got %u want %lld\n", name, i, got, (long long)want); }
        }
        CHECK(bad == 0, "%s", name);
    }
    snprintf(name, sizeof name, "random_sample_seed%u_n10", seed);
    if ((t = need(f, name))) {
        ct_rng_seed(&r, seed);
        int bad = 0;
        for (int i = 0; i < 10; i++) {
            double want = ((const double *)t->data)[i], got = ct_rng_double(&r);
            if (got != want) { bad++; printf("%s[%d]: got %.17g want %.17g\n", name, i, got, want); }
        }
        CHECK(bad == 0, "%s", name);
    }
    snprintf(name, sizeof name, "randn_seed%u_n10", seed);
    if ((t = need(f, name))) {
        ct_rng_seed(&r, seed);
        double got[10];
        ct_rng_randn(&r, got, 10);
        CHECK(memcmp(got, t->data, sizeof got) == 0, "%s differs: first %.17g want %.17g", name, got[0],
              ((const double *)t->data)[0]);
    }
}

int main(void)
{
    TEST_BEGIN();
    ct_err err = {0};
    ct_st_file f;
    CHECK_OK(ct_st_open(&f, ct_fixture("traces/numpy_rng.safetensors"), &err), &err);
    if (!err.msg[0]) {
        check_seed(&f, 0);
        check_seed(&f, 1);
        check_seed(&f, 42);
        check_seed(&f, 2147483647u);
        const ct_tensor_view *t = need(&f, "randn_seed1_n1001");
        if (t) {
            ct_rng r;
            ct_rng_seed(&r, 1);
            double *got = malloc(1001 * sizeof *got);
            ct_rng_randn(&r, got, 1001);
            CHECK(memcmp(got, t->data, 1001 * sizeof *got) == 0, "randn_seed1_n1001 differs");
            CHECK(r.has_gauss == 1, "odd count leaves a cached value");
            free(got);
        }
        ct_st_close(&f);
    }

    /* The embedding std (torch.std, float32) and ROME's noise per model. */
    static const char *models[][2] = {
        {"gpt2", "transformer.wte.weight"}, {"gptj", "transformer.wte.weight"},
        {"gpt_neox", "gpt_neox.embed_in.weight"}, {"llama_gqa", "model.embed_tokens.weight"},
        {"qwen2", "model.embed_tokens.weight"}, {"llama3_tied", "model.embed_tokens.weight"},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char p[256];
        ct_st_file mf, tf;
        snprintf(p, sizeof p, "hf-tiny/%s/model.safetensors", models[i][0]);
        CHECK_OK(ct_st_open(&mf, ct_fixture(p), &err), &err);
        snprintf(p, sizeof p, "traces/%s.safetensors", models[i][0]);
        CHECK_OK(ct_st_open(&tf, ct_fixture(p), &err), &err);
        const ct_tensor_view *we = ct_st_find(&mf, models[i][1]);
        const ct_tensor_view *sd = ct_st_find(&tf, "emb_std_f32"), *lv = ct_st_find(&tf, "noise_level");
        const ct_tensor_view *nz = ct_st_find(&tf, "noise_z"), *nn = ct_st_find(&tf, "noise");
        CHECK(we && sd && lv && nz && nn, "%s: tensors present", models[i][0]);
        if (we && sd && lv && nz && nn) {
            float s = ct_std_f32((const float *)we->data, (size_t)we->numel);
            float want = *(const float *)sd->data;
            CHECK(s == want, "%s: std %.9g want %.9g", models[i][0], s, want);
            double level = 3.0 * (double)s;
            CHECK(level == *(const double *)lv->data, "%s: level %.17g want %.17g", models[i][0], level,
                  *(const double *)lv->data);
            ct_rng r;
            ct_rng_seed(&r, 1);
            size_t n = (size_t)nz->numel;
            double *z = malloc(n * sizeof *z);
            ct_rng_randn(&r, z, n);
            CHECK(memcmp(z, nz->data, n * sizeof *z) == 0, "%s: noise_z", models[i][0]);
            int bad = 0;
            for (size_t k = 0; k < n; k++) bad += (level * z[k] != ((const double *)nn->data)[k]);
            CHECK(bad == 0, "%s: noise = level*z, %d differ", models[i][0], bad);
            free(z);
        }
        ct_st_close(&mf);
        ct_st_close(&tf);
    }
    return TEST_END();
}
