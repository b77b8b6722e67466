/* cmd_tokenize.c — `ctrace tokenize` and `ctrace detokenize`: the tokenizer
 * from the command line, printing JSON lines, for checking prompts and spans
 * against Hugging Face by hand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

#include "args.h"

typedef struct tok_args {
    const char *tokenizer, *text, *input;
    int32_t *ids; int nids;
    int add_special, skip_special;
    char dir[4096];             /* the folder a hub id resolved to */
} tok_args;

static int bool_flag(const ct_args *a, const char *name, int def, int *out)
{
    const char *v = ct_args_str(a, name, NULL);
    if (!v) { *out = def; return 0; }
    if (!strcmp(v, "1") || !strcmp(v, "true")) { *out = 1; return 0; }
    if (!strcmp(v, "0") || !strcmp(v, "false")) { *out = 0; return 0; }
    fprintf(stderr, "ctrace: %s: --%s must be 0 or 1, not '%s'\n", a->cmd, name, v);
    return -1;
}

/* Returns 0, 1 for --help, or -1 after printing why. */
static int parse(int argc, char **argv, tok_args *a, int detok)
{
    static const char *const TOK_FLAGS[] = {"tokenizer", "model_name", "text", "input", "add_special_tokens", NULL};
    static const char *const DETOK_FLAGS[] = {"tokenizer", "model_name", "ids", "input", "skip_special_tokens", NULL};
    ct_args g;
    if (ct_args_parse(&g, argc, argv, detok ? DETOK_FLAGS : TOK_FLAGS)) return -1;
    if (g.help) return 1;
    if (g.npos) { fprintf(stderr, "ctrace: %s: unexpected argument '%s'\n", g.cmd, g.pos[0]); return -1; }
    a->tokenizer = ct_args_str(&g, "tokenizer", ct_args_str(&g, "model_name", NULL));
    a->input = ct_args_str(&g, "input", NULL);
    if (detok) {
        if (bool_flag(&g, "skip_special_tokens", 0, &a->skip_special) || ct_args_ids(&g, "ids", &a->ids, &a->nids)) return -1;
    } else {
        a->text = ct_args_str(&g, "text", NULL);
        if (bool_flag(&g, "add_special_tokens", 1, &a->add_special)) return -1;
    }
    if (!a->tokenizer) { fprintf(stderr, "ctrace: %s: --tokenizer PATH (or --model_name DIR) is required\n", g.cmd); return -1; }
    int have = detok ? (a->ids != NULL) + (a->input != NULL) : (a->text != NULL) + (a->input != NULL);
    if (have != 1) {
        fprintf(stderr, "ctrace: %s: give exactly one of %s and --input FILE.jsonl\n", g.cmd, detok ? "--ids 1,2,3" : "--text TEXT");
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
        int pair[2] = {e->offsets[i].b, e->offsets[i].e};
        cJSON_AddItemToArray(offs, cJSON_CreateIntArray(pair, 2));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return -1;
    puts(s);
    free(s);
    return 0;
}

/* Calls fn(ctx, row, json) for each non-blank line of the JSONL file `path`
 * (json is NULL when the line is not valid JSON); stops at the first line fn
 * refuses (non-zero).  Returns 0, or 1 after printing why. */
typedef int (*jsonl_fn)(void *ctx, const char *path, long row, const cJSON *json);

static int jsonl_each(const char *path, jsonl_fn fn, void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "ctrace: %s: %s\n", path, strerror(errno)); return 1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long row = 0;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) > 0) {
        row++;
        if (strspn(line, " \t\r\n") == (size_t)n) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        rc = fn(ctx, path, row, j) ? 1 : 0;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return rc;
}

typedef struct line_ctx { const ct_tokenizer *tok; const tok_args *a; } line_ctx;

