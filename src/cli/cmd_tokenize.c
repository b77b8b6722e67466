/* cmd_tokenize.c — `ctrace tokenize` and `ctrace detokenize`: the tokenizer
 * from the command line, printing JSON lines, for checking prompts and spans
 * against Hugging Face by hand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

typedef struct tok_args {
    const char *tokenizer, *text, *input, *ids;
    int add_special, skip_special;
} tok_args;

/* Accepts --flag value and --flag=value. Returns 0, or -1 after printing why. */
static int parse(int argc, char **argv, tok_args *a, int detok)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (strncmp(arg, "--", 2)) { fprintf(stderr, "ctrace: %s: unexpected argument '%s'\n", argv[0], arg); return -1; }
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, arg + 2, nl);
        name[nl] = 0;
        if (!strcmp(name, "help")) return 1;
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else { fprintf(stderr, "ctrace: %s: --%s needs a value\n", argv[0], name); return -1; }
        if (!strcmp(name, "tokenizer") || !strcmp(name, "model_name")) a->tokenizer = val;
        else if (!strcmp(name, "input")) a->input = val;
        else if (!detok && !strcmp(name, "text")) a->text = val;
        else if (detok && !strcmp(name, "ids")) a->ids = val;
        else if (!strcmp(name, detok ? "skip_special_tokens" : "add_special_tokens")) {
            if (strcmp(val, "0") && strcmp(val, "1") && strcmp(val, "true") && strcmp(val, "false")) {
                fprintf(stderr, "ctrace: %s: --%s must be 0 or 1, not '%s'\n", argv[0], name, val);
                return -1;
            }
            int v = !strcmp(val, "1") || !strcmp(val, "true");
            if (detok) a->skip_special = v; else a->add_special = v;
        } else { fprintf(stderr, "ctrace: %s: unknown flag --%s\n", argv[0], name); return -1; }
    }
    if (!a->tokenizer) { fprintf(stderr, "ctrace: %s: --tokenizer PATH (or --model_name DIR) is required\n", argv[0]); return -1; }
    int have = detok ? (a->ids != NULL) + (a->input != NULL) : (a->text != NULL) + (a->input != NULL);
    if (have != 1) {
        fprintf(stderr, "ctrace: %s: give exactly one of %s and --input FILE.jsonl\n", argv[0], detok ? "--ids 1,2,3" : "--text TEXT");
        return -1;
    }
    return 0;
}

/* One encoding as {"ids":[...],"tokens":[...],"offsets":[[s,e],...]}. */
static int print_encoding(const ct_tokenizer *tok, const ct_encoding *e)
{
    cJSON *o = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(o, "ids"),
          *toks = cJSON_AddArrayToObject(o, "tokens"), *offs = cJSON_AddArrayToObject(o, "offsets");
    for (int32_t i = 0; i < e->n; i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(e->ids[i]));
        const char *p = ct_id_to_token(tok, e->ids[i]);
        cJSON_AddItemToArray(toks, cJSON_CreateString(p ? p : ""));
        int pair[2] = {e->offsets[i].start, e->offsets[i].end};
        cJSON_AddItemToArray(offs, cJSON_CreateIntArray(pair, 2));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return -1;
    puts(s);
    free(s);
    return 0;
}

static const char TOK_HELP[] =
    "usage: ctrace tokenize --tokenizer PATH (--text TEXT | --input FILE.jsonl) [--add_special_tokens 0|1]\n"
    "  PATH: a tokenizer.json or a model directory holding one (--model_name DIR works too).\n"
    "  --input: one JSON object per line, {\"text\": \"...\", \"add_special_tokens\": true|false (optional)}.\n"
    "  --add_special_tokens: let the post-processor add BOS/EOS (default 1, as Hugging Face).\n"
    "  Prints one line per text: {\"ids\":[...],\"tokens\":[...],\"offsets\":[[start,end],...]} (byte offsets).\n";

