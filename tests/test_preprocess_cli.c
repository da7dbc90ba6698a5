/* test_preprocess_cli.c -- `vlmtrace preprocess` end to end: each image of preprocess-sizes and
 * preprocess-exif alone against its golden tensors, `vlmtrace diff` of a preprocess run against every
 * qwen2vl / qwen25vl case, --viz, the option precedence, and the inputs the reference rejects. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb/stb_image_write.h>

#include "io/fileio.h"
#include "format/manifest.h"
#include "core/tap.h"

/* Our trace's image.0.* against the golden image.{k}.*: every golden tensor of that image present and
 * matching (uint8 and int64 exactly, floats by the comparison rule of docs/design.md). */
static void check_trace_image(const char *ours, const char *case_dir, int k)
{
    vt_manifest mo, mr;
    vt_status st = {0};
    if (vt_manifest_read(&mo, ours, &st)) fail_msg("%s", st.msg);
    if (vt_manifest_read(&mr, case_dir, &st)) fail_msg("%s", st.msg);
    assert_string_equal(mo.model, "preprocess");
    char prefix[32];
    snprintf(prefix, sizeof prefix, "image.%d.", k);
    int n = 0;
    for (int i = 0; i < mr.n; i++) {
        if (strncmp(mr.t[i].name, prefix, strlen(prefix)) != 0) continue;
        char oname[VT_NAME_MAX];
        snprintf(oname, sizeof oname, "image.0.%s", mr.t[i].name + strlen(prefix));
        const vt_manifest_entry *e = vt_manifest_find(&mo, oname);
        if (!e) fail_msg("%s: no %s (golden %s)", ours, oname, mr.t[i].name);
        vt_tensor a, b;
        void *oa = NULL, *ob = NULL; /* fail_msg does not return, but clang cannot know it */
        if (vt_manifest_load(&mo, e, &a, &oa, &st) || vt_manifest_load(&mr, &mr.t[i], &b, &ob, &st))
            fail_msg("%s", st.msg);
        assert_tensor_close(&a, &b, mr.t[i].name);
        free(oa);
        free(ob);
        n++;
    }
    assert_true(n >= 3); /* rgb, resized, grid_thw at least */
    vt_manifest_free(&mo);
    vt_manifest_free(&mr);
}

/* `vlmtrace preprocess` on each image of a preprocess case alone, with its own limits. */
static int check_cli_case(const char *case_dir)
{
    cJSON *j = vt_test_load_json(case_dir, "inputs.json");
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(j, "images"), *img;
    char tmp[64], out[4096];
    vt_test_tmpdir(tmp);
    int k = 0;
    cJSON_ArrayForEach(img, imgs)
    {
        const char *file = cJSON_GetObjectItemCaseSensitive(img, "file")->valuestring;
        char trace[128];
        snprintf(trace, sizeof trace, "%s/%d", tmp, k);
        int rc = vt_test_cli(
            out, sizeof out,
            "preprocess --family qwen2-vl --image %s/%s --min-pixels %lld --max-pixels %lld --trace %s", case_dir, file,
            (long long)vt_test_json_int(img, "min_pixels"), (long long)vt_test_json_int(img, "max_pixels"), trace);
        if (cJSON_GetObjectItemCaseSensitive(img, "processor_error")) {
            if (rc != 2 || !strstr(out, "height and width must be > 0") || !strstr(out, file))
                fail_msg("%s image %d: exit %d, output: %s", case_dir, k, rc, out);
        } else {
            if (rc != 0) fail_msg("%s image %d: exit %d, output: %s", case_dir, k, rc, out);
            check_trace_image(trace, case_dir, k);
        }
        k++;
    }
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
    return k;
}

static void test_preprocess_cli_sizes(void **state)
{
    (void)state;
    assert_int_equal(check_cli_case(VT_GOLDEN("preprocess-sizes")), 16);
}

static void test_preprocess_cli_exif(void **state)
{
    (void)state;
    assert_int_equal(check_cli_case(VT_GOLDEN("preprocess-exif")), 6);
}

