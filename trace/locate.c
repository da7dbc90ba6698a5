/*
 * locate.c -- element -> (input, patch, head, segment / window) for the diff report (see locate.h).
 *
 * Legend: N patch rows of all inputs (images first, then videos, as the towers concatenate them),
 * m spatial merge size (2), U = m*m patches per merged token, M = N / U merged tokens, (t, h, w) a grid
 * in patches, H heads, D head_dim.
 */
#include "locate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* ======================================== the locator ======================================== */

typedef enum { FAM_UNKNOWN, FAM_QWEN2, FAM_QWEN25, FAM_KIMI, FAM_QWENVL } loc_family;

typedef struct loc_input {
    char name[24];   /* "image.0", "video.1" */
    int64_t t, h, w; /* grid in patches (t = 1 for Kimi-VL) */
    int64_t row0;    /* first of its t*h*w patch rows */
    int64_t mrow0;   /* first of its t*h*w/U merged tokens */
} loc_input;

struct vt_locator {
    loc_family fam;
    loc_input *in;
    int n_in, n_images;
    int64_t N;
    int merge;
    int64_t *window_index, n_wi;
    int64_t *cu, n_cu;   /* cu_seqlens, widened */
    const char *cu_name;
    int64_t *cuw, n_cuw; /* Qwen2.5-VL cu_window_seqlens */
    int heads, head_dim;
    int fullatt[VT_MAX_FULLATT], n_fullatt, have_fullatt;
    int qvl_g, qvl_qg, qvl_pool_hd; /* Qwen-VL: patch grid side, query grid side, resampler head width */
    char summary[256];
};

