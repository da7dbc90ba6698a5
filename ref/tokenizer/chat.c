/*
 * chat.c -- the Qwen2-VL / Qwen2.5-VL chat prompt (see chat.h): the default chat template, the processor's
 * pad expansion, and the two together with the tokenizer.
 *
 * The template it reproduces (chat_template.json of Qwen2-VL-*-Instruct; Qwen2.5-VL uses the same string):
 *
 *   {% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}
 *   {% for message in messages %}
 *     {% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}
 *     <|im_start|>{{ message['role'] }}\n
 *     {% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n
 *     {% else %}
 *       {% for content in message['content'] %}
 *         {% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}
 *           {% set image_count.value = image_count.value + 1 %}
 *           {% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>
 *         {% elif content['type'] == 'video' or 'video' in content %}
 *           {% set video_count.value = video_count.value + 1 %}
 *           {% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>
 *         {% elif 'text' in content %}{{ content['text'] }}{% endif %}
 *       {% endfor %}<|im_end|>\n
 *     {% endif %}
 *   {% endfor %}
 *   {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}
 *
 * (line breaks and indentation added here; the template has none outside the quoted "\n"s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat.h"

/* ---------------------------------------------------------------- a string builder */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *p = realloc(b->s, c);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = c;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* hand the text over, or fail with VT_ERESOURCE */
static int sb_finish(sbuf *b, char **out, size_t *len, vt_status *st)
{
    if (!b->oom && !b->s) sb_put(b, "", 0);
    if (b->oom) {
        free(b->s);
        return vt_fail(st, VT_ERESOURCE, "out of memory (chat prompt)");
    }
    *out = b->s;
    *len = b->n;
    return VT_OK;
}

/* ---------------------------------------------------------------- the template */

/* mirrors apply_chat_template(messages, add_generation_prompt, add_vision_id) with the Qwen2-VL template
 * (above): messages [n] -> the template's text */
