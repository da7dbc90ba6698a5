/*
 * mrope.c -- M-RoPE (Qwen2-VL, Qwen2.5-VL): get_rope_index and the multimodal rotary (see mrope.h).
 *
 * Dimensions:
 *   B   batch rows                       L   padded sequence length (input_ids.shape[1])
 *   n   tokens of one row kept by the attention mask (L without padding)
 *   T, Hm, Wm   one vision block's grid in merged units: t, h / merge, w / merge (llm_grid_t/h/w)
 *   hd  head_dim (hidden_size / num_attention_heads)      H   heads of q (or kv_heads of k)
 *
 * What get_rope_index does, on "T T <vs> I I I I <ve> T" with a 1x4x4 image (merged 1x2x2):
 *   text        gets (i, i, i) with i counting on from the previous chunk's max + 1;
 *   an image    gets (st + t, st + h, st + w) where st = the position the next text token would have had;
 *   text after  resumes at max(everything so far) + 1, which is smaller than its sequence index.
 *       tokens   T  T  vs I  I  I  I  ve T
 *       t        0  1  2  3  3  3  3  5  6
 *       h        0  1  2  3  3  4  4  5  6
 *       w        0  1  2  3  4  3  4  5  6        rope_deltas = 6 + 1 - 9 = -2
 * Qwen2.5-VL replaces a video's t by long(t * second_per_grid_ts * tokens_per_second) (absolute time).
 *
 * The rotary: inv_freq [hd/2]; per axis a in (t, h, w) freqs = inv_freq * position_a, emb = cat(freqs,
 * freqs) -> cos/sin [3, B, L, hd]; the channel chunks of sizes mrope_section * 2 (e.g. [16,24,24,16,24,24])
 * take their values from axis 0, 1, 2, 0, 1, 2 -> cos/sin [B, 1, L, hd]; q_embed = q cos + rotate_half(q) sin.
 */
#include "mrope/mrope.h"

#include <math.h>
#include <string.h>

#include "core/bugzoo.h"

/* ================================================================================================ */
/* config and input checks                                                                           */
/* ================================================================================================ */

/* Positions far beyond any real sequence: a Qwen2.5-VL time value past this is refused (it would also
 * overflow the float -> int64 conversion that torch's .long() performs). */
#define MROPE_MAX_TIME 1e12

static int check_tensor(const vt_tensor *t, const char *name, vt_dtype dt, int ndim, vt_status *st)
{
    char sb[160];
    if (t->dtype != dt)
        return vt_fail(st, VT_EINPUT, "%s: dtype %s, expected %s", name, vt_dtype_name(t->dtype), vt_dtype_name(dt));
    if (t->ndim != ndim)
        return vt_fail(st, VT_EINPUT, "%s: shape %s, expected %d dimensions", name,
                       vt_shape_str(sb, sizeof sb, t->ndim, t->shape), ndim);
    return VT_OK;
}

static int check_grid(const vt_tensor *g, const char *name, int merge, vt_status *st)
{
    char sb[160];
    VT_TRY(check_tensor(g, name, VT_I64, 2, st));
    if (g->shape[1] != 3)
        return vt_fail(st, VT_EINPUT, "%s: shape %s, expected [n, 3] (t, h, w)", name,
                       vt_shape_str(sb, sizeof sb, g->ndim, g->shape));
    const int64_t *v = vt_i64(g);
    for (int64_t r = 0; r < g->shape[0]; r++) {
        const int64_t *thw = v + 3 * r;
        if (thw[0] < 1 || thw[1] < 1 || thw[2] < 1 || thw[0] > VT_MROPE_MAX_LEN || thw[1] > VT_MROPE_MAX_LEN ||
            thw[2] > VT_MROPE_MAX_LEN)
            return vt_fail(st, VT_EINPUT, "%s[%lld] = [%lld, %lld, %lld]: every entry must be in [1, %d]", name,
                           (long long)r, (long long)thw[0], (long long)thw[1], (long long)thw[2], VT_MROPE_MAX_LEN);
        if (thw[1] % merge || thw[2] % merge)
            return vt_fail(st, VT_EINPUT, "%s[%lld] = [%lld, %lld, %lld]: h and w must be multiples of spatial_merge_size %d",
                           name, (long long)r, (long long)thw[0], (long long)thw[1], (long long)thw[2], merge);
    }
    return VT_OK;
}

/* Tokens of one vision block: t * (h / merge) * (w / merge) (the reference's llm_grid_t * h * w). */
static int64_t block_tokens(const int64_t *thw, int merge)
{
    return thw[0] * (thw[1] / merge) * (thw[2] / merge); /* each factor <= 2^24 and checked: no overflow */
}

