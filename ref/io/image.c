/*
 * image.c -- images from strangers into 8-bit RGB [h][w][3], as each family's reference loads them.
 *
 * Legend: w x h pixels (PIL's size order), rows top to bottom, 3 bytes per pixel (R, G, B).
 *
 * The Qwen2 families load with Hugging Face's load_image: PIL.Image.open, ImageOps.exif_transpose,
 * convert("RGB"). Qwen-VL and Kimi-VL call Image.open(...).convert("RGB") without the transpose. So:
 *   1. the format is recognised by its magic bytes; JPEG goes to libjpeg-turbo (image_jpeg.c), the
 *      rest to stb_image, whose PNG/BMP/GIF/... decoders give PIL's bytes (they are lossless);
 *   2. the declared size is checked before anything is decoded (vt_image_check_size);
 *   3. convert("RGB"): grey replicated, palette expanded, alpha dropped -- never composited onto a
 *      background (stb does all three when asked for 3 channels). One case differs: PIL opens a 16-bit
 *      greyscale PNG as mode "I" and convert("RGB") clips it to 0..255, where stb would keep the high
 *      byte; that case is decoded at 16 bits and clipped here;
 *   4. with VT_EXIF_APPLY, the EXIF orientation (image_exif.c) is applied (vt_image_orient).
 */
#include "io/image.h"

#include <limits.h>
#include <stb/stb_image.h>
#include <string.h>

#include "io/fileio.h"

#define IMG_MAX_FILE ((size_t)1 << 30) /* 1 GB of compressed data */

int vt_image_check_size(int64_t w, int64_t h, const char *format, vt_status *st)
{
    if (w <= 0 || h <= 0)
        return vt_fail(st, VT_EINPUT, "%s declares an empty size %lldx%lld", format, (long long)w, (long long)h);
    if (w > VT_IMAGE_MAX_SIDE || h > VT_IMAGE_MAX_SIDE)
        return vt_fail(st, VT_EINPUT, "%s declares %lldx%lld pixels: a side over %d is refused", format, (long long)w,
                       (long long)h, VT_IMAGE_MAX_SIDE);
    if (w * h > VT_IMAGE_MAX_PIXELS)
        return vt_fail(st, VT_EINPUT,
                       "%s declares %lldx%lld = %lld pixels, more than the %lld PIL opens (DecompressionBombError)",
                       format, (long long)w, (long long)h, (long long)(w * h), (long long)VT_IMAGE_MAX_PIXELS);
    return VT_OK;
}

/* ================================ formats ================================ */

/* The format named by the first bytes, or NULL (stb also reads TGA, which has no magic). *unsupported is
 * set for formats PIL reads but stb_image does not. */
static const char *sniff(const uint8_t *b, size_t n, int *unsupported)
{
    *unsupported = 0;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "JPEG";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "GIF";
    if (n >= 2 && memcmp(b, "BM", 2) == 0) return "BMP";
    if (n >= 4 && memcmp(b, "8BPS", 4) == 0) return "PSD";
    if (n >= 4 && memcmp(b, "\x53\x80\xf6\x34", 4) == 0) return "PIC";
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return "PNM";
    *unsupported = 1;
    if (n >= 2 && b[0] == '#' && b[1] == '?') return "Radiance HDR";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) return "HEIF/AVIF";
    *unsupported = 0;
    return NULL;
}

/* The size a PNG, GIF or BMP header declares, read here so that an absurd one is reported as such (stb
 * refuses some of them itself, with a vaguer reason). 0 when the header is too short to say. */
