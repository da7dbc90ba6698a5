/*
 * model_config.c -- config.json and preprocessor_config.json into vt_model_config (model.h): model_type
 * picks the family, whose parser reads the rest.
 *
 * Where each family keeps its vision settings (the parsers in the family folders say more):
 *   qwen2_vl    vision_config, and the text fields M-RoPE needs (top level in 4.51.3, text_config later)
 *   qwen2_5_vl  vision_config (other key names: hidden_size is the width) and the text fields as above
 *   qwen        (Qwen-VL) the `visual` dict: the keyword arguments of VisionTransformer(**visual)
 *   kimi_vl     vision_config (MoonViT) and text_config.hidden_size (the projector's output)
 *   qwen3_vl    vision_config (hidden_size is the width, num_position_embeddings, deepstack_visual_indexes)
 *               and text_config (head_dim, rope_scaling or rope_parameters)
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fileio.h"
#include "io/json.h"
#include "model/model.h"

static const char *const known_types = "qwen2_vl, qwen2_5_vl, qwen (Qwen-VL), kimi_vl, qwen3_vl";

void vt_model_preproc_defaults(vt_preproc_config *p, const vt_model_config *c)
{
    switch (c->family) {
    case VT_FAMILY_QWEN2VL: vt_qwen2vl_preproc_defaults(p, &c->qwen2vl); break;
    case VT_FAMILY_QWEN25VL: vt_qwen25vl_preproc_defaults(p, &c->qwen25vl); break;
    case VT_FAMILY_QWENVL: vt_qwenvl_preproc_defaults(p, &c->qwenvl); break;
    case VT_FAMILY_KIMIVL: vt_kimivl_preproc_defaults(p, &c->kimivl); break;
    case VT_FAMILY_QWEN3VL: vt_qwen3vl_preproc_defaults(p, &c->qwen3vl); break;
    }
}

static int parse_root(vt_model_config *c, const cJSON *root, vt_status *st)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsObject(root)) return vt_fail(st, VT_EINPUT, "not a JSON object");
    if (!cJSON_IsString(mt)) return vt_fail(st, VT_EINPUT, "model_type is %s", mt ? "not a string" : "missing");
    if (strlen(mt->valuestring) >= sizeof c->model_type)
        return vt_fail(st, VT_EINPUT, "model_type \"%.40s...\" is not one of %s", mt->valuestring, known_types);
    strcpy(c->model_type, mt->valuestring);
    if (!strcmp(c->model_type, "qwen2_vl")) {
        c->family = VT_FAMILY_QWEN2VL;
        VT_TRY(vt_qwen2vl_config_parse(&c->qwen2vl, &c->text, root, st));
        return vt_lm_config_parse(&c->lm, root, st);
    }
    if (!strcmp(c->model_type, "qwen2_5_vl")) {
        c->family = VT_FAMILY_QWEN25VL;
        VT_TRY(vt_qwen25vl_config_parse(&c->qwen25vl, &c->text, root, st));
        return vt_lm_config_parse(&c->lm, root, st);
    }
    if (!strcmp(c->model_type, "qwen")) {
        c->family = VT_FAMILY_QWENVL;
        return vt_qwenvl_config_parse(&c->qwenvl, root, st);
    }
    if (!strcmp(c->model_type, "qwen3_vl")) {
        c->family = VT_FAMILY_QWEN3VL;
        return vt_qwen3vl_config_parse(&c->qwen3vl, &c->text, root, st);
    }
    if (!strcmp(c->model_type, "kimi_vl")) {
        c->family = VT_FAMILY_KIMIVL;
        return vt_kimivl_config_parse(&c->kimivl, root, st);
    }
    return vt_fail(st, VT_EINPUT, "model_type \"%s\" is not one of %s", c->model_type, known_types);
}

int vt_config_parse(vt_model_config *c, const char *json, size_t len, vt_status *st)
{
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON");
    int rc = parse_root(c, root, st);
    cJSON_Delete(root);
    /* without preprocessor_config.json, the family's defaults with the model's patch and merge sizes */
    if (rc == VT_OK) vt_model_preproc_defaults(&c->pre, c);
    return rc;
}

