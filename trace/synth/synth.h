/*
 * synth.h -- `vlmtrace synth`: checkpoints with the published key names and shapes and seeded random
 * weights, for when the real ones cannot be downloaded (docs/checkpoints.md).
 *
 *     vt_synth_opts o = {.preset = "qwen2-vl-2b", .out_dir = "build/q2b", .dtype = VT_ST_BF16,
 *                        .seed = 0, .layers = 2, .shard_mb = -1};
 *     VT_TRY(vt_synth(&o, NULL, st));   // model.safetensors, preprocessor_config.json, config.json (last)
 *
 * Pieces, each usable alone (the tests check them one by one):
 *   synth_rng.c    the PRNG: splitmix64 -> xoshiro256** per tensor, a bell-shaped unit-variance draw
 *                  built from integer lanes (no libm, so the same bits on every machine), bf16 RNE
 *   synth_init.c   which distribution each tensor gets (scales and why)
 *   synth_st.c     the safetensors writer: shard plan, header padded to 8 bytes, index as the hubs write it
 *   synth.c        presets, --layers applied to config.json, the order files are written in
 *
 * Ownership: nothing returned here needs freeing unless said so.
 */
#ifndef VT_SYNTH_H
#define VT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "io/safetensors.h"
#include "core/status.h"

/* ================================ the PRNG (synth_rng.c) ================================ */

typedef struct vt_rng {
    uint64_t s[4]; /* xoshiro256** state */
} vt_rng;

/* splitmix64 (Steele, Lea, Flood 2014): advances *x by the golden-ratio increment, returns the mix. */
uint64_t vt_splitmix64(uint64_t *x);
/* 64-bit FNV-1a of a string (the tensor's name picks its own stream). */
uint64_t vt_fnv1a64(const char *s);
/* The stream of one tensor: splitmix64 seeded with seed ^ fnv1a64(name) fills the four state words. */
void vt_rng_seed(vt_rng *r, uint64_t seed, const char *name);
/* xoshiro256** 1.0 (Blackman, Vigna 2018). */
uint64_t vt_rng_next(vt_rng *r);
/* The integer behind one draw: the four 16-bit lanes of one vt_rng_next summed, doubled and centred,
 * an even integer in [-4*65535, 4*65535] (Irwin-Hall with n = 4). */
int32_t vt_rng_bell_int(vt_rng *r);
/* Dividing vt_rng_bell_int by this gives unit variance: 2 * sqrt((65536^2 - 1) / 3). */
double vt_rng_bell_norm(void);

/* float32 -> bfloat16 bits, round to nearest, ties to even (as torch's .to(torch.bfloat16)). NaN stays
 * a quiet NaN. */
uint16_t vt_f32_to_bf16(float f);

/* ================================ initialisation (synth_init.c) ================================ */

/* The distribution of one tensor: every element is mean + std * z, z bell-shaped with unit variance. */
typedef struct vt_synth_init {
    double mean, std;
    const char *rule; /* a few words naming the rule (for docs and tests) */
    int residual;     /* 1 for a Linear whose output is added to the residual stream */
} vt_synth_init;

/* The rule for tensor w of a model with configuration cfg; full_depth is the preset's vision depth and
 * full_lm_layers its language model's num_hidden_layers before --layers (the residual-branch scale depends
 * on them, so a --layers N checkpoint holds exactly the first N blocks and layers of the full one). */
vt_synth_init vt_synth_init_for(const vt_model_config *cfg, int full_depth, int full_lm_layers,
                                const vt_weight_spec *w);

/* A tensor's values, in order, in chunks: vt_synth_stream_init once, then vt_synth_stream_f32 as many
 * times as needed (the values do not depend on the chunk sizes). */
typedef struct vt_synth_stream {
    vt_rng rng;
    double scale; /* std / vt_rng_bell_norm() */
    double mean;
} vt_synth_stream;
void vt_synth_stream_init(vt_synth_stream *s, const vt_synth_init *in, uint64_t seed, const char *name);
void vt_synth_stream_f32(vt_synth_stream *s, float *dst, size_t n);

