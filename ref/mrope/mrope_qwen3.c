/*
 * mrope_qwen3.c -- what Qwen3-VL changes in M-RoPE (transformers 5.0.0.dev0, modeling_qwen3_vl.py): its
 * config (text_config with rope_scaling or rope_parameters), the split of a video into one vision block per
 * temporal patch that opens get_rope_index, and the interleaved rotary (Qwen3VLTextRotaryEmbedding +
 * apply_interleaved_mrope). The rest of get_rope_index is Qwen2-VL's (mrope.c).
 *
 * Dimensions: B batch rows, L sequence length, hd head_dim, J = hd / 2 frequencies, H heads.
 *
 * Why interleave: Qwen2-VL gives the first 16 frequencies (the fastest-turning) to t, the next 24 to h and
 * the slowest 24 to w, so each axis sees only one band of the spectrum. Qwen3-VL deals them out in turn,
 *     j      0  1  2  3  4  5  6  7 ...  57 58 59 60 61 62 63        ([24, 20, 20], hd 128)
 *     axis   t  h  w  t  h  w  t  h ...  t  h  w  t  t  t  t
 * so t, h and w each span the whole range of wavelengths.
 */
#include <math.h>
#include <string.h>

#include "core/bugzoo.h"
#include "io/json.h"
#include "mrope/mrope.h"

/* ======================================== config ======================================== */

int vt_mrope_qwen3_config_parse(vt_mrope_config *t, const cJSON *root, vt_status *st)
{
    int rc;
    memset(t, 0, sizeof *t);
    const cJSON *tc = vt_json_object(root, "text_config", 1, st, &rc);
    VT_TRY(rc);
    const char *s = "text_config.";
    const int64_t id_max = (int64_t)1 << 40;
    /* Qwen3VLConfig keeps the vision token ids at the top level */
    VT_TRY(vt_json_int64(root, "", "image_token_id", 151655, 0, id_max, &t->image_token_id, st));
    VT_TRY(vt_json_int64(root, "", "video_token_id", 151656, 0, id_max, &t->video_token_id, st));
    VT_TRY(vt_json_int64(root, "", "vision_start_token_id", 151652, 0, id_max, &t->vision_start_token_id, st));
    VT_TRY(vt_json_int64(root, "", "vision_end_token_id", 151653, 0, id_max, &t->vision_end_token_id, st));
    VT_TRY(vt_mrope_check_token_ids(t, st));
    /* defaults: Qwen3VLTextConfig */
    VT_TRY(vt_json_int(tc, s, "hidden_size", 4096, 1, 1 << 17, &t->hidden_size, st));
    VT_TRY(vt_json_int(tc, s, "num_attention_heads", 32, 1, VT_CFG_MAX_HEADS, &t->num_attention_heads, st));
    VT_TRY(vt_json_int(tc, s, "num_key_value_heads", 32, 1, VT_CFG_MAX_HEADS, &t->num_key_value_heads, st));
    /* Qwen3 states head_dim; it need not be hidden_size / num_attention_heads */
    VT_TRY(vt_json_int(tc, s, "head_dim", 128, 2, VT_MROPE_MAX_HEAD_DIM, &t->head_dim, st));
    if (t->head_dim % 2)
        return vt_fail(st, VT_EINPUT, "%shead_dim %d is odd; rotary needs pairs", s, t->head_dim);
    if (t->num_attention_heads % t->num_key_value_heads)
        return vt_fail(st, VT_EINPUT, "%snum_key_value_heads %d does not divide num_attention_heads %d", s,
                       t->num_key_value_heads, t->num_attention_heads);

    /* 5.0 writes rope_parameters {rope_type, rope_theta, mrope_section, mrope_interleaved}; the hub files
     * (4.57) write rope_scaling {rope_type, mrope_section, mrope_interleaved} with rope_theta beside it */
    const cJSON *rp = vt_json_object(tc, "rope_parameters", 0, st, &rc);
    VT_TRY(rc);
    const char *rname = "text_config.rope_parameters.";
    if (!rp) {
        rp = vt_json_object(tc, "rope_scaling", 0, st, &rc);
        VT_TRY(rc);
        rname = "text_config.rope_scaling.";
    }
    const cJSON *ty = rp ? cJSON_GetObjectItemCaseSensitive(rp, "rope_type") : NULL;
    if (ty && (!cJSON_IsString(ty) || strcmp(ty->valuestring, "default")))
        return vt_fail(st, VT_EINPUT, "%srope_type is not \"default\" (the only rope type Qwen3-VL's rotary uses)",
                       rname);
    double theta_outer;
    VT_TRY(vt_json_double(tc, s, "rope_theta", 5000000.0, 0.0, 1e12, &theta_outer, st));
    t->rope_theta = theta_outer;
    if (rp) VT_TRY(vt_json_double(rp, rname, "rope_theta", theta_outer, 0.0, 1e12, &t->rope_theta, st));
    t->mrope_section[0] = 24, t->mrope_section[1] = 20, t->mrope_section[2] = 20; /* the rotary's default */
    if (rp && cJSON_GetObjectItemCaseSensitive(rp, "mrope_section"))
        VT_TRY(vt_json_int_array(rp, rname, "mrope_section", 3, 3, 0, 1 << 16, t->mrope_section, NULL, st));
    int sum = t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2];
    if (sum != t->head_dim / 2)
        return vt_fail(st, VT_EINPUT, "%smrope_section [%d, %d, %d] sums to %d, not head_dim / 2 = %d", rname,
                       t->mrope_section[0], t->mrope_section[1], t->mrope_section[2], sum, t->head_dim / 2);
    /* mrope_interleaved is read by nothing in the reference: Qwen3VLTextRotaryEmbedding always interleaves */
    t->frame_blocks = 1;
    t->interleaved = 1;
    return VT_OK;
}

