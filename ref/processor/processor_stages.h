/*
 * processor_stages.h -- internal to ref/processor/: the helpers and stages processor.c (the slow path and
 * the driver) and processor_fast.c (the fast path's stages) share. Not for the families: processor.h is
 * the API.
 */
#ifndef VT_PROCESSOR_STAGES_H
#define VT_PROCESSOR_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "processor/processor.h"

/* Python's round() on a float: to nearest, ties to even (round(2.5) == 2, round(3.5) == 4). */
double vt_processor_python_round(double x);
/* Python's repr() of a float (the shortest string that reads back as the same double). */
void vt_processor_python_float_repr(char *buf, size_t n, double x);
/* vt_processor_smart_resize_fast with the bug zoo's switches (VT_BUG_ROUND_HALF_AWAY), as processor.c's
 * slow one takes them. */
int vt_processor_fast_smart_resize(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                                   int64_t min_pixels, int64_t max_pixels, unsigned bugs, vt_status *st);

/* mirrors rescale_and_normalize with _fuse_mean_std_and_rescale_factor (image_processing_utils_fast.py,
 * transformers 5.0). [h, w, 3] uint8 -> [3, h, w] float32 */
void vt_processor_fused_rescale_normalize(float *dst, const uint8_t *src, int64_t h, int64_t w, const float mean[3],
                                          const float std[3]);

/* The frame count after the fast processors' temporal padding of F frames (temporal_patch_size T): F, or
 * F + T - 1 when F is not a multiple of T (`patches[:, -1:].repeat(1, T - 1, ...)`). VT_EINPUT, as the
 * reference's view() raises, when that is still not a multiple of T (never for T = 2). */
int vt_processor_fast_padded_frames(int64_t *Fp, int64_t F, int T, vt_status *st);

#endif
