/* test_faults.c — regression tests for the faults of issue 16 (fuzzing and
 * fault injection): each section builds the bad input that exposed a fault
 * and checks that it is now refused with a message, or survived. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static const char *tmpdir(void)
{
    static char d[256];
    if (!d[0]) { snprintf(d, sizeof d, "/tmp/ct_test_faults_XXXXXX"); if (!mkdtemp(d)) abort(); }
    return d;
}

static const char *tmp(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir(), name);
    return b;
}

/* A safetensors file with this header and dlen zero bytes of data. */
static void write_st_raw(const char *path, const char *hdr, size_t dlen)
{
    FILE *f = fopen(path, "wb");
    size_t h = strlen(hdr);
    for (int i = 0; i < 8; i++) fputc((int)((h >> (8 * i)) & 0xff), f);
    fwrite(hdr, 1, h, f);
    for (size_t i = 0; i < dlen; i++) fputc(0, f);
    fclose(f);
}

/* Fault 4: a shape whose product wraps around 2^64 ([2^40, 2^24] -> 0
 * elements) passed the size check, and a case file with it gave T < 0. */
static void fault4_shapes(void)
{
    ct_err err = {{0}};
    ct_st_file f;
    const char *p = tmp("wrap.safetensors");
    write_st_raw(p, "{\"ie\":{\"dtype\":\"F32\",\"shape\":[1099511627776,16777216],\"data_offsets\":[0,0]}}", 0);
    CHECK(ct_st_open(&f, p, &err) == -1 && strstr(err.msg, "too large"), "wrapping shape refused: %s", err.msg);
    ct_case c;
    err.msg[0] = 0;
    CHECK(ct_case_load(&c, p, &err) == -1 && strstr(err.msg, p), "case file with a wrapping shape refused: %s", err.msg);
    /* a zero dimension anywhere is still a valid empty tensor */
    write_st_raw(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,16777216],\"data_offsets\":[0,0]}}", 0);
    int ok = ct_st_open(&f, p, &err) == 0;
    CHECK(ok, "empty tensor with huge other dimensions: %s", err.msg);
    if (ok) ct_st_close(&f);

    /* case files whose tensors disagree with each other */
    float ie[12] = {0}, sc[20] = {0}, z = 0;
    int32_t bad_rg[2] = {0, 9}, neg_rg[2] = {2, 1}, ids5[5] = {1, 2, 3, 4, 5};
    struct { const char *label; ct_st_out t[3]; int n; const char *needle; } cases[] = {
        {"target range past T", {{"ie", CT_F32, 2, {3, 4}, ie}, {"target_ranges", CT_I32, 2, {1, 2}, bad_rg}}, 2, "target_ranges"},
        {"target range reversed", {{"ie", CT_F32, 2, {3, 4}, ie}, {"target_ranges", CT_I32, 2, {1, 2}, neg_rg}}, 2, "target_ranges"},
        {"scores of another shape", {{"ie", CT_F32, 2, {3, 4}, ie}, {"scores", CT_F32, 2, {5, 4}, sc}, {"low_score", CT_F32, 0, {0}, &z}}, 3, "scores"},
        {"input_ids of another length", {{"ie", CT_F32, 2, {3, 4}, ie}, {"input_ids", CT_I32, 1, {5}, ids5}}, 2, "input_ids"},
        {"target_ranges not [n, 2]", {{"ie", CT_F32, 2, {3, 4}, ie}, {"target_ranges", CT_I32, 1, {5}, ids5}}, 2, "target_ranges"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *cp = tmp("bad_case.bin");
        CHECK_OK(ct_st_write(cp, cases[i].t, cases[i].n, NULL, &err), &err);
        err.msg[0] = 0;
        int rc = ct_case_load(&c, cp, &err);
        CHECK(rc == -1 && strstr(err.msg, cases[i].needle) && strstr(err.msg, cp), "%s: refused naming the file and %s: %s",
              cases[i].label, cases[i].needle, rc ? err.msg : "(loaded)");
        if (rc == 0) ct_case_free(&c);
    }
    /* the consistent file still loads */
    int32_t rg[2] = {1, 3};
    ct_st_out good[2] = {{"ie", CT_F32, 2, {3, 4}, ie}, {"target_ranges", CT_I32, 2, {1, 2}, rg}};
    CHECK_OK(ct_st_write(tmp("good_case.bin"), good, 2, NULL, &err), &err);
    CHECK_OK(ct_case_load(&c, tmp("good_case.bin"), &err), &err);
    CHECK(c.T == 3 && c.L == 4 && c.n_targets == 1 && c.targets[1] == 3, "good case: T %d L %d", c.T, c.L);
    ct_case_free(&c);
}

