/*
 * qwenvl_resampler.c -- Qwen-VL (v1) Resampler (attn_pool), its 2D sin-cos table, ln_post, proj, and the
 * whole forward (visual.py: get_2d_sincos_pos_embed, Resampler, VisionTransformer.forward).
 *
 *   B batch  L = g*g image tokens [1024]  W width [1664]  D output_dim [4096]
 *   Q = qg*qg queries [256]  Hq = D/128 heads [32]  hd = D/Hq [128]
 *
 *   x [B, L, W] -kv_proj-> [B, L, D] -ln_kv-> value, permuted to [L, B, D]
 *   key   = value + get_abs_pos(pos_embed [Q, D], L)   (the qg x qg sin-cos table resized to g x g)
 *   query = ln_q(query [Q, D]) + pos_embed              (repeated over B: [Q, B, D])
 *   nn.MultiheadAttention(D, Hq)(query, key, value) -> [Q, B, D] -> permute -> [B, Q, D]
 *   -ln_post-> @ proj [D, D] -> [B, Q, D]
 */
#include <math.h>
#include <string.h>

#include "core/ops.h"
#include "qwenvl/qwenvl.h"

#define TV "transformer.visual."

/* ================================ 2D sin-cos table ================================ */

/* mirrors get_1d_sincos_pos_embed_from_grid(E, pos): out row m [E] = [sin(pos_m * omega) | cos(pos_m * omega)],
 * omega_i = 1 / 10000^(i / (E/2)), i < E/2; written at stride `ld` into out. */
static void sincos_1d(float *out, int64_t ld, int E, const float *pos, int64_t n)
{
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * ld;
        for (int i = 0; i < E / 2; i++) {
            /* numpy float32: omega = arange(E/2) / (E/2.); omega = 1. / 10000**omega; out = pos * omega */
            float omega = (float)i / (float)(E / 2.0);
            omega = 1.0f / powf(10000.0f, omega);
            float v = pos[r] * omega;
            o[i] = sinf(v);
            o[E / 2 + i] = cosf(v);
        }
    }
}

/* mirrors get_2d_sincos_pos_embed(D, grid). out [grid*grid, D] */
void vt_qwenvl_sincos_2d(float *out, int D, int grid)
{
    /* grid = np.meshgrid(grid_w, grid_h): grid[0][y][x] = x, grid[1][y][x] = y, flattened row-major.
     * emb = concat(1d(D/2, grid[0]), 1d(D/2, grid[1])): the first half encodes the column x, the second
     * the row y. (The reference names them emb_h / emb_w the other way round; the values are these.) */
    const int64_t n = (int64_t)grid * grid;
    for (int64_t r = 0; r < n; r++) {
        float col = (float)(r % grid), row = (float)(r / grid);
        sincos_1d(out + r * D, D, D / 2, &col, 1);
        sincos_1d(out + r * D + D / 2, D, D / 2, &row, 1);
    }
}

/* ================================ cross-attention ================================ */

/* Head-averaged attention probabilities of batch item b: weights [Q, L] = (sum_h softmax(q_h k_h^T)) / Hq.
 * The same scores, in the same order, as the attention kernel computes for the output. */
static void pool_weights(float *weights, vt_heads q, vt_heads k, int64_t Q, int64_t L, int64_t Hq, int64_t hd,
                         float *s)
{
    for (int64_t i = 0; i < Q; i++) {
        float *w_i = weights + i * L;
        for (int64_t j = 0; j < L; j++) w_i[j] = 0;
        for (int64_t h = 0; h < Hq; h++) {
            const float *q_i = q.data + i * q.row_stride + h * q.head_stride;
            for (int64_t j = 0; j < L; j++) {
                const float *k_j = k.data + j * k.row_stride + h * k.head_stride;
                float acc = 0;
                for (int64_t d = 0; d < hd; d++) acc += q_i[d] * k_j[d];
                s[j] = acc;
            }
            vt_softmax_row(s, L);
            for (int64_t j = 0; j < L; j++) w_i[j] += s[j];
        }
        for (int64_t j = 0; j < L; j++) w_i[j] /= (float)Hq; /* attn_output_weights.sum(dim=1) / num_heads */
    }
}

