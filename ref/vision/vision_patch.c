/*
 * vision_patch.c -- the two ends of the vision tower: PatchEmbed (pixels in) and PatchMerger (tokens
 * out), shared by Qwen2-VL and Qwen2.5-VL, and the checks on what comes in.
 *
 * Legend: N patches, K = 3 * 2 * 14 * 14 = 1176 values per patch, C embed_dim, U = 4 patches per merged
 * token, O out_hidden.
 *
 * PatchEmbed is a Conv3d with kernel = stride = (2, 14, 14) applied to one [3, 2, 14, 14] patch at a time:
 * every output sees exactly one patch, so it is the matrix product x [N, K] @ W^T with W [C, 3, 2, 14, 14]
 * read as [C, K] -- the preprocessing already flattened each patch in W's (channel, time, row, column) order.
 *
 * PatchMerger: the rows of a merged token are consecutive (rot_pos_emb and the preprocessing both order
 * patches by 2x2 merge block), so view(-1, 4C) puts the four patches of one block side by side.
 */
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "vision/vision.h"

int vt_vision_check_inputs(const vt_vision_config *c, const vt_tensor *pixel_values, const vt_tensor *grid_thw,
                           int64_t *n_out, vt_status *st)
{
    const int64_t K = (int64_t)c->in_channels * c->temporal_patch_size * c->patch_size * c->patch_size;
    const int m = c->spatial_merge_size;
    if (grid_thw->dtype != VT_I64 || grid_thw->ndim != 2 || grid_thw->shape[1] != 3 || grid_thw->shape[0] < 1)
        return vt_fail(st, VT_EINPUT, "grid_thw: expected int64 [n, 3] with n >= 1");
    if (pixel_values->dtype != VT_F32 || pixel_values->ndim != 2 || pixel_values->shape[1] != K)
        return vt_fail(st, VT_EINPUT, "pixel_values: expected float32 [N, %lld]", (long long)K);
    int64_t N = 0;
    for (int64_t i = 0; i < grid_thw->shape[0]; i++) {
        const int64_t *g = vt_i64(grid_thw) + 3 * i;
        if (g[0] < 1 || g[1] < 1 || g[2] < 1 || g[0] > 1 << 20 || g[1] > 1 << 20 || g[2] > 1 << 20)
            return vt_fail(st, VT_EINPUT, "grid_thw[%lld] = [%lld, %lld, %lld]: each must be in [1, 2^20]",
                           (long long)i, (long long)g[0], (long long)g[1], (long long)g[2]);
        if (g[1] % m || g[2] % m)
            return vt_fail(st, VT_EINPUT, "grid_thw[%lld] = [%lld, %lld, %lld]: h and w must be multiples of "
                           "spatial_merge_size %d", (long long)i, (long long)g[0], (long long)g[1], (long long)g[2], m);
        N += g[0] * g[1] * g[2];
        if (N > INT32_MAX) return vt_fail(st, VT_EINPUT, "grid_thw: more than 2^31 patches");
    }
    if (N != pixel_values->shape[0])
        return vt_fail(st, VT_EINPUT, "pixel_values has %lld rows but grid_thw describes %lld patches",
                       (long long)pixel_values->shape[0], (long long)N);
    *n_out = N;
    return VT_OK;
}

void vt_vision_patch_embed(float *y, const float *x, vt_mat w, int64_t N, int64_t K, int64_t C)
{
    /* hidden_states.view(-1, 3, 2, 14, 14) -> proj (Conv3d, bias=False) -> .view(-1, C) */
    vt_linear_mat(y, x, w, NULL, N, K, C);
}

int vt_vision_patch_merger(vt_tensor *y, const float *x, const vt_vision_merger_weights *w, int64_t N, int C, int U,
                         int O, const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t M = N / U;        /* merged tokens */
    const int64_t UC = (int64_t)U * C;
    vt_arena_pos mark;
    VT_TRY(vt_tensor_alloc(y, a, VT_F32, VT_DIMS(M, O), st));
    mark = vt_arena_mark(a);

    /* ln_q(x): [N, C] */
    vt_tensor ln;
    VT_TRY(vt_tensor_alloc(&ln, a, VT_F32, VT_DIMS(N, C), st));
    vt_vision_norm_apply(vt_f32(&ln), x, &w->ln_q, N, C);
    VT_TRY(vt_tap_emit(tap, "visual.merger.ln_q", &ln, st));

    /* .view(-1, hidden_size): [N, C] -> [N/U, U*C], the same bytes */
    VT_TRY(vt_reshape(&ln, VT_DIMS(M, UC), st));

    /* mlp = Sequential(Linear(UC, UC), GELU(), Linear(UC, O)) */
    vt_tensor h;
    VT_TRY(vt_tensor_alloc(&h, a, VT_F32, VT_DIMS(M, UC), st));
    vt_linear_mat(vt_f32(&h), vt_f32(&ln), w->mlp0_w, w->mlp0_b, M, UC, UC);
    VT_TRY(vt_tap_emit(tap, "visual.merger.mlp.0", &h, st));
    vt_gelu_erf(vt_f32(&h), vt_f32(&h), M * UC); /* nn.GELU(): the exact (erf) form */
    VT_TRY(vt_tap_emit(tap, "visual.merger.mlp.1", &h, st));
    vt_linear_mat(vt_f32(y), vt_f32(&h), w->mlp2_w, w->mlp2_b, M, UC, O);
    VT_TRY(vt_tap_emit(tap, "visual.merger.mlp.2", y, st));
    VT_TRY(vt_tap_emit(tap, "visual.merger.mlp", y, st));
    VT_TRY(vt_tap_emit(tap, "visual.merger", y, st));
    vt_arena_reset(a, mark);
    return VT_OK;
}

int vt_vision_check_no_extra_block(const vt_checkpoint *ck, int depth, vt_status *st)
{
    static const char *const probe[] = {"norm1.weight", "attn.qkv.weight", "attn.proj.weight"};
    for (size_t j = 0; j < sizeof probe / sizeof probe[0]; j++) {
        char name[VT_NAME_MAX];
        snprintf(name, sizeof name, "visual.blocks.%d.%s", depth, probe[j]);
        if (vt_checkpoint_find(ck, name))
            return vt_fail(st, VT_EINPUT, "%s: holds %s, more blocks than config.json's depth %d",
                           ck->path ? ck->path : "checkpoint", name, depth);
    }
    return VT_OK;
}
