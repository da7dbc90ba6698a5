/* test_config.c -- config.json / preprocessor_config.json: the published presets and every golden case load
 * with their values; each validation rule refuses the config that breaks it, naming the field. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "io/safetensors.h"

#define PRESETS "notebooks-data/presets"

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static void load(vt_model_config *c, const char *dir)
{
    vt_status st = {0};
    if (vt_config_load(c, dir, &st)) fail_msg("%s: %s", dir, st.msg);
}

static void assert_f3(const float *got, const float *want)
{
    for (int i = 0; i < 3; i++)
        if (got[i] != want[i]) fail_msg("[%d] %.9g != %.9g", i, got[i], want[i]);
}

/* ---- the published configs ---- */

static void test_config_preset_qwen2vl_2b(void **state)
{
    (void)state;
    vt_model_config c;
    load(&c, PRESETS "/qwen2-vl-2b");
    assert_int_equal(c.family, VT_FAMILY_QWEN2VL);
    assert_string_equal(c.model_type, "qwen2_vl");
    const vt_vision_config *q = &c.qwen2vl.vision;
    assert_int_equal(q->depth, 32);
    assert_int_equal(q->embed_dim, 1280);
    assert_int_equal(q->num_heads, 16);
    assert_int_equal(q->mlp_hidden, 5120);
    assert_int_equal(q->out_hidden, 1536);
    assert_int_equal(q->in_channels, 3);
    assert_int_equal(q->patch_size, 14);
    assert_int_equal(q->temporal_patch_size, 2);
    assert_int_equal(q->spatial_merge_size, 2);
    assert_int_equal(c.text.absolute_time, 0);
    assert_true(c.text.tokens_per_second == 0);
    assert_string_equal(q->hidden_act, "quick_gelu");
    const vt_mrope_config *t = &c.text;
    assert_int_equal(t->image_token_id, 151655);
    assert_int_equal(t->video_token_id, 151656);
    assert_int_equal(t->vision_start_token_id, 151652);
    assert_int_equal(t->vision_end_token_id, 151653);
    assert_int_equal(t->mrope_section[0], 16);
    assert_int_equal(t->mrope_section[1], 24);
    assert_int_equal(t->mrope_section[2], 24);
    assert_true(t->rope_theta == 1000000.0);
    assert_int_equal(t->hidden_size, 1536);
    assert_int_equal(t->num_attention_heads, 12);
    assert_int_equal(t->num_key_value_heads, 2);
    assert_int_equal(t->head_dim, 128);
    const vt_preproc_config *p = &c.pre;
    assert_int_equal(p->present, 1);
    assert_int_equal(p->min_pixels, 3136);
    assert_int_equal(p->max_pixels, 12845056);
    assert_int_equal(p->patch_size, 14);
    assert_int_equal(p->merge_size, 2);
    assert_int_equal(p->temporal_patch_size, 2);
    assert_f3(p->image_mean, clip_mean);
    assert_f3(p->image_std, clip_std);
}

static void test_config_preset_qwen25vl_7b(void **state)
{
    (void)state;
    vt_model_config c;
    load(&c, PRESETS "/qwen2.5-vl-7b");
    assert_int_equal(c.family, VT_FAMILY_QWEN25VL);
    const vt_vision_config *q = &c.qwen25vl.vision;
    const vt_qwen25vl_config *w = &c.qwen25vl;
    assert_int_equal(c.text.absolute_time, 1);
    assert_int_equal(q->depth, 32);
    assert_int_equal(q->embed_dim, 1280);
    assert_int_equal(q->num_heads, 16);
    assert_int_equal(q->mlp_hidden, 3420);
    assert_int_equal(q->out_hidden, 3584);
    assert_int_equal(w->window_size, 112);
    assert_int_equal(w->n_fullatt, 4);
    const int fa[4] = {7, 15, 23, 31};
    assert_memory_equal(w->fullatt_block_indexes, fa, sizeof fa);
    assert_true(w->tokens_per_second == 2.0);
    assert_string_equal(q->hidden_act, "silu");
    assert_int_equal(c.text.hidden_size, 3584);
    assert_int_equal(c.text.num_attention_heads, 28);
    assert_int_equal(c.text.num_key_value_heads, 4);
    assert_int_equal(c.text.head_dim, 128);
    assert_int_equal(c.text.mrope_section[0], 16);
    assert_int_equal(c.pre.present, 1);
    assert_int_equal(c.pre.max_pixels, 12845056);
    assert_f3(c.pre.image_std, clip_std);
}

