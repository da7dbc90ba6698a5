/*
 * tokenizer_vocab.c -- the tables of the BPE model, built from tokenizer.json's parsed JSON: the GPT-2
 * byte-to-unicode map, the vocabulary (bytes -> id), the merges ((a, b) -> rank, merged id) and the added
 * tokens (a byte trie for the leftmost-longest split). Every entry is checked as it is read; a message
 * names the JSON path and the entry.
 *
 * Legend: V vocabulary entries, M merges, A added tokens, I ids (1 + largest id).
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

/* ---------------------------------------------------------------- GPT-2 byte-to-unicode */

/* mirrors bytes_to_unicode (GPT-2 encoder.py; ByteLevel in HF tokenizers): the printable bytes '!'..'~',
 * U+00A1..U+00AC and U+00AE..U+00FF stand for themselves; the other 68 bytes, in increasing order, get
 * U+0100, U+0101, ...: 0x00..0x20 -> U+0100..U+0120 (a space is U+0120 'G-dot', a newline U+010A),
 * 0x7F..0xA0 -> U+0121..U+0142, 0xAD -> U+0143. byte -> code point */
uint32_t vt_tok_byte_to_unicode(unsigned char b)
{
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7f && b <= 0xa0) return 0x121 + (uint32_t)(b - 0x7f);
    if (b == 0xad) return 0x143;
    return b;
}

/* the inverse: code point -> byte, -1 for a code point outside the 256-character alphabet */
int vt_tok_unicode_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff)) return (int)cp;
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0x121 + 0x7f);
    if (cp == 0x143) return 0xad;
    return -1;
}

/* ---------------------------------------------------------------- hashing */

/* FNV-1a, 64-bit; never 0 (0 marks an empty cache slot) */
uint64_t vt_tok_hash(const unsigned char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

static uint32_t pow2_at_least(size_t n)
{
    uint32_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

int32_t vt_tok_vocab_find(const vt_tokenizer *tok, const unsigned char *s, size_t n)
{
    uint64_t h = vt_tok_hash(s, n);
    uint32_t i = (uint32_t)h & tok->vocab_mask, tag = (uint32_t)(h >> 32);
    for (;;) {
        const struct vt_tok_vocab_slot *v = &tok->vocab_slot[i];
        if (v->id < 0) return -1;
        if (v->tag == tag && v->len == n && memcmp(tok->bytes + v->off, s, n) == 0) return v->id;
        i = (i + 1) & tok->vocab_mask;
    }
}

/* ---------------------------------------------------------------- strings of the file */

/* One UTF-8 character at s[0..n): its code point and length, or 0 if the bytes are not UTF-8
 * (cJSON copies string bytes without checking them). */
static int utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int k;
    uint32_t c, min;
    if (b >= 0xc2 && b <= 0xdf) k = 1, c = b & 0x1f, min = 0x80;
    else if (b >= 0xe0 && b <= 0xef) k = 2, c = b & 0x0f, min = 0x800;
    else if (b >= 0xf0 && b <= 0xf4) k = 3, c = b & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)k >= n) return 0;
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return k + 1;
}

/* A vocabulary string in the byte-level alphabet ("Ġworld") -> the bytes it stands for (" world"), into
 * dst (room for strlen(s) bytes). Returns the byte count, or -1 with the offending code point in *bad
 * (0x110000 for bytes that are not UTF-8). */
static long byte_level_decode(const char *s, unsigned char *dst, uint32_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_char(p + i, n - i, &cp);
        if (!k) {
            *bad = 0x110000;
            return -1;
        }
        int b = vt_tok_unicode_to_byte(cp);
        if (b < 0) {
            *bad = cp;
            return -1;
        }
        dst[o++] = (unsigned char)b;
        i += (size_t)k;
    }
    return (long)o;
}

/* store bytes as id's token; the blob grows geometrically */
static int store_token(vt_tokenizer *tok, int32_t id, const unsigned char *s, size_t n, int kind, size_t *cap,
                       vt_status *st)
{
    if (tok->n_bytes + n > *cap) {
        size_t c = *cap ? *cap : 1 << 20;
        while (c < tok->n_bytes + n) c *= 2;
        if (c > UINT32_MAX) return vt_fail(st, VT_EINPUT, "the tokens hold more than 4 GB of text");
        unsigned char *b = realloc(tok->bytes, c);
        if (!b) return vt_fail(st, VT_ERESOURCE, "out of memory (%zu bytes of token text)", c);
        tok->bytes = b;
        *cap = c;
    }
    memcpy(tok->bytes + tok->n_bytes, s, n);
    tok->off[id] = (uint32_t)tok->n_bytes;
    tok->len[id] = (uint32_t)n;
    tok->kind[id] = (unsigned char)kind;
    tok->n_bytes += n;
    return VT_OK;
}

