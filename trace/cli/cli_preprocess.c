/* cli_preprocess.c -- `vlmtrace preprocess`: Qwen2-VL / Qwen2.5-VL preprocessing alone, traced. */
#include <cjson/cJSON.h>
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
#include "cli/output.h"
#include "viz/viz.h"

static const char preprocess_usage[] =
    "usage: vlmtrace preprocess --family qwen2-vl|qwen2.5-vl [--model DIR] [--image FILE]...\n"
    "                           [--video F1,F2,...]... [--min-pixels N] [--max-pixels N]\n"
    "                           --trace DIR [--only GLOB]... [--viz] [--inject BUG] [--force] [--quiet] [--json]\n"
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
    "  --force             write even where a checkpoint, a config or another producer's trace is\n"
    "  --quiet             no summary line (nor the note that the published defaults were used)\n"
    "  --json              the summary as one JSON document on stdout, instead of the per-input lines\n"
    "\n"
    "A --model DIR whose config.json or preprocessor_config.json names another family (Kimi-VL, Qwen-VL)\n"
    "is refused. Without --model, or when DIR has no preprocessor_config.json, the published defaults are\n"
    "used: stderr says so, and so does the manifest (\"preprocessor_config\").\n"
    "\n"
    "On success one summary line goes to stderr (what was written, tensors, bytes, seconds); on a terminal,\n"
    "stderr also shows progress (decoding, preprocessing).\n"
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
    vt_output out;                  /* --force, --quiet, --json (output.h) */
    char config_note[4200];         /* where the processor's options came from (stderr and the manifest) */
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
    vt_strlist videos = {0};
    const vt_opt opts[] = {
        {"--family", VT_OPT_STRING, 0, &r->family, "qwen2-vl|qwen2.5-vl", 0, 0, NULL},
        {"--model", VT_OPT_STRING, 0, &r->model_dir, "DIR", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 1, &r->images, "FILE", 0, 0, NULL},
        {"--video", VT_OPT_STRING, 1, &videos, "F1,F2,...", 0, 0, NULL},
        {"--min-pixels", VT_OPT_INT, 0, &r->min_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--max-pixels", VT_OPT_INT, 0, &r->max_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--trace", VT_OPT_STRING, 0, &r->trace_dir, "DIR", 0, 0, NULL},
        {"--only", VT_OPT_STRING, 1, &r->only, "GLOB", 0, 0, NULL},
        {"--inject", VT_OPT_STRING, 0, &r->inject, "BUG", 0, 0, NULL},
        {"--viz", VT_OPT_FLAG, 0, &r->viz, NULL, 0, 0, NULL},
        VT_OUTPUT_OPTS(&r->out),
    };
    int rc = vt_opts_parse("preprocess", opts, VT_N_OPTS(opts), argc, argv, NULL, st);
    for (int v = 0; rc == VT_OK && v < videos.n; v++) rc = add_video(r, videos.v[v], st);
    vt_strlist_free(&videos);
    VT_TRY(rc);
    if (!r->family) return vt_fail(st, VT_EINPUT, "no --family given: qwen2-vl or qwen2.5-vl");
    if (strcmp(r->family, "qwen2-vl") != 0 && strcmp(r->family, "qwen2.5-vl") != 0)
        return vt_fail(st, VT_EINPUT, "--family '%s': preprocess knows qwen2-vl and qwen2.5-vl", r->family);
    if (!r->trace_dir) return vt_fail(st, VT_EINPUT, "no --trace DIR given (see vlmtrace preprocess --help)");
    if (r->images.n + r->n_videos == 0)
        return vt_fail(st, VT_EINPUT, "no --image or --video given (see vlmtrace preprocess --help)");
    return VT_OK;
}

/* DIR/config.json's model_type into out ("" when there is no config.json or no such key). */
static int read_model_type(const char *dir, char *out, size_t n, vt_status *st)
{
    char path[4096];
    out[0] = 0;
    VT_TRY(vt_path_join(path, sizeof path, dir, "config.json", st));
    FILE *probe = fopen(path, "rb");
    if (!probe) return VT_OK;
    fclose(probe);
    void *buf;
    size_t len;
    VT_TRY(vt_read_file(path, &buf, &len, (size_t)16 << 20, st));
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!root) return vt_fail(st, VT_EINPUT, "%s: not valid JSON", path);
    cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(mt)) snprintf(out, n, "%s", mt->valuestring);
    cJSON_Delete(root);
    return VT_OK;
}

/* --family against what DIR says it holds: Qwen2-VL and Qwen2.5-VL share one processor
 * (Qwen2VLImageProcessor), so either family takes either directory; an image_processor_type ending in
 * "Fast" names the fast processor of the same family, not another one. */
static int check_family(const pp_args *r, const char *model_type, const char *processor_type, vt_status *st)
{
    if (model_type[0] && strcmp(model_type, "qwen2_vl") != 0 && strcmp(model_type, "qwen2_5_vl") != 0)
        return vt_fail(st, VT_EINPUT, "--family %s contradicts --model %s: its config.json has model_type %s "
                       "(preprocess knows qwen2_vl and qwen2_5_vl; vlmtrace run preprocesses the others)", r->family,
                       r->model_dir, model_type);
    char base[64];
    snprintf(base, sizeof base, "%s", processor_type);
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, "Fast")) base[n - 4] = 0;
    if (base[0] && strcmp(base, "Qwen2VLImageProcessor") != 0)
        return vt_fail(st, VT_EINPUT, "--family %s contradicts --model %s: its preprocessor_config.json has "
                       "image_processor_type %s (preprocess runs Qwen2VLImageProcessor)", r->family, r->model_dir,
                       processor_type);
    return VT_OK;
}

