/*
 * test_report.c -- `vlmtrace diff --report DIR` (trace/diff/report*.c).
 *
 * The error map: on every family, one element of one row is made wrong and the map must light exactly the
 * cells of the expected patch of the expected input and frame, and nothing else. The expectation is
 * derived independently of the locator, from the golden trace's own data: the (h, w) ids of rot_pos_ids,
 * the rows of patch_embed that the window-ordered rows copy, the pixels of image.{k}.normalized that a
 * patch row of pixel_values holds, Qwen-VL's conv1 output inside its embeddings, the position ids of an
 * M-RoPE trace. Then the directory, end to end: the walk's points equal --json's numbers, a passing diff
 * gets a report too, the exit statuses (0 / 1 kept, 2 refused before anything is written, 3 a failed
 * write), the never-overwrite rule, a self-contained report.html.
 */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "diff/diff.h"
#include "diff/report.h"
#include "format/manifest.h"
#include "format/npy.h"
#include "io/fileio.h"
#include "report_cases.h"

static char out[1 << 16];

/* ======================================== the map on every family ======================================== */

/* The (input, t) of patch row r from cu_seqlens (segments: image.0, image.1, video.0 t 0, video.0 t 1). */
static void qwen2_multi_segment(int64_t r, const char **input, int64_t *t)
{
    vt_tensor cu;
    void *b;
    vt_test_load_golden(VT_GOLDEN("qwen2vl-multi"), "visual.cu_seqlens", &cu, &b);
    static const char *const names[] = {"image.0", "image.1", "video.0", "video.0"};
    static const int64_t ts[] = {0, 0, 0, 1};
    for (int s = 0; s + 1 < cu.shape[0]; s++)
        if (r >= ival(&cu, s) && r < ival(&cu, s + 1)) *input = names[s], *t = ts[s];
    free(b);
}

/* Qwen2-VL: a patch row of q_rope (head 1), a merged token, a pixel of image.1.normalized. */
static void test_report_map_qwen2(void **state)
{
    (void)state;
    vt_tensor ids;
    void *ib;
    vt_test_load_golden(VT_GOLDEN("qwen2vl-multi"), "visual.rot_pos_ids", &ids, &ib);
    fixture f;
    const int64_t row = 77;
    cell c = {NULL, 0, vt_i64(&ids)[2 * row], vt_i64(&ids)[2 * row + 1], REP_GRID};
    qwen2_multi_segment(row, &c.input, &c.t);
    assert_string_equal(c.input, "video.0");
    map_one(&f, VT_GOLDEN("qwen2vl-multi"), "visual.blocks.1.attn.q_rope", (row * 2 + 1) * 16 + 5);
    expect_lit(&f, 0, &c, 1);
    assert_int_equal(f.map.heads, 2);
    expect_lit(&f, 1 + 1, &c, 1); /* head 1 */
    expect_lit(&f, 1 + 0, &c, 0); /* head 0: dark */
    fixture_free(&f);

    /* merged token 13: the 2x2 patches of rows 52..55 */
    cell m[4];
    for (int k = 0; k < 4; k++) {
        m[k].kind = REP_GRID;
        m[k].y = vt_i64(&ids)[2 * (52 + k)];
        m[k].x = vt_i64(&ids)[2 * (52 + k) + 1];
        qwen2_multi_segment(52 + k, &m[k].input, &m[k].t);
    }
    map_one(&f, VT_GOLDEN("qwen2vl-multi"), "visual.merger", 13 * 48 + 7);
    expect_lit(&f, 0, m, 4);
    fixture_free(&f);
    free(ib);

    /* a pixel: (c 2, y 40, x 17) of image.1.normalized [3, 84, 56] */
    cell p = {"image.1", 0, 40, 17, REP_PIXELS};
    map_one(&f, VT_GOLDEN("qwen2vl-multi"), "image.1.normalized", (2 * 84 + 40) * 56 + 17);
    expect_lit(&f, 0, &p, 1);
    fixture_free(&f);
}

