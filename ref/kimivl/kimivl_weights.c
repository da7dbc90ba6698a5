/*
 * kimivl_weights.c -- Kimi-VL: the config checks MoonViT adds, and binding the checkpoint into one buffer.
 *
 * Legend: D hidden_size, H heads, hd = D/H, F intermediate_size, L layers, C 3 channels, P patch_size,
 * h0 x w0 the learned position table, kh x kw the merge kernel, T the text model's hidden_size.
 *
 * Every tensor is looked up by its checkpoint key (vision_tower.* / multi_modal_projector.*; the
 * safetensors reader also accepts them under a leading `model.`) and must have exactly the shape the
 * config implies, so a config that contradicts the weights is an input error naming the key, never a
 * silent misread.
 */
#include <stdlib.h>
#include <string.h>

#include "kimivl/kimivl.h"

/* ================================ config ================================= */

int vt_kimivl_config_check(const vt_kimivl_config *c, vt_status *st)
{
    const char *f = "config.json: vision_config.";
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0)
        return vt_fail(st, VT_EINPUT, "%shidden_size %d / num_attention_heads %d must be positive", f,
                       c->hidden_size, c->num_attention_heads);
    if (c->hidden_size % c->num_attention_heads)
        return vt_fail(st, VT_EINPUT, "%shidden_size %d is not divisible by num_attention_heads %d", f,
                       c->hidden_size, c->num_attention_heads);
    int hd = c->hidden_size / c->num_attention_heads;
    if (hd % 4) /* Rope2DPosEmb: half the complex pairs turn with w, half with h */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (hidden_size / num_attention_heads) is not divisible by 4, "
                       "as the 2D RoPE needs", f, hd);
    if (c->num_hidden_layers <= 0 || c->num_hidden_layers > VT_KIMIVL_MAX_LAYERS)
        return vt_fail(st, VT_EINPUT, "%snum_hidden_layers %d is not in [1, %d]", f, c->num_hidden_layers,
                       VT_KIMIVL_MAX_LAYERS);
    if (c->intermediate_size <= 0 || c->patch_size <= 0 || c->init_pos_emb_height <= 0 ||
        c->init_pos_emb_width <= 0)
        return vt_fail(st, VT_EINPUT, "%sintermediate_size, patch_size and init_pos_emb_height/width must be "
                       "positive", f);
    if (c->merge_kernel_size[0] <= 0 || c->merge_kernel_size[1] <= 0)
        return vt_fail(st, VT_EINPUT, "%smerge_kernel_size [%d, %d] must be positive", f, c->merge_kernel_size[0],
                       c->merge_kernel_size[1]);
    if (c->text_hidden_size <= 0)
        return vt_fail(st, VT_EINPUT, "config.json: text_config.hidden_size %d must be positive",
                       c->text_hidden_size);
    return VT_OK;
}

/* ================================ weights ================================ */

/* One pass of the two-pass binding (see safetensors.h): pass 1 checks names and shapes and counts,
 * pass 2 points every field into the buffer and loads it. */
