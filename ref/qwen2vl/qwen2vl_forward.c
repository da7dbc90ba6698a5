/*
 * qwen2vl_forward.c -- Qwen2VisionTransformerPretrainedModel.forward (transformers 4.51.3), stage by stage.
 *
 * Legend: N patches, K = 1176, C embed_dim, H heads, D head_dim, U = 4, O out_hidden, S segments.
 *
 *   pixel_values [N, K]  --patch_embed-->               [N, C]        visual.patch_embed
 *   grid_thw [n, 3]      --rot_pos_emb-->  ids          [N, 2]        visual.rot_pos_ids
 *                                          table        [N, D/2]      visual.rotary_pos_emb
 *                        --cu_seqlens-->                [S + 1]       visual.cu_seqlens
 *   depth x block        [N, C] -> [N, C]                             visual.blocks.{i}.*
 *   merger               [N, C] -> [N/U, U*C] -> [N/U, O]             visual.merger.*, visual
 *
 * Full size (Qwen2-VL-2B, a 448x448 image): grid 1x32x32, N = 1024 patches of K = 1176 values, C = 1280,
 * H = 16, D = 80, 32 blocks of MLP width 5120, then 256 merged tokens of O = 1536.
 */
#include "core/bugzoo.h"
#include "qwen2vl/qwen2vl.h"

int vt_qwen2vl_forward(vt_tensor *out, const vt_qwen2vl_model *m, const vt_tensor *pixel_values,
                       const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const vt_vision_config *c = &m->cfg.vision;
    const int C = c->embed_dim, H = c->num_heads, D = C / H, O = c->out_hidden;
    const int U = c->spatial_merge_size * c->spatial_merge_size;
    const int64_t K = pixel_values->ndim == 2 ? pixel_values->shape[1] : 0;
    int64_t N;
    VT_TRY(vt_vision_check_inputs(c, pixel_values, grid_thw, &N, st));

    /* hidden_states = self.patch_embed(hidden_states): [N, K] -> [N, C] (x lives until the merger) */
    vt_tensor x;
    VT_TRY(vt_tensor_alloc(&x, a, VT_F32, VT_DIMS(N, C), st));
    vt_vision_patch_embed(vt_f32(&x), vt_f32(pixel_values), m->w.patch_embed_w, N, K, C);
    VT_TRY(vt_tap_emit(tap, "visual.patch_embed", &x, st));

    vt_arena_pos mark = vt_arena_mark(a);
    /* rotary_pos_emb = self.rot_pos_emb(grid_thw) */
    vt_tensor pos_ids, rot;
    VT_TRY(vt_vision_rot_pos_ids(&pos_ids, grid_thw, c->spatial_merge_size, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rot_pos_ids", &pos_ids, st));
    VT_TRY(vt_vision_rot_pos_emb(&rot, &pos_ids, grid_thw, D, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rotary_pos_emb", &rot, st));
    /* emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1); position_embeddings = (emb.cos(), emb.sin()) */
    float *cos, *sin;
    VT_TRY(vt_vision_rotary_cos_sin(&cos, &sin, vt_f32(&rot), N, D, a, st));

    /* cu_seqlens: one segment per image and per video time slice */
    vt_tensor cu;
    VT_TRY(vt_vision_cu_seqlens(&cu, grid_thw, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.cu_seqlens", &cu, st));
    /* bug zoo, no-segment-mask: cu_seqlens computed (and traced) right, then never used: one segment */
    vt_tensor cu_used = cu;
    VT_BUG_SWITCH(m->bugs, VT_BUG_NO_SEGMENT_MASK, VT_TRY(vt_vision_one_segment(&cu_used, N, a, st)));
    float *mask = NULL; /* the literal path's [N, N] mask, built once for every block */
    if (attn == VT_ATTN_LITERAL)
        VT_TRY(vt_vision_segment_mask(&mask, vt_i32(&cu_used), cu_used.shape[0] - 1, N, a, st));
    vt_vision_segments seg = {vt_i32(&cu_used), cu_used.shape[0] - 1, mask};

    /* for blk in self.blocks: hidden_states = blk(hidden_states, cu_seqlens, position_embeddings) */
    vt_vision_ctx cx = {N, C, H, D, cos, sin, attn, tap, a, st};
    for (int i = 0; i < c->depth; i++) {
        VT_TRY(vt_vision_block(vt_f32(&x), &m->w.blocks[i], c->hidden_act, c->mlp_hidden, &seg, i, &cx));
        vt_tap_progress(tap, "block", i, c->depth);
    }
    vt_arena_reset(a, mark);

    /* return self.merger(hidden_states): [N, C] -> [N/U, O] */
    VT_TRY(vt_vision_patch_merger(out, vt_f32(&x), &m->w.merger, N, C, U, O, tap, a, st));
    VT_TRY(vt_tap_emit(tap, "visual", out, st));
    return VT_OK;
}

int vt_qwen2vl_pipeline(vt_tensor *out, vt_processor_pixels *px, const vt_qwen2vl_model *m, const vt_image *images,
                        int n_images, const vt_processor_video *videos, int n_videos, const vt_processor_opts *po,
                        vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    /* processor(images=..., videos=...): pixel_values, image_grid_thw, pixel_values_videos, video_grid_thw */
    vt_processor_pixels p;
    VT_TRY(vt_processor_preprocess(&p, images, n_images, videos, n_videos, po, tap, a, st));
    if (px) *px = p;
    /* the tower on cat(pixel_values, pixel_values_videos) with cat(image_grid_thw, video_grid_thw) */
    return vt_qwen2vl_forward(out, m, &p.all_pixel_values, &p.all_grid_thw, attn, tap, a, st);
}
