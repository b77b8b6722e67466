/* cmd_trace.c — `ctrace trace`: one causal trace of token ids, written as a
 * case file (docs/case-file.md).
 *
 *   ctrace trace --model_name DIR --token_ids 1,2,3 --target B:E[,B:E...]
 *                --answer_ids 5[,9] [--cf_ids 7[,8] ...] --kind hidden|mlp|attention|head|all
 *                --samples S --window W [--noise_level X|sN] [--seed 1] [--replace 0|1]
 *                [--reverse_patching 0|1] [--metric prob|logprob|logratio]
 *                [--engine fast|naive] [--threads N] --out FILE.bin */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "args.h"

static const char *usage_text =
    "usage: ctrace trace --model_name DIR|ORG/NAME[@REV] (--token_ids 1,2,3 | --prompt TEXT) --target B:E[,B:E...]\n"
    "                    (--answer_ids 5[,9] | --answer TEXT) [--cf_ids 7[,8] ...]\n"
    "                    --kind hidden|mlp|attention|head|all --samples S --window W [--noise_level X|sN]\n"
    "                    [--seed 1] [--replace 0|1] [--reverse_patching 0|1]\n"
    "                    [--metric prob|logprob|logratio] [--engine fast|naive] [--threads N] --out FILE.bin\n"
    "                    [--backend cpu|openblas|ref] [--dtype f32|bf16] [--device cpu|cuda[:N]]\n"
    "Token ranges are half-open and 0-based.  --cf_ids / --cf may be repeated (one counterfactual each).\n"
    "--prompt is tokenized with the model directory's tokenizer.json as Hugging Face does by default\n"
    "(special tokens added); --answer and --cf TEXT are scored as the tokens of \" TEXT\" that follow\n"
    "the prompt (prompt + \" TEXT\" encoded together).  Check token positions with `ctrace tokenize`.\n"
    "With --kind all, one file per kind: FILE.hidden.bin, FILE.mlp.bin, FILE.attention.bin.\n"
    "--kind head restores each query head's attention context (the input of the output projection)\n"
    "at one (position, layer): scores and ie are [T, L, H]; asked for by name, not part of all.\n"
    CLI_COMPUTE_USAGE;

/* Encodes text with the tokenizer; 0 / -1 (message printed). */
static int encode(const ct_tokenizer *tok, const char *text, int add_special, int32_t **ids, int *n)
{
    char *buf = malloc(strlen(text) + 2);
    if (!buf) return -1;
    sprintf(buf, "%s", text);
    ct_encoding e;
    ct_err err = {0};
    int rc = ct_encode(tok, buf, strlen(buf), add_special, &e, &err);
    free(buf);
    if (rc) { fprintf(stderr, "ctrace: trace: %s\n", err.msg); return -1; }
    if (e.n < 1) { ct_encoding_free(&e); fprintf(stderr, "ctrace: trace: '%s' encodes to no tokens\n", text); return -1; }
    *ids = malloc((size_t)e.n * sizeof **ids);
    if (!*ids) { ct_encoding_free(&e); return -1; }
    memcpy(*ids, e.ids, (size_t)e.n * sizeof **ids);
    *n = e.n;
    ct_encoding_free(&e);
    return 0;
}

/* " " + text as the tokens that follow the prompt (ct_encode_continuation);
 * a leading space in text is the one the answer gets anyway.  0 / -1 (printed). */
