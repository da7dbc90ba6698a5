/*
 * tokenizer_json.c -- reading tokenizer.json strictly (cJSON): the pipeline this tokenizer family uses, and
 * nothing else. Whatever the file says that the Qwen tokenizers do not use is refused with a message naming
 * it (rather than silently ignored), so a file from another family fails loudly instead of encoding wrongly.
 *
 * Accepted (docs/tokenizer.md#reading-tokenizerjson):
 *   version            a string
 *   truncation         null (or absent)        padding   null (or absent)
 *   added_tokens       [{"id", "content", "special", "single_word": false, "lstrip": false, "rstrip": false,
 *                        "normalized": false}]
 *   normalizer         {"type": "NFC"} or null
 *   pre_tokenizer      {"type": "Sequence", "pretokenizers": [
 *                         {"type": "Split", "pattern": {"Regex": R}, "behavior": "Isolated", "invert": false},
 *                         {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": any, "use_regex": false}]}
 *   post_processor     {"type": "ByteLevel", ...booleans} or null   (it only adjusts offsets)
 *   decoder            {"type": "ByteLevel", ...booleans}
 *   model              {"type": "BPE", "vocab": {...}, "merges": ["a b", ...] or [["a", "b"], ...],
 *                       "dropout": null, "unk_token": null, "continuing_subword_prefix": "" or null,
 *                       "end_of_word_suffix": "" or null, "fuse_unk": false, "byte_fallback": false,
 *                       "ignore_merges": false}   (absent optional fields take these defaults, as in HF)
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fileio.h"
#include "tokenizer/tokenizer_impl.h"

/* ---------------------------------------------------------------- strict field checks */

/* every field of obj is one of allowed[], each at most once */
static int check_fields(const cJSON *obj, const char *path, const char *const *allowed, vt_status *st)
{
    for (const cJSON *f = obj->child; f; f = f->next) {
        int known = 0;
        for (int j = 0; allowed[j]; j++) known |= strcmp(f->string, allowed[j]) == 0;
        if (!known) return vt_fail(st, VT_EINPUT, "%s: unknown field \"%s\" (not used by the Qwen tokenizers)", path, f->string);
        for (const cJSON *g = f->next; g; g = g->next)
            if (strcmp(f->string, g->string) == 0) return vt_fail(st, VT_EINPUT, "%s: \"%s\" appears twice", path, f->string);
    }
    return VT_OK;
}

/* obj[key] is a string equal to want */
static int expect_type(const cJSON *obj, const char *path, const char *want, vt_status *st)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(t)) return vt_fail(st, VT_EINPUT, "%s: \"type\" is missing", path);
    if (strcmp(t->valuestring, want) != 0)
        return vt_fail(st, VT_EINPUT, "%s: type \"%s\" is not supported (this tokenizer family uses \"%s\")", path,
                       t->valuestring, want);
    return VT_OK;
}

/* obj[key]: absent or a boolean; must equal `want` unless want < 0 (any boolean). dflt: the value when absent */
static int expect_bool(const cJSON *obj, const char *path, const char *key, int want, int dflt, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && !cJSON_IsBool(v)) return vt_fail(st, VT_EINPUT, "%s.%s is not a boolean", path, key);
    int val = v ? cJSON_IsTrue(v) : dflt;
    if (want >= 0 && val != want)
        return vt_fail(st, VT_EINPUT, "%s.%s: %s is not supported (only %s)", path, key, val ? "true" : "false",
                       want ? "true" : "false");
    return VT_OK;
}

/* obj[key]: absent or null, or (when empty_ok) the empty string */
static int expect_null(const cJSON *obj, const char *path, const char *key, int empty_ok, vt_status *st)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v) || (empty_ok && cJSON_IsString(v) && !v->valuestring[0])) return VT_OK;
    return vt_fail(st, VT_EINPUT, "%s.%s must be null%s here (this tokenizer family does not use it)", path, key,
                   empty_ok ? " or \"\"" : "");
}

