/* run_qwenvl.c -- `vlmtrace run` for Qwen-VL (v1) (run.h): decode, image_transform, forward, --out.
 *
 * Mirrors VisionTransformer.encode(image_paths): every image is opened with Image.open(p).convert("RGB")
 * (no EXIF orientation), transformed to [3, S, S], and the images are stacked into one batch [B, 3, S, S]
 * for one forward (vt_qwenvl_pipeline). Videos are not part of Qwen-VL and are refused. --viz draws where the Resampler's
 * queries look (viz_qwenvl.c).
 */
#include <stdlib.h>
#include <string.h>

#include "qwenvl/qwenvl.h"
#include "cli/run.h"
#include "cli/output.h"
#include "viz/viz_qwenvl.h"

int vt_run_qwenvl(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    if (o->n_videos > 0)
        return vt_fail(st, VT_EINPUT, "--video: Qwen-VL (model_type qwen) takes images only; its visual encoder has no video path");
    if (o->n_images == 0) return vt_fail(st, VT_EINPUT, "no --image given (Qwen-VL needs at least one image)");
    if (o->min_pixels >= 0 || o->max_pixels >= 0)
        return vt_fail(st, VT_EINPUT, "--min-pixels/--max-pixels: Qwen-VL resizes every image to image_size = %d "
                       "(config.json: visual.image_size)", cfg->qwenvl.image_size);

    /* the images, as Image.open(p).convert("RGB") gives them (each within the decoder's own limits) */
    int rc = VT_OK;
    vt_image *imgs = calloc((size_t)o->n_images, sizeof *imgs);
    vt_mem_input *sizes = calloc((size_t)o->n_images, sizeof *sizes);
    if (!imgs || !sizes) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_output_stage("decoding the inputs");
    for (int k = 0; rc == VT_OK && k < o->n_images; k++) {
        rc = vt_image_load(&imgs[k], o->images[k], VT_EXIF_IGNORE, st);
        sizes[k] = (vt_mem_input){imgs[k].w, imgs[k].h, 1};
    }

    /* the run's memory (run_limits.h), refused over the limit before the weights are loaded */
    vt_mem_estimate est;
    if (rc == VT_OK) rc = vt_mem_weights(&est, cfg, st);
    if (rc == VT_OK) {
        vt_mem_qwenvl(&est, &cfg->qwenvl, sizes, o->n_images);
        rc = vt_mem_check(&est, o->model_dir, "pass fewer images", st);
    }
    if (rc == VT_OK && o->mem) o->mem->est = est;
    free(sizes);

    vt_qwenvl_model m;
    memset(&m, 0, sizeof m);
    vt_checkpoint ck;
    if (rc == VT_OK) vt_output_stage("loading the weights");
    if (rc == VT_OK && (rc = vt_checkpoint_open(&ck, o->model_dir, st)) == VT_OK) {
        rc = vt_qwenvl_load(&m, &cfg->qwenvl, &ck, st);
        vt_checkpoint_close(&ck);
    }
    m.bugs = o->bugs; /* --inject qkv-global-split (core/bugzoo.h) */
    /* with --viz, a tap in front of the run's one keeps what the picture needs (viz_qwenvl.h) */
    vt_qwenvl_viz viz;
    vt_qwenvl_viz_init(&viz, vt_run_tap(o, tr));
    vt_tap tap = o->viz ? vt_qwenvl_viz_tap(&viz) : vt_run_tap(o, tr);
    vt_arena a;
    vt_arena_init(&a, vt_mem_arena_limit());
    vt_tensor out;
    if (rc == VT_OK) vt_output_stage("preprocessing (the image transform)");
    if (rc == VT_OK) rc = vt_qwenvl_pipeline(&out, &m, imgs, o->n_images, &tap, &a, st);
    for (int k = 0; imgs && k < o->n_images; k++) vt_image_free(&imgs[k]);
    free(imgs);
    if (rc == VT_OK && o->viz && tr) rc = vt_qwenvl_viz_write(&viz, tr, st);
    if (rc == VT_OK) rc = vt_run_save_out(o, &out, st);
    vt_qwenvl_viz_free(&viz);
    if (o->mem) o->mem->arena_peak = a.peak;
    vt_arena_free(&a);
    vt_qwenvl_free(&m);
    return rc;
}
