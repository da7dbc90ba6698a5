/*
 * safetensors.c -- checkpoints: the safetensors format, validated before anything in it is trusted.
 *
 * A safetensors file is
 *     [8 bytes: N, little-endian u64] [N bytes: JSON header] [data: D bytes]
 * and the header maps each tensor name to {"dtype": "BF16", "shape": [1280, 3, 2, 14, 14],
 * "data_offsets": [begin, end]} (offsets relative to the start of the data), plus an optional
 * "__metadata__" object of strings. A sharded checkpoint adds model.safetensors.index.json, whose
 * "weight_map" maps each tensor name to the shard file that holds it.
 *
 * The checks are those of the safetensors library (the loader the reference uses) and a few more:
 * header length within the file and at most 100 MB, a JSON object (cJSON), known dtypes, integral
 * non-negative shapes, every data_offsets pair in order (begin <= end) and in bounds, spanning exactly
 * numel x dtype size, and the tensors, sorted by offset, tiling the data with no overlap, no gap and
 * nothing after the last one; no name twice.
 *
 * Two sides are kept. The vision side: keys under visual., transformer.visual., vision_tower. or
 * multi_modal_projector., each possibly behind a leading "model." (newer transformers save Qwen2-VL as
 * model.visual.*, and Kimi-VL checkpoints may carry model.vision_tower.*). The Qwen2 language model (ref/lm/):
 * model.embed_tokens., model.layers., model.norm. and lm_head. as the hubs publish them, or
 * model.language_model.* (+ lm_head.) as transformers >= 4.52 saves them; one name space either way (its
 * canonical name drops the "model." or "model.language_model." in front). Other tensors are validated as
 * part of the header and skipped, and a shard holding neither side is never opened. A language-model
 * tensor of a dtype we cannot read (a quantised checkpoint) is skipped too, so the vision side of such a
 * checkpoint still runs; the language model then reports it missing.
 *
 * Sections: names and dtypes / header validation / opening files and shards / lookup and conversion.
 * The two-pass weight binder is in safetensors_bind.c.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fileio.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* 100 MB, as the safetensors library allows */
#define ST_MAX_JSON_INT ((uint64_t)1 << 53) /* cJSON numbers are doubles: exact up to 2^53 */
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

/* ================================ names and dtypes ================================ */

const char *vt_st_dtype_name(vt_st_dtype dt)
{
    switch (dt) {
    case VT_ST_F32: return "F32";
    case VT_ST_BF16: return "BF16";
    case VT_ST_F16: return "F16";
    }
    return "?";
}

size_t vt_st_dtype_size(vt_st_dtype dt) { return dt == VT_ST_F32 ? 4 : 2; }

/* Every dtype of the safetensors format, so a language-model tensor of another type still gets its
 * span checked; only the first three can be read. */
static const struct {
    const char *name;
    unsigned size;
    int readable; /* 1 + vt_st_dtype, or 0 */
} st_dtypes[] = {
    {"F32", 4, 1 + VT_ST_F32}, {"BF16", 2, 1 + VT_ST_BF16}, {"F16", 2, 1 + VT_ST_F16}, {"F64", 8, 0},
    {"I64", 8, 0},  {"U64", 8, 0},  {"I32", 4, 0},  {"U32", 4, 0},      {"I16", 2, 0},      {"U16", 2, 0},
    {"I8", 1, 0},   {"U8", 1, 0},   {"BOOL", 1, 0}, {"F8_E4M3", 1, 0},  {"F8_E5M2", 1, 0},  {"F8_E8M0", 1, 0},
};

static const char *const vision_prefixes[] = {"visual.", "transformer.visual.", "vision_tower.",
                                              "multi_modal_projector."};

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int is_canonical_vision(const char *s)
{
    for (size_t i = 0; i < sizeof vision_prefixes / sizeof vision_prefixes[0]; i++)
        if (has_prefix(s, vision_prefixes[i])) return 1;
    return 0;
}