/* ======================================== get_rope_index ======================================== */

int vt_mrope_split_video_frames(vt_tensor *frames, const vt_tensor *video_grid_thw, vt_arena *a, vt_status *st)
{
    const int64_t n = video_grid_thw->shape[0];
    const int64_t *g = vt_i64(video_grid_thw);
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += g[3 * i]; /* each t <= VT_MROPE_MAX_LEN (checked) */
    VT_TRY(vt_tensor_alloc(frames, a, VT_I64, VT_DIMS(total, 3), st));
    int64_t *f = vt_i64(frames);
    /* video_grid_thw = torch.repeat_interleave(video_grid_thw, video_grid_thw[:, 0], dim=0);
     * video_grid_thw[:, 0] = 1 */
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < g[3 * i]; r++, f += 3) {
            f[0] = 1;
            f[1] = g[3 * i + 1];
            f[2] = g[3 * i + 2];
        }
    return VT_OK;
}

/* ======================================== the interleaved rotary ======================================== */

/* bug zoo, sectioned-mrope: Qwen2-VL's contiguous chunks t | h | w instead of the interleave. */
static void sectioned_axis(int64_t *axis, const int mrope_section[3], int J)
{
    for (int j = 0; j < J; j++) axis[j] = j < mrope_section[0] ? 0 : j < mrope_section[0] + mrope_section[1] ? 1 : 2;
}

void vt_mrope_interleaved_axis(int64_t *axis, const int mrope_section[3], int head_dim, unsigned bugs)
{
    const int J = head_dim / 2;
    /* freqs_t = freqs[0]; for dim, offset in ((1, 1), (2, 2)):
     *     freqs_t[..., offset : mrope_section[dim] * 3 : 3] = freqs[dim, ..., offset : mrope_section[dim] * 3 : 3] */
    for (int j = 0; j < J; j++) axis[j] = 0;
    for (int dim = 1; dim <= 2; dim++)
        for (int j = dim; j < 3 * mrope_section[dim] && j < J; j += 3) axis[j] = dim;
    VT_BUG_SWITCH(bugs, VT_BUG_SECTIONED_MROPE, sectioned_axis(axis, mrope_section, J));
}

/* mirrors the product of Qwen3VLTextRotaryEmbedding.forward: (inv_freq @ position).transpose: one float32
 * product per element. position_ids [3, B, L] -> freqs_thw [3, B, L, J] */
static void rotary_freqs(float *freqs_thw, const float *inv_freq, const int64_t *position_ids, int64_t B, int64_t L,
                         int J)
{
    for (int64_t r = 0; r < 3 * B * L; r++) {
        const float p = (float)position_ids[r];
        for (int j = 0; j < J; j++) freqs_thw[r * J + j] = inv_freq[j] * p;
    }
}

/* mirrors apply_interleaved_mrope: frequency j takes axis[j]'s row. [3, B, L, J] -> [B, L, J] */
static void interleave(float *freqs, const float *freqs_thw, const int64_t *axis, int64_t B, int64_t L, int J)
{
    for (int64_t bl = 0; bl < B * L; bl++)
        for (int j = 0; j < J; j++) freqs[bl * J + j] = freqs_thw[(axis[j] * B * L + bl) * J + j];
}

