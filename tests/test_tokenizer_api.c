/* test_tokenizer_api.c — the small API around encoding: vocabulary sizes and
 * id <-> piece lookups (expected values from HF tokenizers' getVocabSize(true),
 * idToToken, tokenToId), BOS/EOS, token ranges, error handling for malformed
 * tokenizer.json files and bad input, and encoding from several threads. */
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

#define HF "hf-tokenizers/"

static ct_tokenizer *load(const char *rel)
{
    ct_err err = {{0}};
    ct_tokenizer *t = NULL;
    int rc = ct_tokenizer_load(&t, ct_fixture(rel), &err);
    CHECK(rc == 0, "load %s: %s", rel, err.msg);
    return rc ? NULL : t;
}

static void lookups(void)
{
    static const struct {
        const char *dir; int32_t vocab; const char *p13, *plast; int32_t bos, eos;
    } C[] = {
        {"gpt2", 50257, ".", "<|endoftext|>", 50256, 50256},
        {"gpt-neox-20b", 50277, ",", "  ", 0, 0},
        {"llama2", 32000, "<0x0A>", "\xe7\xbb\x99", 1, 2},
        {"mistral-7b-v0.1", 32000, "<0x0A>", "\xe6\xa2\xa6", 1, 2},
        {"llama3", 128256, ".", "<|reserved_special_token_250|>", 128000, 128001},
        {"qwen2.5", 151665, ".", "<|file_sep|>", -1, 151645},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, HF "%s", C[i].dir);
        ct_tokenizer *t = load(rel);
        if (!t) continue;
        int32_t v = ct_tokenizer_vocab_size(t);
        CHECK(v == C[i].vocab, "%s: vocab size %d, want %d", C[i].dir, v, C[i].vocab);
        const char *p = ct_id_to_token(t, 13);
        CHECK(p && !strcmp(p, C[i].p13), "%s: id 13 is \"%s\", want \"%s\"", C[i].dir, p ? p : "(null)", C[i].p13);
        p = ct_id_to_token(t, C[i].vocab - 1);
        CHECK(p && !strcmp(p, C[i].plast), "%s: last id is \"%s\", want \"%s\"", C[i].dir, p ? p : "(null)", C[i].plast);
        CHECK(ct_token_to_id(t, C[i].plast) == C[i].vocab - 1, "%s: token_to_id(last piece) = %d", C[i].dir, ct_token_to_id(t, C[i].plast));
        CHECK(ct_id_to_token(t, C[i].vocab) == NULL && ct_id_to_token(t, -1) == NULL, "%s: out-of-range ids give NULL", C[i].dir);
        CHECK(ct_token_to_id(t, "no such piece \x01") == -1, "%s: unknown piece", C[i].dir);
        CHECK(ct_tokenizer_bos_id(t) == C[i].bos, "%s: bos %d, want %d", C[i].dir, ct_tokenizer_bos_id(t), C[i].bos);
        CHECK(ct_tokenizer_eos_id(t) == C[i].eos, "%s: eos %d, want %d", C[i].dir, ct_tokenizer_eos_id(t), C[i].eos);
        ct_tokenizer_free(t);
    }
}

/* Malformed tokenizer.json files must fail with a message naming the file. */
static void malformed(void)
{
    static const char *bad[] = {
        "", "{", "[]", "null", "{\"model\": 3}", "{\"model\": {}}",
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e12}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a a\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"aa\": 1}, \"merges\": [\"a b\"]}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"BertNormalizer\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\"}}]}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"RobertaProcessing\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"decoder\": {\"type\": \"WordPiece\"}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"content\": \"x\"}]}",
        "{\"model\": {\"vocab\": {\"a\xff\": 0}, \"merges\": []}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\"}}",
    };
    char path[64];
    snprintf(path, sizeof path, "/tmp/ctrace-test-bad-%d.json", (int)getpid());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "wb");
        fputs(bad[i], f);
        fclose(f);
        ct_err err = {{0}};
        ct_tokenizer *t = NULL;
        int rc = ct_tokenizer_load(&t, path, &err);
        CHECK(rc == -1 && t == NULL && strstr(err.msg, path), "malformed file %zu loaded or gave no message: %s", i, err.msg);
        if (!rc) ct_tokenizer_free(t);
    }
    /* a repeated added token is not an error (found by fuzz_json: it was a use after free) */
    FILE *f = fopen(path, "wb");
    fputs("{\"model\": {\"vocab\": {\"a\": 0, \"<s>\": 1}, \"merges\": []}, \"added_tokens\": ["
          "{\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true}]}", f);
    fclose(f);
    ct_err err = {{0}};
    ct_tokenizer *t = NULL;
    CHECK_OK(ct_tokenizer_load(&t, path, &err), &err);
    ct_encoding e;
    if (t && !ct_encode(t, "a<s>a", 5, 0, &e, &err)) {
        CHECK(e.n == 3 && e.ids[1] == 1, "a<s>a -> %d tokens", e.n);
        ct_encoding_free(&e);
    }
    ct_tokenizer_free(t);
    t = NULL;
    remove(path);
    CHECK(ct_tokenizer_load(&t, "/nonexistent/dir", &err) == -1 && strstr(err.msg, "/nonexistent/dir"), "missing path: %s", err.msg);
}

