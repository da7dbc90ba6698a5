/*
 * diff.h -- `vlmtrace diff OURS REF`: walk REF's manifest in order and compare each tensor with ours by
 * the comparison rule of docs/design.md (compare.h), reporting the first divergence and the last tensor that passed before it,
 * and where in the model the worst element of a failing tensor sits (locate.h: input, patch (t, h, w),
 * head, attention segment or window).
 *
 *     vt_diff_opts o = vt_diff_defaults();
 *     int rc = vt_diff(ours_dir, ref_dir, &o, stdout, st);   // 0 all pass, 1 mismatch, 2/3 error (st says)
 *
 * A REF tensor absent from OURS fails, unless OURS' recorded --only globs or the diff's own --only globs
 * exclude it: then it is reported as not traced. Tensors only OURS has are listed, never failed. `model`
 * is never compared.
 *
 * Three reports, one walk:
 *   text (default)  one row per tensor, failures with the worst element, a `where:` line and the first
 *                   few bad elements, then the verdict (docs/traces.md shows one);
 *   summary         one line per group (a block visual.blocks.{i}, an input image.{k}, the merger, ...)
 *                   with its count of failures, first failing and worst tensor; implies all;
 *   json            one JSON document (schema in docs/traces.md) for scripts; honours all.
 * With o.report_dir, also a directory of pictures and one self-contained report.html (report.h): the exit
 * status stays the diff's (0 / 1) unless the report itself fails (2: a directory that may not be written,
 * a --show name not in REF; 3: a write that failed).
 */
#ifndef VT_DIFF_H
#define VT_DIFF_H

#include <stdio.h>

#include "diff/compare.h"

typedef enum vt_diff_format {
    VT_DIFF_TEXT = 0,
    VT_DIFF_SUMMARY = 1,
    VT_DIFF_JSON = 2,
} vt_diff_format;

typedef struct vt_diff_opts {
    vt_cmp_opts cmp;
    char *const *only; /* the diff's own --only globs */
    int n_only;
    int all;           /* keep going after the first failure */
    int quiet;         /* print only failures and the verdict (text) */
    vt_diff_format format;
    const char *report_dir; /* --report DIR: pictures and report.html (report.h); the walk then compares
                               every tensor, the text still stops showing them at the first failure */
    char *const *show;      /* --show NAME: tensors whose error maps the report draws too */
    int n_show;
    int force;              /* --force: write the report into a directory holding other files (they are kept) */
} vt_diff_opts;

vt_diff_opts vt_diff_defaults(void);
int vt_diff(const char *ours_dir, const char *ref_dir, const vt_diff_opts *o, FILE *out, vt_status *st);

#endif
