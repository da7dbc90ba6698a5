/*
 * report.c -- `vlmtrace diff --report DIR` (see report.h): the directory rule, which tensors are drawn, the
 * files, and report.html.
 */
#include "diff/report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/guard.h"
#include "format/outfile.h"
#include "io/fileio.h"

#define GENERATOR "<meta name=\"generator\" content=\"vlmtrace diff --report\">"

/* ======================================== the directory ======================================== */

/* A name a report writes: report.html, walk.png, walk.tsv, {map,heads,channels}.N.png (and the temporary
 * report.html.tmp.PID of an interrupted atomic write). */
static int report_file_name(const char *n)
{
    if (!strcmp(n, "report.html") || !strcmp(n, "walk.png") || !strcmp(n, "walk.tsv")) return 1;
    if (!strncmp(n, "report.html.tmp.", 16)) return 1;
    static const char *const kinds[] = {"map.", "heads.", "channels."};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(kinds[k]);
        if (strncmp(n, kinds[k], l) != 0) continue;
        const char *p = n + l;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
        return !strcmp(p, ".png");
    }
    return 0;
}

static int written_by_report(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char head[1024];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = 0;
    return strstr(head, GENERATOR) != NULL;
}

/* Refuse a directory that holds anything a report did not write; *old receives whether it holds a
 * previous report (to be replaced). */
static int check_dir(const char *dir, int force, int *old, vt_status *st)
{
    struct stat sb;
    *old = 0;
    /* a model or someone else's trace is never a report directory unless --force (format/guard.h) */
    VT_TRY(vt_output_guard(dir, VT_OUT_DIR, "--report", force, st));
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) return vt_fail(st, VT_EINPUT, "--report %s: %s", dir, strerror(errno));
        return VT_OK; /* created when the report is written */
    }
    if (!S_ISDIR(sb.st_mode)) return vt_fail(st, VT_EINPUT, "--report %s: exists and is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0) return vt_fail(st, VT_EINPUT, "--report %s: directory is not writable", dir);
    DIR *d = opendir(dir);
    if (!d) return vt_fail(st, VT_EINPUT, "--report %s: %s", dir, strerror(errno));
    const int ours = written_by_report(dir);
    struct dirent *e;
    char other[256] = "";
    int n = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (!ours || !report_file_name(e->d_name)) {
            snprintf(other, sizeof other, "%s", e->d_name);
            break;
        }
    }
    closedir(d);
    if (other[0] && !force)
        return vt_fail(st, VT_EINPUT,
                       "--report %s: the directory holds %s, which no earlier vlmtrace diff --report wrote; give a new "
                       "or empty directory, or --force to write beside it (nothing was changed)",
                       dir, other);
    *old = n > 0;
    return VT_OK;
}

int report_check(const vt_manifest *mr, const vt_diff_opts *o, vt_status *st)
{
    for (int i = 0; i < o->n_show; i++)
        if (!vt_manifest_find(mr, o->show[i]))
            return vt_fail(st, VT_EINPUT, "--show %s: no tensor of that name in the reference trace %s", o->show[i],
                           mr->dir ? mr->dir : "");
    int old;
    return check_dir(o->report_dir, o->force, &old, st);
}

/* Remove the files of a previous report (all are report names: check_dir said so). */
static void clear_old(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4352];
    while ((e = readdir(d)))
        if (report_file_name(e->d_name) && strcmp(e->d_name, "report.html") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    closedir(d);
}

/* ======================================== pictures ======================================== */

int report_add_pic(rep_ctx *ctx, const vt_canvas *c, const char *file, const char *title, const char *alt,
                   vt_status *st)
{
    if (ctx->n_pics == REPORT_MAX_PICS) return VT_OK;
    rep_pic *p = &ctx->pics[ctx->n_pics];
    memset(p, 0, sizeof *p);
    VT_TRY(vt_canvas_png(c, &p->png, &p->n, st));
    snprintf(p->file, sizeof p->file, "%s", file);
    snprintf(p->title, sizeof p->title, "%s", title);
    snprintf(p->alt, sizeof p->alt, "%s", alt);
    p->w = c->w;
    p->h = c->h;
    ctx->n_pics++;
    return VT_OK;
}

void report_scale(const float *v, size_t n, double mark, double *lo, double *hi, char *note, size_t note_n)
{
    double a = INFINITY, b = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > 0 && isfinite(v[i])) a = fmin(a, v[i]), b = fmax(b, v[i]);
    if (!(b > 0)) a = b = mark > 0 ? mark : 1;
    if (b / a > 1e8) a = b / 1e8;
    if (b <= a * 1.0001) a = b / 10;
    *lo = a;
    *hi = b;
    char nb[32];
    note[0] = 0;
    if (mark > 0 && mark < a) snprintf(note, note_n, "every coloured cell is above the allowance (%s at ref 0)", vt_chart_num(nb, sizeof nb, mark));
    else if (mark > b) snprintf(note, note_n, "every cell is below the allowance (%s at ref 0)", vt_chart_num(nb, sizeof nb, mark));
}