/* The row of `b` [N, C] whose values equal row r of `a` [N, C]. */
static int64_t same_row(const vt_tensor *a, int64_t r, const vt_tensor *b)
{
    const int64_t C = a->shape[a->ndim - 1];
    for (int64_t j = 0; j < b->shape[0]; j++)
        if (!memcmp(vt_f32(a) + r * C, vt_f32(b) + j * C, (size_t)C * sizeof(float))) return j;
    fail_msg("no row of the other tensor equals row %lld", (long long)r);
    return -1;
}

/* Qwen2.5-VL: a window-ordered block row, and a window-ordered merged token. */
static void test_report_map_qwen25_window_order(void **state)
{
    (void)state;
    const char *dir = VT_GOLDEN("qwen25vl-image");
    vt_tensor ids, pe, pw, mg, un;
    void *b1, *b2, *b3, *b4, *b5;
    vt_test_load_golden(dir, "visual.rot_pos_ids", &ids, &b1);
    vt_test_load_golden(dir, "visual.patch_embed", &pe, &b2);
    vt_test_load_golden(dir, "visual.patch_embed.windowed", &pw, &b3);
    vt_test_load_golden(dir, "visual.merger", &mg, &b4);
    vt_test_load_golden(dir, "visual.merger.unwindowed", &un, &b5);
    fixture f;
    const int64_t r = 70, j = same_row(&pw, r, &pe); /* window-order row 70 holds patch row j */
    cell c = {"image.0", 0, vt_i64(&ids)[2 * j], vt_i64(&ids)[2 * j + 1], REP_GRID};
    map_one(&f, dir, "visual.blocks.0.attn.out", r * 64 + 3);
    expect_lit(&f, 0, &c, 1);
    fixture_free(&f);
    /* merged row 3 in window order = unwindowed token k: the 2x2 patches of patch rows 4k..4k+3 */
    const int64_t k = same_row(&mg, 3, &un);
    cell m[4];
    for (int s = 0; s < 4; s++) m[s] = (cell){"image.0", 0, vt_i64(&ids)[2 * (4 * k + s)], vt_i64(&ids)[2 * (4 * k + s) + 1], REP_GRID};
    map_one(&f, dir, "visual.merger", 3 * 48 + 1);
    expect_lit(&f, 0, m, 4);
    fixture_free(&f);
    free(b1), free(b2), free(b3), free(b4), free(b5);
}

/* Kimi-VL: the patch of image.{k} whose pixels pixel_values row r holds (searched in image.{k}.normalized). */
static cell kimi_patch_of_row(int64_t r)
{
    const char *dir = VT_GOLDEN("kimivl-multi");
    vt_tensor pv;
    void *b;
    vt_test_load_golden(dir, "pixel_values", &pv, &b); /* [N, 3, 14, 14] */
    cell found = {NULL, 0, -1, -1, REP_GRID};
    static const char *const inputs[] = {"image.0", "image.1"};
    for (int k = 0; k < 2 && !found.input; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.normalized", inputs[k]);
        vt_tensor nz;
        void *nb;
        vt_test_load_golden(dir, name, &nz, &nb); /* [3, H, W] */
        const int64_t H = nz.shape[1], W = nz.shape[2];
        for (int64_t h = 0; h < H / 14 && !found.input; h++)
            for (int64_t w = 0; w < W / 14 && !found.input; w++) {
                int same = 1;
                for (int64_t c = 0; c < 3 && same; c++)
                    for (int64_t y = 0; y < 14 && same; y++)
                        same = !memcmp(vt_f32(&pv) + ((r * 3 + c) * 14 + y) * 14,
                                       vt_f32(&nz) + (c * H + h * 14 + y) * W + w * 14, 14 * sizeof(float));
                if (same) found = (cell){inputs[k], 0, h, w, REP_GRID};
            }
        free(nb);
    }
    free(b);
    if (!found.input) fail_msg("pixel_values row %lld is no patch of either image", (long long)r);
    return found;
}