/* a JSON number that is an id: an integer in [0, VT_TOKENIZER_MAX_ID) */
static int json_id(const cJSON *v, int32_t *id)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < VT_TOKENIZER_MAX_ID) || d != (double)(int32_t)d) return 0;
    *id = (int32_t)d;
    return 1;
}

/* ---------------------------------------------------------------- vocabulary */

/* mirrors BPE's vocab (model.vocab): {"token": id, ...} -> the id table and the bytes -> id map. Every id an
 * integer below I (tok->n_ids, fixed by the caller), every string in the byte-level alphabet, no string or
 * id twice, and the 256 single bytes present (a byte-level BPE must be able to spell every byte). */
int vt_tok_build_vocab(vt_tokenizer *tok, const cJSON *vocab, int n, vt_status *st)
{
    uint32_t slots = pow2_at_least((size_t)n + (size_t)n / 2 + 1); /* load <= 2/3 */
    tok->vocab_slot = malloc(slots * sizeof *tok->vocab_slot);
    unsigned char *buf = NULL;
    size_t buf_cap = 0, cap = 0;
    if (!tok->vocab_slot) return vt_fail(st, VT_ERESOURCE, "out of memory (vocabulary of %d entries)", n);
    memset(tok->vocab_slot, 0xff, slots * sizeof *tok->vocab_slot);
    tok->vocab_mask = slots - 1;
    int rc = VT_OK;
    int k = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, k++) {
        int32_t id;
        if (!json_id(e, &id) || id >= tok->n_ids) {
            rc = vt_fail(st, VT_EINPUT, "model.vocab[\"%s\"]: the id is not an integer in [0, %d)", e->string,
                         VT_TOKENIZER_MAX_ID);
            break;
        }
        size_t sl = strlen(e->string);
        if (sl == 0) {
            rc = vt_fail(st, VT_EINPUT, "model.vocab: an empty token (id %d)", id);
            break;
        }
        if (sl > buf_cap) {
            buf_cap = sl * 2;
            free(buf);
            if (!(buf = malloc(buf_cap))) {
                rc = vt_fail(st, VT_ERESOURCE, "out of memory");
                break;
            }
        }
        uint32_t bad;
        long bl = byte_level_decode(e->string, buf, &bad);
        if (bl < 0) {
            if (bad == 0x110000)
                rc = vt_fail(st, VT_EINPUT, "model.vocab: entry %d (id %d) is not UTF-8", k, id);
            else
                rc = vt_fail(st, VT_EINPUT, "model.vocab[\"%s\"] (id %d): U+%04X is not in the byte-level alphabet "
                             "(a ByteLevel BPE vocabulary spells bytes with GPT-2's bytes_to_unicode)", e->string, id,
                             (unsigned)bad);
            break;
        }
        if (tok->kind[id] != VT_TOK_NONE) {
            rc = vt_fail(st, VT_EINPUT, "model.vocab: id %d is given to two tokens (the second is \"%s\")", id,
                         e->string);
            break;
        }
        /* find the free slot, or the same bytes already there */
        uint64_t h = vt_tok_hash(buf, (size_t)bl);
        uint32_t i = (uint32_t)h & tok->vocab_mask, tag = (uint32_t)(h >> 32);
        int dup = 0;
        for (; !dup && tok->vocab_slot[i].id >= 0; i = (i + 1) & tok->vocab_mask) {
            const struct vt_tok_vocab_slot *v = &tok->vocab_slot[i];
            dup = v->tag == tag && v->len == (size_t)bl && !memcmp(tok->bytes + v->off, buf, (size_t)bl);
        }
        if (dup) {
            rc = vt_fail(st, VT_EINPUT, "model.vocab: \"%s\" appears twice", e->string);
            break;
        }
        if ((rc = store_token(tok, id, buf, (size_t)bl, VT_TOK_VOCAB, &cap, st)) != VT_OK) break;
        tok->vocab_slot[i] = (struct vt_tok_vocab_slot){tag, id, tok->off[id], tok->len[id]};
        if (bl == 1) tok->byte_id[buf[0]] = id;
    }
    free(buf);
    if (rc) return rc;
    tok->n_vocab = n;
    for (int b = 0; b < 256; b++)
        if (tok->byte_id[b] < 0) {
            uint32_t cp = vt_tok_byte_to_unicode((unsigned char)b); /* below U+0800: one or two bytes */
            char sp[3] = {(char)(cp < 0x80 ? cp : 0xc0 | cp >> 6), (char)(cp < 0x80 ? 0 : 0x80 | (cp & 0x3f)), 0};
            return vt_fail(st, VT_EINPUT, "model.vocab has no token for the byte 0x%02X (\"%s\"); a byte-level BPE "
                           "needs all 256", b, sp);
        }
    return VT_OK;
}

