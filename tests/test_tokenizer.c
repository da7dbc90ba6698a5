/* test_tokenizer.c -- the Qwen tokenizer against transformers.js (notebooks-data/reference/tokenizer/):
 * every case of cases.json (ids, token strings, decoded text), decode.json (text, token strings), chat.json
 * (template output, expanded prompt, ids), the streaming decoder over every "-prefixes-" family, the
 * U+180E whitespace rule, and invalid UTF-8. Each test reports every failing case, then fails. */
#include "tok_golden.h"

static vt_tokenizer *tok;

static int setup(void **state)
{
    (void)state;
    vt_status st = {0};
    if (vt_tokenizer_load(&tok, TOK_JSON, &st)) {
        fprintf(stderr, "%s\n", st.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vt_tokenizer_free(tok);
    return 0;
}

/* ---- cases.json ---- */

static int check_case(const cJSON *c)
{
    const char *name = tok_json_str(c, "name"), *text = tok_json_str(c, "text"), *decoded = tok_json_str(c, "decoded");
    size_t nw, n, len;
    int32_t *want = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &nw), *ids;
    vt_status st = {0};
    int ok = 1;
    if (vt_tokenizer_encode(tok, text, strlen(text), &ids, &n, &st)) {
        print_error("%s: %s\n", name, st.msg);
        free(want);
        return 0;
    }
    ok &= tok_ids_equal(name, ids, n, want, nw);
    /* the token strings, as the vocabulary spells them */
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(c, "tokens");
    size_t i = 0;
    for (const cJSON *t = tokens->child; t && i < n; t = t->next, i++) {
        char buf[1024];
        size_t k = vt_tokenizer_token(tok, ids[i], buf, sizeof buf);
        if (k >= sizeof buf || strcmp(buf, t->valuestring) != 0) {
            print_error("%s: token [%zu] (id %d) is \"%s\", reference \"%s\"\n", name, i, ids[i], buf, t->valuestring);
            ok = 0;
            break;
        }
    }
    if ((size_t)cJSON_GetArraySize(tokens) != n) ok = 0;
    char *out;
    if (vt_tokenizer_decode(tok, ids, n, 0, &out, &len, &st)) {
        print_error("%s: decode: %s\n", name, st.msg);
        ok = 0;
    } else {
        ok &= tok_text_equal(name, "decoded", out, len, decoded);
        free(out);
    }
    free(ids);
    free(want);
    return ok;
}

static void test_tokenizer_cases(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("cases.json");
    int n = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) bad += !check_case(c);
    /* once more with a warm word cache (the cache must not change an id) */
    for (const cJSON *c = cases->child; c; c = c->next) bad += !check_case(c);
    printf("  cases.json: %d texts, %d failures (cold and warm cache)\n", n, bad);
    cJSON_Delete(cases);
    assert_int_equal(n, 65);
    assert_int_equal(bad, 0);
}

/* Unicode White_Space, not PCRE2's \s: U+180E (a format character since Unicode 6.3) is not a space, so in
 * " \u180Ex" the space does not stay alone before it ("\s+(?!\S)" would otherwise split differently). The
 * ids are the reference's (HF tokenizers / transformers.js 4). */
static void test_tokenizer_mongolian_vowel_separator(void **state)
{
    (void)state;
    static const int32_t want[] = {86089, 254, 236, 87};
    const char *text = " \xe1\xa0\x8ex";
    int32_t *ids;
    size_t n;
    vt_status st = {0};
    assert_int_equal(vt_tokenizer_encode(tok, text, strlen(text), &ids, &n, &st), VT_OK);
    int ok = tok_ids_equal("\" \\u180Ex\"", ids, n, want, 4);
    free(ids);
    assert_true(ok);
}

/* ---- decode.json ---- */

