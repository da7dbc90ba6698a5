/* test_image.c -- image decoding: every golden image decodes to its image.{k}.rgb byte for byte, the eight
 * EXIF orientations by hand, PIL's conversions (16-bit grey, CMYK, grey JPEG), the stb_image JPEG
 * measurement, and every bad input. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include <stb/stb_image.h>

#include "io/image.h"

/* ---- fixtures: PNG files written here (stored deflate blocks, real CRCs) ---- */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return c ^ 0xffffffffu;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void chunk(bytes *b, const char *type, const uint8_t *d, size_t n)
{
    put32(b, (uint32_t)n);
    size_t at = b->n;
    put(b, type, 4);
    if (n) put(b, d, n);
    put32(b, crc32_png(b->p + at, n + 4));
}

/* A PNG of w x h, colour type ct, bit depth bd, from unfiltered rows of rowbytes each. exif (a TIFF block,
 * may be NULL) goes in an eXIf chunk before IDAT, or after it when exif_after. The caller frees. */
static bytes make_png(int w, int h, int ct, int bd, const uint8_t *rows, size_t rowbytes, const uint8_t *exif,
                      size_t exif_n, int exif_after)
{
    bytes b = {0}, z = {0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (uint8_t)((uint32_t)w >> (24 - 8 * i));
        ihdr[4 + i] = (uint8_t)((uint32_t)h >> (24 - 8 * i));
    }
    ihdr[8] = (uint8_t)bd;
    ihdr[9] = (uint8_t)ct;
    chunk(&b, "IHDR", ihdr, 13);
    if (exif && !exif_after) chunk(&b, "eXIf", exif, exif_n);
    /* zlib stream: header, one stored block per row (filter byte 0 + row), adler32 */
    put(&z, "\x78\x01", 2);
    uint32_t a = 1, s2 = 0;
    for (int y = 0; y < h; y++) {
        size_t n = rowbytes + 1;
        uint8_t hdr[5] = {(uint8_t)(y == h - 1), (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)~n, (uint8_t)(~n >> 8)};
        put(&z, hdr, 5);
        uint8_t f = 0;
        put(&z, &f, 1);
        put(&z, rows + (size_t)y * rowbytes, rowbytes);
        a = (a + 0) % 65521;
        s2 = (s2 + a) % 65521;
        for (size_t i = 0; i < rowbytes; i++) {
            a = (a + rows[(size_t)y * rowbytes + i]) % 65521;
            s2 = (s2 + a) % 65521;
        }
    }
    put32(&z, s2 << 16 | a);
    chunk(&b, "IDAT", z.p, z.n);
    free(z.p);
    if (exif && exif_after) chunk(&b, "eXIf", exif, exif_n);
    chunk(&b, "IEND", NULL, 0);
    return b;
}

/* A TIFF block with one IFD0 entry: Orientation of the given type (3 SHORT, 4 LONG), in either byte order. */
static size_t make_tiff(uint8_t *t, int orientation, int type, int big_endian)
{
    uint8_t v[26] = {0};
    memcpy(v, big_endian ? "MM\0*" : "II*\0", 4);
#define W16(o, x) (big_endian ? (v[o] = (uint8_t)((x) >> 8), v[o + 1] = (uint8_t)(x)) : (v[o] = (uint8_t)(x), v[o + 1] = (uint8_t)((x) >> 8)))
#define W32(o, x) (big_endian ? (W16(o, (x) >> 16), W16(o + 2, (x) & 0xffff)) : (W16(o, (x) & 0xffff), W16(o + 2, (x) >> 16)))
    W32(4, 8u);          /* IFD0 at offset 8 */
    W16(8, 1u);          /* one entry */
    W16(10, 0x0112u);    /* Orientation */
    W16(12, (unsigned)type);
    W32(14, 1u);         /* one value */
    if (type == 3)
        W16(18, (unsigned)orientation);
    else
        W32(18, (unsigned)orientation);
    W32(22, 0u);         /* no next IFD */
#undef W16
#undef W32
    memcpy(t, v, sizeof v);
    return sizeof v;
}

