/*
 * qwenvl_trunk.c -- Qwen-VL (v1) image transform and ViT-bigG trunk (visual.py: VisionTransformer up to
 * self.transformer, get_abs_pos, VisualAttentionBlock, VisualAttention).
 *
 *   B batch  S image_size [448]  P patch [14]  g = S/P grid [32]  L = g*g tokens [1024]
 *   W width [1664]  H heads [16]  hd = W/H head_dim [104]  M mlp width [8192]
 *
 *   image [h, w, 3] -> [S, S, 3] -> [3, S, S]                          vt_qwenvl_image_transform
 *   [B, 3, S, S] -conv1-> [B, W, g, g] -> [B, L, W] (+abs_pos) -ln_pre-> vt_qwenvl_embed
 *   [L, B, W] -> ln_1 -> in_proj [L, B, 3W] -> attention [L, B, W] -> out_proj -> + x
 *             -> ln_2 -> c_fc [L, B, M] -> GELU(erf) -> c_proj [L, B, W] -> + x  vt_qwenvl_resblock
 */
#include <math.h>
#include <string.h>

#include "core/bugzoo.h"
#include "core/ops.h"
#include "qwenvl/qwenvl.h"
#include "io/resize.h"

#define TV "transformer.visual."

/* int(math.sqrt(n)) for the n >= 0 that occur here (exact integer floor, no float edge cases). */
static int64_t isqrt64(int64_t n)
{
    int64_t r = (int64_t)sqrt((double)n);
    while (r > 0 && r * r > n) r--;
    while ((r + 1) * (r + 1) <= n) r++;
    return r;
}

/* ================================ preprocessing ================================ */

/* The CLIP statistics hard-coded in VisionTransformer.__init__ (Qwen-VL has no preprocessor_config.json). */
static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* mirrors VisionTransformer.image_transform. img [h, w, 3] uint8 -> out [3, S, S] float32 */
int vt_qwenvl_image_transform(vt_tensor *out, const vt_image *img, int k, int image_size, const vt_tap *tap,
                              vt_arena *a, vt_status *st)
{
    const int64_t S = image_size;
    vt_tensor rgb = vt_tensor_of(VT_U8, img->rgb, VT_DIMS(img->h, img->w, 3));
    VT_TRY(vt_tap_emitf(tap, st, &rgb, "image.%d.rgb", k));

    /* transforms.Resize((S, S), interpolation=BICUBIC) on a PIL image is PIL's Image.resize(BICUBIC):
     * a = -0.5, antialiased. Both sides go to S: the aspect ratio is not kept. */
    vt_tensor resized;
    VT_TRY(vt_tensor_alloc(&resized, a, VT_U8, VT_DIMS(S, S, 3), st));
    VT_TRY(vt_resize_pil_bicubic(vt_u8(&resized), (int)S, (int)S, img->rgb, img->w, img->h, 3, st));
    VT_TRY(vt_tap_emitf(tap, st, &resized, "image.%d.resized", k));

    /* ToTensor: HWC uint8 -> CHW float32, x / 255; Normalize: (x - mean[c]) / std[c], all in float32. */
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(3, S, S), st));
    const uint8_t *src = vt_u8(&resized);
    float *dst = vt_f32(out);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < S; y++)
            for (int64_t x = 0; x < S; x++) {
                float v = (float)src[(y * S + x) * 3 + c] / 255.0f;
                dst[(c * S + y) * S + x] = (v - clip_mean[c]) / clip_std[c];
            }
    return vt_tap_emitf(tap, st, out, "image.%d.normalized", k);
}

/* ================================ position table ================================ */

