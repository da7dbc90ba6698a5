/* test_tokenizer_load.c -- reading tokenizer.json (every refusal gives one line naming what), the "a b"
 * form of the merges, the two BPE paths against each other, added tokens on a small hand-made tokenizer,
 * the NFC shortcut, and the memory and time of huge inputs (a 100,000-character word, 10 MB of spaces). */
#include "tok_golden.h"

#include <sys/resource.h>
#include <time.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_impl.h"

/* ---- a small tokenizer, built here: the 256 byte tokens, a few merges, four added tokens ---- */

/* a byte's byte-level character, as UTF-8 */
static void byte_char(unsigned char b, char *out)
{
    uint32_t cp = vt_tok_byte_to_unicode(b);
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
}

#define QWEN_REGEX                                                                                                   \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
    "\\s+(?!\\S)|\\s+"

/* merges of the small tokenizer: (left, right) in byte-level spelling, in rank order */
static const char *const small_merges[][2] = {
    {"\xc4\xa0", "t"}, {"h", "e"}, {"\xc4\xa0t", "he"}, {"a", "b"}, {"ab", "c"}, {"\xc4\xa0", "\xc4\xa0"},
};

/* the small tokenizer as compact JSON (malloc'ed) */
static char *small_tokenizer_json(void)
{
    cJSON *root = cJSON_CreateObject(), *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    static const char *const added_text[] = {"<|a|>", "<|ab|>", "<|abc|>", "xyz"};
    for (int i = 0; i < 4; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", 300 + i);
        cJSON_AddStringToObject(a, "content", added_text[i]);
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddBoolToObject(a, "special", i < 3);
        cJSON_AddItemToArray(added, a);
    }
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", QWEN_REGEX);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddFalseToObject(split, "invert");
    cJSON_AddItemToArray(list, split);
    const char *bl_names[] = {NULL, "post_processor", "decoder"};
    for (int k = 0; k < 3; k++) {
        cJSON *bl = cJSON_CreateObject();
        cJSON_AddStringToObject(bl, "type", "ByteLevel");
        cJSON_AddFalseToObject(bl, "add_prefix_space");
        cJSON_AddFalseToObject(bl, "trim_offsets");
        cJSON_AddFalseToObject(bl, "use_regex");
        if (k == 0) cJSON_AddItemToArray(list, bl);
        else cJSON_AddItemToObject(root, bl_names[k], bl);
    }
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "");
    cJSON_AddStringToObject(model, "end_of_word_suffix", "");
    cJSON_AddFalseToObject(model, "fuse_unk");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON_AddFalseToObject(model, "ignore_merges");
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char((unsigned char)b, c);
        cJSON_AddNumberToObject(vocab, c, b);
    }
    for (size_t k = 0; k < sizeof small_merges / sizeof small_merges[0]; k++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", small_merges[k][0], small_merges[k][1]);
        cJSON_AddNumberToObject(vocab, joined, 256 + (double)k);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(small_merges[k][0]));
        cJSON_AddItemToArray(pair, cJSON_CreateString(small_merges[k][1]));
        cJSON_AddItemToArray(merges, pair);
    }
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", merges);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(s);
    return s;
}

/* s with the first occurrence of `from` replaced by `to` (malloc'ed); fails if `from` is absent */
static char *replace1(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p) fail_msg("the small tokenizer has no \"%s\"", from);
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *r = malloc(n - fl + tl + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, p + fl, n - a - fl + 1);
    return r;
}

static int32_t *encode(vt_tokenizer *tok, const char *text, size_t *n)
{
    int32_t *ids;
    vt_status st = {0};
    if (vt_tokenizer_encode(tok, text, strlen(text), &ids, n, &st)) fail_msg("%s", st.msg);
    return ids;
}

