/* postprocess.c — post-processors: ByteLevel (offset trimming) and
 * TemplateProcessing (BOS/EOS around the sequence), and Sequence of them.
 *
 * ByteLevel with trim_offsets moves a token's start past its leading spaces
 * ('Ġ' or whitespace chars) and its end before the trailing ones.  Like HF it
 * adds the char count to byte offsets (a 'Ġ' stands for one space byte), and
 * keeps the single leading space of the first token when add_prefix_space is on. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"

static int is_space_char(int32_t cp) { return cp == 0x120 || tk_is_whitespace(cp); }

static void trim_offsets(const tk_post *pp, tk_etok *t, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
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
            t[i].s = t[i].s + lead < t[i].e ? t[i].s + lead : t[i].e;
        }
        if (trail > 0 && t[i].e >= trail) t[i].e = t[i].e - trail > t[i].s ? t[i].e - trail : t[i].s;
    }
}

int tk_postprocess(const tk_post *pp, tk_etok **toks, int32_t *n, int32_t *cap, int add_special)
{
    switch (pp->type) {
    case TK_PP_SEQ:
        for (int i = 0; i < pp->nsub; i++)
            if (tk_postprocess(&pp->sub[i], toks, n, cap, add_special)) return -1;
        return 0;
    case TK_PP_BYTELEVEL:
        if (pp->trim_offsets) trim_offsets(pp, *toks, *n);
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