/* ---------------------------------------------------------------- the pipeline's parts */

static const char *const byte_level_fields[] = {"type", "add_prefix_space", "trim_offsets", "use_regex", NULL};

/* {"type": "ByteLevel", ...}. As a pre-tokenizer after the Split it must neither add a prefix space nor run
 * its own GPT-2 regex (use_regex defaults to true in HF, so it must be given). As decoder or post-processor
 * its flags do not change ids or text. */
static int read_byte_level(const cJSON *o, const char *path, int as_pre_tokenizer, vt_status *st)
{
    if (!cJSON_IsObject(o)) return vt_fail(st, VT_EINPUT, "%s is not an object", path);
    VT_TRY(expect_type(o, path, "ByteLevel", st));
    VT_TRY(check_fields(o, path, byte_level_fields, st));
    VT_TRY(expect_bool(o, path, "add_prefix_space", as_pre_tokenizer ? 0 : -1, 1, st));
    VT_TRY(expect_bool(o, path, "trim_offsets", -1, 1, st));
    VT_TRY(expect_bool(o, path, "use_regex", as_pre_tokenizer ? 0 : -1, 1, st));
    return VT_OK;
}

/* {"type": "Sequence", "pretokenizers": [Split, ByteLevel]} -> the Split's regex */
static int read_pre_tokenizer(const cJSON *o, const char **pattern, vt_status *st)
{
    static const char *const seq_fields[] = {"type", "pretokenizers", NULL};
    static const char *const split_fields[] = {"type", "pattern", "behavior", "invert", NULL};
    static const char *const pattern_fields[] = {"Regex", NULL};
    if (!cJSON_IsObject(o)) return vt_fail(st, VT_EINPUT, "pre_tokenizer is missing or not an object");
    VT_TRY(expect_type(o, "pre_tokenizer", "Sequence", st));
    VT_TRY(check_fields(o, "pre_tokenizer", seq_fields, st));
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != 2)
        return vt_fail(st, VT_EINPUT, "pre_tokenizer.pretokenizers must be [Split, ByteLevel]");
    const cJSON *sp = list->child;
    const char *path = "pre_tokenizer.pretokenizers[0]";
    if (!cJSON_IsObject(sp)) return vt_fail(st, VT_EINPUT, "%s is not an object", path);
    VT_TRY(expect_type(sp, path, "Split", st));
    VT_TRY(check_fields(sp, path, split_fields, st));
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(sp, "pattern");
    if (!cJSON_IsObject(pat)) return vt_fail(st, VT_EINPUT, "%s.pattern is missing or not an object", path);
    if (cJSON_GetObjectItemCaseSensitive(pat, "String"))
        return vt_fail(st, VT_EINPUT, "%s.pattern: a \"String\" pattern is not supported (only \"Regex\")", path);
    VT_TRY(check_fields(pat, "pre_tokenizer.pretokenizers[0].pattern", pattern_fields, st));
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    if (!cJSON_IsString(re) || !re->valuestring[0])
        return vt_fail(st, VT_EINPUT, "%s.pattern.Regex is missing or empty", path);
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(sp, "behavior");
    if (!cJSON_IsString(beh)) return vt_fail(st, VT_EINPUT, "%s.behavior is missing", path);
    if (strcmp(beh->valuestring, "Isolated") != 0)
        return vt_fail(st, VT_EINPUT, "%s.behavior \"%s\" is not supported (only \"Isolated\")", path, beh->valuestring);
    VT_TRY(expect_bool(sp, path, "invert", 0, 0, st));
    VT_TRY(read_byte_level(sp->next, "pre_tokenizer.pretokenizers[1]", 1, st));
    *pattern = re->valuestring;
    return VT_OK;
}

