/*
 * run_generate.c -- `vlmtrace generate` for Qwen2-VL and Qwen2.5-VL (run.h): decode the images and video
 * frames, check the prompt's vision pads against them, estimate the memory, load the vision tower and the
 * language model, run the whole model (ref/model/vlm.h) with the tap, print the generated ids.
 *
 * Before anything large is allocated, in this order: the prompt's ids (in the vocabulary, not empty, not
 * longer than max_position_embeddings), the checkpoint holds a language model, each input's size through
 * smart_resize, the number of <|image_pad|> / <|video_pad|> tokens against the grids those sizes give
 * (HF raises "Image features and image tokens do not match" only after its tower ran; the same message
 * here, before), then the memory. A failure leaves no manifest.json and no --out file.
 *
 * With --prompt, the ids come from the chat template and the tokenizer (ref/tokenizer/chat.h) once the
 * inputs' grids are known, and the answer is printed as it is generated (a streaming decoder holds back the
 * bytes of a character split across tokens).
 *
 * Trace order: the preprocessing and visual.* as `run` writes them, then input_ids, model.embed_tokens,
 * inputs_embeds, position_ids, rope_deltas, model.rotary_emb.*, mrope.*, model.layers.{i}.*, model.norm,
 * lm_head, generated_ids, generate.logits, generate.position_ids (the e2e golden manifests' order), and
 * with --prompt generate.text (the answer's UTF-8 bytes, uint8 [n], special tokens left out).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "cli/output.h"
#include "cli/run.h"
#include "format/npy.h"
#include "io/image.h"
#include "model/vlm.h"
#include "processor/processor_stages.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

/* ======================================== progress ======================================== */

typedef struct gen_progress {
    int tty;
    double t0, t_first;
    vt_tokenizer_stream *text; /* --prompt: the answer printed as it comes (NULL: ids at the end) */
    int failed;                /* the stream decoder refused an id (reported after the run) */
    vt_status st;
} gen_progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "prefill 0.52 s", then "token 5/64, 12.3 tokens/s" on one line of stderr (a terminal only). */
static void on_token(void *ctx, int64_t token, int step, int max_steps)
{
    gen_progress *p = ctx;
    if (p->text && !p->failed) { /* the answer on stdout, as it is generated */
        const char *piece;
        size_t len;
        if (vt_tokenizer_stream_push(p->text, (int32_t)token, &piece, &len, &p->st)) p->failed = 1;
        else if (len) {
            fwrite(piece, 1, len, stdout);
            fflush(stdout);
        }
    }
    if (!p->tty || p->text) return; /* with the text on stdout, no progress line to mix into it */
    const double t = now_s();
    if (step == 0) {
        p->t_first = t;
        fprintf(stderr, "prefill %.2f s\n", t - p->t0);
    } else {
        fprintf(stderr, "\rtoken %d/%d, %.2f tokens/s", step + 1, max_steps, step / (t - p->t_first));
    }
    fflush(stderr);
}

/* ======================================== checks ======================================== */

/* The grid an input of this size becomes, as the processor will compute it: smart_resize (a video with the
 * video processor's bounds in fast mode), t = frames / temporal_patch_size after the mode's padding (slow:
 * up to a multiple; fast: temporal_patch_size - 1 copies of the last frame when not a multiple). */
static int input_grid(int64_t thw[3], int w, int h, int frames, int is_video, const vt_processor_opts *po,
                      const char *file, vt_status *st)
{
    int64_t rh, rw, Fp;
    const int T = po->temporal_patch_size;
    int rc = is_video ? vt_processor_video_resized_size(&rh, &rw, w, h, po, st)
                      : vt_processor_resized_size(&rh, &rw, w, h, po, st);
    if (rc) return vt_wrap(st, "%s: ", file);
    if (po->mode == VT_PROCESSOR_FAST) {
        if (vt_processor_fast_padded_frames(&Fp, frames, T, st)) return vt_wrap(st, "%s: ", file);
    } else {
        Fp = (frames + T - 1) / T * T;
    }
    thw[0] = Fp / T;
    thw[1] = rh / po->patch_size;
    thw[2] = rw / po->patch_size;
    return VT_OK;
}

static int input_tokens(int64_t *tokens, int w, int h, int frames, int is_video, const vt_processor_opts *po,
                        const char *file, vt_status *st)
{
    int64_t thw[3];
    VT_TRY(input_grid(thw, w, h, frames, is_video, po, file, st));
    *tokens = thw[0] * thw[1] * thw[2] / ((int64_t)po->merge_size * po->merge_size);
    return VT_OK;
}

