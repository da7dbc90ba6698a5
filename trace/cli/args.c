/* args.c -- argv helpers for the subcommands (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int vt_arg_flag(vt_args *a, const char *name) { return strcmp(a->argv[a->i], name) == 0; }

int vt_arg_value(vt_args *a, const char *name, const char **val, vt_status *st)
{
    const char *arg = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return 0;
    if (arg[n] == '=') {
        *val = arg + n + 1;
        return 1;
    }
    if (arg[n] != 0) return 0;
    if (a->i + 1 >= a->argc) {
        vt_fail(st, VT_EINPUT, "%s needs a value", name);
        return -1;
    }
    *val = a->argv[++a->i];
    return 1;
}

int vt_parse_double(const char *flag, const char *s, double lo, double hi, double *out, vt_status *st)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return vt_fail(st, VT_EINPUT, "%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
    *out = v;
    return VT_OK;
}

int vt_parse_int64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out, vt_status *st)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return vt_fail(st, VT_EINPUT, "%s: '%s' is not an integer in [%lld, %lld]", flag, s, (long long)lo,
                       (long long)hi);
    *out = v;
    return VT_OK;
}

int vt_strlist_push(vt_strlist *l, const char *s, vt_status *st)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return vt_fail(st, VT_ERESOURCE, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (char *)s;
    return VT_OK;
}

void vt_strlist_free(vt_strlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int vt_split_list(const char *flag, const char *list, char **buf, char ***items, int *n, vt_status *st)
{
    *buf = NULL;
    *items = NULL;
    *n = 0;
    size_t len = strlen(list);
    int count = 1;
    for (size_t i = 0; i < len; i++) count += list[i] == ',';
    char *b = malloc(len + 1);
    char **v = malloc((size_t)count * sizeof *v);
    if (!b || !v) {
        free(b);
        free(v);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    memcpy(b, list, len + 1);
    char *p = b;
    for (int k = 0; k < count; k++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p) {
            free(b);
            free(v);
            return vt_fail(st, VT_EINPUT, "%s '%s': item %d is an empty name", flag, list, k);
        }
        v[k] = p;
        p = comma ? comma + 1 : p + strlen(p);
    }
    *buf = b;
    *items = v;
    *n = count;
    return VT_OK;
}