static void bind(vt_kimivl_weights *w, vt_wbind *b, const vt_kimivl_config *c, vt_status *st)
{
    const int64_t D = c->hidden_size, F = c->intermediate_size, P = c->patch_size;
    const int64_t K = (int64_t)c->merge_kernel_size[0] * c->merge_kernel_size[1] * D; /* projector width */
    const int64_t T = c->text_hidden_size;

    w->patch_embed_proj_w = vt_wbind_f32(b, st, VT_DIMS(D, 3, P, P), "vision_tower.patch_embed.proj.weight");
    w->patch_embed_proj_b = vt_wbind_f32(b, st, VT_DIMS(D), "vision_tower.patch_embed.proj.bias");
    w->patch_embed_pos_emb_w = vt_wbind_f32(b, st, VT_DIMS(c->init_pos_emb_height, c->init_pos_emb_width, D),
                                            "vision_tower.patch_embed.pos_emb.weight");
    for (int i = 0; i < w->n_blocks; i++) {
        vt_kimivl_block_weights *k = &w->blocks[i];
        const char *p = "vision_tower.encoder.blocks";
        k->norm0_w = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.norm0.weight", p, i);
        k->norm0_b = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.norm0.bias", p, i);
        k->wqkv_w = vt_wbind_f32(b, st, VT_DIMS(3 * D, D), "%s.%d.wqkv.weight", p, i);
        k->wqkv_b = vt_wbind_f32(b, st, VT_DIMS(3 * D), "%s.%d.wqkv.bias", p, i);
        k->wo_w = vt_wbind_f32(b, st, VT_DIMS(D, D), "%s.%d.wo.weight", p, i);
        k->wo_b = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.wo.bias", p, i);
        k->norm1_w = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.norm1.weight", p, i);
        k->norm1_b = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.norm1.bias", p, i);
        k->mlp_fc0_w = vt_wbind_f32(b, st, VT_DIMS(F, D), "%s.%d.mlp.fc0.weight", p, i);
        k->mlp_fc0_b = vt_wbind_f32(b, st, VT_DIMS(F), "%s.%d.mlp.fc0.bias", p, i);
        k->mlp_fc1_w = vt_wbind_f32(b, st, VT_DIMS(D, F), "%s.%d.mlp.fc1.weight", p, i);
        k->mlp_fc1_b = vt_wbind_f32(b, st, VT_DIMS(D), "%s.%d.mlp.fc1.bias", p, i);
    }
    w->final_layernorm_w = vt_wbind_f32(b, st, VT_DIMS(D), "vision_tower.encoder.final_layernorm.weight");
    w->final_layernorm_b = vt_wbind_f32(b, st, VT_DIMS(D), "vision_tower.encoder.final_layernorm.bias");
    w->pre_norm_w = vt_wbind_f32(b, st, VT_DIMS(D), "multi_modal_projector.pre_norm.weight");
    w->pre_norm_b = vt_wbind_f32(b, st, VT_DIMS(D), "multi_modal_projector.pre_norm.bias");
    w->linear_1_w = vt_wbind_f32(b, st, VT_DIMS(K, K), "multi_modal_projector.linear_1.weight");
    w->linear_1_b = vt_wbind_f32(b, st, VT_DIMS(K), "multi_modal_projector.linear_1.bias");
    w->linear_2_w = vt_wbind_f32(b, st, VT_DIMS(T, K), "multi_modal_projector.linear_2.weight");
    w->linear_2_b = vt_wbind_f32(b, st, VT_DIMS(T), "multi_modal_projector.linear_2.bias");
}

int vt_kimivl_load(vt_kimivl_model *m, const vt_kimivl_config *c, const vt_checkpoint *ck, vt_status *st)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    vt_kimivl_weights *w = &m->w;
    VT_TRY(vt_kimivl_config_check(c, st));
    w->n_blocks = c->num_hidden_layers;
    w->blocks = calloc((size_t)w->n_blocks, sizeof *w->blocks);
    if (!w->blocks) return vt_fail(st, VT_ERESOURCE, "out of memory for %d block descriptors", w->n_blocks);

    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(w, &b, c, st);             /* pass 1: presence and shapes, counting */
    int rc = vt_wbind_alloc(&b, st); /* the first pass-1 error, or the one buffer */
    if (!rc) {
        bind(w, &b, c, st); /* pass 2: pointers into the buffer, data loaded */
        if (!vt_wbind_ok(&b)) rc = st->code;
    }
    if (rc) {
        vt_wbind_free(&b);
        free(w->blocks);
        memset(w, 0, sizeof *w);
        return rc;
    }
    w->buffer = vt_wbind_take(&b);
    return VT_OK;
}

void vt_kimivl_free(vt_kimivl_model *m)
{
    vt_kimivl_weights *w = &m->w;
    free(w->buffer);
    free(w->blocks);
    memset(w, 0, sizeof *w);
}
