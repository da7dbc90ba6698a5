/*
 * vision.h -- the shared vision layer: what the Qwen2-style vision towers (Qwen2-VL, Qwen2.5-VL and, next,
 * Qwen3-VL) have in common, one function per stage. A family folder (ref/qwen2vl/, ref/qwen25vl/, ...)
 * binds its weights and calls these in its own forward; the stages here know no family.
 *
 * What lives here: the vision_config fields every such tower has (vt_vision_config), the norm / attention /
 * merger / block weight structs, PatchEmbed as a matrix product, the 2D vision rotary (rot_pos_emb,
 * VisionRotaryEmbedding, apply_rotary_pos_emb_vision), cu_seqlens and its literal mask, the attention
 * restricted to segments, the Qwen2-style block (LayerNorm or RMSNorm, qkv, rotary, attention, proj, MLP),
 * and the 2x2 merge view of PatchMerger.
 *
 * May include: ref/core/ and ref/io/ (and this folder). Never a family folder, never trace/.
 *
 *     vt_vision_ctx cx = {N, C, H, D, cos, sin, VT_ATTN_SEGMENTS, tap, &arena, st, NULL};
 *     vt_vision_segments seg = {cu, S, NULL};
 *     for (int i = 0; i < depth; i++) VT_TRY(vt_vision_block(x, &blocks[i], "quick_gelu", F, &seg, i, &cx));
 *
 * Every intermediate goes to the tap under its Hugging Face name (visual.blocks.{i}.*, visual.merger.*);
 * everything is allocated from the caller's arena.
 *
 * Legend (used in every vision_*.c):
 *   N   patches: rows of pixel_values, all images and video time slices concatenated (sum of t*h*w)
 *   K   values per patch = in_channels * temporal_patch_size * patch_size^2 = 3 * 2 * 14 * 14 = 1176
 *   C   embed_dim, the block width (1280)
 *   H   heads (16), D = C / H head_dim (80)
 *   F   MLP hidden width (Qwen2-VL: C * mlp_ratio = 5120)
 *   U   spatial_merge_unit = spatial_merge_size^2 = 4 patches per merged token
 *   O   out_hidden: the merger's output width = the language model's width (1536 for Qwen2-VL-2B)
 *   S   segments of attention (cu_seqlens has S + 1 entries)
 */
#ifndef VT_VISION_H
#define VT_VISION_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "core/ops.h"
#include "core/tap.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "io/weight_spec.h"

/* ======================================== config ======================================== */

/* The vision_config fields every Qwen2-style tower has, under one name each (each family's config.json
 * spells some differently; its parser in the family folder maps them here). */
typedef struct vt_vision_config {
    int depth;               /* 32 */
    int embed_dim;           /* 1280: block width (Qwen2-VL embed_dim; Qwen2.5-VL vision_config.hidden_size) */
    int num_heads;           /* 16 */
    int mlp_hidden;          /* Qwen2-VL embed_dim * mlp_ratio = 5120; Qwen2.5-VL intermediate_size = 3420 */
    int out_hidden;          /* merger output: Qwen2-VL vision_config.hidden_size 1536 (2B); Qwen2.5-VL
                                out_hidden_size 3584 (7B) */
    int in_channels;         /* 3 */
    int patch_size;          /* 14 */
    int temporal_patch_size; /* 2 */
    int spatial_merge_size;  /* 2 */
    char hidden_act[32];     /* "quick_gelu" (Qwen2-VL) / "silu" (Qwen2.5-VL) */
} vt_vision_config;

/* The keys every Qwen2-style vision_config spells alike, with their class defaults: depth 32, num_heads
 * 16, in_channels 3, patch_size 14, temporal_patch_size 2, spatial_merge_size 2. Messages name the key. */
int vt_vision_config_parse_sizes(vt_vision_config *q, const cJSON *vision_config, vt_status *st);

/* The checkpoint tensors of the shared modules, appended to a family's weight list (io/weight_spec.h):
 * PatchEmbed's Conv3d weight [C, in_channels, T, P, P] (no bias); block i's attention qkv [3C, C] + bias and
 * proj [C, C] + bias; PatchMerger's ln_q [C] (+ bias for a LayerNorm), mlp.0 [UC, UC] + bias, mlp.2
 * [O, UC] + bias. */
void vt_vision_patch_embed_specs(vt_weight_list *l, const vt_vision_config *q);
void vt_vision_attn_specs(vt_weight_list *l, int i, int64_t C);
void vt_vision_merger_specs(vt_weight_list *l, int64_t C, int64_t U, int64_t O, int ln_bias);

/* What the shared stages rely on: num_heads divides embed_dim and head_dim is a multiple of 4 (a quarter of
 * it turns with h, a quarter with w). VT_EINPUT naming the field. */
