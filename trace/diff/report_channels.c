/*
 * report_channels.c -- the error by channel of `diff --report` (see report.h): |ours - ref| as a matrix,
 * one row per row of the tensor (every axis but the last, in order) and one column per channel (the last
 * axis), on the same log colour scale as the maps. Above the columns, what the locator says a channel is
 * (its head, its q / k / v part, for an M-RoPE tensor the axis mrope_section gives it); left of the rows,
 * what the row is (its input, or for a token the kind of token). Under it, the maximum over all rows.
 *
 * A wrong mrope_section lights the columns of the h and w bands on the vision tokens only; a wrong
 * rotate_half lights one half of every head; a wrong head split lights whole heads.
 *
 * Legend: R rows, C channels, pool = rows (channels) per pixel row (column) when there are more than fit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/report.h"

#define S 2
#define PLOT_H 320
#define PLOT_W 720

static vt_rgb heat(float v, double lo, double hi)
{
    return v > 0 ? vt_colormap((float)vt_chart_log_t(v, lo, hi)) : VT_WHITE;
}

/* The colour and legend of a row's band: its input, or its token kind. */
static vt_rgb row_colour(const vt_location *l, char *label, size_t n)
{
    if (l->seq >= 0) {
        switch (l->token_kind) {
        case 'i': snprintf(label, n, "image pad"); return vt_palette(0);
        case 'v': snprintf(label, n, "video pad"); return vt_palette(1);
        case 's': case 'e': snprintf(label, n, "vision start/end"); return vt_palette(4);
        case 't': snprintf(label, n, "text"); return VT_RGB(200, 200, 200);
        default: snprintf(label, n, "token"); return VT_RGB(200, 200, 200);
        }
    }
    if (l->input[0]) {
        const char *d = strchr(l->input, '.');
        int k = d ? atoi(d + 1) : 0;
        snprintf(label, n, "%s", l->input);
        return vt_palette(!strncmp(l->input, "video", 5) ? 5 + k : k);
    }
    snprintf(label, n, "?");
    return VT_RGB(200, 200, 200);
}

