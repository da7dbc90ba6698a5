/*
 * lm_weights.c -- the language model's weights: every tensor bound by its hub name, its shape taken from
 * config.json, all in one buffer (vt_wbind's two passes). Matrices stay as stored (BF16 kept BF16, widened
 * inside the kernel; vt_wbind_mat), vectors become float32. Legend as in lm.h.
 *
 *   model.embed_tokens.weight                        [V, E]
 *   model.layers.{i}.input_layernorm.weight          [E]
 *   model.layers.{i}.self_attn.q_proj.weight / bias  [HD, E] / [HD]
 *   model.layers.{i}.self_attn.k_proj.weight / bias  [GD, E] / [GD]
 *   model.layers.{i}.self_attn.v_proj.weight / bias  [GD, E] / [GD]
 *   model.layers.{i}.self_attn.o_proj.weight         [E, HD]
 *   model.layers.{i}.post_attention_layernorm.weight [E]
 *   model.layers.{i}.mlp.gate_proj / up_proj.weight  [F, E]
 *   model.layers.{i}.mlp.down_proj.weight            [E, F]
 *   model.norm.weight                                [E]
 *   lm_head.weight                                   [V, E]   (absent when tie_word_embeddings)
 * (transformers >= 4.52 saves them as model.language_model.*; the checkpoint reader finds either.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/lm.h"

int vt_lm_present(const vt_checkpoint *ck) { return ck->n_lm > 0; }

static void bind(vt_lm_weights *w, vt_wbind *b, const vt_lm_config *c, const vt_mrope_config *t, vt_status *st)
{
    const int64_t V = c->vocab_size, E = t->hidden_size, D = t->head_dim, F = c->intermediate_size;
    const int64_t HD = (int64_t)t->num_attention_heads * D, GD = (int64_t)t->num_key_value_heads * D;
    w->embed_tokens = vt_wbind_mat(b, st, VT_DIMS(V, E), "model.embed_tokens.weight");
    for (int i = 0; i < c->num_hidden_layers; i++) {
        vt_lm_layer_weights *l = &w->layers[i];
        l->input_layernorm_w = vt_wbind_f32(b, st, VT_DIMS(E), "model.layers.%d.input_layernorm.weight", i);
        l->q_proj_w = vt_wbind_mat(b, st, VT_DIMS(HD, E), "model.layers.%d.self_attn.q_proj.weight", i);
        l->q_proj_b = vt_wbind_f32(b, st, VT_DIMS(HD), "model.layers.%d.self_attn.q_proj.bias", i);
        l->k_proj_w = vt_wbind_mat(b, st, VT_DIMS(GD, E), "model.layers.%d.self_attn.k_proj.weight", i);
        l->k_proj_b = vt_wbind_f32(b, st, VT_DIMS(GD), "model.layers.%d.self_attn.k_proj.bias", i);
        l->v_proj_w = vt_wbind_mat(b, st, VT_DIMS(GD, E), "model.layers.%d.self_attn.v_proj.weight", i);
        l->v_proj_b = vt_wbind_f32(b, st, VT_DIMS(GD), "model.layers.%d.self_attn.v_proj.bias", i);
        l->o_proj_w = vt_wbind_mat(b, st, VT_DIMS(E, HD), "model.layers.%d.self_attn.o_proj.weight", i);
        l->post_attention_layernorm_w =
            vt_wbind_f32(b, st, VT_DIMS(E), "model.layers.%d.post_attention_layernorm.weight", i);
        l->gate_proj_w = vt_wbind_mat(b, st, VT_DIMS(F, E), "model.layers.%d.mlp.gate_proj.weight", i);
        l->up_proj_w = vt_wbind_mat(b, st, VT_DIMS(F, E), "model.layers.%d.mlp.up_proj.weight", i);
        l->down_proj_w = vt_wbind_mat(b, st, VT_DIMS(E, F), "model.layers.%d.mlp.down_proj.weight", i);
    }
    w->norm_w = vt_wbind_f32(b, st, VT_DIMS(E), "model.norm.weight");
    /* tie_word_embeddings: lm_head.weight IS model.embed_tokens.weight (one Parameter; the file has no copy) */
    w->lm_head = c->tie_word_embeddings ? w->embed_tokens : vt_wbind_mat(b, st, VT_DIMS(V, E), "lm_head.weight");
}

/* "model.layers.{Nl}.*" must not exist: a checkpoint deeper than its config is as inconsistent as one
 * shallower (which the binder reports as a missing key). */
static int check_no_extra_layer(const vt_checkpoint *ck, int n_layers, vt_status *st)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "layers.%d.", n_layers); /* the canonical form of model.layers.{n}. */
    const size_t k = strlen(prefix);
    for (int i = 0; i < ck->n; i++)
        if (ck->t[i].lm && strncmp(ck->t[i].canon, prefix, k) == 0)
            return vt_fail(st, VT_EINPUT, "%s: %s: the checkpoint has more layers than config.json's "
                           "num_hidden_layers %d", ck->path ? ck->path : "checkpoint", ck->t[i].name, n_layers);
    return VT_OK;
}

int vt_lm_load(vt_lm_model *m, const vt_lm_config *cfg, const vt_mrope_config *text, const vt_checkpoint *ck,
               vt_status *st)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->text = *text;
    if (!vt_lm_present(ck))
        return vt_fail(st, VT_EINPUT, "%s: no language model in this checkpoint (model.embed_tokens.weight, "
                       "model.layers.*, model.norm.weight%s are missing; it holds the vision tower only)",
                       ck->path ? ck->path : "checkpoint", cfg->tie_word_embeddings ? "" : ", lm_head.weight");
    m->w.layers = calloc((size_t)cfg->num_hidden_layers, sizeof *m->w.layers);
    if (!m->w.layers) return vt_fail(st, VT_ERESOURCE, "out of memory for %d layers", cfg->num_hidden_layers);
    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(&m->w, &b, cfg, text, st); /* pass 1: presence and shapes */
    int rc = b.err;
    if (!rc) rc = check_no_extra_layer(ck, cfg->num_hidden_layers, st);
    if (!rc) rc = vt_wbind_alloc(&b, st);
    if (!rc) {
        bind(&m->w, &b, cfg, text, st); /* pass 2: pointers into the buffer, data loaded */
        rc = b.err;
    }
    if (!rc) m->w.buffer = vt_wbind_take(&b);
    vt_wbind_free(&b);
    if (rc) vt_lm_free(m);
    return rc;
}

void vt_lm_free(vt_lm_model *m)
{
    free(m->w.buffer);
    free(m->w.layers);
    memset(&m->w, 0, sizeof m->w);
}
