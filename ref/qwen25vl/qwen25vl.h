/*
 * qwen25vl.h -- the Qwen2.5-VL vision tower (Qwen2_5_VisionTransformerPretrainedModel, transformers 4.51.3).
 *
 *     vt_qwen25vl_model m;
 *     VT_TRY(vt_qwen25vl_load(&m, &cfg.qwen25vl, &ck, st));
 *     rc = vt_qwen25vl_forward(&out, &m, &pixel_values, &grid_thw, VT_ATTN_SEGMENTS, &tap, &a, st);
 *     ... vt_qwen25vl_free(&m);
 *
 * What it shares with Qwen2-VL it calls from the shared vision layer (ref/vision/vision.h): PatchEmbed,
 * rot_pos_emb, the rotary, cu_seqlens, VisionAttention (the same module), PatchMerger (with an RMSNorm
 * ln_q). What is its own:
 *   - RMSNorm (eps 1e-6, variance in float32) in place of every LayerNorm;
 *   - a SwiGLU MLP in every block: down_proj(SiLU(gate_proj(x)) * up_proj(x)), all with biases;
 *   - get_window_index: merged tokens regrouped into windows of window_size / patch / merge = 4 x 4 merged
 *     tokens (8 x 8 patches, 112 x 112 pixels); hidden states and the rotary table reordered into window
 *     order before the blocks; window attention (cu_window_seqlens) in every block except
 *     fullatt_block_indexes, which attend over whole images (cu_seqlens);
 *   - after the merger, the reverse index argsort(window_index) puts the tokens back in image order.
 * May include: ref/core/, ref/io/, ref/vision/, ref/processor/, ref/mrope/, ref/tokenizer/, ref/lm/ (and
 * this folder); never ref/qwen2vl/. Ownership as in qwen2vl.h. Legend as in vision.h, plus: M = N / U merged tokens, W windows,
 * ws = window_size / spatial_merge_size / patch_size merged tokens per window side, I intermediate_size.
 */
#ifndef VT_QWEN25VL_H
#define VT_QWEN25VL_H

#include <cjson/cJSON.h>

#include "io/preproc_config.h"
#include "io/weight_spec.h"
#include "mrope/mrope.h"
#include "processor/processor.h"
#include "vision/vision.h"

/* ======================================== config ======================================== */

#define VT_QWEN25VL_MAX_FULLATT 64

/* config.json's vision_config (Qwen2_5_VLVisionConfig) */
typedef struct vt_qwen25vl_config {
    vt_vision_config vision;   /* depth, embed_dim = hidden_size, num_heads, mlp_hidden = intermediate_size,
                                  out_hidden = out_hidden_size, patch sizes, hidden_act ("silu") */
    int window_size;           /* 112 (pixels) */
    int fullatt_block_indexes[VT_QWEN25VL_MAX_FULLATT]; /* [7, 15, 23, 31] */
    int n_fullatt;
    double tokens_per_second;  /* 2 on the hub (class default 4) */
} vt_qwen25vl_config;

/* Parse config.json's root: vision_config into *c (Qwen2_5_VLVisionConfig's defaults for absent fields,
 * then vt_qwen25vl_check_config), the text-side fields M-RoPE needs into *text. */
int vt_qwen25vl_config_parse(vt_qwen25vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st);
/* The processor settings without preprocessor_config.json (the hub's, with this config's sizes). */
void vt_qwen25vl_preproc_defaults(vt_preproc_config *p, const vt_qwen25vl_config *c);
/* Every tensor of the tower for this config, in module order (`vlmtrace inspect`). */
int vt_qwen25vl_weight_specs(const vt_qwen25vl_config *c, vt_weight_list *l, vt_status *st);

/* ======================================== weights ======================================== */

/* Qwen2_5_VLVisionBlock */
typedef struct vt_qwen25vl_block_weights {
    vt_vision_norm norm1;        /* [C] visual.blocks.*.norm1.weight (RMSNorm) */
    vt_vision_attn_weights attn; /* as Qwen2-VL */
    vt_vision_norm norm2;        /* [C] visual.blocks.*.norm2.weight (RMSNorm) */
    vt_mat gate_w;             /* [I, C] visual.blocks.*.mlp.gate_proj.weight */
    const float *gate_b;       /* [I]    visual.blocks.*.mlp.gate_proj.bias */
    vt_mat up_w;               /* [I, C] visual.blocks.*.mlp.up_proj.weight */
    const float *up_b;         /* [I]    visual.blocks.*.mlp.up_proj.bias */
    vt_mat down_w;             /* [C, I] visual.blocks.*.mlp.down_proj.weight */
    const float *down_b;       /* [C]    visual.blocks.*.mlp.down_proj.bias */
} vt_qwen25vl_block_weights;

typedef struct vt_qwen25vl_weights {
    float *buffer;                  /* the one allocation every pointer points into (owned) */
    vt_mat patch_embed_w;           /* [C, 3, 2, 14, 14] visual.patch_embed.proj.weight */
    vt_qwen25vl_block_weights *blocks; /* [depth] (owned array) */
    vt_vision_merger_weights merger;  /* ln_q is an RMSNorm: visual.merger.ln_q.weight only */
} vt_qwen25vl_weights;

