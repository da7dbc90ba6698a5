/*
 * processor_hint.h -- `vlmtrace diff`'s one line about the Qwen2-VL processor. Hugging Face has two
 * (processor.h): the slow PIL one of transformers 4.51.3 and the fast torchvision one that
 * AutoImageProcessor hands out since 4.52; their resized bytes differ on 5-25 % of the pixels, so a trace
 * made with the other one fails first at image.{k}.resized (or pixel_values when only that was traced).
 * When that is the first divergence and the two manifests record different processor_mode values (or one
 * of them records none), the report says so and names the flag -- unless ours was traced with --inject
 * (the bug zoo), whose header already names the cause.
 */
#ifndef VT_PROCESSOR_HINT_H
#define VT_PROCESSOR_HINT_H

#include <stddef.h>

#include "format/manifest.h"

/* The hint for a diff whose first divergence is `first_fail` (NULL: none) into buf; 1 when there is one,
 * 0 otherwise (buf then ""). */
int vt_diff_processor_hint(char *buf, size_t n, const vt_manifest *ours, const vt_manifest *ref,
                           const char *first_fail);

#endif
