/* test_experiment.c — dataset rows, prompt formatting, byte spans and token
 * ranges on real peq-both rows.  Expected offsets were worked out by hand and
 * checked with Python's str.find on the UTF-8 bytes (not with ctrace). */
#include "harness.h"
#include "ctrace_app.h"

/* Row `line` (1-based) of a peq-both file. */
static int load_row(ct_row *r, const char *rel, int line)
{
    ct_dataset *d; ct_err e;
    if (ct_dataset_open(&d, ct_fixture(rel), &e)) { printf("FAIL: %s\n", e.msg); return -1; }
    int rc = -1;
    for (;;) {
        int k = ct_dataset_next(d, r, &e);
        if (k <= 0) { printf("FAIL: %s line %d: %s\n", rel, line, k ? e.msg : "EOF"); break; }
        if (r->line == line) { rc = 0; break; }
        ct_row_free(r);
    }
    ct_dataset_close(d);
    return rc;
}

#define SPAN_IS(sp, B, E, what) CHECK((sp).b == (B) && (sp).e == (E), "%s: got [%d,%d) want [%d,%d)", what, (sp).b, (sp).e, B, E)

static int span_text_is(const ct_prompt *p, ct_interval s, const char *want)
{
    return (int)strlen(want) == s.e - s.b && !memcmp(p->text + s.b, want, (size_t)(s.e - s.b));
}

static void test_rows_and_errors(void)
{
    ct_row r; ct_err e;
    CHECK_OK(load_row(&r, "datasets/peq-both/P17.jsonl", 1) ? (snprintf(e.msg, sizeof e.msg, "load"), -1) : 0, &e);
    CHECK(!strcmp(r.question, "Which country is Mount Stromlo located in?"), "question %s", r.question);
    CHECK(r.n_answers == 1 && !strcmp(r.answers[0], "Australia"), "answer");
    CHECK(!strcmp(r.subj, "Mount Stromlo") && !strcmp(r.obj, "Australia") && !strcmp(r.prop, "P17"), "subj/obj/prop");
    CHECK(!strcmp(r.context, "Mount Stromlo is located in the country of Australia."), "context %s", r.context);
    CHECK(!strcmp(r.prompt_wo_ctx, "The country where Mount Stromlo is located is"), "prompt_wo_ctx");
    CHECK(r.n_obj_cf == 10 && !strcmp(r.obj_cf[0], "Cambodia") && !strcmp(r.obj_cf[9], "Lebanon"), "obj_cf %d", r.n_obj_cf);
    ct_row_free(&r);

    /* Bad lines: each error names the line and the problem. */
    struct { const char *json, *want; } bad[] = {
        {"{\"answers\": [\"x\"], \"subj\": \"a\"", "line 7: malformed JSON"},
        {"[1,2]", "line 7: not a JSON object"},
        {"{\"answers\": [\"x\"], \"obj\": \"b\", \"passages\": [{\"text\": \"a b\"}]}", "line 7: missing field \"subj\""},
        {"{\"answers\": [\"\"], \"subj\": \"a\", \"obj\": \"b\", \"passages\": [{\"text\": \"a b\"}]}", "line 7: empty answer"},
        {"{\"answers\": [], \"subj\": \"a\", \"obj\": \"b\", \"passages\": [{\"text\": \"a b\"}]}", "line 7: field \"answers\" is an empty list"},
        {"{\"answers\": [\"x\"], \"subj\": \"a\", \"obj\": \"b\", \"passages\": []}", "line 7: field \"passages\" is not a non-empty list"},
        {"{\"answers\": [\"x\"], \"subj\": \"a\", \"obj\": \"b\", \"passages\": [{\"title\": \"\"}]}", "line 7: missing field \"passages[0].text\""},
        {"{\"answers\": [\"x\"], \"subj\": 3, \"obj\": \"b\", \"passages\": [{\"text\": \"a b\"}]}", "line 7: field \"subj\" is not a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        int rc = ct_row_parse(&r, bad[i].json, strlen(bad[i].json), 7, &e);
        CHECK(rc == -1 && !strcmp(e.msg, bad[i].want), "bad[%zu]: rc %d msg '%s' want '%s'", i, rc, e.msg, bad[i].want);
        ct_row_free(&r);
    }

    /* The reader goes on after a bad line and names file:line. */
    char path[] = "/tmp/ct_test_rows_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"answers\": [\"x\"], \"subj\": \"a\", \"obj\": \"b\", \"passages\": [{\"text\": \"a b\"}]}\n\n"
               "not json\n{\"answers\": [\"y\"], \"subj\": \"c\", \"obj\": \"d\", \"passages\": [{\"text\": \"c d\"}]}");
    fclose(f);
    ct_dataset *d;
    CHECK_OK(ct_dataset_open(&d, path, &e), &e);
    CHECK(ct_dataset_next(d, &r, &e) == 1 && r.line == 1, "row 1"); ct_row_free(&r);
    CHECK(ct_dataset_next(d, &r, &e) == -1 && strstr(e.msg, ":3: malformed JSON"), "bad line 3: %s", e.msg);
    CHECK(ct_dataset_next(d, &r, &e) == 1 && r.line == 4 && !strcmp(r.answers[0], "y"), "row 4 after the bad one");
    ct_row_free(&r);
    CHECK(ct_dataset_next(d, &r, &e) == 0, "EOF");
    ct_dataset_close(d);
    remove(path);
    CHECK(ct_dataset_open(&d, "/nonexistent/x.jsonl", &e) == -1 && strstr(e.msg, "cannot open"), "open: %s", e.msg);
}

