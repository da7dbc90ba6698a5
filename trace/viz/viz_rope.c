/* viz_rope.c -- the M-RoPE position picture of `vlmtrace rope --viz` (see viz_rope.h). */
#include "viz/viz_rope.h"

#include <stdio.h>
#include <string.h>

#include "viz/viz.h"

#define MAX_ROWS 8     /* batch rows drawn */
#define PANEL_H 110    /* plot height of one axis panel */
#define PANEL_GAP 6
#define LEFT 70        /* room for the axis letter and the value labels (text at scale 2: legible) */
#define RIGHT 12
#define TITLE_H 30
#define ROW_TITLE_H 26
#define LEGEND_H 34

typedef enum { TOK_TEXT, TOK_IMAGE, TOK_VIDEO, TOK_PAD } tok_kind;

static tok_kind kind_of(int64_t id, int masked, const vt_mrope_config *tc)
{
    if (masked) return TOK_PAD;
    if (id == tc->image_token_id) return TOK_IMAGE;
    if (id == tc->video_token_id) return TOK_VIDEO;
    return TOK_TEXT;
}

static const vt_rgb shade[4] = {{255, 255, 255}, {190, 215, 245}, {250, 215, 170}, {215, 215, 215}};

/* x of the left edge of token l in a plot of plot_w pixels for L tokens */
static int x_of(int64_t l, int64_t L, int plot_w) { return LEFT + (int)(l * plot_w / L); }

int vt_viz_rope_positions(vt_tracer *tr, const char *file, const vt_tensor *input_ids, const vt_tensor *position_ids,
                          const vt_tensor *attention_mask, const vt_tensor *rope_deltas, const vt_mrope_config *tc,
                          const char *caption, vt_status *st)
{
    const int64_t B = input_ids->shape[0], L = input_ids->shape[1];
    const int64_t *ids = vt_i64(input_ids), *pos = vt_i64(position_ids);
    const int64_t *mask = attention_mask ? vt_i64(attention_mask) : NULL;
    const int rows = B < MAX_ROWS ? (int)B : MAX_ROWS;
    /* 12 px per token for short prompts, at least 400 and at most 1600 px of plot; long ones share pixels */
    int plot_w = L * 12 < 400 ? 400 : L * 12 > 1600 ? 1600 : (int)L * 12;
    /* one value scale for every panel: the larger of the sequence index and the positions */
    int64_t vmax = L - 1;
    for (int64_t i = 0; i < 3 * B * L; i++)
        if (pos[i] > vmax) vmax = pos[i];
    if (vmax < 1) vmax = 1;
    const int row_h = ROW_TITLE_H + 3 * (PANEL_H + PANEL_GAP);
    char text[256];
    snprintf(text, sizeof text, "M-RoPE position ids (%s): %lld x %lld tokens%s", caption, (long long)B, (long long)L,
             B > rows ? ", first 8 rows" : "");
    int width = LEFT + plot_w + RIGHT;
    if (2 * vt_canvas_text_width(text) + 8 > width) width = 2 * vt_canvas_text_width(text) + 8;
    if (width < 620) width = 620; /* the legend's width at scale 2 */
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, width, TITLE_H + rows * row_h + LEGEND_H, VT_RGB(255, 255, 255), st));
    const vt_rgb black = VT_RGB(0, 0, 0), grey = VT_RGB(120, 120, 120), axis_col[3] = {vt_palette(0), vt_palette(1),
                                                                                        vt_palette(2)};
    vt_canvas_text(&c, 4, 6, text, black, 2);
    const int tok_w = plot_w / L > 1 ? (int)(plot_w / L) : 1;
    const int dot = tok_w >= 6 ? 4 : tok_w >= 3 ? 2 : 1;
    for (int b = 0; b < rows; b++) {
        const int y_row = TITLE_H + b * row_h;
        if (rope_deltas && rope_deltas->data)
            snprintf(text, sizeof text, "row %d   rope_deltas %lld", b, (long long)vt_i64(rope_deltas)[b]);
        else
            snprintf(text, sizeof text, "row %d   (position ids given)", b);
        vt_canvas_text(&c, 4, y_row + 4, text, black, 2);
        for (int ax = 0; ax < 3; ax++) {
            const int y0 = y_row + ROW_TITLE_H + ax * (PANEL_H + PANEL_GAP); /* panel top */
            /* shading: vision spans and padding, token by token */
            for (int64_t l = 0; l < L; l++) {
                tok_kind k = kind_of(ids[b * L + l], mask && mask[b * L + l] == 0, tc);
                if (k == TOK_TEXT) continue;
                int xa = x_of(l, L, plot_w), xb = x_of(l + 1, L, plot_w);
                vt_canvas_fill_rect(&c, xa, y0, xb > xa ? xb - xa : 1, PANEL_H, shade[k]);
            }
            vt_canvas_rect(&c, LEFT, y0, plot_w, PANEL_H, grey, 1);
            /* the sequence index, for comparison: text after a vision block falls below it */
            int yl0 = y0 + PANEL_H - 1, yl1 = y0 + PANEL_H - 1 - (int)((L - 1) * (PANEL_H - 1) / vmax);
            vt_canvas_line(&c, x_of(0, L, plot_w) + tok_w / 2, yl0, x_of(L - 1, L, plot_w) + tok_w / 2, yl1,
                           VT_RGB(200, 200, 200));
            /* the positions: dots joined by thin lines */
            int px = -1, py = -1;
            for (int64_t l = 0; l < L; l++) {
                int64_t v = pos[(ax * B + b) * L + l];
                int x = x_of(l, L, plot_w) + tok_w / 2;
                int y = y0 + PANEL_H - 1 - (int)((v < 0 ? 0 : v) * (PANEL_H - 1) / vmax);
                if (px >= 0) vt_canvas_line(&c, px, py, x, y, axis_col[ax]);
                vt_canvas_fill_rect(&c, x - dot / 2, y - dot / 2, dot, dot, axis_col[ax]);
                px = x, py = y;
            }
            snprintf(text, sizeof text, "%c", "thw"[ax]);
            vt_canvas_text(&c, 6, y0 + PANEL_H / 2 - 12, text, axis_col[ax], 3);
            snprintf(text, sizeof text, "%lld", (long long)vmax);
            vt_canvas_text(&c, LEFT - 6 - 2 * vt_canvas_text_width(text), y0, text, grey, 2);
            vt_canvas_text(&c, LEFT - 6 - 2 * vt_canvas_text_width("0"), y0 + PANEL_H - 16, "0", grey, 2);
        }
    }
    /* legend */
    const int yl = TITLE_H + rows * row_h + 6;
    int x = LEFT;
    const char *names[4] = {"image", "video", "padding", "sequence index"};
    const vt_rgb cols[4] = {shade[TOK_IMAGE], shade[TOK_VIDEO], shade[TOK_PAD], VT_RGB(200, 200, 200)};
    for (int i = 0; i < 4; i++) {
        if (i < 3) {
            vt_canvas_fill_rect(&c, x, yl, 16, 16, cols[i]);
            vt_canvas_rect(&c, x, yl, 16, 16, grey, 1);
        } else {
            vt_canvas_line(&c, x, yl + 15, x + 16, yl, VT_RGB(150, 150, 150));
        }
        vt_canvas_text(&c, x + 22, yl + 1, names[i], black, 2);
        x += 22 + 2 * vt_canvas_text_width(names[i]) + 18;
    }
    int rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