/* tokenize --input: {"text": ..., "add_special_tokens": bool} -> one encoding line */
static int encode_line(void *ctx, const char *path, long row, const cJSON *j)
{
    const line_ctx *c = ctx;
    const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
    if (!cJSON_IsString(t)) {
        fprintf(stderr, "ctrace: %s:%ld: not a JSON object with a \"text\" string\n", path, row);
        return -1;
    }
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "add_special_tokens");
    int add = cJSON_IsBool(as) ? cJSON_IsTrue(as) : c->a->add_special;
    ct_encoding e;
    ct_err err = {{0}};
    if (ct_encode(c->tok, t->valuestring, strlen(t->valuestring), add, &e, &err)) {
        fprintf(stderr, "ctrace: %s:%ld: %s\n", path, row, err.msg);
        return -1;
    }
    print_encoding(c->tok, &e);
    ct_encoding_free(&e);
    return 0;
}

/* detokenize --input: {"ids": [...]} -> {"text": "..."} */
static int decode_line(void *ctx, const char *path, long row, const cJSON *j)
{
    const line_ctx *c = ctx;
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
    ct_err err = {{0}};
    int rc = -1;
    if (!ids || k < 0) fprintf(stderr, "ctrace: %s:%ld: not a JSON object with an \"ids\" array of token ids\n", path, row);
    else if (ct_decode(c->tok, ids, k, c->a->skip_special, &text, &err)) fprintf(stderr, "ctrace: %s:%ld: %s\n", path, row, err.msg);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", text);
        char *out = cJSON_PrintUnformatted(o);
        if (out) puts(out);
        free(out);
        cJSON_Delete(o);
        rc = 0;
    }
    free(text);
    free(ids);
    return rc;
}

static const char TOK_HELP[] =
    "usage: ctrace tokenize --tokenizer PATH (--text TEXT | --input FILE.jsonl) [--add_special_tokens 0|1]\n"
    "  PATH: a tokenizer.json or a model directory holding one (--model_name DIR works too), or a\n"
    "  hub id ORG/NAME[@REV] in the local Hugging Face cache (never downloaded).\n"
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
    if (!(a.tokenizer = cli_resolve(a.tokenizer, a.dir, sizeof a.dir, NULL))) return 1;
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
        line_ctx c = {tok, &a};
        rc = jsonl_each(a.input, encode_line, &c);
    }
    ct_tokenizer_free(tok);
    return rc;
}

static const char DETOK_HELP[] =
    "usage: ctrace detokenize --tokenizer PATH (--ids 1,2,3 | --input FILE.jsonl) [--skip_special_tokens 0|1]\n"
    "  --ids: prints the decoded text.  --input: one JSON object per line with \"ids\": [...];\n"
    "  prints one line {\"text\": \"...\"} for each.\n";

int cmd_detokenize(int argc, char **argv)
{
    tok_args a = {0};
    int pr = parse(argc, argv, &a, 1);
    if (pr) { free(a.ids); if (pr > 0) fputs(DETOK_HELP, stdout); return pr > 0 ? 0 : 2; }
    ct_err err = {{0}};
    ct_tokenizer *tok;
    if (!(a.tokenizer = cli_resolve(a.tokenizer, a.dir, sizeof a.dir, NULL))) { free(a.ids); return 1; }
    if (ct_tokenizer_load(&tok, a.tokenizer, &err)) { free(a.ids); fprintf(stderr, "ctrace: %s\n", err.msg); return 1; }
    int rc = 0;
    if (a.ids) {
        char *text = NULL;
        if (ct_decode(tok, a.ids, a.nids, a.skip_special, &text, &err)) { fprintf(stderr, "ctrace: --ids: %s\n", err.msg); rc = 1; }
        else printf("%s\n", text);
        free(text);
    } else {
        line_ctx c = {tok, &a};
        rc = jsonl_each(a.input, decode_line, &c);
    }
    free(a.ids);
    ct_tokenizer_free(tok);
    return rc;
}
