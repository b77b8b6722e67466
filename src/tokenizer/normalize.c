/* normalize.c — normalizers (NFC/NFD/NFKC/NFKD, Prepend, Replace, Lowercase,
 * Strip, Sequence) that keep, for every output byte, the original span it
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

/* Unicode normalization, one segment (a starter and the combining marks after
 * it) at a time.  A segment that does not change is copied with its spans; one
 * that changes maps output char k to input char min(k, m-1) of its m chars,
 * which is what HF's per-char change list amounts to (a composed char keeps its
 * first source char's span, extra decomposed chars the last one's). */
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
        if (rl < 0) return -1;
        if (rl == j - i && !memcmp(res, in + i, (size_t)rl)) {
            if (tk_buf_copy(out, in + i, al + i, j - i)) { free(res); return -1; }
        } else {
            int32_t starts[64], m = 0;       /* byte offsets of the segment's input chars */
            for (int32_t p = i; p < j && m < 64; p += l) {
                tk_utf8_decode((const unsigned char *)in + p, &l);
                starts[m++] = p;
            }
            int32_t k = 0;
            for (utf8proc_ssize_t p = 0; p < rl; k++) {
                tk_utf8_decode(res + p, &l);
                int32_t src = starts[k < m ? k : m - 1];
                if (tk_buf_put(out, (const char *)res + p, l, al[src])) { free(res); return -1; }
                p += l;
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
        int ul = tk_utf8_encode(utf8proc_tolower(cp), u);
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
