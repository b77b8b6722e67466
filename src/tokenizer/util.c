/* util.c — the tokenizer's small building blocks: growable aligned text,
 * UTF-8 helpers, Unicode classes as Rust's `char` methods define them (HF is
 * written in Rust), the GPT-2 byte alphabet and the Oniguruma wrapper. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "tokenizer/tok.h"

int tk_buf_reserve(tk_buf *b, int32_t extra)
{
    if ((int64_t)b->n + extra <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : 64;
    while (cap < (int64_t)b->n + extra) cap *= 2;
    if (cap > INT32_MAX) return -1;
    char *nb = realloc(b->b, (size_t)cap);
    if (!nb) return -1;
    b->b = nb;
    tk_span *na = realloc(b->al, (size_t)cap * sizeof *na);
    if (!na) return -1;
    b->al = na;
    b->cap = (int32_t)cap;
    return 0;
}

int tk_buf_put(tk_buf *b, const char *s, int32_t n, tk_span al)
{
    if (n <= 0) return 0;
    if (tk_buf_reserve(b, n)) return -1;
    memcpy(b->b + b->n, s, (size_t)n);
    for (int32_t i = 0; i < n; i++) b->al[b->n + i] = al;
    b->n += n;
    return 0;
}

int tk_buf_copy(tk_buf *b, const char *s, const tk_span *al, int32_t n)
{
    if (n <= 0) return 0;
    if (tk_buf_reserve(b, n)) return -1;
    memcpy(b->b + b->n, s, (size_t)n);
    memcpy(b->al + b->n, al, (size_t)n * sizeof *al);
    b->n += n;
    return 0;
}

void tk_buf_free(tk_buf *b)
{
    free(b->b);
    free(b->al);
    memset(b, 0, sizeof *b);
}

int tk_text_push(tk_text *t, int32_t off, int32_t len, int32_t id)
{
    if (t->np == t->pcap) {
        int32_t cap = t->pcap ? t->pcap * 2 : 16;
        tk_piece *np = realloc(t->p, (size_t)cap * sizeof *np);
        if (!np) return -1;
        t->p = np;
        t->pcap = cap;
    }
    t->p[t->np++] = (tk_piece){off, len, id};
    return 0;
}

void tk_text_free(tk_text *t)
{
    tk_buf_free(&t->buf);
    free(t->p);
    memset(t, 0, sizeof *t);
}

int tk_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

int32_t tk_utf8_decode(const unsigned char *s, int *len)
{
    unsigned c = s[0];
    if (c < 0x80) { *len = 1; return (int32_t)c; }
    if (c < 0xE0) { *len = 2; return (int32_t)(((c & 0x1F) << 6) | (s[1] & 0x3F)); }
    if (c < 0xF0) { *len = 3; return (int32_t)(((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F)); }
    *len = 4;
    return (int32_t)(((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F));
}

int tk_utf8_encode(int32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The Unicode White_Space property, which is what Rust's is_whitespace tests. */
int tk_is_whitespace(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

int tk_is_numeric(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int tk_is_punct(int32_t c)
{
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

int tk_is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* Word characters as HF's single_word check sees them (alphanumeric or '_'). */
int tk_is_alnum(int32_t c)
{
    if (c == '_') return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || tk_is_numeric(c);
}

/* ---- GPT-2 byte alphabet: printable bytes stand for themselves, the other 68
 * bytes map to U+0100.. in byte order, so every byte is a visible char. */
static int byte_printable(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static int32_t byte_cp(unsigned char b)
{
    if (byte_printable(b)) return b;
    int n = 0;
    for (int i = 0; i < b; i++) n += !byte_printable(i);
    return 256 + n;
}

int tk_byte_to_char(unsigned char b, char out[2])
{
    return tk_utf8_encode(byte_cp(b), out);
}

int tk_char_to_byte(int32_t cp)
{
    if (cp < 256) return byte_printable(cp) ? cp : -1;
    if (cp >= 256 + 68) return -1;
    int n = cp - 256;
    for (int b = 0; b < 256; b++)
        if (!byte_printable(b) && n-- == 0) return b;
    return -1;
}

/* ---- hash maps (open addressing, linear probing) ------------------------- */

static uint64_t hash_bytes(const char *k, int32_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (int32_t i = 0; i < len; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint32_t table_size(int32_t expected)
{
    uint32_t n = 16;
    while (n < (uint32_t)expected * 2u + 16u) n *= 2;
    return n;
}

int tk_strmap_init(tk_strmap *m, int32_t expected)
{
    uint32_t n = table_size(expected);
    m->slot = calloc(n, sizeof *m->slot);
    m->mask = n - 1;
    m->n = 0;
    return m->slot ? 0 : -1;
}

static int strmap_grow(tk_strmap *m)
{
    tk_strmap g;
    if (tk_strmap_init(&g, (int32_t)(m->mask + 1))) return -1;
    for (uint32_t i = 0; i <= m->mask; i++)
        if (m->slot[i].k) tk_strmap_put(&g, m->slot[i].k, m->slot[i].len, m->slot[i].val);
    free(m->slot);
    *m = g;
    return 0;
}

int tk_strmap_put(tk_strmap *m, const char *k, int32_t len, int32_t val)
{
    if ((uint32_t)(m->n + 1) * 2 > m->mask + 1 && strmap_grow(m)) return -1;
    uint32_t h = (uint32_t)hash_bytes(k, len), i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        struct tk_sm_slot *s = &m->slot[i];
        if (!s->k) { s->k = k; s->len = len; s->val = val; s->h = h; m->n++; return 1; }
        if (s->h == h && s->len == len && !memcmp(s->k, k, (size_t)len)) { s->val = val; return 0; }
    }
}

int32_t tk_strmap_get(const tk_strmap *m, const char *k, int32_t len)
{
    if (!m->slot) return -1;
    uint32_t h = (uint32_t)hash_bytes(k, len), i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        const struct tk_sm_slot *s = &m->slot[i];
        if (!s->k) return -1;
        if (s->h == h && s->len == len && !memcmp(s->k, k, (size_t)len)) return s->val;
    }
}

void tk_strmap_free(tk_strmap *m)
{
    free(m->slot);
    memset(m, 0, sizeof *m);
}

static uint32_t hash_pair(uint64_t k)
{
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ull; k ^= k >> 33;
    return (uint32_t)k;
}

int tk_pairmap_init(tk_pairmap *m, int32_t expected)
{
    uint32_t n = table_size(expected);
    m->slot = malloc(n * sizeof *m->slot);
    if (!m->slot) return -1;
    for (uint32_t i = 0; i < n; i++) m->slot[i].rank = -1;
    m->mask = n - 1;
    m->n = 0;
    return 0;
}

/* A repeated pair overwrites: HF builds its merge map with collect(), so the
 * last (highest-rank) occurrence of a duplicated merge is the one that counts. */
void tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t i = hash_pair(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        struct tk_pm_slot *s = &m->slot[i];
        if (s->rank < 0) { s->key = key; s->rank = rank; s->id = id; m->n++; return; }
        if (s->key == key) { s->rank = rank; s->id = id; return; }
    }
}

const struct tk_pm_slot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t i = hash_pair(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        const struct tk_pm_slot *s = &m->slot[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

void tk_pairmap_free(tk_pairmap *m)
{
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ---- Oniguruma ------------------------------------------------------------ */

/* Compiled as the onig crate HF uses does: Syntax::default() (Oniguruma syntax), no options. */
OnigRegex tk_regex_new(const char *pat, size_t len, ct_err *err)
{
    OnigRegex re = NULL;
    OnigErrorInfo einfo;
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    onig_initialize(&enc, 1);
    int r = onig_new(&re, (const OnigUChar *)pat, (const OnigUChar *)pat + len, ONIG_OPTION_NONE,
                     ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r, &einfo);
        ct_fail(err, "bad regex /%.*s/: %s", (int)(len > 200 ? 200 : len), pat, (const char *)msg);
        return NULL;
    }
    return re;
}

int tk_regex_matches(OnigRegex re, const char *s, int32_t n, int32_t **out)
{
    OnigRegion *rg = onig_region_new();
    if (!rg) return -1;
    int32_t cap = 16, k = 0;
    int32_t *m = malloc((size_t)cap * 2 * sizeof *m);
    if (!m) { onig_region_free(rg, 1); return -1; }
    const OnigUChar *str = (const OnigUChar *)s, *end = str + n;
    int32_t pos = 0;
    while (pos <= n) {
        int r = onig_search(re, str, end, str + pos, end, rg, ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH) break;
        /* a search error (Oniguruma's match or retry limit on a long or
         * pathological text) is not out of memory: say which */
        if (r < 0) { free(m); onig_region_free(rg, 1); return -2; }
        int32_t ms = rg->beg[0], me = rg->end[0];
        if (me == ms) {                 /* empty match: step one char, keep nothing */
            if (ms >= n) break;
            int l = tk_utf8_len((const unsigned char *)s + ms, (size_t)(n - ms));
            pos = ms + (l ? l : 1);
            continue;
        }
        if (k == cap) {
            cap *= 2;
            int32_t *nm = realloc(m, (size_t)cap * 2 * sizeof *nm);
            if (!nm) { free(m); onig_region_free(rg, 1); return -1; }
            m = nm;
        }
        m[2 * k] = ms; m[2 * k + 1] = me; k++;
        pos = me;
    }
    onig_region_free(rg, 1);
    *out = m;
    return k;
}
