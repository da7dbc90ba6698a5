/*
 * tracer.h -- the tap that writes a trace directory (docs/trace-spec.md).
 *
 *     vt_tracer tr;
 *     VT_TRY(vt_tracer_open(&tr, "out/", "qwen2_vl", only_globs, n_only, st));  // mkdir -p, drops an old manifest
 *     vt_tap tap = vt_tracer_tap(&tr);
 *     rc = vt_qwen2vl_forward(..., &tap, st);                 // each emit writes <name>.npy
 *     if (rc == 0) rc = vt_tracer_finish(&tr, st);         // manifest.json, last and atomically
 *     vt_tracer_close(&tr);                                // frees; never writes a manifest itself
 *
 * A run that fails before vt_tracer_finish leaves .npy files but no manifest.json, and readers (show,
 * diff) refuse a directory without one, so a half-written trace never looks complete.
 */
#ifndef VT_TRACER_H
#define VT_TRACER_H

#include "format/manifest.h"
#include "core/tap.h"

typedef struct vt_tracer {
    char dir[4096];
    vt_manifest m;       /* grows as tensors are written */
    int verbose_progress;/* print per-block progress to stderr (set by the CLI when stderr is a tty) */
    char **passed;       /* with --only: the names offered and not kept, for vt_tracer_only_nearest */
    int n_passed, cap_passed;
} vt_tracer;

int vt_tracer_open(vt_tracer *tr, const char *dir, const char *model, char *const *only, int n_only,
                   vt_status *st);
vt_tap vt_tracer_tap(vt_tracer *tr);
/* Record a picture (a file the caller wrote into the directory) in the manifest's "pictures". */
int vt_tracer_add_picture(vt_tracer *tr, const char *file, vt_status *st);
/* Label the trace with the injected bug (bug zoo). */
int vt_tracer_set_inject(vt_tracer *tr, const char *bug, vt_status *st);
/* Record where the processor's options came from (manifest key "preprocessor_config"). */
int vt_tracer_set_preprocessor(vt_tracer *tr, const char *note, vt_status *st);
int vt_tracer_finish(vt_tracer *tr, vt_status *st);
void vt_tracer_close(vt_tracer *tr);

/* The data bytes of the tensors written so far (the sum of their numel * dtype size). */
int64_t vt_tracer_bytes(const vt_tracer *tr);
/* --only glob k: how many written tensors it kept; when none, *near receives up to three names the run
 * offered that come nearest (the longest common prefix with the glob's literal start), comma-separated. */
int vt_tracer_only_matches(const vt_tracer *tr, int k, char *near, size_t n);

/* Trace names become file names: letters, digits and . _ - only (VT_EINPUT otherwise). */
int vt_check_tensor_name(const char *name, vt_status *st);

#endif
