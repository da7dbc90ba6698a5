/* cli_generate.c -- `vlmtrace generate`: flags -> vt_gen_opts, --input-ids read and checked, config, tracer,
 * the whole model (run_generate.c), the manifest last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <omp.h>

#include "cli/cli.h"
#include "cli/inject.h"
#include "cli/output.h"
#include "cli/run.h"
#include "format/npy.h"

static const char generate_usage[] =
    "usage: vlmtrace generate --model DIR (--prompt TEXT [--raw] [--tokenizer FILE] | --input-ids F.npy)\n"
    "                         [--image FILE]... [--video F1,F2,...]... [--fps F]...\n"
    "                         [--min-pixels N] [--max-pixels N] [--processor slow|fast] [--max-new-tokens N]\n"
    "                         [--trace DIR] [--only GLOB]... [--out F.npy] [--threads N] [--attn literal|segments]\n"
    "                         [--no-cache] [--widen-bf16] [--inject BUG] [--timings] [--force] [--quiet] [--json]\n"
    "\n"
    "Run the whole Qwen2-VL / Qwen2.5-VL model in DIR: the images and videos through the processor and the\n"
    "vision tower, their rows scattered into the prompt's <|image_pad|> / <|video_pad|> positions, the Qwen2\n"
    "language model with M-RoPE on the prompt, then greedy decoding with a KV cache. With --prompt the answer\n"
    "is printed as it is generated (special tokens left out); with --input-ids the generated ids go to stdout\n"
    "on one line. With --trace every intermediate is written under its Hugging Face name.\n"
    "\n"
    "  --prompt TEXT        the question: one user message (the images, the videos, TEXT) through the chat\n"
    "                       template and the tokenizer, each pad expanded to its input's tokens (docs/tokenizer.md)\n"
    "  --raw                TEXT is the whole prompt as it is (no template; its pads are still expanded)\n"
    "  --tokenizer FILE     tokenizer.json (default: DIR/tokenizer.json)\n"
    "  --input-ids F.npy    the prompt: int64 [1, L] (or [L]) with the vision pads already expanded, as the\n"
    "                       processor returns input_ids (one <|image_pad|> per merged token of each image)\n"
    "  --image FILE         an image, repeatable (image.0, image.1, ...), in the prompt's order\n"
    "  --video F1,F2,...    a video as its frame files, repeatable; --fps F per video or once (default 2.0)\n"
    "  --min-pixels N       resize bounds; a flag overrides DIR/preprocessor_config.json, which overrides\n"
    "  --max-pixels N       the published defaults\n"
    "  --processor P        slow (4.51.3's PIL path, the goldens') or fast (>= 4.52's torchvision); default:\n"
    "                       DIR's preprocessor_config.json (*Fast), else slow (docs/resize.md)\n"
    "  --max-new-tokens N   stop after N new tokens (default 64) or after an eos id (kept as the last id):\n"
    "                       generation_config.json's eos_token_id when DIR has one, else config.json's\n"
    "  --trace DIR          every intermediate tensor as DIR/<name>.npy, DIR/manifest.json last (the tower's,\n"
    "                       the language model's, generated_ids, generate.*; with --prompt generate.text)\n"
    "  --only GLOB          trace only names matching a shell-style glob; repeatable\n"
    "  --out F.npy          save the generated ids as int64 [1, n]\n"
    "  --threads N          OpenMP threads (results do not depend on it)\n"
    "  --attn MODE          segments (default): each row's keys walked directly; literal: the reference's\n"
    "                       explicit masks (the tower's N x N, the decoder's causal L x L)\n"
    "  --no-cache           recompute the whole sequence at every step (how the goldens were made; slow)\n"
    "  --widen-bf16         widen BF16 weights at load instead of in the kernel (same results, more memory)\n"
    "  --inject BUG         a real porting mistake, switched on where it happens (docs/bug-zoo.md): the\n"
    "                       tower's (as for run) and the language model's mrope-section-order,\n"
    "                       decode-positions-restart\n"
    "  --timings            seconds per stage on stderr (decoding is charged to generated_ids)\n"
    "  --force              write over a checkpoint, a config or another producer's trace (refused otherwise)\n"
    "  --quiet              no summary line\n"
    "  --json               stdout holds one JSON document and nothing else: the summary, \"ids\" and, with\n"
    "                       --prompt, \"text\" (the answer, then not streamed)\n"
    "\n"
    "On success one summary line goes to stderr: tokens generated, what was written where, seconds. On a\n"
    "terminal, stderr also shows progress: decoding, preprocessing, loading, blocks, layers, tokens/s.\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error, 3 resource failure.\n";

typedef struct gen_args {
    vt_gen_opts g;
    vt_gen_result res; /* the ids (and text), for --json */
    vt_output out;     /* --force, --quiet, --json (output.h) */
    vt_timings timings;
    vt_strlist images, only;
    char **video_bufs;
    vt_numlist fps;    /* --fps, in the order given */
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
    vt_numlist_free(&r->fps);
    vt_strlist_free(&r->images);
    vt_strlist_free(&r->only);
    free(r->ids_owned);
    free(r->res.ids);
    free(r->res.text);
    vt_output_free(&r->out);
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

