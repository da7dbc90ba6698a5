/*
 * config_weights.c -- the vision-side tensors each family's reference model holds, with the shapes its
 * config implies: what a checkpoint must contain, and all it may contain on the vision side.
 *
 * Legend: C block width, F MLP width, O output width, P patch, T temporal patch, M spatial merge,
 * L depth, D Qwen-VL output_dim / Kimi-VL hidden, Q Qwen-VL n_queries, K Kimi projector width
 * (kh * kw * D), X the text model's hidden size.
 *
 * The lists mirror the module trees of the references (Qwen2VisionTransformerPretrainedModel,
 * Qwen2_5_VisionTransformerPretrainedModel, Qwen-VL visual.py VisionTransformer, Kimi-VL MoonVitPretrainedModel
 * + KimiVLMultiModalProjector) and were checked against the golden checkpoints' key sets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

const char *vt_family_name(vt_family family)
{
    switch (family) {
    case VT_FAMILY_QWEN2VL: return "Qwen2-VL";
    case VT_FAMILY_QWEN25VL: return "Qwen2.5-VL";
    case VT_FAMILY_QWENVL: return "Qwen-VL";
    case VT_FAMILY_KIMIVL: return "Kimi-VL";
    }
    return "?";
}

typedef struct spec_list {
    vt_weight_spec *v;
    int n, cap;
    int oom;
} spec_list;

static void add(spec_list *l, int ndim, const int64_t *shape, const char *fmt, ...) VT_PRINTF(4, 5);

static void add(spec_list *l, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (l->oom) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        vt_weight_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    vt_weight_spec *s = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    VT_ASSERT(len > 0 && (size_t)len < sizeof s->name);
    VT_ASSERT(ndim <= VT_MAX_DIMS);
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
}

/* Qwen2-VL (LayerNorm, fc1/fc2 MLP) and Qwen2.5-VL (RMSNorm without bias, gated MLP). */
static void qwen2_weights(spec_list *l, const vt_qwen2_vision_config *q)
{
    const int64_t C = q->embed_dim, F = q->mlp_hidden, O = q->out_hidden, P = q->patch_size;
    const int64_t T = q->temporal_patch_size, M2 = (int64_t)q->spatial_merge_size * q->spatial_merge_size;
    const int rms = q->qwen25;
    add(l, VT_DIMS(C, q->in_channels, T, P, P), "visual.patch_embed.proj.weight"); /* Conv3d, no bias */
    for (int i = 0; i < q->depth; i++) {
        add(l, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        if (!rms) add(l, VT_DIMS(C), "visual.blocks.%d.norm1.bias", i);
        add(l, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        if (!rms) add(l, VT_DIMS(C), "visual.blocks.%d.norm2.bias", i);
        add(l, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
        add(l, VT_DIMS(3 * C), "visual.blocks.%d.attn.qkv.bias", i);
        add(l, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
        add(l, VT_DIMS(C), "visual.blocks.%d.attn.proj.bias", i);
        if (!rms) {
            add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.fc1.weight", i);
            add(l, VT_DIMS(F), "visual.blocks.%d.mlp.fc1.bias", i);
            add(l, VT_DIMS(C, F), "visual.blocks.%d.mlp.fc2.weight", i);
            add(l, VT_DIMS(C), "visual.blocks.%d.mlp.fc2.bias", i);
        } else {
            add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.gate_proj.weight", i);
            add(l, VT_DIMS(F), "visual.blocks.%d.mlp.gate_proj.bias", i);
            add(l, VT_DIMS(F, C), "visual.blocks.%d.mlp.up_proj.weight", i);
            add(l, VT_DIMS(F), "visual.blocks.%d.mlp.up_proj.bias", i);
            add(l, VT_DIMS(C, F), "visual.blocks.%d.mlp.down_proj.weight", i);
            add(l, VT_DIMS(C), "visual.blocks.%d.mlp.down_proj.bias", i);
        }
    }
    add(l, VT_DIMS(C), "visual.merger.ln_q.weight");
    if (!rms) add(l, VT_DIMS(C), "visual.merger.ln_q.bias");
    add(l, VT_DIMS(C * M2, C * M2), "visual.merger.mlp.0.weight");
    add(l, VT_DIMS(C * M2), "visual.merger.mlp.0.bias");
    add(l, VT_DIMS(O, C * M2), "visual.merger.mlp.2.weight");
    add(l, VT_DIMS(O), "visual.merger.mlp.2.bias");
}

static void qwenvl_weights(spec_list *l, const vt_qwenvl_config *q)
{
    const int64_t W = q->width, F = q->mlp_width, D = q->output_dim, Q = q->n_queries, P = q->patch_size;
    const char *v = "transformer.visual";
    add(l, VT_DIMS(W, 3, P, P), "%s.conv1.weight", v);
    add(l, VT_DIMS(256, W), "%s.positional_embedding", v); /* always 16 x 16 positions, interpolated */
    add(l, VT_DIMS(W), "%s.ln_pre.weight", v);
    add(l, VT_DIMS(W), "%s.ln_pre.bias", v);
    for (int i = 0; i < q->layers; i++) {
        const char *r = "transformer.visual.transformer.resblocks";
        add(l, VT_DIMS(W), "%s.%d.ln_1.weight", r, i);
        add(l, VT_DIMS(W), "%s.%d.ln_1.bias", r, i);
        add(l, VT_DIMS(3 * W, W), "%s.%d.attn.in_proj.weight", r, i);
        add(l, VT_DIMS(3 * W), "%s.%d.attn.in_proj.bias", r, i);
        add(l, VT_DIMS(W, W), "%s.%d.attn.out_proj.weight", r, i);
        add(l, VT_DIMS(W), "%s.%d.attn.out_proj.bias", r, i);
        add(l, VT_DIMS(W), "%s.%d.ln_2.weight", r, i);
        add(l, VT_DIMS(W), "%s.%d.ln_2.bias", r, i);
        add(l, VT_DIMS(F, W), "%s.%d.mlp.c_fc.weight", r, i);
        add(l, VT_DIMS(F), "%s.%d.mlp.c_fc.bias", r, i);
        add(l, VT_DIMS(W, F), "%s.%d.mlp.c_proj.weight", r, i);
        add(l, VT_DIMS(W), "%s.%d.mlp.c_proj.bias", r, i);
    }
    add(l, VT_DIMS(Q, D), "%s.attn_pool.query", v);
    add(l, VT_DIMS(Q, D), "%s.attn_pool.pos_embed", v);
    if (W != D) add(l, VT_DIMS(D, W), "%s.attn_pool.kv_proj.weight", v); /* nn.Identity when kv_dim == embed_dim */
    add(l, VT_DIMS(3 * D, D), "%s.attn_pool.attn.in_proj_weight", v);
    add(l, VT_DIMS(3 * D), "%s.attn_pool.attn.in_proj_bias", v);
    add(l, VT_DIMS(D, D), "%s.attn_pool.attn.out_proj.weight", v);
    add(l, VT_DIMS(D), "%s.attn_pool.attn.out_proj.bias", v);
    add(l, VT_DIMS(D), "%s.attn_pool.ln_q.weight", v);
    add(l, VT_DIMS(D), "%s.attn_pool.ln_q.bias", v);
    add(l, VT_DIMS(D), "%s.attn_pool.ln_kv.weight", v);
    add(l, VT_DIMS(D), "%s.attn_pool.ln_kv.bias", v);
    add(l, VT_DIMS(D), "%s.ln_post.weight", v);
    add(l, VT_DIMS(D), "%s.ln_post.bias", v);
    add(l, VT_DIMS(D, D), "%s.proj", v);
}

static void kimivl_weights(spec_list *l, const vt_kimivl_config *k)
{
    const int64_t D = k->hidden_size, F = k->intermediate_size, P = k->patch_size, X = k->text_hidden_size;
    const int64_t K = (int64_t)k->merge_kernel_size[0] * k->merge_kernel_size[1] * D;
    add(l, VT_DIMS(D, 3, P, P), "vision_tower.patch_embed.proj.weight");
    add(l, VT_DIMS(D), "vision_tower.patch_embed.proj.bias");
    add(l, VT_DIMS(k->init_pos_emb_height, k->init_pos_emb_width, D), "vision_tower.patch_embed.pos_emb.weight");
    for (int i = 0; i < k->num_hidden_layers; i++) {
        const char *b = "vision_tower.encoder.blocks";
        add(l, VT_DIMS(D), "%s.%d.norm0.weight", b, i);
        add(l, VT_DIMS(D), "%s.%d.norm0.bias", b, i);
        add(l, VT_DIMS(3 * D, D), "%s.%d.wqkv.weight", b, i);
        add(l, VT_DIMS(3 * D), "%s.%d.wqkv.bias", b, i);
        add(l, VT_DIMS(D, D), "%s.%d.wo.weight", b, i);
        add(l, VT_DIMS(D), "%s.%d.wo.bias", b, i);
        add(l, VT_DIMS(D), "%s.%d.norm1.weight", b, i);
        add(l, VT_DIMS(D), "%s.%d.norm1.bias", b, i);
        add(l, VT_DIMS(F, D), "%s.%d.mlp.fc0.weight", b, i);
        add(l, VT_DIMS(F), "%s.%d.mlp.fc0.bias", b, i);
        add(l, VT_DIMS(D, F), "%s.%d.mlp.fc1.weight", b, i);
        add(l, VT_DIMS(D), "%s.%d.mlp.fc1.bias", b, i);
    }
    add(l, VT_DIMS(D), "vision_tower.encoder.final_layernorm.weight");
    add(l, VT_DIMS(D), "vision_tower.encoder.final_layernorm.bias");
    add(l, VT_DIMS(D), "multi_modal_projector.pre_norm.weight");
    add(l, VT_DIMS(D), "multi_modal_projector.pre_norm.bias");
    add(l, VT_DIMS(K, K), "multi_modal_projector.linear_1.weight");
    add(l, VT_DIMS(K), "multi_modal_projector.linear_1.bias");
    add(l, VT_DIMS(X, K), "multi_modal_projector.linear_2.weight");
    add(l, VT_DIMS(X), "multi_modal_projector.linear_2.bias");
}

int vt_config_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st)
{
    spec_list l = {0};
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL: qwen2_weights(&l, &c->qwen2); break;
    case VT_FAMILY_QWENVL: qwenvl_weights(&l, &c->qwenvl); break;
    case VT_FAMILY_KIMIVL: kimivl_weights(&l, &c->kimi); break;
    }
    if (l.oom) {
        free(l.v);
        return vt_fail(st, VT_ERESOURCE, "out of memory listing the model's tensors");
    }
    *out = l.v;
    *n = l.n;
    return VT_OK;
}
