/*
 * report_cases.h -- what the error-map tests share (test_report.c, test_report_lm.c; static helpers, include
 * once per program): a golden case's tensor with one element made wrong, mapped through the locator
 * (report_map_build), and the check that exactly the expected cells light up.
 *
 *   map_one(&f, case_dir, name, flat)     the map of `name` when only element `flat` is wrong (by 1)
 *   expect_lit(&f, slot, want, n_want)    exactly those cells lit in slot `slot` (0: all heads; 1 + k: head k)
 *   fixture_free(&f)
 */
#ifndef REPORT_CASES_H
#define REPORT_CASES_H

#include <stdlib.h>
#include <string.h>

#include "diff/report.h"
#include "format/manifest.h"
#include "vt_test.h"

typedef struct cell {
    const char *input;
    int64_t t, y, x;
    rep_panel_kind kind; /* REP_GRID (0) unless given */
} cell;

typedef struct fixture {
    vt_manifest m;
    vt_locator *l;
    vt_tensor ref;
    void *buf;
    float *err;
    rep_map map;
} fixture;

/* The map of tensor `name` of a golden case when only element `flat` is wrong (by 1). */
static void map_one(fixture *f, const char *case_dir, const char *name, int64_t flat)
{
    vt_status st = {0};
    if (vt_manifest_read(&f->m, case_dir, &st)) fail_msg("%s", st.msg);
    if (vt_locator_build(&f->l, &f->m, &st)) fail_msg("%s", st.msg);
    vt_test_load_golden(case_dir, name, &f->ref, &f->buf);
    const int64_t n = vt_numel(&f->ref);
    assert_true(flat >= 0 && flat < n);
    f->err = calloc((size_t)n, sizeof *f->err);
    assert_non_null(f->err);
    f->err[flat] = 1.0f;
    if (report_map_build(f->l, name, &f->ref, f->err, &f->map, &st)) fail_msg("%s", st.msg);
}

static void fixture_free(fixture *f)
{
    report_map_free(&f->map);
    free(f->err);
    free(f->buf);
    vt_locator_free(f->l);
    vt_manifest_free(&f->m);
}

/* Exactly the cells `want` are lit in slot `slot`, and no cell of any other panel. */
static void expect_lit(const fixture *f, int slot, const cell *want, int n_want)
{
    int hits = 0;
    for (int i = 0; i < f->map.n; i++) {
        const rep_panel *p = &f->map.p[i];
        const float *v = p->v + (size_t)slot * p->gh * p->gw;
        for (int64_t y = 0; y < p->gh; y++)
            for (int64_t x = 0; x < p->gw; x++) {
                if (!(v[y * p->gw + x] > 0)) continue;
                int ok = 0;
                for (int k = 0; k < n_want; k++)
                    ok |= p->kind == want[k].kind && !strcmp(p->input, want[k].input) && p->t == want[k].t && y == want[k].y &&
                          x == want[k].x;
                if (!ok)
                    fail_msg("%s: cell (%lld, %lld) of panel %s t %lld (kind %d, slot %d) is lit, not expected",
                             f->map.name, (long long)y, (long long)x, p->input, (long long)p->t, p->kind, slot);
                hits++;
            }
    }
    if (hits != n_want)
        fail_msg("%s: %d cell(s) lit in slot %d, expected %d (first: %s t %lld (%lld, %lld))", f->map.name, hits, slot,
                 n_want, want[0].input, (long long)want[0].t, (long long)want[0].y, (long long)want[0].x);
}

static int64_t ival(const vt_tensor *t, int64_t i)
{
    return t->dtype == VT_I64 ? vt_i64(t)[i] : t->dtype == VT_I32 ? vt_i32(t)[i] : vt_u8(t)[i];
}

#endif
