/*
 * vision_rope.c -- the vision tower's 2D rotary positions (Qwen2-VL and Qwen2.5-VL are identical here):
 * rot_pos_emb's (h, w) ids in merge-block order, VisionRotaryEmbedding's theta table, the cos/sin of the
 * forward and apply_rotary_pos_emb_vision.
 *
 * Legend: N patches, D head_dim, m spatial_merge_size (2), (t, h, w) one grid_thw row.
 *
 * Layout of the table a patch gets (D = 16 in the tiny models, 80 at full size):
 *     rotary_pos_emb[n] = [ h_n * inv_freq[0 .. D/4)  |  w_n * inv_freq[0 .. D/4) ]     (D/2 values)
 *     emb[n]            = [ rotary_pos_emb[n] | rotary_pos_emb[n] ]                       (D values)
 * and q, k rotate by rotate_half (the two halves of D, not interleaved pairs): the first D/4 frequencies
 * of each half carry the row, the last D/4 the column.
 */
#include <math.h>
#include <string.h>

#include "vision/vision.h"

/* ---- rot_pos_emb, first half: position ids ---- */

/* One coordinate plane of one grid, as rot_pos_emb builds it:
 *     ids = arange(h).unsqueeze(1).expand(-1, w)        (rows; for columns arange(w).unsqueeze(0).expand(h, -1))
 *     ids = ids.reshape(h // m, m, w // m, m).permute(0, 2, 1, 3).flatten()
 * -> out [h*w]: the ids in merge-block order (each m x m block's patches consecutive). */
static int merge_block_order(int64_t *out, int64_t h, int64_t w, int m, int column, vt_arena *a, vt_status *st)
{
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor ids, perm;
    VT_TRY(vt_tensor_alloc(&ids, a, VT_I64, VT_DIMS(h, w), st));
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) vt_i64(&ids)[y * w + x] = column ? x : y;
    VT_TRY(vt_reshape(&ids, VT_DIMS(h / m, m, w / m, m), st));
    VT_TRY(vt_permute(&perm, &ids, VT_PERM(0, 2, 1, 3), a, st));
    memcpy(out, perm.data, (size_t)(h * w) * sizeof(int64_t)); /* .flatten() */
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_vision_rot_pos_ids(vt_tensor *pos_ids, const vt_tensor *grid_thw, int merge, vt_arena *a, vt_status *st)
{
    int64_t n = grid_thw->shape[0], N = 0;
    const int64_t *g = vt_i64(grid_thw);
    for (int64_t i = 0; i < n; i++) N += g[3 * i] * g[3 * i + 1] * g[3 * i + 2];
    VT_TRY(vt_tensor_alloc(pos_ids, a, VT_I64, VT_DIMS(N, 2), st));
    int64_t *out = vt_i64(pos_ids);
    for (int64_t i = 0; i < n; i++) {
        int64_t t = g[3 * i], h = g[3 * i + 1], w = g[3 * i + 2];
        vt_arena_pos mark = vt_arena_mark(a);
        int64_t *hpos = vt_arena_alloc(a, (size_t)(h * w) * sizeof(int64_t), st);
        int64_t *wpos = vt_arena_alloc(a, (size_t)(h * w) * sizeof(int64_t), st);
        if (!hpos || !wpos) return st->code;
        VT_TRY(merge_block_order(hpos, h, w, merge, 0, a, st));
        VT_TRY(merge_block_order(wpos, h, w, merge, 1, a, st));
        /* torch.stack([hpos_ids, wpos_ids], dim=-1) -> [h*w, 2] */
        for (int64_t j = 0; j < h * w; j++) {
            out[2 * j] = hpos[j];
            out[2 * j + 1] = wpos[j];
        }
        /* .repeat(t, 1): every time slice of a video has the same (h, w) ids */
        for (int64_t r = 1; r < t; r++) memcpy(out + 2 * r * h * w, out, (size_t)(2 * h * w) * sizeof(int64_t));
        out += 2 * t * h * w;
        vt_arena_reset(a, mark);
    }
    return VT_OK;
}

/* ---- VisionRotaryEmbedding ---- */

