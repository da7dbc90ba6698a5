/*
 * kimivl.h -- Kimi-VL's vision side: KimiVLImageProcessor, MoonViT (vision_tower.*) and the multimodal
 * projector (multi_modal_projector.*), as the published Kimi-VL-A3B `image_processing_kimi_vl.py` and
 * `modeling_kimi_vl.py` compute them (docs/kimivl.md walks through every stage).
 *
 * Dimension legend (full size Kimi-VL-A3B / the kimivl-image golden case):
 *   n   images packed into one sequence
 *   P   patch side, 14                          C   image channels, 3
 *   gh, gw  patch grid of one image (h, w)      N   patches of all images, sum gh*gw
 *   D   hidden_size, 1152 / 64                  H   num_attention_heads, 16 / 4
 *   hd  head_dim = D/H, 72 / 16                 F   intermediate_size, 4304 / 128
 *   L   num_hidden_layers, 27 / 2               h0, w0  pos_emb table, 64x64 / 8x8
 *   kh, kw  merge_kernel_size, 2x2              M   merged tokens, sum (gh/kh)*(gw/kw)
 *   T   text_config.hidden_size, 2048 / 48      (kh*kw*D = 4608 / 256 is the projector width)
 *
 * Usage:
 *
 *     vt_kimivl_model m;
 *     VT_TRY(vt_kimivl_load(&m, &cfg.kimivl, &ck, st));            // one buffer, one pointer per tensor
 *     vt_arena a; vt_arena_init(&a, 0);                            // one arena per forward
 *     vt_image img[2];                                             // decoded RGB, EXIF ignored
 *     vt_tensor feats;                                             // [M, T]
 *     rc = vt_kimivl_pipeline(&feats, NULL, &m, img, 2, &cfg.pre, VT_ATTN_SEGMENTS, &tap, &a, st);
 *     // or: vt_kimivl_preprocess(&b, ...) then vt_kimivl_forward(&feats, &m, &b.pixel_values,
 *     //     &b.image_grid_hws, VT_ATTN_SEGMENTS, &tap, &a, st)
 *     vt_arena_free(&a);
 *     vt_kimivl_free(&m);
 *
 * May include: ref/core/, ref/io/, ref/vision/, ref/processor/, ref/mrope/, ref/tokenizer/, ref/lm/ (and
 * this folder); it uses ref/core/ and ref/io/ only.
 *
 * Every stage reports its output through the tap under the golden name (docs/trace-spec.md rules 5 and 9:
 * `vision_tower.*`, `multi_modal_projector.*`, `image.{k}.*`). The weights own one malloc'd buffer; all
 * tensors of a forward live in the caller's arena.
 */
#ifndef VT_KIMIVL_H
#define VT_KIMIVL_H

#include <stdint.h>

#include "core/arena.h"
#include "core/ops.h"
#include "io/image.h"
#include "io/preproc_config.h"
#include "io/weight_spec.h"
#include "io/safetensors.h"
#include "core/tap.h"
#include "core/tensor.h"

#include <cjson/cJSON.h>

/* Rope2DPosEmb precomputes cis for a 512x512 grid; the image processor refuses grids of 512 or more
 * per side ("Exceed pos emb"). */
#define VT_KIMIVL_ROPE_MAX_SIDE 512
#define VT_KIMIVL_MAX_LAYERS 256

/* ================================ config ================================= */

/* Kimi-VL MoonViT vision_config plus the projector's text width. */
typedef struct vt_kimivl_config {
    int patch_size;          /* 14 */
    int num_attention_heads; /* 16 */
    int num_hidden_layers;   /* 27 */
    int hidden_size;         /* 1152 */
    int intermediate_size;   /* 4304 */
    int init_pos_emb_height; /* 64 */
    int init_pos_emb_width;  /* 64 */
    int merge_kernel_size[2];/* [2, 2] */
    int text_hidden_size;    /* text_config.hidden_size: 2048 */
} vt_kimivl_config;

/* config.json's vision_config (MoonViTConfig defaults) and text_config.hidden_size -> *k. */
int vt_kimivl_config_parse(vt_kimivl_config *k, const cJSON *root, vt_status *st);
/* The processor settings without preprocessor_config.json (mean = std = 0.5, in_token_limit 4096, pad). */
void vt_kimivl_preproc_defaults(vt_preproc_config *p, const vt_kimivl_config *c);
/* Every tensor of MoonViT and the projector for this config, in module order. */
int vt_kimivl_weight_specs(const vt_kimivl_config *k, vt_weight_list *l, vt_status *st);

