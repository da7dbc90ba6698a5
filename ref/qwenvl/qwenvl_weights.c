/*
 * qwenvl_weights.c -- Qwen-VL (v1): config checks and weight binding (see qwenvl.h for the legend).
 *
 *   B batch  S image_size  P patch  g grid  L = g*g  W width  H heads  M mlp width  D output_dim
 *   Q = qg*qg queries  Hq = D/128 resampler heads
 *
 * Every weight is looked up by its checkpoint key (transformer.visual.*) and checked against the shape
 * config.json implies; all of them are copied into one buffer (vt_wbind, two passes).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qwenvl/qwenvl.h"

/* Sizes refused before allocating anything (the published model is S = 448, W = 1664, 48 layers). */
#define MAX_IMAGE_SIZE 4480 /* grid 320 at patch 14: 102,400 tokens */
#define MAX_QUERIES 65536

#define KEY "transformer.visual."

/* ================================ config ================================ */

/* The values visual.py derives from its constructor arguments; refuse what it would refuse (or what
 * would make it index out of bounds). */
static int check_config(vt_qwenvl_model *m, const vt_qwenvl_config *c, vt_status *st)
{
    const char *f = "config.json: visual";
    if (c->patch_size <= 0 || c->image_size < c->patch_size || c->image_size > MAX_IMAGE_SIZE)
        return vt_fail(st, VT_EINPUT, "%s: image_size %d / patch_size %d: need 0 < patch_size <= image_size <= %d", f,
                       c->image_size, c->patch_size, MAX_IMAGE_SIZE);
    if (c->width <= 0 || c->layers <= 0 || c->heads <= 0 || c->width % c->heads != 0)
        return vt_fail(st, VT_EINPUT, "%s: width %d, layers %d, heads %d: need positive values, heads dividing width",
                       f, c->width, c->layers, c->heads);
    if (c->mlp_width <= 0) return vt_fail(st, VT_EINPUT, "%s: mlp width int(width * mlp_ratio) = %d", f, c->mlp_width);
    if (c->n_queries <= 0 || c->n_queries > MAX_QUERIES)
        return vt_fail(st, VT_EINPUT, "%s: n_queries %d not in [1, %d]", f, c->n_queries, MAX_QUERIES);
    /* Resampler(embed_dim=output_dim, num_heads=output_dim // 128): nn.MultiheadAttention needs at least one
     * head dividing embed_dim, and get_2d_sincos_pos_embed splits D in four. */
    int hq = c->output_dim / VT_QWENVL_POOL_HEAD_DIM;
    if (c->output_dim <= 0 || hq == 0 || c->output_dim % hq != 0 || c->output_dim % 4 != 0)
        return vt_fail(st, VT_EINPUT,
                       "%s: output_dim %d: need a multiple of 4, at least 128, divisible by output_dim // 128", f,
                       c->output_dim);
    m->c = *c;
    m->grid = c->image_size / c->patch_size; /* Conv2d(stride=P) drops a remainder, as here */
    m->pool_grid = (int)sqrt((double)c->n_queries);
    while ((int64_t)(m->pool_grid + 1) * (m->pool_grid + 1) <= c->n_queries) m->pool_grid++; /* exact int(sqrt) */
    while ((int64_t)m->pool_grid * m->pool_grid > c->n_queries) m->pool_grid--;
    m->n_pool_queries = m->pool_grid * m->pool_grid; /* Resampler.num_queries = grid_size ** 2 */
    m->pool_heads = hq;
    return VT_OK;
}

/* ================================ weights ================================ */