/* Byte spans on real rows in the default format "C: {context} Q: {prompt} A:". */
static void test_spans(void)
{
    struct {
        const char *file; int line;
        int pb, pe, qb, qe, sb, se, ob, oe, len;
    } cases[] = {
        /* plain: "C: Mount Stromlo is located in the country of Australia. Q: ... A:" */
        {"P17", 1, 3, 56, 60, 105, 3, 16, 46, 55, 108},
        /* object inside the subject: "Leod founded the Clan MacLeod?." -> the standalone "Leod" */
        {"P112", 58, 3, 34, 38, 69, 20, 33, 3, 7, 72},
        /* subject inside the object: "Louis II of Naples is the child of Louis I." -> the last "Louis I" */
        {"P40", 202, 3, 46, 50, 73, 38, 45, 3, 21, 76},
        /* diacritics: "Pierre-André" is 13 characters, 14 bytes */
        {"P106", 11, 3, 84, 88, 135, 3, 25, 43, 54, 138},
        /* object inside the subject, subject first: "Iran Airtour? is owned by Iran Air." */
        {"P127", 279, 3, 38, 42, 71, 3, 16, 29, 37, 74},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[128]; ct_row r; ct_prompt p; ct_err e;
        snprintf(rel, sizeof rel, "datasets/peq-both/%s.jsonl", cases[i].file);
        if (load_row(&r, rel, cases[i].line)) { CHECK(0, "load %s", rel); continue; }
        CHECK_OK(ct_prompt_build(&p, &r, NULL, NULL, &e), &e);
        if (!p.text) { ct_row_free(&r); continue; }
        char what[160];
        snprintf(what, sizeof what, "%s:%d passage", cases[i].file, cases[i].line); SPAN_IS(p.passage, cases[i].pb, cases[i].pe, what);
        snprintf(what, sizeof what, "%s:%d prompt", cases[i].file, cases[i].line); SPAN_IS(p.prompt, cases[i].qb, cases[i].qe, what);
        snprintf(what, sizeof what, "%s:%d subject", cases[i].file, cases[i].line); SPAN_IS(p.subject, cases[i].sb, cases[i].se, what);
        snprintf(what, sizeof what, "%s:%d object", cases[i].file, cases[i].line); SPAN_IS(p.object, cases[i].ob, cases[i].oe, what);
        CHECK(p.len == cases[i].len && (int)strlen(p.text) == p.len, "%s:%d len %d", cases[i].file, cases[i].line, p.len);
        CHECK(span_text_is(&p, p.subject, r.subj) && span_text_is(&p, p.object, r.obj), "%s: mention text", cases[i].file);
        CHECK(!p.subject_nocase && !p.object_nocase, "case-sensitive match");
        ct_prompt_free(&p); ct_row_free(&r);
    }

    /* Relation bytes on P17:1: passage minus subject minus object. */
    ct_row r; ct_prompt p; ct_err e;
    load_row(&r, "datasets/peq-both/P17.jsonl", 1);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, NULL, &e), &e);
    CHECK(p.n_relation == 2 && p.relation[0].b == 16 && p.relation[0].e == 46 && p.relation[1].b == 55 && p.relation[1].e == 56,
          "relation n=%d [%d,%d) [%d,%d)", p.n_relation, p.relation[0].b, p.relation[0].e, p.relation[1].b, p.relation[1].e);
    ct_prompt_free(&p);

    /* Other formats: prompt first (the seed's QA_T2), {question}, literal braces. */
    CHECK_OK(ct_prompt_build(&p, &r, "Q: {prompt} C: {context} A:", NULL, &e), &e);
    CHECK(!strcmp(p.text, "Q: The country where Mount Stromlo is located is C: Mount Stromlo is located in the country of Australia. A:"), "T2 text %s", p.text);
    SPAN_IS(p.prompt, 3, 48, "T2 prompt"); SPAN_IS(p.passage, 52, 105, "T2 passage");
    SPAN_IS(p.subject, 52, 65, "T2 subject (the passage's, not the prompt's)"); SPAN_IS(p.object, 95, 104, "T2 object");
    ct_prompt_free(&p);
    CHECK_OK(ct_prompt_build(&p, &r, "{{x}} {context}\n{question}", NULL, &e), &e);
    CHECK(!strcmp(p.text, "{x} Mount Stromlo is located in the country of Australia.\nWhich country is Mount Stromlo located in?"), "braces %s", p.text);
    SPAN_IS(p.passage, 4, 57, "braces passage"); SPAN_IS(p.prompt, 58, 100, "question span");
    ct_prompt_free(&p);
    CHECK(ct_prompt_build(&p, &r, "answer: <extra_id_0>", NULL, &e) == -1 && strstr(e.msg, "no text to trace in"), "no placeholder: %s", e.msg);
    CHECK(ct_prompt_build(&p, &r, "{context} {answer}", NULL, &e) == -1 && strstr(e.msg, "unknown placeholder {answer}"), "unknown: %s", e.msg);
    CHECK(ct_prompt_build(&p, &r, "{context", NULL, &e) == -1 && strstr(e.msg, "unclosed"), "unclosed: %s", e.msg);

    /* Counterfactual context: the object replaced by obj_cf[0]. */
    CHECK_OK(ct_prompt_build(&p, &r, NULL, r.obj_cf[0], &e), &e);
    CHECK(!strcmp(p.text, "C: Mount Stromlo is located in the country of Cambodia. Q: The country where Mount Stromlo is located is A:"), "cf %s", p.text);
    SPAN_IS(p.object, 46, 54, "cf object"); SPAN_IS(p.subject, 3, 16, "cf subject"); SPAN_IS(p.passage, 3, 55, "cf passage");
    ct_prompt_free(&p); ct_row_free(&r);

    /* cf when the object sits inside the subject: only the standalone one changes. */
    load_row(&r, "datasets/peq-both/P112.jsonl", 58);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, "Luther Rice", &e), &e);
    CHECK(!strcmp(p.context, "Luther Rice founded the Clan MacLeod?."), "cf ctx %s", p.context);
    SPAN_IS(p.object, 3, 14, "cf obj"); SPAN_IS(p.subject, 27, 40, "cf subj shifted");
    CHECK(span_text_is(&p, p.subject, "Clan MacLeod?") && span_text_is(&p, p.object, "Luther Rice"), "cf mention texts");
    ct_prompt_free(&p); ct_row_free(&r);
    load_row(&r, "datasets/peq-both/P40.jsonl", 202);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, "Naoki Hane", &e), &e);
    CHECK(!strcmp(p.context, "Naoki Hane is the child of Louis I."), "cf ctx %s", p.context);
    SPAN_IS(p.object, 3, 13, "cf obj P40"); SPAN_IS(p.subject, 30, 37, "cf subj P40");
    ct_prompt_free(&p); ct_row_free(&r);

    /* Case-insensitive fallback, and "not found" as a per-row error. */
    const char *js = "{\"answers\": [\"Paris\"], \"subj\": \"The Louvre\", \"obj\": \"Paris\", \"prompt_wo_ctx\": \"x\","
                     " \"passages\": [{\"text\": \"the Louvre is in PARIS and Paris.\"}]}";
    CHECK_OK(ct_row_parse(&r, js, strlen(js), 3, &e), &e);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, NULL, &e), &e);
    CHECK(p.subject_nocase == 1 && p.object_nocase == 0, "nocase flags %d %d", p.subject_nocase, p.object_nocase);
    SPAN_IS(p.subject, 3, 13, "nocase subject"); SPAN_IS(p.object, 30, 35, "case-sensitive object preferred");
    ct_prompt_free(&p); ct_row_free(&r);
    js = "{\"answers\": [\"Rome\"], \"subj\": \"Colosseum\", \"obj\": \"Rome\", \"prompt_wo_ctx\": \"x\","
         " \"passages\": [{\"text\": \"The arena is in Rome.\"}]}";
    CHECK_OK(ct_row_parse(&r, js, strlen(js), 9, &e), &e);
    CHECK(ct_prompt_build(&p, &r, NULL, NULL, &e) == -1 && !strcmp(e.msg, "line 9: subject \"Colosseum\" not found in the passage"), "%s", e.msg);
    ct_row_free(&r);
}

