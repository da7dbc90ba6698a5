/*
 * lm_config.c -- the text side of config.json that the decoder reads beyond M-RoPE's fields (Qwen2VLConfig /
 * Qwen2_5_VLConfig of transformers 4.51.3), generation_config.json's eos list, and the list of the language
 * model's tensors.
 *
 * Keys (top level in 4.51.3, under text_config in later versions; each looked up there first):
 * vocab_size, num_hidden_layers, intermediate_size, rms_norm_eps, max_position_embeddings,
 * use_sliding_window, sliding_window, max_window_layers, tie_word_embeddings, hidden_act, eos_token_id.
 * An absent field takes the class's default, so a hub file that leaves one out loads as the reference
 * loads it. Legend as in lm.h.
 */
#include <math.h>
#include <string.h>

#include "core/ops.h"
#include "io/json.h"
#include "lm/lm.h"

/* Bounds that keep an absurd config from reaching an allocation (the published values are far below). */
#define LM_MAX_VOCAB (1 << 22)
#define LM_MAX_POSITIONS ((int64_t)1 << 24) /* VT_MROPE_MAX_LEN: get_rope_index refuses longer sequences */

/* text_config first (later transformers), then the top level (4.51.3), as vt_mrope_config_parse does. */
static const cJSON *text_owner(const cJSON *root, const cJSON *tc, const char *key)
{
    return tc && cJSON_GetObjectItemCaseSensitive(tc, key) ? tc : root;
}

/* A JSON boolean (absent or null: def). */
static int json_bool(const cJSON *obj, const char *key, int def, int *out, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return VT_OK;
    }
    if (!cJSON_IsBool(v)) return vt_fail(st, VT_EINPUT, "%s is not true or false", key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return VT_OK;
}

/* eos_token_id: one id or a list of ids (generation_config.json writes [151645, 151643]). */
static int eos_ids(const cJSON *v, const char *where, vt_lm_config *c, vt_status *st)
{
    const int64_t id_max = (int64_t)1 << 40;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= 0 && d <= (double)id_max) || d != floor(d))
            return vt_fail(st, VT_EINPUT, "%seos_token_id %g is not a token id", where, d);
        c->eos_token_id[0] = (int64_t)d;
        c->n_eos = 1;
        return VT_OK;
    }
    if (!cJSON_IsArray(v)) return vt_fail(st, VT_EINPUT, "%seos_token_id is neither an id nor a list of ids", where);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (n == VT_LM_MAX_EOS) return vt_fail(st, VT_EINPUT, "%seos_token_id lists more than %d ids", where, VT_LM_MAX_EOS);
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= (double)id_max) ||
            e->valuedouble != floor(e->valuedouble))
            return vt_fail(st, VT_EINPUT, "%seos_token_id[%d] is not a token id", where, n);
        c->eos_token_id[n++] = (int64_t)e->valuedouble;
    }
    c->n_eos = n;
    return VT_OK;
}

