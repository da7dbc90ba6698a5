/*
 * viz_kimivl.h -- the --viz pictures of `vlmtrace run` for Kimi-VL (trace/viz/viz_kimivl.c).
 *
 *   vt_viz_kimivl_image  one image as MoonViT sees it: the resized and zero-padded pixels
 *                        (image.{k}.resized), the padding shaded (it normalises to -1, not 0), 14-px patch
 *                        lines, the 2x2 merge blocks outlined and numbered with the row of
 *                        multi_modal_projector each becomes, and a caption with the sizes
 * The attention mask picture is vt_viz_qwen2_mask (viz_qwen2.h): the same block-diagonal cu_seqlens mask.
 */
#ifndef VT_VIZ_KIMIVL_H
#define VT_VIZ_KIMIVL_H

#include <stdint.h>

#include "format/tracer.h"

/* rgb [ph][pw][3] the padded image; (w0, h0) the decoded size, (rw, rh) the size after the resize;
 * first_token the index of its first merged token among all images'. */
int vt_viz_kimivl_image(vt_tracer *tr, const char *file, const uint8_t *rgb, int pw, int ph, int rw, int rh, int w0,
                        int h0, int patch, int merge, int64_t first_token, vt_status *st);

#endif
