/*
 * targets.c -- the fuzz targets: each reader of files from strangers, fed arbitrary bytes.
 *
 *     clang -fsanitize=fuzzer,... -DVT_FUZZ_TARGET=npy -DVT_FUZZ_ONLY_npy tests/fuzz/targets.c ...  (fuzz.mk)
 *     #include "fuzz/targets.c"   then   vt_fuzz_targets[i].run(data, size, &st)   (test_fuzz_regress.c)
 *
 * With VT_FUZZ_TARGET defined only that target is compiled (so it links only the library objects it
 * needs) and LLVMFuzzerTestOneInput calls it; without, every target and the table are compiled.
 *
 * One function per target, each calling the same in-memory entry point the command line's file
 * readers call (vt_safetensors_parse, vt_npy_parse, vt_manifest_parse, vt_config_parse (with the language
 * model's fields and vt_lm_generation_config_parse), vt_preproc_parse, vt_preproc_parse_video,
 * vt_image_decode_info, vt_rope_layout_parse/_build, vt_locator_build, vt_opts_parse, vt_tokenizer_parse,
 * vt_tokenizer_encode), then using what it got the way
 * the program would (reading every tensor, touching every pixel, serialising the manifest again), so an
 * accepted input that lies about its sizes shows up as an ASan report. A target returns the reader's
 * status; the libFuzzer entry point aborts unless that is 0, 2 or 3 with a one-line message, which is
 * the contract of docs/design.md ("Exit codes": never a crash), and the regression test checks the same.
 *
 * The sharded-index target is the one that needs files: the index is written beside two small shards
 * in a private temporary directory (made on first use, removed at exit) and opened with
 * vt_checkpoint_open, as `vlmtrace run --model DIR` would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "model/model.h"
#include "io/image.h"
#include "io/resize.h"
#include "processor/processor.h"
#include "format/manifest.h"
#include "mrope/mrope.h"
#include "format/npy.h"
#include "cli/cli.h"
#include "cli/rope_layout.h"
#include "io/safetensors.h"
#include "core/status.h"
#include "diff/locate.h"
#include "diff/report.h"
#include "io/fileio.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

typedef int (*vt_fuzz_fn)(const uint8_t *data, size_t size, vt_status *st);

/* A copy of the input with a NUL after it (the text readers get NUL-terminated buffers from
 * vt_read_file; the copy also lets ASan see a read one past the end). NULL when out of memory. */
char *vt_fuzz_text(const uint8_t *data, size_t size);
char *vt_fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* ================================ safetensors ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_st_header)
/* A whole .safetensors file in memory; every kept tensor is then converted to float32. */
int vt_fuzz_st_header(const uint8_t *data, size_t size, vt_status *st)
{
    vt_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    int rc = vt_safetensors_parse(&ck, data, size, 0, "fuzz.safetensors", st);
    for (int i = 0; rc == VT_OK && i < ck.n; i++) {
        const vt_st_tensor *t = &ck.t[i];
        VT_ASSERT(t->data >= data && t->nbytes <= size && (size_t)(t->data - data) <= size - t->nbytes);
        size_t n = t->nbytes / vt_st_dtype_size(t->dtype);
        float *dst = malloc(n ? n * sizeof *dst : 1);
        if (!dst) {
            rc = vt_fail(st, VT_ERESOURCE, "out of memory");
            break;
        }
        rc = vt_checkpoint_read_f32(&ck, t->canon, t->ndim, t->shape, dst, st);
        free(dst);
    }
    vt_checkpoint_close(&ck);
    return rc;
}

#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_st_index)
/* ---- the sharded index: two shards written once into a private directory ---- */

static char idx_dir[256];

static void idx_cleanup(void)
{
    static const char *const names[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                        "broken.safetensors", "model.safetensors.index.json"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", idx_dir, names[i]);
        unlink(p);
    }
    rmdir(idx_dir);
}

/* A valid safetensors file of F32 tensors [2] named names[0..n) (each 8 bytes of data). */
static int idx_write_shard(const char *name, const char *const *names, int n, const char *raw)
{
    char path[512], hdr[1024];
    size_t h = 0;
    snprintf(path, sizeof path, "%s/%s", idx_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    if (raw) {
        fputs(raw, f);
    } else {
        h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{");
        for (int i = 0; i < n; i++)
            h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%d,%d]}",
                                  i ? "," : "", names[i], 8 * i, 8 * i + 8);
        h += (size_t)snprintf(hdr + h, sizeof hdr - h, "}");
        uint8_t len[8] = {0};
        for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h >> (8 * i));
        fwrite(len, 1, 8, f);
        fwrite(hdr, 1, h, f);
        for (int i = 0; i < 8 * n; i++) fputc(0x3f, f);
    }
    return fclose(f);
}

static int idx_setup(void)
{
    if (idx_dir[0]) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(idx_dir, sizeof idx_dir, "%s/vt-fuzz-XXXXXX", tmp && tmp[0] && strlen(tmp) < 200 ? tmp : "/tmp");
    if (!mkdtemp(idx_dir)) return -1;
    atexit(idx_cleanup);
    static const char *const s1[] = {"visual.patch_embed.proj.weight", "model.language_model.embed_tokens.weight"};
    static const char *const s2[] = {"visual.merger.ln_q.weight", "model.visual.blocks.0.norm1.weight",
                                     "lm_head.weight"};
    if (idx_write_shard("model-00001-of-00002.safetensors", s1, 2, NULL) ||
        idx_write_shard("model-00002-of-00002.safetensors", s2, 3, NULL) ||
        idx_write_shard("broken.safetensors", NULL, 0, "\x10\0\0\0\0\0\0\0{\"a\":"))
        return -1;
    return 0;
}

