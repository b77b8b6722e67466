/* run.c — ct_run: a JSONL dataset, row by row, through the tracing engine
 * into an output directory (cases/, pdfs/, summary.jsonl, errors.jsonl,
 * run.json).  The per-case work (plan -> trace -> case file -> figure ->
 * summary line) is in run_case.c; this file owns the walk over the rows, the
 * checks before any work, resuming and the run's own files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "common/file.h"
#include "trace/settings_json.h"
#include "experiment/run_internal.h"

void ct_run_settings_default(ct_run_settings *s)
{
    memset(s, 0, sizeof *s);
    s->experiment = CT_EXP_SUBJECT;
    s->kinds = (1u << CT_KIND_HIDDEN) | (1u << CT_KIND_MLP) | (1u << CT_KIND_ATTN);
    s->max_cf = 3;
    s->shard_n = 1;
    s->plots = 1;
    s->plot_format = CT_PLOT_PDF;
    s->contexts = CT_CTX_ORIGINAL;
    ct_trace_settings_default(&s->trace);
}

const char *ct_contexts_name(int contexts)
{
    return contexts == CT_CTX_ORIGINAL ? "original" : contexts == CT_CTX_CF ? "cf" : "all";
}

int ct_contexts_parse(const char *s, int *contexts)
{
    if (!strcmp(s, "all")) *contexts = CT_CTX_ALL;
    else if (!strcmp(s, "original")) *contexts = CT_CTX_ORIGINAL;
    else if (!strcmp(s, "cf")) *contexts = CT_CTX_CF;
    else return -1;
    return 0;
}

/* Removes the temporaries (NAME.tmp.<pid>) that a killed run left in dir;
 * those of a live process (a shard sharing the directory) stay. */
static void remove_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *t = strstr(de->d_name, ".tmp.");
        if (!t) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0) continue;
        /* another live process (a shard sharing this directory) may own it */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        remove(path);
    }
    closedir(d);
}

/* mkdir -p for one level below an existing parent chain. */
static int make_dir(const char *path, ct_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ct_fail(err, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return ct_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return ct_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) return ct_fail(err, "%s: not a directory", buf);
    return 0;
}

/* A JSONL line is blank when it holds only spaces, tabs and line ends
 * (ct_dataset_next's rule): blank lines are not rows and get no index. */
static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

static int selected(const ct_run_settings *s, int i)
{
    if (s->max_datapoints > 0 && i >= s->max_datapoints) return 0;
    return i % s->shard_n == s->shard_k;
}

/* Counts the rows the run will handle (one quick pass over the file). */
static int count_rows(FILE *f, const ct_run_settings *s)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int i = 0, total = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        if (blank(buf, (size_t)n)) continue;
        if (selected(s, i)) total++;
        i++;
        if (s->max_datapoints > 0 && i >= s->max_datapoints) break;
    }
    free(buf);
    rewind(f);
    return total;
}

/* The resolved settings, as run.json records them. */
static char *settings_json(const ct_run_settings *s, const char *backend_desc)
{
    const ct_trace_settings *t = &s->trace;
    cJSON *o = cJSON_CreateObject();
    /* a hub id is what was asked for, the snapshot folder what was read */
    cJSON_AddStringToObject(o, "model_name", s->model_id ? s->model_id : s->model_dir);
    if (s->model_id) cJSON_AddStringToObject(o, "model_dir", s->model_dir);
    if (s->tokenizer_id) cJSON_AddStringToObject(o, "tokenizer_id", s->tokenizer_id);
    cJSON_AddStringToObject(o, "data_path", s->data_path);
    cJSON_AddStringToObject(o, "output_dir", s->output_dir);
    cJSON_AddNumberToObject(o, "experiment_type", s->experiment);
    cJSON_AddStringToObject(o, "experiment", s->experiment == CT_EXP_SUBJECT ? "subject"
                                             : s->experiment == CT_EXP_OBJECT ? "object" : "relation");
    cJSON_AddStringToObject(o, "prompt_format", s->prompt_format ? s->prompt_format : CT_PROMPT_FORMAT_DEFAULT);
    tr_settings_add_json(o, t);
    cJSON_AddNumberToObject(o, "max_cf", s->max_cf);
    cJSON_AddNumberToObject(o, "max_datapoints", s->max_datapoints);
    cJSON_AddNumberToObject(o, "threads", s->threads);
    cJSON_AddStringToObject(o, "backend", s->backend ? s->backend : s->device && strcmp(s->device, "cpu") ? "cuda" : "cpu");
    cJSON_AddStringToObject(o, "dtype", s->compute == CT_BF16 ? "bf16" : "f32");
    if (s->device) cJSON_AddStringToObject(o, "device", s->device);
    if (backend_desc && *backend_desc) cJSON_AddStringToObject(o, "backend_description", backend_desc);
    cJSON_AddStringToObject(o, "contexts", ct_contexts_name(s->contexts));
    cJSON_AddStringToObject(o, "relation_span", ct_relation_span_name(s->relation_span));
    cJSON_AddNumberToObject(o, "attribute", s->attribute);
    cJSON_AddStringToObject(o, "plot_format", s->plots ? ct_plot_format_ext(s->plot_format) : "none");
    char shard[32];
    snprintf(shard, sizeof shard, "%d/%d", s->shard_k, s->shard_n);
    cJSON_AddStringToObject(o, "shard", shard);
    cJSON *k = cJSON_AddArrayToObject(o, "kinds");
    for (int i = 0; i <= CT_KIND_HEAD; i++)
        if (s->kinds & (1u << i)) cJSON_AddItemToArray(k, cJSON_CreateString(ct_kind_name((ct_kind)i)));
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return js;
}

