/*
 * locate_families.c -- which row order each traced tensor has, per family (see locate.h): Qwen2-VL /
 * Qwen2.5-VL (2x2 merge-block order, window order), Kimi-VL (row-major per image), Qwen-VL ([L, B, W]),
 * M-RoPE traces ([3, B, L] positions, rotary channels).
 */
#include "diff/locate_impl.h"

#include <stdio.h>
#include <string.h>

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
        loc_local_patch(l, i, c[0], merge_order, o);
    } else if (!strcmp(tail, "resized") || !strcmp(tail, "normalized")) {
        int chw = !strcmp(tail, "normalized");
        int64_t ph = ref->shape[video + (chw ? 1 : 0)], y = c[video + (chw ? 1 : 0)], x = c[video + (chw ? 2 : 1)];
        if (ph <= 0 || ph % p->h != 0) return 1;
        int64_t P = ph / p->h, F = video ? ref->shape[0] : 1, T = (F + p->t - 1) / p->t;
        snprintf(o->input, sizeof o->input, "%s", p->name);
        o->grid_h = p->h;
        o->grid_w = p->w;
        o->pixel_y = y;
        o->pixel_x = x;
        o->t = video ? c[0] / (T ? T : 1) : 0;
        o->h = y / P;
        o->w = x / P;
        if (l->fam == FAM_KIMI) o->t = -1;
    }
    return 1;
}

/* Qwen3-VL's visual.pos_embed.interp_indices / _weights [4, S]: column s is grid point s, row-major per
 * input (a video's temporal patches share one table); row k is the corner. */
static void locate_grid_point(const vt_locator *l, const vt_tensor *ref, const int64_t *c, vt_location *o)
{
    if (ref->ndim != 2 || ref->shape[0] != 4) return;
    int64_t s = c[1];
    for (int i = 0; i < l->n_in; i++) {
        const loc_input *p = &l->in[i];
        if (s >= p->h * p->w) {
            s -= p->h * p->w;
            continue;
        }
        snprintf(o->input, sizeof o->input, "%s", p->name);
        o->grid_h = p->h;
        o->grid_w = p->w;
        o->t = 0;
        o->t_all = p->t; /* the same grid point in every temporal patch of a video */
        o->h = s / p->w;
        o->w = s % p->w;
        o->sub = c[0]; /* the corner */
        return;
    }
}

void loc_qwen2(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o,
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
    else if (!strcmp(name, "visual.pos_embed.interp_indices") || !strcmp(name, "visual.pos_embed.interp_weights")) {
        locate_grid_point(l, ref, c, o); /* Qwen3-VL: [4, S], one column per grid point */
        return;
    } else if (!strcmp(name, "visual.embeddings") || !strcmp(name, "visual.pos_embed.interpolated"))
        space = ROWS_ALL; /* Qwen3-VL, in patch order */
    else if ((o->block = block_index(name, "visual.blocks.")) >= 0 || !strcmp(name, "visual.merger.ln_q") ||
             !strcmp(name, "visual.merger.norm"))
        space = q25 ? ROWS_WINDOW : ROWS_ALL;
    else if (!strncmp(name, "visual.merger.mlp", 17) || !strcmp(name, "visual.merger"))
        space = q25 ? MERGED_WINDOW : MERGED_ALL;
    else if (!strncmp(name, "visual.merger.linear_fc", 23) || !strcmp(name, "visual.merger.act_fn") ||
             !strncmp(name, "visual.deepstack_merger_list.", 29) || !strncmp(name, "visual.deepstack_features.", 26))
        space = MERGED_ALL; /* Qwen3-VL's merger and DeepStack (its .norm is after the 2x2 view: merged rows) */
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
        if (orig < 0 || orig >= l->N / U) return; /* not a permutation of the merged tokens */
        if (merged) loc_merged_patch(l, orig, -1, o);
        else r = orig * U + r % U;
    }
    if (space == MERGED_ALL) loc_merged_patch(l, r, -1, o);
    if (!merged) {
        int i = loc_input_of(l, r, 0);
        if (i >= 0) loc_local_patch(l, i, r - l->in[i].row0, 1, o);
    }
    if (o->block >= 0) {
        if (ends_with(name, ".attn.qkv")) *att = ATT_QKV_GLOBAL;
        else if (ends_with(name, ".attn.q_rope") || ends_with(name, ".attn.k_rope")) *att = ATT_HEAD_AXIS;
        else if (ends_with(name, ".attn.out")) *att = ATT_HEAD_COLS;
    }
}

void loc_kimi(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o,
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
        int i = loc_input_of(l, c[0], 0);
        if (i >= 0) loc_local_patch(l, i, c[0] - l->in[i].row0, 0, o);
        o->t = -1;
        if (o->block >= 0) {
            if (ends_with(name, ".wqkv")) *att = ATT_QKV_GLOBAL;
            else if (ends_with(name, ".q_rope") || ends_with(name, ".k_rope")) *att = ATT_HEAD_AXIS;
            else if (ends_with(name, ".attn_out")) *att = ATT_HEAD_COLS;
        }
    } else if (!strcmp(name, "vision_tower.patch_merger") || !strncmp(name, "multi_modal_projector", 21)) {
        if (ref->shape[0] != l->N / U) return;
        o->row = c[0];
        loc_merged_patch(l, c[0], ref->ndim == 3 && ref->shape[1] == U ? c[1] : -1, o);
        o->t = -1;
    }
}

