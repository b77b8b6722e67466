/* normalize.c — normalizers (NFC/NFD/NFKC/NFKD, Prepend, Replace, Lowercase,
 * Strip, StripAccents, Sequence) that keep, for every output byte, the original span it
 * came from, following HF's NormalizedString rules:
 *   - a char that replaces another takes that char's span;
 *   - an inserted char takes the span of the char before it (or of the first
 *     char when inserted at the start, as Prepend does);
 *   - Replace gives every char of the replacement the span of the matched
 *     text's last char. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "tokenizer/tok.h"

/* Hangul vowel/trailing jamo compose with what precedes them although their
 * combining class is 0, so they do not start a new normalization segment. */
static int continues_segment(int32_t cp)
{
    if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return 1;
    return utf8proc_get_property(cp)->combining_class != 0;
}

/* Does a + b compose (canonically) into one code point?  Returns it or -1. */
static int32_t compose_pair(int32_t a, int32_t b)
{
    char in[8];
    int la = tk_utf8_encode(a, in), lb = tk_utf8_encode(b, in + la);
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)in, la + lb, &res,
                                       (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    int32_t out = -1;
    int l;
    if (rl > 0 && (out = tk_utf8_decode(res, &l), l != rl)) out = -1;
    free(res);
    return out;
}

/* One output char of a changed segment: code point and HF's "change" (+1: an
 * inserted char, 0: replaces one char, -k: replaces one and removes k more). */
typedef struct nchar { int32_t cp; int change; } nchar;

#define SEG_MAX 256

/* Normalizes one segment the way the unicode-normalization-alignments crate
 * that HF uses reports it: decompose each char (its first piece replaces it,
 * the others are inserted), put combining marks in canonical order, and for
 * NFC/NFKC compose (a composed char takes over its parts' changes, minus one
 * for the char that disappears).  Returns the count, or -1 if too long. */
static int norm_segment(int type, const int32_t *cps, int m, nchar *out)
{
    int compat = type == TK_N_NFKC || type == TK_N_NFKD, compose = type == TK_N_NFC || type == TK_N_NFKC;
    int n = 0;
    for (int i = 0; i < m; i++) {
        utf8proc_int32_t d[32];
        int bc = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(cps[i], d, 32,
            (utf8proc_option_t)(UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0)), &bc);
        if (k < 1 || k > 32 || n + k > SEG_MAX) return -1;
        for (int j = 0; j < k; j++) out[n++] = (nchar){d[j], j == 0 ? 0 : 1};
    }
    /* canonical ordering: stable sort of each run of non-starters by class */
    for (int i = 1; i < n; i++) {
        int c = utf8proc_get_property(out[i].cp)->combining_class;
        if (!c) continue;
        nchar v = out[i];
        int j = i;
        while (j > 0) {
            int pc = utf8proc_get_property(out[j - 1].cp)->combining_class;
            if (!pc || pc <= c) break;
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    if (!compose || n < 2) return n;
    int sp = 0, w = 1;                       /* starter position, write position */
    int last = utf8proc_get_property(out[0].cp)->combining_class ? 256 : 0;
    if (last) sp = -1;
    for (int i = 1; i < n; i++) {
        int cc = utf8proc_get_property(out[i].cp)->combining_class;
        int32_t comp = sp >= 0 ? compose_pair(out[sp].cp, out[i].cp) : -1;
        if (comp >= 0 && (last < cc || last == 0)) {
            out[sp].cp = comp;
            out[sp].change += out[i].change - 1;
        } else {
            if (cc == 0) sp = w;
            last = cc;
            out[w++] = out[i];
        }
    }
    return w;
}

/* Unicode normalization, one segment (a starter and the combining marks after
 * it) at a time.  A segment that does not change is copied with its spans.  A
 * changed one gets spans the way HF's NormalizedString::transform gives them
 * from the change list: walking the original chars in order, a char with
 * change <= 0 takes the span of the next original char (and skips -change
 * more), an inserted char takes the span of the byte before. */
static int unicode_norm(int type, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    int opt = UTF8PROC_STABLE;
    if (type == TK_N_NFC || type == TK_N_NFKC) opt |= UTF8PROC_COMPOSE;
    else opt |= UTF8PROC_DECOMPOSE;
    if (type == TK_N_NFKC || type == TK_N_NFKD) opt |= UTF8PROC_COMPAT;
    int32_t i = 0;
    while (i < n) {
        int32_t j = i;
        int l;
        tk_utf8_decode((const unsigned char *)in + j, &l);
        j += l;
        while (j < n) {
            int32_t cp = tk_utf8_decode((const unsigned char *)in + j, &l);
            if (!continues_segment(cp)) break;
            j += l;
        }
        /* ASCII fast path: a lone ASCII char never changes. */
        if (j - i == 1 && (unsigned char)in[i] < 0x80) {
            if (tk_buf_copy(out, in + i, al + i, 1)) return -1;
            i = j;
            continue;
        }
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)in + i, j - i, &res, (utf8proc_option_t)opt);
        if (rl < 0 && rl != UTF8PROC_ERROR_NOMEM) {     /* utf8proc refuses it: keep the text as it is */
            if (tk_buf_copy(out, in + i, al + i, j - i)) return -1;
            i = j;
            continue;
        }
        if (rl < 0) return -1;
        int same = rl == j - i && !memcmp(res, in + i, (size_t)rl);
        int32_t cps[SEG_MAX], starts[SEG_MAX + 1];
        nchar nc[SEG_MAX];
        int m = 0, k = -1;
        if (!same) {
            for (int32_t p = i; p < j && m < SEG_MAX; p += l) {
                starts[m] = p;
                cps[m++] = tk_utf8_decode((const unsigned char *)in + p, &l);
            }
            starts[m] = j;
            if (m < SEG_MAX) k = norm_segment(type, cps, m, nc);
        }
        if (same) {
            if (tk_buf_copy(out, in + i, al + i, j - i)) { free(res); return -1; }
        } else if (k < 0) {
            /* a segment too long to track: whole output gets the segment's first span */
            if (tk_buf_put(out, (const char *)res, (int32_t)rl, al[i])) { free(res); return -1; }
        } else {
            int idx = 0;                        /* next original char of the segment */
            for (int q = 0; q < k; q++) {
                char u[4];
                int ul = tk_utf8_encode(nc[q].cp, u);
                tk_span sp;
                if (nc[q].change > 0) {
                    int32_t b = idx < m ? starts[idx] : j;
                    sp = b > 0 ? al[b - 1] : (tk_span){al[0].s, al[0].s};
                } else {
                    sp = al[idx < m ? starts[idx] : j - 1];
                    idx += 1 - nc[q].change;
                }
                if (tk_buf_put(out, u, ul, sp)) { free(res); return -1; }
            }
        }
        free(res);
        i = j;
    }
    return 0;
}

