/* diff.c -- comparing two trace directories (see diff.h): the walk and the text report. */
#include "diff/diff.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff_report.h"
#include "diff/report.h"

vt_diff_opts vt_diff_defaults(void)
{
    vt_diff_opts o;
    memset(&o, 0, sizeof o);
    o.cmp.atol = VT_DEFAULT_ATOL;
    o.cmp.rtol = VT_DEFAULT_RTOL;
    return o;
}

const char *diff_status_name(diff_status s)
{
    static const char *const names[] = {"ok", "fail", "shape", "missing", "not_traced", "excluded", "not_compared"};
    return names[s];
}

char *diff_coords(char *buf, size_t n, const vt_manifest_entry *e, int64_t flat)
{
    vt_tensor t = vt_tensor_of(e->dtype, NULL, e->ndim, e->shape);
    return vt_coords_str(buf, n, &t, flat);
}

/* ======================================== text rows ======================================== */

static void print_row_head(FILE *out, const char *tag, const vt_manifest_entry *e, int namew)
{
    char sb[160];
    fprintf(out, "  %-8s %-*s %-7s %-16s", tag, namew, e->name, vt_dtype_name(e->dtype),
            vt_shape_str(sb, sizeof sb, e->ndim, e->shape));
}

static void print_values(FILE *out, const diff_row *r, const vt_cmp_opts *opt)
{
    char cb[160];
    const vt_cmp_result *c = &r->c;
    if (c->worst >= 0) {
        double d = fabs(c->ours_w - c->ref_w);
        if (r->er->dtype == VT_F32)
            fprintf(out, "           worst element %s: ours %.9g, reference %.9g (|diff| %.3g, allowed %.3g)\n",
                    diff_coords(cb, sizeof cb, r->er, c->worst), c->ours_w, c->ref_w, d,
                    c->atol_eff + opt->rtol * fabs(c->ref_w));
        else
            fprintf(out, "           worst element %s: ours %.0f, reference %.0f\n",
                    diff_coords(cb, sizeof cb, r->er, c->worst), c->ours_w, c->ref_w);
        if (r->loc.valid) fprintf(out, "           where: %s\n", r->loc.text);
    }
    fprintf(out, "           %lld of %lld elements out of tolerance; first:", (long long)c->n_bad, (long long)c->numel);
    for (int i = 0; i < c->n_first_bad; i++)
        fprintf(out, " %s ours %.7g / reference %.7g%s", diff_coords(cb, sizeof cb, r->er, c->first_bad[i]),
                r->first_ours[i], r->first_ref[i], i + 1 < c->n_first_bad ? ";" : "");
    fprintf(out, "\n           sum ours %.9g, reference %.9g\n", c->sum_ours, c->sum_ref);
}

static void print_row(FILE *out, const diff_row *r, const vt_diff_opts *o, int namew)
{
    const vt_cmp_result *c = &r->c;
    switch (r->status) {
    case DS_NOT_TRACED:
        if (o->quiet) return;
        print_row_head(out, "-", r->er, namew);
        fprintf(out, " not traced (excluded by ours' --only)\n");
        return;
    case DS_MISSING:
        print_row_head(out, "MISSING", r->er, namew);
        fprintf(out, " not in ours\n");
        return;
    case DS_SHAPE:
        print_row_head(out, "SHAPE", r->er, namew);
        fprintf(out, " %s\n", c->why);
        return;
    case DS_OK:
        if (o->quiet) return;
        print_row_head(out, "ok", r->er, namew);
        if (r->er->dtype == VT_F32) fprintf(out, " max_abs %.2e  max_rel %.2e  cos %.7f\n", c->max_abs, c->max_rel, c->cosine);
        else fprintf(out, " exact\n");
        return;
    case DS_FAIL:
        print_row_head(out, "FAIL", r->er, namew);
        if (r->er->dtype == VT_F32) fprintf(out, " max_abs %.2e  max_rel %.2e  cos %.7f\n", c->max_abs, c->max_rel, c->cosine);
        else fprintf(out, " max_abs %.0f  (integers must match exactly)\n", c->max_abs);
        print_values(out, r, &o->cmp);
        return;
    case DS_EXCLUDED:
    case DS_NOT_COMPARED: return;
    }
}

/* ======================================== the walk ======================================== */

