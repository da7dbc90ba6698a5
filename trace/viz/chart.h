/*
 * chart.h -- what the pictures of `vlmtrace diff --report` share on top of viz.h: text measured and
 * aligned at a scale, markers that differ in shape as well as colour, dashed lines, a logarithmic colour
 * bar with its numbers, numbers formatted for axes, and a canvas encoded as PNG bytes in memory (written
 * to a file and embedded in report.html from the same bytes).
 *
 *     vt_canvas c;
 *     VT_TRY(vt_canvas_init(&c, 600, 300, VT_WHITE, st));
 *     vt_chart_text(&c, 300, 4, "title", VT_BLACK, 2, VT_ALIGN_CENTER);
 *     vt_chart_marker(&c, 100, 120, VT_MARK_CROSS, VT_FAIL_COLOUR);
 *     vt_chart_colorbar(&c, 540, 40, 16, 200, 1e-6, 1.0, "max |ours - ref|", 1e-5, "allowed");
 *     unsigned char *png; size_t n;
 *     VT_TRY(vt_canvas_png(&c, &png, &n, st));   // malloc'd, the caller frees
 *
 * Colours: the heat maps use viridis (vt_colormap), readable in grey and by colour-blind readers; pass and
 * fail are the Okabe-Ito blue and vermillion and also differ in marker shape (dot / cross).
 */
#ifndef VT_CHART_H
#define VT_CHART_H

#include <stddef.h>

#include "viz/viz.h"

#define VT_WHITE VT_RGB(255, 255, 255)
#define VT_BLACK VT_RGB(0, 0, 0)
#define VT_GREY VT_RGB(120, 120, 120)
#define VT_LIGHT VT_RGB(225, 225, 225)
#define VT_PASS_COLOUR VT_RGB(0, 114, 178) /* Okabe-Ito blue */
#define VT_FAIL_COLOUR VT_RGB(213, 94, 0)  /* Okabe-Ito vermillion */

/* Height in pixels of one line of text at `scale` (the font is 7 px tall at scale 1, lines 10 apart). */
#define VT_LINE_H(scale) (10 * (scale))

typedef enum { VT_ALIGN_LEFT, VT_ALIGN_CENTER, VT_ALIGN_RIGHT } vt_align;
typedef enum { VT_MARK_DOT, VT_MARK_CROSS, VT_MARK_SQUARE, VT_MARK_DIAMOND } vt_mark;

/* Width in pixels of text at scale. */
int vt_chart_text_w(const char *text, int scale);
/* Text whose anchor x is its left edge, centre or right edge; y is the top. */
void vt_chart_text(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale, vt_align align);
/* Text on a white box (labels over a plot). */
void vt_chart_label(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale, vt_align align);
/* A 9 x 9 marker centred on (x, y). */
void vt_chart_marker(vt_canvas *c, int x, int y, vt_mark kind, vt_rgb col);
/* Dashed horizontal / vertical lines, `thick` pixels, dashes of `on` and gaps of `off` pixels. */
void vt_chart_dash_h(vt_canvas *c, int x0, int x1, int y, vt_rgb col, int thick, int on, int off);
void vt_chart_dash_v(vt_canvas *c, int x, int y0, int y1, vt_rgb col, int thick, int on, int off);

/* Position of v on a log10 axis from lo to hi (both > 0) mapped to [0, 1] (clamped; v <= 0 gives 0). */
double vt_chart_log_t(double v, double lo, double hi);
/* Decade bounds around [lo, hi]: *dlo = 10^floor(log10 lo), *dhi = 10^ceil(log10 hi) (at least one decade). */
void vt_chart_decades(double lo, double hi, double *dlo, double *dhi);
/* "1e-4", "0.003", "12.5": short numbers for axes and colour bars. */
char *vt_chart_num(char *buf, size_t n, double v);

/* A vertical colour bar w x h at (x, y): viridis from lo (bottom) to hi (top) on a log10 scale, ticks and
 * numbers at its two ends and the decades between, `title` above it. When
 * lo <= mark <= hi a black tick across the bar at that value, labelled mark_label (the tolerance). Returns
 * the width used including the numbers. */
int vt_chart_colorbar(vt_canvas *c, int x, int y, int w, int h, double lo, double hi, const char *title, double mark,
                      const char *mark_label);
/* The width vt_chart_colorbar will use for these bounds (for laying out a picture before drawing). */
int vt_chart_colorbar_w(int w, double lo, double hi, const char *title, const char *mark_label);

/* The canvas as PNG bytes (stb_image_write, deterministic for the same pixels); *png malloc'd. */
int vt_canvas_png(const vt_canvas *c, unsigned char **png, size_t *n, vt_status *st);

#endif
