/* status.c -- error reporting helpers (see status.h). */
#include "core/status.h"

#include <stdarg.h>
#include <string.h>

/* Messages quote names, keys and paths taken from files and the command line; a newline or an escape
 * sequence in one must not break the one-line rule (or the terminal). Control bytes become \n, \t,
 * \r or \xNN; the result is cut to fit. */
static void one_line(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 1 < cap; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            dst[o++] = (char)*p;
            continue;
        }
        char e[8];
        int n = *p == '\n' ? snprintf(e, sizeof e, "\\n")
                : *p == '\t' ? snprintf(e, sizeof e, "\\t")
                : *p == '\r' ? snprintf(e, sizeof e, "\\r")
                              : snprintf(e, sizeof e, "\\x%02x", *p);
        if (o + (size_t)n + 1 > cap) break;
        memcpy(dst + o, e, (size_t)n);
        o += (size_t)n;
    }
    dst[o] = 0;
}

int vt_fail(vt_status *st, int code, const char *fmt, ...)
{
    VT_ASSERT(st != NULL && code != VT_OK);
    char raw[sizeof st->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    one_line(st->msg, sizeof st->msg, raw);
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
    char joined[sizeof st->msg];
    memcpy(joined, prefix, np);
    memcpy(joined + np, old, no);
    joined[np + no] = 0;
    one_line(st->msg, sizeof st->msg, joined);
    return st->code;
}
