/* decode.c — decoders, each turning a list of strings into another as HF's
 * Decoder::decode_chain does: ByteLevel, Metaspace, Replace, ByteFallback,
 * Fuse, Strip, Sequence.  The caller joins what is left. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"

int tk_strs_push(tk_strs *v, const char *s, int32_t len)
{
    if (v->n == v->cap) {
        int32_t cap = v->cap ? v->cap * 2 : 16;
        char **ns = realloc(v->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        v->s = ns;
        int32_t *nl = realloc(v->len, (size_t)cap * sizeof *nl);
        if (!nl) return -1;
        v->len = nl;
        v->cap = cap;
    }
    char *c = malloc((size_t)len + 1);
    if (!c) return -1;
    memcpy(c, s, (size_t)len);
    c[len] = 0;
    v->s[v->n] = c;
    v->len[v->n++] = len;
    return 0;
}

void tk_strs_free(tk_strs *v)
{
    for (int32_t i = 0; i < v->n; i++) free(v->s[i]);
    free(v->s);
    free(v->len);
    memset(v, 0, sizeof *v);
}

static const char FFFD[] = "\xEF\xBF\xBD";

/* Appends bytes b[0..n) as UTF-8, replacing each maximal invalid subpart by
 * U+FFFD (Rust's String::from_utf8_lossy). */
static int lossy(tk_buf *o, const unsigned char *b, int32_t n)
{
    tk_span z = {0, 0};
    for (int32_t i = 0; i < n;) {
        int l = tk_utf8_len(b + i, (size_t)(n - i));
        if (l) { if (tk_buf_put(o, (const char *)b + i, l, z)) return -1; i += l; continue; }
        unsigned c = b[i];
        int need = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        int32_t j = i + 1;
        if (need) {
            unsigned lo = 0x80, hi = 0xBF;
            if (c == 0xE0) lo = 0xA0; else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90; else if (c == 0xF4) hi = 0x8F;
            if (j < n && b[j] >= lo && b[j] <= hi) {
                j++;
                while (j < n && j - i < need && (b[j] & 0xC0) == 0x80) j++;
            }
        }
        if (tk_buf_put(o, FFFD, 3, z)) return -1;
        i = j;
    }
    return 0;
}

