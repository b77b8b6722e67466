/* tiny_gpt2.h — writes a tiny random GPT-2-layout model directory with GPT-2's
 * real 50257-token vocabulary: config.json, model.safetensors and (from the
 * fixtures) tokenizer.json.  For end-to-end tests that need a real tokenizer
 * and a loadable checkpoint but not meaningful numbers (those are checked
 * against transformers and ROME elsewhere).  Include after harness.h. */
#ifndef CT_TEST_TINY_GPT2_H
#define CT_TEST_TINY_GPT2_H
#include <stdint.h>
#include "ctrace_app.h"

enum { TG_V = 50257, TG_D = 32, TG_L = 3, TG_FF = 64 };

/* n values, uniform with standard deviation `scale`, plus `add`; deterministic in *state. */
static float *tg_filled(uint64_t *state, size_t n, float scale, float add)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; x && i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = (float)((*state >> 40) & 0xffffff) / 16777216.0f - 0.5f;   /* variance 1/12 */
        x[i] = scale * u * 3.4641f + add;
    }
    return x;
}

static int tg_copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    if (!a || !b) { if (a) fclose(a); return -1; }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    fclose(a);
    return fclose(b);
}

/* Writes DIR/{config.json, model.safetensors, tokenizer.json}; 0 / -1 (printed). */
static int tiny_gpt2_write(const char *dir, int n_positions, uint64_t seed)
{
    enum { NT = 4 + 12 * TG_L };
    const int D = TG_D, FF = TG_FF;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) { printf("tiny_gpt2: cannot write %s\n", path); return -1; }
    fprintf(f, "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": %d, \"n_layer\": %d,"
               " \"n_head\": 2, \"n_inner\": %d, \"n_positions\": %d, \"vocab_size\": %d, \"activation_function\": \"gelu_new\","
               " \"layer_norm_epsilon\": 1e-05, \"bos_token_id\": 50256, \"eos_token_id\": 50256}\n",
            D, TG_L, FF, n_positions, TG_V);
    fclose(f);
    static const char *suffix[12] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
        "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
        "mlp.c_proj.weight", "mlp.c_proj.bias"};
    const int shp[12][2] = {{D, 0}, {D, 0}, {D, 3 * D}, {3 * D, 0}, {D, D}, {D, 0},
                            {D, 0}, {D, 0}, {D, FF}, {FF, 0}, {FF, D}, {D, 0}};
    ct_st_out t[NT];
    float *bufs[NT];
    char names[NT][64];
    int n = 0;
#define TG_ADD(nd, s0, s1, scale, add) do { bufs[n] = tg_filled(&seed, (size_t)(s0) * ((nd) == 2 ? (size_t)(s1) : 1), scale, add); \
        t[n] = (ct_st_out){names[n], CT_F32, nd, {s0, s1}, bufs[n]}; n++; } while (0)
    snprintf(names[n], 64, "transformer.wte.weight"); TG_ADD(2, TG_V, D, 0.5f, 0);
    snprintf(names[n], 64, "transformer.wpe.weight"); TG_ADD(2, n_positions, D, 0.1f, 0);
    snprintf(names[n], 64, "transformer.ln_f.weight"); TG_ADD(1, D, 0, 0, 1);
    snprintf(names[n], 64, "transformer.ln_f.bias"); TG_ADD(1, D, 0, 0, 0);
    for (int l = 0; l < TG_L; l++)
        for (int k = 0; k < 12; k++) {
            snprintf(names[n], 64, "transformer.h.%d.%s", l, suffix[k]);
            int is_w = shp[k][1] != 0, is_ln_w = k == 0 || k == 6;
            TG_ADD(is_w ? 2 : 1, shp[k][0], shp[k][1], is_w ? 0.4f : (is_ln_w ? 0 : 0.02f), is_ln_w ? 1.0f : 0);
        }
#undef TG_ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ct_err e;
    int rc = ct_st_write(path, t, n, NULL, &e);
    if (rc) printf("tiny_gpt2: %s\n", e.msg);
    for (int i = 0; i < n; i++) free(bufs[i]);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!rc && tg_copy_file(ct_fixture("hf-tokenizers/gpt2/tokenizer.json"), path)) {
        printf("tiny_gpt2: cannot copy the GPT-2 tokenizer.json into %s\n", dir);
        rc = -1;
    }
    return rc;
}
#endif