int vt_chat_apply_template(const vt_chat_message *msgs, int n, const vt_chat_options *opt, char **text, size_t *len,
                           vt_status *st)
{
    *text = NULL;
    *len = 0;
    for (int m = 0; m < n; m++) {
        char what[64];
        if (!msgs[m].role) return vt_fail(st, VT_EINPUT, "message %d has no role", m);
        snprintf(what, sizeof what, "message %d: the role", m);
        VT_TRY(vt_tokenizer_check_utf8(msgs[m].role, strlen(msgs[m].role), what, st));
        if (msgs[m].content) {
            snprintf(what, sizeof what, "message %d: the content", m);
            VT_TRY(vt_tokenizer_check_utf8(msgs[m].content, strlen(msgs[m].content), what, st));
            continue;
        }
        if (msgs[m].n_items < 0 || (msgs[m].n_items > 0 && !msgs[m].items))
            return vt_fail(st, VT_EINPUT, "message %d: no content", m);
        for (int i = 0; i < msgs[m].n_items; i++) {
            const vt_chat_item *it = &msgs[m].items[i];
            if (it->kind != VT_CHAT_TEXT) continue;
            if (!it->text) return vt_fail(st, VT_EINPUT, "message %d item %d: a text item without text", m, i);
            snprintf(what, sizeof what, "message %d item %d: the text", m, i);
            VT_TRY(vt_tokenizer_check_utf8(it->text, strlen(it->text), what, st));
        }
    }
    sbuf b = {0};
    int images = 0, videos = 0;
    for (int m = 0; m < n; m++) {
        const vt_chat_message *msg = &msgs[m];
        if (m == 0 && strcmp(msg->role, "system") != 0)
            sb_str(&b, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n");
        sb_str(&b, "<|im_start|>");
        sb_str(&b, msg->role);
        sb_str(&b, "\n");
        if (msg->content) {
            sb_str(&b, msg->content);
            sb_str(&b, "<|im_end|>\n");
            continue;
        }
        for (int i = 0; i < msg->n_items; i++) {
            const vt_chat_item *it = &msg->items[i];
            char label[48];
            if (it->kind == VT_CHAT_IMAGE) {
                images++;
                if (opt->add_vision_id) {
                    snprintf(label, sizeof label, "Picture %d: ", images);
                    sb_str(&b, label);
                }
                sb_str(&b, "<|vision_start|>" VT_CHAT_IMAGE_PAD "<|vision_end|>");
            } else if (it->kind == VT_CHAT_VIDEO) {
                videos++;
                if (opt->add_vision_id) {
                    snprintf(label, sizeof label, "Video %d: ", videos);
                    sb_str(&b, label);
                }
                sb_str(&b, "<|vision_start|>" VT_CHAT_VIDEO_PAD "<|vision_end|>");
            } else {
                sb_str(&b, it->text);
            }
        }
        sb_str(&b, "<|im_end|>\n");
    }
    if (opt->add_generation_prompt) sb_str(&b, "<|im_start|>assistant\n");
    return sb_finish(&b, text, len, st);
}

/* ---------------------------------------------------------------- pad expansion */

#define PLACEHOLDER "<|placeholder|>"

/* t*h*w / merge^2 of grid k, checked */
static int pad_count(const int64_t *thw, int k, int merge, const char *kind, int64_t *count, vt_status *st)
{
    const int64_t t = thw[3 * k], h = thw[3 * k + 1], w = thw[3 * k + 2];
    if (t < 1 || h < 1 || w < 1 || t > VT_CHAT_MAX_PADS || h > VT_CHAT_MAX_PADS || w > VT_CHAT_MAX_PADS)
        return vt_fail(st, VT_EINPUT, "%s %d: grid %lldx%lldx%lld is not positive or too large", kind, k, (long long)t,
                       (long long)h, (long long)w);
    int64_t m2 = (int64_t)merge * merge, prod = t * h;
    if (prod > VT_CHAT_MAX_PADS * m2 || (prod *= w) > VT_CHAT_MAX_PADS * m2)
        return vt_fail(st, VT_EINPUT, "%s %d: grid %lldx%lldx%lld gives more than %d tokens", kind, k, (long long)t,
                       (long long)h, (long long)w, VT_CHAT_MAX_PADS);
    if (prod % m2)
        return vt_fail(st, VT_EINPUT, "%s %d: grid %lldx%lldx%lld is not a whole number of %dx%d merge blocks", kind, k,
                       (long long)t, (long long)h, (long long)w, merge, merge);
    *count = prod / m2;
    return VT_OK;
}

/* one kind of pad: each occurrence of `pad` in text [n], k-th -> count(grid k) copies; when grids are given
 * (the reference's `if image_grid_thw is not None`), a literal "<|placeholder|>" becomes `pad` too, kept only
 * for parity: the processor expands through that placeholder and turns every one back into the pad at the end */
static int expand_kind(const char *text, size_t n, const char *pad, const int64_t *thw, int count, int merge,
                       const char *kind, sbuf *b, vt_status *st)
{
    size_t pl = strlen(pad), hl = strlen(PLACEHOLDER), from = 0;
    int k = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= pl && memcmp(text + i, pad, pl) == 0) {
            if (k >= count)
                return vt_fail(st, VT_EINPUT, "the prompt has more %s than the %d %s%s given", pad, count, kind,
                               count == 1 ? "" : "s");
            int64_t c = 0;
            VT_TRY(pad_count(thw, k, merge, kind, &c, st));
            sb_put(b, text + from, i - from);
            for (int64_t j = 0; j < c && !b->oom; j++) sb_put(b, pad, pl);
            k++;
            i += pl;
            from = i;
        } else if (count > 0 && n - i >= hl && memcmp(text + i, PLACEHOLDER, hl) == 0) {
            sb_put(b, text + from, i - from);
            sb_put(b, pad, pl);
            i += hl;
            from = i;
        } else {
            i++;
        }
    }
    sb_put(b, text + from, n - from);
    if (k < count)
        return vt_fail(st, VT_EINPUT, "%d %s%s given but the prompt has %d %s", count, kind, count == 1 ? "" : "s", k, pad);
    return VT_OK;
}