static void test_config_preset_qwenvl(void **state)
{
    (void)state;
    vt_model_config c;
    load(&c, PRESETS "/qwen-vl");
    assert_int_equal(c.family, VT_FAMILY_QWENVL);
    const vt_qwenvl_config *q = &c.qwenvl;
    assert_int_equal(q->image_size, 448);
    assert_int_equal(q->patch_size, 14);
    assert_int_equal(q->width, 1664);
    assert_int_equal(q->layers, 48);
    assert_int_equal(q->heads, 16);
    assert_true(q->mlp_ratio == 4.9231);
    assert_int_equal(q->mlp_width, 8192);
    assert_int_equal(q->n_queries, 256); /* absent from the released config: the VisionTransformer default */
    assert_int_equal(q->output_dim, 4096);
    assert_int_equal(c.pre.present, 0);
    assert_int_equal(c.pre.patch_size, 14);
    assert_f3(c.pre.image_mean, clip_mean);
    assert_f3(c.pre.image_std, clip_std);
}

static void test_config_preset_kimivl(void **state)
{
    (void)state;
    vt_model_config c;
    load(&c, PRESETS "/kimi-vl-a3b");
    assert_int_equal(c.family, VT_FAMILY_KIMIVL);
    const vt_kimivl_config *k = &c.kimivl;
    assert_int_equal(k->patch_size, 14);
    assert_int_equal(k->num_attention_heads, 16);
    assert_int_equal(k->num_hidden_layers, 27);
    assert_int_equal(k->hidden_size, 1152);
    assert_int_equal(k->intermediate_size, 4304);
    assert_int_equal(k->init_pos_emb_height, 64);
    assert_int_equal(k->init_pos_emb_width, 64);
    assert_int_equal(k->merge_kernel_size[0], 2);
    assert_int_equal(k->merge_kernel_size[1], 2);
    assert_int_equal(k->text_hidden_size, 2048);
    const float half[3] = {0.5f, 0.5f, 0.5f};
    assert_int_equal(c.pre.present, 1);
    assert_int_equal(c.pre.in_token_limit, 4096);
    assert_int_equal(c.pre.pad_input, 1);
    assert_int_equal(c.pre.patch_size, 14);
    assert_int_equal(c.pre.merge_size, 2);
    assert_f3(c.pre.image_mean, half);
    assert_f3(c.pre.image_std, half);
}

/* ---- the golden cases' configs ---- */