int vt_lm_config_parse(vt_lm_config *c, const cJSON *root, vt_status *st)
{
    int rc;
    const cJSON *tc = vt_json_object(root, "text_config", 0, st, &rc);
    VT_TRY(rc);
    memset(c, 0, sizeof *c);
    const char *s = "";
    /* defaults: Qwen2VLConfig / Qwen2_5_VLConfig (a 72B text model; the same in both classes) */
    VT_TRY(vt_json_int(text_owner(root, tc, "vocab_size"), s, "vocab_size", 152064, 1, LM_MAX_VOCAB, &c->vocab_size, st));
    VT_TRY(vt_json_int(text_owner(root, tc, "num_hidden_layers"), s, "num_hidden_layers", 80, 1, VT_CFG_MAX_DEPTH,
                       &c->num_hidden_layers, st));
    VT_TRY(vt_json_int(text_owner(root, tc, "intermediate_size"), s, "intermediate_size", 29568, 1, VT_CFG_MAX_MLP,
                       &c->intermediate_size, st));
    VT_TRY(vt_json_double(text_owner(root, tc, "rms_norm_eps"), s, "rms_norm_eps", 1e-5, 0.0, 1.0, &c->rms_norm_eps, st));
    VT_TRY(vt_json_int64(text_owner(root, tc, "max_position_embeddings"), s, "max_position_embeddings", 32768, 1,
                         LM_MAX_POSITIONS, &c->max_position_embeddings, st));
    VT_TRY(json_bool(text_owner(root, tc, "use_sliding_window"), "use_sliding_window", 0, &c->use_sliding_window, st));
    const cJSON *sw_owner = text_owner(root, tc, "sliding_window");
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(sw_owner, "sliding_window");
    if (sw && cJSON_IsNull(sw)) c->sliding_window = 0; /* None: no window */
    else VT_TRY(vt_json_int64(sw_owner, s, "sliding_window", 4096, 1, LM_MAX_POSITIONS, &c->sliding_window, st));
    VT_TRY(vt_json_int(text_owner(root, tc, "max_window_layers"), s, "max_window_layers", 80, 0, VT_CFG_MAX_DEPTH,
                       &c->max_window_layers, st));
    VT_TRY(json_bool(text_owner(root, tc, "tie_word_embeddings"), "tie_word_embeddings", 0, &c->tie_word_embeddings, st));
    VT_TRY(vt_json_string(text_owner(root, tc, "hidden_act"), s, "hidden_act", "silu", c->hidden_act,
                          sizeof c->hidden_act, st));
    if (!vt_activation_known(c->hidden_act))
        return vt_fail(st, VT_EINPUT, "hidden_act '%s' is not one the language model can use", c->hidden_act);
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(text_owner(root, tc, "eos_token_id"), "eos_token_id");
    if (eos && !cJSON_IsNull(eos)) VT_TRY(eos_ids(eos, "", c, st));
    return VT_OK;
}

int vt_lm_generation_config_parse(vt_lm_config *c, const cJSON *root, vt_status *st)
{
    if (!cJSON_IsObject(root)) return vt_fail(st, VT_EINPUT, "not a JSON object");
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!eos || cJSON_IsNull(eos)) return VT_OK; /* config.json's stands */
    return eos_ids(eos, "", c, st);
}

/* The module tree of Qwen2VLModel (as Qwen2VLForConditionalGeneration's state dict lists it, hub names);
 * checked against the e2e golden checkpoints' key sets. */
int vt_lm_weight_specs(const vt_lm_config *c, const vt_mrope_config *t, vt_weight_list *l, vt_status *st)
{
    const int64_t V = c->vocab_size, E = t->hidden_size, D = t->head_dim, F = c->intermediate_size;
    const int64_t HD = (int64_t)t->num_attention_heads * D, GD = (int64_t)t->num_key_value_heads * D;
    vt_weight_list_add(l, VT_DIMS(V, E), "model.embed_tokens.weight");
    for (int i = 0; i < c->num_hidden_layers; i++) {
        vt_weight_list_add(l, VT_DIMS(HD, E), "model.layers.%d.self_attn.q_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(HD), "model.layers.%d.self_attn.q_proj.bias", i);
        vt_weight_list_add(l, VT_DIMS(GD, E), "model.layers.%d.self_attn.k_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(GD), "model.layers.%d.self_attn.k_proj.bias", i);
        vt_weight_list_add(l, VT_DIMS(GD, E), "model.layers.%d.self_attn.v_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(GD), "model.layers.%d.self_attn.v_proj.bias", i);
        vt_weight_list_add(l, VT_DIMS(E, HD), "model.layers.%d.self_attn.o_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(F, E), "model.layers.%d.mlp.gate_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(F, E), "model.layers.%d.mlp.up_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(E, F), "model.layers.%d.mlp.down_proj.weight", i);
        vt_weight_list_add(l, VT_DIMS(E), "model.layers.%d.input_layernorm.weight", i);
        vt_weight_list_add(l, VT_DIMS(E), "model.layers.%d.post_attention_layernorm.weight", i);
    }
    vt_weight_list_add(l, VT_DIMS(E), "model.norm.weight");
    if (!c->tie_word_embeddings) vt_weight_list_add(l, VT_DIMS(V, E), "lm_head.weight");
    if (l->oom) return vt_fail(st, VT_ERESOURCE, "out of memory listing the language model's tensors");
    return VT_OK;
}