static void test_tokenizer_small_and_added_tokens(void **state)
{
    (void)state;
    char *json = small_tokenizer_json();
    vt_tokenizer *tok;
    vt_status st = {0};
    assert_int_equal(vt_tokenizer_parse(&tok, json, strlen(json), &st), VT_OK);
    assert_int_equal(vt_tokenizer_n_ids(tok), 304);
    size_t n;
    /* " the": Ġ t -> Ġt, h e -> he, Ġt he -> Ġthe */
    int32_t *ids = encode(tok, " the", &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 258);
    free(ids);
    /* leftmost-longest: "<|abc|>" wins over "<|ab"... ; "<|a|" is no token; "xyz" (not special) too */
    ids = encode(tok, "<|a|><|abc|>q<|ab|xyz", &n);
    const int32_t want[] = {300, 302, 'q', '<', '|', 259, '|', 303};
    assert_true(tok_ids_equal("added tokens", ids, n, want, 8));
    char *text;
    size_t len;
    assert_int_equal(vt_tokenizer_decode(tok, ids, n, VT_DECODE_SKIP_SPECIAL, &text, &len, &st), VT_OK);
    assert_string_equal(text, "q<|ab|xyz");
    free(text);
    free(ids);
    /* added tokens are matched on the raw text, before NFC: "e\u0301" stays two pieces' worth */
    ids = encode(tok, "e\xcc\x81 e\xcc\x81", &n);
    assert_int_equal(vt_tokenizer_decode(tok, ids, n, 0, &text, &len, &st), VT_OK);
    assert_string_equal(text, "\xc3\xa9 \xc3\xa9");
    free(text);
    free(ids);
    assert_true(tok->monotone);
    vt_tokenizer_free(tok);
    /* a regex that matches empty strings: every character still encoded once, in order */
    char *empty = replace1(json, "\"Regex\":\"", "\"Regex\":\"x*|");
    assert_int_equal(vt_tokenizer_parse(&tok, empty, strlen(empty), &st), VT_OK);
    ids = encode(tok, "abxxc the", &n);
    assert_int_equal(vt_tokenizer_decode(tok, ids, n, 0, &text, &len, &st), VT_OK);
    assert_string_equal(text, "abxxc the");
    free(text);
    free(ids);
    vt_tokenizer_free(tok);
    free(empty);
    /* merges not in training order ("abc" made twice, by (ab, c) and then by (a, bc)): still exact, by the
     * heap path; a 150-byte piece "abcabc..." becomes 50 x "abc" */
    char *mut = replace1(json, "\"merges\":[", "\"merges\":[[\"b\",\"c\"],[\"a\",\"bc\"],");
    char *mut2 = replace1(mut, "\"vocab\":{", "\"vocab\":{\"bc\":262,");
    assert_int_equal(vt_tokenizer_parse(&tok, mut2, strlen(mut2), &st), VT_OK);
    assert_false(tok->monotone);
    char abc[151];
    for (int i = 0; i < 150; i++) abc[i] = "abc"[i % 3];
    abc[150] = 0;
    ids = encode(tok, abc, &n);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], 260);
    free(ids);
    vt_tokenizer_free(tok);
    free(mut);
    free(mut2);
    free(json);
}

/* ---- GPT-2's bytes_to_unicode, written out as in encoder.py, against the C map ---- */

static void test_tokenizer_byte_map(void **state)
{
    (void)state;
    uint32_t cs[256];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        cs[b] = printable ? (uint32_t)b : 0;
    }
    for (int b = 0; b < 256; b++)
        if (!cs[b] && !((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae))) cs[b] = 256 + (uint32_t)n++;
    assert_int_equal(n, 68);
    for (int b = 0; b < 256; b++) {
        assert_int_equal(vt_tok_byte_to_unicode((unsigned char)b), cs[b]);
        assert_int_equal(vt_tok_unicode_to_byte(cs[b]), b);
    }
    int inverse = 0;
    for (uint32_t cp = 0; cp < 0x400; cp++) inverse += vt_tok_unicode_to_byte(cp) >= 0;
    assert_int_equal(inverse, 256);
    assert_int_equal(vt_tok_byte_to_unicode(' '), 0x120);  /* G-dot */
    assert_int_equal(vt_tok_byte_to_unicode('\n'), 0x10a); /* C-dot */
}

/* ---- more merges than tokens (each three-letter token made by two merges): the merge table grows ---- */