/* ================================ safetensors writer (synth_st.c) ================================ */

/* Fill dst with elements [at, at + n) of tensor i (as float32; the writer converts). */
typedef int (*vt_stw_fill_fn)(void *ctx, int i, float *dst, size_t at, size_t n, vt_status *st);

typedef struct vt_stw_opts {
    const char *dir;             /* where the files go (exists) */
    const vt_weight_spec *t;     /* the tensors, in the order they are stored */
    int n;
    vt_st_dtype dtype;           /* VT_ST_F32 or VT_ST_BF16 */
    uint64_t shard_bytes;        /* at most this many bytes of tensor data per file; 0: one file */
    const char *const *meta;     /* __metadata__ as key, value, key, value, ... (strings) */
    int n_meta;                  /* number of pairs */
    vt_stw_fill_fn fill;
    void *ctx;
} vt_stw_opts;

/* The shard each tensor goes to, greedily in order as huggingface_hub splits a state dict: a tensor
 * that would take the current shard past shard_bytes starts a new one; a tensor larger than shard_bytes
 * gets a shard of its own. shard_of is n ints (caller's); returns the number of shards (>= 1). */
int vt_stw_plan(const vt_weight_spec *t, int n, vt_st_dtype dtype, uint64_t shard_bytes, int *shard_of);

/* Write model.safetensors, or (more than one shard) model-0000i-of-0000n.safetensors and
 * model.safetensors.index.json. Each file is written under a temporary name and renamed when complete;
 * the index last. On failure the files this call wrote are removed again. *n_files (may be NULL) gets
 * the number of .safetensors files written. */
int vt_stw_write(const vt_stw_opts *o, int *n_files, vt_status *st);

/* ================================ the command (synth.c) ================================ */

typedef struct vt_synth_opts {
    const char *preset;    /* a preset name (notebooks-data/presets/NAME) or a directory holding config.json */
    const char *out_dir;
    vt_st_dtype dtype;     /* VT_ST_BF16 (default) or VT_ST_F32 */
    uint64_t seed;
    int layers;            /* keep the first N blocks; 0 keeps them all */
    double shard_mb;       /* < 0: the hubs' default (shard above 5000 MB); 0: never shard; else MB (10^6 bytes) */
} vt_synth_opts;

/* The preset's directory: NAME containing '/' is used as given; otherwise $VLMTRACE_PRESETS/NAME, then
 * notebooks-data/presets/NAME beside the executable (up to three directories up), then under the current
 * directory. VT_EINPUT naming the known presets when none has NAME/config.json. */
int vt_synth_find_preset(char *out, size_t cap, const char *preset, vt_status *st);

/* config.json text with --layers applied (the vision depth cut to layers; Qwen2.5-VL fullatt_block_indexes
 * >= layers dropped; Qwen2-VL / Qwen2.5-VL num_hidden_layers cut to layers too) and torch_dtype set to the
 * written dtype. *out is malloc'd; *full_depth and *full_lm_layers (0 without a language model) get the
 * depths before. N above both depths is an error; a stack shallower than N is kept whole. */
int vt_synth_config(const char *json, size_t len, int layers, vt_st_dtype dtype, char **out, int *full_depth,
                    int *full_lm_layers, vt_status *st);

/* What vt_synth wrote (for the summary line). */
typedef struct vt_synth_result {
    char preset_dir[4096]; /* where the preset was found */
    int depth, full_depth; /* blocks written / in the preset */
    int lm_layers, full_lm_layers; /* language-model layers written / in the preset (0: none) */
    int n_tensors;
    int64_t n_params;
    int64_t n_params_vision; /* of which the vision side's */
    uint64_t data_bytes;   /* tensor data, all files together */
    int n_files;           /* .safetensors files (1, or the shards) */
} vt_synth_result;

/* Write the checkpoint: clears the files a checkpoint in out_dir would be read from (config.json first,
 * so the directory never looks complete while it is being written), then the safetensors (and index),
 * preprocessor_config.json where the preset has one, and config.json last. res may be NULL. */
int vt_synth(const vt_synth_opts *o, vt_synth_result *res, vt_status *st);

#endif
