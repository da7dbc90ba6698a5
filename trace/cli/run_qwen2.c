/*
 * run_qwen2.c -- `vlmtrace run` for Qwen2-VL, Qwen2.5-VL and Qwen3-VL (run.h): decode the images (EXIF
 * applied, as HF's load_image does) and video frames, preprocess them (processor.h), run the vision tower
 * (qwen2vl.h / qwen25vl.h / qwen3vl.h), draw the --viz pictures, hand `visual` to --out.
 *
 * Preprocessing settings, one precedence: a flag (--min-pixels, --max-pixels) overrides
 * DIR/preprocessor_config.json, which overrides the published defaults (Qwen3-VL's: patch 16,
 * mean = std = 0.5, min_pixels 65536, max_pixels 16777216).
 * Trace order: image.* / video.* and the processor outputs (the preprocessing), second_per_grid_ts (with
 * videos), then the tower's tensors from visual.patch_embed to visual.
 */
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "qwen25vl/qwen25vl.h"
#include "processor/processor.h"
#include "qwen2vl/qwen2vl.h"
#include "qwen3vl/qwen3vl.h"
#include "cli/run.h"
#include "cli/output.h"
#include "viz/viz.h"
#include "viz/viz_qwen2.h"
#include "viz/viz_qwen3.h"

/* ======================================== --viz capture ======================================== */

/* With --viz the run needs each input's resized pixels after the preprocessing has emitted them: a tap in
 * front of the tracer's keeps a copy of image.{k}.resized / video.{k}.resized and passes everything on. */
typedef struct viz_tap_ctx {
    vt_tap inner;
    int n_images, n_videos;
    uint8_t **resized; /* [n_images + n_videos]: a copy of the (first frame's) resized pixels, malloc'd */
    int64_t *h, *w;
} viz_tap_ctx;

static int resized_slot(const viz_tap_ctx *v, const char *name)
{
    int k;
    char tail[16];
    if (sscanf(name, "image.%d.%15s", &k, tail) == 2 && !strcmp(tail, "resized") && k >= 0 && k < v->n_images) return k;
    if (sscanf(name, "video.%d.%15s", &k, tail) == 2 && !strcmp(tail, "resized") && k >= 0 && k < v->n_videos)
        return v->n_images + k;
    return -1;
}

static int viz_wants(void *ctx, const char *name)
{
    viz_tap_ctx *v = ctx;
    return resized_slot(v, name) >= 0 || vt_tap_wants(&v->inner, name);
}

static int viz_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    viz_tap_ctx *v = ctx;
    int k = resized_slot(v, name);
    if (k >= 0 && t->dtype == VT_U8 && t->ndim >= 3 && !v->resized[k]) {
        int64_t h = t->shape[t->ndim - 3], w = t->shape[t->ndim - 2]; /* [h, w, 3] or [F, h, w, 3]: frame 0 */
        if (!(v->resized[k] = malloc((size_t)(h * w * 3)))) return vt_fail(st, VT_ERESOURCE, "out of memory");
        memcpy(v->resized[k], t->data, (size_t)(h * w * 3));
        v->h[k] = h;
        v->w[k] = w;
    }
    return vt_tap_emit(&v->inner, name, t, st);
}

static void viz_progress(void *ctx, const char *what, int i, int n)
{
    viz_tap_ctx *v = ctx;
    vt_tap_progress(&v->inner, what, i, n);
}

/* ======================================== pictures ======================================== */