static void expect_einput(int rc, const vt_status *st, const char *file, const char *what)
{
    if (rc != VT_EINPUT || strchr(st->msg, '\n') || (file && !strstr(st->msg, file)) || !strstr(st->msg, what))
        fail_msg("wanted VT_EINPUT naming '%s' and '%s'; got %d: %s", file ? file : "", what, rc, st->msg);
}

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* ---- golden images ---- */

/* Decode case/file and compare with the case's image.{k}.rgb exactly. */
static void check_golden_image(const char *case_dir, const char *file, int k, vt_exif_mode mode, int orientation)
{
    char path[512], name[64];
    snprintf(path, sizeof path, "%s/%s", case_dir, file);
    snprintf(name, sizeof name, "image.%d.rgb", k);
    vt_image img;
    vt_image_info info;
    vt_status st = {0};
    if (vt_image_load_info(&img, &info, path, mode, &st)) fail_msg("%s", st.msg);
    vt_tensor ref;
    void *owned;
    vt_test_load_golden(case_dir, name, &ref, &owned);
    assert_int_equal(ref.dtype, VT_U8);
    if (ref.ndim != 3 || ref.shape[0] != img.h || ref.shape[1] != img.w || ref.shape[2] != 3)
        fail_msg("%s: decoded %dx%d, golden %s is [%lld, %lld, %lld]", path, img.w, img.h, name, (long long)ref.shape[0],
                 (long long)ref.shape[1], (long long)ref.shape[2]);
    if (memcmp(img.rgb, ref.data, (size_t)img.w * img.h * 3) != 0) {
        size_t n = (size_t)img.w * img.h * 3, bad = 0;
        for (size_t i = 0; i < n; i++) bad += img.rgb[i] != vt_u8(&ref)[i];
        fail_msg("%s: %zu of %zu bytes differ from %s", path, bad, n, name);
    }
    if (orientation) assert_int_equal(info.orientation, orientation);
    assert_int_equal(info.applied, mode == VT_EXIF_APPLY && info.orientation != 1);
    vt_image_free(&img);
    free(owned);
}

static void check_inputs_json(const char *case_dir, int want_images)
{
    char path[512];
    snprintf(path, sizeof path, "%s/inputs.json", case_dir);
    size_t n;
    char *text = read_all(path, &n);
    cJSON *root = cJSON_ParseWithLength(text, n);
    assert_non_null(root);
    const cJSON *images = cJSON_GetObjectItem(root, "images"), *im;
    int k = 0;
    cJSON_ArrayForEach(im, images) {
        const cJSON *o = cJSON_GetObjectItem(im, "exif_orientation");
        check_golden_image(case_dir, cJSON_GetObjectItem(im, "file")->valuestring, k, VT_EXIF_APPLY,
                           o ? (int)o->valuedouble : 1);
        k++;
    }
    assert_int_equal(k, want_images);
    cJSON_Delete(root);
    free(text);
}

static void test_image_golden_preprocess_sizes(void **state)
{
    (void)state;
    check_inputs_json(VT_GOLDEN("preprocess-sizes"), 16); /* RGB, RGBA, L and P PNGs, and the JPEG */
}

static void test_image_golden_preprocess_exif(void **state)
{
    (void)state;
    check_inputs_json(VT_GOLDEN("preprocess-exif"), 6); /* orientations 6, 3, 1, 2, 4, 7 in JPEG and PNG */
    /* ignoring EXIF gives the stored pixels; orienting them afterwards gives the golden image */
    static const char *const files[] = {"image.0.jpg", "image.1.png", "image.2.jpg", "image.3.jpg", "image.4.png", "image.5.jpg"};
    for (int k = 0; k < 6; k++) {
        char path[256];
        snprintf(path, sizeof path, VT_GOLDEN("preprocess-exif") "/%s", files[k]);
        vt_image raw, applied;
        vt_image_info ri, ai;
        vt_status st = {0};
        assert_int_equal(vt_image_load_info(&raw, &ri, path, VT_EXIF_IGNORE, &st), 0);
        assert_int_equal(vt_image_load_info(&applied, &ai, path, VT_EXIF_APPLY, &st), 0);
        assert_int_equal(ri.orientation, ai.orientation);
        assert_int_equal(ri.applied, 0);
        assert_int_equal(ri.stored_w, ai.stored_w);
        assert_int_equal(raw.w, ri.stored_w);
        if (ri.orientation != 1)
            assert_true(raw.w != applied.w || memcmp(raw.rgb, applied.rgb, (size_t)raw.w * raw.h * 3) != 0);
        assert_int_equal(vt_image_orient(&raw, ri.orientation, &st), 0);
        assert_int_equal(raw.w, applied.w);
        assert_int_equal(raw.h, applied.h);
        assert_memory_equal(raw.rgb, applied.rgb, (size_t)raw.w * raw.h * 3);
        vt_image_free(&raw);
        vt_image_free(&applied);
    }
}

