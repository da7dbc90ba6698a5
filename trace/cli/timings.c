/* timings.c -- `vlmtrace run --timings` (timings.h). */
#include "cli/timings.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void vt_timings_start(vt_timings *t)
{
    memset(t, 0, sizeof *t);
    t->t0 = t->last = now_s();
}

static void charge(vt_timings *t, const char *group, double s)
{
    int i = 0;
    while (i < t->n && strcmp(t->g[i].name, group) != 0) i++;
    if (i == t->n) {
        if (t->n == VT_TIMINGS_MAX_GROUPS) i = t->n - 1; /* the last slot takes the overflow */
        else snprintf(t->g[t->n++].name, sizeof t->g[0].name, "%s", group);
    }
    t->g[i].s += s;
}

void vt_timings_mark(vt_timings *t, const char *group)
{
    double now = now_s();
    charge(t, group, now - t->last);
    t->last = now;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

void vt_timings_group(char *out, size_t cap, const char *name)
{
    /* walk the dot-separated components: digits become '*'; stop one component after the first '*' that
     * sits past the second component (a block index), or after three components */
    size_t w = 0;
    int comp = 0, stop_at = 3;
    for (const char *p = name; *p && comp < stop_at;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        const int idx = all_digits(p, n);
        if (idx && comp >= 2 && stop_at == 3) stop_at = comp + 2;
        if (idx && comp < 2) stop_at = comp + 1; /* image.0.rgb -> image.* */
        if (w && w + 1 < cap) out[w++] = '.';
        for (size_t i = 0; i < (idx ? 1 : n) && w + 1 < cap; i++) out[w++] = idx ? '*' : p[i];
        comp++;
        p = dot ? dot + 1 : p + n;
    }
    out[w < cap ? w : cap - 1] = 0;
}

static void event(vt_timings *t, const char *name)
{
    char group[96];
    if (t->events++ == 0) snprintf(group, sizeof group, "load (config, weights, inputs)");
    else vt_timings_group(group, sizeof group, name);
    vt_timings_mark(t, group);
}

static int timed_wants(void *ctx, const char *name)
{
    vt_timings *t = ctx;
    event(t, name);
    return vt_tap_wants(&t->inner, name); /* vt_tap_emit asks this first, so untraced names are timed too */
}

static int timed_emit(void *ctx, const char *name, const vt_tensor *x, vt_status *st)
{
    vt_timings *t = ctx;
    event(t, name);
    int rc = vt_tap_emit(&t->inner, name, x, st);
    double now = now_s();
    t->write_s += now - t->last;
    t->last = now;
    return rc;
}

static void timed_progress(void *ctx, const char *what, int i, int n)
{
    vt_timings *t = ctx;
    vt_tap_progress(&t->inner, what, i, n);
}

vt_tap vt_timings_tap(vt_timings *t, vt_tap inner)
{
    t->inner = inner;
    vt_tap tap = {timed_emit, timed_wants, timed_progress, t};
    return tap;
}

void vt_timings_print(const vt_timings *t, FILE *f, int threads)
{
    double total = now_s() - t->t0;
    fprintf(f, "timings: %d thread(s), wall-clock seconds; the time between two tensors is charged to the later one's group\n",
            threads);
    for (int i = 0; i < t->n; i++) fprintf(f, "  %-40s %9.3f\n", t->g[i].name, t->g[i].s);
    fprintf(f, "  %-40s %9.3f\n", "trace writing", t->write_s);
    fprintf(f, "  %-40s %9.3f\n", "total", total);
}
