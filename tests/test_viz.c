/* test_viz.c -- the drawing helpers of trace/viz/viz.h: shapes by hand, clipping, PNG round trip, errors. */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#include "format/tracer.h"
#include "viz/viz.h"
#include "viz/viz_qwen2.h"

static int px_is(const vt_canvas *c, int x, int y, vt_rgb col)
{
    const uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    return p[0] == col.r && p[1] == col.g && p[2] == col.b;
}

static void test_viz_shapes_and_clipping(void **state)
{
    (void)state;
    vt_canvas c;
    vt_status st = {0};
    const vt_rgb white = VT_RGB(255, 255, 255), red = VT_RGB(255, 0, 0), blue = VT_RGB(0, 0, 255);
    assert_int_equal(vt_canvas_init(&c, 10, 8, white, &st), 0);
    vt_canvas_rect(&c, 1, 1, 5, 4, red, 1); /* outline x 1..5, y 1..4 */
    assert_true(px_is(&c, 1, 1, red) && px_is(&c, 5, 4, red) && px_is(&c, 3, 1, red) && px_is(&c, 1, 3, red));
    assert_true(px_is(&c, 3, 2, white)); /* inside stays */
    assert_true(px_is(&c, 6, 1, white)); /* just outside */
    vt_canvas_line(&c, 0, 7, 9, 7, blue);
    for (int x = 0; x < 10; x++) assert_true(px_is(&c, x, 7, blue));
    vt_canvas_line(&c, 0, 0, 3, 3, blue); /* a diagonal */
    for (int i = 0; i < 4; i++) assert_true(px_is(&c, i, i, blue));
    /* clipped: nothing outside, no crash (the sanitizer run checks) */
    vt_canvas_fill_rect(&c, -5, -5, 7, 7, blue);
    assert_true(px_is(&c, 1, 1, blue) && px_is(&c, 2, 2, blue) == 1);
    vt_canvas_fill_rect(&c, 8, 6, 100, 100, red);
    assert_true(px_is(&c, 9, 7, red));
    vt_canvas_line(&c, -20, 3, 40, 3, red);
    vt_canvas_text(&c, 5, 5, "clipped text", red, 3);
    /* blending half way */
    vt_canvas_fill_rect(&c, 0, 0, 10, 8, VT_RGB(0, 0, 0));
    vt_canvas_blend_rect(&c, 0, 0, 1, 1, VT_RGB(200, 100, 50), 0.5f);
    assert_true(px_is(&c, 0, 0, VT_RGB(100, 50, 25)));
    vt_canvas_free(&c);
    assert_int_equal(vt_canvas_init(&c, 0, 8, white, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "picture of 0x8"));
}

static void test_viz_colours(void **state)
{
    (void)state;
    vt_rgb a = vt_colormap(0), b = vt_colormap(1), m = vt_colormap(0.5f);
    assert_true(a.r == 68 && a.g == 1 && a.b == 84);      /* viridis ends */
    assert_true(b.r == 253 && b.g == 231 && b.b == 37);
    assert_true(m.r == 33 && m.g == 144 && m.b == 141);
    vt_rgb lo = vt_colormap(-3), hi = vt_colormap(7);
    assert_memory_equal(&lo, &a, sizeof a);
    assert_memory_equal(&hi, &b, sizeof b);
    vt_rgb p0 = vt_palette(0), p10 = vt_palette(10), p1 = vt_palette(1);
    assert_memory_equal(&p0, &p10, sizeof p0);
    assert_memory_not_equal(&p0, &p1, sizeof p0);
    /* a matrix with a masked entry: -inf is black, the max is the top of the map */
    vt_canvas c;
    vt_status st = {0};
    assert_int_equal(vt_canvas_init(&c, 4, 2, VT_RGB(1, 2, 3), &st), 0);
    const float m2[2] = {1.0f, -INFINITY};
    vt_canvas_matrix(&c, 0, 0, m2, 1, 2, 2, 0.0f, 1.0f);
    assert_true(px_is(&c, 0, 0, b) && px_is(&c, 1, 1, b));
    assert_true(px_is(&c, 2, 0, VT_RGB(0, 0, 0)) && px_is(&c, 3, 1, VT_RGB(0, 0, 0)));
    vt_canvas_free(&c);
}

static void test_viz_png_round_trip(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/x.png", dir);
    vt_canvas c;
    vt_status st = {0};
    assert_int_equal(vt_canvas_init(&c, 7, 5, VT_RGB(10, 20, 30), &st), 0);
    vt_canvas_set(&c, 6, 4, VT_RGB(250, 0, 5));
    assert_int_equal(vt_canvas_write_png(&c, path, &st), 0);
    int w, h, n;
    uint8_t *back = stbi_load(path, &w, &h, &n, 3);
    assert_non_null(back);
    assert_int_equal(w, 7);
    assert_int_equal(h, 5);
    assert_memory_equal(back, c.px, 7 * 5 * 3);
    stbi_image_free(back);
    /* a path that cannot be created */
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
    assert_int_equal(vt_canvas_write_png(&c, path, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "x.png"));
    vt_canvas_free(&c);
    vt_test_rmtree(dir);
}

