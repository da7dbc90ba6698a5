/* chart.c -- text, markers, dashes, log colour bars and in-memory PNGs for the diff report (see chart.h). */
#include "viz/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

/* ======================================== text ======================================== */

int vt_chart_text_w(const char *text, int scale)
{
    int w = vt_canvas_text_width(text);
    return (w > 0 ? w - 1 : 0) * (scale < 1 ? 1 : scale); /* the font adds one spacing column after the last glyph */
}

void vt_chart_text(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale, vt_align align)
{
    int w = vt_chart_text_w(text, scale);
    if (align == VT_ALIGN_CENTER) x -= w / 2;
    else if (align == VT_ALIGN_RIGHT) x -= w;
    vt_canvas_text(c, x, y, text, col, scale);
}

void vt_chart_label(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale, vt_align align)
{
    int w = vt_chart_text_w(text, scale), x0 = align == VT_ALIGN_CENTER ? x - w / 2 : align == VT_ALIGN_RIGHT ? x - w : x;
    vt_canvas_fill_rect(c, x0 - 3, y - 3, w + 6, 7 * scale + 6, VT_WHITE);
    vt_canvas_text(c, x0, y, text, col, scale);
}

/* ======================================== marks and lines ======================================== */

void vt_chart_marker(vt_canvas *c, int x, int y, vt_mark kind, vt_rgb col)
{
    switch (kind) {
    case VT_MARK_DOT: /* a filled disc of radius 4 */
        for (int j = -4; j <= 4; j++)
            for (int i = -4; i <= 4; i++)
                if (i * i + j * j <= 17) vt_canvas_set(c, x + i, y + j, col);
        return;
    case VT_MARK_CROSS: /* an x, 3 px thick */
        for (int k = -4; k <= 4; k++)
            for (int d = -1; d <= 1; d++) {
                vt_canvas_set(c, x + k + d, y + k, col);
                vt_canvas_set(c, x + k + d, y - k, col);
            }
        return;
    case VT_MARK_SQUARE: vt_canvas_fill_rect(c, x - 4, y - 4, 9, 9, col); return;
    case VT_MARK_DIAMOND:
        for (int j = -5; j <= 5; j++)
            for (int i = -5; i <= 5; i++)
                if (abs(i) + abs(j) <= 5) vt_canvas_set(c, x + i, y + j, col);
        return;
    }
}

void vt_chart_dash_h(vt_canvas *c, int x0, int x1, int y, vt_rgb col, int thick, int on, int off)
{
    for (int x = x0; x <= x1; x += on + off) vt_canvas_fill_rect(c, x, y, x + on > x1 ? x1 - x + 1 : on, thick, col);
}

void vt_chart_dash_v(vt_canvas *c, int x, int y0, int y1, vt_rgb col, int thick, int on, int off)
{
    for (int y = y0; y <= y1; y += on + off) vt_canvas_fill_rect(c, x, y, thick, y + on > y1 ? y1 - y + 1 : on, col);
}

/* ======================================== numbers and log axes ======================================== */

