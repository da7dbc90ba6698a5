/* rope_layout.c -- the --layout string of `vlmtrace rope` (see rope_layout.h). */
#include "cli/rope_layout.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrope/mrope.h"

static int is_sep(char c) { return c == ' ' || c == '\t'; }

/* An item, quoted for a one-line message: at most 40 characters, anything unprintable as \xNN. */
static const char *quote_item(char *buf, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\'')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = 0;
    return buf;
}

/* A plain decimal in [1, VT_MROPE_MAX_LEN] spanning s[0..n). 0 ok, -1 not digits, -2 out of range. */
static int parse_count(const char *s, size_t n, int64_t *out)
{
    if (n == 0) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
        if (v > VT_MROPE_MAX_LEN) return -2;
    }
    if (v < 1) return -2;
    *out = v;
    return 0;
}

/* A decimal number (digits, '.', an exponent) in [0, 1e6] spanning s[0..n). No sign, inf, nan or hex. */
static int parse_seconds(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return -1;
    if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) return -1;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789.eE+-", s[i]) || s[i] == 0) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno || !isfinite(v) || v < 0 || v > 1e6) return -1;
    *out = v;
    return 0;
}

/* One item s[0..n): kind ':' spec. */
static int parse_item(vt_layout_item *it, const char *s, size_t n, int idx, vt_status *st)
{
    char q[256];
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return vt_fail(st, VT_EINPUT, "layout item %d '%s': expected text:N, image:TxHxW, video:TxHxW[@S] or stamp:N", idx,
                       quote_item(q, sizeof q, s, n));
    size_t kn = (size_t)(colon - s);
    const char *spec = colon + 1;
    size_t sn = n - kn - 1;
    memset(it, 0, sizeof *it);
    if ((kn == 4 && !memcmp(s, "text", 4)) || (kn == 5 && !memcmp(s, "stamp", 5))) {
        it->kind = kn == 4 ? VT_LAYOUT_TEXT : VT_LAYOUT_STAMP;
        int rc = parse_count(spec, sn, &it->n);
        if (rc == -2)
            return vt_fail(st, VT_EINPUT, "layout item %d '%s': N must be in [1, %d]", idx, quote_item(q, sizeof q, s, n),
                           VT_MROPE_MAX_LEN);
        if (rc)
            return vt_fail(st, VT_EINPUT, "layout item %d '%s': expected %s:N with N a whole number >= 1", idx,
                           quote_item(q, sizeof q, s, n), kn == 4 ? "text" : "stamp");
        return VT_OK;
    }
    int is_image = kn == 5 && !memcmp(s, "image", 5), is_video = kn == 5 && !memcmp(s, "video", 5);
    if (!is_image && !is_video)
        return vt_fail(st, VT_EINPUT, "layout item %d '%s': unknown kind (text, image, video or stamp)", idx,
                       quote_item(q, sizeof q, s, n));
    const char *kind = is_image ? "image" : "video";
    it->kind = is_image ? VT_LAYOUT_IMAGE : VT_LAYOUT_VIDEO;
    const char *at = memchr(spec, '@', sn);
    size_t gn = at ? (size_t)(at - spec) : sn;
    if (at && is_image)
        return vt_fail(st, VT_EINPUT, "layout item %d '%s': @S (second_per_grid_ts) is for videos only", idx,
                       quote_item(q, sizeof q, s, n));
    /* TxHxW: three counts separated by 'x' */
    const char *p = spec, *end = spec + gn;
    for (int d = 0; d < 3; d++) {
        const char *x = d < 2 ? memchr(p, 'x', (size_t)(end - p)) : end;
        int rc = x ? parse_count(p, (size_t)(x - p), &it->thw[d]) : -1;
        if (rc == -2)
            return vt_fail(st, VT_EINPUT, "layout item %d '%s': T, H and W must be in [1, %d]", idx,
                           quote_item(q, sizeof q, s, n), VT_MROPE_MAX_LEN);
        if (rc)
            return vt_fail(st, VT_EINPUT, "layout item %d '%s': expected %s:TxHxW%s with whole numbers >= 1 (e.g. %s:1x4x6)",
                           idx, quote_item(q, sizeof q, s, n), kind, is_video ? "[@S]" : "", kind);
        p = x + 1;
    }
    if (at) {
        it->has_seconds = 1;
        if (parse_seconds(at + 1, (size_t)(spec + sn - at - 1), &it->seconds))
            return vt_fail(st, VT_EINPUT, "layout item %d '%s': S in @S must be a decimal number in [0, 1e6] (e.g. @2.0)",
                           idx, quote_item(q, sizeof q, s, n));
    }
    return VT_OK;
}

void vt_rope_layout_timestamp(char *buf, size_t cap, int64_t i, double seconds_per_patch)
{
    /* Qwen3VLProcessor._calculate_timestamps: timestamps = [idx / fps for idx in indices], then the mean of
     * each pair (idx 2i and 2i+1, merge_size 2); the prompt writes f"<{t:.1f} seconds>" */
    const double fps = seconds_per_patch > 0 ? 2.0 / seconds_per_patch : 0; /* @0: every frame at time 0 */
    const double a = fps > 0 ? (double)(2 * i) / fps : 0, b = fps > 0 ? (double)(2 * i + 1) / fps : 0;
    snprintf(buf, cap, "<%.1f seconds>", (a + b) / 2);
}

