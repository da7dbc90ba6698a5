/*
 * status.h -- how every function in ref/ and trace/ reports failure.
 *
 * Usage:
 *     vt_status st = {0};
 *     if (vt_safetensors_open(&ck, path, &st)) { fprintf(stderr, "%s\n", st.msg); return st.code; }
 *
 * A failing function fills `st` with a code and a one-line message naming the file or tensor and the
 * problem, and returns the code. Only main() prints and exits. The codes are the process exit codes of
 * docs/design.md ("Exit codes"): 2 for bad input (malformed file, inconsistent config, a size refused before allocating, an
 * output path that cannot be created), 3 for resource failures (an allocation or a write that failed).
 * VT_ASSERT guards programmer errors only; anything that depends on input is validated and returned.
 */
#ifndef VT_STATUS_H
#define VT_STATUS_H

#include <stdio.h>
#include <stdlib.h>

enum {
    VT_OK = 0,
    VT_EDIFF = 1,     /* diff found a mismatch (only `vlmtrace diff` returns it) */
    VT_EINPUT = 2,    /* usage or input error */
    VT_ERESOURCE = 3, /* allocation or write failure */
};

typedef struct vt_status {
    int code;
    char msg[1024];
} vt_status;

#if defined(__GNUC__)
#define VT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VT_PRINTF(a, b)
#endif

/* Fill st with code and a formatted message; returns code so callers can `return vt_fail(...)`. */
int vt_fail(vt_status *st, int code, const char *fmt, ...) VT_PRINTF(3, 4);

/* Prepend context to an existing message ("model.safetensors: " + msg); returns st->code. */
int vt_wrap(vt_status *st, const char *fmt, ...) VT_PRINTF(2, 3);

/* Propagate a non-zero status code. */
#define VT_TRY(expr)                                                                                       \
    do {                                                                                                   \
        int vt_rc_ = (expr);                                                                               \
        if (vt_rc_) return vt_rc_;                                                                         \
    } while (0)

/* Always-on assertion for programmer errors (never for input-dependent conditions). */
#define VT_ASSERT(cond)                                                                                    \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "vlmtrace: internal error: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                                                \
            abort();                                                                                       \
        }                                                                                                  \
    } while (0)

#endif
