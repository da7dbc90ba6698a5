/* test_resize.c -- the bicubic resamplers: PIL's (byte-exact against every golden resize), torch's
 * (a 2x2 -> 3x3 case computed by hand) and torch's antialiased one of the fast processor (byte-exact
 * against every preprocess-fast resize; weights and rounding by hand). */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/manifest.h"
#include "io/resize.h"
#include "core/tap.h"

/* ---------------------------------------- PIL bicubic ---------------------------------------- */

/* Resize golden `<prefix>.rgb` ([H,W,3] or [T,H,W,3]) to the size of `<prefix>.resized` frame by frame
 * and require equality, byte for byte. When crop_h / crop_w > 0 the golden `resized` is a resize to
 * crop_h x crop_w followed by zero padding (Kimi-VL): the resized part must match and the rest be 0. */
static int check_pil_resize(const char *case_dir, const char *prefix, int crop_h, int crop_w)
{
    char name[VT_NAME_MAX];
    vt_tensor rgb, ref;
    void *o_rgb, *o_ref;
    snprintf(name, sizeof name, "%s.rgb", prefix);
    vt_test_load_golden(case_dir, name, &rgb, &o_rgb);
    snprintf(name, sizeof name, "%s.resized", prefix);
    vt_test_load_golden(case_dir, name, &ref, &o_ref);
    assert_int_equal(rgb.ndim, ref.ndim);
    int video = rgb.ndim == 4;
    int frames = video ? (int)rgb.shape[0] : 1;
    int sh = (int)rgb.shape[video], sw = (int)rgb.shape[video + 1];
    int ph = (int)ref.shape[video], pw = (int)ref.shape[video + 1];
    int dh = crop_h > 0 ? crop_h : ph, dw = crop_w > 0 ? crop_w : pw;
    uint8_t *out = malloc((size_t)dh * dw * 3);
    assert_non_null(out);
    int bad = 0;
    for (int f = 0; f < frames; f++) {
        const uint8_t *s = vt_u8(&rgb) + (size_t)f * sh * sw * 3;
        const uint8_t *r = vt_u8(&ref) + (size_t)f * ph * pw * 3;
        vt_status st = {0};
        assert_int_equal(vt_resize_pil_bicubic(out, dw, dh, s, sw, sh, 3, &st), 0);
        for (int y = 0; y < ph && !bad; y++)
            for (int x = 0; x < pw * 3 && !bad; x++) {
                int want = r[(size_t)y * pw * 3 + x];
                int got = (y < dh && x < dw * 3) ? out[(size_t)y * dw * 3 + x] : 0;
                if (got != want) {
                    print_error("%s %s frame %d: %dx%d -> %dx%d differs at [%d, %d, %d]: ours %d, PIL %d\n", case_dir,
                                prefix, f, sw, sh, dw, dh, y, x / 3, x % 3, got, want);
                    bad = 1;
                }
            }
    }
    free(out);
    free(o_rgb);
    free(o_ref);
    return !bad;
}

/* Every `*.resized` of a case's manifest (images and videos). Returns how many were checked. */
static int check_case(const char *case_dir)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, case_dir, &st)) fail_msg("%s", st.msg);
    int n = 0, ok = 1;
    for (int i = 0; i < m.n; i++) {
        const char *nm = m.t[i].name;
        size_t len = strlen(nm);
        if (len < 8 || strcmp(nm + len - 8, ".resized") != 0) continue;
        char prefix[VT_NAME_MAX];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 8), nm);
        ok &= check_pil_resize(case_dir, prefix, 0, 0);
        n++;
    }
    vt_manifest_free(&m);
    if (!ok) fail_msg("%s: PIL bicubic differs from the golden resize", case_dir);
    return n;
}

static void test_resize_pil_preprocess_sizes(void **state)
{
    (void)state;
    assert_int_equal(check_case(VT_GOLDEN("preprocess-sizes")), 15); /* image.15 is the processor error */
}

static void test_resize_pil_preprocess_exif(void **state)
{
    (void)state;
    assert_int_equal(check_case(VT_GOLDEN("preprocess-exif")), 6);
}

static void test_resize_pil_qwen2_cases(void **state)
{
    (void)state;
    static const char *cases[] = {"qwen2vl-image", "qwen2vl-image-bf16", "qwen2vl-multi", "qwen25vl-image",
                                  "qwen25vl-multi"};
    static const int count[] = {1, 1, 3, 1, 3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", VT_GOLDEN_ROOT, cases[i]);
        assert_int_equal(check_case(dir), count[i]);
    }
}

