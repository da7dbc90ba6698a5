/*
 * timings.h -- `vlmtrace run --timings`: wall-clock seconds per stage, measured at the tap.
 *
 *     vt_timings tm;  vt_timings_start(&tm);             // before config.json and the weights are read
 *     vt_tap tap = vt_timings_tap(&tm, inner);            // in front of the tracer's (or the progress-only) tap
 *     ... forward ...
 *     vt_timings_mark(&tm, "--out, pictures");            // charge what happened since the last tensor
 *     vt_timings_print(&tm, stderr, threads);
 *
 * The forward reports every named tensor to its tap (asking wants() first, even when nothing is traced),
 * so the time between two consecutive names is charged to the group of the later one: the name with
 * its block index replaced by `*` and cut after the component that follows it (visual.blocks.3.attn.qkv
 * -> visual.blocks.*.attn), or its first three components when it has no index (visual.merger.ln_q).
 * Time spent inside the inner tap (writing .npy files) is kept apart as "trace writing". Everything
 * before the first tensor is "load". Nothing here changes what the forward computes: wants() answers
 * what the inner tap answers.
 */
#ifndef VT_TIMINGS_H
#define VT_TIMINGS_H

#include <stdio.h>

#include "core/tap.h"

#define VT_TIMINGS_MAX_GROUPS 64

typedef struct vt_timings {
    vt_tap inner;
    double t0, last; /* start, last event (seconds, CLOCK_MONOTONIC) */
    double write_s;  /* inside inner.emit */
    int events;
    int n;
    struct {
        char name[96];
        double s;
    } g[VT_TIMINGS_MAX_GROUPS];
} vt_timings;

void vt_timings_start(vt_timings *t);
/* A tap that times and then passes everything on to inner. t must outlive the tap. */
vt_tap vt_timings_tap(vt_timings *t, vt_tap inner);
/* Charge the time since the last event to `group`. */
void vt_timings_mark(vt_timings *t, const char *group);
/* The group a tensor name is charged to (see above); out has cap bytes. */
void vt_timings_group(char *out, size_t cap, const char *name);
/* One line per group in first-seen order, then trace writing and the total. */
void vt_timings_print(const vt_timings *t, FILE *f, int threads);

#endif
