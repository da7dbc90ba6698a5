/*
 * cli_inspect.c -- `vlmtrace inspect --model DIR [--image FILE [--no-exif]]`: the readers' view of a model
 * directory and an image, everything checked before anything is printed.
 *
 * It loads config.json (+ preprocessor_config.json), opens the checkpoint, and checks it against the
 * tensors the family's reference model holds for that config (vt_config_weights, and for Qwen2-VL /
 * Qwen2.5-VL the language model's, vt_config_lm_weights, when the checkpoint has any of them): every one
 * present with the implied shape, and no kept tensor left over (a checkpoint with more blocks than the
 * config's depth is as inconsistent as one with fewer). Then it prints the family, the key config
 * values and the tensors that would be read. A directory with a config but no checkpoint (the presets)
 * lists the tensors the config implies. --image decodes FILE as the family's reference loads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "model/model.h"
#include "io/fileio.h"
#include "io/image.h"
#include "io/safetensors.h"

static const char inspect_usage[] =
    "usage: vlmtrace inspect --model DIR [--image FILE [--no-exif]]\n"
    "       vlmtrace inspect --image FILE [--no-exif]\n"
    "\n"
    "Read a model directory the way `vlmtrace run` and `generate` do and print what was found: the family,\n"
    "the key config.json / preprocessor_config.json values, and every tensor that would be read (canonical\n"
    "name, key stored in the checkpoint, dtype, shape, size), each checked against the shape config.json\n"
    "implies: the vision side, and for Qwen2-VL / Qwen2.5-VL the language model when the checkpoint has it\n"
    "(a vision-only checkpoint says so). A directory with a config.json but no checkpoint lists the tensors\n"
    "the config implies (the presets in notebooks-data/presets).\n"
    "\n"
    "  --model DIR   config.json, preprocessor_config.json (optional), model.safetensors or\n"
    "                model.safetensors.index.json and its shards\n"
    "  --image FILE  decode FILE and print its size and EXIF orientation; the orientation is applied as\n"
    "                the family's reference does (Qwen2-VL / Qwen2.5-VL, or no --model: yes; Qwen-VL and\n"
    "                Kimi-VL: no)\n"
    "  --no-exif     do not apply the EXIF orientation\n"
    "\n"
    "Any malformed or inconsistent input exits with status 2 and one line naming the file and the problem.\n";

/* ---------------------------------------------------------------- checks */

/* Every tensor the config implies is in the checkpoint with that shape; no vision tensor is left over.
 * found[i] receives the checkpoint tensor of spec i. */
static int check_weights(const vt_checkpoint *ck, const vt_model_config *c, const vt_weight_spec *spec, int n,
                         const vt_st_tensor **found, vt_status *st)
{
    for (int i = 0; i < n; i++) VT_TRY(vt_checkpoint_expect(ck, spec[i].name, spec[i].ndim, spec[i].shape, &found[i], st));
    char *used = calloc((size_t)ck->n + 1, 1);
    if (!used) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int i = 0; i < n; i++) used[found[i] - ck->t] = 1;
    int extra = 0, first = -1;
    for (int i = 0; i < ck->n; i++)
        if (!used[i]) {
            extra++;
            if (first < 0) first = i;
        }
    free(used);
    if (extra) {
        const vt_st_tensor *t = &ck->t[first];
        return vt_fail(st, VT_EINPUT, "%s: %s is not part of the %s model config.json describes (%d such tensor%s: "
                       "does its depth or a size disagree with the weights?)", ck->files[t->shard].path, t->name,
                       vt_family_name(c->family), extra, extra == 1 ? "" : "s");
    }
    return VT_OK;
}

static int has_checkpoint(const char *dir)
{
    struct stat sb;
    char p[4096];
    vt_status st;
    return (vt_path_join(p, sizeof p, dir, "model.safetensors", &st) == 0 && stat(p, &sb) == 0) ||
           (vt_path_join(p, sizeof p, dir, "model.safetensors.index.json", &st) == 0 && stat(p, &sb) == 0);
}

/* ---------------------------------------------------------------- printing */

static void print_f3(const char *label, const float *v)
{
    printf("%s [%.8g, %.8g, %.8g]", label, v[0], v[1], v[2]);
}

