/* fileio.c -- whole-file reads (see fileio.h). */
#include "io/fileio.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int vt_read_file(const char *path, void **buf, size_t *len, size_t max_bytes, vt_status *st)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(st, VT_EINPUT, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vt_fail(st, VT_EINPUT, "%s: not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > max_bytes) {
        fclose(f);
        return vt_fail(st, VT_EINPUT, "%s: file of %lld bytes is larger than the %zu allowed", path,
                       (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *p = malloc(n + 1);
    if (!p) {
        fclose(f);
        return vt_fail(st, VT_ERESOURCE, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(p, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(p);
        return vt_fail(st, VT_EINPUT, "%s: read error (%zu of %zu bytes)", path, got, n);
    }
    p[n] = 0;
    *buf = p;
    *len = n;
    return VT_OK;
}

int vt_path_join(char *out, size_t cap, const char *dir, const char *name, vt_status *st)
{
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] != '/';
    int n = snprintf(out, cap, "%s%s%s", dir, slash ? "/" : "", name);
    if (n < 0 || (size_t)n >= cap) return vt_fail(st, VT_EINPUT, "path too long: %s/%s", dir, name);
    return VT_OK;
}