/* --prompt: the grids of the inputs (as the processor will compute them), the chat template over one user
 * message, pads expanded, tokenized (chat.h) -> ids int64 [1, L] (malloc'd into *owned). */
static int prompt_ids(vt_tensor *ids, int64_t **owned, const vt_gen_opts *g, vt_tokenizer *tok,
                      const vt_image *images, const vt_processor_video *videos, const vt_processor_opts *po,
                      vt_status *st)
{
    const vt_run_opts *o = &g->run;
    int64_t *thw = malloc((size_t)(o->n_images + o->n_videos + 1) * 3 * sizeof *thw);
    if (!thw) return vt_fail(st, VT_ERESOURCE, "out of memory");
    int rc = VT_OK;
    for (int i = 0; rc == VT_OK && i < o->n_images; i++)
        rc = input_grid(thw + 3 * i, images[i].w, images[i].h, 1, 0, po, o->images[i], st);
    for (int v = 0; rc == VT_OK && v < o->n_videos; v++)
        rc = input_grid(thw + 3 * (o->n_images + v), videos[v].frames[0].w, videos[v].frames[0].h, videos[v].n_frames,
                        1, po, o->videos[v].frames[0], st);
    vt_chat_grids cg = {thw, o->n_images, thw + 3 * o->n_images, o->n_videos, po->merge_size};
    int32_t *ids32 = NULL;
    size_t n = 0;
    if (rc == VT_OK) rc = vt_chat_prompt(tok, g->prompt, &cg, g->raw, &ids32, &n, st);
    free(thw);
    if (rc) return vt_wrap(st, "--prompt: ");
    if (!(*owned = malloc((n ? n : 1) * sizeof **owned))) {
        free(ids32);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    for (size_t i = 0; i < n; i++) (*owned)[i] = ids32[i];
    free(ids32);
    *ids = vt_tensor_of(VT_I64, *owned, VT_DIMS(1, (int64_t)n));
    return VT_OK;
}

/* The prompt's pads against the inputs, in HF's words, before any pixel is processed. */
static int check_pads(const vt_gen_opts *g, const vt_tensor *input_ids, const vt_model_config *cfg,
                      const vt_image *images, const vt_processor_video *videos, const vt_processor_opts *po,
                      vt_status *st)
{
    const vt_run_opts *o = &g->run;
    int64_t want_img = 0, want_vid = 0, have_img = 0, have_vid = 0, k;
    for (int i = 0; i < o->n_images; i++) {
        VT_TRY(input_tokens(&k, images[i].w, images[i].h, 1, 0, po, o->images[i], st));
        want_img += k;
    }
    for (int v = 0; v < o->n_videos; v++) {
        VT_TRY(input_tokens(&k, videos[v].frames[0].w, videos[v].frames[0].h, videos[v].n_frames, 1, po,
                            o->videos[v].frames[0], st));
        want_vid += k;
    }
    const int64_t L = input_ids->shape[1], *ids = vt_i64(input_ids);
    for (int64_t l = 0; l < L; l++) {
        have_img += ids[l] == cfg->text.image_token_id;
        have_vid += ids[l] == cfg->text.video_token_id;
    }
    if (have_img != want_img)
        return vt_fail(st, VT_EINPUT, "Image features and image tokens do not match: tokens: %lld, features %lld "
                       "(--input-ids holds %lld <|image_pad|> (id %lld); the %d image(s) at these --min/--max-pixels "
                       "give %lld merged tokens)", (long long)have_img, (long long)want_img, (long long)have_img,
                       (long long)cfg->text.image_token_id, o->n_images, (long long)want_img);
    if (have_vid != want_vid)
        return vt_fail(st, VT_EINPUT, "Video features and video tokens do not match: tokens: %lld, features %lld "
                       "(--input-ids holds %lld <|video_pad|> (id %lld); the %d video(s) give %lld merged tokens)",
                       (long long)have_vid, (long long)want_vid, (long long)have_vid,
                       (long long)cfg->text.video_token_id, o->n_videos, (long long)want_vid);
    return VT_OK;
}

/* ======================================== memory ======================================== */

/* Bytes the binder will hold for one tensor: BF16 matrices as stored, everything else as float32. */
static double held_bytes(const vt_checkpoint *ck, const vt_weight_spec *w, int widen)
{
    const vt_st_tensor *t = vt_checkpoint_find(ck, w->name);
    const double numel = (double)vt_shape_numel(w->ndim, w->shape);
    const double b = t && t->dtype == VT_ST_BF16 && w->ndim >= 2 && !widen ? 2 * numel : 4 * numel;
    return b + 64;
}

/* The whole run: the tower's estimate (run_limits.h) plus the weights as they will be held, the KV cache,
 * the prefill's widest layer, the logits rows and the attention tiles. Refused over the limit. */
static int check_memory(const vt_gen_opts *g, const vt_tensor *input_ids, const vt_model_config *cfg,
                        const vt_checkpoint *ck,
                        const vt_image *images, const vt_processor_video *videos, const vt_processor_opts *po,
                        vt_status *st)
{
    const vt_run_opts *o = &g->run;
    const int n = o->n_images + o->n_videos;
    vt_mem_estimate e;
    memset(&e, 0, sizeof e);
    vt_mem_input *in = malloc((size_t)(n ? n : 1) * sizeof *in);
    if (!in) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int k = 0; k < o->n_images; k++) in[k] = (vt_mem_input){images[k].w, images[k].h, 1, 0};
    for (int v = 0; v < o->n_videos; v++)
        in[o->n_images + v] = (vt_mem_input){videos[v].frames[0].w, videos[v].frames[0].h, videos[v].n_frames, 1};
    if (n) vt_mem_qwen2(&e, vt_model_vision(cfg), cfg->family == VT_FAMILY_QWEN25VL, po, in, n,
                        o->attn == VT_ATTN_LITERAL, 0);
    free(in);
    vt_weight_spec *w[2] = {NULL, NULL};
    int nw[2] = {0, 0};
    int rc = vt_config_weights(cfg, &w[0], &nw[0], st);
    if (rc == VT_OK) rc = vt_config_lm_weights(cfg, &w[1], &nw[1], st);
    e.weights = 0;
    for (int s = 0; s < 2 && rc == VT_OK; s++)
        for (int i = 0; i < nw[s]; i++) e.weights += held_bytes(ck, &w[s][i], g->widen_bf16);
    free(w[0]);
    free(w[1]);
    VT_TRY(rc);
    const double F32 = 4, L = (double)input_ids->shape[1], Lt = L + g->max_new_tokens;
    const double E = cfg->text.hidden_size, D = cfg->text.head_dim, V = cfg->lm.vocab_size;
    const double HD = cfg->text.num_attention_heads * D, GD = cfg->text.num_key_value_heads * D;
    const double Fi = cfg->lm.intermediate_size, Nl = cfg->lm.num_hidden_layers;
    const double cache = 2 * Nl * (g->no_cache ? Lt : Lt) * GD * F32;
    const double layer = L * (2 * E + 3 * HD + 2 * GD + 2 * Fi) * F32 + L * HD * F32; /* + a traced q_rope copy */
    const double lm = L * E * F32 * 2 + L * V * F32 + g->max_new_tokens * V * F32 + 2 * 3 * Lt * 8 + cache + layer +
                      6 * L * D * F32 + (double)e.tokens * E * F32 / 4;
    const double tiles = omp_get_max_threads() * (2 * (Lt + 64) * (D + 32) + 64 * Lt) * F32;
    e.arena += lm;
    e.other += tiles + 64.0 * 1024 * 1024;
    e.total = e.weights + e.inputs + e.arena + e.other;
    if (o->mem) o->mem->est = e;
    return vt_mem_check(&e, o->model_dir, "lower --max-pixels or --max-new-tokens, or pass fewer inputs", st);
}

