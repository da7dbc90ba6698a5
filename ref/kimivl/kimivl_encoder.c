/*
 * kimivl_encoder.c -- MoonViT up to final_layernorm: MoonVisionPatchEmbed, Rope2DPosEmb and the
 * MoonVitEncoderLayer blocks of modeling_kimi_vl.py, for all images packed into one sequence.
 *
 * Legend: N patches of all images, D hidden, H heads, hd = D/H, F mlp width, P patch side, C = 3,
 * h0 x w0 the learned position table, (gh, gw) one image's patch grid, n images.
 *
 *   pixel_values [N, C, P, P]
 *     -> proj (Conv2d k = s = P, i.e. a Linear of C*P*P values)   vision_tower.patch_embed.proj [N, D, 1, 1]
 *     -> + pos_emb [h0, w0, D] bicubic-resized to each (gh, gw)    ...patch_embed.pos_emb.interpolated [N, D]
 *                                                                  vision_tower.patch_embed [N, D]
 *   rope cis per patch (positions restart at (0, 0) per image)     vision_tower.encoder.rope_freqs_cis [N, hd/2, 2]
 *   cu_seqlens [n+1] int32                                         vision_tower.encoder.cu_seqlens
 *   L blocks, each (prefix vision_tower.encoder.blocks.{i}):
 *     x -> norm0 -> wqkv [N, 3D] -> view (N, 3, H, hd): q | k | v
 *       -> q, k through the complex-pair RoPE                      .q_rope / .k_rope [N, H, hd]
 *       -> attention inside each image (block-diagonal)            .attn_out [N, D]
 *       -> wo; x + wo                                              .wo, .attn_residual
 *       -> norm1 -> mlp.fc0 -> GELU(tanh) -> mlp.fc1; + residual   .norm1, .mlp.fc0, .mlp.activation, .mlp.fc1, (block)
 *   final_layernorm                                                vision_tower.encoder.final_layernorm [N, D]
 *
 * Every LayerNorm here is nn.LayerNorm's default eps = 1e-5.
 */
#include <math.h>
#include <string.h>

#include "core/bugzoo.h"
#include "kimivl/kimivl.h"
#include "core/ops.h"
#include "io/resize.h"

#define VT_KIMIVL_LN_EPS 1e-5f

/* ================================ stages ================================= */

/* mirrors MoonVisionPatchEmbed.proj. pixel_values [N, C, P, P] -> y [N, D].
 * Conv2d with kernel = stride = P on a P x P patch is one dot product per output channel over the
 * C*P*P values in (c, y, x) order, which is the weight's own [D, C, P, P] layout: a Linear. */
static void vt_kimivl_patch_embed_proj(float *y, const float *pixels, const vt_kimivl_weights *w, int64_t N, int64_t D,
                                    int64_t P)
{
    vt_linear(y, pixels, w->patch_embed_proj_w, w->patch_embed_proj_b, N, 3 * P * P, D);
}

/* mirrors Learnable2DInterpPosEmb.forward (without the add). pos_emb [h0, w0, D] -> out [N, D]:
 *   F.interpolate(weight.permute(2, 0, 1)[None], size=(gh, gw), mode="bicubic").squeeze(0).permute(1, 2, 0)
 * per image, flattened row-major and concatenated. The reference compares a list with a torch.Size to
 * skip the interpolation for (h0, w0); that test is never true, so it always interpolates -- harmless,
 * since bicubic at scale 1 has the taps (0, 1, 0, 0) and copies exactly. */