/* Qwen-VL: 150x97 -> 112x112 (a downscale in width, an upscale in height). */
static void test_resize_pil_qwenvl(void **state)
{
    (void)state;
    assert_int_equal(check_case(VT_GOLDEN("qwenvl-image")), 1);
    assert_int_equal(check_case(VT_GOLDEN("qwenvl-abspos")), 1); /* 171x149 -> 238x238 */
}

/* Kimi-VL: 150x123 -> 134x110 (w x h; in_token_limit 64), then zero-padded to 140x112. */
static void test_resize_pil_kimivl(void **state)
{
    (void)state;
    assert_true(check_pil_resize(VT_GOLDEN("kimivl-image"), "image.0", 110, 134));
}

/* Hand-checkable properties: a constant image stays constant under any resize (the weights are
 * normalised), a same-size resize is a copy, and a pass on an unchanged axis is skipped. */
static void test_resize_pil_constant_and_copy(void **state)
{
    (void)state;
    uint8_t src[7 * 5 * 3], dst[13 * 3 * 3];
    vt_status st = {0};
    memset(src, 200, sizeof src);
    assert_int_equal(vt_resize_pil_bicubic(dst, 13, 3, src, 7, 5, 3, &st), 0);
    for (size_t i = 0; i < sizeof dst; i++) assert_int_equal(dst[i], 200);
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 37);
    uint8_t same[sizeof src];
    assert_int_equal(vt_resize_pil_bicubic(same, 7, 5, src, 7, 5, 3, &st), 0);
    assert_memory_equal(same, src, sizeof src);
    /* 1-channel 4x1 -> 2x1: only the horizontal pass. Scale 2, support 4, centres 1 and 3.
     * Output 0 reads x = 0..3 (xmax = int(1 + 4 + .5) = 5, clipped to 4) at distances
     * (x + .5 - 1) / 2 = -0.25, 0.25, 0.75, 1.25 with W(x) = 1.5|x|^3 - 2.5|x|^2 + 1 below 1 and
     * -0.5(|x|^3 - 5|x|^2 + 8|x| - 4) below 2: 0.8671875, 0.8671875, 0.2265625, -0.0703125, sum 1.890625.
     * On [0, 0, 255, 255]: 255 * (0.2265625 - 0.0703125) / 1.890625 = 21.07 -> 21; output 1 is the
     * mirror image: 255 * 2 * 0.8671875 / 1.890625 = 233.93 -> 234. */
    uint8_t row[4] = {0, 0, 255, 255}, out[2];
    assert_int_equal(vt_resize_pil_bicubic(out, 2, 1, row, 4, 1, 1, &st), 0);
    assert_int_equal(out[0], 21);
    assert_int_equal(out[1], 234);
}

static void test_resize_pil_bad_sizes(void **state)
{
    (void)state;
    uint8_t px[3] = {1, 2, 3}, out[12];
    vt_status st = {0};
    assert_int_equal(vt_resize_pil_bicubic(out, 0, 2, px, 1, 1, 3, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "sizes must be positive"));
    assert_int_equal(vt_resize_pil_bicubic(out, 1, 1, px, 1, 1, 5, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "channels"));
}

/* ---------------------------------------- torch bicubic ---------------------------------------- */

/*
 * 2x2 -> 3x3, align_corners=False, A = -0.75, by hand.
 *
 * scale = 2/3; source index s = (d + 0.5) * 2/3 - 0.5 for d = 0, 1, 2: -1/6, 1/2, 7/6.
 *   d = 0: floor -1, t = 5/6, taps -2, -1, 0, 1 -> clamped 0, 0, 0, 1
 *   d = 1: floor  0, t = 1/2, taps -1, 0, 1, 2  -> clamped 0, 0, 1, 1
 *   d = 2: floor  1, t = 1/6, taps 0, 1, 2, 3   -> clamped 0, 1, 1, 1
 * Keys cubic with A = -0.75: W(x) = 1.25|x|^3 - 2.25|x|^2 + 1 (|x| <= 1),
 *                            W(x) = -0.75|x|^3 + 3.75|x|^2 - 6|x| + 3 (1 < |x| < 2).
 * t = 5/6: W(11/6) = -5/288, W(5/6) = 139/864, W(1/6) = 815/864, W(7/6) = -25/288.
 *   (e.g. W(7/6) = -0.75 * 343/216 + 3.75 * 49/36 - 7 + 3 = -1029/864 + 4410/864 - 3456/864 = -75/864)
 *   row 0 of the 1-D map: (W(11/6) + W(5/6) + W(1/6)) x0 + W(7/6) x1 = 313/288 x0 - 25/288 x1
 * t = 1/2: W(3/2) = -0.09375, W(1/2) = 0.59375 -> row 1: 0.5 x0 + 0.5 x1
 * t = 1/6: mirror of t = 5/6 -> row 2: -25/288 x0 + 313/288 x1
 * So M = [[313/288, -25/288], [1/2, 1/2], [-25/288, 313/288]] and out = M X M^T per channel.
 *
 * Channel 0, X = [[0, 10], [20, 30]] = 20 i + 10 j: out[p][q] = 20 u_p + 10 u_q with
 *   u = M (0, 1)^T = (-25/288, 1/2, 313/288) = (-0.0868056, 0.5, 1.0868056):
 *   [[-2.6041667, 3.2638889, 8.9236111], [ 9.2638889, 15, 20.7361111], [21.1319444, 26.7361111, 32.6041667]]
 * Channel 1, X = [[1, 0], [0, 0]]: out = v v^T with v = M (1, 0)^T = (313/288, 1/2, -25/288):
 *   v = (1.0868056, 0.5, -0.0868056).
 */