static void test_config_golden_cases(void **state)
{
    (void)state;
    vt_model_config c;
    static const char *const q2[] = {"qwen2vl-image", "qwen2vl-image-bf16", "qwen2vl-multi",
                                     "rope-index/qwen2vl-batch-pad", "rope-index/qwen2vl-image",
                                     "rope-index/qwen2vl-mrope", "rope-index/qwen2vl-multi",
                                     "rope-index/qwen2vl-text", "rope-index/qwen2vl-text-masked"};
    for (size_t i = 0; i < sizeof q2 / sizeof q2[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, VT_GOLDEN_ROOT "/%s", q2[i]);
        load(&c, dir);
        assert_int_equal(c.family, VT_FAMILY_QWEN2VL);
        assert_int_equal(vt_model_vision(&c)->depth, 3);
        assert_int_equal(vt_model_vision(&c)->embed_dim, 32);
        assert_int_equal(vt_model_vision(&c)->num_heads, 2);
        assert_int_equal(vt_model_vision(&c)->mlp_hidden, 128);
        assert_int_equal(vt_model_vision(&c)->out_hidden, 48);
        assert_int_equal(c.text.head_dim, 16);
        assert_int_equal(c.text.num_key_value_heads, 1);
        assert_int_equal(c.text.mrope_section[0], 2);
        assert_int_equal(c.text.mrope_section[1], 3);
        assert_int_equal(c.text.mrope_section[2], 3);
        assert_int_equal(c.pre.present, 0);
        assert_int_equal(c.pre.min_pixels, 3136);
        assert_int_equal(c.pre.max_pixels, 12845056);
    }
    static const char *const q25[] = {"qwen25vl-image", "qwen25vl-multi", "rope-index/qwen25vl-batch-pad",
                                      "rope-index/qwen25vl-image", "rope-index/qwen25vl-mrope",
                                      "rope-index/qwen25vl-multi", "rope-index/qwen25vl-text",
                                      "rope-index/qwen25vl-text-masked", "rope-index/qwen25vl-video-time"};
    for (size_t i = 0; i < sizeof q25 / sizeof q25[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, VT_GOLDEN_ROOT "/%s", q25[i]);
        load(&c, dir);
        assert_int_equal(c.family, VT_FAMILY_QWEN25VL);
        assert_int_equal(vt_model_vision(&c)->depth, 4);
        assert_int_equal(vt_model_vision(&c)->embed_dim, 64);
        assert_int_equal(vt_model_vision(&c)->num_heads, 4);
        assert_int_equal(vt_model_vision(&c)->mlp_hidden, 96);
        assert_int_equal(vt_model_vision(&c)->out_hidden, 48);
        assert_int_equal(c.qwen25vl.window_size, 112);
        assert_int_equal(c.qwen25vl.n_fullatt, 2);
        assert_int_equal(c.qwen25vl.fullatt_block_indexes[0], 1);
        assert_int_equal(c.qwen25vl.fullatt_block_indexes[1], 3);
        assert_true(c.qwen25vl.tokens_per_second == 2.0);
        assert_int_equal(c.text.head_dim, 16);
    }
    load(&c, VT_GOLDEN("qwenvl-image"));
    assert_int_equal(c.family, VT_FAMILY_QWENVL);
    assert_int_equal(c.qwenvl.image_size, 112);
    assert_int_equal(c.qwenvl.width, 32);
    assert_int_equal(c.qwenvl.layers, 2);
    assert_int_equal(c.qwenvl.heads, 4);
    assert_int_equal(c.qwenvl.mlp_width, 157);
    assert_int_equal(c.qwenvl.n_queries, 16);
    assert_int_equal(c.qwenvl.output_dim, 256);
    load(&c, VT_GOLDEN("qwenvl-abspos"));
    assert_int_equal(c.qwenvl.image_size, 238);
    static const char *const kimi[] = {VT_GOLDEN("kimivl-image"), VT_GOLDEN("kimivl-multi")};
    for (int i = 0; i < 2; i++) {
        load(&c, kimi[i]);
        assert_int_equal(c.family, VT_FAMILY_KIMIVL);
        assert_int_equal(c.kimivl.hidden_size, 64);
        assert_int_equal(c.kimivl.num_attention_heads, 4);
        assert_int_equal(c.kimivl.num_hidden_layers, 2);
        assert_int_equal(c.kimivl.intermediate_size, 128);
        assert_int_equal(c.kimivl.init_pos_emb_height, 8);
        assert_int_equal(c.kimivl.init_pos_emb_width, 8);
        assert_int_equal(c.kimivl.text_hidden_size, 48);
        assert_int_equal(c.pre.present, 1);
        assert_int_equal(c.pre.in_token_limit, 64);
        assert_int_equal(c.pre.merge_size, 2);
        assert_true(c.pre.image_mean[1] == 0.5f && c.pre.image_std[2] == 0.5f);
    }
    /* config.json alone, by path (vlmtrace rope --config) */
    vt_status st = {0};
    assert_int_equal(vt_config_load_file(&c, VT_GOLDEN("rope-index/qwen2vl-text") "/config.json", &st), 0);
    assert_int_equal(c.text.hidden_size, 48);
}

