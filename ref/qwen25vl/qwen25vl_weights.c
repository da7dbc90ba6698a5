/*
 * qwen25vl_weights.c -- Qwen2.5-VL vision weights and the config checks this family adds.
 *
 * Legend: C hidden_size (block width), I intermediate_size, O out_hidden_size, U merge unit (4).
 *
 *   visual.patch_embed.proj.weight           [C, 3, 2, 14, 14]
 *   visual.blocks.{i}.norm1.weight           [C]      (RMSNorm: no bias)      ...norm2.weight [C]
 *   visual.blocks.{i}.attn.qkv.weight/bias   [3C, C] / [3C]
 *   visual.blocks.{i}.attn.proj.weight/bias  [C, C] / [C]
 *   visual.blocks.{i}.mlp.gate_proj.*        [I, C] / [I]      ...up_proj.* [I, C] / [I]
 *   visual.blocks.{i}.mlp.down_proj.*        [C, I] / [C]
 *   visual.merger.ln_q.weight                [C]      (RMSNorm)
 *   visual.merger.mlp.0.weight/bias          [UC, UC] / [UC]   visual.merger.mlp.2.* [O, UC] / [O]
 */
#include <string.h>

#include "qwen25vl/qwen25vl.h"

/* ======================================== binding ======================================== */

static void bind(vt_qwen25vl_weights *w, vt_wbind *b, const vt_vision_config *c, vt_status *st)
{
    const int64_t C = c->embed_dim, I = c->mlp_hidden, O = c->out_hidden;
    const int64_t U = (int64_t)c->spatial_merge_size * c->spatial_merge_size;
    w->patch_embed_w = vt_wbind_mat(b, st, VT_DIMS(C, c->in_channels, c->temporal_patch_size, c->patch_size, c->patch_size),
                                    "visual.patch_embed.proj.weight");
    for (int i = 0; i < c->depth; i++) {
        vt_qwen25vl_block_weights *k = &w->blocks[i];
        k->norm1.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        k->norm1.b = NULL;
        k->norm1.rms = 1;
        k->attn.qkv_w = vt_wbind_mat(b, st, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
        k->attn.qkv_b = vt_wbind_f32(b, st, VT_DIMS(3 * C), "visual.blocks.%d.attn.qkv.bias", i);
        k->attn.proj_w = vt_wbind_mat(b, st, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
        k->attn.proj_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.attn.proj.bias", i);
        k->norm2.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        k->norm2.b = NULL;
        k->norm2.rms = 1;
        k->gate_w = vt_wbind_mat(b, st, VT_DIMS(I, C), "visual.blocks.%d.mlp.gate_proj.weight", i);
        k->gate_b = vt_wbind_f32(b, st, VT_DIMS(I), "visual.blocks.%d.mlp.gate_proj.bias", i);
        k->up_w = vt_wbind_mat(b, st, VT_DIMS(I, C), "visual.blocks.%d.mlp.up_proj.weight", i);
        k->up_b = vt_wbind_f32(b, st, VT_DIMS(I), "visual.blocks.%d.mlp.up_proj.bias", i);
        k->down_w = vt_wbind_mat(b, st, VT_DIMS(C, I), "visual.blocks.%d.mlp.down_proj.weight", i);
        k->down_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.mlp.down_proj.bias", i);
    }
    vt_vision_merger_weights *m = &w->merger;
    m->ln_q.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.merger.ln_q.weight");
    m->ln_q.b = NULL;
    m->ln_q.rms = 1;
    m->mlp0_w = vt_wbind_mat(b, st, VT_DIMS(U * C, U * C), "visual.merger.mlp.0.weight");
    m->mlp0_b = vt_wbind_f32(b, st, VT_DIMS(U * C), "visual.merger.mlp.0.bias");
    m->mlp2_w = vt_wbind_mat(b, st, VT_DIMS(O, U * C), "visual.merger.mlp.2.weight");
    m->mlp2_b = vt_wbind_f32(b, st, VT_DIMS(O), "visual.merger.mlp.2.bias");
}

int vt_qwen25vl_load(vt_qwen25vl_model *m, const vt_qwen25vl_config *config, const vt_checkpoint *ck, vt_status *st)
{
    const vt_vision_config *cfg = &config->vision;
    memset(m, 0, sizeof *m);
    m->cfg = *config;
    VT_TRY(vt_qwen25vl_check_config(config, st));
    m->w.blocks = calloc((size_t)cfg->depth, sizeof *m->w.blocks);
    if (!m->w.blocks) return vt_fail(st, VT_ERESOURCE, "out of memory for %d blocks", cfg->depth);
    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(&m->w, &b, cfg, st); /* pass 1: presence and shapes */
    int rc = b.err;
    if (!rc) rc = vt_vision_check_no_extra_block(ck, cfg->depth, st);
    if (!rc) rc = vt_wbind_alloc(&b, st);
    if (!rc) {
        bind(&m->w, &b, cfg, st); /* pass 2: load */
        rc = b.err;
    }
    if (!rc) m->w.buffer = vt_wbind_take(&b);
    vt_wbind_free(&b);
    if (rc) vt_qwen25vl_free(m);
    return rc;
}

void vt_qwen25vl_free(vt_qwen25vl_model *m)
{
    free(m->w.buffer);
    free(m->w.blocks);
    memset(&m->w, 0, sizeof m->w);
}
