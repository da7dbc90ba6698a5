/*
 * locate.c -- element -> (input, patch, head, segment / window) for the diff report (see locate.h): the
 * locator built from the reference trace, rows to patches, heads and segments, the one-line description.
 * Which tensor has which row order is per family, in locate_families.c.
 */
#include "diff/locate_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================== the locator ======================================== */

/* An integer tensor of the manifest as int64 values (malloc'd), *vals NULL when absent. */
int loc_load_ints(const vt_manifest *m, const char *name, int64_t **vals, int64_t *n, int64_t *cols,
                     vt_status *st)
{
    *vals = NULL;
    *n = 0;
    const vt_manifest_entry *e = vt_manifest_find(m, name);
    if (!e || e->dtype == VT_F32 || e->ndim < 1 || e->ndim > 3) return VT_OK;
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
    if (cols) *cols = e->ndim >= 2 ? e->shape[e->ndim - 1] : 1;
    return VT_OK;
}

int loc_add_input(vt_locator *l, const char *kind, int k, int64_t t, int64_t h, int64_t w, vt_status *st)
{
    /* a grid that cannot be real (or would overflow the row arithmetic): know less rather than fail */
    const int64_t lim = (int64_t)1 << 24;
    if (t < 1 || h < 1 || w < 1 || t > lim || h > lim || w > lim || t * h > lim || t * h * w > lim ||
        l->N > ((int64_t)1 << 40) || l->n_in >= LOC_MAX_INPUTS)
        return VT_OK;
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
    VT_TRY(loc_load_ints(m, name, &g, &n, &cols, st));
    if (!g) return VT_OK;
    int rc = VT_OK;
    for (int64_t r = 0; cols >= 2 && r < n / cols && rc == VT_OK; r++) {
        const int64_t *row = g + r * cols;
        rc = cols == 3 ? loc_add_input(l, kind, (int)r, row[0], row[1], row[2], st) : loc_add_input(l, kind, (int)r, 1, row[0], row[1], st);
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
        VT_TRY(loc_load_ints(m, name, &g, &n, NULL, st));
        if (!g) return VT_OK;
        int rc = n == 3 ? loc_add_input(l, kind, k, g[0], g[1], g[2], st) : VT_OK;
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
            l->n_fullatt = c->qwen25vl.n_fullatt;
            memcpy(l->fullatt, c->qwen25vl.fullatt_block_indexes, sizeof l->fullatt);
            l->have_fullatt = 1;
        }
        if (!l->heads && l->fam != FAM_ROPE &&
            (c->family == VT_FAMILY_QWEN2VL || c->family == VT_FAMILY_QWEN25VL || c->family == VT_FAMILY_QWEN3VL) &&
            vt_model_vision(c)->num_heads > 0) {
            l->heads = vt_model_vision(c)->num_heads;
            l->head_dim = vt_model_vision(c)->embed_dim / vt_model_vision(c)->num_heads;
        }
        if (!l->heads && l->fam == FAM_KIMI && c->family == VT_FAMILY_KIMIVL && c->kimivl.num_attention_heads > 0) {
            l->heads = c->kimivl.num_attention_heads;
            l->head_dim = c->kimivl.hidden_size / c->kimivl.num_attention_heads;
        }
        if ((l->fam == FAM_ROPE || l->ids) && /* M-RoPE traces, and the language model's in a generate trace */
            (c->family == VT_FAMILY_QWEN2VL || c->family == VT_FAMILY_QWEN25VL || c->family == VT_FAMILY_QWEN3VL)) {
            memcpy(l->mrope_section, c->text.mrope_section, sizeof l->mrope_section);
            l->have_section = 1;
            l->interleaved = c->text.interleaved;
            l->tok_image = c->text.image_token_id;
            l->tok_video = c->text.video_token_id;
            l->tok_vstart = c->text.vision_start_token_id;
            l->tok_vend = c->text.vision_end_token_id;
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
    l->tok_image = l->tok_video = l->tok_vstart = l->tok_vend = -1;
    if (vt_manifest_find(m, "position_ids") && !has_prefix(m, "visual.")) l->fam = FAM_ROPE;
    else if (vt_manifest_find(m, "visual.window_index")) l->fam = FAM_QWEN25;
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
        if (rc == VT_OK) rc = loc_load_ints(m, "visual.cu_seqlens", &l->cu, &l->n_cu, NULL, st);
        l->cu_name = "visual.cu_seqlens";
        if (rc == VT_OK) rc = loc_load_ints(m, "visual.window_index", &l->window_index, &l->n_wi, NULL, st);
        if (rc == VT_OK) rc = loc_load_ints(m, "visual.cu_window_seqlens", &l->cuw, &l->n_cuw, NULL, st);
        if (rc == VT_OK) rc = loc_lm_build(l, m, st); /* generate traces: input_ids, the decoder's heads */
    } else if (l->fam == FAM_KIMI) {
        rc = add_grid_rows(l, m, "image_grid_hws", "image", st);
        l->n_images = l->n_in;
        const vt_manifest_entry *e = vt_manifest_find(m, "vision_tower.patch_merger");
        if (e && e->ndim == 3) {
            int64_t r = isqrt64(e->shape[1]);
            if (r * r == e->shape[1] && r >= 1) l->merge = (int)r;
        }
        if (rc == VT_OK) rc = loc_load_ints(m, "vision_tower.encoder.cu_seqlens", &l->cu, &l->n_cu, NULL, st);
        l->cu_name = "vision_tower.encoder.cu_seqlens";
    } else if (l->fam == FAM_ROPE) {
        int64_t cols = 0;
        rc = loc_load_ints(m, "input_ids", &l->ids, &l->ids_L, &cols, st);
        if (l->ids && cols > 0) {
            l->ids_B = l->ids_L / cols;
            l->ids_L = cols;
        }
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
    for (int i = 0; i < m->n && !l->heads && l->fam != FAM_ROPE; i++) {
        size_t n = strlen(m->t[i].name);
        if (n >= 6 && !strcmp(m->t[i].name + n - 6, "q_rope") && m->t[i].ndim == 3 && m->t[i].shape[1] > 0) {
            l->heads = (int)m->t[i].shape[1];
            l->head_dim = (int)m->t[i].shape[2];
        }
    }
    read_config(l, m);
    if ((l->fam == FAM_ROPE || l->ids) && (rc = loc_token_spans(l, m, st)) != VT_OK) {
        vt_locator_free(l);
        return rc;
    }
    const int64_t U = (int64_t)l->merge * l->merge;
    for (int i = 0; i < l->n_in; i++) l->in[i].mrow0 = l->in[i].row0 / U;
    if (l->window_index && l->cuw && l->n_wi == l->N / U && l->n_wi > 0) {
        /* window-order merged row r sits in window w (cu_window_seqlens counts patch rows); it is merged
         * token window_index[r] of the original order */
        if (!(l->win_of_merged = malloc((size_t)l->n_wi * sizeof *l->win_of_merged))) {
            vt_locator_free(l);
            return vt_fail(st, VT_ERESOURCE, "out of memory");
        }
        for (int64_t r = 0; r < l->n_wi; r++) l->win_of_merged[r] = -1;
        for (int64_t r = 0; r < l->n_wi; r++) {
            int64_t u = l->window_index[r];
            if (u < 0 || u >= l->n_wi) continue;
            for (int64_t w = 0; w + 1 < l->n_cuw; w++)
                if (r * U >= l->cuw[w] && r * U < l->cuw[w + 1]) l->win_of_merged[u] = (int)w;
        }
    }

    static const char *const fam_names[] = {"unknown layout", "Qwen2-VL", "Qwen2.5-VL", "Kimi-VL", "Qwen-VL", "M-RoPE"};
    const int qwen3 = l->fam == FAM_QWEN2 && vt_manifest_find(m, "visual.pos_embed.interp_indices");
    int len = snprintf(l->summary, sizeof l->summary, "%s", qwen3 ? "Qwen3-VL" : fam_names[l->fam]);
    if (l->n_in && l->fam != FAM_ROPE)
        len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %d input(s) (%lld patch rows)", l->n_in,
                        (long long)l->N);
    if (l->cu) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %s", l->cu_name);
    if (l->cuw) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", visual.cu_window_seqlens");
    if (l->window_index) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", visual.window_index");
    if (l->heads) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", %d heads of %d", l->heads, l->head_dim);
    if (l->ids) len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", input_ids [%lld, %lld]",
                                (long long)l->ids_B, (long long)l->ids_L);
    if (l->lm_heads)
        len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", language model %d heads (%d key/value) of %d",
                        l->lm_heads, l->lm_kv_heads, l->lm_head_dim);
    if (l->have_section)
        len += snprintf(l->summary + len, sizeof l->summary - (size_t)len, ", mrope_section [%d, %d, %d] (config.json)",
                        l->mrope_section[0], l->mrope_section[1], l->mrope_section[2]);
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
    free(l->ids);
    free(l->tok_input);
    free(l->tok_local);
    free(l->win_of_merged);
    free(l);
}