static void test_tokenizer_merge_table_grows(void **state)
{
    (void)state;
    char *json = small_tokenizer_json();
    cJSON *root = cJSON_Parse(json);
    free(json);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char((unsigned char)b, c);
        cJSON_AddNumberToObject(vocab, c, b);
    }
    int id = 256;
    char t[4] = {0};
    for (int x = 0; x < 26; x++) /* every two-letter token, one merge each */
        for (int y = 0; y < 26; y++) {
            t[0] = (char)('a' + x), t[1] = (char)('a' + y), t[2] = 0;
            cJSON_AddNumberToObject(vocab, t, id++);
            char a[2] = {t[0], 0}, b[2] = {t[1], 0};
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(a));
            cJSON_AddItemToArray(pair, cJSON_CreateString(b));
            cJSON_AddItemToArray(merges, pair);
        }
    int first3 = id;
    for (int k = 0; k < 900; k++) { /* 900 three-letter tokens, each made by (xy, z) and by (x, yz) */
        t[0] = (char)('a' + k % 26), t[1] = (char)('a' + k / 26 % 26), t[2] = (char)('a' + k / 676), t[3] = 0;
        cJSON_AddNumberToObject(vocab, t, id++);
        char xy[3] = {t[0], t[1], 0}, z[2] = {t[2], 0}, x[2] = {t[0], 0}, yz[3] = {t[1], t[2], 0};
        const char *parts[2][2] = {{xy, z}, {x, yz}};
        for (int j = 0; j < 2; j++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(parts[j][0]));
            cJSON_AddItemToArray(pair, cJSON_CreateString(parts[j][1]));
            cJSON_AddItemToArray(merges, pair);
        }
    }
    cJSON_ReplaceItemInObjectCaseSensitive(model, "vocab", vocab);
    cJSON_ReplaceItemInObjectCaseSensitive(model, "merges", merges);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "added_tokens");
    cJSON_AddItemToObject(root, "added_tokens", cJSON_CreateArray());
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    vt_tokenizer *tok;
    vt_status st = {0};
    if (vt_tokenizer_parse(&tok, text, strlen(text), &st)) fail_msg("%s", st.msg);
    free(text);
    assert_int_equal(tok->n_merges, 676 + 1800);
    assert_true(tok->merge_mask + 1 >= 2 * (uint32_t)tok->n_merges); /* grown past its first size */
    assert_false(tok->monotone);                                      /* tokens made twice */
    for (int k = 0; k < 900; k += 7) {
        t[0] = (char)('a' + k % 26), t[1] = (char)('a' + k / 26 % 26), t[2] = (char)('a' + k / 676), t[3] = 0;
        size_t n;
        int32_t *ids = encode(tok, t, &n);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], first3 + k);
        free(ids);
    }
    vt_tokenizer_free(tok);
}

/* ---- every refusal: one line, exit code 2, naming the field ---- */

