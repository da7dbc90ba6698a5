/*
 * qwenvl.h -- Qwen-VL (v1) vision side: the ViT-bigG trunk and the 256-query Resampler of the original
 * `visual.py` (Qwen/Qwen-VL), stage by stage.
 *
 * Legend (full-size values of Qwen-VL / Qwen-VL-Chat in brackets):
 *   B images in the batch      S image_size [448]       P patch_size [14]     g = S / P grid side [32]
 *   L = g*g tokens [1024]      W width [1664]           H heads [16]          hd = W / H [104]
 *   M mlp width [8192]         D output_dim [4096]      Hq = D / 128 resampler heads [32]
 *   Q = qg*qg queries [256]    qg = int(sqrt(n_queries)) [16]
 *
 *   image [h, w, 3] --PIL bicubic--> [S, S, 3] --/255, CLIP mean/std--> [3, S, S]
 *   [B, 3, S, S] --conv1--> [B, W, g, g] --> [B, L, W] (+ get_abs_pos(positional_embedding [256, W]))
 *   --ln_pre--> permute to [L, B, W] --48 resblocks--> permute to [B, L, W]
 *   --attn_pool (Resampler: kv_proj, ln_kv, 256 queries, one cross-attention, 2D sin-cos positions)-->
 *   [B, Q, D] --ln_post--> @ proj [D, D] --> [B, Q, D]
 *
 * Usage:
 *     vt_qwenvl_model m;
 *     VT_TRY(vt_qwenvl_load(&m, &cfg.qwenvl, &ck, st));    // binds and copies the weights; ck may be closed after
 *     vt_arena a; vt_arena_init(&a, 0);
 *     vt_tensor px;                                        // [3, S, S] per image, stacked by the caller
 *     VT_TRY(vt_qwenvl_image_transform(&px, &img, 0, m.c.image_size, tap, &a, st));
 *     vt_tensor out;                                       // [B, Q, D], allocated from the arena
 *     VT_TRY(vt_qwenvl_forward(&out, &m, &pixels, tap, &a, st));
 *     vt_arena_free(&a); vt_qwenvl_free(&m);
 *
 * The model owns one weight buffer (every pointer of vt_qwenvl_weights points into it) and the array of
 * per-block pointer structs; vt_qwenvl_free releases both. Everything a forward computes comes from the
 * caller's arena. Each stage reports its output through the tap under the reference's name
 * (docs/trace-spec.md, prefix `transformer.visual.`), with the reference's shapes: resblock tensors are
 * sequence-first [L, B, W], conv1 is [B, W, g, g].
 */
#ifndef VT_QWENVL_H
#define VT_QWENVL_H

#include <stdint.h>

#include "core/arena.h"
#include "core/ops.h"
#include "io/preproc_config.h"
#include "io/weight_spec.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "core/tap.h"
#include "core/tensor.h"

#include <cjson/cJSON.h>

/* ---- config (qwenvl_config.c) ---- */

/* Qwen-VL (v1) `visual` dict: VisionTransformer(**visual) of visual.py. */
typedef struct vt_qwenvl_config {
    int image_size;  /* 448 */
    int patch_size;  /* 14 */
    int width;       /* 1664 */
    int layers;      /* 48 */
    int heads;       /* 16 */
    double mlp_ratio;/* 4.9231 */
    int mlp_width;   /* int(width * mlp_ratio) = 8192 */
    int n_queries;   /* 256 (a VisionTransformer kwarg, absent from the released config) */
    int output_dim;  /* 4096 */
} vt_qwenvl_config;

/* config.json's `visual` dict -> *q (VisionTransformer's defaults for n_queries 256, output_dim 512); a
 * model_type qwen without it is a text-only model, refused. */
int vt_qwenvl_config_parse(vt_qwenvl_config *q, const cJSON *root, vt_status *st);
/* The transform's settings (CLIP mean/std; nothing else is configurable). */
void vt_qwenvl_preproc_defaults(vt_preproc_config *p, const vt_qwenvl_config *c);
/* Every tensor of visual.py's VisionTransformer for this config, in module order. */
int vt_qwenvl_weight_specs(const vt_qwenvl_config *q, vt_weight_list *l, vt_status *st);

