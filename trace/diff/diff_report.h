/*
 * diff_report.h -- what one walk of `vlmtrace diff` found, tensor by tensor, and the two reports printed
 * from it after the walk (--summary, --json). Internal to diff.c / diff_report.c; diff.h is the API.
 */
#ifndef VT_DIFF_REPORT_H
#define VT_DIFF_REPORT_H

#include <stdio.h>

#include "diff/diff.h"
#include "diff/locate.h"
#include "format/manifest.h"

/* What happened to one reference tensor. */
typedef enum diff_status {
    DS_OK,          /* compared, within tolerance */
    DS_FAIL,        /* compared, out of tolerance */
    DS_SHAPE,       /* dtype or shape differ */
    DS_MISSING,     /* not in ours, and ours' --only would have kept it */
    DS_NOT_TRACED,  /* not in ours, excluded by ours' --only */
    DS_EXCLUDED,    /* outside the diff's own --only */
    DS_NOT_COMPARED /* after the first failure, without --all */
} diff_status;

typedef struct diff_row {
    const vt_manifest_entry *er; /* the reference entry */
    const vt_manifest_entry *eo; /* ours (NULL when missing) */
    diff_status status;
    vt_cmp_result c;             /* when compared (DS_OK, DS_FAIL) or DS_SHAPE (c.why) */
    double first_ours[3], first_ref[3]; /* values at c.first_bad[] */
    vt_location loc;             /* of the worst element, when compared */
} diff_row;

typedef struct diff_walk {
    const char *ours_dir, *ref_dir;
    const vt_manifest *mo, *mr;
    const vt_locator *loc;
    diff_row *rows;  /* [mr->n], in reference order */
    int n;
    int n_pass, n_fail, n_missing, n_not_traced, n_outside, n_unvisited;
    int n_unshown;   /* compared for --report but not printed (text, without --all) */
    int first_fail, last_pass_before; /* row indices, -1 none */
} diff_walk;

/* "ok", "fail", "shape", "missing", "not_traced", "excluded", "not_compared" */
const char *diff_status_name(diff_status s);

/* The worst element's coordinates as "[3, 17]", from the reference entry's shape. */
char *diff_coords(char *buf, size_t n, const vt_manifest_entry *e, int64_t flat);

/* The JSON document (docs/traces.md, "diff --json"). VT_ERESOURCE if it cannot be built. */
int diff_print_json(const diff_walk *w, const vt_diff_opts *o, FILE *out, vt_status *st);

/* One line per group of tensors (a block, an input, the merger, ...). */
void diff_print_summary(const diff_walk *w, FILE *out);

/* The group a tensor belongs to in the summary: "visual.blocks.3", "image.0", "visual.merger", ... */
void diff_group_of(const char *name, char *buf, size_t n);

#endif
