/*
 * synth.c -- `vlmtrace synth`: presets, --layers applied to config.json, and the order the files of a
 * synthetic checkpoint are written in (synth.h; docs/checkpoints.md).
 *
 * The tensors are exactly those vt_config_weights lists for the written config (the list the loaders
 * bind and `vlmtrace inspect` checks against), in its module order, under the published key names.
 * Their values come from synth_init.c (which distribution) and synth_rng.c (which numbers).
 *
 * Sections: presets / config.json / the checkpoint.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fileio.h"
#include "format/outfile.h"
#include "synth/synth.h"
#include "format/guard.h"
#include "format/version.h"

#define PRESETS_SUBDIR "notebooks-data/presets"
#define HUB_SHARD_MB 5000.0 /* save_pretrained's max_shard_size "5GB" = 5 * 10^9 bytes */

/* ================================ presets ================================ */

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* root/name/config.json exists: out = root/name. */
static int try_root(char *out, size_t cap, const char *root, const char *name)
{
    char p[4200];
    if ((size_t)snprintf(p, sizeof p, "%s/%s/config.json", root, name) >= sizeof p) return 0;
    if (!is_file(p)) return 0;
    return (size_t)snprintf(out, cap, "%s/%s", root, name) < cap;
}

/* The preset roots in search order; returns how many (each at most 4096 bytes). */
static int preset_roots(char roots[][4096], int max)
{
    int n = 0;
    const char *env = getenv("VLMTRACE_PRESETS");
    if (env && *env && strlen(env) < 4096) strcpy(roots[n++], env);
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1); /* Linux; elsewhere only the others */
    if (k > 0) {
        exe[k] = 0;
        for (int up = 0; up < 4 && n < max - 1; up++) { /* bin/vlmtrace, bin/san/vlmtrace, ... */
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            if ((size_t)snprintf(roots[n], 4096, "%s/%s", exe[0] ? exe : "", PRESETS_SUBDIR) < 4096 &&
                is_dir(roots[n]))
                n++;
        }
    }
    if (n < max) strcpy(roots[n++], PRESETS_SUBDIR);
    return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "a, b, c": the presets under root (directories holding config.json), sorted. */
static void list_presets(char *out, size_t cap, const char *root)
{
    out[0] = 0;
    DIR *d = opendir(root);
    if (!d) return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        if (e->d_name[0] == '.') continue;
        char p[4200];
        if ((size_t)snprintf(p, sizeof p, "%s/%s/config.json", root, e->d_name) >= sizeof p) continue;
        if (is_file(p) && (names[n] = strdup(e->d_name)) != NULL) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int k = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", names[i]);
        if (k > 0 && used + (size_t)k < cap) used += (size_t)k;
        free(names[i]);
    }
}

static int name_ok(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

int vt_synth_find_preset(char *out, size_t cap, const char *preset, vt_status *st)
{
    if (strchr(preset, '/')) { /* a directory of the user's: any config.json the reader accepts */
        char p[4200];
        snprintf(p, sizeof p, "%s/config.json", preset);
        if (!is_file(p)) return vt_fail(st, VT_EINPUT, "--preset %s: no config.json in that directory", preset);
        if ((size_t)snprintf(out, cap, "%s", preset) >= cap) return vt_fail(st, VT_EINPUT, "--preset: path too long");
        return VT_OK;
    }
    char roots[6][4096];
    int n = preset_roots(roots, 6);
    if (name_ok(preset))
        for (int i = 0; i < n; i++)
            if (try_root(out, cap, roots[i], preset)) return VT_OK;
    char known[1024] = "";
    for (int i = 0; i < n && !known[0]; i++) list_presets(known, sizeof known, roots[i]);
    if (!known[0])
        return vt_fail(st, VT_EINPUT, "--preset %s: no preset directory found (looked for %s beside the executable "
                       "and in the current directory; set VLMTRACE_PRESETS)", preset, PRESETS_SUBDIR);
    return vt_fail(st, VT_EINPUT, "--preset %s: unknown preset (known: %s; or give a directory holding config.json)",
                   preset, known);
}

/* ================================ config.json ================================ */

/* The object holding the depth field, and that field's name. */
static cJSON *depth_owner(cJSON *root, vt_family f, const char **key)
{
    switch (f) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
    case VT_FAMILY_QWEN3VL: *key = "depth"; return cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    case VT_FAMILY_QWENVL: *key = "layers"; return cJSON_GetObjectItemCaseSensitive(root, "visual");
    case VT_FAMILY_KIMIVL: *key = "num_hidden_layers"; return cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    }
    return NULL;
}

