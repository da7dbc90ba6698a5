/*
 * json.h -- typed, range-checked fields of a JSON object (config.json, preprocessor_config.json), on cJSON.
 *
 *     cJSON *root;
 *     VT_TRY(vt_json_read(&root, "model/config.json", VT_JSON_MAX_FILE, st));   // the file, parsed
 *     int depth;
 *     rc = vt_json_int(vc, "vision_config.", "depth", 32, 1, VT_CFG_MAX_DEPTH, &depth, st);
 *     cJSON_Delete(root);
 *
 * Every getter takes the section prefix used in messages ("vision_config."), the key, a default for an
 * absent (or null) field -- VT_JSON_REQUIRED / NAN: absence is an error -- and the accepted range; a field
 * of the wrong type or out of range fails with VT_EINPUT naming section and key. The family parsers
 * (ref/<family>/<family>_config.c) are written with these.
 *
 * May include: ref/core/ (and ref/io/).
 */
#ifndef VT_JSON_H
#define VT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/status.h"

#define VT_JSON_REQUIRED INT64_MIN /* the default meaning "the field must be present" */
#define VT_JSON_MAX_FILE ((size_t)16 << 20)

/* Generous upper bounds that keep absurd configs from reaching an allocation. */
#define VT_CFG_MAX_WIDTH 65536 /* embed / hidden widths */
#define VT_CFG_MAX_MLP 262144  /* MLP hidden widths */
#define VT_CFG_MAX_HEADS 1024
#define VT_CFG_MAX_DEPTH 1024
#define VT_CFG_MAX_PATCH 1024
#define VT_CFG_MAX_MERGE 64

/* Read a JSON file of at most max_bytes and parse it; *root is the caller's (cJSON_Delete). Messages
 * name the path. */
int vt_json_read(cJSON **root, const char *path, size_t max_bytes, vt_status *st);

/* An integer obj[key] in [lo, hi] (a JSON number with no fraction). */
int vt_json_int64(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi,
                  int64_t *out, vt_status *st);
int vt_json_int(const cJSON *obj, const char *sec, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                vt_status *st);
/* A finite number in (lo, hi]; def NAN: required. */
int vt_json_double(const cJSON *obj, const char *sec, const char *key, double def, double lo, double hi,
                   double *out, vt_status *st);
/* A string shorter than cap (copied into out). */
int vt_json_string(const cJSON *obj, const char *sec, const char *key, const char *def, char *out, size_t cap,
                   vt_status *st);
/* An array of exactly n integers in [lo, hi] (n < 0: any length up to cap, its count in *got). */
int vt_json_int_array(const cJSON *obj, const char *sec, const char *key, int n, int cap, int64_t lo, int64_t hi,
                      int *out, int *got, vt_status *st);
/* Three floats (image_mean / image_std; one number stands for all three); absent keeps out as it is;
 * positive: every entry must be > 0. */
int vt_json_float3(const cJSON *obj, const char *key, int positive, float *out, vt_status *st);
/* obj[key] as an object; NULL when absent and not required (*rc = VT_OK), else *rc is the error. */
const cJSON *vt_json_object(const cJSON *obj, const char *key, int required, vt_status *st, int *rc);

#endif
