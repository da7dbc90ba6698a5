/*
 * lm.h -- the Qwen2 language model of Qwen2-VL and Qwen2.5-VL (Qwen2VLModel / Qwen2_5_VLModel + lm_head,
 * transformers 4.51.3): the image tokens' journey from the vision tower's rows to logits and greedy tokens.
 * Both families use this decoder unchanged; only get_rope_index (ref/mrope/) tells them apart.
 *
 *     vt_lm_model m;
 *     VT_TRY(vt_lm_load(&m, &cfg.lm, &cfg.text, &ck, st));      // model.embed_tokens, model.layers.*, ...
 *     vt_lm_inputs in = {&input_ids, &image_rows, NULL, &image_grid_thw, NULL, NULL};
 *     vt_lm_generate_opts go = vt_lm_generate_defaults(&m);        // greedy, 64 new tokens, the config's eos
 *     vt_tensor ids;                                               // int64 [1, n], from the arena
 *     rc = vt_lm_generate(&ids, &m, &in, &go, VT_ATTN_SEGMENTS, &tap, &a, st);
 *     ... vt_lm_free(&m);
 *
 * or, from decoded images and the prompt's ids to generated ids with the vision tower in front, the
 * whole-pipeline call vt_vlm_pipeline (ref/model/vlm.h).
 *
 * What happens, with the names each tensor is traced under (docs/llm.md; the e2e golden manifests):
 *   input_ids [1, L] --embed_tokens-->                 [1, L, E]       model.embed_tokens
 *   the tower's rows into the <|image_pad|> / <|video_pad|> positions (masked_scatter)
 *                                                      [1, L, E]       inputs_embeds
 *   get_rope_index                                     [3, 1, L]       position_ids, rope_deltas
 *   Qwen2VLRotaryEmbedding (t, h, w rows)              [3, 1, L, D]    model.rotary_emb.cos / .sin
 *   the mrope_section split                            [1, 1, L, D]    mrope.cos / mrope.sin
 *   num_hidden_layers x Qwen2VLDecoderLayer:
 *     input_layernorm (RMSNorm)                        [1, L, E]       model.layers.{i}.input_layernorm
 *     q_proj / k_proj / v_proj (with bias)             [1, L, HD|GD]   .self_attn.q_proj / k_proj / v_proj
 *     multimodal rotary on q and k                     [1, H|G, L, D]  .self_attn.q_rope / .k_rope
 *     causal attention, repeat_kv, softmax in float32  [1, L, HD]      .self_attn.out
 *     o_proj (no bias) + residual                      [1, L, E]       .self_attn.o_proj = .self_attn
 *     post_attention_layernorm, SwiGLU MLP + residual  [1, L, F|E]     .post_attention_layernorm, .mlp.*,
 *                                                                      model.layers.{i}
 *   model.norm (RMSNorm)                               [1, L, E]       model.norm
 *   lm_head (tied to embed_tokens when tie_word_embeddings)  [1, L, V] lm_head
 *   greedy decoding with a KV cache                                    generated_ids, generate.logits,
 *                                                                      generate.position_ids
 * The layer tensors, model.norm and lm_head are the prompt's (prefill); decode steps add only generate.*.
 *
 * Ownership: the model owns one weight buffer (every pointer of vt_lm_weights points into it) and its
 * layer array; vt_lm_free releases both. Everything a forward makes, outputs included, comes from the
 * caller's arena. Matrices stay as the checkpoint stores them (BF16 widened inside the kernel, gemm.h).
 *
 * May include: ref/core/, ref/io/, ref/mrope/ (and this folder). Never a family folder, never trace/.
 *
 * Legend (every lm_*.c): L tokens of the sequence (the prompt; 1 when decoding), P tokens already in the
 * KV cache, E hidden_size (1536 in Qwen2-VL-2B), H attention heads (12), G key/value heads (2), R = H / G
 * query heads per key/value head (6), D head_dim = E / H (128), F intermediate_size (8960), V vocab_size
 * (151936), Nl num_hidden_layers (28).
 */
#ifndef VT_LM_H
#define VT_LM_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/tap.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "io/weight_spec.h"
#include "mrope/mrope.h"

/* ======================================== config ======================================== */

#define VT_LM_MAX_EOS 16

