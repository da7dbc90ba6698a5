/* diff.c -- comparing two trace directories (see diff.h). */
#include "diff.h"

#include <math.h>
#include <string.h>

#include "manifest.h"

vt_diff_opts vt_diff_defaults(void)
{
    vt_diff_opts o;
    memset(&o, 0, sizeof o);
    o.cmp.atol = VT_DEFAULT_ATOL;
    o.cmp.rtol = VT_DEFAULT_RTOL;
    return o;
}

enum { R_OK, R_FAIL, R_MISSING, R_SHAPE, R_NOT_TRACED, R_SKIPPED };

static void print_row_head(FILE *out, const char *tag, const vt_manifest_entry *e, int namew)
{
    char sb[160];
    fprintf(out, "  %-8s %-*s %-7s %-16s", tag, namew, e->name, vt_dtype_name(e->dtype),
            vt_shape_str(sb, sizeof sb, e->ndim, e->shape));
}

static void print_values(FILE *out, const vt_tensor *o, const vt_tensor *r, const vt_cmp_result *c, const vt_cmp_opts *opt)
{
    char cb[160];
    int is_float = r->dtype == VT_F32;
    if (c->worst >= 0) {
        double d = fabs(c->ours_w - c->ref_w);
        if (is_float)
            fprintf(out, "           worst element %s: ours %.9g, reference %.9g (|diff| %.3g, allowed %.3g)\n",
                    vt_coords_str(cb, sizeof cb, r, c->worst), c->ours_w, c->ref_w, d,
                    c->atol_eff + opt->rtol * fabs(c->ref_w));
        else
            fprintf(out, "           worst element %s: ours %.0f, reference %.0f\n",
                    vt_coords_str(cb, sizeof cb, r, c->worst), c->ours_w, c->ref_w);
    }
    fprintf(out, "           %lld of %lld elements out of tolerance; first:", (long long)c->n_bad, (long long)c->numel);
    for (int i = 0; i < c->n_first_bad; i++)
        fprintf(out, " %s ours %.7g / reference %.7g%s", vt_coords_str(cb, sizeof cb, r, c->first_bad[i]),
                vt_elem(o, c->first_bad[i]), vt_elem(r, c->first_bad[i]), i + 1 < c->n_first_bad ? ";" : "");
    fprintf(out, "\n           sum ours %.9g, reference %.9g\n", c->sum_ours, c->sum_ref);
}

