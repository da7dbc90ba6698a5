/*
 * qwen3vl_forward.c -- Qwen3VLVisionModel.forward (transformers 5.0.0.dev0), stage by stage: PatchEmbed
 * with bias, the interpolated position table, the shared Qwen2-style blocks, DeepStack mergers after the
 * chosen blocks, the final merger; and the pipeline from decoded images.
 *
 * Legend: N patches, K = 1536, C hidden_size, H heads, D head_dim, F intermediate_size, U = 4, M = N/U,
 * O out_hidden_size, S segments (cu_seqlens).
 *
 *   pixel_values [N, K]  --patch_embed (+bias)-->        [N, C]        visual.patch_embed
 *   grid_thw [n, 3]      --fast_pos_embed_interpolate--> [4, sum hw]   visual.pos_embed.interp_indices/_weights
 *                                                        [N, C]        visual.pos_embed.interpolated
 *   patch_embed + interpolated                           [N, C]        visual.embeddings
 *                        --rot_pos_emb-->  ids           [N, 2]        visual.rot_pos_ids
 *                                          table         [N, D/2]      visual.rotary_pos_emb
 *                        --cu_seqlens-->                 [S + 1]       visual.cu_seqlens
 *   depth x block        [N, C] -> [N, C]                              visual.blocks.{i}.*
 *     after block deepstack_visual_indexes[k]: view [M, UC] -> norm -> fc1 -> GELU -> fc2  [M, O]
 *                                                                      visual.deepstack_merger_list.{k}.*
 *   merger               norm [N, C] -> view [M, UC] -> fc1 -> GELU -> fc2 [M, O]   visual.merger.*, visual
 *   the DeepStack list                                   [M, O] each   visual.deepstack_features.{j}
 *
 * Full size (Qwen3-VL-2B, a 448x448 image): grid 1x28x28, N = 784 patches of K = 1536 values, C = 1024,
 * H = 16, D = 64, 24 blocks of MLP width 4096, a 48 x 48 position table resampled to 28 x 28, DeepStack
 * after blocks 5, 11 and 17, then 196 merged tokens of O = 2048 (the language model's width), four times
 * (the final merger and three DeepStack features).
 */
#include <stdio.h>
#include <string.h>

#include "core/bugzoo.h"
#include "core/ops.h"
#include "qwen3vl/qwen3vl.h"

/* ======================================== stages ======================================== */

void vt_qwen3vl_patch_embed(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t K, int64_t C)
{
    /* hidden_states.view(-1, 3, 2, 16, 16) -> proj (Conv3d, bias=True) -> .view(-1, C): one patch per
     * output, so a Linear with the kernel read as [C, K] */
    vt_linear(y, x, w, b, N, K, C);
}