static int encode_next(const ct_tokenizer *tok, const char *prompt, const char *text, int32_t **ids, int *n)
{
    ct_err err = {0};
    if (ct_encode_continuation(tok, prompt, text[0] == ' ' ? text + 1 : text, ids, n, &err)) {
        fprintf(stderr, "ctrace: trace: %s\n", err.msg);
        return -1;
    }
    if (*n < 1) { fprintf(stderr, "ctrace: trace: '%s' encodes to no tokens\n", text); return -1; }
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static void progress(void *ctx, long done, long total)
{
    const char *kind = ctx;
    fprintf(stderr, "\rctrace: tracing %s: %ld/%ld cells", kind, done, total);
    if (done == total) fprintf(stderr, "\n");
}

int cmd_trace(int argc, char **argv)
{
    const char *model_dir = NULL, *model_id = NULL, *out = NULL, *prompt = NULL, *answer_text = NULL, *cf_text[64] = {0};
    char *extra = NULL;
    ct_tokenizer *tok = NULL;
    int32_t *ids = NULL, *answer = NULL, *ranges = NULL;
    int n_ids = 0, n_answer = 0, n_ranges = 0, n_cf = 0, all = 0, threads = 0, rc = 1;
    int32_t *cf[64];
    int cf_len[64];
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    ct_err err = {0};
    ct_model *m = NULL;
    char snapshot[4096];
    int hub = 0;

    static const char *const FLAGS[] = {"model_name", "out", "token_ids", "answer_ids", "cf_ids", "target", "kind",
        "samples", "window", "seed", "replace", "reverse_patching", "threads", "metric", "engine", "noise_level",
        "prompt", "answer", "cf", "backend", "dtype", "device", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) goto done;
    if (a.help) { fputs(usage_text, stdout); rc = 0; goto done; }
    if (a.npos) { fprintf(stderr, "ctrace: trace: unexpected argument '%s'\n", a.pos[0]); goto done; }
    const char *name = NULL, *val = NULL;
#define BAD(what) do { fprintf(stderr, "ctrace: trace: --%s '%s': %s\n", name, val, what); goto done; } while (0)
#define FLAG(n_) (name = (n_), val = ct_args_str(&a, name, NULL))
    model_dir = ct_args_str(&a, "model_name", NULL);
    out = ct_args_str(&a, "out", NULL);
    prompt = ct_args_str(&a, "prompt", NULL);
    answer_text = ct_args_str(&a, "answer", NULL);
    if (ct_args_ids(&a, "token_ids", &ids, &n_ids) || ct_args_ids(&a, "answer_ids", &answer, &n_answer)) goto done;
    /* counterfactuals, in the order given: --cf_ids ids or --cf TEXT, repeatable */
    for (int i = 0; i < a.n; i++) {
        int is_ids = ct_args_is(&a, i, "cf_ids");
        if (!is_ids && !ct_args_is(&a, i, "cf")) continue;
        name = is_ids ? "cf_ids" : "cf";
        val = a.value[i];
        if (n_cf == 63) BAD("at most 63 counterfactuals");
        cf[n_cf] = NULL;
        cf_text[n_cf] = is_ids ? NULL : val;
        if (is_ids && ct_parse_ids(val, &cf[n_cf], &cf_len[n_cf])) BAD("expected comma-separated token ids");
        n_cf++;
    }
    if (FLAG("target")) {
        char *copy = strdup(val), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            long b, e;
            char *colon = strchr(tok, ':');
            if (!colon) { free(copy); BAD("expected B:E[,B:E...] (half-open, 0-based)"); }
            *colon = 0;
            if (parse_int(tok, 0, INT32_MAX, &b) || parse_int(colon + 1, 0, INT32_MAX, &e)) { free(copy); BAD("expected B:E[,B:E...] (half-open, 0-based)"); }
            int32_t *nr = realloc(ranges, (size_t)(n_ranges + 1) * 2 * sizeof *nr);
            if (!nr) { free(copy); BAD("out of memory"); }
            ranges = nr;
            ranges[2 * n_ranges] = (int32_t)b;
            ranges[2 * n_ranges + 1] = (int32_t)e;
            n_ranges++;
        }
        free(copy);
        if (!n_ranges) BAD("expected B:E[,B:E...]");
    }
    if (FLAG("kind")) {
        ct_kind k;
        if (!strcmp(val, "all")) all = 1;
        else if (ct_kind_parse(val, &k)) BAD("expected hidden, mlp, attention, head or all");
        else s.kind = k;
    }
    long x;
    if (FLAG("seed")) { if (parse_int(val, 0, 4294967295L, &x)) BAD("expected an integer in [0, 2^32)"); s.seed = (uint32_t)x; }
    if (ct_args_int(&a, "samples", s.samples, 1, 100000, &s.samples) || ct_args_int(&a, "window", s.window, 1, 100000, &s.window) ||
        ct_args_int(&a, "replace", s.replace, 0, 1, &s.replace) || ct_args_int(&a, "reverse_patching", s.reverse, 0, 1, &s.reverse) ||
        ct_args_int(&a, "threads", 0, 1, 1024, &threads))
        goto done;
    if (FLAG("metric") && ct_metric_parse(val, &s.metric)) BAD("expected prob, logprob or logratio");
    if (FLAG("engine") && ct_engine_parse(val, &s.engine)) BAD("expected fast or naive");
    if (FLAG("noise_level") && ct_noise_parse(val, &s, &err)) { fprintf(stderr, "ctrace: trace: %s\n", err.msg); goto done; }
#undef FLAG
#undef BAD
    if (!model_dir) { fprintf(stderr, "ctrace: trace: --model_name DIR is required\n"); goto done; }
    if (!ids && !prompt) { fprintf(stderr, "ctrace: trace: needs --token_ids or --prompt\n"); goto done; }
    if (ids && prompt) { fprintf(stderr, "ctrace: trace: give --token_ids or --prompt, not both\n"); goto done; }
    if (!ranges) { fprintf(stderr, "ctrace: trace: --target B:E is required\n"); goto done; }
    if (!answer && !answer_text) { fprintf(stderr, "ctrace: trace: needs --answer_ids or --answer\n"); goto done; }
    if (answer && answer_text) { fprintf(stderr, "ctrace: trace: give --answer_ids or --answer, not both\n"); goto done; }
    if (!out) { fprintf(stderr, "ctrace: trace: --out FILE.bin is required\n"); goto done; }
    model_id = model_dir;
    if (!(model_dir = cli_resolve(model_dir, snapshot, sizeof snapshot, &hub))) goto done;
    int need_tok = prompt || answer_text;
    for (int c = 0; c < n_cf; c++) need_tok |= cf_text[c] != NULL;
    if (need_tok) {
        if (ct_tokenizer_load(&tok, model_dir, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        if (prompt && encode(tok, prompt, 1, &ids, &n_ids)) goto done;
        if (answer_text && encode_next(tok, prompt, answer_text, &answer, &n_answer)) goto done;
        for (int c = 0; c < n_cf; c++)
            if (cf_text[c] && encode_next(tok, prompt, cf_text[c], &cf[c], &cf_len[c])) goto done;
        /* the texts and token strings go into the case file for reports */
        cJSON *x = cJSON_CreateObject();
        if (prompt) cJSON_AddStringToObject(x, "prompt", prompt);
        if (answer_text) cJSON_AddStringToObject(x, "answer_text", answer_text);
        if (hub) cJSON_AddStringToObject(x, "model_id", model_id);
        cJSON *ts = cJSON_AddArrayToObject(x, "token_strings");
        for (int i = 0; i < n_ids; i++) {
            char *piece = NULL;
            ct_err e2 = {0};
            if (ct_decode(tok, &ids[i], 1, 0, &piece, &e2) == 0) cJSON_AddItemToArray(ts, cJSON_CreateString(piece));
            else cJSON_AddItemToArray(ts, cJSON_CreateNull());
            free(piece);
        }
        extra = cJSON_PrintUnformatted(x);
        cJSON_Delete(x);
    } else if (hub) {
        /* the case file's "model" is the snapshot folder; the id it came from goes beside it */
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "model_id", model_id);
        extra = cJSON_PrintUnformatted(x);
        cJSON_Delete(x);
    }
    if (threads) ct_set_threads(threads);
    if (cli_device("trace", ct_args_str(&a, "backend", NULL), ct_args_str(&a, "device", NULL))) { rc = 2; goto done; }
    if (ct_model_load(&m, model_dir, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    if (cli_compute("trace", m, ct_args_str(&a, "backend", NULL), ct_args_str(&a, "dtype", NULL),
                    ct_args_str(&a, "device", NULL))) { rc = 2; goto done; }

    ct_trace_input in = {.ids = ids, .n_ids = n_ids, .ranges = ranges, .n_ranges = n_ranges, .answer = answer,
                         .n_answer = n_answer, .n_cf = n_cf, .cf = (const int32_t *const *)cf, .cf_len = cf_len};
    ct_kind kinds[3] = {CT_KIND_HIDDEN, CT_KIND_MLP, CT_KIND_ATTN};
    int nk = all ? 3 : 1;
    for (int k = 0; k < nk; k++) {
        if (all) s.kind = kinds[k];
        char path[4096];
        if (all) {
            size_t len = strlen(out);
            int strip = len > 4 && !strcmp(out + len - 4, ".bin");
            snprintf(path, sizeof path, "%.*s.%s.bin", (int)(strip ? len - 4 : len), out, ct_kind_name(s.kind));
        } else snprintf(path, sizeof path, "%s", out);
        s.progress = isatty(2) ? progress : NULL;   /* a progress line only for a person watching */
        s.progress_ctx = (void *)ct_kind_name(s.kind);
        ct_trace_result r;
        if (ct_trace_run(m, &in, &s, &r, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        int werr = ct_case_write(path, &in, &s, &r, model_dir, extra, &err);
        char hbuf[32] = "";
        if (s.kind == CT_KIND_HEAD) snprintf(hbuf, sizeof hbuf, " H=%d", r.H);
        if (!werr)
            printf("%s: %s, T=%d L=%d%s S=%d, high %.6g, low %.6g, te %.6g (%s), %ld cells run, %.2f s (%s engine)\n", path,
                   ct_kind_name(s.kind), r.T, r.L, hbuf, r.S, r.targets[0].high_score, r.targets[0].low_score, r.te,
                   ct_metric_name(s.metric), r.cells_run, r.seconds, ct_engine_name(s.engine));
        ct_trace_result_free(&r);
        if (werr) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    }
    rc = 0;
done:
    ct_model_free(m);
    ct_tokenizer_free(tok);
    cJSON_free(extra);
    free(ids); free(answer); free(ranges);
    for (int c = 0; c < n_cf; c++) free(cf[c]);
    return rc;
}
