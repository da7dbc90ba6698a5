/* vision_config.c -- what the shared stages need of a Qwen2-style vision_config (vision.h). Its own file so
 * the config parsers link without the kernels. */
#include "vision/vision.h"

#include "io/json.h"

int vt_vision_config_parse_sizes(vt_vision_config *q, const cJSON *vc, vt_status *st)
{
    const char *s = "vision_config.";
    /* the defaults every Qwen2-style vision config class has */
    VT_TRY(vt_json_int(vc, s, "depth", 32, 1, VT_CFG_MAX_DEPTH, &q->depth, st));
    VT_TRY(vt_json_int(vc, s, "num_heads", 16, 1, VT_CFG_MAX_HEADS, &q->num_heads, st));
    VT_TRY(vt_json_int(vc, s, "in_channels", 3, 1, 64, &q->in_channels, st));
    VT_TRY(vt_json_int(vc, s, "patch_size", 14, 1, VT_CFG_MAX_PATCH, &q->patch_size, st));
    VT_TRY(vt_json_int(vc, s, "temporal_patch_size", 2, 1, VT_CFG_MAX_MERGE, &q->temporal_patch_size, st));
    VT_TRY(vt_json_int(vc, s, "spatial_merge_size", 2, 1, VT_CFG_MAX_MERGE, &q->spatial_merge_size, st));
    return VT_OK;
}

void vt_vision_patch_embed_specs(vt_weight_list *l, const vt_vision_config *q)
{
    const int64_t P = q->patch_size;
    vt_weight_list_add(l, VT_DIMS(q->embed_dim, q->in_channels, q->temporal_patch_size, P, P),
                       "visual.patch_embed.proj.weight"); /* Conv3d, no bias */
}

void vt_vision_attn_specs(vt_weight_list *l, int i, int64_t C)
{
    vt_weight_list_add(l, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
    vt_weight_list_add(l, VT_DIMS(3 * C), "visual.blocks.%d.attn.qkv.bias", i);
    vt_weight_list_add(l, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
    vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.attn.proj.bias", i);
}

void vt_vision_merger_specs(vt_weight_list *l, int64_t C, int64_t U, int64_t O, int ln_bias)
{
    vt_weight_list_add(l, VT_DIMS(C), "visual.merger.ln_q.weight");
    if (ln_bias) vt_weight_list_add(l, VT_DIMS(C), "visual.merger.ln_q.bias");
    vt_weight_list_add(l, VT_DIMS(C * U, C * U), "visual.merger.mlp.0.weight");
    vt_weight_list_add(l, VT_DIMS(C * U), "visual.merger.mlp.0.bias");
    vt_weight_list_add(l, VT_DIMS(O, C * U), "visual.merger.mlp.2.weight");
    vt_weight_list_add(l, VT_DIMS(O), "visual.merger.mlp.2.bias");
}

int vt_vision_config_check(const vt_vision_config *q, vt_status *st)
{
    const char *s = "vision_config.";
    if (q->embed_dim % q->num_heads)
        return vt_fail(st, VT_EINPUT, "%snum_heads %d does not divide the width %d", s, q->num_heads, q->embed_dim);
    int hd = q->embed_dim / q->num_heads;
    if (hd % 4) /* rot_pos_emb: a quarter of head_dim for h, a quarter for w, each as cos/sin pairs */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (width %d / num_heads %d) is not a multiple of 4, as the 2D "
                       "rotary embedding needs", s, hd, q->embed_dim, q->num_heads);
    return VT_OK;
}