/* Every peq-both row formats with the default format; the spans satisfy the
 * invariants checked naively here. */
static void test_all_rows(void)
{
    const char *files[] = {"P106","P112","P127","P131","P159","P17","P170","P175","P176","P19","P20","P26",
                           "P264","P276","P36","P40","P407","P413","P495","P50","P69","P740","P800"};
    int rows = 0, ok = 0, bad_inv = 0, nocase = 0;
    char first_fail[1100] = "";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[128]; ct_dataset *d; ct_err e; ct_row r;
        snprintf(rel, sizeof rel, "datasets/peq-both/%s.jsonl", files[i]);
        if (ct_dataset_open(&d, ct_fixture(rel), &e)) { CHECK(0, "%s", e.msg); continue; }
        int k;
        while ((k = ct_dataset_next(d, &r, &e)) != 0) {
            rows++;
            if (k < 0) { if (!first_fail[0]) snprintf(first_fail, sizeof first_fail, "%s", e.msg); continue; }
            ct_prompt p;
            if (ct_prompt_build(&p, &r, NULL, r.n_obj_cf ? r.obj_cf[0] : NULL, &e)) {
                if (!first_fail[0]) snprintf(first_fail, sizeof first_fail, "%s: %s", files[i], e.msg);
                ct_row_free(&r); continue;
            }
            ok++;
            nocase += p.subject_nocase || p.object_nocase;
            int inv = p.subject.b >= p.passage.b && p.subject.e <= p.passage.e
                   && p.object.b >= p.passage.b && p.object.e <= p.passage.e
                   && (p.subject.e <= p.object.b || p.object.e <= p.subject.b)
                   && span_text_is(&p, p.subject, r.subj) && span_text_is(&p, p.object, r.n_obj_cf ? r.obj_cf[0] : r.obj);
            int covered = 0;
            for (int j = 0; j < p.n_relation; j++) covered += p.relation[j].e - p.relation[j].b;
            inv = inv && covered + (p.subject.e - p.subject.b) + (p.object.e - p.object.b) == p.passage.e - p.passage.b;
            if (!inv) bad_inv++;
            ct_prompt_free(&p); ct_row_free(&r);
        }
        ct_dataset_close(d);
    }
    CHECK(rows == 7142, "rows %d", rows);
    CHECK(ok == rows, "%d of %d rows formatted; first failure: %s", ok, rows, first_fail);
    CHECK(bad_inv == 0, "%d rows break a span invariant", bad_inv);
    CHECK(nocase == 0, "%d rows needed the case-insensitive fallback", nocase);
}