/* ---------------------------------------------------------------- merges */

/* one merges entry -> its two strings: "a b" (older files, Qwen2-VL's) or ["a", "b"] (newer, Qwen3's) */
static int merge_parts(const cJSON *e, int k, int *form, const char **a, const char **b, char **split, vt_status *st)
{
    int f = cJSON_IsString(e) ? 1 : cJSON_IsArray(e) ? 2 : 0;
    if (!f) return vt_fail(st, VT_EINPUT, "merges[%d] is neither a string \"a b\" nor a pair [\"a\", \"b\"]", k);
    if (*form && f != *form)
        return vt_fail(st, VT_EINPUT, "merges[%d] is a %s but merges[0] a %s: one file uses one form", k,
                       f == 1 ? "string" : "pair", f == 1 ? "pair" : "string");
    *form = f;
    if (f == 2) {
        const cJSON *x = e->child, *y = x ? x->next : NULL;
        if (!cJSON_IsString(x) || !cJSON_IsString(y) || y->next)
            return vt_fail(st, VT_EINPUT, "merges[%d] is not a pair of two strings", k);
        *a = x->valuestring;
        *b = y->valuestring;
        return VT_OK;
    }
    /* "a b": exactly one space (a byte-level vocabulary has none: a space is spelled Ġ) */
    const char *s = e->valuestring, *sp = strchr(s, ' ');
    if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
        return vt_fail(st, VT_EINPUT, "merges[%d] \"%s\" is not two tokens separated by one space", k, s);
    size_t n = strlen(s);
    char *c = realloc(*split, n + 1);
    if (!c) return vt_fail(st, VT_ERESOURCE, "out of memory");
    memcpy(c, s, n + 1);
    c[sp - s] = 0;
    *split = c;
    *a = c;
    *b = c + (sp - s) + 1;
    return VT_OK;
}

/* Are the merges in training order? Every token a merge makes is made by that merge only, and every merge's
 * parts are single bytes or made by an earlier merge. Then a merge of rank r only creates pairs of rank > r,
 * so the pairs can be taken rank by rank (the bucket path of tokenizer_bpe.c). True of Qwen's merges, as of
 * any list BPE training writes; a list that is not is still encoded exactly, by the heap path. */
static int check_monotone(vt_tokenizer *tok, vt_status *st)
{
    int32_t *made = malloc(((size_t)tok->n_ids + 1) * sizeof *made); /* the rank that makes each token, or -1 */
    if (!made) return vt_fail(st, VT_ERESOURCE, "out of memory");
    memset(made, 0xff, ((size_t)tok->n_ids + 1) * sizeof *made);
    int mono = 1;
    for (uint32_t i = 0; i <= tok->merge_mask; i++) {
        const vt_tok_merge *m = &tok->merge_slot[i];
        if (m->key == UINT64_MAX) continue;
        if (made[m->merged] >= 0) mono = 0;
        made[m->merged] = m->rank;
    }
    for (uint32_t i = 0; i <= tok->merge_mask && mono; i++) {
        const vt_tok_merge *m = &tok->merge_slot[i];
        if (m->key == UINT64_MAX) continue;
        int32_t part[2] = {(int32_t)(m->key >> 32), (int32_t)(uint32_t)m->key};
        for (int j = 0; j < 2; j++)
            if (made[part[j]] >= m->rank) mono = 0;
    }
    free(made);
    tok->monotone = mono;
    return VT_OK;
}