static int replace_all(tk_buf *o, const char *s, int32_t n, const char *pat, int32_t pl, const char *rep, int32_t rl)
{
    tk_span z = {0, 0};
    for (int32_t i = 0; i < n;) {
        if (pl > 0 && i + pl <= n && !memcmp(s + i, pat, (size_t)pl)) {
            if (tk_buf_put(o, rep, rl, z)) return -1;
            i += pl;
        } else {
            if (tk_buf_put(o, s + i, 1, z)) return -1;
            i++;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int flush_bytes(tk_strs *out, tk_buf *bytes)
{
    if (!bytes->n) return 0;
    int valid = 1;
    for (int32_t i = 0; i < bytes->n;) {
        int l = tk_utf8_len((const unsigned char *)bytes->b + i, (size_t)(bytes->n - i));
        if (!l) { valid = 0; break; }
        i += l;
    }
    int rc = 0;
    if (valid) rc = tk_strs_push(out, bytes->b, bytes->n);
    else for (int32_t i = 0; i < bytes->n && !rc; i++) rc = tk_strs_push(out, FFFD, 3);
    bytes->n = 0;
    return rc;
}

int tk_decode_chain(const tk_dec *d, tk_strs *v)
{
    tk_strs out = {0};
    tk_buf o = {0};
    int rc = 0;
    switch (d->type) {
    case TK_D_SEQ:
        for (int i = 0; i < d->nsub; i++) if (tk_decode_chain(&d->sub[i], v)) return -1;
        return 0;
    case TK_D_BYTELEVEL: {
        tk_buf raw = {0};
        tk_span z = {0, 0};
        for (int32_t t = 0; t < v->n && !rc; t++) {
            const unsigned char *s = (const unsigned char *)v->s[t];
            int all = 1;
            for (int32_t i = 0; i < v->len[t];) {
                int l;
                if (tk_char_to_byte(tk_utf8_decode(s + i, &l)) < 0) { all = 0; break; }
                i += l;
            }
            if (!all) { rc = tk_buf_put(&raw, (const char *)s, v->len[t], z); continue; }
            for (int32_t i = 0; i < v->len[t] && !rc;) {
                int l;
                char b = (char)tk_char_to_byte(tk_utf8_decode(s + i, &l));
                rc = tk_buf_put(&raw, &b, 1, z);
                i += l;
            }
        }
        if (!rc) rc = lossy(&o, (const unsigned char *)raw.b, raw.n);
        tk_buf_free(&raw);
        if (!rc) rc = tk_strs_push(&out, o.b ? o.b : "", o.n);
        break;
    }
    case TK_D_METASPACE:
        for (int32_t t = 0; t < v->n && !rc; t++) {
            o.n = 0;
            const char *s = v->s[t];
            tk_span z = {0, 0};
            for (int32_t i = 0; i < v->len[t] && !rc;) {
                if (d->plen > 0 && i + d->plen <= v->len[t] && !memcmp(s + i, d->pat, (size_t)d->plen)) {
                    if (!(t == 0 && d->prepend_scheme != TK_PREPEND_NEVER)) rc = tk_buf_put(&o, " ", 1, z);
                    i += d->plen;
                } else { rc = tk_buf_put(&o, s + i, 1, z); i++; }
            }
            if (!rc) rc = tk_strs_push(&out, o.b ? o.b : "", o.n);
        }
        break;
    case TK_D_REPLACE:
        for (int32_t t = 0; t < v->n && !rc; t++) {
            o.n = 0;
            rc = replace_all(&o, v->s[t], v->len[t], d->pat, d->plen, d->rep, d->rlen);
            if (!rc) rc = tk_strs_push(&out, o.b ? o.b : "", o.n);
        }
        break;
    case TK_D_BYTEFALLBACK: {
        tk_span z = {0, 0};
        for (int32_t t = 0; t < v->n && !rc; t++) {
            const char *s = v->s[t];
            if (v->len[t] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                char b = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                rc = tk_buf_put(&o, &b, 1, z);
            } else {
                rc = flush_bytes(&out, &o);
                if (!rc) rc = tk_strs_push(&out, s, v->len[t]);
            }
        }
        if (!rc) rc = flush_bytes(&out, &o);
        break;
    }
    case TK_D_FUSE: {
        tk_span z = {0, 0};
        for (int32_t t = 0; t < v->n && !rc; t++) rc = tk_buf_put(&o, v->s[t], v->len[t], z);
        if (!rc) rc = tk_strs_push(&out, o.b ? o.b : "", o.n);
        break;
    }
    case TK_D_STRIP:
        for (int32_t t = 0; t < v->n && !rc; t++) {
            const char *s = v->s[t];
            int32_t b = 0, e = v->len[t];
            for (int k = 0; k < d->start && d->plen > 0 && e - b >= d->plen && !memcmp(s + b, d->pat, (size_t)d->plen); k++)
                b += d->plen;
            for (int k = 0; k < d->stop && d->plen > 0 && e - b >= d->plen && !memcmp(s + e - d->plen, d->pat, (size_t)d->plen); k++)
                e -= d->plen;
            rc = tk_strs_push(&out, s + b, e - b);
        }
        break;
    default:
        rc = -1;
    }
    tk_buf_free(&o);
    if (rc) { tk_strs_free(&out); return -1; }
    tk_strs_free(v);
    *v = out;
    return 0;
}

void tk_dec_free(tk_dec *d)
{
    if (!d) return;
    free(d->pat);
    free(d->rep);
    for (int i = 0; i < d->nsub; i++) tk_dec_free(&d->sub[i]);
    free(d->sub);
}