int vt_vision_config_check(const vt_vision_config *c, vt_status *st);

/* ======================================== weights ======================================== */

/* A norm as both families use it: LayerNorm (w and b, Qwen2-VL) or RMSNorm (w only, Qwen2.5-VL). */
typedef struct vt_vision_norm {
    const float *w; /* [C] ...norm1.weight */
    const float *b; /* [C] ...norm1.bias, NULL for RMSNorm */
    int rms;        /* 1: Qwen2RMSNorm, 0: nn.LayerNorm */
} vt_vision_norm;

/* VisionAttention (Qwen2-VL) == Qwen2_5_VLVisionAttention: the same four tensors. */
typedef struct vt_vision_attn_weights {
    vt_mat qkv_w;        /* [3C, C] visual.blocks.*.attn.qkv.weight */
    const float *qkv_b;  /* [3C]    visual.blocks.*.attn.qkv.bias */
    vt_mat proj_w;       /* [C, C]  visual.blocks.*.attn.proj.weight */
    const float *proj_b; /* [C]     visual.blocks.*.attn.proj.bias */
} vt_vision_attn_weights;

/* PatchMerger (both families; ln_q is a LayerNorm in Qwen2-VL, an RMSNorm in Qwen2.5-VL). */
typedef struct vt_vision_merger_weights {
    vt_vision_norm ln_q;      /* [C]      visual.merger.ln_q.weight (.bias) */
    vt_mat mlp0_w;          /* [4C, 4C] visual.merger.mlp.0.weight */
    const float *mlp0_b;    /* [4C]     visual.merger.mlp.0.bias */
    vt_mat mlp2_w;          /* [O, 4C]  visual.merger.mlp.2.weight */
    const float *mlp2_b;    /* [O]      visual.merger.mlp.2.bias */
} vt_vision_merger_weights;

/* Qwen2VLVisionBlock */
typedef struct vt_vision_block_weights {
    vt_vision_norm norm1;         /* [C] visual.blocks.*.norm1.weight, .bias (LayerNorm, eps 1e-6) */
    vt_vision_attn_weights attn;
    vt_vision_norm norm2;         /* [C] visual.blocks.*.norm2.weight, .bias */
    vt_mat fc1_w;               /* [F, C] visual.blocks.*.mlp.fc1.weight */
    const float *fc1_b;         /* [F]    visual.blocks.*.mlp.fc1.bias */
    vt_mat fc2_w;               /* [C, F] visual.blocks.*.mlp.fc2.weight */
    const float *fc2_b;         /* [C]    visual.blocks.*.mlp.fc2.bias */
} vt_vision_block_weights;

/* ======================================== stages ======================================== */

/* Shared by the loaders: "visual.blocks.{depth}.*" must not exist (a checkpoint deeper than its config). */
int vt_vision_check_no_extra_block(const vt_checkpoint *ck, int depth, vt_status *st);

/* ======================================== stages ======================================== */

/* Shapes and validity of grid_thw against pixel_values: int64 [n, 3], each t, h, w >= 1, h and w
 * multiples of spatial_merge_size, sum(t*h*w) == rows of pixel_values, K columns. Returns N in *n_out. */
int vt_vision_check_inputs(const vt_vision_config *c, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                           int64_t *n_out, vt_status *st);

/* mirrors PatchEmbed.forward (Conv3d k = s = (T, P, P) over exactly one patch == a Linear without bias).
 * x [N, K] -> y [N, C] */
void vt_vision_patch_embed(float *y, const float *x, vt_mat w, int64_t N, int64_t K, int64_t C);

/* mirrors rot_pos_emb's position ids: (h, w) of each patch, permuted into merge blocks and repeated t
 * times. grid_thw [n, 3] -> pos_ids int64 [N, 2] */
int vt_vision_rot_pos_ids(vt_tensor *pos_ids, const vt_tensor *grid_thw, int merge, vt_arena *a, vt_status *st);

/* mirrors VisionRotaryEmbedding(dim = D/2).forward(seqlen): freqs[s, i] = s * inv_freq[i],
 * inv_freq[i] = 1 / 10000^(2i / dim), float32. -> freqs [seqlen, D/4] */
void vt_vision_rotary_embedding(float *freqs, int64_t seqlen, int D);

/* mirrors rot_pos_emb: the theta table gathered at pos_ids. pos_ids [N, 2] -> rotary_pos_emb [N, D/2]
 * (first D/4 columns h * inv_freq, last D/4 columns w * inv_freq) */
int vt_vision_rot_pos_emb(vt_tensor *rot, const vt_tensor *pos_ids, const vt_tensor *grid_thw, int D, vt_arena *a,
                        vt_status *st);

/* position_embeddings of the forward: emb = cat(rot, rot); cos = emb.cos(), sin = emb.sin().
 * rot [N, D/2] -> cos, sin [N, D] */