/* model.safetensors.index.json beside the shards, opened as a model directory. */
int vt_fuzz_st_index(const uint8_t *data, size_t size, vt_status *st)
{
    if (idx_setup()) return vt_fail(st, VT_ERESOURCE, "cannot create the shards' temporary directory");
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", idx_dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) return vt_fail(st, VT_ERESOURCE, "cannot write %s", path);
    vt_checkpoint ck;
    int rc = vt_checkpoint_open(&ck, idx_dir, st);
    if (rc == VT_OK) {
        for (int i = 0; i < ck.n; i++) VT_ASSERT(vt_checkpoint_find(&ck, ck.t[i].canon) == &ck.t[i]);
        vt_checkpoint_close(&ck);
    }
    return rc;
}

#endif

/* ================================ traces: .npy and manifest.json ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_npy)
int vt_fuzz_npy(const uint8_t *data, size_t size, vt_status *st)
{
    vt_tensor t;
    int rc = vt_npy_parse(data, size, &t, st);
    if (rc == VT_OK) { /* the data must be exactly the rest of the buffer */
        const uint8_t *p = t.data;
        VT_ASSERT(p >= data && (size_t)(p - data) + vt_nbytes(&t) == size);
        unsigned sum = 0;
        for (size_t i = 0; i < vt_nbytes(&t); i++) sum += p[i];
        (void)sum;
    }
    return rc;
}

