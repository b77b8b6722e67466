/* postprocess.c — post-processors: ByteLevel (offset trimming) and
 * TemplateProcessing (BOS/EOS around the sequence), and Sequence of them.
 *
 * ByteLevel with trim_offsets moves a token's start past its leading spaces
 * ('Ġ' or whitespace chars) and its end before the trailing ones, and keeps
 * the single leading space of the first token when add_prefix_space is on.
 * HF's Python/Node API converts offsets to chars *before* post-processing, so
 * the counts move the offsets by chars of the original text; ctrace moves its
 * byte offsets by the same number of chars, which gives the same spans. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"

static int is_space_char(int32_t cp) { return cp == 0x120 || tk_is_whitespace(cp); }

/* k chars forward from byte s, not past byte lim */
static int32_t fwd_chars(const char *text, int32_t s, int32_t k, int32_t lim)
{
    while (k-- > 0 && s < lim) {
        s++;
        while (s < lim && ((unsigned char)text[s] & 0xC0) == 0x80) s++;
    }
    return s;
}

/* Are there at least k chars before byte e? (HF: "offsets.1 >= trailing", in chars) */
static int chars_before(const char *text, int32_t e, int32_t k)
{
    while (k-- > 0) {
        if (e == 0) return 0;
        e--;
        while (e > 0 && ((unsigned char)text[e] & 0xC0) == 0x80) e--;
    }
    return 1;
}

static void trim_offsets(const tk_post *pp, tk_etok *t, int32_t n, const char *text)
{
    for (int32_t i = 0; i < n; i++) {
        if (!t[i].str) continue;            /* added by a template: [0, 0] stays */
        const unsigned char *s = (const unsigned char *)t[i].str;
        int32_t len = t[i].slen, lead = 0, trail = 0, p = 0;
        int l;
        while (p < len && is_space_char(tk_utf8_decode(s + p, &l))) { lead++; p += l; }
        for (int32_t e = len; e > 0;) {
            int32_t q = e - 1;
            while (q > 0 && (s[q] & 0xC0) == 0x80) q--;
            if (!is_space_char(tk_utf8_decode(s + q, &l))) break;
            trail++;
            e = q;
        }
        if (lead > 0) {
            int is_first = i == 0 || t[i].s == 0;
            if (is_first && pp->add_prefix_space && lead == 1) lead = 0;
            t[i].s = fwd_chars(text, t[i].s, lead, t[i].e);
        }
        /* "end >= trailing" in chars: at least `trail` chars before the end */
        if (trail > 0 && chars_before(text, t[i].e, trail)) {
            int32_t e = t[i].e, k = trail;
            while (k-- > 0 && e > 0) {
                e--;
                while (e > 0 && ((unsigned char)text[e] & 0xC0) == 0x80) e--;
            }
            t[i].e = e > t[i].s ? e : t[i].s;
        }
    }
}

int tk_postprocess(const tk_post *pp, tk_etok **toks, int32_t *n, int32_t *cap, int add_special,
                   const char *text)
{
    switch (pp->type) {
    case TK_PP_SEQ:
        for (int i = 0; i < pp->nsub; i++)
            if (tk_postprocess(&pp->sub[i], toks, n, cap, add_special, text)) return -1;
        return 0;
    case TK_PP_BYTELEVEL:
        if (pp->trim_offsets) trim_offsets(pp, *toks, *n, text);
        return 0;
    case TK_PP_TEMPLATE: {
        if (!add_special) return 0;
        int32_t extra = 0;
        for (int i = 0; i < pp->nitems; i++) if (pp->items[i].is_special) extra += pp->items[i].nids;
        int32_t total = *n + extra, k = 0;
        tk_etok *o = malloc((size_t)(total + 1) * sizeof *o);
        if (!o) return -1;
        for (int i = 0; i < pp->nitems; i++) {
            if (pp->items[i].is_special) {
                for (int32_t j = 0; j < pp->items[i].nids; j++)
                    o[k++] = (tk_etok){pp->items[i].ids[j], 0, 0, NULL, 0};
            } else {
                if (*n) memcpy(o + k, *toks, (size_t)*n * sizeof *o);
                k += *n;
            }
        }
        free(*toks);
        *toks = o;
        *n = k;
        *cap = total + 1;
        return 0;
    }
    }
    return -1;
}

void tk_post_free(tk_post *pp)
{
    if (!pp) return;
    for (int i = 0; i < pp->nitems; i++) free(pp->items[i].ids);
    free(pp->items);
    for (int i = 0; i < pp->nsub; i++) tk_post_free(&pp->sub[i]);
    free(pp->sub);
}
