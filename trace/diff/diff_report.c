/* diff_report.c -- the --json and --summary reports of `vlmtrace diff` (see diff_report.h, docs/traces.md). */
#include "diff/diff_report.h"
#include "diff/processor_hint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/tap.h"

/* ======================================== --json ======================================== */

static cJSON *int_array(const int64_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

/* Coordinates of a flat index as a JSON array, from the reference entry's shape. */
static cJSON *coords_array(const vt_manifest_entry *e, int64_t flat)
{
    int64_t c[VT_MAX_DIMS];
    for (int d = e->ndim - 1; d >= 0; d--) {
        int64_t s = e->shape[d] ? e->shape[d] : 1;
        c[d] = flat % s;
        flat /= s;
    }
    return int_array(c, e->ndim);
}

/* NaN and infinities are not JSON numbers: they become null. */
static void add_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *rows_of(int64_t lo, int64_t hi)
{
    const int64_t r[2] = {lo, hi};
    return int_array(r, 2);
}

static cJSON *locator_json(const vt_location *l)
{
    if (!l->valid) return cJSON_CreateNull();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "text", l->text);
    if (l->row >= 0) cJSON_AddNumberToObject(j, "row", (double)l->row);
    else cJSON_AddNullToObject(j, "row");
    if (l->input[0]) cJSON_AddStringToObject(j, "input", l->input);
    else cJSON_AddNullToObject(j, "input");
    if (l->h >= 0) {
        cJSON *p = cJSON_AddObjectToObject(j, "patch");
        if (l->t >= 0) cJSON_AddNumberToObject(p, "t", (double)l->t);
        else cJSON_AddNullToObject(p, "t");
        cJSON_AddNumberToObject(p, "h", (double)l->h);
        cJSON_AddNumberToObject(p, "w", (double)l->w);
    } else {
        cJSON_AddNullToObject(j, "patch");
    }
    cJSON_AddBoolToObject(j, "merged", l->merged);
    cJSON_AddBoolToObject(j, "window_order", l->window_order);
    if (l->pixel_y >= 0) {
        const int64_t yx[2] = {l->pixel_y, l->pixel_x};
        cJSON_AddItemToObject(j, "pixel", int_array(yx, 2));
    } else {
        cJSON_AddNullToObject(j, "pixel");
    }
    if (l->head >= 0) {
        cJSON_AddNumberToObject(j, "head", l->head);
        cJSON_AddNumberToObject(j, "heads", l->n_heads);
    } else {
        cJSON_AddNullToObject(j, "head");
        cJSON_AddNullToObject(j, "heads");
    }
    if (l->part) {
        char p[2] = {l->part, 0};
        cJSON_AddStringToObject(j, "part", p);
    } else {
        cJSON_AddNullToObject(j, "part");
    }
    if (l->segment >= 0 && l->seg_source) {
        cJSON *s = cJSON_AddObjectToObject(j, "segment");
        cJSON_AddNumberToObject(s, "index", l->segment);
        cJSON_AddNumberToObject(s, "of", l->n_segments);
        cJSON_AddStringToObject(s, "source", l->seg_source);
        if (strcmp(l->seg_source, "batch") != 0) {
            cJSON_AddItemToObject(s, "rows", rows_of(l->seg_lo, l->seg_hi));
            cJSON_AddStringToObject(s, "input", l->seg_input);
        }
    } else {
        cJSON_AddNullToObject(j, "segment");
    }
    if (l->window >= 0) {
        cJSON *s = cJSON_AddObjectToObject(j, "window");
        cJSON_AddNumberToObject(s, "index", l->window);
        cJSON_AddNumberToObject(s, "of", l->n_windows);
        cJSON_AddStringToObject(s, "source", "visual.cu_window_seqlens");
        cJSON_AddItemToObject(s, "rows", rows_of(l->win_lo, l->win_hi));
    } else {
        cJSON_AddNullToObject(j, "window");
    }
    if (l->block >= 0) cJSON_AddNumberToObject(j, "block", l->block);
    else cJSON_AddNullToObject(j, "block");
    if (l->block_attention >= 0) cJSON_AddStringToObject(j, "block_attention", l->block_attention ? "full" : "window");
    else cJSON_AddNullToObject(j, "block_attention");
    return j;
}

