/*
 * locate.h -- where an element of a traced tensor sits in the model, for `vlmtrace diff`: which input
 * and which patch (t, h, w), which attention head (and q / k / v part), which attention segment or
 * window. Everything is derived from the reference trace itself: its grids (image_grid_thw,
 * video_grid_thw, image.{k}.grid_thw, image_grid_hws), cu_seqlens / cu_window_seqlens, window_index and
 * the shapes of its q_rope tensors; plus, when the reference directory has one, its config.json (Qwen-VL's
 * head count, Qwen2.5-VL's fullatt_block_indexes).
 *
 *     vt_locator *l;
 *     VT_TRY(vt_locator_build(&l, &ref_manifest, st));     // reads the small integer tensors once
 *     vt_location where;
 *     vt_locate(l, "visual.blocks.0.attn.out", &ref_tensor, worst_flat, &where);
 *     if (where.valid) puts(where.text);   // "row 37 = image.1 patch (t 0, h 3, w 5); head 1 of 2; ..."
 *     vt_locator_free(l);
 *
 * Row orders handled (TRACE_SPEC): Qwen2-VL / Qwen2.5-VL / Qwen3-VL patch rows come in 2x2 merge-block order
 * (t, h/2, w/2, 2, 2); Qwen2.5-VL block tensors, patch_embed.windowed and the merger up to visual.merger
 * are in window order (rule 7) and go back through window_index; merged tokens (merger output) name their
 * 2x2 block of patches. Kimi-VL rows are row-major per image; Qwen-VL resblock tensors are [L, B, W]
 * over a g x g grid. A tensor the locator does not know gives valid = 0.
 */
#ifndef VT_LOCATE_H
#define VT_LOCATE_H

#include <stdint.h>

#include "format/manifest.h"
#include "core/tensor.h"

typedef struct vt_locator vt_locator;

typedef struct vt_location {
    int valid;            /* 0: nothing known about this tensor's layout */
    int64_t row;          /* the token / patch row of the element (-1 if not row-indexed) */
    char input[32];       /* "image.1", "video.0" ("" unknown) */
    int64_t t, h, w;      /* the patch inside that input (t = -1 for Kimi-VL / Qwen-VL, which have none);
                             for a merged token, its top-left patch */
    int merged;           /* 1: a merged token, patches (h..h+merge-1, w..w+merge-1) */
    int64_t t_all;        /* > 1: the element is the same patch (h, w) of every temporal patch t < t_all
                             (Qwen3-VL's position-interpolation table of a video), 0 otherwise */
    int64_t token;        /* the merged token (original order) for merger-side tensors, -1 otherwise */
    int64_t sub;          /* which patch of the merged token's block ([M, U, D] tensors), -1 otherwise */
    int merge;            /* spatial merge size (2) */
    int window_order;     /* 1: the row was in window order and went back through window_index */
    int64_t pixel_y, pixel_x; /* for image.{k}.resized / normalized: the pixel (-1 otherwise) */
    int64_t query;        /* Qwen-VL Resampler tensors: the query (-1 otherwise) ... */
    int query_grid;       /* ... of a query_grid x query_grid grid */
    int head, n_heads;    /* attention head of the element (-1 / 0 unknown) */
    char part;            /* 'q', 'k', 'v' for fused qkv tensors, 0 otherwise */
    int segment, n_segments;     /* attention segment (cu_seqlens), -1 unknown */
    int64_t seg_lo, seg_hi;      /* its rows [lo, hi) */
    const char *seg_source;      /* "visual.cu_seqlens", "vision_tower.encoder.cu_seqlens", "batch" */
    char seg_input[64];          /* what the segment is: "image.1", "video.0 t 1" */
    int window, n_windows;       /* Qwen2.5-VL window (cu_window_seqlens), -1 unknown */
    int64_t win_lo, win_hi;
    int block;                   /* block index parsed from the name, -1 if none */
    int block_attention;         /* Qwen2.5-VL with config.json: 1 full, 0 window, -1 unknown */
    int64_t grid_h, grid_w;      /* the patch grid (h, w) of `input` lives in (0 unknown) */
    int64_t seq, pos;            /* token tensors (M-RoPE, language model): batch row and position, -1 */
    char token_kind;             /* ... and what the token is: 't' text, 'i' image pad, 'v' video pad,
                                    's' vision_start, 'e' vision_end, 'g' generated (generate traces), 0 unknown */
    char text[640];              /* all of the above as one line */
} vt_location;

/* Build from the reference manifest (reads its grid / cu / window_index tensors and config.json when
 * present). Never fails on a trace it does not understand: the locator then knows less. VT_ERESOURCE on
 * allocation failure, a read error of a tensor the manifest lists passes its status on. */
int vt_locator_build(vt_locator **out, const vt_manifest *ref, vt_status *st);
void vt_locator_free(vt_locator *l);

/* Locate element `flat` of tensor `name` whose reference tensor is `ref` (its shape is what matters). */
void vt_locate(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *out);

/* The same without the one-line text (o->text stays ""; o->valid says whether anything was placed):
 * for pictures that place every element of a tensor (diff --report). */
void vt_locate_quiet(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *out);

/* The Qwen2.5-VL attention window (cu_window_seqlens) that holds patch (t, h, w) of input `input`, -1 when
 * the trace has no windows or the patch is outside every input. */
int vt_locate_window(const vt_locator *l, const char *input, int64_t t, int64_t h, int64_t w);

/* The inputs the locator knows, in row order: name ("image.0"), patch grid (t, h, w); 0 when i is past
 * the last. Qwen-VL's batch images are not listed (their grid is the fixed g x g). */
int vt_locator_input(const vt_locator *l, int i, const char **name, int64_t *t, int64_t *h, int64_t *w);

/* The spatial merge size (2), and config.json's mrope_section (0 when unknown). */
int vt_locator_merge(const vt_locator *l);
int vt_locator_mrope_section(const vt_locator *l, int sec[3]);

/* One line describing what the locator derived from the trace ("Qwen2.5-VL: 1 input, window_index,
 * cu_window_seqlens, 4 heads"), for the report header. */
const char *vt_locator_summary(const vt_locator *l);

#endif
