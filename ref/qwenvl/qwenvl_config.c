/*
 * qwenvl_config.c -- config.json's `visual` dict (Qwen-VL v1: the keyword arguments of
 * VisionTransformer(**visual) in visual.py) into vt_qwenvl_config, the transform's defaults, and the list of
 * the tower's tensors.
 */
#include <math.h>
#include <string.h>

#include "io/json.h"
#include "qwenvl/qwenvl.h"

static int parse_visual(vt_qwenvl_config *q, const cJSON *v, vt_status *st)
{
    const char *s = "visual.";
    memset(q, 0, sizeof *q);
    /* VisionTransformer(image_size, patch_size, width, layers, heads, mlp_ratio, n_queries=256, output_dim=512) */
    VT_TRY(vt_json_int(v, s, "patch_size", VT_JSON_REQUIRED, 1, VT_CFG_MAX_PATCH, &q->patch_size, st));
    VT_TRY(vt_json_int(v, s, "image_size", VT_JSON_REQUIRED, q->patch_size, 16384, &q->image_size, st));
    VT_TRY(vt_json_int(v, s, "width", VT_JSON_REQUIRED, 1, VT_CFG_MAX_WIDTH, &q->width, st));
    VT_TRY(vt_json_int(v, s, "layers", VT_JSON_REQUIRED, 1, VT_CFG_MAX_DEPTH, &q->layers, st));
    VT_TRY(vt_json_int(v, s, "heads", VT_JSON_REQUIRED, 1, VT_CFG_MAX_HEADS, &q->heads, st));
    VT_TRY(vt_json_double(v, s, "mlp_ratio", NAN, 0.0, 64.0, &q->mlp_ratio, st));
    VT_TRY(vt_json_int(v, s, "n_queries", 256, 1, 65536, &q->n_queries, st));
    VT_TRY(vt_json_int(v, s, "output_dim", 512, 1, VT_CFG_MAX_WIDTH, &q->output_dim, st));
    double mlp = floor((double)q->width * q->mlp_ratio); /* int(width * mlp_ratio) */
    if (mlp < 1 || mlp > VT_CFG_MAX_MLP)
        return vt_fail(st, VT_EINPUT, "%smlp_ratio %g gives an MLP width of %.0f, not in [1, %d]", s, q->mlp_ratio, mlp,
                       VT_CFG_MAX_MLP);
    q->mlp_width = (int)mlp;
    if (q->width % q->heads)
        return vt_fail(st, VT_EINPUT, "%sheads %d does not divide width %d", s, q->heads, q->width);
    /* Resampler: nn.MultiheadAttention(output_dim, output_dim // 128) and a 2D sin-cos table of output_dim */
    if (q->output_dim < 128 || q->output_dim % (q->output_dim / 128) || q->output_dim % 4)
        return vt_fail(st, VT_EINPUT, "%soutput_dim %d: the resampler needs at least 128, divisible by 4 and by its "
                       "output_dim // 128 heads", s, q->output_dim);
    int g = (int)floor(sqrt((double)q->n_queries) + 0.5);
    if (g * g != q->n_queries) /* the query positions are a g x g grid */
        return vt_fail(st, VT_EINPUT, "%sn_queries %d is not a perfect square", s, q->n_queries);
    return VT_OK;
}

int vt_qwenvl_config_parse(vt_qwenvl_config *q, const cJSON *root, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "visual");
    if (!cJSON_IsObject(v))
        return vt_fail(st, VT_EINPUT, "model_type qwen without a \"visual\" object (a text-only Qwen model?)");
    return parse_visual(q, v, st);
}

void vt_qwenvl_preproc_defaults(vt_preproc_config *p, const vt_qwenvl_config *c)
{
    vt_preproc_init(p, VT_PREPROC_FIXED); /* fixed square bicubic transform, CLIP statistics; no merge */
    p->merge_size = 1;
    p->patch_size = c->patch_size;
}

/* The module tree of visual.py's VisionTransformer (transformer.visual.*). */
int vt_qwenvl_weight_specs(const vt_qwenvl_config *q, vt_weight_list *l, vt_status *st)
{
    const int64_t W = q->width, F = q->mlp_width, D = q->output_dim, Q = q->n_queries, P = q->patch_size;
    const char *v = "transformer.visual";
    vt_weight_list_add(l, VT_DIMS(W, 3, P, P), "%s.conv1.weight", v);
    vt_weight_list_add(l, VT_DIMS(256, W), "%s.positional_embedding", v); /* always 16 x 16 positions, interpolated */
    vt_weight_list_add(l, VT_DIMS(W), "%s.ln_pre.weight", v);
    vt_weight_list_add(l, VT_DIMS(W), "%s.ln_pre.bias", v);
    for (int i = 0; i < q->layers; i++) {
        const char *r = "transformer.visual.transformer.resblocks";
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.ln_1.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.ln_1.bias", r, i);
        vt_weight_list_add(l, VT_DIMS(3 * W, W), "%s.%d.attn.in_proj.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(3 * W), "%s.%d.attn.in_proj.bias", r, i);
        vt_weight_list_add(l, VT_DIMS(W, W), "%s.%d.attn.out_proj.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.attn.out_proj.bias", r, i);
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.ln_2.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.ln_2.bias", r, i);
        vt_weight_list_add(l, VT_DIMS(F, W), "%s.%d.mlp.c_fc.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(F), "%s.%d.mlp.c_fc.bias", r, i);
        vt_weight_list_add(l, VT_DIMS(W, F), "%s.%d.mlp.c_proj.weight", r, i);
        vt_weight_list_add(l, VT_DIMS(W), "%s.%d.mlp.c_proj.bias", r, i);
    }
    vt_weight_list_add(l, VT_DIMS(Q, D), "%s.attn_pool.query", v);
    vt_weight_list_add(l, VT_DIMS(Q, D), "%s.attn_pool.pos_embed", v);
    if (W != D) vt_weight_list_add(l, VT_DIMS(D, W), "%s.attn_pool.kv_proj.weight", v); /* nn.Identity when kv_dim == embed_dim */
    vt_weight_list_add(l, VT_DIMS(3 * D, D), "%s.attn_pool.attn.in_proj_weight", v);
    vt_weight_list_add(l, VT_DIMS(3 * D), "%s.attn_pool.attn.in_proj_bias", v);
    vt_weight_list_add(l, VT_DIMS(D, D), "%s.attn_pool.attn.out_proj.weight", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.attn_pool.attn.out_proj.bias", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.attn_pool.ln_q.weight", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.attn_pool.ln_q.bias", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.attn_pool.ln_kv.weight", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.attn_pool.ln_kv.bias", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.ln_post.weight", v);
    vt_weight_list_add(l, VT_DIMS(D), "%s.ln_post.bias", v);
    vt_weight_list_add(l, VT_DIMS(D, D), "%s.proj", v);
    return l->oom ? vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors") : VT_OK;
}