/* A message must not show a number that overflowed (a '-' before a digit). */
static int has_negative(const char *m)
{
    for (const char *p = m; *p; p++)
        if (*p == '-' && p[1] >= '0' && p[1] <= '9') return 1;
    return 0;
}

/* Fault 5: signed overflow and out-of-range float->int casts on sizes from
 * config.json (UBSan: 4 * n_embd, get_int of 1e20, heads + 2 * kv heads) and
 * tokenizer.json (jint).  Under `make asan` the old code aborts here. */
static void fault5_overflows(void)
{
    static const struct { const char *json, *needle; } bad[] = {
        {"{\"model_type\":\"gpt2\",\"n_embd\":1000000000,\"n_head\":1}", "n_embd"},
        {"{\"model_type\":\"gptj\",\"n_embd\":999999999,\"n_head\":1}", "n_embd"},
        {"{\"model_type\":\"llama\",\"hidden_size\":1e20}", "hidden_size"},
        {"{\"model_type\":\"llama\",\"vocab_size\":-1e20}", "vocab_size"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"num_attention_heads\":1000000000,"
         "\"num_key_value_heads\":1000000000,\"head_dim\":2}", "larger than ctrace supports"},
        {"{\"model_type\":\"gpt_neox\",\"hidden_size\":64,\"num_attention_heads\":2,\"rotary_pct\":1e300}", "rotary_pct"},
        {"{\"model_type\":\"phi\",\"hidden_size\":64,\"num_attention_heads\":2,\"partial_rotary_factor\":3e19}",
         "partial_rotary_factor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ct_config cfg;
        ct_err err = {{0}};
        int rc = ct_config_parse(&cfg, bad[i].json, "config.json", &err);
        CHECK(rc == -1 && strstr(err.msg, bad[i].needle) && !has_negative(err.msg),
              "%s: refused naming %s, no overflowed number: %s", bad[i].json, bad[i].needle, rc ? err.msg : "(accepted)");
    }
    /* jint: a Strip decoder's count of 1e20 is clamped, not cast */
    FILE *in = fopen("tests/fuzz/seeds_json/spm.json", "rb");
    CHECK(in != NULL, "tests/fuzz/seeds_json/spm.json (run from the repository root)");
    if (!in) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    buf[n] = 0;
    char *st = strstr(buf, "\"start\":1");
    CHECK(st != NULL, "spm.json has a Strip decoder");
    if (!st) return;
    char json[4200];
    snprintf(json, sizeof json, "%.*s\"start\":1e20%s", (int)(st - buf), buf, st + strlen("\"start\":1"));
    const char *tp = tmp("tokenizer.json");
    FILE *o = fopen(tp, "wb");
    fputs(json, o);
    fclose(o);
    ct_tokenizer *tk;
    ct_err err = {{0}};
    CHECK_OK(ct_tokenizer_load(&tk, tp, &err), &err);
    if (!err.msg[0]) {
        int32_t ids[2] = {4, 8};
        char *txt = NULL;
        CHECK_OK(ct_decode(tk, ids, 2, 0, &txt, &err), &err);
        free(txt);
        ct_tokenizer_free(tk);
    }
}

/* Fault 7: "\u0000" inside a dataset string silently truncated the answer or
 * subject (C strings end at the NUL): the row is refused, naming the field. */
static void fault7_nul(void)
{
#define ROW(ans, subj) "{\"answers\":[\"" ans "\"],\"subj\":\"" subj "\",\"obj\":\"Paris\"," \
                      "\"passages\":[{\"text\":\"Paris is in France.\"}]}"
    static const struct { const char *row, *field; } bad[] = {
        {ROW("Fra\\u0000nce", "Paris"), "\"answers\""},
        {ROW("France", "Par\\u0000is"), "\"subj\""},
        {"{\"answers\":[\"France\"],\"subj\":\"Paris\",\"obj\":\"Paris\",\"passages\":[{\"text\":\"Paris\\u0000 is\"}]}", "\"passages\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_row r;
        ct_err err = {{0}};
        int rc = ct_row_parse(&r, bad[i].row, strlen(bad[i].row), 7, &err);
        CHECK(rc == -1 && strstr(err.msg, "line 7") && strstr(err.msg, bad[i].field) && strstr(err.msg, "u0000"),
              "%s: refused naming line and %s: %s", bad[i].row, bad[i].field, rc ? err.msg : "(accepted)");
        if (rc == 0) ct_row_free(&r);
    }
    /* an escaped backslash before "u0000" is six ordinary characters */
    const char *ok = ROW("France", "Par\\\\u0000is");
    ct_row r;
    ct_err err = {{0}};
    CHECK_OK(ct_row_parse(&r, ok, strlen(ok), 8, &err), &err);
    if (!err.msg[0]) { CHECK(!strcmp(r.subj, "Par\\u0000is"), "subject kept: %s", r.subj); ct_row_free(&r); }
#undef ROW
}

/* Valid UTF-8 throughout (no byte of an invalid sequence). */
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

/* Fault 8: errors.jsonl (and summary.jsonl) copied invalid UTF-8 from the
 * dataset raw, so Python's json could not read the line; and duplicate JSON
 * keys took the first value where Python's json takes the last. */
static void fault8_json(void)
{
    char *l = ct_error_line(3, 4, "d\xff.jsonl", "line 4: subject \"Zur\xc3\" not found in the passage");
    CHECK(l && valid_utf8(l) && strstr(l, "Zur\\\\xC3") && strstr(l, "d\\\\xFF.jsonl"), "error line escaped: %s", l ? l : "(null)");
    cJSON *j = l ? cJSON_Parse(l) : NULL;
    CHECK(j && strstr(cJSON_GetObjectItem(j, "error")->valuestring, "\"Zur\\xC3\""), "error line parses back");
    cJSON_Delete(j);
    free(l);
    char *toks[2] = {"a", "\xe6\x9d"};
    ct_case_info ci = {.kind = "hidden", .row = 1, .answer = "Fran\xe7" "e", .cf = "\x80", .T = 2, .tokens = toks};
    float ie[2] = {0.5f, 0.25f};
    l = ct_summary_line(&ci, 1, ie, 0.9f, 0.1f, 0.8f);
    CHECK(l && valid_utf8(l) && strstr(l, "Fran\\\\xE7e"), "summary line escaped: %s", l ? l : "(null)");
    free(l);

    /* duplicate keys: the last one, everywhere a JSON text is read */
    const char *row = "{\"answers\":[\"x\"],\"answers\":[\"France\"],\"subj\":\"A\",\"obj\":\"Paris\",\"subj\":\"Paris\","
                      "\"passages\":[{\"text\":\"no\",\"text\":\"Paris is in France.\"}]}";
    ct_row r;
    ct_err err = {{0}};
    CHECK_OK(ct_row_parse(&r, row, strlen(row), 1, &err), &err);
    if (!err.msg[0]) {
        CHECK(!strcmp(r.subj, "Paris") && !strcmp(r.answers[0], "France") && !strcmp(r.context, "Paris is in France."),
              "row: the last of duplicate keys (subj %s, answer %s, text %s)", r.subj, r.answers[0], r.context);
        ct_row_free(&r);
    }
    struct ct_config cfg;
    CHECK_OK(ct_config_parse(&cfg, "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_embd\":64,\"n_head\":2,\"n_layer\":3}",
                             "config.json", &err), &err);
    CHECK(cfg.n_layers == 3, "config: the last n_layer: %d", cfg.n_layers);
    /* safetensors: a duplicate tensor name and a duplicate __metadata__ (which leaked) */
    const char *p = tmp("dup.safetensors");
    write_st_raw(p, "{\"__metadata__\":{\"a\":\"1\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"__metadata__\":{\"a\":\"2\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    ct_st_file f;
    CHECK_OK(ct_st_open(&f, p, &err), &err);
    if (!err.msg[0]) {
        const ct_tensor_view *x = ct_st_find(&f, "x");
        CHECK(f.n == 1 && x && x->shape[0] == 2, "safetensors: one tensor x, the last one (n %d)", f.n);
        CHECK(f.metadata && strstr(f.metadata, "\"2\""), "safetensors: the last __metadata__: %s", f.metadata ? f.metadata : "");
        ct_st_close(&f);
    }
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b)) ok = 0;
    return ok ? 0 : -1;
}

/* The first row of data/demo.jsonl as a one-row dataset. */
static const char *demo_row_dataset(const char *name)
{
    char *all = ct_slurp("data/demo.jsonl", NULL);
    const char *p = tmp(name);
    FILE *o = fopen(p, "wb");
    if (all && o) { char *nl = strchr(all, '\n'); fwrite(all, 1, nl ? (size_t)(nl - all + 1) : strlen(all), o); }
    if (o) fclose(o);
    free(all);
    return p;
}

static void run_settings(ct_run_settings *s, const char *model, const char *data, const char *out)
{
    ct_run_settings_default(s);
    s->model_dir = model;
    s->data_path = data;
    s->output_dir = out;
    s->kinds = 1u << CT_KIND_HIDDEN;
    s->plots = 0;
    s->max_cf = 0;
    s->trace.samples = 2;
}

/* Fault 6: NaN weights gave a run that "succeeded" with p_clean null: the
 * row is now reported in errors.jsonl and no case is written. */
static void fault6_nan(void)
{
    const char *dir = tmp("nan_model");
    mkdir(dir, 0777);
    char a[1200], b[1200];
    static const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "models/demo/%s", files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        CHECK(copy_file(a, b) == 0, "copy %s (run from the repository root)", a);
    }
    ct_st_file f;
    ct_err err = {{0}};
    if (ct_st_open(&f, "models/demo/model.safetensors", &err)) { CHECK(0, "%s", err.msg); return; }
    const ct_tensor_view *t = ct_st_find(&f, "model.norm.weight");
    CHECK(t && t->dtype == CT_F32, "demo model has an F32 model.norm.weight");
    long off = t ? (long)((const char *)t->data - (const char *)f.map) : -1;
    ct_st_close(&f);
    if (off < 0) return;
    float nan = NAN;
    int fd = open(b, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, &nan, 4, off) == 4, "poison %s", b);
    close(fd);

    ct_run_settings s;
    const char *out = tmp("nan_run");
    run_settings(&s, dir, demo_row_dataset("nan_row.jsonl"), out);
    ct_run_progress pr;
    CHECK_OK(ct_run(&s, &pr, &err), &err);
    CHECK(pr.rows_ok == 0 && pr.rows_skipped == 1 && pr.cases_written == 0,
          "NaN weights: the row is skipped, not succeeded (ok %d, skipped %d, cases %d)", pr.rows_ok, pr.rows_skipped,
          pr.cases_written);
    snprintf(a, sizeof a, "%s/errors.jsonl", out);
    char *e = ct_slurp(a, NULL);
    CHECK(e && strstr(e, "non-finite") && strstr(e, "p_clean") && strstr(e, "line 1"), "errors.jsonl says why: %s", e ? e : "(none)");
    free(e);
    snprintf(a, sizeof a, "%s/summary.jsonl", out);
    e = ct_slurp(a, NULL);
    CHECK(e && !*e, "no summary line: %s", e ? e : "(no file)");
    free(e);

    /* and `ctrace info --check_weights 1` finds the tensor */
    const char *bin = getenv("CTRACE_BIN") ? getenv("CTRACE_BIN") : "build/ctrace";
    snprintf(a, sizeof a, "%s info --model_name %s --check_weights 1 2>&1", bin, dir);
    FILE *pp = popen(a, "r");
    char outb[8192] = "";
    size_t got = pp ? fread(outb, 1, sizeof outb - 1, pp) : 0;
    outb[got] = 0;
    int st = pp ? pclose(pp) : -1;
    CHECK(st != 0 && strstr(outb, "\"model.norm.weight\": 1 of 192 values are NaN or Inf"),
          "info --check_weights on the NaN model (status %d): %s", st, outb);
    snprintf(a, sizeof a, "%s info --model_name models/demo --check_weights 1 2>&1", bin);
    pp = popen(a, "r");
    got = pp ? fread(outb, 1, sizeof outb - 1, pp) : 0;
    outb[got] = 0;
    st = pp ? pclose(pp) : -1;
    CHECK(st == 0 && strstr(outb, "all finite"), "info --check_weights on the demo model (status %d): %s", st, outb);
}

