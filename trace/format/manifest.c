/* manifest.c -- reading and writing manifest.json with cJSON (see manifest.h). */
#include "format/manifest.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "format/npy.h"
#include "format/outfile.h"

#define MANIFEST_MAX_BYTES (64u << 20)

static char *dupstr(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int vt_glob_match(const char *glob, const char *name) { return fnmatch(glob, name, 0) == 0; }

int vt_glob_any(char *const *globs, int n, const char *name)
{
    if (n == 0) return 1;
    for (int i = 0; i < n; i++)
        if (vt_glob_match(globs[i], name)) return 1;
    return 0;
}

const char *vt_manifest_model_type(const char *label)
{
    if (!label || !*label || !strcmp(label, "preprocess") || !strcmp(label, "rope")) return NULL;
    if (!strcmp(label, "qwen-vl-visual")) return "qwen";
    if (!strcmp(label, "kimi-vl-vision")) return "kimi_vl";
    return label;
}

int vt_manifest_is_ours(const vt_manifest *m)
{
    return m->producer && !strncmp(m->producer, "vlmtrace ", 9);
}

int vt_manifest_only_keeps(const vt_manifest *m, const char *name) { return vt_glob_any(m->only, m->n_only, name); }

void vt_manifest_free(vt_manifest *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->t[i].name);
        free(m->t[i].file);
        free(m->t[i].note);
    }
    free(m->t);
    for (int i = 0; i < m->n_only; i++) free(m->only[i]);
    free(m->only);
    for (int i = 0; i < m->n_pictures; i++) free(m->pictures[i]);
    free(m->pictures);
    free(m->dir);
    free(m->model);
    free(m->producer);
    free(m->preprocessor);
    free(m->inject);
    memset(m, 0, sizeof *m);
}

int vt_manifest_add(vt_manifest *m, const char *name, const char *file, vt_dtype dt, int ndim,
                    const int64_t *shape, const char *note, vt_status *st)
{
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        vt_manifest_entry *t = realloc(m->t, (size_t)cap * sizeof *t);
        if (!t) return vt_fail(st, VT_ERESOURCE, "out of memory growing the manifest");
        m->t = t;
        m->cap = cap;
    }
    vt_manifest_entry *e = &m->t[m->n];
    memset(e, 0, sizeof *e);
    e->name = dupstr(name);
    e->file = dupstr(file);
    e->note = dupstr(note ? note : "");
    if (!e->name || !e->file || !e->note) {
        free(e->name);
        free(e->file);
        free(e->note);
        return vt_fail(st, VT_ERESOURCE, "out of memory growing the manifest");
    }
    e->dtype = dt;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    m->n++;
    return VT_OK;
}

const vt_manifest_entry *vt_manifest_find(const vt_manifest *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

/* a `file` must stay inside the trace directory */
static int safe_relpath(const char *f)
{
    if (!*f || f[0] == '/') return 0;
    for (const char *p = f; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
        p += n + (slash ? 1 : 0);
    }
    return 1;
}

static int string_list(cJSON *arr, const char *key, char ***out, int *n, vt_status *st)
{
    if (!arr) return VT_OK;
    if (!cJSON_IsArray(arr)) return vt_fail(st, VT_EINPUT, "\"%s\" is not a list", key);
    int k = cJSON_GetArraySize(arr);
    *out = calloc((size_t)(k ? k : 1), sizeof(char *));
    if (!*out) return vt_fail(st, VT_ERESOURCE, "out of memory");
    cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it)) return vt_fail(st, VT_EINPUT, "\"%s\" holds a non-string", key);
        if (!((*out)[(*n)++] = dupstr(it->valuestring))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    return VT_OK;
}

