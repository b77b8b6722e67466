/* cmd_logits.c — `ctrace logits`: one forward pass of given token ids, written
 * as safetensors (logits [T, V], resid [L+1, T, D]) for checking a model
 * against transformers, and `ctrace info`: the architecture summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* --flag value or --flag=value; returns the value or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == 0 && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int parse_ids(const char *s, int32_t **out, int *n)
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
            cap *= 2;
            int32_t *g = realloc(ids, (size_t)cap * sizeof *ids);
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

int cmd_logits(int argc, char **argv)
{
    const char *model = NULL, *ids_s = NULL, *out = NULL, *v;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ctrace logits --model_name DIR --token_ids 1,17,250 --out FILE [--threads N]\n"
                   "  writes FILE (safetensors): logits f32 [T, V], resid f32 [L+1, T, D]\n"
                   "  (resid[0] = input to block 0, resid[i] = output of block i-1, no final norm)\n");
            return 0;
        }
        if ((v = flag_value(argc, argv, &i, "--model_name"))) model = v;
        else if ((v = flag_value(argc, argv, &i, "--token_ids"))) ids_s = v;
        else if ((v = flag_value(argc, argv, &i, "--out"))) out = v;
        else if ((v = flag_value(argc, argv, &i, "--threads"))) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) { fprintf(stderr, "ctrace: --threads must be a positive integer, got '%s'\n", v); return 2; }
            threads = (int)t;
        } else { fprintf(stderr, "ctrace: logits: unknown or incomplete flag '%s' (see ctrace logits --help)\n", argv[i]); return 2; }
    }
    if (!model || !ids_s || !out) {
        fprintf(stderr, "ctrace: logits needs --model_name DIR, --token_ids LIST and --out FILE\n");
        return 2;
    }
    int32_t *ids;
    int T;
    if (parse_ids(ids_s, &ids, &T)) {
        fprintf(stderr, "ctrace: --token_ids: '%s' is not a comma-separated list of non-negative integers\n", ids_s);
        return 2;
    }
    ct_set_threads(threads);
    ct_err err = {{0}};
    ct_model *m = NULL;
    if (ct_model_load(&m, model, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); free(ids); return 1; }
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m), V = ct_model_vocab(m);
    float *logits = malloc((size_t)T * V * sizeof(float));            /* [T, V] */
    float *resid = malloc((size_t)(L + 1) * T * D * sizeof(float));   /* [L+1, T, D] */
    int rc = 1;
    if (!logits || !resid) { fprintf(stderr, "ctrace: out of memory for %d tokens\n", T); goto done; }
    if (ct_forward(m, ids, T, logits, resid, &err)) { fprintf(stderr, "ctrace: %s: %s\n", model, err.msg); goto done; }
    ct_st_out t[2] = {
        {"logits", CT_F32, 2, {T, V}, logits},
        {"resid", CT_F32, 3, {L + 1, T, D}, resid},
    };
    char meta[256];
    snprintf(meta, sizeof meta, "{\"model_type\": \"%s\", \"format\": \"ctrace-logits\"}", ct_model_config(m)->model_type);
    if (ct_st_write(out, t, 2, meta, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    rc = 0;
done:
    free(logits);
    free(resid);
    free(ids);
    ct_model_free(m);
    return rc;
}

int cmd_info(int argc, char **argv)
{
    const char *model = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ctrace info --model_name DIR\n  prints the model's architecture summary\n");
            return 0;
        }
        if ((v = flag_value(argc, argv, &i, "--model_name"))) model = v;
        else { fprintf(stderr, "ctrace: info: unknown or incomplete flag '%s' (see ctrace info --help)\n", argv[i]); return 2; }
    }
    if (!model) { fprintf(stderr, "ctrace: info needs --model_name DIR\n"); return 2; }
    ct_err err = {{0}};
    ct_model *m = NULL;
    if (ct_model_load(&m, model, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); return 1; }
    char buf[4096];
    ct_model_describe(m, buf, sizeof buf);
    printf("model:        %s\n%s", model, buf);
    ct_model_free(m);
    return 0;
}
