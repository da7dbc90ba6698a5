/*
 * vision_blocks.c -- Qwen2VLVisionBlock and what it is made of: the norms, the activations, cu_seqlens
 * and its mask, VisionAttention (shared with Qwen2.5-VL, whose attention is the same module), the MLP.
 *
 * Legend: N patches, C embed_dim, H heads, D = C/H head_dim, F MLP hidden, S segments.
 *
 * A block, as Qwen2VLVisionBlock.forward writes it (x [N, C]; Qwen3VLVisionBlock is the same with the MLP
 * named linear_fc1 / act_fn / linear_fc2 and gelu_pytorch_tanh, vt_vision_ctx.mlp_names):
 *     x = x + attn(norm1(x), cu_seqlens, position_embeddings)     norm1: LayerNorm(C, eps 1e-6)
 *     x = x + fc2(QuickGELU(fc1(norm2(x))))                       fc1: [F, C], fc2: [C, F]
 * and the attention (VisionAttention.forward, eager):
 *     q, k, v = qkv(x).reshape(N, 3, H, D).permute(1, 0, 2, 3)   three [N, H, D] views of one [N, 3C] row
 *     q, k    = apply_rotary_pos_emb_vision(q, k, cos, sin)      float32
 *     mask    = -inf everywhere, 0 on each cu_seqlens segment's diagonal block          [N, N]
 *     out     = softmax(q k^T / sqrt(D) + mask) v, per head, back to [N, H*D]
 *     y       = proj(out)
 */
#include <math.h>
#include <string.h>

#include "core/ops.h"
#include "vision/vision.h"

#define VT_VISION_NORM_EPS 1e-6f /* nn.LayerNorm(eps=1e-6) and Qwen2RMSNorm(eps=1e-6) alike */

/* ======================================== small stages ======================================== */

void vt_vision_norm_apply(float *y, const float *x, const vt_vision_norm *n, int64_t N, int64_t C)
{
    if (n->rms) vt_rmsnorm(y, x, n->w, N, C, VT_VISION_NORM_EPS);
    else vt_layernorm(y, x, n->w, n->b, N, C, VT_VISION_NORM_EPS);
}

/* ======================================== segments ======================================== */

int vt_vision_cu_seqlens(vt_tensor *cu, const vt_tensor *grid_thw, vt_arena *a, vt_status *st)
{
    const int64_t n = grid_thw->shape[0];
    const int64_t *g = vt_i64(grid_thw);
    int64_t S = 0;
    for (int64_t i = 0; i < n; i++) S += g[3 * i];
    VT_TRY(vt_tensor_alloc(cu, a, VT_I32, VT_DIMS(S + 1), st));
    int32_t *c = vt_i32(cu);
    /* torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]): one length h*w per time
     * slice, so the frames of a video are separate segments and never attend to each other */
    int64_t s = 0, total = 0;
    c[0] = 0; /* F.pad(cu_seqlens, (1, 0), value=0) */
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < g[3 * i]; r++) {
            total += g[3 * i + 1] * g[3 * i + 2]; /* .cumsum(dim=0, dtype=torch.int32) */
            if (total > INT32_MAX) return vt_fail(st, VT_EINPUT, "grid_thw: %lld patches overflow int32 cu_seqlens", (long long)total);
            c[++s] = (int32_t)total;
        }
    return VT_OK;
}

int vt_vision_segment_mask(float **mask_out, const int32_t *cu, int64_t S, int64_t N, vt_arena *a, vt_status *st)
{
    if (N > VT_ATTN_LITERAL_MAX_N) /* refused before allocating: the mask alone would be N*N*4 bytes */
        return vt_fail(st, VT_EINPUT, "--attn literal: a %lld x %lld mask (%.1f GiB) is too large (at most %d patches; "
                       "--attn segments computes the same numbers without it)", (long long)N, (long long)N,
                       (double)N * (double)N * 4 / (1u << 30), VT_ATTN_LITERAL_MAX_N);
    float *mask = vt_arena_alloc(a, (size_t)N * (size_t)N * sizeof(float), st);
    if (!mask) return vt_wrap(st, "the literal attention mask (%lld x %lld): ", (long long)N, (long long)N);
    /* attention_mask = torch.full([1, N, N], torch.finfo(q.dtype).min) -- -inf here: exp() of either is 0 */
    for (int64_t i = 0; i < N * N; i++) mask[i] = -INFINITY;
    /* for i in range(1, len(cu_seqlens)): attention_mask[..., cu[i-1]:cu[i], cu[i-1]:cu[i]] = 0 */
    for (int64_t g = 1; g <= S; g++)
        for (int64_t r = cu[g - 1]; r < cu[g]; r++)
            for (int64_t c = cu[g - 1]; c < cu[g]; c++) mask[r * N + c] = 0.0f;
    *mask_out = mask;
    return VT_OK;
}

int vt_vision_one_segment(vt_tensor *cu, int64_t N, vt_arena *a, vt_status *st)
{
    if (N > INT32_MAX) return vt_fail(st, VT_EINPUT, "%lld patches overflow int32 cu_seqlens", (long long)N);
    VT_TRY(vt_tensor_alloc(cu, a, VT_I32, VT_DIMS(2), st));
    vt_i32(cu)[0] = 0;
    vt_i32(cu)[1] = (int32_t)N;
    return VT_OK;
}

/* ======================================== attention ======================================== */

