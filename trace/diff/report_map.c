/*
 * report_map.c -- the error maps of `diff --report` (see report.h): the panels report_place.c filled,
 * drawn as heat maps over each input's resized image from the reference trace (image.{k}.resized), with
 * the Qwen2.5-VL windows inside the blocks, a colour bar with the numbers, the input's name on each panel;
 * and the same per head as small multiples.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/report.h"

#define S 2
/* ======================================== drawing ======================================== */

/* The background of a panel: the input's resized image (frame of temporal patch t) from the reference. */
static int load_background(const diff_walk *w, const rep_panel *p, vt_tensor *img, void **buf, int64_t *frame)
{
    char name[64];
    snprintf(name, sizeof name, "%s.resized", p->input);
    const vt_manifest_entry *e = vt_manifest_find(w->mr, name);
    *buf = NULL;
    if (!e || e->dtype != VT_U8 || (e->ndim != 3 && e->ndim != 4) || e->shape[e->ndim - 1] != 3) return 0;
    vt_status st = {0};
    if (vt_manifest_load(w->mr, e, img, buf, &st)) return 0;
    *frame = 0;
    if (img->ndim == 4) {
        const char *nm;
        int64_t T = 1, gh, gw;
        for (int i = 0; vt_locator_input(w->loc, i, &nm, &T, &gh, &gw); i++)
            if (!strcmp(nm, p->input)) break;
        int64_t F = img->shape[0];
        *frame = T > 0 ? p->t * (F / T > 0 ? F / T : 1) : 0;
        if (*frame >= F) *frame = F - 1;
    }
    return 1;
}

typedef struct scale_t {
    double lo, hi; /* log colour scale bounds */
    char note[160];
} scale_t;

static vt_rgb heat(float v, const scale_t *s) { return vt_colormap((float)vt_chart_log_t(v, s->lo, s->hi)); }

/* Panel size in pixels for a target long side. */
static void panel_size(const rep_panel *p, int target, int *pw, int *ph, int *cell)
{
    if (p->kind == REP_STRIP) {
        int per_line = p->gw < 48 ? (int)p->gw : 48;
        *cell = target / per_line < 6 ? 6 : target / per_line > 20 ? 20 : target / per_line;
        *pw = per_line * *cell;
        *ph = (int)((p->gw + per_line - 1) / per_line) * (*cell + 4);
        return;
    }
    int64_t side = p->gh > p->gw ? p->gh : p->gw;
    *cell = 0;
    double s = (double)target / side;
    *pw = (int)lrint(p->gw * s);
    *ph = (int)lrint(p->gh * s);
    if (*pw < 1) *pw = 1;
    if (*ph < 1) *ph = 1;
}

