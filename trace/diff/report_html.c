/*
 * report_html.c -- report.html of `diff --report` (see report.h): one self-contained page, pictures as
 * data URIs, no script, no network; a narrow layout for phones (pictures scale to the width, the table
 * scrolls inside its box and drops two columns) and a print style (no picture split across pages).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/report.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(tab[v >> 18 & 63], f);
        fputc(tab[v >> 12 & 63], f);
        fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tab[v & 63] : '=', f);
    }
}

static void figure(FILE *f, const rep_pic *p)
{
    fputs("<figure>\n<img width=\"", f);
    fprintf(f, "%d\" height=\"%d\" alt=\"", p->w, p->h);
    esc(f, p->alt);
    fputs("\" src=\"data:image/png;base64,", f);
    base64(f, p->png, p->n);
    fputs("\">\n<figcaption>", f);
    esc(f, p->title);
    fprintf(f, " <span class=\"file\">(%s)</span></figcaption>\n</figure>\n", p->file);
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:0 auto;"
    "padding:12px;line-height:1.45;color:#111;background:#fff}\n"
    "h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\n"
    "code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}\n"
    ".verdict{font-size:1.15em;font-weight:600;padding:.5em .7em;border-radius:4px}\n"
    ".verdict.fail{background:#fbe3d6;color:#7a2f00}.verdict.pass{background:#dcebf5;color:#003d66}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em .8em;margin:.6em 0}dt{font-weight:600}\n"
    "dd{margin:0;overflow-wrap:anywhere}\n"
    "figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #ddd}\n"
    "figcaption{font-size:.9em;color:#444}.file{color:#777}\n"
    "ul.where li{margin:.3em 0;overflow-wrap:anywhere}\n"
    ".scroll{overflow-x:auto;max-width:100%}\n"
    "table{border-collapse:collapse;font-size:.85em}th,td{padding:2px 8px;border-bottom:1px solid #e4e4e4;"
    "text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "td.name{word-break:break-all;min-width:12em}\n"
    "tr.fail td{background:#fbe3d6}tr.first td{background:#f6c9ae}.st-fail{color:#a33e00;font-weight:600}\n"
    "@media (max-width:640px){.wide{display:none}body{padding:8px}}\n"
    "@media print{body{max-width:none}figure{break-inside:avoid}.scroll{overflow:visible}"
    "tr{break-inside:avoid}h2{break-after:avoid}}\n";

static void num(FILE *f, double v, const char *fmt)
{
    if (isnan(v)) fputs("nan", f);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else fprintf(f, fmt, v);
}

int report_html(const rep_ctx *ctx, char **html, size_t *n, vt_status *st)
{
    const diff_walk *w = ctx->w;
    const vt_diff_opts *o = ctx->o;
    FILE *f = open_memstream(html, n);
    if (!f) return vt_fail(st, VT_ERESOURCE, "out of memory for report.html");
    const int pass = w->n_fail + w->n_missing == 0;
    const diff_row *ff = w->first_fail >= 0 ? &w->rows[w->first_fail] : NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"generator\" content=\"vlmtrace diff --report\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>vlmtrace diff: ", f);
    if (ff) {
        fputs("FAIL at ", f);
        esc(f, ff->er->name);
    } else {
        fprintf(f, "PASS, %d tensors", w->n_pass);
    }
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    fputs("<h1>vlmtrace diff</h1>\n", f);
    fprintf(f, "<p class=\"verdict %s\">", pass ? "pass" : "fail");
    if (pass) {
        fprintf(f, "PASS: %d tensor(s) match", w->n_pass);
    } else {
        fprintf(f, "FAIL: %d differ, %d missing, %d match", w->n_fail, w->n_missing, w->n_pass);
    }
    if (w->n_not_traced) fprintf(f, ", %d not traced by ours", w->n_not_traced);
    if (w->n_outside) fprintf(f, ", %d outside the diff's --only", w->n_outside);
    fputs("</p>\n", f);
    if (ff) {
        fputs("<p>First divergence: <code>", f);
        esc(f, ff->er->name);
        fputs("</code>; last passing before it: <code>", f);
        esc(f, w->last_pass_before >= 0 ? w->rows[w->last_pass_before].er->name : "none");
        fputs("</code>.</p>\n", f);
    }
    fputs("<dl>\n<dt>ours</dt><dd class=\"mono\">", f);
    esc(f, w->ours_dir);
    fputs("</dd>\n<dt>reference</dt><dd class=\"mono\">", f);
    esc(f, w->ref_dir);
    fputs("</dd>\n", f);
    if (w->mo->inject) {
        fputs("<dt>injected</dt><dd>ours was traced with <code>--inject ", f);
        esc(f, w->mo->inject);
        fputs("</code> (docs/bug-zoo.md)</dd>\n", f);
    }
    fputs("<dt>layout</dt><dd>", f);
    esc(f, vt_locator_summary(w->loc));
    fprintf(f, " (from the reference trace)</dd>\n<dt>rule</dt><dd>integers exact; float32 |ours &minus; ref| &le; "
               "%g &middot; max(1, max|ref|) + %g &middot; |ref|</dd>\n</dl>\n", o->cmp.atol, o->cmp.rtol);

    if (ff && ff->status == DS_FAIL && ff->loc.valid) {
        fputs("<p>Its worst element: ", f);
        esc(f, ff->loc.text);
        fputs("</p>\n", f);
    }
    /* pictures */
    fputs("<h2>The error walk</h2>\n<p>Every compared tensor in the reference's order, its maximum relative error "
          "on a log axis; the dashed line is the tolerance. Points above it fail.</p>\n", f);
    if (ctx->walk_pic >= 0 && ctx->walk_pic < ctx->n_pics) figure(f, &ctx->pics[ctx->walk_pic]);
    if (ctx->n_pics > 1 || ctx->n_notes) {
        fputs("<h2>Error maps</h2>\n<p>The error of each row (max |ours &minus; ref| over it) placed back on the "
              "patch grid of the input it belongs to, over the resized image; merged tokens cover their 2&times;2 "
              "patches, window-ordered rows are put back through <code>window_index</code>. Cells with no error "
              "show the image; the colour bar marks the allowance at |ref| = 0.</p>\n", f);
        for (int i = 0; i < ctx->n_pics; i++)
            if (i != ctx->walk_pic) figure(f, &ctx->pics[i]);
        for (int i = 0; i < ctx->n_notes; i++) {
            fputs("<p class=\"note\">", f);
            esc(f, ctx->notes[i]);
            fputs("</p>\n", f);
        }
    }

    /* where-lines of the failing tensors */
    int n_where = 0;
    for (int i = 0; i < w->n; i++) n_where += w->rows[i].status == DS_FAIL && w->rows[i].loc.valid;
    if (n_where) {
        fputs("<h2>Where each failing tensor's worst element sits</h2>\n<ul class=\"where\">\n", f);
        int shown = 0;
        for (int i = 0; i < w->n && shown < 40; i++) {
            const diff_row *r = &w->rows[i];
            if (r->status != DS_FAIL || !r->loc.valid) continue;
            fputs("<li><code>", f);
            esc(f, r->er->name);
            fputs("</code>: ", f);
            esc(f, r->loc.text);
            fputs("</li>\n", f);
            shown++;
        }
        if (n_where > shown) fprintf(f, "<li>... and %d more failing tensors (the table below)</li>\n", n_where - shown);
        fputs("</ul>\n", f);
    }

    /* the table */
    fputs("<h2>Every tensor</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>#</th><th>name</th>"
          "<th class=\"wide\">shape</th><th>max abs</th><th>max rel</th><th class=\"wide\">cosine</th><th>status</th>"
          "</tr></thead>\n<tbody>\n", f);
    for (int i = 0; i < w->n; i++) {
        const diff_row *r = &w->rows[i];
        const int bad = r->status == DS_FAIL || r->status == DS_SHAPE || r->status == DS_MISSING;
        fprintf(f, "<tr%s><td class=\"num\">%d</td><td class=\"name mono\">", i == w->first_fail ? " class=\"fail first\""
                                                                            : bad ? " class=\"fail\"" : "", i);
        esc(f, r->er->name);
        fputs("</td><td class=\"wide mono\">[", f);
        for (int d = 0; d < r->er->ndim; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)r->er->shape[d]);
        fputs("]</td>", f);
        if (r->status == DS_OK || r->status == DS_FAIL) {
            fputs("<td class=\"num\">", f);
            num(f, r->c.max_abs, r->er->dtype == VT_F32 ? "%.2e" : "%.0f");
            fputs("</td><td class=\"num\">", f);
            num(f, r->c.max_rel, "%.2e");
            fputs("</td><td class=\"num wide\">", f);
            if (r->er->dtype == VT_F32) num(f, r->c.cosine, "%.7f");
            else fputs("exact", f);
            fputs("</td>", f);
        } else {
            fputs("<td></td><td></td><td class=\"wide\"></td>", f);
        }
        fprintf(f, "<td class=\"%s\">%s</td></tr>\n", bad ? "st-fail" : "", diff_status_name(r->status));
    }
    fputs("</tbody>\n</table></div>\n", f);
    fputs("<p class=\"file\">Written by <code>vlmtrace diff --report</code>; the pictures are also in this "
          "directory as PNG files, and walk.tsv holds the numbers behind the error walk.</p>\n</body>\n</html>\n", f);
    if (fclose(f) != 0) return vt_fail(st, VT_ERESOURCE, "out of memory for report.html");
    return VT_OK;
}