int vt_mrope_interleaved_forward(vt_mrope_outputs *out, const vt_mrope_inputs *in, const vt_mrope_config *tc,
                                 const vt_tap *tap, vt_arena *a, vt_status *st)
{
    const int64_t B = in->input_ids->shape[0], L = in->input_ids->shape[1];
    const int hd = tc->head_dim, J = hd / 2;
    const int64_t Hq = in->q->shape[1], Hk = in->k->shape[1];
    VT_TRY(vt_tensor_alloc(&out->inv_freq, a, VT_F32, VT_DIMS(J), st));
    vt_mrope_inv_freq(vt_f32(&out->inv_freq), hd, tc->rope_theta);
    VT_TRY(vt_tap_emit(tap, "mrope.inv_freq", &out->inv_freq, st));
    VT_TRY(vt_tensor_alloc(&out->axis, a, VT_I64, VT_DIMS(J), st));
    vt_mrope_interleaved_axis(vt_i64(&out->axis), tc->mrope_section, hd, in->bugs);
    VT_TRY(vt_tap_emit(tap, "mrope.axis", &out->axis, st));

    /* freqs = (inv_freq_expanded @ position_ids_expanded).transpose(2, 3): [3, B, L, J] */
    VT_TRY(vt_tensor_alloc(&out->freqs_thw, a, VT_F32, VT_DIMS(3, B, L, J), st));
    rotary_freqs(vt_f32(&out->freqs_thw), vt_f32(&out->inv_freq), vt_i64(&out->position_ids), B, L, J);
    VT_TRY(vt_tap_emit(tap, "mrope.freqs_thw", &out->freqs_thw, st));
    /* freqs = self.apply_interleaved_mrope(freqs, self.mrope_section): [B, L, J] */
    VT_TRY(vt_tensor_alloc(&out->freqs, a, VT_F32, VT_DIMS(B, L, J), st));
    interleave(vt_f32(&out->freqs), vt_f32(&out->freqs_thw), vt_i64(&out->axis), B, L, J);
    VT_TRY(vt_tap_emit(tap, "mrope.freqs", &out->freqs, st));

    /* emb = cat(freqs, freqs); cos = emb.cos() * attention_scaling (1.0 for rope_type default) */
    VT_TRY(vt_tensor_alloc(&out->cos, a, VT_F32, VT_DIMS(B, L, hd), st));
    VT_TRY(vt_tensor_alloc(&out->sin, a, VT_F32, VT_DIMS(B, L, hd), st));
    const float *f = vt_f32(&out->freqs);
    float *c = vt_f32(&out->cos), *s = vt_f32(&out->sin);
    for (int64_t bl = 0; bl < B * L; bl++)
        for (int j = 0; j < J; j++) {
            float x = f[bl * J + j];
            c[bl * hd + j] = c[bl * hd + j + J] = cosf(x);
            s[bl * hd + j] = s[bl * hd + j + J] = sinf(x);
        }
    VT_TRY(vt_tap_emit(tap, "mrope.cos", &out->cos, st));
    VT_TRY(vt_tap_emit(tap, "mrope.sin", &out->sin, st));
    VT_TRY(vt_tap_emit(tap, "mrope.q", in->q, st));
    VT_TRY(vt_tap_emit(tap, "mrope.k", in->k, st));

    /* apply_rotary_pos_emb(q, k, cos, sin): cos.unsqueeze(1) broadcasts over heads, as [B, 1, L, hd] does */
    VT_TRY(vt_tensor_alloc(&out->q_embed, a, VT_F32, VT_DIMS(B, Hq, L, hd), st));
    VT_TRY(vt_tensor_alloc(&out->k_embed, a, VT_F32, VT_DIMS(B, Hk, L, hd), st));
    vt_mrope_apply(vt_f32(&out->q_embed), vt_f32(in->q), c, s, B, Hq, L, hd);
    vt_mrope_apply(vt_f32(&out->k_embed), vt_f32(in->k), c, s, B, Hk, L, hd);
    VT_TRY(vt_tap_emit(tap, "mrope.q_embed", &out->q_embed, st));
    VT_TRY(vt_tap_emit(tap, "mrope.k_embed", &out->k_embed, st));
    return VT_OK;
}
