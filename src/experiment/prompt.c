/* prompt.c — --prompt_format substitution and the byte spans of the passage,
 * the subject and object mentions and the relation words inside the prompt.
 *
 * Why search the passage and not the whole prompt: the subject also appears in
 * the question/prompt part ("The country where Mount Stromlo is located is");
 * the experiments corrupt the mention in the context.  Why choose a pair of
 * mentions: 83 peq-both rows have the object inside the subject ("Leod" in
 * "Clan MacLeod?") and 3 the subject inside the object ("Louis I" in
 * "Louis II of Naples"); the first occurrence would be the wrong one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"

/* Growable byte buffer. */
typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q; b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* All start offsets of needle in hay (overlapping ones too), ASCII
 * case-insensitive when nocase.  Returns the count; *out is malloc'd. */
static int find_all(const char *hay, const char *needle, int nocase, int **out)
{
    size_t hn = strlen(hay), nn = strlen(needle);
    int n = 0, cap = 0;
    *out = NULL;
    if (nn == 0 || nn > hn) return 0;
    for (size_t i = 0; i + nn <= hn; i++) {
        int eq = nocase ? strncasecmp(hay + i, needle, nn) == 0 : memcmp(hay + i, needle, nn) == 0;
        if (!eq) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            int *q = realloc(*out, (size_t)cap * sizeof *q);
            if (!q) { free(*out); *out = NULL; return -1; }
            *out = q;
        }
        (*out)[n++] = (int)i;
    }
    return n;
}

/* Letters, digits and any non-ASCII byte count as word characters, so a match
 * is "whole word" when the bytes on both sides are not. */
static int wordch(unsigned char c) { return isalnum(c) || c >= 0x80; }

static int whole_word(const char *s, int b, int e)
{
    int len = (int)strlen(s);
    return (b == 0 || !wordch((unsigned char)s[b - 1])) && (e >= len || !wordch((unsigned char)s[e]));
}

/* Occurrences of what in ctx: case-sensitive first, then the fallback. */
static int mentions(const char *ctx, const char *what, int **pos, int *nocase)
{
    *nocase = 0;
    int n = find_all(ctx, what, 0, pos);
    if (n == 0) { free(*pos); *nocase = 1; n = find_all(ctx, what, 1, pos); }
    return n;
}

void ct_prompt_free(ct_prompt *p)
{
    if (!p) return;
    free(p->text); free(p->context);
    memset(p, 0, sizeof *p);
}

/* Relation = passage minus the two mentions, as up to three byte ranges. */
static void relation_of(ct_prompt *p)
{
    ct_interval a = p->subject, b = p->object;
    if (b.b < a.b) { ct_interval t = a; a = b; b = t; }
    ct_interval cand[3] = { {p->passage.b, a.b}, {a.e, b.b}, {b.e, p->passage.e} };
    p->n_relation = 0;
    for (int i = 0; i < 3; i++)
        if (cand[i].e > cand[i].b) p->relation[p->n_relation++] = cand[i];
}

/* What fmt substitutes: whether it has {context}, and which placeholder comes
 * first among {prompt}/{question} (0 none, 1 prompt, 2 question).  Checks the
 * format's syntax, with the messages of the formatting pass below. */
static int scan_format(const char *fmt, int *has_ctx, int *first_prompt, ct_err *err)
{
    *has_ctx = 0; *first_prompt = 0;
    for (const char *f = fmt; *f; ) {
        if ((f[0] == '{' && f[1] == '{') || (f[0] == '}' && f[1] == '}')) { f += 2; continue; }
        if (f[0] == '}') return ct_fail(err, "--prompt_format: single '}' in \"%s\"", fmt);
        if (f[0] != '{') { f++; continue; }
        const char *close = strchr(f, '}');
        if (!close) return ct_fail(err, "--prompt_format: unclosed '{' in \"%s\"", fmt);
        size_t kl = (size_t)(close - f - 1);
        const char *key = f + 1;
        if (kl == 7 && !strncmp(key, "context", 7)) *has_ctx = 1;
        else if (kl == 6 && !strncmp(key, "prompt", 6)) { if (!*first_prompt) *first_prompt = 1; }
        else if (kl == 8 && !strncmp(key, "question", 8)) { if (!*first_prompt) *first_prompt = 2; }
        else return ct_fail(err, "--prompt_format: unknown placeholder {%.*s} (known: {context}, {prompt}, {question})", (int)kl, key);
        f = close + 1;
    }
    if (!*has_ctx && !*first_prompt)
        return ct_fail(err, "--prompt_format \"%s\" has no {context}, {prompt} or {question}: no text to trace in", fmt);
    return 0;
}

