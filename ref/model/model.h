/*
 * model.h -- any family by its config.json: the layer above the families. It reads config.json's
 * model_type, hands the file to that family's parser, loads preprocessor_config.json over the family's
 * defaults, and lists the family's tensors; the command line (trace/) and the tests start here when they
 * do not know the family in advance.
 *
 *     vt_model_config cfg;
 *     VT_TRY(vt_config_load(&cfg, "path/to/model_dir", st));   // config.json + preprocessor_config.json if present
 *     switch (cfg.family) { case VT_FAMILY_QWEN2VL: ... cfg.qwen2vl.vision.depth ... }
 *
 * Validation happens in the family parsers (ref/<family>/<family>_config.c): positive dims, heads dividing the
 * width, patch / merge / window sizes consistent, block indices in range, sizes below the limits that keep a
 * forward allocatable (each failure names the field; the loaders prefix the file).
 *
 * May include: everything in ref/ (it is the top of ref/); nothing in ref/ includes it except ref/model/.
 */
#ifndef VT_MODEL_H
#define VT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/preproc_config.h"
#include "io/weight_spec.h"
#include "kimivl/kimivl.h"
#include "lm/lm.h"
#include "mrope/mrope.h"
#include "processor/processor.h"
#include "qwen25vl/qwen25vl.h"
#include "qwen2vl/qwen2vl.h"
#include "qwen3vl/qwen3vl.h"
#include "qwenvl/qwenvl.h"
#include "vision/vision.h"

typedef enum vt_family {
    VT_FAMILY_QWEN2VL,  /* model_type qwen2_vl */
    VT_FAMILY_QWEN25VL, /* model_type qwen2_5_vl */
    VT_FAMILY_QWENVL,   /* model_type qwen (Qwen-VL v1, config has a "visual" dict) */
    VT_FAMILY_KIMIVL,   /* model_type kimi_vl */
    VT_FAMILY_QWEN3VL,  /* model_type qwen3_vl */
} vt_family;

typedef struct vt_model_config {
    vt_family family;
    char model_type[32];
    vt_qwen2vl_config qwen2vl;   /* QWEN2VL */
    vt_qwen25vl_config qwen25vl; /* QWEN25VL */
    vt_qwenvl_config qwenvl;     /* QWENVL */
    vt_kimivl_config kimivl;     /* KIMIVL */
    vt_qwen3vl_config qwen3vl;   /* QWEN3VL */
    vt_mrope_config text;        /* QWEN2VL, QWEN25VL, QWEN3VL: the text-side fields M-RoPE needs */
    vt_lm_config lm;             /* QWEN2VL, QWEN25VL: the rest of the language model's (ref/lm/), with
                                    generation_config.json's eos ids when the directory has one */
    vt_preproc_config pre;       /* preprocessor_config.json over the family's published defaults */
} vt_model_config;

/* config.json (required), preprocessor_config.json and generation_config.json (optional) from a model
 * directory. */
int vt_config_load(vt_model_config *c, const char *model_dir, vt_status *st);
/* config.json from a file path only (vlmtrace rope --config FILE). */
int vt_config_load_file(vt_model_config *c, const char *config_path, vt_status *st);
/* Parse in-memory JSON (messages do not name a file); used by the loaders and the fuzzer. */
int vt_config_parse(vt_model_config *c, const char *json, size_t len, vt_status *st);

/* The published processor defaults of c's family (what is used when preprocessor_config.json is absent). */
void vt_model_preproc_defaults(vt_preproc_config *p, const vt_model_config *c);

/* The processor the family's reference hands out when preprocessor_config.json does not name the fast one
 * (processor.h): slow (transformers 4.51.3, PIL) for Qwen2-VL and Qwen2.5-VL, whose goldens and hf_trace.py
 * use it. A family whose Hugging Face processor exists only in the fast version (Qwen3-VL) returns
 * VT_PROCESSOR_FAST here. */
vt_processor_mode vt_family_processor_mode(vt_family family);
/* The default mode for a loaded model: fast when c->pre's image_processor_type ends in "Fast", otherwise
 * the family's. `--processor` overrides it. */
vt_processor_mode vt_model_processor_mode(const vt_model_config *c);

/* "Qwen2-VL", "Qwen2.5-VL", "Qwen-VL", "Kimi-VL", "Qwen3-VL". */
const char *vt_family_name(vt_family family);

/* The Qwen2-style vision_config (vision.h) of a Qwen2-VL, Qwen2.5-VL or Qwen3-VL config; NULL for another
 * family. */
const vt_vision_config *vt_model_vision(const vt_model_config *c);

/* Every tensor of the family's reference model for this config, in module order (the family's
 * *_weight_specs). *out is malloc'd (free() it); VT_ERESOURCE if that fails. `vlmtrace inspect` checks a
 * checkpoint against this list; the model loaders bind the same tensors. */
int vt_config_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st);

/* The language model's tensors for this config (Qwen2-VL, Qwen2.5-VL: vt_lm_weight_specs, hub names), in
 * module order; *n = 0 for a family whose language model vlmtrace does not implement. *out is malloc'd
 * (free() it; NULL when *n is 0). Synth writes them after the vision side; inspect checks them. */
int vt_config_lm_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st);

#endif
