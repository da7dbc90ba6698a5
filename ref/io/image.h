/*
 * image.h -- decoding images from strangers into 8-bit RGB, as each family's reference loads them.
 *
 *     vt_image img;
 *     VT_TRY(vt_image_load(&img, "photo.jpg", VT_EXIF_APPLY, st));   // Qwen2-VL / Qwen2.5-VL (HF load_image)
 *     ... img.rgb[(y * img.w + x) * 3 + c] ...
 *     vt_image_free(&img);
 *
 * JPEG goes through libjpeg-turbo with PIL's default decoder settings, so pixels equal PIL's byte for
 * byte; PNG and the other formats go through stb_image. VT_EXIF_APPLY applies the EXIF orientation
 * (JPEG APP1 or PNG eXIf, all eight values, read with libexif) as HF's load_image does
 * (PIL.ImageOps.exif_transpose); VT_EXIF_IGNORE is PIL's Image.open(...).convert("RGB") as the Qwen-VL
 * and Kimi-VL references do. Conversion follows PIL's convert("RGB"): alpha dropped (not composited),
 * grey and palette expanded. Dimensions are checked before pixels are decoded: more pixels than PIL
 * opens (VT_IMAGE_MAX_PIXELS) or a side over 65,535 is refused.
 */
#ifndef VT_IMAGE_H
#define VT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* PIL's Image.open refuses more than 2 * Image.MAX_IMAGE_PIXELS = 2 * 89,478,485 pixels
 * (DecompressionBombError, PIL 9.4 _decompression_bomb_check), so the references never see such an image. */
#define VT_IMAGE_MAX_PIXELS ((int64_t)178956970)
#define VT_IMAGE_MAX_SIDE 65535

typedef enum vt_exif_mode { VT_EXIF_APPLY, VT_EXIF_IGNORE } vt_exif_mode;

typedef struct vt_image {
    int w, h;     /* after the orientation, when it was applied */
    uint8_t *rgb; /* [h][w][3], malloc'd, owned by the image */
} vt_image;

/* What the file said, for `vlmtrace inspect` (vt_image_load_info). */
typedef struct vt_image_info {
    const char *format; /* "JPEG", "PNG", "BMP", "GIF", ... (a static string) */
    int orientation;    /* EXIF orientation found in the file, 1..8 (1 when absent or unreadable) */
    int applied;        /* 1 if it was applied (VT_EXIF_APPLY and orientation != 1) */
    int stored_w, stored_h; /* the size in the file, before the orientation */
} vt_image_info;

int vt_image_load(vt_image *img, const char *path, vt_exif_mode exif, vt_status *st);
/* Decode from memory (messages do not name a file); used by vt_image_load and the fuzzer. */
int vt_image_decode(vt_image *img, const void *buf, size_t len, vt_exif_mode exif, vt_status *st);
/* The same, also filling *info (info may be NULL). */
int vt_image_load_info(vt_image *img, vt_image_info *info, const char *path, vt_exif_mode exif, vt_status *st);
int vt_image_decode_info(vt_image *img, vt_image_info *info, const void *buf, size_t len, vt_exif_mode exif,
                         vt_status *st);
void vt_image_free(vt_image *img);

/* ---- the pieces, for tests and for callers that decode frames themselves ---- */

/* Apply EXIF orientation 1..8 as PIL.ImageOps.exif_transpose does (2 mirror left-right, 3 rotate 180,
 * 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise);
 * other values leave the image alone. Replaces img->rgb (VT_ERESOURCE if the copy cannot be allocated). */
int vt_image_orient(vt_image *img, int orientation, vt_status *st);
/* The Orientation tag (0x0112) of IFD0 in an EXIF block that starts with "Exif\0\0" and a TIFF header
 * (a JPEG APP1 payload); 1 when it is absent, unreadable or not in 1..8. */
int vt_exif_orientation(const uint8_t *exif, size_t n);
/* The EXIF orientation of a PNG (its eXIf chunk), 1 when there is none. buf is the whole file. */
int vt_png_orientation(const uint8_t *buf, size_t len);
/* JPEG through libjpeg-turbo (image_jpeg.c); info->orientation is read from the first Exif APP1 but
 * not applied. */
int vt_jpeg_decode(vt_image *img, vt_image_info *info, const uint8_t *buf, size_t len, vt_status *st);
/* The size checks every decoder runs on the declared dimensions, before decoding. */
int vt_image_check_size(int64_t w, int64_t h, const char *format, vt_status *st);

#endif