static int lowercase(const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    for (int32_t i = 0; i < n;) {
        int l;
        int32_t cp = tk_utf8_decode((const unsigned char *)in + i, &l);
        char u[4];
        /* Rust's to_lowercase is the full mapping: its one multi-char case is
         * U+0130 (İ) -> "i\u0307" */
        int ul = cp == 0x130 ? (u[0] = 'i', u[1] = (char)0xCC, u[2] = (char)0x87, 3) : tk_utf8_encode(utf8proc_tolower(cp), u);
        if (tk_buf_put(out, u, ul, al[i])) return -1;
        i += l;
    }
    return 0;
}

static int replace(const tk_norm *nm, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    int32_t *m = NULL, k;
    if (nm->re) {
        k = tk_regex_matches(nm->re, in, n, &m);
        if (k < 0) return -1;
    } else {
        k = 0;
        int32_t cap = 0;
        for (int32_t i = 0; nm->slen > 0 && i + nm->slen <= n;) {
            if (!memcmp(in + i, nm->str, (size_t)nm->slen)) {
                if (k == cap) {
                    cap = cap ? cap * 2 : 16;
                    int32_t *nmm = realloc(m, (size_t)cap * 2 * sizeof *nmm);
                    if (!nmm) { free(m); return -1; }
                    m = nmm;
                }
                m[2 * k] = i; m[2 * k + 1] = i + nm->slen; k++;
                i += nm->slen;
            } else i++;
        }
    }
    int32_t prev = 0;
    for (int32_t q = 0; q < k; q++) {
        int32_t s = m[2 * q], e = m[2 * q + 1];
        if (tk_buf_copy(out, in + prev, al + prev, s - prev)) { free(m); return -1; }
        if (nm->rlen && tk_buf_put(out, nm->rep, nm->rlen, al[e - 1])) { free(m); return -1; }
        prev = e;
    }
    free(m);
    return tk_buf_copy(out, in + prev, al + prev, n - prev);
}

static int strip(const tk_norm *nm, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    int32_t s = 0, e = n;
    int l;
    while (nm->left && s < e && tk_is_whitespace(tk_utf8_decode((const unsigned char *)in + s, &l))) s += l;
    while (nm->right && e > s) {
        int32_t p = e - 1;
        while (p > s && ((unsigned char)in[p] & 0xC0) == 0x80) p--;
        if (!tk_is_whitespace(tk_utf8_decode((const unsigned char *)in + p, &l))) break;
        e = p;
    }
    return tk_buf_copy(out, in + s, al + s, e - s);
}

static int strip_accents(const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    for (int32_t i = 0; i < n;) {
        int l;
        int32_t cp = tk_utf8_decode((const unsigned char *)in + i, &l);
        if (!tk_is_mark(cp) && tk_buf_copy(out, in + i, al + i, l)) return -1;
        i += l;
    }
    return 0;
}

int tk_normalize(const tk_norm *nm, const char *in, const tk_span *al, int32_t n, tk_buf *out)
{
    switch (nm->type) {
    case TK_N_NFC: case TK_N_NFD: case TK_N_NFKC: case TK_N_NFKD:
        return unicode_norm(nm->type, in, al, n, out);
    case TK_N_LOWERCASE:
        return lowercase(in, al, n, out);
    case TK_N_REPLACE:
        return replace(nm, in, al, n, out);
    case TK_N_STRIP:
        return strip(nm, in, al, n, out);
    case TK_N_STRIP_ACCENTS:
        return strip_accents(in, al, n, out);
    case TK_N_PREPEND:
        if (n > 0 && tk_buf_put(out, nm->str, nm->slen, al[0])) return -1;
        return tk_buf_copy(out, in, al, n);
    case TK_N_SEQ: {
        tk_buf a = {0}, b = {0};
        if (tk_buf_copy(&a, in, al, n)) return -1;
        for (int i = 0; i < nm->nsub; i++) {
            b.n = 0;
            if (tk_normalize(&nm->sub[i], a.b, a.al, a.n, &b)) { tk_buf_free(&a); tk_buf_free(&b); return -1; }
            tk_buf t = a; a = b; b = t;
        }
        int r = tk_buf_copy(out, a.b, a.al, a.n);
        tk_buf_free(&a);
        tk_buf_free(&b);
        return r;
    }
    }
    return -1;
}

void tk_norm_free(tk_norm *nm)
{
    if (!nm) return;
    free(nm->str);
    free(nm->rep);
    if (nm->re) onig_free(nm->re);
    for (int i = 0; i < nm->nsub; i++) tk_norm_free(&nm->sub[i]);
    free(nm->sub);
}
