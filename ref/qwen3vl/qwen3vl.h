/*
 * qwen3vl.h -- the Qwen3-VL vision tower (Qwen3VLVisionModel, transformers 5.0.0.dev0 modeling_qwen3_vl.py):
 * its config, its weights and its forward. What it shares with Qwen2-VL (the 2D rotary, cu_seqlens, the
 * LayerNorm / qkv / attention / MLP block) comes from the shared vision layer (ref/vision/vision.h); its
 * image processor is Qwen2VLImageProcessor (ref/processor/processor.h) with patch 16 and mean = std = 0.5.
 *
 *     vt_qwen3vl_model m;
 *     VT_TRY(vt_qwen3vl_load(&m, &cfg.qwen3vl, &ck, st));   // weights from an open checkpoint, shapes checked
 *     vt_arena a; vt_arena_init(&a, 0);
 *     vt_qwen3vl_output out;                               // visual [M, O] and deepstack[k] [M, O], from a
 *     rc = vt_qwen3vl_forward(&out, &m, &pixel_values, &grid_thw, VT_ATTN_SEGMENTS, &tap, &a, st);
 *     ... vt_arena_free(&a); vt_qwen3vl_free(&m);
 *
 * or, from decoded images to the tower's outputs, vt_qwen3vl_pipeline (the processor, then the forward).
 *
 * What is new against Qwen2-VL / Qwen2.5-VL (docs/qwen3vl.md says why):
 *   - PatchEmbed has a bias; patches are 16 x 16 (K = 3 * 2 * 16 * 16 = 1536 values).
 *   - a learned side x side position table (48 x 48 at full size) interpolated bilinearly to every grid
 *     (fast_pos_embed_interpolate, with torch's float32 linspace) and added to the patch embeddings;
 *   - the MLP is linear_fc1 -> gelu_pytorch_tanh -> linear_fc2; no windows;
 *   - DeepStack: after each block in deepstack_visual_indexes its own merger (LayerNorm after the 2x2
 *     view) gives a feature the language model adds to its hidden states; the final merger has the
 *     LayerNorm before the view. The tower returns (visual, deepstack list).
 *
 * The model owns one weight buffer (every pointer in vt_qwen3vl_weights points into it) and its block
 * and merger arrays; vt_qwen3vl_free releases them. The forward allocates everything, its outputs included,
 * from the caller's arena and reports each intermediate through the tap under its Hugging Face name
 * (docs/trace-spec.md): visual.patch_embed, visual.pos_embed.*, visual.embeddings, visual.rot_pos_ids, ...
 *
 * May include: ref/core/, ref/io/, ref/vision/, ref/processor/, ref/mrope/ (and this folder).
 *
 * Legend (every qwen3vl_*.c): N patches (rows of pixel_values), K = 1536 values per patch, C hidden_size
 * (block width), H heads, D = C / H head_dim, F intermediate_size, U = 4 patches per merged token,
 * M = N / U merged tokens, O out_hidden_size, G = side (sqrt of num_position_embeddings), S = sum of h*w
 * over the grids (one position table per item, shared by a video's temporal patches).
 */
#ifndef VT_QWEN3VL_H
#define VT_QWEN3VL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "core/tap.h"
#include "core/tensor.h"
#include "io/preproc_config.h"
#include "io/safetensors.h"
#include "io/weight_spec.h"
#include "mrope/mrope.h"
#include "processor/processor.h"
#include "vision/vision.h"

/* At most this many DeepStack taps (3 in every published Qwen3-VL). */
#define VT_QWEN3VL_MAX_DEEPSTACK 64

/* ======================================== config ======================================== */

/* config.json's vision_config (Qwen3VLVisionConfig). */
typedef struct vt_qwen3vl_config {
    vt_vision_config vision;     /* depth, embed_dim = hidden_size, num_heads, mlp_hidden = intermediate_size,
                                    out_hidden = out_hidden_size, patch 16, temporal 2, merge 2,
                                    hidden_act "gelu_pytorch_tanh" */
    int num_position_embeddings; /* 2304 */
    int pos_side;                /* 48 = sqrt(num_position_embeddings): the table is pos_side x pos_side */
    int n_deepstack;             /* 3 */
    int deepstack_visual_indexes[VT_QWEN3VL_MAX_DEEPSTACK]; /* [5, 11, 17] (2B), [8, 16, 24] (8B) */
} vt_qwen3vl_config;

