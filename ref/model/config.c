/*
 * config.c -- config.json and preprocessor_config.json into the typed configs of config.h, validated.
 *
 * Where each family keeps its vision settings:
 *   qwen2_vl    vision_config {depth, embed_dim, num_heads, mlp_ratio, hidden_size (= merger output),
 *               in_channels, patch_size, spatial_merge_size, temporal_patch_size, hidden_act}; the text
 *               fields M-RoPE needs at the top level (transformers 4.51.3) or under text_config (newer).
 *   qwen2_5_vl  vision_config {depth, hidden_size (= block width), num_heads, intermediate_size,
 *               out_hidden_size, window_size, fullatt_block_indexes, tokens_per_second, ...}; text as above.
 *   qwen        (Qwen-VL) visual {image_size, patch_size, width, layers, heads, mlp_ratio, n_queries,
 *               output_dim}: the keyword arguments of VisionTransformer(**visual) in visual.py.
 *   kimi_vl     vision_config (MoonViT) and text_config.hidden_size (the projector's output).
 * A field that is absent takes the default of the reference's config class (so configs saved by any
 * transformers version load as the reference would load them); a field of the wrong type, or a value
 * out of range, is an error naming the field. Ranges are generous upper bounds that keep absurd configs
 * from reaching an allocation; the consistency checks are the ones the reference code silently relies
 * on (heads divide the width, the window is a whole number of merged patches, ...).
 *
 * Messages from the parsers name the field; the loaders prefix the file's path.
 */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fileio.h"

#define CFG_MAX_FILE ((size_t)16 << 20)
#define CFG_MAX_WIDTH 65536    /* embed / hidden widths */
#define CFG_MAX_MLP 262144     /* MLP hidden widths */
#define CFG_MAX_HEADS 1024
#define CFG_MAX_DEPTH 1024
#define CFG_MAX_PATCH 1024
#define CFG_MAX_MERGE 64
#define CFG_REQUIRED INT64_MIN /* default meaning "the field must be present" */

/* ================================ JSON fields ================================ */

/* An integer field obj[key] in [lo, hi]; def when absent (CFG_REQUIRED: absence is an error). */
static int j_int64(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (def == CFG_REQUIRED) return vt_fail(st, VT_EINPUT, "%s%s is missing", sec, key);
        *out = def;
        return VT_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) {
        if (cJSON_IsNumber(v))
            return vt_fail(st, VT_EINPUT, "%s%s: %.17g is not an integer in [%lld, %lld]", sec, key, d, (long long)lo,
                           (long long)hi);
        return vt_fail(st, VT_EINPUT, "%s%s: not a number", sec, key);
    }
    *out = (int64_t)d;
    return VT_OK;
}

static int j_int(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                 vt_status *st)
{
    int64_t v;
    VT_TRY(j_int64(obj, sec, key, def, lo, hi, &v, st));
    *out = (int)v;
    return VT_OK;
}

/* A finite number in (lo, hi]. */
static int j_double(const cJSON *obj, const char *sec, const char *key, double def, double lo, double hi, double *out,
                    vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (isnan(def)) return vt_fail(st, VT_EINPUT, "%s%s is missing", sec, key);
        *out = def;
        return VT_OK;
    }
    if (!cJSON_IsNumber(v)) return vt_fail(st, VT_EINPUT, "%s%s: not a number", sec, key);
    if (!(v->valuedouble > lo && v->valuedouble <= hi))
        return vt_fail(st, VT_EINPUT, "%s%s: %.17g is not in (%g, %g]", sec, key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return VT_OK;
}

static int j_string(const cJSON *obj, const char *sec, const char *key, const char *def, char *out, size_t cap,
                    vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *s = def;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return vt_fail(st, VT_EINPUT, "%s%s: not a string", sec, key);
        s = v->valuestring;
    }
    if (strlen(s) >= cap) return vt_fail(st, VT_EINPUT, "%s%s: \"%.40s...\" is too long", sec, key, s);
    strcpy(out, s);
    return VT_OK;
}

