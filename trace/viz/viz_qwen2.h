/*
 * viz_qwen2.h -- the --viz pictures of `vlmtrace run` for Qwen2-VL and Qwen2.5-VL (trace/viz/viz_qwen2.c).
 *
 * Each writes one PNG into the trace directory and records it in the manifest's "pictures":
 *   vt_viz_qwen2_mask     an attention mask as the literal path builds it, N x N: each segment's
 *                         diagonal block in its own colour (may attend), masked pairs dark (VT_VIZ_MASKED),
 *                         one pixel per patch pair scaled to a readable size, with axes, a legend and a caption
 *   vt_viz_qwen25_windows the window partition of one image (or a video's first frame) over its resized
 *                         pixels: each window tinted in its window-mask colour with its outline and number,
 *                         the -100 padding that get_window_index adds hatched grey, windows of padding alone
 *                         (which unique_consecutive drops) labelled as padding, a caption
 */
#ifndef VT_VIZ_QWEN2_H
#define VT_VIZ_QWEN2_H

#include <stdint.h>

#include "format/tracer.h"

/* cu [S + 1] the segment bounds (cu_seqlens); `segments` says what one segment is, for the caption ("one
 * image or video time slice", "one window of get_window_index", ...). The picture has a title, axes
 * (query rows, key columns, ticks at the bounds), a legend and a caption; a one-segment mask says so. */
int vt_viz_qwen2_mask(vt_tracer *tr, const char *file, const int32_t *cu, int64_t S, int64_t N, const char *segments,
                      vt_status *st);

/* rgb [h][w][3] the resized image (h = gh * patch, w = gw * patch); gh, gw its grid in patches; ws merged
 * tokens per window side; merge the spatial merge size; patch the patch size in pixels. Windows are
 * numbered as the window mask's segments, from `first` (the windows of the inputs before this one);
 * *n_windows receives how many this image (one frame) has, padding-only windows not counted. */
int vt_viz_qwen25_windows(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int ws,
                          int merge, int patch, int first, int *n_windows, vt_status *st);

#endif
