/* weight_spec.c -- the list of tensors a model holds (weight_spec.h). */
#include "io/weight_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vt_weight_list_add(vt_weight_list *l, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (l->oom) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        vt_weight_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    vt_weight_spec *s = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    VT_ASSERT(len > 0 && (size_t)len < sizeof s->name);
    VT_ASSERT(ndim <= VT_MAX_DIMS);
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
}