/* Walk the kept tokens of every row as get_rope_index will, and check each vision block against its
 * grid row: vision_start, then exactly block_tokens() image (or video) tokens. Grids are consumed in
 * batch order, across rows, as the reference's image_index / video_index are. */
static int check_vision_blocks(const vt_mrope_inputs *in, const vt_mrope_config *tc, int merge, vt_status *st)
{
    const int64_t B = in->input_ids->shape[0], L = in->input_ids->shape[1];
    const int64_t *ids = vt_i64(in->input_ids);
    const int64_t *mask = in->attention_mask ? vt_i64(in->attention_mask) : NULL;
    const int64_t n_img = in->image_grid_thw ? in->image_grid_thw->shape[0] : 0;
    const int64_t n_vid = in->video_grid_thw ? in->video_grid_thw->shape[0] : 0;
    int64_t image_index = 0, video_index = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t *row = ids + b * L;
        const int64_t *mrow = mask ? mask + b * L : NULL;
        int64_t kept = 0;
        /* p walks the row; kept positions only (the reference drops masked tokens first). */
        for (int64_t p = 0; p < L; p++) {
            if (mrow && mrow[p] != 1) continue;
            kept++;
            int64_t tok = row[p];
            if (tok == tc->image_token_id || tok == tc->video_token_id)
                return vt_fail(st, VT_EINPUT, "input_ids[%lld]: %s token at position %lld is not inside a vision block "
                               "(vision_start_token_id %lld, then the image/video tokens)", (long long)b,
                               tok == tc->image_token_id ? "image" : "video", (long long)p,
                               (long long)tc->vision_start_token_id);
            if (tok != tc->vision_start_token_id) continue;
            int64_t q = p + 1; /* the next kept token */
            while (q < L && mrow && mrow[q] != 1) q++;
            if (q >= L)
                return vt_fail(st, VT_EINPUT, "input_ids[%lld]: vision_start token at position %lld ends the sequence "
                               "(the reference reads the token after it)", (long long)b, (long long)p);
            int is_img = row[q] == tc->image_token_id, is_vid = row[q] == tc->video_token_id;
            if (!is_img && !is_vid) continue; /* a vision_start before text is text, as in the reference */
            const char *kind = is_img ? "image" : "video";
            const char *gname = is_img ? "image_grid_thw" : "video_grid_thw";
            int64_t *index = is_img ? &image_index : &video_index;
            int64_t n_grid = is_img ? n_img : n_vid;
            if (*index >= n_grid)
                return n_grid == 0
                           ? vt_fail(st, VT_EINPUT, "input_ids[%lld]: %s tokens at position %lld but no %s was given",
                                     (long long)b, kind, (long long)q, gname)
                           : vt_fail(st, VT_EINPUT, "input_ids[%lld]: %s %lld at position %lld has no grid (%s has %lld rows)",
                                     (long long)b, kind, (long long)*index, (long long)q, gname, (long long)n_grid);
            const int64_t *thw = vt_i64(is_img ? in->image_grid_thw : in->video_grid_thw) + 3 * *index;
            int64_t want = block_tokens(thw, merge), have = 0, last = q;
            int64_t tok_id = row[q];
            for (int64_t r = q; r < L; r++) {
                if (mrow && mrow[r] != 1) continue;
                if (row[r] != tok_id) break;
                have++;
                last = r;
            }
            if (have != want)
                return vt_fail(st, VT_EINPUT, "input_ids[%lld]: %s %lld has %lld %s tokens (positions %lld..%lld) but "
                               "%s[%lld] = [%lld, %lld, %lld] needs t*h*w/%d = %lld", (long long)b, kind,
                               (long long)*index, (long long)have, kind, (long long)q, (long long)last, gname,
                               (long long)*index, (long long)thw[0], (long long)thw[1], (long long)thw[2],
                               merge * merge, (long long)want);
            (*index)++;
            p = last; /* continue after the block */
        }
        if (kept == 0 && (in->image_grid_thw || in->video_grid_thw))
            return vt_fail(st, VT_EINPUT, "attention_mask[%lld] is all zeros (get_rope_index with grids needs a token "
                           "in every row)", (long long)b);
    }
    if (image_index != n_img)
        return vt_fail(st, VT_EINPUT, "image_grid_thw has %lld rows but input_ids holds %lld images", (long long)n_img,
                       (long long)image_index);
    if (video_index != n_vid)
        return vt_fail(st, VT_EINPUT, "video_grid_thw has %lld rows but input_ids holds %lld videos", (long long)n_vid,
                       (long long)video_index);
    return VT_OK;
}

