/*
 * viz_qwen2.c -- the --viz pictures of Qwen2-VL and Qwen2.5-VL (viz_qwen2.h): attention masks and window
 * partitions, RGB PNGs written into the trace directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwen25vl/qwen25vl.h"
#include "viz/viz.h"
#include "viz/viz_qwen2.h"

/* ======================================== attention mask ======================================== */

/* Tick labels along one axis at the segment bounds cu[0..S]: every bound gets a tick; a label where it does
 * not crowd the previous one (0 and N always). horizontal: along x above the matrix; else along y. */
static void axis_ticks(vt_canvas *c, const int32_t *cu, int64_t S, int64_t N, int x0, int y0, int side, int horizontal)
{
    const vt_rgb ink = VT_RGB(0, 0, 0);
    int last = -1000, n_labels = 0;
    for (int64_t g = 0; g <= S; g++) {
        int at = (int)((double)cu[g] * side / (double)N);
        if (at >= side) at = side - 1;
        char num[24];
        snprintf(num, sizeof num, "%d", cu[g]);
        const int tw = 2 * vt_canvas_text_width(num);
        if (horizontal) {
            vt_canvas_fill_rect(c, x0 + at, y0 - 6, 1, 6, ink);
            int lx = x0 + at - tw / 2;
            if (g == S) lx = x0 + side - tw; /* the last label ends at the matrix's edge */
            if (lx - last >= 8 || (g == S && n_labels < 2)) {
                if (g == S && lx - last < 8) continue;
                vt_canvas_text(c, lx, y0 - 26, num, ink, 2);
                last = lx + tw;
                n_labels++;
            }
        } else {
            vt_canvas_fill_rect(c, x0 - 6, y0 + at, 6, 1, ink);
            int ly = y0 + at - 7;
            if (g == S) ly = y0 + side - 16;
            if (ly - last >= 4) {
                vt_canvas_text(c, x0 - 10 - tw, ly, num, ink, 2);
                last = ly + 16;
            }
        }
    }
}

