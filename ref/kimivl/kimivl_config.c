/*
 * kimivl_config.c -- config.json's vision_config (MoonViTConfig) and text_config.hidden_size (the projector's
 * output) into vt_kimivl_config, the processor's published defaults, and the list of the tensors of MoonViT
 * and the projector.
 */
#include <string.h>

#include "io/json.h"
#include "kimivl/kimivl.h"

static int parse_kimivl(vt_kimivl_config *k, const cJSON *vc, const cJSON *tc, vt_status *st)
{
    const char *s = "vision_config.";
    memset(k, 0, sizeof *k);
    /* defaults: MoonViTConfig */
    VT_TRY(vt_json_int(vc, s, "patch_size", 14, 1, VT_CFG_MAX_PATCH, &k->patch_size, st));
    VT_TRY(vt_json_int(vc, s, "num_attention_heads", 16, 1, VT_CFG_MAX_HEADS, &k->num_attention_heads, st));
    VT_TRY(vt_json_int(vc, s, "num_hidden_layers", 27, 1, VT_CFG_MAX_DEPTH, &k->num_hidden_layers, st));
    VT_TRY(vt_json_int(vc, s, "hidden_size", 1152, 1, VT_CFG_MAX_WIDTH, &k->hidden_size, st));
    VT_TRY(vt_json_int(vc, s, "intermediate_size", 4304, 1, VT_CFG_MAX_MLP, &k->intermediate_size, st));
    VT_TRY(vt_json_int(vc, s, "init_pos_emb_height", 64, 1, 4096, &k->init_pos_emb_height, st));
    VT_TRY(vt_json_int(vc, s, "init_pos_emb_width", 64, 1, 4096, &k->init_pos_emb_width, st));
    if (cJSON_GetObjectItemCaseSensitive(vc, "merge_kernel_size"))
        VT_TRY(vt_json_int_array(vc, s, "merge_kernel_size", 2, 2, 1, VT_CFG_MAX_MERGE, k->merge_kernel_size, NULL, st));
    else
        k->merge_kernel_size[0] = k->merge_kernel_size[1] = 2;
    VT_TRY(vt_json_int(tc, "text_config.", "hidden_size", VT_JSON_REQUIRED, 1, 1 << 17, &k->text_hidden_size, st));
    if (k->merge_kernel_size[0] != k->merge_kernel_size[1]) /* every published MoonViT merges 2x2 */
        return vt_fail(st, VT_EINPUT, "%smerge_kernel_size [%d, %d] is not square", s, k->merge_kernel_size[0],
                       k->merge_kernel_size[1]);
    if (k->hidden_size % k->num_attention_heads)
        return vt_fail(st, VT_EINPUT, "%snum_attention_heads %d does not divide hidden_size %d", s,
                       k->num_attention_heads, k->hidden_size);
    int hd = k->hidden_size / k->num_attention_heads;
    if (hd % 4) /* Rope2DPosEmb: half the complex pairs turn with w, half with h */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (hidden_size / num_attention_heads) is not a multiple of 4, as "
                       "the 2D rotary embedding needs", s, hd);
    return VT_OK;
}

int vt_kimivl_config_parse(vt_kimivl_config *k, const cJSON *root, vt_status *st)
{
    int rc;
    const cJSON *vc = vt_json_object(root, "vision_config", 1, st, &rc), *tc = NULL;
    if (vc) tc = vt_json_object(root, "text_config", 1, st, &rc);
    VT_TRY(rc);
    return parse_kimivl(k, vc, tc, st);
}

void vt_kimivl_preproc_defaults(vt_preproc_config *p, const vt_kimivl_config *c)
{
    vt_preproc_init(p, VT_PREPROC_KIMI);
    for (int i = 0; i < 3; i++) p->image_mean[i] = p->image_std[i] = 0.5f;
    p->in_token_limit = 4096;
    p->pad_input = 1;
    p->patch_size = c->patch_size;
    p->merge_size = c->merge_kernel_size[0];
}

/* The module tree of MoonVitPretrainedModel + KimiVLMultiModalProjector. */
int vt_kimivl_weight_specs(const vt_kimivl_config *k, vt_weight_list *l, vt_status *st)
{
    const int64_t D = k->hidden_size, F = k->intermediate_size, P = k->patch_size, X = k->text_hidden_size;
    const int64_t K = (int64_t)k->merge_kernel_size[0] * k->merge_kernel_size[1] * D;
    vt_weight_list_add(l, VT_DIMS(D, 3, P, P), "vision_tower.patch_embed.proj.weight");
    vt_weight_list_add(l, VT_DIMS(D), "vision_tower.patch_embed.proj.bias");
    vt_weight_list_add(l, VT_DIMS(k->init_pos_emb_height, k->init_pos_emb_width, D), "vision_tower.patch_embed.pos_emb.weight");
    for (int i = 0; i < k->num_hidden_layers; i++) {
        const char *b = "vision_tower.encoder.blocks";
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.norm0.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.norm0.bias", b, i);
        vt_weight_list_add(l, VT_DIMS(3 * D, D), "%s.%d.wqkv.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(3 * D), "%s.%d.wqkv.bias", b, i);
        vt_weight_list_add(l, VT_DIMS(D, D), "%s.%d.wo.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.wo.bias", b, i);
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.norm1.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.norm1.bias", b, i);
        vt_weight_list_add(l, VT_DIMS(F, D), "%s.%d.mlp.fc0.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(F), "%s.%d.mlp.fc0.bias", b, i);
        vt_weight_list_add(l, VT_DIMS(D, F), "%s.%d.mlp.fc1.weight", b, i);
        vt_weight_list_add(l, VT_DIMS(D), "%s.%d.mlp.fc1.bias", b, i);
    }
    vt_weight_list_add(l, VT_DIMS(D), "vision_tower.encoder.final_layernorm.weight");
    vt_weight_list_add(l, VT_DIMS(D), "vision_tower.encoder.final_layernorm.bias");
    vt_weight_list_add(l, VT_DIMS(D), "multi_modal_projector.pre_norm.weight");
    vt_weight_list_add(l, VT_DIMS(D), "multi_modal_projector.pre_norm.bias");
    vt_weight_list_add(l, VT_DIMS(K, K), "multi_modal_projector.linear_1.weight");
    vt_weight_list_add(l, VT_DIMS(K), "multi_modal_projector.linear_1.bias");
    vt_weight_list_add(l, VT_DIMS(X, K), "multi_modal_projector.linear_2.weight");
    vt_weight_list_add(l, VT_DIMS(X), "multi_modal_projector.linear_2.bias");
    return l->oom ? vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors") : VT_OK;
}