static int check_rotary_inputs(const vt_mrope_inputs *in, const vt_mrope_config *tc, int64_t B, int64_t L,
                               vt_status *st)
{
    char sb[160];
    const int hd = tc->head_dim;
    const int *s = tc->mrope_section;
    if (hd < 2 || hd % 2 || hd > VT_MROPE_MAX_HEAD_DIM)
        return vt_fail(st, VT_EINPUT, "config: head_dim %d must be even and in [2, %d]", hd, VT_MROPE_MAX_HEAD_DIM);
    if (s[0] < 0 || s[1] < 0 || s[2] < 0 || 2 * (s[0] + s[1] + s[2]) != hd)
        return vt_fail(st, VT_EINPUT, "config: mrope_section [%d, %d, %d] must sum to head_dim / 2 = %d", s[0], s[1],
                       s[2], hd / 2);
    if (!(tc->rope_theta > 0) || !isfinite(tc->rope_theta))
        return vt_fail(st, VT_EINPUT, "config: rope_theta %g must be positive", tc->rope_theta);
    const vt_tensor *qk[2] = {in->q, in->k};
    const char *names[2] = {"q", "k"};
    for (int i = 0; i < 2; i++) {
        VT_TRY(check_tensor(qk[i], names[i], VT_F32, 4, st));
        const int64_t *sh = qk[i]->shape;
        if (sh[0] != B || sh[1] < 1 || sh[2] != L || sh[3] != hd)
            return vt_fail(st, VT_EINPUT, "%s: shape %s, expected [%lld, heads, %lld, %d] (B, heads, L, head_dim)",
                           names[i], vt_shape_str(sb, sizeof sb, 4, sh), (long long)B, (long long)L, hd);
    }
    return VT_OK;
}