static int depth_of(const vt_model_config *c)
{
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
    case VT_FAMILY_QWEN3VL: return vt_model_vision(c)->depth;
    case VT_FAMILY_QWENVL: return c->qwenvl.layers;
    case VT_FAMILY_KIMIVL: return c->kimivl.num_hidden_layers;
    }
    return 0;
}

/* Set obj[key] to a number or a string, replacing what is there. */
static int set_item(cJSON *obj, const char *key, cJSON *v)
{
    if (!v) return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v) ? 0 : -1;
    return cJSON_AddItemToObject(obj, key, v) ? 0 : -1;
}

/* The object holding the language model's num_hidden_layers: text_config when it has one there (later
 * transformers), else the top level (4.51.3, the hub files). */
static cJSON *lm_owner(cJSON *root)
{
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    return cJSON_IsObject(tc) && cJSON_GetObjectItemCaseSensitive(tc, "num_hidden_layers") ? tc : root;
}

int vt_synth_config(const char *json, size_t len, int layers, vt_st_dtype dtype, char **out, int *full_depth,
                    int *full_lm_layers, vt_status *st)
{
    static vt_model_config cfg; /* large */
    VT_TRY(vt_config_parse(&cfg, json, len, st));
    int depth = depth_of(&cfg);
    const int has_lm = cfg.family == VT_FAMILY_QWEN2VL || cfg.family == VT_FAMILY_QWEN25VL;
    const int lm_layers = has_lm ? cfg.lm.num_hidden_layers : 0;
    *full_depth = depth;
    *full_lm_layers = lm_layers;
    if (layers > depth && layers > lm_layers) {
        if (has_lm)
            return vt_fail(st, VT_EINPUT, "--layers %d: more than the %d blocks of this %s config's vision tower and "
                           "its %d language-model layers", layers, depth, vt_family_name(cfg.family), lm_layers);
        return vt_fail(st, VT_EINPUT, "--layers %d: more than the %d blocks of this %s config", layers, depth,
                       vt_family_name(cfg.family));
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_ERESOURCE, "out of memory parsing config.json");
    int bad = 0;
    if (layers > 0 && has_lm && layers < lm_layers) /* both stacks cut: the language model's layers too */
        bad |= set_item(lm_owner(root), "num_hidden_layers", cJSON_CreateNumber(layers));
    if (layers > 0 && layers < depth) {
        const char *key;
        cJSON *owner = depth_owner(root, cfg.family, &key);
        VT_ASSERT(owner); /* vt_config_parse found the depth there */
        bad |= set_item(owner, key, cJSON_CreateNumber(layers));
        if (cfg.family == VT_FAMILY_QWEN25VL) { /* keep the full-attention blocks that remain */
            cJSON *list = cJSON_CreateArray();
            for (int i = 0; list && i < cfg.qwen25vl.n_fullatt; i++)
                if (cfg.qwen25vl.fullatt_block_indexes[i] < layers)
                    bad |= !cJSON_AddItemToArray(list, cJSON_CreateNumber(cfg.qwen25vl.fullatt_block_indexes[i]));
            bad |= set_item(owner, "fullatt_block_indexes", list);
        }
        if (cfg.family == VT_FAMILY_QWEN3VL) { /* DeepStack blocks scaled into the kept depth, duplicates dropped */
            cJSON *list = cJSON_CreateArray();
            int last = -1;
            for (int i = 0; list && i < cfg.qwen3vl.n_deepstack; i++) {
                int b = (int)((int64_t)cfg.qwen3vl.deepstack_visual_indexes[i] * layers / depth);
                if (b == last) continue;
                bad |= !cJSON_AddItemToArray(list, cJSON_CreateNumber(b));
                last = b;
            }
            bad |= set_item(owner, "deepstack_visual_indexes", list);
        }
    }
    const char *dt = dtype == VT_ST_BF16 ? "bfloat16" : "float32";
    bad |= set_item(root, "torch_dtype", cJSON_CreateString(dt));
    /* the mark that lets a later synth --out rewrite this checkpoint (format/guard.h) */
    bad |= set_item(root, VT_SYNTH_MARK, cJSON_CreateString(VT_PRODUCER));
    cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (cJSON_IsObject(vc) && cJSON_GetObjectItemCaseSensitive(vc, "torch_dtype"))
        bad |= set_item(vc, "torch_dtype", cJSON_CreateString(dt));
    char *text = bad ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return vt_fail(st, VT_ERESOURCE, "out of memory writing config.json");
    *out = text;
    return VT_OK;
}

