/* err.c — the error value every library function fills on failure. */
#include <stdarg.h>
#include <stdio.h>
#include "ctrace.h"

static int vfail(ct_err *err, ct_status code, const char *fmt, va_list ap)
{
    if (err) {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        err->code = code;
        /* keep it one line: a message is printed as "ctrace: <msg>" */
        for (char *p = err->msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return -1;
}

int ct_fail(ct_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, CT_ERR_INPUT, fmt, ap);
    va_end(ap);
    return -1;
}

int ct_fail_code(ct_err *err, ct_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ct_status_name(ct_status code)
{
    switch (code) {
    case CT_OK: return "ok";
    case CT_ERR_INPUT: return "bad input";
    case CT_ERR_NOMEM: return "out of memory";
    case CT_ERR_IO: return "I/O error";
    case CT_ERR_UNSUPPORTED: return "unsupported";
    case CT_ERR_DEVICE: return "device error";
    }
    return "error";
}

int ct_status_is_fatal(ct_status code)
{
    return code == CT_ERR_NOMEM || code == CT_ERR_IO || code == CT_ERR_DEVICE;
}

const char *ct_version(void) { return CTRACE_VERSION; }
