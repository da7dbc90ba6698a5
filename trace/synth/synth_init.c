/*
 * synth_init.c -- which distribution each synthetic tensor gets, and why (docs/checkpoints.md).
 *
 * The aim is a forward whose activations stay in a sane range through every block at full width, so
 * a full-size run gives finite, non-trivial tensors, and a port that forgets a bias or a norm weight
 * still shows up in a diff. Every element is mean + std * z with z unit-variance (synth_rng.c).
 *
 *   Linear / conv weight [out, in, ...]   std 1/sqrt(fan_in), fan_in = numel / out: each output has
 *                                         about the variance of the inputs (LeCun / PyTorch-like scale);
 *   ... that writes into the residual     additionally x 1/sqrt(2 L), L the preset's full depth (GPT-2's
 *       stream (attn proj, MLP output;    rule): 2L such branches add O(1) variance in total, so the
 *       the language model's o_proj and   (the language model's L is its num_hidden_layers)
 *       down_proj)
 *                                         residual stream stays near unit scale whether there are 2 or 48
 *                                         blocks, and a --layers N checkpoint is a prefix of the full one;
 *   norm weight (1-D .weight)             mean 1, std 0.1 (z is bounded, so always within 1 +- 0.35);
 *   bias                                  mean 0, std 0.02;
 *   Qwen-VL positional_embedding          std width^-0.5, visual.py's own init (scale * randn);
 *   Qwen-VL attn_pool.query               std 0.02, the Resampler's trunc_normal_(std=.02) (ln_q
 *                                         normalises it anyway);
 *   Qwen-VL attn_pool.pos_embed           std sqrt(1/2): the published tensor is a fixed 2D sin-cos table,
 *                                         whose entries have variance 1/2; random values of that scale keep
 *                                         the query-side sum as it is in the real model;
 *   Qwen-VL proj [D_in, D_out]            std 1/sqrt(D_in): it is used as x @ proj, so fan_in is shape[0];
 *   Kimi-VL pos_emb.weight [h, w, D]      std 1, MoonViT's own nn.init.normal_.
 *   embed_tokens, lm_head [V, E]          the Linear rule, 1/sqrt(E): tied or not, logits come out with
 *                                         about unit variance, so greedy decoding has real margins.
 */
#include <math.h>
#include <string.h>

#include "synth/synth.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The two Linears per block whose output is added to the residual stream, by family. */
static int writes_residual(vt_family f, const char *name)
{
    static const char *const qwen2[] = {".attn.proj.weight", ".mlp.fc2.weight"};
    static const char *const qwen25[] = {".attn.proj.weight", ".mlp.down_proj.weight"};
    static const char *const qwenvl[] = {".attn.out_proj.weight", ".mlp.c_proj.weight"};
    static const char *const kimi[] = {".wo.weight", ".mlp.fc1.weight"}; /* MoonViT: fc0 in, fc1 out */
    static const char *const qwen3[] = {".attn.proj.weight", ".mlp.linear_fc2.weight"};
    const char *const *tab = f == VT_FAMILY_QWEN2VL ? qwen2 : f == VT_FAMILY_QWEN25VL ? qwen25
                            : f == VT_FAMILY_QWENVL ? qwenvl : f == VT_FAMILY_QWEN3VL ? qwen3 : kimi;
    if (strncmp(name, "model.layers.", 13) == 0) /* the language model (Qwen2-VL, Qwen2.5-VL) */
        return ends_with(name, ".self_attn.o_proj.weight") || ends_with(name, ".mlp.down_proj.weight");
    /* only inside a block: the Resampler's attn.out_proj is not on a residual path */
    if (!strstr(name, ".blocks.") && !strstr(name, ".resblocks.")) return 0;
    return ends_with(name, tab[0]) || ends_with(name, tab[1]);
}

static vt_synth_init rule(double mean, double std, const char *why, int residual)
{
    vt_synth_init r = {mean, std, why, residual};
    return r;
}

static int block_width(const vt_model_config *c)
{
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
    case VT_FAMILY_QWEN3VL: return vt_model_vision(c)->embed_dim;
    case VT_FAMILY_QWENVL: return c->qwenvl.width;
    case VT_FAMILY_KIMIVL: return c->kimivl.hidden_size;
    }
    return 1;
}

vt_synth_init vt_synth_init_for(const vt_model_config *cfg, int full_depth, int full_lm_layers,
                                const vt_weight_spec *w)
{
    const char *nm = w->name;
    int64_t numel = 1;
    for (int d = 0; d < w->ndim; d++) numel *= w->shape[d];

    if (ends_with(nm, ".bias") || ends_with(nm, "_bias")) return rule(0.0, 0.02, "bias", 0);
    if (cfg->family == VT_FAMILY_QWENVL) {
        if (ends_with(nm, ".positional_embedding"))
            return rule(0.0, 1.0 / sqrt((double)block_width(cfg)), "position table, width^-1/2", 0);
        if (ends_with(nm, ".attn_pool.query")) return rule(0.0, 0.02, "resampler queries", 0);
        if (ends_with(nm, ".attn_pool.pos_embed"))
            return rule(0.0, sqrt(0.5), "stands for a sin-cos table (variance 1/2)", 0);
        if (strcmp(nm, "transformer.visual.proj") == 0) /* x @ proj */
            return rule(0.0, 1.0 / sqrt((double)w->shape[0]), "x @ proj, 1/sqrt(rows)", 0);
    }
    if (cfg->family == VT_FAMILY_QWEN3VL && ends_with(nm, ".pos_embed.weight"))
        return rule(0.0, 1.0 / sqrt((double)block_width(cfg)), "position table, width^-1/2", 0);
    if (cfg->family == VT_FAMILY_KIMIVL && ends_with(nm, ".pos_emb.weight"))
        return rule(0.0, 1.0, "position table, MoonViT's normal_", 0);
    if (w->ndim == 1) return rule(1.0, 0.1, "norm weight", 0);

    double fan_in = (double)(numel / w->shape[0]);
    double std = 1.0 / sqrt(fan_in);
    if (writes_residual(cfg->family, nm)) {
        const int L = strncmp(nm, "model.layers.", 13) == 0 ? full_lm_layers : full_depth;
        return rule(0.0, std / sqrt(2.0 * L), "residual output, 1/sqrt(fan_in * 2L)", 1);
    }
    return rule(0.0, std, "1/sqrt(fan_in)", 0);
}
