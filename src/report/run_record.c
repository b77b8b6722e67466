/* run_record.c — run.json, and the seed's names for case files and figures. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctrace_app.h"
#include "report/report_internal.h"

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v) cJSON_AddStringToObject(o, k, v); else cJSON_AddNullToObject(o, k);
}

static void add_time(cJSON *o, const char *k, double t)
{
    if (t <= 0) { cJSON_AddNullToObject(o, k); return; }
    time_t s = (time_t)t;
    struct tm tm;
    char b[32];
    gmtime_r(&s, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, k, b);
}

char *ct_run_json(const ct_run_record *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ctrace_version", CTRACE_VERSION);
    cJSON *argv = cJSON_AddArrayToObject(o, "argv");
    for (int i = 0; i < r->argc; i++) cJSON_AddItemToArray(argv, cJSON_CreateString(r->argv[i] ? r->argv[i] : ""));
    cJSON *st = r->settings_json ? cJSON_Parse(r->settings_json) : NULL;
    if (st) cJSON_AddItemToObject(o, "settings", st); else cJSON_AddNullToObject(o, "settings");
    add_str(o, "model", r->model);
    add_str(o, "tokenizer", r->tokenizer);
    add_str(o, "data_path", r->data_path);
    add_str(o, "output_dir", r->output_dir);
    add_time(o, "started", r->started);
    add_time(o, "finished", r->finished);
    if (r->finished > 0 && r->started > 0) cJSON_AddNumberToObject(o, "seconds", r->finished - r->started);
    else cJSON_AddNullToObject(o, "seconds");
    cJSON *rows = cJSON_AddObjectToObject(o, "rows");
    cJSON_AddNumberToObject(rows, "total", r->rows_total);
    cJSON_AddNumberToObject(rows, "ok", r->rows_ok);
    cJSON_AddNumberToObject(rows, "skipped", r->rows_skipped);
    cJSON *cases = cJSON_AddObjectToObject(o, "cases");
    cJSON_AddNumberToObject(cases, "written", r->cases_written);
    cJSON_AddNumberToObject(cases, "reused", r->cases_reused);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* Appends s to buf at *n with the seed's substitutions (dash = 1: ' ' and
 * '_' -> '-') and the file-system ones ('/' and control bytes -> '-'). */
static int put(char *buf, size_t cap, size_t *n, const char *s, int dash)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char o = (char)c;
        if (c == '/' || c < 0x20 || c == 0x7f || (dash && (c == ' ' || c == '_'))) o = '-';
        if (*n + 1 >= cap) return -1;
        buf[(*n)++] = o;
    }
    buf[*n] = 0;
    return 0;
}

/* A file name must stay within NAME_MAX (255 bytes on Linux) with the
 * ".tmp.<pid>" suffix of its temporary: names are kept to NAME_BUDGET bytes. */
#define NAME_BUDGET 200

/* Bytes put() writes for s (one per byte). */
static size_t put_len(const char *s) { return s ? strlen(s) : 0; }

/* put() of s, but at most max bytes: a longer s becomes its first bytes (cut
 * at a UTF-8 character boundary) + "~" + 16 hex digits of a hash of all of s,
 * so that two long names that share their beginning stay distinct and a rerun
 * finds the same name. */
static int put_short(char *buf, size_t cap, size_t *n, const char *s, int dash, size_t max)
{
    size_t len = put_len(s);
    if (len <= max) return put(buf, cap, n, s, dash);
    uint64_t h = 1469598103934665603ull;            /* FNV-1a 64 */
    for (const char *p = s; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    size_t keep = max > 17 ? max - 17 : 0;
    while (keep && ((unsigned char)s[keep] & 0xc0) == 0x80) keep--;   /* not inside a character */
    char *head = strndup(s, keep);
    if (!head) return -1;
    char tail[24];
    snprintf(tail, sizeof tail, "~%016llx", (unsigned long long)h);
    int rc = put(buf, cap, n, head, dash) || put(buf, cap, n, tail, 0);
    free(head);
    return rc;
}

int ct_case_name(char *buf, size_t cap, int row, const char *kind, const char *obj)
{
    int k = snprintf(buf, cap, "%d_%s_", row, kind);
    if (k < 0 || (size_t)k >= cap) return -1;
    size_t n = (size_t)k, fixed = n + 4;
    if (fixed + 18 > NAME_BUDGET) return -1;
    return put_short(buf, cap, &n, obj, 1, NAME_BUDGET - fixed) || put(buf, cap, &n, ".bin", 0) ? -1 : 0;
}

int ct_pdf_name(char *buf, size_t cap, const char *answer, int row, const char *kind, const char *cf, const char *ext)
{
    /* the seed writes str(answer).strip() */
    const char *a = answer ? answer : "";
    while (isspace((unsigned char)*a)) a++;
    size_t al = strlen(a);
    while (al && isspace((unsigned char)a[al - 1])) al--;
    char *ans = strndup(a, al);
    if (!ans) return -1;
    size_t n = 0;
    if (cap) buf[0] = 0;
    char mid[64];
    snprintf(mid, sizeof mid, "_%d_", row);
    /* the budget left for the answer and cf: the shorter keeps its length,
     * the longer gets the rest (both long: half each) */
    size_t fixed = strlen(mid) + strlen(kind) + (cf ? 1 : 0) + 1 + strlen(ext), la = al, lc = put_len(cf);
    if (fixed + (cf ? 36 : 18) > NAME_BUDGET) { free(ans); return -1; }
    size_t room = NAME_BUDGET - fixed, ma = la, mc = lc;
    if (la + lc > room) {
        if (la <= room / 2) mc = room - la;
        else if (lc <= room / 2) ma = room - lc;
        else { ma = room / 2; mc = room - ma; }
    }
    int rc = put_short(buf, cap, &n, ans, 0, ma);
    free(ans);
    if (rc) return -1;
    if (put(buf, cap, &n, mid, 0) || put(buf, cap, &n, kind, 0)) return -1;
    if (cf && (put(buf, cap, &n, "_", 0) || put_short(buf, cap, &n, cf, 1, mc))) return -1;
    return put(buf, cap, &n, ".", 0) || put(buf, cap, &n, ext, 0) ? -1 : 0;
}
