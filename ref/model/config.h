/*
 * config.h -- config.json (and preprocessor_config.json) into typed, validated per-family configs.
 *
 *     vt_model_config cfg;
 *     VT_TRY(vt_config_load(&cfg, "path/to/model_dir", st));   // config.json + preprocessor_config.json if present
 *     switch (cfg.family) { case VT_FAMILY_QWEN2VL: ... cfg.qwen2.depth ... }
 *
 * model_type qwen2_vl / qwen2_5_vl read `vision_config` (and the text-side ids M-RoPE needs), Qwen-VL
 * (model_type "qwen") reads the `visual` dict, kimi_vl reads `vision_config` and `text_config`.
 * Validation: positive dims, heads dividing the width, patch / merge / window sizes consistent, block
 * indices in range, sizes below the limits that keep a forward allocatable (each failure names the file
 * and the field). Fields keep the checkpoint's names; comments give the published full-size values.
 */
#ifndef VT_CONFIG_H
#define VT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

typedef enum vt_family {
    VT_FAMILY_QWEN2VL,  /* model_type qwen2_vl */
    VT_FAMILY_QWEN25VL, /* model_type qwen2_5_vl */
    VT_FAMILY_QWENVL,   /* model_type qwen (Qwen-VL v1, config has a "visual" dict) */
    VT_FAMILY_KIMIVL,   /* model_type kimi_vl */
} vt_family;

#define VT_MAX_FULLATT 64

/* Qwen2-VL and Qwen2.5-VL vision_config (one struct; `qwen25` says which). */
typedef struct vt_qwen2_vision_config {
    int qwen25;             /* 0: Qwen2-VL, 1: Qwen2.5-VL */
    int depth;              /* 32 */
    int embed_dim;          /* 1280: block width (Qwen2-VL embed_dim; Qwen2.5-VL vision_config.hidden_size) */
    int num_heads;          /* 16 */
    int mlp_hidden;         /* Qwen2-VL embed_dim * mlp_ratio = 5120; Qwen2.5-VL intermediate_size = 3420 */
    int out_hidden;         /* merger output: Qwen2-VL vision_config.hidden_size 1536 (2B) / 3584 (7B);
                               Qwen2.5-VL out_hidden_size 3584 (7B) */
    int in_channels;        /* 3 */
    int patch_size;         /* 14 */
    int temporal_patch_size;/* 2 */
    int spatial_merge_size; /* 2 */
    int window_size;        /* Qwen2.5-VL: 112 (pixels); 0 for Qwen2-VL */
    int fullatt_block_indexes[VT_MAX_FULLATT]; /* Qwen2.5-VL: [7, 15, 23, 31] */
    int n_fullatt;
    double tokens_per_second;  /* Qwen2.5-VL: 2 on the hub (class default 4); Qwen2-VL: 0 */
    char hidden_act[32];    /* "quick_gelu" (Qwen2-VL) / "silu" (Qwen2.5-VL) */
} vt_qwen2_vision_config;

/* The text-side fields get_rope_index and the multimodal rotary need (Qwen2-VL / Qwen2.5-VL). */
typedef struct vt_qwen2_text_config {
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
} vt_qwen2_text_config;

/* Qwen-VL (v1) `visual` dict: VisionTransformer(**visual) of visual.py. */
typedef struct vt_qwenvl_config {
    int image_size;  /* 448 */
    int patch_size;  /* 14 */
    int width;       /* 1664 */
    int layers;      /* 48 */
    int heads;       /* 16 */
    double mlp_ratio;/* 4.9231 */
    int mlp_width;   /* int(width * mlp_ratio) = 8192 */
    int n_queries;   /* 256 (a VisionTransformer kwarg, absent from the released config) */
    int output_dim;  /* 4096 */
} vt_qwenvl_config;

/* Kimi-VL MoonViT vision_config plus the projector's text width. */
typedef struct vt_kimivl_config {
    int patch_size;          /* 14 */
    int num_attention_heads; /* 16 */
    int num_hidden_layers;   /* 27 */
    int hidden_size;         /* 1152 */
    int intermediate_size;   /* 4304 */
    int init_pos_emb_height; /* 64 */
    int init_pos_emb_width;  /* 64 */
    int merge_kernel_size[2];/* [2, 2] */
    int text_hidden_size;    /* text_config.hidden_size: 2048 */
} vt_kimivl_config;

/* preprocessor_config.json, with the published defaults filled in when it is absent. */
typedef struct vt_preproc_config {
    int present;             /* 1 if the file was found */
    int64_t min_pixels;      /* Qwen2: 3136 */
    int64_t max_pixels;      /* Qwen2: 12845056 (hub files; the 4.51.3 class default is 1003520) */
    int patch_size;          /* 14 */
    int merge_size;          /* 2 */
    int temporal_patch_size; /* 2 */
    float image_mean[3];     /* CLIP: 0.48145466, 0.4578275, 0.40821073; Kimi: 0.5 */
    float image_std[3];      /* CLIP: 0.26862954, 0.26130258, 0.27577711; Kimi: 0.5 */
    int64_t in_token_limit;  /* Kimi: 4096 */
    int pad_input;           /* Kimi: true */
} vt_preproc_config;

typedef struct vt_model_config {
    vt_family family;
    char model_type[32];
    vt_qwen2_vision_config qwen2;   /* QWEN2VL, QWEN25VL */
    vt_qwen2_text_config text;      /* QWEN2VL, QWEN25VL */
    vt_qwenvl_config qwenvl;        /* QWENVL */
    vt_kimivl_config kimi;          /* KIMIVL */
    vt_preproc_config pre;
} vt_model_config;

/* config.json (required) and preprocessor_config.json (optional) from a model directory. */
int vt_config_load(vt_model_config *c, const char *model_dir, vt_status *st);
/* config.json from a file path only (vlmtrace rope --config FILE). */
int vt_config_load_file(vt_model_config *c, const char *config_path, vt_status *st);
/* Parse in-memory JSON (messages do not name a file); used by the loaders and the fuzzer. */
int vt_config_parse(vt_model_config *c, const char *json, size_t len, vt_status *st);
int vt_preproc_parse(vt_preproc_config *p, vt_family family, const char *json, size_t len, vt_status *st);
/* The published defaults for a family (what is used when preprocessor_config.json is absent). */
void vt_preproc_defaults(vt_preproc_config *p, vt_family family);

/* "Qwen2-VL", "Qwen2.5-VL", "Qwen-VL", "Kimi-VL". */
const char *vt_family_name(vt_family family);

/* One tensor the family's reference module holds (canonical checkpoint key) and the shape config.json
 * implies for it. */
typedef struct vt_weight_spec {
    char name[112];
    int ndim;
    int64_t shape[VT_MAX_DIMS];
} vt_weight_spec;

/* Every vision-side tensor of the family's reference model for this config, in module order
 * (config_weights.c). *out is malloc'd (free() it); VT_ERESOURCE if that fails. `vlmtrace inspect` checks
 * a checkpoint against this list; the model loaders bind the same tensors. */
int vt_config_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st);

#endif
