/*
 * image_exif.c -- the EXIF orientation of an image, as Hugging Face's load_image sees it.
 *
 * load_image calls PIL.ImageOps.exif_transpose, which reads tag 0x0112 (Orientation) from IFD0 of the
 * image's EXIF block: a JPEG's first "Exif\0\0" APP1 segment, or a PNG's eXIf chunk (PIL prefixes the
 * chunk with "Exif\0\0" itself). The block is parsed with libexif. Only IFD0 counts: IFD1 describes the
 * thumbnail, and libexif's exif_data_get_entry would fall back to it.
 *
 * A block that libexif cannot parse, or an orientation outside 1..8, leaves the image as it is.
 */
#include <libexif/exif-data.h>
#include <string.h>

#include "io/image.h"

int vt_exif_orientation(const uint8_t *exif, size_t n)
{
    if (!exif || n < 6 + 8 || memcmp(exif, "Exif\0\0", 6) != 0 || n > 0xffffffu) return 1;
    ExifData *ed = exif_data_new();
    if (!ed) return 1;
    /* FOLLOW_SPECIFICATION would "fix" the data, adding default entries PIL never sees */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, exif, (unsigned int)n);
    int o = 1;
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e && e->data && e->components == 1) {
        ExifByteOrder bo = exif_data_get_byte_order(ed);
        long v = -1;
        /* PIL reads the tag whatever its integer type; SHORT is what the standard says */
        if (e->format == EXIF_FORMAT_SHORT && e->size >= 2) v = exif_get_short(e->data, bo);
        else if (e->format == EXIF_FORMAT_LONG && e->size >= 4) v = (long)exif_get_long(e->data, bo);
        else if (e->format == EXIF_FORMAT_BYTE && e->size >= 1) v = e->data[0];
        if (v >= 1 && v <= 8) o = (int)v;
    }
    exif_data_unref(ed);
    return o;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int vt_png_orientation(const uint8_t *buf, size_t len)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(buf, sig, 8) != 0) return 1;
    size_t pos = 8;
    /* chunks: length (4, big-endian), type (4), data, crc (4); eXIf may come before or after IDAT */
    while (len - pos >= 12) {
        uint32_t n = be32(buf + pos);
        const uint8_t *type = buf + pos + 4;
        if (n > len - pos - 12) return 1; /* truncated: no orientation (the decoder reports the damage) */
        if (memcmp(type, "eXIf", 4) == 0) {
            uint8_t *blk = malloc((size_t)n + 6);
            if (!blk) return 1;
            memcpy(blk, "Exif\0\0", 6);
            memcpy(blk + 6, buf + pos + 8, n);
            int o = vt_exif_orientation(blk, (size_t)n + 6);
            free(blk);
            return o;
        }
        if (memcmp(type, "IEND", 4) == 0) break;
        pos += 12 + (size_t)n;
    }
    return 1;
}