static void test_tokenizer_decode_cases(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("decode.json");
    int n = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = tok_json_str(c, "name");
        size_t ni, len;
        int32_t *ids = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &ni);
        char *out;
        vt_status st = {0};
        assert_int_equal(vt_tokenizer_decode(tok, ids, ni, 0, &out, &len, &st), VT_OK);
        int ok = tok_text_equal(name, "decoded", out, len, tok_json_str(c, "decoded"));
        free(out);
        size_t i = 0;
        for (const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "tokens")->child; t; t = t->next, i++) {
            char buf[1024];
            size_t k = vt_tokenizer_token(tok, ids[i], buf, sizeof buf);
            int same = cJSON_IsNull(t) ? k == 0 : (k < sizeof buf && !strcmp(buf, t->valuestring));
            if (!same) {
                print_error("%s: token [%zu] (id %d) is \"%s\", reference %s\n", name, i, ids[i], buf,
                            cJSON_IsNull(t) ? "null" : t->valuestring);
                ok = 0;
            }
        }
        bad += !ok;
        free(ids);
    }
    printf("  decode.json: %d cases, %d failures\n", n, bad);
    cJSON_Delete(cases);
    assert_int_equal(n, 45);
    assert_int_equal(bad, 0);
}

/* a string is whole UTF-8 (no character cut) */
static int whole_utf8(const char *s, size_t n)
{
    vt_status st = {0};
    return vt_tokenizer_check_utf8(s, n, "piece", &st) == VT_OK;
}

/* Each "-prefixes-" family (K of N = the first K ids of one encoding) fed id by id to the streaming decoder:
 * every piece is whole UTF-8; after K ids the text so far plus what a flush would add (nothing, or one
 * U+FFFD for a held-back incomplete character) is the reference's decode of the first K ids; and the pieces
 * plus the final flush are the decode of all N. */
static void test_tokenizer_stream_prefix_families(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("decode.json");
    int families = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next) {
        const char *name = tok_json_str(c, "name"), *p = strstr(name, "-prefixes-");
        int k, total;
        if (!p || sscanf(p, "-prefixes-%dof%d", &k, &total) != 2 || k != total) continue;
        families++;
        size_t n;
        int32_t *ids = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &n);
        vt_tokenizer_stream ds;
        vt_tokenizer_stream_init(&ds, tok, 0);
        char acc[4096] = "";
        size_t acc_n = 0;
        vt_status st = {0};
        for (size_t i = 0; i < n; i++) {
            const char *piece;
            size_t len;
            assert_int_equal(vt_tokenizer_stream_push(&ds, ids[i], &piece, &len, &st), VT_OK);
            if (!whole_utf8(piece, len)) {
                print_error("%s: after id %zu the stream emitted an incomplete character\n", name, i);
                bad++;
            }
            assert_true(acc_n + len < sizeof acc);
            memcpy(acc + acc_n, piece, len);
            acc_n += len;
            acc[acc_n] = 0;
            /* the reference's decode of the first i+1 ids */
            char want_name[128];
            snprintf(want_name, sizeof want_name, "%.*s-prefixes-%dof%d", (int)(p - name), name, (int)i + 1, total);
            const char *want = NULL;
            for (const cJSON *d = cases->child; d; d = d->next)
                if (!strcmp(tok_json_str(d, "name"), want_name)) want = tok_json_str(d, "decoded");
            assert_non_null(want);
            size_t wl = strlen(want);
            int ok = wl >= acc_n && !memcmp(want, acc, acc_n) &&
                     (wl == acc_n || (wl == acc_n + 3 && !memcmp(want + acc_n, "\xef\xbf\xbd", 3)));
            if (!ok) {
                print_error("%s: after %zu ids the stream has \"%s\"; the reference decodes them to \"%s\"\n", name,
                            i + 1, acc, want);
                bad++;
            }
        }
        const char *piece;
        size_t len;
        assert_int_equal(vt_tokenizer_stream_finish(&ds, &piece, &len, &st), VT_OK);
        memcpy(acc + acc_n, piece, len);
        acc_n += len;
        bad += !tok_text_equal(name, "the streamed text", acc, acc_n, tok_json_str(c, "decoded"));
        vt_tokenizer_stream_free(&ds);
        free(ids);
    }
    printf("  %d prefix families streamed, %d failures\n", families, bad);
    cJSON_Delete(cases);
    assert_int_equal(families, 5);
    assert_int_equal(bad, 0);
}