/* mirrors get_abs_pos. table [rows, C] -> out [tgt*tgt, C] */
int vt_qwenvl_get_abs_pos(vt_tensor *out, const float *table, int64_t rows, int64_t C, int64_t tgt_len,
                          vt_arena *a, vt_status *st)
{
    const int64_t src = isqrt64(rows), tgt = isqrt64(tgt_len);
    if (src == tgt) { /* `return abs_pos` unchanged */
        VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(rows, C), st));
        memcpy(out->data, table, (size_t)(rows * C) * sizeof(float));
        return VT_OK;
    }
    /* abs_pos.reshape(1, src, src, -1).permute(0, 3, 1, 2): [src*src, C] -> [C, src, src] */
    vt_tensor t = vt_tensor_of(VT_F32, (void *)table, VT_DIMS(rows, C)), chw;
    VT_TRY(vt_reshape(&t, VT_DIMS(src, src, C), st));
    VT_TRY(vt_permute(&chw, &t, VT_PERM(2, 0, 1), a, st));
    /* F.interpolate(size=(tgt, tgt), mode="bicubic", align_corners=False): A = -0.75, clamped taps */
    vt_tensor up;
    VT_TRY(vt_tensor_alloc(&up, a, VT_F32, VT_DIMS(C, tgt, tgt), st));
    VT_TRY(vt_resize_torch_bicubic(vt_f32(&up), (int)tgt, (int)tgt, vt_f32(&chw), (int)C, (int)src, (int)src, st));
    /* .permute(0, 2, 3, 1).flatten(0, 2): [C, tgt, tgt] -> [tgt*tgt, C] */
    VT_TRY(vt_permute(out, &up, VT_PERM(1, 2, 0), a, st));
    return vt_reshape(out, VT_DIMS(tgt * tgt, C), st);
}

/* ================================ embedding ================================ */

/* conv1, reshape/permute to tokens, + get_abs_pos, ln_pre. pixels [B, 3, S, S] -> x [B, L, W] */
int vt_qwenvl_embed(vt_tensor *x, const vt_qwenvl_model *m, const vt_tensor *pixels, const vt_tap *tap,
                    vt_arena *a, vt_status *st)
{
    const int64_t S = m->c.image_size, P = m->c.patch_size, g = m->grid, L = g * g, W = m->c.width;
    if (pixels->dtype != VT_F32 || pixels->ndim != 4 || pixels->shape[1] != 3 || pixels->shape[2] != S ||
        pixels->shape[3] != S || pixels->shape[0] < 1)
        return vt_fail(st, VT_EINPUT, "pixel_values: expected [B, 3, %lld, %lld] float32", (long long)S, (long long)S);
    const int64_t B = pixels->shape[0], K = 3 * P * P;
    const float *px = vt_f32(pixels);

    /* conv1 = Conv2d(3, W, kernel_size=P, stride=P, bias=False): output pixel (gy, gx) of channel o is the
     * dot product of conv1.weight[o] (flattened [3, P, P]) with the P x P x 3 patch at (gy*P, gx*P). Gather
     * the patches in the weight's (c, py, px) order; a remainder of S % P pixels is never read, as in the conv. */
    vt_tensor patches, conv;
    VT_TRY(vt_tensor_alloc(&patches, a, VT_F32, VT_DIMS(B, L, K), st));
    float *pt = vt_f32(&patches);
    for (int64_t b = 0; b < B; b++)
        for (int64_t gy = 0; gy < g; gy++)
            for (int64_t gx = 0; gx < g; gx++) {
                float *p_n = pt + (b * L + gy * g + gx) * K;
                for (int64_t c = 0; c < 3; c++)
                    for (int64_t py = 0; py < P; py++)
                        for (int64_t pxi = 0; pxi < P; pxi++)
                            p_n[(c * P + py) * P + pxi] = px[((b * 3 + c) * S + gy * P + py) * S + gx * P + pxi];
            }
    /* conv1 weight [W, K] @ patches[b]^T [K, L] -> [W, L] per image: the conv's own [B, W, g, g] layout. */
    VT_TRY(vt_tensor_alloc(&conv, a, VT_F32, VT_DIMS(B, W, g, g), st));
    for (int64_t b = 0; b < B; b++)
        vt_linear(vt_f32(&conv) + b * W * L, m->w.conv1_w, pt + b * L * K, NULL, W, K, L);
    VT_TRY(vt_tap_emit(tap, TV "conv1", &conv, st));

    /* x.reshape(B, W, g*g).permute(0, 2, 1): [B, W, g, g] -> [B, L, W] */
    VT_TRY(vt_reshape(&conv, VT_DIMS(B, W, L), st));
    VT_TRY(vt_permute(x, &conv, VT_PERM(0, 2, 1), a, st));

    /* x + get_abs_pos(positional_embedding, L): the 16 x 16 table resized to g x g, broadcast over B */
    vt_tensor pos;
    VT_TRY(vt_qwenvl_get_abs_pos(&pos, m->w.positional_embedding, VT_QWENVL_POS_ROWS, W, L, a, st));
    if (pos.shape[0] != L) /* only when the table is not square, which a [256, W] table never is */
        return vt_fail(st, VT_EINPUT, TV "positional_embedding: %lld rows do not resize to %lld tokens",
                       (long long)pos.shape[0], (long long)L);
    VT_TRY(vt_tap_emit(tap, TV "abs_pos", &pos, st));
    float *xd = vt_f32(x);
    const float *pd = vt_f32(&pos);
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < L * W; n++) xd[b * L * W + n] += pd[n];
    VT_TRY(vt_tap_emit(tap, TV "embeddings", x, st));

    vt_layernorm(xd, xd, m->w.ln_pre_w, m->w.ln_pre_b, B * L, W, VT_QWENVL_LN_EPS);
    return vt_tap_emit(tap, TV "ln_pre", x, st);
}