static void print_config(const vt_model_config *c, const char *dir)
{
    printf("model       %s\n", dir);
    printf("family      %s (model_type %s)\n", vt_family_name(c->family), c->model_type);
    const vt_preproc_config *p = &c->pre;
    switch (c->family) {
    case VT_FAMILY_QWEN2VL:
    case VT_FAMILY_QWEN25VL:
    case VT_FAMILY_QWEN3VL: {
        const vt_vision_config *q = vt_model_vision(c);
        printf("vision      depth %d, width %d, num_heads %d (head_dim %d), mlp %d, out_hidden %d, patch %d, "
               "temporal_patch %d, spatial_merge %d, in_channels %d, hidden_act %s\n",
               q->depth, q->embed_dim, q->num_heads, q->embed_dim / q->num_heads, q->mlp_hidden, q->out_hidden,
               q->patch_size, q->temporal_patch_size, q->spatial_merge_size, q->in_channels, q->hidden_act);
        if (c->family == VT_FAMILY_QWEN25VL) {
            const vt_qwen25vl_config *w = &c->qwen25vl;
            printf("windows     window_size %d (%d x %d merged tokens), full attention in blocks [", w->window_size,
                   w->window_size / (q->patch_size * q->spatial_merge_size),
                   w->window_size / (q->patch_size * q->spatial_merge_size));
            for (int i = 0; i < w->n_fullatt; i++) printf("%s%d", i ? ", " : "", w->fullatt_block_indexes[i]);
            printf("], tokens_per_second %g\n", w->tokens_per_second);
        }
        if (c->family == VT_FAMILY_QWEN3VL) {
            const vt_qwen3vl_config *w = &c->qwen3vl;
            printf("positions   learned table %d x %d (num_position_embeddings %d), interpolated bilinearly to each "
                   "grid\ndeepstack   after blocks [", w->pos_side, w->pos_side, w->num_position_embeddings);
            for (int i = 0; i < w->n_deepstack; i++) printf("%s%d", i ? ", " : "", w->deepstack_visual_indexes[i]);
            printf("] (%d DeepStack mergers)\n", w->n_deepstack);
        }
        const vt_mrope_config *t = &c->text;
        printf("text        hidden_size %d, heads %d, kv_heads %d (head_dim %d), mrope_section [%d, %d, %d]%s, "
               "rope_theta %g, image/video token %lld/%lld, vision start/end %lld/%lld\n",
               t->hidden_size, t->num_attention_heads, t->num_key_value_heads, t->head_dim, t->mrope_section[0],
               t->mrope_section[1], t->mrope_section[2], t->interleaved ? " interleaved" : "", t->rope_theta,
               (long long)t->image_token_id,
               (long long)t->video_token_id, (long long)t->vision_start_token_id, (long long)t->vision_end_token_id);
        const vt_lm_config *l = &c->lm;
        if (c->family == VT_FAMILY_QWEN3VL) /* the Qwen3 language model is not implemented */
            printf("language    not read (vlmtrace implements Qwen3-VL's vision side only)\n");
        else {
        printf("language    %d layers, vocab %d, intermediate %d, rms_norm_eps %g, max_position_embeddings %lld, "
               "sliding_window %lld (use_sliding_window %s), tie_word_embeddings %s, eos",
               l->num_hidden_layers, l->vocab_size, l->intermediate_size, l->rms_norm_eps,
               (long long)l->max_position_embeddings, (long long)l->sliding_window,
               l->use_sliding_window ? "true" : "false", l->tie_word_embeddings ? "true" : "false");
        for (int i = 0; i < l->n_eos; i++) printf("%s%lld", i ? ", " : " ", (long long)l->eos_token_id[i]);
        printf("%s\n", l->n_eos ? "" : " none");
        }
        printf("preprocess  %s: min_pixels %lld, max_pixels %lld, patch %d, merge %d, temporal_patch %d, "
               "processor %s by default, ",
               p->present ? "preprocessor_config.json" : "published defaults (no preprocessor_config.json)",
               (long long)p->min_pixels, (long long)p->max_pixels, p->patch_size, p->merge_size,
               p->temporal_patch_size, vt_processor_mode_name(vt_model_processor_mode(c)));
        break;
    }
    case VT_FAMILY_QWENVL: {
        const vt_qwenvl_config *q = &c->qwenvl;
        printf("vision      image_size %d, patch %d (grid %d), width %d, layers %d, heads %d, mlp_ratio %g (mlp %d)\n",
               q->image_size, q->patch_size, q->image_size / q->patch_size, q->width, q->layers, q->heads,
               q->mlp_ratio, q->mlp_width);
        printf("resampler   n_queries %d, output_dim %d (%d heads)\n", q->n_queries, q->output_dim, q->output_dim / 128);
        printf("preprocess  fixed %dx%d bicubic resize, ", q->image_size, q->image_size);
        break;
    }
    case VT_FAMILY_KIMIVL: {
        const vt_kimivl_config *k = &c->kimivl;
        printf("vision      layers %d, hidden %d, heads %d (head_dim %d), mlp %d, patch %d, pos_emb %dx%d, "
               "merge_kernel %dx%d\n",
               k->num_hidden_layers, k->hidden_size, k->num_attention_heads, k->hidden_size / k->num_attention_heads,
               k->intermediate_size, k->patch_size, k->init_pos_emb_height, k->init_pos_emb_width,
               k->merge_kernel_size[0], k->merge_kernel_size[1]);
        printf("projector   %d -> %d (text hidden_size)\n",
               k->merge_kernel_size[0] * k->merge_kernel_size[1] * k->hidden_size, k->text_hidden_size);
        printf("preprocess  %s: in_token_limit %lld, pad_input %s, patch %d, merge %d, ",
               p->present ? "preprocessor_config.json" : "published defaults (no preprocessor_config.json)",
               (long long)p->in_token_limit, p->pad_input ? "true" : "false", p->patch_size, p->merge_size);
        break;
    }
    }
    print_f3("mean", p->image_mean);
    print_f3(", std", p->image_std);
    printf("\n");
}

