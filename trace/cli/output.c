/* output.c -- the summary line (or JSON document) of a command that writes files (see output.h). */
#include "cli/output.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int stage_open; /* a stage line is on the terminal, not ended by a newline */

void vt_output_stage(const char *what)
{
    if (!isatty(STDERR_FILENO)) return;
    if (what) fprintf(stderr, "\r%s ...\033[K", what);
    else if (stage_open) fprintf(stderr, "\r\033[K");
    stage_open = what != NULL;
    fflush(stderr);
}

void vt_output_start(vt_output *o) { o->t0 = now(); }

double vt_output_seconds(const vt_output *o) { return now() - o->t0; }

static void human_bytes(char *b, size_t n, int64_t x)
{
    if (x < 1000) snprintf(b, n, "%lld bytes", (long long)x);
    else if (x < 1000000) snprintf(b, n, "%.1f KB", (double)x / 1e3);
    else if (x < 1000000000) snprintf(b, n, "%.1f MB", (double)x / 1e6);
    else snprintf(b, n, "%.2f GB", (double)x / 1e9);
}

void vt_output_free(vt_output *o)
{
    cJSON_Delete(o->json_extra);
    o->json_extra = NULL;
}

void vt_output_done(vt_output *o, const char *cmd, const vt_written *w, int n)
{
    double sec = vt_output_seconds(o);
    vt_output_stage(NULL);
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "command", cmd);
        cJSON *arr = cJSON_AddArrayToObject(root, "written");
        for (int i = 0; arr && i < n; i++) {
            cJSON *it = cJSON_CreateObject();
            if (!it) break;
            cJSON_AddStringToObject(it, "what", w[i].what);
            cJSON_AddStringToObject(it, "path", w[i].path);
            cJSON_AddNumberToObject(it, "tensors", (double)w[i].tensors);
            cJSON_AddNumberToObject(it, "bytes", (double)w[i].bytes);
            cJSON_AddNumberToObject(it, "pictures", w[i].pictures);
            cJSON_AddItemToArray(arr, it);
        }
        cJSON_AddNumberToObject(root, "seconds", (double)(long long)(sec * 1000 + 0.5) / 1000);
        while (o->json_extra && o->json_extra->child) { /* the command's own result, after what all commands say */
            cJSON *it = cJSON_DetachItemViaPointer(o->json_extra, o->json_extra->child);
            cJSON_AddItemToObject(root, it->string, it);
        }
        char *s = cJSON_Print(root);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(root);
        vt_output_free(o);
        return;
    }
    vt_output_free(o);
    if (o->quiet) return;
    const char *sep = o->note[0] ? "; " : "";
    if (n == 0) {
        fprintf(stderr, "vlmtrace %s: %s%snothing written (no --trace or --out given); done in %.2f s\n", cmd, o->note,
                sep, sec);
        return;
    }
    fprintf(stderr, "vlmtrace %s: %s%swrote", cmd, o->note, sep);
    for (int i = 0; i < n; i++) {
        char b[32];
        human_bytes(b, sizeof b, w[i].bytes);
        fprintf(stderr, "%s %s %s (%lld tensor%s, %s", i ? "," : "", w[i].what, w[i].path, (long long)w[i].tensors,
                w[i].tensors == 1 ? "" : "s", b);
        if (w[i].pictures) fprintf(stderr, ", %d picture%s", w[i].pictures, w[i].pictures == 1 ? "" : "s");
        fprintf(stderr, ")");
    }
    fprintf(stderr, " in %.2f s\n", sec);
}

vt_written vt_written_trace(const vt_tracer *tr)
{
    vt_written w = {"trace", tr->dir, tr->m.n, vt_tracer_bytes(tr), tr->m.n_pictures};
    return w;
}

vt_written vt_written_file(const char *what, const char *path)
{
    struct stat sb;
    vt_written w = {what, path, 1, stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0, 0};
    return w;
}

int vt_output_check_only(const char *cmd, const vt_tracer *tr, vt_status *st)
{
    for (int k = 0; k < tr->m.n_only; k++) {
        char near[512];
        if (vt_tracer_only_matches(tr, k, near, sizeof near)) continue;
        if (tr->m.n == 0) break; /* the error below says it once */
        fprintf(stderr, "vlmtrace %s: warning: --only '%s' matched no tensor of this %s run%s%s%s\n", cmd,
                tr->m.only[k], tr->m.model, near[0] ? " (nearest names: " : "", near, near[0] ? ")" : "");
    }
    if (tr->m.n == 0 && tr->m.n_only) {
        char near[512];
        vt_tracer_only_matches(tr, 0, near, sizeof near);
        return vt_fail(st, VT_EINPUT, "--only '%s'%s matched no tensor of this %s run, so no trace was written%s%s%s",
                       tr->m.only[0], tr->m.n_only > 1 ? " (nor any other --only glob)" : "", tr->m.model,
                       near[0] ? " (nearest names: " : "", near, near[0] ? ")" : "");
    }
    return VT_OK;
}