static void test_resize_torch_2x2_to_3x3(void **state)
{
    (void)state;
    const float src[2 * 2 * 2] = {0, 10, 20, 30, 1, 0, 0, 0};
    float dst[2 * 3 * 3];
    vt_status st = {0};
    assert_int_equal(vt_resize_torch_bicubic(dst, 3, 3, src, 2, 2, 2, &st), 0);
    const double u[3] = {-25.0 / 288, 0.5, 313.0 / 288};
    const double v[3] = {313.0 / 288, 0.5, -25.0 / 288};
    for (int p = 0; p < 3; p++)
        for (int q = 0; q < 3; q++) {
            assert_float_equal(dst[p * 3 + q], 20 * u[p] + 10 * u[q], 1e-5);
            assert_float_equal(dst[9 + p * 3 + q], v[p] * v[q], 1e-6);
        }
    assert_float_equal(dst[0], -2.6041667, 1e-5);
    assert_float_equal(dst[8], 32.6041667, 1e-5);
}

/* Same size is a copy; a constant stays constant (the four weights sum to 1); a downscale reads only
 * 4 taps (no antialiasing): 8 -> 2 along a ramp gives the cubic through the ramp at s = 1.5 and 5.5. */
static void test_resize_torch_copy_constant_downscale(void **state)
{
    (void)state;
    float src[8], dst[12];
    vt_status st = {0};
    for (int i = 0; i < 8; i++) src[i] = (float)i;
    assert_int_equal(vt_resize_torch_bicubic(dst, 2, 4, src, 1, 2, 4, &st), 0);
    assert_memory_equal(dst, src, sizeof(float) * 8);
    float k[6] = {3, 3, 3, 3, 3, 3};
    assert_int_equal(vt_resize_torch_bicubic(dst, 3, 4, k, 1, 2, 3, &st), 0);
    for (int i = 0; i < 12; i++) assert_float_equal(dst[i], 3.0, 1e-5);
    /* [1, 1, 8] -> [1, 1, 2]: scale 4, s = 4 (d + .5) - .5 = 1.5, 5.5; a cubic reproduces a straight line
     * when no tap is clamped, so the output is the ramp sampled at 1.5 and 5.5 */
    assert_int_equal(vt_resize_torch_bicubic(dst, 1, 2, src, 1, 1, 8, &st), 0);
    assert_float_equal(dst[0], 1.5, 1e-6);
    assert_float_equal(dst[1], 5.5, 1e-6);
    assert_int_equal(vt_resize_torch_bicubic(dst, 0, 2, src, 1, 1, 8, &st), VT_EINPUT);
}

/* ---------------------------------------- torch antialiased bicubic ---------------------------------------- */

/* Every `*.resized` of preprocess-fast from its `.rgb`, frame by frame, byte for byte (image.8 is a
 * same-size copy). Returns how many tensors were checked. */
