/*
 * locate_impl.h -- what locate.c and locate_families.c share (internal; locate.h is the API).
 *
 * Legend: N patch rows of all inputs (images first, then videos, as the towers concatenate them),
 * m spatial merge size (2), U = m*m patches per merged token, M = N / U merged tokens, (t, h, w) a grid
 * in patches, H heads, D head_dim.
 */
#ifndef VT_LOCATE_IMPL_H
#define VT_LOCATE_IMPL_H

#include "model/model.h"
#include "diff/locate.h"

/* More inputs than this in one trace: the rest are not located (a malformed grid tensor stays cheap). */
#define LOC_MAX_INPUTS 4096

typedef enum { FAM_UNKNOWN, FAM_QWEN2, FAM_QWEN25, FAM_KIMI, FAM_QWENVL, FAM_ROPE } loc_family;

typedef struct loc_input {
    char name[24];   /* "image.0", "video.1" */
    int64_t t, h, w; /* grid in patches (t = 1 for Kimi-VL) */
    int64_t row0;    /* first of its t*h*w patch rows */
    int64_t mrow0;   /* first of its t*h*w/U merged tokens */
} loc_input;

struct vt_locator {
    loc_family fam;
    loc_input *in;
    int n_in, n_images;
    int64_t N;
    int merge;
    int64_t *window_index, n_wi;
    int64_t *cu, n_cu;   /* cu_seqlens, widened */
    const char *cu_name;
    int64_t *cuw, n_cuw; /* Qwen2.5-VL cu_window_seqlens */
    int heads, head_dim;
    int fullatt[VT_QWEN25VL_MAX_FULLATT], n_fullatt, have_fullatt;
    int qvl_g, qvl_qg, qvl_pool_hd; /* Qwen-VL: patch grid side, query grid side, resampler head width */
    int64_t *ids, ids_B, ids_L;     /* M-RoPE traces: input_ids [B, L] */
    int64_t tok_image, tok_video, tok_vstart, tok_vend; /* their special ids (config.json), -1 unknown */
    int mrope_section[3], have_section;                 /* config.json's text side */
    int interleaved;                                    /* Qwen3-VL: the interleaved M-RoPE layout */
    int32_t *tok_input;  /* M-RoPE traces: per token [B * L], the input its vision pad belongs to (-1 none) */
    int64_t *tok_local;  /* ... and which merged token of that input it is */
    int *win_of_merged;  /* Qwen2.5-VL: the window of each merged token (original order), -1 unknown */
    int lm_heads, lm_kv_heads, lm_head_dim; /* generate traces: the decoder's (from its q_rope / k_rope), 0 unknown */
    char summary[256];
};


enum { ROWS_NONE, ROWS_ALL, ROWS_WINDOW, MERGED_ALL, MERGED_WINDOW };
enum { ATT_NONE, ATT_QKV_GLOBAL, ATT_QKV_PER_HEAD, ATT_HEAD_AXIS, ATT_HEAD_COLS };

/* ---- the locator's building blocks (locate.c) ---- */

/* An integer tensor of the manifest as int64 values (malloc'd; *vals NULL when absent); *cols its last axis. */
int loc_load_ints(const vt_manifest *m, const char *name, int64_t **vals, int64_t *n, int64_t *cols, vt_status *st);
/* One more input of grid (t, h, w) patches after the others; a grid that cannot be real is skipped. */
int loc_add_input(vt_locator *l, const char *kind, int k, int64_t t, int64_t h, int64_t w, vt_status *st);
/* "patch (t 0, h 3, w 5)", "patches (t 0, h 2-3, w 4-5)" for a merged token */
void loc_patch_text(const vt_location *o, char *b, size_t n);

/* ---- rows -> patches (locate.c) ---- */

/* The input holding patch row r (or merged token r when merged), -1 if none. */
int loc_input_of(const vt_locator *l, int64_t r, int merged);
/* Local row j of input i -> its patch; merge_order: Qwen2's (t, h/m, w/m, m, m), else row-major. */
void loc_local_patch(const vt_locator *l, int i, int64_t j, int merge_order, vt_location *o);
/* Merged token u (original order) of all inputs; sub >= 0 names one patch of its m x m block. */
void loc_merged_patch(const vt_locator *l, int64_t u, int64_t sub, vt_location *o);

/* ---- tokens: M-RoPE and language-model traces (locate_lm.c) ---- */

/* Token `tok` of batch row b of an M-RoPE / language-model trace: seq, pos, token_kind, and for an image or
 * video pad its merged token on that input's grid (from input_ids, config.json's token ids, the grids). */
void loc_token(const vt_locator *l, int64_t b, int64_t tok, vt_location *o);
/* A generate trace (the tower's tensors and the language model's): input_ids and the decoder's heads. */
int loc_lm_build(vt_locator *l, const vt_manifest *m, vt_status *st);
/* Each image / video pad of input_ids -> its input and merged token (M-RoPE traces add the inputs from the
 * grids or position ids; generate traces find them among the tower's inputs). */
int loc_token_spans(vt_locator *l, const vt_manifest *m, vt_status *st);
/* Language-model and generate tensors (the names in locate_lm.c): 1 when `name` is one (o filled, and
 * o->text when `text`), 0 otherwise. */
int loc_lm(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int text);
/* "channel 3 = frequency 3, which mrope_section [2, 3, 3] gives to axis h" into buf (half = frequencies);
 * the characters written, as snprintf counts them. */
int loc_channel_text(const vt_locator *l, int64_t ch, int64_t half, char *buf, size_t n);
/* The axis (0 t, 1 h, 2 w) mrope_section gives rotary channel ch, -1 unknown. */
int loc_channel_axis(const vt_locator *l, int64_t ch, int64_t half);

/* ---- per family: the element's row, patch and attention kind (locate_families.c) ---- */

void loc_qwen2(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int *att);
void loc_kimi(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int *att);
void loc_qwenvl(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o,
                int *att);
/* M-RoPE traces: fills o->text itself (when `text`). */
void loc_rope(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int text);

#endif
