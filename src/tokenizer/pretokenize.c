/* pretokenize.c — pre-tokenizers: ByteLevel, Split, Metaspace, Digits,
 * Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence.  They cut the untokenized pieces of
 * the working text into smaller pieces (HF's PreTokenizedString::split) and
 * transform their text (byte alphabet, ▁ for spaces) keeping the per-byte
 * original spans.  Empty pieces are dropped, as HF does. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"

/* The regex ByteLevel uses when use_regex is on (GPT-2's). */
static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct seg { int32_t s, e; int match; } seg;

/* Turns matches m[k] of a piece of n bytes into HF's split list, applies
 * invert and the delimiter behavior, and pushes the kept pieces to out. */
static int split_piece(tk_text *out, const tk_piece *pc, const int32_t *m, int32_t k,
                       int behavior, int invert)
{
    int32_t n = pc->len;
    seg *sg = malloc((size_t)(2 * k + 2) * sizeof *sg);
    if (!sg) return -1;
    int32_t ns = 0, prev = 0;
    for (int32_t q = 0; q < k; q++) {
        if (m[2 * q] != prev) sg[ns++] = (seg){prev, m[2 * q], 0};
        sg[ns++] = (seg){m[2 * q], m[2 * q + 1], 1};
        prev = m[2 * q + 1];
    }
    if (prev != n) sg[ns++] = (seg){prev, n, 0};
    if (invert)
        for (int32_t i = 0; i < ns; i++) sg[i].match = !sg[i].match;
    /* r[] holds the resulting pieces; `remove` is carried in .match. */
    seg *r = malloc((size_t)(ns + 1) * sizeof *r);
    if (!r) { free(sg); return -1; }
    int32_t nr = 0;
    int prevm = 0;
    switch (behavior) {
    case TK_B_ISOLATED:
        for (int32_t i = 0; i < ns; i++) r[nr++] = (seg){sg[i].s, sg[i].e, 0};
        break;
    case TK_B_REMOVED:
        for (int32_t i = 0; i < ns; i++) r[nr++] = sg[i];
        break;
    case TK_B_CONTIGUOUS:
        for (int32_t i = 0; i < ns; i++) {
            if (sg[i].match == prevm && nr) r[nr - 1].e = sg[i].e;
            else r[nr++] = (seg){sg[i].s, sg[i].e, 0};
            prevm = sg[i].match;
        }
        break;
    case TK_B_PREV:
        for (int32_t i = 0; i < ns; i++) {
            if (sg[i].match && !prevm && nr) r[nr - 1].e = sg[i].e;
            else r[nr++] = (seg){sg[i].s, sg[i].e, 0};
            prevm = sg[i].match;
        }
        break;
    case TK_B_NEXT:
        for (int32_t i = ns - 1; i >= 0; i--) {
            if (sg[i].match && !prevm && nr) r[nr - 1].s = sg[i].s;
            else r[nr++] = (seg){sg[i].s, sg[i].e, 0};
            prevm = sg[i].match;
        }
        for (int32_t i = 0; i < nr / 2; i++) { seg t = r[i]; r[i] = r[nr - 1 - i]; r[nr - 1 - i] = t; }
        break;
    }
    int rc = 0;
    for (int32_t i = 0; i < nr && !rc; i++)
        if (!r[i].match && r[i].e > r[i].s) rc = tk_text_push(out, pc->off + r[i].s, r[i].e - r[i].s, -1);
    free(r);
    free(sg);
    return rc;
}

/* Matches of a char predicate: every matching char is one match. */
enum { PRED_NUMERIC, PRED_WHITESPACE, PRED_PUNCT, PRED_CHAR };
static int char_matches(const char *s, int32_t n, int pred, const char *ch, int chlen, int32_t **out)
{
    int32_t *m = malloc((size_t)(n + 1) * 2 * sizeof *m), k = 0;
    if (!m) return -1;
    for (int32_t i = 0; i < n;) {
        int l;
        int32_t cp = tk_utf8_decode((const unsigned char *)s + i, &l);
        int hit = pred == PRED_NUMERIC ? tk_is_numeric(cp)      /* Rust char::is_numeric, as HF's Digits */
                : pred == PRED_WHITESPACE ? tk_is_whitespace(cp)
                : pred == PRED_PUNCT ? tk_is_punct(cp)
                : (l == chlen && !memcmp(s + i, ch, (size_t)l));
        if (hit) { m[2 * k] = i; m[2 * k + 1] = i + l; k++; }
        i += l;
    }
    *out = m;
    return k;
}

