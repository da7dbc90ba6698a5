/*
 * rope_layout.h -- a prompt written as a layout string instead of .npy files (vlmtrace rope --layout).
 *
 *     text:5 image:1x4x6 text:3 video:2x4x6@2.0
 *
 * Items are separated by spaces. `text:N` is N ordinary text tokens. `image:TxHxW` and `video:TxHxW` give
 * the grid in patches, as image_grid_thw / video_grid_thw hold it; building the sequence inserts the
 * config's vision_start token, T*H*W/merge^2 image (or video) tokens and the vision_end token. `@S` after a
 * video is its second_per_grid_ts (Qwen2.5-VL; the reference uses 1.0 for a video without one).
 *
 * Qwen3-VL writes each temporal patch of a video as its own block, preceded by a text timestamp
 * ("<1.5 seconds>"): `video:TxHxW` then becomes T blocks of timestamp tokens, vision_start, H*W/merge^2
 * video tokens, vision_end. How many tokens a timestamp is depends on the tokenizer. Given one
 * (vt_rope_stamps), the build writes each block's timestamp as Qwen3VLProcessor does -- frames at
 * `@S` seconds per temporal patch (2 / fps; 1.0 by default), block i at the mean of its two frames'
 * times, "<%.1f seconds>" -- and counts its tokens; without one, the layout says the count: `stamp:N` (N
 * text tokens per timestamp) applies to the videos after it, and a Qwen3-VL video needs one before it.
 *
 *     text:5 image:1x4x6 text:2 stamp:6 video:3x4x8 text:4          (Qwen3-VL, no tokenizer)
 *     text:5 image:1x4x6 text:2 video:3x4x8@1.0 text:4               (Qwen3-VL, with a tokenizer)
 *
 *     vt_rope_layout lay;
 *     VT_TRY(vt_rope_layout_parse(&lay, "text:3 image:1x4x4 text:2", st));   // syntax and ranges only
 *     vt_rope_layout_inputs li;
 *     rc = vt_rope_layout_build(&li, &lay, &cfg.text, &arena, st); // input_ids, grids (arena)
 *     vt_rope_layout_free(&lay);
 *
 * Both functions are pure (no I/O): parse touches only its string, so a fuzzer can call it on any
 * bytes. Every malformed layout is a VT_EINPUT with one line naming the item and what was expected.
 */
#ifndef VT_ROPE_LAYOUT_H
#define VT_ROPE_LAYOUT_H

#include <stdint.h>

#include "core/arena.h"
#include "model/model.h"
#include "core/tensor.h"

#define VT_LAYOUT_MAX_ITEMS 4096

typedef enum vt_layout_kind { VT_LAYOUT_TEXT, VT_LAYOUT_IMAGE, VT_LAYOUT_VIDEO, VT_LAYOUT_STAMP } vt_layout_kind;

typedef struct vt_layout_item {
    vt_layout_kind kind;
    int64_t n;          /* text: the number of tokens; stamp: tokens per timestamp */
    int64_t thw[3];     /* image / video: the grid in patches */
    int has_seconds;    /* video: 1 when `@S` was given */
    double seconds;     /* video: S, the second_per_grid_ts */
} vt_layout_item;

typedef struct vt_rope_layout {
    vt_layout_item *items; /* malloc'd; vt_rope_layout_free releases it */
    int n;
} vt_rope_layout;

/* The tensors a layout stands for; data in the arena. */
typedef struct vt_rope_layout_inputs {
    vt_tensor input_ids;          /* int64 [1, L] */
    vt_tensor image_grid_thw;     /* int64 [n_images, 3] (valid when has_images) */
    vt_tensor video_grid_thw;     /* int64 [n_videos, 3] (valid when has_videos) */
    vt_tensor second_per_grid_ts; /* float32 [n_videos] (valid when has_seconds: some video gave @S) */
    int has_images, has_videos, has_seconds;
    int64_t text_token_id;        /* the id used for text tokens (the lowest id that is not a special one) */
} vt_rope_layout_inputs;

/* What counts a Qwen3-VL timestamp's tokens: count(ctx, "<0.2 seconds>", &n, st) (trace/cli/cli_rope.c
 * wraps the tokenizer of ref/tokenizer/). */
typedef struct vt_rope_stamps {
    int (*count)(void *ctx, const char *text, int64_t *n, vt_status *st);
    void *ctx;
} vt_rope_stamps;

/* The text Qwen3VLProcessor puts before temporal patch i of a video sampled at S seconds per temporal
 * patch: "<%.1f seconds>" of the mean of its two frames' times (frame j at j * S / 2). buf >= 48 bytes. */
void vt_rope_layout_timestamp(char *buf, size_t cap, int64_t i, double seconds_per_patch);

/* Syntax and ranges: every number a plain decimal in [1, VT_MROPE_MAX_LEN] (S a decimal in [0, 1e6]). */
int vt_rope_layout_parse(vt_rope_layout *lay, const char *s, vt_status *st);
void vt_rope_layout_free(vt_rope_layout *lay);

/* The sequence: h and w must be multiples of spatial_merge_size, `@S` needs a Qwen2.5-VL or Qwen3-VL config,
 * `stamp:N` a Qwen3-VL config (tc->frame_blocks) and no stamps counter; a Qwen3-VL video needs one or the
 * other; the whole sequence must stay within VT_MROPE_MAX_LEN tokens. stamps may be NULL. */
int vt_rope_layout_build(vt_rope_layout_inputs *out, const vt_rope_layout *lay, const vt_mrope_config *tc,
                         const vt_rope_stamps *stamps, vt_arena *a, vt_status *st);

#endif
