/*
 * lm_forward.c -- the language model's forward (Qwen2VLModel.forward + lm_head, transformers 4.51.3) and
 * the stages in front of it: embed_tokens, masked_scatter, the rotary tables, the KV cache. Legend as in
 * lm.h.
 *
 *   inputs_embeds [L, E], position_ids [3, L]
 *     --Qwen2VLRotaryEmbedding--> cos3, sin3 [3, L, D]       model.rotary_emb.cos / .sin
 *     --mrope_section split-->    cos, sin   [L, D]          mrope.cos / mrope.sin
 *     --Nl decoder layers-->                 [L, E]          model.layers.{i}.*
 *     --model.norm-->                        [L, E]          model.norm
 *     --lm_head-->                           [L, V]          lm_head
 *
 * Full size (Qwen2-VL-2B, one 448x448 image and a 30-token question): L = 256 image tokens + ~50 = ~300,
 * E = 1536, 12 heads of D = 128 over 2 key/value heads, F = 8960, 28 layers, V = 151936: the prefill is
 * about 2 * 1.3e9 multiply-adds per token in the layers plus 2.3e8 per logits row in lm_head.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/bugzoo.h"
#include "lm/lm.h"

/* ======================================== the KV cache ======================================== */

int vt_lm_cache_init(vt_lm_cache *c, const vt_lm_model *m, int64_t cap, vt_arena *a, vt_status *st)
{
    const int Nl = m->cfg.num_hidden_layers;
    const int64_t GD = (int64_t)m->text.num_key_value_heads * m->text.head_dim;
    memset(c, 0, sizeof *c);
    if (cap < 1 || (uint64_t)cap > SIZE_MAX / 2 / sizeof(float) / (uint64_t)GD / (uint64_t)Nl)
        return vt_fail(st, VT_EINPUT, "a KV cache of %lld positions does not fit in memory", (long long)cap);
    c->k = vt_arena_alloc(a, (size_t)Nl * sizeof(float *), st);
    c->v = c->k ? vt_arena_alloc(a, (size_t)Nl * sizeof(float *), st) : NULL;
    float *buf = c->v ? vt_arena_alloc(a, (size_t)(2 * Nl) * (size_t)(cap * GD) * sizeof(float), st) : NULL;
    if (!buf) return vt_wrap(st, "the KV cache (%lld positions x %d layers): ", (long long)cap, Nl);
    for (int i = 0; i < Nl; i++) {
        c->k[i] = buf + (size_t)(2 * i) * (size_t)(cap * GD);
        c->v[i] = buf + (size_t)(2 * i + 1) * (size_t)(cap * GD);
    }
    c->cap = cap;
    c->len = 0;
    return VT_OK;
}

/* ======================================== inputs ======================================== */

int vt_lm_check_ids(const vt_lm_model *m, const vt_tensor *ids, vt_status *st)
{
    char sb[160];
    if (ids->dtype != VT_I64 || ids->ndim != 2 || ids->shape[0] != 1)
        return vt_fail(st, VT_EINPUT, "input_ids: %s %s, expected int64 [1, L] (a batch of one)",
                       vt_dtype_name(ids->dtype), vt_shape_str(sb, sizeof sb, ids->ndim, ids->shape));
    const int64_t L = ids->shape[1];
    if (L == 0) return vt_fail(st, VT_EINPUT, "input_ids is empty: the prompt needs at least one token");
    if (L > m->cfg.max_position_embeddings)
        return vt_fail(st, VT_EINPUT, "input_ids: %lld tokens, more than max_position_embeddings %lld", (long long)L,
                       (long long)m->cfg.max_position_embeddings);
    const int64_t *v = vt_i64(ids);
    for (int64_t l = 0; l < L; l++)
        if (v[l] < 0 || v[l] >= m->cfg.vocab_size)
            return vt_fail(st, VT_EINPUT, "input_ids[0, %lld] = %lld is outside the vocabulary (vocab_size %d)",
                           (long long)l, (long long)v[l], m->cfg.vocab_size);
    return VT_OK;
}

