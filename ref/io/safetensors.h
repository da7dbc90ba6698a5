/*
 * safetensors.h -- checkpoints as the hubs publish them: one model.safetensors, or shards listed in
 * model.safetensors.index.json. Files are memory-mapped; only the vision side is ever read.
 *
 *     vt_checkpoint ck;
 *     VT_TRY(vt_checkpoint_open(&ck, "path/to/model_dir", st));     // or a single .safetensors file
 *     const vt_st_tensor *t = vt_checkpoint_find(&ck, "visual.patch_embed.proj.weight");
 *     VT_TRY(vt_checkpoint_read_f32(&ck, "visual.merger.ln_q.weight", VT_DIMS(1280), dst, st));
 *     vt_checkpoint_close(&ck);
 *
 * Names are canonical trace-side names (TRACE_SPEC rule 5); a checkpoint may store them under any of the
 * published prefixes (`visual.` / `model.visual.` for Qwen2-VL and Qwen2.5-VL, `transformer.visual.` for
 * Qwen-VL, `vision_tower.` and `multi_modal_projector.` for Kimi-VL, with or without a leading
 * `model.`); lookup tries them. The Qwen2 language model's tensors are kept too, asked for by their hub
 * names (`model.embed_tokens.weight`, `model.layers.{i}...`, `model.norm.weight`, `lm_head.weight`), which
 * also find `model.language_model.*` (transformers >= 4.52). Dtypes F32, BF16 and F16 are converted to
 * float32 on read; the binder (vt_wbind_mat) keeps BF16 matrices as BF16 unless widen_bf16 is set.
 *
 * Every header is validated before it is trusted: its length (within the file, at most 100 MB),
 * well-formed JSON, known dtypes, data_offsets in bounds, ordered, non-overlapping and spanning exactly
 * product(shape) x dtype size, no duplicate names (`__metadata__` allowed). Errors name the file and the
 * tensor.
 */
#ifndef VT_SAFETENSORS_H
#define VT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/gemm.h"
#include "core/tensor.h"

typedef enum vt_st_dtype { VT_ST_F32, VT_ST_BF16, VT_ST_F16 } vt_st_dtype;

typedef struct vt_st_tensor {
    char *name;             /* the key as stored in the file */
    const char *canon;      /* the canonical name: name without a leading "model." (points into name) */
    vt_st_dtype dtype;
    int ndim;
    int64_t shape[VT_MAX_DIMS];
    const uint8_t *data;    /* inside the mapping */
    size_t nbytes;
    int shard;              /* index into files[] */
    int lm;                 /* 1 for a language-model tensor (vt_st_is_lm_key), 0 for the vision side */
} vt_st_tensor;

typedef struct vt_st_file {
    char *path;
    void *map;
    size_t size;
} vt_st_file;

typedef struct vt_checkpoint {
    char *path;             /* what vt_checkpoint_open was given (for messages) */
    vt_st_file *files;
    int n_files;
    vt_st_tensor *t;        /* vision-side and language-model tensors, sorted by canon */
    int n;
    int n_lm;               /* how many of them are the language model's (0: a vision-only checkpoint) */
    int widen_bf16;         /* set after opening: 1 widens BF16 matrices to float32 at load (vt_wbind_mat),
                               0 (the default) keeps them BF16 in memory, widened inside the kernel */
} vt_checkpoint;

/* The safetensors dtype name ("F32", "BF16", "F16"). */
const char *vt_st_dtype_name(vt_st_dtype dt);
/* Bytes per element (4 or 2). */
size_t vt_st_dtype_size(vt_st_dtype dt);
/* Is this stored key on the vision side? If so, *canon (may be NULL) gets the canonical name inside key. */
int vt_st_is_vision_key(const char *key, const char **canon);

/* Is this stored key the Qwen2 language model's (model.embed_tokens., model.layers., model.norm., lm_head.,
 * model.language_model.)? If so, *canon (may be NULL) gets its canonical name inside key. */
int vt_st_is_lm_key(const char *key, const char **canon);

