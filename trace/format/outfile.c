/* outfile.c -- checked output files (see outfile.h). */
#include "format/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long long g_fail_after = -2; /* -2: not read yet; -1: no injected failure */
static long long g_written;

static int injected_failure(size_t n)
{
    if (g_fail_after == -2) {
        const char *e = getenv("VLMTRACE_FAIL_WRITE_AFTER");
        g_fail_after = e && *e ? atoll(e) : -1;
    }
    if (g_fail_after < 0) return 0;
    if (g_written + (long long)n > g_fail_after) return 1;
    g_written += (long long)n;
    return 0;
}

int vt_file_create(vt_file *f, const char *path, vt_status *st)
{
    if (strlen(path) >= sizeof f->path) return vt_fail(st, VT_EINPUT, "output path too long: %s", path);
    strcpy(f->path, path);
    f->fp = fopen(path, "wb");
    if (!f->fp) return vt_fail(st, VT_EINPUT, "cannot create %s: %s", path, strerror(errno));
    struct stat sb; /* only a regular file of ours is ever deleted on failure (never /dev/full, say) */
    f->regular = fstat(fileno(f->fp), &sb) == 0 && S_ISREG(sb.st_mode);
    return VT_OK;
}

int vt_file_write(vt_file *f, const void *data, size_t n, vt_status *st)
{
    if (injected_failure(n))
        return vt_fail(st, VT_ERESOURCE, "writing %s: No space left on device (injected by VLMTRACE_FAIL_WRITE_AFTER)",
                       f->path);
    if (n && fwrite(data, 1, n, f->fp) != n)
        return vt_fail(st, VT_ERESOURCE, "writing %s: %s", f->path, strerror(errno));
    return VT_OK;
}

int vt_file_commit(vt_file *f, vt_status *st)
{
    int bad = fflush(f->fp) != 0 || ferror(f->fp);
    int e = errno;
    if (fclose(f->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    f->fp = NULL;
    if (bad) {
        if (f->regular) remove(f->path);
        return vt_fail(st, VT_ERESOURCE, "writing %s: %s", f->path, strerror(e));
    }
    return VT_OK;
}

void vt_file_abort(vt_file *f)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->regular) remove(f->path);
}

int vt_mkdirs(const char *path, vt_status *st)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return vt_fail(st, VT_EINPUT, "bad output directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char saved = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return vt_fail(st, VT_EINPUT, "cannot create directory %s: %s", buf, strerror(errno));
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return vt_fail(st, VT_EINPUT, "cannot create directory %s: a file of that name exists", buf);
        buf[i] = saved;
    }
    if (access(path, W_OK) != 0) return vt_fail(st, VT_EINPUT, "cannot write into %s: %s", path, strerror(errno));
    return VT_OK;
}

int vt_write_atomic(const char *path, const void *data, size_t n, vt_status *st)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    vt_file f;
    VT_TRY(vt_file_create(&f, tmp, st));
    if (vt_file_write(&f, data, n, st)) {
        vt_file_abort(&f);
        return st->code;
    }
    VT_TRY(vt_file_commit(&f, st));
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return vt_fail(st, VT_ERESOURCE, "renaming %s to %s: %s", tmp, path, strerror(e));
    }
    return VT_OK;
}
