/*
 * qwen25vl_forward.c -- Qwen2_5_VLVisionBlock, its SwiGLU MLP and
 * Qwen2_5_VisionTransformerPretrainedModel.forward (transformers 4.51.3).
 *
 * Legend: N patches, C hidden_size, H heads, D head_dim, I intermediate_size, U = 4, M = N / U merged
 * tokens, O out_hidden_size.
 *
 *   pixel_values [N, K] --patch_embed--> [N, C]                        visual.patch_embed      (image order)
 *   rot_pos_emb          ids [N, 2], table [N, D/2]                    visual.rot_pos_ids, visual.rotary_pos_emb
 *   get_window_index     window_index [M], cu_window_seqlens            visual.window_index
 *   x, table reordered: x.reshape(M, U, C)[window_index].reshape(N, C)  visual.patch_embed.windowed (window order)
 *   blocks               window attention, or full in fullatt_block_indexes   visual.cu_window_seqlens,
 *                                                                       visual.cu_seqlens (each at first use)
 *   merger               [N, C] -> [M, O]                               visual.merger.*        (window order)
 *   reverse index        out[argsort(window_index)]                     visual.merger.unwindowed, visual
 *
 * Full size (Qwen2.5-VL-7B): C = 1280, H = 16, D = 80, I = 3420, 32 blocks, full attention in blocks 7, 15,
 * 23 and 31, O = 3584.
 */
#include <string.h>

#include "core/bugzoo.h"
#include "core/ops.h"
#include "qwen25vl/qwen25vl.h"

/* ======================================== stages ======================================== */

int vt_qwen25vl_mlp(float *y, const float *x, const vt_qwen25vl_block_weights *w, const char *hidden_act, int I, int block,
                 const vt_vision_ctx *cx)
{
    const int64_t N = cx->N;
    const int C = cx->C;
    vt_status *st = cx->st;
    vt_arena_pos mark = vt_arena_mark(cx->a);
    float *g = vt_arena_alloc(cx->a, (size_t)(N * I) * sizeof(float), st);
    float *u = g ? vt_arena_alloc(cx->a, (size_t)(N * I) * sizeof(float), st) : NULL;
    if (!u) return st->code;
    vt_tensor t = vt_view2(g, N, I);
    vt_linear_mat(g, x, w->gate_w, w->gate_b, N, C, I);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.mlp.gate_proj", block));
    VT_TRY(vt_activation(g, g, N * I, hidden_act, st)); /* act_fn = SiLU */
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.mlp.act_fn", block));
    vt_linear_mat(u, x, w->up_w, w->up_b, N, C, I);
    t = vt_view2(u, N, I);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.mlp.up_proj", block));
    for (int64_t j = 0; j < N * I; j++) g[j] = g[j] * u[j]; /* act_fn(gate_proj(x)) * up_proj(x) */
    vt_linear_mat(y, g, w->down_w, w->down_b, N, I, C);
    t = vt_view2(y, N, C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.mlp.down_proj", block));
    vt_arena_reset(cx->a, mark);
    return VT_OK;
}

int vt_qwen25vl_vision_block(float *x, const vt_qwen25vl_block_weights *w, const char *hidden_act, int I,
                          const vt_vision_segments *seg, int block, const vt_vision_ctx *cx)
{
    const int64_t N = cx->N;
    const int C = cx->C;
    vt_status *st = cx->st;
    vt_arena_pos mark = vt_arena_mark(cx->a);
    float *h = vt_arena_alloc(cx->a, (size_t)(N * C) * sizeof(float), st);
    float *y = h ? vt_arena_alloc(cx->a, (size_t)(N * C) * sizeof(float), st) : NULL;
    if (!y) return st->code;
    vt_tensor th = vt_view2(h, N, C), ty = vt_view2(y, N, C), tx = vt_view2(x, N, C);

    /* hidden_states = hidden_states + self.attn(self.norm1(hidden_states), ...) */
    vt_vision_norm_apply(h, x, &w->norm1, N, C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &th, "visual.blocks.%d.norm1", block));
    VT_TRY(vt_vision_attention(y, h, &w->attn, seg, block, cx));
    VT_TRY(vt_tap_emitf(cx->tap, st, &ty, "visual.blocks.%d.attn", block));
    for (int64_t j = 0; j < N * C; j++) x[j] = x[j] + y[j];

    /* hidden_states = hidden_states + self.mlp(self.norm2(hidden_states)) */
    vt_vision_norm_apply(h, x, &w->norm2, N, C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &th, "visual.blocks.%d.norm2", block));
    VT_TRY(vt_qwen25vl_mlp(y, h, w, hidden_act, I, block, cx));
    VT_TRY(vt_tap_emitf(cx->tap, st, &ty, "visual.blocks.%d.mlp", block));
    for (int64_t j = 0; j < N * C; j++) x[j] = x[j] + y[j];
    VT_TRY(vt_tap_emitf(cx->tap, st, &tx, "visual.blocks.%d", block));
    vt_arena_reset(cx->a, mark);
    return VT_OK;
}

