/* run_kimivl.c -- `vlmtrace run` for Kimi-VL (run.h): decode, KimiVLImageProcessor, MoonViT + projector, --out.
 *
 * The reference's processor takes images only, opened with PIL and converted to RGB without applying the
 * EXIF orientation; preprocessor_config.json (patch_size, in_token_limit, pad_input, mean/std, merge
 * kernel) is read by vt_config_load when DIR has one, the published defaults are used otherwise. The
 * final tensor is multi_modal_projector [M, text_hidden], the image features the language model gets.
 */
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "kimivl/kimivl.h"
#include "cli/run.h"
#include "cli/output.h"
#include "viz/viz_kimivl.h"
#include "viz/viz_qwen2.h"

/* The flags that mean nothing for this family are refused, not silently ignored. */
static int check_flags(const vt_run_opts *o, vt_status *st)
{
    if (o->n_videos)
        return vt_fail(st, VT_EINPUT, "--video: Kimi-VL's image processor takes images only (its reference has no "
                       "video path)");
    if (o->n_images == 0) return vt_fail(st, VT_EINPUT, "no --image given (Kimi-VL takes images only)");
    if (o->min_pixels >= 0 || o->max_pixels >= 0)
        return vt_fail(st, VT_EINPUT, "--min-pixels / --max-pixels do not apply to Kimi-VL: it downscales by "
                       "in_token_limit (preprocessor_config.json)");
    return VT_OK;
}

/* --viz: per image, the padded pixels with their patch grid and numbered merge blocks; then the
 * block-diagonal attention mask over the packed sequence (the one sdpa applies). */
static int draw_pictures(vt_tracer *tr, const vt_image *in, int n, const vt_preproc_config *pre,
                         const vt_kimivl_batch *b, const vt_kimivl_config *c, vt_arena *a, vt_status *st)
{
    const int64_t *grid = vt_i64(&b->image_grid_hws);
    int64_t token = 0, N = 0;
    for (int k = 0; k < n; k++) {
        vt_arena_pos mark = vt_arena_mark(a);
        vt_tensor padded;
        int rw, rh, pw, ph;
        char file[64];
        VT_TRY(vt_kimivl_rescale_size(in[k].w, in[k].h, pre, &rw, &rh, &pw, &ph, st));
        VT_TRY(vt_kimivl_rescale(&padded, &in[k], pre, a, st));
        snprintf(file, sizeof file, "image.%d.patches.png", k);
        VT_TRY(vt_viz_kimivl_image(tr, file, vt_u8(&padded), pw, ph, rw, rh, in[k].w, in[k].h, pre->patch_size,
                                   pre->merge_size, token, st));
        token += (grid[2 * k] / c->merge_kernel_size[0]) * (grid[2 * k + 1] / c->merge_kernel_size[1]);
        N += grid[2 * k] * grid[2 * k + 1];
        vt_arena_reset(a, mark);
    }
    int32_t *cu = vt_arena_alloc(a, (size_t)(n + 1) * sizeof *cu, st);
    if (!cu) return st->code;
    cu[0] = 0;
    for (int k = 0; k < n; k++) cu[k + 1] = cu[k] + (int32_t)(grid[2 * k] * grid[2 * k + 1]);
    return vt_viz_qwen2_mask(tr, "vision_tower.encoder.attn_mask.png", cu, n, N, "one image (cu_seqlens)", st);
}

int vt_run_kimivl(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    VT_TRY(check_flags(o, st));
    VT_TRY(vt_kimivl_config_check(&cfg->kimivl, st));

    /* images, as PIL's Image.open(path).convert("RGB") gives them */
    int rc = VT_OK;
    vt_image *imgs = calloc((size_t)o->n_images, sizeof *imgs);
    vt_mem_input *sizes = calloc((size_t)o->n_images, sizeof *sizes);
    if (!imgs || !sizes) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_output_stage("decoding the inputs");
    for (int k = 0; !rc && k < o->n_images; k++) {
        rc = vt_image_load(&imgs[k], o->images[k], VT_EXIF_IGNORE, st);
        sizes[k] = (vt_mem_input){imgs[k].w, imgs[k].h, 1};
    }

    /* the run's memory (run_limits.h), refused over the limit before the weights are loaded */
    vt_mem_estimate est;
    if (!rc) rc = vt_mem_weights(&est, cfg, st);
    if (!rc) {
        vt_mem_kimivl(&est, &cfg->kimivl, &cfg->pre, sizes, o->n_images, o->attn == VT_ATTN_LITERAL, o->viz);
        rc = vt_run_check_literal(o, est.tokens, st);
        if (!rc) rc = vt_mem_check(&est, o->model_dir, "pass fewer images, or lower in_token_limit in preprocessor_config.json", st);
    }
    if (!rc && o->mem) o->mem->est = est;
    free(sizes);

    /* weights: one buffer, the checkpoint closed as soon as they are copied */
    vt_checkpoint ck;
    vt_kimivl_model m;
    memset(&m, 0, sizeof m);
    if (!rc) vt_output_stage("loading the weights");
    if (!rc && (rc = vt_checkpoint_open(&ck, o->model_dir, st)) == VT_OK) {
        rc = vt_kimivl_load(&m, &cfg->kimivl, &ck, st);
        vt_checkpoint_close(&ck);
    }
    m.bugs = o->bugs; /* --inject (core/bugzoo.h) */

    vt_arena a;
    vt_arena_init(&a, vt_mem_arena_limit());
    vt_tap tap = vt_run_tap(o, tr);
    vt_kimivl_batch batch;
    vt_tensor feats;
    if (!rc) vt_output_stage("preprocessing (the image processor)");
    if (!rc) rc = vt_kimivl_pipeline(&feats, &batch, &m, imgs, o->n_images, &cfg->pre, o->attn, &tap, &a, st);
    if (!rc) rc = vt_run_save_out(o, &feats, st);
    if (!rc && o->viz && tr) rc = draw_pictures(tr, imgs, o->n_images, &cfg->pre, &batch, &cfg->kimivl, &a, st);

    if (o->mem) o->mem->arena_peak = a.peak;
    vt_arena_free(&a);
    for (int k = 0; imgs && k < o->n_images; k++) vt_image_free(&imgs[k]);
    free(imgs);
    vt_kimivl_free(&m);
    return rc;
}
