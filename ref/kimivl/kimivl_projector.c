/*
 * kimivl_projector.c -- the end of MoonViT (patch_merger) and KimiVLMultiModalProjector, plus the whole
 * forward (_extract_image_features) with its input checks.
 *
 * Legend: N patches, D hidden, (gh, gw) one image's grid, kh x kw the merge kernel, K = kh*kw sub-tokens
 * per merged token, M = sum (gh/kh)*(gw/kw) merged tokens, T the text model's hidden_size.
 *
 *   final_layernorm [N, D]
 *     -> per image view(gh/kh, kh, gw/kw, kw, D).permute(0, 2, 1, 3, 4), concatenated
 *                                              vision_tower.patch_merger        [M, K, D]
 *     -> LayerNorm over D of each sub-token    multi_modal_projector.pre_norm   [M, K, D]
 *     -> view(M, K*D) -> linear_1              multi_modal_projector.linear_1   [M, K*D]
 *     -> GELU (erf, GELUActivation)            multi_modal_projector.act        [M, K*D]
 *     -> linear_2                              multi_modal_projector.linear_2 = multi_modal_projector [M, T]
 *
 * Sub-token order inside a merged token: (kh, kw) = (0,0), (0,1), (1,0), (1,1); merged tokens row-major
 * over (gh/kh, gw/kw). Merge first, then normalise each sub-token: Qwen2-VL's merger also normalises
 * before concatenating (ln_q), but Kimi's pre_norm sits in the projector, after the reorder.
 */
#include <string.h>

#include "kimivl/kimivl.h"
#include "core/ops.h"

#define VT_KIMIVL_PROJ_LN_EPS 1e-5f

/* ================================ stages ================================= */

int vt_kimivl_patch_merger(vt_tensor *out, const vt_tensor *x, const int64_t *grid, int n, int kh, int kw,
                        vt_arena *a, vt_status *st)
{
    const int64_t D = x->shape[1];
    int64_t M = 0;
    for (int k = 0; k < n; k++) M += (grid[2 * k] / kh) * (grid[2 * k + 1] / kw);
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(M, (int64_t)kh * kw, D), st));
    int64_t row = 0, pre_sum = 0;
    for (int k = 0; k < n; k++) {
        const int64_t gh = grid[2 * k], gw = grid[2 * k + 1];
        vt_arena_pos mark = vt_arena_mark(a);
        /* seq = x[pre_sum : pre_sum + gh*gw].view(gh/kh, kh, gw/kw, kw, D).permute(0, 2, 1, 3, 4) */
        vt_tensor seq = vt_tensor_of(VT_F32, vt_f32(x) + pre_sum * D, VT_DIMS(gh * gw, D)), merged;
        VT_TRY(vt_reshape(&seq, VT_DIMS(gh / kh, kh, gw / kw, kw, D), st));
        VT_TRY(vt_permute(&merged, &seq, VT_PERM(0, 2, 1, 3, 4), a, st));
        memcpy(vt_f32(out) + row * kh * kw * D, merged.data, vt_nbytes(&merged));
        row += (gh / kh) * (gw / kw);
        pre_sum += gh * gw;
        vt_arena_reset(a, mark);
    }
    return VT_OK;
}

/* mirrors KimiVLMultiModalProjector.forward. x [M, K, D] -> out [M, T] (arena). */
static int vt_kimivl_projector(vt_tensor *out, const vt_kimivl_weights *w, const vt_kimivl_config *c, const vt_tensor *x,
                            const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t M = x->shape[0], K = x->shape[1], D = x->shape[2], T = c->text_hidden_size;
    vt_tensor h, h1;
    /* pre_norm(image_features): nn.LayerNorm(D) normalises each sub-token over its own D channels */
    VT_TRY(vt_tensor_alloc(&h, a, VT_F32, VT_DIMS(M, K, D), st));
    vt_layernorm(vt_f32(&h), vt_f32(x), w->pre_norm_w, w->pre_norm_b, M * K, D, VT_KIMIVL_PROJ_LN_EPS);
    VT_TRY(vt_tap_emit(tap, "multi_modal_projector.pre_norm", &h, st));
    VT_TRY(vt_reshape(&h, VT_DIMS(M, K * D), st)); /* .view(-1, hidden_size) */
    VT_TRY(vt_tensor_alloc(&h1, a, VT_F32, VT_DIMS(M, K * D), st));
    vt_linear(vt_f32(&h1), vt_f32(&h), w->linear_1_w, w->linear_1_b, M, K * D, K * D);
    VT_TRY(vt_tap_emit(tap, "multi_modal_projector.linear_1", &h1, st));
    vt_gelu_erf(vt_f32(&h1), vt_f32(&h1), M * K * D); /* GELUActivation: exact erf GELU (the ViT uses tanh) */
    VT_TRY(vt_tap_emit(tap, "multi_modal_projector.act", &h1, st));
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(M, T), st));
    vt_linear(vt_f32(out), vt_f32(&h1), w->linear_2_w, w->linear_2_b, M, K * D, T);
    VT_TRY(vt_tap_emit(tap, "multi_modal_projector.linear_2", out, st));
    return vt_tap_emit(tap, "multi_modal_projector", out, st);
}

