/* compare.c -- the comparison rule of docs/design.md (see compare.h). */
#include "diff/compare.h"

#include <math.h>
#include <string.h>

double vt_elem(const vt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VT_F32: return ((const float *)t->data)[i];
    case VT_I32: return ((const int32_t *)t->data)[i];
    case VT_I64: return (double)((const int64_t *)t->data)[i];
    case VT_U8: return ((const uint8_t *)t->data)[i];
    }
    return 0;
}

static int64_t ielem(const vt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VT_I32: return ((const int32_t *)t->data)[i];
    case VT_I64: return ((const int64_t *)t->data)[i];
    case VT_U8: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

char *vt_coords_str(char *buf, size_t n, const vt_tensor *t, int64_t flat)
{
    int64_t c[VT_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t s = t->shape[d] ? t->shape[d] : 1;
        c[d] = flat % s;
        flat /= s;
    }
    return vt_shape_str(buf, n, t->ndim, c);
}

void vt_compare(const vt_tensor *ours, const vt_tensor *ref, const vt_cmp_opts *o, vt_cmp_result *r)
{
    memset(r, 0, sizeof *r);
    r->worst = -1;
    int same = ours->dtype == ref->dtype && ours->ndim == ref->ndim;
    for (int i = 0; same && i < ref->ndim; i++) same = ours->shape[i] == ref->shape[i];
    if (!same) {
        char a[160], b[160];
        snprintf(r->why, sizeof r->why, "ours is %s %s, reference is %s %s", vt_dtype_name(ours->dtype),
                 vt_shape_str(a, sizeof a, ours->ndim, ours->shape), vt_dtype_name(ref->dtype),
                 vt_shape_str(b, sizeof b, ref->ndim, ref->shape));
        return;
    }
    r->shape_ok = 1;
    int64_t n = vt_numel(ref);
    r->numel = n;
    double dot = 0, no = 0, nr = 0, worst_score = -1;
    int is_float = ref->dtype == VT_F32;
    for (int64_t i = 0; i < n; i++) {
        double rv = vt_elem(ref, i);
        if (isfinite(rv) && fabs(rv) > r->max_abs_ref) r->max_abs_ref = fabs(rv);
    }
    r->atol_eff = is_float ? o->atol * (r->max_abs_ref > 1 ? r->max_abs_ref : 1) : 0;
    for (int64_t i = 0; i < n; i++) {
        double ov = vt_elem(ours, i), rv = vt_elem(ref, i), score;
        int bad;
        if (!is_float) {
            int64_t oi = ielem(ours, i), ri = ielem(ref, i);
            double d = fabs((double)oi - (double)ri);
            bad = oi != ri;
            score = d;
            if (d > r->max_abs) r->max_abs = d;
            if (ri != 0 && d / fabs((double)ri) > r->max_rel) r->max_rel = d / fabs((double)ri);
        } else if (isnan(rv) || isnan(ov) || isinf(rv) || isinf(ov)) {
            bad = !((isnan(rv) && isnan(ov)) || (isinf(rv) && ov == rv));
            score = bad ? INFINITY : 0;
            if (bad) r->max_abs = INFINITY;
        } else {
            double d = fabs(ov - rv);
            double allow = r->atol_eff + o->rtol * fabs(rv);
            bad = d > allow;
            score = allow > 0 ? d / allow : (d > 0 ? INFINITY : 0);
            if (d > r->max_abs) r->max_abs = d;
            if (rv != 0 && d / fabs(rv) > r->max_rel) r->max_rel = d / fabs(rv);
        }
        if (bad) {
            if (r->n_first_bad < 3) r->first_bad[r->n_first_bad++] = i;
            r->n_bad++;
        }
        if (score > worst_score) {
            worst_score = score;
            r->worst = i;
            r->ours_w = ov;
            r->ref_w = rv;
        }
        if (isfinite(ov) && isfinite(rv)) {
            dot += ov * rv;
            no += ov * ov;
            nr += rv * rv;
            r->sum_ours += ov;
            r->sum_ref += rv;
        }
    }
    r->cosine = (no == 0 && nr == 0) ? 1.0 : (no == 0 || nr == 0) ? 0.0 : dot / (sqrt(no) * sqrt(nr));
    r->pass = r->n_bad == 0;
}
