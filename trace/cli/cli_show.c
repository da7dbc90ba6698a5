/* cli_show.c -- `vlmtrace show DIR`: every tensor of a trace in manifest order with its statistics. */
#include <math.h>
#include <string.h>

#include "cli/cli.h"
#include "diff/compare.h"
#include "format/manifest.h"

static const char show_usage[] =
    "usage: vlmtrace show DIR [--only GLOB]...\n"
    "\n"
    "Print every tensor of the trace directory DIR in manifest order: name, dtype, shape, min, max,\n"
    "mean, std and sum. --only keeps the names matching a shell-style glob ('*' also matches dots);\n"
    "repeatable. DIR must hold a manifest.json (an incomplete trace has none and is refused).\n";

static int show_run(int argc, char **argv, vt_status *st)
{
    const char *dir = NULL;
    vt_strlist only = {0};
    vt_strlist pos = {0};
    const vt_opt opts[] = {{"--only", VT_OPT_STRING, 1, &only, "GLOB", 0, 0, NULL}};
    int rc = vt_opts_parse("show", opts, VT_N_OPTS(opts), argc, argv, &pos, st);
    if (rc == VT_OK && pos.n > 1) rc = vt_fail(st, VT_EINPUT, "more than one directory given (see vlmtrace show --help)");
    if (rc == VT_OK && pos.n == 1) dir = pos.v[0];
    vt_strlist_free(&pos);
    if (rc == VT_OK && !dir) rc = vt_fail(st, VT_EINPUT, "no trace directory given (see vlmtrace show --help)");
    vt_manifest m;
    if (rc == VT_OK && (rc = vt_manifest_read(&m, dir, st)) == VT_OK) {
        /* refuse a broken trace before printing anything */
        for (int i = 0; i < m.n && rc == VT_OK; i++)
            if (vt_glob_any(only.v, only.n, m.t[i].name)) rc = vt_manifest_check(&m, &m.t[i], st);
        int namew = 24;
        for (int i = 0; i < m.n; i++)
            if ((int)strlen(m.t[i].name) > namew) namew = (int)strlen(m.t[i].name);
        if (namew > 56) namew = 56;
        if (rc == VT_OK)
            printf("%s  (model: %s%s%s, %d tensors)\n", dir, m.model ? m.model : "?", m.inject ? ", injected bug: " : "",
               m.inject ? m.inject : "", m.n);
        if (rc == VT_OK)
            printf("%-*s %-7s %-18s %12s %12s %12s %12s %14s\n", namew, "name", "dtype", "shape", "min", "max", "mean", "std",
               "sum");
        for (int i = 0; i < m.n && rc == VT_OK; i++) {
            const vt_manifest_entry *e = &m.t[i];
            if (!vt_glob_any(only.v, only.n, e->name)) continue;
            vt_tensor t;
            void *buf;
            if ((rc = vt_manifest_load(&m, e, &t, &buf, st))) break;
            int64_t n = vt_numel(&t);
            double mn = INFINITY, mx = -INFINITY, sum = 0, sq = 0;
            for (int64_t j = 0; j < n; j++) {
                double x = vt_elem(&t, j);
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
                sum += x;
            }
            double mean = n ? sum / (double)n : 0;
            for (int64_t j = 0; j < n; j++) sq += (vt_elem(&t, j) - mean) * (vt_elem(&t, j) - mean);
            double sd = n ? sqrt(sq / (double)n) : 0;
            char sb[160];
            vt_shape_str(sb, sizeof sb, t.ndim, t.shape);
            if (n == 0)
                printf("%-*s %-7s %-18s %12s\n", namew, e->name, vt_dtype_name(t.dtype), sb, "(empty)");
            else
                printf("%-*s %-7s %-18s %12.6g %12.6g %12.6g %12.6g %14.8g\n", namew, e->name, vt_dtype_name(t.dtype), sb,
                       mn, mx, mean, sd, sum);
            free(buf);
        }
        if (rc == VT_OK && m.n_pictures) {
            printf("pictures:");
            for (int i = 0; i < m.n_pictures; i++) printf(" %s", m.pictures[i]);
            printf("\n");
        }
        vt_manifest_free(&m);
    }
    vt_strlist_free(&only);
    return rc;
}

const vt_cli_cmd vt_cmd_show = {"show", "print the tensors of a trace directory with statistics", show_usage,
                                show_run};
