/*
 * tokenizer.h -- the Qwen byte-level BPE tokenizer (Qwen2 / Qwen2.5 / Qwen2-VL / Qwen2.5-VL / Qwen3 share its
 * vocabulary, merges and vision token ids) read from a Hugging Face tokenizer.json, as the Hugging Face
 * tokenizers library runs it (the reference: transformers.js 4.3.2, which follows the Rust `tokenizers`).
 *
 * The folder ref/tokenizer/ holds this tokenizer (tokenizer_*.c) and the Qwen2-VL chat prompt built on it
 * (chat.h, chat.c). It may include ref/core/ and ref/io/ (and itself), nothing else; like the rest of ref/
 * it never prints and writes no file. Public names: vt_tokenizer_<stage> for the tokenizer, vt_chat_<stage>
 * for the chat prompt (chat.h).
 *
 * Usage (what `vlmtrace tokenize` and `generate --prompt` do):
 *
 *     vt_tokenizer *tok;
 *     VT_TRY(vt_tokenizer_load(&tok, "Qwen2-VL-2B-Instruct", st));   // a directory or a tokenizer.json
 *
 *     int32_t *ids; size_t n;
 *     VT_TRY(vt_tokenizer_encode(tok, text, strlen(text), &ids, &n, st));   // text: UTF-8 (else VT_EINPUT)
 *     ... free(ids);
 *
 *     char *s; size_t len;                                                 // ids -> text, NUL-terminated
 *     VT_TRY(vt_tokenizer_decode(tok, ids, n, 0, &s, &len, st));  ... free(s);
 *
 *     vt_tokenizer_stream ds;                                              // while generating:
 *     vt_tokenizer_stream_init(&ds, tok, 0);
 *     for each new id:  { const char *piece; size_t k;
 *                         VT_TRY(vt_tokenizer_stream_push(&ds, id, &piece, &k, st)); fwrite(piece, 1, k, stdout); }
 *     VT_TRY(vt_tokenizer_stream_finish(&ds, &piece, &k, st));  fwrite(piece, 1, k, stdout);
 *     vt_tokenizer_stream_free(&ds);
 *
 *     vt_tokenizer_free(tok);
 *
 * For the chat prompt with image and video pads expanded, see chat.h (vt_chat_prompt, vt_chat_encode).
 *
 * Ownership: vt_tokenizer_load allocates the tokenizer, vt_tokenizer_free frees it. Every ids array and
 * text returned through a pointer argument is malloc'ed and the caller frees it with free(); on failure
 * nothing is left allocated and the outputs are NULL / 0. The stream's pieces point into the stream and
 * stay valid until its next call.
 *
 * Threads: encoding fills the tokenizer's word cache, so a vt_tokenizer is used by one thread at a time
 * (decoding and the lookups only read it).
 *
 * Bytes: text is UTF-8, passed as char pointers with a length; inside, bytes are unsigned char throughout.
 * Encoding refuses invalid UTF-8 (VT_EINPUT, naming the byte offset), as the reference's strings cannot
 * hold it. Decoding never fails on ids: an id outside the vocabulary decodes to nothing, and a byte
 * sequence that is not UTF-8 becomes one U+FFFD per maximal ill-formed subpart (Python's
 * errors="replace", WHATWG).
 *
 * The pipeline, one function per stage (docs/tokenizer.md): added tokens split out of the raw text
 * (leftmost-longest exact matches) -> NFC (utf8proc) -> the Split regex (PCRE2, UTF + UCP, `\s` as
 * \p{White_Space}) -> bytes (the GPT-2 byte-to-unicode map) -> BPE merges by rank -> ids.
 */
#ifndef VT_TOKENIZER_H
#define VT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct vt_tokenizer vt_tokenizer;

/* tokenizer.json files larger than this are refused before reading (the Qwen one is 11 MB). */
#define VT_TOKENIZER_MAX_FILE ((size_t)256 << 20)
/* Ids at or above this are refused in tokenizer.json (Qwen's largest is 151668; the tables take 13 bytes per
 * id up to the largest, so a file cannot make them large with one huge id). */
