/* segments.c — which token rows belong to which segment of the averaged
 * figure, from a case's recorded token spans (never from fixed offsets, so
 * any prompt format and any subject/object order works). */
#include <string.h>
#include "ctrace_app.h"

static const char *const names[CT_SEG_ALL] = {
    "context before the entities", "first subject token", "middle subject tokens", "last subject token",
    "tokens between the entities", "first object token", "middle object tokens", "last object token",
    "rest of the passage", "question/prompt tokens", "last token",
    "first corrupted token", "middle corrupted tokens", "last corrupted token", "first subsequent token",
    "further tokens", "last token",
};
static const char *const keys[CT_SEG_ALL] = {
    "before", "subj_first", "subj_mid", "subj_last", "between",
    "obj_first", "obj_mid", "obj_last", "after", "prompt", "last",
    "rome_corr_first", "rome_corr_mid", "rome_corr_last", "rome_first_after", "rome_further", "rome_last",
};

const char *ct_segment_name(int s) { return s >= 0 && s < CT_SEG_ALL ? names[s] : "?"; }
const char *ct_segment_key(int s) { return s >= 0 && s < CT_SEG_ALL ? keys[s] : "?"; }

int ct_rome_segments_of(const unsigned char *corrupted, int T, uint32_t *mask, ct_err *err)
{
    int first = -1, last = -1;
    for (int t = 0; t < T; t++) if (corrupted[t]) { if (first < 0) first = t; last = t; }
    if (first < 0) return ct_fail(err, "no corrupted token recorded");
    for (int t = 0; t < T; t++) {
        int s = -1;
        if (t == T - 1) s = CT_ROME_LAST;               /* the last token is only the last token */
        else if (t == first) s = CT_ROME_CORR_FIRST;
        else if (t == last) s = CT_ROME_CORR_LAST;
        else if (corrupted[t] && t > first && t < last) s = CT_ROME_CORR_MID;
        else if (t == last + 1) s = CT_ROME_FIRST_AFTER;
        else if (t > last + 1) s = CT_ROME_FURTHER;
        if (s >= 0) mask[t] |= 1u << s;
    }
    /* a one-token span is both its first and its last token (ROME's convention) */
    if (first == last && first != T - 1) mask[first] |= 1u << CT_ROME_CORR_LAST;
    return 0;
}

static int in(ct_interval r, int t) { return t >= r.b && t < r.e; }

/* first / middle / last token bits of an entity range */
static void entity(uint32_t *mask, ct_interval r, int first, int mid, int last)
{
    if (r.e <= r.b) return;
    mask[r.b] |= 1u << first;
    mask[r.e - 1] |= 1u << last;
    for (int t = r.b + 1; t < r.e - 1; t++) mask[t] |= 1u << mid;
}

int ct_segments_of(const ct_token_spans *s, int T, uint32_t *mask, ct_err *err)
{
    memset(mask, 0, (size_t)T * sizeof *mask);
    ct_interval S = s->subject, O = s->object;
    if (S.e <= S.b && O.e <= O.b) return ct_fail(err, "no subject or object span recorded");
    if (S.e > T || O.e > T || s->passage.e > T || s->prompt.e > T) return ct_fail(err, "spans beyond %d tokens", T);
    entity(mask, S, CT_SEG_SUBJ_FIRST, CT_SEG_SUBJ_MID, CT_SEG_SUBJ_LAST);
    entity(mask, O, CT_SEG_OBJ_FIRST, CT_SEG_OBJ_MID, CT_SEG_OBJ_LAST);
    /* the entities in passage order */
    ct_interval a = S, b = O;
    if (a.e <= a.b) a = b;
    if (b.e <= b.b) b = a;
    if (b.b < a.b) { ct_interval x = a; a = b; b = x; }
    for (int t = s->passage.b; t < s->passage.e; t++) {
        if (in(S, t) || in(O, t)) continue;
        if (t < a.b) mask[t] |= 1u << CT_SEG_BEFORE;
        else if (t >= a.e && t < b.b) mask[t] |= 1u << CT_SEG_BETWEEN;
        else if (t >= b.e) mask[t] |= 1u << CT_SEG_AFTER;
    }
    for (int t = s->prompt.b; t < s->prompt.e; t++)
        if (!in(S, t) && !in(O, t) && !in(s->passage, t)) mask[t] |= 1u << CT_SEG_PROMPT;
    /* the last token is only the last token (ROME's rows, if any, are ORed in later) */
    mask[T - 1] = 1u << CT_SEG_LAST;
    return 0;
}