/* An integer tensor of the manifest as int64 values (malloc'd), *vals NULL when absent. */
static int load_ints(const vt_manifest *m, const char *name, int64_t **vals, int64_t *n, int64_t *cols,
                     vt_status *st)
{
    *vals = NULL;
    *n = 0;
    const vt_manifest_entry *e = vt_manifest_find(m, name);
    if (!e || e->dtype == VT_F32 || e->ndim < 1 || e->ndim > 2) return VT_OK;
    vt_tensor t;
    void *owned;
    VT_TRY(vt_manifest_load(m, e, &t, &owned, st));
    int64_t k = vt_numel(&t);
    int64_t *v = malloc((size_t)(k ? k : 1) * sizeof *v);
    if (!v) {
        free(owned);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    for (int64_t i = 0; i < k; i++)
        v[i] = t.dtype == VT_I64 ? vt_i64(&t)[i] : t.dtype == VT_I32 ? vt_i32(&t)[i] : vt_u8(&t)[i];
    free(owned);
    *vals = v;
    *n = k;
    if (cols) *cols = e->ndim == 2 ? e->shape[1] : 1;
    return VT_OK;
}

static int add_input(vt_locator *l, const char *kind, int k, int64_t t, int64_t h, int64_t w, vt_status *st)
{
    if (t < 1 || h < 1 || w < 1) return VT_OK; /* a grid that cannot be real: know less rather than fail */
    loc_input *in = realloc(l->in, (size_t)(l->n_in + 1) * sizeof *in);
    if (!in) return vt_fail(st, VT_ERESOURCE, "out of memory");
    l->in = in;
    loc_input *p = &in[l->n_in++];
    snprintf(p->name, sizeof p->name, "%s.%d", kind, k);
    p->t = t;
    p->h = h;
    p->w = w;
    p->row0 = l->N;
    l->N += t * h * w;
    return VT_OK;
}

/* Grids [n, cols] (cols 3: t h w; cols 2: h w) -> inputs of one kind. */
static int add_grid_rows(vt_locator *l, const vt_manifest *m, const char *name, const char *kind, vt_status *st)
{
    int64_t *g, n, cols;
    VT_TRY(load_ints(m, name, &g, &n, &cols, st));
    if (!g) return VT_OK;
    int rc = VT_OK;
    for (int64_t r = 0; cols >= 2 && r < n / cols && rc == VT_OK; r++) {
        const int64_t *row = g + r * cols;
        rc = cols == 3 ? add_input(l, kind, (int)r, row[0], row[1], row[2], st) : add_input(l, kind, (int)r, 1, row[0], row[1], st);
    }
    free(g);
    return rc;
}

/* Preprocess-only traces: image.{k}.grid_thw [1, 3] per input. */
static int add_per_input_grids(vt_locator *l, const vt_manifest *m, const char *kind, vt_status *st)
{
    for (int k = 0;; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d.grid_thw", kind, k);
        int64_t *g, n;
        VT_TRY(load_ints(m, name, &g, &n, NULL, st));
        if (!g) return VT_OK;
        int rc = n == 3 ? add_input(l, kind, k, g[0], g[1], g[2], st) : VT_OK;
        free(g);
        VT_TRY(rc);
    }
}

static int has_prefix(const vt_manifest *m, const char *prefix)
{
    for (int i = 0; i < m->n; i++)
        if (!strncmp(m->t[i].name, prefix, strlen(prefix))) return 1;
    return 0;
}

static int64_t isqrt64(int64_t x)
{
    int64_t r = (int64_t)sqrt((double)x);
    while (r * r > x) r--;
    while ((r + 1) * (r + 1) <= x) r++;
    return r;
}

/* config.json beside the reference trace, when there is one: what the trace alone does not say. */
static void read_config(vt_locator *l, const vt_manifest *m)
{
    if (!m->dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fclose(f);
    vt_model_config *c = malloc(sizeof *c);
    vt_status st = {0};
    if (c && vt_config_load(c, m->dir, &st) == VT_OK) {
        if (c->family == VT_FAMILY_QWEN25VL && l->fam == FAM_QWEN25) {
            l->n_fullatt = c->qwen2.n_fullatt;
            memcpy(l->fullatt, c->qwen2.fullatt_block_indexes, sizeof l->fullatt);
            l->have_fullatt = 1;
        }
        if (!l->heads && (c->family == VT_FAMILY_QWEN2VL || c->family == VT_FAMILY_QWEN25VL) && c->qwen2.num_heads > 0) {
            l->heads = c->qwen2.num_heads;
            l->head_dim = c->qwen2.embed_dim / c->qwen2.num_heads;
        }
        if (!l->heads && c->family == VT_FAMILY_KIMIVL && c->kimi.num_attention_heads > 0) {
            l->heads = c->kimi.num_attention_heads;
            l->head_dim = c->kimi.hidden_size / c->kimi.num_attention_heads;
        }
        if (c->family == VT_FAMILY_QWENVL && c->qwenvl.heads > 0) {
            l->heads = c->qwenvl.heads;
            l->head_dim = c->qwenvl.width / c->qwenvl.heads;
        }
    }
    free(c);
}

int vt_locator_build(vt_locator **out, const vt_manifest *m, vt_status *st)
{
    *out = NULL;
    vt_locator *l = calloc(1, sizeof *l);
    if (!l) return vt_fail(st, VT_ERESOURCE, "out of memory");
    l->merge = 2;
    if (vt_manifest_find(m, "visual.window_index")) l->fam = FAM_QWEN25;
    else if (has_prefix(m, "visual.") || vt_manifest_find(m, "image_grid_thw") || vt_manifest_find(m, "image.0.grid_thw") ||
             vt_manifest_find(m, "video_grid_thw"))
        l->fam = FAM_QWEN2;
    else if (has_prefix(m, "vision_tower.") || vt_manifest_find(m, "image_grid_hws")) l->fam = FAM_KIMI;
    else if (has_prefix(m, "transformer.visual.")) l->fam = FAM_QWENVL;

    int rc = VT_OK;
    if (l->fam == FAM_QWEN2 || l->fam == FAM_QWEN25) {
        rc = add_grid_rows(l, m, "image_grid_thw", "image", st);
        if (rc == VT_OK && !vt_manifest_find(m, "image_grid_thw")) rc = add_per_input_grids(l, m, "image", st);
        l->n_images = l->n_in;
        if (rc == VT_OK) rc = add_grid_rows(l, m, "video_grid_thw", "video", st);
        if (rc == VT_OK && !vt_manifest_find(m, "video_grid_thw")) rc = add_per_input_grids(l, m, "video", st);
        const vt_manifest_entry *e = vt_manifest_find(m, "visual.merger");
        if (!e) e = vt_manifest_find(m, "visual");
        if (e && e->ndim == 2 && e->shape[0] > 0 && l->N % e->shape[0] == 0) {
            int64_t U = l->N / e->shape[0], r = isqrt64(U);
            if (r * r == U && r >= 1) l->merge = (int)r;
        }
        if (rc == VT_OK) rc = load_ints(m, "visual.cu_seqlens", &l->cu, &l->n_cu, NULL, st);
        l->cu_name = "visual.cu_seqlens";
        if (rc == VT_OK) rc = load_ints(m, "visual.window_index", &l->window_index, &l->n_wi, NULL, st);
        if (rc == VT_OK) rc = load_ints(m, "visual.cu_window_seqlens", &l->cuw, &l->n_cuw, NULL, st);
    } else if (l->fam == FAM_KIMI) {
        rc = add_grid_rows(l, m, "image_grid_hws", "image", st);
        l->n_images = l->n_in;
        const vt_manifest_entry *e = vt_manifest_find(m, "vision_tower.patch_merger");
        if (e && e->ndim == 3) {
            int64_t r = isqrt64(e->shape[1]);
            if (r * r == e->shape[1] && r >= 1) l->merge = (int)r;
        }
        if (rc == VT_OK) rc = load_ints(m, "vision_tower.encoder.cu_seqlens", &l->cu, &l->n_cu, NULL, st);
        l->cu_name = "vision_tower.encoder.cu_seqlens";
    } else if (l->fam == FAM_QWENVL) {
        const vt_manifest_entry *e = vt_manifest_find(m, "transformer.visual.abs_pos");
        if (e && e->ndim == 2) l->qvl_g = (int)isqrt64(e->shape[0]);
        e = vt_manifest_find(m, "transformer.visual.attn_pool.ln_q");
        if (e && e->ndim == 2) {
            l->qvl_qg = (int)isqrt64(e->shape[0]);
            l->qvl_pool_hd = 128; /* Resampler heads are output_dim / 128 wide (visual.py) */
        }
    }
    if (rc) {
        vt_locator_free(l);
        return rc;
    }
    /* heads from the first q_rope [N, H, D] the trace has */
    for (int i = 0; i < m->n && !l->heads; i++) {
        size_t n = strlen(m->t[i].name);
        if (n >= 6 && !strcmp(m->t[i].name + n - 6, "q_rope") && m->t[i].ndim == 3 && m->t[i].shape[1] > 0) {
            l->heads = (int)m->t[i].shape[1];
            l->head_dim = (int)m->t[i].shape[2];
        }
    }
    read_config(l, m);
    const int64_t U = (int64_t)l->merge * l->merge;
    for (int i = 0; i < l->n_in; i++) l->in[i].mrow0 = l->in[i].row0 / U;

    static const char *const fam_names[] = {"unknown layout", "Qwen2-VL", "Qwen2.5-VL", "Kimi-VL", "Qwen-VL"};
    int len = snprintf(l->summary, sizeof l->summary, "%s", fam_names[l->fam]);
    if (l->n_in)
        len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %d input(s) (%lld patch rows)", l->n_in,
                        (long long)l->N);
    if (l->cu) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %s", l->cu_name);
    if (l->cuw) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", visual.cu_window_seqlens");
    if (l->window_index) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", visual.window_index");
    if (l->heads) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %d heads of %d", l->heads, l->head_dim);
    if (l->have_fullatt) snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", fullatt_block_indexes (config.json)");
    *out = l;
    return VT_OK;
}

