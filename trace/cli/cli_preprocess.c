/* cli_preprocess.c -- `vlmtrace preprocess`: Qwen2-VL / Qwen2.5-VL preprocessing alone, traced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "cli/cli.h"
#include "model/model.h"
#include "io/fileio.h"
#include "io/image.h"
#include "cli/inject.h"
#include "processor/processor.h"
#include "cli/run_limits.h"
#include "format/tracer.h"
#include "viz/viz.h"

static const char preprocess_usage[] =
    "usage: vlmtrace preprocess --family qwen2-vl|qwen2.5-vl [--model DIR] [--image FILE]...\n"
    "                           [--video F1,F2,...]... [--min-pixels N] [--max-pixels N]\n"
    "                           --trace DIR [--only GLOB]... [--viz] [--inject BUG]\n"
    "\n"
    "Run the Qwen2-VL / Qwen2.5-VL image processor (transformers 4.51.3, PIL bicubic; both families use\n"
    "the same one) on the images, then the videos, in the order given, and trace every step:\n"
    "image.{k}.rgb, .resized, .normalized, .patches, .grid_thw, pixel_values, image_grid_thw, and the\n"
    "video.{k}.* equivalents, pixel_values_videos, video_grid_thw.\n"
    "\n"
    "  --family F          qwen2-vl or qwen2.5-vl\n"
    "  --model DIR         read DIR/preprocessor_config.json (min/max_pixels, patch sizes, mean/std)\n"
    "  --image FILE        an image (PNG, JPEG, ...; EXIF orientation applied as HF load_image does);\n"
    "                      repeatable: image.0, image.1, ...\n"
    "  --video F1,F2,...   a video as its frame files in order; repeatable: video.0, ... Frames are\n"
    "                      paired in time; an odd count repeats the last frame; every frame is resized to\n"
    "                      the size computed from the first\n"
    "  --min-pixels N      resize bounds. A flag overrides DIR/preprocessor_config.json, which overrides\n"
    "  --max-pixels N      the published defaults (min 3136, max 12845056)\n"
    "  --trace DIR         write DIR/<name>.npy and DIR/manifest.json (last)\n"
    "  --only GLOB         trace only names matching a shell-style glob ('*' also matches dots); repeatable\n"
    "  --viz               also draw image.{k}.grid.png (video.{k}.grid.png: the first frame): the resized\n"
    "                      image with its 14-px patches and 28-px merge blocks\n"
    "  --inject BUG        switch on a real porting mistake and label the trace with it (docs/bug-zoo.md):\n"
    "                      bilinear-resize (PIL BILINEAR in the resize), round-half-away (smart_resize\n"
    "                      rounding 2.5 up, as C's round() does)\n"
    "\n"
    "An input the reference rejects (a side under 28, an aspect ratio over 200, a resize to a zero side)\n"
    "exits 2 with the reason.\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error, 3 resource failure.\n";

/* ---- the tap: the tracer's, plus the --viz pictures drawn from the resized images ---- */

typedef struct pp_tap {
    vt_tap inner;
    vt_tracer *tr;
    int viz, patch, merge;
} pp_tap;

/* "image.3.resized" / "video.0.resized" -> "image.3.grid.png"; 0 if name is not a resized input. */
static int grid_picture_name(const char *name, char *out, size_t n)
{
    int k, len = 0;
    if ((sscanf(name, "image.%d.resized%n", &k, &len) == 1 || sscanf(name, "video.%d.resized%n", &k, &len) == 1) &&
        name[len] == 0) {
        snprintf(out, n, "%.5s.%d.grid.png", name, k);
        return 1;
    }
    return 0;
}

static int pp_wants(void *ctx, const char *name)
{
    pp_tap *p = ctx;
    char pic[VT_NAME_MAX];
    if (p->viz && grid_picture_name(name, pic, sizeof pic)) return 1;
    return vt_tap_wants(&p->inner, name);
}

static int pp_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    pp_tap *p = ctx;
    VT_TRY(vt_tap_emit(&p->inner, name, t, st));
    char pic[VT_NAME_MAX];
    if (p->viz && grid_picture_name(name, pic, sizeof pic)) {
        int v = t->ndim == 4; /* a video: [F, h, w, 3], draw its first frame */
        VT_TRY(vt_viz_patch_grid(p->tr, pic, vt_u8(t), (int)t->shape[v + 1], (int)t->shape[v], p->patch, p->merge, st));
    }
    return VT_OK;
}

/* ---- inputs ---- */

typedef struct pp_video {
    char *buf;        /* the flag value, split at the commas */
    char **files;
    vt_image *frames;
    int n;
} pp_video;

typedef struct pp_args {
    const char *family, *model_dir, *trace_dir, *inject;
    vt_strlist images, only;
    pp_video *videos;
    int n_videos, viz;
    int64_t min_pixels, max_pixels; /* -1: not given */
} pp_args;

