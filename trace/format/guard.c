/* guard.c -- refuse to overwrite a checkpoint, a config or another producer's trace (see guard.h). */
#include "format/guard.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/manifest.h"
#include "io/fileio.h"

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

/* A file a model loader reads (a checkpoint or its config). */
static int is_model_file(const char *name)
{
    return !strcmp(name, "config.json") || !strcmp(name, "preprocessor_config.json") ||
           ends_with(name, ".safetensors") || !strcmp(name, "model.safetensors.index.json");
}

/* The first model file in dir (into name), 0 if none or dir cannot be listed. */
static int find_model_file(const char *dir, char *name, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
        if (is_model_file(e->d_name)) {
            snprintf(name, n, "%s", e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

static int exists(const char *path, struct stat *sb) { return stat(path, sb) == 0; }

/* dir/manifest.json's producer: 1 and *who = "" (no key) or the value when a manifest is there. */
static int manifest_producer(const char *dir, char *who, size_t n)
{
    char path[4200];
    vt_status ignore = {0};
    struct stat sb;
    if (vt_path_join(path, sizeof path, dir, "manifest.json", &ignore) || !exists(path, &sb)) return 0;
    who[0] = 0;
    vt_manifest m;
    if (vt_manifest_read(&m, dir, &ignore) == VT_OK) {
        if (m.producer) snprintf(who, n, "%s", m.producer);
        vt_manifest_free(&m);
    } else {
        snprintf(who, n, "?"); /* unreadable: not provably ours */
    }
    return 1;
}

/* config.json written by synth (carries VT_SYNTH_MARK)? */
static int synth_config(const char *dir)
{
    char path[4200];
    vt_status ignore = {0};
    void *buf;
    size_t len;
    if (vt_path_join(path, sizeof path, dir, "config.json", &ignore) ||
        vt_read_file(path, &buf, &len, (size_t)16 << 20, &ignore))
        return 0;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    int mine = root && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, VT_SYNTH_MARK));
    cJSON_Delete(root);
    return mine;
}

/* A safetensors file whose header says synth wrote it ("__metadata__": {"generator": "vlmtrace synth"}):
 * a checkpoint of an older synth, from before config.json carried the mark. */
static int synth_safetensors(const char *dir, const char *name)
{
    char path[4200];
    vt_status ignore = {0};
    if (vt_path_join(path, sizeof path, dir, name, &ignore)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char len8[8];
    int mine = 0;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        char *h = n > 0 && n < (1u << 24) ? malloc((size_t)n) : NULL;
        if (h && fread(h, 1, (size_t)n, f) == n) {
            cJSON *root = cJSON_ParseWithLength(h, (size_t)n);
            cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
            cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generator");
            mine = cJSON_IsString(gen) && !strcmp(gen->valuestring, "vlmtrace synth");
            cJSON_Delete(root);
        }
        free(h);
    }
    fclose(f);
    return mine;
}

/* Every *.safetensors in dir written by synth (and at least one). */
static int synth_checkpoint(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0, all = 1;
    while ((e = readdir(d)) != NULL)
        if (ends_with(e->d_name, ".safetensors")) {
            n++;
            all &= synth_safetensors(dir, e->d_name);
        }
    closedir(d);
    return n > 0 && all;
}

static int refuse(vt_status *st, const char *flag, const char *path, const char *what)
{
    return vt_fail(st, VT_EINPUT, "%s %s: %s; nothing was written (choose another path, or --force to overwrite)",
                   flag, path, what);
}

static int check_dir(const char *dir, const char *flag, const char *path, vt_status *st)
{
    char name[256], who[200], what[600];
    if (find_model_file(dir, name, sizeof name)) {
        snprintf(what, sizeof what, "%sholds a checkpoint or config (%s), not a trace", dir == path ? "" : "its directory ",
                 name);
        return refuse(st, flag, path, what);
    }
    if (manifest_producer(dir, who, sizeof who) && strncmp(who, "vlmtrace ", 9) != 0) {
        if (!who[0])
            snprintf(what, sizeof what, "%sholds a trace whose manifest.json names no producer (a reference trace, "
                     "not one vlmtrace wrote)", dir == path ? "" : "its directory ");
        else
            snprintf(what, sizeof what, "%sholds a trace written by %s, not by vlmtrace", dir == path ? "" : "its directory ",
                     who);
        return refuse(st, flag, path, what);
    }
    return VT_OK;
}

int vt_output_guard(const char *path, vt_out_kind kind, const char *flag, int force, vt_status *st)
{
    struct stat sb;
    if (!exists(path, &sb)) {
        if (kind != VT_OUT_FILE || force) return VT_OK;
        sb.st_mode = S_IFREG; /* a new file: its directory is still checked (no new files in a reference) */
    }
    if ((kind != VT_OUT_FILE) != !!S_ISDIR(sb.st_mode)) return VT_OK; /* the wrong kind: the writer's own message */
    if (force) return VT_OK;
    switch (kind) {
    case VT_OUT_DIR: return check_dir(path, flag, path, st);
    case VT_OUT_FILE: {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (is_model_file(base) && exists(path, &sb)) {
            char what[300];
            snprintf(what, sizeof what, "exists and is a %s", ends_with(base, ".json") ? "model config" : "checkpoint");
            return refuse(st, flag, path, what);
        }
        char dir[4096];
        if (slash) {
            size_t n = (size_t)(slash - path);
            if (n >= sizeof dir) n = sizeof dir - 1;
            memcpy(dir, path, n);
            dir[n ? n : 1] = 0;
            if (!n) dir[0] = '/';
        } else {
            strcpy(dir, ".");
        }
        return check_dir(dir, flag, path, st);
    }
    case VT_OUT_CHECKPOINT: {
        char name[256], who[200], what[600];
        if (manifest_producer(path, who, sizeof who))
            return refuse(st, flag, path, "holds a trace (manifest.json), not a checkpoint");
        if (find_model_file(path, name, sizeof name) && !synth_config(path) && !synth_checkpoint(path)) {
            snprintf(what, sizeof what, "holds a checkpoint or config (%s) that vlmtrace synth did not write", name);
            return refuse(st, flag, path, what);
        }
        return VT_OK;
    }
    }
    return VT_OK;
}