static int check_settings(const ct_run_settings *s, ct_err *err)
{
    if (!s->model_dir || !*s->model_dir) return ct_fail(err, "no model directory given (--model_name)");
    if (!s->data_path || !*s->data_path) return ct_fail(err, "no dataset given (--data_path)");
    if (!s->output_dir || !*s->output_dir) return ct_fail(err, "no output directory given (--output_dir)");
    if (s->experiment < CT_EXP_SUBJECT || s->experiment > CT_EXP_RELATION)
        return ct_fail(err, "experiment type %d: must be 1 (subject), 2 (object) or 3 (relation)", s->experiment);
    if (!(s->kinds & 15u)) return ct_fail(err, "no kind to trace");
    if (s->compute != CT_F32 && s->compute != CT_BF16)
        return ct_fail(err, "compute dtype %s: must be F32 or BF16 (--dtype f32|bf16)", ct_dtype_name(s->compute));
    if (s->shard_n < 1 || s->shard_k < 0 || s->shard_k >= s->shard_n)
        return ct_fail(err, "shard %d/%d: need 0 <= K < N (K is 0-based: 0/%d .. %d/%d)", s->shard_k, s->shard_n,
                       s->shard_n > 0 ? s->shard_n : 1, s->shard_n > 0 ? s->shard_n - 1 : 0, s->shard_n > 0 ? s->shard_n : 1);
    if (s->max_datapoints < 0) return ct_fail(err, "max_datapoints %d: must be >= 0", s->max_datapoints);
    if (s->trace.samples < 1) return ct_fail(err, "samples %d: must be >= 1", s->trace.samples);
    if (s->trace.window < 1) return ct_fail(err, "window %d: must be >= 1", s->trace.window);
    /* would fail on every row: say so once, before any work */
    if (s->prompt_format) {
        /* a malformed format or an unknown placeholder, found by formatting a
         * made-up row that has every field */
        char sj[] = "s", oj[] = "o", tx[] = "s o";
        ct_row r = {.line = 0, .question = tx, .subj = sj, .obj = oj, .context = tx, .prompt_wo_ctx = tx};
        ct_prompt p;
        ct_err e2;
        if (ct_prompt_build(&p, &r, s->prompt_format, NULL, &e2)) return ct_fail(err, "%s", e2.msg);
        ct_prompt_free(&p);
    }
    if (s->relation_span != CT_RELATION_PASSAGE && s->relation_span != CT_RELATION_FROM_PROMPT_START)
        return ct_fail(err, "relation_span %d: must be passage or from_prompt_start", s->relation_span);
    if (s->relation_span == CT_RELATION_FROM_PROMPT_START && s->experiment != CT_EXP_RELATION)
        return ct_fail(err, "--relation_span from_prompt_start is experiment 3's span; this run is --experiment_type %d",
                       s->experiment);
    if (s->contexts != CT_CTX_ORIGINAL && s->contexts != CT_CTX_CF && s->contexts != CT_CTX_ALL)
        return ct_fail(err, "contexts %d: must be original, cf or all", s->contexts);
    if (s->contexts != CT_CTX_ORIGINAL && s->prompt_format && !strstr(s->prompt_format, "{context}"))
        return ct_fail(err, "--cf_context 1 / --contexts %s puts counterfactual objects in the passage, but --prompt_format \"%s\" "
                       "has no {context} (e.g. \"%s\")", ct_contexts_name(s->contexts), s->prompt_format, CT_PROMPT_FORMAT_DEFAULT);
    if (s->trace.patch_source == CT_PATCH_CF_PASSAGE && s->prompt_format && !strstr(s->prompt_format, "{context}"))
        return ct_fail(err, "--patch_source cf_passage puts counterfactual objects in the passage, but --prompt_format \"%s\" "
                       "has no {context} (e.g. \"%s\")", s->prompt_format, CT_PROMPT_FORMAT_DEFAULT);
    if ((s->trace.noise_source == CT_NOISE_CF_EMBEDDINGS || s->trace.patch_source == CT_PATCH_CF_PASSAGE) && s->max_cf == 0)
        return ct_fail(err, "--%s takes its values from the counterfactual objects: needs --max_cf >= 1",
                       s->trace.noise_source == CT_NOISE_CF_EMBEDDINGS ? "noise_source cf_embeddings" : "patch_source cf_passage");
    if (s->trace.noise_source == CT_NOISE_CF_EMBEDDINGS && s->attribute)
        return ct_fail(err, "--attribute 1 attributes the Gaussian-noise corrupted run; --noise_source cf_embeddings is not supported there");
    if (s->trace.metric == CT_METRIC_LOGRATIO && s->max_cf == 0)
        return ct_fail(err, "--metric logratio scores against the first counterfactual: needs --max_cf >= 1");
    return 0;
}

