/*
 * tokenizer_decode.c -- ids -> text, whole or streamed, and the lookups (id <-> token string).
 *
 * mirrors transformers.js PreTrainedTokenizer.decode(ids, {skip_special_tokens}) with the ByteLevel decoder
 * (decoders.ByteLevel.decode_chain), clean_up_tokenization_spaces false as the Qwen config says:
 *   - an id outside the vocabulary is no token at all (convert_ids_to_tokens gives undefined, which the
 *     decoder's join turns into ""): it decodes to nothing and does not interrupt the bytes around it;
 *   - an added token (special or not) is emitted as its content, and ends the run of byte-level tokens
 *     before it: that run is decoded on its own;
 *   - a run of vocabulary tokens is the concatenation of their bytes, decoded as UTF-8 with one U+FFFD per
 *     maximal ill-formed subpart (TextDecoder with fatal=false; Python's errors="replace").
 * The UTF-8 decoder is WHATWG's, fed one byte at a time, which is what makes the streaming decoder exact:
 * an incomplete character stays in the decoder's state until its last byte comes, and the text emitted so
 * far never depends on bytes not yet seen.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

/* ---------------------------------------------------------------- the UTF-8 decoder */

static size_t put_cp(char *o, uint32_t cp)
{
    unsigned char *u = (unsigned char *)o;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    u[0] = (unsigned char)(0xf0 | cp >> 18);
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

#define FFFD 0xfffd

static void utf8_reset(vt_tokenizer_stream *s)
{
    s->need = s->seen = 0;
    s->cp = 0;
    s->lo = 0x80;
    s->hi = 0xbf;
}

/* mirrors the WHATWG Encoding Standard's UTF-8 decoder (TextDecoder, fatal=false): one byte -> zero or one
 * character appended to s->out (room reserved by the caller). A byte that cannot continue the sequence
 * ends it with one U+FFFD and is looked at again as a new start. */
static void utf8_byte(vt_tokenizer_stream *s, unsigned char b)
{
    for (;;) {
        if (s->need == 0) {
            if (b < 0x80) s->out[s->n_out++] = (char)b;
            else if (b >= 0xc2 && b <= 0xdf) s->need = 1, s->cp = b & 0x1f;
            else if (b >= 0xe0 && b <= 0xef) {
                if (b == 0xe0) s->lo = 0xa0;
                if (b == 0xed) s->hi = 0x9f;
                s->need = 2, s->cp = b & 0x0f;
            } else if (b >= 0xf0 && b <= 0xf4) {
                if (b == 0xf0) s->lo = 0x90;
                if (b == 0xf4) s->hi = 0x8f;
                s->need = 3, s->cp = b & 0x07;
            } else {
                s->n_out += put_cp(s->out + s->n_out, FFFD);
            }
            return;
        }
        if (b < s->lo || b > s->hi) { /* the sequence so far is a maximal ill-formed subpart */
            utf8_reset(s);
            s->n_out += put_cp(s->out + s->n_out, FFFD);
            continue;
        }
        s->lo = 0x80;
        s->hi = 0xbf;
        s->cp = s->cp << 6 | (b & 0x3f);
        if (++s->seen == s->need) {
            s->n_out += put_cp(s->out + s->n_out, s->cp);
            utf8_reset(s);
        }
        return;
    }
}

/* end of a byte run: an incomplete sequence becomes one U+FFFD */
static void utf8_flush(vt_tokenizer_stream *s)
{
    if (s->need) {
        utf8_reset(s);
        s->n_out += put_cp(s->out + s->n_out, FFFD);
    }
}

static int out_reserve(vt_tokenizer_stream *s, size_t extra, vt_status *st)
{
    if (s->n_out + extra + 1 <= s->cap) return VT_OK;
    size_t c = s->cap ? s->cap : 256;
    while (c < s->n_out + extra + 1) c *= 2;
    char *p = realloc(s->out, c);
    if (!p) return vt_fail(st, VT_ERESOURCE, "out of memory (%zu bytes of decoded text)", c);
    s->out = p;
    s->cap = c;
    return VT_OK;
}

/* one id -> its text appended to s->out (ByteLevel decode_chain, one token at a time) */
static int feed(vt_tokenizer_stream *s, int32_t id, vt_status *st)
{
    const vt_tokenizer *tok = s->tok;
    if (id < 0 || id >= tok->n_ids || tok->kind[id] == VT_TOK_NONE) return VT_OK; /* decodes to nothing */
    int kind = tok->kind[id];
    if (kind == VT_TOK_SPECIAL && (s->flags & VT_DECODE_SKIP_SPECIAL)) return VT_OK; /* filtered out before */
    const unsigned char *b = tok->bytes + tok->off[id];
    size_t n = tok->len[id];
    /* at most 3 bytes out per byte in (U+FFFD for each), plus a U+FFFD for a flushed tail */
    VT_TRY(out_reserve(s, 3 * n + 3, st));
    if (kind == VT_TOK_VOCAB) {
        for (size_t i = 0; i < n; i++) utf8_byte(s, b[i]);
    } else { /* an added token: the run before it ends; its content is emitted as it is */
        utf8_flush(s);
        memcpy(s->out + s->n_out, b, n);
        s->n_out += n;
    }
    s->out[s->n_out] = 0;
    return VT_OK;
}

/* ---------------------------------------------------------------- streaming */

void vt_tokenizer_stream_init(vt_tokenizer_stream *s, const vt_tokenizer *tok, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->flags = flags;
    utf8_reset(s);
}

/* one generated id -> the text it completes (possibly none) */
int vt_tokenizer_stream_push(vt_tokenizer_stream *s, int32_t id, const char **piece, size_t *len, vt_status *st)
{
    s->n_out = 0;
    VT_TRY(out_reserve(s, 0, st));
    s->out[0] = 0;
    VT_TRY(feed(s, id, st));
    *piece = s->out;
    *len = s->n_out;
    return VT_OK;
}

/* the end of the ids: an incomplete character left over becomes U+FFFD */
int vt_tokenizer_stream_finish(vt_tokenizer_stream *s, const char **piece, size_t *len, vt_status *st)
{
    s->n_out = 0;
    VT_TRY(out_reserve(s, 3, st));
    utf8_flush(s);
    s->out[s->n_out] = 0;
    *piece = s->out;
    *len = s->n_out;
    return VT_OK;
}

void vt_tokenizer_stream_free(vt_tokenizer_stream *s)
{
    free(s->out);
    s->out = NULL;
    s->n_out = s->cap = 0;
}

/* ---------------------------------------------------------------- whole */

/* mirrors tokenizer.decode(ids): ids [n] -> text (the stream's pieces, one after another) */
int vt_tokenizer_decode(const vt_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len,
                        vt_status *st)
{
    *text = NULL;
    *len = 0;
    vt_tokenizer_stream s;
    vt_tokenizer_stream_init(&s, tok, flags);
    int rc = out_reserve(&s, 0, st);
    for (size_t i = 0; rc == VT_OK && i < n; i++) rc = feed(&s, ids[i], st);
    if (rc == VT_OK) rc = out_reserve(&s, 3, st);
    if (rc) {
        vt_tokenizer_stream_free(&s);
        return rc;
    }
    utf8_flush(&s);
    s.out[s.n_out] = 0;
    *text = s.out;
    *len = s.n_out;
    return VT_OK;
}

/* ---------------------------------------------------------------- lookups */

int32_t vt_tokenizer_n_ids(const vt_tokenizer *tok) { return tok->n_ids; }

int vt_tokenizer_is_special(const vt_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_ids && tok->kind[id] == VT_TOK_SPECIAL;
}

/* the vocabulary's spelling of id: each byte as its byte-level character; an added token's content */
size_t vt_tokenizer_token(const vt_tokenizer *tok, int32_t id, char *dst, size_t cap)
{
    if (id < 0 || id >= tok->n_ids || tok->kind[id] == VT_TOK_NONE) {
        if (cap) dst[0] = 0;
        return 0;
    }
    const unsigned char *b = tok->bytes + tok->off[id];
    size_t n = tok->len[id], k = 0;
    char ch[4];
    for (size_t i = 0; i < n; i++) {
        size_t w = 1;
        if (tok->kind[id] == VT_TOK_VOCAB) w = put_cp(ch, vt_tok_byte_to_unicode(b[i]));
        else ch[0] = (char)b[i];
        for (size_t j = 0; j < w; j++, k++)
            if (k + 1 < cap) dst[k] = ch[j];
    }
    if (cap) dst[k < cap ? k : cap - 1] = 0;
    return k;
}

/* an added token's content, or a vocabulary entry spelled in the byte-level alphabet -> its id; -1 if none */
int32_t vt_tokenizer_find(const vt_tokenizer *tok, const char *token)
{
    const unsigned char *s = (const unsigned char *)token;
    size_t n = strlen(token);
    if (n == 0) return -1;
    if (tok->n_trie) {
        int32_t node = 0;
        size_t i = 0;
        for (; i < n; i++) {
            int32_t ch = tok->trie[node].child;
            while (ch >= 0 && tok->trie[ch].byte != s[i]) ch = tok->trie[ch].sibling;
            if (ch < 0) break;
            node = ch;
        }
        if (i == n && tok->trie[node].id >= 0) return tok->trie[node].id;
    }
    unsigned char *bytes = malloc(n);
    if (!bytes) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n;) { /* byte-level characters are U+0021..U+0143: one or two UTF-8 bytes */
        uint32_t cp;
        if (s[i] < 0x80) cp = s[i++];
        else if (s[i] >= 0xc2 && s[i] <= 0xdf && i + 1 < n && (s[i + 1] & 0xc0) == 0x80)
            cp = (uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f), i += 2;
        else break;
        int b = vt_tok_unicode_to_byte(cp);
        if (b < 0) break;
        bytes[k++] = (unsigned char)b;
        if (i == n) {
            int32_t id = vt_tok_vocab_find(tok, bytes, k);
            free(bytes);
            return id >= 0 && tok->kind[id] == VT_TOK_VOCAB ? id : -1;
        }
    }
    free(bytes);
    return -1;
}
