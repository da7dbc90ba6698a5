/*
 * qwen3vl_weights.c -- Qwen3-VL vision weights: every tensor bound by its checkpoint name (published keys
 * model.visual.*, found under the canonical visual.* names), its shape taken from config.json, all of
 * them in one buffer (vt_wbind's two passes).
 *
 * Legend: C hidden_size, F intermediate_size, K = 3*2*16*16, G position-table side, O out_hidden_size,
 * U = 4 patches per merged token.
 *
 *   visual.patch_embed.proj.weight      [C, 3, 2, 16, 16]  visual.patch_embed.proj.bias        [C]
 *   visual.pos_embed.weight             [G*G, C]
 *   visual.blocks.{i}.norm1.weight/bias [C]                visual.blocks.{i}.norm2.weight/bias [C]
 *   visual.blocks.{i}.attn.qkv.weight   [3C, C]            visual.blocks.{i}.attn.qkv.bias     [3C]
 *   visual.blocks.{i}.attn.proj.weight  [C, C]             visual.blocks.{i}.attn.proj.bias    [C]
 *   visual.blocks.{i}.mlp.linear_fc1.weight [F, C]         visual.blocks.{i}.mlp.linear_fc1.bias [F]
 *   visual.blocks.{i}.mlp.linear_fc2.weight [C, F]         visual.blocks.{i}.mlp.linear_fc2.bias [C]
 *   visual.merger.norm.weight/bias      [C]
 *   visual.deepstack_merger_list.{k}.norm.weight/bias [UC]
 *   ...linear_fc1.weight                [UC, UC]           ...linear_fc1.bias                  [UC]
 *   ...linear_fc2.weight                [O, UC]            ...linear_fc2.bias                  [O]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwen3vl/qwen3vl.h"

/* ======================================== binding ======================================== */

static void bind_merger(vt_qwen3vl_merger_weights *m, vt_wbind *b, const char *p, int64_t C, int64_t U, int64_t O,
                        int postshuffle, vt_status *st)
{
    const int64_t UC = U * C, nw = postshuffle ? UC : C;
    m->norm.w = vt_wbind_f32(b, st, VT_DIMS(nw), "%s.norm.weight", p);
    m->norm.b = vt_wbind_f32(b, st, VT_DIMS(nw), "%s.norm.bias", p);
    m->norm.rms = 0;
    m->fc1_w = vt_wbind_f32(b, st, VT_DIMS(UC, UC), "%s.linear_fc1.weight", p);
    m->fc1_b = vt_wbind_f32(b, st, VT_DIMS(UC), "%s.linear_fc1.bias", p);
    m->fc2_w = vt_wbind_f32(b, st, VT_DIMS(O, UC), "%s.linear_fc2.weight", p);
    m->fc2_b = vt_wbind_f32(b, st, VT_DIMS(O), "%s.linear_fc2.bias", p);
    m->postshuffle = postshuffle;
}