#define VT_TOKENIZER_MAX_ID (1 << 21)

/* Read `path`: a tokenizer.json, or a directory holding one (a model directory). VT_EINPUT names the file
 * and what in it is malformed or not supported; *tok is NULL on failure. */
int vt_tokenizer_load(vt_tokenizer **tok, const char *path, vt_status *st);
/* The same from tokenizer.json's bytes in memory (the fuzz target's entry point). */
int vt_tokenizer_parse(vt_tokenizer **tok, const void *json, size_t len, vt_status *st);
void vt_tokenizer_free(vt_tokenizer *tok);

/* text (len bytes of UTF-8, need not be NUL-terminated) -> *ids [*n] (malloc'ed). tokenizer.encode(text):
 * add_special_tokens adds nothing for this tokenizer. */
int vt_tokenizer_encode(vt_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *n, vt_status *st);

/* Flags of the decoders. */
#define VT_DECODE_SKIP_SPECIAL 1u /* leave out added tokens marked "special" (skip_special_tokens=True) */

/* ids [n] -> *text (malloc'ed, NUL-terminated, *len bytes without the NUL). tokenizer.decode(ids,
 * skip_special_tokens=false unless flags say so, clean_up_tokenization_spaces=false). */
int vt_tokenizer_decode(const vt_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len,
                        vt_status *st);

/* Streaming decode: each push returns the text that is complete so far (possibly empty); the bytes of a
 * character split over several tokens are held back until it is whole, so it is printed once. finish
 * flushes an incomplete tail as U+FFFD. The pieces concatenated equal vt_tokenizer_decode of all ids. */
typedef struct vt_tokenizer_stream {
    const vt_tokenizer *tok;
    unsigned flags;
    /* the UTF-8 decoder's state between tokens (WHATWG's "UTF-8 decoder"): */
    uint32_t cp;         /* the code point being assembled */
    int need, seen;      /* continuation bytes needed / seen so far */
    unsigned lo, hi;     /* the range the next continuation byte must be in */
    char *out;           /* the current piece (owned) */
    size_t n_out, cap;
} vt_tokenizer_stream;

void vt_tokenizer_stream_init(vt_tokenizer_stream *s, const vt_tokenizer *tok, unsigned flags);
int vt_tokenizer_stream_push(vt_tokenizer_stream *s, int32_t id, const char **piece, size_t *len, vt_status *st);
int vt_tokenizer_stream_finish(vt_tokenizer_stream *s, const char **piece, size_t *len, vt_status *st);
void vt_tokenizer_stream_free(vt_tokenizer_stream *s);

/* ---- lookups ---- */

/* 1 + the largest id (vocabulary and added tokens): 151669 for Qwen3's file. */
int32_t vt_tokenizer_n_ids(const vt_tokenizer *tok);
/* The id of a token given by its text (an added token's content, e.g. "<|image_pad|>", or a vocabulary
 * entry in its byte-level spelling, e.g. "Ġworld"); -1 if there is none. */
int32_t vt_tokenizer_find(const vt_tokenizer *tok, const char *token);
/* The token string of id as the vocabulary spells it (byte-level alphabet: "Ġ" a space, "Ċ" a newline;
 * an added token's content as is). Writes at most cap bytes with a NUL (snprintf-like) and returns the
 * length it needs; 0 for an id outside the vocabulary. */
size_t vt_tokenizer_token(const vt_tokenizer *tok, int32_t id, char *dst, size_t cap);
/* 1 if id is an added token marked "special" (<|im_end|>, <|image_pad|>, ...). */
int vt_tokenizer_is_special(const vt_tokenizer *tok, int32_t id);

/* Empty the BPE word cache (benchmarks: a cold encode). */
void vt_tokenizer_cache_clear(vt_tokenizer *tok);

/* Text must be UTF-8: VT_EINPUT naming `what` and the offset of the first byte that is not (the stage
 * every encode starts with; exposed for the command line and the chat prompt). */
int vt_tokenizer_check_utf8(const char *text, size_t len, const char *what, vt_status *st);

#endif
