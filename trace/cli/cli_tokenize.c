/*
 * cli_tokenize.c -- `vlmtrace tokenize (--tokenizer FILE | --model DIR) (--text S | --file F | --ids "1 2 3")
 * [--json]`: the Qwen tokenizer (ref/tokenizer/) on the command line: text -> ids and token strings, or
 * ids -> text.
 *
 * With --json exactly one JSON object goes to stdout: {"ids": [...], "tokens": [...]} when encoding,
 * {"text": "..."} when decoding. Strings are UTF-8 with `"`, `\` and control characters escaped (a NUL in
 * a decoded text is \u0000), so the object is what the reference's JSON.stringify would give, up to spaces.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/fileio.h"
#include "tokenizer/tokenizer.h"

static const char tokenize_usage[] =
    "usage: vlmtrace tokenize (--tokenizer FILE | --model DIR) (--text S | --file F | --ids \"1 2 3\") [--json]\n"
    "\n"
    "Encode text with a Qwen byte-level BPE tokenizer (tokenizer.json of Qwen2 / Qwen2.5 / Qwen2-VL / Qwen2.5-VL /\n"
    "Qwen3), as tokenizer.encode(text) does, or decode ids, as tokenizer.decode(ids) does (special tokens kept).\n"
    "\n"
    "  --tokenizer FILE  a tokenizer.json\n"
    "  --model DIR       a model directory holding tokenizer.json\n"
    "  --text S          encode S (UTF-8)\n"
    "  --file F          encode the bytes of file F (UTF-8; an empty file gives no ids)\n"
    "  --ids \"1 2 3\"     decode these ids (separated by spaces or commas; none gives \"\"); an id outside\n"
    "                    the vocabulary decodes to nothing\n"
    "  --json            print one JSON object: {\"ids\": [...], \"tokens\": [...]} when encoding,\n"
    "                    {\"text\": \"...\"} when decoding\n"
    "\n"
    "Without --json, encoding prints a line per token (index, id, token string in the vocabulary's byte-level\n"
    "spelling: \"\xc4\xa0\" is a space, \"\xc4\x8a\" a newline; control characters escaped) and decoding prints the text.\n"
    "Text that is not UTF-8, a malformed tokenizer.json or a bad id list exits with status 2 and one line.\n";

/* ---------------------------------------------------------------- output */

/* s [n] as the inside of a JSON string: `"`, `\` and control characters escaped, UTF-8 as is */
static void put_escaped(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
}

/* the token string of id into *buf (grown as needed); returns its length */
static size_t token_text(const vt_tokenizer *tok, int32_t id, char **buf, size_t *cap, vt_status *st)
{
    size_t k = vt_tokenizer_token(tok, id, *buf, *cap);
    if (k >= *cap) {
        char *b = realloc(*buf, k + 1);
        if (!b) {
            vt_fail(st, VT_ERESOURCE, "out of memory");
            return (size_t)-1;
        }
        *buf = b;
        *cap = k + 1;
        vt_tokenizer_token(tok, id, *buf, *cap);
    }
    return k;
}

static int print_encoding(const vt_tokenizer *tok, const int32_t *ids, size_t n, int json, vt_status *st)
{
    size_t cap = 256;
    char *buf = malloc(cap);
    if (!buf) return vt_fail(st, VT_ERESOURCE, "out of memory");
    if (json) {
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        fputs("], \"tokens\": [", stdout);
    } else {
        printf("%zu token%s\n", n, n == 1 ? "" : "s");
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = token_text(tok, ids[i], &buf, &cap, st);
        if (k == (size_t)-1) {
            free(buf);
            return st->code;
        }
        if (json) {
            fputs(i ? ", \"" : "\"", stdout);
            put_escaped(stdout, buf, k);
            fputc('"', stdout);
        } else {
            printf("%6zu %7d  ", i, ids[i]);
            put_escaped(stdout, buf, k);
            fputc('\n', stdout);
        }
    }
    if (json) fputs("]}\n", stdout);
    free(buf);
    return VT_OK;
}

/* ---------------------------------------------------------------- input */

