/* report_internal.h — helpers shared inside src/report (not public API). */
#ifndef CT_REPORT_INTERNAL_H
#define CT_REPORT_INTERNAL_H
#include <cjson/cJSON.h>
#include "ctrace_app.h"

/* {"passage":[b,e],...,"relation":[[b,e],...],"last":t} and back. */
cJSON *ct__spans_json(const ct_token_spans *s);
int ct__spans_parse(const cJSON *s, int T, ct_token_spans *out, ct_err *err);
cJSON *ct__tokens_json(char *const *tokens, int T);
cJSON *ct__top_json(const ct_top_tokens *t);   /* [{"id","token","p"},...] */

/* Colour of value x in [0, 1] under the kind's matplotlib-like map. */
void ct__colormap(const char *kind, double x, double rgb[3]);
/* x in [-1, 1]: x >= 0 the kind's map, x < 0 its negative ramp (white at 0). */
void ct__colormap_signed(const char *kind, double x, double rgb[3]);

/* A copy of s (n bytes) that is valid UTF-8 with no control characters
 * (invalid bytes -> U+FFFD, '\n' -> "\\n", other controls -> U+FFFD); caller frees. */
char *ct__printable_utf8(const char *s, size_t n);

/* A copy of s that is valid UTF-8: each byte that is not part of a valid
 * sequence becomes the four characters "\xNN" (hex).  JSON output must be
 * UTF-8 (Python's json cannot read a line with invalid bytes), and the bytes
 * stay visible for whoever looks for them in the dataset.  Caller frees. */
char *ct__utf8_escaped(const char *s);

/* The colour-bar text of an average ("mean IE: Δp(answer) vs corrupted run"). */
void ct__avg_unit(const ct_average *a, char *b, size_t n);
/* ct_case_load that also reads a head trace (kind "head", ie [T, L, H]) as
 * c->ie [T, L·H] with c->L = L·H and *H = H (*H = 0: a sublayer case). */
int ct__case_load_heads(ct_case *c, const char *path, int *H, ct_err *err);
#endif
