/* test_tokenizer_hf.c — ids, byte offsets and decoded text against fixtures
 * made by Hugging Face tokenizers 0.23.2 itself (tools/make_tokenizer_vectors.js):
 * entity names with diacritics, CJK, emoji, whitespace runs, digits, special
 * tokens written in the text, and real prompts from the peq-both dataset,
 * each with and without add_special_tokens.  Also checks
 * ct_encoding_token_range against a direct scan of the HF offsets. */
#include <cjson/cJSON.h>
#include "ctrace.h"
#include "harness.h"

static const struct { const char *name, *tok; } CASES[] = {
    {"gpt2", "assets/tokenizers/hf/gpt2"},
    {"gpt-neox-20b", "assets/tokenizers/hf/gpt-neox-20b/tokenizer.json"},
    {"llama2", "assets/tokenizers/hf/llama2"},
    {"mistral-7b-v0.1", "assets/tokenizers/hf/mistral-7b-v0.1"},
    {"llama3", "assets/tokenizers/hf/llama3"},
    {"qwen2.5", "assets/tokenizers/hf/qwen2.5"},
};

static int ids_equal(const cJSON *a, const int32_t *ids, int32_t n)
{
    if (cJSON_GetArraySize(a) != n) return 0;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) if ((int32_t)x->valuedouble != ids[i++]) return 0;
    return 1;
}

static int offsets_equal(const cJSON *a, const ct_offset *o, int32_t n)
{
    if (cJSON_GetArraySize(a) != n) return 0;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if ((int32_t)cJSON_GetArrayItem(x, 0)->valuedouble != o[i].start ||
            (int32_t)cJSON_GetArrayItem(x, 1)->valuedouble != o[i].end) return 0;
        i++;
    }
    return 1;
}

static void print_row(const char *what, const cJSON *ids, const cJSON *offs, const ct_encoding *e)
{
    char *a = cJSON_PrintUnformatted(ids), *b = cJSON_PrintUnformatted(offs);
    printf("    %s want ids %s offsets %s\n    got ", what, a, b);
    for (int32_t i = 0; i < e->n; i++) printf("%d[%d,%d] ", e->ids[i], e->offsets[i].start, e->offsets[i].end);
    printf("\n");
    free(a);
    free(b);
}

/* Token range of a byte span, straight from the expected offsets. */
static void expected_range(const cJSON *offs, int32_t b, int32_t e, int32_t *tb, int32_t *te)
{
    int32_t i = 0, first = -1, last = -1;
    const cJSON *x;
    cJSON_ArrayForEach(x, offs) {
        int32_t s = (int32_t)cJSON_GetArrayItem(x, 0)->valuedouble, en = (int32_t)cJSON_GetArrayItem(x, 1)->valuedouble;
        if (en > s && s < e && en > b) { if (first < 0) first = i; last = i; }
        i++;
    }
    *tb = first < 0 ? 0 : first;
    *te = first < 0 ? 0 : last + 1;
}

static void run(const char *name, const char *tok_rel)
{
    char fix[512];
    const char *dir = getenv("CTRACE_FIXTURES");
    snprintf(fix, sizeof fix, "%s/%s.jsonl", dir ? dir : "tests/fixtures/tokenizer", name);
    FILE *f = fopen(fix, "r");
    CHECK(f != NULL, "cannot open %s", fix);
    if (!f) return;
    ct_err err = {{0}};
    ct_tokenizer *tok;
    int rc = ct_tokenizer_load(&tok, ct_shared(tok_rel), &err);
    CHECK(rc == 0, "load %s: %s", tok_rel, err.msg);
    if (rc) { fclose(f); return; }
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, ok_ids = 0, ok_off = 0, ok_dec = 0, ok_range = 0, nrange = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
        int add = cJSON_IsTrue(cJSON_GetObjectItem(j, "add_special"));
        const cJSON *ids = cJSON_GetObjectItem(j, "ids"), *offs = cJSON_GetObjectItem(j, "offsets");
        ct_encoding e;
        rows++;
        if (ct_encode(tok, text, strlen(text), add, &e, &err)) {
            CHECK(0, "%s: encode \"%s\": %s", name, text, err.msg);
            cJSON_Delete(j);
            continue;
        }
        int a = ids_equal(ids, e.ids, e.n), b = a && offsets_equal(offs, e.offsets, e.n);
        ok_ids += a;
        ok_off += b;
        if (!a || !b) {
            printf("  %s \"%s\" add_special=%d: %s differ\n", name, text, add, a ? "offsets" : "ids");
            print_row("", ids, offs, &e);
        }
        CHECK(a, "%s: ids of \"%s\" (add_special=%d)", name, text, add);
        CHECK(!a || b, "%s: offsets of \"%s\" (add_special=%d)", name, text, add);
        for (int skip = 0; skip < 2; skip++) {
            const char *want = cJSON_GetObjectItem(j, skip ? "decoded_skip" : "decoded")->valuestring;
            char *got = NULL;
            int r = ct_decode(tok, e.ids, e.n, skip, &got, &err);
            int same = r == 0 && !strcmp(got, want);
            ok_dec += same;
            CHECK(same, "%s: decode(skip=%d) of \"%s\": got \"%s\" want \"%s\"", name, skip, text, r ? err.msg : got, want);
            free(got);
        }
        /* every byte span [b, b+k) for a few k: token range = direct scan of HF offsets */
        int32_t n = (int32_t)strlen(text);
        for (int32_t bb = 0; a && b && bb < n; bb += 3)
            for (int32_t k = 1; k <= 7 && bb + k <= n; k += 3) {
                int32_t tb, te, wb, we;
                ct_encoding_token_range(&e, bb, bb + k, &tb, &te);
                expected_range(offs, bb, bb + k, &wb, &we);
                nrange++;
                ok_range += tb == wb && te == we;
                CHECK(tb == wb && te == we, "%s: token range of [%d,%d) in \"%s\": got [%d,%d) want [%d,%d)",
                      name, bb, bb + k, text, tb, te, wb, we);
            }
        ct_encoding_free(&e);
        cJSON_Delete(j);
    }
    printf("%s: ids %d/%d, offsets %d/%d, decode %d/%d, token ranges %d/%d\n", name, ok_ids, rows, ok_off, rows,
           ok_dec, 2 * rows, ok_range, nrange);
    CHECK(rows > 100, "%s: only %d fixture rows", name, rows);
    free(line);
    fclose(f);
    ct_tokenizer_free(tok);
}

int main(void)
{
    TEST_BEGIN();
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run(CASES[i].name, CASES[i].tok);
    return TEST_END();
}