static cJSON *row_json(const diff_row *r, const vt_diff_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", r->er->name);
    cJSON_AddStringToObject(j, "status", diff_status_name(r->status));
    cJSON_AddStringToObject(j, "dtype", vt_dtype_name(r->er->dtype));
    cJSON_AddItemToObject(j, "shape", int_array(r->er->shape, r->er->ndim));
    if (r->status == DS_SHAPE) {
        cJSON_AddStringToObject(j, "ours_dtype", vt_dtype_name(r->eo->dtype));
        cJSON_AddItemToObject(j, "ours_shape", int_array(r->eo->shape, r->eo->ndim));
        cJSON_AddStringToObject(j, "why", r->c.why);
    }
    if (r->status != DS_OK && r->status != DS_FAIL) return j;
    const vt_cmp_result *c = &r->c;
    add_number(j, "max_abs", c->max_abs);
    add_number(j, "max_rel", c->max_rel);
    add_number(j, "cosine", c->cosine);
    cJSON_AddNumberToObject(j, "n_bad", (double)c->n_bad);
    cJSON_AddNumberToObject(j, "numel", (double)c->numel);
    add_number(j, "sum_ours", c->sum_ours);
    add_number(j, "sum_ref", c->sum_ref);
    if (c->worst >= 0) {
        cJSON *wj = cJSON_AddObjectToObject(j, "worst");
        cJSON_AddItemToObject(wj, "index", coords_array(r->er, c->worst));
        add_number(wj, "ours", c->ours_w);
        add_number(wj, "reference", c->ref_w);
        add_number(wj, "abs_diff", fabs(c->ours_w - c->ref_w));
        add_number(wj, "allowed", r->er->dtype == VT_F32 ? c->atol_eff + o->cmp.rtol * fabs(c->ref_w) : 0.0);
    } else {
        cJSON_AddNullToObject(j, "worst");
    }
    cJSON *fb = cJSON_AddArrayToObject(j, "first_bad");
    for (int i = 0; i < c->n_first_bad; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "index", coords_array(r->er, c->first_bad[i]));
        add_number(e, "ours", r->first_ours[i]);
        add_number(e, "reference", r->first_ref[i]);
        cJSON_AddItemToArray(fb, e);
    }
    cJSON_AddItemToObject(j, "locator", locator_json(&r->loc));
    return j;
}

int diff_print_json(const diff_walk *w, const vt_diff_opts *o, FILE *out, vt_status *st)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return vt_fail(st, VT_ERESOURCE, "out of memory for the JSON report");
    cJSON_AddStringToObject(root, "ours", w->ours_dir);
    cJSON_AddStringToObject(root, "reference", w->ref_dir);
    if (w->mo->inject) cJSON_AddStringToObject(root, "ours_inject", w->mo->inject);
    else cJSON_AddNullToObject(root, "ours_inject");
    cJSON *rule = cJSON_AddObjectToObject(root, "rule");
    cJSON_AddNumberToObject(rule, "atol", o->cmp.atol);
    cJSON_AddNumberToObject(rule, "rtol", o->cmp.rtol);
    cJSON_AddStringToObject(root, "layout", vt_locator_summary(w->loc));
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < w->n; i++) cJSON_AddItemToArray(ts, row_json(&w->rows[i], o));
    cJSON *oo = cJSON_AddArrayToObject(root, "only_in_ours");
    for (int i = 0; i < w->mo->n; i++)
        if (!vt_manifest_find(w->mr, w->mo->t[i].name)) cJSON_AddItemToArray(oo, cJSON_CreateString(w->mo->t[i].name));
    cJSON *v = cJSON_AddObjectToObject(root, "verdict");
    const int pass = w->n_fail + w->n_missing == 0;
    cJSON_AddBoolToObject(v, "pass", pass);
    cJSON_AddNumberToObject(v, "exit_status", pass ? 0 : 1);
    if (w->first_fail >= 0) cJSON_AddStringToObject(v, "first_divergence", w->rows[w->first_fail].er->name);
    else cJSON_AddNullToObject(v, "first_divergence");
    if (w->first_fail >= 0 && w->last_pass_before >= 0)
        cJSON_AddStringToObject(v, "last_pass_before", w->rows[w->last_pass_before].er->name);
    else cJSON_AddNullToObject(v, "last_pass_before");
    char hint[512];
    if (vt_diff_processor_hint(hint, sizeof hint, w->mo, w->mr, w->first_fail >= 0 ? w->rows[w->first_fail].er->name : NULL))
        cJSON_AddStringToObject(v, "processor_hint", hint);
    else cJSON_AddNullToObject(v, "processor_hint");
    cJSON_AddNumberToObject(v, "match", w->n_pass);
    cJSON_AddNumberToObject(v, "differ", w->n_fail);
    cJSON_AddNumberToObject(v, "missing", w->n_missing);
    cJSON_AddNumberToObject(v, "not_traced", w->n_not_traced);
    cJSON_AddNumberToObject(v, "excluded", w->n_outside);
    cJSON_AddNumberToObject(v, "not_compared", w->n_unvisited);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return vt_fail(st, VT_ERESOURCE, "out of memory for the JSON report");
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return VT_OK;
}

/* ======================================== --summary ======================================== */

