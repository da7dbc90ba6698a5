/*
 * inject.h -- `--inject BUG`: the bug zoo's names, which command and family each applies to, and the
 * lookup the CLIs share (the switches themselves are ref/core/bugzoo.h flags, inside the stages).
 *
 *     unsigned bugs;
 *     VT_TRY(vt_inject_lookup("no-segment-mask", VT_INJECT_RUN_QWEN2VL, &bugs, st)); // bugs = VT_BUG_NO_SEGMENT_MASK
 *     model.bugs = bugs;                                     // the stage that makes the mistake
 *     VT_TRY(vt_tracer_set_inject(&tr, "no-segment-mask", st)); // the trace says what it is
 *
 * An unknown name, or one that does not apply to the target, is VT_EINPUT with one line listing the
 * bugs that do. docs/bug-zoo.md has each bug's story, command and diff.
 */
#ifndef VT_INJECT_H
#define VT_INJECT_H

#include <stddef.h>

#include "core/status.h"

/* Where a bug can be switched on: a command, and for `run` the family. */
typedef enum vt_inject_target {
    VT_INJECT_RUN_QWEN2VL,
    VT_INJECT_RUN_QWEN25VL,
    VT_INJECT_RUN_QWENVL,
    VT_INJECT_RUN_KIMIVL,
    VT_INJECT_RUN_QWEN3VL,
    VT_INJECT_PREPROCESS,
    VT_INJECT_ROPE,
    VT_INJECT_GENERATE_QWEN2VL,
    VT_INJECT_GENERATE_QWEN25VL,
    VT_INJECT_N_TARGETS
} vt_inject_target;

typedef struct vt_inject_bug {
    const char *name;    /* the --inject value, e.g. "no-segment-mask" */
    unsigned flag;       /* VT_BUG_* (ref/core/bugzoo.h) */
    unsigned targets;    /* 1u << vt_inject_target for each place it applies */
    const char *stage;   /* the reference stage that gets it wrong */
    const char *what;    /* the mistake, one line */
} vt_inject_bug;

/* The table, in the order --help and docs/bug-zoo.md list it; *n receives its length. */
const vt_inject_bug *vt_inject_table(int *n);

/* "vlmtrace run on Qwen2-VL", "vlmtrace preprocess", ... */
const char *vt_inject_target_name(vt_inject_target t);

/* name -> its VT_BUG_* flag in *bug, if it applies to t; VT_EINPUT (one line naming the valid ones)
 * otherwise. */
int vt_inject_lookup(const char *name, vt_inject_target t, unsigned *bug, vt_status *st);

/* The names that apply to t, comma-separated, into buf. */
void vt_inject_names(char *buf, size_t n, vt_inject_target t);

#endif
