/*
 * report_walk.c -- the error walk of `diff --report` (see report.h): every compared tensor in manifest
 * order on x, grouped by block; on a log y axis its max relative error measured the way the rule
 * measures it, so that the tolerance is one horizontal line and a point above it is a failing tensor.
 *
 * The rule passes an element when |ours - ref| <= atol + R |ref|, atol = A max(1, max|ref|). Dividing by
 * R: |ours - ref| / (|ref| + atol / R) <= R. That quotient is a relative error whose denominator is
 * floored at atol / R (so that zeros in the reference do not blow it up); its maximum over the tensor is
 * R times the worst element's |diff| / allowed, which --json reports (worst.abs_diff / worst.allowed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/report.h"

#define S 2            /* text scale */
#define LEFT 118       /* y axis numbers and title */
#define RIGHT 24
#define PLOT_H 300
#define BAND 30        /* the "0 / exact" band below the plot and the "inf" band above it */

double report_walk_y(const diff_row *r, const vt_cmp_opts *cmp, double *tol)
{
    *tol = cmp->rtol > 0 ? cmp->rtol : 1.0;
    if (r->status == DS_SHAPE || r->status == DS_MISSING) return INFINITY;
    const vt_cmp_result *c = &r->c;
    if (r->er->dtype != VT_F32) return c->n_bad ? INFINITY : 0.0;
    if (c->worst < 0) return 0.0;
    double d = fabs(c->ours_w - c->ref_w), allow = c->atol_eff + cmp->rtol * fabs(c->ref_w);
    if (isnan(d) || isinf(d)) return c->n_bad ? INFINITY : 0.0;
    if (!(allow > 0)) return d > 0 ? INFINITY : 0.0;
    return *tol * d / allow;
}

static int on_walk(const diff_row *r)
{
    return r->status == DS_OK || r->status == DS_FAIL || r->status == DS_SHAPE || r->status == DS_MISSING;
}

int report_walk_tsv(const diff_walk *w, const vt_diff_opts *o, char **text, size_t *n, vt_status *st)
{
    FILE *f = open_memstream(text, n);
    if (!f) return vt_fail(st, VT_ERESOURCE, "out of memory for walk.tsv");
    fprintf(f, "# x\tname\tgroup\tstatus\trel_err\tmax_abs\tmax_rel\tcosine\n");
    fprintf(f, "# rel_err = max |ours - ref| / (|ref| + atol/R) = R * worst |diff| / allowed; tolerance R = %.9g\n",
            o->cmp.rtol);
    int x = 0;
    for (int i = 0; i < w->n; i++) {
        const diff_row *r = &w->rows[i];
        if (!on_walk(r)) continue;
        char g[VT_NAME_MAX];
        double tol;
        diff_group_of(r->er->name, g, sizeof g);
        fprintf(f, "%d\t%s\t%s\t%s\t%.9g", x++, r->er->name, g, diff_status_name(r->status), report_walk_y(r, &o->cmp, &tol));
        if (r->status == DS_OK || r->status == DS_FAIL)
            fprintf(f, "\t%.9g\t%.9g\t%.9g\n", r->c.max_abs, r->c.max_rel, r->c.cosine);
        else fprintf(f, "\t\t\t\n");
    }
    if (fclose(f) != 0) return vt_fail(st, VT_ERESOURCE, "out of memory for walk.tsv");
    return VT_OK;
}

/* The label of a group under the axis: "visual.blocks.12" -> "12" once the axis title names the prefix. */
static const char *short_group(const char *g, char *prefix, size_t np)
{
    const char *p = strstr(g, "blocks.");
    if (p && p[7] >= '0' && p[7] <= '9') {
        if (!prefix[0]) snprintf(prefix, np, "%.*s{i}", (int)(p + 7 - g), g);
        return p + 7;
    }
    return g;
}