/* The language model's prefixes: (stored prefix, how much of it the canonical name drops). */
static const struct {
    const char *prefix;
    size_t drop;
} lm_prefixes[] = {
    {"model.language_model.", 21}, /* transformers >= 4.52: model.language_model.layers.0... -> layers.0... */
    {"model.embed_tokens.", 6},    /* the hubs: model.embed_tokens.weight -> embed_tokens.weight */
    {"model.layers.", 6},
    {"model.norm.", 6},
    {"lm_head.", 0},
};

int vt_st_is_lm_key(const char *key, const char **canon)
{
    for (size_t i = 0; i < sizeof lm_prefixes / sizeof lm_prefixes[0]; i++)
        if (has_prefix(key, lm_prefixes[i].prefix)) {
            if (canon) *canon = key + lm_prefixes[i].drop;
            return 1;
        }
    if (canon) *canon = NULL;
    return 0;
}

/* A key either side keeps, with its canonical name. */
static int is_kept_key(const char *key, const char **canon)
{
    return vt_st_is_vision_key(key, canon) || vt_st_is_lm_key(key, canon);
}

int vt_st_is_vision_key(const char *key, const char **canon)
{
    const char *c = NULL;
    if (is_canonical_vision(key))
        c = key;
    else if (has_prefix(key, "model.") && is_canonical_vision(key + 6))
        c = key + 6;
    if (canon) *canon = c;
    return c != NULL;
}

/* ================================ header validation ================================ */

/* One header entry while it is being checked (names point into the cJSON tree). */
typedef struct st_entry {
    const char *name;
    const char *dtype;
    unsigned esize;
    int readable;
    int ndim;                    /* may exceed VT_MAX_DIMS for a tensor we do not keep */
    int64_t shape[VT_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;
} st_entry;

/* A JSON number that is an integer in [lo, hi] (0 on success). */
static int json_int(const cJSON *v, double lo, double hi, double *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != (double)(int64_t)d) return -1;
    *out = d;
    return 0;
}

static int entry_from_json(st_entry *e, const cJSON *item, const char *label, vt_status *st)
{
    const char *nm = item->string;
    memset(e, 0, sizeof *e);
    e->name = nm;
    if (!cJSON_IsObject(item)) return vt_fail(st, VT_EINPUT, "%s: %s: header entry is not a JSON object", label, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt)) return vt_fail(st, VT_EINPUT, "%s: %s: no \"dtype\" string", label, nm);
    if (!cJSON_IsArray(sh)) return vt_fail(st, VT_EINPUT, "%s: %s: no \"shape\" array", label, nm);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return vt_fail(st, VT_EINPUT, "%s: %s: \"data_offsets\" is not an array of two integers", label, nm);

    e->dtype = dt->valuestring;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(e->dtype, st_dtypes[i].name) == 0) {
            e->esize = st_dtypes[i].size;
            e->readable = st_dtypes[i].readable;
        }
    if (!e->esize) return vt_fail(st, VT_EINPUT, "%s: %s: unknown dtype \"%.32s\"", label, nm, e->dtype);

    e->numel = 1;
    int overflow = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        double v;
        if (cJSON_IsNumber(d) && d->valuedouble < 0)
            return vt_fail(st, VT_EINPUT, "%s: %s: negative dimension %.0f in shape", label, nm, d->valuedouble);
        if (json_int(d, 0, (double)ST_MAX_JSON_INT, &v))
            return vt_fail(st, VT_EINPUT, "%s: %s: shape holds something other than a non-negative integer", label,
                           nm);
        uint64_t u = (uint64_t)v;
        if (e->ndim < VT_MAX_DIMS) e->shape[e->ndim] = (int64_t)u;
        e->ndim++;
        if (u && e->numel > ST_MAX_JSON_INT / u) overflow = 1;
        e->numel *= u;
        if (e->numel > ST_MAX_JSON_INT) overflow = 1;
    }
    if (overflow) return vt_fail(st, VT_EINPUT, "%s: %s: shape has too many elements", label, nm);

    double b, en;
    if (json_int(cJSON_GetArrayItem(of, 0), 0, (double)ST_MAX_JSON_INT, &b) ||
        json_int(cJSON_GetArrayItem(of, 1), 0, (double)ST_MAX_JSON_INT, &en))
        return vt_fail(st, VT_EINPUT, "%s: %s: data_offsets are not non-negative integers", label, nm);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->begin > e->end)
        return vt_fail(st, VT_EINPUT, "%s: %s: data_offsets [%llu, %llu] are reversed", label, nm,
                       (unsigned long long)e->begin, (unsigned long long)e->end);
    return VT_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Spans and tiling: each tensor inside the data, exactly numel x size bytes, and together the tensors
 * cover [0, data_len) once, as the safetensors library requires. e is sorted by offset here. */