/* What get_rope_index and the rotary will index, checked before anything is computed or written. */
int vt_mrope_check_inputs(const vt_mrope_inputs *in, const vt_mrope_config *tc, vt_status *st)
{
    char sb[160], sb2[160];
    if (!in->input_ids) return vt_fail(st, VT_EINPUT, "input_ids: required");
    VT_TRY(check_tensor(in->input_ids, "input_ids", VT_I64, 2, st));
    const int64_t B = in->input_ids->shape[0], L = in->input_ids->shape[1];
    if (B < 1 || L < 1)
        return vt_fail(st, VT_EINPUT, "input_ids: shape %s is empty", vt_shape_str(sb, sizeof sb, 2, in->input_ids->shape));
    if (L > VT_MROPE_MAX_LEN || B > VT_MROPE_MAX_LEN / L)
        return vt_fail(st, VT_EINPUT, "input_ids: shape %s is larger than the %d tokens accepted",
                       vt_shape_str(sb, sizeof sb, 2, in->input_ids->shape), VT_MROPE_MAX_LEN);
    const int merge = tc->spatial_merge_size;
    if (merge < 1) return vt_fail(st, VT_EINPUT, "config: spatial_merge_size %d must be positive", merge);
    if (in->attention_mask) {
        VT_TRY(check_tensor(in->attention_mask, "attention_mask", VT_I64, 2, st));
        if (in->attention_mask->shape[0] != B || in->attention_mask->shape[1] != L)
            return vt_fail(st, VT_EINPUT, "attention_mask: shape %s differs from input_ids %s",
                           vt_shape_str(sb, sizeof sb, 2, in->attention_mask->shape),
                           vt_shape_str(sb2, sizeof sb2, 2, in->input_ids->shape));
        const int64_t *m = vt_i64(in->attention_mask);
        for (int64_t i = 0; i < B * L; i++)
            if (m[i] != 0 && m[i] != 1)
                return vt_fail(st, VT_EINPUT, "attention_mask[%lld, %lld] = %lld (0 or 1 expected)", (long long)(i / L),
                               (long long)(i % L), (long long)m[i]);
    }
    if (in->image_grid_thw) VT_TRY(check_grid(in->image_grid_thw, "image_grid_thw", merge, st));
    if (in->video_grid_thw) VT_TRY(check_grid(in->video_grid_thw, "video_grid_thw", merge, st));
    if (in->second_per_grid_ts) {
        const vt_tensor *s = in->second_per_grid_ts;
        if (!tc->absolute_time)
            return vt_fail(st, VT_EINPUT, "second_per_grid_ts: a Qwen2.5-VL input; Qwen2-VL's get_rope_index has none");
        VT_TRY(check_tensor(s, "second_per_grid_ts", VT_F32, 1, st));
        int64_t n_vid = in->video_grid_thw ? in->video_grid_thw->shape[0] : 0;
        if (s->shape[0] != n_vid)
            return vt_fail(st, VT_EINPUT, "second_per_grid_ts: %lld values for %lld videos", (long long)s->shape[0],
                           (long long)n_vid);
    }
    if (tc->absolute_time) {
        double tps = tc->tokens_per_second;
        if (!isfinite(tps) || tps < 0 || tps > 1e6)
            return vt_fail(st, VT_EINPUT, "config: tokens_per_second %g must be in [0, 1e6]", tps);
        const int64_t n_vid = in->video_grid_thw ? in->video_grid_thw->shape[0] : 0;
        for (int64_t v = 0; v < n_vid; v++) {
            float spg = in->second_per_grid_ts ? vt_f32(in->second_per_grid_ts)[v] : 1.0f;
            if (!isfinite(spg) || spg < 0)
                return vt_fail(st, VT_EINPUT, "second_per_grid_ts[%lld] = %g must be finite and >= 0", (long long)v,
                               (double)spg);
            double last = (double)(vt_i64(in->video_grid_thw)[3 * v] - 1) * spg * tps;
            if (last > MROPE_MAX_TIME)
                return vt_fail(st, VT_EINPUT, "second_per_grid_ts[%lld] = %g: video %lld reaches temporal position %g, "
                               "beyond %g", (long long)v, (double)spg, (long long)v, last, MROPE_MAX_TIME);
        }
    }
    if (in->position_ids) {
        const vt_tensor *p = in->position_ids;
        VT_TRY(check_tensor(p, "position_ids", VT_I64, 3, st));
        if (p->shape[0] != 3 || p->shape[1] != B || p->shape[2] != L)
            return vt_fail(st, VT_EINPUT, "position_ids: shape %s, expected [3, %lld, %lld]",
                           vt_shape_str(sb, sizeof sb, 3, p->shape), (long long)B, (long long)L);
        if (in->attention_mask || in->image_grid_thw || in->video_grid_thw || in->second_per_grid_ts)
            return vt_fail(st, VT_EINPUT, "position_ids: given position ids replace get_rope_index, so attention_mask, "
                           "grids and second_per_grid_ts would be unused; give one or the other");
        if (!in->q)
            return vt_fail(st, VT_EINPUT, "position_ids: given without q and k (they are for the rotary only)");
    } else {
        VT_TRY(check_vision_blocks(in, tc, merge, st));
    }
    if (!in->q != !in->k) return vt_fail(st, VT_EINPUT, "%s given without %s", in->q ? "q" : "k", in->q ? "k" : "q");
    if (in->q) VT_TRY(check_rotary_inputs(in, tc, B, L, st));
    return VT_OK;
}

/* ================================================================================================ */
/* get_rope_index                                                                                    */
/* ================================================================================================ */

/* mirrors the text-only branch of get_rope_index. mask [B, L] or NULL -> pos [3, B, L], deltas [B, 1].
 * With a mask: cumsum(mask) - 1, padded positions 1, delta = max over (3, L) + 1 - L (the 1s count).
 * Without: arange(L) on every axis and delta 0. */
static void get_rope_index_text(int64_t *pos, int64_t *deltas, const int64_t *mask, int64_t B, int64_t L)
{
    for (int64_t b = 0; b < B; b++) {
        int64_t *p0 = pos + b * L; /* axis 0; axes 1 and 2 are copies (expand(3, -1, -1)) */
        if (mask) {
            const int64_t *m = mask + b * L;
            int64_t cum = 0, mx = INT64_MIN;
            for (int64_t l = 0; l < L; l++) {
                cum += m[l];
                p0[l] = m[l] == 0 ? 1 : cum - 1; /* masked_fill_(attention_mask == 0, 1) */
                if (p0[l] > mx) mx = p0[l];
            }
            deltas[b] = mx + 1 - L;
        } else {
            for (int64_t l = 0; l < L; l++) p0[l] = l;
            deltas[b] = 0;
        }
        for (int a = 1; a < 3; a++) memcpy(pos + (a * B + b) * L, p0, (size_t)L * sizeof *p0);
    }
}

/* A chunk of llm_pos_ids_list: 3 rows of `len` positions, appended at `at` in per-axis arrays. */
typedef struct pos_list {
    int64_t *ax[3];  /* [n] each: the t, h, w rows of torch.cat(llm_pos_ids_list, dim=1) */
    int64_t len;     /* positions appended so far */
    int64_t last_max;/* llm_pos_ids_list[-1].max() (-1 while the list is empty) */
} pos_list;

