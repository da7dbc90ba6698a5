/*
 * manifest.h -- manifest.json, the table of contents of a trace directory (docs/trace-spec.md).
 *
 *     {"model": "qwen2_vl", "producer": "vlmtrace 0.1.0", "only": [...], "pictures": [...], "inject": "...",
 *      "tensors": [{"name": ..., "file": ..., "dtype": ..., "shape": [...], "note": ...}, ...]}
 *
 * A trace directory is complete only when its manifest.json exists; the tracer writes it last, through
 * a temporary file and a rename. Readers ignore keys they do not know (the golden manifests have a few).
 * Every `file` must be a plain relative path inside the directory (no "..", no leading '/').
 *
 *     vt_manifest m;
 *     VT_TRY(vt_manifest_read(&m, "notebooks-data/reference/qwen2vl-image", st));
 *     const vt_manifest_entry *e = vt_manifest_find(&m, "visual.patch_embed");
 *     vt_tensor t; void *owned;
 *     VT_TRY(vt_manifest_load(&m, e, &t, &owned, st));   ...   free(owned);
 *     vt_manifest_free(&m);
 */
#ifndef VT_MANIFEST_H
#define VT_MANIFEST_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct vt_manifest_entry {
    char *name;
    char *file;
    vt_dtype dtype;
    int ndim;
    int64_t shape[VT_MAX_DIMS];
    char *note;
} vt_manifest_entry;

typedef struct vt_manifest {
    char *dir;         /* the directory it was read from (NULL when built in memory) */
    char *model;       /* model_type, or "preprocess" / "rope"; never compared by diff */
    char *producer;    /* who wrote it: "vlmtrace <version>" for ours (VT_PRODUCER), "hf_trace.py" for the
                          PyTorch side; NULL when absent (the golden traces), which counts as another producer */
    char *preprocessor;/* where the processor's options came from: a preprocessor_config.json, or "the published
                          defaults (...)" (preprocess and run of Qwen2-VL / Qwen2.5-VL); NULL when not said */
    char *inject;      /* the bug switched on by --inject, NULL for a clean run */
    char **only;       /* --only globs recorded by the run that wrote it */
    int n_only;
    char **pictures;   /* PNG files written by --viz */
    int n_pictures;
    vt_manifest_entry *t;
    int n, cap;
} vt_manifest;

/* The model a trace's "model" label names, as config.json's model_type ("qwen2_vl", "qwen2_5_vl", "qwen",
 * "kimi_vl", ...): the golden traces' own labels are mapped ("qwen-vl-visual" -> "qwen", "kimi-vl-vision"
 * -> "kimi_vl"); NULL for a label that names no model ("preprocess", "rope", none), which diff never
 * warns about. */
const char *vt_manifest_model_type(const char *label);

/* Did vlmtrace write this trace? (its producer begins with "vlmtrace "; guard.h) */
int vt_manifest_is_ours(const vt_manifest *m);

int vt_manifest_read(vt_manifest *m, const char *dir, vt_status *st);
/* Parse JSON text; messages do not name a file (for vt_manifest_read and the fuzzer). */
int vt_manifest_parse(vt_manifest *m, const char *json, size_t len, vt_status *st);
/* Serialise to a malloc'd JSON string (NULL on allocation failure). */
char *vt_manifest_to_json(const vt_manifest *m);
/* Write dir/manifest.json atomically. */
int vt_manifest_write(const vt_manifest *m, const char *dir, vt_status *st);
void vt_manifest_free(vt_manifest *m);

const vt_manifest_entry *vt_manifest_find(const vt_manifest *m, const char *name);
/* Append an entry (copies the strings). */
int vt_manifest_add(vt_manifest *m, const char *name, const char *file, vt_dtype dt, int ndim,
                    const int64_t *shape, const char *note, vt_status *st);
/* Is name kept by the recorded --only globs? (1 when there are none). */
int vt_manifest_only_keeps(const vt_manifest *m, const char *name);
/* Load an entry's .npy and check it has the manifest's dtype and shape. */
int vt_manifest_load(const vt_manifest *m, const vt_manifest_entry *e, vt_tensor *t, void **owned,
                     vt_status *st);

/* Check an entry's file exists and its .npy header agrees with the manifest (dtype, shape, size),
 * without reading the data: lets show/diff refuse a broken trace before printing anything. */
int vt_manifest_check(const vt_manifest *m, const vt_manifest_entry *e, vt_status *st);

/* Shell-style match over the whole name, `*` also matching dots (TRACE_SPEC rule 8). */
int vt_glob_match(const char *glob, const char *name);
/* Any of the globs (1 when n == 0). */
int vt_glob_any(char *const *globs, int n, const char *name);

#endif
