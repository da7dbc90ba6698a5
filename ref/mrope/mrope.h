/*
 * mrope.h -- M-RoPE for Qwen2-VL, Qwen2.5-VL and Qwen3-VL: the (t, h, w) position ids of a token sequence
 * (get_rope_index) and the multimodal rotary that turns them into cos/sin and rotates q and k
 * (Qwen2VLRotaryEmbedding + apply_multimodal_rotary_pos_emb, as transformers 4.51.3 writes them;
 * Qwen3VLTextRotaryEmbedding + apply_interleaved_mrope, transformers 5.0).
 *
 * May include: ref/core/ and ref/io/ (and this folder).
 *
 *     vt_mrope_inputs in = {0};
 *     in.input_ids = &ids;                      // int64 [B, L]
 *     in.image_grid_thw = &grids;               // int64 [n_images, 3] (NULL: none)
 *     vt_arena a; vt_arena_init(&a, 0);
 *     vt_mrope_outputs out;
 *     VT_TRY(vt_mrope_forward(&out, &in, &cfg.text, &tap, &a, st));
 *     ... out.position_ids (int64 [3, B, L]), out.rope_deltas (int64 [B, 1]) live in the arena ...
 *     vt_arena_free(&a);
 *
 * vt_mrope_forward emits, in this order and under these names (TRACE_SPEC rule 4, the rope-index
 * golden manifests): input_ids, attention_mask, image_grid_thw, video_grid_thw, second_per_grid_ts
 * (each only when given), position_ids, rope_deltas (only when computed), and, when q and k are given,
 * mrope.inv_freq, mrope.cos, mrope.sin, mrope.q, mrope.k, mrope.q_embed, mrope.k_embed.
 *
 * The caller owns the inputs; every output is allocated from the arena. Inputs the reference would
 * reject, or that would make it index out of range or produce positions for tokens that are not there
 * (a vision_start token at the end of a row, an image whose token count disagrees with its grid, vision
 * tokens without grids, grids left over), are refused with VT_EINPUT and a one-line message naming the
 * tensor, the row and the position.
 */
#ifndef VT_MROPE_H
#define VT_MROPE_H

#include <stdint.h>

#include "core/arena.h"
#include <cjson/cJSON.h>

#include "core/tap.h"
#include "core/tensor.h"

/* ---- config ---------------------------------------------------------------------------------- */

/* The text-side fields get_rope_index and the multimodal rotary need (Qwen2-VL / Qwen2.5-VL). */
typedef struct vt_mrope_config {
    int64_t image_token_id;        /* 151655 */
    int64_t video_token_id;        /* 151656 */
    int64_t vision_start_token_id; /* 151652 */
    int64_t vision_end_token_id;   /* 151653 */
    int mrope_section[3];          /* [16, 24, 24] (sums to head_dim / 2) */
    double rope_theta;             /* 1000000 */
    int hidden_size;               /* 1536 (2B) */
    int num_attention_heads;       /* 12 (2B) */
    int num_key_value_heads;       /* 2 (2B) */
    int head_dim;                  /* hidden_size / num_attention_heads = 128 */
    /* set by the family's config parser, from its vision_config: */
    int spatial_merge_size;        /* 2: a vision block has t * h * w / merge^2 tokens */
    int absolute_time;             /* 1 (Qwen2.5-VL): temporal ids in absolute time, second_per_grid_ts *
                                      tokens_per_second; 0 (Qwen2-VL): the frame index */
    double tokens_per_second;      /* Qwen2.5-VL: 2 on the hub (class default 4) */
    int frame_blocks;              /* 1 (Qwen3-VL): each temporal patch of a video is its own vision block
                                      with t = 1 (video_grid_thw split by repeat_interleave; the processor
                                      writes a text timestamp before each) */
    int interleaved;               /* 1 (Qwen3-VL): apply_interleaved_mrope (frequency j takes h when
                                      j % 3 == 1 and j < 3*section[1], w when j % 3 == 2 and j < 3*section[2],
                                      t otherwise) instead of the mrope_section chunks; cos/sin [B, L, hd] */
} vt_mrope_config;

