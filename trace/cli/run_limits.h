/*
 * run_limits.h -- how much memory a run will need, estimated from the typed config and the preprocessed
 * grid, and checked against a limit before anything large is allocated.
 *
 *     vt_mem_estimate e;
 *     VT_TRY(vt_mem_weights(&e, cfg, st));                       // float32 weights, from config.json alone
 *     vt_mem_qwen2(&e, vision, qwen25, &po, sizes, n, literal);     // + inputs, arena peak, other buffers
 *     VT_TRY(vt_mem_check(&e, dir, "lower --max-pixels", st));              // VT_EINPUT over the limit, naming the parts
 *     vt_arena_init(&a, vt_mem_arena_limit());                   // VLMTRACE_MAX_ARENA_BYTES, 0 = none
 *
 * The estimate is an upper bound written beside the code it bounds: each family's term lists the arena
 * allocations its forward makes (the tensors that live across blocks, plus the largest block's
 * temporaries), the preprocessing's, the decoded inputs, and the buffers outside the arena (per-thread
 * attention rows, resize scratch, --viz copies). tests/test_limits.c checks it against the arena peak
 * measured on every family's reference model (VLMTRACE_MEMORY_REPORT=1 prints both).
 *
 * The limit: VLMTRACE_MAX_MEMORY=bytes (K, M, G, T suffixes are powers of 1024) when set, otherwise 3/4 of
 * the physical RAM (sysconf), lowered to 3/4 of the address-space limit (ulimit -v) or of the cgroup's
 * memory.max when either is smaller. A run over it is refused with VT_EINPUT (exit 2) and the number of
 * bytes it would have needed; an allocation that fails anyway is VT_ERESOURCE (exit 3) where it happens.
 */
#ifndef VT_RUN_LIMITS_H
#define VT_RUN_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "processor/processor.h"
#include "core/status.h"

/* Bytes, as doubles: an absurd config must overflow nothing on its way to being refused. */
typedef struct vt_mem_estimate {
    double weights; /* the one float32 weight buffer (vt_wbind), 64-byte slots */
    double inputs;  /* decoded pixels of every input, held for the whole run */
    double arena;   /* peak bytes handed out by the scratch arena: preprocessing, then the tower */
    double other;   /* outside the arena: attention rows per thread, resize scratch, --viz copies, slack */
    double total;   /* the sum */
    int64_t tokens; /* patches entering the tower (Qwen-VL: per image) */
} vt_mem_estimate;

/* One decoded input: an image (frames 1) or a video's first frame and its frame count. */
typedef struct vt_mem_input {
    int w, h, frames;
    int video; /* 1 for a video (its size comes from the video processor's bounds in fast mode) */
} vt_mem_input;

/* Zeroes e, then e->weights from vt_config_weights (the tensors the loader will bind). */
int vt_mem_weights(vt_mem_estimate *e, const vt_model_config *cfg, vt_status *st);

/* Qwen2-VL / Qwen2.5-VL (qwen25 1): preprocessing with po of every input, then the tower of c (c NULL:
 * preprocessing only, `vlmtrace preprocess`). Inputs smart_resize refuses count nothing: the preprocessing reports them. */
void vt_mem_qwen2(vt_mem_estimate *e, const vt_vision_config *c, int qwen25, const vt_processor_opts *po,
                  const vt_mem_input *in, int n, int literal, int viz);
/* Qwen3-VL: what its tower adds to vt_mem_qwen2's estimate (call after it; e->tokens is N): the DeepStack
 * outputs, the interpolated position table, the DeepStack mergers. */
void vt_mem_qwen3_extra(vt_mem_estimate *e, const vt_qwen3vl_config *c);
/* Qwen-VL: the decoded images, then n_images stacked at image_size x image_size. */
void vt_mem_qwenvl(vt_mem_estimate *e, const vt_qwenvl_config *c, const vt_mem_input *in, int n_images);
/* Kimi-VL: KimiVLImageProcessor with pre, MoonViT and the projector. */
void vt_mem_kimivl(vt_mem_estimate *e, const vt_kimivl_config *c, const vt_preproc_config *pre,
                   const vt_mem_input *in, int n, int literal, int viz);

/* The limit in bytes and where it comes from ("VLMTRACE_MAX_MEMORY", "3/4 of physical RAM", ...);
 * VT_EINPUT when VLMTRACE_MAX_MEMORY is not a byte count. */
int vt_mem_limit(double *bytes, char *source, size_t cap, vt_status *st);

/* VT_EINPUT when e->total is over the limit: one line with the total, its parts and the limit; `hint`
 * says what to change (e.g. "lower --max-pixels"). When the weights alone are over it, the message names
 * model_dir's config.json instead (model_dir may be NULL: no weights). */
int vt_mem_check(const vt_mem_estimate *e, const char *model_dir, const char *hint, vt_status *st);

/* VLMTRACE_MAX_ARENA_BYTES as an arena limit (vt_arena_init), 0 when unset: the failure-injection hook
 * that makes the scratch arena refuse an allocation, which must end the run with exit 3, not a crash. */
size_t vt_mem_arena_limit(void);

/* "1.5 GiB", "320.0 MiB", ... into buf. */
const char *vt_mem_human(char *buf, size_t cap, double bytes);

#endif
