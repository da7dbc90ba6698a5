/*
 * report.h -- `vlmtrace diff OURS REF --report DIR` (internal to diff.c and report*.c; diff.h is the API).
 *
 * After the walk, DIR receives:
 *   walk.png        the error walk: every compared tensor in manifest order, its max relative error on a
 *                   log axis against the tolerance, grouped by block (report_walk.c);
 *   walk.tsv        the numbers behind it, one line per point (the same as --json's);
 *   map.N.png       for the first failing tensor (or, on a passing diff, the one closest to its tolerance)
 *                   and each --show NAME: the per-row error placed back on each input's patch grid over
 *                   the resized image (report_map.c);
 *   heads.N.png     the same per attention head, as small multiples, when the tensor has heads;
 *   channels.N.png  the error by channel (last axis) and row (report_channels.c);
 *   report.html     one self-contained page: verdict, where-lines, pictures (as data URIs), the table of
 *                   every tensor (report.c). Written last, atomically.
 *
 * The directory must be new, empty, or one a previous --report wrote (report.html names its generator and
 * every other entry is one of the names above): anything else is refused (exit 2) before the walk, and
 * nothing in it is touched. Pictures are deterministic: the same traces give the same bytes.
 */
#ifndef VT_REPORT_H
#define VT_REPORT_H

#include <stddef.h>

#include "diff/diff_report.h"
#include "viz/chart.h"

#define REPORT_MAX_PICS 64

typedef struct rep_pic {
    char file[48];      /* "map.0.png" */
    char title[320];    /* the heading above it in report.html */
    char alt[320];      /* what it shows, in words (the img's alt text) */
    unsigned char *png; /* its bytes, malloc'd */
    size_t n;
    int w, h;
} rep_pic;

/* One tensor drawn in the report: its rows' errors and the pictures made from them. */
typedef struct rep_tensor {
    int row;               /* index into the walk's rows */
    vt_tensor ref, ours;   /* loaded (buffers below) */
    void *ref_buf, *ours_buf;
    float *err;            /* |ours - ref| per element; a NaN / inf mismatch is +inf */
    int index;             /* N of map.N.png */
} rep_tensor;

typedef struct rep_ctx {
    const diff_walk *w;
    const vt_diff_opts *o;
    rep_pic pics[REPORT_MAX_PICS];
    int n_pics;
    int walk_pic;          /* index of walk.png in pics */
    char notes[8][320];    /* one line per shown tensor: what was drawn, or why not */
    int n_notes;
} rep_ctx;

/* Before the walk: DIR may be written (see above), and every --show NAME is in the reference trace. */
int report_check(const vt_manifest *mr, const vt_diff_opts *o, vt_status *st);

/* After the walk: every file, report.html last. */
int report_write(const diff_walk *w, const vt_diff_opts *o, vt_status *st);

/* ---- the error map of one tensor: every element placed by the locator (report_map.c) ---- */

#define REP_MAX_PANELS 64
#define REP_MAX_SLOTS 48

typedef enum { REP_GRID, REP_PIXELS, REP_QUERY, REP_STRIP } rep_panel_kind;

typedef struct rep_panel {
    rep_panel_kind kind;
    char input[32];   /* "image.0" ("" for a strip) */
    int64_t t;        /* temporal patch (frame pair), 0 for images; batch row for a strip */
    int64_t gh, gw;   /* cells */
    float *v;         /* [1 + K][gh * gw]: slot 0 every element, 1 + k head slot k; -1 no element here */
} rep_panel;

typedef struct rep_map {
    rep_panel p[REP_MAX_PANELS];
    int n;
    int n_slots, heads, parts; /* parts 3 for fused q/k/v tensors */
    int64_t strip_len;
    const char *name;          /* the tensor's */
    int dropped;               /* elements that had a place but no panel left */
} rep_map;

/* err [numel(ref)]: the error of each element. Panels sorted (images, then videos, frames in order, strips
 * last). VT_ERESOURCE on allocation failure. */
int report_map_build(const vt_locator *loc, const char *name, const vt_tensor *ref, const float *err, rep_map *m,
                     vt_status *st);
void report_map_free(rep_map *m);

/* ---- the pictures (each adds to ctx->pics) ---- */

/* The y value of row r on the walk (relative error against the tolerance line `tol`); +inf for integer,
 * shape and missing failures, 0 for exact. *tol receives the line's value. */
double report_walk_y(const diff_row *r, const vt_cmp_opts *cmp, double *tol);
int report_walk(rep_ctx *ctx, vt_status *st);
int report_walk_tsv(const diff_walk *w, const vt_diff_opts *o, char **text, size_t *n, vt_status *st);
/* The map and per-head pictures of one tensor; returns VT_OK with nothing added when it has no place on
 * any input (a note says so). */
int report_maps(rep_ctx *ctx, const rep_tensor *t, vt_status *st);
int report_channels(rep_ctx *ctx, const rep_tensor *t, vt_status *st);
/* Keep a finished canvas as a picture of the report (encodes it; frees nothing of the canvas). */
int report_add_pic(rep_ctx *ctx, const vt_canvas *c, const char *file, const char *title, const char *alt,
                   vt_status *st);

/* The colour scale of a map: [*lo, *hi] the smallest and largest positive finite values (at most 8
 * decades apart); `mark` (the allowance) is drawn on the bar when inside. A sentence for the picture when
 * it is not ("every coloured cell is above the allowance 2.8e-05"), else "". */
void report_scale(const float *v, size_t n, double mark, double *lo, double *hi, char *note, size_t note_n);

/* report.html */
int report_html(const rep_ctx *ctx, char **html, size_t *n, vt_status *st);

#endif