/* ================================ forward ================================ */

/* The inputs as the model receives them: checked here, so nothing below indexes outside a tensor. */
static int vt_kimivl_check_inputs(const vt_kimivl_config *c, const vt_tensor *px, const vt_tensor *grid, vt_status *st)
{
    char sb[160];
    const int64_t P = c->patch_size;
    if (px->dtype != VT_F32 || px->ndim != 4 || px->shape[1] != 3 || px->shape[2] != P || px->shape[3] != P)
        return vt_fail(st, VT_EINPUT, "pixel_values: expected float32 [N, 3, %lld, %lld], got %s %s", (long long)P,
                       (long long)P, vt_dtype_name(px->dtype), vt_shape_str(sb, sizeof sb, px->ndim, px->shape));
    if (grid->dtype != VT_I64 || grid->ndim != 2 || grid->shape[1] != 2 || grid->shape[0] < 1)
        return vt_fail(st, VT_EINPUT, "image_grid_hws: expected int64 [n, 2] with n >= 1, got %s %s",
                       vt_dtype_name(grid->dtype), vt_shape_str(sb, sizeof sb, grid->ndim, grid->shape));
    if (grid->shape[0] > INT32_MAX) return vt_fail(st, VT_EINPUT, "image_grid_hws: too many images");
    const int64_t *g = vt_i64(grid);
    const int kh = c->merge_kernel_size[0], kw = c->merge_kernel_size[1];
    int64_t N = 0;
    for (int64_t k = 0; k < grid->shape[0]; k++) {
        const int64_t gh = g[2 * k], gw = g[2 * k + 1];
        if (gh < 1 || gw < 1 || gh > VT_KIMIVL_ROPE_MAX_SIDE || gw > VT_KIMIVL_ROPE_MAX_SIDE)
            return vt_fail(st, VT_EINPUT, "image_grid_hws: image %lld grid %lldx%lld is outside 1..%d per side",
                           (long long)k, (long long)gh, (long long)gw, VT_KIMIVL_ROPE_MAX_SIDE);
        if (gh % kh || gw % kw) /* the reference's view() in patch_merger would fail */
            return vt_fail(st, VT_EINPUT, "image_grid_hws: image %lld grid %lldx%lld is not divisible by the merge "
                           "kernel %dx%d", (long long)k, (long long)gh, (long long)gw, kh, kw);
        N += gh * gw;
        if (N > INT32_MAX) return vt_fail(st, VT_EINPUT, "image_grid_hws: more than %d patches", INT32_MAX);
    }
    if (N != px->shape[0])
        return vt_fail(st, VT_EINPUT, "image_grid_hws: the grids add up to %lld patches, pixel_values has %lld",
                       (long long)N, (long long)px->shape[0]);
    return VT_OK;
}

int vt_kimivl_forward(vt_tensor *out, const vt_kimivl_model *m, const vt_tensor *pixel_values,
                      const vt_tensor *image_grid_hws, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const vt_kimivl_config *c = &m->cfg;
    const vt_kimivl_weights *w = &m->w;
    const vt_kimivl_opts o = {.literal_mask = attn == VT_ATTN_LITERAL, .bugs = m->bugs}, *opts = &o;
    VT_TRY(vt_kimivl_config_check(c, st));
    VT_TRY(vt_kimivl_check_inputs(c, pixel_values, image_grid_hws, st));
    const int n = (int)image_grid_hws->shape[0];
    const int64_t *grid = vt_i64(image_grid_hws);

    vt_tensor enc, merged;
    VT_TRY(vt_kimivl_vision_encoder(&enc, w, c, pixel_values, grid, n, opts, tap, a, st));
    VT_TRY(vt_kimivl_patch_merger(&merged, &enc, grid, n, c->merge_kernel_size[0], c->merge_kernel_size[1], a, st));
    VT_TRY(vt_tap_emit(tap, "vision_tower.patch_merger", &merged, st));
    return vt_kimivl_projector(out, w, c, &merged, tap, a, st);
}

int vt_kimivl_pipeline(vt_tensor *out, vt_kimivl_batch *px, const vt_kimivl_model *m, const vt_image *images, int n,
                       const vt_preproc_config *pre, vt_attn_mode attn, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    vt_kimivl_batch b;
    VT_TRY(vt_kimivl_preprocess(&b, images, n, pre, tap, a, st));
    if (px) *px = b;
    return vt_kimivl_forward(out, m, &b.pixel_values, &b.image_grid_hws, attn, tap, a, st);
}