/* Streaming the ids of every cases.json text gives whole characters only and the text back (decoded). */
static void test_tokenizer_stream_cases(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("cases.json");
    int bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next) {
        size_t n;
        int32_t *ids = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &n);
        vt_tokenizer_stream ds;
        vt_tokenizer_stream_init(&ds, tok, 0);
        size_t cap = 1 << 16, acc_n = 0;
        char *acc = malloc(cap);
        vt_status st = {0};
        for (size_t i = 0; i <= n; i++) {
            const char *piece;
            size_t len;
            if (i < n) assert_int_equal(vt_tokenizer_stream_push(&ds, ids[i], &piece, &len, &st), VT_OK);
            else assert_int_equal(vt_tokenizer_stream_finish(&ds, &piece, &len, &st), VT_OK);
            bad += !whole_utf8(piece, len);
            assert_true(acc_n + len < cap);
            memcpy(acc + acc_n, piece, len);
            acc_n += len;
        }
        bad += !tok_text_equal(tok_json_str(c, "name"), "the streamed text", acc, acc_n, tok_json_str(c, "decoded"));
        free(acc);
        vt_tokenizer_stream_free(&ds);
        free(ids);
    }
    cJSON_Delete(cases);
    assert_int_equal(bad, 0);
}

/* skip_special_tokens drops the special ids and joins the bytes around them */
static void test_tokenizer_decode_skip_special(void **state)
{
    (void)state;
    const int32_t ids[] = {172, 151645, 63219, 222, 151667}; /* <|im_end|> is special, <think> is not */
    char *out;
    size_t len;
    vt_status st = {0};
    assert_int_equal(vt_tokenizer_decode(tok, ids, 5, VT_DECODE_SKIP_SPECIAL, &out, &len, &st), VT_OK);
    assert_string_equal(out, "\xf0\xa0\x80\x80<think>");
    free(out);
    assert_int_equal(vt_tokenizer_decode(tok, NULL, 0, 0, &out, &len, &st), VT_OK);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
    free(out);
}

static void test_tokenizer_lookups(void **state)
{
    (void)state;
    assert_int_equal(vt_tokenizer_n_ids(tok), 151669);
    assert_int_equal(vt_tokenizer_find(tok, "<|image_pad|>"), 151655);
    assert_int_equal(vt_tokenizer_find(tok, "<|video_pad|>"), 151656);
    assert_int_equal(vt_tokenizer_find(tok, "<|vision_start|>"), 151652);
    assert_int_equal(vt_tokenizer_find(tok, "Hello"), 9707);
    assert_int_equal(vt_tokenizer_find(tok, "\xc4\xa0world"), 1879); /* "Ġworld" */
    assert_int_equal(vt_tokenizer_find(tok, " world"), -1);           /* not the byte-level spelling */
    assert_int_equal(vt_tokenizer_find(tok, "<|image_pad"), -1);
    assert_int_equal(vt_tokenizer_find(tok, ""), -1);
    assert_true(vt_tokenizer_is_special(tok, 151645));
    assert_false(vt_tokenizer_is_special(tok, 151667));
    assert_false(vt_tokenizer_is_special(tok, 9707));
    assert_false(vt_tokenizer_is_special(tok, 151669));
    char buf[8];
    assert_int_equal(vt_tokenizer_token(tok, 151655, buf, sizeof buf), 13); /* cut like snprintf */
    assert_string_equal(buf, "<|image");
    assert_int_equal(vt_tokenizer_token(tok, -5, buf, sizeof buf), 0);
    assert_int_equal(vt_tokenizer_token(tok, 151700, buf, sizeof buf), 0);
}

/* ---- chat.json ---- */