/* An array of exactly n integers in [lo, hi] (n < 0: any length up to cap, count in *got). */
static int j_int_array(const cJSON *obj, const char *sec, const char *key, int n, int cap, int64_t lo, int64_t hi,
                       int *out, int *got, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(v)) return vt_fail(st, VT_EINPUT, "%s%s: not an array", sec, key);
    int m = cJSON_GetArraySize(v);
    if ((n >= 0 && m != n) || m > cap)
        return vt_fail(st, VT_EINPUT, "%s%s: %d entries, expected %s%d", sec, key, m, n >= 0 ? "" : "at most ",
                       n >= 0 ? n : cap);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
            return vt_fail(st, VT_EINPUT, "%s%s[%d] is not an integer in [%lld, %lld]", sec, key, i, (long long)lo,
                           (long long)hi);
        out[i++] = (int)d;
    }
    if (got) *got = m;
    return VT_OK;
}

/* Three floats (image_mean / image_std); std entries must be positive. */
static int j_float3(const cJSON *obj, const char *key, int positive, float *out, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return VT_OK; /* keep the default */
    if (cJSON_IsNumber(v)) { /* one number for all channels, as the processors accept */
        for (int c = 0; c < 3; c++) out[c] = (float)v->valuedouble;
    } else {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
            return vt_fail(st, VT_EINPUT, "%s: not an array of 3 numbers", key);
        for (int c = 0; c < 3; c++) {
            const cJSON *e = cJSON_GetArrayItem(v, c);
            if (!cJSON_IsNumber(e)) return vt_fail(st, VT_EINPUT, "%s[%d]: not a number", key, c);
            out[c] = (float)e->valuedouble;
        }
    }
    for (int c = 0; c < 3; c++)
        if (!isfinite(out[c]) || (positive && !(out[c] > 0)) || fabsf(out[c]) > 1e6f)
            return vt_fail(st, VT_EINPUT, "%s[%d]: %g is not a %s number", key, c, out[c],
                           positive ? "positive" : "finite");
    return VT_OK;
}

static const cJSON *j_object(const cJSON *obj, const char *key, int required, vt_status *st, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *rc = VT_OK;
    if ((!v || cJSON_IsNull(v)) && !required) return NULL;
    if (!cJSON_IsObject(v)) *rc = vt_fail(st, VT_EINPUT, "%s: %s", key, v ? "not a JSON object" : "missing");
    return *rc ? NULL : v;
}

/* ================================ Qwen2-VL / Qwen2.5-VL ================================ */