/* Token ranges from offsets: a GPT-2-like split of the P17:1 and P106:11
 * prompts (BOS [0,0], pieces carry their leading space), made with Python's re. */
static void test_token_ranges(void)
{
    static const int32_t off17[] = {0,0, 0,1, 1,2, 2,8, 8,16, 16,19, 19,27, 27,30, 30,34, 34,42, 42,45, 45,55, 55,56,
        56,58, 58,59, 59,63, 63,71, 71,77, 77,83, 83,91, 91,94, 94,102, 102,105, 105,107, 107,108};
    static const int32_t off106[] = {0,0, 0,1, 1,2, 2,9, 9,10, 10,16, 16,25, 25,28, 28,37, 37,40, 40,42, 42,54, 54,64,
        64,67, 67,78, 78,83, 83,84, 84,86, 86,87, 87,91, 91,96, 96,99, 99,104, 104,111, 111,112, 112,118, 118,127,
        127,132, 132,135, 135,137, 137,138};
    ct_row r; ct_prompt p; ct_err e; ct_token_spans s;
    load_row(&r, "datasets/peq-both/P17.jsonl", 1);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, NULL, &e), &e);
    CHECK_OK(ct_token_spans_of(&p, off17, 25, &s, &e), &e);
    SPAN_IS(s.passage, 3, 13, "P17 passage tokens"); SPAN_IS(s.subject, 3, 5, "P17 subject tokens");
    SPAN_IS(s.object, 11, 12, "P17 object tokens"); SPAN_IS(s.prompt, 15, 23, "P17 prompt tokens");
    CHECK(s.n_relation == 2 && s.relation[0].b == 5 && s.relation[0].e == 11 && s.relation[1].b == 12 && s.relation[1].e == 13,
          "P17 relation n=%d [%d,%d) [%d,%d)", s.n_relation, s.relation[0].b, s.relation[0].e, s.relation[1].b, s.relation[1].e);
    CHECK(s.last == 24 && s.T == 25, "last %d", s.last);
    ct_prompt_free(&p); ct_row_free(&r);

    load_row(&r, "datasets/peq-both/P106.jsonl", 11);
    CHECK_OK(ct_prompt_build(&p, &r, NULL, NULL, &e), &e);
    CHECK_OK(ct_token_spans_of(&p, off106, 31, &s, &e), &e);
    SPAN_IS(s.passage, 3, 17, "P106 passage tokens"); SPAN_IS(s.subject, 3, 7, "P106 subject tokens");
    SPAN_IS(s.object, 11, 12, "P106 object tokens"); SPAN_IS(s.prompt, 19, 29, "P106 prompt tokens");
    CHECK(s.n_relation == 2 && s.relation[0].b == 7 && s.relation[0].e == 11 && s.relation[1].b == 12 && s.relation[1].e == 17,
          "P106 relation");
    ct_prompt_free(&p); ct_row_free(&r);

    /* A token straddling the span's edge counts (SentencePiece "▁Mount" holds
     * the space before the passage); an empty token never does. */
    static const int32_t offx[] = {0,0, 0,4, 4,9, 9,9, 9,12};
    ct_interval t;
    CHECK_OK(ct_token_range(offx, 5, (ct_interval){5, 9}, &t, &e), &e); SPAN_IS(t, 2, 3, "inside one token");
    CHECK_OK(ct_token_range(offx, 5, (ct_interval){3, 10}, &t, &e), &e); SPAN_IS(t, 1, 5, "straddling");
    CHECK_OK(ct_token_range(offx, 5, (ct_interval){0, 1}, &t, &e), &e); SPAN_IS(t, 1, 2, "BOS excluded");
    CHECK(ct_token_range(offx, 5, (ct_interval){12, 14}, &t, &e) == -1, "no token");
}

