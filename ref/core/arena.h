/*
 * arena.h -- the scratch arena: one per forward pass, every intermediate allocated from it.
 *
 *     vt_arena a;
 *     vt_arena_init(&a, 0);                       // 0: no byte limit
 *     float *x = vt_arena_alloc(&a, n * sizeof(float), st);  if (!x) return st->code;
 *     vt_arena_pos mark = vt_arena_mark(&a);      // ... per-block temporaries ...
 *     vt_arena_reset(&a, mark);                   // frees everything allocated after the mark
 *     vt_arena_free(&a);                          // frees everything
 *
 * Memory comes in chunks from malloc; a failed malloc or a request past the limit is reported as
 * VT_ERESOURCE with the number of bytes asked for, never a crash. Allocations are 64-byte aligned.
 */
#ifndef VT_ARENA_H
#define VT_ARENA_H

#include <stddef.h>

#include "core/status.h"

typedef struct vt_chunk vt_chunk;

typedef struct vt_arena {
    vt_chunk *head;    /* newest chunk first */
    size_t in_use;     /* bytes handed out and not reset */
    size_t peak;       /* high-water mark of in_use */
    size_t limit;      /* 0 = unlimited */
} vt_arena;

typedef struct vt_arena_pos {
    vt_chunk *chunk;
    size_t used;
    size_t in_use;
} vt_arena_pos;

void vt_arena_init(vt_arena *a, size_t limit);
void *vt_arena_alloc(vt_arena *a, size_t bytes, vt_status *st);
/* Zero-filled allocation. */
void *vt_arena_calloc(vt_arena *a, size_t bytes, vt_status *st);
vt_arena_pos vt_arena_mark(const vt_arena *a);
void vt_arena_reset(vt_arena *a, vt_arena_pos pos);
void vt_arena_free(vt_arena *a);

#endif
