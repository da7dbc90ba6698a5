/*
 * report_place.c -- where each element of a tensor goes on the error map of `diff --report` (see report.h):
 * every element through the locator (the same row -> (input, t, h, w) the text report's where-lines use),
 * the largest error per place kept, per panel and per head. The drawing is report_map.c's.
 *
 * Places, by what the locator says of an element:
 *   a pixel (image.{k}.resized / normalized)   one cell per pixel of that input (frame)
 *   a patch (h, w), or a merged token           its patch cells of the input's grid, frame t
 *   a Resampler query (Qwen-VL)                 its cell of the query grid
 *   a token of a sequence (M-RoPE, LM)          its cell in the strip of its batch row, and, for an image or
 *                                               video pad, its merged token on that input's grid too
 * Panels: one per (input, t) (so one per attention segment: a frame pair of a video is its own segment),
 * one strip per batch row. Heads: when an element has a head, the per-head maps (small multiples) keep
 * the maximum over that head's slice of the row.
 *
 * Legend: E elements, C the last axis (a row), K slots (heads, or q/k/v x heads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/report.h"

/* ======================================== placing elements ======================================== */

static int pixel_dims(const vt_tensor *ref, const char *name, int64_t *H, int64_t *W)
{
    const size_t n = strlen(name);
    const int video = ref->ndim == 4;
    if (n > 8 && !strcmp(name + n - 8, ".resized") && ref->ndim >= 3) {
        *H = ref->shape[video], *W = ref->shape[video + 1];
        return 1;
    }
    if (n > 11 && !strcmp(name + n - 11, ".normalized") && ref->ndim >= 3) {
        *H = ref->shape[video + 1], *W = ref->shape[video + 2];
        return 1;
    }
    return 0;
}

static rep_panel *panel_of(rep_map *a, rep_panel_kind kind, const char *input, int64_t t, int64_t gh, int64_t gw, vt_status *st,
                       int *rc)
{
    for (int i = 0; i < a->n; i++)
        if (a->p[i].kind == kind && a->p[i].t == t && !strcmp(a->p[i].input, input)) return &a->p[i];
    if (a->n == REP_MAX_PANELS || gh <= 0 || gw <= 0 || gh * gw > (1 << 24)) {
        a->dropped++;
        return NULL;
    }
    rep_panel *p = &a->p[a->n];
    const size_t cells = (size_t)(gh * gw) * (size_t)(1 + a->n_slots);
    if (!(p->v = malloc(cells * sizeof *p->v))) {
        *rc = vt_fail(st, VT_ERESOURCE, "out of memory for an error map");
        return NULL;
    }
    for (size_t i = 0; i < cells; i++) p->v[i] = -1;
    p->kind = kind;
    snprintf(p->input, sizeof p->input, "%s", input);
    p->t = t;
    p->gh = gh;
    p->gw = gw;
    a->n++;
    return p;
}

static void put(rep_panel *p, int slot, int64_t y, int64_t x, int64_t hspan, int64_t wspan, int n_slots, float e)
{
    if (!p) return;
    for (int64_t j = y; j < y + hspan && j < p->gh; j++)
        for (int64_t i = x; i < x + wspan && i < p->gw; i++) {
            float *v0 = &p->v[j * p->gw + i];
            if (*v0 < e) *v0 = e;
            if (slot >= 0 && slot < n_slots) {
                float *vs = &p->v[(size_t)(1 + slot) * p->gh * p->gw + j * p->gw + i];
                if (*vs < e) *vs = e;
            }
        }
}

/* Is the location of two elements the same place and slot? */
static int same_place(const vt_location *a, const vt_location *b)
{
    return a->valid == b->valid && !strcmp(a->input, b->input) && a->t == b->t && a->h == b->h && a->w == b->w &&
           a->merged == b->merged && a->pixel_y == b->pixel_y && a->pixel_x == b->pixel_x && a->query == b->query &&
           a->head == b->head && a->part == b->part && a->seq == b->seq && a->pos == b->pos && a->t_all == b->t_all;
}

static int slot_of(const rep_map *a, const vt_location *l)
{
    if (l->head < 0 || a->heads <= 1 || l->head >= a->heads) return -1;
    int part = l->part == 'k' ? 1 : l->part == 'v' ? 2 : 0;
    return a->parts == 3 ? part * a->heads + l->head : l->head;
}