void vt_locator_free(vt_locator *l)
{
    if (!l) return;
    free(l->in);
    free(l->window_index);
    free(l->cu);
    free(l->cuw);
    free(l);
}

const char *vt_locator_summary(const vt_locator *l) { return l ? l->summary : "no locator"; }

/* ======================================== rows -> patches ======================================== */

/* The input holding patch row r (or merged token r when merged), -1 if none. */
static int input_of(const vt_locator *l, int64_t r, int merged)
{
    const int64_t U = (int64_t)l->merge * l->merge;
    for (int i = 0; i < l->n_in; i++) {
        int64_t n = l->in[i].t * l->in[i].h * l->in[i].w, lo = merged ? l->in[i].mrow0 : l->in[i].row0;
        if (merged) n /= U;
        if (r >= lo && r < lo + n) return i;
    }
    return -1;
}

/* Local row j of input i -> its patch. merge_order: Qwen2's (t, h/m, w/m, m, m) row order; otherwise
 * row-major (t, h, w) (Kimi-VL). */
static void local_patch(const vt_locator *l, int i, int64_t j, int merge_order, vt_location *o)
{
    const loc_input *p = &l->in[i];
    const int64_t m = l->merge, U = m * m;
    snprintf(o->input, sizeof o->input, "%s", p->name);
    if (merge_order && p->h % m == 0 && p->w % m == 0) {
        int64_t blk = j / U, sub = j % U, per_t = (p->h / m) * (p->w / m), rem = blk % per_t;
        o->t = blk / per_t;
        o->h = (rem / (p->w / m)) * m + sub / m;
        o->w = (rem % (p->w / m)) * m + sub % m;
    } else {
        o->t = j / (p->h * p->w);
        o->h = (j % (p->h * p->w)) / p->w;
        o->w = j % p->w;
    }
}