double vt_chart_log_t(double v, double lo, double hi)
{
    if (!(v > 0) || !(lo > 0) || !(hi > lo)) return v > 0 && isinf(v) ? 1 : 0;
    double t = (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

void vt_chart_decades(double lo, double hi, double *dlo, double *dhi)
{
    if (!(lo > 0)) lo = 1e-12;
    if (!(hi > lo)) hi = lo;
    *dlo = pow(10, floor(log10(lo) + 1e-9));
    *dhi = pow(10, ceil(log10(hi) - 1e-9));
    if (*dhi <= *dlo) *dhi = *dlo * 10;
}

char *vt_chart_num(char *buf, size_t n, double v)
{
    if (v == 0) snprintf(buf, n, "0");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (isnan(v)) snprintf(buf, n, "nan");
    else {
        double e = log10(fabs(v));
        if (fabs(e - round(e)) < 1e-9 && (e < -2.5 || e > 3.5)) snprintf(buf, n, "%s1e%d", v < 0 ? "-" : "", (int)round(e));
        else if (fabs(v) >= 0.01 && fabs(v) < 1e4) snprintf(buf, n, "%.2g", v);
        else snprintf(buf, n, "%.2g", v);
    }
    return buf;
}

/* ======================================== colour bar ======================================== */

#define BAR_SCALE 2

/* The numbers a bar from lo to hi shows: its two ends and the decades between them. */
static int bar_ticks(double lo, double hi, double *v, int max)
{
    int n = 0;
    if (max < 3) return 0;
    v[n++] = lo;
    for (double d = pow(10, ceil(log10(lo) - 1e-9)); d <= hi * (1 + 1e-9) && n < max - 1; d *= 10)
        if (d > lo * 1.5 && d < hi / 1.5) v[n++] = d;
    v[n++] = hi;
    return n;
}

int vt_chart_colorbar_w(int w, double lo, double hi, const char *title, const char *mark_label)
{
    char b[32];
    double v[40];
    int numw = 0, n = bar_ticks(lo, hi, v, 40);
    for (int i = 0; i < n; i++) {
        int tw = vt_chart_text_w(vt_chart_num(b, sizeof b, v[i]), BAR_SCALE);
        if (tw > numw) numw = tw;
    }
    if (mark_label) {
        int tw = vt_chart_text_w(mark_label, BAR_SCALE);
        if (tw > numw) numw = tw;
    }
    int total = w + 8 + numw, tw = title ? vt_chart_text_w(title, BAR_SCALE) : 0;
    return total > tw ? total : tw;
}

int vt_chart_colorbar(vt_canvas *c, int x, int y, int w, int h, double lo, double hi, const char *title, double mark,
                      const char *mark_label)
{
    if (!(lo > 0)) lo = 1e-12;
    if (!(hi > lo)) hi = lo * 10;
    if (title) vt_chart_text(c, x, y - VT_LINE_H(BAR_SCALE) - 12, title, VT_BLACK, BAR_SCALE, VT_ALIGN_LEFT);
    for (int j = 0; j < h; j++) vt_canvas_fill_rect(c, x, y + j, w, 1, vt_colormap(1.0f - (float)j / (float)(h - 1)));
    vt_canvas_rect(c, x, y, w, h, VT_BLACK, 1);
    char b[32];
    double v[40];
    int n = bar_ticks(lo, hi, v, 40), ym = -1000;
    if (mark > 0 && mark >= lo && mark <= hi) ym = y + h - 1 - (int)lrint(vt_chart_log_t(mark, lo, hi) * (h - 1));
    int last_y = -1000;
    for (int i = n - 1; i >= 0; i--) { /* top down, so that the largest number is always shown */
        int yy = y + h - 1 - (int)lrint(vt_chart_log_t(v[i], lo, hi) * (h - 1));
        vt_canvas_fill_rect(c, x + w, yy, 5, 1, VT_BLACK);
        if (abs(yy - last_y) >= VT_LINE_H(BAR_SCALE) + 2 && abs(yy - ym) >= VT_LINE_H(BAR_SCALE) + 2) {
            vt_chart_text(c, x + w + 8, yy - 7, vt_chart_num(b, sizeof b, v[i]), VT_BLACK, BAR_SCALE, VT_ALIGN_LEFT);
            last_y = yy;
        }
    }
    if (ym > -1000) {
        vt_canvas_fill_rect(c, x - 4, ym - 1, w + 8, 3, VT_BLACK);
        vt_canvas_fill_rect(c, x - 3, ym, w + 6, 1, VT_WHITE);
        if (mark_label) vt_chart_label(c, x + w + 8, ym - 7, mark_label, VT_BLACK, BAR_SCALE, VT_ALIGN_LEFT);
    }
    return vt_chart_colorbar_w(w, lo, hi, title, mark_label);
}

/* ======================================== PNG in memory ======================================== */

typedef struct png_buf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} png_buf;

static void png_append(void *ctx, void *data, int size)
{
    png_buf *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + (size_t)size) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int vt_canvas_png(const vt_canvas *c, unsigned char **png, size_t *n, vt_status *st)
{
    png_buf b = {0};
    *png = NULL;
    *n = 0;
    int ok = stbi_write_png_to_func(png_append, &b, c->w, c->h, 3, c->px, c->w * 3);
    if (!ok || b.failed) {
        free(b.p);
        return vt_fail(st, VT_ERESOURCE, "out of memory encoding a %dx%d PNG", c->w, c->h);
    }
    *png = b.p;
    *n = b.n;
    return VT_OK;
}
