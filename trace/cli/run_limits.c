/*
 * run_limits.c -- the memory a run needs, and the limit it is checked against (see run_limits.h).
 *
 * Legend: N patches entering the tower, M = N / U merged tokens (U = merge^2), C block width, F MLP width,
 * O merger output, D head_dim, K values per patch row, T temporal patch, P patch, f32 = 4 bytes.
 * Each term names the allocation it stands for, so a change to a forward shows up here as a line to edit;
 * tests/test_limits.c fails if a measured arena peak ever exceeds its estimate.
 */
#include "cli/run_limits.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include "kimivl/kimivl.h"

#define F32 4.0
#define SLOT 64.0                    /* vt_wbind and the arena align every tensor to 64 bytes */
#define SLACK (16.0 * 1024 * 1024)   /* stacks, libraries, the arena's partly used 1 MiB chunks */
#define ROUNDING (256 * SLOT)        /* each arena allocation rounded up to 64 bytes: a few hundred live */

static double dmax(double a, double b) { return a > b ? a : b; }

/* Per-thread score rows of vt_attention_segments / vt_attention_masked: one row of keys each. */
static double attention_rows(double keys) { return (double)omp_get_max_threads() * keys * F32; }

/* vt_viz_qwen2_mask: a canvas of side N blown up to ~512 or shrunk to ~2048, 3 bytes a pixel, and about
 * as much again while stb encodes the PNG; plus the segment of each row. */
static double mask_picture(double N)
{
    double up = N < 512 ? floor((511 + N) / N) : 1, down = N > 2048 ? floor((N + 2047) / 2048) : 1;
    double side = ceil(N * up / down);
    side += 300; /* the axes, legend and caption around it */
    return 2 * side * side * 3 + N * 4;
}

static void finish(vt_mem_estimate *e)
{
    e->other += SLACK + e->arena / 16; /* chunk tails the arena leaves unused when a request does not fit */
    e->total = e->weights + e->inputs + e->arena + e->other;
}

int vt_mem_weights(vt_mem_estimate *e, const vt_model_config *cfg, vt_status *st)
{
    memset(e, 0, sizeof *e);
    vt_weight_spec *spec;
    int n;
    VT_TRY(vt_config_weights(cfg, &spec, &n, st));
    for (int i = 0; i < n; i++) {
        double numel = 1;
        for (int d = 0; d < spec[i].ndim; d++) numel *= (double)spec[i].shape[d];
        e->weights += ceil(numel * F32 / SLOT) * SLOT;
    }
    free(spec);
    return VT_OK;
}

/* ================================ Qwen2-VL / Qwen2.5-VL ================================ */

/* The tower's arena peak (vt_qwen2vl_forward / vt_qwen25vl_forward) for N patches. */
static double qwen2_tower(const vt_vision_config *c, int qwen25, double N, int64_t max_side, int literal)
{
    const double C = c->embed_dim, D = (double)c->embed_dim / c->num_heads, O = c->out_hidden;
    const double U = (double)c->spatial_merge_size * c->spatial_merge_size, M = N / U;
    const double Fq = c->mlp_hidden;
    /* rot_pos_ids [N, 2] i64, rotary_pos_emb [N, D/2], cos and sin [N, D], the theta table [side, D/4] */
    double rope = N * 16 + N * D / 2 * F32 + 2 * N * D * F32 + (double)max_side * D * F32;
    /* a block: the norm output and the residual copy [N, C] each for the whole block; inside it either the
     * attention's qkv [N, 3C], q_rope and k_rope [N, C] each and its output [N, C], or the MLP's fc1 [N, F]
     * (Qwen2.5-VL: gate and up [N, F] each) */
    double attn = 6 * N * C * F32;
    double mlp = (qwen25 ? 2 : 1) * N * Fq * F32;
    double block = 2 * N * C * F32 + dmax(attn, mlp);
    /* PatchMerger: ln_q [N, C], the merged rows [M, U*C], the output [M, O] */
    double merger = 2 * N * C * F32 + M * O * F32;
    if (!qwen25) {
        double mask = literal ? N * N * F32 : 0;                      /* the [N, N] additive mask */
        return N * C * F32 + dmax(rope + mask + block, merger) + 8 * N; /* x, then cu_seqlens and friends */
    }
    /* Qwen2.5-VL: the output [M, O] first, x and its window-ordered copy, the reordered table, window
     * index [M] i64 and the padded grid, two [N, N] masks when literal; the merger runs inside the same
     * mark, and the reverse index [M] i64 after it */
    double windows = M * 8 + 2 * N * 8 + 16 * N;
    double masks = literal ? 2 * N * N * F32 : 0;
    double live = M * O * F32 + 2 * N * C * F32 + rope + N * D / 2 * F32 + windows + masks;
    return live + dmax(block, merger + M * O * F32 + M * 8);
}