static int parse_entry(vt_manifest *m, cJSON *it, int idx, vt_status *st)
{
    if (!cJSON_IsObject(it)) return vt_fail(st, VT_EINPUT, "tensors[%d] is not an object", idx);
    cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
    cJSON *file = cJSON_GetObjectItemCaseSensitive(it, "file");
    cJSON *dtype = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
    cJSON *note = cJSON_GetObjectItemCaseSensitive(it, "note");
    if (!cJSON_IsString(name) || !*name->valuestring)
        return vt_fail(st, VT_EINPUT, "tensors[%d] has no name", idx);
    const char *nm = name->valuestring;
    if (!cJSON_IsString(file) || !safe_relpath(file->valuestring))
        return vt_fail(st, VT_EINPUT, "tensor %s: \"file\" missing or not a relative path inside the directory", nm);
    vt_dtype dt;
    if (!cJSON_IsString(dtype) || vt_dtype_parse(dtype->valuestring, &dt))
        return vt_fail(st, VT_EINPUT, "tensor %s: unknown dtype", nm);
    if (!cJSON_IsArray(shape)) return vt_fail(st, VT_EINPUT, "tensor %s: shape is not a list", nm);
    int nd = cJSON_GetArraySize(shape);
    if (nd > VT_MAX_DIMS) return vt_fail(st, VT_EINPUT, "tensor %s: shape has %d dims (at most %d)", nm, nd, VT_MAX_DIMS);
    int64_t sh[VT_MAX_DIMS];
    int k = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9e15 || d->valuedouble != (double)(int64_t)d->valuedouble)
            return vt_fail(st, VT_EINPUT, "tensor %s: shape holds something other than non-negative integers", nm);
        sh[k++] = (int64_t)d->valuedouble;
    }
    if (vt_shape_numel(nd, sh) < 0) return vt_fail(st, VT_EINPUT, "tensor %s: shape too large", nm);
    return vt_manifest_add(m, nm, file->valuestring, dt, nd, sh, cJSON_IsString(note) ? note->valuestring : "", st);
}

/* by name, then by position in the list (entries of one array, so the pointers compare) */
static int entry_cmp(const void *pa, const void *pb)
{
    const vt_manifest_entry *a = *(const vt_manifest_entry *const *)pa, *b = *(const vt_manifest_entry *const *)pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a > b) - (a < b);
}

/* Each name once. Sorted rather than looked up entry by entry: a 64 MB manifest can list about a million
 * names, and comparing each with all before it would take hours. On a duplicate, names the first entry
 * whose name came earlier in the list (what a lookup entry by entry would have reported). */
static int check_unique(const vt_manifest *m, vt_status *st)
{
    if (m->n < 2) return VT_OK;
    const vt_manifest_entry **v = malloc((size_t)m->n * sizeof *v);
    if (!v) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int i = 0; i < m->n; i++) v[i] = &m->t[i];
    qsort(v, (size_t)m->n, sizeof *v, entry_cmp);
    const vt_manifest_entry *dup = NULL;
    for (int i = 1; i < m->n; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0 && (!dup || v[i] < dup)) dup = v[i];
    int rc = dup ? vt_fail(st, VT_EINPUT, "tensor %s listed twice", dup->name) : VT_OK;
    free(v);
    return rc;
}

int vt_manifest_parse(vt_manifest *m, const char *json, size_t len, vt_status *st)
{
    memset(m, 0, sizeof *m);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON");
    int rc = VT_OK;
    if (!cJSON_IsObject(root)) {
        rc = vt_fail(st, VT_EINPUT, "not a JSON object");
        goto out;
    }
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(model) && !(m->model = dupstr(model->valuestring))) {
        rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        goto out;
    }
    cJSON *producer = cJSON_GetObjectItemCaseSensitive(root, "producer");
    if (cJSON_IsString(producer) && !(m->producer = dupstr(producer->valuestring))) {
        rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        goto out;
    }
    cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocessor_config");
    if (cJSON_IsString(pre) && !(m->preprocessor = dupstr(pre->valuestring))) {
        rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        goto out;
    }
    cJSON *inject = cJSON_GetObjectItemCaseSensitive(root, "inject");
    if (cJSON_IsString(inject) && !(m->inject = dupstr(inject->valuestring))) {
        rc = vt_fail(st, VT_ERESOURCE, "out of memory");
        goto out;
    }
    if ((rc = string_list(cJSON_GetObjectItemCaseSensitive(root, "only"), "only", &m->only, &m->n_only, st))) goto out;
    if ((rc = string_list(cJSON_GetObjectItemCaseSensitive(root, "pictures"), "pictures", &m->pictures,
                          &m->n_pictures, st)))
        goto out;
    cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!cJSON_IsArray(tensors)) {
        rc = vt_fail(st, VT_EINPUT, "no \"tensors\" list");
        goto out;
    }
    int idx = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, tensors)
    {
        if ((rc = parse_entry(m, it, idx++, st))) goto out;
    }
    rc = check_unique(m, st);
