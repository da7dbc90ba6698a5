/*
 * resize.h -- the bicubic resamplers the references use, side by side and named for what they are
 * (docs/resize.md compares them).
 *
 * vt_resize_pil_bicubic: PIL's Image.resize(size, Image.BICUBIC) on uint8 images (Pillow 9.4), byte
 *   for byte: separable convolution, cubic kernel a = -0.5, support widened by the downscale factor
 *   (antialiasing), coefficients normalised and held in PIL's fixed-point precision, PIL's rounding and
 *   clamping and its pass order. Used by every family's image preprocessing. Same size: a copy.
 * vt_resize_pil_bilinear: the same with PIL's BILINEAR (triangle kernel, support 1, widened when
 *   downscaling). No reference uses it: it exists for the bug zoo's `bilinear-resize` (bugzoo.h), the
 *   resampler a port gets when it forgets to ask for bicubic.
 * vt_resize_torch_bicubic: torch.nn.functional.interpolate(mode="bicubic", align_corners=False) on
 *   float32 [C, H, W]: A = -0.75, border-clamped taps, no antialias. Used to resize learned position
 *   tables (Qwen-VL get_abs_pos, Kimi-VL's MoonViT pos_emb).
 * vt_resize_torch_bicubic_aa: torchvision's resize(BICUBIC, antialias=True) of a uint8 image on the float
 *   path (torch's `_upsample_bicubic2d_aa`, scalar CPU build of torch 1.13): PIL's kernel (a = -0.5, the
 *   same antialiasing support) computed in float32 with no uint8 between the passes, then clamped and
 *   rounded half to even. Hugging Face's fast processor (Qwen2VLImageProcessorFast, Qwen2VLVideoProcessor)
 *   resizes with it. Same size: a copy.
 */
#ifndef VT_RESIZE_H
#define VT_RESIZE_H

#include <stdint.h>

#include "core/status.h"

/* src [sh][sw][ch] -> dst [dh][dw][ch], uint8, ch in 1..4. */
int vt_resize_pil_bicubic(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st);

/* src [sh][sw][ch] -> dst [dh][dw][ch], uint8, ch in 1..4, PIL BILINEAR (bug zoo only). */
int vt_resize_pil_bilinear(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st);

/* src [sh][sw][ch] -> dst [dh][dw][ch], uint8, ch in 1..4 (each channel its own plane). */
int vt_resize_torch_bicubic_aa(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st);

/* The normalised weights vt_resize_torch_bicubic_aa gives output pixel i of one axis in -> out: taps
 * *first .. *first + *n - 1 of the input, weights w[0 .. *n - 1] (w holds cap floats; ceil(2 * in / out) * 2
 * + 1 is always enough, 5 when upscaling). VT_EINPUT when i or the sizes are out of range or cap is too
 * small. For tests and pictures. */
int vt_resize_torch_aa_weights(float *w, int cap, int *first, int *n, int in, int out, int i, vt_status *st);

/* src [C][sh][sw] -> dst [C][dh][dw], float32. */
int vt_resize_torch_bicubic(float *dst, int dh, int dw, const float *src, int C, int sh, int sw, vt_status *st);

#endif
