/* test_limits.c -- resource limits through the binary: absurd configs and runs refused before allocating
 * (exit 2, naming the key or the bytes), allocation failures as exit 3, and the memory estimate
 * (trace/cli/run_limits.c) checked against the arena peak each family's reference model really reaches. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/fileio.h"

static char out[1 << 16];

#define IMG_Q2 VT_GOLDEN("qwen2vl-image") "/image.0.png"
#define IMG_QV VT_GOLDEN("qwenvl-image") "/image0.png"
#define IMG_K0 VT_GOLDEN("kimivl-multi") "/image0.png"
#define IMG_K1 VT_GOLDEN("kimivl-multi") "/image1.png"

/* Lines of `out` other than `vlmtrace preprocess`'s report of each input ("image.0  file  WxH -> ..."). */
static int error_lines(void)
{
    int n = 0;
    for (const char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (strncmp(l, "image.", 6) != 0 && strncmp(l, "video.", 6) != 0) n++;
    return n;
}

/* exit `code`, exactly one line (besides preprocess's input report), containing every non-NULL string */
static void expect_line(int rc, int code, const char *a, const char *b, const char *c)
{
    if (rc != code || error_lines() != 1 || (a && !strstr(out, a)) || (b && !strstr(out, b)) ||
        (c && !strstr(out, c)))
        fail_msg("wanted exit %d and one line with '%s' / '%s' / '%s'; got exit %d:\n%s", code, a ? a : "",
                 b ? b : "", c ? c : "", rc, out);
}

static int exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* A failed test leaves the environment as it was when it failed: each test starts from a clean one. */
static void clean_env(void)
{
    unsetenv("VLMTRACE_MAX_MEMORY");
    unsetenv("VLMTRACE_MAX_ARENA_BYTES");
    unsetenv("VLMTRACE_MEMORY_REPORT");
}

/* dir = golden's checkpoint (a symlink), its preprocessor_config.json, and its config.json with the dotted
 * key set to the JSON value (key NULL: unchanged). */
static void model_with(const char *dir, const char *golden, const char *key, const char *value)
{
    char src[1024], dst[512], cwd[512];
    if (!getcwd(cwd, sizeof cwd)) fail_msg("getcwd");
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    remove(dst);
    snprintf(src, sizeof src, "%s/%s/model.safetensors", cwd, golden);
    if (symlink(src, dst) != 0) fail_msg("symlink %s", dst);
    void *text;
    size_t len;
    vt_status st = {0};
    snprintf(src, sizeof src, "%s/preprocessor_config.json", golden);
    snprintf(dst, sizeof dst, "%s/preprocessor_config.json", dir);
    remove(dst);
    if (access(src, F_OK) == 0) {
        if (vt_read_file(src, &text, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
        vt_test_write_file(dst, text, len);
        free(text);
    }
    snprintf(src, sizeof src, "%s/config.json", golden);
    if (vt_read_file(src, &text, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) fail_msg("%s: not JSON", src);
    if (key) {
        char k[128];
        snprintf(k, sizeof k, "%s", key);
        cJSON *obj = root;
        char *dot, *part = k;
        while ((dot = strchr(part, '.')) != NULL) {
            *dot = 0;
            obj = cJSON_GetObjectItemCaseSensitive(obj, part);
            if (!obj) fail_msg("%s: no %s", src, part);
            part = dot + 1;
        }
        cJSON *v = cJSON_Parse(value);
        if (!v) fail_msg("bad test value %s", value);
        cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
        cJSON_AddItemToObject(obj, part, v);
    }
    char *json = cJSON_Print(root);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    vt_test_write_file(dst, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(root);
}

/* The CLI under a shell prefix (ulimit, environment), output in `out`. */
static int cli_sh(const char *prefix, const char *args)
{
    const char *bin = getenv("VLMTRACE_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s %s 2>&1", prefix, bin ? bin : "bin/vlmtrace", args);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen failed: %s", cmd);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- configs that ask for absurd sizes: exit 2 naming the file and the key ---- */

static void test_limits_absurd_configs(void **state)
{
    (void)state;
    clean_env();
    static const struct {
        const char *golden, *image, *key, *value, *what;
    } cases[] = {
        {"qwen2vl-image", IMG_Q2, "vision_config.depth", "1000000", "vision_config.depth: 1000000 is not an integer"},
        {"qwen2vl-image", IMG_Q2, "vision_config.embed_dim", "10000000", "vision_config.embed_dim: 10000000"},
        {"qwen2vl-image", IMG_Q2, "vision_config.num_heads", "3", "vision_config.num_heads 3 does not divide"},
        {"qwen2vl-image", IMG_Q2, "vision_config.patch_size", "0", "vision_config.patch_size: 0 is not"},
        {"qwen2vl-image", IMG_Q2, "vision_config.spatial_merge_size", "-2", "vision_config.spatial_merge_size: -2"},
        {"qwen2vl-image", IMG_Q2, "vision_config.mlp_ratio", "1e30", "vision_config.mlp_ratio: 1e+30 is not in"},
        {"qwen2vl-image", IMG_Q2, "vision_config.depth", "\"32\"", "vision_config.depth: not a number"},
        {"qwen25vl-image", IMG_Q2, "vision_config.hidden_size", "10000000", "vision_config.hidden_size: 10000000"},
        {"qwen25vl-image", IMG_Q2, "vision_config.intermediate_size", "-1", "vision_config.intermediate_size: -1"},
        {"qwen25vl-image", IMG_Q2, "vision_config.depth", "1000000", "vision_config.depth: 1000000"},
        {"qwen25vl-image", IMG_Q2, "vision_config.window_size", "0", "vision_config.window_size: 0"},
        {"qwenvl-image", IMG_QV, "visual.layers", "1000000", "visual.layers: 1000000 is not an integer"},
        {"qwenvl-image", IMG_QV, "visual.width", "10000000", "visual.width: 10000000"},
        {"qwenvl-image", IMG_QV, "visual.patch_size", "0", "visual.patch_size: 0"},
        {"qwenvl-image", IMG_QV, "visual.heads", "-4", "visual.heads: -4"},
        {"qwenvl-image", IMG_QV, "visual.image_size", "1000000000", "visual.image_size: 1000000000"},
        {"qwenvl-image", IMG_QV, "visual.width", "65536", "visual.mlp_ratio 4.9231 gives an MLP width of 322640"},
        {"kimivl-image", IMG_K0, "vision_config.num_hidden_layers", "1000000", "vision_config.num_hidden_layers: 1000000"},
        {"kimivl-image", IMG_K0, "vision_config.hidden_size", "10000000", "vision_config.hidden_size: 10000000"},
        {"kimivl-image", IMG_K0, "vision_config.intermediate_size", "-5", "vision_config.intermediate_size: -5"},
        {"kimivl-image", IMG_K0, "vision_config.num_attention_heads", "7", "num_attention_heads 7 does not divide"},
        {"kimivl-image", IMG_K0, "text_config.hidden_size", "1000000000", "text_config.hidden_size: 1000000000"},
    };
    char dir[64], cfg[128], args[512];
    vt_test_tmpdir(dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char golden[128];
        snprintf(golden, sizeof golden, VT_GOLDEN_ROOT "/%s", cases[i].golden);
        model_with(dir, golden, cases[i].key, cases[i].value);
        snprintf(args, sizeof args, "run --model %s --image %s", dir, cases[i].image);
        expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, cfg, cases[i].what, NULL);
    }
    vt_test_rmtree(dir);
}

/* Values each in range whose products are not: the weights alone are refused, naming config.json and the
 * bytes, before the checkpoint is even opened (it does not match, and is never read). */
static void test_limits_config_products_refused(void **state)
{
    (void)state;
    clean_env();
    static const struct {
        const char *golden, *image, *key, *value;
    } cases[] = {
        {VT_GOLDEN("qwen2vl-image"), IMG_Q2, "vision_config.embed_dim", "65536"},
        {VT_GOLDEN("qwen25vl-image"), IMG_Q2, "vision_config.hidden_size", "65536"},
        {VT_GOLDEN("qwenvl-image"), IMG_QV, "visual.width", "8192"},
        {VT_GOLDEN("kimivl-image"), IMG_K0, "vision_config.hidden_size", "65536"},
    };
    char dir[64], cfg[128], args[512];
    vt_test_tmpdir(dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    setenv("VLMTRACE_MAX_MEMORY", "1G", 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_with(dir, cases[i].golden, cases[i].key, cases[i].value);
        snprintf(args, sizeof args, "run --model %s --image %s", dir, cases[i].image);
        expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, cfg, "refused before allocating",
                    "bytes) of float32 weights, over the memory limit of 1.0 GiB (set by VLMTRACE_MAX_MEMORY)");
    }
    unsetenv("VLMTRACE_MAX_MEMORY");
    vt_test_rmtree(dir);
}

/* A config that contradicts its checkpoint, through `run` for each family: exit 2 naming the tensor. */
static void test_limits_config_contradicts_weights(void **state)
{
    (void)state;
    clean_env();
    static const struct {
        const char *golden, *image, *key, *value, *what;
    } cases[] = {
        {VT_GOLDEN("qwen2vl-image"), IMG_Q2, "vision_config.embed_dim", "64",
         "visual.patch_embed.proj.weight has shape [32, 3, 2, 14, 14] but config.json implies [64, 3, 2, 14, 14]"},
        {VT_GOLDEN("qwen25vl-image"), IMG_Q2, "vision_config.intermediate_size", "100",
         "visual.blocks.0.mlp.gate_proj.weight has shape [96, 64] but config.json implies [100, 64]"},
        {VT_GOLDEN("qwenvl-image"), IMG_QV, "visual.layers", "3",
         "weight not found: transformer.visual.transformer.resblocks.2.ln_1.weight"},
        {VT_GOLDEN("kimivl-image"), IMG_K0, "text_config.hidden_size", "64",
         "multi_modal_projector.linear_2.weight has shape [48, 256] but config.json implies [64, 256]"},
    };
    char dir[64], trace[128], args[512];
    vt_test_tmpdir(dir);
    snprintf(trace, sizeof trace, "%s/trace", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_with(dir, cases[i].golden, cases[i].key, cases[i].value);
        snprintf(args, sizeof args, "run --model %s --image %s --trace %s", dir, cases[i].image, trace);
        expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, cases[i].what, NULL, NULL);
        assert_false(exists(trace, "manifest.json"));
    }
    vt_test_rmtree(dir);
}

/* ---- runs refused by the memory limit ---- */

static void test_limits_memory_limit_refuses_runs(void **state)
{
    (void)state;
    clean_env();
    char dir[64], args[1024];
    vt_test_tmpdir(dir);
    static const char *const runs[] = {
        "run --model " VT_GOLDEN("qwen2vl-image") " --image " IMG_Q2,
        "run --model " VT_GOLDEN("qwen25vl-image") " --image " IMG_Q2 " --attn literal",
        "run --model " VT_GOLDEN("qwenvl-image") " --image " IMG_QV,
        "run --model " VT_GOLDEN("kimivl-multi") " --image " IMG_K0 " --image " IMG_K1,
        "preprocess --family qwen2-vl --image " IMG_Q2,
    };
    setenv("VLMTRACE_MAX_MEMORY", "4M", 1); /* more than any tiny model's weights, less than a run */
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        snprintf(args, sizeof args, "%s --trace %s/t%zu", runs[i], dir, i);
        expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, "refused before allocating: this run would need about",
                    "over the memory limit of 4.0 MiB (set by VLMTRACE_MAX_MEMORY)", " patches");
        char t[128];
        snprintf(t, sizeof t, "%s/t%zu", dir, i);
        assert_false(exists(t, "manifest.json"));
        assert_false(exists(t, "image.0.rgb.npy")); /* refused before anything was computed */
    }
    setenv("VLMTRACE_MAX_MEMORY", "lots", 1);
    expect_line(vt_test_cli(out, sizeof out, "%s", runs[0]), 2, "VLMTRACE_MAX_MEMORY='lots' is not a byte count", NULL,
                NULL);
    setenv("VLMTRACE_MAX_MEMORY", "64M", 1); /* enough for the tiny model */
    assert_int_equal(vt_test_cli(out, sizeof out, "%s", runs[0]), 0);
    /* a --min-pixels that makes 512000 patches: refused with what it would need, before resizing */
    snprintf(args, sizeof args, "preprocess --family qwen2-vl --image %s --min-pixels 100000000 --max-pixels 100000000 "
             "--trace %s/pp", IMG_Q2, dir);
    expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, "would need about", "for 512000 patches", "64.0 MiB");
    unsetenv("VLMTRACE_MAX_MEMORY");
    /* past the preprocessing's own pixel limit: the pixel count and the bytes, whatever the memory */
    snprintf(args, sizeof args, "run --model " VT_GOLDEN("qwen2vl-image") " --image %s --min-pixels 1000000000 "
             "--max-pixels 1000000000", IMG_Q2);
    expect_line(vt_test_cli(out, sizeof out, "%s", args), 2, "= 1001084112 pixels (about 75081308400 bytes",
                "over the limit of 268435456 pixels", NULL);
    vt_test_rmtree(dir);
}

/* ---- the estimate bounds what the runs really use ---- */

/* One run with VLMTRACE_MEMORY_REPORT=1: the estimate's arena term and the measured arena peak. */
static void measure(const char *args, double *est_arena, double *peak)
{
    setenv("VLMTRACE_MEMORY_REPORT", "1", 1);
    int rc = vt_test_cli(out, sizeof out, "%s", args);
    unsetenv("VLMTRACE_MEMORY_REPORT");
    const char *m = strstr(out, "memory: estimate ");
    if (rc != 0 || !m) fail_msg("vlmtrace %s -> %d:\n%s", args, rc, out);
    const char *a = strstr(m, " arena "), *p = strstr(m, "arena peak ");
    if (!a || !p || sscanf(a, " arena %lf", est_arena) != 1 || sscanf(p, "arena peak %lf", peak) != 1)
        fail_msg("cannot read the memory report: %s", m);
}

static void test_limits_estimate_bounds_the_arena_peak(void **state)
{
    (void)state;
    clean_env();
    static const char *const runs[] = {
        "run --model " VT_GOLDEN("qwen2vl-image") " --image " IMG_Q2 " --max-pixels 64000",
        "run --model " VT_GOLDEN("qwen2vl-image") " --image " IMG_Q2 " --max-pixels 64000 --attn literal",
        "run --model " VT_GOLDEN("qwen2vl-multi") " --image " VT_GOLDEN("qwen2vl-multi") "/image.0.png --video "
        VT_GOLDEN("qwen2vl-multi") "/video.0.frame.0.png," VT_GOLDEN("qwen2vl-multi") "/video.0.frame.1.png,"
        VT_GOLDEN("qwen2vl-multi") "/video.0.frame.2.png --attn literal",
        "run --model " VT_GOLDEN("qwen25vl-image") " --image " IMG_Q2 " --max-pixels 64000",
        "run --model " VT_GOLDEN("qwen25vl-image") " --image " IMG_Q2 " --max-pixels 200000 --attn literal",
        "run --model " VT_GOLDEN("qwenvl-image") " --image " IMG_QV,
        "run --model " VT_GOLDEN("qwenvl-abspos") " --image " IMG_QV " --image " IMG_QV,
        "run --model " VT_GOLDEN("kimivl-multi") " --image " IMG_K0 " --image " IMG_K1,
        "run --model " VT_GOLDEN("kimivl-multi") " --image " IMG_K0 " --image " IMG_K1 " --attn literal",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double est, peak;
        measure(runs[i], &est, &peak);
        /* an upper bound, and a useful one: within 50% (+1 MiB) of what the arena really held */
        if (!(peak <= est && est <= 1.5 * peak + (1 << 20)))
            fail_msg("vlmtrace %s: arena estimate %.0f bytes, measured peak %.0f bytes", runs[i], est, peak);
    }
}

/* ---- allocation failures: exit 3, one line, never a crash ---- */

static void test_limits_arena_failure_is_exit_3(void **state)
{
    (void)state;
    clean_env();
    static const char *const runs[] = {
        "run --model " VT_GOLDEN("qwen2vl-image") " --image " IMG_Q2 " --max-pixels 20000",
        "run --model " VT_GOLDEN("qwen25vl-image") " --image " IMG_Q2 " --max-pixels 20000",
        "run --model " VT_GOLDEN("qwenvl-image") " --image " IMG_QV,
        "run --model " VT_GOLDEN("kimivl-multi") " --image " IMG_K0 " --image " IMG_K1,
        "preprocess --family qwen2-vl --image " IMG_Q2,
    };
    /* limits that stop the arena at different points: the first allocation, the preprocessing, the tower */
    static const char *const limits[] = {"1", "300000", "1500000"};
    char dir[64], args[1024], t[128];
    vt_test_tmpdir(dir);
    int failures = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        for (size_t j = 0; j < sizeof limits / sizeof limits[0]; j++) {
            snprintf(t, sizeof t, "%s/t%zu-%zu", dir, i, j);
            snprintf(args, sizeof args, "%s --trace %s", runs[i], t);
            setenv("VLMTRACE_MAX_ARENA_BYTES", limits[j], 1);
            int rc = vt_test_cli(out, sizeof out, "%s", args);
            unsetenv("VLMTRACE_MAX_ARENA_BYTES");
            if (rc == 0) { /* the limit was enough for this run: a complete trace */
                assert_true(exists(t, "manifest.json"));
                continue;
            }
            expect_line(rc, 3, "scratch arena: allocation of", "would exceed the arena limit of", NULL);
            assert_false(exists(t, "manifest.json"));
            failures++;
        }
    assert_true(failures >= 10); /* most of the limits really did stop the runs (15 tried) */
    vt_test_rmtree(dir);
}

/* ulimit -v: with the default limit the run is refused (exit 2) before allocating; told it may use more
 * than the address space allows, the allocation itself fails (exit 3). ASan reserves terabytes of shadow
 * address space at start-up, so under bin/san the test says it is skipped. */
static void test_limits_ulimit_v(void **state)
{
    (void)state;
    clean_env();
    const char *bin = getenv("VLMTRACE_BIN");
    if (bin && strstr(bin, "san/")) {
        print_message("[ SKIPPED  ] ulimit -v under %s: AddressSanitizer cannot start with a small address-space "
                      "limit (it reserves its shadow memory up front); bin/vlmtrace runs this case\n", bin);
        return;
    }
    /* 20 million pixels: pixel_values alone is 1.5 GB, the address space 1 GB */
    const char *args = "preprocess --family qwen2-vl --image " IMG_Q2 " --min-pixels 20000000 --max-pixels 20000000 "
                       "--trace /tmp/vlmtrace-test-ulimit-unused";
    expect_line(cli_sh("ulimit -v 1000000;", args), 2, "refused before allocating",
                "3/4 of the address-space limit (ulimit -v)", NULL);
    expect_line(cli_sh("ulimit -v 1000000; VLMTRACE_MAX_MEMORY=100G", args), 3, "scratch arena: out of memory allocating",
                NULL, NULL);
    system("rm -rf /tmp/vlmtrace-test-ulimit-unused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_absurd_configs),
        cmocka_unit_test(test_limits_config_products_refused),
        cmocka_unit_test(test_limits_config_contradicts_weights),
        cmocka_unit_test(test_limits_memory_limit_refuses_runs),
        cmocka_unit_test(test_limits_estimate_bounds_the_arena_peak),
        cmocka_unit_test(test_limits_arena_failure_is_exit_3),
        cmocka_unit_test(test_limits_ulimit_v),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