/* Real tokenizers (GPT-2 byte-level BPE, Llama 2 SentencePiece, Llama 3,
 * Qwen2.5): the token ranges from ct_encode's offsets, checked against the
 * tokenizer's own decoder: the subject range decodes to text containing the
 * subject, and neither end token can be dropped; the ranges tile the passage. */
static int decoded_contains(const ct_tokenizer *tk, const int32_t *ids, ct_interval r, const char *want)
{
    if (r.e <= r.b) return 0;
    char *s = NULL; ct_err e;
    if (ct_decode(tk, ids + r.b, r.e - r.b, 1, &s, &e)) return 0;
    int ok = strstr(s, want) != NULL;
    free(s);
    return ok;
}

static void test_real_tokenizers(void)
{
    const char *toks[] = {"hf-tokenizers/gpt2", "hf-tokenizers/llama2", "hf-tokenizers/llama3",
                          "hf-tokenizers/qwen2.5"};
    struct { const char *file; int line; } rows[] = {
        {"P17", 1}, {"P112", 58}, {"P40", 202}, {"P106", 11}, {"P127", 279}, {"P407", 233}, {"P276", 21}, {"P36", 1},
    };
    for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++) {
        ct_tokenizer *tk; ct_err e;
        if (ct_tokenizer_load(&tk, ct_fixture(toks[k]), &e)) { CHECK(0, "%s", e.msg); continue; }
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            char rel[128]; ct_row r; ct_prompt p; ct_encoding en; ct_token_spans s;
            snprintf(rel, sizeof rel, "datasets/peq-both/%s.jsonl", rows[i].file);
            if (load_row(&r, rel, rows[i].line)) continue;
            for (int cf = 0; cf < 2; cf++) {
                const char *obj = cf ? r.obj_cf[0] : r.obj;
                if (ct_prompt_build(&p, &r, NULL, cf ? r.obj_cf[0] : NULL, &e)) { CHECK(0, "%s", e.msg); continue; }
                CHECK_OK(ct_encode(tk, p.text, (size_t)p.len, 1, &en, &e), &e);
                CHECK_OK(ct_token_spans_of(&p, (const int32_t *)en.offsets, en.n, &s, &e), &e);
                const char *what = toks[k] + 21;
                CHECK(decoded_contains(tk, en.ids, s.subject, r.subj), "%s %s:%d: subject tokens [%d,%d) lack \"%s\"",
                      what, rows[i].file, rows[i].line, s.subject.b, s.subject.e, r.subj);
                CHECK(!decoded_contains(tk, en.ids, (ct_interval){s.subject.b + 1, s.subject.e}, r.subj)
                      && !decoded_contains(tk, en.ids, (ct_interval){s.subject.b, s.subject.e - 1}, r.subj),
                      "%s %s:%d: subject range not minimal", what, rows[i].file, rows[i].line);
                CHECK(decoded_contains(tk, en.ids, s.object, obj), "%s %s:%d: object tokens [%d,%d) lack \"%s\"",
                      what, rows[i].file, rows[i].line, s.object.b, s.object.e, obj);
                CHECK(!decoded_contains(tk, en.ids, (ct_interval){s.object.b + 1, s.object.e}, obj)
                      && !decoded_contains(tk, en.ids, (ct_interval){s.object.b, s.object.e - 1}, obj),
                      "%s %s:%d: object range not minimal", what, rows[i].file, rows[i].line);
                /* subject, object and relation tile the passage; no BOS, no template */
                int n = (s.subject.e - s.subject.b) + (s.object.e - s.object.b);
                for (int j = 0; j < s.n_relation; j++) n += s.relation[j].e - s.relation[j].b;
                CHECK(n == s.passage.e - s.passage.b && (s.subject.e <= s.object.b || s.object.e <= s.subject.b),
                      "%s %s:%d: ranges do not tile the passage", what, rows[i].file, rows[i].line);
                CHECK(s.passage.b >= 1 && !en.special[s.passage.b] && s.passage.e < s.prompt.b && s.prompt.e < en.n,
                      "%s %s:%d: passage [%d,%d) prompt [%d,%d) of %d", what, rows[i].file, rows[i].line,
                      s.passage.b, s.passage.e, s.prompt.b, s.prompt.e, en.n);
                ct_encoding_free(&en);
                ct_prompt_free(&p);
            }
            ct_row_free(&r);
        }
        ct_tokenizer_free(tk);
    }
}

/* Every peq-both row, Llama 2 and GPT-2 tokenizers: token spans exist and the
 * subject/object ranges decode to text holding the mention. */
