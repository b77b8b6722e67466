/* test_run.c — `ctrace run` end to end.  Writes a tiny random GPT-2-layout
 * model (3 layers, width 32) with GPT-2's real vocabulary and tokenizer.json
 * into a temporary directory, then runs tests/run_e2e.sh on it, which drives
 * the binary ($CTRACE_BIN) the way users do: the seed's command line on real
 * peq-both rows, artefacts, resume after kill -9, bad rows, shards + average,
 * bad paths.  The numbers inside the case files are the engine's (checked
 * against ROME in test_trace_rome / test_trace_fast_vs_naive); here the
 * point is the run: files, names, spans, skipping, resuming. */
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace.h"

enum { V = 50257, D = 32, NL = 3, P = 256, FF = 64 };

static uint64_t lcg = 987654321;
static float *filled(size_t n, float scale, float add)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = (float)((lcg >> 40) & 0xffffff) / 16777216.0f - 0.5f;   /* uniform, variance 1/12 */
        x[i] = scale * u * 3.4641f + add;
    }
    return x;
}

static int write_model(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": %d, \"n_layer\": %d,"
               " \"n_head\": 2, \"n_inner\": %d, \"n_positions\": %d, \"vocab_size\": %d, \"activation_function\": \"gelu_new\","
               " \"layer_norm_epsilon\": 1e-05, \"bos_token_id\": 50256, \"eos_token_id\": 50256}\n", D, NL, FF, P, V);
    fclose(f);
    enum { NT = 4 + 12 * NL };
    ct_st_out t[NT];
    float *bufs[NT];
    char names[NT][64];
    static const char *suffix[12] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
        "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
        "mlp.c_proj.weight", "mlp.c_proj.bias"};
    const int shp[12][2] = {{D, 0}, {D, 0}, {D, 3 * D}, {3 * D, 0}, {D, D}, {D, 0},
                            {D, 0}, {D, 0}, {D, FF}, {FF, 0}, {FF, D}, {D, 0}};
    int n = 0;
#define ADD(nd, s0, s1, scale, add) do { bufs[n] = filled((size_t)(s0) * ((nd) == 2 ? (size_t)(s1) : 1), scale, add); \
        t[n] = (ct_st_out){names[n], CT_F32, nd, {s0, s1}, bufs[n]}; n++; } while (0)
    snprintf(names[n], 64, "transformer.wte.weight"); ADD(2, V, D, 0.5f, 0);
    snprintf(names[n], 64, "transformer.wpe.weight"); ADD(2, P, D, 0.1f, 0);
    snprintf(names[n], 64, "transformer.ln_f.weight"); ADD(1, D, 0, 0, 1);
    snprintf(names[n], 64, "transformer.ln_f.bias"); ADD(1, D, 0, 0, 0);
    for (int l = 0; l < NL; l++)
        for (int k = 0; k < 12; k++) {
            snprintf(names[n], 64, "transformer.h.%d.%s", l, suffix[k]);
            int is_w = shp[k][1] != 0, is_ln_w = k == 0 || k == 6;
            ADD(is_w ? 2 : 1, shp[k][0], shp[k][1], is_w ? 0.4f : (is_ln_w ? 0 : 0.02f), is_ln_w ? 1.0f : 0);
        }
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ct_err e;
    int rc = ct_st_write(path, t, n, NULL, &e);
    if (rc) printf("write_model: %s\n", e.msg);
    for (int i = 0; i < n; i++) free(bufs[i]);
    return rc;
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    if (!a || !b) { if (a) fclose(a); return -1; }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    fclose(a);
    return fclose(b);
}

int main(void)
{
    TEST_BEGIN();
    char dir[] = "/tmp/ct_test_run_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char model[600], tok[700];
    snprintf(model, sizeof model, "%s/model", dir);
    mkdir(model, 0777);
    CHECK(write_model(model) == 0, "model written");
    snprintf(tok, sizeof tok, "%s/tokenizer.json", model);
    CHECK(copy_file(ct_shared("assets/tokenizers/hf/gpt2/tokenizer.json"), tok) == 0, "tokenizer copied");
    ct_err e;
    CHECK_OK(ct_model_check(model, NULL, NULL, &e), &e);

    /* the CLI part: tests/run_e2e.sh MODEL WORK (run from the repository root, as `make test` does) */
    const char *script = access("tests/run_e2e.sh", R_OK) == 0 ? "tests/run_e2e.sh" : NULL;
    CHECK(script != NULL, "tests/run_e2e.sh found (run from the repository root)");
    if (script) {
        char cmd[2000], line[4096];
        snprintf(cmd, sizeof cmd, "sh %s '%s' '%s/work' 2>&1", script, model, dir);
        FILE *p = popen(cmd, "r");
        int n = -1, nf = -1;
        /* the script's checks count as this test's: its last line "run_e2e.sh: N checks, F failed" */
        while (p && fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            sscanf(line, "run_e2e.sh: %d checks, %d failed", &n, &nf);
        }
        int st = p ? pclose(p) : -1;
        if (n >= 0 && nf >= 0) { ct_t_pass += n - nf; ct_t_fail += nf; }
        CHECK(st == 0 && n > 0, "tests/run_e2e.sh failed (status %d): see the FAIL lines above", st);
    }
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (getenv("CT_KEEP_RUN")) printf("kept %s\n", dir);
    else if (system(rm)) {}
    return TEST_END();
}
