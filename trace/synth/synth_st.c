/*
 * synth_st.c -- writing safetensors checkpoints the way the hubs publish them (synth.h).
 *
 * One file is
 *     [8 bytes: N, little-endian u64] [N bytes: JSON header, space-padded so N % 8 == 0] [tensor data]
 * with the header {"__metadata__": {"format": "pt", ...}, "<name>": {"dtype": "BF16", "shape": [...],
 * "data_offsets": [begin, end]}, ...}: offsets relative to the data, contiguous, in the order the tensors
 * are stored, the last ending at the end of the file. The padding is what the format recommends (the
 * safetensors library pads with spaces to 8 bytes, so every tensor of up to 8-byte elements starts
 * aligned in a mapping); "format": "pt" is what transformers checks before loading a file.
 *
 * Sharded checkpoints are model-00001-of-0000n.safetensors ... and model.safetensors.index.json,
 * {"metadata": {"total_size": <bytes of tensor data>}, "weight_map": {"<name>": "<file>", ...}}, with
 * the keys sorted and two-space indentation, as transformers' save_pretrained writes it (json.dumps(...,
 * indent=2, sort_keys=True)).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fileio.h"
#include "format/outfile.h"
#include "synth/synth.h"

#define CHUNK ((size_t)1 << 20) /* elements generated and written at a time */

/* ================================ a growing text buffer ================================ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) VT_PRINTF(2, 3);

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        VT_ASSERT(k >= 0);
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

/* ================================ the shard plan ================================ */

static uint64_t tensor_bytes(const vt_weight_spec *t, vt_st_dtype dt)
{
    uint64_t n = vt_st_dtype_size(dt);
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

int vt_stw_plan(const vt_weight_spec *t, int n, vt_st_dtype dtype, uint64_t shard_bytes, int *shard_of)
{
    int shard = 0;
    uint64_t used = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = tensor_bytes(&t[i], dtype);
        if (shard_bytes && used > 0 && used + b > shard_bytes) { /* full: start the next shard */
            shard++;
            used = 0;
        }
        shard_of[i] = shard;
        used += b;
    }
    return shard + 1;
}

/* ================================ one file ================================ */

static void file_name(char *out, size_t cap, int shard, int n_shards)
{
    if (n_shards == 1) snprintf(out, cap, "model.safetensors");
    else snprintf(out, cap, "model-%05d-of-%05d.safetensors", shard + 1, n_shards);
}

/* The header of one shard: its tensors, offsets from 0, padded with spaces to a multiple of 8. */
static int shard_header(sbuf *h, const vt_stw_opts *o, const int *shard_of, int shard, vt_status *st)
{
    sb_printf(h, "{\"__metadata__\":{");
    for (int m = 0; m < o->n_meta; m++) {
        sb_printf(h, m ? "," : "");
        sb_json_str(h, o->meta[2 * m]);
        sb_printf(h, ":");
        sb_json_str(h, o->meta[2 * m + 1]);
    }
    sb_printf(h, "}");
    uint64_t at = 0;
    for (int i = 0; i < o->n; i++) {
        if (shard_of[i] != shard) continue;
        uint64_t b = tensor_bytes(&o->t[i], o->dtype);
        sb_printf(h, ",");
        sb_json_str(h, o->t[i].name);
        sb_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", vt_st_dtype_name(o->dtype));
        for (int d = 0; d < o->t[i].ndim; d++) sb_printf(h, "%s%" PRId64, d ? "," : "", o->t[i].shape[d]);
        sb_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", at, at + b);
        at += b;
    }
    sb_printf(h, "}");
    while (!h->oom && h->n % 8) sb_printf(h, " ");
    if (h->oom) return vt_fail(st, VT_ERESOURCE, "out of memory for a safetensors header");
    return VT_OK;
}

/* Tensor i's values, chunk by chunk, converted to the file's dtype and stored little-endian whatever the
 * host's byte order (the format says little-endian). */
static int write_tensor(vt_file *f, const vt_stw_opts *o, int i, float *buf, uint8_t *bytes, vt_status *st)
{
    size_t numel = 1;
    for (int d = 0; d < o->t[i].ndim; d++) numel *= (size_t)o->t[i].shape[d];
    const size_t es = vt_st_dtype_size(o->dtype);
    for (size_t at = 0; at < numel; at += CHUNK) {
        size_t n = numel - at < CHUNK ? numel - at : CHUNK;
        VT_TRY(o->fill(o->ctx, i, buf, at, n, st));
        for (size_t k = 0; k < n; k++) {
            uint32_t u;
            if (o->dtype == VT_ST_BF16) {
                u = vt_f32_to_bf16(buf[k]);
            } else {
                memcpy(&u, &buf[k], sizeof u);
            }
            for (size_t b = 0; b < es; b++) bytes[k * es + b] = (uint8_t)(u >> (8 * b));
        }
        VT_TRY(vt_file_write(f, bytes, n * es, st));
    }
    return VT_OK;
}