int vt_viz_qwen2_mask(vt_tracer *tr, const char *file, const int32_t *cu, int64_t S, int64_t N, const char *segments,
                      vt_status *st)
{
    /* one cell per (query, key) pair, blown up to about 512 pixels for small N; above 2048 patches each
     * pixel stands for a square of pairs (its top-left pair's colour) */
    const int64_t up = N < 512 ? (511 + N) / N : 1, down = N > 2048 ? (N + 2047) / 2048 : 1;
    const int side = (int)((N * up + down - 1) / down);
    int32_t *seg = malloc((size_t)(N > 0 ? N : 1) * sizeof *seg); /* the segment of each row */
    if (!seg) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int64_t g = 0; g < S; g++)
        for (int64_t r = cu[g]; r < cu[g + 1]; r++) seg[r] = (int32_t)g;

    /* the words around it: a title, axes, a legend and a caption that says what the segments are */
    char name[128], title[256], bounds[200], caption[900];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(file) > 4 ? strlen(file) - 4 : strlen(file)), file);
    snprintf(title, sizeof title, "%s: %lld x %lld", name, (long long)N, (long long)N);
    size_t bl = 0;
    bounds[0] = 0;
    for (int64_t g = 0; g <= S && bl < sizeof bounds - 16; g++) {
        if (g == 6 && S > 8) { /* the first bounds, then the last */
            bl += (size_t)snprintf(bounds + bl, sizeof bounds - bl, ", ...");
            g = S - 1;
            continue;
        }
        bl += (size_t)snprintf(bounds + bl, sizeof bounds - bl, "%s%d", g ? ", " : "", cu[g]);
    }
    if (S == 1)
        snprintf(caption, sizeof caption, "Rows: query patches i; columns: key patches j. One segment [%s], %s: nothing "
                 "is masked, every patch may attend to every patch (the whole square is one colour).", bounds, segments);
    else
        snprintf(caption, sizeof caption, "Rows: query patches i; columns: key patches j. %lld segments, bounds [%s] "
                 "(the ticks), each %s: a patch may attend only inside its own segment (the coloured squares on the "
                 "diagonal); every other pair is masked.", (long long)S, bounds, segments);
    const int left = 2 * vt_canvas_text_width("000000") + 40, top = 74, pad = 16;
    int width = left + side + pad;
    if (width < 560) width = 560;
    const int cap_h = vt_canvas_text_wrap(NULL, 0, 0, width - 2 * pad, caption, VT_RGB(0, 0, 0), 2);
    const int legend_h = 48, height = top + side + 12 + legend_h + cap_h + 10;
    vt_canvas c;
    int rc = vt_canvas_init(&c, width, height, VT_RGB(255, 255, 255), st);
    if (rc) {
        free(seg);
        return rc;
    }
    vt_canvas_text(&c, pad, 6, title, VT_RGB(0, 0, 0), 2);
    vt_canvas_text(&c, left, 26, "key patch j ->", VT_RGB(90, 90, 90), 2);
    /* the rows' title, one letter under the other down the left margin */
    static const char rows[] = "query i";
    for (int k = 0; rows[k]; k++) {
        char ch[2] = {rows[k], 0};
        vt_canvas_text(&c, 6, top + side / 2 - 56 + 16 * k, ch, VT_RGB(90, 90, 90), 2);
    }
    /* the matrix: a pair that may attend in its segment's colour, a masked one dark (VT_VIZ_MASKED) */
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int64_t i = (int64_t)y * down / up, j = (int64_t)x * down / up;
            vt_canvas_set(&c, left + x, top + y, seg[i] == seg[j] ? vt_palette(seg[i]) : VT_VIZ_MASKED);
        }
    free(seg);
    vt_canvas_rect(&c, left - 1, top - 1, side + 2, side + 2, VT_RGB(0, 0, 0), 1);
    axis_ticks(&c, cu, S, N, left, top, side, 1);
    axis_ticks(&c, cu, S, N, left, top, side, 0);
    int ly = top + side + 12;
    vt_canvas_legend(&c, pad, ly, vt_palette(0), S == 1 ? "may attend (mask 0)" : "may attend (mask 0; a colour per segment)", 2);
    vt_canvas_legend(&c, pad, ly + 22, VT_VIZ_MASKED, "masked (-inf): never attended", 2);
    vt_canvas_text_wrap(&c, pad, ly + legend_h + 2, width - 2 * pad, caption, VT_RGB(0, 0, 0), 2);
    rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}

/* ======================================== window partition ======================================== */

