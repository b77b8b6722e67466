/* cmd_run.c — `ctrace run`: the seed tool's command line (run_causal_tracer.py)
 * over a JSONL dataset; the work itself is ct_run (src/experiment/run.c).
 * Also what `ctrace --model_name ... --data_path ...` (no subcommand) means. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "args.h"

static void run_usage(FILE *o)
{
    fprintf(o,
        "usage: ctrace run --model_name DIR|ORG/NAME[@REV] --data_path FILE.jsonl --output_dir DIR\n"
        "                  [--experiment_type 1|2|3] [--prompt_format FMT] [--samples 10] [--window 10]\n"
        "                  [--max_cf 3] [--replace 0|1] [--reverse_patching 0|1] [--max_datapoints 0]\n"
        "                  [--noise_level X|sX] [--seed 1] [--metric prob|logprob|logratio] [--threads N]\n"
        "                  [--engine fast|naive] [--cf_context 0|1] [--contexts original|cf|all]\n"
        "                  [--noise_source gaussian|cf_embeddings] [--patch_source opposite_run|cf_passage]\n"
        "                  [--relation_span passage|from_prompt_start]\n"
        "                  [--plot_format pdf|png|svg|none] [--kinds hidden,mlp,attention,head] [--attribute 0|1]\n"
        "                  [--shard K/N] [--tokenizer PATH] [--quiet]\n"
        "                  [--backend cpu|openblas|ref] [--dtype f32|bf16] [--device cpu|cuda[:N]]\n"
        "  The seed tool's flags, names and defaults (run_causal_tracer.py); `ctrace --model_name ...`\n"
        "  without a subcommand is the same.  --experiment_type: noise on the subject (1), the object\n"
        "  (2) or the relation words (3) of the passage.  --prompt_format default: \"%s\".\n"
        "  --max_datapoints N: rows 0..N-1 (0 = all).  --shard K/N: rows i with i %% N == K.\n"
        "  --noise_level: 0.5 = absolute level; s3 = 3 x the std of the target embeddings;\n"
        "  default 3 x std of the token-embedding matrix.  --contexts: trace the row's own passage\n"
        "  (original, default), each counterfactual passage (obj_cf in place of the object) as its own\n"
        "  case (cf), or both (all; the seed's --cf_context 1).  --noise_source cf_embeddings: sample s\n"
        "  gets the embeddings of \" \" + obj_cf[s mod max_cf] on the corrupted span (the seed's e1).\n"
        "  --patch_source cf_passage: patched states come from the clean run of the passage with the\n"
        "  sample's obj_cf (the seed's e1 with --reverse_patching 1).  --relation_span from_prompt_start:\n"
        "  experiment 3 also corrupts the prompt's tokens before the passage (the seed's e22); docs/seed-designs.md.\n"
        "  Rerunning skips finished cases.\n"
        "  Writes DIR/cases/{i}_{kind}_{obj}.bin, DIR/pdfs/{answer}_{i}_{kind}.pdf, summary.jsonl,\n"
        "  errors.jsonl, run.json (docs/run.md); with --shard K/N (K is 0-based) summary.shard-K-of-N.jsonl,\n"
        "  errors.shard-K-of-N.jsonl and run.shard-K-of-N.json, so shards may share DIR (`ctrace average DIR`\n"
        "  joins them); one process per shard and DIR.  ORG/NAME[@REV] (--model_name, --tokenizer): a model in\n"
        "  the local Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub); never downloaded.\n"
        CLI_COMPUTE_USAGE, CT_PROMPT_FORMAT_DEFAULT);
}

typedef struct progress_state {
    int per_row;                /* cases per row (kinds x contexts), for the ETA */
    int printed;
} progress_state;

