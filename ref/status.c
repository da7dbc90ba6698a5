/* status.c -- error reporting helpers (see status.h). */
#include "status.h"

#include <stdarg.h>
#include <string.h>

int vt_fail(vt_status *st, int code, const char *fmt, ...)
{
    VT_ASSERT(st != NULL && code != VT_OK);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    st->code = code;
    return code;
}

int vt_wrap(vt_status *st, const char *fmt, ...)
{
    VT_ASSERT(st != NULL);
    char prefix[512];
    char old[sizeof st->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, st->msg, sizeof old);
    size_t np = strlen(prefix), no = strnlen(old, sizeof old - 1);
    if (np > sizeof st->msg - 1) np = sizeof st->msg - 1;
    if (no > sizeof st->msg - 1 - np) no = sizeof st->msg - 1 - np; /* truncate the tail, keep the context */
    memcpy(st->msg, prefix, np);
    memcpy(st->msg + np, old, no);
    st->msg[np + no] = 0;
    return st->code;
}
