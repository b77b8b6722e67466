/* ct_encode_continuation: the answer's tokens as they follow the prompt, against
 * Hugging Face tokenizers (tests/fixtures/continuation.jsonl, made by
 * tools/make_continuation_vectors.js: ids of prompt + " " + word after the
 * prompt's ids).  SentencePiece tokenizers must not start with a lone "▁". */
#include <cjson/cJSON.h>
#include "ctrace_app.h"
#include "harness.h"

static const char *PROMPT = "C: Juan was written in the Spanish language. Q: The language Juan was written in is A:";

int main(void)
{
    TEST_BEGIN();
    FILE *f = fopen("tests/fixtures/continuation.jsonl", "r");
    CHECK(f != NULL, "tests/fixtures/continuation.jsonl: cannot open (run from the repo root)");
    if (!f) return TEST_END();
    char line[4096], loaded[64] = "";
    ct_tokenizer *tk = NULL;
    ct_err err = {{0}};
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const char *name = cJSON_GetObjectItem(j, "tokenizer")->valuestring;
        const char *word = cJSON_GetObjectItem(j, "word")->valuestring;
        cJSON *want = cJSON_GetObjectItem(j, "ids");
        if (strcmp(name, loaded)) {
            ct_tokenizer_free(tk);
            tk = NULL;
            char rel[256];
            snprintf(rel, sizeof rel, "hf-tokenizers/%s/tokenizer.json", name);
            CHECK_OK(ct_tokenizer_load(&tk, ct_fixture(rel), &err), &err);
            snprintf(loaded, sizeof loaded, "%s", name);
        }
        int32_t *ids = NULL;
        int n = 0;
        if (tk) CHECK_OK(ct_encode_continuation(tk, PROMPT, word, &ids, &n, &err), &err);
        int same = n == cJSON_GetArraySize(want);
        for (int i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        char got[256] = "";
        for (int i = 0; i < n && strlen(got) < 200; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", ids[i]);
        char *w = cJSON_PrintUnformatted(want);
        CHECK(same, "%s, \"%s\": got [%s], HF gives %s", name, word, got, w);
        free(w);
        free(ids);
        cJSON_Delete(j);
        rows++;
    }
    fclose(f);
    ct_tokenizer_free(tk);
    CHECK(rows == 18, "fixture rows %d", rows);
    /* without a prompt: " " + word alone, no special tokens (GPT-2: "ĠSpanish") */
    CHECK_OK(ct_tokenizer_load(&tk, ct_fixture("hf-tokenizers/gpt2/tokenizer.json"), &err), &err);
    int32_t *ids = NULL;
    int n = 0;
    CHECK_OK(ct_encode_continuation(tk, NULL, "Spanish", &ids, &n, &err), &err);
    CHECK(n == 1 && ids[0] == 7897, "no prompt: n=%d first=%d", n, n ? ids[0] : -1);
    free(ids);
    ct_tokenizer_free(tk);
    return TEST_END();
}
