/*
 * locate_lm.c -- where an element of a language-model / generate tensor sits (see locate.h): the token of
 * the prompt (and, for an image or video pad, its merged token on that input's grid, through loc_token),
 * the decoder layer, the attention head, the rotary channel and the axis mrope_section gives it; for the
 * decoding tensors, the step. Used for traces of `vlmtrace generate` and the e2e goldens, which hold the
 * tower's tensors (loc_qwen2) and these.
 *
 * Legend: B batch rows (1), L prompt tokens, C hidden / projection width, H query heads, G key/value heads,
 * hd head_dim, n generated tokens, V vocabulary.
 *
 *   model.embed_tokens, inputs_embeds, model.norm, lm_head     [B, L, C]       token (b, l)
 *   model.layers.{i}.*                                         [B, L, C]       token; q_proj / self_attn.out:
 *                                                                              head c / hd of H; k_proj / v_proj:
 *                                                                              key/value head c / hd of G
 *   model.layers.{i}.self_attn.q_rope / k_rope                 [B, H|G, L, hd] head, token, rotary channel
 *   model.rotary_emb.cos / sin (before the mrope_section split) [3, B, L, hd]  axis table, token, channel
 *   input_ids, position_ids, rope_deltas, mrope.cos / sin      as in M-RoPE traces (loc_rope)
 *   generate.logits                                            [n, V]          step j: the logits at sequence
 *                                                                              position L - 1 + j
 *   generated_ids                                              [B, n]          generated token j, position L + j
 *   generate.position_ids                                      [3, B, L + n]   axis, token (prompt or generated)
 */
#include "diff/locate_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "model.layers.3.mlp" -> 3 and *rest = "mlp"; -1 if the name is not a layer's */
static int layer_index(const char *name, const char **rest)
{
    int i = -1, len = 0;
    if (sscanf(name, "model.layers.%d%n", &i, &len) != 1 || i < 0) return -1;
    *rest = name[len] == '.' ? name + len + 1 : name + len;
    return i;
}

/* ======================================== tokens ======================================== */

/* M-RoPE / language-model traces: every run of image (video) pad tokens in input_ids is one image (video),
 * in the order get_rope_index consumes them (over the batch rows in turn). Its merged grid comes from
 * image_grid_thw / video_grid_thw when the trace has them, else from the reference's own position_ids
 * (the h and w ranges of the run). Each pad token becomes merged token j of its input, row-major (t, h, w)
 * as get_rope_index lays the run out. In a generate trace the tower's inputs are already there (from its
 * grids): the k-th run of image pads is image.k when its length is that input's merged tokens. */
int loc_token_spans(vt_locator *l, const vt_manifest *m, vt_status *st)
{
    if (!l->ids || l->ids_B <= 0 || l->tok_image < 0) return VT_OK;
    const int64_t BL = l->ids_B * l->ids_L;
    int64_t *gi = NULL, *gv = NULL, *pos = NULL, ngi = 0, ngv = 0, npos = 0, ci = 0, cv = 0;
    int rc = loc_load_ints(m, "image_grid_thw", &gi, &ngi, &ci, st);
    if (rc == VT_OK) rc = loc_load_ints(m, "video_grid_thw", &gv, &ngv, &cv, st);
    if (rc == VT_OK) rc = loc_load_ints(m, "position_ids", &pos, &npos, NULL, st);
    l->tok_input = malloc((size_t)BL * sizeof *l->tok_input);
    l->tok_local = malloc((size_t)BL * sizeof *l->tok_local);
    if (rc == VT_OK && (!l->tok_input || !l->tok_local)) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    const int64_t mg = l->merge;
    int n_img = 0, n_vid = 0;
    for (int64_t i = 0; rc == VT_OK && i < BL; i++) l->tok_input[i] = -1, l->tok_local[i] = -1;
    for (int64_t b = 0; rc == VT_OK && b < l->ids_B; b++) {
        const int64_t *row = l->ids + b * l->ids_L;
        for (int64_t s = 0; s < l->ids_L && rc == VT_OK;) {
            const int64_t id = row[s];
            if (id != l->tok_image && id != l->tok_video) {
                s++;
                continue;
            }
            int64_t e = s;
            while (e < l->ids_L && row[e] == id) e++;
            const int video = id == l->tok_video;
            const int k = video ? n_vid++ : n_img++;
            const int64_t *g = video ? gv : gi, ng = video ? ngv / 3 : ngi / 3;
            int64_t gt = 0, gh = 0, gw = 0; /* merged grid */
            const int64_t n = e - s; /* a grid of more cells than the run has tokens cannot be it */
            if (g && (video ? cv : ci) == 3 && k < ng && g[k * 3] >= 1 && g[k * 3] <= n && g[k * 3 + 1] >= mg &&
                g[k * 3 + 1] <= mg * n && g[k * 3 + 2] >= mg && g[k * 3 + 2] <= mg * n && g[k * 3 + 1] % mg == 0 &&
                g[k * 3 + 2] % mg == 0) {
                gt = g[k * 3];
                gh = g[k * 3 + 1] / mg;
                gw = g[k * 3 + 2] / mg;
                if (gt * gh > n) gt = 0; /* (each <= n: no overflow) */
            } else if (pos && npos == 3 * BL) {
                int64_t h0 = INT64_MAX, h1 = INT64_MIN, w0 = INT64_MAX, w1 = INT64_MIN;
                for (int64_t j = s; j < e; j++) {
                    int64_t ph = pos[BL + b * l->ids_L + j], pw = pos[2 * BL + b * l->ids_L + j];
                    h0 = ph < h0 ? ph : h0, h1 = ph > h1 ? ph : h1, w0 = pw < w0 ? pw : w0, w1 = pw > w1 ? pw : w1;
                }
                /* position ids are the reference's, but may be anything: ranges wider than the run are no grid */
                gh = h1 >= h0 && (uint64_t)h1 - (uint64_t)h0 < (uint64_t)n ? h1 - h0 + 1 : 0;
                gw = w1 >= w0 && (uint64_t)w1 - (uint64_t)w0 < (uint64_t)n ? w1 - w0 + 1 : 0;
                gt = gh > 0 && gw > 0 && gh * gw <= n ? n / (gh * gw) : 0;
            }
            if (l->fam != FAM_ROPE) { /* a generate trace: image.k / video.k of the tower */
                char want[24];
                snprintf(want, sizeof want, "%s.%d", video ? "video" : "image", k);
                for (int i = 0; i < l->n_in; i++)
                    if (!strcmp(l->in[i].name, want) && l->in[i].t * l->in[i].h * l->in[i].w == n * mg * mg)
                        for (int64_t j = s; j < e; j++) {
                            l->tok_input[b * l->ids_L + j] = i;
                            l->tok_local[b * l->ids_L + j] = j - s;
                        }
            } else if (gt > 0 && gh > 0 && gw > 0 && gt * gh <= n && gt * gh * gw == n) {
                int before = l->n_in;
                rc = loc_add_input(l, video ? "video" : "image", k, gt, gh * mg, gw * mg, st);
                if (rc == VT_OK && l->n_in > before)
                    for (int64_t j = s; j < e; j++) {
                        l->tok_input[b * l->ids_L + j] = l->n_in - 1;
                        l->tok_local[b * l->ids_L + j] = j - s;
                    }
            }
            s = e;
        }
    }
    free(gi);
    free(gv);
    free(pos);
    return rc;
}

