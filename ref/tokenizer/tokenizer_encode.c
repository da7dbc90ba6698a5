/*
 * tokenizer_encode.c -- text -> ids, the stages of tokenizer.encode(text) in the order the reference runs
 * them (HF tokenizers' TokenizerImpl::encode_single_sequence; transformers.js PreTrainedTokenizer._encode_text):
 *
 *   vt_tokenizer_check_utf8   the text must be UTF-8 (the reference's strings cannot hold anything else)
 *   split_added_tokens        AddedVocabulary: added tokens cut out of the raw text, leftmost-longest
 *   normalize_nfc             normalizers.NFC on each stretch between added tokens (utf8proc)
 *   split_pre_tokens          pre_tokenizers.Split(regex, Isolated) + ByteLevel(use_regex=false): pieces
 *   bpe_piece                 models.BPE on each piece's bytes, through the word cache
 *
 * Legend: n bytes of text, p bytes of one piece.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_impl.h"

/* a growable id list */
typedef struct id_vec {
    int32_t *v;
    size_t n, cap;
} id_vec;

static int vec_reserve(id_vec *v, size_t extra, vt_status *st)
{
    if (v->n + extra <= v->cap) return VT_OK;
    size_t c = v->cap ? v->cap : 256;
    while (c < v->n + extra) c *= 2;
    int32_t *p = realloc(v->v, c * sizeof *p);
    if (!p) return vt_fail(st, VT_ERESOURCE, "out of memory (%zu token ids)", c);
    v->v = p;
    v->cap = c;
    return VT_OK;
}

/* ---------------------------------------------------------------- UTF-8 */

/* mirrors the reference's string type (Rust str::from_utf8, a JS string from TextDecoder): text [n] bytes must
 * be well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF) -> VT_EINPUT naming `what` and
 * the offset of the first byte of the first ill-formed sequence */
int vt_tokenizer_check_utf8(const char *text, size_t n, const char *what, vt_status *st)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte (Unicode Table 3-7) */
        if (b >= 0xc2 && b <= 0xdf) k = 1;
        else if (b >= 0xe0 && b <= 0xef) k = 2, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
        else if (b >= 0xf0 && b <= 0xf4) k = 3, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
        else return vt_fail(st, VT_EINPUT, "%s is not valid UTF-8: byte 0x%02X at offset %zu", what, b, i);
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n)
                return vt_fail(st, VT_EINPUT, "%s is not valid UTF-8: the character at offset %zu is cut short by the "
                               "end", what, i);
            unsigned c = s[i + j];
            if (j == 1 ? (c < lo || c > hi) : (c & 0xc0) != 0x80)
                return vt_fail(st, VT_EINPUT, "%s is not valid UTF-8: the sequence at offset %zu (0x%02X 0x%02X) is "
                               "ill-formed", what, i, b, s[i + 1]);
        }
        i += k + 1;
    }
    return VT_OK;
}

/* ---------------------------------------------------------------- the stages */

/* mirrors AddedVocabulary::split_with_indices (its aho-corasick is MatchKind::LeftmostLongest): the first
 * position at or after `from` where an added token matches s exactly, and the longest one there.
 * s [n] bytes -> [*start, *end) and its id; 0 if none matches. No lstrip/rstrip, special or not. */
static int split_added_tokens(const vt_tokenizer *tok, const unsigned char *s, size_t n, size_t from, size_t *start,
                              size_t *end, int32_t *id)
{
    if (tok->n_added == 0) return 0;
    for (size_t i = from; i < n; i++) {
        if (!tok->starts[s[i]]) continue;
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < n; j++) {
            int32_t ch = tok->trie[node].child;
            while (ch >= 0 && tok->trie[ch].byte != s[j]) ch = tok->trie[ch].sibling;
            if (ch < 0) break;
            node = ch;
            if (tok->trie[node].id >= 0) best = tok->trie[node].id, best_end = j + 1;
        }
        if (best >= 0) {
            *start = i;
            *end = best_end;
            *id = best;
            return 1;
        }
    }
    return 0;
}

/* mirrors normalizers.NFC (unicode-normalization-alignments in HF; String.normalize('NFC') in JS): s [n] ->
 * *out [*out_n], NFC by utf8proc (decomposition, canonical ordering, composition with the exclusions, Hangul).
 * *owned is the buffer to free, NULL when s is returned as is: a stretch with no byte >= 0xCC has only code
 * points below U+0300, which are all NFC_Quick_Check=Yes with combining class 0, so NFC leaves it alone. */
static int normalize_nfc(const vt_tokenizer *tok, const unsigned char *s, size_t n, const unsigned char **out,
                         size_t *out_n, unsigned char **owned, vt_status *st)
{
    *out = s;
    *out_n = n;
    *owned = NULL;
    if (!tok->nfc) return VT_OK;
    size_t i = 0;
    while (i < n && s[i] < 0xcc) i++;
    if (i == n) return VT_OK;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map(s, (utf8proc_ssize_t)n, &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r < 0)
        return vt_fail(st, r == UTF8PROC_ERROR_NOMEM ? VT_ERESOURCE : VT_EINPUT, "NFC of %zu bytes of text: %s", n,
                       utf8proc_errmsg(r));
    *out = *owned = dst;
    *out_n = (size_t)r;
    return VT_OK;
}

/* mirrors models.BPE.tokenize for one piece: its bytes w [p] (ByteLevel maps each byte to one character, so
 * the piece's characters are its bytes) -> ids appended to v, through the word cache */