static int literal_matches(const char *s, int32_t n, const char *lit, int32_t ll, int32_t **out)
{
    int32_t *m = malloc((size_t)(n + 1) * 2 * sizeof *m), k = 0;
    if (!m) return -1;
    for (int32_t i = 0; ll > 0 && i + ll <= n;) {
        if (!memcmp(s + i, lit, (size_t)ll)) { m[2 * k] = i; m[2 * k + 1] = i + ll; k++; i += ll; }
        else i++;
    }
    *out = m;
    return k;
}

/* Splits every untokenized piece with matches from `find`. */
typedef int (*find_fn)(const tk_pretok *pt, const char *s, int32_t n, int32_t **m);

static int split_all(const tk_pretok *pt, tk_text *t, find_fn find, int behavior, int invert, ct_err *err)
{
    tk_text nt = {0};
    nt.buf = t->buf;
    for (int32_t i = 0; i < t->np; i++) {
        tk_piece *pc = &t->p[i];
        if (pc->id >= 0) {
            if (tk_text_push(&nt, pc->off, pc->len, pc->id)) goto oom;
            continue;
        }
        int32_t *m = NULL;
        int32_t k = find(pt, t->buf.b + pc->off, pc->len, &m);
        if (k == -2) {
            free(m);
            free(nt.p);
            return ct_fail(err, "tokenizer: the pre-tokenizer's regex hit Oniguruma's match limit on a piece of %d bytes "
                           "(a very long or pathological text: split it)", (int)pc->len);
        }
        if (k < 0) { free(m); goto oom; }
        int rc = split_piece(&nt, pc, m, k, behavior, invert);
        free(m);
        if (rc) goto oom;
    }
    free(t->p);
    t->p = nt.p; t->np = nt.np; t->pcap = nt.pcap;
    return 0;
oom:
    free(nt.p);
    return ct_fail(err, "tokenizer: out of memory in pre-tokenizer");
}

static int find_regex(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    return tk_regex_matches(pt->re, s, n, m);
}
static int find_literal(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    return literal_matches(s, n, pt->lit, pt->litlen, m);
}
static int find_digit(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    (void)pt;
    return char_matches(s, n, PRED_NUMERIC, NULL, 0, m);
}
static int find_ws(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    (void)pt;
    return char_matches(s, n, PRED_WHITESPACE, NULL, 0, m);
}
static int find_punct(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    (void)pt;
    return char_matches(s, n, PRED_PUNCT, NULL, 0, m);
}
static int find_rep(const tk_pretok *pt, const char *s, int32_t n, int32_t **m)
{
    return char_matches(s, n, PRED_CHAR, pt->rep, pt->replen, m);
}

/* Rebuilds the buffer, passing each untokenized piece through fn. */
typedef int (*xform_fn)(const tk_pretok *pt, const char *in, const tk_span *al, int32_t n, tk_buf *out);

static int transform_all(const tk_pretok *pt, tk_text *t, xform_fn fn, ct_err *err)
{
    tk_text nt = {0};
    if (tk_buf_reserve(&nt.buf, t->buf.n + t->buf.n / 2 + 16)) goto oom;
    for (int32_t i = 0; i < t->np; i++) {
        tk_piece *pc = &t->p[i];
        int32_t off = nt.buf.n;
        if (pc->id >= 0) {
            if (tk_buf_copy(&nt.buf, t->buf.b + pc->off, t->buf.al + pc->off, pc->len)) goto oom;
        } else if (fn(pt, t->buf.b + pc->off, t->buf.al + pc->off, pc->len, &nt.buf)) goto oom;
        if (nt.buf.n - off > 0 || pc->id >= 0)
            if (tk_text_push(&nt, off, nt.buf.n - off, pc->id)) goto oom;
    }
    tk_text_free(t);
    *t = nt;
    return 0;
oom:
    tk_text_free(&nt);
    return ct_fail(err, "tokenizer: out of memory in pre-tokenizer");
}

