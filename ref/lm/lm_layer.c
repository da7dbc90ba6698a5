/*
 * lm_layer.c -- Qwen2VLDecoderLayer and what it is made of (transformers 4.51.3, eager, float32): RMSNorm,
 * the attention with the multimodal rotary, repeat_kv and the causal mask, the SwiGLU MLP. Qwen2.5-VL's
 * decoder layer is the same module. Legend as in lm.h.
 *
 * A layer, as Qwen2VLDecoderLayer.forward writes it (x [L, E]):
 *     x = x + o_proj(attn(input_layernorm(x)))                  RMSNorm(E, rms_norm_eps)
 *     x = x + down_proj(silu(gate_proj(h)) * up_proj(h)),  h = post_attention_layernorm(x)
 * and the attention (Qwen2VLAttention.forward):
 *     q = q_proj(x) [L, H*D], k = k_proj(x), v = v_proj(x) [L, G*D]        (all with bias)
 *     q, k = apply_multimodal_rotary_pos_emb(q, k, cos, sin, mrope_section)
 *     k, v appended to the cache (past_key_value.update); repeat_kv(k, v, R)
 *     out = softmax(q k^T / sqrt(D) + causal_mask, float32) v     [L, H*D]
 *     y = o_proj(out)                                              (no bias)
 */
#include <math.h>
#include <string.h>

#include "lm/lm.h"

/* ======================================== rotary ======================================== */

void vt_lm_apply_rotary(float *y, const float *x, const float *cos, const float *sin, int64_t L, int nh, int D)
{
    const int half = D / 2;
#pragma omp parallel for schedule(static) if (L * nh * D > 65536)
    for (int64_t l = 0; l < L; l++) {
        const float *c = cos + l * D, *s = sin + l * D;
        for (int h = 0; h < nh; h++) {
            const float *x_r = x + (l * nh + h) * D;
            float *y_r = y + (l * nh + h) * D;
            for (int j = 0; j < D; j++) {
                float rot = j < half ? -x_r[j + half] : x_r[j - half]; /* rotate_half: cat(-x2, x1) */
                float a = x_r[j] * c[j], b = rot * s[j];              /* (q * cos) + (rotate_half(q) * sin) */
                y_r[j] = a + b;
            }
        }
    }
}

