/* test_npy.c -- .npy reading and writing against files numpy wrote, and every malformed header. */
#include "vt_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "format/npy.h"

/* Reading a golden file and writing it back gives the same bytes: our header padding is numpy's. */
static void roundtrip_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char tmp[64], src[4200], dst[4200];
    vt_test_tmpdir(tmp);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".npy") != 0) continue;
        snprintf(src, sizeof src, "%s/%s", dir, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", tmp, de->d_name);
        vt_tensor t;
        void *owned;
        vt_status st = {0};
        if (vt_npy_read(src, &t, &owned, &st)) fail_msg("%s", st.msg);
        assert_int_equal(vt_npy_write(dst, &t, &st), 0);
        free(owned);
        void *a, *b;
        size_t la, lb;
        assert_int_equal(vt_read_file(src, &a, &la, 1 << 30, &st), 0);
        assert_int_equal(vt_read_file(dst, &b, &lb, 1 << 30, &st), 0);
        if (la != lb || memcmp(a, b, la) != 0) fail_msg("%s: rewritten file differs from numpy's", src);
        free(a);
        free(b);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
    vt_test_rmtree(tmp);
}

static void test_npy_golden_bytes_roundtrip(void **state)
{
    (void)state;
    roundtrip_dir(VT_GOLDEN("qwen2vl-image"));              /* float32, int64, int32, uint8; 1-3 dims */
    roundtrip_dir(VT_GOLDEN("rope-index/qwen2vl-mrope"));   /* 4 dims */
    roundtrip_dir(VT_GOLDEN("qwenvl-image"));
}

static void test_npy_roundtrip_shapes(void **state)
{
    (void)state;
    char tmp[64], path[256];
    vt_test_tmpdir(tmp);
    snprintf(path, sizeof path, "%s/x.npy", tmp);
    vt_status st = {0};
    /* a scalar, an empty tensor and the 9-d patchify shape */
    int64_t s9[9] = {1, 2, 1, 2, 2, 1, 2, 2, 1};
    struct {
        vt_dtype dt;
        int nd;
        const int64_t *shape;
    } cases[] = {{VT_F32, 0, NULL}, {VT_I64, 2, (const int64_t[]){0, 3}}, {VT_U8, 9, s9}, {VT_I32, 1, (const int64_t[]){5}}};
    unsigned char data[64];
    for (int i = 0; i < 64; i++) data[i] = (unsigned char)(i * 7 + 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vt_tensor t = vt_tensor_of(cases[c].dt, data, cases[c].nd, cases[c].shape), r;
        void *owned;
        assert_int_equal(vt_npy_write(path, &t, &st), 0);
        if (vt_npy_read(path, &r, &owned, &st)) fail_msg("%s", st.msg);
        assert_int_equal(r.dtype, t.dtype);
        assert_int_equal(r.ndim, t.ndim);
        for (int d = 0; d < t.ndim; d++) assert_int_equal(r.shape[d], t.shape[d]);
        assert_memory_equal(r.data, data, vt_nbytes(&t));
        free(owned);
    }
    vt_test_rmtree(tmp);
}

/* Build a v1.0 file from a header text and n data bytes. */
static size_t make_npy(unsigned char *buf, const char *header, size_t ndata)
{
    size_t hl = strlen(header);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, header, hl);
    memset(buf + 10 + hl, 0x3f, ndata);
    return 10 + hl + ndata;
}

/* Every malformed input: VT_EINPUT, a message naming the file and containing `why`. */
static void expect_bad(const char *tmp, const char *fname, const void *bytes, size_t n, const char *why)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, fname);
    vt_test_write_file(path, bytes, n);
    vt_tensor t;
    void *owned = (void *)1;
    vt_status st = {0};
    int rc = vt_npy_read(path, &t, &owned, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, path) || !strstr(st.msg, why) || strchr(st.msg, '\n'))
        fail_msg("%s: rc %d, message '%s' (wanted '%s')", fname, rc, st.msg, why);
    assert_null(owned);
}

static void test_npy_bad_inputs(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    unsigned char b[1024];
    size_t n;
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

    expect_bad(tmp, "empty.npy", "", 0, "bad magic");
    expect_bad(tmp, "magic.npy", "\x93NUMPX\x01\x00\x10\x00{}", 12, "bad magic");
    n = make_npy(b, ok, 24);
    b[6] = 9;
    expect_bad(tmp, "version.npy", b, n, "unsupported .npy version 9.0");
    n = make_npy(b, ok, 20);
    expect_bad(tmp, "truncated.npy", b, n, "truncated");
    n = make_npy(b, ok, 28);
    expect_bad(tmp, "trailing.npy", b, n, "needs 24 data bytes but the file has 28");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24);
    expect_bad(tmp, "fortran.npy", b, n, "fortran_order True");
    n = make_npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", 48);
    expect_bad(tmp, "f8.npy", b, n, "unsupported dtype '<f8'");
    n = make_npy(b, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24);
    expect_bad(tmp, "bigendian.npy", b, n, "unsupported dtype '>f4'");
    n = make_npy(b, ok, 24);
    b[8] = 0xff;
    b[9] = 0xff;
    expect_bad(tmp, "hlen.npy", b, n, "header length 65535 runs past the end");
    memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
    expect_bad(tmp, "hlen2.npy", b, 12, "header length 2147483647 is absurd");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", 24);
    expect_bad(tmp, "shape1.npy", b, n, "shape holds something other than non-negative integers");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n", 24);
    expect_bad(tmp, "shape2.npy", b, n, "non-negative integers");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }\n", 24);
    expect_bad(tmp, "shape3.npy", b, n, "shape is too large");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1), }\n", 4);
    expect_bad(tmp, "shape4.npy", b, n, "more than 9 dimensions");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': 6, }\n", 24);
    expect_bad(tmp, "shape5.npy", b, n, "shape is not a tuple");
    n = make_npy(b, "{'descr': '<f4', 'shape': (2, 3), }\n", 24);
    expect_bad(tmp, "nofortran.npy", b, n, "header lacks fortran_order");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", 24);
    expect_bad(tmp, "extrakey.npy", b, n, "unknown header key 'x'");
    n = make_npy(b, "['descr', '<f4']\n", 24);
    expect_bad(tmp, "notdict.npy", b, n, "header is not a dictionary");
    n = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk\n", 24);
    expect_bad(tmp, "junk.npy", b, n, "trailing bytes after the header");

    vt_tensor t;
    void *owned;
    vt_status st = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/missing.npy", tmp);
    assert_int_equal(vt_npy_read(path, &t, &owned, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "No such file"));
    vt_test_rmtree(tmp);
}

static void test_npy_write_errors(void **state)
{
    (void)state;
    float x[2] = {1, 2};
    vt_tensor t = vt_tensor_of(VT_F32, x, VT_DIMS(2));
    vt_status st = {0};
    /* a path under a regular file cannot be created: an input error, naming the path */
    assert_int_equal(vt_npy_write("/dev/null/x.npy", &t, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "/dev/null/x.npy"));
    /* a write that fails after it started is a resource error (/dev/full: ENOSPC on flush) */
    assert_int_equal(vt_npy_write("/dev/full", &t, &st), VT_ERESOURCE);
    assert_non_null(strstr(st.msg, "No space left"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_golden_bytes_roundtrip),
        cmocka_unit_test(test_npy_roundtrip_shapes),
        cmocka_unit_test(test_npy_bad_inputs),
        cmocka_unit_test(test_npy_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