static int draw_pictures(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr,
                         const viz_tap_ctx *v, const vt_tensor *grid_thw, vt_arena *a, vt_status *st)
{
    const vt_vision_config *c = vt_model_vision(cfg);
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor cu;
    VT_TRY(vt_vision_cu_seqlens(&cu, grid_thw, a, st));
    const int64_t N = vt_i32(&cu)[cu.shape[0] - 1];
    if (cfg->family == VT_FAMILY_QWEN2VL) {
        VT_TRY(vt_viz_qwen2_mask(tr, "visual.attention_mask.png", vt_i32(&cu), cu.shape[0] - 1, N,
                                 "one image or one time slice of a video (visual.cu_seqlens)", st));
    } else if (cfg->family == VT_FAMILY_QWEN3VL) {
        VT_TRY(vt_viz_qwen2_mask(tr, "visual.attention_mask.png", vt_i32(&cu), cu.shape[0] - 1, N,
                                 "one image or one temporal patch of a video (visual.cu_seqlens)", st));
        VT_TRY(vt_viz_qwen3_deepstack(tr, "visual.deepstack.png", &cfg->qwen3vl, st));
        for (int k = 0; k < o->n_images + o->n_videos; k++) {
            const int64_t *g = vt_i64(grid_thw) + 3 * k;
            if (!v->resized[k] || v->h[k] != g[1] * c->patch_size || v->w[k] != g[2] * c->patch_size) continue;
            char file[64];
            if (k < o->n_images) snprintf(file, sizeof file, "image.%d.pos_embed.png", k);
            else snprintf(file, sizeof file, "video.%d.pos_embed.png", k - o->n_images);
            VT_TRY(vt_viz_qwen3_pos_embed(tr, file, v->resized[k], g[1], g[2], c->patch_size, cfg->qwen3vl.pos_side,
                                          st));
        }
    } else {
        /* the two distinct masks: windows (most blocks) and whole images (fullatt_block_indexes) */
        const int ws = cfg->qwen25vl.window_size / c->spatial_merge_size / c->patch_size;
        vt_tensor wi, raw, cu_win;
        VT_TRY(vt_qwen25vl_get_window_index(&wi, &raw, grid_thw, ws, c->spatial_merge_size, a, st));
        VT_TRY(vt_qwen25vl_unique_consecutive(&cu_win, &raw, a, st));
        VT_TRY(vt_viz_qwen2_mask(tr, "visual.window_mask.png", vt_i32(&cu_win), cu_win.shape[0] - 1, N,
                                 "one window of get_window_index (the blocks outside fullatt_block_indexes)", st));
        VT_TRY(vt_viz_qwen2_mask(tr, "visual.full_mask.png", vt_i32(&cu), cu.shape[0] - 1, N,
                                 "one image or one time slice of a video (the fullatt_block_indexes blocks)", st));
        int first = 0; /* the window-mask segment of each input's first window */
        for (int k = 0; k < o->n_images + o->n_videos; k++) {
            const int64_t *g = vt_i64(grid_thw) + 3 * k;
            int n_win = 0;
            char file[64];
            if (k < o->n_images) snprintf(file, sizeof file, "image.%d.windows.png", k);
            else snprintf(file, sizeof file, "video.%d.windows.png", k - o->n_images);
            if (v->resized[k] && v->h[k] == g[1] * c->patch_size && v->w[k] == g[2] * c->patch_size)
                VT_TRY(vt_viz_qwen25_windows(tr, file, v->resized[k], g[1], g[2], ws, c->spatial_merge_size,
                                             c->patch_size, first, &n_win, st));
            first += (int)g[0] * n_win; /* every time slice of a video has the same windows */
        }
    }
    /* each input's patches and merge blocks over its resized pixels (what preprocess --viz draws too) */
    for (int k = 0; k < o->n_images + o->n_videos; k++) {
        const int64_t *g = vt_i64(grid_thw) + 3 * k;
        if (!v->resized[k] || v->h[k] != g[1] * c->patch_size || v->w[k] != g[2] * c->patch_size) continue;
        char file[64];
        if (k < o->n_images) snprintf(file, sizeof file, "image.%d.grid.png", k);
        else snprintf(file, sizeof file, "video.%d.grid.png", k - o->n_images);
        VT_TRY(vt_viz_patch_grid(tr, file, v->resized[k], (int)v->w[k], (int)v->h[k], c->patch_size,
                                 c->spatial_merge_size, st));
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ======================================== the run ======================================== */

typedef struct run_state {
    vt_run_inputs in;     /* the decoded --image / --video inputs */
    vt_checkpoint ck;
    int ck_open;
    vt_qwen2vl_model m2;
    vt_qwen25vl_model m25;
    vt_qwen3vl_model m3;
    vt_arena a;
    viz_tap_ctx viz;
} run_state;

static void run_state_free(run_state *s, const vt_run_opts *o)
{
    vt_run_inputs_free(&s->in, o);
    vt_qwen2vl_free(&s->m2);
    vt_qwen25vl_free(&s->m25);
    vt_qwen3vl_free(&s->m3);
    if (s->ck_open) vt_checkpoint_close(&s->ck);
    vt_arena_free(&s->a);
    for (int k = 0; s->viz.resized && k < o->n_images + o->n_videos; k++) free(s->viz.resized[k]);
    free(s->viz.resized);
    free(s->viz.h);
    free(s->viz.w);
}

/* The run's memory (run_limits.h) from the decoded sizes, refused over the limit before the weights, the
 * preprocessing or the tower allocate anything. */
static int check_memory(const run_state *s, const vt_run_opts *o, const vt_model_config *cfg,
                        const vt_processor_opts *po, vt_mem_estimate *e, vt_status *st)
{
    const int n = o->n_images + o->n_videos;
    vt_mem_input *in = malloc((size_t)n * sizeof *in);
    if (!in) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int k = 0; k < o->n_images; k++)
        in[k] = (vt_mem_input){s->in.images[k].w, s->in.images[k].h, 1, 0};
    for (int v = 0; v < o->n_videos; v++)
        in[o->n_images + v] =
            (vt_mem_input){s->in.frames[v][0].w, s->in.frames[v][0].h, o->videos[v].n_frames, 1};
    int rc = vt_mem_weights(e, cfg, st);
    if (rc == VT_OK) {
        vt_mem_qwen2(e, vt_model_vision(cfg), cfg->family == VT_FAMILY_QWEN25VL, po, in, n, o->attn == VT_ATTN_LITERAL, o->viz);
        if (cfg->family == VT_FAMILY_QWEN3VL) vt_mem_qwen3_extra(e, &cfg->qwen3vl);
        rc = vt_run_check_literal(o, e->tokens, st);
        if (rc == VT_OK) rc = vt_mem_check(e, o->model_dir, "lower --max-pixels (or --min-pixels), or pass fewer inputs", st);
    }
    free(in);
    return rc;
}

int vt_run_processor_opts(vt_processor_opts *po, const vt_run_opts *o, const vt_model_config *cfg, vt_status *st)
{
    vt_processor_defaults(po);
    /* Qwen3-VL: cfg->pre holds the family's defaults (patch 16, mean = std = 0.5) when the file is absent */
    if (cfg->pre.present || cfg->family == VT_FAMILY_QWEN3VL) vt_processor_from_config(po, &cfg->pre);
    po->mode = o->processor_mode >= 0 ? (vt_processor_mode)o->processor_mode : vt_model_processor_mode(cfg);
    if (po->mode == VT_PROCESSOR_FAST && o->n_videos && o->model_dir) { /* 5.0's video processor has its own file */
        vt_preproc_config vc;
        VT_TRY(vt_preproc_load_video(&vc, &cfg->pre, o->model_dir, st));
        vt_processor_video_from_config(po, &vc);
    }
    if (o->min_pixels > 0) po->min_pixels = po->video_min_pixels = o->min_pixels;
    if (o->max_pixels > 0) po->max_pixels = po->video_max_pixels = o->max_pixels;
    po->bugs = o->bugs; /* --inject: the preprocessing's switches */
    return VT_OK;
}

int vt_run_qwen2(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    const int q25 = cfg->family == VT_FAMILY_QWEN25VL, q3 = cfg->family == VT_FAMILY_QWEN3VL;
    run_state s;
    memset(&s, 0, sizeof s);
    vt_arena_init(&s.a, vt_mem_arena_limit());
    vt_tap tap = vt_run_tap(o, tr);

    /* preprocessing options: flag > preprocessor_config.json > published defaults */
    vt_processor_opts po;
    int rc = vt_run_processor_opts(&po, o, cfg, st);
    if (rc == VT_OK && tr) rc = vt_tracer_set_processor_mode(tr, vt_processor_mode_name(po.mode), st);

    /* the inputs' sizes decide the memory, which is checked before the weights are loaded; a checkpoint
     * that disagrees with config.json then fails before anything is preprocessed */
    vt_mem_estimate est;
    if (rc == VT_OK) vt_output_stage("decoding the inputs");
    if (rc == VT_OK) rc = vt_run_inputs_decode(&s.in, o, st);
    if (rc == VT_OK) rc = check_memory(&s, o, cfg, &po, &est, st);
    if (rc == VT_OK && o->mem) o->mem->est = est;
    if (rc == VT_OK) vt_output_stage("loading the weights");
    if (rc == VT_OK && (rc = vt_checkpoint_open(&s.ck, o->model_dir, st)) == VT_OK) {
        s.ck_open = 1;
        rc = q3    ? vt_qwen3vl_load(&s.m3, &cfg->qwen3vl, &s.ck, st)
             : q25 ? vt_qwen25vl_load(&s.m25, &cfg->qwen25vl, &s.ck, st)
                   : vt_qwen2vl_load(&s.m2, &cfg->qwen2vl, &s.ck, st);
        s.m2.bugs = s.m25.bugs = s.m3.bugs = o->bugs; /* --inject: the tower's switches (bugzoo.h) */
    }

    if (rc == VT_OK && o->viz && tr) { /* a tap in front of the tracer's that keeps the resized pixels */
        int n = o->n_images + o->n_videos;
        s.viz.inner = tap;
        s.viz.n_images = o->n_images;
        s.viz.n_videos = o->n_videos;
        s.viz.resized = calloc((size_t)n, sizeof *s.viz.resized);
        s.viz.h = calloc((size_t)n, sizeof *s.viz.h);
        s.viz.w = calloc((size_t)n, sizeof *s.viz.w);
        if (!s.viz.resized || !s.viz.h || !s.viz.w) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        vt_tap wrapped = {viz_emit, viz_wants, viz_progress, &s.viz};
        tap = wrapped;
    }

    /* the processor, (Qwen2.5-VL) second_per_grid_ts, the tower on images then videos */
    vt_processor_pixels px;
    vt_tensor visual;
    vt_qwen3vl_output out3;
    if (rc == VT_OK) vt_output_stage("preprocessing (the image processor)");
    const vt_image *im = s.in.images;
    const vt_processor_video *vi = s.in.videos;
    if (rc == VT_OK && q3) {
        rc = vt_qwen3vl_pipeline(&out3, &px, &s.m3, im, o->n_images, vi, o->n_videos, &po, o->attn, &tap, &s.a, st);
        visual = out3.visual; /* --out: the first return value; the DeepStack list is in the trace */
    } else if (rc == VT_OK)
        rc = q25 ? vt_qwen25vl_pipeline(&visual, &px, &s.m25, im, o->n_images, vi, o->fps, o->n_videos, &po, o->attn,
                                        &tap, &s.a, st)
                 : vt_qwen2vl_pipeline(&visual, &px, &s.m2, im, o->n_images, vi, o->n_videos, &po, o->attn, &tap, &s.a,
                                       st);
    if (rc == VT_OK && o->viz && tr) rc = draw_pictures(o, cfg, tr, &s.viz, &px.all_grid_thw, &s.a, st);
    if (rc == VT_OK) rc = vt_run_save_out(o, &visual, st);
    if (o->mem) o->mem->arena_peak = s.a.peak;
    run_state_free(&s, o);
    return rc;
}
