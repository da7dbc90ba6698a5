/*
 * vlm.c -- Qwen2VLForConditionalGeneration / Qwen2_5_VLForConditionalGeneration as one model (vlm.h): the
 * family's tower, then the language model. Legend: L prompt tokens, E hidden_size = the tower's out_hidden,
 * Mi / Mv merged tokens of the images / videos (prod(grid_thw) / merge^2 each).
 */
#include <string.h>

#include "model/vlm.h"

int vt_vlm_load(vt_vlm *v, const vt_model_config *cfg, const vt_checkpoint *ck, vt_status *st)
{
    memset(v, 0, sizeof *v);
    v->family = cfg->family;
    int rc;
    switch (cfg->family) {
    case VT_FAMILY_QWEN2VL: rc = vt_qwen2vl_load(&v->q2, &cfg->qwen2vl, ck, st); break;
    case VT_FAMILY_QWEN25VL: rc = vt_qwen25vl_load(&v->q25, &cfg->qwen25vl, ck, st); break;
    default:
        return vt_fail(st, VT_EINPUT, "%s has no language model in vlmtrace (Qwen2-VL and Qwen2.5-VL have)",
                       vt_family_name(cfg->family));
    }
    const vt_vision_config *vc = vt_model_vision(cfg);
    if (rc == VT_OK && vc->out_hidden != cfg->text.hidden_size)
        rc = vt_fail(st, VT_EINPUT, "config.json: the vision tower's output width %d is not the language model's "
                     "hidden_size %d", vc->out_hidden, cfg->text.hidden_size);
    if (rc == VT_OK) rc = vt_lm_load(&v->lm, &cfg->lm, &cfg->text, ck, st);
    if (rc) vt_vlm_free(v);
    return rc;
}

void vt_vlm_set_bugs(vt_vlm *v, unsigned bugs)
{
    v->q2.bugs = v->q25.bugs = bugs; /* the towers' switches */
    v->lm.bugs = bugs;                /* the language model's */
}

void vt_vlm_free(vt_vlm *v)
{
    vt_qwen2vl_free(&v->q2);
    vt_qwen25vl_free(&v->q25);
    vt_lm_free(&v->lm);
}

/* Merged tokens of the first n rows of grid [*, 3]: sum of t * h * w / merge^2. */
static int64_t merged_rows(const vt_tensor *grid, int64_t n, int merge)
{
    int64_t s = 0;
    for (int64_t r = 0; r < n; r++) {
        const int64_t *g = vt_i64(grid) + 3 * r;
        s += g[0] * g[1] * g[2] / ((int64_t)merge * merge);
    }
    return s;
}

int vt_vlm_pipeline(vt_tensor *generated_ids, vt_processor_pixels *px, const vt_vlm *v, const vt_image *images,
                    int n_images, const vt_processor_video *videos, const double *fps, int n_videos,
                    const vt_processor_opts *po, const vt_tensor *input_ids, const vt_lm_generate_opts *go,
                    vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int q25 = v->family == VT_FAMILY_QWEN25VL;
    /* a prompt that cannot be generated from is refused before the tower runs */
    VT_TRY(vt_lm_check_ids(&v->lm, input_ids, st));
    vt_lm_inputs in = {input_ids, NULL, NULL, NULL, NULL, NULL};
    vt_tensor visual, img_rows, vid_rows, ts;
    vt_processor_pixels p;
    memset(&p, 0, sizeof p);
    if (n_images + n_videos > 0) {
        /* the processor and the tower on cat(pixel_values, pixel_values_videos): one call, as in *-multi;
         * HF's forward calls it once for the images and once for the videos (the rows agree to ~2e-6) */
        if (q25)
            VT_TRY(vt_qwen25vl_pipeline(&visual, &p, &v->q25, images, n_images, videos, fps, n_videos, po, attn, tap,
                                        a, st));
        else
            VT_TRY(vt_qwen2vl_pipeline(&visual, &p, &v->q2, images, n_images, videos, n_videos, po, attn, tap, a, st));
        const int merge = q25 ? v->q25.cfg.vision.spatial_merge_size : v->q2.cfg.vision.spatial_merge_size;
        const int64_t Mi = merged_rows(&p.image_grid_thw, n_images, merge), E = visual.shape[1];
        /* image_embeds = the first Mi rows, video_embeds the rest (views, no copy) */
        img_rows = vt_tensor_of(VT_F32, vt_f32(&visual), VT_DIMS(Mi, E));
        vid_rows = vt_tensor_of(VT_F32, vt_f32(&visual) + Mi * E, VT_DIMS(visual.shape[0] - Mi, E));
        if (n_images) in.image_embeds = &img_rows, in.image_grid_thw = &p.image_grid_thw;
        if (n_videos) in.video_embeds = &vid_rows, in.video_grid_thw = &p.video_grid_thw;
        if (q25 && n_videos) {
            /* second_per_grid_ts = temporal_patch_size / fps per video, as vt_qwen25vl_pipeline traced it */
            VT_TRY(vt_tensor_alloc(&ts, a, VT_F32, VT_DIMS(n_videos), st));
            for (int k = 0; k < n_videos; k++) vt_f32(&ts)[k] = (float)((double)po->temporal_patch_size / fps[k]);
            in.second_per_grid_ts = &ts;
        }
    }
    if (px) *px = p;
    return vt_lm_generate(generated_ids, &v->lm, &in, go, attn, tap, a, st);
}