/* The position table of the trunk always has 256 rows (a 16 x 16 grid), whatever image_size is. */
#define VT_QWENVL_POS_ROWS 256
/* The Resampler's head width: num_heads = output_dim // 128. */
#define VT_QWENVL_POOL_HEAD_DIM 128
/* LayerNorm eps everywhere in visual.py (partial(nn.LayerNorm, eps=1e-6)). */
#define VT_QWENVL_LN_EPS 1e-6f

/* ---- weights: one struct of pointers into one buffer ---- */

/* VisualAttentionBlock: transformer.visual.transformer.resblocks.{i}.* */
typedef struct vt_qwenvl_block {
    const float *ln_1_w, *ln_1_b;            /* [W]          ln_1.{weight,bias} */
    const float *in_proj_w;                  /* [3W, W]      attn.in_proj.weight (rows per head: q|k|v) */
    const float *in_proj_b;                  /* [3W]         attn.in_proj.bias */
    const float *out_proj_w, *out_proj_b;    /* [W, W], [W]  attn.out_proj.{weight,bias} */
    const float *ln_2_w, *ln_2_b;            /* [W]          ln_2.{weight,bias} */
    const float *c_fc_w, *c_fc_b;            /* [M, W], [M]  mlp.c_fc.{weight,bias} */
    const float *c_proj_w, *c_proj_b;        /* [W, M], [W]  mlp.c_proj.{weight,bias} */
} vt_qwenvl_block;

typedef struct vt_qwenvl_weights {
    float *buffer;                           /* the one allocation everything below points into */
    const float *conv1_w;                    /* [W, 3, P, P]  conv1.weight (no bias) */
    const float *positional_embedding;       /* [256, W]      positional_embedding */
    const float *ln_pre_w, *ln_pre_b;        /* [W]           ln_pre.{weight,bias} */
    vt_qwenvl_block *blocks;                 /* [layers]      (malloc'd array of pointer structs) */
    /* Resampler: attn_pool.* */
    const float *pool_query;                 /* [Q, D]        attn_pool.query */
    const float *pool_pos_embed;             /* [Q, D]        attn_pool.pos_embed (the 2D sin-cos table; built
                                                              with vt_qwenvl_sincos_2d if the checkpoint lacks it) */
    const float *pool_kv_proj_w;             /* [D, W]        attn_pool.kv_proj.weight (no bias); NULL when
                                                              W == D, where the reference uses nn.Identity */
    const float *pool_ln_kv_w, *pool_ln_kv_b;/* [D]           attn_pool.ln_kv.{weight,bias} */
    const float *pool_ln_q_w, *pool_ln_q_b;  /* [D]           attn_pool.ln_q.{weight,bias} */
    const float *pool_in_proj_w;             /* [3D, D]       attn_pool.attn.in_proj_weight (rows Wq|Wk|Wv) */
    const float *pool_in_proj_b;             /* [3D]          attn_pool.attn.in_proj_bias */
    const float *pool_out_proj_w;            /* [D, D]        attn_pool.attn.out_proj.weight */
    const float *pool_out_proj_b;            /* [D]           attn_pool.attn.out_proj.bias */
    const float *ln_post_w, *ln_post_b;      /* [D]           ln_post.{weight,bias} */
    const float *proj;                       /* [D, D]        proj (used as x @ proj, not a Linear) */
} vt_qwenvl_weights;

typedef struct vt_qwenvl_model {
    vt_qwenvl_config c;  /* copied from config.json's `visual` dict */
    int grid;            /* g = image_size / patch_size: 32 */
    int pool_grid;       /* qg = int(sqrt(n_queries)): 16 */
    int n_pool_queries;  /* Q = qg * qg: 256 */
    int pool_heads;      /* Hq = output_dim / 128: 32 */
    vt_qwenvl_weights w;
    unsigned bugs;       /* bug zoo (bugzoo.h): VT_BUG_QKV_GLOBAL_SPLIT; 0 after vt_qwenvl_load = the reference */
} vt_qwenvl_model;

