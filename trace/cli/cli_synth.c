/* cli_synth.c -- `vlmtrace synth`: flags -> vt_synth_opts, one summary line (synth.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "synth/synth.h"
#include "cli/output.h"

static const char synth_usage[] =
    "usage: vlmtrace synth --preset NAME --out DIR [--dtype bf16|f32] [--seed N] [--layers N] [--shard-mb N]\n"
    "                      [--force] [--quiet] [--json]\n"
    "\n"
    "Write a checkpoint with the published key names and shapes and seeded random weights: DIR/config.json,\n"
    "DIR/preprocessor_config.json (where the family has one) and DIR/model.safetensors, or shards with\n"
    "model.safetensors.index.json. Qwen2-VL / Qwen2.5-VL presets get the whole model (the vision tower and\n"
    "the language model, as `vlmtrace generate` reads it); the other families their vision side only.\n"
    "The same arguments give the same bytes on every machine.\n"
    "\n"
    "  --preset NAME   qwen2-vl-2b, qwen2.5-vl-7b, qwen-vl, kimi-vl-a3b (the published configs), tiny-qwen2-vl,\n"
    "                  tiny-qwen2.5-vl, tiny-qwen-vl, tiny-kimi-vl (small, for tests); looked up in\n"
    "                  $VLMTRACE_PRESETS, then notebooks-data/presets beside the executable, then under the\n"
    "                  current directory. A NAME containing '/' is a directory holding any config.json.\n"
    "  --out DIR       created if needed; the files a loader reads there (config.json, preprocessor_config.json,\n"
    "                  model.safetensors, its index and model-*-of-*.safetensors shards) are replaced, config.json\n"
    "                  first and written back last, so an interrupted synth never leaves a loadable checkpoint.\n"
    "                  A DIR holding a trace, or a checkpoint synth did not write (config.json without the\n"
    "                  \"vlmtrace_synth\" key synth adds), is refused unless --force\n"
    "  --dtype T       bf16 (default, as the hubs publish; rounded to nearest even) or f32\n"
    "  --seed N        0 by default; each tensor has its own stream from (seed, its name)\n"
    "  --layers N      keep the first N blocks of the vision tower (Qwen2.5-VL: full-attention indices >= N\n"
    "                  are dropped; Qwen3-VL: deepstack_visual_indexes i become floor(i * N / depth),\n"
    "                  repeats dropped) and the first N layers of the language model (a stack with fewer\n"
    "                  stays whole); the blocks and layers kept are identical to the full checkpoint's\n"
    "  --force         write over a checkpoint synth did not write\n"
    "  --quiet         no summary line on stderr\n"
    "  --json          one JSON document on stdout (what was written), instead of the line above\n"
    "  --shard-mb N    at most N MB (10^6 bytes, fractions allowed) of tensor data per file; 0 never shards;\n"
    "                  default 5000, as save_pretrained's max_shard_size \"5GB\"\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error (unknown preset, bad flag, an --out that cannot be\n"
    "created), 3 resource failure (out of memory, a write that failed).\n";

static int parse_args(vt_synth_opts *o, vt_output *out, int argc, char **argv, vt_status *st)
{
    memset(o, 0, sizeof *o);
    o->shard_mb = -1;
    int64_t seed = 0, layers = 0;
    int dtype = 0;
    static const char *const dtypes[] = {"bf16", "f32", NULL};
    const vt_opt opts[] = {
        {"--preset", VT_OPT_STRING, 0, &o->preset, "NAME", 0, 0, NULL},
        {"--out", VT_OPT_STRING, 0, &o->out_dir, "DIR", 0, 0, NULL},
        {"--dtype", VT_OPT_CHOICE, 0, &dtype, "bf16|f32", 0, 0, dtypes},
        {"--seed", VT_OPT_INT, 0, &seed, "N", 0, 9.0e15, NULL},
        {"--layers", VT_OPT_INT, 0, &layers, "N", 1, 1024, NULL},
        {"--shard-mb", VT_OPT_DOUBLE, 0, &o->shard_mb, "N", 0.0, 1e9, NULL},
        VT_OUTPUT_OPTS(out),
    };
    VT_TRY(vt_opts_parse("synth", opts, VT_N_OPTS(opts), argc, argv, NULL, st));
    o->dtype = dtype ? VT_ST_F32 : VT_ST_BF16;
    o->seed = (uint64_t)seed;
    o->layers = (int)layers;
    if (!o->preset) return vt_fail(st, VT_EINPUT, "no --preset NAME given (see vlmtrace synth --help)");
    if (!o->out_dir) return vt_fail(st, VT_EINPUT, "no --out DIR given (see vlmtrace synth --help)");
    return VT_OK;
}

static int run_synth(int argc, char **argv, vt_status *st)
{
    vt_synth_opts o;
    vt_output out = {0};
    vt_output_start(&out);
    VT_TRY(parse_args(&o, &out, argc, argv, st));
    /* a checkpoint synth wrote may be rewritten; anything else (a real checkpoint, a trace) is refused */
    VT_TRY(vt_output_guard(o.out_dir, VT_OUT_CHECKPOINT, "--out", out.force, st));
    vt_synth_result r;
    VT_TRY(vt_synth(&o, &r, st));
    char lm[64] = "";
    char vision[48] = "";
    if (r.full_lm_layers) {
        snprintf(lm, sizeof lm, " + %d of %d language-model layers", r.lm_layers, r.full_lm_layers);
        snprintf(vision, sizeof vision, " (%.1fM vision)", (double)r.n_params_vision / 1e6);
    }
    if (!out.json)
        printf("%s: %s, %d of %d blocks%s, %d tensors, %.1fM parameters%s, %.1f MB %s in %d file%s\n", o.out_dir,
               o.preset, r.depth, r.full_depth, lm, r.n_tensors, (double)r.n_params / 1e6, vision,
               (double)r.data_bytes / 1e6, o.dtype == VT_ST_BF16 ? "bf16" : "f32", r.n_files,
               r.n_files == 1 ? "" : "s (+ index)");
    vt_written w = {"checkpoint", o.out_dir, r.n_tensors, (int64_t)r.data_bytes, 0};
    vt_output_done(&out, "synth", &w, 1);
    return 0;
}

const vt_cli_cmd vt_cmd_synth = {"synth", "write a checkpoint of a preset's shapes with seeded random weights",
                                 synth_usage, run_synth};
