/*
 * test_fuzz_regress.c -- every input the fuzzers ever broke a reader with, fed again to the same entry
 * points (tests/fuzz/targets.c), plus the weak spots named in issue #15 checked directly.
 *
 * tests/fuzz/regress/<target>/<file>: each must now get a clean answer -- VT_EINPUT with one line,
 * VT_OK when the file name starts with "ok-" (an input that is valid and used to crash), VT_ERESOURCE
 * with "res-" (valid, but over the harness's memory limit, which must fail cleanly). Runs in
 * the plain and the ASan+UBSan builds, so a regression shows up as a failed assertion or a sanitizer
 * report.
 */
#include "vt_test.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fileio.h"

#include "fuzz/targets.c"

#define REGRESS_DIR "tests/fuzz/regress"

static int run_file(const vt_fuzz_target *t, const char *path, int *rc_out, vt_status *st)
{
    void *buf;
    size_t len;
    vt_status rst = {0};
    if (vt_read_file(path, &buf, &len, (size_t)64 << 20, &rst)) {
        print_error("cannot read %s: %s\n", path, rst.msg);
        return -1;
    }
    memset(st, 0, sizeof *st);
    *rc_out = t->run(buf, len, st);
    free(buf);
    return 0;
}

static void test_fuzz_regress_inputs_get_clean_answers(void **state)
{
    (void)state;
    int total = 0, bad = 0;
    for (int i = 0; i < VT_FUZZ_N_TARGETS; i++) {
        const vt_fuzz_target *t = &vt_fuzz_targets[i];
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", REGRESS_DIR, t->name);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            struct stat sb;
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
            int rc = -1;
            vt_status st;
            assert_int_equal(run_file(t, path, &rc, &st), 0);
            total++;
            int want = !strncmp(de->d_name, "ok-", 3) ? VT_OK : !strncmp(de->d_name, "res-", 4) ? VT_ERESOURCE : VT_EINPUT;
            int ok = vt_fuzz_clean(rc, &st) && rc == want;
            printf("  %-9s %-52s -> %d %s\n", t->name, de->d_name, rc, rc ? st.msg : "(accepted)");
            if (!ok) {
                print_error("%s: status %d (want %d), message \"%s\"\n", path, rc, want, st.msg);
                bad++;
            }
        }
        closedir(d);
    }
    printf("  %d regression inputs, %d bad\n", total, bad);
    assert_true(total > 0);
    assert_int_equal(bad, 0);
}

/* A message that quotes a name with a newline or an escape in it stays one line (the first crash the
 * st_header fuzzer found; fixed in vt_fail for every message). */
static void test_fuzz_messages_stay_one_line(void **state)
{
    (void)state;
    vt_status st = {0};
    vt_fail(&st, VT_EINPUT, "tensor %s: bad", "a\nb\x1b[31mc\t");
    assert_string_equal(st.msg, "tensor a\\nb\\x1b[31mc\\t: bad");
    vt_wrap(&st, "dir\r/%s: ", "x");
    assert_string_equal(st.msg, "dir\\r/x: tensor a\\nb\\x1b[31mc\\t: bad");
    assert_true(vt_fuzz_clean(st.code, &st));
}

/* Every prefix of a golden PNG and JPEG is refused as truncated: the decoders must not fill the missing
 * rows with something and succeed (PIL says "image file is truncated"). */
static void test_fuzz_truncated_images_refused(void **state)
{
    (void)state;
    static const char *const files[] = {VT_GOLDEN("preprocess-exif/image.4.png"), VT_GOLDEN("preprocess-exif/image.1.png"),
                                        VT_GOLDEN("preprocess-exif/image.0.jpg"), VT_GOLDEN("preprocess-exif/image.3.jpg")};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        void *buf;
        size_t len;
        vt_status st = {0};
        assert_int_equal(vt_read_file(files[f], &buf, &len, (size_t)1 << 24, &st), 0);
        vt_image img;
        assert_int_equal(vt_image_decode(&img, buf, len, VT_EXIF_APPLY, &st), VT_OK);
        vt_image_free(&img);
        int accepted = 0;
        for (size_t cut = 0; cut < len; cut++) {
            /* a PNG may lose its IEND chunk (12 bytes) and still hold every pixel, as PIL also accepts */
            if (strstr(files[f], ".png") && cut >= len - 12) break;
            memset(&st, 0, sizeof st);
            int rc = vt_image_decode(&img, buf, cut, VT_EXIF_APPLY, &st);
            if (rc == VT_OK) {
                print_error("%s cut to %zu of %zu bytes was decoded as %dx%d\n", files[f], cut, len, img.w, img.h);
                vt_image_free(&img);
                accepted++;
            } else {
                assert_int_equal(rc, VT_EINPUT);
                assert_true(vt_fuzz_clean(rc, &st));
            }
        }
        free(buf);
        assert_int_equal(accepted, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_regress_inputs_get_clean_answers),
        cmocka_unit_test(test_fuzz_messages_stay_one_line),
        cmocka_unit_test(test_fuzz_truncated_images_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
