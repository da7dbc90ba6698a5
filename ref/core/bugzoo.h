/*
 * bugzoo.h -- the bug zoo: real porting mistakes that a stage can be told to make, for teaching.
 *
 *     po.bugs = VT_BUG_BILINEAR_RESIZE;              // vt_processor_opts: the resize stage
 *     m.bugs  = VT_BUG_NO_SEGMENT_MASK;              // vt_qwen2vl_model / vt_qwen25vl_model / vt_qwenvl_model /
 *                                                    // vt_qwen3vl_model
 *     opts.bugs = VT_BUG_CROSS_IMAGE_LEAK;           // vt_kimivl_opts
 *     in.bugs = VT_BUG_SEQUENTIAL_POSITIONS;         // vt_mrope_inputs
 *     lm.bugs = VT_BUG_MROPE_SECTION_ORDER;          // vt_lm_model
 *
 * Each flag switches one mistake on inside the stage where real ports made it; 0 (the default of every
 * options struct) computes what the reference computes. The flags change arithmetic, never a trace name,
 * shape rule or dtype, so a diff against the reference shows where the mistake first surfaces. The CLI
 * side (`--inject NAME`, which bug applies to which command and family, the manifest label) is
 * trace/cli/inject.h; docs/bug-zoo.md tells where each mistake was seen in the wild.
 *
 * In a stage, a switch is ONE line, placed right after the reference's value is computed, that
 * overrides that value when the flag is set:
 *
 *     int is_full = vt_qwen25vl_is_fullatt(&m->cfg, i);
 *     VT_BUG_SWITCH(m->bugs, VT_BUG_FULLATT_AS_STRINGS, is_full = vt_qwen25vl_is_fullatt_as_string(&m->cfg, i));
 *
 * A reader skips every line that starts with VT_BUG_SWITCH and reads the reference's computation
 * unchanged; a switch never sits inside a formula. An alternative too long for one line becomes a
 * static function named after what it mirrors (kimivl_encoder.c: eager_attention). A new bug follows the
 * same pattern: a flag below, one VT_BUG_SWITCH line in the stage, a row in the table below, its CLI
 * name in trace/cli/inject.c, its story and a live report in docs/bug-zoo.md, a test in
 * tests/test_bugzoo.c.
 *
 *   flag                          stage that makes the mistake (file)
 *   VT_BUG_BILINEAR_RESIZE        qwen2_resize: PIL bilinear instead of bicubic (processor.c)
 *   VT_BUG_ROUND_HALF_AWAY        smart_resize: C round() (ties away from zero) instead of Python's
 *                                 round() (ties to even) (processor.c)
 *   VT_BUG_NO_SEGMENT_MASK        the segments attention is restricted to: one segment [0, N) for
 *                                 everything, so images / time slices / windows see each other
 *                                 (qwen2vl_forward.c, qwen25vl_forward.c, kimivl_encoder.c)
 *   VT_BUG_FULLATT_AS_STRINGS     Qwen2.5-VL's "is this a full-attention block" test compares a string
 *                                 layer name with the integer list: never true (qwen25vl_forward.c)
 *   VT_BUG_NO_REVERSE_INDEX       Qwen2.5-VL's merger output left in window order (qwen25vl_forward.c)
 *   VT_BUG_QKV_GLOBAL_SPLIT       Qwen-VL's per-head interleaved in_proj read as a global q | k | v
 *                                 split (qwenvl_trunk.c)
 *   VT_BUG_CROSS_IMAGE_LEAK       Kimi-VL's eager path: the boolean image mask ADDED to the scores
 *                                 (+1 inside an image, +0 across) instead of masking (kimivl_encoder.c)
 *   VT_BUG_SEQUENTIAL_POSITIONS   get_rope_index ignored: positions 0..L-1 (the text-only rule) on all
 *                                 three M-RoPE axes (mrope.c)
 *   VT_BUG_NO_MROPE_SECTIONS      the mrope_section split skipped: every channel rotates by the
 *                                 temporal row (mrope.c)
 *   VT_BUG_ALIGN_CORNERS_FALSE    Qwen3-VL's position table sampled at F.interpolate's half-pixel centres
 *                                 (align_corners=False) instead of linspace(0, side-1, n) over the corners
 *                                 (qwen3vl_posembed.c)
 *   VT_BUG_SECTIONED_MROPE        Qwen3-VL's rotary with Qwen2-VL's contiguous t | h | w frequency chunks
 *                                 instead of the interleaved layout (mrope_qwen3.c)
 *   VT_BUG_MROPE_SECTION_ORDER    the language model's mrope_section chunks take the position rows in the
 *                                 order (w, h, t) instead of (t, h, w) (lm_forward.c)
 *   VT_BUG_DECODE_POSITIONS_RESTART  cached decoding places token j at position L + j (its sequence
 *                                 index), forgetting rope_deltas (lm_generate.c)
 */
#ifndef VT_BUGZOO_H
#define VT_BUGZOO_H

enum {
    VT_BUG_BILINEAR_RESIZE = 1u << 0,
    VT_BUG_ROUND_HALF_AWAY = 1u << 1,
    VT_BUG_NO_SEGMENT_MASK = 1u << 2,
    VT_BUG_FULLATT_AS_STRINGS = 1u << 3,
    VT_BUG_NO_REVERSE_INDEX = 1u << 4,
    VT_BUG_QKV_GLOBAL_SPLIT = 1u << 5,
    VT_BUG_CROSS_IMAGE_LEAK = 1u << 6,
    VT_BUG_SEQUENTIAL_POSITIONS = 1u << 7,
    VT_BUG_NO_MROPE_SECTIONS = 1u << 8,
    VT_BUG_ALIGN_CORNERS_FALSE = 1u << 9,
    VT_BUG_SECTIONED_MROPE = 1u << 10,
    VT_BUG_MROPE_SECTION_ORDER = 1u << 11,
    VT_BUG_DECODE_POSITIONS_RESTART = 1u << 12,
};

/* VT_BUG_SWITCH(bugs, FLAG, statement...): when FLAG is set in bugs, run the statement(s), which replace
 * a value the line above computed (or return the alternative result). bugs == 0 is the reference. */
#define VT_BUG_SWITCH(bugs, flag, ...)                                                                     \
    do {                                                                                                   \
        if ((bugs) & (flag)) { __VA_ARGS__; }                                                              \
    } while (0)

#endif
