/*
 * viz_rope.h -- the picture of `vlmtrace rope --viz`: the three M-RoPE position rows (t, h, w) along the
 * sequence, one panel per axis and per batch row (the first 8 rows), vision spans shaded (images blue,
 * videos orange), padded positions grey, and the plain sequence index as a thin grey diagonal, so the drop
 * back to max + 1 after every vision block is visible.
 *
 *     VT_TRY(vt_viz_rope_positions(&tracer, VT_ROPE_VIZ_FILE, &input_ids, &position_ids, mask_or_NULL,
 *                                  &rope_deltas_or_NULL, &cfg.text, "qwen2_vl", st));
 *
 * The PNG is written into the trace directory and listed under the manifest's "pictures".
 */
#ifndef VT_VIZ_ROPE_H
#define VT_VIZ_ROPE_H

#include "model/model.h"
#include "core/tensor.h"
#include "format/tracer.h"

#define VT_ROPE_VIZ_FILE "rope.positions.png"

/* input_ids int64 [B, L], position_ids int64 [3, B, L], attention_mask int64 [B, L] or NULL, rope_deltas
 * int64 [B, 1] or NULL (given position ids); caption names the model (a short string). */
int vt_viz_rope_positions(vt_tracer *tr, const char *file, const vt_tensor *input_ids, const vt_tensor *position_ids,
                          const vt_tensor *attention_mask, const vt_tensor *rope_deltas, const vt_mrope_config *tc,
                          const char *caption, vt_status *st);

#endif
