/* model_weights.c -- the family's tensor list and name, by family (model.h). */
#include <stdlib.h>

#include "model/model.h"

const char *vt_family_name(vt_family family)
{
    switch (family) {
    case VT_FAMILY_QWEN2VL: return "Qwen2-VL";
    case VT_FAMILY_QWEN25VL: return "Qwen2.5-VL";
    case VT_FAMILY_QWENVL: return "Qwen-VL";
    case VT_FAMILY_KIMIVL: return "Kimi-VL";
    case VT_FAMILY_QWEN3VL: return "Qwen3-VL";
    }
    return "?";
}

const vt_vision_config *vt_model_vision(const vt_model_config *c)
{
    switch (c->family) {
    case VT_FAMILY_QWEN2VL: return &c->qwen2vl.vision;
    case VT_FAMILY_QWEN25VL: return &c->qwen25vl.vision;
    case VT_FAMILY_QWEN3VL: return &c->qwen3vl.vision;
    default: return NULL;
    }
}

int vt_config_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st)
{
    vt_weight_list l = {0};
    int rc = VT_OK;
    switch (c->family) {
    case VT_FAMILY_QWEN2VL: rc = vt_qwen2vl_weight_specs(&c->qwen2vl, &l, st); break;
    case VT_FAMILY_QWEN25VL: rc = vt_qwen25vl_weight_specs(&c->qwen25vl, &l, st); break;
    case VT_FAMILY_QWENVL: rc = vt_qwenvl_weight_specs(&c->qwenvl, &l, st); break;
    case VT_FAMILY_KIMIVL: rc = vt_kimivl_weight_specs(&c->kimivl, &l, st); break;
    case VT_FAMILY_QWEN3VL: rc = vt_qwen3vl_weight_specs(&c->qwen3vl, &l, st); break;
    }
    if (rc) {
        free(l.v);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return VT_OK;
}

int vt_config_lm_weights(const vt_model_config *c, vt_weight_spec **out, int *n, vt_status *st)
{
    vt_weight_list l = {0};
    *out = NULL;
    *n = 0;
    if (c->family != VT_FAMILY_QWEN2VL && c->family != VT_FAMILY_QWEN25VL) return VT_OK;
    int rc = vt_lm_weight_specs(&c->lm, &c->text, &l, st);
    if (rc) {
        free(l.v);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return VT_OK;
}