/* Both spellings of rope_scaling, and the newer layout with the text fields under text_config. */
static void test_config_rope_scaling_spellings(void **state)
{
    (void)state;
    vt_model_config c;
    vt_status st = {0};
    const char *hub = "{\"model_type\":\"qwen2_vl\",\"hidden_size\":1536,\"num_attention_heads\":12,"
                      "\"num_key_value_heads\":2,\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]},"
                      "\"vision_config\":{\"depth\":32,\"embed_dim\":1280,\"mlp_ratio\":4,\"num_heads\":16,"
                      "\"in_chans\":3,\"hidden_size\":1536,\"patch_size\":14,\"spatial_merge_size\":2,"
                      "\"spatial_patch_size\":14,\"temporal_patch_size\":2}}";
    if (vt_config_parse(&c, hub, strlen(hub), &st)) fail_msg("%s", st.msg);
    assert_int_equal(vt_model_vision(&c)->mlp_hidden, 5120);
    assert_int_equal(c.text.mrope_section[2], 24);
    const char *nested = "{\"model_type\":\"qwen2_5_vl\",\"image_token_id\":7,\"text_config\":{\"hidden_size\":64,"
                         "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"rope_theta\":500.0,"
                         "\"rope_scaling\":{\"rope_type\":\"default\",\"mrope_section\":[4,6,6]}},"
                         "\"vision_config\":{\"depth\":2,\"hidden_size\":64,\"num_heads\":4,\"out_hidden_size\":64,"
                         "\"fullatt_block_indexes\":[1]}}";
    if (vt_config_parse(&c, nested, strlen(nested), &st)) fail_msg("%s", st.msg);
    assert_int_equal(c.text.head_dim, 32);
    assert_int_equal(c.text.image_token_id, 7);
    assert_true(c.text.rope_theta == 500.0);
    assert_int_equal(vt_model_vision(&c)->mlp_hidden, 3420); /* absent: the class default */
    assert_true(c.qwen25vl.tokens_per_second == 4.0);
}

/* ---- validation: one broken field at a time ---- */

/* Set (or with value NULL delete) the dotted path in a parsed config. */
static void set_path(cJSON *root, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *obj = root;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = 0;
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!next) fail_msg("no %s in the config", key);
        obj = next;
        key = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        if (!v) fail_msg("bad test value %s", value);
        cJSON_AddItemToObject(obj, key, v);
    }
}

typedef struct {
    const char *base; /* a golden or preset directory */
    const char *path; /* dotted field */
    const char *value;/* JSON text, NULL to delete */
    const char *what; /* expected in the message */
} bad_field;

