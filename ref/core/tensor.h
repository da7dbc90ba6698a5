/*
 * tensor.h -- the one tensor type of vlmtrace: a contiguous, row-major (C order) array of up to 9 dims.
 *
 * A vt_tensor never owns its data: it is a shape and a pointer into an arena, a weight buffer or a
 * caller's array. Shapes follow numpy/PyTorch: shape[0] is the slowest axis.
 *
 *     int64_t n = vt_numel(&t);
 *     vt_tensor x = vt_tensor_of(VT_F32, buf, VT_DIMS(320, 32));     // a view, no copy
 *     VT_TRY(vt_reshape(&x, VT_DIMS(320, 2, 16), st));                 // same data, new shape
 *     VT_TRY(vt_permute(&y, &x, VT_PERM(1, 0, 2), arena, st));         // new contiguous tensor
 *
 * The 9-D patchify of Qwen2-VL and the window index of Qwen2.5-VL are written with vt_reshape and
 * vt_permute, so they read like the reference's reshape/transpose lines.
 */
#ifndef VT_TENSOR_H
#define VT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define VT_MAX_DIMS 9

typedef enum vt_dtype { VT_F32 = 0, VT_I32 = 1, VT_I64 = 2, VT_U8 = 3 } vt_dtype;

typedef struct vt_tensor {
    vt_dtype dtype;
    int ndim;                     /* 0..VT_MAX_DIMS; 0 is a scalar with one element */
    int64_t shape[VT_MAX_DIMS];
    void *data;                   /* not owned */
} vt_tensor;

struct vt_arena;

/* VT_DIMS(a, b, c) expands to "3, (const int64_t[]){a, b, c}": an ndim and a shape array. */
#define VT_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}
/* VT_PERM(0, 3, 6, ...) expands to "n, (const int[]){...}": an axis order for vt_permute. */
#define VT_PERM(...) (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}

size_t vt_dtype_size(vt_dtype dt);
/* "float32", "int32", "int64", "uint8": the names manifests use. */
const char *vt_dtype_name(vt_dtype dt);
/* Parse a manifest dtype name; returns 0 on success, -1 if unknown. */
int vt_dtype_parse(const char *name, vt_dtype *out);

/* Number of elements of a shape; -1 if a dim is negative or the product overflows int64. */
int64_t vt_shape_numel(int ndim, const int64_t *shape);
int64_t vt_numel(const vt_tensor *t);
size_t vt_nbytes(const vt_tensor *t);
/* Format a shape as "[320, 1176]" into buf; returns buf. */
char *vt_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* A view of existing data with the given shape (programmer error if ndim is out of range). */
vt_tensor vt_tensor_of(vt_dtype dt, void *data, int ndim, const int64_t *shape);
/* Allocate a tensor from the arena (contents uninitialised). Fails with VT_ERESOURCE on exhaustion,
 * VT_EINPUT if the shape is invalid. */
int vt_tensor_alloc(vt_tensor *out, struct vt_arena *a, vt_dtype dt, int ndim, const int64_t *shape,
                    vt_status *st);
/* Same, filled with zeros. */
int vt_tensor_zeros(vt_tensor *out, struct vt_arena *a, vt_dtype dt, int ndim, const int64_t *shape,
                    vt_status *st);

/* Give t a new shape with the same number of elements (torch.reshape on a contiguous tensor).
 * One dim may be -1 and is inferred. */
int vt_reshape(vt_tensor *t, int ndim, const int64_t *shape, vt_status *st);

/* dst = src.permute(perm) made contiguous (torch.permute(...).contiguous(), numpy.transpose).
 * dst is allocated from the arena. perm must be a permutation of 0..ndim-1. */
int vt_permute(vt_tensor *dst, const vt_tensor *src, int nperm, const int *perm, struct vt_arena *a,
               vt_status *st);

/* Element pointers for the common cases (no bounds check; callers index within the shape). */
static inline float *vt_f32(const vt_tensor *t) { return (float *)t->data; }
static inline int64_t *vt_i64(const vt_tensor *t) { return (int64_t *)t->data; }
static inline int32_t *vt_i32(const vt_tensor *t) { return (int32_t *)t->data; }
static inline uint8_t *vt_u8(const vt_tensor *t) { return (uint8_t *)t->data; }

/* A float32 [a, b] view of p (for handing a row-major matrix to the tap). */
static inline vt_tensor vt_view2(const float *p, int64_t a, int64_t b)
{
    return vt_tensor_of(VT_F32, (void *)p, VT_DIMS(a, b));
}

#endif
