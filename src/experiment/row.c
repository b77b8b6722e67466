/* row.c — one dataset row (the seed tool's JSONL shape) and the line reader.
 * Every error names the line, so `ctrace run` can skip the row and say why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"
#include "common/json.h"

void ct_row_free(ct_row *r)
{
    if (!r) return;
    free(r->question); free(r->subj); free(r->obj); free(r->prop);
    free(r->context); free(r->prompt_wo_ctx); free(r->prompt_with_ctx);
    for (int i = 0; i < r->n_answers; i++) free(r->answers[i]);
    free(r->answers);
    for (int i = 0; i < r->n_obj_cf; i++) free(r->obj_cf[i]);
    free(r->obj_cf);
    memset(r, 0, sizeof *r);
}

/* A string field: required ones must be present, strings and non-empty;
 * optional ones may be absent or null but, when present, must be strings. */
static int get_str(const cJSON *o, const char *key, int required, char **out, int line, ct_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required) return ct_fail(err, "line %d: missing field \"%s\"", line, key);
        return 0;
    }
    if (!cJSON_IsString(v)) return ct_fail(err, "line %d: field \"%s\" is not a string", line, key);
    if (required && !v->valuestring[0]) return ct_fail(err, "line %d: field \"%s\" is empty", line, key);
    *out = strdup(v->valuestring);
    return *out ? 0 : ct_fail(err, "line %d: out of memory", line);
}

static int get_str_list(const cJSON *o, const char *key, int required, char ***out, int *n, int line, ct_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL; *n = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required) return ct_fail(err, "line %d: missing field \"%s\"", line, key);
        return 0;
    }
    if (!cJSON_IsArray(v)) return ct_fail(err, "line %d: field \"%s\" is not a list", line, key);
    int m = cJSON_GetArraySize(v);
    if (m == 0) {
        if (required) return ct_fail(err, "line %d: field \"%s\" is an empty list", line, key);
        return 0;
    }
    *out = calloc((size_t)m, sizeof **out);
    if (!*out) return ct_fail(err, "line %d: out of memory", line);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return ct_fail(err, "line %d: \"%s\"[%d] is not a string", line, key, *n);
        if (!((*out)[*n] = strdup(it->valuestring))) return ct_fail(err, "line %d: out of memory", line);
        (*n)++;
    }
    return 0;
}

/* The top-level key under which the JSON text holds a string with the escape
 * \u0000, or NULL when none does.  C strings end at a NUL, so cJSON's value
 * would silently stop there (a truncated answer or subject): such a row is
 * refused instead.  A raw scan, since the parsed value no longer shows it;
 * "\\u0000" (an escaped backslash, then "u0000") is not a NUL. */
static const char *nul_escape_key(const char *s, size_t n, char *key, size_t cap)
{
    int depth = 0, in_str = 0, is_key = 0, expect_key = 0;
    size_t kb = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\') {
                if (i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) {
                    if (is_key) snprintf(key, cap, "a key");
                    return key;
                }
                i++;            /* skip the escaped character */
            } else if (ch == '"') {
                in_str = 0;
                if (is_key) snprintf(key, cap, "\"%.*s\"", (int)(i - kb > 60 ? 60 : i - kb), s + kb);
            }
            continue;
        }
        if (ch == '"') {
            in_str = 1;
            is_key = depth == 1 && expect_key;
            if (is_key) kb = i + 1;
            expect_key = 0;
        } else if (ch == '{' || ch == '[') { depth++; expect_key = ch == '{' && depth == 1; }
        else if (ch == '}' || ch == ']') depth--;
        else if (ch == ',' && depth == 1) expect_key = 1;
    }
    return NULL;
}