/* Compare one reference tensor with ours; fills r. Returns a status only for read errors. */
static int compare_one(diff_walk *w, diff_row *r, const vt_diff_opts *o, vt_status *st)
{
    vt_tensor tr, to;
    void *br = NULL, *bo = NULL;
    if (vt_manifest_load(w->mr, r->er, &tr, &br, st)) return vt_wrap(st, "reference ");
    if (vt_manifest_load(w->mo, r->eo, &to, &bo, st)) {
        free(br);
        return vt_wrap(st, "ours ");
    }
    vt_compare(&to, &tr, &o->cmp, &r->c);
    if (!r->c.shape_ok) {
        r->status = DS_SHAPE;
    } else {
        r->status = r->c.pass ? DS_OK : DS_FAIL;
        for (int i = 0; i < r->c.n_first_bad; i++) {
            r->first_ours[i] = vt_elem(&to, r->c.first_bad[i]);
            r->first_ref[i] = vt_elem(&tr, r->c.first_bad[i]);
        }
        if (r->c.worst >= 0) vt_locate(w->loc, r->er->name, &tr, r->c.worst, &r->loc);
    }
    free(br);
    free(bo);
    return VT_OK;
}

/* Two traces of different models: said first, in one line (on stderr with --json: stdout is the document). */
static void warn_models(FILE *out, const diff_walk *w, const vt_diff_opts *o)
{
    const char *a = vt_manifest_model_type(w->mo->model), *b = vt_manifest_model_type(w->mr->model);
    if (!a || !b || !strcmp(a, b)) return;
    fprintf(o->format == VT_DIFF_JSON ? stderr : out,
            "warning: ours is a %s trace and the reference a %s trace: two different models, so names, shapes and "
            "numbers will not line up\n", a, b);
}

static void print_header(FILE *out, const diff_walk *w, const vt_diff_opts *o)
{
    fprintf(out, "ours:      %s\nreference: %s\n", w->ours_dir, w->ref_dir);
    if (w->mo->inject) fprintf(out, "injected:  ours was traced with --inject %s (docs/bug-zoo.md)\n", w->mo->inject);
    fprintf(out, "layout:    %s (from the reference trace)\n", vt_locator_summary(w->loc));
    fprintf(out, "rule: integers exact; float32 |ours - ref| <= %g * max(1, max|ref|) + %g * |ref|\n\n", o->cmp.atol,
            o->cmp.rtol);
}

static void print_verdict(FILE *out, const diff_walk *w, const vt_diff_opts *o)
{
    fprintf(out, "\n");
    if (w->first_fail >= 0) {
        const diff_row *f = &w->rows[w->first_fail];
        fprintf(out, "first divergence: %s (last passing before it: %s)\n", f->er->name,
                w->last_pass_before >= 0 ? w->rows[w->last_pass_before].er->name : "none");
        if (f->status == DS_FAIL && f->loc.valid) fprintf(out, "  its worst element: %s\n", f->loc.text);
        if (!o->all && w->n_unvisited)
            fprintf(out, "stopped at the first failure; %d later tensor(s) not compared (--all compares them)\n",
                    w->n_unvisited);
        if (!o->all && w->n_unshown)
            fprintf(out, "%d later tensor(s) not shown here (--all shows them); the report compares them all\n",
                    w->n_unshown);
    }
    int only_ours = 0;
    for (int i = 0; i < w->mo->n; i++)
        if (!vt_manifest_find(w->mr, w->mo->t[i].name)) {
            if (!only_ours++) fprintf(out, "only in ours (not compared):");
            if (only_ours <= 12) fprintf(out, " %s", w->mo->t[i].name);
        }
    if (only_ours > 12) fprintf(out, " ... (%d in all)", only_ours);
    if (only_ours) fprintf(out, "\n");
    if (w->n_fail + w->n_missing == 0)
        fprintf(out, "PASS: %d tensor(s) match", w->n_pass);
    else
        fprintf(out, "FAIL: %d differ, %d missing, %d match", w->n_fail, w->n_missing, w->n_pass);
    if (w->n_not_traced) fprintf(out, ", %d not traced by ours (its --only)", w->n_not_traced);
    if (w->n_outside) fprintf(out, ", %d not traced (outside the diff's --only)", w->n_outside);
    fprintf(out, "\n");
}