/* ======================================== forward ======================================== */

int vt_qwen25vl_forward(vt_tensor *out, const vt_qwen25vl_model *m, const vt_tensor *pixel_values,
                        const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const vt_vision_config *c = &m->cfg.vision;
    const int C = c->embed_dim, H = c->num_heads, D = C / H, O = c->out_hidden;
    const int U = c->spatial_merge_size * c->spatial_merge_size;
    const int ws = m->cfg.window_size / c->spatial_merge_size / c->patch_size; /* vit_merger_window_size */
    int64_t N;
    VT_TRY(vt_qwen25vl_check_config(&m->cfg, st));
    VT_TRY(vt_vision_check_inputs(c, pixel_values, grid_thw, &N, st));
    const int64_t M = N / U, K = pixel_values->shape[1];

    /* the final output, in image order, lives in the caller's arena */
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(M, O), st));
    vt_arena_pos mark = vt_arena_mark(a);

    /* hidden_states = self.patch_embed(hidden_states); rotary_pos_emb = self.rot_pos_emb(grid_thw) */
    vt_tensor x, pos_ids, rot;
    VT_TRY(vt_tensor_alloc(&x, a, VT_F32, VT_DIMS(N, C), st));
    vt_vision_patch_embed(vt_f32(&x), vt_f32(pixel_values), m->w.patch_embed_w, N, K, C);
    VT_TRY(vt_tap_emit(tap, "visual.patch_embed", &x, st));
    VT_TRY(vt_vision_rot_pos_ids(&pos_ids, grid_thw, c->spatial_merge_size, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rot_pos_ids", &pos_ids, st));
    VT_TRY(vt_vision_rot_pos_emb(&rot, &pos_ids, grid_thw, D, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rotary_pos_emb", &rot, st));

    /* window_index, cu_window_seqlens = self.get_window_index(grid_thw);
     * cu_window_seqlens = torch.unique_consecutive(torch.tensor(cu_window_seqlens, dtype=torch.int32)) */
    vt_tensor window_index, cu_raw, cu_win;
    VT_TRY(vt_qwen25vl_get_window_index(&window_index, &cu_raw, grid_thw, ws, c->spatial_merge_size, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.window_index", &window_index, st));
    VT_TRY(vt_qwen25vl_unique_consecutive(&cu_win, &cu_raw, a, st));

    /* hidden_states.reshape(M, U, -1)[window_index, :, :].reshape(N, -1); the same for rotary_pos_emb */
    vt_tensor xw, rotw;
    VT_TRY(vt_tensor_alloc(&xw, a, VT_F32, VT_DIMS(N, C), st));
    VT_TRY(vt_tensor_alloc(&rotw, a, VT_F32, VT_DIMS(N, D / 2), st));
    vt_qwen25vl_window_reorder(vt_f32(&xw), vt_f32(&x), vt_i64(&window_index), M, U, C);
    vt_qwen25vl_window_reorder(vt_f32(&rotw), vt_f32(&rot), vt_i64(&window_index), M, U, D / 2);
    VT_TRY(vt_tap_emit(tap, "visual.patch_embed.windowed", &xw, st));
    float *cos, *sin; /* position_embeddings = (emb.cos(), emb.sin()) of the reordered table */
    VT_TRY(vt_vision_rotary_cos_sin(&cos, &sin, vt_f32(&rotw), N, D, a, st));

    /* cu_seqlens as in Qwen2-VL: one segment per image and video time slice */
    vt_tensor cu_full;
    VT_TRY(vt_vision_cu_seqlens(&cu_full, grid_thw, a, st));
    /* bug zoo, no-segment-mask: both computed (and traced) right, then both kinds of block attend over
     * one segment [0, N) */
    vt_tensor cu_w = cu_win, cu_f = cu_full; /* the segments the blocks attend within */
    VT_BUG_SWITCH(m->bugs, VT_BUG_NO_SEGMENT_MASK, VT_TRY(vt_vision_one_segment(&cu_f, N, a, st)); cu_w = cu_f);
    vt_vision_segments win = {vt_i32(&cu_w), cu_w.shape[0] - 1, NULL};
    vt_vision_segments full = {vt_i32(&cu_f), cu_f.shape[0] - 1, NULL};
    if (attn == VT_ATTN_LITERAL) { /* one N x N mask per kind, built once */
        float *mw, *mf;
        VT_TRY(vt_vision_segment_mask(&mw, win.cu, win.S, N, a, st));
        VT_TRY(vt_vision_segment_mask(&mf, full.cu, full.S, N, a, st));
        win.mask = mw;
        full.mask = mf;
    }

    /* for layer_num, blk in enumerate(self.blocks):
     *     cu_seqlens_now = cu_seqlens if layer_num in self.fullatt_block_indexes else cu_window_seqlens */
    vt_vision_ctx cx = {N, C, H, D, cos, sin, attn, tap, a, st, NULL};
    int traced_win = 0, traced_full = 0; /* each cu tensor is traced where a block first takes it */
    for (int i = 0; i < c->depth; i++) {
        int is_full = vt_qwen25vl_is_fullatt(&m->cfg, i);
        VT_BUG_SWITCH(m->bugs, VT_BUG_FULLATT_AS_STRINGS, is_full = vt_qwen25vl_is_fullatt_as_string(&m->cfg, i));
        if (is_full && !traced_full++) VT_TRY(vt_tap_emit(tap, "visual.cu_seqlens", &cu_full, st));
        if (!is_full && !traced_win++) VT_TRY(vt_tap_emit(tap, "visual.cu_window_seqlens", &cu_win, st));
        VT_TRY(vt_qwen25vl_vision_block(vt_f32(&xw), &m->w.blocks[i], c->hidden_act, c->mlp_hidden,
                                     is_full ? &full : &win, i, &cx));
        vt_tap_progress(tap, "block", i, c->depth);
    }
    if (!traced_win) VT_TRY(vt_tap_emit(tap, "visual.cu_window_seqlens", &cu_win, st));
    if (!traced_full) VT_TRY(vt_tap_emit(tap, "visual.cu_seqlens", &cu_full, st));

    /* hidden_states = self.merger(hidden_states): [N, C] -> [M, O], still in window order */
    vt_tensor merged;
    VT_TRY(vt_vision_patch_merger(&merged, vt_f32(&xw), &m->w.merger, N, C, U, O, tap, a, st));

    /* reverse_indices = torch.argsort(window_index); hidden_states = hidden_states[reverse_indices, :] */
    int64_t *reverse = vt_arena_alloc(a, (size_t)M * sizeof(int64_t), st);
    if (!reverse) return st->code;
    vt_qwen25vl_argsort(reverse, vt_i64(&window_index), M);
    /* bug zoo, no-reverse-index: the reorder forgotten, tokens stay in window order */
    VT_BUG_SWITCH(m->bugs, VT_BUG_NO_REVERSE_INDEX, for (int64_t j = 0; j < M; j++) reverse[j] = j);
    for (int64_t j = 0; j < M; j++)
        memcpy(vt_f32(out) + j * O, vt_f32(&merged) + reverse[j] * O, (size_t)O * sizeof(float));
    VT_TRY(vt_tap_emit(tap, "visual.merger.unwindowed", out, st));
    VT_TRY(vt_tap_emit(tap, "visual", out, st));
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_qwen25vl_pipeline(vt_tensor *out, vt_processor_pixels *px, const vt_qwen25vl_model *m, const vt_image *images,
                         int n_images, const vt_processor_video *videos, const double *fps, int n_videos,
                         const vt_processor_opts *po, vt_attn_mode attn, const vt_tap *tap, vt_arena *a,
                         vt_status *st)
{
    vt_processor_pixels p;
    VT_TRY(vt_processor_preprocess(&p, images, n_images, videos, n_videos, po, tap, a, st));
    if (px) *px = p;
    /* Qwen2_5_VLProcessor: second_per_grid_ts = [temporal_patch_size / fps] per video (Python floats, kept as
     * float32), what get_rope_index turns into absolute time */
    if (n_videos > 0) {
        vt_tensor ts;
        VT_TRY(vt_tensor_alloc(&ts, a, VT_F32, VT_DIMS(n_videos), st));
        for (int v = 0; v < n_videos; v++) vt_f32(&ts)[v] = (float)((double)po->temporal_patch_size / fps[v]);
        VT_TRY(vt_tap_emit(tap, "second_per_grid_ts", &ts, st));
    }
    return vt_qwen25vl_forward(out, m, &p.all_pixel_values, &p.all_grid_thw, attn, tap, a, st);
}