/* dir_or_file: a directory holding model.safetensors.index.json or model.safetensors, or one file. */
int vt_checkpoint_open(vt_checkpoint *ck, const char *dir_or_file, vt_status *st);
void vt_checkpoint_close(vt_checkpoint *ck);

/* Parse one in-memory safetensors file (header + data); used by open and by the fuzzer. Tensors whose
 * names are not on the vision side are validated but not kept. The kept tensors point into buf, which
 * must outlive ck; label names the file in messages. Call vt_checkpoint_close(ck) afterwards even on
 * failure (start from a zeroed ck). */
int vt_safetensors_parse(vt_checkpoint *ck, const uint8_t *buf, size_t len, int shard, const char *label,
                         vt_status *st);

/* Find by canonical name, trying the published prefixes; NULL if absent. */
const vt_st_tensor *vt_checkpoint_find(const vt_checkpoint *ck, const char *name);

/* The tensor `name` (canonical), which must exist with exactly this shape: VT_EINPUT naming the key and
 * both shapes otherwise ("weight not found: <key>" when absent). */
int vt_checkpoint_expect(const vt_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                         const vt_st_tensor **out, vt_status *st);

/* Copy a tensor into dst as float32, checking its shape against the expected one (from config.json).
 * A missing key, or a different shape, is VT_EINPUT naming the key and both shapes. */
int vt_checkpoint_read_f32(const vt_checkpoint *ck, const char *name, int ndim, const int64_t *shape, float *dst,
                           vt_status *st);

/*
 * Weight binding in two passes, so a model's weights live in one buffer with one pointer per tensor:
 *
 *     static int bind(vt_qwen2vl_weights *w, vt_wbind *b, const qwen2vl_config *c, vt_status *st) {
 *         w->patch_embed_w = vt_wbind_f32(b, st, VT_DIMS(C, 1176), "visual.patch_embed.proj.weight");
 *         ...  (every call returns NULL and sets st on error; check vt_wbind_ok(b) at the end) }
 *     vt_wbind b; vt_wbind_init(&b, &ck);      // pass 1 (counting): pointers are NULL
 *     bind(&w, &b, &c, st);
 *     VT_TRY(vt_wbind_alloc(&b, st));           // one buffer of exactly the counted size
 *     bind(&w, &b, &c, st);                     // pass 2: pointers into the buffer, data loaded
 *     ... w.buffer = vt_wbind_take(&b);         // the model owns the buffer (free() it)
 */
typedef struct vt_wbind {
    const vt_checkpoint *ck;
    float *buf;
    size_t used, cap; /* in floats */
    int pass;         /* 1 counting, 2 loading */
    int err;          /* first error code seen */
} vt_wbind;

void vt_wbind_init(vt_wbind *b, const vt_checkpoint *ck);
/* 1 while no call has failed. */
int vt_wbind_ok(const vt_wbind *b);
/* name is a printf format (block index, etc.). Pass 1 checks presence and shape; pass 2 loads. */
float *vt_wbind_f32(vt_wbind *b, vt_status *st, int ndim, const int64_t *shape, const char *fmt, ...)
    VT_PRINTF(5, 6);
/* A matrix for vt_linear_mat / vt_gemm_abt_mat: a BF16 tensor is kept BF16 (copied as stored, half the
 * memory of float32) unless the checkpoint's widen_bf16 is set; F32 and F16 tensors become float32. */
vt_mat vt_wbind_mat(vt_wbind *b, vt_status *st, int ndim, const int64_t *shape, const char *fmt, ...) VT_PRINTF(5, 6);
/* Ends pass 1: returns the first error of pass 1 if there was one, else allocates the buffer. */
int vt_wbind_alloc(vt_wbind *b, vt_status *st);
/* The buffer (64-byte aligned; each tensor starts on a 64-byte boundary); the caller free()s it. */
float *vt_wbind_take(vt_wbind *b);
void vt_wbind_free(vt_wbind *b);

/* bf16 / f16 -> float32 (exact widening). */
float vt_bf16_to_f32(uint16_t h);
float vt_f16_to_f32(uint16_t h);

#endif