static int parse_qwen2_vision(vt_qwen2_vision_config *q, const cJSON *vc, int qwen25, vt_status *st)
{
    const char *s = "vision_config.";
    memset(q, 0, sizeof *q);
    q->qwen25 = qwen25;
    /* defaults: Qwen2VLVisionConfig / Qwen2_5_VLVisionConfig of transformers 4.51.3 */
    VT_TRY(j_int(vc, s, "depth", 32, 1, CFG_MAX_DEPTH, &q->depth, st));
    VT_TRY(j_int(vc, s, "num_heads", 16, 1, CFG_MAX_HEADS, &q->num_heads, st));
    VT_TRY(j_int(vc, s, "in_channels", 3, 1, 64, &q->in_channels, st));
    VT_TRY(j_int(vc, s, "patch_size", 14, 1, CFG_MAX_PATCH, &q->patch_size, st));
    VT_TRY(j_int(vc, s, "temporal_patch_size", 2, 1, CFG_MAX_MERGE, &q->temporal_patch_size, st));
    VT_TRY(j_int(vc, s, "spatial_merge_size", 2, 1, CFG_MAX_MERGE, &q->spatial_merge_size, st));
    if (!qwen25) {
        double ratio;
        VT_TRY(j_int(vc, s, "embed_dim", 1280, 1, CFG_MAX_WIDTH, &q->embed_dim, st));
        VT_TRY(j_int(vc, s, "hidden_size", 3584, 1, CFG_MAX_WIDTH, &q->out_hidden, st));
        VT_TRY(j_double(vc, s, "mlp_ratio", 4.0, 0.0, 64.0, &ratio, st));
        double mlp = floor((double)q->embed_dim * ratio); /* int(embed_dim * mlp_ratio) */
        if (mlp < 1 || mlp > CFG_MAX_MLP)
            return vt_fail(st, VT_EINPUT, "%smlp_ratio %g gives an MLP width of %.0f, not in [1, %d]", s, ratio, mlp,
                           CFG_MAX_MLP);
        q->mlp_hidden = (int)mlp;
        VT_TRY(j_string(vc, s, "hidden_act", "quick_gelu", q->hidden_act, sizeof q->hidden_act, st));
    } else {
        VT_TRY(j_int(vc, s, "hidden_size", 3584, 1, CFG_MAX_WIDTH, &q->embed_dim, st));
        VT_TRY(j_int(vc, s, "out_hidden_size", 3584, 1, CFG_MAX_WIDTH, &q->out_hidden, st));
        VT_TRY(j_int(vc, s, "intermediate_size", 3420, 1, CFG_MAX_MLP, &q->mlp_hidden, st));
        VT_TRY(j_int(vc, s, "window_size", 112, 1, 1 << 20, &q->window_size, st));
        VT_TRY(j_double(vc, s, "tokens_per_second", 4.0, 0.0, 1e6, &q->tokens_per_second, st));
        VT_TRY(j_string(vc, s, "hidden_act", "silu", q->hidden_act, sizeof q->hidden_act, st));
        if (cJSON_GetObjectItemCaseSensitive(vc, "fullatt_block_indexes")) {
            VT_TRY(j_int_array(vc, s, "fullatt_block_indexes", -1, VT_MAX_FULLATT, 0, CFG_MAX_DEPTH - 1,
                               q->fullatt_block_indexes, &q->n_fullatt, st));
        } else {
            static const int def[] = {7, 15, 23, 31};
            memcpy(q->fullatt_block_indexes, def, sizeof def);
            q->n_fullatt = 4;
        }
    }

    /* consistency */
    if (q->embed_dim % q->num_heads)
        return vt_fail(st, VT_EINPUT, "%snum_heads %d does not divide the width %d", s, q->num_heads, q->embed_dim);
    int hd = q->embed_dim / q->num_heads;
    if (hd % 4) /* rot_pos_emb: a quarter of head_dim for h, a quarter for w, each as cos/sin pairs */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (width %d / num_heads %d) is not a multiple of 4, as the 2D "
                       "rotary embedding needs", s, hd, q->embed_dim, q->num_heads);
    if (qwen25) {
        int unit = q->patch_size * q->spatial_merge_size;
        if (q->window_size % unit)
            return vt_fail(st, VT_EINPUT, "%swindow_size %d is not a multiple of patch_size * spatial_merge_size = %d",
                           s, q->window_size, unit);
        for (int i = 0; i < q->n_fullatt; i++)
            if (q->fullatt_block_indexes[i] >= q->depth)
                return vt_fail(st, VT_EINPUT, "%sfullatt_block_indexes[%d] = %d is not a block index in [0, %d)", s, i,
                               q->fullatt_block_indexes[i], q->depth);
    }
    return VT_OK;
}

/* The text-side fields get_rope_index and the multimodal rotary read: at the top level in 4.51.3,
 * under text_config in later versions (each field is looked up there first, then at the top). */
static const cJSON *text_field(const cJSON *root, const cJSON *tc, const char *key)
{
    const cJSON *v = tc ? cJSON_GetObjectItemCaseSensitive(tc, key) : NULL;
    return v ? tc : root;
}

