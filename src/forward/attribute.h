/* attribute.h — the attribution's pieces the tracing module shares (the
 * corrupted-run attribution adds the noise first). */
#ifndef CT_FORWARD_ATTRIBUTE_H
#define CT_FORWARD_ATTRIBUTE_H
#include "ctrace.h"

/* The input checks of ct_attribute: ids in the vocabulary, positions, tokens. */
int ct__attribute_check(const ct_model *m, const int32_t *ids, int T, int32_t answer, int32_t cf, ct_err *err);
/* ct_attribute from the block-0 input x0 [T, D] (backend memory, embeddings
 * finished: the embed part is its last row). */
int ct__attribute_x0(const ct_model *m, const float *x0, int T, int32_t answer, int32_t cf, ct_attribution *out,
                     ct_err *err);
#endif
