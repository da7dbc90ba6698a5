/* test_tokenize_cli.c -- `vlmtrace tokenize` through the binary ($VLMTRACE_BIN): `--file F --json` for every
 * cases.json text and `--ids ... --json` for every decode.json case give the reference's ids, tokens and text;
 * the plain output; every bad input exits 2 with one line. */
#include "tok_golden.h"

static char out[1 << 20];

/* An error: exit 2, exactly one line, containing `what`. */
static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

/* the output as one JSON object (fails the test otherwise) */
static cJSON *json_out(const char *what)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(out, &end, 1);
    if (!j || !cJSON_IsObject(j)) fail_msg("%s: the output is not one JSON object:\n%.2000s", what, out);
    return j;
}

static void test_tokenize_cli_every_text(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/text.txt", dir);
    cJSON *cases = tok_golden_json("cases.json");
    int n = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = tok_json_str(c, "name"), *text = tok_json_str(c, "text");
        vt_test_write_file(path, text, strlen(text));
        int rc = vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --file %s --json", path);
        if (rc != 0) fail_msg("%s: exit %d\n%s", name, rc, out);
        cJSON *j = json_out(name);
        size_t ni, nw;
        int32_t *ids = tok_json_ids(cJSON_GetObjectItemCaseSensitive(j, "ids"), &ni);
        int32_t *want = tok_json_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), &nw);
        int ok = tok_ids_equal(name, ids, ni, want, nw);
        const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "tokens"), *tw = cJSON_GetObjectItemCaseSensitive(c, "tokens");
        ok &= cJSON_GetArraySize(tk) == cJSON_GetArraySize(tw);
        for (const cJSON *x = tk->child, *y = tw->child; ok && x && y; x = x->next, y = y->next)
            if (strcmp(x->valuestring, y->valuestring) != 0) {
                print_error("%s: token \"%s\", reference \"%s\"\n", name, x->valuestring, y->valuestring);
                ok = 0;
            }
        if (cJSON_GetArraySize(j) != 2) ok = 0; /* exactly ids and tokens */
        bad += !ok;
        free(ids);
        free(want);
        cJSON_Delete(j);
    }
    printf("  tokenize --file --json: %d texts, %d differ\n", n, bad);
    cJSON_Delete(cases);
    vt_test_rmtree(dir);
    assert_int_equal(n, 65);
    assert_int_equal(bad, 0);
}

static void test_tokenize_cli_every_decode(void **state)
{
    (void)state;
    cJSON *cases = tok_golden_json("decode.json");
    int n = 0, bad = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = tok_json_str(c, "name");
        char list[4096];
        size_t k = 0;
        for (const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "ids")->child; e; e = e->next)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", k ? " " : "", (int)e->valuedouble);
        int rc = vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --ids '%s' --json", list);
        if (rc != 0) fail_msg("%s: exit %d\n%s", name, rc, out);
        cJSON *j = json_out(name);
        const char *text = tok_json_str(j, "text");
        assert_non_null(text);
        bad += !tok_text_equal(name, "text", text, strlen(text), tok_json_str(c, "decoded")) || cJSON_GetArraySize(j) != 1;
        cJSON_Delete(j);
    }
    printf("  tokenize --ids --json: %d cases, %d differ\n", n, bad);
    cJSON_Delete(cases);
    assert_int_equal(n, 45);
    assert_int_equal(bad, 0);
}

static void test_tokenize_cli_plain_and_edges(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --model " TOK_DIR " --text 'Hello world'"), 0);
    assert_string_equal(out, "2 tokens\n     0    9707  Hello\n     1    1879  \xc4\xa0world\n");
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --model " TOK_DIR " --ids '9707,1879'"), 0);
    assert_string_equal(out, "Hello world\n");
    /* an empty file: no ids; no ids: "" */
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    vt_test_write_file(path, "", 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --file %s --json", path), 0);
    assert_string_equal(out, "{\"ids\": [], \"tokens\": []}\n");
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --ids '' --json"), 0);
    assert_string_equal(out, "{\"text\": \"\"}\n");
    /* control characters and quotes escaped; a NUL byte in the text survives as \u0000 */
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --ids '1 188 2 198 -5' --json"), 0);
    assert_string_equal(out, "{\"text\": \"\\\"\\u0000#\\n\"}\n");
    vt_test_rmtree(dir);
}

static void test_tokenize_cli_errors(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/bad.txt", dir);
    vt_test_write_file(path, "caf\xc3\xa9 \xe4\xbd", 8);
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --file %s", path),
                 "bad.txt: the text is not valid UTF-8: the character at offset 6 is cut short by the end");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --text \"$(printf 'ab\\377')\""),
                 "--text: the text is not valid UTF-8: byte 0xFF at offset 2");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --ids '1 2.5'"),
                 "--ids: item 1 '2.5' is not an integer");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --ids '99999999999'"),
                 "--ids: item 0 '99999999999' is not an integer");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --model %s --text hi", dir), "tokenizer.json");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer %s/none.json --text hi", dir), "none.json");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    vt_test_write_file(path, "{\"model\": {\"type\": \"Unigram\"}}", 30);
    expect_error(vt_test_cli(out, sizeof out, "tokenize --model %s --text hi", dir), "model: type \"Unigram\" is not supported");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --text hi"), "give one of --tokenizer FILE or --model DIR");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --text a --ids 1"), "give one of --text S");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --text"), "--text needs a value");
    expect_error(vt_test_cli(out, sizeof out, "tokenize --tokenizer " TOK_JSON " --bogus"), "unknown option --bogus");
    assert_int_equal(vt_test_cli(out, sizeof out, "tokenize --help"), 0);
    assert_non_null(strstr(out, "usage: vlmtrace tokenize"));
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_cli_every_text),
        cmocka_unit_test(test_tokenize_cli_every_decode),
        cmocka_unit_test(test_tokenize_cli_plain_and_edges),
        cmocka_unit_test(test_tokenize_cli_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
