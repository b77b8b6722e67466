/* file.h — the one atomic file writer: PATH.tmp.<pid>, then rename (not
 * public API).  A file under its final name is always whole: the earlier
 * version or the new one, never a truncated one (disk full, kill -9). */
#ifndef CT_COMMON_FILE_H
#define CT_COMMON_FILE_H
#include <stdio.h>
#include "ctrace.h"

typedef struct ct_atomic {
    FILE *f;                    /* write here (or to tmp by name, then ct_atomic_commit with f == NULL) */
    char tmp[4200];             /* PATH.tmp.<pid>: unique per process, so concurrent writers never share it */
    char path[4200];
    int err;                    /* errno of a failed write, set by writers that see it (0: none) */
} ct_atomic;

/* Names the temporary of path (no file opened).  -1 when the path is too long. */
int ct_atomic_name(ct_atomic *a, const char *path, ct_err *err);
/* ct_atomic_name, then opens the temporary for writing ("wb"). */
int ct_atomic_open(ct_atomic *a, const char *path, ct_err *err);
/* Flushes, fsyncs and closes a->f (when open) checking each step, then
 * renames the temporary onto the final name; on any failure the temporary is
 * removed and the final name is left as it was.  -1 with err naming the path. */
int ct_atomic_commit(ct_atomic *a, ct_err *err);
/* Closes and removes the temporary (after a failure of the caller's). */
void ct_atomic_abort(ct_atomic *a);
#endif
