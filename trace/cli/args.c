/* args.c -- the table-driven argument parser of every subcommand, and the small argv helpers (cli.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

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
        size_t pl = strlen(p);
        if (isspace((unsigned char)p[0]) || isspace((unsigned char)p[pl - 1])) {
            /* "a.png, b.png": the list is split at the commas alone, so the blank would be part of the name */
            int rc = vt_fail(st, VT_EINPUT, "%s '%s': item %d '%s' %s with a blank; separate the files with commas "
                             "alone (%s a.png,b.png)", flag, list, k, p,
                             isspace((unsigned char)p[0]) ? "begins" : "ends", flag);
            free(b);
            free(v);
            return rc;
        }
        v[k] = p;
        p = comma ? comma + 1 : p + strlen(p);
    }
    *buf = b;
    *items = v;
    *n = count;
    return VT_OK;
}

/* ---- vt_opts_parse ---- */

void vt_numlist_free(vt_numlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int numlist_push(vt_numlist *l, double x, vt_status *st)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        double *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return vt_fail(st, VT_ERESOURCE, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return VT_OK;
}

/* Edit distance of two short strings (the nearest known option for a typo); capped at 99. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static int unknown_option(const char *cmd, const vt_opt *opts, int n_opts, const char *arg, vt_status *st)
{
    char name[64];
    size_t len = strcspn(arg, "=");
    snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), arg);
    int best = -1, bd = 99;
    for (int k = 0; k < n_opts; k++) {
        int d = edit_distance(name, opts[k].name);
        if (d < bd) bd = d, best = k;
    }
    if (best >= 0 && bd <= 3)
        return vt_fail(st, VT_EINPUT, "unknown option %s (did you mean %s? see vlmtrace %s --help)", name,
                       opts[best].name, cmd);
    return vt_fail(st, VT_EINPUT, "unknown option %s (see vlmtrace %s --help)", name, cmd);
}

/* One value into its destination; the bounds and choices are checked here. */
static int store(const vt_opt *o, const char *v, int seen, vt_status *st)
{
    switch (o->kind) {
    case VT_OPT_STRING:
        if (o->repeat) return vt_strlist_push(o->dest, v, st);
        if (seen && strcmp(*(const char **)o->dest, v) != 0)
            return vt_fail(st, VT_EINPUT, "%s given twice ('%s', then '%s'): give it once", o->name,
                           *(const char **)o->dest, v);
        *(const char **)o->dest = v;
        return VT_OK;
    case VT_OPT_INT: {
        int64_t x;
        VT_TRY(vt_parse_int64(o->name, v, (int64_t)o->lo, (int64_t)o->hi, &x, st));
        if (seen && *(int64_t *)o->dest != x)
            return vt_fail(st, VT_EINPUT, "%s given twice (%lld, then %lld): give it once", o->name,
                           (long long)*(int64_t *)o->dest, (long long)x);
        *(int64_t *)o->dest = x;
        return VT_OK;
    }
    case VT_OPT_DOUBLE: {
        double x;
        VT_TRY(vt_parse_double(o->name, v, o->lo, o->hi, &x, st));
        if (o->repeat) return numlist_push(o->dest, x, st);
        if (seen && *(double *)o->dest != x)
            return vt_fail(st, VT_EINPUT, "%s given twice (%g, then %g): give it once", o->name, *(double *)o->dest, x);
        *(double *)o->dest = x;
        return VT_OK;
    }
    case VT_OPT_CHOICE: {
        char known[256];
        size_t len = 0;
        known[0] = 0;
        for (int c = 0; o->choices[c]; c++) {
            if (!strcmp(o->choices[c], v)) {
                if (seen && *(int *)o->dest != c)
                    return vt_fail(st, VT_EINPUT, "%s given twice ('%s', then '%s'): give it once", o->name,
                                   o->choices[*(int *)o->dest], v);
                *(int *)o->dest = c;
                return VT_OK;
            }
            int w = snprintf(known + len, sizeof known - len, "%s%s", c ? ", " : "", o->choices[c]);
            if (w > 0 && (size_t)w < sizeof known - len) len += (size_t)w;
        }
        return vt_fail(st, VT_EINPUT, "%s: '%s' is not one of %s", o->name, v, known);
    }
    case VT_OPT_FLAG: break;
    }
    VT_ASSERT(0); /* flags take no value */
    return VT_EINPUT;
}

int vt_opts_parse(const char *cmd, const vt_opt *opts, int n_opts, int argc, char **argv, vt_strlist *pos,
                  vt_status *st)
{
    char seen[64] = {0};
    VT_ASSERT(n_opts <= (int)sizeof seen);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == 0) { /* "-" alone is a positional (stdin by convention) */
            if (pos) {
                VT_TRY(vt_strlist_push(pos, arg, st));
                continue;
            }
            return vt_fail(st, VT_EINPUT, "unexpected argument '%s' (vlmtrace %s takes options only; see --help)", arg,
                           cmd);
        }
        int k = 0;
        size_t len = strcspn(arg, "=");
        for (; k < n_opts; k++)
            if (strlen(opts[k].name) == len && !strncmp(arg, opts[k].name, len)) break;
        if (k == n_opts) return unknown_option(cmd, opts, n_opts, arg, st);
        const vt_opt *o = &opts[k];
        if (o->kind == VT_OPT_FLAG) {
            if (arg[len] == '=') return vt_fail(st, VT_EINPUT, "%s takes no value (got '%s')", o->name, arg);
            *(int *)o->dest = 1;
            continue;
        }
        const char *v;
        if (arg[len] == '=') {
            v = arg + len + 1;
        } else if (i + 1 >= argc) {
            return vt_fail(st, VT_EINPUT, "%s needs a value (%s)", o->name, o->help ? o->help : "see --help");
        } else {
            v = argv[++i];
            if (v[0] == '-' && v[1] == '-')
                return vt_fail(st, VT_EINPUT, "%s needs a value (%s), got the option %s: was the value forgotten?",
                               o->name, o->help ? o->help : "see --help", v);
        }
        VT_TRY(store(o, v, seen[k], st));
        seen[k] = 1;
    }
    return VT_OK;
}
