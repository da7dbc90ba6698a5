/*
 * viz_qwen3.c -- the --viz pictures of Qwen3-VL (viz_qwen3.h): where each patch samples the learned
 * position table, and which blocks feed DeepStack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz/viz.h"
#include "viz/viz_qwen3.h"

/* A colour per grid point: red grows down the rows, blue across the columns. */
static vt_rgb patch_colour(int64_t r, int64_t c, int64_t gh, int64_t gw)
{
    int red = gh > 1 ? (int)(40 + 215 * r / (gh - 1)) : 40;
    int blue = gw > 1 ? (int)(40 + 215 * c / (gw - 1)) : 40;
    return VT_RGB(red, 60, blue);
}

/* ======================================== position table ======================================== */

int vt_viz_qwen3_pos_embed(vt_tracer *tr, const char *file, const uint8_t *rgb, int64_t gh, int64_t gw, int patch,
                           int side, vt_status *st)
{
    const int64_t ih = gh * patch, iw = gw * patch, longest = ih > iw ? ih : iw;
    const int zoom = (int)(longest < 384 ? (383 + longest) / longest : 1);
    const int cell = side <= 16 ? 40 : side <= 32 ? 16 : 10; /* table cell in pixels */
    static const char sub[] = "dot = linspace(0, side-1, n) sample of one patch (its colour); shaded = a corner cell "
                              "some patch mixes";
    const int tw = side * cell, pad = 24, bottom = 8 + 2 * VT_TEXT_LINE + 8;
    const int64_t W = iw * zoom + tw + 3 * pad, Hl = ih * zoom > tw ? ih * zoom : tw;
    if (W > 16384 || Hl > 16384) return VT_OK; /* too large to be worth a picture */
    /* every caption at scale 2 (viz.h); the subtitle wraps to the picture's width */
    const int top = 8 + 2 * VT_TEXT_LINE + 4 + vt_canvas_text_wrap(NULL, 0, 0, (int)W - 2 * pad, sub, VT_RGB(0, 0, 0), 2) + 12;
    const int64_t H = top + Hl + bottom;

    /* the sample positions, exactly as the forward computes them */
    vt_arena a;
    vt_arena_init(&a, 0);
    int64_t g[3] = {1, gh, gw};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), idx, wgt;
    float *hi = malloc((size_t)gh * sizeof *hi), *wi = malloc((size_t)gw * sizeof *wi);
    int rc = (!hi || !wi) ? vt_fail(st, VT_ERESOURCE, "out of memory") : VT_OK;
    if (!rc) rc = vt_qwen3vl_pos_interp_weights(&idx, &wgt, &grid, side, 0, &a, st);
    vt_canvas c;
    if (!rc) rc = vt_canvas_init(&c, (int)W, (int)H, VT_RGB(255, 255, 255), st);
    if (rc) {
        free(hi);
        free(wi);
        vt_arena_free(&a);
        return rc;
    }
    vt_qwen3vl_linspace(hi, gh, 0.0f, (float)(side - 1));
    vt_qwen3vl_linspace(wi, gw, 0.0f, (float)(side - 1));

    char title[160];
    snprintf(title, sizeof title, "%lld x %lld patches sample the %d x %d position table", (long long)gh,
             (long long)gw, side, side);
    vt_canvas_text(&c, pad, 8, title, VT_RGB(0, 0, 0), 2);
    vt_canvas_text_wrap(&c, pad, 8 + 2 * VT_TEXT_LINE + 4, (int)W - 2 * pad, sub, VT_RGB(60, 60, 60), 2);

    /* left: the image, each patch tinted by its colour, the patch grid */
    const int x0 = pad, y0 = top;
    vt_canvas_blit(&c, x0, y0, rgb, (int)iw, (int)ih, zoom);
    const int ps = patch * zoom;
    for (int64_t r = 0; r < gh; r++)
        for (int64_t k = 0; k < gw; k++) {
            vt_canvas_blend_rect(&c, x0 + (int)k * ps, y0 + (int)r * ps, ps, ps, patch_colour(r, k, gh, gw), 0.45f);
            vt_canvas_rect(&c, x0 + (int)k * ps, y0 + (int)r * ps, ps, ps, VT_RGB(255, 255, 255), 1);
        }
    snprintf(title, sizeof title, "image: grid %lld x %lld", (long long)gh, (long long)gw);
    vt_canvas_text(&c, x0, y0 + (int)ih * zoom + 8, title, VT_RGB(0, 0, 0), 2);

    /* right: the table; cells used as a corner shaded, then grid lines, then one dot per patch */
    const int tx = x0 + (int)iw * zoom + pad, ty = top;
    const int64_t S = gh * gw;
    for (int64_t s = 0; s < S; s++)
        for (int k = 0; k < 4; k++) {
            int64_t e = vt_i64(&idx)[k * S + s];
            if (vt_f32(&wgt)[k * S + s] > 0)
                vt_canvas_fill_rect(&c, tx + (int)(e % side) * cell, ty + (int)(e / side) * cell, cell, cell,
                                    VT_RGB(215, 225, 240));
        }
    for (int i = 0; i <= side; i++) {
        vt_canvas_line(&c, tx + i * cell, ty, tx + i * cell, ty + tw, VT_RGB(150, 150, 150));
        vt_canvas_line(&c, tx, ty + i * cell, tx + tw, ty + i * cell, VT_RGB(150, 150, 150));
    }
    /* a table cell's centre is its row/column index: the sample at (hi, wi) sits between cell centres */
    const int dot = cell >= 40 ? 7 : cell >= 16 ? 5 : 3;
    for (int64_t r = 0; r < gh; r++)
        for (int64_t k = 0; k < gw; k++) {
            int px = tx + (int)(wi[k] * (float)cell + 0.5f * (float)cell);
            int py = ty + (int)(hi[r] * (float)cell + 0.5f * (float)cell);
            vt_canvas_fill_rect(&c, px - dot / 2, py - dot / 2, dot, dot, patch_colour(r, k, gh, gw));
        }
    snprintf(title, sizeof title, "visual.pos_embed.weight: %d x %d rows (row-major)", side, side);
    vt_canvas_text_wrap(&c, tx, ty + tw + 8, tw, title, VT_RGB(0, 0, 0), 2);

    free(hi);
    free(wi);
    vt_arena_free(&a);
    rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}

