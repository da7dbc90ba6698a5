/*
 * qwen2vl.h -- the Qwen2-VL vision tower (Qwen2VisionTransformerPretrainedModel, transformers 4.51.3),
 * one function per stage, and the stages Qwen2.5-VL (qwen25vl.h) shares with it.
 *
 *     qwen2vl_model m;
 *     VT_TRY(qwen2vl_load(&m, &cfg.qwen2, &ck, st));       // weights from an open checkpoint, shapes checked
 *     vt_arena a; vt_arena_init(&a, 0);
 *     vt_tensor out;                                      // [N / 4, out_hidden], allocated from a
 *     rc = qwen2vl_forward(&m, &pixel_values, &grid_thw, QWEN2VL_ATTN_SEGMENTS, &tap, &a, &out, st);
 *     ... vt_arena_free(&a); qwen2vl_free(&m);
 *
 * The model owns one weight buffer (every field of qwen2vl_weights points into it) and its block array;
 * qwen2vl_free releases both. The forward allocates everything, its output included, from the caller's
 * arena, and reports each intermediate through the tap under its Hugging Face name (TRACE_SPEC.md).
 *
 * Legend (used in every qwen2vl*.c / qwen25vl*.c):
 *   N   patches: rows of pixel_values, all images and video time slices concatenated (sum of t*h*w)
 *   K   values per patch = in_channels * temporal_patch_size * patch_size^2 = 3 * 2 * 14 * 14 = 1176
 *   C   embed_dim, the block width (1280)
 *   H   heads (16), D = C / H head_dim (80)
 *   F   MLP hidden width (Qwen2-VL: C * mlp_ratio = 5120)
 *   U   spatial_merge_unit = spatial_merge_size^2 = 4 patches per merged token
 *   O   out_hidden: the merger's output width = the language model's width (1536 for Qwen2-VL-2B)
 *   S   segments of attention (cu_seqlens has S + 1 entries)
 */
#ifndef VT_QWEN2VL_H
#define VT_QWEN2VL_H

#include <stdint.h>

#include "core/arena.h"
#include "model/config.h"
#include "io/safetensors.h"
#include "core/tap.h"
#include "core/tensor.h"

typedef enum qwen2vl_attn_mode {
    QWEN2VL_ATTN_SEGMENTS = 0, /* walk each segment of cu_seqlens, never forming N x N (the fast path) */
    QWEN2VL_ATTN_LITERAL = 1,  /* the reference's N x N additive mask from cu_seqlens (the teaching path) */
} qwen2vl_attn_mode;

/* ======================================== weights ======================================== */

/* A norm as both families use it: LayerNorm (w and b, Qwen2-VL) or RMSNorm (w only, Qwen2.5-VL). */
typedef struct qwen2vl_norm {
    const float *w; /* [C] ...norm1.weight */
    const float *b; /* [C] ...norm1.bias, NULL for RMSNorm */
    int rms;        /* 1: Qwen2RMSNorm, 0: nn.LayerNorm */
} qwen2vl_norm;

/* VisionAttention (Qwen2-VL) == Qwen2_5_VLVisionAttention: the same four tensors. */
typedef struct qwen2vl_attn_weights {
    const float *qkv_w;  /* [3C, C] visual.blocks.*.attn.qkv.weight */
    const float *qkv_b;  /* [3C]    visual.blocks.*.attn.qkv.bias */
    const float *proj_w; /* [C, C]  visual.blocks.*.attn.proj.weight */
    const float *proj_b; /* [C]     visual.blocks.*.attn.proj.bias */
} qwen2vl_attn_weights;

/* PatchMerger (both families; ln_q is a LayerNorm in Qwen2-VL, an RMSNorm in Qwen2.5-VL). */
typedef struct qwen2vl_merger_weights {
    qwen2vl_norm ln_q;      /* [C]      visual.merger.ln_q.weight (.bias) */
    const float *mlp0_w;    /* [4C, 4C] visual.merger.mlp.0.weight */
    const float *mlp0_b;    /* [4C]     visual.merger.mlp.0.bias */
    const float *mlp2_w;    /* [O, 4C]  visual.merger.mlp.2.weight */
    const float *mlp2_b;    /* [O]      visual.merger.mlp.2.bias */
} qwen2vl_merger_weights;

