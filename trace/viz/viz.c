/* viz.c -- drawing helpers for --viz pictures (see viz.h). */
#include "viz/viz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "io/fileio.h"
#include "format/outfile.h"

/* stb_easy_font is header-only with static functions; we use two of them. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb/stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define VT_CANVAS_MAX_SIDE 16384

/* ======================================== canvas ======================================== */

int vt_canvas_init(vt_canvas *c, int w, int h, vt_rgb bg, vt_status *st)
{
    c->w = c->h = 0;
    c->px = NULL;
    if (w < 1 || h < 1 || w > VT_CANVAS_MAX_SIDE || h > VT_CANVAS_MAX_SIDE)
        return vt_fail(st, VT_EINPUT, "picture of %dx%d pixels (sides 1 to %d)", w, h, VT_CANVAS_MAX_SIDE);
    c->px = malloc((size_t)w * h * 3);
    if (!c->px) return vt_fail(st, VT_ERESOURCE, "out of memory for a %dx%d picture", w, h);
    c->w = w;
    c->h = h;
    vt_canvas_fill_rect(c, 0, 0, w, h, bg);
    return VT_OK;
}

void vt_canvas_free(vt_canvas *c)
{
    free(c->px);
    c->px = NULL;
    c->w = c->h = 0;
}

void vt_canvas_set(vt_canvas *c, int x, int y, vt_rgb col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

/* Clip the rectangle [x, x+w) x [y, y+h) to the canvas; 0 if nothing is left. */
static int clip_rect(const vt_canvas *c, int *x, int *y, int *w, int *h)
{
    long x0 = *x, y0 = *y, x1 = (long)*x + *w, y1 = (long)*y + *h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    if (x0 >= x1 || y0 >= y1) return 0;
    *x = (int)x0, *y = (int)y0, *w = (int)(x1 - x0), *h = (int)(y1 - y0);
    return 1;
}

void vt_canvas_fill_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col)
{
    if (!clip_rect(c, &x, &y, &w, &h)) return;
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            uint8_t *p = c->px + ((size_t)j * c->w + i) * 3;
            p[0] = col.r, p[1] = col.g, p[2] = col.b;
        }
}

void vt_canvas_blend_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col, float alpha)
{
    if (!clip_rect(c, &x, &y, &w, &h)) return;
    if (alpha < 0) alpha = 0;
    if (alpha > 1) alpha = 1;
    const uint8_t src[3] = {col.r, col.g, col.b};
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            uint8_t *p = c->px + ((size_t)j * c->w + i) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)lrintf((1 - alpha) * p[k] + alpha * src[k]);
        }
}

void vt_canvas_rect(vt_canvas *c, int x, int y, int w, int h, vt_rgb col, int thick)
{
    if (thick < 1) thick = 1;
    vt_canvas_fill_rect(c, x, y, w, thick, col);
    vt_canvas_fill_rect(c, x, y + h - thick, w, thick, col);
    vt_canvas_fill_rect(c, x, y, thick, h, col);
    vt_canvas_fill_rect(c, x + w - thick, y, thick, h, col);
}

void vt_canvas_line(vt_canvas *c, int x0, int y0, int x1, int y1, vt_rgb col)
{
    long dx = labs((long)x1 - x0), dy = -labs((long)y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long err = dx + dy;
    for (;;) {
        vt_canvas_set(c, x0, y0, col);
        if (x0 == x1 && y0 == y1) break;
        long e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

void vt_canvas_blit(vt_canvas *c, int x, int y, const uint8_t *rgb, int w, int h, int zoom)
{
    if (zoom < 1) zoom = 1;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            const uint8_t *p = rgb + ((size_t)j * w + i) * 3;
            vt_canvas_fill_rect(c, x + i * zoom, y + j * zoom, zoom, zoom, VT_RGB(p[0], p[1], p[2]));
        }
}

void vt_canvas_matrix(vt_canvas *c, int x, int y, const float *m, int rows, int cols, int cell, float lo, float hi)
{
    if (cell < 1) cell = 1;
    float span = hi > lo ? hi - lo : 1.0f;
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            float v = m[(size_t)r * cols + q];
            vt_rgb col = isnan(v) ? VT_RGB(255, 0, 255) : (isinf(v) && v < 0) ? VT_RGB(0, 0, 0) : vt_colormap((v - lo) / span);
            vt_canvas_fill_rect(c, x + q * cell, y + r * cell, cell, cell, col);
        }
}

/* ======================================== text ======================================== */

int vt_canvas_text_width(const char *text)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    return stb_easy_font_width(buf);
}