typedef struct vt_qwen25vl_model {
    vt_qwen25vl_config cfg;
    vt_qwen25vl_weights w;
    unsigned bugs; /* bug zoo (bugzoo.h): VT_BUG_NO_SEGMENT_MASK, VT_BUG_FULLATT_AS_STRINGS,
                      VT_BUG_NO_REVERSE_INDEX; 0 after vt_qwen25vl_load = the reference */
} vt_qwen25vl_model;

/* The config checks of this family (window_size a multiple of patch_size * spatial_merge_size, every
 * fullatt_block_indexes entry in [0, depth)), then the weights as vt_qwen2vl_load does. */
int vt_qwen25vl_check_config(const vt_qwen25vl_config *cfg, vt_status *st);
int vt_qwen25vl_load(vt_qwen25vl_model *m, const vt_qwen25vl_config *cfg, const vt_checkpoint *ck, vt_status *st);
void vt_qwen25vl_free(vt_qwen25vl_model *m);

/* ======================================== windows ======================================== */

/* mirrors get_window_index. grid_thw [n, 3] -> window_index int64 [M] (merged-token permutation into
 * window order), cu_raw int32 [W + 1] (cumulative window lengths in patches, before deduplication;
 * empty padding windows repeat the previous value). ws = window_size / merge / patch. */
int vt_qwen25vl_get_window_index(vt_tensor *window_index, vt_tensor *cu_raw, const vt_tensor *grid_thw, int ws,
                              int merge, vt_arena *a, vt_status *st);

/* mirrors torch.unique_consecutive on an int32 vector: runs of equal values collapse to one. */
int vt_qwen25vl_unique_consecutive(vt_tensor *out, const vt_tensor *in, vt_arena *a, vt_status *st);

/* mirrors x.reshape(M, U, -1)[window_index].reshape(N, -1): rows gathered in units of U rows.
 * src [M*U, width] -> dst [M*U, width] */
void vt_qwen25vl_window_reorder(float *dst, const float *src, const int64_t *window_index, int64_t M, int U,
                             int64_t width);

/* mirrors torch.argsort(window_index): the inverse permutation. window_index [M] -> reverse [M] */
void vt_qwen25vl_argsort(int64_t *reverse, const int64_t *window_index, int64_t M);

/* `layer_num in self.fullatt_block_indexes`, with integers. */
int vt_qwen25vl_is_fullatt(const vt_qwen25vl_config *cfg, int layer);
/* The bug zoo's fullatt-as-strings (bugzoo.h): the same test with the layer's name, a string, against the
 * integer list, as a port iterating an nn.ModuleDict does: `"1" in [1, 3]` is False, always. */
int vt_qwen25vl_is_fullatt_as_string(const vt_qwen25vl_config *cfg, int layer);

/* ======================================== stages ======================================== */

/* mirrors Qwen2_5_VLMLP.forward: down_proj(act_fn(gate_proj(x)) * up_proj(x)). x [N, C] -> y [N, C].
 * Traces visual.blocks.{i}.mlp.gate_proj, .act_fn, .up_proj, .down_proj. */
int vt_qwen25vl_mlp(float *y, const float *x, const vt_qwen25vl_block_weights *w, const char *hidden_act, int I, int block,
                 const vt_vision_ctx *cx);

/* mirrors Qwen2_5_VLVisionBlock.forward: x += attn(norm1(x)); x += mlp(norm2(x)). x [N, C] in place. */
int vt_qwen25vl_vision_block(float *x, const vt_qwen25vl_block_weights *w, const char *hidden_act, int I,
                          const vt_vision_segments *seg, int block, const vt_vision_ctx *cx);

/* mirrors Qwen2_5_VisionTransformerPretrainedModel.forward(pixel_values, grid_thw) -> out [M, O], in the
 * original (image) order. */
int vt_qwen25vl_forward(vt_tensor *out, const vt_qwen25vl_model *m, const vt_tensor *pixel_values,
                        const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

/* The whole vision side from decoded images, as Qwen2_5_VLProcessor + the tower compute it:
 * Qwen2VLImageProcessor (processor.h) on the images, then the videos; second_per_grid_ts =
 * temporal_patch_size / fps per video (traced, float32 [n_videos], for M-RoPE; fps [n_videos], NULL when
 * there are no videos); then the forward on cat(pixel_values, pixel_values_videos). -> out [M, O] in image
 * order; *px (may be NULL) receives the processor's outputs. Everything is allocated from a. */
int vt_qwen25vl_pipeline(vt_tensor *out, vt_processor_pixels *px, const vt_qwen25vl_model *m, const vt_image *images,
                         int n_images, const vt_processor_video *videos, const double *fps, int n_videos,
                         const vt_processor_opts *po, vt_attn_mode attn, const vt_tap *tap, vt_arena *a,
                         vt_status *st);

#endif