static void ranges_and_errors(void)
{
    ct_tokenizer *t = load(HF "llama3");
    if (!t) return;
    ct_err err = {{0}};
    ct_encoding e;
    /* "C: Zürich is" -> <|begin_of_text|> C : ĠZ Ã¼r ich Ġis (HF offsets [0,0] [0,1] [1,2] [2,4] [4,7] [7,10] [10,13]) */
    const char *text = "C: Z\xc3\xbcrich is";
    CHECK_OK(ct_encode(t, text, strlen(text), 1, &e, &err), &err);
    int32_t tb, te;
    CHECK(ct_encoding_token_range(&e, 3, 10, &tb, &te) == 0 && tb == 3 && te == 6, "Zürich -> [%d,%d), want [3,6)", tb, te);
    CHECK(ct_encoding_token_range(&e, 5, 6, &tb, &te) == 0 && tb == 4 && te == 5, "inside ü -> [%d,%d), want [4,5)", tb, te);
    CHECK(ct_encoding_token_range(&e, 0, 0, &tb, &te) == -1 && tb == 0 && te == 0, "empty span overlaps nothing");
    CHECK(ct_encoding_token_range(&e, 13, 20, &tb, &te) == -1, "span past the end");
    CHECK(e.special[0] == 1 && e.special[1] == 0, "special mask %d %d", e.special[0], e.special[1]);
    ct_encoding_free(&e);
    CHECK(ct_encode(t, "a\xff", 2, 0, &e, &err) == -1 && strstr(err.msg, "UTF-8"), "invalid UTF-8: %s", err.msg);
    CHECK(ct_encode(t, "\xe2\x82", 2, 0, &e, &err) == -1, "truncated UTF-8");
    CHECK(ct_encode(t, "\xed\xa0\x80", 3, 0, &e, &err) == -1, "surrogate in UTF-8");
    CHECK_OK(ct_encode(t, "a\0b", 3, 0, &e, &err), &err);   /* a NUL is a character like any other */
    CHECK(e.n == 3, "a NUL b -> %d tokens", e.n);
    ct_encoding_free(&e);
    int32_t ids[2] = {128000, 999999};
    char *s = NULL;
    CHECK(ct_decode(t, ids, 2, 0, &s, &err) == -1 && s == NULL && strstr(err.msg, "999999"), "bad id: %s", err.msg);
    CHECK_OK(ct_decode(t, ids, 0, 0, &s, &err), &err);
    CHECK(s && !strcmp(s, ""), "empty decode");
    free(s);
    ct_tokenizer_free(t);
}

/* One tokenizer, four threads, same results as one thread. */
static void threads(void)
{
    ct_tokenizer *t = load(HF "qwen2.5");
    if (!t) return;
    static const char *texts[] = {"C: Mount Stromlo is located in the country of Australia.", "東京 😀 Zürich 12345",
                                  "  spaces\n\nand\ttabs  ", "<|im_start|>user\nHi<|im_end|>"};
    int32_t ref[4][64], nref[4];
    ct_err err;
    for (int i = 0; i < 4; i++) {
        ct_encoding e;
        ct_encode(t, texts[i], strlen(texts[i]), 1, &e, &err);
        nref[i] = e.n;
        memcpy(ref[i], e.ids, (size_t)e.n * sizeof(int32_t));
        ct_encoding_free(&e);
    }
    int bad = 0;
#pragma omp parallel for num_threads(4) reduction(+:bad)
    for (int k = 0; k < 400; k++) {
        ct_encoding e;
        ct_err er;
        int i = k % 4;
        if (ct_encode(t, texts[i], strlen(texts[i]), 1, &e, &er)) { bad++; continue; }
        bad += e.n != nref[i] || memcmp(e.ids, ref[i], (size_t)e.n * sizeof(int32_t));
        ct_encoding_free(&e);
    }
    CHECK(bad == 0, "%d of 400 threaded encodings differ", bad);
    ct_tokenizer_free(t);
}

int main(void)
{
    TEST_BEGIN();
    lookups();
    malformed();
    ranges_and_errors();
    threads();
    return TEST_END();
}
