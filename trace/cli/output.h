/*
 * output.h -- what every command that writes files shares: --force, --quiet, --json, the never-overwrite
 * guard (format/guard.h) and the one summary line it ends with.
 *
 *     vt_output out = {0};                         // in the command's flag table: VT_OUTPUT_OPTS(&out)
 *     vt_output_start(&out);                       // the clock of the summary
 *     VT_TRY(vt_output_guard(dir, VT_OUT_DIR, "--trace", out.force, st));   // before anything is written
 *     ...
 *     vt_written w[] = {{"trace", dir, n_tensors, bytes, n_pictures}, {"--out", file, 1, bytes, 0}};
 *     vt_output_done(&out, "run", w, 2);
 *
 * The summary, on success only: one line on stderr,
 *     vlmtrace run: wrote trace build/demo/trace (56 tensors, 1.3 MB, 3 pictures), --out build/demo/visual.npy
 *     (1 tensor, 15.4 KB) in 0.52 s
 * nothing with --quiet; with --json, stdout holds exactly one JSON document and nothing else:
 *     {"command": "run", "written": [{"what": "trace", "path": ..., "tensors": 56, "bytes": ..., "pictures": 3},
 *      ...], "seconds": 0.52}
 * (a command's own text on stdout -- preprocess's per-input lines, rope's table -- is left out with --json).
 * A command with a result of its own (generate's ids and text) puts it in out.json_extra (a cJSON object
 * whose items are moved into the document; vt_output_done frees it) and a few words of it in out.note
 * (the summary then reads "vlmtrace generate: 8 tokens; wrote ...").
 */
#ifndef VT_OUTPUT_H
#define VT_OUTPUT_H

#include <stdint.h>

#include "format/guard.h"
#include "format/tracer.h"

typedef struct vt_output {
    int force;      /* --force: write over a checkpoint, config or another producer's trace */
    int quiet;      /* --quiet: no summary line */
    int json;       /* --json: the summary as one JSON document on stdout, nothing else there */
    double t0;      /* vt_output_start */
    struct cJSON *json_extra; /* NULL, or an object whose items go into the --json document (owned: freed by
                                 vt_output_done, and by vt_output_free on a failed run) */
    char note[96];  /* "" or a few words the summary starts with ("8 tokens") */
} vt_output;

#define VT_OUTPUT_OPTS(o)                                                                                   \
    {"--force", VT_OPT_FLAG, 0, &(o)->force, NULL, 0, 0, NULL},                                           \
        {"--quiet", VT_OPT_FLAG, 0, &(o)->quiet, NULL, 0, 0, NULL},                                       \
        {"--json", VT_OPT_FLAG, 0, &(o)->json, NULL, 0, 0, NULL}

/* One thing a command wrote. */
typedef struct vt_written {
    const char *what;   /* "trace", "--out", "checkpoint", ... */
    const char *path;
    int64_t tensors;
    int64_t bytes;
    int pictures;
} vt_written;

/* The trace a tracer wrote, and a file: as vt_written entries. */
vt_written vt_written_trace(const vt_tracer *tr);
vt_written vt_written_file(const char *what, const char *path);

/* --only globs that kept nothing: one warning line on stderr each, naming the nearest names the run
 * offered; VT_EINPUT (call it before vt_tracer_finish: no manifest is written) when no tensor at all
 * was kept. */
int vt_output_check_only(const char *cmd, const vt_tracer *tr, vt_status *st);

/* A stage on a terminal ("decoding the inputs", "loading the weights", ...): one line on stderr,
 * overwritten by the next and by the per-block progress; nothing when stderr is not a terminal. */
void vt_output_stage(const char *what);   /* NULL: clear the stage line (before a message) */

void vt_output_start(vt_output *o);
double vt_output_seconds(const vt_output *o);
void vt_output_done(vt_output *o, const char *cmd, const vt_written *w, int n);
void vt_output_free(vt_output *o); /* json_extra of a run that did not reach vt_output_done */

#endif