static void fmt_dur(char *b, size_t cap, double s)
{
    if (s < 0 || s != s) snprintf(b, cap, "?");
    else if (s < 60) snprintf(b, cap, "%.0fs", s);
    else if (s < 3600) snprintf(b, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(b, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* One line, redrawn in place: rows done/total, cases/s, ETA. */
static void show_progress(void *ctx, const ct_run_progress *p)
{
    progress_state *ps = ctx;
    double rate = p->trace_seconds > 0 ? p->cases_written / p->trace_seconds : 0;
    char eta[32] = "?";
    if (rate > 0) fmt_dur(eta, sizeof eta, (p->rows_total - p->rows_done) * (double)ps->per_row / rate);
    else if (p->rows_done == p->rows_total) snprintf(eta, sizeof eta, "0s");
    char inside[48] = "";
    if (p->case_cells_total > 0)
        snprintf(inside, sizeof inside, ", this case %ld%%", 100 * p->case_cells_done / p->case_cells_total);
    fprintf(stderr, "\rctrace: run: %d/%d rows, %d cases (%d reused)%s, %.2f cases/s, ETA %s\033[K", p->rows_done,
            p->rows_total, p->cases_written + p->cases_reused, p->cases_reused, inside, rate, eta);
    ps->printed = 1;
}

/* "K/N" */
static int parse_shard(const char *v, int *k, int *n)
{
    char *end;
    errno = 0;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/' || errno) return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || errno || b < 1 || b > 1000000 || a < 0 || a >= b) return -1;
    *k = (int)a;
    *n = (int)b;
    return 0;
}

/* "hidden,mlp,head" / "all" -> bit mask (all: the three sublayer kinds; head by name) */
static int parse_kinds(const char *v, unsigned *mask)
{
    if (!strcmp(v, "all")) { *mask = 7; return 0; }
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf) return -1;
    unsigned m = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        ct_kind k;
        if (ct_kind_parse(t, &k)) return -1;
        m |= 1u << k;
    }
    if (!m) return -1;
    *mask = m;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static const char *const FLAGS[] = {
        "model_name", "experiment_type", "data_path", "output_dir", "prompt_format", "samples", "window", "max_cf",
        "replace", "reverse_patching", "max_datapoints",                       /* the seed's */
        "noise_level", "seed", "metric", "threads", "engine", "cf_context", "plot_format", "shard", "kinds",
        "tokenizer", "quiet", "attribute", "contexts", "noise_source", "patch_source", "relation_span", "backend", "device",
        "dtype", NULL};
    /* --quiet takes no value (the parser's flags all do): take it out first */
    int quiet = 0, n = 0;
    char **av = malloc((size_t)(argc + 1) * sizeof *av);
    if (!av) return 1;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "--quiet=1"))) { quiet = 1; continue; }
        if (i > 0 && !strcmp(argv[i], "--quiet=0")) { quiet = 0; continue; }
        av[n++] = argv[i];
    }
    av[n] = NULL;
    ct_args a;
    int rc = 2;
    if (ct_args_parse(&a, n, av, FLAGS)) goto out;
    if (a.help) { run_usage(stdout); rc = 0; goto out; }
    if (a.npos) { fprintf(stderr, "ctrace: run: unexpected argument '%s' (flags only; see ctrace run --help)\n", a.pos[0]); goto out; }

    ct_run_settings s;
    ct_run_settings_default(&s);
    ct_err err = {0};
    s.model_dir = ct_args_str(&a, "model_name", NULL);
    s.data_path = ct_args_str(&a, "data_path", NULL);
    s.output_dir = ct_args_str(&a, "output_dir", NULL);
    s.tokenizer = ct_args_str(&a, "tokenizer", NULL);
    s.prompt_format = ct_args_str(&a, "prompt_format", NULL);
    if (!s.model_dir) { fprintf(stderr, "ctrace: run: --model_name DIR is required\n"); goto out; }
    if (!s.data_path) { fprintf(stderr, "ctrace: run: --data_path FILE.jsonl is required\n"); goto out; }
    if (!s.output_dir) { fprintf(stderr, "ctrace: run: --output_dir DIR is required\n"); goto out; }
    /* hub ids to snapshot folders; run.json and the case files keep the ids too */
    char model_buf[4096], tok_buf[4096];
    int hub = 0;
    const char *id = s.model_dir;
    rc = 1;
    if (!(s.model_dir = cli_resolve(id, model_buf, sizeof model_buf, &hub))) goto out;
    if (hub) s.model_id = id;
    if (s.tokenizer) {
        id = s.tokenizer;
        if (!(s.tokenizer = cli_resolve(id, tok_buf, sizeof tok_buf, &hub))) goto out;
        if (hub) s.tokenizer_id = id;
    }
    rc = 2;
    int threads = 0, cf_context = 0;
    if (ct_args_int(&a, "experiment_type", 1, 1, 3, &s.experiment) ||
        ct_args_int(&a, "samples", 10, 1, 100000, &s.trace.samples) ||
        ct_args_int(&a, "window", 10, 1, 100000, &s.trace.window) ||
        ct_args_int(&a, "max_cf", 3, 0, 1000000, &s.max_cf) ||
        ct_args_int(&a, "replace", 0, 0, 1, &s.trace.replace) ||
        ct_args_int(&a, "reverse_patching", 0, 0, 1, &s.trace.reverse) ||
        ct_args_int(&a, "max_datapoints", 0, 0, 2147483647L, &s.max_datapoints) ||
        ct_args_int(&a, "cf_context", 0, 0, 1, &cf_context) ||
        ct_args_int(&a, "attribute", 0, 0, 1, &s.attribute) ||
        ct_args_int(&a, "threads", 0, 0, 4096, &threads))
        goto out;
    s.threads = threads;
    const char *v;
    if ((v = ct_args_str(&a, "seed", NULL))) {
        char *end;
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (end == v || *end || errno || x > 4294967295UL || *v == '-') {
            fprintf(stderr, "ctrace: run: --seed must be an integer in [0, 2^32), not '%s'\n", v);
            goto out;
        }
        s.trace.seed = (uint32_t)x;
    }
    if ((v = ct_args_str(&a, "noise_level", NULL)) && ct_noise_parse(v, &s.trace, &err)) {
        fprintf(stderr, "ctrace: run: --noise_level: %s\n", err.msg);
        goto out;
    }
    if ((v = ct_args_str(&a, "metric", NULL)) && ct_metric_parse(v, &s.trace.metric)) {
        fprintf(stderr, "ctrace: run: --metric must be prob, logprob or logratio, not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "engine", NULL)) && ct_engine_parse(v, &s.trace.engine)) {
        fprintf(stderr, "ctrace: run: --engine must be fast or naive, not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "plot_format", NULL))) {
        if (!strcmp(v, "none")) s.plots = 0;
        else if (ct_plot_format_parse(v, &s.plot_format)) {
            fprintf(stderr, "ctrace: run: --plot_format must be pdf, png, svg or none, not '%s'\n", v);
            goto out;
        }
    }
    if ((v = ct_args_str(&a, "shard", NULL)) && parse_shard(v, &s.shard_k, &s.shard_n)) {
        fprintf(stderr, "ctrace: run: --shard must be K/N with 0 <= K < N (K is 0-based: 0/4 .. 3/4), not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "kinds", NULL)) && parse_kinds(v, &s.kinds)) {
        fprintf(stderr, "ctrace: run: --kinds must list hidden, mlp, attention, head (comma-separated) or all, not '%s'\n", v);
        goto out;
    }
    /* --cf_context 0|1 is the seed's spelling of --contexts original|all */
    if (ct_args_str(&a, "cf_context", NULL) && ct_args_str(&a, "contexts", NULL)) {
        fprintf(stderr, "ctrace: run: give --contexts or --cf_context (the seed's: 0 = original, 1 = all), not both\n");
        goto out;
    }
    s.contexts = cf_context ? CT_CTX_ALL : CT_CTX_ORIGINAL;
    if ((v = ct_args_str(&a, "contexts", NULL)) && ct_contexts_parse(v, &s.contexts)) {
        fprintf(stderr, "ctrace: run: --contexts must be original, cf or all, not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "noise_source", NULL)) && ct_noise_source_parse(v, &s.trace.noise_source)) {
        fprintf(stderr, "ctrace: run: --noise_source must be gaussian or cf_embeddings, not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "patch_source", NULL)) && ct_patch_source_parse(v, &s.trace.patch_source)) {
        fprintf(stderr, "ctrace: run: --patch_source must be opposite_run or cf_passage, not '%s'\n", v);
        goto out;
    }
    if ((v = ct_args_str(&a, "relation_span", NULL)) && ct_relation_span_parse(v, &s.relation_span)) {
        fprintf(stderr, "ctrace: run: --relation_span must be passage or from_prompt_start, not '%s'\n", v);
        goto out;
    }
    s.backend = ct_args_str(&a, "backend", NULL);
    s.device = ct_args_str(&a, "device", NULL);
    if (cli_device("run", s.backend, s.device)) goto out;
    if (cli_dtype("run", ct_args_str(&a, "dtype", NULL), &s.compute)) goto out;
    if (threads) ct_set_threads(threads);

    /* run.json records the command as typed: "ctrace" and the rest */
    char **rec = malloc((size_t)(argc + 1) * sizeof *rec);
    if (!rec) { rc = 1; goto out; }
    rec[0] = "ctrace";
    for (int i = 0; i < argc; i++) rec[i + 1] = argv[i];
    s.argc = argc + 1;
    s.argv = rec;

    progress_state ps = {0};
    int nk = !!(s.kinds & 1) + !!(s.kinds & 2) + !!(s.kinds & 4) + !!(s.kinds & 8);
    ps.per_row = nk * ((s.contexts != CT_CTX_CF) + (s.contexts != CT_CTX_ORIGINAL ? s.max_cf : 0));
    if (!quiet && isatty(2)) { s.progress = show_progress; s.progress_ctx = &ps; }

    ct_run_progress p;
    int bad = ct_run(&s, &p, &err);
    if (ps.printed) fputc('\n', stderr);
    free(rec);
    if (bad) { fprintf(stderr, "ctrace: %s\n", err.msg); rc = 1; goto out; }
    printf("ctrace run: %s: %d rows: %d succeeded, %d skipped", s.output_dir, p.rows_total, p.rows_ok, p.rows_skipped);
    if (p.rows_skipped) printf(" (reasons in %s/errors.jsonl)", s.output_dir);
    printf("; %d cases traced", p.cases_written);
    if (p.cases_reused) printf(", skipped %d finished cases", p.cases_reused);
    printf("; %.1f s\n", p.seconds);
    rc = 0;
out:
    free(av);
    return rc;
}