static int check_layout(st_entry *e, int n, uint64_t data_len, const char *label, vt_status *st)
{
    for (int i = 0; i < n; i++) {
        if (e[i].end > data_len)
            return vt_fail(st, VT_EINPUT, "%s: %s: data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                           label, e[i].name, (unsigned long long)e[i].begin, (unsigned long long)e[i].end,
                           (unsigned long long)data_len);
        uint64_t need = e[i].numel * e[i].esize; /* numel <= 2^53 and esize <= 8: no overflow */
        if (e[i].end - e[i].begin != need) {
            char sb[160];
            vt_shape_str(sb, sizeof sb, e[i].ndim < VT_MAX_DIMS ? e[i].ndim : VT_MAX_DIMS, e[i].shape);
            return vt_fail(st, VT_EINPUT, "%s: %s: data_offsets [%llu, %llu] span %llu bytes but %s %s needs %llu",
                           label, e[i].name, (unsigned long long)e[i].begin, (unsigned long long)e[i].end,
                           (unsigned long long)(e[i].end - e[i].begin), e[i].dtype, sb, (unsigned long long)need);
        }
    }
    qsort(e, (size_t)n, sizeof *e, cmp_entry_offset);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].begin < pos)
            return vt_fail(st, VT_EINPUT, "%s: %s: data_offsets [%llu, %llu] overlap %s", label, e[i].name,
                           (unsigned long long)e[i].begin, (unsigned long long)e[i].end, e[i - 1].name);
        if (e[i].begin > pos)
            return vt_fail(st, VT_EINPUT, "%s: %s: %llu unused bytes before its data_offsets [%llu, %llu]", label,
                           e[i].name, (unsigned long long)(e[i].begin - pos), (unsigned long long)e[i].begin,
                           (unsigned long long)e[i].end);
        pos = e[i].end;
    }
    if (pos != data_len)
        return vt_fail(st, VT_EINPUT, "%s: %llu bytes after the last tensor's data (the data is %llu bytes)", label,
                       (unsigned long long)(data_len - pos), (unsigned long long)data_len);
    return VT_OK;
}

static int cmp_tensor_canon(const void *a, const void *b)
{
    return strcmp(((const vt_st_tensor *)a)->canon, ((const vt_st_tensor *)b)->canon);
}

static const char *shard_label(const vt_checkpoint *ck, int shard, const char *fallback)
{
    return ck->files && shard >= 0 && shard < ck->n_files && ck->files[shard].path ? ck->files[shard].path : fallback;
}

/* Keep the vision-side and language-model entries of one file in ck, then sort everything by canonical
 * name and refuse a name stored twice (visual.x and model.visual.x, model.layers.x and
 * model.language_model.layers.x, or the same key in two shards). */