static const bad_field bad_fields[] = {
    {VT_GOLDEN("qwen2vl-image"), "model_type", NULL, "model_type is missing"},
    {VT_GOLDEN("qwen2vl-image"), "model_type", "\"llava\"", "model_type \"llava\" is not one of"},
    {VT_GOLDEN("qwen2vl-image"), "model_type", "3", "model_type is not a string"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config", NULL, "vision_config: missing"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config", "[]", "vision_config: not a JSON object"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "0", "vision_config.depth: 0 is not an integer in [1, 1024]"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "-3", "vision_config.depth: -3"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "100000", "vision_config.depth: 100000"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.depth", "2.5", "vision_config.depth: 2.5"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.embed_dim", "\"32\"", "vision_config.embed_dim: not a number"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.embed_dim", "1000000000", "vision_config.embed_dim: 1000000000"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.num_heads", "3", "num_heads 3 does not divide the width 32"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.num_heads", "16", "head_dim 2"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.mlp_ratio", "0", "vision_config.mlp_ratio: 0 is not in"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.mlp_ratio", "1e300", "vision_config.mlp_ratio"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.patch_size", "0", "vision_config.patch_size: 0"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.spatial_merge_size", "-2", "vision_config.spatial_merge_size: -2"},
    {VT_GOLDEN("qwen2vl-image"), "vision_config.hidden_act", "7", "vision_config.hidden_act: not a string"},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling", NULL, "rope_scaling: missing"},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling.type", "\"yarn\"", "rope_scaling.type: \"yarn\" is not"},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling.rope_type", "\"linear\"", "rope_scaling.rope_type: \"linear\""},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling.mrope_section", "[2,3,4]", "sums to 9, not head_dim / 2 = 8"},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling.mrope_section", "[4,4]", "mrope_section: 2 entries, expected 3"},
    {VT_GOLDEN("qwen2vl-image"), "rope_scaling.mrope_section", NULL, "mrope_section: not an array"},
    {VT_GOLDEN("qwen2vl-image"), "num_attention_heads", "5", "num_attention_heads 5 does not divide hidden_size 48"},
    {VT_GOLDEN("qwen2vl-image"), "num_key_value_heads", "2", "num_key_value_heads 2 does not divide"},
    {VT_GOLDEN("qwen2vl-image"), "video_token_id", "151655", "151655 appears twice"},
    {VT_GOLDEN("qwen2vl-image"), "image_token_id", "-1", "image_token_id: -1"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.window_size", "100", "window_size 100 is not a multiple of"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.window_size", "0", "window_size: 0"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.fullatt_block_indexes", "[1,4]",
     "fullatt_block_indexes[1] = 4 is not a block index in [0, 4)"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.fullatt_block_indexes", "[-1]", "fullatt_block_indexes[0]"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.fullatt_block_indexes", "7", "fullatt_block_indexes: not an array"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.tokens_per_second", "-2", "tokens_per_second: -2"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.intermediate_size", "0", "intermediate_size: 0"},
    {VT_GOLDEN("qwen25vl-image"), "vision_config.num_heads", "5", "num_heads 5 does not divide the width 64"},
    {VT_GOLDEN("qwenvl-image"), "visual", NULL, "without a \"visual\" object"},
    {VT_GOLDEN("qwenvl-image"), "visual.width", NULL, "visual.width is missing"},
    {VT_GOLDEN("qwenvl-image"), "visual.mlp_ratio", NULL, "visual.mlp_ratio is missing"},
    {VT_GOLDEN("qwenvl-image"), "visual.heads", "5", "heads 5 does not divide width 32"},
    {VT_GOLDEN("qwenvl-image"), "visual.n_queries", "15", "n_queries 15 is not a perfect square"},
    {VT_GOLDEN("qwenvl-image"), "visual.output_dim", "100", "output_dim 100"},
    {VT_GOLDEN("qwenvl-image"), "visual.image_size", "10", "visual.image_size: 10 is not an integer in [14"},
    {VT_GOLDEN("qwenvl-image"), "visual.layers", "0", "visual.layers: 0"},
    {VT_GOLDEN("kimivl-image"), "text_config", NULL, "text_config: missing"},
    {VT_GOLDEN("kimivl-image"), "text_config.hidden_size", NULL, "text_config.hidden_size is missing"},
    {VT_GOLDEN("kimivl-image"), "vision_config.num_attention_heads", "3", "num_attention_heads 3 does not divide"},
    {VT_GOLDEN("kimivl-image"), "vision_config.num_attention_heads", "32", "head_dim 2"},
    {VT_GOLDEN("kimivl-image"), "vision_config.merge_kernel_size", "[2,3]", "merge_kernel_size [2, 3] is not square"},
    {VT_GOLDEN("kimivl-image"), "vision_config.merge_kernel_size", "[2]", "merge_kernel_size: 1 entries"},
    {VT_GOLDEN("kimivl-image"), "vision_config.init_pos_emb_height", "0", "init_pos_emb_height: 0"},
    {VT_GOLDEN("kimivl-image"), "vision_config.num_hidden_layers", "5000", "num_hidden_layers: 5000"},
};

static void test_config_bad_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++) {
        const bad_field *b = &bad_fields[i];
        char path[256];
        snprintf(path, sizeof path, "%s/config.json", b->base);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[1 << 16];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        cJSON *root = cJSON_Parse(text);
        assert_non_null(root);
        set_path(root, b->path, b->value);
        char *json = cJSON_PrintUnformatted(root);
        vt_model_config c;
        vt_status st = {0};
        int rc = vt_config_parse(&c, json, strlen(json), &st);
        if (rc != VT_EINPUT || !strstr(st.msg, b->what) || strchr(st.msg, '\n'))
            fail_msg("case %zu (%s = %s): wanted '%s', got %d: %s", i, b->path, b->value ? b->value : "(deleted)",
                     b->what, rc, st.msg);
        free(json);
        cJSON_Delete(root);
    }
}

/* The published processor defaults of a family, as the loader starts from them (the tiny presets have the
 * published patch sizes). */