/* ================================ the checkpoint ================================ */

/* One tensor's values for the writer: the stream restarts at element 0 of each tensor. */
typedef struct fill_ctx {
    const vt_weight_spec *w;
    const vt_synth_init *init;
    uint64_t seed;
    vt_synth_stream s;
    int cur;          /* tensor the stream belongs to */
    size_t next;      /* element it will produce next */
} fill_ctx;

static int fill(void *ctx, int i, float *dst, size_t at, size_t n, vt_status *st)
{
    (void)st;
    fill_ctx *c = ctx;
    if (at == 0) {
        vt_synth_stream_init(&c->s, &c->init[i], c->seed, c->w[i].name);
        c->cur = i;
        c->next = 0;
    }
    VT_ASSERT(c->cur == i && c->next == at); /* the writer asks in order */
    vt_synth_stream_f32(&c->s, dst, n);
    c->next += n;
    return VT_OK;
}

/* model-00001-of-00003.safetensors and the like. */
static int is_shard_name(const char *s)
{
    unsigned a, b;
    char tail[32];
    return strlen(s) == strlen("model-00001-of-00001.safetensors") &&
           sscanf(s, "model-%5u-of-%5u%31s", &a, &b, tail) == 3 && strcmp(tail, ".safetensors") == 0;
}

/* Remove what a loader would read from dir, config.json first. Only these names are ever touched. */
static int clear_checkpoint(const char *dir, vt_status *st)
{
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "preprocessor_config.json", "video_preprocessor_config.json"};
    char p[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        VT_TRY(vt_path_join(p, sizeof p, dir, names[i], st));
        if (remove(p) != 0 && is_file(p)) return vt_fail(st, VT_EINPUT, "cannot replace %s", p);
    }
    DIR *d = opendir(dir);
    if (!d) return vt_fail(st, VT_EINPUT, "cannot list %s", dir);
    struct dirent *e;
    int rc = VT_OK;
    while ((e = readdir(d)) != NULL && rc == VT_OK) {
        if (!is_shard_name(e->d_name)) continue;
        rc = vt_path_join(p, sizeof p, dir, e->d_name, st);
        if (rc == VT_OK && remove(p) != 0) rc = vt_fail(st, VT_EINPUT, "cannot replace %s", p);
    }
    closedir(d);
    return rc;
}

/* Copy preset/preprocessor_config.json (and Qwen3-VL's video_preprocessor_config.json) into out_dir when
 * the preset has them. */
static int copy_preprocessor(const char *preset_dir, const char *out_dir, vt_status *st)
{
    static const char *const names[] = {"preprocessor_config.json", "video_preprocessor_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[4200], dst[4200];
        VT_TRY(vt_path_join(src, sizeof src, preset_dir, names[i], st));
        if (!is_file(src)) continue;
        void *buf;
        size_t len;
        VT_TRY(vt_read_file(src, &buf, &len, (size_t)16 << 20, st));
        int rc = vt_path_join(dst, sizeof dst, out_dir, names[i], st);
        if (rc == VT_OK) rc = vt_write_atomic(dst, buf, len, st);
        free(buf);
        VT_TRY(rc);
    }
    return VT_OK;
}

