/*
 * manifest.h -- manifest.json, the table of contents of a trace directory (docs/trace-spec.md).
 *
 *     {"model": "qwen2_vl", "only": [...], "pictures": [...], "inject": "...",
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
    char *inject;      /* the bug switched on by --inject, NULL for a clean run */
    char **only;       /* --only globs recorded by the run that wrote it */
    int n_only;
    char **pictures;   /* PNG files written by --viz */
    int n_pictures;
    vt_manifest_entry *t;
    int n, cap;
} vt_manifest;

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
