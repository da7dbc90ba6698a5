/*
 * qwen3vl_config.c -- config.json's vision_config (Qwen3VLVisionConfig of transformers 5.0.0.dev0) into
 * vt_qwen3vl_config, the processor's published defaults, and the list of the tower's tensors.
 *
 * Keys: vision_config {depth, hidden_size (the block width), intermediate_size, num_heads,
 * out_hidden_size, num_position_embeddings, deepstack_visual_indexes, in_channels, patch_size,
 * spatial_merge_size, temporal_patch_size, hidden_act}; text_config through vt_mrope_qwen3_config_parse.
 * An absent field takes the config class's default.
 *
 * Legend: C hidden_size, F intermediate_size, O out_hidden_size, G position-table side, U = merge^2.
 */
#include <stdio.h>
#include <string.h>

#include "io/json.h"
#include "qwen3vl/qwen3vl.h"

int vt_qwen3vl_deepstack_slot(const vt_qwen3vl_config *c, int block)
{
    for (int k = 0; k < c->n_deepstack; k++)
        if (c->deepstack_visual_indexes[k] == block) return k; /* deepstack_visual_indexes.index(layer_num) */
    return -1;
}

int vt_qwen3vl_config_parse(vt_qwen3vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st)
{
    const char *s = "vision_config.";
    vt_vision_config *q = &c->vision;
    int rc;
    memset(c, 0, sizeof *c);
    const cJSON *vc = vt_json_object(root, "vision_config", 1, st, &rc);
    VT_TRY(rc);
    /* the keys every Qwen2-style vision_config shares, then Qwen3VLVisionConfig's own defaults where they
     * differ from the shared ones (depth 27, patch 16) */
    VT_TRY(vt_vision_config_parse_sizes(q, vc, st));
    VT_TRY(vt_json_int(vc, s, "depth", 27, 1, VT_CFG_MAX_DEPTH, &q->depth, st));
    VT_TRY(vt_json_int(vc, s, "patch_size", 16, 1, VT_CFG_MAX_PATCH, &q->patch_size, st));
    VT_TRY(vt_json_int(vc, s, "hidden_size", 1152, 1, VT_CFG_MAX_WIDTH, &q->embed_dim, st));
    VT_TRY(vt_json_int(vc, s, "intermediate_size", 4304, 1, VT_CFG_MAX_MLP, &q->mlp_hidden, st));
    VT_TRY(vt_json_int(vc, s, "out_hidden_size", 3584, 1, VT_CFG_MAX_WIDTH, &q->out_hidden, st));
    VT_TRY(vt_json_string(vc, s, "hidden_act", "gelu_pytorch_tanh", q->hidden_act, sizeof q->hidden_act, st));
    if (!vt_activation_known(q->hidden_act))
        return vt_fail(st, VT_EINPUT, "%shidden_act '%s' is not one of quick_gelu, silu, gelu, gelu_pytorch_tanh", s,
                       q->hidden_act);
    VT_TRY(vt_vision_config_check(q, st));

    /* num_grid_per_side = int(num_position_embeddings ** 0.5): the table must be a square */
    VT_TRY(vt_json_int(vc, s, "num_position_embeddings", 2304, 1, 1 << 24, &c->num_position_embeddings, st));
    int side = 0;
    while ((int64_t)(side + 1) * (side + 1) <= c->num_position_embeddings) side++;
    if (side * side != c->num_position_embeddings)
        return vt_fail(st, VT_EINPUT, "%snum_position_embeddings %d is not a square (the position table is side x "
                       "side; %d x %d = %d)", s, c->num_position_embeddings, side, side, side * side);
    c->pos_side = side;

    /* deepstack_visual_indexes: block numbers whose outputs get a DeepStack merger */
    int got = 0;
    if (cJSON_GetObjectItemCaseSensitive(vc, "deepstack_visual_indexes")) {
        VT_TRY(vt_json_int_array(vc, s, "deepstack_visual_indexes", -1, VT_QWEN3VL_MAX_DEEPSTACK, INT32_MIN,
                                 INT32_MAX, c->deepstack_visual_indexes, &got, st));
    } else {
        const int def[3] = {8, 16, 24};
        got = 3;
        memcpy(c->deepstack_visual_indexes, def, sizeof def);
    }
    c->n_deepstack = got;
    for (int k = 0; k < got; k++) {
        int b = c->deepstack_visual_indexes[k];
        if (b < 0 || b >= q->depth) /* the reference would silently never take it */
            return vt_fail(st, VT_EINPUT, "%sdeepstack_visual_indexes[%d] = %d is outside the depth %d (blocks 0..%d)",
                           s, k, b, q->depth, q->depth - 1);
    }

    VT_TRY(vt_mrope_qwen3_config_parse(text, root, st));
    text->spatial_merge_size = q->spatial_merge_size;
    text->absolute_time = 0; /* each temporal patch is its own block with t index 0: time is the timestamps */
    text->tokens_per_second = 0;
    return VT_OK;
}