void loc_token(const vt_locator *l, int64_t b, int64_t tok, vt_location *o)
{
    o->seq = b;
    o->pos = tok;
    o->row = tok;
    if (!l->ids || b < 0 || tok < 0 || b >= l->ids_B || tok >= l->ids_L) return;
    const int64_t id = l->ids[b * l->ids_L + tok];
    o->token_kind = id == l->tok_image ? 'i' : id == l->tok_video ? 'v' : id == l->tok_vstart ? 's'
                  : id == l->tok_vend ? 'e' : l->tok_image >= 0 ? 't' : 0;
    if (l->tok_input && l->tok_input[b * l->ids_L + tok] >= 0) {
        const loc_input *p = &l->in[l->tok_input[b * l->ids_L + tok]];
        loc_merged_patch(l, p->mrow0 + l->tok_local[b * l->ids_L + tok], -1, o);
        o->token = -1; /* the merged token is named by its input and patches, not by a tower row */
    }
}

/* A generate trace: input_ids [B, L], and the decoder's heads from the first layer's q_rope [B, H, L, hd]
 * and k_rope [B, G, L, hd]. Nothing when the trace has no input_ids (a `run` trace). */
int loc_lm_build(vt_locator *l, const vt_manifest *m, vt_status *st)
{
    int64_t cols = 0;
    VT_TRY(loc_load_ints(m, "input_ids", &l->ids, &l->ids_L, &cols, st));
    if (!l->ids) return VT_OK;
    if (cols <= 0 || l->ids_L % cols) { /* not [B, L]: no tokens known */
        free(l->ids);
        l->ids = NULL;
        l->ids_L = 0;
        return VT_OK;
    }
    l->ids_B = l->ids_L / cols;
    l->ids_L = cols;
    for (int i = 0; i < m->n; i++) {
        const vt_manifest_entry *e = &m->t[i];
        const char *rest = "";
        if (layer_index(e->name, &rest) < 0 || e->ndim != 4 || e->shape[1] <= 0 || e->shape[3] <= 0) continue;
        if (!strcmp(rest, "self_attn.q_rope") && !l->lm_heads) l->lm_heads = (int)e->shape[1], l->lm_head_dim = (int)e->shape[3];
        if (!strcmp(rest, "self_attn.k_rope") && !l->lm_kv_heads) l->lm_kv_heads = (int)e->shape[1];
    }
    return VT_OK;
}

/* ======================================== the tensors ======================================== */