int vt_vision_rotary_cos_sin(float **cos_out, float **sin_out, const float *rot, int64_t N, int D, vt_arena *a,
                           vt_status *st);

/* mirrors apply_rotary_pos_emb_vision on one [N, H, D] operand seen through strides (rotate_half, not
 * interleaved; float32). x (l, h, d) at x + l*row_stride + h*D + d -> y [N, H, D] contiguous */
void vt_vision_apply_rotary(float *y, const float *x, int64_t row_stride, const float *cos, const float *sin,
                          int64_t N, int H, int D);

/* mirrors the forward's cu_seqlens: repeat_interleave(h*w, t).cumsum, padded with a leading 0 (int32).
 * grid_thw [n, 3] -> cu [S + 1], S = sum of t (one segment per image and per video time slice) */
int vt_vision_cu_seqlens(vt_tensor *cu, const vt_tensor *grid_thw, vt_arena *a, vt_status *st);

/* The literal path's mask, as VisionAttention builds it: [N, N] filled with -inf, then 0 on each
 * segment's diagonal block. cu [S + 1] -> mask [N, N] */
int vt_vision_segment_mask(float **mask_out, const int32_t *cu, int64_t S, int64_t N, vt_arena *a, vt_status *st);

/* The bug zoo's no-segment-mask (bugzoo.h): the cu_seqlens a port that never restricts attention
 * effectively uses, one segment [0, N) over everything. -> cu [2] */
int vt_vision_one_segment(vt_tensor *cu, int64_t N, vt_arena *a, vt_status *st);

/* The MLP's module names under visual.blocks.{i}.mlp. (trace names): Qwen2-VL's fc1 / act / fc2 (what
 * NULL in vt_vision_ctx means), Qwen3-VL's linear_fc1 / act_fn / linear_fc2 (Qwen3VLVisionMLP). The
 * arithmetic is the same module: Linear -> hidden_act -> Linear, both with bias. */
typedef struct vt_vision_mlp_names {
    const char *fc1, *act, *fc2;
} vt_vision_mlp_names;

/* What a block's attention needs besides its weights; one per forward (every family). */
typedef struct vt_vision_ctx {
    int64_t N;
    int C, H, D;
    const float *cos, *sin;   /* [N, D] position_embeddings */
    vt_attn_mode attn;
    const vt_tap *tap;
    vt_arena *a;
    vt_status *st;
    const vt_vision_mlp_names *mlp_names; /* NULL: Qwen2-VL's fc1 / act / fc2 ) */
} vt_vision_ctx;

/* Attention restricted to segments: cu [S + 1] and, on the literal path, the [N, N] mask built from it. */
typedef struct vt_vision_segments {
    const int32_t *cu;
    int64_t S;
    const float *mask; /* NULL on the segment path */
} vt_vision_segments;

/* y = norm(x) by the norm's kind (eps 1e-6 in both families). x [N, C] -> y [N, C] */
void vt_vision_norm_apply(float *y, const float *x, const vt_vision_norm *n, int64_t N, int64_t C);

/* mirrors VisionAttention.forward (Qwen2-VL) == Qwen2_5_VLVisionAttention.forward (eager): qkv, rotary on
 * q and k, softmax(q k^T / sqrt(D) + mask) v inside segments, proj. x [N, C] -> y [N, C].
 * Traces visual.blocks.{i}.attn.qkv, .q_rope, .k_rope, .out, .proj. */
int vt_vision_attention(float *y, const float *x, const vt_vision_attn_weights *w, const vt_vision_segments *seg,
                             int block, const vt_vision_ctx *cx);

/* mirrors Qwen2VLVisionBlock.forward (and Qwen3VLVisionBlock.forward): x += attn(norm1(x)); x += mlp(norm2(x))
 * with mlp = fc2(act(fc1(.))), act = hidden_act (QuickGELU in Qwen2-VL, gelu_pytorch_tanh in Qwen3-VL).
 * x [N, C] updated in place. Traces every visual.blocks.{i}.* name, the MLP's as cx->mlp_names says. */
int vt_vision_block(float *x, const vt_vision_block_weights *w, const char *hidden_act, int F,
                         const vt_vision_segments *seg, int block, const vt_vision_ctx *cx);

/* mirrors PatchMerger.forward: ln_q over [N, C], view(-1, U*C), Linear -> GELU (erf) -> Linear.
 * x [N, C] -> y [N/U, O]. Traces visual.merger.ln_q, .mlp.0, .mlp.1, .mlp.2, .mlp and visual.merger. */
int vt_vision_patch_merger(vt_tensor *y, const float *x, const vt_vision_merger_weights *w, int64_t N, int C, int U,
                         int O, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
