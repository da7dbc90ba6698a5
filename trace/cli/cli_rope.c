/* cli_rope.c -- `vlmtrace rope`: M-RoPE position ids (get_rope_index) and the multimodal rotary. */
#include <stdlib.h>
#include <string.h>

#include "core/bugzoo.h"
#include "cli/cli.h"
#include "cli/inject.h"
#include "model/model.h"
#include "io/fileio.h"
#include "mrope/mrope.h"
#include "format/npy.h"
#include "cli/rope_layout.h"
#include "format/tracer.h"
#include "cli/output.h"
#include "viz/viz_rope.h"

static const char rope_usage[] =
    "usage: vlmtrace rope (--model DIR | --config FILE)\n"
    "                     (--input-ids F.npy [--attention-mask F.npy] [--image-grid-thw F.npy]\n"
    "                      [--video-grid-thw F.npy] [--second-per-grid-ts F.npy] | --layout STRING)\n"
    "                     [--position-ids F.npy] [--q F.npy --k F.npy] --trace DIR [--viz] [--quiet]\n"
    "                     [--inject BUG] [--force] [--json]\n"
    "\n"
    "M-RoPE of Qwen2-VL / Qwen2.5-VL (model_type qwen2_vl / qwen2_5_vl; only config.json is read, no\n"
    "weights). Computes position_ids [3, B, L] (t, h, w) and rope_deltas [B, 1] as get_rope_index does,\n"
    "and writes them with the inputs into the trace directory DIR under the reference's names.\n"
    "\n"
    "  --input-ids F.npy           int64 [B, L] (int32 is widened)\n"
    "  --attention-mask F.npy      int64 [B, L] of 0/1 (left padding); padded positions get 1\n"
    "  --image-grid-thw F.npy      int64 [n_images, 3] in patches, in batch order\n"
    "  --video-grid-thw F.npy      int64 [n_videos, 3]\n"
    "  --second-per-grid-ts F.npy  float32 [n_videos] (Qwen2.5-VL; default 1.0 per video, as the reference)\n"
    "  --layout STRING             a prompt instead of the .npy inputs, e.g.\n"
    "                                \"text:5 image:1x4x6 text:3 video:2x4x6@2.0\"\n"
    "                              text:N is N text tokens; image:TxHxW / video:TxHxW the grid in patches\n"
    "                              (vision_start, T*H*W/merge^2 pad tokens and vision_end are inserted);\n"
    "                              @S is that video's second_per_grid_ts (Qwen2.5-VL)\n"
    "  --q F.npy --k F.npy         float32 [B, heads, L, head_dim] and [B, kv_heads, L, head_dim]: also\n"
    "                              write mrope.inv_freq, mrope.cos, mrope.sin, mrope.q_embed, mrope.k_embed\n"
    "  --position-ids F.npy        int64 [3, B, L] used instead of computing them (with --q/--k only)\n"
    "  --trace DIR                 the output directory (created)\n"
    "  --viz                       also draw the three position rows along the sequence (DIR/rope.positions.png)\n"
    "  --inject BUG                switch on a real porting mistake and label the trace (docs/bug-zoo.md):\n"
    "                                sequential-positions  get_rope_index skipped: 0..L-1 on t, h and w\n"
    "                                                      (needs computed positions: no --position-ids)\n"
    "                                no-mrope-sections     the rotary without the mrope_section split:\n"
    "                                                      every channel turns by t (needs --q and --k)\n"
    "  --force                     write even where a checkpoint, a config or another producer's trace is\n"
    "  --json                      one JSON document on stdout (what was written), nothing else there\n"
    "  --quiet                     no summary line on stderr, and no table: by default rows of up to 96 tokens are printed as\n"
    "                                tok  T  T  vs I  I  ve T   (T text, vs/ve vision start/end, I image, V video,\n"
    "                                t    0  1  2  3  3  5  6    . padding)\n"
    "                                h    ...\n"
    "\n"
    "Exit status: 0 success, 2 bad input (a message names the file or tensor), 3 resource failure.\n";

