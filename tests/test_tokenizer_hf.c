/* test_tokenizer_hf.c — ids, byte offsets and decoded text against fixtures
 * made by Hugging Face tokenizers 0.23.2 itself (tools/make_tokenizer_vectors.js):
 * entity names with diacritics, CJK, emoji, whitespace runs, digits, special
 * tokens written in the text, and real prompts from the peq-both dataset,
 * each with and without add_special_tokens.  Also checks
 * ct_encoding_token_range against a direct scan of the HF offsets. */
#include <cjson/cJSON.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static const struct { const char *name, *tok; } CASES[] = {
    {"gpt2", "hf-tokenizers/gpt2"},
    {"gpt-neox-20b", "hf-tokenizers/gpt-neox-20b/tokenizer.json"},
    {"llama2", "hf-tokenizers/llama2"},
    {"mistral-7b-v0.1", "hf-tokenizers/mistral-7b-v0.1"},
    {"llama3", "hf-tokenizers/llama3"},
    {"qwen2.5", "hf-tokenizers/qwen2.5"},
    /* random strings (tools/make_tokenizer_random_vectors.js, seed 2026) */
    {"random/gpt2", "hf-tokenizers/gpt2"},
    {"random/gpt-neox-20b", "hf-tokenizers/gpt-neox-20b"},
    {"random/llama2", "hf-tokenizers/llama2"},
    {"random/mistral-7b-v0.1", "hf-tokenizers/mistral-7b-v0.1"},
    {"random/llama3", "hf-tokenizers/llama3"},
    {"random/qwen2.5", "hf-tokenizers/qwen2.5"},
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

/* Length of the White_Space char at s (Rust's is_whitespace), or 0. */
static int ws_len(const unsigned char *s)
{
    if (*s == ' ' || (*s >= 9 && *s <= 13)) return 1;
    static const char *const multi[] = {"\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9",
                                        "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80", NULL};
    for (int i = 0; multi[i]; i++)
        if (!strncmp((const char *)s, multi[i], strlen(multi[i]))) return (int)strlen(multi[i]);
    if (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x80 && s[2] <= 0x8a) return 3;    /* U+2000..U+200A */
    return 0;
}

static void trim_ws(const char **p, size_t *len)
{
    int l;
    while (*len && (l = ws_len((const unsigned char *)*p)) > 0) { *p += l; *len -= (size_t)l; }
    for (;;) {
        size_t k = *len, back;
        for (back = 1; back <= 3 && back <= k; back++)
            if (ws_len((const unsigned char *)*p + k - back) == (int)back) break;
        if (back > 3 || back > k) return;
        *len -= back;
    }
}

static int same_trimmed(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    trim_ws(&a, &la);
    trim_ws(&b, &lb);
    return la == lb && !memcmp(a, b, la);
}

typedef struct stats { int rows, ok_ids, ok_off, ok_dec, ok_range, nrange; } stats;

static void report(const char *name, const stats *s)
{
    printf("%s: ids %d/%d, offsets %d/%d, decode %d/%d, token ranges %d/%d\n", name, s->ok_ids, s->rows,
           s->ok_off, s->rows, s->ok_dec, 2 * s->rows, s->ok_range, s->nrange);
}

/* One fixture row: ids, offsets, both decodes, and token ranges of byte spans. */
static void check_row(const ct_tokenizer *tok, const char *name, const cJSON *j, stats *st)
{
    ct_err err = {{0}};
    const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
    int add = cJSON_IsTrue(cJSON_GetObjectItem(j, "add_special"));
    const cJSON *ids = cJSON_GetObjectItem(j, "ids"), *offs = cJSON_GetObjectItem(j, "offsets");
    ct_encoding e;
    st->rows++;
    if (ct_encode(tok, text, strlen(text), add, &e, &err)) {
        CHECK(0, "%s: encode \"%s\": %s", name, text, err.msg);
        return;
    }
    int a = ids_equal(ids, e.ids, e.n), b = a && offsets_equal(offs, e.offsets, e.n);
    st->ok_ids += a;
    st->ok_off += b;
    if (!a || !b) {
        printf("  %s \"%s\" add_special=%d: %s differ\n", name, text, add, a ? "offsets" : "ids");
        print_row("", ids, offs, &e);
    }
    CHECK(a, "%s: ids of \"%s\" (add_special=%d)", name, text, add);
    CHECK(!a || b, "%s: offsets of \"%s\" (add_special=%d)", name, text, add);
    /* the pieces (what `ctrace tokenize` prints as "tokens").  HF's tokens of an
     * lstrip/rstrip added token include the whitespace it swallowed; ctrace
     * gives the token's own piece, so those compare without the outer spaces. */
    const cJSON *toks = cJSON_GetObjectItem(j, "tokens");
    int i = 0, same_tok = a;
    const cJSON *x;
    if (a) cJSON_ArrayForEach(x, toks) {
        const char *p = ct_id_to_token(tok, e.ids[i++]);
        if (!p || (strcmp(p, x->valuestring) && !same_trimmed(p, x->valuestring))) {
            same_tok = 0;
            printf("  %s \"%s\": token %d is \"%s\", HF says \"%s\"\n", name, text, i - 1, p ? p : "(null)", x->valuestring);
        }
    }
    CHECK(same_tok, "%s: token pieces of \"%s\"", name, text);
    for (int skip = 0; skip < 2; skip++) {
        const char *want = cJSON_GetObjectItem(j, skip ? "decoded_skip" : "decoded")->valuestring;
        char *got = NULL;
        int r = ct_decode(tok, e.ids, e.n, skip, &got, &err);
        int same = r == 0 && !strcmp(got, want);
        st->ok_dec += same;
        CHECK(same, "%s: decode(skip=%d) of \"%s\": got \"%s\" want \"%s\"", name, skip, text, r ? err.msg : got, want);
        free(got);
    }
    /* byte spans [b, b+k) for a few k: token range = direct scan of HF offsets */
    int32_t n = (int32_t)strlen(text);
    for (int32_t bb = 0; a && b && bb < n; bb += 3)
        for (int32_t k = 1; k <= 7 && bb + k <= n; k += 3) {
            int32_t tb, te, wb, we;
            ct_encoding_token_range(&e, bb, bb + k, &tb, &te);
            expected_range(offs, bb, bb + k, &wb, &we);
            st->nrange++;
            st->ok_range += tb == wb && te == we;
            CHECK(tb == wb && te == we, "%s: token range of [%d,%d) in \"%s\": got [%d,%d) want [%d,%d)",
                  name, bb, bb + k, text, tb, te, wb, we);
        }
    ct_encoding_free(&e);
}

