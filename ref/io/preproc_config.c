/* preproc_config.c -- preprocessor_config.json (preproc_config.h). */
#include "io/preproc_config.h"

#include <math.h>
#include <string.h>

#include "io/json.h"

void vt_preproc_init(vt_preproc_config *p, vt_preproc_kind kind)
{
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->patch_size = 14;
    p->merge_size = 2;
    p->temporal_patch_size = 1;
    memcpy(p->image_mean, clip_mean, sizeof clip_mean);
    memcpy(p->image_std, clip_std, sizeof clip_std);
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

int vt_preproc_parse(vt_preproc_config *p, const char *json, size_t len, vt_status *st)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON");
    int rc = cJSON_IsObject(root) ? VT_OK : vt_fail(st, VT_EINPUT, "not a JSON object");
    const char *s = "";
    const int64_t px_max = (int64_t)1 << 40;
    if (rc == VT_OK) rc = check_pipeline_flags(root, st);
    if (rc == VT_OK)
        rc = vt_json_string(root, s, "image_processor_type", "", p->image_processor_type,
                            sizeof p->image_processor_type, st);
    if (rc == VT_OK) rc = vt_json_int(root, s, "patch_size", p->patch_size, 1, VT_CFG_MAX_PATCH, &p->patch_size, st);
    if (rc == VT_OK) rc = vt_json_float3(root, "image_mean", 0, p->image_mean, st);
    if (rc == VT_OK) rc = vt_json_float3(root, "image_std", 1, p->image_std, st);
    if (rc == VT_OK && p->kind == VT_PREPROC_SMART_RESIZE) {
        /* min/max_pixels; newer processors also (or only) save them as size.shortest_edge/longest_edge */
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
        int64_t lo = p->min_pixels, hi = p->max_pixels;
        if (cJSON_IsObject(size)) {
            rc = vt_json_int64(size, "size.", "shortest_edge", lo, 1, px_max, &lo, st);
            if (rc == VT_OK) rc = vt_json_int64(size, "size.", "longest_edge", hi, 1, px_max, &hi, st);
        }
        if (rc == VT_OK) rc = vt_json_int64(root, s, "min_pixels", lo, 1, px_max, &p->min_pixels, st);
        if (rc == VT_OK) rc = vt_json_int64(root, s, "max_pixels", hi, 1, px_max, &p->max_pixels, st);
        if (rc == VT_OK) rc = vt_json_int(root, s, "merge_size", p->merge_size, 1, VT_CFG_MAX_MERGE, &p->merge_size, st);
        if (rc == VT_OK)
            rc = vt_json_int(root, s, "temporal_patch_size", p->temporal_patch_size, 1, VT_CFG_MAX_MERGE, &p->temporal_patch_size, st);
        if (rc == VT_OK && p->min_pixels > p->max_pixels)
            rc = vt_fail(st, VT_EINPUT, "min_pixels %lld is larger than max_pixels %lld", (long long)p->min_pixels,
                         (long long)p->max_pixels);
    } else if (rc == VT_OK && p->kind == VT_PREPROC_KIMI) {
        rc = vt_json_int64(root, s, "in_token_limit", p->in_token_limit, 1, (int64_t)1 << 24, &p->in_token_limit, st);
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_input");
        if (rc == VT_OK && pad) {
            if (!cJSON_IsBool(pad))
                rc = vt_fail(st, VT_EINPUT, "pad_input: not true or false");
            else
                p->pad_input = cJSON_IsTrue(pad);
        }
        if (rc == VT_OK && cJSON_GetObjectItemCaseSensitive(root, "merge_kernel_size")) {
            int mk[2];
            rc = vt_json_int_array(root, s, "merge_kernel_size", 2, 2, 1, VT_CFG_MAX_MERGE, mk, NULL, st);
            if (rc == VT_OK && mk[0] != mk[1])
                rc = vt_fail(st, VT_EINPUT, "merge_kernel_size [%d, %d] is not square", mk[0], mk[1]);
            if (rc == VT_OK) p->merge_size = mk[0];
        }
    }
    cJSON_Delete(root);
    if (rc == VT_OK) p->present = 1;
    return rc;
}

int vt_preproc_check_sizes(const vt_preproc_config *p, int patch, int merge, int temporal, vt_status *st)
{
    if (p->patch_size != patch || p->merge_size != merge || p->temporal_patch_size != temporal)
        return vt_fail(st, VT_EINPUT, "preprocessor patch_size %d / merge_size %d / temporal_patch_size %d contradict "
                       "config.json's %d / %d / %d", p->patch_size, p->merge_size, p->temporal_patch_size, patch, merge,
                       temporal);
    return VT_OK;
}