int ct_row_parse(ct_row *r, const char *text, size_t len, int line, ct_err *err)
{
    memset(r, 0, sizeof *r);
    r->line = line;
    cJSON *o = ct_json_parse(text, len);   /* duplicate keys: the last, as the seed tool reads it */
    if (!o) return ct_fail(err, "line %d: malformed JSON", line);
    char key[80] = "";
    if (nul_escape_key(text, len, key, sizeof key)) {
        cJSON_Delete(o);
        return ct_fail(err, "line %d: field %s holds \\u0000 (a NUL character), which ctrace cannot pass on; remove it",
                       line, key[0] ? key : "(unknown)");
    }
    int rc = -1;
    if (!cJSON_IsObject(o)) { ct_fail(err, "line %d: not a JSON object", line); goto out; }
    if (get_str_list(o, "answers", 1, &r->answers, &r->n_answers, line, err)) goto out;
    if (!r->answers[0][0]) { ct_fail(err, "line %d: empty answer", line); goto out; }
    if (get_str(o, "subj", 1, &r->subj, line, err)) goto out;
    if (get_str(o, "obj", 1, &r->obj, line, err)) goto out;
    if (get_str(o, "question", 0, &r->question, line, err)) goto out;
    if (get_str(o, "prop", 0, &r->prop, line, err)) goto out;
    if (get_str(o, "prompt_wo_ctx", 0, &r->prompt_wo_ctx, line, err)) goto out;
    if (get_str(o, "prompt_with_ctx", 0, &r->prompt_with_ctx, line, err)) goto out;
    if (get_str_list(o, "obj_cf", 0, &r->obj_cf, &r->n_obj_cf, line, err)) goto out;
    {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "passages");
        if (!ps || cJSON_IsNull(ps)) { ct_fail(err, "line %d: missing field \"passages\"", line); goto out; }
        if (!cJSON_IsArray(ps) || cJSON_GetArraySize(ps) == 0) {
            ct_fail(err, "line %d: field \"passages\" is not a non-empty list", line); goto out;
        }
        const cJSON *p0 = cJSON_GetArrayItem(ps, 0);
        if (!cJSON_IsObject(p0)) { ct_fail(err, "line %d: passages[0] is not an object", line); goto out; }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p0, "text");
        if (!t) { ct_fail(err, "line %d: missing field \"passages[0].text\"", line); goto out; }
        if (!cJSON_IsString(t)) { ct_fail(err, "line %d: passages[0].text is not a string", line); goto out; }
        if (!t->valuestring[0]) { ct_fail(err, "line %d: passages[0].text is empty", line); goto out; }
        if (!(r->context = strdup(t->valuestring))) { ct_fail(err, "line %d: out of memory", line); goto out; }
    }
    rc = 0;
out:
    cJSON_Delete(o);
    if (rc) { ct_row_free(r); r->line = line; }
    return rc;
}

struct ct_dataset {
    FILE *f;
    char *path;
    char *buf;
    size_t cap;
    int line;
};

int ct_dataset_open(ct_dataset **out, const char *path, ct_err *err)
{
    *out = NULL;
    ct_dataset *d = calloc(1, sizeof *d);
    if (!d) return ct_fail(err, "%s: out of memory", path);
    d->f = fopen(path, "rb");
    if (!d->f) { free(d); return ct_fail(err, "%s: cannot open dataset", path); }
    d->path = strdup(path);
    *out = d;
    return 0;
}

int ct_dataset_next(ct_dataset *d, ct_row *row, ct_err *err)
{
    memset(row, 0, sizeof *row);
    for (;;) {
        ssize_t n = getline(&d->buf, &d->cap, d->f);
        if (n < 0) return 0;
        d->line++;
        size_t k = (size_t)n;
        while (k && (d->buf[k - 1] == '\n' || d->buf[k - 1] == '\r' || d->buf[k - 1] == ' ' || d->buf[k - 1] == '\t')) k--;
        size_t s = 0;
        while (s < k && (d->buf[s] == ' ' || d->buf[s] == '\t')) s++;
        if (s == k) continue;   /* blank line */
        if (ct_row_parse(row, d->buf + s, k - s, d->line, err)) {
            /* prefix the path: "data.jsonl:12: missing field ..." */
            if (err) {
                char m[sizeof err->msg];
                snprintf(m, sizeof m, "%s", err->msg);
                const char *rest = strncmp(m, "line ", 5) ? m : m + 5;
                ct_fail(err, "%s:%s", d->path, rest);
            }
            return -1;
        }
        return 1;
    }
}

void ct_dataset_close(ct_dataset *d)
{
    if (!d) return;
    if (d->f) fclose(d->f);
    free(d->buf); free(d->path); free(d);
}
