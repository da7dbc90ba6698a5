/*
 * qwen2vl.h -- the Qwen2-VL vision tower (Qwen2VisionTransformerPretrainedModel, transformers 4.51.3): its
 * config, its weights and its forward. The stages it shares with Qwen2.5-VL and Qwen3-VL are in the shared
 * vision layer (ref/vision/vision.h); its image processor is ref/processor/processor.h.
 *
 *     vt_qwen2vl_model m;
 *     VT_TRY(vt_qwen2vl_load(&m, &cfg.qwen2vl, &ck, st));    // weights from an open checkpoint, shapes checked
 *     vt_arena a; vt_arena_init(&a, 0);
 *     vt_tensor out;                                        // [N / 4, out_hidden], allocated from a
 *     rc = vt_qwen2vl_forward(&out, &m, &pixel_values, &grid_thw, VT_ATTN_SEGMENTS, &tap, &a, st);
 *     ... vt_arena_free(&a); vt_qwen2vl_free(&m);
 *
 * or, from decoded images to the tower's output, vt_qwen2vl_pipeline (the processor, then the forward).
 *
 * The model owns one weight buffer (every field of vt_qwen2vl_weights points into it) and its block array;
 * vt_qwen2vl_free releases both. The forward allocates everything, its output included, from the caller's
 * arena, and reports each intermediate through the tap under its Hugging Face name (docs/trace-spec.md).
 *
 * May include: ref/core/, ref/io/, ref/vision/, ref/processor/, ref/mrope/, ref/tokenizer/, ref/lm/ (and this
 * folder; README.md, docs/design.md "Dependency rules"). Legend as in vision.h.
 */
#ifndef VT_QWEN2VL_H
#define VT_QWEN2VL_H

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

/* ======================================== config ======================================== */

/* config.json's vision_config (Qwen2VLVisionConfig) */
typedef struct vt_qwen2vl_config {
    vt_vision_config vision; /* depth, embed_dim, num_heads, mlp_hidden = int(embed_dim * mlp_ratio), out_hidden
                                = vision_config.hidden_size, patch sizes, hidden_act ("quick_gelu") */
} vt_qwen2vl_config;

/* Parse config.json's root object: vision_config into *c (absent fields take Qwen2VLVisionConfig's
 * defaults), and the text-side fields M-RoPE needs into *text (vt_mrope_config_parse). Messages name the
 * field. */
int vt_qwen2vl_config_parse(vt_qwen2vl_config *c, vt_mrope_config *text, const cJSON *root, vt_status *st);

/* The processor settings when the model directory has no preprocessor_config.json (the hub's values,
 * with this config's patch / merge / temporal sizes). */
void vt_qwen2vl_preproc_defaults(vt_preproc_config *p, const vt_qwen2vl_config *c);

/* Every tensor of the tower for this config, in module order, canonical names (`vlmtrace inspect`). */
int vt_qwen2vl_weight_specs(const vt_qwen2vl_config *c, vt_weight_list *l, vt_status *st);

/* ======================================== weights ======================================== */

typedef struct vt_qwen2vl_weights {
    float *buffer;                  /* the one allocation every pointer below points into (owned) */
    vt_mat patch_embed_w;           /* [C, 3, 2, 14, 14] == [C, K] visual.patch_embed.proj.weight (no bias) */
    vt_vision_block_weights *blocks;  /* [depth] (owned array) */
    vt_vision_merger_weights merger;
} vt_qwen2vl_weights;

typedef struct vt_qwen2vl_model {
    vt_qwen2vl_config cfg;
    vt_qwen2vl_weights w;
    unsigned bugs; /* bug zoo (core/bugzoo.h): VT_BUG_NO_SEGMENT_MASK; 0 after vt_qwen2vl_load = the reference */
} vt_qwen2vl_model;

/* Bind every tensor of the vision tower by name, shapes from the config; the checkpoint must hold
 * exactly cfg->depth blocks (a missing key, a wrong shape or a block past depth is VT_EINPUT). */
int vt_qwen2vl_load(vt_qwen2vl_model *m, const vt_qwen2vl_config *cfg, const vt_checkpoint *ck, vt_status *st);
void vt_qwen2vl_free(vt_qwen2vl_model *m);

/* ======================================== forward ======================================== */

/* mirrors Qwen2VisionTransformerPretrainedModel.forward(pixel_values, grid_thw).
 * pixel_values float32 [N, K], grid_thw int64 [n, 3] -> out [N/4, O] (allocated from a). */
int vt_qwen2vl_forward(vt_tensor *out, const vt_qwen2vl_model *m, const vt_tensor *pixel_values,
                       const vt_tensor *grid_thw, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

/* The whole vision side from decoded images: Qwen2VLImageProcessor (processor.h) on the images, then the
 * videos, then the forward on cat(pixel_values, pixel_values_videos). images [n_images] decoded RGB (EXIF
 * already applied), videos [n_videos] -> out [M, O]; *px (optional, may be NULL) receives the processor's
 * outputs (pixel_values, grids), allocated from a like everything else. */
int vt_qwen2vl_pipeline(vt_tensor *out, vt_processor_pixels *px, const vt_qwen2vl_model *m, const vt_image *images,
                        int n_images, const vt_processor_video *videos, int n_videos, const vt_processor_opts *po,
                        vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