static void bind(vt_qwen3vl_weights *w, vt_wbind *b, const vt_qwen3vl_config *cfg, vt_status *st)
{
    const vt_vision_config *c = &cfg->vision;
    const int64_t C = c->embed_dim, F = c->mlp_hidden, O = c->out_hidden;
    const int64_t U = (int64_t)c->spatial_merge_size * c->spatial_merge_size;
    w->patch_embed_w = vt_wbind_f32(b, st, VT_DIMS(C, c->in_channels, c->temporal_patch_size, c->patch_size, c->patch_size),
                                    "visual.patch_embed.proj.weight");
    w->patch_embed_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.patch_embed.proj.bias");
    /* the shape check here is what refuses a table that disagrees with num_position_embeddings */
    w->pos_embed_w = vt_wbind_f32(b, st, VT_DIMS(cfg->num_position_embeddings, C), "visual.pos_embed.weight");
    for (int i = 0; i < c->depth; i++) {
        vt_vision_block_weights *k = &w->blocks[i];
        k->norm1.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm1.weight", i);
        k->norm1.b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm1.bias", i);
        k->norm1.rms = 0;
        k->attn.qkv_w = vt_wbind_mat(b, st, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
        k->attn.qkv_b = vt_wbind_f32(b, st, VT_DIMS(3 * C), "visual.blocks.%d.attn.qkv.bias", i);
        k->attn.proj_w = vt_wbind_mat(b, st, VT_DIMS(C, C), "visual.blocks.%d.attn.proj.weight", i);
        k->attn.proj_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.attn.proj.bias", i);
        k->norm2.w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm2.weight", i);
        k->norm2.b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.norm2.bias", i);
        k->norm2.rms = 0;
        k->fc1_w = vt_wbind_mat(b, st, VT_DIMS(F, C), "visual.blocks.%d.mlp.linear_fc1.weight", i);
        k->fc1_b = vt_wbind_f32(b, st, VT_DIMS(F), "visual.blocks.%d.mlp.linear_fc1.bias", i);
        k->fc2_w = vt_wbind_mat(b, st, VT_DIMS(C, F), "visual.blocks.%d.mlp.linear_fc2.weight", i);
        k->fc2_b = vt_wbind_f32(b, st, VT_DIMS(C), "visual.blocks.%d.mlp.linear_fc2.bias", i);
    }
    bind_merger(&w->merger, b, "visual.merger", C, U, O, 0, st);
    for (int k = 0; k < cfg->n_deepstack; k++) {
        char p[64];
        snprintf(p, sizeof p, "visual.deepstack_merger_list.%d", k);
        bind_merger(&w->deepstack[k], b, p, C, U, O, 1, st);
    }
}

/* A checkpoint with more DeepStack mergers than deepstack_visual_indexes lists is another model. */
static int check_no_extra_merger(const vt_checkpoint *ck, int n, vt_status *st)
{
    char name[VT_NAME_MAX];
    snprintf(name, sizeof name, "visual.deepstack_merger_list.%d.norm.weight", n);
    if (vt_checkpoint_find(ck, name))
        return vt_fail(st, VT_EINPUT, "%s: holds %s, more DeepStack mergers than config.json's %d "
                       "deepstack_visual_indexes", ck->path ? ck->path : "checkpoint", name, n);
    return VT_OK;
}

int vt_qwen3vl_load(vt_qwen3vl_model *m, const vt_qwen3vl_config *config, const vt_checkpoint *ck, vt_status *st)
{
    memset(m, 0, sizeof *m);
    m->cfg = *config;
    const vt_vision_config *cfg = &config->vision;
    if (cfg->depth < 1) return vt_fail(st, VT_EINPUT, "config.json: vision_config.depth %d", cfg->depth);
    m->w.blocks = calloc((size_t)cfg->depth, sizeof *m->w.blocks);
    m->w.deepstack = calloc((size_t)(config->n_deepstack ? config->n_deepstack : 1), sizeof *m->w.deepstack);
    if (!m->w.blocks || !m->w.deepstack) {
        vt_qwen3vl_free(m);
        return vt_fail(st, VT_ERESOURCE, "out of memory for %d blocks", cfg->depth);
    }
    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(&m->w, &b, config, st); /* pass 1: presence and shapes */
    int rc = b.err;
    if (!rc) rc = vt_vision_check_no_extra_block(ck, cfg->depth, st);
    if (!rc) rc = check_no_extra_merger(ck, config->n_deepstack, st);
    if (!rc) rc = vt_wbind_alloc(&b, st);
    if (!rc) {
        bind(&m->w, &b, config, st); /* pass 2: pointers into the buffer, data converted to float32 */
        rc = b.err;
    }
    if (!rc) m->w.buffer = vt_wbind_take(&b);
    vt_wbind_free(&b);
    if (rc) vt_qwen3vl_free(m);
    return rc;
}

void vt_qwen3vl_free(vt_qwen3vl_model *m)
{
    free(m->w.buffer);
    free(m->w.blocks);
    free(m->w.deepstack);
    memset(&m->w, 0, sizeof m->w);
}
