/* test_readers_cli.c -- `vlmtrace inspect` through the binary: the golden models and the presets read, and
 * every bad checkpoint, config and image of the readers' issue ends with exit 2 and one line naming the
 * file and the problem. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 17];

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    p[len] = 0;
    *n = (size_t)len;
    return p;
}

/* An error: exit 2, exactly one line, containing `file` and `what`. */
static void expect_error(int rc, const char *file, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || (file && !strstr(out, file)) || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s' and '%s'; got exit %d:\n%s", file ? file : "", what, rc, out);
}

/* ---- building model directories from a golden case ---- */

typedef void (*header_edit)(cJSON *header);

/* dir/model.safetensors from the golden case's: optionally without tensor `drop` (the data re-packed so the
 * file stays valid), then `edit` applied to the header JSON. */
static void write_checkpoint(const char *dir, const char *case_dir, const char *drop, header_edit edit)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", case_dir);
    size_t n;
    unsigned char *file = read_all(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | file[i];
    cJSON *h = cJSON_ParseWithLength((const char *)file + 8, (size_t)hl);
    assert_non_null(h);
    const unsigned char *data = file + 8 + hl;
    size_t dlen = n - 8 - hl;
    unsigned char *nd = malloc(dlen);
    size_t pos = 0;
    if (drop) cJSON_DeleteItemFromObjectCaseSensitive(h, drop);
    /* re-pack in the original order of offsets */
    for (size_t at = 0; at < dlen;) {
        cJSON *it, *next = NULL;
        size_t best_end = 0;
        cJSON_ArrayForEach(it, h) {
            cJSON *off = cJSON_GetObjectItem(it, "data_offsets");
            if (off && (size_t)cJSON_GetArrayItem(off, 0)->valuedouble == at) {
                next = it;
                best_end = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
            }
        }
        if (!next) { /* the dropped tensor's bytes: find the next start */
            size_t nxt = dlen;
            cJSON_ArrayForEach(it, h) {
                cJSON *off = cJSON_GetObjectItem(it, "data_offsets");
                size_t b = off ? (size_t)cJSON_GetArrayItem(off, 0)->valuedouble : dlen;
                if (off && b > at && b < nxt) nxt = b;
            }
            at = nxt;
            continue;
        }
        memcpy(nd + pos, data + at, best_end - at);
        cJSON *off = cJSON_GetObjectItem(next, "data_offsets");
        cJSON_ReplaceItemInArray(off, 0, cJSON_CreateNumber((double)pos));
        cJSON_ReplaceItemInArray(off, 1, cJSON_CreateNumber((double)(pos + best_end - at)));
        pos += best_end - at;
        at = best_end;
    }
    if (edit) edit(h);
    char *text = cJSON_PrintUnformatted(h);
    size_t tl = strlen(text);
    unsigned char *w = malloc(8 + tl + pos);
    for (int i = 0; i < 8; i++) w[i] = (unsigned char)((uint64_t)tl >> (8 * i));
    memcpy(w + 8, text, tl);
    memcpy(w + 8 + tl, nd, pos);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    vt_test_write_file(path, w, 8 + tl + pos);
    free(w);
    free(text);
    free(nd);
    cJSON_Delete(h);
    free(file);
}

/* dir/config.json from the golden case's, with `path` (dotted) set to the JSON `value` (NULL: unchanged). */
static void write_config(const char *dir, const char *case_dir, const char *path, const char *value)
{
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", case_dir);
    size_t n;
    char *text = read_all(p, &n);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    if (path) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        cJSON *obj = root;
        char *key = buf, *dot;
        while ((dot = strchr(key, '.')) != NULL) {
            *dot = 0;
            obj = cJSON_GetObjectItem(obj, key);
            assert_non_null(obj);
            key = dot + 1;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        cJSON_AddItemToObject(obj, key, cJSON_Parse(value));
    }
    char *o = cJSON_Print(root);
    snprintf(p, sizeof p, "%s/config.json", dir);
    vt_test_write_file(p, o, strlen(o));
    free(o);
    cJSON_Delete(root);
    free(text);
}