#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_manifest)
int vt_fuzz_manifest(const uint8_t *data, size_t size, vt_status *st)
{
    char *s = vt_fuzz_text(data, size);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_manifest m;
    int rc = vt_manifest_parse(&m, s, size, st);
    free(s);
    if (rc) return rc;
    /* what the program does with a manifest: look names up, filter, write it again; the written text
     * must read back as the same table */
    for (int i = 0; i < m.n; i++) {
        VT_ASSERT(vt_manifest_find(&m, m.t[i].name) == &m.t[i]);
        (void)vt_manifest_only_keeps(&m, m.t[i].name);
    }
    char *j = vt_manifest_to_json(&m);
    if (!j) {
        vt_manifest_free(&m);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    vt_manifest m2;
    rc = vt_manifest_parse(&m2, j, strlen(j), st);
    free(j);
    VT_ASSERT(rc == VT_OK || rc == VT_ERESOURCE);
    if (rc == VT_OK) {
        VT_ASSERT(m2.n == m.n);
        for (int i = 0; i < m.n; i++) {
            VT_ASSERT(strcmp(m.t[i].name, m2.t[i].name) == 0 && strcmp(m.t[i].file, m2.t[i].file) == 0);
            VT_ASSERT(m.t[i].dtype == m2.t[i].dtype && m.t[i].ndim == m2.t[i].ndim);
            for (int d = 0; d < m.t[i].ndim; d++) VT_ASSERT(m.t[i].shape[d] == m2.t[i].shape[d]);
        }
        vt_manifest_free(&m2);
    }
    vt_manifest_free(&m);
    return rc;
}

#endif

/* ================================ config.json, preprocessor_config.json ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_config)
/* config.json (the vision side and, for Qwen2-VL / Qwen2.5-VL, the language model's fields), then the lists
 * of weights it implies (the shapes `vlmtrace inspect` checks), then the same text read as a
 * generation_config.json (its eos_token_id: an id or a list). */
int vt_fuzz_config(const uint8_t *data, size_t size, vt_status *st)
{
    char *s = vt_fuzz_text(data, size);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_model_config c;
    int rc = vt_config_parse(&c, s, size, st);
    cJSON *root = rc == VT_OK ? cJSON_ParseWithLength(s, size) : NULL;
    free(s);
    if (rc) return rc;
    vt_weight_spec *w = NULL;
    int n = 0;
    rc = vt_config_weights(&c, &w, &n, st);
    for (int i = 0; rc == VT_OK && i < n; i++) VT_ASSERT(vt_shape_numel(w[i].ndim, w[i].shape) >= 0);
    free(w);
    w = NULL;
    if (rc == VT_OK) rc = vt_config_lm_weights(&c, &w, &n, st);
    for (int i = 0; rc == VT_OK && i < n; i++) VT_ASSERT(vt_shape_numel(w[i].ndim, w[i].shape) >= 0);
    free(w);
    if (rc == VT_OK && root && (c.family == VT_FAMILY_QWEN2VL || c.family == VT_FAMILY_QWEN25VL)) {
        rc = vt_lm_generation_config_parse(&c.lm, root, st);
        if (rc == VT_OK) VT_ASSERT(c.lm.n_eos >= 0 && c.lm.n_eos <= VT_LM_MAX_EOS);
    }
    cJSON_Delete(root);
    return rc;
}

#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_preproc)
/* preprocessor_config.json for the family named by the first byte (the rest is the JSON). */
int vt_fuzz_preproc(const uint8_t *data, size_t size, vt_status *st)
{
    if (size == 0) return vt_fail(st, VT_EINPUT, "empty input");
    static const vt_preproc_kind kinds[] = {VT_PREPROC_SMART_RESIZE, VT_PREPROC_SMART_RESIZE, VT_PREPROC_FIXED,
                                            VT_PREPROC_KIMI};
    char *s = vt_fuzz_text(data + 1, size - 1);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_preproc_config p;
    vt_preproc_init(&p, kinds[data[0] & 3]); /* over a family's defaults, as the loader parses it */
    if (p.kind == VT_PREPROC_SMART_RESIZE) {
        p.min_pixels = 3136;
        p.max_pixels = 12845056;
        p.temporal_patch_size = 2;
    }
    int rc = vt_preproc_parse(&p, s, size - 1, st);
    free(s);
    if (rc == VT_OK)
        VT_ASSERT(p.patch_size >= 1 && p.merge_size >= 1 && p.temporal_patch_size >= 1 && p.min_pixels <= p.max_pixels);
    return rc;
}

#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_video_preproc)
/* video_preprocessor_config.json (the fast mode's video processor), over the hub image processor's settings as
 * the loader parses it; then the sizes it gives a 100x140 video, as vt_processor_preprocess would plan them. */
int vt_fuzz_video_preproc(const uint8_t *data, size_t size, vt_status *st)
{
    char *s = vt_fuzz_text(data, size);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_preproc_config img, v;
    vt_preproc_init(&img, VT_PREPROC_SMART_RESIZE);
    img.min_pixels = 3136;
    img.max_pixels = 12845056;
    img.temporal_patch_size = 2;
    int rc = vt_preproc_parse_video(&v, &img, s, size, st);
    free(s);
    if (rc) return rc;
    VT_ASSERT(v.patch_size == 14 && v.merge_size == 2 && v.temporal_patch_size == 2 && v.min_pixels <= v.max_pixels);
    vt_processor_opts po;
    vt_processor_defaults(&po);
    po.mode = VT_PROCESSOR_FAST;
    vt_processor_video_from_config(&po, &v);
    int64_t h, w;
    vt_status ignored = {0};
    if (vt_processor_video_resized_size(&h, &w, 140, 100, &po, &ignored) == VT_OK)
        VT_ASSERT(h > 0 && w > 0 && h % 28 == 0 && w % 28 == 0);
    return VT_OK;
}

#endif

/* ================================ the fast processor's numbers ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_resize)
/* The resizers and this version's smart_resize on arbitrary sizes: bytes 0-3 the source and destination
 * width and height (1..64 each), byte 4 the channel count (1..4), the rest the pixels (repeated as needed);
 * then the last 32 bytes as height, width, min and max pixels for smart_resize. Both resamplers must stay inside
 * their buffers and give the same answer for a same-size copy; a constant image stays constant. */
int vt_fuzz_resize(const uint8_t *data, size_t size, vt_status *st)
{
    if (size < 5) return vt_fail(st, VT_EINPUT, "need 5 bytes of sizes");
    const int sw = data[0] % 64 + 1, sh = data[1] % 64 + 1, dw = data[2] % 64 + 1, dh = data[3] % 64 + 1;
    const int ch = data[4] % 4 + 1;
    const uint8_t *px = data + 5;
    const size_t npx = size - 5, n_src = (size_t)sw * sh * ch, n_dst = (size_t)dw * dh * ch;
    uint8_t *src = malloc(n_src), *a = malloc(n_dst), *b = malloc(n_dst);
    int rc = (src && a && b) ? VT_OK : vt_fail(st, VT_ERESOURCE, "out of memory");
    for (size_t i = 0; rc == VT_OK && i < n_src; i++) src[i] = npx ? px[i % npx] : 0;
    if (rc == VT_OK) rc = vt_resize_torch_bicubic_aa(a, dw, dh, src, sw, sh, ch, st);
    if (rc == VT_OK) rc = vt_resize_pil_bicubic(b, dw, dh, src, sw, sh, ch, st);
    if (rc == VT_OK && sw == dw && sh == dh) VT_ASSERT(!memcmp(a, src, n_src) && !memcmp(b, src, n_src));
    if (rc == VT_OK && npx == 1) /* a constant image: every output equals it (the weights sum to one) */
        for (size_t i = 0; i < n_dst; i++) VT_ASSERT(a[i] == px[0]);
    if (rc == VT_OK && npx >= 32) { /* smart_resize of transformers 5.0 on what the bytes say */
        int64_t v[4];
        memcpy(v, px + npx - 32, sizeof v);
        int64_t h, w, H = v[0] & 0xfffff, W = v[1] & 0xfffff, lo = (v[2] & 0xffffff) + 1, hi = (v[3] & 0xfffffff) + 1;
        vt_status ignored = {0};
        if (H > 0 && W > 0 && vt_processor_smart_resize_fast(&h, &w, H, W, 28, lo, hi, &ignored) == VT_OK)
            VT_ASSERT(h >= 28 && w >= 28 && h % 28 == 0 && w % 28 == 0);
    }
    free(src);
    free(a);
    free(b);
    return rc;
}

#endif

/* ================================ images ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_image)
#include <setjmp.h>
#include <jpeglib.h>
#include <stb/stb_image.h>

typedef struct fuzz_jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} fuzz_jerr;

static void fuzz_jpeg_error(j_common_ptr c) { longjmp(((fuzz_jerr *)c->err)->jb, 1); }
static void fuzz_jpeg_message(j_common_ptr c, int level) { (void)c, (void)level; }

/* The pixel count a JPEG header declares (0 if it cannot be read). */
static int64_t fuzz_jpeg_pixels(const uint8_t *data, size_t size)
{
    struct jpeg_decompress_struct ci;
    fuzz_jerr e;
    volatile int64_t px = 0;
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = fuzz_jpeg_error;
    e.pub.emit_message = fuzz_jpeg_message;
    jpeg_create_decompress(&ci);
    if (!setjmp(e.jb)) {
        jpeg_mem_src(&ci, data, (unsigned long)size);
        jpeg_read_header(&ci, TRUE);
        px = (int64_t)ci.image_width * ci.image_height;
    }
    jpeg_destroy_decompress(&ci);
    return px;
}

/* Above this many declared pixels the decode is skipped: an image of up to VT_IMAGE_MAX_PIXELS (PIL's 178,956,970)
 * decoded from a few hundred bytes of data (libjpeg fills what is missing after a marker; stb reads
 * zeros past the end of a BMP) is a valid answer that takes seconds under ASan, and would only turn into
 * libFuzzer timeouts. The size checks themselves come before any of this (vt_image_check_size, which
 * still runs for every input here through the formats' own headers) and are tested in test_image.c.
 * libjpeg-turbo's own fuzzers cap the size the same way. PNM needs no cap: its samples must all be in
 * the input (pnm_check in image.c), and stbi_info would overflow on its huge numbers first. */
#define FUZZ_IMAGE_MAX_PIXELS ((int64_t)1 << 22)

static int fuzz_image_too_big(const uint8_t *data, size_t size)
{
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return fuzz_jpeg_pixels(data, size) > FUZZ_IMAGE_MAX_PIXELS;
    if (size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6')) return 0;
    /* what vt_image_decode refuses before stb sees it must not reach stb here either: bytes for stb's
     * own JPEG decoder (FF FF, FF D8) and Radiance HDR (#?) */
    if (size >= 2 && ((data[0] == 0xff && (data[1] == 0xff || data[1] == 0xd8)) || (data[0] == '#' && data[1] == '?')))
        return 0;
    int w, h, comp;
    if (size > (size_t)1 << 30 || !stbi_info_from_memory(data, (int)size, &w, &h, &comp)) return 0;
    return (int64_t)w * h > FUZZ_IMAGE_MAX_PIXELS;
}

/* Any image bytes, decoded with the EXIF orientation applied (as the Qwen2 families load). */
int vt_fuzz_image(const uint8_t *data, size_t size, vt_status *st)
{
    if (fuzz_image_too_big(data, size)) return VT_OK;
    vt_image img;
    vt_image_info info;
    int rc = vt_image_decode_info(&img, &info, data, size, VT_EXIF_APPLY, st);
    if (rc == VT_OK) {
        VT_ASSERT(img.w >= 1 && img.h >= 1 && (int64_t)img.w * img.h <= VT_IMAGE_MAX_PIXELS && img.rgb);
        VT_ASSERT(info.orientation >= 1 && info.orientation <= 8);
        unsigned sum = 0; /* every pixel must be there */
        for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * 3; i++) sum += img.rgb[i];
        (void)sum;
        vt_image_free(&img);
    }
    return rc;
}

#endif

/* ================================ vlmtrace rope --layout ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_layout)
static const char layout_cfg_q25[] =
    "{\"model_type\":\"qwen2_5_vl\",\"hidden_size\":48,\"num_attention_heads\":3,\"num_key_value_heads\":1,"
    "\"rope_scaling\":{\"mrope_section\":[2,3,3]},\"vision_config\":{\"depth\":4,\"hidden_size\":64,"
    "\"num_heads\":4,\"out_hidden_size\":48,\"intermediate_size\":96,\"fullatt_block_indexes\":[1,3],"
    "\"tokens_per_second\":2}}";
static const char layout_cfg_q2[] =
    "{\"model_type\":\"qwen2_vl\",\"hidden_size\":48,\"num_attention_heads\":3,\"num_key_value_heads\":1,"
    "\"rope_scaling\":{\"mrope_section\":[2,3,3]},\"vision_config\":{\"depth\":2,\"embed_dim\":64,"
    "\"num_heads\":4,\"hidden_size\":48}}";

static const char layout_cfg_q3[] =
    "{\"model_type\":\"qwen3_vl\",\"text_config\":{\"hidden_size\":48,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":2,\"head_dim\":16,\"rope_parameters\":{\"rope_type\":\"default\","
    "\"mrope_section\":[4,2,2],\"rope_theta\":5000000}},\"vision_config\":{\"depth\":5,\"hidden_size\":64,"
    "\"num_heads\":4,\"intermediate_size\":112,\"out_hidden_size\":48,\"num_position_embeddings\":64,"
    "\"deepstack_visual_indexes\":[1,3]}}";

/* The layout string (NUL-terminated at the first NUL, as argv would be), then the sequence it
 * builds and its position ids under a Qwen2.5-VL, a Qwen2-VL and a Qwen3-VL config (each config's
 * refusal of what it does not take -- @S, stamp:N, a Qwen3-VL video without stamp:N -- is its answer). A 32 MB arena limit turns the
 * longest sequences (up to 2^24 tokens are valid) into a quick VT_ERESOURCE: computing 8M positions
 * twice takes seconds under ASan and would only show up as libFuzzer timeouts. */
int vt_fuzz_layout(const uint8_t *data, size_t size, vt_status *st)
{
    char *s = vt_fuzz_text(data, size);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_rope_layout lay;
    int rc = vt_rope_layout_parse(&lay, s, st);
    free(s);
    if (rc) return rc;
    const char *cfgs[3] = {layout_cfg_q25, layout_cfg_q2, layout_cfg_q3};
    int first = VT_OK;
    for (int k = 0; k < 3; k++) {
        rc = VT_OK;
        vt_model_config c;
        vt_status cst = {0};
        VT_ASSERT(vt_config_parse(&c, cfgs[k], strlen(cfgs[k]), &cst) == VT_OK);
        vt_arena a;
        vt_arena_init(&a, (size_t)32 << 20);
        vt_rope_layout_inputs li;
        vt_status kst = {0}; /* this config's answer; the first one that counts goes to *st */
        rc = vt_rope_layout_build(&li, &lay, &c.text, NULL, &a, &kst);
        if (rc == VT_OK) {
            vt_mrope_inputs in = {0};
            in.input_ids = &li.input_ids;
            in.image_grid_thw = li.has_images ? &li.image_grid_thw : NULL;
            in.video_grid_thw = li.has_videos ? &li.video_grid_thw : NULL;
            in.second_per_grid_ts = li.has_seconds ? &li.second_per_grid_ts : NULL;
            vt_tensor pos, deltas;
            rc = vt_mrope_get_rope_index(&pos, &deltas, &in, &c.text, &a, &kst);
            /* a layout that builds is a sequence get_rope_index accepts */
            VT_ASSERT(rc == VT_OK || rc == VT_ERESOURCE);
        }
        vt_arena_free(&a);
        /* the Qwen2.5-VL config takes every layout item but stamp:N; the others may refuse what is not theirs */
        if (first == VT_OK && (k == 0 || rc != VT_EINPUT)) {
            first = rc;
            if (rc) *st = kst;
        }
    }
    vt_rope_layout_free(&lay);
    return first;
}

#endif

/* ================================ the diff's locator on token traces ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_tokens)
/* The locator reads a reference trace's input_ids, position_ids and grids to put every image / video pad
 * token back on its merged grid (diff's where-lines, diff --report's maps). Those tensors come from
 * strangers: here they are made from the input bytes and written as a small trace (in a private
 * temporary directory) with a config.json naming the token ids, then every element of a [B, 1, L, 4]
 * rotary tensor and of position_ids is located and mapped. With flag 32 the trace is a generate trace
 * (a visual.* tensor makes it the tower's family, the grids its inputs; the language model's q_rope gives
 * its heads): then the language model's and generate's tensors are located and mapped too (locate_lm.c).
 *   byte 0: B = 1 + b % 2; byte 1: L = 1 + b % 40; byte 2: flags (1 position_ids, 2 image_grid_thw,
 *   4 video_grid_thw, 8 huge positions, 16 huge grids, 32 generate trace); then B*L token kinds (b % 8: 3 vision_start,
 *   4 vision_end, 5 image pad, 6 video pad, else text), 3*B*L positions and 2 x 4 x 3 grid values
 *   (signed bytes; times 2^56 when huge). Missing bytes read as 0. */
static char tok_dir[256];

static void tok_cleanup(void)
{
    static const char *const names[] = {"config.json", "manifest.json", "input_ids.npy", "position_ids.npy",
                                        "image_grid_thw.npy", "video_grid_thw.npy", "mrope.cos.npy",
                                        "visual.patch_embed.npy", "model.layers.0.self_attn.q_rope.npy"};
    char p[400];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tok_dir, names[i]);
        remove(p);
    }
    rmdir(tok_dir);
}