static void test_tokenizer_chat_cases(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("chat.json");
    int n = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = tok_json_str(c, "name");
        int nm, ni, nv;
        vt_chat_message *msgs = tok_chat_messages(cJSON_GetObjectItemCaseSensitive(c, "messages"), &nm);
        int merge = (int)cJSON_GetObjectItemCaseSensitive(c, "merge_size")->valuedouble;
        int64_t *ig = tok_chat_grids(cJSON_GetObjectItemCaseSensitive(c, "images"), merge, &ni);
        int64_t *vg = tok_chat_grids(cJSON_GetObjectItemCaseSensitive(c, "videos"), merge, &nv);
        vt_chat_options opt = {cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt")),
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_vision_id"))};
        vt_chat_grids g = {ig, ni, vg, nv, merge};
        vt_status st = {0};
        char *text, *full;
        size_t len, flen, n_ids, nw;
        int32_t *ids, *want = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &nw);
        assert_int_equal(vt_chat_apply_template(msgs, nm, &opt, &text, &len, &st), VT_OK);
        int ok = tok_text_equal(name, "template output", text, len, tok_json_str(c, "template_output"));
        assert_int_equal(vt_chat_expand_pads(text, len, &g, &full, &flen, &st), VT_OK);
        ok &= tok_text_equal(name, "expanded prompt", full, flen, tok_json_str(c, "prompt"));
        assert_int_equal(vt_chat_encode(tok, msgs, nm, &opt, &g, &ids, &n_ids, &st), VT_OK);
        ok &= tok_ids_equal(name, ids, n_ids, want, nw);
        free(ids);
        /* the cases with one user message of images, videos, then text are what --prompt builds */
        const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "messages"), 0);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(m0, "content");
        const cJSON *last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);
        if (nm == 1 && cJSON_GetArraySize(items) == ni + nv + 1 && !strcmp(tok_json_str(last, "type"), "text") &&
            opt.add_generation_prompt && !opt.add_vision_id) {
            assert_int_equal(vt_chat_prompt(tok, tok_json_str(last, "text"), &g, 0, &ids, &n_ids, &st), VT_OK);
            ok &= tok_ids_equal(name, ids, n_ids, want, nw);
            free(ids);
            /* --raw with the template's text as the prompt gives the same ids */
            assert_int_equal(vt_chat_prompt(tok, text, &g, 1, &ids, &n_ids, &st), VT_OK);
            ok &= tok_ids_equal(name, ids, n_ids, want, nw);
            free(ids);
        }
        bad += !ok;
        free(text);
        free(full);
        free(want);
        free(ig);
        free(vg);
        tok_chat_messages_free(msgs, nm);
    }
    printf("  chat.json: %d prompts, %d failures\n", n, bad);
    cJSON_Delete(cases);
    assert_int_equal(n, 6);
    assert_int_equal(bad, 0);
}

/* the template's other branches, by hand: a system message first, string content, add_vision_id, no
 * generation prompt */
static void test_tokenizer_chat_template_branches(void **state)
{
    (void)state;
    vt_chat_item items[] = {{VT_CHAT_IMAGE, NULL}, {VT_CHAT_VIDEO, NULL}, {VT_CHAT_IMAGE, NULL}, {VT_CHAT_TEXT, "Hi"}};
    vt_chat_message msgs[] = {{"system", "Be brief.", NULL, 0}, {"user", NULL, items, 4}, {"assistant", "Ok.", NULL, 0}};
    vt_chat_options opt = {0, 1};
    char *text;
    size_t len;
    vt_status st = {0};
    assert_int_equal(vt_chat_apply_template(msgs, 3, &opt, &text, &len, &st), VT_OK);
    assert_string_equal(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                              "Picture 1: <|vision_start|><|image_pad|><|vision_end|>"
                              "Video 1: <|vision_start|><|video_pad|><|vision_end|>"
                              "Picture 2: <|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"
                              "<|im_start|>assistant\nOk.<|im_end|>\n");
    free(text);
    /* not first: no default system message after a user turn */
    assert_int_equal(vt_chat_apply_template(msgs + 2, 1, &(vt_chat_options){1, 0}, &text, &len, &st), VT_OK);
    assert_string_equal(text, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                              "<|im_start|>assistant\nOk.<|im_end|>\n<|im_start|>assistant\n");
    free(text);
}