/* Merged token u (original order) of all inputs; sub >= 0 names one patch of its m x m block. */
static void merged_patch(const vt_locator *l, int64_t u, int64_t sub, vt_location *o)
{
    int i = input_of(l, u, 1);
    if (i < 0) return;
    const loc_input *p = &l->in[i];
    const int64_t m = l->merge, b = u - p->mrow0, per_t = (p->h / m) * (p->w / m);
    snprintf(o->input, sizeof o->input, "%s", p->name);
    o->token = u;
    o->sub = sub;
    o->t = b / per_t;
    o->h = ((b % per_t) / (p->w / m)) * m;
    o->w = ((b % per_t) % (p->w / m)) * m;
    o->merged = 1;
    if (sub >= 0) {
        o->h += sub / m;
        o->w += sub % m;
        o->merged = 0;
    }
}

/* What a segment [lo, hi) of cu_seqlens is: "image.1", "video.0 t 1". */
static void name_segment(const vt_locator *l, int64_t lo, char *buf, size_t n)
{
    int i = input_of(l, lo, 0);
    if (i < 0) {
        snprintf(buf, n, "?");
        return;
    }
    const loc_input *p = &l->in[i];
    if (p->t > 1) snprintf(buf, n, "%s t %lld", p->name, (long long)((lo - p->row0) / (p->h * p->w)));
    else snprintf(buf, n, "%s", p->name);
}

static int find_segment(const int64_t *cu, int64_t n_cu, int64_t r, int64_t *lo, int64_t *hi)
{
    for (int64_t s = 0; s + 1 < n_cu; s++)
        if (r >= cu[s] && r < cu[s + 1]) {
            *lo = cu[s];
            *hi = cu[s + 1];
            return (int)s;
        }
    return -1;
}

/* ======================================== per family ======================================== */

enum { ROWS_NONE, ROWS_ALL, ROWS_WINDOW, MERGED_ALL, MERGED_WINDOW };
enum { ATT_NONE, ATT_QKV_GLOBAL, ATT_QKV_PER_HEAD, ATT_HEAD_AXIS, ATT_HEAD_COLS };

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* "visual.blocks.3.attn.out" -> 3 (after `prefix`), -1 if the name is not a block's */
static int block_index(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return -1;
    int b = -1;
    return sscanf(name + n, "%d", &b) == 1 ? b : -1;
}