/* [L, nh * D] rows -> [1, nh, L, D] (HF's layout after .transpose(1, 2)), for the trace only. */
static int emit_heads_first(const vt_tap *tap, const float *x, int64_t row_stride, int64_t L, int nh, int D,
                            vt_arena *a, vt_status *st, const char *fmt, int layer)
{
    if (!vt_tap_wantsf(tap, fmt, layer)) return VT_OK;
    vt_arena_pos mark = vt_arena_mark(a);
    vt_tensor t;
    VT_TRY(vt_tensor_alloc(&t, a, VT_F32, VT_DIMS(1, nh, L, D), st));
    float *o = vt_f32(&t);
    for (int h = 0; h < nh; h++)
        for (int64_t l = 0; l < L; l++) memcpy(o + (h * L + l) * D, x + l * row_stride + (int64_t)h * D, (size_t)D * sizeof(float));
    VT_TRY(vt_tap_emitf(tap, st, &t, fmt, layer));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* A [1, L, n] view of a row-major [L, n] buffer, the shape HF's hooks see (batch of one). */
static vt_tensor view_bln(const float *p, int64_t L, int64_t n)
{
    return vt_tensor_of(VT_F32, (void *)p, VT_DIMS(1, L, n));
}

/* ======================================== attention ======================================== */

int vt_lm_attention(float *y, const float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx)
{
    const vt_lm_layer_weights *w = &m->w.layers[layer];
    const int64_t L = cx->L, E = m->text.hidden_size, D = m->text.head_dim;
    const int H = m->text.num_attention_heads, G = m->text.num_key_value_heads;
    const int64_t HD = H * D, GD = G * D;
    vt_lm_cache *c = cx->cache;
    const int64_t P = c->len;
    vt_arena *a = cx->a;
    vt_status *st = cx->st;
    const vt_tap *tap = cx->tap;
    VT_ASSERT(P + L <= c->cap);
    vt_arena_pos mark = vt_arena_mark(a);

    /* q_proj, k_proj, v_proj: [L, E] -> [L, H*D], [L, G*D], [L, G*D] */
    float *q = vt_arena_alloc(a, (size_t)(L * HD) * sizeof(float), st);
    float *q_rope = q ? vt_arena_alloc(a, (size_t)(L * HD) * sizeof(float), st) : NULL;
    float *kv = q_rope ? vt_arena_alloc(a, (size_t)(2 * L * GD) * sizeof(float), st) : NULL;
    float *out = kv ? vt_arena_alloc(a, (size_t)(L * HD) * sizeof(float), st) : NULL;
    if (!out) return st->code;
    float *k = kv, *v_new = c->v[layer] + P * GD; /* v goes straight into the cache (no rotary) */
    vt_linear_mat(q, x, w->q_proj_w, w->q_proj_b, L, E, HD);
    vt_linear_mat(k, x, w->k_proj_w, w->k_proj_b, L, E, GD);
    vt_linear_mat(v_new, x, w->v_proj_w, w->v_proj_b, L, E, GD);
    vt_tensor t = view_bln(q, L, HD);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn.q_proj", layer));
    t = view_bln(k, L, GD);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn.k_proj", layer));
    t = view_bln(v_new, L, GD);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn.v_proj", layer));

    /* apply_multimodal_rotary_pos_emb(q, k, cos, sin, mrope_section): k after the rotary goes into the
     * cache (past_key_value.update stores rotated keys) */
    float *k_rope = c->k[layer] + P * GD;
    vt_lm_apply_rotary(q_rope, q, cx->cos, cx->sin, L, H, (int)D);
    vt_lm_apply_rotary(k_rope, k, cx->cos, cx->sin, L, G, (int)D);
    VT_TRY(emit_heads_first(tap, q_rope, HD, L, H, (int)D, a, st, "model.layers.%d.self_attn.q_rope", layer));
    VT_TRY(emit_heads_first(tap, k_rope, GD, L, G, (int)D, a, st, "model.layers.%d.self_attn.k_rope", layer));

    /* repeat_kv, softmax(q k^T / sqrt(D) + causal_mask) v over the P + L cached rows -> [L, H*D]. The
     * mask is by sequence index (vision tokens attend causally like text), with 4.51.3's sliding-window
     * term: config.sliding_window applies although use_sliding_window is false (docs/llm.md) */
    vt_heads qh = {q_rope, HD, D}, kh = {c->k[layer], GD, D}, vh = {c->v[layer], GD, D};
    const float div = (float)sqrt((double)D); /* math.sqrt(self.head_dim) */
    if (vt_attention_causal(out, qh, kh, vh, L, P, H, G, D, m->cfg.sliding_window, div, cx->attn))
        return vt_fail(st, VT_ERESOURCE, "model.layers.%d.self_attn: out of memory for attention scores", layer);
    t = view_bln(out, L, HD);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn.out", layer));

    /* o_proj: [L, H*D] -> [L, E] (no bias) */
    vt_linear_mat(y, out, w->o_proj_w, NULL, L, HD, E);
    t = view_bln(y, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn.o_proj", layer));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ======================================== MLP ======================================== */

static void mul_into(float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * y[i];
}

int vt_lm_mlp(float *y, const float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx)
{
    const vt_lm_layer_weights *w = &m->w.layers[layer];
    const int64_t L = cx->L, E = m->text.hidden_size, F = m->cfg.intermediate_size;
    vt_arena *a = cx->a;
    vt_status *st = cx->st;
    const vt_tap *tap = cx->tap;
    vt_arena_pos mark = vt_arena_mark(a);
    float *g = vt_arena_alloc(a, (size_t)(L * F) * sizeof(float), st);
    float *u = g ? vt_arena_alloc(a, (size_t)(L * F) * sizeof(float), st) : NULL;
    if (!u) return st->code;
    vt_tensor t = view_bln(g, L, F);
    vt_linear_mat(g, x, w->gate_proj_w, NULL, L, E, F); /* gate_proj */
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.mlp.gate_proj", layer));
    VT_TRY(vt_activation(g, g, L * F, m->cfg.hidden_act, st)); /* act_fn (SiLU) */
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.mlp.act_fn", layer));
    vt_linear_mat(u, x, w->up_proj_w, NULL, L, E, F); /* up_proj */
    t = view_bln(u, L, F);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.mlp.up_proj", layer));
    mul_into(g, u, L * F);                                  /* act_fn(gate_proj(x)) * up_proj(x) */
    vt_linear_mat(y, g, w->down_proj_w, NULL, L, F, E);     /* down_proj */
    t = view_bln(y, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.mlp.down_proj", layer));
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.mlp", layer));
    vt_arena_reset(a, mark);
    return VT_OK;
}

/* ======================================== the layer ======================================== */

static void add_into(float *x, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = x[i] + y[i];
}

int vt_lm_decoder_layer(float *x, const vt_lm_model *m, int layer, const vt_lm_ctx *cx)
{
    const vt_lm_layer_weights *w = &m->w.layers[layer];
    const int64_t L = cx->L, E = m->text.hidden_size;
    const float eps = (float)m->cfg.rms_norm_eps;
    vt_arena *a = cx->a;
    vt_status *st = cx->st;
    const vt_tap *tap = cx->tap;
    vt_arena_pos mark = vt_arena_mark(a);
    float *h = vt_arena_alloc(a, (size_t)(L * E) * sizeof(float), st);
    float *y = h ? vt_arena_alloc(a, (size_t)(L * E) * sizeof(float), st) : NULL;
    if (!y) return st->code;

    /* residual = x; x = residual + self_attn(input_layernorm(x)) */
    vt_rmsnorm(h, x, w->input_layernorm_w, L, E, eps);
    vt_tensor t = view_bln(h, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.input_layernorm", layer));
    VT_TRY(vt_lm_attention(y, h, m, layer, cx));
    t = view_bln(y, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.self_attn", layer));
    add_into(x, y, L * E);

    /* residual = x; x = residual + mlp(post_attention_layernorm(x)) */
    vt_rmsnorm(h, x, w->post_attention_layernorm_w, L, E, eps);
    t = view_bln(h, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d.post_attention_layernorm", layer));
    VT_TRY(vt_lm_mlp(y, h, m, layer, cx));
    add_into(x, y, L * E);
    t = view_bln(x, L, E);
    VT_TRY(vt_tap_emitf(tap, st, &t, "model.layers.%d", layer));
    vt_arena_reset(a, mark);
    return VT_OK;
}