int vt_viz_qwen25_windows(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int ws,
                          int merge, int patch, int first, int *n_windows, vt_status *st)
{
    const int64_t lh = gh / merge, lw = gw / merge, tok = (int64_t)merge * patch; /* 28 pixels a merged token */
    const int64_t ph = ws - lh % ws, pw = ws - lw % ws;                              /* as get_window_index pads */
    const int64_t nwh = (lh + ph) / ws, nww = (lw + pw) / ws;
    const int64_t H = (lh + ph) * tok, W = (lw + pw) * tok, ih = gh * patch, iw = gw * patch;
    const int64_t longest = H > W ? H : W;
    const int sc = (int)(longest < 448 ? (447 + longest) / longest : 1);
    *n_windows = 0;
    if (W * sc > 16384 || H * sc > 16384) return VT_OK; /* too large to be worth a picture */

    /* which window each merged token went to, read back from get_window_index itself; a window of padding
     * alone has no token (raw cu_window_seqlens repeats a bound there, which unique_consecutive drops), so
     * the windows the attention sees are numbered without them: segment[w] is that number, -1 for padding */
    vt_arena a;
    vt_arena_init(&a, 0);
    int64_t g[3] = {1, gh, gw};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), wi, raw;
    int rc = vt_qwen25vl_get_window_index(&wi, &raw, &grid, ws, merge, &a, st);
    int32_t *win = rc ? NULL : malloc((size_t)(lh * lw) * sizeof *win);
    int32_t *segment = rc ? NULL : malloc((size_t)(nwh * nww + 1) * sizeof *segment);
    if (!rc && (!win || !segment)) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    if (!rc) {
        const int64_t U = (int64_t)merge * merge;
        int next = first;
        for (int64_t w = 0; w + 1 < raw.shape[0] && w < nwh * nww; w++) {
            const int empty = vt_i32(&raw)[w + 1] == vt_i32(&raw)[w];
            segment[w] = empty ? -1 : next++;
            for (int64_t j = vt_i32(&raw)[w] / U; j < vt_i32(&raw)[w + 1] / U; j++) win[vt_i64(&wi)[j]] = segment[w];
        }
        *n_windows = next - first;
    }
    vt_arena_free(&a);
    char caption[600];
    snprintf(caption, sizeof caption, "%s: %lldx%lld merged tokens of %lld px in windows of %dx%d tokens. \"window k\" "
             "is segment k of visual.window_mask (same colour). Hatched: the padding get_window_index adds (-100); a "
             "window of padding alone is dropped by unique_consecutive and has no number.", file, (long long)lw,
             (long long)lh, (long long)tok, ws, ws);
    const int cw = (int)(W * sc) < 448 ? 448 : (int)(W * sc);
    const int cap_h = rc ? 0 : vt_canvas_text_wrap(NULL, 0, 0, cw - 8, caption, VT_RGB(0, 0, 0), 2) + 8;
    vt_canvas c;
    if (!rc) rc = vt_canvas_init(&c, cw, (int)(H * sc) + cap_h, VT_RGB(255, 255, 255), st);
    if (rc) {
        free(win);
        free(segment);
        return rc;
    }
    /* the -100 padding: hatched grey everywhere, then the image over it */
    for (int y = 0; y < (int)(H * sc); y++)
        for (int x = 0; x < (int)(W * sc); x++)
            vt_canvas_set(&c, x, y, ((x + y) / 6) % 2 ? VT_RGB(150, 150, 150) : VT_RGB(200, 200, 200));
    vt_canvas_blit(&c, 0, 0, rgb, (int)iw, (int)ih, sc);
    /* each merged token tinted with its window's colour (the window mask's colour of that segment) */
    for (int64_t my = 0; my < lh; my++)
        for (int64_t mx = 0; mx < lw; mx++)
            vt_canvas_blend_rect(&c, (int)(mx * tok * sc), (int)(my * tok * sc), (int)(tok * sc), (int)(tok * sc),
                                 vt_palette(win[my * lw + mx]), 0.45f);
    /* window outlines and labels, in get_window_index's order; padding-only windows say so */
    for (int64_t wy = 0; wy < nwh; wy++)
        for (int64_t wx = 0; wx < nww; wx++) {
            int x0 = (int)(wx * ws * tok * sc), y0 = (int)(wy * ws * tok * sc), side = (int)(ws * tok * sc);
            const int k = segment[wy * nww + wx];
            char label[48];
            if (k >= 0) snprintf(label, sizeof label, "window %d", k);
            else snprintf(label, sizeof label, "padding only");
            vt_canvas_rect(&c, x0, y0, side, side, k >= 0 ? VT_RGB(0, 0, 0) : VT_RGB(110, 110, 110), 2);
            const int lw_px = 2 * vt_canvas_text_width(label) + 8;
            if (lw_px + 4 > side) continue; /* no room for a legible label */
            vt_canvas_fill_rect(&c, x0 + 2, y0 + 2, lw_px, 20, k >= 0 ? VT_RGB(255, 255, 255) : VT_RGB(225, 225, 225));
            vt_canvas_text(&c, x0 + 6, y0 + 5, label, k >= 0 ? VT_RGB(0, 0, 0) : VT_RGB(90, 90, 90), 2);
        }
    free(win);
    free(segment);
    vt_canvas_text_wrap(&c, 4, (int)(H * sc) + 6, cw - 8, caption, VT_RGB(0, 0, 0), 2);
    rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