/* Rows of image.{k} / video.{k} tensors; returns 1 if the name was one. c: coordinates. */
static int locate_input_tensor(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c,
                               int merge_order, vt_location *o)
{
    int k, len = 0;
    char kind[8];
    if (sscanf(name, "%5[a-z].%d.%n", kind, &k, &len) != 2 || len == 0 ||
        (strcmp(kind, "image") != 0 && strcmp(kind, "video") != 0))
        return 0;
    int i = -1;
    char want[32];
    snprintf(want, sizeof want, "%s.%d", kind, k);
    for (int j = 0; j < l->n_in; j++)
        if (!strcmp(l->in[j].name, want)) i = j;
    if (i < 0) return 1;
    const loc_input *p = &l->in[i];
    const char *tail = name + len;
    const int video = ref->ndim == 4;
    if (!strcmp(tail, "patches") && ref->ndim >= 2 && ref->shape[0] == p->t * p->h * p->w) {
        o->row = c[0];
        local_patch(l, i, c[0], merge_order, o);
    } else if (!strcmp(tail, "resized") || !strcmp(tail, "normalized")) {
        int chw = !strcmp(tail, "normalized");
        int64_t ph = ref->shape[video + (chw ? 1 : 0)], y = c[video + (chw ? 1 : 0)], x = c[video + (chw ? 2 : 1)];
        if (ph <= 0 || ph % p->h != 0) return 1;
        int64_t P = ph / p->h, F = video ? ref->shape[0] : 1, T = (F + p->t - 1) / p->t;
        snprintf(o->input, sizeof o->input, "%s", p->name);
        o->pixel_y = y;
        o->pixel_x = x;
        o->t = video ? c[0] / (T ? T : 1) : 0;
        o->h = y / P;
        o->w = x / P;
        if (l->fam == FAM_KIMI) o->t = -1;
    }
    return 1;
}

static void locate_qwen2(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o,
                         int *att)
{
    const int q25 = l->fam == FAM_QWEN25;
    const int64_t U = (int64_t)l->merge * l->merge;
    if (locate_input_tensor(l, name, ref, c, 1, o)) return;
    int space = ROWS_NONE;
    int64_t r = c[0];
    if (!strcmp(name, "pixel_values")) space = ROWS_ALL;
    else if (!strcmp(name, "pixel_values_videos")) {
        space = ROWS_ALL;
        r += l->n_images ? l->in[l->n_images - 1].row0 + l->in[l->n_images - 1].t * l->in[l->n_images - 1].h *
                                                             l->in[l->n_images - 1].w
                         : 0;
    } else if (!strcmp(name, "visual.patch_embed") || !strcmp(name, "visual.rot_pos_ids") ||
               !strcmp(name, "visual.rotary_pos_emb"))
        space = ROWS_ALL;
    else if (!strcmp(name, "visual.patch_embed.windowed")) space = ROWS_WINDOW;
    else if ((o->block = block_index(name, "visual.blocks.")) >= 0 || !strcmp(name, "visual.merger.ln_q"))
        space = q25 ? ROWS_WINDOW : ROWS_ALL;
    else if (!strncmp(name, "visual.merger.mlp", 17) || !strcmp(name, "visual.merger"))
        space = q25 ? MERGED_WINDOW : MERGED_ALL;
    else if (!strcmp(name, "visual.merger.unwindowed") || !strcmp(name, "visual"))
        space = MERGED_ALL;
    if (space == ROWS_NONE || ref->ndim < 1) return;
    const int merged = space == MERGED_ALL || space == MERGED_WINDOW;
    if (ref->shape[0] != (merged ? l->N / U : l->N) || l->N == 0) return;
    o->row = c[0];
    if (space == ROWS_WINDOW || space == MERGED_WINDOW) {
        int64_t u = merged ? r : r / U;
        if (!l->window_index || u >= l->n_wi) return;
        o->window_order = 1;
        int64_t orig = l->window_index[u];
        if (merged) merged_patch(l, orig, -1, o);
        else r = orig * U + r % U;
    }
    if (space == MERGED_ALL) merged_patch(l, r, -1, o);
    if (!merged) {
        int i = input_of(l, r, 0);
        if (i >= 0) local_patch(l, i, r - l->in[i].row0, 1, o);
    }
    if (o->block >= 0) {
        if (ends_with(name, ".attn.qkv")) *att = ATT_QKV_GLOBAL;
        else if (ends_with(name, ".attn.q_rope") || ends_with(name, ".attn.k_rope")) *att = ATT_HEAD_AXIS;
        else if (ends_with(name, ".attn.out")) *att = ATT_HEAD_COLS;
    }
}