static void set_entry(cJSON *h, const char *name, const char *field, const char *value)
{
    cJSON *e = cJSON_GetObjectItem(h, name);
    assert_non_null(e);
    cJSON_DeleteItemFromObjectCaseSensitive(e, field);
    cJSON_AddItemToObject(e, field, cJSON_Parse(value));
}

/* Edits on the qwen2vl-image header (offsets as in that file: proj.bias [0,128], proj.weight [128,4224],
 * patch_embed last, ending at 394048). */
static void e_out_of_range(cJSON *h) { set_entry(h, "visual.patch_embed.proj.weight", "data_offsets", "[243520, 394052]"); }
static void e_reversed(cJSON *h) { set_entry(h, "visual.blocks.0.attn.proj.bias", "data_offsets", "[128, 0]"); }
static void e_overlap(cJSON *h) { set_entry(h, "visual.blocks.0.attn.proj.weight", "data_offsets", "[124, 4220]"); }
static void e_span(cJSON *h) { set_entry(h, "visual.blocks.0.norm1.bias", "shape", "[31]"); }
static void e_dtype(cJSON *h) { set_entry(h, "visual.blocks.0.norm1.bias", "dtype", "\"Q4_K\""); }
static void e_negative(cJSON *h) { set_entry(h, "visual.blocks.0.norm1.bias", "shape", "[-32]"); }
static void e_duplicate(cJSON *h)
{
    cJSON_AddItemToObject(h, "visual.merger.ln_q.bias", cJSON_Duplicate(cJSON_GetObjectItem(h, "visual.merger.ln_q.bias"), 1));
}

/* ---- good inputs ---- */