static void test_image_golden_model_cases(void **state)
{
    (void)state;
    check_golden_image(VT_GOLDEN("qwen2vl-image"), "image.0.png", 0, VT_EXIF_APPLY, 1);
    check_golden_image(VT_GOLDEN("qwen2vl-image-bf16"), "image.0.png", 0, VT_EXIF_APPLY, 1);
    check_golden_image(VT_GOLDEN("qwen25vl-image"), "image.0.png", 0, VT_EXIF_APPLY, 1);
    check_golden_image(VT_GOLDEN("qwen2vl-multi"), "image.1.png", 1, VT_EXIF_APPLY, 1);
    check_golden_image(VT_GOLDEN("qwenvl-image"), "image0.png", 0, VT_EXIF_IGNORE, 1);
    check_golden_image(VT_GOLDEN("kimivl-image"), "image0.png", 0, VT_EXIF_IGNORE, 1);
    check_golden_image(VT_GOLDEN("kimivl-multi"), "image1.png", 1, VT_EXIF_IGNORE, 1);
}

/* ---- the eight orientations, by hand, on a 3x2 image whose pixel values are their indices ---- */

static void test_image_orientations_by_hand(void **state)
{
    (void)state;
    /* source (w 3, h 2):  0 1 2 / 3 4 5 ; pixel i is (10i, 10i+1, 10i+2) */
    uint8_t rows[2 * 9];
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++) rows[3 * i + c] = (uint8_t)(10 * i + c);
    static const struct {
        int o, w, h;
        int px[6];
    } want[] = {
        {1, 3, 2, {0, 1, 2, 3, 4, 5}}, {2, 3, 2, {2, 1, 0, 5, 4, 3}}, {3, 3, 2, {5, 4, 3, 2, 1, 0}},
        {4, 3, 2, {3, 4, 5, 0, 1, 2}}, {5, 2, 3, {0, 3, 1, 4, 2, 5}}, {6, 2, 3, {3, 0, 4, 1, 5, 2}},
        {7, 2, 3, {5, 2, 4, 1, 3, 0}}, {8, 2, 3, {2, 5, 1, 4, 0, 3}},
        {0, 3, 2, {0, 1, 2, 3, 4, 5}}, {9, 3, 2, {0, 1, 2, 3, 4, 5}}, /* out of range: left alone */
    };
    for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
        for (int variant = 0; variant < 3; variant++) {
            uint8_t tiff[32];
            /* big-endian SHORT before IDAT; little-endian SHORT after IDAT; big-endian LONG */
            size_t tn = make_tiff(tiff, want[t].o, variant == 2 ? 4 : 3, variant != 1);
            bytes png = make_png(3, 2, 2, 8, rows, 9, tiff, tn, variant == 1);
            vt_image img;
            vt_image_info info;
            vt_status st = {0};
            if (vt_image_decode_info(&img, &info, png.p, png.n, VT_EXIF_APPLY, &st))
                fail_msg("orientation %d: %s", want[t].o, st.msg);
            int in_range = want[t].o >= 1 && want[t].o <= 8;
            assert_int_equal(info.orientation, in_range ? want[t].o : 1);
            assert_int_equal(info.stored_w, 3);
            assert_int_equal(info.stored_h, 2);
            assert_int_equal(img.w, want[t].w);
            assert_int_equal(img.h, want[t].h);
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < 3; c++)
                    if (img.rgb[3 * i + c] != 10 * want[t].px[i] + c)
                        fail_msg("orientation %d (variant %d): pixel %d channel %d is %d, want %d", want[t].o, variant, i,
                                 c, img.rgb[3 * i + c], 10 * want[t].px[i] + c);
            vt_image_free(&img);
            /* ignored: the stored pixels, orientation still reported */
            assert_int_equal(vt_image_decode_info(&img, &info, png.p, png.n, VT_EXIF_IGNORE, &st), 0);
            assert_int_equal(img.w, 3);
            assert_memory_equal(img.rgb, rows, 18);
            assert_int_equal(info.orientation, in_range ? want[t].o : 1);
            assert_int_equal(info.applied, 0);
            vt_image_free(&img);
            free(png.p);
        }
    }
    /* a damaged EXIF block is no orientation */
    uint8_t junk[8] = {'M', 'M', 0, '*', 0xff, 0xff, 0xff, 0xf0};
    bytes png = make_png(3, 2, 2, 8, rows, 9, junk, sizeof junk, 0);
    vt_image img;
    vt_image_info info;
    vt_status st = {0};
    assert_int_equal(vt_image_decode_info(&img, &info, png.p, png.n, VT_EXIF_APPLY, &st), 0);
    assert_int_equal(info.orientation, 1);
    vt_image_free(&img);
    free(png.p);
    assert_int_equal(vt_exif_orientation((const uint8_t *)"Exif\0\0", 6), 1);
}

