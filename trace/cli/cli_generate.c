/* cli_generate.c -- `vlmtrace generate`: flags -> vt_gen_opts, --input-ids read and checked, config, tracer,
 * the whole model (run_generate.c), the manifest last. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "cli/cli.h"
#include "cli/inject.h"
#include "cli/output.h"
#include "cli/run.h"
#include "format/npy.h"

static const char generate_usage[] =
    "usage: vlmtrace generate --model DIR (--prompt TEXT [--raw] [--tokenizer FILE] | --input-ids F.npy)\n"
    "                         [--image FILE]... [--video F1,F2,...]... [--fps F]...\n"
    "                         [--min-pixels N] [--max-pixels N] [--max-new-tokens N] [--trace DIR] [--only GLOB]...\n"
    "                         [--out F.npy] [--threads N] [--attn literal|segments] [--no-cache] [--widen-bf16]\n"
    "                         [--inject BUG] [--timings] [--force] [--quiet]\n"
    "\n"
    "Run the whole Qwen2-VL / Qwen2.5-VL model in DIR: the images and videos through the processor and the\n"
    "vision tower, their rows scattered into the prompt's <|image_pad|> / <|video_pad|> positions, the Qwen2\n"
    "language model with M-RoPE on the prompt, then greedy decoding with a KV cache. With --prompt the answer\n"
    "is printed as it is generated (special tokens left out); with --input-ids the generated ids go to stdout\n"
    "on one line. With --trace every intermediate is written under its Hugging Face name.\n"
    "\n"
    "  --prompt TEXT        the question: one user message holding the images, then the videos, then TEXT,\n"
    "                       through the Qwen2-VL chat template (with the assistant prefix) and the tokenizer,\n"
    "                       each pad expanded to its input's merged tokens (docs/tokenizer.md)\n"
    "  --raw                TEXT is the whole prompt as it is (no template; its pads are still expanded)\n"
    "  --tokenizer FILE     tokenizer.json (default: DIR/tokenizer.json)\n"
    "  --input-ids F.npy    the prompt: int64 [1, L] (or [L]) with the vision pads already expanded, as the\n"
    "                       processor returns input_ids (one <|image_pad|> per merged token of each image)\n"
    "  --image FILE         an image, repeatable (image.0, image.1, ...), in the prompt's order\n"
    "  --video F1,F2,...    a video as its frame files, repeatable; --fps F per video or once (default 2.0)\n"
    "  --min-pixels N       resize bounds; a flag overrides DIR/preprocessor_config.json, which overrides\n"
    "  --max-pixels N       the published defaults\n"
    "  --max-new-tokens N   stop after N new tokens (default 64) or after an eos id (kept as the last id):\n"
    "                       generation_config.json's eos_token_id when DIR has one, else config.json's\n"
    "  --trace DIR          write every intermediate tensor as DIR/<name>.npy and DIR/manifest.json (last):\n"
    "                       the tower's, the language model's on the prompt (model.layers.{i}.*, lm_head),\n"
    "                       then generated_ids, generate.logits, generate.position_ids; with --prompt also\n"
    "                       generate.text (the answer, UTF-8 bytes)\n"
    "  --only GLOB          trace only names matching a shell-style glob; repeatable\n"
    "  --out F.npy          save the generated ids as int64 [1, n]\n"
    "  --threads N          OpenMP threads (results do not depend on it)\n"
    "  --attn MODE          segments (default): each row's keys walked directly; literal: the reference's\n"
    "                       explicit masks (the tower's N x N, the decoder's causal L x L)\n"
    "  --no-cache           recompute the whole sequence at every step (how the goldens were made; slow)\n"
    "  --widen-bf16         widen BF16 weights to float32 at load instead of in the kernel (same results,\n"
    "                       twice the memory)\n"
    "  --inject BUG         a real porting mistake, switched on where it happens (docs/bug-zoo.md): the\n"
    "                       tower's (as for run) and the language model's mrope-section-order,\n"
    "                       decode-positions-restart\n"
    "  --timings            wall-clock seconds per stage on stderr (decoding is charged to generated_ids)\n"
    "  --force              write --trace / --out over a checkpoint, a config or another producer's trace\n"
    "                       (refused otherwise, as every writing command does)\n"
    "  --quiet              no summary line on stderr (the ids still go to stdout)\n"
    "\n"
    "Progress (prefill time, then tokens per second) goes to stderr when it is a terminal.\n"
    "Exit status: 0 success, 2 usage or input error, 3 resource failure.\n";

typedef struct gen_args {
    vt_gen_opts g;
    vt_output out; /* --force, --quiet (output.h); stdout holds the ids, so there is no --json */
    vt_timings timings;
    vt_strlist images, only;
    char **video_bufs;
    double fps_given[64];
    int n_fps;
    const char *input_ids_path;
    vt_tensor ids;
    void *ids_owned;
} gen_args;