/* mirrors torch.arange(text_len).view(1, -1).expand(3, -1) + st_idx. -> text_len columns (i, i, i). */
static void llm_pos_ids_text(pos_list *pl, int64_t text_len, int64_t st_idx)
{
    for (int64_t i = 0; i < text_len; i++)
        for (int a = 0; a < 3; a++) pl->ax[a][pl->len + i] = st_idx + i;
    pl->len += text_len;
    /* an empty text chunk is still the list's last element, but a vision chunk always follows it */
    if (text_len > 0) pl->last_max = st_idx + text_len - 1;
}

/* mirrors the Qwen2.5-VL temporal index: (expanded_range * second_per_grid_t * tokens_per_second).long().
 * int64 arange times a Python float (or a 0-d float32 tensor) is a float32 tensor in torch: every product
 * rounds to float32, and .long() truncates toward zero (fps 1.5: 2/1.5 * 2 = 2.67 -> 2, 5.33 -> 5). */
static int64_t qwen25_time_index(int64_t t, float second_per_grid_t, float tokens_per_second)
{
    float x = (float)t * second_per_grid_t; /* parity: float32, not double */
    x = x * tokens_per_second;
    return (int64_t)x;
}

/* mirrors the vision chunk of get_rope_index: torch.stack([t_index, h_index, w_index]) + text_len + st_idx.
 * grid (T, Hm, Wm) merged -> T*Hm*Wm columns in (t, h, w) row-major order. Qwen2-VL: t_index = t;
 * Qwen2.5-VL: t_index = qwen25_time_index(t, ...) (images pass second_per_grid_t 0, so t_index 0). */
static void llm_pos_ids_vision(pos_list *pl, int64_t T, int64_t Hm, int64_t Wm, int64_t offset, int qwen25,
                               float second_per_grid_t, float tokens_per_second)
{
    int64_t j = pl->len, mx = INT64_MIN;
    for (int64_t t = 0; t < T; t++) {
        int64_t t_index = qwen25 ? qwen25_time_index(t, second_per_grid_t, tokens_per_second) : t;
        for (int64_t h = 0; h < Hm; h++)
            for (int64_t w = 0; w < Wm; w++, j++) {
                pl->ax[0][j] = t_index + offset;
                pl->ax[1][j] = h + offset;
                pl->ax[2][j] = w + offset;
                for (int a = 0; a < 3; a++)
                    if (pl->ax[a][j] > mx) mx = pl->ax[a][j];
            }
    }
    pl->len = j;
    pl->last_max = mx;
}

/* Index of the first `id` in toks[from..n), or n + 1 when absent (the reference's len(input_tokens) + 1;
 * the checks guarantee the id is there whenever a block of that kind remains). */
static int64_t find_from(const int64_t *toks, int64_t n, int64_t id, int64_t from)
{
    for (int64_t i = from; i < n; i++)
        if (toks[i] == id) return i;
    return n + 1;
}

/* mirrors the per-row body of get_rope_index's vision branch. toks [n] (the kept tokens of one row)
 * -> pl (3 x n positions); returns llm_positions.max(). image_index / video_index run across rows. */