const char *vt_locator_summary(const vt_locator *l) { return l ? l->summary : "no locator"; }

int vt_locator_input(const vt_locator *l, int i, const char **name, int64_t *t, int64_t *h, int64_t *w)
{
    if (!l || i < 0 || i >= l->n_in) return 0;
    *name = l->in[i].name;
    *t = l->in[i].t;
    *h = l->in[i].h;
    *w = l->in[i].w;
    return 1;
}

int vt_locator_merge(const vt_locator *l) { return l ? l->merge : 2; }

int vt_locator_mrope_section(const vt_locator *l, int sec[3])
{
    if (!l || !l->have_section) return 0;
    memcpy(sec, l->mrope_section, sizeof l->mrope_section);
    return 1;
}

int vt_locate_window(const vt_locator *l, const char *input, int64_t t, int64_t h, int64_t w)
{
    if (!l || !l->win_of_merged) return -1;
    const int64_t m = l->merge;
    for (int i = 0; i < l->n_in; i++) {
        const loc_input *p = &l->in[i];
        if (strcmp(p->name, input) != 0) continue;
        if (t < 0 || h < 0 || w < 0 || t >= p->t || h >= p->h || w >= p->w || p->h % m || p->w % m) return -1;
        int64_t u = p->mrow0 + t * (p->h / m) * (p->w / m) + (h / m) * (p->w / m) + w / m;
        return u < l->n_wi ? l->win_of_merged[u] : -1;
    }
    return -1;
}