static void locate_kimi(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o,
                        int *att)
{
    const int64_t U = (int64_t)l->merge * l->merge;
    if (locate_input_tensor(l, name, ref, c, 0, o)) return;
    if (ref->ndim < 1 || l->N == 0) return;
    o->block = block_index(name, "vision_tower.encoder.blocks.");
    if (!strcmp(name, "pixel_values") || !strncmp(name, "vision_tower.patch_embed", 24) ||
        !strcmp(name, "vision_tower.encoder.rope_freqs_cis") || o->block >= 0 ||
        !strcmp(name, "vision_tower.encoder.final_layernorm")) {
        if (ref->shape[0] != l->N) return;
        o->row = c[0];
        int i = input_of(l, c[0], 0);
        if (i >= 0) local_patch(l, i, c[0] - l->in[i].row0, 0, o);
        o->t = -1;
        if (o->block >= 0) {
            if (ends_with(name, ".wqkv")) *att = ATT_QKV_GLOBAL;
            else if (ends_with(name, ".q_rope") || ends_with(name, ".k_rope")) *att = ATT_HEAD_AXIS;
            else if (ends_with(name, ".attn_out")) *att = ATT_HEAD_COLS;
        }
    } else if (!strcmp(name, "vision_tower.patch_merger") || !strncmp(name, "multi_modal_projector", 21)) {
        if (ref->shape[0] != l->N / U) return;
        o->row = c[0];
        merged_patch(l, c[0], ref->ndim == 3 && ref->shape[1] == U ? c[1] : -1, o);
        o->t = -1;
    }
}

static void locate_qwenvl(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c,
                          vt_location *o, int *att)
{
    const char *tv = "transformer.visual.";
    const size_t n = strlen(tv);
    const int64_t g = l->qvl_g, qg = l->qvl_qg;
    if (locate_input_tensor(l, name, ref, c, 0, o) || strncmp(name, tv, n) != 0) return;
    const char *s = name + n;
    int64_t tok = -1, b = -1, query = -1;
    o->block = block_index(s, "transformer.resblocks.");
    if (o->block >= 0 || !strcmp(s, "transformer")) { /* [L, B, W] */
        tok = c[0];
        b = c[1];
        if (o->block >= 0 && ends_with(s, ".attn.in_proj")) *att = ATT_QKV_PER_HEAD;
        else if (o->block >= 0 && ends_with(s, ".attn.out")) *att = ATT_HEAD_COLS;
    } else if (!strcmp(s, "embeddings") || !strcmp(s, "ln_pre") || !strcmp(s, "attn_pool.kv_proj") ||
               !strcmp(s, "attn_pool.ln_kv")) { /* [B, L, W] */
        b = c[0];
        tok = c[1];
    } else if (!strcmp(s, "abs_pos") || !strcmp(s, "attn_pool.abs_pos")) {
        tok = c[0];
    } else if (!strcmp(s, "attn_pool.attn.key_in")) {
        tok = c[0];
        b = c[1];
        *att = ATT_HEAD_COLS;
    } else if (!strcmp(s, "conv1") && ref->ndim == 4) {
        b = c[0];
        o->h = c[2];
        o->w = c[3];
    } else if (!strcmp(s, "attn_pool.ln_q") || !strcmp(s, "attn_pool.pos_embed")) {
        query = c[0];
    } else if (!strcmp(s, "attn_pool.attn.query_in") || !strcmp(s, "attn_pool.attn")) {
        query = c[0];
        b = c[1];
        if (!strcmp(s, "attn_pool.attn.query_in")) *att = ATT_HEAD_COLS;
    } else if (!strcmp(s, "attn_pool") || !strcmp(s, "ln_post") || !strcmp(s, "") || !strcmp(name, "transformer.visual")) {
        b = c[0];
        query = c[1];
    } else if (!strcmp(s, "attn_pool.attn.weights") && ref->ndim == 3) {
        b = c[0];
        query = c[1];
        tok = c[2];
    } else {
        return;
    }
    if (!strcmp(name, "transformer.visual") && ref->ndim == 3) {
        b = c[0];
        query = c[1];
    }
    if (b >= 0) snprintf(o->input, sizeof o->input, "image.%lld", (long long)b);
    if (tok >= 0 && g > 0 && tok < g * g) {
        o->row = tok;
        o->h = tok / g;
        o->w = tok % g;
    }
    if (query >= 0 && qg > 0) {
        o->query = query;
        o->query_grid = (int)qg;
    }
    if (*att != ATT_NONE && b >= 0) {
        o->segment = (int)b;
        o->n_segments = ref->ndim == 3 ? (int)ref->shape[1] : 0;
        o->seg_source = "batch";
    }
}