static void test_tokenizer_bad_json_refused(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *msg;
    } bad[] = {
        {"\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "model: type \"WordPiece\" is not supported"},
        {"\"type\":\"NFC\"", "\"type\":\"NFKC\"", "normalizer: type \"NFKC\" is not supported"},
        {"\"vocab\":", "\"vocabulary\":", "model: unknown field \"vocabulary\""},
        {"\"merges\":[", "\"merges\":[[\"q\",\"zz\"],", "merges[0] (\"q\", \"zz\"): \"zz\" is not in the vocabulary"},
        {"[\"h\",\"e\"]", "[\"h\",\"x\"]", "merges[1] (\"h\", \"x\"): the merged token \"hx\" is not in the vocabulary"},
        {"[\"h\",\"e\"]", "[\"h\",\"e\",\"l\"]", "merges[1] is not a pair of two strings"},
        {"[\"h\",\"e\"]", "\"h e\"", "merges[1] is a string but merges[0] a pair"},
        {"[\"h\",\"e\"]", "[\"a\",\"b\"]", "merges[3] (\"a\", \"b\") repeats merges[1]"},
        {"\"byte_fallback\":false", "\"byte_fallback\":true", "model.byte_fallback: true is not supported"},
        {"\"ignore_merges\":false", "\"ignore_merges\":true", "model.ignore_merges: true is not supported"},
        {"\"dropout\":null", "\"dropout\":0.1", "model.dropout must be null"},
        {"\"unk_token\":null", "\"unk_token\":\"<unk>\"", "model.unk_token must be null"},
        {"\"continuing_subword_prefix\":\"\"", "\"continuing_subword_prefix\":\"##\"", "model.continuing_subword_prefix"},
        {"\"truncation\":null", "\"truncation\":{}", "tokenizer.json.truncation must be null"},
        {"\"version\":\"1.0\"", "\"version\":\"1.0\",\"extra\":1", "tokenizer.json: unknown field \"extra\""},
        {"\"version\":\"1.0\"", "\"version\":\"1.0\",\"version\":\"2\"", "\"version\" appears twice"},
        {"\"behavior\":\"Isolated\"", "\"behavior\":\"Removed\"", "behavior \"Removed\" is not supported"},
        {"\"invert\":false", "\"invert\":true", "pretokenizers[0].invert: true is not supported"},
        {"{\"Regex\":", "{\"String\":", "a \"String\" pattern is not supported"},
        {"\"Regex\":\"", "\"Regex\":\"(", "pattern.Regex: missing closing parenthesis"},
        {"\"Regex\":\"", "\"Regex\":\"\\\\w+|", "\\w is not supported"},
        {"\"type\":\"Sequence\"", "\"type\":\"Metaspace\"", "pre_tokenizer: type \"Metaspace\" is not supported"},
        {"\"type\":\"Split\"", "\"type\":\"Digits\"", "pretokenizers[0]: type \"Digits\" is not supported"},
        {"\"add_prefix_space\":false", "\"add_prefix_space\":true", "pretokenizers[1].add_prefix_space: true"},
        {"\"use_regex\":false", "\"trim_offsets2\":false", "pretokenizers[1]: unknown field \"trim_offsets2\""},
        {"\"use_regex\":false}]", "\"use_regex\":true}]", "pretokenizers[1].use_regex: true is not supported"},
        {"\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"WordPiece\"", "decoder: type \"WordPiece\""},
        {"\"lstrip\":false", "\"lstrip\":true", "added_tokens[0] (\"<|a|>\"): \"lstrip\": true is not supported"},
        {"\"normalized\":false", "\"normalized\":true", "added_tokens[0] (\"<|a|>\"): \"normalized\": true"},
        {"\"content\":\"<|ab|>\"", "\"content\":\"<|a|>\"", "added_tokens[1]: \"<|a|>\" is already the content of id 300"},
        {"\"id\":301", "\"id\":300", "added_tokens[1] (\"<|ab|>\"): id 300 is already taken"},
        {"\"id\":301", "\"id\":65", "added_tokens[1] (\"<|ab|>\"): id 65 is also in model.vocab"},
        {"\"id\":301", "\"id\":-1", "added_tokens[1] (\"<|ab|>\"): \"id\" is missing or not an integer"},
        {"\"id\":301", "\"id\":1.5", "added_tokens[1] (\"<|ab|>\"): \"id\" is missing or not an integer"},
        {"\"content\":\"<|ab|>\"", "\"content\":\"\"", "added_tokens[1]: \"content\" is missing"},
        {"\"content\":\"<|ab|>\"", "\"content\":\"\\u00ff\\udc00\"", "not valid JSON"},
        {"\"special\":true", "\"special\":1", "\"special\" is not a boolean"},
        {"\"a\":97", "\"a\":98", "model.vocab: id 98 is given to two tokens"},
        {"\"a\":97", "\"a\":2097152", "model.vocab[\"a\"]: the id is not an integer"},
        {"\"a\":97", "\"\\u0100a\":97", "model.vocab has no token for the byte 0x61 (\"a\")"},
        {"\"a\":97", "\"a \":97", "model.vocab[\"a \"] (id 97): U+0020 is not in the byte-level alphabet"},
        {"\"b\":98", "\"a\":98", "model.vocab: \"a\" appears twice"},
        {"\"added_tokens\":[", "\"added_tokens\":[1,", "added_tokens[0] is not an object"},
        {"{\"version\"", "[{\"version\"", "not valid JSON"},
        {"{\"version\"", "7 {\"version\"", "not valid JSON"},
    };
    char *json = small_tokenizer_json();
    int failed = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *mut = replace1(json, bad[i].from, bad[i].to);
        vt_tokenizer *tok = (vt_tokenizer *)1;
        vt_status st = {0};
        int rc = vt_tokenizer_parse(&tok, mut, strlen(mut), &st);
        if (rc != VT_EINPUT || tok != NULL || !strstr(st.msg, bad[i].msg) || strchr(st.msg, '\n')) {
            print_error("case %zu (%s -> %s): rc %d, message \"%s\"; wanted \"%s\"\n", i, bad[i].from, bad[i].to, rc,
                        st.msg, bad[i].msg);
            failed++;
        }
        if (rc == VT_OK) vt_tokenizer_free(tok);
        free(mut);
    }
    /* a file cut short, at every 97th byte */
    size_t len = strlen(json);
    for (size_t cut = 0; cut < len; cut += 97) {
        vt_tokenizer *tok;
        vt_status st = {0};
        int rc = vt_tokenizer_parse(&tok, json, cut, &st);
        if (rc != VT_EINPUT || !strstr(st.msg, "not valid JSON")) {
            print_error("cut at %zu: rc %d, \"%s\"\n", cut, rc, st.msg);
            failed++;
        }
    }
    /* missing pieces: each field removed */
    static const char *const fields[] = {"model", "vocab", "merges", "decoder", "pre_tokenizer", "added_tokens"};
    static const char *const want[] = {"model is missing", "model.vocab is missing", "model.merges is missing",
                                       "decoder is missing", "pre_tokenizer is missing", "added_tokens is missing"};
    for (int k = 0; k < 6; k++) {
        cJSON *root = cJSON_Parse(json);
        cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
        cJSON_DeleteItemFromObjectCaseSensitive(k == 1 || k == 2 ? model : root, fields[k]);
        char *mut = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        vt_tokenizer *tok;
        vt_status st = {0};
        int rc = vt_tokenizer_parse(&tok, mut, strlen(mut), &st);
        if (rc != VT_EINPUT || !strstr(st.msg, want[k])) {
            print_error("without %s: rc %d, \"%s\"\n", fields[k], rc, st.msg);
            failed++;
        }
        free(mut);
    }
    free(json);
    assert_int_equal(failed, 0);
}