/* ======================================== rows -> patches ======================================== */

/* The input holding patch row r (or merged token r when merged), -1 if none. */
int loc_input_of(const vt_locator *l, int64_t r, int merged)
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
void loc_local_patch(const vt_locator *l, int i, int64_t j, int merge_order, vt_location *o)
{
    const loc_input *p = &l->in[i];
    const int64_t m = l->merge, U = m * m;
    snprintf(o->input, sizeof o->input, "%s", p->name);
    o->grid_h = p->h;
    o->grid_w = p->w;
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
void loc_merged_patch(const vt_locator *l, int64_t u, int64_t sub, vt_location *o)
{
    int i = loc_input_of(l, u, 1);
    if (i < 0) return;
    const loc_input *p = &l->in[i];
    const int64_t m = l->merge, b = u - p->mrow0, per_t = (p->h / m) * (p->w / m);
    if (per_t <= 0) return; /* a grid smaller than one merge block: no merged tokens to name */
    snprintf(o->input, sizeof o->input, "%s", p->name);
    o->grid_h = p->h;
    o->grid_w = p->w;
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
static void loc_name_segment(const vt_locator *l, int64_t lo, char *buf, size_t n)
{
    int i = loc_input_of(l, lo, 0);
    if (i < 0) {
        snprintf(buf, n, "?");
        return;
    }
    const loc_input *p = &l->in[i];
    if (p->t > 1) snprintf(buf, n, "%s t %lld", p->name, (long long)((lo - p->row0) / (p->h * p->w)));
    else snprintf(buf, n, "%s", p->name);
}

static int loc_find_segment(const int64_t *cu, int64_t n_cu, int64_t r, int64_t *lo, int64_t *hi)
{
    for (int64_t s = 0; s + 1 < n_cu; s++)
        if (r >= cu[s] && r < cu[s + 1]) {
            *lo = cu[s];
            *hi = cu[s + 1];
            return (int)s;
        }
    return -1;
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
        int s = loc_find_segment(l->cu, l->n_cu, o->row, &lo, &hi);
        if (s >= 0) {
            o->segment = s;
            o->n_segments = (int)(l->n_cu - 1);
            o->seg_lo = lo;
            o->seg_hi = hi;
            o->seg_source = l->cu_name;
            loc_name_segment(l, lo, o->seg_input, sizeof o->seg_input);
        }
    }
    if (l->cuw && l->fam == FAM_QWEN25) {
        int64_t lo, hi;
        int w = loc_find_segment(l->cuw, l->n_cuw, o->row, &lo, &hi);
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
void loc_patch_text(const vt_location *o, char *b, size_t n)
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
    if (o->h >= 0) loc_patch_text(o, patch, sizeof patch);
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
    } else if (o->row < 0 && o->input[0] && o->h >= 0 && o->sub >= 0) { /* Qwen3-VL interp_indices/_weights */
        APPEND("grid point (h %lld, w %lld) of %s, corner %lld (%s; every temporal patch shares it)", (long long)o->h,
               (long long)o->w, o->input, (long long)o->sub,
               o->sub == 0 ? "floor_h, floor_w" : o->sub == 1 ? "floor_h, ceil_w" : o->sub == 2 ? "ceil_h, floor_w"
                                                                                       : "ceil_h, ceil_w");
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

static void locate(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *o,
                   int text)
{
    memset(o, 0, sizeof *o);
    o->row = o->t = o->h = o->w = o->pixel_y = o->pixel_x = o->query = o->token = o->sub = -1;
    o->head = o->segment = o->window = o->block = o->block_attention = -1;
    o->seq = o->pos = -1;
    if (!l || flat < 0 || ref->ndim < 1) return;
    o->merge = l->merge;
    int64_t c[VT_MAX_DIMS], f = flat;
    for (int d = ref->ndim - 1; d >= 0; d--) {
        int64_t s = ref->shape[d] ? ref->shape[d] : 1;
        c[d] = f % s;
        f /= s;
    }
    int att = ATT_NONE;
    if ((l->fam == FAM_QWEN2 || l->fam == FAM_QWEN25) && l->ids && loc_lm(l, name, ref, c, o, text)) {
        o->valid = text ? o->text[0] != 0 : o->seq >= 0 || o->head >= 0; /* a token of the language model */
        return;
    }
    if (l->fam == FAM_QWEN2 || l->fam == FAM_QWEN25) loc_qwen2(l, name, ref, c, o, &att);
    else if (l->fam == FAM_KIMI) loc_kimi(l, name, ref, c, o, &att);
    else if (l->fam == FAM_QWENVL) loc_qwenvl(l, name, ref, c, o, &att);
    else if (l->fam == FAM_ROPE) {
        loc_rope(l, name, ref, c, o, text);
        o->valid = text ? o->text[0] != 0 : o->seq >= 0 || o->head >= 0;
        return;
    }
    if (att != ATT_NONE) {
        heads_of(l, name, att, ref, c, o);
        segments_of(l, o);
    }
    if (text) {
        describe(l, o);
        o->valid = o->text[0] != 0;
    } else {
        o->valid = o->input[0] || o->head >= 0 || o->query >= 0;
    }
}

void vt_locate(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *o)
{
    locate(l, name, ref, flat, o, 1);
}

void vt_locate_quiet(const vt_locator *l, const char *name, const vt_tensor *ref, int64_t flat, vt_location *o)
{
    locate(l, name, ref, flat, o, 0);
}
