/* cli_run.c -- `vlmtrace run`: flags -> vt_run_opts, config, tracer, the family's forward, --out (run.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include "cli/cli.h"
#include "cli/inject.h"
#include "format/npy.h"
#include "cli/run.h"

static const char run_usage[] =
    "usage: vlmtrace run --model DIR [--image FILE]... [--video F1,F2,...]... [--fps F]...\n"
    "                    [--min-pixels N] [--max-pixels N] [--trace DIR] [--only GLOB]... [--out FILE.npy]\n"
    "                    [--threads N] [--viz] [--attn literal|segments] [--inject BUG] [--timings]\n"
    "\n"
    "Run the vision side of the model in DIR (config.json's model_type picks the family: qwen2_vl,\n"
    "qwen2_5_vl, qwen (Qwen-VL), kimi_vl; weights from DIR's safetensors) on the images, then the videos,\n"
    "in the order given, in one forward as the reference concatenates them.\n"
    "\n"
    "  --image FILE        an image (PNG, JPEG, ...); repeatable: image.0, image.1, ...\n"
    "  --video F1,F2,...   a video as its frame files in order, comma-separated; repeatable: video.0, ...\n"
    "  --fps F             frames per second of each video, once per video in order or once for all\n"
    "                      (default 2.0); the trace records second_per_grid_ts = temporal_patch_size / fps\n"
    "  --min-pixels N      resize bounds; a flag overrides DIR/preprocessor_config.json, which overrides\n"
    "  --max-pixels N      the published defaults (Qwen2-VL: 3136 and 12845056)\n"
    "  --trace DIR         write every intermediate tensor as DIR/<name>.npy and DIR/manifest.json (last)\n"
    "  --only GLOB         trace only names matching a shell-style glob ('*' also matches dots); repeatable\n"
    "  --out FILE.npy      save the final tensor (visual, transformer.visual or multi_modal_projector)\n"
    "  --threads N         OpenMP threads (results do not depend on it)\n"
    "  --viz               pictures (attention masks, window partitions, ...) into the trace directory\n"
    "  --attn MODE         segments (default): attention walks each image / time slice / window directly;\n"
    "                      literal: builds the reference's N x N additive mask (0 inside, -inf outside)\n"
    "  --inject BUG        switch on a real porting mistake inside the stage that makes it, and label the\n"
    "                      trace with it (docs/bug-zoo.md). Qwen2-VL: bilinear-resize, round-half-away,\n"
    "                      no-segment-mask; Qwen2.5-VL: those and fullatt-as-strings, no-reverse-index;\n"
    "                      Qwen-VL: qkv-global-split; Kimi-VL: no-segment-mask, cross-image-leak\n"
    "  --timings           wall-clock seconds per stage (block parts, merger, trace writing) on stderr\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error, 3 resource failure.\n";

/* ---- taps and --out (run.h) ---- */

static void progress_only(void *ctx, const char *what, int i, int n)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r%s %d/%d%s", what, i + 1, n, i + 1 == n ? "\n" : "");
    fflush(stderr);
}

vt_tap vt_run_tap(const vt_run_opts *o, vt_tracer *tr)
{
    vt_tap tap = {NULL, NULL, progress_only, NULL};
    if (tr) tap = vt_tracer_tap(tr);
    return o->timings ? vt_timings_tap(o->timings, tap) : tap;
}

int vt_run_save_out(const vt_run_opts *o, const vt_tensor *t, vt_status *st)
{
    if (!o->out_path) return VT_OK;
    if (vt_npy_write(o->out_path, t, st)) return vt_wrap(st, "--out: ");
    return VT_OK;
}

/* ---- flags ---- */

typedef struct run_args {
    vt_run_opts o;
    vt_timings timings; /* o.timings points here with --timings */
    vt_strlist images, only;
    char **video_bufs; /* one strdup'd flag value per video, split in place at the commas */
    double fps_given[64];
    int n_fps;
} run_args;

static void run_args_free(run_args *r)
{
    for (int v = 0; v < r->o.n_videos; v++) {
        free(r->o.videos[v].frames);
        free(r->video_bufs[v]);
    }
    free(r->o.videos);
    free(r->video_bufs);
    free(r->o.fps);
    vt_strlist_free(&r->images);
    vt_strlist_free(&r->only);
}

