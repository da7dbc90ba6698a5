/* tok_golden.h -- what the tokenizer tests share: the golden files of notebooks-data/reference/tokenizer/
 * (cases.json, decode.json, chat.json; their README gives the formats), read with cJSON, and small helpers
 * that print the first difference. */
#ifndef VT_TOK_GOLDEN_H
#define VT_TOK_GOLDEN_H

#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fileio.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

#define TOK_DIR VT_GOLDEN("tokenizer")
#define TOK_JSON TOK_DIR "/tokenizer.json"

/* a golden JSON file, parsed (fails the test if it cannot be read) */
static inline cJSON *tok_golden_json(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, TOK_DIR "/%s", name);
    void *buf;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(path, &buf, &len, (size_t)64 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!j) fail_msg("%s: not JSON", path);
    return j;
}

/* a JSON array of integers -> a malloc'ed int32 array (n may be 0) */
static inline int32_t *tok_json_ids(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    assert_non_null(v);
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next) v[i++] = (int32_t)e->valuedouble;
    return v;
}

static inline const char *tok_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ours == want, else print the case, both lengths and the first differing index; returns 1 if equal */
static inline int tok_ids_equal(const char *name, const int32_t *ours, size_t n, const int32_t *want, size_t m)
{
    size_t i = 0;
    while (i < n && i < m && ours[i] == want[i]) i++;
    if (i == n && n == m) return 1;
    print_error("%s: %zu ids, reference %zu; first difference at [%zu]: ours %d, reference %d\n", name, n, m, i,
                i < n ? ours[i] : -1, i < m ? want[i] : -1);
    return 0;
}

/* text == want, else print the case and the first differing byte; returns 1 if equal */
static inline int tok_text_equal(const char *name, const char *what, const char *ours, size_t n, const char *want)
{
    size_t m = strlen(want), i = 0;
    while (i < n && i < m && ours[i] == want[i]) i++;
    if (i == n && n == m) return 1;
    print_error("%s: %s differs at byte %zu (ours %zu bytes, reference %zu): ours \"%.40s\", reference \"%.40s\"\n", name,
                what, i, n, m, ours + (i < n ? i : n), want + (i < m ? i : m));
    return 0;
}

/* chat.json's messages -> vt_chat_message / vt_chat_item arrays (malloc'ed; pointers into the JSON) */
static inline vt_chat_message *tok_chat_messages(const cJSON *msgs, int *n)
{
    *n = cJSON_GetArraySize(msgs);
    vt_chat_message *m = calloc((size_t)*n + 1, sizeof *m);
    assert_non_null(m);
    int k = 0;
    for (const cJSON *e = msgs->child; e; e = e->next, k++) {
        m[k].role = tok_json_str(e, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (cJSON_IsString(c)) {
            m[k].content = c->valuestring;
            continue;
        }
        int ni = cJSON_GetArraySize(c);
        vt_chat_item *it = calloc((size_t)ni + 1, sizeof *it);
        assert_non_null(it);
        int j = 0;
        for (const cJSON *x = c->child; x; x = x->next, j++) {
            const char *type = tok_json_str(x, "type");
            assert_non_null(type);
            if (!strcmp(type, "image")) it[j].kind = VT_CHAT_IMAGE;
            else if (!strcmp(type, "video")) it[j].kind = VT_CHAT_VIDEO;
            else {
                assert_string_equal(type, "text");
                it[j] = (vt_chat_item){VT_CHAT_TEXT, tok_json_str(x, "text")};
            }
        }
        m[k].items = it;
        m[k].n_items = ni;
    }
    return m;
}

static inline void tok_chat_messages_free(vt_chat_message *m, int n)
{
    for (int k = 0; k < n; k++) free((void *)m[k].items);
    free(m);
}

/* chat.json's "images" / "videos" -> [n * 3] grids (malloc'ed), checking each pad_tokens against the rule */
static inline int64_t *tok_chat_grids(const cJSON *items, int merge, int *n)
{
    *n = cJSON_GetArraySize(items);
    int64_t *g = calloc((size_t)*n * 3 + 1, sizeof *g);
    assert_non_null(g);
    int k = 0;
    for (const cJSON *e = items->child; e; e = e->next, k++) {
        const cJSON *thw = cJSON_GetObjectItemCaseSensitive(e, "grid_thw");
        assert_int_equal(cJSON_GetArraySize(thw), 3);
        for (int d = 0; d < 3; d++) g[3 * k + d] = (int64_t)cJSON_GetArrayItem(thw, d)->valuedouble;
        assert_int_equal(g[3 * k] * g[3 * k + 1] * g[3 * k + 2] / (merge * merge),
                         (int64_t)cJSON_GetObjectItemCaseSensitive(e, "pad_tokens")->valuedouble);
    }
    return g;
}

#endif
