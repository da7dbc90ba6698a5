/*
 * preproc_config.h -- preprocessor_config.json into one typed, validated struct, whatever the family.
 *
 *     vt_preproc_config p;
 *     vt_qwen2vl_preproc_defaults(&p, &cfg);           // the family fills in its published defaults ...
 *     rc = vt_preproc_parse(&p, json, len, st);        // ... and the file overrides what it sets
 *
 * Which fields are read depends on p->kind, which the family's defaults set: the smart_resize processors
 * (Qwen2-VL, Qwen2.5-VL) read min/max_pixels (or size.shortest_edge / longest_edge), merge_size and
 * temporal_patch_size; Kimi-VL's reads in_token_limit, pad_input and merge_kernel_size; all read
 * patch_size, image_mean and image_std and refuse a file that turns off a step the processors always
 * take (do_resize, do_rescale, do_normalize, do_convert_rgb), another rescale_factor or resample filter.
 *
 * May include: ref/core/ (and ref/io/).
 */
#ifndef VT_PREPROC_CONFIG_H
#define VT_PREPROC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum vt_preproc_kind {
    VT_PREPROC_SMART_RESIZE = 0, /* Qwen2VLImageProcessor (Qwen2-VL, Qwen2.5-VL) */
    VT_PREPROC_KIMI = 1,         /* KimiVLImageProcessor */
    VT_PREPROC_FIXED = 2,        /* Qwen-VL: a fixed square resize, nothing configurable but mean/std */
} vt_preproc_kind;

/* preprocessor_config.json, with the published defaults filled in when it is absent. */
typedef struct vt_preproc_config {
    vt_preproc_kind kind;
    int present;             /* 1 if the file was found */
    char image_processor_type[64]; /* as the file names it ("Qwen2VLImageProcessor"), "" when absent */
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

/* The base every family starts from: kind, CLIP mean/std, patch 14, merge 2, temporal 1, nothing else. */
void vt_preproc_init(vt_preproc_config *p, vt_preproc_kind kind);

/* Parse in-memory JSON over the defaults already in *p (the kind decides which fields are read); sets
 * p->present. Messages name the field, not the file. */
int vt_preproc_parse(vt_preproc_config *p, const char *json, size_t len, vt_status *st);

/* The sizes must be the model's (a processor for another patch size would cut other patches). */
int vt_preproc_check_sizes(const vt_preproc_config *p, int patch, int merge, int temporal, vt_status *st);

#endif