/* The text fields of config.json the decoder needs beyond vt_mrope_config's (hidden_size, heads, key/value
 * heads, head_dim, rope_theta, mrope_section and the vision token ids live there). Qwen2VLConfig /
 * Qwen2_5_VLConfig of transformers 4.51.3; an absent field takes the class's default. */
typedef struct vt_lm_config {
    int vocab_size;                  /* 151936 (Qwen2-VL-2B), 152064 (Qwen2.5-VL-7B); class default 152064 */
    int num_hidden_layers;           /* 28 */
    int intermediate_size;           /* 8960 (2B), 18944 (7B) */
    double rms_norm_eps;             /* 1e-6 on the hub (class default 1e-5) */
    int64_t max_position_embeddings; /* 32768 (2B), 128000 (7B): a longer prompt is refused */
    int use_sliding_window;          /* false everywhere published */
    int64_t sliding_window;          /* 32768 on the hub, 4096 by default; 0 when null. 4.51.3 applies it to
                                        the causal mask even when use_sliding_window is false (docs/llm.md) */
    int max_window_layers;           /* 28: read, and unused by the eager path (the mask is the same for all) */
    int tie_word_embeddings;         /* true in the 2B (lm_head = embed_tokens), false in the 7B */
    char hidden_act[32];             /* "silu" */
    int64_t eos_token_id[VT_LM_MAX_EOS]; /* config.json's eos_token_id (an int or a list), replaced by
                                            generation_config.json's when the model directory has one */
    int n_eos;
} vt_lm_config;

/* config.json's root: the fields above (top level in 4.51.3, under text_config in later versions; the
 * fields they share with M-RoPE are vt_mrope_config_parse's). Messages name the field. */
int vt_lm_config_parse(vt_lm_config *c, const cJSON *root, vt_status *st);
/* generation_config.json's root: its eos_token_id (an int or a list), when present, replaces config.json's
 * (the real checkpoints stop at <|im_end|> and <|endoftext|>). */
int vt_lm_generation_config_parse(vt_lm_config *c, const cJSON *root, vt_status *st);
/* Every tensor of the language model for this config, in module order, hub names: model.embed_tokens,
 * model.layers.{i}.*, model.norm, and lm_head unless tied. */
int vt_lm_weight_specs(const vt_lm_config *c, const vt_mrope_config *text, vt_weight_list *l, vt_status *st);

/* ======================================== weights ======================================== */

/* Qwen2VLDecoderLayer (Qwen2_5_VLDecoderLayer is the same module) */
typedef struct vt_lm_layer_weights {
    const float *input_layernorm_w;          /* [E]     model.layers.*.input_layernorm.weight */
    vt_mat q_proj_w;                         /* [HD, E] model.layers.*.self_attn.q_proj.weight */
    const float *q_proj_b;                   /* [HD]    model.layers.*.self_attn.q_proj.bias */
    vt_mat k_proj_w;                         /* [GD, E] model.layers.*.self_attn.k_proj.weight */
    const float *k_proj_b;                   /* [GD]    model.layers.*.self_attn.k_proj.bias */
    vt_mat v_proj_w;                         /* [GD, E] model.layers.*.self_attn.v_proj.weight */
    const float *v_proj_b;                   /* [GD]    model.layers.*.self_attn.v_proj.bias */
    vt_mat o_proj_w;                         /* [E, HD] model.layers.*.self_attn.o_proj.weight (no bias) */
    const float *post_attention_layernorm_w; /* [E]     model.layers.*.post_attention_layernorm.weight */
    vt_mat gate_proj_w;                      /* [F, E]  model.layers.*.mlp.gate_proj.weight (no bias) */
    vt_mat up_proj_w;                        /* [F, E]  model.layers.*.mlp.up_proj.weight */
    vt_mat down_proj_w;                      /* [E, F]  model.layers.*.mlp.down_proj.weight */
} vt_lm_layer_weights;

typedef struct vt_lm_weights {
    float *buffer;                 /* the one allocation every pointer below points into (owned) */
    vt_mat embed_tokens;           /* [V, E] model.embed_tokens.weight */
    vt_lm_layer_weights *layers;   /* [Nl] (owned array) */
    const float *norm_w;           /* [E] model.norm.weight */
    vt_mat lm_head;                /* [V, E] lm_head.weight, or embed_tokens itself when tied */
} vt_lm_weights;