static void test_report_map_kimi(void **state)
{
    (void)state;
    const char *dir = VT_GOLDEN("kimivl-multi");
    fixture f;
    cell c = kimi_patch_of_row(81);
    map_one(&f, dir, "vision_tower.encoder.blocks.0.attn_out", 81 * 64 + 40);
    expect_lit(&f, 0, &c, 1);
    assert_int_equal(f.map.heads, 4);
    expect_lit(&f, 1 + 2, &c, 1); /* column 40 of 4 heads of 16: head 2 */
    fixture_free(&f);
    /* patch_merger [M, 4, C]: (u, s) holds final_layernorm row r: that row's patch */
    vt_tensor pm, fl;
    void *b1, *b2;
    vt_test_load_golden(dir, "vision_tower.patch_merger", &pm, &b1);
    vt_test_load_golden(dir, "vision_tower.encoder.final_layernorm", &fl, &b2);
    const int64_t u = 20, s = 3, C = pm.shape[2];
    int64_t r = -1;
    for (int64_t j = 0; j < fl.shape[0] && r < 0; j++)
        if (!memcmp(vt_f32(&pm) + (u * 4 + s) * C, vt_f32(&fl) + j * C, (size_t)C * sizeof(float))) r = j;
    assert_true(r >= 0);
    c = kimi_patch_of_row(r);
    map_one(&f, dir, "vision_tower.patch_merger", (u * 4 + s) * C + 5);
    expect_lit(&f, 0, &c, 1);
    fixture_free(&f);
    free(b1);
    free(b2);
}

/* Qwen-VL: token 19 of a resblock [L, B, W]: the (h, w) where conv1's output is what embeddings holds. */
static void test_report_map_qwenvl(void **state)
{
    (void)state;
    const char *dir = VT_GOLDEN("qwenvl-image");
    vt_tensor conv, emb, pos;
    void *b1, *b2, *b3;
    vt_test_load_golden(dir, "transformer.visual.conv1", &conv, &b1);     /* [1, W, g, g] */
    vt_test_load_golden(dir, "transformer.visual.embeddings", &emb, &b2); /* [1, L, W] = conv + abs_pos */
    vt_test_load_golden(dir, "transformer.visual.abs_pos", &pos, &b3);    /* [L, W] */
    const int64_t W = conv.shape[1], g = conv.shape[2], tok = 19;
    cell c = {"image.0", 0, -1, -1, REP_GRID};
    double best = INFINITY;
    for (int64_t h = 0; h < g; h++)
        for (int64_t w = 0; w < g; w++) {
            double d = 0;
            for (int64_t k = 0; k < W; k++)
                d += fabs(vt_f32(&conv)[(k * g + h) * g + w] + vt_f32(&pos)[tok * W + k] - vt_f32(&emb)[tok * W + k]);
            if (d < best) best = d, c.y = h, c.x = w;
        }
    assert_true(best < 1e-3);
    fixture f;
    map_one(&f, dir, "transformer.visual.transformer.resblocks.1.attn.in_proj", tok * 96 + 2 * 24 + 8 + 1);
    expect_lit(&f, 0, &c, 1);
    assert_int_equal(f.map.heads, 4);
    assert_int_equal(f.map.parts, 3);
    expect_lit(&f, 1 + 1 * 4 + 2, &c, 1); /* k of head 2 */
    fixture_free(&f);
    free(b1), free(b2), free(b3);
}

/* M-RoPE: a video pad token lands on its merged grid where the reference's (h, w) position ids put it,
 * relative to the smallest of its run, and on the token strip. */
