/*
 * weight_spec.h -- a list of the tensors a model holds (canonical checkpoint key and the shape its config
 * implies), which each family writes for its config and `vlmtrace inspect` / synth check against.
 *
 *     vt_weight_list l = {0};
 *     vt_weight_list_add(&l, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
 *     ...
 *     if (l.oom) ...;  free(l.v);
 *
 * May include: ref/core/ (and ref/io/).
 */
#ifndef VT_WEIGHT_SPEC_H
#define VT_WEIGHT_SPEC_H

#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

/* One tensor the family's reference module holds (canonical checkpoint key) and its shape. */
typedef struct vt_weight_spec {
    char name[112];
    int ndim;
    int64_t shape[VT_MAX_DIMS];
} vt_weight_spec;

/* A growing array (malloc'd; the owner frees v). oom is set once an append failed; later appends do nothing. */
typedef struct vt_weight_list {
    vt_weight_spec *v;
    int n, cap;
    int oom;
} vt_weight_list;

void vt_weight_list_add(vt_weight_list *l, int ndim, const int64_t *shape, const char *fmt, ...) VT_PRINTF(4, 5);

#endif
