/*
 * viz_qwen3.h -- the --viz pictures of `vlmtrace run` for Qwen3-VL (trace/viz/viz_qwen3.c).
 *
 * Each writes one PNG into the trace directory and records it in the manifest's "pictures":
 *   vt_viz_qwen3_pos_embed  one image (or a video's first frame): on the left the resized pixels with the
 *                           patch grid, each patch tinted by a colour of its (row, column); on the right the
 *                           side x side learned position table, the cells some patch draws from shaded, and
 *                           one dot per patch, in the patch's colour, where linspace puts its bilinear
 *                           sample (the four cells around the dot are the corners it mixes)
 *   vt_viz_qwen3_deepstack  the block stack as a row of boxes: the blocks in deepstack_visual_indexes
 *                           highlighted, each with its DeepStack merger and the language-model layer its
 *                           feature is added after; the last block feeding the final merger
 */
#ifndef VT_VIZ_QWEN3_H
#define VT_VIZ_QWEN3_H

#include <stdint.h>

#include "format/tracer.h"
#include "qwen3vl/qwen3vl.h"

/* rgb [h][w][3] the resized image (h = gh * patch, w = gw * patch); side the position table's side. */
int vt_viz_qwen3_pos_embed(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int patch,
                           int side, vt_status *st);

int vt_viz_qwen3_deepstack(vt_tracer *tr, const char *file, const vt_qwen3vl_config *c, vt_status *st);

#endif