/* Tensors this file places: 1 for the names above (loc_rope's included), 0 otherwise. */
static int is_lm_name(const char *name)
{
    static const char *const exact[] = {"model.embed_tokens", "inputs_embeds", "model.norm", "lm_head",
                                        "generate.logits", "generated_ids", "generate.position_ids",
                                        "input_ids", "position_ids", "rope_deltas", NULL};
    for (int k = 0; exact[k]; k++)
        if (!strcmp(name, exact[k])) return 1;
    return !strncmp(name, "model.layers.", 13) || !strncmp(name, "model.rotary_emb.", 17) || !strncmp(name, "mrope.", 6);
}

#define LAPPEND(...)                                                                                            \
    do {                                                                                                        \
        if (len < (int)sizeof o->text) len += snprintf(o->text + len, sizeof o->text - (size_t)len, __VA_ARGS__); \
    } while (0)

int loc_lm(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int text)
{
    if (!is_lm_name(name)) return 0;
    if (!strcmp(name, "input_ids") || !strcmp(name, "position_ids") || !strcmp(name, "rope_deltas") ||
        !strncmp(name, "mrope.", 6)) {
        loc_rope(l, name, ref, c, o, text); /* the M-RoPE trace's own tensors, the same layouts */
        return 1;
    }
    const int64_t L = l->ids_L;
    int64_t b = -1, tok = -1, axis = -1, ch = -1, step = -1, heads = 0, head = -1;
    int kv = 0;
    const char *rest = "";
    const int layer = layer_index(name, &rest);
    if (layer >= 0 && (!strcmp(rest, "self_attn.q_rope") || !strcmp(rest, "self_attn.k_rope")) && ref->ndim == 4) {
        b = c[0], head = c[1], heads = ref->shape[1], tok = c[2], ch = c[3];
        kv = rest[10] == 'k';
    } else if (!strncmp(name, "model.rotary_emb.", 17) && ref->ndim == 4) {
        axis = c[0], b = c[1], tok = c[2], ch = c[3];
    } else if (!strcmp(name, "generate.logits") && ref->ndim == 2) {
        b = 0, step = c[0], tok = L - 1 + step;
    } else if (!strcmp(name, "generated_ids") && ref->ndim == 2) {
        b = c[0], step = c[1], tok = L + step;
    } else if (!strcmp(name, "generate.position_ids") && ref->ndim == 3) {
        axis = c[0], b = c[1], tok = c[2];
        if (tok >= L) step = tok - L;
    } else if (ref->ndim == 3) { /* [B, L, C] */
        b = c[0], tok = c[1];
        const int64_t hd = l->lm_head_dim, C = ref->shape[2];
        if (layer >= 0 && hd > 0 && C % hd == 0 &&
            (!strcmp(rest, "self_attn.q_proj") || !strcmp(rest, "self_attn.out") || !strcmp(rest, "self_attn.k_proj") ||
             !strcmp(rest, "self_attn.v_proj"))) {
            head = c[2] / hd, heads = C / hd;
            kv = rest[10] == 'k' || rest[10] == 'v';
        }
    } else {
        return 1; /* a name of this family in a layout it does not have: nothing known */
    }
    if (tok < 0 || b < 0) return 1;
    if (tok < L) loc_token(l, b, tok, o);
    else o->seq = b, o->pos = tok, o->row = tok, o->token_kind = 'g';
    o->block = layer;
    if (head >= 0) o->head = (int)head, o->n_heads = (int)heads;
    if (!text) return 1;
    int len = 0;
    if (axis >= 0) LAPPEND("axis %c, ", "thw"[axis % 3]);
    if (step >= 0 && !strcmp(name, "generate.logits"))
        LAPPEND("step %lld: the logits at row %lld, token %lld (%s) that chose generated token %lld", (long long)step,
                (long long)b, (long long)tok, step == 0 ? "the last of the prompt" : "a generated token", (long long)step);
    else if (step >= 0)
        LAPPEND("row %lld, token %lld = generated token %lld", (long long)b, (long long)tok, (long long)step);
    else {
        LAPPEND("row %lld, token %lld", (long long)b, (long long)tok);
        const char k = o->token_kind;
        if (k) LAPPEND(" (%s)", k == 'i' ? "an image token" : k == 'v' ? "a video token" : k == 's' ? "vision_start"
                                : k == 'e' ? "vision_end" : "text");
        if (o->input[0] && o->h >= 0) {
            char patch[96];
            loc_patch_text(o, patch, sizeof patch);
            LAPPEND(" -> %s, %s", o->input, patch);
        }
    }
    if (layer >= 0) LAPPEND("; layer %d", layer);
    if (head >= 0) LAPPEND("; %shead %lld of %lld", kv ? "key/value " : "", (long long)head, (long long)heads);
    if (ch >= 0) {
        const int64_t half = ref->shape[ref->ndim - 1] / 2;
        LAPPEND("; ");
        len += loc_channel_text(l, ch, half, o->text + len, len < (int)sizeof o->text ? sizeof o->text - (size_t)len : 0);
        const int used = loc_channel_axis(l, ch, half);
        if (axis >= 0 && used >= 0 && used != axis % 3) /* model.rotary_emb: a table entry the split drops */
            LAPPEND(" (the split takes this channel from the %c table: this %c entry is not used)", "thw"[used],
                    "thw"[axis % 3]);
    }
    return 1;
}

#undef LAPPEND