void vt_vision_rotary_embedding(float *freqs, int64_t seqlen, int D)
{
    const int dim = D / 2; /* VisionRotaryEmbedding(head_dim // 2) */
    const int nf = dim / 2;
    /* inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim)), all in float32 */
    float inv_freq[512];
    VT_ASSERT(nf <= 512);
    for (int i = 0; i < nf; i++) {
        float e = (float)(2 * i) / (float)dim;
        inv_freq[i] = 1.0f / powf(10000.0f, e);
    }
    /* freqs = torch.outer(arange(seqlen).float(), inv_freq): one float32 product each */
    for (int64_t s = 0; s < seqlen; s++)
        for (int i = 0; i < nf; i++) freqs[s * nf + i] = (float)s * inv_freq[i];
}

/* ---- rot_pos_emb, second half: the gather ---- */

int vt_vision_rot_pos_emb(vt_tensor *rot, const vt_tensor *pos_ids, const vt_tensor *grid_thw, int D, vt_arena *a,
                        vt_status *st)
{
    const int64_t N = pos_ids->shape[0];
    const int nf = D / 4;
    /* max_grid_size = grid_thw[:, 1:].max(); the table has one row per position up to it */
    int64_t max_grid = 0;
    for (int64_t i = 0; i < grid_thw->shape[0]; i++)
        for (int j = 1; j < 3; j++)
            if (vt_i64(grid_thw)[3 * i + j] > max_grid) max_grid = vt_i64(grid_thw)[3 * i + j];
    VT_TRY(vt_tensor_alloc(rot, a, VT_F32, VT_DIMS(N, D / 2), st));
    vt_arena_pos mark = vt_arena_mark(a); /* the table below is temporary; rot stays */
    float *full = vt_arena_alloc(a, (size_t)(max_grid * nf) * sizeof(float), st);
    if (!full) return st->code;
    vt_vision_rotary_embedding(full, max_grid, D);
    /* rotary_pos_emb_full[pos_ids].flatten(1): [N, 2, D/4] -> [N, D/2] */
    const int64_t *ids = vt_i64(pos_ids);
    for (int64_t n = 0; n < N; n++) {
        float *r_n = vt_f32(rot) + n * (D / 2);
        memcpy(r_n, full + ids[2 * n] * nf, (size_t)nf * sizeof(float));          /* h * inv_freq */
        memcpy(r_n + nf, full + ids[2 * n + 1] * nf, (size_t)nf * sizeof(float));  /* w * inv_freq */
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ---- position_embeddings = (emb.cos(), emb.sin()) ---- */

int vt_vision_rotary_cos_sin(float **cos_out, float **sin_out, const float *rot, int64_t N, int D, vt_arena *a,
                           vt_status *st)
{
    float *c = vt_arena_alloc(a, (size_t)(N * D) * sizeof(float), st);
    float *s = c ? vt_arena_alloc(a, (size_t)(N * D) * sizeof(float), st) : NULL;
    if (!s) return st->code;
    const int half = D / 2;
    for (int64_t n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            float e = rot[n * half + d % half]; /* torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1) */
            c[n * D + d] = cosf(e);
            s[n * D + d] = sinf(e);
        }
    *cos_out = c;
    *sin_out = s;
    return VT_OK;
}

/* ---- apply_rotary_pos_emb_vision ---- */

void vt_vision_apply_rotary(float *y, const float *x, int64_t row_stride, const float *cos, const float *sin,
                          int64_t N, int H, int D)
{
    const int half = D / 2;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *c_n = cos + n * D, *s_n = sin + n * D;
        for (int h = 0; h < H; h++) {
            const float *x_nh = x + n * row_stride + (int64_t)h * D;
            float *y_nh = y + (n * H + h) * D;
            for (int d = 0; d < D; d++) {
                /* rotate_half(x) = cat(-x[D/2:], x[:D/2]) */
                float rh = d < half ? -x_nh[d + half] : x_nh[d - half];
                /* (q * cos) + (rotate_half(q) * sin): two rounded products, then their rounded sum */
                float p = x_nh[d] * c_n[d];
                float r = rh * s_n[d];
                y_nh[d] = p + r;
            }
        }
    }
}