/* Load both sides of row i and the error of every element. */
static int load_tensor(const diff_walk *w, int i, rep_tensor *t, vt_status *st)
{
    memset(t, 0, sizeof *t);
    t->row = i;
    const diff_row *r = &w->rows[i];
    VT_TRY(vt_manifest_load(w->mr, r->er, &t->ref, &t->ref_buf, st));
    if (vt_manifest_load(w->mo, r->eo, &t->ours, &t->ours_buf, st)) {
        free(t->ref_buf);
        return st->code;
    }
    const int64_t n = vt_numel(&t->ref);
    if (!(t->err = malloc((size_t)(n ? n : 1) * sizeof *t->err))) {
        free(t->ref_buf);
        free(t->ours_buf);
        return vt_fail(st, VT_ERESOURCE, "out of memory for the errors of %s", r->er->name);
    }
    for (int64_t k = 0; k < n; k++) {
        double a = vt_elem(&t->ours, k), b = vt_elem(&t->ref, k);
        double d = fabs(a - b);
        if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) d = (isnan(a) && isnan(b)) || (isinf(b) && a == b) ? 0 : INFINITY;
        t->err[k] = (float)d;
    }
    return VT_OK;
}

static void free_tensor(rep_tensor *t)
{
    free(t->err);
    free(t->ref_buf);
    free(t->ours_buf);
}

/* The tensors to draw: the first failure (a value failure: a shape or a missing tensor has no values to
 * place), else the one closest to its tolerance; then every --show NAME. */
static int chosen(const diff_walk *w, const vt_diff_opts *o, int *rows, int max)
{
    int n = 0;
    if (w->first_fail >= 0 && w->rows[w->first_fail].status == DS_FAIL) rows[n++] = w->first_fail;
    if (w->first_fail < 0 && !o->n_show) {
        /* the largest error against its tolerance; among equals a float tensor, the later one (the output) */
        int best = -1;
        double tol, yb = -1;
        for (int i = 0; i < w->n; i++)
            if (w->rows[i].status == DS_OK) {
                double y = report_walk_y(&w->rows[i], &o->cmp, &tol);
                int f = w->rows[i].er->dtype == VT_F32, fb = best >= 0 && w->rows[best].er->dtype == VT_F32;
                if (y > yb || (y == yb && f >= fb)) yb = y, best = i;
            }
        if (best >= 0) rows[n++] = best;
    }
    for (int s = 0; s < o->n_show && n < max; s++)
        for (int i = 0; i < w->n; i++)
            if (!strcmp(w->rows[i].er->name, o->show[s])) {
                int dup = 0;
                for (int k = 0; k < n; k++) dup |= rows[k] == i;
                if (!dup) rows[n++] = i;
            }
    return n;
}

static int wants_channels(const char *name, const vt_tensor *ref)
{
    if (ref->ndim < 2) return 0;
    return strstr(name, "rope") || strstr(name, "rotary") || strstr(name, "freqs") || strstr(name, "attn") ||
           strstr(name, "qkv") || strstr(name, "wo") || !strncmp(name, "mrope.", 6) || !strcmp(name, "position_ids");
}

static int write_file(const char *dir, const char *file, const void *data, size_t n, vt_status *st)
{
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vt_file f;
    VT_TRY(vt_file_create(&f, path, st));
    if (vt_file_write(&f, data, n, st)) {
        vt_file_abort(&f);
        return st->code;
    }
    return vt_file_commit(&f, st);
}

int report_write(const diff_walk *w, const vt_diff_opts *o, vt_status *st)
{
    const char *dir = o->report_dir;
    int old;
    VT_TRY(check_dir(dir, o->force, &old, st)); /* again: the walk took time */
    VT_TRY(vt_mkdirs(dir, st));
    rep_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return vt_fail(st, VT_ERESOURCE, "out of memory for the report");
    ctx->w = w;
    ctx->o = o;
    int rc = report_walk(ctx, st);
    int rows[16], n = rc == VT_OK ? chosen(w, o, rows, 16) : 0;
    for (int k = 0; k < n && rc == VT_OK; k++) {
        const diff_row *r = &w->rows[rows[k]];
        if (r->status != DS_OK && r->status != DS_FAIL) {
            if (ctx->n_notes < 8)
                snprintf(ctx->notes[ctx->n_notes++], sizeof ctx->notes[0], "%s: %s, no values to draw", r->er->name,
                         diff_status_name(r->status));
            continue;
        }
        rep_tensor t;
        if ((rc = load_tensor(w, rows[k], &t, st)) != VT_OK) break;
        t.index = k;
        rc = report_maps(ctx, &t, st);
        if (rc == VT_OK && wants_channels(r->er->name, &t.ref)) rc = report_channels(ctx, &t, st);
        free_tensor(&t);
    }
    char *text = NULL;
    size_t len = 0;
    if (rc == VT_OK && old) clear_old(dir);
    for (int i = 0; i < ctx->n_pics && rc == VT_OK; i++) rc = write_file(dir, ctx->pics[i].file, ctx->pics[i].png, ctx->pics[i].n, st);
    if (rc == VT_OK) rc = report_walk_tsv(w, o, &text, &len, st);
    if (rc == VT_OK) rc = write_file(dir, "walk.tsv", text, len, st);
    free(text);
    text = NULL;
    if (rc == VT_OK) rc = report_html(ctx, &text, &len, st);
    if (rc == VT_OK) {
        char path[4352];
        snprintf(path, sizeof path, "%s/report.html", dir);
        rc = vt_write_atomic(path, text, len, st);
    }
    free(text);
    for (int i = 0; i < ctx->n_pics; i++) free(ctx->pics[i].png);
    free(ctx);
    return rc;
}
