/*
 * qwen2_cases.h -- what test_qwen2vl.c and test_qwen25vl.c share (static helpers; include once per program):
 *
 *   case_run_args(buf, cap, case_dir)   the `vlmtrace run` arguments a golden case's inputs.json describes:
 *                                       --model CASE, its images and videos (frame lists) in order, --fps per
 *                                       video, --min-pixels / --max-pixels
 *   copy_checkpoint_without(src, dst, drop)
 *                                       rewrite a safetensors file without the tensors whose names start
 *                                       with `drop` (a checkpoint missing a block)
 *   copy_text_replacing(src, dst, from, to)
 *                                       copy a text file with the first `from` replaced by `to` (a broken config)
 *   copy_case_edited(dir, cap, tmp, name, case_dir, from, to, drop)
 *                                       a model directory tmp/name: case_dir's config.json with `from` replaced
 *                                       by `to`, its model.safetensors without the tensors under `drop`
 */
#ifndef QWEN2_CASES_H
#define QWEN2_CASES_H

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "vt_test.h"

static void case_run_args(char *buf, size_t cap, const char *case_dir)
{
    char path[512];
    void *text;
    size_t len;
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/inputs.json", case_dir);
    if (vt_read_file(path, &text, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) fail_msg("%s: not JSON", path);
    size_t off = (size_t)snprintf(buf, cap, "run --model %s", case_dir);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "images"))
        off += (size_t)snprintf(buf + off, cap - off, " --image %s/%s", case_dir,
                                cJSON_GetStringValue(cJSON_GetObjectItem(e, "file")));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "videos")) {
        off += (size_t)snprintf(buf + off, cap - off, " --video ");
        const cJSON *f;
        int k = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "frames"))
            off += (size_t)snprintf(buf + off, cap - off, "%s%s/%s", k++ ? "," : "", case_dir, cJSON_GetStringValue(f));
        off += (size_t)snprintf(buf + off, cap - off, " --fps %g", cJSON_GetNumberValue(cJSON_GetObjectItem(e, "fps")));
    }
    off += (size_t)snprintf(buf + off, cap - off, " --min-pixels %.0f --max-pixels %.0f",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(j, "min_pixels")),
                            cJSON_GetNumberValue(cJSON_GetObjectItem(j, "max_pixels")));
    if (off >= cap) fail_msg("%s: run arguments too long", case_dir);
    cJSON_Delete(j);
}

static void copy_checkpoint_without(const char *src, const char *dst, const char *drop)
{
    void *raw;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(src, &raw, &len, 1 << 28, &st)) fail_msg("%s", st.msg);
    const unsigned char *b = raw;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)hl);
    if (!h) fail_msg("%s: header is not JSON", src);
    /* keep the tensors not dropped, packed in order with fresh offsets */
    cJSON *out = cJSON_CreateObject();
    unsigned char *data = malloc(len);
    size_t used = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__")) {
            cJSON_AddItemToObject(out, e->string, cJSON_Duplicate(e, 1));
            continue;
        }
        if (!strncmp(e->string, drop, strlen(drop))) continue;
        const cJSON *offs = cJSON_GetObjectItem(e, "data_offsets");
        size_t a = (size_t)cJSON_GetNumberValue(cJSON_GetArrayItem(offs, 0));
        size_t z = (size_t)cJSON_GetNumberValue(cJSON_GetArrayItem(offs, 1));
        memcpy(data + used, b + 8 + hl + a, z - a);
        cJSON *d = cJSON_Duplicate(e, 1);
        cJSON_ReplaceItemInObject(d, "data_offsets", cJSON_CreateIntArray((const int[]){(int)used, (int)(used + z - a)}, 2));
        cJSON_AddItemToObject(out, e->string, d);
        used += z - a;
    }
    char *hj = cJSON_PrintUnformatted(out);
    size_t n = strlen(hj), pad = (8 - n % 8) % 8;
    FILE *f = fopen(dst, "wb");
    if (!f) fail_msg("cannot create %s", dst);
    uint64_t nl = n + pad;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(nl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hj, 1, n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fwrite(data, 1, used, f);
    fclose(f);
    free(hj);
    free(data);
    cJSON_Delete(out);
    cJSON_Delete(h);
    free(raw);
}

static void copy_text_replacing(const char *src, const char *dst, const char *from, const char *to)
{
    void *raw;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(src, &raw, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    char *s = raw, *p = strstr(s, from);
    if (!p) fail_msg("%s: no '%s' to replace", src, from);
    FILE *f = fopen(dst, "wb");
    if (!f) fail_msg("cannot create %s", dst);
    fwrite(s, 1, (size_t)(p - s), f);
    fputs(to, f);
    fputs(p + strlen(from), f);
    fclose(f);
    free(raw);
}

static void copy_case_edited(char *dir, size_t cap, const char *tmp, const char *name, const char *case_dir,
                             const char *from, const char *to, const char *drop)
{
    char p[512], q[512];
    snprintf(dir, cap, "%s/%s", tmp, name);
    if (mkdir(dir, 0777) != 0) fail_msg("cannot create %s", dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    snprintf(q, sizeof q, "%s/config.json", case_dir);
    copy_text_replacing(q, p, from, to);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(q, sizeof q, "%s/model.safetensors", case_dir);
    copy_checkpoint_without(q, p, drop);
}

#endif