static void preproc_defaults(vt_preproc_config *p, vt_family fam)
{
    vt_model_config c;
    load(&c, fam == VT_FAMILY_KIMIVL ? PRESETS "/tiny-kimi-vl" : fam == VT_FAMILY_QWEN25VL ? PRESETS "/tiny-qwen2.5-vl"
                                                                                            : PRESETS "/tiny-qwen2-vl");
    vt_model_preproc_defaults(p, &c);
}

/* preprocessor_config.json: bad values, and contradicting the model's patch sizes */
static void test_config_bad_preprocessor(void **state)
{
    (void)state;
    static const struct {
        vt_family fam;
        const char *json, *what;
    } cases[] = {
        {VT_FAMILY_QWEN2VL, "{\"min_pixels\":5000,\"max_pixels\":4000}", "min_pixels 5000 is larger than max_pixels 4000"},
        {VT_FAMILY_QWEN2VL, "{\"max_pixels\":0}", "max_pixels: 0"},
        {VT_FAMILY_QWEN2VL, "{\"image_std\":[0.5,0,0.5]}", "image_std[1]: 0 is not a positive number"},
        {VT_FAMILY_QWEN2VL, "{\"image_mean\":[0.5,0.5]}", "image_mean: not an array of 3 numbers"},
        {VT_FAMILY_QWEN2VL, "{\"image_mean\":[0.5,\"x\",0.5]}", "image_mean[1]: not a number"},
        {VT_FAMILY_QWEN2VL, "{\"do_normalize\":false}", "do_normalize is not true"},
        {VT_FAMILY_QWEN2VL, "{\"rescale_factor\":0.5}", "rescale_factor is not 1/255"},
        {VT_FAMILY_QWEN2VL, "{\"resample\":2}", "resample is not 3"},
        {VT_FAMILY_QWEN2VL, "{\"size\":{\"shortest_edge\":-1}}", "size.shortest_edge: -1"},
        {VT_FAMILY_QWEN2VL, "{\"merge_size\":0}", "merge_size: 0"},
        {VT_FAMILY_QWEN2VL, "[]", "not a JSON object"},
        {VT_FAMILY_QWEN2VL, "{\"min_pixels\":", "not valid JSON"},
        {VT_FAMILY_KIMIVL, "{\"in_token_limit\":0}", "in_token_limit: 0"},
        {VT_FAMILY_KIMIVL, "{\"pad_input\":\"yes\"}", "pad_input: not true or false"},
        {VT_FAMILY_KIMIVL, "{\"merge_kernel_size\":[2,4]}", "merge_kernel_size [2, 4] is not square"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vt_preproc_config p;
        vt_status st = {0};
        preproc_defaults(&p, cases[i].fam);
        int rc = vt_preproc_parse(&p, cases[i].json, strlen(cases[i].json), &st);
        if (rc != VT_EINPUT || !strstr(st.msg, cases[i].what))
            fail_msg("case %zu: wanted '%s', got %d: %s", i, cases[i].what, rc, st.msg);
    }
    /* newer processors: size.shortest_edge / longest_edge when min/max_pixels are absent */
    vt_preproc_config p;
    vt_status st = {0};
    const char *sz = "{\"size\":{\"shortest_edge\":1000,\"longest_edge\":2000}}";
    preproc_defaults(&p, VT_FAMILY_QWEN25VL);
    assert_int_equal(vt_preproc_parse(&p, sz, strlen(sz), &st), 0);
    assert_int_equal(p.min_pixels, 1000);
    assert_int_equal(p.max_pixels, 2000);
    /* absent file: the published defaults */
    preproc_defaults(&p, VT_FAMILY_QWEN2VL);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.max_pixels, 12845056);
}