int cmd_tokenize(int argc, char **argv)
{
    tok_args a = {0};
    a.add_special = 1;
    int pr = parse(argc, argv, &a, 0);
    if (pr) { if (pr > 0) fputs(TOK_HELP, stdout); return pr > 0 ? 0 : 2; }
    ct_err err = {{0}};
    ct_tokenizer *tok;
    if (ct_tokenizer_load(&tok, a.tokenizer, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); return 1; }
    int rc = 0;
    ct_encoding e;
    if (a.text) {
        if (ct_encode(tok, a.text, strlen(a.text), a.add_special, &e, &err)) {
            fprintf(stderr, "ctrace: --text: %s\n", err.msg);
            rc = 1;
        } else {
            print_encoding(tok, &e);
            ct_encoding_free(&e);
        }
    } else {
        FILE *f = fopen(a.input, "r");
        if (!f) { fprintf(stderr, "ctrace: %s: %s\n", a.input, strerror(errno)); ct_tokenizer_free(tok); return 1; }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long row = 0;
        while ((n = getline(&line, &cap, f)) > 0) {
            row++;
            if (strspn(line, " \t\r\n") == (size_t)n) continue;
            cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
            const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
            if (!cJSON_IsString(t)) {
                fprintf(stderr, "ctrace: %s:%ld: not a JSON object with a \"text\" string\n", a.input, row);
                cJSON_Delete(j);
                rc = 1;
                break;
            }
            const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "add_special_tokens");
            int add = cJSON_IsBool(as) ? cJSON_IsTrue(as) : a.add_special;
            if (ct_encode(tok, t->valuestring, strlen(t->valuestring), add, &e, &err)) {
                fprintf(stderr, "ctrace: %s:%ld: %s\n", a.input, row, err.msg);
                cJSON_Delete(j);
                rc = 1;
                break;
            }
            print_encoding(tok, &e);
            ct_encoding_free(&e);
            cJSON_Delete(j);
        }
        free(line);
        fclose(f);
    }
    ct_tokenizer_free(tok);
    return rc;
}

/* "1,2, 3" -> ids; returns the count or -1. */
static int32_t parse_ids(const char *s, int32_t **out)
{
    int32_t n = 0, cap = 16;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    while (v && *s) {
        while (*s == ' ' || *s == ',' || *s == '[' || *s == ']' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno || x < 0 || x > INT32_MAX) { free(v); return -1; }
        if (n == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *nv);
            if (!nv) { free(v); return -1; }
            v = nv;
        }
        v[n++] = (int32_t)x;
        s = end;
    }
    if (!v) return -1;
    *out = v;
    return n;
}

static const char DETOK_HELP[] =
    "usage: ctrace detokenize --tokenizer PATH (--ids 1,2,3 | --input FILE.jsonl) [--skip_special_tokens 0|1]\n"
    "  --ids: prints the decoded text.  --input: one JSON object per line with \"ids\": [...];\n"
    "  prints one line {\"text\": \"...\"} for each.\n";

int cmd_detokenize(int argc, char **argv)
{
    tok_args a = {0};
    int pr = parse(argc, argv, &a, 1);
    if (pr) { if (pr > 0) fputs(DETOK_HELP, stdout); return pr > 0 ? 0 : 2; }
    ct_err err = {{0}};
    ct_tokenizer *tok;
    if (ct_tokenizer_load(&tok, a.tokenizer, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); return 1; }
    int rc = 0;
    if (a.ids) {
        int32_t *ids = NULL;
        int32_t n = parse_ids(a.ids, &ids);
        char *text = NULL;
        if (n < 0) { fprintf(stderr, "ctrace: --ids: expected comma-separated token ids, got '%s'\n", a.ids); rc = 1; }
        else if (ct_decode(tok, ids, n, a.skip_special, &text, &err)) { fprintf(stderr, "ctrace: --ids: %s\n", err.msg); rc = 1; }
        else printf("%s\n", text);
        free(text);
        free(ids);
    } else {
        FILE *f = fopen(a.input, "r");
        if (!f) { fprintf(stderr, "ctrace: %s: %s\n", a.input, strerror(errno)); ct_tokenizer_free(tok); return 1; }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long row = 0;
        while ((n = getline(&line, &cap, f)) > 0 && !rc) {
            row++;
            if (strspn(line, " \t\r\n") == (size_t)n) continue;
            cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
            const cJSON *arr = j ? cJSON_GetObjectItemCaseSensitive(j, "ids") : NULL;
            int32_t cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
            int32_t *ids = cnt >= 0 ? malloc((size_t)cnt * sizeof *ids + 1) : NULL;
            const cJSON *x;
            int32_t k = 0;
            if (ids) cJSON_ArrayForEach(x, arr) {
                if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > INT32_MAX) { k = -1; break; }
                ids[k++] = (int32_t)x->valuedouble;
            }
            char *text = NULL;
            if (!ids || k < 0) { fprintf(stderr, "ctrace: %s:%ld: not a JSON object with an \"ids\" array of token ids\n", a.input, row); rc = 1; }
            else if (ct_decode(tok, ids, k, a.skip_special, &text, &err)) { fprintf(stderr, "ctrace: %s:%ld: %s\n", a.input, row, err.msg); rc = 1; }
            else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "text", text);
                char *s = cJSON_PrintUnformatted(o);
                if (s) puts(s);
                free(s);
                cJSON_Delete(o);
            }
            free(text);
            free(ids);
            cJSON_Delete(j);
        }
        free(line);
        fclose(f);
    }
    ct_tokenizer_free(tok);
    return rc;
}
