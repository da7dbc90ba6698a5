/*
 * viz_qwenvl.h -- the `--viz` picture of `vlmtrace run` for Qwen-VL: where the Resampler's queries look.
 *
 *     vt_qwenvl_viz v;
 *     vt_qwenvl_viz_init(&v, vt_run_tap(tr));          // wraps the run's tap
 *     vt_tap tap = vt_qwenvl_viz_tap(&v);              // give this one to the forward
 *     ... vt_qwenvl_image_transform(..., &tap, ...); vt_qwenvl_forward(..., &tap, ...);
 *     rc = vt_qwenvl_viz_write(&v, tr, st);            // one PNG per image into the trace directory
 *     vt_qwenvl_viz_free(&v);
 *
 * The wrapping tap passes every tensor on to the run's tap unchanged (so --only still decides what is
 * written) and keeps a copy of the two it draws from, asking the forward to compute them even when
 * --only leaves them out: image.{k}.resized and transformer.visual.attn_pool.attn.weights.
 */
#ifndef VT_VIZ_QWENVL_H
#define VT_VIZ_QWENVL_H

#include <stdint.h>

#include "core/tap.h"
#include "format/tracer.h"

#define VT_QWENVL_VIZ_MAX_IMAGES 64

typedef struct vt_qwenvl_viz {
    vt_tap inner;
    uint8_t *resized[VT_QWENVL_VIZ_MAX_IMAGES]; /* [S, S, 3] per image, malloc'd */
    int S;
    float *weights;                             /* [B, Q, L], malloc'd */
    int64_t B, Q, L;
} vt_qwenvl_viz;

void vt_qwenvl_viz_init(vt_qwenvl_viz *v, vt_tap inner);
vt_tap vt_qwenvl_viz_tap(vt_qwenvl_viz *v);
/* transformer.visual.attn_pool.attn.weights.{k}.png for every image k, listed in the manifest. */
int vt_qwenvl_viz_write(const vt_qwenvl_viz *v, vt_tracer *tr, vt_status *st);
void vt_qwenvl_viz_free(vt_qwenvl_viz *v);

#endif