typedef struct vt_lm_model {
    vt_mrope_config text; /* hidden_size, heads, head_dim, rope_theta, mrope_section, vision token ids */
    vt_lm_config cfg;
    vt_lm_weights w;
    unsigned bugs; /* bug zoo (core/bugzoo.h): VT_BUG_MROPE_SECTION_ORDER, VT_BUG_DECODE_POSITIONS_RESTART;
                      0 after vt_lm_load = the reference */
} vt_lm_model;

/* Does this checkpoint hold a language model at all? (`generate` says what is missing when not.) */
int vt_lm_present(const vt_checkpoint *ck);
/* Bind every tensor by name, shapes from the configs; exactly num_hidden_layers layers (a missing key, a
 * wrong shape or a layer past the config's is VT_EINPUT naming it). */
int vt_lm_load(vt_lm_model *m, const vt_lm_config *cfg, const vt_mrope_config *text, const vt_checkpoint *ck,
               vt_status *st);
void vt_lm_free(vt_lm_model *m);

/* ======================================== the KV cache ======================================== */

/* Keys (after the rotary) and values of every layer for the positions seen so far, in the layout the
 * projections produce: row p of layer i is k[i][p * G * D ...], key/value head g at g * D. */
typedef struct vt_lm_cache {
    int64_t cap; /* rows each layer can hold (prompt + new tokens) */
    int64_t len; /* rows filled: P */
    float **k, **v; /* [Nl] pointers to [cap, G*D] */
} vt_lm_cache;

/* An empty cache for cap positions, from the arena (2 * Nl * cap * G * D floats). */
int vt_lm_cache_init(vt_lm_cache *c, const vt_lm_model *m, int64_t cap, vt_arena *a, vt_status *st);

/* ======================================== stages ======================================== */

/* Every id in [0, vocab_size), L >= 1, L <= max_position_embeddings: VT_EINPUT naming the element. */
int vt_lm_check_ids(const vt_lm_model *m, const vt_tensor *input_ids, vt_status *st);

/* mirrors nn.Embedding (model.embed_tokens): row ids[l] of the table. ids [L] -> x [L, E] */
void vt_lm_embed_tokens(float *x, vt_mat table, const int64_t *ids, int64_t L, int64_t E);

/* mirrors inputs_embeds.masked_scatter(ids == token_id, rows): the rows, in order, replace the embeddings
 * at the positions holding token_id. A count that disagrees with the rows is VT_EINPUT naming both counts,
 * as HF raises ("Image features and image tokens do not match: tokens: 34, features 35"). what: "Image" or
 * "Video". x [L, E], ids [L], rows [n, E] (NULL: none) */
int vt_lm_masked_scatter(float *x, const int64_t *ids, int64_t L, int64_t E, int64_t token_id, const vt_tensor *rows,
                         const char *what, vt_status *st);

/* mirrors Qwen2VLRotaryEmbedding.forward and the mrope_section split of apply_multimodal_rotary_pos_emb.
 * position_ids [3, L] -> cos3, sin3 [3, L, D] (model.rotary_emb.cos/sin) and cos, sin [L, D] (mrope.cos/sin).
 * All four allocated from the arena; traced when tap is given (with the leading [.., 1, ..] of HF's shapes). */
int vt_lm_rotary(float **cos, float **sin, const vt_lm_model *m, const int64_t *position_ids, int64_t L,
                 const vt_tap *tap, vt_arena *a, vt_status *st);

/* mirrors q * cos + rotate_half(q) * sin on rows laid out as the projections give them.
 * x [L, nh * D] (head h at h * D), cos, sin [L, D] -> y [L, nh * D] */
void vt_lm_apply_rotary(float *y, const float *x, const float *cos, const float *sin, int64_t L, int nh, int D);

/* What one decoder layer needs besides its weights. */
typedef struct vt_lm_ctx {
    int64_t L;              /* new rows */
    const float *cos, *sin; /* [L, D] after the section split */
    vt_lm_cache *cache;     /* holds P rows before the call, P + L after */
    vt_attn_mode attn;      /* SEGMENTS: the key range of each row walked directly; LITERAL: HF's mask */
    const vt_tap *tap;      /* NULL while decoding: decode steps trace only generate.* */
    vt_arena *a;
    vt_status *st;
} vt_lm_ctx;

