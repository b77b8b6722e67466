/* err.c — the error value every library function fills on failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ctrace.h"
#include "ctrace_app.h"    /* ct_run_settings, ct_run_progress: sizes only (bindings of libctrace_app.so) */

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

/* sizeof of the public structs a binding mirrors (ctypes, cffi), by name, so
 * that it can refuse a library whose layout differs from the one it was
 * written for instead of reading garbage. */
size_t ct_abi_size(const char *type_name)
{
    static const struct { const char *name; size_t size; } sizes[] = {
        {"ct_err", sizeof(ct_err)},
        {"ct_config", sizeof(struct ct_config)},
        {"ct_tensor_view", sizeof(ct_tensor_view)},
        {"ct_st_file", sizeof(ct_st_file)},
        {"ct_encoding", sizeof(ct_encoding)},
        {"ct_trace_settings", sizeof(ct_trace_settings)},
        {"ct_trace_input", sizeof(ct_trace_input)},
        {"ct_trace_target", sizeof(ct_trace_target)},
        {"ct_trace_result", sizeof(ct_trace_result)},
        {"ct_attribution", sizeof(ct_attribution)},
        {"ct_run_settings", sizeof(ct_run_settings)},
        {"ct_run_progress", sizeof(ct_run_progress)},
    };
    for (size_t i = 0; type_name && i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(sizes[i].name, type_name)) return sizes[i].size;
    return 0;
}