void vt_qwen3vl_preproc_defaults(vt_preproc_config *p, const vt_qwen3vl_config *c)
{
    vt_preproc_init(p, VT_PREPROC_SMART_RESIZE);
    p->min_pixels = 65536;    /* the hub's preprocessor_config.json: size.shortest_edge */
    p->max_pixels = 16777216; /* size.longest_edge */
    p->patch_size = c->vision.patch_size;
    p->merge_size = c->vision.spatial_merge_size;
    p->temporal_patch_size = c->vision.temporal_patch_size;
    for (int i = 0; i < 3; i++) p->image_mean[i] = p->image_std[i] = 0.5f; /* image_mean = image_std = [0.5] * 3 */
}

static void merger_specs(vt_weight_list *l, const char *prefix, int64_t norm_width, int64_t UC, int64_t O)
{
    vt_weight_list_add(l, VT_DIMS(norm_width), "%s.norm.weight", prefix);
    vt_weight_list_add(l, VT_DIMS(norm_width), "%s.norm.bias", prefix);
    vt_weight_list_add(l, VT_DIMS(UC, UC), "%s.linear_fc1.weight", prefix);
    vt_weight_list_add(l, VT_DIMS(UC), "%s.linear_fc1.bias", prefix);
    vt_weight_list_add(l, VT_DIMS(O, UC), "%s.linear_fc2.weight", prefix);
    vt_weight_list_add(l, VT_DIMS(O), "%s.linear_fc2.bias", prefix);
}

/* The module tree of Qwen3VLVisionModel; checked against the golden checkpoints' key sets. */
int vt_qwen3vl_weight_specs(const vt_qwen3vl_config *c, vt_weight_list *l, vt_status *st)
{
    const vt_vision_config *q = &c->vision;
    const int64_t C = q->embed_dim, F = q->mlp_hidden, O = q->out_hidden;
    const int64_t U = (int64_t)q->spatial_merge_size * q->spatial_merge_size;
    vt_vision_patch_embed_specs(l, q);
    vt_weight_list_add(l, VT_DIMS(C), "visual.patch_embed.proj.bias"); /* Qwen3-VL's Conv3d has one */
    vt_weight_list_add(l, VT_DIMS(c->num_position_embeddings, C), "visual.pos_embed.weight");
    for (int i = 0; i < q->depth; i++) {
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm1.bias", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm2.bias", i);
        vt_vision_attn_specs(l, i, C);
        vt_weight_list_add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.linear_fc1.weight", i);
        vt_weight_list_add(l, VT_DIMS(F), "visual.blocks.%d.mlp.linear_fc1.bias", i);
        vt_weight_list_add(l, VT_DIMS(C, F), "visual.blocks.%d.mlp.linear_fc2.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.mlp.linear_fc2.bias", i);
    }
    merger_specs(l, "visual.merger", C, U * C, O);
    for (int k = 0; k < c->n_deepstack; k++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "visual.deepstack_merger_list.%d", k);
        merger_specs(l, prefix, U * C, U * C, O);
    }
    return l->oom ? vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors") : VT_OK;
}