/* mirrors Qwen2VLAttention.forward (eager): q/k/v projections, multimodal rotary, the new keys and values
 * appended to the cache, repeat_kv, softmax(q k^T / sqrt(D) + causal mask) in float32, o_proj.
 * x [L, E] -> y [L, E]. Traces model.layers.{i}.self_attn.*. */
int vt_lm_attention(float *y, const float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx);

/* mirrors Qwen2MLP.forward: down_proj(act_fn(gate_proj(x)) * up_proj(x)). x [L, E] -> y [L, E].
 * Traces model.layers.{i}.mlp.gate_proj, .act_fn, .up_proj, .down_proj, .mlp. */
int vt_lm_mlp(float *y, const float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx);

/* mirrors Qwen2VLDecoderLayer.forward: x += attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x)).
 * x [L, E] updated in place. Traces every model.layers.{i}.* name. */
int vt_lm_decoder_layer(float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx);

/* ======================================== forward ======================================== */

/* mirrors Qwen2VLModel.forward + lm_head on L new rows after the P in the cache: rotary tables from
 * position_ids, every layer, model.norm, lm_head. inputs_embeds [L, E], position_ids int64 [3, L] ->
 * logits [n, V] for the last n = all_logits ? L : 1 rows (allocated from a). */
int vt_lm_forward(vt_tensor *logits, const vt_lm_model *m, const float *inputs_embeds, const int64_t *position_ids,
                  int64_t L, vt_lm_cache *cache, int all_logits, vt_attn_mode attn, const vt_tap *tap, vt_arena *a,
                  vt_status *st);

/* ======================================== generation ======================================== */

/* What Qwen2VLForConditionalGeneration.forward is given after the processor and the vision tower. */
typedef struct vt_lm_inputs {
    const vt_tensor *input_ids;          /* int64 [1, L], the vision pads already expanded */
    const vt_tensor *image_embeds;       /* float32 [image pad tokens, E]: the tower's rows of the images (NULL: none) */
    const vt_tensor *video_embeds;       /* float32 [video pad tokens, E] (NULL: none) */
    const vt_tensor *image_grid_thw;     /* int64 [n_images, 3] (NULL: none) */
    const vt_tensor *video_grid_thw;     /* int64 [n_videos, 3] (NULL: none) */
    const vt_tensor *second_per_grid_ts; /* float32 [n_videos] (Qwen2.5-VL with videos; NULL otherwise) */
} vt_lm_inputs;

/* Called after each generated token (streaming output, progress); ref/ never prints. */
typedef void (*vt_lm_token_fn)(void *ctx, int64_t token, int step, int max_steps);

typedef struct vt_lm_generate_opts {
    int max_new_tokens;          /* 64 */
    int no_cache;                /* 0: decode with the KV cache (positions max + 1 + j through rope_deltas);
                                    1: every step recomputes the whole sequence, as the goldens were made */
    const int64_t *eos;          /* stop after any of these (kept as the last id); the config's by default */
    int n_eos;
    vt_lm_token_fn on_token;     /* may be NULL */
    void *ctx;
} vt_lm_generate_opts;

vt_lm_generate_opts vt_lm_generate_defaults(const vt_lm_model *m);

/* mirrors Qwen2VLForConditionalGeneration.forward on the prompt (embed_tokens, masked_scatter, get_rope_index,
 * the model, lm_head), then greedy decoding: argmax of the last row's logits, appended, until an eos id or
 * max_new_tokens. -> generated_ids int64 [1, n] (allocated from a). Traces, in this order: input_ids,
 * model.embed_tokens, inputs_embeds, position_ids, rope_deltas, model.rotary_emb.*, mrope.*,
 * model.layers.{i}.*, model.norm, lm_head, then generated_ids, generate.logits [n, V], generate.position_ids
 * [3, 1, L + n]. Validates the inputs first (vt_lm_check_ids, the scatter counts, get_rope_index's checks,
 * L + max_new_tokens within max_position_embeddings). */
int vt_lm_generate(vt_tensor *generated_ids, const vt_lm_model *m, const vt_lm_inputs *in,
                   const vt_lm_generate_opts *o, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