static int keep_tensors(vt_checkpoint *ck, const st_entry *e, int n, const uint8_t *data, int shard, const char *label,
                        vt_status *st)
{
    int add = 0;
    for (int i = 0; i < n; i++) add += is_kept_key(e[i].name, NULL);
    if (!add) return VT_OK;
    vt_st_tensor *t = realloc(ck->t, (size_t)(ck->n + add) * sizeof *t);
    if (!t) return vt_fail(st, VT_ERESOURCE, "%s: out of memory for %d tensor descriptors", label, ck->n + add);
    ck->t = t;
    for (int i = 0; i < n; i++) {
        const int vision = vt_st_is_vision_key(e[i].name, NULL);
        if (!vision && !vt_st_is_lm_key(e[i].name, NULL)) continue;
        if (!vision && (!e[i].readable || e[i].ndim > VT_MAX_DIMS)) continue; /* see the header comment */
        if (!e[i].readable)
            return vt_fail(st, VT_EINPUT, "%s: %s: dtype %s is not supported (F32, BF16 and F16 are)", label,
                           e[i].name, e[i].dtype);
        if (e[i].ndim > VT_MAX_DIMS)
            return vt_fail(st, VT_EINPUT, "%s: %s: %d dimensions, at most %d are supported", label, e[i].name,
                           e[i].ndim, VT_MAX_DIMS);
        vt_st_tensor *x = &ck->t[ck->n];
        memset(x, 0, sizeof *x);
        x->name = strdup(e[i].name);
        if (!x->name) return vt_fail(st, VT_ERESOURCE, "%s: out of memory", label);
        ck->n++;
        is_kept_key(x->name, &x->canon);
        x->lm = !vision;
        ck->n_lm += x->lm;
        x->dtype = (vt_st_dtype)(e[i].readable - 1);
        x->ndim = e[i].ndim;
        memcpy(x->shape, e[i].shape, sizeof x->shape);
        x->data = data + e[i].begin;
        x->nbytes = (size_t)(e[i].end - e[i].begin);
        x->shard = shard;
    }
    qsort(ck->t, (size_t)ck->n, sizeof *ck->t, cmp_tensor_canon);
    for (int i = 1; i < ck->n; i++)
        if (strcmp(ck->t[i - 1].canon, ck->t[i].canon) == 0) {
            const vt_st_tensor *a = &ck->t[i - 1], *b = &ck->t[i];
            if (a->shard == b->shard)
                return vt_fail(st, VT_EINPUT, "%s: %s is stored twice (as %s and %s)", shard_label(ck, a->shard, label),
                               a->canon, a->name, b->name);
            return vt_fail(st, VT_EINPUT, "%s is stored twice: as %s in %s and as %s in %s", a->canon, a->name,
                           shard_label(ck, a->shard, "?"), b->name, shard_label(ck, b->shard, "?"));
        }
    return VT_OK;
}

int vt_safetensors_parse(vt_checkpoint *ck, const uint8_t *buf, size_t len, int shard, const char *label,
                         vt_status *st)
{
    if (len < 8)
        return vt_fail(st, VT_EINPUT, "%s: truncated: %zu bytes, shorter than the 8-byte header length", label, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > ST_MAX_HEADER)
        return vt_fail(st, VT_EINPUT, "%s: header length %llu is over the 100 MB limit", label, (unsigned long long)hlen);
    if (hlen > len - 8)
        return vt_fail(st, VT_EINPUT, "%s: header length %llu runs past the end of the file (%zu bytes)", label,
                       (unsigned long long)hlen, len);
    const char *h = (const char *)buf + 8;
    if (hlen < 2 || h[0] != '{') return vt_fail(st, VT_EINPUT, "%s: header is not a JSON object", label);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = ep && ep >= h && ep <= h + hlen ? (long)(ep - h) : -1;
        return vt_fail(st, VT_EINPUT, "%s: header is not valid JSON (error near byte %ld of %llu)", label, at,
                       (unsigned long long)hlen);
    }
    int rc = VT_OK;
    for (const char *p = end; p && p < h + hlen && rc == VT_OK; p++) /* the format pads with spaces */
        if (*p != ' ') rc = vt_fail(st, VT_EINPUT, "%s: header has bytes after its JSON object", label);
    if (rc == VT_OK && !cJSON_IsObject(root)) rc = vt_fail(st, VT_EINPUT, "%s: header is not a JSON object", label);

    int n = 0, n_meta = 0;
    const cJSON *it;
    if (rc == VT_OK) cJSON_ArrayForEach(it, root) n++;
    st_entry *e = calloc((size_t)n + 1, sizeof *e);
    if (rc == VT_OK && !e) rc = vt_fail(st, VT_ERESOURCE, "%s: out of memory for %d header entries", label, n);
    int m = 0;
    if (rc == VT_OK) {
        cJSON_ArrayForEach(it, root) {
            if (strcmp(it->string, "__metadata__") == 0) {
                if (!cJSON_IsObject(it) || ++n_meta > 1) {
                    rc = vt_fail(st, VT_EINPUT, "%s: __metadata__ %s", label,
                                 n_meta > 1 ? "appears twice" : "is not a JSON object");
                    break;
                }
                continue;
            }
            if ((rc = entry_from_json(&e[m], it, label, st))) break;
            m++;
        }
    }
    if (rc == VT_OK) {
        qsort(e, (size_t)m, sizeof *e, cmp_entry_name);
        for (int i = 1; i < m && rc == VT_OK; i++)
            if (strcmp(e[i - 1].name, e[i].name) == 0)
                rc = vt_fail(st, VT_EINPUT, "%s: duplicate tensor name %s in the header", label, e[i].name);
    }
    const uint8_t *data = buf + 8 + hlen;
    if (rc == VT_OK) rc = check_layout(e, m, (uint64_t)(len - 8 - hlen), label, st);
    if (rc == VT_OK) rc = keep_tensors(ck, e, m, data, shard, label, st);
    free(e);
    cJSON_Delete(root);
    return rc;
}