static const char tok_cfg[] =
    "{\"model_type\":\"qwen2_vl\",\"hidden_size\":48,\"num_attention_heads\":3,\"num_key_value_heads\":1,"
    "\"image_token_id\":5,\"video_token_id\":6,\"vision_start_token_id\":3,\"vision_end_token_id\":4,"
    "\"rope_scaling\":{\"mrope_section\":[2,3,3]},\"vision_config\":{\"depth\":2,\"embed_dim\":64,"
    "\"num_heads\":4,\"hidden_size\":48}}";

static int tok_write(const char *name, vt_tensor *t, char *manifest, size_t cap, vt_status *st)
{
    char path[400], shape[128] = "";
    snprintf(path, sizeof path, "%s/%s.npy", tok_dir, name);
    VT_TRY(vt_npy_write(path, t, st));
    for (int d = 0; d < t->ndim; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "", (long long)t->shape[d]);
    size_t n = strlen(manifest);
    snprintf(manifest + n, cap - n, "%s{\"name\":\"%s\",\"file\":\"%s.npy\",\"dtype\":\"%s\",\"shape\":[%s]}",
             strchr(manifest, '{') != strrchr(manifest, '{') || manifest[n - 1] == '}' ? "," : "", name, name,
             vt_dtype_name(t->dtype), shape);
    return VT_OK;
}