/* {"type": "NFC"} or null -> tok->nfc */
static int read_normalizer(vt_tokenizer *tok, const cJSON *o, vt_status *st)
{
    static const char *const fields[] = {"type", NULL};
    if (!o || cJSON_IsNull(o)) return VT_OK;
    if (!cJSON_IsObject(o)) return vt_fail(st, VT_EINPUT, "normalizer is not an object or null");
    VT_TRY(expect_type(o, "normalizer", "NFC", st));
    VT_TRY(check_fields(o, "normalizer", fields, st));
    tok->nfc = 1;
    return VT_OK;
}

/* model: {"type": "BPE", ...} -> its vocab and merges (checked here, built by the caller) */
static int read_model(const cJSON *m, const cJSON **vocab, const cJSON **merges, vt_status *st)
{
    static const char *const fields[] = {"type", "dropout", "unk_token", "continuing_subword_prefix",
                                         "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges", "vocab",
                                         "merges", NULL};
    if (!cJSON_IsObject(m)) return vt_fail(st, VT_EINPUT, "model is missing or not an object");
    VT_TRY(expect_type(m, "model", "BPE", st));
    VT_TRY(check_fields(m, "model", fields, st));
    VT_TRY(expect_null(m, "model", "dropout", 0, st));
    VT_TRY(expect_null(m, "model", "unk_token", 0, st));
    VT_TRY(expect_null(m, "model", "continuing_subword_prefix", 1, st));
    VT_TRY(expect_null(m, "model", "end_of_word_suffix", 1, st));
    VT_TRY(expect_bool(m, "model", "fuse_unk", 0, 0, st));
    VT_TRY(expect_bool(m, "model", "byte_fallback", 0, 0, st));
    VT_TRY(expect_bool(m, "model", "ignore_merges", 0, 0, st));
    *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!cJSON_IsObject(*vocab)) return vt_fail(st, VT_EINPUT, "model.vocab is missing or not an object");
    if (!cJSON_IsArray(*merges)) return vt_fail(st, VT_EINPUT, "model.merges is missing or not an array");
    return VT_OK;
}

/* ---------------------------------------------------------------- the Split regex */

/* The Split regex as PCRE2 must see it: `\s` -> \p{White_Space}, `\S` -> \P{White_Space} (also inside
 * classes, where both forms are allowed). The Rust tokenizers' engine (Oniguruma) and transformers.js 4
 * take \s as Unicode White_Space; PCRE2's own \s (UCP) also matches U+180E MONGOLIAN VOWEL SEPARATOR, which
 * left White_Space in Unicode 6.3. Escapes whose meaning differs between Oniguruma and PCRE2 are refused:
 * \h \H (hex digit in Oniguruma, horizontal space in PCRE2), \w \W \b \B (word characters differ). \Q...\E
 * is copied untouched. */
static int translate_pattern(const char *in, char **out, vt_status *st)
{
    size_t n = strlen(in);
    char *o = malloc(n * 8 + 1); /* each 2-byte escape grows to at most 15 bytes */
    if (!o) return vt_fail(st, VT_ERESOURCE, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] != '\\' || i + 1 == n) {
            o[k++] = in[i++];
            continue;
        }
        char c = in[i + 1];
        if (c == 'Q') { /* quoted up to \E (or the end) */
            const char *e = strstr(in + i + 2, "\\E");
            size_t stop = e ? (size_t)(e - in) + 2 : n;
            memcpy(o + k, in + i, stop - i);
            k += stop - i;
            i = stop;
        } else if (c == 's' || c == 'S') {
            const char *rep = c == 's' ? "\\p{White_Space}" : "\\P{White_Space}";
            memcpy(o + k, rep, strlen(rep));
            k += strlen(rep);
            i += 2;
        } else if (strchr("hHwWbB", c)) {
            free(o);
            return vt_fail(st, VT_EINPUT, "pre_tokenizer.pretokenizers[0].pattern.Regex: \\%c is not supported (its "
                           "meaning differs between the tokenizers library's regex engine and PCRE2)", c);
        } else { /* any other escape, and \cX, copied as is */
            size_t len = c == 'c' && i + 2 < n ? 3 : 2;
            memcpy(o + k, in + i, len);
            k += len;
            i += len;
        }
    }
    o[k] = 0;
    *out = o;
    return VT_OK;
}

