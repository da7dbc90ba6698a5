/* tap.c -- calling a tap safely (see tap.h). */
#include "core/tap.h"

#include <stdarg.h>

static int has_tap(const vt_tap *tap) { return tap != NULL && tap->emit != NULL; }

int vt_tap_wants(const vt_tap *tap, const char *name)
{
    if (!has_tap(tap)) return 0;
    return tap->wants ? tap->wants(tap->ctx, name) : 1;
}

int vt_tap_wantsf(const vt_tap *tap, const char *fmt, ...)
{
    if (!has_tap(tap)) return 0;
    char name[VT_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return vt_tap_wants(tap, name);
}

int vt_tap_emit(const vt_tap *tap, const char *name, const vt_tensor *t, vt_status *st)
{
    if (!has_tap(tap)) return VT_OK;
    if (tap->wants && !tap->wants(tap->ctx, name)) return VT_OK;
    return tap->emit(tap->ctx, name, t, st);
}

int vt_tap_emitf(const vt_tap *tap, vt_status *st, const vt_tensor *t, const char *fmt, ...)
{
    if (!has_tap(tap)) return VT_OK;
    char name[VT_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    VT_ASSERT(n > 0 && n < (int)sizeof name);
    return vt_tap_emit(tap, name, t, st);
}

void vt_tap_progress(const vt_tap *tap, const char *what, int i, int n)
{
    if (tap && tap->progress) tap->progress(tap->ctx, what, i, n);
}
