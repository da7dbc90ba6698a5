/* viz_qwenvl.c -- Qwen-VL's --viz picture: the Resampler's attention of a few queries over the image grid
 * (see viz_qwenvl.h).
 *
 * One PNG per image k, transformer.visual.attn_pool.attn.weights.{k}.png: up to 4 x 4 panels, one per
 * query picked evenly over the qg x qg query grid (all of them when qg <= 4). A panel is the g x g patch
 * grid, each cell painted with the mean colour of its patch, then overlaid with the query's head-mean
 * attention weight on that patch (viridis, scaled to the query's own maximum). The white box marks the
 * image cells the query's sin-cos position corresponds to: keys carry the same table resized to g x g,
 * so before training a query looks around its box; what it looks at after training is the picture.
 */
#include "viz/viz_qwenvl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz/viz.h"

#define WEIGHTS "transformer.visual.attn_pool.attn.weights"

static int64_t isqrt64(int64_t n)
{
    int64_t r = (int64_t)sqrt((double)n);
    while (r > 0 && r * r > n) r--;
    while ((r + 1) * (r + 1) <= n) r++;
    return r;
}

/* image.{k}.resized -> k, or -1 */
static int resized_index(const char *name)
{
    int k, n = 0;
    if (sscanf(name, "image.%d.resized%n", &k, &n) == 1 && name[n] == 0 && k >= 0 && k < VT_QWENVL_VIZ_MAX_IMAGES)
        return k;
    return -1;
}

static int viz_wants(void *ctx, const char *name)
{
    vt_qwenvl_viz *v = ctx;
    if (resized_index(name) >= 0 || !strcmp(name, WEIGHTS)) return 1;
    return vt_tap_wants(&v->inner, name);
}

static int viz_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    vt_qwenvl_viz *v = ctx;
    int k = resized_index(name);
    if (k >= 0 && t->dtype == VT_U8 && t->ndim == 3) {
        free(v->resized[k]);
        if (!(v->resized[k] = malloc(vt_nbytes(t)))) return vt_fail(st, VT_ERESOURCE, "--viz: out of memory");
        memcpy(v->resized[k], t->data, vt_nbytes(t));
        v->S = (int)t->shape[0];
    } else if (!strcmp(name, WEIGHTS) && t->ndim == 3) {
        free(v->weights);
        if (!(v->weights = malloc(vt_nbytes(t)))) return vt_fail(st, VT_ERESOURCE, "--viz: out of memory");
        memcpy(v->weights, t->data, vt_nbytes(t));
        v->B = t->shape[0], v->Q = t->shape[1], v->L = t->shape[2];
    }
    return vt_tap_emit(&v->inner, name, t, st);
}

static void viz_progress(void *ctx, const char *what, int i, int n)
{
    vt_qwenvl_viz *v = ctx;
    vt_tap_progress(&v->inner, what, i, n);
}

void vt_qwenvl_viz_init(vt_qwenvl_viz *v, vt_tap inner)
{
    memset(v, 0, sizeof *v);
    v->inner = inner;
}

vt_tap vt_qwenvl_viz_tap(vt_qwenvl_viz *v)
{
    vt_tap tap = {viz_emit, viz_wants, viz_progress, v};
    return tap;
}

void vt_qwenvl_viz_free(vt_qwenvl_viz *v)
{
    for (int k = 0; k < VT_QWENVL_VIZ_MAX_IMAGES; k++) free(v->resized[k]);
    free(v->weights);
    memset(v, 0, sizeof *v);
}