static void gen_args_free(gen_args *r)
{
    vt_run_opts *o = &r->g.run;
    for (int v = 0; v < o->n_videos; v++) {
        free(o->videos[v].frames);
        free(r->video_bufs[v]);
    }
    free(o->videos);
    free(r->video_bufs);
    free(o->fps);
    vt_strlist_free(&r->images);
    vt_strlist_free(&r->only);
    free(r->ids_owned);
}

static int add_video(gen_args *r, const char *list, vt_status *st)
{
    vt_run_opts *o = &r->g.run;
    const int n = o->n_videos;
    vt_run_video *vs = realloc(o->videos, (size_t)(n + 1) * sizeof *vs);
    if (!vs) return vt_fail(st, VT_ERESOURCE, "out of memory");
    o->videos = vs;
    char **bufs = realloc(r->video_bufs, (size_t)(n + 1) * sizeof *bufs);
    if (!bufs) return vt_fail(st, VT_ERESOURCE, "out of memory");
    r->video_bufs = bufs;
    VT_TRY(vt_split_list("--video", list, &bufs[n], &vs[n].frames, &vs[n].n_frames, st));
    o->n_videos = n + 1;
    return VT_OK;
}

static int parse_args(gen_args *r, int argc, char **argv, vt_status *st)
{
    vt_run_opts *o = &r->g.run;
    o->min_pixels = o->max_pixels = -1;
    o->attn = VT_ATTN_SEGMENTS;
    r->g.max_new_tokens = 64;
    vt_args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        int64_t n;
        if ((m = vt_arg_value(&a, "--model", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->model_dir = v;
        } else if ((m = vt_arg_value(&a, "--prompt", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->g.prompt = v;
        } else if ((m = vt_arg_value(&a, "--tokenizer", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->g.tokenizer = v;
        } else if (vt_arg_flag(&a, "--raw")) {
            r->g.raw = 1;
        } else if ((m = vt_arg_value(&a, "--input-ids", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            r->input_ids_path = v;
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
            VT_TRY(vt_parse_double("--fps", v, 1e-3, 1e6, &r->fps_given[r->n_fps], st));
            r->n_fps++;
        } else if ((m = vt_arg_value(&a, "--min-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--min-pixels", v, 1, (int64_t)1 << 40, &n, st));
            o->min_pixels = n;
        } else if ((m = vt_arg_value(&a, "--max-pixels", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--max-pixels", v, 1, (int64_t)1 << 40, &n, st));
            o->max_pixels = n;
        } else if ((m = vt_arg_value(&a, "--max-new-tokens", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            /* above 2^24 no prompt fits in any max_position_embeddings we accept (lm_config.c) */
            VT_TRY(vt_parse_int64("--max-new-tokens", v, 1, (int64_t)1 << 24, &n, st));
            r->g.max_new_tokens = (int)n;
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
        } else if (vt_arg_flag(&a, "--no-cache")) {
            r->g.no_cache = 1;
        } else if (vt_arg_flag(&a, "--widen-bf16")) {
            r->g.widen_bf16 = 1;
        } else if (vt_arg_flag(&a, "--timings")) {
            o->timings = &r->timings;
        } else if (vt_arg_flag(&a, "--force")) {
            r->out.force = 1;
        } else if (vt_arg_flag(&a, "--quiet")) {
            r->out.quiet = 1;
        } else if (argv[a.i][0] == '-') {
            return vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace generate --help)", argv[a.i]);
        } else {
            return vt_fail(st, VT_EINPUT, "unexpected argument '%s' (see vlmtrace generate --help)", argv[a.i]);
        }
    }
    if (!o->model_dir) return vt_fail(st, VT_EINPUT, "no --model DIR given (see vlmtrace generate --help)");
    if (!r->input_ids_path && !r->g.prompt)
        return vt_fail(st, VT_EINPUT, "no --prompt TEXT or --input-ids F.npy given (see vlmtrace generate --help)");
    if (r->input_ids_path && r->g.prompt)
        return vt_fail(st, VT_EINPUT, "--prompt and --input-ids both given: the prompt is one or the other");
    if (r->g.raw && !r->g.prompt) return vt_fail(st, VT_EINPUT, "--raw needs --prompt");
    if (r->g.tokenizer && !r->g.prompt) return vt_fail(st, VT_EINPUT, "--tokenizer needs --prompt");
    o->images = r->images.v;
    o->n_images = r->images.n;
    o->only = r->only.v;
    o->n_only = r->only.n;
    if (!o->trace_dir && o->n_only) return vt_fail(st, VT_EINPUT, "--only needs --trace DIR");
    if (r->n_fps && o->n_videos == 0) return vt_fail(st, VT_EINPUT, "--fps given without any --video");
    if (r->n_fps > 1 && r->n_fps != o->n_videos)
        return vt_fail(st, VT_EINPUT, "--fps given %d times for %d videos (give it once per video, or once for all)",
                       r->n_fps, o->n_videos);
    if (o->n_videos) {
        o->fps = malloc((size_t)o->n_videos * sizeof *o->fps);
        if (!o->fps) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int v = 0; v < o->n_videos; v++) o->fps[v] = r->n_fps == 0 ? 2.0 : r->fps_given[r->n_fps == 1 ? 0 : v];
    }
    o->fps_given = r->n_fps > 0;
    return VT_OK;
}

/* --input-ids: an int64 .npy of shape [1, L] or [L] (then viewed as [1, L]). */
static int read_input_ids(gen_args *r, vt_status *st)
{
    VT_TRY(vt_npy_read(r->input_ids_path, &r->ids, &r->ids_owned, st));
    char sb[160];
    if (r->ids.dtype != VT_I64 || (!(r->ids.ndim == 2 && r->ids.shape[0] == 1) && r->ids.ndim != 1))
        return vt_fail(st, VT_EINPUT, "--input-ids %s: %s %s, expected int64 [1, L] (a batch of one prompt)",
                       r->input_ids_path, vt_dtype_name(r->ids.dtype),
                       vt_shape_str(sb, sizeof sb, r->ids.ndim, r->ids.shape));
    if (r->ids.ndim == 1) VT_TRY(vt_reshape(&r->ids, VT_DIMS(1, r->ids.shape[0]), st));
    r->g.input_ids = &r->ids;
    return VT_OK;
}

static int resolve_inject(vt_run_opts *o, const vt_model_config *cfg, vt_status *st)
{
    if (!o->inject) return VT_OK;
    return vt_inject_lookup(o->inject, cfg->family == VT_FAMILY_QWEN25VL ? VT_INJECT_GENERATE_QWEN25VL
                                                                         : VT_INJECT_GENERATE_QWEN2VL,
                            &o->bugs, st);
}

static int generate_run(int argc, char **argv, vt_status *st)
{
    gen_args r;
    memset(&r, 0, sizeof r);
    vt_timings_start(&r.timings);
    vt_output_start(&r.out);
    int rc = parse_args(&r, argc, argv, st);
    /* never write over a checkpoint, a config or another producer's trace (format/guard.h) */
    if (rc == VT_OK && r.g.run.trace_dir) rc = vt_output_guard(r.g.run.trace_dir, VT_OUT_DIR, "--trace", r.out.force, st);
    if (rc == VT_OK && r.g.run.out_path) rc = vt_output_guard(r.g.run.out_path, VT_OUT_FILE, "--out", r.out.force, st);
    if (rc == VT_OK && r.input_ids_path) rc = read_input_ids(&r, st);
    static vt_model_config cfg; /* large; one per process */
    if (rc == VT_OK) rc = vt_config_load(&cfg, r.g.run.model_dir, st);
    if (rc == VT_OK) rc = resolve_inject(&r.g.run, &cfg, st);
    if (rc == VT_OK && r.g.run.threads > 0) omp_set_num_threads(r.g.run.threads);
    vt_tracer tr;
    int tr_open = 0;
    if (rc == VT_OK && r.g.run.trace_dir) {
        rc = vt_tracer_open(&tr, r.g.run.trace_dir, cfg.model_type, r.g.run.only, r.g.run.n_only, st);
        tr_open = 1; /* vt_tracer_close is safe after a failed open */
        tr.verbose_progress = isatty(STDERR_FILENO);
        if (rc == VT_OK && r.g.run.inject) rc = vt_tracer_set_inject(&tr, r.g.run.inject, st);
    }
    vt_run_memory mem;
    memset(&mem, 0, sizeof mem);
    r.g.run.mem = &mem;
    if (rc == VT_OK) rc = vt_run_generate(&r.g, &cfg, tr_open ? &tr : NULL, st);
    if (rc == VT_OK && tr_open) rc = vt_output_check_only("generate", &tr, st);
    if (rc == VT_OK && tr_open) rc = vt_tracer_finish(&tr, st); /* the manifest, last, only on success */
    if (rc == VT_OK && r.g.run.timings) {
        vt_timings_mark(r.g.run.timings, "manifest.json");
        vt_timings_print(r.g.run.timings, stderr, omp_get_max_threads());
    }
    if (rc == VT_OK) {
        vt_written w[2];
        int n = 0;
        if (tr_open) w[n++] = vt_written_trace(&tr);
        if (r.g.run.out_path) w[n++] = vt_written_file("--out", r.g.run.out_path);
        vt_output_done(&r.out, "generate", w, n);
    }
    if (tr_open) vt_tracer_close(&tr);
    gen_args_free(&r);
    return rc;
}

const vt_cli_cmd vt_cmd_generate = {"generate", "run the whole model: images + prompt ids -> greedy tokens, traced",
                                    generate_usage, generate_run};
