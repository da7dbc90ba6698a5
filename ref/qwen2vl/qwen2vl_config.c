/*
 * qwen2vl_config.c -- config.json's vision_config (Qwen2VLVisionConfig of transformers 4.51.3) into
 * vt_qwen2vl_config, the processor's published defaults, and the list of the tower's tensors.
 *
 * Keys: vision_config {depth, embed_dim, num_heads, mlp_ratio, hidden_size (= the merger's output),
 * in_channels, patch_size, spatial_merge_size, temporal_patch_size, hidden_act}; the text fields M-RoPE
 * needs through vt_mrope_config_parse. An absent field takes the config class's default, so configs
 * saved by any transformers version load as the reference would load them.
 */
#include <math.h>
#include <string.h>

#include "io/json.h"
#include "qwen2vl/qwen2vl.h"

int vt_qwen2vl_config_parse(vt_qwen2vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st)
{
    const char *s = "vision_config.";
    vt_vision_config *q = &c->vision;
    int rc;
    memset(c, 0, sizeof *c);
    const cJSON *vc = vt_json_object(root, "vision_config", 1, st, &rc);
    VT_TRY(rc);
    /* defaults: Qwen2VLVisionConfig of transformers 4.51.3 */
    VT_TRY(vt_vision_config_parse_sizes(q, vc, st));
    double ratio;
    VT_TRY(vt_json_int(vc, s, "embed_dim", 1280, 1, VT_CFG_MAX_WIDTH, &q->embed_dim, st));
    VT_TRY(vt_json_int(vc, s, "hidden_size", 3584, 1, VT_CFG_MAX_WIDTH, &q->out_hidden, st));
    VT_TRY(vt_json_double(vc, s, "mlp_ratio", 4.0, 0.0, 64.0, &ratio, st));
    double mlp = floor((double)q->embed_dim * ratio); /* int(embed_dim * mlp_ratio) */
    if (mlp < 1 || mlp > VT_CFG_MAX_MLP)
        return vt_fail(st, VT_EINPUT, "%smlp_ratio %g gives an MLP width of %.0f, not in [1, %d]", s, ratio, mlp,
                       VT_CFG_MAX_MLP);
    q->mlp_hidden = (int)mlp;
    VT_TRY(vt_json_string(vc, s, "hidden_act", "quick_gelu", q->hidden_act, sizeof q->hidden_act, st));
    VT_TRY(vt_vision_config_check(q, st));

    VT_TRY(vt_mrope_config_parse(text, root, st));
    text->spatial_merge_size = q->spatial_merge_size;
    text->absolute_time = 0; /* Qwen2-VL: a video's temporal id is its grid index */
    text->tokens_per_second = 0;
    return VT_OK;
}

void vt_qwen2vl_preproc_defaults(vt_preproc_config *p, const vt_qwen2vl_config *c)
{
    vt_preproc_init(p, VT_PREPROC_SMART_RESIZE);
    p->min_pixels = 3136;     /* the hub's preprocessor_config.json */
    p->max_pixels = 12845056;
    p->patch_size = c->vision.patch_size;
    p->merge_size = c->vision.spatial_merge_size;
    p->temporal_patch_size = c->vision.temporal_patch_size;
}

/* The module tree of Qwen2VisionTransformerPretrainedModel (LayerNorm, fc1/fc2 MLP); checked against the
 * golden checkpoints' key sets. */
int vt_qwen2vl_weight_specs(const vt_qwen2vl_config *c, vt_weight_list *l, vt_status *st)
{
    const vt_vision_config *q = &c->vision;
    const int64_t C = q->embed_dim, F = q->mlp_hidden, O = q->out_hidden;
    const int64_t M2 = (int64_t)q->spatial_merge_size * q->spatial_merge_size;
    vt_vision_patch_embed_specs(l, q);
    for (int i = 0; i < q->depth; i++) {
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm1.bias", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.norm2.bias", i);
        vt_vision_attn_specs(l, i, C);
        vt_weight_list_add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.fc1.weight", i);
        vt_weight_list_add(l, VT_DIMS(F), "visual.blocks.%d.mlp.fc1.bias", i);
        vt_weight_list_add(l, VT_DIMS(C, F), "visual.blocks.%d.mlp.fc2.weight", i);
        vt_weight_list_add(l, VT_DIMS(C), "visual.blocks.%d.mlp.fc2.bias", i);
    }
    vt_vision_merger_specs(l, C, M2, O, 1);
    return l->oom ? vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors") : VT_OK;
}
