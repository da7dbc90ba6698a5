/* test_preprocess_fast_cli.c -- `--processor fast` end to end: `vlmtrace preprocess` on each image of
 * preprocess-fast alone (its own --min-pixels / --max-pixels) and on its video (flags, or the model
 * directory's video_preprocessor_config.json) against the golden tensors; the default mode from
 * preprocessor_config.json; the refusals of this version; `run --processor`; the manifest's processor_mode
 * and `diff`'s line naming the flag. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb/stb_image_write.h>

#include "format/manifest.h"
#include "io/fileio.h"
#include "core/tap.h"

#define FAST VT_GOLDEN("preprocess-fast")

/* Our trace's <kind>.0.* against the golden <kind>.{k}.*: every golden tensor of that input present, with
 * the golden dtype and shape, and equal byte for byte (uint8 and int64 as the rule requires; the float32
 * tensors are bit-identical on the fast path too). Also checks the manifest's processor_mode. */
static void check_trace_input(const char *ours, const char *kind, int k, const char *mode)
{
    vt_manifest mo, mr;
    vt_status st = {0};
    if (vt_manifest_read(&mo, ours, &st)) fail_msg("%s", st.msg);
    if (vt_manifest_read(&mr, FAST, &st)) fail_msg("%s", st.msg);
    if (!mo.processor_mode || strcmp(mo.processor_mode, mode)) fail_msg("%s: processor_mode %s", ours, mo.processor_mode);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.%d.", kind, k);
    int n = 0;
    for (int i = 0; i < mr.n; i++) {
        if (strncmp(mr.t[i].name, prefix, strlen(prefix)) != 0) continue;
        char oname[VT_NAME_MAX];
        snprintf(oname, sizeof oname, "%s.0.%s", kind, mr.t[i].name + strlen(prefix));
        const vt_manifest_entry *e = vt_manifest_find(&mo, oname);
        if (!e) fail_msg("%s: no %s (golden %s)", ours, oname, mr.t[i].name);
        vt_tensor a, b;
        void *oa = NULL, *ob = NULL;
        if (vt_manifest_load(&mo, e, &a, &oa, &st) || vt_manifest_load(&mr, &mr.t[i], &b, &ob, &st))
            fail_msg("%s", st.msg);
        assert_tensor_close(&a, &b, mr.t[i].name);
        if (vt_nbytes(&a) != vt_nbytes(&b) || memcmp(a.data, b.data, vt_nbytes(&a)))
            fail_msg("%s: not bit-identical to the golden %s", oname, mr.t[i].name);
        free(oa);
        free(ob);
        n++;
    }
    assert_int_equal(n, 5); /* rgb, resized, normalized, patches, grid_thw */
    vt_manifest_free(&mo);
    vt_manifest_free(&mr);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    void *buf;
    size_t len;
    vt_status st = {0};
    char path[256];
    if (vt_read_file(from, &buf, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vt_test_write_file(path, buf, len);
    free(buf);
}

static void frames_arg(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/video.0.frame.0.png,%s/video.0.frame.1.png,%s/video.0.frame.2.png", FAST, FAST, FAST);
}

/* ---------------------------------------- the goldens ---------------------------------------- */

/* The "done when": each image alone with its own limits, then the video. */
static void test_fast_cli_each_image_and_video(void **state)
{
    (void)state;
    cJSON *j = vt_test_load_json(FAST, "inputs.json");
    const cJSON *img;
    char tmp[64], out[4096], trace[128];
    vt_test_tmpdir(tmp);
    int k = 0;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(j, "images"))
    {
        const char *file = cJSON_GetObjectItemCaseSensitive(img, "file")->valuestring;
        snprintf(trace, sizeof trace, "%s/%d", tmp, k);
        int rc =
            vt_test_cli(out, sizeof out,
                        "preprocess --family qwen2-vl --processor fast --image %s/%s --min-pixels %lld --max-pixels "
                        "%lld --trace %s",
                        FAST, file, (long long)vt_test_json_int(img, "min_pixels"),
                        (long long)vt_test_json_int(img, "max_pixels"), trace);
        if (rc != 0) fail_msg("image %d: exit %d, output: %s", k, rc, out);
        assert_non_null(strstr(out, "(fast processor)"));
        check_trace_input(trace, "image", k, "fast");
        k++;
    }
    assert_int_equal(k, 14);
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "videos"), 0);
    char frames[512];
    frames_arg(frames, sizeof frames);
    snprintf(trace, sizeof trace, "%s/video", tmp);
    int rc = vt_test_cli(out, sizeof out,
                         "preprocess --family qwen2-vl --processor fast --video %s --min-pixels %lld --max-pixels %lld "
                         "--trace %s",
                         frames, (long long)vt_test_json_int(v, "min_pixels"),
                         (long long)vt_test_json_int(v, "max_pixels"), trace);
    if (rc != 0) fail_msg("video: exit %d, output: %s", rc, out);
    check_trace_input(trace, "video", 0, "fast");
    /* and `vlmtrace diff` agrees, for the video's processor outputs too */
    rc = vt_test_cli(out, sizeof out, "diff %s %s --only 'video.*' --only pixel_values_videos --only video_grid_thw",
                     trace, FAST);
    if (rc != 0) fail_msg("diff: exit %d:\n%s", rc, out);
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
}

