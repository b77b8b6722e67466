/* file.c — the atomic tmp-then-rename writer every output file goes through. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "common/file.h"

int ct_atomic_name(ct_atomic *a, const char *path, ct_err *err)
{
    a->f = NULL;
    a->err = 0;
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
        snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof a->tmp)
        return ct_fail(err, "%s: path too long", path);
    return 0;
}

int ct_atomic_open(ct_atomic *a, const char *path, ct_err *err)
{
    if (ct_atomic_name(a, path, err)) return -1;
    if (!(a->f = fopen(a->tmp, "wb"))) return ct_fail_code(err, CT_ERR_IO, "%s: cannot write: %s", a->tmp, strerror(errno));
    return 0;
}

int ct_atomic_commit(ct_atomic *a, ct_err *err)
{
    int e = a->err;
    if (a->f) {
        /* a full disk shows only here: buffered data fails at the flush, the
         * file system's delayed allocation at fsync or close */
        if (!e && ferror(a->f)) e = EIO;
        if (!e && fflush(a->f)) e = errno;
        if (!e && fsync(fileno(a->f))) e = errno;
        if (fclose(a->f) && !e) e = errno;
        a->f = NULL;
    }
    if (!e && rename(a->tmp, a->path)) e = errno;
    if (e) {
        unlink(a->tmp);
        return ct_fail_code(err, CT_ERR_IO, "%s: write failed: %s", a->path, strerror(e));
    }
    return 0;
}

void ct_atomic_abort(ct_atomic *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}