/* Draw panel p, slot s, at (x, y) in pw x ph pixels. */
static void draw_panel(vt_canvas *c, const diff_walk *w, const rep_panel *p, int slot, int x, int y, int pw, int ph,
                       int cell, const scale_t *sc, int windows)
{
    const float *v = p->v + (size_t)slot * p->gh * p->gw;
    if (p->kind == REP_STRIP) {
        int per_line = pw / cell;
        for (int64_t i = 0; i < p->gw; i++) {
            int cx = x + (int)(i % per_line) * cell, cy = y + (int)(i / per_line) * (cell + 4);
            vt_canvas_fill_rect(c, cx, cy, cell - 1, cell, v[i] < 0 ? VT_LIGHT : v[i] == 0 ? VT_WHITE : heat(v[i], sc));
            vt_canvas_rect(c, cx, cy, cell - 1, cell, VT_LIGHT, 1);
        }
        return;
    }
    /* the image, greyed and lightened so that the heat reads over it */
    vt_tensor img;
    void *buf;
    int64_t frame = 0;
    int have = load_background(w, p, &img, &buf, &frame);
    const int64_t IH = have ? img.shape[img.ndim - 3] : 0, IW = have ? img.shape[img.ndim - 2] : 0;
    for (int j = 0; j < ph; j++)
        for (int i = 0; i < pw; i++) {
            int64_t gy = (int64_t)j * p->gh / ph, gx = (int64_t)i * p->gw / pw;
            float e = v[gy * p->gw + gx];
            int g = 235;
            if (have) {
                const uint8_t *px = vt_u8(&img) + ((frame * IH + (int64_t)j * IH / ph) * IW + (int64_t)i * IW / pw) * 3;
                g = 130 + (px[0] * 30 + px[1] * 59 + px[2] * 11) / 100 / 2; /* luma, halved into [130, 257] */
                if (g > 255) g = 255;
            }
            vt_rgb col = VT_RGB(g, g, g);
            if (e > 0) {
                vt_rgb h = heat(e, sc);
                col = VT_RGB((h.r * 4 + g) / 5, (h.g * 4 + g) / 5, (h.b * 4 + g) / 5);
            }
            vt_canvas_set(c, x + i, y + j, col);
        }
    free(buf);
    /* Qwen2.5-VL windows: a line wherever two neighbouring patches sit in different windows */
    if (windows && p->kind == REP_GRID)
        for (int64_t gy = 0; gy < p->gh; gy++)
            for (int64_t gx = 0; gx < p->gw; gx++) {
                int a = vt_locate_window(w->loc, p->input, p->t, gy, gx);
                int x1 = x + (int)((gx + 1) * pw / p->gw), y1 = y + (int)((gy + 1) * ph / p->gh);
                int xa = x + (int)(gx * pw / p->gw), ya = y + (int)(gy * ph / p->gh);
                if (gx + 1 < p->gw && a != vt_locate_window(w->loc, p->input, p->t, gy, gx + 1))
                    vt_canvas_fill_rect(c, x1 - 1, ya, 3, y1 - ya, VT_WHITE), vt_canvas_fill_rect(c, x1, ya, 1, y1 - ya, VT_BLACK);
                if (gy + 1 < p->gh && a != vt_locate_window(w->loc, p->input, p->t, gy + 1, gx))
                    vt_canvas_fill_rect(c, xa, y1 - 1, x1 - xa, 3, VT_WHITE), vt_canvas_fill_rect(c, xa, y1, x1 - xa, 1, VT_BLACK);
            }
    vt_canvas_rect(c, x - 1, y - 1, pw + 2, ph + 2, VT_BLACK, 1);
}

static void panel_caption(const rep_panel *p, const diff_walk *w, char *b, size_t n)
{
    if (p->kind == REP_STRIP) {
        snprintf(b, n, "tokens of batch row %lld", (long long)p->t);
        return;
    }
    const char *nm;
    int64_t T = 1, gh, gw;
    for (int i = 0; vt_locator_input(w->loc, i, &nm, &T, &gh, &gw); i++)
        if (!strcmp(nm, p->input)) break;
    const char *what = p->kind == REP_PIXELS ? "pixels" : p->kind == REP_QUERY ? "query grid" : "patches";
    if (!strncmp(p->input, "video", 5) || T > 1)
        snprintf(b, n, "%s t %lld (%s)", p->input, (long long)p->t, what);
    else snprintf(b, n, "%s (%s)", p->input, what);
}

