/*
 * chat.h -- the Qwen2-VL / Qwen2.5-VL chat prompt: the models' default chat template written out in C, and
 * the processor's expansion of each vision pad into the number of tokens its grid gives; then the ids.
 *
 *     // `generate --prompt "Describe this image." --image a.png`: one user message, images, videos, text
 *     int64_t grid[3] = {1, 4, 4};                            // image_grid_thw from the image processor
 *     vt_chat_grids g = {grid, 1, NULL, 0, 2};                // merge_size 2
 *     int32_t *ids; size_t n;
 *     VT_TRY(vt_chat_prompt(tok, "Describe this image.", &g, 0, &ids, &n, st));   // 0: apply the template
 *     ... free(ids);
 *
 *     // any conversation: ordered content items per message
 *     vt_chat_item items[] = {{VT_CHAT_IMAGE, NULL}, {VT_CHAT_TEXT, "Describe this image."}};
 *     vt_chat_message msg = {"user", NULL, items, 2};
 *     vt_chat_options opt = {1, 0};                           // add_generation_prompt, add_vision_id
 *     VT_TRY(vt_chat_encode(tok, &msg, 1, &opt, &g, &ids, &n, st));
 *
 * The stages, each one function:
 *   vt_chat_apply_template  messages -> the template's text, one <|image_pad|> / <|video_pad|> per item
 *   vt_chat_expand_pads     the k-th image pad -> t*h*w / merge_size^2 copies (grid k), the same for videos
 *   vt_tokenizer_encode     text -> ids
 * Strings are UTF-8 and NUL-terminated; invalid UTF-8 in a role or a text is refused naming the message and
 * item. Outputs are malloc'ed; the caller frees them.
 */
#ifndef VT_CHAT_H
#define VT_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

/* The processor's pad tokens (Qwen2VLProcessor.image_token / video_token). */
#define VT_CHAT_IMAGE_PAD "<|image_pad|>"
#define VT_CHAT_VIDEO_PAD "<|video_pad|>"

typedef enum vt_chat_kind { VT_CHAT_TEXT, VT_CHAT_IMAGE, VT_CHAT_VIDEO } vt_chat_kind;

/* one content item: {"type": "text", "text": ...}, {"type": "image"} or {"type": "video"} */
typedef struct vt_chat_item {
    vt_chat_kind kind;
    const char *text;       /* VT_CHAT_TEXT only */
} vt_chat_item;

/* one message: a role and either a string content (the template's `content is string` branch) or items */
typedef struct vt_chat_message {
    const char *role;       /* "system", "user", "assistant", ... (written as given) */
    const char *content;    /* non-NULL: string content; items are then ignored */
    const vt_chat_item *items;
    int n_items;
} vt_chat_message;

typedef struct vt_chat_options {
    int add_generation_prompt; /* end with "<|im_start|>assistant\n" (1 for generation) */
    int add_vision_id;         /* "Picture 1: " / "Video 1: " before each item */
} vt_chat_options;

/* the grids of the images and videos, in prompt order, in patches (image_grid_thw / video_grid_thw) */
typedef struct vt_chat_grids {
    const int64_t *image_thw;  /* [n_images * 3]: t, h, w of each image */
    int n_images;
    const int64_t *video_thw;  /* [n_videos * 3] */
    int n_videos;
    int merge_size;            /* spatial_merge_size: 2 in every Qwen2-VL / Qwen2.5-VL */
} vt_chat_grids;

/* Largest t*h*w / merge^2 accepted for one item (refused before allocating). */
#define VT_CHAT_MAX_PADS (1 << 24)

/* messages [n] -> *text (NUL-terminated, *len bytes): the Qwen2-VL chat template's output */
int vt_chat_apply_template(const vt_chat_message *msgs, int n, const vt_chat_options *opt, char **text, size_t *len,
                           vt_status *st);
/* text [len] -> *out: each image pad, in order, replaced by its grid's count of pads; then the videos. The
 * pads in the text and the grids given must agree in number (VT_EINPUT otherwise). */
int vt_chat_expand_pads(const char *text, size_t len, const vt_chat_grids *g, char **out, size_t *out_len,
                        vt_status *st);
/* messages -> template -> expanded -> ids */
int vt_chat_encode(vt_tokenizer *tok, const vt_chat_message *msgs, int n, const vt_chat_options *opt,
                   const vt_chat_grids *g, int32_t **ids, size_t *n_ids, vt_status *st);
/* `--prompt TEXT`: one user message holding the images, then the videos, then the text, with the generation
 * prompt -> ids. raw != 0 (`--raw`): no template; the text is taken as the whole prompt (its pads still
 * expanded). */
int vt_chat_prompt(vt_tokenizer *tok, const char *text, const vt_chat_grids *g, int raw, int32_t **ids, size_t *n_ids,
                   vt_status *st);

#endif
