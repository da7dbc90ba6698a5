/* inject.c -- the bug zoo's table and lookup (see inject.h, ref/core/bugzoo.h, docs/bug-zoo.md). */
#include "cli/inject.h"

#include <stdio.h>
#include <string.h>

#include "core/bugzoo.h"

#define T(x) (1u << (x))
#define QWEN2_GENERATE (T(VT_INJECT_GENERATE_QWEN2VL) | T(VT_INJECT_GENERATE_QWEN25VL))
/* `generate` runs the tower too: every tower bug of `run` applies there as well */
#define QWEN2_RUNS (T(VT_INJECT_RUN_QWEN2VL) | T(VT_INJECT_RUN_QWEN25VL) | T(VT_INJECT_RUN_QWEN3VL) | QWEN2_GENERATE)

static const vt_inject_bug bugs[] = {
    {"bilinear-resize", VT_BUG_BILINEAR_RESIZE, QWEN2_RUNS | T(VT_INJECT_PREPROCESS), "the resize (PIL)",
     "PIL BILINEAR instead of BICUBIC"},
    {"round-half-away", VT_BUG_ROUND_HALF_AWAY, QWEN2_RUNS | T(VT_INJECT_PREPROCESS), "smart_resize",
     "C round() (ties away from zero) instead of Python round() (ties to even)"},
    {"no-segment-mask", VT_BUG_NO_SEGMENT_MASK, QWEN2_RUNS | T(VT_INJECT_RUN_KIMIVL), "the vision attention",
     "one segment for everything: images, time slices and windows attend to each other"},
    {"fullatt-as-strings", VT_BUG_FULLATT_AS_STRINGS, T(VT_INJECT_RUN_QWEN25VL) | T(VT_INJECT_GENERATE_QWEN25VL),
     "the block loop",
     "block names (strings) tested against fullatt_block_indexes (ints): no full-attention block"},
    {"no-reverse-index", VT_BUG_NO_REVERSE_INDEX, T(VT_INJECT_RUN_QWEN25VL) | T(VT_INJECT_GENERATE_QWEN25VL),
     "the reverse window index after the merger",
     "argsort(window_index) never applied: the output stays in window order"},
    {"qkv-global-split", VT_BUG_QKV_GLOBAL_SPLIT, T(VT_INJECT_RUN_QWENVL), "the trunk attention",
     "in_proj's per-head [q|k|v] columns read as one global q | k | v split"},
    {"cross-image-leak", VT_BUG_CROSS_IMAGE_LEAK, T(VT_INJECT_RUN_KIMIVL), "the vision attention",
     "the eager path: the boolean image mask added (+1 / +0) instead of masking"},
    {"sequential-positions", VT_BUG_SEQUENTIAL_POSITIONS, T(VT_INJECT_ROPE), "get_rope_index",
     "M-RoPE ignored: positions 0..L-1 on all three axes"},
    {"no-mrope-sections", VT_BUG_NO_MROPE_SECTIONS, T(VT_INJECT_ROPE), "apply_multimodal_rotary_pos_emb",
     "the mrope_section split skipped: every channel rotates by the temporal position"},
    {"align-corners-false", VT_BUG_ALIGN_CORNERS_FALSE, T(VT_INJECT_RUN_QWEN3VL), "fast_pos_embed_interpolate",
     "the position table sampled at half-pixel centres (F.interpolate, align_corners=False)"},
    {"sectioned-mrope", VT_BUG_SECTIONED_MROPE, T(VT_INJECT_ROPE), "apply_interleaved_mrope",
     "Qwen3-VL's rotary with Qwen2-VL's contiguous t | h | w chunks instead of interleaved"},
    {"mrope-section-order", VT_BUG_MROPE_SECTION_ORDER, QWEN2_GENERATE, "the decoder's multimodal rotary",
     "the mrope_section chunks take the position rows as (w, h, t) instead of (t, h, w)"},
    {"decode-positions-restart", VT_BUG_DECODE_POSITIONS_RESTART, QWEN2_GENERATE, "cached decoding",
     "generated token j placed at position L + j (its sequence index), rope_deltas forgotten"},
};

const vt_inject_bug *vt_inject_table(int *n)
{
    *n = (int)(sizeof bugs / sizeof bugs[0]);
    return bugs;
}

const char *vt_inject_target_name(vt_inject_target t)
{
    switch (t) {
    case VT_INJECT_RUN_QWEN2VL: return "vlmtrace run on Qwen2-VL";
    case VT_INJECT_RUN_QWEN25VL: return "vlmtrace run on Qwen2.5-VL";
    case VT_INJECT_RUN_QWENVL: return "vlmtrace run on Qwen-VL";
    case VT_INJECT_RUN_KIMIVL: return "vlmtrace run on Kimi-VL";
    case VT_INJECT_RUN_QWEN3VL: return "vlmtrace run on Qwen3-VL";
    case VT_INJECT_PREPROCESS: return "vlmtrace preprocess";
    case VT_INJECT_ROPE: return "vlmtrace rope";
    case VT_INJECT_GENERATE_QWEN2VL: return "vlmtrace generate on Qwen2-VL";
    case VT_INJECT_GENERATE_QWEN25VL: return "vlmtrace generate on Qwen2.5-VL";
    case VT_INJECT_N_TARGETS: break;
    }
    return "?";
}

void vt_inject_names(char *buf, size_t n, vt_inject_target t)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
        if (!(bugs[i].targets & T(t))) continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", bugs[i].name);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
    }
}

int vt_inject_lookup(const char *name, vt_inject_target t, unsigned *bug, vt_status *st)
{
    char valid[256];
    vt_inject_names(valid, sizeof valid, t);
    for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
        if (strcmp(bugs[i].name, name) != 0) continue;
        if (!(bugs[i].targets & T(t)))
            return vt_fail(st, VT_EINPUT, "--inject %s: does not apply to %s (it lives in %s); valid here: %s", name,
                           vt_inject_target_name(t), bugs[i].stage, valid);
        *bug = bugs[i].flag;
        return VT_OK;
    }
    return vt_fail(st, VT_EINPUT, "--inject %s: no such bug; valid for %s: %s", name, vt_inject_target_name(t), valid);
}