/* ---- PIL's conversions ---- */

static void test_image_png_modes(void **state)
{
    (void)state;
    vt_image img;
    vt_status st = {0};
    /* 16-bit grey: PIL mode "I", clipped to 0..255 by convert("RGB") (PIL 9.4 gives 16, 255, 255) */
    uint8_t g16[6] = {0x00, 0x10, 0x12, 0x34, 0x01, 0x2c};
    bytes png = make_png(3, 1, 0, 16, g16, 6, NULL, 0, 0);
    assert_int_equal(vt_image_decode(&img, png.p, png.n, VT_EXIF_APPLY, &st), 0);
    const uint8_t want_g16[9] = {16, 16, 16, 255, 255, 255, 255, 255, 255};
    assert_memory_equal(img.rgb, want_g16, 9);
    vt_image_free(&img);
    free(png.p);
    /* 16-bit RGB: the high byte */
    uint8_t rgb16[6] = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff};
    png = make_png(1, 1, 2, 16, rgb16, 6, NULL, 0, 0);
    assert_int_equal(vt_image_decode(&img, png.p, png.n, VT_EXIF_APPLY, &st), 0);
    const uint8_t want_rgb16[3] = {0x12, 0xab, 0x00};
    assert_memory_equal(img.rgb, want_rgb16, 3);
    vt_image_free(&img);
    free(png.p);
    /* grey + alpha: alpha dropped, not composited */
    uint8_t ga[4] = {200, 0, 50, 128};
    png = make_png(2, 1, 4, 8, ga, 4, NULL, 0, 0);
    vt_image_info info;
    assert_int_equal(vt_image_decode_info(&img, &info, png.p, png.n, VT_EXIF_APPLY, &st), 0);
    const uint8_t want_ga[6] = {200, 200, 200, 50, 50, 50};
    assert_memory_equal(img.rgb, want_ga, 6);
    assert_string_equal(info.format, "PNG");
    vt_image_free(&img);
    free(png.p);
}

/* A GIF whose first frame has a transparent colour is refused (stb writes black there, PIL the palette
 * colour); without the transparency flag the same GIF decodes. The classic 43-byte 1x1 GIF. */
static void test_image_gif_transparency(void **state)
{
    (void)state;
    uint8_t gif[43] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0,
                       0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b};
    vt_image img;
    vt_status st = {0};
    expect_einput(vt_image_decode(&img, gif, sizeof gif, VT_EXIF_APPLY, &st), &st, NULL,
                  "GIF with a transparent colour is not supported");
    gif[22] = 0; /* transparency flag off */
    vt_image_info info;
    assert_int_equal(vt_image_decode_info(&img, &info, gif, sizeof gif, VT_EXIF_APPLY, &st), 0);
    assert_int_equal(img.w, 1);
    assert_string_equal(info.format, "GIF");
    const uint8_t white[3] = {255, 255, 255};
    assert_memory_equal(img.rgb, white, 3);
    vt_image_free(&img);
}