/* ======================================== stages ======================================== */

void vt_lm_embed_tokens(float *x, vt_mat table, const int64_t *ids, int64_t L, int64_t E)
{
    for (int64_t l = 0; l < L; l++) {
        float *x_l = x + l * E;
        if (table.f32) memcpy(x_l, table.f32 + ids[l] * E, (size_t)E * sizeof(float));
        else /* a BF16 table in panel order (gemm.h): the row gathered and widened (exactly) */
            for (int64_t e = 0; e < E; e++) x_l[e] = vt_mat_at(table, E, ids[l], e);
    }
}

int vt_lm_masked_scatter(float *x, const int64_t *ids, int64_t L, int64_t E, int64_t token_id, const vt_tensor *rows,
                         const char *what, vt_status *st)
{
    int64_t n_tokens = 0;
    for (int64_t l = 0; l < L; l++) n_tokens += ids[l] == token_id;
    const int64_t n_rows = rows ? rows->shape[0] : 0;
    /* n_image_tokens != n_image_features: HF raises before scattering anything */
    if (n_tokens != n_rows) {
        char lower[16];
        snprintf(lower, sizeof lower, "%s", what);
        if (lower[0] >= 'A' && lower[0] <= 'Z') lower[0] = (char)(lower[0] - 'A' + 'a');
        return vt_fail(st, VT_EINPUT, "%s features and %s tokens do not match: tokens: %lld, features %lld (token id "
                       "%lld in input_ids against the vision tower's rows for the grids given)", what, lower,
                       (long long)n_tokens, (long long)n_rows, (long long)token_id);
    }
    if (!rows) return VT_OK;
    if (rows->dtype != VT_F32 || rows->ndim != 2 || rows->shape[1] != E)
        return vt_fail(st, VT_EINPUT, "%s features: expected float32 [n, %lld] (the tower's out_hidden must equal "
                       "hidden_size)", what, (long long)E);
    /* inputs_embeds.masked_scatter(mask, features): the k-th masked position gets row k, in sequence order */
    int64_t k = 0;
    for (int64_t l = 0; l < L; l++)
        if (ids[l] == token_id) memcpy(x + l * E, vt_f32(rows) + (k++) * E, (size_t)E * sizeof(float));
    return VT_OK;
}

/* The bug zoo's mrope-section-order (bugzoo.h): the (t, h, w) rows of the tables handed to the split in the
 * order (w, h, t), so the mrope_section chunks take their angles from the wrong axes. */
static void swap_t_w(float *x3, int64_t L, int D)
{
    float *t = x3, *w = x3 + 2 * L * D;
    for (int64_t i = 0; i < L * D; i++) {
        float s = t[i];
        t[i] = w[i];
        w[i] = s;
    }
}