/* The video's limits from the model directory's video_preprocessor_config.json (fast mode reads it; the
 * image settings come from preprocessor_config.json and stay the hub's); a flag still overrides it. */
static void test_fast_cli_video_config(void **state)
{
    (void)state;
    char tmp[64], out[4096], frames[512], dir[64], path[192];
    vt_test_tmpdir(tmp);
    vt_test_tmpdir(dir); /* the model directory: the case's two processor files */
    copy_file(FAST "/preprocessor_config.json", dir, "preprocessor_config.json");
    copy_file(FAST "/video_preprocessor_config.0.json", dir, "video_preprocessor_config.json");
    frames_arg(frames, sizeof frames);
    int rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --model %s --video %s --trace %s/a",
                         dir, frames, tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "140x100 -> 84x56"));
    snprintf(path, sizeof path, "%s/a", tmp);
    check_trace_input(path, "video", 0, "fast");
    /* an image in the same run keeps the image processor's bounds (56x84 stays: no resize) */
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --model %s --image %s/image.8.png "
                     "--video %s --trace %s/b", dir, FAST, frames, tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "84x56 -> 84x56"));
    /* the slow processor (4.51.3) has no video processor: it does not read the file */
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor slow --model %s --video %s --trace %s/c",
                     dir, frames, tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "140x100 -> 140x112"));
    /* a bad file is an input error naming it, in fast mode */
    snprintf(path, sizeof path, "%s/video_preprocessor_config.json", dir);
    const char *bad = "{\"do_sample_frames\": true}";
    vt_test_write_file(path, bad, strlen(bad));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --model %s --video %s "
                                 "--trace %s/d", dir, frames, tmp), 2);
    assert_non_null(strstr(out, "video_preprocessor_config.json: do_sample_frames is not false"));
    assert_int_equal(vt_test_lines(out), 1);
    vt_test_write_file(path, "{\"max_pixels\": ", 15);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --model %s --video %s "
                                 "--trace %s/d", dir, frames, tmp), 2);
    assert_non_null(strstr(out, "video_preprocessor_config.json: not valid JSON"));
    vt_test_rmtree(tmp);
    vt_test_rmtree(dir);
}

/* The default mode: fast when preprocessor_config.json names the fast class, else the family's (slow). */
static void test_fast_cli_default_mode(void **state)
{
    (void)state;
    char tmp[64], out[4096], path[160], trace[128];
    vt_test_tmpdir(tmp);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", tmp);
    const char *fast = "{\"image_processor_type\": \"Qwen2VLImageProcessorFast\", \"min_pixels\": 3136, "
                       "\"max_pixels\": 12845056}";
    vt_test_write_file(path, fast, strlen(fast));
    snprintf(trace, sizeof trace, "%s/t1", tmp);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s/image.0.png --trace %s",
                                 tmp, FAST, trace), 0);
    assert_non_null(strstr(out, "(fast processor)"));
    check_trace_input(trace, "image", 0, "fast");
    snprintf(trace, sizeof trace, "%s/t2", tmp); /* the flag wins over the file */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --processor slow --image "
                                 "%s/image.0.png --trace %s", tmp, FAST, trace), 0);
    assert_non_null(strstr(out, "(slow processor)"));
    vt_manifest m;
    vt_status st = {0};
    assert_int_equal(vt_manifest_read(&m, trace, &st), 0);
    assert_string_equal(m.processor_mode, "slow");
    vt_manifest_free(&m);
    /* no --model, or a file naming the slow class: the family's default, slow */
    snprintf(trace, sizeof trace, "%s/t3", tmp);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2.5-vl --image %s/image.0.png --trace %s", FAST,
                                 trace), 0);
    assert_non_null(strstr(out, "(slow processor)"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s/image.0.png --trace %s/t4",
                                 VT_GOLDEN("qwen2vl-image"), FAST, tmp), 0);
    assert_non_null(strstr(out, "(slow processor)"));
    vt_test_rmtree(tmp);
}

