/* tensor.c -- shapes, reshape and the generic permute (see tensor.h). */
#include "core/tensor.h"

#include <string.h>

#include "core/arena.h"

size_t vt_dtype_size(vt_dtype dt)
{
    switch (dt) {
    case VT_F32: return 4;
    case VT_I32: return 4;
    case VT_I64: return 8;
    case VT_U8: return 1;
    }
    VT_ASSERT(!"unknown dtype");
    return 0;
}

const char *vt_dtype_name(vt_dtype dt)
{
    switch (dt) {
    case VT_F32: return "float32";
    case VT_I32: return "int32";
    case VT_I64: return "int64";
    case VT_U8: return "uint8";
    }
    return "?";
}

int vt_dtype_parse(const char *name, vt_dtype *out)
{
    static const vt_dtype all[] = {VT_F32, VT_I32, VT_I64, VT_U8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, vt_dtype_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

int64_t vt_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

int64_t vt_numel(const vt_tensor *t) { return vt_shape_numel(t->ndim, t->shape); }

size_t vt_nbytes(const vt_tensor *t) { return (size_t)vt_numel(t) * vt_dtype_size(t->dtype); }

char *vt_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t off = 0;
    off += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
    return buf;
}

vt_tensor vt_tensor_of(vt_dtype dt, void *data, int ndim, const int64_t *shape)
{
    VT_ASSERT(ndim >= 0 && ndim <= VT_MAX_DIMS);
    vt_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.data = data;
    return t;
}

int vt_tensor_alloc(vt_tensor *out, struct vt_arena *a, vt_dtype dt, int ndim, const int64_t *shape,
                    vt_status *st)
{
    char sb[160];
    if (ndim < 0 || ndim > VT_MAX_DIMS)
        return vt_fail(st, VT_EINPUT, "tensor of %d dims (at most %d)", ndim, VT_MAX_DIMS);
    int64_t n = vt_shape_numel(ndim, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / 8)
        return vt_fail(st, VT_EINPUT, "invalid tensor shape %s", vt_shape_str(sb, sizeof sb, ndim, shape));
    void *p = vt_arena_alloc(a, (size_t)n * vt_dtype_size(dt), st);
    if (!p) return st->code;
    *out = vt_tensor_of(dt, p, ndim, shape);
    return VT_OK;
}

int vt_tensor_zeros(vt_tensor *out, struct vt_arena *a, vt_dtype dt, int ndim, const int64_t *shape,
                    vt_status *st)
{
    VT_TRY(vt_tensor_alloc(out, a, dt, ndim, shape, st));
    memset(out->data, 0, vt_nbytes(out));
    return VT_OK;
}

int vt_reshape(vt_tensor *t, int ndim, const int64_t *shape, vt_status *st)
{
    char a[160], b[160];
    if (ndim < 0 || ndim > VT_MAX_DIMS)
        return vt_fail(st, VT_EINPUT, "reshape to %d dims (at most %d)", ndim, VT_MAX_DIMS);
    int64_t want[VT_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        want[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return vt_fail(st, VT_EINPUT, "reshape: more than one -1 dim");
            infer = i;
        } else if (shape[i] < 0) {
            return vt_fail(st, VT_EINPUT, "reshape: negative dim %lld", (long long)shape[i]);
        } else {
            known *= shape[i];
        }
    }
    int64_t n = vt_numel(t);
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            return vt_fail(st, VT_EINPUT, "cannot reshape %s into %s", vt_shape_str(a, sizeof a, t->ndim, t->shape),
                           vt_shape_str(b, sizeof b, ndim, shape));
        want[infer] = n / known;
    }
    if (vt_shape_numel(ndim, want) != n)
        return vt_fail(st, VT_EINPUT, "cannot reshape %s into %s", vt_shape_str(a, sizeof a, t->ndim, t->shape),
                       vt_shape_str(b, sizeof b, ndim, want));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = want[i];
    for (int i = ndim; i < VT_MAX_DIMS; i++) t->shape[i] = 0;
    return VT_OK;
}

/* dst[j0..jn] = src[i_perm...]: walk the destination in order with an odometer over its dims and
 * advance the source offset by the matching source stride. */
int vt_permute(vt_tensor *dst, const vt_tensor *src, int nperm, const int *perm, struct vt_arena *a,
               vt_status *st)
{
    int nd = src->ndim;
    if (nperm != nd) return vt_fail(st, VT_EINPUT, "permute: %d axes given for a %d-d tensor", nperm, nd);
    int seen[VT_MAX_DIMS] = {0};
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]])
            return vt_fail(st, VT_EINPUT, "permute: axis order is not a permutation of 0..%d", nd - 1);
        seen[perm[i]] = 1;
    }
    int64_t sstride[VT_MAX_DIMS], dshape[VT_MAX_DIMS], dstride_src[VT_MAX_DIMS];
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sstride[i] = s;
        s *= src->shape[i];
    }
    for (int i = 0; i < nd; i++) {
        dshape[i] = src->shape[perm[i]];
        dstride_src[i] = sstride[perm[i]];
    }
    VT_TRY(vt_tensor_alloc(dst, a, src->dtype, nd, dshape, st));
    int64_t n = vt_numel(src);
    size_t es = vt_dtype_size(src->dtype);
    const unsigned char *sp = src->data;
    unsigned char *dp = dst->data;
    int64_t idx[VT_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t j = 0; j < n; j++) {
        memcpy(dp + (size_t)j * es, sp + (size_t)off * es, es);
        for (int d = nd - 1; d >= 0; d--) { /* odometer step over destination dims */
            idx[d]++;
            off += dstride_src[d];
            if (idx[d] < dshape[d]) break;
            off -= dstride_src[d] * dshape[d];
            idx[d] = 0;
        }
    }
    return VT_OK;
}