/* ======================================== DeepStack ======================================== */

int vt_viz_qwen3_deepstack(vt_tracer *tr, const char *file, const vt_qwen3vl_config *cfg, vt_status *st)
{
    /* every text at scale 2 (viz.h): a block is wide enough for a two-digit number */
    const int depth = cfg->vision.depth, box = depth <= 12 ? 56 : 36, pad = 24, merger_w = 140;
    static const char title[] = "DeepStack: which vision blocks feed the language model";
    static const char sub[] = "coloured block = its output goes through deepstack_merger_list.k; feature j is added "
                              "to the LM hidden states after decoder layer j";
    static const char blocks[] = "vision blocks 0 .. depth-1 (Qwen3VLVisionBlock)";
    static const char label_w[] = "deepstack_merger_list.00 -> feature 00 -> after LM layer 00";
    /* wide enough for the row of blocks and the merger, the title, and the last label */
    int W = depth * box + 2 * pad + 16 + merger_w;
    if (2 * vt_canvas_text_width(title) + 2 * pad > W) W = 2 * vt_canvas_text_width(title) + 2 * pad;
    if (2 * vt_canvas_text_width(blocks) + 2 * pad > W) W = 2 * vt_canvas_text_width(blocks) + 2 * pad;
    for (int i = 0; i < depth; i++)
        if (vt_qwen3vl_deepstack_slot(cfg, i) >= 0 &&
            pad + i * box + box / 2 + 8 + 2 * vt_canvas_text_width(label_w) + pad > W)
            W = pad + i * box + box / 2 + 8 + 2 * vt_canvas_text_width(label_w) + pad;
    if (W > 16384) return VT_OK;
    const int sub_y = 8 + 2 * VT_TEXT_LINE + 4;
    const int sub_h = vt_canvas_text_wrap(NULL, 0, 0, W - 2 * pad, sub, VT_RGB(0, 0, 0), 2);
    const int by = sub_y + sub_h + 12 + 2 * VT_TEXT_LINE + 4, bh = 40; /* the row of blocks */
    const int rows = cfg->n_deepstack < 3 ? cfg->n_deepstack : 3, H = by + bh + 20 + (rows > 0 ? rows - 1 : 0) * 50 + 20;
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, W, H, VT_RGB(255, 255, 255), st));
    vt_canvas_text(&c, pad, 8, title, VT_RGB(0, 0, 0), 2);
    vt_canvas_text_wrap(&c, pad, sub_y, W - 2 * pad, sub, VT_RGB(60, 60, 60), 2);
    vt_canvas_text(&c, pad, by - 2 * VT_TEXT_LINE - 2, blocks, VT_RGB(0, 0, 0), 2);
    int feature = 0;
    for (int i = 0; i < depth; i++) {
        const int x = pad + i * box;
        const int k = vt_qwen3vl_deepstack_slot(cfg, i);
        vt_canvas_fill_rect(&c, x + 2, by, box - 4, bh, k >= 0 ? vt_palette(k) : VT_RGB(225, 225, 225));
        vt_canvas_rect(&c, x + 2, by, box - 4, bh, VT_RGB(80, 80, 80), 1);
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        vt_canvas_text(&c, x + (box - 2 * vt_canvas_text_width(num)) / 2, by + bh / 2 - 7, num, VT_RGB(0, 0, 0), 2);
        if (i + 1 < depth) vt_canvas_line(&c, x + box - 2, by + bh / 2, x + box + 2, by + bh / 2, VT_RGB(0, 0, 0));
        if (k < 0) continue;
        /* a drop from the block to its merger, staggered so that neighbouring labels do not collide */
        const int ly = by + bh + 20 + (feature % 3) * 50;
        vt_canvas_line(&c, x + box / 2, by + bh, x + box / 2, ly, vt_palette(k));
        vt_canvas_line(&c, x + box / 2 + 1, by + bh, x + box / 2 + 1, ly, vt_palette(k));
        char label[96];
        snprintf(label, sizeof label, "deepstack_merger_list.%d -> feature %d -> after LM layer %d", k, feature,
                 feature);
        vt_canvas_fill_rect(&c, x + box / 2 - 3, ly - 3, 7, 7, vt_palette(k));
        vt_canvas_text(&c, x + box / 2 + 8, ly - 7, label, VT_RGB(0, 0, 0), 2);
        feature++;
    }
    /* the final merger after the last block */
    const int lx = pad + depth * box;
    vt_canvas_line(&c, lx - 2, by + bh / 2, lx + 16, by + bh / 2, VT_RGB(0, 0, 0));
    vt_canvas_fill_rect(&c, lx + 16, by - 6, merger_w, bh + 12, VT_RGB(90, 90, 90));
    vt_canvas_text(&c, lx + 24, by - 2, "merger", VT_RGB(255, 255, 255), 2);
    vt_canvas_text(&c, lx + 24, by + 2 + 2 * VT_TEXT_LINE - 4, "-> visual", VT_RGB(255, 255, 255), 2);
    int rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
