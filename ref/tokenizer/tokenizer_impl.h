/*
 * tokenizer_impl.h -- the inside of vt_tokenizer, shared by the tokenizer_*.c files (and by the tests that
 * compare the two BPE paths). Not part of the API: use tokenizer.h.
 *
 * Legend: V vocabulary entries (151,643), M merges (151,387), A added tokens (26), I ids (1 + largest id),
 * n the bytes of one pre-token piece.
 *
 * Tokens are kept as the bytes they stand for, not as byte-level strings: the byte-to-unicode map is a
 * bijection, so "Ġworld" is stored as " world" and BPE runs over bytes. The byte-level spelling is
 * rebuilt when a token string is asked for (vt_tokenizer_token).
 */
#ifndef VT_TOKENIZER_IMPL_H
#define VT_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* kinds of ids */
enum { VT_TOK_NONE = 0, VT_TOK_VOCAB = 1, VT_TOK_ADDED = 2, VT_TOK_SPECIAL = 3 /* added, "special": true */ };

/* one merge: the pair (a, b) -> merged, at rank (its index in "merges"); key = a << 32 | b */
typedef struct vt_tok_merge {
    uint64_t key;   /* UINT64_MAX: empty slot */
    int32_t rank;
    int32_t merged;
} vt_tok_merge;

/* the added tokens as a byte trie: children as sibling lists, node 0 the root */
typedef struct vt_tok_trie {
    int32_t child, sibling; /* -1: none */
    int32_t id;             /* the token ending here, -1 if none */
    unsigned char byte;
} vt_tok_trie;

/* the BPE word cache: piece bytes -> ids, for pieces shorter than VT_TOK_CACHE_MAX_WORD bytes. Open addressing,
 * the table doubling from 1,024 slots up to VT_TOK_CACHE_SLOTS; at that size, half full, it is emptied (as are
 * the pools of keys and ids when one would pass VT_TOK_CACHE_POOL bytes). */
#define VT_TOK_CACHE_MAX_WORD 256
#define VT_TOK_CACHE_SLOTS (1u << 15)
#define VT_TOK_CACHE_POOL ((size_t)1 << 22)
typedef struct vt_tok_cache_slot {
    uint64_t hash;      /* 0: empty */
    uint32_t key_off;   /* into cache_keys */
    uint32_t ids_off;   /* into cache_ids */
    uint16_t key_len, n_ids;
} vt_tok_cache_slot;

struct vt_tokenizer {
    /* ---- ids: each id's bytes and kind ---- */
    int32_t n_ids;           /* I */
    int32_t n_vocab, n_added, n_merges;
    unsigned char *kind;     /* [I] VT_TOK_* */
    uint32_t *off, *len;     /* [I] the id's bytes in `bytes` */
    unsigned char *bytes;    /* every token's bytes, back to back */
    size_t n_bytes;
    int32_t byte_id[256];    /* the vocabulary id of each single byte */

    /* ---- vocabulary: bytes -> id (open addressing; id -1 empty; tag = the hash's high half, checked before the
     * bytes are; the token's place in `bytes` kept in the slot, so a lookup touches the slot and the bytes) ---- */
    struct vt_tok_vocab_slot {
        uint32_t tag;
        int32_t id;
        uint32_t off, len;
    } *vocab_slot;
    uint32_t vocab_mask;

    /* ---- merges: (a, b) -> rank, merged (open addressing) ---- */
    vt_tok_merge *merge_slot;
    uint32_t merge_mask;
    int merge_shift;         /* 64 - log2(slots) */
    int monotone;            /* the merges are in training order (check_monotone): the bucket path applies */

    /* ---- added tokens ---- */
    vt_tok_trie *trie;
    int32_t n_trie;
    unsigned char starts[256]; /* 1 if some added token starts with this byte */

    /* ---- normalizer and pre-tokenizer ---- */
    int nfc;                   /* normalizer {"type": "NFC"} (0: null) */
    char *pattern;             /* the Split regex as in the file */
    char *pattern_pcre;        /* as compiled: \s -> \p{White_Space}, \S -> \P{White_Space} */
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    int jit;                   /* 1 if the JIT compiled it */