/* the pad expansion's errors and its parity detail */
static void test_tokenizer_chat_expand_pads(void **state)
{
    (void)state;
    int64_t g2[6] = {1, 2, 4, 2, 2, 2}; /* 2 and 2 pads at merge 2 */
    vt_chat_grids g = {g2, 2, g2 + 3, 1, 2};
    char *out;
    size_t len;
    vt_status st = {0};
    const char *t = "a<|image_pad|>b<|video_pad|>c<|image_pad|><|placeholder|>";
    assert_int_equal(vt_chat_expand_pads(t, strlen(t), &g, &out, &len, &st), VT_OK);
    /* a literal <|placeholder|> becomes an image pad, as in the processor (it expands through it) */
    assert_string_equal(out, "a<|image_pad|><|image_pad|>b<|video_pad|><|video_pad|>c<|image_pad|><|image_pad|>"
                             "<|image_pad|>");
    free(out);
    const char *one = "<|image_pad|>";
    assert_int_equal(vt_chat_expand_pads(one, strlen(one), &g, &out, &len, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "2 images given but the prompt has 1"));
    g.n_images = 0;
    assert_int_equal(vt_chat_expand_pads(one, strlen(one), &g, &out, &len, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "more <|image_pad|> than the 0 images"));
    int64_t odd[3] = {1, 3, 5};
    vt_chat_grids go = {odd, 1, NULL, 0, 2};
    assert_int_equal(vt_chat_expand_pads(one, strlen(one), &go, &out, &len, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "image 0: grid 1x3x5"));
    int32_t *ids;
    size_t n;
    vt_chat_item bad[] = {{VT_CHAT_TEXT, "caf\xc3"}};
    vt_chat_message m = {"user", NULL, bad, 1};
    assert_int_equal(vt_chat_encode(tok, &m, 1, &(vt_chat_options){1, 0}, &go, &ids, &n, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "message 0 item 0: the text is not valid UTF-8"));
}

/* ---- input errors ---- */

static void test_tokenizer_invalid_utf8_names_offset(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        const char *msg;
    } bad[] = {
        {"abc\xff", 4, "byte 0xFF at offset 3"},
        {"\x80", 1, "byte 0x80 at offset 0"},
        {"ab\xc0\x80", 4, "byte 0xC0 at offset 2"},                   /* overlong */
        {"x\xed\xa0\x80", 4, "the sequence at offset 1 (0xED 0xA0)"}, /* a surrogate */
        {"\xf4\x90\x80\x80", 4, "the sequence at offset 0 (0xF4 0x90)"}, /* past U+10FFFF */
        {"caf\xc3", 4, "the character at offset 3 is cut short"},
        {"\xe4\xbd\xa0\xe5\xa5", 5, "the character at offset 3 is cut short"},
        {"a\xe4" "b", 3, "the sequence at offset 1 (0xE4 0x62)"},
        {"a\0b\xff", 4, "byte 0xFF at offset 3"}, /* a NUL is a character like any other */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = (int32_t *)1;
        size_t n = 7;
        vt_status st = {0};
        assert_int_equal(vt_tokenizer_encode(tok, bad[i].text, bad[i].len, &ids, &n, &st), VT_EINPUT);
        if (!strstr(st.msg, bad[i].msg)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, st.msg, bad[i].msg);
        assert_non_null(strstr(st.msg, "text is not valid UTF-8"));
        assert_null(ids);
        assert_int_equal(n, 0);
    }
    /* a NUL in valid text is encoded (byte 0 is "Ā", id 188) */
    int32_t *ids;
    size_t n;
    vt_status st = {0};
    assert_int_equal(vt_tokenizer_encode(tok, "a\0b", 3, &ids, &n, &st), VT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 188);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_cases),
        cmocka_unit_test(test_tokenizer_mongolian_vowel_separator),
        cmocka_unit_test(test_tokenizer_decode_cases),
        cmocka_unit_test(test_tokenizer_stream_prefix_families),
        cmocka_unit_test(test_tokenizer_stream_cases),
        cmocka_unit_test(test_tokenizer_decode_skip_special),
        cmocka_unit_test(test_tokenizer_lookups),
        cmocka_unit_test(test_tokenizer_chat_cases),
        cmocka_unit_test(test_tokenizer_chat_template_branches),
        cmocka_unit_test(test_tokenizer_chat_expand_pads),
        cmocka_unit_test(test_tokenizer_invalid_utf8_names_offset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