static void test_all_rows_tokenized(void)
{
    const char *toks[] = {"hf-tokenizers/llama2", "hf-tokenizers/gpt2"};
    const char *files[] = {"P106","P112","P127","P131","P159","P17","P170","P175","P176","P19","P20","P26",
                           "P264","P276","P36","P40","P407","P413","P495","P50","P69","P740","P800"};
    for (size_t k = 0; k < 2; k++) {
        ct_tokenizer *tk; ct_err e;
        if (ct_tokenizer_load(&tk, ct_fixture(toks[k]), &e)) { CHECK(0, "%s", e.msg); continue; }
        int rows = 0, good = 0;
        char first[1200] = "";
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char rel[128]; ct_dataset *d; ct_row r;
            snprintf(rel, sizeof rel, "datasets/peq-both/%s.jsonl", files[i]);
            if (ct_dataset_open(&d, ct_fixture(rel), &e)) continue;
            while (ct_dataset_next(d, &r, &e) == 1) {
                ct_prompt p; ct_encoding en; ct_token_spans s;
                rows++;
                if (!ct_prompt_build(&p, &r, NULL, NULL, &e)) {
                    if (!ct_encode(tk, p.text, (size_t)p.len, 1, &en, &e)) {
                        if (!ct_token_spans_of(&p, (const int32_t *)en.offsets, en.n, &s, &e)
                            && decoded_contains(tk, en.ids, s.subject, r.subj) && decoded_contains(tk, en.ids, s.object, r.obj))
                            good++;
                        else if (!first[0]) snprintf(first, sizeof first, "%s:%d", files[i], r.line);
                        ct_encoding_free(&en);
                    }
                    ct_prompt_free(&p);
                }
                ct_row_free(&r);
            }
            ct_dataset_close(d);
        }
        CHECK(rows == 7142 && good == rows, "%s: %d of %d rows good; first bad %s", toks[k], good, rows, first);
        ct_tokenizer_free(tk);
    }
}

/* ct_row_plan: P17:1 with GPT-2 (byte-level: the token texts concatenate to the prompt). */
static void test_plan(void)
{
    ct_tokenizer *tk; ct_err e; ct_row r; ct_row_plan p;
    if (ct_tokenizer_load(&tk, ct_fixture("hf-tokenizers/gpt2"), &e)) { CHECK(0, "%s", e.msg); return; }
    load_row(&r, "datasets/peq-both/P17.jsonl", 1);
    for (int x = 1; x <= 3; x++) {
        CHECK_OK(ct_row_plan_make(&p, &r, tk, NULL, x, NULL, 3, &e), &e);
        if (!p.tokens) continue;
        const ct_token_spans *s = &p.spans;
        if (x == 1) CHECK(p.n_ranges == 1 && p.ranges[0][0] == s->subject.b && p.ranges[0][1] == s->subject.e, "exp 1 = subject");
        if (x == 2) CHECK(p.n_ranges == 1 && p.ranges[0][0] == s->object.b && p.ranges[0][1] == s->object.e, "exp 2 = object");
        if (x == 3) CHECK(p.n_ranges == s->n_relation && p.n_ranges == 2 && p.ranges[1][0] == s->relation[1].b, "exp 3 = relation");
        char *txt = NULL;
        CHECK(ct_decode(tk, p.answer, p.n_answer, 1, &txt, &e) == 0 && !strcmp(txt, " Australia"), "answer decodes to '%s'", txt);
        free(txt);
        CHECK(p.n_cf == 3 && ct_decode(tk, p.cf[2], p.cf_len[2], 1, &txt, &e) == 0 && !strcmp(txt, " Austria"), "cf[2] '%s'", txt);
        free(txt);
        char joined[512] = "";
        for (int t = 0; t < p.enc.n; t++) strncat(joined, p.tokens[t], sizeof joined - strlen(joined) - 1);
        CHECK(!strcmp(joined, p.prompt.text), "token texts join to the prompt: '%s'", joined);
        ct_case_info ci;
        CHECK_OK(ct_row_plan_case_info(&p, &r, 0, x, "mlp", 10, "prob", &ci, &e), &e);
        CHECK(ci.T == p.enc.n && ci.window == 10 && ci.experiment == x && !strcmp(ci.answer, "Australia") && !ci.cf
              && !memcmp(&ci.spans, &p.spans, sizeof ci.spans), "case info from the plan");
        ct_case_info_free(&ci);
        ct_row_plan_free(&p);
    }
    /* a counterfactual context, all counterfactuals */
    CHECK_OK(ct_row_plan_make(&p, &r, tk, NULL, 2, r.obj_cf[1], -1, &e), &e);
    CHECK(p.n_cf == 10 && strstr(p.prompt.text, "country of Azerbaijan.") != NULL, "cf context: %s", p.prompt.text);
    ct_case_info ci;
    CHECK_OK(ct_row_plan_case_info(&p, &r, 4, 2, "hidden", 10, NULL, &ci, &e), &e);
    CHECK(ci.window == 1 && !strcmp(ci.cf, "Azerbaijan") && !strcmp(ci.metric, "prob"), "cf case info");
    ct_case_info_free(&ci);
    ct_row_plan_free(&p);
    CHECK(ct_row_plan_make(&p, &r, tk, NULL, 4, NULL, 3, &e) == -1 && strstr(e.msg, "experiment type 4"), "%s", e.msg);
    ct_row_free(&r);
    ct_tokenizer_free(tk);
}