/* the merge table with `slots` slots (a power of two), holding the merges of the current one */
static int merge_table(vt_tokenizer *tok, uint32_t slots, vt_status *st)
{
    vt_tok_merge *t = malloc(slots * sizeof *t);
    if (!t) return vt_fail(st, VT_ERESOURCE, "out of memory (%u merge slots)", slots);
    for (uint32_t i = 0; i < slots; i++) t[i].key = UINT64_MAX;
    int bits = 0;
    while ((1u << bits) < slots) bits++;
    vt_tok_merge *old = tok->merge_slot;
    uint32_t old_slots = old ? tok->merge_mask + 1 : 0;
    tok->merge_slot = t;
    tok->merge_mask = slots - 1;
    tok->merge_shift = 64 - bits;
    for (uint32_t j = 0; j < old_slots; j++) {
        if (old[j].key == UINT64_MAX) continue;
        uint32_t i = (uint32_t)((old[j].key * 0x9E3779B97F4A7C15ull) >> tok->merge_shift);
        while (t[i].key != UINT64_MAX) i = (i + 1) & tok->merge_mask;
        t[i] = old[j];
    }
    free(old);
    return VT_OK;
}

/* mirrors BPE's merges (model.merges): entry k = the pair (a, b) of rank k, whose concatenation a+b is the
 * token it makes. Both parts and the result must be in the vocabulary (HF tokenizers refuses a merge whose
 * result is missing, MergeTokenOutOfVocabulary); a pair listed twice is refused. -> the pair table */
int vt_tok_build_merges(vt_tokenizer *tok, const cJSON *merges, vt_status *st)
{
    /* sized for as many merges as tokens (BPE training makes one token per merge), grown if there are more */
    VT_TRY(merge_table(tok, pow2_at_least((size_t)tok->n_vocab * 2 + 1), st));
    unsigned char *buf = NULL;
    char *split = NULL;
    size_t buf_cap = 0;
    int form = 0, rc = VT_OK, k = 0;
    for (const cJSON *e = merges->child; e; e = e->next, k++) {
        const char *s[2] = {NULL, NULL};
        if ((rc = merge_parts(e, k, &form, &s[0], &s[1], &split, st)) != VT_OK) break;
        size_t need = strlen(s[0]) + strlen(s[1]);
        if (need > buf_cap) {
            buf_cap = need * 2;
            free(buf);
            if (!(buf = malloc(buf_cap))) {
                rc = vt_fail(st, VT_ERESOURCE, "out of memory");
                break;
            }
        }
        int32_t id[2];
        size_t at = 0;
        for (int j = 0; j < 2 && rc == VT_OK; j++) {
            uint32_t bad;
            long bl = byte_level_decode(s[j], buf + at, &bad);
            id[j] = bl > 0 ? vt_tok_vocab_find(tok, buf + at, (size_t)bl) : -1;
            if (id[j] < 0)
                rc = vt_fail(st, VT_EINPUT, "merges[%d] (\"%s\", \"%s\"): \"%s\" is not in the vocabulary", k, s[0],
                             s[1], s[j]);
            else
                at += (size_t)bl;
        }
        if (rc) break;
        int32_t merged = vt_tok_vocab_find(tok, buf, at);
        if (merged < 0) {
            rc = vt_fail(st, VT_EINPUT, "merges[%d] (\"%s\", \"%s\"): the merged token \"%s%s\" is not in the "
                         "vocabulary", k, s[0], s[1], s[0], s[1]);
            break;
        }
        if (2 * ((size_t)k + 1) > (size_t)tok->merge_mask + 1 && (rc = merge_table(tok, 2 * (tok->merge_mask + 1), st)))
            break;
        uint64_t key = (uint64_t)(uint32_t)id[0] << 32 | (uint32_t)id[1];
        uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> tok->merge_shift);
        while (tok->merge_slot[i].key != UINT64_MAX && tok->merge_slot[i].key != key) i = (i + 1) & tok->merge_mask;
        if (tok->merge_slot[i].key == key) {
            rc = vt_fail(st, VT_EINPUT, "merges[%d] (\"%s\", \"%s\") repeats merges[%d]", k, s[0], s[1],
                         tok->merge_slot[i].rank);
            break;
        }
        tok->merge_slot[i] = (vt_tok_merge){key, k, merged};
    }
    free(buf);
    free(split);
    if (rc == VT_OK) tok->n_merges = k;
    return rc == VT_OK ? check_monotone(tok, st) : rc;
}

/* ---------------------------------------------------------------- added tokens */

static int trie_node(vt_tokenizer *tok, int32_t *cap, vt_status *st)
{
    if (tok->n_trie == *cap) {
        int32_t c = *cap ? *cap * 2 : 64;
        vt_tok_trie *t = realloc(tok->trie, (size_t)c * sizeof *t);
        if (!t) return vt_fail(st, VT_ERESOURCE, "out of memory");
        tok->trie = t;
        *cap = c;
    }
    tok->trie[tok->n_trie] = (vt_tok_trie){-1, -1, -1, 0};
    tok->n_trie++;
    return VT_OK;
}

