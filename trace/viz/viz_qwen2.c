/*
 * viz_qwen2.c -- the --viz pictures of Qwen2-VL and Qwen2.5-VL (viz_qwen2.h): attention masks and window
 * partitions, RGB PNGs written into the trace directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwen25vl/qwen25vl.h"
#include "viz/viz.h"
#include "viz/viz_qwen2.h"

/* ======================================== attention mask ======================================== */

int vt_viz_qwen2_mask(vt_tracer *tr, const char *file, const int32_t *cu, int64_t S, int64_t N, vt_status *st)
{
    /* one cell per (query, key) pair, blown up to about 512 pixels for small N; above 2048 patches each
     * pixel stands for a square of pairs (its top-left pair's colour) */
    const int64_t up = N < 512 ? (511 + N) / N : 1, down = N > 2048 ? (N + 2047) / 2048 : 1;
    const int64_t side = (N * up + down - 1) / down;
    int32_t *seg = malloc((size_t)(N > 0 ? N : 1) * sizeof *seg); /* the segment of each row */
    if (!seg) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int64_t g = 0; g < S; g++)
        for (int64_t r = cu[g]; r < cu[g + 1]; r++) seg[r] = (int32_t)g;
    vt_canvas c;
    int rc = vt_canvas_init(&c, (int)side, (int)side, VT_RGB(32, 32, 32), st); /* -inf: never attended */
    if (rc) {
        free(seg);
        return rc;
    }
    for (int y = 0; y < c.h; y++)
        for (int x = 0; x < c.w; x++) {
            int64_t i = (int64_t)y * down / up, j = (int64_t)x * down / up;
            if (seg[i] == seg[j]) vt_canvas_set(&c, x, y, vt_palette(seg[i])); /* 0: inside a segment */
        }
    free(seg);
    rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}

/* ======================================== window partition ======================================== */

int vt_viz_qwen25_windows(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int ws,
                          int merge, int patch, vt_status *st)
{
    const int64_t lh = gh / merge, lw = gw / merge, tok = (int64_t)merge * patch; /* 28 pixels a merged token */
    const int64_t ph = ws - lh % ws, pw = ws - lw % ws;                              /* as get_window_index pads */
    const int64_t nwh = (lh + ph) / ws, nww = (lw + pw) / ws;
    const int64_t H = (lh + ph) * tok, W = (lw + pw) * tok, ih = gh * patch, iw = gw * patch;
    const int64_t longest = H > W ? H : W;
    const int sc = (int)(longest < 448 ? (447 + longest) / longest : 1);
    if (W * sc > 16384 || H * sc > 16384) return VT_OK; /* too large to be worth a picture */

    /* which window each merged token went to, read back from get_window_index itself */
    vt_arena a;
    vt_arena_init(&a, 0);
    int64_t g[3] = {1, gh, gw};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), wi, raw;
    int rc = vt_qwen25vl_get_window_index(&wi, &raw, &grid, ws, merge, &a, st);
    int32_t *win = rc ? NULL : malloc((size_t)(lh * lw) * sizeof *win);
    if (!rc && !win) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    if (!rc) {
        const int64_t U = (int64_t)merge * merge;
        for (int64_t w = 0; w + 1 < raw.shape[0]; w++)
            for (int64_t j = vt_i32(&raw)[w] / U; j < vt_i32(&raw)[w + 1] / U; j++) win[vt_i64(&wi)[j]] = (int32_t)w;
    }
    vt_arena_free(&a);
    vt_canvas c;
    if (!rc) rc = vt_canvas_init(&c, (int)(W * sc), (int)(H * sc), VT_RGB(200, 200, 200), st);
    if (rc) {
        free(win);
        return rc;
    }
    /* the -100 padding: hatched grey everywhere, then the image over it */
    for (int y = 0; y < c.h; y++)
        for (int x = 0; x < c.w; x++)
            if (((x + y) / 6) % 2) vt_canvas_set(&c, x, y, VT_RGB(150, 150, 150));
    vt_canvas_blit(&c, 0, 0, rgb, (int)iw, (int)ih, sc);
    /* each merged token tinted with its window's colour */
    for (int64_t my = 0; my < lh; my++)
        for (int64_t mx = 0; mx < lw; mx++)
            vt_canvas_blend_rect(&c, (int)(mx * tok * sc), (int)(my * tok * sc), (int)(tok * sc), (int)(tok * sc),
                                 vt_palette(win[my * lw + mx]), 0.45f);
    /* window outlines and numbers (the order get_window_index gives them, empty padding windows included) */
    for (int64_t wy = 0; wy < nwh; wy++)
        for (int64_t wx = 0; wx < nww; wx++) {
            int x0 = (int)(wx * ws * tok * sc), y0 = (int)(wy * ws * tok * sc), side = (int)(ws * tok * sc);
            char label[32];
            snprintf(label, sizeof label, "window %lld", (long long)(wy * nww + wx));
            vt_canvas_rect(&c, x0, y0, side, side, VT_RGB(0, 0, 0), 2);
            vt_canvas_text(&c, x0 + 4, y0 + 4, label, VT_RGB(0, 0, 0), 1);
        }
    free(win);
    rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