static int parse_qwen2_text(vt_qwen2_text_config *t, const cJSON *root, vt_status *st)
{
    int rc;
    const cJSON *tc = j_object(root, "text_config", 0, st, &rc);
    VT_TRY(rc);
    memset(t, 0, sizeof *t);
    const char *s = "";
    const int64_t id_max = (int64_t)1 << 40;
    VT_TRY(j_int64(text_field(root, tc, "image_token_id"), s, "image_token_id", 151655, 0, id_max, &t->image_token_id, st));
    VT_TRY(j_int64(text_field(root, tc, "video_token_id"), s, "video_token_id", 151656, 0, id_max, &t->video_token_id, st));
    VT_TRY(j_int64(text_field(root, tc, "vision_start_token_id"), s, "vision_start_token_id", 151652, 0, id_max,
                   &t->vision_start_token_id, st));
    VT_TRY(j_int64(text_field(root, tc, "vision_end_token_id"), s, "vision_end_token_id", 151653, 0, id_max,
                   &t->vision_end_token_id, st));
    const int64_t ids[4] = {t->image_token_id, t->video_token_id, t->vision_start_token_id, t->vision_end_token_id};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (ids[i] == ids[j])
                return vt_fail(st, VT_EINPUT, "image_token_id, video_token_id, vision_start_token_id and "
                               "vision_end_token_id must differ (%lld appears twice)", (long long)ids[i]);
    /* defaults: Qwen2VLConfig (a 72B text model) */
    VT_TRY(j_int(text_field(root, tc, "hidden_size"), s, "hidden_size", 8192, 1, 1 << 17, &t->hidden_size, st));
    VT_TRY(j_int(text_field(root, tc, "num_attention_heads"), s, "num_attention_heads", 64, 1, CFG_MAX_HEADS,
                 &t->num_attention_heads, st));
    VT_TRY(j_int(text_field(root, tc, "num_key_value_heads"), s, "num_key_value_heads", 8, 1, CFG_MAX_HEADS,
                 &t->num_key_value_heads, st));
    VT_TRY(j_double(text_field(root, tc, "rope_theta"), s, "rope_theta", 1000000.0, 0.0, 1e12, &t->rope_theta, st));
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
    const cJSON *rs = j_object(rs_owner, "rope_scaling", 1, st, &rc);
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
    VT_TRY(j_int_array(rs, "rope_scaling.", "mrope_section", 3, 3, 0, 1 << 16, t->mrope_section, NULL, st));
    int sum = t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2];
    if (sum != t->head_dim / 2)
        return vt_fail(st, VT_EINPUT, "rope_scaling.mrope_section [%d, %d, %d] sums to %d, not head_dim / 2 = %d "
                       "(hidden_size %d / num_attention_heads %d / 2)", t->mrope_section[0], t->mrope_section[1],
                       t->mrope_section[2], sum, t->head_dim / 2, t->hidden_size, t->num_attention_heads);
    return VT_OK;
}

/* ================================ Qwen-VL ================================ */