/* ================================ opening files and shards ================================ */

static const vt_st_tensor *find_canon(const vt_checkpoint *ck, const char *canon);

static int map_file(vt_st_file *f, const char *path, vt_status *st)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return vt_fail(st, VT_ERESOURCE, "%s: out of memory", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vt_fail(st, VT_EINPUT, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vt_fail(st, VT_EINPUT, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return vt_fail(st, VT_EINPUT, "%s: truncated: %lld bytes, shorter than the 8-byte header length", path,
                       (long long)sb.st_size);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return vt_fail(st, VT_ERESOURCE, "%s: cannot map %lld bytes: %s", path, (long long)sb.st_size, strerror(err));
    f->map = p;
    f->size = (size_t)sb.st_size;
    return VT_OK;
}

static int add_file(vt_checkpoint *ck, const char *path, vt_status *st)
{
    vt_st_file *f = realloc(ck->files, (size_t)(ck->n_files + 1) * sizeof *f);
    if (!f) return vt_fail(st, VT_ERESOURCE, "%s: out of memory", path);
    ck->files = f;
    int i = ck->n_files++;
    VT_TRY(map_file(&ck->files[i], path, st));
    return vt_safetensors_parse(ck, ck->files[i].map, ck->files[i].size, i, path, st);
}

/* A shard name from the index must be a plain file name beside it (never a path elsewhere). */
static int shard_name_ok(const char *s)
{
    return s[0] && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* model.safetensors.index.json: open the shards that hold vision-side or language-model tensors (in the
 * order they are first named), then check the index and the shards agree on where each kept tensor lives. */
static int open_sharded(vt_checkpoint *ck, const char *dir, const char *index_path, vt_status *st)
{
    void *buf;
    size_t len;
    VT_TRY(vt_read_file(index_path, &buf, &len, ST_MAX_HEADER, st));
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!root) return vt_fail(st, VT_EINPUT, "%s: not valid JSON", index_path);
    int rc = VT_OK;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) rc = vt_fail(st, VT_EINPUT, "%s: no \"weight_map\" object", index_path);
    const cJSON *it;
    int n_vision = 0;
    if (rc == VT_OK) {
        cJSON_ArrayForEach(it, wm) {
            if (!cJSON_IsString(it) || !shard_name_ok(it->valuestring)) {
                rc = vt_fail(st, VT_EINPUT, "%s: weight_map[\"%s\"] is not a file name beside the index", index_path,
                             it->string);
                break;
            }
            for (const cJSON *p = wm->child; p != it; p = p->next)
                if (strcmp(p->string, it->string) == 0) {
                    rc = vt_fail(st, VT_EINPUT, "%s: weight_map lists %s twice", index_path, it->string);
                    break;
                }
            if (rc) break;
            if (!is_kept_key(it->string, NULL)) continue;
            n_vision += vt_st_is_vision_key(it->string, NULL);
            int seen = 0; /* open each shard once, in order of first mention */
            for (int i = 0; i < ck->n_files && !seen; i++) {
                const char *base = strrchr(ck->files[i].path, '/');
                seen = strcmp(base ? base + 1 : ck->files[i].path, it->valuestring) == 0;
            }
            if (seen) continue;
            char path[4096];
            if ((rc = vt_path_join(path, sizeof path, dir, it->valuestring, st))) break;
            if ((rc = add_file(ck, path, st))) break;
        }
    }
    if (rc == VT_OK && n_vision == 0)
        rc = vt_fail(st, VT_EINPUT, "%s: weight_map lists no vision-side tensor (visual.*, transformer.visual.*, "
                     "vision_tower.*, multi_modal_projector.*)", index_path);
    /* the index and the shards agree: every kept key listed is in its shard, and nothing more */
    for (int i = 0; i < ck->n && rc == VT_OK; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(wm, ck->t[i].name);
        const char *p = ck->files[ck->t[i].shard].path, *base = strrchr(p, '/');
        if (!v || strcmp(v->valuestring, base ? base + 1 : p) != 0)
            rc = vt_fail(st, VT_EINPUT, "%s: %s is in %s but the index %s", index_path, ck->t[i].name, p,
                         v ? "maps it to another shard" : "does not list it");
    }
    if (rc == VT_OK) {
        cJSON_ArrayForEach(it, wm) {
            const char *canon;
            if (!is_kept_key(it->string, &canon)) continue;
            const vt_st_tensor *t = find_canon(ck, canon);
            if (!t && vt_st_is_lm_key(it->string, NULL)) continue; /* an unreadable dtype, skipped (see above) */
            if (!t || strcmp(t->name, it->string) != 0) {
                rc = vt_fail(st, VT_EINPUT, "%s: lists %s in %s, which does not hold it", index_path, it->string,
                             it->valuestring);
                break;
            }
        }
    }
    cJSON_Delete(root);
    return rc;
}

int vt_checkpoint_open(vt_checkpoint *ck, const char *dir_or_file, vt_status *st)
{
    memset(ck, 0, sizeof *ck);
    ck->path = strdup(dir_or_file);
    if (!ck->path) return vt_fail(st, VT_ERESOURCE, "out of memory");
    struct stat sb;
    int rc = VT_OK;
    char path[4096];
    if (stat(dir_or_file, &sb) != 0) {
        rc = vt_fail(st, VT_EINPUT, "%s: %s", dir_or_file, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        struct stat s2;
        if ((rc = vt_path_join(path, sizeof path, dir_or_file, ST_SINGLE_NAME, st)) == VT_OK) {
            if (stat(path, &s2) == 0) { /* as transformers does, a single file wins over an index */
                rc = add_file(ck, path, st);
            } else if ((rc = vt_path_join(path, sizeof path, dir_or_file, ST_INDEX_NAME, st)) == VT_OK) {
                if (stat(path, &s2) == 0)
                    rc = open_sharded(ck, dir_or_file, path, st);
                else
                    rc = vt_fail(st, VT_EINPUT, "%s: no %s or %s", dir_or_file, ST_SINGLE_NAME, ST_INDEX_NAME);
            }
        }
    } else {
        size_t n = strlen(dir_or_file), k = strlen(".index.json");
        if (n >= k && strcmp(dir_or_file + n - k, ".index.json") == 0) {
            const char *slash = strrchr(dir_or_file, '/');
            size_t dl = slash ? (size_t)(slash - dir_or_file) : 0;
            if (dl >= sizeof path) {
                rc = vt_fail(st, VT_EINPUT, "%s: path too long", dir_or_file);
            } else {
                memcpy(path, dir_or_file, dl);
                path[dl] = 0;
                rc = open_sharded(ck, slash ? (dl ? path : "/") : ".", dir_or_file, st);
            }
        } else {
            rc = add_file(ck, dir_or_file, st);
        }
    }
    if (rc == VT_OK && ck->n - ck->n_lm == 0)
        rc = vt_fail(st, VT_EINPUT, "%s: no vision-side tensors (visual.*, transformer.visual.*, vision_tower.*, "
                     "multi_modal_projector.*)", dir_or_file);
    if (rc) vt_checkpoint_close(ck);
    return rc;
}

void vt_checkpoint_close(vt_checkpoint *ck)
{
    for (int i = 0; i < ck->n; i++) free(ck->t[i].name);
    free(ck->t);
    for (int i = 0; i < ck->n_files; i++) {
        if (ck->files[i].map) munmap(ck->files[i].map, ck->files[i].size);
        free(ck->files[i].path);
    }
    free(ck->files);
    free(ck->path);
    memset(ck, 0, sizeof *ck);
}

/* ================================ lookup and conversion ================================ */

static const vt_st_tensor *find_canon(const vt_checkpoint *ck, const char *canon)
{
    vt_st_tensor key;
    key.canon = canon;
    if (!ck->n) return NULL;
    return bsearch(&key, ck->t, (size_t)ck->n, sizeof *ck->t, cmp_tensor_canon);
}

const vt_st_tensor *vt_checkpoint_find(const vt_checkpoint *ck, const char *name)
{
    const vt_st_tensor *t = find_canon(ck, name);
    if (!t && has_prefix(name, "model.")) t = find_canon(ck, name + 6); /* a stored name asked for as is */
    return t;
}

float vt_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16; /* bf16 is the top half of a float32 */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float vt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) { /* inf / NaN, payload kept */
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) { /* normal: rebias 15 -> 127 */
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) { /* +-0 */
        u = sign;
    } else { /* subnormal man * 2^-24: normalise (exact in float32) */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Widen n elements to float32; bytes are read little-endian explicitly (the data may be unaligned). */
static void convert_f32(const vt_st_tensor *t, float *dst, size_t n)
{
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VT_ST_F32:
        for (size_t i = 0; i < n; i++, p += 4) {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &u, 4);
        }
        break;
    case VT_ST_BF16: /* most real checkpoints: widened on every thread (exact, so the split is free) */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < (int64_t)n; i++) dst[i] = vt_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case VT_ST_F16:
        for (size_t i = 0; i < n; i++, p += 2) dst[i] = vt_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        break;
    }
}