/* ---------------------------------------- this version's rules ---------------------------------------- */

static void write_png(const char *path, int w, int h)
{
    uint8_t *px = calloc((size_t)w * h * 3, 1);
    assert_non_null(px);
    assert_true(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
    free(px);
}

static void test_fast_cli_rules(void **state)
{
    (void)state;
    char tmp[64], out[4096], a[128], b[128], wide[128];
    vt_test_tmpdir(tmp);
    /* accepted by fast, refused by slow: a side under 28 (image.1, 20x64) and a floor to 0 (image.13 at 12000) */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s/image.1.png --trace %s/s1", FAST, tmp), 2);
    assert_non_null(strstr(out, "height:20 and width:64 must be larger than factor:28"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image %s/image.1.png "
                                 "--trace %s/f1", FAST, tmp), 0);
    assert_non_null(strstr(out, "64x20 -> 112x56"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s/image.13.png --max-pixels 12000 "
                                 "--trace %s/s13", FAST, tmp), 2);
    assert_non_null(strstr(out, "height and width must be > 0"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image %s/image.13.png "
                                 "--max-pixels 12000 --trace %s/f13", FAST, tmp), 0);
    assert_non_null(strstr(out, "600x30 -> 476x28"));
    /* refused by both: an aspect ratio over 200 */
    snprintf(wide, sizeof wide, "%s/wide.png", tmp);
    write_png(wide, 5601, 28);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image %s --trace %s/t",
                                 wide, tmp), 2);
    assert_non_null(strstr(out, "wide.png"));
    assert_non_null(strstr(out, "absolute aspect ratio must be smaller than 200, got 200.03571428571428"));
    assert_int_equal(vt_test_lines(out), 1);
    /* refused by fast only: a video whose frames differ in size (slow resizes each to the first's size) */
    snprintf(a, sizeof a, "%s/a.png", tmp);
    snprintf(b, sizeof b, "%s/b.png", tmp);
    write_png(a, 56, 56);
    write_png(b, 60, 56);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --video %s,%s --trace %s/t", a, b, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --video %s,%s --trace %s/t2",
                                 a, b, tmp), 2);
    assert_non_null(strstr(out, "video.0 frame 1"));
    assert_non_null(strstr(out, "b.png: 60x56, frame 0 is 56x56"));
    assert_int_equal(vt_test_lines(out), 1);
    char man[160];
    snprintf(man, sizeof man, "%s/t2/manifest.json", tmp);
    assert_null(fopen(man, "r"));
    /* usage */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor quick --image %s --trace %s/t",
                                 a, tmp), 2);
    assert_non_null(strstr(out, "--processor: processor 'quick': slow"));
    assert_int_equal(vt_test_lines(out), 1);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s --trace %s/t --processor", a, tmp), 2);
    assert_non_null(strstr(out, "--processor needs a value"));
    vt_test_rmtree(tmp);
}

/* ---------------------------------------- run, diff ---------------------------------------- */

/* `run --processor fast`: the trace records it and its preprocessing is the fast path's (the same bytes
 * as `preprocess --processor fast`); the default stays slow for the golden directories; Kimi-VL has one
 * processor. */