int vt_lm_rotary(float **cos, float **sin, const vt_lm_model *m, const int64_t *position_ids, int64_t L,
                 const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int D = m->text.head_dim;
    float inv_freq[VT_MROPE_MAX_HEAD_DIM / 2];
    VT_ASSERT(D <= VT_MROPE_MAX_HEAD_DIM);
    vt_mrope_inv_freq(inv_freq, D, m->text.rope_theta);
    /* Qwen2VLRotaryEmbedding.forward: per axis, freqs = inv_freq * position, emb = cat(freqs, freqs) */
    vt_tensor c3, s3, c, s;
    VT_TRY(vt_tensor_alloc(&c3, a, VT_F32, VT_DIMS(3, 1, L, D), st));
    VT_TRY(vt_tensor_alloc(&s3, a, VT_F32, VT_DIMS(3, 1, L, D), st));
    vt_mrope_rotary_embedding(vt_f32(&c3), vt_f32(&s3), inv_freq, position_ids, 1, L, D);
    VT_TRY(vt_tap_emit(tap, "model.rotary_emb.cos", &c3, st));
    VT_TRY(vt_tap_emit(tap, "model.rotary_emb.sin", &s3, st));
    /* bug zoo, mrope-section-order: the axes handed to the split as (w, h, t) */
    VT_BUG_SWITCH(m->bugs, VT_BUG_MROPE_SECTION_ORDER, swap_t_w(vt_f32(&c3), L, D), swap_t_w(vt_f32(&s3), L, D));
    /* apply_multimodal_rotary_pos_emb: chunks of mrope_section * 2 channels take axis t, h, w, t, h, w */
    VT_TRY(vt_tensor_alloc(&c, a, VT_F32, VT_DIMS(1, 1, L, D), st));
    VT_TRY(vt_tensor_alloc(&s, a, VT_F32, VT_DIMS(1, 1, L, D), st));
    vt_mrope_section_split(vt_f32(&c), vt_f32(&c3), m->text.mrope_section, 1, L, D);
    vt_mrope_section_split(vt_f32(&s), vt_f32(&s3), m->text.mrope_section, 1, L, D);
    VT_TRY(vt_tap_emit(tap, "mrope.cos", &c, st));
    VT_TRY(vt_tap_emit(tap, "mrope.sin", &s, st));
    *cos = vt_f32(&c);
    *sin = vt_f32(&s);
    return VT_OK;
}

/* ======================================== forward ======================================== */

int vt_lm_forward(vt_tensor *logits, const vt_lm_model *m, const float *inputs_embeds, const int64_t *position_ids,
                  int64_t L, vt_lm_cache *cache, int all_logits, vt_attn_mode attn, const vt_tap *tap, vt_arena *a,
                  vt_status *st)
{
    const int64_t E = m->text.hidden_size, V = m->cfg.vocab_size;
    const int Nl = m->cfg.num_hidden_layers;
    if (cache->len + L > cache->cap)
        return vt_fail(st, VT_EINPUT, "the KV cache holds %lld positions; %lld more do not fit", (long long)cache->cap,
                       (long long)L);
    /* the logits come first in the arena: they outlive everything else this call allocates */
    const int64_t n = all_logits ? L : 1;
    VT_TRY(vt_tensor_alloc(logits, a, VT_F32, VT_DIMS(n, V), st));
    vt_arena_pos mark = vt_arena_mark(a);

    /* hidden_states = inputs_embeds; position_embeddings = self.rotary_emb(hidden_states, position_ids) */
    float *x = vt_arena_alloc(a, (size_t)(L * E) * sizeof(float), st);
    if (!x) return st->code;
    memcpy(x, inputs_embeds, (size_t)(L * E) * sizeof(float));
    float *cos, *sin;
    VT_TRY(vt_lm_rotary(&cos, &sin, m, position_ids, L, tap, a, st));

    /* for decoder_layer in self.layers: hidden_states = decoder_layer(hidden_states, ...) */
    vt_lm_ctx cx = {L, cos, sin, cache, attn, tap, a, st};
    for (int i = 0; i < Nl; i++) {
        VT_TRY(vt_lm_decoder_layer(x, m, i, &cx));
        vt_tap_progress(tap, "layer", i, Nl);
    }
    cache->len += L; /* every layer has appended its L keys and values */

    /* hidden_states = self.norm(hidden_states) */
    vt_rmsnorm(x, x, m->w.norm_w, L, E, (float)m->cfg.rms_norm_eps);
    vt_tensor t = vt_tensor_of(VT_F32, x, VT_DIMS(1, L, E));
    VT_TRY(vt_tap_emit(tap, "model.norm", &t, st));

    /* logits = self.lm_head(hidden_states): every row when asked for (the trace), else only the last,
     * which is all greedy decoding reads (the same chain per element either way) */
    vt_linear_mat(vt_f32(logits), x + (L - n) * E, m->w.lm_head, NULL, n, E, V);
    if (all_logits) {
        t = vt_tensor_of(VT_F32, vt_f32(logits), VT_DIMS(1, L, V));
        VT_TRY(vt_tap_emit(tap, "lm_head", &t, st));
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}