/* One image's picture. rgb [S, S, 3]; w [Q, L]. */
static int draw_image(const vt_qwenvl_viz *v, vt_tracer *tr, int k, vt_status *st)
{
    const int g = (int)isqrt64(v->L), qg = (int)isqrt64(v->Q), S = v->S;
    if (g < 1 || qg < 1 || (int64_t)g * g != v->L || S < g)
        return vt_fail(st, VT_EINPUT, "--viz: cannot lay out %lld keys / %lld queries on square grids", (long long)v->L,
                       (long long)v->Q);
    const int P = S / g, cell = g >= 72 ? 2 : 144 / g, side = g * cell;
    const int na = qg < 4 ? qg : 4, cap = 20, gap = 10;
    char title[256], line2[256];
    snprintf(title, sizeof title, "attn_pool: head-mean attention of %d of %lld queries over the %dx%d patches of image %d",
             na * na, (long long)v->Q, g, g, k);
    snprintf(line2, sizeof line2, "colour: weight / the query's max (viridis); white box: the query's own cell of the %dx%d "
             "sin-cos grid", qg, qg);
    /* the words at scale 2 (legible), wrapped to the panels' width */
    int cw = na * (side + gap) + gap;
    if (cw < 480) cw = 480;
    const int h1 = vt_canvas_text_wrap(NULL, 0, 0, cw - 2 * gap, title, VT_RGB(0, 0, 0), 2);
    const int title_h = 8 + h1 + vt_canvas_text_wrap(NULL, 0, 0, cw - 2 * gap, line2, VT_RGB(0, 0, 0), 2) + 8;
    vt_canvas c;
    VT_TRY(vt_canvas_init(&c, cw, title_h + na * (cap + side + gap), VT_RGB(255, 255, 255), st));
    vt_canvas_text_wrap(&c, gap, 6, cw - 2 * gap, title, VT_RGB(0, 0, 0), 2);
    vt_canvas_text_wrap(&c, gap, 8 + h1, cw - 2 * gap, line2, VT_RGB(60, 60, 60), 2);

    const uint8_t *rgb = v->resized[k];
    const float *wk = v->weights + (int64_t)k * v->Q * v->L;
    for (int a = 0; a < na; a++)
        for (int b = 0; b < na; b++) {
            /* queries picked evenly over the query grid, corners included */
            int qy = na > 1 ? (a * (qg - 1) + (na - 1) / 2) / (na - 1) : 0;
            int qx = na > 1 ? (b * (qg - 1) + (na - 1) / 2) / (na - 1) : 0;
            int q = qy * qg + qx;
            const float *w = wk + (int64_t)q * v->L;
            float mx = 0;
            for (int64_t j = 0; j < v->L; j++) mx = w[j] > mx ? w[j] : mx;
            int x0 = gap + b * (side + gap), y0 = title_h + a * (cap + side + gap);
            char cap_s[64];
            snprintf(cap_s, sizeof cap_s, "query %d (%d,%d)", q, qy, qx);
            if (2 * vt_canvas_text_width(cap_s) + 8 > side) snprintf(cap_s, sizeof cap_s, "query %d", q);
            if (2 * vt_canvas_text_width(cap_s) + 8 > side) snprintf(cap_s, sizeof cap_s, "%d", q);
            vt_canvas_text(&c, x0, y0 + 2, cap_s, VT_RGB(0, 0, 0), 2);
            y0 += cap;
            for (int gy = 0; gy < g; gy++)
                for (int gx = 0; gx < g; gx++) {
                    /* the patch's mean colour, then the weight on top */
                    int sum[3] = {0, 0, 0};
                    for (int y = gy * P; y < (gy + 1) * P; y++)
                        for (int x = gx * P; x < (gx + 1) * P; x++)
                            for (int ch = 0; ch < 3; ch++) sum[ch] += rgb[((int64_t)y * S + x) * 3 + ch];
                    int n = P * P;
                    vt_canvas_fill_rect(&c, x0 + gx * cell, y0 + gy * cell, cell, cell,
                                        VT_RGB(sum[0] / n, sum[1] / n, sum[2] / n));
                    float t = mx > 0 ? w[gy * g + gx] / mx : 0;
                    vt_canvas_blend_rect(&c, x0 + gx * cell, y0 + gy * cell, cell, cell, vt_colormap(t), 0.7f);
                }
            /* the image cells under the query's grid cell (qg x qg stretched over g x g) */
            int bx0 = qx * side / qg, bx1 = (qx + 1) * side / qg, by0 = qy * side / qg, by1 = (qy + 1) * side / qg;
            vt_canvas_rect(&c, x0 + bx0, y0 + by0, bx1 - bx0 > 2 ? bx1 - bx0 : 2, by1 - by0 > 2 ? by1 - by0 : 2,
                           VT_RGB(255, 255, 255), 1);
        }
    char file[128];
    snprintf(file, sizeof file, WEIGHTS ".%d.png", k);
    int rc = vt_viz_save(&c, tr, file, st);
    vt_canvas_free(&c);
    return rc;
}

int vt_qwenvl_viz_write(const vt_qwenvl_viz *v, vt_tracer *tr, vt_status *st)
{
    if (!v->weights) return vt_fail(st, VT_EINPUT, "--viz: the forward produced no attention weights");
    for (int k = 0; k < v->B && k < VT_QWENVL_VIZ_MAX_IMAGES; k++) {
        if (!v->resized[k]) return vt_fail(st, VT_EINPUT, "--viz: no resized image %d", k);
        VT_TRY(draw_image(v, tr, k, st));
    }
    return VT_OK;
}