static void test_fast_cli_run(void **state)
{
    (void)state;
    char tmp[64], out[8192];
    vt_test_tmpdir(tmp);
    const char *model = VT_GOLDEN("qwen2vl-image");
    char frames[512];
    frames_arg(frames, sizeof frames);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image.7.png --video %s --max-pixels 8000 --processor fast "
                         "--trace %s/run --only 'image.*' --only 'video.*' --only pixel_values --only visual", model, FAST,
                         frames, tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image %s/image.7.png --video %s "
                     "--max-pixels 8000 --trace %s/pre", FAST, frames, tmp);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    rc = vt_test_cli(out, sizeof out, "diff %s/pre %s/run --only 'image.*' --only 'video.*' --only pixel_values", tmp, tmp);
    if (rc != 0) fail_msg("diff: exit %d:\n%s", rc, out);
    vt_manifest m;
    vt_status st = {0};
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run", tmp);
    assert_int_equal(vt_manifest_read(&m, dir, &st), 0);
    assert_string_equal(m.processor_mode, "fast");
    vt_manifest_free(&m);
    /* without the flag: slow, which refuses the 20-pixel-wide image.7 */
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s --image %s/image.7.png", model, FAST), 2);
    assert_non_null(strstr(out, "must be larger than factor:28"));
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s --image %s/image.0.png --processor fast --processor=slow "
                                 "--trace %s/slow", model, FAST, tmp), 2); /* one argument parser: once */
    assert_non_null(strstr(out, "--processor given twice ('fast', then 'slow')"));
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s --image %s/image.0.png --processor=slow --trace %s/slow",
                                 model, FAST, tmp), 0);
    snprintf(dir, sizeof dir, "%s/slow", tmp);
    assert_int_equal(vt_manifest_read(&m, dir, &st), 0);
    assert_string_equal(m.processor_mode, "slow");
    vt_manifest_free(&m);
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s --image %s/image.0.png --processor fast",
                                 VT_GOLDEN("kimivl-image"), FAST), 2);
    assert_non_null(strstr(out, "--processor: Kimi-VL"));
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s --image %s/image.0.png --processor both", model, FAST), 2);
    assert_int_equal(vt_test_lines(out), 1);
    vt_test_rmtree(tmp);
}

/* `diff`: a slow trace against the (fast) golden fails first at image.0.resized and names the flag; the
 * golden records no mode, so the line says so; two traces of different modes say which; --json has it. */
static void test_fast_cli_diff_hint(void **state)
{
    (void)state;
    char tmp[64], out[16384];
    vt_test_tmpdir(tmp);
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s/image.0.png --trace %s/slow",
                                 FAST, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/slow %s --only 'image.0.*'", tmp, FAST), 1);
    assert_non_null(strstr(out, "first divergence: image.0.resized"));
    assert_non_null(strstr(out, "processor: the reference does not record its processor, ours used the slow one; if the "
                                "reference ran transformers >= 4.52's default fast processor, rerun with --processor fast"));
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image %s/image.0.png "
                                 "--trace %s/fast", FAST, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/slow %s/fast", tmp, tmp), 1);
    assert_non_null(strstr(out, "processor: ours was made with the slow processor, the reference with the fast one: rerun "
                                "with --processor fast"));
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/fast %s/slow --json", tmp, tmp), 1);
    assert_non_null(strstr(out, "\"processor_hint\":\t\"processor: ours was made with the fast processor, the reference "
                                "with the slow one: rerun with --processor slow"));
    /* a bug-zoo trace fails there for its own reason (the header names it): no such line */
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --inject bilinear-resize "
                                 "--image %s/image.0.png --trace %s/bug", FAST, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/bug %s/fast", tmp, tmp), 1);
    assert_non_null(strstr(out, "first divergence: image.0.resized"));
    assert_null(strstr(out, "processor:"));
    /* the same mode, or a failure elsewhere: no such line */
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/fast %s --only 'image.0.*'", tmp, FAST), 0);
    assert_null(strstr(out, "processor:"));
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/fast %s/slow --only 'image.0.rgb' --json", tmp, tmp), 0);
    assert_non_null(strstr(out, "\"processor_hint\":\tnull"));
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_cli_each_image_and_video),
        cmocka_unit_test(test_fast_cli_video_config),
        cmocka_unit_test(test_fast_cli_default_mode),
        cmocka_unit_test(test_fast_cli_rules),
        cmocka_unit_test(test_fast_cli_run),
        cmocka_unit_test(test_fast_cli_diff_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