/* The .npy files of one run: read, checked for dtype, int32 widened to int64. */
typedef struct rope_file {
    vt_tensor t;
    void *owned;
    int present;
} rope_file;

static int load_npy(rope_file *f, const char *flag, const char *path, vt_dtype want, vt_status *st)
{
    if (!path) return VT_OK;
    VT_TRY(vt_npy_read(path, &f->t, &f->owned, st));
    f->present = 1;
    if (f->t.dtype == want) return VT_OK;
    if (want == VT_I64 && f->t.dtype == VT_I32) {
        int64_t n = vt_numel(&f->t);
        int64_t *w = malloc((size_t)(n ? n : 1) * sizeof *w);
        if (!w) return vt_fail(st, VT_ERESOURCE, "%s: out of memory", path);
        for (int64_t i = 0; i < n; i++) w[i] = vt_i32(&f->t)[i];
        free(f->owned);
        f->owned = w;
        f->t.data = w;
        f->t.dtype = VT_I64;
        return VT_OK;
    }
    return vt_fail(st, VT_EINPUT, "%s %s: dtype %s, expected %s", flag, path, vt_dtype_name(f->t.dtype),
                   vt_dtype_name(want));
}

/* The positions as a table on stdout, for sequences short enough to read (the point of --layout):
 *     tok   T  T  vs I  I  ve T
 *     t     0  1  2  3  3  5  6      ... one block per batch row, with its rope_deltas */
#define TABLE_MAX_LEN 96

static void print_positions(const vt_tensor *ids, const vt_tensor *mask, const vt_tensor *pos, const vt_tensor *deltas,
                            const vt_mrope_config *tc)
{
    const int64_t B = ids->shape[0], L = ids->shape[1];
    if (L > TABLE_MAX_LEN) {
        printf("(%lld tokens per row: too long for a table; vlmtrace show, or read position_ids.npy)\n", (long long)L);
        return;
    }
    int w = 2;
    for (int64_t i = 0; i < 3 * B * L; i++) {
        char b[24];
        int n = snprintf(b, sizeof b, "%lld", (long long)vt_i64(pos)[i]);
        if (n > w) w = n;
    }
    for (int64_t b = 0; b < B; b++) {
        if (deltas && deltas->data)
            printf("row %lld  (rope_deltas %lld)\n", (long long)b, (long long)vt_i64(deltas)[b]);
        else
            printf("row %lld\n", (long long)b);
        printf("  tok ");
        for (int64_t l = 0; l < L; l++) {
            int64_t id = vt_i64(ids)[b * L + l];
            const char *k = mask && vt_i64(mask)[b * L + l] == 0 ? "."
                            : id == tc->vision_start_token_id ? "vs"
                            : id == tc->vision_end_token_id   ? "ve"
                            : id == tc->image_token_id        ? "I"
                            : id == tc->video_token_id        ? "V"
                                                              : "T";
            printf(" %s%*s", k, l + 1 < L ? w - (int)strlen(k) : 0, ""); /* no trailing blanks */
        }
        for (int ax = 0; ax < 3; ax++) {
            printf("\n  %c   ", "thw"[ax]);
            for (int64_t l = 0; l < L; l++)
                printf(" %-*lld", l + 1 < L ? w : 1, (long long)vt_i64(pos)[(ax * B + b) * L + l]);
        }
        printf("\n");
    }
}

enum { F_IDS, F_MASK, F_IMG, F_VID, F_SPG, F_POS, F_Q, F_K, F_N };
static const char *const flag_names[F_N] = {"--input-ids",          "--attention-mask", "--image-grid-thw",
                                            "--video-grid-thw",     "--second-per-grid-ts",
                                            "--position-ids",       "--q",              "--k"};