/* Parse config.json's root object: vision_config into *c (absent fields take Qwen3VLVisionConfig's
 * defaults) and text_config's M-RoPE fields into *text (vt_mrope_qwen3_config_parse). Refused, naming the
 * field: a deepstack_visual_indexes entry outside [0, depth), a num_position_embeddings that is not a
 * square, and what the shared vision layer needs (vt_vision_config_check). */
int vt_qwen3vl_config_parse(vt_qwen3vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st);

/* The processor settings when the model directory has no preprocessor_config.json: the hub's
 * (patch 16, merge 2, temporal 2, mean = std = 0.5, min_pixels 65536, max_pixels 16777216). */
void vt_qwen3vl_preproc_defaults(vt_preproc_config *p, const vt_qwen3vl_config *c);

/* Every tensor of the tower for this config, in module order, canonical names (`vlmtrace inspect`). */
int vt_qwen3vl_weight_specs(const vt_qwen3vl_config *c, vt_weight_list *l, vt_status *st);

/* k such that deepstack_visual_indexes[k] == block (the first such k, as list.index does), or -1. */
int vt_qwen3vl_deepstack_slot(const vt_qwen3vl_config *c, int block);

/* ======================================== weights ======================================== */

/* Qwen3VLVisionPatchMerger: the final merger (norm over C, before the view) and each DeepStack merger
 * (use_postshuffle_norm: norm over U*C, after the view). */
typedef struct vt_qwen3vl_merger_weights {
    vt_vision_norm norm;     /* [C] or [U*C]  ...norm.weight, .bias (LayerNorm, eps 1e-6) */
    const float *fc1_w;      /* [UC, UC]      ...linear_fc1.weight */
    const float *fc1_b;      /* [UC]          ...linear_fc1.bias */
    const float *fc2_w;      /* [O, UC]       ...linear_fc2.weight */
    const float *fc2_b;      /* [O]           ...linear_fc2.bias */
    int postshuffle;         /* 1: DeepStack merger (norm after the view) */
} vt_qwen3vl_merger_weights;

typedef struct vt_qwen3vl_weights {
    float *buffer;                          /* the one allocation every pointer below points into (owned) */
    const float *patch_embed_w;             /* [C, 3, 2, 16, 16] == [C, K] visual.patch_embed.proj.weight */
    const float *patch_embed_b;             /* [C] visual.patch_embed.proj.bias */
    const float *pos_embed_w;               /* [G*G, C] visual.pos_embed.weight (row-major G x G table) */
    vt_vision_block_weights *blocks;        /* [depth] (owned array); fc1/fc2 are mlp.linear_fc1/linear_fc2 */
    vt_qwen3vl_merger_weights merger;       /* visual.merger.* */
    vt_qwen3vl_merger_weights *deepstack;   /* [n_deepstack] visual.deepstack_merger_list.{k}.* (owned array) */
} vt_qwen3vl_weights;

typedef struct vt_qwen3vl_model {
    vt_qwen3vl_config cfg;
    vt_qwen3vl_weights w;
    unsigned bugs; /* bug zoo (core/bugzoo.h): VT_BUG_NO_SEGMENT_MASK, VT_BUG_ALIGN_CORNERS_FALSE; 0 after
                      vt_qwen3vl_load = the reference */
} vt_qwen3vl_model;

/* Bind every tensor of the vision tower by name (published keys model.visual.*; visual.* also accepted),
 * shapes from the config: a missing key, a wrong shape (a position table that is not
 * num_position_embeddings x hidden_size, say) or a block past depth is VT_EINPUT naming the key. */
int vt_qwen3vl_load(vt_qwen3vl_model *m, const vt_qwen3vl_config *cfg, const vt_checkpoint *ck, vt_status *st);
void vt_qwen3vl_free(vt_qwen3vl_model *m);

/* ======================================== stages ======================================== */