/* the same refusals reached through a file: the message starts with the path */
static void test_tokenizer_load_paths(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    vt_tokenizer *tok;
    vt_status st = {0};
    assert_int_equal(vt_tokenizer_load(&tok, dir, &st), VT_EINPUT); /* a directory without tokenizer.json */
    assert_non_null(strstr(st.msg, "tokenizer.json"));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    vt_test_write_file(path, "{\"model\": 3", 11);
    assert_int_equal(vt_tokenizer_load(&tok, dir, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, path));
    assert_non_null(strstr(st.msg, "not valid JSON (error near byte 10 of 11)"));
    char *json = small_tokenizer_json();
    vt_test_write_file(path, json, strlen(json));
    free(json);
    assert_int_equal(vt_tokenizer_load(&tok, path, &st), VT_OK);
    vt_tokenizer_free(tok);
    assert_int_equal(vt_tokenizer_load(&tok, dir, &st), VT_OK);
    vt_tokenizer_free(tok);
    vt_test_rmtree(dir);
}

/* ---- the real file with "a b" merges (the older form, Qwen2-VL's file) gives the same ids ---- */

static void test_tokenizer_string_merges_same_ids(void **state)
{
    (void)state;
    cJSON *root = tok_golden_json("tokenizer.json");
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "merges");
    cJSON *strs = cJSON_CreateArray();
    int n_pairs = 0;
    for (const cJSON *p = merges->child; p; p = p->next, n_pairs++) {
        assert_true(cJSON_IsArray(p));
        char s[1024];
        snprintf(s, sizeof s, "%s %s", p->child->valuestring, p->child->next->valuestring);
        cJSON_AddItemToArray(strs, cJSON_CreateString(s));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "merges", strs);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(strstr(text, "\"merges\":[\"\xc4\xa0 \xc4\xa0\",")); /* really rewritten */
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    vt_test_write_file(path, text, strlen(text));
    free(text);
    vt_tokenizer *tok;
    vt_status st = {0};
    if (vt_tokenizer_load(&tok, dir, &st)) fail_msg("%s", st.msg);
    cJSON *cases = tok_golden_json("cases.json");
    int bad = 0, n = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        size_t ni, nw;
        int32_t *ids = encode(tok, tok_json_str(c, "text"), &ni);
        int32_t *want = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &nw);
        bad += !tok_ids_equal(tok_json_str(c, "name"), ids, ni, want, nw);
        free(ids);
        free(want);
    }
    printf("  %d merges rewritten as \"a b\"; %d cases.json texts, %d differ\n", n_pairs, n, bad);
    cJSON_Delete(cases);
    vt_tokenizer_free(tok);
    vt_test_rmtree(dir);
    assert_int_equal(bad, 0);
}