/* Files: missing, broken, and a preprocessor that contradicts the model. Messages name the file. */
static void test_config_bad_files(void **state)
{
    (void)state;
    char dir[64], path[128], cmd[256];
    vt_test_tmpdir(dir);
    vt_model_config c;
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, path) || !strstr(st.msg, "No such file")) fail_msg("%d: %s", rc, st.msg);
    vt_test_write_file(path, "{\"model_type\": \"qwen2_vl\", ", 27);
    rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, path) || !strstr(st.msg, "not valid JSON")) fail_msg("%d: %s", rc, st.msg);
    vt_test_write_file(path, "", 0);
    rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, path) || !strstr(st.msg, "not valid JSON")) fail_msg("%d: %s", rc, st.msg);
    snprintf(cmd, sizeof cmd, "cp " VT_GOLDEN("kimivl-image") "/config.json %s/", dir);
    assert_int_equal(system(cmd), 0);
    load(&c, dir);
    char pp[128];
    snprintf(pp, sizeof pp, "%s/preprocessor_config.json", dir);
    const char *bad = "{\"patch_size\": 16}";
    vt_test_write_file(pp, bad, strlen(bad));
    rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, pp) || !strstr(st.msg, "patch_size 16") || !strstr(st.msg, "contradict"))
        fail_msg("%d: %s", rc, st.msg);
    snprintf(cmd, sizeof cmd, "cp " PRESETS "/qwen2-vl-2b/config.json %s/", dir);
    assert_int_equal(system(cmd), 0);
    const char *bad2 = "{\"merge_size\": 4}";
    vt_test_write_file(pp, bad2, strlen(bad2));
    rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, pp) || !strstr(st.msg, "merge_size 4")) fail_msg("%d: %s", rc, st.msg);
    vt_test_write_file(pp, "{", 1);
    rc = vt_config_load(&c, dir, &st);
    if (rc != VT_EINPUT || !strstr(st.msg, pp) || !strstr(st.msg, "not valid JSON")) fail_msg("%d: %s", rc, st.msg);
    vt_test_rmtree(dir);
}

/* The tensors a config implies are exactly the golden checkpoint's, with the same shapes, for every family. */
static void test_config_weights_match_golden_checkpoints(void **state)
{
    (void)state;
    static const char *const cases[] = {VT_GOLDEN("qwen2vl-image"), VT_GOLDEN("qwen2vl-image-bf16"), VT_GOLDEN("qwen25vl-image"),
                                        VT_GOLDEN("qwenvl-image"), VT_GOLDEN("qwenvl-abspos"), VT_GOLDEN("kimivl-image")};
    static const int want_n[] = {43, 43, 54, 42, 42, 35};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vt_model_config c;
        load(&c, cases[i]);
        vt_weight_spec *spec;
        int n;
        vt_status st = {0};
        assert_int_equal(vt_config_weights(&c, &spec, &n, &st), 0);
        vt_checkpoint ck;
        if (vt_checkpoint_open(&ck, cases[i], &st)) fail_msg("%s", st.msg);
        assert_int_equal(n, want_n[i]);
        assert_int_equal(ck.n, n);
        for (int k = 0; k < n; k++) {
            const vt_st_tensor *t;
            if (vt_checkpoint_expect(&ck, spec[k].name, spec[k].ndim, spec[k].shape, &t, &st)) fail_msg("%s", st.msg);
            for (int j = 0; j < k; j++) assert_string_not_equal(spec[j].name, spec[k].name);
        }
        vt_checkpoint_close(&ck);
        free(spec);
    }
    /* Qwen-VL without kv_proj when the resampler width equals the trunk width (nn.Identity) */
    vt_model_config c;
    load(&c, VT_GOLDEN("qwenvl-image"));
    c.qwenvl.width = 256;
    vt_weight_spec *spec;
    int n;
    vt_status st = {0};
    assert_int_equal(vt_config_weights(&c, &spec, &n, &st), 0);
    assert_int_equal(n, 41);
    for (int k = 0; k < n; k++) assert_null(strstr(spec[k].name, "kv_proj"));
    free(spec);
    assert_string_equal(vt_family_name(VT_FAMILY_QWEN25VL), "Qwen2.5-VL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_preset_qwen2vl_2b),
        cmocka_unit_test(test_config_preset_qwen25vl_7b),
        cmocka_unit_test(test_config_preset_qwenvl),
        cmocka_unit_test(test_config_preset_kimivl),
        cmocka_unit_test(test_config_golden_cases),
        cmocka_unit_test(test_config_rope_scaling_spellings),
        cmocka_unit_test(test_config_bad_fields),
        cmocka_unit_test(test_config_bad_preprocessor),
        cmocka_unit_test(test_config_bad_files),
        cmocka_unit_test(test_config_weights_match_golden_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