/* Read the text-side fields from config.json's root (at the top level in 4.51.3, under text_config in
 * later versions: each field is looked up there first). The vision fields (spatial_merge_size,
 * absolute_time, tokens_per_second) are left for the family's parser to set. */
int vt_mrope_config_parse(vt_mrope_config *t, const cJSON *root, vt_status *st);
/* The four vision token ids (image, video, vision_start, vision_end) are distinct: get_rope_index finds
 * images and videos by them. Both config parsers call it. */
int vt_mrope_check_token_ids(const vt_mrope_config *t, vt_status *st);

/* Qwen3-VL's text side (Qwen3VLConfig / Qwen3VLTextConfig, transformers 4.57 and 5.0): the token ids at the
 * top level, text_config (required) with head_dim (explicit, 128), num_attention_heads,
 * num_key_value_heads and the rope settings under rope_scaling (hub files, 4.57: rope_theta beside it) or
 * rope_parameters (5.0: rope_theta inside): mrope_section (default [24, 20, 20]), rope_type "default".
 * Sets frame_blocks and interleaved; spatial_merge_size is left for the family's parser. */
int vt_mrope_qwen3_config_parse(vt_mrope_config *t, const cJSON *root, vt_status *st);

/* Sequences longer than this are refused before allocating (VT_EINPUT). */
#define VT_MROPE_MAX_LEN (1 << 24)
/* head_dim above this is refused (128 in every published Qwen2-VL / Qwen2.5-VL). */
#define VT_MROPE_MAX_HEAD_DIM 4096

typedef struct vt_mrope_inputs {
    const vt_tensor *input_ids;          /* int64 [B, L] (required) */
    const vt_tensor *attention_mask;     /* int64 [B, L] of 0/1, NULL: all ones */
    const vt_tensor *image_grid_thw;     /* int64 [n_images, 3] in patches, NULL: none */
    const vt_tensor *video_grid_thw;     /* int64 [n_videos, 3] in patches, NULL: none */
    const vt_tensor *second_per_grid_ts; /* float32 [n_videos], Qwen2.5-VL only; NULL: 1.0 per video */
    const vt_tensor *position_ids;       /* int64 [3, B, L]: given instead of computed (rotary only) */
    const vt_tensor *q;                  /* float32 [B, heads, L, head_dim], NULL: no rotary */
    const vt_tensor *k;                  /* float32 [B, kv_heads, L, head_dim] (with q) */
    unsigned bugs;                       /* bug zoo (bugzoo.h): VT_BUG_SEQUENTIAL_POSITIONS (get_rope_index),
                                            VT_BUG_NO_MROPE_SECTIONS (the rotary), VT_BUG_SECTIONED_MROPE
                                            (Qwen3-VL's rotary); 0 = the reference */
} vt_mrope_inputs;

typedef struct vt_mrope_outputs {
    vt_tensor position_ids;   /* int64 [3, B, L] (a copy of the given one when position_ids was given) */
    vt_tensor rope_deltas;    /* int64 [B, 1]; ndim 0 and data NULL when position_ids was given */
    vt_tensor inv_freq;       /* float32 [head_dim / 2]            (rotary only; data NULL otherwise) */
    vt_tensor cos, sin;       /* float32 [B, 1, L, head_dim], after the mrope_section split; Qwen3-VL
                                 (interleaved): [B, L, head_dim] */
    vt_tensor axis;           /* Qwen3-VL: int64 [head_dim / 2], the axis (0 t, 1 h, 2 w) of each frequency */
    vt_tensor freqs_thw;      /* Qwen3-VL: float32 [3, B, L, head_dim / 2] position * inv_freq per axis */
    vt_tensor freqs;          /* Qwen3-VL: float32 [B, L, head_dim / 2] after apply_interleaved_mrope */
    vt_tensor q_embed;        /* float32 like q */
    vt_tensor k_embed;        /* float32 like k */
} vt_mrope_outputs;

/* ---- get_rope_index ---------------------------------------------------------------------------- */