/* The run's own files.  A sharded run (N > 1) writes summary.shard-K-of-N.jsonl,
 * errors.shard-K-of-N.jsonl and run.shard-K-of-N.json, so that the shards of
 * a job array can share one output directory; ct_run_merge_shards (called by
 * `ctrace average`) joins them into summary.jsonl / errors.jsonl.  An unsharded
 * run writes those itself, from every case (reusing what the shards traced). */
static void run_file_name(char *buf, size_t cap, const ct_run_settings *s, const char *stem, const char *ext)
{
    if (s->shard_n > 1) snprintf(buf, cap, "%s/%s.shard-%d-of-%d.%s", s->output_dir, stem, s->shard_k, s->shard_n, ext);
    else snprintf(buf, cap, "%s/%s.%s", s->output_dir, stem, ext);
}

/* One process per (output directory, shard): a second one would interleave
 * the same summary lines.  flock, so that a killed run's lock goes with it;
 * the file holds the owner's pid for the message.  Returns the fd (kept open
 * for the whole run), -1 with err set. */
static int lock_shard(const ct_run_settings *s, ct_err *err)
{
    char path[4300];
    if (s->shard_n > 1) snprintf(path, sizeof path, "%s/.lock.shard-%d-of-%d", s->output_dir, s->shard_k, s->shard_n);
    else snprintf(path, sizeof path, "%s/.lock", s->output_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return ct_fail(err, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (e != EWOULDBLOCK) return ct_fail(err, "%s: cannot lock: %s", path, strerror(e));
        char shard[64] = "";
        if (s->shard_n > 1) snprintf(shard, sizeof shard, " (shard %d/%d)", s->shard_k, s->shard_n);
        return ct_fail(err, "%s: another ctrace run%s%s%s is already writing to this output directory%s: "
                       "wait for it to finish, or give this run another --output_dir or --shard",
                       s->output_dir, *pid ? " (pid " : "", pid, *pid ? ")" : "", shard);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) { /* only the message loses the pid */ }
    return fd;
}

static int write_run_json(const ct_run_settings *s, const ct_run_progress *p, double started, const char *backend_desc,
                          ct_err *err)
{
    char *st = settings_json(s, backend_desc);
    ct_run_record r = {.argc = s->argc, .argv = s->argv, .settings_json = st, .model = s->model_dir,
                       .tokenizer = s->tokenizer ? s->tokenizer : s->model_dir, .data_path = s->data_path,
                       .output_dir = s->output_dir, .started = started, .finished = ct__now(),
                       .rows_total = p->rows_total, .rows_ok = p->rows_ok, .rows_skipped = p->rows_skipped,
                       .cases_written = p->cases_written, .cases_reused = p->cases_reused};
    char *js = ct_run_json(&r);
    free(st);
    if (!js) return ct_fail(err, "%s: out of memory writing run.json", s->output_dir);
    char path[4300];
    run_file_name(path, sizeof path, s, "run", "json");
    ct_atomic a;
    if (ct_atomic_open(&a, path, err)) { free(js); return -1; }
    fputs(js, a.f);
    fputc('\n', a.f);
    free(js);
    return ct_atomic_commit(&a, err);
}

int ct_run(const ct_run_settings *s, ct_run_progress *out, ct_err *err)
{
    ct_run_progress prog = {0};
    if (out) *out = prog;
    double started = ct__now();
    if (check_settings(s, err)) return -1;

    /* Everything that can fail on a bad path, before any work or output. */
    ct_err e2;
    FILE *data = fopen(s->data_path, "rb");
    if (!data) return ct_fail(err, "%s: cannot open dataset: %s", s->data_path, strerror(errno));
    struct stat dst;
    if (fstat(fileno(data), &dst) || S_ISDIR(dst.st_mode)) { fclose(data); return ct_fail(err, "%s: not a file", s->data_path); }
    struct ct_config cfg;
    if (ct_model_check(s->model_dir, &cfg, NULL, &e2)) { fclose(data); return ct_fail(err, "model: %s", e2.msg); }
    ct_tokenizer *tk = NULL;
    const char *tk_path = s->tokenizer ? s->tokenizer : s->model_dir;
    if (ct_tokenizer_load(&tk, tk_path, &e2)) { fclose(data); return ct_fail(err, "tokenizer: %s", e2.msg); }
    if (ct_tokenizer_vocab_size(tk) > cfg.vocab) {
        ct_fail(err, "%s: the tokenizer has %d tokens but the model only %d (vocab_size): not the model's tokenizer?",
                tk_path, ct_tokenizer_vocab_size(tk), cfg.vocab);
        ct_tokenizer_free(tk); fclose(data);
        return -1;
    }
    prog.rows_total = count_rows(data, s);

    int rc = -1, lock = -1;
    ct_model *m = NULL;
    char backend_desc[320] = "";    /* ct_model_backend_describe, for run.json */
    ct_atomic sum = {0}, errs = {0};
    char dir[4200], path[4300];
    char *line = NULL;
    size_t cap = 0;
    ct_run_ctx rc_ctx = {0};

    if (make_dir(s->output_dir, err)) goto done;
    if ((lock = lock_shard(s, err)) < 0) goto done;
    remove_stale_tmp(s->output_dir);
    snprintf(dir, sizeof dir, "%s/cases", s->output_dir);
    if (make_dir(dir, err)) goto done;
    remove_stale_tmp(dir);
    if (s->plots) {
        snprintf(dir, sizeof dir, "%s/pdfs", s->output_dir);
        if (make_dir(dir, err)) goto done;
        remove_stale_tmp(dir);
    }
    if (s->attribute) {
        snprintf(dir, sizeof dir, "%s/attributions", s->output_dir);
        if (make_dir(dir, err)) goto done;
        remove_stale_tmp(dir);
    }
    if (ct_model_load(&m, s->model_dir, &e2)) { ct_fail_code(err, e2.code, "model: %s", e2.msg); goto done; }
    if ((s->device && strcmp(s->device, "cpu") && ct_model_set_device(m, s->device, &e2)) ||
        (s->backend && ct_model_set_backend(m, s->backend, &e2)) || ct_model_set_compute(m, s->compute, &e2)) {
        ct_fail_code(err, e2.code, "%s", e2.msg);
        goto done;
    }
    ct_model_backend_describe(m, backend_desc, sizeof backend_desc);
    run_file_name(path, sizeof path, s, "summary", "jsonl");
    if (ct_atomic_open(&sum, path, err)) goto done;
    run_file_name(path, sizeof path, s, "errors", "jsonl");
    if (ct_atomic_open(&errs, path, err)) goto done;

    rc_ctx = (ct_run_ctx){.s = s, .m = m, .tk = tk, .summary = sum.f, .errors = errs.f, .prog = &prog, .started = started};
    ssize_t n;
    int i = 0, line_no = 0;
    while ((n = getline(&line, &cap, data)) >= 0) {
        line_no++;
        if (blank(line, (size_t)n)) continue;
        int row_index = i++;
        if (s->max_datapoints > 0 && row_index >= s->max_datapoints) break;
        if (!selected(s, row_index)) continue;
        int row_rc = ct__run_row(&rc_ctx, row_index, line_no, line, (size_t)n, err);
        if (row_rc < 0) goto done;            /* fatal: message in err */
        prog.rows_done++;
        if (row_rc == 0) prog.rows_ok++; else prog.rows_skipped++;
        prog.seconds = ct__now() - started;
        if (s->progress) s->progress(s->progress_ctx, &prog);
    }
    if (ferror(data)) { ct_fail(err, "%s: read error", s->data_path); goto done; }
    if (ct_atomic_commit(&sum, err) || ct_atomic_commit(&errs, err)) goto done;
    prog.seconds = ct__now() - started;
    if (write_run_json(s, &prog, started, backend_desc, err)) goto done;
    rc = 0;
done:
    if (sum.f) ct_atomic_abort(&sum);
    if (errs.f) ct_atomic_abort(&errs);
    if (lock >= 0) close(lock);       /* releases the flock */
    free(line);
    fclose(data);
    ct_model_free(m);
    ct_tokenizer_free(tk);
    prog.seconds = ct__now() - started;
    if (out) *out = prog;
    return rc;
}