/* mirrors torch.linspace(start, end, n) for float32 on the CPU exactly (RangeFactoriesKernel.cpp, AVX2
 * build): step = (end - start) / (n - 1) in float32; the first n - n % 16 values in vectors of 8 as
 * base + j*step with base = fma(step, i0, start) below n/2, fma(-step, n-1-i0, end) from there; the rest
 * one at a time the same way. n == 1 gives start. -> out [n] */
void vt_qwen3vl_linspace(float *out, int64_t n, float start, float end);

/* mirrors Qwen3VLVisionPatchEmbed.forward: Conv3d(3, C, k = s = (2, 16, 16), bias=True) on one patch per
 * row == x [N, K] @ W^T + b. -> y [N, C] */
void vt_qwen3vl_patch_embed(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t K, int64_t C);

/* mirrors the index/weight half of fast_pos_embed_interpolate: per item (t, h, w) the four corner rows of
 * the G x G table and their bilinear weights for each of its h*w grid points (row-major), float32 as torch
 * computes them. grid_thw [n, 3] -> idx int64 [4, S], wgt float32 [4, S]. bugs: VT_BUG_ALIGN_CORNERS_FALSE
 * (bugzoo.h: F.interpolate's half-pixel sampling instead of the linspace over the corners). */
int vt_qwen3vl_pos_interp_weights(vt_tensor *idx, vt_tensor *wgt, const vt_tensor *grid_thw, int side, unsigned bugs,
                                  vt_arena *a, vt_status *st);

/* mirrors the rest of fast_pos_embed_interpolate: E[idx] * wgt summed over the corners (in corner order),
 * each item's h*w table repeated t times and permuted into merge-block order
 * (view(t, h/m, m, w/m, m, C).permute(0, 1, 3, 2, 4, 5)). pos_embed_w [G*G, C] -> out [N, C] */
int vt_qwen3vl_fast_pos_embed_interpolate(vt_tensor *out, const float *pos_embed_w, const vt_tensor *idx,
                                          const vt_tensor *wgt, const vt_tensor *grid_thw, int C, int merge,
                                          vt_arena *a, vt_status *st);

/* mirrors Qwen3VLVisionPatchMerger.forward: norm (over C before the view, or over U*C after it when
 * postshuffle), view(-1, U*C), linear_fc1 -> GELU (erf) -> linear_fc2. x [N, C] -> y [N/U, O] (allocated
 * from a). Traces <prefix>.norm, .linear_fc1, .act_fn, .linear_fc2 and <prefix>. */
int vt_qwen3vl_patch_merger(vt_tensor *y, const float *x, const vt_qwen3vl_merger_weights *w, int64_t N, int C, int U,
                            int O, const char *prefix, const vt_tap *tap, vt_arena *a, vt_status *st);

/* ======================================== forward ======================================== */

/* The tower's two return values. */
typedef struct vt_qwen3vl_output {
    vt_tensor visual;                               /* [M, O] the final merger's output */
    int n_deepstack;                                /* features taken (one per distinct DeepStack block) */
    vt_tensor deepstack[VT_QWEN3VL_MAX_DEEPSTACK];  /* [M, O] each, in block order */
} vt_qwen3vl_output;

/* mirrors Qwen3VLVisionModel.forward(hidden_states, grid_thw) -> (visual, deepstack_feature_lists).
 * pixel_values float32 [N, K], grid_thw int64 [n, 3] -> out (allocated from a). */
int vt_qwen3vl_forward(vt_qwen3vl_output *out, const vt_qwen3vl_model *m, const vt_tensor *pixel_values,
                       const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

/* The whole vision side from decoded images: Qwen2VLImageProcessor (processor.h, with this family's
 * settings in po) on the images, then the videos, then the forward on cat(pixel_values,
 * pixel_values_videos). A video with no frames, or whose frames differ in size, is VT_EINPUT (Qwen3-VL's
 * video processor stacks the frames of a video into one tensor). *px (optional) receives the processor's
 * outputs, allocated from a. */
int vt_qwen3vl_pipeline(vt_qwen3vl_output *out, vt_processor_pixels *px, const vt_qwen3vl_model *m,
                        const vt_image *images, int n_images, const vt_processor_video *videos, int n_videos,
                        const vt_processor_opts *po, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
