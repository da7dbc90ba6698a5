/*
 * qwen25vl_window.c -- Qwen2.5-VL's window attention bookkeeping: get_window_index step by step, the
 * deduplication of cu_window_seqlens, the window reorder and its reverse.
 *
 * Legend: (t, gh, gw) one grid_thw row in patches; lh = gh / m, lw = gw / m the merged grid (m = 2);
 * ws merged tokens per window side (window_size / m / patch_size = 112 / 2 / 14 = 4); ph, pw the padding;
 * nwh, nww windows per column / row; M merged tokens in all; U = m * m patches per merged token.
 *
 * The seed's example: a 6 x 6 merged grid (12 x 12 patches), ws = 4.
 *     index          0  1  2  3  4  5  X  X      pad_h = 4 - 6 % 4 = 2, pad_w = 2 -> 8 x 8, X = -100
 *                    6  7  8  9 10 11  X  X      windows (4 x 4 each), read row by row:
 *                   ...                             window 0 = [0,1,2,3, 6,7,8,9, 12,13,14,15, 18,19,20,21]
 *                   30 31 32 33 34 35  X  X         window 1 = [4,5, 10,11, 16,17, 22,23]
 *                    X  X  ...          X  X        window 2 = [24..27, 30..33], window 3 = [28,29, 34,35]
 *     seqlens = [16, 8, 8, 4] valid tokens; cu_window_seqlens = [0] + cumsum * U = [0, 64, 96, 128, 144]
 * A side already divisible by ws still gets a whole window of padding (pad = ws - 0): those windows are
 * empty, repeat the previous cu value, and unique_consecutive removes the repeats.
 */
#include <string.h>

#include "qwen25vl/qwen25vl.h"

#define PAD_ID (-100) /* F.pad(..., "constant", -100) */

/* ======================================== get_window_index ======================================== */

/* One grid row: the window order of its t*lh*lw merged tokens (appended to *wi, offset by id0) and the
 * valid length of each of its t*nwh*nww windows (appended to *seqlens). */
static int window_index_one(int64_t *wi, int64_t *n_wi, int64_t *seqlens, int64_t *n_seq, int64_t t, int64_t lh,
                            int64_t lw, int ws, int64_t id0, vt_arena *a, vt_status *st)
{
    vt_arena_pos mark = vt_arena_mark(a);
    /* pad_h = vit_merger_window_size - llm_grid_h % vit_merger_window_size (a full window when divisible) */
    const int64_t ph = ws - lh % ws, pw = ws - lw % ws;
    const int64_t nwh = (lh + ph) / ws, nww = (lw + pw) / ws;
    const int64_t H = lh + ph, Wd = lw + pw;

    /* index = torch.arange(t * lh * lw).reshape(t, lh, lw);
     * index_padded = F.pad(index, (0, pw, 0, ph), "constant", -100): [t, lh + ph, lw + pw] */
    vt_tensor padded, win;
    VT_TRY(vt_tensor_alloc(&padded, a, VT_I64, VT_DIMS(t, H, Wd), st));
    int64_t *p = vt_i64(&padded);
    for (int64_t f = 0; f < t; f++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < Wd; x++)
                p[(f * H + y) * Wd + x] = (y < lh && x < lw) ? (f * lh + y) * lw + x : PAD_ID;

    /* .reshape(t, nwh, ws, nww, ws).permute(0, 1, 3, 2, 4).reshape(t, nwh * nww, ws, ws) */
    VT_TRY(vt_reshape(&padded, VT_DIMS(t, nwh, ws, nww, ws), st));
    VT_TRY(vt_permute(&win, &padded, VT_PERM(0, 1, 3, 2, 4), a, st));
    VT_TRY(vt_reshape(&win, VT_DIMS(t, nwh * nww, ws, ws), st));

    /* seqlens = (index_padded != -100).sum([2, 3]).reshape(-1) */
    const int64_t nw = t * nwh * nww, per = (int64_t)ws * ws;
    const int64_t *v = vt_i64(&win);
    for (int64_t w = 0; w < nw; w++) {
        int64_t count = 0;
        for (int64_t j = 0; j < per; j++) count += v[w * per + j] != PAD_ID;
        seqlens[(*n_seq)++] = count;
    }
    /* index_new = index_padded.reshape(-1)[index_padded != -100]; window_index.append(index_new + id0) */
    for (int64_t j = 0; j < nw * per; j++)
        if (v[j] != PAD_ID) wi[(*n_wi)++] = v[j] + id0;
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_qwen25vl_get_window_index(vt_tensor *window_index, vt_tensor *cu_raw, const vt_tensor *grid_thw, int ws,
                              int merge, vt_arena *a, vt_status *st)
{
    const int64_t n = grid_thw->shape[0];
    const int64_t *g = vt_i64(grid_thw);
    const int64_t U = (int64_t)merge * merge;
    int64_t M = 0, W = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = g[3 * i], lh = g[3 * i + 1] / merge, lw = g[3 * i + 2] / merge;
        M += t * lh * lw;
        W += t * ((lh + ws - lh % ws) / ws) * ((lw + ws - lw % ws) / ws);
    }
    VT_TRY(vt_tensor_alloc(window_index, a, VT_I64, VT_DIMS(M), st));
    VT_TRY(vt_tensor_alloc(cu_raw, a, VT_I32, VT_DIMS(W + 1), st));
    int64_t *seqlens = vt_arena_alloc(a, (size_t)(W > 0 ? W : 1) * sizeof(int64_t), st);
    if (!seqlens) return st->code;

    int64_t n_wi = 0, n_seq = 0, id0 = 0; /* window_index_id */
    int32_t *cu = vt_i32(cu_raw);
    cu[0] = 0; /* cu_window_seqlens: list = [0] */
    for (int64_t i = 0; i < n; i++) {
        int64_t t = g[3 * i], lh = g[3 * i + 1] / merge, lw = g[3 * i + 2] / merge;
        int64_t first = n_seq;
        VT_TRY(window_index_one(vt_i64(window_index), &n_wi, seqlens, &n_seq, t, lh, lw, ws, id0, a, st));
        /* cu_seqlens_tmp = seqlens.cumsum(0) * spatial_merge_unit + cu_window_seqlens[-1]; extend */
        int64_t base = cu[first], run = 0;
        for (int64_t w = first; w < n_seq; w++) {
            run += seqlens[w];
            cu[w + 1] = (int32_t)(run * U + base);
        }
        id0 += t * lh * lw; /* window_index_id += grid_t * llm_grid_h * llm_grid_w */
    }
    VT_ASSERT(n_wi == M && n_seq == W);
    return VT_OK;
}