void vt_canvas_text(vt_canvas *c, int x, int y, const char *text, vt_rgb col, int scale)
{
    if (scale < 1) scale = 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    /* stb_easy_font: up to about 14 quads of 64 bytes per character; a short cap silently drops the last
     * quads, which made "18" read as "13" and "0" as "C" */
    size_t cap = 1024 * strlen(buf) + 1024;
    float *v = malloc(cap);
    if (!v) return; /* a caption is decoration: nothing drawn rather than a failure */
    int quads = stb_easy_font_print(0, 0, buf, NULL, v, (int)cap);
    /* each vertex is x, y, z (floats) and 4 colour bytes: 4 floats; a quad is 4 vertices, axis-aligned */
    for (int q = 0; q < quads; q++) {
        const float *a = v + q * 16, *b = v + q * 16 + 8; /* vertices 0 and 2: opposite corners */
        int x0 = (int)a[0], y0 = (int)a[1], x1 = (int)b[0], y1 = (int)b[1];
        vt_canvas_fill_rect(c, x + x0 * scale, y + y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale, col);
    }
    free(v);
}

int vt_canvas_text_wrap(vt_canvas *c, int x, int y, int maxw, const char *text, vt_rgb col, int scale)
{
    if (scale < 1) scale = 1;
    char line[512], word[512];
    int lines = 0;
    size_t len = 0;
    line[0] = 0;
    for (const char *p = text;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t n = strcspn(p, " ");
        snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word - 1 ? n : sizeof word - 1), p);
        p += n;
        char next[1024];
        snprintf(next, sizeof next, "%s%s%s", line, len ? " " : "", word);
        if (len && vt_canvas_text_width(next) * scale > maxw) { /* the word starts the next line */
            if (c) vt_canvas_text(c, x, y + lines * VT_TEXT_LINE * scale, line, col, scale);
            lines++;
            snprintf(line, sizeof line, "%s", word);
        } else {
            memcpy(line, next, sizeof line - 1); /* next fits: it is at most one line wide */
            line[sizeof line - 1] = 0;
        }
        len = strlen(line);
    }
    if (len) {
        if (c) vt_canvas_text(c, x, y + lines * VT_TEXT_LINE * scale, line, col, scale);
        lines++;
    }
    return lines * VT_TEXT_LINE * scale;
}

int vt_canvas_legend(vt_canvas *c, int x, int y, vt_rgb col, const char *label, int scale)
{
    const int box = 8 * scale;
    vt_canvas_fill_rect(c, x, y, box, box, col);
    vt_canvas_rect(c, x, y, box, box, VT_RGB(0, 0, 0), 1);
    vt_canvas_text(c, x + box + 3 * scale, y, label, VT_RGB(0, 0, 0), scale);
    return box + 3 * scale + vt_canvas_text_width(label) * scale;
}

/* ======================================== colours ======================================== */

