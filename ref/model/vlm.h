/*
 * vlm.h -- a whole Qwen2-VL / Qwen2.5-VL model (Qwen2VLForConditionalGeneration,
 * Qwen2_5_VLForConditionalGeneration): the vision tower of the family and the Qwen2 language model
 * (ref/lm/), loaded from one checkpoint, and the whole pipeline from decoded images and a prompt's ids to
 * generated ids in one library call, so ref/ can be used without trace/.
 *
 *     vt_model_config cfg;  VT_TRY(vt_config_load(&cfg, dir, st));
 *     vt_checkpoint ck;     VT_TRY(vt_checkpoint_open(&ck, dir, st));
 *     vt_vlm v;             VT_TRY(vt_vlm_load(&v, &cfg, &ck, st));
 *     vt_processor_opts po; vt_processor_defaults(&po);   (or from cfg.pre)
 *     vt_lm_generate_opts go = vt_lm_generate_defaults(&v.lm);
 *     vt_tensor ids;        // int64 [1, n] from the arena
 *     rc = vt_vlm_pipeline(&ids, NULL, &v, images, 1, NULL, NULL, 0, &po, &input_ids, &go,
 *                          VT_ATTN_SEGMENTS, &tap, &arena, st);
 *     vt_vlm_free(&v);  vt_checkpoint_close(&ck);
 *
 * Ownership as in the families' headers: vt_vlm owns its weight buffers; everything a call makes comes
 * from the caller's arena. May include: everything in ref/ (ref/model/ is the top of ref/).
 */
#ifndef VT_VLM_H
#define VT_VLM_H

#include "lm/lm.h"
#include "model/model.h"
#include "processor/processor.h"
#include "qwen25vl/qwen25vl.h"
#include "qwen2vl/qwen2vl.h"

typedef struct vt_vlm {
    vt_family family;      /* VT_FAMILY_QWEN2VL or VT_FAMILY_QWEN25VL */
    vt_qwen2vl_model q2;   /* the tower, Qwen2-VL */
    vt_qwen25vl_model q25; /* the tower, Qwen2.5-VL */
    vt_lm_model lm;        /* the language model */
} vt_vlm;

/* Both sides from an open checkpoint (the vision tower first). A checkpoint without the language model is
 * VT_EINPUT naming what is missing (vt_lm_load); another family is VT_EINPUT. */
int vt_vlm_load(vt_vlm *v, const vt_model_config *cfg, const vt_checkpoint *ck, vt_status *st);
/* Set the bug-zoo flags (core/bugzoo.h) on whichever side makes each mistake. */
void vt_vlm_set_bugs(vt_vlm *v, unsigned bugs);
void vt_vlm_free(vt_vlm *v);

/* The whole model: the family's vision pipeline (processor, tower on cat(images, videos); skipped when
 * there are neither), then vt_lm_generate with the tower's rows split into the images' and the videos'.
 * fps [n_videos] (Qwen2.5-VL: second_per_grid_ts = temporal_patch_size / fps; NULL without videos).
 * input_ids int64 [1, L], the vision pads expanded as the processor expands them. -> generated_ids int64
 * [1, n]; *px (may be NULL) receives the processor's outputs. Traced: the preprocessing and visual.* names,
 * then vt_lm_generate's. */
int vt_vlm_pipeline(vt_tensor *generated_ids, vt_processor_pixels *px, const vt_vlm *v, const vt_image *images,
                    int n_images, const vt_processor_video *videos, const double *fps, int n_videos,
                    const vt_processor_opts *po, const vt_tensor *input_ids, const vt_lm_generate_opts *go,
                    vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