static int parse_qwenvl(vt_qwenvl_config *q, const cJSON *v, vt_status *st)
{
    const char *s = "visual.";
    memset(q, 0, sizeof *q);
    /* VisionTransformer(image_size, patch_size, width, layers, heads, mlp_ratio, n_queries=256, output_dim=512) */
    VT_TRY(j_int(v, s, "patch_size", CFG_REQUIRED, 1, CFG_MAX_PATCH, &q->patch_size, st));
    VT_TRY(j_int(v, s, "image_size", CFG_REQUIRED, q->patch_size, 16384, &q->image_size, st));
    VT_TRY(j_int(v, s, "width", CFG_REQUIRED, 1, CFG_MAX_WIDTH, &q->width, st));
    VT_TRY(j_int(v, s, "layers", CFG_REQUIRED, 1, CFG_MAX_DEPTH, &q->layers, st));
    VT_TRY(j_int(v, s, "heads", CFG_REQUIRED, 1, CFG_MAX_HEADS, &q->heads, st));
    VT_TRY(j_double(v, s, "mlp_ratio", NAN, 0.0, 64.0, &q->mlp_ratio, st));
    VT_TRY(j_int(v, s, "n_queries", 256, 1, 65536, &q->n_queries, st));
    VT_TRY(j_int(v, s, "output_dim", 512, 1, CFG_MAX_WIDTH, &q->output_dim, st));
    double mlp = floor((double)q->width * q->mlp_ratio); /* int(width * mlp_ratio) */
    if (mlp < 1 || mlp > CFG_MAX_MLP)
        return vt_fail(st, VT_EINPUT, "%smlp_ratio %g gives an MLP width of %.0f, not in [1, %d]", s, q->mlp_ratio, mlp,
                       CFG_MAX_MLP);
    q->mlp_width = (int)mlp;
    if (q->width % q->heads)
        return vt_fail(st, VT_EINPUT, "%sheads %d does not divide width %d", s, q->heads, q->width);
    /* Resampler: nn.MultiheadAttention(output_dim, output_dim // 128) and a 2D sin-cos table of output_dim */
    if (q->output_dim < 128 || q->output_dim % (q->output_dim / 128) || q->output_dim % 4)
        return vt_fail(st, VT_EINPUT, "%soutput_dim %d: the resampler needs at least 128, divisible by 4 and by its "
                       "output_dim // 128 heads", s, q->output_dim);
    int g = (int)floor(sqrt((double)q->n_queries) + 0.5);
    if (g * g != q->n_queries) /* the query positions are a g x g grid */
        return vt_fail(st, VT_EINPUT, "%sn_queries %d is not a perfect square", s, q->n_queries);
    return VT_OK;
}

/* ================================ Kimi-VL ================================ */

static int parse_kimivl(vt_kimivl_config *k, const cJSON *vc, const cJSON *tc, vt_status *st)
{
    const char *s = "vision_config.";
    memset(k, 0, sizeof *k);
    /* defaults: MoonViTConfig */
    VT_TRY(j_int(vc, s, "patch_size", 14, 1, CFG_MAX_PATCH, &k->patch_size, st));
    VT_TRY(j_int(vc, s, "num_attention_heads", 16, 1, CFG_MAX_HEADS, &k->num_attention_heads, st));
    VT_TRY(j_int(vc, s, "num_hidden_layers", 27, 1, CFG_MAX_DEPTH, &k->num_hidden_layers, st));
    VT_TRY(j_int(vc, s, "hidden_size", 1152, 1, CFG_MAX_WIDTH, &k->hidden_size, st));
    VT_TRY(j_int(vc, s, "intermediate_size", 4304, 1, CFG_MAX_MLP, &k->intermediate_size, st));
    VT_TRY(j_int(vc, s, "init_pos_emb_height", 64, 1, 4096, &k->init_pos_emb_height, st));
    VT_TRY(j_int(vc, s, "init_pos_emb_width", 64, 1, 4096, &k->init_pos_emb_width, st));
    if (cJSON_GetObjectItemCaseSensitive(vc, "merge_kernel_size"))
        VT_TRY(j_int_array(vc, s, "merge_kernel_size", 2, 2, 1, CFG_MAX_MERGE, k->merge_kernel_size, NULL, st));
    else
        k->merge_kernel_size[0] = k->merge_kernel_size[1] = 2;
    VT_TRY(j_int(tc, "text_config.", "hidden_size", CFG_REQUIRED, 1, 1 << 17, &k->text_hidden_size, st));
    if (k->merge_kernel_size[0] != k->merge_kernel_size[1]) /* every published MoonViT merges 2x2 */
        return vt_fail(st, VT_EINPUT, "%smerge_kernel_size [%d, %d] is not square", s, k->merge_kernel_size[0],
                       k->merge_kernel_size[1]);
    if (k->hidden_size % k->num_attention_heads)
        return vt_fail(st, VT_EINPUT, "%snum_attention_heads %d does not divide hidden_size %d", s,
                       k->num_attention_heads, k->hidden_size);
    int hd = k->hidden_size / k->num_attention_heads;
    if (hd % 4) /* Rope2DPosEmb: half the complex pairs turn with w, half with h */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (hidden_size / num_attention_heads) is not a multiple of 4, as "
                       "the 2D rotary embedding needs", s, hd);
    return VT_OK;
}