/* Refuse broken traces before printing anything: every entry's header must agree with its manifest. */
static int check_traces(const vt_manifest *mo, const vt_manifest *mr, const vt_diff_opts *o, vt_status *st)
{
    for (int i = 0; i < mr->n; i++) {
        if (!vt_glob_any(o->only, o->n_only, mr->t[i].name)) continue;
        if (vt_manifest_check(mr, &mr->t[i], st)) return vt_wrap(st, "reference ");
        const vt_manifest_entry *eo = vt_manifest_find(mo, mr->t[i].name);
        if (eo && vt_manifest_check(mo, eo, st)) return vt_wrap(st, "ours ");
    }
    return VT_OK;
}

static int walk(diff_walk *w, const vt_diff_opts *o, FILE *out, vt_status *st)
{
    const int text = o->format == VT_DIFF_TEXT, all = o->all || o->format == VT_DIFF_SUMMARY || o->report_dir;
    int namew = 20;
    for (int i = 0; i < w->mr->n; i++) {
        int l = (int)strlen(w->mr->t[i].name);
        if (l > namew) namew = l;
    }
    if (namew > 56) namew = 56;
    int last_pass = -1;
    for (int i = 0; i < w->n; i++) {
        diff_row *r = &w->rows[i];
        r->er = &w->mr->t[i];
        r->eo = vt_manifest_find(w->mo, r->er->name);
        r->c.worst = -1;
        if (!vt_glob_any(o->only, o->n_only, r->er->name)) { /* outside the diff's own --only */
            r->status = DS_EXCLUDED;
            w->n_outside++;
            continue;
        }
        if (w->first_fail >= 0 && !all) {
            r->status = DS_NOT_COMPARED;
            w->n_unvisited++;
            continue;
        }
        if (!r->eo) {
            r->status = vt_manifest_only_keeps(w->mo, r->er->name) ? DS_MISSING : DS_NOT_TRACED;
        } else {
            VT_TRY(compare_one(w, r, o, st));
        }
        if (text && (o->all || w->first_fail < 0)) print_row(out, r, o, namew);
        else if (text) w->n_unshown++;
        switch (r->status) {
        case DS_OK:
            w->n_pass++;
            last_pass = i;
            break;
        case DS_NOT_TRACED: w->n_not_traced++; break;
        case DS_MISSING: w->n_missing++; break;
        default: w->n_fail++; break;
        }
        if ((r->status == DS_FAIL || r->status == DS_SHAPE || r->status == DS_MISSING) && w->first_fail < 0) {
            w->first_fail = i;
            w->last_pass_before = last_pass;
        }
    }
    return VT_OK;
}

int vt_diff(const char *ours_dir, const char *ref_dir, const vt_diff_opts *o, FILE *out, vt_status *st)
{
    vt_manifest mo, mr;
    VT_TRY(vt_manifest_read(&mr, ref_dir, st));
    if (vt_manifest_read(&mo, ours_dir, st)) {
        vt_manifest_free(&mr);
        return st->code;
    }
    diff_walk w;
    memset(&w, 0, sizeof w);
    w.ours_dir = ours_dir;
    w.ref_dir = ref_dir;
    w.mo = &mo;
    w.mr = &mr;
    w.n = mr.n;
    w.first_fail = w.last_pass_before = -1;
    vt_locator *loc = NULL;
    int rc = check_traces(&mo, &mr, o, st);
    if (rc == VT_OK && o->report_dir) rc = report_check(&mr, o, st);
    if (rc == VT_OK) rc = vt_locator_build(&loc, &mr, st);
    w.loc = loc;
    if (rc == VT_OK && !(w.rows = calloc((size_t)(mr.n ? mr.n : 1), sizeof *w.rows)))
        rc = vt_fail(st, VT_ERESOURCE, "out of memory for %d diff rows", mr.n);
    if (rc == VT_OK) warn_models(out, &w, o);
    if (rc == VT_OK && o->format != VT_DIFF_JSON) print_header(out, &w, o);
    if (rc == VT_OK) rc = walk(&w, o, out, st);
    if (rc == VT_OK) {
        if (o->format == VT_DIFF_JSON) {
            rc = diff_print_json(&w, o, out, st);
        } else {
            if (o->format == VT_DIFF_SUMMARY) diff_print_summary(&w, out);
            print_verdict(out, &w, o);
        }
    }
    if (rc == VT_OK && o->report_dir) rc = report_write(&w, o, st);
    if (rc == VT_OK) rc = (w.n_fail + w.n_missing) ? VT_EDIFF : VT_OK;
    free(w.rows);
    vt_locator_free(loc);
    vt_manifest_free(&mo);
    vt_manifest_free(&mr);
    return rc;
}
