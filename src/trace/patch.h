/* patch.h — the ct_block callback that puts restored values in. */
#ifndef CT_TRACE_PATCH_H
#define CT_TRACE_PATCH_H
#include "trace/trace_internal.h"

/* The batch is nslot slots of nseq_per_slot sequences each (sequence b is
 * slot b / nseq_per_slot, sample b % nseq_per_slot); slot k restores site
 * `site` at layers [pa[k], pb[k]) at position t.  buf rows hold positions
 * [p0, p0 + n).  The restored value is the source run's (tr_src). */
typedef struct tr_patch {
    const tr_ctx *c;
    ct_site site;
    int t, p0, n;
    int nslot, nseq_per_slot;
    const int *pa, *pb;         /* [nslot] */
    const int *ph;              /* [nslot] site CT_SITE_HEADS: the query head slot k restores
                                   (-1: all heads of the row); NULL: all heads in every slot */
} tr_patch;

void tr_patch_cb(void *ctx, const ct_site_at *at, const ct_tensor *view);
#endif