int vt_checkpoint_expect(const vt_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                         const vt_st_tensor **out, vt_status *st)
{
    char want[160], have[160];
    vt_shape_str(want, sizeof want, ndim, shape);
    const vt_st_tensor *t = vt_checkpoint_find(ck, name);
    if (!t) /* name the file when there is one, the directory (or index) of a sharded checkpoint */
        return vt_fail(st, VT_EINPUT, "%s: weight not found: %s (config.json implies shape %s)",
                       ck->n_files == 1 ? ck->files[0].path : ck->path ? ck->path : "checkpoint", name, want);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same)
        return vt_fail(st, VT_EINPUT, "%s: %s has shape %s but config.json implies %s",
                       shard_label(ck, t->shard, ck->path ? ck->path : "checkpoint"), t->name,
                       vt_shape_str(have, sizeof have, t->ndim, t->shape), want);
    *out = t;
    return VT_OK;
}

int vt_checkpoint_read_f32(const vt_checkpoint *ck, const char *name, int ndim, const int64_t *shape, float *dst,
                           vt_status *st)
{
    const vt_st_tensor *t;
    VT_TRY(vt_checkpoint_expect(ck, name, ndim, shape, &t, st));
    convert_f32(t, dst, t->nbytes / vt_st_dtype_size(t->dtype));
    return VT_OK;
}
