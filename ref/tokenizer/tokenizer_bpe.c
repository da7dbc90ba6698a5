/*
 * tokenizer_bpe.c -- the BPE model: one pre-token piece (its bytes) -> ids, by merging the adjacent pair of
 * lowest merge rank, leftmost first, until no adjacent pair has a merge; and the word cache in front of it.
 *
 * Legend: n the bytes of the piece (= its symbols at the start: every byte is a symbol, since the byte-level
 * alphabet spells each byte with one character), m the symbols left.
 *
 * Three paths give the same ids (test_tokenizer_load.c checks them against each other):
 *   scan     short pieces: the symbols in an array with the rank of each adjacent pair beside them; each
 *            merge scans for the lowest rank and updates its two neighbouring pairs. O(n^2), tiny constants.
 *   heap     long pieces, any merges list: the symbols in a linked list, the pairs in a binary min-heap keyed
 *            (rank, position), stale entries dropped when popped -- the algorithm of HF tokenizers'
 *            Word::merge_all. O(n log n) time, O(n) memory (12 bytes per byte, 8 per heap entry, <= 3n).
 *   buckets  long pieces when the merges are in training order (tok->monotone, true for Qwen): a merge of
 *            rank r only makes pairs of higher rank, so the pairs can be taken rank by rank, each rank's
 *            pairs left to right: one list of positions per rank, the pending ranks in a small heap.
 *            The same order as the heap path, in about O(n) for the long runs that make pieces long
 *            (10 MB of spaces: 0.2 s instead of 3 s).
 * The reference (HF tokenizers, and transformers.js, whose BPE also uses a priority queue over a linked list)
 * merges a piece of any length whole, without cutting it into chunks; so does this code. Only the word
 * cache is bounded: pieces shorter than 256 bytes are remembered, up to 16,384 of them (both references
 * cache only words shorter than 256 characters; transformers.js keeps at most 10,000).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

#define NO_RANK INT32_MAX
#define SCAN_MAX 128 /* pieces up to this many bytes take the scan path */

/* ---------------------------------------------------------------- scratch */

int vt_tok_bpe_reserve(vt_tokenizer *tok, size_t n, vt_status *st)
{
    if (n <= tok->bpe_cap) return VT_OK;
    if (n >= (size_t)INT32_MAX / 3) return vt_fail(st, VT_EINPUT, "a pre-token piece of %zu bytes is too long", n);
    size_t c = n < 1024 ? 1024 : n;
    int32_t *a = realloc(tok->bpe_sym, c * sizeof *a);
    if (a) tok->bpe_sym = a;
    int32_t *b = a ? realloc(tok->bpe_next, c * sizeof *b) : NULL;
    if (b) tok->bpe_next = b;
    int32_t *p = b ? realloc(tok->bpe_prev, c * sizeof *p) : NULL;
    if (p) tok->bpe_prev = p;
    if (!a || !b || !p) return vt_fail(st, VT_ERESOURCE, "out of memory (BPE of a %zu-byte piece)", n);
    tok->bpe_cap = c;
    return VT_OK;
}

/* ---------------------------------------------------------------- scan path */

/* mirrors BPE.merge_word for a short piece: w [n] bytes -> out [m] ids, m <= n */
static size_t bpe_scan(const vt_tokenizer *tok, const unsigned char *w, size_t n, int32_t *out)
{
    int32_t sym[SCAN_MAX], rank[SCAN_MAX], merged[SCAN_MAX]; /* pair i = (sym[i], sym[i+1]) */
    size_t m = n;
    for (size_t i = 0; i < n; i++) sym[i] = tok->byte_id[w[i]];
    for (size_t i = 0; i + 1 < m; i++) {
        const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[i + 1]);
        rank[i] = g ? g->rank : NO_RANK;
        merged[i] = g ? g->merged : -1;
    }
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i; /* strict: the leftmost of equal ranks */
        if (rank[best] == NO_RANK) break;
        sym[best] = merged[best];
        /* drop symbol best+1 and pair best+1 ... shift left by one */
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        if (best + 3 <= m) { /* pairs best+2 .. m-2 become best+1 .. m-3 */
            memmove(rank + best + 1, rank + best + 2, (m - best - 3) * sizeof *rank);
            memmove(merged + best + 1, merged + best + 2, (m - best - 3) * sizeof *merged);
        }
        m--;
        /* the two pairs that now touch the new symbol */
        for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < m; i++) {
            const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[i + 1]);
            rank[i] = g ? g->rank : NO_RANK;
            merged[i] = g ? g->merged : -1;
        }
    }
    memcpy(out, sym, m * sizeof *sym);
    return m;
}

