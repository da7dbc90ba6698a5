/* cli_diff.c -- `vlmtrace diff OURS REF`: the first tensor where two traces diverge. */
#include <string.h>

#include "cli/cli.h"
#include "diff/diff.h"

static const char diff_usage[] =
    "usage: vlmtrace diff OURS REF [--only GLOB]... [--rtol R] [--atol A] [--all] [--quiet]\n"
    "                              [--summary | --json] [--report DIR [--show NAME]...]\n"
    "\n"
    "Walk REF's manifest in order and compare every tensor with the one of the same name in OURS.\n"
    "Integer and uint8 tensors must match exactly; float32 elements pass when\n"
    "    |ours - ref| <= A * max(1, max|ref|) + R * |ref|      (defaults A = 1e-5, R = 1e-4).\n"
    "Per tensor: shape, max abs and max rel error, cosine, the worst element's coordinates and values.\n"
    "Stops at the first failing tensor (naming the last one that passed) unless --all.\n"
    "A tensor missing from OURS fails, unless OURS was traced with --only globs that exclude it, or this\n"
    "diff's own --only globs do: it is then reported as not traced. Tensors only OURS has are listed.\n"
    "\n"
    "For a failing tensor the report also says where its worst element sits in the model (`where:`),\n"
    "derived from REF's own grids, cu_seqlens / cu_window_seqlens, window_index and q_rope shapes (and\n"
    "REF/config.json when present): the input and patch (t, h, w) of a patch-indexed tensor (merge-block\n"
    "and window orders undone), the head (and q/k/v part) and the attention segment or window of an\n"
    "attention tensor.\n"
    "\n"
    "  --all        keep comparing after the first failure\n"
    "  --quiet      print only failures and the verdict\n"
    "  --summary    one line per block / input / module: count of failures, first and worst tensor (implies\n"
    "               --all), then the verdict\n"
    "  --json       one JSON document for scripts (schema in docs/traces.md): per tensor status, shape,\n"
    "               max_abs, max_rel, cosine, worst element, locator; the verdict. Stops at the first\n"
    "               failure like the text report unless --all.\n"
    "  --report DIR also write pictures and one self-contained report.html into DIR: the error walk (every\n"
    "               tensor's max relative error against the tolerance, in manifest order; the numbers in\n"
    "               DIR/walk.tsv), error maps of the first failing tensor on each input's resized image,\n"
    "               per head and per channel. The report compares every tensor; the text stops showing\n"
    "               them at the first failure unless --all. DIR must be new, empty, or an earlier report\n"
    "               (which is replaced); anything else is refused and left untouched, unless --force.\n"
    "  --show NAME  draw the error maps of tensor NAME too (repeatable; with --report)\n"
    "  --force      write the report into a directory that holds other files (a model, a trace): they are\n"
    "               kept, the report's own files are replaced\n"
    "\n"
    "Exit status: 0 all compared tensors match, 1 a mismatch or a missing tensor (with or without --report),\n"
    "2 bad input (or a --report DIR that may not be written, a --show NAME not in REF), 3 a failed write.\n";

static int diff_run(int argc, char **argv, vt_status *st)
{
    vt_diff_opts o = vt_diff_defaults();
    vt_strlist only = {0}, show = {0};
    const char *dirs[2] = {NULL, NULL};
    int ndirs = 0, summary = 0, json = 0;
    vt_strlist pos = {0};
    const vt_opt opts[] = {
        {"--only", VT_OPT_STRING, 1, &only, "GLOB", 0, 0, NULL},
        {"--report", VT_OPT_STRING, 0, &o.report_dir, "DIR", 0, 0, NULL},
        {"--show", VT_OPT_STRING, 1, &show, "NAME", 0, 0, NULL},
        {"--force", VT_OPT_FLAG, 0, &o.force, NULL, 0, 0, NULL},
        {"--rtol", VT_OPT_DOUBLE, 0, &o.cmp.rtol, "R", 0, 1e6, NULL},
        {"--atol", VT_OPT_DOUBLE, 0, &o.cmp.atol, "A", 0, 1e6, NULL},
        {"--all", VT_OPT_FLAG, 0, &o.all, NULL, 0, 0, NULL},
        {"--quiet", VT_OPT_FLAG, 0, &o.quiet, NULL, 0, 0, NULL},
        {"--summary", VT_OPT_FLAG, 0, &summary, NULL, 0, 0, NULL},
        {"--json", VT_OPT_FLAG, 0, &json, NULL, 0, 0, NULL},
    };
    int rc = vt_opts_parse("diff", opts, VT_N_OPTS(opts), argc, argv, &pos, st);
    if (rc == VT_OK && o.report_dir && !o.report_dir[0]) rc = vt_fail(st, VT_EINPUT, "--report needs a directory");
    if (rc == VT_OK && summary && json)
        rc = vt_fail(st, VT_EINPUT, "--summary and --json are two different reports: give one");
    o.format = json ? VT_DIFF_JSON : summary ? VT_DIFF_SUMMARY : VT_DIFF_TEXT;
    if (rc == VT_OK && pos.n > 2) rc = vt_fail(st, VT_EINPUT, "more than two directories given (see vlmtrace diff --help)");
    for (int k = 0; rc == VT_OK && k < pos.n; k++) dirs[ndirs++] = pos.v[k];
    vt_strlist_free(&pos);
    if (rc == VT_OK && ndirs != 2) rc = vt_fail(st, VT_EINPUT, "need OURS and REF directories (see vlmtrace diff --help)");
    if (rc == VT_OK && show.n && !o.report_dir) rc = vt_fail(st, VT_EINPUT, "--show draws into a report: give --report DIR too");
    if (rc == VT_OK) {
        o.only = only.v;
        o.n_only = only.n;
        o.show = show.v;
        o.n_show = show.n;
        rc = vt_diff(dirs[0], dirs[1], &o, stdout, st);
    }
    vt_strlist_free(&only);
    vt_strlist_free(&show);
    return rc;
}

const vt_cli_cmd vt_cmd_diff = {"diff", "compare two traces and report the first divergence", diff_usage, diff_run};
