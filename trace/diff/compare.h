/*
 * compare.h -- the comparison rule of docs/design.md ("The comparison rule"), shared by `vlmtrace diff` and every golden test.
 *
 * Integer and uint8 tensors must be equal exactly. A float32 element passes when
 *     |ours - ref| <= atol + rtol * |ref|,   atol = A * max(1, max|ref|)   (A = 1e-5, rtol = 1e-4)
 * NaN passes only against NaN, an infinity only against the same infinity.
 * The result names the worst element: the one furthest outside (or closest to the edge of) its
 * allowance |ours - ref| / (atol + rtol |ref|).
 */
#ifndef VT_COMPARE_H
#define VT_COMPARE_H

#include "core/tensor.h"

#define VT_DEFAULT_ATOL 1e-5
#define VT_DEFAULT_RTOL 1e-4

typedef struct vt_cmp_opts {
    double atol; /* A: the absolute allowance is A * max(1, max|ref|) */
    double rtol;
} vt_cmp_opts;

typedef struct vt_cmp_result {
    int pass;
    int shape_ok;        /* 0: dtype or shape differ; `why` says how; nothing else is filled */
    char why[256];
    int64_t numel;
    int64_t n_bad;       /* elements outside the tolerance */
    int64_t worst;       /* flat index of the worst element (-1 if the tensor is empty) */
    double ours_w, ref_w;/* values at the worst element */
    int64_t first_bad[3];/* flat indices of the first out-of-tolerance elements */
    int n_first_bad;
    double max_abs, max_rel; /* max |diff|; max |diff|/|ref| over ref != 0 */
    double cosine;       /* of the two tensors as flat vectors (1 when both are all zero) */
    double atol_eff;     /* A * max(1, max|ref|) */
    double sum_ours, sum_ref, max_abs_ref;
} vt_cmp_result;

void vt_compare(const vt_tensor *ours, const vt_tensor *ref, const vt_cmp_opts *o, vt_cmp_result *r);
/* Element value as a double, whatever the dtype. */
double vt_elem(const vt_tensor *t, int64_t i);
/* Flat index -> coordinates, formatted "[3, 17]". */
char *vt_coords_str(char *buf, size_t n, const vt_tensor *t, int64_t flat);

#endif
