/* vt_test.c -- shared test helpers (see vt_test.h). */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "diff/diff.h"
#include "format/manifest.h"
#include "io/fileio.h"

void vt_test_tmpdir(char *buf)
{
    strcpy(buf, "/tmp/vlmtrace-test-XXXXXX");
    if (!mkdtemp(buf)) fail_msg("mkdtemp failed");
}

void vt_test_rmtree(const char *dir)
{
    char cmd[4200];
    if (strncmp(dir, "/tmp/vlmtrace-test-", 19) != 0) return; /* never anything else */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) print_error("could not remove %s\n", dir);
}

void vt_test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    if (fwrite(data, 1, n, f) != n) fail_msg("cannot write %s", path);
    fclose(f);
}

int vt_test_cli(char *out, size_t cap, const char *fmt, ...)
{
    const char *bin = getenv("VLMTRACE_BIN");
    if (!bin) bin = "bin/vlmtrace";
    char args[8192], cmd[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen failed: %s", cmd);
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int status = pclose(p);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int vt_test_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

void vt_assert_tensor_close(const vt_tensor *ours, const vt_tensor *ref, const char *name, const char *file, int line)
{
    vt_cmp_opts o = {VT_DEFAULT_ATOL, VT_DEFAULT_RTOL};
    vt_cmp_result r;
    vt_compare(ours, ref, &o, &r);
    if (r.pass) return;
    char cb[160];
    if (!r.shape_ok)
        print_error("%s:%d: %s: %s\n", file, line, name, r.why);
    else
        print_error("%s:%d: %s: %lld of %lld elements out of tolerance; worst %s: ours %.9g reference %.9g "
                    "(max_abs %.3g, max_rel %.3g, cos %.7f)\n",
                    file, line, name, (long long)r.n_bad, (long long)r.numel, vt_coords_str(cb, sizeof cb, ref, r.worst),
                    r.ours_w, r.ref_w, r.max_abs, r.max_rel, r.cosine);
    _fail(file, line);
}

void vt_test_load_golden(const char *case_dir, const char *name, vt_tensor *t, void **owned)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, case_dir, &st)) fail_msg("%s", st.msg);
    const vt_manifest_entry *e = vt_manifest_find(&m, name);
    if (!e) {
        vt_manifest_free(&m);
        fail_msg("%s: no tensor %s", case_dir, name);
    }
    if (vt_manifest_load(&m, e, t, owned, &st)) {
        vt_manifest_free(&m);
        fail_msg("%s", st.msg);
    }
    vt_manifest_free(&m);
}

void vt_assert_dirs_match(const char *ours, const char *ref, const char *file, int line)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    vt_diff_opts o = vt_diff_defaults();
    vt_status st = {0};
    int rc = vt_diff(ours, ref, &o, mem, &st);
    fclose(mem);
    if (rc != 0) {
        print_error("%s:%d: diff %s %s -> %d\n%s%s\n", file, line, ours, ref, rc, text ? text : "", rc >= 2 ? st.msg : "");
        free(text);
        _fail(file, line);
    }
    free(text);
}

cJSON *vt_test_load_json(const char *dir, const char *file)
{
    char path[512];
    void *buf;
    size_t len;
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (vt_read_file(path, &buf, &len, 16 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!j) fail_msg("%s: not JSON", path);
    return j;
}

int64_t vt_test_json_int(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) fail_msg("no number '%s' in the JSON object", key);
    return (int64_t)v->valuedouble;
}