/* ---------------------------------------------------------------- heap path */

static void heap_push(uint64_t *h, size_t *n, uint64_t key)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= key) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = key;
}

static void heap_sift_down(uint64_t *h, size_t n, size_t i)
{
    uint64_t key = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= key) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = key;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0];
    h[0] = h[--*n];
    if (*n) heap_sift_down(h, *n, 0);
    return top;
}

/* mirrors Word::merge_all (HF tokenizers) for a piece of any length: w [n] bytes -> out [m] ids. Symbols are
 * a linked list over positions 0..n-1 (a merged-away symbol gets id -1); heap keys are rank << 32 | position
 * of the pair's left symbol, so equal ranks pop leftmost first. */
static int bpe_heap(vt_tokenizer *tok, const unsigned char *w, size_t n, int32_t *out, size_t *m_out, vt_status *st)
{
    VT_TRY(vt_tok_bpe_reserve(tok, n, st));
    if (3 * n > tok->heap_cap) {
        uint64_t *h = realloc(tok->bpe_heap, 3 * n * sizeof *h);
        if (!h) return vt_fail(st, VT_ERESOURCE, "out of memory (BPE of a %zu-byte piece)", n);
        tok->bpe_heap = h;
        tok->heap_cap = 3 * n;
    }
    int32_t *sym = tok->bpe_sym, *next = tok->bpe_next, *prev = tok->bpe_prev;
    uint64_t *heap = tok->bpe_heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = tok->byte_id[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[i + 1]);
        if (g) heap[hn++] = (uint64_t)(uint32_t)g->rank << 32 | i;
    }
    for (size_t i = hn / 2; i-- > 0;) heap_sift_down(heap, hn, i);
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int32_t rank = (int32_t)(top >> 32), i = (int32_t)(uint32_t)top;
        if (sym[i] < 0) continue;                  /* merged into its left neighbour since */
        int32_t j = next[i];
        if (j < 0) continue;
        const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[j]);
        if (!g || g->rank != rank) continue;       /* the pair at i changed since it was pushed */
        sym[i] = g->merged;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0 && (g = vt_tok_merge_find(tok, sym[prev[i]], sym[i])) != NULL)
            heap_push(heap, &hn, (uint64_t)(uint32_t)g->rank << 32 | (uint32_t)prev[i]);
        if (next[i] >= 0 && (g = vt_tok_merge_find(tok, sym[i], sym[next[i]])) != NULL)
            heap_push(heap, &hn, (uint64_t)(uint32_t)g->rank << 32 | (uint32_t)i);
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    *m_out = m;
    return VT_OK;
}

/* ---------------------------------------------------------------- bucket path */

/* the pairs of one rank: a list of entries in the pool (positions), and whether they were queued in order */
typedef struct vt_tok_bucket {
    int32_t rank, head, tail, sorted;
} vt_tok_bucket;

typedef struct vt_tok_entry {
    int32_t pos, next;
} vt_tok_entry;

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* the state of one bucket-path run (the arrays live in tok, grown as needed) */
typedef struct bucket_run {
    vt_tokenizer *tok;
    int32_t n_buckets, n_pool, free_list;
    uint64_t *ranks;  /* min-heap of the ranks with a bucket (in tok->bpe_heap) */
    size_t hn;
    int oom;
} bucket_run;