/* mirrors Qwen2VLProcessor.__call__'s text expansion: text -> each <|image_pad|>, in order, replaced by
 * image_grid_thw[k].prod() // merge_size**2 copies; then the same for <|video_pad|> with video_grid_thw.
 * More pads than grids is the reference's IndexError; fewer pads than grids, which the processor lets through
 * and the model refuses later ("Image features and image tokens do not match"), is refused here. */
int vt_chat_expand_pads(const char *text, size_t len, const vt_chat_grids *g, char **out, size_t *out_len, vt_status *st)
{
    *out = NULL;
    *out_len = 0;
    if (g->merge_size < 1 || g->merge_size > 64) return vt_fail(st, VT_EINPUT, "merge_size %d is out of range", g->merge_size);
    if (g->n_images < 0 || g->n_videos < 0 || (g->n_images && !g->image_thw) || (g->n_videos && !g->video_thw))
        return vt_fail(st, VT_EINPUT, "the image or video grids are missing");
    sbuf img = {0}, vid = {0};
    int rc = expand_kind(text, len, VT_CHAT_IMAGE_PAD, g->image_thw, g->n_images, g->merge_size, "image", &img, st);
    if (rc == VT_OK && !img.oom)
        rc = expand_kind(img.s ? img.s : "", img.n, VT_CHAT_VIDEO_PAD, g->video_thw, g->n_videos, g->merge_size,
                         "video", &vid, st);
    free(img.s);
    if (rc == VT_OK && img.oom) vid.oom = 1;
    if (rc) {
        free(vid.s);
        return rc;
    }
    return sb_finish(&vid, out, out_len, st);
}

/* ---------------------------------------------------------------- with the tokenizer */

/* the template's text, expanded, encoded */
int vt_chat_encode(vt_tokenizer *tok, const vt_chat_message *msgs, int n, const vt_chat_options *opt,
                   const vt_chat_grids *g, int32_t **ids, size_t *n_ids, vt_status *st)
{
    *ids = NULL;
    *n_ids = 0;
    char *text, *full;
    size_t len, flen;
    VT_TRY(vt_chat_apply_template(msgs, n, opt, &text, &len, st));
    int rc = vt_chat_expand_pads(text, len, g, &full, &flen, st);
    free(text);
    if (rc) return rc;
    rc = vt_tokenizer_encode(tok, full, flen, ids, n_ids, st);
    free(full);
    return rc;
}

int vt_chat_prompt(vt_tokenizer *tok, const char *text, const vt_chat_grids *g, int raw, int32_t **ids, size_t *n_ids,
                   vt_status *st)
{
    *ids = NULL;
    *n_ids = 0;
    if (raw) {
        char *full;
        size_t flen;
        VT_TRY(vt_tokenizer_check_utf8(text, strlen(text), "the prompt", st));
        VT_TRY(vt_chat_expand_pads(text, strlen(text), g, &full, &flen, st));
        int rc = vt_tokenizer_encode(tok, full, flen, ids, n_ids, st);
        free(full);
        return rc;
    }
    if (g->n_images < 0 || g->n_videos < 0 || g->n_images > VT_CHAT_MAX_PADS || g->n_videos > VT_CHAT_MAX_PADS)
        return vt_fail(st, VT_EINPUT, "bad image or video count");
    int n = g->n_images + g->n_videos + 1;
    vt_chat_item *items = malloc((size_t)n * sizeof *items);
    if (!items) return vt_fail(st, VT_ERESOURCE, "out of memory");
    int k = 0;
    for (int i = 0; i < g->n_images; i++) items[k++] = (vt_chat_item){VT_CHAT_IMAGE, NULL};
    for (int i = 0; i < g->n_videos; i++) items[k++] = (vt_chat_item){VT_CHAT_VIDEO, NULL};
    items[k++] = (vt_chat_item){VT_CHAT_TEXT, text};
    vt_chat_message msg = {"user", NULL, items, n};
    vt_chat_options opt = {1, 0};
    int rc = vt_chat_encode(tok, &msg, 1, &opt, g, ids, n_ids, st);
    free(items);
    return rc;
}