void vt_mem_qwen2(vt_mem_estimate *e, const vt_vision_config *c, int qwen25, const vt_processor_opts *po,
                  const vt_mem_input *in, int n, int literal, int viz)
{
    const double T = po->temporal_patch_size, P = po->patch_size, K = 3 * T * P * P; /* pixel_values row */
    double N = 0, pre_temp = 0, resize = 0, viz_copies = 0;
    int64_t max_side = 0;
    for (int k = 0; k < n; k++) {
        const double F = in[k].frames, H = in[k].h, W = in[k].w;
        e->inputs += F * H * W * 3;
        int64_t rh, rw;
        vt_status ignored = {0};
        if (vt_processor_resized_size(&rh, &rw, in[k].w, in[k].h, po, &ignored)) continue;
        const double gt = ceil(F / T), rows = gt * (double)(rh / po->patch_size) * (double)(rw / po->patch_size);
        const double px = (double)rh * (double)rw, Fp = gt * T;
        N += rows;
        if (rh / po->patch_size > max_side) max_side = rh / po->patch_size;
        if (rw / po->patch_size > max_side) max_side = rw / po->patch_size;
        /* qwen2_preprocess_input: the stacked rgb [F, H, W, 3] (videos), resized [F, h, w, 3] u8, the
         * normalized frames [Fp, 3, h, w] and their 9-D permutation [rows, K] */
        double temp = (F > 1 ? F * H * W * 3 : 0) + F * px * 3 + Fp * 3 * px * F32 + rows * K * F32;
        pre_temp = dmax(pre_temp, temp);
        /* resize_pil: the horizontal pass [H, w, 3] and the coefficient tables (malloc'd per frame) */
        resize = dmax(resize, H * (double)rw * 3 + 64 * ((double)rh + (double)rw) * 8);
        if (viz) viz_copies += px * 3;
    }
    e->tokens = (int64_t)N;
    const double pre_persist = N * K * F32 + n * 24.0 + n * 64.0; /* all_pixel_values, all_grid_thw, slots */
    double tower = 0;
    if (c) {
        tower = qwen2_tower(c, qwen25, N, max_side, literal);
        if (viz) viz_copies += (qwen25 ? 2 : 1) * mask_picture(N); /* the attention-mask pictures */
    }
    e->arena = pre_persist + dmax(pre_temp, tower) + ROUNDING;
    e->other += resize + viz_copies + (c ? attention_rows(N) : 0);
    finish(e);
}

/* ================================ Qwen-VL ================================ */