/* The preprocess picture goes into the trace directory and into the manifest's pictures. */
static void test_viz_patch_grid_in_trace(void **state)
{
    (void)state;
    char dir[64], path[160];
    vt_test_tmpdir(dir);
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, dir, "preprocess", NULL, 0, &st), 0);
    uint8_t rgb[56 * 84 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i % 251);
    assert_int_equal(vt_viz_patch_grid(&tr, "image.0.grid.png", rgb, 84, 56, 14, 2, &st), 0);
    assert_int_equal(vt_tracer_finish(&tr, &st), 0);
    vt_tracer_close(&tr);
    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, dir, &st), 0);
    assert_int_equal(m.n_pictures, 1);
    assert_string_equal(m.pictures[0], "image.0.grid.png");
    vt_manifest_free(&m);
    snprintf(path, sizeof path, "%s/image.0.grid.png", dir);
    int w, h, n;
    uint8_t *back = stbi_load(path, &w, &h, &n, 3);
    assert_non_null(back);
    assert_true(h > 56 * 7 + 40); /* zoom 640 / 84 = 7, plus a caption of a few lines at scale 2 */
    /* the top-left corner is on a merge-block line: gold */
    assert_true(back[0] == 255 && back[1] == 200 && back[2] == 0);
    stbi_image_free(back);
    vt_test_rmtree(dir);
}

/* Every number from 0 to 999 draws differently from every other at scale 1 and 2: a short quad buffer once
 * dropped the last strokes ("18" read as "13", "0" as "C"). */
static void test_viz_numbers_are_distinct(void **state)
{
    (void)state;
    enum { W = 40, H = 24, N = 1000 };
    static uint8_t bits[N][W * H];
    for (int scale = 1; scale <= 2; scale++) {
        for (int n = 0; n < N; n++) {
            vt_canvas c;
            vt_status st = {0};
            assert_int_equal(vt_canvas_init(&c, W, H, VT_RGB(255, 255, 255), &st), 0);
            char s[16];
            snprintf(s, sizeof s, "%d", n);
            vt_canvas_text(&c, 1, 1, s, VT_RGB(0, 0, 0), scale);
            for (int i = 0; i < W * H; i++) bits[n][i] = c.px[3 * i] < 128;
            vt_canvas_free(&c);
        }
        for (int a = 0; a < N; a++)
            for (int b = a + 1; b < N; b++)
                if (!memcmp(bits[a], bits[b], sizeof bits[a])) fail_msg("%d and %d draw the same at scale %d", a, b, scale);
    }
}

/* A mask picture: the matrix in the segment colours and VT_VIZ_MASKED, the words around it (more colours
 * than a blank square), in the manifest. */
static void test_viz_mask_picture(void **state)
{
    (void)state;
    char dir[64], path[160];
    vt_test_tmpdir(dir);
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, dir, "qwen2_vl", NULL, 0, &st), 0);
    const int32_t one[2] = {0, 64}, two[3] = {0, 32, 64};
    assert_int_equal(vt_viz_qwen2_mask(&tr, "one.png", one, 1, 64, "one image", &st), 0);
    assert_int_equal(vt_viz_qwen2_mask(&tr, "two.png", two, 2, 64, "one image", &st), 0);
    assert_int_equal(vt_tracer_finish(&tr, &st), 0);
    vt_tracer_close(&tr);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, k ? "two.png" : "one.png");
        int w, h, n;
        uint8_t *px = stbi_load(path, &w, &h, &n, 3);
        assert_non_null(px);
        int has_seg = 0, has_masked = 0, has_ink = 0;
        vt_rgb seg = vt_palette(0), masked = VT_VIZ_MASKED;
        for (int i = 0; i < w * h; i++) {
            const uint8_t *p = px + 3 * i;
            has_seg |= p[0] == seg.r && p[1] == seg.g && p[2] == seg.b;
            has_masked |= p[0] == masked.r && p[1] == masked.g && p[2] == masked.b;
            has_ink |= p[0] == 0 && p[1] == 0 && p[2] == 0;
        }
        assert_true(has_seg && has_ink);
        assert_int_equal(has_masked, 1); /* the legend's swatch in both; the off-diagonal blocks in two.png */
        assert_true(h > w / 2 + 100); /* a caption below the square */
        stbi_image_free(px);
    }
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viz_shapes_and_clipping),
        cmocka_unit_test(test_viz_colours),
        cmocka_unit_test(test_viz_png_round_trip),
        cmocka_unit_test(test_viz_patch_grid_in_trace),
        cmocka_unit_test(test_viz_numbers_are_distinct),
        cmocka_unit_test(test_viz_mask_picture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