/* ======================================== the run ======================================== */

typedef struct gen_state {
    vt_tokenizer *tok;   /* --prompt */
    int64_t *prompt_ids; /* --prompt: the ids built (owned) */
    vt_tensor prompt_t;
    vt_run_inputs in;    /* the decoded --image / --video inputs */
    vt_checkpoint ck;
    int ck_open;
    vt_vlm vlm;
    vt_arena a;
} gen_state;

static void gen_state_free(gen_state *s, const vt_run_opts *o)
{
    vt_run_inputs_free(&s->in, o);
    vt_vlm_free(&s->vlm);
    if (s->ck_open) vt_checkpoint_close(&s->ck);
    if (s->tok) vt_tokenizer_free(s->tok);
    free(s->prompt_ids);
    vt_arena_free(&s->a);
}

/* ids in the vocabulary, not empty, and prompt + --max-new-tokens within max_position_embeddings. */
static int check_prompt(const vt_gen_opts *g, const vt_tensor *ids, const vt_model_config *cfg, const char *what,
                        vt_status *st)
{
    vt_lm_model probe;
    memset(&probe, 0, sizeof probe);
    probe.cfg = cfg->lm;
    probe.text = cfg->text;
    if (vt_lm_check_ids(&probe, ids, st)) return vt_wrap(st, "%s: ", what);
    const int64_t L = ids->shape[1];
    if (L + g->max_new_tokens > cfg->lm.max_position_embeddings)
        return vt_fail(st, VT_EINPUT, "--max-new-tokens %d: the prompt's %lld tokens plus that many exceed "
                       "max_position_embeddings %lld", g->max_new_tokens, (long long)L,
                       (long long)cfg->lm.max_position_embeddings);
    return VT_OK;
}