static void test_readers_cli_inspect_golden_and_presets(void **state)
{
    (void)state;
    static const struct {
        const char *dir, *family, *total;
    } cases[] = {
        {VT_GOLDEN("qwen2vl-image"), "family      Qwen2-VL (model_type qwen2_vl)", "total       43 tensors"},
        {VT_GOLDEN("qwen2vl-image-bf16"), "BF16", "total       43 tensors, 0.188 MiB stored, 0.376 MiB as float32"},
        {VT_GOLDEN("qwen25vl-image"), "family      Qwen2.5-VL (model_type qwen2_5_vl)", "total       54 tensors"},
        {VT_GOLDEN("qwenvl-image"), "family      Qwen-VL (model_type qwen)", "total       42 tensors"},
        {VT_GOLDEN("kimivl-image"), "family      Kimi-VL (model_type kimi_vl)", "total       35 tensors"},
        {VT_GOLDEN("qwen2vl-e2e"), "tensors     69: 43 on the vision side, the rest the language model's",
         "total       69 tensors"},
        {VT_GOLDEN("qwen25vl-e2e"), "language    2 layers, vocab 256, intermediate 96", "total       81 tensors"},
        /* the hub files as published: the vision side (391 / 390) and the language model (338 tied / 339) */
        {"notebooks-data/presets/qwen2-vl-2b", "depth 32, width 1280, num_heads 16 (head_dim 80), mlp 5120, out_hidden 1536",
         "total       729 tensors"},
        {"notebooks-data/presets/qwen2-vl-2b", "language    28 layers, vocab 151936, intermediate 8960, rms_norm_eps 1e-06, "
         "max_position_embeddings 32768, sliding_window 32768 (use_sliding_window false), tie_word_embeddings true",
         "total       729 tensors"},
        {"notebooks-data/presets/qwen2.5-vl-7b", "full attention in blocks [7, 15, 23, 31]", "total       729 tensors"},
        {"notebooks-data/presets/qwen2.5-vl-7b", "language    28 layers, vocab 152064, intermediate 18944, rms_norm_eps "
         "1e-06, max_position_embeddings 128000, sliding_window 32768 (use_sliding_window false), tie_word_embeddings false",
         "total       729 tensors"},
        {"notebooks-data/presets/qwen-vl", "n_queries 256, output_dim 4096 (32 heads)", "total       594 tensors"},
        {"notebooks-data/presets/kimi-vl-a3b", "projector   4608 -> 2048", "total       335 tensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = vt_test_cli(out, sizeof out, "inspect --model %s", cases[i].dir);
        if (rc != 0 || !strstr(out, cases[i].family) || !strstr(out, cases[i].total))
            fail_msg("inspect --model %s -> %d, wanted '%s' and '%s':\n%s", cases[i].dir, rc, cases[i].family,
                     cases[i].total, out);
    }
    int rc = vt_test_cli(out, sizeof out, "inspect --model %s --image %s/image.0.jpg", VT_GOLDEN("qwen2vl-image"),
                         VT_GOLDEN("preprocess-exif"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "image.0.jpg: JPEG, 100x80 stored, EXIF orientation 6 applied -> 80x100"));
    rc = vt_test_cli(out, sizeof out, "inspect --model %s --image %s/image.0.jpg", VT_GOLDEN("kimivl-image"),
                     VT_GOLDEN("preprocess-exif"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "EXIF orientation 6 not applied (this family's reference does not apply it)"));
    rc = vt_test_cli(out, sizeof out, "inspect --image %s/image.5.jpg --no-exif", VT_GOLDEN("preprocess-exif"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "90x70 stored, EXIF orientation 7 not applied (--no-exif)"));
    rc = vt_test_cli(out, sizeof out, "inspect --image %s/image.13.png", VT_GOLDEN("preprocess-sizes"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "image.13.png: PNG, 70x50 stored, EXIF orientation 1\n"));
    assert_int_equal(vt_test_cli(out, sizeof out, "inspect --help"), 0);
    assert_non_null(strstr(out, "usage: vlmtrace inspect"));
    expect_error(vt_test_cli(out, sizeof out, "inspect"), NULL, "give --model DIR and/or --image FILE");
    expect_error(vt_test_cli(out, sizeof out, "inspect --model"), NULL, "--model needs a value");
    expect_error(vt_test_cli(out, sizeof out, "inspect --frobnicate"), NULL, "unknown option --frobnicate");
}

/* ---- bad checkpoints ---- */

static void test_readers_cli_bad_checkpoints(void **state)
{
    (void)state;
    char dir[64], ck[128];
    vt_test_tmpdir(dir);
    snprintf(ck, sizeof ck, "%s/model.safetensors", dir);
    const char *g = VT_GOLDEN("qwen2vl-image");
    write_config(dir, g, NULL, NULL);

    size_t n;
    unsigned char *golden = read_all(VT_GOLDEN("qwen2vl-image") "/model.safetensors", &n);
    static const struct {
        size_t len;
        const char *what;
    } cuts[] = {
        {5, "truncated: 5 bytes, shorter than the 8-byte header length"},
        {1000, "header length 3976 runs past the end of the file (1000 bytes)"},
        {200000, "run past the end of the data"},
        {0, "truncated: 0 bytes"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        vt_test_write_file(ck, golden, cuts[i].len);
        expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), ck, cuts[i].what);
    }
    /* the header replaced by text that is not JSON, same length */
    memset(golden + 8, 'x', 3976);
    golden[8] = '{';
    vt_test_write_file(ck, golden, n);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), ck, "header is not valid JSON");
    free(golden);

    static const struct {
        header_edit edit;
        const char *what;
    } edits[] = {
        {e_out_of_range, "visual.patch_embed.proj.weight: data_offsets [243520, 394052] run past the end of the data"},
        {e_reversed, "visual.blocks.0.attn.proj.bias: data_offsets [128, 0] are reversed"},
        {e_overlap, "visual.blocks.0.attn.proj.weight: data_offsets [124, 4220] overlap visual.blocks.0.attn.proj.bias"},
        {e_span, "visual.blocks.0.norm1.bias: data_offsets [50304, 50432] span 128 bytes but F32 [31] needs 124"},
        {e_dtype, "visual.blocks.0.norm1.bias: unknown dtype \"Q4_K\""},
        {e_negative, "visual.blocks.0.norm1.bias: negative dimension -32 in shape"},
        {e_duplicate, "duplicate tensor name visual.merger.ln_q.bias"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        write_checkpoint(dir, g, NULL, edits[i].edit);
        expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), ck, edits[i].what);
    }
    /* a valid file that lacks a tensor the config needs */
    write_checkpoint(dir, g, "visual.blocks.1.attn.qkv.weight", NULL);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), dir,
                 "weight not found: visual.blocks.1.attn.qkv.weight (config.json implies shape [96, 32])");
    /* the re-packing itself keeps a good file good */
    write_checkpoint(dir, g, NULL, NULL);
    assert_int_equal(vt_test_cli(out, sizeof out, "inspect --model %s", dir), 0);
    vt_test_rmtree(dir);
}

