/*
 * run.h -- `vlmtrace run`: one forward of a family's vision side on images and videos, optionally traced.
 *
 *     vlmtrace run --model DIR [--image FILE]... [--video F1,F2,...]... [--fps F]... [--min-pixels N]
 *                  [--max-pixels N] [--trace DIR] [--only GLOB]... [--out FILE.npy] [--threads N] [--viz]
 *                  [--attn literal|segments] [--inject BUG] [--timings]
 *
 * trace/cli/cli_run.c parses the flags into a vt_run_opts, loads DIR's config (vt_config_load), opens the
 * tracer when --trace is given, and calls the family's entry point, chosen by config.json's model_type:
 *
 *     int vt_run_<family>(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st);
 *
 * The entry point decodes the inputs, estimates the run's memory and refuses it over the limit
 * (run_limits.h) before loading the weights, preprocesses the inputs as its reference does, runs the
 * forward with the tap vt_run_tap(o, tr) (a file-writing tap with --trace, a progress-only tap without),
 * writes its pictures when o->viz (into tr->dir, recorded with vt_tracer_add_picture), and hands its final
 * tensor to vt_run_save_out (which writes --out when given). It never finishes the tracer: cli_run.c
 * writes the manifest, last, and only when the entry point returned 0.
 *
 * Ownership: everything in vt_run_opts is owned by cli_run.c (strings point into argv or into buffers it
 * frees after the run); entry points only read it.
 */
#ifndef VT_RUN_H
#define VT_RUN_H

#include <stdint.h>

#include "core/ops.h"
#include "model/model.h"
#include "cli/run_limits.h"
#include "core/tap.h"
#include "cli/timings.h"
#include "format/tracer.h"

/* What an entry point reports about memory (cli_run.c prints it with VLMTRACE_MEMORY_REPORT=1). */
typedef struct vt_run_memory {
    vt_mem_estimate est; /* run_limits.h: filled and checked before the weights or the arena are allocated */
    size_t arena_peak;   /* measured: the scratch arena's high-water mark at the end of the run */
} vt_run_memory;

/* One --video: its frames in order (the comma-separated list of the flag). */
typedef struct vt_run_video {
    char **frames;
    int n_frames;
} vt_run_video;

typedef struct vt_run_opts {
    const char *model_dir;   /* --model: config.json, preprocessor_config.json (optional), *.safetensors */
    char **images;           /* --image, in the order given: image.0, image.1, ... */
    int n_images;
    vt_run_video *videos;    /* --video, in the order given: video.0, video.1, ... */
    int n_videos;
    double *fps;             /* [n_videos]: --fps per video in order, or one --fps for all; 2.0 when absent
                                (the Qwen2.5-VL processor's default) */
    int fps_given;           /* 1 if --fps appeared at all */
    int64_t min_pixels;      /* --min-pixels, -1 when not given (then preprocessor_config.json, then defaults) */
    int64_t max_pixels;      /* --max-pixels, -1 when not given */
    int processor_mode;      /* --processor: VT_PROCESSOR_SLOW / VT_PROCESSOR_FAST (processor.h), -1 when not given
                                (then the model's default, vt_model_processor_mode) */
    const char *trace_dir;   /* --trace, NULL when not given */
    char **only;             /* --only globs (need --trace) */
    int n_only;
    const char *out_path;    /* --out FILE.npy: the family's final tensor, NULL when not given */
    int threads;             /* --threads, 0 = OpenMP's default */
    int viz;                 /* --viz: pictures into the trace directory (needs --trace) */
    vt_attn_mode attn;       /* --attn literal|segments */
    const char *inject;      /* --inject BUG: a bug switched on for teaching (inject.h); NULL for a clean run */
    unsigned bugs;           /* its VT_BUG_* flag (ref/core/bugzoo.h), looked up by cli_run.c once the family is
                                known; each entry point hands it to the stages that make the mistake */
    vt_run_memory *mem;      /* where the entry point reports its estimate and arena peak (owned by cli_run.c) */
    vt_timings *timings;     /* --timings: seconds per stage (timings.h), NULL without the flag */
} vt_run_opts;

/* The decoded --image / --video inputs of a run (run, generate), EXIF orientation applied as HF's load_image
 * does. images [n_images]; videos [n_videos], each pointing at its frames. Owned; vt_run_inputs_free. */