int vt_qwen3vl_patch_merger(vt_tensor *y, const float *x, const vt_qwen3vl_merger_weights *w, int64_t N, int C, int U,
                            int O, const char *prefix, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t M = N / U, UC = (int64_t)U * C;
    VT_TRY(vt_tensor_alloc(y, a, VT_F32, VT_DIMS(M, O), st));
    vt_arena_pos mark = vt_arena_mark(a);

    /* x = self.norm(x.view(-1, UC) if self.use_postshuffle_norm else x).view(-1, UC) */
    vt_tensor ln;
    if (w->postshuffle) { /* DeepStack: LayerNorm(UC) over the four patches side by side */
        VT_TRY(vt_tensor_alloc(&ln, a, VT_F32, VT_DIMS(M, UC), st));
        vt_vision_norm_apply(vt_f32(&ln), x, &w->norm, M, UC);
    } else { /* final merger: LayerNorm(C) per patch, then the view */
        VT_TRY(vt_tensor_alloc(&ln, a, VT_F32, VT_DIMS(N, C), st));
        vt_vision_norm_apply(vt_f32(&ln), x, &w->norm, N, C);
    }
    VT_TRY(vt_tap_emitf(tap, st, &ln, "%s.norm", prefix));
    VT_TRY(vt_reshape(&ln, VT_DIMS(M, UC), st));

    /* x = self.linear_fc2(self.act_fn(self.linear_fc1(x))), act_fn = nn.GELU() (erf) */
    vt_tensor h;
    VT_TRY(vt_tensor_alloc(&h, a, VT_F32, VT_DIMS(M, UC), st));
    vt_linear(vt_f32(&h), vt_f32(&ln), w->fc1_w, w->fc1_b, M, UC, UC);
    VT_TRY(vt_tap_emitf(tap, st, &h, "%s.linear_fc1", prefix));
    vt_gelu_erf(vt_f32(&h), vt_f32(&h), M * UC);
    VT_TRY(vt_tap_emitf(tap, st, &h, "%s.act_fn", prefix));
    vt_linear(vt_f32(y), vt_f32(&h), w->fc2_w, w->fc2_b, M, UC, O);
    VT_TRY(vt_tap_emitf(tap, st, y, "%s.linear_fc2", prefix));
    VT_TRY(vt_tap_emit(tap, prefix, y, st));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ======================================== forward ======================================== */

/* hidden = patch_embed(pixels) + fast_pos_embed_interpolate(grid_thw). -> x [N, C] (visual.embeddings) */
static int embeddings(vt_tensor *x, const vt_qwen3vl_model *m, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                      int64_t N, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const vt_vision_config *c = &m->cfg.vision;
    const int C = c->embed_dim;
    const int64_t K = pixel_values->shape[1];
    VT_TRY(vt_tensor_alloc(x, a, VT_F32, VT_DIMS(N, C), st));
    vt_qwen3vl_patch_embed(vt_f32(x), vt_f32(pixel_values), m->w.patch_embed_w, m->w.patch_embed_b, N, K, C);
    VT_TRY(vt_tap_emit(tap, "visual.patch_embed", x, st));

    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor idx, wgt, pos;
    VT_TRY(vt_qwen3vl_pos_interp_weights(&idx, &wgt, grid_thw, m->cfg.pos_side, m->bugs, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.pos_embed.interp_indices", &idx, st));
    VT_TRY(vt_tap_emit(tap, "visual.pos_embed.interp_weights", &wgt, st));
    VT_TRY(vt_qwen3vl_fast_pos_embed_interpolate(&pos, m->w.pos_embed_w, &idx, &wgt, grid_thw, C,
                                                 c->spatial_merge_size, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.pos_embed.interpolated", &pos, st));
    /* hidden_states = hidden_states + pos_embeds */
    float *xs = vt_f32(x);
    const float *ps = vt_f32(&pos);
    for (int64_t i = 0; i < N * C; i++) xs[i] = xs[i] + ps[i];
    vt_arena_reset(a, mark);
    VT_TRY(vt_tap_emit(tap, "visual.embeddings", x, st));
    return VT_OK;
}

int vt_qwen3vl_forward(vt_qwen3vl_output *out, const vt_qwen3vl_model *m, const vt_tensor *pixel_values,
                       const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const vt_qwen3vl_config *cfg = &m->cfg;
    const vt_vision_config *c = &cfg->vision;
    const int C = c->embed_dim, H = c->num_heads, D = C / H, O = c->out_hidden;
    const int U = c->spatial_merge_size * c->spatial_merge_size;
    int64_t N;
    memset(out, 0, sizeof *out);
    VT_TRY(vt_vision_check_inputs(c, pixel_values, grid_thw, &N, st));

    /* the outputs first, so the scratch below can be released in one reset */
    VT_TRY(vt_tensor_alloc(&out->visual, a, VT_F32, VT_DIMS(N / U, O), st));
    int n_feat = 0;
    for (int i = 0; i < c->depth; i++) n_feat += vt_qwen3vl_deepstack_slot(cfg, i) >= 0;
    for (int j = 0; j < n_feat; j++) VT_TRY(vt_tensor_alloc(&out->deepstack[j], a, VT_F32, VT_DIMS(N / U, O), st));
    out->n_deepstack = n_feat;
    vt_arena_pos outer = vt_arena_mark(a);

    vt_tensor x; /* the residual stream [N, C], from the embeddings to the merger */
    VT_TRY(embeddings(&x, m, pixel_values, grid_thw, N, tap, a, st));

    /* rotary_pos_emb = self.rot_pos_emb(grid_thw); position_embeddings = (emb.cos(), emb.sin()) */
    vt_tensor pos_ids, rot;
    VT_TRY(vt_vision_rot_pos_ids(&pos_ids, grid_thw, c->spatial_merge_size, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rot_pos_ids", &pos_ids, st));
    VT_TRY(vt_vision_rot_pos_emb(&rot, &pos_ids, grid_thw, D, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.rotary_pos_emb", &rot, st));
    float *cos, *sin;
    VT_TRY(vt_vision_rotary_cos_sin(&cos, &sin, vt_f32(&rot), N, D, a, st));

    /* cu_seqlens: one segment per image and per temporal patch of a video */
    vt_tensor cu;
    VT_TRY(vt_vision_cu_seqlens(&cu, grid_thw, a, st));
    VT_TRY(vt_tap_emit(tap, "visual.cu_seqlens", &cu, st));
    /* bug zoo, no-segment-mask: cu_seqlens computed (and traced) right, then never used: one segment */
    vt_tensor cu_used = cu;
    VT_BUG_SWITCH(m->bugs, VT_BUG_NO_SEGMENT_MASK, VT_TRY(vt_vision_one_segment(&cu_used, N, a, st)));
    float *mask = NULL;
    if (attn == VT_ATTN_LITERAL)
        VT_TRY(vt_vision_segment_mask(&mask, vt_i32(&cu_used), cu_used.shape[0] - 1, N, a, st));
    vt_vision_segments seg = {vt_i32(&cu_used), cu_used.shape[0] - 1, mask};

    /* for layer_num, blk in enumerate(self.blocks):
     *     hidden_states = blk(hidden_states, cu_seqlens=cu_seqlens, position_embeddings=position_embeddings)
     *     if layer_num in self.deepstack_visual_indexes:
     *         deepstack_feature = self.deepstack_merger_list[self.deepstack_visual_indexes.index(layer_num)](hidden_states)
     *         deepstack_feature_lists.append(deepstack_feature) */
    static const vt_vision_mlp_names names = {"linear_fc1", "act_fn", "linear_fc2"}; /* Qwen3VLVisionMLP */
    vt_vision_ctx cx = {N, C, H, D, cos, sin, attn, tap, a, st, &names};
    int j = 0;
    for (int i = 0; i < c->depth; i++) {
        VT_TRY(vt_vision_block(vt_f32(&x), &m->w.blocks[i], c->hidden_act, c->mlp_hidden, &seg, i, &cx));
        int k = vt_qwen3vl_deepstack_slot(cfg, i);
        if (k >= 0) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "visual.deepstack_merger_list.%d", k);
            vt_arena_pos mk = vt_arena_mark(a);
            vt_tensor f;
            VT_TRY(vt_qwen3vl_patch_merger(&f, vt_f32(&x), &m->w.deepstack[k], N, C, U, O, prefix, tap, a, st));
            memcpy(out->deepstack[j++].data, f.data, vt_nbytes(&f));
            vt_arena_reset(a, mk);
        }
        vt_tap_progress(tap, "block", i, c->depth);
    }

    /* hidden_states = self.merger(hidden_states) */
    vt_tensor merged;
    VT_TRY(vt_qwen3vl_patch_merger(&merged, vt_f32(&x), &m->w.merger, N, C, U, O, "visual.merger", tap, a, st));
    memcpy(out->visual.data, merged.data, vt_nbytes(&merged));
    vt_arena_reset(a, outer);

    /* return hidden_states, deepstack_feature_lists */
    VT_TRY(vt_tap_emit(tap, "visual", &out->visual, st));
    for (int f = 0; f < n_feat; f++) VT_TRY(vt_tap_emitf(tap, st, &out->deepstack[f], "visual.deepstack_features.%d", f));
    return VT_OK;
}

/* ======================================== pipeline ======================================== */

/* Qwen3VLVideoProcessor stacks a video's frames into one [F, 3, H, W] tensor: every frame must be there
 * and have the first frame's size. */
static int check_videos(const vt_processor_video *videos, int n_videos, vt_status *st)
{
    for (int v = 0; v < n_videos; v++) {
        const vt_processor_video *vid = &videos[v];
        if (vid->n_frames < 1) return vt_fail(st, VT_EINPUT, "video %d has no frames", v);
        for (int f = 1; f < vid->n_frames; f++)
            if (vid->frames[f].w != vid->frames[0].w || vid->frames[f].h != vid->frames[0].h)
                return vt_fail(st, VT_EINPUT, "video %d: frame %d is %dx%d but frame 0 is %dx%d (the frames of a video "
                               "must share one size)", v, f, vid->frames[f].w, vid->frames[f].h, vid->frames[0].w,
                               vid->frames[0].h);
    }
    return VT_OK;
}

int vt_qwen3vl_pipeline(vt_qwen3vl_output *out, vt_processor_pixels *px, const vt_qwen3vl_model *m,
                        const vt_image *images, int n_images, const vt_processor_video *videos, int n_videos,
                        const vt_processor_opts *po, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    VT_TRY(check_videos(videos, n_videos, st));
    /* processor(images=..., videos=...): pixel_values, image_grid_thw, pixel_values_videos, video_grid_thw */
    vt_processor_pixels p;
    VT_TRY(vt_processor_preprocess(&p, images, n_images, videos, n_videos, po, tap, a, st));
    if (px) *px = p;
    /* the tower on cat(pixel_values, pixel_values_videos) with cat(image_grid_thw, video_grid_thw) */
    return vt_qwen3vl_forward(out, m, &p.all_pixel_values, &p.all_grid_thw, attn, tap, a, st);
}
