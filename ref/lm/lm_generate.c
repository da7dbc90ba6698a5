/*
 * lm_generate.c -- Qwen2VLForConditionalGeneration.forward on the prompt, then greedy decoding (the part of
 * GenerationMixin.generate that greedy search uses: argmax, append, stop at eos). Legend as in lm.h; n
 * generated tokens, j the decoding step.
 *
 *   input_ids [1, L] --embed_tokens--> [L, E] --masked_scatter(image rows, video rows)--> inputs_embeds
 *   get_rope_index(input_ids, grids) --> position_ids [3, 1, L], rope_deltas [1, 1]
 *   vt_lm_forward (prefill, the KV cache filled) --> logits; token 0 = argmax of the last row
 *   step j >= 1: the token's embedding at position L + j - 1 + rope_deltas on all three axes (text after
 *   the prompt continues at max(position_ids) + 1), one row through every layer against the cache
 *
 * Why max + 1 and not L: get_rope_index gives a vision block fewer distinct positions than tokens (a 2x2
 * merged 32x32 image is 256 tokens but spans only 16 positions), so the text after it continues at
 * max + 1 < its sequence index; rope_deltas = max + 1 - L carries that offset to every later token. A
 * decoder that restarts at L (the bug zoo's decode-positions-restart) rotates every generated token as if
 * the image had been 256 positions long.
 */
#include <string.h>

#include "core/bugzoo.h"
#include "lm/lm.h"

vt_lm_generate_opts vt_lm_generate_defaults(const vt_lm_model *m)
{
    vt_lm_generate_opts o;
    memset(&o, 0, sizeof o);
    o.max_new_tokens = 64;
    o.eos = m->cfg.eos_token_id;
    o.n_eos = m->cfg.n_eos;
    return o;
}

/* torch.argmax: the first index of the largest value. */
static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int is_eos(const vt_lm_generate_opts *o, int64_t id)
{
    for (int i = 0; i < o->n_eos; i++)
        if (o->eos[i] == id) return 1;
    return 0;
}

/* get_rope_index on ids [1, n] with the prompt's grids. -> pos [3, 1, n], deltas [1, 1] */
static int rope_index(vt_tensor *pos, vt_tensor *deltas, const vt_lm_model *m, const vt_lm_inputs *in,
                      const vt_tensor *ids, vt_arena *a, vt_status *st)
{
    vt_mrope_inputs ri;
    memset(&ri, 0, sizeof ri);
    ri.input_ids = ids;
    ri.image_grid_thw = in->image_grid_thw;
    ri.video_grid_thw = in->video_grid_thw;
    ri.second_per_grid_ts = in->second_per_grid_ts;
    return vt_mrope_get_rope_index(pos, deltas, &ri, &m->text, a, st);
}

/* The prompt through embed_tokens and masked_scatter -> inputs_embeds [L, E] (traced). */
static int prompt_embeds(float *x, const vt_lm_model *m, const vt_lm_inputs *in, const vt_tap *tap, vt_status *st)
{
    const int64_t L = in->input_ids->shape[1], E = m->text.hidden_size;
    const int64_t *ids = vt_i64(in->input_ids);
    vt_lm_embed_tokens(x, m->w.embed_tokens, ids, L, E);
    vt_tensor t = vt_tensor_of(VT_F32, x, VT_DIMS(1, L, E));
    VT_TRY(vt_tap_emit(tap, "model.embed_tokens", &t, st));
    /* image rows into the <|image_pad|> positions, then video rows into the <|video_pad|> positions */
    VT_TRY(vt_lm_masked_scatter(x, ids, L, E, m->text.image_token_id, in->image_embeds, "Image", st));
    VT_TRY(vt_lm_masked_scatter(x, ids, L, E, m->text.video_token_id, in->video_embeds, "Video", st));
    VT_TRY(vt_tap_emit(tap, "inputs_embeds", &t, st));
    return VT_OK;
}

/* One step without a cache, as the goldens were made: the whole sequence (prompt + tokens so far) again,
 * positions from get_rope_index on it. -> the last row's logits into row. */
