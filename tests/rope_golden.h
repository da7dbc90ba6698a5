/* rope_golden.h -- what test_mrope.c and test_rope_cli.c share: the rope-index golden cases and a loader
 * for the tensors a case's manifest lists. */
#ifndef VT_ROPE_GOLDEN_H
#define VT_ROPE_GOLDEN_H

#include "vt_test.h"

#include <stdlib.h>
#include <string.h>

#include "format/manifest.h"

/* Token ids of the Qwen2-VL vocabulary the hand-made sequences use. */
#define TX 100 /* an ordinary text token */
#define VS 151652
#define VE 151653
#define IM 151655
#define VI 151656

#define ROPE_CASE(c) VT_GOLDEN("rope-index/" c)

static const char *const index_cases[] = {
    "qwen2vl-text",  "qwen2vl-text-masked",  "qwen2vl-image",  "qwen2vl-multi",  "qwen2vl-batch-pad",
    "qwen25vl-text", "qwen25vl-text-masked", "qwen25vl-image", "qwen25vl-multi", "qwen25vl-batch-pad",
    "qwen25vl-video-time",
};
#define N_INDEX_CASES (int)(sizeof index_cases / sizeof index_cases[0])

/* Tensors of one golden case, loaded when its manifest lists them. */
typedef struct golden {
    vt_manifest m;
    vt_tensor t[10];
    void *owned[10];
    int n;
} golden;

static inline const vt_tensor *golden_get(golden *g, const char *name)
{
    const vt_manifest_entry *e = vt_manifest_find(&g->m, name);
    if (!e) return NULL;
    vt_status st = {0};
    assert_true(g->n < 10);
    if (vt_manifest_load(&g->m, e, &g->t[g->n], &g->owned[g->n], &st)) fail_msg("%s", st.msg);
    return &g->t[g->n++];
}

static inline void golden_open(golden *g, const char *dir)
{
    vt_status st = {0};
    memset(g, 0, sizeof *g);
    if (vt_manifest_read(&g->m, dir, &st)) fail_msg("%s", st.msg);
}

static inline void golden_close(golden *g)
{
    for (int i = 0; i < g->n; i++) free(g->owned[i]);
    vt_manifest_free(&g->m);
}

#endif
