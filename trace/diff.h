/*
 * diff.h -- `vlmtrace diff OURS REF`: walk REF's manifest in order and compare each tensor with ours by
 * the DESIGN.md rule (compare.h), reporting the first divergence and the last tensor that passed before it.
 *
 *     vt_diff_opts o = vt_diff_defaults();
 *     int rc = vt_diff(ours_dir, ref_dir, &o, stdout, st);   // 0 all pass, 1 mismatch, 2/3 error (st says)
 *
 * A REF tensor absent from OURS fails, unless OURS' recorded --only globs or the diff's own --only globs
 * exclude it: then it is reported as not traced. Tensors only OURS has are listed, never failed. `model`
 * is never compared.
 */
#ifndef VT_DIFF_H
#define VT_DIFF_H

#include <stdio.h>

#include "compare.h"

typedef struct vt_diff_opts {
    vt_cmp_opts cmp;
    char *const *only; /* the diff's own --only globs */
    int n_only;
    int all;           /* keep going after the first failure */
    int quiet;         /* print only failures and the verdict */
} vt_diff_opts;

vt_diff_opts vt_diff_defaults(void);
int vt_diff(const char *ours_dir, const char *ref_dir, const vt_diff_opts *o, FILE *out, vt_status *st);

#endif