typedef struct vt_run_inputs {
    vt_image *images;
    vt_image **frames;            /* [n_videos][n_frames] */
    vt_processor_video *videos;
} vt_run_inputs;
/* Decode every --image and every --video frame of o (one line naming the file on failure; whatever was
 * decoded is freed by vt_run_inputs_free either way). */
int vt_run_inputs_decode(vt_run_inputs *in, const vt_run_opts *o, vt_status *st);
void vt_run_inputs_free(vt_run_inputs *in, const vt_run_opts *o);

/* The per-family entry points (cli_run.c dispatches on cfg->family). tr is NULL without --trace. */
int vt_run_qwen2(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st); /* qwen2_vl, qwen2_5_vl,
                                                                                                 qwen3_vl */
int vt_run_qwenvl(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st); /* qwen (Qwen-VL) */
int vt_run_kimivl(const vt_run_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st); /* kimi_vl */

/* The Qwen2-style processor's options for a run (run, generate): the published defaults, then
 * DIR/preprocessor_config.json (cfg->pre), the mode (--processor, else vt_model_processor_mode(cfg)), in fast
 * mode with videos DIR/video_preprocessor_config.json for them, then --min-pixels / --max-pixels (images and
 * videos alike) and the --inject switches (o->bugs). VT_EINPUT naming the file when the video file is bad. */
int vt_run_processor_opts(vt_processor_opts *po, const vt_run_opts *o, const vt_model_config *cfg, vt_status *st);
/* What a generate run produced, for --json (owned by the caller: free ids and text). */
typedef struct vt_gen_result {
    int64_t *ids;     /* the generated ids [n_ids] */
    int64_t n_ids;
    char *text;       /* with --prompt: the answer (special tokens left out), NUL-terminated; NULL otherwise */
} vt_gen_result;

/* `vlmtrace generate` (cli_generate.c parses the flags, run_generate.c runs the model): the vision side's
 * flags as `run` has them, plus the language model's. */
typedef struct vt_gen_opts {
    vt_run_opts run;            /* --model, --image, --video, --fps, --min/max-pixels, --trace, --only, --out
                                   (the generated ids), --threads, --attn, --inject, --timings */
    const vt_tensor *input_ids; /* --input-ids F.npy: int64 [1, L] (read and checked by cli_generate.c), or
                                   NULL with --prompt */
    const char *prompt;         /* --prompt TEXT: one user message (the images, the videos, the text) through
                                   the chat template and the tokenizer (ref/tokenizer/chat.h) */
    int raw;                    /* --raw: TEXT is the whole prompt, no template (its pads still expanded) */
    const char *tokenizer;      /* --tokenizer FILE: tokenizer.json; DIR's by default */
    int max_new_tokens;         /* --max-new-tokens, 64 by default */
    int no_cache;               /* --no-cache: every step recomputes the whole sequence (the goldens' protocol) */
    int widen_bf16;             /* --widen-bf16: BF16 weights widened to float32 at load (same results) */
    int json;                   /* --json: nothing printed on stdout (cli_generate.c prints one JSON document) */
    vt_gen_result *result;      /* filled on success when non-NULL */
} vt_gen_opts;

/* Qwen2-VL / Qwen2.5-VL: the processor's options (vt_run_processor_opts, the mode recorded in the trace),
 * decode the inputs, check the prompt against them, load both sides, run vt_vlm_pipeline with the tap,
 * print the generated ids on stdout (one line; with --prompt the text as it comes; nothing with o->json),
 * hand them to --out and to o->result. */
int vt_run_generate(const vt_gen_opts *o, const vt_model_config *cfg, vt_tracer *tr, vt_status *st);

/* The tap a family's forward should get: the tracer's when tr is non-NULL, otherwise one that only reports
 * progress; behind the --timings tap when o->timings. Either way a one-line progress report per block goes
 * to stderr only when stderr is a terminal. */
vt_tap vt_run_tap(const vt_run_opts *o, vt_tracer *tr);

/* --attn literal over N patches: refused (as the forward would, but before the weights are loaded) when
 * N > VT_ATTN_LITERAL_MAX_N. */
int vt_run_check_literal(const vt_run_opts *o, int64_t N, vt_status *st);

/* Write t to o->out_path as .npy when --out was given (nothing otherwise). Exit-code split of outfile.h. */
int vt_run_save_out(const vt_run_opts *o, const vt_tensor *t, vt_status *st);

#endif