/* ---- the three BPE paths agree ---- */

static void test_tokenizer_bpe_paths_agree(void **state)
{
    (void)state;
    vt_tokenizer *tok;
    vt_status st = {0};
    if (vt_tokenizer_load(&tok, TOK_JSON, &st)) fail_msg("%s", st.msg);
    cJSON *cases = tok_golden_json("cases.json");
    int32_t a[128], b[128], c3[128];
    long compared = 0, bad = 0;
    assert_true(tok->monotone); /* Qwen's merges are in training order: all three paths run */
    uint32_t rng = 12345;
    for (const cJSON *c = cases->child; c; c = c->next) {
        const unsigned char *s = (const unsigned char *)tok_json_str(c, "text");
        size_t n = strlen((const char *)s);
        for (size_t at = 0; at < n; at += 3)
            for (size_t len = 1; len <= 128 && at + len <= n; len += 1 + len / 4) {
                size_t ma, mb, mc;
                assert_int_equal(vt_tok_bpe(tok, s + at, len, a, &ma, VT_TOK_BPE_SCAN, &st), VT_OK);
                assert_int_equal(vt_tok_bpe(tok, s + at, len, b, &mb, VT_TOK_BPE_HEAP, &st), VT_OK);
                assert_int_equal(vt_tok_bpe(tok, s + at, len, c3, &mc, VT_TOK_BPE_BUCKETS, &st), VT_OK);
                compared++;
                if (ma != mb || memcmp(a, b, ma * sizeof *a) || ma != mc || memcmp(a, c3, ma * sizeof *a)) {
                    if (!bad) print_error("%s at %zu, %zu bytes: the paths differ\n", tok_json_str(c, "name"), at, len);
                    bad++;
                }
            }
    }
    /* random bytes and runs of a few characters (many equal ranks) */
    unsigned char w[128];
    for (int k = 0; k < 20000; k++) {
        size_t len = 1 + k % 128;
        const char *alpha = k % 3 == 0 ? " \n" : k % 3 == 1 ? "ab \xe4\xbd\xa0" : NULL;
        for (size_t i = 0; i < len; i++) {
            rng = rng * 1103515245u + 12345u;
            w[i] = alpha ? (unsigned char)alpha[(rng >> 16) % strlen(alpha)] : (unsigned char)(rng >> 16);
        }
        size_t ma, mb, mc;
        assert_int_equal(vt_tok_bpe(tok, w, len, a, &ma, VT_TOK_BPE_SCAN, &st), VT_OK);
        assert_int_equal(vt_tok_bpe(tok, w, len, b, &mb, VT_TOK_BPE_HEAP, &st), VT_OK);
        assert_int_equal(vt_tok_bpe(tok, w, len, c3, &mc, VT_TOK_BPE_BUCKETS, &st), VT_OK);
        compared++;
        if (ma != mb || memcmp(a, b, ma * sizeof *a) || ma != mc || memcmp(a, c3, ma * sizeof *a)) {
            if (!bad) print_error("random string %d (%zu bytes): the paths differ\n", k, len);
            bad++;
        }
    }
    printf("  %ld pieces through the three BPE paths, %ld differ\n", compared, bad);
    cJSON_Delete(cases);
    vt_tokenizer_free(tok);
    assert_int_equal(bad, 0);
}

/* ---- the NFC shortcut: text whose code points are all below U+0300 is already NFC ---- */