/*
 * mirrors F.multi_head_attention_forward (torch 1.13) for nn.MultiheadAttention(D, Hq), query != key != value.
 * query [Q, B, D], key and value [L, B, D] -> out [Q, B, D]; weights [B, Q, L] (head average) unless NULL.
 *
 * in_proj_weight [3D, D] is chunked by rows into Wq | Wk | Wv (a global split, unlike the trunk's
 * VisualAttention); each projection's D columns are Hq contiguous heads of hd. q is divided by sqrt(hd)
 * before q k^T.
 */
static int pool_attention(float *out, float *weights, const float *query, const float *key, const float *value,
                          int64_t Q, int64_t L, int64_t B, const vt_qwenvl_model *m, vt_arena *a, vt_status *st)
{
    const vt_qwenvl_weights *w = &m->w;
    const int64_t D = m->c.output_dim, Hq = m->pool_heads, hd = D / Hq;
    vt_arena_pos mark = vt_arena_mark(a);
    float *q = vt_arena_alloc(a, (size_t)(Q * B * D) * sizeof(float), st);
    float *k = q ? vt_arena_alloc(a, (size_t)(L * B * D) * sizeof(float), st) : NULL;
    float *v = k ? vt_arena_alloc(a, (size_t)(L * B * D) * sizeof(float), st) : NULL;
    float *ctx = v ? vt_arena_alloc(a, (size_t)(Q * B * D) * sizeof(float), st) : NULL;
    float *ctx_b = ctx ? vt_arena_alloc(a, (size_t)(Q * D) * sizeof(float), st) : NULL;
    float *s = ctx_b ? vt_arena_alloc(a, (size_t)L * sizeof(float), st) : NULL;
    if (!s) return st->code;

    /* _in_projection_packed: w_q, w_k, w_v = in_proj_weight.chunk(3) (and the bias likewise) */
    vt_linear(q, query, w->pool_in_proj_w, w->pool_in_proj_b, Q * B, D, D);
    vt_linear(k, key, w->pool_in_proj_w + D * D, w->pool_in_proj_b + D, L * B, D, D);
    vt_linear(v, value, w->pool_in_proj_w + 2 * D * D, w->pool_in_proj_b + 2 * D, L * B, D, D);
    /* _scaled_dot_product_attention: q = q / math.sqrt(E), E = hd */
    const float norm = (float)sqrt((double)hd);
    for (int64_t n = 0; n < Q * B * D; n++) q[n] /= norm;

    for (int64_t b = 0; b < B; b++) {
        /* q.view(Q, B*Hq, hd).transpose(0, 1): head h of item b is columns [h*hd, (h+1)*hd) of row (i, b) */
        vt_heads qh = {q + b * D, B * D, hd}, kh = {k + b * D, B * D, hd}, vh = {v + b * D, B * D, hd};
        const int32_t qcu[2] = {0, (int32_t)Q}, kcu[2] = {0, (int32_t)L}; /* every query sees every key */
        int rc = vt_attention_blocks(ctx_b, qh, kh, vh, Hq, hd, qcu, kcu, 1, 1.0f);
        if (rc) return vt_fail(st, rc, "attn_pool: out of memory for attention tiles of %lld keys", (long long)L);
        /* attn_output.transpose(0, 1).view(Q * B, D): back into row (i, b) */
        for (int64_t i = 0; i < Q; i++) memcpy(ctx + (i * B + b) * D, ctx_b + i * D, (size_t)D * sizeof(float));
        if (weights) pool_weights(weights + b * Q * L, qh, kh, Q, L, Hq, hd, s);
    }
    vt_linear(out, ctx, w->pool_out_proj_w, w->pool_out_proj_b, Q * B, D, D); /* out_proj */
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ================================ Resampler ================================ */

/* mirrors Resampler.forward. x [B, L, W] -> out [B, Q, D] */
int vt_qwenvl_resampler(vt_tensor *out, const vt_qwenvl_model *m, const vt_tensor *x, const vt_tap *tap,
                        vt_arena *a, vt_status *st)
{
    const vt_qwenvl_weights *w = &m->w;
    const int64_t B = x->shape[0], L = x->shape[1], W = m->c.width, D = m->c.output_dim, Q = m->n_pool_queries;
#define NAME(s) TV "attn_pool." s

    /* self.pos_embed: the stored parameter, or the table the constructor builds when it is absent */
    vt_tensor pos_embed;
    if (w->pool_pos_embed) {
        pos_embed = vt_tensor_of(VT_F32, (void *)w->pool_pos_embed, VT_DIMS(Q, D));
    } else {
        VT_TRY(vt_tensor_alloc(&pos_embed, a, VT_F32, VT_DIMS(Q, D), st));
        vt_qwenvl_sincos_2d(vt_f32(&pos_embed), (int)D, m->pool_grid);
    }
    /* pos_embed = get_abs_pos(self.pos_embed, L): the qg x qg table resized to the g x g image grid */
    vt_tensor pos;
    VT_TRY(vt_qwenvl_get_abs_pos(&pos, vt_f32(&pos_embed), Q, D, L, a, st));
    if (pos.shape[0] != L)
        return vt_fail(st, VT_EINPUT, NAME("pos_embed") ": %lld rows do not resize to %lld tokens",
                       (long long)pos.shape[0], (long long)L);
    VT_TRY(vt_tap_emit(tap, NAME("abs_pos"), &pos, st));

    /* x = self.kv_proj(x) (Linear(W, D, bias=False), or nn.Identity when W == D); x = self.ln_kv(x) */
    vt_tensor kv;
    VT_TRY(vt_tensor_alloc(&kv, a, VT_F32, VT_DIMS(B, L, D), st));
    if (w->pool_kv_proj_w) vt_linear(vt_f32(&kv), vt_f32(x), w->pool_kv_proj_w, NULL, B * L, W, D);
    else memcpy(kv.data, x->data, (size_t)(B * L * D) * sizeof(float));
    VT_TRY(vt_tap_emit(tap, NAME("kv_proj"), &kv, st));
    vt_layernorm(vt_f32(&kv), vt_f32(&kv), w->pool_ln_kv_w, w->pool_ln_kv_b, B * L, D, VT_QWENVL_LN_EPS);
    VT_TRY(vt_tap_emit(tap, NAME("ln_kv"), &kv, st));
    /* .permute(1, 0, 2): [B, L, D] -> [L, B, D], the value */
    vt_tensor value;
    VT_TRY(vt_permute(&value, &kv, VT_PERM(1, 0, 2), a, st));

    /* q = self.ln_q(self.query) */
    vt_tensor q;
    VT_TRY(vt_tensor_alloc(&q, a, VT_F32, VT_DIMS(Q, D), st));
    vt_layernorm(vt_f32(&q), w->pool_query, w->pool_ln_q_w, w->pool_ln_q_b, Q, D, VT_QWENVL_LN_EPS);
    VT_TRY(vt_tap_emit(tap, NAME("ln_q"), &q, st));
    VT_TRY(vt_tap_emit(tap, NAME("pos_embed"), &pos_embed, st));

    /* query = self._repeat(q, B) + self.pos_embed.unsqueeze(1): [Q, B, D] */
    vt_tensor query, key;
    VT_TRY(vt_tensor_alloc(&query, a, VT_F32, VT_DIMS(Q, B, D), st));
    for (int64_t i = 0; i < Q; i++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                vt_f32(&query)[(i * B + b) * D + d] = vt_f32(&q)[i * D + d] + vt_f32(&pos_embed)[i * D + d];
    VT_TRY(vt_tap_emit(tap, NAME("attn.query_in"), &query, st));
    /* key = x + pos_embed.unsqueeze(1): [L, B, D] */
    VT_TRY(vt_tensor_alloc(&key, a, VT_F32, VT_DIMS(L, B, D), st));
    for (int64_t l = 0; l < L; l++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                vt_f32(&key)[(l * B + b) * D + d] = vt_f32(&value)[(l * B + b) * D + d] + vt_f32(&pos)[l * D + d];
    VT_TRY(vt_tap_emit(tap, NAME("attn.key_in"), &key, st));

    /* self.attn(query, key, value)[0]; [1] (the head-averaged weights) is computed only for the trace */
    vt_tensor attn, weights = {0};
    VT_TRY(vt_tensor_alloc(&attn, a, VT_F32, VT_DIMS(Q, B, D), st));
    int want_w = vt_tap_wants(tap, NAME("attn.weights"));
    if (want_w) VT_TRY(vt_tensor_alloc(&weights, a, VT_F32, VT_DIMS(B, Q, L), st));
    VT_TRY(pool_attention(vt_f32(&attn), want_w ? vt_f32(&weights) : NULL, vt_f32(&query), vt_f32(&key),
                          vt_f32(&value), Q, L, B, m, a, st));
    VT_TRY(vt_tap_emit(tap, NAME("attn"), &attn, st));
    if (want_w) VT_TRY(vt_tap_emit(tap, NAME("attn.weights"), &weights, st));

    /* out.permute(1, 0, 2): [Q, B, D] -> [B, Q, D] */
    VT_TRY(vt_permute(out, &attn, VT_PERM(1, 0, 2), a, st));
#undef NAME
    return vt_tap_emit(tap, TV "attn_pool", out, st);
}

/* ================================ forward ================================ */

/* mirrors VisionTransformer.forward. pixels [B, 3, S, S] -> out [B, Q, D] */
int vt_qwenvl_forward(vt_tensor *out, const vt_qwenvl_model *m, const vt_tensor *pixels, const vt_tap *tap,
                      vt_arena *a, vt_status *st)
{
    const int64_t D = m->c.output_dim;
    vt_tensor x, lnd, nld, pooled;
    VT_TRY(vt_qwenvl_embed(&x, m, pixels, tap, a, st)); /* conv1, abs_pos, ln_pre: [B, L, W] */
    VT_TRY(vt_permute(&lnd, &x, VT_PERM(1, 0, 2), a, st)); /* NLD -> LND */
    for (int i = 0; i < m->c.layers; i++) {
        VT_TRY(vt_qwenvl_resblock(&lnd, m, i, tap, a, st));
        vt_tap_progress(tap, "resblock", i, m->c.layers);
    }
    VT_TRY(vt_tap_emit(tap, TV "transformer", &lnd, st));
    VT_TRY(vt_permute(&nld, &lnd, VT_PERM(1, 0, 2), a, st)); /* LND -> NLD */

    VT_TRY(vt_qwenvl_resampler(&pooled, m, &nld, tap, a, st));
    const int64_t B = pooled.shape[0], Q = pooled.shape[1];
    vt_layernorm(vt_f32(&pooled), vt_f32(&pooled), m->w.ln_post_w, m->w.ln_post_b, B * Q, D, VT_QWENVL_LN_EPS);
    VT_TRY(vt_tap_emit(tap, TV "ln_post", &pooled, st));

    /* x = x @ self.proj: a right multiplication by a [D_in, D_out] parameter, not a Linear. It equals
     * vt_linear with proj^T as the weight ([D_out, D_in]), so we transpose it once here. */
    vt_tensor proj = vt_tensor_of(VT_F32, (void *)m->w.proj, VT_DIMS(D, D)), proj_t;
    VT_TRY(vt_permute(&proj_t, &proj, VT_PERM(1, 0), a, st));
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(B, Q, D), st));
    vt_linear(vt_f32(out), vt_f32(&pooled), vt_f32(&proj_t), NULL, B * Q, D, D);
    return vt_tap_emit(tap, "transformer.visual", out, st);
}

int vt_qwenvl_pipeline(vt_tensor *out, const vt_qwenvl_model *m, const vt_image *images, int n, const vt_tap *tap,
                       vt_arena *a, vt_status *st)
{
    /* VisionTransformer.encode: image_transform per image, torch.stack into one batch, forward */
    const int64_t S = m->c.image_size;
    vt_tensor pixels;
    VT_TRY(vt_tensor_alloc(&pixels, a, VT_F32, VT_DIMS(n, 3, S, S), st));
    for (int k = 0; k < n; k++) {
        vt_arena_pos mark = vt_arena_mark(a);
        vt_tensor px;
        VT_TRY(vt_qwenvl_image_transform(&px, &images[k], k, (int)S, tap, a, st));
        memcpy(vt_f32(&pixels) + k * 3 * S * S, px.data, (size_t)(3 * S * S) * sizeof(float));
        vt_arena_reset(a, mark);
    }
    return vt_qwenvl_forward(out, m, &pixels, tap, a, st);
}