/* ================================ weights ================================ */

/* MoonVitEncoderLayer: pre-norm attention and MLP, every Linear with a bias. */
typedef struct vt_kimivl_block_weights {
    const float *norm0_w, *norm0_b;  /* [D]      vision_tower.encoder.blocks.{i}.norm0.weight / .bias */
    const float *wqkv_w, *wqkv_b;    /* [3D, D], [3D]  ...blocks.{i}.wqkv (rows q | k | v, each head-major) */
    const float *wo_w, *wo_b;        /* [D, D], [D]    ...blocks.{i}.wo */
    const float *norm1_w, *norm1_b;  /* [D]      ...blocks.{i}.norm1 */
    const float *mlp_fc0_w, *mlp_fc0_b; /* [F, D], [F] ...blocks.{i}.mlp.fc0 */
    const float *mlp_fc1_w, *mlp_fc1_b; /* [D, F], [D] ...blocks.{i}.mlp.fc1 */
} vt_kimivl_block_weights;

typedef struct vt_kimivl_weights {
    float *buffer;                        /* the one allocation every pointer below points into (owned) */
    const float *patch_embed_proj_w;      /* [D, C, P, P] vision_tower.patch_embed.proj.weight (Conv2d) */
    const float *patch_embed_proj_b;      /* [D]          vision_tower.patch_embed.proj.bias */
    const float *patch_embed_pos_emb_w;   /* [h0, w0, D]  vision_tower.patch_embed.pos_emb.weight */
    vt_kimivl_block_weights *blocks;         /* [L] (malloc'd array of pointer sets, owned) */
    int n_blocks;
    const float *final_layernorm_w, *final_layernorm_b; /* [D] vision_tower.encoder.final_layernorm */
    const float *pre_norm_w, *pre_norm_b; /* [D]          multi_modal_projector.pre_norm */
    const float *linear_1_w, *linear_1_b; /* [4D, 4D], [4D] multi_modal_projector.linear_1 */
    const float *linear_2_w, *linear_2_b; /* [T, 4D], [T]   multi_modal_projector.linear_2 */
} vt_kimivl_weights;

/* The model: its config, its weights (one buffer), the bug-zoo switches (0 after vt_kimivl_load). */
typedef struct vt_kimivl_model {
    vt_kimivl_config cfg;
    vt_kimivl_weights w;
    unsigned bugs; /* bug zoo (core/bugzoo.h): VT_BUG_CROSS_IMAGE_LEAK (the reference's own eager path),
                      VT_BUG_NO_SEGMENT_MASK; 0 = the reference's sdpa / flash numbers */
} vt_kimivl_model;

/* The checks MoonViT itself makes on its config beyond the parser's generic ones (head_dim divisible by 4
 * for the 2D RoPE, a non-degenerate merge kernel, ...). VT_EINPUT naming the field. */
int vt_kimivl_config_check(const vt_kimivl_config *c, vt_status *st);
/* Check the config, bind every tensor by name with the config's shapes (a missing key or another shape is
 * VT_EINPUT naming the key), in one buffer. On failure nothing is left allocated. */
int vt_kimivl_load(vt_kimivl_model *m, const vt_kimivl_config *c, const vt_checkpoint *ck, vt_status *st);
void vt_kimivl_free(vt_kimivl_model *m);

/* ============================ preprocessing ============================== */


/* The processor output, allocated from the arena. */
typedef struct vt_kimivl_batch {
    vt_tensor pixel_values;   /* float32 [N, C, P, P] */
    vt_tensor image_grid_hws; /* int64 [n, 2]: (gh, gw) per image */
} vt_kimivl_batch;

/* mirrors KimiVLImageProcessor.rescale's size arithmetic. (w, h) -> the size after the optional
 * downscale (rw, rh) and after the zero padding (pw, ph). VT_EINPUT if the result would exceed the
 * position table ("Exceed pos emb", as the reference raises) or the image is empty. */
int vt_kimivl_rescale_size(int w, int h, const vt_preproc_config *pre, int *rw, int *rh, int *pw, int *ph,
                        vt_status *st);

/* mirrors KimiVLImageProcessor.rescale. img -> out uint8 [ph, pw, 3] (arena): the PIL bicubic downscale
 * when the token limit asks for it, then zeros on the right and bottom (image.{k}.resized). */
int vt_kimivl_rescale(vt_tensor *out, const vt_image *img, const vt_preproc_config *pre, vt_arena *a,
                   vt_status *st);