/* Tokens of the timestamp before temporal patch i: stamps->count on its text, or stamp:N. */
static int stamp_tokens(int64_t *n, const vt_rope_stamps *stamps, int64_t stamp, int64_t i, double spp, int item,
                        vt_status *st)
{
    if (!stamps) {
        *n = stamp;
        return VT_OK;
    }
    char text[64];
    vt_rope_layout_timestamp(text, sizeof text, i, spp);
    VT_TRY(stamps->count(stamps->ctx, text, n, st));
    if (*n < 0 || *n > VT_MROPE_MAX_LEN)
        return vt_fail(st, VT_EINPUT, "layout item %d: timestamp '%s' counted %lld tokens", item, text, (long long)*n);
    return VT_OK;
}

int vt_rope_layout_parse(vt_rope_layout *lay, const char *s, vt_status *st)
{
    memset(lay, 0, sizeof *lay);
    int cap = 0;
    const char *p = s;
    for (;;) {
        while (is_sep(*p)) p++;
        if (!*p) break;
        const char *e = p;
        while (*e && !is_sep(*e)) e++;
        if (lay->n == VT_LAYOUT_MAX_ITEMS) {
            vt_rope_layout_free(lay);
            return vt_fail(st, VT_EINPUT, "layout: more than %d items", VT_LAYOUT_MAX_ITEMS);
        }
        if (lay->n == cap) {
            cap = cap ? 2 * cap : 16;
            vt_layout_item *v = realloc(lay->items, (size_t)cap * sizeof *v);
            if (!v) {
                vt_rope_layout_free(lay);
                return vt_fail(st, VT_ERESOURCE, "out of memory");
            }
            lay->items = v;
        }
        if (parse_item(&lay->items[lay->n], p, (size_t)(e - p), lay->n + 1, st)) {
            vt_rope_layout_free(lay);
            return st->code;
        }
        lay->n++;
        p = e;
    }
    if (lay->n == 0)
        return vt_fail(st, VT_EINPUT, "layout: empty (expected items like 'text:5 image:1x4x6 text:3')");
    return VT_OK;
}

void vt_rope_layout_free(vt_rope_layout *lay)
{
    free(lay->items);
    lay->items = NULL;
    lay->n = 0;
}