/* ================================ config.json ================================ */

/* Without preprocessor_config.json, the defaults take the model's patch and merge sizes. */
static void sync_defaults(vt_model_config *c)
{
    vt_preproc_defaults(&c->pre, c->family);
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
        c->pre.patch_size = c->qwen2.patch_size;
        c->pre.merge_size = c->qwen2.spatial_merge_size;
        c->pre.temporal_patch_size = c->qwen2.temporal_patch_size;
        break;
    case VT_FAMILY_KIMIVL:
        c->pre.patch_size = c->kimi.patch_size;
        c->pre.merge_size = c->kimi.merge_kernel_size[0];
        break;
    case VT_FAMILY_QWENVL:
        c->pre.patch_size = c->qwenvl.patch_size;
        break;
    }
}

int vt_config_parse(vt_model_config *c, const char *json, size_t len, vt_status *st)
{
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON");
    int rc = VT_OK;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsObject(root)) {
        rc = vt_fail(st, VT_EINPUT, "not a JSON object");
    } else if (!cJSON_IsString(mt)) {
        rc = vt_fail(st, VT_EINPUT, "model_type is %s", mt ? "not a string" : "missing");
    } else if (strlen(mt->valuestring) >= sizeof c->model_type) {
        rc = vt_fail(st, VT_EINPUT, "model_type \"%.40s...\" is not one of qwen2_vl, qwen2_5_vl, qwen, kimi_vl",
                     mt->valuestring);
    } else {
        strcpy(c->model_type, mt->valuestring);
        const cJSON *vc;
        if (!strcmp(c->model_type, "qwen2_vl") || !strcmp(c->model_type, "qwen2_5_vl")) {
            int q25 = strcmp(c->model_type, "qwen2_5_vl") == 0;
            c->family = q25 ? VT_FAMILY_QWEN25VL : VT_FAMILY_QWEN2VL;
            if ((vc = j_object(root, "vision_config", 1, st, &rc)) != NULL) rc = parse_qwen2_vision(&c->qwen2, vc, q25, st);
            if (rc == VT_OK) rc = parse_qwen2_text(&c->text, root, st);
        } else if (!strcmp(c->model_type, "qwen")) {
            c->family = VT_FAMILY_QWENVL;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "visual");
            if (!cJSON_IsObject(v))
                rc = vt_fail(st, VT_EINPUT, "model_type qwen without a \"visual\" object (a text-only Qwen model?)");
            else
                rc = parse_qwenvl(&c->qwenvl, v, st);
        } else if (!strcmp(c->model_type, "kimi_vl")) {
            c->family = VT_FAMILY_KIMIVL;
            const cJSON *tc = NULL;
            if ((vc = j_object(root, "vision_config", 1, st, &rc)) != NULL) tc = j_object(root, "text_config", 1, st, &rc);
            if (rc == VT_OK) rc = parse_kimivl(&c->kimi, vc, tc, st);
        } else {
            rc = vt_fail(st, VT_EINPUT, "model_type \"%s\" is not one of qwen2_vl, qwen2_5_vl, qwen (Qwen-VL), kimi_vl",
                         c->model_type);
        }
    }
    cJSON_Delete(root);
    if (rc == VT_OK) sync_defaults(c);
    return rc;
}