/* The seed's argparse default "question: {question} answer: <extra_id_0>" has
 * no {context}: the question stands in for the passage.  Expected offsets were
 * computed once with Python: t = fmt.format(question=row["question"]);
 * t.find(row["subj"]) (byte offsets: the text before the mention is ASCII, so
 * characters = bytes; ends are start + len(subj.encode())), the question at
 * t.find(row["question"]) = 10, len(t.encode()).  No peq-both row has its
 * object in the question outside the subject (checked over all 7142 rows with
 * Python), so the object interval is always the empty one after the subject. */
static void test_no_context(void)
{
    struct {
        const char *file; int line;
        int qe, sb, se, len;
    } cases[] = {
        /* "question: Which country is Mount Stromlo located in? answer: <extra_id_0>" */
        {"P17", 1, 52, 27, 40, 73},
        /* "Who founded Clan MacLeod?": obj "Leod" only inside the subject -> empty object */
        {"P112", 58, 35, 22, 35, 56},
        /* "Who is Louis I's child?": obj "Louis II of Naples" absent */
        {"P40", 202, 33, 17, 24, 54},
        /* "What kind of work does Pierre-André Taguieff do?": 21 characters, 22 bytes */
        {"P106", 11, 59, 33, 55, 80},
        /* "Who owns Iran Airtour?": obj "Iran Air" only inside the subject */
        {"P127", 279, 32, 19, 32, 53},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[128], what[160]; ct_row r; ct_prompt p; ct_err e;
        snprintf(rel, sizeof rel, "datasets/peq-both/%s.jsonl", cases[i].file);
        if (load_row(&r, rel, cases[i].line)) { CHECK(0, "load %s", rel); continue; }
        CHECK_OK(ct_prompt_build(&p, &r, CT_PROMPT_FORMAT_SEED_ARGPARSE, NULL, &e), &e);
        if (!p.text) { ct_row_free(&r); continue; }
        snprintf(what, sizeof what, "%s:%d question", cases[i].file, cases[i].line); SPAN_IS(p.prompt, 10, cases[i].qe, what);
        snprintf(what, sizeof what, "%s:%d passage = question", cases[i].file, cases[i].line); SPAN_IS(p.passage, 10, cases[i].qe, what);
        snprintf(what, sizeof what, "%s:%d subject", cases[i].file, cases[i].line); SPAN_IS(p.subject, cases[i].sb, cases[i].se, what);
        snprintf(what, sizeof what, "%s:%d empty object", cases[i].file, cases[i].line); SPAN_IS(p.object, cases[i].se, cases[i].se, what);
        CHECK(p.len == cases[i].len && p.no_context == 1 && !strcmp(p.searched, "question"), "%s:%d len %d", cases[i].file, cases[i].line, p.len);
        CHECK(span_text_is(&p, p.subject, r.subj), "%s: subject text", cases[i].file);
        /* relation = the question outside the subject */
        int covered = 0;
        for (int k = 0; k < p.n_relation; k++) covered += p.relation[k].e - p.relation[k].b;
        CHECK(covered + (cases[i].se - cases[i].sb) == cases[i].qe - 10, "%s:%d relation covers %d bytes", cases[i].file, cases[i].line, covered);
        ct_prompt_free(&p);
        /* a counterfactual context needs a passage */
        CHECK(ct_prompt_build(&p, &r, CT_PROMPT_FORMAT_SEED_ARGPARSE, "Paris", &e) == -1 && strstr(e.msg, "needs a passage"), "cf: %s", e.msg);
        ct_row_free(&r);
    }
    ct_row r; ct_prompt p; ct_err e;
    load_row(&r, "datasets/peq-both/P17.jsonl", 1);
    CHECK_OK(ct_prompt_build(&p, &r, CT_PROMPT_FORMAT_SEED_ARGPARSE, NULL, &e), &e);
    CHECK(p.n_relation == 2 && p.relation[0].b == 10 && p.relation[0].e == 27 && p.relation[1].b == 40 && p.relation[1].e == 52,
          "no-context relation n=%d [%d,%d) [%d,%d)", p.n_relation, p.relation[0].b, p.relation[0].e, p.relation[1].b, p.relation[1].e);
    ct_prompt_free(&p);
    /* {prompt} instead of {question}: "The country where Mount Stromlo is located is" */
    CHECK_OK(ct_prompt_build(&p, &r, "Q: {prompt} A:", NULL, &e), &e);
    SPAN_IS(p.passage, 3, 48, "{prompt} passage"); SPAN_IS(p.subject, 21, 34, "{prompt} subject");
    CHECK(!strcmp(p.searched, "prompt"), "searched %s", p.searched);
    ct_prompt_free(&p);
    ct_row_free(&r);
    /* the subject must be in the question; an object there is used */
    const char *js = "{\"answers\": [\"Rome\"], \"subj\": \"Colosseum\", \"obj\": \"Rome\", \"question\": \"Is the arena in Rome?\","
                     " \"passages\": [{\"text\": \"The Colosseum is in Rome.\"}]}";
    CHECK_OK(ct_row_parse(&r, js, strlen(js), 9, &e), &e);
    CHECK(ct_prompt_build(&p, &r, CT_PROMPT_FORMAT_SEED_ARGPARSE, NULL, &e) == -1
          && !strcmp(e.msg, "line 9: subject \"Colosseum\" not found in the question"), "%s", e.msg);
    ct_row_free(&r);
    js = "{\"answers\": [\"Rome\"], \"subj\": \"Colosseum\", \"obj\": \"Rome\", \"question\": \"Is the Colosseum in Rome?\","
         " \"passages\": [{\"text\": \"The Colosseum is in Rome.\"}]}";
    CHECK_OK(ct_row_parse(&r, js, strlen(js), 9, &e), &e);
    CHECK_OK(ct_prompt_build(&p, &r, CT_PROMPT_FORMAT_SEED_ARGPARSE, NULL, &e), &e);
    /* "question: Is the Colosseum in Rome? answer: <extra_id_0>" */
    SPAN_IS(p.subject, 17, 26, "object-in-question subject"); SPAN_IS(p.object, 30, 34, "object in the question");
    ct_prompt_free(&p); ct_row_free(&r);
}

