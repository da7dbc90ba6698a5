/* npy.c -- .npy reading and writing (see npy.h). */
#include "format/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fileio.h"
#include "format/outfile.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1 << 20) /* numpy itself refuses headers over 10 kB by default */

/* ------------------------------------------------------------------------------------------------ */
/* writing */

static const char *descr_of(vt_dtype dt)
{
    switch (dt) {
    case VT_F32: return "<f4";
    case VT_I32: return "<i4";
    case VT_I64: return "<i8";
    case VT_U8: return "|u1";
    }
    return NULL;
}

/* The header numpy 1.24 writes: the dict, room for the first axis to grow to 21 digits, then spaces to
 * make magic + length + header a multiple of 64 bytes, then '\n' (numpy/lib/format.py _wrap_header). */
static size_t build_header(char *h, size_t cap, const vt_tensor *t)
{
    char shape[VT_MAX_DIMS * 24 + 8];
    size_t off = 0;
    off += (size_t)snprintf(shape + off, sizeof shape - off, "(");
    for (int i = 0; i < t->ndim; i++)
        off += (size_t)snprintf(shape + off, sizeof shape - off, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    snprintf(shape + off, sizeof shape - off, "%s", t->ndim == 1 ? ",)" : ")");
    size_t n = (size_t)snprintf(h, cap, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr_of(t->dtype),
                                shape);
    if (t->ndim > 0) {
        char first[24];
        size_t digits = (size_t)snprintf(first, sizeof first, "%lld", (long long)t->shape[0]);
        for (size_t i = digits; i < 21; i++) h[n++] = ' ';
    }
    size_t hlen = n + 1;
    size_t pad = 64 - ((8 + 2 + hlen) % 64);
    for (size_t i = 0; i < pad; i++) h[n++] = ' ';
    h[n++] = '\n';
    return n;
}

int vt_npy_write(const char *path, const vt_tensor *t, vt_status *st)
{
    char h[1024];
    VT_ASSERT(descr_of(t->dtype) != NULL && t->ndim >= 0 && t->ndim <= VT_MAX_DIMS);
    size_t hn = build_header(h, sizeof h, t);
    VT_ASSERT(hn < 65536 && hn < sizeof h);
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hn & 0xff);
    pre[9] = (unsigned char)(hn >> 8);
    vt_file f;
    VT_TRY(vt_file_create(&f, path, st));
    if (vt_file_write(&f, pre, sizeof pre, st) || vt_file_write(&f, h, hn, st) ||
        vt_file_write(&f, t->data, vt_nbytes(t), st)) {
        vt_file_abort(&f);
        return st->code;
    }
    return vt_file_commit(&f, st);
}

/* ------------------------------------------------------------------------------------------------ */
/* reading: a tiny parser for the Python dict literal numpy writes */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* a quoted string ('...' or "...") without escapes, as numpy writes them */
static int parse_str(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return -1;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[n] = 0;
    return 0;
}

static int parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

static int parse_shape(cursor *c, int *ndim, int64_t *shape, vt_status *st)
{
    if (!eat(c, '(')) return vt_fail(st, VT_EINPUT, "shape is not a tuple");
    *ndim = 0;
    for (;;) {
        if (eat(c, ')')) return VT_OK;
        skip_ws(c);
        if (c->p >= c->end || !isdigit((unsigned char)*c->p))
            return vt_fail(st, VT_EINPUT, "shape holds something other than non-negative integers");
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > (INT64_MAX - 9) / 10) return vt_fail(st, VT_EINPUT, "shape dimension too large");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
        if (*ndim >= VT_MAX_DIMS) return vt_fail(st, VT_EINPUT, "shape has more than %d dimensions", VT_MAX_DIMS);
        shape[(*ndim)++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return VT_OK;
        return vt_fail(st, VT_EINPUT, "malformed shape tuple");
    }
}

/* Parse the header found at the start of buf (avail bytes of a file of file_len bytes). On success t
 * has the dtype and shape (data NULL) and *data_off is where the data starts. */
