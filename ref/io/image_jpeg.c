/*
 * image_jpeg.c -- JPEG decoding as PIL does it, through libjpeg-turbo (the library inside Pillow).
 *
 * PIL's JpegDecode keeps libjpeg's defaults -- the accurate integer IDCT (JDCT_ISLOW) and "fancy"
 * (triangular) chroma upsampling -- and asks for RGB from colour files, L from greyscale ones and
 * CMYK from four-component ones, which its JpegImagePlugin always reads as inverted ("CMYK;I", the
 * Adobe convention). convert("RGB") then replicates L, and turns CMYK into RGB with Pillow's formula
 * (cmyk2rgb: nk = 255 - k, channel = nk - c * nk / 255, rounded as below). With the same settings the
 * decoded bytes equal PIL's exactly; stb_image's own JPEG decoder uses another IDCT and upsampler and
 * differs by a few levels (docs/readers.md has the measurement).
 *
 * Data that ends early is an error, as in PIL ("image file is truncated"); libjpeg's other warnings
 * (extraneous bytes before a marker, ...) are ignored, as PIL ignores them. The declared size is checked
 * after the header is read and before any pixel is decoded.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include <jerror.h>

#include "io/image.h"

/* Everything the longjmp path must see lives here, in the caller's frame, so nothing that changes after
 * setjmp is a local of the function that called it. */
typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
    struct jpeg_decompress_struct cinfo;
    uint8_t *rgb;
    uint8_t *row;
} jpeg_ctx;

static void on_error(j_common_ptr c)
{
    jpeg_ctx *x = (jpeg_ctx *)c->err;
    (*c->err->format_message)(c, x->msg);
    longjmp(x->jb, 1);
}

static void on_message(j_common_ptr c, int level)
{
    jpeg_ctx *x = (jpeg_ctx *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) { /* libjpeg would pad with grey; PIL refuses */
        x->truncated = 1;
        longjmp(x->jb, 1);
    }
    if (level < 0) c->err->num_warnings++;
}

/* Pillow's MULDIV255: a * b / 255 rounded, in integers. */
static int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static uint8_t clip8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

static int first_exif_orientation(struct jpeg_decompress_struct *ci)
{
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return vt_exif_orientation(m->data, m->data_length);
    return 1;
}

static int decode(jpeg_ctx *x, vt_image *img, vt_image_info *info, const uint8_t *buf, size_t len, vt_status *st)
{
    struct jpeg_decompress_struct *ci = &x->cinfo;
    if (setjmp(x->jb)) {
        if (x->truncated) return vt_fail(st, VT_EINPUT, "truncated JPEG: the data ends before the image does");
        return vt_fail(st, VT_EINPUT, "cannot decode JPEG: %s", x->msg);
    }
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(ci, TRUE);
    VT_TRY(vt_image_check_size(ci->image_width, ci->image_height, "JPEG", st));
    int nc = ci->num_components;
    if (nc == 1)
        ci->out_color_space = JCS_GRAYSCALE;
    else if (nc == 3)
        ci->out_color_space = JCS_RGB;
    else if (nc == 4)
        ci->out_color_space = JCS_CMYK; /* YCCK is converted to CMYK by libjpeg */
    else
        return vt_fail(st, VT_EINPUT, "JPEG with %d components is not supported (1, 3 or 4)", nc);
    ci->dct_method = JDCT_ISLOW;    /* PIL's defaults, spelled out */
    ci->do_fancy_upsampling = TRUE;
    info->orientation = first_exif_orientation(ci);
    jpeg_start_decompress(ci);
    const size_t w = ci->output_width, h = ci->output_height;
    x->rgb = malloc(w * h * 3);
    x->row = malloc(w * (size_t)nc);
    if (!x->rgb || !x->row) return vt_fail(st, VT_ERESOURCE, "out of memory for a %zux%zu JPEG", w, h);
    while (ci->output_scanline < h) {
        size_t y = ci->output_scanline;
        JSAMPROW rows[1] = {x->row};
        jpeg_read_scanlines(ci, rows, 1);
        uint8_t *o = x->rgb + y * w * 3;
        const uint8_t *r = x->row;
        for (size_t i = 0; i < w; i++) {
            if (nc == 3) {
                o[3 * i + 0] = r[3 * i + 0];
                o[3 * i + 1] = r[3 * i + 1];
                o[3 * i + 2] = r[3 * i + 2];
            } else if (nc == 1) { /* convert("RGB") from L */
                o[3 * i + 0] = o[3 * i + 1] = o[3 * i + 2] = r[i];
            } else { /* "CMYK;I" then cmyk2rgb */
                int k = 255 - r[4 * i + 3], nk = 255 - k;
                for (int c = 0; c < 3; c++) o[3 * i + c] = clip8(nk - muldiv255(255 - r[4 * i + c], nk));
            }
        }
    }
    jpeg_finish_decompress(ci); /* reads up to EOI: a file cut after the last scan is still truncated */
    img->w = (int)w;
    img->h = (int)h;
    img->rgb = x->rgb;
    x->rgb = NULL;
    return VT_OK;
}

int vt_jpeg_decode(vt_image *img, vt_image_info *info, const uint8_t *buf, size_t len, vt_status *st)
{
    jpeg_ctx *x = calloc(1, sizeof *x);
    if (!x) return vt_fail(st, VT_ERESOURCE, "out of memory");
    x->cinfo.err = jpeg_std_error(&x->pub);
    x->pub.error_exit = on_error;
    x->pub.emit_message = on_message;
    info->format = "JPEG";
    int rc = decode(x, img, info, buf, len, st);
    jpeg_destroy_decompress(&x->cinfo);
    free(x->rgb);
    free(x->row);
    free(x);
    return rc;
}
