/* fuzz_row.c — libFuzzer target: one arbitrary JSONL dataset line.  The row
 * parses or is refused with a message naming the line; a parsed row builds its
 * prompt (default format, every experiment's spans) or is refused; and the
 * errors.jsonl line of any refusal is valid UTF-8 that parses back (issue 16:
 * raw invalid UTF-8 from the dataset made lines Python's json cannot read).
 * Seeds: tests/fuzz/seeds_rows/.  `make fuzz`. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0) return 0;
        p++;
        for (int i = 0; i < n; i++, p++) if ((*p & 0xc0) != 0x80) return 0;
    }
    return 1;
}

static void error_line(const char *msg)
{
    char *l = ct_error_line(0, 1, "data.jsonl", msg);
    if (!l || !valid_utf8(l)) abort();
    cJSON *o = cJSON_Parse(l);
    if (!o) abort();
    cJSON_Delete(o);
    free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_row r;
    ct_err err;
    if (ct_row_parse(&r, (const char *)data, size, 1, &err)) {
        if (strncmp(err.msg, "line 1:", 7)) abort();
        error_line(err.msg);
        return 0;
    }
    ct_prompt p;
    if (ct_prompt_build(&p, &r, NULL, NULL, &err) == 0) {
        if (p.text && strlen(p.text) != (size_t)p.len) abort();
        ct_prompt_free(&p);
    } else {
        error_line(err.msg);
    }
    for (int i = 0; i < r.n_obj_cf && i < 2; i++)
        if (ct_prompt_build(&p, &r, NULL, r.obj_cf[i], &err) == 0) ct_prompt_free(&p); else error_line(err.msg);
    ct_row_free(&r);
    return 0;
}
