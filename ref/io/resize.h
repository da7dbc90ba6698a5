/*
 * resize.h -- the two bicubic resamplers the references use, side by side and named for what they are.
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
 */
#ifndef VT_RESIZE_H
#define VT_RESIZE_H

#include <stdint.h>

#include "core/status.h"

/* src [sh][sw][ch] -> dst [dh][dw][ch], uint8, ch in 1..4. */
int vt_resize_pil_bicubic(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st);

/* src [sh][sw][ch] -> dst [dh][dw][ch], uint8, ch in 1..4, PIL BILINEAR (bug zoo only). */
int vt_resize_pil_bilinear(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st);

/* src [C][sh][sw] -> dst [C][dh][dw], float32. */
int vt_resize_torch_bicubic(float *dst, int dh, int dw, const float *src, int C, int sh, int sw, vt_status *st);

#endif
