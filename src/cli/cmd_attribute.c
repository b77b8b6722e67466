/* cmd_attribute.c — `ctrace attribute`: direct logit attribution at the last
 * position (ct_attribute, docs/heads.md): which heads and MLPs push the answer
 * over the counterfactual, written as safetensors.
 *
 *   ctrace attribute --model_name DIR (--token_ids 1,2,3 | --prompt TEXT)
 *                    (--answer_ids 5 | --answer TEXT) (--cf_ids 7 | --cf TEXT) --out FILE
 *                    [--target B:E[,B:E...] --samples S --seed N --noise_level X|sN --replace 0|1]
 *                    [--plot FIGURE|none]
 * and its figure (ct_attribution_plot): by default FILE with its extension
 * replaced by .pdf; --plot PATH (format from the extension) or none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "args.h"
#include <cjson/cJSON.h>

static const char *usage_text =
    "usage: ctrace attribute --model_name DIR|ORG/NAME[@REV] (--token_ids 1,2,3 | --prompt TEXT)\n"
    "                        (--answer_ids 5 | --answer TEXT) (--cf_ids 7 | --cf TEXT) --out FILE.safetensors [--threads N]\n"
    "                        [--target B:E[,B:E...] [--samples 10] [--seed 1] [--noise_level X|sN] [--replace 0|1]]\n"
    "                        [--plot FIGURE.pdf|.png|.svg|none] [--backend cpu|openblas|ref] [--dtype f32|bf16]\n"
    "Direct logit attribution at the last position: each component's direct contribution to\n"
    "logit(answer) - logit(cf) through the final norm with its scale frozen from the run.  Writes\n"
    "heads f32 [L, H], mlp f32 [L], attn_bias f32 [L], embed f32 [], norm_bias f32 [], lm_bias f32 [],\n"
    "total f32 [] (what the parts sum to) and logit_diff f32 [] (the logits' difference; the same as\n"
    "total except after gemma2's final soft cap).  --answer / --cf TEXT: the first token of \" TEXT\"\n"
    "after the prompt (one logit each).  With --target, also the corrupted run's attribution (the noise\n"
    "of `ctrace trace` with the same flags, mean over the samples): corrupted_heads, corrupted_mlp, ...\n"
    "The figure (a layer x head map of the heads and a bar per layer for the MLPs; the corrupted run's\n"
    "beside them) goes to --plot, by default FILE with its extension replaced by .pdf; --plot none: no figure.\n";

/* The first token of " TEXT" after the prompt; 0 / -1 (printed). */
static int first_next(const ct_tokenizer *tok, const char *prompt, const char *text, int32_t *out)
{
    ct_err err = {0};
    int32_t *ids = NULL;
    int n = 0;
    if (ct_encode_continuation(tok, prompt, text[0] == ' ' ? text + 1 : text, &ids, &n, &err)) {
        fprintf(stderr, "ctrace: attribute: %s\n", err.msg);
        return -1;
    }
    if (n < 1) { free(ids); fprintf(stderr, "ctrace: attribute: '%s' encodes to no tokens\n", text); return -1; }
    *out = ids[0];
    free(ids);
    return 0;
}

