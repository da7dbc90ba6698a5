/* tracer.c -- the file-writing tap (see tracer.h). */
#include "format/tracer.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "io/fileio.h"
#include "format/npy.h"
#include "format/outfile.h"
#include "format/version.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int vt_check_tensor_name(const char *name, vt_status *st)
{
    size_t n = strlen(name);
    if (n == 0 || n >= VT_NAME_MAX || name[0] == '.')
        return vt_fail(st, VT_EINPUT, "bad tensor name '%s'", name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return vt_fail(st, VT_EINPUT, "bad tensor name '%s' (letters, digits, '.', '_', '-' only)", name);
    }
    return VT_OK;
}

int vt_tracer_open(vt_tracer *tr, const char *dir, const char *model, char *const *only, int n_only,
                   vt_status *st)
{
    memset(tr, 0, sizeof *tr);
    if (strlen(dir) >= sizeof tr->dir - 64) return vt_fail(st, VT_EINPUT, "trace directory path too long");
    strcpy(tr->dir, dir);
    VT_TRY(vt_mkdirs(dir, st));
    /* A manifest left by an earlier run would make this one look complete if it failed halfway. */
    char path[4200];
    VT_TRY(vt_path_join(path, sizeof path, dir, "manifest.json", st));
    if (remove(path) != 0 && errno != ENOENT)
        return vt_fail(st, VT_EINPUT, "cannot remove the old %s: %s", path, strerror(errno));
    if (!(tr->m.producer = dupstr(VT_PRODUCER))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    if (!(tr->m.model = dupstr(model))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    if (n_only) {
        tr->m.only = calloc((size_t)n_only, sizeof(char *));
        if (!tr->m.only) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int i = 0; i < n_only; i++) {
            if (!(tr->m.only[i] = dupstr(only[i]))) return vt_fail(st, VT_ERESOURCE, "out of memory");
            tr->m.n_only++;
        }
    }
    return VT_OK;
}

/* Remember a name --only passed over (once; a failed allocation only makes the hint shorter). */
static void note_passed(vt_tracer *tr, const char *name)
{
    for (int i = 0; i < tr->n_passed; i++)
        if (!strcmp(tr->passed[i], name)) return;
    if (tr->n_passed == tr->cap_passed) {
        int cap = tr->cap_passed ? 2 * tr->cap_passed : 64;
        char **p = realloc(tr->passed, (size_t)cap * sizeof *p);
        if (!p) return;
        tr->passed = p;
        tr->cap_passed = cap;
    }
    if ((tr->passed[tr->n_passed] = dupstr(name)) != NULL) tr->n_passed++;
}

static int tracer_wants(void *ctx, const char *name)
{
    vt_tracer *tr = ctx;
    int keep = vt_manifest_only_keeps(&tr->m, name);
    if (!keep) note_passed(tr, name);
    return keep;
}

int64_t vt_tracer_bytes(const vt_tracer *tr)
{
    int64_t b = 0;
    for (int i = 0; i < tr->m.n; i++) {
        int64_t n = (int64_t)vt_dtype_size(tr->m.t[i].dtype);
        for (int d = 0; d < tr->m.t[i].ndim; d++) n *= tr->m.t[i].shape[d];
        b += n;
    }
    return b;
}

int vt_tracer_only_matches(const vt_tracer *tr, int k, char *near, size_t n)
{
    const char *g = tr->m.only[k];
    int hits = 0;
    for (int i = 0; i < tr->m.n; i++) hits += vt_glob_match(g, tr->m.t[i].name);
    near[0] = 0;
    if (hits) return hits;
    size_t lit = strcspn(g, "*?[");
    size_t best = 0; /* the longest common prefix any offered name has with the glob's literal start */
    for (int i = 0; i < tr->n_passed; i++) {
        size_t c = 0;
        while (c < lit && tr->passed[i][c] == g[c]) c++;
        if (c > best) best = c;
    }
    size_t len = 0;
    for (int i = 0, shown = 0; i < tr->n_passed && shown < 3; i++) {
        if (strncmp(tr->passed[i], g, best) != 0) continue;
        int w = snprintf(near + len, n - len, "%s%s", shown ? ", " : "", tr->passed[i]);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
        shown++;
    }
    return 0;
}

static int tracer_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    vt_tracer *tr = ctx;
    if (!vt_manifest_only_keeps(&tr->m, name)) return VT_OK;
    VT_TRY(vt_check_tensor_name(name, st));
    VT_ASSERT(vt_manifest_find(&tr->m, name) == NULL); /* a stage emitted the same name twice */
    char file[VT_NAME_MAX + 8], path[4400];
    snprintf(file, sizeof file, "%s.npy", name);
    VT_TRY(vt_path_join(path, sizeof path, tr->dir, file, st));
    if (vt_npy_write(path, t, st)) return vt_wrap(st, "tensor %s: ", name);
    return vt_manifest_add(&tr->m, name, file, t->dtype, t->ndim, t->shape, "", st);
}

static void tracer_progress(void *ctx, const char *what, int i, int n)
{
    vt_tracer *tr = ctx;
    if (!tr->verbose_progress) return;
    fprintf(stderr, "\r%s %d/%d\033[K%s", what, i + 1, n, i + 1 == n ? "\n" : "");
    fflush(stderr);
}

vt_tap vt_tracer_tap(vt_tracer *tr)
{
    vt_tap tap = {tracer_emit, tracer_wants, tracer_progress, tr};
    return tap;
}

int vt_tracer_add_picture(vt_tracer *tr, const char *file, vt_status *st)
{
    char **p = realloc(tr->m.pictures, (size_t)(tr->m.n_pictures + 1) * sizeof(char *));
    if (!p) return vt_fail(st, VT_ERESOURCE, "out of memory");
    tr->m.pictures = p;
    if (!(p[tr->m.n_pictures] = dupstr(file))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    tr->m.n_pictures++;
    return VT_OK;
}

int vt_tracer_set_inject(vt_tracer *tr, const char *bug, vt_status *st)
{
    free(tr->m.inject);
    if (!(tr->m.inject = dupstr(bug))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    return VT_OK;
}

int vt_tracer_set_preprocessor(vt_tracer *tr, const char *note, vt_status *st)
{
    free(tr->m.preprocessor);
    if (!(tr->m.preprocessor = dupstr(note))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    return VT_OK;
}

int vt_tracer_finish(vt_tracer *tr, vt_status *st) { return vt_manifest_write(&tr->m, tr->dir, st); }

void vt_tracer_close(vt_tracer *tr)
{
    vt_manifest_free(&tr->m);
    for (int i = 0; i < tr->n_passed; i++) free(tr->passed[i]);
    free(tr->passed);
    tr->passed = NULL;
    tr->n_passed = tr->cap_passed = 0;
}
