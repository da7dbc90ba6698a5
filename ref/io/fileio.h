/*
 * fileio.h -- reading whole files, with errors that name the file.
 *
 *     void *buf; size_t len;
 *     VT_TRY(vt_read_file("config.json", &buf, &len, 64 << 20, st));   ...   free(buf);
 *
 * The buffer is NUL-terminated (one byte past len) so text parsers can use it directly.
 */
#ifndef VT_FILEIO_H
#define VT_FILEIO_H

#include <stddef.h>

#include "core/status.h"

/* Read a regular file of at most max_bytes. Missing, unreadable, a directory or too large: VT_EINPUT. */
int vt_read_file(const char *path, void **buf, size_t *len, size_t max_bytes, vt_status *st);

/* Join dir and name into out ("dir/name"); VT_EINPUT if it does not fit. */
int vt_path_join(char *out, size_t cap, const char *dir, const char *name, vt_status *st);

#endif