int cmd_attribute(int argc, char **argv)
{
    static const char *const FLAGS[] = {"model_name", "token_ids", "prompt", "answer_ids", "answer", "cf_ids", "cf",
                                        "out", "threads", "target", "samples", "seed", "noise_level", "replace", "plot",
                                        "backend", "dtype", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    const char *model = ct_args_str(&a, "model_name", NULL), *out = ct_args_str(&a, "out", NULL);
    const char *prompt = ct_args_str(&a, "prompt", NULL), *ans_text = ct_args_str(&a, "answer", NULL),
               *cf_text = ct_args_str(&a, "cf", NULL);
    int has_ids = ct_args_str(&a, "token_ids", NULL) != NULL, has_a = ct_args_str(&a, "answer_ids", NULL) != NULL,
        has_cf = ct_args_str(&a, "cf_ids", NULL) != NULL;
    int threads;
    if (ct_args_int(&a, "threads", 0, 1, 1024, &threads)) return 2;
    if (!model || !out || has_ids == !!prompt || has_a == !!ans_text || has_cf == !!cf_text) {
        fprintf(stderr, "ctrace: attribute needs --model_name, --out, one of --token_ids/--prompt, "
                        "one of --answer_ids/--answer and one of --cf_ids/--cf\n");
        return 2;
    }
    /* the figure: --plot PATH (format from its extension), none, or OUT with .pdf for its extension */
    const char *plot = ct_args_str(&a, "plot", NULL);
    char fig[4200] = "";
    ct_plot_format fmt = CT_PLOT_PDF;
    if (plot && strcmp(plot, "none")) {
        const char *dot = strrchr(plot, '.');
        if (!dot || ct_plot_format_parse(dot + 1, &fmt)) {
            fprintf(stderr, "ctrace: attribute: --plot '%s': the name must end in .pdf, .png or .svg (or be none)\n", plot);
            return 2;
        }
        snprintf(fig, sizeof fig, "%s", plot);
    } else if (!plot) {                         /* F.safetensors -> F.pdf */
        snprintf(fig, sizeof fig, "%s", out);
        char *dot = strrchr(fig, '.'), *slash = strrchr(fig, '/');
        if (dot && (!slash || dot > slash + 1)) *dot = 0;
        strncat(fig, ".pdf", sizeof fig - strlen(fig) - 1);
    }
    int32_t *ids = NULL, *av = NULL, *cv = NULL, answer = -1, cf = -1;
    int T = 0, na = 0, nc = 0, rc = 1;
    ct_tokenizer *tok = NULL;
    ct_model *m = NULL;
    ct_attribution r = {0}, rc_ = {0};         /* the clean run's, the corrupted run's */
    int32_t *ranges = NULL;                    /* [n_ranges, 2] --target */
    int n_ranges = 0;
    ct_err err = {0};
    if ((has_ids && ct_args_ids(&a, "token_ids", &ids, &T)) || (has_a && ct_args_ids(&a, "answer_ids", &av, &na)) ||
        (has_cf && ct_args_ids(&a, "cf_ids", &cv, &nc))) { rc = 2; goto done; }
    if ((has_a && na != 1) || (has_cf && nc != 1)) {
        fprintf(stderr, "ctrace: attribute: --answer_ids and --cf_ids take one token each (one logit)\n");
        rc = 2;
        goto done;
    }
    if (has_a) answer = av[0];
    if (has_cf) cf = cv[0];
    char dir[4096];
    if (!(model = cli_resolve(model, dir, sizeof dir, NULL))) goto done;
    if (prompt || ans_text || cf_text) {
        if (ct_tokenizer_load(&tok, model, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        if (prompt) {
            ct_encoding e;
            if (ct_encode(tok, prompt, strlen(prompt), 1, &e, &err)) { fprintf(stderr, "ctrace: attribute: %s\n", err.msg); goto done; }
            T = e.n;
            ids = malloc((size_t)(T ? T : 1) * sizeof *ids);
            if (ids) memcpy(ids, e.ids, (size_t)T * sizeof *ids);
            ct_encoding_free(&e);
            if (!ids) { fprintf(stderr, "ctrace: attribute: out of memory\n"); goto done; }
        }
        if (ans_text && first_next(tok, prompt, ans_text, &answer)) goto done;
        if (cf_text && first_next(tok, prompt, cf_text, &cf)) goto done;
    }
    /* the corrupted run: the noise settings of `ctrace trace` */
    ct_trace_settings ts;
    ct_trace_settings_default(&ts);
    const char *target = ct_args_str(&a, "target", NULL), *nl = ct_args_str(&a, "noise_level", NULL);
    if (ct_args_int(&a, "samples", ts.samples, 1, 100000, &ts.samples) || ct_args_int(&a, "replace", 0, 0, 1, &ts.replace)) {
        rc = 2;
        goto done;
    }
    const char *sv = ct_args_str(&a, "seed", NULL);
    if (sv) {
        char *end;
        unsigned long x = strtoul(sv, &end, 10);
        if (!*sv || *end || *sv == '-' || x > 4294967295UL) { fprintf(stderr, "ctrace: attribute: --seed '%s': expected an integer in [0, 2^32)\n", sv); rc = 2; goto done; }
        ts.seed = (uint32_t)x;
    }
    if (nl && ct_noise_parse(nl, &ts, &err)) { fprintf(stderr, "ctrace: attribute: %s\n", err.msg); rc = 2; goto done; }
    if (target) {
        char *copy = strdup(target), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); copy && p; p = strtok_r(NULL, ",", &save)) {
            int b, e, used = 0;
            int32_t *nr = sscanf(p, "%d:%d%n", &b, &e, &used) == 2 && !p[used] ? realloc(ranges, (size_t)(n_ranges + 1) * 2 * sizeof *nr) : NULL;
            if (!nr) { fprintf(stderr, "ctrace: attribute: --target '%s': expected B:E[,B:E...] (half-open, 0-based)\n", target); free(copy); rc = 2; goto done; }
            ranges = nr;
            ranges[2 * n_ranges] = b;
            ranges[2 * n_ranges + 1] = e;
            n_ranges++;
        }
        free(copy);
    }
    if (threads) ct_set_threads(threads);
    if (ct_model_load(&m, model, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    if (cli_compute("attribute", m, ct_args_str(&a, "backend", NULL), ct_args_str(&a, "dtype", NULL), NULL)) goto done;
    if (ct_attribute(m, ids, T, answer, cf, &r, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    if (n_ranges) {
        ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = ranges, .n_ranges = n_ranges};
        if (ct_attribute_corrupted(m, &in, &ts, answer, cf, &rc_, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    }
    ct_trace_input in = {.ids = ids, .n_ids = T, .ranges = ranges, .n_ranges = n_ranges};
    /* the model type, and the answer and counterfactual texts when given (the figure's labels) */
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "model_type", ct_model_config(m)->model_type);
    if (ans_text) cJSON_AddStringToObject(x, "answer", ans_text[0] == ' ' ? ans_text + 1 : ans_text);
    if (cf_text) cJSON_AddStringToObject(x, "cf", cf_text[0] == ' ' ? cf_text + 1 : cf_text);
    char *extra = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    int werr = !extra || ct_attribution_write(out, &in, answer, cf, &r, n_ranges ? &rc_ : NULL, &ts, extra, &err);
    cJSON_free(extra);
    if (werr) {
        fprintf(stderr, "ctrace: %s\n", extra ? err.msg : "out of memory");
        goto done;
    }
    /* one line: the total and the head that pushes the answer most */
    int best = 0;
    for (int q = 1; q < r.L * r.H; q++) if (r.heads[q] > r.heads[best]) best = q;
    printf("%s: logit(%d) - logit(%d) = %.6g (parts sum %.6g); embed %.4g; top head L%d.H%d %+.4g\n", out, answer, cf,
           r.total, r.parts_sum, r.embed, best / r.H, best % r.H, r.heads[best]);
    if (n_ranges) printf("%s: corrupted (%d samples): logit(%d) - logit(%d) = %.6g\n", out, ts.samples, answer, cf, rc_.total);
    if (fig[0]) {
        if (ct_attribution_plot(out, fig, fmt, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
        printf("%s\n", fig);
    }
    rc = 0;
done:
    ct_attribution_free(&r);
    ct_attribution_free(&rc_);
    free(ranges);
    ct_model_free(m);
    ct_tokenizer_free(tok);
    free(ids); free(av); free(cv);
    return rc;
}