/* The flags, through the one table-driven parser (cli.h), as `run` has them plus the language model's. */
static int parse_args(gen_args *r, int argc, char **argv, vt_status *st)
{
    vt_run_opts *o = &r->g.run;
    int64_t min_pixels = -1, max_pixels = -1, threads = 0, max_new = 64;
    int attn = 0, timings = 0;
    const char *processor = NULL;
    vt_strlist videos = {0};
    static const char *const attn_modes[] = {"segments", "literal", NULL};
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &o->model_dir, "DIR", 0, 0, NULL},
        {"--prompt", VT_OPT_STRING, 0, &r->g.prompt, "TEXT", 0, 0, NULL},
        {"--raw", VT_OPT_FLAG, 0, &r->g.raw, NULL, 0, 0, NULL},
        {"--tokenizer", VT_OPT_STRING, 0, &r->g.tokenizer, "FILE", 0, 0, NULL},
        {"--input-ids", VT_OPT_STRING, 0, &r->input_ids_path, "F.npy", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 1, &r->images, "FILE", 0, 0, NULL},
        {"--video", VT_OPT_STRING, 1, &videos, "F1,F2,...", 0, 0, NULL},
        {"--fps", VT_OPT_DOUBLE, 1, &r->fps, "F", 1e-3, 1e6, NULL},
        {"--min-pixels", VT_OPT_INT, 0, &min_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--max-pixels", VT_OPT_INT, 0, &max_pixels, "N", 1, (double)((int64_t)1 << 40), NULL},
        {"--processor", VT_OPT_STRING, 0, &processor, "slow|fast", 0, 0, NULL},
        /* above 2^24 no prompt fits in any max_position_embeddings we accept (lm_config.c) */
        {"--max-new-tokens", VT_OPT_INT, 0, &max_new, "N", 1, (double)((int64_t)1 << 24), NULL},
        {"--trace", VT_OPT_STRING, 0, &o->trace_dir, "DIR", 0, 0, NULL},
        {"--only", VT_OPT_STRING, 1, &r->only, "GLOB", 0, 0, NULL},
        {"--out", VT_OPT_STRING, 0, &o->out_path, "F.npy", 0, 0, NULL},
        {"--threads", VT_OPT_INT, 0, &threads, "N", 1, 1024, NULL},
        {"--attn", VT_OPT_CHOICE, 0, &attn, "literal|segments", 0, 0, attn_modes},
        {"--inject", VT_OPT_STRING, 0, &o->inject, "BUG", 0, 0, NULL},
        {"--no-cache", VT_OPT_FLAG, 0, &r->g.no_cache, NULL, 0, 0, NULL},
        {"--widen-bf16", VT_OPT_FLAG, 0, &r->g.widen_bf16, NULL, 0, 0, NULL},
        {"--timings", VT_OPT_FLAG, 0, &timings, NULL, 0, 0, NULL},
        VT_OUTPUT_OPTS(&r->out),
    };
    int rc = vt_opts_parse("generate", opts, VT_N_OPTS(opts), argc, argv, NULL, st);
    for (int v = 0; rc == VT_OK && v < videos.n; v++) rc = add_video(r, videos.v[v], st);
    vt_strlist_free(&videos);
    VT_TRY(rc);
    o->min_pixels = min_pixels;
    o->max_pixels = max_pixels;
    o->threads = (int)threads;
    o->attn = attn ? VT_ATTN_LITERAL : VT_ATTN_SEGMENTS;
    o->timings = timings ? &r->timings : NULL;
    o->processor_mode = -1;
    if (processor) {
        vt_processor_mode pm;
        if (vt_processor_mode_parse(processor, &pm, st)) return vt_wrap(st, "--processor: ");
        o->processor_mode = (int)pm;
    }
    r->g.max_new_tokens = (int)max_new;
    r->g.json = r->out.json;
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
    const int n_fps = r->fps.n;
    if (n_fps && o->n_videos == 0) return vt_fail(st, VT_EINPUT, "--fps given without any --video");
    if (n_fps > 1 && n_fps != o->n_videos)
        return vt_fail(st, VT_EINPUT, "--fps given %d times but there %s %d --video: give --fps once for all videos, "
                       "or once per video", n_fps, o->n_videos == 1 ? "is" : "are", o->n_videos);
    if (o->n_videos) {
        o->fps = malloc((size_t)o->n_videos * sizeof *o->fps);
        if (!o->fps) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int v = 0; v < o->n_videos; v++) o->fps[v] = n_fps == 0 ? 2.0 : r->fps.v[n_fps == 1 ? 0 : v];
    }
    o->fps_given = n_fps > 0;
    r->g.result = &r->res;
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

/* --json: the ids (and the text) beside what every command puts in the document; the summary's note. */
static int result_to_output(gen_args *r, vt_status *st)
{
    const vt_gen_result *res = &r->res;
    snprintf(r->out.note, sizeof r->out.note, "%lld token%s generated", (long long)res->n_ids, res->n_ids == 1 ? "" : "s");
    if (!r->out.json) return VT_OK;
    cJSON *x = cJSON_CreateObject(), *ids = x ? cJSON_AddArrayToObject(x, "ids") : NULL;
    for (int64_t j = 0; ids && j < res->n_ids; j++) {
        cJSON *n = cJSON_CreateNumber((double)res->ids[j]);
        if (!n || !cJSON_AddItemToArray(ids, n)) {
            cJSON_Delete(n);
            ids = NULL;
        }
    }
    if (ids && res->text && !cJSON_AddStringToObject(x, "text", res->text)) ids = NULL;
    if (!ids) {
        cJSON_Delete(x);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    r->out.json_extra = x;
    return VT_OK;
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
    if (rc == VT_OK) rc = result_to_output(&r, st);
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
