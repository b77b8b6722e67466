/* added.c — added tokens ("<|endoftext|>", "<s>", NeoX's runs of spaces...)
 * are cut out of the text before the model sees it, as HF's AddedVocabulary
 * does: leftmost-longest matching (HF uses Aho-Corasick with that match kind),
 * single_word refusing matches inside a word, lstrip/rstrip swallowing the
 * whitespace beside the match.  Tokens with normalized=false are matched on
 * the raw text, those with normalized=true on the normalized text. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"


int tk_addset_build(tk_addset *set, const tk_added *added, int32_t n, int normalized)
{
    memset(set->start, 0, sizeof set->start);
    set->idx = malloc((size_t)(n + 1) * sizeof *set->idx);
    if (!set->idx) return -1;
    int32_t cnt[257] = {0};
    for (int32_t i = 0; i < n; i++)
        if (added[i].normalized == normalized && added[i].mlen > 0) cnt[(unsigned char)added[i].match[0]]++;
    set->start[0] = 0;
    for (int b = 0; b < 256; b++) set->start[b + 1] = set->start[b] + cnt[b];
    int32_t fill[256];
    for (int b = 0; b < 256; b++) fill[b] = set->start[b];
    for (int32_t i = 0; i < n; i++)
        if (added[i].normalized == normalized && added[i].mlen > 0)
            set->idx[fill[(unsigned char)added[i].match[0]]++] = i;
    /* longest first inside each bucket (insertion sort: buckets are small) */
    for (int b = 0; b < 256; b++)
        for (int32_t i = set->start[b] + 1; i < set->start[b + 1]; i++) {
            int32_t v = set->idx[i], j = i;
            while (j > set->start[b] && added[set->idx[j - 1]].mlen < added[v].mlen) {
                set->idx[j] = set->idx[j - 1];
                j--;
            }
            set->idx[j] = v;
        }
    return 0;
}

static int32_t prev_char_start(const char *s, int32_t i)
{
    do i--; while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

/* Splits one piece; pushes the resulting pieces to out. */
static int split_one(const tk_added *added, const tk_addset *set, const char *s, int32_t off,
                     int32_t n, tk_text *out)
{
    int32_t done = 0;           /* end of the previous split (HF's start_offset) */
    int32_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const tk_added *hit = NULL;
        for (int32_t q = set->start[c]; q < set->start[c + 1]; q++) {
            const tk_added *a = &added[set->idx[q]];
            if (a->mlen <= n - i && !memcmp(s + i, a->match, (size_t)a->mlen)) { hit = a; break; }
        }
        if (!hit) { i++; continue; }
        int32_t ms = i, me = i + hit->mlen;
        i = me;
        if (hit->single_word) {
            int l;
            int start_ok = ms == 0 || !tk_is_alnum(tk_utf8_decode((const unsigned char *)s + prev_char_start(s, ms), &l));
            int stop_ok = me == n || !tk_is_alnum(tk_utf8_decode((const unsigned char *)s + me, &l));
            if (!start_ok || !stop_ok) continue;
        }
        if (hit->lstrip) {
            int32_t p = ms;
            while (p > 0) {
                int32_t q = prev_char_start(s, p);
                int l;
                if (!tk_is_whitespace(tk_utf8_decode((const unsigned char *)s + q, &l))) break;
                p = q;
            }
            ms = p > done ? p : done;
        }
        if (hit->rstrip) {
            /* the search goes on from the match's own end (HF's Aho-Corasick
             * iterator does), so a following token may start inside the
             * swallowed whitespace: HF then emits overlapping pieces, and so do we */
            int l;
            while (me < n && tk_is_whitespace(tk_utf8_decode((const unsigned char *)s + me, &l))) me += l;
        }
        if (ms > done && tk_text_push(out, off + done, ms - done, -1)) return -1;
        if (tk_text_push(out, off + ms, me - ms, hit->id)) return -1;
        done = me;
    }
    if (done < n && tk_text_push(out, off + done, n - done, -1)) return -1;
    return 0;
}

int tk_added_split(const tk_added *added, const tk_addset *set, tk_text *t)
{
    if (set->start[256] == 0) return 0;
    tk_text nt = {0};
    for (int32_t i = 0; i < t->np; i++) {
        tk_piece *pc = &t->p[i];
        int rc = pc->id >= 0 ? tk_text_push(&nt, pc->off, pc->len, pc->id)
                             : split_one(added, set, t->buf.b + pc->off, pc->off, pc->len, &nt);
        if (rc) { free(nt.p); return -1; }
    }
    free(t->p);
    t->p = nt.p; t->np = nt.np; t->pcap = nt.pcap;
    return 0;
}
