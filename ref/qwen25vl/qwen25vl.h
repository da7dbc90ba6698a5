/*
 * qwen25vl.h -- the Qwen2.5-VL vision tower (Qwen2_5_VisionTransformerPretrainedModel, transformers 4.51.3).
 *
 *     qwen25vl_model m;
 *     VT_TRY(qwen25vl_load(&m, &cfg.qwen2, &ck, st));
 *     rc = qwen25vl_forward(&m, &pixel_values, &grid_thw, QWEN2VL_ATTN_SEGMENTS, &tap, &a, &out, st);
 *     ... qwen25vl_free(&m);
 *
 * What it shares with Qwen2-VL it calls from qwen2vl.h: PatchEmbed, rot_pos_emb, the rotary, cu_seqlens,
 * VisionAttention (the same module), PatchMerger (with an RMSNorm ln_q). What is its own:
 *   - RMSNorm (eps 1e-6, variance in float32) in place of every LayerNorm;
 *   - a SwiGLU MLP in every block: down_proj(SiLU(gate_proj(x)) * up_proj(x)), all with biases;
 *   - get_window_index: merged tokens regrouped into windows of window_size / patch / merge = 4 x 4 merged
 *     tokens (8 x 8 patches, 112 x 112 pixels); hidden states and the rotary table reordered into window
 *     order before the blocks; window attention (cu_window_seqlens) in every block except
 *     fullatt_block_indexes, which attend over whole images (cu_seqlens);
 *   - after the merger, the reverse index argsort(window_index) puts the tokens back in image order.
 * Ownership as in qwen2vl.h. Legend as in qwen2vl.h, plus: M = N / U merged tokens, W windows,
 * ws = window_size / spatial_merge_size / patch_size merged tokens per window side, I intermediate_size.
 */
#ifndef VT_QWEN25VL_H
#define VT_QWEN25VL_H

#include "qwen2vl/qwen2vl.h"

/* ======================================== weights ======================================== */

/* Qwen2_5_VLVisionBlock */
typedef struct qwen25vl_block_weights {
    qwen2vl_norm norm1;        /* [C] visual.blocks.*.norm1.weight (RMSNorm) */
    qwen2vl_attn_weights attn; /* as Qwen2-VL */
    qwen2vl_norm norm2;        /* [C] visual.blocks.*.norm2.weight (RMSNorm) */
    const float *gate_w;       /* [I, C] visual.blocks.*.mlp.gate_proj.weight */
    const float *gate_b;       /* [I]    visual.blocks.*.mlp.gate_proj.bias */
    const float *up_w;         /* [I, C] visual.blocks.*.mlp.up_proj.weight */
    const float *up_b;         /* [I]    visual.blocks.*.mlp.up_proj.bias */
    const float *down_w;       /* [C, I] visual.blocks.*.mlp.down_proj.weight */
    const float *down_b;       /* [C]    visual.blocks.*.mlp.down_proj.bias */
} qwen25vl_block_weights;

typedef struct qwen25vl_weights {
    float *buffer;                  /* the one allocation every pointer points into (owned) */
    const float *patch_embed_w;     /* [C, 3, 2, 14, 14] visual.patch_embed.proj.weight */
    qwen25vl_block_weights *blocks; /* [depth] (owned array) */
    qwen2vl_merger_weights merger;  /* ln_q is an RMSNorm: visual.merger.ln_q.weight only */
} qwen25vl_weights;

typedef struct qwen25vl_model {
    vt_qwen2_vision_config cfg;
    qwen25vl_weights w;
    unsigned bugs; /* bug zoo (bugzoo.h): VT_BUG_NO_SEGMENT_MASK, VT_BUG_FULLATT_AS_STRINGS,
                      VT_BUG_NO_REVERSE_INDEX; 0 after qwen25vl_load = the reference */
} qwen25vl_model;

/* The config checks of this family (window_size a multiple of patch_size * spatial_merge_size, every
 * fullatt_block_indexes entry in [0, depth)), then the weights as qwen2vl_load does. */
int qwen25vl_check_config(const vt_qwen2_vision_config *cfg, vt_status *st);
int qwen25vl_load(qwen25vl_model *m, const vt_qwen2_vision_config *cfg, const vt_checkpoint *ck, vt_status *st);
void qwen25vl_free(qwen25vl_model *m);

/* ======================================== windows ======================================== */

/* mirrors get_window_index. grid_thw [n, 3] -> window_index int64 [M] (merged-token permutation into
 * window order), cu_raw int32 [W + 1] (cumulative window lengths in patches, before deduplication;
 * empty padding windows repeat the previous value). ws = window_size / merge / patch. */
int qwen25vl_get_window_index(vt_tensor *window_index, vt_tensor *cu_raw, const vt_tensor *grid_thw, int ws,
                              int merge, vt_arena *a, vt_status *st);

/* mirrors torch.unique_consecutive on an int32 vector: runs of equal values collapse to one. */
int qwen25vl_unique_consecutive(vt_tensor *out, const vt_tensor *in, vt_arena *a, vt_status *st);

/* mirrors x.reshape(M, U, -1)[window_index].reshape(N, -1): rows gathered in units of U rows.
 * src [M*U, width] -> dst [M*U, width] */
void qwen25vl_window_reorder(float *dst, const float *src, const int64_t *window_index, int64_t M, int U,
                             int64_t width);

/* mirrors torch.argsort(window_index): the inverse permutation. window_index [M] -> reverse [M] */
void qwen25vl_argsort(int64_t *reverse, const int64_t *window_index, int64_t M);

/* `layer_num in self.fullatt_block_indexes`, with integers. */
int qwen25vl_is_fullatt(const vt_qwen2_vision_config *cfg, int layer);
/* The bug zoo's fullatt-as-strings (bugzoo.h): the same test with the layer's name, a string, against the
 * integer list, as a port iterating an nn.ModuleDict does: `"1" in [1, 3]` is False, always. */
int qwen25vl_is_fullatt_as_string(const vt_qwen2_vision_config *cfg, int layer);

/* ======================================== stages ======================================== */

/* mirrors Qwen2_5_VLMLP.forward: down_proj(act_fn(gate_proj(x)) * up_proj(x)). x [N, C] -> y [N, C].
 * Traces visual.blocks.{i}.mlp.gate_proj, .act_fn, .up_proj, .down_proj. */
int qwen25vl_mlp(float *y, const float *x, const qwen25vl_block_weights *w, const char *hidden_act, int I, int block,
                 const qwen2vl_ctx *cx);

/* mirrors Qwen2_5_VLVisionBlock.forward: x += attn(norm1(x)); x += mlp(norm2(x)). x [N, C] in place. */
int qwen25vl_vision_block(float *x, const qwen25vl_block_weights *w, const char *hidden_act, int I,
                          const qwen2vl_segments *seg, int block, const qwen2vl_ctx *cx);

/* mirrors Qwen2_5_VisionTransformerPretrainedModel.forward(pixel_values, grid_thw) -> out [M, O], in the
 * original (image) order. */
int qwen25vl_forward(const qwen25vl_model *m, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                     qwen2vl_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_tensor *out, vt_status *st);

#endif