/* One pass of the binding (vt_wbind: pass 1 counts and checks, pass 2 loads). */
static void bind(vt_qwenvl_model *m, vt_wbind *b, vt_status *st)
{
    const vt_qwenvl_config *c = &m->c;
    const int64_t W = c->width, P = c->patch_size, M = c->mlp_width, D = c->output_dim, Q = m->n_pool_queries;
    vt_qwenvl_weights *w = &m->w;

    w->conv1_w = vt_wbind_f32(b, st, VT_DIMS(W, 3, P, P), KEY "conv1.weight");
    w->positional_embedding = vt_wbind_f32(b, st, VT_DIMS(VT_QWENVL_POS_ROWS, W), KEY "positional_embedding");
    w->ln_pre_w = vt_wbind_f32(b, st, VT_DIMS(W), KEY "ln_pre.weight");
    w->ln_pre_b = vt_wbind_f32(b, st, VT_DIMS(W), KEY "ln_pre.bias");
    for (int i = 0; i < c->layers; i++) {
        vt_qwenvl_block *k = &w->blocks[i];
#define BLK KEY "transformer.resblocks.%d."
        k->ln_1_w = vt_wbind_f32(b, st, VT_DIMS(W), BLK "ln_1.weight", i);
        k->ln_1_b = vt_wbind_f32(b, st, VT_DIMS(W), BLK "ln_1.bias", i);
        k->in_proj_w = vt_wbind_f32(b, st, VT_DIMS(3 * W, W), BLK "attn.in_proj.weight", i);
        k->in_proj_b = vt_wbind_f32(b, st, VT_DIMS(3 * W), BLK "attn.in_proj.bias", i);
        k->out_proj_w = vt_wbind_f32(b, st, VT_DIMS(W, W), BLK "attn.out_proj.weight", i);
        k->out_proj_b = vt_wbind_f32(b, st, VT_DIMS(W), BLK "attn.out_proj.bias", i);
        k->ln_2_w = vt_wbind_f32(b, st, VT_DIMS(W), BLK "ln_2.weight", i);
        k->ln_2_b = vt_wbind_f32(b, st, VT_DIMS(W), BLK "ln_2.bias", i);
        k->c_fc_w = vt_wbind_f32(b, st, VT_DIMS(M, W), BLK "mlp.c_fc.weight", i);
        k->c_fc_b = vt_wbind_f32(b, st, VT_DIMS(M), BLK "mlp.c_fc.bias", i);
        k->c_proj_w = vt_wbind_f32(b, st, VT_DIMS(W, M), BLK "mlp.c_proj.weight", i);
        k->c_proj_b = vt_wbind_f32(b, st, VT_DIMS(W), BLK "mlp.c_proj.bias", i);
#undef BLK
    }
    w->pool_query = vt_wbind_f32(b, st, VT_DIMS(Q, D), KEY "attn_pool.query");
    /* pos_embed is a frozen parameter holding get_2d_sincos_pos_embed(D, qg); the reference's forward reads
     * the stored value, so we do too. Without the key (a non-strict load) the reference keeps the value its
     * constructor built: NULL here, and the forward builds the same table with vt_qwenvl_sincos_2d. */
    w->pool_pos_embed = NULL;
    if (vt_checkpoint_find(b->ck, KEY "attn_pool.pos_embed"))
        w->pool_pos_embed = vt_wbind_f32(b, st, VT_DIMS(Q, D), KEY "attn_pool.pos_embed");
    /* kv_dim != embed_dim -> Linear(W, D, bias=False); otherwise nn.Identity (no weight). */
    w->pool_kv_proj_w = W != D ? vt_wbind_f32(b, st, VT_DIMS(D, W), KEY "attn_pool.kv_proj.weight") : NULL;
    w->pool_ln_kv_w = vt_wbind_f32(b, st, VT_DIMS(D), KEY "attn_pool.ln_kv.weight");
    w->pool_ln_kv_b = vt_wbind_f32(b, st, VT_DIMS(D), KEY "attn_pool.ln_kv.bias");
    w->pool_ln_q_w = vt_wbind_f32(b, st, VT_DIMS(D), KEY "attn_pool.ln_q.weight");
    w->pool_ln_q_b = vt_wbind_f32(b, st, VT_DIMS(D), KEY "attn_pool.ln_q.bias");
    w->pool_in_proj_w = vt_wbind_f32(b, st, VT_DIMS(3 * D, D), KEY "attn_pool.attn.in_proj_weight");
    w->pool_in_proj_b = vt_wbind_f32(b, st, VT_DIMS(3 * D), KEY "attn_pool.attn.in_proj_bias");
    w->pool_out_proj_w = vt_wbind_f32(b, st, VT_DIMS(D, D), KEY "attn_pool.attn.out_proj.weight");
    w->pool_out_proj_b = vt_wbind_f32(b, st, VT_DIMS(D), KEY "attn_pool.attn.out_proj.bias");
    w->ln_post_w = vt_wbind_f32(b, st, VT_DIMS(D), KEY "ln_post.weight");
    w->ln_post_b = vt_wbind_f32(b, st, VT_DIMS(D), KEY "ln_post.bias");
    w->proj = vt_wbind_f32(b, st, VT_DIMS(D, D), KEY "proj");
}

/* ================================ load / free ================================ */

int vt_qwenvl_load(vt_qwenvl_model *m, const vt_qwenvl_config *c, const vt_checkpoint *ck, vt_status *st)
{
    memset(m, 0, sizeof *m);
    VT_TRY(check_config(m, c, st));
    /* The reference builds exactly `layers` blocks and load_state_dict refuses a leftover block. */
    static const char *const block_keys[] = {"ln_1.weight", "attn.in_proj.weight", "mlp.c_fc.weight"};
    for (int j = 0; j < 3; j++) {
        char name[VT_NAME_MAX];
        snprintf(name, sizeof name, KEY "transformer.resblocks.%d.%s", c->layers, block_keys[j]);
        if (vt_checkpoint_find(ck, name))
            return vt_fail(st, VT_EINPUT, "%s: the checkpoint has more resblocks than config.json's visual.layers = %d",
                           name, c->layers);
    }
    m->w.blocks = calloc((size_t)c->layers, sizeof *m->w.blocks);
    if (!m->w.blocks) return vt_fail(st, VT_ERESOURCE, "out of memory for %d resblocks", c->layers);
    vt_wbind b;
    vt_wbind_init(&b, ck);
    bind(m, &b, st); /* pass 1: presence and shapes */
    int rc = b.err;
    if (!rc) rc = vt_wbind_alloc(&b, st);
    if (!rc) {
        bind(m, &b, st); /* pass 2: pointers into the buffer, data copied */
        rc = b.err;
    }
    if (rc) {
        vt_wbind_free(&b);
        free(m->w.blocks);
        memset(m, 0, sizeof *m);
        return rc;
    }
    m->w.buffer = vt_wbind_take(&b);
    return VT_OK;
}

void vt_qwenvl_free(vt_qwenvl_model *m)
{
    free(m->w.buffer);
    free(m->w.blocks);
    memset(m, 0, sizeof *m);
}
