/*
 * tap.h -- how a forward pass reports its named intermediates (docs/design.md, "Architecture").
 *
 * ref/ never writes files. A stage computes a tensor and hands it to the tap it was given, under the
 * name the same tensor has on the PyTorch side (docs/trace-spec.md):
 *
 *     VT_TRY(vt_tap_emitf(tap, st, &qkv, "visual.blocks.%d.attn.qkv", i));
 *
 * like llama.cpp's graph builders call cb(cur, "ln1", il). trace/ supplies a tap that filters by name and
 * writes .npy files; tests supply taps that compare in memory. A NULL tap (or one with no emit) does
 * nothing and costs nothing. A tensor that exists only to be traced (q after rotary in [N, heads, dim]
 * layout, say) is computed only when vt_tap_wants() says someone will take it.
 *
 * The tap may fail (a write error): the forward stops and returns that status.
 */
#ifndef VT_TAP_H
#define VT_TAP_H

#include "core/tensor.h"

typedef struct vt_tap {
    /* Take one tensor. The tensor's data is only valid during the call. */
    int (*emit)(void *ctx, const char *name, const vt_tensor *t, vt_status *st);
    /* Would emit() keep this name? NULL means yes. */
    int (*wants)(void *ctx, const char *name);
    /* Optional progress report: stage `what` step i of n (e.g. "block", 3, 32). ref/ never prints. */
    void (*progress)(void *ctx, const char *what, int i, int n);
    void *ctx;
} vt_tap;

/* Emit under a fixed name / a printf-formatted name. A NULL tap returns VT_OK. */
int vt_tap_emit(const vt_tap *tap, const char *name, const vt_tensor *t, vt_status *st);
int vt_tap_emitf(const vt_tap *tap, vt_status *st, const vt_tensor *t, const char *fmt, ...) VT_PRINTF(4, 5);
/* 1 if a tensor of this name would be kept (and is worth computing), 0 otherwise (always 0 without a tap). */
int vt_tap_wants(const vt_tap *tap, const char *name);
int vt_tap_wantsf(const vt_tap *tap, const char *fmt, ...) VT_PRINTF(2, 3);
void vt_tap_progress(const vt_tap *tap, const char *what, int i, int n);

#define VT_NAME_MAX 256

#endif
