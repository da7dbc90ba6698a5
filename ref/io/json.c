/* json.c -- typed fields of a JSON object (json.h). */
#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"

int vt_json_read(cJSON **root, const char *path, size_t max_bytes, vt_status *st)
{
    void *buf;
    size_t len;
    *root = NULL;
    VT_TRY(vt_read_file(path, &buf, &len, max_bytes, st));
    *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!*root) return vt_fail(st, VT_EINPUT, "%s: not valid JSON", path);
    return VT_OK;
}

/* An integer field obj[key] in [lo, hi]; def when absent (VT_JSON_REQUIRED: absence is an error). */
int vt_json_int64(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (def == VT_JSON_REQUIRED) return vt_fail(st, VT_EINPUT, "%s%s is missing", sec, key);
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

int vt_json_int(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                 vt_status *st)
{
    int64_t v;
    VT_TRY(vt_json_int64(obj, sec, key, def, lo, hi, &v, st));
    *out = (int)v;
    return VT_OK;
}

/* A finite number in (lo, hi]. */
int vt_json_double(const cJSON *obj, const char *sec, const char *key, double def, double lo, double hi, double *out,
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

int vt_json_string(const cJSON *obj, const char *sec, const char *key, const char *def, char *out, size_t cap,
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
int vt_json_int_array(const cJSON *obj, const char *sec, const char *key, int n, int cap, int64_t lo, int64_t hi,
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
int vt_json_float3(const cJSON *obj, const char *key, int positive, float *out, vt_status *st)
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

const cJSON *vt_json_object(const cJSON *obj, const char *key, int required, vt_status *st, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *rc = VT_OK;
    if ((!v || cJSON_IsNull(v)) && !required) return NULL;
    if (!cJSON_IsObject(v)) *rc = vt_fail(st, VT_EINPUT, "%s: %s", key, v ? "not a JSON object" : "missing");
    return *rc ? NULL : v;
}