/* Plans with the seed's argparse format: experiments 1 and 3 work, 2 is a
 * per-row error naming the object; the segments have no object rows. */
static void test_plan_no_context(void)
{
    ct_tokenizer *tk; ct_err e; ct_row r; ct_row_plan p;
    if (ct_tokenizer_load(&tk, ct_fixture("hf-tokenizers/gpt2"), &e)) { CHECK(0, "%s", e.msg); return; }
    load_row(&r, "datasets/peq-both/P17.jsonl", 1);
    CHECK_OK(ct_row_plan_make(&p, &r, tk, CT_PROMPT_FORMAT_SEED_ARGPARSE, 1, NULL, 3, &e), &e);
    if (p.tokens) {
        const ct_token_spans *s = &p.spans;
        char *txt = NULL;
        CHECK(ct_decode(tk, p.enc.ids + s->subject.b, s->subject.e - s->subject.b, 1, &txt, &e) == 0 && !strcmp(txt, " Mount Stromlo"),
              "subject tokens decode to '%s'", txt);
        free(txt);
        CHECK(s->object.b == s->object.e && s->passage.b == s->prompt.b && s->passage.e == s->prompt.e, "empty object token span");
        uint32_t mask[128];
        CHECK(p.enc.n <= 128, "T %d", p.enc.n);
        CHECK_OK(ct_segments_of(s, p.enc.n, mask, &e), &e);
        int nobj = 0, nsubj = 0;
        for (int t = 0; t < p.enc.n; t++) {
            if (mask[t] & ((1u << CT_SEG_OBJ_FIRST) | (1u << CT_SEG_OBJ_MID) | (1u << CT_SEG_OBJ_LAST))) nobj++;
            if (mask[t] & ((1u << CT_SEG_SUBJ_FIRST) | (1u << CT_SEG_SUBJ_MID) | (1u << CT_SEG_SUBJ_LAST))) nsubj++;
        }
        CHECK(nobj == 0 && nsubj == s->subject.e - s->subject.b, "segments: %d object rows, %d subject rows", nobj, nsubj);
        ct_case_info ci;
        CHECK_OK(ct_row_plan_case_info(&p, &r, 0, 1, "hidden", 10, "prob", &ci, &e), &e);
        ct_case_info_free(&ci);
    }
    ct_row_plan_free(&p);
    CHECK_OK(ct_row_plan_make(&p, &r, tk, CT_PROMPT_FORMAT_SEED_ARGPARSE, 3, NULL, 3, &e), &e);
    if (p.tokens) {
        const ct_token_spans *s = &p.spans;
        int n = 0;
        for (int k = 0; k < p.n_ranges; k++) n += p.ranges[k][1] - p.ranges[k][0];
        CHECK(p.n_ranges == 2 && p.ranges[0][0] == s->prompt.b && p.ranges[0][1] == s->subject.b && p.ranges[1][0] == s->subject.e
              && p.ranges[1][1] == s->prompt.e && n + (s->subject.e - s->subject.b) == s->prompt.e - s->prompt.b,
              "exp 3 = the question outside the subject: %d ranges", p.n_ranges);
    }
    ct_row_plan_free(&p);
    CHECK(ct_row_plan_make(&p, &r, tk, CT_PROMPT_FORMAT_SEED_ARGPARSE, 2, NULL, 3, &e) == -1
          && !strcmp(e.msg, "line 1: object \"Australia\" not found in the question (the prompt format has no {context})"), "%s", e.msg);
    ct_row_free(&r);
    ct_tokenizer_free(tk);
}

int main(void)
{
    TEST_BEGIN();
    test_rows_and_errors();
    test_spans();
    test_all_rows();
    test_token_ranges();
    test_real_tokenizers();
    test_all_rows_tokenized();
    test_plan();
    test_no_context();
    test_plan_no_context();
    return TEST_END();
}
