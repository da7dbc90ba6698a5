/*
 * qwen2vl_weights.c -- Qwen2-VL vision weights: every tensor bound by its checkpoint name, its shape
 * taken from config.json, all of them in one buffer (vt_wbind's two passes).
 *
 * Legend: C embed_dim, F mlp hidden (embed_dim * mlp_ratio), K = 3*2*14*14, O out_hidden, U merge unit.
 *
 *   visual.patch_embed.proj.weight      [C, 3, 2, 14, 14]
 *   visual.blocks.{i}.norm1.weight/bias [C]           visual.blocks.{i}.norm2.weight/bias [C]
 *   visual.blocks.{i}.attn.qkv.weight   [3C, C]       visual.blocks.{i}.attn.qkv.bias     [3C]
 *   visual.blocks.{i}.attn.proj.weight  [C, C]        visual.blocks.{i}.attn.proj.bias    [C]
 *   visual.blocks.{i}.mlp.fc1.weight    [F, C]        visual.blocks.{i}.mlp.fc1.bias      [F]
 *   visual.blocks.{i}.mlp.fc2.weight    [C, F]        visual.blocks.{i}.mlp.fc2.bias      [C]
 *   visual.merger.ln_q.weight/bias      [C]
 *   visual.merger.mlp.0.weight          [UC, UC]      visual.merger.mlp.0.bias            [UC]
 *   visual.merger.mlp.2.weight          [O, UC]       visual.merger.mlp.2.bias            [O]
 */
#include <stdio.h>
#include <string.h>

#include "qwen2vl/qwen2vl.h"

/* ======================================== binding ======================================== */

static void bind_attn(vt_vision_attn_weights *w, vt_wbind *b, int i, int64_t C, vt_status *st)
{
    w->qkv_w = vt_wbind_mat(b, st, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
    w->qkv_b = vt_wbind_f32(b, st, VT_DIMS(3 * C), "visual.blocks.%d.attn.qkv.bias", i);
    w->proj_w = vt_wbind_mat(b, st, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
    w->proj_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.attn.proj.bias", i);
}

static void bind(vt_qwen2vl_weights *w, vt_wbind *b, const vt_vision_config *c, vt_status *st)
{
    const int64_t C = c->embed_dim, F = c->mlp_hidden, O = c->out_hidden;
    const int64_t U = (int64_t)c->spatial_merge_size * c->spatial_merge_size;
    w->patch_embed_w = vt_wbind_mat(b, st, VT_DIMS(C, c->in_channels, c->temporal_patch_size, c->patch_size, c->patch_size),
                                    "visual.patch_embed.proj.weight");
    for (int i = 0; i < c->depth; i++) {
        vt_vision_block_weights *k = &w->blocks[i];
        k->norm1.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        k->norm1.b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm1.bias", i);
        k->norm1.rms = 0;
        bind_attn(&k->attn, b, i, C, st);
        k->norm2.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        k->norm2.b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm2.bias", i);
        k->norm2.rms = 0;
        k->fc1_w = vt_wbind_mat(b, st, VT_DIMS(F, C), "visual.blocks.%d.mlp.fc1.weight", i);
        k->fc1_b = vt_wbind_f32(b, st, VT_DIMS(F), "visual.blocks.%d.mlp.fc1.bias", i);
        k->fc2_w = vt_wbind_mat(b, st, VT_DIMS(C, F), "visual.blocks.%d.mlp.fc2.weight", i);
        k->fc2_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.mlp.fc2.bias", i);
    }
    vt_vision_merger_weights *m = &w->merger;
    m->ln_q.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.merger.ln_q.weight");
    m->ln_q.b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.merger.ln_q.bias");
    m->ln_q.rms = 0;
    m->mlp0_w = vt_wbind_mat(b, st, VT_DIMS(U * C, U * C), "visual.merger.mlp.0.weight");
    m->mlp0_b = vt_wbind_f32(b, st, VT_DIMS(U * C), "visual.merger.mlp.0.bias");
    m->mlp2_w = vt_wbind_mat(b, st, VT_DIMS(O, U * C), "visual.merger.mlp.2.weight");
    m->mlp2_b = vt_wbind_f32(b, st, VT_DIMS(O), "visual.merger.mlp.2.bias");
}

int vt_qwen2vl_load(vt_qwen2vl_model *m, const vt_qwen2vl_config *config, const vt_checkpoint *ck, vt_status *st)
{
    memset(m, 0, sizeof *m);
    m->cfg = *config;
    const vt_vision_config *cfg = &config->vision;
    if (cfg->depth < 1) return vt_fail(st, VT_EINPUT, "config.json: vision_config.depth %d", cfg->depth);
    if (!vt_activation_known(cfg->hidden_act))
        return vt_fail(st, VT_EINPUT, "config.json: vision_config.hidden_act '%s' is not one Qwen2-VL uses",
                       cfg->hidden_act);
    m->w.blocks = calloc((size_t)cfg->depth, sizeof *m->w.blocks);
    if (!m->w.blocks) return vt_fail(st, VT_ERESOURCE, "out of memory for %d blocks", cfg->depth);
    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(&m->w, &b, cfg, st); /* pass 1: presence and shapes */
    int rc = b.err;
    if (!rc) rc = vt_vision_check_no_extra_block(ck, cfg->depth, st);
    if (!rc) rc = vt_wbind_alloc(&b, st);
    if (!rc) {
        bind(&m->w, &b, cfg, st); /* pass 2: pointers into the buffer, data converted to float32 */
        rc = b.err;
    }
    if (!rc) m->w.buffer = vt_wbind_take(&b);
    vt_wbind_free(&b);
    if (rc) vt_qwen2vl_free(m);
    return rc;
}

void vt_qwen2vl_free(vt_qwen2vl_model *m)
{
    free(m->w.buffer);
    free(m->w.blocks);
    memset(&m->w, 0, sizeof m->w);
}