static void print_tensors(const vt_checkpoint *ck, const vt_weight_spec *spec, int n, int n_lm,
                          const vt_st_tensor **found)
{
    int nw = 4, kw = 10;
    for (int i = 0; i < n; i++) {
        if ((int)strlen(spec[i].name) > nw) nw = (int)strlen(spec[i].name);
        if (found && (int)strlen(found[i]->name) > kw) kw = (int)strlen(found[i]->name);
    }
    if (found) {
        printf("checkpoint  %s (%d file%s read)\n", ck->path, ck->n_files, ck->n_files == 1 ? "" : "s");
        for (int f = 0; f < ck->n_files; f++) printf("            %s\n", ck->files[f].path);
        printf("tensors     %d: %d on the vision side, %s (anything else in the checkpoint is skipped)\n", n,
               n - n_lm, n_lm ? "the rest the language model's" : "no language model (generate needs one)");
        printf("  %-*s  %-*s  %-5s  %-22s %10s\n", nw, "name", kw, "stored key", "dtype", "shape", "MiB");
    } else {
        printf("checkpoint  none in this directory: the %d tensors config.json implies, as float32\n", n);
        printf("  %-*s  %-22s %10s\n", nw, "name", "shape", "MiB");
    }
    double stored = 0, f32 = 0;
    for (int i = 0; i < n; i++) {
        char sb[160];
        vt_shape_str(sb, sizeof sb, spec[i].ndim, spec[i].shape);
        double numel = (double)vt_shape_numel(spec[i].ndim, spec[i].shape);
        f32 += numel * 4;
        if (found) {
            stored += (double)found[i]->nbytes;
            printf("  %-*s  %-*s  %-5s  %-22s %10.3f\n", nw, spec[i].name, kw, found[i]->name,
                   vt_st_dtype_name(found[i]->dtype), sb, (double)found[i]->nbytes / 1048576.0);
        } else {
            printf("  %-*s  %-22s %10.3f\n", nw, spec[i].name, sb, numel * 4 / 1048576.0);
        }
    }
    if (found)
        printf("total       %d tensors, %.3f MiB stored, %.3f MiB as float32\n", n, stored / 1048576.0, f32 / 1048576.0);
    else
        printf("total       %d tensors, %.3f MiB as float32\n", n, f32 / 1048576.0);
}

/* ---------------------------------------------------------------- command */