/* ================================ resblocks ================================ */

/*
 * mirrors VisualAttention.forward (self-attention). qkv [L, B, 3W] -> ctx [L, B, W]
 *
 * The in_proj output is viewed as [L, B, H, 3*hd] and split along the last axis into q | k | v: the
 * columns of head h are [h*3hd, h*3hd + hd) for q, the next hd for k, the next hd for v. (Splitting the
 * 3W columns globally into q | k | v, as nn.MultiheadAttention does, is the classic porting bug.)
 * q is divided by sqrt(hd) BEFORE q k^T, as the reference does (q_scaled = query_layer / norm_factor).
 */
static int visual_attention(float *ctx, const float *qkv, int64_t L, int64_t B, int64_t H, int64_t hd,
                            unsigned bugs, vt_arena *a, vt_status *st)
{
    const int64_t W = H * hd;
    const float norm_factor = (float)sqrt((double)hd); /* math.sqrt(hd), applied in float32 */
    vt_arena_pos mark = vt_arena_mark(a);
    float *q_scaled = vt_arena_alloc(a, (size_t)(L * W) * sizeof(float), st);
    float *out_b = q_scaled ? vt_arena_alloc(a, (size_t)(L * W) * sizeof(float), st) : NULL;
    if (!out_b) return st->code;
    /* where head h's q, k, v start inside a row of 3W, and the step from one head to the next: per head
     * interleaved [h][q|k|v][hd] in the reference; bug zoo, qkv-global-split: [q|k|v][h][hd], as
     * nn.MultiheadAttention and most ViTs lay it out */
    const int64_t q_off = 0;
    int64_t k_off = hd, v_off = 2 * hd, head_step = 3 * hd;
    VT_BUG_SWITCH(bugs, VT_BUG_QKV_GLOBAL_SPLIT, k_off = W; v_off = 2 * W; head_step = hd);
    for (int64_t b = 0; b < B; b++) {
        /* query_layer[l, b, h, :] / norm_factor, gathered contiguous as [L, H, hd] */
        for (int64_t l = 0; l < L; l++)
            for (int64_t h = 0; h < H; h++) {
                const float *q_lh = qkv + (l * B + b) * 3 * W + q_off + h * head_step;
                for (int64_t d = 0; d < hd; d++) q_scaled[(l * H + h) * hd + d] = q_lh[d] / norm_factor;
            }
        vt_heads q = {q_scaled, W, hd};
        vt_heads k = {qkv + b * 3 * W + k_off, B * 3 * W, head_step}; /* key_layer, read in place */
        vt_heads v = {qkv + b * 3 * W + v_off, B * 3 * W, head_step}; /* value_layer */
        /* softmax(q_scaled k^T) v, no mask (scale 1: q is already scaled) -> [L, H*hd]; one segment of
         * every row, through the tiled path (the same bits as the naive loops of vt_attention_masked) */
        const int32_t all[2] = {0, (int32_t)L};
        int rc = vt_attention_blocks(out_b, q, k, v, H, hd, all, all, 1, 1.0f);
        if (rc) return vt_fail(st, rc, "resblock attention: out of memory for attention tiles of %lld rows", (long long)L);
        /* context_layer.permute(2, 0, 1, 3).view(L, B, W): heads concatenated, back into row (l, b) */
        for (int64_t l = 0; l < L; l++) memcpy(ctx + (l * B + b) * W, out_b + l * W, (size_t)W * sizeof(float));
    }
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* mirrors VisualAttentionBlock.forward. x [L, B, W] -> x [L, B, W] in place */
int vt_qwenvl_resblock(vt_tensor *x, const vt_qwenvl_model *m, int i, const vt_tap *tap, vt_arena *a,
                       vt_status *st)
{
    const vt_qwenvl_block *w = &m->w.blocks[i];
    const int64_t L = x->shape[0], B = x->shape[1], W = m->c.width, M = m->c.mlp_width, H = m->c.heads;
    const int64_t N = L * B; /* every op but attention works row by row over the L*B rows */
    float *xd = vt_f32(x);
    vt_arena_pos mark = vt_arena_mark(a);
#define NAME(s) TV "transformer.resblocks.%d." s, i

    /* x = q_x + attention(ln_1(q_x)) */
    vt_tensor h, qkv, ctx, attn;
    VT_TRY(vt_tensor_alloc(&h, a, VT_F32, VT_DIMS(L, B, W), st));
    vt_layernorm(vt_f32(&h), xd, w->ln_1_w, w->ln_1_b, N, W, VT_QWENVL_LN_EPS);
    VT_TRY(vt_tap_emitf(tap, st, &h, NAME("ln_1")));
    VT_TRY(vt_tensor_alloc(&qkv, a, VT_F32, VT_DIMS(L, B, 3 * W), st));
    vt_linear(vt_f32(&qkv), vt_f32(&h), w->in_proj_w, w->in_proj_b, N, W, 3 * W);
    VT_TRY(vt_tap_emitf(tap, st, &qkv, NAME("attn.in_proj")));
    VT_TRY(vt_tensor_alloc(&ctx, a, VT_F32, VT_DIMS(L, B, W), st));
    VT_TRY(visual_attention(vt_f32(&ctx), vt_f32(&qkv), L, B, H, W / H, m->bugs, a, st));
    VT_TRY(vt_tap_emitf(tap, st, &ctx, NAME("attn.out")));
    VT_TRY(vt_tensor_alloc(&attn, a, VT_F32, VT_DIMS(L, B, W), st));
    vt_linear(vt_f32(&attn), vt_f32(&ctx), w->out_proj_w, w->out_proj_b, N, W, W);
    VT_TRY(vt_tap_emitf(tap, st, &attn, NAME("attn")));
    for (int64_t n = 0; n < N * W; n++) xd[n] += vt_f32(&attn)[n];

    /* x = x + mlp(ln_2(x)); mlp = c_fc -> GELU (erf) -> c_proj */
    vt_tensor fc, mlp;
    vt_layernorm(vt_f32(&h), xd, w->ln_2_w, w->ln_2_b, N, W, VT_QWENVL_LN_EPS);
    VT_TRY(vt_tap_emitf(tap, st, &h, NAME("ln_2")));
    VT_TRY(vt_tensor_alloc(&fc, a, VT_F32, VT_DIMS(L, B, M), st));
    vt_linear(vt_f32(&fc), vt_f32(&h), w->c_fc_w, w->c_fc_b, N, W, M);
    VT_TRY(vt_tap_emitf(tap, st, &fc, NAME("mlp.c_fc")));
    vt_gelu_erf(vt_f32(&fc), vt_f32(&fc), N * M);
    VT_TRY(vt_tap_emitf(tap, st, &fc, NAME("mlp.gelu")));
    VT_TRY(vt_tensor_alloc(&mlp, a, VT_F32, VT_DIMS(L, B, W), st));
    vt_linear(vt_f32(&mlp), vt_f32(&fc), w->c_proj_w, w->c_proj_b, N, M, W);
    VT_TRY(vt_tap_emitf(tap, st, &mlp, NAME("mlp")));
    for (int64_t n = 0; n < N * W; n++) xd[n] += vt_f32(&mlp)[n];
    VT_TRY(vt_tap_emitf(tap, st, x, TV "transformer.resblocks.%d", i));
#undef NAME
    vt_arena_reset(a, mark);
    return VT_OK;
}