int vt_fuzz_tokens(const uint8_t *data, size_t size, vt_status *st)
{
    if (!tok_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tok_dir, sizeof tok_dir, "%s/vt-fuzz-tok-XXXXXX", tmp && tmp[0] && strlen(tmp) < 200 ? tmp : "/tmp");
        if (!mkdtemp(tok_dir)) return vt_fail(st, VT_ERESOURCE, "cannot create a temporary directory");
        atexit(tok_cleanup);
        char p[400];
        snprintf(p, sizeof p, "%s/config.json", tok_dir);
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(tok_cfg, 1, sizeof tok_cfg - 1, f) != sizeof tok_cfg - 1) {
            if (f) fclose(f);
            return vt_fail(st, VT_ERESOURCE, "cannot write %s", p);
        }
        fclose(f);
    }
    size_t at = 0;
#define NEXT() (at < size ? data[at++] : 0)
    const int64_t B = 1 + NEXT() % 2, L = 1 + NEXT() % 40;
    const int flags = NEXT();
    int64_t ids[2 * 40], pos[3 * 2 * 40], grid[2][12];
    for (int64_t i = 0; i < B * L; i++) {
        int k = NEXT() % 8;
        ids[i] = k >= 3 && k <= 6 ? k : 100 + k;
    }
    const int64_t big = (int64_t)1 << 56;
    for (int64_t i = 0; i < 3 * B * L; i++) pos[i] = (int8_t)NEXT() * (flags & 8 ? big : 1);
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 12; i++) grid[g][i] = (int8_t)NEXT() * (flags & 16 ? big : 1);
#undef NEXT
    char manifest[4096] = "{\"model\":\"qwen2_vl\",\"tensors\":[";
    vt_tensor t = vt_tensor_of(VT_I64, ids, VT_DIMS(B, L));
    int rc = tok_write("input_ids", &t, manifest, sizeof manifest, st);
    if (rc == VT_OK && (flags & 1)) {
        t = vt_tensor_of(VT_I64, pos, VT_DIMS(3, B, L));
        rc = tok_write("position_ids", &t, manifest, sizeof manifest, st);
    }
    for (int g = 0; g < 2 && rc == VT_OK; g++)
        if (flags & (2 << g)) {
            t = vt_tensor_of(VT_I64, grid[g], VT_DIMS(4, 3));
            rc = tok_write(g ? "video_grid_thw" : "image_grid_thw", &t, manifest, sizeof manifest, st);
        }
    float cosv[2 * 40 * 4] = {0}, qv[2 * 2 * 40 * 4] = {0};
    vt_tensor cosr = vt_tensor_of(VT_F32, cosv, VT_DIMS(B, 1, L, 4)), qr = vt_tensor_of(VT_F32, qv, VT_DIMS(B, 2, L, 4));
    if (rc == VT_OK) rc = tok_write("mrope.cos", &cosr, manifest, sizeof manifest, st);
    if (rc == VT_OK && (flags & 32)) { /* a generate trace: the tower's family, the decoder's heads */
        t = vt_tensor_of(VT_F32, cosv, VT_DIMS(1, 4));
        rc = tok_write("visual.patch_embed", &t, manifest, sizeof manifest, st);
        if (rc == VT_OK) rc = tok_write("model.layers.0.self_attn.q_rope", &qr, manifest, sizeof manifest, st);
    }
    if (rc) return rc;
    strcat(manifest, "]}");
    char p[400];
    snprintf(p, sizeof p, "%s/manifest.json", tok_dir);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(manifest, 1, strlen(manifest), f) != strlen(manifest)) {
        if (f) fclose(f);
        return vt_fail(st, VT_ERESOURCE, "cannot write %s", p);
    }
    fclose(f);
    vt_manifest m;
    VT_TRY(vt_manifest_read(&m, tok_dir, st));
    vt_locator *l;
    if ((rc = vt_locator_build(&l, &m, st)) != VT_OK) {
        vt_manifest_free(&m);
        return rc;
    }
    /* every element located, with and without its text; then the map of the whole tensor */
    vt_location o;
    for (int64_t i = 0; i < vt_numel(&cosr); i++) {
        vt_locate(l, "mrope.cos", &cosr, i, &o);
        vt_locate_quiet(l, "mrope.cos", &cosr, i, &o);
    }
    vt_tensor pt = vt_tensor_of(VT_I64, pos, VT_DIMS(3, B, L));
    for (int64_t i = 0; i < vt_numel(&pt); i++) vt_locate(l, "position_ids", &pt, i, &o);
    float err[2 * 40 * 4];
    for (int64_t i = 0; i < vt_numel(&cosr); i++) err[i] = (float)(i % 7);
    rep_map map;
    rc = report_map_build(l, "mrope.cos", &cosr, err, &map, st);
    if (rc == VT_OK) report_map_free(&map);
    /* the language model's tensors: [B, L, C], [B, H, L, hd], the decoding steps */
    float lv[2 * 2 * 40 * 4] = {0}, lerr[2 * 2 * 40 * 4];
    for (size_t i = 0; i < sizeof lerr / sizeof lerr[0]; i++) lerr[i] = (float)(i % 5);
    const struct { const char *name; vt_tensor t; } lm[] = {
        {"model.layers.0.self_attn.q_rope", qr},
        {"model.layers.0.self_attn.k_proj", vt_tensor_of(VT_F32, lv, VT_DIMS(B, L, 8))},
        {"lm_head", vt_tensor_of(VT_F32, lv, VT_DIMS(B, L, 3))},
        {"model.rotary_emb.cos", vt_tensor_of(VT_F32, lv, VT_DIMS(3, B, L, 2))},
        {"generate.logits", vt_tensor_of(VT_F32, lv, VT_DIMS(3, 5))},
        {"generated_ids", vt_tensor_of(VT_F32, lv, VT_DIMS(B, 3))},
        {"generate.position_ids", vt_tensor_of(VT_F32, lv, VT_DIMS(3, B, L + 2))},
    };
    for (size_t k = 0; rc == VT_OK && k < sizeof lm / sizeof lm[0]; k++) {
        for (int64_t i = 0; i < vt_numel(&lm[k].t); i++) {
            vt_locate(l, lm[k].name, &lm[k].t, i, &o);
            vt_locate_quiet(l, lm[k].name, &lm[k].t, i, &o);
        }
        rc = report_map_build(l, lm[k].name, &lm[k].t, lerr, &map, st);
        if (rc == VT_OK) report_map_free(&map);
    }
    vt_locator_free(l);
    vt_manifest_free(&m);
    return rc;
}