void diff_group_of(const char *name, char *buf, size_t n)
{
    /* a block: everything up to "blocks.{i}" / "resblocks.{i}" */
    static const char *const blocks[] = {".blocks.", ".resblocks."};
    for (int b = 0; b < 2; b++) {
        const char *p = strstr(name, blocks[b]);
        if (!p) continue;
        const char *d = p + strlen(blocks[b]);
        size_t k = 0;
        while (d[k] >= '0' && d[k] <= '9') k++;
        if (k && (d[k] == 0 || d[k] == '.')) {
            snprintf(buf, n, "%.*s", (int)(d + k - name), name);
            return;
        }
    }
    int k, len = 0;
    char kind[8];
    if (sscanf(name, "%5[a-z].%d%n", kind, &k, &len) == 2 && (name[len] == '.' || !name[len]) &&
        (!strcmp(kind, "image") || !strcmp(kind, "video"))) { /* an input: image.{k} */
        snprintf(buf, n, "%.*s", len, name);
        return;
    }
    static const char *const processor[] = {"pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw",
                                            "image_grid_hws", "second_per_grid_ts"};
    for (size_t i = 0; i < sizeof processor / sizeof processor[0]; i++)
        if (!strcmp(name, processor[i])) {
            snprintf(buf, n, "processor outputs");
            return;
        }
    /* a module: one component under the model's prefix (visual.merger, transformer.visual.attn_pool) */
    int keep = 2;
    if (!strncmp(name, "transformer.visual.", 19)) keep = 3;
    else if (!strncmp(name, "multi_modal_projector", 21) || !strncmp(name, "mrope.", 6)) keep = 1;
    const char *p = name;
    for (int c = 0; c < keep && p; c++) {
        p = strchr(p, '.');
        if (p && c + 1 < keep) p++;
    }
    snprintf(buf, n, "%.*s", p ? (int)(p - name) : (int)strlen(name), name);
}

typedef struct group {
    char name[VT_NAME_MAX];
    int n, n_bad, n_compared;
    int first_bad;   /* row index */
    int worst;       /* row index: lowest cosine among failures, else largest max_abs */
} group;

/* Is row a worse than row b? A failure beats a pass; a missing or misshapen tensor beats a value
 * failure; among value failures the lower cosine (then the larger max_abs); among passes the larger
 * max_abs. */
static int worse(const diff_row *a, const diff_row *b)
{
    int ra = a->status == DS_OK ? 0 : a->status == DS_FAIL ? 1 : 2;
    int rb = b->status == DS_OK ? 0 : b->status == DS_FAIL ? 1 : 2;
    if (ra != rb) return ra > rb;
    if (ra == 1 && a->c.cosine != b->c.cosine) return a->c.cosine < b->c.cosine;
    return a->c.max_abs > b->c.max_abs;
}

void diff_print_summary(const diff_walk *w, FILE *out)
{
    group *g = calloc((size_t)(w->n ? w->n : 1), sizeof *g);
    if (!g) {
        fprintf(out, "(out of memory for the summary)\n");
        return;
    }
    int ng = 0, namew = 20;
    for (int i = 0; i < w->n; i++) {
        const diff_row *r = &w->rows[i];
        if (r->status == DS_EXCLUDED || r->status == DS_NOT_TRACED || r->status == DS_NOT_COMPARED) continue;
        char key[VT_NAME_MAX];
        diff_group_of(r->er->name, key, sizeof key);
        int k = 0;
        while (k < ng && strcmp(g[k].name, key) != 0) k++;
        if (k == ng) {
            snprintf(g[ng].name, sizeof g[ng].name, "%s", key);
            g[ng].first_bad = g[ng].worst = -1;
            if ((int)strlen(key) > namew) namew = (int)strlen(key);
            ng++;
        }
        group *p = &g[k];
        p->n++;
        int bad = r->status != DS_OK;
        p->n_bad += bad;
        if (bad && p->first_bad < 0) p->first_bad = i;
        if (p->worst < 0 || worse(r, &w->rows[p->worst])) p->worst = i;
    }
    for (int k = 0; k < ng; k++) {
        const group *p = &g[k];
        const diff_row *wr = &w->rows[p->worst];
        fprintf(out, "  %-5s %-*s %3d tensor(s)", p->n_bad ? "FAIL" : "ok", namew, p->name, p->n);
        if (p->n_bad) fprintf(out, ", %d bad; first %s; worst %s", p->n_bad, w->rows[p->first_bad].er->name, wr->er->name);
        else fprintf(out, "; largest error in %s", wr->er->name);
        if (wr->status == DS_OK || wr->status == DS_FAIL) {
            if (wr->er->dtype == VT_F32) fprintf(out, " (max_abs %.2e, cos %.7f)", wr->c.max_abs, wr->c.cosine);
            else fprintf(out, " (max_abs %.0f)", wr->c.max_abs);
        } else {
            fprintf(out, " (%s)", diff_status_name(wr->status));
        }
        fprintf(out, "\n");
    }
    free(g);
}
