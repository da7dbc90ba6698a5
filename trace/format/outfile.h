/*
 * outfile.h -- writing output files with the exit-code split of docs/design.md ("Exit codes"): a path that cannot be
 * created is an input error (2); a write that fails after it started (disk full) is a resource error (3).
 *
 *     vt_file f;
 *     VT_TRY(vt_file_create(&f, path, st));
 *     if (vt_file_write(&f, data, n, st)) { vt_file_abort(&f); return st->code; }
 *     VT_TRY(vt_file_commit(&f, st));           // fclose, checked
 *
 * vt_mkdirs creates a directory and its parents (mkdir -p).
 *
 * For the failure-injection tests, the environment variable VLMTRACE_FAIL_WRITE_AFTER=N makes every
 * write fail once N bytes have been written in total by this process, as a full disk would.
 */
#ifndef VT_OUTFILE_H
#define VT_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

typedef struct vt_file {
    FILE *fp;
    char path[4096];
    int regular; /* a regular file (deleted again if the write fails) */
} vt_file;

int vt_file_create(vt_file *f, const char *path, vt_status *st);
int vt_file_write(vt_file *f, const void *data, size_t n, vt_status *st);
int vt_file_commit(vt_file *f, vt_status *st);
/* Close and delete a partly written file. */
void vt_file_abort(vt_file *f);

/* mkdir -p; VT_EINPUT naming the path when it cannot be created or is not a directory. */
int vt_mkdirs(const char *path, vt_status *st);

/* Write a whole text buffer to path atomically: a temporary file beside it, then rename. */
int vt_write_atomic(const char *path, const void *data, size_t n, vt_status *st);

#endif