#endif

/* ================================ tokenizer ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_tok_json) || defined(VT_FUZZ_ONLY_tok_encode)
/* What a loaded tokenizer must do with text it accepts: every id known; decode(encode(text)) == text when
 * NFC cannot have changed it (no normalizer, or no byte >= 0xCC: only code points below U+0300); the
 * streaming decoder's pieces whole UTF-8 and together the whole decode. */
static int fuzz_tok_roundtrip(vt_tokenizer *tok, const char *text, size_t len, vt_status *st)
{
    int32_t *ids;
    size_t n;
    int rc = vt_tokenizer_encode(tok, text, len, &ids, &n, st);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) VT_ASSERT(ids[i] >= 0 && ids[i] < vt_tokenizer_n_ids(tok) && tok->kind[ids[i]]);
    char *dec;
    size_t dlen;
    rc = vt_tokenizer_decode(tok, ids, n, 0, &dec, &dlen, st);
    if (rc == VT_OK) {
        int nfc_safe = !tok->nfc;
        if (!nfc_safe) {
            nfc_safe = 1;
            for (size_t i = 0; i < len; i++) nfc_safe &= (unsigned char)text[i] < 0xcc;
        }
        VT_ASSERT(!nfc_safe || (dlen == len && memcmp(dec, text, len) == 0));
        vt_tokenizer_stream ds;
        vt_tokenizer_stream_init(&ds, tok, 0);
        size_t at = 0;
        vt_status sst = {0};
        for (size_t i = 0; i <= n && rc == VT_OK; i++) {
            const char *piece;
            size_t k;
            rc = i < n ? vt_tokenizer_stream_push(&ds, ids[i], &piece, &k, st) : vt_tokenizer_stream_finish(&ds, &piece, &k, st);
            if (rc) break;
            VT_ASSERT(vt_tokenizer_check_utf8(piece, k, "piece", &sst) == VT_OK);
            VT_ASSERT(at + k <= dlen && memcmp(dec + at, piece, k) == 0);
            at += k;
        }
        VT_ASSERT(rc || at == dlen);
        vt_tokenizer_stream_free(&ds);
        free(dec);
    }
    free(ids);
    return rc;
}
#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_tok_json)
/* tokenizer.json in memory (what vt_tokenizer_load reads); a tokenizer that loads encodes a text with
 * letters, digits, spaces, CJK, an emoji, a combining accent and an added token's text, and one that NFC
 * cannot change, and decodes them. */