static int64_t get_rope_index_row(pos_list *pl, const int64_t *toks, int64_t n, const vt_mrope_inputs *in,
                                  const vt_mrope_config *tc,
                                  int64_t *image_index, int64_t *video_index)
{
    const int merge = tc->spatial_merge_size;
    const float tps = (float)tc->tokens_per_second;
    int64_t image_nums = 0, video_nums = 0;
    for (int64_t i = 0; i + 1 < n; i++) /* vision_tokens = input_ids[vision_start_indices + 1] */
        if (toks[i] == tc->vision_start_token_id) {
            image_nums += toks[i + 1] == tc->image_token_id;
            video_nums += toks[i + 1] == tc->video_token_id;
        }
    pl->len = 0;
    pl->last_max = -1;
    int64_t st = 0, remain_images = image_nums, remain_videos = video_nums;
    for (int64_t k = 0; k < image_nums + video_nums; k++) {
        int64_t ed_image = remain_images > 0 ? find_from(toks, n, tc->image_token_id, st) : n + 1;
        int64_t ed_video = remain_videos > 0 ? find_from(toks, n, tc->video_token_id, st) : n + 1;
        const int64_t *thw;
        float second_per_grid_t;
        int64_t ed;
        if (ed_image < ed_video) {
            thw = vt_i64(in->image_grid_thw) + 3 * (*image_index)++;
            second_per_grid_t = 0.0f; /* images: t_index is 0 in Qwen2.5-VL */
            remain_images--;
            ed = ed_image;
        } else {
            thw = vt_i64(in->video_grid_thw) + 3 * *video_index;
            second_per_grid_t = in->second_per_grid_ts ? vt_f32(in->second_per_grid_ts)[*video_index] : 1.0f;
            (*video_index)++;
            remain_videos--;
            ed = ed_video;
        }
        int64_t T = thw[0], Hm = thw[1] / merge, Wm = thw[2] / merge; /* llm_grid_t, llm_grid_h, llm_grid_w */
        int64_t text_len = ed - st;
        /* st_idx = llm_pos_ids_list[-1].max() + 1: the last chunk always holds the running maximum */
        int64_t st_idx = pl->last_max + 1;
        llm_pos_ids_text(pl, text_len, st_idx);
        llm_pos_ids_vision(pl, T, Hm, Wm, text_len + st_idx, tc->absolute_time, second_per_grid_t, tps);
        st = ed + T * Hm * Wm;
    }
    if (st < n) llm_pos_ids_text(pl, n - st, pl->last_max + 1);
    VT_ASSERT(pl->len == n); /* guaranteed by check_vision_blocks */
    return pl->last_max;
}

/* mirrors get_rope_index. input_ids [B, L] (+ mask, grids) -> position_ids [3, B, L], rope_deltas [B, 1] */
int vt_mrope_get_rope_index(vt_tensor *position_ids, vt_tensor *rope_deltas, const vt_mrope_inputs *in,
                      const vt_mrope_config *tc, vt_arena *a,
                      vt_status *st)
{
    vt_mrope_inputs ids_only = *in;
    ids_only.position_ids = NULL; /* validate as get_rope_index sees it */
    ids_only.q = ids_only.k = NULL;
    VT_TRY(vt_mrope_check_inputs(&ids_only, tc, st));
    const int64_t B = in->input_ids->shape[0], L = in->input_ids->shape[1];
    VT_TRY(vt_tensor_alloc(position_ids, a, VT_I64, VT_DIMS(3, B, L), st));
    VT_TRY(vt_tensor_alloc(rope_deltas, a, VT_I64, VT_DIMS(B, 1), st));
    int64_t *pos = vt_i64(position_ids), *deltas = vt_i64(rope_deltas);
    const int64_t *mask = in->attention_mask ? vt_i64(in->attention_mask) : NULL;
    /* bug zoo, sequential-positions: a port that treats the model as a text model takes this branch for
     * every input, so image and video tokens get 1D positions on all three axes */
    int text_only = !in->image_grid_thw && !in->video_grid_thw;
    VT_BUG_SWITCH(in->bugs, VT_BUG_SEQUENTIAL_POSITIONS, text_only = 1);
    if (text_only) {
        get_rope_index_text(pos, deltas, mask, B, L);
        return VT_OK;
    }
    /* the vision branch: position_ids = torch.ones(3, B, L); each row's kept tokens get llm_positions */
    for (int64_t i = 0; i < 3 * B * L; i++) pos[i] = 1;
    vt_arena_pos mark = vt_arena_mark(a);
    int64_t *toks = vt_arena_alloc(a, (size_t)L * sizeof(int64_t), st);
    pos_list pl = {{NULL, NULL, NULL}, 0, -1};
    for (int ax = 0; ax < 3 && toks; ax++)
        if (!(pl.ax[ax] = vt_arena_alloc(a, (size_t)L * sizeof(int64_t), st))) toks = NULL;
    if (!toks) return st->code;
    int64_t image_index = 0, video_index = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t *row = vt_i64(in->input_ids) + b * L;
        int64_t n = 0;
        for (int64_t l = 0; l < L; l++) /* input_ids = input_ids[attention_mask[i] == 1] */
            if (!mask || mask[b * L + l] == 1) toks[n++] = row[l];
        int64_t mx = get_rope_index_row(&pl, toks, n, in, tc, &image_index, &video_index);
        for (int ax = 0; ax < 3; ax++) { /* position_ids[..., i, attention_mask[i] == 1] = llm_positions */
            int64_t j = 0;
            for (int64_t l = 0; l < L; l++)
                if (!mask || mask[b * L + l] == 1) pos[(ax * B + b) * L + l] = pl.ax[ax][j++];
        }
        deltas[b] = mx + 1 - L; /* llm_positions.max() + 1 - len(total_input_ids[i]) */
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ================================================================================================ */
/* the multimodal rotary                                                                             */
/* ================================================================================================ */

/* mirrors _compute_default_rope_parameters. -> inv_freq [hd/2] */
void vt_mrope_inv_freq(float *inv_freq, int head_dim, double rope_theta)
{
    /* 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)): every step in float32 */
    const float base = (float)rope_theta;
    for (int i = 0; i < head_dim / 2; i++) {
        float e = (float)(2 * i) / (float)head_dim;
        inv_freq[i] = 1.0f / powf(base, e);
    }
}

/* mirrors Qwen2VLRotaryEmbedding.forward. inv_freq [hd/2], position_ids [3, B, L] -> cos3, sin3 [3, B, L, hd] */
void vt_mrope_rotary_embedding(float *cos3, float *sin3, const float *inv_freq, const int64_t *position_ids,
                               int64_t B, int64_t L, int head_dim)
{
    const int half = head_dim / 2;
    for (int64_t r = 0; r < 3 * B * L; r++) { /* r = (axis, b, l) */
        const float p = (float)position_ids[r]; /* position_ids[:, :, None, :].float() */
        float *c = cos3 + r * head_dim, *s = sin3 + r * head_dim;
        for (int j = 0; j < half; j++) {
            float f = inv_freq[j] * p; /* (inv_freq @ position) is one product: k = 1 */
            c[j] = c[j + half] = cosf(f); /* emb = cat(freqs, freqs) */
            s[j] = s[j + half] = sinf(f);
        }
        /* attention_scaling is 1.0 for the default rope type: cos * 1.0 changes nothing */
    }
}

/* mirrors the mrope_section split of apply_multimodal_rotary_pos_emb. [3, B, L, hd] -> [B, 1, L, hd] */
void vt_mrope_section_split(float *x, const float *x3, const int mrope_section[3], int64_t B, int64_t L,
                            int head_dim)
{
    /* torch.cat([m[i % 3] for i, m in enumerate(x3.split(mrope_section * 2, dim=-1))], dim=-1): channel c
     * in chunk i (sizes s0 s1 s2 s0 s1 s2) takes axis i % 3. The sections appear twice because emb is
     * cat(freqs, freqs): channel c and c + hd/2 share a frequency, and rotate_half pairs them. */
    int axis_of[VT_MROPE_MAX_HEAD_DIM];
    VT_ASSERT(head_dim <= VT_MROPE_MAX_HEAD_DIM);
    int c = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < mrope_section[i % 3]; j++) axis_of[c++] = i % 3;
    VT_ASSERT(c == head_dim);
    for (int64_t bl = 0; bl < B * L; bl++) /* output [B, 1, L, hd]: the 1 is unsqueeze(1) for the heads */
        for (int ch = 0; ch < head_dim; ch++) x[bl * head_dim + ch] = x3[(axis_of[ch] * B * L + bl) * head_dim + ch];
}