/* ================================ preprocessor_config.json ================================ */

void vt_preproc_defaults(vt_preproc_config *p, vt_family family)
{
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(p, 0, sizeof *p);
    p->patch_size = 14;
    p->merge_size = 2;
    p->temporal_patch_size = 1;
    memcpy(p->image_mean, clip_mean, sizeof clip_mean);
    memcpy(p->image_std, clip_std, sizeof clip_std);
    switch (family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL: /* the hub's preprocessor_config.json of both */
        p->min_pixels = 3136;
        p->max_pixels = 12845056;
        p->temporal_patch_size = 2;
        break;
    case VT_FAMILY_QWENVL: /* fixed 448x448 transform, CLIP statistics; no merge */
        p->merge_size = 1;
        break;
    case VT_FAMILY_KIMIVL:
        for (int c = 0; c < 3; c++) p->image_mean[c] = p->image_std[c] = 0.5f;
        p->in_token_limit = 4096;
        p->pad_input = 1;
        break;
    }
}

/* The processors always resize, rescale by 1/255, normalize and convert to RGB; a file that turns one of
 * them off asks for a pipeline this reference does not implement. */
static int check_pipeline_flags(const cJSON *root, vt_status *st)
{
    static const char *const flags[] = {"do_resize", "do_rescale", "do_normalize", "do_convert_rgb"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, flags[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsTrue(v))
            return vt_fail(st, VT_EINPUT, "%s is not true; only the default pipeline is supported", flags[i]);
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (rf && !(cJSON_IsNumber(rf) && fabs(rf->valuedouble * 255.0 - 1.0) < 1e-9))
        return vt_fail(st, VT_EINPUT, "rescale_factor is not 1/255");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (rs && !(cJSON_IsNumber(rs) && rs->valuedouble == 3))
        return vt_fail(st, VT_EINPUT, "resample is not 3 (PIL BICUBIC)");
    return VT_OK;
}

int vt_preproc_parse(vt_preproc_config *p, vt_family family, const char *json, size_t len, vt_status *st)
{
    vt_preproc_defaults(p, family);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON");
    int rc = cJSON_IsObject(root) ? VT_OK : vt_fail(st, VT_EINPUT, "not a JSON object");
    const char *s = "";
    const int64_t px_max = (int64_t)1 << 40;
    if (rc == VT_OK) rc = check_pipeline_flags(root, st);
    if (rc == VT_OK) rc = j_int(root, s, "patch_size", p->patch_size, 1, CFG_MAX_PATCH, &p->patch_size, st);
    if (rc == VT_OK) rc = j_float3(root, "image_mean", 0, p->image_mean, st);
    if (rc == VT_OK) rc = j_float3(root, "image_std", 1, p->image_std, st);
    if (rc == VT_OK && (family == VT_FAMILY_QWEN2VL || family == VT_FAMILY_QWEN25VL)) {
        /* min/max_pixels; newer processors also (or only) save them as size.shortest_edge/longest_edge */
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
        int64_t lo = p->min_pixels, hi = p->max_pixels;
        if (cJSON_IsObject(size)) {
            rc = j_int64(size, "size.", "shortest_edge", lo, 1, px_max, &lo, st);
            if (rc == VT_OK) rc = j_int64(size, "size.", "longest_edge", hi, 1, px_max, &hi, st);
        }
        if (rc == VT_OK) rc = j_int64(root, s, "min_pixels", lo, 1, px_max, &p->min_pixels, st);
        if (rc == VT_OK) rc = j_int64(root, s, "max_pixels", hi, 1, px_max, &p->max_pixels, st);
        if (rc == VT_OK) rc = j_int(root, s, "merge_size", p->merge_size, 1, CFG_MAX_MERGE, &p->merge_size, st);
        if (rc == VT_OK)
            rc = j_int(root, s, "temporal_patch_size", p->temporal_patch_size, 1, CFG_MAX_MERGE, &p->temporal_patch_size, st);
        if (rc == VT_OK && p->min_pixels > p->max_pixels)
            rc = vt_fail(st, VT_EINPUT, "min_pixels %lld is larger than max_pixels %lld", (long long)p->min_pixels,
                         (long long)p->max_pixels);
    } else if (rc == VT_OK && family == VT_FAMILY_KIMIVL) {
        rc = j_int64(root, s, "in_token_limit", p->in_token_limit, 1, (int64_t)1 << 24, &p->in_token_limit, st);
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_input");
        if (rc == VT_OK && pad) {
            if (!cJSON_IsBool(pad))
                rc = vt_fail(st, VT_EINPUT, "pad_input: not true or false");
            else
                p->pad_input = cJSON_IsTrue(pad);
        }
        if (rc == VT_OK && cJSON_GetObjectItemCaseSensitive(root, "merge_kernel_size")) {
            int mk[2];
            rc = j_int_array(root, s, "merge_kernel_size", 2, 2, 1, CFG_MAX_MERGE, mk, NULL, st);
            if (rc == VT_OK && mk[0] != mk[1])
                rc = vt_fail(st, VT_EINPUT, "merge_kernel_size [%d, %d] is not square", mk[0], mk[1]);
            if (rc == VT_OK) p->merge_size = mk[0];
        }
    }
    cJSON_Delete(root);
    if (rc == VT_OK) p->present = 1;
    return rc;
}

/* ================================ loading from files ================================ */

/* The preprocessing sizes must be the model's: patch, merge and temporal sizes, and Kimi's kernel. */
static int check_preproc_against_model(const vt_model_config *c, vt_status *st)
{
    const vt_preproc_config *p = &c->pre;
    int patch = 0, merge = 0, temporal = 0;
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
        patch = c->qwen2.patch_size;
        merge = c->qwen2.spatial_merge_size;
        temporal = c->qwen2.temporal_patch_size;
        break;
    case VT_FAMILY_KIMIVL:
        patch = c->kimi.patch_size;
        merge = c->kimi.merge_kernel_size[0];
        temporal = p->temporal_patch_size;
        break;
    case VT_FAMILY_QWENVL:
        return VT_OK; /* its transform has no patch settings */
    }
    if (p->patch_size != patch || p->merge_size != merge || p->temporal_patch_size != temporal)
        return vt_fail(st, VT_EINPUT, "preprocessor patch_size %d / merge_size %d / temporal_patch_size %d contradict "
                       "config.json's %d / %d / %d", p->patch_size, p->merge_size, p->temporal_patch_size, patch, merge,
                       temporal);
    return VT_OK;
}

int vt_config_load_file(vt_model_config *c, const char *config_path, vt_status *st)
{
    void *buf;
    size_t len;
    memset(c, 0, sizeof *c);
    VT_TRY(vt_read_file(config_path, &buf, &len, CFG_MAX_FILE, st));
    int rc = vt_config_parse(c, buf, len, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", config_path);
    return VT_OK;
}

int vt_config_load(vt_model_config *c, const char *model_dir, vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, model_dir, "config.json", st));
    VT_TRY(vt_config_load_file(c, path, st));
    VT_TRY(vt_path_join(path, sizeof path, model_dir, "preprocessor_config.json", st));
    struct stat sb;
    if (stat(path, &sb) != 0) return VT_OK; /* optional: the defaults stay */
    void *buf;
    size_t len;
    VT_TRY(vt_read_file(path, &buf, &len, CFG_MAX_FILE, st));
    int rc = vt_preproc_parse(&c->pre, c->family, buf, len, st);
    free(buf);
    if (rc == VT_OK) rc = check_preproc_against_model(c, st);
    if (rc) return vt_wrap(st, "%s: ", path);
    return VT_OK;
}