    /* ---- the word cache ---- */
    vt_tok_cache_slot *cache;  /* [cache_slots], NULL until the first piece is cached */
    uint32_t cache_slots, cache_used;
    unsigned char *cache_keys; /* [cache_keys_cap] */
    int32_t *cache_ids;        /* [cache_ids_cap] */
    size_t cache_keys_n, cache_ids_n, cache_keys_cap, cache_ids_cap;
    size_t cache_hits, cache_misses;

    /* ---- scratch for encode (grown as needed, kept between calls) ---- */
    int32_t *bpe_sym, *bpe_next, *bpe_prev;
    uint64_t *bpe_heap;
    size_t bpe_cap, heap_cap;
    int32_t *rank_bucket;      /* [M] the bucket of each rank in the bucket path, -1 none (kept all -1 between uses) */
    struct vt_tok_bucket *buckets;
    struct vt_tok_entry *pool;
    int32_t *sort_tmp;
    size_t n_buckets_cap, pool_cap, sort_cap;
};

/* ---- tokenizer_vocab.c ---- */
uint64_t vt_tok_hash(const unsigned char *s, size_t n);
/* id of the token whose bytes are s[0..n), or -1 */
int32_t vt_tok_vocab_find(const vt_tokenizer *tok, const unsigned char *s, size_t n);
/* the merge of the pair (a, b), or NULL */
static inline const vt_tok_merge *vt_tok_merge_find(const vt_tokenizer *tok, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> tok->merge_shift);
    for (;;) {
        const vt_tok_merge *m = &tok->merge_slot[i];
        if (m->key == key) return m;
        if (m->key == UINT64_MAX) return NULL;
        i = (i + 1) & tok->merge_mask;
    }
}
/* GPT-2's bytes_to_unicode: the code point standing for byte b, and back (-1: not in the alphabet) */
uint32_t vt_tok_byte_to_unicode(unsigned char b);
int vt_tok_unicode_to_byte(uint32_t cp);

/* ---- tokenizer_json.c -> tokenizer_vocab.c: the tables, built from the parsed file ---- */
struct cJSON;
int vt_tok_build_vocab(vt_tokenizer *tok, const struct cJSON *vocab, int n, vt_status *st);
int vt_tok_build_merges(vt_tokenizer *tok, const struct cJSON *merges, vt_status *st);
int vt_tok_build_added(vt_tokenizer *tok, const struct cJSON *added, vt_status *st);
int vt_tok_compile_regex(vt_tokenizer *tok, const char *pattern, vt_status *st);

/* ---- tokenizer_bpe.c ---- */
#define VT_TOK_BPE_AUTO 0
#define VT_TOK_BPE_SCAN 1  /* the quadratic scan (short words) */
#define VT_TOK_BPE_HEAP 2  /* the heap over a linked list (any length) */
#define VT_TOK_BPE_BUCKETS 3 /* rank by rank, when the merges are monotone (any length) */
/* BPE of one piece: bytes w [n] -> out [*m] ids (out has room for n) */
int vt_tok_bpe(vt_tokenizer *tok, const unsigned char *w, size_t n, int32_t *out, size_t *m, int path, vt_status *st);
/* the scratch of the heap path, grown to n symbols */
int vt_tok_bpe_reserve(vt_tokenizer *tok, size_t n, vt_status *st);
/* the word cache: get (NULL if absent; n < VT_TOK_CACHE_MAX_WORD, h = vt_tok_hash(w, n)), put, free */
const int32_t *vt_tok_cache_get(const vt_tokenizer *tok, const unsigned char *w, size_t n, uint64_t h, size_t *m);
void vt_tok_cache_put(vt_tokenizer *tok, const unsigned char *w, size_t n, uint64_t h, const int32_t *ids, size_t m);
void vt_tok_cache_free(vt_tokenizer *tok);

#endif
