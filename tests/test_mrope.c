/* test_mrope.c -- M-RoPE: get_rope_index against the rope-index goldens, the rotary, hand-computed ids,
 * the `vlmtrace rope` command line and its bad inputs. */
#include "vt_test.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "manifest.h"
#include "mrope.h"

#define ROPE_CASE(c) VT_GOLDEN("rope-index/" c)

static const char *const index_cases[] = {
    "qwen2vl-text",  "qwen2vl-text-masked",  "qwen2vl-image",  "qwen2vl-multi",  "qwen2vl-batch-pad",
    "qwen25vl-text", "qwen25vl-text-masked", "qwen25vl-image", "qwen25vl-multi", "qwen25vl-batch-pad",
    "qwen25vl-video-time",
};
#define N_INDEX_CASES (int)(sizeof index_cases / sizeof index_cases[0])

/* The rope-index goldens' config.json, by hand (the test of the library alone does not read JSON). */
static void golden_config(vt_qwen2_text_config *tc, vt_qwen2_vision_config *vc, int qwen25)
{
    memset(tc, 0, sizeof *tc);
    memset(vc, 0, sizeof *vc);
    tc->image_token_id = 151655;
    tc->video_token_id = 151656;
    tc->vision_start_token_id = 151652;
    tc->vision_end_token_id = 151653;
    tc->mrope_section[0] = 2;
    tc->mrope_section[1] = 3;
    tc->mrope_section[2] = 3;
    tc->rope_theta = 1000000.0;
    tc->hidden_size = 48;
    tc->num_attention_heads = 3;
    tc->num_key_value_heads = 1;
    tc->head_dim = 16;
    vc->qwen25 = qwen25;
    vc->spatial_merge_size = 2;
    vc->tokens_per_second = qwen25 ? 2 : 0;
}

/* Tensors of one golden case, loaded when its manifest lists them. */
typedef struct golden {
    vt_manifest m;
    vt_tensor t[10];
    void *owned[10];
    int n;
} golden;

static const vt_tensor *golden_get(golden *g, const char *name)
{
    const vt_manifest_entry *e = vt_manifest_find(&g->m, name);
    if (!e) return NULL;
    vt_status st = {0};
    assert_true(g->n < 10);
    if (vt_manifest_load(&g->m, e, &g->t[g->n], &g->owned[g->n], &st)) fail_msg("%s", st.msg);
    return &g->t[g->n++];
}

static void golden_open(golden *g, const char *dir)
{
    vt_status st = {0};
    memset(g, 0, sizeof *g);
    if (vt_manifest_read(&g->m, dir, &st)) fail_msg("%s", st.msg);
}

static void golden_close(golden *g)
{
    for (int i = 0; i < g->n; i++) free(g->owned[i]);
    vt_manifest_free(&g->m);
}

/* ---- the 11 get_rope_index cases, exact --------------------------------------------------------- */

static void test_mrope_golden_rope_index(void **state)
{
    (void)state;
    for (int c = 0; c < N_INDEX_CASES; c++) {
        char dir[256];
        snprintf(dir, sizeof dir, ROPE_CASE("%s"), index_cases[c]);
        golden g;
        golden_open(&g, dir);
        vt_qwen2_text_config tc;
        vt_qwen2_vision_config vc;
        golden_config(&tc, &vc, strncmp(index_cases[c], "qwen25", 6) == 0);
        vt_mrope_inputs in = {0};
        in.input_ids = golden_get(&g, "input_ids");
        in.attention_mask = golden_get(&g, "attention_mask");
        in.image_grid_thw = golden_get(&g, "image_grid_thw");
        in.video_grid_thw = golden_get(&g, "video_grid_thw");
        in.second_per_grid_ts = golden_get(&g, "second_per_grid_ts");
        const vt_tensor *want_pos = golden_get(&g, "position_ids"), *want_delta = golden_get(&g, "rope_deltas");
        assert_non_null(in.input_ids);
        assert_non_null(want_pos);
        assert_non_null(want_delta);
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_status st = {0};
        vt_tensor pos, delta;
        if (vt_get_rope_index(&pos, &delta, &in, &tc, &vc, &a, &st)) fail_msg("%s: %s", dir, st.msg);
        assert_tensor_close(&pos, want_pos, dir);
        assert_tensor_close(&delta, want_delta, dir);
        vt_arena_free(&a);
        golden_close(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mrope_golden_rope_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