int ct_prompt_build(ct_prompt *p, const ct_row *row, const char *fmt, const char *cf, ct_err *err)
{
    memset(p, 0, sizeof *p);
    if (!fmt) fmt = CT_PROMPT_FORMAT_DEFAULT;
    int line = row->line;
    if (!row->subj || !row->obj) return ct_fail(err, "line %d: row lacks subj or obj", line);

    /* 0. Where the mentions are searched: the passage, or, when fmt has no
     *    {context} (the seed's argparse default), the first {prompt} /
     *    {question} substitution; there the object is optional, since a
     *    question rarely names its answer. */
    int has_ctx, first_prompt;
    if (scan_format(fmt, &has_ctx, &first_prompt, err)) return -1;
    const char *ctx, *where;
    if (has_ctx) {
        ctx = row->context; where = "passage";
        if (!ctx) return ct_fail(err, "line %d: row lacks a passage", line);
    } else {
        if (cf) return ct_fail(err, "line %d: a counterfactual context needs a passage: the prompt format has no {context}", line);
        ctx = first_prompt == 1 ? row->prompt_wo_ctx : row->question;
        where = first_prompt == 1 ? "prompt" : "question";
        if (!ctx)
            return ct_fail(err, "line %d: missing field \"%s\" (used by {%s})", line,
                           first_prompt == 1 ? "prompt_wo_ctx" : "question", where);
    }
    p->no_context = !has_ctx;
    p->searched = where;

    /* 1. The mentions in the original passage (or question). */
    int *sp = NULL, *op = NULL, snc, onc;
    int ns = mentions(ctx, row->subj, &sp, &snc);
    int no = mentions(ctx, row->obj, &op, &onc);
    int rc = -1;
    if (ns < 0 || no < 0) { ct_fail(err, "line %d: out of memory", line); goto out; }
    if (ns == 0) { ct_fail(err, "line %d: subject \"%s\" not found in the %s", line, row->subj, where); goto out; }
    /* The object is needed by experiment 2 and by counterfactual contexts
     * only (ct_row_plan_make refuses experiment 2 without it): experiments 1
     * and 3 trace rows whose passage does not name the object. */
    if (no == 0 && cf) { ct_fail(err, "line %d: object \"%s\" not found in the passage (needed for a counterfactual context)", line, row->obj); goto out; }
    int sl = (int)strlen(row->subj), ol = (int)strlen(row->obj);
    int best = -1, bs = 0, bo = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < no; j++) {
            int s0 = sp[i], o0 = op[j];
            if (s0 < o0 + ol && o0 < s0 + sl) continue;   /* overlap */
            int score = whole_word(ctx, s0, s0 + sl) + whole_word(ctx, o0, o0 + ol);
            if (score > best) { best = score; bs = s0; bo = o0; }
        }
    if (best < 0 && !cf && ns > 0) {
        /* no usable object mention (none, or only inside the subject): the
         * best subject alone, and an empty object interval right after it */
        for (int i = 0; i < ns; i++) {
            int score = whole_word(ctx, sp[i], sp[i] + sl);
            if (score > best) { best = score; bs = sp[i]; }
        }
        bo = bs + sl; ol = 0;
        onc = 0;
    }
    if (best < 0) {
        ct_fail(err, "line %d: subject \"%s\" and object \"%s\" have no non-overlapping mentions in the %s",
                line, row->subj, row->obj, where);
        goto out;
    }
    ct_interval subj = {bs, bs + sl}, obj = {bo, bo + ol};

    /* 2. The counterfactual context: the object replaced by cf wherever it
     *    does not touch the chosen subject mention. */
    {
        sbuf c = {0};
        if (cf) {
            int at = 0;
            ct_interval ns_ = subj, no_ = obj;
            int cl = (int)strlen(cf);
            for (int j = 0; j < no; j++) {
                int o0 = op[j];
                if (o0 < at) continue;                               /* overlaps the previous replacement */
                if (o0 < subj.e && subj.b < o0 + ol) continue;       /* inside the subject */
                sb_add(&c, ctx + at, (size_t)(o0 - at));
                int nb = (int)c.n;
                sb_add(&c, cf, (size_t)cl);
                if (o0 == obj.b) { no_.b = nb; no_.e = nb + cl; }
                if (subj.b >= o0 + ol) { ns_.b += cl - ol; ns_.e += cl - ol; }
                at = o0 + ol;
            }
            sb_add(&c, ctx + at, strlen(ctx + at));
            subj = ns_; obj = no_;
            p->cf = cf;
        } else {
            sb_add(&c, ctx, strlen(ctx));
        }
        if (c.oom || !c.p) { free(c.p); ct_fail(err, "line %d: out of memory", line); goto out; }
        p->context = c.p;
    }

    /* 3. Format, recording where the passage and the prompt land. */
    {
        sbuf t = {0};
        int have_ctx = 0, have_prompt = 0;
        for (const char *f = fmt; *f; ) {
            if (f[0] == '{' && f[1] == '{') { sb_add(&t, "{", 1); f += 2; continue; }
            if (f[0] == '}' && f[1] == '}') { sb_add(&t, "}", 1); f += 2; continue; }
            if (f[0] == '}') { free(t.p); ct_fail(err, "--prompt_format: single '}' in \"%s\"", fmt); goto out; }
            if (f[0] != '{') { sb_add(&t, f, 1); f++; continue; }
            const char *close = strchr(f, '}');
            if (!close) { free(t.p); ct_fail(err, "--prompt_format: unclosed '{' in \"%s\"", fmt); goto out; }
            size_t kl = (size_t)(close - f - 1);
            const char *key = f + 1;
            const char *val = NULL;
            int is_ctx = 0, is_prompt = 0;
            if (kl == 7 && !strncmp(key, "context", 7)) { val = p->context; is_ctx = 1; }
            else if (kl == 6 && !strncmp(key, "prompt", 6)) {
                val = row->prompt_wo_ctx; is_prompt = 1;
                if (!val) { free(t.p); ct_fail(err, "line %d: missing field \"prompt_wo_ctx\" (used by {prompt})", line); goto out; }
            } else if (kl == 8 && !strncmp(key, "question", 8)) {
                val = row->question; is_prompt = 1;
                if (!val) { free(t.p); ct_fail(err, "line %d: missing field \"question\" (used by {question})", line); goto out; }
            } else {
                free(t.p);
                ct_fail(err, "--prompt_format: unknown placeholder {%.*s} (known: {context}, {prompt}, {question})", (int)kl, key);
                goto out;
            }
            int b = (int)t.n;
            sb_add(&t, val, strlen(val));
            if (is_ctx && !have_ctx) { p->passage = (ct_interval){b, (int)t.n}; have_ctx = 1; }
            if (is_prompt && !have_prompt) { p->prompt = (ct_interval){b, (int)t.n}; have_prompt = 1; }
            f = close + 1;
        }
        if (t.oom) { free(t.p); ct_fail(err, "line %d: out of memory", line); goto out; }
        if (!have_ctx) p->passage = p->prompt;   /* the question stands in for the passage */
        p->text = t.p;
        p->len = (int)t.n;
    }
    p->subject = (ct_interval){p->passage.b + subj.b, p->passage.b + subj.e};
    p->object = (ct_interval){p->passage.b + obj.b, p->passage.b + obj.e};
    p->subject_nocase = snc;
    p->object_nocase = onc;
    relation_of(p);
    rc = 0;
out:
    free(sp); free(op);
    if (rc) ct_prompt_free(p);
    return rc;
}