static int bpe_piece(vt_tokenizer *tok, const unsigned char *w, size_t p, id_vec *v, vt_status *st)
{
    VT_TRY(vec_reserve(v, p, st));
    uint64_t h = 0;
    size_t m;
    if (p < VT_TOK_CACHE_MAX_WORD) {
        h = vt_tok_hash(w, p);
        const int32_t *hit = vt_tok_cache_get(tok, w, p, h, &m);
        if (hit) {
            memcpy(v->v + v->n, hit, m * sizeof *hit);
            v->n += m;
            tok->cache_hits++;
            return VT_OK;
        }
        tok->cache_misses++;
    }
    VT_TRY(vt_tok_bpe(tok, w, p, v->v + v->n, &m, VT_TOK_BPE_AUTO, st));
    if (p < VT_TOK_CACHE_MAX_WORD) vt_tok_cache_put(tok, w, p, h, v->v + v->n, m);
    v->n += m;
    return VT_OK;
}

/* one match of the Split regex in s [n] at or after `from` -> [*a, *b); 0 when there is none */
static int regex_next(vt_tokenizer *tok, const unsigned char *s, size_t n, size_t from, size_t *a, size_t *b,
                      vt_status *st)
{
    int rc = tok->jit ? pcre2_jit_match(tok->re, s, n, from, 0, tok->md, tok->mctx)
                      : pcre2_match(tok->re, s, n, from, PCRE2_NO_UTF_CHECK, tok->md, tok->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        vt_fail(st, rc == PCRE2_ERROR_NOMEMORY ? VT_ERESOURCE : VT_EINPUT,
                "the pre-tokenizer regex failed at byte %zu of a %zu-byte stretch: %s", from, n, (const char *)msg);
        return -1;
    }
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
    *a = ov[0];
    *b = ov[1];
    return 1;
}

/* mirrors pre_tokenizers.Split(pattern, behavior="Isolated", invert=false) then ByteLevel(use_regex=false):
 * s [n] bytes (NFC) -> pieces = every match and every stretch between matches, in order, empty ones dropped;
 * each piece goes to the BPE. (After an empty match the search resumes one character later, as the
 * tokenizers library's match iterator does; the Qwen regex never matches empty.) */
static int split_pre_tokens(vt_tokenizer *tok, const unsigned char *s, size_t n, id_vec *v, vt_status *st)
{
    size_t last = 0, from = 0;
    /* PCRE2's default match limit (10,000,000 backtracking steps) is too low for a long run of spaces, where
     * \s*[\r\n]+ walks the whole run before it fails; the Qwen regex needs a few steps per byte */
    size_t limit = 10000000 + 16 * n;
    pcre2_set_match_limit(tok->mctx, limit < UINT32_MAX ? (uint32_t)limit : UINT32_MAX);
    while (from <= n) {
        size_t a, b;
        int r = regex_next(tok, s, n, from, &a, &b, st);
        if (r < 0) return st->code;
        if (r == 0) break;
        if (a > last) VT_TRY(bpe_piece(tok, s + last, a - last, v, st)); /* the stretch before the match */
        last = a;
        if (b > a) {
            VT_TRY(bpe_piece(tok, s + a, b - a, v, st));
            last = from = b;
        } else { /* empty match: step over one character, which joins the next stretch */
            if (a >= n) break;
            from = a + 1;
            while (from < n && (s[from] & 0xc0) == 0x80) from++;
        }
    }
    if (n > last) VT_TRY(bpe_piece(tok, s + last, n - last, v, st));
    return VT_OK;
}

/* ---------------------------------------------------------------- encode */

/* the scratch of the heap path is kept between calls unless a piece made it large */
#define KEEP_SCRATCH 65536

static void trim_scratch(vt_tokenizer *tok)
{
    if (tok->bpe_cap <= KEEP_SCRATCH) return;
    free(tok->bpe_sym);
    free(tok->bpe_next);
    free(tok->bpe_prev);
    free(tok->bpe_heap);
    free(tok->pool);
    free(tok->buckets);
    free(tok->sort_tmp);
    tok->bpe_sym = tok->bpe_next = tok->bpe_prev = tok->sort_tmp = NULL;
    tok->bpe_heap = NULL;
    tok->pool = NULL;
    tok->buckets = NULL;
    tok->bpe_cap = tok->heap_cap = tok->pool_cap = tok->n_buckets_cap = tok->sort_cap = 0;
}

/* mirrors tokenizer.encode(text) (add_special_tokens: the Qwen post-processor adds nothing): text [n] -> ids */
int vt_tokenizer_encode(vt_tokenizer *tok, const char *text, size_t n, int32_t **ids, size_t *n_ids, vt_status *st)
{
    *ids = NULL;
    *n_ids = 0;
    VT_TRY(vt_tokenizer_check_utf8(text, n, "text", st));
    const unsigned char *s = (const unsigned char *)text;
    id_vec v = {0};
    int rc = VT_OK;
    size_t pos = 0;
    while (rc == VT_OK && pos <= n) {
        size_t a = n, b = n;
        int32_t id = -1;
        int found = split_added_tokens(tok, s, n, pos, &a, &b, &id);
        if (a > pos) {
            const unsigned char *norm;
            size_t nn;
            unsigned char *owned;
            rc = normalize_nfc(tok, s + pos, a - pos, &norm, &nn, &owned, st);
            if (rc == VT_OK) rc = split_pre_tokens(tok, norm, nn, &v, st);
            free(owned);
        }
        if (!found || rc) break;
        if ((rc = vec_reserve(&v, 1, st)) == VT_OK) v.v[v.n++] = id;
        pos = b;
    }
    trim_scratch(tok);
    if (rc) {
        free(v.v);
        return rc;
    }
    *ids = v.v;
    *n_ids = v.n;
    return VT_OK;
}