int report_channels(rep_ctx *ctx, const rep_tensor *t, vt_status *st)
{
    const diff_walk *w = ctx->w;
    const diff_row *r = &w->rows[t->row];
    const char *name = r->er->name;
    const vt_tensor *ref = &t->ref;
    const int64_t C = ref->ndim >= 1 && ref->shape[ref->ndim - 1] > 0 ? ref->shape[ref->ndim - 1] : 1;
    const int64_t R = vt_numel(ref) / C;
    if (R < 1) return VT_OK;
    const int64_t rpool = R > PLOT_H ? (R + PLOT_H - 1) / PLOT_H : 1, cpool = C > PLOT_W ? (C + PLOT_W - 1) / PLOT_W : 1;
    const int64_t DR = (R + rpool - 1) / rpool, DC = (C + cpool - 1) / cpool;
    const int rh = DR * 10 <= PLOT_H ? 10 : (int)(PLOT_H / DR) > 1 ? (int)(PLOT_H / DR) : 1;
    const int cw = DC * 24 <= PLOT_W ? 24 : (int)(PLOT_W / DC) > 1 ? (int)(PLOT_W / DC) : 1;
    float *m = calloc((size_t)(DR * DC + DC), sizeof *m);
    if (!m) return vt_fail(st, VT_ERESOURCE, "out of memory for the channel view of %s", name);
    float *colmax = m + DR * DC;
    /* a head axis before the channels ([N, H, D]): rows regrouped head by head, so each head is one block */
    int64_t NH = 1;
    if (ref->ndim == 3 && ref->shape[1] > 1) {
        vt_location l0, l1;
        vt_locate_quiet(w->loc, name, ref, 0, &l0);
        vt_locate_quiet(w->loc, name, ref, C, &l1);
        if (l0.head == 0 && l1.head == 1) NH = ref->shape[1];
    }
    const int64_t N = R / NH;
#define SRC_ROW(i) (NH > 1 ? ((i) % N) * NH + (i) / N : (i))
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            float e = t->err[SRC_ROW(i) * C + j];
            float *cell = &m[(i / rpool) * DC + j / cpool];
            if (e > *cell) *cell = e;
            if (e > colmax[j / cpool]) colmax[j / cpool] = e;
        }
    const double mark = r->er->dtype == VT_F32 ? r->c.atol_eff : 0;
    double dlo, dhi;
    char note[160];
    report_scale(m, (size_t)(DR * DC), mark, &dlo, &dhi, note, sizeof note);
    /* what each channel is (from row 0) and what each row is */
    int col_heads = 0;
    {
        vt_location a, b;
        vt_locate_quiet(w->loc, name, ref, 0, &a);
        vt_locate_quiet(w->loc, name, ref, C - 1, &b);
        col_heads = a.head != b.head || a.part != b.part;
    }
    /* M-RoPE channels: mrope.*, and the decoder's rotary tensors in a generate trace */
    const size_t nl = strlen(name);
    const int rotary = !strncmp(name, "mrope.", 6) || !strncmp(name, "model.rotary_emb.", 17) ||
                       (!strncmp(name, "model.layers.", 13) && nl > 16 &&
                        (!strcmp(name + nl - 16, "self_attn.q_rope") || !strcmp(name + nl - 16, "self_attn.k_rope")));
    int sec[3], have_sec = vt_locator_mrope_section(w->loc, sec) && rotary && ref->ndim == 4 &&
                                 2 * (sec[0] + sec[1] + sec[2]) == C;
    const int band = 22, left_band = 16, title_h = (note[0] ? 3 : 2) * (VT_LINE_H(S) + 6) + 6, x0 = 16 + left_band + 6,
              y0 = title_h + VT_LINE_H(S) + band + 10;
    const int plot_w = (int)DC * cw, plot_h = (int)DR * rh;
    const int bar_w = vt_chart_colorbar_w(18, dlo, dhi, "max abs(ours - ref)", mark > 0 ? "allowed" : NULL);
    int Wd = x0 + (plot_w > 360 ? plot_w : 360) + 40 + bar_w + 16;
    int H = y0 + plot_h + 8 + 20 + 4 * (VT_LINE_H(S) + 10) + 8;
    if (H < y0 + 170 + VT_LINE_H(S)) H = y0 + 170 + VT_LINE_H(S);
    if (Wd < 16 + vt_chart_text_w("top band: the axis mrope_section [16, 24, 24] gives each channel (t, h, w)", S) + 16)
        Wd = 16 + vt_chart_text_w("top band: the axis mrope_section [16, 24, 24] gives each channel (t, h, w)", S) + 16;
    if (Wd < vt_chart_text_w(note, S) + 24) Wd = vt_chart_text_w(note, S) + 24;
    char line[600];
    snprintf(line, sizeof line, "%s %s", name, r->status == DS_OK ? "(passes)" : "(fails)");
    if (Wd < vt_chart_text_w(line, S) + 20) Wd = vt_chart_text_w(line, S) + 20;
    vt_canvas c;
    int rc = vt_canvas_init(&c, Wd, H, VT_WHITE, st);
    if (rc) {
        free(m);
        return rc;
    }
    vt_chart_text(&c, 8, 6, line, VT_BLACK, S, VT_ALIGN_LEFT);
    snprintf(line, sizeof line, "error by channel: %lld rows x %lld channels (last axis)", (long long)R, (long long)C);
    vt_chart_text(&c, 8, 6 + VT_LINE_H(S) + 6, line, VT_GREY, S, VT_ALIGN_LEFT);
    if (note[0]) vt_chart_text(&c, 8, 6 + 2 * (VT_LINE_H(S) + 6), note, VT_GREY, S, VT_ALIGN_LEFT);
    /* top band: the channel's head / part, or its M-RoPE axis */
    int prev_key = -999, seg_start = 0;
    char labels[3][48] = {"", "", ""};
    for (int64_t j = 0; j <= DC; j++) {
        int key = -1;
        char lab[16] = "";
        if (j < DC) {
            int64_t ch = j * cpool;
            if (have_sec) {
                int64_t f = ch % (C / 2);
                key = f < sec[0] ? 0 : f < sec[0] + sec[1] ? 1 : 2;
                snprintf(lab, sizeof lab, "%c", "thw"[key]);
            } else {
                vt_location l;
                vt_locate_quiet(w->loc, name, ref, ch, &l);
                if (col_heads && l.head >= 0 && (l.n_heads > 1 || l.part)) {
                    key = (l.part ? (l.part == 'q' ? 0 : l.part == 'k' ? 1 : 2) * 1000 : 0) + l.head;
                    if (l.part) snprintf(lab, sizeof lab, "%c%d", l.part, l.head);
                    else snprintf(lab, sizeof lab, "h%d", l.head);
                }
            }
        }
        if (j == DC || key != prev_key) {
            if (j > 0 && prev_key >= 0) {
                int xa = x0 + seg_start * cw, xb = x0 + (int)j * cw;
                vt_rgb col = have_sec ? vt_palette(prev_key) : vt_palette((prev_key / 1000) * 3 + (prev_key % 1000) % 3 + 2);
                vt_canvas_fill_rect(&c, xa, y0 - band - 4, xb - xa - 1, band, col);
                if (vt_chart_text_w(labels[0], S) + 4 <= xb - xa)
                    vt_chart_text(&c, (xa + xb) / 2, y0 - band - 4 + 4, labels[0], VT_WHITE, S, VT_ALIGN_CENTER);
                if (j < DC) vt_canvas_fill_rect(&c, xb - 1, y0 - 2, 1, plot_h + 4, VT_BLACK);
            }
            seg_start = (int)j;
            prev_key = key;
            snprintf(labels[0], sizeof labels[0], "%s", lab);
        }
    }
    /* the matrix and the row band */
    char legend[6][32];
    vt_rgb legend_col[6];
    int n_legend = 0;
    for (int64_t i = 0; i < DR; i++) {
        for (int64_t j = 0; j < DC; j++) vt_canvas_fill_rect(&c, x0 + (int)j * cw, y0 + (int)i * rh, cw, rh, heat(m[i * DC + j], dlo, dhi));
        vt_location l;
        vt_locate_quiet(w->loc, name, ref, SRC_ROW(i * rpool) * C, &l);
        char lab[32];
        vt_rgb col = row_colour(&l, lab, sizeof lab);
        if (NH > 1) {
            snprintf(lab, sizeof lab, "head %lld", (long long)((i * rpool) / N));
            col = vt_palette(2 + (int)((i * rpool) / N));
        }
        vt_canvas_fill_rect(&c, 16, y0 + (int)i * rh, left_band, rh, col);
        int k = 0;
        while (k < n_legend && strcmp(legend[k], lab)) k++;
        if (k == n_legend && n_legend < 6) {
            snprintf(legend[n_legend], sizeof legend[0], "%s", lab);
            legend_col[n_legend++] = col;
        }
    }
    vt_canvas_rect(&c, x0 - 1, y0 - 1, plot_w + 2, plot_h + 2, VT_BLACK, 1);
    /* the maximum over rows */
    const int yb = y0 + plot_h + 8;
    for (int64_t j = 0; j < DC; j++) vt_canvas_fill_rect(&c, x0 + (int)j * cw, yb, cw, 14, heat(colmax[j], dlo, dhi));
    vt_canvas_rect(&c, x0 - 1, yb - 1, plot_w + 2, 16, VT_BLACK, 1);
    vt_chart_text(&c, x0, yb + 20, "above: max over rows; left band: what the row is", VT_GREY, S, VT_ALIGN_LEFT);
    int lx = 16, ly = yb + 20 + VT_LINE_H(S) + 10;
    for (int k = 0; k < n_legend; k++) {
        int tw = vt_chart_text_w(legend[k], S);
        if (lx + 20 + tw > Wd - 8) lx = 16, ly += VT_LINE_H(S) + 8;
        vt_canvas_fill_rect(&c, lx, ly, 14, 14, legend_col[k]);
        vt_chart_text(&c, lx + 20, ly, legend[k], VT_BLACK, S, VT_ALIGN_LEFT);
        lx += 20 + tw + 24;
    }
    if (have_sec) {
        snprintf(line, sizeof line, "top band: the axis mrope_section [%d, %d, %d] gives each channel (t, h, w)", sec[0],
                 sec[1], sec[2]);
        vt_chart_text(&c, 16, ly + VT_LINE_H(S) + 10, line, VT_GREY, S, VT_ALIGN_LEFT);
    } else if (col_heads) {
        vt_chart_text(&c, 16, ly + VT_LINE_H(S) + 10, "top band: the head (and q/k/v part) of each channel", VT_GREY, S,
                      VT_ALIGN_LEFT);
    } else if (NH > 1) {
        vt_chart_text(&c, 16, ly + VT_LINE_H(S) + 10, "rows grouped by head (left band), tokens in order within each",
                      VT_GREY, S, VT_ALIGN_LEFT);
    }
    if (rpool > 1 || cpool > 1) {
        snprintf(line, sizeof line, "each cell: max over %lld row(s) x %lld channel(s)", (long long)rpool, (long long)cpool);
        vt_chart_text(&c, 16, ly + ((have_sec || col_heads || NH > 1) ? 2 : 1) * (VT_LINE_H(S) + 10), line, VT_GREY, S,
                      VT_ALIGN_LEFT);
    }
    int ph = plot_h < 160 ? 160 : plot_h > H - y0 - 20 ? H - y0 - 20 : plot_h;
    vt_chart_colorbar(&c, x0 + (plot_w > 360 ? plot_w : 360) + 40, y0, 18, ph, dlo, dhi, "max abs(ours - ref)", mark,
                      mark > 0 ? "allowed" : NULL);
    char file[48], title[320], alt[320];
    snprintf(file, sizeof file, "channels.%d.png", t->index);
    snprintf(title, sizeof title, "Error by channel: %s", name);
    snprintf(alt, sizeof alt, "matrix of |ours - ref| of %s, %lld rows by %lld channels", name, (long long)R, (long long)C);
#undef SRC_ROW
    rc = report_add_pic(ctx, &c, file, title, alt, st);
    vt_canvas_free(&c);
    free(m);
    return rc;
}