/* One picture: the panels of the given slots (rows of small multiples when n_rows > 1). */
static int draw(rep_ctx *ctx, const rep_tensor *t, rep_map *a, const int *slots, const char *const *row_names,
                int n_rows, int target, const char *file, const char *title, const char *alt, const scale_t *sc,
                double mark, int windows, vt_status *st)
{
    const diff_walk *w = ctx->w;
    const diff_row *r = &w->rows[t->row];
    int pw[REP_MAX_PANELS], ph[REP_MAX_PANELS], cell[REP_MAX_PANELS], row_h = 0, row_w = 0;
    /* pixel panels at twice their size (up to 560 px): single pixels must show */
    int64_t side = 0;
    for (int i = 0; i < a->n; i++)
        if (a->p[i].kind == REP_PIXELS) side = a->p[i].gh > side ? a->p[i].gh : side, side = a->p[i].gw > side ? a->p[i].gw : side;
    const int cap_h = VT_LINE_H(S) + 6, gap = 16, left = n_rows > 1 ? 130 : 12;
    for (int i = 0; i < a->n; i++) {
        int tg = a->p[i].kind == REP_STRIP ? target * 8 / 5 : a->p[i].kind == REP_PIXELS && n_rows == 1
                 ? (int)(side * 2 > 560 ? 560 : side * 2 < target ? target : side * 2) : target;
        panel_size(&a->p[i], tg, &pw[i], &ph[i], &cell[i]);
        int cw = vt_chart_text_w("image.0 t 0 (patches)", S);
        if (a->p[i].kind != REP_STRIP) row_w += (pw[i] > cw ? pw[i] : cw) + gap;
        if (a->p[i].kind != REP_STRIP && ph[i] > row_h) row_h = ph[i];
    }
    int strip_h = 0, strip_w = 0;
    for (int i = 0; i < a->n; i++)
        if (a->p[i].kind == REP_STRIP) strip_h += ph[i] + cap_h + 8, strip_w = pw[i] > strip_w ? pw[i] : strip_w;
    const int bar_w = vt_chart_colorbar_w(18, sc->lo, sc->hi, "max abs(ours - ref)", mark > 0 ? "allowed" : NULL);
    int body_w = row_w > strip_w ? row_w : strip_w, title_h = (sc->note[0] ? 3 : 2) * (VT_LINE_H(S) + 6) + 6;
    int block_h = (row_h ? row_h + cap_h + 10 : 0) + strip_h;
    int H = title_h + n_rows * block_h + 40, Wd = left + body_w + 40 + bar_w + 16;
    if (H < title_h + 260) H = title_h + 260;
    char line[600];
    snprintf(line, sizeof line, "%s %s", r->er->name, r->status == DS_OK ? "(passes)" : "(fails)");
    int tw = vt_chart_text_w(line, S) + 20, tw2 = vt_chart_text_w(title, S) + 20, tw3 = vt_chart_text_w(sc->note, S) + 20;
    if (tw < tw3) tw = tw3;
    if (Wd < tw) Wd = tw;
    if (Wd < tw2) Wd = tw2;
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, Wd, H, VT_WHITE, st));
    vt_chart_text(&c, 8, 6, line, VT_BLACK, S, VT_ALIGN_LEFT);
    vt_chart_text(&c, 8, 6 + VT_LINE_H(S) + 6, title, VT_GREY, S, VT_ALIGN_LEFT);
    if (sc->note[0]) vt_chart_text(&c, 8, 6 + 2 * (VT_LINE_H(S) + 6), sc->note, VT_GREY, S, VT_ALIGN_LEFT);
    for (int row = 0; row < n_rows; row++) {
        int y = title_h + row * block_h, x = left;
        if (n_rows > 1) vt_chart_text(&c, 8, y + cap_h + 6, row_names[row], VT_BLACK, S, VT_ALIGN_LEFT);
        for (int i = 0; i < a->n; i++) {
            if (a->p[i].kind == REP_STRIP) continue;
            char cb[96];
            panel_caption(&a->p[i], w, cb, sizeof cb);
            if (row == 0 || n_rows == 1) vt_chart_text(&c, x, y, cb, VT_BLACK, S, VT_ALIGN_LEFT);
            draw_panel(&c, w, &a->p[i], slots[row], x + 1, y + cap_h, pw[i], ph[i], cell[i], sc, windows);
            int cw = vt_chart_text_w("image.0 t 0 (patches)", S);
            x += (pw[i] > cw ? pw[i] : cw) + gap;
        }
        y += row_h ? row_h + cap_h + 10 : 0;
        for (int i = 0; i < a->n; i++) {
            if (a->p[i].kind != REP_STRIP) continue;
            char cb[96];
            panel_caption(&a->p[i], w, cb, sizeof cb);
            vt_chart_text(&c, left, y, cb, VT_BLACK, S, VT_ALIGN_LEFT);
            draw_panel(&c, w, &a->p[i], slots[row], left + 1, y + cap_h, pw[i], ph[i], cell[i], sc, 0);
            y += ph[i] + cap_h + 8;
        }
    }
    int bh = H - title_h - 80;
    vt_chart_colorbar(&c, left + body_w + 40, title_h + VT_LINE_H(S) + 12, 18, bh > 400 ? 400 : bh, sc->lo, sc->hi,
                      "max abs(ours - ref)", mark, mark > 0 ? "allowed" : NULL);
    int rc = report_add_pic(ctx, &c, file, title, alt, st);
    vt_canvas_free(&c);
    return rc;
}

