/*
 * guard.h -- never overwrite what the user did not ask to overwrite: the one check every command that
 * writes files makes before it writes anything (run, preprocess, rope, synth, and the commands to come:
 * generate, tokenize --out, diff --report DIR, ...).
 *
 *     VT_TRY(vt_output_guard(trace_dir, VT_OUT_DIR, "--trace", force, st));   // a trace or report directory
 *     VT_TRY(vt_output_guard(out_path, VT_OUT_FILE, "--out", force, st));      // one output file
 *     VT_TRY(vt_output_guard(out_dir, VT_OUT_CHECKPOINT, "--out", force, st)); // synth's checkpoint
 *
 * Refused (VT_EINPUT, one line saying what is there and that --force overrides), unless force:
 *   VT_OUT_DIR         a directory holding a checkpoint or config (config.json, preprocessor_config.json,
 *                      *.safetensors, model.safetensors.index.json) -- the golden directories double as
 *                      model directories -- or a trace whose manifest.json names another producer
 *                      (hf_trace.py, or no "producer" at all, as the golden traces); our own earlier trace
 *                      (producer "vlmtrace ...") may be replaced
 *   VT_OUT_FILE        an existing file that is a checkpoint or config (*.safetensors, config.json, ...), or any
 *                      file, new or not, in a directory VT_OUT_DIR would refuse (a golden trace, a model)
 *   VT_OUT_CHECKPOINT  a directory holding a trace (manifest.json), or a checkpoint or config that synth did
 *                      not write: its config.json lacks the "vlmtrace_synth" key synth adds, and not every
 *                      *.safetensors there says "generator": "vlmtrace synth" in its header (the mark of
 *                      an older synth, or of one interrupted before config.json was written back)
 * A path of the wrong kind (a file given as a directory) passes: the writer then refuses it in its own words.
 * A directory that does not exist yet passes. Nothing is read beyond directory listings and a manifest's or
 * config's producer key.
 */
#ifndef VT_GUARD_H
#define VT_GUARD_H

#include "core/status.h"

typedef enum vt_out_kind { VT_OUT_DIR, VT_OUT_FILE, VT_OUT_CHECKPOINT } vt_out_kind;

int vt_output_guard(const char *path, vt_out_kind kind, const char *flag, int force, vt_status *st);

/* The key synth adds to a config.json it wrote (value: VT_PRODUCER). */
#define VT_SYNTH_MARK "vlmtrace_synth"

#endif