/* ---- loading (qwenvl_weights.c) ---- */

/* Check the config, bind every weight by name and shape, and copy them into one buffer. A missing or
 * misshapen key, or a checkpoint with more resblocks than `layers`, is VT_EINPUT naming the key. */
int vt_qwenvl_load(vt_qwenvl_model *m, const vt_qwenvl_config *c, const vt_checkpoint *ck, vt_status *st);
void vt_qwenvl_free(vt_qwenvl_model *m);

/* ---- stages (qwenvl_trunk.c, qwenvl_resampler.c) ---- */

/* mirrors VisionTransformer.image_transform: Resize((S, S), BICUBIC) (PIL) -> ToTensor -> Normalize(CLIP).
 * img [h, w, 3] uint8 -> *out [3, S, S] float32. Emits image.{k}.rgb, .resized, .normalized. */
int vt_qwenvl_image_transform(vt_tensor *out, const vt_image *img, int k, int image_size, const vt_tap *tap,
                              vt_arena *a, vt_status *st);

/* mirrors get_abs_pos: table [src*src, C] (src = int(sqrt(rows))) -> out [tgt*tgt, C] with
 * tgt = int(sqrt(tgt_len)); torch-style bicubic (A = -0.75, align_corners=False) unless src == tgt. */
int vt_qwenvl_get_abs_pos(vt_tensor *out, const float *table, int64_t rows, int64_t C, int64_t tgt_len,
                          vt_arena *a, vt_status *st);

/* mirrors get_2d_sincos_pos_embed(D, grid): out [grid*grid, D]. Row r = (y, x) = (r / grid, r % grid);
 * channels [0, D/2) encode x (the column), [D/2, D) encode y; each half is [sin | cos] of
 * pos * omega_i, omega_i = 10000^(-i / (D/4)), i < D/4. D must be a multiple of 4. */
void vt_qwenvl_sincos_2d(float *out, int D, int grid);

/* mirrors VisionTransformer.forward: pixels [B, 3, S, S] -> *out [B, Q, D] (from the arena). */
int vt_qwenvl_forward(vt_tensor *out, const vt_qwenvl_model *m, const vt_tensor *pixels, const vt_tap *tap,
                      vt_arena *a, vt_status *st);

/* The whole vision side from decoded images, as VisionTransformer.encode does it: image_transform of each
 * (images [n], opened without EXIF orientation by the reference), stacked into [n, 3, S, S], then the
 * forward -> *out [n, Q, D]. Everything from the arena. */
int vt_qwenvl_pipeline(vt_tensor *out, const vt_qwenvl_model *m, const vt_image *images, int n, const vt_tap *tap,
                       vt_arena *a, vt_status *st);

/* The pieces of the forward, exposed for the stage tests (each emits its own trace names). */
/* conv1 + flatten + permute + abs_pos + ln_pre: pixels [B, 3, S, S] -> *x [B, L, W] (after ln_pre). */
int vt_qwenvl_embed(vt_tensor *x, const vt_qwenvl_model *m, const vt_tensor *pixels, const vt_tap *tap,
                    vt_arena *a, vt_status *st);
/* mirrors VisualAttentionBlock.forward: x [L, B, W] -> x [L, B, W] in place. */
int vt_qwenvl_resblock(vt_tensor *x, const vt_qwenvl_model *m, int i, const vt_tap *tap, vt_arena *a,
                       vt_status *st);
/* mirrors Resampler.forward: x [B, L, W] -> *out [B, Q, D]. */
int vt_qwenvl_resampler(vt_tensor *out, const vt_qwenvl_model *m, const vt_tensor *x, const vt_tap *tap,
                        vt_arena *a, vt_status *st);

#endif