static int step_full(float *row, const vt_lm_model *m, const vt_lm_inputs *in, const float *prompt_x,
                     const int64_t *gen, int j, vt_attn_mode attn, vt_arena *a, vt_status *st)
{
    const int64_t L = in->input_ids->shape[1], E = m->text.hidden_size, V = m->cfg.vocab_size, n = L + j;
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor ids, pos, deltas, logits;
    VT_TRY(vt_tensor_alloc(&ids, a, VT_I64, VT_DIMS(1, n), st));
    memcpy(vt_i64(&ids), vt_i64(in->input_ids), (size_t)L * sizeof(int64_t));
    memcpy(vt_i64(&ids) + L, gen, (size_t)j * sizeof(int64_t));
    VT_TRY(rope_index(&pos, &deltas, m, in, &ids, a, st));
    float *x = vt_arena_alloc(a, (size_t)(n * E) * sizeof(float), st);
    if (!x) return st->code;
    memcpy(x, prompt_x, (size_t)(L * E) * sizeof(float));
    vt_lm_embed_tokens(x + L * E, m->w.embed_tokens, gen, j, E);
    vt_lm_cache cache;
    VT_TRY(vt_lm_cache_init(&cache, m, n, a, st));
    VT_TRY(vt_lm_forward(&logits, m, x, vt_i64(&pos), n, &cache, 0, attn, NULL, a, st));
    memcpy(row, vt_f32(&logits), (size_t)V * sizeof(float));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* The position ids of a generated token at sequence index `index` (>= L), on all three axes: HF's cached
 * path uses cache_position + rope_deltas (plain text continuing at max(position_ids) + 1). */
static int64_t decode_position(const vt_lm_model *m, int64_t index, int64_t delta)
{
    int64_t position = index + delta;
    VT_BUG_SWITCH(m->bugs, VT_BUG_DECODE_POSITIONS_RESTART, position = index); /* bug zoo: rope_deltas forgotten */
    return position;
}

/* One step with the cache: token at sequence index cache->len, position p on t, h and w. -> its logits
 * into row. */
static int step_cached(float *row, const vt_lm_model *m, vt_lm_cache *cache, int64_t token, int64_t p,
                       vt_attn_mode attn, vt_arena *a, vt_status *st)
{
    const int64_t E = m->text.hidden_size, V = m->cfg.vocab_size;
    vt_arena_pos mark = vt_arena_mark(a);
    float *x = vt_arena_alloc(a, (size_t)E * sizeof(float), st);
    if (!x) return st->code;
    vt_lm_embed_tokens(x, m->w.embed_tokens, &token, 1, E);
    const int64_t pos3[3] = {p, p, p};
    vt_tensor logits;
    VT_TRY(vt_lm_forward(&logits, m, x, pos3, 1, cache, 0, attn, NULL, a, st));
    memcpy(row, vt_f32(&logits), (size_t)V * sizeof(float));
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_lm_generate(vt_tensor *generated_ids, const vt_lm_model *m, const vt_lm_inputs *in,
                   const vt_lm_generate_opts *o, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t E = m->text.hidden_size, V = m->cfg.vocab_size;
    VT_TRY(vt_lm_check_ids(m, in->input_ids, st));
    const int64_t L = in->input_ids->shape[1];
    const int max_new = o->max_new_tokens;
    if (max_new < 1)
        return vt_fail(st, VT_EINPUT, "max_new_tokens %d: at least one token must be generated", max_new);
    if (L + max_new > m->cfg.max_position_embeddings)
        return vt_fail(st, VT_EINPUT, "max_new_tokens %d: the prompt's %lld tokens plus that many exceed "
                       "max_position_embeddings %lld", max_new, (long long)L, (long long)m->cfg.max_position_embeddings);
    VT_TRY(vt_tap_emit(tap, "input_ids", in->input_ids, st));

    /* what outlives the steps: ids, logits rows and positions of every step, the prompt's embeddings */
    vt_tensor gen, rows, pos_all;
    VT_TRY(vt_tensor_alloc(&gen, a, VT_I64, VT_DIMS(1, max_new), st));
    VT_TRY(vt_tensor_alloc(&rows, a, VT_F32, VT_DIMS(max_new, V), st));
    VT_TRY(vt_tensor_alloc(&pos_all, a, VT_I64, VT_DIMS(3, 1, L + max_new), st));
    float *x = vt_arena_alloc(a, (size_t)(L * E) * sizeof(float), st);
    if (!x) return st->code;

    /* inputs_embeds = embed_tokens(input_ids) with the tower's rows scattered in; then get_rope_index */
    VT_TRY(prompt_embeds(x, m, in, tap, st));
    vt_tensor pos, deltas;
    VT_TRY(rope_index(&pos, &deltas, m, in, in->input_ids, a, st));
    VT_TRY(vt_tap_emit(tap, "position_ids", &pos, st));
    VT_TRY(vt_tap_emit(tap, "rope_deltas", &deltas, st));
    const int64_t delta = vt_i64(&deltas)[0];

    /* the prefill: the prompt through the model, the cache filled (every logits row only when traced) */
    vt_lm_cache cache;
    VT_TRY(vt_lm_cache_init(&cache, m, o->no_cache ? L : L + max_new, a, st));
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor logits;
    const int all = vt_tap_wants(tap, "lm_head");
    VT_TRY(vt_lm_forward(&logits, m, x, vt_i64(&pos), L, &cache, all, attn, tap, a, st));
    memcpy(vt_f32(&rows), vt_f32(&logits) + (all ? (L - 1) * V : 0), (size_t)V * sizeof(float));
    vt_arena_reset(a, mark);

    /* greedy: next token = argmax of the last row; stop after an eos (kept) or max_new_tokens. In P, the
     * position ids of the whole sequence: the prompt's, then each generated token's */
    int64_t *ids = vt_i64(&gen), *P = vt_i64(&pos_all);
    const int64_t Ltot = L + max_new;
    for (int r = 0; r < 3; r++) memcpy(P + r * Ltot, vt_i64(&pos) + r * L, (size_t)L * sizeof(int64_t));
    int n = 0;
    for (;;) {
        const int64_t tok = argmax(vt_f32(&rows) + (int64_t)n * V, V);
        ids[n] = tok;
        for (int r = 0; r < 3; r++) P[r * Ltot + L + n] = decode_position(m, L + n, delta);
        n++;
        if (o->on_token) o->on_token(o->ctx, tok, n - 1, max_new);
        if (is_eos(o, tok) || n == max_new) break;
        float *row = vt_f32(&rows) + (int64_t)n * V;
        if (o->no_cache) VT_TRY(step_full(row, m, in, x, ids, n, attn, a, st));
        else VT_TRY(step_cached(row, m, &cache, tok, P[L + n - 1], attn, a, st));
    }

    /* generate.position_ids [3, 1, L + n] */
    vt_tensor final_pos;
    VT_TRY(vt_tensor_alloc(&final_pos, a, VT_I64, VT_DIMS(3, 1, L + n), st));
    if (o->no_cache) { /* as the goldens record them: get_rope_index of the whole final sequence */
        vt_tensor all_ids, d2;
        VT_TRY(vt_tensor_alloc(&all_ids, a, VT_I64, VT_DIMS(1, L + n), st));
        memcpy(vt_i64(&all_ids), vt_i64(in->input_ids), (size_t)L * sizeof(int64_t));
        memcpy(vt_i64(&all_ids) + L, ids, (size_t)n * sizeof(int64_t));
        VT_TRY(rope_index(&final_pos, &d2, m, in, &all_ids, a, st));
    } else {
        for (int r = 0; r < 3; r++)
            memcpy(vt_i64(&final_pos) + r * (L + n), P + r * Ltot, (size_t)(L + n) * sizeof(int64_t));
    }

    vt_tensor out_ids = vt_tensor_of(VT_I64, ids, VT_DIMS(1, n));
    vt_tensor out_rows = vt_tensor_of(VT_F32, vt_f32(&rows), VT_DIMS(n, V));
    VT_TRY(vt_tap_emit(tap, "generated_ids", &out_ids, st));
    VT_TRY(vt_tap_emit(tap, "generate.logits", &out_rows, st));
    VT_TRY(vt_tap_emit(tap, "generate.position_ids", &final_pos, st));
    *generated_ids = out_ids;
    return VT_OK;
}