/* queue the pair at position pos, of rank `rank` */
static void bucket_push(bucket_run *r, int32_t rank, int32_t pos)
{
    vt_tokenizer *tok = r->tok;
    int32_t b = tok->rank_bucket[rank];
    if (b < 0) {
        if ((size_t)r->n_buckets == tok->n_buckets_cap) {
            size_t c = tok->n_buckets_cap ? 2 * tok->n_buckets_cap : 1024;
            vt_tok_bucket *nb = realloc(tok->buckets, c * sizeof *nb);
            if (!nb) {
                r->oom = 1;
                return;
            }
            tok->buckets = nb;
            tok->n_buckets_cap = c;
        }
        b = r->n_buckets++;
        tok->buckets[b] = (vt_tok_bucket){rank, -1, -1, 1};
        tok->rank_bucket[rank] = b;
        heap_push(r->ranks, &r->hn, (uint64_t)(uint32_t)rank);
    }
    int32_t e = r->free_list;
    if (e >= 0) {
        r->free_list = tok->pool[e].next;
    } else {
        if ((size_t)r->n_pool == tok->pool_cap) {
            size_t c = tok->pool_cap ? 2 * tok->pool_cap : 4096;
            vt_tok_entry *np = realloc(tok->pool, c * sizeof *np);
            if (!np) {
                r->oom = 1;
                return;
            }
            tok->pool = np;
            tok->pool_cap = c;
        }
        e = r->n_pool++;
    }
    vt_tok_bucket *bk = &tok->buckets[b];
    tok->pool[e] = (vt_tok_entry){pos, -1};
    if (bk->tail >= 0) {
        if (tok->pool[bk->tail].pos > pos) bk->sorted = 0;
        tok->pool[bk->tail].next = e;
    } else {
        bk->head = e;
    }
    bk->tail = e;
}

/* put a bucket's positions in increasing order (they were queued by merges of several lower ranks) */
static int bucket_sort(vt_tokenizer *tok, vt_tok_bucket *bk)
{
    size_t k = 0;
    for (int32_t e = bk->head; e >= 0; e = tok->pool[e].next) k++;
    if (k > tok->sort_cap) {
        int32_t *t = realloc(tok->sort_tmp, k * sizeof *t);
        if (!t) return -1;
        tok->sort_tmp = t;
        tok->sort_cap = k;
    }
    k = 0;
    for (int32_t e = bk->head; e >= 0; e = tok->pool[e].next) tok->sort_tmp[k++] = tok->pool[e].pos;
    qsort(tok->sort_tmp, k, sizeof *tok->sort_tmp, cmp_i32);
    k = 0;
    for (int32_t e = bk->head; e >= 0; e = tok->pool[e].next) tok->pool[e].pos = tok->sort_tmp[k++];
    bk->sorted = 1;
    return 0;
}