static int rope_run(int argc, char **argv, vt_status *st)
{
    const char *model = NULL, *config = NULL, *layout = NULL, *trace = NULL, *inject = NULL, *paths[F_N] = {0};
    int viz = 0, rc = VT_OK;
    vt_output o = {0};
    vt_output_start(&o);
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &model, "DIR", 0, 0, NULL},
        {"--config", VT_OPT_STRING, 0, &config, "FILE", 0, 0, NULL},
        {"--layout", VT_OPT_STRING, 0, &layout, "STRING", 0, 0, NULL},
        {"--trace", VT_OPT_STRING, 0, &trace, "DIR", 0, 0, NULL},
        {"--inject", VT_OPT_STRING, 0, &inject, "BUG", 0, 0, NULL},
        {"--viz", VT_OPT_FLAG, 0, &viz, NULL, 0, 0, NULL},
        {"--input-ids", VT_OPT_STRING, 0, &paths[F_IDS], "F.npy", 0, 0, NULL},
        {"--attention-mask", VT_OPT_STRING, 0, &paths[F_MASK], "F.npy", 0, 0, NULL},
        {"--image-grid-thw", VT_OPT_STRING, 0, &paths[F_IMG], "F.npy", 0, 0, NULL},
        {"--video-grid-thw", VT_OPT_STRING, 0, &paths[F_VID], "F.npy", 0, 0, NULL},
        {"--second-per-grid-ts", VT_OPT_STRING, 0, &paths[F_SPG], "F.npy", 0, 0, NULL},
        {"--position-ids", VT_OPT_STRING, 0, &paths[F_POS], "F.npy", 0, 0, NULL},
        {"--q", VT_OPT_STRING, 0, &paths[F_Q], "F.npy", 0, 0, NULL},
        {"--k", VT_OPT_STRING, 0, &paths[F_K], "F.npy", 0, 0, NULL},
        VT_OUTPUT_OPTS(&o),
    };
    VT_TRY(vt_opts_parse("rope", opts, VT_N_OPTS(opts), argc, argv, NULL, st));
    const int quiet = o.quiet || o.json;
    if (!model == !config) return vt_fail(st, VT_EINPUT, "give one of --model DIR or --config FILE (see vlmtrace rope --help)");
    if (!trace) return vt_fail(st, VT_EINPUT, "--trace DIR is required (see vlmtrace rope --help)");
    if (!layout == !paths[F_IDS])
        return vt_fail(st, VT_EINPUT, "give one of --input-ids F.npy or --layout STRING (see vlmtrace rope --help)");
    if (layout)
        for (int k = F_MASK; k <= F_POS; k++)
            if (paths[k])
                return vt_fail(st, VT_EINPUT, "%s cannot be combined with --layout (the layout gives the sequence)",
                               flag_names[k]);
    if (!paths[F_Q] != !paths[F_K]) return vt_fail(st, VT_EINPUT, "--q and --k go together");
    if (paths[F_POS] && !paths[F_Q])
        return vt_fail(st, VT_EINPUT, "--position-ids is for the rotary only: give --q and --k with it");
    VT_TRY(vt_output_guard(trace, VT_OUT_DIR, "--trace", o.force, st));
    unsigned bugs = 0;
    if (inject) {
        VT_TRY(vt_inject_lookup(inject, VT_INJECT_ROPE, &bugs, st));
        if ((bugs & VT_BUG_SEQUENTIAL_POSITIONS) && paths[F_POS])
            return vt_fail(st, VT_EINPUT, "--inject %s acts in get_rope_index, which --position-ids replaces", inject);
        if ((bugs & VT_BUG_NO_MROPE_SECTIONS) && !paths[F_Q])
            return vt_fail(st, VT_EINPUT, "--inject %s acts in the rotary: give --q and --k", inject);
    }

    vt_model_config cfg;
    VT_TRY(model ? vt_config_load(&cfg, model, st) : vt_config_load_file(&cfg, config, st));
    if (cfg.family != VT_FAMILY_QWEN2VL && cfg.family != VT_FAMILY_QWEN25VL)
        return vt_fail(st, VT_EINPUT, "%s: model_type %s has no M-RoPE (qwen2_vl or qwen2_5_vl)", model ? model : config,
                       cfg.model_type);

    rope_file f[F_N];
    memset(f, 0, sizeof f);
    vt_arena arena;
    vt_arena_init(&arena, 0);
    vt_rope_layout lay = {0};
    vt_rope_layout_inputs li;
    vt_mrope_inputs in = {0};
    in.bugs = bugs;
    const vt_dtype want[F_N] = {VT_I64, VT_I64, VT_I64, VT_I64, VT_F32, VT_I64, VT_F32, VT_F32};
    for (int k = 0; k < F_N && rc == VT_OK; k++) rc = load_npy(&f[k], flag_names[k], paths[k], want[k], st);
    if (rc == VT_OK && layout && (rc = vt_rope_layout_parse(&lay, layout, st)) == VT_OK &&
        (rc = vt_rope_layout_build(&li, &lay, &cfg.text, &arena, st)) == VT_OK) {
        in.input_ids = &li.input_ids;
        in.image_grid_thw = li.has_images ? &li.image_grid_thw : NULL;
        in.video_grid_thw = li.has_videos ? &li.video_grid_thw : NULL;
        in.second_per_grid_ts = li.has_seconds ? &li.second_per_grid_ts : NULL;
    } else if (rc == VT_OK) {
        in.input_ids = &f[F_IDS].t;
    }
    if (rc == VT_OK) {
        const vt_tensor **slot[F_N] = {NULL, &in.attention_mask, &in.image_grid_thw, &in.video_grid_thw,
                                       &in.second_per_grid_ts, &in.position_ids, &in.q, &in.k};
        for (int k = 1; k < F_N; k++)
            if (f[k].present) *slot[k] = &f[k].t;
        rc = vt_mrope_check_inputs(&in, &cfg.text, st); /* before creating anything */
    }
    vt_tracer tr;
    int tr_open = 0;
    if (rc == VT_OK && (rc = vt_tracer_open(&tr, trace, "rope", NULL, 0, st)) == VT_OK) tr_open = 1;
    if (rc == VT_OK && inject) rc = vt_tracer_set_inject(&tr, inject, st);
    vt_mrope_outputs out;
    if (rc == VT_OK) {
        vt_tap tap = vt_tracer_tap(&tr);
        rc = vt_mrope_forward(&out, &in, &cfg.text, &tap, &arena, st);
    }
    if (rc == VT_OK && viz)
        rc = vt_viz_rope_positions(&tr, VT_ROPE_VIZ_FILE, in.input_ids, &out.position_ids, in.attention_mask,
                                   &out.rope_deltas, &cfg.text, cfg.model_type, st);
    if (rc == VT_OK) rc = vt_tracer_finish(&tr, st);
    if (rc == VT_OK) {
        char sb[160];
        vt_shape_str(sb, sizeof sb, out.position_ids.ndim, out.position_ids.shape);
        if (!o.json)
            printf("%s: position_ids %s (%s)%s%s\n", trace, sb, cfg.model_type, in.q ? ", rotary q/k embeds" : "",
               viz ? ", " VT_ROPE_VIZ_FILE : "");
        if (!quiet) print_positions(in.input_ids, in.attention_mask, &out.position_ids, &out.rope_deltas, &cfg.text);
        vt_written w = vt_written_trace(&tr);
        vt_output_done(&o, "rope", &w, 1);
    }
    if (tr_open) vt_tracer_close(&tr);
    vt_rope_layout_free(&lay);
    vt_arena_free(&arena);
    for (int k = 0; k < F_N; k++) free(f[k].owned);
    return rc;
}

const vt_cli_cmd vt_cmd_rope = {"rope", "M-RoPE position ids (get_rope_index) and the multimodal rotary", rope_usage,
                                rope_run};
