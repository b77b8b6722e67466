/* fuzz_encode.c — libFuzzer target: arbitrary bytes through the real GPT-2,
 * Llama 2, Llama 3, Qwen2.5, GPT-NeoX-20B and Mistral tokenizers.  The first byte picks the
 * tokenizer and add_special; the rest is the text (often invalid UTF-8, which
 * must give an error, not a crash).  Checks, and aborts on violation:
 *   - offsets lie inside the text and start <= end;
 *   - every id is < vocab size and decodes;
 *   - byte-level tokenizers without a normalizer (GPT-2, Llama 3) give the
 *     text back exactly: decode(encode(x)) == x.
 * Build and run: tests/fuzz/run.sh (not part of `make test`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"

#define NTOK 6
static ct_tokenizer *toks[NTOK];
static const char *names[NTOK] = {"gpt2", "llama3", "llama2", "qwen2.5", "gpt-neox-20b", "mistral-7b-v0.1"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *fx = getenv("CTRACE_FIXTURES");
    char path[1024];
    for (int i = 0; i < NTOK; i++) {
        snprintf(path, sizeof path, "%s/hf-tokenizers/%s", fx ? fx : "build/fixtures", names[i]);
        ct_err err;
        if (ct_tokenizer_load(&toks[i], path, &err)) { fprintf(stderr, "fuzz: %s\n", err.msg); abort(); }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = (data[0] & 7) % NTOK, add = (data[0] >> 3) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    ct_tokenizer *t = toks[which];
    ct_encoding e;
    ct_err err;
    if (ct_encode(t, text, len, add, &e, &err)) return 0;   /* invalid UTF-8 */
    for (int32_t i = 0; i < e.n; i++) {
        if (e.offsets[i].start < 0 || e.offsets[i].start > e.offsets[i].end || (size_t)e.offsets[i].end > len) abort();
        if (e.ids[i] < 0 || e.ids[i] >= ct_tokenizer_vocab_size(t)) abort();
    }
    int32_t tb, te;
    ct_encoding_token_range(&e, 0, (int32_t)len, &tb, &te);
    /* decode what came from the text: drop the BOS/EOS the post-processor added */
    int32_t *ids = malloc((size_t)e.n * sizeof *ids + 1), k = 0;
    for (int32_t i = 0; i < e.n; i++) if (!e.special[i]) ids[k++] = e.ids[i];
    char *out = NULL;
    if (ct_decode(t, ids, k, 0, &out, &err)) abort();
    free(ids);
    if (which <= 1 && (strlen(out) != len || memcmp(out, text, len))) {
        /* a NUL in the text makes strlen shorter: compare up to it only */
        if (memchr(text, 0, len) == NULL) abort();
    }
    free(out);
    ct_encoding_free(&e);
    return 0;
}