static int check_aa_case(const char *case_dir)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, case_dir, &st)) fail_msg("%s", st.msg);
    int n = 0, bytes = 0;
    for (int i = 0; i < m.n; i++) {
        const char *nm = m.t[i].name;
        size_t len = strlen(nm);
        if (len < 8 || strcmp(nm + len - 8, ".resized") != 0) continue;
        char name[VT_NAME_MAX];
        vt_tensor rgb, ref;
        void *o_rgb, *o_ref;
        snprintf(name, sizeof name, "%.*s.rgb", (int)(len - 8), nm);
        vt_test_load_golden(case_dir, name, &rgb, &o_rgb);
        vt_test_load_golden(case_dir, nm, &ref, &o_ref);
        const int video = rgb.ndim == 4, frames = video ? (int)rgb.shape[0] : 1;
        const int sh = (int)rgb.shape[video], sw = (int)rgb.shape[video + 1];
        const int dh = (int)ref.shape[video], dw = (int)ref.shape[video + 1];
        uint8_t *out = malloc((size_t)dh * dw * 3);
        assert_non_null(out);
        for (int f = 0; f < frames; f++) {
            const uint8_t *r = vt_u8(&ref) + (size_t)f * dh * dw * 3;
            assert_int_equal(vt_resize_torch_bicubic_aa(out, dw, dh, vt_u8(&rgb) + (size_t)f * sh * sw * 3, sw, sh, 3, &st), 0);
            for (size_t e = 0; e < (size_t)dh * dw * 3; e++)
                if (out[e] != r[e])
                    fail_msg("%s frame %d: %dx%d -> %dx%d differs at [%zu, %zu, %zu]: ours %d, torch %d", nm, f, sw, sh,
                             dw, dh, e / 3 / dw, e / 3 % dw, e % 3, out[e], r[e]);
            bytes += dh * dw * 3;
        }
        free(out);
        free(o_rgb);
        free(o_ref);
        n++;
    }
    vt_manifest_free(&m);
    assert_int_equal(bytes, 298704); /* README.preprocess-fast.md: 15 inputs, 298,704 resized bytes */
    return n;
}

static void test_resize_torch_aa_preprocess_fast(void **state)
{
    (void)state;
    assert_int_equal(check_aa_case(VT_GOLDEN("preprocess-fast")), 15);
}

/*
 * The weights by hand (README.preprocess-fast.md step 4; the Keys cubic with a = -0.5:
 * W(x) = 1.5|x|^3 - 2.5|x|^2 + 1 below 1, -0.5(|x|^3 - 5|x|^2 + 8|x| - 4) below 2).
 *
 * 4 -> 2 (downscale): scale 2, support 4, invscale 0.5. Output 0: center 1, xmin = max(trunc(1 - 4 + .5), 0) = 0,
 *   xmax = min(trunc(1 + 4 + .5), 4) = 4; arguments (j - 1 + .5) / 2 = -0.25, 0.25, 0.75, 1.25;
 *   W = 111/128, 111/128, 29/128, -9/128 (0.8671875, 0.8671875, 0.2265625, -0.0703125), sum 242/128:
 *   normalised 111/242, 111/242, 29/242, -9/242 -- exactly what PIL computes too, before its fixed point.
 * 2 -> 4 (upscale): scale 0.5, support 2, invscale 1. Output 0: center 0.25, taps 0, 1 at 0.25 and 1.25:
 *   W = 111/128, -9/128, sum 102/128: 37/34, -3/34. Output 1: center 0.75, taps at -0.25 and 0.75:
 *   111/128, 29/128, sum 140/128: 111/140, 29/140.
 * Each normalised weight is one float division of two exact floats, so it is the float nearest the fraction.
 */
static void test_resize_torch_aa_weights_by_hand(void **state)
{
    (void)state;
    float w[16];
    int first, n;
    vt_status st = {0};
    assert_int_equal(vt_resize_torch_aa_weights(w, 16, &first, &n, 4, 2, 0, &st), 0);
    assert_int_equal(first, 0);
    assert_int_equal(n, 4);
    const float down[4] = {111.0f / 242.0f, 111.0f / 242.0f, 29.0f / 242.0f, -9.0f / 242.0f};
    for (int j = 0; j < 4; j++) assert_true(w[j] == down[j]);
    assert_int_equal(vt_resize_torch_aa_weights(w, 16, &first, &n, 4, 2, 1, &st), 0); /* the mirror image */
    assert_int_equal(first, 0);
    for (int j = 0; j < 4; j++) assert_true(w[j] == down[3 - j]);
    assert_int_equal(vt_resize_torch_aa_weights(w, 16, &first, &n, 2, 4, 0, &st), 0);
    assert_int_equal(n, 2);
    assert_true(w[0] == 37.0f / 34.0f && w[1] == -3.0f / 34.0f);
    assert_int_equal(vt_resize_torch_aa_weights(w, 16, &first, &n, 2, 4, 1, &st), 0);
    assert_true(first == 0 && n == 2 && w[0] == 111.0f / 140.0f && w[1] == 29.0f / 140.0f);
    /* a downscale by 3.57 (preprocess-fast image.2's 300 -> 84 columns): up to 2 * ceil(7.14) + 1 = 17 taps,
     * normalised to sum 1 (in float: within a few ulps) */
    assert_int_equal(vt_resize_torch_aa_weights(w, 16, &first, &n, 300, 84, 40, &st), VT_EINPUT); /* room for 17 */
    float w17[17];
    assert_int_equal(vt_resize_torch_aa_weights(w17, 17, &first, &n, 300, 84, 40, &st), 0);
    float sum = 0;
    for (int j = 0; j < n; j++) sum += w17[j];
    assert_true(n >= 14 && n <= 15);
    assert_float_equal(sum, 1.0, 1e-6);
    assert_int_equal(vt_resize_torch_aa_weights(w17, 17, &first, &n, 300, 84, 84, &st), VT_EINPUT);
}