/* Options: flag > DIR/preprocessor_config.json > the published defaults. */
static int resolve_opts(vt_processor_opts *po, pp_args *r, vt_status *st)
{
    snprintf(r->config_note, sizeof r->config_note, "the published defaults (no --model DIR)");
    vt_processor_defaults(po);
    if (r->model_dir) {
        struct stat sb;
        if (stat(r->model_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return vt_fail(st, VT_EINPUT, "--model %s: not a directory", r->model_dir);
        char path[4096], model_type[64];
        VT_TRY(read_model_type(r->model_dir, model_type, sizeof model_type, st));
        VT_TRY(check_family(r, model_type, "", st));
        VT_TRY(vt_path_join(path, sizeof path, r->model_dir, "preprocessor_config.json", st));
        snprintf(r->config_note, sizeof r->config_note, "the published defaults (%s has no preprocessor_config.json)",
                 r->model_dir);
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
            VT_TRY(check_family(r, model_type, pc.image_processor_type, st));
            vt_processor_from_config(po, &pc);
            snprintf(r->config_note, sizeof r->config_note, "%s", path);
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
    vt_output_start(&r.out);
    int rc = parse_args(&r, argc, argv, st);
    if (rc == VT_OK) rc = vt_output_guard(r.trace_dir, VT_OUT_DIR, "--trace", r.out.force, st);
    if (rc == VT_OK) rc = resolve_opts(&po, &r, st);
    if (rc == VT_OK && r.model_dir && strncmp(r.config_note, "the published defaults", 22) == 0 && !r.out.json &&
        !r.out.quiet)
        fprintf(stderr, "vlmtrace preprocess: note: min/max pixels, patch sizes, mean and std are %s\n", r.config_note);
    const int say = !r.out.json; /* --json: stdout holds the JSON document alone */
    /* the per-input lines are printed only once everything succeeded: a failure prints its one line alone */
    char *said = NULL;
    size_t said_len = 0;
    FILE *lines = open_memstream(&said, &said_len);
    if (rc == VT_OK && !lines) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    if (rc == VT_OK) {
        images = calloc((size_t)r.images.n + 1, sizeof *images);
        videos = calloc((size_t)r.n_videos + 1, sizeof *videos);
        if (!images || !videos) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    char what[64];
    int64_t h = 0, w = 0;
    if (rc == VT_OK) vt_output_stage("decoding the inputs");
    for (int k = 0; rc == VT_OK && k < r.images.n; k++) {
        snprintf(what, sizeof what, "image.%d", k);
        rc = load_input(&images[k], r.images.v[k], what, &po, 1, &h, &w, st);
        if (rc == VT_OK)
            fprintf(lines, "%s  %s  %dx%d -> %lldx%lld, grid_thw (%d, %lld, %lld)\n", what, r.images.v[k], images[k].w,
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
            fprintf(lines, "video.%d  %d frames  %dx%d -> %lldx%lld, grid_thw (%d, %lld, %lld)\n", k, v->n, v->frames[0].w,
                   v->frames[0].h, (long long)w, (long long)h,
                   (v->n + po.temporal_patch_size - 1) / po.temporal_patch_size, (long long)(h / po.patch_size),
                   (long long)(w / po.patch_size));
    }
    if (rc == VT_OK) rc = check_memory(&r, images, &po, st);
    if (rc == VT_OK) {
        rc = vt_tracer_open(&tr, r.trace_dir, "preprocess", r.only.v, r.only.n, st);
        tr_open = 1; /* vt_tracer_close is safe after a failed open */
        if (rc == VT_OK && r.inject) rc = vt_tracer_set_inject(&tr, r.inject, st);
        if (rc == VT_OK) rc = vt_tracer_set_preprocessor(&tr, r.config_note, st);
    }
    if (rc == VT_OK) {
        pp_tap pt = {vt_tracer_tap(&tr), &tr, r.viz, po.patch_size, po.merge_size};
        vt_tap tap = {pp_emit, pp_wants, NULL, &pt};
        vt_processor_pixels px;
        vt_output_stage("preprocessing (the image processor)");
        rc = vt_processor_preprocess(&px, images, r.images.n, videos, r.n_videos, &po, &tap, &arena, st);
        if (rc == VT_OK) rc = vt_output_check_only("preprocess", &tr, st);
        if (rc == VT_OK) rc = vt_tracer_finish(&tr, st); /* the manifest, last, only on success */
        if (rc == VT_OK)
            fprintf(lines, "pixel_values [%lld, %lld], pixel_values_videos [%lld, %lld] -> %s\n",
                   (long long)px.pixel_values.shape[0], (long long)px.pixel_values.shape[1],
                   (long long)px.pixel_values_videos.shape[0], (long long)px.pixel_values_videos.shape[1], r.trace_dir);
    }
    if (lines) fclose(lines);
    if (rc == VT_OK && say && said) fputs(said, stdout);
    free(said);
    if (rc == VT_OK) {
        vt_written w = vt_written_trace(&tr);
        vt_output_done(&r.out, "preprocess", &w, 1);
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