int vt_rope_layout_build(vt_rope_layout_inputs *out, const vt_rope_layout *lay, const vt_mrope_config *tc,
                         const vt_rope_stamps *stamps, vt_arena *a, vt_status *st)
{
    memset(out, 0, sizeof *out);
    const int m = tc->spatial_merge_size;
    if (m < 1) return vt_fail(st, VT_EINPUT, "config: spatial_merge_size %d must be positive", m);
    int64_t L = 0, n_img = 0, n_vid = 0, stamp = 0; /* stamp: Qwen3-VL's tokens per timestamp, 0 = none yet */
    for (int i = 0; i < lay->n; i++) {
        const vt_layout_item *it = &lay->items[i];
        if (it->kind == VT_LAYOUT_TEXT) {
            L += it->n;
        } else if (it->kind == VT_LAYOUT_STAMP) {
            if (!tc->frame_blocks)
                return vt_fail(st, VT_EINPUT, "layout item %d: stamp:N (timestamp tokens before each temporal patch) "
                               "needs a Qwen3-VL config", i + 1);
            if (stamps)
                return vt_fail(st, VT_EINPUT, "layout item %d: stamp:N and a tokenizer: the tokenizer counts the "
                               "timestamps (drop one)", i + 1);
            stamp = it->n;
        } else {
            const char *kind = it->kind == VT_LAYOUT_IMAGE ? "image" : "video";
            if (it->thw[1] % m || it->thw[2] % m)
                return vt_fail(st, VT_EINPUT, "layout item %d '%s:%lldx%lldx%lld': H and W must be multiples of "
                               "spatial_merge_size %d", i + 1, kind, (long long)it->thw[0], (long long)it->thw[1],
                               (long long)it->thw[2], m);
            if (it->has_seconds && !tc->absolute_time && !tc->frame_blocks)
                return vt_fail(st, VT_EINPUT, "layout item %d: @S (second_per_grid_ts) needs a Qwen2.5-VL config (or "
                               "Qwen3-VL's timestamps); Qwen2-VL numbers video frames 0, 1, 2, ...", i + 1);
            if (it->has_seconds && tc->frame_blocks && !stamps)
                return vt_fail(st, VT_EINPUT, "layout item %d: @S (the timestamps' seconds per temporal patch) needs a "
                               "tokenizer to count the timestamp tokens (--tokenizer); or give stamp:N", i + 1);
            const int frames = it->kind == VT_LAYOUT_VIDEO && tc->frame_blocks;
            if (frames && stamp == 0 && !stamps)
                return vt_fail(st, VT_EINPUT, "layout item %d: a Qwen3-VL video needs a tokenizer (--tokenizer) or "
                               "stamp:N before it (the text tokens of each temporal patch's timestamp, e.g. stamp:6 "
                               "for \"<1.5 seconds>\")", i + 1);
            int64_t tokens = it->thw[0] * (it->thw[1] / m); /* each <= 2^24: no overflow */
            if (tokens > VT_MROPE_MAX_LEN) tokens = VT_MROPE_MAX_LEN + 1;
            else tokens *= it->thw[2] / m;
            /* vision_start, the pads, vision_end; Qwen3-VL: per temporal patch, with its timestamp */
            if (frames) {
                L += tokens;
                const double spp = it->has_seconds ? it->seconds : 1.0;
                for (int64_t b = 0; b < it->thw[0] && L <= VT_MROPE_MAX_LEN; b++) {
                    int64_t ns;
                    VT_TRY(stamp_tokens(&ns, stamps, stamp, b, spp, i + 1, st));
                    L += 2 + ns;
                }
            } else {
                L += 2 + tokens;
            }
            if (it->kind == VT_LAYOUT_IMAGE) n_img++;
            else n_vid++;
            out->has_seconds |= it->has_seconds && !tc->frame_blocks; /* Qwen3-VL: for the timestamps only */
        }
        if (L > VT_MROPE_MAX_LEN)
            return vt_fail(st, VT_EINPUT, "layout: more than %d tokens (at item %d)", VT_MROPE_MAX_LEN, i + 1);
    }
    if (L == 0) /* only stamp:N items: they say how long timestamps are, and hold no token */
        return vt_fail(st, VT_EINPUT, "layout: no tokens (stamp:N only counts the timestamps of the videos after it)");
    /* text tokens: the lowest id that is none of the special ones */
    int64_t text_id = 0;
    for (int again = 1; again;) {
        again = 0;
        if (text_id == tc->image_token_id || text_id == tc->video_token_id || text_id == tc->vision_start_token_id ||
            text_id == tc->vision_end_token_id) {
            text_id++;
            again = 1;
        }
    }
    out->text_token_id = text_id;
    VT_TRY(vt_tensor_alloc(&out->input_ids, a, VT_I64, VT_DIMS(1, L), st));
    if ((out->has_images = n_img > 0)) VT_TRY(vt_tensor_alloc(&out->image_grid_thw, a, VT_I64, VT_DIMS(n_img, 3), st));
    if ((out->has_videos = n_vid > 0)) VT_TRY(vt_tensor_alloc(&out->video_grid_thw, a, VT_I64, VT_DIMS(n_vid, 3), st));
    if (out->has_seconds) VT_TRY(vt_tensor_alloc(&out->second_per_grid_ts, a, VT_F32, VT_DIMS(n_vid), st));
    int64_t *ids = vt_i64(&out->input_ids), j = 0, ii = 0, vi = 0;
    stamp = 0;
    for (int i = 0; i < lay->n; i++) {
        const vt_layout_item *it = &lay->items[i];
        if (it->kind == VT_LAYOUT_TEXT) {
            for (int64_t k = 0; k < it->n; k++) ids[j++] = text_id;
            continue;
        }
        if (it->kind == VT_LAYOUT_STAMP) {
            stamp = it->n;
            continue;
        }
        int img = it->kind == VT_LAYOUT_IMAGE;
        /* Qwen3VLProcessor: "<T seconds>" + vision_start + pads + vision_end for every temporal patch */
        const int frames = !img && tc->frame_blocks;
        const int64_t blocks = frames ? it->thw[0] : 1;
        const int64_t tokens = (it->thw[0] / blocks) * (it->thw[1] / m) * (it->thw[2] / m);
        for (int64_t b = 0; b < blocks; b++) {
            int64_t nstamp = 0;
            if (frames) VT_TRY(stamp_tokens(&nstamp, stamps, stamp, b, it->has_seconds ? it->seconds : 1.0, i + 1, st));
            VT_ASSERT(j + nstamp + 2 + tokens <= L); /* the counter must answer as in the first pass */
            for (int64_t k = 0; k < nstamp; k++) ids[j++] = text_id;
            ids[j++] = tc->vision_start_token_id;
            for (int64_t k = 0; k < tokens; k++) ids[j++] = img ? tc->image_token_id : tc->video_token_id;
            ids[j++] = tc->vision_end_token_id;
        }
        int64_t *g = vt_i64(img ? &out->image_grid_thw : &out->video_grid_thw) + 3 * (img ? ii++ : vi);
        memcpy(g, it->thw, sizeof it->thw);
        if (!img) {
            /* as the processor passes it: a Python float, used by torch as float32 */
            if (out->has_seconds) vt_f32(&out->second_per_grid_ts)[vi] = it->has_seconds ? (float)it->seconds : 1.0f;
            vi++;
        }
    }
    VT_ASSERT(j == L);
    return VT_OK;
}
