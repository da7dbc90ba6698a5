/* cli_synth.c -- `vlmtrace synth`: flags -> vt_synth_opts, one summary line (synth.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "synth/synth.h"

static const char synth_usage[] =
    "usage: vlmtrace synth --preset NAME --out DIR [--dtype bf16|f32] [--seed N] [--layers N] [--shard-mb N]\n"
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
    "                  first and written back last, so an interrupted synth never leaves a loadable checkpoint\n"
    "  --dtype T       bf16 (default, as the hubs publish; rounded to nearest even) or f32\n"
    "  --seed N        0 by default; each tensor has its own stream from (seed, its name)\n"
    "  --layers N      keep the first N blocks of the vision tower (Qwen2.5-VL: full-attention indices >= N\n"
    "                  are dropped) and the first N layers of the language model (a stack with fewer stays\n"
    "                  whole); the blocks and layers kept are identical to the full checkpoint's\n"
    "  --shard-mb N    at most N MB (10^6 bytes, fractions allowed) of tensor data per file; 0 never shards;\n"
    "                  default 5000, as save_pretrained's max_shard_size \"5GB\"\n"
    "\n"
    "Exit status: 0 success, 2 usage or input error (unknown preset, bad flag, an --out that cannot be\n"
    "created), 3 resource failure (out of memory, a write that failed).\n";

static int parse_args(vt_synth_opts *o, int argc, char **argv, vt_status *st)
{
    memset(o, 0, sizeof *o);
    o->dtype = VT_ST_BF16;
    o->shard_mb = -1;
    vt_args a = {argc, argv, 1};
    for (; a.i < argc; a.i++) {
        const char *v;
        int m;
        int64_t n;
        if ((m = vt_arg_value(&a, "--preset", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->preset = v;
        } else if ((m = vt_arg_value(&a, "--out", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            o->out_dir = v;
        } else if ((m = vt_arg_value(&a, "--dtype", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            if (!strcmp(v, "bf16")) o->dtype = VT_ST_BF16;
            else if (!strcmp(v, "f32")) o->dtype = VT_ST_F32;
            else return vt_fail(st, VT_EINPUT, "--dtype: '%s' is neither bf16 nor f32", v);
        } else if ((m = vt_arg_value(&a, "--seed", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--seed", v, 0, INT64_MAX, &n, st));
            o->seed = (uint64_t)n;
        } else if ((m = vt_arg_value(&a, "--layers", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_int64("--layers", v, 1, 1024, &n, st));
            o->layers = (int)n;
        } else if ((m = vt_arg_value(&a, "--shard-mb", &v, st)) != 0) {
            if (m < 0) return VT_EINPUT;
            VT_TRY(vt_parse_double("--shard-mb", v, 0.0, 1e9, &o->shard_mb, st));
        } else if (argv[a.i][0] == '-') {
            return vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace synth --help)", argv[a.i]);
        } else {
            return vt_fail(st, VT_EINPUT, "unexpected argument '%s' (see vlmtrace synth --help)", argv[a.i]);
        }
    }
    if (!o->preset) return vt_fail(st, VT_EINPUT, "no --preset NAME given (see vlmtrace synth --help)");
    if (!o->out_dir) return vt_fail(st, VT_EINPUT, "no --out DIR given (see vlmtrace synth --help)");
    return VT_OK;
}

static int run_synth(int argc, char **argv, vt_status *st)
{
    vt_synth_opts o;
    VT_TRY(parse_args(&o, argc, argv, st));
    vt_synth_result r;
    VT_TRY(vt_synth(&o, &r, st));
    char lm[64] = "";
    char vision[48] = "";
    if (r.full_lm_layers) {
        snprintf(lm, sizeof lm, " + %d of %d language-model layers", r.lm_layers, r.full_lm_layers);
        snprintf(vision, sizeof vision, " (%.1fM vision)", (double)r.n_params_vision / 1e6);
    }
    printf("%s: %s, %d of %d blocks%s, %d tensors, %.1fM parameters%s, %.1f MB %s in %d file%s\n", o.out_dir,
           o.preset, r.depth, r.full_depth, lm, r.n_tensors, (double)r.n_params / 1e6, vision, (double)r.data_bytes / 1e6,
           o.dtype == VT_ST_BF16 ? "bf16" : "f32", r.n_files, r.n_files == 1 ? "" : "s (+ index)");
    return 0;
}

const vt_cli_cmd vt_cmd_synth = {"synth", "write a checkpoint of a preset's shapes with seeded random weights",
                                 synth_usage, run_synth};
