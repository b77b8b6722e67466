/* test_tokenizer_vectors.c — llama.cpp's 46 tokenizer test strings, whose
 * expected ids were produced by Hugging Face tokenizers
 * (add_special_tokens=False), against every tokenizer.json they belong to.
 * tests/fixtures/MANIFEST.md says which tokenizer.json goes with which vectors. */
#include "ctrace_app.h"
#include "harness.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

static void run_case(const char *tok_rel, const char *inp_rel, const char *out_rel)
{
    ct_err err = {{0}};
    ct_tokenizer *tok = NULL;
    int rc = ct_tokenizer_load(&tok, ct_fixture(tok_rel), &err);
    CHECK(rc == 0, "load %s: %s", tok_rel, err.msg);
    if (rc) return;
    size_t il, ol;
    char *inp = ct_slurp(ct_fixture(inp_rel), &il), *outp = ct_slurp(ct_fixture(out_rel), &ol);
    CHECK(inp && outp, "cannot read %s / %s", inp_rel, out_rel);
    if (!inp || !outp) { free(inp); free(outp); ct_tokenizer_free(tok); return; }
    char *p = inp, *line = outp;
    int ncase = 0, nok = 0;
    for (;;) {
        char *sep = strstr(p, SEP);
        if (!sep) break;
        char *nl = strchr(line, '\n');
        if (!nl) { CHECK(0, "%s: fewer output lines than inputs", out_rel); break; }
        *nl = 0;
        int32_t want[512];
        int nw = 0;
        for (char *q = line; *q;) {
            while (*q == ' ') q++;
            if (!*q) break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        ct_encoding e;
        rc = ct_encode(tok, p, (size_t)(sep - p), 0, &e, &err);
        int same = rc == 0 && e.n == nw;
        for (int i = 0; same && i < nw; i++) same = e.ids[i] == want[i];
        ncase++;
        nok += same;
        if (!same) {
            printf("  %s case %d \"%.*s\": want", tok_rel, ncase, (int)(sep - p), p);
            for (int i = 0; i < nw; i++) printf(" %d", want[i]);
            printf("\n    got ");
            if (rc) printf("error %s", err.msg);
            for (int i = 0; !rc && i < e.n; i++) printf(" %d", e.ids[i]);
            printf("\n");
        }
        CHECK(same, "%s: vector %d differs", out_rel, ncase);
        if (!rc) ct_encoding_free(&e);
        p = sep + sizeof SEP - 1;
        line = nl + 1;
    }
    printf("%s vs %s: %d/%d exact\n", tok_rel, out_rel, nok, ncase);
    CHECK(ncase == 46, "%s: %d cases, want 46", inp_rel, ncase);
    free(inp);
    free(outp);
    ct_tokenizer_free(tok);
}

#define LC "llamacpp/ggml-vocab-"
#define HF "hf-tokenizers/"

int main(void)
{
    TEST_BEGIN();
    run_case(HF "gpt2/tokenizer.json", LC "gpt-2.gguf.inp", LC "gpt-2.gguf.out");
    run_case(HF "gpt2/tokenizer.merges-as-pairs.json", LC "gpt-2.gguf.inp", LC "gpt-2.gguf.out");
    run_case(HF "gpt-neox-20b/tokenizer.json", LC "mpt.gguf.inp", LC "mpt.gguf.out");
    run_case(HF "llama3/tokenizer.json", LC "llama-bpe.gguf.inp", LC "llama-bpe.gguf.out");
    run_case(HF "qwen2.5/tokenizer.json", LC "qwen2.gguf.inp", LC "qwen2.gguf.out");
    run_case(HF "qwen2.5/tokenizer.json", LC "deepseek-r1-qwen.gguf.inp", LC "deepseek-r1-qwen.gguf.out");
    run_case(HF "llama2", LC "llama-spm.gguf.inp", LC "llama-spm.gguf.out");
    run_case(HF "llama2/tokenizer.json", LC "phi-3.gguf.inp", LC "phi-3.gguf.out");
    run_case(HF "mistral-7b-v0.1", LC "llama-spm.gguf.inp", HF "mistral-7b-v0.1/vectors_llamacpp_inputs.out");
    return TEST_END();
}