/* ---- configs that contradict the weights, broken or missing configs ---- */

static void test_readers_cli_bad_configs(void **state)
{
    (void)state;
    char dir[64], ck[128], cfg[128];
    vt_test_tmpdir(dir);
    snprintf(ck, sizeof ck, "%s/model.safetensors", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    static const struct {
        const char *golden, *path, *value, *file, *what;
    } cases[] = {
        {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "4", "model.safetensors",
         "weight not found: visual.blocks.3.norm1.weight"},
        {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "2", "model.safetensors",
         "visual.blocks.2.attn.proj.bias is not part of the Qwen2-VL model config.json describes (12 such tensors"},
        {VT_GOLDEN("qwen2vl-image"), "vision_config.num_heads", "3", "config.json",
         "vision_config.num_heads 3 does not divide the width 32"},
        {VT_GOLDEN("qwen2vl-image"), "vision_config.num_heads", "16", "config.json", "head_dim 2"},
        {VT_GOLDEN("qwen2vl-image"), "vision_config.embed_dim", "64", "model.safetensors",
         "visual.patch_embed.proj.weight has shape [32, 3, 2, 14, 14] but config.json implies [64, 3, 2, 14, 14]"},
        {VT_GOLDEN("qwen2vl-image"), "vision_config.hidden_size", "64", "model.safetensors",
         "visual.merger.mlp.2.weight has shape [48, 128] but config.json implies [64, 128]"},
        {VT_GOLDEN("qwen25vl-image"), "vision_config.intermediate_size", "100", "model.safetensors",
         "visual.blocks.0.mlp.gate_proj.weight has shape [96, 64] but config.json implies [100, 64]"},
        {VT_GOLDEN("qwen25vl-image"), "vision_config.fullatt_block_indexes", "[1, 5]", "config.json",
         "fullatt_block_indexes[1] = 5 is not a block index in [0, 4)"},
        {VT_GOLDEN("qwenvl-image"), "visual.layers", "3", "model.safetensors",
         "weight not found: transformer.visual.transformer.resblocks.2.ln_1.weight"},
        {VT_GOLDEN("qwenvl-image"), "visual.heads", "5", "config.json", "visual.heads 5 does not divide width 32"},
        {VT_GOLDEN("qwenvl-image"), "visual.width", "64", "model.safetensors",
         "transformer.visual.conv1.weight has shape [32, 3, 14, 14] but config.json implies [64, 3, 14, 14]"},
        {VT_GOLDEN("kimivl-image"), "vision_config.num_hidden_layers", "1", "model.safetensors",
         "vision_tower.encoder.blocks.1.mlp.fc0.bias is not part of the Kimi-VL model"},
        {VT_GOLDEN("kimivl-image"), "vision_config.num_attention_heads", "3", "config.json",
         "vision_config.num_attention_heads 3 does not divide hidden_size 64"},
        {VT_GOLDEN("kimivl-image"), "text_config.hidden_size", "64", "model.safetensors",
         "multi_modal_projector.linear_2.weight has shape [48, 256] but config.json implies [64, 256]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_checkpoint(dir, cases[i].golden, NULL, NULL);
        write_config(dir, cases[i].golden, cases[i].path, cases[i].value);
        char file[160];
        snprintf(file, sizeof file, "%s/%s", dir, cases[i].file);
        expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), file, cases[i].what);
    }
    /* broken and missing config.json */
    write_checkpoint(dir, VT_GOLDEN("qwen2vl-image"), NULL, NULL);
    vt_test_write_file(cfg, "{\"model_type\": \"qwen2_vl\", \"vision_config\": {", 45);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), cfg, "not valid JSON");
    vt_test_write_file(cfg, "{\"model_type\": \"bert\"}", 22);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), cfg, "model_type \"bert\" is not one of");
    remove(cfg);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), cfg, "No such file");
    /* a preprocessor_config.json that contradicts the model */
    write_config(dir, VT_GOLDEN("qwen2vl-image"), NULL, NULL);
    char pp[128];
    snprintf(pp, sizeof pp, "%s/preprocessor_config.json", dir);
    vt_test_write_file(pp, "{\"patch_size\": 16}", 18);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), pp, "contradict config.json's 14 / 2 / 2");
    vt_test_write_file(pp, "{\"min_pixels\": 9000, \"max_pixels\": 100}", 39);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s", dir), pp, "min_pixels 9000 is larger than max_pixels 100");
    remove(pp);
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s/nowhere", dir), "nowhere/config.json", "No such file");
    vt_test_rmtree(dir);
}

