/* token_spans.c — byte spans of the prompt -> token ranges, from the
 * tokenizer's per-token byte offsets (never by decoding and re-joining text,
 * which breaks on merged spaces, byte-fallback pieces and normalisation). */
#include <string.h>
#include "ctrace_app.h"

int ct_token_range(const int32_t *offsets, int T, ct_interval bytes, ct_interval *out, ct_err *err)
{
    *out = (ct_interval){0, 0};
    if (bytes.e <= bytes.b) return 0;
    int first = -1, last = -1;
    for (int t = 0; t < T; t++) {
        int s = offsets[2 * t], e = offsets[2 * t + 1];
        if (e <= s) continue;                      /* BOS and other empty tokens */
        if (s < bytes.e && e > bytes.b) {
            if (first < 0) first = t;
            last = t;
        }
    }
    if (first < 0) return ct_fail(err, "no token overlaps bytes [%d, %d)", bytes.b, bytes.e);
    *out = (ct_interval){first, last + 1};
    return 0;
}

int ct_token_spans_of(const ct_prompt *p, const int32_t *offsets, int T, ct_token_spans *o, ct_err *err)
{
    memset(o, 0, sizeof *o);
    o->T = T;
    o->last = T - 1;
    if (T <= 0) return ct_fail(err, "empty token sequence");
    ct_err e2;
    if (ct_token_range(offsets, T, p->passage, &o->passage, &e2)) return ct_fail(err, "passage: %s", e2.msg);
    if (ct_token_range(offsets, T, p->prompt, &o->prompt, &e2)) return ct_fail(err, "prompt: %s", e2.msg);
    if (ct_token_range(offsets, T, p->subject, &o->subject, &e2)) return ct_fail(err, "subject: %s", e2.msg);
    if (ct_token_range(offsets, T, p->object, &o->object, &e2)) return ct_fail(err, "object: %s", e2.msg);
    /* Relation: passage tokens in neither entity range, as contiguous runs.
     * A token that straddles an entity boundary belongs to the entity. */
    int run = -1;
    for (int t = o->passage.b; t <= o->passage.e; t++) {
        int in = t < o->passage.e
              && !(t >= o->subject.b && t < o->subject.e)
              && !(t >= o->object.b && t < o->object.e);
        if (in && run < 0) run = t;
        if (!in && run >= 0) {
            if (o->n_relation == 3) return ct_fail(err, "relation has more than 3 runs of tokens");
            o->relation[o->n_relation++] = (ct_interval){run, t};
            run = -1;
        }
    }
    return 0;
}