static int vt_kimivl_pos_emb_interpolated(float *out, const vt_kimivl_weights *w, const vt_kimivl_config *c,
                                       const int64_t *grid, int n, vt_arena *a, vt_status *st)
{
    const int64_t D = c->hidden_size, h0 = c->init_pos_emb_height, w0 = c->init_pos_emb_width;
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor table = vt_tensor_of(VT_F32, (void *)w->patch_embed_pos_emb_w, VT_DIMS(h0, w0, D)), chw;
    VT_TRY(vt_permute(&chw, &table, VT_PERM(2, 0, 1), a, st)); /* [D, h0, w0] */
    int64_t row = 0;
    for (int k = 0; k < n; k++) {
        const int64_t gh = grid[2 * k], gw = grid[2 * k + 1];
        vt_arena_pos m2 = vt_arena_mark(a);
        vt_tensor resized, hwd;
        VT_TRY(vt_tensor_alloc(&resized, a, VT_F32, VT_DIMS(D, gh, gw), st));
        VT_TRY(vt_resize_torch_bicubic(vt_f32(&resized), (int)gh, (int)gw, vt_f32(&chw), (int)D, (int)h0, (int)w0, st));
        VT_TRY(vt_permute(&hwd, &resized, VT_PERM(1, 2, 0), a, st)); /* [gh, gw, D] */
        memcpy(out + row * D, hwd.data, vt_nbytes(&hwd));
        row += gh * gw;
        vt_arena_reset(a, m2);
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_kimivl_rope_freqs_cis(float *freqs, const int64_t *grid, int n, int64_t N, int hd, vt_status *st)
{
    const int quarter = hd / 4;
    int64_t row = 0;
    for (int k = 0; k < n; k++) {
        const int64_t gh = grid[2 * k], gw = grid[2 * k + 1];
        if (gh < 1 || gw < 1 || gh > VT_KIMIVL_ROPE_MAX_SIDE || gw > VT_KIMIVL_ROPE_MAX_SIDE)
            return vt_fail(st, VT_EINPUT, "image_grid_hws: image %d grid %lldx%lld is outside the rope table's "
                           "1..%d per side", k, (long long)gh, (long long)gw, VT_KIMIVL_ROPE_MAX_SIDE);
        if (row + gh * gw > N)
            return vt_fail(st, VT_EINPUT, "image_grid_hws: the grids add up to more than %lld patches", (long long)N);
        /* freqs_cis[:gh, :gw] of the precomputed table: positions start at (0, 0) for every image */
        for (int64_t y = 0; y < gh; y++)
            for (int64_t x = 0; x < gw; x++, row++) {
                float *f = freqs + row * (hd / 2) * 2;
                for (int i = 0; i < quarter; i++) {
                    /* freqs = 1.0 / (10000 ** (arange(0, hd, 4)[i] / hd)), float32 as torch makes it */
                    float theta = 1.0f / powf(10000.0f, (float)(4 * i) / (float)hd);
                    float ax = (float)x * theta, ay = (float)y * theta;
                    /* torch.cat([x_cis[..., None], y_cis[..., None]], -1): pair 2i is w, pair 2i+1 is h
                     * (the docstring says the reverse; the code is what the model was trained with) */
                    f[(2 * i) * 2 + 0] = cosf(ax);
                    f[(2 * i) * 2 + 1] = sinf(ax);
                    f[(2 * i + 1) * 2 + 0] = cosf(ay);
                    f[(2 * i + 1) * 2 + 1] = sinf(ay);
                }
            }
    }
    if (row != N)
        return vt_fail(st, VT_EINPUT, "image_grid_hws: the grids add up to %lld patches, pixel_values has %lld",
                       (long long)row, (long long)N);
    return VT_OK;
}

void vt_kimivl_apply_rope(float *x, const float *freqs, int64_t N, int H, int hd)
{
    for (int64_t r = 0; r < N; r++) {
        const float *f = freqs + r * (hd / 2) * 2; /* one cis per pair, shared by all heads */
        for (int h = 0; h < H; h++) {
            float *x_h = x + (r * H + h) * hd;
            for (int j = 0; j < hd / 2; j++) {
                /* view_as_complex(x.view(..., -1, 2)) * cis: (a + ib)(c + is) = (ac - bs) + i(as + bc) */
                float re = x_h[2 * j], im = x_h[2 * j + 1], c = f[2 * j], s = f[2 * j + 1];
                x_h[2 * j] = re * c - im * s;
                x_h[2 * j + 1] = re * s + im * c;
            }
        }
    }
}

void vt_kimivl_sdpa_mask(float *mask, const int32_t *cu, int n, int64_t N)
{
    for (int64_t i = 0; i < N * N; i++) mask[i] = -INFINITY;
    for (int g = 0; g < n; g++)
        for (int64_t i = cu[g]; i < cu[g + 1]; i++)
            for (int64_t j = cu[g]; j < cu[g + 1]; j++) mask[i * N + j] = 0.0f;
}

void vt_kimivl_eager_mask(float *mask, const int32_t *cu, int n, int64_t N)
{
    /* attention_mask = zeros([1, N, N], dtype=bool); True on each image's block; then
     * `attn_weight += attention_mask`: True counts as 1.0, False as 0.0 -- nothing is masked */
    for (int64_t i = 0; i < N * N; i++) mask[i] = 0.0f;
    for (int g = 0; g < n; g++)
        for (int64_t i = cu[g]; i < cu[g + 1]; i++)
            for (int64_t j = cu[g]; j < cu[g + 1]; j++) mask[i * N + j] = 1.0f;
}

/* mirrors eager_attention (VL_VISION_ATTENTION_FUNCTIONS["eager"]), the bug zoo's cross-image-leak:
 * softmax(q k^T * scale + mask) v with the boolean image mask ADDED (+1 inside an image, +0 across), so
 * packed images see each other. q, k [N, H, hd], v in place -> out [N, D]. */
static int eager_attention(float *out, vt_heads qh, vt_heads kh, vt_heads vh, const int32_t *cu, int n, int64_t N,
                           int H, int hd, float scale, vt_arena *a, vt_status *st)
{
    if (N > VT_ATTN_LITERAL_MAX_N)
        return vt_fail(st, VT_EINPUT, "attention: an eager %lld x %lld mask is too large (at most %d patches)",
                       (long long)N, (long long)N, VT_ATTN_LITERAL_MAX_N);
    vt_arena_pos mark = vt_arena_mark(a);
    float *mask = vt_arena_alloc(a, (size_t)N * (size_t)N * sizeof(float), st);
    if (!mask) return st->code;
    vt_kimivl_eager_mask(mask, cu, n, N);
    int rc = vt_attention_masked(out, qh, kh, vh, N, N, H, hd, mask, scale);
    vt_arena_reset(a, mark);
    if (rc) return vt_fail(st, VT_ERESOURCE, "attention: out of memory for a score row of %lld keys", (long long)N);
    return VT_OK;
}

/* mirrors sdpa_attention (VL_VISION_ATTENTION_FUNCTIONS["sdpa"], the same numbers as its flash path).
 * q, k [N, H, hd] after RoPE, v read in place from wqkv [N, 3D] -> out [N, D] (heads concatenated).
 * Each image attends only to itself: the reference's boolean mask is True on the diagonal blocks and
 * F.scaled_dot_product_attention treats False as -inf. Scale 1/sqrt(hd).
 *   literal_mask 0: walk each image's segment (vt_attention_segments), no N x N buffer;
 *   literal_mask 1: build that mask (vt_kimivl_sdpa_mask) and attend through it (vt_attention_masked).
 * exp(-inf) is exactly 0, so both give the same numbers (tests/test_kimivl.c checks it). The reference's
 * eager_attention instead ADDS the boolean mask (+1 inside, +0 outside), so packed images leak into each
 * other there; the goldens follow sdpa, and docs/kimivl.md tells the story. */
static int vt_kimivl_sdpa_attention(float *out, const float *q, const float *k, const float *qkv, const int32_t *cu,
                                 int n, int64_t N, int H, int hd, const vt_kimivl_opts *opts, vt_arena *a,
                                 vt_status *st)
{
    const int64_t D = (int64_t)H * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    vt_heads qh = {q, D, hd}, kh = {k, D, hd}, vh = {qkv + 2 * D, 3 * D, hd};
    const unsigned bugs = opts ? opts->bugs : 0;
    const int32_t one_segment[2] = {0, (int32_t)N};
    /* bug zoo, no-segment-mask: every image attends to every other one */
    VT_BUG_SWITCH(bugs, VT_BUG_NO_SEGMENT_MASK, cu = one_segment; n = 1);
    /* bug zoo, cross-image-leak: the reference's own eager path, the mask added as +1 / +0 */
    VT_BUG_SWITCH(bugs, VT_BUG_CROSS_IMAGE_LEAK, return eager_attention(out, qh, kh, vh, cu, n, N, H, hd, scale, a, st));
    if (opts && opts->literal_mask) {
        if (N > VT_ATTN_LITERAL_MAX_N) /* refused before allocating: the mask alone would be N*N*4 bytes */
            return vt_fail(st, VT_EINPUT, "attention: a literal %lld x %lld mask is too large (at most %d patches; "
                           "the segment path has no such limit)", (long long)N, (long long)N, VT_ATTN_LITERAL_MAX_N);
        vt_arena_pos mark = vt_arena_mark(a);
        float *mask = vt_arena_alloc(a, (size_t)N * (size_t)N * sizeof(float), st);
        if (!mask) return st->code;
        vt_kimivl_sdpa_mask(mask, cu, n, N);
        int rc = vt_attention_masked(out, qh, kh, vh, N, N, H, hd, mask, scale);
        vt_arena_reset(a, mark);
        if (rc) return vt_fail(st, VT_ERESOURCE, "attention: out of memory for a score row of %lld keys", (long long)N);
        return VT_OK;
    }
    if (vt_attention_segments(out, qh, kh, vh, N, H, hd, cu, n, scale))
        return vt_fail(st, VT_ERESOURCE, "attention: out of memory for a score row of %lld keys", (long long)N);
    return VT_OK;
}

/* mirrors MoonVitEncoderLayer.forward. x [N, D] updated in place (both residual adds). */
static int vt_kimivl_encoder_layer(float *x, const vt_kimivl_block_weights *b, int i, const vt_kimivl_config *c,
                                const float *freqs, const int32_t *cu, int n, int64_t N, const vt_kimivl_opts *opts,
                                const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t D = c->hidden_size, F = c->intermediate_size;
    const int H = c->num_attention_heads, hd = c->hidden_size / c->num_attention_heads;
    const char *p = "vision_tower.encoder.blocks";
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor h0, qkv, q, k, attn, wo, h1, f0, f1;
    vt_tensor xt = vt_tensor_of(VT_F32, x, VT_DIMS(N, D));

    /* attention half: residual + wo(attn(rope(split(wqkv(norm0(x)))))) */
    VT_TRY(vt_tensor_alloc(&h0, a, VT_F32, VT_DIMS(N, D), st));
    vt_layernorm(vt_f32(&h0), x, b->norm0_w, b->norm0_b, N, D, VT_KIMIVL_LN_EPS);
    VT_TRY(vt_tap_emitf(tap, st, &h0, "%s.%d.norm0", p, i));
    VT_TRY(vt_tensor_alloc(&qkv, a, VT_F32, VT_DIMS(N, 3 * D), st));
    vt_linear(vt_f32(&qkv), vt_f32(&h0), b->wqkv_w, b->wqkv_b, N, D, 3 * D);
    VT_TRY(vt_tap_emitf(tap, st, &qkv, "%s.%d.wqkv", p, i));

    /* xqkv.view(N, 3, H, hd).unbind(-3): a global q | k | v split (not per head interleaved) */
    VT_TRY(vt_tensor_alloc(&q, a, VT_F32, VT_DIMS(N, H, hd), st));
    VT_TRY(vt_tensor_alloc(&k, a, VT_F32, VT_DIMS(N, H, hd), st));
    for (int64_t r = 0; r < N; r++) {
        memcpy(vt_f32(&q) + r * D, vt_f32(&qkv) + r * 3 * D, (size_t)D * sizeof(float));
        memcpy(vt_f32(&k) + r * D, vt_f32(&qkv) + r * 3 * D + D, (size_t)D * sizeof(float));
    }
    vt_kimivl_apply_rope(vt_f32(&q), freqs, N, H, hd);
    vt_kimivl_apply_rope(vt_f32(&k), freqs, N, H, hd);
    VT_TRY(vt_tap_emitf(tap, st, &q, "%s.%d.q_rope", p, i));
    VT_TRY(vt_tap_emitf(tap, st, &k, "%s.%d.k_rope", p, i));

    VT_TRY(vt_tensor_alloc(&attn, a, VT_F32, VT_DIMS(N, D), st));
    VT_TRY(vt_kimivl_sdpa_attention(vt_f32(&attn), vt_f32(&q), vt_f32(&k), vt_f32(&qkv), cu, n, N, H, hd, opts, a, st));
    VT_TRY(vt_tap_emitf(tap, st, &attn, "%s.%d.attn_out", p, i));
    VT_TRY(vt_tensor_alloc(&wo, a, VT_F32, VT_DIMS(N, D), st));
    vt_linear(vt_f32(&wo), vt_f32(&attn), b->wo_w, b->wo_b, N, D, D);
    VT_TRY(vt_tap_emitf(tap, st, &wo, "%s.%d.wo", p, i));
    for (int64_t j = 0; j < N * D; j++) x[j] += vt_f32(&wo)[j];
    VT_TRY(vt_tap_emitf(tap, st, &xt, "%s.%d.attn_residual", p, i));

    /* MLP half: residual + fc1(gelu_tanh(fc0(norm1(x)))) */
    VT_TRY(vt_tensor_alloc(&h1, a, VT_F32, VT_DIMS(N, D), st));
    vt_layernorm(vt_f32(&h1), x, b->norm1_w, b->norm1_b, N, D, VT_KIMIVL_LN_EPS);
    VT_TRY(vt_tap_emitf(tap, st, &h1, "%s.%d.norm1", p, i));
    VT_TRY(vt_tensor_alloc(&f0, a, VT_F32, VT_DIMS(N, F), st));
    vt_linear(vt_f32(&f0), vt_f32(&h1), b->mlp_fc0_w, b->mlp_fc0_b, N, D, F);
    VT_TRY(vt_tap_emitf(tap, st, &f0, "%s.%d.mlp.fc0", p, i));
    vt_gelu_tanh(vt_f32(&f0), vt_f32(&f0), N * F); /* PytorchGELUTanh */
    VT_TRY(vt_tap_emitf(tap, st, &f0, "%s.%d.mlp.activation", p, i));
    VT_TRY(vt_tensor_alloc(&f1, a, VT_F32, VT_DIMS(N, D), st));
    vt_linear(vt_f32(&f1), vt_f32(&f0), b->mlp_fc1_w, b->mlp_fc1_b, N, F, D);
    VT_TRY(vt_tap_emitf(tap, st, &f1, "%s.%d.mlp.fc1", p, i));
    for (int64_t j = 0; j < N * D; j++) x[j] += vt_f32(&f1)[j];
    VT_TRY(vt_tap_emitf(tap, st, &xt, "%s.%d", p, i));

    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ================================ forward ================================ */

/* mirrors MoonVisionPatchEmbed.forward then MoonVitEncoder.forward. pixel_values [N, C, P, P],
 * grid [n, 2] -> out [N, D] (arena), the final_layernorm output. */
int vt_kimivl_vision_encoder(vt_tensor *out, const vt_kimivl_weights *w, const vt_kimivl_config *c, const vt_tensor *pixels,
                          const int64_t *grid, int n, const vt_kimivl_opts *opts, const vt_tap *tap, vt_arena *a,
                          vt_status *st)
{
    const int64_t N = pixels->shape[0], D = c->hidden_size, P = c->patch_size;
    const int hd = c->hidden_size / c->num_attention_heads;

    /* patch embedding: proj, then the interpolated learned positions */
    vt_tensor x, pos, freqs, cu;
    VT_TRY(vt_tensor_alloc(&x, a, VT_F32, VT_DIMS(N, D), st));
    vt_kimivl_patch_embed_proj(vt_f32(&x), vt_f32(pixels), w, N, D, P);
    if (vt_tap_wants(tap, "vision_tower.patch_embed.proj")) {
        vt_tensor v = vt_tensor_of(VT_F32, x.data, VT_DIMS(N, D, 1, 1)); /* Conv2d's [N, D, 1, 1] */
        VT_TRY(vt_tap_emit(tap, "vision_tower.patch_embed.proj", &v, st));
    }
    /* rope first: it validates the grids before anything is sized by them */
    VT_TRY(vt_tensor_alloc(&freqs, a, VT_F32, VT_DIMS(N, hd / 2, 2), st));
    VT_TRY(vt_kimivl_rope_freqs_cis(vt_f32(&freqs), grid, n, N, hd, st));

    VT_TRY(vt_tensor_alloc(&pos, a, VT_F32, VT_DIMS(N, D), st));
    VT_TRY(vt_kimivl_pos_emb_interpolated(vt_f32(&pos), w, c, grid, n, a, st));
    VT_TRY(vt_tap_emit(tap, "vision_tower.patch_embed.pos_emb.interpolated", &pos, st));
    for (int64_t j = 0; j < N * D; j++) vt_f32(&x)[j] += vt_f32(&pos)[j];
    VT_TRY(vt_tap_emit(tap, "vision_tower.patch_embed", &x, st));

    VT_TRY(vt_tap_emit(tap, "vision_tower.encoder.rope_freqs_cis", &freqs, st));
    /* cu_seqlens = cat([0], gh*gw).cumsum(dtype=int32) */
    VT_TRY(vt_tensor_alloc(&cu, a, VT_I32, VT_DIMS(n + 1), st));
    vt_i32(&cu)[0] = 0;
    for (int k = 0; k < n; k++) vt_i32(&cu)[k + 1] = vt_i32(&cu)[k] + (int32_t)(grid[2 * k] * grid[2 * k + 1]);
    VT_TRY(vt_tap_emit(tap, "vision_tower.encoder.cu_seqlens", &cu, st));

    for (int i = 0; i < c->num_hidden_layers; i++) {
        vt_tap_progress(tap, "block", i, c->num_hidden_layers);
        VT_TRY(vt_kimivl_encoder_layer(vt_f32(&x), &w->blocks[i], i, c, vt_f32(&freqs), vt_i32(&cu), n, N, opts, tap, a, st));
    }
    vt_layernorm(vt_f32(&x), vt_f32(&x), w->final_layernorm_w, w->final_layernorm_b, N, D, VT_KIMIVL_LN_EPS);
    VT_TRY(vt_tap_emit(tap, "vision_tower.encoder.final_layernorm", &x, st));
    *out = x;
    return VT_OK;
}