/* mirrors KimiVLImageProcessor.preprocess. images -> pixel_values [N, C, P, P], image_grid_hws [n, 2];
 * traces image.{k}.rgb / resized / normalized / patches, pixel_values, image_grid_hws. */
int vt_kimivl_preprocess(vt_kimivl_batch *out, const vt_image *images, int n, const vt_preproc_config *pre,
                      const vt_tap *tap, vt_arena *a, vt_status *st);

/* =============================== stages ================================== */

/* How the forward computes what the reference computes (NULL: the defaults, all zero). */
typedef struct vt_kimivl_opts {
    int literal_mask; /* 1: build the reference's N x N mask and attend through it (the teaching path);
                         0: walk each image's segment. Identical numbers either way. */
    unsigned bugs;    /* bug zoo (bugzoo.h): VT_BUG_CROSS_IMAGE_LEAK (the reference's own eager path),
                         VT_BUG_NO_SEGMENT_MASK; 0 = the reference's sdpa / flash numbers */
} vt_kimivl_opts;

/* Exposed for the unit tests and the docs; vt_kimivl_forward calls them in this order. */

/* mirrors Rope2DPosEmb.get_freqs_cis. grid_hws [n, 2] -> freqs [N, hd/2, 2] (cos, sin) where pair 2i
 * turns by w*theta_i and pair 2i+1 by h*theta_i, theta_i = 10000^(-4i/hd); (h, w) restart per image. */
int vt_kimivl_rope_freqs_cis(float *freqs, const int64_t *grid_hws, int n, int64_t N, int hd, vt_status *st);

/* mirrors apply_rope (one of q / k). x [N, H, hd] in place: each adjacent pair (x[2j], x[2j+1]) is the
 * complex number x[2j] + i x[2j+1], multiplied by freqs[n][j] = cos + i sin. */
void vt_kimivl_apply_rope(float *x, const float *freqs, int64_t N, int H, int hd);

/* mirrors the sdpa_attention mask (the teaching path): mask [N, N] additive, 0 inside an image's block
 * and -inf outside (the reference's boolean True/False). The forward walks the segments instead. */
void vt_kimivl_sdpa_mask(float *mask, const int32_t *cu_seqlens, int n, int64_t N);

/* mirrors eager_attention's mask as the reference adds it (the bug zoo's cross-image-leak): the boolean
 * image mask converted to numbers, mask [N, N] = 1.0 inside an image's block and 0.0 outside. */
void vt_kimivl_eager_mask(float *mask, const int32_t *cu_seqlens, int n, int64_t N);

/* mirrors MoonVisionPatchEmbed + MoonVitEncoder. pixel_values [N, C, P, P], grid_hws [n, 2] (already
 * validated by vt_kimivl_forward) -> out [N, D] (arena): the final_layernorm output. */
int vt_kimivl_vision_encoder(vt_tensor *out, const vt_kimivl_weights *w, const vt_kimivl_config *c, const vt_tensor *pixels,
                          const int64_t *grid_hws, int n, const vt_kimivl_opts *opts, const vt_tap *tap,
                          vt_arena *a, vt_status *st);

/* mirrors patch_merger. x [N, D] -> out [M, kh*kw, D], per image view(gh/kh, kh, gw/kw, kw, D)
 * .permute(0, 2, 1, 3, 4); out allocated from the arena. */
int vt_kimivl_patch_merger(vt_tensor *out, const vt_tensor *x, const int64_t *grid_hws, int n, int kh, int kw,
                        vt_arena *a, vt_status *st);

/* ============================== forward ================================== */

/* mirrors KimiVLForConditionalGeneration._extract_image_features: MoonViT then the projector.
 * pixel_values [N, C, P, P] float32, image_grid_hws [n, 2] int64 -> out [M, T] (arena). attn: the images'
 * segments walked (VT_ATTN_SEGMENTS) or the reference's N x N mask (VT_ATTN_LITERAL), identical numbers. */
int vt_kimivl_forward(vt_tensor *out, const vt_kimivl_model *m, const vt_tensor *pixel_values,
                      const vt_tensor *image_grid_hws, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

/* The whole vision side from decoded images (EXIF not applied: the reference opens them with PIL without
 * exif_transpose): KimiVLImageProcessor (vt_kimivl_preprocess), then the forward. images [n] -> out [M, T];
 * *px (may be NULL) receives pixel_values and image_grid_hws. Everything from a. */
int vt_kimivl_pipeline(vt_tensor *out, vt_kimivl_batch *px, const vt_kimivl_model *m, const vt_image *images, int n,
                       const vt_preproc_config *pre, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