/* Write a constant-colour JPEG with libjpeg (quality 100: constant blocks come back exactly). */
static bytes make_jpeg(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *pixel)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * comps);
    for (int x = 0; x < w; x++) memcpy(row + x * comps, pixel, (size_t)comps);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r[1] = {row};
        jpeg_write_scanlines(&c, r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    bytes b = {out, n, n};
    return b;
}

static void test_image_jpeg_grey_and_cmyk(void **state)
{
    (void)state;
    vt_image img;
    vt_status st = {0};
    const uint8_t grey = 77;
    bytes j = make_jpeg(16, 8, 1, JCS_GRAYSCALE, &grey);
    vt_image_info info;
    assert_int_equal(vt_image_decode_info(&img, &info, j.p, j.n, VT_EXIF_APPLY, &st), 0);
    assert_int_equal(img.w, 16);
    assert_int_equal(img.h, 8);
    for (int i = 0; i < 16 * 8 * 3; i++) assert_int_equal(img.rgb[i], 77);
    assert_string_equal(info.format, "JPEG");
    vt_image_free(&img);
    free(j.p);
    /* CMYK (0, 128, 255, 64), stored inverted as PIL writes it; PIL 9.4 converts it to RGB (191, 95, 0) */
    const uint8_t stored[4] = {255, 127, 0, 191};
    j = make_jpeg(16, 16, 4, JCS_CMYK, stored);
    assert_int_equal(vt_image_decode(&img, j.p, j.n, VT_EXIF_APPLY, &st), 0);
    const uint8_t want[3] = {191, 95, 0};
    for (int i = 0; i < 16 * 16; i++) assert_memory_equal(img.rgb + 3 * i, want, 3);
    vt_image_free(&img);
    free(j.p);
}

/* stb_image's own JPEG decoder against the golden (PIL/libjpeg-turbo) pixels: the reason JPEG goes
 * through libjpeg. The numbers are printed and recorded in docs/readers.md. */
static void measure_stb(const char *path, const char *case_dir, const char *name, int *max_diff, double *frac)
{
    size_t n;
    uint8_t *buf = read_all(path, &n);
    int w, h, c;
    uint8_t *p = stbi_load_from_memory(buf, (int)n, &w, &h, &c, 3);
    assert_non_null(p);
    vt_tensor ref;
    void *owned;
    vt_test_load_golden(case_dir, name, &ref, &owned);
    assert_int_equal(ref.shape[0], h);
    assert_int_equal(ref.shape[1], w);
    size_t m = (size_t)w * h * 3, diff = 0;
    *max_diff = 0;
    for (size_t i = 0; i < m; i++) {
        int d = abs((int)p[i] - (int)vt_u8(&ref)[i]);
        diff += d != 0;
        if (d > *max_diff) *max_diff = d;
    }
    *frac = (double)diff / (double)m;
    print_message("stb_image JPEG vs PIL/libjpeg-turbo on %s: max |diff| %d, %zu of %zu bytes differ (%.2f%%)\n", path,
                  *max_diff, diff, m, 100.0 * *frac);
    stbi_image_free(p);
    free(owned);
    free(buf);
}

static void test_image_stb_jpeg_differs(void **state)
{
    (void)state;
    int md;
    double fr;
    measure_stb(VT_GOLDEN("preprocess-sizes") "/image.14.jpg", VT_GOLDEN("preprocess-sizes"), "image.14.rgb", &md, &fr);
    assert_true(md > 0 && fr > 0); /* our libjpeg path is exact (test_image_golden_preprocess_sizes) */
    measure_stb(VT_GOLDEN("preprocess-exif") "/image.2.jpg", VT_GOLDEN("preprocess-exif"), "image.2.rgb", &md, &fr);
    assert_true(md > 0 && fr > 0);
}

/* ---- bad input ---- */