typedef struct inspect_state {
    vt_model_config cfg;
    vt_checkpoint ck;
    vt_weight_spec *spec;
    const vt_st_tensor **found;
    int n_spec, n_lm, have_ck; /* n_lm: how many of the n_spec are the language model's */
    vt_image img;
    vt_image_info info;
} inspect_state;

static int inspect(inspect_state *s, const char *dir, const char *image, int no_exif, vt_status *st)
{
    if (dir) {
        VT_TRY(vt_config_load(&s->cfg, dir, st));
        VT_TRY(vt_config_weights(&s->cfg, &s->spec, &s->n_spec, st));
        s->have_ck = has_checkpoint(dir);
        if (s->have_ck) VT_TRY(vt_checkpoint_open(&s->ck, dir, st));
        /* the language model's tensors: listed for a preset, checked when the checkpoint has any */
        if (!s->have_ck || s->ck.n_lm > 0) {
            vt_weight_spec *lm;
            VT_TRY(vt_config_lm_weights(&s->cfg, &lm, &s->n_lm, st));
            vt_weight_spec *all = s->n_lm ? realloc(s->spec, (size_t)(s->n_spec + s->n_lm) * sizeof *all) : s->spec;
            if (!all) {
                free(lm);
                return vt_fail(st, VT_ERESOURCE, "out of memory");
            }
            if (s->n_lm) memcpy(all + s->n_spec, lm, (size_t)s->n_lm * sizeof *all);
            free(lm);
            s->spec = all;
            s->n_spec += s->n_lm;
        }
        if (s->have_ck) {
            s->found = calloc((size_t)s->n_spec + 1, sizeof *s->found);
            if (!s->found) return vt_fail(st, VT_ERESOURCE, "out of memory");
            VT_TRY(check_weights(&s->ck, &s->cfg, s->spec, s->n_spec, s->found, st));
        }
    }
    if (image) {
        int family_applies = !dir || s->cfg.family == VT_FAMILY_QWEN2VL || s->cfg.family == VT_FAMILY_QWEN25VL ||
                             s->cfg.family == VT_FAMILY_QWEN3VL;
        VT_TRY(vt_image_load_info(&s->img, &s->info, image, family_applies && !no_exif ? VT_EXIF_APPLY : VT_EXIF_IGNORE,
                                  st));
    }
    /* everything read and checked: print */
    if (dir) {
        print_config(&s->cfg, dir);
        print_tensors(&s->ck, s->spec, s->n_spec, s->n_lm, s->have_ck ? s->found : NULL);
    }
    if (image) {
        const vt_image_info *in = &s->info;
        printf("image       %s: %s, %dx%d stored, EXIF orientation %d", image, in->format, in->stored_w, in->stored_h,
               in->orientation);
        if (in->orientation == 1)
            printf("\n");
        else if (in->applied)
            printf(" applied -> %dx%d\n", s->img.w, s->img.h);
        else
            printf(" not applied (%s)\n", no_exif ? "--no-exif" : "this family's reference does not apply it");
    }
    return VT_OK;
}

static int inspect_run(int argc, char **argv, vt_status *st)
{
    const char *dir = NULL, *image = NULL;
    int no_exif = 0;
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &dir, "DIR", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 0, &image, "FILE", 0, 0, NULL},
        {"--no-exif", VT_OPT_FLAG, 0, &no_exif, NULL, 0, 0, NULL},
    };
    VT_TRY(vt_opts_parse("inspect", opts, VT_N_OPTS(opts), argc, argv, NULL, st));
    if (!dir && !image) return vt_fail(st, VT_EINPUT, "give --model DIR and/or --image FILE (see vlmtrace inspect --help)");
    if (no_exif && !image) return vt_fail(st, VT_EINPUT, "--no-exif needs --image");
    inspect_state *s = calloc(1, sizeof *s);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    int rc = inspect(s, dir, image, no_exif, st);
    vt_image_free(&s->img);
    vt_checkpoint_close(&s->ck);
    free(s->found);
    free(s->spec);
    free(s);
    return rc;
}

const vt_cli_cmd vt_cmd_inspect = {"inspect", "check a model directory (config, checkpoint) and an image, print what was read",
                                   inspect_usage, inspect_run};