/* mirrors Word::merge_all, rank by rank (valid when tok->monotone): w [n] bytes -> out [m] ids */
static int bpe_buckets(vt_tokenizer *tok, const unsigned char *w, size_t n, int32_t *out, size_t *m_out,
                       vt_status *st)
{
    VT_TRY(vt_tok_bpe_reserve(tok, n, st));
    if (!tok->rank_bucket) {
        tok->rank_bucket = malloc(((size_t)tok->n_merges + 1) * sizeof *tok->rank_bucket);
        if (!tok->rank_bucket) return vt_fail(st, VT_ERESOURCE, "out of memory (BPE of a %zu-byte piece)", n);
        memset(tok->rank_bucket, 0xff, ((size_t)tok->n_merges + 1) * sizeof *tok->rank_bucket);
    }
    if (3 * n > tok->heap_cap) { /* the heap of pending ranks: one entry per bucket, at most one per push */
        uint64_t *h = realloc(tok->bpe_heap, 3 * n * sizeof *h);
        if (!h) return vt_fail(st, VT_ERESOURCE, "out of memory (BPE of a %zu-byte piece)", n);
        tok->bpe_heap = h;
        tok->heap_cap = 3 * n;
    }
    int32_t *sym = tok->bpe_sym, *next = tok->bpe_next, *prev = tok->bpe_prev;
    bucket_run r = {tok, 0, 0, -1, tok->bpe_heap, 0, 0};
    for (size_t i = 0; i < n; i++) {
        sym[i] = tok->byte_id[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n && !r.oom; i++) {
        const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[i + 1]);
        if (g) bucket_push(&r, g->rank, (int32_t)i);
    }
    while (r.hn && !r.oom) {
        int32_t rank = (int32_t)heap_pop(r.ranks, &r.hn);
        vt_tok_bucket *bk = &tok->buckets[tok->rank_bucket[rank]];
        if (!bk->sorted && bucket_sort(tok, bk)) r.oom = 1;
        int32_t e = r.oom ? -1 : bk->head;
        while (e >= 0) {
            int32_t i = tok->pool[e].pos, e_next = tok->pool[e].next;
            tok->pool[e].next = r.free_list; /* the entry is free for the pushes below */
            r.free_list = e;
            e = e_next;
            if (sym[i] < 0) continue; /* merged into its left neighbour since */
            int32_t j = next[i];
            if (j < 0) continue;
            const vt_tok_merge *g = vt_tok_merge_find(tok, sym[i], sym[j]);
            if (!g || g->rank != rank) continue; /* the pair at i changed since it was queued */
            sym[i] = g->merged;
            sym[j] = -1;
            next[i] = next[j];
            if (next[j] >= 0) prev[next[j]] = i;
            /* monotone merges: the pairs made here rank above `rank`, never in this bucket */
            if (prev[i] >= 0 && (g = vt_tok_merge_find(tok, sym[prev[i]], sym[i])) != NULL) {
                VT_ASSERT(g->rank > rank);
                bucket_push(&r, g->rank, prev[i]);
            }
            if (next[i] >= 0 && (g = vt_tok_merge_find(tok, sym[i], sym[next[i]])) != NULL) {
                VT_ASSERT(g->rank > rank);
                bucket_push(&r, g->rank, i);
            }
            bk = &tok->buckets[tok->rank_bucket[rank]]; /* bucket_push may have moved the array */
        }
    }
    /* leave rank_bucket all -1 for the next run */
    for (int32_t b = 0; b < r.n_buckets; b++) tok->rank_bucket[tok->buckets[b].rank] = -1;
    if (r.oom) return vt_fail(st, VT_ERESOURCE, "out of memory (BPE of a %zu-byte piece)", n);
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = sym[i];
    *m_out = m;
    return VT_OK;
}

/* one piece w [n] -> out [*m] ids (out has room for n); path VT_TOK_BPE_AUTO picks by length */
int vt_tok_bpe(vt_tokenizer *tok, const unsigned char *w, size_t n, int32_t *out, size_t *m, int path, vt_status *st)
{
    if (n == 0) {
        *m = 0;
        return VT_OK;
    }
    if (path == VT_TOK_BPE_SCAN || (path == VT_TOK_BPE_AUTO && n <= SCAN_MAX)) {
        VT_ASSERT(n <= SCAN_MAX);
        *m = bpe_scan(tok, w, n, out);
        return VT_OK;
    }
    if (path == VT_TOK_BPE_HEAP || !tok->monotone) return bpe_heap(tok, w, n, out, m, st);
    return bpe_buckets(tok, w, n, out, m, st);
}

/* ---------------------------------------------------------------- the word cache */

void vt_tok_cache_free(vt_tokenizer *tok)
{
    free(tok->cache);
    free(tok->cache_keys);
    free(tok->cache_ids);
    tok->cache = NULL;
    tok->cache_keys = NULL;
    tok->cache_ids = NULL;
    tok->cache_slots = tok->cache_used = 0;
    tok->cache_keys_n = tok->cache_ids_n = tok->cache_keys_cap = tok->cache_ids_cap = 0;
}

void vt_tokenizer_cache_clear(vt_tokenizer *tok)
{
    if (tok->cache) memset(tok->cache, 0, tok->cache_slots * sizeof *tok->cache);
    tok->cache_used = 0;
    tok->cache_keys_n = tok->cache_ids_n = 0;
}