/* The pipeline components no shipped tokenizer uses: configs.jsonl holds, per
 * config, a base tokenizer.json and the fields to replace in it (as
 * tools/make_tokenizer_config_vectors.js did before asking HF), then rows. */
static void run_configs(void)
{
    const char *fix = ct_fixture("tokenizer/configs.jsonl");
    FILE *f = fopen(fix, "r");
    CHECK(f != NULL, "cannot open %s", fix);
    if (!f) return;
    char *line = NULL, tmp[64], name[128] = "";
    size_t cap = 0;
    snprintf(tmp, sizeof tmp, "/tmp/ctrace-test-config-%d.json", (int)getpid());
    ct_tokenizer *tok = NULL;
    stats st = {0};
    int nconf = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const cJSON *patch = cJSON_GetObjectItem(j, "patch");
        if (patch) {
            if (tok) { report(name, &st); ct_tokenizer_free(tok); tok = NULL; }
            memset(&st, 0, sizeof st);
            snprintf(name, sizeof name, "config %s", cJSON_GetObjectItem(j, "config")->valuestring);
            const char *base = cJSON_GetObjectItem(j, "base")->valuestring;
            char rel[256];
            snprintf(rel, sizeof rel, "hf-tokenizers/%s/tokenizer.json", base);
            FILE *bf = fopen(ct_fixture(rel), "rb");
            CHECK(bf != NULL, "cannot open %s", rel);
            if (!bf) { cJSON_Delete(j); continue; }
            fseek(bf, 0, SEEK_END);
            long bl = ftell(bf);
            rewind(bf);
            char *bj = malloc((size_t)bl + 1);
            size_t got = fread(bj, 1, (size_t)bl, bf);
            fclose(bf);
            cJSON *root = cJSON_ParseWithLength(bj, got);
            free(bj);
            const cJSON *it;
            cJSON_ArrayForEach(it, patch) {
                if (!strcmp(it->string, "model")) {
                    cJSON *model = cJSON_GetObjectItem(root, "model");
                    const cJSON *m;
                    cJSON_ArrayForEach(m, it) cJSON_ReplaceItemInObject(model, m->string, cJSON_Duplicate(m, 1));
                } else if (!strcmp(it->string, "added_tokens_extra")) {
                    cJSON *arr = cJSON_GetObjectItem(root, "added_tokens");
                    const cJSON *m;
                    cJSON_ArrayForEach(m, it) cJSON_AddItemToArray(arr, cJSON_Duplicate(m, 1));
                } else cJSON_ReplaceItemInObject(root, it->string, cJSON_Duplicate(it, 1));
            }
            char *txt = cJSON_PrintUnformatted(root);
            cJSON_Delete(root);
            FILE *o = fopen(tmp, "wb");
            fputs(txt, o);
            fclose(o);
            free(txt);
            ct_err err = {{0}};
            int rc = ct_tokenizer_load(&tok, tmp, &err);
            CHECK(rc == 0, "%s: load: %s", name, err.msg);
            if (rc) tok = NULL;
            nconf++;
        } else if (tok) check_row(tok, name, j, &st);
        cJSON_Delete(j);
    }
    if (tok) { report(name, &st); ct_tokenizer_free(tok); }
    CHECK(nconf >= 10, "only %d configs", nconf);
    remove(tmp);
    free(line);
    fclose(f);
}

static void run(const char *name, const char *tok_rel)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s.jsonl", name);
    const char *fix = ct_fixture(rel);
    FILE *f = fopen(fix, "r");
    CHECK(f != NULL, "cannot open %s", fix);
    if (!f) return;
    ct_err err = {{0}};
    ct_tokenizer *tok;
    int rc = ct_tokenizer_load(&tok, ct_fixture(tok_rel), &err);
    CHECK(rc == 0, "load %s: %s", tok_rel, err.msg);
    if (rc) { fclose(f); return; }
    char *line = NULL;
    size_t cap = 0;
    stats st = {0};
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        check_row(tok, name, j, &st);
        cJSON_Delete(j);
    }
    report(name, &st);
    CHECK(st.rows > 100, "%s: only %d fixture rows", name, st.rows);
    free(line);
    fclose(f);
    ct_tokenizer_free(tok);
}

int main(void)
{
    TEST_BEGIN();
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run(CASES[i].name, CASES[i].tok);
    run_configs();
    return TEST_END();
}