/* mirrors pre_tokenizers.Split's regex (onig::Regex in HF tokenizers) -> a PCRE2 program, UTF + UCP
 * (Unicode properties for \p{L}, \p{N}, caseless (?i:...)), JIT-compiled when the JIT is available. */
int vt_tok_compile_regex(vt_tokenizer *tok, const char *pattern, vt_status *st)
{
    tok->pattern = malloc(strlen(pattern) + 1);
    if (!tok->pattern) return vt_fail(st, VT_ERESOURCE, "out of memory");
    strcpy(tok->pattern, pattern);
    VT_TRY(translate_pattern(pattern, &tok->pattern_pcre, st));
    int err;
    PCRE2_SIZE at;
    tok->re = pcre2_compile((PCRE2_SPTR)tok->pattern_pcre, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!tok->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return vt_fail(st, VT_EINPUT, "pre_tokenizer.pretokenizers[0].pattern.Regex: %s (at offset %zu of \"%s\")",
                       (const char *)msg, (size_t)at, tok->pattern_pcre);
    }
    tok->jit = pcre2_jit_compile(tok->re, PCRE2_JIT_COMPLETE) == 0;
    tok->md = pcre2_match_data_create_from_pattern(tok->re, NULL);
    tok->mctx = pcre2_match_context_create(NULL);
    if (!tok->md || !tok->mctx) return vt_fail(st, VT_ERESOURCE, "out of memory (regex)");
    if (tok->jit) {
        tok->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (!tok->jit_stack) return vt_fail(st, VT_ERESOURCE, "out of memory (regex JIT stack)");
        pcre2_jit_stack_assign(tok->mctx, NULL, tok->jit_stack);
    }
    return VT_OK;
}

/* ---------------------------------------------------------------- the whole file */

/* the largest id in the vocabulary and the added tokens (before either is checked: the builders report), and
 * the vocabulary's size */
static int32_t max_id(const cJSON *vocab, const cJSON *added, int *n_vocab)
{
    int32_t m = -1;
    *n_vocab = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, ++*n_vocab)
        if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < VT_TOKENIZER_MAX_ID && e->valuedouble > m)
            m = (int32_t)e->valuedouble;
    for (const cJSON *e = added->child; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < VT_TOKENIZER_MAX_ID && id->valuedouble > m)
            m = (int32_t)id->valuedouble;
    }
    return m;
}

