/* viz_kimivl.c -- the --viz picture of one Kimi-VL input (see viz_kimivl.h). */
#include "viz/viz_kimivl.h"

#include <stdio.h>

#include "viz/viz.h"

int vt_viz_kimivl_image(vt_tracer *tr, const char *file, const uint8_t *rgb, int pw, int ph, int rw, int rh, int w0,
                        int h0, int patch, int merge, int64_t first_token, vt_status *st)
{
    if (pw < 1 || ph < 1 || patch < 1 || merge < 1)
        return vt_fail(st, VT_EINPUT, "%s: nothing to draw (%dx%d, patch %d, merge %d)", file, pw, ph, patch, merge);
    const int side = pw > ph ? pw : ph, block = patch * merge;
    int zoom = 640 / side; /* small images zoomed up to ~640 px, as vt_viz_patch_grid does */
    if (zoom < 1) zoom = 1;
    if (zoom > 8) zoom = 8;
    const int bw = pw / block, bh = ph / block;
    char caption[600];
    snprintf(caption, sizeof caption, "%dx%d -> %s%dx%d -> padded %dx%d (shaded magenta: the zero padding, -1 after "
             "normalize). %dx%d patches of %d px (thin lines); %dx%d merge blocks (gold), each one token, numbered by "
             "its row in multi_modal_projector: %lld..%lld.", w0, h0, rw != w0 || rh != h0 ? "resized " : "(no resize) ",
             rw, rh, pw, ph, ph / patch, pw / patch, patch, bh, bw, (long long)first_token,
             (long long)(first_token + bw * bh - 1));
    const int cw = pw * zoom < 480 ? 480 : pw * zoom;
    const int cap_h = vt_canvas_text_wrap(NULL, 0, 0, cw - 8, caption, VT_RGB(0, 0, 0), 2) + 8;
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, cw, ph * zoom + cap_h, VT_RGB(255, 255, 255), st));
    vt_canvas_blit(&c, 0, 0, rgb, pw, ph, zoom);
    /* the padding the processor added on the right and at the bottom */
    const vt_rgb pad = VT_RGB(200, 0, 200);
    vt_canvas_blend_rect(&c, rw * zoom, 0, (pw - rw) * zoom, ph * zoom, pad, 0.45f);
    vt_canvas_blend_rect(&c, 0, rh * zoom, rw * zoom, (ph - rh) * zoom, pad, 0.45f);
    /* patch lines, then the merge blocks, each numbered with its row in multi_modal_projector (row-major):
     * at scale 2 where the number fits inside its block, left out where it does not */
    for (int x = 0; x < pw; x += patch) vt_canvas_blend_rect(&c, x * zoom, 0, 1, ph * zoom, VT_RGB(255, 255, 255), 0.5f);
    for (int y = 0; y < ph; y += patch) vt_canvas_blend_rect(&c, 0, y * zoom, pw * zoom, 1, VT_RGB(255, 255, 255), 0.5f);
    const int t = zoom >= 2 ? 2 : 1;
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++) {
            vt_canvas_rect(&c, bx * block * zoom, by * block * zoom, block * zoom, block * zoom, VT_RGB(255, 200, 0), t);
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)(first_token + (int64_t)by * bw + bx));
            const int nw = 2 * vt_canvas_text_width(num) + 8;
            if (nw + 2 * t + 2 <= block * zoom && 18 + 2 * t <= block * zoom) {
                int x = bx * block * zoom + t, y = by * block * zoom + t;
                vt_canvas_fill_rect(&c, x, y, nw, 18, VT_RGB(0, 0, 0));
                vt_canvas_text(&c, x + 2, y + 2, num, VT_RGB(255, 200, 0), 2);
            }
        }
    vt_canvas_text_wrap(&c, 4, ph * zoom + 4, cw - 8, caption, VT_RGB(0, 0, 0), 2);
    int rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}