/* mirrors q * cos + rotate_half(q) * sin. x [B, H, L, hd], cos/sin [B, 1, L, hd] -> y [B, H, L, hd] */
void vt_mrope_apply(float *y, const float *x, const float *cos, const float *sin, int64_t B, int64_t H,
                    int64_t L, int head_dim)
{
    const int half = head_dim / 2;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t l = 0; l < L; l++) {
                const float *x_r = x + ((b * H + h) * L + l) * head_dim;
                const float *c = cos + (b * L + l) * head_dim, *s = sin + (b * L + l) * head_dim;
                float *y_r = y + ((b * H + h) * L + l) * head_dim;
                for (int j = 0; j < head_dim; j++) {
                    float rot = j < half ? -x_r[j + half] : x_r[j - half]; /* rotate_half: cat(-x2, x1) */
                    float a = x_r[j] * c[j], bb = rot * s[j];             /* (q * cos) + (rotate_half(q) * sin) */
                    y_r[j] = a + bb;
                }
            }
}

/* ================================================================================================ */
/* forward                                                                                           */
/* ================================================================================================ */

/* get_rope_index, then Qwen2VLRotaryEmbedding + apply_multimodal_rotary_pos_emb, every name to the tap */
int vt_mrope_forward(vt_mrope_outputs *out, const vt_mrope_inputs *in, const vt_mrope_config *tc, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    memset(out, 0, sizeof *out);
    VT_TRY(vt_mrope_check_inputs(in, tc, st));
    VT_TRY(vt_tap_emit(tap, "input_ids", in->input_ids, st));
    if (in->attention_mask) VT_TRY(vt_tap_emit(tap, "attention_mask", in->attention_mask, st));
    if (in->image_grid_thw) VT_TRY(vt_tap_emit(tap, "image_grid_thw", in->image_grid_thw, st));
    if (in->video_grid_thw) VT_TRY(vt_tap_emit(tap, "video_grid_thw", in->video_grid_thw, st));
    if (in->second_per_grid_ts) VT_TRY(vt_tap_emit(tap, "second_per_grid_ts", in->second_per_grid_ts, st));

    const int64_t B = in->input_ids->shape[0], L = in->input_ids->shape[1];
    if (in->position_ids) {
        VT_TRY(vt_tensor_alloc(&out->position_ids, a, VT_I64, VT_DIMS(3, B, L), st));
        memcpy(out->position_ids.data, in->position_ids->data, vt_nbytes(in->position_ids));
        VT_TRY(vt_tap_emit(tap, "position_ids", &out->position_ids, st));
    } else {
        VT_TRY(vt_mrope_get_rope_index(&out->position_ids, &out->rope_deltas, in, tc, a, st));
        VT_TRY(vt_tap_emit(tap, "position_ids", &out->position_ids, st));
        VT_TRY(vt_tap_emit(tap, "rope_deltas", &out->rope_deltas, st));
    }
    if (!in->q) return VT_OK;

    const int hd = tc->head_dim;
    const int64_t Hq = in->q->shape[1], Hk = in->k->shape[1];
    VT_TRY(vt_tensor_alloc(&out->inv_freq, a, VT_F32, VT_DIMS(hd / 2), st));
    vt_mrope_inv_freq(vt_f32(&out->inv_freq), hd, tc->rope_theta);
    VT_TRY(vt_tap_emit(tap, "mrope.inv_freq", &out->inv_freq, st));

    vt_tensor cos3, sin3; /* [3, B, L, hd], before the section split (not traced) */
    VT_TRY(vt_tensor_alloc(&cos3, a, VT_F32, VT_DIMS(3, B, L, hd), st));
    VT_TRY(vt_tensor_alloc(&sin3, a, VT_F32, VT_DIMS(3, B, L, hd), st));
    vt_mrope_rotary_embedding(vt_f32(&cos3), vt_f32(&sin3), vt_f32(&out->inv_freq), vt_i64(&out->position_ids), B, L,
                              hd);
    vt_tensor cos, sin;
    VT_TRY(vt_tensor_alloc(&cos, a, VT_F32, VT_DIMS(B, 1, L, hd), st));
    VT_TRY(vt_tensor_alloc(&sin, a, VT_F32, VT_DIMS(B, 1, L, hd), st));
    /* bug zoo, no-mrope-sections: the split skipped, every channel keeps the first (temporal) axis, which
     * is the section [hd/2, 0, 0] */
    int section[3] = {tc->mrope_section[0], tc->mrope_section[1], tc->mrope_section[2]};
    VT_BUG_SWITCH(in->bugs, VT_BUG_NO_MROPE_SECTIONS, section[0] = hd / 2; section[1] = section[2] = 0);
    vt_mrope_section_split(vt_f32(&cos), vt_f32(&cos3), section, B, L, hd);
    vt_mrope_section_split(vt_f32(&sin), vt_f32(&sin3), section, B, L, hd);
    out->cos = cos;
    out->sin = sin;
    VT_TRY(vt_tap_emit(tap, "mrope.cos", &out->cos, st));
    VT_TRY(vt_tap_emit(tap, "mrope.sin", &out->sin, st));
    VT_TRY(vt_tap_emit(tap, "mrope.q", in->q, st));
    VT_TRY(vt_tap_emit(tap, "mrope.k", in->k, st));

    VT_TRY(vt_tensor_alloc(&out->q_embed, a, VT_F32, VT_DIMS(B, Hq, L, hd), st));
    VT_TRY(vt_tensor_alloc(&out->k_embed, a, VT_F32, VT_DIMS(B, Hk, L, hd), st));
    vt_mrope_apply(vt_f32(&out->q_embed), vt_f32(in->q), vt_f32(&cos), vt_f32(&sin), B, Hq, L, hd);
    vt_mrope_apply(vt_f32(&out->k_embed), vt_f32(in->k), vt_f32(&cos), vt_f32(&sin), B, Hk, L, hd);
    VT_TRY(vt_tap_emit(tap, "mrope.q_embed", &out->q_embed, st));
    VT_TRY(vt_tap_emit(tap, "mrope.k_embed", &out->k_embed, st));
    return VT_OK;
}
