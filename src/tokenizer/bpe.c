/* bpe.c — the BPE model: one pre-token ("word") in, tokens out.
 *
 * Like HF's Word::merge_all: every char (or, with byte_fallback, every byte
 * of an unknown char) starts as a symbol in a doubly linked list; a min-heap
 * holds candidate merges of neighbours ordered by (rank, left position); the
 * lowest is applied unless it went stale (a neighbour was merged away).  Each
 * merge is O(log n), so long SentencePiece inputs (one word per text) stay fast. */
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok.h"

typedef struct tk_sym sym;
typedef struct tk_heap_ent hent;

static int hless(const hent *a, const hent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void hpush(hent *h, int32_t *n, hent e)
{
    int32_t i = (*n)++;
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (!hless(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static hent hpop(hent *h, int32_t *n)
{
    hent top = h[0], last = h[--(*n)];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
        if (!hless(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static int grow(void **p, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap) return 0;
    int32_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *np = realloc(*p, (size_t)c * elem);
    if (!np) return -1;
    *p = np;
    *cap = c;
    return 0;
}

static int emit(tk_tok **out, int32_t *nout, int32_t *cap, int32_t id, int32_t a, int32_t b)
{
    if (grow((void **)out, cap, *nout + 1, sizeof **out)) return -1;
    (*out)[(*nout)++] = (tk_tok){id, a, b};
    return 0;
}

/* Looks up a char, with the continuing-subword prefix / end-of-word suffix the
 * model asks for. */
static int32_t char_id(const tk_bpe *m, tk_bpe_ws *ws, const char *c, int32_t l, int first, int last)
{
    if (!m->cont_prefix && !m->eow_suffix) return tk_strmap_get(&m->vocab, c, l);
    int32_t pl = (!first && m->cont_prefix) ? (int32_t)strlen(m->cont_prefix) : 0;
    int32_t sl = (last && m->eow_suffix) ? (int32_t)strlen(m->eow_suffix) : 0;
    if (grow((void **)&ws->tmp, &ws->tmpcap, pl + l + sl, 1)) return -1;
    if (pl) memcpy(ws->tmp, m->cont_prefix, (size_t)pl);
    memcpy(ws->tmp + pl, c, (size_t)l);
    if (sl) memcpy(ws->tmp + pl + l, m->eow_suffix, (size_t)sl);
    return tk_strmap_get(&m->vocab, ws->tmp, pl + l + sl);
}

int tk_bpe_word(const tk_bpe *m, tk_bpe_ws *ws, const char *w, int32_t n,
                tk_tok **out, int32_t *nout, int32_t *cap)
{
    if (n == 0) return 0;
    if (m->ignore_merges) {
        int32_t id = tk_strmap_get(&m->vocab, w, n);
        if (id >= 0) return emit(out, nout, cap, id, 0, n);
    }
    if (grow((void **)&ws->sym, &ws->symcap, n, sizeof *ws->sym)) return -1;
    sym *s = ws->sym;
    int32_t ns = 0;
    int32_t unk_pending = -1;       /* index of the last symbol when it is a (fusable) unk */
    for (int32_t i = 0; i < n;) {
        int l;
        tk_utf8_decode((const unsigned char *)w + i, &l);
        int32_t id = char_id(m, ws, w + i, l, i == 0, i + l == n);
        if (id >= 0) {
            s[ns++] = (sym){id, i, l, 0, 0};
            unk_pending = -1;
        } else {
            int done = 0;
            if (m->byte_fallback) {
                int ok = 1;
                for (int b = 0; b < l; b++) ok &= m->byte_id[(unsigned char)w[i + b]] >= 0;
                if (ok) {
                    for (int b = 0; b < l; b++) s[ns++] = (sym){m->byte_id[(unsigned char)w[i + b]], i + b, 1, 0, 0};
                    unk_pending = -1;
                    done = 1;
                }
            }
            if (!done && m->unk_id >= 0) {
                if (m->fuse_unk && unk_pending >= 0) s[unk_pending].len += l;
                else { unk_pending = ns; s[ns++] = (sym){m->unk_id, i, l, 0, 0}; }
            }
            /* no unk token: the char is dropped, as HF does */
        }
        i += l;
    }
    for (int32_t i = 0; i < ns; i++) { s[i].prev = i - 1; s[i].next = i + 1 < ns ? i + 1 : -1; }

    if (grow((void **)&ws->heap, &ws->heapcap, ns + 1, sizeof *ws->heap)) return -1;
    hent *h = ws->heap;
    int32_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) {
        const struct tk_pm_slot *p = tk_pairmap_get(&m->merges, s[i].id, s[i + 1].id);
        if (p) hpush(h, &nh, (hent){(uint32_t)p->rank, (uint32_t)i, p->id});
    }
    while (nh > 0) {
        hent top = hpop(h, &nh);
        sym *a = &s[top.pos];
        if (a->len == 0 || a->next < 0) continue;
        sym *b = &s[a->next];
        const struct tk_pm_slot *p = tk_pairmap_get(&m->merges, a->id, b->id);
        if (!p || p->id != top.id || (uint32_t)p->rank != top.rank) continue;
        /* merge b into a */
        a->id = top.id;
        a->len += b->len;
        a->next = b->next;
        b->len = 0;
        if (a->next >= 0) s[a->next].prev = (int32_t)top.pos;
        /* the heap never holds more than one entry per live pair plus stale ones;
         * each merge adds at most two. */
        if (grow((void **)&ws->heap, &ws->heapcap, nh + 2, sizeof *ws->heap)) return -1;
        h = ws->heap;
        if (a->prev >= 0) {
            const struct tk_pm_slot *q = tk_pairmap_get(&m->merges, s[a->prev].id, a->id);
            if (q) hpush(h, &nh, (hent){(uint32_t)q->rank, (uint32_t)a->prev, q->id});
        }
        if (a->next >= 0) {
            const struct tk_pm_slot *q = tk_pairmap_get(&m->merges, a->id, s[a->next].id);
            if (q) hpush(h, &nh, (hent){(uint32_t)q->rank, top.pos, q->id});
        }
    }
    for (int32_t i = 0; i >= 0 && ns > 0; i = s[i].next)
        if (emit(out, nout, cap, s[i].id, s[i].start, s[i].start + s[i].len)) return -1;
    return 0;
}

void tk_bpe_ws_free(tk_bpe_ws *ws)
{
    free(ws->sym);
    free(ws->heap);
    free(ws->tmp);
    memset(ws, 0, sizeof *ws);
}

void tk_bpe_free(tk_bpe *m)
{
    for (int32_t i = 0; i < m->nid; i++) free(m->tok[i]);
    free(m->tok);
    free(m->toklen);
    tk_strmap_free(&m->vocab);
    tk_pairmap_free(&m->merges);
    free(m->cont_prefix);
    free(m->eow_suffix);
    memset(m, 0, sizeof *m);
}