static int parse_root(vt_tokenizer *tok, const cJSON *root, vt_status *st)
{
    static const char *const fields[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                                         "pre_tokenizer", "post_processor", "decoder", "model", NULL};
    if (!cJSON_IsObject(root)) return vt_fail(st, VT_EINPUT, "not a JSON object");
    VT_TRY(check_fields(root, "tokenizer.json", fields, st));
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (version && !cJSON_IsString(version)) return vt_fail(st, VT_EINPUT, "version is not a string");
    VT_TRY(expect_null(root, "tokenizer.json", "truncation", 0, st));
    VT_TRY(expect_null(root, "tokenizer.json", "padding", 0, st));
    const cJSON *vocab = NULL, *merges = NULL;
    VT_TRY(read_model(cJSON_GetObjectItemCaseSensitive(root, "model"), &vocab, &merges, st));
    VT_TRY(read_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), st));
    const char *pattern = NULL;
    VT_TRY(read_pre_tokenizer(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &pattern, st));
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (post && !cJSON_IsNull(post)) VT_TRY(read_byte_level(post, "post_processor", 0, st));
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (!dec || cJSON_IsNull(dec)) return vt_fail(st, VT_EINPUT, "decoder is missing (this tokenizer family uses ByteLevel)");
    VT_TRY(read_byte_level(dec, "decoder", 0, st));
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsArray(added)) return vt_fail(st, VT_EINPUT, "added_tokens is missing or not an array");

    /* the id tables, then the vocabulary, the merges, the added tokens, the regex */
    int n_vocab;
    tok->n_ids = max_id(vocab, added, &n_vocab) + 1;
    size_t ni = (size_t)tok->n_ids + 1;
    tok->kind = calloc(ni, 1);
    tok->off = calloc(ni, sizeof *tok->off);
    tok->len = calloc(ni, sizeof *tok->len);
    if (!tok->kind || !tok->off || !tok->len) return vt_fail(st, VT_ERESOURCE, "out of memory (%d ids)", tok->n_ids);
    for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
    VT_TRY(vt_tok_build_vocab(tok, vocab, n_vocab, st));
    VT_TRY(vt_tok_build_merges(tok, merges, st));
    VT_TRY(vt_tok_build_added(tok, added, st));
    VT_TRY(vt_tok_compile_regex(tok, pattern, st));
    return VT_OK;
}

/* mirrors Tokenizer.from_file / AutoTokenizer.from_pretrained's tokenizer.json reading: bytes -> tokenizer */
int vt_tokenizer_parse(vt_tokenizer **out, const void *json, size_t len, vt_status *st)
{
    *out = NULL;
    const char *end = NULL, *js = json;
    cJSON *root = cJSON_ParseWithLengthOpts(js, len, &end, 0);
    size_t at = end && end >= js ? (size_t)(end - js) : 0;
    if (!root) return vt_fail(st, VT_EINPUT, "not valid JSON (error near byte %zu of %zu)", at, len);
    while (at < len && (js[at] == ' ' || js[at] == '\t' || js[at] == '\n' || js[at] == '\r')) at++;
    if (at < len) {
        cJSON_Delete(root);
        return vt_fail(st, VT_EINPUT, "not valid JSON (more after the value, at byte %zu of %zu)", at, len);
    }
    vt_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        cJSON_Delete(root);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    int rc = parse_root(tok, root, st);
    cJSON_Delete(root);
    if (rc) {
        vt_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return VT_OK;
}

int vt_tokenizer_load(vt_tokenizer **tok, const char *path, vt_status *st)
{
    *tok = NULL;
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        VT_TRY(vt_path_join(file, sizeof file, path, "tokenizer.json", st));
    else if (strlen(path) < sizeof file)
        strcpy(file, path);
    else
        return vt_fail(st, VT_EINPUT, "%s: path too long", path);
    void *buf;
    size_t len;
    VT_TRY(vt_read_file(file, &buf, &len, VT_TOKENIZER_MAX_FILE, st));
    int rc = vt_tokenizer_parse(tok, buf, len, st);
    free(buf);
    if (rc) return vt_wrap(st, "%s: ", file);
    return VT_OK;
}

void vt_tokenizer_free(vt_tokenizer *tok)
{
    if (!tok) return;
    free(tok->kind);
    free(tok->off);
    free(tok->len);
    free(tok->bytes);
    free(tok->vocab_slot);
    free(tok->merge_slot);
    free(tok->trie);
    free(tok->pattern);
    free(tok->pattern_pcre);
    pcre2_match_data_free(tok->md);
    pcre2_match_context_free(tok->mctx);
    pcre2_jit_stack_free(tok->jit_stack);
    pcre2_code_free(tok->re);
    vt_tok_cache_free(tok);
    free(tok->bpe_sym);
    free(tok->bpe_next);
    free(tok->bpe_prev);
    free(tok->bpe_heap);
    free(tok->rank_bucket);
    free(tok->buckets);
    free(tok->pool);
    free(tok->sort_tmp);
    free(tok);
}
