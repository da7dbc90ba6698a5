/* vision_config.c -- what the shared stages need of a Qwen2-style vision_config (vision.h). Its own file so
 * the config parsers link without the kernels. */
#include "vision/vision.h"

int vt_vision_config_check(const vt_vision_config *q, vt_status *st)
{
    const char *s = "vision_config.";
    if (q->embed_dim % q->num_heads)
        return vt_fail(st, VT_EINPUT, "%snum_heads %d does not divide the width %d", s, q->num_heads, q->embed_dim);
    int hd = q->embed_dim / q->num_heads;
    if (hd % 4) /* rot_pos_emb: a quarter of head_dim for h, a quarter for w, each as cos/sin pairs */
        return vt_fail(st, VT_EINPUT, "%shead_dim %d (width %d / num_heads %d) is not a multiple of 4, as the 2D "
                       "rotary embedding needs", s, hd, q->embed_dim, q->num_heads);
    return VT_OK;
}