/* `vlmtrace preprocess` with a model case's inputs, then `vlmtrace diff` restricted to preprocessing. */
static void check_cli_model_case(const char *name, const char *family)
{
    char dir[256], args[4096], tmp[64], out[8192];
    snprintf(dir, sizeof dir, "%s/%s", VT_GOLDEN_ROOT, name);
    cJSON *j = vt_test_load_json(dir, "inputs.json");
    size_t n =
        (size_t)snprintf(args, sizeof args, "preprocess --family %s --min-pixels %lld --max-pixels %lld", family,
                         (long long)vt_test_json_int(j, "min_pixels"), (long long)vt_test_json_int(j, "max_pixels"));
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "images"))
        n += (size_t)snprintf(args + n, sizeof args - n, " --image %s/%s", dir,
                              cJSON_GetObjectItemCaseSensitive(it, "file")->valuestring);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "videos"))
    {
        const cJSON *f;
        n += (size_t)snprintf(args + n, sizeof args - n, " --video ");
        int first = 1;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(it, "frames"))
        {
            n += (size_t)snprintf(args + n, sizeof args - n, "%s%s/%s", first ? "" : ",", dir, f->valuestring);
            first = 0;
        }
    }
    cJSON_Delete(j);
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "%s --trace %s", args, tmp);
    if (rc != 0) fail_msg("%s: exit %d: %s", name, rc, out);
    rc = vt_test_cli(out, sizeof out,
                     "diff %s %s --only 'image.*' --only 'video.*' --only 'pixel_values*' --only '*grid_thw'", tmp, dir);
    if (rc != 0) fail_msg("diff against %s: exit %d:\n%s", name, rc, out);
    vt_test_rmtree(tmp);
}

static void test_preprocess_cli_model_cases(void **state)
{
    (void)state;
    check_cli_model_case("qwen2vl-image", "qwen2-vl");
    check_cli_model_case("qwen2vl-image-bf16", "qwen2-vl");
    check_cli_model_case("qwen2vl-multi", "qwen2-vl");
    check_cli_model_case("qwen25vl-image", "qwen2.5-vl");
    check_cli_model_case("qwen25vl-multi", "qwen2.5-vl");
}

/* --viz: a grid picture per image, listed in the manifest; --only still filters the tensors. */
static void test_preprocess_cli_viz(void **state)
{
    (void)state;
    char tmp[64], out[4096], png[160];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out,
                         "preprocess --family qwen2-vl --image %s/image.0.png --image %s/image.1.png --max-pixels 8000 "
                         "--trace %s --only 'pixel_values' --viz",
                         VT_GOLDEN("qwen2vl-multi"), VT_GOLDEN("qwen2vl-multi"), tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    vt_manifest m;
    vt_status st = {0};
    assert_int_equal(vt_manifest_read(&m, tmp, &st), 0);
    assert_int_equal(m.n_pictures, 2);
    assert_string_equal(m.pictures[0], "image.0.grid.png");
    assert_string_equal(m.pictures[1], "image.1.grid.png");
    assert_int_equal(m.n, 1); /* only pixel_values was traced */
    assert_string_equal(m.t[0].name, "pixel_values");
    vt_manifest_free(&m);
    snprintf(png, sizeof png, "%s/image.1.grid.png", tmp);
    void *buf;
    size_t len;
    assert_int_equal(vt_read_file(png, &buf, &len, 1 << 24, &st), 0);
    assert_true(len > 8 && !memcmp(buf, "\x89PNG", 4));
    free(buf);
    vt_test_rmtree(tmp);
}

/* Flag > DIR/preprocessor_config.json > published defaults. preprocess-sizes image.3 (300x200) gives
 * 308x196 by default (rounding only), 84x56 with max_pixels 4704. */