static int place(rep_map *a, const vt_tensor *ref, const vt_location *l, float e, vt_status *st)
{
    int rc = VT_OK;
    const int slot = slot_of(a, l);
    const int64_t m = l->merge > 0 ? l->merge : 2;
    int64_t H, W;
    if (l->pixel_y >= 0 && pixel_dims(ref, a->name, &H, &W)) {
        put(panel_of(a, REP_PIXELS, l->input, l->t > 0 ? l->t : 0, H, W, st, &rc), slot, l->pixel_y, l->pixel_x, 1, 1,
            a->n_slots, e);
    } else if (l->h >= 0 && l->grid_h > 0 && l->input[0]) {
        int64_t span = l->merged ? m : 1;
        for (int64_t t = l->t > 0 ? l->t : 0; t < (l->t_all > 1 ? l->t_all : (l->t > 0 ? l->t : 0) + 1) && rc == VT_OK; t++)
            put(panel_of(a, REP_GRID, l->input, t, l->grid_h, l->grid_w, st, &rc), slot, l->h, l->w, span, span,
                a->n_slots, e);
    } else if (l->query >= 0 && l->query_grid > 0) {
        put(panel_of(a, REP_QUERY, l->input[0] ? l->input : "image.0", 0, l->query_grid, l->query_grid, st, &rc), slot,
            l->query / l->query_grid, l->query % l->query_grid, 1, 1, a->n_slots, e);
    }
    if (rc == VT_OK && l->seq >= 0 && l->pos >= 0) {
        if (a->strip_len > 0) put(panel_of(a, REP_STRIP, "", l->seq, 1, a->strip_len, st, &rc), slot, 0, l->pos, 1, 1, a->n_slots, e);
    }
    return rc;
}

/* Every element through the locator. A row (all coordinates but the last) whose first and last element
 * land on the same place and slot lands there whole: its maximum goes in once. */
static int accumulate(rep_map *a, const vt_tensor *ref, const float *err, const vt_locator *loc, const char *name,
                      vt_status *st)
{
    const int64_t E = vt_numel(ref), C = ref->shape[ref->ndim - 1] > 0 ? ref->shape[ref->ndim - 1] : 1;
    vt_location la, lb;
    int rc = VT_OK;
    for (int64_t r0 = 0; r0 < E && rc == VT_OK; r0 += C) {
        vt_locate_quiet(loc, name, ref, r0, &la);
        vt_locate_quiet(loc, name, ref, r0 + C - 1, &lb);
        if (same_place(&la, &lb)) {
            if (!la.valid) continue;
            float e = 0;
            for (int64_t i = r0; i < r0 + C; i++) e = err[i] > e ? err[i] : e;
            rc = place(a, ref, &la, e, st);
        } else {
            for (int64_t i = r0; i < r0 + C && rc == VT_OK; i++) {
                vt_locate_quiet(loc, name, ref, i, &la);
                if (la.valid) rc = place(a, ref, &la, err[i], st);
            }
        }
    }
    return rc;
}

static int cmp_panel(const void *pa, const void *pb)
{
    const rep_panel *a = pa, *b = pb;
    if ((a->kind == REP_STRIP) != (b->kind == REP_STRIP)) return a->kind == REP_STRIP ? 1 : -1;
    int k = strncmp(a->input, b->input, 5); /* images before videos */
    if (k) return k;
    int ia = atoi(strchr(a->input, '.') ? strchr(a->input, '.') + 1 : "0"),
        ib = atoi(strchr(b->input, '.') ? strchr(b->input, '.') + 1 : "0");
    if (ia != ib) return ia < ib ? -1 : 1;
    return a->t < b->t ? -1 : a->t > b->t;
}

int report_map_build(const vt_locator *loc, const char *name, const vt_tensor *ref, const float *err, rep_map *a,
                     vt_status *st)
{
    memset(a, 0, sizeof *a);
    a->name = name;
    /* heads: what the locator says of the elements of the first rows (and of q/k/v parts) */
    const int64_t C = ref->shape[ref->ndim - 1];
    for (int64_t i = 0; i < vt_numel(ref) && i < 4 * C + 1; i++) {
        vt_location l;
        vt_locate_quiet(loc, name, ref, i, &l);
        if (l.head >= 0 && l.n_heads > a->heads) a->heads = l.n_heads;
        if (l.part) a->parts = 3;
    }
    if (a->heads > 1) a->n_slots = (a->parts == 3 ? 3 : 1) * a->heads;
    if (a->n_slots > REP_MAX_SLOTS) a->n_slots = 0, a->heads = 0;
    if (!a->parts) a->parts = 1;
    vt_location l;
    vt_locate_quiet(loc, name, ref, 0, &l);
    if (l.seq >= 0) /* token tensors: the strip is as long as the axis along which the position moves */
        for (int d = 0; d < ref->ndim; d++) {
            vt_location l2;
            int64_t stride = 1;
            for (int e = d + 1; e < ref->ndim; e++) stride *= ref->shape[e];
            if (ref->shape[d] < 2) continue;
            vt_locate_quiet(loc, name, ref, stride, &l2);
            if (l2.pos == l.pos + 1) a->strip_len = l.pos + ref->shape[d]; /* generate.*: the steps start at L - 1 */
        }
    int rc = accumulate(a, ref, err, loc, name, st);
    if (rc == VT_OK) qsort(a->p, (size_t)a->n, sizeof a->p[0], cmp_panel);
    if (rc) report_map_free(a);
    return rc;
}

void report_map_free(rep_map *a)
{
    for (int i = 0; i < a->n; i++) free(a->p[i].v);
    a->n = 0;
}