/* ======================================== the entry ======================================== */

static void heads_of(const vt_locator *l, const char *name, int att, const vt_tensor *ref, const int64_t *c,
                     vt_location *o)
{
    const int64_t last = c[ref->ndim - 1], width = ref->shape[ref->ndim - 1];
    int64_t H = l->heads, D = l->head_dim;
    if (att == ATT_HEAD_AXIS && ref->ndim == 3) {
        o->head = (int)c[1];
        o->n_heads = (int)ref->shape[1];
        return;
    }
    if (l->fam == FAM_QWENVL && strstr(name, "attn_pool") && l->qvl_pool_hd) { /* the Resampler's heads of 128 */
        D = l->qvl_pool_hd;
        H = width / D;
    }
    if (H <= 0 || D <= 0) return;
    if (att == ATT_HEAD_COLS && width == H * D) {
        o->head = (int)(last / D);
        o->n_heads = (int)H;
    } else if (att == ATT_QKV_GLOBAL && width == 3 * H * D) {
        o->part = "qkv"[last / (H * D)];
        o->head = (int)((last % (H * D)) / D);
        o->n_heads = (int)H;
    } else if (att == ATT_QKV_PER_HEAD && width == 3 * H * D) {
        o->head = (int)(last / (3 * D));
        o->part = "qkv"[(last % (3 * D)) / D];
        o->n_heads = (int)H;
    }
}

static void segments_of(const vt_locator *l, vt_location *o)
{
    if (o->row < 0 || l->fam == FAM_QWENVL) return;
    /* in window order the image boundaries are the same rows: window_index permutes inside each image */
    if (l->cu) {
        int64_t lo, hi;
        int s = find_segment(l->cu, l->n_cu, o->row, &lo, &hi);
        if (s >= 0) {
            o->segment = s;
            o->n_segments = (int)(l->n_cu - 1);
            o->seg_lo = lo;
            o->seg_hi = hi;
            o->seg_source = l->cu_name;
            name_segment(l, lo, o->seg_input, sizeof o->seg_input);
        }
    }
    if (l->cuw && l->fam == FAM_QWEN25) {
        int64_t lo, hi;
        int w = find_segment(l->cuw, l->n_cuw, o->row, &lo, &hi);
        if (w >= 0) {
            o->window = w;
            o->n_windows = (int)(l->n_cuw - 1);
            o->win_lo = lo;
            o->win_hi = hi;
        }
        if (l->have_fullatt && o->block >= 0) {
            o->block_attention = 0;
            for (int j = 0; j < l->n_fullatt; j++)
                if (l->fullatt[j] == o->block) o->block_attention = 1;
        }
    }
}

#define APPEND(...)                                                                                             \
    do {                                                                                                        \
        if (len < (int)sizeof o->text) len += snprintf(o->text + len, sizeof o->text - (size_t)len, __VA_ARGS__); \
    } while (0)

/* "patch (t 0, h 3, w 5)", "patches (t 0, h 2-3, w 4-5)" for a merged token, no t for Kimi-VL / Qwen-VL */
static void patch_text(const vt_location *o, char *b, size_t n)
{
    char t[40] = "";
    if (o->t >= 0) snprintf(t, sizeof t, "t %lld, ", (long long)o->t);
    if (o->merged)
        snprintf(b, n, "patches (%sh %lld-%lld, w %lld-%lld)", t, (long long)o->h, (long long)(o->h + o->merge - 1),
                 (long long)o->w, (long long)(o->w + o->merge - 1));
    else
        snprintf(b, n, "patch (%sh %lld, w %lld)", t, (long long)o->h, (long long)o->w);
}

