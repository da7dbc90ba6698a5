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
 * grey and palette expanded. Dimensions are checked before pixels are decoded: more than 2^28 pixels
 * or a side over 65,535 is refused.
 */
#ifndef VT_IMAGE_H
#define VT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define VT_IMAGE_MAX_PIXELS ((int64_t)1 << 28)
#define VT_IMAGE_MAX_SIDE 65535

typedef enum vt_exif_mode { VT_EXIF_APPLY, VT_EXIF_IGNORE } vt_exif_mode;

typedef struct vt_image {
    int w, h;
    uint8_t *rgb; /* [h][w][3], malloc'd, owned by the image */
} vt_image;

int vt_image_load(vt_image *img, const char *path, vt_exif_mode exif, vt_status *st);
/* Decode from memory (messages do not name a file); used by vt_image_load and the fuzzer. */
int vt_image_decode(vt_image *img, const void *buf, size_t len, vt_exif_mode exif, vt_status *st);
void vt_image_free(vt_image *img);

#endif