int report_walk(rep_ctx *ctx, vt_status *st)
{
    const diff_walk *w = ctx->w;
    int n = 0;
    for (int i = 0; i < w->n; i++) n += on_walk(&w->rows[i]);
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    double *ys = malloc((size_t)(n ? n : 1) * sizeof *ys);
    if (!idx || !ys) {
        free(idx);
        free(ys);
        return vt_fail(st, VT_ERESOURCE, "out of memory for the error walk");
    }
    double tol = 1, ymin = INFINITY, ymax = 0;
    for (int i = 0, k = 0; i < w->n; i++) {
        if (!on_walk(&w->rows[i])) continue;
        idx[k] = i;
        ys[k] = report_walk_y(&w->rows[i], &ctx->o->cmp, &tol);
        if (ys[k] > 0 && isfinite(ys[k])) {
            ymin = fmin(ymin, ys[k]);
            ymax = fmax(ymax, ys[k]);
        }
        k++;
    }
    /* the y range: every finite point, and two decades around the tolerance */
    double dlo, dhi;
    vt_chart_decades(fmin(isfinite(ymin) ? ymin : tol * 1e-3, tol * 1e-2), fmax(ymax, tol * 10), &dlo, &dhi);
    if (dlo < tol * 1e-10) dlo = tol * 1e-10; /* below that is rounding of rounding: the 0 band holds it */

    const int plot_w = n * 12 < 940 ? 940 : n * 12 > 1800 ? 1800 : n * 12;
    const int title_h = 4 + 4 * (VT_LINE_H(S) + 4), x0 = LEFT, y_inf = title_h + 8, y0 = y_inf + BAND,
              y_zero = y0 + PLOT_H, labels_y = y_zero + BAND + 6, legend_y = labels_y + 2 * (VT_LINE_H(S) + 4) + 26;
    int W = LEFT + plot_w + RIGHT;
    const int H = legend_y + 3 * (VT_LINE_H(S) + 10) + 6;
    /* the legend's and the title's lines must fit */
    const int need = 50 + vt_chart_text_w("tolerance R = 1e-4;  relative error = abs(ours - ref) / (abs(ref) + A max(1, max abs(ref)) / R)", S) + 16;
    if (W < need) W = need;
    for (int k = 0; k < 2; k++) {
        const diff_row *r = k == 0 ? (w->first_fail >= 0 ? &w->rows[w->first_fail] : NULL)
                                   : (w->last_pass_before >= 0 ? &w->rows[w->last_pass_before] : NULL);
        int tw = r ? 8 + vt_chart_text_w("last passing before it (dotted): ", S) + vt_chart_text_w(r->er->name, S) + 16 : 0;
        if (W < tw) W = tw;
    }
    vt_canvas c;
    int rc = vt_canvas_init(&c, W, H, VT_WHITE, st);
    if (rc) {
        free(idx);
        free(ys);
        return rc;
    }
    const double step = n ? (double)plot_w / n : plot_w;
#define XOF(k) (x0 + (int)((k) * step + step / 2))
#define YOF(v) (y0 + PLOT_H - 1 - (int)lrint(vt_chart_log_t((v), dlo, dhi) * (PLOT_H - 1)))

    /* groups: shaded alternately, labelled under the axis on two rows, left out where they would touch */
    char prefix[VT_NAME_MAX] = "", g[VT_NAME_MAX], prev[VT_NAME_MAX] = "";
    int gstart = 0, gno = 0, last_end[2] = {-1000, -1000};
    for (int k = 0; k <= n; k++) {
        if (k < n) diff_group_of(w->rows[idx[k]].er->name, g, sizeof g);
        if (k < n && (k == 0 || !strcmp(g, prev))) {
            if (k == 0) snprintf(prev, sizeof prev, "%s", g);
            continue;
        }
        int xa = x0 + (int)(gstart * step), xb = x0 + (int)(k * step);
        if (gno % 2) vt_canvas_fill_rect(&c, xa, y_inf, xb - xa, y_zero + BAND - y_inf, VT_RGB(240, 240, 240));
        const char *lab = short_group(prev, prefix, sizeof prefix);
        int tw = vt_chart_text_w(lab, S), cx = (xa + xb) / 2, row = gno % 2;
        if (cx - tw / 2 > last_end[row] + 6 && cx + tw / 2 < W - 2) {
            vt_chart_text(&c, cx, labels_y + row * (VT_LINE_H(S) + 4), lab, VT_BLACK, S, VT_ALIGN_CENTER);
            last_end[row] = cx + tw / 2;
        }
        gno++;
        gstart = k;
        if (k < n) snprintf(prev, sizeof prev, "%s", g);
    }
    /* axes, decades, bands */
    char b[64], line[600];
    for (double d = dlo; d <= dhi * 1.0001; d *= 10) {
        int y = YOF(d);
        vt_chart_dash_h(&c, x0, x0 + plot_w - 1, y, VT_LIGHT, 1, 2, 4);
        vt_canvas_fill_rect(&c, x0 - 5, y, 5, 1, VT_BLACK);
        if (y - 7 >= y0 + 4 && y + 7 <= y_zero - 4)
            vt_chart_text(&c, x0 - 8, y - 7, vt_chart_num(b, sizeof b, d), VT_BLACK, S, VT_ALIGN_RIGHT);
    }
    vt_chart_text(&c, x0 - 8, y_inf + BAND / 2 - 7, "inf", VT_BLACK, S, VT_ALIGN_RIGHT);
    vt_chart_text(&c, x0 - 8, y_zero + BAND / 2 - 5, "0", VT_BLACK, S, VT_ALIGN_RIGHT);
    vt_canvas_fill_rect(&c, x0, y0, plot_w, 1, VT_GREY);
    vt_canvas_fill_rect(&c, x0, y_zero, plot_w, 1, VT_GREY);
    vt_canvas_rect(&c, x0, y_inf, plot_w, y_zero + BAND - y_inf, VT_BLACK, 1);
    /* the tolerance line */
    const int yt = YOF(tol);
    vt_chart_dash_h(&c, x0, x0 + plot_w - 1, yt - 1, VT_BLACK, 3, 10, 6);
    /* first failure and last pass before it */
    if (w->first_fail >= 0 || w->last_pass_before >= 0)
        for (int k = 0; k < n; k++) {
            if (idx[k] == w->first_fail) vt_chart_dash_v(&c, XOF(k), y_inf, y_zero + BAND - 1, VT_FAIL_COLOUR, 2, 6, 4);
            if (idx[k] == w->last_pass_before) vt_chart_dash_v(&c, XOF(k), y_inf, y_zero + BAND - 1, VT_PASS_COLOUR, 2, 2, 4);
        }
    /* the points: failures drawn last, on top */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < n; k++) {
            const diff_row *r = &w->rows[idx[k]];
            int bad = r->status != DS_OK;
            if (bad != pass) continue;
            int y = isinf(ys[k]) ? y_inf + BAND / 2 : ys[k] > 0 ? YOF(ys[k]) : y_zero + BAND / 2;
            vt_mark m = r->status == DS_OK ? VT_MARK_DOT : r->status == DS_FAIL ? VT_MARK_CROSS
                      : r->status == DS_SHAPE ? VT_MARK_SQUARE : VT_MARK_DIAMOND;
            vt_chart_marker(&c, XOF(k), y, m, bad ? VT_FAIL_COLOUR : VT_PASS_COLOUR);
        }
    vt_chart_label(&c, x0 + plot_w - 6, yt - VT_LINE_H(S) - 6, "tolerance", VT_BLACK, S, VT_ALIGN_RIGHT);

    /* title: the verdict, first failure and last pass by name */
    if (w->n_fail + w->n_missing == 0) {
        int close = -1;
        for (int k = 0; k < n; k++)
            if (close < 0 || ys[k] > ys[close]) close = k;
        snprintf(line, sizeof line, "error walk: PASS, %d tensors within tolerance", w->n_pass);
        vt_chart_text(&c, 8, 6, line, VT_BLACK, S, VT_ALIGN_LEFT);
        if (close >= 0) {
            snprintf(line, sizeof line, "closest to it: %s at %s of the tolerance", w->rows[idx[close]].er->name,
                     vt_chart_num(b, sizeof b, ys[close] / tol));
            vt_chart_text(&c, 8, 6 + VT_LINE_H(S) + 4, line, VT_PASS_COLOUR, S, VT_ALIGN_LEFT);
        }
    } else {
        snprintf(line, sizeof line, "error walk: FAIL, %d differ, %d missing, %d match", w->n_fail, w->n_missing, w->n_pass);
        vt_chart_text(&c, 8, 6, line, VT_BLACK, S, VT_ALIGN_LEFT);
        if (w->first_fail >= 0) {
            snprintf(line, sizeof line, "first divergence (dashed): %s", w->rows[w->first_fail].er->name);
            vt_chart_text(&c, 8, 6 + VT_LINE_H(S) + 4, line, VT_FAIL_COLOUR, S, VT_ALIGN_LEFT);
        }
        snprintf(line, sizeof line, "last passing before it (dotted): %s",
                 w->last_pass_before >= 0 ? w->rows[w->last_pass_before].er->name : "none");
        vt_chart_text(&c, 8, 6 + 2 * (VT_LINE_H(S) + 4), line, VT_PASS_COLOUR, S, VT_ALIGN_LEFT);
    }
    /* axis titles */
    snprintf(line, sizeof line, "tensors in manifest order, by group%s%s", prefix[0] ? "; numbers are " : "", prefix);
    vt_chart_text(&c, x0, labels_y + 2 * (VT_LINE_H(S) + 4) + 2, line, VT_GREY, S, VT_ALIGN_LEFT);
    vt_chart_text(&c, 8, y_inf - 4 - VT_LINE_H(S), "max relative error (log)", VT_BLACK, S, VT_ALIGN_LEFT);
    /* legend */
    int lx = 12, ly = legend_y + 8;
    const struct { vt_mark m; vt_rgb col; const char *t; } items[] = {
        {VT_MARK_DOT, VT_PASS_COLOUR, "within tolerance"}, {VT_MARK_CROSS, VT_FAIL_COLOUR, "out of tolerance"},
        {VT_MARK_SQUARE, VT_FAIL_COLOUR, "shape differs"},  {VT_MARK_DIAMOND, VT_FAIL_COLOUR, "missing"},
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        vt_chart_marker(&c, lx + 5, ly + 6, items[i].m, items[i].col);
        vt_chart_text(&c, lx + 16, ly, items[i].t, VT_BLACK, S, VT_ALIGN_LEFT);
        lx += 16 + vt_chart_text_w(items[i].t, S) + 26;
    }
    ly += VT_LINE_H(S) + 10;
    vt_chart_dash_h(&c, 12, 42, ly + 5, VT_BLACK, 3, 10, 6);
    snprintf(line, sizeof line, "tolerance R = %s;  relative error = abs(ours - ref) / (abs(ref) + A max(1, max abs(ref)) / R)",
             vt_chart_num(b, sizeof b, tol));
    vt_chart_text(&c, 50, ly, line, VT_BLACK, S, VT_ALIGN_LEFT);
    snprintf(line, sizeof line, "A = %s; bands: 0 = exact, inf = integers, shape or missing",
             vt_chart_num(b, sizeof b, ctx->o->cmp.atol));
    vt_chart_text(&c, 12, ly + VT_LINE_H(S) + 8, line, VT_GREY, S, VT_ALIGN_LEFT);
#undef XOF
#undef YOF
    char title[320], alt[320];
    snprintf(title, sizeof title, "The error walk: %d compared tensors", n);
    snprintf(alt, sizeof alt, "max relative error of each of %d compared tensors in manifest order on a log axis, "
             "with the tolerance line", n);
    ctx->walk_pic = ctx->n_pics;
    rc = report_add_pic(ctx, &c, "walk.png", title, alt, st);
    vt_canvas_free(&c);
    free(idx);
    free(ys);
    return rc;
}
