/* err.c — the error value every library function fills on failure. */
#include <stdarg.h>
#include <stdio.h>
#include "ctrace.h"

int ct_fail(ct_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* keep it one line: a message is printed as "ctrace: <msg>" */
        for (char *p = err->msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return -1;
}