/* The preprocessing sizes must be the model's: patch, merge and temporal sizes, and Kimi's kernel. */
static int check_preproc_against_model(const vt_model_config *c, const vt_preproc_config *p, vt_status *st)
{
    vt_preproc_config d;
    if (c->family == VT_FAMILY_QWENVL) return VT_OK; /* its transform has no patch settings */
    vt_model_preproc_defaults(&d, c);
    /* Kimi's processor has no temporal axis: whatever the file says stands */
    int temporal = c->family == VT_FAMILY_KIMIVL ? p->temporal_patch_size : d.temporal_patch_size;
    return vt_preproc_check_sizes(p, d.patch_size, d.merge_size, temporal, st);
}

int vt_config_load_file(vt_model_config *c, const char *config_path, vt_status *st)
{
    void *buf;
    size_t len;
    memset(c, 0, sizeof *c);
    VT_TRY(vt_read_file(config_path, &buf, &len, VT_JSON_MAX_FILE, st));
    int rc = vt_config_parse(c, buf, len, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", config_path);
    return VT_OK;
}

/* generation_config.json (optional; Qwen2-VL / Qwen2.5-VL): its eos ids replace config.json's. */
static int load_generation_config(vt_model_config *c, const char *model_dir, vt_status *st)
{
    char path[4096];
    struct stat sb;
    if (c->family != VT_FAMILY_QWEN2VL && c->family != VT_FAMILY_QWEN25VL) return VT_OK;
    VT_TRY(vt_path_join(path, sizeof path, model_dir, "generation_config.json", st));
    if (stat(path, &sb) != 0) return VT_OK;
    cJSON *root;
    VT_TRY(vt_json_read(&root, path, VT_JSON_MAX_FILE, st));
    int rc = vt_lm_generation_config_parse(&c->lm, root, st);
    cJSON_Delete(root);
    if (rc) return vt_wrap(st, "%s: ", path);
    return VT_OK;
}

int vt_config_load(vt_model_config *c, const char *model_dir, vt_status *st)
{
    char path[4096];
    struct stat sd;
    /* a file given where the model directory goes (an image, a config.json itself) */
    if (stat(model_dir, &sd) == 0 && !S_ISDIR(sd.st_mode))
        return vt_fail(st, VT_EINPUT, "%s is a file, not a model directory (the directory holding config.json and the "
                       "safetensors)", model_dir);
    VT_TRY(vt_path_join(path, sizeof path, model_dir, "config.json", st));
    VT_TRY(vt_config_load_file(c, path, st));
    VT_TRY(load_generation_config(c, model_dir, st));
    VT_TRY(vt_path_join(path, sizeof path, model_dir, "preprocessor_config.json", st));
    struct stat sb;
    if (stat(path, &sb) != 0) return VT_OK; /* optional: the defaults stay */
    void *buf;
    size_t len;
    VT_TRY(vt_read_file(path, &buf, &len, VT_JSON_MAX_FILE, st));
    int rc = vt_preproc_parse(&c->pre, buf, len, st);
    free(buf);
    if (rc == VT_OK) rc = check_preproc_against_model(c, &c->pre, st);
    if (rc) return vt_wrap(st, "%s: ", path);
    return VT_OK;
}

/* ======================================== the processor's mode, the video processor ======================================== */

vt_processor_mode vt_family_processor_mode(vt_family family)
{
    switch (family) {
    /* transformers' Qwen2-VL / Qwen2.5-VL goldens and hf_trace.py use the slow PIL processor of 4.51.3 */
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL: return VT_PROCESSOR_SLOW;
    /* Hugging Face has only the fast processor for Qwen3-VL (its goldens: --processor slow) */
    case VT_FAMILY_QWEN3VL: return VT_PROCESSOR_FAST;
    /* Qwen-VL and Kimi-VL have their own processors; the value is not used for them */
    case VT_FAMILY_QWENVL:
    case VT_FAMILY_KIMIVL: return VT_PROCESSOR_SLOW;
    }
    return VT_PROCESSOR_SLOW;
}

vt_processor_mode vt_model_processor_mode(const vt_model_config *c)
{
    return vt_processor_mode_of_config(&c->pre, vt_family_processor_mode(c->family));
}