int vt_diff(const char *ours_dir, const char *ref_dir, const vt_diff_opts *o, FILE *out, vt_status *st)
{
    vt_manifest mo, mr;
    VT_TRY(vt_manifest_read(&mr, ref_dir, st));
    if (vt_manifest_read(&mo, ours_dir, st)) {
        vt_manifest_free(&mr);
        return st->code;
    }
    /* refuse broken traces before printing anything: every entry's header must agree with its manifest */
    int rc = VT_OK;
    for (int i = 0; i < mr.n && rc == VT_OK; i++) {
        if (!vt_glob_any(o->only, o->n_only, mr.t[i].name)) continue;
        if ((rc = vt_manifest_check(&mr, &mr.t[i], st))) vt_wrap(st, "reference ");
        const vt_manifest_entry *eo = vt_manifest_find(&mo, mr.t[i].name);
        if (rc == VT_OK && eo && (rc = vt_manifest_check(&mo, eo, st))) vt_wrap(st, "ours ");
    }
    if (rc) {
        vt_manifest_free(&mo);
        vt_manifest_free(&mr);
        return rc;
    }
    int namew = 20;
    for (int i = 0; i < mr.n; i++) {
        int l = (int)strlen(mr.t[i].name);
        if (l > namew) namew = l;
    }
    if (namew > 56) namew = 56;
    fprintf(out, "ours:      %s\nreference: %s\n", ours_dir, ref_dir);
    fprintf(out, "rule: integers exact; float32 |ours - ref| <= %g * max(1, max|ref|) + %g * |ref|\n\n", o->cmp.atol,
            o->cmp.rtol);

    int n_pass = 0, n_fail = 0, n_missing = 0, n_not_traced = 0, n_unvisited = 0, n_outside = 0;
    const char *first_fail = NULL, *last_pass_before = NULL, *last_pass = NULL;
    for (int i = 0; i < mr.n; i++) {
        const vt_manifest_entry *er = &mr.t[i];
        if (!vt_glob_any(o->only, o->n_only, er->name)) { /* outside the diff's own --only */
            n_outside++;
            continue;
        }
        if (first_fail && !o->all) {
            n_unvisited++;
            continue;
        }
        const vt_manifest_entry *eo = vt_manifest_find(&mo, er->name);
        if (!eo) {
            if (!vt_manifest_only_keeps(&mo, er->name)) {
                n_not_traced++;
                if (!o->quiet) {
                    print_row_head(out, "-", er, namew);
                    fprintf(out, " not traced (excluded by ours' --only)\n");
                }
                continue;
            }
            print_row_head(out, "MISSING", er, namew);
            fprintf(out, " not in ours\n");
            n_missing++;
            if (!first_fail) first_fail = er->name, last_pass_before = last_pass;
            continue;
        }
        vt_tensor tr, to;
        void *br = NULL, *bo = NULL;
        if (vt_manifest_load(&mr, er, &tr, &br, st)) {
            rc = vt_wrap(st, "reference ");
            break;
        }
        if (vt_manifest_load(&mo, eo, &to, &bo, st)) {
            free(br);
            rc = vt_wrap(st, "ours ");
            break;
        }
        vt_cmp_result c;
        vt_compare(&to, &tr, &o->cmp, &c);
        if (!c.shape_ok) {
            print_row_head(out, "SHAPE", er, namew);
            fprintf(out, " %s\n", c.why);
        } else if (c.pass) {
            if (!o->quiet) {
                print_row_head(out, "ok", er, namew);
                if (tr.dtype == VT_F32)
                    fprintf(out, " max_abs %.2e  max_rel %.2e  cos %.7f\n", c.max_abs, c.max_rel, c.cosine);
                else
                    fprintf(out, " exact\n");
            }
        } else {
            print_row_head(out, "FAIL", er, namew);
            if (tr.dtype == VT_F32)
                fprintf(out, " max_abs %.2e  max_rel %.2e  cos %.7f\n", c.max_abs, c.max_rel, c.cosine);
            else
                fprintf(out, " max_abs %.0f  (integers must match exactly)\n", c.max_abs);
            print_values(out, &to, &tr, &c, &o->cmp);
        }
        free(br);
        free(bo);
        if (c.shape_ok && c.pass) {
            n_pass++;
            last_pass = er->name;
        } else {
            n_fail++;
            if (!first_fail) first_fail = er->name, last_pass_before = last_pass;
        }
    }
    if (rc == VT_OK) {
        fprintf(out, "\n");
        if (first_fail) {
            fprintf(out, "first divergence: %s (last passing before it: %s)\n", first_fail,
                    last_pass_before ? last_pass_before : "none");
            if (!o->all && n_unvisited)
                fprintf(out, "stopped at the first failure; %d later tensor(s) not compared (--all compares them)\n",
                        n_unvisited);
        }
        int only_ours = 0;
        for (int i = 0; i < mo.n; i++)
            if (!vt_manifest_find(&mr, mo.t[i].name)) {
                if (!only_ours++) fprintf(out, "only in ours (not compared):");
                if (only_ours <= 12) fprintf(out, " %s", mo.t[i].name);
            }
        if (only_ours > 12) fprintf(out, " ... (%d in all)", only_ours);
        if (only_ours) fprintf(out, "\n");
        if (n_fail + n_missing == 0)
            fprintf(out, "PASS: %d tensor(s) match", n_pass);
        else
            fprintf(out, "FAIL: %d differ, %d missing, %d match", n_fail, n_missing, n_pass);
        if (n_not_traced) fprintf(out, ", %d not traced by ours (its --only)", n_not_traced);
        if (n_outside) fprintf(out, ", %d not traced (outside the diff's --only)", n_outside);
        fprintf(out, "\n");
        rc = (n_fail + n_missing) ? VT_EDIFF : VT_OK;
    }
    vt_manifest_free(&mo);
    vt_manifest_free(&mr);
    return rc;
}