static int x_prefix_space(const tk_pretok *pt, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    (void)pt;
    if (n > 0 && in[0] != ' ' && tk_buf_put(out, " ", 1, al[0])) return -1;
    return tk_buf_copy(out, in, al, n);
}

static int x_bytes(const tk_pretok *pt, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    (void)pt;
    if (tk_buf_reserve(out, 2 * n)) return -1;
    for (int32_t i = 0; i < n; i++) {
        char c[2];
        int l = tk_byte_to_char((unsigned char)in[i], c);
        tk_buf_put(out, c, l, al[i]);
    }
    return 0;
}

static int x_metaspace(const tk_pretok *pt, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    if (n == 0) return 0;
    int starts_rep = (in[0] == ' ') || (n >= pt->replen && !memcmp(in, pt->rep, (size_t)pt->replen));
    int prepend = pt->prepend_scheme == TK_PREPEND_ALWAYS ||
                  (pt->prepend_scheme == TK_PREPEND_FIRST && al[0].s == 0);
    if (prepend && !starts_rep && tk_buf_put(out, pt->rep, pt->replen, al[0])) return -1;
    for (int32_t i = 0; i < n; i++) {
        if (in[i] == ' ') { if (tk_buf_put(out, pt->rep, pt->replen, al[i])) return -1; }
        else if (tk_buf_copy(out, in + i, al + i, 1)) return -1;
    }
    return 0;
}

int tk_pretokenize(const tk_pretok *pt, tk_text *t, ct_err *err)
{
    switch (pt->type) {
    case TK_P_SEQ:
        for (int i = 0; i < pt->nsub; i++)
            if (tk_pretokenize(&pt->sub[i], t, err)) return -1;
        return 0;
    case TK_P_BYTELEVEL:
        if (pt->add_prefix_space && transform_all(pt, t, x_prefix_space, err)) return -1;
        if (pt->use_regex && split_all(pt, t, find_regex, TK_B_ISOLATED, 0, err)) return -1;
        return transform_all(pt, t, x_bytes, err);
    case TK_P_SPLIT:
        return split_all(pt, t, pt->re ? find_regex : find_literal, pt->behavior, pt->invert, err);
    case TK_P_METASPACE:
        if (transform_all(pt, t, x_metaspace, err)) return -1;
        return pt->split ? split_all(pt, t, find_rep, TK_B_NEXT, 0, err) : 0;
    case TK_P_DIGITS:
        return split_all(pt, t, find_digit, pt->individual_digits ? TK_B_ISOLATED : TK_B_CONTIGUOUS, 0, err);
    case TK_P_WHITESPACE:
        return split_all(pt, t, find_regex, TK_B_REMOVED, 1, err);
    case TK_P_WSSPLIT:
        return split_all(pt, t, find_ws, TK_B_REMOVED, 0, err);
    case TK_P_PUNCT:
        return split_all(pt, t, find_punct, pt->behavior, 0, err);
    case TK_P_BERT:
        if (split_all(pt, t, find_ws, TK_B_REMOVED, 0, err)) return -1;
        return split_all(pt, t, find_punct, TK_B_ISOLATED, 0, err);
    }
    return ct_fail(err, "tokenizer: unknown pre-tokenizer");
}

OnigRegex tk_gpt2_regex(ct_err *err);
OnigRegex tk_gpt2_regex(ct_err *err)
{
    return tk_regex_new(GPT2_RE, sizeof GPT2_RE - 1, err);
}

void tk_pretok_free(tk_pretok *pt)
{
    if (!pt) return;
    if (pt->re) onig_free(pt->re);
    free(pt->lit);
    for (int i = 0; i < pt->nsub; i++) tk_pretok_free(&pt->sub[i]);
    free(pt->sub);
}
