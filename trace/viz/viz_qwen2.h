/*
 * viz_qwen2.h -- the --viz pictures of `vlmtrace run` for Qwen2-VL and Qwen2.5-VL (trace/viz/viz_qwen2.c).
 *
 * Each writes one PNG into the trace directory and records it in the manifest's "pictures":
 *   vt_viz_qwen2_mask     an attention mask as the literal path builds it, N x N: each segment's
 *                         diagonal block in its own colour, masked pairs dark (one pixel per patch pair,
 *                         scaled to a readable size)
 *   vt_viz_qwen25_windows the window partition of one image (or a video's first frame) over its resized
 *                         pixels: each window tinted in its own colour with its outline, the -100 padding
 *                         that get_window_index adds drawn as hatched grey beyond the image
 */
#ifndef VT_VIZ_QWEN2_H
#define VT_VIZ_QWEN2_H

#include <stdint.h>

#include "format/tracer.h"

int vt_viz_qwen2_mask(vt_tracer *tr, const char *file, const int32_t *cu, int64_t S, int64_t N, vt_status *st);

/* rgb [h][w][3] the resized image (h = gh * patch, w = gw * patch); gh, gw its grid in patches; ws merged
 * tokens per window side; merge the spatial merge size; patch the patch size in pixels. */
int vt_viz_qwen25_windows(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int ws,
                          int merge, int patch, vt_status *st);

#endif