static void test_report_map_rope_tokens(void **state)
{
    (void)state;
    const char *dir = VT_GOLDEN("rope-index/qwen2vl-mrope");
    vt_tensor ids, pos;
    void *b1, *b2;
    vt_test_load_golden(dir, "input_ids", &ids, &b1);
    vt_test_load_golden(dir, "position_ids", &pos, &b2); /* [3, 1, L] */
    const int64_t L = ids.shape[1], tok = 20;
    const int64_t vid = vt_i64(&ids)[tok];
    int64_t s = tok, e = tok;
    while (s > 0 && vt_i64(&ids)[s - 1] == vid) s--;
    while (e + 1 < L && vt_i64(&ids)[e + 1] == vid) e++;
    int64_t t0 = INT64_MAX, h0 = INT64_MAX, w0 = INT64_MAX, nt = 0;
    for (int64_t j = s; j <= e; j++) {
        t0 = vt_i64(&pos)[j] < t0 ? vt_i64(&pos)[j] : t0;
        h0 = vt_i64(&pos)[L + j] < h0 ? vt_i64(&pos)[L + j] : h0;
        w0 = vt_i64(&pos)[2 * L + j] < w0 ? vt_i64(&pos)[2 * L + j] : w0;
    }
    for (int64_t j = s; j <= tok; j++) nt += j == s || vt_i64(&pos)[j] != vt_i64(&pos)[j - 1];
    /* merged cell (h, w) = patches (2h..2h+1, 2w..2w+1) of frame pair nt-1 */
    const int64_t mh = vt_i64(&pos)[L + tok] - h0, mw = vt_i64(&pos)[2 * L + tok] - w0;
    cell c[5];
    for (int k = 0; k < 4; k++) c[k] = (cell){"video.0", nt - 1, 2 * mh + k / 2, 2 * mw + k % 2, REP_GRID};
    c[4] = (cell){"", 0, 0, tok, REP_STRIP};
    fixture f;
    map_one(&f, dir, "mrope.cos", tok * 16 + 3);
    int grid = 0, strip = 0;
    for (int i = 0; i < f.map.n; i++) grid += f.map.p[i].kind == REP_GRID, strip += f.map.p[i].kind == REP_STRIP;
    assert_int_equal(grid, 4); /* image.0, image.1, video.0 t 0, video.0 t 1 */
    assert_int_equal(strip, 1);
    expect_lit(&f, 0, c, 5);
    fixture_free(&f);
    free(b1), free(b2);
}

/* ======================================== the directory, end to end ======================================== */

static void poke_copy(const char *src, char *tmp, char *dst, const char *name, int64_t flat, double v)
{
    char cmd[1024], path[512];
    vt_test_tmpdir(tmp);
    sprintf(dst, "%s/ours", tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && chmod -R u+w '%s'", src, dst, dst);
    assert_int_equal(system(cmd), 0);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dst, &st)) fail_msg("%s", st.msg);
    const vt_manifest_entry *e = vt_manifest_find(&m, name);
    assert_non_null(e);
    snprintf(path, sizeof path, "%s/%s", dst, e->file);
    vt_manifest_free(&m);
    vt_tensor t;
    void *owned;
    if (vt_npy_read(path, &t, &owned, &st)) fail_msg("%s", st.msg);
    vt_f32(&t)[flat] = (float)v;
    if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
    free(owned);
}

static char *slurp(const char *path, size_t *n)
{
    void *text;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(path, &text, &len, 1 << 26, &st)) fail_msg("%s", st.msg);
    if (n) *n = len;
    return text;
}

static int exists(const char *dir, const char *file)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &sb) == 0;
}

/* The walk's points (walk.tsv) are --json's numbers: R * worst.abs_diff / worst.allowed, in order. */
static void test_report_walk_equals_json(void **state)
{
    (void)state;
    char tmp[64], ours[128], rep[160];
    static char big[1 << 21];
    poke_copy(VT_GOLDEN("qwen2vl-multi"), tmp, ours, "visual.blocks.1.attn.out", 50 * 32 + 20, 9.0);
    snprintf(rep, sizeof rep, "%s/report", tmp);
    int rc = vt_test_cli(big, sizeof big, "diff %s " VT_GOLDEN("qwen2vl-multi") " --json --all --report %s", ours, rep);
    assert_int_equal(rc, 1);
    cJSON *j = cJSON_Parse(big);
    if (!j) fail_msg("not JSON:\n%.2000s", big);
    const double R = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rule"), "rtol"));
    char path[256];
    snprintf(path, sizeof path, "%s/walk.tsv", rep);
    char *tsv = slurp(path, NULL);
    char *save = NULL, *line = strtok_r(tsv, "\n", &save);
    const cJSON *t;
    int points = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "tensors")) {
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(t, "status"));
        if (strcmp(status, "ok") && strcmp(status, "fail") && strcmp(status, "shape") && strcmp(status, "missing")) continue;
        while (line && line[0] == '#') line = strtok_r(NULL, "\n", &save);
        if (!line) fail_msg("walk.tsv ends before %s", cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")));
        int x;
        char name[256], group[256], st[32];
        double y;
        if (sscanf(line, "%d\t%255s\t%255[^\t]\t%31s\t%lf", &x, name, group, st, &y) != 5) fail_msg("walk.tsv line: %s", line);
        assert_int_equal(x, points);
        assert_string_equal(name, cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")));
        assert_string_equal(st, status);
        const cJSON *w = cJSON_GetObjectItem(t, "worst");
        double want;
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), "float32") && cJSON_IsObject(w)) {
            double d = cJSON_GetNumberValue(cJSON_GetObjectItem(w, "abs_diff")),
                   a = cJSON_GetNumberValue(cJSON_GetObjectItem(w, "allowed"));
            want = R * d / a;
        } else {
            want = !strcmp(status, "ok") ? 0 : INFINITY;
        }
        if (isinf(want) ? !isinf(y) : fabs(y - want) > 1e-6 * fmax(fabs(want), 1e-30))
            fail_msg("%s: walk.tsv has %.9g, --json gives %.9g", name, y, want);
        points++;
        line = strtok_r(NULL, "\n", &save);
    }
    assert_int_equal(points, 66);
    free(tsv);
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
}