void loc_qwenvl(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c,
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
    if (o->h >= 0 && g > 0) o->grid_h = o->grid_w = g;
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

/* M-RoPE: [3, B, L] position ids, [B, 1 or H, L, hd] rotary tensors: which token of which row, which
 * axis; for a rotary channel, the frequency and the axis mrope_section gives it. */
void loc_rope(const vt_locator *l, const char *name, const vt_tensor *ref, const int64_t *c, vt_location *o, int text)
{
    int64_t b = -1, tok = -1, axis = -1, head = -1, ch = -1;
    if (!strcmp(name, "position_ids") && ref->ndim == 3) {
        axis = c[0];
        b = c[1];
        tok = c[2];
    } else if ((!strcmp(name, "input_ids") || !strcmp(name, "attention_mask")) && ref->ndim == 2) {
        b = c[0];
        tok = c[1];
    } else if (!strcmp(name, "rope_deltas") && ref->ndim == 2) {
        b = c[0];
    } else if (!strcmp(name, "mrope.freqs_thw") && ref->ndim == 4) { /* Qwen3-VL [3, B, L, hd/2] */
        axis = c[0];
        b = c[1];
        tok = c[2];
        ch = c[3];
    } else if (!strncmp(name, "mrope.", 6) && ref->ndim == 4) {
        b = c[0];
        head = ref->shape[1] > 1 ? c[1] : -1;
        tok = c[2];
        ch = c[3];
    } else if (!strncmp(name, "mrope.", 6) && ref->ndim == 3) { /* Qwen3-VL cos / sin / freqs [B, L, .] */
        b = c[0];
        tok = c[1];
        ch = c[2];
    } else if (!strcmp(name, "mrope.axis") && ref->ndim == 1) {
        ch = c[0];
    } else {
        return;
    }
    if (tok >= 0) loc_token(l, b, tok, o);
    if (head >= 0) {
        o->head = (int)head;
        o->n_heads = (int)ref->shape[1];
    }
    if (!text) return;
    int len = 0;
#define RAPPEND(...) len += snprintf(o->text + len, sizeof o->text - (size_t)len, __VA_ARGS__)
    o->row = tok;
    if (axis >= 0) RAPPEND("axis %c, ", "thw"[axis % 3]);
    if (b >= 0) RAPPEND("row %lld", (long long)b);
    if (tok >= 0) {
        RAPPEND(", token %lld", (long long)tok);
        if (l->ids && b < l->ids_B && tok < l->ids_L) {
            int64_t id = l->ids[b * l->ids_L + tok];
            const char *kind = id == l->tok_image ? "an image token" : id == l->tok_video ? "a video token"
                             : id == l->tok_vstart ? "vision_start" : id == l->tok_vend ? "vision_end" : NULL;
            if (kind) RAPPEND(" (%s)", kind);
            else if (l->tok_image >= 0) RAPPEND(" (text)");
        }
        if (o->input[0] && o->h >= 0) { /* a pad: its merged token on its input's grid */
            char patch[96];
            loc_patch_text(o, patch, sizeof patch);
            RAPPEND(" -> %s, %s", o->input, patch);
        }
    }
    if (head >= 0) {
        RAPPEND("; head %lld of %lld", (long long)head, (long long)ref->shape[1]);
    }
    if (ch >= 0) {
        /* frequencies: J = hd/2 of them; cos / sin / q / k channels are cat(freqs, freqs) */
        const int is_freq = !strcmp(name, "mrope.freqs") || !strcmp(name, "mrope.freqs_thw") || !strcmp(name, "mrope.axis");
        const int64_t half = is_freq ? ref->shape[ref->ndim - 1] : ref->shape[ref->ndim - 1] / 2;
        if (len) RAPPEND("; ");
        if (len < (int)sizeof o->text) len += loc_channel_text(l, ch, half, o->text + len, sizeof o->text - (size_t)len);
    }
#undef RAPPEND
}

int loc_channel_axis(const vt_locator *l, int64_t ch, int64_t half)
{
    const int64_t j = ch % (half ? half : 1);
    const int *sec = l->mrope_section;
    if (!l->have_section || sec[0] + sec[1] + sec[2] != half) return -1;
    if (l->interleaved) return (j % 3 == 1 && j < 3 * sec[1]) ? 1 : (j % 3 == 2 && j < 3 * sec[2]) ? 2 : 0;
    return j < sec[0] ? 0 : j < sec[0] + sec[1] ? 1 : 2;
}

int loc_channel_text(const vt_locator *l, int64_t ch, int64_t half, char *buf, size_t n)
{
    const int64_t j = ch % (half ? half : 1);
    const int *sec = l->mrope_section;
    if (l->have_section && l->interleaved && sec[0] + sec[1] + sec[2] == half) {
        int ax = (j % 3 == 1 && j < 3 * sec[1]) ? 1 : (j % 3 == 2 && j < 3 * sec[2]) ? 2 : 0;
        return snprintf(buf, n, "channel %lld = frequency %lld, which the interleaved mrope_section [%d, %d, %d] gives "
                        "to axis %c", (long long)ch, (long long)j, sec[0], sec[1], sec[2], "thw"[ax]);
    }
    if (l->have_section && sec[0] + sec[1] + sec[2] == half) {
        int ax = j < sec[0] ? 0 : j < sec[0] + sec[1] ? 1 : 2;
        return snprintf(buf, n, "channel %lld = frequency %lld, which mrope_section [%d, %d, %d] gives to axis %c",
                        (long long)ch, (long long)j, sec[0], sec[1], sec[2], "thw"[ax]);
    }
    return snprintf(buf, n, "channel %lld = frequency %lld", (long long)ch, (long long)j);
}