/* generate.text: the answer decoded (special tokens left out), UTF-8 bytes as uint8 [n]; the text is also
 * handed back NUL-terminated in *out (malloc'd) for --json. */
static int emit_text(char **out, const vt_tokenizer *tok, const vt_tensor *ids, const vt_tap *tap, vt_status *st)
{
    const int64_t n = ids->shape[1];
    int32_t *ids32 = malloc((size_t)(n ? n : 1) * sizeof *ids32);
    if (!ids32) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int64_t j = 0; j < n; j++) ids32[j] = (int32_t)vt_i64(ids)[j];
    char *text = NULL;
    size_t len = 0;
    int rc = vt_tokenizer_decode(tok, ids32, (size_t)n, VT_DECODE_SKIP_SPECIAL, &text, &len, st);
    free(ids32);
    if (rc) return rc;
    vt_tensor t = vt_tensor_of(VT_U8, text, VT_DIMS((int64_t)len));
    rc = vt_tap_emit(tap, "generate.text", &t, st);
    if (rc == VT_OK && !(*out = malloc(len + 1))) rc = vt_fail(st, VT_ERESOURCE, "out of memory");
    if (rc == VT_OK) {
        memcpy(*out, text, len);
        (*out)[len] = 0;
    }
    free(text);
    return rc;
}

/* The ids (and the text) for the caller (--json). */
static int keep_result(vt_gen_result *res, const vt_tensor *ids, vt_status *st)
{
    const int64_t n = ids->shape[1];
    if (!(res->ids = malloc((size_t)(n ? n : 1) * sizeof *res->ids))) return vt_fail(st, VT_ERESOURCE, "out of memory");
    memcpy(res->ids, vt_i64(ids), (size_t)n * sizeof *res->ids);
    res->n_ids = n;
    return VT_OK;
}

/* The generated ids on stdout, one line, space-separated. */
static void print_ids(const vt_tensor *ids)
{
    for (int64_t j = 0; j < ids->shape[1]; j++) printf("%s%lld", j ? " " : "", (long long)vt_i64(ids)[j]);
    printf("\n");
    fflush(stdout); /* before the summary line on stderr */
}