/* Failing and passing diffs: exit 0 / 1 as without --report; the files; a self-contained page. */
static void test_report_pass_and_fail(void **state)
{
    (void)state;
    char tmp[64], ours[128], rep[160], path[1024];
    poke_copy(VT_GOLDEN("qwen25vl-image"), tmp, ours, "visual.blocks.2.attn.q_rope", 10 * 64 + 3, 9.0);
    snprintf(rep, sizeof rep, "%s/fail", tmp);
    int rc = vt_test_cli(out, sizeof out, "diff %s " VT_GOLDEN("qwen25vl-image") " --report %s --show visual.merger", ours, rep);
    if (rc != 1) fail_msg("exit %d:\n%s", rc, out);
    assert_non_null(strstr(out, "first divergence: visual.blocks.2.attn.q_rope"));
    static const char *const files[] = {"report.html", "walk.png", "walk.tsv", "map.0.png", "heads.0.png",
                                        "channels.0.png", "map.1.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!exists(rep, files[i])) fail_msg("%s/%s missing", rep, files[i]);
    snprintf(path, sizeof path, "%s/report.html", rep);
    size_t n;
    char *html = slurp(path, &n);
    assert_non_null(strstr(html, "FAIL at visual.blocks.2.attn.q_rope"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<script"));
    int imgs = 0;
    for (const char *p = html; (p = strstr(p, "<img ")); p++) {
        imgs++;
        assert_non_null(strstr(p, "src=\"data:image/png;base64,"));
    }
    snprintf(path, sizeof path, "test $(ls %s/*.png | wc -l) = %d", rep, imgs);
    assert_int_equal(system(path), 0);
    assert_int_equal(imgs, 5); /* walk; map, heads, channels of q_rope; map of visual.merger */
    free(html);

    /* a passing diff: exit 0, a walk, and the map of the tensor closest to its tolerance */
    snprintf(rep, sizeof rep, "%s/pass", tmp);
    rc = vt_test_cli(out, sizeof out, "diff " VT_GOLDEN("kimivl-image") " " VT_GOLDEN("kimivl-image") " --report %s", rep);
    if (rc != 0) fail_msg("exit %d:\n%s", rc, out);
    assert_true(exists(rep, "walk.png") && exists(rep, "map.0.png"));
    snprintf(path, sizeof path, "%s/report.html", rep);
    html = slurp(path, NULL);
    assert_non_null(strstr(html, "PASS: "));
    free(html);
    /* the pictures do not depend on the run: the same diff again gives the same bytes */
    char rep2[160];
    snprintf(rep2, sizeof rep2, "%s/pass2", tmp);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff " VT_GOLDEN("kimivl-image") " " VT_GOLDEN("kimivl-image") " --report %s", rep2), 0);
    snprintf(path, sizeof path, "cmp -s %s/walk.png %s/walk.png && cmp -s %s/map.0.png %s/map.0.png", rep, rep2, rep, rep2);
    assert_int_equal(system(path), 0);
    vt_test_rmtree(tmp);
}

/* Exit 2 before anything is written: a foreign directory, a file, a --show name not in REF, --show alone;
 * a previous report is replaced; exit 3 on a failed write, leaving no report.html. */
static void test_report_refusals(void **state)
{
    (void)state;
    char tmp[64], dir[160], path[256], cmd[512];
    vt_test_tmpdir(tmp);
    const char *ref = VT_GOLDEN("qwen2vl-image");
    snprintf(dir, sizeof dir, "%s/mine", tmp);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    vt_test_write_file(path, "keep me\n", 8);
    int rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, dir);
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, "notes.txt") || !strstr(out, "nothing was changed"))
        fail_msg("foreign directory: exit %d\n%s", rc, out);
    char *k = slurp(path, NULL);
    assert_string_equal(k, "keep me\n");
    free(k);
    assert_false(exists(dir, "report.html"));
    /* a file that only looks like one of ours, without a report.html that names its generator */
    snprintf(dir, sizeof dir, "%s/lookalike", tmp);
    mkdir(dir, 0777);
    snprintf(cmd, sizeof cmd, "%s/walk.png", dir);
    vt_test_write_file(cmd, "not a report\n", 13);
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, dir);
    if (rc != 2 || !strstr(out, "walk.png")) fail_msg("look-alike directory: exit %d\n%s", rc, out);
    k = slurp(cmd, NULL);
    assert_string_equal(k, "not a report\n");
    free(k);
    /* --force writes beside what is there: the report's own names are replaced, anything else is kept */
    char keep[300];
    snprintf(keep, sizeof keep, "%s/notes.txt", dir);
    vt_test_write_file(keep, "mine\n", 5);
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s --force", ref, ref, dir);
    if (rc != 0) fail_msg("--force: exit %d\n%s", rc, out);
    k = slurp(keep, NULL);
    assert_string_equal(k, "mine\n");
    free(k);
    snprintf(cmd, sizeof cmd, "%s/report.html", dir);
    assert_true(access(cmd, R_OK) == 0);
    /* the reference trace itself (a model directory too): the output guard refuses it */
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, ref);
    if (rc != 2 || !strstr(out, "holds a checkpoint or config")) fail_msg("trace dir: exit %d\n%s", rc, out);
    /* a file; a path under a file (cannot be created) */
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, path);
    if (rc != 2 || !strstr(out, "not a directory")) fail_msg("file: exit %d\n%s", rc, out);
    snprintf(cmd, sizeof cmd, "%s/sub", path);
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, cmd);
    if (rc != 2 || vt_test_lines(out) != 1) fail_msg("under a file: exit %d\n%s", rc, out);
    /* --show */
    snprintf(dir, sizeof dir, "%s/new", tmp);
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s --show visual.nothing", ref, ref, dir);
    if (rc != 2 || !strstr(out, "--show visual.nothing: no tensor of that name")) fail_msg("--show: exit %d\n%s", rc, out);
    assert_false(exists(dir, "report.html"));
    rc = vt_test_cli(out, sizeof out, "diff %s %s --show visual", ref, ref);
    if (rc != 2 || !strstr(out, "give --report DIR too")) fail_msg("--show alone: exit %d\n%s", rc, out);
    /* a previous report is replaced: its extra pictures go */
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s --show visual --show visual.blocks.0.attn.q_rope", ref, ref, dir);
    assert_int_equal(rc, 0);
    assert_true(exists(dir, "map.1.png"));
    rc = vt_test_cli(out, sizeof out, "diff %s %s --report %s", ref, ref, dir);
    assert_int_equal(rc, 0);
    assert_true(exists(dir, "map.0.png"));
    assert_false(exists(dir, "map.1.png"));
    /* a write that fails: exit 3, no report.html */
    snprintf(dir, sizeof dir, "%s/full", tmp);
    snprintf(cmd, sizeof cmd, "env VLMTRACE_FAIL_WRITE_AFTER=20000 %s diff %s %s --report %s >/dev/null 2>&1",
             getenv("VLMTRACE_BIN") ? getenv("VLMTRACE_BIN") : "bin/vlmtrace", ref, ref, dir);
    rc = system(cmd);
    assert_int_equal(WEXITSTATUS(rc), 3);
    assert_false(exists(dir, "report.html"));
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_map_qwen2),       cmocka_unit_test(test_report_map_qwen25_window_order),
        cmocka_unit_test(test_report_map_kimi),        cmocka_unit_test(test_report_map_qwenvl),
        cmocka_unit_test(test_report_map_rope_tokens), cmocka_unit_test(test_report_walk_equals_json),
        cmocka_unit_test(test_report_pass_and_fail),   cmocka_unit_test(test_report_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