/* the cached ids of piece w [n], or NULL (n < VT_TOK_CACHE_MAX_WORD) */
const int32_t *vt_tok_cache_get(const vt_tokenizer *tok, const unsigned char *w, size_t n, uint64_t h, size_t *m)
{
    if (!tok->cache) return NULL;
    uint32_t mask = tok->cache_slots - 1, i = (uint32_t)h & mask;
    for (;;) {
        const vt_tok_cache_slot *s = &tok->cache[i];
        if (!s->hash) return NULL;
        if (s->hash == h && s->key_len == n && memcmp(tok->cache_keys + s->key_off, w, n) == 0) {
            *m = s->n_ids;
            return tok->cache_ids + s->ids_off;
        }
        i = (i + 1) & mask;
    }
}

/* a table of `slots` holding the entries of the current one */
static int cache_resize(vt_tokenizer *tok, uint32_t slots)
{
    vt_tok_cache_slot *t = calloc(slots, sizeof *t);
    if (!t) return -1;
    for (uint32_t j = 0; j < tok->cache_slots; j++) {
        if (!tok->cache[j].hash) continue;
        uint32_t i = (uint32_t)tok->cache[j].hash & (slots - 1);
        while (t[i].hash) i = (i + 1) & (slots - 1);
        t[i] = tok->cache[j];
    }
    free(tok->cache);
    tok->cache = t;
    tok->cache_slots = slots;
    return 0;
}

/* room for `extra` more bytes in a pool of `cap` (doubling from 16 kB); 0 if it would pass the limit */
static int pool_room(void **pool, size_t *cap, size_t used, size_t extra)
{
    if (used + extra <= *cap) return 1;
    size_t c = *cap ? *cap : 16384;
    while (c < used + extra) c *= 2;
    if (c > VT_TOK_CACHE_POOL) return 0;
    void *p = realloc(*pool, c);
    if (!p) return 0;
    *pool = p;
    *cap = c;
    return 1;
}

/* remember piece w [n] -> ids [m]. Never fails: when the table is at its largest and half full, or a pool
 * would pass its limit, everything is forgotten first; a failed allocation just leaves the piece out. */
void vt_tok_cache_put(vt_tokenizer *tok, const unsigned char *w, size_t n, uint64_t h, const int32_t *ids, size_t m)
{
    if (!tok->cache && cache_resize(tok, 1024)) return;
    if (2 * (tok->cache_used + 1) > tok->cache_slots) {
        if (tok->cache_slots < VT_TOK_CACHE_SLOTS) {
            if (cache_resize(tok, tok->cache_slots * 2)) return;
        } else {
            vt_tokenizer_cache_clear(tok);
        }
    }
    for (int tries = 0; tries < 2; tries++) {
        void *k = tok->cache_keys, *d = tok->cache_ids;
        int ok = pool_room(&k, &tok->cache_keys_cap, tok->cache_keys_n, n);
        tok->cache_keys = k;
        ok = ok && pool_room(&d, &tok->cache_ids_cap, tok->cache_ids_n * sizeof *ids, m * sizeof *ids);
        tok->cache_ids = d;
        if (ok) break;
        if (tries) return;
        vt_tokenizer_cache_clear(tok);
    }
    uint32_t mask = tok->cache_slots - 1, i = (uint32_t)h & mask;
    while (tok->cache[i].hash) i = (i + 1) & mask;
    memcpy(tok->cache_keys + tok->cache_keys_n, w, n);
    memcpy(tok->cache_ids + tok->cache_ids_n, ids, m * sizeof *ids);
    tok->cache[i] = (vt_tok_cache_slot){h, (uint32_t)tok->cache_keys_n, (uint32_t)tok->cache_ids_n, (uint16_t)n,
                                        (uint16_t)m};
    tok->cache_keys_n += n;
    tok->cache_ids_n += m;
    tok->cache_used++;
}