/* "1 2 3" / "1,2,3" -> ids (malloc'ed); each an integer in int32 range */
static int parse_ids(const char *s, int32_t **ids, size_t *n, vt_status *st)
{
    size_t cap = 16, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return vt_fail(st, VT_ERESOURCE, "out of memory");
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t' && *p != '\n' && *p != '\r') p++;
        char item[32];
        size_t len = (size_t)(p - start);
        char *end = NULL;
        long long x = 0;
        if (len < sizeof item) {
            memcpy(item, start, len);
            item[len] = 0;
            errno = 0;
            x = strtoll(item, &end, 10);
        }
        if (len >= sizeof item || *end || errno || x < INT32_MIN || x > INT32_MAX) {
            free(v);
            return vt_fail(st, VT_EINPUT, "--ids: item %zu '%.*s' is not an integer in [%d, %d]", k, (int)(len < 40 ? len : 40),
                           start, INT32_MIN, INT32_MAX);
        }
        if (k == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return vt_fail(st, VT_ERESOURCE, "out of memory");
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (int32_t)x;
    }
    *ids = v;
    *n = k;
    return VT_OK;
}

/* ---------------------------------------------------------------- command */

static int tokenize(const char *tok_path, const char *text, const char *file, const char *ids_arg, int json,
                    vt_status *st)
{
    int32_t *ids = NULL;
    size_t n = 0;
    void *fbuf = NULL;
    /* the cheap checks before the 11 MB tokenizer.json is read */
    if (ids_arg) VT_TRY(parse_ids(ids_arg, &ids, &n, st));
    size_t len = 0;
    int rc = VT_OK;
    if (file) {
        rc = vt_read_file(file, &fbuf, &len, VT_TOKENIZER_MAX_FILE, st);
        if (rc == VT_OK && vt_tokenizer_check_utf8(fbuf, len, "the text", st)) rc = vt_wrap(st, "%s: ", file);
        text = fbuf;
    } else if (text) {
        len = strlen(text);
        if (vt_tokenizer_check_utf8(text, len, "the text", st)) rc = vt_wrap(st, "--text: ");
    }
    vt_tokenizer *tok = NULL;
    if (rc == VT_OK) rc = vt_tokenizer_load(&tok, tok_path, st);
    if (rc == VT_OK && ids_arg) {
        char *out;
        size_t out_len;
        rc = vt_tokenizer_decode(tok, ids, n, 0, &out, &out_len, st);
        if (rc == VT_OK) {
            if (json) {
                fputs("{\"text\": \"", stdout);
                put_escaped(stdout, out, out_len);
                fputs("\"}\n", stdout);
            } else {
                fwrite(out, 1, out_len, stdout);
                fputc('\n', stdout);
            }
            free(out);
        }
    } else if (rc == VT_OK) {
        int32_t *enc;
        size_t m;
        rc = vt_tokenizer_encode(tok, text, len, &enc, &m, st);
        if (rc == VT_OK) {
            rc = print_encoding(tok, enc, m, json, st);
            free(enc);
        }
    }
    if (rc == VT_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = vt_fail(st, VT_ERESOURCE, "writing to stdout failed: %s", strerror(errno));
    vt_tokenizer_free(tok);
    free(fbuf);
    free(ids);
    return rc;
}

static int tokenize_run(int argc, char **argv, vt_status *st)
{
    const char *tok_file = NULL, *model = NULL, *text = NULL, *file = NULL, *ids = NULL;
    int json = 0;
    const vt_opt opts[] = {
        {"--tokenizer", VT_OPT_STRING, 0, &tok_file, "FILE", 0, 0, NULL},
        {"--model", VT_OPT_STRING, 0, &model, "DIR", 0, 0, NULL},
        {"--text", VT_OPT_STRING, 0, &text, "S", 0, 0, NULL},
        {"--file", VT_OPT_STRING, 0, &file, "F", 0, 0, NULL},
        {"--ids", VT_OPT_STRING, 0, &ids, "\"1 2 3\"", 0, 0, NULL},
        {"--json", VT_OPT_FLAG, 0, &json, NULL, 0, 0, NULL},
    };
    VT_TRY(vt_opts_parse("tokenize", opts, VT_N_OPTS(opts), argc, argv, NULL, st));
    if (!!tok_file + !!model != 1)
        return vt_fail(st, VT_EINPUT, "give one of --tokenizer FILE or --model DIR (see vlmtrace tokenize --help)");
    if (!!text + !!file + !!ids != 1)
        return vt_fail(st, VT_EINPUT, "give one of --text S, --file F or --ids \"1 2 3\" (see vlmtrace tokenize --help)");
    char path[4096];
    if (model) VT_TRY(vt_path_join(path, sizeof path, model, "tokenizer.json", st));
    return tokenize(model ? path : tok_file, text, file, ids, json, st);
}

const vt_cli_cmd vt_cmd_tokenize = {"tokenize", "encode text to token ids, or decode ids, with a Qwen tokenizer.json",
                                    tokenize_usage, tokenize_run};
