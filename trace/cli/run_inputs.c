/* run_inputs.c -- the decoded inputs of `run` and `generate` (run.h). */
#include <stdlib.h>
#include <string.h>

#include "cli/run.h"

int vt_run_inputs_decode(vt_run_inputs *in, const vt_run_opts *o, vt_status *st)
{
    memset(in, 0, sizeof *in);
    in->images = calloc((size_t)(o->n_images ? o->n_images : 1), sizeof *in->images);
    in->frames = calloc((size_t)(o->n_videos ? o->n_videos : 1), sizeof *in->frames);
    in->videos = calloc((size_t)(o->n_videos ? o->n_videos : 1), sizeof *in->videos);
    if (!in->images || !in->frames || !in->videos) return vt_fail(st, VT_ERESOURCE, "out of memory");
    for (int i = 0; i < o->n_images; i++)
        VT_TRY(vt_image_load(&in->images[i], o->images[i], VT_EXIF_APPLY, st));
    for (int v = 0; v < o->n_videos; v++) {
        const int nf = o->videos[v].n_frames;
        in->frames[v] = calloc((size_t)nf, sizeof(vt_image));
        if (!in->frames[v]) return vt_fail(st, VT_ERESOURCE, "out of memory");
        for (int f = 0; f < nf; f++) VT_TRY(vt_image_load(&in->frames[v][f], o->videos[v].frames[f], VT_EXIF_APPLY, st));
        in->videos[v].frames = in->frames[v];
        in->videos[v].n_frames = nf;
    }
    return VT_OK;
}

void vt_run_inputs_free(vt_run_inputs *in, const vt_run_opts *o)
{
    for (int i = 0; in->images && i < o->n_images; i++) vt_image_free(&in->images[i]);
    free(in->images);
    for (int v = 0; in->frames && v < o->n_videos; v++) {
        for (int f = 0; in->frames[v] && f < o->videos[v].n_frames; f++) vt_image_free(&in->frames[v][f]);
        free(in->frames[v]);
    }
    free(in->frames);
    free(in->videos);
    memset(in, 0, sizeof *in);
}
