/* fuzz_json.c — libFuzzer target: arbitrary tokenizer.json text.  Loading
 * must either fail with a message or give a tokenizer that encodes and
 * decodes a few strings without crashing.  Seeds: tests/fuzz/seeds_json/.
 * Build and run: tests/fuzz/run.sh (not part of `make test`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctrace_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/ctrace-fuzz-json-%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ct_tokenizer *t;
    ct_err err;
    if (ct_tokenizer_load(&t, path, &err)) return 0;
    static const char *texts[] = {"", "Hello world", "  a\n\nb 123 <s> x</s>", "Zürich 東京 😀", "e\u0301 \t"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (int add = 0; add < 2; add++) {
            ct_encoding e;
            if (ct_encode(t, texts[i], strlen(texts[i]), add, &e, &err)) continue;
            for (int32_t k = 0; k < e.n; k++)
                if (e.offsets[k].start > e.offsets[k].end || (size_t)e.offsets[k].end > strlen(texts[i])) abort();
            char *out = NULL;
            if (!ct_decode(t, e.ids, e.n, 0, &out, &err)) free(out);
            ct_encoding_free(&e);
        }
    ct_tokenizer_free(t);
    return 0;
}
