/*
 * mrope_config.c -- the text-side fields of config.json that get_rope_index and the multimodal rotary read
 * (Qwen2VLConfig / Qwen2_5_VLConfig of transformers 4.51.3): the vision token ids, rope_theta,
 * rope_scaling.mrope_section and the attention shape that gives head_dim.
 */
#include <string.h>

#include "io/json.h"
#include "mrope/mrope.h"

/* The text-side fields get_rope_index and the multimodal rotary read: at the top level in 4.51.3,
 * under text_config in later versions (each field is looked up there first, then at the top). */
static const cJSON *text_field(const cJSON *root, const cJSON *tc, const char *key)
{
    const cJSON *v = tc ? cJSON_GetObjectItemCaseSensitive(tc, key) : NULL;
    return v ? tc : root;
}

int vt_mrope_check_token_ids(const vt_mrope_config *t, vt_status *st)
{
    const int64_t ids[4] = {t->image_token_id, t->video_token_id, t->vision_start_token_id, t->vision_end_token_id};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (ids[i] == ids[j])
                return vt_fail(st, VT_EINPUT, "image_token_id, video_token_id, vision_start_token_id and "
                               "vision_end_token_id must differ (%lld appears twice)", (long long)ids[i]);
    return VT_OK;
}

int vt_mrope_config_parse(vt_mrope_config *t, const cJSON *root, vt_status *st)
{
    int rc;
    const cJSON *tc = vt_json_object(root, "text_config", 0, st, &rc);
    VT_TRY(rc);
    memset(t, 0, sizeof *t);
    const char *s = "";
    const int64_t id_max = (int64_t)1 << 40;
    VT_TRY(vt_json_int64(text_field(root, tc, "image_token_id"), s, "image_token_id", 151655, 0, id_max, &t->image_token_id, st));
    VT_TRY(vt_json_int64(text_field(root, tc, "video_token_id"), s, "video_token_id", 151656, 0, id_max, &t->video_token_id, st));
    VT_TRY(vt_json_int64(text_field(root, tc, "vision_start_token_id"), s, "vision_start_token_id", 151652, 0, id_max,
                   &t->vision_start_token_id, st));
    VT_TRY(vt_json_int64(text_field(root, tc, "vision_end_token_id"), s, "vision_end_token_id", 151653, 0, id_max,
                   &t->vision_end_token_id, st));
    VT_TRY(vt_mrope_check_token_ids(t, st));
    /* defaults: Qwen2VLConfig (a 72B text model) */
    VT_TRY(vt_json_int(text_field(root, tc, "hidden_size"), s, "hidden_size", 8192, 1, 1 << 17, &t->hidden_size, st));
    VT_TRY(vt_json_int(text_field(root, tc, "num_attention_heads"), s, "num_attention_heads", 64, 1, VT_CFG_MAX_HEADS,
                 &t->num_attention_heads, st));
    VT_TRY(vt_json_int(text_field(root, tc, "num_key_value_heads"), s, "num_key_value_heads", 8, 1, VT_CFG_MAX_HEADS,
                 &t->num_key_value_heads, st));
    VT_TRY(vt_json_double(text_field(root, tc, "rope_theta"), s, "rope_theta", 1000000.0, 0.0, 1e12, &t->rope_theta, st));
    if (t->hidden_size % t->num_attention_heads)
        return vt_fail(st, VT_EINPUT, "num_attention_heads %d does not divide hidden_size %d", t->num_attention_heads,
                       t->hidden_size);
    if (t->num_attention_heads % t->num_key_value_heads)
        return vt_fail(st, VT_EINPUT, "num_key_value_heads %d does not divide num_attention_heads %d",
                       t->num_key_value_heads, t->num_attention_heads);
    t->head_dim = t->hidden_size / t->num_attention_heads;
    if (t->head_dim % 2)
        return vt_fail(st, VT_EINPUT, "head_dim %d (hidden_size / num_attention_heads) is odd; rotary needs pairs",
                       t->head_dim);

    const cJSON *rs_owner = text_field(root, tc, "rope_scaling");
    const cJSON *rs = vt_json_object(rs_owner, "rope_scaling", 1, st, &rc);
    VT_TRY(rc);
    static const char *const type_keys[] = {"type", "rope_type"};
    for (int i = 0; i < 2; i++) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, type_keys[i]);
        if (!ty) continue;
        /* the hub files say "mrope"; transformers 4.51.3 rewrites it to "default" when saving */
        if (!cJSON_IsString(ty) || (strcmp(ty->valuestring, "mrope") && strcmp(ty->valuestring, "default")))
            return vt_fail(st, VT_EINPUT, "rope_scaling.%s: %s%.40s%s is not \"mrope\" or \"default\"", type_keys[i],
                           cJSON_IsString(ty) ? "\"" : "", cJSON_IsString(ty) ? ty->valuestring : "not a string",
                           cJSON_IsString(ty) ? "\"" : "");
    }
    VT_TRY(vt_json_int_array(rs, "rope_scaling.", "mrope_section", 3, 3, 0, 1 << 16, t->mrope_section, NULL, st));
    int sum = t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2];
    if (sum != t->head_dim / 2)
        return vt_fail(st, VT_EINPUT, "rope_scaling.mrope_section [%d, %d, %d] sums to %d, not head_dim / 2 = %d "
                       "(hidden_size %d / num_attention_heads %d / 2)", t->mrope_section[0], t->mrope_section[1],
                       t->mrope_section[2], sum, t->head_dim / 2, t->hidden_size, t->num_attention_heads);
    return VT_OK;
}