static void test_preprocess_cli_precedence(void **state)
{
    (void)state;
    char tmp[64], out[4096], path[160];
    vt_test_tmpdir(tmp);
    const char *img = VT_GOLDEN("preprocess-sizes") "/image.3.png";
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s --trace %s/a", img, tmp), 0);
    assert_non_null(strstr(out, "300x200 -> 308x196"));
    snprintf(path, sizeof path, "%s/preprocessor_config.json", tmp);
    const char *cfg = "{\"min_pixels\": 3136, \"max_pixels\": 4704, \"patch_size\": 14, \"merge_size\": 2}";
    vt_test_write_file(path, cfg, strlen(cfg));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s --trace %s/b", tmp, img, tmp), 0);
    assert_non_null(strstr(out, "300x200 -> 84x56"));
    assert_int_equal(vt_test_cli(out, sizeof out,
                                 "preprocess --family qwen2-vl --model %s --max-pixels 12845056 --image %s --trace %s/c", tmp,
                                 img, tmp),
                     0);
    assert_non_null(strstr(out, "300x200 -> 308x196"));
    /* a malformed preprocessor_config.json is an input error naming the file */
    vt_test_write_file(path, "{\"max_pixels\": ", 15);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s --trace %s/d", tmp, img, tmp), 2);
    assert_non_null(strstr(out, "preprocessor_config.json"));
    assert_int_equal(vt_test_lines(out), 1);
    vt_test_rmtree(tmp);
}

/* ---------------------------------------- refusals ---------------------------------------- */

static void write_png(const char *path, int w, int h)
{
    uint8_t *px = calloc((size_t)w * h * 3, 1);
    assert_non_null(px);
    assert_true(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
    free(px);
}

static void test_preprocess_cli_rejects(void **state)
{
    (void)state;
    char tmp[64], out[4096], wide[128], small[128], ok[128];
    vt_test_tmpdir(tmp);
    snprintf(wide, sizeof wide, "%s/wide.png", tmp);
    snprintf(small, sizeof small, "%s/small.png", tmp);
    snprintf(ok, sizeof ok, "%s/ok.png", tmp);
    write_png(wide, 5601, 28);
    write_png(small, 100, 27);
    write_png(ok, 56, 56);
    /* an aspect ratio over 200 */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s --trace %s/t", wide, tmp), 2);
    assert_non_null(strstr(out, "wide.png"));
    assert_non_null(strstr(out, "absolute aspect ratio must be smaller than 200, got 200.03571428571428"));
    assert_int_equal(vt_test_lines(out), 1);
    /* a side under 28, as a video's first frame */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --video %s,%s --trace %s/t", small, ok, tmp), 2);
    assert_non_null(strstr(out, "small.png"));
    assert_non_null(strstr(out, "height:27 and width:100 must be larger than factor:28"));
    /* a missing frame file */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --video %s,%s/missing.png --trace %s/t", ok, tmp, tmp), 2);
    assert_non_null(strstr(out, "missing.png"));
    assert_int_equal(vt_test_lines(out), 1);
    /* no manifest was left behind by the failed runs */
    char man[160];
    snprintf(man, sizeof man, "%s/t/manifest.json", tmp);
    FILE *f = fopen(man, "r");
    assert_null(f);
    /* usage errors */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen3-vl --image %s --trace %s/t", ok, tmp), 2);
    assert_non_null(strstr(out, "qwen3-vl"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s", ok), 2);
    assert_non_null(strstr(out, "--trace"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --trace %s/t", tmp), 2);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s --trace %s/t --max-pixels 0", ok, tmp), 2);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s --trace %s/t --bogus", ok, tmp), 2);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s/nodir --image %s --trace %s/t", tmp, ok, tmp), 2);
    assert_non_null(strstr(out, "not a directory"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --video %s,,%s --trace %s/t", ok, ok, tmp), 2);
    assert_non_null(strstr(out, "empty name"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --help"), 0);
    assert_non_null(strstr(out, "usage: vlmtrace preprocess"));
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preprocess_cli_sizes),
        cmocka_unit_test(test_preprocess_cli_exif),
        cmocka_unit_test(test_preprocess_cli_model_cases),
        cmocka_unit_test(test_preprocess_cli_viz),
        cmocka_unit_test(test_preprocess_cli_precedence),
        cmocka_unit_test(test_preprocess_cli_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
