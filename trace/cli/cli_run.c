/* cli_run.c -- `vlmtrace run`: flags -> vt_run_opts, config, tracer, the family's forward, --out (run.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include "cli/cli.h"
#include "cli/inject.h"
#include "cli/output.h"
#include "format/npy.h"
#include "cli/run.h"

static const char run_usage[] =
    "usage: vlmtrace run --model DIR [--image FILE]... [--video F1,F2,...]... [--fps F]...\n"
    "                    [--min-pixels N] [--max-pixels N] [--trace DIR] [--only GLOB]... [--out FILE.npy]\n"
    "                    [--threads N] [--viz] [--attn literal|segments] [--inject BUG] [--timings]\n"
    "                    [--force] [--quiet] [--json]\n"
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
    "  --force             write even where a checkpoint, a config or another producer's trace is (refused\n"
    "                      otherwise: --trace and --out never replace a reference)\n"
    "  --quiet             no summary line\n"
    "  --json              the summary as one JSON document on stdout (and nothing else there)\n"
    "\n"
    "On success one summary line goes to stderr: what was written where, tensors, bytes, seconds. On a\n"
    "terminal, stderr also shows progress: decoding, loading the weights, preprocessing, each block.\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error, 3 resource failure.\n";

/* ---- taps and --out (run.h) ---- */

static void progress_only(void *ctx, const char *what, int i, int n)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r%s %d/%d\033[K%s", what, i + 1, n, i + 1 == n ? "\n" : "");
    fflush(stderr);
}

int vt_run_check_literal(const vt_run_opts *o, int64_t N, vt_status *st)
{
    if (o->attn != VT_ATTN_LITERAL || N <= VT_ATTN_LITERAL_MAX_N) return VT_OK;
    return vt_fail(st, VT_EINPUT, "--attn literal: a %lld x %lld mask (%.1f GiB) is too large (at most %d patches; "
                   "--attn segments computes the same numbers without it)", (long long)N, (long long)N,
                   (double)N * (double)N * 4 / (1u << 30), VT_ATTN_LITERAL_MAX_N);
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
    vt_numlist fps;    /* --fps, in the order given */
    vt_output out;     /* --force, --quiet, --json (output.h) */
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
    vt_numlist_free(&r->fps);
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
    int64_t min_pixels = -1, max_pixels = -1, threads = 0;
    int attn = 0, viz = 0, timings = 0;
    const char *model = NULL, *trace = NULL, *out = NULL, *inject = NULL;
    vt_strlist videos = {0};
    static const char *const attn_modes[] = {"segments", "literal", NULL};
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &model, "DIR", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 1, &r->images, "FILE", 0, 0, NULL},
        {"--video", VT_OPT_STRING, 1, &videos, "F1,F2,...", 0, 0, NULL},
        {"--fps", VT_OPT_DOUBLE, 1, &r->fps, "F", 1e-3, 1e6, NULL},
        {"--min-pixels", VT_OPT_INT, 0, &min_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--max-pixels", VT_OPT_INT, 0, &max_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--trace", VT_OPT_STRING, 0, &trace, "DIR", 0, 0, NULL},
        {"--only", VT_OPT_STRING, 1, &r->only, "GLOB", 0, 0, NULL},
        {"--out", VT_OPT_STRING, 0, &out, "FILE.npy", 0, 0, NULL},
        {"--threads", VT_OPT_INT, 0, &threads, "N", 1, 1024, NULL},
        {"--attn", VT_OPT_CHOICE, 0, &attn, "literal|segments", 0, 0, attn_modes},
        {"--inject", VT_OPT_STRING, 0, &inject, "BUG", 0, 0, NULL},
        {"--viz", VT_OPT_FLAG, 0, &viz, NULL, 0, 0, NULL},
        {"--timings", VT_OPT_FLAG, 0, &timings, NULL, 0, 0, NULL},
        VT_OUTPUT_OPTS(&r->out),
    };
    int rc = vt_opts_parse("run", opts, VT_N_OPTS(opts), argc, argv, NULL, st);
    for (int v = 0; rc == VT_OK && v < videos.n; v++) rc = add_video(r, videos.v[v], st);
    vt_strlist_free(&videos);
    VT_TRY(rc);
    o->model_dir = model;
    o->trace_dir = trace;
    o->out_path = out;
    o->inject = inject;
    o->min_pixels = min_pixels;
    o->max_pixels = max_pixels;
    o->threads = (int)threads;
    o->attn = attn ? VT_ATTN_LITERAL : VT_ATTN_SEGMENTS;
    o->viz = viz;
    o->timings = timings ? &r->timings : NULL;
    if (!o->model_dir) return vt_fail(st, VT_EINPUT, "no --model DIR given (see vlmtrace run --help)");
    o->images = r->images.v;
    o->n_images = r->images.n;
    o->only = r->only.v;
    o->n_only = r->only.n;
    if (o->n_images + o->n_videos == 0)
        return vt_fail(st, VT_EINPUT, "no --image or --video given (see vlmtrace run --help)");
    if (!o->trace_dir && o->n_only) return vt_fail(st, VT_EINPUT, "--only needs --trace DIR");
    if (!o->trace_dir && o->viz) return vt_fail(st, VT_EINPUT, "--viz needs --trace DIR (pictures go there)");
    const int n_fps = r->fps.n;
    if (n_fps && o->n_videos == 0) return vt_fail(st, VT_EINPUT, "--fps given without any --video");
    if (n_fps > 1 && n_fps != o->n_videos)
        return vt_fail(st, VT_EINPUT, "--fps given %d times but there %s %d --video: give --fps once for all videos, "
                       "or once per video", n_fps, o->n_videos == 1 ? "is" : "are", o->n_videos);
    if (o->n_videos) {
        o->fps = malloc((size_t)o->n_videos * sizeof *o->fps);
        if (!o->fps) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int v = 0; v < o->n_videos; v++)
            o->fps[v] = n_fps == 0 ? 2.0 : r->fps.v[n_fps == 1 ? 0 : v];
    }
    o->fps_given = n_fps > 0;
    return VT_OK;
}

