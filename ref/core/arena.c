/* arena.c -- chunked bump allocator (see arena.h). */
#include "core/arena.h"

#include <stdint.h>
#include <string.h>

#define VT_ALIGN 64
#define VT_MIN_CHUNK ((size_t)1 << 20)

struct vt_chunk {
    vt_chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    unsigned char *data; /* VT_ALIGN-aligned start inside the same malloc block */
};

void vt_arena_init(vt_arena *a, size_t limit)
{
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

static size_t round_up(size_t n) { return (n + VT_ALIGN - 1) & ~(size_t)(VT_ALIGN - 1); }

void *vt_arena_alloc(vt_arena *a, size_t bytes, vt_status *st)
{
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX / 2) {
        vt_fail(st, VT_ERESOURCE, "allocation of %zu bytes refused (too large)", bytes);
        return NULL;
    }
    size_t need = round_up(bytes);
    if (a->limit && a->in_use + need > a->limit) {
        vt_fail(st, VT_ERESOURCE, "scratch arena: allocation of %zu bytes would exceed the arena limit of %zu bytes "
                "(%zu in use)", bytes, a->limit, a->in_use);
        return NULL;
    }
    vt_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > VT_MIN_CHUNK ? need : VT_MIN_CHUNK;
        unsigned char *raw = malloc(sizeof(vt_chunk) + VT_ALIGN + size);
        if (!raw) {
            vt_fail(st, VT_ERESOURCE, "scratch arena: out of memory allocating %zu bytes (%zu in use)", bytes,
                    a->in_use);
            return NULL;
        }
        c = (vt_chunk *)raw;
        uintptr_t start = (uintptr_t)(raw + sizeof(vt_chunk));
        c->data = (unsigned char *)((start + VT_ALIGN - 1) & ~(uintptr_t)(VT_ALIGN - 1));
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->in_use += need;
    if (a->in_use > a->peak) a->peak = a->in_use;
    return p;
}

void *vt_arena_calloc(vt_arena *a, size_t bytes, vt_status *st)
{
    void *p = vt_arena_alloc(a, bytes, st);
    if (p) memset(p, 0, bytes);
    return p;
}

vt_arena_pos vt_arena_mark(const vt_arena *a)
{
    vt_arena_pos pos = {a->head, a->head ? a->head->used : 0, a->in_use};
    return pos;
}

void vt_arena_reset(vt_arena *a, vt_arena_pos pos)
{
    while (a->head && a->head != pos.chunk) {
        vt_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    VT_ASSERT(a->head == pos.chunk); /* a mark from another arena, or one already reset past */
    if (a->head) a->head->used = pos.used;
    a->in_use = pos.in_use;
}

void vt_arena_free(vt_arena *a)
{
    vt_arena_pos empty = {NULL, 0, 0};
    vt_arena_reset(a, empty);
    a->peak = 0;
}