/* s with every "from" replaced by "to" (caller frees). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), cnt = 0;
    for (const char *p = s; (p = strstr(p, from)); p += nf) cnt++;
    char *out = malloc(strlen(s) + cnt * nt + 1), *o = out;
    for (const char *p = s, *q; ; p = q + nf) {
        q = strstr(p, from);
        if (!q) { strcpy(o, p); break; }
        memcpy(o, p, (size_t)(q - p)); o += q - p;
        memcpy(o, to, nt); o += nt;
    }
    return out;
}

/* Fault 3: a row whose answer or object (about 300 bytes) makes a file name
 * longer than NAME_MAX stopped the whole run ("File name too long").  Names
 * are now shortened, stay distinct, and the row is traced. */
static void fault3_long_names(void)
{
    char a[300], b[300], name1[1024], name2[1024], pdf[1024];
    memset(a, 'x', 299); a[299] = 0;
    memcpy(b, a, 300); b[298] = 'y';
    CHECK(ct_case_name(name1, sizeof name1, 7, "attention", a) == 0 && strlen(name1) <= 200, "case name shortened: %zu bytes", strlen(name1));
    CHECK(ct_case_name(name2, sizeof name2, 7, "attention", b) == 0 && strcmp(name1, name2), "shortened names stay distinct");
    CHECK(!strncmp(name1, "7_attention_xxxx", 16) && strstr(name1, "~") && strstr(name1, ".bin"), "shortened name: %s", name1);
    CHECK(ct_pdf_name(pdf, sizeof pdf, a, 7, "mlp", b, "pdf") == 0 && strlen(pdf) <= 200 && strstr(pdf, "_7_mlp_"),
          "pdf name with long answer and cf: %s", pdf);
    CHECK(ct_case_name(name1, sizeof name1, 7, "mlp", "Paris is big") == 0 && !strcmp(name1, "7_mlp_Paris-is-big.bin"),
          "short names unchanged: %s", name1);
    /* multi-byte characters are not cut in the middle */
    char u[400] = "";
    for (int i = 0; i < 130; i++) strcat(u, "\xc3\xa9");
    CHECK(ct_case_name(name1, sizeof name1, 0, "hidden", u) == 0, "utf-8 name");
    char *tl = strchr(name1, '~');
    CHECK(tl && (((unsigned char)tl[-1] & 0xc0) != 0xc0), "no half character before '~': %s", name1);

    /* end to end: the demo's first row with a 277-byte object and a 255-byte
     * answer (as many tokens as the demo model's 256 positions allow) */
    char obj[400] = "Lorimel", ans[400] = "Lorimel";
    for (int i = 0; i < 45; i++) strcat(obj, "-north");
    for (int i = 0; i < 62; i++) strcat(ans, " and");
    char *row = ct_slurp(demo_row_dataset("long_src.jsonl"), NULL);
    char *r1 = row ? replace_all(row, "[\"Lorimel\"]", "[\"@ANSWER@\"]") : NULL;
    char *r2 = r1 ? replace_all(r1, "Lorimel", obj) : NULL;
    char *lrow = r2 ? replace_all(r2, "@ANSWER@", ans) : NULL;
    free(r1); free(r2);
    const char *data = tmp("long_row.jsonl");
    FILE *o = fopen(data, "wb");
    if (o && lrow) fputs(lrow, o);
    if (o) fclose(o);
    free(row); free(lrow);
    ct_run_settings s;
    run_settings(&s, "models/demo", data, tmp("long_run"));
    s.plots = 1;
    ct_run_progress pr;
    ct_err err = {{0}};
    CHECK_OK(ct_run(&s, &pr, &err), &err);
    CHECK(pr.rows_ok == 1 && pr.cases_written == 1, "the long row is traced (ok %d, cases %d)", pr.rows_ok, pr.cases_written);
    CHECK_OK(ct_run(&s, &pr, &err), &err);
    CHECK(pr.rows_ok == 1 && pr.cases_reused == 1, "and found again on a rerun (ok %d, reused %d)", pr.rows_ok, pr.cases_reused);
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

/* Fault 1: a full disk left a truncated figure under its final name, and a
 * rerun never redrew it.  The full disk is simulated with RLIMIT_FSIZE (no
 * root or tmpfs needed): a write past the limit fails with EFBIG. */
static void fault1_disk_full(void)
{
    ct_case c;
    ct_err err = {{0}};
    const char *src = "tests/fixtures/report/shard0/cases/0_mlp_Australia.bin";
    if (ct_case_load(&c, src, &err)) { CHECK(0, "%s (run from the repository root)", err.msg); return; }
    ct_case_figure fig;
    CHECK_OK(ct_case_figure_of(&fig, &c, &err), &err);
    static const ct_plot_format fmts[3] = {CT_PLOT_PDF, CT_PLOT_PNG, CT_PLOT_SVG};
    static const char *names[3] = {"full.pdf", "full.png", "full.svg"};
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < 3; i++) {
        const char *p = tmp(names[i]);
        struct rlimit lim = {4096, old.rlim_max};
        setrlimit(RLIMIT_FSIZE, &lim);
        err.msg[0] = 0;
        int rc = ct_heatmap_write(&fig.h, 1, p, fmts[i], &err);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(rc == -1 && strstr(err.msg, p) && strstr(err.msg, "write failed"), "%s on a full disk: an error naming it: %s",
              names[i], rc ? err.msg : "(succeeded)");
        CHECK(file_size(p) < 0, "%s: nothing under the final name (%ld bytes)", names[i], file_size(p));
        char t[1100];
        snprintf(t, sizeof t, "%s.tmp.%ld", p, (long)getpid());
        CHECK(file_size(t) < 0, "%s: no temporary left", names[i]);
        CHECK_OK(ct_heatmap_write(&fig.h, 1, p, fmts[i], &err), &err);
        CHECK(ct_figure_complete(p, fmts[i]), "%s: complete once there is room", names[i]);
        truncate(p, file_size(p) / 2);
        CHECK(!ct_figure_complete(p, fmts[i]), "%s cut in half: seen as incomplete", names[i]);
    }
    ct_case_figure_free(&fig);
    ct_case_free(&c);

    /* a rerun redraws a figure that was cut short */
    ct_run_settings s;
    run_settings(&s, "models/demo", demo_row_dataset("fig_row.jsonl"), tmp("fig_run"));
    s.plots = 1;
    ct_run_progress pr;
    CHECK_OK(ct_run(&s, &pr, &err), &err);
    char pdf[1200];
    snprintf(pdf, sizeof pdf, "%s/pdfs/Lorimel_0_hidden.pdf", tmp("fig_run"));
    long full = file_size(pdf);
    CHECK(full > 1000 && ct_figure_complete(pdf, CT_PLOT_PDF), "first run's figure %s: %ld bytes", pdf, full);
    truncate(pdf, 8192 < full ? 8192 : full / 2);
    CHECK_OK(ct_run(&s, &pr, &err), &err);
    CHECK(pr.cases_reused == 1 && ct_figure_complete(pdf, CT_PLOT_PDF) && file_size(pdf) == full,
          "rerun redrew the truncated figure (%ld bytes, want %ld)", file_size(pdf), full);
}