void vt_mem_qwenvl(vt_mem_estimate *e, const vt_qwenvl_config *c, const vt_mem_input *in, int n_images)
{
    for (int k = 0; k < n_images; k++) e->inputs += (double)in[k].w * in[k].h * 3; /* all decoded first */
    const double B = n_images, S = c->image_size, P = c->patch_size, g = floor(S / P), L = g * g;
    const double W = c->width, Fm = c->mlp_width, Q = c->n_queries, D = c->output_dim, K = 3 * P * P;
    e->tokens = (int64_t)L;
    /* the stacked pixels [B, 3, S, S]; one image's transform at a time: resized [S, S, 3] u8, [3, S, S] */
    double pixels = B * 3 * S * S * F32, transform = S * S * 3 + 3 * S * S * F32;
    /* vt_qwenvl_forward keeps every stage's output (no mark): embed's patches [B, L, K], conv1 [B, W, g, g],
     * x [B, L, W], abs_pos (the 16 x 16 table permuted, resized to [W, g, g], permuted back); NLD -> LND */
    double embed = B * L * K * F32 + 2 * B * W * L * F32 + (256 * W + 2 * W * L) * F32 + B * L * W * F32;
    /* a resblock, inside its own mark: ln_1, qkv (3), the context, attn, c_fc [L, B, F], mlp, plus the
     * per-image scaled q and output [L, W] */
    double block = 7 * L * B * W * F32 + L * B * Fm * F32 + 2 * L * W * F32;
    /* LND -> NLD, then the resampler: pos_embed [Q, D], its abs_pos (permuted, resized, permuted: 2 Q*D +
     * 2 L*D... bounded by 2 (Q + L) D), kv and value [B, L, D], ln_q [Q, D], query [Q, B, D], key [L, B, D],
     * attn [Q, B, D], weights [B, Q, L]; pool_attention's q, k, v, ctx, ctx_b and a score row; the output */
    double resampler = B * L * W * F32 + Q * D * F32 + 2 * (Q + L) * D * F32 + 2 * B * L * D * F32 + Q * D * F32 +
                       Q * B * D * F32 + L * B * D * F32 + Q * B * D * F32 + B * Q * L * F32 +
                       (2 * Q * B * D + 2 * L * B * D + Q * D + L) * F32 + B * Q * D * F32;
    /* ln_post in place; proj transposed [D, D] and the final [B, Q, D] */
    double tail = D * D * F32 + B * Q * D * F32;
    e->arena = pixels + dmax(transform, embed + block + resampler + tail) + ROUNDING;
    /* resize_pil's scratch for one image's transform; the per-thread attention rows over L keys */
    e->other += attention_rows(L) + S * S * 3 * 2;
    finish(e);
}

/* ================================ Kimi-VL ================================ */

void vt_mem_kimivl(vt_mem_estimate *e, const vt_kimivl_config *c, const vt_preproc_config *pre,
                   const vt_mem_input *in, int n, int literal, int viz)
{
    const double P = c->patch_size, Dm = c->hidden_size, Fm = c->intermediate_size;
    const double kk = (double)c->merge_kernel_size[0] * c->merge_kernel_size[1], X = c->text_hidden_size;
    const double hd = Dm / c->num_attention_heads;
    double N = 0, pre_temp = 0, pos_temp = 0, resize = 0, viz_copies = 0;
    for (int k = 0; k < n; k++) {
        e->inputs += (double)in[k].w * in[k].h * 3;
        int rw, rh, pw, ph;
        vt_status ignored = {0};
        if (vt_kimivl_rescale_size(in[k].w, in[k].h, pre, &rw, &rh, &pw, &ph, &ignored)) continue;
        const double gh = floor(ph / P), gw = floor(pw / P), px = (double)pw * ph;
        N += gh * gw;
        /* vt_kimivl_rescale: resized [rh, rw, 3] and padded [ph, pw, 3] u8; normalized [3, ph, pw]; patches */
        pre_temp = dmax(pre_temp, (double)rw * rh * 3 + px * 3 + 2 * px * 3 * F32);
        /* vt_kimivl_pos_emb_interpolated: the learned table permuted to [D, h0, w0], and one image's copy of it
         * resized to [D, gh, gw] and permuted to [gh, gw, D] */
        pos_temp = dmax(pos_temp, Dm * ((double)c->init_pos_emb_height * c->init_pos_emb_width + 2 * gh * gw) * F32);
        resize = dmax(resize, (double)in[k].h * rw * 3 + 64 * ((double)rw + rh) * 8);
        if (viz) viz_copies += px * 3 * 2;
    }
    e->tokens = (int64_t)N;
    const double M = N / kk;
    const double pre_persist = N * 3 * P * P * F32 + n * 16.0 + 128; /* pixel_values, image_grid_hws */
    /* encoder: x [N, D], freqs [N, hd/2, 2], pos [N, D], cu; a layer: norm0, wqkv [N, 3D], q and k, the
     * attention output, wo, norm1, fc0 [N, F], fc1; the [N, N] mask of the literal path */
    double live = 2 * N * Dm * F32 + N * hd * F32 + 4.0 * (n + 1);
    double layer = 10 * N * Dm * F32 + N * Fm * F32 + (literal ? N * N * F32 : 0);
    /* patch merger [M, kk, D] and the projector: pre_norm, linear_1 and act [M, kk*D], linear_2 [M, X] */
    double project = N * Dm * F32 + 3 * M * kk * Dm * F32 + M * X * F32;
    e->arena = pre_persist + dmax(pre_temp, live + dmax(dmax(pos_temp, layer), project)) + ROUNDING;
    if (viz) viz_copies += mask_picture(N);
    e->other += resize + viz_copies + attention_rows(N);
    finish(e);
}

