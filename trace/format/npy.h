/*
 * npy.h -- numpy .npy files (format v1.0; v2.0/3.0 headers are read too), the trace file format.
 *
 *     VT_TRY(vt_npy_write("ours/visual.patch_embed.npy", &t, st));
 *     vt_tensor t; void *owned;
 *     VT_TRY(vt_npy_read("hf/visual.patch_embed.npy", &t, &owned, st));  ...  free(owned);
 *
 * Dtypes: float32 '<f4', int32 '<i4', int64 '<i8', uint8 '|u1'; C order only. The writer pads the
 * header exactly as numpy 1.24 does, so our files are byte-identical to np.save's. The reader trusts
 * nothing: magic, version, header length, the header dictionary, descr, fortran_order (True is
 * rejected), the shape and the data size against the file size are all checked, and every error names
 * the file and the problem.
 */
#ifndef VT_NPY_H
#define VT_NPY_H

#include <stddef.h>

#include "core/tensor.h"

/* Write t to path. Cannot create: VT_EINPUT; a write that fails after starting: VT_ERESOURCE. */
int vt_npy_write(const char *path, const vt_tensor *t, vt_status *st);

/* Read path. On success *owned is a malloc'd buffer holding t's data (free it). */
int vt_npy_read(const char *path, vt_tensor *t, void **owned, vt_status *st);

/* Read and validate only the header (dtype, shape, and the data size against the file size). */
int vt_npy_read_header(const char *path, vt_tensor *t, vt_status *st);

/* Parse an in-memory .npy; on success t->data points into buf (not necessarily aligned: copy before
 * using as float/int arrays). Messages do not name a file. Used by vt_npy_read and the fuzzer. */
int vt_npy_parse(const void *buf, size_t len, vt_tensor *t, vt_status *st);

#endif