/* Qwen2VLVisionBlock */
typedef struct qwen2vl_block_weights {
    qwen2vl_norm norm1;         /* [C] visual.blocks.*.norm1.weight, .bias (LayerNorm, eps 1e-6) */
    qwen2vl_attn_weights attn;
    qwen2vl_norm norm2;         /* [C] visual.blocks.*.norm2.weight, .bias */
    const float *fc1_w;         /* [F, C] visual.blocks.*.mlp.fc1.weight */
    const float *fc1_b;         /* [F]    visual.blocks.*.mlp.fc1.bias */
    const float *fc2_w;         /* [C, F] visual.blocks.*.mlp.fc2.weight */
    const float *fc2_b;         /* [C]    visual.blocks.*.mlp.fc2.bias */
} qwen2vl_block_weights;

typedef struct qwen2vl_weights {
    float *buffer;                  /* the one allocation every pointer below points into (owned) */
    const float *patch_embed_w;     /* [C, 3, 2, 14, 14] == [C, K] visual.patch_embed.proj.weight (no bias) */
    qwen2vl_block_weights *blocks;  /* [depth] (owned array) */
    qwen2vl_merger_weights merger;
} qwen2vl_weights;

typedef struct qwen2vl_model {
    vt_qwen2_vision_config cfg;
    qwen2vl_weights w;
    unsigned bugs; /* bug zoo (bugzoo.h): VT_BUG_NO_SEGMENT_MASK; 0 after qwen2vl_load = the reference */
} qwen2vl_model;

/* Bind every tensor of the vision tower by name, shapes from the config; the checkpoint must hold
 * exactly cfg->depth blocks (a missing key, a wrong shape or a block past depth is VT_EINPUT). */
int qwen2vl_load(qwen2vl_model *m, const vt_qwen2_vision_config *cfg, const vt_checkpoint *ck, vt_status *st);
void qwen2vl_free(qwen2vl_model *m);

/* Shared by both families' loaders: "visual.blocks.{depth}.*" must not exist. */
int qwen2vl_check_no_extra_block(const vt_checkpoint *ck, int depth, vt_status *st);

/* ======================================== stages ======================================== */

/* Shapes and validity of grid_thw against pixel_values: int64 [n, 3], each t, h, w >= 1, h and w
 * multiples of spatial_merge_size, sum(t*h*w) == rows of pixel_values, K columns. Returns N in *n_out. */
int qwen2vl_check_inputs(const vt_qwen2_vision_config *c, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                         int64_t *n_out, vt_status *st);

/* mirrors PatchEmbed.forward (Conv3d k = s = (T, P, P) over exactly one patch == a Linear without bias).
 * x [N, K] -> y [N, C] */
void qwen2vl_patch_embed(float *y, const float *x, const float *w, int64_t N, int64_t K, int64_t C);

/* mirrors rot_pos_emb's position ids: (h, w) of each patch, permuted into merge blocks and repeated t
 * times. grid_thw [n, 3] -> pos_ids int64 [N, 2] */
int qwen2vl_rot_pos_ids(vt_tensor *pos_ids, const vt_tensor *grid_thw, int merge, vt_arena *a, vt_status *st);

/* mirrors VisionRotaryEmbedding(dim = D/2).forward(seqlen): freqs[s, i] = s * inv_freq[i],
 * inv_freq[i] = 1 / 10000^(2i / dim), float32. -> freqs [seqlen, D/4] */
void qwen2vl_vision_rotary_embedding(float *freqs, int64_t seqlen, int D);

/* mirrors rot_pos_emb: the theta table gathered at pos_ids. pos_ids [N, 2] -> rotary_pos_emb [N, D/2]
 * (first D/4 columns h * inv_freq, last D/4 columns w * inv_freq) */
int qwen2vl_rot_pos_emb(vt_tensor *rot, const vt_tensor *pos_ids, const vt_tensor *grid_thw, int D, vt_arena *a,
                        vt_status *st);

/* position_embeddings of the forward: emb = cat(rot, rot); cos = emb.cos(), sin = emb.sin().
 * rot [N, D/2] -> cos, sin [N, D] */
int qwen2vl_rotary_cos_sin(float **cos_out, float **sin_out, const float *rot, int64_t N, int D, vt_arena *a,
                           vt_status *st);

/* mirrors apply_rotary_pos_emb_vision on one [N, H, D] operand seen through strides (rotate_half, not
 * interleaved; float32). x (l, h, d) at x + l*row_stride + h*D + d -> y [N, H, D] contiguous */
