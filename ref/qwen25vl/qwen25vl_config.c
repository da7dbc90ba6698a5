/*
 * qwen25vl_config.c -- config.json's vision_config (Qwen2_5_VLVisionConfig of transformers 4.51.3) into
 * vt_qwen25vl_config, the processor's published defaults, and the list of the tower's tensors.
 *
 * Keys: vision_config {depth, hidden_size (= the block width), num_heads, intermediate_size,
 * out_hidden_size, window_size, fullatt_block_indexes, tokens_per_second, in_channels,
 * patch_size, spatial_merge_size, temporal_patch_size, hidden_act}; the text fields M-RoPE needs through
 * vt_mrope_config_parse. Absent fields take the config class's defaults.
 */
#include <string.h>

#include "io/json.h"
#include "qwen25vl/qwen25vl.h"

int vt_qwen25vl_check_config(const vt_qwen25vl_config *config, vt_status *st)
{
    const vt_vision_config *c = &config->vision;
    const int unit = c->patch_size * c->spatial_merge_size; /* 28 pixels: one merged token */
    if (c->depth < 1) return vt_fail(st, VT_EINPUT, "config.json: vision_config.depth %d", c->depth);
    if (config->window_size <= 0 || unit <= 0 || config->window_size % unit != 0)
        return vt_fail(st, VT_EINPUT,
                       "config.json: vision_config.window_size %d is not a positive multiple of patch_size * "
                       "spatial_merge_size = %d", config->window_size, unit);
    for (int j = 0; j < config->n_fullatt; j++)
        if (config->fullatt_block_indexes[j] < 0 || config->fullatt_block_indexes[j] >= c->depth)
            return vt_fail(st, VT_EINPUT, "config.json: vision_config.fullatt_block_indexes[%d] = %d is not a block "
                           "index in [0, %d)", j, config->fullatt_block_indexes[j], c->depth);
    if (!vt_activation_known(c->hidden_act))
        return vt_fail(st, VT_EINPUT, "config.json: vision_config.hidden_act '%s' is not supported", c->hidden_act);
    return VT_OK;
}

int vt_qwen25vl_config_parse(vt_qwen25vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st)
{
    const char *s = "vision_config.";
    vt_vision_config *q = &c->vision;
    int rc;
    memset(c, 0, sizeof *c);
    const cJSON *vc = vt_json_object(root, "vision_config", 1, st, &rc);
    VT_TRY(rc);
    /* defaults: Qwen2_5_VLVisionConfig of transformers 4.51.3 */
    VT_TRY(vt_vision_config_parse_sizes(q, vc, st));
    VT_TRY(vt_json_int(vc, s, "hidden_size", 3584, 1, VT_CFG_MAX_WIDTH, &q->embed_dim, st));
    VT_TRY(vt_json_int(vc, s, "out_hidden_size", 3584, 1, VT_CFG_MAX_WIDTH, &q->out_hidden, st));
    VT_TRY(vt_json_int(vc, s, "intermediate_size", 3420, 1, VT_CFG_MAX_MLP, &q->mlp_hidden, st));
    VT_TRY(vt_json_string(vc, s, "hidden_act", "silu", q->hidden_act, sizeof q->hidden_act, st));
    VT_TRY(vt_json_int(vc, s, "window_size", 112, 1, 1 << 20, &c->window_size, st));
    VT_TRY(vt_json_double(vc, s, "tokens_per_second", 4.0, 0.0, 1e6, &c->tokens_per_second, st));
    if (cJSON_GetObjectItemCaseSensitive(vc, "fullatt_block_indexes")) {
        VT_TRY(vt_json_int_array(vc, s, "fullatt_block_indexes", -1, VT_QWEN25VL_MAX_FULLATT, 0, VT_CFG_MAX_DEPTH - 1,
                                 c->fullatt_block_indexes, &c->n_fullatt, st));
    } else {
        static const int def[] = {7, 15, 23, 31};
        memcpy(c->fullatt_block_indexes, def, sizeof def);
        c->n_fullatt = 4;
    }
    VT_TRY(vt_vision_config_check(q, st));
    const int unit = q->patch_size * q->spatial_merge_size;
    if (c->window_size % unit)
        return vt_fail(st, VT_EINPUT, "%swindow_size %d is not a multiple of patch_size * spatial_merge_size = %d", s,
                       c->window_size, unit);
    for (int i = 0; i < c->n_fullatt; i++)
        if (c->fullatt_block_indexes[i] >= q->depth)
            return vt_fail(st, VT_EINPUT, "%sfullatt_block_indexes[%d] = %d is not a block index in [0, %d)", s, i,
                           c->fullatt_block_indexes[i], q->depth);
    VT_TRY(vt_qwen25vl_check_config(c, st));

    VT_TRY(vt_mrope_config_parse(text, root, st));
    text->spatial_merge_size = q->spatial_merge_size;
    text->absolute_time = 1; /* Qwen2.5-VL: temporal ids in seconds * tokens_per_second */
    text->tokens_per_second = c->tokens_per_second;
    return VT_OK;
}

void vt_qwen25vl_preproc_defaults(vt_preproc_config *p, const vt_qwen25vl_config *c)
{
    vt_preproc_init(p, VT_PREPROC_SMART_RESIZE);
    p->min_pixels = 3136;     /* the hub's preprocessor_config.json (the same as Qwen2-VL's) */
    p->max_pixels = 12845056;
    p->patch_size = c->vision.patch_size;
    p->merge_size = c->vision.spatial_merge_size;
    p->temporal_patch_size = c->vision.temporal_patch_size;
}

/* The module tree of Qwen2_5_VisionTransformerPretrainedModel (RMSNorm without bias, gated MLP). */
int vt_qwen25vl_weight_specs(const vt_qwen25vl_config *c, vt_weight_list *l, vt_status *st)
{
    const vt_vision_config *q = &c->vision;
    const int64_t C = q->embed_dim, F = q->mlp_hidden, O = q->out_hidden;
    const int64_t M2 = (int64_t)q->spatial_merge_size * q->spatial_merge_size;
    vt_vision_patch_embed_specs(l, q);
    for (int i = 0; i < q->depth; i++) {
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        vt_vision_attn_specs(l, i, C);
        vt_weight_list_add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.gate_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(F), "visual.blocks.%d.mlp.gate_proj.bias", i);
        vt_weight_list_add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.up_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(F), "visual.blocks.%d.mlp.up_proj.bias", i);
        vt_weight_list_add(l, VT_DIMS(C, F), "visual.blocks.%d.mlp.down_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.mlp.down_proj.bias", i);
    }
    vt_vision_merger_specs(l, C, M2, O, 0);
    return l->oom ? vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors") : VT_OK;
}
