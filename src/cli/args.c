/* args.c — see args.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"

static int known(const char *const *flags, const char *name, size_t len)
{
    for (int i = 0; flags && flags[i]; i++)
        if (strlen(flags[i]) == len && !strncmp(flags[i], name, len)) return 1;
    return 0;
}

int ct_args_parse(ct_args *a, int argc, char **argv, const char *const *flags)
{
    memset(a, 0, sizeof *a);
    a->cmd = argc > 0 ? argv[0] : "ctrace";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) { a->help = 1; continue; }
        if (strncmp(arg, "--", 2) != 0) {
            if (a->npos == CT_ARGS_MAX) { fprintf(stderr, "ctrace: %s: too many arguments\n", a->cmd); return -1; }
            a->pos[a->npos++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (!known(flags, name, len)) {
            fprintf(stderr, "ctrace: %s: unknown flag --%.*s (see ctrace %s --help)\n", a->cmd, (int)len, name, a->cmd);
            return -1;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else { fprintf(stderr, "ctrace: %s: --%.*s needs a value\n", a->cmd, (int)len, name); return -1; }
        if (a->n == CT_ARGS_MAX) { fprintf(stderr, "ctrace: %s: too many flags\n", a->cmd); return -1; }
        a->name[a->n] = name;
        a->name_len[a->n] = (int)len;
        a->value[a->n++] = val;
    }
    return 0;
}

int ct_args_is(const ct_args *a, int i, const char *name)
{
    size_t len = strlen(name);
    return i >= 0 && i < a->n && (size_t)a->name_len[i] == len && !strncmp(a->name[i], name, len);
}

const char *ct_args_str(const ct_args *a, const char *name, const char *def)
{
    size_t len = strlen(name);
    for (int i = a->n - 1; i >= 0; i--)
        if ((size_t)a->name_len[i] == len && !strncmp(a->name[i], name, len)) return a->value[i];
    return def;
}

int ct_args_int(const ct_args *a, const char *name, long def, long lo, long hi, int *out)
{
    const char *s = ct_args_str(a, name, NULL);
    if (!s) { *out = (int)def; return 0; }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "ctrace: %s: --%s must be an integer in [%ld, %ld], not '%s'\n", a->cmd, name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int ct_args_double(const ct_args *a, const char *name, double def, double *out)
{
    const char *s = ct_args_str(a, name, NULL);
    if (!s) { *out = def; return 0; }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v != v) {
        fprintf(stderr, "ctrace: %s: --%s must be a number, not '%s'\n", a->cmd, name, s);
        return -1;
    }
    *out = v;
    return 0;
}

int ct_parse_ids(const char *s, int32_t **out, int *n)
{
    int cap = 16, k = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 2147483647L || (*end && *end != ',')) { free(ids); return -1; }
        if (k == cap) {
            int32_t *g = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!g) { free(ids); return -1; }
            ids = g;
        }
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) { free(ids); return -1; }
    }
    if (!k) { free(ids); return -1; }
    *out = ids;
    *n = k;
    return 0;
}

int ct_args_ids(const ct_args *a, const char *name, int32_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    const char *s = ct_args_str(a, name, NULL);
    if (!s) return 0;
    if (ct_parse_ids(s, out, n) != 0) {
        fprintf(stderr, "ctrace: %s: --%s must be comma-separated token ids like 1,17,250, not '%s'\n", a->cmd, name, s);
        return -1;
    }
    return 0;
}