int report_maps(rep_ctx *ctx, const rep_tensor *t, vt_status *st)
{
    const diff_walk *w = ctx->w;
    const diff_row *r = &w->rows[t->row];
    const char *name = r->er->name;
    rep_map a;
    int rc = report_map_build(w->loc, name, &t->ref, t->err, &a, st);
    if (rc) return rc;
    if (a.n == 0 && ctx->n_notes < 8) {
        snprintf(ctx->notes[ctx->n_notes++], sizeof ctx->notes[0],
                 "%s: no element of it has a place on an input (the locator does not know its layout)", name);
    }
    if (rc == VT_OK && a.n > 0) {
        size_t total = 0;
        for (int i = 0; i < a.n; i++) total += (size_t)(a.p[i].gh * a.p[i].gw);
        float *all = malloc((total ? total : 1) * sizeof *all);
        if (!all) rc = vt_fail(st, VT_ERESOURCE, "out of memory for an error map");
        for (int i = 0, k = 0; all && i < a.n; i++)
            for (int64_t j = 0; j < a.p[i].gh * a.p[i].gw; j++) all[k++] = a.p[i].v[j];
        const double mark = r->er->dtype == VT_F32 ? r->c.atol_eff : 0;
        scale_t sc;
        if (all) report_scale(all, total, mark, &sc.lo, &sc.hi, sc.note, sizeof sc.note);
        free(all);
        /* window borders for tensors inside the Qwen2.5-VL blocks (and the window-ordered ones around them) */
        int windows = rc == VT_OK && (strstr(name, "blocks.") != NULL || !strcmp(name, "visual.patch_embed.windowed"));
        const int slot0[1] = {0};
        char file[48], title[320], alt[320];
        snprintf(file, sizeof file, "map.%d.png", t->index);
        int strips = 0;
        for (int i = 0; i < a.n; i++) strips += a.p[i].kind == REP_STRIP;
        if (strips && strips < a.n) /* a language-model tensor: pads on their input, every token on the strip */
            snprintf(title, sizeof title, "max abs(ours - ref) per token: vision pads on their input, all on the strip");
        else
            snprintf(title, sizeof title, "max abs(ours - ref) per %s%s%s",
                     a.p[0].kind == REP_PIXELS ? "pixel (over channels)" : a.p[0].kind == REP_STRIP ? "token" : "patch row",
                     a.p[0].kind == REP_STRIP ? "" : ", over the resized input",
                     windows && vt_locate_window(w->loc, a.p[0].input, 0, 0, 0) >= 0 ? "; lines: attention windows" : "");
        snprintf(alt, sizeof alt, "error map of %s on %d panel(s)", name, a.n);
        if (rc == VT_OK) rc = draw(ctx, t, &a, slot0, NULL, 1, 300, file, title, alt, &sc, mark, windows, st);
        if (rc == VT_OK && a.n_slots > 1) {
            int slots[REP_MAX_SLOTS];
            char names[REP_MAX_SLOTS][32];
            const char *rn[REP_MAX_SLOTS];
            for (int k = 0; k < a.n_slots; k++) {
                slots[k] = 1 + k;
                if (a.parts == 3) snprintf(names[k], sizeof names[k], "%c head %d", "qkv"[k / a.heads], k % a.heads);
                else snprintf(names[k], sizeof names[k], "head %d", k);
                rn[k] = names[k];
            }
            snprintf(file, sizeof file, "heads.%d.png", t->index);
            snprintf(title, sizeof title, "per head: max abs(ours - ref) over the head's slice of each row");
            snprintf(alt, sizeof alt, "error maps of %s, one row of panels per head (%d)", name, a.n_slots);
            rc = draw(ctx, t, &a, slots, rn, a.n_slots, 120, file, title, alt, &sc, mark, windows, st);
        }
    }
    if (rc == VT_OK && a.dropped && ctx->n_notes < 8)
        snprintf(ctx->notes[ctx->n_notes++], sizeof ctx->notes[0], "%s: more than %d panels; the rest are not drawn",
                 name, REP_MAX_PANELS);
    report_map_free(&a);
    return rc;
}