int vt_fuzz_tok_json(const uint8_t *data, size_t size, vt_status *st)
{
    static const char mixed[] = "Hello world, it's 2026!\r\n  \t\xe8\xa7\x86\xe8\xa7\x89 <|im_start|>user\n"
                                "cafe\xcc\x81 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd   ";
    /* below U+0300 only: NFC leaves it alone, so it must come back byte for byte */
    static const char latin[] = "I'M caf\xc3\xa9 d\xc3\xa9j\xc3\xa0,\t 1,000\xc2\xa0km <|im_end|>\r\n\n  x  ";
    vt_tokenizer *tok;
    int rc = vt_tokenizer_parse(&tok, data, size, st);
    if (rc) return rc;
    rc = fuzz_tok_roundtrip(tok, mixed, sizeof mixed - 1, st);
    if (rc == VT_OK) rc = fuzz_tok_roundtrip(tok, latin, sizeof latin - 1, st);
    vt_tokenizer_free(tok);
    return rc;
}
#endif

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_tok_encode)
#define FUZZ_TOK_BASE "tests/fuzz/seeds/tok_json/qwen-small.json"

static int fuzz_tok_encode_text(vt_tokenizer *tok, const char *text, size_t len, vt_status *st);

/* The input: a byte k (k & 7 added tokens), k contents each ended by a NUL, then the text. The tokenizer is
 * FUZZ_TOK_BASE (the Qwen tokenizer cut down to 400 merges) with those contents appended to its added
 * tokens (ids after its own, special or not by turns); then the text is encoded and decoded, and its first
 * 128 bytes go through the three BPE paths, which must agree. The tokenizer is kept for the next input
 * with the same header (it stays reachable at exit, so the leak checker does not count it). */