static void test_tokenizer_nfc_shortcut_holds(void **state)
{
    (void)state;
    long bad = 0;
    for (uint32_t a = 1; a < 0x300; a++)
        for (uint32_t b = 1; b < 0x300; b++) {
            utf8proc_uint8_t s[8], *out = NULL;
            utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)a, s);
            n += utf8proc_encode_char((utf8proc_int32_t)b, s + n);
            utf8proc_ssize_t r = utf8proc_map(s, n, &out, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (r != n || memcmp(out, s, (size_t)n) != 0) {
                if (!bad) print_error("NFC changes U+%04X U+%04X\n", (unsigned)a, (unsigned)b);
                bad++;
            }
            free(out);
        }
    assert_int_equal(bad, 0);
}

/* ---- huge inputs: time and memory bounded, and the bytes survive ---- */

static long max_rss_kb(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_maxrss;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void huge(vt_tokenizer *tok, const char *what, const char *text, size_t n)
{
    long rss0 = max_rss_kb();
    double t0 = seconds();
    int32_t *ids;
    size_t m, len;
    vt_status st = {0};
    if (vt_tokenizer_encode(tok, text, n, &ids, &m, &st)) fail_msg("%s: %s", what, st.msg);
    double t = seconds() - t0;
    char *back;
    assert_int_equal(vt_tokenizer_decode(tok, ids, m, 0, &back, &len, &st), VT_OK);
    int same = len == n && memcmp(back, text, n) == 0;
    long grew = max_rss_kb() - rss0;
    printf("  %-34s %9zu bytes -> %7zu ids in %.2f s, peak RSS +%ld MB\n", what, n, m, t, grew / 1024);
    free(back);
    free(ids);
    assert_true(same);
    /* linear memory: under 64 bytes per input byte, sanitizer overhead included */
    assert_true(grew < (long)(64 * n / 1024) + 65536);
}

static void test_tokenizer_huge_inputs(void **state)
{
    (void)state;
    vt_tokenizer *tok;
    vt_status st = {0};
    if (vt_tokenizer_load(&tok, TOK_JSON, &st)) fail_msg("%s", st.msg);
    size_t n = 100000;
    char *s = malloc(10000001);
    uint32_t rng = 7;
    for (size_t i = 0; i < n; i++) {
        rng = rng * 1103515245u + 12345u;
        s[i] = (char)('a' + (rng >> 16) % 26);
    }
    huge(tok, "a 100,000-letter word", s, n);
    for (size_t i = 0; i < n; i += 3) memcpy(s + i, "\xe4\xbd\xa0", 3); /* 33,333 x U+4F60 in one piece */
    huge(tok, "a 33,333-character CJK word", s, n - n % 3);
    memset(s, ' ', 10000000);
    huge(tok, "10 MB of spaces", s, 10000000);
    s[9999999] = 'x';
    huge(tok, "10 MB of spaces, then a letter", s, 10000000);
    for (size_t i = 0; i < 10000000; i++) s[i] = i % 5 == 4 ? ' ' : (char)('a' + i % 7);
    huge(tok, "10 MB of short words", s, 10000000);
    /* the word cache stays bounded: the last run met a few distinct words; now 200,000 */
    for (size_t i = 0; i < 200000; i++) { /* " w" and four letters: i in base 26 */
        char *w = s + 6 * i;
        w[0] = ' ', w[1] = 'w';
        for (size_t k = 0, v = i; k < 4; k++, v /= 26) w[2 + k] = (char)('a' + v % 26);
    }
    huge(tok, "200,000 distinct words", s, 1200000);
    assert_true(tok->cache_used <= VT_TOK_CACHE_SLOTS / 2 && tok->cache_slots == VT_TOK_CACHE_SLOTS);
    assert_true(tok->cache_keys_cap <= VT_TOK_CACHE_POOL && tok->cache_ids_cap <= VT_TOK_CACHE_POOL);
    free(s);
    vt_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_small_and_added_tokens),
        cmocka_unit_test(test_tokenizer_byte_map),
        cmocka_unit_test(test_tokenizer_merge_table_grows),
        cmocka_unit_test(test_tokenizer_bad_json_refused),
        cmocka_unit_test(test_tokenizer_load_paths),
        cmocka_unit_test(test_tokenizer_string_merges_same_ids),
        cmocka_unit_test(test_tokenizer_bpe_paths_agree),
        cmocka_unit_test(test_tokenizer_nfc_shortcut_holds),
        cmocka_unit_test(test_tokenizer_huge_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