/* ================================ the limit ================================ */

/* "123", "64M", "2G" -> bytes; -1 when malformed. */
static double parse_bytes(const char *s)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || !isfinite(v)) return -1;
    double unit = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': unit = 1024.0; end++; break;
    case 'M': unit = 1024.0 * 1024; end++; break;
    case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
    case 'T': unit = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') end++; /* "MiB" */
    if (*end == 'B' || *end == 'b') end++;
    return *end ? -1 : v * unit;
}

/* The cgroup v2 memory.max of this process, when there is a number there. */
static double cgroup_limit(void)
{
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (!f) return 0;
    char buf[64] = {0};
    double v = 0;
    if (fgets(buf, sizeof buf, f) && isdigit((unsigned char)buf[0])) v = strtod(buf, NULL);
    fclose(f);
    return v;
}

int vt_mem_limit(double *bytes, char *source, size_t cap, vt_status *st)
{
    const char *env = getenv("VLMTRACE_MAX_MEMORY");
    if (env && *env) {
        double v = parse_bytes(env);
        if (v < 0)
            return vt_fail(st, VT_EINPUT, "VLMTRACE_MAX_MEMORY='%s' is not a byte count (e.g. 8000000000 or 8G)", env);
        *bytes = v;
        snprintf(source, cap, "set by VLMTRACE_MAX_MEMORY");
        return VT_OK;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double ram = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    const char *what = "physical RAM";
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (ram == 0 || (double)rl.rlim_cur < ram)) {
        ram = (double)rl.rlim_cur;
        what = "the address-space limit (ulimit -v)";
    }
    double cg = cgroup_limit();
    if (cg > 0 && (ram == 0 || cg < ram)) {
        ram = cg;
        what = "the cgroup's memory.max";
    }
    if (ram == 0) ram = 4.0 * 1024 * 1024 * 1024; /* sysconf could not say: a modest machine */
    *bytes = ram * 3 / 4;
    snprintf(source, cap, "3/4 of %s; VLMTRACE_MAX_MEMORY=bytes changes it", what);
    return VT_OK;
}

const char *vt_mem_human(char *buf, size_t cap, double bytes)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) {
        bytes /= 1024;
        u++;
    }
    if (u == 0) snprintf(buf, cap, "%.0f bytes", bytes);
    else snprintf(buf, cap, "%.1f %s", bytes, units[u]);
    return buf;
}

int vt_mem_check(const vt_mem_estimate *e, const char *model_dir, const char *hint, vt_status *st)
{
    double limit;
    char source[96];
    VT_TRY(vt_mem_limit(&limit, source, sizeof source, st));
    if (e->total <= limit) return VT_OK;
    char t[32], w[32], i[32], a[32], o[32], l[32];
    if (model_dir && e->weights > limit) /* the config alone asks for too much: say so, and where */
        return vt_fail(st, VT_EINPUT, "%s/config.json: refused before allocating: the model it describes has %s "
                       "(%.0f bytes) of float32 weights, over the memory limit of %s (%s)", model_dir,
                       vt_mem_human(w, sizeof w, e->weights), e->weights, vt_mem_human(l, sizeof l, limit), source);
    return vt_fail(st, VT_EINPUT,
                   "refused before allocating: this run would need about %s (%.0f bytes: weights %s, decoded inputs "
                   "%s, scratch arena %s for %lld patches, other %s), over the memory limit of %s (%s)%s%s",
                   vt_mem_human(t, sizeof t, e->total), e->total, vt_mem_human(w, sizeof w, e->weights),
                   vt_mem_human(i, sizeof i, e->inputs), vt_mem_human(a, sizeof a, e->arena), (long long)e->tokens,
                   vt_mem_human(o, sizeof o, e->other), vt_mem_human(l, sizeof l, limit), source, hint ? "; " : "",
                   hint ? hint : "");
}

size_t vt_mem_arena_limit(void)
{
    const char *env = getenv("VLMTRACE_MAX_ARENA_BYTES");
    if (!env || !*env) return 0;
    double v = parse_bytes(env);
    if (v < 1) return 1; /* malformed or zero: refuse everything, which is what a test asking for it wants */
    return v >= (double)SIZE_MAX ? 0 : (size_t)v;
}
