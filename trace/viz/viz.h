/*
 * viz.h -- small drawing helpers for the `--viz` pictures of every subcommand: an RGB canvas, lines,
 * rectangles, filled cells, text, a categorical palette, a colour map for matrices, PNG output.
 *
 *     vt_canvas c;
 *     VT_TRY(vt_canvas_init(&c, 320, 240, VT_RGB(255, 255, 255), st));     // white, malloc'd
 *     vt_canvas_blit(&c, 0, 0, rgb, w, h, 4);                                // an image, zoomed 4x
 *     vt_canvas_rect(&c, 0, 0, 56, 56, vt_palette(2), 2);                    // outline, 2 px thick
 *     vt_canvas_line(&c, 0, 0, 319, 239, VT_RGB(0, 0, 0));
 *     vt_canvas_fill_rect(&c, 10, 10, 8, 8, vt_colormap(0.3f));              // a cell of a heat map
 *     vt_canvas_matrix(&c, 0, 0, m, rows, cols, 4, lo, hi);                  // a matrix, 4 px per cell
 *     vt_canvas_text(&c, 4, 4, "window 3", VT_RGB(0, 0, 0), 2);              // 2x scaled bitmap font
 *     rc = vt_viz_save(&c, tr, "visual.attn_mask.png", st);                  // tr->dir/..., listed in the manifest
 *     vt_canvas_free(&c);
 *
 * Coordinates are pixels, x rightwards and y downwards, (0, 0) the top-left corner; everything drawn is
 * clipped to the canvas, so callers need not check bounds. Pixels are [h][w][3] uint8, row-major,
 * owned by the canvas. Colours are vt_rgb values; blending (vt_canvas_blend_rect) takes an alpha in
 * [0, 1]. Pictures are for people: nothing in them is compared by tests or by diff.
 *
 * Who uses what: preprocess draws the patch grid and merge blocks (vt_viz_patch_grid); run's --viz
 * draws attention masks and window partitions with vt_canvas_matrix / vt_canvas_fill_rect and the
 * palette.
 */
#ifndef VT_VIZ_H
#define VT_VIZ_H

#include <stdint.h>

#include "core/status.h"
#include "format/tracer.h"

typedef struct vt_rgb {
    uint8_t r, g, b;
} vt_rgb;

#define VT_RGB(r_, g_, b_) ((vt_rgb){(uint8_t)(r_), (uint8_t)(g_), (uint8_t)(b_)})

typedef struct vt_canvas {
    int w, h;
    uint8_t *px; /* [h][w][3], malloc'd */
} vt_canvas;

/* A w x h canvas filled with bg. Sides up to 16384; VT_EINPUT beyond, VT_ERESOURCE if malloc fails. */
int vt_canvas_init(vt_canvas *c, int w, int h, vt_rgb bg, vt_status *st);
void vt_canvas_free(vt_canvas *c);

void vt_canvas_set(vt_canvas *c, int x, int y, vt_rgb col);
/* A 1-px line from (x0, y0) to (x1, y1), both ends included (Bresenham). */
void vt_canvas_line(vt_canvas *c, int x0, int y0, int x1, int y1, vt_rgb col);
/* The outline of the w x h rectangle at (x, y), `thick` pixels wide, drawn inside it. */
void vt_canvas_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col, int thick);
void vt_canvas_fill_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col);
/* Mix col into the rectangle: pixel = (1 - alpha) * pixel + alpha * col. */
void vt_canvas_blend_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col, float alpha);
/* Draw an RGB image [h][w][3] with its top-left at (x, y), each pixel a zoom x zoom block. */
void vt_canvas_blit(vt_canvas *c, int x, int y, const uint8_t *rgb, int w, int h, int zoom);
/* A rows x cols float matrix as cells of `cell` pixels, colour-mapped from [lo, hi] (values clamped);
 * -inf (a masked attention logit) is drawn black, NaN magenta, so masks read at a glance. */
void vt_canvas_matrix(vt_canvas *c, int x, int y, const float *m, int rows, int cols, int cell, float lo, float hi);
/* ASCII text with its top-left at (x, y), in a small bitmap font (stb_easy_font, about 6 x 8 px per
 * character at scale 1), each font pixel a scale x scale block. */
void vt_canvas_text(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale);
/* Width in pixels of text drawn at scale 1. */
int vt_canvas_text_width(const char *text);
/* Text wrapped at spaces to lines of at most maxw pixels, drawn from (x, y) at `scale` (c NULL: only
 * measured). Returns the height it takes: VT_TEXT_LINE * scale per line. Every caption and legend of the
 * pictures is drawn at scale 2 or more (scale 1 is too small to read: "18" looks like "13"). */
#define VT_TEXT_LINE 11
int vt_canvas_text_wrap(vt_canvas *c, int x, int y, int maxw, const char *text, vt_rgb col, int scale);
/* A legend entry: a swatch of col (outlined) and its label at `scale`; returns the width it took. */
int vt_canvas_legend(vt_canvas *c, int x, int y, vt_rgb col, const char *label, int scale);

/* The colour convention of every mask picture (PNGs and notebooks alike): a pair that may attend is drawn
 * in its segment's palette colour (light), a masked pair (-inf) in VT_VIZ_MASKED (dark). */
#define VT_VIZ_MASKED VT_RGB(40, 40, 40)

/* The i-th colour of a 10-colour categorical palette (cycled for i >= 10): segments, windows, images. */
vt_rgb vt_palette(int i);
/* A perceptually ordered colour map (viridis, dark blue -> yellow) at t in [0, 1] (clamped). */
vt_rgb vt_colormap(float t);

/* Write the canvas as a PNG (stb_image_write). A path that cannot be created: VT_EINPUT; a failed
 * write or encoding: VT_ERESOURCE. */
int vt_canvas_write_png(const vt_canvas *c, const char *path, vt_status *st);
/* Write it as tr->dir/file and list `file` under "pictures" in the trace's manifest. */
int vt_viz_save(const vt_canvas *c, vt_tracer *tr, const char *file, vt_status *st);

/* The picture of Qwen2-VL's patchify on a resized image [h][w][3]: the image zoomed so that small
 * images stay legible, thin lines every `patch` pixels, thick ones every patch * merge (the blocks the
 * PatchMerger fuses into one token), a caption with the grid. Written through vt_viz_save. */
int vt_viz_patch_grid(vt_tracer *tr, const char *file, const uint8_t *rgb, int w, int h, int patch, int merge,
                      vt_status *st);

#endif