vt_rgb vt_palette(int i)
{
    static const vt_rgb tab10[10] = {
        {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
    };
    if (i < 0) i = -i;
    return tab10[i % 10];
}

vt_rgb vt_colormap(float t)
{
    /* viridis sampled at t = 0, 1/8, ..., 1; linear in between */
    static const uint8_t anchors[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                          {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!(t > 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    float s = t * 8;
    int i = (int)s;
    if (i > 7) i = 7;
    float f = s - i;
    uint8_t out[3];
    for (int k = 0; k < 3; k++) out[k] = (uint8_t)lrintf(anchors[i][k] + f * (anchors[i + 1][k] - anchors[i][k]));
    return VT_RGB(out[0], out[1], out[2]);
}

/* ======================================== PNG ======================================== */

typedef struct png_sink {
    vt_file f;
    vt_status *st;
    int failed;
} png_sink;

static void png_write(void *ctx, void *data, int size)
{
    png_sink *s = ctx;
    if (s->failed) return;
    if (vt_file_write(&s->f, data, (size_t)size, s->st)) s->failed = 1;
}

int vt_canvas_write_png(const vt_canvas *c, const char *path, vt_status *st)
{
    png_sink s = {.st = st};
    VT_TRY(vt_file_create(&s.f, path, st));
    int ok = stbi_write_png_to_func(png_write, &s, c->w, c->h, 3, c->px, c->w * 3);
    if (s.failed || !ok) {
        vt_file_abort(&s.f);
        if (!s.failed) return vt_fail(st, VT_ERESOURCE, "%s: PNG encoding failed", path);
        return st->code;
    }
    return vt_file_commit(&s.f, st);
}

int vt_viz_save(const vt_canvas *c, vt_tracer *tr, const char *file, vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, tr->dir, file, st));
    VT_TRY(vt_canvas_write_png(c, path, st));
    return vt_tracer_add_picture(tr, file, st);
}

/* ======================================== pictures ======================================== */

int vt_viz_patch_grid(vt_tracer *tr, const char *file, const uint8_t *rgb, int w, int h, int patch, int merge,
                      vt_status *st)
{
    if (w < 1 || h < 1 || patch < 1 || merge < 1)
        return vt_fail(st, VT_EINPUT, "%s: nothing to draw (%dx%d, patch %d, merge %d)", file, w, h, patch, merge);
    int side = w > h ? w : h;
    int zoom = 640 / side; /* small images are zoomed up to ~640 px so the grid does not hide them */
    if (zoom < 1) zoom = 1;
    if (zoom > 8) zoom = 8;
    char caption[400];
    int gh = h / patch, gw = w / patch, block = patch * merge, bw = (w + block - 1) / block, bh = (h + block - 1) / block;
    snprintf(caption, sizeof caption, "%dx%d px resized: %dx%d patches of %d px (thin lines) = %d rows of pixel_values; "
             "%dx%d merge blocks of %d px (gold), each fused by the merger into one token, numbered in output order "
             "(%d tokens)", w, h, gw, gh, patch, gw * gh, bw, bh, block, bw * bh);
    int cw = w * zoom < 480 ? 480 : w * zoom;
    const int cap_h = vt_canvas_text_wrap(NULL, 0, 0, cw - 8, caption, VT_RGB(0, 0, 0), 2) + 8;
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, cw, h * zoom + cap_h, VT_RGB(255, 255, 255), st));
    vt_canvas_blit(&c, 0, 0, rgb, w, h, zoom);
    /* patch lines: 1 px, white at half strength, so the pixels stay visible */
    for (int x = 0; x <= w; x += patch) vt_canvas_blend_rect(&c, x == w ? x * zoom - 1 : x * zoom, 0, 1, h * zoom, VT_RGB(255, 255, 255), 0.5f);
    for (int y = 0; y <= h; y += patch) vt_canvas_blend_rect(&c, 0, y == h ? y * zoom - 1 : y * zoom, w * zoom, 1, VT_RGB(255, 255, 255), 0.5f);
    /* merge-block lines: solid, thicker when zoomed */
    const int t = zoom >= 2 ? 2 : 1;
    const vt_rgb gold = VT_RGB(255, 200, 0);
    for (int x = 0; x <= w; x += block) vt_canvas_fill_rect(&c, x == w ? x * zoom - t : x * zoom, 0, t, h * zoom, gold);
    for (int y = 0; y <= h; y += block) vt_canvas_fill_rect(&c, 0, y == h ? y * zoom - t : y * zoom, w * zoom, t, gold);
    if (w % block) vt_canvas_fill_rect(&c, w * zoom - t, 0, t, h * zoom, gold);
    if (h % block) vt_canvas_fill_rect(&c, 0, h * zoom - t, w * zoom, t, gold);
    /* each block's token number at scale 2 on a dark tab, where it fits; left out otherwise */
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++) {
            char num[16];
            snprintf(num, sizeof num, "%d", by * bw + bx);
            const int nw = 2 * vt_canvas_text_width(num) + 8;
            if (nw + 2 * t + 2 > block * zoom || 18 + 2 * t > block * zoom) continue;
            int x = bx * block * zoom + t, y = by * block * zoom + t;
            vt_canvas_fill_rect(&c, x, y, nw, 18, VT_RGB(0, 0, 0));
            vt_canvas_text(&c, x + 2, y + 2, num, gold, 2);
        }
    vt_canvas_text_wrap(&c, 4, h * zoom + 4, cw - 8, caption, VT_RGB(0, 0, 0), 2);
    int rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