static void test_image_bad_inputs(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    vt_image img;
    vt_status st = {0};
    size_t n;

    snprintf(path, sizeof path, "%s/missing.png", dir);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "No such file");
    snprintf(path, sizeof path, "%s/empty.png", dir);
    vt_test_write_file(path, "", 0);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "empty file");
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    const char *text = "this is a text file, not a picture\n";
    vt_test_write_file(path, text, strlen(text));
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "not an image");
    snprintf(path, sizeof path, "%s/x.webp", dir);
    vt_test_write_file(path, "RIFF\x10\0\0\0WEBPVP8 ", 16);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "WebP images are not supported");

    /* truncated PNG and JPEG (cut in the pixel data; the JPEG also just before its EOI marker) */
    uint8_t *png = read_all(VT_GOLDEN("preprocess-sizes") "/image.3.png", &n);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    vt_test_write_file(path, png, n / 2);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "cannot decode PNG (truncated or corrupt)");
    vt_test_write_file(path, png, 20);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "cannot read the PNG header");
    free(png);
    uint8_t *jpg = read_all(VT_GOLDEN("preprocess-sizes") "/image.14.jpg", &n);
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    size_t cuts[] = {n / 2, n - 2, 300, 4};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        vt_test_write_file(path, jpg, cuts[i]);
        expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "truncated JPEG");
    }
    /* a JPEG whose frame header declares 20000 x 20000 (4e8 pixels; libjpeg itself stops at 65500 a side):
     * refused before decoding */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) sof = i;
    assert_true(sof > 0);
    jpg[sof + 5] = jpg[sof + 7] = 0x4e;
    jpg[sof + 6] = jpg[sof + 8] = 0x20;
    snprintf(path, sizeof path, "%s/huge.jpg", dir);
    vt_test_write_file(path, jpg, n);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path,
                  "JPEG declares 20000x20000 = 400000000 pixels, more than the 178956970 PIL opens");
    jpg[sof + 5] = jpg[sof + 6] = 0; /* height 0 */
    vt_test_write_file(path, jpg, n);
    expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, "cannot decode JPEG");
    free(jpg);

    /* PNG headers declaring absurd sizes (the pixel data is a single row: never reached) */
    uint8_t row[3] = {1, 2, 3};
    static const struct {
        int w, h;
        const char *what;
    } huge[] = {
        {100000, 100000, "PNG declares 100000x100000 pixels: a side over 65535"},
        {70000, 1, "a side over 65535"},
        {65535, 65535, "more than the 178956970 PIL opens"},
        {13379, 13376, "13379x13376 = 178957504 pixels"},
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        bytes b = make_png(1, 1, 2, 8, row, 3, NULL, 0, 0);
        for (int k = 0; k < 4; k++) {
            b.p[16 + k] = (uint8_t)((uint32_t)huge[i].w >> (24 - 8 * k));
            b.p[20 + k] = (uint8_t)((uint32_t)huge[i].h >> (24 - 8 * k));
        }
        uint32_t crc = crc32_png(b.p + 12, 17);
        for (int k = 0; k < 4; k++) b.p[29 + k] = (uint8_t)(crc >> (24 - 8 * k));
        snprintf(path, sizeof path, "%s/huge.png", dir);
        vt_test_write_file(path, b.p, b.n);
        expect_einput(vt_image_load(&img, path, VT_EXIF_APPLY, &st), &st, path, huge[i].what);
        free(b.p);
    }
    /* the limits themselves: exactly PIL's 178956970 pixels (3277 x 54610) and a 65535 side pass */
    assert_int_equal(vt_image_check_size(3277, 54610, "PNG", &st), 0);
    assert_int_equal(vt_image_check_size(65535, 2730, "PNG", &st), 0);
    expect_einput(vt_image_check_size(3278, 54610, "PNG", &st), &st, NULL, "3278x54610 = 179011580 pixels, more than");
    expect_einput(vt_image_check_size(65536, 1, "PNG", &st), &st, NULL, "a side over 65535");
    expect_einput(vt_image_check_size(0, 10, "PNG", &st), &st, NULL, "empty size 0x10");
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_golden_preprocess_sizes),
        cmocka_unit_test(test_image_golden_preprocess_exif),
        cmocka_unit_test(test_image_golden_model_cases),
        cmocka_unit_test(test_image_orientations_by_hand),
        cmocka_unit_test(test_image_png_modes),
        cmocka_unit_test(test_image_jpeg_grey_and_cmyk),
        cmocka_unit_test(test_image_gif_transparency),
        cmocka_unit_test(test_image_stb_jpeg_differs),
        cmocka_unit_test(test_image_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