static int declared_size(const uint8_t *b, size_t n, const char *fmt, int64_t *w, int64_t *h)
{
    if (!strcmp(fmt, "PNG") && n >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
        *w = (int64_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
        *h = (int64_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
        return 1;
    }
    if (!strcmp(fmt, "GIF") && n >= 10) {
        *w = b[6] | b[7] << 8;
        *h = b[8] | b[9] << 8;
        return 1;
    }
    if (!strcmp(fmt, "BMP") && n >= 26 && (b[14] | b[15] << 8) >= 40) { /* BITMAPINFOHEADER or later */
        *w = (int32_t)((uint32_t)b[18] | (uint32_t)b[19] << 8 | (uint32_t)b[20] << 16 | (uint32_t)b[21] << 24);
        *h = (int32_t)((uint32_t)b[22] | (uint32_t)b[23] << 8 | (uint32_t)b[24] << 16 | (uint32_t)b[25] << 24);
        if (*h < 0) *h = -*h; /* top-down rows */
        return 1;
    }
    return 0;
}

/* A binary PNM (P5 grey, P6 RGB) header read the way stb_image reads it -- magic, then width, height
 * and maxval as decimals separated by whitespace and '#' comments, one whitespace byte, the samples --
 * so that what stb would get wrong is refused first: a number too long for an int (stb overflows),
 * samples missing from the end (stb 2.27 does not check its read and hands back uninitialised
 * memory), and a maxval other than 255 (PIL rescales those, and reads 16-bit samples big-endian where
 * stb keeps the bytes as they are). */
static int pnm_check(const uint8_t *b, size_t n, vt_status *st)
{
    size_t pos = 2;
    int c = pos < n ? b[pos++] : -1;
    int64_t v[3] = {0, 0, 0};
    static const char *const what[3] = {"width", "height", "maxval"};
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and comments */
            while (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') c = pos < n ? b[pos++] : -1;
            if (c != '#') break;
            while (c != -1 && c != '\n' && c != '\r') c = pos < n ? b[pos++] : -1;
        }
        int digits = 0;
        while (c >= '0' && c <= '9') {
            if (++digits > 9) return vt_fail(st, VT_EINPUT, "PNM %s has more than 9 digits", what[k]);
            v[k] = v[k] * 10 + (c - '0');
            c = pos < n ? b[pos++] : -1;
        }
        if (!digits) return vt_fail(st, VT_EINPUT, "PNM header: no %s (truncated or corrupt)", what[k]);
    }
    if (v[2] != 255)
        return vt_fail(st, VT_EINPUT, "PNM with maxval %lld is not supported (only 255: PIL rescales other maxvals, "
                       "stb_image does not)", (long long)v[2]);
    VT_TRY(vt_image_check_size(v[0], v[1], "PNM", st));
    if (c == -1) pos = n;
    uint64_t need = (uint64_t)v[0] * (uint64_t)v[1] * (b[1] == '6' ? 3u : 1u);
    if (n - pos < need)
        return vt_fail(st, VT_EINPUT, "truncated PNM: %lldx%lld needs %llu bytes of samples, the file has %zu",
                       (long long)v[0], (long long)v[1], (unsigned long long)need, n - pos);
    return VT_OK;
}

/* Does the first frame of a GIF use a transparent colour? stb_image writes black where PIL's
 * convert("RGB") gives that colour's palette entry, so such a GIF is refused rather than decoded
 * differently. Walks the blocks up to the first image descriptor. */
static int gif_first_frame_transparent(const uint8_t *b, size_t n)
{
    if (n < 13) return 0;
    size_t pos = 13;
    if (b[10] & 0x80) pos += 3 * ((size_t)1 << ((b[10] & 7) + 1)); /* global colour table */
    while (pos + 2 <= n && b[pos] == 0x21) {                        /* extension blocks */
        if (b[pos + 1] == 0xf9 && pos + 4 <= n && b[pos + 2] >= 4 && (b[pos + 3] & 1)) return 1;
        pos += 2;
        while (pos < n && b[pos]) pos += 1 + (size_t)b[pos]; /* sub-blocks, up to the terminator */
        pos++;
    }
    return 0;
}

/* PNG, BMP, GIF (first frame), PSD, PIC, PNM, TGA through stb_image. */
static int decode_stb(vt_image *img, vt_image_info *info, const uint8_t *buf, size_t len, const char *fmt,
                      vt_status *st)
{
    if (len > INT_MAX) return vt_fail(st, VT_EINPUT, "%s file of %zu bytes is too large", fmt ? fmt : "image", len);
    int w, h, comp;
    int64_t dw, dh;
    if (fmt && declared_size(buf, len, fmt, &dw, &dh)) VT_TRY(vt_image_check_size(dw, dh, fmt, st));
    if (fmt && !strcmp(fmt, "PNM")) VT_TRY(pnm_check(buf, len, st));
    if (fmt && !strcmp(fmt, "GIF") && gif_first_frame_transparent(buf, len))
        return vt_fail(st, VT_EINPUT, "GIF with a transparent colour is not supported (its transparent pixels would "
                       "not match PIL's); convert it to PNG");
    /* Without a magic number only TGA is left, but stb tries all its decoders in turn, and its JPEG test
     * skips 0xFF fill bytes: FF FF D8 or FF D8 00 would reach stb's own JPEG decoder, which is not PIL's
     * (PIL opens a JPEG only on FF D8 FF, and that goes to libjpeg above). A TGA's second byte, its
     * colour-map type, is 0 or 1, never FF or D8. */
    if (!fmt && len >= 2 && buf[0] == 0xff && (buf[1] == 0xff || buf[1] == 0xd8))
        return vt_fail(st, VT_EINPUT, "not an image: JPEG-like bytes (FF %02X) without a JPEG's FF D8 FF start", buf[1]);
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
        if (!fmt)
            return vt_fail(st, VT_EINPUT, "not an image: no PNG, JPEG, BMP, GIF, TGA, PSD, PNM or PIC data recognised");
        return vt_fail(st, VT_EINPUT, "cannot read the %s header (truncated or corrupt): %s", fmt, stbi_failure_reason());
    }
    if (!fmt) fmt = "TGA";
    info->format = fmt;
    VT_TRY(vt_image_check_size(w, h, fmt, st));
    size_t n = (size_t)w * (size_t)h;
    uint8_t *rgb = malloc(n * 3);
    if (!rgb) return vt_fail(st, VT_ERESOURCE, "out of memory for a %dx%d image", w, h);
    int w2 = 0, h2 = 0, c2;
    if (comp == 1 && stbi_is_16_bit_from_memory(buf, (int)len)) { /* PIL: mode "I", clipped by convert("RGB") */
        stbi_us *p = stbi_load_16_from_memory(buf, (int)len, &w2, &h2, &c2, 1);
        if (p && w2 == w && h2 == h)
            for (size_t i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = p[i] > 255 ? 255 : (uint8_t)p[i];
        stbi_image_free(p);
        if (!p) w2 = 0;
    } else {
        stbi_uc *p = stbi_load_from_memory(buf, (int)len, &w2, &h2, &c2, 3);
        if (p && w2 == w && h2 == h) memcpy(rgb, p, n * 3);
        stbi_image_free(p);
        if (!p) w2 = 0;
    }
    if (w2 != w || h2 != h) {
        free(rgb);
        return vt_fail(st, VT_EINPUT, "cannot decode %s (truncated or corrupt): %s", fmt,
                       w2 ? "decoded size differs from the header" : stbi_failure_reason());
    }
    img->w = w;
    img->h = h;
    img->rgb = rgb;
    return VT_OK;
}

/* ================================ orientation ================================ */

int vt_image_orient(vt_image *img, int orientation, vt_status *st)
{
    if (orientation < 2 || orientation > 8) return VT_OK;
    const int w = img->w, h = img->h;
    const int swap = orientation >= 5; /* 5..8 exchange width and height */
    const int W = swap ? h : w, H = swap ? w : h;
    uint8_t *out = malloc((size_t)w * (size_t)h * 3);
    if (!out) return vt_fail(st, VT_ERESOURCE, "out of memory for a %dx%d image", w, h);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            int sx = x, sy = y; /* the source pixel of output (x, y) */
            switch (orientation) {
            case 2: sx = w - 1 - x; break;                    /* FLIP_LEFT_RIGHT */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;    /* ROTATE_180 */
            case 4: sy = h - 1 - y; break;                    /* FLIP_TOP_BOTTOM */
            case 5: sx = y; sy = x; break;                    /* TRANSPOSE */
            case 6: sx = y; sy = h - 1 - x; break;            /* ROTATE_270: 90 degrees clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;    /* TRANSVERSE */
            case 8: sx = w - 1 - y; sy = x; break;            /* ROTATE_90: 90 degrees counter-clockwise */
            }
            const uint8_t *s = img->rgb + ((size_t)sy * w + sx) * 3;
            uint8_t *d = out + ((size_t)y * W + x) * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    free(img->rgb);
    img->rgb = out;
    img->w = W;
    img->h = H;
    return VT_OK;
}

/* ================================ entry points ================================ */

int vt_image_decode_info(vt_image *img, vt_image_info *info, const void *data, size_t len, vt_exif_mode exif,
                         vt_status *st)
{
    const uint8_t *buf = data;
    vt_image_info local;
    if (!info) info = &local;
    memset(img, 0, sizeof *img);
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    if (len == 0) return vt_fail(st, VT_EINPUT, "empty file, not an image");
    int unsupported;
    const char *fmt = sniff(buf, len, &unsupported);
    int rc;
    if (unsupported) {
        rc = vt_fail(st, VT_EINPUT, "%s images are not supported (PNG, JPEG, BMP, GIF, TGA, PSD, PNM and PIC are)", fmt);
    } else if (fmt && !strcmp(fmt, "JPEG")) {
        rc = vt_jpeg_decode(img, info, buf, len, st);
    } else {
        rc = decode_stb(img, info, buf, len, fmt, st);
        if (rc == VT_OK && fmt && !strcmp(fmt, "PNG")) info->orientation = vt_png_orientation(buf, len);
    }
    info->stored_w = img->w;
    info->stored_h = img->h;
    if (rc == VT_OK && exif == VT_EXIF_APPLY && info->orientation != 1) {
        rc = vt_image_orient(img, info->orientation, st);
        info->applied = 1;
    }
    if (rc) vt_image_free(img);
    return rc;
}

int vt_image_decode(vt_image *img, const void *buf, size_t len, vt_exif_mode exif, vt_status *st)
{
    return vt_image_decode_info(img, NULL, buf, len, exif, st);
}

int vt_image_load_info(vt_image *img, vt_image_info *info, const char *path, vt_exif_mode exif, vt_status *st)
{
    void *buf;
    size_t len;
    memset(img, 0, sizeof *img);
    VT_TRY(vt_read_file(path, &buf, &len, IMG_MAX_FILE, st));
    int rc = vt_image_decode_info(img, info, buf, len, exif, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", path);
    return VT_OK;
}

int vt_image_load(vt_image *img, const char *path, vt_exif_mode exif, vt_status *st)
{
    return vt_image_load_info(img, NULL, path, exif, st);
}

void vt_image_free(vt_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}