out:
    cJSON_Delete(root);
    if (rc) vt_manifest_free(m);
    return rc;
}

int vt_manifest_read(vt_manifest *m, const char *dir, vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, dir, "manifest.json", st));
    void *buf;
    size_t len;
    if (vt_read_file(path, &buf, &len, MANIFEST_MAX_BYTES, st)) {
        memset(m, 0, sizeof *m);
        return vt_fail(st, VT_EINPUT, "%s: no readable manifest.json (not a trace directory, or an incomplete trace)", dir);
    }
    int rc = vt_manifest_parse(m, buf, len, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", path);
    if (!(m->dir = dupstr(dir))) {
        vt_manifest_free(m);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    return VT_OK;
}

static cJSON *string_array(char *const *s, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

char *vt_manifest_to_json(const vt_manifest *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "model", m->model ? m->model : "");
    if (m->producer) cJSON_AddStringToObject(root, "producer", m->producer);
    if (m->preprocessor) cJSON_AddStringToObject(root, "preprocessor_config", m->preprocessor);
    if (m->inject) cJSON_AddStringToObject(root, "inject", m->inject);
    if (m->n_only) cJSON_AddItemToObject(root, "only", string_array(m->only, m->n_only));
    cJSON_AddItemToObject(root, "pictures", string_array(m->pictures, m->n_pictures));
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; ts && i < m->n; i++) {
        const vt_manifest_entry *e = &m->t[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "file", e->file);
        cJSON_AddStringToObject(o, "dtype", vt_dtype_name(e->dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        /* written as integers: cJSON prints a number through "%.15g", which rounds dimensions of 16 and
         * more digits (the reader accepts up to 9e15) */
        for (int d = 0; sh && d < e->ndim; d++) {
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)e->shape[d]);
            cJSON_AddItemToArray(sh, cJSON_CreateRaw(num));
        }
        cJSON_AddStringToObject(o, "note", e->note ? e->note : "");
        cJSON_AddItemToArray(ts, o);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

int vt_manifest_write(const vt_manifest *m, const char *dir, vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, dir, "manifest.json", st));
    char *s = vt_manifest_to_json(m);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory writing %s", path);
    size_t n = strlen(s);
    char *text = malloc(n + 1);
    if (!text) {
        cJSON_free(s);
        return vt_fail(st, VT_ERESOURCE, "out of memory writing %s", path);
    }
    memcpy(text, s, n);
    text[n] = '\n';
    cJSON_free(s);
    int rc = vt_write_atomic(path, text, n + 1, st);
    free(text);
    return rc;
}

static int check_same(const char *path, const vt_manifest_entry *e, const vt_tensor *t, vt_status *st)
{
    int same = t->dtype == e->dtype && t->ndim == e->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == e->shape[i];
    if (same) return VT_OK;
    char a[200], b[200];
    return vt_fail(st, VT_EINPUT, "%s: tensor %s is %s %s in the file but %s %s in the manifest", path, e->name,
                   vt_dtype_name(t->dtype), vt_shape_str(a, sizeof a, t->ndim, t->shape), vt_dtype_name(e->dtype),
                   vt_shape_str(b, sizeof b, e->ndim, e->shape));
}

int vt_manifest_check(const vt_manifest *m, const vt_manifest_entry *e, vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, m->dir ? m->dir : ".", e->file, st));
    vt_tensor t;
    VT_TRY(vt_npy_read_header(path, &t, st));
    return check_same(path, e, &t, st);
}

int vt_manifest_load(const vt_manifest *m, const vt_manifest_entry *e, vt_tensor *t, void **owned,
                     vt_status *st)
{
    char path[4096];
    VT_TRY(vt_path_join(path, sizeof path, m->dir ? m->dir : ".", e->file, st));
    VT_TRY(vt_npy_read(path, t, owned, st));
    if (check_same(path, e, t, st)) {
        free(*owned);
        *owned = NULL;
        return st->code;
    }
    return VT_OK;
}