/* "a.png,b.png,c.png" -> one more video of three frames (decoded later, in load order). */
static int add_video(pp_args *r, const char *list, vt_status *st)
{
    pp_video *vs = realloc(r->videos, (size_t)(r->n_videos + 1) * sizeof *vs);
    if (!vs) return vt_fail(st, VT_ERESOURCE, "out of memory");
    r->videos = vs;
    pp_video *v = &vs[r->n_videos];
    memset(v, 0, sizeof *v);
    VT_TRY(vt_split_list("--video", list, &v->buf, &v->files, &v->n, st));
    if (!(v->frames = calloc((size_t)v->n, sizeof *v->frames))) {
        free(v->buf);
        free(v->files);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    r->n_videos++;
    return VT_OK;
}

static int parse_args(pp_args *r, int argc, char **argv, vt_status *st)
{
    r->min_pixels = r->max_pixels = -1;
    vt_args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        if ((m = vt_arg_value(&a, "--family", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->family = v;
        } else if ((m = vt_arg_value(&a, "--model", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->model_dir = v;
        } else if ((m = vt_arg_value(&a, "--image", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_strlist_push(&r->images, v, st));
        } else if ((m = vt_arg_value(&a, "--video", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(add_video(r, v, st));
        } else if ((m = vt_arg_value(&a, "--min-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--min-pixels", v, 1, (int64_t)1 << 40, &r->min_pixels, st));
        } else if ((m = vt_arg_value(&a, "--max-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--max-pixels", v, 1, (int64_t)1 << 40, &r->max_pixels, st));
        } else if ((m = vt_arg_value(&a, "--trace", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->trace_dir = v;
        } else if ((m = vt_arg_value(&a, "--only", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_strlist_push(&r->only, v, st));
        } else if ((m = vt_arg_value(&a, "--inject", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            if (r->inject) return vt_fail(st, VT_EINPUT, "--inject given twice (one bug at a time)");
            r->inject = v;
        } else if (vt_arg_flag(&a, "--viz")) {
            r->viz = 1;
        } else if (argv[a.i][0] == '-') {
            return vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace preprocess --help)", argv[a.i]);
        } else {
            return vt_fail(st, VT_EINPUT, "unexpected argument '%s' (see vlmtrace preprocess --help)", argv[a.i]);
        }
    }
    if (!r->family) return vt_fail(st, VT_EINPUT, "no --family given: qwen2-vl or qwen2.5-vl");
    if (strcmp(r->family, "qwen2-vl") != 0 && strcmp(r->family, "qwen2.5-vl") != 0)
        return vt_fail(st, VT_EINPUT, "--family '%s': preprocess knows qwen2-vl and qwen2.5-vl", r->family);
    if (!r->trace_dir) return vt_fail(st, VT_EINPUT, "no --trace DIR given (see vlmtrace preprocess --help)");
    if (r->images.n + r->n_videos == 0)
        return vt_fail(st, VT_EINPUT, "no --image or --video given (see vlmtrace preprocess --help)");
    return VT_OK;
}

/* Options: flag > DIR/preprocessor_config.json > the published defaults. */
static int resolve_opts(vt_processor_opts *po, const pp_args *r, vt_status *st)
{
    vt_processor_defaults(po);
    if (r->model_dir) {
        struct stat sb;
        if (stat(r->model_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return vt_fail(st, VT_EINPUT, "--model %s: not a directory", r->model_dir);
        char path[4096];
        VT_TRY(vt_path_join(path, sizeof path, r->model_dir, "preprocessor_config.json", st));
        FILE *probe = fopen(path, "rb");
        if (probe) {
            fclose(probe);
            void *buf;
            size_t len;
            VT_TRY(vt_read_file(path, &buf, &len, 1 << 20, st));
            vt_preproc_config pc; /* over the processor's published defaults (po) */
            vt_preproc_init(&pc, VT_PREPROC_SMART_RESIZE);
            pc.min_pixels = po->min_pixels;
            pc.max_pixels = po->max_pixels;
            pc.temporal_patch_size = po->temporal_patch_size;
            int rc = vt_preproc_parse(&pc, buf, len, st);
            free(buf);
            if (rc) return vt_wrap(st, "%s: ", path);
            vt_processor_from_config(po, &pc);
        }
    }
    if (r->min_pixels > 0) po->min_pixels = r->min_pixels;
    if (r->max_pixels > 0) po->max_pixels = r->max_pixels;
    po->emit_input_grids = 1;
    if (r->inject) VT_TRY(vt_inject_lookup(r->inject, VT_INJECT_PREPROCESS, &po->bugs, st));
    return VT_OK;
}

/* Decode one input and check that the reference would take it, naming the file otherwise. */
static int load_input(vt_image *img, const char *file, const char *what, const vt_processor_opts *po,
                      int check_size, int64_t *h, int64_t *w, vt_status *st)
{
    if (vt_image_load(img, file, VT_EXIF_APPLY, st)) return vt_wrap(st, "%s: ", what);
    if (check_size && vt_processor_resized_size(h, w, img->w, img->h, po, st)) return vt_wrap(st, "%s %s: ", what, file);
    return VT_OK;
}

/* The preprocessing's memory (run_limits.h) from the decoded sizes, refused over the limit before the
 * preprocessing allocates anything. */
static int check_memory(const pp_args *r, const vt_image *images, const vt_processor_opts *po, vt_status *st)
{
    const int n = r->images.n + r->n_videos;
    vt_mem_input *in = malloc((size_t)(n ? n : 1) * sizeof *in);
    if (!in) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int k = 0; k < r->images.n; k++) in[k] = (vt_mem_input){images[k].w, images[k].h, 1};
    for (int v = 0; v < r->n_videos; v++)
        in[r->images.n + v] = (vt_mem_input){r->videos[v].frames[0].w, r->videos[v].frames[0].h, r->videos[v].n};
    vt_mem_estimate e;
    memset(&e, 0, sizeof e);
    vt_mem_qwen2(&e, NULL, 0, po, in, n, 0, r->viz);
    free(in);
    return vt_mem_check(&e, NULL, "lower --max-pixels (or --min-pixels), or pass fewer inputs", st);
}

static int preprocess_run(int argc, char **argv, vt_status *st)
{
    pp_args r;
    memset(&r, 0, sizeof r);
    vt_image *images = NULL;
    vt_processor_video *videos = NULL;
    vt_arena arena;
    vt_arena_init(&arena, vt_mem_arena_limit());
    vt_tracer tr;
    int tr_open = 0;
    vt_processor_opts po;
    int rc = parse_args(&r, argc, argv, st);
    if (rc == VT_OK) rc = resolve_opts(&po, &r, st);
    if (rc == VT_OK) {
        images = calloc((size_t)r.images.n + 1, sizeof *images);
        videos = calloc((size_t)r.n_videos + 1, sizeof *videos);
        if (!images || !videos) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    char what[64];
    int64_t h = 0, w = 0;
    for (int k = 0; rc == VT_OK && k < r.images.n; k++) {
        snprintf(what, sizeof what, "image.%d", k);
        rc = load_input(&images[k], r.images.v[k], what, &po, 1, &h, &w, st);
        if (rc == VT_OK)
            printf("%s  %s  %dx%d -> %lldx%lld, grid_thw (%d, %lld, %lld)\n", what, r.images.v[k], images[k].w,
                   images[k].h, (long long)w, (long long)h, 1, (long long)(h / po.patch_size), (long long)(w / po.patch_size));
    }
    for (int k = 0; rc == VT_OK && k < r.n_videos; k++) {
        pp_video *v = &r.videos[k];
        for (int f = 0; rc == VT_OK && f < v->n; f++) {
            snprintf(what, sizeof what, "video.%d frame %d", k, f);
            rc = load_input(&v->frames[f], v->files[f], what, &po, f == 0, &h, &w, st);
        }
        videos[k] = (vt_processor_video){v->frames, v->n};
        if (rc == VT_OK)
            printf("video.%d  %d frames  %dx%d -> %lldx%lld, grid_thw (%d, %lld, %lld)\n", k, v->n, v->frames[0].w,
                   v->frames[0].h, (long long)w, (long long)h,
                   (v->n + po.temporal_patch_size - 1) / po.temporal_patch_size, (long long)(h / po.patch_size),
                   (long long)(w / po.patch_size));
    }
    if (rc == VT_OK) rc = check_memory(&r, images, &po, st);
    if (rc == VT_OK) {
        rc = vt_tracer_open(&tr, r.trace_dir, "preprocess", r.only.v, r.only.n, st);
        tr_open = 1; /* vt_tracer_close is safe after a failed open */
        if (rc == VT_OK && r.inject) rc = vt_tracer_set_inject(&tr, r.inject, st);
    }
    if (rc == VT_OK) {
        pp_tap pt = {vt_tracer_tap(&tr), &tr, r.viz, po.patch_size, po.merge_size};
        vt_tap tap = {pp_emit, pp_wants, NULL, &pt};
        vt_processor_pixels px;
        rc = vt_processor_preprocess(&px, images, r.images.n, videos, r.n_videos, &po, &tap, &arena, st);
        if (rc == VT_OK) rc = vt_tracer_finish(&tr, st); /* the manifest, last, only on success */
        if (rc == VT_OK)
            printf("pixel_values [%lld, %lld], pixel_values_videos [%lld, %lld] -> %s\n",
                   (long long)px.pixel_values.shape[0], (long long)px.pixel_values.shape[1],
                   (long long)px.pixel_values_videos.shape[0], (long long)px.pixel_values_videos.shape[1], r.trace_dir);
    }
    if (tr_open) vt_tracer_close(&tr);
    vt_arena_free(&arena);
    for (int k = 0; images && k < r.images.n; k++) vt_image_free(&images[k]);
    for (int k = 0; k < r.n_videos; k++) {
        for (int f = 0; f < r.videos[k].n; f++) vt_image_free(&r.videos[k].frames[f]);
        free(r.videos[k].frames);
        free(r.videos[k].files);
        free(r.videos[k].buf);
    }
    free(r.videos);
    free(images);
    free(videos);
    vt_strlist_free(&r.images);
    vt_strlist_free(&r.only);
    return rc;
}

const vt_cli_cmd vt_cmd_preprocess = {"preprocess", "Qwen2-VL / Qwen2.5-VL preprocessing alone, traced",
                                      preprocess_usage, preprocess_run};
