/* test_cli.c -- `vlmtrace show` and `vlmtrace diff` through the binary: exit codes and one-line errors. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 16];

static const char *const all_cases[] = {
    "qwen2vl-image", "qwen2vl-image-bf16", "qwen2vl-multi", "qwen25vl-image", "qwen25vl-multi", "qwenvl-image",
    "qwenvl-abspos", "kimivl-image", "kimivl-multi", "preprocess-sizes", "preprocess-exif",
    "rope-index/qwen25vl-batch-pad", "rope-index/qwen25vl-image", "rope-index/qwen25vl-mrope",
    "rope-index/qwen25vl-multi", "rope-index/qwen25vl-text", "rope-index/qwen25vl-text-masked",
    "rope-index/qwen25vl-video-time", "rope-index/qwen2vl-batch-pad", "rope-index/qwen2vl-image",
    "rope-index/qwen2vl-mrope", "rope-index/qwen2vl-multi", "rope-index/qwen2vl-text",
    "rope-index/qwen2vl-text-masked",
};

/* An error: exit 2, exactly one line, containing `what`. */
static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

static void test_cli_show_every_golden_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++) {
        int rc = vt_test_cli(out, sizeof out, "show " VT_GOLDEN_ROOT "/%s", all_cases[i]);
        if (rc != 0) fail_msg("show %s -> %d\n%s", all_cases[i], rc, out);
    }
    assert_int_equal(vt_test_cli(out, sizeof out, "show " VT_GOLDEN("qwen2vl-image")), 0);
    /* name, dtype, shape, then min max mean std sum of a tensor we can check by hand: cu_seqlens = [0, 320] */
    assert_non_null(strstr(out, "visual.cu_seqlens"));
    const char *line = strstr(out, "visual.cu_seqlens ");
    assert_non_null(line);
    char name[64], dtype[16], s0[16];
    double mn, mx, mean, sd, sum;
    assert_int_equal(sscanf(line, "%63s %15s %15s %lf %lf %lf %lf %lf", name, dtype, s0, &mn, &mx, &mean, &sd, &sum), 8);
    assert_string_equal(dtype, "int32");
    assert_string_equal(s0, "[2]");
    assert_true(mn == 0 && mx == 320 && mean == 160 && sd == 160 && sum == 320);
    assert_int_equal(vt_test_cli(out, sizeof out, "show " VT_GOLDEN("qwen2vl-image") " --only 'visual.merger*'"), 0);
    assert_null(strstr(out, "visual.cu_seqlens"));
    assert_non_null(strstr(out, "visual.merger.ln_q"));
}

static void test_cli_diff_self_and_perturbed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++) {
        int rc = vt_test_cli(out, sizeof out, "diff " VT_GOLDEN_ROOT "/%s " VT_GOLDEN_ROOT "/%s", all_cases[i], all_cases[i]);
        if (rc != 0) fail_msg("diff %s against itself -> %d\n%s", all_cases[i], rc, out);
    }
    char tmp[64];
    vt_test_tmpdir(tmp);
    /* the demo's perturbation: element [17, 40] of visual.blocks.1.attn.qkv set to 1.0 (bytes 00 00 80 3f) */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cp -r " VT_GOLDEN("qwen2vl-image") " %s/p && chmod -R u+w %s/p && printf '\\000\\000\\200\\077' | "
             "dd of=%s/p/visual.blocks.1.attn.qkv.npy bs=1 seek=%d conv=notrunc 2>/dev/null",
             tmp, tmp, tmp, 128 + 4 * (17 * 96 + 40));
    assert_int_equal(system(cmd), 0);
    int rc = vt_test_cli(out, sizeof out, "diff %s/p " VT_GOLDEN("qwen2vl-image"), tmp);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "first divergence: visual.blocks.1.attn.qkv"));
    assert_non_null(strstr(out, "worst element [17, 40]"));
    /* a missing tensor */
    snprintf(cmd, sizeof cmd, "rm -rf %s/p && cp -r " VT_GOLDEN("qwen2vl-image") " %s/p && chmod -R u+w %s/p && "
             "sed 's/\"name\": \"visual.merger.ln_q\"/\"name\": \"visual.merger.renamed\"/' %s/p/manifest.json "
             "> %s/m && mv %s/m %s/p/manifest.json", /* not sed -i: BSD sed (macOS) spells it differently */
             tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    assert_int_equal(system(cmd), 0);
    rc = vt_test_cli(out, sizeof out, "diff %s/p " VT_GOLDEN("qwen2vl-image"), tmp);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "MISSING  visual.merger.ln_q"));
    assert_non_null(strstr(out, "only in ours (not compared): visual.merger.renamed"));
    vt_test_rmtree(tmp);
}

static void test_cli_bad_input(void **state)
{
    (void)state;
    char tmp[64], cmd[1024], p[512];
    vt_test_tmpdir(tmp);

    /* a directory without manifest.json (an incomplete trace) */
    expect_error(vt_test_cli(out, sizeof out, "show %s", tmp), "no readable manifest.json");
    expect_error(vt_test_cli(out, sizeof out, "diff %s " VT_GOLDEN("qwen2vl-image"), tmp), "no readable manifest.json");
    expect_error(vt_test_cli(out, sizeof out, "show %s/does-not-exist", tmp), "does-not-exist");

    /* a malformed .npy inside an otherwise good trace */
    snprintf(cmd, sizeof cmd, "cp -r " VT_GOLDEN("qwen2vl-image") " %s/t && chmod -R u+w %s/t", tmp, tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/t/visual.patch_embed.npy", tmp);
    vt_test_write_file(p, "\x93NUMPY\x01\x00\x10\x00{'descr': 'xx'}", 26);
    expect_error(vt_test_cli(out, sizeof out, "show %s/t", tmp), "visual.patch_embed.npy");
    expect_error(vt_test_cli(out, sizeof out, "diff %s/t " VT_GOLDEN("qwen2vl-image"), tmp), "visual.patch_embed.npy");
    /* truncated data */
    snprintf(cmd, sizeof cmd, "head -c 1000 " VT_GOLDEN("qwen2vl-image") "/visual.patch_embed.npy > %s", p);
    assert_int_equal(system(cmd), 0);
    expect_error(vt_test_cli(out, sizeof out, "show %s/t", tmp), "truncated");
    /* a manifest that is not JSON */
    snprintf(p, sizeof p, "%s/t/manifest.json", tmp);
    vt_test_write_file(p, "{\"tensors\": [", 13);
    expect_error(vt_test_cli(out, sizeof out, "show %s/t", tmp), "manifest.json: not valid JSON");

    /* usage errors */
    expect_error(vt_test_cli(out, sizeof out, "diff %s", tmp), "need OURS and REF");
    expect_error(vt_test_cli(out, sizeof out, "diff --rtol abc a b"), "--rtol: 'abc' is not a number");
    expect_error(vt_test_cli(out, sizeof out, "diff --bogus a b"), "unknown option --bogus");
    expect_error(vt_test_cli(out, sizeof out, "frobnicate"), "unknown subcommand 'frobnicate'");
    assert_int_equal(vt_test_cli(out, sizeof out, "diff --help"), 0);
    assert_non_null(strstr(out, "usage: vlmtrace diff"));
    assert_int_equal(vt_test_cli(out, sizeof out, "--help"), 0);
    assert_non_null(strstr(out, "show"));
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_show_every_golden_case),
        cmocka_unit_test(test_cli_diff_self_and_perturbed),
        cmocka_unit_test(test_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
