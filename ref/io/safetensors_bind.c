/*
 * safetensors_bind.c -- the two-pass weight binder of safetensors.h: pass 1 checks every tensor a model
 * asks for (present, shape as config.json implies) and counts, one allocation, pass 2 loads each tensor
 * into its 64-byte aligned slot of that buffer: as float32 (vt_wbind_f32), or, for a matrix stored as BF16
 * (vt_wbind_mat), as the stored BF16 values, which the matrix kernel widens while packing (gemm.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/safetensors.h"

#define WB_ALIGN 16 /* floats: every tensor starts on a 64-byte boundary */

void vt_wbind_init(vt_wbind *b, const vt_checkpoint *ck)
{
    memset(b, 0, sizeof *b);
    b->ck = ck;
    b->pass = 1;
}

int vt_wbind_ok(const vt_wbind *b) { return b->err == 0; }

/* Once a tensor is widened into the float32 buffer, drop its stored bytes' pages from this process. The
 * mapping is read-only and file-backed, so a later read faults them back in from the page cache; without
 * this the peak RSS of a load is the float32 weights plus the whole checkpoint (1.5x for BF16, 2x for F32).
 * A checkpoint parsed from memory (no file mapping) is left alone: there MADV_DONTNEED would zero it. */
static void release_stored(const vt_checkpoint *ck, const vt_st_tensor *t)
{
    if (!ck->files || t->shard < 0 || t->shard >= ck->n_files || !ck->files[t->shard].map) return;
    const vt_st_file *f = &ck->files[t->shard];
    const uintptr_t base = (uintptr_t)f->map, page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)t->data, hi = lo + t->nbytes;
    VT_ASSERT(lo >= base && hi <= base + f->size);
    lo = (lo + page - 1) / page * page; /* whole pages inside the tensor only: neighbours keep theirs */
    hi = hi / page * page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failing changes nothing */
}

/* Both binders: the tensor `name`, checked (pass 1) or loaded into its slot (pass 2). keep16 asks for a
 * BF16 tensor's stored bytes rather than float32; *is16 says which one the slot holds. */
static void *bind_one(vt_wbind *b, vt_status *st, int ndim, const int64_t *shape, int keep16, int *is16,
                      const char *fmt, va_list ap)
{
    *is16 = 0;
    if (b->err) return NULL; /* keep the first error's message */
    char name[512];
    int len = vsnprintf(name, sizeof name, fmt, ap);
    VT_ASSERT(len > 0 && (size_t)len < sizeof name);
    const vt_st_tensor *t;
    int rc = vt_checkpoint_expect(b->ck, name, ndim, shape, &t, st);
    if (rc) {
        b->err = rc;
        return NULL;
    }
    const size_t n = t->nbytes / vt_st_dtype_size(t->dtype);
    *is16 = keep16 && t->dtype == VT_ST_BF16 && !b->ck->widen_bf16;
    /* a BF16 matrix [N, K] (K = everything after the first dimension) in the kernel's panel order (gemm.h):
     * N rounded up to whole panels of 32 rows, two values per float of the buffer */
    const int64_t N = ndim > 0 ? shape[0] : 1, K = N > 0 ? (int64_t)n / N : 0;
    const size_t floats = *is16 ? ((size_t)VT_GEMM_PANELS_BF16(N, K) + 1) / 2 : n;
    const size_t slot = (floats + WB_ALIGN - 1) / WB_ALIGN * WB_ALIGN;
    if (b->pass == 1) {
        if (b->used > SIZE_MAX / 8 - slot) {
            b->err = vt_fail(st, VT_EINPUT, "%s: the weights are too large", name);
            return NULL;
        }
        b->used += slot;
        return NULL;
    }
    VT_ASSERT(b->used + slot <= b->cap); /* pass 2 must ask for what pass 1 counted */
    float *dst = b->buf + b->used;
    if (*is16) {
        /* the stored values as they are (little-endian uint16 in the file), rearranged once into panels:
         * row r, column k goes to [r / 32][k][r % 32], rows past N zero */
        uint16_t *d16 = (uint16_t *)dst;
        const uint8_t *p = t->data;
        const int64_t panels = (N + VT_GEMM_NR - 1) / VT_GEMM_NR;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t q = 0; q < panels; q++) {
            const int64_t nr = N - q * VT_GEMM_NR < VT_GEMM_NR ? N - q * VT_GEMM_NR : VT_GEMM_NR;
            const uint8_t *rows = p + 2 * q * VT_GEMM_NR * K;
            uint16_t *panel = d16 + q * K * VT_GEMM_NR;
            /* k outer: each k writes one contiguous 64-byte line and reads the next value of 32 row streams */
            for (int64_t k = 0; k < K; k++) {
                uint16_t *line = panel + k * VT_GEMM_NR;
                for (int64_t c = 0; c < nr; c++) {
                    const uint8_t *v = rows + 2 * (c * K + k);
                    line[c] = (uint16_t)(v[0] | v[1] << 8);
                }
                for (int64_t c = nr; c < VT_GEMM_NR; c++) line[c] = 0;
            }
        }
    } else if ((rc = vt_checkpoint_read_f32(b->ck, name, ndim, shape, dst, st))) {
        b->err = rc;
        return NULL;
    }
    release_stored(b->ck, t);
    b->used += slot;
    return dst;
}

