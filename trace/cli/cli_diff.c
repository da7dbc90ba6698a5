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
    "               (which is replaced); anything else is refused and left untouched.\n"
    "  --show NAME  draw the error maps of tensor NAME too (repeatable; with --report)\n"
    "\n"
    "Exit status: 0 all compared tensors match, 1 a mismatch or a missing tensor (with or without --report),\n"
    "2 bad input (or a --report DIR that may not be written, a --show NAME not in REF), 3 a failed write.\n";

static int diff_run(int argc, char **argv, vt_status *st)
{
    vt_diff_opts o = vt_diff_defaults();
    vt_strlist only = {0}, show = {0};
    const char *dirs[2] = {NULL, NULL};
    int ndirs = 0, rc = VT_OK;
    vt_args a = {argc, argv, 1};
    for (; a.i < argc && rc == VT_OK; a.i++) {
        const char *v;
        int m;
        if ((m = vt_arg_value(&a, "--only", &v, st)) != 0)
            rc = m < 0 ? VT_EINPUT : vt_strlist_push(&only, v, st);
        else if ((m = vt_arg_value(&a, "--report", &v, st)) != 0) {
            if (m < 0) rc = VT_EINPUT;
            else if (o.report_dir) rc = vt_fail(st, VT_EINPUT, "--report given twice");
            else if (!v[0]) rc = vt_fail(st, VT_EINPUT, "--report needs a directory");
            else o.report_dir = v;
        }
        else if ((m = vt_arg_value(&a, "--show", &v, st)) != 0)
            rc = m < 0 ? VT_EINPUT : vt_strlist_push(&show, v, st);
        else if ((m = vt_arg_value(&a, "--rtol", &v, st)) != 0)
            rc = m < 0 ? VT_EINPUT : vt_parse_double("--rtol", v, 0, 1e6, &o.cmp.rtol, st);
        else if ((m = vt_arg_value(&a, "--atol", &v, st)) != 0)
            rc = m < 0 ? VT_EINPUT : vt_parse_double("--atol", v, 0, 1e6, &o.cmp.atol, st);
        else if (vt_arg_flag(&a, "--all"))
            o.all = 1;
        else if (vt_arg_flag(&a, "--quiet"))
            o.quiet = 1;
        else if (vt_arg_flag(&a, "--summary") || vt_arg_flag(&a, "--json")) {
            vt_diff_format f = !strcmp(argv[a.i], "--json") ? VT_DIFF_JSON : VT_DIFF_SUMMARY;
            if (o.format != VT_DIFF_TEXT && o.format != f)
                rc = vt_fail(st, VT_EINPUT, "--summary and --json are two different reports: give one");
            o.format = f;
        }
        else if (argv[a.i][0] == '-')
            rc = vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace diff --help)", argv[a.i]);
        else if (ndirs < 2)
            dirs[ndirs++] = argv[a.i];
        else
            rc = vt_fail(st, VT_EINPUT, "more than two directories given (see vlmtrace diff --help)");
    }
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