static int parse_header(const void *buf, size_t avail, size_t file_len, vt_tensor *t, size_t *data_off, vt_status *st)
{
    const unsigned char *b = buf;
    size_t len = file_len;
    if (avail < 10 || memcmp(b, NPY_MAGIC, 6) != 0) return vt_fail(st, VT_EINPUT, "not a .npy file (bad magic)");
    int major = b[6], minor = b[7];
    size_t hlen, pre;
    if (major == 1 && minor == 0) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        pre = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (avail < 12) return vt_fail(st, VT_EINPUT, "truncated .npy header");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        pre = 12;
    } else {
        return vt_fail(st, VT_EINPUT, "unsupported .npy version %d.%d", major, minor);
    }
    if (hlen > NPY_MAX_HEADER) return vt_fail(st, VT_EINPUT, "header length %zu is absurd", hlen);
    if (hlen > len - pre)
        return vt_fail(st, VT_EINPUT, "header length %zu runs past the end of the file (%zu bytes)", hlen, len);
    if (hlen > avail - pre) return vt_fail(st, VT_EINPUT, "truncated .npy header");
    cursor c = {(const char *)b + pre, (const char *)b + pre + hlen};
    for (const char *q = c.p; q < c.end; q++)
        if (*q == 0) return vt_fail(st, VT_EINPUT, "NUL byte in header");

    char descr[32] = "";
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0, ndim = 0;
    int64_t shape[VT_MAX_DIMS] = {0};
    if (!eat(&c, '{')) return vt_fail(st, VT_EINPUT, "header is not a dictionary");
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return vt_fail(st, VT_EINPUT, "malformed header dictionary");
        if (strcmp(key, "descr") == 0) {
            if (parse_str(&c, descr, sizeof descr)) return vt_fail(st, VT_EINPUT, "descr is not a simple string");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True")) fortran = 1;
            else if (parse_word(&c, "False")) fortran = 0;
            else return vt_fail(st, VT_EINPUT, "fortran_order is not True or False");
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            VT_TRY(parse_shape(&c, &ndim, shape, st));
            have_shape = 1;
        } else {
            return vt_fail(st, VT_EINPUT, "unknown header key '%s'", key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return vt_fail(st, VT_EINPUT, "malformed header dictionary");
    }
    skip_ws(&c);
    if (c.p != c.end) return vt_fail(st, VT_EINPUT, "trailing bytes after the header dictionary");
    if (!have_descr || !have_fortran || !have_shape)
        return vt_fail(st, VT_EINPUT, "header lacks %s", !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if (fortran) return vt_fail(st, VT_EINPUT, "fortran_order True is not supported (C order only)");
    vt_dtype dt;
    if (strcmp(descr, "<f4") == 0) dt = VT_F32;
    else if (strcmp(descr, "<i4") == 0) dt = VT_I32;
    else if (strcmp(descr, "<i8") == 0) dt = VT_I64;
    else if (strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0) dt = VT_U8;
    else return vt_fail(st, VT_EINPUT, "unsupported dtype '%s' (float32, int32, int64 or uint8 only)", descr);
    int64_t n = vt_shape_numel(ndim, shape);
    size_t have = len - pre - hlen;
    if (n < 0 || (uint64_t)n > SIZE_MAX / 8) return vt_fail(st, VT_EINPUT, "shape is too large");
    size_t need = (size_t)n * vt_dtype_size(dt);
    if (need != have) {
        char sb[200];
        return vt_fail(st, VT_EINPUT, "%s %s needs %zu data bytes but the file has %zu%s", descr,
                       vt_shape_str(sb, sizeof sb, ndim, shape), need, have, have < need ? " (truncated)" : "");
    }
    *t = vt_tensor_of(dt, NULL, ndim, shape);
    *data_off = pre + hlen;
    return VT_OK;
}

int vt_npy_parse(const void *buf, size_t len, vt_tensor *t, vt_status *st)
{
    size_t off;
    VT_TRY(parse_header(buf, len, len, t, &off, st));
    t->data = (unsigned char *)buf + off;
    return VT_OK;
}

int vt_npy_read_header(const char *path, vt_tensor *t, vt_status *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(st, VT_EINPUT, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vt_fail(st, VT_EINPUT, "%s: not a regular file", path);
    }
    size_t cap = NPY_MAX_HEADER + 12;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return vt_fail(st, VT_ERESOURCE, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, cap, f);
    fclose(f);
    size_t off;
    int rc = parse_header(buf, got, (size_t)sb.st_size, t, &off, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", path);
    return VT_OK;
}

int vt_npy_read(const char *path, vt_tensor *t, void **owned, vt_status *st)
{
    void *buf;
    size_t len;
    *owned = NULL;
    VT_TRY(vt_read_file(path, &buf, &len, (size_t)1 << 40, st));
    vt_tensor view;
    if (vt_npy_parse(buf, len, &view, st)) {
        free(buf);
        return vt_wrap(st, "%s: ", path);
    }
    /* move the data to the start of the malloc'd block, which is suitably aligned for any dtype */
    size_t nb = vt_nbytes(&view);
    memmove(buf, view.data, nb);
    view.data = buf;
    *t = view;
    *owned = buf;
    return VT_OK;
}
