/* processor_hint.c -- diff's line about slow vs fast processors (processor_hint.h). */
#include "diff/processor_hint.h"

#include <stdio.h>
#include <string.h>

/* Tensors whose values the processor's resize decides first: image.{k}.resized, video.{k}.resized,
 * pixel_values, pixel_values_videos (a trace restricted by --only may start at the latter). */
static int made_by_resize(const char *name)
{
    if (!strcmp(name, "pixel_values") || !strcmp(name, "pixel_values_videos")) return 1;
    size_t n = strlen(name);
    const char *tail = ".resized";
    size_t t = strlen(tail);
    return (!strncmp(name, "image.", 6) || !strncmp(name, "video.", 6)) && n > t && !strcmp(name + n - t, tail);
}

static const char *other_mode(const char *m) { return m && !strcmp(m, "fast") ? "slow" : "fast"; }

int vt_diff_processor_hint(char *buf, size_t n, const vt_manifest *ours, const vt_manifest *ref,
                           const char *first_fail)
{
    if (n) buf[0] = 0;
    if (!first_fail || !made_by_resize(first_fail)) return 0;
    if (ours->inject) return 0; /* a bug-zoo trace: the header already names the cause (--inject) */
    const char *mo = ours->processor_mode, *mr = ref->processor_mode;
    if (mo && mr) {
        if (!strcmp(mo, mr)) return 0;
        snprintf(buf, n, "processor: ours was made with the %s processor, the reference with the %s one: rerun with "
                 "--processor %s (docs/resize.md)", mo, mr, mr);
    } else if (mo) {
        snprintf(buf, n, "processor: the reference does not record its processor, ours used the %s one; if the "
                 "reference ran %s, rerun with --processor %s (docs/resize.md)", mo,
                 !strcmp(mo, "fast") ? "the slow PIL processor (transformers <= 4.51, use_fast=False)"
                                     : "transformers >= 4.52's default fast processor",
                 other_mode(mo));
    } else if (mr) {
        snprintf(buf, n, "processor: ours does not record its processor, the reference used the %s one: rerun with "
                 "--processor %s (docs/resize.md)", mr, mr);
    } else {
        return 0;
    }
    return 1;
}