/* ---- the command ---- */

static int dispatch(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    switch (cfg->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL: return vt_run_qwen2(o, cfg, tr, st);
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
    vt_output_start(&r.out);
    int rc = parse_args(&r, argc, argv, st);
    /* never write over a checkpoint, a config or another producer's trace (format/guard.h) */
    if (rc == VT_OK && r.o.trace_dir) rc = vt_output_guard(r.o.trace_dir, VT_OUT_DIR, "--trace", r.out.force, st);
    if (rc == VT_OK && r.o.out_path) rc = vt_output_guard(r.o.out_path, VT_OUT_FILE, "--out", r.out.force, st);
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
    if (rc == VT_OK && tr_open) rc = vt_output_check_only("run", &tr, st);
    if (rc == VT_OK && tr_open) rc = vt_tracer_finish(&tr, st); /* the manifest, last, only on success */
    if (rc == VT_OK) report_memory(&mem);
    if (rc == VT_OK && r.o.timings) {
        vt_timings_mark(r.o.timings, "manifest.json");
        vt_timings_print(r.o.timings, stderr, omp_get_max_threads());
    }
    if (rc == VT_OK) {
        vt_written w[2];
        int n = 0;
        if (tr_open) w[n++] = vt_written_trace(&tr);
        if (r.o.out_path) w[n++] = vt_written_file("--out", r.o.out_path);
        vt_output_done(&r.out, "run", w, n);
    }
    if (tr_open) vt_tracer_close(&tr);
    run_args_free(&r);
    return rc;
}

const vt_cli_cmd vt_cmd_run = {"run", "run a model's vision side on images and videos, optionally traced", run_usage,
                               run_run};