/* dir/name through dir/name.tmp.PID and a rename once complete. */
static int write_shard(const vt_stw_opts *o, const int *shard_of, int shard, int n_shards, float *buf,
                       uint8_t *bytes, vt_status *st)
{
    char name[64], path[4200], tmp[4300];
    file_name(name, sizeof name, shard, n_shards);
    VT_TRY(vt_path_join(path, sizeof path, o->dir, name, st));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());

    sbuf h = {0};
    int rc = shard_header(&h, o, shard_of, shard, st);
    vt_file f;
    if (rc == VT_OK) rc = vt_file_create(&f, tmp, st);
    if (rc) {
        free(h.p);
        return rc;
    }
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)h.n >> (8 * k));
    rc = vt_file_write(&f, len8, sizeof len8, st);
    if (rc == VT_OK) rc = vt_file_write(&f, h.p, h.n, st);
    free(h.p);
    for (int i = 0; i < o->n && rc == VT_OK; i++)
        if (shard_of[i] == shard) rc = write_tensor(&f, o, i, buf, bytes, st);
    if (rc) {
        vt_file_abort(&f);
        return rc;
    }
    VT_TRY(vt_file_commit(&f, st));
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return vt_fail(st, VT_ERESOURCE, "renaming %s to %s failed", tmp, path);
    }
    return VT_OK;
}

/* ================================ the index ================================ */

typedef struct name_file {
    const char *name;
    int shard;
} name_file;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const name_file *)a)->name, ((const name_file *)b)->name);
}

static int write_index(const vt_stw_opts *o, const int *shard_of, int n_shards, vt_status *st)
{
    name_file *v = malloc((size_t)o->n * sizeof *v);
    if (!v) return vt_fail(st, VT_ERESOURCE, "out of memory for the shard index");
    uint64_t total = 0;
    for (int i = 0; i < o->n; i++) {
        v[i].name = o->t[i].name;
        v[i].shard = shard_of[i];
        total += tensor_bytes(&o->t[i], o->dtype);
    }
    qsort(v, (size_t)o->n, sizeof *v, cmp_name);
    sbuf j = {0};
    sb_printf(&j, "{\n  \"metadata\": {\n    \"total_size\": %" PRIu64 "\n  },\n  \"weight_map\": {\n", total);
    for (int i = 0; i < o->n; i++) {
        char file[64];
        file_name(file, sizeof file, v[i].shard, n_shards);
        sb_printf(&j, "    ");
        sb_json_str(&j, v[i].name);
        sb_printf(&j, ": \"%s\"%s\n", file, i + 1 < o->n ? "," : "");
    }
    sb_printf(&j, "  }\n}\n");
    free(v);
    if (j.oom) {
        free(j.p);
        return vt_fail(st, VT_ERESOURCE, "out of memory for the shard index");
    }
    char path[4200];
    int rc = vt_path_join(path, sizeof path, o->dir, "model.safetensors.index.json", st);
    if (rc == VT_OK) rc = vt_write_atomic(path, j.p, j.n, st);
    free(j.p);
    return rc;
}

/* ================================ the checkpoint ================================ */

static void remove_written(const vt_stw_opts *o, int upto, int n_shards)
{
    for (int s = 0; s < upto; s++) {
        char name[64], path[4200];
        vt_status ignore;
        file_name(name, sizeof name, s, n_shards);
        if (vt_path_join(path, sizeof path, o->dir, name, &ignore) == VT_OK) remove(path);
    }
}

int vt_stw_write(const vt_stw_opts *o, int *n_files, vt_status *st)
{
    VT_ASSERT(o->dtype == VT_ST_F32 || o->dtype == VT_ST_BF16);
    int *shard_of = malloc((size_t)(o->n ? o->n : 1) * sizeof *shard_of);
    float *buf = malloc(CHUNK * sizeof *buf);
    uint8_t *bytes = malloc(CHUNK * vt_st_dtype_size(o->dtype));
    int rc = VT_OK;
    if (!shard_of || !buf || !bytes) rc = vt_fail(st, VT_ERESOURCE, "out of memory for the safetensors writer");
    int n_shards = rc ? 0 : vt_stw_plan(o->t, o->n, o->dtype, o->shard_bytes, shard_of);
    int done = 0;
    for (; done < n_shards && rc == VT_OK; done++) rc = write_shard(o, shard_of, done, n_shards, buf, bytes, st);
    if (rc == VT_OK && n_shards > 1) rc = write_index(o, shard_of, n_shards, st);
    if (rc) remove_written(o, done, n_shards); /* a failed shard removed its own temporary file */
    if (n_files) *n_files = rc ? 0 : n_shards;
    free(shard_of);
    free(buf);
    free(bytes);
    return rc;
}