/* tokenizer.json from tests/fuzz/seeds_json/spm.json with `from` replaced by `to`. */
static const char *spm_variant(const char *name, const char *from, const char *to)
{
    char *src = ct_slurp("tests/fuzz/seeds_json/spm.json", NULL);
    char *v = src ? replace_all(src, from, to) : NULL;
    const char *p = tmp(name);
    FILE *o = fopen(p, "wb");
    if (o && v) fputs(v, o);
    if (o) fclose(o);
    free(src); free(v);
    return p;
}

/* Fault 9: messages that said the wrong thing. */
static void fault9_messages(void)
{
    ct_tokenizer *tk = NULL;
    ct_err err = {{0}};
    /* an added token whose id is out of range: say so, with the number */
    const char *p = spm_variant("added_id.json", "{\"id\":1,\"content\":\"<s>\"", "{\"id\":1e12,\"content\":\"<s>\"");
    int rc = ct_tokenizer_load(&tk, p, &err);
    CHECK(rc == -1 && strstr(err.msg, "out of range") && strstr(err.msg, "1000000000000") && strstr(err.msg, "<s>"),
          "added token id 1e12: %s", rc ? err.msg : "(loaded)");
    if (!rc) ct_tokenizer_free(tk);
    /* Oniguruma's match limit is not "out of memory" */
    p = spm_variant("onig_limit.json", "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":true}",
                    "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a|a)+b\"},\"behavior\":\"Isolated\",\"invert\":false}");
    err.msg[0] = 0;
    CHECK_OK(ct_tokenizer_load(&tk, p, &err), &err);
    if (!err.msg[0]) {
        char text[64];
        memset(text, 'a', 40); text[40] = 0;
        ct_encoding e;
        rc = ct_encode(tk, text, strlen(text), 0, &e, &err);
        CHECK(rc == -1 && strstr(err.msg, "match limit") && !strstr(err.msg, "out of memory"), "pathological regex: %s",
              rc ? err.msg : "(encoded)");
        if (!rc) ct_encoding_free(&e);
        ct_tokenizer_free(tk);
    }
    /* --shard K/N is 0-based: say so */
    ct_run_settings s;
    run_settings(&s, "models/demo", "data/demo.jsonl", tmp("shard_run"));
    s.shard_k = 2; s.shard_n = 2;
    ct_run_progress pr;
    rc = ct_run(&s, &pr, &err);
    CHECK(rc == -1 && strstr(err.msg, "0-based") && strstr(err.msg, "1/2"), "shard 2/2: %s", rc ? err.msg : "(ran)");
}

int main(void)
{
    TEST_BEGIN();
    fault4_shapes();
    fault5_overflows();
    fault7_nul();
    fault8_json();
    fault6_nan();
    fault3_long_names();
    fault1_disk_full();
    fault9_messages();
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmpdir());
    if (system(rm)) printf("note: could not remove %s\n", tmpdir());
    return TEST_END();
}