int vt_qwen25vl_unique_consecutive(vt_tensor *out, const vt_tensor *in, vt_arena *a, vt_status *st)
{
    const int64_t n = in->shape[0];
    const int32_t *x = vt_i32(in);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += i == 0 || x[i] != x[i - 1];
    VT_TRY(vt_tensor_alloc(out, a, VT_I32, VT_DIMS(k), st));
    int32_t *y = vt_i32(out);
    k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || x[i] != x[i - 1]) y[k++] = x[i];
    return VT_OK;
}

/* ======================================== reorder and reverse ======================================== */

void vt_qwen25vl_window_reorder(float *dst, const float *src, const int64_t *window_index, int64_t M, int U,
                             int64_t width)
{
    /* view [M, U, width]; dst[j] = src[window_index[j]]: the U patch rows of a merged token move together */
    const size_t row = (size_t)U * (size_t)width * sizeof(float);
    for (int64_t j = 0; j < M; j++) memcpy(dst + j * U * width, src + window_index[j] * U * width, row);
}

void vt_qwen25vl_argsort(int64_t *reverse, const int64_t *window_index, int64_t M)
{
    /* window_index is a permutation of 0..M-1, so its argsort is its inverse: the token that went to
     * window position j comes back to position window_index[j] */
    for (int64_t j = 0; j < M; j++) reverse[j] = -1;
    for (int64_t j = 0; j < M; j++) {
        VT_ASSERT(window_index[j] >= 0 && window_index[j] < M && reverse[window_index[j]] == -1);
        reverse[window_index[j]] = j;
    }
}

int vt_qwen25vl_is_fullatt(const vt_qwen25vl_config *cfg, int layer)
{
    /* `if layer_num in self.fullatt_block_indexes`: ints against ints (a port that reads the list as
     * strings and compares "7" with 7 never takes this branch) */
    for (int j = 0; j < cfg->n_fullatt; j++)
        if (cfg->fullatt_block_indexes[j] == layer) return 1;
    return 0;
}

int vt_qwen25vl_is_fullatt_as_string(const vt_qwen25vl_config *cfg, int layer)
{
    /* bug zoo: `for layer_num, blk in self.blocks.named_children(): if layer_num in fullatt_block_indexes`
     * -- layer_num is the module name "1", the list holds the int 1, and Python's str == int is False
     * without a word of warning: every block takes the window branch */
    (void)cfg;
    (void)layer;
    return 0;
}
