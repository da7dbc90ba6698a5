"""standin_image_processing_qwen2_vl_fast.py -- stand-in for the fast processors of transformers 5.0
(image_processing_qwen2_vl_fast.py's Qwen2VLImageProcessorFast and video_processing_qwen2_vl.py's
Qwen2VLVideoProcessor; README.preprocess-fast.md), with the structure hf_trace.py hooks: __call__ ->
preprocess() -> _preprocess(list of uint8 CHW tensors), which groups same-shape inputs, calls self.resize
(torchvision's v2 resize of a uint8 tensor: returned unchanged at the same size, otherwise float32
interpolate(bicubic, antialias=True), clamp, round, uint8), then self.rescale_and_normalize (the fused
(x - 255 mean) / (255 std) in float32), pads the time axis by repeating the last frame and patchifies with
the 10-D view / permute. Every intermediate is reported to standins.RECORD per input, numbered by how many
inputs of its kind this processor has seen (hf_trace.py calls it once per input); the call's own
pixel_values / grid are returned, not recorded (the concatenation is hf_trace.py's).

The resize is torch's own kernel: run with ATEN_CPU_CAPABILITY=default, torch 1.13 computes the float path
the goldens were made with (the vectorised builds differ in a few bytes: docs/resize.md)."""

import math

import numpy as np
import torch

from standins import RECORD

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    """transformers 5.0: no "larger than factor" check; the floor branch clamped to factor."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200, got %r" % (max(height, width) / min(height, width)))
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class SizeDict(dict):
    def __getattr__(self, key):
        return self[key]


def _to_tensor(image):
    """PIL -> uint8 [3, H, W] (F.pil_to_tensor after convert_rgb)."""
    arr = np.array(image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _group_by_shape(items):
    groups, index = {}, []
    for i, t in enumerate(items):
        shape = tuple(t.shape)
        groups.setdefault(shape, []).append(t)
        index.append((shape, len(groups[shape]) - 1))
    return {k: torch.stack(v) for k, v in groups.items()}, index


def _reorder(grouped, index):
    return [grouped[shape][i] for shape, i in index]


class _FastBase:
    kind = "image"

    def __init__(self, min_pixels=56 * 56, max_pixels=28 * 28 * 1280, patch_size=14, temporal_patch_size=2,
                 merge_size=2, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, **_):
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        self.patch_size, self.temporal_patch_size, self.merge_size = patch_size, temporal_patch_size, merge_size
        self.image_mean, self.image_std = image_mean, image_std
        self._units = None
        self._seen = 0

    def resize(self, image, size, interpolation=None, antialias=True, **kwargs):
        """torchvision.transforms.v2.functional.resize on a uint8 tensor [..., 3, H, W], float path."""
        if tuple(image.shape[-2:]) == (size.height, size.width):
            return image
        lead = image.shape[:-3]
        x = image.reshape(-1, *image.shape[-3:]).to(torch.float32)
        y = torch.nn.functional.interpolate(x, size=(size.height, size.width), mode="bicubic", align_corners=False,
                                            antialias=True)
        y = y.clamp_(0, 255).round_().to(torch.uint8)
        return y.reshape(*lead, *y.shape[-3:])

    def rescale_and_normalize(self, images, do_rescale, rescale_factor, do_normalize, image_mean, image_std):
        mean = torch.tensor(image_mean) * (1.0 / rescale_factor)
        std = torch.tensor(image_std) * (1.0 / rescale_factor)
        shape = [1] * (images.ndim - 3) + [3, 1, 1]
        return (images.to(torch.float32) - mean.view(shape)) / std.view(shape)

    def _preprocess(self, items, size, patch_size, temporal_patch_size, merge_size, return_tensors=None):
        T, P, m = temporal_patch_size, patch_size, merge_size
        grouped, index = _group_by_shape(items)
        resized = {}
        for shape, stacked in grouped.items():
            height, width = stacked.shape[-2:]
            rh, rw = smart_resize(height, width, factor=P * m, min_pixels=size["shortest_edge"],
                                  max_pixels=size["longest_edge"])
            resized[shape] = self.resize(image=stacked, size=SizeDict(height=rh, width=rw), interpolation="bicubic")
        resized_list = _reorder(resized, index)
        grouped, index = _group_by_shape(resized_list)
        flat_out, grids = {}, {}
        for shape, stacked in grouped.items():
            rh, rw = stacked.shape[-2:]
            patches = self.rescale_and_normalize(stacked, True, 1 / 255, True, self.image_mean, self.image_std)
            normalized = patches
            if patches.ndim == 4:
                patches = patches.unsqueeze(1)
            if patches.shape[1] % T != 0:
                patches = torch.cat([patches, patches[:, -1:].repeat(1, T - 1, 1, 1, 1)], dim=1)
            B, gt, C = patches.shape[:3]
            gt = gt // T
            gh, gw = rh // P, rw // P
            patches = patches.view(B, gt, T, C, gh // m, m, P, gw // m, m, P).permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
            flat = patches.reshape(B, gt * gh * gw, C * T * P * P)
            flat_out[shape], grids[shape] = flat, [[gt, gh, gw]] * B
            for b in range(B):  # what each input became (recorded by the stand-in itself, not by hooks)
                unit = self._units[[i for i, (s, j) in enumerate(index) if s == shape and j == b][0]]
                RECORD.put(unit + ".resized", stacked[b].permute(0, 2, 3, 1).numpy() if stacked.ndim == 5
                           else stacked[b].permute(1, 2, 0).numpy())
                RECORD.put(unit + ".normalized", normalized[b].numpy())
                RECORD.put(unit + ".patches", flat[b].numpy())
        pixel_values = torch.cat(_reorder(flat_out, index), dim=0)
        grid_thw = torch.tensor(_reorder(grids, index))
        return pixel_values, grid_thw


class Qwen2VLImageProcessorFast(_FastBase):
    def preprocess(self, images=None, return_tensors=None, **kwargs):
        items = [_to_tensor(im) for im in images]
        self._units = ["image.%d" % (self._seen + k) for k in range(len(items))]
        self._seen += len(items)
        for unit, t in zip(self._units, items):
            RECORD.put(unit + ".rgb", t.permute(1, 2, 0).numpy())
        pv, grid = self._preprocess(items, self.size, self.patch_size, self.temporal_patch_size, self.merge_size)
        return {"pixel_values": pv, "image_grid_thw": grid}

    __call__ = preprocess


class Qwen2VLVideoProcessor(_FastBase):
    kind = "video"

    def preprocess(self, videos=None, return_tensors=None, **kwargs):
        items = [torch.stack([_to_tensor(f) for f in frames]) for frames in videos]  # np.stack: equal frames only
        self._units = ["video.%d" % (self._seen + k) for k in range(len(items))]
        self._seen += len(items)
        for unit, t in zip(self._units, items):
            RECORD.put(unit + ".rgb", t.permute(0, 2, 3, 1).numpy())
        pv, grid = self._preprocess(items, self.size, self.patch_size, self.temporal_patch_size, self.merge_size)
        return {"pixel_values_videos": pv, "video_grid_thw": grid}

    __call__ = preprocess