float *vt_wbind_f32(vt_wbind *b, vt_status *st, int ndim, const int64_t *shape, const char *fmt, ...)
{
    int is16;
    va_list ap;
    va_start(ap, fmt);
    float *p = bind_one(b, st, ndim, shape, 0, &is16, fmt, ap);
    va_end(ap);
    return p;
}

vt_mat vt_wbind_mat(vt_wbind *b, vt_status *st, int ndim, const int64_t *shape, const char *fmt, ...)
{
    int is16;
    va_list ap;
    va_start(ap, fmt);
    void *p = bind_one(b, st, ndim, shape, 1, &is16, fmt, ap);
    va_end(ap);
    vt_mat m = {is16 ? NULL : (const float *)p, is16 ? (const uint16_t *)p : NULL};
    return m;
}

/* The one weight buffer. Decoding a token streams every weight of the language model once (3.1 GB for
 * Qwen2-VL-2B): in 4 KB pages that is 750,000 TLB misses a token, and loading faults in as many pages. A
 * large buffer is therefore aligned to 2 MB and offered to the kernel for transparent huge pages
 * (MADV_HUGEPAGE: Linux, where THP is "madvise"). Advice only: where it is refused or unknown, nothing
 * changes but the speed (docs/performance.md, "Decoding"). */
#define HUGE_PAGE ((size_t)2 << 20)

static void *alloc_weights(size_t bytes)
{
    if (bytes < 4 * HUGE_PAGE) return aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; /* aligned_alloc: a multiple of the alignment */
    void *p = aligned_alloc(HUGE_PAGE, bytes);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

int vt_wbind_alloc(vt_wbind *b, vt_status *st)
{
    if (b->err) return b->err;
    VT_ASSERT(b->pass == 1);
    size_t bytes = (b->used ? b->used : WB_ALIGN) * sizeof(float);
    b->buf = alloc_weights(bytes);
    if (!b->buf) {
        b->err = vt_fail(st, VT_ERESOURCE, "%s: out of memory for %.1f MB of weights",
                         b->ck->path ? b->ck->path : "checkpoint", (double)bytes / 1048576.0);
        return b->err;
    }
    b->cap = b->used;
    b->used = 0;
    b->pass = 2;
    return VT_OK;
}

float *vt_wbind_take(vt_wbind *b)
{
    VT_ASSERT(b->err || (b->pass == 2 && b->used == b->cap)); /* both passes bound the same tensors */
    float *p = b->buf;
    b->buf = NULL;
    return p;
}

void vt_wbind_free(vt_wbind *b)
{
    free(b->buf);
    b->buf = NULL;
}