int vt_run_generate(const vt_gen_opts *g, const vt_model_config *cfg, vt_tracer *tr, vt_status *st)
{
    const vt_run_opts *o = &g->run;
    if (cfg->family != VT_FAMILY_QWEN2VL && cfg->family != VT_FAMILY_QWEN25VL)
        return vt_fail(st, VT_EINPUT, "%s/config.json: %s has no language model in vlmtrace (generate runs Qwen2-VL "
                       "and Qwen2.5-VL)", o->model_dir, vt_family_name(cfg->family));
    /* the prompt against the config, before anything is read or allocated (--prompt: once it is built) */
    if (g->input_ids) VT_TRY(check_prompt(g, g->input_ids, cfg, "--input-ids", st));

    gen_state s;
    memset(&s, 0, sizeof s);
    vt_arena_init(&s.a, vt_mem_arena_limit());
    vt_tap tap = vt_run_tap(o, tr);
    /* preprocessing options as `run` takes them: flag > preprocessor_config.json > published defaults, the
     * mode (--processor, else the directory's) recorded in the manifest */
    vt_processor_opts po;
    int rc = vt_run_processor_opts(&po, o, cfg, st);
    if (rc == VT_OK && tr) rc = vt_tracer_set_processor_mode(tr, vt_processor_mode_name(po.mode), st);

    if (rc == VT_OK) s.ck_open = (rc = vt_checkpoint_open(&s.ck, o->model_dir, st)) == VT_OK;
    if (rc == VT_OK && !vt_lm_present(&s.ck))
        rc = vt_fail(st, VT_EINPUT, "%s: no language model in this checkpoint: model.embed_tokens.weight, "
                     "model.layers.*, model.norm.weight%s are missing (it holds the vision tower only; `vlmtrace run` "
                     "runs that)", o->model_dir, cfg->lm.tie_word_embeddings ? "" : " and lm_head.weight");
    if (rc == VT_OK) vt_output_stage("decoding the inputs");
    if (rc == VT_OK) rc = vt_run_inputs_decode(&s.in, o, st);
    const vt_tensor *input_ids = g->input_ids;
    if (rc == VT_OK && g->prompt) { /* the chat prompt, now that the inputs' sizes give their grids */
        rc = vt_tokenizer_load(&s.tok, g->tokenizer ? g->tokenizer : o->model_dir, st);
        if (rc == VT_OK) rc = prompt_ids(&s.prompt_t, &s.prompt_ids, g, s.tok, s.in.images, s.in.videos, &po, st);
        if (rc == VT_OK) rc = check_prompt(g, &s.prompt_t, cfg, "--prompt", st);
        input_ids = &s.prompt_t;
    }
    if (rc == VT_OK) rc = check_pads(g, input_ids, cfg, s.in.images, s.in.videos, &po, st);
    if (rc == VT_OK) rc = check_memory(g, input_ids, cfg, &s.ck, s.in.images, s.in.videos, &po, st);
    if (rc == VT_OK) {
        vt_output_stage("loading the weights");
        s.ck.widen_bf16 = g->widen_bf16;
        rc = vt_vlm_load(&s.vlm, cfg, &s.ck, st);
        vt_vlm_set_bugs(&s.vlm, o->bugs); /* --inject (bugzoo.h) */
    }

    gen_progress prog;
    memset(&prog, 0, sizeof prog);
    prog.tty = isatty(STDERR_FILENO);
    prog.t0 = now_s();
    vt_tokenizer_stream text;
    if (s.tok && !g->json) { /* the answer streamed to stdout (with --json it goes into the document) */
        vt_tokenizer_stream_init(&text, s.tok, VT_DECODE_SKIP_SPECIAL);
        prog.text = &text;
    }
    vt_lm_generate_opts go = vt_lm_generate_defaults(&s.vlm.lm);
    go.max_new_tokens = g->max_new_tokens;
    go.no_cache = g->no_cache;
    go.on_token = on_token;
    go.ctx = &prog;
    vt_tensor ids;
    if (rc == VT_OK) vt_output_stage("preprocessing (the image processor)"); /* then the blocks' progress */
    if (rc == VT_OK)
        rc = vt_vlm_pipeline(&ids, NULL, &s.vlm, s.in.images, o->n_images, s.in.videos, o->fps, o->n_videos, &po,
                             input_ids, &go, o->attn, &tap, &s.a, st);
    if (rc == VT_OK && prog.failed) rc = vt_fail(st, prog.st.code, "%s", prog.st.msg);
    if (prog.text) { /* the tail of the answer */
        const char *piece;
        size_t len;
        if (rc == VT_OK && vt_tokenizer_stream_finish(&text, &piece, &len, st) == VT_OK) fwrite(piece, 1, len, stdout);
        if (rc == VT_OK) printf("\n");
        vt_tokenizer_stream_free(&text);
    }
    char *answer = NULL; /* then the whole of it into the trace */
    if (rc == VT_OK && s.tok) rc = emit_text(&answer, s.tok, &ids, &tap, st);
    if (prog.tty && !prog.text && rc == VT_OK && ids.shape[1] > 1) fprintf(stderr, "\n");
    if (rc == VT_OK) rc = vt_run_save_out(o, &ids, st);
    if (rc == VT_OK && !prog.text && !g->json) print_ids(&ids);
    if (rc == VT_OK && g->result) rc = keep_result(g->result, &ids, st);
    if (rc == VT_OK && g->result) g->result->text = answer;
    else free(answer);
    if (o->mem) o->mem->arena_peak = s.a.peak;
    gen_state_free(&s, o);
    return rc;
}