int vt_vision_attention(float *y, const float *x, const vt_vision_attn_weights *w, const vt_vision_segments *seg,
                             int block, const vt_vision_ctx *cx)
{
    const int64_t N = cx->N;
    const int C = cx->C, H = cx->H, D = cx->D;
    vt_arena *a = cx->a;
    vt_status *st = cx->st;
    vt_arena_pos mark = vt_arena_mark(a);

    /* qkv(x): [N, C] -> [N, 3C] */
    float *qkv = vt_arena_alloc(a, (size_t)(N * 3 * C) * sizeof(float), st);
    if (!qkv) return st->code;
    vt_linear_mat(qkv, x, w->qkv_w, w->qkv_b, N, C, 3 * C);
    vt_tensor t = vt_view2(qkv, N, 3 * C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.attn.qkv", block));

    /* .reshape(N, 3, H, D).permute(1, 0, 2, 3).unbind(0): q, k, v are columns [0, C), [C, 2C), [2C, 3C)
     * of each row, head h at h*D inside them; read in place through a row stride of 3C */
    const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;

    /* apply_rotary_pos_emb_vision(q, k, cos, sin) -> [N, H, D] each */
    float *q_rope = vt_arena_alloc(a, (size_t)(N * C) * sizeof(float), st);
    float *k_rope = q_rope ? vt_arena_alloc(a, (size_t)(N * C) * sizeof(float), st) : NULL;
    if (!k_rope) return st->code;
    vt_vision_apply_rotary(q_rope, q, 3 * C, cx->cos, cx->sin, N, H, D);
    vt_vision_apply_rotary(k_rope, k, 3 * C, cx->cos, cx->sin, N, H, D);
    t = vt_tensor_of(VT_F32, q_rope, VT_DIMS(N, H, D));
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.attn.q_rope", block));
    t = vt_tensor_of(VT_F32, k_rope, VT_DIMS(N, H, D));
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.attn.k_rope", block));

    /* softmax(q k^T / sqrt(D) [+ mask]) v inside segments -> out [N, H*D] (heads side by side again, as
     * attn_output.transpose(0, 1).reshape(N, -1) leaves them) */
    float *out = vt_arena_alloc(a, (size_t)(N * C) * sizeof(float), st);
    if (!out) return st->code;
    vt_heads qh = {q_rope, (int64_t)H * D, D}, kh = {k_rope, (int64_t)H * D, D}, vh = {v, 3 * (int64_t)C, D};
    const float scale = (float)(1.0 / sqrt((double)D)); /* the reference divides by math.sqrt(head_dim) */
    int rc;
    if (cx->attn == VT_ATTN_LITERAL) {
        VT_ASSERT(seg->mask != NULL);
        rc = vt_attention_masked(out, qh, kh, vh, N, N, H, D, seg->mask, scale);
    } else {
        rc = vt_attention_segments(out, qh, kh, vh, N, H, D, seg->cu, seg->S, scale);
    }
    if (rc) return vt_fail(st, rc, "visual.blocks.%d.attn: out of memory for attention scores", block);
    t = vt_view2(out, N, C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.attn.out", block));

    /* proj(out): [N, C] -> [N, C] */
    vt_linear_mat(y, out, w->proj_w, w->proj_b, N, C, C);
    t = vt_view2(y, N, C);
    VT_TRY(vt_tap_emitf(cx->tap, st, &t, "visual.blocks.%d.attn.proj", block));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ======================================== the block ======================================== */

static void add_into(float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = x[i] + y[i];
}

int vt_vision_block(float *x, const vt_vision_block_weights *w, const char *hidden_act, int F,
                         const vt_vision_segments *seg, int block, const vt_vision_ctx *cx)
{
    const int64_t N = cx->N;
    const int C = cx->C;
    vt_arena *a = cx->a;
    vt_status *st = cx->st;
    const vt_tap *tap = cx->tap;
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor t;
    static const vt_vision_mlp_names qwen2_names = {"fc1", "act", "fc2"};
    const vt_vision_mlp_names *nm = cx->mlp_names ? cx->mlp_names : &qwen2_names;

    /* x = x + attn(norm1(x)) */
    float *h = vt_arena_alloc(a, (size_t)(N * C) * sizeof(float), st);
    float *y = h ? vt_arena_alloc(a, (size_t)(N * C) * sizeof(float), st) : NULL;
    if (!y) return st->code;
    vt_vision_norm_apply(h, x, &w->norm1, N, C);
    t = vt_view2(h, N, C);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.norm1", block));
    VT_TRY(vt_vision_attention(y, h, &w->attn, seg, block, cx));
    t = vt_view2(y, N, C);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.attn", block));
    add_into(x, y, N * C);

    /* x = x + mlp(norm2(x)), mlp = fc2(act(fc1(.))) */
    vt_vision_norm_apply(h, x, &w->norm2, N, C);
    t = vt_view2(h, N, C);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.norm2", block));
    float *f = vt_arena_alloc(a, (size_t)(N * F) * sizeof(float), st);
    if (!f) return st->code;
    vt_linear_mat(f, h, w->fc1_w, w->fc1_b, N, C, F);
    t = vt_view2(f, N, F);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.mlp.%s", block, nm->fc1));
    VT_TRY(vt_activation(f, f, N * F, hidden_act, st));
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.mlp.%s", block, nm->act));
    vt_linear_mat(y, f, w->fc2_w, w->fc2_b, N, F, C);
    t = vt_view2(y, N, C);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.mlp.%s", block, nm->fc2));
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d.mlp", block));
    add_into(x, y, N * C);

    t = vt_view2(x, N, C);
    VT_TRY(vt_tap_emitf(tap, st, &t, "visual.blocks.%d", block));
    vt_arena_reset(a, mark);
    return VT_OK;
}