int vt_fuzz_tok_encode(const uint8_t *data, size_t size, vt_status *st)
{
    static void *base;
    static size_t base_len;
    if (!base) {
        vt_status bst = {0};
        if (vt_read_file(FUZZ_TOK_BASE, &base, &base_len, (size_t)1 << 20, &bst)) {
            fprintf(stderr, "vt-fuzz: %s (run from the repository root)\n", bst.msg);
            abort();
        }
    }
    size_t pos = size ? 1 : 0;
    int k = size ? data[0] & 7 : 0;
    for (int i = 0; i < k && pos < size; i++) { /* the header's length */
        const uint8_t *nul = memchr(data + pos, 0, size - pos);
        pos = nul ? (size_t)(nul - data) + 1 : size;
    }
    /* the same header as the last input: the same tokenizer (building one costs a JSON parse and a regex JIT) */
    static uint8_t *last_hdr;
    static size_t last_len;
    static vt_tokenizer *last_tok;
    if (last_tok && last_len == pos && (pos == 0 || memcmp(last_hdr, data, pos) == 0))
        return fuzz_tok_encode_text(last_tok, (const char *)data + pos, size - pos, st);
    vt_tokenizer_free(last_tok);
    free(last_hdr);
    last_tok = NULL;
    last_hdr = NULL;
    pos = size ? 1 : 0;
    cJSON *root = cJSON_ParseWithLength(base, base_len);
    VT_ASSERT(root != NULL);
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int first_id = 256 + 400 + cJSON_GetArraySize(added);
    for (int i = 0; i < k && pos < size; i++) {
        const uint8_t *nul = memchr(data + pos, 0, size - pos);
        size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;
        char *content = vt_fuzz_text(data + pos, len);
        cJSON *a = cJSON_CreateObject();
        if (!content || !a) {
            free(content);
            cJSON_Delete(a);
            cJSON_Delete(root);
            return vt_fail(st, VT_ERESOURCE, "out of memory");
        }
        cJSON_AddNumberToObject(a, "id", first_id + i);
        cJSON_AddStringToObject(a, "content", content);
        cJSON_AddBoolToObject(a, "special", i % 2 == 0);
        cJSON_AddItemToArray(added, a);
        free(content);
        pos += len + (nul != NULL);
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return vt_fail(st, VT_ERESOURCE, "out of memory");
    vt_tokenizer *tok;
    int rc = vt_tokenizer_parse(&tok, json, strlen(json), st);
    free(json);
    if (rc) return rc;
    last_hdr = malloc(pos ? pos : 1);
    if (!last_hdr) {
        vt_tokenizer_free(tok);
        return vt_fail(st, VT_ERESOURCE, "out of memory");
    }
    if (pos) memcpy(last_hdr, data, pos);
    last_len = pos;
    last_tok = tok;
    return fuzz_tok_encode_text(tok, (const char *)data + pos, size - pos, st);
}

/* the text part of a tok_encode input, with its tokenizer */
static int fuzz_tok_encode_text(vt_tokenizer *tok, const char *text, size_t len, vt_status *st)
{
    int32_t a[128], b[128], c[128];
    size_t na, nb, nc, m = len < 128 ? len : 128;
    VT_ASSERT(vt_tok_bpe(tok, (const unsigned char *)text, m, a, &na, VT_TOK_BPE_SCAN, st) == VT_OK);
    VT_ASSERT(vt_tok_bpe(tok, (const unsigned char *)text, m, b, &nb, VT_TOK_BPE_HEAP, st) == VT_OK);
    VT_ASSERT(vt_tok_bpe(tok, (const unsigned char *)text, m, c, &nc, VT_TOK_BPE_BUCKETS, st) == VT_OK);
    VT_ASSERT(na == nb && na == nc && !memcmp(a, b, na * sizeof *a) && !memcmp(a, c, na * sizeof *a));
    return fuzz_tok_roundtrip(tok, text, len, st);
}
#endif

/* ================================ the table ================================ */

/* ================================ the command line's arguments ================================ */

#if !defined(VT_FUZZ_TARGET) || defined(VT_FUZZ_ONLY_args)
/* The bytes as an argv (split at NUL and newline bytes, at most 64 arguments), parsed by vt_opts_parse
 * against a table holding every kind of flag, then every --video value split as run and preprocess do. */
int vt_fuzz_args(const uint8_t *data, size_t size, vt_status *st)
{
    char *s = vt_fuzz_text(data, size);
    if (!s) return vt_fail(st, VT_ERESOURCE, "out of memory");
    char *argv[65];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = s; argc < 65 && p <= s + size;) {
        size_t n = strcspn(p, "\n");
        argv[argc++] = p;
        if (p + n >= s + size) break;
        p[n] = 0;
        p += n + 1;
    }
    const char *model = NULL, *out = NULL;
    vt_strlist images = {0}, videos = {0}, pos = {0};
    vt_numlist fps = {0};
    int64_t threads = 0;
    double rtol = 0;
    int mode = 0, viz = 0;
    static const char *const modes[] = {"segments", "literal", NULL};
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &model, "DIR", 0, 0, NULL},
        {"--out", VT_OPT_STRING, 0, &out, "FILE", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 1, &images, "FILE", 0, 0, NULL},
        {"--video", VT_OPT_STRING, 1, &videos, "F1,F2,...", 0, 0, NULL},
        {"--fps", VT_OPT_DOUBLE, 1, &fps, "F", 1e-3, 1e6, NULL},
        {"--threads", VT_OPT_INT, 0, &threads, "N", 1, 1024, NULL},
        {"--rtol", VT_OPT_DOUBLE, 0, &rtol, "R", 0, 1e6, NULL},
        {"--attn", VT_OPT_CHOICE, 0, &mode, "MODE", 0, 0, modes},
        {"--viz", VT_OPT_FLAG, 0, &viz, NULL, 0, 0, NULL},
    };
    int rc = vt_opts_parse("fuzz", opts, VT_N_OPTS(opts), argc, argv, (size & 1) ? &pos : NULL, st);
    for (int v = 0; rc == VT_OK && v < videos.n; v++) {
        char *buf, **items;
        int n;
        rc = vt_split_list("--video", videos.v[v], &buf, &items, &n, st);
        if (rc == VT_OK) {
            for (int k = 0; k < n; k++) rc |= items[k][0] == 0; /* never an empty item */
            free(buf);
            free(items);
            if (rc) abort();
        }
    }
    if (rc == VT_OK && mode != 0 && mode != 1) abort();
    for (int k = 0; rc == VT_OK && k < fps.n; k++)
        if (!(fps.v[k] >= 1e-3 && fps.v[k] <= 1e6)) abort();
    vt_strlist_free(&images);
    vt_strlist_free(&videos);
    vt_strlist_free(&pos);
    vt_numlist_free(&fps);
    free(s);
    return rc;
}
#endif

#ifndef VT_FUZZ_TARGET
typedef struct vt_fuzz_target {
    const char *name;
    vt_fuzz_fn run;
} vt_fuzz_target;

static const vt_fuzz_target vt_fuzz_targets[] = {
    {"st_header", vt_fuzz_st_header}, {"st_index", vt_fuzz_st_index}, {"npy", vt_fuzz_npy},
    {"manifest", vt_fuzz_manifest},   {"config", vt_fuzz_config},     {"preproc", vt_fuzz_preproc},
    {"image", vt_fuzz_image},         {"layout", vt_fuzz_layout},     {"video_preproc", vt_fuzz_video_preproc},
    {"resize", vt_fuzz_resize},       {"tokens", vt_fuzz_tokens},     {"args", vt_fuzz_args},
    {"tok_json", vt_fuzz_tok_json},   {"tok_encode", vt_fuzz_tok_encode},
};
#define VT_FUZZ_N_TARGETS ((int)(sizeof vt_fuzz_targets / sizeof vt_fuzz_targets[0]))

#endif

/* The contract every target's answer must meet: 0, or 2 / 3 with one non-empty line. */
static int vt_fuzz_clean(int rc, const vt_status *st)
{
    if (rc == VT_OK) return 1;
    if (rc != VT_EINPUT && rc != VT_ERESOURCE) return 0;
    if (st->code != rc || !st->msg[0]) return 0;
    return strchr(st->msg, '\n') == NULL;
}

#ifdef VT_FUZZ_TARGET
#define VT_FUZZ_CAT_(a, b) a##b
#define VT_FUZZ_CAT(a, b) VT_FUZZ_CAT_(a, b)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vt_status st = {0};
    int rc = VT_FUZZ_CAT(vt_fuzz_, VT_FUZZ_TARGET)(data, size, &st);
    if (!vt_fuzz_clean(rc, &st)) {
        fprintf(stderr, "vt-fuzz: not a clean answer: status %d, message \"%s\"\n", rc, st.msg);
        abort();
    }
    return 0;
}
#endif