static const char *const added_keys[] = {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"};

/* a boolean field of an added token that must be false here (absent counts as false) */
static int added_false(const cJSON *e, int k, const char *key, const char *content, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    if (!v || cJSON_IsFalse(v)) return VT_OK;
    if (cJSON_IsTrue(v))
        return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): \"%s\": true is not supported (the Qwen tokenizers "
                       "match added tokens exactly, on the raw text)", k, content, key);
    return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): \"%s\" is not a boolean", k, content, key);
}

/* mirrors AddedVocabulary (added_tokens): [{"id", "content", "special", ...}] -> each id's text and kind, and
 * the trie the split walks. Ids are not vocabulary ids and not repeated; contents are non-empty UTF-8, each
 * once. single_word, lstrip, rstrip and normalized must be false (as in every Qwen file). */
int vt_tok_build_added(vt_tokenizer *tok, const cJSON *added, vt_status *st)
{
    int32_t cap = 0;
    size_t blob_cap = tok->n_bytes; /* the blob is exactly full after the vocabulary */
    VT_TRY(trie_node(tok, &cap, st));
    int k = 0;
    for (const cJSON *e = added->child; e; e = e->next, k++) {
        if (!cJSON_IsObject(e)) return vt_fail(st, VT_EINPUT, "added_tokens[%d] is not an object", k);
        for (const cJSON *f = e->child; f; f = f->next) {
            size_t j = 0;
            while (j < sizeof added_keys / sizeof added_keys[0] && strcmp(f->string, added_keys[j]) != 0) j++;
            if (j == sizeof added_keys / sizeof added_keys[0])
                return vt_fail(st, VT_EINPUT, "added_tokens[%d]: unknown field \"%s\"", k, f->string);
        }
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsString(c) || !c->valuestring[0])
            return vt_fail(st, VT_EINPUT, "added_tokens[%d]: \"content\" is missing or not a non-empty string", k);
        const char *content = c->valuestring;
        int32_t id;
        if (!json_id(idv, &id))
            return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): \"id\" is missing or not an integer in [0, %d)", k,
                           content, VT_TOKENIZER_MAX_ID);
        if (vt_tokenizer_check_utf8(content, strlen(content), "its content", st))
            return vt_wrap(st, "added_tokens[%d]: ", k);
        static const char *const must_be_false[] = {"single_word", "lstrip", "rstrip", "normalized"};
        for (int j = 0; j < 4; j++) VT_TRY(added_false(e, k, must_be_false[j], content, st));
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "special");
        if (sp && !cJSON_IsBool(sp))
            return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): \"special\" is not a boolean", k, content);
        int kind = cJSON_IsTrue(sp) ? VT_TOK_SPECIAL : VT_TOK_ADDED;
        const unsigned char *s = (const unsigned char *)content;
        size_t n = strlen(content);
        VT_ASSERT(id < tok->n_ids); /* n_ids covers every added id (vt_tokenizer_parse) */
        if (tok->kind[id] == VT_TOK_VOCAB)
            return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): id %d is also in model.vocab (the Qwen files "
                           "keep added tokens apart)", k, content, id);
        if (tok->kind[id] != VT_TOK_NONE)
            return vt_fail(st, VT_EINPUT, "added_tokens[%d] (\"%s\"): id %d is already taken by another added token", k,
                           content, id);
        VT_TRY(store_token(tok, id, s, n, kind, &blob_cap, st));
        /* walk/extend the trie */
        int32_t node = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t ch = tok->trie[node].child;
            while (ch >= 0 && tok->trie[ch].byte != s[i]) ch = tok->trie[ch].sibling;
            if (ch < 0) {
                VT_TRY(trie_node(tok, &cap, st));
                ch = tok->n_trie - 1;
                tok->trie[ch].byte = s[i];
                tok->trie[ch].sibling = tok->trie[node].child;
                tok->trie[node].child = ch;
            }
            node = ch;
        }
        if (tok->trie[node].id >= 0)
            return vt_fail(st, VT_EINPUT, "added_tokens[%d]: \"%s\" is already the content of id %d", k, content,
                           tok->trie[node].id);
        tok->trie[node].id = id;
        tok->starts[s[0]] = 1;
        tok->n_added++;
    }
    return VT_OK;
}