/* The location as one line: where in the tensor -> which input and patch; head; segment / window. */
static void describe(const vt_locator *l, vt_location *o)
{
    int len = 0;
    char patch[96] = "";
    if (o->h >= 0) patch_text(o, patch, sizeof patch);
    if (o->pixel_y >= 0) {
        APPEND("pixel (y %lld, x %lld) -> %s, %s", (long long)o->pixel_y, (long long)o->pixel_x, o->input, patch);
    } else if (l->fam == FAM_QWENVL) {
        if (o->query >= 0)
            APPEND("query %lld = (%lld, %lld) of the %dx%d query grid", (long long)o->query,
                   (long long)(o->query / o->query_grid), (long long)(o->query % o->query_grid), o->query_grid,
                   o->query_grid);
        if (o->row >= 0 && o->query != o->row) APPEND("%stoken %lld", len ? ", key " : "", (long long)o->row);
        if (o->input[0]) APPEND("%s%s", len ? " of " : "", o->input);
        if (patch[0]) APPEND(" -> %s", patch);
    } else if (o->row >= 0 && o->input[0]) {
        if (o->token >= 0 && o->window_order)
            APPEND("row %lld in window order = merged token %lld (visual.window_index)", (long long)o->row,
                   (long long)o->token);
        else if (o->token >= 0) APPEND("merged token %lld", (long long)o->token);
        else if (o->window_order) APPEND("row %lld in window order (mapped back through visual.window_index)", (long long)o->row);
        else APPEND("row %lld", (long long)o->row);
        if (o->sub >= 0) APPEND(", sub-patch %lld", (long long)o->sub);
        APPEND(" -> %s, %s", o->input, patch);
    }
    const char *sep = len ? "; " : "";
    if (o->head >= 0) {
        APPEND("%shead %d of %d", sep, o->head, o->n_heads);
        if (o->part) APPEND(" (%c)", o->part);
        sep = "; ";
    }
    if (o->seg_source && !strcmp(o->seg_source, "batch")) {
        APPEND("%simage %d of the batch (each image attends only to itself)", sep, o->segment);
    } else if (o->segment >= 0 && o->seg_source) {
        if (o->window >= 0) {
            APPEND("%swindow %d of %d (visual.cu_window_seqlens rows [%lld, %lld))", sep, o->window, o->n_windows,
                   (long long)o->win_lo, (long long)o->win_hi);
            sep = ", ";
        }
        APPEND("%ssegment %d of %d = %s (%s rows [%lld, %lld))", sep, o->segment, o->n_segments, o->seg_input,
               o->seg_source, (long long)o->seg_lo, (long long)o->seg_hi);
        if (o->block_attention >= 0)
            APPEND("; block %d attends %s", o->block,
                   o->block_attention ? "over the whole segment (in fullatt_block_indexes)"
                                      : "within the window (not in fullatt_block_indexes)");
    }
}

void vt_locate(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *o)
{
    memset(o, 0, sizeof *o);
    o->row = o->t = o->h = o->w = o->pixel_y = o->pixel_x = o->query = o->token = o->sub = -1;
    o->head = o->segment = o->window = o->block = o->block_attention = -1;
    if (!l || flat < 0 || ref->ndim < 1) return;
    o->merge = l->merge;
    int64_t c[VT_MAX_DIMS], f = flat;
    for (int d = ref->ndim - 1; d >= 0; d--) {
        int64_t s = ref->shape[d] ? ref->shape[d] : 1;
        c[d] = f % s;
        f /= s;
    }
    int att = ATT_NONE;
    if (l->fam == FAM_QWEN2 || l->fam == FAM_QWEN25) locate_qwen2(l, name, ref, c, o, &att);
    else if (l->fam == FAM_KIMI) locate_kimi(l, name, ref, c, o, &att);
    else if (l->fam == FAM_QWENVL) locate_qwenvl(l, name, ref, c, o, &att);
    if (att != ATT_NONE) {
        heads_of(l, name, att, ref, c, o);
        segments_of(l, o);
    }
    describe(l, o);
    o->valid = o->text[0] != 0;
}