/* Check what get_rope_index will index: shapes, dtypes, a 0/1 mask, every vision block (vision_start,
 * then exactly t*h*w/merge^2 image or video tokens) against its grid row, grids all used, and the
 * Qwen2.5-VL time values in range. */
int vt_mrope_check_inputs(const vt_mrope_inputs *in, const vt_mrope_config *tc, vt_status *st);

/* mirrors get_rope_index (Qwen2-VL when tc->absolute_time == 0, Qwen2.5-VL otherwise).
 * input_ids [B, L], grids -> position_ids [3, B, L] (int64), rope_deltas [B, 1] (int64).
 * Validates through vt_mrope_check_inputs first. */
int vt_mrope_get_rope_index(vt_tensor *position_ids, vt_tensor *rope_deltas, const vt_mrope_inputs *in,
                      const vt_mrope_config *tc, vt_arena *a,
                      vt_status *st);

/* ---- the multimodal rotary ---------------------------------------------------------------------- */

/* mirrors _compute_default_rope_parameters. -> inv_freq [head_dim/2] = 1 / theta^(2i / head_dim), float32. */
void vt_mrope_inv_freq(float *inv_freq, int head_dim, double rope_theta);

/* mirrors Qwen2VLRotaryEmbedding.forward. inv_freq [hd/2], position_ids [3, B, L]
 * -> cos3, sin3 [3, B, L, hd] (freqs = inv_freq * position, emb = cat(freqs, freqs)). */
void vt_mrope_rotary_embedding(float *cos3, float *sin3, const float *inv_freq, const int64_t *position_ids,
                               int64_t B, int64_t L, int head_dim);

/* mirrors the mrope_section split of apply_multimodal_rotary_pos_emb.
 * x3 [3, B, L, hd] -> x [B, 1, L, hd]: channel chunks sized mrope_section * 2 take axis (chunk % 3). */
void vt_mrope_section_split(float *x, const float *x3, const int mrope_section[3], int64_t B, int64_t L,
                            int head_dim);

/* mirrors q * cos + rotate_half(q) * sin of apply_multimodal_rotary_pos_emb.
 * x [B, H, L, hd], cos/sin [B, 1, L, hd] -> y [B, H, L, hd]. */
void vt_mrope_apply(float *y, const float *x, const float *cos, const float *sin, int64_t B, int64_t H,
                    int64_t L, int head_dim);

/* mirrors the split at the top of Qwen3-VL's get_rope_index: repeat_interleave(grid, grid[:, 0]) with t
 * set to 1. video_grid_thw [n, 3] -> frames [sum of t, 3] */
int vt_mrope_split_video_frames(vt_tensor *frames, const vt_tensor *video_grid_thw, vt_arena *a, vt_status *st);

/* mirrors apply_interleaved_mrope's choice of axis per frequency (Qwen3VLTextRotaryEmbedding).
 * -> axis [hd/2]: 1 where j % 3 == 1 and j < 3*section[1], 2 where j % 3 == 2 and j < 3*section[2], else 0.
 * bugs VT_BUG_SECTIONED_MROPE: Qwen2-VL's chunks instead (j < s0 -> t, j < s0+s1 -> h, else w). */
void vt_mrope_interleaved_axis(int64_t *axis, const int mrope_section[3], int head_dim, unsigned bugs);

/* The Qwen3-VL rotary (tc->interleaved): mrope.inv_freq, mrope.axis, mrope.freqs_thw, mrope.freqs,
 * mrope.cos/sin [B, L, hd], mrope.q, mrope.k, mrope.q_embed, mrope.k_embed, from out->position_ids. */
int vt_mrope_interleaved_forward(vt_mrope_outputs *out, const vt_mrope_inputs *in, const vt_mrope_config *tc,
                                 const vt_tap *tap, vt_arena *a, vt_status *st);

/* The whole M-RoPE step: position ids (computed, or the given ones), then the rotary when q and k are
 * given; every named tensor goes to the tap. Outputs are allocated from the arena. */
int vt_mrope_forward(vt_mrope_outputs *out, const vt_mrope_inputs *in, const vt_mrope_config *tc, const vt_tap *tap, vt_arena *a, vt_status *st);

#endif