/* "a.png,b.png,c.png" -> one more video of three frames. */
static int add_video(run_args *r, const char *list, vt_status *st)
{
    int n = r->o.n_videos;
    vt_run_video *vs = realloc(r->o.videos, (size_t)(n + 1) * sizeof *vs);
    if (!vs) return vt_fail(st, VT_ERESOURCE, "out of memory");
    r->o.videos = vs;
    char **bufs = realloc(r->video_bufs, (size_t)(n + 1) * sizeof *bufs);
    if (!bufs) return vt_fail(st, VT_ERESOURCE, "out of memory");
    r->video_bufs = bufs;
    VT_TRY(vt_split_list("--video", list, &bufs[n], &vs[n].frames, &vs[n].n_frames, st));
    r->o.n_videos = n + 1;
    return VT_OK;
}

static int parse_args(run_args *r, int argc, char **argv, vt_status *st)
{
    vt_run_opts *o = &r->o;
    o->min_pixels = o->max_pixels = -1;
    o->attn = VT_ATTN_SEGMENTS;
    vt_args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        int64_t n;
        if ((m = vt_arg_value(&a, "--model", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->model_dir = v;
        } else if ((m = vt_arg_value(&a, "--image", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_strlist_push(&r->images, v, st));
        } else if ((m = vt_arg_value(&a, "--video", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(add_video(r, v, st));
        } else if ((m = vt_arg_value(&a, "--fps", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            if (r->n_fps == (int)(sizeof r->fps_given / sizeof r->fps_given[0]))
                return vt_fail(st, VT_EINPUT, "--fps given more than %d times", r->n_fps);
            double f;
            VT_TRY(vt_parse_double("--fps", v, 1e-3, 1e6, &f, st));
            r->fps_given[r->n_fps++] = f;
        } else if ((m = vt_arg_value(&a, "--min-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--min-pixels", v, 1, (int64_t)1 << 40, &n, st));
            o->min_pixels = n;
        } else if ((m = vt_arg_value(&a, "--max-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--max-pixels", v, 1, (int64_t)1 << 40, &n, st));
            o->max_pixels = n;
        } else if ((m = vt_arg_value(&a, "--trace", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->trace_dir = v;
        } else if ((m = vt_arg_value(&a, "--only", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_strlist_push(&r->only, v, st));
        } else if ((m = vt_arg_value(&a, "--out", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->out_path = v;
        } else if ((m = vt_arg_value(&a, "--threads", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--threads", v, 1, 1024, &n, st));
            o->threads = (int)n;
        } else if ((m = vt_arg_value(&a, "--attn", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            if (!strcmp(v, "segments")) o->attn = VT_ATTN_SEGMENTS;
            else if (!strcmp(v, "literal")) o->attn = VT_ATTN_LITERAL;
            else return vt_fail(st, VT_EINPUT, "--attn: '%s' is neither literal nor segments", v);
        } else if ((m = vt_arg_value(&a, "--inject", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            if (o->inject) return vt_fail(st, VT_EINPUT, "--inject given twice (one bug at a time)");
            o->inject = v;
        } else if (vt_arg_flag(&a, "--viz")) {
            o->viz = 1;
        } else if (vt_arg_flag(&a, "--timings")) {
            o->timings = &r->timings;
        } else if (argv[a.i][0] == '-') {
            return vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace run --help)", argv[a.i]);
        } else {
            return vt_fail(st, VT_EINPUT, "unexpected argument '%s' (see vlmtrace run --help)", argv[a.i]);
        }
    }
    if (!o->model_dir) return vt_fail(st, VT_EINPUT, "no --model DIR given (see vlmtrace run --help)");
    o->images = r->images.v;
    o->n_images = r->images.n;
    o->only = r->only.v;
    o->n_only = r->only.n;
    if (o->n_images + o->n_videos == 0)
        return vt_fail(st, VT_EINPUT, "no --image or --video given (see vlmtrace run --help)");
    if (!o->trace_dir && o->n_only) return vt_fail(st, VT_EINPUT, "--only needs --trace DIR");
    if (!o->trace_dir && o->viz) return vt_fail(st, VT_EINPUT, "--viz needs --trace DIR (pictures go there)");
    if (r->n_fps && o->n_videos == 0) return vt_fail(st, VT_EINPUT, "--fps given without any --video");
    if (r->n_fps > 1 && r->n_fps != o->n_videos)
        return vt_fail(st, VT_EINPUT, "--fps given %d times for %d videos (give it once per video, or once for all)",
                       r->n_fps, o->n_videos);
    if (o->n_videos) {
        o->fps = malloc((size_t)o->n_videos * sizeof *o->fps);
        if (!o->fps) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int v = 0; v < o->n_videos; v++)
            o->fps[v] = r->n_fps == 0 ? 2.0 : r->fps_given[r->n_fps == 1 ? 0 : v];
    }
    o->fps_given = r->n_fps > 0;
    return VT_OK;
}

/* ---- the command ---- */

static int dispatch(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    switch (cfg->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
    case VT_FAMILY_QWEN3VL: return vt_run_qwen2(o, cfg, tr, st);
    case VT_FAMILY_QWENVL: return vt_run_qwenvl(o, cfg, tr, st);
    case VT_FAMILY_KIMIVL: return vt_run_kimivl(o, cfg, tr, st);
    }
    return vt_fail(st, VT_EINPUT, "%s/config.json: unknown model family", o->model_dir);
}

/* --inject BUG -> o->bugs, once config.json has told the family. */
static int resolve_inject(vt_run_opts *o, const vt_model_config *cfg, vt_status *st)
{
    if (!o->inject) return VT_OK;
    vt_inject_target t = VT_INJECT_RUN_QWEN2VL;
    switch (cfg->family) {
    case VT_FAMILY_QWEN2VL: t = VT_INJECT_RUN_QWEN2VL; break;
    case VT_FAMILY_QWEN25VL: t = VT_INJECT_RUN_QWEN25VL; break;
    case VT_FAMILY_QWENVL: t = VT_INJECT_RUN_QWENVL; break;
    case VT_FAMILY_KIMIVL: t = VT_INJECT_RUN_KIMIVL; break;
    case VT_FAMILY_QWEN3VL: t = VT_INJECT_RUN_QWEN3VL; break;
    }
    return vt_inject_lookup(o->inject, t, &o->bugs, st);
}

/* VLMTRACE_MEMORY_REPORT=1: the estimate the run was checked against (run_limits.h) beside what it used,
 * one line on stderr; tests/test_limits.c reads it. */
static void report_memory(const vt_run_memory *m)
{
    const char *env = getenv("VLMTRACE_MEMORY_REPORT");
    if (!env || !*env || !strcmp(env, "0")) return;
    struct rusage ru;
    long rss_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
    fprintf(stderr, "memory: estimate %.0f bytes (weights %.0f, inputs %.0f, arena %.0f, other %.0f; %lld patches); "
            "measured arena peak %zu bytes, max RSS %ld KiB\n", m->est.total, m->est.weights, m->est.inputs,
            m->est.arena, m->est.other, (long long)m->est.tokens, m->arena_peak, rss_kib);
}

static int run_run(int argc, char **argv, vt_status *st)
{
    run_args r;
    memset(&r, 0, sizeof r);
    vt_timings_start(&r.timings);
    int rc = parse_args(&r, argc, argv, st);
    static vt_model_config cfg; /* large; one per process */
    if (rc == VT_OK) rc = vt_config_load(&cfg, r.o.model_dir, st);
    if (rc == VT_OK) rc = resolve_inject(&r.o, &cfg, st);
    if (rc == VT_OK && r.o.threads > 0) omp_set_num_threads(r.o.threads);
    vt_tracer tr;
    int tr_open = 0;
    if (rc == VT_OK && r.o.trace_dir) {
        rc = vt_tracer_open(&tr, r.o.trace_dir, cfg.model_type, r.o.only, r.o.n_only, st);
        tr_open = 1; /* vt_tracer_close is safe after a failed open */
        tr.verbose_progress = isatty(STDERR_FILENO);
        if (rc == VT_OK && r.o.inject) rc = vt_tracer_set_inject(&tr, r.o.inject, st);
    }
    vt_run_memory mem;
    memset(&mem, 0, sizeof mem);
    r.o.mem = &mem;
    if (rc == VT_OK) rc = dispatch(&r.o, &cfg, tr_open ? &tr : NULL, st);
    if (rc == VT_OK && r.o.timings) vt_timings_mark(r.o.timings, "after the tower (--out, --viz)");
    if (rc == VT_OK && tr_open) rc = vt_tracer_finish(&tr, st); /* the manifest, last, only on success */
    if (rc == VT_OK) report_memory(&mem);
    if (rc == VT_OK && r.o.timings) {
        vt_timings_mark(r.o.timings, "manifest.json");
        vt_timings_print(r.o.timings, stderr, omp_get_max_threads());
    }
    if (tr_open) vt_tracer_close(&tr);
    run_args_free(&r);
    return rc;
}

const vt_cli_cmd vt_cmd_run = {"run", "run a model's vision side on images and videos, optionally traced", run_usage,
                               run_run};