/* Where the float path and PIL part: 2 -> 1 pixel averages with weights 1/2, 1/2; [0, 1] gives 0.5 and
 * [2, 3] gives 2.5. torch rounds half to even (0 and 2); PIL adds 2^21 before its shift (1 and 3). */
static void test_resize_torch_aa_round_half_even(void **state)
{
    (void)state;
    const uint8_t row[4] = {0, 1, 2, 3};
    uint8_t aa[2], pil[2];
    vt_status st = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vt_resize_torch_bicubic_aa(&aa[i], 1, 1, row + 2 * i, 2, 1, 1, &st), 0);
        assert_int_equal(vt_resize_pil_bicubic(&pil[i], 1, 1, row + 2 * i, 2, 1, 1, &st), 0);
    }
    assert_int_equal(aa[0], 0);
    assert_int_equal(aa[1], 2);
    assert_int_equal(pil[0], 1);
    assert_int_equal(pil[1], 3);
    /* [0, 0, 255, 255] -> 2: 255 * 20/242 = 21.07 -> 21 and 233.93 -> 234 on both paths */
    const uint8_t edge[4] = {0, 0, 255, 255};
    assert_int_equal(vt_resize_torch_bicubic_aa(aa, 2, 1, edge, 4, 1, 1, &st), 0);
    assert_int_equal(aa[0], 21);
    assert_int_equal(aa[1], 234);
    /* the overshoot of an upscale is clamped: [0, 255] -> 4 starts at 255 * -3/34 = -22.5 -> 0, ends at 255 */
    const uint8_t step[2] = {0, 255};
    uint8_t up[4];
    assert_int_equal(vt_resize_torch_bicubic_aa(up, 4, 1, step, 2, 1, 1, &st), 0);
    assert_int_equal(up[0], 0);
    assert_int_equal(up[1], 53); /* 255 * 29/140 = 52.82 */
    assert_int_equal(up[3], 255);
}

/* A same-size input is a copy (torchvision returns it); a constant stays constant; bad sizes refused. */
static void test_resize_torch_aa_copy_constant_bad(void **state)
{
    (void)state;
    uint8_t src[9 * 7 * 3], same[sizeof src], dst[20 * 3 * 3];
    vt_status st = {0};
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 97 + 13);
    assert_int_equal(vt_resize_torch_bicubic_aa(same, 9, 7, src, 9, 7, 3, &st), 0);
    assert_memory_equal(same, src, sizeof src);
    memset(src, 77, sizeof src);
    assert_int_equal(vt_resize_torch_bicubic_aa(dst, 20, 3, src, 9, 7, 3, &st), 0);
    for (size_t i = 0; i < sizeof dst; i++) assert_int_equal(dst[i], 77);
    assert_int_equal(vt_resize_torch_bicubic_aa(dst, 0, 3, src, 9, 7, 3, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "bad size"));
    assert_int_equal(vt_resize_torch_bicubic_aa(dst, 2, 3, src, 9, 7, 5, &st), VT_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_pil_preprocess_sizes),
        cmocka_unit_test(test_resize_pil_preprocess_exif),
        cmocka_unit_test(test_resize_pil_qwen2_cases),
        cmocka_unit_test(test_resize_pil_qwenvl),
        cmocka_unit_test(test_resize_pil_kimivl),
        cmocka_unit_test(test_resize_pil_constant_and_copy),
        cmocka_unit_test(test_resize_pil_bad_sizes),
        cmocka_unit_test(test_resize_torch_2x2_to_3x3),
        cmocka_unit_test(test_resize_torch_copy_constant_downscale),
        cmocka_unit_test(test_resize_torch_aa_preprocess_fast),
        cmocka_unit_test(test_resize_torch_aa_weights_by_hand),
        cmocka_unit_test(test_resize_torch_aa_round_half_even),
        cmocka_unit_test(test_resize_torch_aa_copy_constant_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