int vt_synth(const vt_synth_opts *o, vt_synth_result *res, vt_status *st)
{
    static vt_synth_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    VT_TRY(vt_synth_find_preset(res->preset_dir, sizeof res->preset_dir, o->preset, st));

    char path[4200];
    void *json;
    size_t len;
    VT_TRY(vt_path_join(path, sizeof path, res->preset_dir, "config.json", st));
    VT_TRY(vt_read_file(path, &json, &len, (size_t)16 << 20, st));
    char *cfg_text = NULL;
    int rc = vt_synth_config(json, len, o->layers, o->dtype, &cfg_text, &res->full_depth, &res->full_lm_layers, st);
    free(json);
    if (rc) return vt_wrap(st, "%s: ", path);

    static vt_model_config cfg; /* large */
    vt_weight_spec *w = NULL, *wl = NULL;
    vt_synth_init *init = NULL;
    int n = 0, nl = 0;
    rc = vt_config_parse(&cfg, cfg_text, strlen(cfg_text), st); /* what the reader will see */
    if (rc == VT_OK) rc = vt_config_weights(&cfg, &w, &n, st);
    /* the whole model: the vision side, then the language model in its module order */
    if (rc == VT_OK) rc = vt_config_lm_weights(&cfg, &wl, &nl, st);
    if (rc == VT_OK && nl > 0) {
        vt_weight_spec *all = realloc(w, (size_t)(n + nl) * sizeof *all);
        if (!all) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        else {
            memcpy(all + n, wl, (size_t)nl * sizeof *all);
            w = all;
            n += nl;
        }
    }
    free(wl);
    if (rc == VT_OK && !(init = malloc((size_t)n * sizeof *init)))
        rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    if (rc == VT_OK) {
        int residual = 0;
        res->depth = depth_of(&cfg);
        res->lm_layers = nl > 0 ? cfg.lm.num_hidden_layers : 0;
        res->n_tensors = n;
        for (int i = 0; i < n; i++) {
            init[i] = vt_synth_init_for(&cfg, res->full_depth, res->full_lm_layers, &w[i]);
            residual += init[i].residual;
            int64_t numel = 1;
            for (int d = 0; d < w[i].ndim; d++) numel *= w[i].shape[d];
            res->n_params += numel;
            if (i < n - nl) res->n_params_vision += numel;
        }
        res->data_bytes = (uint64_t)res->n_params * vt_st_dtype_size(o->dtype);
        VT_ASSERT(residual == 2 * (res->depth + res->lm_layers)); /* synth_init.c's table matches the weight lists */
        /* Qwen3-VL's published checkpoints store the tower under model.visual.* (the loaders find either) */
        for (int i = 0; i < n && cfg.family == VT_FAMILY_QWEN3VL; i++) {
            char stored[sizeof w[i].name];
            if ((size_t)snprintf(stored, sizeof stored, "model.%s", w[i].name) >= sizeof stored) continue;
            memcpy(w[i].name, stored, sizeof stored);
        }
    }

    struct stat so_out, so_pre; /* never replace the files of the directory the preset came from */
    if (rc == VT_OK && stat(o->out_dir, &so_out) == 0 && stat(res->preset_dir, &so_pre) == 0 &&
        so_out.st_dev == so_pre.st_dev && so_out.st_ino == so_pre.st_ino)
        rc = vt_fail(st, VT_EINPUT, "--out %s is the preset's own directory (its config.json would be replaced)",
                     o->out_dir);
    if (rc == VT_OK) rc = vt_mkdirs(o->out_dir, st);
    if (rc == VT_OK) rc = clear_checkpoint(o->out_dir, st);
    int started = rc == VT_OK; /* from here on, a failure removes whatever was written */
    if (rc == VT_OK) {
        char seed[32], layers[32], base[256];
        snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
        snprintf(layers, sizeof layers, "%d of %d", res->depth, res->full_depth);
        const char *slash = strrchr(res->preset_dir, '/');
        if ((size_t)snprintf(base, sizeof base, "%s", slash ? slash + 1 : res->preset_dir) >= sizeof base)
            strcpy(base + sizeof base - 4, "..."); /* a label only */
        const char *meta[] = {"format", "pt", "generator", "vlmtrace synth", "preset", base,
                              "seed", seed, "blocks", layers};
        double mb = o->shard_mb < 0 ? HUB_SHARD_MB : o->shard_mb;
        uint64_t shard_bytes = mb > 0 ? (uint64_t)(mb * 1e6) : 0;
        if (mb > 0 && shard_bytes == 0) shard_bytes = 1;
        fill_ctx fc = {w, init, o->seed, {{{0}}, 0, 0}, -1, 0};
        vt_stw_opts so = {o->out_dir, w, n, o->dtype, shard_bytes, meta, 5, fill, &fc};
        rc = vt_stw_write(&so, &res->n_files, st);
    }
    if (rc == VT_OK) rc = copy_preprocessor(res->preset_dir, o->out_dir, st);
    if (rc == VT_OK) { /* last: only now does the directory load as a checkpoint */
        rc = vt_path_join(path, sizeof path, o->out_dir, "config.json", st);
        if (rc == VT_OK) rc = vt_write_atomic(path, cfg_text, strlen(cfg_text), st);
    }
    if (rc && started) {
        vt_status ignore = {0};
        clear_checkpoint(o->out_dir, &ignore);
    }
    free(cfg_text);
    free(w);
    free(init);
    return rc;
}