/* ---- bad images ---- */

static void test_readers_cli_bad_images(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    size_t n;
    unsigned char *jpg = read_all(VT_GOLDEN("preprocess-sizes") "/image.14.jpg", &n);
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    vt_test_write_file(path, jpg, n / 2);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path, "truncated JPEG");
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s --image %s", VT_GOLDEN("qwen2vl-image"), path), path,
                 "truncated JPEG");
    free(jpg);
    unsigned char *png = read_all(VT_GOLDEN("preprocess-sizes") "/image.9.png", &n);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    vt_test_write_file(path, png, n - 100);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path, "cannot decode PNG (truncated or corrupt)");
    /* the same PNG declaring 100000 x 100000 pixels (IHDR CRC left stale: the size is refused first) */
    png[16] = png[20] = 0;
    png[17] = png[21] = 0x01;
    png[18] = png[22] = 0x86;
    png[19] = png[23] = 0xa0;
    snprintf(path, sizeof path, "%s/huge.png", dir);
    vt_test_write_file(path, png, n);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path,
                 "PNG declares 100000x100000 pixels: a side over 65535 is refused");
    free(png);
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    vt_test_write_file(path, "", 0);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path, "empty file, not an image");
    snprintf(path, sizeof path, "%s/readme.png", dir);
    vt_test_write_file(path, "# not a picture\n", 16);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path, "not an image");
    snprintf(path, sizeof path, "%s/absent.png", dir);
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", path), path, "No such file or directory");
    expect_error(vt_test_cli(out, sizeof out, "inspect --image %s", dir), dir, "not a regular file");
    expect_error(vt_test_cli(out, sizeof out, "inspect --model %s --no-exif", VT_GOLDEN("qwen2vl-image")), NULL,
                 "--no-exif needs --image");
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_cli_inspect_golden_and_presets),
        cmocka_unit_test(test_readers_cli_bad_checkpoints),
        cmocka_unit_test(test_readers_cli_bad_configs),
        cmocka_unit_test(test_readers_cli_bad_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