void qwen2vl_apply_rotary(float *y, const float *x, int64_t row_stride, const float *cos, const float *sin,
                          int64_t N, int H, int D);

/* mirrors the forward's cu_seqlens: repeat_interleave(h*w, t).cumsum, padded with a leading 0 (int32).
 * grid_thw [n, 3] -> cu [S + 1], S = sum of t (one segment per image and per video time slice) */
int qwen2vl_cu_seqlens(vt_tensor *cu, const vt_tensor *grid_thw, vt_arena *a, vt_status *st);

/* The literal path's mask, as VisionAttention builds it: [N, N] filled with -inf, then 0 on each
 * segment's diagonal block. cu [S + 1] -> mask [N, N] */
int qwen2vl_segment_mask(float **mask_out, const int32_t *cu, int64_t S, int64_t N, vt_arena *a, vt_status *st);

/* The bug zoo's no-segment-mask (bugzoo.h): the cu_seqlens a port that never restricts attention
 * effectively uses, one segment [0, N) over everything. -> cu [2] */
int qwen2vl_one_segment(vt_tensor *cu, int64_t N, vt_arena *a, vt_status *st);

/* What a block's attention needs besides its weights; one per forward (both families). */
typedef struct qwen2vl_ctx {
    int64_t N;
    int C, H, D;
    const float *cos, *sin;   /* [N, D] position_embeddings */
    qwen2vl_attn_mode attn;
    const vt_tap *tap;
    vt_arena *a;
    vt_status *st;
} qwen2vl_ctx;

/* Attention restricted to segments: cu [S + 1] and, on the literal path, the [N, N] mask built from it. */
typedef struct qwen2vl_segments {
    const int32_t *cu;
    int64_t S;
    const float *mask; /* NULL on the segment path */
} qwen2vl_segments;

/* y = norm(x) by the norm's kind (eps 1e-6 in both families). x [N, C] -> y [N, C] */
void qwen2vl_norm_apply(float *y, const float *x, const qwen2vl_norm *n, int64_t N, int64_t C);

/* mirrors VisionAttention.forward (Qwen2-VL) == Qwen2_5_VLVisionAttention.forward (eager): qkv, rotary on
 * q and k, softmax(q k^T / sqrt(D) + mask) v inside segments, proj. x [N, C] -> y [N, C].
 * Traces visual.blocks.{i}.attn.qkv, .q_rope, .k_rope, .out, .proj. */
int qwen2vl_vision_attention(float *y, const float *x, const qwen2vl_attn_weights *w, const qwen2vl_segments *seg,
                             int block, const qwen2vl_ctx *cx);

/* mirrors Qwen2VLVisionBlock.forward: x += attn(norm1(x)); x += mlp(norm2(x)) with
 * mlp = fc2(QuickGELU(fc1(.))). x [N, C] updated in place. Traces every visual.blocks.{i}.* name. */
int qwen2vl_vision_block(float *x, const qwen2vl_block_weights *w, const char *hidden_act, int F,
                         const qwen2vl_segments *seg, int block, const qwen2vl_ctx *cx);

/* Elementwise ACT2FN[name] for the names these configs use (quick_gelu, silu, gelu, gelu_pytorch_tanh);
 * VT_EINPUT for another. */
int qwen2vl_activation(float *y, const float *x, int64_t n, const char *name, vt_status *st);
int qwen2vl_activation_known(const char *name);

/* mirrors PatchMerger.forward: ln_q over [N, C], view(-1, U*C), Linear -> GELU (erf) -> Linear.
 * x [N, C] -> y [N/U, O]. Traces visual.merger.ln_q, .mlp.0, .mlp.1, .mlp.2, .mlp and visual.merger. */
int qwen2vl_patch_merger(vt_tensor *y, const float *x, const qwen2vl_merger_weights *w, int64_t N, int C, int U,
                         int O, const vt_tap *tap, vt_arena *a, vt_status *st);

/* ======================================== forward ======================================== */

/* mirrors Qwen2VisionTransformerPretrainedModel.forward(pixel_values, grid_thw).
 * pixel_values float32 [N, K], grid_thw int64 [n, 3] -> out [N/4, O] (allocated from a). */
int qwen2vl_forward(const qwen2vl_model *m, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                    qwen2vl_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_tensor *out, vt_status *st);

#endif
